//! GCP KMS keys against the local Cloud KMS stand-in (testdata/servers/gcpkms.py, real AES-GCM
//! and RS256 checks, validated here with Google's own Python client): `--gcp-kms`,
//! `SOPS_GCP_KMS_IDS`, every credential source sops uses (`GOOGLE_CREDENTIALS` as a path and
//! as JSON, `GOOGLE_OAUTH_ACCESS_TOKEN`, `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's ADC file,
//! the metadata server), `SOPS_GCP_KMS_ENDPOINT` over HTTP and HTTPS, `.sops.yaml` rules and
//! key groups with age and Shamir, `rotate --add/--rm-gcp-kms`, `updatekeys`, `groups add`,
//! the metadata layout of sops 3.13.2, and failures (bad token, stopped server) that fall back
//! to the other keys quickly.
//!
//! The reference sops 3.11 has no endpoint override, so it cannot reach the stand-in; it is
//! used to check that a file we write with `gcp_kms` and age entries opens with the age key.
//!
//! `scripts/test` starts the server (scripts/gcpkms) and exports `SOPS_TEST_GCP_KMS_ENDPOINT`,
//! `SOPS_TEST_GCP_KMS_TLS_ENDPOINT`, `SOPS_TEST_GCP_KMS_DIR` and `SOPS_TEST_GCP_PYTHON`. These
//! tests fail (never skip) when it is not running.

#![cfg(feature = "gcp-kms")]

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{our_sops, reference_sops, repo, show, Dir, RECIPIENT};

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\nlist:\n    - 1\n    - two\n";
const FIRST: &str = "projects/sops-test/locations/global/keyRings/sops/cryptoKeys/first";
const SECOND: &str = "projects/sops-test/locations/global/keyRings/sops/cryptoKeys/second";

/// The running stand-in.
struct Gcp {
    endpoint: String,
    tls_endpoint: String,
    dir: PathBuf,
    python: PathBuf,
}

fn gcp() -> Gcp {
    let help = "the GCP KMS test server is not running: run scripts/test, which installs \
                cryptography and google-cloud-kms into .tools/venv, starts it (scripts/gcpkms) \
                and exports SOPS_TEST_GCP_KMS_ENDPOINT, SOPS_TEST_GCP_KMS_TLS_ENDPOINT, \
                SOPS_TEST_GCP_KMS_DIR and SOPS_TEST_GCP_PYTHON";
    let endpoint = std::env::var("SOPS_TEST_GCP_KMS_ENDPOINT").expect(help);
    let tls_endpoint = std::env::var("SOPS_TEST_GCP_KMS_TLS_ENDPOINT").expect(help);
    let dir = PathBuf::from(std::env::var("SOPS_TEST_GCP_KMS_DIR").expect(help));
    let python = PathBuf::from(std::env::var("SOPS_TEST_GCP_PYTHON").expect(help));
    let hostport = endpoint.trim_start_matches("http://");
    let reachable = hostport
        .parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok());
    assert!(
        reachable.is_some(),
        "{help} (nothing answers at {endpoint})"
    );
    Gcp {
        endpoint,
        tls_endpoint,
        dir,
        python,
    }
}

impl Gcp {
    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The environment of a service-account user: the endpoint and `GOOGLE_CREDENTIALS`.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SOPS_GCP_KMS_ENDPOINT", self.endpoint.clone()),
            ("GOOGLE_CREDENTIALS", self.file("sa.json")),
        ]
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

fn run_env(d: &Dir, bin: &Path, args: &[&str], envs: &[(&str, String)], age: bool) -> Output {
    let all: Vec<(&str, &OsStr)> = envs.iter().map(|(k, v)| (*k, OsStr::new(v))).collect();
    d.run_env(bin, args, "", &all, age)
}

/// Runs our sops with the age key and the service-account environment.
fn run(d: &Dir, g: &Gcp, args: &[&str]) -> Output {
    run_env(d, &our_sops(), args, &g.env(), true)
}

/// Runs our sops without the age key: only GCP KMS can open the file.
fn run_gcp_only(d: &Dir, args: &[&str], envs: &[(&str, String)]) -> Output {
    run_env(d, &our_sops(), args, envs, false)
}

/// The error text with the report's line wrapping and `|` margins removed.
fn flat(stderr: &[u8]) -> String {
    show(stderr)
        .split_whitespace()
        .filter(|w| *w != "|")
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `enc` values of the `gcp_kms` entries of a YAML file.
fn gcp_encs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("gcp_kms:") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        match t.strip_prefix("enc: ") {
            Some(enc) => out.push(enc.to_string()),
            None if t.starts_with("- created_at:") || t.starts_with("resource_id:") => {}
            None => inside = false,
        }
    }
    out
}

#[test]
fn the_server_speaks_cloud_kms_to_googles_own_client() {
    let g = gcp();
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let enc = ok(
        run(&d, &g, &["-e", "--gcp-kms", FIRST, "plain.yaml"]),
        "encrypt",
    );
    let encs = gcp_encs(&show(&enc));
    assert_eq!(encs.len(), 1, "{}", show(&enc));
    // google-cloud-kms (REST transport, service account) encrypts and decrypts through the
    // server, gets a token at its token_uri, and decrypts the data key our sops stored.
    let out = Command::new(&g.python)
        .arg(repo().join("testdata/servers/gcpkms_sdk_check.py"))
        .args([&g.endpoint, &g.file("sa.json"), FIRST, &encs[0]])
        .output()
        .expect("could not run the venv's python (run scripts/test)");
    let stdout = show(&ok(out, "google-cloud-kms against the test server"));
    assert!(stdout.contains("sdk roundtrip ok"), "{stdout}");
    assert!(stdout.contains("sdk token_uri exchange ok"), "{stdout}");
    assert!(stdout.contains("sops enc decrypted: 32 bytes"), "{stdout}");
}

#[test]
fn encrypt_and_decrypt_with_every_credential_source() {
    let g = gcp();
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    // --gcp-kms with age; the layout of sops 3.13.2 (sorted keys: stores/metadata_test.go).
    let enc = ok(
        run(
            &d,
            &g,
            &["-e", "--gcp-kms", FIRST, "--age", RECIPIENT, "plain.yaml"],
        ),
        "encrypt",
    );
    let text = show(&enc);
    let start = text.find("    gcp_kms:\n").expect(&text);
    let block: Vec<&str> = text[start..].lines().take(5).collect();
    assert_eq!(block[0], "    gcp_kms:");
    assert!(block[1].starts_with("        - created_at: \"20"), "{text}");
    assert!(block[2].starts_with("          enc: "), "{text}");
    assert_eq!(block[3], format!("          resource_id: {FIRST}"));
    assert!(block[4].starts_with("    lastmodified: "), "{text}");
    assert!(text.find("    age:\n").unwrap() < start, "{text}");
    d.write("enc.yaml", &enc);

    // The reference sops 3.11 opens our file with the age key (it skips gcp_kms entries it
    // cannot reach only because age comes first in its order).
    let out = d.run(&reference_sops(), &["-d", "enc.yaml"]);
    assert_eq!(show(&ok(out, "reference decrypt via age")), PLAIN);

    let sa_json = std::fs::read_to_string(g.dir.join("sa.json")).unwrap();
    let token = std::fs::read_to_string(g.dir.join("token")).unwrap();
    let adc = Dir::new();
    adc.write(
        "application_default_credentials.json",
        std::fs::read(g.dir.join("user.json")).unwrap(),
    );
    let metadata_host = g.endpoint.trim_start_matches("http://").to_string();
    let ep = ("SOPS_GCP_KMS_ENDPOINT", g.endpoint.clone());
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("GOOGLE_CREDENTIALS path", g.env()),
        (
            "GOOGLE_CREDENTIALS JSON",
            vec![ep.clone(), ("GOOGLE_CREDENTIALS", sa_json.clone())],
        ),
        (
            "GOOGLE_OAUTH_ACCESS_TOKEN",
            vec![ep.clone(), ("GOOGLE_OAUTH_ACCESS_TOKEN", token.clone())],
        ),
        (
            "GOOGLE_APPLICATION_CREDENTIALS (authorized user)",
            vec![
                ep.clone(),
                ("GOOGLE_APPLICATION_CREDENTIALS", g.file("user.json")),
            ],
        ),
        (
            "gcloud's ADC file",
            vec![
                ep.clone(),
                ("CLOUDSDK_CONFIG", adc.path("").display().to_string()),
            ],
        ),
        (
            "the metadata server",
            vec![ep.clone(), ("GCE_METADATA_HOST", metadata_host)],
        ),
        (
            "client type grpc (same API over REST)",
            vec![
                ep.clone(),
                ("GOOGLE_OAUTH_ACCESS_TOKEN", token.clone()),
                ("SOPS_GCP_KMS_CLIENT_TYPE", "grpc".into()),
            ],
        ),
        (
            "client type rest",
            vec![
                ep.clone(),
                ("GOOGLE_OAUTH_ACCESS_TOKEN", token.clone()),
                ("SOPS_GCP_KMS_CLIENT_TYPE", "rest".into()),
            ],
        ),
        (
            "HTTPS endpoint (host:port) trusting the test CA",
            vec![
                ("SOPS_GCP_KMS_ENDPOINT", g.tls_endpoint.clone()),
                ("SSL_CERT_FILE", g.file("ca.pem")),
                ("GOOGLE_CREDENTIALS", g.file("sa.json")),
            ],
        ),
    ];
    for (what, envs) in &cases {
        let out = run_gcp_only(&d, &["-d", "enc.yaml"], envs);
        assert_eq!(show(&ok(out, what)), PLAIN, "{what}");
    }

    // SOPS_GCP_KMS_IDS, JSON output, the second key.
    let mut envs = g.env();
    envs.push(("SOPS_GCP_KMS_IDS", format!("{FIRST}, {SECOND}")));
    let enc = ok(
        run_env(
            &d,
            &our_sops(),
            &["-e", "--output-type", "json", "plain.yaml"],
            &envs,
            false,
        ),
        "encrypt with SOPS_GCP_KMS_IDS",
    );
    let text = show(&enc);
    assert!(
        text.contains(&format!("\"resource_id\": \"{SECOND}\"")),
        "{text}"
    );
    d.write("enc.json", &enc);
    let out = run_gcp_only(&d, &["-d", "--output-type", "yaml", "enc.json"], &g.env());
    assert_eq!(show(&ok(out, "decrypt json")), PLAIN);
}

#[test]
fn rules_and_key_groups_with_age_and_shamir() {
    let g = gcp();
    let d = Dir::new();
    d.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n\
             \x20 - path_regex: flat\\.yaml$\n\
             \x20   gcp_kms: '{FIRST}'\n\
             \x20   age: {RECIPIENT}\n\
             \x20 - path_regex: groups\\.yaml$\n\
             \x20   shamir_threshold: 2\n\
             \x20   key_groups:\n\
             \x20     - gcp_kms:\n\
             \x20         - resource_id: {FIRST}\n\
             \x20     - age:\n\
             \x20         - {RECIPIENT}\n\
             \x20     - gcp_kms:\n\
             \x20         - resource_id: {SECOND}\n"
        ),
    );
    for name in ["flat.yaml", "groups.yaml"] {
        d.write(name, PLAIN);
        let enc = ok(run(&d, &g, &["-e", name]), "encrypt by rule");
        let text = show(&enc);
        if name == "groups.yaml" {
            assert!(text.contains("shamir_threshold: 2"), "{text}");
            assert_eq!(text.matches("resource_id: ").count(), 2, "{text}");
        }
        d.write("out.yaml", &enc);
        // GCP KMS alone (no age key) opens it: two GCP groups meet the threshold.
        let out = run_gcp_only(&d, &["-d", "out.yaml"], &g.env());
        assert_eq!(show(&ok(out, "decrypt by GCP KMS")), PLAIN);
        // And age alone with the reference, for the flat rule (one group).
        if name == "flat.yaml" {
            let out = d.run(&reference_sops(), &["-d", "out.yaml"]);
            assert_eq!(show(&ok(out, "reference decrypt via age")), PLAIN);
        }
    }
}

#[test]
fn rotate_updatekeys_and_groups_add() {
    let g = gcp();
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let enc = ok(
        run(&d, &g, &["-e", "--age", RECIPIENT, "plain.yaml"]),
        "encrypt",
    );
    d.write("s.yaml", &enc);
    ok(
        run(&d, &g, &["rotate", "-i", "--add-gcp-kms", FIRST, "s.yaml"]),
        "rotate --add-gcp-kms",
    );
    assert!(show(&d.read("s.yaml")).contains(FIRST));
    let out = run_gcp_only(&d, &["-d", "s.yaml"], &g.env());
    assert_eq!(show(&ok(out, "decrypt with GCP KMS only")), PLAIN);
    ok(
        run(&d, &g, &["rotate", "-i", "--rm-gcp-kms", FIRST, "s.yaml"]),
        "rotate --rm-gcp-kms",
    );
    assert!(!show(&d.read("s.yaml")).contains("gcp_kms"));

    // updatekeys adds the rule's GCP key.
    d.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: s\\.yaml$\n    age: {RECIPIENT}\n    gcp_kms: {FIRST}\n"
        ),
    );
    ok(run(&d, &g, &["updatekeys", "-y", "s.yaml"]), "updatekeys");
    assert!(show(&d.read("s.yaml")).contains(FIRST));
    let out = run_gcp_only(&d, &["-d", "s.yaml"], &g.env());
    assert_eq!(show(&ok(out, "decrypt after updatekeys")), PLAIN);

    // groups add: a second group with a GCP key.
    std::fs::remove_file(d.path(".sops.yaml")).unwrap();
    ok(
        run(
            &d,
            &g,
            &[
                "groups",
                "add",
                "--file",
                "s.yaml",
                "--in-place",
                "--gcp-kms",
                SECOND,
            ],
        ),
        "groups add",
    );
    let text = show(&d.read("s.yaml"));
    assert!(text.contains("key_groups:"), "{text}");
    assert!(text.contains(SECOND), "{text}");
    let out = run_gcp_only(&d, &["-d", "s.yaml"], &g.env());
    assert_eq!(show(&ok(out, "decrypt after groups add")), PLAIN);
}

#[test]
fn failures_are_reported_and_fall_back_quickly() {
    let g = gcp();
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let enc = ok(
        run(
            &d,
            &g,
            &["-e", "--gcp-kms", FIRST, "--age", RECIPIENT, "plain.yaml"],
        ),
        "encrypt",
    );
    d.write("enc.yaml", &enc);

    // A wrong token: the report names the key and the cause, not the token.
    let envs = vec![
        ("SOPS_GCP_KMS_ENDPOINT", g.endpoint.clone()),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.not-a-real-token".into()),
    ];
    let out = run_gcp_only(&d, &["-d", "enc.yaml"], &envs);
    assert_eq!(out.status.code(), Some(128), "{}", show(&out.stderr));
    let err = flat(&out.stderr);
    assert!(err.contains(&format!("{FIRST}: FAILED")), "{err}");
    assert!(
        err.contains("failed to decrypt sops data key with GCP KMS key: googleapi: Error 401"),
        "{err}"
    );
    assert!(!err.contains("not-a-real-token"), "{err}");

    // A stopped server: fails at once and age opens the file.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let envs = vec![
        ("SOPS_GCP_KMS_ENDPOINT", format!("http://{addr}")),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", "t".into()),
    ];
    let start = Instant::now();
    let out = run_env(
        &d,
        &our_sops(),
        &["-d", "--decryption-order", "gcp_kms,age", "enc.yaml"],
        &envs,
        true,
    );
    assert_eq!(show(&ok(out, "fallback to age")), PLAIN);
    assert!(start.elapsed() < Duration::from_secs(5));
    let start = Instant::now();
    let out = run_gcp_only(&d, &["-d", "enc.yaml"], &envs);
    assert_eq!(out.status.code(), Some(128));
    assert!(
        flat(&out.stderr).contains("connection refused"),
        "{}",
        show(&out.stderr)
    );
    assert!(start.elapsed() < Duration::from_secs(5));

    // No credentials at all: a bounded look for the metadata server, then sops's message.
    let start = Instant::now();
    let envs = vec![("SOPS_GCP_KMS_ENDPOINT", g.endpoint.clone())];
    let out = run_gcp_only(&d, &["-d", "enc.yaml"], &envs);
    assert_eq!(out.status.code(), Some(128));
    assert!(
        flat(&out.stderr).contains("could not find default credentials"),
        "{}",
        show(&out.stderr)
    );
    assert!(start.elapsed() < Duration::from_secs(5));

    // Encrypting with an invalid resource id or an unknown key fails naming it.
    let out = run(
        &d,
        &g,
        &["-e", "--gcp-kms", "projects/p/keyRings/r", "plain.yaml"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out.stderr));
    assert!(
        show(&out.stderr).contains("no valid resource ID found in \"projects/p/keyRings/r\""),
        "{}",
        show(&out.stderr)
    );
    let unknown = "projects/sops-test/locations/global/keyRings/sops/cryptoKeys/nope";
    let out = run(&d, &g, &["-e", "--gcp-kms", unknown, "plain.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    let err = show(&out.stderr);
    assert!(err.contains(unknown) && err.contains("404"), "{err}");
}
