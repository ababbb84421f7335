//! `sops textconv FILE`: git's `diff.sops.textconv`, so `git diff` and `git log -p` show
//! plaintext.
//!
//! A sops file is printed decrypted (the format from the file name: git's temporary file
//! keeps the original's extension). Anything else (history from before the file was
//! encrypted, a file that does not parse) is printed unchanged, and so is a sops file that no
//! key of this machine opens, with one line on stderr saying why. These cases exit 0, so
//! `git log -p` never stops halfway.

use std::io::Write;

use anyhow::{Context, Result};
use sops_core::format::Format;
use sops_core::{DecryptOptions, EncryptedFile};

use super::{load, Invocation};
use crate::cli::TextconvCommand;

/// Prints FILE decrypted, or unchanged when it cannot be.
pub fn run(c: TextconvCommand) -> Result<()> {
    let inv = Invocation::new(c.common, Some(c.file))?;
    let bytes = inv.read_input()?;
    let plain = match decrypt(&inv, &bytes) {
        Ok(Some(plain)) => plain,
        Ok(None) => bytes,
        Err(e) => {
            let why = format!("{e:#}");
            let first = why.lines().next().unwrap_or_default();
            eprintln!(
                "sops textconv: {}: shown encrypted: {first}",
                inv.display_name
            );
            bytes
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&plain)
        .and_then(|_| out.flush())
        .context("Could not write to stdout")
}

/// The plaintext, `None` for a file that is not a sops file, or why it cannot be decrypted.
fn decrypt(inv: &Invocation, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let format: Format = inv.input_format;
    let Ok(file) = EncryptedFile::parse(bytes, format) else {
        return Ok(None);
    };
    let key = load::recover_key(&file, &inv.args)?;
    let opts = DecryptOptions {
        ignore_mac: inv.args.ignore_mac,
    };
    let file = file.decrypt_with_key(key, &opts)?;
    Ok(Some(file.to_bytes(inv.output_format, &inv.emit)?))
}
