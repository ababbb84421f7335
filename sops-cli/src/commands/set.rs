//! `sops set FILE PATH VALUE`, `sops unset FILE PATH` and the legacy `sops --set 'PATH VALUE'
//! FILE`: change one value of an encrypted file in place. Every other value keeps its exact
//! ciphertext.

use std::io::Read;

use anyhow::Result;
use sops_core::edit::{self, UnsetError};
use sops_core::error::exit_code;
use sops_core::tree::Node;
use sops_core::tree_path::{self, PathStep};

use super::{load, Invocation};
use crate::cli::{SetCommand, UnsetCommand};
use crate::exit::fail;

fn parse_path(path: &str, what: &str) -> Result<Vec<PathStep>> {
    tree_path::parse(path).map_err(|_| {
        fail(
            exit_code::ERROR_INVALID_SET_FORMAT,
            format!("Invalid {what} index format"),
        )
    })
}

fn parse_value(text: &str) -> Result<Node> {
    edit::json_value(text).map_err(|_| {
        fail(
            exit_code::ERROR_INVALID_SET_FORMAT,
            "Value for --set is not valid JSON",
        )
    })
}

/// `sops set`.
pub fn run_set(c: SetCommand) -> Result<()> {
    let value_text = if c.value_stdin {
        if c.value.is_some() {
            return Err(fail(
                exit_code::NO_FILE_SPECIFIED,
                "Error: file specified, or index and value are missing. Need precisely 2 positional arguments since --value-stdin is used.",
            ));
        }
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            fail(
                exit_code::ERROR_GENERIC,
                format!("Error reading stdin: {e}"),
            )
        })?;
        s
    } else {
        let Some(value) = c.value.as_deref() else {
            return Err(fail(
                exit_code::NO_FILE_SPECIFIED,
                "Error: no file specified, or index and value are missing. Need precisely 3 positional arguments.",
            ));
        };
        if c.value_file {
            std::fs::read_to_string(value).map_err(|e| {
                fail(
                    exit_code::ERROR_GENERIC,
                    format!("Error reading {value}: {e}"),
                )
            })?
        } else {
            value.to_string()
        }
    };
    let inv = Invocation::new_maybe_missing(c.common, Some(c.file))?;
    let steps = parse_path(&c.path, "set")?;
    let value = parse_value(&value_text)?;
    apply_set(&inv, &steps, value, c.idempotent)
}

fn apply_set(inv: &Invocation, steps: &[PathStep], value: Node, idempotent: bool) -> Result<()> {
    let mut file = load::open(inv)?;
    let changed = file.set(steps, value);
    if !changed && idempotent {
        inv.log("File not written due to no change");
        return Ok(());
    }
    let out = load::seal(inv, file)?;
    load::write_back(inv, &out)?;
    inv.log("File written successfully");
    Ok(())
}

/// The legacy `--set '["a"]["b"] JSON'` flag: the path ends at the first `"] "`.
pub fn run_legacy_set(inv: &Invocation, arg: &str) -> Result<()> {
    let Some(split) = arg.find("] ") else {
        return Err(fail(
            exit_code::ERROR_INVALID_SET_FORMAT,
            "Invalid --set format",
        ));
    };
    let (path, value) = (arg[..split + 1].trim_end(), &arg[split + 2..]);
    let value = parse_value(value)?;
    let steps = tree_path::parse(path)
        .map_err(|_| fail(exit_code::ERROR_INVALID_SET_FORMAT, "Invalid --set format"))?;
    apply_set(inv, &steps, value, false)
}

/// `sops unset`.
pub fn run_unset(c: UnsetCommand) -> Result<()> {
    let inv = Invocation::new_maybe_missing(c.common, Some(c.file))?;
    let steps = parse_path(&c.path, "unset")?;
    let mut file = load::open(&inv)?;
    match file.unset(&steps) {
        Ok(()) => {}
        Err(UnsetError::NotFound(_)) if c.idempotent => return Ok(()),
        Err(e) => return Err(fail(exit_code::ERROR_GENERIC, e.to_string())),
    }
    let out = load::seal(&inv, file)?;
    load::write_back(&inv, &out)
}
