//! `sops merge-driver BASE CURRENT OTHER [PATHNAME]`: a git merge driver for sops files
//! (`git config merge.sops.driver "sops merge-driver %O %A %B %P"`).
//!
//! The three versions are decrypted with the keys of this machine and merged by key path
//! ([`sops_core::merge`]); the result is encrypted again with CURRENT's data key (or OTHER's
//! when only OTHER changed the keys), keeping the ciphertext of unchanged values, and written
//! over CURRENT atomically. On a conflict the paths (never the values) go to stderr, CURRENT
//! is left byte for byte as it was, and the exit code is 1, so git records a conflict. When
//! none of the versions is a sops file, git's own text merge (`git merge-file`) is used.

use std::path::Path;

use anyhow::{Context, Result};
use sops_core::error::exit_code;
use sops_core::format::Format;
use sops_core::{DecryptOptions, DecryptedFile, EncryptedFile};

use super::{load, Invocation};
use crate::cli::MergeDriverCommand;
use crate::exit::fail;

/// Runs the merge driver.
pub fn run(c: MergeDriverCommand) -> Result<()> {
    let mut args = c.common;
    // Git's temporary files have no extension: the repository path names the format.
    if args.filename_override.is_none() {
        args.filename_override = c.pathname.clone();
    }
    let inv = Invocation::new(args, Some(c.current.clone()))?;
    let name = c.pathname.as_deref().unwrap_or(&c.current);
    let read = |path: &str| {
        std::fs::read(path).map_err(|e| {
            fail(
                exit_code::COULD_NOT_READ_INPUT_FILE,
                format!("sops merge-driver: cannot read {path}: {e}"),
            )
        })
    };
    let base_bytes = read(&c.base)?;
    let current_bytes = read(&c.current)?;
    let other_bytes = read(&c.other)?;

    let format = inv.input_format;
    let base = parse(&base_bytes, format);
    let current = parse(&current_bytes, format);
    let other = parse(&other_bytes, format);
    let base_absent = base_bytes.is_empty();
    if current.is_none() && other.is_none() && (base_absent || base.is_none()) {
        return text_merge([&c.current, &c.base, &c.other], name);
    }
    let current_is_sops = current.is_some();
    let (Some(current), Some(other)) = (current, other) else {
        let side = if current_is_sops { "theirs" } else { "ours" };
        return Err(fail(
            exit_code::ERROR_GENERIC,
            format!("sops merge-driver: {name}: {side} is not a sops file, the other side is; merge it by hand"),
        ));
    };
    let base = match base {
        Some(b) => Some(open(&inv, b, name, "the common ancestor")?),
        None if base_absent => None,
        None => {
            return Err(fail(
                exit_code::ERROR_GENERIC,
                format!("sops merge-driver: {name}: the common ancestor is not a sops file; merge it by hand"),
            ))
        }
    };
    let current = open(&inv, current, name, "ours")?;
    let other = open(&inv, other, name, "theirs")?;
    let ours = (current.documents.clone(), current.metadata.clone());
    let merged = match sops_core::merge::merge_files(base, current, other) {
        Ok(m) => m,
        Err(conflicts) => {
            eprintln!(
                "sops merge-driver: {name}: {} conflict(s), file left as it was:",
                conflicts.paths.len()
            );
            for path in &conflicts.paths {
                eprintln!("  {path}");
            }
            return Err(fail(
                exit_code::ERROR_GENERIC,
                format!("sops merge-driver: {name}: merge it by hand (`sops edit`)"),
            ));
        }
    };
    if merged.documents == ours.0 && merged.metadata == ours.1 {
        // Nothing to bring in (OTHER's changes were already here): CURRENT stays as it is.
        inv.log(&format!("{name}: nothing to merge"));
        return Ok(());
    }
    let out = load::seal(&inv, merged)?;
    load::write_back(&inv, &out)?;
    inv.log(&format!("Merged {name}"));
    Ok(())
}

/// The encrypted file, or `None` when the bytes are not a sops file in `format`.
fn parse(bytes: &[u8], format: Format) -> Option<EncryptedFile> {
    if bytes.is_empty() {
        return None;
    }
    EncryptedFile::parse(bytes, format).ok()
}

/// Decrypts one version, keeping its IVs.
fn open(inv: &Invocation, file: EncryptedFile, name: &str, which: &str) -> Result<DecryptedFile> {
    let key = load::recover_key(&file, &inv.args)
        .with_context(|| format!("sops merge-driver: {name}: cannot decrypt {which}"))?;
    let opts = DecryptOptions {
        ignore_mac: inv.args.ignore_mac,
    };
    file.decrypt_with_key_keeping_ivs(key, &opts)
        .with_context(|| format!("sops merge-driver: {name}: cannot decrypt {which}"))
}

/// Git's own line-based merge for files that are not sops files (conflict markers included,
/// as git would have written them without the driver).
fn text_merge(files: [&str; 3], name: &str) -> Result<()> {
    let status = std::process::Command::new("git")
        .args(["merge-file", "-L", name, "-L", "base", "-L", "theirs", "--"])
        .args(files.map(Path::new))
        .status()
        .map_err(|e| {
            fail(
                exit_code::ERROR_GENERIC,
                format!("sops merge-driver: {name} is not a sops file and git merge-file could not run: {e}"),
            )
        })?;
    match status.code() {
        Some(0) => Ok(()),
        _ => Err(fail(
            exit_code::ERROR_GENERIC,
            format!("sops merge-driver: {name} is not a sops file; git merge-file left conflicts"),
        )),
    }
}
