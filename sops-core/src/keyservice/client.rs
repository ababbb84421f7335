//! Remote key services as key sources: `--keyservice tcp://host:port` / `unix:///path`.
//!
//! A [`KeyServiceClient`] talks to one server. [`KeyServices`] is what a command uses: the
//! local keys (unless `--enable-local-keyservice=false`) and then each remote service in the
//! order given, as sops does: a key is tried with every service until one succeeds, and the
//! failure report lists each service's error. The process-wide choice is [`install`]ed once by
//! the command line so that every path that wraps data keys ([`recipient_for`]) sees it.
//!
//! The tokio runtime behind the clients starts on first use, never when no remote key service
//! is configured.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use zeroize::Zeroizing;

use super::proto::key_service_client::KeyServiceClient as GrpcClient;
use super::proto::{self, DecryptRequest, EncryptRequest};
use super::{key_of_spec, key_of_stored, stored_of_key, KeyServiceError};
use crate::config::KeySpec;
use crate::keys::{KeyError, Recipient, Unwrapper};
use crate::metadata::StoredKey;

/// How long connecting to a key service may take before the request fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The runtime shared by all clients of the process, started on first use.
fn runtime() -> Result<&'static tokio::runtime::Runtime, KeyServiceError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| KeyServiceError::Runtime(e.clone()))
}

/// Where a key service listens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `host:port`.
    Tcp(String),
    /// A socket path.
    Unix(PathBuf),
}

/// Parses a `--keyservice` URI the way sops reads it (Go's `url.Parse`): `tcp://host:port`
/// dials the host part, `unix:///path` (or `unix://path`) the path.
fn parse_uri(uri: &str) -> Result<Target, KeyServiceError> {
    let bad = |reason: &str| KeyServiceError::Address {
        uri: uri.to_string(),
        reason: reason.to_string(),
    };
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| bad("expected protocol://address, e.g. tcp://127.0.0.1:5000"))?;
    match scheme {
        "tcp" | "tcp4" | "tcp6" => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty() {
                return Err(bad("no host:port"));
            }
            Ok(Target::Tcp(host.to_string()))
        }
        "unix" => {
            let path = rest.split(['?', '#']).next().unwrap_or("");
            if path.is_empty() {
                return Err(bad("no socket path"));
            }
            Ok(Target::Unix(PathBuf::from(path)))
        }
        _ => Err(bad("the protocol must be tcp or unix")),
    }
}

/// A connection (made lazily) to one remote key service.
#[derive(Debug, Clone)]
pub struct KeyServiceClient {
    address: String,
    channel: tonic::transport::Channel,
}

impl KeyServiceClient {
    /// A client for `uri` (`tcp://host:port` or `unix:///path/to/socket`). Nothing is
    /// dialed until the first request.
    pub fn new(uri: &str) -> Result<KeyServiceClient, KeyServiceError> {
        let target = parse_uri(uri)?;
        let rt = runtime()?;
        let _guard = rt.enter();
        let (address, endpoint) = match &target {
            Target::Tcp(host) => (
                format!("tcp://{host}"),
                tonic::transport::Endpoint::from_shared(format!("http://{host}")).map_err(|e| {
                    KeyServiceError::Address {
                        uri: uri.to_string(),
                        reason: e.to_string(),
                    }
                })?,
            ),
            Target::Unix(path) => (
                format!("unix://{}", path.display()),
                tonic::transport::Endpoint::from_static("http://localhost"),
            ),
        };
        let endpoint = endpoint
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20));
        let channel = match target {
            Target::Tcp(_) => endpoint.connect_lazy(),
            Target::Unix(path) => endpoint.connect_with_connector_lazy(tower::service_fn(
                move |_: tonic::codegen::http::Uri| {
                    let path = path.clone();
                    async move {
                        let stream = tokio::net::UnixStream::connect(&path).await?;
                        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                    }
                },
            )),
        };
        Ok(KeyServiceClient { address, channel })
    }

    /// The service's address as sops logs it (`tcp://127.0.0.1:5000`, `unix:///tmp/s`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Asks the service to wrap `plaintext` with `key`; returns the stored form (`enc`).
    pub fn encrypt(&self, key: proto::Key, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let rt = runtime().map_err(|e| e.to_string())?;
        let mut client = GrpcClient::new(self.channel.clone());
        let request = EncryptRequest {
            key: Some(key),
            plaintext: plaintext.to_vec(),
        };
        let response = rt
            .block_on(client.encrypt(request))
            .map_err(|s| status_message(&s, &self.address))?;
        Ok(response.into_inner().ciphertext)
    }

    /// Asks the service to unwrap `ciphertext` (an entry's `enc`) with `key`.
    pub fn decrypt(
        &self,
        key: proto::Key,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        let rt = runtime().map_err(|e| e.to_string())?;
        let mut client = GrpcClient::new(self.channel.clone());
        let request = DecryptRequest {
            key: Some(key),
            ciphertext: ciphertext.to_vec(),
        };
        let response = rt
            .block_on(client.decrypt(request))
            .map_err(|s| status_message(&s, &self.address))?;
        Ok(Zeroizing::new(response.into_inner().plaintext))
    }
}

/// A gRPC status as Go's grpc prints it (`rpc error: code = Unavailable desc = ...`); when
/// the call never reached the server, the description says which address could not be
/// dialed and why.
fn status_message(status: &tonic::Status, address: &str) -> String {
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return format!(
                "rpc error: code = {:?} desc = connection error: dial {address}: {io}",
                status.code()
            );
        }
        source = err.source();
    }
    let mut desc = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        let text = err.to_string();
        if !desc.contains(&text) {
            if !desc.is_empty() {
                desc.push_str(": ");
            }
            desc.push_str(&text);
        }
        source = err.source();
    }
    format!("rpc error: code = {:?} desc = {desc}", status.code())
}

impl Unwrapper for KeyServiceClient {
    fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
        let enc = super::enc_of(key).as_bytes();
        Some(
            self.decrypt(key_of_stored(key), enc)
                .map_err(KeyError::Unwrap),
        )
    }
}

/// The key services a command uses: sops's `--enable-local-keyservice` and `--keyservice`.
#[derive(Debug)]
pub struct KeyServices {
    /// Whether the keys of this machine are used (first).
    pub local: bool,
    /// The remote services, in the order given.
    pub remotes: Vec<KeyServiceClient>,
}

impl KeyServices {
    /// Builds the set from the flags. URIs that cannot be used are returned beside it, to be
    /// reported and skipped, as sops skips an address it cannot parse.
    pub fn new(local: bool, uris: &[String]) -> (KeyServices, Vec<KeyServiceError>) {
        let mut remotes = Vec::new();
        let mut errors = Vec::new();
        for uri in uris {
            match KeyServiceClient::new(uri) {
                Ok(client) => remotes.push(client),
                Err(e) => errors.push(e),
            }
        }
        (KeyServices { local, remotes }, errors)
    }

    /// The key sources for decryption: `local` (when enabled), then every remote service.
    pub fn unwrappers<'a>(&'a self, local: &[&'a dyn Unwrapper]) -> Vec<&'a dyn Unwrapper> {
        let mut out: Vec<&'a dyn Unwrapper> = Vec::new();
        if self.local {
            out.extend_from_slice(local);
        }
        out.extend(self.remotes.iter().map(|r| r as &dyn Unwrapper));
        out
    }
}

static INSTALLED: OnceLock<KeyServices> = OnceLock::new();

/// Makes `services` the key services of this process (the first call wins). Until then, and
/// in programs that never call it, only local keys are used.
pub fn install(services: KeyServices) -> &'static KeyServices {
    INSTALLED.get_or_init(|| services)
}

/// The key services [`install`]ed for this process, if any.
pub fn installed() -> Option<&'static KeyServices> {
    INSTALLED.get()
}

/// The recipient that wraps data keys for `spec` with the installed key services: the local
/// key first (when enabled), then each remote service until one succeeds. Without remote
/// services this is the local recipient ([`KeySpec::recipient`]).
pub fn recipient_for(spec: &KeySpec) -> Result<Box<dyn Recipient>, KeyError> {
    let services = match installed() {
        Some(s) if !s.remotes.is_empty() || !s.local => s,
        _ => return spec.recipient(),
    };
    let local = if services.local {
        match spec.recipient() {
            // A key that cannot be parsed is wrong for every service.
            Err(e @ KeyError::Parse { .. }) => return Err(e),
            other => Some(other),
        }
    } else {
        None
    };
    Ok(Box::new(ServiceRecipient {
        name: spec.name(),
        key: key_of_spec(spec)?,
        local,
        remotes: &services.remotes,
    }))
}

/// One key wrapped through the key services, in sops's order.
struct ServiceRecipient {
    name: String,
    key: proto::Key,
    local: Option<Result<Box<dyn Recipient>, KeyError>>,
    remotes: &'static [KeyServiceClient],
}

impl Recipient for ServiceRecipient {
    fn wrap(&self, secret: &[u8]) -> Result<StoredKey, KeyError> {
        let mut errors = Vec::new();
        match &self.local {
            Some(Ok(local)) => match local.wrap(secret) {
                Ok(stored) => return Ok(stored),
                Err(e) => errors.push(e.to_string()),
            },
            Some(Err(e)) => errors.push(e.to_string()),
            None => {}
        }
        for remote in self.remotes {
            match remote.encrypt(self.key.clone(), secret) {
                Ok(ciphertext) => {
                    let enc = String::from_utf8_lossy(&ciphertext).into_owned();
                    return stored_of_key(&self.key, enc).ok_or_else(|| KeyError::Wrap {
                        key: self.name.clone(),
                        reason: "the key service returned no key".into(),
                    });
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            errors.push("no key services provided, cannot update master keys".into());
        }
        Err(KeyError::Wrap {
            key: self.name.clone(),
            reason: errors.join("; "),
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_read_as_sops_reads_them() {
        assert_eq!(
            parse_uri("tcp://127.0.0.1:5000").unwrap(),
            Target::Tcp("127.0.0.1:5000".into())
        );
        assert_eq!(
            parse_uri("tcp://[::1]:5000/").unwrap(),
            Target::Tcp("[::1]:5000".into())
        );
        assert_eq!(
            parse_uri("unix:///tmp/sops.sock").unwrap(),
            Target::Unix("/tmp/sops.sock".into())
        );
        assert!(parse_uri("127.0.0.1:5000").is_err());
        assert!(parse_uri("http://x:1").is_err());
        assert!(parse_uri("tcp://").is_err());
    }

    #[test]
    fn a_service_that_is_down_fails_quickly_with_the_reason() {
        // Nothing listens on a fresh socket path.
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("unix://{}", dir.path().join("none.sock").display());
        let client = KeyServiceClient::new(&uri).unwrap();
        let start = std::time::Instant::now();
        let key = key_of_spec(&KeySpec::Age("age1x".into())).unwrap();
        let err = client.decrypt(key, b"x").unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(err.starts_with("rpc error: code = Unavailable"), "{err}");
        assert!(err.contains("connection error: dial unix://"), "{err}");
        assert!(err.contains("No such file"), "{err}");
    }
}
