//! Reading an encrypted input and recovering its data key, shared by the commands that
//! change a file (edit, rotate, set, unset, updatekeys, groups, exec-*).

use std::path::Path;

use anyhow::{Context, Result};
use sops_core::cipher::DataKey;
use sops_core::config::Config;
use sops_core::error::exit_code;
use sops_core::format::{Format, FormatError};
use sops_core::keys;
use sops_core::{DecryptOptions, DecryptedFile, EncryptedFile};

use super::Invocation;
use crate::cli::CommonArgs;
use crate::exit::fail;

/// Which form a TOML file is read and written in: [`Format::Binary`] or [`Format::Toml`].
/// sops has no TOML store: it encrypts `*.toml` as a binary file (a JSON envelope), and a
/// file in that form is binary whatever its name or `--input-type`. A new `.toml` file is
/// encrypted that way too, so any sops reader can decrypt it; our TOML store (values
/// encrypted one by one) is used with `--input-type toml` (`explicit`), for files already in
/// that form, and when the matching creation rule sets `toml_per_value: true`.
pub fn toml_form(
    input: Option<&Path>,
    explicit: bool,
    config: Option<&Config>,
    rule_path: &Path,
) -> Format {
    // An existing file: its content decides.
    if let Some(bytes) = input.and_then(|p| std::fs::read(p).ok()) {
        if Format::Toml.for_content(&bytes) == Format::Binary {
            return Format::Binary;
        }
        let ours = sops_core::file::parse_plain(&bytes, Format::Toml)
            .is_err_and(|e| matches!(e, sops_core::Error::AlreadyEncrypted));
        if explicit || ours {
            return Format::Toml;
        }
    } else if explicit {
        return Format::Toml;
    }
    let per_value = config
        .and_then(|c| c.rule_for(rule_path).ok().flatten())
        .is_some_and(|rule| rule.toml_per_value);
    if per_value {
        Format::Toml
    } else {
        Format::Binary
    }
}

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

/// Parses `--decryption-order` (or `SOPS_DECRYPTION_ORDER`).
pub fn decryption_order(args: &CommonArgs) -> Result<Vec<String>> {
    keys::parse_decryption_order(args.decryption_order.as_deref().unwrap_or("")).map_err(|dup| {
        fail(
            exit_code::DUPLICATE_DECRYPTION_KEY_TYPE,
            format!("Duplicate decryption key type: {dup}"),
        )
    })
}

/// The `--keyservice` URIs: the flags, or else `SOPS_KEYSERVICE` (comma separated, as
/// urfave/cli reads a list from the environment).
#[cfg(feature = "keyservice")]
pub fn keyservice_uris(args: &CommonArgs) -> Vec<String> {
    if !args.keyservice.is_empty() {
        return args.keyservice.clone();
    }
    match std::env::var("SOPS_KEYSERVICE") {
        Ok(v) if !v.is_empty() => v.split(',').map(|s| s.trim().to_string()).collect(),
        _ => Vec::new(),
    }
}

/// The key services of this run (`--enable-local-keyservice`, `--keyservice`), set up once
/// and installed for every key the run wraps. A URI that cannot be used is reported and
/// skipped, as sops does.
#[cfg(feature = "keyservice")]
pub fn key_services(args: &CommonArgs) -> &'static sops_core::keyservice::KeyServices {
    use sops_core::keyservice;
    if let Some(services) = keyservice::installed() {
        return services;
    }
    let (services, errors) =
        keyservice::KeyServices::new(args.enable_local_keyservice, &keyservice_uris(args));
    for e in errors {
        eprintln!(
            "[CMD]\t level=warning msg=\"Error parsing URI for keyservice, skipping\" error={:?}",
            e.to_string()
        );
    }
    if args.verbose {
        for remote in &services.remotes {
            eprintln!(
                "[CMD]\t level=info msg=\"Connecting to key service\" address={:?}",
                remote.address()
            );
        }
    }
    keyservice::install(services)
}

/// Recovers the data key of a file with the key services of this run: the keys of this
/// machine (sops's local key service, unless `--enable-local-keyservice=false`), then each
/// `--keyservice`, in the `--decryption-order` given (or sops's default). Every service is
/// asked for a key before the next key is tried, and the failure report lists each
/// service's error, as sops's does.
pub fn recover_key(file: &EncryptedFile, args: &CommonArgs) -> Result<DataKey> {
    let order = decryption_order(args)?;
    let sources = keys::EnvSources::from_env();
    let local = sources.list();
    #[cfg(feature = "keyservice")]
    let sources = key_services(args).unwrappers(&local);
    #[cfg(not(feature = "keyservice"))]
    let sources: Vec<&dyn keys::Unwrapper> = if args.enable_local_keyservice {
        local
    } else {
        Vec::new()
    };
    let key = keys::recover_data_key_ordered(&file.metadata, &sources, &order)
        .map_err(sops_core::Error::from)?;
    if args.verbose {
        eprintln!("[SOPS]\t level=info msg=\"Data key recovered successfully\"");
    }
    Ok(key)
}

/// Sets up the key services that wrap a new data key, and refuses when there are none (the
/// local one disabled and no `--keyservice`), as sops does.
pub fn require_local_keyservice(args: &CommonArgs) -> Result<()> {
    #[cfg(feature = "keyservice")]
    let any = {
        let services = key_services(args);
        services.local || !services.remotes.is_empty()
    };
    #[cfg(not(feature = "keyservice"))]
    let any = args.enable_local_keyservice;
    if any {
        return Ok(());
    }
    Err(fail(
        exit_code::ERROR_GENERIC,
        "Could not generate data key: [no key services provided, cannot update master keys]",
    ))
}

/// Reads, parses and decrypts the input, keeping every value's IV so that re-encrypting
/// keeps the ciphertext of what did not change.
pub fn open(inv: &Invocation) -> Result<DecryptedFile> {
    let bytes = inv.read_input()?;
    let file = parse_encrypted(&bytes, inv.input_format, &inv.display_name)?;
    let key = recover_key(&file, &inv.args)?;
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
    inv.check_indent()?;
    if let Some(captured) = &inv.captured {
        *captured.borrow_mut() = Some(bytes.to_vec());
        return Ok(());
    }
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
