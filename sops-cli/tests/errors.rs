//! Error paths: exit codes as sops's, clear messages naming the file, no secrets, no panics,
//! and tampering refused.

mod common;

use common::{our_sops, reference_sops, show, testdata, Dir, RECIPIENT};

fn encrypted_yaml(dir: &Dir) -> String {
    std::fs::copy(testdata("interop/basic.yaml"), dir.path("a.yaml")).unwrap();
    let enc = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "a.yaml"]);
    dir.write("enc.yaml", &enc);
    show(&enc)
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().expect("terminated by a signal")
}

#[test]
fn missing_file_is_100() {
    let dir = Dir::new();
    let out = dir.run(&our_sops(), &["-d", "nope.yaml"]);
    assert_eq!(code(&out), 100);
    assert!(show(&out.stderr).contains("cannot operate on non-existent file"));
}

#[test]
fn no_key_is_128_and_names_the_recipient() {
    let dir = Dir::new();
    encrypted_yaml(&dir);
    let out = dir.run_without_key(&our_sops(), &["-d", "enc.yaml"]);
    assert_eq!(code(&out), 128);
    let err = show(&out.stderr);
    assert!(err.contains("Failed to get the data key"), "{err}");
    assert!(err.contains(RECIPIENT), "{err}");
}

#[test]
fn plaintext_file_has_no_metadata() {
    let dir = Dir::new();
    dir.write("p.yaml", "a: 1\n");
    let out = dir.run(&our_sops(), &["-d", "p.yaml"]);
    assert_eq!(code(&out), 1);
    assert!(show(&out.stderr).contains("sops metadata not found"));
}

#[test]
fn encrypting_twice_is_203() {
    let dir = Dir::new();
    encrypted_yaml(&dir);
    let out = dir.run(&our_sops(), &["-e", "--age", RECIPIENT, "enc.yaml"]);
    assert_eq!(code(&out), 203);
}

#[test]
fn conflicting_selectors_are_8() {
    let dir = Dir::new();
    dir.write("p.yaml", "a: 1\n");
    let out = dir.run(
        &our_sops(),
        &[
            "-e",
            "--age",
            RECIPIENT,
            "--encrypted-regex",
            "a",
            "--unencrypted-regex",
            "b",
            "p.yaml",
        ],
    );
    assert_eq!(code(&out), 8);
}

#[test]
fn tampered_value_is_25_and_mac_is_51() {
    let dir = Dir::new();
    let enc = encrypted_yaml(&dir);
    // Swap the ciphertext of two values: authentic data, wrong place.
    let lines: Vec<&str> = enc.lines().collect();
    let pw = lines
        .iter()
        .position(|l| l.trim_start().starts_with("password:"))
        .unwrap();
    let host = lines
        .iter()
        .position(|l| l.trim_start().starts_with("host:"))
        .unwrap();
    let mut swapped: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let value = |l: &str| l.split_once(": ").unwrap().1.to_string();
    swapped[pw] = format!("    password: {}", value(lines[host]));
    dir.write("swapped.yaml", swapped.join("\n") + "\n");
    let out = dir.run(&our_sops(), &["-d", "swapped.yaml"]);
    assert_eq!(code(&out), 25, "{}", show(&out.stderr));
    assert!(out.stdout.is_empty());

    let mac_line = lines
        .iter()
        .position(|l| l.trim_start().starts_with("mac:"))
        .unwrap();
    let mut tampered: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    tampered[mac_line] = tampered[mac_line].replacen("data:", "data:A", 1);
    dir.write("mac.yaml", tampered.join("\n") + "\n");
    let out = dir.run(&our_sops(), &["-d", "mac.yaml"]);
    assert_eq!(code(&out), 51, "{}", show(&out.stderr));
    assert!(out.stdout.is_empty());

    // A changed plaintext value: MAC mismatch, unless --ignore-mac.
    let t = lines
        .iter()
        .position(|l| l.contains("timeout_unencrypted"))
        .unwrap();
    let mut changed: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    changed[t] = "    timeout_unencrypted: 31".into();
    dir.write("changed.yaml", changed.join("\n") + "\n");
    let out = dir.run(&our_sops(), &["-d", "changed.yaml"]);
    assert_eq!(code(&out), 51, "{}", show(&out.stderr));
    assert!(show(&out.stderr).contains("MAC mismatch"));
    let out = dir.run(&our_sops(), &["-d", "--ignore-mac", "changed.yaml"]);
    assert_eq!(code(&out), 0, "{}", show(&out.stderr));
}

#[test]
fn type_confusion_never_prints_the_secret() {
    let dir = Dir::new();
    let enc = encrypted_yaml(&dir);
    let line = enc.lines().find(|l| l.contains("password:")).unwrap();
    let tampered = enc.replacen(line, &line.replace("type:str", "type:int"), 1);
    dir.write("t.yaml", tampered);
    let out = dir.run(&our_sops(), &["-d", "t.yaml"]);
    assert_ne!(code(&out), 0);
    assert!(
        !show(&out.stderr).contains("hunter2"),
        "{}",
        show(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn extract_paths() {
    let dir = Dir::new();
    encrypted_yaml(&dir);
    for path in [
        r#"["database"]["password"]"#,
        r#"["database"]["port"]"#,
        r#"["database"]["replicas"][1]"#,
        r#"["list"]"#,
    ] {
        let ours = dir.ok(&our_sops(), &["-d", "--extract", path, "enc.yaml"]);
        let reference = dir.ok(&reference_sops(), &["-d", "--extract", path, "enc.yaml"]);
        assert_eq!(show(&ours), show(&reference), "{path}");
    }
    assert_eq!(
        code(&dir.run(&our_sops(), &["-d", "--extract", "bad", "enc.yaml"])),
        91
    );
    assert_eq!(
        code(&dir.run(&our_sops(), &["-d", "--extract", "][", "enc.yaml"])),
        91
    );
    assert_eq!(
        code(&dir.run(&our_sops(), &["-d", "--extract", "[-1]", "enc.yaml"])),
        91
    );
    assert_eq!(
        code(&dir.run(&our_sops(), &["-d", "--extract", r#"["nope"]"#, "enc.yaml"])),
        1
    );
    assert_eq!(
        code(&dir.run(
            &our_sops(),
            &["-d", "--extract", r#"["empty"]["x"]"#, "enc.yaml"]
        )),
        1
    );
}

#[test]
fn in_place_and_output_write_atomically() {
    let dir = Dir::new();
    dir.write("p.yaml", "secret: value\n");
    dir.ok(&our_sops(), &["-e", "-i", "--age", RECIPIENT, "p.yaml"]);
    assert!(show(&dir.read("p.yaml")).contains("secret: ENC["));
    dir.ok(&our_sops(), &["-d", "--output", "out.yaml", "p.yaml"]);
    assert_eq!(show(&dir.read("out.yaml")), "secret: value\n");
    let names: Vec<String> = std::fs::read_dir(dir.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(".config"))
        .collect();
    assert!(names.iter().all(|n| !n.contains("sops-tmp")), "{names:?}");
}

#[test]
fn version_line_for_ansible() {
    // We follow sops 3.13.2 (the reference binary of the tests is 3.11.0, which prints
    // `sops 3.11.0`); Ansible's community.sops reads the first two words.
    let out = Dir::new().ok(&our_sops(), &["--version", "--disable-version-check"]);
    assert!(
        show(&out).starts_with("sops 3.13.2 (sops-rs "),
        "{}",
        show(&out)
    );
    let short = Dir::new().ok(&our_sops(), &["-v"]);
    assert_eq!(short, out);
}

#[test]
fn filestatus() {
    let dir = Dir::new();
    encrypted_yaml(&dir);
    assert_eq!(
        show(&dir.ok(&our_sops(), &["filestatus", "enc.yaml"])),
        "{\"encrypted\":true}\n"
    );
    assert_eq!(
        show(&dir.ok(&our_sops(), &["filestatus", "a.yaml"])),
        "{\"encrypted\":false}\n"
    );
}

#[test]
fn age_keygen_key_through_every_identity_source() {
    let dir = Dir::new();
    let status = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(dir.path("k.txt"))
        .output()
        .expect("age-keygen is missing (run scripts/test, which installs the age tools)");
    assert!(status.status.success());
    let keyfile = show(&dir.read("k.txt"));
    let recipient = keyfile
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    let secret = keyfile
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    dir.write("p.yaml", "a: b\n");
    let enc = dir.ok(&our_sops(), &["-e", "--age", &recipient, "p.yaml"]);
    dir.write("e.yaml", &enc);
    let run = |env: (&str, String)| {
        let out = std::process::Command::new(our_sops())
            .args(["-d", "e.yaml"])
            .current_dir(dir.dir.path())
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY")
            .env("HOME", dir.dir.path())
            .env("XDG_CONFIG_HOME", dir.path("cfg"))
            .env(env.0, env.1)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out.stderr));
        assert_eq!(show(&out.stdout), "a: b\n");
    };
    run(("SOPS_AGE_KEY", secret.clone()));
    run(("SOPS_AGE_KEY_FILE", dir.path("k.txt").display().to_string()));
    run((
        "SOPS_AGE_KEY_CMD",
        format!("cat {}", dir.path("k.txt").display()),
    ));
    std::fs::create_dir_all(dir.path("cfg/sops/age")).unwrap();
    std::fs::copy(dir.path("k.txt"), dir.path("cfg/sops/age/keys.txt")).unwrap();
    run(("UNUSED", String::new()));
}
