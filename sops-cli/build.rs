//! Links the `sops` binary as a position-dependent executable (`-no-pie`) on x86_64 Linux
//! with glibc, as sops's own Go binary is. A PIE binary of this size carries ~47 000 relative
//! relocations that the dynamic loader applies at every start, writing to ~200 pages of
//! `.data.rel.ro`: about 0.7 ms of a 3 ms small-file decrypt (BENCHMARKS.md, round 2). The
//! code stays position independent (only the final link changes), so proc-macros, build
//! scripts and tests are unaffected. `SOPS_RS_PIE=1` at build time keeps a PIE binary (full
//! ASLR of the executable's own image, at that start-up cost).

fn main() {
    println!("cargo:rerun-if-env-changed=SOPS_RS_PIE");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let pie_wanted = std::env::var("SOPS_RS_PIE").is_ok_and(|v| !v.is_empty() && v != "0");
    if os == "linux" && env == "gnu" && arch == "x86_64" && !pie_wanted {
        println!("cargo:rustc-link-arg-bin=sops=-no-pie");
    }
}
