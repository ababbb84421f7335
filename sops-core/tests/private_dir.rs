//! The private directory disappears when its process is killed with SIGKILL (which runs no
//! destructor): the watchdog removes it within a second.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sops_core::private_dir::PrivateDir;

const CHILD_ENV: &str = "SOPS_RS_PRIVATE_DIR_CHILD";

/// Run as a child process by the test below: makes a private directory with a plaintext file,
/// prints its path, and waits to be killed.
#[test]
fn child_holding_a_private_dir() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let dir = PrivateDir::new().unwrap();
    dir.write_file("plain.yaml", b"password: hunter2\n")
        .unwrap();
    println!("PRIVATE_DIR={}", dir.path().display());
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn sigkill_removes_the_private_dir() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_holding_a_private_dir", "--nocapture"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut dir = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(p) = line.strip_prefix("PRIVATE_DIR=") {
            dir = Some(PathBuf::from(p));
            break;
        }
    }
    let dir = dir.expect("the child printed its directory");
    assert!(dir.join("plain.yaml").exists());
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    while dir.exists() && start.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!dir.exists(), "{} left behind after SIGKILL", dir.display());
    eprintln!("removed {:?} after SIGKILL", start.elapsed());
}
