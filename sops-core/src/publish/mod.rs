//! `sops publish`: copy a sops file to the destination a `.sops.yaml` `destination_rules`
//! entry names, as sops 3.13.2 does (`cmd/sops/subcommand/publish`, `publish/`).
//!
//! An S3 or GCS destination receives the encrypted file: re-encrypted with a new data key for
//! the rule's `recreation_rule` keys when that rule names any ([`reencrypt`]), else the file's
//! bytes unchanged. A Vault KV destination receives the *decrypted* data as the secret's KV
//! data ([`kv_data`], the shape sops's `EmitAsMap` gives it), at `MOUNT/PATH/NAME` (KV v1) or
//! `MOUNT/data/PATH/NAME` (KV v2). Each destination is one module behind [`Destination`].
//!
//! This module does not read the command line, prompt, or walk directories: the CLI does.

mod gcs;
mod s3;
mod vault_kv;

pub use gcs::GcsDestination;
pub use s3::S3Destination;
pub use vault_kv::{kv_data, KvData, VaultKvDestination};

use crate::config::{DestinationRule, RuleConfig};
use crate::error::Error;
use crate::file::{DecryptedFile, EncryptedFile};
use crate::metadata::{self, Metadata, Selectors};

/// What a destination stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// The encrypted file (S3, GCS).
    EncryptedFile,
    /// The decrypted data as a KV secret (Vault).
    PlaintextData,
}

/// What is uploaded.
pub enum Payload {
    /// The encrypted file's bytes.
    EncryptedFile(Vec<u8>),
    /// The decrypted data.
    PlaintextData(KvData),
}

impl std::fmt::Debug for Payload {
    /// Never shows plaintext.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::EncryptedFile(b) => write!(f, "EncryptedFile({} bytes)", b.len()),
            Payload::PlaintextData(_) => f.write_str("PlaintextData(<redacted>)"),
        }
    }
}

/// How an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uploaded {
    /// The object or secret was written; warnings for the user (sops logs them).
    Written(Vec<String>),
    /// Vault already held the same data: nothing was written (as sops, no new KV version);
    /// the note sops logs at info level.
    AlreadyUpToDate(String),
}

/// A failure to publish. Messages never contain plaintext.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The destination does not take this kind of payload (sops's `NotImplementedError`).
    #[error("NotImplementedError: {0}")]
    NotImplemented(&'static str),
    /// The upload failed: the service's (or the connection's) reason.
    #[error("{0}")]
    Upload(String),
    /// The data cannot be sent as JSON (a float that is infinite or NaN).
    #[error("json: unsupported value: {0}")]
    UnsupportedValue(String),
}

/// A place `sops publish` uploads to.
pub trait Destination {
    /// What this destination stores.
    fn payload_kind(&self) -> PayloadKind;
    /// The address of `name` there, as sops prints it in its prompt
    /// (`s3://BUCKET/PREFIXNAME`, `gcs://...`, `VAULT_ADDR/v1/MOUNT/data/PATH/NAME`).
    fn path(&self, name: &str) -> String;
    /// Uploads `payload` as `name`.
    fn upload(&self, payload: &Payload, name: &str) -> Result<Uploaded, PublishError>;
}

/// The destination a rule names, or `None` when it names none (sops: "no destination
/// configured for this file"). The rule is assumed checked by
/// [`crate::config::Config::destination_for`] (at most one destination).
pub fn destination(rule: &DestinationRule) -> Option<Box<dyn Destination>> {
    if !rule.s3_bucket.is_empty() {
        Some(Box::new(S3Destination::new(
            &rule.s3_bucket,
            &rule.s3_prefix,
        )))
    } else if !rule.gcs_bucket.is_empty() {
        Some(Box::new(GcsDestination::new(
            &rule.gcs_bucket,
            &rule.gcs_prefix,
        )))
    } else if !rule.vault_path.is_empty() {
        Some(Box::new(VaultKvDestination::new(
            &rule.vault_address,
            &rule.vault_path,
            &rule.vault_kv_mount_name,
            rule.vault_kv_version,
        )))
    } else {
        None
    }
}

/// The name a file gets at its destination: its path relative to the directory being
/// published (`--recursive`) or its base name, without its last extension when
/// `omit_extension` is set (sops's `strings.TrimSuffix(name, filepath.Ext(path))`).
pub fn destination_name(
    file: &std::path::Path,
    root: Option<&std::path::Path>,
    omit_extension: bool,
) -> String {
    let name = match root {
        Some(root) => relative(root, file),
        None => file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !omit_extension {
        return name;
    }
    let full = file.to_string_lossy();
    let ext = go_ext(&full);
    name.strip_suffix(ext).map(str::to_string).unwrap_or(name)
}

/// Go's `filepath.Ext`: from the last `.` of the last path element, or empty.
fn go_ext(path: &str) -> &str {
    let base_start = path.rfind('/').map_or(0, |i| i + 1);
    match path[base_start..].rfind('.') {
        Some(i) => &path[base_start + i..],
        None => "",
    }
}

/// Go's `filepath.Rel(root, file)` for a file found below `root` (or `root` itself: `.`).
fn relative(root: &std::path::Path, file: &std::path::Path) -> String {
    let root = crate::config::clean(root);
    let file = crate::config::clean(file);
    match file.strip_prefix(&root) {
        Ok(rest) if rest.as_os_str().is_empty() => ".".into(),
        Ok(rest) => rest.to_string_lossy().into_owned(),
        Err(_) => file.to_string_lossy().into_owned(),
    }
}

/// Re-encrypts a decrypted file for a destination's `recreation_rule`, as sops's publish
/// does: a new data key wrapped for the rule's key groups and Shamir threshold, and metadata
/// that keeps only the rule's `unencrypted_suffix` / `encrypted_suffix` (no default suffix:
/// every value and comment is encrypted unless the rule names one); `lastmodified` and the
/// MAC are new.
pub fn reencrypt(mut file: DecryptedFile, rule: &RuleConfig) -> Result<EncryptedFile, Error> {
    file.metadata = Metadata {
        selectors: Selectors {
            unencrypted_suffix: rule.selectors.unencrypted_suffix.clone(),
            encrypted_suffix: rule.selectors.encrypted_suffix.clone(),
            ..Selectors::default()
        },
        version: metadata::WRITER_VERSION.to_string(),
        ..Metadata::default()
    };
    file.rotate(&rule.key_groups, rule.shamir_threshold)?;
    file.encrypt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn destination_names_like_sops() {
        let f = Path::new("dir/sub/app.enc.yaml");
        assert_eq!(destination_name(f, None, false), "app.enc.yaml");
        assert_eq!(destination_name(f, None, true), "app.enc");
        assert_eq!(
            destination_name(f, Some(Path::new("dir")), false),
            "sub/app.enc.yaml"
        );
        assert_eq!(
            destination_name(f, Some(Path::new("dir/")), true),
            "sub/app.enc"
        );
        assert_eq!(
            destination_name(Path::new("a.d/noext"), None, true),
            "noext"
        );
        assert_eq!(
            destination_name(Path::new("x.json"), Some(Path::new("x.json")), false),
            "."
        );
    }

    #[test]
    fn destinations_and_their_paths() {
        let rule = |f: &dyn Fn(&mut DestinationRule)| {
            let mut r = DestinationRule::default();
            f(&mut r);
            destination(&r)
        };
        let s3 = rule(&|r| {
            r.s3_bucket = "b".into();
            r.s3_prefix = "p/".into();
        })
        .unwrap();
        assert_eq!(s3.path("f.yaml"), "s3://b/p/f.yaml");
        assert_eq!(s3.payload_kind(), PayloadKind::EncryptedFile);
        let gcs = rule(&|r| r.gcs_bucket = "g".into()).unwrap();
        assert_eq!(gcs.path("f"), "gcs://g/f");
        let v = rule(&|r| {
            r.vault_path = "app".into();
            r.vault_address = "http://h:1".into();
        })
        .unwrap();
        assert_eq!(v.path("f"), "http://h:1/v1/secret/data/app/f");
        assert_eq!(v.payload_kind(), PayloadKind::PlaintextData);
        assert!(rule(&|_| {}).is_none());
        let err = s3
            .upload(&Payload::PlaintextData(KvData::default()), "f")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "NotImplementedError: S3 does not support uploading the unencrypted file contents."
        );
    }
}
