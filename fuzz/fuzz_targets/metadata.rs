//! Fuzz target: the metadata reader (`Metadata::extract`, hence `from_node`, and the version
//! check) over documents parsed from arbitrary bytes in every format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sops_core::format::Format;
use sops_core::metadata::{self, Metadata};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the format, the rest is the file.
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let formats = [
        Format::Yaml,
        Format::Json,
        Format::Dotenv,
        Format::Ini,
        Format::Toml,
        Format::Binary,
    ];
    let format = formats[pick as usize % formats.len()];
    if let Ok(mut docs) = format.codec().parse_encrypted(input) {
        if let Ok(md) = Metadata::extract(&mut docs, format.metadata_layout()) {
            let _ = metadata::check_version(&md.version);
            let mut out = docs.clone();
            md.insert(&mut out, format);
        }
    }
});
