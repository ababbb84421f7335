//! `sops decrypt` / `sops -d`: decrypt a file, optionally one value of it (`--extract`).

use anyhow::{Context, Result};
use sops_core::cipher::DataKey;
use sops_core::error::exit_code;
use sops_core::file::EarlyDecrypt;
use sops_core::format::yaml::FileParts;
use sops_core::format::{Format, FormatError};
use sops_core::metadata::Metadata;
use sops_core::tree::Node;
use sops_core::tree_path::{self, PathError};
use sops_core::{DecryptOptions, DecryptedFile, EncryptedFile};

use super::{load, Invocation};
use crate::exit::fail;

/// Decrypts the input and writes the plaintext.
pub fn run(inv: &Invocation) -> Result<()> {
    inv.plaintext_output.set(true);
    let extract = match &inv.args.extract {
        Some(path) => Some(tree_path::parse(path).map_err(|e| {
            fail(
                exit_code::INVALID_TREE_PATH_FORMAT,
                format!("error parsing --extract path: {e}"),
            )
        })?),
        None => None,
    };
    load::decryption_order(&inv.args)?;
    let opts = DecryptOptions {
        ignore_mac: inv.args.ignore_mac,
    };
    // A large file is decrypted while it is read, with the data key recovered from its
    // metadata found up front; anything unusual takes the ordinary way below, which gives
    // the same result. The key (or why it could not be recovered) is kept for that way, so
    // that it is recovered once.
    let (mut early_key, parts_refused) = match decrypt_large_yaml_file(inv, &opts) {
        LargeFile::Decrypted(decrypted) => return output(inv, decrypted, extract),
        LargeFile::Failed(e) => return Err(e),
        LargeFile::NotApplicable(early_key) => (early_key, false),
        LargeFile::PartsRefused(metadata, key) => (Some((metadata, Ok(key))), true),
    };
    let input = inv.read_input()?;
    // A file whose parts were refused is not read early a second time.
    let peeked = if parts_refused {
        None
    } else {
        sops_core::file::peek_metadata(&input, inv.input_format)
    };
    if let Some(metadata) = peeked {
        let probe = EncryptedFile {
            documents: Vec::new(),
            metadata,
        };
        let key = match early_key.take() {
            Some((seen, key)) if seen == probe.metadata => key,
            _ => load::recover_key(&probe, &inv.args),
        };
        if let Ok(key) = &key {
            match EncryptedFile::parse_decrypting(
                &input,
                inv.input_format,
                &probe.metadata,
                key,
                &opts,
            ) {
                EarlyDecrypt::Done(decrypted) => {
                    drop(input);
                    return output(inv, *decrypted, extract);
                }
                EarlyDecrypt::Failed(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("Error decrypting {}", inv.display_name)))
                }
                EarlyDecrypt::NotApplicable => {}
            }
        }
        early_key = Some((probe.metadata, key));
    }
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
    let data_key = match early_key {
        Some((metadata, key)) if metadata == file.metadata => key?,
        _ => load::recover_key(&file, &inv.args)?,
    };
    let decrypted = file
        .decrypt_with_key(data_key, &opts)
        .with_context(|| format!("Error decrypting {}", inv.display_name))?;
    output(inv, decrypted, extract)
}

/// What [`decrypt_large_yaml_file`] did.
enum LargeFile {
    Decrypted(DecryptedFile),
    Failed(anyhow::Error),
    /// Not a large YAML file in parts: the ordinary way reads it, with the metadata found and
    /// the key recovered (or why not), if it got that far.
    NotApplicable(Option<(Metadata, Result<DataKey>)>),
    /// Read in parts, which cannot stand for the whole file (or do not read): the ordinary
    /// way reads it again, whole, with this metadata and key.
    PartsRefused(Metadata, DataKey),
}

/// A large YAML file is read in parts, on all cores, each part loaded from the file by the
/// thread that reads it, so that the file is never in memory whole.
fn decrypt_large_yaml_file(inv: &Invocation, opts: &DecryptOptions) -> LargeFile {
    let Some(path) = inv.input.as_deref() else {
        return LargeFile::NotApplicable(None);
    };
    if inv.input_format != Format::Yaml {
        return LargeFile::NotApplicable(None);
    }
    // Any error reading the file is the ordinary way's to report.
    let Ok(Some(plan)) = FileParts::plan(path) else {
        return LargeFile::NotApplicable(None);
    };
    let Some(metadata) = plan
        .metadata_text()
        .and_then(|text| sops_core::file::peek_metadata(&text, Format::Yaml))
    else {
        return LargeFile::NotApplicable(None);
    };
    let probe = EncryptedFile {
        documents: Vec::new(),
        metadata,
    };
    let key = match load::recover_key(&probe, &inv.args) {
        Ok(key) => key,
        Err(e) => return LargeFile::NotApplicable(Some((probe.metadata, Err(e)))),
    };
    match EncryptedFile::parse_decrypting_yaml_parts(plan.parts(), &probe.metadata, &key, opts) {
        EarlyDecrypt::Done(decrypted) => LargeFile::Decrypted(*decrypted),
        EarlyDecrypt::Failed(e) => LargeFile::Failed(
            anyhow::Error::new(e).context(format!("Error decrypting {}", inv.display_name)),
        ),
        EarlyDecrypt::NotApplicable => LargeFile::PartsRefused(probe.metadata, key),
    }
}

/// Writes the plaintext, or the value `extract` names.
fn output(
    inv: &Invocation,
    decrypted: DecryptedFile,
    extract: Option<Vec<tree_path::PathStep>>,
) -> Result<()> {
    let Some(steps) = extract else {
        return inv.write_output_with(|out| decrypted.write_to(inv.output_format, &inv.emit, out));
    };
    let root = Node::Map(decrypted.documents.into_iter().next().unwrap_or_default());
    let value = tree_path::lookup(&root, &steps).map_err(|e| {
        let code = match e {
            PathError::Syntax(_) => exit_code::INVALID_TREE_PATH_FORMAT,
            _ => exit_code::ERROR_GENERIC,
        };
        fail(code, e.to_string())
    })?;
    let output = inv
        .output_format
        .codec()
        .emit_value(value, &inv.emit)
        .map_err(sops_core::Error::from)
        .with_context(|| format!("Error dumping file as {}", inv.output_format.name()))?;
    inv.write_output(&output)
}
