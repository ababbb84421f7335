//! The grammar table: invocation shapes (flag positions and spellings, repeats, `=` forms,
//! missing and extra arguments, each subcommand's flags, environment variables) replayed
//! against our binary and the reference sops, comparing the exit code, stdout, whether stderr
//! is empty, and the files written. Encrypted output is compared by what the reference
//! decrypts it to (ciphertext is random). Where we follow sops 3.13.2 and the reference is
//! 3.11, or where we deliberately differ, the row says so and what is compared.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{our_sops, reference_sops, show, testdata, Dir, RECIPIENT};

/// Another age recipient (no identity needed: only encrypted to).
const OTHER: &str = OTHER_LIT;
/// [`OTHER`] as a literal, for the rows.
const OTHER_LIT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

/// What a row compares.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Everything: exit code, stdout, stderr emptiness, files.
    Same,
    /// Exit code, stderr emptiness and files; stdout is sops's help text (usage errors, help).
    SameButHelpText,
    /// Exit code and files only; the reason is in the row (sops 3.13.2 vs the 3.11 reference,
    /// or a documented difference).
    Differs(&'static str),
}

use Expect::*;

struct Row {
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    expect: Expect,
}

const fn row(args: &'static [&'static str], expect: Expect) -> Row {
    Row {
        args,
        env: &[],
        expect,
    }
}

const fn row_env(
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    expect: Expect,
) -> Row {
    Row { args, env, expect }
}

const R: &str = "age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx";

const ROWS: &[Row] = &[
    // Spellings of decrypt and its flags.
    row(&["-d", "e.yaml"], Same),
    row(&["--decrypt", "e.yaml"], Same),
    row(&["-decrypt", "e.yaml"], Same),
    row(&["--d", "e.yaml"], Same),
    row(&["decrypt", "e.yaml"], Same),
    row(&["-d", "-d", "e.yaml"], Same),
    row(&["decrypt", "--output", "o.yaml", "e.yaml"], Same),
    row(&["decrypt", "--output=o.yaml", "e.yaml"], Same),
    row(&["decrypt", "-output", "o.yaml", "e.yaml"], Same),
    row(&["decrypt", "-output=o.yaml", "e.yaml"], Same),
    row(&["-output", "o.yaml", "-d", "e.yaml"], Same),
    row(
        &[
            "decrypt", "--output", "a.yaml", "--output", "b.yaml", "e.yaml",
        ],
        Same,
    ),
    row(&["-d", "--output", "", "e.yaml"], Same),
    row(&["decrypt", "--output=", "e.yaml"], Same),
    row(&["decrypt", "-extract", "[\"a\"]", "e.yaml"], Same),
    row(&["decrypt", "--extract=[\"b\"]", "e.yaml"], Same),
    row(&["-d", "--extract", "[\"b\"]", "e.yaml"], Same),
    row(&["decrypt", "--extract", "[\"nope\"]", "e.yaml"], Same),
    row(
        &[
            "decrypt",
            "--input-type",
            "json",
            "--input-type",
            "yaml",
            "e.yaml",
        ],
        Same,
    ),
    row(
        &[
            "-d",
            "-input-type",
            "yaml",
            "-output-type",
            "json",
            "e.yaml",
        ],
        Same,
    ),
    row(&["decrypt", "--output-type=json", "e.yaml"], Same),
    row(
        &["-d", "--indent", "4", "--output-type", "json", "e.yaml"],
        Same,
    ),
    row(
        &[
            "decrypt",
            "--filename-override",
            "x.json",
            "--input-type",
            "yaml",
            "e.yaml",
        ],
        Same,
    ),
    // Flags after positional arguments: a subcommand reorders its own flags, the flag style
    // does not (and warns).
    row(&["decrypt", "e.yaml", "--output", "o.yaml"], Same),
    row(&["decrypt", "e.yaml", "--output-type", "json"], Same),
    row(&["-d", "e.yaml", "--output", "o.yaml"], Same),
    row(&["decrypt", "e.yaml", "extra"], Same),
    row(&["decrypt", "e.yaml", "--bogus"], Same),
    // Booleans with values.
    row(&["decrypt", "--ignore-mac=false", "e.yaml"], Same),
    row(&["decrypt", "--ignore-mac=true", "e.yaml"], Same),
    row(&["decrypt", "--ignore-mac=1", "e.yaml"], Same),
    row(&["decrypt", "--ignore-mac", "e.yaml"], Same),
    row(&["decrypt", "--ignore-mac=yes", "e.yaml"], SameButHelpText),
    row(&["decrypt", "--in-place=true", "e.yaml"], Same),
    row(&["-d", "--in-place=false", "e.yaml"], Same),
    row(&["decrypt", "-i", "e.yaml"], Same),
    row(&["-d", "-i", "--output", "o.yaml", "e.yaml"], Same),
    // The local key service.
    row(&["decrypt", "--enable-local-keyservice", "e.yaml"], Same),
    row(
        &["decrypt", "--enable-local-keyservice=true", "e.yaml"],
        Same,
    ),
    row(
        &["decrypt", "--enable-local-keyservice=false", "e.yaml"],
        Same,
    ),
    row(&["-d", "--enable-local-keyservice=false", "e.yaml"], Same),
    row_env(
        &["decrypt", "e.yaml"],
        &[("SOPS_ENABLE_LOCAL_KEYSERVICE", "false")],
        Same,
    ),
    row_env(
        &["-d", "e.yaml"],
        &[("SOPS_ENABLE_LOCAL_KEYSERVICE", "0")],
        Same,
    ),
    row_env(
        &["decrypt", "--enable-local-keyservice=true", "e.yaml"],
        &[("SOPS_ENABLE_LOCAL_KEYSERVICE", "false")],
        Same,
    ),
    row_env(
        &["decrypt", "e.yaml"],
        &[("SOPS_ENABLE_LOCAL_KEYSERVICE", "true")],
        Same,
    ),
    row(
        &[
            "encrypt",
            "--enable-local-keyservice=false",
            "--age",
            R,
            "p.yaml",
        ],
        Same,
    ),
    // Decryption order.
    row(
        &["decrypt", "--decryption-order", "age,age", "e.yaml"],
        Same,
    ),
    row_env(
        &["decrypt", "e.yaml"],
        &[("SOPS_DECRYPTION_ORDER", "pgp,age")],
        Same,
    ),
    // Global options before a subcommand: --config is used, the others are ignored there.
    row(&["--config", "c.yaml", "decrypt", "e.yaml"], Same),
    row(&["--config", "missing.yaml", "decrypt", "e.yaml"], Same),
    row(&["--verbose", "decrypt", "e.yaml"], Same),
    row(&["--output", "o.yaml", "decrypt", "e.yaml"], Same),
    row(&["--ignore-mac", "decrypt", "e.yaml"], Same),
    row(&["-i", "decrypt", "e.yaml"], Same),
    row(&["--verbose", "encrypt", "--age", R, "p.yaml"], Same),
    row(&["--config", "c.yaml", "encrypt", "p.yaml"], Same),
    row(
        &[
            "--indent",
            "4",
            "decrypt",
            "--output-type",
            "json",
            "e.yaml",
        ],
        Differs("sops 3.13 honours the global --indent in subcommands (PR 2156); 3.11 ignores it"),
    ),
    row(
        &["decrypt", "--config", "c.yaml", "e.yaml"],
        Differs("we also accept sops's global --config, --indent, --verbose after a subcommand"),
    ),
    // Unknown flags and missing values.
    row(&["decrypt", "--bogus", "e.yaml"], SameButHelpText),
    row(&["--bogus", "-d", "e.yaml"], SameButHelpText),
    row(&["decrypt", "--output"], SameButHelpText),
    row(&["-d", "--indent", "x", "e.yaml"], SameButHelpText),
    // Missing and extra positional arguments.
    row(&["-d"], Same),
    row(&["rotate"], Same),
    row(&["edit"], Same),
    row(&["set", "e.yaml"], Same),
    row(&["set", "e.yaml", "[\"a\"]"], Same),
    row(&["unset", "e.yaml"], Same),
    row(&["filestatus"], Same),
    row(&["exec-env", "e.yaml"], Same),
    row(&["exec-file", "e.yaml"], Same),
    row(&["exec-env", "e.yaml", "echo hi", "extra"], Same),
    row(
        &["groups", "add", "--file", "e.yaml", "--age", R, "extra"],
        Same,
    ),
    row(&["groups", "delete", "--file", "e.yaml"], Same),
    // filestatus.
    row(&["filestatus", "e.yaml"], Same),
    row(&["filestatus", "p.yaml"], Same),
    row(&["filestatus", "e.yaml", "extra"], Same),
    row(&["filestatus", "--input-type", "yaml", "e.yaml"], Same),
    // set / unset.
    row(&["set", "e.yaml", "[\"a\"]", "2"], Same),
    row(&["set", "e.yaml", "[\"a\"]", "2", "extra"], Same),
    row(
        &["set", "--idempotent", "e.yaml", "[\"a\"]", "1"],
        Differs("sops 3.11 reads the value 1 as a float, unequal to the stored integer (README)"),
    ),
    row(&["set", "--idempotent", "e.yaml", "[\"b\"]", "\"x\""], Same),
    row(
        &["set", "--output", "o.yaml", "e.yaml", "[\"a\"]", "2"],
        SameButHelpText,
    ),
    row(
        &["set", "e.yaml", "[\"a\"]", "2", "--output", "o.yaml"],
        Same,
    ),
    row(&["unset", "e.yaml", "[\"a\"]"], Same),
    row(&["unset", "--idempotent", "e.yaml", "[\"zz\"]"], Same),
    // encrypt.
    row(&["encrypt", "--age", R, "p.yaml"], Same),
    row(&["-e", "-age", R, "p.yaml"], Same),
    row(&["encrypt", "-a", R, "--output", "o.yaml", "p.yaml"], Same),
    row(&["encrypt", "--age", "bogus", "--age", R, "p.yaml"], Same),
    row(&["-e", "-i", "--age", R, "p.yaml"], Same),
    row_env(&["encrypt", "p.yaml"], &[("SOPS_AGE_RECIPIENTS", R)], Same),
    row(
        &["encrypt", "--verbose", "--age", R, "p.yaml"],
        Differs("we accept --verbose after a subcommand"),
    ),
    // rotate.
    row(&["rotate", "e.yaml"], Same),
    row(&["rotate", "-i", "e.yaml"], Same),
    row(&["rotate", "--add-age", OTHER, "e.yaml"], Same),
    row(&["-r", "--add-age", OTHER, "e.yaml"], Same),
    // exec-env / exec-file.
    row(&["exec-env", "e.yaml", "echo $b"], Same),
    row(&["exec-env", "--pristine", "e.yaml", "echo $b"], Same),
    row(&["exec-env", "e.yaml", "--pristine", "echo $b"], Same),
    row(&["exec-env", "e.yaml", "exit 3"], Same),
    row(&["exec-file", "e.yaml", "cat {}"], Same),
    row(&["exec-file", "--no-fifo", "e.yaml", "cat {}"], Same),
    row(
        &["exec-file", "--output-type", "json", "e.yaml", "cat {}"],
        Same,
    ),
    row(
        &["exec-file", "--filename", "../x", "e.yaml", "cat {}"],
        Differs("sops 3.13 refuses non-local --filename paths (PR 2155)"),
    ),
    // updatekeys.
    row(&["updatekeys"], Same),
    row(&["updatekeys", "e.yaml"], Same),
    row(&["--config", "c.yaml", "updatekeys"], Same),
    row(&["--config", "c.yaml", "updatekeys", "-y", "e.yaml"], Same),
    row(
        &["--config", "c.yaml", "updatekeys", "-y", "missing.yaml"],
        Same,
    ),
    row(
        &[
            "--config",
            "two.yaml",
            "updatekeys",
            "-y",
            "--input-type",
            "yaml",
            "x.dat",
        ],
        Same,
    ),
    // groups.
    row(&["groups", "add", "--file", "e.yaml", "--age", OTHER], Same),
    row(
        &["groups", "add", "-f", "e.yaml", "--age", OTHER, "--age", R],
        Same,
    ),
    row_env(
        &["groups", "add", "--file", "e.yaml", "--age", OTHER],
        &[("SOPS_AGE_KEY_FILE", "/nonexistent")],
        Same,
    ),
    // Found by scripts/differential-cli.
    // urfave's normalizeFlags: two names of one flag is a usage error (help text on stdout).
    row(&["-d", "--decrypt", "e.yaml"], SameButHelpText),
    row(&["decrypt", "-i", "--in-place", "e.yaml"], SameButHelpText),
    row(&["updatekeys", "-y", "--yes", "e.yaml"], SameButHelpText),
    // `-` is a file name, not stdin.
    row(&["decrypt", "-"], Same),
    row(&["-d", "-"], Same),
    row(&["filestatus", "-"], Same),
    // The conflicting-flag checks come before the file's existence.
    row(
        &["decrypt", "-i", "--output", "o.yaml", "missing.yaml"],
        Same,
    ),
    // Encrypting stdin needs --filename-override, --input-type is not enough.
    row(&["encrypt", "--input-type", "yaml"], Same),
    // Negative --indent: YAML refuses it, JSON takes -1 as a tab and refuses the rest.
    row(&["-d", "--indent", "-1", "e.yaml"], Same),
    row(
        &["-d", "--indent=-1", "--output-type", "json", "e.yaml"],
        Same,
    ),
    row(
        &["-d", "--indent", "-2", "--output-type", "json", "e.yaml"],
        Same,
    ),
    row(
        &["-d", "--indent", "-3", "--output-type", "dotenv", "e.yaml"],
        Same,
    ),
    // Several modes at once: a warning, the last one's output, sops's error rules.
    row(&["-e", "-d", "e.yaml"], Same),
    row(&["--config", "c.yaml", "-e", "-d", "p.yaml"], Same),
    row(&["-e", "-d", "p.yaml"], Same),
    row(&["-d", "--set", "[\"a\"] 5", "e.yaml"], Same),
    row(&["-d", "-r", "e.yaml"], Same),
    // --add-*/--rm-* on a missing file: exit 49, before anything else.
    row(&["-r", "--add-age", OTHER_LIT, "missing.yaml"], Same),
    row(&["rotate", "--rm-age", OTHER_LIT, "missing.yaml"], Same),
    row(&["-d", "--rm-age", OTHER_LIT, "missing.yaml"], Same),
    row(&["groups", "list"], Same),
    row(&["groups", "bogus", "--file", "e.yaml"], Same),
    row(&["groups", "--bogus"], SameButHelpText),
    row(&["groups", "h"], SameButHelpText),
    row(&["groups", "help", "add"], SameButHelpText),
    row(&["groups", "add", "--age", OTHER_LIT], Same),
    row(&["groups", "delete", "0"], Same),
    row(&["filestatus", "x.dat", "--input-type", "json"], Same),
    row(&["filestatus", "--input-type", "json", "p.yaml"], Same),
    row(&["--config", "c.yaml", "updatekeys", "-y", "."], Same),
    // A global flag after the file is a positional argument (ignored, with a warning).
    row(&["decrypt", "e.yaml", "--indent"], Same),
    row(
        &[
            "decrypt",
            "--output-type",
            "json",
            "e.yaml",
            "--indent",
            "2",
        ],
        Same,
    ),
    // A bad SOPS_ENABLE_LOCAL_KEYSERVICE fails every command line (urfave applies it first).
    row_env(
        &["--version"],
        &[("SOPS_ENABLE_LOCAL_KEYSERVICE", "maybe")],
        Same,
    ),
    row_env(
        &["filestatus", "e.yaml"],
        &[("SOPS_ENABLE_LOCAL_KEYSERVICE", "maybe")],
        Same,
    ),
    row_env(
        &["groups", "bogus"],
        &[("SOPS_ENABLE_LOCAL_KEYSERVICE", "2")],
        Same,
    ),
    row(
        &[
            "-r",
            "-i",
            "--output",
            "o.yaml",
            "--add-age",
            OTHER_LIT,
            "missing.yaml",
        ],
        Same,
    ),
    row(
        &[
            "rotate",
            "-i",
            "--output",
            "o.yaml",
            "--rm-age",
            OTHER_LIT,
            "missing.yaml",
        ],
        Same,
    ),
    // Help and version.
    row(&["h"], SameButHelpText),
    row(&["help"], SameButHelpText),
    row(&["--help"], SameButHelpText),
    row(&["-h"], SameButHelpText),
    row(&["decrypt", "--help"], SameButHelpText),
    row(&["groups"], SameButHelpText),
    row(
        &["-v", "--disable-version-check"],
        Differs("version line: sops 3.13.2 (sops-rs X)"),
    ),
    row(
        &["--version", "--disable-version-check"],
        Differs("version line: sops 3.13.2 (sops-rs X)"),
    ),
];

/// One run's observable result.
#[derive(Debug, PartialEq)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr_empty: bool,
    files: Vec<(String, String)>,
}

/// Plaintext of a file or output: decrypted by the reference when encrypted.
fn plain(dir: &Dir, name: &str, bytes: &[u8]) -> String {
    let text = show(bytes);
    if !text.contains("ENC[AES256_GCM") {
        return text;
    }
    let tmp = format!(".plain-{name}");
    std::fs::write(dir.path(&tmp), bytes).unwrap();
    let out = dir.run_env(
        &reference_sops(),
        &["-d", "--input-type", "yaml", "--output-type", "yaml", &tmp],
        "",
        &[],
        true,
    );
    std::fs::remove_file(dir.path(&tmp)).unwrap();
    format!("(encrypted) {}", show(&out.stdout))
}

fn setup(dir: &Dir, encrypted: &[u8]) {
    dir.write("p.yaml", "a: 1\nb: x\n");
    dir.write("e.yaml", encrypted);
    dir.write("x.dat", encrypted);
    dir.write("c.yaml", format!("creation_rules:\n  - age: {RECIPIENT}\n"));
    dir.write(
        "two.yaml",
        format!("creation_rules:\n  - age: {RECIPIENT},{OTHER}\n"),
    );
}

fn run(bin: &Path, row: &Row, encrypted: &[u8]) -> Outcome {
    let dir = Dir::new();
    setup(&dir, encrypted);
    let before: Vec<(String, Vec<u8>)> = listing(&dir);
    let mut args = row.args.to_vec();
    if !args.contains(&"--disable-version-check") {
        // A global flag, so first. The reference would check for updates without it; that is
        // not what we compare.
        args.insert(0, "--disable-version-check");
    }
    let envs: Vec<(&str, &OsStr)> = row.env.iter().map(|(k, v)| (*k, OsStr::new(*v))).collect();
    let out = dir.run_env(bin, &args, "", &envs, true);
    let mut files = Vec::new();
    for (name, bytes) in listing(&dir) {
        let unchanged = before.iter().any(|(n, b)| *n == name && *b == bytes);
        if !unchanged {
            files.push((name.clone(), plain(&dir, &name, &bytes)));
        }
    }
    Outcome {
        code: out.status.code(),
        stdout: plain(&dir, "stdout", &out.stdout),
        stderr_empty: out.stderr.is_empty(),
        files,
    }
}

fn listing(dir: &Dir) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn grammar_table_matches_the_reference() {
    let dir = Dir::new();
    dir.write("p.yaml", "a: 1\nb: x\n");
    let encrypted = dir.ok(
        &reference_sops(),
        &[
            "--disable-version-check",
            "encrypt",
            "--age",
            RECIPIENT,
            "p.yaml",
        ],
    );
    assert!(testdata("age-key.txt").exists());
    let mut failures = Vec::new();
    for row in ROWS {
        let ours = run(&our_sops(), row, &encrypted);
        let theirs = run(&reference_sops(), row, &encrypted);
        let same = match row.expect {
            Same => ours == theirs,
            SameButHelpText => {
                ours.code == theirs.code
                    && ours.stderr_empty == theirs.stderr_empty
                    && ours.files == theirs.files
            }
            Differs(_) => true,
        };
        if !same {
            failures.push(format!(
                "sops {:?} (env {:?}):\n  ours:      {ours:?}\n  reference: {theirs:?}",
                row.args, row.env
            ));
        }
        if let Differs(why) = row.expect {
            // Still no crash, and a usage error where the reference has one.
            assert!(ours.code.is_some(), "{:?}: {why}", row.args);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}

/// The rows that differ on purpose, checked for what we do.
#[test]
fn deliberate_differences_do_what_sops_3_13_does() {
    let dir = Dir::new();
    dir.write("p.json", "{\"a\": {\"b\": 1}}\n");
    let enc = dir.ok(
        &our_sops(),
        &[
            "encrypt", "--age", RECIPIENT, "--output", "e.json", "p.json",
        ],
    );
    assert!(enc.is_empty());
    // sops 3.13 (PR 2156): the global --indent applies to subcommands.
    let out = dir.ok(&our_sops(), &["--indent", "4", "decrypt", "e.json"]);
    assert_eq!(show(&out), "{\n    \"a\": {\n        \"b\": 1\n    }\n}\n");
    // The version line.
    let v = dir.ok(&our_sops(), &["-v"]);
    assert!(
        show(&v).starts_with("sops 3.13.2 (sops-rs "),
        "{}",
        show(&v)
    );
}
