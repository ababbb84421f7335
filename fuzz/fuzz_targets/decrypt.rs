//! Fuzz target: whole-file decryption of arbitrary bytes with a fixed data key (all-ones),
//! with and without the MAC check, in every format, then emission of the plaintext.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sops_core::cipher::DataKey;
use sops_core::format::{EmitOptions, Format};
use sops_core::{DecryptOptions, EncryptedFile};

fuzz_target!(|data: &[u8]| {
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
    let format = formats[(pick & 0x7f) as usize % formats.len()];
    let opts = DecryptOptions {
        ignore_mac: pick & 0x80 != 0,
    };
    let Ok(file) = EncryptedFile::parse(input, format) else {
        return;
    };
    let key = DataKey::from_slice(&[1u8; 32]).expect("32 bytes");
    if let Ok(plain) = file.decrypt_with_key(key, &opts) {
        let _ = plain.to_bytes(format, &EmitOptions::default());
        let _ = plain.encrypt();
    }
});
