//! The `sops` binary: a thin layer over `sops-core`. It parses flags, runs one command and
//! turns errors into sops's messages and exit codes.

mod argv;
mod cli;
mod commands;
mod exit;

use clap::Parser;

/// mimalloc instead of the system allocator: a large file is hundreds of thousands of small
/// strings, and glibc's allocator spends more time on them than parsing does.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let normalised = match argv::normalise(std::env::args_os().collect()) {
        Ok(n) => n,
        Err(usage) => {
            eprintln!("{}", usage.message);
            std::process::exit(usage.code);
        }
    };
    for warning in &normalised.warnings {
        eprintln!("[CMD]\t level=warning msg={warning:?}");
    }
    let cli = match cli::Cli::try_parse_from(normalised.args) {
        Ok(cli) => cli,
        // Help and version go to stdout with status 0; other errors are usage errors, which
        // sops reports with exit code 1.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let _ = e.print();
            std::process::exit(sops_core::error::exit_code::ERROR_GENERIC);
        }
    };
    match commands::run(cli) {
        Ok(()) => {}
        Err(err) => {
            let (code, message) = exit::describe(&err);
            eprintln!("{message}");
            std::process::exit(code);
        }
    }
}
