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
