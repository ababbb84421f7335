//! Fuzz target: the YAML fast path against granit alone. Whatever the input, parsing with the
//! fast path must give exactly what granit gives (same documents, or the same error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sops_core::format::{yaml, Format};

fuzz_target!(|data: &[u8]| {
    let with_fast_path = Format::Yaml.codec().parse_plain(data);
    let granit_only = yaml::parse_without_fast_path(data);
    assert_eq!(with_fast_path, granit_only);
});
