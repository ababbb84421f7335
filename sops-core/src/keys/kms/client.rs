//! The part of the KMS key source that talks to AWS: the SDK clients, the lazily started
//! runtime, role assumption, and the [`Recipient`] / [`Unwrapper`] implementations.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use zeroize::Zeroizing;

use super::{normalize_context, sts_session_name, KmsKey};
use crate::keys::{KeyError, Recipient, Unwrapper};
use crate::metadata::StoredKey;

/// Time limits of KMS calls. The defaults let an unreachable endpoint fail within a few
/// seconds; `SOPS_KMS_CONNECT_TIMEOUT` and `SOPS_KMS_TIMEOUT` (seconds) override the connect
/// and per-attempt limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// Waiting for the first byte of a response.
    pub read: Duration,
    /// One attempt of a call, connection included.
    pub attempt: Duration,
    /// A whole call, retries included.
    pub operation: Duration,
    /// How many attempts a call makes (the first one included).
    pub max_attempts: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(5),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(10),
            max_attempts: 2,
        }
    }
}

impl Timeouts {
    /// The defaults, with `SOPS_KMS_CONNECT_TIMEOUT` / `SOPS_KMS_TIMEOUT` applied.
    pub fn from_env() -> Timeouts {
        let mut t = Timeouts::default();
        let secs = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0 && *s < 3600.0)
                .map(Duration::from_secs_f64)
        };
        if let Some(d) = secs("SOPS_KMS_CONNECT_TIMEOUT") {
            t.connect = d;
        }
        if let Some(d) = secs("SOPS_KMS_TIMEOUT") {
            t.read = d;
            t.attempt = d;
            t.operation = d * t.max_attempts;
        }
        t
    }
}

/// The runtime that drives SDK calls, started on first use only.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("could not start the AWS client runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// KMS clients by (region, profile, role, timeouts), so a file with several keys in the same
/// place loads configuration and assumes a role once.
type ClientCache = Mutex<HashMap<(String, String, String, Timeouts), aws_sdk_kms::Client>>;

fn cache() -> &'static ClientCache {
    static CACHE: OnceLock<ClientCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// An SDK error as one line: its message and those of its causes, each once
/// (`dispatch failure: io error: ...: Connection refused (os error 111)`).
pub(crate) fn describe_error(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Fails as sops does when a key names an AWS profile that neither the shared config file
/// nor the credentials file defines.
async fn check_profile(profile: &str) -> Result<(), String> {
    let fs = aws_types::os_shim_internal::Fs::real();
    let env = aws_types::os_shim_internal::Env::real();
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = aws_config::profile::load(&fs, &env, &files, None)
        .await
        .map_err(|e| format!("could not load AWS config: {}", describe_error(&e)))?;
    if set.get_profile(profile).is_none() {
        return Err(format!(
            "could not load AWS config: failed to get shared config profile, {profile}"
        ));
    }
    Ok(())
}

fn hostname() -> Result<String, String> {
    match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(h) => Ok(h.trim().to_string()),
        Err(e) => std::env::var("HOSTNAME")
            .map_err(|_| format!("failed to construct STS session name: {e}")),
    }
}

/// The AWS configuration of the environment (region, credentials, endpoint overrides such as
/// `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`) with our HTTPS client and these time limits:
/// what other AWS services than KMS (`sops publish` to S3) start from.
#[cfg(feature = "publish")]
pub(crate) async fn environment_config(timeouts: Timeouts) -> aws_config::SdkConfig {
    let http = https_client();
    let timeout_config = timeout_config(timeouts);
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeout_config)
        .retry_config(RetryConfig::standard().with_max_attempts(timeouts.max_attempts))
        .load()
        .await
}

/// Our HTTPS client for the AWS SDK (rustls with ring).
fn https_client() -> aws_types::sdk_config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The SDK's time limits from ours.
fn timeout_config(timeouts: Timeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .operation_attempt_timeout(timeouts.attempt)
        .operation_timeout(timeouts.operation)
        .build()
}

/// Builds (or reuses) the KMS client for a key: region from the ARN, the key's profile, the
/// standard credential chain, then the role when one is set.
async fn client_for(
    region: &str,
    profile: &str,
    role: &str,
    timeouts: Timeouts,
) -> Result<aws_sdk_kms::Client, String> {
    let cache_key = (
        region.to_string(),
        profile.to_string(),
        role.to_string(),
        timeouts,
    );
    if let Some(c) = cache().lock().ok().and_then(|m| m.get(&cache_key).cloned()) {
        return Ok(c);
    }
    let http = https_client();
    let timeout_config = timeout_config(timeouts);
    let retry_config = RetryConfig::standard().with_max_attempts(timeouts.max_attempts);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .http_client(http.clone())
        .timeout_config(timeout_config.clone())
        .retry_config(retry_config.clone());
    if !profile.is_empty() {
        // As in sops (the Go SDK), a key's profile must exist, and its credentials are the
        // profile's (they win over credentials in the environment).
        check_profile(profile).await?;
        let provider_config = aws_config::provider_config::ProviderConfig::without_region()
            .with_region(Some(Region::new(region.to_string())))
            .with_http_client(http)
            .with_timeout_config(timeout_config)
            .with_retry_config(retry_config);
        let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .configure(&provider_config)
            .profile_name(profile)
            .build();
        loader = loader
            .profile_name(profile)
            .credentials_provider(credentials);
    }
    let config = loader.load().await;
    let client = if role.is_empty() {
        aws_sdk_kms::Client::new(&config)
    } else {
        let name = sts_session_name(&hostname()?);
        let sts = aws_sdk_sts::Client::new(&config);
        let out = sts
            .assume_role()
            .role_arn(role)
            .role_session_name(name)
            .send()
            .await
            .map_err(|e| format!("failed to assume role '{role}': {}", describe_error(&e)))?;
        let creds = out
            .credentials()
            .ok_or_else(|| format!("failed to assume role '{role}': no credentials returned"))?;
        let provider = aws_sdk_kms::config::Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_string()),
            None,
            "sops-assumed-role",
        );
        let conf = aws_sdk_kms::config::Builder::from(&config)
            .credentials_provider(provider)
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    };
    if let Ok(mut m) = cache().lock() {
        m.insert(cache_key, client.clone());
    }
    Ok(client)
}

fn context_map(context: &[(String, String)]) -> Option<HashMap<String, String>> {
    if context.is_empty() {
        None
    } else {
        Some(context.iter().cloned().collect())
    }
}

impl KmsKey {
    /// Encrypts `secret` with this key; returns the ciphertext blob.
    fn encrypt(&self, secret: &[u8], timeouts: Timeouts) -> Result<Vec<u8>, String> {
        let region = self.region()?;
        runtime()?.block_on(async {
            let client = client_for(&region, &self.aws_profile, &self.role, timeouts).await?;
            let out = client
                .encrypt()
                .key_id(&self.arn)
                .plaintext(Blob::new(secret.to_vec()))
                .set_encryption_context(context_map(&self.context))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "failed to encrypt sops data key with AWS KMS: {}",
                        describe_error(&e)
                    )
                })?;
            out.ciphertext_blob()
                .map(|b| b.as_ref().to_vec())
                .ok_or_else(|| {
                    "failed to encrypt sops data key with AWS KMS: no ciphertext returned"
                        .to_string()
                })
        })
    }

    /// Decrypts a ciphertext blob made by this key.
    fn decrypt(&self, blob: Vec<u8>, timeouts: Timeouts) -> Result<Zeroizing<Vec<u8>>, String> {
        let region = self.region()?;
        runtime()?.block_on(async {
            let client = client_for(&region, &self.aws_profile, &self.role, timeouts).await?;
            let out = client
                .decrypt()
                .key_id(&self.arn)
                .ciphertext_blob(Blob::new(blob))
                .set_encryption_context(context_map(&self.context))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "failed to decrypt sops data key with AWS KMS: {}",
                        describe_error(&e)
                    )
                })?;
            let plain = out.plaintext.map(|b| Zeroizing::new(b.into_inner()));
            plain.ok_or_else(|| {
                "failed to decrypt sops data key with AWS KMS: no plaintext returned".to_string()
            })
        })
    }
}

impl Recipient for KmsKey {
    fn wrap(&self, secret: &[u8]) -> Result<StoredKey, KeyError> {
        let blob = self
            .encrypt(secret, Timeouts::from_env())
            .map_err(|reason| KeyError::Wrap {
                key: self.describe(),
                reason,
            })?;
        Ok(StoredKey::Kms {
            arn: self.arn.clone(),
            role: self.role.clone(),
            context: self.context.clone(),
            created_at: crate::timestamp::now_utc(),
            enc: base64::engine::general_purpose::STANDARD.encode(blob),
            aws_profile: self.aws_profile.clone(),
        })
    }

    fn describe(&self) -> String {
        format!("AWS KMS key {}", self.name())
    }
}

/// Unwraps KMS-wrapped keys by calling KMS `Decrypt` with each entry's ARN, role, context and
/// profile, and the credentials of the environment.
#[derive(Debug, Clone, Default)]
pub struct KmsUnwrapper {
    timeouts: Option<Timeouts>,
}

impl KmsUnwrapper {
    /// Uses the standard AWS configuration of the environment, with the default timeouts
    /// (or those of `SOPS_KMS_CONNECT_TIMEOUT` / `SOPS_KMS_TIMEOUT`).
    pub fn from_env() -> KmsUnwrapper {
        KmsUnwrapper::default()
    }

    /// Uses these time limits instead.
    pub fn with_timeouts(timeouts: Timeouts) -> KmsUnwrapper {
        KmsUnwrapper {
            timeouts: Some(timeouts),
        }
    }
}

impl Unwrapper for KmsUnwrapper {
    fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
        let StoredKey::Kms {
            arn,
            role,
            context,
            enc,
            aws_profile,
            ..
        } = key
        else {
            return None;
        };
        let blob = match base64::engine::general_purpose::STANDARD.decode(enc.as_bytes()) {
            Ok(b) => b,
            Err(e) => {
                return Some(Err(KeyError::Unwrap(format!(
                    "error base64-decoding encrypted data key: {e}"
                ))))
            }
        };
        let k = KmsKey {
            arn: arn.clone(),
            role: role.clone(),
            context: normalize_context(context),
            aws_profile: aws_profile.clone(),
        };
        let timeouts = self.timeouts.unwrap_or_else(Timeouts::from_env);
        Some(k.decrypt(blob, timeouts).map_err(KeyError::Unwrap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_base64_is_reported_without_a_call() {
        let key = StoredKey::Kms {
            arn: "arn:aws:kms:us-east-1:1:key/a".into(),
            role: String::new(),
            context: Vec::new(),
            created_at: String::new(),
            enc: "not base64!".into(),
            aws_profile: String::new(),
        };
        let err = KmsUnwrapper::from_env()
            .unwrap(&key)
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("error base64-decoding encrypted data key"),
            "{err}"
        );
        let age = StoredKey::Age {
            recipient: "age1x".into(),
            enc: String::new(),
        };
        assert!(KmsUnwrapper::from_env().unwrap(&age).is_none());
    }

    #[test]
    fn bad_arn_fails_before_any_call() {
        let key = KmsKey::from_arn("arn:aws:kms:nowhere", &[], "");
        let err = key.wrap(&[1; 32]).unwrap_err().to_string();
        assert!(
            err.ends_with("no valid ARN found in 'arn:aws:kms:nowhere'"),
            "{err}"
        );
    }

    #[test]
    fn error_chains_are_one_line() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("connection refused"));
        assert_eq!(describe_error(&e), "dispatch failure: connection refused");
    }

    #[test]
    fn default_timeouts_are_short() {
        let t = Timeouts::default();
        assert!(t.operation <= Duration::from_secs(10));
        assert!(t.connect <= Duration::from_secs(2));
    }
}
