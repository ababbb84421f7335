//! The age identity sources sops 3.12–3.13 added or changed: several keys in `SOPS_AGE_KEY`
//! (PR 2086), `SOPS_AGE_RECIPIENT` in the environment of `SOPS_AGE_KEY_CMD` (PR 2045) and
//! `SOPS_AGE_SSH_PRIVATE_KEY_CMD` (PR 2070). The reference sops 3.11 has none of these, so the
//! expected behaviour is taken from sops's v3.13.2 `age/keysource.go`: the commands run for
//! every age key being decrypted, with `SOPS_AGE_RECIPIENT` set to that key's `recipient`.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{our_sops, show, testdata, Dir, RECIPIENT};

const PLAIN: &str = "secret: value\nnum: 1\n";

/// A new age key pair from `age-keygen`: (recipient, secret key line).
fn keygen(dir: &Dir, name: &str) -> (String, String) {
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(dir.path(name))
        .output()
        .expect("age-keygen is missing (run scripts/test, which installs the age tools)");
    assert!(out.status.success(), "{}", show(&out.stderr));
    let text = show(&dir.read(name));
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    let secret = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    (recipient, secret)
}

fn test_secret() -> String {
    show(&std::fs::read(testdata("age-key.txt")).unwrap())
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string()
}

/// Decrypts `file` with our binary, without the test key file, with `envs`.
fn decrypt(dir: &Dir, file: &str, envs: &[(&str, &OsStr)]) -> std::process::Output {
    dir.run_env(&our_sops(), &["-d", file], "", envs, false)
}

/// The error text with the report's line wrapping and `|` margins removed.
fn flat(stderr: &[u8]) -> String {
    show(stderr)
        .split_whitespace()
        .filter(|w| *w != "|")
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_script(dir: &Dir, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.write(name, format!("#!/bin/sh\n{body}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn sops_age_key_holds_several_keys_separated_by_spaces_or_newlines() {
    let dir = Dir::new();
    let (r1, k1) = keygen(&dir, "k1.txt");
    let (r2, k2) = keygen(&dir, "k2.txt");
    dir.write("p.yaml", PLAIN);
    let enc = dir.ok(&our_sops(), &["-e", "--age", &r2, "p.yaml"]);
    dir.write("e.yaml", &enc);
    let test_key = test_secret();
    for value in [
        format!("{k1} {k2}"),
        format!("{k1}\t{k2}\n"),
        format!("# keys\n{test_key}\n  {k1}   {k2}  \n"),
        format!("{k1}\n{k2}"),
    ] {
        let out = decrypt(&dir, "e.yaml", &[("SOPS_AGE_KEY", OsStr::new(&value))]);
        assert!(out.status.success(), "{}", show(&out.stderr));
        assert_eq!(show(&out.stdout), PLAIN);
    }
    // Only SOPS_AGE_KEY splits words: a key file keeps one key per line.
    let f = dir.write("two-per-line.txt", format!("{k1} {k2}\n"));
    let out = decrypt(&dir, "e.yaml", &[("SOPS_AGE_KEY_FILE", f.as_os_str())]);
    assert!(!out.status.success());
    let err = flat(&out.stderr);
    assert!(err.contains("line 1 is not a valid age identity"), "{err}");
    assert!(
        !err.contains(&k2) && !err.contains(&k1),
        "secret in message: {err}"
    );
    let _ = r1;
}

#[test]
fn key_cmd_gets_the_recipient_being_decrypted() {
    let dir = Dir::new();
    let (r1, _k1) = keygen(&dir, "k1.txt");
    let (r2, k2) = keygen(&dir, "k2.txt");
    // The command logs the recipient it is asked for and prints the key of r2 only.
    let log = dir.path("asked.log");
    dir.write(&format!("{r2}.key"), format!("{k2}\n"));
    let script = write_script(
        &dir,
        "keycmd",
        &format!(
            "echo \"$SOPS_AGE_RECIPIENT\" >> '{log}'\n\
             f='{d}/'\"$SOPS_AGE_RECIPIENT\".key\n\
             if [ -f \"$f\" ]; then cat \"$f\"; fi\n",
            log = log.display(),
            d = dir.dir.path().display()
        ),
    );
    dir.write("p.yaml", PLAIN);
    let both = format!("{r1},{r2}");
    let enc = dir.ok(&our_sops(), &["-e", "--age", &both, "p.yaml"]);
    dir.write("e.yaml", &enc);
    let out = decrypt(&dir, "e.yaml", &[("SOPS_AGE_KEY_CMD", script.as_os_str())]);
    assert!(out.status.success(), "{}", show(&out.stderr));
    assert_eq!(show(&out.stdout), PLAIN);
    // Asked for r1 first (no key printed, the entry fails), then for r2, which works.
    assert_eq!(show(&std::fs::read(&log).unwrap()), format!("{r1}\n{r2}\n"));

    // With only r1 in the file, the command is asked for r1, prints nothing, and the report
    // names the key.
    std::fs::remove_file(&log).unwrap();
    let enc = dir.ok(&our_sops(), &["-e", "--age", &r1, "p.yaml"]);
    dir.write("e1.yaml", &enc);
    let out = decrypt(&dir, "e1.yaml", &[("SOPS_AGE_KEY_CMD", script.as_os_str())]);
    assert_eq!(out.status.code(), Some(128), "{}", show(&out.stderr));
    assert!(show(&out.stderr).contains(&r1), "{}", show(&out.stderr));
    assert_eq!(show(&std::fs::read(&log).unwrap()), format!("{r1}\n"));
}

fn ssh_keygen(dir: &Dir, name: &str, passphrase: &str) -> (std::path::PathBuf, String) {
    let key = dir.path(name);
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen is missing (run scripts/test, which installs openssh-client)");
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let public = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    (key, public)
}

#[test]
fn ssh_private_key_cmd() {
    let dir = Dir::new();
    let (key, public) = ssh_keygen(&dir, "id_test", "");
    let log = dir.path("asked.log");
    let script = |key: &Path| {
        write_script(
            &dir,
            "sshcmd",
            &format!(
                "echo \"$SOPS_AGE_RECIPIENT\" >> '{}'\ncat '{}'\n",
                log.display(),
                key.display()
            ),
        )
    };
    let cmd = script(&key);
    dir.write("p.yaml", PLAIN);
    let enc = dir.ok(&our_sops(), &["-e", "--age", &public, "p.yaml"]);
    dir.write("e.yaml", &enc);
    let out = decrypt(
        &dir,
        "e.yaml",
        &[("SOPS_AGE_SSH_PRIVATE_KEY_CMD", cmd.as_os_str())],
    );
    assert!(out.status.success(), "{}", show(&out.stderr));
    assert_eq!(show(&out.stdout), PLAIN);
    assert_eq!(show(&std::fs::read(&log).unwrap()), format!("{public}\n"));

    // A passphrase-protected key is refused with a clear reason.
    let (locked, locked_public) = ssh_keygen(&dir, "id_locked", "pass phrase");
    let cmd = script(&locked);
    let enc = dir.ok(&our_sops(), &["-e", "--age", &locked_public, "p.yaml"]);
    dir.write("e2.yaml", &enc);
    let out = decrypt(
        &dir,
        "e2.yaml",
        &[("SOPS_AGE_SSH_PRIVATE_KEY_CMD", cmd.as_os_str())],
    );
    assert_eq!(out.status.code(), Some(128));
    let err = flat(&out.stderr);
    assert!(
        err.contains("the SSH key printed by SOPS_AGE_SSH_PRIVATE_KEY_CMD is passphrase-protected"),
        "{err}"
    );

    // A failing command is reported and the other keys of the file still work.
    let both = format!("{public},{RECIPIENT}");
    let enc = dir.ok(&our_sops(), &["-e", "--age", &both, "p.yaml"]);
    dir.write("e3.yaml", &enc);
    let out = decrypt(
        &dir,
        "e3.yaml",
        &[
            ("SOPS_AGE_SSH_PRIVATE_KEY_CMD", OsStr::new("false")),
            ("SOPS_AGE_KEY_FILE", testdata("age-key.txt").as_os_str()),
        ],
    );
    assert!(out.status.success(), "{}", show(&out.stderr));
    assert_eq!(show(&out.stdout), PLAIN);
}
