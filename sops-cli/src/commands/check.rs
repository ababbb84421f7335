//! `sops check [PATH...]`: placeholder, filled in below.
use anyhow::Result;

use crate::cli::CheckCommand;

/// Runs the check.
pub fn run(_c: CheckCommand) -> Result<()> {
    Ok(())
}
