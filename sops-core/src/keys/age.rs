//! age keys: X25519 (`age1...`) and SSH (`ssh-ed25519`, `ssh-rsa`) recipients, and the
//! identities sops looks for.
//!
//! The data key is stored as an ASCII-armored age file whose plaintext is the raw key bytes.
//! Identities come, as in sops 3.13, from `SOPS_AGE_KEY` (several keys separated by spaces or
//! newlines), `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, the user config dir's
//! `sops/age/keys.txt`, and SSH private keys (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
//! `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`).
//!
//! The two commands run once per age recipient being decrypted, with `SOPS_AGE_RECIPIENT` set
//! to that entry's recipient in their environment (sops PRs 2045 and 2070: sops loads the
//! identities again for every age key it tries and passes that key's `recipient`).

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use zeroize::Zeroizing;

use super::{KeyError, Recipient, Unwrapper};
use crate::metadata::StoredKey;

/// An age recipient: where to wrap the data key.
pub struct AgeRecipient {
    text: String,
    inner: Box<dyn age::Recipient + Send + Sync>,
}

impl AgeRecipient {
    /// Parses an `age1...` X25519 recipient or an SSH public key line.
    pub fn parse(text: &str) -> Result<AgeRecipient, KeyError> {
        let text = text.trim();
        let err = |reason: &str| KeyError::Parse {
            kind: "age",
            value: text.to_string(),
            reason: reason.to_string(),
        };
        let inner: Box<dyn age::Recipient + Send + Sync> = if text.starts_with("ssh-") {
            Box::new(
                age::ssh::Recipient::from_str(text)
                    .map_err(|_| err("not a supported SSH public key (ssh-ed25519 or ssh-rsa)"))?,
            )
        } else {
            Box::new(age::x25519::Recipient::from_str(text).map_err(err)?)
        };
        Ok(AgeRecipient {
            text: text.to_string(),
            inner,
        })
    }

    /// Parses a comma-separated list of recipients (as `--age` and `SOPS_AGE_RECIPIENTS` take).
    pub fn parse_list(list: &str) -> Result<Vec<AgeRecipient>, KeyError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(AgeRecipient::parse)
            .collect()
    }

    /// The recipient as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Recipient for AgeRecipient {
    fn wrap(&self, secret: &[u8]) -> Result<StoredKey, KeyError> {
        let fail = |reason: String| KeyError::Wrap {
            key: self.describe(),
            reason,
        };
        let encryptor = age::Encryptor::with_recipients(std::iter::once(
            self.inner.as_ref() as &dyn age::Recipient
        ))
        .map_err(|e| fail(e.to_string()))?;
        let mut out = Vec::new();
        let armor = ArmoredWriter::wrap_output(&mut out, ArmorFormat::AsciiArmor)
            .map_err(|e| fail(e.to_string()))?;
        let mut writer = encryptor
            .wrap_output(armor)
            .map_err(|e| fail(e.to_string()))?;
        writer.write_all(secret).map_err(|e| fail(e.to_string()))?;
        writer
            .finish()
            .and_then(|armor| armor.finish())
            .map_err(|e| fail(e.to_string()))?;
        let mut enc = String::from_utf8(out).map_err(|e| fail(e.to_string()))?;
        if !enc.ends_with('\n') {
            enc.push('\n');
        }
        Ok(StoredKey::Age {
            recipient: self.text.clone(),
            enc,
        })
    }

    fn describe(&self) -> String {
        format!("age recipient {}", self.text)
    }
}

/// The environment variable the key commands get, naming the recipient being decrypted.
pub const RECIPIENT_ENV: &str = "SOPS_AGE_RECIPIENT";

/// The age identities available to this process, loaded on first use.
#[derive(Default)]
pub struct AgeIdentities {
    loaded: OnceLock<Loaded>,
    /// Whether `SOPS_AGE_KEY_CMD` / `SOPS_AGE_SSH_PRIVATE_KEY_CMD` are run (from the
    /// environment only, never for identities given as text).
    from_env: bool,
    /// What the key commands gave, per recipient they were run for.
    per_recipient: Mutex<HashMap<String, Arc<Loaded>>>,
}

struct Loaded {
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// Problems met while loading (unreadable files, failing commands), secret-free.
    problems: Vec<String>,
    /// Where we looked.
    searched: Vec<String>,
}

impl std::fmt::Debug for AgeIdentities {
    /// Shows how many identities are loaded, never the keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.loaded.get() {
            Some(l) => write!(f, "AgeIdentities(<{} redacted>)", l.identities.len()),
            None => f.write_str("AgeIdentities(<not loaded>)"),
        }
    }
}

impl AgeIdentities {
    /// Identities from the environment, read lazily the first time a key is tried.
    pub fn from_env() -> AgeIdentities {
        AgeIdentities {
            from_env: true,
            ..AgeIdentities::default()
        }
    }

    /// Identities from the given identity file text (for library users and tests).
    pub fn from_text(text: &str) -> Result<AgeIdentities, KeyError> {
        let mut problems = Vec::new();
        let identities = parse_identity_text(text, "the given identities", false, &mut problems);
        if let Some(p) = problems.first() {
            return Err(KeyError::Unwrap(p.clone()));
        }
        let this = AgeIdentities::default();
        let _ = this.loaded.set(Loaded {
            identities,
            problems,
            searched: Vec::new(),
        });
        Ok(this)
    }

    fn get(&self) -> &Loaded {
        self.loaded.get_or_init(|| {
            if self.from_env {
                load_from_env()
            } else {
                Loaded {
                    identities: Vec::new(),
                    problems: Vec::new(),
                    searched: Vec::new(),
                }
            }
        })
    }

    /// What the key commands give for `recipient` (run once per recipient).
    fn for_recipient(&self, recipient: &str) -> Option<Arc<Loaded>> {
        if !self.from_env {
            return None;
        }
        let mut cache = self
            .per_recipient
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(
            cache
                .entry(recipient.to_string())
                .or_insert_with(|| Arc::new(load_commands(recipient)))
                .clone(),
        )
    }
}

impl Unwrapper for AgeIdentities {
    fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
        let StoredKey::Age { enc, recipient } = key else {
            return None;
        };
        let loaded = self.get();
        let commands = self.for_recipient(recipient);
        let parts = std::iter::once(loaded).chain(commands.as_deref());
        let identities: Vec<&dyn age::Identity> = parts
            .clone()
            .flat_map(|l| {
                l.identities
                    .iter()
                    .map(|i| i.as_ref() as &dyn age::Identity)
            })
            .collect();
        let problems: Vec<&String> = parts.clone().flat_map(|l| l.problems.iter()).collect();
        if identities.is_empty() {
            let searched: Vec<&String> = parts.flat_map(|l| l.searched.iter()).collect();
            let mut msg = String::from("no age identity found");
            if !searched.is_empty() {
                let list: Vec<&str> = searched.iter().map(|s| s.as_str()).collect();
                msg.push_str(&format!(" (looked in: {})", list.join(", ")));
            }
            for p in &problems {
                msg.push_str(&format!("; {p}"));
            }
            return Some(Err(KeyError::Unwrap(msg)));
        }
        Some(
            decrypt_armored(enc.as_bytes(), &identities).map_err(|reason| {
                let mut msg = reason;
                for p in &problems {
                    msg.push_str(&format!("; {p}"));
                }
                KeyError::Unwrap(msg)
            }),
        )
    }
}

fn decrypt_armored(
    enc: &[u8],
    identities: &[&dyn age::Identity],
) -> Result<Zeroizing<Vec<u8>>, String> {
    let reader = ArmoredReader::new(BufReader::new(enc));
    let decryptor = age::Decryptor::new(reader)
        .map_err(|e| format!("failed to read the age-encrypted data key: {e}"))?;
    let mut stream = decryptor
        .decrypt(identities.iter().copied())
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => {
                "no age identity matched any of the recipients".to_string()
            }
            other => format!("failed to decrypt the data key with age: {other}"),
        })?;
    let mut out = Zeroizing::new(Vec::with_capacity(64));
    stream
        .read_to_end(&mut out)
        .map_err(|e| format!("failed to read the decrypted data key: {e}"))?;
    Ok(out)
}

/// Parses identity-file text: `AGE-SECRET-KEY-...` lines, `#` comments and blank lines. With
/// `words`, every whitespace-separated word of a line is a key (how sops 3.13 reads
/// `SOPS_AGE_KEY`, PR 2086).
fn parse_identity_text(
    text: &str,
    location: &str,
    words: bool,
    problems: &mut Vec<String>,
) -> Vec<Box<dyn age::Identity + Send + Sync>> {
    let mut out: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let keys: Vec<&str> = if words {
            line.split_whitespace().collect()
        } else {
            vec![line]
        };
        for key in keys {
            match age::x25519::Identity::from_str(key) {
                Ok(id) => out.push(Box::new(id)),
                // Never echo the key: it may be a secret key with a typo.
                Err(_) => problems.push(format!(
                    "{location}: line {} is not a valid age identity",
                    n + 1
                )),
            }
        }
    }
    out
}

fn parse_ssh_identity(
    path: &Path,
    problems: &mut Vec<String>,
) -> Option<Box<dyn age::Identity + Send + Sync>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            problems.push(format!("failed to open SSH key {}: {e}", path.display()));
            return None;
        }
    };
    let name = path.display().to_string();
    parse_ssh_buffer(
        BufReader::new(file),
        &format!("SSH key {name}"),
        Some(name),
        problems,
    )
}

/// Parses an unencrypted SSH private key; `what` names its origin in messages.
fn parse_ssh_buffer(
    reader: impl std::io::BufRead,
    what: &str,
    filename: Option<String>,
    problems: &mut Vec<String>,
) -> Option<Box<dyn age::Identity + Send + Sync>> {
    match age::ssh::Identity::from_buffer(reader, filename) {
        Ok(age::ssh::Identity::Unencrypted(id)) => {
            Some(Box::new(age::ssh::Identity::Unencrypted(id)))
        }
        Ok(age::ssh::Identity::Encrypted(_)) => {
            problems.push(format!(
                "{what} is passphrase-protected, which is not supported"
            ));
            None
        }
        Ok(age::ssh::Identity::Unsupported(_)) => {
            problems.push(format!("{what} has an unsupported type"));
            None
        }
        Err(e) => {
            problems.push(format!("failed to parse {what}: {e}"));
            None
        }
    }
}

/// The user config dir as Go's `os.UserConfigDir` finds it on Unix.
fn user_config_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".config")),
    }
}

fn load_from_env() -> Loaded {
    let mut identities: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
    let mut problems = Vec::new();
    let mut searched = Vec::new();

    // SSH keys first, as sops does (SOPS_AGE_SSH_PRIVATE_KEY_CMD runs per recipient).
    if let Some(path) = std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
        identities.extend(parse_ssh_identity(Path::new(&path), &mut problems));
    } else {
        searched.push("SOPS_AGE_SSH_PRIVATE_KEY_FILE".into());
    }
    if std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_CMD").is_none() {
        searched.push("SOPS_AGE_SSH_PRIVATE_KEY_CMD".into());
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        for name in ["id_ed25519", "id_rsa"] {
            let path = PathBuf::from(&home).join(".ssh").join(name);
            if path.exists() {
                identities.extend(parse_ssh_identity(&path, &mut problems));
            } else {
                searched.push(path.display().to_string());
            }
        }
    }

    let mut readers_found = false;
    if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
        readers_found = true;
        let text = Zeroizing::new(text);
        identities.extend(parse_identity_text(
            &text,
            "SOPS_AGE_KEY",
            true,
            &mut problems,
        ));
    } else {
        searched.push("SOPS_AGE_KEY".into());
    }
    if let Some(path) = std::env::var_os("SOPS_AGE_KEY_FILE") {
        readers_found = true;
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                identities.extend(parse_identity_text(
                    &text,
                    "SOPS_AGE_KEY_FILE",
                    false,
                    &mut problems,
                ));
            }
            Err(e) => problems.push(format!(
                "failed to open SOPS_AGE_KEY_FILE file {}: {e}",
                Path::new(&path).display()
            )),
        }
    } else {
        searched.push("SOPS_AGE_KEY_FILE".into());
    }
    if std::env::var_os("SOPS_AGE_KEY_CMD").is_some() {
        // Run per recipient, see `load_commands`.
        readers_found = true;
    } else {
        searched.push("SOPS_AGE_KEY_CMD".into());
    }
    if let Some(dir) = user_config_dir() {
        let path = dir.join("sops").join("age").join("keys.txt");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                identities.extend(parse_identity_text(
                    &text,
                    &path.display().to_string(),
                    false,
                    &mut problems,
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !readers_found {
                    searched.push(path.display().to_string());
                }
            }
            Err(e) => problems.push(format!("failed to open file {}: {e}", path.display())),
        }
    }
    Loaded {
        identities,
        problems,
        searched,
    }
}

/// Runs the key commands (`SOPS_AGE_SSH_PRIVATE_KEY_CMD`, then `SOPS_AGE_KEY_CMD`) that are
/// set, with `SOPS_AGE_RECIPIENT` set to the recipient being decrypted.
fn load_commands(recipient: &str) -> Loaded {
    let mut identities: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
    let mut problems = Vec::new();
    const SSH_CMD: &str = "SOPS_AGE_SSH_PRIVATE_KEY_CMD";
    if let Ok(cmd) = std::env::var(SSH_CMD) {
        match run_key_command(&cmd, SSH_CMD, recipient) {
            Ok(text) => identities.extend(parse_ssh_buffer(
                text.as_bytes(),
                &format!("the SSH key printed by {SSH_CMD}"),
                None,
                &mut problems,
            )),
            Err(e) => problems.push(e),
        }
    }
    const KEY_CMD: &str = "SOPS_AGE_KEY_CMD";
    if let Ok(cmd) = std::env::var(KEY_CMD) {
        match run_key_command(&cmd, KEY_CMD, recipient) {
            Ok(text) => {
                identities.extend(parse_identity_text(&text, KEY_CMD, false, &mut problems))
            }
            Err(e) => problems.push(e),
        }
    }
    Loaded {
        identities,
        problems,
        searched: Vec::new(),
    }
}

/// Runs the command in `var` (split into words like a shell would, no shell involved) with
/// `SOPS_AGE_RECIPIENT=recipient` added to the environment, and returns its standard output.
fn run_key_command(cmd: &str, var: &str, recipient: &str) -> Result<Zeroizing<String>, String> {
    let args =
        split_words(cmd).ok_or_else(|| format!("failed to parse command {cmd:?} from {var}"))?;
    let Some((program, rest)) = args.split_first() else {
        return Err(format!("{var} is empty"));
    };
    let output = std::process::Command::new(program)
        .args(rest)
        .env(RECIPIENT_ENV, recipient)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("failed to execute command {cmd:?} from {var}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "failed to execute command {cmd:?} from {var}: {}",
            output.status
        ));
    }
    String::from_utf8(output.stdout)
        .map(Zeroizing::new)
        .map_err(|_| format!("{var} printed invalid UTF-8"))
}

/// Splits a command line into words with POSIX-shell quoting rules (quotes and backslashes).
pub(crate) fn split_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        ch => current.push(ch),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let next = chars.next()?;
                            if !matches!(next, '"' | '\\' | '$' | '`') {
                                current.push('\\');
                            }
                            current.push(next);
                        }
                        ch => current.push(ch),
                    }
                }
            }
            '\\' => {
                in_word = true;
                current.push(chars.next()?);
            }
            ch => {
                in_word = true;
                current.push(ch);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    const KEY: &str = "AGE-SECRET-KEY-1CYZPQWE442GN9FNH3LDYNR0QATR7JS73EFZJLCLPH3GNUYEML84SPPNAJK";
    const RECIPIENT: &str = "age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx";

    #[test]
    fn wrap_and_unwrap() {
        let r = AgeRecipient::parse(RECIPIENT).unwrap();
        let stored = r.wrap(&[9u8; 32]).unwrap();
        let StoredKey::Age { enc, recipient } = &stored else {
            panic!()
        };
        assert_eq!(recipient, RECIPIENT);
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        let ids = AgeIdentities::from_text(KEY).unwrap();
        assert_eq!(&ids.unwrap(&stored).unwrap().unwrap()[..], &[9u8; 32]);
    }

    #[test]
    fn bad_identity_is_not_echoed() {
        let err = AgeIdentities::from_text("AGE-SECRET-KEY-1SECRETTYPO")
            .err()
            .unwrap();
        assert!(!err.to_string().contains("SECRETTYPO"));
    }

    /// sops 3.13 (PR 2086) reads several keys per line from `SOPS_AGE_KEY`, separated by any
    /// whitespace; key files and command output keep one key per line.
    #[test]
    fn several_keys_per_line_in_sops_age_key() {
        let other = age::x25519::Identity::generate();
        let other_text = other.to_string();
        let text = format!(
            "# comment\n{KEY} \t {}\n\n{KEY}\n",
            other_text.expose_secret()
        );
        let mut problems = Vec::new();
        let ids = parse_identity_text(&text, "SOPS_AGE_KEY", true, &mut problems);
        assert_eq!(ids.len(), 3);
        assert!(problems.is_empty(), "{problems:?}");
        let ids = parse_identity_text(&text, "SOPS_AGE_KEY_FILE", false, &mut problems);
        assert_eq!(ids.len(), 1);
        assert_eq!(
            problems,
            ["SOPS_AGE_KEY_FILE: line 2 is not a valid age identity"]
        );
        // The second key of a line opens a file for it.
        let mut problems = Vec::new();
        let ids = parse_identity_text(&text, "SOPS_AGE_KEY", true, &mut problems);
        let r = AgeRecipient::parse(&other.to_public().to_string()).unwrap();
        let stored = r.wrap(&[3u8; 32]).unwrap();
        let StoredKey::Age { enc, .. } = &stored else {
            panic!()
        };
        let refs: Vec<&dyn age::Identity> = ids.iter().map(|i| i.as_ref() as _).collect();
        assert_eq!(
            &decrypt_armored(enc.as_bytes(), &refs).unwrap()[..],
            &[3u8; 32]
        );
    }

    #[test]
    fn splits_words() {
        assert_eq!(
            split_words(r#"cat "a b" 'c d' e\ f"#).unwrap(),
            ["cat", "a b", "c d", "e f"]
        );
        assert!(split_words("'open").is_none());
    }
}
