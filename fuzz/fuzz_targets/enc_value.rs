//! Fuzz target: the `ENC[...]` value parser, and decryption of what parses with a fixed key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sops_core::cipher::{self, DataKey, EncryptedValue};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = EncryptedValue::is_encrypted(text);
    if let Ok(value) = EncryptedValue::parse(text) {
        let key = DataKey::from_slice(&[1u8; 32]).expect("32 bytes");
        let _ = cipher::decrypt(&key, &value, b"a:");
    }
});
