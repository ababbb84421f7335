//! The key service server (`sops keyservice`): wraps and unwraps data keys with the master
//! keys of this machine, for sops clients elsewhere.
//!
//! Each request names one key; the server does exactly that one operation with the key
//! sources of [`crate::keys`] (configured from its own environment, as for a local `sops`)
//! and answers with the result or the error. It never sends or logs anything but what the
//! protocol asks for: logs name the key type and its public identifier only. There is no
//! authentication: listen on a Unix socket or on loopback.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tonic::{Request, Response, Status};
use zeroize::Zeroizing;

use super::proto::key::KeyType;
use super::proto::key_service_server::{KeyService, KeyServiceServer};
use super::proto::{self, DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse};
use super::{describe, enc_of, spec_of_key, stored_of_key, KeyServiceError};
use crate::keys::{EnvSources, KeyError};

/// How long in-flight requests may run after SIGINT/SIGTERM before the server exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where the server listens (`--network`, `--address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address, `host:port`.
    Tcp(String),
    /// A Unix socket path; the socket is removed when the server stops.
    Unix(PathBuf),
}

impl Listen {
    /// Reads sops's `--network` (`tcp`, `tcp4`, `tcp6` or `unix`) and `--address`.
    pub fn parse(network: &str, address: &str) -> Result<Listen, KeyServiceError> {
        match network {
            "tcp" | "tcp4" | "tcp6" => Ok(Listen::Tcp(address.to_string())),
            "unix" => Ok(Listen::Unix(PathBuf::from(address))),
            other => Err(KeyServiceError::Listen {
                address: format!("{other}://{address}"),
                reason: format!("unknown network {other}"),
            }),
        }
    }

    /// `tcp://127.0.0.1:5000` or `unix:///path`, as sops logs it.
    pub fn uri(&self) -> String {
        match self {
            Listen::Tcp(a) => format!("tcp://{a}"),
            Listen::Unix(p) => format!("unix://{}", p.display()),
        }
    }
}

/// How the server behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerOptions {
    /// Ask on the terminal before answering each request (`--prompt`).
    pub prompt: bool,
    /// Log each request (`--verbose`): the key type and its public identifier.
    pub verbose: bool,
}

/// Writes one log line as sops's logrus text format does (without the time, as the rest of
/// our logs).
fn log(component: &str, level: &str, msg: &str, fields: &[(&str, &str)]) {
    let mut line = format!("[{component}]\t level={level} msg={}", quote(msg));
    for (k, v) in fields {
        line.push_str(&format!(" {k}={}", quote(v)));
    }
    eprintln!("{line}");
}

/// logrus's quoting: bare when the value is made of "safe" characters, else a Go string.
fn quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if safe {
        value.to_string()
    } else {
        format!("{value:?}")
    }
}

/// The log component and field sops's key source of this type logs with.
fn log_identity(key: &proto::Key) -> (&'static str, &'static str, String) {
    match key.key_type.as_ref() {
        Some(KeyType::AgeKey(k)) => ("AGE", "recipient", k.recipient.clone()),
        Some(KeyType::PgpKey(k)) => ("PGP", "fingerprint", k.fingerprint.clone()),
        Some(KeyType::KmsKey(k)) => ("AWSKMS", "arn", k.arn.clone()),
        Some(KeyType::GcpKmsKey(k)) => ("GCPKMS", "resourceID", k.resource_id.clone()),
        Some(KeyType::AzureKeyvaultKey(k)) => (
            "AZKV",
            "key",
            format!("{}/keys/{}/{}", k.vault_url, k.name, k.version),
        ),
        Some(KeyType::VaultKey(k)) => (
            "VAULT_TRANSIT",
            "Path",
            format!(
                "{}/v1/{}/keys/{}",
                k.vault_address, k.engine_path, k.key_name
            ),
        ),
        Some(KeyType::HckmsKey(k)) => ("HCKMS", "keyID", k.key_id.clone()),
        None => ("KEYSERVICE", "key", String::new()),
    }
}

/// Serialises `--prompt` questions: one request at a time asks on the terminal.
static PROMPT: Mutex<()> = Mutex::new(());

/// Asks whether to answer a request, as sops's `--prompt` does.
fn confirm(key: &proto::Key, request: &str) -> Result<(), Status> {
    use std::io::{BufRead, Write};
    let _one_at_a_time = PROMPT.lock().unwrap_or_else(|e| e.into_inner());
    let stdin = std::io::stdin();
    loop {
        print!(
            "\nReceived {request} request using {}. Respond to request? (y/n): ",
            describe(key)
        );
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) => return Err(Status::unknown("EOF")),
            Ok(_) => {}
            Err(e) => return Err(Status::unknown(e.to_string())),
        }
        match line.trim() {
            "y" => return Ok(()),
            "n" => return Err(Status::permission_denied("Request rejected by user")),
            _ => {}
        }
    }
}

/// The request handler.
#[derive(Debug, Clone, Copy)]
struct Handler {
    options: ServerOptions,
}

/// The key of a request, or sops's answer when there is none.
fn requested_key(key: Option<proto::Key>) -> Result<proto::Key, Status> {
    match key {
        Some(k) if k.key_type.is_some() => Ok(k),
        _ => Err(Status::not_found("Must provide a key")),
    }
}

/// Wraps `plaintext` with this machine's key for `key`; returns the entry's `enc`.
fn encrypt_locally(key: &proto::Key, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
    let spec = spec_of_key(key).ok_or(KeyError::Unsupported("unknown"))?;
    let stored = spec.recipient()?.wrap(plaintext)?;
    Ok(enc_of(&stored).as_bytes().to_vec())
}

/// Unwraps `ciphertext` (an entry's `enc`) with this machine's key for `key`.
fn decrypt_locally(key: &proto::Key, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let enc = String::from_utf8_lossy(ciphertext).into_owned();
    let stored = stored_of_key(key, enc).ok_or(KeyError::Unsupported("unknown"))?;
    let sources = EnvSources::from_env();
    for source in sources.list() {
        if let Some(result) = source.unwrap(&stored) {
            return result;
        }
    }
    Err(KeyError::Unwrap(format!(
        "{} keys are not supported by this key service",
        crate::keys::type_identifier(&stored)
    )))
}

impl Handler {
    /// Runs one request's key operation off the async threads (key sources block: gpg, KMS,
    /// Vault), then logs and, with `--prompt`, asks before answering.
    async fn run<T, F>(&self, key: proto::Key, request: &'static str, op: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&proto::Key) -> Result<T, KeyError> + Send + 'static,
    {
        let options = self.options;
        tokio::task::spawn_blocking(move || {
            let result = op(&key);
            if options.verbose {
                let (component, field, id) = log_identity(&key);
                let verb = if request == "encrypt" {
                    "Encryption"
                } else {
                    "Decryption"
                };
                let outcome = if result.is_ok() {
                    "succeeded"
                } else {
                    "failed"
                };
                log(
                    component,
                    "info",
                    &format!("{verb} {outcome}"),
                    &[(field, id.as_str())],
                );
            }
            let value = result.map_err(|e| Status::unknown(e.to_string()))?;
            if options.prompt {
                confirm(&key, request)?;
            }
            Ok(value)
        })
        .await
        .map_err(|e| Status::internal(format!("request failed: {e}")))?
    }
}

#[tonic::async_trait]
impl KeyService for Handler {
    async fn encrypt(
        &self,
        request: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let req = request.into_inner();
        let key = requested_key(req.key)?;
        let plaintext = Zeroizing::new(req.plaintext);
        let ciphertext = self
            .run(key, "encrypt", move |k| encrypt_locally(k, &plaintext))
            .await?;
        Ok(Response::new(EncryptResponse { ciphertext }))
    }

    async fn decrypt(
        &self,
        request: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        let req = request.into_inner();
        let key = requested_key(req.key)?;
        let ciphertext = req.ciphertext;
        let plaintext = self
            .run(key, "decrypt", move |k| decrypt_locally(k, &ciphertext))
            .await?;
        Ok(Response::new(DecryptResponse {
            plaintext: plaintext.to_vec(),
        }))
    }
}

/// Waits for SIGINT or SIGTERM and returns its name.
async fn signalled() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the server runs until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "interrupt",
        _ = term.recv() => "terminated",
    }
}

/// Removes the Unix socket when the server stops, however it stops.
struct SocketGuard(Option<PathBuf>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Runs the key service on `listen` until SIGINT or SIGTERM, then stops cleanly: the
/// listener closes, requests in flight get a few seconds, and a Unix socket is removed.
pub fn serve(listen: &Listen, options: ServerOptions) -> Result<(), KeyServiceError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| KeyServiceError::Runtime(e.to_string()))?;
    runtime.block_on(serve_async(listen, options))
}

async fn serve_async(listen: &Listen, options: ServerOptions) -> Result<(), KeyServiceError> {
    let listen_error = |e: std::io::Error| KeyServiceError::Listen {
        address: listen.uri(),
        reason: e.to_string(),
    };
    let service = KeyServiceServer::new(Handler { options });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stop_rx.await;
    };
    let builder = tonic::transport::Server::builder();
    let mut guard = SocketGuard(None);
    let server = match listen {
        Listen::Tcp(address) => {
            let listener = tokio::net::TcpListener::bind(address.as_str())
                .await
                .map_err(listen_error)?;
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            tokio::spawn(builder.serve_with_incoming_shutdown(service, incoming, stopped))
        }
        Listen::Unix(path) => {
            let listener = tokio::net::UnixListener::bind(path).map_err(listen_error)?;
            guard.0 = Some(path.clone());
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            tokio::spawn(builder.serve_with_incoming_shutdown(service, incoming, stopped))
        }
    };
    if options.verbose {
        log(
            "KEYSERVICE",
            "info",
            &format!("Listening on {}", listen.uri()),
            &[],
        );
    }
    let mut server = server;
    tokio::select! {
        signal = signalled() => {
            if options.verbose {
                log("KEYSERVICE", "info", &format!("Caught signal {signal}: shutting down."), &[]);
            }
            let _ = stop_tx.send(());
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await;
            Ok(())
        }
        result = &mut server => match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(KeyServiceError::Serve(e.to_string())),
            Err(e) => Err(KeyServiceError::Serve(e.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_those_sops_accepts() {
        assert_eq!(
            Listen::parse("tcp", "127.0.0.1:5000").unwrap().uri(),
            "tcp://127.0.0.1:5000"
        );
        assert_eq!(
            Listen::parse("unix", "/tmp/s.sock").unwrap().uri(),
            "unix:///tmp/s.sock"
        );
        assert!(Listen::parse("udp", "x").is_err());
    }

    #[test]
    fn log_values_are_quoted_like_logrus() {
        assert_eq!(quote("age1abc"), "age1abc");
        assert_eq!(quote("Listening on x"), "\"Listening on x\"");
        assert_eq!(
            quote("arn:aws:kms:us-east-1:1:key/k"),
            "\"arn:aws:kms:us-east-1:1:key/k\""
        );
    }

    #[test]
    fn a_request_without_a_key_is_refused_as_sops_does() {
        let err = requested_key(None).unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
        assert_eq!(err.message(), "Must provide a key");
    }
}
