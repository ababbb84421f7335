//! One module per command, plus what they share: where input comes from, which formats
//! apply, where output goes, and which keys are available.

mod check;
mod completion;
mod decrypt;
mod edit;
mod encrypt;
mod exec;
mod filestatus;
mod groups;
#[cfg(feature = "keyservice")]
mod keyservice;
mod load;
mod merge_driver;
#[cfg(feature = "publish")]
mod publish;
mod recursive;
mod rotate;
mod set;
mod textconv;
mod updatekeys;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sops_core::error::exit_code;
use sops_core::format::{EmitOptions, Format, WriteError};

use sops_core::config::{self, Config};

use crate::cli::{Cli, Command, CommonArgs, KeyChangeArgs};
use crate::exit::fail;

/// Runs the command the command line asks for.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        // As sops (3.11 to 3.13.2), checked before the config is read: stdin needs a file name
        // for the creation rules, even with --input-type.
        Some(Command::Encrypt(c))
            if c.file.is_none() && !c.common.in_place && c.common.filename_override.is_none() =>
        {
            Err(fail(
                exit_code::ERROR_CONFLICTING_PARAMETERS,
                "Error: must specify --filename-override when reading from stdin",
            ))
        }
        Some(Command::Encrypt(c)) => match c.keep_ciphertext_from {
            Some(old) => encrypt::run_keeping(&Invocation::new(c.common, c.file)?, &old),
            None => encrypt::run(&Invocation::new(c.common, c.file)?),
        },
        Some(Command::Decrypt(c)) => decrypt::run(&Invocation::new(c.common, c.file)?),
        Some(Command::Filestatus(c)) => {
            filestatus::run(&Invocation::new_maybe_missing(c.common, c.file)?)
        }
        Some(Command::Edit(c)) => {
            edit::run(c.common, c.file.unwrap_or_default(), c.show_master_keys)
        }
        Some(Command::Rotate(c)) if c.recursive => rotate::run_recursive(c),
        Some(Command::Rotate(c)) => {
            refuse_in_place_with_output(&c.common)?;
            if let Some(file) = c.files.first() {
                refuse_key_changes_on_missing_file(
                    file,
                    &c.key_changes,
                    "use the `edit` subcommand instead",
                )?;
            }
            rotate::run(
                &Invocation::new_maybe_missing(c.common, c.files.into_iter().next())?,
                &c.key_changes,
            )
        }
        Some(Command::MergeDriver(c)) => merge_driver::run(c),
        Some(Command::Textconv(c)) => textconv::run(c),
        Some(Command::Check(c)) => check::run(c),
        #[cfg(feature = "keyservice")]
        Some(Command::Keyservice(c)) => keyservice::run(c),
        #[cfg(not(feature = "keyservice"))]
        Some(Command::Keyservice(_)) => Err(fail(
            exit_code::ERROR_GENERIC,
            "Error running keyservice: this sops was built without the keyservice feature",
        )),
        Some(Command::Set(c)) => set::run_set(c),
        Some(Command::Unset(c)) => set::run_unset(c),
        Some(Command::Updatekeys(c)) => updatekeys::run(c),
        Some(Command::ExecEnv(c)) => exec::run_env(c),
        Some(Command::ExecFile(c)) => exec::run_file(c),
        Some(Command::Groups(c)) => groups::run(c),
        #[cfg(feature = "publish")]
        Some(Command::Publish(c)) => publish::run(c),
        #[cfg(not(feature = "publish"))]
        Some(Command::Publish(_)) => Err(fail(
            exit_code::ERROR_GENERIC,
            "Error: this sops was built without the publish feature",
        )),
        Some(Command::Completion(c)) => completion::run_completion(c.shell),
        Some(Command::Man { dir }) => completion::run_man(dir.as_deref()),
        None => {
            if cli.file.is_none() {
                return Err(fail(
                    exit_code::NO_FILE_SPECIFIED,
                    "Error: no file specified (see sops --help; use `sops encrypt` or `sops decrypt` to read stdin)",
                ));
            }
            // sops's order: this conflict, then key changes on a missing file.
            refuse_in_place_with_output(&cli.common)?;
            refuse_key_changes_on_missing_file(
                cli.file.as_deref().unwrap_or_default(),
                &cli.key_changes,
                "use `--kms` and `--pgp` instead",
            )?;
            let modes = [cli.encrypt, cli.decrypt, cli.rotate, cli.set.is_some()];
            if modes.iter().filter(|b| **b).count() > 1 {
                return several_modes(cli);
            }
            if !cli.encrypt && !cli.decrypt && !cli.rotate && cli.set.is_none() {
                // The bare `sops FILE` edits (or creates) the file.
                let file = cli.file.unwrap_or_default();
                return edit::run(cli.common, file, cli.show_master_keys);
            }
            let inv = Invocation::new(cli.common, cli.file)?;
            if cli.encrypt {
                encrypt::run(&inv)
            } else if cli.decrypt {
                decrypt::run(&inv)
            } else if cli.rotate {
                rotate::run(&inv, &cli.key_changes)
            } else {
                set::run_legacy_set(&inv, cli.set.as_deref().unwrap_or_default())
            }
        }
    }
}

/// `--in-place` with a non-empty `--output` (exit 8), as sops checks it.
fn refuse_in_place_with_output(args: &CommonArgs) -> Result<()> {
    if args.in_place && args.output.as_deref().is_some_and(|o| !o.is_empty()) {
        return Err(fail(
            exit_code::ERROR_CONFLICTING_PARAMETERS,
            "Error: cannot operate on both --output and --in-place",
        ));
    }
    Ok(())
}

/// sops refuses `--add-*`/`--rm-*` on a file that does not exist (exit 49), before anything
/// else; `hint` is what its two spellings of the message suggest.
fn refuse_key_changes_on_missing_file(
    file: &str,
    changes: &KeyChangeArgs,
    hint: &str,
) -> Result<()> {
    let path = std::path::Path::new(file);
    if path.exists() || !changes.any() {
        return Ok(());
    }
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    Err(fail(
        exit_code::CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE,
        format!(
            "Error: cannot add or remove keys on non-existent file {:?}, {hint}.",
            abs.display().to_string()
        ),
    ))
}

/// Several of `--encrypt`, `--decrypt`, `--rotate` and `--set` at once. sops warns, runs each
/// in that order on the same input and keeps the last one's output; an `--encrypt` failure
/// is ignored when another mode follows, a `--decrypt` or `--set` failure fails the command
/// at the end, a `--rotate` failure at once. The output goes where the last mode's would.
fn several_modes(cli: Cli) -> Result<()> {
    eprintln!(
        "[CMD]\t level=warning msg=\"More than one command (--encrypt, --decrypt, --rotate, --set) has been specified. Only the changes made by the last one will be visible. Note that this behavior is deprecated and will cause an error eventually.\""
    );
    let mut inv = Invocation::new(cli.common, cli.file)?;
    inv.captured = Some(std::cell::RefCell::new(None));
    let followed = |later: &[bool]| later.iter().any(|b| *b);
    let set = cli.set.is_some();
    let mut failure = None;
    if cli.encrypt {
        encrypt::config_options(&inv)?;
        if let Err(e) = encrypt::run(&inv) {
            if !followed(&[cli.decrypt, cli.rotate, set]) {
                return Err(e);
            }
        }
    }
    if cli.decrypt {
        if let Err(e) = decrypt::run(&inv) {
            take_captured(&inv);
            failure = Some(e);
        }
    }
    if cli.rotate {
        rotate::run(&inv, &cli.key_changes)?;
    }
    if let Some(arg) = cli.set.as_deref() {
        if let Err(e) = set::run_legacy_set(&inv, arg) {
            take_captured(&inv);
            failure = Some(e);
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let output = take_captured(&inv).unwrap_or_default();
    if set {
        inv.args.in_place = true;
    }
    inv.captured = None;
    inv.write_output(&output)
}

fn take_captured(inv: &Invocation) -> Option<Vec<u8>> {
    inv.captured.as_ref().and_then(|c| c.borrow_mut().take())
}

/// What one run works on: the input, its formats, and where the output goes.
pub struct Invocation {
    /// The flags.
    pub args: CommonArgs,
    /// The input file, or `None` for stdin.
    pub input: Option<PathBuf>,
    /// The name used in messages.
    pub display_name: String,
    /// Format of the input.
    pub input_format: Format,
    /// Format of the output.
    pub output_format: Format,
    /// Emission options (`--indent`, else the config's `stores` indentation).
    pub emit: EmitOptions,
    /// The `.sops.yaml` in effect (`--config` / `SOPS_CONFIG`, else found upwards from the
    /// working directory), if any.
    pub config: Option<Config>,
    /// The absolute path creation rules are matched against (`--filename-override` or the
    /// input file).
    pub rule_path: PathBuf,
    /// sops's error for a negative `--indent` the output format cannot take, reported when
    /// the output is written (where sops's store fails).
    pub bad_indent: Option<&'static str>,
    /// When set, output is kept here instead of written (several flag-style modes at once).
    pub captured: Option<std::cell::RefCell<Option<Vec<u8>>>>,
    /// Set by `decrypt`: the output is plaintext, which a binary file writes as raw bytes
    /// (no JSON, so no indentation to refuse).
    pub plaintext_output: std::cell::Cell<bool>,
}

impl Invocation {
    fn new(args: CommonArgs, file: Option<String>) -> Result<Invocation> {
        Invocation::build(args, file, true)
    }

    /// Like `new`, for commands that may create the file (`edit`).
    fn new_maybe_missing(args: CommonArgs, file: Option<String>) -> Result<Invocation> {
        Invocation::build(args, file, false)
    }

    fn build(mut args: CommonArgs, file: Option<String>, must_exist: bool) -> Result<Invocation> {
        // sops treats an empty `--output ""` as no `--output` (stdout).
        if args.output.as_deref() == Some("") {
            args.output = None;
        }
        // As sops, `-` is a file name like any other; stdin is read when no file is given.
        // An empty name is the working directory (Go's `filepath.Abs("")`).
        let input = file.map(|f| match f.as_str() {
            "" => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            _ => PathBuf::from(f),
        });
        if args.in_place && input.is_none() {
            return Err(fail(
                exit_code::ERROR_CONFLICTING_PARAMETERS,
                "Error: cannot use --in-place when reading from stdin",
            ));
        }
        refuse_in_place_with_output(&args)?;
        if let Some(path) = input.as_ref().filter(|_| must_exist) {
            if !path.exists() {
                let abs = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                return Err(fail(
                    exit_code::NO_FILE_SPECIFIED,
                    format!(
                        "Error: cannot operate on non-existent file {:?}",
                        abs.display().to_string()
                    ),
                ));
            }
        }
        let naming = args
            .filename_override
            .clone()
            .map(PathBuf::from)
            .or_else(|| input.clone())
            .unwrap_or_default();
        let config = load_config(&args)?;
        let rule_path = sops_core::config::absolute(&naming);
        let named = Format::from_path(&naming);
        let explicit_input = args.input_type.as_deref().and_then(Format::from_name);
        // `.toml` files are binary files for sops: see `load::toml_form`.
        let toml = (named == Format::Toml || explicit_input == Some(Format::Toml)).then(|| {
            load::toml_form(
                input.as_deref(),
                explicit_input == Some(Format::Toml),
                config.as_ref(),
                &rule_path,
            )
        });
        let by_name = match toml {
            Some(form) if named == Format::Toml => form,
            _ => named,
        };
        let input_format = match (explicit_input, toml) {
            (Some(Format::Toml), Some(form)) => form,
            (Some(format), _) => format,
            (None, _) => by_name,
        };
        let output_format = args
            .output_type
            .as_deref()
            .and_then(Format::from_name)
            .unwrap_or(by_name);
        let display_name = input
            .as_ref()
            .map_or_else(|| "stdin".to_string(), |p| p.display().to_string());
        let (indent, bad_indent) = match args.indent {
            Some(n) if n >= 0 => (Some(n as usize), None),
            Some(n) => (None, negative_indent_error(n, output_format)),
            None => (
                config
                    .as_ref()
                    .and_then(|c| c.stores.indent_for(output_format)),
                None,
            ),
        };
        let emit = EmitOptions { indent };
        Ok(Invocation {
            args,
            input,
            display_name,
            input_format,
            output_format,
            emit,
            config,
            rule_path,
            bad_indent,
            captured: None,
            plaintext_output: std::cell::Cell::new(false),
        })
    }

    /// Fails as sops's store does when `--indent` was negative for this output format.
    pub fn check_indent(&self) -> Result<()> {
        if self.output_format == Format::Binary && self.plaintext_output.get() {
            return Ok(());
        }
        match self.bad_indent {
            Some(message) => Err(fail(
                exit_code::ERROR_DUMPING_TREE,
                format!("Error dumping file: {message}"),
            )),
            None => Ok(()),
        }
    }

    /// Reads the whole input.
    pub fn read_input(&self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        match &self.input {
            Some(path) => {
                bytes = std::fs::read(path).map_err(|e| {
                    let reason = match e.kind() {
                        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                        _ => e.to_string(),
                    };
                    fail(
                        exit_code::COULD_NOT_READ_INPUT_FILE,
                        format!("Error reading file: open {}: {reason}", path.display()),
                    )
                })?;
            }
            None => {
                std::io::stdin().read_to_end(&mut bytes).map_err(|e| {
                    fail(
                        exit_code::COULD_NOT_READ_INPUT_FILE,
                        format!("Error reading from stdin: {e}"),
                    )
                })?;
            }
        }
        Ok(bytes)
    }

    /// Writes the result to stdout, `--output`, or back over the input with `-i`; files are
    /// replaced atomically.
    pub fn write_output(&self, bytes: &[u8]) -> Result<()> {
        self.write_output_with(|out| out.write_all(bytes).map_err(WriteError::Io))
    }

    /// Like [`Invocation::write_output`], with the bytes written while `emit` produces them
    /// (a large file's output is never in memory whole). Nothing is written, and no temp file
    /// created, when `emit` fails before its first byte, as format errors do.
    pub fn write_output_with(
        &self,
        emit: impl FnOnce(&mut dyn Write) -> Result<(), WriteError>,
    ) -> Result<()> {
        self.check_indent()?;
        let dump_error = |e: sops_core::format::FormatError| {
            anyhow::Error::new(sops_core::Error::from(e)).context(format!(
                "Error dumping file as {}",
                self.output_format.name()
            ))
        };
        if let Some(captured) = &self.captured {
            let mut bytes = Vec::new();
            return match emit(&mut bytes) {
                Ok(()) => {
                    *captured.borrow_mut() = Some(bytes);
                    Ok(())
                }
                Err(WriteError::Format(e)) => Err(dump_error(e)),
                Err(WriteError::Io(e)) => Err(e).context("Could not write the output"),
            };
        }
        let target: Option<&Path> = if self.args.in_place {
            self.input.as_deref()
        } else {
            self.args.output.as_deref().map(Path::new)
        };
        let dump_error = |e: sops_core::format::FormatError| {
            anyhow::Error::new(sops_core::Error::from(e)).context(format!(
                "Error dumping file as {}",
                self.output_format.name()
            ))
        };
        match target {
            Some(path) => {
                let write_error = |e: std::io::Error| {
                    fail(
                        exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
                        format!("Could not write output file {}: {e}", path.display()),
                    )
                };
                let mut w = sops_core::atomic::AtomicWriter::new(path);
                match emit(&mut w) {
                    Ok(()) => w.commit().map_err(write_error),
                    Err(WriteError::Format(e)) => Err(dump_error(e)),
                    Err(WriteError::Io(e)) => Err(write_error(e)),
                }
            }
            None => {
                let mut out = std::io::stdout().lock();
                match emit(&mut out) {
                    Ok(()) => out.flush().context("Could not write to stdout"),
                    Err(WriteError::Format(e)) => Err(dump_error(e)),
                    Err(WriteError::Io(e)) => Err(e).context("Could not write to stdout"),
                }
            }
        }
    }

    /// Logs a line on stderr when `--verbose` is set.
    pub fn log(&self, message: &str) {
        if self.args.verbose {
            eprintln!("[SOPS]\t level=info msg={message:?}");
        }
    }
}

/// Loads the config file as sops does: the one `--config` / `SOPS_CONFIG` names (which must
/// exist), else the first `.sops.yaml` upwards from the working directory (none is fine).
fn load_config(args: &CommonArgs) -> Result<Option<Config>> {
    let path = match args.config.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            let found = config::lookup_config_file(Path::new("."));
            if let Some(warning) = &found.warning {
                eprintln!("[CMD]\t level=warning msg={warning:?}");
            }
            match found.path {
                Some(p) => p,
                None => return Ok(None),
            }
        }
    };
    match Config::load(&path) {
        Ok(c) => Ok(Some(c)),
        Err(e) => Err(fail(e.exit_code(), e.to_string())),
    }
}

/// sops's stores on a negative indentation: YAML refuses any, JSON takes -1 as its default
/// (a tab) and refuses the rest; the other formats have no indentation.
fn negative_indent_error(indent: i64, output: Format) -> Option<&'static str> {
    match output {
        Format::Yaml => Some("YAML Negative indentation not accepted"),
        // A binary file's encrypted form is JSON (sops's JSONBinary store).
        Format::Json | Format::Binary if indent < -1 => Some(
            "Error marshaling to json: JSON Indentation parameter smaller than -1 is not accepted",
        ),
        _ => None,
    }
}
