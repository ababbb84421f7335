//! Reading an encrypted input and recovering its data key, shared by the commands that
//! change a file (edit, rotate, set, unset, updatekeys, groups, exec-*).

use anyhow::{Context, Result};
use sops_core::cipher::DataKey;
use sops_core::error::exit_code;
use sops_core::format::{Format, FormatError};
use sops_core::keys;
use sops_core::{DecryptOptions, DecryptedFile, EncryptedFile};

use super::Invocation;
use crate::exit::fail;

/// Parses encrypted bytes, mapping a parse failure to sops's exit code 1 as `decrypt` does.
pub fn parse_encrypted(bytes: &[u8], format: Format, name: &str) -> Result<EncryptedFile> {
    EncryptedFile::parse(bytes, format).map_err(|e| match e {
        sops_core::Error::Format(FormatError::Parse(msg)) => fail(
            exit_code::ERROR_GENERIC,
            format!("Error reading {name}: {msg}"),
        ),
        other => anyhow::Error::new(other).context(format!("Error reading {name}")),
    })
}

/// Recovers the data key of a file with the keys of the environment, in the
/// `--decryption-order` given (or sops's default).
pub fn recover_key(
    file: &EncryptedFile,
    decryption_order: Option<&str>,
    verbose: bool,
) -> Result<DataKey> {
    let order = keys::parse_decryption_order(decryption_order.unwrap_or("")).map_err(|dup| {
        fail(
            exit_code::DUPLICATE_DECRYPTION_KEY_TYPE,
            format!("Duplicate decryption key type: {dup}"),
        )
    })?;
    let sources = keys::EnvSources::from_env();
    let key = keys::recover_data_key_ordered(&file.metadata, &sources.list(), &order)
        .map_err(sops_core::Error::from)?;
    if verbose {
        eprintln!("[SOPS]\t level=info msg=\"Data key recovered successfully\"");
    }
    Ok(key)
}

/// Reads, parses and decrypts the input, keeping every value's IV so that re-encrypting
/// keeps the ciphertext of what did not change.
pub fn open(inv: &Invocation) -> Result<DecryptedFile> {
    let bytes = inv.read_input()?;
    let file = parse_encrypted(&bytes, inv.input_format, &inv.display_name)?;
    let key = recover_key(
        &file,
        inv.args.decryption_order.as_deref(),
        inv.args.verbose,
    )?;
    let opts = DecryptOptions {
        ignore_mac: inv.args.ignore_mac,
    };
    file.decrypt_with_key_keeping_ivs(key, &opts)
        .with_context(|| format!("Error decrypting {}", inv.display_name))
}

/// Re-encrypts a changed file and emits it in the output format.
pub fn seal(inv: &Invocation, file: DecryptedFile) -> Result<Vec<u8>> {
    let encrypted = file
        .encrypt()
        .with_context(|| format!("Error encrypting {}", inv.display_name))?;
    emit(inv, &encrypted)
}

/// Emits an encrypted file in the output format.
pub fn emit(inv: &Invocation, file: &EncryptedFile) -> Result<Vec<u8>> {
    file.to_bytes(inv.output_format, &inv.emit).map_err(|e| {
        fail(
            exit_code::ERROR_DUMPING_TREE,
            format!("Could not marshal tree: {e}"),
        )
    })
}

/// Writes `bytes` over the input file atomically.
pub fn write_back(inv: &Invocation, bytes: &[u8]) -> Result<()> {
    let Some(path) = inv.input.as_deref() else {
        return Err(fail(
            exit_code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    };
    sops_core::atomic::write_atomic(path, bytes).map_err(|e| {
        fail(
            exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("Could not write output file {}: {e}", path.display()),
        )
    })
}
