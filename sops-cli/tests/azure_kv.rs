//! Azure Key Vault keys against the local fake (testdata/servers/azure_kv.py: HTTPS with a
//! throwaway CA, real RSA-2048 keys, RSA-OAEP-256, challenge authentication and token
//! endpoints), in both directions with the reference sops 3.11: `--azure-kv`,
//! `SOPS_AZURE_KEYVAULT_URLS`, a URL without version (looked up), `.sops.yaml` rules and key
//! groups with Shamir, `rotate --add/--rm-azure-kv`, `updatekeys`, `groups add`, the
//! credential variants (client secret, client certificate, workload identity, managed
//! identity, `AZURE_TOKEN_CREDENTIALS`), the failure report, and falling back to the other
//! keys quickly when the vault is down or hangs. One test drives the fake with Microsoft's own
//! Python SDK, to show it speaks the real protocol.
//!
//! `scripts/test` starts the fake (scripts/azure-kv) and exports `SOPS_TEST_AZURE_KV` (its
//! JSON description) and `SOPS_TEST_AZURE_PYTHON`. These tests fail (never skip) when it is not
//! running.

#![cfg(feature = "azure-kv")]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{our_sops, reference_sops, show, Dir, RECIPIENT};

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\nlist:\n    - 1\n    - two\n";

/// The running fake, as its `server.json` describes it.
struct Fake {
    info: serde_json::Value,
    python: String,
}

fn fake() -> Fake {
    let help = "the Azure Key Vault fake is not running: run scripts/test, which starts it \
                (scripts/azure-kv) and exports SOPS_TEST_AZURE_KV and SOPS_TEST_AZURE_PYTHON";
    let path = std::env::var("SOPS_TEST_AZURE_KV").expect(help);
    let python = std::env::var("SOPS_TEST_AZURE_PYTHON").expect(help);
    let text = std::fs::read_to_string(&path).expect(help);
    let info: serde_json::Value = serde_json::from_str(&text).unwrap();
    let f = Fake { info, python };
    let hostport = f.vault().trim_start_matches("https://").to_string();
    let reachable = hostport
        .parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok());
    assert!(
        reachable.is_some(),
        "{help} (nothing answers at {hostport})"
    );
    f
}

impl Fake {
    fn get(&self, k: &str) -> String {
        self.info[k].as_str().unwrap().to_string()
    }
    fn vault(&self) -> String {
        self.get("vault")
    }
    /// The URL of the first key with its version.
    fn key_url(&self) -> String {
        format!("{}/keys/sops-key/{}", self.vault(), self.get("key_version"))
    }
    /// The common environment: trust the test CA, log in at the fake.
    fn base_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SSL_CERT_FILE", self.get("ca")),
            ("AZURE_AUTHORITY_HOST", self.get("authority")),
            ("AZURE_TENANT_ID", "adfs".into()),
        ]
    }
    /// Client secret credentials (what the reference needs too).
    fn secret_env(&self) -> Vec<(&'static str, String)> {
        let mut e = self.base_env();
        e.push(("AZURE_CLIENT_ID", self.get("client_id")));
        e.push(("AZURE_CLIENT_SECRET", self.get("client_secret")));
        e.push(("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential".into()));
        e
    }
}

/// Runs `bin` in `d` with exactly these Azure variables (the test process's are removed),
/// with or without the test age key.
fn run(d: &Dir, bin: &Path, args: &[&str], envs: &[(&'static str, String)], age: bool) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(d.path(""))
        .env("HOME", d.path(""))
        .env("XDG_CONFIG_HOME", d.path(".config"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("AZURE_")
            || k.starts_with("SOPS_")
            || k.starts_with("IDENTITY_")
            || k == "SSL_CERT_FILE"
            || k == "GNUPGHOME"
        {
            cmd.env_remove(k);
        }
    }
    if age {
        cmd.env("SOPS_AGE_KEY_FILE", common::testdata("age-key.txt"));
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::null()).output().unwrap()
}

fn ok(out: Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}",
        out.status.code(),
        show(&out.stderr)
    );
    out.stdout
}

/// The error text with the report's line wrapping and `|` margins removed.
fn flat(stderr: &[u8]) -> String {
    show(stderr)
        .split_whitespace()
        .filter(|w| *w != "|")
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `azure_kv` entries' lines, with `created_at` and `enc` blanked.
fn azure_shape(encrypted: &[u8]) -> String {
    let text = show(encrypted);
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim_start().starts_with("azure_kv:") {
            inside = true;
        } else if inside && !line.starts_with("        ") {
            inside = false;
        }
        if inside {
            let t = line.trim_end();
            if t.contains("created_at:") || t.contains("enc:") {
                out.push(t.split(':').next().unwrap().to_string() + ": X");
            } else {
                out.push(t.to_string());
            }
        }
    }
    out.join("\n")
}

/// The fake speaks Key Vault's protocol: Microsoft's Python SDK (azure-identity,
/// azure-keyvault-keys) logs in, creates a key, and encrypts and decrypts through it.
#[test]
fn microsofts_python_sdk_works_against_the_fake() {
    let f = fake();
    let script = r#"
import json, os, sys
from azure.identity import ClientSecretCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm
info = json.load(open(os.environ["SOPS_TEST_AZURE_KV"]))
cred = ClientSecretCredential("adfs", info["client_id"], info["client_secret"],
                              authority=info["authority"], disable_instance_discovery=True)
keys = KeyClient(info["vault"], cred)
key = keys.create_rsa_key("sdk-key", size=2048)
latest = keys.get_key("sops-key")
assert latest.id.endswith("/keys/sops-key/" + info["key_version"]), latest.id
crypto = CryptographyClient(key, cred)
enc = crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"0123456789abcdef0123456789abcdef")
assert len(enc.ciphertext) == 256
dec = crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, enc.ciphertext)
assert dec.plaintext == b"0123456789abcdef0123456789abcdef"
print("sdk ok")
"#;
    let out = Command::new(&f.python)
        .args(["-c", script])
        .env("REQUESTS_CA_BUNDLE", f.get("ca"))
        .env("SSL_CERT_FILE", f.get("ca"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && show(&out.stdout).contains("sdk ok"),
        "the Python SDK failed against the fake:\n{}\n{}",
        show(&out.stdout),
        show(&out.stderr)
    );
}

/// We encrypt, the reference decrypts; the reference encrypts (URL without version, from
/// `SOPS_AZURE_KEYVAULT_URLS`), we decrypt; the entry is laid out as sops 3.13 writes it
/// (keys sorted, PR 2120), `enc` base64url without padding.
#[test]
fn both_directions_with_the_reference() {
    let f = fake();
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let env = f.secret_env();
    let url = f.key_url();
    let ours = ok(
        run(
            &d,
            &our_sops(),
            &["-e", "--azure-kv", &url, "plain.yaml"],
            &env,
            false,
        ),
        "our encrypt",
    );
    assert_eq!(
        azure_shape(&ours),
        format!(
            "    azure_kv:\n        - created_at: X\n        - enc: X\n          name: sops-key\n          vault_url: {}\n          version: {}",
            f.vault(),
            f.get("key_version")
        )
        .replace("        - enc: X", "          enc: X")
    );
    let enc_line = show(&ours)
        .lines()
        .find(|l| l.trim_start().starts_with("enc:") && !l.contains("ENC["))
        .unwrap()
        .to_string();
    let enc = enc_line.trim().trim_start_matches("enc: ");
    assert_eq!(
        enc.len(),
        342,
        "256 bytes, base64url without padding: {enc}"
    );
    assert!(!enc.contains(['=', '+', '/']), "{enc}");
    d.write("ours.yaml", &ours);
    let plain = ok(
        run(&d, &reference_sops(), &["-d", "ours.yaml"], &env, false),
        "reference decrypt",
    );
    assert_eq!(show(&plain), PLAIN);

    let mut env_urls = env.clone();
    env_urls.push((
        "SOPS_AZURE_KEYVAULT_URLS",
        format!("{}/keys/sops-key", f.vault()),
    ));
    let theirs = ok(
        run(
            &d,
            &reference_sops(),
            &["-e", "plain.yaml"],
            &env_urls,
            false,
        ),
        "reference encrypt",
    );
    assert!(show(&theirs).contains(&format!("version: {}", f.get("key_version"))));
    d.write("theirs.yaml", &theirs);
    let plain = ok(
        run(&d, &our_sops(), &["-d", "theirs.yaml"], &env, false),
        "our decrypt",
    );
    assert_eq!(show(&plain), PLAIN);

    // Our binary looks the version up too, from the variable.
    let ours = ok(
        run(&d, &our_sops(), &["-e", "plain.yaml"], &env_urls, false),
        "our encrypt without version",
    );
    assert!(show(&ours).contains(&format!("version: {}", f.get("key_version"))));
}

/// A creation rule, key groups with Shamir, rotate --add/--rm-azure-kv, updatekeys and
/// groups add; the reference opens every result.
#[test]
fn rules_groups_rotate_updatekeys() {
    let f = fake();
    let d = Dir::new();
    let env = f.secret_env();
    let url = f.key_url();
    d.write("s.yaml", PLAIN);
    d.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: s\\.yaml$\n    azure_keyvault: '{url}'\n    age: {RECIPIENT}\n  - path_regex: g\\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - azure_keyvault:\n          - vaultUrl: {}\n            key: sops-key\n            version: ''\n      - age:\n          - {RECIPIENT}\n  - path_regex: a\\.yaml$\n    age: {RECIPIENT}\n",
            f.vault()
        ),
    );
    ok(
        run(&d, &our_sops(), &["-e", "-i", "s.yaml"], &env, false),
        "encrypt by rule",
    );
    // Opens with Azure alone (no age key).
    let plain = ok(
        run(&d, &our_sops(), &["-d", "s.yaml"], &env, false),
        "decrypt",
    );
    assert_eq!(show(&plain), PLAIN);

    // Two groups, threshold 2: both the vault and age are needed.
    d.write("g.yaml", PLAIN);
    ok(
        run(&d, &our_sops(), &["-e", "-i", "g.yaml"], &env, false),
        "encrypt groups",
    );
    let g = show(&d.read("g.yaml"));
    assert!(g.contains("shamir_threshold: 2"), "{g}");
    assert!(
        g.contains(&format!("version: {}", f.get("key_version"))),
        "{g}"
    );
    let plain = ok(
        run(&d, &reference_sops(), &["-d", "g.yaml"], &env, true),
        "reference decrypt groups",
    );
    assert_eq!(show(&plain), PLAIN);
    let out = run(&d, &our_sops(), &["-d", "g.yaml"], &env, false);
    assert!(!out.status.success(), "needs the age share too");

    // rotate --add-azure-kv / --rm-azure-kv.
    let second = format!("{}/keys/second-key", f.vault());
    ok(
        run(
            &d,
            &our_sops(),
            &["rotate", "-i", "--add-azure-kv", &second, "s.yaml"],
            &env,
            true,
        ),
        "rotate --add-azure-kv",
    );
    let s = show(&d.read("s.yaml"));
    assert!(s.contains("name: second-key"), "{s}");
    let plain = ok(
        run(&d, &reference_sops(), &["-d", "s.yaml"], &env, false),
        "reference decrypt",
    );
    assert_eq!(show(&plain), PLAIN);
    ok(
        run(
            &d,
            &our_sops(),
            &["rotate", "-i", "--rm-azure-kv", &url, "s.yaml"],
            &env,
            true,
        ),
        "rotate --rm-azure-kv",
    );
    let s = show(&d.read("s.yaml"));
    assert!(!s.contains("name: sops-key"), "{s}");
    assert!(s.contains("name: second-key"), "{s}");

    // updatekeys puts the rule's key back.
    ok(
        run(&d, &our_sops(), &["updatekeys", "-y", "s.yaml"], &env, true),
        "updatekeys",
    );
    let s = show(&d.read("s.yaml"));
    assert!(
        s.contains("name: sops-key") && !s.contains("name: second-key"),
        "{s}"
    );
    let plain = ok(
        run(&d, &reference_sops(), &["-d", "s.yaml"], &env, false),
        "reference decrypt",
    );
    assert_eq!(show(&plain), PLAIN);

    // groups add --azure-kv.
    d.write("a.yaml", PLAIN);
    ok(
        run(
            &d,
            &our_sops(),
            &["-e", "-i", "--age", RECIPIENT, "a.yaml"],
            &env,
            true,
        ),
        "encrypt age",
    );
    ok(
        run(
            &d,
            &our_sops(),
            &["groups", "add", "-i", "-f", "a.yaml", "--azure-kv", &url],
            &env,
            true,
        ),
        "groups add",
    );
    let plain = ok(
        run(&d, &reference_sops(), &["-d", "a.yaml"], &env, true),
        "reference decrypt",
    );
    assert_eq!(show(&plain), PLAIN);
}

/// Client certificate, workload identity and managed identity (App Service), each alone
/// and through the default chain; AZURE_TOKEN_CREDENTIALS narrows the chain.
#[test]
fn credential_variants() {
    let f = fake();
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let url = f.key_url();
    let enc = ok(
        run(
            &d,
            &our_sops(),
            &["-e", "--azure-kv", &url, "plain.yaml"],
            &f.secret_env(),
            false,
        ),
        "encrypt",
    );
    d.write("enc.yaml", &enc);
    let decrypt = |env: Vec<(&'static str, String)>, what: &str| {
        let plain = ok(run(&d, &our_sops(), &["-d", "enc.yaml"], &env, false), what);
        assert_eq!(show(&plain), PLAIN, "{what}");
    };
    let mut cert = f.base_env();
    cert.push(("AZURE_CLIENT_ID", f.get("cert_client_id")));
    cert.push(("AZURE_CLIENT_CERTIFICATE_PATH", f.get("client_cert")));
    decrypt(cert.clone(), "client certificate");
    // The reference logs in with the same certificate.
    let mut cert_ref = cert.clone();
    cert_ref.push(("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential".into()));
    let plain = ok(
        run(&d, &reference_sops(), &["-d", "enc.yaml"], &cert_ref, false),
        "reference, certificate",
    );
    assert_eq!(show(&plain), PLAIN);

    let mut workload = f.base_env();
    workload.push(("AZURE_CLIENT_ID", f.get("workload_client_id")));
    workload.push(("AZURE_FEDERATED_TOKEN_FILE", f.get("federated_token_file")));
    decrypt(workload.clone(), "workload identity");
    workload.push((
        "AZURE_TOKEN_CREDENTIALS",
        "WorkloadIdentityCredential".into(),
    ));
    decrypt(workload, "workload identity alone");

    let mut managed = f.base_env();
    managed.push(("IDENTITY_ENDPOINT", f.get("identity_endpoint")));
    managed.push(("IDENTITY_HEADER", f.get("identity_header")));
    decrypt(managed.clone(), "managed identity in the chain");
    managed.push((
        "AZURE_TOKEN_CREDENTIALS",
        "ManagedIdentityCredential".into(),
    ));
    decrypt(managed, "managed identity alone");

    // `dev` leaves only the CLIs, which are not installed here: the report says so.
    let mut dev = f.secret_env();
    dev.retain(|(k, _)| *k != "AZURE_TOKEN_CREDENTIALS");
    dev.push(("AZURE_TOKEN_CREDENTIALS", "dev".into()));
    dev.push(("PATH", "/nonexistent".into()));
    let out = run(&d, &our_sops(), &["-d", "enc.yaml"], &dev, false);
    assert_eq!(out.status.code(), Some(128), "{}", show(&out.stderr));
    let err = show(&out.stderr);
    assert!(err.contains("AzureCLICredential"), "{err}");

    let mut bad = f.secret_env();
    bad.retain(|(k, _)| *k != "AZURE_TOKEN_CREDENTIALS");
    bad.push(("AZURE_TOKEN_CREDENTIALS", "nope".into()));
    let out = run(&d, &our_sops(), &["-d", "enc.yaml"], &bad, false);
    assert!(
        flat(&out.stderr).contains("invalid AZURE_TOKEN_CREDENTIALS value \"nope\""),
        "{}",
        show(&out.stderr)
    );
}

/// A wrong secret: the report names the key and the login failure, never the secret; exit
/// code 128 as sops.
#[test]
fn failure_report_names_the_key_not_the_secret() {
    let f = fake();
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let url = f.key_url();
    let enc = ok(
        run(
            &d,
            &our_sops(),
            &["-e", "--azure-kv", &url, "plain.yaml"],
            &f.secret_env(),
            false,
        ),
        "encrypt",
    );
    d.write("enc.yaml", &enc);
    let mut env = f.secret_env();
    env.retain(|(k, _)| *k != "AZURE_CLIENT_SECRET");
    env.push(("AZURE_CLIENT_SECRET", "wrong-secret-value".into()));
    let out = run(&d, &our_sops(), &["-d", "enc.yaml"], &env, false);
    assert_eq!(out.status.code(), Some(128));
    let err = show(&out.stderr);
    assert!(err.contains(&format!("{url}: FAILED")), "{err}");
    assert!(err.contains("invalid_client"), "{err}");
    assert!(
        !err.contains("wrong-secret-value") && !err.contains(&f.get("client_secret")),
        "{err}"
    );
    // Encrypting names the key too.
    let out = run(
        &d,
        &our_sops(),
        &["-e", "--azure-kv", &url, "plain.yaml"],
        &env,
        false,
    );
    assert!(!out.status.success());
    let err = show(&out.stderr);
    assert!(
        err.contains(&format!("Azure Key Vault key '{url}'")),
        "{err}"
    );
}

/// A stopped vault and a vault that never answers: the age key of the file is tried next,
/// within a few seconds.
#[test]
fn dead_or_hanging_vault_falls_back_quickly() {
    let f = fake();
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let env = f.secret_env();
    let url = f.key_url();
    let enc = show(&ok(
        run(
            &d,
            &our_sops(),
            &["-e", "--azure-kv", &url, "--age", RECIPIENT, "plain.yaml"],
            &env,
            false,
        ),
        "encrypt",
    ));
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    // Accepts connections (the kernel does) but never answers.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_addr = hanging.local_addr().unwrap();
    for addr in [dead_addr, hanging_addr] {
        let moved = enc.replace(
            &format!("vault_url: {}", f.vault()),
            &format!("vault_url: https://{addr}"),
        );
        d.write("moved.yaml", &moved);
        let start = Instant::now();
        let plain = ok(
            run(
                &d,
                &our_sops(),
                &["-d", "--decryption-order", "azure_kv,age", "moved.yaml"],
                &env,
                true,
            ),
            "decrypt with the vault gone",
        );
        assert_eq!(show(&plain), PLAIN);
        assert!(
            start.elapsed() < Duration::from_secs(9),
            "{addr}: {:?}",
            start.elapsed()
        );
    }
    drop(hanging);
}
