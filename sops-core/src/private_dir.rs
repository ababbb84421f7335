//! A private temporary directory for plaintext that must touch the disk (the file an editor
//! opens, for example): mode 0700, files 0600, in memory-backed `/dev/shm` where available,
//! removed on drop, and removed by a watchdog process when this process dies without dropping
//! it (SIGKILL, abort).
//!
//! The watchdog is `sh` reading a pipe whose write end only this process holds (Rust's pipes
//! are close-on-exec, so an editor started later does not inherit it). When the process exits,
//! however it exits, the kernel closes the write end, `read` returns, and the shell removes the
//! directory, within a few milliseconds. It ignores SIGINT, SIGHUP and SIGTERM so a Ctrl-C to
//! the whole process group does not take it down first.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// A private temporary directory, removed on drop or when the process dies.
pub struct PrivateDir {
    dir: Option<tempfile::TempDir>,
    watchdog: Option<(Child, ChildStdin)>,
}

impl std::fmt::Debug for PrivateDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateDir")
            .field("path", &self.path())
            .field("watchdog", &self.watchdog.is_some())
            .finish()
    }
}

impl PrivateDir {
    /// A new directory in `/dev/shm` when it is a writable directory, else in the system's
    /// temporary directory (`TMPDIR`).
    pub fn new() -> io::Result<PrivateDir> {
        let shm = Path::new("/dev/shm");
        let base = match fs::metadata(shm) {
            Ok(m) if m.is_dir() && m.permissions().mode() & 0o002 != 0 => shm.to_path_buf(),
            _ => std::env::temp_dir(),
        };
        PrivateDir::new_in(&base).or_else(|_| PrivateDir::new_in(&std::env::temp_dir()))
    }

    /// A new directory under `base`.
    pub fn new_in(base: &Path) -> io::Result<PrivateDir> {
        let dir = tempfile::Builder::new()
            .prefix("sops-rs-")
            .tempdir_in(base)?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))?;
        let watchdog = spawn_watchdog(dir.path());
        Ok(PrivateDir {
            dir: Some(dir),
            watchdog,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), |d| d.path())
    }

    /// True if a watchdog process guards the directory (`sh` could be started).
    pub fn has_watchdog(&self) -> bool {
        self.watchdog.is_some()
    }

    /// Creates `name` in the directory with mode 0600 (it must not exist) and writes
    /// `contents`, synced. Returns its path.
    pub fn write_file(&self, name: &str, contents: &[u8]) -> io::Result<PathBuf> {
        if name.contains('/') || name == ".." || name == "." || name.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a private file name is one path component",
            ));
        }
        let path = self.path().join(name);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(contents)?;
        file.sync_all()?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
        if let Some((mut child, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// Starts the watchdog for `dir`, or returns `None` if `sh` cannot be started.
fn spawn_watchdog(dir: &Path) -> Option<(Child, ChildStdin)> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg("trap '' INT HUP TERM; read _ignored; rm -rf -- \"$0\"")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_modes_and_removal_on_drop() {
        let dir = PrivateDir::new().unwrap();
        let path = dir.path().to_path_buf();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let file = dir
            .write_file("secrets.yaml", b"password: hunter2\n")
            .unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(dir.write_file("secrets.yaml", b"again").is_err());
        assert!(dir.write_file("../escape", b"x").is_err());
        assert!(dir.has_watchdog());
        drop(dir);
        assert!(!path.exists());
    }
}
