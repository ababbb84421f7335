//! The GCS destination: the encrypted file as object `PREFIXNAME` of a bucket, with one
//! JSON API media upload (`POST /upload/storage/v1/b/BUCKET/o?uploadType=media&name=...`).
//! There is no small official Rust client, so this reuses the GCP KMS key source's HTTP client
//! and credentials (`GOOGLE_CREDENTIALS`, `GOOGLE_OAUTH_ACCESS_TOKEN`, application default
//! credentials). `STORAGE_EMULATOR_HOST` (`host:port` or a URL) sends the upload to an
//! emulator without credentials, as Go's `cloud.google.com/go/storage` does.

use super::{Destination, Payload, PayloadKind, PublishError, Uploaded};

/// The JSON API's address.
const DEFAULT_BASE: &str = "https://storage.googleapis.com";

/// A GCS bucket and the prefix put in front of object names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsDestination {
    bucket: String,
    prefix: String,
}

impl GcsDestination {
    /// `gcs_bucket` and `gcs_prefix` of a destination rule.
    pub fn new(bucket: &str, prefix: &str) -> GcsDestination {
        GcsDestination {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }
    }

    /// The upload URL for `object`, at the emulator when `emulator` is set.
    fn upload_url(&self, emulator: Option<&str>, object: &str) -> String {
        let base = match emulator {
            Some(host) if host.contains("://") => host.trim_end_matches('/').to_string(),
            Some(host) => format!("http://{}", host.trim_end_matches('/')),
            None => DEFAULT_BASE.to_string(),
        };
        format!(
            "{base}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            escape(&self.bucket),
            escape(object)
        )
    }
}

/// Percent-encodes everything but the unreserved characters (a path segment or a query value).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The content type Go's storage writer detects for small files: text or bytes.
fn content_type(bytes: &[u8]) -> &'static str {
    if std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0) {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

impl Destination for GcsDestination {
    fn payload_kind(&self) -> PayloadKind {
        PayloadKind::EncryptedFile
    }

    fn path(&self, name: &str) -> String {
        format!("gcs://{}/{}{}", self.bucket, self.prefix, name)
    }

    fn upload(&self, payload: &Payload, name: &str) -> Result<Uploaded, PublishError> {
        let Payload::EncryptedFile(bytes) = payload else {
            return Err(PublishError::NotImplemented(
                "GCS does not support uploading the unencrypted file contents.",
            ));
        };
        let emulator = std::env::var("STORAGE_EMULATOR_HOST")
            .ok()
            .filter(|h| !h.is_empty());
        let url = self.upload_url(emulator.as_deref(), &format!("{}{}", self.prefix, name));
        let settings = crate::keys::gcp_kms::Settings::from_env();
        let mut headers: Vec<(&str, &str)> = vec![("Content-Type", content_type(bytes))];
        let access = match emulator {
            Some(_) => None,
            None => Some(
                settings
                    .access()
                    .map_err(|e| PublishError::Upload(format!("storage: credentials: {e}")))?,
            ),
        };
        let auth = access
            .as_ref()
            .map(|(token, _)| zeroize::Zeroizing::new(format!("Bearer {}", token.as_str())));
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        if let Some(q) = access.as_ref().and_then(|(_, q)| q.as_deref()) {
            headers.push(("x-goog-user-project", q));
        }
        let (status, answer) = settings
            .request("POST", &url, &headers, bytes, settings.connect_timeout)
            .map_err(PublishError::Upload)?;
        if !(200..300).contains(&status) {
            return Err(PublishError::Upload(crate::keys::gcp_kms::api_error(
                status, &answer,
            )));
        }
        Ok(Uploaded::Written(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_urls() {
        let d = GcsDestination::new("bkt", "pre/");
        assert_eq!(
            d.upload_url(None, "pre/a b.yaml"),
            "https://storage.googleapis.com/upload/storage/v1/b/bkt/o?uploadType=media&name=pre%2Fa%20b.yaml"
        );
        assert_eq!(
            d.upload_url(Some("127.0.0.1:4443"), "x"),
            "http://127.0.0.1:4443/upload/storage/v1/b/bkt/o?uploadType=media&name=x"
        );
        assert_eq!(
            d.upload_url(Some("https://gcs.local/"), "x"),
            "https://gcs.local/upload/storage/v1/b/bkt/o?uploadType=media&name=x"
        );
        assert_eq!(content_type(b"a: 1\n"), "text/plain; charset=utf-8");
        assert_eq!(content_type(b"\xff"), "application/octet-stream");
    }
}
