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

/// Runs gpg with `args`, feeding `stdin`; returns stdout, or stderr (trimmed) on failure.
fn run_gpg(args: &[&str], stdin: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let binary = gpg_binary();
    let mut child = Command::new(&binary)
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
}

impl PgpRecipient {
    /// A recipient for a fingerprint (spaces are removed, as sops does).
    pub fn new(fingerprint: &str) -> PgpRecipient {
        PgpRecipient {
            fingerprint: fingerprint.replace(' ', ""),
        }
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
        let out = run_gpg(&args, secret).map_err(|stderr| KeyError::Wrap {
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
#[derive(Debug, Clone, Copy, Default)]
pub struct GpgUnwrapper;

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
        Some(match run_gpg(&["-d"], enc.as_bytes()) {
            Ok(out) if out.is_empty() => Err(fail("zero bytes returned".into())),
            Ok(out) => Ok(out),
            Err(stderr) => Err(fail(stderr)),
        })
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

    #[test]
    fn fingerprint_lists() {
        let r = PgpRecipient::parse_list("AB CD,EF");
        assert_eq!(r[0].fingerprint(), "ABCD");
        assert_eq!(r[1].fingerprint(), "EF");
        assert!(PgpRecipient::parse_list("").is_empty());
    }
}
