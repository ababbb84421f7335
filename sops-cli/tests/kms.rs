//! AWS KMS keys against a local KMS API server (moto), in both directions with the reference
//! sops 3.11: `--kms` (with a role), `--encryption-context`, `.sops.yaml` rules and key
//! groups, profiles, and falling back to age quickly when the KMS endpoint is down.
//!
//! `scripts/test` starts `moto_server` on 127.0.0.1 (scripts/moto), exports `AWS_ENDPOINT_URL`
//! and dummy credentials, and stops it at the end. These tests fail (never skip) when it is not
//! running. Keys are created through moto's API with boto3 (installed with moto).

#![cfg(feature = "aws-kms")]

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{our_sops, reference_sops, show, Dir, RECIPIENT};

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\nlist:\n    - 1\n    - two\n";

/// The running moto server and the Python that can talk to it.
struct Moto {
    url: String,
    python: PathBuf,
}

fn moto() -> Moto {
    let help = "the local KMS API server is not running: run scripts/test, which installs \
                moto[server], starts moto_server and exports SOPS_TEST_MOTO_URL, \
                AWS_ENDPOINT_URL and dummy AWS credentials";
    let url = std::env::var("SOPS_TEST_MOTO_URL").expect(help);
    let python = PathBuf::from(std::env::var("SOPS_TEST_PYTHON").expect(help));
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let reachable = addr
        .parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok());
    assert!(reachable.is_some(), "{help} (nothing answers at {url})");
    Moto { url, python }
}

impl Moto {
    /// Creates `n` symmetric KMS keys in `region`; returns their ARNs.
    fn create_keys(&self, region: &str, n: usize) -> Vec<String> {
        let script = "import boto3, sys\n\
            c = boto3.client('kms', endpoint_url=sys.argv[1], region_name=sys.argv[2])\n\
            for _ in range(int(sys.argv[3])):\n    print(c.create_key()['KeyMetadata']['Arn'])\n";
        let out = Command::new(&self.python)
            .args(["-c", script, &self.url, region, &n.to_string()])
            .output()
            .expect("could not run the moto Python (run scripts/test)");
        assert!(out.status.success(), "creating keys: {}", show(&out.stderr));
        let arns: Vec<String> = show(&out.stdout).lines().map(String::from).collect();
        assert_eq!(arns.len(), n);
        arns
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

/// Runs a binary in the directory with the age key and extra variables.
fn run(d: &Dir, bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let envs: Vec<(&str, &OsStr)> = envs.iter().map(|(k, v)| (*k, OsStr::new(*v))).collect();
    d.run_env(bin, args, "", &envs, true)
}

/// The `kms` part of the metadata with values that change per run blanked, for shape checks.
fn kms_shape(encrypted: &[u8]) -> String {
    let text = show(encrypted);
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("    kms:") {
            inside = true;
        } else if inside && !line.starts_with("          ") && !line.starts_with("        -") {
            inside = false;
        }
        if inside {
            let blank = ["created_at: ", "enc: ", "arn: "];
            let mut l = line.to_string();
            for b in blank {
                if let Some(i) = l.find(b) {
                    l.truncate(i + b.len());
                    l.push('X');
                }
            }
            out.push(l);
        }
    }
    out.join("\n")
}

#[test]
fn both_directions_with_the_reference() {
    let moto = moto();
    let arns = moto.create_keys("eu-west-2", 2);
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let list = arns.join(",");
    for (enc_bin, dec_bin) in [
        (our_sops(), reference_sops()),
        (reference_sops(), our_sops()),
    ] {
        let enc = ok(
            run(&d, &enc_bin, &["-e", "--kms", &list, "plain.yaml"], &[]),
            "encrypt",
        );
        let text = show(&enc);
        assert!(
            text.contains(&format!("        - arn: {}\n", arns[1])),
            "{text}"
        );
        assert!(text.contains("aws_profile: \"\""), "{text}");
        d.write("enc.yaml", &enc);
        let dec = ok(run(&d, &dec_bin, &["-d", "enc.yaml"], &[]), "decrypt");
        assert_eq!(show(&dec), PLAIN);
        // The same through the environment variable, in JSON.
        let enc = ok(
            run(
                &d,
                &enc_bin,
                &["-e", "--output-type", "json", "plain.yaml"],
                &[("SOPS_KMS_ARN", &arns[0])],
            ),
            "encrypt with SOPS_KMS_ARN",
        );
        d.write("enc.json", &enc);
        let dec = ok(
            run(
                &d,
                &dec_bin,
                &["-d", "--output-type", "yaml", "enc.json"],
                &[],
            ),
            "decrypt json",
        );
        assert_eq!(show(&dec), PLAIN);
    }
    // Our metadata has the reference's shape.
    let ours = ok(
        run(&d, &our_sops(), &["-e", "--kms", &list, "plain.yaml"], &[]),
        "ours",
    );
    let theirs = ok(
        run(
            &d,
            &reference_sops(),
            &["-e", "--kms", &list, "plain.yaml"],
            &[],
        ),
        "reference",
    );
    // The same entries; ours in sops 3.13's layout (PR 2120: keys sorted), the reference
    // 3.11's struct order.
    let (ours_shape, theirs_shape) = (kms_shape(&ours), kms_shape(&theirs));
    let entry =
        "        - arn: X\n          aws_profile: \"\"\n          created_at: X\n          enc: X";
    assert_eq!(ours_shape, format!("    kms:\n{entry}\n{entry}"));
    let sorted = |s: &str| {
        let mut lines: Vec<String> = s.lines().map(|l| l.replace("- ", "  ")).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&ours_shape), sorted(&theirs_shape));
    let created = show(&ours)
        .lines()
        .find(|l| l.contains("created_at: "))
        .unwrap()
        .to_string();
    let stamp = created.split("created_at: ").nth(1).unwrap();
    assert_eq!(stamp.len(), 22, "{stamp}"); // "2026-11-23T10:00:00Z" quoted
    assert!(
        stamp.starts_with("\"20") && stamp.ends_with("Z\""),
        "{stamp}"
    );
}

#[test]
fn role_arn_form() {
    let moto = moto();
    let arn = &moto.create_keys("us-west-1", 1)[0];
    let role = "arn:aws:iam::123456789012:role/sops-test";
    let spec = format!("{arn}+{role}");
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    for (enc_bin, dec_bin) in [
        (our_sops(), reference_sops()),
        (reference_sops(), our_sops()),
    ] {
        let enc = ok(
            run(&d, &enc_bin, &["-e", "--kms", &spec, "plain.yaml"], &[]),
            "encrypt",
        );
        let text = show(&enc);
        assert!(
            text.contains(&format!("          role: {role}\n")),
            "{text}"
        );
        d.write("enc.yaml", &enc);
        let dec = ok(run(&d, &dec_bin, &["-d", "enc.yaml"], &[]), "decrypt");
        assert_eq!(show(&dec), PLAIN);
    }
}

#[test]
fn encryption_context_both_ways_and_tampering() {
    let moto = moto();
    let arn = &moto.create_keys("eu-central-1", 1)[0];
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    for (enc_bin, dec_bin) in [
        (our_sops(), reference_sops()),
        (reference_sops(), our_sops()),
    ] {
        let enc = ok(
            run(
                &d,
                &enc_bin,
                &[
                    "-e",
                    "--kms",
                    arn,
                    "--encryption-context",
                    "team:web,env:prod",
                    "plain.yaml",
                ],
                &[],
            ),
            "encrypt with context",
        );
        let text = show(&enc);
        assert!(
            text.contains("          context:\n            env: prod\n            team: web\n"),
            "{text}"
        );
        d.write("enc.yaml", &enc);
        assert_eq!(
            show(&ok(run(&d, &dec_bin, &["-d", "enc.yaml"], &[]), "decrypt")),
            PLAIN
        );
        // A changed context no longer matches the ciphertext: both binaries refuse.
        d.write("bad.yaml", text.replace("env: prod", "env: dev"));
        for bin in [our_sops(), reference_sops()] {
            let out = run(&d, &bin, &["-d", "bad.yaml"], &[]);
            assert_eq!(out.status.code(), Some(128), "{}", show(&out.stderr));
        }
    }
    // Our report names the key (with its context) and KMS's reason.
    let out = run(&d, &our_sops(), &["-d", "bad.yaml"], &[]);
    let err = show(&out.stderr);
    assert!(
        err.contains(&format!("{arn}|env:dev,team:web: FAILED")),
        "{err}"
    );
    assert!(
        err.contains("failed to decrypt sops data key with AWS KMS"),
        "{err}"
    );
}

#[test]
fn malformed_context_exits_6() {
    let moto = moto();
    let arn = &moto.create_keys("us-east-1", 1)[0];
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    for bad in ["a", "a:b,c", "a:b:c"] {
        for bin in [our_sops(), reference_sops()] {
            let out = run(
                &d,
                &bin,
                &[
                    "-e",
                    "--kms",
                    arn,
                    "--encryption-context",
                    bad,
                    "plain.yaml",
                ],
                &[],
            );
            assert_eq!(out.status.code(), Some(6), "{bad}: {}", show(&out.stderr));
        }
    }
}

#[test]
fn creation_rules_with_kms() {
    let moto = moto();
    let arns = moto.create_keys("ap-southeast-2", 2);
    let d = Dir::new();
    // A profile in the (temporary) home, used by a rule.
    std::fs::create_dir_all(d.path(".aws")).unwrap();
    d.write(
        ".aws/config",
        "[profile sopstest]\nregion = us-east-1\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    );
    d.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n\
             \x20 - path_regex: flat\\.yaml$\n\
             \x20   kms: '{a0}, {a1}'\n\
             \x20   aws_profile: sopstest\n\
             \x20 - path_regex: groups\\.yaml$\n\
             \x20   shamir_threshold: 2\n\
             \x20   key_groups:\n\
             \x20     - kms:\n\
             \x20         - arn: {a0}\n\
             \x20           context:\n\
             \x20             app: billing\n\
             \x20     - age:\n\
             \x20         - {RECIPIENT}\n\
             \x20       kms:\n\
             \x20         - arn: {a1}\n",
            a0 = arns[0],
            a1 = arns[1]
        ),
    );
    for name in ["flat.yaml", "groups.yaml"] {
        d.write(name, PLAIN);
        for (enc_bin, dec_bin) in [
            (our_sops(), reference_sops()),
            (reference_sops(), our_sops()),
        ] {
            let enc = ok(run(&d, &enc_bin, &["-e", name], &[]), "encrypt by rule");
            let text = show(&enc);
            if name == "flat.yaml" {
                assert_eq!(text.matches("aws_profile: sopstest").count(), 2, "{text}");
            } else {
                assert!(text.contains("            app: billing\n"), "{text}");
            }
            d.write("out.yaml", &enc);
            // Decrypt without the age key: only KMS can open it.
            let envs = [("SOPS_DECRYPTION_ORDER", OsStr::new("kms"))];
            let out = d.run_env(&dec_bin, &["-d", "out.yaml"], "", &envs, false);
            assert_eq!(show(&ok(out, "decrypt by KMS")), PLAIN);
        }
        // The flat rule's keys take --encryption-context (sops 3.13, PR 2021: 3.11 dropped it
        // when the config was pre-loaded for encrypt/edit/rotate/set).
        if name == "flat.yaml" {
            let enc = ok(
                run(
                    &d,
                    &our_sops(),
                    &["-e", "--encryption-context", "k:v", name],
                    &[],
                ),
                "encrypt by rule with context",
            );
            assert_eq!(
                show(&enc).matches("                k: v\n").count()
                    + show(&enc).matches("            k: v\n").count(),
                2,
                "{}",
                show(&enc)
            );
            d.write("out.yaml", &enc);
            assert_eq!(
                show(&ok(
                    run(&d, &reference_sops(), &["-d", "out.yaml"], &[]),
                    "ref"
                )),
                PLAIN
            );
        }
    }
}

/// Decrypts a KMS + age file with KMS tried first while `endpoint` does not work; returns how
/// long it took and checks age took over.
fn age_fallback(d: &Dir, endpoint: &str) -> Duration {
    let start = Instant::now();
    let out = run(
        d,
        &our_sops(),
        &["-d", "--decryption-order", "kms,age", "enc.yaml"],
        &[("AWS_ENDPOINT_URL", endpoint)],
    );
    let took = start.elapsed();
    assert_eq!(show(&ok(out, "decrypt via age")), PLAIN);
    took
}

#[test]
fn age_takes_over_quickly_when_kms_is_down() {
    let moto = moto();
    let arn = &moto.create_keys("us-east-2", 1)[0];
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let enc = ok(
        run(
            &d,
            &our_sops(),
            &["-e", "--kms", arn, "--age", RECIPIENT, "plain.yaml"],
            &[],
        ),
        "encrypt",
    );
    d.write("enc.yaml", &enc);
    // Nothing listens: connections are refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let took = age_fallback(&d, &format!("http://127.0.0.1:{closed}"));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // A server that accepts connections and never answers: the timeouts end the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let took = age_fallback(&d, &format!("http://127.0.0.1:{port}"));
    drop(silent);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // Without the age key, the report names the KMS key and why it failed.
    let envs = [(
        "AWS_ENDPOINT_URL",
        OsStr::new(&format!("http://127.0.0.1:{closed}")).to_owned(),
    )];
    let envs: Vec<(&str, &OsStr)> = envs.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let out = d.run_env(&our_sops(), &["-d", "enc.yaml"], "", &envs, false);
    assert_eq!(out.status.code(), Some(128));
    let err = show(&out.stderr);
    assert!(err.contains(&format!("{arn}: FAILED")), "{err}");
    assert!(
        err.contains("failed to decrypt sops data key with AWS KMS"),
        "{err}"
    );
}

#[test]
fn profiles_like_the_reference() {
    let moto = moto();
    let arn = &moto.create_keys("sa-east-1", 1)[0];
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    // A profile that does not exist fails the key in both binaries.
    for bin in [our_sops(), reference_sops()] {
        let out = run(
            &d,
            &bin,
            &["-e", "--kms", arn, "--aws-profile", "missing", "plain.yaml"],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{}", show(&out.stderr));
        let err = show(&out.stderr);
        assert!(
            err.contains("failed to get shared config profile, missing"),
            "{err}"
        );
    }
    // A profile from the credentials file is written to the metadata and used both ways.
    std::fs::create_dir_all(d.path(".aws")).unwrap();
    d.write(
        ".aws/credentials",
        "[ci]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    );
    for (enc_bin, dec_bin) in [
        (our_sops(), reference_sops()),
        (reference_sops(), our_sops()),
    ] {
        let enc = ok(
            run(
                &d,
                &enc_bin,
                &["-e", "--kms", arn, "--aws-profile", "ci", "plain.yaml"],
                &[],
            ),
            "encrypt with a profile",
        );
        assert!(
            show(&enc).contains("          aws_profile: ci\n"),
            "{}",
            show(&enc)
        );
        d.write("enc.yaml", &enc);
        assert_eq!(
            show(&ok(run(&d, &dec_bin, &["-d", "enc.yaml"], &[]), "decrypt")),
            PLAIN
        );
    }
}

#[test]
fn service_specific_endpoint_wins() {
    let moto = moto();
    let arn = &moto.create_keys("eu-north-1", 1)[0];
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    // The general endpoint is dead; AWS_ENDPOINT_URL_KMS points at the server.
    let envs = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("AWS_ENDPOINT_URL_KMS", moto.url.as_str()),
    ];
    for (enc_bin, dec_bin) in [
        (our_sops(), reference_sops()),
        (reference_sops(), our_sops()),
    ] {
        let enc = ok(
            run(&d, &enc_bin, &["-e", "--kms", arn, "plain.yaml"], &envs),
            "encrypt through AWS_ENDPOINT_URL_KMS",
        );
        d.write("enc.yaml", &enc);
        let dec = ok(run(&d, &dec_bin, &["-d", "enc.yaml"], &envs), "decrypt");
        assert_eq!(show(&dec), PLAIN);
    }
}

/// sops 3.13 (PR 2042) splits `KEY_ARN+ROLE_ARN` for roles of every AWS partition, not only
/// `arn:aws:iam::`. The reference 3.11 cannot, so only our binary is checked; the role lands in
/// the `role` field and is assumed again (through moto's STS) to decrypt.
#[test]
fn role_arn_of_another_partition() {
    let moto = moto();
    let arn = &moto.create_keys("us-west-1", 1)[0];
    let role = "arn:aws-cn:iam::123456789012:role/sops-test";
    let spec = format!("{arn}+{role}");
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let enc = ok(
        run(&d, &our_sops(), &["-e", "--kms", &spec, "plain.yaml"], &[]),
        "encrypt",
    );
    let text = show(&enc);
    assert!(
        text.contains(&format!("          role: {role}\n")),
        "{text}"
    );
    assert!(text.contains(&format!("        - arn: {arn}\n")), "{text}");
    d.write("enc.yaml", &enc);
    let dec = d.run_without_key(&our_sops(), &["-d", "enc.yaml"]);
    assert_eq!(show(&ok(dec, "decrypt")), PLAIN);
}

/// `rotate --add-kms` takes `--encryption-context` and `--aws-profile` as sops's rotate does
/// (`getRotateOpts` passes the parsed context to the added keys).
#[test]
fn rotate_add_kms_takes_the_encryption_context() {
    let moto = moto();
    let arn = &moto.create_keys("eu-central-1", 1)[0];
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let enc = ok(
        run(
            &d,
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
            &our_sops(),
            &[
                "rotate",
                "-i",
                "--add-kms",
                arn,
                "--encryption-context",
                "team:billing",
                "s.yaml",
            ],
            &[],
        ),
        "rotate --add-kms --encryption-context",
    );
    let rotated = show(&d.read("s.yaml"));
    assert!(rotated.contains("            team: billing\n"), "{rotated}");
    let without_age = d.run_without_key(&reference_sops(), &["-d", "s.yaml"]);
    assert_eq!(show(&ok(without_age, "reference decrypt")), PLAIN);
    // Commands that change a file recover its key with KMS too (no age key here).
    let rotated = d.run_without_key(&our_sops(), &["rotate", "-i", "s.yaml"]);
    ok(rotated, "rotate with the KMS key only");
    let without_age = d.run_without_key(&reference_sops(), &["-d", "s.yaml"]);
    assert_eq!(show(&ok(without_age, "reference decrypt")), PLAIN);
}

#[test]
fn rotate_adds_and_removes_kms_keys() {
    let moto = moto();
    let arns = moto.create_keys("eu-central-1", 1);
    let d = Dir::new();
    d.write("plain.yaml", PLAIN);
    let enc = ok(
        run(
            &d,
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
            &our_sops(),
            &["rotate", "-i", "--add-kms", &arns[0], "s.yaml"],
            &[],
        ),
        "rotate --add-kms",
    );
    let rotated = show(&d.read("s.yaml"));
    assert!(rotated.contains(&arns[0]), "{rotated}");
    // The KMS key alone opens it, with the reference sops too.
    let without_age = d.run_without_key(&reference_sops(), &["-d", "s.yaml"]);
    assert_eq!(
        show(&ok(without_age, "reference decrypt with KMS only")),
        PLAIN
    );
    ok(
        run(
            &d,
            &our_sops(),
            &["rotate", "-i", "--rm-kms", &arns[0], "s.yaml"],
            &[],
        ),
        "rotate --rm-kms",
    );
    assert!(!show(&d.read("s.yaml")).contains(&arns[0]));
}
