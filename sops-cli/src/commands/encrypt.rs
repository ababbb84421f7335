//! `sops encrypt` / `sops -e`: encrypt a plaintext file for the given recipients.

use anyhow::{Context, Result};
use sops_core::error::exit_code;
use sops_core::keys::age::AgeRecipient;
use sops_core::keys::Recipient;
use sops_core::metadata::Selectors;
use sops_core::{file, EncryptOptions, EncryptedFile};

use super::Invocation;
use crate::exit::fail;

/// Encrypts the input and writes the encrypted file.
pub fn run(inv: &Invocation) -> Result<()> {
    if inv.input.is_none() && inv.args.filename_override.is_none() && inv.args.input_type.is_none()
    {
        return Err(fail(
            exit_code::ERROR_CONFLICTING_PARAMETERS,
            "Error: must specify --filename-override (or --input-type) when reading from stdin",
        ));
    }
    let opts = EncryptOptions {
        key_groups: vec![recipients(inv)?],
        shamir_threshold: inv.args.shamir_secret_sharing_threshold.unwrap_or(0),
        selectors: selectors(inv),
    };
    let input = inv.read_input()?;
    let docs = file::parse_plain(&input, inv.input_format)
        .with_context(|| format!("Error unmarshalling file {}", inv.display_name))?;
    let encrypted = EncryptedFile::encrypt(docs, &opts)
        .with_context(|| format!("Error encrypting {}", inv.display_name))?;
    let output = encrypted
        .to_bytes(inv.output_format, &inv.emit)
        .with_context(|| format!("Error dumping file as {}", inv.output_format.name()))?;
    inv.write_output(&output)
}

/// The recipients given on the command line (or through their environment variables).
fn recipients(inv: &Invocation) -> Result<Vec<Box<dyn Recipient>>> {
    let args = &inv.args;
    let unsupported = [
        ("--pgp / SOPS_PGP_FP", &args.pgp),
        ("--kms / SOPS_KMS_ARN", &args.kms),
        ("--gcp-kms", &args.gcp_kms),
        ("--azure-kv", &args.azure_kv),
        ("--hc-vault-transit", &args.hc_vault_transit),
    ];
    for (flag, value) in unsupported {
        if value.as_deref().is_some_and(|v| !v.trim().is_empty()) {
            return Err(fail(
                exit_code::ERROR_GENERIC,
                format!("Error: {flag} keys are not supported yet by this sops; use --age"),
            ));
        }
    }
    let mut out: Vec<Box<dyn Recipient>> = Vec::new();
    if let Some(list) = &args.age {
        for r in AgeRecipient::parse_list(list).context("Error parsing --age recipients")? {
            out.push(Box::new(r));
        }
    }
    if out.is_empty() {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            "config file not found, or has no creation rules, and no keys provided through command line options",
        ));
    }
    Ok(out)
}

/// The partial-encryption selectors from the flags.
fn selectors(inv: &Invocation) -> Selectors {
    let a = &inv.args;
    Selectors {
        unencrypted_suffix: a.unencrypted_suffix.clone(),
        encrypted_suffix: a.encrypted_suffix.clone(),
        unencrypted_regex: a.unencrypted_regex.clone(),
        encrypted_regex: a.encrypted_regex.clone(),
        unencrypted_comment_regex: a.unencrypted_comment_regex.clone(),
        encrypted_comment_regex: a.encrypted_comment_regex.clone(),
        mac_only_encrypted: a.mac_only_encrypted,
    }
}
