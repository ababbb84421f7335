//! The `sops` binary: a thin layer over `sops-core`. It parses flags, runs one command and
//! turns errors into sops's messages and exit codes.

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
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => {}
        Err(err) => {
            let (code, message) = exit::describe(&err);
            eprintln!("{message}");
            std::process::exit(code);
        }
    }
}
