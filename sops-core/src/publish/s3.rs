//! The S3 destination: `PutObject` of the encrypted file at `s3://BUCKET/PREFIXNAME` with the
//! official AWS SDK, configured from the environment like sops's Go SDK (credentials, region,
//! `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` for S3-compatible servers). The SDK and its
//! runtime start only when a file is uploaded.

use std::time::Duration;

use super::{Destination, Payload, PayloadKind, PublishError, Uploaded};
use crate::keys::kms::client::{describe_error, environment_config, runtime};
use crate::keys::kms::Timeouts;

/// An S3 bucket and the prefix put in front of object names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Destination {
    bucket: String,
    prefix: String,
}

impl S3Destination {
    /// `s3_bucket` and `s3_prefix` of a destination rule.
    pub fn new(bucket: &str, prefix: &str) -> S3Destination {
        S3Destination {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }
    }

    /// Time limits: the KMS ones for connecting (`SOPS_KMS_CONNECT_TIMEOUT`), longer ones
    /// for the transfer.
    fn timeouts() -> Timeouts {
        let kms = Timeouts::from_env();
        Timeouts {
            connect: kms.connect,
            read: Duration::from_secs(60),
            attempt: Duration::from_secs(120),
            operation: Duration::from_secs(300),
            max_attempts: 2,
        }
    }
}

impl Destination for S3Destination {
    fn payload_kind(&self) -> PayloadKind {
        PayloadKind::EncryptedFile
    }

    fn path(&self, name: &str) -> String {
        format!("s3://{}/{}{}", self.bucket, self.prefix, name)
    }

    fn upload(&self, payload: &Payload, name: &str) -> Result<Uploaded, PublishError> {
        let Payload::EncryptedFile(bytes) = payload else {
            return Err(PublishError::NotImplemented(
                "S3 does not support uploading the unencrypted file contents.",
            ));
        };
        let key = format!("{}{}", self.prefix, name);
        let rt = runtime().map_err(PublishError::Upload)?;
        rt.block_on(async {
            let config = environment_config(Self::timeouts()).await;
            let client = aws_sdk_s3::Client::new(&config);
            client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .body(aws_sdk_s3::primitives::ByteStream::from(bytes.clone()))
                .send()
                .await
                .map_err(|e| {
                    PublishError::Upload(format!(
                        "operation error S3: PutObject: {}",
                        describe_error(&e)
                    ))
                })
        })?;
        Ok(Uploaded::Written(Vec::new()))
    }
}
