//! Master keys: wrapping the data key for recipients and unwrapping it again.
//!
//! Each key type lives in its own module and implements two small traits: [`Recipient`]
//! (wraps a secret into a [`StoredKey`] entry) and [`Unwrapper`] (tries to get the secret back
//! from a stored entry). Key groups and Shamir splitting are written once, here, above them.

pub mod age;
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

/// Why no data key could be recovered: every attempt, per group and per key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_attempts(.attempts, *.needed, *.groups))]
pub struct RecoveryError {
    /// (group index, key description, reason) for every key tried or skipped.
    pub attempts: Vec<(usize, String, String)>,
    /// Groups needed (1 without Shamir, else the threshold).
    pub needed: usize,
    /// Number of groups in the file.
    pub groups: usize,
}

fn render_attempts(attempts: &[(usize, String, String)], needed: usize, groups: usize) -> String {
    let mut s = String::from("Failed to get the data key required to decrypt the SOPS file.");
    if groups > 1 {
        s.push_str(&format!(" {needed} of {groups} key groups are needed."));
    }
    let mut current = usize::MAX;
    for (group, key, reason) in attempts {
        if *group != current {
            current = *group;
            s.push_str(&format!("\n\nGroup {group}: FAILED"));
        }
        s.push_str(&format!("\n  {key}: FAILED\n    - | {reason}"));
    }
    if attempts.is_empty() {
        s.push_str("\n\nThe file has no master keys.");
    }
    s.push_str("\n\nRecovery failed because no master key was able to decrypt the file. In\norder for SOPS to recover the file, at least one key has to be successful,\nbut none were.");
    s
}

/// Wraps a new data key for the given recipient groups. With one group every recipient wraps
/// the data key; with several, the key is split with Shamir (threshold 0 means all groups).
pub fn wrap_data_key(
    data_key: &DataKey,
    groups: &[Vec<Box<dyn Recipient>>],
    threshold: usize,
) -> Result<(Vec<KeyGroup>, usize), KeyError> {
    if groups.len() <= 1 {
        let group = match groups.first() {
            Some(g) => g
                .iter()
                .map(|r| r.wrap(data_key.as_bytes()))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        return Ok((vec![group], 0));
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
/// of each group in order until one works, and combining Shamir shares when there are
/// several groups.
pub fn recover_data_key(
    md: &Metadata,
    sources: &[&dyn Unwrapper],
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
    let mut attempts = Vec::new();
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for (index, group) in md.key_groups.iter().enumerate() {
        if parts.len() >= needed {
            break;
        }
        if let Some(secret) = unwrap_group(index, group, sources, &mut attempts) {
            parts.push(secret);
        }
    }
    let fail = |attempts| RecoveryError {
        attempts,
        needed,
        groups,
    };
    if parts.len() < needed || parts.is_empty() {
        return Err(fail(attempts));
    }
    let key_bytes = if groups > 1 {
        match shamir::combine(&parts) {
            Ok(k) => k,
            Err(e) => {
                attempts.push((0, "key groups".into(), e.to_string()));
                return Err(fail(attempts));
            }
        }
    } else {
        parts.swap_remove(0)
    };
    DataKey::from_slice(&key_bytes).ok_or_else(|| {
        attempts.push((
            0,
            "data key".into(),
            "the recovered data key is not 32 bytes long".into(),
        ));
        fail(attempts)
    })
}

fn unwrap_group(
    index: usize,
    group: &KeyGroup,
    sources: &[&dyn Unwrapper],
    attempts: &mut Vec<(usize, String, String)>,
) -> Option<Zeroizing<Vec<u8>>> {
    for key in group {
        let mut handled = false;
        for source in sources {
            match source.unwrap(key) {
                None => continue,
                Some(Ok(secret)) => return Some(secret),
                Some(Err(e)) => {
                    handled = true;
                    attempts.push((index, key.describe(), e.to_string()));
                    break;
                }
            }
        }
        if !handled {
            attempts.push((
                index,
                key.describe(),
                "this key type is not supported yet".into(),
            ));
        }
    }
    None
}
