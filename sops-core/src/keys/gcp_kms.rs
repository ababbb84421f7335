//! GCP Cloud KMS keys, as sops 3.13 uses them (`gcpkms/keysource.go`).
//!
//! A key is named by its resource id,
//! `projects/P/locations/L/keyRings/R/cryptoKeys/K` (spaces removed, as sops does). The file
//! stores `resource_id`, `created_at` and `enc`: the standard base64 of the ciphertext Cloud
//! KMS returned for the raw data key (or Shamir share).
//!
//! Parsing is always compiled. Talking to Cloud KMS needs the `gcp-kms` cargo feature: a small
//! blocking HTTP/1.1 client (rustls for `https`) makes the two REST calls of the KMS v1 API,
//! `POST /v1/{name}:encrypt` and `POST /v1/{name}:decrypt`, at `https://cloudkms.googleapis.com`
//! (or `SOPS_GCP_KMS_ENDPOINT`, or `cloudkms.{SOPS_GCP_KMS_UNIVERSE_DOMAIN}`). Google's Rust
//! client (`google-cloud-kms-v1`) was not used: it brings an async runtime, reqwest and
//! hundreds of crates for two JSON calls, which the small decrypts' start-up and the build
//! cannot afford. `SOPS_GCP_KMS_CLIENT_TYPE` (`grpc`, the default, or `rest`) is accepted;
//! both reach the same API over REST.
//!
//! Credentials, in sops's order: `GOOGLE_CREDENTIALS` (a file path, or the JSON itself), then
//! `GOOGLE_OAUTH_ACCESS_TOKEN`, then Google's application default credentials
//! (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's `application_default_credentials.json`, then the
//! metadata server when running on Google Cloud). A service-account JSON is exchanged for an
//! access token at its `token_uri` with an RS256-signed JWT (RFC 7523); an `authorized_user`
//! JSON with its refresh token. Every call has a connect and an I/O time limit.

/// The identifier of GCP KMS keys in metadata and `--decryption-order`.
pub const KEY_TYPE: &str = "gcp_kms";

/// A GCP KMS key: its resource id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpKmsKey {
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
    pub resource_id: String,
}

impl GcpKmsKey {
    /// A key from its resource id; spaces are removed, as sops's
    /// `NewMasterKeyFromResourceID` does.
    pub fn new(resource_id: &str) -> GcpKmsKey {
        GcpKmsKey {
            resource_id: resource_id.replace(' ', ""),
        }
    }

    /// A comma-separated list (`--gcp-kms`, `SOPS_GCP_KMS_IDS`, rules); empty entries are
    /// skipped.
    pub fn parse_list(list: &str) -> Vec<GcpKmsKey> {
        list.split(',')
            .map(GcpKmsKey::new)
            .filter(|k| !k.resource_id.is_empty())
            .collect()
    }

    /// Whether the id has the form sops requires before it calls KMS:
    /// `^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`.
    pub fn is_valid(&self) -> bool {
        let parts: Vec<&str> = self.resource_id.split('/').collect();
        parts.len() == 8
            && parts[0] == "projects"
            && parts[2] == "locations"
            && parts[4] == "keyRings"
            && parts[6] == "cryptoKeys"
            && [1, 3, 5, 7].iter().all(|&i| !parts[i].is_empty())
    }

    #[cfg(feature = "gcp-kms")]
    fn check(&self) -> Result<(), String> {
        if self.is_valid() {
            Ok(())
        } else {
            Err(format!(
                "cannot create GCP KMS service: no valid resource ID found in {:?}",
                self.resource_id
            ))
        }
    }
}

#[cfg(feature = "publish")]
pub(crate) use client::api_error;
#[cfg(feature = "gcp-kms")]
pub use client::{GcpKmsUnwrapper, Settings};

#[cfg(feature = "gcp-kms")]
mod client {
    //! Settings from the environment, credentials and tokens, a blocking HTTP/1.1 client over
    //! `std::net` (rustls for TLS), and the [`Recipient`] / [`Unwrapper`] implementations.

    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::path::PathBuf;
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use base64::Engine;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{PrivateKeyDer, ServerName};
    use zeroize::Zeroizing;

    use super::GcpKmsKey;
    use crate::keys::{KeyError, Recipient, Unwrapper};
    use crate::metadata::StoredKey;

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
    const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    /// The OAuth scope sops's client asks for.
    const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
    /// Google's token endpoint, when credentials name none.
    const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

    fn env(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    /// Where credentials come from.
    enum Credentials {
        /// `GOOGLE_OAUTH_ACCESS_TOKEN`.
        Static(Zeroizing<String>),
        /// A service-account key: a signed JWT exchanged at `token_uri`.
        ServiceAccount {
            email: String,
            key_id: String,
            key: Zeroizing<Vec<u8>>,
            pkcs8: bool,
            token_uri: String,
            quota_project: Option<String>,
        },
        /// A user's refresh token (`gcloud auth application-default login`).
        AuthorizedUser {
            client_id: String,
            client_secret: Zeroizing<String>,
            refresh_token: Zeroizing<String>,
            token_uri: String,
            quota_project: Option<String>,
        },
        /// The metadata server of a Google Cloud machine.
        Metadata { host: String },
    }

    /// An access token and the quota project to bill (`quota_project_id`), if any.
    type Access = (Zeroizing<String>, Option<String>);

    /// How to reach Cloud KMS: the endpoint and the credentials of the environment.
    pub struct Settings {
        /// `scheme://host[:port]` of the KMS API.
        endpoint: String,
        /// Establishing a TCP connection, per address.
        pub connect_timeout: Duration,
        /// Each read or write on a connection.
        pub io_timeout: Duration,
        /// An explicit access token (library users and tests); else the environment's.
        token: Option<Zeroizing<String>>,
        access: OnceLock<Result<Access, String>>,
        tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
    }

    impl std::fmt::Debug for Settings {
        /// Never shows a token.
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Settings")
                .field("endpoint", &self.endpoint)
                .field("connect_timeout", &self.connect_timeout)
                .field("io_timeout", &self.io_timeout)
                .finish_non_exhaustive()
        }
    }

    /// The REST base URL for an endpoint as sops's client takes it: `host:port` gets
    /// `https://`, a URL keeps its scheme.
    pub(super) fn endpoint_url(endpoint: &str) -> String {
        let e = endpoint.trim_end_matches('/');
        if e.contains("://") {
            e.to_string()
        } else {
            format!("https://{e}")
        }
    }

    impl Settings {
        /// The settings of the environment (`SOPS_GCP_KMS_ENDPOINT`,
        /// `SOPS_GCP_KMS_UNIVERSE_DOMAIN`); credentials are looked up on first use.
        pub fn from_env() -> Settings {
            let endpoint = match env("SOPS_GCP_KMS_ENDPOINT") {
                Some(e) => endpoint_url(&e),
                None => {
                    let ud = env("SOPS_GCP_KMS_UNIVERSE_DOMAIN")
                        .unwrap_or_else(|| "googleapis.com".to_string());
                    format!("https://cloudkms.{ud}")
                }
            };
            Settings {
                endpoint,
                connect_timeout: Duration::from_secs(3),
                io_timeout: Duration::from_secs(10),
                token: None,
                access: OnceLock::new(),
                tls: OnceLock::new(),
            }
        }

        /// Settings with this endpoint and access token (for library users and tests).
        pub fn with_token(endpoint: &str, token: &str) -> Settings {
            let mut s = Settings::from_env();
            s.endpoint = endpoint_url(endpoint);
            s.token = Some(Zeroizing::new(token.to_string()));
            s
        }

        /// The settings of the environment, read once per process.
        pub fn shared() -> Arc<Settings> {
            static SHARED: OnceLock<Arc<Settings>> = OnceLock::new();
            SHARED
                .get_or_init(|| Arc::new(Settings::from_env()))
                .clone()
        }

        /// The access token (and quota project), fetched once per process.
        pub(crate) fn access(&self) -> Result<Access, String> {
            if let Some(t) = &self.token {
                return Ok((t.clone(), None));
            }
            self.access
                .get_or_init(|| {
                    let creds = find_credentials()?;
                    let quota = match &creds {
                        Credentials::ServiceAccount { quota_project, .. }
                        | Credentials::AuthorizedUser { quota_project, .. } => {
                            quota_project.clone()
                        }
                        _ => None,
                    };
                    Ok((self.fetch_token(&creds)?, quota))
                })
                .clone()
        }

        fn fetch_token(&self, creds: &Credentials) -> Result<Zeroizing<String>, String> {
            match creds {
                Credentials::Static(t) => Ok(t.clone()),
                Credentials::ServiceAccount {
                    email,
                    key_id,
                    key,
                    pkcs8,
                    token_uri,
                    ..
                } => {
                    let jwt = signed_jwt(email, key_id, key, *pkcs8, token_uri)?;
                    let body = Zeroizing::new(format!(
                        "grant_type={}&assertion={}",
                        form_escape("urn:ietf:params:oauth:grant-type:jwt-bearer"),
                        form_escape(&jwt)
                    ));
                    self.token_request(token_uri, &body)
                }
                Credentials::AuthorizedUser {
                    client_id,
                    client_secret,
                    refresh_token,
                    token_uri,
                    ..
                } => {
                    let body = Zeroizing::new(format!(
                        "client_id={}&client_secret={}&grant_type=refresh_token&refresh_token={}",
                        form_escape(client_id),
                        form_escape(client_secret),
                        form_escape(refresh_token)
                    ));
                    self.token_request(token_uri, &body)
                }
                Credentials::Metadata { host } => {
                    let url = format!(
                        "http://{host}/computeMetadata/v1/instance/service-accounts/default/token?scopes={}",
                        form_escape(SCOPE)
                    );
                    let (status, body) = self
                        .request(
                            "GET",
                            &url,
                            &[("Metadata-Flavor", "Google")],
                            b"",
                            Duration::from_secs(2),
                        )
                        .map_err(|e| format!("compute: failed to get a token: {e}"))?;
                    token_from_answer(url.split('?').next().unwrap_or(""), status, &body)
                }
            }
        }

        fn token_request(&self, token_uri: &str, body: &str) -> Result<Zeroizing<String>, String> {
            let (status, answer) = self
                .request(
                    "POST",
                    token_uri,
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    body.as_bytes(),
                    self.connect_timeout,
                )
                .map_err(|e| format!("oauth2: cannot fetch token from {token_uri}: {e}"))?;
            token_from_answer(token_uri, status, &answer)
        }

        /// `POST {endpoint}/v1/{name}:{method}` with a JSON body; the JSON answer.
        fn call(
            &self,
            key: &GcpKmsKey,
            method: &str,
            body: &serde_json::Value,
        ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
            let (token, quota) = self
                .access()
                .map_err(|e| format!("cannot create GCP KMS service: credentials: {e}"))?;
            let url = format!(
                "{}/v1/{}:{method}?%24alt=json%3Benum-encoding%3Dint",
                self.endpoint, key.resource_id
            );
            let auth = Zeroizing::new(format!("Bearer {}", token.as_str()));
            let params = format!("name={}", form_escape(&key.resource_id));
            let mut headers = vec![
                ("Content-Type", "application/json"),
                ("Authorization", auth.as_str()),
                ("x-goog-request-params", params.as_str()),
                ("x-goog-api-client", "gl-rust/sops-rs rest/sops-rs"),
            ];
            if let Some(q) = &quota {
                headers.push(("x-goog-user-project", q));
            }
            let body = Zeroizing::new(serde_json::to_vec(body).map_err(|e| e.to_string())?);
            let (status, answer) =
                self.request("POST", &url, &headers, &body, self.connect_timeout)?;
            if !(200..300).contains(&status) {
                return Err(api_error(status, &answer));
            }
            match serde_json::from_slice(&answer) {
                Ok(serde_json::Value::Object(map)) => Ok(map),
                _ => Err(format!("invalid JSON in the answer of {}", self.endpoint)),
            }
        }

        fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
            self.tls
                .get_or_init(|| {
                    let provider = Arc::new(rustls::crypto::ring::default_provider());
                    let builder = rustls::ClientConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .map_err(|e| format!("TLS setup failed: {e}"))?;
                    // The system's roots; `SSL_CERT_FILE` / `SSL_CERT_DIR` replace them.
                    let mut roots = rustls::RootCertStore::empty();
                    for cert in rustls_native_certs::load_native_certs().certs {
                        let _ = roots.add(cert);
                    }
                    Ok(Arc::new(
                        builder.with_root_certificates(roots).with_no_client_auth(),
                    ))
                })
                .clone()
        }

        /// One HTTP/1.1 request; the status and body of the answer.
        pub(crate) fn request(
            &self,
            method: &str,
            url: &str,
            headers: &[(&str, &str)],
            body: &[u8],
            connect_timeout: Duration,
        ) -> Result<(u16, Zeroizing<Vec<u8>>), String> {
            let target = Target::parse(url)?;
            let shown = format!("{method} \"{}\"", url.split('?').next().unwrap_or(url));
            let tcp = connect(&target, connect_timeout, self.io_timeout)
                .map_err(|e| format!("{shown}: {e}"))?;
            let mut req = Zeroizing::new(Vec::with_capacity(512 + body.len()));
            let _ = write!(
                req,
                "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sops-rs\r\n\
                 Content-Length: {}\r\nConnection: close\r\n",
                target.path,
                target.host_header,
                body.len()
            );
            for (k, v) in headers {
                if v.contains(['\r', '\n']) {
                    return Err(format!("invalid value for header {k}"));
                }
                let _ = write!(req, "{k}: {v}\r\n");
            }
            req.extend_from_slice(b"\r\n");
            req.extend_from_slice(body);
            let result = if target.tls {
                let name = ServerName::try_from(target.host.clone())
                    .map_err(|_| format!("invalid TLS server name {:?}", target.host))?;
                let conn = rustls::ClientConnection::new(self.tls_config()?, name)
                    .map_err(|e| format!("TLS setup failed: {e}"))?;
                let mut stream = rustls::StreamOwned::new(conn, tcp);
                stream
                    .write_all(&req)
                    .and_then(|_| stream.flush())
                    .map_err(io_message)
                    .and_then(|_| crate::keys::http::read_response(stream, io_message))
            } else {
                let mut stream = tcp;
                stream
                    .write_all(&req)
                    .map_err(io_message)
                    .and_then(|_| crate::keys::http::read_response(stream, io_message))
            };
            result.map_err(|e| format!("{shown}: {e}"))
        }
    }

    /// The access token of a token endpoint's (or the metadata server's) JSON answer.
    fn token_from_answer(url: &str, status: u16, body: &[u8]) -> Result<Zeroizing<String>, String> {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        if !(200..300).contains(&status) {
            let text = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or("");
            let mut msg = format!("oauth2: cannot fetch token from {url}: status {status}");
            if !text("error").is_empty() {
                msg.push_str(&format!(": {:?}", text("error")));
            }
            if !text("error_description").is_empty() {
                msg.push_str(&format!(" {:?}", text("error_description")));
            }
            return Err(msg);
        }
        match value.get("access_token").and_then(|v| v.as_str()) {
            Some(t) if !t.is_empty() => Ok(Zeroizing::new(t.to_string())),
            _ => Err(format!(
                "oauth2: server response from {url} missing access_token"
            )),
        }
    }

    /// A Google API error answer (`{"error": {"code", "message", "status"}}`), as the Go
    /// client prints it.
    pub(crate) fn api_error(status: u16, body: &[u8]) -> String {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let err = value.get("error");
        let message = err
            .and_then(|e| e.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| {
                let t = String::from_utf8_lossy(body);
                t.trim().chars().take(200).collect()
            });
        let code = err
            .and_then(|e| e.get("status"))
            .and_then(|m| m.as_str())
            .map(|s| format!(", {s}"))
            .unwrap_or_default();
        format!("googleapi: Error {status}: {message}{code}")
    }

    /// The credentials sops's client would use: `GOOGLE_CREDENTIALS`,
    /// `GOOGLE_OAUTH_ACCESS_TOKEN`, then the application default credentials.
    fn find_credentials() -> Result<Credentials, String> {
        if let Some(v) = env("GOOGLE_CREDENTIALS") {
            // A path when such a file exists, else the JSON itself.
            let json = if std::fs::metadata(&v).is_ok() {
                Zeroizing::new(std::fs::read(&v).map_err(|e| {
                    format!(
                        "failed to obtain credentials from \"GOOGLE_CREDENTIALS\": read {v}: {e}"
                    )
                })?)
            } else {
                Zeroizing::new(v.into_bytes())
            };
            return parse_credentials(&json, "GOOGLE_CREDENTIALS");
        }
        if let Some(t) = env("GOOGLE_OAUTH_ACCESS_TOKEN") {
            return Ok(Credentials::Static(Zeroizing::new(t)));
        }
        if let Some(path) = env("GOOGLE_APPLICATION_CREDENTIALS") {
            let json = std::fs::read(&path).map_err(|e| {
                format!("google: error getting credentials using GOOGLE_APPLICATION_CREDENTIALS environment variable: open {path}: {e}")
            })?;
            return parse_credentials(&Zeroizing::new(json), &path);
        }
        if let Some(path) = gcloud_adc_file() {
            if let Ok(json) = std::fs::read(&path) {
                return parse_credentials(&Zeroizing::new(json), &path.display().to_string());
            }
        }
        if let Some(host) = metadata_host() {
            return Ok(Credentials::Metadata { host });
        }
        Err("google: could not find default credentials. See \
             https://cloud.google.com/docs/authentication/external/set-up-adc for more information"
            .to_string())
    }

    /// gcloud's ADC file: `$CLOUDSDK_CONFIG/application_default_credentials.json`, else
    /// `~/.config/gcloud/...` (`%APPDATA%\gcloud\...` on Windows).
    fn gcloud_adc_file() -> Option<PathBuf> {
        const NAME: &str = "application_default_credentials.json";
        if let Some(dir) = env("CLOUDSDK_CONFIG") {
            return Some(PathBuf::from(dir).join(NAME));
        }
        if cfg!(windows) {
            return env("APPDATA").map(|d| PathBuf::from(d).join("gcloud").join(NAME));
        }
        env("HOME").map(|h| PathBuf::from(h).join(".config").join("gcloud").join(NAME))
    }

    /// The metadata server, when running on Google Cloud: `GCE_METADATA_HOST`, else
    /// `169.254.169.254` when the machine says it is a Google one, or when that address
    /// answers within a second with the `Metadata-Flavor: Google` header (Go's `OnGCE`).
    fn metadata_host() -> Option<String> {
        if let Some(h) = env("GCE_METADATA_HOST") {
            return Some(h);
        }
        let google = std::fs::read_to_string("/sys/class/dmi/id/product_name")
            .is_ok_and(|p| p.trim() == "Google" || p.trim() == "Google Compute Engine");
        if google || metadata_answers(([169, 254, 169, 254], 80).into(), Duration::from_secs(1)) {
            return Some("169.254.169.254".to_string());
        }
        None
    }

    /// Whether a metadata server answers at `addr`: a GET whose answer carries
    /// `Metadata-Flavor: Google`, all within `limit`.
    fn metadata_answers(addr: std::net::SocketAddr, limit: Duration) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, limit) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(limit));
        let _ = s.set_write_timeout(Some(limit));
        let req = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut head = Vec::new();
        let _ = s.take(8192).read_to_end(&mut head);
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let head = head.split("\r\n\r\n").next().unwrap_or("");
        head.lines()
            .any(|l| l.replace(' ', "") == "metadata-flavor:google")
    }

    /// A credentials JSON: `service_account` or `authorized_user`.
    fn parse_credentials(json: &[u8], source: &str) -> Result<Credentials, String> {
        let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| {
            format!("failed to obtain credentials from {source:?}: invalid JSON: {e}")
        })?;
        let text = |k: &str| {
            value
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let quota_project = Some(text("quota_project_id")).filter(|q| !q.is_empty());
        let token_uri = Some(text("token_uri"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
        match text("type").as_str() {
            "service_account" => {
                let pem = Zeroizing::new(text("private_key"));
                let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
                    format!("{source}: the service account's private_key is not a PEM private key")
                })?;
                let (der, pkcs8) = match &key {
                    PrivateKeyDer::Pkcs8(k) => (k.secret_pkcs8_der().to_vec(), true),
                    PrivateKeyDer::Pkcs1(k) => (k.secret_pkcs1_der().to_vec(), false),
                    _ => {
                        return Err(format!(
                            "{source}: the service account's private_key is not an RSA key"
                        ))
                    }
                };
                let email = text("client_email");
                if email.is_empty() {
                    return Err(format!("{source}: the service account has no client_email"));
                }
                Ok(Credentials::ServiceAccount {
                    email,
                    key_id: text("private_key_id"),
                    key: Zeroizing::new(der),
                    pkcs8,
                    token_uri,
                    quota_project,
                })
            }
            "authorized_user" => Ok(Credentials::AuthorizedUser {
                client_id: text("client_id"),
                client_secret: Zeroizing::new(text("client_secret")),
                refresh_token: Zeroizing::new(text("refresh_token")),
                token_uri,
                quota_project,
            }),
            "" => Err(format!("{source}: unknown credential type: \"\"")),
            other => Err(format!(
                "{source}: credentials of type {other:?} are not supported by this sops \
                 (service_account and authorized_user are)"
            )),
        }
    }

    /// An RS256 JWT asserting the service account, for the JWT-bearer grant (RFC 7523).
    fn signed_jwt(
        email: &str,
        key_id: &str,
        der: &[u8],
        pkcs8: bool,
        token_uri: &str,
    ) -> Result<String, String> {
        let bad = |e: ring::error::KeyRejected| {
            format!("the service account's private key cannot be used: {e}")
        };
        let pair = if pkcs8 {
            ring::signature::RsaKeyPair::from_pkcs8(der).map_err(bad)?
        } else {
            ring::signature::RsaKeyPair::from_der(der).map_err(bad)?
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
        if !key_id.is_empty() {
            header["kid"] = serde_json::Value::String(key_id.to_string());
        }
        let claims = serde_json::json!({
            "iss": email,
            "scope": SCOPE,
            "aud": token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut sig,
        )
        .map_err(|_| "signing the service account's JWT failed".to_string())?;
        Ok(format!("{signing_input}.{}", B64URL.encode(sig)))
    }

    /// `application/x-www-form-urlencoded` escaping (also fine for query values).
    fn form_escape(s: &str) -> String {
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

    fn connect(
        target: &Target,
        connect_timeout: Duration,
        io: Duration,
    ) -> Result<TcpStream, String> {
        let addrs: Vec<_> = (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|e| format!("dial tcp: lookup {}: {e}", target.host))?
            .collect();
        let mut last = format!("dial tcp: lookup {}: no addresses", target.host);
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
                format!("tls: {}", io_text(&e))
            }
            _ => io_text(&e),
        }
    }

    /// Where to connect: host, port, TLS or not, and the request target.
    struct Target {
        tls: bool,
        /// The host to resolve (IPv6 without brackets).
        host: String,
        /// The `Host` header.
        host_header: String,
        port: u16,
        /// Path and query.
        path: String,
    }

    impl Target {
        fn parse(url: &str) -> Result<Target, String> {
            let bad = |why: &str| format!("invalid URL {url:?}: {why}");
            let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
            let tls = match scheme.to_ascii_lowercase().as_str() {
                "https" => true,
                "http" => false,
                _ => return Err(bad("the scheme must be http or https")),
            };
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = &rest[..end];
            let mut path = rest[end..].split('#').next().unwrap_or("").to_string();
            if !path.starts_with('/') {
                path.insert(0, '/');
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
            let default = if tls { 443 } else { 80 };
            let port = match port {
                Some(p) if !p.is_empty() => p.parse().map_err(|_| bad("invalid port"))?,
                _ => default,
            };
            let bracketed = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            let host_header = if port == default {
                bracketed
            } else {
                format!("{bracketed}:{port}")
            };
            Ok(Target {
                tls,
                host,
                host_header,
                port,
                path,
            })
        }
    }

    /// Standard or URL-safe base64, padded or not (what protobuf's JSON mapping accepts).
    fn decode_bytes(s: &str) -> Option<Vec<u8>> {
        let std = s.replace('-', "+").replace('_', "/");
        let trimmed = std.trim_end_matches('=');
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .ok()
    }

    impl GcpKmsKey {
        /// Encrypts `secret` with this key; returns the `enc` value (standard base64 of the
        /// ciphertext).
        pub fn encrypt_with(&self, settings: &Settings, secret: &[u8]) -> Result<String, String> {
            self.check()?;
            let plaintext = Zeroizing::new(B64.encode(secret));
            let body = serde_json::json!({
                "name": self.resource_id,
                "plaintext": plaintext.as_str(),
            });
            let fail = |e: String| format!("failed to encrypt sops data key with GCP KMS key: {e}");
            let answer = settings.call(self, "encrypt", &body).map_err(|e| {
                if e.starts_with("cannot create GCP KMS service") {
                    e
                } else {
                    fail(e)
                }
            })?;
            let ciphertext = answer
                .get("ciphertext")
                .and_then(|c| c.as_str())
                .and_then(decode_bytes)
                .ok_or_else(|| fail("the answer has no valid ciphertext".into()))?;
            Ok(B64.encode(ciphertext))
        }

        /// Decrypts an `enc` value with this key.
        pub fn decrypt_with(
            &self,
            settings: &Settings,
            enc: &str,
        ) -> Result<Zeroizing<Vec<u8>>, String> {
            self.check()?;
            let ciphertext = B64
                .decode(enc)
                .map_err(|e| format!("the encrypted data key is not valid base64: {e}"))?;
            let body = serde_json::json!({
                "name": self.resource_id,
                "ciphertext": B64.encode(ciphertext),
            });
            let fail = |e: String| format!("failed to decrypt sops data key with GCP KMS key: {e}");
            let mut answer = settings.call(self, "decrypt", &body).map_err(|e| {
                if e.starts_with("cannot create GCP KMS service") {
                    e
                } else {
                    fail(e)
                }
            })?;
            // A field with its default value (empty bytes) may be left out.
            let plaintext = match answer.remove("plaintext") {
                Some(serde_json::Value::String(p)) => Zeroizing::new(p),
                None => Zeroizing::new(String::new()),
                Some(_) => return Err(fail("the answer's plaintext is not a string".into())),
            };
            decode_bytes(&plaintext)
                .map(Zeroizing::new)
                .ok_or_else(|| fail("the answer's plaintext is not valid base64".into()))
        }
    }

    impl Recipient for GcpKmsKey {
        fn wrap(&self, secret: &[u8]) -> Result<StoredKey, KeyError> {
            let enc = self
                .encrypt_with(&Settings::shared(), secret)
                .map_err(|reason| KeyError::Wrap {
                    key: self.describe(),
                    reason,
                })?;
            Ok(StoredKey::GcpKms {
                resource_id: self.resource_id.clone(),
                created_at: crate::timestamp::now_utc(),
                enc,
            })
        }

        fn describe(&self) -> String {
            format!("GCP KMS key {}", self.resource_id)
        }
    }

    /// Unwraps GCP KMS entries with the settings of the environment (or given ones).
    #[derive(Debug, Default)]
    pub struct GcpKmsUnwrapper {
        settings: Option<Arc<Settings>>,
    }

    impl GcpKmsUnwrapper {
        /// Uses the environment's settings, read when the first GCP KMS key is tried.
        pub fn from_env() -> GcpKmsUnwrapper {
            GcpKmsUnwrapper::default()
        }

        /// Uses these settings.
        pub fn with_settings(settings: Settings) -> GcpKmsUnwrapper {
            GcpKmsUnwrapper {
                settings: Some(Arc::new(settings)),
            }
        }
    }

    impl Unwrapper for GcpKmsUnwrapper {
        fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
            let StoredKey::GcpKms {
                resource_id, enc, ..
            } = key
            else {
                return None;
            };
            let settings = self.settings.clone().unwrap_or_else(Settings::shared);
            let k = GcpKmsKey {
                resource_id: resource_id.clone(),
            };
            Some(k.decrypt_with(&settings, enc).map_err(KeyError::Unwrap))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::net::TcpListener;
        use std::time::Instant;

        const ID: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k";

        /// A one-shot HTTP server: answers the first request with `response`, hands back what
        /// it received.
        fn serve_once(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
            use std::io::BufRead;
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
        fn encrypt_request_and_enc() {
            // `AQI-` is URL-safe base64; stored as standard base64.
            let (addr, server) = serve_once(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n\
                 {\"ciphertext\":\"_-8\"}",
            );
            let key = GcpKmsKey::new(ID);
            let settings = Settings::with_token(&addr, "ya29.tok");
            let enc = key.encrypt_with(&settings, &[1, 2, 3]).unwrap();
            assert_eq!(enc, "/+8=");
            let req = server.join().unwrap();
            assert!(
                req.starts_with(&format!(
                    "POST /v1/{ID}:encrypt?%24alt=json%3Benum-encoding%3Dint HTTP/1.1\r\n"
                )),
                "{req}"
            );
            assert!(
                req.contains("\r\nAuthorization: Bearer ya29.tok\r\n"),
                "{req}"
            );
            assert!(
                req.contains("\r\nx-goog-request-params: name=projects%2Fp%2Flocations"),
                "{req}"
            );
            assert!(
                req.ends_with(&format!("{{\"name\":\"{ID}\",\"plaintext\":\"AQID\"}}")),
                "{req}"
            );
        }

        #[test]
        fn decrypt_request_and_errors() {
            let (addr, server) = serve_once(
                "HTTP/1.1 200 OK\r\nContent-Length: 21\r\n\r\n{\"plaintext\":\"AQID\"}\n",
            );
            let key = GcpKmsKey::new(ID);
            let got = key
                .decrypt_with(&Settings::with_token(&addr, "t"), "/+8=")
                .unwrap();
            assert_eq!(&got[..], &[1, 2, 3]);
            let req = server.join().unwrap();
            assert!(
                req.ends_with(&format!("{{\"ciphertext\":\"/+8=\",\"name\":\"{ID}\"}}")),
                "{req}"
            );

            let (addr, _server) = serve_once(
                "HTTP/1.1 403 Forbidden\r\nContent-Length: 81\r\n\r\n\
                 {\"error\":{\"code\":403,\"message\":\"Permission denied\",\"status\":\"PERMISSION_DENIED\"}}",
            );
            let err = key
                .decrypt_with(&Settings::with_token(&addr, "secret-token"), "AQID")
                .unwrap_err();
            assert_eq!(
                err,
                "failed to decrypt sops data key with GCP KMS key: googleapi: Error 403: \
                 Permission denied, PERMISSION_DENIED"
            );
            assert!(!err.contains("secret-token"));
            let err = key
                .decrypt_with(&Settings::with_token(&addr, "t"), "not base64!")
                .unwrap_err();
            assert!(err.contains("not valid base64"), "{err}");
        }

        #[test]
        fn invalid_resource_ids_are_refused_before_any_call() {
            let key = GcpKmsKey::new("projects/p/keyRings/r");
            let err = key
                .encrypt_with(&Settings::with_token("http://127.0.0.1:1", "t"), b"x")
                .unwrap_err();
            assert_eq!(
                err,
                "cannot create GCP KMS service: no valid resource ID found in \"projects/p/keyRings/r\""
            );
        }

        #[test]
        fn unreachable_and_hanging_endpoints_fail_fast() {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            drop(listener);
            let key = GcpKmsKey::new(ID);
            let start = Instant::now();
            let err = key
                .decrypt_with(
                    &Settings::with_token(&format!("http://{addr}"), "t"),
                    "AQID",
                )
                .unwrap_err();
            assert!(err.contains("connection refused"), "{err}");
            assert!(start.elapsed() < Duration::from_secs(2));
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut settings = Settings::with_token(&format!("http://{addr}"), "t");
            settings.io_timeout = Duration::from_millis(300);
            let start = Instant::now();
            let err = key.decrypt_with(&settings, "AQID").unwrap_err();
            assert!(err.contains("i/o timeout"), "{err}");
            assert!(start.elapsed() < Duration::from_secs(3));
            drop(listener);
        }

        #[test]
        fn metadata_server_is_recognised_by_its_header() {
            let (addr, _server) = serve_once(
                "HTTP/1.1 200 OK\r\nMetadata-Flavor: Google\r\nContent-Length: 0\r\n\r\n",
            );
            let addr = addr.trim_start_matches("http://").parse().unwrap();
            assert!(metadata_answers(addr, Duration::from_secs(2)));
            // Something else answering at the address (a proxy, ...) is not a metadata server.
            let (addr, _server) = serve_once("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
            let addr = addr.trim_start_matches("http://").parse().unwrap();
            assert!(!metadata_answers(addr, Duration::from_secs(2)));
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            drop(listener);
            assert!(!metadata_answers(addr, Duration::from_secs(2)));
        }

        #[test]
        fn endpoints_and_credentials_parsing() {
            assert_eq!(endpoint_url("kms.example:8443"), "https://kms.example:8443");
            assert_eq!(endpoint_url("http://127.0.0.1:9/"), "http://127.0.0.1:9");
            let t = Target::parse("https://[::1]:8443/v1/x?y").unwrap();
            assert_eq!((t.host.as_str(), t.port, t.tls), ("::1", 8443, true));
            assert_eq!(
                (t.host_header.as_str(), t.path.as_str()),
                ("[::1]:8443", "/v1/x?y")
            );
            assert_eq!(form_escape("a b/c=d"), "a%20b%2Fc%3Dd");
            assert_eq!(decode_bytes("_-8").unwrap(), [255, 239]);
            let e = parse_credentials(br#"{"type":"external_account"}"#, "f.json")
                .err()
                .unwrap();
            assert!(e.contains("external_account"), "{e}");
            let e = parse_credentials(b"{", "f.json").err().unwrap();
            assert!(e.contains("invalid JSON"), "{e}");
            match parse_credentials(
                br#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}"#,
                "adc",
            ) {
                Ok(Credentials::AuthorizedUser { token_uri, .. }) => {
                    assert_eq!(token_uri, DEFAULT_TOKEN_URI)
                }
                _ => panic!("authorized_user not parsed"),
            }
            let s = format!("{:?}", Settings::with_token("http://x", "secret"));
            assert!(!s.contains("secret"), "{s}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_like_sops() {
        let k = GcpKmsKey::new(" projects/p/locations/global/keyRings/r/cryptoKeys/k ");
        assert_eq!(
            k.resource_id,
            "projects/p/locations/global/keyRings/r/cryptoKeys/k"
        );
        assert!(k.is_valid());
        for bad in [
            "projects/p/locations/global/keyRings/r/cryptoKeys/",
            "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
            "x/p/locations/global/keyRings/r/cryptoKeys/k",
            "",
        ] {
            assert!(!GcpKmsKey::new(bad).is_valid(), "{bad}");
        }
        let keys = GcpKmsKey::parse_list("a,, b ,");
        assert_eq!(
            keys.iter()
                .map(|k| k.resource_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
