//! The `sops` binary: a thin layer over `sops-core`. It parses flags, runs one command and
//! turns errors into sops's messages and exit codes.

mod cli;
mod commands;
mod exit;

use clap::Parser;

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
