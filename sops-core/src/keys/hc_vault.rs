//! HashiCorp Vault (and OpenBao) transit keys, as sops 3.13 uses them.
//!
//! A key is named by its URI, `https://vault.example.com:8200/v1/ENGINE/keys/NAME`: the Vault
//! address is the URI's scheme and host, the transit engine's mount path is everything between
//! `v1/` and `/keys/`, and the key name is the last segment. The file stores `vault_address`,
//! `engine_path`, `key_name`, `created_at` and `enc`, the `vault:v1:...` ciphertext Vault's
//! `encrypt` endpoint returned for the base64 of the raw data key (or Shamir share).
//!
//! Parsing and the `SOPS_HC_VAULT_ALLOWLIST` rules are always compiled. Talking to Vault needs
//! the `hc-vault` cargo feature: a small blocking HTTP/1.1 client (rustls for `https`) makes
//! the two calls sops makes, `PUT /v1/ENGINE/encrypt/NAME` with `{"plaintext": base64}` and
//! `PUT /v1/ENGINE/decrypt/NAME` with `{"ciphertext": ...}`, with the settings of Vault's
//! own client: the token from `VAULT_TOKEN`, else `~/.vault-token`; `VAULT_NAMESPACE`;
//! `VAULT_CACERT`, `VAULT_CAPATH`, `VAULT_CLIENT_CERT`/`VAULT_CLIENT_KEY`,
//! `VAULT_TLS_SERVER_NAME`, `VAULT_SKIP_VERIFY`; `VAULT_AGENT_ADDR`; `VAULT_CLIENT_TIMEOUT`.
//! Every call has a connect and an I/O time limit, so a stopped or hanging Vault fails within
//! seconds and the file's other keys are tried.

use crate::keys::KeyError;

/// The environment variable listing the Vault addresses sops may talk to (sops 3.13).
pub const ALLOWLIST_ENV: &str = "SOPS_HC_VAULT_ALLOWLIST";

/// A Vault transit key: where it lives and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultKey {
    /// The Vault address: `scheme://host[:port]`, as taken from the key URI.
    pub address: String,
    /// The mount path of the transit engine (`transit`, `sops`, `a/b` ...).
    pub engine_path: String,
    /// The name of the transit key.
    pub key_name: String,
}

impl VaultKey {
    /// Parses a key URI (`https://host:8200/v1/ENGINE/keys/NAME`) as sops's
    /// `NewMasterKeyFromURI` does.
    pub fn parse(uri: &str) -> Result<VaultKey, KeyError> {
        let err = |reason: String| KeyError::Parse {
            kind: "hc_vault",
            value: uri.to_string(),
            reason,
        };
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Err(err(format!(
                "missing scheme in Vault URL (should be like this: \
                 https://vault.example.com:8200/v1/transit/keys/keyName), got: {uri}"
            )));
        };
        let valid_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return Err(err(format!("invalid scheme {scheme:?}")));
        }
        // The authority ends at the first `/`, `?` or `#`; the fragment is not sent.
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let mut request = rest[end..].split('#').next().unwrap_or("").to_string();
        if request.is_empty() || request.starts_with('?') {
            request.insert(0, '/');
        }
        let (engine_path, key_name) = engine_and_key(&request).map_err(err)?;
        Ok(VaultKey {
            // Go's URL parser lowercases the scheme.
            address: format!("{}://{authority}", scheme.to_ascii_lowercase()),
            engine_path,
            key_name,
        })
    }

    /// Parses a comma-separated list (`--hc-vault-transit`, `SOPS_VAULT_URIS`); empty entries
    /// are skipped, as in sops.
    pub fn parse_list(list: &str) -> Result<Vec<VaultKey>, KeyError> {
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(VaultKey::parse)
            .collect()
    }

    /// The key as sops names it: `ADDRESS/v1/ENGINE/keys/NAME`.
    pub fn name(&self) -> String {
        display_name(&self.address, &self.engine_path, &self.key_name)
    }

    /// The API path of the encrypt call (sops's `path.Join(engine, "encrypt", key)`).
    pub fn encrypt_path(&self) -> String {
        join_path(&[&self.engine_path, "encrypt", &self.key_name])
    }

    /// The API path of the decrypt call.
    pub fn decrypt_path(&self) -> String {
        join_path(&[&self.engine_path, "decrypt", &self.key_name])
    }
}

/// The name sops gives a Vault key in messages (its `ToString`).
pub fn display_name(address: &str, engine_path: &str, key_name: &str) -> String {
    format!("{address}/v1/{engine_path}/keys/{key_name}")
}

/// Go's `path.Join`: the non-empty elements joined with `/`, then cleaned (`.`, `..` and
/// doubled slashes resolved), without a trailing slash.
fn join_path(parts: &[&str]) -> String {
    let joined = parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    let rooted = joined.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|s| *s != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => String::new(),
        (false, false) => body,
    }
}

/// sops's `engineAndKeyFromPath`: refuses prefixed URLs (`/prefix/v1/...`) and paths without
/// `/vN/ENGINE/keys/NAME`; the engine is everything between the version and the last two
/// segments.
fn engine_and_key(full: &str) -> Result<(String, String), String> {
    // sops tests the unanchored regexes `/[^/]+/v\d+/[^/]+/[^/]+/[^/]+` (prefixed) and
    // `/v\d+/[^/]+/[^/]+/[^/]+`; in segments (segs[0] is what precedes the first `/`):
    // a `vN` segment followed by three non-empty ones, after a non-empty one for the first.
    let segs: Vec<&str> = full.split('/').collect();
    let is_version =
        |s: &str| s.len() > 1 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_digit());
    let non_empty = |i: usize| segs.get(i).is_some_and(|s| !s.is_empty());
    let version_at =
        |i: usize| segs.get(i).is_some_and(|s| is_version(s)) && (1..=3).all(|k| non_empty(i + k));
    if (1..segs.len()).any(|i| non_empty(i) && version_at(i + 1)) {
        return Err(
            "running Vault with a prefixed URL is not supported! (Format has to be like \
                    https://vault.example.com:8200/v1/transit/keys/keyName)"
                .into(),
        );
    }
    if !(1..segs.len()).any(version_at) {
        return Err("vault path does not seem to be formatted correctly: (eg. \
                    https://vault.example.com:8200/v1/transit/keys/keyName)"
            .into());
    }
    let dirs: Vec<&str> = full.trim_matches('/').split('/').collect();
    let key_name = dirs[dirs.len() - 1].to_string();
    let engine = join_path(&dirs[1..dirs.len() - 2]);
    Ok((engine, key_name))
}

/// `SOPS_HC_VAULT_ALLOWLIST` (sops 3.13): which Vault addresses may be contacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist {
    /// `all`: every address (the default).
    pub all: bool,
    /// Allowed prefixes, each ending in `/`.
    pub uris: Vec<String>,
}

impl Allowlist {
    /// Parses a value: `all`, `none`, or a comma-separated list of address prefixes (spaces
    /// around entries are ignored; an empty entry is an error naming its position).
    pub fn parse(value: &str) -> Result<Allowlist, String> {
        match value {
            "all" => {
                return Ok(Allowlist {
                    all: true,
                    uris: Vec::new(),
                })
            }
            "none" => {
                return Ok(Allowlist {
                    all: false,
                    uris: Vec::new(),
                })
            }
            _ => {}
        }
        let mut uris = Vec::new();
        for (i, entry) in value.split(',').enumerate() {
            let entry = entry.trim_matches(' ');
            if entry.is_empty() {
                return Err(format!("{ALLOWLIST_ENV}'s entry {} is empty", i + 1));
            }
            let mut uri = entry.to_string();
            if !uri.ends_with('/') {
                uri.push('/');
            }
            uris.push(uri);
        }
        Ok(Allowlist { all: false, uris })
    }

    /// The allowlist of the environment (`all` when unset or empty).
    pub fn from_env() -> Result<Allowlist, String> {
        match std::env::var(ALLOWLIST_ENV) {
            Ok(v) if !v.is_empty() => Allowlist::parse(&v),
            _ => Allowlist::parse("all"),
        }
    }

    /// Whether `address` (a key's `vault_address`) may be contacted: `address/` must start
    /// with one of the prefixes.
    pub fn allows(&self, address: &str) -> bool {
        if self.all {
            return true;
        }
        let mut address = address.to_string();
        if !address.ends_with('/') {
            address.push('/');
        }
        self.uris.iter().any(|u| address.starts_with(u.as_str()))
    }
}

#[cfg(feature = "publish")]
pub(crate) use client::response_error;
#[cfg(feature = "hc-vault")]
pub use client::{Settings, VaultUnwrapper};

#[cfg(feature = "hc-vault")]
mod client {
    //! The HTTP side: settings from the environment, a blocking HTTP/1.1 client over
    //! `std::net` (rustls for TLS), and the [`Recipient`] / [`Unwrapper`] implementations.

    use std::io::Write;
    use std::net::{TcpStream, ToSocketAddrs};
    use std::path::PathBuf;
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use base64::Engine;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use zeroize::Zeroizing;

    use super::{Allowlist, VaultKey};
    use crate::keys::{KeyError, Recipient, Unwrapper};
    use crate::metadata::StoredKey;

    /// How to reach Vault: the settings Vault's Go client reads from the environment.
    pub struct Settings {
        /// `VAULT_TOKEN`, else the content of `~/.vault-token` (empty: none).
        token: Zeroizing<String>,
        /// `VAULT_NAMESPACE`.
        namespace: Option<String>,
        /// `VAULT_AGENT_ADDR`: send requests there instead of the key's address.
        agent_address: Option<String>,
        /// `VAULT_CACERT` (a PEM file) and `VAULT_CAPATH` (a directory of PEM files): the only
        /// trusted roots when set; else the system's.
        ca_cert: Option<PathBuf>,
        ca_path: Option<PathBuf>,
        /// `VAULT_CLIENT_CERT` and `VAULT_CLIENT_KEY`: a client certificate for mutual TLS.
        client_cert: Option<(PathBuf, PathBuf)>,
        /// `VAULT_TLS_SERVER_NAME`: the name to verify the server certificate against.
        tls_server_name: Option<String>,
        /// `VAULT_SKIP_VERIFY`: do not verify the server certificate.
        skip_verify: bool,
        /// Establishing a TCP connection, per address.
        pub connect_timeout: Duration,
        /// Each read or write on the connection (`VAULT_CLIENT_TIMEOUT`).
        pub io_timeout: Duration,
        /// A problem found while reading the settings, reported when a key is used.
        problem: Option<String>,
        tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
    }

    impl std::fmt::Debug for Settings {
        /// Never shows the token.
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Settings")
                .field("token", &"<redacted>")
                .field("namespace", &self.namespace)
                .field("agent_address", &self.agent_address)
                .field("connect_timeout", &self.connect_timeout)
                .field("io_timeout", &self.io_timeout)
                .finish_non_exhaustive()
        }
    }

    fn env(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    /// Go's `strconv.ParseBool`.
    fn parse_bool(v: &str) -> Option<bool> {
        match v {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
            _ => None,
        }
    }

    /// A duration as Vault's client reads `VAULT_CLIENT_TIMEOUT`: plain seconds, or a number
    /// with `ms`, `s`, `m` or `h`.
    fn parse_duration(v: &str) -> Option<Duration> {
        let v = v.trim();
        let (num, unit) = match v.find(|c: char| c.is_ascii_alphabetic()) {
            Some(i) => (&v[..i], &v[i..]),
            None => (v, "s"),
        };
        let n: f64 = num.parse().ok()?;
        let secs = match unit {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return None,
        };
        (secs.is_finite() && secs > 0.0 && secs < 86400.0).then(|| Duration::from_secs_f64(secs))
    }

    impl Settings {
        /// The settings of the environment.
        pub fn from_env() -> Settings {
            let mut problem = None;
            let token = match env("VAULT_TOKEN") {
                Some(t) => Zeroizing::new(t),
                None => match user_token() {
                    Ok(t) => t,
                    Err(e) => {
                        problem = Some(format!("cannot get Vault token: {e}"));
                        Zeroizing::new(String::new())
                    }
                },
            };
            let skip_verify = match env("VAULT_SKIP_VERIFY") {
                None => false,
                Some(v) => parse_bool(&v).unwrap_or_else(|| {
                    problem = Some(format!("could not parse VAULT_SKIP_VERIFY value {v:?}"));
                    false
                }),
            };
            let io_timeout = match env("VAULT_CLIENT_TIMEOUT") {
                None => Duration::from_secs(10),
                Some(v) => parse_duration(&v).unwrap_or_else(|| {
                    problem = Some(format!("could not parse VAULT_CLIENT_TIMEOUT value {v:?}"));
                    Duration::from_secs(10)
                }),
            };
            let client_cert = match (env("VAULT_CLIENT_CERT"), env("VAULT_CLIENT_KEY")) {
                (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
                (None, None) => None,
                _ => {
                    problem = Some(
                        "VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be set together".to_string(),
                    );
                    None
                }
            };
            Settings {
                token,
                namespace: env("VAULT_NAMESPACE"),
                agent_address: env("VAULT_AGENT_ADDR"),
                ca_cert: env("VAULT_CACERT").map(PathBuf::from),
                ca_path: env("VAULT_CAPATH").map(PathBuf::from),
                client_cert,
                tls_server_name: env("VAULT_TLS_SERVER_NAME"),
                skip_verify,
                connect_timeout: Duration::from_secs(3),
                io_timeout,
                problem,
                tls: OnceLock::new(),
            }
        }

        /// Settings with this token and nothing else set (for library users and tests).
        pub fn with_token(token: &str) -> Settings {
            Settings {
                token: Zeroizing::new(token.to_string()),
                namespace: None,
                agent_address: None,
                ca_cert: None,
                ca_path: None,
                client_cert: None,
                tls_server_name: None,
                skip_verify: false,
                connect_timeout: Duration::from_secs(3),
                io_timeout: Duration::from_secs(10),
                problem: None,
                tls: OnceLock::new(),
            }
        }

        /// The settings of the environment, read once per process.
        pub fn shared() -> Arc<Settings> {
            static SHARED: OnceLock<Arc<Settings>> = OnceLock::new();
            SHARED
                .get_or_init(|| Arc::new(Settings::from_env()))
                .clone()
        }

        fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
            self.tls.get_or_init(|| self.build_tls()).clone()
        }

        fn build_tls(&self) -> Result<Arc<rustls::ClientConfig>, String> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup failed: {e}"))?;
            let builder = if self.skip_verify {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            } else {
                let mut roots = rustls::RootCertStore::empty();
                if self.ca_cert.is_some() || self.ca_path.is_some() {
                    let mut files = Vec::new();
                    if let Some(f) = &self.ca_cert {
                        files.push(f.clone());
                    }
                    if let Some(dir) = &self.ca_path {
                        let entries = std::fs::read_dir(dir).map_err(|e| {
                            format!("failed to read VAULT_CAPATH {}: {e}", dir.display())
                        })?;
                        for entry in entries.flatten() {
                            if entry.path().is_file() {
                                files.push(entry.path());
                            }
                        }
                    }
                    for f in files {
                        let certs = CertificateDer::pem_file_iter(&f)
                            .map_err(|e| format!("failed to read CA file {}: {e}", f.display()))?;
                        for cert in certs {
                            let cert = cert.map_err(|e| {
                                format!("failed to parse CA file {}: {e}", f.display())
                            })?;
                            roots.add(cert).map_err(|e| {
                                format!("invalid CA certificate in {}: {e}", f.display())
                            })?;
                        }
                    }
                } else {
                    let found = rustls_native_certs::load_native_certs();
                    for cert in found.certs {
                        let _ = roots.add(cert);
                    }
                }
                builder.with_root_certificates(roots)
            };
            let config = match &self.client_cert {
                Some((cert, key)) => {
                    let certs = CertificateDer::pem_file_iter(cert)
                        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                        .map_err(|e| {
                            format!("failed to read VAULT_CLIENT_CERT {}: {e}", cert.display())
                        })?;
                    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                        format!("failed to read VAULT_CLIENT_KEY {}: {e}", key.display())
                    })?;
                    builder
                        .with_client_auth_cert(certs, key)
                        .map_err(|e| format!("invalid client certificate: {e}"))?
                }
                None => builder.with_no_client_auth(),
            };
            Ok(Arc::new(config))
        }

        /// `PUT {base}/v1/{path}` with a JSON body; returns the `data` object of the answer.
        fn write(
            &self,
            key_address: &str,
            path: &str,
            body: &[u8],
        ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
            if let Some(p) = &self.problem {
                return Err(p.clone());
            }
            let allowlist = Allowlist::from_env()?;
            if !allowlist.allows(key_address) {
                return Err(format!("Allowlist does not allow {key_address}"));
            }
            let (status, response, url) = self.call(key_address, "PUT", path, body)?;
            if !(200..300).contains(&status) {
                return Err(response_error("PUT", &url, status, &response));
            }
            let value: serde_json::Value = serde_json::from_slice(&response)
                .map_err(|e| format!("invalid JSON in Vault's answer: {e}"))?;
            match value {
                serde_json::Value::Object(mut map) => match map.remove("data") {
                    Some(serde_json::Value::Object(data)) => Ok(data),
                    _ => Err("transit backend is empty".into()),
                },
                _ => Err("transit backend is empty".into()),
            }
        }

        /// `METHOD {address}/v1/{path}` (to `VAULT_AGENT_ADDR` when set) with the token and
        /// namespace of these settings and a JSON body (none when empty); the status, the
        /// body of the answer and the URL (for messages). Transport failures are worded as
        /// Vault's Go client words them (`Put "URL": dial tcp ...`).
        pub(crate) fn call(
            &self,
            address: &str,
            method: &str,
            path: &str,
            body: &[u8],
        ) -> Result<(u16, Zeroizing<Vec<u8>>, String), String> {
            if let Some(p) = &self.problem {
                return Err(p.clone());
            }
            let base = self.agent_address.as_deref().unwrap_or(address);
            let target = Target::parse(base)?;
            let path = format!("/v1/{}", escape_path(path));
            let url = format!("{}{}", base.trim_end_matches('/'), path);
            let mut headers: Vec<(&str, &str)> = vec![("X-Vault-Request", "true")];
            if !body.is_empty() {
                headers.push(("Content-Type", "application/json"));
            }
            if !self.token.is_empty() {
                headers.push(("X-Vault-Token", self.token.as_str()));
            }
            if let Some(ns) = &self.namespace {
                headers.push(("X-Vault-Namespace", ns));
            }
            let verb = {
                let mut v = method.to_ascii_lowercase();
                if let Some(first) = v.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                v
            };
            let (status, response) = self
                .send(&target, method, &path, &headers, body)
                .map_err(|e| format!("{verb} \"{url}\": {e}"))?;
            Ok((status, response, url))
        }

        fn send(
            &self,
            target: &Target,
            method: &str,
            path: &str,
            headers: &[(&str, &str)],
            body: &[u8],
        ) -> Result<(u16, Zeroizing<Vec<u8>>), String> {
            let tcp = self.connect(target)?;
            let mut request = Zeroizing::new(Vec::with_capacity(256 + body.len()));
            let host = if target.default_port() {
                target.host_header.clone()
            } else {
                format!("{}:{}", target.host_header, target.port)
            };
            let _ = write!(
                request,
                "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sops-rs\r\n\
                 Content-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                if v.contains(['\r', '\n']) {
                    return Err(format!("invalid value for header {k}"));
                }
                let _ = write!(request, "{k}: {v}\r\n");
            }
            request.extend_from_slice(b"\r\n");
            request.extend_from_slice(body);
            if target.tls {
                let name = self.tls_server_name.as_deref().unwrap_or(&target.host);
                let server_name = ServerName::try_from(name.to_string())
                    .map_err(|_| format!("invalid TLS server name {name:?}"))?;
                let conn = rustls::ClientConnection::new(self.tls_config()?, server_name)
                    .map_err(|e| format!("TLS setup failed: {e}"))?;
                let mut stream = rustls::StreamOwned::new(conn, tcp);
                stream.write_all(&request).map_err(io_message)?;
                stream.flush().map_err(io_message)?;
                crate::keys::http::read_response(stream, io_message)
            } else {
                let mut stream = tcp;
                stream.write_all(&request).map_err(io_message)?;
                crate::keys::http::read_response(stream, io_message)
            }
        }

        fn connect(&self, target: &Target) -> Result<TcpStream, String> {
            let addrs: Vec<_> = (target.host.as_str(), target.port)
                .to_socket_addrs()
                .map_err(|e| format!("dial tcp: lookup {}: {e}", target.host))?
                .collect();
            let mut last = format!("dial tcp: lookup {}: no addresses", target.host);
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                    Ok(s) => {
                        let _ = s.set_read_timeout(Some(self.io_timeout));
                        let _ = s.set_write_timeout(Some(self.io_timeout));
                        let _ = s.set_nodelay(true);
                        return Ok(s);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        last = format!(
                            "dial tcp {addr}: i/o timeout (no connection within {:?})",
                            self.connect_timeout
                        );
                    }
                    Err(e) => last = format!("dial tcp {addr}: connect: {}", io_text(&e)),
                }
            }
            Err(last)
        }
    }

    /// An I/O error's text without Rust's `(os error N)` suffix.
    fn io_text(e: &std::io::Error) -> String {
        let text = e.to_string();
        match text.find(" (os error") {
            Some(i) => text[..i].to_lowercase(),
            None => text,
        }
    }

    fn io_message(e: std::io::Error) -> String {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                "i/o timeout (no answer in time)".to_string()
            }
            _ if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => {
                let text = io_text(&e);
                if text.contains("certificate") {
                    format!(
                        "tls: failed to verify certificate: {text} \
                         (VAULT_CACERT or VAULT_CAPATH name the CA to trust)"
                    )
                } else {
                    format!("tls: {text}")
                }
            }
            _ => io_text(&e),
        }
    }

    /// Vault's error answer the way its Go client prints it.
    pub(crate) fn response_error(method: &str, url: &str, status: u16, body: &[u8]) -> String {
        let mut out = format!("Error making API request.\n\nURL: {method} {url}\nCode: {status}.");
        let errors = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("errors").and_then(|e| e.as_array()).cloned());
        match errors {
            Some(list) if !list.is_empty() => {
                out.push_str(" Errors:\n");
                for e in list {
                    let text = e.as_str().map(str::to_string).unwrap_or(e.to_string());
                    out.push_str(&format!("\n* {text}"));
                }
            }
            _ => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if !text.is_empty() {
                    let short: String = text.chars().take(200).collect();
                    out.push_str(&format!(" Raw Message:\n\n{short}"));
                }
            }
        }
        out
    }

    /// Percent-encodes a URL path, keeping `/` and the unreserved characters.
    fn escape_path(path: &str) -> String {
        let mut out = String::with_capacity(path.len());
        for b in path.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// Where to connect: host, port, TLS or not.
    struct Target {
        tls: bool,
        /// The host to resolve (IPv6 without brackets).
        host: String,
        /// The host as written in the `Host` header (IPv6 with brackets).
        host_header: String,
        port: u16,
    }

    impl Target {
        fn parse(address: &str) -> Result<Target, String> {
            let bad = |why: &str| format!("invalid Vault address {address:?}: {why}");
            let (scheme, rest) = address.split_once("://").ok_or_else(|| bad("no scheme"))?;
            let tls = match scheme.to_ascii_lowercase().as_str() {
                "https" => true,
                "http" => false,
                _ => return Err(bad("the scheme must be http or https")),
            };
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            // Credentials in the URL are not sent.
            let hostport = authority.rsplit('@').next().unwrap_or("");
            let (host, port) = if let Some(stripped) = hostport.strip_prefix('[') {
                let end = stripped.find(']').ok_or_else(|| bad("unclosed ["))?;
                let host = &stripped[..end];
                let port = stripped[end + 1..].strip_prefix(':');
                (host.to_string(), port)
            } else {
                match hostport.rsplit_once(':') {
                    Some((h, p)) => (h.to_string(), Some(p)),
                    None => (hostport.to_string(), None),
                }
            };
            if host.is_empty() {
                return Err(bad("no host"));
            }
            let port = match port {
                Some(p) if !p.is_empty() => p.parse().map_err(|_| bad("invalid port"))?,
                _ if tls => 443,
                _ => 80,
            };
            let host_header = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            Ok(Target {
                tls,
                host,
                host_header,
                port,
            })
        }

        fn default_port(&self) -> bool {
            self.port == if self.tls { 443 } else { 80 }
        }
    }

    /// Accepts any server certificate (`VAULT_SKIP_VERIFY`); signatures are still checked.
    #[derive(Debug)]
    struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

    impl rustls::client::danger::ServerCertVerifier for NoVerify {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// The token from `~/.vault-token` (trimmed), or empty when the file does not exist.
    fn user_token() -> Result<Zeroizing<String>, String> {
        let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
            return Ok(Zeroizing::new(String::new()));
        };
        let path = PathBuf::from(home).join(".vault-token");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                Ok(Zeroizing::new(text.trim().to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Zeroizing::new(String::new())),
            Err(e) => Err(format!("failed to read {}: {e}", path.display())),
        }
    }

    impl VaultKey {
        /// Encrypts `secret` with this key and returns the `vault:v1:...` ciphertext.
        pub fn encrypt_with(&self, settings: &Settings, secret: &[u8]) -> Result<String, String> {
            let path = self.encrypt_path();
            let fail = |e: String| {
                format!("failed to encrypt sops data key to Vault transit backend '{path}': {e}")
            };
            let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(secret));
            let body = Zeroizing::new(
                serde_json::to_vec(&serde_json::json!({ "plaintext": b64.as_str() }))
                    .map_err(|e| fail(e.to_string()))?,
            );
            let data = settings
                .write(&self.address, &path, &body)
                .map_err(|e| Self::client_error(e, fail))?;
            match data.get("ciphertext") {
                Some(serde_json::Value::String(c)) => Ok(c.clone()),
                Some(_) => Err(fail("encrypted ciphertext cannot be cast to string".into())),
                None => Err(fail("no encrypted data".into())),
            }
        }

        /// Decrypts a `vault:v1:...` ciphertext with this key.
        pub fn decrypt_with(
            &self,
            settings: &Settings,
            ciphertext: &str,
        ) -> Result<Zeroizing<Vec<u8>>, String> {
            let path = self.decrypt_path();
            let fail = |e: String| {
                format!("failed to decrypt sops data key from Vault transit backend '{path}': {e}")
            };
            let body = serde_json::to_vec(&serde_json::json!({ "ciphertext": ciphertext }))
                .map_err(|e| fail(e.to_string()))?;
            let mut data = settings
                .write(&self.address, &path, &body)
                .map_err(|e| Self::client_error(e, fail))?;
            let plaintext = match data.remove("plaintext") {
                Some(serde_json::Value::String(p)) => Zeroizing::new(p),
                Some(_) => {
                    return Err(fail(
                        "decrypted plaintext data cannot be cast to string".into(),
                    ))
                }
                None => return Err(fail("no decrypted data".into())),
            };
            base64::engine::general_purpose::STANDARD
                .decode(plaintext.as_bytes())
                .map(Zeroizing::new)
                .map_err(|_| fail("cannot decode base64 plaintext into data key bytes".into()))
        }

        /// Errors before the request (allowlist, settings) are reported bare, as sops does;
        /// the others with the operation's prefix.
        fn client_error(e: String, fail: impl Fn(String) -> String) -> String {
            if e.starts_with("Allowlist does not allow")
                || e.starts_with(super::ALLOWLIST_ENV)
                || e.starts_with("cannot get Vault token")
                || e.starts_with("could not parse VAULT_")
            {
                e
            } else {
                fail(e)
            }
        }
    }

    impl Recipient for VaultKey {
        fn wrap(&self, secret: &[u8]) -> Result<StoredKey, KeyError> {
            let enc = self
                .encrypt_with(&Settings::shared(), secret)
                .map_err(|reason| KeyError::Wrap {
                    key: self.describe(),
                    reason,
                })?;
            Ok(StoredKey::HcVault {
                vault_address: self.address.clone(),
                engine_path: self.engine_path.clone(),
                key_name: self.key_name.clone(),
                created_at: crate::timestamp::now_utc(),
                enc,
            })
        }

        fn describe(&self) -> String {
            format!("Vault transit key {}", self.name())
        }
    }

    /// Unwraps Vault transit entries with the settings of the environment (or given ones).
    #[derive(Debug, Default)]
    pub struct VaultUnwrapper {
        settings: Option<Arc<Settings>>,
    }

    impl VaultUnwrapper {
        /// Uses the environment's settings, read when the first Vault key is tried.
        pub fn from_env() -> VaultUnwrapper {
            VaultUnwrapper::default()
        }

        /// Uses these settings.
        pub fn with_settings(settings: Settings) -> VaultUnwrapper {
            VaultUnwrapper {
                settings: Some(Arc::new(settings)),
            }
        }
    }

    impl Unwrapper for VaultUnwrapper {
        fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
            let StoredKey::HcVault {
                vault_address,
                engine_path,
                key_name,
                enc,
                ..
            } = key
            else {
                return None;
            };
            let settings = self.settings.clone().unwrap_or_else(Settings::shared);
            let k = VaultKey {
                address: vault_address.clone(),
                engine_path: engine_path.clone(),
                key_name: key_name.clone(),
            };
            Some(k.decrypt_with(&settings, enc).map_err(KeyError::Unwrap))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::net::TcpListener;
        use std::time::Instant;

        /// A one-shot HTTP server: answers the first request with `response`, hands back what
        /// it received.
        fn serve_once(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
            use std::io::{BufRead, Read};
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = format!("http://{}", listener.local_addr().unwrap());
            let handle = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                reader.read_exact(&mut body).unwrap();
                s.write_all(response.as_bytes()).unwrap();
                head + &String::from_utf8(body).unwrap()
            });
            (addr, handle)
        }

        #[test]
        fn encrypt_request_and_entry() {
            let (addr, server) = serve_once(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 54\r\n\r\n\
                 {\"data\":{\"ciphertext\":\"vault:v1:abc\",\"key_version\":1}}",
            );
            let key = VaultKey::parse(&format!("{addr}/v1/sops/keys/first")).unwrap();
            let mut settings = Settings::with_token("s.tok");
            settings.namespace = Some("team".into());
            let enc = key.encrypt_with(&settings, &[1, 2, 3]).unwrap();
            assert_eq!(enc, "vault:v1:abc");
            let req = server.join().unwrap();
            assert!(
                req.starts_with("PUT /v1/sops/encrypt/first HTTP/1.1\r\n"),
                "{req}"
            );
            assert!(req.contains("\r\nX-Vault-Token: s.tok\r\n"), "{req}");
            assert!(req.contains("\r\nX-Vault-Namespace: team\r\n"), "{req}");
            assert!(req.contains("\r\nX-Vault-Request: true\r\n"), "{req}");
            assert!(req.ends_with("\r\n\r\n{\"plaintext\":\"AQID\"}"), "{req}");
        }

        #[test]
        fn decrypt_chunked_answer() {
            let (addr, server) = serve_once(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                 10\r\n{\"data\":{\"plaint\r\ne\r\next\":\"AQID\"}}\n\r\n0\r\n\r\n",
            );
            let key = VaultKey::parse(&format!("{addr}/v1/a/b/keys/k")).unwrap();
            let got = key
                .decrypt_with(&Settings::with_token(""), "vault:v1:x")
                .unwrap();
            assert_eq!(&got[..], &[1, 2, 3]);
            let req = server.join().unwrap();
            assert!(
                req.starts_with("PUT /v1/a/b/decrypt/k HTTP/1.1\r\n"),
                "{req}"
            );
            assert!(!req.contains("X-Vault-Token"), "{req}");
            assert!(req.ends_with("{\"ciphertext\":\"vault:v1:x\"}"), "{req}");
        }

        #[test]
        fn vault_errors_are_reported_like_its_client() {
            let (addr, _server) = serve_once(
                "HTTP/1.1 403 Forbidden\r\nContent-Length: 32\r\n\r\n\
                 {\"errors\":[\"permission denied\"]}",
            );
            let key = VaultKey::parse(&format!("{addr}/v1/sops/keys/k")).unwrap();
            let err = key
                .decrypt_with(&Settings::with_token("secret-token"), "vault:v1:x")
                .unwrap_err();
            assert_eq!(
                err,
                format!(
                    "failed to decrypt sops data key from Vault transit backend 'sops/decrypt/k': \
                     Error making API request.\n\nURL: PUT {addr}/v1/sops/decrypt/k\n\
                     Code: 403. Errors:\n\n* permission denied"
                )
            );
            assert!(!err.contains("secret-token"));
        }

        #[test]
        fn unreachable_and_hanging_vaults_fail_fast() {
            // Nothing listens: refused at once.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            drop(listener);
            let key = VaultKey::parse(&format!("http://{addr}/v1/sops/keys/k")).unwrap();
            let start = Instant::now();
            let err = key
                .decrypt_with(&Settings::with_token("t"), "vault:v1:x")
                .unwrap_err();
            assert!(err.contains("connection refused"), "{err}");
            assert!(start.elapsed() < Duration::from_secs(2));
            // Accepts but never answers: the I/O limit ends it.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let key = VaultKey::parse(&format!("http://{addr}/v1/sops/keys/k")).unwrap();
            let mut settings = Settings::with_token("t");
            settings.io_timeout = Duration::from_millis(300);
            let start = Instant::now();
            let err = key.decrypt_with(&settings, "vault:v1:x").unwrap_err();
            assert!(err.contains("i/o timeout"), "{err}");
            assert!(start.elapsed() < Duration::from_secs(3));
            drop(listener);
        }

        #[test]
        fn settings_parsing() {
            assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
            assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
            assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
            assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
            assert_eq!(parse_duration("x"), None);
            assert_eq!(parse_bool("True"), Some(true));
            assert_eq!(parse_bool("0"), Some(false));
            assert_eq!(parse_bool("yes"), None);
            let t = Target::parse("https://[::1]:8200").unwrap();
            assert_eq!((t.host.as_str(), t.port, t.tls), ("::1", 8200, true));
            let t = Target::parse("http://user:pw@vault.local").unwrap();
            assert_eq!((t.host.as_str(), t.port, t.tls), ("vault.local", 80, false));
            assert!(Target::parse("ftp://x").is_err());
            assert_eq!(escape_path("a b/c%"), "a%20b/c%25");
            let s = format!("{:?}", Settings::with_token("secret"));
            assert!(!s.contains("secret"), "{s}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases of sops's `TestNewMasterKeyFromURI` and `Test_engineAndKeyFromPath`.
    #[test]
    fn uris_like_sops() {
        let k = VaultKey::parse("https://vault.example.com:8200/v1/transit/keys/keyName").unwrap();
        assert_eq!(k.address, "https://vault.example.com:8200");
        assert_eq!(k.engine_path, "transit");
        assert_eq!(k.key_name, "keyName");
        let k = VaultKey::parse("https://vault.me.com/v1/super42/bestmarket/keys/slig").unwrap();
        assert_eq!(k.address, "https://vault.me.com");
        assert_eq!(k.engine_path, "super42/bestmarket");
        assert_eq!(k.key_name, "slig");
        assert_eq!(
            k.name(),
            "https://vault.me.com/v1/super42/bestmarket/keys/slig"
        );
        assert_eq!(k.encrypt_path(), "super42/bestmarket/encrypt/slig");
        assert_eq!(k.decrypt_path(), "super42/bestmarket/decrypt/slig");
        let k = VaultKey::parse("http://127.0.0.1:12121/v1/transit/keys/dev").unwrap();
        assert_eq!(k.address, "http://127.0.0.1:12121");
        let e = VaultKey::parse("vault.example.com:8200/v1/transit/keys/keyName").unwrap_err();
        assert!(e.to_string().contains("missing scheme in Vault URL"), "{e}");
        let e = VaultKey::parse("https://vault.example.com/nested/v1/transit/keys/bar")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("running Vault with a prefixed URL is not supported"),
            "{e}"
        );
        let e = VaultKey::parse("https://vault.example.com/secret/foo/bar")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("vault path does not seem to be formatted correctly"),
            "{e}"
        );
        assert!(VaultKey::parse("https://vault.example.com/v1/transit/keys/").is_err());
        assert_eq!(
            VaultKey::parse_list("http://a/v1/t/keys/x,,http://b/v1/t/keys/y")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn go_path_join() {
        assert_eq!(join_path(&["a/b", "encrypt", "k"]), "a/b/encrypt/k");
        assert_eq!(join_path(&["", "encrypt", "k"]), "encrypt/k");
        assert_eq!(join_path(&["a//b/", "encrypt", "k"]), "a/b/encrypt/k");
        assert_eq!(join_path(&["a/../b", "x"]), "b/x");
    }

    /// sops 3.13's `TestAllowlistParse` and `TestAllowlistAllow` (PR "Add allowlist for
    /// HashiCorp Vault URLs").
    #[test]
    fn allowlist_like_sops() {
        assert_eq!(
            Allowlist::parse("all").unwrap(),
            Allowlist {
                all: true,
                uris: vec![]
            }
        );
        assert_eq!(Allowlist::parse("none").unwrap().uris, Vec::<String>::new());
        assert_eq!(Allowlist::parse("non").unwrap().uris, ["non/"]);
        assert_eq!(
            Allowlist::parse(" foo/ ,  bar,   baz    ").unwrap().uris,
            ["foo/", "bar/", "baz/"]
        );
        for (value, n) in [("", 1), (",", 1), (",a", 1), ("a,", 2)] {
            assert_eq!(
                Allowlist::parse(value).unwrap_err(),
                format!("SOPS_HC_VAULT_ALLOWLIST's entry {n} is empty")
            );
        }
        let all = Allowlist::parse("all").unwrap();
        assert!(all.allows("") && all.allows("https://example.com/foo"));
        let none = Allowlist::parse("none").unwrap();
        assert!(!none.allows("") && !none.allows("http://example.com"));
        let al =
            Allowlist::parse("http://example.com, https://example.org/bar/,http://foo:80").unwrap();
        for (addr, ok) in [
            ("http://example.com", true),
            ("http://example.com/", true),
            ("http://example.com/foo", true),
            ("http://fiz@example.com/", false),
            ("http://example.com:123/", false),
            ("https://example.com", false),
            ("http://example.org/foo", false),
            ("https://example.org/bar", true),
            ("https://example.org/barr", false),
            ("https://example.org/bar/baz", true),
            ("http://foo", false),
            ("http://foo:80", true),
            ("http://foo:8080/", false),
            ("", false),
        ] {
            assert_eq!(al.allows(addr), ok, "{addr}");
        }
        let one = Allowlist::parse("http://example.com").unwrap();
        assert!(!one.allows("http://example.comm"));
        assert!(!one.allows("http://example.co"));
    }
}
