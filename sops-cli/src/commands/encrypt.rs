//! `sops encrypt` / `sops -e`: encrypt a plaintext file for the keys the flags name, or else
//! for the keys of the matching creation rule in `.sops.yaml`.

use anyhow::{Context, Result};
use sops_core::config::{self, KeySpec, RuleConfig};
use sops_core::error::exit_code;
use sops_core::format::Format;
use sops_core::keys::age::AgeRecipient;
use sops_core::keys::hckms::HckmsKey;
use sops_core::keys::kms::{self, KmsKey};
use sops_core::keys::KeyError;
use sops_core::metadata::Selectors;
use sops_core::{file, DecryptOptions, DecryptedFile, EncryptOptions, EncryptedFile};

use super::Invocation;
use crate::exit::fail;

/// Encrypts the input and writes the encrypted file.
pub fn run(inv: &Invocation) -> Result<()> {
    // sops's order: the keys (flags or rule), then the file, then a key service for the
    // data key.
    let opts = config_options(inv)?;
    let input = inv.read_input()?;
    let docs = file::parse_plain_for_output(&input, inv.input_format, inv.output_format)
        .map_err(|e| read_error(e, &inv.display_name))?;
    drop(input);
    super::load::require_local_keyservice(&inv.args)?;
    inv.log(&format!(
        "Encrypting for {} key group(s)",
        opts.key_groups.len()
    ));
    let file = EncryptedFile::prepare_encryption(docs, &opts)
        .with_context(|| format!("Error encrypting {}", inv.display_name))?;
    if file.can_encrypt_to(inv.output_format) {
        // Encrypted and written a batch of entries at a time: the ciphertext of a large file
        // is never in memory whole.
        return inv.write_output_with(|out| file.encrypt_to(inv.output_format, &inv.emit, out));
    }
    let encrypted = file
        .encrypt()
        .with_context(|| format!("Error encrypting {}", inv.display_name))?;
    inv.write_output_with(|out| encrypted.write_to(inv.output_format, &inv.emit, out))
}

/// `--keep-ciphertext-from OLD`: encrypts with OLD's data key, key groups and selectors, so
/// every value whose path and plaintext OLD already had keeps OLD's exact ciphertext (key and
/// selector flags and the creation rules are not used).
pub fn run_keeping(inv: &Invocation, old: &str) -> Result<()> {
    let old_path = std::path::Path::new(old);
    let old_bytes = std::fs::read(old_path).map_err(|e| {
        fail(
            exit_code::COULD_NOT_READ_INPUT_FILE,
            format!("Error reading --keep-ciphertext-from file {old}: {e}"),
        )
    })?;
    let old_file = super::load::parse_encrypted(&old_bytes, Format::from_path(old_path), old)?;
    let key = super::load::recover_key(&old_file, &inv.args)?;
    let old_file = old_file
        .decrypt_with_key_keeping_ivs(key, &DecryptOptions::default())
        .with_context(|| format!("Error decrypting {old}"))?;
    let input = inv.read_input()?;
    let documents = file::parse_plain(&input, inv.input_format)
        .map_err(|e| read_error(e, &inv.display_name))?;
    drop(input);
    let encrypted = DecryptedFile {
        documents,
        ..old_file
    }
    .encrypt()
    .with_context(|| format!("Error encrypting {}", inv.display_name))?;
    inv.write_output_with(|out| encrypted.write_to(inv.output_format, &inv.emit, out))
}

/// What a new file is encrypted for: keys and selectors from the flags, else from the
/// matching creation rule (also used by `edit` to create a file).
pub(super) fn options(inv: &Invocation) -> Result<EncryptOptions> {
    let opts = config_options(inv)?;
    // As sops: the keys are resolved first, then a data key needs a key service.
    super::load::require_local_keyservice(&inv.args)?;
    Ok(opts)
}

/// [`options`] without the key-service check (sops's `getEncryptConfig`).
pub(super) fn config_options(inv: &Invocation) -> Result<EncryptOptions> {
    // The key services route every recipient built below: set them up first.
    #[cfg(feature = "keyservice")]
    super::load::key_services(&inv.args);
    // As in sops, a config file with creation rules must have one for this file, even when
    // keys are given on the command line.
    let kms_context = kms_context(inv)?;
    let rule = match &inv.config {
        Some(c) => c
            .rule_for_with_context(&inv.rule_path, &kms_context)
            .map_err(|e| fail(e.exit_code(), e.to_string()))?,
        None => None,
    };
    let selectors = selectors(inv, rule.as_ref())?;
    let groups = key_groups(inv, rule.as_ref(), &kms_context)?;
    let shamir_threshold = match inv.args.shamir_secret_sharing_threshold {
        Some(n) if n != 0 => n,
        _ => rule.as_ref().map_or(0, |r| r.shamir_threshold),
    };
    if groups.iter().any(|g| g.is_empty()) {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            "Could not generate data key: [empty key group provided]",
        ));
    }
    if groups.len() > 1 && shamir_threshold > groups.len() {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            "Could not generate data key: [could not split data key into parts for Shamir: parts cannot be less than threshold]",
        ));
    }
    let key_groups = config::recipients(&groups).map_err(|e| match e {
        KeyError::Unsupported(kind) => fail(
            exit_code::ERROR_GENERIC,
            format!("Error: {kind} keys are not supported yet by this sops; use age or PGP keys"),
        ),
        other => fail(exit_code::ERROR_GENERIC, other.to_string()),
    })?;
    Ok(EncryptOptions {
        key_groups,
        shamir_threshold,
        selectors,
        single_value: inv.input_format == Format::Binary,
    })
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn split(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The key groups: one group of the keys given on the command line (or through their
/// environment variables), else the rule's groups.
fn key_groups(
    inv: &Invocation,
    rule: Option<&RuleConfig>,
    kms_context: &[(String, String)],
) -> Result<Vec<Vec<KeySpec>>> {
    let a = &inv.args;
    let flags = [
        &a.kms,
        &a.pgp,
        &a.gcp_kms,
        &a.hckms,
        &a.azure_kv,
        &a.hc_vault_transit,
        &a.age,
    ];
    if flags.iter().all(|f| given(f).is_none()) {
        return match rule {
            Some(r) => Ok(r.key_groups.clone()),
            None => Err(fail(
                exit_code::ERROR_GENERIC,
                "config file not found, or has no creation rules, and no keys provided through command line options",
            )),
        };
    }
    // The order sops builds the group in from flags.
    let mut group = Vec::new();
    if let Some(list) = given(&a.kms) {
        let profile = a.aws_profile.as_deref().unwrap_or("");
        for k in KmsKey::parse_list(list, kms_context, profile) {
            group.push(KeySpec::Kms {
                arn: k.arn,
                role: k.role,
                context: k.context,
                aws_profile: k.aws_profile,
            });
        }
    }
    if let Some(list) = given(&a.gcp_kms) {
        // sops removes every space of a resource id.
        group.extend(split(list).map(|id| KeySpec::GcpKms(id.replace(' ', ""))));
    }
    if let Some(list) = given(&a.hckms) {
        for k in HckmsKey::parse_list(list)
            .map_err(|e| fail(exit_code::ERROR_GENERIC, format!("Error: --hckms: {e}")))?
        {
            group.push(KeySpec::Hckms(k.key_id));
        }
    }
    if let Some(list) = given(&a.azure_kv) {
        group.extend(super::rotate::azure_specs(
            "--azure-kv",
            &Some(list.to_string()),
        )?);
    }
    if let Some(list) = given(&a.pgp) {
        group.extend(config::pgp_fingerprints(list).into_iter().map(KeySpec::Pgp));
    }
    if let Some(list) = given(&a.hc_vault_transit) {
        group.extend(split(list).map(KeySpec::HcVault));
    }
    if let Some(list) = given(&a.age) {
        for r in AgeRecipient::parse_list(list).context("Error parsing --age recipients")? {
            group.push(KeySpec::Age(r.as_str().to_string()));
        }
    }
    Ok(vec![group])
}

/// The `--encryption-context` pairs; a malformed value exits with code 6, as in sops.
fn kms_context(inv: &Invocation) -> Result<Vec<(String, String)>> {
    kms::parse_context(inv.args.encryption_context.as_deref().unwrap_or("")).map_err(|_| {
        fail(
            exit_code::ERROR_INVALID_KMS_ENCRYPTION_CONTEXT_FORMAT,
            "Invalid KMS encryption context format",
        )
    })
}

/// The partial-encryption selectors: each flag given wins, the rule fills in the others, and
/// more than one in the end is refused (exit code 8), as in sops.
fn selectors(inv: &Invocation, rule: Option<&RuleConfig>) -> Result<Selectors> {
    let a = &inv.args;
    let from_rule = rule.map(|r| r.selectors.clone()).unwrap_or_default();
    let pick = |flag: &Option<String>, rule: Option<String>| {
        flag.clone().filter(|v| !v.is_empty()).or(rule)
    };
    let s = Selectors {
        unencrypted_suffix: pick(&a.unencrypted_suffix, from_rule.unencrypted_suffix),
        encrypted_suffix: pick(&a.encrypted_suffix, from_rule.encrypted_suffix),
        unencrypted_regex: pick(&a.unencrypted_regex, from_rule.unencrypted_regex),
        encrypted_regex: pick(&a.encrypted_regex, from_rule.encrypted_regex),
        unencrypted_comment_regex: pick(
            &a.unencrypted_comment_regex,
            from_rule.unencrypted_comment_regex,
        ),
        encrypted_comment_regex: pick(
            &a.encrypted_comment_regex,
            from_rule.encrypted_comment_regex,
        ),
        mac_only_encrypted: a.mac_only_encrypted || from_rule.mac_only_encrypted,
    };
    if inv.input_format == Format::Binary {
        // As sops: the binary store has one value, always encrypted; selectors are dropped
        // with a warning (mac_only_encrypted and unencrypted_comment_regex silently).
        let store = "the binary store produces one key that should always be encrypted";
        for (value, what) in [
            (&s.unencrypted_suffix, "an unencrypted suffix"),
            (&s.encrypted_suffix, "an encrypted suffix"),
            (&s.encrypted_regex, "an encrypted regex"),
            (&s.unencrypted_regex, "an unencrypted regex"),
        ] {
            if value.is_some() {
                warn(&format!(
                    "Using {what} does not make sense with the input store ({store}) and will be ignored."
                ));
            }
        }
        if s.encrypted_comment_regex.is_some() {
            warn("Using an encrypted comment regex does not make sense with the input store (the binary store never produces comments) and will be ignored.");
        }
        return Ok(Selectors::default());
    }
    if s.count_set() > 1 {
        return Err(fail(
            exit_code::ERROR_CONFLICTING_PARAMETERS,
            "Error: cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file",
        ));
    }
    Ok(s)
}

/// A warning on stderr, in sops's log format.
fn warn(message: &str) {
    eprintln!("[CMD]\t level=warning msg={message:?}");
}

/// A plaintext file that does not read. A key sops cannot encrypt (a YAML collection or
/// non-string key) is found while reading but reported as sops reports it when encrypting,
/// with its own message (exit 23), not as a read error.
fn read_error(e: sops_core::Error, name: &str) -> anyhow::Error {
    match &e {
        sops_core::Error::Format(sops_core::format::FormatError::Unsupported(msg))
            if msg.starts_with("Error encrypting tree") =>
        {
            anyhow::Error::new(e)
        }
        _ => anyhow::Error::new(e).context(format!("Error unmarshalling file {name}")),
    }
}
