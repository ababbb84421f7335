//! `sops completion SHELL` and the man page, both generated from the command line definition.

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;

/// Prints the completion script for `shell` on stdout.
pub fn run_completion(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "sops", &mut std::io::stdout());
    Ok(())
}

/// Prints the man page (roff) on stdout, or with `dir` writes `sops.1` and one page per
/// subcommand (`sops-edit.1`, `sops-groups-add.1`, ...) there; `docs/man/` is that output.
pub fn run_man(dir: Option<&str>) -> Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    let Some(dir) = dir else {
        let out = render(&cmd)?;
        use std::io::Write;
        return std::io::stdout()
            .write_all(&out)
            .context("Could not write to stdout");
    };
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("Could not create {}", dir.display()))?;
    write_pages(&cmd, "sops", dir)
}

fn render(cmd: &clap::Command) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context("Could not render the man page")?;
    Ok(out)
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &std::path::Path) -> Result<()> {
    // clap names are `&'static str` without its `string` feature; this runs once per page
    // in a short-lived process.
    let static_name: &'static str = Box::leak(name.to_string().into_boxed_str());
    let page = cmd.clone().name(static_name);
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, render(&page)?)
        .with_context(|| format!("Could not write {}", path.display()))?;
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
