//! age keys: X25519 (`age1...`) and SSH (`ssh-ed25519`, `ssh-rsa`) recipients, and the
//! identities sops looks for.
//!
//! The data key is stored as an ASCII-armored age file whose plaintext is the raw key bytes.
//! Identities come, as in sops 3.11, from `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`,
//! `SOPS_AGE_KEY_CMD`, the user config dir's `sops/age/keys.txt`, and SSH private keys
//! (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`).

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

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

/// The age identities available to this process, loaded on first use.
#[derive(Default)]
pub struct AgeIdentities {
    loaded: OnceLock<Loaded>,
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
        AgeIdentities::default()
    }

    /// Identities from the given identity file text (for library users and tests).
    pub fn from_text(text: &str) -> Result<AgeIdentities, KeyError> {
        let mut problems = Vec::new();
        let identities = parse_identity_text(text, "the given identities", &mut problems);
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
        self.loaded.get_or_init(load_from_env)
    }
}

impl Unwrapper for AgeIdentities {
    fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
        let StoredKey::Age { enc, .. } = key else {
            return None;
        };
        let loaded = self.get();
        if loaded.identities.is_empty() {
            let mut msg = String::from("no age identity found");
            if !loaded.searched.is_empty() {
                msg.push_str(&format!(" (looked in: {})", loaded.searched.join(", ")));
            }
            for p in &loaded.problems {
                msg.push_str(&format!("; {p}"));
            }
            return Some(Err(KeyError::Unwrap(msg)));
        }
        Some(
            decrypt_armored(enc.as_bytes(), &loaded.identities).map_err(|reason| {
                let mut msg = reason;
                for p in &loaded.problems {
                    msg.push_str(&format!("; {p}"));
                }
                KeyError::Unwrap(msg)
            }),
        )
    }
}

fn decrypt_armored(
    enc: &[u8],
    identities: &[Box<dyn age::Identity + Send + Sync>],
) -> Result<Zeroizing<Vec<u8>>, String> {
    let reader = ArmoredReader::new(BufReader::new(enc));
    let decryptor = age::Decryptor::new(reader)
        .map_err(|e| format!("failed to read the age-encrypted data key: {e}"))?;
    let mut stream = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
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

/// Parses identity-file text: `AGE-SECRET-KEY-...` lines, `#` comments and blank lines.
fn parse_identity_text(
    text: &str,
    location: &str,
    problems: &mut Vec<String>,
) -> Vec<Box<dyn age::Identity + Send + Sync>> {
    let mut out: Vec<Box<dyn age::Identity + Send + Sync>> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match age::x25519::Identity::from_str(line) {
            Ok(id) => out.push(Box::new(id)),
            // Never echo the line: it may be a secret key with a typo.
            Err(_) => problems.push(format!(
                "{location}: line {} is not a valid age identity",
                n + 1
            )),
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
    match age::ssh::Identity::from_buffer(BufReader::new(file), Some(path.display().to_string())) {
        Ok(age::ssh::Identity::Unencrypted(id)) => {
            Some(Box::new(age::ssh::Identity::Unencrypted(id)))
        }
        Ok(age::ssh::Identity::Encrypted(_)) => {
            problems.push(format!(
                "SSH key {} is passphrase-protected, which is not supported",
                path.display()
            ));
            None
        }
        Ok(age::ssh::Identity::Unsupported(_)) => {
            problems.push(format!(
                "SSH key {} has an unsupported type",
                path.display()
            ));
            None
        }
        Err(e) => {
            problems.push(format!("failed to parse SSH key {}: {e}", path.display()));
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

    // SSH keys first, as sops does.
    if let Some(path) = std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
        identities.extend(parse_ssh_identity(Path::new(&path), &mut problems));
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
        identities.extend(parse_identity_text(&text, "SOPS_AGE_KEY", &mut problems));
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
    if let Ok(cmd) = std::env::var("SOPS_AGE_KEY_CMD") {
        readers_found = true;
        match run_key_command(&cmd) {
            Ok(text) => identities.extend(parse_identity_text(
                &text,
                "SOPS_AGE_KEY_CMD",
                &mut problems,
            )),
            Err(e) => problems.push(e),
        }
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

/// Runs `SOPS_AGE_KEY_CMD` (split into words like a shell would, no shell involved) and
/// returns its standard output.
fn run_key_command(cmd: &str) -> Result<Zeroizing<String>, String> {
    let args = split_words(cmd)
        .ok_or_else(|| format!("failed to parse command {cmd:?} from SOPS_AGE_KEY_CMD"))?;
    let Some((program, rest)) = args.split_first() else {
        return Err("SOPS_AGE_KEY_CMD is empty".into());
    };
    let output = std::process::Command::new(program)
        .args(rest)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("failed to execute command {cmd:?} from SOPS_AGE_KEY_CMD: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "failed to execute command {cmd:?} from SOPS_AGE_KEY_CMD: {}",
            output.status
        ));
    }
    String::from_utf8(output.stdout)
        .map(Zeroizing::new)
        .map_err(|_| "SOPS_AGE_KEY_CMD printed invalid UTF-8".to_string())
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

    #[test]
    fn splits_words() {
        assert_eq!(
            split_words(r#"cat "a b" 'c d' e\ f"#).unwrap(),
            ["cat", "a b", "c d", "e f"]
        );
        assert!(split_words("'open").is_none());
    }
}
