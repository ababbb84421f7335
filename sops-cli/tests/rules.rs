//! Creation rules (`.sops.yaml`), key groups with a Shamir threshold, and PGP through gpg,
//! each checked against the reference sops 3.11 in both directions: what one binary encrypts
//! the other decrypts to the same bytes, and our metadata has the reference's shape.
//!
//! PGP tests make throwaway GnuPG homes with generated, passphrase-less keys. They fail (never
//! skip) when gpg is missing: `scripts/test` installs gnupg.

mod common;

use sops_core::format::Format;
use sops_core::EncryptedFile;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{our_sops, reference_sops, show, Dir, RECIPIENT};

/// Generated PGP keys, one GnuPG home per key, plus homes holding chosen secret keys.
struct Gpg {
    root: tempfile::TempDir,
    fps: Vec<String>,
    homes: std::cell::RefCell<Vec<PathBuf>>,
}

fn gpg(home: &Path, args: &[&str]) -> Output {
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(args)
        .output()
        .expect("gpg is missing: run scripts/test, which installs gnupg");
    assert!(
        out.status.success(),
        "gpg {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn new_home(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}

impl Gpg {
    /// `n` keys, each in its own home.
    fn new(n: usize) -> Gpg {
        let root = tempfile::tempdir().unwrap();
        let mut fps = Vec::new();
        let mut homes = Vec::new();
        for i in 0..n {
            let home = root.path().join(format!("k{i}"));
            new_home(&home);
            let uid = format!("rules test {i} <k{i}@example.com>");
            gpg(
                &home,
                &[
                    "--batch",
                    "--passphrase",
                    "",
                    "--quick-gen-key",
                    &uid,
                    "future-default",
                    "default",
                    "never",
                ],
            );
            let list = gpg(&home, &["--list-keys", "--with-colons"]);
            let text = String::from_utf8_lossy(&list.stdout).into_owned();
            let fp = text
                .lines()
                .find(|l| l.starts_with("fpr:"))
                .and_then(|l| l.split(':').nth(9))
                .expect("no fingerprint")
                .to_string();
            fps.push(fp);
            homes.push(home);
        }
        Gpg {
            root,
            fps,
            homes: std::cell::RefCell::new(homes),
        }
    }

    /// A home with the secret keys `keys` and the public keys of all.
    fn home_with(&self, keys: &[usize]) -> PathBuf {
        let name = format!(
            "h{}",
            keys.iter().map(|k| k.to_string()).collect::<String>()
        );
        let home = self.root.path().join(name);
        if home.exists() {
            return home;
        }
        new_home(&home);
        for (i, fp) in self.fps.iter().enumerate() {
            let src = self.root.path().join(format!("k{i}"));
            let out = if keys.contains(&i) {
                gpg(
                    &src,
                    &[
                        "--batch",
                        "--pinentry-mode",
                        "loopback",
                        "--passphrase",
                        "",
                        "--armor",
                        "--export-secret-keys",
                        fp,
                    ],
                )
            } else {
                gpg(&src, &["--armor", "--export", fp])
            };
            let file = home.join(format!("import{i}.asc"));
            std::fs::write(&file, &out.stdout).unwrap();
            gpg(&home, &["--batch", "--import", file.to_str().unwrap()]);
        }
        self.homes.borrow_mut().push(home.clone());
        home
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        for home in self.homes.borrow().iter() {
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(home)
                .args(["--kill", "gpg-agent"])
                .output();
        }
    }
}

fn home_env(home: &Path) -> [(&'static str, &OsStr); 1] {
    [("GNUPGHOME", home.as_os_str())]
}

/// The encrypted file with everything random or time-dependent cut out: values, `enc`
/// blocks, `created_at`, `lastmodified`, `mac`. What is left is the layout of the data, which
/// must match the reference byte for byte, and the metadata's content. The metadata's
/// layout is not compared: we write sops 3.13's (keys sorted, version 3.13.2), the reference
/// 3.11's; `tests/formats.rs` checks ours.
fn shape(bytes: &[u8]) -> String {
    let text = show(bytes);
    let (data, format) = if let Some(at) = text.find("\nsops:\n") {
        (&text[..at + 1], Format::Yaml)
    } else {
        let at = text.find("\"sops\": {").expect("a sops block");
        (&text[..text[..at].rfind('\n').unwrap() + 1], Format::Json)
    };
    let mut out = data_shape(data);
    let mut md = EncryptedFile::parse(bytes, format).unwrap().metadata;
    md.last_modified.clear();
    md.mac.clear();
    md.version.clear();
    let keys: Vec<Vec<String>> = md
        .key_groups
        .iter()
        .map(|g| g.iter().map(|k| k.describe()).collect())
        .collect();
    md.key_groups.clear();
    out.push_str(&format!("{keys:?} {md:?}\n"));
    out
}

fn data_shape(text: &str) -> String {
    let mut out = String::new();
    let mut block_indent: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(n) = block_indent {
            if indent > n || line.trim().is_empty() {
                continue;
            }
            block_indent = None;
        }
        let mut kept = line.to_string();
        let trimmed = line.trim_start().trim_start_matches("- ");
        if trimmed.starts_with("enc: |") {
            block_indent = Some(indent);
        }
        for key in ["enc", "created_at", "lastmodified", "mac"] {
            for form in [format!("{key}:"), format!("\"{key}\":")] {
                if let Some(pos) = kept.find(&form) {
                    let before = &kept[..pos];
                    if before.trim().is_empty() || before.trim() == "-" {
                        kept.truncate(pos + form.len());
                    }
                }
            }
        }
        if let Some(pos) = kept.find("ENC[") {
            kept.truncate(pos + 4);
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Decrypts `file` with both binaries in the given environment and checks both succeed with
/// the same output, which must be `expected` (`""`: whatever the reference prints).
fn both_decrypt(dir: &Dir, file: &str, envs: &[(&str, &OsStr)], with_key: bool, expected: &str) {
    let mut expected = expected.to_string();
    for bin in [reference_sops(), our_sops()] {
        let out = dir.run_env(&bin, &["-d", file], "", envs, with_key);
        assert!(
            out.status.success(),
            "{} -d {file} failed ({:?}):\n{}",
            bin.display(),
            out.status.code(),
            show(&out.stderr)
        );
        if expected.is_empty() {
            expected = show(&out.stdout);
        }
        assert_eq!(show(&out.stdout), expected, "{} -d {file}", bin.display());
    }
}

/// Runs both binaries with the same arguments (and the test age key) and checks they fail
/// with the same exit code; returns our exit code and stderr.
fn both_fail(dir: &Dir, args: &[&str], cwd: &str, envs: &[(&str, &OsStr)]) -> (i32, String) {
    both_fail_key(dir, args, cwd, envs, true)
}

/// [`both_fail`], with or without the test age key.
fn both_fail_key(
    dir: &Dir,
    args: &[&str],
    cwd: &str,
    envs: &[(&str, &OsStr)],
    with_key: bool,
) -> (i32, String) {
    let theirs = dir.run_env(&reference_sops(), args, cwd, envs, with_key);
    let ours = dir.run_env(&our_sops(), args, cwd, envs, with_key);
    assert!(
        !theirs.status.success(),
        "reference succeeded on {args:?}: {}",
        show(&theirs.stdout)
    );
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "exit codes for {args:?}: ours {}\nreference {}",
        show(&ours.stderr),
        show(&theirs.stderr)
    );
    (ours.status.code().unwrap_or(-1), show(&ours.stderr))
}

const PLAIN: &str = "user: alice\npassword: hunter2\nnested:\n    token: abc\n";

#[test]
fn rule_chosen_by_path_and_fallback_both_ways() {
    let keys = Gpg::new(1);
    let home = keys.home_with(&[0]);
    let env = home_env(&home);
    let dir = Dir::new();
    dir.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: ^secrets/prod/.*\\.yaml$\n    pgp: {}\n  - path_regex: \\.dev\\.yaml$\n    age: {RECIPIENT}\n  - age: >-\n      {RECIPIENT}\n    unencrypted_suffix: _plain\n",
            keys.fps[0]
        ),
    );
    std::fs::create_dir_all(dir.path("secrets/prod")).unwrap();
    dir.write("secrets/prod/db.yaml", PLAIN);
    dir.write("app.dev.yaml", PLAIN);
    dir.write("other.yaml", "user_plain: bob\npassword: x\n");
    for bin in [reference_sops(), our_sops()] {
        let prod = dir.ok_env(&bin, &["-e", "secrets/prod/db.yaml"], "", &env);
        let text = show(&prod);
        assert!(text.contains(&format!("fp: {}", keys.fps[0])), "{text}");
        assert!(!text.contains("age:"), "{text}");
        dir.write("prod.enc.yaml", &prod);
        // Only the PGP key can open it (no age key in the environment).
        both_decrypt(&dir, "prod.enc.yaml", &env, false, PLAIN);

        let dev = dir.ok_env(&bin, &["-e", "app.dev.yaml"], "", &env);
        let text = show(&dev);
        assert!(text.contains(RECIPIENT) && !text.contains("pgp:"), "{text}");
        dir.write("dev.enc.yaml", &dev);
        both_decrypt(&dir, "dev.enc.yaml", &[], true, PLAIN);

        let other = dir.ok_env(&bin, &["-e", "other.yaml"], "", &env);
        let text = show(&other);
        assert!(text.contains("user_plain: bob"), "{text}");
        assert!(text.contains("unencrypted_suffix: _plain"), "{text}");
        dir.write("other.enc.yaml", &other);
        both_decrypt(
            &dir,
            "other.enc.yaml",
            &[],
            true,
            "user_plain: bob\npassword: x\n",
        );
    }
    // --filename-override picks the rule (and the format) instead of the file's own name.
    dir.write("plain.txt", PLAIN);
    for bin in [reference_sops(), our_sops()] {
        let args = [
            "-e",
            "--filename-override",
            "secrets/prod/other.yaml",
            "plain.txt",
        ];
        let enc = show(&dir.ok_env(&bin, &args, "", &env));
        assert!(enc.contains("pgp:") && enc.contains("user: ENC["), "{enc}");
    }
    // The same layout from both binaries.
    let ours = dir.ok_env(&our_sops(), &["-e", "secrets/prod/db.yaml"], "", &env);
    let theirs = dir.ok_env(&reference_sops(), &["-e", "secrets/prod/db.yaml"], "", &env);
    assert_eq!(shape(&ours), shape(&theirs));
}

#[test]
fn rule_selectors_apply_and_flags_win() {
    let dir = Dir::new();
    dir.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: .*\n    age: [{RECIPIENT}]\n    encrypted_regex: ^(password|token)$\n    mac_only_encrypted: true\n"
        ),
    );
    dir.write("p.yaml", PLAIN);
    dir.write("p.json", "{\"user\": \"alice\", \"password\": \"hunter2\"}");
    let mut shapes = Vec::new();
    for bin in [reference_sops(), our_sops()] {
        let enc = dir.ok(&bin, &["-e", "p.yaml"]);
        let text = show(&enc);
        assert!(text.contains("user: alice"), "{text}");
        assert!(text.contains("password: ENC["), "{text}");
        assert!(
            text.contains("encrypted_regex: ^(password|token)$"),
            "{text}"
        );
        assert!(text.contains("mac_only_encrypted: true"), "{text}");
        dir.write("enc.yaml", &enc);
        both_decrypt(&dir, "enc.yaml", &[], true, PLAIN);
        // A selector flag replaces the rule's.
        let flagged = dir.ok(&bin, &["-e", "--encrypted-regex", "^user$", "p.yaml"]);
        let text = show(&flagged);
        assert!(text.contains("user: ENC["), "{text}");
        assert!(text.contains("password: hunter2"), "{text}");
        dir.write("flagged.yaml", &flagged);
        both_decrypt(&dir, "flagged.yaml", &[], true, PLAIN);
        let json = dir.ok(&bin, &["-e", "p.json"]);
        shapes.push((shape(&enc), shape(&flagged), shape(&json)));
    }
    assert_eq!(shapes[0], shapes[1]);
    // From stdin, --filename-override picks the rule.
    let mut from_stdin = Vec::new();
    for bin in [reference_sops(), our_sops()] {
        let out = dir.run_stdin(
            &bin,
            &["encrypt", "--filename-override", "x.yaml"],
            PLAIN.as_bytes(),
        );
        assert!(out.status.success(), "{}", show(&out.stderr));
        from_stdin.push(shape(&out.stdout));
    }
    assert_eq!(from_stdin[0], from_stdin[1]);
    assert!(from_stdin[1].contains("encrypted_regex"));
    // A flag of another kind than the rule's selector conflicts, as in sops.
    let (code, err) = both_fail(
        &dir,
        &["-e", "--unencrypted-suffix", "_x", "p.yaml"],
        "",
        &[],
    );
    assert_eq!(code, 8);
    assert!(err.contains("cannot use more than one"), "{err}");
}

#[test]
fn pgp_alone_both_ways() {
    let keys = Gpg::new(1);
    let home = keys.home_with(&[0]);
    let env = home_env(&home);
    let dir = Dir::new();
    dir.write("p.yaml", PLAIN);
    dir.write("p.json", "{\"a\": [1, 2], \"b\": \"x\"}");
    let mut shapes = Vec::new();
    for bin in [reference_sops(), our_sops()] {
        let enc = dir.ok_env(&bin, &["-e", "--pgp", &keys.fps[0], "p.yaml"], "", &env);
        dir.write("enc.yaml", &enc);
        both_decrypt(&dir, "enc.yaml", &env, false, PLAIN);
        // SOPS_PGP_FP works like --pgp.
        let mut with_fp = env.to_vec();
        with_fp.push(("SOPS_PGP_FP", OsStr::new(&keys.fps[0])));
        let json = dir.ok_env(&bin, &["-e", "p.json"], "", &with_fp);
        dir.write("enc.json", &json);
        both_decrypt(&dir, "enc.json", &env, false, "");
        shapes.push((shape(&enc), shape(&json)));
    }
    assert_eq!(shapes[0], shapes[1]);
    // Without the secret key both fail with 128, and we say why per key.
    let empty = keys.home_with(&[]);
    dir.write(
        "enc.yaml",
        dir.ok_env(
            &our_sops(),
            &["-e", "--pgp", &keys.fps[0], "p.yaml"],
            "",
            &env,
        ),
    );
    let (code, err) = both_fail(&dir, &["-d", "enc.yaml"], "", &home_env(&empty));
    assert_eq!(code, 128);
    assert!(err.contains(&format!("{}: FAILED", keys.fps[0])), "{err}");
    assert!(!err.contains("hunter2"));
}

#[test]
fn gpg_is_run_exactly_as_sops_runs_it() {
    let keys = Gpg::new(1);
    let home = keys.home_with(&[0]);
    let dir = Dir::new();
    dir.write("p.yaml", PLAIN);
    let script = dir.write(
        "fake-gpg",
        "#!/bin/sh\necho \"$*\" >> \"$GPG_LOG\"\nexec gpg \"$@\"\n",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut logs = Vec::new();
    for bin in [reference_sops(), our_sops()] {
        let log = dir.path("gpg.log");
        let _ = std::fs::remove_file(&log);
        let env = [
            ("GNUPGHOME", home.as_os_str()),
            ("SOPS_GPG_EXEC", script.as_os_str()),
            ("GPG_LOG", log.as_os_str()),
        ];
        let enc = dir.ok_env(&bin, &["-e", "--pgp", &keys.fps[0], "p.yaml"], "", &env);
        dir.write("enc.yaml", &enc);
        let dec = dir.run_env(&bin, &["-d", "enc.yaml"], "", &env, false);
        assert_eq!(show(&dec.stdout), PLAIN, "{}", show(&dec.stderr));
        logs.push(std::fs::read_to_string(&log).unwrap());
    }
    let short = &keys.fps[0][keys.fps[0].len() - 16..];
    assert_eq!(
        logs[1],
        format!(
            "--no-default-recipient --yes --encrypt -a -r {fp} --trusted-key {short} --no-encrypt-to\n-d\n",
            fp = keys.fps[0]
        )
    );
    assert_eq!(logs[0], logs[1]);
}

#[test]
fn age_and_pgp_both_ways() {
    let keys = Gpg::new(1);
    let home = keys.home_with(&[0]);
    let empty = keys.home_with(&[]);
    let dir = Dir::new();
    dir.write("p.yaml", PLAIN);
    let mut shapes = Vec::new();
    for bin in [reference_sops(), our_sops()] {
        let args = ["-e", "--age", RECIPIENT, "--pgp", &keys.fps[0], "p.yaml"];
        let enc = dir.ok_env(&bin, &args, "", &home_env(&home));
        dir.write("enc.yaml", &enc);
        // Either key alone opens the file.
        both_decrypt(&dir, "enc.yaml", &home_env(&home), false, PLAIN);
        both_decrypt(&dir, "enc.yaml", &home_env(&empty), true, PLAIN);
        // With PGP tried first (and failing), age still opens it.
        let mut ordered = home_env(&empty).to_vec();
        ordered.push(("SOPS_DECRYPTION_ORDER", OsStr::new("pgp,age")));
        both_decrypt(&dir, "enc.yaml", &ordered, true, PLAIN);
        shapes.push(shape(&enc));
    }
    assert_eq!(shapes[0], shapes[1]);
    let (code, err) = both_fail(
        &dir,
        &["-d", "--decryption-order", "age,pgp,age", "enc.yaml"],
        "",
        &[],
    );
    assert_eq!(code, 112);
    assert!(err.contains("Duplicate decryption key type: age"), "{err}");
}

#[test]
fn three_key_groups_with_threshold_two() {
    let keys = Gpg::new(3);
    let all = keys.home_with(&[0, 1, 2]);
    let dir = Dir::new();
    dir.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - pgp:\n          - {}\n        age:\n          - {RECIPIENT}\n      - pgp: [{}]\n      - pgp: [{}]\n",
            keys.fps[0], keys.fps[1], keys.fps[2]
        ),
    );
    dir.write("p.yaml", PLAIN);
    dir.write("p.json", "{\"user\": \"alice\", \"n\": 1}");
    let mut shapes = Vec::new();
    for bin in [reference_sops(), our_sops()] {
        let enc = dir.ok_env(&bin, &["-e", "p.yaml"], "", &home_env(&all));
        let json = dir.ok_env(&bin, &["-e", "p.json"], "", &home_env(&all));
        dir.write("enc.yaml", &enc);
        dir.write("enc.json", &json);
        let text = show(&enc);
        assert!(text.contains("shamir_threshold: 2"), "{text}");
        assert!(text.contains("key_groups:"), "{text}");
        for pair in [[0, 1], [1, 2], [0, 2]] {
            let home = keys.home_with(&pair);
            both_decrypt(&dir, "enc.yaml", &home_env(&home), false, PLAIN);
        }
        // One group's key is not enough, whichever binary decrypts.
        let one = keys.home_with(&[1]);
        let (code, err) = both_fail_key(&dir, &["-d", "enc.yaml"], "", &home_env(&one), false);
        assert_eq!(code, 128);
        assert!(err.contains("Group 1: SUCCESS"), "{err}");
        assert!(err.contains("Shamir threshold of\n2"), "{err}");
        both_decrypt(
            &dir,
            "enc.json",
            &home_env(&keys.home_with(&[0, 2])),
            false,
            "",
        );
        // The age key and one PGP key are two groups.
        let other = keys.home_with(&[2]);
        both_decrypt(&dir, "enc.yaml", &home_env(&other), true, PLAIN);
        shapes.push((shape(&enc), shape(&json)));
    }
    // Several groups hold the same keys as sops's, in YAML and JSON (their 3.13 layout, with
    // `hc_vault: []` and `age: []`, is checked in tests/formats.rs).
    assert_eq!(shapes[0].0, shapes[1].0);
    assert_eq!(shapes[0].1, shapes[1].1);
    // Keys from flags form one group, but the rule's threshold is still written, as sops does.
    let mut single = Vec::new();
    for bin in [reference_sops(), our_sops()] {
        let enc = dir.ok_env(&bin, &["-e", "--age", RECIPIENT, "p.yaml"], "", &[]);
        assert!(show(&enc).contains("shamir_threshold: 2"));
        dir.write("single.yaml", &enc);
        both_decrypt(&dir, "single.yaml", &[], true, PLAIN);
        single.push(shape(&enc));
    }
    assert_eq!(single[0], single[1]);
    // The flag overrides the rule's threshold.
    for bin in [reference_sops(), our_sops()] {
        let enc = dir.ok_env(
            &bin,
            &["-e", "--shamir-secret-sharing-threshold", "3", "p.yaml"],
            "",
            &home_env(&all),
        );
        assert!(show(&enc).contains("shamir_threshold: 3"));
        dir.write("enc3.yaml", &enc);
        let two = keys.home_with(&[0, 1]);
        let (code, _) = both_fail(&dir, &["-d", "enc3.yaml"], "", &home_env(&two));
        assert_eq!(code, 128);
    }
}

#[test]
fn config_found_from_a_subdirectory() {
    let dir = Dir::new();
    dir.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: ^sub/deeper/.*\\.yaml$\n    age: {RECIPIENT}\n    encrypted_suffix: _secret\n"
        ),
    );
    std::fs::create_dir_all(dir.path("sub/deeper")).unwrap();
    dir.write("sub/deeper/x.yaml", "a_secret: 1\nb: 2\n");
    for bin in [reference_sops(), our_sops()] {
        let enc = dir.ok_env(&bin, &["-e", "x.yaml"], "sub/deeper", &[]);
        let text = show(&enc);
        assert!(text.contains("a_secret: ENC["), "{text}");
        assert!(text.contains("b: 2"), "{text}");
        dir.write("enc.yaml", &enc);
        both_decrypt(&dir, "enc.yaml", &[], true, "a_secret: 1\nb: 2\n");
        // From the parent, the rule's path is still relative to the config's directory.
        let enc = dir.ok_env(&bin, &["-e", "deeper/x.yaml"], "sub", &[]);
        assert!(show(&enc).contains("encrypted_suffix: _secret"));
    }
    // In a directory the rule does not cover: no matching rule, even with a key flag.
    dir.write("sub/y.yaml", "a: 1\n");
    let (code, err) = both_fail(&dir, &["-e", "--age", RECIPIENT, "y.yaml"], "sub", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("no matching creation rules found"), "{err}");
}

#[test]
fn explicit_config_with_flag_and_env() {
    let dir = Dir::new();
    // A .sops.yaml here that would refuse the file: --config must win over it.
    dir.write(".sops.yaml", "creation_rules:\n  - path_regex: ^nothing$\n");
    std::fs::create_dir_all(dir.path("conf")).unwrap();
    dir.write(
        "conf/rules.yaml",
        format!(
            "creation_rules:\n  - path_regex: data\\.yaml$\n    age: {RECIPIENT}\n    unencrypted_regex: ^public$\nstores:\n  yaml:\n    indent: 2\n"
        ),
    );
    dir.write("data.yaml", "public: hello\nprivate:\n  x: 1\n");
    let mut outputs = Vec::new();
    for bin in [reference_sops(), our_sops()] {
        let enc = dir.ok_env(
            &bin,
            &["-e", "--config", "conf/rules.yaml", "data.yaml"],
            "",
            &[],
        );
        let text = show(&enc);
        assert!(text.contains("public: hello"), "{text}");
        assert!(text.contains("\n  x: ENC["), "stores indent: {text}");
        let env = [("SOPS_CONFIG", OsStr::new("conf/rules.yaml"))];
        let by_env = dir.ok_env(&bin, &["-e", "data.yaml"], "", &env);
        assert_eq!(shape(&by_env), shape(&enc));
        dir.write("enc.yaml", &enc);
        let dec = dir.ok_env(
            &bin,
            &["-d", "--config", "conf/rules.yaml", "enc.yaml"],
            "",
            &[],
        );
        outputs.push((shape(&enc), dec));
    }
    assert_eq!(outputs[0], outputs[1]);
    // Without --config the local .sops.yaml applies and has no rule for the file.
    let (code, _) = both_fail(&dir, &["-e", "data.yaml"], "", &[]);
    assert_eq!(code, 1);
    // A --config that does not exist is an error naming it.
    let (code, err) = both_fail(
        &dir,
        &["-e", "--config", "missing.yaml", "data.yaml"],
        "",
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("missing.yaml"), "{err}");
}

#[test]
fn no_rule_and_no_key_is_an_error() {
    let dir = Dir::new();
    dir.write("p.yaml", PLAIN);
    let (code, err) = both_fail(&dir, &["-e", "p.yaml"], "", &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("config file not found, or has no creation rules, and no keys provided through command line options"),
        "{err}"
    );
    // A config without creation rules behaves the same.
    dir.write(".sops.yaml", "stores:\n  json:\n    indent: 2\n");
    let (code, err) = both_fail(&dir, &["-e", "p.yaml"], "", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("no keys provided"), "{err}");
    // A rule without keys.
    dir.write(".sops.yaml", "creation_rules:\n  - path_regex: p\n");
    let (code, err) = both_fail(&dir, &["-e", "p.yaml"], "", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("empty key group provided"), "{err}");
    // A .sops.yml is not read.
    std::fs::remove_file(dir.path(".sops.yaml")).unwrap();
    dir.write(
        ".sops.yml",
        format!("creation_rules:\n  - age: {RECIPIENT}\n"),
    );
    let (code, _) = both_fail(&dir, &["-e", "p.yaml"], "", &[]);
    assert_eq!(code, 1);
}

#[test]
fn malformed_config_names_the_file_and_line() {
    let dir = Dir::new();
    dir.write("p.yaml", PLAIN);
    dir.write(
        "enc.yaml",
        dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "p.yaml"]),
    );
    dir.write(".sops.yaml", "creation_rules:\n  - path_regex: [\n");
    let (code, err) = both_fail(&dir, &["-e", "--age", RECIPIENT, "p.yaml"], "", &[]);
    assert_eq!(code, 1);
    assert!(err.contains(".sops.yaml") && err.contains("line"), "{err}");
    // sops reads the config for its store settings when decrypting too.
    let (code, _) = both_fail(&dir, &["-d", "enc.yaml"], "", &[]);
    assert_eq!(code, 1);
    // Wrong types fail the whole file; wrong key lists fail when the rule is used.
    dir.write(
        ".sops.yaml",
        "creation_rules:\n  - age: x\n    shamir_threshold: abc\n",
    );
    let (code, err) = both_fail(&dir, &["-e", "p.yaml"], "", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("shamir_threshold"), "{err}");
    dir.write("p.yaml", PLAIN);
    dir.write(".sops.yaml", "creation_rules:\n  - age: 5\n");
    let (code, err) = both_fail(&dir, &["-e", "p.yaml"], "", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid age key configuration"), "{err}");
    dir.write(
        ".sops.yaml",
        "creation_rules:\n  - path_regex: \"[\"\n    age: x\n",
    );
    let (code, err) = both_fail(&dir, &["-e", "p.yaml"], "", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("can not compile regexp"), "{err}");
}

#[test]
fn unsupported_key_types_only_matter_when_used() {
    let dir = Dir::new();
    dir.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: cloud\n    kms: arn:aws:kms:us-east-1:111122223333:key/x\n    gcp_kms: [projects/p/locations/global/keyRings/r/cryptoKeys/k]\n  - age: {RECIPIENT}\ndestination_rules:\n  - s3_bucket: b\n    recreation_rule:\n      pgp: ABCD\n"
        ),
    );
    dir.write("p.yaml", "a: 1\n");
    dir.write("cloud.yaml", "a: 1\n");
    let enc = dir.ok(&our_sops(), &["-e", "p.yaml"]);
    dir.write("enc.yaml", &enc);
    both_decrypt(&dir, "enc.yaml", &[], true, "a: 1\n");
    let out = dir.run(&our_sops(), &["-e", "cloud.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    // The rule's cloud keys are used (and fail here: no such key, no credentials).
    assert!(
        show(&out.stderr).contains("could not encrypt the data key for"),
        "{}",
        show(&out.stderr)
    );
}

#[test]
fn stores_indent_matches_the_reference() {
    let dir = Dir::new();
    dir.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {RECIPIENT}\nstores:\n  yaml:\n    indent: 2\n  json:\n    indent: 3\n"),
    );
    dir.write("p.yaml", PLAIN);
    dir.write("p.json", "{\"a\": {\"b\": [1, \"x\"]}}");
    let mut got = Vec::new();
    for bin in [reference_sops(), our_sops()] {
        let y = dir.ok(&bin, &["-e", "p.yaml"]);
        let j = dir.ok(&bin, &["-e", "p.json"]);
        dir.write("enc.yaml", &y);
        dir.write("enc.json", &j);
        let dy = dir.ok(&bin, &["-d", "enc.yaml"]);
        let dj = dir.ok(&bin, &["-d", "enc.json"]);
        // --indent wins over the stores setting.
        let d4 = dir.ok(&bin, &["-d", "--indent", "4", "enc.json"]);
        got.push((shape(&y), shape(&j), dy, dj, d4));
    }
    assert_eq!(got[0], got[1]);
}
