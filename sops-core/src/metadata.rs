//! The `sops` metadata block: master keys, key groups, MAC, selectors and version.
//!
//! [`Metadata`] is the typed form. It is written to the document tree in the layout sops 3.13
//! writes (keys sorted by name at every level) and read from either that or sops 3.11's struct
//! order, for every key type sops knows (including the ones we cannot use yet, so re-writing a
//! file loses nothing). Flat formats (dotenv, INI) get
//! the same data flattened into `__map_` / `__list_` keys.

use crate::format::{Format, MetadataLayout, Trailer};
use crate::tree::{Document, Entry, Map, MapItem, Node, Scalar, Seq, SeqItem};

/// The metadata key at the top of every document.
pub const SOPS_KEY: &str = "sops";
/// The prefix of flattened metadata keys in dotenv files.
pub const FLAT_PREFIX: &str = "sops_";
/// The selector sops applies when a file names none.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";
/// The version we write into files (the sops version whose format we follow).
pub const WRITER_VERSION: &str = "3.13.2";

/// A master key entry as stored in a file: how the data key (or a Shamir share of it) is
/// wrapped for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredKey {
    /// age: `recipient`, `enc` (an armored age file).
    Age {
        /// The age recipient (`age1...` or an SSH public key).
        recipient: String,
        /// The wrapped data key, ASCII-armored.
        enc: String,
    },
    /// PGP: `created_at`, `enc`, `fp`.
    Pgp {
        /// The key fingerprint.
        fp: String,
        /// When the key entry was made (RFC 3339).
        created_at: String,
        /// The wrapped data key, an armored OpenPGP message.
        enc: String,
    },
    /// AWS KMS: `arn`, `role`, `context`, `created_at`, `enc`, `aws_profile`.
    Kms {
        /// The key ARN.
        arn: String,
        /// A role to assume first (empty when none).
        role: String,
        /// The encryption context, in file order.
        context: Vec<(String, String)>,
        /// When the key entry was made (RFC 3339).
        created_at: String,
        /// Base64 of the KMS ciphertext blob.
        enc: String,
        /// The AWS profile to use (written even when empty).
        aws_profile: String,
    },
    /// GCP KMS: `resource_id`, `created_at`, `enc`.
    GcpKms {
        /// The key's resource id.
        resource_id: String,
        /// When the key entry was made.
        created_at: String,
        /// The wrapped data key.
        enc: String,
    },
    /// Azure Key Vault: `vault_url`, `name`, `version`, `created_at`, `enc`.
    AzureKv {
        /// The vault URL.
        vault_url: String,
        /// The key name.
        name: String,
        /// The key version.
        version: String,
        /// When the key entry was made.
        created_at: String,
        /// The wrapped data key.
        enc: String,
    },
    /// HashiCorp Vault transit: `vault_address`, `engine_path`, `key_name`, `created_at`, `enc`.
    HcVault {
        /// The Vault address.
        vault_address: String,
        /// The transit engine path.
        engine_path: String,
        /// The key name.
        key_name: String,
        /// When the key entry was made.
        created_at: String,
        /// The wrapped data key.
        enc: String,
    },
    /// HuaweiCloud KMS: `key_id`, `created_at`, `enc`.
    Hckms {
        /// The key id.
        key_id: String,
        /// When the key entry was made.
        created_at: String,
        /// The wrapped data key.
        enc: String,
    },
}

/// The kinds of master key, in the order sops lists them inside a key group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `pgp`
    Pgp,
    /// `kms`
    Kms,
    /// `gcp_kms`
    GcpKms,
    /// `hckms`
    Hckms,
    /// `azure_kv`
    AzureKv,
    /// `hc_vault`
    HcVault,
    /// `age`
    Age,
}

impl KeyKind {
    /// The metadata field name for a list of this kind.
    pub fn field(self) -> &'static str {
        match self {
            KeyKind::Pgp => "pgp",
            KeyKind::Kms => "kms",
            KeyKind::GcpKms => "gcp_kms",
            KeyKind::Hckms => "hckms",
            KeyKind::AzureKv => "azure_kv",
            KeyKind::HcVault => "hc_vault",
            KeyKind::Age => "age",
        }
    }

    const ALL: [KeyKind; 7] = [
        KeyKind::Pgp,
        KeyKind::Kms,
        KeyKind::GcpKms,
        KeyKind::Hckms,
        KeyKind::AzureKv,
        KeyKind::HcVault,
        KeyKind::Age,
    ];
}

impl StoredKey {
    /// The kind of this key.
    pub fn kind(&self) -> KeyKind {
        match self {
            StoredKey::Age { .. } => KeyKind::Age,
            StoredKey::Pgp { .. } => KeyKind::Pgp,
            StoredKey::Kms { .. } => KeyKind::Kms,
            StoredKey::GcpKms { .. } => KeyKind::GcpKms,
            StoredKey::AzureKv { .. } => KeyKind::AzureKv,
            StoredKey::HcVault { .. } => KeyKind::HcVault,
            StoredKey::Hckms { .. } => KeyKind::Hckms,
        }
    }

    /// A short, secret-free description for messages (`age1...`, a fingerprint, an ARN).
    pub fn describe(&self) -> String {
        match self {
            StoredKey::Age { recipient, .. } => format!("age recipient {recipient}"),
            StoredKey::Pgp { fp, .. } => format!("PGP key {fp}"),
            StoredKey::Kms { arn, .. } => format!("AWS KMS key {arn}"),
            StoredKey::GcpKms { resource_id, .. } => format!("GCP KMS key {resource_id}"),
            StoredKey::AzureKv {
                vault_url,
                name,
                version,
                ..
            } => {
                format!("Azure Key Vault key {vault_url}/keys/{name}/{version}")
            }
            StoredKey::HcVault {
                vault_address,
                engine_path,
                key_name,
                ..
            } => {
                format!("Vault transit key {vault_address}/v1/{engine_path}/keys/{key_name}")
            }
            StoredKey::Hckms { key_id, .. } => format!("HuaweiCloud KMS key {key_id}"),
        }
    }

    /// The wrapped data key.
    pub fn enc(&self) -> &str {
        match self {
            StoredKey::Age { enc, .. }
            | StoredKey::Pgp { enc, .. }
            | StoredKey::Kms { enc, .. }
            | StoredKey::GcpKms { enc, .. }
            | StoredKey::AzureKv { enc, .. }
            | StoredKey::HcVault { enc, .. }
            | StoredKey::Hckms { enc, .. } => enc,
        }
    }

    fn to_node(&self) -> Node {
        let mut m = Map::new();
        let s = |v: &str| Node::str(v);
        match self {
            StoredKey::Age { recipient, enc } => {
                m.push("recipient", s(recipient));
                m.push("enc", s(enc));
            }
            StoredKey::Pgp {
                fp,
                created_at,
                enc,
            } => {
                m.push("created_at", s(created_at));
                m.push("enc", s(enc));
                m.push("fp", s(fp));
            }
            StoredKey::Kms {
                arn,
                role,
                context,
                created_at,
                enc,
                aws_profile,
            } => {
                m.push("arn", s(arn));
                if !role.is_empty() {
                    m.push("role", s(role));
                }
                if !context.is_empty() {
                    let mut c = Map::new();
                    // sops marshals the context from a Go map: keys come out sorted.
                    let mut sorted = context.clone();
                    sorted.sort();
                    for (k, v) in sorted {
                        c.push(k, s(&v));
                    }
                    m.push("context", Node::Map(c));
                }
                m.push("created_at", s(created_at));
                m.push("enc", s(enc));
                m.push("aws_profile", s(aws_profile));
            }
            StoredKey::GcpKms {
                resource_id,
                created_at,
                enc,
            } => {
                m.push("resource_id", s(resource_id));
                m.push("created_at", s(created_at));
                m.push("enc", s(enc));
            }
            StoredKey::AzureKv {
                vault_url,
                name,
                version,
                created_at,
                enc,
            } => {
                m.push("vault_url", s(vault_url));
                m.push("name", s(name));
                m.push("version", s(version));
                m.push("created_at", s(created_at));
                m.push("enc", s(enc));
            }
            StoredKey::HcVault {
                vault_address,
                engine_path,
                key_name,
                created_at,
                enc,
            } => {
                m.push("vault_address", s(vault_address));
                m.push("engine_path", s(engine_path));
                m.push("key_name", s(key_name));
                m.push("created_at", s(created_at));
                m.push("enc", s(enc));
            }
            StoredKey::Hckms {
                key_id,
                created_at,
                enc,
            } => {
                m.push("key_id", s(key_id));
                m.push("created_at", s(created_at));
                m.push("enc", s(enc));
            }
        }
        Node::Map(sorted(m))
    }

    fn from_node(kind: KeyKind, node: &Node) -> Result<StoredKey, MetadataError> {
        let map = node.as_map().ok_or_else(|| {
            MetadataError::Invalid(format!("a {} entry is not a mapping", kind.field()))
        })?;
        let get = |field: &str| -> String {
            match map.get(field) {
                Some(Node::Scalar(s)) => scalar_text(s),
                _ => String::new(),
            }
        };
        Ok(match kind {
            KeyKind::Age => StoredKey::Age {
                recipient: get("recipient"),
                enc: get("enc"),
            },
            KeyKind::Pgp => StoredKey::Pgp {
                fp: get("fp"),
                created_at: get("created_at"),
                enc: get("enc"),
            },
            KeyKind::Kms => {
                let mut context = Vec::new();
                if let Some(Node::Map(c)) = map.get("context") {
                    for e in c.entries() {
                        if let Node::Scalar(s) = &e.value {
                            context.push((e.key.clone(), scalar_text(s)));
                        }
                    }
                }
                StoredKey::Kms {
                    arn: get("arn"),
                    role: get("role"),
                    context,
                    created_at: get("created_at"),
                    enc: get("enc"),
                    aws_profile: get("aws_profile"),
                }
            }
            KeyKind::GcpKms => StoredKey::GcpKms {
                resource_id: get("resource_id"),
                created_at: get("created_at"),
                enc: get("enc"),
            },
            KeyKind::AzureKv => StoredKey::AzureKv {
                vault_url: get("vault_url"),
                name: get("name"),
                version: get("version"),
                created_at: get("created_at"),
                enc: get("enc"),
            },
            KeyKind::HcVault => StoredKey::HcVault {
                vault_address: get("vault_address"),
                engine_path: get("engine_path"),
                key_name: get("key_name"),
                created_at: get("created_at"),
                enc: get("enc"),
            },
            KeyKind::Hckms => StoredKey::Hckms {
                key_id: get("key_id"),
                created_at: get("created_at"),
                enc: get("enc"),
            },
        })
    }
}

/// A group of master keys. Without Shamir any key of any group unwraps the data key; with a
/// threshold each group holds one share.
pub type KeyGroup = Vec<StoredKey>;

/// Which values get encrypted, as stored in the metadata. At most one selector is set
/// (sops refuses combinations).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selectors {
    /// `unencrypted_suffix`: keys ending in it (and their subtrees) stay plain.
    pub unencrypted_suffix: Option<String>,
    /// `encrypted_suffix`: only keys ending in it (and their subtrees) are encrypted.
    pub encrypted_suffix: Option<String>,
    /// `unencrypted_regex`: keys matching it (and their subtrees) stay plain.
    pub unencrypted_regex: Option<String>,
    /// `encrypted_regex`: only keys matching it (and their subtrees) are encrypted.
    pub encrypted_regex: Option<String>,
    /// `unencrypted_comment_regex`: values after a matching comment stay plain.
    pub unencrypted_comment_regex: Option<String>,
    /// `encrypted_comment_regex`: only values after a matching comment are encrypted.
    pub encrypted_comment_regex: Option<String>,
    /// `mac_only_encrypted`: the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
}

impl Selectors {
    /// The selector fields in the order sops writes them, with their values.
    pub fn fields(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ]
    }

    /// How many of the six selectors are set.
    pub fn count_set(&self) -> usize {
        self.fields().iter().filter(|(_, v)| v.is_some()).count()
    }
}

/// The typed `sops` metadata of a file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// Key groups; most files have exactly one.
    pub key_groups: Vec<KeyGroup>,
    /// The Shamir threshold (0 when unset).
    pub shamir_threshold: usize,
    /// `lastmodified`, UTC RFC 3339 without fractional seconds; the MAC's additional data.
    pub last_modified: String,
    /// The encrypted MAC (`ENC[...]`), or empty when missing.
    pub mac: String,
    /// Partial-encryption settings.
    pub selectors: Selectors,
    /// The `version` of the writer.
    pub version: String,
}

/// A problem with the metadata block. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// No `sops` metadata in the file (sops exit code 1).
    #[error("sops metadata not found")]
    NotFound,
    /// The metadata is there but malformed.
    #[error("invalid sops metadata: {0}")]
    Invalid(String),
    /// The `version` field is not semver (sops exit code 1).
    #[error("invalid sops metadata version {version:?}: {reason}")]
    BadVersion {
        /// The version as written.
        version: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Null => String::new(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => crate::number::format_float_f(*f),
        Scalar::Str(s) | Scalar::Time(s) => s.clone(),
        Scalar::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Checks `version` the way sops does: strict semver, a leading `v` allowed.
pub fn check_version(version: &str) -> Result<(), MetadataError> {
    let bad = |reason: &str| MetadataError::BadVersion {
        version: version.to_string(),
        reason: reason.to_string(),
    };
    if version.is_empty() {
        return Err(bad("Version string empty"));
    }
    let v = version.strip_prefix('v').unwrap_or(version);
    let core_end = v.find(['-', '+']).unwrap_or(v.len());
    let parts: Vec<&str> = v[..core_end].split('.').collect();
    if parts.len() < 3 {
        return Err(bad("No Major.Minor.Patch elements found"));
    }
    if parts.len() > 3 {
        return Err(bad("Invalid character(s) found in patch number"));
    }
    for (name, part) in ["Major", "Minor", "Patch"].iter().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!(
                "Invalid character(s) found in {} number",
                name.to_lowercase()
            )));
        }
        if part.len() > 1 && part.starts_with('0') {
            return Err(bad(&format!(
                "{name} number must not contain leading zeroes"
            )));
        }
    }
    let suffix = &v[core_end..];
    if !suffix.is_empty() {
        let ids = &suffix[1..];
        let valid = ids
            .split(['.', '+', '-'])
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !valid {
            return Err(bad("Invalid prerelease or build metadata"));
        }
    }
    Ok(())
}

impl Metadata {
    /// The metadata as the nested tree sops 3.13 writes it (YAML, JSON, TOML, binary; the
    /// flat formats flatten this tree). sops 3.13 (PR 2120) builds the block from a map, so
    /// the keys are sorted by name at every level, with the `omitempty` rules of its struct
    /// tags: a key list is written only when it has keys, except `hc_vault` and `age` inside
    /// `key_groups`, written as `[]` when empty; a KMS `role` and `context` only when set;
    /// `shamir_threshold` when above 0; `mac_only_encrypted` when true; `lastmodified`, `mac`
    /// and `version` always. The format does not change the tree any more (sops 3.11 wrote
    /// an empty list as `null` in JSON); the parameter is kept for callers.
    pub fn to_node(&self, _format: Format) -> Node {
        let mut m = Map::new();
        if self.shamir_threshold > 0 {
            m.push(
                "shamir_threshold",
                Node::Scalar(Scalar::Int(self.shamir_threshold as i64)),
            );
        }
        if self.key_groups.len() == 1 {
            for kind in KeyKind::ALL {
                push_key_list(&mut m, &self.key_groups[0], kind, false);
            }
        } else if !self.key_groups.is_empty() {
            let mut groups = Seq::new();
            for group in &self.key_groups {
                groups.push(Node::Map(group_node(group)));
            }
            m.push("key_groups", Node::Seq(groups));
        }
        m.push("lastmodified", Node::str(&self.last_modified));
        m.push("mac", Node::str(&self.mac));
        for (name, value) in self.selectors.fields() {
            if let Some(v) = value {
                m.push(name, Node::str(v));
            }
        }
        if self.selectors.mac_only_encrypted {
            m.push("mac_only_encrypted", Node::Scalar(Scalar::Bool(true)));
        }
        m.push("version", Node::str(&self.version));
        Node::Map(sorted(m))
    }

    /// Reads metadata from its nested tree form.
    pub fn from_node(node: &Node) -> Result<Metadata, MetadataError> {
        let map = node
            .as_map()
            .ok_or_else(|| MetadataError::Invalid("the sops entry is not a mapping".into()))?;
        let text = |field: &str| -> Option<String> {
            match map.get(field) {
                Some(Node::Scalar(Scalar::Null)) | None => None,
                Some(Node::Scalar(s)) => Some(scalar_text(s)),
                Some(_) => Some(String::new()),
            }
        };
        let mut md = Metadata {
            last_modified: text("lastmodified").unwrap_or_default(),
            mac: text("mac").unwrap_or_default(),
            version: text("version").unwrap_or_default(),
            ..Default::default()
        };
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        md.selectors = Selectors {
            unencrypted_suffix: nonempty(text("unencrypted_suffix")),
            encrypted_suffix: nonempty(text("encrypted_suffix")),
            unencrypted_regex: nonempty(text("unencrypted_regex")),
            encrypted_regex: nonempty(text("encrypted_regex")),
            unencrypted_comment_regex: nonempty(text("unencrypted_comment_regex")),
            encrypted_comment_regex: nonempty(text("encrypted_comment_regex")),
            mac_only_encrypted: match map.get("mac_only_encrypted") {
                Some(Node::Scalar(Scalar::Bool(b))) => *b,
                Some(Node::Scalar(Scalar::Str(s))) => s == "true" || s == "True" || s == "1",
                _ => false,
            },
        };
        // As sops's `ToInternal`: a file without a selector (a binary file, which sops
        // encrypts without one) gets the default, written back when the file is rewritten.
        if md.selectors.count_set() == 0 {
            md.selectors.unencrypted_suffix = Some(DEFAULT_UNENCRYPTED_SUFFIX.into());
        }
        md.shamir_threshold = match map.get("shamir_threshold") {
            None | Some(Node::Scalar(Scalar::Null)) => 0,
            Some(Node::Scalar(Scalar::Int(i))) if *i >= 0 => *i as usize,
            Some(Node::Scalar(Scalar::Float(f))) if *f >= 0.0 && f.fract() == 0.0 && *f < 1e9 => {
                *f as usize
            }
            Some(Node::Scalar(Scalar::Str(s))) => s
                .parse()
                .map_err(|_| MetadataError::Invalid("shamir_threshold is not a number".into()))?,
            Some(_) => {
                return Err(MetadataError::Invalid(
                    "shamir_threshold is not a number".into(),
                ))
            }
        };
        match map.get("key_groups") {
            Some(Node::Seq(groups)) if groups.values().next().is_some() => {
                for group in groups.values() {
                    let group = group.as_map().ok_or_else(|| {
                        MetadataError::Invalid("a key group is not a mapping".into())
                    })?;
                    md.key_groups.push(read_group(group)?);
                }
            }
            _ => md.key_groups.push(read_group(map)?),
        }
        Ok(md)
    }

    /// Takes the metadata out of parsed documents, as laid out by `layout`, and returns it.
    /// The `sops` entries are removed from every document.
    pub fn extract(
        docs: &mut [Document],
        layout: MetadataLayout,
    ) -> Result<Metadata, MetadataError> {
        let node = match layout {
            MetadataLayout::Nested => {
                let mut found = None;
                for (i, doc) in docs.iter_mut().enumerate() {
                    if i == 0 && doc.count_key(SOPS_KEY) > 1 {
                        return Err(MetadataError::Invalid("found duplicate sops entry".into()));
                    }
                    if let Some(node) = doc.remove(SOPS_KEY) {
                        if i == 0 {
                            found = Some(node);
                        }
                    }
                }
                let node = found.ok_or(MetadataError::NotFound)?;
                if node.as_map().is_none() {
                    return Err(MetadataError::Invalid(
                        "found sops entry that is not a mapping".into(),
                    ));
                }
                node
            }
            MetadataLayout::FlatSection => {
                let doc = docs.first_mut().ok_or(MetadataError::NotFound)?;
                let section = doc.remove(SOPS_KEY).ok_or(MetadataError::NotFound)?;
                let section = match section {
                    Node::Map(m) => m,
                    _ => {
                        return Err(MetadataError::Invalid(
                            "the [sops] section is not a section".into(),
                        ))
                    }
                };
                unflatten(section.entries().map(|e| (e.key.as_str(), &e.value)))?
            }
            MetadataLayout::FlatPrefixed => {
                let doc = docs.first_mut().ok_or(MetadataError::NotFound)?;
                let mut flat = Vec::new();
                doc.items.retain(|item| match item {
                    MapItem::Entry(e) if e.key.starts_with(FLAT_PREFIX) => {
                        flat.push((e.key[FLAT_PREFIX.len()..].to_string(), e.value.clone()));
                        false
                    }
                    _ => true,
                });
                if flat.is_empty() {
                    return Err(MetadataError::NotFound);
                }
                unflatten(flat.iter().map(|(k, v)| (k.as_str(), v)))?
            }
        };
        Metadata::from_node(&node)
    }

    /// The entries that hold the metadata in `format`, and whether every document gets them:
    /// one `sops` entry holding a nested map, for every document (nested formats); one `sops`
    /// entry holding the flat `[sops]` section, or the flat `sops_` keys (dotenv), for the
    /// first document only. [`Metadata::insert`] appends them; emitters can write them after
    /// the documents without copying the tree (see [`crate::format::Trailer`]).
    pub fn entries(&self, format: Format) -> (Vec<Entry>, bool) {
        match format.metadata_layout() {
            MetadataLayout::Nested => (
                vec![Entry {
                    key: SOPS_KEY.to_string(),
                    value: self.to_node(format),
                }],
                true,
            ),
            MetadataLayout::FlatSection => {
                let mut section = Map::new();
                for (k, v) in flatten(&self.to_node(format)) {
                    section.push(k, Node::str(v));
                }
                (
                    vec![Entry {
                        key: SOPS_KEY.to_string(),
                        value: Node::Map(section),
                    }],
                    false,
                )
            }
            MetadataLayout::FlatPrefixed => (
                flatten(&self.to_node(format))
                    .into_iter()
                    .map(|(k, v)| Entry {
                        key: format!("{FLAT_PREFIX}{k}"),
                        value: Node::str(v),
                    })
                    .collect(),
                false,
            ),
        }
    }

    /// Inserts the metadata into documents for `format`: a `sops` entry at the end of every
    /// document (nested formats), a `[sops]` section, or `sops_` keys (dotenv), as given by
    /// [`Metadata::entries`].
    pub fn insert(&self, docs: &mut [Document], format: Format) {
        let (entries, every_document) = self.entries(format);
        Trailer {
            entries: &entries,
            every_document,
        }
        .append_to(docs);
    }
}

/// Sorts a map's entries by key (byte order), as Go's `sort.Strings` orders the keys of the
/// maps sops 3.13 builds its metadata from.
fn sorted(mut m: Map) -> Map {
    m.items.sort_by(|a, b| match (a, b) {
        (MapItem::Entry(a), MapItem::Entry(b)) => a.key.cmp(&b.key),
        _ => std::cmp::Ordering::Equal,
    });
    m
}

fn push_key_list(m: &mut Map, group: &KeyGroup, kind: KeyKind, always: bool) {
    let mut list = Seq::new();
    for key in group.iter().filter(|k| k.kind() == kind) {
        list.push(key.to_node());
    }
    if !list.items.is_empty() || always {
        // sops 3.13 turns a nil slice into an empty list: `[]` in YAML and JSON alike.
        m.push(kind.field(), Node::Seq(list));
    }
}

fn group_node(group: &KeyGroup) -> Map {
    // Inside key_groups, `hc_vault` and `age` have no `omitempty`: always written.
    let mut m = Map::new();
    for kind in KeyKind::ALL {
        let always = matches!(kind, KeyKind::HcVault | KeyKind::Age);
        push_key_list(&mut m, group, kind, always);
    }
    sorted(m)
}

fn read_group(map: &Map) -> Result<KeyGroup, MetadataError> {
    let mut group = Vec::new();
    // Read in sops's serialization order so rewriting keeps each kind's order.
    for kind in KeyKind::ALL {
        if let Some(Node::Seq(list)) = map.get(kind.field()) {
            for item in list.values() {
                group.push(StoredKey::from_node(kind, item)?);
            }
        }
    }
    Ok(group)
}

const MAP_SEP: &str = "__map_";
const LIST_SEP: &str = "__list_";
/// How deep a flattened metadata key may nest.
const MAX_FLAT_DEPTH: usize = 32;

/// Flattens nested metadata into `(key, value)` pairs in the tree's order (depth first, which
/// for the sorted tree of [`Metadata::to_node`] is the order sops 3.13 writes), as sops writes
/// them in dotenv and INI files: nesting as `__map_<key>` / `__list_<i>`, newlines as `\n`,
/// numbers and booleans as text, nulls and empty lists left out.
pub fn flatten(node: &Node) -> Vec<(String, String)> {
    fn walk(prefix: String, node: &Node, out: &mut Vec<(String, String)>) {
        match node {
            Node::Map(m) => {
                for e in m.entries() {
                    let key = if prefix.is_empty() {
                        e.key.clone()
                    } else {
                        format!("{prefix}{MAP_SEP}{}", e.key)
                    };
                    walk(key, &e.value, out);
                }
            }
            Node::Seq(s) => {
                for (i, v) in s.values().enumerate() {
                    walk(format!("{prefix}{LIST_SEP}{i}"), v, out);
                }
            }
            Node::Scalar(Scalar::Null) => {}
            Node::Scalar(s) => out.push((prefix, scalar_text(s).replace('\n', "\\n"))),
        }
    }
    let mut out = Vec::new();
    walk(String::new(), node, &mut out);
    out
}

/// Rebuilds nested metadata from flattened `(key, value)` pairs (any order).
pub fn unflatten<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a Node)>,
) -> Result<Node, MetadataError> {
    enum Step {
        Key(String),
        Index(usize),
    }
    fn tokenize(key: &str) -> Result<Vec<Step>, MetadataError> {
        let mut steps = Vec::new();
        let mut rest = key;
        let next_sep = |s: &str| -> Option<(usize, bool)> {
            let m = s.find(MAP_SEP);
            let l = s.find(LIST_SEP);
            match (m, l) {
                (Some(a), Some(b)) => Some(if a < b { (a, true) } else { (b, false) }),
                (Some(a), None) => Some((a, true)),
                (None, Some(b)) => Some((b, false)),
                (None, None) => None,
            }
        };
        let (first_end, mut is_map) = next_sep(rest).unwrap_or((rest.len(), true));
        steps.push(Step::Key(rest[..first_end].to_string()));
        rest = &rest[first_end..];
        while !rest.is_empty() {
            // Real metadata nests four levels at most; bound it so a hostile key cannot
            // recurse deeply (and so the separator scans stay linear).
            if steps.len() >= MAX_FLAT_DEPTH {
                return Err(MetadataError::Invalid(format!(
                    "metadata key nests deeper than {MAX_FLAT_DEPTH} levels"
                )));
            }
            let sep_len = if is_map {
                MAP_SEP.len()
            } else {
                LIST_SEP.len()
            };
            rest = &rest[sep_len..];
            let (end, next_is_map) = next_sep(rest).unwrap_or((rest.len(), true));
            let token = &rest[..end];
            if is_map {
                steps.push(Step::Key(token.to_string()));
            } else {
                let index: usize = token.parse().map_err(|_| {
                    MetadataError::Invalid(format!("bad list index in metadata key {key:?}"))
                })?;
                if index > 10_000 {
                    return Err(MetadataError::Invalid(format!(
                        "list index too large in metadata key {key:?}"
                    )));
                }
                steps.push(Step::Index(index));
            }
            rest = &rest[end..];
            is_map = next_is_map;
        }
        Ok(steps)
    }
    fn place(node: &mut Node, steps: &[Step], value: &Node) -> Result<(), MetadataError> {
        let Some((step, rest)) = steps.split_first() else {
            *node = value.clone();
            return Ok(());
        };
        let fresh = |next: Option<&Step>| match next {
            Some(Step::Index(_)) => Node::Seq(Seq::new()),
            _ => Node::Map(Map::new()),
        };
        match step {
            Step::Key(k) => {
                let Node::Map(m) = node else {
                    return Err(MetadataError::Invalid(
                        "inconsistent flattened metadata".into(),
                    ));
                };
                if m.get(k).is_none() {
                    let child = if rest.is_empty() {
                        value.clone()
                    } else {
                        fresh(rest.first())
                    };
                    m.push(k.clone(), child);
                }
                let child = m.get_mut(k).expect("just inserted");
                if rest.is_empty() {
                    *child = value.clone();
                    Ok(())
                } else {
                    place(child, rest, value)
                }
            }
            Step::Index(i) => {
                let Node::Seq(s) = node else {
                    return Err(MetadataError::Invalid(
                        "inconsistent flattened metadata".into(),
                    ));
                };
                while s.items.len() <= *i {
                    s.items.push(SeqItem::Node(fresh(rest.first())));
                }
                let SeqItem::Node(child) = &mut s.items[*i] else {
                    unreachable!()
                };
                place(child, rest, value)
            }
        }
    }
    let mut root = Node::Map(Map::new());
    for (key, value) in pairs {
        let value = match value {
            Node::Scalar(Scalar::Str(s)) => Node::str(s.replace("\\n", "\n")),
            other => other.clone(),
        };
        place(&mut root, &tokenize(key)?, &value)?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        Metadata {
            key_groups: vec![vec![StoredKey::Age {
                recipient: "age1abc".into(),
                enc: "-----BEGIN\nx\n-----END\n".into(),
            }]],
            shamir_threshold: 0,
            last_modified: "2026-11-23T08:47:46Z".into(),
            mac: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]".into(),
            selectors: Selectors {
                unencrypted_suffix: Some("_unencrypted".into()),
                ..Default::default()
            },
            version: "3.11.0".into(),
        }
    }

    #[test]
    fn nested_round_trip_and_order() {
        let md = sample();
        let node = md.to_node(Format::Yaml);
        let keys: Vec<_> = node
            .as_map()
            .unwrap()
            .entries()
            .map(|e| e.key.clone())
            .collect();
        assert_eq!(
            keys,
            [
                "age",
                "lastmodified",
                "mac",
                "unencrypted_suffix",
                "version"
            ]
        );
        assert_eq!(Metadata::from_node(&node).unwrap(), md);
    }

    #[test]
    fn flat_round_trip() {
        let mut md = sample();
        md.key_groups.push(vec![StoredKey::Pgp {
            fp: "FP".into(),
            created_at: "t".into(),
            enc: "e\nf".into(),
        }]);
        md.shamir_threshold = 2;
        let flat = flatten(&md.to_node(Format::Dotenv));
        assert!(
            flat.iter()
                .any(|(k, v)| k == "key_groups__list_0__map_age__list_0__map_enc"
                    && v.contains("\\n"))
        );
        assert!(flat
            .iter()
            .any(|(k, v)| k == "shamir_threshold" && v == "2"));
        let nodes: Vec<(String, Node)> = flat.into_iter().map(|(k, v)| (k, Node::str(v))).collect();
        let back = unflatten(nodes.iter().map(|(k, v)| (k.as_str(), v))).unwrap();
        assert_eq!(Metadata::from_node(&back).unwrap(), md);
    }

    /// Two key groups with every optional field of a KMS entry: the layout sops 3.13 writes
    /// (PR 2120, `stores/metadata.go`): keys sorted by name at every level, `hc_vault` and
    /// `age` kept in every group even when empty, KMS `role` left out when empty and
    /// `aws_profile` written even when empty, flattened depth first in that order.
    fn two_groups() -> Metadata {
        Metadata {
            key_groups: vec![
                vec![
                    StoredKey::Pgp {
                        fp: "FP".into(),
                        created_at: "t1".into(),
                        enc: "p".into(),
                    },
                    StoredKey::Kms {
                        arn: "arn:aws:kms:eu-west-1:1:key/k".into(),
                        role: String::new(),
                        context: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
                        created_at: "t2".into(),
                        enc: "k".into(),
                        aws_profile: String::new(),
                    },
                ],
                vec![StoredKey::Age {
                    recipient: "age1x".into(),
                    enc: "a".into(),
                }],
            ],
            shamir_threshold: 2,
            last_modified: "2026-11-23T08:47:46Z".into(),
            mac: "ENC[x]".into(),
            selectors: Selectors {
                mac_only_encrypted: true,
                ..Default::default()
            },
            version: WRITER_VERSION.into(),
        }
    }

    #[test]
    fn layout_of_sops_3_13() {
        let md = two_groups();
        let keys: Vec<String> = flatten(&md.to_node(Format::Ini))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let g0 = "key_groups__list_0__map_";
        let expected: Vec<String> = [
            format!("{g0}kms__list_0__map_arn"),
            format!("{g0}kms__list_0__map_aws_profile"),
            format!("{g0}kms__list_0__map_context__map_a"),
            format!("{g0}kms__list_0__map_context__map_b"),
            format!("{g0}kms__list_0__map_created_at"),
            format!("{g0}kms__list_0__map_enc"),
            format!("{g0}pgp__list_0__map_created_at"),
            format!("{g0}pgp__list_0__map_enc"),
            format!("{g0}pgp__list_0__map_fp"),
            "key_groups__list_1__map_age__list_0__map_enc".into(),
            "key_groups__list_1__map_age__list_0__map_recipient".into(),
            "lastmodified".into(),
            "mac".into(),
            "mac_only_encrypted".into(),
            "shamir_threshold".into(),
            "version".into(),
        ]
        .into();
        assert_eq!(keys, expected);
        // Nested: empty `hc_vault` and `age` lists stay, as `[]` in every format.
        let node = md.to_node(Format::Json);
        let groups = node.as_map().unwrap().get("key_groups").unwrap();
        let Node::Seq(groups) = groups else { panic!() };
        let first = groups.values().next().unwrap().as_map().unwrap();
        let names: Vec<&str> = first.entries().map(|e| e.key.as_str()).collect();
        assert_eq!(names, ["age", "hc_vault", "kms", "pgp"]);
        assert_eq!(first.get("age"), Some(&Node::Seq(Seq::new())));
        let out = crate::format::Codec::emit_value(
            &crate::format::json::Json,
            &node,
            &Default::default(),
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("\"hc_vault\": []"), "{out}");
        assert!(!out.contains("null"), "{out}");
        let back = Metadata::from_node(&node).unwrap();
        assert_eq!(back.key_groups, md.key_groups);
        // Without a selector, reading gives the default one, as sops's `ToInternal` does.
        assert_eq!(
            back.selectors.unencrypted_suffix.as_deref(),
            Some(DEFAULT_UNENCRYPTED_SUFFIX)
        );
    }

    /// List indices of ten and more come after nine, as sops's depth-first flattening writes
    /// them (a plain string sort would put `10` before `2`).
    #[test]
    fn flattened_in_tree_order() {
        let mut md = sample();
        md.key_groups[0] = (0..11)
            .map(|i| StoredKey::Age {
                recipient: format!("age1{i}"),
                enc: "e".into(),
            })
            .collect();
        let keys: Vec<String> = flatten(&md.to_node(Format::Dotenv))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys[18], "age__list_9__map_enc");
        assert_eq!(keys[20], "age__list_10__map_enc");
    }

    /// A file written by sops 3.11 (struct order) reads the same as its sorted rewrite.
    #[test]
    fn reads_3_11_order() {
        let mut old = Map::new();
        let mut age = Map::new();
        age.push("recipient", Node::str("age1x"));
        age.push("enc", Node::str("a"));
        let mut list = Seq::new();
        list.push(Node::Map(age));
        old.push("age", Node::Seq(list));
        old.push("lastmodified", Node::str("2026-11-23T08:47:46Z"));
        old.push("mac", Node::str("ENC[x]"));
        old.push("unencrypted_suffix", Node::str("_unencrypted"));
        old.push("version", Node::str("3.11.0"));
        let md = Metadata::from_node(&Node::Map(old)).unwrap();
        assert_eq!(md.key_groups[0][0].enc(), "a");
        let again = Metadata::from_node(&md.to_node(Format::Yaml)).unwrap();
        assert_eq!(again, md);
    }

    #[test]
    fn versions_like_sops() {
        for ok in [
            "3.11.0",
            "3.11.0-dev",
            "2.0.0",
            "0.1.0",
            "v3.11.0",
            "3.11.0+build",
            "99.0.0",
        ] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", "3.11", "3.1", "abc", "3.11.0.1", "03.11.0"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}
