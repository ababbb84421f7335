//! Master keys: wrapping the data key for recipients and unwrapping it again.
//!
//! Each key type lives in its own module and implements two small traits: [`Recipient`]
//! (wraps a secret into a [`StoredKey`] entry) and [`Unwrapper`] (tries to get the secret back
//! from a stored entry). Key groups and Shamir splitting are written once, here, above them.

pub mod age;
pub mod azure_kv;
pub mod gcp_kms;
pub mod hc_vault;
pub mod hckms;
#[cfg(any(feature = "hc-vault", feature = "gcp-kms", feature = "hckms"))]
mod http;
pub mod kms;
pub mod pgp;
pub mod shamir;

use zeroize::Zeroizing;

use crate::cipher::DataKey;
use crate::metadata::{KeyGroup, Metadata, StoredKey};

/// A failure of one master key. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A recipient or identity string could not be parsed.
    #[error("invalid {kind} key {value:?}: {reason}")]
    Parse {
        /// The key type (`age`, `pgp`, ...).
        kind: &'static str,
        /// The offending recipient (public information only).
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Wrapping the data key failed.
    #[error("could not encrypt the data key for {key}: {reason}")]
    Wrap {
        /// Which key.
        key: String,
        /// Why.
        reason: String,
    },
    /// Unwrapping the data key failed.
    #[error("{0}")]
    Unwrap(String),
    /// The key type is known but not supported by this build yet.
    #[error("{0} keys are not supported yet")]
    Unsupported(&'static str),
}

/// Something that can wrap a secret (the data key or a Shamir share) for one recipient.
pub trait Recipient: Send + Sync {
    /// Wraps `secret` and returns the metadata entry that stores it.
    fn wrap(&self, secret: &[u8]) -> Result<StoredKey, KeyError>;
    /// A short description for messages (a public identifier, never a secret).
    fn describe(&self) -> String;
}

/// Something that can try to unwrap stored keys of the kinds it handles.
pub trait Unwrapper {
    /// Tries `key`. Returns `None` when this source does not handle the key's type.
    fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>>;
}

/// Every key source of this build, configured from the environment: age identities, gpg, and
/// (with their cargo features) AWS KMS and Vault transit. Each is set up only when a key of
/// its kind is tried.
#[derive(Debug)]
pub struct EnvSources {
    age: age::AgeIdentities,
    gpg: pgp::GpgUnwrapper,
    #[cfg(feature = "aws-kms")]
    kms: kms::KmsUnwrapper,
    #[cfg(feature = "hc-vault")]
    vault: hc_vault::VaultUnwrapper,
    #[cfg(feature = "azure-kv")]
    azure_kv: azure_kv::AzureUnwrapper,
    #[cfg(feature = "hckms")]
    hckms: hckms::HckmsUnwrapper,
    #[cfg(feature = "gcp-kms")]
    gcp_kms: gcp_kms::GcpKmsUnwrapper,
}

impl EnvSources {
    /// The sources of the environment.
    pub fn from_env() -> EnvSources {
        EnvSources {
            age: age::AgeIdentities::from_env(),
            gpg: pgp::GpgUnwrapper::from_env(),
            #[cfg(feature = "aws-kms")]
            kms: kms::KmsUnwrapper::from_env(),
            #[cfg(feature = "hc-vault")]
            vault: hc_vault::VaultUnwrapper::from_env(),
            #[cfg(feature = "azure-kv")]
            azure_kv: azure_kv::AzureUnwrapper::from_env(),
            #[cfg(feature = "hckms")]
            hckms: hckms::HckmsUnwrapper::from_env(),
            #[cfg(feature = "gcp-kms")]
            gcp_kms: gcp_kms::GcpKmsUnwrapper::from_env(),
        }
    }

    /// The sources, to pass to [`recover_data_key_ordered`].
    pub fn list(&self) -> Vec<&dyn Unwrapper> {
        vec![
            &self.age,
            &self.gpg,
            #[cfg(feature = "aws-kms")]
            &self.kms,
            #[cfg(feature = "hc-vault")]
            &self.vault,
            #[cfg(feature = "azure-kv")]
            &self.azure_kv,
            #[cfg(feature = "hckms")]
            &self.hckms,
            #[cfg(feature = "gcp-kms")]
            &self.gcp_kms,
        ]
    }
}

/// The key types in the order sops tries them by default (`--decryption-order`).
pub const DEFAULT_DECRYPTION_ORDER: [&str; 2] = ["age", "pgp"];

/// The identifier sops uses for a key's type in `--decryption-order`.
pub fn type_identifier(key: &StoredKey) -> &'static str {
    key.kind().field()
}

/// A key as sops names it in messages (its `ToString`): the recipient, fingerprint, ARN ...
pub fn key_name(key: &StoredKey) -> String {
    match key {
        StoredKey::Age { recipient, .. } => recipient.clone(),
        StoredKey::Pgp { fp, .. } => fp.clone(),
        StoredKey::Kms {
            arn,
            role,
            context,
            aws_profile,
            ..
        } => kms::display_name(arn, role, context, aws_profile),
        StoredKey::GcpKms { resource_id, .. } => resource_id.clone(),
        StoredKey::AzureKv {
            vault_url,
            name,
            version,
            ..
        } => format!("{vault_url}/keys/{name}/{version}"),
        StoredKey::HcVault {
            vault_address,
            engine_path,
            key_name,
            ..
        } => format!("{vault_address}/v1/{engine_path}/keys/{key_name}"),
        StoredKey::Hckms { key_id, .. } => key_id.clone(),
    }
}

/// One key that failed to unwrap its group's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFailure {
    /// The key as sops names it (recipient, fingerprint, ...).
    pub key: String,
    /// Why it failed, one reason per key service that tried it (never secret).
    pub reasons: Vec<String>,
}

/// What happened to one key group during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutcome {
    /// A key of the group unwrapped its secret.
    Success,
    /// Every key of the group failed.
    Failed(Vec<KeyFailure>),
    /// Not tried, because enough groups had already succeeded.
    Skipped,
}

/// Why no data key could be recovered: the outcome of every group and key, rendered the way
/// sops reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct RecoveryError {
    /// One outcome per key group, in file order.
    pub groups: Vec<GroupOutcome>,
    /// The file's Shamir threshold as stored (0 when unset), which decides the explanation.
    pub threshold: usize,
    /// A problem after the groups were tried (shares that do not combine, ...).
    pub detail: Option<String>,
}

impl RecoveryError {
    fn render(&self) -> String {
        if let Some(detail) = &self.detail {
            return detail.clone();
        }
        let mut groups = Vec::with_capacity(self.groups.len());
        for (i, outcome) in self.groups.iter().enumerate() {
            match outcome {
                GroupOutcome::Success | GroupOutcome::Skipped => {
                    groups.push(format!("Group {i}: SUCCESS"))
                }
                GroupOutcome::Failed(keys) => {
                    let body = keys
                        .iter()
                        .map(|k| {
                            let reasons = k
                                .reasons
                                .iter()
                                .map(|r| {
                                    let reason = prefix_lines(&word_wrap(r, 60), "  | ");
                                    format!("-{}", &reason[1..])
                                })
                                .collect::<Vec<_>>()
                                .join("\n\n");
                            format!("{}: FAILED\n{}", k.key, prefix_lines(&reasons, "  "))
                        })
                        .collect::<Vec<_>>()
                        .join("\n\n");
                    groups.push(format!("Group {i}: FAILED\n{}", prefix_lines(&body, "  ")));
                }
            }
        }
        let successes = self
            .groups
            .iter()
            .filter(|g| matches!(g, GroupOutcome::Success))
            .count();
        let trailer = if self.threshold == 0 {
            "Recovery failed because no master key was able to decrypt the file. In order for SOPS to recover the file, at least one key has to be successful, but none were.".to_string()
        } else {
            format!(
                "Recovery failed because the file was encrypted with a Shamir threshold of {t}, but only {successes} part(s) were successfully recovered, one for each successful key group. In order for SOPS to recover the file, at least {t} groups have to be successful. In order for a group to be successful, decryption has to succeed with any of the keys in that key group.",
                t = self.threshold
            )
        };
        format!(
            "Failed to get the data key required to decrypt the SOPS file.\n\n{}\n\n{}",
            groups.join("\n\n"),
            word_wrap(&trailer, 75)
        )
    }
}

/// Puts `prefix` before every line of `text`.
fn prefix_lines(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len() + prefix.len() * 4);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(prefix);
        out.push_str(line);
    }
    out
}

/// Wraps text at spaces so lines stay within `limit` characters where words allow, keeping
/// existing line breaks (the algorithm of the Go `wordwrap` package sops uses).
fn word_wrap(text: &str, limit: usize) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let (mut word, mut space) = (String::new(), String::new());
    let (mut word_len, mut space_len, mut current) = (0usize, 0usize, 0usize);
    for ch in text.chars() {
        if ch == '\n' {
            if word.is_empty() {
                if current + space_len <= limit {
                    out.push_str(&space);
                }
            } else {
                out.push_str(&space);
                out.push_str(&word);
            }
            space.clear();
            word.clear();
            space_len = 0;
            word_len = 0;
            out.push('\n');
            current = 0;
        } else if ch.is_whitespace() && ch != '\u{a0}' {
            if space.is_empty() || !word.is_empty() {
                current += space_len + word_len;
                out.push_str(&space);
                out.push_str(&word);
                space.clear();
                word.clear();
                space_len = 0;
                word_len = 0;
            }
            space.push(ch);
            space_len += 1;
        } else {
            word.push(ch);
            word_len += 1;
            if current + space_len + word_len > limit && word_len < limit {
                out.push('\n');
                current = 0;
                space.clear();
                space_len = 0;
            }
        }
    }
    if word.is_empty() {
        if current + space_len <= limit {
            out.push_str(&space);
        }
    } else {
        out.push_str(&space);
        out.push_str(&word);
    }
    out
}

/// Wraps a new data key for the given recipient groups. With one group every recipient wraps
/// the data key; with several, the key is split with Shamir (threshold 0 means all groups).
pub fn wrap_data_key(
    data_key: &DataKey,
    groups: &[Vec<Box<dyn Recipient>>],
    threshold: usize,
) -> Result<(Vec<KeyGroup>, usize), KeyError> {
    if groups.len() <= 1 {
        // sops stores a threshold given for a single group as is, and ignores it.
        let group = match groups.first() {
            Some(g) => g
                .iter()
                .map(|r| r.wrap(data_key.as_bytes()))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        return Ok((vec![group], threshold));
    }
    if groups.iter().any(|g| g.is_empty()) {
        return Err(KeyError::Wrap {
            key: "key groups".into(),
            reason: "empty key group provided".into(),
        });
    }
    let threshold = if threshold == 0 {
        groups.len()
    } else {
        threshold
    };
    let shares = shamir::split(data_key.as_bytes(), groups.len(), threshold).map_err(|e| {
        KeyError::Wrap {
            key: "key groups".into(),
            reason: e.to_string(),
        }
    })?;
    let mut out = Vec::with_capacity(groups.len());
    for (group, share) in groups.iter().zip(shares.iter()) {
        out.push(
            group
                .iter()
                .map(|r| r.wrap(share))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok((out, threshold))
}

/// Recovers the data key from a file's metadata with the given key sources, trying the keys
/// of each group in sops's default order (age, then PGP, then the rest) until one works, and
/// combining Shamir shares when there are several groups.
pub fn recover_data_key(
    md: &Metadata,
    sources: &[&dyn Unwrapper],
) -> Result<DataKey, RecoveryError> {
    recover_data_key_ordered(md, sources, &DEFAULT_DECRYPTION_ORDER)
}

/// Parses a `--decryption-order` / `SOPS_DECRYPTION_ORDER` list (comma separated key type
/// identifiers: `age`, `pgp`, `kms`, ...). A type listed twice is an error naming it.
pub fn parse_decryption_order(list: &str) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Ok(DEFAULT_DECRYPTION_ORDER
            .iter()
            .map(|s| s.to_string())
            .collect());
    }
    let mut out: Vec<String> = Vec::new();
    for item in list.split(',') {
        if out.iter().any(|s| s == item) {
            return Err(item.to_string());
        }
        out.push(item.to_string());
    }
    Ok(out)
}

/// Like [`recover_data_key`], trying the keys of each group in `order` of key types (types
/// not listed come last, in file order), as `--decryption-order` asks.
pub fn recover_data_key_ordered<S: AsRef<str>>(
    md: &Metadata,
    sources: &[&dyn Unwrapper],
    order: &[S],
) -> Result<DataKey, RecoveryError> {
    let groups = md.key_groups.len();
    let needed = if groups > 1 {
        if md.shamir_threshold == 0 {
            groups
        } else {
            md.shamir_threshold
        }
    } else {
        1
    };
    let mut outcomes = Vec::with_capacity(groups);
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for group in &md.key_groups {
        if parts.len() >= needed {
            outcomes.push(GroupOutcome::Skipped);
            continue;
        }
        match unwrap_group(group, sources, order) {
            Ok(secret) => {
                parts.push(secret);
                outcomes.push(GroupOutcome::Success);
            }
            Err(failures) => outcomes.push(GroupOutcome::Failed(failures)),
        }
    }
    let fail = |outcomes, detail| RecoveryError {
        groups: outcomes,
        threshold: md.shamir_threshold,
        detail,
    };
    if parts.len() < needed || parts.is_empty() {
        return Err(fail(outcomes, None));
    }
    let key_bytes = if groups > 1 {
        match shamir::combine(&parts) {
            Ok(k) => k,
            Err(e) => {
                return Err(fail(
                    outcomes,
                    Some(format!("could not get data key from shamir parts: {e}")),
                ))
            }
        }
    } else {
        parts.swap_remove(0)
    };
    DataKey::from_slice(&key_bytes).ok_or_else(|| {
        fail(
            outcomes,
            Some("the recovered data key is not 32 bytes long".into()),
        )
    })
}

fn unwrap_group<S: AsRef<str>>(
    group: &KeyGroup,
    sources: &[&dyn Unwrapper],
    order: &[S],
) -> Result<Zeroizing<Vec<u8>>, Vec<KeyFailure>> {
    let rank = |key: &StoredKey| {
        let id = type_identifier(key);
        order
            .iter()
            .position(|o| o.as_ref() == id)
            .unwrap_or(order.len())
    };
    let mut indices: Vec<usize> = (0..group.len()).collect();
    indices.sort_by_key(|&i| rank(&group[i]));
    let mut failures = Vec::new();
    for i in indices {
        let key = &group[i];
        // Every source that handles the key's type tries it (the local one, then each remote
        // key service), as sops asks each key service in turn; all their errors are reported.
        let mut reasons = Vec::new();
        for source in sources {
            match source.unwrap(key) {
                None => continue,
                Some(Ok(secret)) => return Ok(secret),
                Some(Err(e)) => reasons.push(e.to_string()),
            }
        }
        if reasons.is_empty() {
            reasons.push(format!(
                "{} keys are not supported yet",
                type_identifier(key)
            ));
        }
        failures.push(KeyFailure {
            key: key_name(key),
            reasons,
        });
    }
    Err(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_is_rendered_like_sops() {
        let err = RecoveryError {
            groups: vec![
                GroupOutcome::Success,
                GroupOutcome::Failed(vec![KeyFailure {
                    key: "0590B3F2A1752C5863BE44B64A61B3AF6B548AB5".into(),
                    reasons: vec!["could not decrypt data key with PGP key: github.com/ProtonMail/go-crypto/openpgp error: could not load secring: open /tmp/rules-exp/g1/pubring.gpg: no such file or directory; GnuPG binary error: failed to decrypt sops data key with pgp: gpg: encrypted with 3072-bit RSA key, ID E73F6862797C7963, created 2026-11-23\n      \"test two <two@example.com>\"\ngpg: decryption failed: No secret key".into()],
                }]),
            ],
            threshold: 2,
            detail: None,
        };
        let expected = "Failed to get the data key required to decrypt the SOPS file.

Group 0: SUCCESS

Group 1: FAILED
  0590B3F2A1752C5863BE44B64A61B3AF6B548AB5: FAILED
    - | could not decrypt data key with PGP key:
      | github.com/ProtonMail/go-crypto/openpgp error: could not
      | load secring: open /tmp/rules-exp/g1/pubring.gpg: no such
      | file or directory; GnuPG binary error: failed to decrypt
      | sops data key with pgp: gpg: encrypted with 3072-bit RSA
      | key, ID E73F6862797C7963, created 2026-11-23
      |       \"test two <two@example.com>\"
      | gpg: decryption failed: No secret key

Recovery failed because the file was encrypted with a Shamir threshold of
2, but only 1 part(s) were successfully recovered, one for each successful
key group. In order for SOPS to recover the file, at least 2 groups have to
be successful. In order for a group to be successful, decryption has to
succeed with any of the keys in that key group.";
        assert_eq!(err.to_string(), expected);
    }

    /// Records which keys it was asked for; opens only age keys, with `secret`.
    struct Recorder {
        seen: std::sync::Mutex<Vec<String>>,
        secret: Vec<u8>,
    }

    impl Unwrapper for Recorder {
        fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
            self.seen.lock().unwrap().push(key_name(key));
            Some(match key {
                StoredKey::Age { .. } => Ok(Zeroizing::new(self.secret.clone())),
                _ => Err(KeyError::Unwrap("no secret key".into())),
            })
        }
    }

    fn group() -> KeyGroup {
        vec![
            StoredKey::Pgp {
                fp: "FP".into(),
                created_at: String::new(),
                enc: String::new(),
            },
            StoredKey::Age {
                recipient: "age1x".into(),
                enc: String::new(),
            },
        ]
    }

    #[test]
    fn keys_are_tried_in_decryption_order() {
        let key = [9u8; 32];
        let md = Metadata {
            key_groups: vec![group()],
            ..Default::default()
        };
        let rec = Recorder {
            seen: Default::default(),
            secret: key.to_vec(),
        };
        let got = recover_data_key(&md, &[&rec]).unwrap();
        assert_eq!(got.as_bytes(), &key);
        assert_eq!(*rec.seen.lock().unwrap(), ["age1x"]);
        rec.seen.lock().unwrap().clear();
        recover_data_key_ordered(&md, &[&rec], &["pgp", "age"]).unwrap();
        assert_eq!(*rec.seen.lock().unwrap(), ["FP", "age1x"]);
    }

    #[test]
    fn shamir_groups_recover_and_report() {
        let key = [5u8; 32];
        let shares = shamir::split(&key, 3, 2).unwrap();
        let pgp_only = |i: usize| {
            vec![StoredKey::Pgp {
                fp: format!("FP{i}"),
                created_at: String::new(),
                enc: String::new(),
            }]
        };
        // Group 0 opens with age (its share), groups 1 and 2 only have PGP keys that fail.
        let rec = Recorder {
            seen: Default::default(),
            secret: shares[0].to_vec(),
        };
        let mut md = Metadata {
            key_groups: vec![group(), pgp_only(1), pgp_only(2)],
            shamir_threshold: 2,
            ..Default::default()
        };
        let err = recover_data_key(&md, &[&rec]).unwrap_err();
        assert_eq!(err.groups[0], GroupOutcome::Success);
        let text = err.to_string();
        assert!(
            text.contains("Group 1: FAILED\n  FP1: FAILED\n    - | no secret key"),
            "{text}"
        );
        assert!(text.contains("only 1 part(s)"), "{text}");
        // With the threshold met by two groups, the key comes back.
        let rec2 = Recorder {
            seen: Default::default(),
            secret: shares[2].to_vec(),
        };
        struct Both<'a>(&'a Recorder, &'a Recorder);
        impl Unwrapper for Both<'_> {
            fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
                match key {
                    StoredKey::Pgp { fp, .. } if fp == "FP2" => {
                        Some(Ok(Zeroizing::new(self.1.secret.clone())))
                    }
                    _ => self.0.unwrap(key),
                }
            }
        }
        md.shamir_threshold = 2;
        let got = recover_data_key(&md, &[&Both(&rec, &rec2)]).unwrap();
        assert_eq!(got.as_bytes(), &key);
    }

    /// Fails every key with `reason`.
    struct Failing(&'static str);

    impl Unwrapper for Failing {
        fn unwrap(&self, _: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
            Some(Err(KeyError::Unwrap(self.0.into())))
        }
    }

    #[test]
    fn every_source_is_asked_for_a_key_and_every_error_reported() {
        // As sops asks the local key service, then each remote one, for the same key.
        let md = Metadata {
            key_groups: vec![vec![StoredKey::Age {
                recipient: "age1x".into(),
                enc: String::new(),
            }]],
            ..Default::default()
        };
        let key = [7u8; 32];
        let rec = Recorder {
            seen: Default::default(),
            secret: key.to_vec(),
        };
        let local = Failing("no identity");
        let got = recover_data_key(&md, &[&local, &rec]).unwrap();
        assert_eq!(got.as_bytes(), &key);
        let remote = Failing("rpc error: code = Unavailable desc = down");
        let err = recover_data_key(&md, &[&local, &remote]).unwrap_err();
        assert!(
            err.to_string().contains(
                "  age1x: FAILED\n    - | no identity\n    \n    - | rpc error: code = Unavailable desc = down\n"
            ),
            "{err}"
        );
    }

    #[test]
    fn decryption_order_rejects_duplicates() {
        assert_eq!(parse_decryption_order("").unwrap(), ["age", "pgp"]);
        assert_eq!(parse_decryption_order("pgp,age").unwrap(), ["pgp", "age"]);
        assert_eq!(parse_decryption_order("pgp,pgp").unwrap_err(), "pgp");
    }
}
