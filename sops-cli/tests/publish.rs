//! `sops publish` against real servers: S3 (moto), GCS (fake-gcs-server) and Vault KV
//! (OpenBao). scripts/test starts them (scripts/moto, scripts/fake-gcs, scripts/openbao) and
//! exports where they are; a missing server fails these tests, it never skips them. Uploaded
//! objects are read back with each server's own API and decrypted with both our binary and
//! the reference sops; where sops 3.11 publishes to the same servers (it does: publish is
//! unchanged from 3.11 to 3.13.2), both binaries publish and the results are compared.

mod common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{our_sops, reference_sops, Dir, RECIPIENT};

/// A second age key (made for these tests): the destination's recipient when re-encrypting.
const DEST_KEY: &str = "AGE-SECRET-KEY-1Q2WLAPXWP7Y0DR39D6F3USY3K603JRNQK9Z3UPZJH8W8WP6C0TNSXANL26";

const PLAIN: &str = "a: 1\nb:\n    - x\n    - c: d\nnest:\n    k: v\n# comment\n";

/// Where the servers are.
struct Servers {
    python: PathBuf,
    s3: String,
    gcs: String,
    vault: String,
    token: String,
}

fn servers() -> Servers {
    let help = "the publish tests need moto, fake-gcs-server and OpenBao: run them through \
                scripts/test (or source scripts/setup-tools, scripts/moto, scripts/openbao and \
                scripts/fake-gcs first)";
    let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} is not set: {help}"));
    let s = Servers {
        python: PathBuf::from(var("SOPS_TEST_PYTHON")),
        s3: var("SOPS_TEST_MOTO_URL"),
        gcs: var("SOPS_TEST_GCS_URL"),
        vault: var("SOPS_TEST_VAULT_ADDR"),
        token: var("SOPS_TEST_VAULT_TOKEN"),
    };
    for url in [&s.s3, &s.gcs, &s.vault] {
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let up = addr
            .parse()
            .ok()
            .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok());
        assert!(up.is_some(), "nothing answers at {url}: {help}");
    }
    s
}

/// Helper operations on the servers, with their own APIs (boto3 for S3, HTTP for the rest).
const HELPER: &str = r#"
import json, sys, urllib.request
op, a = sys.argv[1], sys.argv[2:]
def http(method, url, body=None, headers={}):
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            sys.stdout.write("<missing>"); sys.exit(0)
        raise
if op == "s3-bucket":
    import boto3; boto3.client("s3", endpoint_url=a[0]).create_bucket(Bucket=a[1])
elif op == "s3-get":
    import boto3
    try:
        sys.stdout.buffer.write(boto3.client("s3", endpoint_url=a[0]).get_object(Bucket=a[1], Key=a[2])["Body"].read())
    except Exception:
        sys.stdout.write("<missing>")
elif op == "s3-list":
    import boto3
    print("\n".join(o["Key"] for o in boto3.client("s3", endpoint_url=a[0]).list_objects(Bucket=a[1]).get("Contents", [])))
elif op == "gcs-bucket":
    http("POST", a[0] + "/storage/v1/b?project=test", json.dumps({"name": a[1]}).encode(), {"Content-Type": "application/json"})
elif op == "gcs-get":
    import urllib.parse
    sys.stdout.buffer.write(http("GET", a[0] + "/download/storage/v1/b/" + a[1] + "/o/" + urllib.parse.quote(a[2], safe="") + "?alt=media"))
elif op == "gcs-list":
    items = json.loads(http("GET", a[0] + "/storage/v1/b/" + a[1] + "/o")).get("items", [])
    print("\n".join(sorted(i["name"] for i in items)))
elif op == "kv-mount":
    http("POST", a[0] + "/v1/sys/mounts/" + a[2], json.dumps({"type": "kv", "options": {"version": a[3]}}).encode(), {"X-Vault-Token": a[1]})
elif op == "vault-get":
    sys.stdout.buffer.write(http("GET", a[0] + "/v1/" + a[2], None, {"X-Vault-Token": a[1]}))
"#;

impl Servers {
    fn helper(&self, args: &[&str]) -> Vec<u8> {
        let out = std::process::Command::new(&self.python)
            .arg("-c")
            .arg(HELPER)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "helper {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn s3_get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.helper(&["s3-get", &self.s3, bucket, key])
    }

    fn gcs_get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.helper(&["gcs-get", &self.gcs, bucket, key])
    }

    /// The `data` of a Vault answer for `path` (below `/v1/`), or `None` when missing.
    fn vault_data(&self, path: &str) -> Option<serde_json::Value> {
        let body = self.helper(&["vault-get", &self.vault, &self.token, path]);
        if body == b"<missing>" {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        Some(v["data"].clone())
    }

    /// The environment both binaries get: the AWS variables of scripts/moto are inherited;
    /// the emulator and Vault are named here.
    fn env(&self) -> Vec<(&'static str, &OsStr)> {
        vec![
            (
                "STORAGE_EMULATOR_HOST",
                OsStr::new(self.gcs.trim_start_matches("http://")),
            ),
            ("VAULT_ADDR", OsStr::new(&self.vault)),
            ("VAULT_TOKEN", OsStr::new(&self.token)),
        ]
    }
}

/// A unique name per test and run (buckets and mounts are shared by the whole run).
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what}-{}-{nanos}", std::process::id())
}

/// The public key of DEST_KEY.
fn dest_recipient() -> String {
    "age1gyqm53nkhqffd4sud6ph6nv0uwu4l29twyzrlmuntvy6hxyma9wqtm2nxr".to_string()
}

/// A test directory with a key file that holds both the repository's test key and DEST_KEY.
fn dir_with_keys() -> (Dir, PathBuf) {
    let d = Dir::new();
    let mut keys = std::fs::read_to_string(common::testdata("age-key.txt")).unwrap();
    keys.push_str(&format!("\n{DEST_KEY}\n"));
    let path = d.write("keys.txt", keys);
    (d, path)
}

fn run(
    d: &Dir,
    bin: &std::path::Path,
    s: &Servers,
    args: &[&str],
    keys: &std::path::Path,
) -> Output {
    let mut env = s.env();
    env.push(("SOPS_AGE_KEY_FILE", keys.as_os_str()));
    d.run_env(bin, args, "", &env, false)
}

fn ok(
    d: &Dir,
    bin: &std::path::Path,
    s: &Servers,
    args: &[&str],
    keys: &std::path::Path,
) -> Vec<u8> {
    let out = run(d, bin, s, args, keys);
    assert!(
        out.status.success(),
        "{} {args:?} failed ({:?}):\n{}",
        bin.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Encrypts PLAIN for the repository's test key (with the reference) into `name`.
fn encrypted(d: &Dir, s: &Servers, keys: &std::path::Path, name: &str) {
    if let Some(parent) = std::path::Path::new(name).parent() {
        std::fs::create_dir_all(d.path(&parent.to_string_lossy())).unwrap();
    }
    let plain = d.write("plain.yaml", PLAIN);
    let out = ok(
        d,
        &reference_sops(),
        s,
        &[
            "--disable-version-check",
            "encrypt",
            "--age",
            RECIPIENT,
            &plain.to_string_lossy(),
        ],
        keys,
    );
    std::fs::write(d.path(name), out).unwrap();
}

/// Decrypts `bytes` (a YAML sops file) with `bin` and only DEST_KEY.
fn decrypt_with_dest_key(d: &Dir, bin: &std::path::Path, bytes: &[u8]) -> Vec<u8> {
    let f = d.write("downloaded.yaml", bytes);
    let only_dest = d.write("dest-key.txt", format!("{DEST_KEY}\n"));
    let out = d.run_env(
        bin,
        &["--disable-version-check", "decrypt", &f.to_string_lossy()],
        "",
        &[("SOPS_AGE_KEY_FILE", only_dest.as_os_str())],
        false,
    );
    assert!(
        out.status.success(),
        "{} cannot decrypt the published file:\n{}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn s3_reencrypts_for_the_destination_and_matches_the_reference() {
    let s = servers();
    let (d, keys) = dir_with_keys();
    let bucket = unique("pub-s3");
    s.helper(&["s3-bucket", &s.s3, &bucket]);
    // The recreation rule names only DEST_KEY: the uploaded copy opens with it alone.
    d.write(
        ".sops.yaml",
        format!(
            "destination_rules:\n  - path_regex: ours/\n    s3_bucket: {bucket}\n    s3_prefix: rs/\n    recreation_rule:\n      age: {}\n  - path_regex: theirs/\n    s3_bucket: {bucket}\n    s3_prefix: go/\n    recreation_rule:\n      age: {}\n",
            dest_recipient(),
            dest_recipient()
        ),
    );
    encrypted(&d, &s, &keys, "ours/app.yaml");
    encrypted(&d, &s, &keys, "theirs/app.yaml");
    let our_out = ok(
        &d,
        &our_sops(),
        &s,
        &["publish", "--yes", "ours/app.yaml"],
        &keys,
    );
    let their_out = ok(
        &d,
        &reference_sops(),
        &s,
        &[
            "--disable-version-check",
            "publish",
            "--yes",
            "theirs/app.yaml",
        ],
        &keys,
    );
    // The key-group changes, as sops prints them.
    assert_eq!(
        String::from_utf8_lossy(&our_out),
        format!(
            "The following changes will be made to the file's key groups:\nGroup 1\n+++ {}\n--- {RECIPIENT}\n",
            dest_recipient()
        )
    );
    assert_eq!(our_out, their_out);
    let ours = s.s3_get(&bucket, "rs/app.yaml");
    let theirs = s.s3_get(&bucket, "go/app.yaml");
    for bytes in [&ours, &theirs] {
        for bin in [our_sops(), reference_sops()] {
            assert_eq!(decrypt_with_dest_key(&d, &bin, bytes), PLAIN.as_bytes());
        }
    }
    // Same shape: every value and the comment encrypted, no unencrypted_suffix, new MAC
    // (lines sorted: 3.13 writes an age entry's `enc` before its `recipient`, 3.11 after).
    let shape = |b: &[u8]| -> Vec<String> {
        let mut lines: Vec<String> = String::from_utf8_lossy(b)
            .lines()
            .map(|l| {
                l.split("ENC[")
                    .next()
                    .unwrap()
                    .trim_start_matches([' ', '-'])
                    .to_string()
            })
            // Key lines only (armor and base64 lines have no colon).
            .filter(|l| l.contains(':') && !l.contains("lastmodified") && !l.contains("version"))
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(shape(&ours), shape(&theirs));
    assert!(!String::from_utf8_lossy(&ours).contains("unencrypted_suffix"));
}

#[test]
fn s3_omit_extensions_recursive_and_prompt() {
    let s = servers();
    let (d, keys) = dir_with_keys();
    let bucket = unique("pub-s3r");
    s.helper(&["s3-bucket", &s.s3, &bucket]);
    // No recreation keys: the file's bytes are uploaded as they are.
    d.write(
        ".sops.yaml",
        format!("destination_rules:\n  - s3_bucket: {bucket}\n"),
    );
    encrypted(&d, &s, &keys, "tree/a.yaml");
    encrypted(&d, &s, &keys, "tree/sub/b.enc.yaml");
    ok(
        &d,
        &our_sops(),
        &s,
        &[
            "publish",
            "--yes",
            "--recursive",
            "--omit-extensions",
            "tree",
        ],
        &keys,
    );
    let list = String::from_utf8(s.helper(&["s3-list", &s.s3, &bucket])).unwrap();
    assert_eq!(list.trim(), "a\nsub/b.enc");
    assert_eq!(s.s3_get(&bucket, "a"), d.read("tree/a.yaml"));
    // A directory needs --recursive, as in sops.
    let out = run(&d, &our_sops(), &s, &["publish", "--yes", "tree"], &keys);
    let theirs = run(
        &d,
        &reference_sops(),
        &s,
        &["--disable-version-check", "publish", "--yes", "tree"],
        &keys,
    );
    assert_eq!(out.status.code(), theirs.status.code());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("can't operate on a directory without --recursive flag."));
    // The prompt answered "n": nothing uploaded, an error (as sops) for a single file.
    encrypted(&d, &s, &keys, "c.yaml");
    let out = d.run_stdin(&our_sops(), &["publish", "c.yaml"], b"n\n");
    let abs = std::fs::canonicalize(d.path("c.yaml")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "uploading {} to s3://{bucket}/c.yaml ? (y/n): ",
            abs.display()
        )
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("Publication of {} canceled", abs.display())));
    assert_eq!(s.s3_get(&bucket, "c.yaml"), b"<missing>");
    // Answered "y" after a stray word: uploaded.
    let out = d.run_stdin(&our_sops(), &["publish", "c.yaml"], b"maybe\ny\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.s3_get(&bucket, "c.yaml"), d.read("c.yaml"));
}

#[test]
fn gcs_uploads_like_the_reference() {
    let s = servers();
    let (d, keys) = dir_with_keys();
    let bucket = unique("pub-gcs");
    s.helper(&["gcs-bucket", &s.gcs, &bucket]);
    d.write(
        ".sops.yaml",
        format!(
            "destination_rules:\n  - path_regex: ours\n    gcs_bucket: {bucket}\n    gcs_prefix: rs/\n    omit_extensions: true\n    recreation_rule:\n      age: {}\n  - gcs_bucket: {bucket}\n    gcs_prefix: go/\n    omit_extensions: true\n",
            dest_recipient()
        ),
    );
    encrypted(&d, &s, &keys, "ours/app.yaml");
    encrypted(&d, &s, &keys, "theirs/app.yaml");
    ok(
        &d,
        &our_sops(),
        &s,
        &["publish", "-y", "ours/app.yaml"],
        &keys,
    );
    ok(
        &d,
        &reference_sops(),
        &s,
        &[
            "--disable-version-check",
            "publish",
            "-y",
            "theirs/app.yaml",
        ],
        &keys,
    );
    let ours = s.gcs_get(&bucket, "rs/app");
    for bin in [our_sops(), reference_sops()] {
        assert_eq!(decrypt_with_dest_key(&d, &bin, &ours), PLAIN.as_bytes());
    }
    // Without recreation keys both upload the file as it is.
    assert_eq!(s.gcs_get(&bucket, "go/app"), d.read("theirs/app.yaml"));
    ok(
        &d,
        &our_sops(),
        &s,
        &["publish", "-y", "theirs/app.yaml"],
        &keys,
    );
    assert_eq!(s.gcs_get(&bucket, "go/app"), d.read("theirs/app.yaml"));
    let list = String::from_utf8(s.helper(&["gcs-list", &s.gcs, &bucket])).unwrap();
    assert_eq!(list.trim(), "go/app\nrs/app");
}

#[test]
fn vault_kv_v1_and_v2_hold_the_same_data_as_the_reference_writes() {
    let s = servers();
    let (d, keys) = dir_with_keys();
    let v1 = unique("kv1");
    let v2 = unique("kv2");
    s.helper(&["kv-mount", &s.vault, &s.token, &v1, "1"]);
    s.helper(&["kv-mount", &s.vault, &s.token, &v2, "2"]);
    d.write(
        ".sops.yaml",
        format!(
            "destination_rules:\n  - path_regex: v1/\n    vault_path: rs\n    vault_kv_mount_name: {v1}\n    vault_kv_version: 1\n  - path_regex: v2/\n    vault_path: rs/\n    vault_kv_mount_name: {v2}/\n    vault_address: {}\n  - path_regex: ref1/\n    vault_path: go\n    vault_kv_mount_name: {v1}\n    vault_kv_version: 1\n  - path_regex: ref2/\n    vault_path: go\n    vault_kv_mount_name: {v2}\n",
            s.vault
        ),
    );
    for f in [
        "v1/app.yaml",
        "v2/app.yaml",
        "ref1/app.yaml",
        "ref2/app.yaml",
    ] {
        encrypted(&d, &s, &keys, f);
    }
    ok(
        &d,
        &our_sops(),
        &s,
        &["publish", "--yes", "v1/app.yaml"],
        &keys,
    );
    ok(
        &d,
        &our_sops(),
        &s,
        &["publish", "--yes", "v2/app.yaml"],
        &keys,
    );
    ok(
        &d,
        &reference_sops(),
        &s,
        &[
            "--disable-version-check",
            "publish",
            "--yes",
            "ref1/app.yaml",
        ],
        &keys,
    );
    ok(
        &d,
        &reference_sops(),
        &s,
        &[
            "--disable-version-check",
            "publish",
            "--yes",
            "ref2/app.yaml",
        ],
        &keys,
    );
    let expected =
        serde_json::json!({"a": 1, "b": ["x", [{"Key": "c", "Value": "d"}]], "nest": {"k": "v"}});
    let ours1 = s.vault_data(&format!("{v1}/rs/app.yaml")).unwrap();
    let ours2 = s.vault_data(&format!("{v2}/data/rs/app.yaml")).unwrap();
    assert_eq!(ours1, expected);
    assert_eq!(ours2["data"], expected);
    assert_eq!(ours1, s.vault_data(&format!("{v1}/go/app.yaml")).unwrap());
    assert_eq!(
        ours2["data"],
        s.vault_data(&format!("{v2}/data/go/app.yaml")).unwrap()["data"]
    );
    // Publishing again writes a new version (the data has numbers: never "up-to-date").
    ok(
        &d,
        &our_sops(),
        &s,
        &["publish", "--yes", "v2/app.yaml"],
        &keys,
    );
    let again = s.vault_data(&format!("{v2}/data/rs/app.yaml")).unwrap();
    assert_eq!(again["metadata"]["version"], 2);
    // String-only data that is already there is not written again.
    d.write("plain2.yaml", "s: x\nm: {t: true}\n");
    let enc = ok(
        &d,
        &reference_sops(),
        &s,
        &[
            "--disable-version-check",
            "encrypt",
            "--age",
            RECIPIENT,
            "plain2.yaml",
        ],
        &keys,
    );
    std::fs::write(d.path("v2/strings.yaml"), enc).unwrap();
    ok(
        &d,
        &our_sops(),
        &s,
        &["publish", "--yes", "v2/strings.yaml"],
        &keys,
    );
    ok(
        &d,
        &our_sops(),
        &s,
        &["publish", "--yes", "v2/strings.yaml"],
        &keys,
    );
    let strings = s.vault_data(&format!("{v2}/data/rs/strings.yaml")).unwrap();
    assert_eq!(
        strings["data"],
        serde_json::json!({"s": "x", "m": {"t": true}})
    );
    assert_eq!(strings["metadata"]["version"], 1);
}

#[test]
fn errors_as_sops() {
    let s = servers();
    let (d, keys) = dir_with_keys();
    encrypted(&d, &s, &keys, "app.yaml");
    // No config file.
    let ours = run(
        &d,
        &our_sops(),
        &s,
        &["publish", "--yes", "app.yaml"],
        &keys,
    );
    let theirs = run(
        &d,
        &reference_sops(),
        &s,
        &["--disable-version-check", "publish", "--yes", "app.yaml"],
        &keys,
    );
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(ours.status.code(), Some(1));
    // No matching destination rule, and a rule without a destination.
    d.write(".sops.yaml", "destination_rules:\n  - path_regex: nothing-matches\n    s3_bucket: b\n  - path_regex: none\n");
    for (file, message) in [
        (
            "app.yaml",
            "error loading config: no matching destination found in config",
        ),
        ("none.yaml", "no destination configured for this file"),
    ] {
        if file == "none.yaml" {
            encrypted(&d, &s, &keys, file);
        }
        let ours = run(&d, &our_sops(), &s, &["publish", "--yes", file], &keys);
        let theirs = run(
            &d,
            &reference_sops(),
            &s,
            &["--disable-version-check", "publish", "--yes", file],
            &keys,
        );
        assert_eq!(ours.status.code(), theirs.status.code(), "{file}");
        assert_eq!(ours.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&theirs.stderr).contains(message),
            "{}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        assert!(
            String::from_utf8_lossy(&ours.stderr).contains(message),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
    }
    // --decryption-order is checked (3.13 has it on publish), and a file is required.
    for args in [
        &[
            "publish",
            "--yes",
            "--decryption-order",
            "age,age",
            "none.yaml",
        ][..],
        &["publish"],
    ] {
        let ours = run(&d, &our_sops(), &s, args, &keys);
        let mut theirs_args = vec!["--disable-version-check"];
        theirs_args.extend_from_slice(args);
        let theirs = run(&d, &reference_sops(), &s, &theirs_args, &keys);
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr).lines().last(),
            String::from_utf8_lossy(&theirs.stderr).lines().last(),
            "{args:?}"
        );
    }
    // Missing file.
    let ours = run(
        &d,
        &our_sops(),
        &s,
        &["publish", "--yes", "missing.yaml"],
        &keys,
    );
    let theirs = run(
        &d,
        &reference_sops(),
        &s,
        &[
            "--disable-version-check",
            "publish",
            "--yes",
            "missing.yaml",
        ],
        &keys,
    );
    assert_eq!(ours.status.code(), theirs.status.code());
}

#[test]
fn a_server_that_is_down_fails_fast_with_a_clear_error() {
    let s = servers();
    let (d, keys) = dir_with_keys();
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = format!("http://127.0.0.1:{port}");
    d.write(
        ".sops.yaml",
        format!("destination_rules:\n  - path_regex: s3\n    s3_bucket: b\n  - path_regex: gcs\n    gcs_bucket: b\n  - path_regex: vault\n    vault_path: p\n    vault_address: {down}\n"),
    );
    for f in ["s3.yaml", "gcs.yaml", "vault.yaml"] {
        encrypted(&d, &s, &keys, f);
        let started = Instant::now();
        let mut env = s.env();
        env.retain(|(k, _)| *k != "STORAGE_EMULATOR_HOST");
        let host = down.trim_start_matches("http://").to_string();
        env.push(("STORAGE_EMULATOR_HOST", OsStr::new(&host)));
        env.push(("AWS_ENDPOINT_URL", OsStr::new(&down)));
        env.push(("SOPS_AGE_KEY_FILE", keys.as_os_str()));
        let out = d.run_env(&our_sops(), &["publish", "--yes", f], "", &env, false);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{f}: {err}");
        assert!(
            err.contains(&format!("Error publishing {f} to")),
            "{f}: {err}"
        );
        assert!(err.to_lowercase().contains("refused"), "{f}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{f} took {:?}",
            started.elapsed()
        );
    }
}
