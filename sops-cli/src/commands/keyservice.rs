//! `sops keyservice`: serve this machine's keys to sops elsewhere over sops's gRPC protocol.

use anyhow::Result;
use sops_core::error::exit_code;
use sops_core::keyservice::{self, Listen, ServerOptions};

use crate::cli::KeyserviceCommand;
use crate::exit::fail;

/// Runs the key service until SIGINT or SIGTERM (exit 0, the Unix socket removed).
pub fn run(c: KeyserviceCommand) -> Result<()> {
    let error = |e: keyservice::KeyServiceError| {
        fail(
            exit_code::ERROR_GENERIC,
            format!("Error running keyservice: {e}"),
        )
    };
    let listen = Listen::parse(&c.network, &c.address).map_err(error)?;
    let options = ServerOptions {
        prompt: c.prompt,
        verbose: c.verbose,
    };
    keyservice::serve(&listen, options).map_err(error)
}
