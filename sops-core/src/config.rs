//! The `.sops.yaml` configuration file: where it is found, creation rules, key groups and store
//! settings, read the way sops 3.11 reads them.
//!
//! sops looks for `.sops.yaml` in the working directory and then in each parent, up to 100
//! levels (`.sops.yml` is only warned about); `--config` / `SOPS_CONFIG` name it explicitly.
//! When encrypting, the first creation rule whose `path_regex` matches the file wins. The regex
//! is an unanchored search on the file's absolute path with the config file's directory (and
//! the separator after it) removed from the front; a rule without `path_regex` matches every
//! file. Field types are checked as Go's yaml.v3 decodes them into sops's structs: a wrong type
//! anywhere fails the whole file, while the key lists of a rule (a string with commas, or a
//! list of strings) are only checked when that rule is used, as in sops.
//!
//! The file is parsed with our own YAML codec ([`crate::format::yaml`]) into a tree, which this
//! module then reads.

use std::path::{Component, Path, PathBuf};

use crate::error::exit_code;
use crate::format::{Codec, FormatError};
use crate::keys::age::AgeRecipient;
use crate::keys::kms::KmsKey;
use crate::keys::pgp::PgpRecipient;
use crate::keys::{KeyError, Recipient};
use crate::metadata::Selectors;
use crate::tree::{Map, Node, Scalar};

/// The config file name sops looks for.
pub const CONFIG_FILE_NAME: &str = ".sops.yaml";
/// A name people use by mistake; sops only warns about it.
pub const ALTERNATE_CONFIG_NAME: &str = ".sops.yml";
/// How many directories upwards sops looks.
pub const MAX_DEPTH: usize = 100;

/// A problem with the config file or with the rule for a file. Every one exits with code 1,
/// as in sops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("could not read config file: open {path}: {reason}")]
    Read {
        /// The path as given or found.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not valid YAML, or a field has the wrong type.
    #[error("error loading config: Could not unmarshal config file {path}: {reason}")]
    Parse {
        /// The config file.
        path: String,
        /// What is wrong, with the line or the field path.
        reason: String,
    },
    /// The file has creation rules but none matches the file.
    #[error("error loading config: no matching creation rules found")]
    NoMatchingRule,
    /// `sops publish`: no destination rule matches the file.
    #[error("error loading config: no matching destination found in config")]
    NoMatchingDestination,
    /// `sops publish`: a destination rule names more than one of S3, GCS and Vault.
    #[error("error loading config: more than one destinations were found in a single destination rule, you can only use one per rule")]
    SeveralDestinations,
    /// A `path_regex` does not compile.
    #[error("can not compile regexp: {0}")]
    BadRegex(String),
    /// A rule sets more than one partial-encryption selector.
    #[error("error loading config: cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex for the same rule")]
    RuleSelectors,
    /// A key list of the rule has the wrong shape.
    #[error("invalid {kind} key configuration: {reason}")]
    KeyField {
        /// The key type as sops names it in this message.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A key of the rule is invalid (an unparsable age recipient, ...).
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl ConfigError {
    /// The exit code sops uses: configuration problems are generic errors (1).
    pub fn exit_code(&self) -> i32 {
        exit_code::ERROR_GENERIC
    }
}

/// The result of looking for a config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    /// The config file found, relative to the starting directory as sops reports it.
    pub path: Option<PathBuf>,
    /// A warning about a `.sops.yml` that was seen and ignored.
    pub warning: Option<String>,
}

/// Looks for `.sops.yaml` in `start` and its parents (up to [`MAX_DEPTH`] levels), as sops
/// does from the working directory (`start` = `.`). A `.sops.yml` is not used, only warned
/// about.
pub fn lookup_config_file(start: &Path) -> Lookup {
    let mut dir = start.to_path_buf();
    let mut alternate: Option<PathBuf> = None;
    // Past the file system root every further `..` names the root again: stop there.
    let levels = std::fs::canonicalize(start)
        .map(|abs| abs.components().count())
        .unwrap_or(MAX_DEPTH)
        .clamp(1, MAX_DEPTH);
    for _ in 0..levels {
        let candidate = clean(&dir.join(CONFIG_FILE_NAME));
        if candidate.exists() {
            let warning = alternate.map(|alt| {
                format!(
                    "ignoring {:?} when searching for config file; the config file must be called {:?}; using {:?} instead",
                    alt.display().to_string(),
                    CONFIG_FILE_NAME,
                    candidate.display().to_string()
                )
            });
            return Lookup {
                path: Some(candidate),
                warning,
            };
        }
        if alternate.is_none() {
            let alt = clean(&dir.join(ALTERNATE_CONFIG_NAME));
            if alt.exists() {
                alternate = Some(alt);
            }
        }
        dir.push("..");
    }
    Lookup {
        path: None,
        warning: alternate.map(|alt| {
            format!(
                "ignoring {:?} when searching for config file; the config file must be called {:?}",
                alt.display().to_string(),
                CONFIG_FILE_NAME
            )
        }),
    }
}

/// Cleans a path lexically as Go's `filepath.Clean` does: `.` removed, `..` folded where a
/// parent is known, never touching the file system.
pub fn clean(path: &Path) -> PathBuf {
    let mut parts: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => parts.push(c),
            },
            other => parts.push(other),
        }
    }
    let out: PathBuf = parts.iter().collect();
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// The absolute form of `path` as Go's `filepath.Abs` computes it: joined to the working
/// directory (`$PWD` when it names the working directory, as Go's `os.Getwd` prefers) and
/// cleaned lexically, without resolving symbolic links.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return clean(path);
    }
    clean(&working_dir().join(path))
}

fn working_dir() -> PathBuf {
    let real = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    if let Some(pwd) = std::env::var_os("PWD").map(PathBuf::from) {
        if pwd.is_absolute() && same_file(&pwd, &real) {
            return pwd;
        }
    }
    real
}

#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
}

/// One master key named by a rule or by the command line, before it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    /// An age recipient (`age1...` or an SSH public key).
    Age(String),
    /// A PGP fingerprint (spaces removed).
    Pgp(String),
    /// An AWS KMS key.
    Kms {
        /// The key ARN.
        arn: String,
        /// A role to assume (empty when none).
        role: String,
        /// The encryption context.
        context: Vec<(String, String)>,
        /// The AWS profile (empty when none).
        aws_profile: String,
    },
    /// A GCP KMS resource id.
    GcpKms(String),
    /// An Azure Key Vault key.
    AzureKv {
        /// The vault URL.
        vault_url: String,
        /// The key name.
        key: String,
        /// The key version (empty for the latest).
        version: String,
    },
    /// A HashiCorp Vault transit URI.
    HcVault(String),
    /// A HuaweiCloud KMS key id.
    Hckms(String),
}

impl KeySpec {
    /// The key as sops names it (`ToString`), used to drop duplicates within a group.
    pub fn name(&self) -> String {
        match self {
            KeySpec::Age(s) | KeySpec::Pgp(s) | KeySpec::GcpKms(s) | KeySpec::HcVault(s) => {
                s.clone()
            }
            KeySpec::Hckms(s) => s.clone(),
            KeySpec::Kms {
                arn,
                role,
                context,
                aws_profile,
            } => crate::keys::kms::display_name(arn, role, context, aws_profile),
            KeySpec::AzureKv {
                vault_url,
                key,
                version,
            } => format!("{vault_url}/keys/{key}/{version}"),
        }
    }

    fn kind_rank(&self) -> u8 {
        match self {
            KeySpec::Age(_) => 0,
            KeySpec::Pgp(_) => 1,
            KeySpec::Kms { .. } => 2,
            KeySpec::GcpKms(_) => 3,
            KeySpec::AzureKv { .. } => 4,
            KeySpec::HcVault(_) => 5,
            KeySpec::Hckms(_) => 6,
        }
    }

    /// The recipient that wraps data keys for this key. Key types this build cannot use yet
    /// give [`KeyError::Unsupported`].
    pub fn recipient(&self) -> Result<Box<dyn Recipient>, KeyError> {
        match self {
            KeySpec::Age(r) => Ok(Box::new(AgeRecipient::parse(r)?)),
            KeySpec::Pgp(fp) => Ok(Box::new(PgpRecipient::new(fp))),
            #[cfg(feature = "aws-kms")]
            KeySpec::Kms {
                arn,
                role,
                context,
                aws_profile,
            } => Ok(Box::new(crate::keys::kms::KmsKey {
                arn: arn.clone(),
                role: role.clone(),
                context: crate::keys::kms::normalize_context(context),
                aws_profile: aws_profile.clone(),
            })),
            #[cfg(not(feature = "aws-kms"))]
            KeySpec::Kms { .. } => Err(KeyError::Unsupported("AWS KMS")),
            #[cfg(feature = "gcp-kms")]
            KeySpec::GcpKms(id) => Ok(Box::new(crate::keys::gcp_kms::GcpKmsKey::new(id))),
            #[cfg(not(feature = "gcp-kms"))]
            KeySpec::GcpKms(_) => Err(KeyError::Unsupported("GCP KMS")),
            #[cfg(feature = "azure-kv")]
            KeySpec::AzureKv {
                vault_url,
                key,
                version,
            } => Ok(Box::new(crate::keys::azure_kv::AzureKey::new(
                vault_url, key, version,
            ))),
            #[cfg(not(feature = "azure-kv"))]
            KeySpec::AzureKv { .. } => Err(KeyError::Unsupported("Azure Key Vault")),
            #[cfg(feature = "hc-vault")]
            KeySpec::HcVault(uri) => Ok(Box::new(crate::keys::hc_vault::VaultKey::parse(uri)?)),
            #[cfg(not(feature = "hc-vault"))]
            KeySpec::HcVault(_) => Err(KeyError::Unsupported("HashiCorp Vault transit")),
            #[cfg(feature = "hckms")]
            KeySpec::Hckms(id) => Ok(Box::new(crate::keys::hckms::HckmsKey::parse(id)?)),
            #[cfg(not(feature = "hckms"))]
            KeySpec::Hckms(_) => Err(KeyError::Unsupported("HuaweiCloud KMS")),
        }
    }
}

/// Turns key groups of [`KeySpec`]s into recipients, failing on the first key that cannot be
/// used.
pub fn recipients(groups: &[Vec<KeySpec>]) -> Result<Vec<Vec<Box<dyn Recipient>>>, KeyError> {
    groups
        .iter()
        .map(|g| g.iter().map(recipient_of).collect())
        .collect()
}

/// The recipient for one key: through the installed key services when there are any
/// (`--keyservice`, `--enable-local-keyservice=false`), else the local key.
fn recipient_of(spec: &KeySpec) -> Result<Box<dyn Recipient>, KeyError> {
    #[cfg(feature = "keyservice")]
    return crate::keyservice::recipient_for(spec);
    #[cfg(not(feature = "keyservice"))]
    spec.recipient()
}

/// Splits a comma-separated list of PGP fingerprints as sops does (spaces removed).
pub fn pgp_fingerprints(list: &str) -> Vec<String> {
    if list.is_empty() {
        return Vec::new();
    }
    list.split(',').map(|s| s.replace(' ', "")).collect()
}

/// A key list of a rule that is either a comma-separated string or a list of strings; its
/// shape is only checked when the rule is used (`Err` holds the problem).
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyField(Result<Vec<String>, String>);

impl Default for KeyField {
    fn default() -> Self {
        KeyField(Ok(Vec::new()))
    }
}

/// A `kms` entry of a key group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KmsKeySpec {
    /// `arn`
    pub arn: String,
    /// `role`
    pub role: String,
    /// `context`
    pub context: Vec<(String, String)>,
    /// `aws_profile`
    pub aws_profile: String,
}

/// An `azure_keyvault` entry of a key group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AzureKeySpec {
    /// `vaultUrl`
    pub vault_url: String,
    /// `key`
    pub key: String,
    /// `version`
    pub version: String,
}

/// A key group of a rule, as written (`merge` lets a group include other groups).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyGroupSpec {
    /// `merge`: groups whose keys are added first.
    pub merge: Vec<KeyGroupSpec>,
    /// `kms`
    pub kms: Vec<KmsKeySpec>,
    /// `gcp_kms` (`resource_id` of each entry).
    pub gcp_kms: Vec<String>,
    /// `azure_keyvault`
    pub azure_keyvault: Vec<AzureKeySpec>,
    /// `hc_vault`: transit URIs.
    pub hc_vault: Vec<String>,
    /// `age`: recipients (each may hold several, comma-separated).
    pub age: Vec<String>,
    /// `pgp`: fingerprints.
    pub pgp: Vec<String>,
    /// `hckms` (`key_id` of each entry; newer sops versions).
    pub hckms: Vec<String>,
}

/// One entry of `creation_rules`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreationRule {
    /// `path_regex` (empty: matches every file).
    pub path_regex: String,
    kms: KeyField,
    /// `aws_profile` for the rule's `kms` keys.
    pub aws_profile: String,
    age: KeyField,
    pgp: KeyField,
    gcp_kms: KeyField,
    azure_keyvault: KeyField,
    hc_vault_transit_uri: KeyField,
    hckms: KeyField,
    /// `key_groups`; when present the flat key lists are ignored.
    pub key_groups: Vec<KeyGroupSpec>,
    /// `shamir_threshold` (0: all groups).
    pub shamir_threshold: i64,
    /// The partial-encryption settings of the rule.
    pub selectors: Selectors,
    /// `toml_per_value` (ours): encrypt new `.toml` files with our TOML store.
    pub toml_per_value: bool,
}

/// One entry of `destination_rules`: where `sops publish` uploads the files it matches, and
/// the keys (`recreation_rule`) the uploaded copy is encrypted for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DestinationRule {
    /// `path_regex`, matched (unanchored) against the path as given on the command line or
    /// found by `--recursive`; empty matches every file.
    pub path_regex: String,
    /// `s3_bucket`
    pub s3_bucket: String,
    /// `s3_prefix`, put in front of the object name as is.
    pub s3_prefix: String,
    /// `gcs_bucket`
    pub gcs_bucket: String,
    /// `gcs_prefix`, put in front of the object name as is.
    pub gcs_prefix: String,
    /// `vault_path`: the secret path below the KV mount.
    pub vault_path: String,
    /// `vault_address` (empty: `VAULT_ADDR`, else `https://127.0.0.1:8200`).
    pub vault_address: String,
    /// `vault_kv_mount_name` (empty: `secret/`).
    pub vault_kv_mount_name: String,
    /// `vault_kv_version`: 1, else 2.
    pub vault_kv_version: i64,
    /// `recreation_rule`: the keys and settings of the re-encrypted copy (S3 and GCS).
    pub recreation_rule: CreationRule,
    /// `omit_extensions`: strip the file's extension from the destination name.
    pub omit_extensions: bool,
}

impl DestinationRule {
    /// How many of `s3_bucket`, `gcs_bucket` and `vault_path` are set (sops allows one).
    pub fn destination_count(&self) -> usize {
        [&self.s3_bucket, &self.gcs_bucket, &self.vault_path]
            .iter()
            .filter(|v| !v.is_empty())
            .count()
    }
}

/// The `stores` section: output indentation per format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoresConfig {
    /// `stores.yaml.indent` (0: the default, 4).
    pub yaml_indent: i64,
    /// `stores.json.indent` (-1: the default, a tab).
    pub json_indent: i64,
    /// `stores.json_binary.indent` (-1: the default, a tab).
    pub json_binary_indent: i64,
}

impl Default for StoresConfig {
    fn default() -> Self {
        StoresConfig {
            yaml_indent: 0,
            json_indent: -1,
            json_binary_indent: -1,
        }
    }
}

impl StoresConfig {
    /// The indentation for output in `format`, or `None` for the format's default.
    pub fn indent_for(&self, format: crate::format::Format) -> Option<usize> {
        use crate::format::Format;
        let (value, default_when) = match format {
            Format::Yaml => (self.yaml_indent, 0),
            Format::Json => (self.json_indent, -1),
            Format::Binary => (self.json_binary_indent, -1),
            _ => return None,
        };
        if value == default_when {
            return None;
        }
        usize::try_from(value).ok()
    }
}

/// A parsed config file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    /// `creation_rules`: `None` when the key is absent or null (sops then behaves as if there
    /// were no config file), `Some(empty)` for an empty list.
    pub creation_rules: Option<Vec<CreationRule>>,
    /// `destination_rules`, for `sops publish`.
    pub destination_rules: Vec<DestinationRule>,
    /// The `stores` settings.
    pub stores: StoresConfig,
}

/// What a creation rule gives a file: key groups, threshold and selectors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleConfig {
    /// Key groups of keys to encrypt for.
    pub key_groups: Vec<Vec<KeySpec>>,
    /// The Shamir threshold (0: unset).
    pub shamir_threshold: usize,
    /// Partial-encryption settings.
    pub selectors: Selectors,
    /// `toml_per_value: true` (ours; Go sops ignores it): a new `.toml` file is encrypted
    /// value by value with our TOML store instead of as a binary file like sops does.
    pub toml_per_value: bool,
}

impl Config {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: io_reason(&e),
        })?;
        let mut config = Config::parse(&bytes, &path.display().to_string())?;
        config.path = path.to_path_buf();
        Ok(config)
    }

    /// Parses config file bytes; `name` is used in messages.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Config, ConfigError> {
        let perr = |reason: String| ConfigError::Parse {
            path: name.to_string(),
            reason,
        };
        // An empty file (or only comments) is a config without rules, as yaml.v3 decodes it.
        let blank = String::from_utf8_lossy(bytes).lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
        });
        if blank {
            return Ok(Config::default());
        }
        let docs = match crate::format::yaml::Yaml.parse_plain(bytes) {
            Ok(docs) => docs,
            Err(FormatError::EmptyYaml) => Vec::new(),
            Err(e) => return Err(perr(e.to_string())),
        };
        match docs.into_iter().next() {
            Some(doc) => {
                let doc = resolve_merge_keys(doc, 0).map_err(perr)?;
                Config::from_tree(&doc).map_err(perr)
            }
            None => Ok(Config::default()),
        }
    }

    /// Reads a config from its parsed YAML tree. The error is a message naming the field.
    pub fn from_tree(doc: &Map) -> Result<Config, String> {
        let mut config = Config::default();
        if let Some(node) = doc.get("creation_rules") {
            config.creation_rules = match node {
                Node::Scalar(Scalar::Null) => None,
                Node::Seq(seq) => {
                    let mut rules = Vec::new();
                    for (i, item) in seq.values().enumerate() {
                        rules.push(read_rule(item, &format!("creation_rules[{i}]"))?);
                    }
                    Some(rules)
                }
                other => return Err(mismatch(other, "[]config.creationRule", "creation_rules")),
            };
        }
        if let Some(node) = doc.get("destination_rules") {
            match node {
                Node::Scalar(Scalar::Null) => {}
                Node::Seq(seq) => {
                    for (i, item) in seq.values().enumerate() {
                        config.destination_rules.push(read_destination_rule(
                            item,
                            &format!("destination_rules[{i}]"),
                        )?);
                    }
                }
                other => {
                    return Err(mismatch(
                        other,
                        "[]config.destinationRule",
                        "destination_rules",
                    ))
                }
            }
        }
        if let Some(node) = doc.get("stores") {
            let stores = as_struct(node, "stores")?;
            let indent = |store: &str| -> Result<Option<i64>, String> {
                let Some(map) = stores.and_then(|s| s.get(store)) else {
                    return Ok(None);
                };
                let path = format!("stores.{store}");
                match as_struct(map, &path)?.and_then(|m| m.get("indent")) {
                    Some(v) => Ok(Some(as_int(v, &format!("{path}.indent"))?)),
                    None => Ok(None),
                }
            };
            if let Some(v) = indent("yaml")? {
                config.stores.yaml_indent = v;
            }
            if let Some(v) = indent("json")? {
                config.stores.json_indent = v;
            }
            if let Some(v) = indent("json_binary")? {
                config.stores.json_binary_indent = v;
            }
        }
        Ok(config)
    }

    /// The creation rule for `file` (an absolute path, or the `--filename-override` name made
    /// absolute). `Ok(None)` when the config has no `creation_rules` at all.
    pub fn rule_for(&self, file: &Path) -> Result<Option<RuleConfig>, ConfigError> {
        self.rule_for_with_context(file, &[])
    }

    /// Like [`Config::rule_for`], giving the rule's flat `kms` keys this encryption context
    /// (`--encryption-context`), as sops does; `kms` entries of key groups keep their own.
    pub fn rule_for_with_context(
        &self,
        file: &Path,
        kms_context: &[(String, String)],
    ) -> Result<Option<RuleConfig>, ConfigError> {
        if self.creation_rules.is_none() {
            return Ok(None);
        }
        match self.matching_rule(file)? {
            Some((_, rule)) => rule.resolve_with_context(kms_context).map(Some),
            None => Err(ConfigError::NoMatchingRule),
        }
    }

    /// The first creation rule whose `path_regex` matches `file` (an absolute path), with its
    /// index in `creation_rules` (0 is the first); `None` when none matches or there are no
    /// rules. The rule's keys are not checked.
    pub fn matching_rule(
        &self,
        file: &Path,
    ) -> Result<Option<(usize, &CreationRule)>, ConfigError> {
        let rules = self.creation_rules.as_deref().unwrap_or_default();
        Ok(self.rule_matcher().find(file)?.map(|(i, _)| (i, &rules[i])))
    }

    /// The first destination rule whose `path_regex` matches `file` (the path as the user
    /// gave it or `--recursive` found it, not made absolute, as sops does), checked to name at
    /// most one destination. A `path_regex` that does not compile matches nothing (sops
    /// ignores the error there).
    pub fn destination_for(&self, file: &str) -> Result<&DestinationRule, ConfigError> {
        let rule = self
            .destination_rules
            .iter()
            .find(|r| {
                r.path_regex.is_empty()
                    || regex::Regex::new(&crate::crypt::go_regex(&r.path_regex))
                        .is_ok_and(|re| re.is_match(file))
            })
            .ok_or(ConfigError::NoMatchingDestination)?;
        if rule.destination_count() > 1 {
            return Err(ConfigError::SeveralDestinations);
        }
        Ok(rule)
    }

    /// A [`RuleMatcher`] that compiles the `path_regex`es once, to match many files.
    pub fn rule_matcher(&self) -> RuleMatcher {
        let config_dir = absolute(self.path.parent().unwrap_or(Path::new("")));
        let rules = self.creation_rules.as_deref().unwrap_or_default();
        RuleMatcher {
            prefix: format!("{}{}", config_dir.display(), std::path::MAIN_SEPARATOR),
            regexes: rules.iter().map(|_| std::sync::OnceLock::new()).collect(),
            rules: rules.to_vec(),
        }
    }
}

/// Matches files against a config's creation rules, compiling each `path_regex` once, when
/// it is first needed (a bad regex after the matching rule is no error, as in sops).
#[derive(Debug)]
pub struct RuleMatcher {
    prefix: String,
    rules: Vec<CreationRule>,
    regexes: Vec<std::sync::OnceLock<Result<regex::Regex, ConfigError>>>,
}

impl RuleMatcher {
    /// See [`Config::matching_rule`].
    pub fn find(&self, file: &Path) -> Result<Option<(usize, &CreationRule)>, ConfigError> {
        let file = file.to_string_lossy();
        let relative = file.strip_prefix(self.prefix.as_str()).unwrap_or(&file);
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.path_regex.is_empty() {
                return Ok(Some((i, rule)));
            }
            // Go's RE2 shorthand classes are ASCII-only; translate them as the selectors do.
            let re = self.regexes[i].get_or_init(|| {
                regex::Regex::new(&crate::crypt::go_regex(&rule.path_regex))
                    .map_err(|e| ConfigError::BadRegex(e.to_string()))
            });
            match re {
                Ok(re) if re.is_match(relative) => return Ok(Some((i, rule))),
                Ok(_) => {}
                Err(e) => return Err(e.clone()),
            }
        }
        Ok(None)
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

impl CreationRule {
    /// The key groups, threshold and selectors this rule gives, checking its key lists.
    pub fn resolve(&self) -> Result<RuleConfig, ConfigError> {
        self.resolve_with_context(&[])
    }

    /// Like [`CreationRule::resolve`], giving the flat `kms` keys this encryption context.
    pub fn resolve_with_context(
        &self,
        kms_context: &[(String, String)],
    ) -> Result<RuleConfig, ConfigError> {
        if self.selectors.count_set() > 1 {
            return Err(ConfigError::RuleSelectors);
        }
        let mut groups = Vec::new();
        if !self.key_groups.is_empty() {
            for group in &self.key_groups {
                let mut keys = Vec::new();
                group_keys(group, &mut keys, 0)?;
                groups.push(dedup(keys));
            }
        } else {
            let field = |f: &KeyField, kind: &'static str| -> Result<Vec<String>, ConfigError> {
                f.0.clone().map_err(|reason| ConfigError::KeyField {
                    kind,
                    reason: format!("invalid {kind} key configuration: {reason}"),
                })
            };
            let mut keys = Vec::new();
            let age = field(&self.age, "age")?;
            if !age.is_empty() {
                for r in AgeRecipient::parse_list(&age.join(","))? {
                    keys.push(KeySpec::Age(r.as_str().to_string()));
                }
            }
            for fp in pgp_fingerprints(&field(&self.pgp, "pgp")?.join(",")) {
                keys.push(KeySpec::Pgp(fp));
            }
            let kms = field(&self.kms, "kms")?.join(",");
            for k in KmsKey::parse_list(&kms, kms_context, &self.aws_profile) {
                keys.push(KeySpec::Kms {
                    arn: k.arn,
                    role: k.role,
                    context: k.context,
                    aws_profile: k.aws_profile,
                });
            }
            for id in split_list(&field(&self.gcp_kms, "gcpkms")?.join(",")) {
                keys.push(KeySpec::GcpKms(id.replace(' ', "")));
            }
            for url in split_list(&field(&self.azure_keyvault, "azure_keyvault")?.join(",")) {
                keys.push(azure_from_url(&url)?);
            }
            for uri in split_list(&field(&self.hc_vault_transit_uri, "vault")?.join(",")) {
                keys.push(vault_from_uri(&uri)?);
            }
            for id in split_list(&field(&self.hckms, "hckms")?.join(",")) {
                keys.push(KeySpec::Hckms(id));
            }
            groups.push(keys);
        }
        Ok(RuleConfig {
            key_groups: groups,
            shamir_threshold: usize::try_from(self.shamir_threshold).unwrap_or(0),
            selectors: self.selectors.clone(),
            toml_per_value: self.toml_per_value,
        })
    }
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// An Azure Key Vault key from its URL (`https://vault/keys/name[/version]`), as sops's
/// `NewMasterKeyFromURL` parses it.
fn azure_from_url(url: &str) -> Result<KeySpec, ConfigError> {
    let k = crate::keys::azure_kv::AzureKey::parse_url(url).map_err(|e| ConfigError::KeyField {
        kind: "azure_keyvault",
        reason: e.to_string(),
    })?;
    Ok(KeySpec::AzureKv {
        vault_url: k.vault_url,
        key: k.name,
        version: k.version,
    })
}

/// Applies YAML merge keys (`<<: *base`, `<<: [*a, *b]`) the way yaml.v3 does when sops
/// decodes `.sops.yaml` into its structs: the merged maps' entries are added unless the map
/// sets the key itself, and of several merged maps the first one that has a key wins. Anchors
/// and aliases are already expanded by the parser.
fn resolve_merge_keys(map: Map, depth: usize) -> Result<Map, String> {
    if depth > MAX_MERGE_DEPTH {
        return Err("merge keys nest too deeply".into());
    }
    let mut own = Map::new();
    let mut merged: Vec<Map> = Vec::new();
    for entry in map.entries() {
        let value = resolve_node(entry.value.clone(), depth + 1)?;
        if entry.key != "<<" {
            own.push(entry.key.clone(), value);
            continue;
        }
        let not_a_map = || "map merge requires map or sequence of maps as the value".to_string();
        match value {
            Node::Map(m) => merged.push(m),
            Node::Seq(seq) => {
                for item in seq.values() {
                    match item {
                        Node::Map(m) => merged.push(m.clone()),
                        _ => return Err(not_a_map()),
                    }
                }
            }
            _ => return Err(not_a_map()),
        }
    }
    if merged.is_empty() {
        return Ok(own);
    }
    let mut out = Map::new();
    for m in &merged {
        for e in m.entries() {
            if own.get(&e.key).is_none() && out.get(&e.key).is_none() {
                out.push(e.key.clone(), e.value.clone());
            }
        }
    }
    for e in own.entries() {
        out.push(e.key.clone(), e.value.clone());
    }
    Ok(out)
}

fn resolve_node(node: Node, depth: usize) -> Result<Node, String> {
    match node {
        Node::Map(m) => Ok(Node::Map(resolve_merge_keys(m, depth)?)),
        Node::Seq(seq) => {
            if depth > MAX_MERGE_DEPTH {
                return Err("merge keys nest too deeply".into());
            }
            let mut out = crate::tree::Seq::new();
            for item in seq.values() {
                out.push(resolve_node(item.clone(), depth + 1)?);
            }
            Ok(Node::Seq(out))
        }
        other => Ok(other),
    }
}

/// A Vault transit key from its URI, named as sops names it (`ADDRESS/v1/ENGINE/keys/NAME`);
/// a URI sops cannot parse is refused when the config is read, as in sops.
fn vault_from_uri(uri: &str) -> Result<KeySpec, ConfigError> {
    crate::keys::hc_vault::VaultKey::parse(uri)
        .map(|k| KeySpec::HcVault(k.name()))
        .map_err(|e| ConfigError::KeyField {
            kind: "hc_vault",
            reason: e.to_string(),
        })
}

const MAX_MERGE_DEPTH: usize = 100;

fn group_keys(
    group: &KeyGroupSpec,
    out: &mut Vec<KeySpec>,
    depth: usize,
) -> Result<(), ConfigError> {
    if depth > MAX_MERGE_DEPTH {
        return Err(ConfigError::KeyField {
            kind: "key_groups",
            reason: "merge nested too deeply".into(),
        });
    }
    for sub in &group.merge {
        group_keys(sub, out, depth + 1)?;
    }
    for r in &group.age {
        for r in AgeRecipient::parse_list(r)? {
            out.push(KeySpec::Age(r.as_str().to_string()));
        }
    }
    for fp in &group.pgp {
        out.push(KeySpec::Pgp(fp.replace(' ', "")));
    }
    for k in &group.kms {
        out.push(KeySpec::Kms {
            arn: k.arn.clone(),
            role: k.role.clone(),
            context: crate::keys::kms::normalize_context(&k.context),
            aws_profile: k.aws_profile.clone(),
        });
    }
    for id in &group.gcp_kms {
        // sops removes every space of a resource id.
        out.push(KeySpec::GcpKms(id.replace(' ', "")));
    }
    for k in &group.azure_keyvault {
        out.push(KeySpec::AzureKv {
            vault_url: k.vault_url.clone(),
            key: k.key.clone(),
            version: k.version.clone(),
        });
    }
    for uri in &group.hc_vault {
        out.push(vault_from_uri(uri)?);
    }
    for id in &group.hckms {
        out.push(KeySpec::Hckms(id.clone()));
    }
    Ok(())
}

/// Drops keys of the same type and name after the first, as sops does within a group.
fn dedup(keys: Vec<KeySpec>) -> Vec<KeySpec> {
    let mut seen = std::collections::HashSet::new();
    keys.into_iter()
        .filter(|k| seen.insert((k.kind_rank(), k.name())))
        .collect()
}

// ---- reading typed fields the way yaml.v3 decodes into Go structs ----

fn tag(node: &Node) -> &'static str {
    match node {
        Node::Map(_) => "!!map",
        Node::Seq(_) => "!!seq",
        Node::Scalar(s) => match s {
            Scalar::Null => "!!null",
            Scalar::Bool(_) => "!!bool",
            Scalar::Int(_) => "!!int",
            Scalar::Float(_) => "!!float",
            Scalar::Str(_) => "!!str",
            Scalar::Bytes(_) => "!!binary",
            Scalar::Time(_) => "!!timestamp",
        },
    }
}

fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Null => String::new(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => crate::number::format_float_yaml(*f),
        Scalar::Str(s) | Scalar::Time(s) => s.clone(),
        Scalar::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn mismatch(node: &Node, go_type: &str, path: &str) -> String {
    match node {
        Node::Scalar(s) => format!(
            "{path}: cannot unmarshal {} `{}` into {go_type}",
            tag(node),
            scalar_text(s)
        ),
        _ => format!("{path}: cannot unmarshal {} into {go_type}", tag(node)),
    }
}

fn as_struct<'a>(node: &'a Node, path: &str) -> Result<Option<&'a Map>, String> {
    match node {
        Node::Map(m) => Ok(Some(m)),
        Node::Scalar(Scalar::Null) => Ok(None),
        other => Err(mismatch(other, "struct", path)),
    }
}

fn as_string(node: &Node, path: &str) -> Result<String, String> {
    match node {
        Node::Scalar(s) => Ok(scalar_text(s)),
        other => Err(mismatch(other, "string", path)),
    }
}

fn as_int(node: &Node, path: &str) -> Result<i64, String> {
    match node {
        Node::Scalar(Scalar::Int(i)) => Ok(*i),
        Node::Scalar(Scalar::Null) => Ok(0),
        Node::Scalar(Scalar::Float(f))
            if f.fract() == 0.0 && *f >= i64::MIN as f64 && *f <= i64::MAX as f64 =>
        {
            Ok(*f as i64)
        }
        other => Err(mismatch(other, "int", path)),
    }
}

fn as_bool(node: &Node, path: &str) -> Result<bool, String> {
    match node {
        Node::Scalar(Scalar::Bool(b)) => Ok(*b),
        Node::Scalar(Scalar::Null) => Ok(false),
        Node::Scalar(Scalar::Str(s)) => match s.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Ok(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Ok(false),
            _ => Err(mismatch(node, "bool", path)),
        },
        other => Err(mismatch(other, "bool", path)),
    }
}

fn as_string_list(node: &Node, path: &str) -> Result<Vec<String>, String> {
    match node {
        Node::Seq(seq) => seq
            .values()
            .enumerate()
            .map(|(i, v)| as_string(v, &format!("{path}[{i}]")))
            .collect(),
        Node::Scalar(Scalar::Null) => Ok(Vec::new()),
        other => Err(mismatch(other, "[]string", path)),
    }
}

fn as_struct_list<'a>(node: &'a Node, go_type: &str, path: &str) -> Result<Vec<&'a Map>, String> {
    match node {
        Node::Seq(seq) => {
            let mut out = Vec::new();
            for (i, v) in seq.values().enumerate() {
                match v {
                    Node::Map(m) => out.push(m),
                    Node::Scalar(Scalar::Null) => {}
                    other => return Err(mismatch(other, go_type, &format!("{path}[{i}]"))),
                }
            }
            Ok(out)
        }
        Node::Scalar(Scalar::Null) => Ok(Vec::new()),
        other => Err(mismatch(other, &format!("[]{go_type}"), path)),
    }
}

/// A rule key list (`interface{}` in sops): checked lazily, see [`KeyField`].
fn key_field(node: Option<&Node>) -> KeyField {
    KeyField(match node {
        None | Some(Node::Scalar(Scalar::Null)) => Ok(Vec::new()),
        Some(Node::Scalar(Scalar::Str(s))) => Ok(split_list(s)),
        Some(Node::Seq(seq)) => seq
            .values()
            .map(|v| match v {
                Node::Scalar(Scalar::Str(s)) => Ok(s.clone()),
                other => Err(format!(
                    "expected string in list, got {}",
                    go_type_name(other)
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "expected string, []string, or nil, got {}",
            go_type_name(other)
        )),
    })
}

fn go_type_name(node: &Node) -> &'static str {
    match node {
        Node::Map(_) => "map[string]interface {}",
        Node::Seq(_) => "[]interface {}",
        Node::Scalar(s) => match s {
            Scalar::Null => "<nil>",
            Scalar::Bool(_) => "bool",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float64",
            Scalar::Str(_) => "string",
            Scalar::Bytes(_) => "[]uint8",
            Scalar::Time(_) => "time.Time",
        },
    }
}

fn read_rule(node: &Node, path: &str) -> Result<CreationRule, String> {
    let Some(map) = as_struct(node, path)? else {
        return Ok(CreationRule::default());
    };
    let field = |name: &str| format!("{path}.{name}");
    let string = |name: &str| -> Result<String, String> {
        map.get(name)
            .map_or(Ok(String::new()), |v| as_string(v, &field(name)))
    };
    let opt = |name: &str| -> Result<Option<String>, String> {
        Ok(Some(string(name)?).filter(|s| !s.is_empty()))
    };
    let mut key_groups = Vec::new();
    if let Some(v) = map.get("key_groups") {
        for (i, g) in as_struct_list(v, "config.keyGroup", &field("key_groups"))?
            .into_iter()
            .enumerate()
        {
            key_groups.push(read_group(g, &format!("{path}.key_groups[{i}]"), 0)?);
        }
    }
    let hckms = match map.get("hckms") {
        // Newer sops versions take a list of key ids here.
        Some(v) => as_string_list(v, &field("hckms")),
        None => Ok(Vec::new()),
    };
    Ok(CreationRule {
        path_regex: string("path_regex")?,
        kms: key_field(map.get("kms")),
        aws_profile: string("aws_profile")?,
        age: key_field(map.get("age")),
        pgp: key_field(map.get("pgp")),
        gcp_kms: key_field(map.get("gcp_kms")),
        azure_keyvault: key_field(map.get("azure_keyvault")),
        hc_vault_transit_uri: key_field(map.get("hc_vault_transit_uri")),
        hckms: KeyField(Ok(hckms?)),
        key_groups,
        shamir_threshold: map
            .get("shamir_threshold")
            .map_or(Ok(0), |v| as_int(v, &field("shamir_threshold")))?,
        selectors: Selectors {
            unencrypted_suffix: opt("unencrypted_suffix")?,
            encrypted_suffix: opt("encrypted_suffix")?,
            unencrypted_regex: opt("unencrypted_regex")?,
            encrypted_regex: opt("encrypted_regex")?,
            unencrypted_comment_regex: opt("unencrypted_comment_regex")?,
            encrypted_comment_regex: opt("encrypted_comment_regex")?,
            mac_only_encrypted: map
                .get("mac_only_encrypted")
                .map_or(Ok(false), |v| as_bool(v, &field("mac_only_encrypted")))?,
        },
        toml_per_value: map
            .get("toml_per_value")
            .map_or(Ok(false), |v| as_bool(v, &field("toml_per_value")))?,
    })
}

fn read_group(map: &Map, path: &str, depth: usize) -> Result<KeyGroupSpec, String> {
    if depth > MAX_MERGE_DEPTH {
        return Err(format!("{path}: merge nested too deeply"));
    }
    let field = |name: &str| format!("{path}.{name}");
    let strings = |name: &str| -> Result<Vec<String>, String> {
        map.get(name)
            .map_or(Ok(Vec::new()), |v| as_string_list(v, &field(name)))
    };
    let structs = |name: &str, go: &str| -> Result<Vec<&Map>, String> {
        map.get(name)
            .map_or(Ok(Vec::new()), |v| as_struct_list(v, go, &field(name)))
    };
    let text = |m: &Map, name: &str, p: &str| -> Result<String, String> {
        m.get(name)
            .map_or(Ok(String::new()), |v| as_string(v, &format!("{p}.{name}")))
    };
    let mut group = KeyGroupSpec {
        hc_vault: strings("hc_vault")?,
        age: strings("age")?,
        pgp: strings("pgp")?,
        ..Default::default()
    };
    for (i, m) in structs("merge", "config.keyGroup")?.into_iter().enumerate() {
        group
            .merge
            .push(read_group(m, &format!("{path}.merge[{i}]"), depth + 1)?);
    }
    for (i, m) in structs("kms", "config.kmsKey")?.into_iter().enumerate() {
        let p = format!("{path}.kms[{i}]");
        let mut context = Vec::new();
        if let Some(c) = m.get("context") {
            if let Some(c) = as_struct(c, &format!("{p}.context"))? {
                for e in c.entries() {
                    context.push((e.key.clone(), as_string(&e.value, &format!("{p}.context"))?));
                }
            }
        }
        group.kms.push(KmsKeySpec {
            arn: text(m, "arn", &p)?,
            role: text(m, "role", &p)?,
            context,
            aws_profile: text(m, "aws_profile", &p)?,
        });
    }
    for (i, m) in structs("gcp_kms", "config.gcpKmsKey")?
        .into_iter()
        .enumerate()
    {
        group
            .gcp_kms
            .push(text(m, "resource_id", &format!("{path}.gcp_kms[{i}]"))?);
    }
    for (i, m) in structs("azure_keyvault", "config.azureKVKey")?
        .into_iter()
        .enumerate()
    {
        let p = format!("{path}.azure_keyvault[{i}]");
        group.azure_keyvault.push(AzureKeySpec {
            vault_url: text(m, "vaultUrl", &p)?,
            key: text(m, "key", &p)?,
            version: text(m, "version", &p)?,
        });
    }
    for (i, m) in structs("hckms", "config.hckmsKey")?.into_iter().enumerate() {
        group
            .hckms
            .push(text(m, "key_id", &format!("{path}.hckms[{i}]"))?);
    }
    Ok(group)
}

fn read_destination_rule(node: &Node, path: &str) -> Result<DestinationRule, String> {
    let Some(map) = as_struct(node, path)? else {
        return Ok(DestinationRule::default());
    };
    let string = |name: &str| -> Result<String, String> {
        map.get(name).map_or(Ok(String::new()), |v| {
            as_string(v, &format!("{path}.{name}"))
        })
    };
    Ok(DestinationRule {
        path_regex: string("path_regex")?,
        s3_bucket: string("s3_bucket")?,
        s3_prefix: string("s3_prefix")?,
        gcs_bucket: string("gcs_bucket")?,
        gcs_prefix: string("gcs_prefix")?,
        vault_path: string("vault_path")?,
        vault_address: string("vault_address")?,
        vault_kv_mount_name: string("vault_kv_mount_name")?,
        vault_kv_version: map
            .get("vault_kv_version")
            .map_or(Ok(0), |v| as_int(v, &format!("{path}.vault_kv_version")))?,
        omit_extensions: map.get("omit_extensions").map_or(Ok(false), |v| {
            as_bool(v, &format!("{path}.omit_extensions"))
        })?,
        recreation_rule: match map.get("recreation_rule") {
            Some(v) => read_rule(v, &format!("{path}.recreation_rule"))?,
            None => CreationRule::default(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Seq;

    const AGE: &str = "age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx";

    fn s(v: &str) -> Node {
        Node::str(v)
    }

    fn seq(items: Vec<Node>) -> Node {
        let mut q = Seq::new();
        for i in items {
            q.push(i);
        }
        Node::Seq(q)
    }

    fn map(items: Vec<(&str, Node)>) -> Node {
        let mut m = Map::new();
        for (k, v) in items {
            m.push(k, v);
        }
        Node::Map(m)
    }

    fn config(rules: Vec<Node>) -> Config {
        let doc = map(vec![("creation_rules", seq(rules))]);
        let mut c = Config::from_tree(doc.as_map().unwrap()).unwrap();
        c.path = PathBuf::from("/repo/.sops.yaml");
        c
    }

    #[test]
    fn first_matching_rule_wins_unanchored_relative_to_config_dir() {
        let c = config(vec![
            map(vec![("path_regex", s("^prod/")), ("pgp", s("AAAA, BB BB"))]),
            map(vec![("path_regex", s("dev")), ("age", s(AGE))]),
            map(vec![
                ("age", seq(vec![s(AGE)])),
                ("encrypted_regex", s("^x$")),
            ]),
        ]);
        let r = c.rule_for(Path::new("/repo/prod/a.yaml")).unwrap().unwrap();
        assert_eq!(
            r.key_groups,
            vec![vec![
                KeySpec::Pgp("AAAA".into()),
                KeySpec::Pgp("BBBB".into())
            ]]
        );
        let r = c.rule_for(Path::new("/repo/x/mydevfile")).unwrap().unwrap();
        assert_eq!(r.key_groups, vec![vec![KeySpec::Age(AGE.into())]]);
        // Outside the config dir the whole path is matched: `^prod/` does not match.
        let r = c.rule_for(Path::new("/else/prod/a.yaml")).unwrap().unwrap();
        assert_eq!(r.selectors.encrypted_regex.as_deref(), Some("^x$"));
    }

    #[test]
    fn no_match_bad_regex_and_absent_rules() {
        let c = config(vec![map(vec![("path_regex", s("^nope$"))])]);
        assert_eq!(
            c.rule_for(Path::new("/repo/a")),
            Err(ConfigError::NoMatchingRule)
        );
        let c = config(vec![map(vec![("path_regex", s("["))])]);
        assert!(matches!(
            c.rule_for(Path::new("/repo/a")),
            Err(ConfigError::BadRegex(_))
        ));
        let c = Config::from_tree(&Map::new()).unwrap();
        assert_eq!(c.rule_for(Path::new("/a")), Ok(None));
        let c = config(vec![]);
        assert_eq!(
            c.rule_for(Path::new("/a")),
            Err(ConfigError::NoMatchingRule)
        );
    }

    #[test]
    fn key_groups_merge_dedup_and_threshold() {
        let c = config(vec![map(vec![
            ("shamir_threshold", Node::Scalar(Scalar::Int(2))),
            (
                "key_groups",
                seq(vec![
                    map(vec![
                        ("age", seq(vec![s(AGE), s(AGE)])),
                        ("merge", seq(vec![map(vec![("pgp", seq(vec![s("FP1")]))])])),
                    ]),
                    map(vec![
                        ("pgp", seq(vec![s("FP2")])),
                        (
                            "kms",
                            seq(vec![map(vec![
                                ("arn", s("arn:aws:kms:x")),
                                ("context", map(vec![("a", s("b"))])),
                            ])]),
                        ),
                    ]),
                ]),
            ),
        ])]);
        let r = c.rule_for(Path::new("/repo/a")).unwrap().unwrap();
        assert_eq!(r.shamir_threshold, 2);
        assert_eq!(
            r.key_groups[0],
            vec![KeySpec::Pgp("FP1".into()), KeySpec::Age(AGE.into())]
        );
        assert_eq!(r.key_groups[1].len(), 2);
        #[cfg(not(feature = "aws-kms"))]
        {
            let Err(e) = recipients(&r.key_groups) else {
                panic!("kms must be unsupported")
            };
            assert_eq!(e.to_string(), "AWS KMS keys are not supported yet");
        }
        #[cfg(feature = "aws-kms")]
        assert_eq!(recipients(&r.key_groups).unwrap()[1].len(), 2);
    }

    #[test]
    fn type_errors_name_the_field() {
        let bad = map(vec![(
            "creation_rules",
            seq(vec![map(vec![("shamir_threshold", s("abc"))])]),
        )]);
        let e = Config::from_tree(bad.as_map().unwrap()).unwrap_err();
        assert_eq!(
            e,
            "creation_rules[0].shamir_threshold: cannot unmarshal !!str `abc` into int"
        );
        let bad = map(vec![("creation_rules", map(vec![]))]);
        assert!(Config::from_tree(bad.as_map().unwrap())
            .unwrap_err()
            .contains("!!map into []config.creationRule"));
        // Key lists are checked only when the rule is used.
        let c = config(vec![map(vec![("age", Node::Scalar(Scalar::Int(5)))])]);
        assert_eq!(
            c.rule_for(Path::new("/repo/a")).unwrap_err().to_string(),
            "invalid age key configuration: invalid age key configuration: expected string, []string, or nil, got int"
        );
        let c = config(vec![map(vec![
            ("encrypted_regex", s("a")),
            ("unencrypted_suffix", s("b")),
        ])]);
        assert_eq!(
            c.rule_for(Path::new("/repo/a")),
            Err(ConfigError::RuleSelectors)
        );
    }

    #[test]
    fn stores_and_destination_rules() {
        let doc = map(vec![
            (
                "stores",
                map(vec![
                    ("yaml", map(vec![("indent", Node::Scalar(Scalar::Int(2)))])),
                    ("json", map(vec![("indent", Node::Scalar(Scalar::Int(0)))])),
                ]),
            ),
            (
                "destination_rules",
                seq(vec![map(vec![
                    ("s3_bucket", s("b")),
                    ("recreation_rule", map(vec![("pgp", s("X"))])),
                ])]),
            ),
        ]);
        let c = Config::from_tree(doc.as_map().unwrap()).unwrap();
        use crate::format::Format;
        assert_eq!(c.stores.indent_for(Format::Yaml), Some(2));
        assert_eq!(c.stores.indent_for(Format::Json), Some(0));
        assert_eq!(c.stores.indent_for(Format::Binary), None);
        assert_eq!(c.destination_rules.len(), 1);
        assert_eq!(c.destination_rules[0].s3_bucket, "b");
        assert_eq!(c.creation_rules, None);
    }

    #[test]
    fn destination_rules_fields_and_matching() {
        let yaml = b"destination_rules:
  - path_regex: '(['
    s3_bucket: never
  - path_regex: ^s3/
    s3_bucket: bucket
    s3_prefix: pre/
    omit_extensions: true
    recreation_rule:
      age: age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx
      shamir_threshold: 1
  - path_regex: gcs
    gcs_bucket: g
    gcs_prefix: p/
  - path_regex: both
    gcs_bucket: g
    vault_path: v
  - path_regex: vault
    vault_path: app
    vault_address: http://127.0.0.1:8200
    vault_kv_mount_name: kv
    vault_kv_version: 1
  - path_regex: none
";
        let c = Config::parse(yaml, ".sops.yaml").unwrap();
        assert_eq!(c.destination_rules.len(), 6);
        let s3 = c.destination_for("s3/a.yaml").unwrap();
        assert_eq!(
            (s3.s3_bucket.as_str(), s3.s3_prefix.as_str()),
            ("bucket", "pre/")
        );
        assert!(s3.omit_extensions);
        let rule = s3.recreation_rule.resolve().unwrap();
        assert_eq!(rule.key_groups[0].len(), 1);
        assert_eq!(rule.shamir_threshold, 1);
        // Unanchored search on the path as given; the bad regex matches nothing.
        assert_eq!(c.destination_for("x/gcs/a").unwrap().gcs_prefix, "p/");
        let v = c.destination_for("vault.json").unwrap();
        assert_eq!(
            (
                v.vault_kv_mount_name.as_str(),
                v.vault_kv_version,
                v.vault_address.as_str()
            ),
            ("kv", 1, "http://127.0.0.1:8200")
        );
        assert_eq!(c.destination_for("none").unwrap().destination_count(), 0);
        assert_eq!(
            c.destination_for("both").unwrap_err(),
            ConfigError::SeveralDestinations
        );
        let err = c.destination_for("other").unwrap_err();
        assert_eq!(err, ConfigError::NoMatchingDestination);
        assert_eq!(
            err.to_string(),
            "error loading config: no matching destination found in config"
        );
        // A rule without path_regex matches every file.
        let c = Config::parse(b"destination_rules:\n  - s3_bucket: b\n", "c").unwrap();
        assert_eq!(c.destination_for("/any/where").unwrap().s3_bucket, "b");
        // No rules at all.
        let c = Config::parse(b"creation_rules: []\n", "c").unwrap();
        assert!(c.destination_for("a").is_err());
    }

    #[test]
    fn destination_rule_field_types_are_checked() {
        for (yaml, field) in [
            (
                &b"destination_rules:\n  - vault_kv_version: two\n"[..],
                "vault_kv_version",
            ),
            (
                b"destination_rules:\n  - omit_extensions: 3\n",
                "omit_extensions",
            ),
            (b"destination_rules:\n  - s3_bucket: [a]\n", "s3_bucket"),
            (b"destination_rules: 3\n", "destination_rules"),
        ] {
            let err = Config::parse(yaml, "c").unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn lookup_walks_up_and_warns_about_yml() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(dir.path().join("a/.sops.yml"), "").unwrap();
        let l = lookup_config_file(&deep);
        assert_eq!(l.path, None);
        assert!(l.warning.unwrap().contains(".sops.yml"));
        std::fs::write(dir.path().join(".sops.yaml"), "").unwrap();
        let l = lookup_config_file(&deep);
        assert_eq!(l.path.unwrap(), dir.path().join(".sops.yaml"));
        assert!(l.warning.unwrap().contains("using"));
    }

    /// Merge keys and anchors as yaml.v3 applies them when sops reads its config: own keys win
    /// over merged ones wherever they stand, the first of several merged maps wins.
    #[test]
    fn merge_keys_like_yaml_v3() {
        let text = "base: &base\n  age: age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx\n  encrypted_regex: ^a$\nother: &other\n  encrypted_regex: ^b$\n  toml_per_value: true\ncreation_rules:\n  - path_regex: \\.yaml$\n    <<: *base\n  - encrypted_regex: ^c$\n    <<: *base\n    path_regex: \\.json$\n  - <<: [*other, *base]\n";
        let mut c = Config::parse(text.as_bytes(), ".sops.yaml").unwrap();
        c.path = PathBuf::from("/r/.sops.yaml");
        let rule = |f: &str| c.rule_for(Path::new(f)).unwrap().unwrap();
        let yaml = rule("/r/a.yaml");
        assert_eq!(yaml.key_groups[0].len(), 1);
        assert_eq!(yaml.selectors.encrypted_regex.as_deref(), Some("^a$"));
        assert!(!yaml.toml_per_value);
        let json = rule("/r/a.json");
        assert_eq!(json.selectors.encrypted_regex.as_deref(), Some("^c$"));
        assert_eq!(json.key_groups[0].len(), 1);
        let toml = rule("/r/a.toml");
        assert_eq!(toml.selectors.encrypted_regex.as_deref(), Some("^b$"));
        assert!(toml.toml_per_value);
        assert_eq!(toml.key_groups[0].len(), 1);
        let err = Config::parse(b"creation_rules:\n  - <<: 1\n", ".sops.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("map merge requires map"), "{err}");
    }

    #[test]
    fn the_example_config_parses_with_our_yaml_codec() {
        let text = include_str!("../../.sops.yaml.example");
        let mut c = Config::parse(text.as_bytes(), ".sops.yaml.example").unwrap();
        c.path = PathBuf::from("/repo/.sops.yaml");
        let prod = c
            .rule_for(Path::new("/repo/environments/prod/db.yaml"))
            .unwrap()
            .unwrap();
        assert_eq!(prod.key_groups.len(), 3);
        assert_eq!(prod.shamir_threshold, 2);
        assert!(matches!(prod.key_groups[2][0], KeySpec::Pgp(_)));
        let staging = c
            .rule_for(Path::new("/repo/environments/staging/x.env"))
            .unwrap()
            .unwrap();
        assert_eq!(staging.key_groups[0].len(), 3);
        let other = c.rule_for(Path::new("/repo/README.md")).unwrap().unwrap();
        assert!(other.selectors.unencrypted_regex.is_some());
        use crate::format::Format;
        assert_eq!(c.stores.indent_for(Format::Json), Some(2));
        // Bad YAML names the file and the line.
        let err = Config::parse(b"creation_rules:\n  - path_regex: [\n", ".sops.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(".sops.yaml") && err.contains("line"), "{err}");
        // An empty file is no config.
        assert_eq!(Config::parse(b"", "x").unwrap().creation_rules, None);
        assert_eq!(
            Config::parse(b"# only\n", "x").unwrap().creation_rules,
            None
        );
    }

    #[test]
    fn clean_like_go() {
        assert_eq!(
            clean(Path::new("./.sops.yaml")),
            PathBuf::from(".sops.yaml")
        );
        assert_eq!(clean(Path::new("../../x")), PathBuf::from("../../x"));
        assert_eq!(clean(Path::new("/a/b/../c")), PathBuf::from("/a/c"));
        assert_eq!(clean(Path::new("/..")), PathBuf::from("/"));
        assert_eq!(clean(Path::new(".")), PathBuf::from("."));
    }
}
