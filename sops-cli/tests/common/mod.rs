//! Helpers for CLI tests: run our binary or the reference sops in a temp directory, like a
//! shell session.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The test age recipient whose identity is `testdata/age-key.txt`.
pub const RECIPIENT: &str = "age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A file under `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    repo().join("testdata").join(rel)
}

/// The reference sops binary. Tests fail (never skip) when it is missing: run `scripts/test`.
pub fn reference_sops() -> PathBuf {
    let path = std::env::var_os("SOPS_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools/venv/bin/sops"));
    assert!(
        path.exists(),
        "the reference sops is missing at {} (run scripts/test, which installs it)",
        path.display()
    );
    path
}

/// Our binary.
pub fn our_sops() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sops"))
}

/// A scratch directory and the environment both binaries run with.
pub struct Dir {
    /// The temporary directory (removed on drop).
    pub dir: tempfile::TempDir,
}

impl Dir {
    /// A new empty directory.
    pub fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Path of a file in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Reads a file.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    pub fn command(&self, bin: &Path, args: &[&str], with_key: bool) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(args).current_dir(self.dir.path());
        for var in [
            "SOPS_AGE_KEY",
            "SOPS_AGE_KEY_FILE",
            "SOPS_AGE_KEY_CMD",
            "SOPS_AGE_RECIPIENTS",
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
            "SOPS_PGP_FP",
            "SOPS_KMS_ARN",
            "SOPS_VAULT_URIS",
            "SOPS_HC_VAULT_ALLOWLIST",
            "VAULT_TOKEN",
            "VAULT_ADDR",
            "VAULT_AGENT_ADDR",
            "VAULT_NAMESPACE",
            "SOPS_CONFIG",
            "SOPS_GPG_EXEC",
            "SOPS_DECRYPTION_ORDER",
            "GNUPGHOME",
        ] {
            cmd.env_remove(var);
        }
        // Keep the user's own keys and config out of the tests.
        cmd.env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join(".config"));
        if with_key {
            cmd.env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"));
        }
        cmd
    }

    /// Runs a binary with the test key available.
    pub fn run(&self, bin: &Path, args: &[&str]) -> Output {
        self.command(bin, args, true)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs a binary without any key.
    pub fn run_without_key(&self, bin: &Path, args: &[&str]) -> Output {
        self.command(bin, args, false)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs a binary with the given stdin.
    pub fn run_stdin(&self, bin: &Path, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .command(bin, args, true)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs a binary in `cwd` (relative to the directory; `""` for the directory itself) with
    /// extra environment variables, with or without the test age key.
    pub fn run_env(
        &self,
        bin: &Path,
        args: &[&str],
        cwd: &str,
        envs: &[(&str, &std::ffi::OsStr)],
        with_key: bool,
    ) -> Output {
        let mut cmd = self.command(bin, args, with_key);
        cmd.current_dir(self.dir.path().join(cwd));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).output().unwrap()
    }

    /// Like [`Dir::run_env`] with the test age key, asserting success and returning stdout.
    pub fn ok_env(
        &self,
        bin: &Path,
        args: &[&str],
        cwd: &str,
        envs: &[(&str, &std::ffi::OsStr)],
    ) -> Vec<u8> {
        let out = self.run_env(bin, args, cwd, envs, true);
        assert!(
            out.status.success(),
            "{} {:?} in {cwd:?} failed ({:?}):\n{}",
            bin.display(),
            args,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs and asserts success, returning stdout.
    pub fn ok(&self, bin: &Path, args: &[&str]) -> Vec<u8> {
        let out = self.run(bin, args);
        assert!(
            out.status.success(),
            "{} {:?} failed ({:?}):\n{}",
            bin.display(),
            args,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

/// Shows bytes readably in assertion messages.
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
