//! The terminal as age's plugins and passphrase-protected identity files need it: messages go
//! to standard error, questions are asked on `/dev/tty` (passphrases without echo).

use age::secrecy::SecretString;
use std::io::{BufRead, Write};

/// [`age::Callbacks`] talking to the controlling terminal, as sops's terminal UI does.
#[derive(Clone, Copy, Debug, Default)]
pub struct TerminalCallbacks;

/// Reads a line from `/dev/tty` with echo (for public values and confirmations).
fn read_line_from_tty(prompt: &str) -> std::io::Result<String> {
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    write!(tty, "{prompt} ")?;
    tty.flush()?;
    let mut line = String::new();
    std::io::BufReader::new(tty).read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads a secret from `/dev/tty` without echo; an error when there is no terminal.
pub(crate) fn read_secret(prompt: &str) -> std::io::Result<SecretString> {
    rpassword::prompt_password(format!("{prompt} ")).map(SecretString::from)
}

impl age::Callbacks for TerminalCallbacks {
    fn display_message(&self, message: &str) {
        eprintln!("age: {message}");
    }

    fn confirm(&self, message: &str, yes_string: &str, no_string: Option<&str>) -> Option<bool> {
        let choices = match no_string {
            Some(no) => format!("[1] {yes_string}, [2] {no}"),
            None => format!("[1] {yes_string}"),
        };
        let answer = read_line_from_tty(&format!("age: {message} {choices}:")).ok()?;
        match answer.trim() {
            "1" => Some(true),
            "2" if no_string.is_some() => Some(false),
            _ => None,
        }
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        read_line_from_tty(&format!("age: {description}")).ok()
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        read_secret(&format!("age: {description}")).ok()
    }
}
