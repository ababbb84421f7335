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
    let mut w = AtomicWriter::new(path);
    let (first, second) = contents.split_at(contents.len() / 2);
    w.write_all(first)?;
    w.write_all(second)?;
    w.commit()
}

/// [`write_atomic`] for output written piece by piece: the temp file is created at the first
/// write (so an error before any output leaves the file system untouched), and replaces the
/// target at [`AtomicWriter::commit`]. Dropped without a commit, it removes the temp file.
pub struct AtomicWriter {
    path: PathBuf,
    tmp: Option<(tempfile::NamedTempFile, PathBuf)>,
    /// Writes so far (the `mid-temp-write` failpoint is between the first and the next).
    writes: usize,
}

impl AtomicWriter {
    /// A writer for `path`; nothing is created yet.
    pub fn new(path: &Path) -> Self {
        AtomicWriter {
            path: path.to_path_buf(),
            tmp: None,
            writes: 0,
        }
    }

    fn file(&mut self) -> io::Result<&mut tempfile::NamedTempFile> {
        if self.tmp.is_none() {
            self.tmp = Some(create_temp(&self.path)?);
        }
        Ok(&mut self.tmp.as_mut().expect("just created").0)
    }

    /// Syncs the temp file and renames it over the target (following symlinks).
    pub fn commit(mut self) -> io::Result<()> {
        self.file()?;
        if self.writes < 2 {
            failpoint("mid-temp-write");
        }
        let Some((tmp, target)) = self.tmp.take() else {
            return Err(io::Error::other("no temp file"));
        };
        failpoint("after-temp-write");
        tmp.as_file().sync_all()?;
        failpoint("before-rename");
        tmp.persist(&target).map_err(|e| e.error)?;
        failpoint("after-rename");
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Write for AtomicWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.writes == 1 {
            failpoint("mid-temp-write");
        }
        let n = self.file()?.write(buf)?;
        self.writes += 1;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.tmp.as_mut() {
            Some((f, _)) => f.flush(),
            None => Ok(()),
        }
    }
}

/// Creates the temp file next to the file `path` resolves to, with the mode (and owner) the
/// result must have; returns it with the resolved target.
fn create_temp(path: &Path) -> io::Result<(tempfile::NamedTempFile, PathBuf)> {
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
    let tmp = builder.tempfile_in(&dir)?;
    if let Some(m) = &existing {
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(m.permissions().mode() & 0o7777))?;
        // Keeping the owner only works for root or the same owner; ignore refusal.
        let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(m.uid()), Some(m.gid()));
    }
    failpoint("after-temp-create");
    Ok((tmp, target))
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

    #[test]
    fn writer_creates_nothing_until_written_and_cleans_up_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.json");
        fs::write(&file, "old").unwrap();
        // Dropped before any write: nothing created.
        drop(AtomicWriter::new(&file));
        // Dropped after a write, without commit: the temp file goes, the target stays.
        let mut w = AtomicWriter::new(&file);
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(fs::read_to_string(&file).unwrap(), "old");
        // Written in pieces and committed.
        let mut w = AtomicWriter::new(&file);
        for piece in [&b"new "[..], b"content", b""] {
            w.write_all(piece).unwrap();
        }
        w.commit().unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "new content");
        // Committed without any write: an empty file.
        let empty = dir.path().join("empty.json");
        AtomicWriter::new(&empty).commit().unwrap();
        assert_eq!(fs::read(&empty).unwrap(), b"");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
