//! `sops edit FILE` and the bare `sops FILE`: decrypt to a private temporary file, run the
//! editor, and encrypt the result back with the same data key. Values that did not change keep
//! their exact ciphertext. A file that does not exist yet is created.
//!
//! The temporary directory (0700) and file (0600, named like the original so editors pick the
//! right syntax) are removed on every exit path: success, error, and SIGINT/SIGTERM/SIGHUP.

use std::fs;
use std::io::{BufRead, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use sops_core::error::exit_code;
use sops_core::format::{EmitOptions, Format};
use sops_core::metadata::{self, Metadata};
use sops_core::tree::{Document, Map, Node, Scalar, Seq};
use sops_core::{file, EncryptedFile};

use super::{encrypt, load, Invocation};
use crate::cli::CommonArgs;
use crate::exit::fail;

/// The editor's process id while it runs (0 when none), for the signal handler.
static EDITOR_PID: AtomicI32 = AtomicI32::new(0);
/// The temporary directory to remove when a signal arrives.
static TEMP_DIR: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();

fn temp_dir_slot() -> &'static Mutex<Option<PathBuf>> {
    TEMP_DIR.get_or_init(|| Mutex::new(None))
}

/// Removes the temporary directory and exits when SIGTERM or SIGHUP arrives, or SIGINT
/// while the editor is not running (while it runs, Ctrl+C belongs to the editor).
fn install_signal_cleanup() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            let pid = EDITOR_PID.load(Ordering::SeqCst);
            if sig == SIGINT && pid > 0 {
                // Ctrl+C reaches the editor too (vim uses it); it is the editor's to handle.
                continue;
            }
            if pid > 0 {
                // SAFETY: kill(2) with a pid we spawned and a valid signal number.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            // Held until exit: the main thread cannot be halfway through removing it.
            let slot = temp_dir_slot().lock();
            if let Ok(slot) = &slot {
                if let Some(dir) = slot.as_ref() {
                    let _ = fs::remove_dir_all(dir);
                }
            }
            let code = if sig == SIGINT {
                exit_code::KEYBOARD_INTERRUPT
            } else {
                128 + sig
            };
            eprintln!(
                "Interrupted: the temporary plaintext was removed and the file left untouched"
            );
            std::process::exit(code);
        }
    });
}

/// A private temporary directory holding the plaintext (memory-backed where possible); removed
/// on drop, on signals, and by `PrivateDir`'s watchdog if this process is killed outright.
struct Scratch {
    dir: sops_core::private_dir::PrivateDir,
    file: PathBuf,
}

impl Scratch {
    fn new(original: &Path, contents: &[u8]) -> Result<Scratch> {
        let dir = sops_core::private_dir::PrivateDir::new().map_err(|e| {
            fail(
                exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("Could not create temporary directory: {e}"),
            )
        })?;
        if let Ok(mut slot) = temp_dir_slot().lock() {
            *slot = Some(dir.path().to_path_buf());
        }
        let _ = fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700));
        let name = original
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "file".into());
        let path = dir.path().join(name);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                fail(
                    exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
                    format!("Could not create temporary file: {e}"),
                )
            })?;
        f.write_all(contents)
            .and_then(|_| f.sync_all())
            .map_err(|e| {
                fail(
                    exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
                    format!("Could not write temporary file: {e}"),
                )
            })?;
        Ok(Scratch { dir, file: path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Removal happens under the lock, so a signal arriving meanwhile waits for it
        // instead of exiting halfway through.
        let guard = temp_dir_slot().lock();
        let _ = fs::remove_dir_all(self.dir.path());
        if let Ok(mut slot) = guard {
            *slot = None;
        }
    }
}

fn lookup_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// The editor command: `SOPS_EDITOR`, else `EDITOR` (split like a shell would), else the
/// first of vim, nano, vi on the `PATH`.
fn editor_command(file: &Path) -> Result<Command> {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        let Ok(value) = std::env::var(var) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let parts = shlex::split(&value)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                fail(
                    exit_code::NO_EDITOR_FOUND,
                    format!("Could not run editor: invalid ${var}: {value}"),
                )
            })?;
        let mut cmd = Command::new(&parts[0]);
        cmd.args(&parts[1..]).arg(file);
        return Ok(cmd);
    }
    for name in ["vim", "nano", "vi"] {
        if let Some(p) = lookup_in_path(name) {
            let mut cmd = Command::new(p);
            cmd.arg(file);
            return Ok(cmd);
        }
    }
    Err(fail(
        exit_code::NO_EDITOR_FOUND,
        "Could not run editor: no editor available: sops attempts to use the editor defined in the SOPS_EDITOR or EDITOR environment variables, and if that's not set defaults to any of vim, nano, vi, but none of them could be found",
    ))
}

fn run_editor(file: &Path) -> Result<()> {
    let mut cmd = editor_command(file)?;
    let mut child = cmd.spawn().map_err(|e| {
        fail(
            exit_code::NO_EDITOR_FOUND,
            format!("Could not run editor: {e}"),
        )
    })?;
    EDITOR_PID.store(child.id() as i32, Ordering::SeqCst);
    let status = child.wait();
    EDITOR_PID.store(0, Ordering::SeqCst);
    let status = status.map_err(|e| {
        fail(
            exit_code::NO_EDITOR_FOUND,
            format!("Could not run editor: {e}"),
        )
    })?;
    if !status.success() {
        return Err(fail(
            exit_code::NO_EDITOR_FOUND,
            format!("Could not run editor: {status}"),
        ));
    }
    Ok(())
}

fn stdin_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(0) == 1 }
}

/// What the editor's content turned into.
struct Edited {
    documents: Vec<Document>,
    metadata: Option<Metadata>,
}

/// Why edited content cannot be encrypted: what sops logs, and the exit code we use when we
/// cannot return to the editor.
struct Invalid {
    message: String,
    code: i32,
}

impl Invalid {
    fn syntax(e: impl std::fmt::Display) -> Invalid {
        Invalid {
            message: format!("Could not load tree, probably due to invalid syntax: {e}"),
            code: exit_code::COULD_NOT_READ_INPUT_FILE,
        }
    }
}

impl From<String> for Invalid {
    fn from(message: String) -> Invalid {
        Invalid {
            message,
            code: exit_code::COULD_NOT_READ_INPUT_FILE,
        }
    }
}

impl From<&str> for Invalid {
    fn from(message: &str) -> Invalid {
        message.to_string().into()
    }
}

/// Parses edited plaintext, refusing what sops 3.13 refuses to encrypt (PR 2098): no document
/// at all, or a top-level `sops` entry (`sops_` keys in flat formats).
fn plain_for_encryption(bytes: &[u8], format: Format) -> Result<Vec<Document>, Invalid> {
    let not_valid = |e: sops_core::Error, code| Invalid {
        message: format!("Tree not valid for encryption: {e}"),
        code,
    };
    match file::parse_plain(bytes, format) {
        Ok(docs) if docs.is_empty() => Err(not_valid(
            sops_core::format::FormatError::EmptyYaml.into(),
            exit_code::NEED_AT_LEAST_ONE_DOCUMENT,
        )),
        Ok(docs) => Ok(docs),
        Err(e @ sops_core::Error::Format(sops_core::format::FormatError::EmptyYaml)) => {
            Err(not_valid(e, exit_code::NEED_AT_LEAST_ONE_DOCUMENT))
        }
        Err(e @ sops_core::Error::AlreadyEncrypted) => {
            Err(not_valid(e, exit_code::FILE_ALREADY_ENCRYPTED))
        }
        Err(e) => Err(Invalid::syntax(e)),
    }
}

/// Runs the editor until the content parses. Unchanged content is exit code 200. Invalid
/// content is offered back to the editor when stdin is a terminal, and is an error otherwise.
fn edit_until_valid(
    scratch: &Scratch,
    original: &[u8],
    parse: &dyn Fn(&[u8]) -> Result<Edited, Invalid>,
) -> Result<Edited> {
    loop {
        run_editor(&scratch.file)?;
        let edited = fs::read(&scratch.file).map_err(|e| {
            fail(
                exit_code::COULD_NOT_READ_INPUT_FILE,
                format!("Could not read edited file: {e}"),
            )
        })?;
        if edited == original {
            return Err(fail(
                exit_code::FILE_HAS_NOT_BEEN_MODIFIED,
                "File has not changed, exiting.",
            ));
        }
        let invalid = match parse(&edited) {
            Ok(e) => return Ok(e),
            Err(invalid) => invalid,
        };
        let gave_up = || {
            fail(
                invalid.code,
                format!("{}; the file was left unchanged", invalid.message),
            )
        };
        if !stdin_is_terminal() {
            return Err(gave_up());
        }
        eprintln!("{}", invalid.message);
        eprintln!("Press enter to return to the editor, or Ctrl+C to exit.");
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
            return Err(gave_up());
        }
    }
}

/// `a` is a newer `major.minor.patch` than `b` (unparsable parts count as 0).
fn is_newer(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> {
        v.split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parse(a) > parse(b)
}

/// Edits (or creates) `file`.
pub fn run(args: CommonArgs, file: String, show_master_keys: bool) -> Result<()> {
    let inv = Invocation::new_maybe_missing(args, Some(file))?;
    let path = inv.input.clone().unwrap_or_default();
    install_signal_cleanup();
    if path.exists() {
        edit_existing(&inv, &path, show_master_keys)
    } else {
        create_new(&inv, &path)
    }
}

fn edit_existing(inv: &Invocation, path: &Path, show_master_keys: bool) -> Result<()> {
    let mut decrypted = load::open(inv)?;
    let format = inv.output_format;
    let emit = &inv.emit;
    let text = if show_master_keys {
        let mut docs = decrypted.documents.clone();
        decrypted.metadata.insert(&mut docs, format);
        format.codec().emit_plain(&docs, emit)
    } else {
        format.codec().emit_plain(&decrypted.documents, emit)
    }
    .map_err(|e| {
        fail(
            exit_code::ERROR_DUMPING_TREE,
            format!("Could not marshal tree: {e}"),
        )
    })?;
    let scratch = Scratch::new(path, &text)?;
    let parse = |bytes: &[u8]| -> Result<Edited, Invalid> {
        if show_master_keys {
            let mut docs = format
                .codec()
                .parse_encrypted(bytes)
                .map_err(Invalid::syntax)?;
            let md = Metadata::extract(&mut docs, format.metadata_layout())
                .map_err(|e| format!("SOPS metadata is invalid: {e}"))?;
            if md.key_groups.iter().all(|g| g.is_empty()) {
                return Err("No master keys were provided, so sops can't encrypt the file".into());
            }
            Ok(Edited {
                documents: docs,
                metadata: Some(md),
            })
        } else {
            let docs = plain_for_encryption(bytes, format)?;
            Ok(Edited {
                documents: docs,
                metadata: None,
            })
        }
    };
    let edited = edit_until_valid(&scratch, &text, &parse)?;
    drop(scratch);
    decrypted.documents = edited.documents;
    if let Some(md) = edited.metadata {
        decrypted.metadata = md;
    }
    if is_newer(metadata::WRITER_VERSION, &decrypted.metadata.version) {
        decrypted.metadata.version = metadata::WRITER_VERSION.to_string();
    }
    let out = load::seal(inv, decrypted)?;
    load::write_back(inv, &out)
}

/// The example content sops offers for a new file.
fn example(format: Format) -> Vec<Document> {
    let mut m = Map::new();
    if format == Format::Binary {
        m.push(
            "data",
            Node::str("Welcome to SOPS! Edit this file as you please!\n"),
        );
        return vec![m];
    }
    m.push(
        "hello",
        Node::str("Welcome to SOPS! Edit this file as you please!"),
    );
    m.push("example_key", Node::str("example_value"));
    if matches!(format, Format::Dotenv | Format::Ini) {
        if format == Format::Ini {
            let mut doc = Map::new();
            doc.push("example", Node::Map(m));
            return vec![doc];
        }
        return vec![m];
    }
    if matches!(format, Format::Yaml | Format::Toml) {
        m.push_comment(" Example comment");
    }
    let mut arr = Seq::new();
    arr.push(Node::str("example_value1"));
    arr.push(Node::str("example_value2"));
    m.push("example_array", Node::Seq(arr));
    m.push("example_number", Node::Scalar(Scalar::Float(1234.56789)));
    let mut bools = Seq::new();
    bools.push(Node::Scalar(Scalar::Bool(true)));
    bools.push(Node::Scalar(Scalar::Bool(false)));
    m.push("example_booleans", Node::Seq(bools));
    vec![m]
}

fn create_new(inv: &Invocation, path: &Path) -> Result<()> {
    // The keys come from the flags or the creation rules, checked before the editor opens.
    let opts = encrypt::options(inv)?;
    let format = inv.input_format;
    // sops writes the example through the output store; one that cannot hold it (a binary
    // or dotenv output for a nested example) fails before the editor opens.
    let text = file::emit_plain(&example(format), inv.output_format, &EmitOptions::default())
        .map_err(|e| {
            fail(
                exit_code::ERROR_DUMPING_TREE,
                format!("Could not marshal tree: {e}"),
            )
        })?;
    let scratch = Scratch::new(path, &text)?;
    let parse = |bytes: &[u8]| -> Result<Edited, Invalid> {
        let docs = plain_for_encryption(bytes, format)?;
        Ok(Edited {
            documents: docs,
            metadata: None,
        })
    };
    let edited = edit_until_valid(&scratch, &text, &parse)?;
    drop(scratch);
    let encrypted = EncryptedFile::encrypt(edited.documents, &opts)
        .with_context(|| format!("Error encrypting {}", inv.display_name))?;
    let out = load::emit(inv, &encrypted)?;
    load::write_back(inv, &out)
}
