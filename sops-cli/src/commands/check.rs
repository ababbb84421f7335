//! `sops check [PATH...]`: report files that a `.sops.yaml` creation rule covers but that are
//! not encrypted, have keys other than the rule's, or have broken metadata
//! ([`sops_core::check`]). Reads metadata only; no key is needed. Exit 0 when all is well,
//! 1 with one line per file (or a JSON array with `--format json`) otherwise.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sops_core::check::{self, ConfigFinder};
use sops_core::error::exit_code;

use crate::cli::CheckCommand;
use crate::exit::fail;

/// Runs the check and prints the findings.
pub fn run(c: CheckCommand) -> Result<()> {
    let json = match c.format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            return Err(fail(
                exit_code::ERROR_GENERIC,
                format!("Error: --format must be text or json, not {other:?}"),
            ))
        }
    };
    let configs = match c.common.config.as_deref().filter(|p| !p.is_empty()) {
        Some(path) => ConfigFinder::fixed(Path::new(path)),
        None => ConfigFinder::upwards(),
    };
    let paths: Vec<PathBuf> = if c.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        c.paths.iter().map(PathBuf::from).collect()
    };
    let findings = check::check_paths(&paths, &configs);
    let mut out = std::io::stdout().lock();
    if json {
        out.write_all(check::to_json(&findings).as_bytes())
    } else {
        findings.iter().try_for_each(|f| writeln!(out, "{f}"))
    }
    .and_then(|_| out.flush())
    .context("Could not write to stdout")?;
    if findings.is_empty() {
        return Ok(());
    }
    Err(fail(
        exit_code::ERROR_GENERIC,
        format!(
            "sops check: {} file(s) do not match their creation rule",
            findings.len()
        ),
    ))
}
