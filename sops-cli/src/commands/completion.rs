//! `sops completion SHELL` and the man page, both generated from the command line definition.

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;

/// Prints the completion script for `shell` on stdout.
pub fn run_completion(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "sops", &mut std::io::stdout());
    Ok(())
}

/// Prints the man page (roff) on stdout; `docs/sops.1` is this output.
pub fn run_man() -> Result<()> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .context("Could not render the man page")?;
    use std::io::Write;
    std::io::stdout()
        .write_all(&out)
        .context("Could not write to stdout")
}
