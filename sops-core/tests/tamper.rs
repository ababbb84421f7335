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
        // dotenv and INI spell the same fields flat; `KEY=` is an empty, unencrypted value.
        let flat_label = t.starts_with("sops_age__list_0__map_recipient=")
            || t.starts_with("sops_version=")
            || t.starts_with("age__list_0__map_recipient ")
            || t.starts_with("version ")
            || (t.trim_end().ends_with('=') && !t.starts_with('#'));
        if t.starts_with("- recipient:")
            || t.starts_with("\"recipient\"")
            || t.starts_with("version:")
            || t.starts_with("\"version\"")
            || t.starts_with("recipient =")
            || t.starts_with("version =")
            || flat_label
            || unauthenticated_key
        {
            ranges.push((offset, offset + line.len()));
        }
        offset += line.len();
    }
    ranges
}

/// Flips tried and refused (or harmless) per file, for the report.
fn sweep(name: &str, format: Format) -> (usize, usize) {
    let path = format!("{}/../testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let original = std::fs::read(&path).unwrap();
    let ids = identities();
    let expected = decrypt(&original, format, &ids).expect("the untouched file decrypts");
    let text = String::from_utf8(original.clone()).unwrap();
    let allowed = unprotected_lines(&text);
    let mut accepted = Vec::new();
    let mut tried = 0;
    let mut harmless = 0;
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
                harmless += 1;
                if out != expected {
                    accepted.push(format!("byte {i} ^ {flip:#x} ({:?})", original[i] as char));
                }
            }
        }
    }
    assert!(tried > 500, "{name}: only {tried} flips tried");
    eprintln!(
        "{name}: {tried} flips tried, {} refused, {} accepted with identical output",
        tried - harmless,
        harmless - accepted.len()
    );
    assert!(
        accepted.is_empty(),
        "{name}: {} flips accepted with changed output:\n{}",
        accepted.len(),
        accepted.join("\n")
    );
    (tried, tried - accepted.len())
}

#[test]
fn every_flip_in_yaml_is_refused() {
    sweep("sample.yaml", Format::Yaml);
}

#[test]
fn every_flip_in_json_is_refused() {
    sweep("sample.json", Format::Json);
}

#[test]
fn every_flip_in_dotenv_is_refused() {
    sweep("reliability/sample.enc.env", Format::Dotenv);
}

#[test]
fn every_flip_in_ini_is_refused() {
    sweep("reliability/sample.enc.ini", Format::Ini);
}

#[test]
fn every_flip_in_binary_is_refused() {
    sweep("reliability/sample.enc.bin", Format::Binary);
}

#[test]
fn every_flip_in_toml_is_refused() {
    sweep("reliability/sample.enc.toml", Format::Toml);
}
