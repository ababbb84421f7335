//! `sops updatekeys FILE...`: make each file's master keys match its `.sops.yaml` creation
//! rule (key groups and Shamir threshold), after showing the changes and asking for
//! confirmation (unless `-y`). The data key, the values, `lastmodified` and the MAC stay as
//! they are: only the data key is wrapped again for the new key groups.

use std::io::{BufRead, Write};

use anyhow::Result;
use sops_core::edit::{self, GroupDiff};
use sops_core::error::exit_code;
use sops_core::keys::KeyError;

use super::{load, Invocation};
use crate::cli::UpdatekeysCommand;
use crate::exit::fail;

/// Runs `updatekeys` on every file given.
pub fn run(c: UpdatekeysCommand) -> Result<()> {
    if c.recursive {
        return super::recursive::run(&c.common, &c.files, c.yes, &super::recursive::UpdateKeys);
    }
    if c.files.is_empty() {
        // As sops: the config file is looked for first (exit 1), then the file (exit 100);
        // a `--config` is taken as given (read later, per file).
        if c.common.config.is_none() && super::load_config(&c.common)?.is_none() {
            return Err(fail(exit_code::ERROR_GENERIC, "config file not found"));
        }
        return Err(fail(
            exit_code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    }
    if let [file] = c.files.as_slice() {
        return update_one(&c, file);
    }
    // As sops with several files: a failure is logged and the remaining files are still
    // updated; the command fails at the end with the number of failures.
    let mut failed = 0;
    for file in &c.files {
        if let Err(err) = update_one(&c, file) {
            failed += 1;
            let (_, message) = crate::exit::describe(&err);
            eprintln!("[CMD]\t level=error msg={message:?}");
        }
    }
    if failed > 0 {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            format!("failed updating {failed} key(s)"),
        ));
    }
    Ok(())
}

fn print_shamir_diff(out: &mut impl Write, old: usize, new: usize) -> std::io::Result<()> {
    if old > 0 && old == new {
        writeln!(out, "shamir_threshold: {new}")?;
    } else {
        if new > 0 {
            writeln!(out, "+++ shamir_threshold: {new}")?;
        }
        if old > 0 {
            writeln!(out, "--- shamir_threshold: {old}")?;
        }
    }
    Ok(())
}

pub(super) fn print_diffs(out: &mut impl Write, diffs: &[GroupDiff]) -> std::io::Result<()> {
    for (i, d) in diffs.iter().enumerate() {
        writeln!(out, "Group {}", i + 1)?;
        for k in &d.common {
            writeln!(out, "    {k}")?;
        }
        for k in &d.added {
            writeln!(out, "+++ {k}")?;
        }
        for k in &d.removed {
            writeln!(out, "--- {k}")?;
        }
    }
    Ok(())
}

/// Asks "Is this okay? (y/n)" on stdin until the answer is y or n.
pub(super) fn confirm() -> Result<bool> {
    let stdin = std::io::stdin();
    loop {
        print!("Is this okay? (y/n):");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let n = stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| fail(exit_code::ERROR_GENERIC, e.to_string()))?;
        if n == 0 {
            return Err(fail(
                exit_code::ERROR_GENERIC,
                "no answer on stdin (use -y to approve the changes without asking)",
            ));
        }
        match line.trim() {
            "y" => return Ok(true),
            "n" => return Ok(false),
            _ => {}
        }
    }
}

fn update_one(c: &UpdatekeysCommand, name: &str) -> Result<()> {
    let mut args = c.common.clone();
    // sops writes the file back in the format it read it in (`--input-type yaml x.dat`
    // stays YAML).
    if args.output_type.is_none() {
        args.output_type = args.input_type.clone();
    }
    let inv = Invocation::new_maybe_missing(args, Some(name.to_string()))?;
    if !inv.input.as_deref().is_some_and(std::path::Path::exists) {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            format!(
                "stat {}: no such file or directory",
                inv.rule_path.display()
            ),
        ));
    }
    if inv.input.as_deref().is_some_and(std::path::Path::is_dir) {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            "can't operate on a directory",
        ));
    }
    let Some(config) = inv.config.as_ref() else {
        // sops exits 1 here (not 61).
        return Err(fail(exit_code::ERROR_GENERIC, "config file not found"));
    };
    eprintln!("Syncing keys for file {}", inv.rule_path.display());
    let bytes = inv.read_input()?;
    let mut file = load::parse_encrypted(&bytes, inv.input_format, &inv.display_name)?;
    let rule = config
        .rule_for(&inv.rule_path)
        .map_err(|e| fail(e.exit_code(), e.to_string()))?
        .ok_or_else(|| {
            fail(
                exit_code::ERROR_GENERIC,
                "The config file does not contain any creation rule",
            )
        })?;
    let diffs = edit::diff_key_groups(&file.metadata.key_groups, &rule.key_groups);
    let keys_change = diffs
        .iter()
        .any(|d| !d.added.is_empty() || !d.removed.is_empty());
    let old_threshold = file.metadata.shamir_threshold;
    // The flag wins, then the rule's threshold (sops ignores it; we honour it), else the
    // file's; never more than the number of groups.
    let mut threshold = match c.common.shamir_secret_sharing_threshold {
        Some(n) if n != 0 => n,
        _ if rule.shamir_threshold != 0 => rule.shamir_threshold,
        _ => old_threshold,
    };
    threshold = threshold.min(rule.key_groups.len());
    if rule.key_groups.len() <= 1 && rule.shamir_threshold == 0 && old_threshold == 0 {
        threshold = 0;
    }
    if !keys_change && threshold == old_threshold {
        eprintln!("File {} already up to date", inv.rule_path.display());
        return Ok(());
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "The following changes will be made to the file's groups:"
        );
        let _ = print_shamir_diff(&mut out, old_threshold, threshold);
        let _ = print_diffs(&mut out, &diffs);
        let _ = out.flush();
    }
    if !c.yes && !confirm()? {
        eprintln!("File {} left unchanged", inv.rule_path.display());
        return Ok(());
    }
    let key = load::recover_key(&file, &inv.args)?;
    edit::rewrap(&mut file.metadata, &key, &rule.key_groups, threshold).map_err(|e| match e {
        KeyError::Unsupported(kind) => fail(
            exit_code::ERROR_GENERIC,
            format!("error updating one or more master keys: {kind} keys are not supported yet by this sops"),
        ),
        other => fail(
            exit_code::ERROR_GENERIC,
            format!("error updating one or more master keys: [{other}]"),
        ),
    })?;
    let out = load::emit(&inv, &file)?;
    load::write_back(&inv, &out)?;
    eprintln!("File {} synced with new keys", inv.rule_path.display());
    Ok(())
}
