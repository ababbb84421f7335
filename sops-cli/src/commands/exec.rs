//! `sops exec-env FILE COMMAND` and `sops exec-file FILE COMMAND`: run a command (through
//! `/bin/sh -c`, as sops) with the decrypted values in its environment, or with the decrypted
//! file at a temporary path that replaces `{}`. Only the child sees the plaintext; the FIFO or
//! temporary file is removed when the command ends (and on SIGINT/SIGTERM/SIGHUP).

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use anyhow::{Context, Result};
use sops_core::edit::env_value;
use sops_core::error::exit_code;
use sops_core::tree::{MapItem, Node};
use sops_core::{DecryptOptions, DecryptedFile};

use super::{load, Invocation};
use crate::cli::{ExecEnvCommand, ExecFileCommand};
use crate::exit::fail;

fn decrypt(inv: &Invocation) -> Result<DecryptedFile> {
    let bytes = inv.read_input()?;
    let file = load::parse_encrypted(&bytes, inv.input_format, &inv.display_name)?;
    let key = load::recover_key(&file, &inv.args)?;
    file.decrypt_with_key(
        key,
        &DecryptOptions {
            ignore_mac: inv.args.ignore_mac,
        },
    )
    .with_context(|| format!("Error decrypting {}", inv.display_name))
}

/// The account `--user` names: who the command runs as, and the environment it gets.
struct Account {
    uid: u32,
    gid: u32,
    /// Every group the user is in (the primary one included), for `setgroups`.
    groups: Vec<libc::gid_t>,
    home: String,
    name: String,
}

/// Looks up a user: uid, primary gid, supplementary groups, home directory (sops 3.13, PRs
/// 2154, 2194 and 2230).
fn lookup_user(name: &str) -> Result<Account> {
    let c = CString::new(name).map_err(|_| {
        fail(
            exit_code::ERROR_GENERIC,
            format!("user: unknown user {name}"),
        )
    })?;
    // SAFETY: getpwnam with a valid C string; the result is read at once.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            format!("user: unknown user {name}"),
        ));
    }
    // SAFETY: pw is non-null and points to a valid passwd record, read before any other
    // getpw* call.
    let (uid, gid, home, user) = unsafe {
        let home = std::ffi::CStr::from_ptr((*pw).pw_dir)
            .to_string_lossy()
            .into_owned();
        let user = std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned();
        ((*pw).pw_uid, (*pw).pw_gid, home, user)
    };
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut count = groups.len() as libc::c_int;
        // SAFETY: the buffer holds `count` entries; getgrouplist writes at most that many
        // and sets `count` to the number needed.
        let rc = unsafe { libc::getgrouplist(c.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(count.max(0) as usize);
            break;
        }
        if groups.len() >= 65536 {
            groups = vec![gid];
            break;
        }
        let wanted = (count.max(0) as usize).max(groups.len() * 2);
        groups.resize(wanted, 0);
    }
    Ok(Account {
        uid,
        gid,
        groups,
        home,
        name: user,
    })
}

fn shell(
    command: &str,
    user: Option<&str>,
    pristine: bool,
    env: &[(String, String)],
) -> Result<Command> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    if pristine {
        cmd.env_clear();
    }
    if let Some(user) = user.filter(|u| !u.is_empty()) {
        let account = lookup_user(user)?;
        // As sops 3.13: the user's HOME, USER and LOGNAME (the decrypted values still win).
        cmd.env("HOME", &account.home)
            .env("USER", &account.name)
            .env("LOGNAME", &account.name);
        let Account {
            uid, gid, groups, ..
        } = account;
        // SAFETY: only async-signal-safe calls (setgroups, setgid, setuid) between fork and
        // exec, on data prepared before the fork. Supplementary groups first, while we are
        // still allowed to set them; std's `uid()` would drop them all instead.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setgroups(groups.len() as _, groups.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    Ok(cmd)
}

/// Turns the child's exit status into ours, as sops does (its exit code, 1 without one).
fn finish(status: std::io::Result<ExitStatus>) -> Result<()> {
    let status = status.map_err(|e| fail(exit_code::ERROR_GENERIC, e.to_string()))?;
    if status.success() {
        return Ok(());
    }
    match status.code() {
        Some(code) => Err(fail(code, format!("exit status {code}"))),
        None => Err(fail(255, format!("{status}"))),
    }
}

/// `sops exec-env`.
pub fn run_env(c: ExecEnvCommand) -> Result<()> {
    if c.background && c.same_process {
        return Err(fail(
            exit_code::ERROR_CONFLICTING_PARAMETERS,
            "Error: The --same-process flag cannot be used with --background",
        ));
    }
    let inv = Invocation::new_maybe_missing(c.common, Some(c.file))?;
    let file = decrypt(&inv)?;
    let mut env = Vec::new();
    if let Some(doc) = file.documents.first() {
        for item in &doc.items {
            let MapItem::Entry(e) = item else { continue };
            let value = match &e.value {
                Node::Scalar(s) => env_value(s),
                _ => {
                    return Err(fail(
                        exit_code::ERROR_GENERIC,
                        format!(
                            "cannot use complex value in environment; offending key {}",
                            e.key
                        ),
                    ))
                }
            };
            if e.key.contains('=') {
                return Err(fail(
                    exit_code::ERROR_GENERIC,
                    format!("cannot use keys with '=' in environment: {}", e.key),
                ));
            }
            env.push((e.key.clone(), value));
        }
    }
    drop(file);
    let mut cmd = shell(&c.command, c.user.as_deref(), c.pristine, &env)?;
    drop(env);
    if c.same_process {
        let err = cmd.exec();
        return Err(fail(exit_code::ERROR_GENERIC, err.to_string()));
    }
    if c.background {
        eprintln!("[CMD]\t level=warning msg=\"exec-env's --background option is deprecated and will be removed in a future version of sops\"");
        cmd.spawn()
            .map_err(|e| fail(exit_code::ERROR_GENERIC, e.to_string()))?;
        return Ok(());
    }
    finish(cmd.status())
}

/// `sops exec-file`.
pub fn run_file(c: ExecFileCommand) -> Result<()> {
    let inv = Invocation::new_maybe_missing(c.common, Some(c.file))?;
    let file = decrypt(&inv)?;
    let plain = zeroize::Zeroizing::new(
        file.to_bytes(inv.output_format, &inv.emit)
            .with_context(|| format!("Error dumping file as {}", inv.output_format.name()))?,
    );
    drop(file);
    let dir = tempfile::Builder::new()
        .prefix(".sops")
        .tempdir()
        .map_err(|e| fail(exit_code::ERROR_GENERIC, e.to_string()))?;
    let _ = fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700));
    let name = if c.filename.is_empty() {
        "tmp-file"
    } else {
        c.filename.as_str()
    };
    if !is_local_path(name) {
        // sops 3.13 (PR 2155), after decrypting, with exit code 1.
        return Err(fail(
            exit_code::ERROR_GENERIC,
            "The provided filename is not a local path.",
        ));
    }
    let path = dir.path().join(name);
    let cleanup = CleanupOnSignal::install(dir.path().to_path_buf());
    let mut writer = None;
    if c.no_fifo {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| fail(exit_code::ERROR_GENERIC, e.to_string()))?;
        f.write_all(&plain)
            .map_err(|e| fail(exit_code::ERROR_GENERIC, e.to_string()))?;
    } else {
        make_fifo(&path)?;
        // Opening a FIFO for writing blocks until a reader opens it: do it on a thread.
        let fifo = path.clone();
        let data = plain.clone();
        writer = Some(std::thread::spawn(move || {
            if let Ok(mut f) = fs::OpenOptions::new().write(true).open(&fifo) {
                let _ = f.write_all(&data);
            }
            drop(data);
        }));
    }
    drop(plain);
    let command = c.command.replace("{}", &path.display().to_string());
    let mut cmd = shell(&command, c.user.as_deref(), false, &[])?;
    if c.background {
        eprintln!("[CMD]\t level=warning msg=\"exec-file's --background option is deprecated and will be removed in a future version of sops\"");
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(exit_code::ERROR_GENERIC, e.to_string()))?;
        // With a FIFO, wait until the command has read it (or has ended without reading);
        // a temporary file goes away when we exit, as in sops.
        if let Some(w) = writer {
            loop {
                if w.is_finished() {
                    break;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    drain_fifo(&path, &w);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            let _ = w.join();
        }
        drop(cleanup);
        return Ok(());
    }
    let status = cmd.status();
    if let Some(w) = writer {
        if !w.is_finished() {
            // Nobody read the FIFO: read (and discard) it ourselves to unblock the writer.
            drain_fifo(&path, &w);
        }
        let _ = w.join();
    }
    drop(cleanup);
    drop(dir);
    finish(status)
}

/// Go's `filepath.IsLocal` on Unix: relative, not empty, and not leaving the directory
/// (`..` after cleaning). `a/b` is local (and then fails to be created, as in sops).
fn is_local_path(name: &str) -> bool {
    if name.is_empty() || name.starts_with('/') {
        return false;
    }
    let mut depth: i64 = 0;
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

/// Opens the FIFO for reading without blocking and discards what the writer thread writes
/// until it is done.
fn drain_fifo(path: &Path, writer: &std::thread::JoinHandle<()>) {
    use std::io::Read;
    let Ok(mut reader) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    else {
        return;
    };
    let mut buf = zeroize::Zeroizing::new([0u8; 8192]);
    loop {
        match reader.read(&mut buf[..]) {
            Ok(n) if n > 0 => continue,
            _ if writer.is_finished() => break,
            _ => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

fn make_fifo(path: &Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| fail(exit_code::ERROR_GENERIC, "invalid temporary path"))?;
    // SAFETY: mkfifo with a valid C string path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if rc != 0 {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            format!("Could not create FIFO: {}", std::io::Error::last_os_error()),
        ));
    }
    Ok(())
}

/// The directory to remove when a signal arrives; removal happens under this lock.
static EXEC_DIR: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// Removes a directory when SIGINT, SIGTERM or SIGHUP arrives (then exits), and on drop.
struct CleanupOnSignal {
    dir: PathBuf,
}

impl CleanupOnSignal {
    fn install(dir: PathBuf) -> CleanupOnSignal {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        if let Ok(mut slot) = EXEC_DIR.lock() {
            *slot = Some(dir.clone());
        }
        if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            std::thread::spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    // Held until exit, so the main thread is never halfway through.
                    let slot = EXEC_DIR.lock();
                    if let Ok(slot) = &slot {
                        if let Some(d) = slot.as_ref() {
                            let _ = fs::remove_dir_all(d);
                        }
                    }
                    std::process::exit(if sig == SIGINT {
                        exit_code::KEYBOARD_INTERRUPT
                    } else {
                        128 + sig
                    });
                }
            });
        }
        CleanupOnSignal { dir }
    }
}

impl Drop for CleanupOnSignal {
    fn drop(&mut self) {
        let guard = EXEC_DIR.lock();
        let _ = fs::remove_dir_all(&self.dir);
        if let Ok(mut slot) = guard {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn local_paths_as_go_filepath_is_local() {
        for ok in ["tmp-file", "a/b", ".", "a/../b", "./x"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in ["", "/etc/passwd", "..", "../x", "a/../../x", "/"] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }
}
