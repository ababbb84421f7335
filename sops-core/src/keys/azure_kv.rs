//! Azure Key Vault keys, as sops 3.13 (`azkv/keysource.go`) uses them.
//!
//! A key is named by its URL, `https://NAME.vault.azure.net/keys/KEY/VERSION`; the version may
//! be left out, and is then looked up (the key's latest version) before the first use, because
//! the file must name it. The file stores `vault_url`, `name`, `version`, `created_at` and
//! `enc`: the result of the vault's `encrypt` operation with `RSA-OAEP-256` on the raw data
//! key (or Shamir share), base64url without padding.
//!
//! Parsing is always compiled. Talking to the vault needs the `azure-kv` cargo feature: a
//! small blocking HTTPS client (rustls, the system's roots, `SSL_CERT_FILE` honoured) makes the
//! REST calls of Microsoft's `azkeys` client (`api-version=7.6`), with its challenge
//! authentication: a first request without a token gets a `401` whose `WWW-Authenticate`
//! names the login authority and the resource (which must be a suffix of the vault's host),
//! then a bearer token is asked for from the credential chain of `azidentity`'s
//! `DefaultAzureCredential`:
//!
//! 1. environment: `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` with `AZURE_CLIENT_SECRET`, or with
//!    `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM file with the certificate and its unencrypted
//!    private key; `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN`);
//! 2. workload identity: `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`;
//! 3. managed identity: App Service (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`) or the instance
//!    metadata service (at most 1 s to answer while probing), `AZURE_CLIENT_ID` as the
//!    user-assigned identity;
//! 4. the Azure CLI (`az account get-access-token`), then the Azure Developer CLI
//!    (`azd auth token`).
//!
//! `AZURE_TOKEN_CREDENTIALS` narrows the chain as in `azidentity`: `dev` (the two CLIs),
//! `prod` (the first three), or one credential's name. `AZURE_AUTHORITY_HOST` replaces
//! `https://login.microsoftonline.com`. Every call has a connect and an I/O time limit, so an
//! unreachable or hanging vault fails within seconds and the file's other keys are tried.

use crate::keys::KeyError;

/// The key type identifier sops uses (`--decryption-order`, the `sops` metadata).
pub const KEY_TYPE: &str = "azure_kv";

/// An Azure Key Vault key: the vault, the key's name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureKey {
    /// The vault URL, `https://host` (no trailing slash).
    pub vault_url: String,
    /// The key's name.
    pub name: String,
    /// The key's version (empty: the latest, looked up before the first use).
    pub version: String,
}

impl AzureKey {
    /// A key from its parts (as a `.sops.yaml` key group names it).
    pub fn new(vault_url: &str, name: &str, version: &str) -> AzureKey {
        AzureKey {
            vault_url: vault_url.to_string(),
            name: name.to_string(),
            version: version.to_string(),
        }
    }

    /// Parses a key URL as sops's `NewMasterKeyFromURL` does: spaces around it are ignored,
    /// and it must match `^(https://[^/]+)/keys/([^/]+)(/[^/]*)?$`.
    pub fn parse_url(url: &str) -> Result<AzureKey, KeyError> {
        let trimmed = url.trim();
        let err = || KeyError::Parse {
            kind: KEY_TYPE,
            value: trimmed.to_string(),
            reason: format!(
                "could not parse {trimmed:?} into a valid Azure Key Vault MasterKey \
                 (expected https://VAULT/keys/KEY[/VERSION])"
            ),
        };
        let rest = trimmed.strip_prefix("https://").ok_or_else(err)?;
        let (host, path) = rest.split_once('/').ok_or_else(err)?;
        if host.is_empty() {
            return Err(err());
        }
        let path = path.strip_prefix("keys/").ok_or_else(err)?;
        let mut parts = path.splitn(2, '/');
        let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(err)?;
        let version = parts.next().unwrap_or("");
        if version.contains('/') {
            return Err(err());
        }
        Ok(AzureKey {
            vault_url: format!("https://{host}"),
            name: name.to_string(),
            version: version.to_string(),
        })
    }

    /// Parses a comma-separated list (`--azure-kv`, `SOPS_AZURE_KEYVAULT_URLS`) as sops's
    /// `MasterKeysFromURLs`: an empty list has no keys, an empty entry is an error.
    pub fn parse_list(list: &str) -> Result<Vec<AzureKey>, KeyError> {
        if list.is_empty() {
            return Ok(Vec::new());
        }
        list.split(',').map(AzureKey::parse_url).collect()
    }

    /// The key as sops names it (`ToString`): `VAULT/keys/NAME/VERSION`.
    pub fn name(&self) -> String {
        format!("{}/keys/{}/{}", self.vault_url, self.name, self.version)
    }
}

#[cfg(feature = "azure-kv")]
pub use client::{AzureUnwrapper, Session};

#[cfg(feature = "azure-kv")]
mod client {
    //! The HTTP side: a blocking HTTP/1.1 client over `std::net` (rustls for TLS), the
    //! credential chain, the vault's challenge authentication, and the [`Recipient`] /
    //! [`Unwrapper`] implementations.

    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use serde_json::Value;
    use zeroize::Zeroizing;

    use super::AzureKey;
    use crate::keys::{KeyError, Recipient, Unwrapper};
    use crate::metadata::StoredKey;

    /// The Key Vault REST API version sent (the one of Go's `azkeys` 1.5).
    const API_VERSION: &str = "7.6";
    /// The default login authority.
    const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
    /// The instance metadata service's token endpoint.
    const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

    fn env(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    // ----------------------------------------------------------------------------------------
    // HTTP

    /// An HTTP answer.
    struct Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Zeroizing<Vec<u8>>,
    }

    impl Response {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// A parsed `http(s)://host[:port]/path?query` URL.
    struct Url {
        tls: bool,
        host: String,
        port: u16,
        /// Path and query, starting with `/`.
        target: String,
    }

    impl Url {
        fn parse(url: &str) -> Result<Url, String> {
            let bad = |why: &str| format!("invalid URL {url:?}: {why}");
            let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
            let tls = match scheme.to_ascii_lowercase().as_str() {
                "https" => true,
                "http" => false,
                _ => return Err(bad("the scheme must be http or https")),
            };
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = &rest[..end];
            let mut target = rest[end..].split('#').next().unwrap_or("").to_string();
            if !target.starts_with('/') {
                target.insert(0, '/');
            }
            let hostport = authority.rsplit('@').next().unwrap_or("");
            let (host, port) = if let Some(stripped) = hostport.strip_prefix('[') {
                let close = stripped.find(']').ok_or_else(|| bad("unclosed ["))?;
                (
                    stripped[..close].to_string(),
                    stripped[close + 1..].strip_prefix(':'),
                )
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
            Ok(Url {
                tls,
                host,
                port,
                target,
            })
        }

        fn host_header(&self) -> String {
            let host = if self.host.contains(':') {
                format!("[{}]", self.host)
            } else {
                self.host.clone()
            };
            if self.port == if self.tls { 443 } else { 80 } {
                host
            } else {
                format!("{host}:{}", self.port)
            }
        }
    }

    /// A blocking HTTP/1.1 client with time limits.
    struct Http {
        connect_timeout: Duration,
        io_timeout: Duration,
        tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
    }

    impl Http {
        fn new() -> Http {
            Http {
                connect_timeout: Duration::from_secs(3),
                io_timeout: Duration::from_secs(5),
                tls: OnceLock::new(),
            }
        }

        fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
            self.tls
                .get_or_init(|| {
                    let provider = Arc::new(rustls::crypto::ring::default_provider());
                    let mut roots = rustls::RootCertStore::empty();
                    for cert in rustls_native_certs::load_native_certs().certs {
                        let _ = roots.add(cert);
                    }
                    let config = rustls::ClientConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .map_err(|e| format!("TLS setup failed: {e}"))?
                        .with_root_certificates(roots)
                        .with_no_client_auth();
                    Ok(Arc::new(config))
                })
                .clone()
        }

        /// Sends one request; `timeout` replaces both time limits when given.
        fn send(
            &self,
            method: &str,
            url: &str,
            headers: &[(&str, &str)],
            body: &[u8],
            timeout: Option<Duration>,
        ) -> Result<Response, String> {
            let u = Url::parse(url)?;
            let (connect_timeout, io_timeout) = match timeout {
                Some(t) => (t, t),
                None => (self.connect_timeout, self.io_timeout),
            };
            let tcp = connect(&u, connect_timeout, io_timeout)?;
            let mut request = Zeroizing::new(Vec::with_capacity(512 + body.len()));
            let _ = write!(
                request,
                "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sops-rs\r\n\
                 Content-Length: {}\r\nConnection: close\r\n",
                u.target,
                u.host_header(),
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
            if u.tls {
                let server_name = ServerName::try_from(u.host.clone())
                    .map_err(|_| format!("invalid TLS server name {:?}", u.host))?;
                let conn = rustls::ClientConnection::new(self.tls_config()?, server_name)
                    .map_err(|e| format!("TLS setup failed: {e}"))?;
                let mut stream = rustls::StreamOwned::new(conn, tcp);
                stream.write_all(&request).map_err(io_message)?;
                stream.flush().map_err(io_message)?;
                read_response(stream)
            } else {
                let mut stream = tcp;
                stream.write_all(&request).map_err(io_message)?;
                read_response(stream)
            }
        }
    }

    fn connect(u: &Url, connect_timeout: Duration, io: Duration) -> Result<TcpStream, String> {
        let addrs: Vec<_> = (u.host.as_str(), u.port)
            .to_socket_addrs()
            .map_err(|e| format!("dial tcp: lookup {}: {e}", u.host))?
            .collect();
        let mut last = format!("dial tcp: lookup {}: no addresses", u.host);
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, connect_timeout) {
                Ok(s) => {
                    let _ = s.set_read_timeout(Some(io));
                    let _ = s.set_write_timeout(Some(io));
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    last = format!(
                        "dial tcp {addr}: i/o timeout (no connection within {connect_timeout:?})"
                    );
                }
                Err(e) => last = format!("dial tcp {addr}: connect: {}", io_text(&e)),
            }
        }
        Err(last)
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
                         (SSL_CERT_FILE or SSL_CERT_DIR name the CA to trust)"
                    )
                } else {
                    format!("tls: {text}")
                }
            }
            _ => io_text(&e),
        }
    }

    /// Reads an HTTP/1.1 response (the shared reader, keeping the headers).
    fn read_response(stream: impl Read) -> Result<Response, String> {
        let (status, headers, body) =
            crate::keys::http::read_response_with_headers(stream, io_message)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// `application/x-www-form-urlencoded` encoding of one value.
    fn form_escape(v: &str) -> String {
        let mut out = String::with_capacity(v.len());
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    fn form(pairs: &[(&str, &str)]) -> Zeroizing<String> {
        Zeroizing::new(
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={}", form_escape(v)))
                .collect::<Vec<_>>()
                .join("&"),
        )
    }

    /// The status line and the service's error message of a failed answer (never a token).
    fn response_error(method: &str, url: &str, r: &Response) -> String {
        let mut out = format!("{method} {url}\nRESPONSE {}", r.status);
        let v: Option<Value> = serde_json::from_slice(&r.body).ok();
        let (code, message) = match &v {
            Some(v) if v.get("error").is_some_and(Value::is_object) => (
                v["error"]["code"].as_str().map(str::to_string),
                v["error"]["message"].as_str().map(str::to_string),
            ),
            Some(v) => (
                v.get("error").and_then(Value::as_str).map(str::to_string),
                v.get("error_description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            None => (None, None),
        };
        if let Some(c) = code {
            out.push_str(&format!("\nERROR CODE: {c}"));
        }
        match message {
            Some(m) => out.push_str(&format!("\n{m}")),
            None if v.is_none() => {
                let text = String::from_utf8_lossy(&r.body);
                let short: String = text.trim().chars().take(200).collect();
                if !short.is_empty() {
                    out.push_str(&format!("\n{short}"));
                }
            }
            None => {}
        }
        out
    }

    // ----------------------------------------------------------------------------------------
    // Credentials

    /// An access token and when it stops being valid.
    #[derive(Clone)]
    struct Token {
        value: Zeroizing<String>,
        expires: Instant,
    }

    impl Token {
        fn from_json(v: &Value, field: &str, lifetime: Option<u64>) -> Result<Token, String> {
            let value = v
                .get(field)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| format!("the answer has no {field}"))?;
            let secs = lifetime
                .or_else(|| {
                    v.get("expires_in").and_then(|e| {
                        e.as_u64()
                            .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
                    })
                })
                .unwrap_or(300);
            Ok(Token {
                value: Zeroizing::new(value.to_string()),
                expires: Instant::now() + Duration::from_secs(secs.saturating_sub(60).max(30)),
            })
        }
    }

    /// Why a credential gave no token.
    enum CredError {
        /// Not configured here: the chain goes on with the next credential.
        Unavailable(String),
        /// Configured, but failed: the chain stops.
        Failed(String),
    }

    /// What is asked for: the scope (`RESOURCE/.default`) and the tenant the vault named.
    struct TokenRequest<'a> {
        scope: &'a str,
        tenant: Option<&'a str>,
    }

    impl TokenRequest<'_> {
        fn resource(&self) -> &str {
            self.scope.strip_suffix("/.default").unwrap_or(self.scope)
        }
    }

    /// A credential of the chain.
    enum Credential {
        /// `EnvironmentCredential` / `WorkloadIdentityCredential`: a confidential client.
        Client {
            name: &'static str,
            tenant: String,
            client_id: String,
            secret: ClientSecret,
        },
        /// `EnvironmentCredential` without its variables.
        Missing { name: &'static str, reason: String },
        /// `ManagedIdentityCredential`; `probe`: at most 1 s for the first answer.
        Managed {
            client_id: Option<String>,
            probe: bool,
        },
        /// `AzureCLICredential`.
        Cli,
        /// `AzureDeveloperCLICredential`.
        DevCli,
    }

    /// How a confidential client proves who it is.
    enum ClientSecret {
        Secret(Zeroizing<String>),
        Certificate {
            path: String,
            send_chain: bool,
        },
        /// A federated token read from this file at each request.
        AssertionFile(String),
    }

    impl Credential {
        fn name(&self) -> &'static str {
            match self {
                Credential::Client { name, .. } | Credential::Missing { name, .. } => name,
                Credential::Managed { .. } => "ManagedIdentityCredential",
                Credential::Cli => "AzureCLICredential",
                Credential::DevCli => "AzureDeveloperCLICredential",
            }
        }

        fn token(&self, http: &Http, req: &TokenRequest) -> Result<Token, CredError> {
            match self {
                Credential::Missing { reason, .. } => Err(CredError::Unavailable(reason.clone())),
                Credential::Client {
                    tenant,
                    client_id,
                    secret,
                    ..
                } => client_token(http, req, tenant, client_id, secret).map_err(CredError::Failed),
                Credential::Managed { client_id, probe } => {
                    managed_token(http, req, client_id.as_deref(), *probe)
                }
                Credential::Cli => cli_token(req),
                Credential::DevCli => dev_cli_token(req),
            }
        }
    }

    /// The environment credential of `azidentity`.
    fn environment_credential() -> Credential {
        let name = "EnvironmentCredential";
        let missing = |var: &str| Credential::Missing {
            name,
            reason: format!("missing environment variable {var}"),
        };
        let Some(tenant) = env("AZURE_TENANT_ID") else {
            return missing("AZURE_TENANT_ID");
        };
        let Some(client_id) = env("AZURE_CLIENT_ID") else {
            return missing("AZURE_CLIENT_ID");
        };
        let secret = if let Some(s) = env("AZURE_CLIENT_SECRET") {
            ClientSecret::Secret(Zeroizing::new(s))
        } else if let Some(path) = env("AZURE_CLIENT_CERTIFICATE_PATH") {
            ClientSecret::Certificate {
                path,
                send_chain: env("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
                    .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "True" | "TRUE")),
            }
        } else {
            return Credential::Missing {
                name,
                reason: "incomplete environment variable configuration. Only AZURE_TENANT_ID \
                         and AZURE_CLIENT_ID are set"
                    .into(),
            };
        };
        Credential::Client {
            name,
            tenant,
            client_id,
            secret,
        }
    }

    /// The workload identity credential of `azidentity`.
    fn workload_credential() -> Credential {
        let name = "WorkloadIdentityCredential";
        for var in [
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_CLIENT_ID",
            "AZURE_TENANT_ID",
        ] {
            if env(var).is_none() {
                return Credential::Missing {
                    name,
                    reason: format!("no client ID/tenant ID/token file specified; missing {var}"),
                };
            }
        }
        Credential::Client {
            name,
            tenant: env("AZURE_TENANT_ID").unwrap_or_default(),
            client_id: env("AZURE_CLIENT_ID").unwrap_or_default(),
            secret: ClientSecret::AssertionFile(
                env("AZURE_FEDERATED_TOKEN_FILE").unwrap_or_default(),
            ),
        }
    }

    /// The chain of `DefaultAzureCredential`, narrowed by `AZURE_TOKEN_CREDENTIALS`.
    fn default_chain() -> Result<Vec<Credential>, String> {
        const ENV: u8 = 1;
        const WORKLOAD: u8 = 2;
        const MANAGED: u8 = 4;
        const CLI: u8 = 8;
        const DEV_CLI: u8 = 16;
        let mut selected = ENV | WORKLOAD | MANAGED | CLI | DEV_CLI;
        if let Ok(v) = std::env::var("AZURE_TOKEN_CREDENTIALS") {
            let is = |name: &str| v.eq_ignore_ascii_case(name);
            selected = if v == "dev" {
                CLI | DEV_CLI
            } else if v == "prod" {
                ENV | WORKLOAD | MANAGED
            } else if is("EnvironmentCredential") {
                ENV
            } else if is("WorkloadIdentityCredential") {
                WORKLOAD
            } else if is("ManagedIdentityCredential") {
                MANAGED
            } else if is("AzureCLICredential") {
                CLI
            } else if is("AzureDeveloperCLICredential") {
                DEV_CLI
            } else {
                return Err(format!(
                    "invalid AZURE_TOKEN_CREDENTIALS value {v:?}. Valid values are \"dev\", \
                     \"prod\", or the name of any credential type in the default chain. See \
                     https://aka.ms/azsdk/go/identity/docs#DefaultAzureCredential for more \
                     information"
                ));
            };
        }
        let mut chain = Vec::new();
        if selected & ENV != 0 {
            chain.push(environment_credential());
        }
        if selected & WORKLOAD != 0 {
            chain.push(workload_credential());
        }
        if selected & MANAGED != 0 {
            chain.push(Credential::Managed {
                client_id: env("AZURE_CLIENT_ID"),
                // Only probed with a short limit when other credentials come after it.
                probe: selected != MANAGED,
            });
        }
        if selected & CLI != 0 {
            chain.push(Credential::Cli);
        }
        if selected & DEV_CLI != 0 {
            chain.push(Credential::DevCli);
        }
        Ok(chain)
    }

    /// The login authority (`AZURE_AUTHORITY_HOST`), without a trailing slash.
    fn authority_host() -> String {
        env("AZURE_AUTHORITY_HOST")
            .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string())
            .trim_end_matches('/')
            .to_string()
    }

    /// The token endpoint of a tenant (ADFS has its own).
    fn token_endpoint(tenant: &str) -> String {
        let host = authority_host();
        if tenant.eq_ignore_ascii_case("adfs") {
            format!("{host}/adfs/oauth2/token")
        } else {
            format!("{host}/{tenant}/oauth2/v2.0/token")
        }
    }

    /// The tenant to ask: the configured one, or the vault's when
    /// `AZURE_ADDITIONALLY_ALLOWED_TENANTS` allows it.
    fn pick_tenant(configured: &str, req: &TokenRequest) -> Result<String, String> {
        let Some(wanted) = req.tenant.filter(|t| !t.eq_ignore_ascii_case(configured)) else {
            return Ok(configured.to_string());
        };
        let allowed = env("AZURE_ADDITIONALLY_ALLOWED_TENANTS").unwrap_or_default();
        if allowed
            .split(';')
            .any(|t| t == "*" || t.eq_ignore_ascii_case(wanted))
        {
            Ok(wanted.to_string())
        } else {
            Err(format!(
                "the vault's tenant {wanted:?} is not the configured tenant {configured:?}; \
                 add it to AZURE_ADDITIONALLY_ALLOWED_TENANTS to allow it"
            ))
        }
    }

    fn client_token(
        http: &Http,
        req: &TokenRequest,
        tenant: &str,
        client_id: &str,
        secret: &ClientSecret,
    ) -> Result<Token, String> {
        let tenant = pick_tenant(tenant, req)?;
        let url = token_endpoint(&tenant);
        let assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
        let body = match secret {
            ClientSecret::Secret(s) => form(&[
                ("client_id", client_id),
                ("client_secret", s),
                ("grant_type", "client_credentials"),
                ("scope", req.scope),
            ]),
            ClientSecret::Certificate { path, send_chain } => {
                let jwt = certificate_assertion(path, *send_chain, client_id, &url)?;
                form(&[
                    ("client_id", client_id),
                    ("client_assertion_type", assertion_type),
                    ("client_assertion", &jwt),
                    ("grant_type", "client_credentials"),
                    ("scope", req.scope),
                ])
            }
            ClientSecret::AssertionFile(path) => {
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "failed to read federated token file {path}: {}",
                        io_text(&e)
                    )
                })?);
                form(&[
                    ("client_id", client_id),
                    ("client_assertion_type", assertion_type),
                    ("client_assertion", text.trim()),
                    ("grant_type", "client_credentials"),
                    ("scope", req.scope),
                ])
            }
        };
        let r = http.send(
            "POST",
            &url,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
            None,
        )?;
        if r.status != 200 {
            return Err(format!(
                "authentication failed:\n{}",
                response_error("POST", &url, &r)
            ));
        }
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("invalid JSON in the token answer: {e}"))?;
        Token::from_json(&v, "access_token", None)
    }

    /// A JWT client assertion signed (RS256) with the certificate's private key.
    fn certificate_assertion(
        path: &str,
        send_chain: bool,
        client_id: &str,
        audience: &str,
    ) -> Result<Zeroizing<String>, String> {
        let pem = Zeroizing::new(
            std::fs::read(path)
                .map_err(|e| format!("failed to read certificate file {path}: {}", io_text(&e)))?,
        );
        let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("failed to parse certificate file {path}: {e}"))?;
        let Some(leaf) = certs.first() else {
            return Err(format!(
                "no certificate in {path} (a PEM file with the certificate and its \
                 unencrypted private key is expected; PKCS#12 files are not supported)"
            ));
        };
        let key = PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|_| format!("no unencrypted private key in {path}"))?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| format!("unsupported private key in {path}: {e}"))?;
        let signer = signing
            .choose_scheme(&[rustls::SignatureScheme::RSA_PKCS1_SHA256])
            .ok_or_else(|| format!("the private key in {path} is not an RSA key"))?;
        use sha1::Digest;
        let thumbprint = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(leaf.as_ref()));
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": thumbprint});
        if send_chain {
            header["x5c"] = Value::Array(
                certs
                    .iter()
                    .map(|c| Value::String(STANDARD.encode(c.as_ref())))
                    .collect(),
            );
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut jti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut jti);
        let claims = serde_json::json!({
            "aud": audience,
            "exp": now + 600,
            "iss": client_id,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "nbf": now,
            "sub": client_id,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = signer
            .sign(signing_input.as_bytes())
            .map_err(|e| format!("signing the client assertion failed: {e}"))?;
        Ok(Zeroizing::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }

    fn managed_token(
        http: &Http,
        req: &TokenRequest,
        client_id: Option<&str>,
        probe: bool,
    ) -> Result<Token, CredError> {
        let resource = form_escape(req.resource());
        let client = client_id
            .map(|c| format!("&client_id={}", form_escape(c)))
            .unwrap_or_default();
        let (url, header) = match (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
            (Some(endpoint), Some(secret)) => (
                format!("{endpoint}?api-version=2019-08-01&resource={resource}{client}"),
                ("X-IDENTITY-HEADER", Zeroizing::new(secret)),
            ),
            _ => {
                let endpoint = env("AZURE_POD_IDENTITY_AUTHORITY_HOST")
                    .map(|h| format!("{}/metadata/identity/oauth2/token", h.trim_end_matches('/')))
                    .unwrap_or_else(|| IMDS_ENDPOINT.to_string());
                (
                    format!("{endpoint}?api-version=2018-02-01&resource={resource}{client}"),
                    ("Metadata", Zeroizing::new("true".to_string())),
                )
            }
        };
        let timeout = probe.then(|| Duration::from_secs(1));
        let r = http
            .send("GET", &url, &[(header.0, &header.1)], b"", timeout)
            .map_err(|e| {
                if probe {
                    CredError::Unavailable(format!(
                        "managed identity timed out or is not reachable ({e})"
                    ))
                } else {
                    CredError::Failed(format!("no answer from the managed identity endpoint: {e}"))
                }
            })?;
        if r.status != 200 {
            let text = response_error("GET", url.split('?').next().unwrap_or(""), &r);
            return Err(if probe && matches!(r.status, 400 | 404) {
                CredError::Unavailable(format!("no managed identity endpoint: {text}"))
            } else {
                CredError::Failed(format!("authentication failed:\n{text}"))
            });
        }
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| CredError::Failed(format!("invalid JSON in the token answer: {e}")))?;
        Token::from_json(&v, "access_token", None).map_err(CredError::Failed)
    }

    /// Runs a developer tool with a time limit; `Unavailable` when it is not installed.
    fn run_tool(program: &str, args: &[&str], what: &str) -> Result<Vec<u8>, CredError> {
        let mut child = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    CredError::Unavailable(format!("{what} not found on path"))
                } else {
                    CredError::Unavailable(format!("cannot run {what}: {}", io_text(&e)))
                }
            })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(CredError::Failed(format!("{what} timed out after 10s")));
                }
            }
        }
        let out = child
            .wait_with_output()
            .map_err(|e| CredError::Failed(format!("{what}: {}", io_text(&e))))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let short: String = err.chars().take(300).collect();
            return Err(
                if err.contains("az login") || err.contains("azd auth login") {
                    CredError::Unavailable(format!("{what}: {short}"))
                } else {
                    CredError::Failed(format!("{what}: {short}"))
                },
            );
        }
        Ok(out.stdout)
    }

    fn cli_token(req: &TokenRequest) -> Result<Token, CredError> {
        let mut args = vec![
            "account",
            "get-access-token",
            "--output",
            "json",
            "--resource",
            req.resource(),
        ];
        if let Some(t) = req.tenant.filter(|t| !t.eq_ignore_ascii_case("adfs")) {
            args.extend(["--tenant", t]);
        }
        let out = Zeroizing::new(run_tool("az", &args, "Azure CLI")?);
        let v: Value = serde_json::from_slice(&out)
            .map_err(|e| CredError::Failed(format!("invalid JSON from the Azure CLI: {e}")))?;
        Token::from_json(&v, "accessToken", Some(300)).map_err(CredError::Failed)
    }

    fn dev_cli_token(req: &TokenRequest) -> Result<Token, CredError> {
        let out = Zeroizing::new(run_tool(
            "azd",
            &[
                "auth",
                "token",
                "--output",
                "json",
                "--no-prompt",
                "--scope",
                req.scope,
            ],
            "Azure Developer CLI",
        )?);
        let v: Value = serde_json::from_slice(&out).map_err(|e| {
            CredError::Failed(format!("invalid JSON from the Azure Developer CLI: {e}"))
        })?;
        Token::from_json(&v, "token", Some(300)).map_err(CredError::Failed)
    }

    // ----------------------------------------------------------------------------------------
    // The vault

    /// What a vault's `401` asked for.
    #[derive(Clone, Debug)]
    struct Challenge {
        scope: String,
        tenant: Option<String>,
    }

    /// Parses `WWW-Authenticate: Bearer authorization="…", resource="…"` (or `scope=`,
    /// `authorization_uri=`), checking the resource is a suffix of the vault's host as
    /// `azkeys` does.
    fn parse_challenge(header: &str, vault_host: &str) -> Result<Challenge, String> {
        let mut params: HashMap<String, String> = HashMap::new();
        let rest = header
            .trim()
            .strip_prefix("Bearer")
            .ok_or_else(|| format!("unsupported authentication challenge {header:?}"))?;
        for part in rest.split(',') {
            if let Some((k, v)) = part.trim().split_once('=') {
                params.insert(
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_string(),
                );
            }
        }
        let authorization = params
            .get("authorization")
            .or_else(|| params.get("authorization_uri"))
            .ok_or_else(|| "the vault's challenge names no authorization URI".to_string())?;
        let tenant = authorization
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|t| !t.is_empty() && !t.contains(':'))
            .map(str::to_string);
        let scope = if let Some(scope) = params.get("scope") {
            scope.clone()
        } else if let Some(resource) = params.get("resource") {
            format!("{}/.default", resource.trim_end_matches('/'))
        } else {
            return Err("the vault's challenge names no resource or scope".into());
        };
        let resource_host = Url::parse(&scope)
            .map(|u| u.host_header())
            .map_err(|_| format!("invalid resource {scope:?} in the vault's challenge"))?;
        let resource_host = resource_host.trim_start_matches('.');
        if vault_host != resource_host && !vault_host.ends_with(&format!(".{resource_host}")) {
            return Err(format!(
                "challenge resource {:?} doesn't match the requested domain. See \
                 https://aka.ms/azsdk/blog/vault-uri for more information",
                scope.trim_end_matches("/.default")
            ));
        }
        Ok(Challenge { scope, tenant })
    }

    /// The process's connection to Azure: the HTTP client, the credential chain (built when
    /// the first Azure key is used), the challenges and tokens already obtained.
    pub struct Session {
        http: Http,
        chain: OnceLock<Result<Vec<Credential>, String>>,
        /// The credential that gave a token: used from then on, as `azidentity` does.
        chosen: Mutex<Option<usize>>,
        challenges: Mutex<HashMap<String, Challenge>>,
        tokens: Mutex<HashMap<String, Token>>,
        versions: Mutex<HashMap<String, String>>,
    }

    impl std::fmt::Debug for Session {
        /// Never shows a token.
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Session").finish_non_exhaustive()
        }
    }

    impl Session {
        fn new() -> Session {
            Session {
                http: Http::new(),
                chain: OnceLock::new(),
                chosen: Mutex::new(None),
                challenges: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                versions: Mutex::new(HashMap::new()),
            }
        }

        /// The session of this process, set up on first use.
        pub fn shared() -> Arc<Session> {
            static SHARED: OnceLock<Arc<Session>> = OnceLock::new();
            SHARED.get_or_init(|| Arc::new(Session::new())).clone()
        }

        fn token(&self, challenge: &Challenge) -> Result<Zeroizing<String>, String> {
            let cache_key = format!("{}\n{:?}", challenge.scope, challenge.tenant);
            if let Some(t) = self
                .tokens
                .lock()
                .ok()
                .and_then(|m| m.get(&cache_key).cloned())
            {
                if t.expires > Instant::now() {
                    return Ok(t.value);
                }
            }
            let chain = self
                .chain
                .get_or_init(default_chain)
                .as_ref()
                .map_err(|e| format!("failed to get Azure token credential: {e}"))?;
            let req = TokenRequest {
                scope: &challenge.scope,
                tenant: challenge.tenant.as_deref(),
            };
            let chosen = self.chosen.lock().ok().and_then(|c| *c);
            let mut attempts = Vec::new();
            let start = chosen.unwrap_or(0);
            let end = chosen.map(|c| c + 1).unwrap_or(chain.len());
            for (i, cred) in chain.iter().enumerate().take(end).skip(start) {
                match cred.token(&self.http, &req) {
                    Ok(t) => {
                        if let Ok(mut c) = self.chosen.lock() {
                            *c = Some(i);
                        }
                        if let Ok(mut m) = self.tokens.lock() {
                            m.insert(cache_key, t.clone());
                        }
                        return Ok(t.value);
                    }
                    Err(CredError::Unavailable(e)) => {
                        attempts.push(format!("{}: {e}", cred.name()));
                    }
                    Err(CredError::Failed(e)) => {
                        attempts.push(format!("{}: {e}", cred.name()));
                        break;
                    }
                }
            }
            Err(format!(
                "DefaultAzureCredential: failed to acquire a token.\nAttempted credentials:\n\t{}",
                attempts.join("\n\t").replace('\n', "\n\t")
            ))
        }

        /// One vault call with challenge authentication; returns the JSON answer.
        fn call(&self, method: &str, url: &str, body: &[u8]) -> Result<Value, String> {
            let u = Url::parse(url)?;
            let vault_host = u.host_header();
            let known = self
                .challenges
                .lock()
                .ok()
                .and_then(|m| m.get(&vault_host).cloned());
            let challenge = match known {
                Some(c) => c,
                None => {
                    // The first request goes without a body, to learn how to log in.
                    let r = self.http.send(method, url, &[], b"", None)?;
                    let c = self.challenge_of(&r, method, url, &vault_host)?;
                    if let Ok(mut m) = self.challenges.lock() {
                        m.insert(vault_host.clone(), c.clone());
                    }
                    c
                }
            };
            let token = self.token(&challenge)?;
            let auth = Zeroizing::new(format!("Bearer {}", token.as_str()));
            let r = self.http.send(
                method,
                url,
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "application/json"),
                    ("Authorization", &auth),
                ],
                body,
                None,
            )?;
            if !(200..300).contains(&r.status) {
                return Err(response_error(method, url, &r));
            }
            serde_json::from_slice(&r.body)
                .map_err(|e| format!("invalid JSON in the vault's answer: {e}"))
        }

        fn challenge_of(
            &self,
            r: &Response,
            method: &str,
            url: &str,
            vault_host: &str,
        ) -> Result<Challenge, String> {
            if r.status != 401 {
                return Err(format!(
                    "the vault did not ask for authentication:\n{}",
                    response_error(method, url, r)
                ));
            }
            let header = r.header("WWW-Authenticate").ok_or_else(|| {
                format!(
                    "the vault's 401 has no WWW-Authenticate challenge:\n{}",
                    response_error(method, url, r)
                )
            })?;
            parse_challenge(header, vault_host)
        }

        fn key_url(key: &AzureKey, version: &str, op: &str) -> String {
            let mut url = format!(
                "{}/keys/{}/{}",
                key.vault_url.trim_end_matches('/'),
                escape(&key.name),
                escape(version)
            );
            if !op.is_empty() {
                url.push('/');
                url.push_str(op);
            }
            format!("{url}?api-version={API_VERSION}")
        }

        /// The key's version: its own, else the latest (looked up once per process).
        pub fn version(&self, key: &AzureKey) -> Result<String, String> {
            if !key.version.is_empty() {
                return Ok(key.version.clone());
            }
            let cache_key = format!("{}/keys/{}", key.vault_url, key.name);
            if let Some(v) = self
                .versions
                .lock()
                .ok()
                .and_then(|m| m.get(&cache_key).cloned())
            {
                return Ok(v);
            }
            let url = Self::key_url(key, "", "");
            let v = self
                .call("GET", &url, b"")
                .map_err(|e| format!("failed to fetch Azure Key to retrieve key version: {e}"))?;
            let kid = v
                .get("key")
                .and_then(|k| k.get("kid"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    "failed to fetch Azure Key to retrieve key version: the answer has no key id"
                        .to_string()
                })?;
            let version = kid.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            if version.is_empty() || version == key.name {
                return Err(format!(
                    "failed to fetch Azure Key to retrieve key version: no version in {kid:?}"
                ));
            }
            if let Ok(mut m) = self.versions.lock() {
                m.insert(cache_key, version.to_string());
            }
            Ok(version.to_string())
        }

        /// `RSA-OAEP-256` with the key: `op` is `encrypt` or `decrypt`.
        fn operate(
            &self,
            key: &AzureKey,
            version: &str,
            op: &str,
            value: &[u8],
        ) -> Result<Zeroizing<Vec<u8>>, String> {
            let url = Self::key_url(key, version, op);
            let b64 = Zeroizing::new(URL_SAFE_NO_PAD.encode(value));
            let body = Zeroizing::new(
                serde_json::to_vec(
                    &serde_json::json!({"alg": "RSA-OAEP-256", "value": b64.as_str()}),
                )
                .map_err(|e| e.to_string())?,
            );
            let answer = self.call("POST", &url, &body)?;
            let result = answer
                .get("value")
                .and_then(Value::as_str)
                .ok_or_else(|| "the vault's answer has no value".to_string())?;
            decode_b64url(result)
                .map(Zeroizing::new)
                .ok_or_else(|| "the vault's answer is not base64url".to_string())
        }

        /// Encrypts `secret` and returns the stored form (base64url without padding) and the
        /// version used.
        pub fn encrypt(&self, key: &AzureKey, secret: &[u8]) -> Result<(String, String), String> {
            let version = self.version(key)?;
            let fail = |e: String| {
                format!(
                    "failed to encrypt sops data key with Azure Key Vault key '{}/keys/{}/{}': {e}",
                    key.vault_url, key.name, version
                )
            };
            let out = self
                .operate(key, &version, "encrypt", secret)
                .map_err(fail)?;
            Ok((URL_SAFE_NO_PAD.encode(&out[..]), version))
        }

        /// Decrypts a stored `enc` value.
        pub fn decrypt(&self, key: &AzureKey, enc: &str) -> Result<Zeroizing<Vec<u8>>, String> {
            let raw = URL_SAFE_NO_PAD.decode(enc).map_err(|e| {
                format!("failed to base64 decode Azure Key Vault encrypted key: {e}")
            })?;
            self.operate(key, &key.version, "decrypt", &raw)
                .map_err(|e| {
                    format!(
                        "failed to decrypt sops data key with Azure Key Vault key '{}': {e}",
                        key.name()
                    )
                })
        }
    }

    /// Base64url with or without padding (Key Vault sends it without).
    fn decode_b64url(s: &str) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD
            .decode(s)
            .or_else(|_| URL_SAFE.decode(s))
            .ok()
    }

    /// Percent-encodes a path segment.
    fn escape(segment: &str) -> String {
        let mut out = String::with_capacity(segment.len());
        for b in segment.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    impl Recipient for AzureKey {
        fn wrap(&self, secret: &[u8]) -> Result<StoredKey, KeyError> {
            let (enc, version) =
                Session::shared()
                    .encrypt(self, secret)
                    .map_err(|reason| KeyError::Wrap {
                        key: self.describe(),
                        reason,
                    })?;
            Ok(StoredKey::AzureKv {
                vault_url: self.vault_url.clone(),
                name: self.name.clone(),
                version,
                created_at: crate::timestamp::now_utc(),
                enc,
            })
        }

        fn describe(&self) -> String {
            format!("Azure Key Vault key {}", self.name())
        }
    }

    /// Unwraps Azure Key Vault entries with the process's [`Session`].
    #[derive(Debug, Default)]
    pub struct AzureUnwrapper;

    impl AzureUnwrapper {
        /// Uses the environment's credentials, read when the first Azure key is tried.
        pub fn from_env() -> AzureUnwrapper {
            AzureUnwrapper
        }
    }

    impl Unwrapper for AzureUnwrapper {
        fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
            let StoredKey::AzureKv {
                vault_url,
                name,
                version,
                enc,
                ..
            } = key
            else {
                return None;
            };
            let k = AzureKey::new(vault_url, name, version);
            Some(Session::shared().decrypt(&k, enc).map_err(KeyError::Unwrap))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn challenge_is_parsed_and_checked() {
            let c = parse_challenge(
                "Bearer authorization=\"https://login.microsoftonline.com/72f988bf\", \
                 resource=\"https://vault.azure.net\"",
                "myvault.vault.azure.net",
            )
            .unwrap();
            assert_eq!(c.scope, "https://vault.azure.net/.default");
            assert_eq!(c.tenant.as_deref(), Some("72f988bf"));
            // A resource that is not a suffix of the vault's host is refused.
            let err = parse_challenge(
                "Bearer authorization=\"https://login.example/t\", resource=\"https://evil.net\"",
                "myvault.vault.azure.net",
            )
            .unwrap_err();
            assert!(err.contains("doesn't match the requested domain"), "{err}");
            // With a port, as the local test vault sends it.
            let c = parse_challenge(
                "Bearer authorization=\"https://127.0.0.1:9/adfs\", resource=\"https://0.0.1:8443\"",
                "127.0.0.1:8443",
            )
            .unwrap();
            assert_eq!(c.tenant.as_deref(), Some("adfs"));
            assert!(parse_challenge("Basic realm=x", "h").is_err());
        }

        #[test]
        fn token_credentials_selection() {
            // Only checks the parsing of names; the environment is the process's.
            let names = |v: &str| {
                std::env::set_var("AZURE_TOKEN_CREDENTIALS", v);
                let r = default_chain().map(|c| c.iter().map(|c| c.name()).collect::<Vec<_>>());
                std::env::remove_var("AZURE_TOKEN_CREDENTIALS");
                r
            };
            assert_eq!(
                names("dev").unwrap(),
                ["AzureCLICredential", "AzureDeveloperCLICredential"]
            );
            assert_eq!(
                names("prod").unwrap(),
                [
                    "EnvironmentCredential",
                    "WorkloadIdentityCredential",
                    "ManagedIdentityCredential"
                ]
            );
            assert_eq!(
                names("environmentcredential").unwrap(),
                ["EnvironmentCredential"]
            );
            assert!(names("DEV")
                .unwrap_err()
                .contains("invalid AZURE_TOKEN_CREDENTIALS"));
        }

        #[test]
        fn urls_and_forms() {
            let u = Url::parse("https://127.0.0.1:8443/keys/k/v/encrypt?api-version=7.6").unwrap();
            assert_eq!(u.host_header(), "127.0.0.1:8443");
            assert_eq!(u.target, "/keys/k/v/encrypt?api-version=7.6");
            assert_eq!(
                Url::parse("https://v.vault.azure.net")
                    .unwrap()
                    .host_header(),
                "v.vault.azure.net"
            );
            assert_eq!(
                &*form(&[("a", "x y&z"), ("b", "é")]),
                "a=x%20y%26z&b=%C3%A9"
            );
            assert_eq!(decode_b64url("AQID").unwrap(), [1, 2, 3]);
            assert_eq!(decode_b64url("-_8=").unwrap(), [0xfb, 0xff]);
        }

        #[test]
        fn unreachable_vault_fails_fast_and_names_the_key() {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            drop(listener);
            let key = AzureKey::parse_url(&format!("https://{addr}/keys/k/v1")).unwrap();
            let start = Instant::now();
            let err = Session::new().decrypt(&key, "AQID").unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(5));
            assert!(
                err.starts_with(&format!(
                    "failed to decrypt sops data key with Azure Key Vault key 'https://{addr}/keys/k/v1': dial tcp"
                )),
                "{err}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_as_sops_does() {
        let k = AzureKey::parse_url(" https://v.vault.azure.net/keys/my-key/abc123 ").unwrap();
        assert_eq!(
            k,
            AzureKey::new("https://v.vault.azure.net", "my-key", "abc123")
        );
        assert_eq!(k.name(), "https://v.vault.azure.net/keys/my-key/abc123");
        let k = AzureKey::parse_url("https://v.vault.azure.net/keys/k").unwrap();
        assert_eq!(k.version, "");
        let k = AzureKey::parse_url("https://v.vault.azure.net/keys/k/").unwrap();
        assert_eq!(k.version, "");
        for bad in [
            "http://v.vault.azure.net/keys/k/v",
            "https://v.vault.azure.net/secrets/k/v",
            "https://v.vault.azure.net/keys/k/v/x",
            "https://v.vault.azure.net/keys//v",
            "https:///keys/k/v",
            "",
        ] {
            assert!(AzureKey::parse_url(bad).is_err(), "{bad}");
        }
        assert_eq!(AzureKey::parse_list("").unwrap(), vec![]);
        assert_eq!(
            AzureKey::parse_list("https://a/keys/k/1,https://b/keys/l/2")
                .unwrap()
                .len(),
            2
        );
        assert!(AzureKey::parse_list("https://a/keys/k/1,").is_err());
    }
}
