//! age keys: X25519 (`age1...`), post-quantum hybrid (`age1pq1...`), plugin (`age1NAME1...`)
//! and SSH (`ssh-ed25519`, `ssh-rsa`) recipients, and the identities sops looks for.
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
//!
//! Identity text holds `AGE-SECRET-KEY-1...` (X25519), `AGE-SECRET-KEY-PQ-1...` (ML-KEM-768 +
//! X25519 hybrid, see [`pq`]) and `AGE-PLUGIN-NAME-1...` (run `age-plugin-NAME` from `PATH`
//! through the age plugin protocol) lines. A source that is itself an age file encrypted with a
//! passphrase (`age -p`, binary or armored) is decrypted with a passphrase read from the
//! terminal the first time one of its identities is needed (sops 3.10 and 3.13).

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use zeroize::Zeroizing;

use super::{KeyError, Recipient, Unwrapper};
use crate::metadata::StoredKey;

pub mod pq;
mod terminal;

pub use pq::{generate_hybrid_key, HybridIdentity, HybridRecipient};
pub use terminal::TerminalCallbacks;

type BoxedIdentity = Box<dyn age::Identity + Send + Sync>;

/// An age recipient: where to wrap the data key.
pub struct AgeRecipient {
    text: String,
    inner: Box<dyn age::Recipient + Send + Sync>,
}

impl AgeRecipient {
    /// Parses an `age1...` X25519, `age1pq1...` post-quantum hybrid or `age1NAME1...` plugin
    /// recipient, or an SSH public key line (the same rules as sops's `parseRecipient`).
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
        } else if text.starts_with("age1pq1") {
            Box::new(HybridRecipient::from_str(text).map_err(err)?)
        } else if text.starts_with("age1") && text.matches('1').count() > 1 {
            // Bech32 data never holds a `1`: a second one ends a plugin name.
            let recipient = age::plugin::Recipient::from_str(text).map_err(err)?;
            let name = recipient.plugin().to_string();
            Box::new(
                age::plugin::RecipientPluginV1::new(&name, &[recipient], &[], TerminalCallbacks)
                    .map_err(|e| err(&format!("age plugin: {}", plain(&e.to_string()))))?,
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
    identities: Vec<BoxedIdentity>,
    /// Problems met while loading (unreadable files, failing commands), secret-free.
    problems: Vec<String>,
    /// Where we looked and found nothing.
    searched: Vec<String>,
    /// Where the identities came from (sources and plugins), for error messages.
    tried: Vec<String>,
}

impl Loaded {
    fn empty() -> Loaded {
        Loaded {
            identities: Vec::new(),
            problems: Vec::new(),
            searched: Vec::new(),
            tried: Vec::new(),
        }
    }

    /// Adds the identities of one source (identity text or a passphrase-protected age file).
    fn add_source(&mut self, data: &[u8], location: &str, words: bool) {
        let before = self.identities.len();
        if is_age_file(data) {
            self.identities.push(Box::new(EncryptedIdentityFile {
                location: location.to_string(),
                contents: Zeroizing::new(data.to_vec()),
                inner: Mutex::new(None),
            }));
            self.tried
                .push(format!("{location} (passphrase-protected)"));
            return;
        }
        match std::str::from_utf8(data) {
            Ok(text) => {
                let ids =
                    parse_identity_text(text, location, words, &mut self.problems, &mut self.tried);
                self.identities.extend(ids);
            }
            Err(_) => self.problems.push(format!(
                "{location}: not an age identity file (invalid UTF-8)"
            )),
        }
        if self.identities.len() > before {
            self.tried.push(location.to_string());
        }
    }
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
        AgeIdentities::from_bytes(text.as_bytes())
    }

    /// Identities from identity file contents: identity text, or an age file encrypted with a
    /// passphrase holding identity text (the passphrase is asked on the terminal when needed).
    pub fn from_bytes(data: &[u8]) -> Result<AgeIdentities, KeyError> {
        let mut loaded = Loaded::empty();
        loaded.add_source(data, "the given identities", false);
        if let Some(p) = loaded.problems.first() {
            return Err(KeyError::Unwrap(p.clone()));
        }
        let this = AgeIdentities::default();
        let _ = this.loaded.set(loaded);
        Ok(this)
    }

    fn get(&self) -> &Loaded {
        self.loaded.get_or_init(|| {
            if self.from_env {
                load_from_env()
            } else {
                Loaded::empty()
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
        let tried: Vec<&str> = parts
            .clone()
            .flat_map(|l| l.tried.iter().map(String::as_str))
            .collect();
        Some(
            decrypt_armored(enc.as_bytes(), &identities).map_err(|reason| {
                let mut msg = reason;
                if !tried.is_empty() {
                    msg.push_str(&format!(" (tried: {})", tried.join(", ")));
                }
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

/// The age crate's message without the Unicode isolation marks its translations put around
/// names, and on one line.
fn plain(msg: &str) -> String {
    msg.replace(['\u{2068}', '\u{2069}'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `data` is an age file (binary or armored): an identity file protected with a
/// passphrase, as sops recognizes it.
fn is_age_file(data: &[u8]) -> bool {
    data.starts_with(b"age-encryption") || data.starts_with(b"-----BEGIN AGE")
}

/// Parses one identity: `AGE-PLUGIN-...`, `AGE-SECRET-KEY-PQ-1...` or `AGE-SECRET-KEY-1...`.
/// The error never contains the key.
fn parse_identity(key: &str, tried: &mut Vec<String>) -> Result<BoxedIdentity, String> {
    if key.starts_with("AGE-PLUGIN-") {
        let id = age::plugin::Identity::from_str(key)
            .map_err(|_| "is not a valid age plugin identity".to_string())?;
        let name = id.plugin().to_string();
        let plugin = age::plugin::IdentityPluginV1::new(&name, &[id], TerminalCallbacks)
            .map_err(|e| format!("needs an age plugin: {}", plain(&e.to_string())))?;
        let what = format!("plugin age-plugin-{name}");
        if !tried.contains(&what) {
            tried.push(what);
        }
        Ok(Box::new(plugin))
    } else if key.starts_with("AGE-SECRET-KEY-PQ-1") {
        HybridIdentity::from_str(key)
            .map(|id| Box::new(id) as BoxedIdentity)
            .map_err(|_| "is not a valid age post-quantum identity".to_string())
    } else {
        age::x25519::Identity::from_str(key)
            .map(|id| Box::new(id) as BoxedIdentity)
            .map_err(|_| "is not a valid age identity".to_string())
    }
}

/// Parses identity-file text: identity lines (see [`parse_identity`]), `#` comments and blank
/// lines. With `words`, every whitespace-separated word of a line is a key (how sops 3.13 reads
/// `SOPS_AGE_KEY`, PR 2086).
fn parse_identity_text(
    text: &str,
    location: &str,
    words: bool,
    problems: &mut Vec<String>,
    tried: &mut Vec<String>,
) -> Vec<BoxedIdentity> {
    let mut out: Vec<BoxedIdentity> = Vec::new();
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
            match parse_identity(key, tried) {
                Ok(id) => out.push(id),
                // Never echo the key: it may be a secret key with a typo.
                Err(reason) => problems.push(format!("{location}: line {} {reason}", n + 1)),
            }
        }
    }
    out
}

/// An identity file that is itself age-encrypted with a passphrase. The passphrase is read
/// from the terminal the first time a stanza needs one of its identities; the identities it
/// holds are kept for the rest of the process.
struct EncryptedIdentityFile {
    /// Where the file came from (its path or the variable), for the prompt and errors.
    location: String,
    contents: Zeroizing<Vec<u8>>,
    inner: Mutex<Option<Vec<BoxedIdentity>>>,
}

impl EncryptedIdentityFile {
    fn fail(msg: String) -> age::DecryptError {
        age::DecryptError::Io(std::io::Error::other(msg))
    }

    fn decrypt(&self) -> Result<Vec<BoxedIdentity>, age::DecryptError> {
        let location = &self.location;
        let reader = ArmoredReader::new(BufReader::new(&self.contents[..]));
        let decryptor = age::Decryptor::new_buffered(reader)
            .map_err(|e| Self::fail(format!("failed to read age identity file {location}: {e}")))?;
        if !decryptor.is_scrypt() {
            return Err(Self::fail(format!(
                "age identity file {location} is encrypted, but not with a passphrase"
            )));
        }
        let passphrase =
            terminal::read_secret(&format!("Enter passphrase for identity '{location}':"))
                .map_err(|e| {
                    Self::fail(format!(
                        "could not read the passphrase for age identity file {location} \
                         from the terminal: {e}"
                    ))
                })?;
        let mut identity = age::scrypt::Identity::new(passphrase);
        // As Go age (and so sops): accept work factors up to 2^22 whatever this machine's
        // speed (age's own limit is an estimate of 16 seconds here, too low for debug builds).
        identity.set_max_work_factor(22);
        let mut stream = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::DecryptionFailed
                | age::DecryptError::KeyDecryptionFailed
                | age::DecryptError::NoMatchingKeys => Self::fail(format!(
                    "incorrect passphrase for age identity file {location}"
                )),
                other => Self::fail(format!(
                    "failed to decrypt age identity file {location}: {other}"
                )),
            })?;
        let mut text = Zeroizing::new(Vec::new());
        stream.read_to_end(&mut text).map_err(|e| {
            Self::fail(format!(
                "failed to decrypt age identity file {location}: {e}"
            ))
        })?;
        let text = std::str::from_utf8(&text).map_err(|_| {
            Self::fail(format!(
                "age identity file {location} does not hold identity text"
            ))
        })?;
        let mut problems = Vec::new();
        let ids = parse_identity_text(text, location, false, &mut problems, &mut Vec::new());
        if let Some(p) = problems.into_iter().next() {
            return Err(Self::fail(p));
        }
        Ok(ids)
    }
}

impl age::Identity for EncryptedIdentityFile {
    fn unwrap_stanza(
        &self,
        stanza: &age_core::format::Stanza,
    ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    fn unwrap_stanzas(
        &self,
        stanzas: &[age_core::format::Stanza],
    ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if inner.is_none() {
            match self.decrypt() {
                Ok(ids) => *inner = Some(ids),
                Err(e) => return Some(Err(e)),
            }
        }
        inner
            .as_ref()?
            .iter()
            .find_map(|id| id.unwrap_stanzas(stanzas))
    }
}

fn parse_ssh_identity(path: &Path, problems: &mut Vec<String>) -> Option<BoxedIdentity> {
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
) -> Option<BoxedIdentity> {
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
    let mut l = Loaded::empty();

    // SSH keys first, as sops does (SOPS_AGE_SSH_PRIVATE_KEY_CMD runs per recipient).
    if let Some(path) = std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
        add_ssh_identity(&mut l, Path::new(&path));
    } else {
        l.searched.push("SOPS_AGE_SSH_PRIVATE_KEY_FILE".into());
    }
    if std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_CMD").is_none() {
        l.searched.push("SOPS_AGE_SSH_PRIVATE_KEY_CMD".into());
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        for name in ["id_ed25519", "id_rsa"] {
            let path = PathBuf::from(&home).join(".ssh").join(name);
            if path.exists() {
                add_ssh_identity(&mut l, &path);
            } else {
                l.searched.push(path.display().to_string());
            }
        }
    }

    let mut readers_found = false;
    if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
        readers_found = true;
        let text = Zeroizing::new(text);
        l.add_source(text.as_bytes(), "SOPS_AGE_KEY", true);
    } else {
        l.searched.push("SOPS_AGE_KEY".into());
    }
    if let Some(path) = std::env::var_os("SOPS_AGE_KEY_FILE") {
        readers_found = true;
        let path = Path::new(&path);
        match std::fs::read(path) {
            Ok(data) => {
                let data = Zeroizing::new(data);
                l.add_source(
                    &data,
                    &format!("SOPS_AGE_KEY_FILE {}", path.display()),
                    false,
                );
            }
            Err(e) => l.problems.push(format!(
                "failed to open SOPS_AGE_KEY_FILE file {}: {e}",
                path.display()
            )),
        }
    } else {
        l.searched.push("SOPS_AGE_KEY_FILE".into());
    }
    if std::env::var_os("SOPS_AGE_KEY_CMD").is_some() {
        // Run per recipient, see `load_commands`.
        readers_found = true;
    } else {
        l.searched.push("SOPS_AGE_KEY_CMD".into());
    }
    if let Some(dir) = user_config_dir() {
        let path = dir.join("sops").join("age").join("keys.txt");
        match std::fs::read(&path) {
            Ok(data) => {
                let data = Zeroizing::new(data);
                l.add_source(&data, &path.display().to_string(), false);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !readers_found {
                    l.searched.push(path.display().to_string());
                }
            }
            Err(e) => l
                .problems
                .push(format!("failed to open file {}: {e}", path.display())),
        }
    }
    l
}

fn add_ssh_identity(l: &mut Loaded, path: &Path) {
    if let Some(id) = parse_ssh_identity(path, &mut l.problems) {
        l.identities.push(id);
        l.tried.push(format!("SSH key {}", path.display()));
    }
}

/// Runs the key commands (`SOPS_AGE_SSH_PRIVATE_KEY_CMD`, then `SOPS_AGE_KEY_CMD`) that are
/// set, with `SOPS_AGE_RECIPIENT` set to the recipient being decrypted.
fn load_commands(recipient: &str) -> Loaded {
    let mut l = Loaded::empty();
    const SSH_CMD: &str = "SOPS_AGE_SSH_PRIVATE_KEY_CMD";
    if let Ok(cmd) = std::env::var(SSH_CMD) {
        match run_key_command(&cmd, SSH_CMD, recipient) {
            Ok(out) => {
                if let Some(id) = parse_ssh_buffer(
                    &out[..],
                    &format!("the SSH key printed by {SSH_CMD}"),
                    None,
                    &mut l.problems,
                ) {
                    l.identities.push(id);
                    l.tried.push(SSH_CMD.to_string());
                }
            }
            Err(e) => l.problems.push(e),
        }
    }
    const KEY_CMD: &str = "SOPS_AGE_KEY_CMD";
    if let Ok(cmd) = std::env::var(KEY_CMD) {
        match run_key_command(&cmd, KEY_CMD, recipient) {
            Ok(out) => l.add_source(&out, KEY_CMD, false),
            Err(e) => l.problems.push(e),
        }
    }
    l
}

/// Runs the command in `var` (split into words like a shell would, no shell involved) with
/// `SOPS_AGE_RECIPIENT=recipient` added to the environment, and returns its standard output.
fn run_key_command(cmd: &str, var: &str, recipient: &str) -> Result<Zeroizing<Vec<u8>>, String> {
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
    Ok(Zeroizing::new(output.stdout))
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
        let ids = parse_identity_text(&text, "SOPS_AGE_KEY", true, &mut problems, &mut Vec::new());
        assert_eq!(ids.len(), 3);
        assert!(problems.is_empty(), "{problems:?}");
        let ids = parse_identity_text(
            &text,
            "SOPS_AGE_KEY_FILE",
            false,
            &mut problems,
            &mut Vec::new(),
        );
        assert_eq!(ids.len(), 1);
        assert_eq!(
            problems,
            ["SOPS_AGE_KEY_FILE: line 2 is not a valid age identity"]
        );
        // The second key of a line opens a file for it.
        let mut problems = Vec::new();
        let ids = parse_identity_text(&text, "SOPS_AGE_KEY", true, &mut problems, &mut Vec::new());
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

    /// Recipients are told apart as sops's `parseRecipient` does: `age1pq1` hybrid, a second
    /// `1` a plugin (whose binary must be on `PATH`), else X25519.
    #[test]
    fn recipient_forms() {
        let (_, pq) = generate_hybrid_key();
        assert!(AgeRecipient::parse(&pq).is_ok());
        assert!(AgeRecipient::parse(RECIPIENT).is_ok());
        let plugin = age_core::primitives::bech32_encode(
            bech32::Hrp::parse_unchecked("age1sopsrsmissing"),
            &[1, 2, 3],
        );
        let err = AgeRecipient::parse(&plugin).err().unwrap().to_string();
        assert!(err.contains("age-plugin-sopsrsmissing"), "{err}");
        assert!(!err.contains('\u{2068}'), "{err}");
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
