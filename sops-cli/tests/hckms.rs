//! HuaweiCloud KMS keys (`hckms`, sops 3.12+) against our local fake
//! (testdata/servers/hckms_server.py: real AK/SK signature checks, real AES-GCM keys, HTTPS
//! with a throwaway CA): `--hckms`, `SOPS_HUAWEICLOUD_KMS_IDS`, credentials from the
//! environment (with a security token) or `~/.huaweicloud/credentials`, endpoints from
//! `HUAWEICLOUD_SDK_REGION_KMS_<REGION>` or a regions file, `.sops.yaml` rules and key groups
//! with age and Shamir, `rotate --add/--rm-hckms`, `updatekeys`, `groups add`, the failure
//! report, and falling back to the other keys when KMS cannot be reached.
//!
//! The reference sops 3.11 predates hckms: interop is the metadata layout sops 3.13.2 writes
//! (from its stores/ code and tests) and files with hckms and age entries that the reference
//! decrypts through age. A test drives the fake with Huawei's own Python SDK to prove it
//! speaks the real protocol.
//!
//! `scripts/test` starts the fake (scripts/hckms) and exports `SOPS_TEST_HCKMS_*`. These tests
//! fail (never skip) when it is not running.

#![cfg(feature = "hckms")]

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{our_sops, reference_sops, show, Dir, RECIPIENT};

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\nlist:\n    - 1\n    - two\n";
const REGION: &str = "tr-west-1";
const ENDPOINT_ENV: &str = "HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1";

/// The running fake and its test credentials.
struct Fake {
    endpoint: String,
    ca: String,
    ak: String,
    sk: String,
    project: String,
    temp_ak: String,
    temp_sk: String,
    token: String,
    key1: String,
    key2: String,
    python: String,
}

fn var(name: &str, help: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{help} ({name} is not set)"))
}

fn fake() -> Fake {
    let help = "the HuaweiCloud KMS fake is not running: run scripts/test, which starts it \
                (scripts/hckms) and exports SOPS_TEST_HCKMS_*";
    let f = Fake {
        endpoint: var("SOPS_TEST_HCKMS_ENDPOINT", help),
        ca: var("SOPS_TEST_HCKMS_CA", help),
        ak: var("SOPS_TEST_HCKMS_AK", help),
        sk: var("SOPS_TEST_HCKMS_SK", help),
        project: var("SOPS_TEST_HCKMS_PROJECT", help),
        temp_ak: var("SOPS_TEST_HCKMS_TEMP_AK", help),
        temp_sk: var("SOPS_TEST_HCKMS_TEMP_SK", help),
        token: var("SOPS_TEST_HCKMS_TOKEN", help),
        key1: var("SOPS_TEST_HCKMS_KEY1", help),
        key2: var("SOPS_TEST_HCKMS_KEY2", help),
        python: var("SOPS_TEST_HCKMS_PYTHON", help),
    };
    let hostport = f.endpoint.trim_start_matches("https://");
    let reachable = hostport
        .parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok());
    assert!(
        reachable.is_some(),
        "{help} (nothing answers at {})",
        f.endpoint
    );
    f
}

impl Fake {
    fn id(&self, key: &str) -> String {
        format!("{REGION}:{key}")
    }

    /// The environment of a working client: endpoint, CA, the long-term key pair.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (ENDPOINT_ENV, self.endpoint.clone()),
            ("SSL_CERT_FILE", self.ca.clone()),
            ("HUAWEICLOUD_SDK_AK", self.ak.clone()),
            ("HUAWEICLOUD_SDK_SK", self.sk.clone()),
            ("HUAWEICLOUD_SDK_PROJECT_ID", self.project.clone()),
        ]
    }
}

/// Runs with the fake's environment plus `extra` (later entries win), with or without age.
fn run(
    d: &Dir,
    bin: &Path,
    args: &[&str],
    env: &[(&'static str, String)],
    extra: &[(&str, &str)],
    age: bool,
) -> Output {
    let mut all: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, OsStr::new(v))).collect();
    all.extend(extra.iter().map(|(k, v)| (*k, OsStr::new(*v))));
    d.run_env(bin, args, "", &all, age)
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

/// The metadata block with `created_at`, `enc`, `lastmodified` and `mac` values blanked.
fn sops_shape(encrypted: &[u8]) -> String {
    let text = show(encrypted);
    let start = text.find("\nsops:\n").expect("a sops block");
    text[start + 1..]
        .lines()
        .map(|l| {
            let mut l = l.to_string();
            for b in ["created_at: ", "enc: ", "lastmodified: ", "mac: "] {
                if let Some(i) = l.find(b) {
                    l.truncate(i + b.len());
                    l.push('X');
                }
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn huaweis_python_sdk_round_trips_through_the_fake() {
    let f = fake();
    let script = common::testdata("servers/hckms_sdk_check.py");
    for (ak, sk, token) in [
        (&f.ak, &f.sk, None),
        (&f.temp_ak, &f.temp_sk, Some(&f.token)),
    ] {
        let mut cmd = Command::new(&f.python);
        cmd.arg(&script)
            .args([REGION, &f.key1, &f.ca, ak, sk, &f.project])
            .env(ENDPOINT_ENV, &f.endpoint);
        if let Some(t) = token {
            cmd.arg(t);
        }
        let out = cmd
            .output()
            .expect("could not run Python (run scripts/test)");
        assert!(
            out.status.success(),
            "Huawei's SDK against the fake:\n{}",
            show(&out.stderr)
        );
    }
    // A wrong secret key is refused by the signature check, for the SDK too.
    let out = Command::new(&f.python)
        .arg(&script)
        .args([REGION, &f.key1, &f.ca, &f.ak, "wrong", &f.project])
        .env(ENDPOINT_ENV, &f.endpoint)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        show(&out.stderr).contains("verify aksk signature fail"),
        "{}",
        show(&out.stderr)
    );
}

#[test]
fn encrypt_decrypt_metadata_layout_and_reference_interop() {
    let f = fake();
    let d = Dir::new();
    d.write("s.yaml", PLAIN);
    let env = f.env();
    let id = f.id(&f.key1);
    let enc = ok(
        run(
            &d,
            &our_sops(),
            &["encrypt", "--hckms", &id, "--age", RECIPIENT, "s.yaml"],
            &env,
            &[],
            true,
        ),
        "encrypt --hckms",
    );
    // The layout sops 3.13.2 writes: metadata keys sorted, the hckms fields sorted
    // (stores/stores.go's hckmskey; stores/metadata_test.go).
    let expected = format!(
        "sops:\n    age:\n        - enc: X\n          recipient: {RECIPIENT}\n    hckms:\n        \
         - created_at: X\n          enc: X\n          key_id: {id}\n    lastmodified: X\n    \
         mac: X\n    unencrypted_suffix: _unencrypted\n    version: 3.13.2"
    );
    let shape: String = sops_shape(&enc)
        .lines()
        .filter(|l| !l.starts_with("            "))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(shape, expected);
    d.write("s.enc.yaml", &enc);
    // Only HuaweiCloud KMS (no age key) opens it.
    let out = run(
        &d,
        &our_sops(),
        &["decrypt", "s.enc.yaml"],
        &env,
        &[],
        false,
    );
    assert_eq!(show(&ok(out, "decrypt with hckms")), PLAIN);
    // The reference 3.11 has no hckms, but opens the file through its age entry.
    let out = run(
        &d,
        &reference_sops(),
        &["--disable-version-check", "decrypt", "s.enc.yaml"],
        &[],
        &[],
        true,
    );
    assert_eq!(show(&ok(out, "reference decrypt via age")), PLAIN);
    // SOPS_HUAWEICLOUD_KMS_IDS does what --hckms does.
    let out = run(
        &d,
        &our_sops(),
        &["encrypt", "s.yaml"],
        &env,
        &[("SOPS_HUAWEICLOUD_KMS_IDS", &f.id(&f.key2))],
        false,
    );
    let enc2 = ok(out, "encrypt with SOPS_HUAWEICLOUD_KMS_IDS");
    assert!(show(&enc2).contains(&format!("key_id: {REGION}:{}", f.key2)));
    d.write("s2.enc.yaml", &enc2);
    let out = run(
        &d,
        &our_sops(),
        &["decrypt", "s2.enc.yaml"],
        &env,
        &[],
        false,
    );
    assert_eq!(show(&ok(out, "decrypt key2")), PLAIN);
    // A malformed key id is refused before anything is written.
    let out = run(
        &d,
        &our_sops(),
        &["encrypt", "--hckms", "no-colon", "s.yaml"],
        &env,
        &[],
        false,
    );
    assert!(!out.status.success());
    assert!(
        show(&out.stderr).contains("expected 'region:key-uuid'"),
        "{}",
        show(&out.stderr)
    );
}

#[test]
fn rules_and_key_groups_with_age_and_shamir() {
    let f = fake();
    let d = Dir::new();
    let (id1, id2) = (f.id(&f.key1), f.id(&f.key2));
    d.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: flat\\.yaml$\n    hckms: [{id1}]\n    age: {RECIPIENT}\n  \
             - path_regex: groups\\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      \
             - hckms:\n          - key_id: {id1}\n        age: [{RECIPIENT}]\n      \
             - hckms:\n          - key_id: {id2}\n"
        ),
    );
    let env = f.env();
    for name in ["flat.yaml", "groups.yaml"] {
        d.write(name, PLAIN);
        let enc = ok(
            run(&d, &our_sops(), &["encrypt", name], &env, &[], true),
            "encrypt by rule",
        );
        let text = show(&enc);
        assert!(text.contains(&format!("key_id: {id1}")), "{text}");
        if name == "groups.yaml" {
            assert!(text.contains("key_groups:") && text.contains("shamir_threshold: 2"));
            assert!(text.contains(&format!("key_id: {id2}")), "{text}");
        }
        d.write(name, &enc);
        // HuaweiCloud KMS alone (no age key) opens both: two groups meet the threshold.
        let out = run(&d, &our_sops(), &["decrypt", name], &env, &[], false);
        assert_eq!(show(&ok(out, "decrypt by rule")), PLAIN);
        // --decryption-order puts hckms first.
        let out = run(
            &d,
            &our_sops(),
            &["decrypt", "--decryption-order", "hckms,age", name],
            &env,
            &[],
            true,
        );
        assert_eq!(show(&ok(out, "decrypt hckms first")), PLAIN);
    }
    // The flat file opens with the reference through age.
    let out = run(
        &d,
        &reference_sops(),
        &["--disable-version-check", "decrypt", "flat.yaml"],
        &[],
        &[],
        true,
    );
    assert_eq!(
        show(&ok(out, "reference decrypt of the rule's file")),
        PLAIN
    );
}

#[test]
fn rotate_updatekeys_and_groups_add() {
    let f = fake();
    let d = Dir::new();
    let env = f.env();
    let (id1, id2) = (f.id(&f.key1), f.id(&f.key2));
    d.write("s.yaml", PLAIN);
    let enc = ok(
        run(
            &d,
            &our_sops(),
            &["encrypt", "--age", RECIPIENT, "s.yaml"],
            &env,
            &[],
            true,
        ),
        "encrypt age",
    );
    d.write("s.yaml", &enc);
    ok(
        run(
            &d,
            &our_sops(),
            &["rotate", "-i", "--add-hckms", &id1, "s.yaml"],
            &env,
            &[],
            true,
        ),
        "rotate --add-hckms",
    );
    assert!(show(&d.read("s.yaml")).contains(&format!("key_id: {id1}")));
    let out = run(&d, &our_sops(), &["decrypt", "s.yaml"], &env, &[], false);
    assert_eq!(show(&ok(out, "decrypt after --add-hckms")), PLAIN);
    ok(
        run(
            &d,
            &our_sops(),
            &["rotate", "-i", "--rm-hckms", &id1, "s.yaml"],
            &env,
            &[],
            true,
        ),
        "rotate --rm-hckms",
    );
    assert!(!show(&d.read("s.yaml")).contains("hckms"));
    // updatekeys adds the rule's key.
    d.write(
        ".sops.yaml",
        format!("creation_rules:\n  - hckms: [{id2}]\n    age: {RECIPIENT}\n"),
    );
    ok(
        run(
            &d,
            &our_sops(),
            &["updatekeys", "-y", "s.yaml"],
            &env,
            &[],
            true,
        ),
        "updatekeys",
    );
    assert!(show(&d.read("s.yaml")).contains(&format!("key_id: {id2}")));
    let out = run(&d, &our_sops(), &["decrypt", "s.yaml"], &env, &[], false);
    assert_eq!(show(&ok(out, "decrypt after updatekeys")), PLAIN);
    let out = run(
        &d,
        &reference_sops(),
        &["--disable-version-check", "decrypt", "s.yaml"],
        &[],
        &[],
        true,
    );
    assert_eq!(show(&ok(out, "reference decrypt after updatekeys")), PLAIN);
    // groups add: a second group holding a HuaweiCloud KMS key.
    ok(
        run(
            &d,
            &our_sops(),
            &[
                "groups",
                "add",
                "--file",
                "s.yaml",
                "--in-place",
                "--hckms",
                &id1,
            ],
            &env,
            &[],
            true,
        ),
        "groups add --hckms",
    );
    let text = show(&d.read("s.yaml"));
    assert!(text.contains("key_groups:"), "{text}");
    let out = run(&d, &our_sops(), &["decrypt", "s.yaml"], &env, &[], false);
    assert_eq!(show(&ok(out, "decrypt after groups add")), PLAIN);
}

#[test]
fn credentials_variants_and_endpoint_sources() {
    let f = fake();
    let d = Dir::new();
    let id = f.id(&f.key1);
    d.write("s.yaml", PLAIN);
    // Temporary credentials: the security token is sent and signed.
    let temp = vec![
        (ENDPOINT_ENV, f.endpoint.clone()),
        ("SSL_CERT_FILE", f.ca.clone()),
        ("HUAWEICLOUD_SDK_AK", f.temp_ak.clone()),
        ("HUAWEICLOUD_SDK_SK", f.temp_sk.clone()),
        ("HUAWEICLOUD_SDK_PROJECT_ID", f.project.clone()),
        ("HUAWEICLOUD_SDK_SECURITY_TOKEN", f.token.clone()),
    ];
    let enc = ok(
        run(
            &d,
            &our_sops(),
            &["encrypt", "--hckms", &id, "s.yaml"],
            &temp,
            &[],
            false,
        ),
        "encrypt with a security token",
    );
    d.write("s.enc.yaml", &enc);
    // The same key pair without its token is refused.
    let no_token: Vec<_> = temp[..5].to_vec();
    let out = run(
        &d,
        &our_sops(),
        &["decrypt", "s.enc.yaml"],
        &no_token,
        &[],
        false,
    );
    assert!(!out.status.success());
    assert!(
        flat(&out.stderr).contains("security token missing"),
        "{}",
        show(&out.stderr)
    );
    // Credentials from ~/.huaweicloud/credentials, the endpoint from a regions file.
    let home = d.path("");
    std::fs::create_dir_all(home.join(".huaweicloud")).unwrap();
    d.write(
        ".huaweicloud/credentials",
        format!(
            "[basic]\nak = {}\nsk = {}\nproject_id = {}\n",
            f.ak, f.sk, f.project
        ),
    );
    d.write(
        "regions.yaml",
        format!("KMS:\n  - id: {REGION}\n    endpoint: {}\n", f.endpoint),
    );
    let regions = d.path("regions.yaml");
    let files = vec![
        ("SSL_CERT_FILE", f.ca.clone()),
        (
            "HUAWEICLOUD_SDK_REGIONS_FILE",
            regions.to_string_lossy().into_owned(),
        ),
    ];
    let out = run(
        &d,
        &our_sops(),
        &["decrypt", "s.enc.yaml"],
        &files,
        &[],
        false,
    );
    assert_eq!(show(&ok(out, "decrypt with the credentials file")), PLAIN);
}

#[test]
fn failures_are_reported_per_key_and_other_keys_are_tried() {
    let f = fake();
    let d = Dir::new();
    let env = f.env();
    let id = f.id(&f.key1);
    d.write("s.yaml", PLAIN);
    let enc = ok(
        run(
            &d,
            &our_sops(),
            &["encrypt", "--hckms", &id, "--age", RECIPIENT, "s.yaml"],
            &env,
            &[],
            true,
        ),
        "encrypt",
    );
    d.write("s.enc.yaml", &enc);
    // A wrong secret key: the report names the key and the service's reason, never the key.
    let secret = "this-sk-is-wrong-and-secret";
    let out = run(
        &d,
        &our_sops(),
        &["decrypt", "s.enc.yaml"],
        &env,
        &[("HUAWEICLOUD_SDK_SK", secret)],
        false,
    );
    assert_eq!(out.status.code(), Some(128), "{}", show(&out.stderr));
    let text = flat(&out.stderr);
    assert!(text.contains(&format!("{id}: FAILED")), "{text}");
    assert!(text.contains("verify aksk signature fail"), "{text}");
    assert!(
        text.contains("failed to decrypt sops data key with HuaweiCloud KMS"),
        "{text}"
    );
    assert!(!text.contains(secret), "{text}");
    // No credentials at all.
    let out = run(
        &d,
        &our_sops(),
        &["decrypt", "s.enc.yaml"],
        &[(ENDPOINT_ENV, f.endpoint.clone())],
        &[],
        false,
    );
    assert!(!out.status.success());
    assert!(flat(&out.stderr).contains("failed to get HuaweiCloud credentials"));
    // An endpoint nothing listens on: KMS fails fast and age opens the file.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("https://127.0.0.1:{port}");
    let started = Instant::now();
    let out = run(
        &d,
        &our_sops(),
        &["decrypt", "--decryption-order", "hckms,age", "s.enc.yaml"],
        &env,
        &[(ENDPOINT_ENV, &down)],
        true,
    );
    assert_eq!(show(&ok(out, "decrypt falling back to age")), PLAIN);
    assert!(started.elapsed() < Duration::from_secs(8));
    // Without age, the report names the unreachable endpoint.
    let out = run(
        &d,
        &our_sops(),
        &["decrypt", "s.enc.yaml"],
        &env,
        &[(ENDPOINT_ENV, &down)],
        false,
    );
    let text = flat(&out.stderr);
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    // Encrypting to an unknown key fails, naming the key.
    let out = run(
        &d,
        &our_sops(),
        &[
            "encrypt",
            "--hckms",
            &format!("{REGION}:no-such-key"),
            "s.yaml",
        ],
        &env,
        &[],
        false,
    );
    assert!(!out.status.success());
    let text = flat(&out.stderr);
    assert!(
        text.contains("no-such-key") && text.contains("KMS.0205"),
        "{text}"
    );
}
