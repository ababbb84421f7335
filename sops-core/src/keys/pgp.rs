//! PGP keys, through the `gpg` binary exactly as sops runs it.
//!
//! The data key (or a Shamir share) is stored as an ASCII-armored OpenPGP message whose
//! plaintext is the raw key bytes, with surrounding whitespace trimmed. Encryption runs
//! `gpg --no-default-recipient --yes --encrypt -a -r FP --trusted-key SHORT_FP --no-encrypt-to`
//! and decryption `gpg -d`, the key on stdin, as sops 3.11 does. The binary is `SOPS_GPG_EXEC`
//! or `gpg`; it finds its keyring through `GNUPGHOME` (or `~/.gnupg`) and asks gpg-agent for
//! passphrases. (sops first tries a Go OpenPGP library on a legacy `pubring.gpg`/`secring.gpg`
//! and falls back to the binary; the binary alone reads and writes the same messages.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use super::{KeyError, Recipient, Unwrapper};
use crate::metadata::StoredKey;

/// The environment variable naming the gpg binary.
pub const GPG_EXEC_ENV: &str = "SOPS_GPG_EXEC";

/// The gpg binary sops would run: `SOPS_GPG_EXEC`, else `gpg`.
pub fn gpg_binary() -> String {
    match std::env::var(GPG_EXEC_ENV) {
        Ok(v) if !v.is_empty() => v,
        _ => "gpg".to_string(),
    }
}

/// The last 16 hex digits of a fingerprint (its long key id), as sops passes to
/// `--trusted-key`; a trailing `!` (exact-key marker) is kept.
pub fn short_fingerprint(fp: &str) -> &str {
    let mut offset = fp.len() as isize - 16;
    if fp.ends_with('!') {
        offset -= 1;
    }
    if offset > 0 {
        fp.get(offset as usize..).unwrap_or(fp)
    } else {
        fp
    }
}

/// Runs gpg with `args` (after `--homedir` when one is set), feeding `stdin`; returns stdout,
/// or stderr (trimmed) on failure.
fn run_gpg(
    homedir: Option<&Path>,
    args: &[&str],
    stdin: &[u8],
) -> Result<Zeroizing<Vec<u8>>, String> {
    let binary = gpg_binary();
    let mut cmd = Command::new(&binary);
    if let Some(home) = homedir {
        cmd.arg("--homedir").arg(home);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {binary:?}: {e}"))?;
    let input = Zeroizing::new(stdin.to_vec());
    let mut pipe = child
        .stdin
        .take()
        .ok_or_else(|| "could not open gpg's stdin".to_string())?;
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child
        .wait_with_output()
        .map_err(|e| format!("could not run {binary:?}: {e}"))?;
    let _ = writer.join();
    let stdout = Zeroizing::new(output.stdout);
    if output.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if stderr.is_empty() {
            Err(format!("{binary} exited with {}", output.status))
        } else {
            Err(stderr)
        }
    }
}

/// A PGP key to wrap data keys for, named by its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpRecipient {
    fingerprint: String,
    homedir: Option<PathBuf>,
}

impl PgpRecipient {
    /// A recipient for a fingerprint (spaces are removed, as sops does).
    pub fn new(fingerprint: &str) -> PgpRecipient {
        PgpRecipient {
            fingerprint: fingerprint.replace(' ', ""),
            homedir: None,
        }
    }

    /// Uses this GnuPG home (`--homedir`) instead of `GNUPGHOME` / `~/.gnupg`.
    pub fn with_homedir(mut self, homedir: impl Into<PathBuf>) -> PgpRecipient {
        self.homedir = Some(homedir.into());
        self
    }

    /// Recipients from a comma-separated list (`--pgp`, `SOPS_PGP_FP`).
    pub fn parse_list(list: &str) -> Vec<PgpRecipient> {
        if list.is_empty() {
            return Vec::new();
        }
        list.split(',').map(PgpRecipient::new).collect()
    }

    /// The fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl Recipient for PgpRecipient {
    fn wrap(&self, secret: &[u8]) -> Result<StoredKey, KeyError> {
        let fp = self.fingerprint.as_str();
        let args = [
            "--no-default-recipient",
            "--yes",
            "--encrypt",
            "-a",
            "-r",
            fp,
            "--trusted-key",
            short_fingerprint(fp),
            "--no-encrypt-to",
        ];
        let out = run_gpg(self.homedir.as_deref(), &args, secret).map_err(|stderr| KeyError::Wrap {
            key: self.describe(),
            reason: format!(
                "could not encrypt data key with PGP key: GnuPG binary error: failed to encrypt sops data key with pgp: {stderr}"
            ),
        })?;
        let enc = String::from_utf8_lossy(&out).trim().to_string();
        Ok(StoredKey::Pgp {
            fp: self.fingerprint.clone(),
            created_at: crate::timestamp::now_utc(),
            enc,
        })
    }

    fn describe(&self) -> String {
        format!("PGP key {}", self.fingerprint)
    }
}

/// Unwraps PGP-wrapped keys with `gpg -d` and whatever secret keys gpg can use.
#[derive(Debug, Clone, Default)]
pub struct GpgUnwrapper {
    homedir: Option<PathBuf>,
}

impl GpgUnwrapper {
    /// Uses gpg with its environment (`GNUPGHOME`, else `~/.gnupg`), as sops does.
    pub fn from_env() -> GpgUnwrapper {
        GpgUnwrapper::default()
    }

    /// Uses this GnuPG home (`--homedir`).
    pub fn with_homedir(homedir: impl Into<PathBuf>) -> GpgUnwrapper {
        GpgUnwrapper {
            homedir: Some(homedir.into()),
        }
    }
}

impl Unwrapper for GpgUnwrapper {
    fn unwrap(&self, key: &StoredKey) -> Option<Result<Zeroizing<Vec<u8>>, KeyError>> {
        let StoredKey::Pgp { enc, .. } = key else {
            return None;
        };
        let fail = |why: String| {
            KeyError::Unwrap(format!(
                "could not decrypt data key with PGP key: GnuPG binary error: failed to decrypt sops data key with pgp: {why}"
            ))
        };
        Some(
            match run_gpg(self.homedir.as_deref(), &["-d"], enc.as_bytes()) {
                Ok(out) if out.is_empty() => Err(fail("zero bytes returned".into())),
                Ok(out) => Ok(out),
                Err(stderr) => Err(fail(stderr)),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_fingerprints_like_sops() {
        assert_eq!(
            short_fingerprint("1033B2F78518ACBCF42CB0ED2842D3C1167A7A0D"),
            "2842D3C1167A7A0D"
        );
        assert_eq!(
            short_fingerprint("1033B2F78518ACBCF42CB0ED2842D3C1167A7A0D!"),
            "2842D3C1167A7A0D!"
        );
        assert_eq!(short_fingerprint("ABCD"), "ABCD");
        assert_eq!(short_fingerprint(""), "");
    }

    /// A throwaway GnuPG home with one passphrase-less key; returns its fingerprint. Fails
    /// (never skips) when gpg is missing.
    fn gpg_home() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let gen = Command::new("gpg")
            .arg("--homedir")
            .arg(home)
            .args(["--batch", "--passphrase", "", "--quick-gen-key"])
            .args([
                "unit test <unit@example.com>",
                "default",
                "default",
                "never",
            ])
            .output()
            .expect("gpg is required for the PGP tests (scripts/test installs gnupg)");
        assert!(
            gen.status.success(),
            "{}",
            String::from_utf8_lossy(&gen.stderr)
        );
        let list = Command::new("gpg")
            .arg("--homedir")
            .arg(home)
            .args(["--list-secret-keys", "--with-colons"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&list.stdout).into_owned();
        let fp = text
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_string();
        (dir, fp)
    }

    fn kill_agent(home: &Path) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(home)
            .args(["--kill", "gpg-agent"])
            .output();
    }

    #[test]
    fn wrap_and_unwrap_through_gpg() {
        let (dir, fp) = gpg_home();
        let secret = [7u8; 32];
        let stored = PgpRecipient::new(&fp)
            .with_homedir(dir.path())
            .wrap(&secret)
            .unwrap();
        let StoredKey::Pgp { enc, fp: got, .. } = &stored else {
            panic!("not a PGP entry")
        };
        assert_eq!(got, &fp);
        assert!(enc.starts_with("-----BEGIN PGP MESSAGE-----"));
        assert!(enc.ends_with("-----END PGP MESSAGE-----"));
        let back = GpgUnwrapper::with_homedir(dir.path())
            .unwrap(&stored)
            .unwrap()
            .unwrap();
        assert_eq!(&back[..], &secret);
        // A fresh home without the secret key fails with gpg's reason, no secret shown.
        let other = tempfile::tempdir().unwrap();
        let err = GpgUnwrapper::with_homedir(other.path())
            .unwrap(&stored)
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("failed to decrypt sops data key with pgp"),
            "{err}"
        );
        // An unknown recipient cannot be encrypted for.
        let err = PgpRecipient::new("0000000000000000000000000000000000000000")
            .with_homedir(dir.path())
            .wrap(&secret)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("failed to encrypt sops data key with pgp"),
            "{err}"
        );
        kill_agent(dir.path());
        kill_agent(other.path());
    }

    #[test]
    fn fingerprint_lists() {
        let r = PgpRecipient::parse_list("AB CD,EF");
        assert_eq!(r[0].fingerprint(), "ABCD");
        assert_eq!(r[1].fingerprint(), "EF");
        assert!(PgpRecipient::parse_list("").is_empty());
    }
}
