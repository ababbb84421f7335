//! Command behaviour of sops 3.12–3.13.2 that the 3.11 reference cannot show: the expected
//! results come from sops's v3.13.2 source (the PR is named on each test), plus the key
//! service switch and `updatekeys --input-type`, checked against the reference where it can.

mod common;

use std::ffi::OsStr;

use common::{our_sops, reference_sops, show, Dir, RECIPIENT};

fn encrypted(dir: &Dir) {
    dir.write("p.yaml", "a: 1\nb: x\n");
    dir.ok(
        &our_sops(),
        &[
            "encrypt", "--age", RECIPIENT, "--output", "e.yaml", "p.yaml",
        ],
    );
}

/// `updatekeys --input-type yaml x.dat` writes the file back as YAML (sops uses the input
/// store for the output).
#[test]
fn updatekeys_keeps_the_input_type() {
    let dir = Dir::new();
    encrypted(&dir);
    std::fs::copy(dir.path("e.yaml"), dir.path("x.dat")).unwrap();
    let other = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    dir.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {RECIPIENT},{other}\n"),
    );
    dir.ok(
        &our_sops(),
        &["updatekeys", "-y", "--input-type", "yaml", "x.dat"],
    );
    let text = show(&dir.read("x.dat"));
    assert!(text.starts_with("a: ENC["), "{text}");
    assert!(text.contains(other), "{text}");
    let out = dir.ok(
        &reference_sops(),
        &[
            "-d",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "x.dat",
        ],
    );
    assert_eq!(show(&out), "a: 1\nb: x\n");
}

/// `updatekeys` with several files goes on after a failure and fails at the end with the
/// number of files it could not update (sops's main.go); with one file the error is the
/// file's own. Checked on both binaries.
#[test]
fn updatekeys_several_files_continues_after_a_failure() {
    let other = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    for bin in [reference_sops(), our_sops()] {
        let dir = Dir::new();
        encrypted(&dir);
        std::fs::copy(dir.path("e.yaml"), dir.path("a.yaml")).unwrap();
        std::fs::copy(dir.path("e.yaml"), dir.path("b.yaml")).unwrap();
        dir.write("plain.yaml", "x: 1\n");
        dir.write(
            ".sops.yaml",
            format!("creation_rules:\n  - age: {RECIPIENT},{other}\n"),
        );
        let out = dir.run(
            &bin,
            &[
                "updatekeys",
                "-y",
                "missing.yaml",
                "a.yaml",
                "plain.yaml",
                "b.yaml",
            ],
        );
        let stderr = show(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bin:?}: {stderr}");
        assert!(
            stderr.contains("failed updating 2 key(s)"),
            "{bin:?}: {stderr}"
        );
        for name in ["a.yaml", "b.yaml"] {
            assert!(
                show(&dir.read(name)).contains(other),
                "{bin:?}: {name} not updated"
            );
        }
        let one = dir.run(&bin, &["updatekeys", "-y", "plain.yaml"]);
        assert_eq!(one.status.code(), Some(1), "{bin:?}");
        assert!(!show(&one.stderr).contains("failed updating"), "{bin:?}");
    }
}

/// PR 2155: `exec-file --filename` must name a file inside the private directory.
#[test]
fn exec_file_refuses_non_local_filenames() {
    let dir = Dir::new();
    encrypted(&dir);
    for bad in ["../x", "/tmp/x", "a/../../x", ".."] {
        let out = dir.run(
            &our_sops(),
            &["exec-file", "--filename", bad, "e.yaml", "cat {}"],
        );
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert_eq!(
            show(&out.stderr).trim(),
            "The provided filename is not a local path.",
            "{bad}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = dir.ok(
        &our_sops(),
        &["exec-file", "--filename", "./v.yaml", "e.yaml", "cat {}"],
    );
    assert_eq!(show(&out), "a: 1\nb: x\n");
}

/// `--decryption-order` on exec-env and exec-file (sops 3.12).
#[test]
fn exec_commands_take_a_decryption_order() {
    let dir = Dir::new();
    encrypted(&dir);
    let out = dir.ok(
        &our_sops(),
        &[
            "exec-env",
            "--decryption-order",
            "pgp,age",
            "e.yaml",
            "echo $b",
        ],
    );
    assert_eq!(show(&out), "x\n");
    let out = dir.ok(
        &our_sops(),
        &["exec-file", "--decryption-order=age", "e.yaml", "cat {}"],
    );
    assert_eq!(show(&out), "a: 1\nb: x\n");
}

/// PRs 2154, 2194, 2230: `--user` runs the command with the user's uid, primary group,
/// supplementary groups, and HOME, USER, LOGNAME. Needs root (skipped otherwise).
#[test]
fn exec_user_switches_groups_and_environment() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let id = |args: &[&str]| -> String {
        let out = std::process::Command::new("id")
            .args(args)
            .output()
            .unwrap();
        show(&out.stdout).trim().to_string()
    };
    if id(&["-u", "nobody"]).is_empty() {
        eprintln!("skipped: no user nobody");
        return;
    }
    let dir = Dir::new();
    encrypted(&dir);
    let script = "echo $(id -u) $(id -g); id -G; echo $HOME $USER $LOGNAME $b";
    let expected = format!(
        "{} {}\n{}\n{} nobody nobody",
        id(&["-u", "nobody"]),
        id(&["-g", "nobody"]),
        id(&["-G", "nobody"]),
        home_of("nobody"),
    );
    for cmd in ["exec-env", "exec-file"] {
        let out = dir.ok(&our_sops(), &[cmd, "--user", "nobody", "e.yaml", script]);
        // Only exec-env puts the values into the environment.
        let value = if cmd == "exec-env" { " x" } else { "" };
        assert_eq!(show(&out), format!("{expected}{value}\n"), "{cmd}");
    }
}

fn home_of(user: &str) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&user))
        .and_then(|f| f.get(5).map(|s| s.to_string()))
        .unwrap_or_default()
}

/// PR 2098: `edit` refuses edited plaintext with a top-level `sops` key ("Tree not valid for
/// encryption"); sops returns to the editor, without a terminal we stop with the code
/// `encrypt` uses (203) and leave the file alone.
#[test]
fn edit_refuses_a_top_level_sops_key() {
    let dir = Dir::new();
    encrypted(&dir);
    let before = dir.read("e.yaml");
    dir.write(
        "editor.sh",
        "#!/bin/sh\nprintf 'a: 1\\nsops: x\\n' > \"$1\"\n",
    );
    let editor = dir.path("editor.sh");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = dir.run_env(
        &our_sops(),
        &["edit", "e.yaml"],
        "",
        &[("EDITOR", editor.as_os_str())],
        true,
    );
    assert_eq!(out.status.code(), Some(203), "{}", show(&out.stderr));
    assert!(show(&out.stderr).starts_with("Tree not valid for encryption: "));
    assert_eq!(dir.read("e.yaml"), before);
}

/// With the local key service disabled, no local key is used: every command that needs the
/// data key fails as `sops decrypt` does (128), encrypting fails as sops does (1), and no
/// file changes.
#[test]
fn disabled_local_keyservice_uses_no_local_key() {
    let dir = Dir::new();
    encrypted(&dir);
    let before = dir.read("e.yaml");
    let off = [("SOPS_ENABLE_LOCAL_KEYSERVICE", OsStr::new("false"))];
    for args in [
        &["decrypt", "e.yaml"][..],
        &["-d", "e.yaml"],
        &["rotate", "-i", "e.yaml"],
        &["set", "e.yaml", "[\"a\"]", "2"],
        &["unset", "e.yaml", "[\"a\"]"],
        &["exec-env", "e.yaml", "echo $b"],
        &["exec-file", "e.yaml", "cat {}"],
        &["edit", "e.yaml"],
    ] {
        let out = dir.run_env(&our_sops(), args, "", &off, true);
        assert_eq!(
            out.status.code(),
            Some(128),
            "{args:?}: {}",
            show(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(show(&out.stderr).contains("Failed to get the data key"));
        assert_eq!(dir.read("e.yaml"), before, "{args:?}");
    }
    // groups reports it with exit code 1, as sops does.
    let out = dir.run_env(
        &our_sops(),
        &[
            "groups", "add", "-i", "--file", "e.yaml", "--age", RECIPIENT,
        ],
        "",
        &off,
        true,
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out.stderr));
    assert_eq!(dir.read("e.yaml"), before);
    let out = dir.run_env(
        &our_sops(),
        &["encrypt", "--age", RECIPIENT, "p.yaml"],
        "",
        &off,
        true,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    // The flag wins over the variable.
    let out = dir.run_env(
        &our_sops(),
        &["decrypt", "--enable-local-keyservice=true", "e.yaml"],
        "",
        &off,
        true,
    );
    assert_eq!(show(&out.stdout), "a: 1\nb: x\n");
}

/// PR 2100: the global `--mac-only-encrypted` applies to `encrypt`.
#[test]
fn global_mac_only_encrypted_applies_to_encrypt() {
    let dir = Dir::new();
    dir.write("p.yaml", "a: 1\nb_unencrypted: x\n");
    let out = dir.ok(
        &our_sops(),
        &[
            "--mac-only-encrypted",
            "encrypt",
            "--age",
            RECIPIENT,
            "p.yaml",
        ],
    );
    assert!(
        show(&out).contains("mac_only_encrypted: true"),
        "{}",
        show(&out)
    );
    let out = dir.ok(&our_sops(), &["encrypt", "--age", RECIPIENT, "p.yaml"]);
    assert!(!show(&out).contains("mac_only_encrypted"));
}
