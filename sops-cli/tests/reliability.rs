//! Crash safety of file writes: `sops -e -i` and `sops -d --output` are killed at every
//! failpoint of the atomic write (`SOPS_RS_TEST_FAILPOINT`) and at random moments, and the
//! target must always be the old file or the complete new one, with no plaintext left beside it.

mod common;

use common::{our_sops, testdata, Dir, RECIPIENT};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The secret of the test input: it must never be found outside the plaintext target.
const SECRET: &str = "s3cr3t-never-on-disk";

fn plaintext() -> String {
    let mut s = format!("password: {SECRET}\nlist:\n");
    // Big enough that the write takes a measurable moment.
    for i in 0..2000 {
        s.push_str(&format!("    - item-{i}-{SECRET}\n"));
    }
    s
}

fn spawn(dir: &Dir, args: &[&str], failpoint: Option<&str>) -> Child {
    let mut cmd = Command::new(our_sops());
    cmd.args(args)
        .current_dir(dir.dir.path())
        .env_remove("SOPS_CONFIG")
        .env_remove("SOPS_AGE_KEY")
        .env("HOME", dir.dir.path())
        .env("XDG_CONFIG_HOME", dir.dir.path().join(".config"))
        .env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match failpoint {
        Some(fp) => cmd.env("SOPS_RS_TEST_FAILPOINT", fp),
        None => cmd.env_remove("SOPS_RS_TEST_FAILPOINT"),
    };
    cmd.spawn().unwrap()
}

/// Other files in the directory besides `keep`.
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    v.sort();
    v
}

fn decrypts_to(dir: &Dir, name: &str, expected: &str) -> bool {
    let out = dir.run(&our_sops(), &["-d", name]);
    out.status.success() && out.stdout == expected.as_bytes()
}

/// After a killed `sops -e -i secrets.yaml`: the file is the old plaintext or a complete
/// encrypted file, and any leftover temp file holds no plaintext.
fn check_encrypt_in_place(dir: &Dir, plain: &str) -> &'static str {
    let now = String::from_utf8_lossy(&dir.read("secrets.yaml")).into_owned();
    let state = if now == plain {
        "old"
    } else {
        assert!(
            decrypts_to(dir, "secrets.yaml", plain),
            "target is neither the old nor a complete new file ({} bytes)",
            now.len()
        );
        assert!(!now.contains(SECRET));
        "new"
    };
    for leftover in others(dir.dir.path(), &["secrets.yaml"]) {
        assert!(
            leftover.starts_with(".secrets.yaml.") && leftover.ends_with(".sops-tmp"),
            "unexpected file {leftover}"
        );
        let bytes = dir.read(&leftover);
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "plaintext in leftover temp file {leftover}"
        );
        std::fs::remove_file(dir.path(&leftover)).unwrap();
    }
    state
}

/// After a killed `sops -d --output out.yaml enc.yaml`: `out.yaml` is absent, the old
/// content, or the complete plaintext; nothing but our own temp file may be beside it.
fn check_decrypt_output(dir: &Dir, plain: &str) -> &'static str {
    let state = match std::fs::read(dir.path("out.yaml")) {
        Err(_) => "absent",
        Ok(b) if b == b"old output\n" => "old",
        Ok(b) => {
            assert_eq!(String::from_utf8_lossy(&b), plain, "truncated output");
            "new"
        }
    };
    for leftover in others(dir.dir.path(), &["out.yaml", "enc.yaml"]) {
        // The requested output is plaintext, so its temp file may be too; it is private
        // to the same directory and cleaned up here.
        assert!(
            leftover.starts_with(".out.yaml.") && leftover.ends_with(".sops-tmp"),
            "unexpected file {leftover}"
        );
        std::fs::remove_file(dir.path(&leftover)).unwrap();
    }
    state
}

#[test]
fn killed_at_each_failpoint_leaves_old_or_new_file() {
    let plain = plaintext();
    let mut tried = 0;
    for fp in sops_core::atomic::FAILPOINTS {
        // encrypt -i, aborted at the failpoint
        let dir = Dir::new();
        dir.write("secrets.yaml", &plain);
        let status = spawn(
            &dir,
            &["-e", "-i", "--age", RECIPIENT, "secrets.yaml"],
            Some(fp),
        )
        .wait()
        .unwrap();
        assert!(!status.success(), "{fp}: the failpoint did not fire");
        let state = check_encrypt_in_place(&dir, &plain);
        let expected = if fp == "after-rename" { "new" } else { "old" };
        assert_eq!(state, expected, "encrypt -i aborted at {fp}");
        tried += 1;

        // decrypt --output, aborted at the failpoint, with and without an old output
        for old in [false, true] {
            let dir = Dir::new();
            dir.write("in.yaml", &plain);
            let enc = dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, "in.yaml"]);
            std::fs::remove_file(dir.path("in.yaml")).unwrap();
            dir.write("enc.yaml", &enc);
            if old {
                dir.write("out.yaml", "old output\n");
            }
            let status = spawn(&dir, &["-d", "--output", "out.yaml", "enc.yaml"], Some(fp))
                .wait()
                .unwrap();
            assert!(!status.success(), "{fp}: the failpoint did not fire");
            let state = check_decrypt_output(&dir, &plain);
            let expected = match (fp == "after-rename", old) {
                (true, _) => "new",
                (false, true) => "old",
                (false, false) => "absent",
            };
            assert_eq!(state, expected, "decrypt --output aborted at {fp}");
            tried += 1;
        }
    }
    eprintln!("failpoint kills tried: {tried}");
}

#[test]
fn sigkill_while_sleeping_at_each_failpoint() {
    let plain = plaintext();
    for fp in sops_core::atomic::FAILPOINTS {
        let dir = Dir::new();
        dir.write("secrets.yaml", &plain);
        let spec = format!("{fp}=sleep:5000");
        let mut child = spawn(
            &dir,
            &["-e", "-i", "--age", RECIPIENT, "secrets.yaml"],
            Some(&spec),
        );
        // Wait until the temp file exists (or the rename happened), then SIGKILL.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let temp = !others(dir.dir.path(), &["secrets.yaml"]).is_empty();
            let renamed = !String::from_utf8_lossy(&dir.read("secrets.yaml")).contains(SECRET);
            if temp || renamed {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        child.kill().unwrap();
        child.wait().unwrap();
        check_encrypt_in_place(&dir, &plain);
    }
}

/// A tiny deterministic generator (no extra dependency) for kill delays.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn sigkill_at_random_moments() {
    let plain = plaintext();
    // How long one encrypt takes here, to spread the kills over its whole run.
    let dir = Dir::new();
    dir.write("secrets.yaml", &plain);
    let t = Instant::now();
    assert!(spawn(
        &dir,
        &["-e", "-i", "--age", RECIPIENT, "secrets.yaml"],
        None
    )
    .wait()
    .unwrap()
    .success());
    let span = (t.elapsed().as_micros() as u64).max(1000) * 12 / 10;
    let enc = dir.read("secrets.yaml");

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    let mut states = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut rounds = 0;
    while rounds < 50 && Instant::now() < deadline {
        rounds += 1;
        // Most of a run is start-up and key unwrapping: aim at its second half.
        let delay = Duration::from_micros(span * 4 / 10 + rng.next(span * 8 / 10));
        if rounds % 2 == 0 {
            let dir = Dir::new();
            dir.write("secrets.yaml", &plain);
            let mut child = spawn(
                &dir,
                &["-e", "-i", "--age", RECIPIENT, "secrets.yaml"],
                None,
            );
            std::thread::sleep(delay);
            let _ = child.kill();
            child.wait().unwrap();
            *states
                .entry(("encrypt -i", check_encrypt_in_place(&dir, &plain)))
                .or_insert(0) += 1;
        } else {
            let dir = Dir::new();
            dir.write("enc.yaml", &enc);
            dir.write("out.yaml", "old output\n");
            let mut child = spawn(&dir, &["-d", "--output", "out.yaml", "enc.yaml"], None);
            std::thread::sleep(delay);
            let _ = child.kill();
            child.wait().unwrap();
            *states
                .entry(("decrypt --output", check_decrypt_output(&dir, &plain)))
                .or_insert(0) += 1;
        }
    }
    eprintln!("random kills (seed {seed}, span {span} us): {rounds} rounds, outcomes {states:?}");
    assert!(rounds >= 10);
}

/// One-byte flips through the binary: every changed file either fails with a non-zero exit
/// and an empty stdout, or (for the few harmless changes, like a recipient label) prints
/// exactly the original plaintext.
#[test]
fn tampered_files_fail_with_empty_stdout() {
    let dir = Dir::new();
    let mut report = Vec::new();
    for (name, ext, step) in [
        ("sample.yaml", "yaml", 23),
        ("sample.json", "json", 19),
        ("reliability/sample.enc.env", "env", 17),
        ("reliability/sample.enc.ini", "ini", 17),
    ] {
        let original = std::fs::read(testdata(name)).unwrap();
        let target = format!("t.{ext}");
        dir.write(&target, &original);
        let expected = dir.ok(&our_sops(), &["-d", &target]);
        let (mut tried, mut refused) = (0, 0);
        for i in (0..original.len()).step_by(step) {
            if original[i] == b'\n' || original[i] ^ 0x01 == b'\n' || unprotected(&original, i) {
                continue;
            }
            let mut bytes = original.clone();
            bytes[i] ^= 0x01;
            dir.write(&target, &bytes);
            let out = dir.run(&our_sops(), &["-d", &target]);
            assert!(out.status.code().is_some(), "killed by a signal");
            tried += 1;
            if out.status.success() {
                assert_eq!(
                    common::show(&out.stdout),
                    common::show(&expected),
                    "{name}: flip at byte {i} accepted"
                );
            } else {
                assert!(out.stdout.is_empty(), "{name}: stdout after a refusal");
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    !err.contains("hunter2") && !err.contains("panicked"),
                    "{err}"
                );
                refused += 1;
            }
        }
        report.push(format!("{name}: {tried} tried, {refused} refused"));
    }
    eprintln!("CLI flips: {}", report.join("; "));
}

/// True if byte `i` is on a line the sops format does not authenticate (see SECURITY.md):
/// the recipient label, a still-valid version, keys of values that are not encrypted.
fn unprotected(bytes: &[u8], i: usize) -> bool {
    let start = bytes[..i]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let end = bytes[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| i + p);
    let line = String::from_utf8_lossy(&bytes[start..end]);
    let t = line.trim();
    ["recipient", "version", "_unencrypted"]
        .iter()
        .any(|w| t.contains(w))
        || [": \"\"", ": null", "=", ": {}", ": []"]
            .iter()
            .any(|v| t.trim_end_matches(',').ends_with(v))
}

/// Hostile files and paths through the binary, next to the reference sops: our exit code is
/// sops's where sops has one; where sops panics (exit 2 with a goroutine dump) ours is the code
/// sops uses for that kind of error. Never a signal, never a panic, stdout empty, no plaintext
/// in the message, and the message names the file (or the path for `--extract`).
#[test]
fn hostile_inputs_through_the_binary() {
    let yaml = String::from_utf8(std::fs::read(testdata("sample.yaml")).unwrap()).unwrap();
    let json = String::from_utf8(std::fs::read(testdata("sample.json")).unwrap()).unwrap();
    let bin =
        String::from_utf8(std::fs::read(testdata("reliability/sample.enc.bin")).unwrap()).unwrap();
    let sops_at = yaml.find("\nsops:").unwrap() + 1;
    let replace_line = |text: &str, key: &str, value: &str| {
        let at = text.find(key).unwrap() + key.len();
        let end = at + text[at..].find(['\n', ',']).unwrap();
        format!("{}{value}{}", &text[..at], &text[end..])
    };
    // (label, file name, content, extra args, our expected code when sops panics or accepts)
    let cases: Vec<(&str, &str, String, Vec<&str>, i32)> = vec![
        (
            "plain int where ENC is expected",
            "a.yaml",
            replace_line(&yaml, "    password: ", "5"),
            vec![],
            25,
        ),
        (
            "extra YAML document",
            "a.yaml",
            format!("{yaml}---\nextra: document\n"),
            vec![],
            51,
        ),
        (
            "two sops keys",
            "a.json",
            json.replacen("\n\t\"sops\": {", "\n\t\"sops\": {},\n\t\"sops\": {", 1),
            vec![],
            1,
        ),
        (
            "binary data 5",
            "a.bin",
            replace_line(&bin, "\"data\": ", "5"),
            vec![],
            1,
        ),
        (
            "extract into a scalar",
            "a.yaml",
            yaml.clone(),
            vec!["--extract", "[\"database\"][\"host\"][\"x\"]"],
            1,
        ),
        (
            "extract negative index",
            "a.yaml",
            yaml.clone(),
            vec!["--extract", "[\"list\"][-1]"],
            91,
        ),
        (
            "extract ][",
            "a.yaml",
            yaml.clone(),
            vec!["--extract", "]["],
            91,
        ),
        (
            "truncated",
            "a.yaml",
            yaml[..yaml.len() / 2].to_string(),
            vec![],
            1,
        ),
        (
            "no sops block",
            "a.yaml",
            yaml[..sops_at].to_string(),
            vec![],
            1,
        ),
        (
            "garbage version",
            "a.yaml",
            yaml.replace("version: 3.11.0", "version: x.y"),
            vec![],
            1,
        ),
        (
            "str retagged int",
            "a.yaml",
            yaml.replace("type:str]", "type:int]"),
            vec![],
            25,
        ),
        (
            "bad base64",
            "a.yaml",
            yaml.replacen("data:", "data:!", 1),
            vec![],
            25,
        ),
        (
            "short iv",
            "a.yaml",
            replace_line(&yaml, "iv:", "AAAA"),
            vec![],
            25,
        ),
        (
            "unknown type",
            "a.yaml",
            yaml.replacen("type:str]", "type:secret]", 1),
            vec![],
            25,
        ),
        (
            "NUL byte",
            "a.yaml",
            yaml.replacen("database", "data\0base", 1),
            vec![],
            1,
        ),
        (
            "invalid UTF-8",
            "a.json",
            json.replacen("\"name\"", "\"n\u{80}me\"", 1)
                .replace('\u{80}', "\u{0}"),
            vec![],
            1,
        ),
    ];
    let dir = Dir::new();
    let mut report = Vec::new();
    let mut mismatches = Vec::new();
    for (label, name, content, extra, panic_code) in cases {
        dir.write(name, &content);
        let mut args = vec!["-d"];
        args.extend(extra.iter().copied());
        args.push(name);
        let ours = dir.run(&our_sops(), &args);
        let theirs = dir.run(&common::reference_sops(), &args);
        let err = String::from_utf8_lossy(&ours.stderr);
        let their_err = String::from_utf8_lossy(&theirs.stderr);
        let code = ours
            .status
            .code()
            .unwrap_or_else(|| panic!("{label}: killed by a signal"));
        assert_ne!(code, 0, "{label}: accepted");
        assert!(ours.stdout.is_empty(), "{label}: stdout not empty");
        assert!(!err.contains("panicked"), "{label}: {err}");
        for secret in ["hunter2", "db.example.com"] {
            assert!(!err.contains(secret), "{label}: plaintext in {err}");
        }
        let names_place = err.contains(name)
            || (!extra.is_empty() && (err.contains("component") || err.contains("path")));
        assert!(
            names_place,
            "{label}: message names neither file nor path: {err}"
        );
        let sops_panicked = their_err.contains("goroutine ") || their_err.contains("panic:");
        // sops exits 0 on a tampered encrypted comment (it prints it as a plain one): we
        // refuse it, with the code of a value that does not decrypt.
        let sops_accepted = theirs.status.success();
        let expected = if sops_panicked || sops_accepted {
            panic_code
        } else {
            theirs.status.code().unwrap_or(-1)
        };
        report.push(format!(
            "{label}: ours {code}, sops {:?}{}",
            theirs.status.code(),
            if sops_panicked {
                " (panic)"
            } else if sops_accepted {
                " (sops accepts the tampered comment)"
            } else {
                ""
            }
        ));
        if code != expected {
            mismatches.push(format!(
                "{label}: ours {code}, expected {expected}: {err}\nsops said: {their_err}"
            ));
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// A new output file gets 0666 less the umask (as sops's `os.Create`), so `umask 077` keeps a
/// decrypted file private; an existing file keeps its mode.
#[test]
fn new_output_files_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new();
    dir.write("in.yaml", "password: hunter2\n");
    let enc = dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, "in.yaml"]);
    dir.write("enc.yaml", &enc);
    let mode = |name: &str| {
        std::fs::metadata(dir.path(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for (umask, name, expected) in [
        ("077", "private.yaml", 0o600),
        ("022", "shared.yaml", 0o644),
    ] {
        let script = format!("umask {umask} && exec \"$0\" -d --output {name} enc.yaml",);
        let status = Command::new("sh")
            .args(["-c", &script])
            .arg(our_sops())
            .current_dir(dir.dir.path())
            .env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"))
            .env("HOME", dir.dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(mode(name), expected, "umask {umask}");
    }
    // An existing file keeps its mode whatever the umask.
    std::fs::set_permissions(
        dir.path("private.yaml"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let status = Command::new("sh")
        .args([
            "-c",
            "umask 000 && exec \"$0\" -d --output private.yaml enc.yaml",
        ])
        .arg(our_sops())
        .current_dir(dir.dir.path())
        .env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"))
        .env("HOME", dir.dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(mode("private.yaml"), 0o640);
}
