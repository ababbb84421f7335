//! Encrypting and decrypting a whole tree, and computing its MAC, exactly as sops does.
//!
//! A walk over the documents decides, for every leaf and comment, whether it is encrypted
//! (the partial-encryption [`Selectors`]) and what its additional data is (the keys of its path
//! joined with `:` plus a trailing `:`). The cipher work of the leaves is independent, so it runs
//! on all cores; the MAC is fed in document order afterwards.

use rayon::prelude::*;
use regex::Regex;
use sha2::{Digest, Sha512};

use crate::cipher::{self, CipherError, DataKey, EncryptedValue, ValueCipher};
use crate::iv_stash::{stored_iv, IvStash};
use crate::metadata::Selectors;
use crate::tree::{Comment, Document, Map, MapItem, Node, Scalar, Seq, SeqItem};

/// The 32 bytes sops feeds to the MAC first when `mac_only_encrypted` is set.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Below this many values the work stays on one thread (starting the pool costs more).
const PARALLEL_THRESHOLD: usize = 512;

/// Why a tree could not be encrypted or decrypted. Messages name the path, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptError {
    /// A selector regex does not compile.
    #[error("invalid {name} {pattern:?}: {reason}")]
    BadRegex {
        /// The selector's name.
        name: &'static str,
        /// The pattern as given.
        pattern: String,
        /// The regex engine's complaint.
        reason: String,
    },
    /// A value that should be encrypted could not be decrypted (sops exit code 25).
    #[error("could not decrypt value at {path}: {reason}")]
    Value {
        /// The value's path, `a:b:`.
        path: String,
        /// What went wrong (never the plaintext).
        reason: String,
    },
    /// An encrypted comment could not be decrypted (tampered): we refuse instead of printing
    /// the ciphertext as a plain comment.
    #[error("could not decrypt comment in {path}: {reason}")]
    Comment {
        /// The path of the container holding the comment.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// An encrypted comment would match `unencrypted_comment_regex` and be left plain next time.
    #[error("encrypted comment in {0} matches unencrypted_comment_regex; make sure the regex cannot match encrypted comments")]
    CommentMatchesRegex(String),
    /// The tree nests deeper than we accept.
    #[error("the document nests deeper than {0} levels")]
    TooDeep(usize),
}

/// The compiled partial-encryption rules.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
    unencrypted_comment_regex: Option<Regex>,
    encrypted_comment_regex: Option<Regex>,
    mac_only_encrypted: bool,
}

/// Translates Go RE2 shorthand classes, which are ASCII-only, into explicit ASCII classes so
/// the Rust engine (Unicode-aware by default) matches the same keys.
pub(crate) fn go_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let (inside, outside) = match next {
                    'd' => ("0-9", "[0-9]"),
                    'w' => ("0-9A-Za-z_", "[0-9A-Za-z_]"),
                    's' => ("\\t\\n\\x0C\\r ", "[\\t\\n\\x0C\\r ]"),
                    'D' if !in_class => ("", "[^0-9]"),
                    'W' if !in_class => ("", "[^0-9A-Za-z_]"),
                    'S' if !in_class => ("", "[^\\t\\n\\x0C\\r ]"),
                    'b' if !in_class => ("", "(?-u:\\b)"),
                    'B' if !in_class => ("", "(?-u:\\B)"),
                    _ => {
                        out.push('\\');
                        out.push(next);
                        continue;
                    }
                };
                out.push_str(if in_class { inside } else { outside });
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A leading `]` or `^]` is literal inside a class.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    out.push(chars.next().unwrap_or(']'));
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn compile(name: &'static str, pattern: &Option<String>) -> Result<Option<Regex>, CryptError> {
    pattern
        .as_ref()
        .map(|p| {
            Regex::new(&go_regex(p)).map_err(|e| CryptError::BadRegex {
                name,
                pattern: p.clone(),
                reason: e.to_string(),
            })
        })
        .transpose()
}

impl Selection {
    /// Compiles the rules stored in a file's metadata.
    pub fn new(selectors: &Selectors) -> Result<Selection, CryptError> {
        Ok(Selection {
            unencrypted_suffix: selectors.unencrypted_suffix.clone(),
            encrypted_suffix: selectors.encrypted_suffix.clone(),
            unencrypted_regex: compile("unencrypted_regex", &selectors.unencrypted_regex)?,
            encrypted_regex: compile("encrypted_regex", &selectors.encrypted_regex)?,
            unencrypted_comment_regex: compile(
                "unencrypted_comment_regex",
                &selectors.unencrypted_comment_regex,
            )?,
            encrypted_comment_regex: compile(
                "encrypted_comment_regex",
                &selectors.encrypted_comment_regex,
            )?,
            mac_only_encrypted: selectors.mac_only_encrypted,
        })
    }

    /// Whether a value's fate depends on the comments before it (the comment regexes): then a
    /// document cannot be handled batch by batch or part by part.
    pub(crate) fn uses_comments(&self) -> bool {
        self.unencrypted_comment_regex.is_some() || self.encrypted_comment_regex.is_some()
    }
}

/// What the keys on a path have matched so far (a match on a parent covers its subtree).
#[derive(Debug, Clone, Copy, Default)]
struct PathMatches {
    unencrypted_suffix: bool,
    encrypted_suffix: bool,
    unencrypted_regex: bool,
    encrypted_regex: bool,
}

impl PathMatches {
    fn with_key(mut self, sel: &Selection, key: &str) -> PathMatches {
        if let Some(s) = &sel.unencrypted_suffix {
            self.unencrypted_suffix |= key.ends_with(s.as_str());
        }
        if let Some(s) = &sel.encrypted_suffix {
            self.encrypted_suffix |= key.ends_with(s.as_str());
        }
        if let Some(r) = &sel.unencrypted_regex {
            self.unencrypted_regex |= r.is_match(key);
        }
        if let Some(r) = &sel.encrypted_regex {
            self.encrypted_regex |= r.is_match(key);
        }
        self
    }
}

/// One leaf or comment to process, with its decision and additional data (kept in one
/// shared string for all jobs).
struct Job<'a, 's> {
    slot: Slot<'a>,
    aad: &'s str,
    encrypted: bool,
}

/// A job as the walk records it: its additional data is a range of the walk's arena.
struct PendingJob<'a> {
    slot: Slot<'a>,
    aad: std::ops::Range<usize>,
    encrypted: bool,
}

enum Slot<'a> {
    Value(&'a mut Scalar),
    /// A scalar item of a sequence: in YAML an encrypted comment inside a sequence is written
    /// as a list item, and decrypting it turns the item back into a comment.
    SeqValue(&'a mut SeqItem),
    Comment(&'a mut Comment),
}

impl Slot<'_> {
    /// The scalar this slot holds, if it holds one (not a comment).
    fn scalar(&self) -> Option<&Scalar> {
        match self {
            Slot::Value(s) => Some(s),
            Slot::SeqValue(SeqItem::Node(Node::Scalar(s))) => Some(s),
            _ => None,
        }
    }

    fn scalar_mut(&mut self) -> Option<&mut Scalar> {
        match self {
            Slot::Value(s) => Some(s),
            Slot::SeqValue(SeqItem::Node(Node::Scalar(s))) => Some(s),
            _ => None,
        }
    }
}

/// Walks the documents in order and lists every leaf and comment with its decision.
struct Walker<'s> {
    sel: &'s Selection,
    /// Comments seen at each open level since the last value (only kept when a comment
    /// selector is in use).
    comments: Vec<Vec<String>>,
    /// The additional data of every job, one after the other.
    aads: String,
}

/// Deepest nesting the walk accepts.
pub const MAX_DEPTH: usize = 1000;

impl<'s> Walker<'s> {
    fn decide(&self, m: PathMatches, is_comment: bool) -> bool {
        let sel = self.sel;
        let mut encrypted = true;
        if sel.unencrypted_suffix.is_some() && m.unencrypted_suffix {
            encrypted = false;
        }
        if sel.encrypted_suffix.is_some() {
            encrypted = m.encrypted_suffix;
        }
        if sel.unencrypted_regex.is_some() && m.unencrypted_regex {
            encrypted = false;
        }
        if sel.encrypted_regex.is_some() {
            encrypted = m.encrypted_regex;
        }
        if let Some(r) = &sel.unencrypted_comment_regex {
            if self.comments.iter().flatten().any(|c| r.is_match(c)) {
                encrypted = false;
            }
        }
        if let Some(r) = &sel.encrypted_comment_regex {
            let last_level = self.comments.len().saturating_sub(1);
            let last_len = self.comments.last().map_or(0, |l| l.len());
            encrypted = self.comments.iter().enumerate().any(|(i, level)| {
                level.iter().enumerate().any(|(j, c)| {
                    let is_self = is_comment && i == last_level && j + 1 == last_len;
                    !is_self && r.is_match(c)
                })
            });
        }
        encrypted
    }

    fn note_comment(&mut self, text: &str) {
        if self.sel.uses_comments() {
            if let Some(level) = self.comments.last_mut() {
                level.push(text.to_string());
            }
        }
    }

    fn clear_level(&mut self) {
        if let Some(level) = self.comments.last_mut() {
            level.clear();
        }
    }

    /// Appends the additional data of `path` (its keys joined and ended by `:`) to the arena.
    fn push_aad(&mut self, path: &[&str]) -> std::ops::Range<usize> {
        let start = self.aads.len();
        for p in path {
            self.aads.push_str(p);
            self.aads.push(':');
        }
        if path.is_empty() {
            self.aads.push(':');
        }
        start..self.aads.len()
    }

    fn map<'a>(
        &mut self,
        map: &'a mut Map,
        path: &mut Vec<&'a str>,
        m: PathMatches,
        jobs: &mut Vec<PendingJob<'a>>,
    ) -> Result<(), CryptError> {
        self.map_items(&mut map.items, path, m, jobs)
    }

    /// [`Walker::map`] for some items of a map.
    fn map_items<'a>(
        &mut self,
        items: &'a mut [MapItem],
        path: &mut Vec<&'a str>,
        m: PathMatches,
        jobs: &mut Vec<PendingJob<'a>>,
    ) -> Result<(), CryptError> {
        if path.len() > MAX_DEPTH {
            return Err(CryptError::TooDeep(MAX_DEPTH));
        }
        self.comments.push(Vec::new());
        for item in items.iter_mut() {
            match item {
                MapItem::Comment(c) => self.push_job(Slot::Comment(c), path, m, jobs),
                MapItem::Entry(e) => {
                    let key: &'a str = e.key.as_str();
                    path.push(key);
                    self.node(&mut e.value, path, m.with_key(self.sel, key), jobs)?;
                    path.pop();
                    self.clear_level();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    /// Records one leaf or comment with its decision and additional data.
    fn push_job<'a>(
        &mut self,
        slot: Slot<'a>,
        path: &[&'a str],
        m: PathMatches,
        jobs: &mut Vec<PendingJob<'a>>,
    ) {
        if let Slot::Comment(c) = &slot {
            self.note_comment(&c.text);
        }
        let encrypted = self.decide(m, matches!(slot, Slot::Comment(_)));
        let aad = self.push_aad(path);
        jobs.push(PendingJob {
            aad,
            encrypted,
            slot,
        });
    }

    fn seq<'a>(
        &mut self,
        seq: &'a mut Seq,
        path: &mut Vec<&'a str>,
        m: PathMatches,
        jobs: &mut Vec<PendingJob<'a>>,
    ) -> Result<(), CryptError> {
        if path.len() > MAX_DEPTH || self.comments.len() > MAX_DEPTH {
            return Err(CryptError::TooDeep(MAX_DEPTH));
        }
        self.comments.push(Vec::new());
        for item in seq.items.iter_mut() {
            match item {
                SeqItem::Comment(c) => self.push_job(Slot::Comment(c), path, m, jobs),
                SeqItem::Node(Node::Scalar(Scalar::Null)) => self.clear_level(),
                SeqItem::Node(Node::Scalar(_)) => {
                    self.push_job(Slot::SeqValue(item), path, m, jobs);
                    self.clear_level();
                }
                SeqItem::Node(n) => {
                    self.node(n, path, m, jobs)?;
                    self.clear_level();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn node<'a>(
        &mut self,
        node: &'a mut Node,
        path: &mut Vec<&'a str>,
        m: PathMatches,
        jobs: &mut Vec<PendingJob<'a>>,
    ) -> Result<(), CryptError> {
        match node {
            Node::Map(map) => self.map(map, path, m, jobs),
            Node::Seq(seq) => self.seq(seq, path, m, jobs),
            // sops never visits nulls: not encrypted, not hashed.
            Node::Scalar(Scalar::Null) => Ok(()),
            Node::Scalar(s) => {
                self.push_job(Slot::Value(s), path, m, jobs);
                Ok(())
            }
        }
    }
}

/// Lists every leaf and comment of the documents in order; their additional data is kept in
/// `arena`.
fn collect_jobs<'a, 's>(
    docs: &'a mut [Document],
    sel: &Selection,
    arena: &'s mut String,
) -> Result<Vec<Job<'a, 's>>, CryptError> {
    let mut pending = Vec::new();
    let mut walker = Walker {
        sel,
        comments: Vec::new(),
        aads: std::mem::take(arena),
    };
    for doc in docs.iter_mut() {
        let mut path = Vec::new();
        walker.map(doc, &mut path, PathMatches::default(), &mut pending)?;
    }
    *arena = walker.aads;
    let arena: &'s String = arena;
    Ok(pending
        .into_iter()
        .map(|job| Job {
            aad: &arena[job.aad],
            slot: job.slot,
            encrypted: job.encrypted,
        })
        .collect())
}

fn for_each_job<'a, 's, F>(jobs: &mut [Job<'a, 's>], f: F) -> Result<(), CryptError>
where
    F: Fn(&mut Job<'a, 's>) -> Result<(), CryptError> + Sync + Send,
{
    if jobs.len() >= PARALLEL_THRESHOLD {
        // Keep the first error in document order.
        let errors: Vec<CryptError> = jobs.par_iter_mut().filter_map(|j| f(j).err()).collect();
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    } else {
        jobs.iter_mut().try_for_each(f)
    }
}

fn mac_hex(hasher: Sha512) -> String {
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(128);
    for b in digest {
        hex.push_str(&format!("{b:02X}"));
    }
    hex
}

fn new_hasher(sel: &Selection) -> Sha512 {
    let mut hasher = Sha512::new();
    if sel.mac_only_encrypted {
        hasher.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    hasher
}

/// Hashes the plaintext leaves in document order (comments excluded), as sops's MAC does.
fn hash_jobs(jobs: &[Job<'_, '_>], sel: &Selection) -> String {
    let mut hasher = new_hasher(sel);
    hash_into(&mut hasher, jobs, sel);
    mac_hex(hasher)
}

/// Feeds the plaintext leaves of `jobs` to the MAC.
fn hash_into(hasher: &mut Sha512, jobs: &[Job<'_, '_>], sel: &Selection) {
    feed_mac(jobs, sel, &mut |bytes| hasher.update(bytes));
}

/// Gives the plaintext leaves of `jobs` that the MAC covers to `mac`, in order.
fn feed_mac(jobs: &[Job<'_, '_>], sel: &Selection, mac: &mut dyn FnMut(&[u8])) {
    for job in jobs {
        if let Some(s) = job.slot.scalar() {
            if !sel.mac_only_encrypted || job.encrypted {
                mac(&s.plaintext_bytes());
            }
        }
    }
}

/// Computes the MAC of plaintext documents without changing them.
pub fn compute_mac(docs: &mut [Document], sel: &Selection) -> Result<String, CryptError> {
    let mut arena = String::new();
    let jobs = collect_jobs(docs, sel, &mut arena)?;
    Ok(hash_jobs(&jobs, sel))
}

/// Encrypts every selected value and comment of plaintext documents in place and returns
/// the MAC (uppercase hex SHA-512) of their plaintext.
pub fn encrypt_documents(
    docs: &mut [Document],
    key: &DataKey,
    sel: &Selection,
) -> Result<String, CryptError> {
    encrypt_documents_with_ivs(docs, key, sel, None)
}

/// Like [`encrypt_documents`], re-using the IV recorded in `stash` for every value and
/// comment whose path and plaintext did not change, so its ciphertext stays identical.
pub fn encrypt_documents_with_ivs(
    docs: &mut [Document],
    key: &DataKey,
    sel: &Selection,
    stash: Option<&IvStash>,
) -> Result<String, CryptError> {
    let stash = stash.filter(|s| !s.is_empty());
    let mut arena = String::new();
    let mut jobs = collect_jobs(docs, sel, &mut arena)?;
    let mac = hash_jobs(&jobs, sel);
    encrypt_jobs(&mut jobs, &key.value_cipher(), sel, stash)?;
    Ok(mac)
}

/// Encrypts top-level items of a document batch by batch, in document order, while the file
/// is being written: the result and the MAC are those of [`encrypt_documents`] on the whole
/// document, without holding the ciphertext of every value at once. As for
/// [`BatchDecryptor`], only for selections without comment rules.
pub struct BatchEncryptor<'s> {
    vc: ValueCipher,
    sel: &'s Selection,
    hasher: Sha512,
    arena: String,
}

impl<'s> BatchEncryptor<'s> {
    /// An encryptor with `key` and the selection `sel`; `None` when the selection has comment
    /// rules.
    pub fn new(key: &DataKey, sel: &'s Selection) -> Option<Self> {
        if sel.uses_comments() {
            return None;
        }
        Some(BatchEncryptor {
            vc: key.value_cipher(),
            sel,
            hasher: new_hasher(sel),
            arena: String::new(),
        })
    }

    /// Encrypts the next top-level items in place, feeding their plaintext to the MAC.
    pub fn items(&mut self, items: &mut [MapItem]) -> Result<(), CryptError> {
        let mut arena = std::mem::take(&mut self.arena);
        arena.clear();
        let hasher = &mut self.hasher;
        let result = encrypt_top_level(items, &self.vc, self.sel, &mut arena, true, &mut |bytes| {
            hasher.update(bytes)
        });
        self.arena = arena;
        result
    }

    /// The MAC (uppercase hex SHA-512) of the plaintext of every item so far.
    pub fn mac(&self) -> String {
        mac_hex(self.hasher.clone())
    }
}

fn encrypt_jobs(
    jobs: &mut [Job<'_, '_>],
    vc: &ValueCipher,
    sel: &Selection,
    stash: Option<&IvStash>,
) -> Result<(), CryptError> {
    for_each_job(jobs, |job| encrypt_job(job, vc, sel, stash))
}

/// Encrypts one value or comment in place.
fn encrypt_job(
    job: &mut Job<'_, '_>,
    vc: &ValueCipher,
    sel: &Selection,
    stash: Option<&IvStash>,
) -> Result<(), CryptError> {
    if !job.encrypted {
        return Ok(());
    }
    if let Some(s) = job.slot.scalar_mut() {
        if !s.is_empty() {
            let plain = s.plaintext_bytes();
            let iv = stash.and_then(|st| st.get(job.aad, s.type_tag(), &plain));
            let text = vc.encrypt(&plain, job.aad.as_bytes(), s.type_tag(), iv.as_ref());
            *s = Scalar::Str(text);
        }
        return Ok(());
    }
    match &mut job.slot {
        Slot::Value(_) | Slot::SeqValue(_) => {}
        Slot::Comment(c) => {
            if !c.text.is_empty() {
                let iv = stash.and_then(|st| st.get(job.aad, "comment", c.text.as_bytes()));
                c.text = vc.encrypt(
                    c.text.as_bytes(),
                    job.aad.as_bytes(),
                    "comment",
                    iv.as_ref(),
                );
                if let Some(r) = &sel.unencrypted_comment_regex {
                    if r.is_match(&c.text) {
                        return Err(CryptError::CommentMatchesRegex(job.aad.to_string()));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Turns decrypted bytes back into a typed scalar according to the `type:` tag, taking the
/// bytes of a string without copying them.
fn typed_scalar_owned(type_tag: &str, bytes: Vec<u8>) -> Result<Scalar, String> {
    match type_tag {
        "str" | "bytes" => Ok(match String::from_utf8(bytes) {
            Ok(s) => Scalar::Str(s),
            Err(e) => Scalar::Bytes(e.into_bytes()),
        }),
        _ => typed_scalar(type_tag, &bytes),
    }
}

/// Turns decrypted bytes back into a typed scalar according to the `type:` tag.
fn typed_scalar(type_tag: &str, bytes: &[u8]) -> Result<Scalar, String> {
    let text = || {
        std::str::from_utf8(bytes).map_err(|_| format!("type:{type_tag} value is not valid UTF-8"))
    };
    Ok(match type_tag {
        "str" => match std::str::from_utf8(bytes) {
            Ok(s) => Scalar::Str(s.to_string()),
            Err(_) => Scalar::Bytes(bytes.to_vec()),
        },
        "bytes" => match std::str::from_utf8(bytes) {
            Ok(s) => Scalar::Str(s.to_string()),
            Err(_) => Scalar::Bytes(bytes.to_vec()),
        },
        "int" => Scalar::Int(
            text()?
                .parse()
                .map_err(|_| "type:int value is not an integer".to_string())?,
        ),
        "float" => {
            Scalar::Float(parse_go_float(text()?).ok_or("type:float value is not a number")?)
        }
        "bool" => Scalar::Bool(match text()? {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err("type:bool value is not a boolean".into()),
        }),
        "time" => {
            let t = text()?;
            if !crate::timestamp::is_rfc3339(t) {
                return Err("type:time value is not an RFC 3339 timestamp".into());
            }
            Scalar::Time(t.to_string())
        }
        other => return Err(format!("Unknown datatype: {other}")),
    })
}

/// Parses a float as Go's `strconv.ParseFloat` accepts it (`+Inf`, `NaN`, `1e3`, `0x1p-2` aside).
fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if body.starts_with("0x") {
        return None;
    }
    s.replace('_', "")
        .parse::<f64>()
        .ok()
        .or(match lower.as_str() {
            "+inf" | "inf" | "+infinity" | "infinity" => Some(f64::INFINITY),
            "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
            "nan" => Some(f64::NAN),
            _ => None,
        })
}

/// The outcome of decrypting one stored scalar.
enum Decrypted {
    /// Nothing to decrypt (an empty string).
    Unchanged,
    /// A typed value.
    Value(Scalar),
    /// A `type:comment` value (a comment written as a sequence item).
    Comment(String),
}

fn decrypt_scalar(vc: &ValueCipher, stored: &Scalar, aad: &[u8]) -> Result<Decrypted, String> {
    let text = match stored {
        Scalar::Str(text) if text.is_empty() => return Ok(Decrypted::Unchanged),
        Scalar::Str(text) => text,
        _ => {
            return Err("the value is not encrypted, but the file's rules say it should be".into())
        }
    };
    let (mut plain, type_tag) = vc.decrypt_text(text, aad).map_err(|e| e.to_string())?;
    // The plaintext moves into the tree, which holds plaintext anyway.
    let bytes = std::mem::take(&mut *plain);
    if type_tag == "comment" {
        return String::from_utf8(bytes)
            .map(Decrypted::Comment)
            .map_err(|_| "comment is not valid UTF-8".into());
    }
    typed_scalar_owned(type_tag, bytes).map(Decrypted::Value)
}

/// Decrypts every selected value and comment of encrypted documents in place and returns
/// the MAC (uppercase hex SHA-512) of the plaintext.
pub fn decrypt_documents(
    docs: &mut [Document],
    key: &DataKey,
    sel: &Selection,
) -> Result<String, CryptError> {
    let mut arena = String::new();
    let mut jobs = collect_jobs(docs, sel, &mut arena)?;
    decrypt_jobs(&mut jobs, key)?;
    Ok(hash_jobs(&jobs, sel))
}

/// Decrypts the top-level items of a document's first document batch by batch, in document
/// order, while the rest of the file is still being read: the result and the MAC are those of
/// [`decrypt_documents`] on the whole documents. The values of a batch are decrypted on all
/// cores. The first error is kept, later batches are left alone, and [`BatchDecryptor::finish`]
/// reports it, so that the caller can first finish reading (a syntax error further on comes
/// first, as in sops).
///
/// Only for selections without comment rules: with those, a value's fate depends on comments
/// before it, possibly in an earlier batch ([`BatchDecryptor::new`] gives `None`).
pub struct BatchDecryptor<'s> {
    vc: ValueCipher,
    sel: &'s Selection,
    hasher: Sha512,
    /// Top-level key that is skipped (the metadata entry, removed before decryption).
    skip_key: &'s str,
    error: Option<CryptError>,
    arena: String,
}

impl<'s> BatchDecryptor<'s> {
    /// A decryptor with `key` and the selection `sel`, skipping top-level entries named
    /// `skip_key`; `None` when the selection has comment rules.
    pub fn new(key: &DataKey, sel: &'s Selection, skip_key: &'s str) -> Option<Self> {
        if sel.uses_comments() {
            return None;
        }
        Some(BatchDecryptor {
            vc: key.value_cipher(),
            sel,
            hasher: new_hasher(sel),
            skip_key,
            error: None,
            arena: String::new(),
        })
    }

    /// Decrypts the next top-level items of the first document, in place.
    pub fn items(&mut self, items: &mut [MapItem]) {
        if self.error.is_some() || items.is_empty() {
            return;
        }
        let mut arena = std::mem::take(&mut self.arena);
        arena.clear();
        let result = self.items_inner(items, &mut arena);
        self.arena = arena;
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    fn items_inner(&mut self, items: &mut [MapItem], arena: &mut String) -> Result<(), CryptError> {
        let hasher = &mut self.hasher;
        decrypt_top_level(
            items,
            &self.vc,
            self.sel,
            self.skip_key,
            arena,
            true,
            &mut |bytes| hasher.update(bytes),
        )
    }

    /// The MAC of everything decrypted, or the first error.
    pub fn finish(self) -> Result<String, CryptError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(mac_hex(self.hasher)),
        }
    }
}

/// Decrypts top-level items in place, walking around the entries named `skip_key`, and gives
/// what they add to the MAC to `mac`, in document order. `arena` is scratch space.
fn decrypt_top_level(
    items: &mut [MapItem],
    vc: &ValueCipher,
    sel: &Selection,
    skip_key: &str,
    arena: &mut String,
    parallel: bool,
    mac: &mut dyn FnMut(&[u8]),
) -> Result<(), CryptError> {
    let mut pending = Vec::new();
    let mut walker = Walker {
        sel,
        comments: Vec::new(),
        aads: std::mem::take(arena),
    };
    // The metadata entry is not part of the tree (nor of the MAC): walk around it.
    let mut rest: &mut [MapItem] = items;
    while !rest.is_empty() {
        let cut = rest
            .iter()
            .position(|i| matches!(i, MapItem::Entry(e) if e.key == skip_key))
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at_mut(cut);
        walker.map_items(run, &mut Vec::new(), PathMatches::default(), &mut pending)?;
        rest = tail.get_mut(1..).unwrap_or_default();
    }
    *arena = walker.aads;
    let arena: &String = arena;
    let mut jobs: Vec<Job<'_, '_>> = pending
        .into_iter()
        .map(|job| Job {
            aad: &arena[job.aad],
            slot: job.slot,
            encrypted: job.encrypted,
        })
        .collect();
    if parallel {
        decrypt_jobs_with(&mut jobs, vc)?;
    } else {
        jobs.iter_mut().try_for_each(|job| decrypt_job(job, vc))?;
    }
    feed_mac(&jobs, sel, mac);
    Ok(())
}

/// Decrypts the top-level items of one part of a document in place, walking around the
/// entries named `skip_key` (the metadata), and returns what they add to the MAC. For a
/// document read in parts on several cores: [`PartsMac`] then hashes the parts' MAC
/// input in document order, which gives the MAC of the whole document. Only for selections
/// without comment rules (a value's fate could depend on a comment in an earlier part).
pub fn decrypt_part(
    items: &mut [MapItem],
    vc: &ValueCipher,
    sel: &Selection,
    skip_key: &str,
) -> Result<Vec<u8>, CryptError> {
    if sel.uses_comments() {
        return Err(CryptError::Value {
            path: String::new(),
            reason: "a selection with comment rules cannot be decrypted in parts".into(),
        });
    }
    let mut mac_input = Vec::new();
    // The parts are decrypted in parallel already: one thread a part keeps each part's
    // memory in the heap of the thread that allocated it.
    decrypt_top_level(
        items,
        vc,
        sel,
        skip_key,
        &mut String::new(),
        false,
        &mut |bytes| mac_input.extend_from_slice(bytes),
    )?;
    Ok(mac_input)
}

/// Encrypts the top-level items of one part of a plaintext document in place (in the calling
/// thread) and returns what they add to the MAC, their plaintext in order: for a document
/// encrypted in parts on several cores, whose MAC input [`PartsMac`] hashes in document order.
/// Only for selections without comment rules.
pub fn encrypt_part(
    items: &mut [MapItem],
    vc: &ValueCipher,
    sel: &Selection,
) -> Result<Vec<u8>, CryptError> {
    if sel.uses_comments() {
        return Err(CryptError::Value {
            path: String::new(),
            reason: "a selection with comment rules cannot be encrypted in parts".into(),
        });
    }
    let mut mac_input = Vec::new();
    encrypt_top_level(items, vc, sel, &mut String::new(), false, &mut |bytes| {
        mac_input.extend_from_slice(bytes)
    })?;
    Ok(mac_input)
}

/// Encrypts top-level items in place (on all cores when `parallel`) and gives their
/// plaintext, as the MAC covers it, to `mac` in document order. `arena` is scratch space.
fn encrypt_top_level(
    items: &mut [MapItem],
    vc: &ValueCipher,
    sel: &Selection,
    arena: &mut String,
    parallel: bool,
    mac: &mut dyn FnMut(&[u8]),
) -> Result<(), CryptError> {
    let mut pending = Vec::new();
    let mut walker = Walker {
        sel,
        comments: Vec::new(),
        aads: std::mem::take(arena),
    };
    let walked = walker.map_items(items, &mut Vec::new(), PathMatches::default(), &mut pending);
    *arena = walker.aads;
    walked?;
    let arena: &String = arena;
    let mut jobs: Vec<Job<'_, '_>> = pending
        .into_iter()
        .map(|job| Job {
            aad: &arena[job.aad],
            slot: job.slot,
            encrypted: job.encrypted,
        })
        .collect();
    feed_mac(&jobs, sel, mac);
    if parallel {
        encrypt_jobs(&mut jobs, vc, sel, None)
    } else {
        jobs.iter_mut()
            .try_for_each(|job| encrypt_job(job, vc, sel, None))
    }
}

/// The MAC of a document decrypted or encrypted in parts ([`decrypt_part`],
/// [`encrypt_part`]): each part's MAC input is added in document order.
pub struct PartsMac {
    hasher: Sha512,
}

impl PartsMac {
    /// A MAC for a document with the selection `sel`.
    pub fn new(sel: &Selection) -> Self {
        PartsMac {
            hasher: new_hasher(sel),
        }
    }

    /// Adds the next part's MAC input.
    pub fn add(&mut self, part: &[u8]) {
        self.hasher.update(part);
    }

    /// The MAC so far, uppercase hex SHA-512.
    pub fn hex(&self) -> String {
        mac_hex(self.hasher.clone())
    }
}

/// Like [`decrypt_documents`], also recording the IV of every decrypted value and comment
/// in `stash`, for [`encrypt_documents_with_ivs`] after an edit.
pub fn decrypt_documents_keeping_ivs(
    docs: &mut [Document],
    key: &DataKey,
    sel: &Selection,
    stash: &mut IvStash,
) -> Result<String, CryptError> {
    let mut arena = String::new();
    let mut jobs = collect_jobs(docs, sel, &mut arena)?;
    let ivs: Vec<Option<[u8; cipher::IV_LEN]>> = jobs
        .iter()
        .map(|job| {
            if !job.encrypted {
                return None;
            }
            match &job.slot {
                Slot::Comment(c) => stored_iv(&c.text),
                slot => slot.scalar().and_then(Scalar::as_str).and_then(stored_iv),
            }
        })
        .collect();
    decrypt_jobs(&mut jobs, key)?;
    stash.reserve(ivs.iter().filter(|iv| iv.is_some()).count());
    for (job, iv) in jobs.iter().zip(ivs) {
        let Some(iv) = iv else { continue };
        match &job.slot {
            Slot::Comment(c) => stash.insert(job.aad, "comment", c.text.as_bytes(), iv),
            Slot::SeqValue(SeqItem::Comment(c)) => {
                stash.insert(job.aad, "comment", c.text.as_bytes(), iv)
            }
            slot => {
                if let Some(s) = slot.scalar() {
                    stash.insert(job.aad, s.type_tag(), &s.plaintext_bytes(), iv);
                }
            }
        }
    }
    stash.sort();
    Ok(hash_jobs(&jobs, sel))
}

fn decrypt_jobs(jobs: &mut [Job<'_, '_>], key: &DataKey) -> Result<(), CryptError> {
    decrypt_jobs_with(jobs, &key.value_cipher())
}

fn decrypt_jobs_with(jobs: &mut [Job<'_, '_>], vc: &ValueCipher) -> Result<(), CryptError> {
    for_each_job(jobs, |job| decrypt_job(job, vc))
}

/// Decrypts one value or comment in place.
fn decrypt_job(job: &mut Job<'_, '_>, vc: &ValueCipher) -> Result<(), CryptError> {
    if !job.encrypted {
        return Ok(());
    }
    let aad = job.aad.as_bytes();
    let fail = |reason: String| CryptError::Value {
        path: job.aad.to_string(),
        reason,
    };
    match &mut job.slot {
        Slot::Value(s) => match decrypt_scalar(vc, s, aad).map_err(fail)? {
            Decrypted::Unchanged => {}
            Decrypted::Value(v) => **s = v,
            Decrypted::Comment(_) => {
                return Err(fail("a comment stands where a value is expected".into()))
            }
        },
        Slot::SeqValue(item) => {
            let SeqItem::Node(Node::Scalar(s)) = &mut **item else {
                return Ok(());
            };
            match decrypt_scalar(vc, s, aad).map_err(fail)? {
                Decrypted::Unchanged => {}
                Decrypted::Value(v) => *s = v,
                Decrypted::Comment(text) => **item = SeqItem::Comment(Comment::new(text)),
            }
        }
        Slot::Comment(c) => {
            // A comment without the ENC form is a plain comment (older files have them).
            if !looks_encrypted(&c.text) {
                return Ok(());
            }
            let fail = |reason: String| CryptError::Comment {
                path: job.aad.to_string(),
                reason,
            };
            let (mut plain, type_tag) = vc
                .decrypt_text(&c.text, job.aad.as_bytes())
                .map_err(|e| fail(e.to_string()))?;
            if type_tag != "comment" {
                return Err(fail(format!(
                    "expected type:comment, found type:{type_tag}"
                )));
            }
            c.text = String::from_utf8(std::mem::take(&mut *plain))
                .map_err(|_| fail("comment is not valid UTF-8".into()))?;
        }
    }
    Ok(())
}

/// True if a comment has the shape of an encrypted value, even with a damaged prefix: such a
/// comment must decrypt, or the file was tampered with (sops would print it as a plain comment).
fn looks_encrypted(text: &str) -> bool {
    EncryptedValue::is_encrypted(text) || (text.contains(",iv:") && text.contains(",tag:"))
}

/// Encrypts the MAC text with the `lastmodified` string as additional data.
pub fn encrypt_mac(key: &DataKey, mac: &str, last_modified: &str) -> String {
    cipher::encrypt(key, mac.as_bytes(), last_modified.as_bytes(), "str", None)
}

/// Decrypts a stored MAC. An empty stored MAC decrypts to the empty string, as in sops.
pub fn decrypt_mac(
    key: &DataKey,
    stored: &str,
    last_modified: &str,
) -> Result<String, CipherError> {
    if stored.is_empty() {
        return Ok(String::new());
    }
    let parsed = EncryptedValue::parse(stored)?;
    let plain = cipher::decrypt(key, &parsed, last_modified.as_bytes())?;
    String::from_utf8(plain.to_vec()).map_err(|_| CipherError::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Document {
        let mut db = Map::new();
        db.push("password", Node::str("hunter2"));
        db.push("port", Node::Scalar(Scalar::Int(5432)));
        db.push("ssl_unencrypted", Node::Scalar(Scalar::Bool(true)));
        let mut hosts = Seq::new();
        hosts.push(Node::str("a"));
        hosts.items.push(SeqItem::Comment(Comment::new(" between")));
        hosts.push(Node::str("b"));
        let mut d = Map::new();
        d.push_comment(" top");
        d.push("db", Node::Map(db));
        d.push("hosts", Node::Seq(hosts));
        d.push("empty", Node::str(""));
        d.push("nothing", Node::Scalar(Scalar::Null));
        d
    }

    fn default_sel() -> Selection {
        Selection::new(&Selectors {
            unencrypted_suffix: Some("_unencrypted".into()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn round_trip_keeps_tree_and_mac() {
        let key = DataKey::generate();
        let sel = default_sel();
        let original = vec![doc()];
        let mut docs = original.clone();
        let mac1 = encrypt_documents(&mut docs, &key, &sel).unwrap();
        assert_ne!(docs, original);
        let db = docs[0].get("db").unwrap().as_map().unwrap();
        assert!(db
            .get("password")
            .unwrap()
            .as_scalar()
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("ENC["));
        assert_eq!(
            db.get("ssl_unencrypted").unwrap(),
            &Node::Scalar(Scalar::Bool(true))
        );
        assert_eq!(docs[0].get("empty").unwrap(), &Node::str(""));
        let mac2 = decrypt_documents(&mut docs, &key, &sel).unwrap();
        assert_eq!(docs, original);
        assert_eq!(mac1, mac2);
        assert_eq!(mac1.len(), 128);
    }

    #[test]
    fn mac_matches_plain_sha512_of_leaves() {
        let sel = default_sel();
        let mut docs = vec![doc()];
        let mac = compute_mac(&mut docs, &sel).unwrap();
        let mut h = Sha512::new();
        for part in ["hunter2", "5432", "True", "a", "b"] {
            h.update(part.as_bytes());
        }
        assert_eq!(mac, mac_hex(h));
    }

    #[test]
    fn swapped_values_fail_by_aad() {
        let key = DataKey::generate();
        let sel = default_sel();
        let mut docs = vec![doc()];
        encrypt_documents(&mut docs, &key, &sel).unwrap();
        let db = docs[0].get_mut("db").unwrap();
        let Node::Map(db) = db else { panic!() };
        let pw = db.get("password").unwrap().clone();
        *db.get_mut("port").unwrap() = pw;
        let err = decrypt_documents(&mut docs, &key, &sel).unwrap_err();
        assert!(
            matches!(err, CryptError::Value { ref path, .. } if path == "db:port:"),
            "{err}"
        );
    }

    #[test]
    fn regexes_are_ascii_like_go() {
        let sel = Selection::new(&Selectors {
            encrypted_regex: Some(r"^\d+$".into()),
            ..Default::default()
        })
        .unwrap();
        let r = sel.encrypted_regex.unwrap();
        assert!(r.is_match("12"));
        assert!(!r.is_match("١٢"));
        assert_eq!(go_regex(r"[\d_]x\w"), r"[0-9_]x[0-9A-Za-z_]");
    }

    #[test]
    fn encrypted_regex_covers_subtree() {
        let key = DataKey::generate();
        let sel = Selection::new(&Selectors {
            encrypted_regex: Some("^db$".into()),
            ..Default::default()
        })
        .unwrap();
        let mut docs = vec![doc()];
        encrypt_documents(&mut docs, &key, &sel).unwrap();
        // The top comment is outside `db`, so it stays plain; hosts stay plain.
        assert_eq!(docs[0].items[0], MapItem::Comment(Comment::new(" top")));
        assert_eq!(docs[0].get("hosts"), doc().get("hosts"));
    }
}
