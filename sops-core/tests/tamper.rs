//! Tamper sweep: every single-byte change to an encrypted file written by the reference sops
//! is refused, except in the few places the format does not protect (the recipient text, which
//! is only a label, and the `version` field while it stays valid semver). Refusal means an
//! error and no plaintext.

use sops_core::format::{EmitOptions, Format};
use sops_core::keys::age::AgeIdentities;
use sops_core::{DecryptOptions, EncryptedFile};

fn identities() -> AgeIdentities {
    let key = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/age-key.txt"
    ))
    .unwrap();
    AgeIdentities::from_text(&key).unwrap()
}

fn decrypt(bytes: &[u8], format: Format, ids: &AgeIdentities) -> Option<Vec<u8>> {
    let file = EncryptedFile::parse(bytes, format).ok()?;
    let plain = file.decrypt(&[ids], &DecryptOptions::default()).ok()?;
    plain.to_bytes(format, &EmitOptions::default()).ok()
}

/// Byte ranges (line-based) where a change is allowed to go unnoticed.
fn unprotected_lines(text: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        // Labels the format does not authenticate: the recipient text, a still-valid version,
        // and the keys of values that are not encrypted (plain, empty or null values).
        let unauthenticated_key = t.contains("_unencrypted")
            || [": \"\"", ": null", ": {}", ": []"]
                .iter()
                .any(|v| t.trim_end().trim_end_matches(',').ends_with(v));
        if t.starts_with("- recipient:")
            || t.starts_with("\"recipient\"")
            || t.starts_with("version:")
            || t.starts_with("\"version\"")
            || unauthenticated_key
        {
            ranges.push((offset, offset + line.len()));
        }
        offset += line.len();
    }
    ranges
}

fn sweep(name: &str, format: Format) {
    let path = format!("{}/../testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let original = std::fs::read(&path).unwrap();
    let ids = identities();
    let expected = decrypt(&original, format, &ids).expect("the untouched file decrypts");
    let text = String::from_utf8(original.clone()).unwrap();
    let allowed = unprotected_lines(&text);
    let mut accepted = Vec::new();
    let mut tried = 0;
    for i in 0..original.len() {
        if allowed.iter().any(|(a, b)| (*a..*b).contains(&i)) {
            continue;
        }
        for flip in [0x01u8, 0x20] {
            let mut bytes = original.clone();
            bytes[i] ^= flip;
            if bytes[i] == b'\n' || original[i] == b'\n' {
                continue;
            }
            tried += 1;
            if let Some(out) = decrypt(&bytes, format, &ids) {
                // A change that leaves the plaintext identical (e.g. YAML quoting of a key
                // that means the same) is harmless; anything else is a failure.
                if out != expected {
                    accepted.push(format!("byte {i} ^ {flip:#x} ({:?})", original[i] as char));
                }
            }
        }
    }
    assert!(tried > 1000, "{name}: only {tried} flips tried");
    assert!(
        accepted.is_empty(),
        "{name}: {} flips accepted with changed output:\n{}",
        accepted.len(),
        accepted.join("\n")
    );
}

#[test]
fn every_flip_in_yaml_is_refused() {
    sweep("sample.yaml", Format::Yaml);
}

#[test]
fn every_flip_in_json_is_refused() {
    sweep("sample.json", Format::Json);
}
