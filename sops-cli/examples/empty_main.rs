//! An empty `main`: the start-up floor that `bench/compare startup` times our `sops --version`
//! and a small decrypt against. Built with the same cargo profile as the binary
//! (`cargo build --profile P -p sops-cli --example empty_main`), so the difference is what our
//! own start-up costs: a larger binary to map and relocate, the allocator, argument parsing,
//! the command's work.

fn main() {}
