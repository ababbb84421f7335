//! `sops rotate` / `sops -r`: a new data key, every value re-encrypted with it, optionally
//! adding master keys to the first key group (`--add-age`, `--add-pgp`) or removing them from
//! every group (`--rm-*`).

use anyhow::Result;
use sops_core::config::{self, KeySpec};
use sops_core::edit;
use sops_core::error::exit_code;
use sops_core::keys::age::AgeRecipient;
use sops_core::keys::azure_kv::AzureKey;
use sops_core::keys::gcp_kms::GcpKmsKey;
use sops_core::keys::hc_vault::VaultKey;
use sops_core::keys::hckms::HckmsKey;
use sops_core::keys::kms::{self, KmsKey};
use sops_core::keys::KeyError;
use sops_core::DecryptedFile;

use super::{load, Invocation};
use crate::cli::{KeyChangeArgs, RotateCommand};
use crate::exit::fail;

fn list(v: &Option<String>) -> Vec<String> {
    v.as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A KMS key of `--add-kms` / `--rm-kms` (`ARN` or `ARN+ROLE_ARN`, a role of any AWS
/// partition), with the `--encryption-context` and `--aws-profile` given, as sops's rotate.
fn kms_spec(arn: &str, context: &[(String, String)], aws_profile: &str) -> KeySpec {
    let k = KmsKey::from_arn(arn, context, aws_profile);
    KeySpec::Kms {
        arn: k.arn,
        role: k.role,
        context: k.context,
        aws_profile: k.aws_profile,
    }
}

/// Vault transit keys of a comma-separated URI list, named as sops names them
/// (`ADDRESS/v1/ENGINE/keys/NAME`) so they match the keys of the file.
pub fn vault_specs(flag: &str, value: &Option<String>) -> Result<Vec<KeySpec>> {
    let keys = VaultKey::parse_list(value.as_deref().unwrap_or(""))
        .map_err(|e| fail(exit_code::ERROR_GENERIC, format!("Error: {flag}: {e}")))?;
    Ok(keys.iter().map(|k| KeySpec::HcVault(k.name())).collect())
}

/// Azure Key Vault keys of a comma-separated URL list (`https://VAULT/keys/NAME[/VERSION]`).
pub fn azure_specs(flag: &str, value: &Option<String>) -> Result<Vec<KeySpec>> {
    let keys = AzureKey::parse_list(value.as_deref().unwrap_or(""))
        .map_err(|e| fail(exit_code::ERROR_GENERIC, format!("Error: {flag}: {e}")))?;
    Ok(keys
        .into_iter()
        .map(|k| KeySpec::AzureKv {
            vault_url: k.vault_url,
            key: k.name,
            version: k.version,
        })
        .collect())
}

/// HuaweiCloud KMS keys of a comma-separated `REGION:KEY-UUID` list, checked as sops does.
pub fn hckms_specs(flag: &str, value: &Option<String>) -> Result<Vec<KeySpec>> {
    let keys = HckmsKey::parse_list(value.as_deref().unwrap_or(""))
        .map_err(|e| fail(exit_code::ERROR_GENERIC, format!("Error: {flag}: {e}")))?;
    Ok(keys.into_iter().map(|k| KeySpec::Hckms(k.key_id)).collect())
}

/// GCP KMS keys of a comma-separated resource id list, spaces removed as sops does.
pub fn gcp_kms_specs(value: &Option<String>) -> Vec<KeySpec> {
    GcpKmsKey::parse_list(value.as_deref().unwrap_or(""))
        .into_iter()
        .map(|k| KeySpec::GcpKms(k.resource_id))
        .collect()
}

/// The keys to add and the keys to remove, as [`KeySpec`]s. KMS keys take the
/// `--encryption-context` pairs and `--aws-profile` (sops ignores a malformed context here).
pub fn key_changes(
    k: &KeyChangeArgs,
    kms_context: &[(String, String)],
    aws_profile: &str,
) -> Result<(Vec<KeySpec>, Vec<KeySpec>)> {
    let mut add = Vec::new();
    for r in list(&k.add_age) {
        let parsed = AgeRecipient::parse(&r)
            .map_err(|e| fail(exit_code::ERROR_GENERIC, format!("Error: --add-age: {e}")))?;
        add.push(KeySpec::Age(parsed.as_str().to_string()));
    }
    add.extend(
        config::pgp_fingerprints(k.add_pgp.as_deref().unwrap_or(""))
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(KeySpec::Pgp),
    );
    add.extend(vault_specs(
        "--add-hc-vault-transit",
        &k.add_hc_vault_transit,
    )?);
    add.extend(azure_specs("--add-azure-kv", &k.add_azure_kv)?);
    add.extend(hckms_specs("--add-hckms", &k.add_hckms)?);
    add.extend(
        list(&k.add_kms)
            .iter()
            .map(|a| kms_spec(a, kms_context, aws_profile)),
    );
    add.extend(gcp_kms_specs(&k.add_gcp_kms));
    let mut rm: Vec<KeySpec> = list(&k.rm_age).into_iter().map(KeySpec::Age).collect();
    rm.extend(
        config::pgp_fingerprints(k.rm_pgp.as_deref().unwrap_or(""))
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(KeySpec::Pgp),
    );
    rm.extend(
        list(&k.rm_kms)
            .iter()
            .map(|a| kms_spec(a, kms_context, aws_profile)),
    );
    rm.extend(gcp_kms_specs(&k.rm_gcp_kms));
    rm.extend(azure_specs("--rm-azure-kv", &k.rm_azure_kv)?);
    rm.extend(vault_specs(
        "--rm-hc-vault-transit",
        &k.rm_hc_vault_transit,
    )?);
    rm.extend(hckms_specs("--rm-hckms", &k.rm_hckms)?);
    Ok((add, rm))
}

/// Rotates the input's data key and writes the result (stdout, `--output` or `-i`).
pub fn run(inv: &Invocation, changes: &KeyChangeArgs) -> Result<()> {
    let context = kms::parse_context(inv.args.encryption_context.as_deref().unwrap_or(""))
        .unwrap_or_default();
    let profile = inv.args.aws_profile.as_deref().unwrap_or("");
    let (add, rm) = key_changes(changes, &context, profile)?;
    let mut file = load::open(inv)?;
    rotate_file(&mut file, &add, &rm)?;
    inv.log("Data key rotated");
    let out = load::seal(inv, file)?;
    inv.write_output(&out)
}

/// Gives a decrypted file a new data key, for its key groups with `add` added to the first
/// group and `rm` removed from every group.
pub fn rotate_file(file: &mut DecryptedFile, add: &[KeySpec], rm: &[KeySpec]) -> Result<()> {
    let mut groups = edit::specs_of(&file.metadata.key_groups);
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    for key in add {
        if !groups[0].iter().any(|k| k.name() == key.name()) {
            groups[0].push(key.clone());
        }
    }
    let rm_names: Vec<String> = rm.iter().map(KeySpec::name).collect();
    for group in groups.iter_mut() {
        group.retain(|k| !rm_names.contains(&k.name()));
    }
    if groups.iter().any(|g| g.is_empty()) {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            "Could not generate data key: [empty key group provided]",
        ));
    }
    let threshold = file.metadata.shamir_threshold;
    file.rotate(&groups, threshold).map_err(|e| match e {
        KeyError::Unsupported(kind) => fail(
            exit_code::ERROR_GENERIC,
            format!("Could not generate data key: the file has {kind} keys, which are not supported yet by this sops (remove them with --rm-* to rotate)"),
        ),
        other => fail(
            exit_code::ERROR_GENERIC,
            format!("Could not generate data key: [{other}]"),
        ),
    })
}

/// `rotate --recursive DIR...`: every sops file under the directories, in place.
pub fn run_recursive(c: RotateCommand) -> Result<()> {
    let context = kms::parse_context(c.common.encryption_context.as_deref().unwrap_or(""))
        .unwrap_or_default();
    let profile = c.common.aws_profile.as_deref().unwrap_or("");
    let (add, rm) = key_changes(&c.key_changes, &context, profile)?;
    super::recursive::run(
        &c.common,
        &c.files,
        c.yes,
        &super::recursive::Rotate { add, rm },
    )
}
