//! `sops publish FILE` (or `--recursive DIR`): upload each file to the destination its
//! `.sops.yaml` `destination_rules` entry names, as sops 3.13.2 does. This file wires the
//! flags, the prompt and the directory walk; what is uploaded and how is in
//! `sops_core::publish`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sops_core::config::Config;
use sops_core::error::exit_code;
use sops_core::publish::{self, Payload, PayloadKind, Uploaded};
use sops_core::DecryptOptions;

use super::{load, Invocation};
use crate::cli::PublishCommand;
use crate::exit::fail;

/// Runs `sops publish`.
pub fn run(c: PublishCommand) -> Result<()> {
    // As sops: the config file first, then the file.
    let Some(config) = super::load_config(&c.common)? else {
        return Err(fail(exit_code::ERROR_GENERIC, "config file not found"));
    };
    let Some(path) = c.file.clone().filter(|f| !f.is_empty()) else {
        return Err(fail(
            exit_code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    };
    let meta = std::fs::metadata(&path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        fail(exit_code::ERROR_GENERIC, format!("stat {path}: {reason}"))
    })?;
    if meta.is_dir() && !c.recursive {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            "can't operate on a directory without --recursive flag.",
        ));
    }
    load::decryption_order(&c.common)?;
    let mut files = Vec::new();
    walk(Path::new(&path), &mut files)?;
    let root = c.recursive.then(|| PathBuf::from(&path));
    for file in files {
        publish_one(&c, &config, &file, root.as_deref())?;
    }
    Ok(())
}

/// The files under `path` in the order Go's `filepath.Walk` visits them (names sorted byte
/// by byte, depth first; symbolic links are not followed into directories).
fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| {
        fail(
            exit_code::ERROR_GENERIC,
            format!("lstat {}: {e}", path.display()),
        )
    })?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .and_then(|rd| rd.map(|e| e.map(|e| e.path())).collect())
        .map_err(|e| {
            fail(
                exit_code::ERROR_GENERIC,
                format!("open {}: {e}", path.display()),
            )
        })?;
    entries.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    for entry in entries {
        walk(&entry, out)?;
    }
    Ok(())
}

fn config_error(e: sops_core::config::ConfigError) -> anyhow::Error {
    fail(e.exit_code(), e.to_string())
}

fn publish_one(
    c: &PublishCommand,
    config: &Config,
    file: &Path,
    root: Option<&Path>,
) -> Result<()> {
    let shown = file.to_string_lossy();
    let rule = config.destination_for(&shown).map_err(config_error)?;
    // sops resolves the recreation rule's keys whatever the destination.
    let recreation = rule.recreation_rule.resolve().map_err(config_error)?;
    let Some(destination) = publish::destination(rule) else {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            "no destination configured for this file",
        ));
    };
    let name = publish::destination_name(file, root, c.omit_extensions || rule.omit_extensions);
    let abs = sops_core::config::absolute(file);
    let inv = Invocation::new(c.common.clone(), Some(shown.to_string()))?;
    let bytes = inv.read_input()?;
    let encrypted = load::parse_encrypted(&bytes, inv.input_format, &inv.display_name)?;
    let payload = match destination.payload_kind() {
        PayloadKind::EncryptedFile
            if recreation.key_groups.first().is_some_and(|g| !g.is_empty()) =>
        {
            inv.log("Re-encrypting tree before publishing");
            let old_groups = encrypted.metadata.key_groups.clone();
            let key = load::recover_key(&encrypted, &inv.args)?;
            let decrypted = encrypted
                .decrypt_with_key(key, &DecryptOptions::default())
                .with_context(|| format!("Error decrypting {}", inv.display_name))?;
            let diffs = sops_core::edit::diff_key_groups(&old_groups, &recreation.key_groups);
            if diffs
                .iter()
                .any(|d| !d.added.is_empty() || !d.removed.is_empty())
            {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "The following changes will be made to the file's key groups:"
                );
                let _ = super::updatekeys::print_diffs(&mut out, &diffs);
                let _ = out.flush();
            }
            load::require_local_keyservice(&inv.args)?;
            let reencrypted = publish::reencrypt(decrypted, &recreation).map_err(|e| match e {
                sops_core::Error::Key(k) => fail(
                    exit_code::ERROR_GENERIC,
                    format!("Could not generate data key: [{k}]"),
                ),
                other => fail(
                    exit_code::ERROR_ENCRYPTING_TREE,
                    format!("Error encrypting tree: {other}"),
                ),
            })?;
            Payload::EncryptedFile(load::emit(&inv, &reencrypted)?)
        }
        PayloadKind::EncryptedFile => Payload::EncryptedFile(bytes),
        PayloadKind::PlaintextData => {
            let key = load::recover_key(&encrypted, &inv.args)?;
            let decrypted = encrypted
                .decrypt_with_key(key, &DecryptOptions::default())
                .with_context(|| format!("Error decrypting {}", inv.display_name))?;
            let data = publish::kv_data(&decrypted.documents)
                .map_err(|e| fail(exit_code::ERROR_GENERIC, e.to_string()))?;
            Payload::PlaintextData(data)
        }
    };
    if !c.yes {
        let question = format!(
            "uploading {} to {} ? (y/n): ",
            abs.display(),
            destination.path(&name)
        );
        if !confirm(&question)? {
            let msg = format!("Publication of {} canceled", abs.display());
            if c.recursive {
                println!("{msg}");
                return Ok(());
            }
            return Err(fail(exit_code::ERROR_GENERIC, msg));
        }
    }
    match destination.upload(&payload, &name) {
        Ok(Uploaded::Written(warnings)) => {
            for w in warnings {
                eprintln!("[PUBLISH]\t level=warning msg={w:?}");
            }
            inv.log(&format!(
                "Published {} to {}",
                abs.display(),
                destination.path(&name)
            ));
            Ok(())
        }
        Ok(Uploaded::AlreadyUpToDate(note)) => {
            if inv.args.verbose {
                eprintln!("[PUBLISH]\t level=info msg={note:?}");
            }
            Ok(())
        }
        Err(e) => Err(fail(
            exit_code::ERROR_GENERIC,
            format!(
                "Error publishing {} to {}: {e}",
                inv.display_name,
                destination.path(&name)
            ),
        )),
    }
}

/// Asks until the answer is `y` or `n`, reading one word per line as Go's `fmt.Scanln`:
/// an empty line or the end of input is an error, as in sops.
fn confirm(question: &str) -> Result<bool> {
    let stdin = std::io::stdin();
    loop {
        print!("{question}");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let n = stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| fail(exit_code::ERROR_GENERIC, e.to_string()))?;
        if n == 0 {
            return Err(fail(
                exit_code::ERROR_GENERIC,
                "EOF (no answer on stdin; use --yes to publish without asking)",
            ));
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => return Err(fail(exit_code::ERROR_GENERIC, "unexpected newline")),
            ["y"] => return Ok(true),
            ["n"] => return Ok(false),
            [_] => {}
            _ => return Err(fail(exit_code::ERROR_GENERIC, "expected newline")),
        }
    }
}
