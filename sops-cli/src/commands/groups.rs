//! `sops groups add|delete`: add a key group to a file or delete one, wrapping the same data
//! key again (split with Shamir across the new set of groups). Values, `lastmodified` and the
//! MAC stay as they are.

use anyhow::Result;
use sops_core::config::{self, KeySpec};
use sops_core::edit;
use sops_core::error::exit_code;
use sops_core::keys::age::AgeRecipient;
use sops_core::keys::kms::{self, KmsKey};
use sops_core::keys::KeyError;

use super::rotate::{azure_specs, gcp_kms_specs, hckms_specs, vault_specs};
use super::{load, Invocation};
use crate::cli::{CommonArgs, GroupsCommand, GroupsFileArgs};
use crate::exit::fail;

/// Runs `groups add` or `groups delete`.
pub fn run(c: GroupsCommand) -> Result<()> {
    match c {
        GroupsCommand::Add(a) => {
            if !a.extra.is_empty() {
                return Err(fail(
                    exit_code::ERROR_GENERIC,
                    "error: no positional arguments allowed",
                ));
            }
            // The order sops's `groups add` builds the group in: PGP, KMS, GCP KMS, Azure,
            // Vault, age.
            let mut group = Vec::new();
            let context = kms::parse_context(a.encryption_context.as_deref().unwrap_or(""))
                .unwrap_or_default();
            let profile = a.aws_profile.as_deref().unwrap_or("");
            let mut kms_keys = Vec::new();
            for arn in &a.kms {
                let k = KmsKey::from_arn(arn, &context, profile);
                kms_keys.push(KeySpec::Kms {
                    arn: k.arn,
                    role: k.role,
                    context: k.context,
                    aws_profile: k.aws_profile,
                });
            }
            let mut vault_keys = Vec::new();
            for uri in &a.hc_vault_transit {
                vault_keys.extend(vault_specs("--hc-vault-transit", &Some(uri.clone()))?);
            }
            let mut azure_keys = Vec::new();
            for url in &a.azure_kv {
                azure_keys.extend(azure_specs("--azure-kv", &Some(url.clone()))?);
            }
            for fp in &a.pgp {
                group.extend(config::pgp_fingerprints(fp).into_iter().map(KeySpec::Pgp));
            }
            group.extend(kms_keys);
            for ids in &a.gcp_kms {
                group.extend(gcp_kms_specs(&Some(ids.clone())));
            }
            group.extend(azure_keys);
            for id in &a.hckms {
                group.extend(hckms_specs("--hckms", &Some(id.clone()))?);
            }
            group.extend(vault_keys);
            for r in &a.age {
                for r in AgeRecipient::parse_list(r)
                    .map_err(|e| fail(exit_code::ERROR_GENERIC, format!("Error: --age: {e}")))?
                {
                    group.push(KeySpec::Age(r.as_str().to_string()));
                }
            }
            // Checked once the file is read, so a missing file is reported first, as in
            // sops (which then adds the empty group: see README's differences).
            change(&a.target, |groups| {
                if group.is_empty() {
                    return Err(fail(
                        exit_code::ERROR_GENERIC,
                        "Error: the new group has no keys (use --age, --pgp, --kms, --gcp-kms or --hc-vault-transit)",
                    ));
                }
                groups.push(group);
                Ok(())
            })
        }
        GroupsCommand::Delete(d) => {
            if d.index.len() != 1 {
                return Err(fail(
                    exit_code::ERROR_GENERIC,
                    "error: exactly one positional argument (index) required",
                ));
            }
            let index: usize = d.index[0].parse().map_err(|e| {
                fail(
                    exit_code::ERROR_GENERIC,
                    format!("failed to parse [index] argument: {e}"),
                )
            })?;
            change(&d.target, |groups| {
                if index >= groups.len() {
                    return Err(fail(
                        exit_code::ERROR_GENERIC,
                        format!(
                            "error: key group index {index} out of range: the file has {} key groups",
                            groups.len()
                        ),
                    ));
                }
                groups.remove(index);
                Ok(())
            })
        }
    }
}

fn change(t: &GroupsFileArgs, f: impl FnOnce(&mut Vec<Vec<KeySpec>>) -> Result<()>) -> Result<()> {
    let args = CommonArgs {
        in_place: t.in_place,
        input_type: t.input_type.clone(),
        output_type: t.output_type.clone(),
        decryption_order: t.decryption_order.clone(),
        verbose: t.verbose,
        config: t.config.clone(),
        indent: t.indent,
        enable_local_keyservice: t.enable_local_keyservice,
        keyservice: t.keyservice.clone(),
        ..Default::default()
    };
    let inv = Invocation::new_maybe_missing(args, Some(t.file.clone()))?;
    let bytes = inv.read_input()?;
    let mut file = load::parse_encrypted(&bytes, inv.input_format, &inv.display_name)?;
    // sops reports a data key it cannot recover here with exit code 1 (not 128).
    let key = load::recover_key(&file, &inv.args).map_err(|e| {
        fail(
            exit_code::ERROR_GENERIC,
            format!("Error getting data key: {}", crate::exit::describe(&e).1),
        )
    })?;
    let mut groups = edit::specs_of(&file.metadata.key_groups);
    f(&mut groups)?;
    let mut threshold = file.metadata.shamir_threshold;
    if let Some(n) = t.shamir_secret_sharing_threshold.filter(|n| *n != 0) {
        threshold = n;
    }
    if groups.is_empty() {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            "error: a file needs at least one key group",
        ));
    }
    if groups.len() < threshold {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            format!(
                "removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is {threshold}, but we only have {} key groups",
                groups.len()
            ),
        ));
    }
    edit::rewrap(&mut file.metadata, &key, &groups, threshold).map_err(|e| match e {
        KeyError::Unsupported(kind) => fail(
            exit_code::ERROR_GENERIC,
            format!("the file has {kind} keys, which are not supported yet by this sops"),
        ),
        other => fail(exit_code::ERROR_GENERIC, other.to_string()),
    })?;
    let out = load::emit(&inv, &file)?;
    inv.write_output(&out)
}
