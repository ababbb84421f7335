//! Crash-safe file writes: a temp file in the target's directory, fsync, rename, fsync the
//! directory. A kill at any instant leaves the old file or the new one, never a truncated one.
//!
//! For crash tests, the environment variable `SOPS_RS_TEST_FAILPOINT` (test-only, documented in
//! SECURITY.md) stops the write at a named point: `after-temp-create`, `mid-temp-write`,
//! `after-temp-write`, `before-rename` or `after-rename`. `NAME` aborts the process there;
//! `NAME=sleep:MS` sleeps MS milliseconds there, so a test can SIGKILL the process at that
//! instant. Unset (always, outside tests), it costs one environment lookup per write.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Replaces `path` with `contents` atomically. An existing file keeps its mode and (when
/// permitted) owner; a symlink is followed and stays a symlink. New files get mode 0666 less
/// the umask (0644 with the usual umask 022), as in sops.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let target = resolve_symlink(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let existing = fs::metadata(&target).ok();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".sops-tmp");
    if existing.is_none() {
        // A new file gets 0666 less the umask, as `os.Create` gives in sops.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(&dir)?;
    if let Some(m) = &existing {
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(m.permissions().mode() & 0o7777))?;
        // Keeping the owner only works for root or the same owner; ignore refusal.
        let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(m.uid()), Some(m.gid()));
    }
    failpoint("after-temp-create");
    let (first, second) = contents.split_at(contents.len() / 2);
    tmp.write_all(first)?;
    failpoint("mid-temp-write");
    tmp.write_all(second)?;
    failpoint("after-temp-write");
    tmp.as_file().sync_all()?;
    failpoint("before-rename");
    tmp.persist(&target).map_err(|e| e.error)?;
    failpoint("after-rename");
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The failpoints a crash test can stop a write at, in order.
pub const FAILPOINTS: [&str; 5] = [
    "after-temp-create",
    "mid-temp-write",
    "after-temp-write",
    "before-rename",
    "after-rename",
];

/// Aborts or sleeps at `point` when `SOPS_RS_TEST_FAILPOINT` names it (see the module doc).
fn failpoint(point: &str) {
    let Some(spec) = std::env::var_os("SOPS_RS_TEST_FAILPOINT") else {
        return;
    };
    let spec = spec.to_string_lossy();
    let (name, action) = spec.split_once('=').unwrap_or((&spec, "abort"));
    if name != point {
        return;
    }
    match action.strip_prefix("sleep:").and_then(|ms| ms.parse().ok()) {
        Some(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
        None => std::process::abort(),
    }
}

/// Follows symlinks (up to 40) to the file that should be replaced.
fn resolve_symlink(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&current)?;
                current = if link.is_absolute() {
                    link
                } else {
                    current.parent().unwrap_or(Path::new(".")).join(link)
                };
            }
            _ => return Ok(current),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_keeps_mode_and_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        fs::write(&file, "old").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink("a.yaml", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "new");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 2);
    }
}
