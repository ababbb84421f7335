//! `sops decrypt` / `sops -d`: decrypt a file, optionally one value of it (`--extract`).

use anyhow::{Context, Result};
use sops_core::error::exit_code;
use sops_core::format::FormatError;
use sops_core::keys;
use sops_core::tree::Node;
use sops_core::tree_path::{self, PathError};
use sops_core::{DecryptOptions, EncryptedFile};

use super::Invocation;
use crate::exit::fail;

/// Decrypts the input and writes the plaintext.
pub fn run(inv: &Invocation) -> Result<()> {
    let extract = match &inv.args.extract {
        Some(path) => Some(tree_path::parse(path).map_err(|e| {
            fail(
                exit_code::INVALID_TREE_PATH_FORMAT,
                format!("error parsing --extract path: {e}"),
            )
        })?),
        None => None,
    };
    let order = keys::parse_decryption_order(inv.args.decryption_order.as_deref().unwrap_or(""))
        .map_err(|dup| {
            fail(
                exit_code::DUPLICATE_DECRYPTION_KEY_TYPE,
                format!("Duplicate decryption key type: {dup}"),
            )
        })?;
    let input = inv.read_input()?;
    let file = EncryptedFile::parse(&input, inv.input_format).map_err(|e| match e {
        // sops exits 1 when an encrypted file does not parse.
        sops_core::Error::Format(FormatError::Parse(msg)) => fail(
            exit_code::ERROR_GENERIC,
            format!("Error reading {}: {msg}", inv.display_name),
        ),
        other => anyhow::Error::new(other).context(format!("Error reading {}", inv.display_name)),
    })?;
    // The tree holds its own copy of everything: free the input before decrypting.
    drop(input);
    let sources = keys::EnvSources::from_env();
    let data_key = keys::recover_data_key_ordered(&file.metadata, &sources.list(), &order)
        .map_err(sops_core::Error::from)?;
    inv.log("Data key recovered successfully");
    let opts = DecryptOptions {
        ignore_mac: inv.args.ignore_mac,
    };
    let decrypted = file
        .decrypt_with_key(data_key, &opts)
        .with_context(|| format!("Error decrypting {}", inv.display_name))?;
    let output = match extract {
        Some(steps) => {
            let root = Node::Map(decrypted.documents.into_iter().next().unwrap_or_default());
            let value = tree_path::lookup(&root, &steps).map_err(|e| {
                let code = match e {
                    PathError::Syntax(_) => exit_code::INVALID_TREE_PATH_FORMAT,
                    _ => exit_code::ERROR_GENERIC,
                };
                fail(code, e.to_string())
            })?;
            inv.output_format
                .codec()
                .emit_value(value, &inv.emit)
                .map_err(sops_core::Error::from)
        }
        None => decrypted.to_bytes(inv.output_format, &inv.emit),
    }
    .with_context(|| format!("Error dumping file as {}", inv.output_format.name()))?;
    inv.write_output(&output)
}
