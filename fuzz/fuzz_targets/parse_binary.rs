//! Fuzz target: the Binary parser (plain and encrypted modes), and re-emission of what parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sops_core::format::{EmitOptions, Format};

fuzz_target!(|data: &[u8]| {
    let codec = Format::Binary.codec();
    let opts = EmitOptions::default();
    if let Ok(docs) = codec.parse_plain(data) {
        let _ = codec.emit_plain(&docs, &opts);
    }
    if let Ok(docs) = codec.parse_encrypted(data) {
        let _ = codec.emit_encrypted(&docs, &opts);
    }
});
