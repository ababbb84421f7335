//! Mapping errors to sops's exit codes, and the CLI's own error with an explicit code.

use sops_core::error::exit_code;

/// An error with the exit code sops uses for it.
#[derive(Debug)]
pub struct ExitError {
    /// The process exit code.
    pub code: i32,
    /// The message printed on stderr.
    pub message: String,
}

impl std::fmt::Display for ExitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitError {}

/// Shorthand for an [`ExitError`] wrapped in `anyhow`.
pub fn fail(code: i32, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(ExitError {
        code,
        message: message.into(),
    })
}

/// The exit code and the full message (context chain) for an error.
pub fn describe(err: &anyhow::Error) -> (i32, String) {
    let mut code = exit_code::ERROR_GENERIC;
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ExitError>() {
            code = e.code;
            break;
        }
        if let Some(e) = cause.downcast_ref::<sops_core::Error>() {
            code = e.exit_code();
            break;
        }
    }
    let message = err
        .chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    (code, message)
}
