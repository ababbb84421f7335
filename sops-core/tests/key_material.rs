//! Key material and plaintext never show in `Debug` output: data keys, age identities,
//! decrypted files. (Shamir shares and unwrapped secrets are `Zeroizing<Vec<u8>>`, wiped on
//! drop; they are internal values that nothing prints.)

use base64::Engine;
use sops_core::cipher::DataKey;
use sops_core::format::{EmitOptions, Format};
use sops_core::keys::age::AgeIdentities;
use sops_core::{DecryptOptions, EncryptedFile};

const AGE_SECRET: &str =
    "AGE-SECRET-KEY-1CYZPQWE442GN9FNH3LDYNR0QATR7JS73EFZJLCLPH3GNUYEML84SPPNAJK";

/// Every spelling of the key bytes a `Debug` impl could use.
fn spellings(key: &[u8]) -> Vec<String> {
    vec![
        format!("{key:?}"),
        format!("{:?}", key.to_vec()),
        key.iter().map(|b| format!("{b:02x}")).collect(),
        key.iter().map(|b| format!("{b:02X}")).collect(),
        base64::engine::general_purpose::STANDARD.encode(key),
        key.iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    ]
}

fn assert_hidden(debug: &str, key: &[u8]) {
    for s in spellings(key) {
        assert!(!debug.contains(&s), "key bytes in {debug}");
    }
}

#[test]
fn data_key_debug_is_redacted() {
    let key = DataKey::generate();
    let debug = format!("{key:?} {key:#?}");
    assert_hidden(&debug, key.as_bytes());
    assert!(debug.contains("redacted"));
}

#[test]
fn age_identities_debug_is_redacted() {
    let ids = AgeIdentities::from_text(AGE_SECRET).unwrap();
    let debug = format!("{ids:?} {ids:#?}");
    assert!(!debug.contains("AGE-SECRET-KEY"), "{debug}");
    assert!(
        !debug.to_uppercase().contains(&AGE_SECRET[15..40]),
        "{debug}"
    );
}

#[test]
fn decrypted_file_debug_shows_no_plaintext_or_key() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/sample.yaml"
    ))
    .unwrap();
    let ids = AgeIdentities::from_text(AGE_SECRET).unwrap();
    let file = EncryptedFile::parse(&bytes, Format::Yaml)
        .unwrap()
        .decrypt(&[&ids], &DecryptOptions::default())
        .unwrap();
    let plain = file
        .to_bytes(Format::Yaml, &EmitOptions::default())
        .unwrap();
    assert!(String::from_utf8_lossy(&plain).contains("hunter2"));
    let debug = format!("{file:?} {file:#?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains("db.example.com"), "{debug}");
    assert_hidden(&debug, file.data_key.as_bytes());
    // The error of a failed decryption holds no plaintext either.
    let retagged = String::from_utf8(bytes)
        .unwrap()
        .replace("type:str]", "type:int]");
    let err = EncryptedFile::parse(retagged.as_bytes(), Format::Yaml)
        .unwrap()
        .decrypt(&[&ids], &DecryptOptions::default())
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("example"),
        "{shown}"
    );
}
