//! The key service (`sops keyservice`, `--keyservice`) against the reference sops, both ways:
//! the reference as the client of our server and our binary as the client of the
//! reference's server, over TCP on 127.0.0.1 and over a Unix socket, with an age key and a
//! PGP key that exist only on the server's side (the clients run with an empty HOME and no
//! `SOPS_AGE_*`). Also: a server that is down fails fast with the address and the reason, and
//! our server stops cleanly on SIGINT/SIGTERM, removing its socket.
//!
//! Needs gpg (`scripts/test` installs gnupg) and the reference sops; fails, never skips,
//! without them.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{our_sops, reference_sops, show, testdata, Dir, RECIPIENT};

fn gpg(home: &Path, args: &[&str]) -> Output {
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(args)
        .output()
        .expect("gpg is missing: run scripts/test, which installs gnupg");
    assert!(
        out.status.success(),
        "gpg {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A gpg home with one new secret key; the agent is stopped on drop.
struct GpgHome {
    dir: tempfile::TempDir,
    fp: String,
}

impl GpgHome {
    fn new() -> GpgHome {
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        gpg(
            dir.path(),
            &[
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                "keyservice test <ks@example.com>",
                "future-default",
                "default",
                "never",
            ],
        );
        let list = gpg(dir.path(), &["--list-keys", "--with-colons"]);
        let fp = String::from_utf8_lossy(&list.stdout)
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("no fingerprint")
            .to_string();
        GpgHome { dir, fp }
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.dir.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Where a test server listens.
enum Net {
    Tcp,
    Unix,
}

/// A running `sops keyservice` (ours or the reference) with the test age key and `gpg`'s
/// secret key; stopped with SIGTERM on drop.
struct Server {
    child: Option<Child>,
    uri: String,
    socket: Option<PathBuf>,
    stderr: PathBuf,
    _home: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    fn start(bin: &Path, net: Net, gpg: &GpgHome) -> Server {
        let home = tempfile::tempdir().unwrap();
        let (network, address, uri, socket) = match net {
            Net::Tcp => {
                let addr = format!("127.0.0.1:{}", free_port());
                ("tcp", addr.clone(), format!("tcp://{addr}"), None)
            }
            Net::Unix => {
                let path = home.path().join("ks.sock");
                let p = path.display().to_string();
                ("unix", p.clone(), format!("unix://{p}"), Some(path))
            }
        };
        let stderr = home.path().join("server.log");
        let child = Command::new(bin)
            .args([
                "keyservice",
                "--verbose",
                "--network",
                network,
                "--address",
                &address,
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("SOPS_AGE_KEY_FILE", testdata("age-key.txt"))
            .env("GNUPGHOME", gpg.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let server = Server {
            child: Some(child),
            uri,
            socket,
            stderr,
            _home: home,
        };
        server.wait_ready(&address);
        server
    }

    fn wait_ready(&self, address: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = match &self.socket {
                Some(path) => std::os::unix::net::UnixStream::connect(path).is_ok(),
                None => std::net::TcpStream::connect(address).is_ok(),
            };
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "key service did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends `signal` and waits for the exit status (at most 10 seconds).
    fn stop(&mut self, signal: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("key service did not stop on signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop(libc::SIGTERM);
        }
    }
}

/// Runs a client with no key of its own: empty HOME, no `SOPS_AGE_*`, an empty gpg home.
fn client(dir: &Dir, bin: &Path, args: &[&str], envs: &[(&str, &OsStr)]) -> Output {
    let empty = dir.path("gnupg-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut all: Vec<(&str, &OsStr)> = vec![("GNUPGHOME", empty.as_os_str())];
    all.extend_from_slice(envs);
    let mut full = vec!["--disable-version-check"];
    full.extend_from_slice(args);
    if bin == our_sops() {
        full.remove(0);
    }
    dir.run_env(bin, &full, "", &all, false)
}

fn ok(out: Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}",
        out.status.code(),
        show(&out.stderr)
    );
    out.stdout
}

const PLAIN: &str = "db:\n    user: admin\n    password: s3cr3t-value\nport: 5432\n";

/// Encrypts for an age and a PGP key that only the server has, then decrypts twice (age
/// first, and PGP first with `--decryption-order`), with `client` talking to `server`.
fn round_trip(client_bin: &Path, server_bin: &Path, net: Net) {
    let gpg = GpgHome::new();
    let server = Server::start(server_bin, net, &gpg);
    let dir = Dir::new();
    dir.write("plain.yaml", PLAIN);
    let ks = server.uri.as_str();
    let enc = ok(
        client(
            &dir,
            client_bin,
            &[
                "encrypt",
                "--enable-local-keyservice=false",
                "--keyservice",
                ks,
                "--age",
                RECIPIENT,
                "--pgp",
                &gpg.fp,
                "plain.yaml",
            ],
            &[],
        ),
        "encrypt through the key service",
    );
    let text = show(&enc);
    assert!(text.contains(RECIPIENT) && text.contains(&gpg.fp), "{text}");
    assert!(!text.contains("s3cr3t-value"));
    dir.write("enc.yaml", &enc);

    // The client has no key: without the key service nothing decrypts.
    let alone = client(&dir, client_bin, &["decrypt", "enc.yaml"], &[]);
    assert_eq!(alone.status.code(), Some(128), "{}", show(&alone.stderr));

    // The local key service is tried first and fails; the remote one decrypts (age).
    let out = ok(
        client(
            &dir,
            client_bin,
            &["decrypt", "--keyservice", ks, "enc.yaml"],
            &[],
        ),
        "decrypt with local and remote",
    );
    assert_eq!(show(&out), PLAIN);
    // PGP first, only the remote service, the URI from SOPS_KEYSERVICE.
    let out = ok(
        client(
            &dir,
            client_bin,
            &[
                "decrypt",
                "--enable-local-keyservice=false",
                "--decryption-order",
                "pgp,age",
                "enc.yaml",
            ],
            &[("SOPS_KEYSERVICE", OsStr::new(ks))],
        ),
        "decrypt with PGP through the key service",
    );
    assert_eq!(show(&out), PLAIN);

    // The other binary reads the file with the same service.
    let other = if client_bin == our_sops() {
        reference_sops()
    } else {
        our_sops()
    };
    let out = ok(
        client(
            &dir,
            &other,
            &["decrypt", "--keyservice", ks, "enc.yaml"],
            &[],
        ),
        "decrypt with the other binary",
    );
    assert_eq!(show(&out), PLAIN);

    let log = server.log();
    assert!(!log.contains("s3cr3t"), "{log}");
    if server_bin == our_sops() {
        // Requests are logged with the key type and public identifier only.
        assert!(
            log.contains(&format!(
                "[AGE]\t level=info msg=\"Encryption succeeded\" recipient={RECIPIENT}"
            )),
            "{log}"
        );
        assert!(
            log.contains(&format!(
                "[PGP]\t level=info msg=\"Decryption succeeded\" fingerprint={}",
                gpg.fp
            )),
            "{log}"
        );
        assert!(!log.contains("AGE-SECRET-KEY"), "{log}");
        assert!(!log.contains("BEGIN"), "{log}");
    }
}

#[test]
fn reference_client_with_our_server_over_tcp() {
    round_trip(&reference_sops(), &our_sops(), Net::Tcp);
}

#[test]
fn reference_client_with_our_server_over_a_unix_socket() {
    round_trip(&reference_sops(), &our_sops(), Net::Unix);
}

#[test]
fn our_client_with_the_reference_server_over_tcp() {
    round_trip(&our_sops(), &reference_sops(), Net::Tcp);
}

#[test]
fn our_client_with_the_reference_server_over_a_unix_socket() {
    round_trip(&our_sops(), &reference_sops(), Net::Unix);
}

#[test]
fn keys_are_rewrapped_through_the_key_service() {
    // rotate makes a new data key: it is wrapped by the remote service for the age key the
    // client does not have.
    let gpg = GpgHome::new();
    let server = Server::start(&our_sops(), Net::Unix, &gpg);
    let dir = Dir::new();
    dir.write("plain.yaml", PLAIN);
    let ks = server.uri.as_str();
    let args = ["--enable-local-keyservice=false", "--keyservice", ks];
    let mut enc_args = vec!["encrypt"];
    enc_args.extend_from_slice(&args);
    enc_args.extend_from_slice(&["--age", RECIPIENT, "plain.yaml"]);
    let enc = ok(client(&dir, &our_sops(), &enc_args, &[]), "encrypt");
    dir.write("enc.yaml", &enc);
    let mut rot = vec!["rotate", "-i"];
    rot.extend_from_slice(&args);
    rot.push("enc.yaml");
    ok(client(&dir, &our_sops(), &rot, &[]), "rotate");
    assert_ne!(dir.read("enc.yaml"), enc);
    // The reference decrypts the rotated file with its own local key.
    let out = dir.ok(
        &reference_sops(),
        &["--disable-version-check", "-d", "enc.yaml"],
    );
    assert_eq!(show(&out), PLAIN);
}

#[test]
fn a_server_that_is_down_is_a_clear_error_in_bounded_time() {
    let dir = Dir::new();
    dir.write("plain.yaml", PLAIN);
    let enc = dir.ok(&our_sops(), &["encrypt", "--age", RECIPIENT, "plain.yaml"]);
    dir.write("enc.yaml", &enc);
    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let sock = dir.path("nobody.sock").display().to_string();
    let unix = format!("unix://{sock}");
    let start = Instant::now();
    let out = client(
        &dir,
        &our_sops(),
        &[
            "decrypt",
            "--enable-local-keyservice=false",
            "--keyservice",
            &tcp,
            "--keyservice",
            &unix,
            "enc.yaml",
        ],
        &[],
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(128));
    let err = show(&out.stderr);
    // The report lists one reason per key service, as sops's does.
    assert!(err.contains(&format!("{RECIPIENT}: FAILED")), "{err}");
    assert!(
        err.contains("rpc error: code = Unavailable desc = connection error: dial"),
        "{err}"
    );
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    assert!(err.contains("nobody.sock"), "{err}");
    // Encrypting with only a service that is down fails the same way, with sops's status.
    let out = client(
        &dir,
        &our_sops(),
        &[
            "encrypt",
            "--enable-local-keyservice=false",
            "--keyservice",
            &tcp,
            "--age",
            RECIPIENT,
            "plain.yaml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out.stderr));
    assert!(show(&out.stderr).contains("connection error"));
}

#[test]
fn our_server_stops_cleanly_and_removes_its_socket() {
    let gpg = GpgHome::new();
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut server = Server::start(&our_sops(), Net::Unix, &gpg);
        let socket = server.socket.clone().unwrap();
        assert!(socket.exists());
        let status = server.stop(signal);
        assert_eq!(status.code(), Some(0), "{}", server.log());
        assert!(!socket.exists(), "socket left behind");
        assert!(server.log().contains("Caught signal"), "{}", server.log());
    }
}

#[test]
fn a_socket_in_use_is_an_error() {
    let gpg = GpgHome::new();
    let server = Server::start(&our_sops(), Net::Unix, &gpg);
    let socket = server.socket.clone().unwrap();
    let out = Command::new(our_sops())
        .args(["keyservice", "--network", "unix", "--address"])
        .arg(&socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = show(&out.stderr);
    assert!(
        err.starts_with("Error running keyservice: could not listen on unix://"),
        "{err}"
    );
    // The running server's socket is left alone.
    assert!(socket.exists());
}
