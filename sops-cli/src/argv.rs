//! sops's command-line grammar, applied to argv before clap sees it.
//!
//! sops parses its command line with urfave/cli v1 on top of Go's `flag` package, whose rules
//! differ from clap's: `-output` is the same flag as `--output`; a repeated flag takes its last
//! value (lists append); booleans take `--flag=false`; options before a subcommand are the
//! application's global options; a subcommand moves its own flags that follow positional
//! arguments to the front (urfave's `reorderArgs`), while the flag style (`sops -d FILE`) stops
//! at the first positional argument. This module parses argv with those rules, against the
//! flags sops 3.13.2 defines for each command, and hands clap one canonical argv
//! (`--name=value`, each flag once, then `--` and the positional arguments). Usage errors get
//! sops's messages and exit codes. It does not know what the flags mean: clap and the
//! commands do.

use std::ffi::OsString;

use sops_core::error::exit_code;

/// How a flag takes its value (the Go flag type it has in sops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `BoolFlag`: bare means true; `=false`/`=true` (Go's `strconv.ParseBool`).
    Bool,
    /// `BoolTFlag`: like `Bool` but true by default, with an environment variable.
    BoolTrue(&'static str),
    /// `StringFlag`: the last value wins.
    Text,
    /// `IntFlag`: the last value wins; must be an integer.
    Int,
    /// `StringSliceFlag`: every value counts.
    List,
}

/// One flag: its names (the first is the canonical long name clap knows) and its kind.
#[derive(Debug)]
struct Flag {
    names: &'static [&'static str],
    kind: Kind,
}

const fn flag(names: &'static [&'static str], kind: Kind) -> Flag {
    Flag { names, kind }
}

use Kind::{Bool, Int, List, Text};

/// `--help, -h`, which urfave adds to the application and to every command.
const HELP: Flag = flag(&["help", "h"], Bool);
/// `--version, -v`, the application's.
const VERSION: Flag = flag(&["version", "v"], Bool);

/// The key service flags most commands have.
const KEYSERVICE: &[Flag] = &[
    flag(
        &["enable-local-keyservice"],
        Kind::BoolTrue("SOPS_ENABLE_LOCAL_KEYSERVICE"),
    ),
    flag(&["keyservice"], List),
];

/// The global options (sops's `app.Flags`), which also drive the flag style (`sops -d F`).
const APP: &[Flag] = &[
    flag(&["decrypt", "d"], Bool),
    flag(&["encrypt", "e"], Bool),
    flag(&["rotate", "r"], Bool),
    flag(&["disable-version-check"], Bool),
    flag(&["check-for-updates"], Bool),
    flag(&["kms", "k"], Text),
    flag(&["aws-profile"], Text),
    flag(&["gcp-kms"], Text),
    flag(&["hckms"], Text),
    flag(&["azure-kv"], Text),
    flag(&["hc-vault-transit"], Text),
    flag(&["pgp", "p"], Text),
    flag(&["age", "a"], Text),
    flag(&["in-place", "i"], Bool),
    flag(&["extract"], Text),
    flag(&["input-type"], Text),
    flag(&["output-type"], Text),
    flag(&["show-master-keys", "s"], Bool),
    flag(&["add-gcp-kms"], Text),
    flag(&["rm-gcp-kms"], Text),
    flag(&["add-hckms"], Text),
    flag(&["rm-hckms"], Text),
    flag(&["add-azure-kv"], Text),
    flag(&["rm-azure-kv"], Text),
    flag(&["add-kms"], Text),
    flag(&["rm-kms"], Text),
    flag(&["add-hc-vault-transit"], Text),
    flag(&["rm-hc-vault-transit"], Text),
    flag(&["add-age"], Text),
    flag(&["rm-age"], Text),
    flag(&["add-pgp"], Text),
    flag(&["rm-pgp"], Text),
    flag(&["ignore-mac"], Bool),
    flag(&["mac-only-encrypted"], Bool),
    flag(&["unencrypted-suffix"], Text),
    flag(&["encrypted-suffix"], Text),
    flag(&["unencrypted-regex"], Text),
    flag(&["encrypted-regex"], Text),
    flag(&["unencrypted-comment-regex"], Text),
    flag(&["encrypted-comment-regex"], Text),
    flag(&["config"], Text),
    flag(&["encryption-context"], Text),
    flag(&["set"], Text),
    flag(&["shamir-secret-sharing-threshold"], Int),
    flag(&["indent"], Int),
    flag(&["verbose"], Bool),
    flag(&["output"], Text),
    flag(&["filename-override"], Text),
    flag(&["decryption-order"], Text),
];

/// The global options a subcommand takes into account when they come before it (sops 3.13.2
/// reads them with `GlobalString`/`GlobalInt`/`GlobalBool`); sops ignores the others there.
/// `--mac-only-encrypted` matters only where a new file is encrypted.
const GLOBAL_FOR_COMMANDS: &[(&str, &[&str])] = &[
    ("config", &[]),
    ("indent", &[]),
    ("mac-only-encrypted", &["encrypt", "edit"]),
];

/// Flags we accept after every subcommand beyond sops's own, because we apply them there:
/// sops's global `--config` and `--indent`, and `--verbose`.
const EXTENSIONS: &[Flag] = &[
    flag(&["config"], Text),
    flag(&["indent"], Int),
    flag(&["verbose"], Bool),
];

const ENCRYPT: &[Flag] = &[
    flag(&["in-place", "i"], Bool),
    flag(&["output"], Text),
    flag(&["kms", "k"], Text),
    flag(&["aws-profile"], Text),
    flag(&["gcp-kms"], Text),
    flag(&["hckms"], Text),
    flag(&["azure-kv"], Text),
    flag(&["hc-vault-transit"], Text),
    flag(&["pgp", "p"], Text),
    flag(&["age", "a"], Text),
    flag(&["input-type"], Text),
    flag(&["output-type"], Text),
    flag(&["unencrypted-suffix"], Text),
    flag(&["encrypted-suffix"], Text),
    flag(&["unencrypted-regex"], Text),
    flag(&["encrypted-regex"], Text),
    flag(&["encryption-context"], Text),
    flag(&["shamir-secret-sharing-threshold"], Int),
    flag(&["filename-override"], Text),
];

const DECRYPT: &[Flag] = &[
    flag(&["in-place", "i"], Bool),
    flag(&["extract"], Text),
    flag(&["output"], Text),
    flag(&["input-type"], Text),
    flag(&["output-type"], Text),
    flag(&["ignore-mac"], Bool),
    flag(&["filename-override"], Text),
    flag(&["decryption-order"], Text),
];

const ROTATE: &[Flag] = &[
    flag(&["in-place", "i"], Bool),
    flag(&["output"], Text),
    flag(&["input-type"], Text),
    flag(&["output-type"], Text),
    flag(&["encryption-context"], Text),
    flag(&["add-gcp-kms"], Text),
    flag(&["rm-gcp-kms"], Text),
    flag(&["add-hckms"], Text),
    flag(&["rm-hckms"], Text),
    flag(&["add-azure-kv"], Text),
    flag(&["rm-azure-kv"], Text),
    flag(&["add-kms"], Text),
    flag(&["rm-kms"], Text),
    flag(&["add-hc-vault-transit"], Text),
    flag(&["rm-hc-vault-transit"], Text),
    flag(&["add-age"], Text),
    flag(&["rm-age"], Text),
    flag(&["add-pgp"], Text),
    flag(&["rm-pgp"], Text),
    flag(&["filename-override"], Text),
    flag(&["decryption-order"], Text),
];

const EDIT: &[Flag] = &[
    flag(&["kms", "k"], Text),
    flag(&["aws-profile"], Text),
    flag(&["gcp-kms"], Text),
    flag(&["hckms"], Text),
    flag(&["azure-kv"], Text),
    flag(&["hc-vault-transit"], Text),
    flag(&["pgp", "p"], Text),
    flag(&["age", "a"], Text),
    flag(&["input-type"], Text),
    flag(&["output-type"], Text),
    flag(&["unencrypted-suffix"], Text),
    flag(&["encrypted-suffix"], Text),
    flag(&["unencrypted-regex"], Text),
    flag(&["encrypted-regex"], Text),
    flag(&["encryption-context"], Text),
    flag(&["shamir-secret-sharing-threshold"], Int),
    flag(&["show-master-keys", "s"], Bool),
    flag(&["ignore-mac"], Bool),
    flag(&["decryption-order"], Text),
];

const SET: &[Flag] = &[
    flag(&["input-type"], Text),
    flag(&["output-type"], Text),
    flag(&["value-file"], Bool),
    flag(&["value-stdin"], Bool),
    flag(&["shamir-secret-sharing-threshold"], Int),
    flag(&["ignore-mac"], Bool),
    flag(&["decryption-order"], Text),
    flag(&["idempotent"], Bool),
];

const UNSET: &[Flag] = &[
    flag(&["input-type"], Text),
    flag(&["output-type"], Text),
    flag(&["shamir-secret-sharing-threshold"], Int),
    flag(&["ignore-mac"], Bool),
    flag(&["decryption-order"], Text),
    flag(&["idempotent"], Bool),
];

const UPDATEKEYS: &[Flag] = &[flag(&["yes", "y"], Bool), flag(&["input-type"], Text)];

const EXEC_ENV: &[Flag] = &[
    flag(&["background"], Bool),
    flag(&["pristine"], Bool),
    flag(&["user"], Text),
    flag(&["same-process"], Bool),
    flag(&["decryption-order"], Text),
];

const EXEC_FILE: &[Flag] = &[
    flag(&["background"], Bool),
    flag(&["no-fifo"], Bool),
    flag(&["user"], Text),
    flag(&["input-type"], Text),
    flag(&["output-type"], Text),
    flag(&["filename"], Text),
    flag(&["decryption-order"], Text),
];

const FILESTATUS: &[Flag] = &[flag(&["input-type"], Text)];

const GROUPS_ADD: &[Flag] = &[
    flag(&["file", "f"], Text),
    flag(&["pgp"], List),
    flag(&["kms"], List),
    flag(&["aws-profile"], Text),
    flag(&["gcp-kms"], List),
    flag(&["hckms"], List),
    flag(&["azure-kv"], List),
    flag(&["hc-vault-transit"], List),
    flag(&["age"], List),
    flag(&["in-place", "i"], Bool),
    flag(&["shamir-secret-sharing-threshold"], Int),
    flag(&["encryption-context"], Text),
];

const GROUPS_DELETE: &[Flag] = &[
    flag(&["file", "f"], Text),
    flag(&["in-place", "i"], Bool),
    flag(&["shamir-secret-sharing-threshold"], Int),
];

/// Our own `groups` extensions (sops reads the file by its extension and tries keys in the
/// default order there).
const GROUPS_EXTENSIONS: &[Flag] = &[
    flag(&["input-type"], Text),
    flag(&["output-type"], Text),
    flag(&["decryption-order"], Text),
];

/// Our own flags on sops's commands (issue 17: git workflows).
const ENCRYPT_EXTENSIONS: &[Flag] = &[flag(&["keep-ciphertext-from"], Text)];
const UPDATEKEYS_EXTENSIONS: &[Flag] = &[flag(&["recursive", "r"], Bool)];
const ROTATE_EXTENSIONS: &[Flag] = &[flag(&["recursive", "r"], Bool), flag(&["yes", "y"], Bool)];

/// Our own commands (sops has none of them): git's merge driver and textconv, and the
/// repository check.
const MERGE_DRIVER: &[Flag] = &[
    flag(&["input-type"], Text),
    flag(&["ignore-mac"], Bool),
    flag(&["decryption-order"], Text),
];

const TEXTCONV: &[Flag] = &[
    flag(&["input-type"], Text),
    flag(&["ignore-mac"], Bool),
    flag(&["decryption-order"], Text),
];

const CHECK: &[Flag] = &[flag(&["format"], Text)];

/// `sops keyservice`.
const KEYSERVICE_SERVER: &[Flag] = &[
    flag(&["network", "net"], Text),
    flag(&["address", "addr"], Text),
    flag(&["prompt"], Bool),
    flag(&["verbose"], Bool),
];

/// `sops publish` (its `--verbose` is in `EXTENSIONS`).
const PUBLISH: &[Flag] = &[
    flag(&["yes", "y"], Bool),
    flag(&["omit-extensions"], Bool),
    flag(&["recursive"], Bool),
    flag(&["decryption-order"], Text),
];

/// A command: its words on the command line and its flag tables.
struct Command {
    words: &'static [&'static str],
    tables: &'static [&'static [Flag]],
}

const COMMANDS: &[Command] = &[
    Command {
        words: &["encrypt"],
        tables: &[ENCRYPT, KEYSERVICE, EXTENSIONS, ENCRYPT_EXTENSIONS],
    },
    Command {
        words: &["decrypt"],
        tables: &[DECRYPT, KEYSERVICE, EXTENSIONS],
    },
    Command {
        words: &["rotate"],
        tables: &[ROTATE, KEYSERVICE, EXTENSIONS, ROTATE_EXTENSIONS],
    },
    Command {
        words: &["edit"],
        tables: &[EDIT, KEYSERVICE, EXTENSIONS],
    },
    Command {
        words: &["set"],
        tables: &[SET, KEYSERVICE, EXTENSIONS],
    },
    Command {
        words: &["unset"],
        tables: &[UNSET, KEYSERVICE, EXTENSIONS],
    },
    Command {
        words: &["updatekeys"],
        tables: &[UPDATEKEYS, KEYSERVICE, EXTENSIONS, UPDATEKEYS_EXTENSIONS],
    },
    Command {
        words: &["exec-env"],
        tables: &[EXEC_ENV, KEYSERVICE, EXTENSIONS],
    },
    Command {
        words: &["exec-file"],
        tables: &[EXEC_FILE, KEYSERVICE, EXTENSIONS],
    },
    Command {
        words: &["merge-driver"],
        tables: &[MERGE_DRIVER, KEYSERVICE, EXTENSIONS],
    },
    Command {
        words: &["textconv"],
        tables: &[TEXTCONV, KEYSERVICE, EXTENSIONS],
    },
    Command {
        words: &["check"],
        tables: &[CHECK, EXTENSIONS],
    },
    Command {
        words: &["keyservice"],
        tables: &[KEYSERVICE_SERVER],
    },
    Command {
        words: &["publish"],
        tables: &[PUBLISH, KEYSERVICE, EXTENSIONS],
    },
    Command {
        words: &["filestatus"],
        tables: &[FILESTATUS, EXTENSIONS],
    },
    Command {
        words: &["groups", "add"],
        tables: &[GROUPS_ADD, KEYSERVICE, GROUPS_EXTENSIONS, EXTENSIONS],
    },
    Command {
        words: &["groups", "delete"],
        tables: &[GROUPS_DELETE, KEYSERVICE, GROUPS_EXTENSIONS, EXTENSIONS],
    },
];

/// A command line sops refuses: the message for stderr and the exit code.
#[derive(Debug, PartialEq, Eq)]
pub struct Usage {
    /// sops's exit code for it.
    pub code: i32,
    /// What is wrong.
    pub message: String,
}

fn usage(code: i32, message: impl Into<String>) -> Usage {
    Usage {
        code,
        message: message.into(),
    }
}

fn incorrect(message: impl std::fmt::Display) -> Usage {
    usage(
        exit_code::ERROR_GENERIC,
        format!("Incorrect Usage: {message}"),
    )
}

/// The result of the pre-pass: clap's argv and the warnings sops prints.
#[derive(Debug, PartialEq, Eq)]
pub struct Normalised {
    /// The canonical argv, program name first.
    pub args: Vec<OsString>,
    /// Warnings for stderr (ignored positional arguments).
    pub warnings: Vec<String>,
}

/// The value one flag ended up with.
#[derive(Debug)]
enum Value {
    Bool(bool),
    Text(String),
    List(Vec<String>),
}

/// Flags seen so far, in first-seen order, each with its final value.
#[derive(Debug, Default)]
struct Seen {
    flags: Vec<(&'static Flag, Value)>,
}

impl Seen {
    fn set(&mut self, flag: &'static Flag, value: Value) {
        match self
            .flags
            .iter_mut()
            .find(|(f, _)| f.names[0] == flag.names[0])
        {
            Some((_, Value::List(list))) => {
                if let Value::List(more) = value {
                    list.extend(more);
                }
            }
            Some((_, old)) => *old = value,
            None => self.flags.push((flag, value)),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.flags
            .iter()
            .find(|(f, _)| f.names[0] == name)
            .map(|(_, v)| v)
    }

    fn is_true(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Bool(true)))
    }

    /// The canonical spelling of every flag for clap.
    fn emit(&self, out: &mut Vec<OsString>) {
        for (flag, value) in &self.flags {
            let name = flag.names[0];
            match (flag.kind, value) {
                (_, Value::Bool(false)) if flag.kind == Bool => {}
                (Bool, Value::Bool(true)) => out.push(format!("--{name}").into()),
                (_, Value::Bool(b)) => out.push(format!("--{name}={b}").into()),
                (_, Value::Text(t)) => out.push(format!("--{name}={t}").into()),
                (_, Value::List(list)) => {
                    out.extend(list.iter().map(|v| OsString::from(format!("--{name}={v}"))))
                }
            }
        }
    }
}

fn lookup(tables: &[&'static [Flag]], name: &str) -> Option<&'static Flag> {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .find(|f| f.names.contains(&name))
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The name of a flag argument (`-x`, `--x`, `-x=v`, `--x=v`) and its inline value, or
/// `None` for a positional argument (which includes `-`).
fn split_flag(arg: &str) -> Result<Option<(&str, Option<&str>)>, Usage> {
    if arg.len() < 2 || !arg.starts_with('-') {
        return Ok(None);
    }
    let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
    if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
        return Err(incorrect(format!("bad flag syntax: {arg}")));
    }
    Ok(Some(match body.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (body, None),
    }))
}

/// Parses flags the way Go's `flag.FlagSet.Parse` does, up to the first positional argument
/// (or `--`); returns the index where the positional arguments start.
fn parse_flags(
    args: &[String],
    tables: &[&'static [Flag]],
    seen: &mut Seen,
) -> Result<usize, Usage> {
    let mut spellings: Vec<(&'static Flag, &str)> = Vec::new();
    let end = parse_flag_list(args, tables, seen, &mut spellings)?;
    two_forms(tables, &spellings)?;
    Ok(end)
}

/// urfave's `normalizeFlags`: a flag given under two of its names (`-d` and `--decrypt`) is
/// an error, reported for the first such flag in declaration order as "SECOND FIRST".
fn two_forms(tables: &[&'static [Flag]], spellings: &[(&'static Flag, &str)]) -> Result<(), Usage> {
    for flag in tables.iter().flat_map(|t| t.iter()) {
        let used: Vec<&str> = flag
            .names
            .iter()
            .copied()
            .filter(|name| {
                spellings
                    .iter()
                    .any(|(f, n)| std::ptr::eq(*f, flag) && n == name)
            })
            .collect();
        if let [first, second, ..] = used.as_slice() {
            return Err(incorrect(format!(
                "Cannot use two forms of the same flag: {second} {first}"
            )));
        }
    }
    Ok(())
}

fn parse_flag_list<'a>(
    args: &'a [String],
    tables: &[&'static [Flag]],
    seen: &mut Seen,
    spellings: &mut Vec<(&'static Flag, &'a str)>,
) -> Result<usize, Usage> {
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--" {
            return Ok(i + 1);
        }
        let Some((name, inline)) = split_flag(arg)? else {
            return Ok(i);
        };
        let Some(flag) = lookup(tables, name) else {
            return Err(incorrect(format!("flag provided but not defined: -{name}")));
        };
        spellings.push((flag, name));
        i += 1;
        let value = match flag.kind {
            Bool | Kind::BoolTrue(_) => match inline {
                None => Value::Bool(true),
                Some(text) => Value::Bool(parse_bool(text).ok_or_else(|| {
                    incorrect(format!(
                        "invalid boolean value {text:?} for -{name}: parse error"
                    ))
                })?),
            },
            Text | Int | List => {
                let text = match inline {
                    Some(text) => text.to_string(),
                    None => {
                        let Some(next) = args.get(i) else {
                            return Err(incorrect(format!("flag needs an argument: -{name}")));
                        };
                        i += 1;
                        next.clone()
                    }
                };
                if flag.kind == Int && text.trim_start_matches(['+', '-']).parse::<u64>().is_err() {
                    return Err(incorrect(format!(
                        "invalid value {text:?} for flag -{name}: parse error"
                    )));
                }
                if flag.kind == List {
                    Value::List(vec![text])
                } else {
                    Value::Text(text)
                }
            }
        };
        seen.set(flag, value);
    }
    Ok(i)
}

/// urfave's `reorderArgs`: a command's own flags (with the argument after a flag written
/// without `=`, when it is not itself a flag) move before the other arguments; everything
/// after `--` stays in place.
fn reorder(args: &[String], tables: &[&'static [Flag]]) -> Vec<String> {
    let is_flag = |arg: &str| -> bool {
        if arg == "-" || arg == "--" || !arg.starts_with('-') {
            return false;
        }
        let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        let name = body.split('=').next().unwrap_or("");
        lookup(tables, name).is_some()
    };
    let mut flags = Vec::new();
    let mut rest = Vec::new();
    let mut value_may_follow = false;
    for (i, arg) in args.iter().enumerate() {
        if value_may_follow && !is_flag(arg) {
            value_may_follow = false;
            flags.push(arg.clone());
        } else if arg == "--" {
            rest.insert(0, "--".to_string());
            rest.extend(args[i + 1..].iter().cloned());
            break;
        } else if is_flag(arg) {
            flags.push(arg.clone());
            value_may_follow = !arg.contains('=');
        } else {
            rest.push(arg.clone());
        }
    }
    flags.extend(rest);
    flags
}

/// Resolves `BoolT` flags that were not given from their environment variables (urfave:
/// an empty value is false, an unparsable one an error).
/// urfave's `BoolTFlag` error for an environment value `strconv.ParseBool` refuses.
fn env_bool_error(text: &str, name: &str) -> Usage {
    usage(
        exit_code::ERROR_GENERIC,
        format!(
            "could not parse {text} as bool value for flag {name}: strconv.ParseBool: parsing {text:?}: invalid syntax"
        ),
    )
}

/// urfave applies the application's flags' environment values when it builds the flag set,
/// before anything is parsed: a bad boolean there fails every command line.
fn check_app_env() -> Result<(), Usage> {
    for flag in APP.iter().chain(KEYSERVICE.iter()) {
        let Kind::BoolTrue(var) = flag.kind else {
            continue;
        };
        if let Some(value) = std::env::var_os(var) {
            let text = value.to_string_lossy();
            if !text.is_empty() && parse_bool(&text).is_none() {
                return Err(env_bool_error(&text, flag.names[0]));
            }
        }
    }
    Ok(())
}

fn apply_env_defaults(tables: &[&'static [Flag]], seen: &mut Seen) -> Result<(), Usage> {
    for flag in tables.iter().flat_map(|t| t.iter()) {
        let Kind::BoolTrue(var) = flag.kind else {
            continue;
        };
        if seen.get(flag.names[0]).is_some() {
            continue;
        }
        if let Some(value) = std::env::var_os(var) {
            let text = value.to_string_lossy();
            let b = if text.is_empty() {
                false
            } else {
                parse_bool(&text).ok_or_else(|| env_bool_error(&text, flag.names[0]))?
            };
            seen.set(flag, Value::Bool(b));
        }
    }
    Ok(())
}

fn warn_extra(positionals: &[String], warnings: &mut Vec<String>) {
    if positionals.len() > 1 {
        warnings.push(
            "More than one positional argument provided. Only the first one will be used!"
                .to_string(),
        );
        if let Some(flagish) = positionals[1..].iter().rev().find(|p| p.starts_with('-')) {
            warnings.push(format!("Note that one of the ignored positional argument is {flagish:?}, which looks like a flag. Flags must always be provided before the first positional argument!"));
        }
    }
}

/// Checks the number of positional arguments as the command's action does in sops, and
/// returns the ones to hand on.
fn positionals_for(
    words: &[&str],
    seen: &Seen,
    mut positionals: Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, Usage> {
    let missing = |msg: &str| usage(exit_code::NO_FILE_SPECIFIED, msg);
    match words {
        // Ours: `rotate --recursive DIR...` takes every directory.
        ["rotate"] if seen.is_true("recursive") && positionals.is_empty() => {
            return Err(missing("Error: no directory specified"));
        }
        ["rotate"] if seen.is_true("recursive") => {}
        ["encrypt"] | ["decrypt"] | ["rotate"] | ["edit"] => {
            if positionals.is_empty() && matches!(words, ["rotate"] | ["edit"]) {
                return Err(missing("Error: no file specified"));
            }
            warn_extra(&positionals, warnings);
            positionals.truncate(1);
        }
        // The command reports a missing file itself, after looking for the config file.
        ["publish"] => {
            warn_extra(&positionals, warnings);
            positionals.truncate(1);
        }
        ["filestatus"] => {
            if positionals.is_empty() {
                return Err(missing("Error: no file specified"));
            }
            positionals.truncate(1);
        }
        ["exec-env"] | ["exec-file"] if positionals.len() != 2 => {
            return Err(usage(
                exit_code::ERROR_GENERIC,
                "error: missing file to decrypt",
            ));
        }
        ["set"] => {
            if seen.is_true("value-file") && seen.is_true("value-stdin") {
                // The command reports the conflict first, as sops does.
                positionals.truncate(3);
            } else if seen.is_true("value-stdin") {
                if positionals.len() != 2 {
                    return Err(missing("Error: file specified, or index and value are missing. Need precisely 2 positional arguments since --value-stdin is used."));
                }
            } else if positionals.len() != 3 {
                return Err(missing("Error: no file specified, or index and value are missing. Need precisely 3 positional arguments."));
            }
        }
        ["unset"] if positionals.len() != 2 => {
            return Err(missing("Error: no file specified, or index is missing"));
        }
        ["groups", "add"] if !positionals.is_empty() => {
            return Err(usage(
                exit_code::ERROR_GENERIC,
                "error: no positional arguments allowed",
            ));
        }
        ["groups", "delete"] if positionals.len() != 1 => {
            return Err(usage(
                exit_code::ERROR_GENERIC,
                "error: exactly one positional argument (index) required",
            ));
        }
        _ => {}
    }
    Ok(positionals)
}

/// Turns sops's command line into the canonical one clap parses.
pub fn normalise(argv: Vec<OsString>) -> Result<Normalised, Usage> {
    check_app_env()?;
    let mut iter = argv.into_iter();
    let program = iter.next().unwrap_or_else(|| OsString::from("sops"));
    // Go's flag package works on strings; a non-UTF-8 argument is kept as it is (clap
    // reports it) and only ever seen as a positional argument.
    let raw: Vec<OsString> = iter.collect();
    if raw.iter().any(|a| a.to_str().is_none()) {
        let mut args = vec![program];
        args.extend(raw);
        return Ok(Normalised {
            args,
            warnings: Vec::new(),
        });
    }
    let args: Vec<String> = raw
        .into_iter()
        .map(|a| a.into_string().unwrap_or_default())
        .collect();
    let mut out = vec![program];
    let mut warnings = Vec::new();

    // The application's flags, up to the first positional argument.
    const APP_TABLES: &[&[Flag]] = &[APP, KEYSERVICE, &[HELP, VERSION]];
    let mut global = Seen::default();
    let start = parse_flags(&args, APP_TABLES, &mut global)?;
    if global.is_true("help") {
        out.push("--help".into());
        return Ok(Normalised {
            args: out,
            warnings,
        });
    }
    if global.is_true("version") {
        out.push("--version".into());
        return Ok(Normalised {
            args: out,
            warnings,
        });
    }
    let after_dashdash = start > 0 && args[start - 1] == "--";
    let rest = &args[start..];

    // A subcommand (only as the first positional argument, and not after `--`).
    let first = rest.first().map(String::as_str).filter(|_| !after_dashdash);
    if let Some(word) = first {
        if word == "help" || word == "h" {
            // `sops help [COMMAND...]`
            out.extend(rest[1..].iter().map(OsString::from));
            out.push("--help".into());
            return Ok(Normalised {
                args: out,
                warnings,
            });
        }
        if COMMANDS.iter().any(|c| c.words[0] == word) {
            return subcommand(out, &global, &rest[1..], word, warnings);
        }
        if matches!(word, "completion" | "man") {
            // Ours only; clap parses them as they are.
            out.extend(rest.iter().map(OsString::from));
            return Ok(Normalised {
                args: out,
                warnings,
            });
        }
    }

    // The flag style: `sops [flags] FILE`.
    apply_env_defaults(APP_TABLES, &mut global)?;
    global.emit(&mut out);
    let mut positionals = rest.to_vec();
    warn_extra(&positionals, &mut warnings);
    positionals.truncate(1);
    out.push("--".into());
    out.extend(positionals.into_iter().map(OsString::from));
    Ok(Normalised {
        args: out,
        warnings,
    })
}

fn subcommand(
    mut out: Vec<OsString>,
    global: &Seen,
    rest: &[String],
    word: &str,
    mut warnings: Vec<String>,
) -> Result<Normalised, Usage> {
    // `groups` takes a second word; `sops groups` alone (or with an unknown word) is clap's.
    let (cmd, rest) = match COMMANDS.iter().find(|c| c.words == [word]) {
        Some(cmd) => (cmd, rest),
        None => {
            let second = rest.first().map(String::as_str).unwrap_or("");
            match COMMANDS.iter().find(|c| c.words == [word, second]) {
                Some(cmd) => (cmd, &rest[1..]),
                None => {
                    out.push(word.into());
                    match second {
                        // `sops groups` and its help show the help, as in sops; `help add`
                        // the help of `add`.
                        "" | "h" | "help" | "-h" | "--help" | "-help" => {
                            let topic = rest.get(1).map(String::as_str);
                            if matches!(second, "h" | "help") {
                                if let Some(t) =
                                    topic.filter(|t| COMMANDS.iter().any(|c| c.words == [word, *t]))
                                {
                                    out.push(t.into());
                                }
                            }
                            out.push("--help".into());
                        }
                        flag if flag.starts_with('-') => {
                            let name = flag.trim_start_matches('-');
                            let name = name.split('=').next().unwrap_or(name);
                            return Err(incorrect(format!(
                                "flag provided but not defined: -{name}"
                            )));
                        }
                        // urfave: an unknown word under a command with subcommands.
                        other => {
                            // urfave's own exit code for it (not one of sops's codes).
                            return Err(usage(3, format!("No help topic for '{other}'")));
                        }
                    }
                    return Ok(Normalised {
                        args: out,
                        warnings,
                    });
                }
            }
        }
    };
    out.extend(cmd.words.iter().map(OsString::from));
    let mut tables: Vec<&'static [Flag]> = cmd.tables.to_vec();
    tables.push(std::slice::from_ref(&HELP));
    // Only the command's own flags move before the positional arguments (urfave); our
    // extensions are flags only where sops's parser would stop at them anyway.
    let own: Vec<&'static [Flag]> = tables
        .iter()
        .filter(|t| {
            !t.iter()
                .map(|f| f.names)
                .eq(EXTENSIONS.iter().map(|f| f.names))
        })
        .copied()
        .collect();
    let reordered = reorder(rest, &own);
    let mut seen = Seen::default();
    // The global options sops applies to subcommands, as if given to the subcommand (its own
    // value wins).
    for (flag, value) in &global.flags {
        let applies = GLOBAL_FOR_COMMANDS.iter().any(|(name, only)| {
            *name == flag.names[0] && (only.is_empty() || only.contains(&cmd.words[0]))
        });
        if applies {
            let value = match value {
                Value::Bool(b) => Value::Bool(*b),
                Value::Text(t) => Value::Text(t.clone()),
                Value::List(l) => Value::List(l.clone()),
            };
            seen.set(flag, value);
        }
    }
    let start = parse_flags(&reordered, &tables, &mut seen)?;
    if seen.is_true("help") {
        out.push("--help".into());
        return Ok(Normalised {
            args: out,
            warnings,
        });
    }
    apply_env_defaults(&tables, &mut seen)?;
    let positionals =
        positionals_for(cmd.words, &seen, reordered[start..].to_vec(), &mut warnings)?;
    seen.emit(&mut out);
    out.push("--".into());
    out.extend(positionals.into_iter().map(OsString::from));
    Ok(Normalised {
        args: out,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Result<Vec<String>, Usage> {
        let mut argv = vec![OsString::from("sops")];
        argv.extend(args.iter().map(OsString::from));
        normalise(argv).map(|n| {
            n.args[1..]
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        })
    }

    fn ok(args: &[&str]) -> Vec<String> {
        norm(args).unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
    }

    #[test]
    fn single_dash_long_flags_are_long_flags() {
        assert_eq!(
            ok(&["-output", "o", "-d", "f"]),
            ["--output=o", "--decrypt", "--", "f"]
        );
        assert_eq!(
            ok(&["decrypt", "-extract", "[\"a\"]", "f"]),
            ["decrypt", "--extract=[\"a\"]", "--", "f"]
        );
        assert_eq!(
            ok(&["encrypt", "-age", "A", "-input-type=json", "f"]),
            ["encrypt", "--age=A", "--input-type=json", "--", "f"]
        );
        assert_eq!(ok(&["--d", "f"]), ["--decrypt", "--", "f"]);
    }

    #[test]
    fn the_last_value_wins_and_lists_append() {
        assert_eq!(
            ok(&["decrypt", "--output", "a", "--output", "b", "f"]),
            ["decrypt", "--output=b", "--", "f"]
        );
        assert_eq!(ok(&["-d", "-d", "f"]), ["--decrypt", "--", "f"]);
        assert_eq!(
            ok(&["groups", "add", "--file", "f", "--age", "A", "--age", "B"]),
            ["groups", "add", "--file=f", "--age=A", "--age=B", "--"]
        );
    }

    #[test]
    fn booleans_take_go_values() {
        assert_eq!(
            ok(&["decrypt", "--ignore-mac=false", "f"]),
            ["decrypt", "--", "f"]
        );
        assert_eq!(
            ok(&["decrypt", "--ignore-mac", "--ignore-mac=F", "f"]),
            ["decrypt", "--", "f"]
        );
        assert_eq!(
            ok(&["-d", "--in-place=1", "f"]),
            ["--decrypt", "--in-place", "--", "f"]
        );
        assert_eq!(
            ok(&["decrypt", "--enable-local-keyservice", "f"]),
            ["decrypt", "--enable-local-keyservice=true", "--", "f"]
        );
        assert_eq!(
            ok(&["decrypt", "--enable-local-keyservice=false", "f"]),
            ["decrypt", "--enable-local-keyservice=false", "--", "f"]
        );
        let e = norm(&["decrypt", "--ignore-mac=yes", "f"]).unwrap_err();
        assert_eq!(e.code, 1);
        assert!(e
            .message
            .contains("invalid boolean value \"yes\" for -ignore-mac"));
    }

    #[test]
    fn global_options_before_a_subcommand() {
        assert_eq!(
            ok(&["--config", "c.yaml", "decrypt", "f"]),
            ["decrypt", "--config=c.yaml", "--", "f"]
        );
        // sops ignores the other global options there.
        assert_eq!(ok(&["--verbose", "encrypt", "f"]), ["encrypt", "--", "f"]);
        assert_eq!(
            ok(&["--output", "o", "decrypt", "f"]),
            ["decrypt", "--", "f"]
        );
        // 3.13: --indent and --mac-only-encrypted are read globally.
        assert_eq!(
            ok(&["--indent=4", "--mac-only-encrypted", "encrypt", "f"]),
            ["encrypt", "--indent=4", "--mac-only-encrypted", "--", "f"]
        );
        assert_eq!(
            ok(&["--mac-only-encrypted", "decrypt", "f"]),
            ["decrypt", "--", "f"]
        );
        // The subcommand's own value wins.
        assert_eq!(
            ok(&["--config", "a", "decrypt", "--config", "b", "f"]),
            ["decrypt", "--config=b", "--", "f"]
        );
    }

    #[test]
    fn flags_after_positionals() {
        // A subcommand moves its flags to the front (urfave's reorderArgs) ...
        assert_eq!(
            ok(&["decrypt", "f", "--output", "x"]),
            ["decrypt", "--output=x", "--", "f"]
        );
        // ... but not an unknown one, nor anything after `--`.
        let e = norm(&["set", "f", "[\"a\"]", "1", "--output", "x"]).unwrap_err();
        assert_eq!(e.code, 100);
        assert_eq!(
            ok(&["exec-env", "f", "--", "--pristine"]),
            ["exec-env", "--", "f", "--pristine"]
        );
        // The flag style stops at the first positional argument.
        let n = normalise(
            ["sops", "-d", "f", "--output", "x"]
                .iter()
                .map(OsString::from)
                .collect(),
        )
        .unwrap();
        assert_eq!(n.args.len(), 4);
        assert_eq!(n.warnings.len(), 2);
    }

    #[test]
    fn usage_errors_have_sops_exit_codes() {
        for (args, code) in [
            (&["rotate"][..], 100),
            (&["set", "f"], 100),
            (&["set", "f", "p"], 100),
            (&["set", "--value-stdin", "f", "p", "v"], 100),
            (&["unset", "f"], 100),
            (&["filestatus"], 100),
            (&["edit"], 100),
            (&["exec-env", "f"], 1),
            (&["exec-file", "f", "c", "d"], 1),
            (&["groups", "add", "x"], 1),
            (&["groups", "delete", "--file", "f"], 1),
            (&["decrypt", "--bogus", "f"], 1),
            (&["decrypt", "--output"], 1),
            (&["--indent", "x", "-d", "f"], 1),
            (&["---d", "f"], 1),
            (&["set", "--output", "o", "f", "p", "1"], 1),
        ] {
            assert_eq!(norm(args).unwrap_err().code, code, "{args:?}");
        }
    }

    #[test]
    fn help_and_version() {
        assert_eq!(ok(&["-v"]), ["--version"]);
        assert_eq!(ok(&["--version", "decrypt", "f"]), ["--version"]);
        assert_eq!(ok(&["h"]), ["--help"]);
        assert_eq!(ok(&["help", "decrypt"]), ["decrypt", "--help"]);
        assert_eq!(ok(&["decrypt", "-h"]), ["decrypt", "--help"]);
        assert_eq!(ok(&["groups"]), ["groups", "--help"]);
    }

    #[test]
    fn a_dash_is_a_positional_argument() {
        assert_eq!(ok(&["decrypt", "-"]), ["decrypt", "--", "-"]);
        assert_eq!(ok(&["-d", "--", "-x"]), ["--decrypt", "--", "-x"]);
    }
}
