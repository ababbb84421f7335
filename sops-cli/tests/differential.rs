//! The generative differential test (`scripts/differential`) on a bounded number of documents:
//! every format, a fixed seed, the four pipelines against the reference sops. It fails on any
//! difference that `testdata/differential/known.tsv` does not list, and prints each one with its
//! minimal input and both outputs (the directories it names hold the full runs).
//!
//! `SOPS_DIFFERENTIAL_COUNT` (documents per format, default 50) and `SOPS_DIFFERENTIAL_SEED`
//! (default `ci`) change the run; `scripts/differential --count 5000` is the long local mode.

mod common;

use common::{our_sops, reference_sops, repo};
use std::process::Command;

#[test]
fn generated_documents_match_the_reference() {
    let count = std::env::var("SOPS_DIFFERENTIAL_COUNT").unwrap_or_else(|_| "50".into());
    let seed = std::env::var("SOPS_DIFFERENTIAL_SEED").unwrap_or_else(|_| "ci".into());
    let keep = tempfile::tempdir().unwrap().keep();
    let output = Command::new("python3")
        .arg(repo().join("scripts/differential"))
        .args([
            "--count",
            &count,
            "--seed",
            &seed,
            "--quiet",
            // Every difference is minimised: an unminimised one is never matched against
            // known.tsv, so a lower bound fails the test on accepted differences.
            "--max-minimize",
            "200",
        ])
        .arg("--keep")
        .arg(&keep)
        .env("SOPS_BIN", our_sops())
        .env("SOPS_REFERENCE", reference_sops())
        .output()
        .expect("python3 runs scripts/differential");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the differential harness found undocumented differences from the reference sops \
         (fix them, or list a deliberate one with its reason in testdata/differential/known.tsv):\n{stdout}{stderr}"
    );
    let _ = std::fs::remove_dir_all(&keep);
}

/// The command-line half (`scripts/differential-cli`): random invocations (global options,
/// subcommands, flag spellings, repeats, missing and extra arguments, every format) on both
/// binaries, comparing exit codes, output and written files.
#[test]
fn generated_command_lines_match_the_reference() {
    let count = std::env::var("SOPS_DIFFERENTIAL_CLI_COUNT").unwrap_or_else(|_| "300".into());
    let seed = std::env::var("SOPS_DIFFERENTIAL_SEED").unwrap_or_else(|_| "ci".into());
    let output = Command::new("python3")
        .arg(repo().join("scripts/differential-cli"))
        .args(["--count", &count, "--seed", &seed])
        .env("SOPS_BIN", our_sops())
        .env("SOPS_REFERENCE", reference_sops())
        .output()
        .expect("python3 runs scripts/differential-cli");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "scripts/differential-cli found command lines where we differ from the reference sops:\n{stdout}{stderr}"
    );
}
