//! Everyday workflows: set/unset, edit with a scripted editor, rotate, updatekeys, exec-env,
//! exec-file, filestatus, groups, completion, the man page, and the command lines helm-secrets
//! runs. Every file our binary writes is read back by the reference sops.

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{our_sops, reference_sops, repo, show, testdata, Dir, RECIPIENT};

/// The second test recipient (`testdata/workflows/age-key2.txt`).
const RECIPIENT2: &str = "age1w3wucutze2numkjnfcxkgdfq699wyvk4s4j36tl7h2ftn63trarsfwyc32";

const PLAIN: &str = "\
db:
    user: admin
    password: hunter2
    port: 5432
# a comment
hosts:
    - a.example
    - b.example
token: abc
";

fn code(out: &Output) -> i32 {
    out.status.code().expect("terminated by a signal")
}

/// A directory with `enc.yaml` encrypted by the reference sops for the first test key, a
/// `tmp/` directory used as TMPDIR, and key files for one or both keys.
fn setup() -> Dir {
    let dir = Dir::new();
    dir.write("plain.yaml", PLAIN);
    let enc = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "plain.yaml"]);
    dir.write("enc.yaml", &enc);
    std::fs::create_dir(dir.path("tmp")).unwrap();
    let k1 = std::fs::read_to_string(testdata("age-key.txt")).unwrap();
    let k2 = std::fs::read_to_string(testdata("workflows/age-key2.txt")).unwrap();
    dir.write("key1.txt", &k1);
    dir.write("key2.txt", &k2);
    dir.write("both.txt", format!("{k1}\n{k2}"));
    dir
}

/// Runs `bin` in the directory with extra variables (TMPDIR pointing at `tmp/`), the given
/// stdin, and the first test key unless `SOPS_AGE_KEY_FILE` is among `envs`.
fn run(dir: &Dir, bin: &Path, args: &[&str], envs: &[(&str, &str)], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(dir.dir.path());
    for var in [
        "SOPS_AGE_RECIPIENTS",
        "SOPS_PGP_FP",
        "SOPS_CONFIG",
        "SOPS_EDITOR",
        "EDITOR",
        "SOPS_DECRYPTION_ORDER",
        "SOPS_AGE_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", dir.dir.path())
        .env("XDG_CONFIG_HOME", dir.path(".config"))
        .env("TMPDIR", dir.path("tmp"))
        .env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"));
    for (k, v) in envs {
        cmd.env(k, OsStr::new(v));
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().unwrap()
}

fn ours(dir: &Dir, args: &[&str], envs: &[(&str, &str)]) -> Output {
    run(dir, &our_sops(), args, envs, b"")
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

/// Decrypts a file with the reference sops.
fn reference_decrypt(dir: &Dir, file: &str, key_file: &str) -> String {
    let key = dir.path(key_file);
    let out = run(
        dir,
        &reference_sops(),
        &["-d", file],
        &[("SOPS_AGE_KEY_FILE", key.to_str().unwrap())],
        b"",
    );
    show(&ok(out, &format!("reference sops -d {file}")))
}

/// The line numbers (0-based) where two texts of the same line count differ.
fn changed_lines(a: &str, b: &str) -> Vec<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!(
        a.len(),
        b.len(),
        "line counts differ:\n{}\n---\n{}",
        a.join("\n"),
        b.join("\n")
    );
    a.iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(_, y)| y.split(':').next().unwrap_or("").trim().to_string())
        .collect()
}

/// Replaces `enc.yaml` (written by sops 3.11) with the same plaintext encrypted by us: the
/// first rewrite of a 3.11 file also rewrites its `sops` block in sops 3.13's layout (keys
/// sorted, `version` by `edit`), as sops 3.13 does; later ones change one line per value.
fn in_current_layout(dir: &Dir) {
    let enc = dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, "plain.yaml"]);
    dir.write("enc.yaml", &enc);
}

fn tmp_is_empty(dir: &Dir) -> bool {
    std::fs::read_dir(dir.path("tmp")).unwrap().next().is_none()
}

/// Writes an executable editor script.
fn editor(dir: &Dir, name: &str, body: &str) -> String {
    let p = dir.write(name, format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_str().unwrap().to_string()
}

fn text(dir: &Dir, name: &str) -> String {
    show(&dir.read(name))
}

// ---------------------------------------------------------------- set / unset

#[test]
fn set_changes_one_line_and_keeps_other_ciphertext() {
    let dir = setup();
    in_current_layout(&dir);
    let before = text(&dir, "enc.yaml");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(
        ours(
            &dir,
            &["set", "enc.yaml", r#"["db"]["password"]"#, r#""s3cret""#],
            &[],
        ),
        "set",
    );
    let after = text(&dir, "enc.yaml");
    assert_eq!(
        changed_lines(&before, &after),
        ["password", "lastmodified", "mac"]
    );
    let plain = reference_decrypt(&dir, "enc.yaml", "key1.txt");
    assert_eq!(plain, PLAIN.replace("hunter2", "s3cret"));
}

#[test]
fn set_json_integer_stays_integer_and_creates_branches() {
    let dir = setup();
    ok(
        ours(&dir, &["set", "enc.yaml", r#"["new"]["n"]"#, "5"], &[]),
        "set",
    );
    ok(
        ours(
            &dir,
            &[
                "set",
                "enc.yaml",
                r#"["obj"]"#,
                r#"{"z": 1.5, "a": [true, "x"]}"#,
            ],
            &[],
        ),
        "set",
    );
    let enc = text(&dir, "enc.yaml");
    assert!(enc.contains("type:int"), "{enc}");
    let plain = reference_decrypt(&dir, "enc.yaml", "key1.txt");
    assert!(
        plain.ends_with(
            "new:\n    \"n\": 5\nobj:\n    z: 1.5\n    a:\n        - true\n        - x\n"
        ),
        "{plain}"
    );
}

#[test]
fn set_value_file_stdin_and_idempotent() {
    let dir = setup();
    dir.write("value.json", r#""from-file""#);
    ok(
        ours(
            &dir,
            &[
                "set",
                "--value-file",
                "enc.yaml",
                r#"["token"]"#,
                "value.json",
            ],
            &[],
        ),
        "set --value-file",
    );
    let out = run(
        &dir,
        &our_sops(),
        &["set", "--value-stdin", "enc.yaml", r#"["db"]["user"]"#],
        &[],
        br#""root""#,
    );
    ok(out, "set --value-stdin");
    let plain = reference_decrypt(&dir, "enc.yaml", "key1.txt");
    assert!(plain.contains("token: from-file"), "{plain}");
    assert!(plain.contains("user: root"), "{plain}");
    // Same value with --idempotent: the file is not even rewritten.
    let before = dir.read("enc.yaml");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(
        ours(
            &dir,
            &[
                "set",
                "--idempotent",
                "enc.yaml",
                r#"["token"]"#,
                r#""from-file""#,
            ],
            &[],
        ),
        "set --idempotent",
    );
    assert_eq!(dir.read("enc.yaml"), before);
    // Both value sources at once are refused.
    let out = ours(
        &dir,
        &[
            "set",
            "--value-file",
            "--value-stdin",
            "enc.yaml",
            r#"["a"]"#,
            "x",
        ],
        &[],
    );
    assert_ne!(code(&out), 0);
}

#[test]
fn set_errors_use_sops_codes() {
    let dir = setup();
    let before = dir.read("enc.yaml");
    let out = ours(&dir, &["set", "enc.yaml", r#"["a"]"#, "not json"], &[]);
    assert_eq!(code(&out), 7, "{}", show(&out.stderr));
    let out = ours(&dir, &["set", "enc.yaml", "bad path", "1"], &[]);
    assert_eq!(code(&out), 7);
    let out = ours(&dir, &["set", "enc.yaml", r#"["a"]"#], &[]);
    assert_eq!(code(&out), 100);
    // Subcommands on a missing file: 2, as sops (the flag style says 100).
    let out = ours(&dir, &["set", "nope.yaml", r#"["a"]"#, "1"], &[]);
    assert_eq!(code(&out), 2);
    assert!(show(&out.stderr).contains("Error reading file: open nope.yaml: no such file"));
    let out = ours(&dir, &["unset", "enc.yaml", r#"["db"]["user"]["x"]"#], &[]);
    assert_eq!(code(&out), 1);
    assert!(show(&out.stderr).contains("Unsupported type: string for item 'x'"));
    let out = run(
        &dir,
        &our_sops(),
        &["set", "enc.yaml", r#"["a"]"#, "1"],
        &[("SOPS_AGE_KEY_FILE", "/nonexistent")],
        b"",
    );
    assert_eq!(code(&out), 128);
    assert_eq!(dir.read("enc.yaml"), before);
}

#[test]
fn legacy_set_flag() {
    let dir = setup();
    ok(
        ours(&dir, &["--set", r#"["db"]["port"] 6543"#, "enc.yaml"], &[]),
        "--set",
    );
    let plain = reference_decrypt(&dir, "enc.yaml", "key1.txt");
    assert!(plain.contains("port: 6543"), "{plain}");
    let out = ours(&dir, &["--set", "no-space", "enc.yaml"], &[]);
    assert_eq!(code(&out), 7);
}

#[test]
fn unset_removes_and_idempotent_ignores_missing() {
    let dir = setup();
    ok(
        ours(&dir, &["unset", "enc.yaml", r#"["db"]["port"]"#], &[]),
        "unset",
    );
    ok(
        ours(&dir, &["unset", "enc.yaml", r#"["hosts"][0]"#], &[]),
        "unset",
    );
    let plain = reference_decrypt(&dir, "enc.yaml", "key1.txt");
    assert!(!plain.contains("port"), "{plain}");
    assert!(
        !plain.contains("a.example") && plain.contains("b.example"),
        "{plain}"
    );
    let out = ours(&dir, &["unset", "enc.yaml", r#"["missing"]"#], &[]);
    assert_eq!(code(&out), 1);
    assert!(show(&out.stderr).contains("Key not found: missing"));
    ok(
        ours(
            &dir,
            &["unset", "--idempotent", "enc.yaml", r#"["missing"]"#],
            &[],
        ),
        "unset --idempotent",
    );
}

// ---------------------------------------------------------------- edit

#[test]
fn edit_one_value_is_a_one_line_diff() {
    let dir = setup();
    let ed = editor(
        &dir,
        "ed.sh",
        r#"stat -c '%a' "$(dirname "$1")" "$1" > "$PWD/perms"; basename "$1" > "$PWD/name"; sed -i 's/token: abc/token: xyz/' "$1""#,
    );
    in_current_layout(&dir);
    let before = text(&dir, "enc.yaml");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(
        ours(&dir, &["edit", "enc.yaml"], &[("EDITOR", &ed)]),
        "edit",
    );
    let after = text(&dir, "enc.yaml");
    assert_eq!(
        changed_lines(&before, &after),
        ["token", "lastmodified", "mac"]
    );
    assert_eq!(text(&dir, "perms"), "700\n600\n");
    assert_eq!(text(&dir, "name"), "enc.yaml\n");
    assert!(tmp_is_empty(&dir));
    let plain = reference_decrypt(&dir, "enc.yaml", "key1.txt");
    assert_eq!(plain, PLAIN.replace("token: abc", "token: xyz"));
}

#[test]
fn bare_file_argument_edits_with_sops_editor_and_arguments() {
    let dir = setup();
    let ed = editor(
        &dir,
        "ed.sh",
        r#"echo "$1" > "$PWD/args"; sed -i "s/admin/$2/" "$3""#,
    );
    // SOPS_EDITOR wins over EDITOR and is split like a shell command line.
    let sops_editor = format!("{ed} 'first arg' root");
    ok(
        ours(
            &dir,
            &["enc.yaml"],
            &[("SOPS_EDITOR", &sops_editor), ("EDITOR", "false")],
        ),
        "sops FILE",
    );
    assert_eq!(text(&dir, "args"), "first arg\n");
    let plain = reference_decrypt(&dir, "enc.yaml", "key1.txt");
    assert!(plain.contains("user: root"), "{plain}");
}

#[test]
fn edit_without_change_is_200_and_editor_failure_is_201() {
    let dir = setup();
    let before = dir.read("enc.yaml");
    let out = ours(&dir, &["edit", "enc.yaml"], &[("EDITOR", "true")]);
    assert_eq!(code(&out), 200, "{}", show(&out.stderr));
    assert!(show(&out.stderr).contains("File has not changed"));
    let failing = editor(&dir, "fail.sh", r#"echo "token: leaked" >> "$1"; exit 3"#);
    let out = ours(&dir, &["edit", "enc.yaml"], &[("EDITOR", &failing)]);
    assert_eq!(code(&out), 201, "{}", show(&out.stderr));
    let out = ours(
        &dir,
        &["edit", "enc.yaml"],
        &[("EDITOR", "/nonexistent/editor")],
    );
    assert_eq!(code(&out), 201);
    assert_eq!(dir.read("enc.yaml"), before);
    assert!(tmp_is_empty(&dir));
}

#[test]
fn edit_invalid_content_without_terminal_fails_once() {
    let dir = setup();
    let before = dir.read("enc.yaml");
    let bad = editor(
        &dir,
        "bad.sh",
        r#"echo x >> "$PWD/runs"; echo "a: [" > "$1""#,
    );
    let out = ours(&dir, &["edit", "enc.yaml"], &[("EDITOR", &bad)]);
    assert_eq!(code(&out), 2, "{}", show(&out.stderr));
    let err = show(&out.stderr);
    assert!(err.contains("left unchanged"), "{err}");
    assert_eq!(text(&dir, "runs"), "x\n", "the editor ran more than once");
    assert_eq!(dir.read("enc.yaml"), before);
    assert!(tmp_is_empty(&dir));
    // A `sops` key in the edited plaintext is refused the same way.
    let meta = editor(&dir, "meta.sh", r#"echo "sops: 1" >> "$1""#);
    // (sops 3.13 loops back to the editor; without a terminal we stop with the code its
    // validateFileForEncryption gives, 203.)
    let out = ours(&dir, &["edit", "enc.yaml"], &[("EDITOR", &meta)]);
    assert_eq!(code(&out), 203);
    assert_eq!(dir.read("enc.yaml"), before);
}

#[test]
fn edit_creates_a_new_file_from_flags_or_rules() {
    let dir = setup();
    let ed = editor(&dir, "new.sh", r#"printf 'api_key: k1\nnum: 3\n' > "$1""#);
    ok(
        ours(
            &dir,
            &["edit", "--age", RECIPIENT, "new.yaml"],
            &[("EDITOR", &ed)],
        ),
        "edit new file",
    );
    assert_eq!(
        reference_decrypt(&dir, "new.yaml", "key1.txt"),
        "api_key: k1\nnum: 3\n"
    );
    // Leaving the example untouched creates nothing.
    let out = ours(
        &dir,
        &["edit", "--age", RECIPIENT, "other.yaml"],
        &[("EDITOR", "true")],
    );
    assert_eq!(code(&out), 200);
    assert!(!dir.path("other.yaml").exists());
    // Keys from .sops.yaml, through the bare form.
    dir.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: \\.json$\n    age: {RECIPIENT2}\n"),
    );
    let ed = editor(&dir, "newjson.sh", r#"printf '{"a": "b"}' > "$1""#);
    ok(
        ours(&dir, &["new.json"], &[("EDITOR", &ed)]),
        "sops new.json",
    );
    assert_eq!(
        reference_decrypt(&dir, "new.json", "key2.txt"),
        "{\n\t\"a\": \"b\"\n}\n"
    );
    assert!(tmp_is_empty(&dir));
}

#[test]
fn edit_show_master_keys_shows_metadata() {
    let dir = setup();
    let ed = editor(
        &dir,
        "show.sh",
        r#"grep -c 'recipient: age1' "$1" > "$PWD/count"; sed -i 's/token: abc/token: shown/' "$1""#,
    );
    ok(
        ours(
            &dir,
            &["edit", "--show-master-keys", "enc.yaml"],
            &[("EDITOR", &ed)],
        ),
        "edit -s",
    );
    assert_eq!(text(&dir, "count"), "1\n");
    let plain = reference_decrypt(&dir, "enc.yaml", "key1.txt");
    assert!(plain.contains("token: shown"), "{plain}");
}

#[test]
fn ctrl_c_during_edit_belongs_to_the_editor() {
    let dir = setup();
    let ed = editor(
        &dir,
        "trap.sh",
        r#"trap 'echo got-int > "$PWD/int"' INT; echo go > "$PWD/started"; sleep 1; sed -i 's/token: abc/token: kept/' "$1""#,
    );
    let child = Command::new(our_sops())
        .args(["edit", "enc.yaml"])
        .current_dir(dir.dir.path())
        .env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"))
        .env("EDITOR", &ed)
        .env("TMPDIR", dir.path("tmp"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if dir.path("started").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let plain = reference_decrypt(&dir, "enc.yaml", "key1.txt");
    assert!(plain.contains("token: kept"), "{plain}");
    assert!(tmp_is_empty(&dir));
}

#[test]
fn signal_during_edit_removes_the_plaintext() {
    for (sig, expected) in [(libc_sigterm(), 143), (1, 129)] {
        let dir = setup();
        let before = dir.read("enc.yaml");
        let ed = editor(&dir, "slow.sh", r#"echo "$1" > "$PWD/started"; sleep 30"#);
        let mut child = Command::new(our_sops())
            .args(["edit", "enc.yaml"])
            .current_dir(dir.dir.path())
            .env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"))
            .env("EDITOR", &ed)
            .env("TMPDIR", dir.path("tmp"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = dir.path("started");
        for _ in 0..200 {
            if started.exists() && !text(&dir, "started").is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let plain_path = text(&dir, "started");
        assert!(Path::new(plain_path.trim()).exists());
        Command::new("kill")
            .args([format!("-{sig}"), child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(expected));
        assert!(tmp_is_empty(&dir), "temporary plaintext left behind");
        assert_eq!(dir.read("enc.yaml"), before);
    }
}

fn libc_sigterm() -> i32 {
    15
}

// ---------------------------------------------------------------- rotate

#[test]
fn rotate_changes_every_ciphertext_and_keeps_plaintext() {
    let dir = setup();
    let before = text(&dir, "enc.yaml");
    let out = ok(ours(&dir, &["rotate", "enc.yaml"], &[]), "rotate");
    let after = show(&out);
    // Every encrypted value, the comment and the MAC get new ciphertext (the age block may
    // change length, so compare the lines with a `type:` tag).
    let tagged = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains(",type:"))
            .map(String::from)
            .collect()
    };
    let (old, new) = (tagged(&before), tagged(&after));
    assert_eq!(old.len(), new.len());
    for (a, b) in old.iter().zip(&new) {
        assert_ne!(a, b, "not re-encrypted");
    }
    assert_ne!(
        before.split("enc: |").nth(1).map(|s| &s[..200]),
        after.split("enc: |").nth(1).map(|s| &s[..200])
    );
    assert_eq!(
        dir.read("enc.yaml"),
        before.as_bytes(),
        "rotate without -i wrote the file"
    );
    ok(ours(&dir, &["-r", "-i", "enc.yaml"], &[]), "-r -i");
    assert_ne!(text(&dir, "enc.yaml"), before);
    assert_eq!(reference_decrypt(&dir, "enc.yaml", "key1.txt"), PLAIN);
    ok(
        ours(&dir, &["rotate", "--output", "out.yaml", "enc.yaml"], &[]),
        "--output",
    );
    assert_eq!(reference_decrypt(&dir, "out.yaml", "key1.txt"), PLAIN);
}

#[test]
fn rotate_adds_and_removes_age_keys() {
    let dir = setup();
    ok(
        ours(
            &dir,
            &["rotate", "-i", "--add-age", RECIPIENT2, "enc.yaml"],
            &[],
        ),
        "rotate --add-age",
    );
    assert_eq!(reference_decrypt(&dir, "enc.yaml", "key2.txt"), PLAIN);
    assert_eq!(reference_decrypt(&dir, "enc.yaml", "key1.txt"), PLAIN);
    ok(
        ours(&dir, &["-r", "-i", "--rm-age", RECIPIENT, "enc.yaml"], &[]),
        "-r --rm-age",
    );
    assert_eq!(reference_decrypt(&dir, "enc.yaml", "key2.txt"), PLAIN);
    let out = run(
        &dir,
        &reference_sops(),
        &["-d", "enc.yaml"],
        &[("SOPS_AGE_KEY_FILE", dir.path("key1.txt").to_str().unwrap())],
        b"",
    );
    assert_eq!(code(&out), 128, "the removed key still decrypts");
    // A GCP KMS key without credentials fails clearly, naming the key.
    let key2 = dir.path("key2.txt");
    let out = run(
        &dir,
        &our_sops(),
        &[
            "rotate",
            "--add-gcp-kms",
            "projects/p/locations/global/keyRings/r/cryptoKeys/k",
            "enc.yaml",
        ],
        &[("SOPS_AGE_KEY_FILE", key2.to_str().unwrap())],
        b"",
    );
    assert_eq!(code(&out), 1);
    assert!(
        show(&out.stderr).contains(
            "could not encrypt the data key for GCP KMS key \
             projects/p/locations/global/keyRings/r/cryptoKeys/k"
        ),
        "{}",
        show(&out.stderr)
    );
}

// ---------------------------------------------------------------- updatekeys

#[test]
fn updatekeys_follows_the_rule_and_keeps_values() {
    let dir = setup();
    dir.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: enc\\.yaml$\n    age: {RECIPIENT},{RECIPIENT2}\n"
        ),
    );
    let before = text(&dir, "enc.yaml");
    // Answering "n" changes nothing.
    let out = run(&dir, &our_sops(), &["updatekeys", "enc.yaml"], &[], b"n\n");
    ok(out, "updatekeys (n)");
    assert_eq!(text(&dir, "enc.yaml"), before);
    let out = ours(&dir, &["updatekeys", "-y", "enc.yaml"], &[]);
    let stdout = show(&ok(out, "updatekeys -y"));
    assert_eq!(
        stdout,
        format!("The following changes will be made to the file's groups:\nGroup 1\n    {RECIPIENT}\n+++ {RECIPIENT2}\n")
    );
    let after = text(&dir, "enc.yaml");
    // Values, lastmodified and the MAC are untouched; only the key entries change.
    let value_lines = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("type:") || l.contains("lastmodified"))
            .map(String::from)
            .collect()
    };
    assert_eq!(value_lines(&before), value_lines(&after));
    assert_eq!(reference_decrypt(&dir, "enc.yaml", "key2.txt"), PLAIN);
    // Nothing left to do.
    let out = ours(&dir, &["updatekeys", "-y", "enc.yaml"], &[]);
    let err = show(&out.stderr);
    ok(out, "updatekeys again");
    assert!(err.contains("already up to date"), "{err}");
}

#[test]
fn updatekeys_builds_groups_with_threshold() {
    let dir = setup();
    dir.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: enc\\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{RECIPIENT}]\n      - age: [{RECIPIENT2}]\n"
        ),
    );
    let out = ours(&dir, &["updatekeys", "-y", "enc.yaml"], &[]);
    let stdout = show(&ok(out, "updatekeys"));
    assert!(stdout.contains("+++ shamir_threshold: 2"), "{stdout}");
    assert!(stdout.contains("Group 2\n+++ "), "{stdout}");
    // Both groups are needed now (threshold 2), and the values kept their ciphertext.
    assert_eq!(reference_decrypt(&dir, "enc.yaml", "both.txt"), PLAIN);
    let out = run(&dir, &reference_sops(), &["-d", "enc.yaml"], &[], b"");
    assert_eq!(code(&out), 128);
}

// ---------------------------------------------------------------- exec-env / exec-file

#[test]
fn exec_env_passes_top_level_values() {
    let dir = Dir::new();
    std::fs::create_dir(dir.path("tmp")).unwrap();
    dir.write("p.yaml", "A: one\nB: 2\nC: 1.5\nD: true\n");
    let enc = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "p.yaml"]);
    dir.write("e.yaml", &enc);
    let out = ok(
        ours(
            &dir,
            &["exec-env", "e.yaml", "echo \"$A $B $C $D\""],
            &[("A", "outer")],
        ),
        "exec-env",
    );
    assert_eq!(show(&out), "one 2 1.5 true\n");
    let out = ok(
        ours(
            &dir,
            &["exec-env", "--pristine", "e.yaml", "echo \"[$HOME]$A\""],
            &[],
        ),
        "exec-env --pristine",
    );
    assert_eq!(show(&out), "[]one\n");
    // The child's exit code is ours, as in sops.
    let out = ours(&dir, &["exec-env", "e.yaml", "exit 7"], &[]);
    assert_eq!(code(&out), 7);
    // Complex values cannot be environment variables.
    let setup = setup();
    let out = ours(&setup, &["exec-env", "enc.yaml", "true"], &[]);
    assert_eq!(code(&out), 1);
    assert!(show(&out.stderr).contains("cannot use complex value in environment; offending key db"));
}

#[test]
fn exec_file_fifo_and_temp_file_leave_nothing() {
    let dir = setup();
    let out = ok(
        ours(&dir, &["exec-file", "enc.yaml", "cat {}"], &[]),
        "exec-file",
    );
    assert_eq!(show(&out), PLAIN);
    let out = ok(
        ours(
            &dir,
            &["exec-file", "enc.yaml", "test -p {} && cat {}"],
            &[],
        ),
        "exec-file fifo",
    );
    assert_eq!(show(&out), PLAIN);
    let out = ok(
        ours(
            &dir,
            &[
                "exec-file",
                "--no-fifo",
                "--filename",
                "x.json",
                "--output-type",
                "json",
                "enc.yaml",
                "test -f {} && stat -c %a {} && basename {} && cat {}",
            ],
            &[],
        ),
        "exec-file --no-fifo",
    );
    let s = show(&out);
    assert!(s.starts_with("600\nx.json\n{\n\t\"db\": {"), "{s}");
    // A command that never reads the FIFO does not hang.
    ok(
        ours(&dir, &["exec-file", "enc.yaml", "true"], &[]),
        "exec-file unread",
    );
    // --background returns once the command has read the FIFO.
    let copy = dir.path("copy.yaml");
    let cmd = format!("cat {{}} > {}", copy.display());
    ok(
        ours(&dir, &["exec-file", "--background", "enc.yaml", &cmd], &[]),
        "background",
    );
    for _ in 0..100 {
        if copy.exists() && text(&dir, "copy.yaml") == PLAIN {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(text(&dir, "copy.yaml"), PLAIN);
    assert!(tmp_is_empty(&dir));
}

// ---------------------------------------------------------------- filestatus, groups

#[test]
fn filestatus_matches_sops() {
    let dir = setup();
    for f in ["enc.yaml", "plain.yaml"] {
        let ours = ok(ours(&dir, &["filestatus", f], &[]), "filestatus");
        let theirs = ok(
            run(&dir, &reference_sops(), &["filestatus", f], &[], b""),
            "ref",
        );
        assert_eq!(show(&ours), show(&theirs), "{f}");
    }
}

#[test]
fn groups_add_and_delete() {
    let dir = setup();
    let before = text(&dir, "enc.yaml");
    let add = [
        "groups",
        "add",
        "--file",
        "enc.yaml",
        "--age",
        RECIPIENT2,
        "--shamir-secret-sharing-threshold",
        "2",
    ];
    let out = ok(ours(&dir, &add, &[]), "groups add to stdout");
    assert!(show(&out).contains(RECIPIENT2));
    assert_eq!(text(&dir, "enc.yaml"), before, "written without -i");
    let mut add_in_place = add.to_vec();
    add_in_place.insert(2, "-i");
    ok(ours(&dir, &add_in_place, &[]), "groups add -i");
    let enc = text(&dir, "enc.yaml");
    assert!(enc.contains("shamir_threshold: 2"), "{enc}");
    assert_eq!(reference_decrypt(&dir, "enc.yaml", "both.txt"), PLAIN);
    let out = run(&dir, &reference_sops(), &["-d", "enc.yaml"], &[], b"");
    assert_eq!(code(&out), 128, "one group alone must not be enough");
    // Threshold checks: deleting below the threshold is refused.
    let both = dir.path("both.txt");
    let both = [("SOPS_AGE_KEY_FILE", both.to_str().unwrap())];
    let out = ours(
        &dir,
        &["groups", "delete", "-i", "--file", "enc.yaml", "0"],
        &both,
    );
    assert_eq!(code(&out), 1);
    assert!(
        show(&out.stderr).contains("impossible to satisfy"),
        "{}",
        show(&out.stderr)
    );
    let out = ours(
        &dir,
        &["groups", "delete", "--file", "enc.yaml", "5"],
        &both,
    );
    assert_eq!(code(&out), 1);
    ok(
        ours(
            &dir,
            &[
                "groups",
                "delete",
                "-i",
                "--file",
                "enc.yaml",
                "--shamir-secret-sharing-threshold",
                "1",
                "0",
            ],
            &both,
        ),
        "groups delete",
    );
    assert_eq!(reference_decrypt(&dir, "enc.yaml", "key2.txt"), PLAIN);
    assert!(!text(&dir, "enc.yaml").contains(RECIPIENT));
}

// ---------------------------------------------------------------- completion, man page

#[test]
fn completion_scripts() {
    let dir = Dir::new();
    std::fs::create_dir(dir.path("tmp")).unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = ok(ours(&dir, &["completion", shell], &[]), shell);
        let s = show(&out);
        assert!(
            s.contains("updatekeys") && s.contains("exec-env"),
            "{shell}"
        );
    }
}

#[test]
fn man_pages_are_up_to_date() {
    let dir = Dir::new();
    std::fs::create_dir(dir.path("tmp")).unwrap();
    let main_page = ok(ours(&dir, &["man"], &[]), "man");
    ok(ours(&dir, &["man", "pages"], &[]), "man pages");
    let committed = repo().join("docs/man");
    let list = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .map(|r| {
                r.map(|e| {
                    let e = e.unwrap();
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let generated = list(&dir.path("pages"));
    let main = generated
        .iter()
        .find(|(n, _)| n == "sops.1")
        .expect("sops.1");
    assert_eq!(show(&main.1), show(&main_page));
    assert!(generated.iter().any(|(n, _)| n == "sops-updatekeys.1"));
    assert!(generated.iter().any(|(n, _)| n == "sops-groups-add.1"));
    if std::env::var_os("UPDATE_MAN").is_some() {
        let _ = std::fs::remove_dir_all(&committed);
        std::fs::create_dir_all(&committed).unwrap();
        for (name, bytes) in &generated {
            std::fs::write(committed.join(name), bytes).unwrap();
        }
    }
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&list(&committed)),
        names(&generated),
        "run UPDATE_MAN=1 cargo test -p sops-cli --test workflows man_pages"
    );
    for ((name, a), (_, b)) in list(&committed).iter().zip(&generated) {
        assert_eq!(show(a), show(b), "docs/man/{name} is stale: run UPDATE_MAN=1 cargo test -p sops-cli --test workflows man_pages");
    }
}

// ---------------------------------------------------------------- helm-secrets

/// The command lines helm-secrets runs (its `scripts/lib/backends/sops.sh`), from the file's
/// directory, extra arguments such as `--verbose` first.
#[test]
fn helm_secrets_command_lines() {
    let dir = setup();
    std::fs::create_dir(dir.path("chart")).unwrap();
    std::fs::copy(dir.path("enc.yaml"), dir.path("chart/secrets.yaml")).unwrap();
    dir.write(
        "chart/.sops.yaml",
        format!("creation_rules:\n  - age: {RECIPIENT}\n"),
    );
    let in_chart = |args: &[&str], stdin: &[u8]| -> Output {
        let mut cmd = Command::new(our_sops());
        cmd.args(args)
            .current_dir(dir.path("chart"))
            .env_remove("SOPS_CONFIG")
            .env("HOME", dir.dir.path())
            .env("TMPDIR", dir.path("tmp"))
            .env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        let _ = i.write_all(stdin);
        drop(i);
        child.wait_with_output().unwrap()
    };
    // decrypt to stdout, with --verbose first
    let out = in_chart(
        &[
            "--verbose",
            "--decrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "secrets.yaml",
        ],
        b"",
    );
    assert!(show(&out.stderr).contains("Data key recovered successfully"));
    assert!(!show(&out.stderr).contains("hunter2"));
    assert_eq!(show(&ok(out, "decrypt")), PLAIN);
    // decrypt to a file
    ok(
        in_chart(
            &[
                "--decrypt",
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                "--output",
                "secrets.dec.yaml",
                "secrets.yaml",
            ],
            b"",
        ),
        "decrypt --output",
    );
    assert_eq!(text(&dir, "chart/secrets.dec.yaml"), PLAIN);
    // encrypt in place, keys from .sops.yaml
    ok(
        in_chart(
            &[
                "--encrypt",
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                "--in-place",
                "secrets.dec.yaml",
            ],
            b"",
        ),
        "encrypt --in-place",
    );
    assert_eq!(
        reference_decrypt(&dir, "chart/secrets.dec.yaml", "key1.txt"),
        PLAIN
    );
    // encrypt to --output
    dir.write("chart/p.yaml", "x: y\n");
    ok(
        in_chart(
            &[
                "--encrypt",
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                "--output",
                "p.enc.yaml",
                "p.yaml",
            ],
            b"",
        ),
        "encrypt --output",
    );
    assert_eq!(
        reference_decrypt(&dir, "chart/p.enc.yaml", "key1.txt"),
        "x: \"y\"\n"
    );
    // literals through stdin
    dir.write("lit.json", "{\"k\": \"v\"}");
    let enc = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "lit.json"]);
    let out = in_chart(
        &[
            "--decrypt",
            "--input-type",
            "json",
            "--output-type",
            "json",
            "/dev/stdin",
        ],
        &enc,
    );
    assert_eq!(
        show(&ok(out, "decrypt /dev/stdin")),
        "{\n\t\"k\": \"v\"\n}\n"
    );
    // edit, bare form
    let ed = editor(
        &dir,
        "chart-ed.sh",
        r#"sed -i 's/token: abc/token: helm/' "$1""#,
    );
    let mut cmd = Command::new(our_sops());
    let out = cmd
        .args([
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "secrets.yaml",
        ])
        .current_dir(dir.path("chart"))
        .env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"))
        .env("TMPDIR", dir.path("tmp"))
        .env_remove("SOPS_EDITOR")
        .env("EDITOR", &ed)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    ok(out, "edit");
    assert_eq!(
        reference_decrypt(&dir, "chart/secrets.yaml", "key1.txt"),
        PLAIN.replace("token: abc", "token: helm")
    );
    assert!(tmp_is_empty(&dir));
}

/// With a terminal on stdin (given by util-linux `script`), invalid content is reported and
/// the editor opens again after Enter.
#[test]
fn edit_invalid_content_with_terminal_reopens_the_editor() {
    let dir = setup();
    let marker = dir.path("ran");
    let ed = editor(
        &dir,
        "twice.sh",
        &format!(
            r#"if [ ! -f {m} ]; then touch {m}; echo "a: [" > "$1"; else sed -i 's/^a: \[$/fixed: yes/' "$1"; fi"#,
            m = marker.display()
        ),
    );
    let cmdline = format!("{} edit enc.yaml", our_sops().display());
    let mut child = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .current_dir(dir.dir.path())
        .env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"))
        .env("EDITOR", &ed)
        .env("TMPDIR", dir.path("tmp"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` is needed for this test");
    let mut stdin = child.stdin.take().unwrap();
    // Wait for the prompt's editor run, then press Enter.
    for _ in 0..200 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    use std::io::Write;
    stdin.write_all(b"\n").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let shown = show(&out.stdout);
    assert!(out.status.success(), "{shown}{}", show(&out.stderr));
    assert!(
        shown.contains("Press enter to return to the editor"),
        "{shown}"
    );
    assert_eq!(
        reference_decrypt(&dir, "enc.yaml", "key1.txt"),
        "fixed: \"yes\"\n"
    );
    assert!(tmp_is_empty(&dir));
}

#[test]
fn exec_env_same_process_and_user() {
    let dir = setup();
    dir.write("p.env", "X=from-file\n");
    let enc = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "p.env"]);
    dir.write("e.env", &enc);
    let out = ok(
        ours(
            &dir,
            &["exec-env", "--same-process", "e.env", "echo $X"],
            &[],
        ),
        "--same-process",
    );
    assert_eq!(show(&out), "from-file\n");
    let out = ours(
        &dir,
        &[
            "exec-env",
            "--same-process",
            "--background",
            "e.env",
            "true",
        ],
        &[],
    );
    assert_eq!(code(&out), 8);
    let root = Command::new("id").arg("-u").output().unwrap();
    if show(&root.stdout).trim() == "0" {
        let out = ok(
            ours(
                &dir,
                &["exec-env", "--user", "nobody", "e.env", "id -un; echo $X"],
                &[],
            ),
            "--user",
        );
        assert_eq!(show(&out), "nobody\nfrom-file\n");
    }
    let out = ours(
        &dir,
        &["exec-env", "--user", "no-such-user-here", "e.env", "true"],
        &[],
    );
    assert_eq!(code(&out), 1);
}
