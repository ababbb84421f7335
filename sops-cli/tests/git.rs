//! Encrypted files in git: `merge-driver` and `textconv` run by a real git, set up as the
//! README says; `encrypt --keep-ciphertext-from`; `check`; `updatekeys`/`rotate --recursive`.
//! Merged files are read back by the reference sops.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{our_sops, reference_sops, show, testdata, Dir, RECIPIENT};

/// The second test recipient (`testdata/workflows/age-key2.txt`).
const RECIPIENT2: &str = "age1w3wucutze2numkjnfcxkgdfq699wyvk4s4j36tl7h2ftn63trarsfwyc32";

const PLAIN_YAML: &str = "\
db:
    user: admin
    password: hunter2
    port: 5432
# the token
token: abc
hosts:
    - a.example
    - b.example
";

/// A git repository in a temporary directory, configured as README's "Working with git"
/// says, with both test keys available.
struct Repo {
    dir: Dir,
}

impl Repo {
    fn new() -> Repo {
        let dir = Dir::new();
        let k1 = std::fs::read_to_string(testdata("age-key.txt")).unwrap();
        let k2 = std::fs::read_to_string(testdata("workflows/age-key2.txt")).unwrap();
        std::fs::create_dir(dir.path("keys")).unwrap();
        dir.write("keys/both.txt", format!("{k1}\n{k2}"));
        dir.write("keys/two.txt", k2);
        std::fs::create_dir(dir.path("repo")).unwrap();
        let repo = Repo { dir };
        let sops = our_sops();
        let sops = sops.to_str().unwrap();
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "test@example.com"]);
        repo.git(&["config", "user.name", "test"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo.git(&[
            "config",
            "merge.sops.driver",
            &format!("{sops} merge-driver %O %A %B %P"),
        ]);
        repo.git(&["config", "diff.sops.textconv", &format!("{sops} textconv")]);
        repo.write(
            ".gitattributes",
            "*.enc.yaml merge=sops diff=sops\n*.enc.json merge=sops diff=sops\n*.enc.env merge=sops diff=sops\n*.enc.ini merge=sops diff=sops\n",
        );
        repo
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path("repo").join(name)
    }

    fn write(&self, name: &str, text: impl AsRef<[u8]>) {
        std::fs::write(self.path(name), text).unwrap();
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    fn command(&self, bin: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(args).current_dir(self.dir.path("repo"));
        for var in [
            "SOPS_AGE_KEY",
            "SOPS_AGE_RECIPIENTS",
            "SOPS_CONFIG",
            "SOPS_DECRYPTION_ORDER",
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.dir.path(""))
            .env("XDG_CONFIG_HOME", self.dir.path(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_PAGER", "cat")
            .env("SOPS_AGE_KEY_FILE", self.dir.path("keys/both.txt"))
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, bin: &Path, args: &[&str], envs: &[(&str, &OsStr)]) -> Output {
        let mut cmd = self.command(bin, args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn git_out(&self, args: &[&str]) -> Output {
        self.run(Path::new("git"), args, &[])
    }

    fn git(&self, args: &[&str]) -> String {
        let out = self.git_out(args);
        assert!(
            out.status.success(),
            "git {args:?} failed:\n{}{}",
            show(&out.stdout),
            show(&out.stderr)
        );
        show(&out.stdout)
    }

    fn ok(&self, bin: &Path, args: &[&str]) -> Vec<u8> {
        let out = self.run(bin, args, &[]);
        assert!(
            out.status.success(),
            "{} {args:?} failed ({:?}):\n{}",
            bin.display(),
            out.status.code(),
            show(&out.stderr)
        );
        out.stdout
    }

    fn sops(&self, args: &[&str]) -> Vec<u8> {
        self.ok(&our_sops(), args)
    }

    fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    /// `name` encrypted by the reference sops from `plain` for the first test key, committed
    /// on `main`.
    fn start(&self, name: &str, plain: &str) {
        let plain_name = format!("plain.{}", name.rsplit('.').next().unwrap());
        self.write(&plain_name, plain);
        let enc = self.ok(
            &reference_sops(),
            &[
                "-e",
                "--age",
                RECIPIENT,
                "--filename-override",
                name,
                &plain_name,
            ],
        );
        std::fs::remove_file(self.path(&plain_name)).unwrap();
        self.write(name, enc);
        self.commit("base");
    }

    /// The plaintext as the reference sops decrypts it.
    fn reference_decrypt(&self, name: &str) -> String {
        show(&self.ok(&reference_sops(), &["-d", name]))
    }
}

/// The keys of the lines a raw diff changes (`-`/`+` lines, headers excluded).
fn changed_keys(diff: &str) -> Vec<String> {
    let mut keys: Vec<String> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .map(|l| {
            let body = l[1..].trim().trim_start_matches('"');
            body.split([':', '=', '"'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[test]
fn merge_driver_merges_yaml_changes_to_different_values() {
    let r = Repo::new();
    r.start("secrets.enc.yaml", PLAIN_YAML);
    r.git(&["checkout", "-q", "-b", "theirs"]);
    r.sops(&["set", "secrets.enc.yaml", r#"["token"]"#, r#""xyz""#]);
    r.commit("theirs: token");
    r.git(&["checkout", "-q", "main"]);
    r.sops(&[
        "set",
        "secrets.enc.yaml",
        r#"["db"]["password"]"#,
        r#""s3cret""#,
    ]);
    r.commit("ours: password");
    let ours = r.read("secrets.enc.yaml");
    let out = r.git_out(&["merge", "-q", "--no-edit", "theirs"]);
    assert!(out.status.success(), "{}", show(&out.stderr));
    assert_eq!(
        r.reference_decrypt("secrets.enc.yaml"),
        PLAIN_YAML
            .replace("hunter2", "s3cret")
            .replace("token: abc", "token: xyz")
    );
    // The merge commit changes only the merged value, lastmodified and the MAC.
    let diff = r.git(&[
        "diff",
        "--no-textconv",
        "HEAD^1",
        "HEAD",
        "--",
        "secrets.enc.yaml",
    ]);
    let keys = changed_keys(&diff);
    assert!(
        keys.iter()
            .all(|k| ["token", "lastmodified", "mac"].contains(&k.as_str())),
        "{keys:?}\n{diff}"
    );
    assert!(keys.contains(&"token".to_string()), "{diff}");
    // CURRENT's other ciphertexts are untouched.
    let merged = show(&r.read("secrets.enc.yaml"));
    let line = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap()
            .to_string()
    };
    let ours = show(&ours);
    for key in ["password:", "user:", "port:", "- ENC", "#ENC"] {
        assert_eq!(line(&merged, key), line(&ours, key));
    }
    // textconv: `git log -p` shows plaintext.
    let log = r.git(&["log", "-p", "-1", "theirs", "--", "secrets.enc.yaml"]);
    assert!(log.contains("-token: abc\n+token: xyz\n"), "{log}");
    assert!(!log.contains("ENC["), "{log}");
}

#[test]
fn merge_driver_conflict_lists_paths_and_leaves_current_alone() {
    let r = Repo::new();
    r.start("secrets.enc.yaml", PLAIN_YAML);
    r.git(&["checkout", "-q", "-b", "theirs"]);
    r.sops(&[
        "set",
        "secrets.enc.yaml",
        r#"["db"]["password"]"#,
        r#""theirs-pw""#,
    ]);
    r.sops(&["set", "secrets.enc.yaml", r#"["token"]"#, r#""same""#]);
    r.commit("theirs");
    r.git(&["checkout", "-q", "main"]);
    r.sops(&[
        "set",
        "secrets.enc.yaml",
        r#"["db"]["password"]"#,
        r#""ours-pw""#,
    ]);
    r.sops(&["set", "secrets.enc.yaml", r#"["token"]"#, r#""same""#]);
    r.commit("ours");
    let ours = r.read("secrets.enc.yaml");
    let out = r.git_out(&["merge", "--no-edit", "theirs"]);
    assert!(!out.status.success());
    let all = format!("{}{}", show(&out.stdout), show(&out.stderr));
    assert!(all.contains(r#"["db"]["password"]"#), "{all}");
    assert!(!all.contains(r#"["token"]"#), "{all}");
    for secret in ["theirs-pw", "ours-pw", "hunter2", "same"] {
        assert!(!all.contains(secret), "a value leaked: {all}");
    }
    assert!(all.contains("CONFLICT"), "{all}");
    assert_eq!(
        r.read("secrets.enc.yaml"),
        ours,
        "CURRENT must stay as it was"
    );

    // The driver alone: exit 1.
    r.git(&["merge", "--abort"]);
    let base = r.git(&["show", "HEAD~1:secrets.enc.yaml"]);
    let theirs = r.git(&["show", "theirs:secrets.enc.yaml"]);
    r.write("base.tmp", base);
    r.write("theirs.tmp", theirs);
    r.write("ours.tmp", &ours);
    let out = r.run(
        &our_sops(),
        &[
            "merge-driver",
            "base.tmp",
            "ours.tmp",
            "theirs.tmp",
            "secrets.enc.yaml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out.stderr));
    assert_eq!(r.read("ours.tmp"), ours);
    // Nothing to bring in (OTHER is BASE): CURRENT stays byte for byte.
    let out = r.run(
        &our_sops(),
        &[
            "merge-driver",
            "base.tmp",
            "ours.tmp",
            "base.tmp",
            "secrets.enc.yaml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out.stderr));
    assert_eq!(r.read("ours.tmp"), ours);
}

#[test]
fn merge_driver_takes_the_recipients_of_the_side_that_changed_them() {
    let r = Repo::new();
    r.start("secrets.enc.yaml", PLAIN_YAML);
    r.git(&["checkout", "-q", "-b", "theirs"]);
    r.sops(&["rotate", "-i", "--add-age", RECIPIENT2, "secrets.enc.yaml"]);
    r.commit("theirs: add a recipient, rotate");
    r.git(&["checkout", "-q", "main"]);
    r.sops(&["set", "secrets.enc.yaml", r#"["token"]"#, r#""ours""#]);
    r.commit("ours: token");
    let out = r.git_out(&["merge", "-q", "--no-edit", "theirs"]);
    assert!(out.status.success(), "{}", show(&out.stderr));
    let merged = show(&r.read("secrets.enc.yaml"));
    assert!(merged.contains(RECIPIENT2), "{merged}");
    // The second key alone opens it, with the reference sops.
    let two = r.dir.path("keys/two.txt");
    let out = r.run(
        &reference_sops(),
        &["-d", "secrets.enc.yaml"],
        &[("SOPS_AGE_KEY_FILE", two.as_os_str())],
    );
    assert!(out.status.success(), "{}", show(&out.stderr));
    assert_eq!(
        show(&out.stdout),
        PLAIN_YAML.replace("token: abc", "token: ours")
    );

    // Both sides rotating is a conflict.
    r.git(&["checkout", "-q", "-b", "ours2", "HEAD~1"]);
    r.sops(&["rotate", "-i", "secrets.enc.yaml"]);
    r.commit("ours2: rotate");
    let out = r.git_out(&["merge", "--no-edit", "theirs"]);
    assert!(!out.status.success());
    assert!(
        show(&out.stderr).contains("sops keys"),
        "{}",
        show(&out.stderr)
    );
}

#[test]
fn merge_driver_merges_json_dotenv_and_ini() {
    for (name, plain, edit_ours, edit_theirs, expected) in [
        (
            "app.enc.json",
            "{\n\t\"a\": \"1\",\n\t\"b\": {\n\t\t\"c\": \"2\"\n\t},\n\t\"d\": \"3\"\n}\n",
            (r#"["a"]"#, r#""A""#),
            (r#"["b"]["c"]"#, r#""C""#),
            "{\n\t\"a\": \"A\",\n\t\"b\": {\n\t\t\"c\": \"C\"\n\t},\n\t\"d\": \"3\"\n}\n",
        ),
        (
            "app.enc.env",
            "A=1\nB=2\nC=3\n",
            (r#"["A"]"#, r#""one""#),
            (r#"["C"]"#, r#""three""#),
            "A=one\nB=2\nC=three\n",
        ),
        (
            "app.enc.ini",
            "[db]\nuser = admin\npass = x\n\n[api]\ntoken = t\n",
            (r#"["db"]["pass"]"#, r#""y""#),
            (r#"["api"]["token"]"#, r#""u""#),
            "[db]\nuser = admin\npass = y\n\n[api]\ntoken = u\n",
        ),
    ] {
        let r = Repo::new();
        r.start(name, plain);
        r.git(&["checkout", "-q", "-b", "theirs"]);
        r.sops(&["set", name, edit_theirs.0, edit_theirs.1]);
        r.commit("theirs");
        r.git(&["checkout", "-q", "main"]);
        r.sops(&["set", name, edit_ours.0, edit_ours.1]);
        r.commit("ours");
        let out = r.git_out(&["merge", "-q", "--no-edit", "theirs"]);
        assert!(out.status.success(), "{name}: {}", show(&out.stderr));
        assert_eq!(r.reference_decrypt(name), expected, "{name}");
        let diff = r.git(&["diff", "--no-textconv", "HEAD^1", "HEAD", "--", name]);
        let keys = changed_keys(&diff);
        let key = match name.rsplit('.').next() {
            Some("json") => "c",
            Some("ini") => "token",
            _ => "C",
        };
        let allowed = [key, "lastmodified", "mac", "sops_lastmodified", "sops_mac"];
        assert!(
            keys.iter().all(|k| allowed.contains(&k.as_str())),
            "{name}: {keys:?}\n{diff}"
        );
    }
}

#[test]
fn textconv_prints_plaintext_or_the_file_unchanged() {
    let r = Repo::new();
    r.write("plain.yaml", "a: 1\n");
    let enc = r.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "plain.yaml"]);
    r.write("enc.yaml", &enc);
    assert_eq!(r.sops(&["textconv", "enc.yaml"]), b"a: 1\n");
    // Not a sops file: unchanged, exit 0.
    r.write("other.yaml", "not: [sops\n");
    assert_eq!(r.sops(&["textconv", "other.yaml"]), b"not: [sops\n");
    assert_eq!(r.sops(&["textconv", "plain.yaml"]), b"a: 1\n");
    // No key: unchanged, one line on stderr, exit 0.
    let nowhere = r.dir.path("keys/none.txt");
    let out = r.run(
        &our_sops(),
        &["textconv", "enc.yaml"],
        &[("SOPS_AGE_KEY_FILE", nowhere.as_os_str())],
    );
    assert!(out.status.success());
    assert_eq!(out.stdout, enc);
    assert_eq!(
        show(&out.stderr).lines().count(),
        1,
        "{}",
        show(&out.stderr)
    );
    // History from before the file was encrypted shows as plaintext lines too.
    r.write("later.enc.yaml", "k: plain\n");
    r.commit("plain first");
    r.sops(&["encrypt", "-i", "--age", RECIPIENT, "later.enc.yaml"]);
    r.commit("encrypted");
    let log = r.git(&["log", "-p", "--", "later.enc.yaml"]);
    assert!(log.contains("+k: plain\n"), "{log}");
    assert!(!log.contains("ENC["), "{log}");
}

#[test]
fn merge_driver_falls_back_to_git_for_plain_files() {
    let r = Repo::new();
    r.write("notes.enc.yaml", "a: 1\nb: 2\nc: 3\n");
    r.commit("base");
    r.git(&["checkout", "-q", "-b", "theirs"]);
    r.write("notes.enc.yaml", "a: 1\nb: 2\nc: 30\n");
    r.commit("theirs");
    r.git(&["checkout", "-q", "main"]);
    r.write("notes.enc.yaml", "a: 10\nb: 2\nc: 3\n");
    r.commit("ours");
    let out = r.git_out(&["merge", "-q", "--no-edit", "theirs"]);
    assert!(out.status.success(), "{}", show(&out.stderr));
    assert_eq!(r.read("notes.enc.yaml"), b"a: 10\nb: 2\nc: 30\n");
}

/// The `ENC[...]` of each line, by the line's key.
fn ciphertexts(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let start = l.find("ENC[")?;
            let key = l[..start]
                .trim()
                .trim_matches(|c: char| c == '"' || c == ':' || c == '-' || c == ',')
                .trim_end_matches(['"', ':', ' '])
                .to_string();
            let end = l[start..].find(']')? + start + 1;
            Some((key, l[start..end].to_string()))
        })
        .collect()
}

#[test]
fn encrypt_keep_ciphertext_from_changes_only_changed_values() {
    let r = Repo::new();
    r.write("plain.yaml", PLAIN_YAML);
    let old = r.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "plain.yaml"]);
    r.write("old.enc.yaml", &old);
    // A tool transformed the plaintext: one value changed, one added.
    let new_plain = PLAIN_YAML.replace("port: 5432", "port: 6543") + "added: new\n";
    r.write("new.yaml", &new_plain);
    let new = show(&r.sops(&[
        "encrypt",
        "--keep-ciphertext-from",
        "old.enc.yaml",
        "new.yaml",
    ]));
    let old = show(&old);
    let before = ciphertexts(&old);
    let after = ciphertexts(&new);
    let find = |list: &[(String, String)], key: &str| {
        list.iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    for key in ["user", "password", "token", "", "#"] {
        assert!(!find(&before, key).is_empty(), "{key}");
        assert_eq!(find(&before, key), find(&after, key), "{key}\n{old}\n{new}");
    }
    assert_ne!(find(&before, "port"), find(&after, "port"));
    assert_eq!(find(&after, "added").len(), 1);
    // Same data key: the wrapped key is OLD's, byte for byte (OLD has sops 3.11's field
    // order, ours sops 3.13's sorted one, so compare the armored block itself).
    let stanza =
        |t: &str| t[t.find("-----BEGIN AGE").unwrap()..t.find("-----END AGE").unwrap()].to_string();
    assert_eq!(stanza(&old), stanza(&new));
    r.write("new.enc.yaml", &new);
    assert_eq!(r.reference_decrypt("new.enc.yaml"), new_plain);

    // Across formats: a JSON file from the same data keeps the same ciphertexts.
    r.write("new.json", r#"{"token": "abc", "db": {"user": "admin"}}"#);
    let json = show(&r.sops(&[
        "encrypt",
        "--keep-ciphertext-from",
        "old.enc.yaml",
        "new.json",
    ]));
    let after = ciphertexts(&json);
    assert_eq!(find(&before, "token"), find(&after, "token"), "{json}");
    assert_eq!(find(&before, "user"), find(&after, "user"), "{json}");
    r.write("new.enc.json", &json);
    assert_eq!(
        r.reference_decrypt("new.enc.json"),
        "{\n\t\"token\": \"abc\",\n\t\"db\": {\n\t\t\"user\": \"admin\"\n\t}\n}\n"
    );
}

/// A tree under a `.sops.yaml` with a rule for `secrets/` (first key) and one for
/// `team/` (both keys): a good file, a plaintext file, a file whose recipients are stale, a
/// gitignored plaintext file, a README, and a non-sops file outside every rule.
fn tree() -> Repo {
    let r = Repo::new();
    for d in ["secrets", "team", "secrets/build", "docs"] {
        std::fs::create_dir_all(r.path(d)).unwrap();
    }
    r.write("plain.yaml", PLAIN_YAML);
    let enc = r.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "plain.yaml"]);
    r.write("secrets/good.yaml", &enc);
    r.write("team/stale.yaml", &enc);
    r.write("plain.env", "A=1\nB=2\n");
    let both = format!("{RECIPIENT},{RECIPIENT2}");
    let enc_env = r.ok(&reference_sops(), &["-e", "--age", &both, "plain.env"]);
    r.write("team/good.env", &enc_env);
    std::fs::remove_file(r.path("plain.env")).unwrap();
    r.write("secrets/plain.json", "{\"k\": \"v\"}\n");
    r.write("secrets/build/out.yaml", "generated: 1\n");
    r.write("docs/README.md", "# docs\n");
    r.write(".gitignore", "secrets/build/\n");
    r.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: ^secrets/\n    age: {RECIPIENT}\n  - path_regex: ^team/\n    age: {both}\n"
        ),
    );
    r
}

#[test]
fn check_reports_plaintext_and_stale_files() {
    let r = tree();
    let out = r.run(&our_sops(), &["check"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out.stderr));
    assert_eq!(
        show(&out.stdout),
        format!(
            "secrets/plain.json: not encrypted (rule 1 of .sops.yaml)\n\
             team/stale.yaml: keys differ from the rule (run sops updatekeys): +{RECIPIENT2} (rule 2 of .sops.yaml)\n"
        ),
    );
    // Explicit files, as pre-commit passes them; a good one passes.
    let out = r.run(
        &our_sops(),
        &["check", "secrets/good.yaml", "team/good.env"],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        show(&out.stdout),
        show(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    // JSON for machines; no key is needed.
    let nowhere = r.dir.path("keys/none.txt");
    let out = r.run(
        &our_sops(),
        &["check", "--format", "json", "secrets", "team"],
        &[("SOPS_AGE_KEY_FILE", nowhere.as_os_str())],
    );
    assert_eq!(out.status.code(), Some(1));
    let json = show(&out.stdout);
    assert!(json.contains("\"path\": \"secrets/plain.json\""), "{json}");
    assert!(json.contains("\"problem\": \"not-encrypted\""), "{json}");
    assert!(json.contains("\"problem\": \"keys-differ\""), "{json}");
    assert!(
        json.contains(&format!("\"added\": [\n      \"{RECIPIENT2}\"")),
        "{json}"
    );
    assert!(!json.contains("good"), "{json}");
    // After updatekeys the tree is clean.
    r.sops(&["updatekeys", "-y", "team/stale.yaml"]);
    std::fs::remove_file(r.path("secrets/plain.json")).unwrap();
    let out = r.run(&our_sops(), &["check"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out.stdout));
}

#[test]
fn check_is_fast_on_two_thousand_files() {
    let r = Repo::new();
    r.write("plain.yaml", PLAIN_YAML);
    let enc = r.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "plain.yaml"]);
    r.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: \\.enc\\.yaml$\n    age: {RECIPIENT}\n"),
    );
    for d in 0..20 {
        let dir = format!("d{d}");
        std::fs::create_dir(r.path(&dir)).unwrap();
        for f in 0..100 {
            r.write(&format!("{dir}/f{f}.enc.yaml"), &enc);
        }
    }
    let start = std::time::Instant::now();
    let out = r.run(&our_sops(), &["check"], &[]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out.stdout));
    // Debug build on a shared machine: generous, the release build is far below a second.
    assert!(took.as_secs_f64() < 5.0, "{took:?}");
    eprintln!("check of 2000 files: {took:?}");
}

#[test]
fn updatekeys_recursive_updates_every_sops_file() {
    let r = tree();
    let stale = r.read("team/stale.yaml");
    let good_env = r.read("team/good.env");
    // Without -y and without an answer nothing changes.
    let out = r.run(&our_sops(), &["updatekeys", "--recursive", "."], &[]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        show(&out.stdout).contains(&format!("team/stale.yaml:\n    group 1: +++ {RECIPIENT2}")),
        "{}",
        show(&out.stdout)
    );
    assert_eq!(r.read("team/stale.yaml"), stale);
    let out = r.run(&our_sops(), &["updatekeys", "-r", "-y", "."], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        show(&out.stdout),
        show(&out.stderr)
    );
    assert_eq!(
        show(&out.stdout),
        "secrets/good.yaml: already up to date\nteam/good.env: already up to date\nteam/stale.yaml: updated\n"
    );
    assert_eq!(r.read("team/good.env"), good_env);
    // The second key alone now opens it, with the reference sops.
    let two = r.dir.path("keys/two.txt");
    let out = r.run(
        &reference_sops(),
        &["-d", "team/stale.yaml"],
        &[("SOPS_AGE_KEY_FILE", two.as_os_str())],
    );
    assert!(out.status.success(), "{}", show(&out.stderr));
    assert_eq!(show(&out.stdout), PLAIN_YAML);
    // Non-sops files were left alone (the plaintext under the rule is check's business).
    assert_eq!(r.read("secrets/plain.json"), b"{\"k\": \"v\"}\n");
}

#[test]
fn rotate_recursive_rotates_every_sops_file_and_reports_failures() {
    let r = tree();
    let before_good = r.read("secrets/good.yaml");
    let before_env = r.read("team/good.env");
    // Only the second key: files for the first key alone fail, the others are rotated.
    let two = r.dir.path("keys/two.txt");
    let out = r.run(
        &our_sops(),
        &["rotate", "--recursive", "-y", "secrets", "team"],
        &[("SOPS_AGE_KEY_FILE", two.as_os_str())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out.stderr));
    let stdout = show(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("secrets/good.yaml: failed: "),
        "{stdout}"
    );
    assert_eq!(lines[1], "team/good.env: rotated");
    assert!(
        lines[2].starts_with("team/stale.yaml: failed: "),
        "{stdout}"
    );
    assert_eq!(r.read("secrets/good.yaml"), before_good);
    assert_ne!(r.read("team/good.env"), before_env);
    let out = r.run(&reference_sops(), &["-d", "team/good.env"], &[]);
    assert_eq!(show(&out.stdout), "A=1\nB=2\n", "{}", show(&out.stderr));
    // With both keys everything rotates; a key can be added on the way.
    let out = r.run(
        &our_sops(),
        &["rotate", "-r", "-y", "--add-age", RECIPIENT2, "."],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out.stderr));
    assert_eq!(
        show(&out.stdout),
        "secrets/good.yaml: rotated\nteam/good.env: rotated\nteam/stale.yaml: rotated\n"
    );
    assert_ne!(r.read("secrets/good.yaml"), before_good);
    let out = r.run(
        &reference_sops(),
        &["-d", "secrets/good.yaml"],
        &[("SOPS_AGE_KEY_FILE", two.as_os_str())],
    );
    assert_eq!(show(&out.stdout), PLAIN_YAML, "{}", show(&out.stderr));
    assert_eq!(r.read("secrets/build/out.yaml"), b"generated: 1\n");
}
