//! sops's key service: a gRPC API through which one sops asks another process, usually on
//! another machine, to wrap or unwrap a data key with the master keys *that process* has.
//!
//! The wire protocol is sops's own (`keyservice.proto`, services `/KeyService/Encrypt` and
//! `/KeyService/Decrypt`), so our server serves Go sops clients and our client uses Go sops
//! servers. The key service has no authentication and no TLS, exactly like sops's: serve it on
//! a Unix socket or on loopback, and forward it over SSH when it must cross machines.
//!
//! - [`server`]: the request handler over this machine's key sources ([`crate::keys`]) and
//!   the listener (TCP or Unix socket) with a clean shutdown on SIGINT/SIGTERM.
//! - [`client`]: a remote key service as a key source. [`KeyServices`] is the set a command
//!   uses (sops's `--keyservice` and `--enable-local-keyservice`): for decryption its remote
//!   clients are [`crate::keys::Unwrapper`]s tried after the local keys, for encryption each
//!   recipient tries the local key first and then each remote service, as sops does.
//!
//! Nothing here starts a tokio runtime until a remote key service is actually used.

pub mod client;
#[allow(missing_docs)]
pub mod proto;
pub mod server;

pub use client::{install, installed, recipient_for, KeyServiceClient, KeyServices};
pub use server::{serve, Listen, ServerOptions};

use crate::config::KeySpec;
use crate::metadata::StoredKey;
use proto::key::KeyType;

/// Errors of the key service, client or server side. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyServiceError {
    /// A `--keyservice` URI that is not `tcp://host:port` or `unix:///path`.
    #[error("invalid key service address {uri:?}: {reason}")]
    Address {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not listen on the address.
    #[error("could not listen on {address}: {reason}")]
    Listen {
        /// `network://address`.
        address: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The server stopped with an error.
    #[error("key service failed: {0}")]
    Serve(String),
    /// The async runtime could not be started.
    #[error("could not start the key service runtime: {0}")]
    Runtime(String),
}

/// The protocol key for a key entry of a file (the key `Decrypt` is asked to use).
pub fn key_of_stored(key: &StoredKey) -> proto::Key {
    let key_type = match key {
        StoredKey::Age { recipient, .. } => KeyType::AgeKey(proto::AgeKey {
            recipient: recipient.clone(),
        }),
        StoredKey::Pgp { fp, .. } => KeyType::PgpKey(proto::PgpKey {
            fingerprint: fp.clone(),
        }),
        StoredKey::Kms {
            arn,
            role,
            context,
            aws_profile,
            ..
        } => KeyType::KmsKey(proto::KmsKey {
            arn: arn.clone(),
            role: role.clone(),
            context: context.iter().cloned().collect(),
            aws_profile: aws_profile.clone(),
        }),
        StoredKey::GcpKms { resource_id, .. } => KeyType::GcpKmsKey(proto::GcpKmsKey {
            resource_id: resource_id.clone(),
        }),
        StoredKey::AzureKv {
            vault_url,
            name,
            version,
            ..
        } => KeyType::AzureKeyvaultKey(proto::AzureKeyVaultKey {
            vault_url: vault_url.clone(),
            name: name.clone(),
            version: version.clone(),
        }),
        StoredKey::HcVault {
            vault_address,
            engine_path,
            key_name,
            ..
        } => KeyType::VaultKey(proto::VaultKey {
            vault_address: vault_address.clone(),
            engine_path: engine_path.clone(),
            key_name: key_name.clone(),
        }),
        StoredKey::Hckms { key_id, .. } => KeyType::HckmsKey(proto::HckmsKey {
            key_id: key_id.clone(),
        }),
    };
    proto::Key {
        key_type: Some(key_type),
    }
}

/// The key entry a file stores for `key` with the wrapped data key `enc` (a new entry, so
/// `created_at` is now where the type has one).
pub fn stored_of_key(key: &proto::Key, enc: String) -> Option<StoredKey> {
    let now = crate::timestamp::now_utc;
    Some(match key.key_type.as_ref()? {
        KeyType::AgeKey(k) => StoredKey::Age {
            recipient: k.recipient.clone(),
            enc,
        },
        KeyType::PgpKey(k) => StoredKey::Pgp {
            fp: k.fingerprint.clone(),
            created_at: now(),
            enc,
        },
        KeyType::KmsKey(k) => {
            let context: Vec<(String, String)> = k
                .context
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect();
            StoredKey::Kms {
                arn: k.arn.clone(),
                role: k.role.clone(),
                context: crate::keys::kms::normalize_context(&context),
                created_at: now(),
                enc,
                aws_profile: k.aws_profile.clone(),
            }
        }
        KeyType::GcpKmsKey(k) => StoredKey::GcpKms {
            resource_id: k.resource_id.clone(),
            created_at: now(),
            enc,
        },
        KeyType::AzureKeyvaultKey(k) => StoredKey::AzureKv {
            vault_url: k.vault_url.clone(),
            name: k.name.clone(),
            version: k.version.clone(),
            created_at: now(),
            enc,
        },
        KeyType::VaultKey(k) => StoredKey::HcVault {
            vault_address: k.vault_address.clone(),
            engine_path: k.engine_path.clone(),
            key_name: k.key_name.clone(),
            created_at: now(),
            enc,
        },
        KeyType::HckmsKey(k) => StoredKey::Hckms {
            key_id: k.key_id.clone(),
            created_at: now(),
            enc,
        },
    })
}

/// The protocol key for a key named by a rule or flag (the key `Encrypt` is asked to use).
/// The entry made with an empty `enc` carries exactly the fields the protocol sends.
pub fn key_of_spec(spec: &KeySpec) -> Result<proto::Key, crate::keys::KeyError> {
    let stored = match spec {
        KeySpec::Age(r) => StoredKey::Age {
            recipient: r.clone(),
            enc: String::new(),
        },
        KeySpec::Pgp(fp) => StoredKey::Pgp {
            fp: fp.clone(),
            created_at: String::new(),
            enc: String::new(),
        },
        KeySpec::Kms {
            arn,
            role,
            context,
            aws_profile,
        } => StoredKey::Kms {
            arn: arn.clone(),
            role: role.clone(),
            context: context.clone(),
            created_at: String::new(),
            enc: String::new(),
            aws_profile: aws_profile.clone(),
        },
        KeySpec::GcpKms(id) => StoredKey::GcpKms {
            resource_id: id.clone(),
            created_at: String::new(),
            enc: String::new(),
        },
        KeySpec::AzureKv {
            vault_url,
            key,
            version,
        } => StoredKey::AzureKv {
            vault_url: vault_url.clone(),
            name: key.clone(),
            version: version.clone(),
            created_at: String::new(),
            enc: String::new(),
        },
        KeySpec::HcVault(uri) => {
            let v = crate::keys::hc_vault::VaultKey::parse(uri)?;
            StoredKey::HcVault {
                vault_address: v.address,
                engine_path: v.engine_path,
                key_name: v.key_name,
                created_at: String::new(),
                enc: String::new(),
            }
        }
        KeySpec::Hckms(id) => StoredKey::Hckms {
            key_id: id.clone(),
            created_at: String::new(),
            enc: String::new(),
        },
    };
    Ok(key_of_stored(&stored))
}

/// The rule-style key for a protocol key, from which the server builds its recipient.
pub fn spec_of_key(key: &proto::Key) -> Option<KeySpec> {
    Some(match key.key_type.as_ref()? {
        KeyType::AgeKey(k) => KeySpec::Age(k.recipient.clone()),
        KeyType::PgpKey(k) => KeySpec::Pgp(k.fingerprint.clone()),
        KeyType::KmsKey(k) => {
            let mut context: Vec<(String, String)> = k
                .context
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect();
            context.sort();
            KeySpec::Kms {
                arn: k.arn.clone(),
                role: k.role.clone(),
                context,
                aws_profile: k.aws_profile.clone(),
            }
        }
        KeyType::GcpKmsKey(k) => KeySpec::GcpKms(k.resource_id.clone()),
        KeyType::AzureKeyvaultKey(k) => KeySpec::AzureKv {
            vault_url: k.vault_url.clone(),
            key: k.name.clone(),
            version: k.version.clone(),
        },
        KeyType::VaultKey(k) => KeySpec::HcVault(crate::keys::hc_vault::display_name(
            &k.vault_address,
            &k.engine_path,
            &k.key_name,
        )),
        KeyType::HckmsKey(k) => KeySpec::Hckms(k.key_id.clone()),
    })
}

/// The wrapped data key of an entry.
pub(crate) fn enc_of(key: &StoredKey) -> &str {
    match key {
        StoredKey::Age { enc, .. }
        | StoredKey::Pgp { enc, .. }
        | StoredKey::Kms { enc, .. }
        | StoredKey::GcpKms { enc, .. }
        | StoredKey::AzureKv { enc, .. }
        | StoredKey::HcVault { enc, .. }
        | StoredKey::Hckms { enc, .. } => enc,
    }
}

/// A key as sops's key service names it in prompts (`keyToString`): public identifiers only.
pub fn describe(key: &proto::Key) -> String {
    match key.key_type.as_ref() {
        Some(KeyType::PgpKey(k)) => format!("PGP key with fingerprint {}", k.fingerprint),
        Some(KeyType::KmsKey(k)) => format!("AWS KMS key with ARN {}", k.arn),
        Some(KeyType::GcpKmsKey(k)) => format!("GCP KMS key with resource ID {}", k.resource_id),
        Some(KeyType::AzureKeyvaultKey(k)) => format!(
            "Azure Key Vault key with URL {}/keys/{}/{}",
            k.vault_url, k.name, k.version
        ),
        Some(KeyType::VaultKey(k)) => format!(
            "Hashicorp Vault key with URI {}/v1/{}/keys/{}",
            k.vault_address, k.engine_path, k.key_name
        ),
        Some(KeyType::HckmsKey(k)) => format!("HuaweiCloud KMS key with ID {}", k.key_id),
        // sops's keyToString has no case for age keys.
        Some(KeyType::AgeKey(k)) => format!("age key with recipient {}", k.recipient),
        None => "Unknown key type".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_between_entries_and_the_protocol() {
        let kms = StoredKey::Kms {
            arn: "arn:aws:kms:us-east-1:1:key/k".into(),
            role: "r".into(),
            context: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
            created_at: "x".into(),
            enc: "old".into(),
            aws_profile: "p".into(),
        };
        let key = key_of_stored(&kms);
        let back = stored_of_key(&key, "new".into()).unwrap();
        match back {
            StoredKey::Kms {
                arn,
                role,
                context,
                enc,
                aws_profile,
                ..
            } => {
                assert_eq!(arn, "arn:aws:kms:us-east-1:1:key/k");
                assert_eq!(role, "r");
                assert_eq!(context.len(), 2);
                assert_eq!(enc, "new");
                assert_eq!(aws_profile, "p");
            }
            other => panic!("{other:?}"),
        }
        let spec = KeySpec::HcVault("http://127.0.0.1:8200/v1/transit/keys/k".into());
        let key = key_of_spec(&spec).unwrap();
        assert_eq!(spec_of_key(&key).unwrap(), spec);
        assert_eq!(
            describe(&key),
            "Hashicorp Vault key with URI http://127.0.0.1:8200/v1/transit/keys/k"
        );
        let age = KeySpec::Age("age1x".into());
        assert_eq!(spec_of_key(&key_of_spec(&age).unwrap()).unwrap(), age);
        assert!(stored_of_key(&proto::Key { key_type: None }, String::new()).is_none());
    }
}
