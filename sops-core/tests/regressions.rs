//! Replays every input under `testdata/regressions/<target>/` through the code of that fuzz
//! target (see `fuzz/`): each once crashed, hung or overflowed the stack, and must now give an
//! error or a result, on a 2 MiB stack, within 10 s.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use sops_core::cipher::{self, DataKey, EncryptedValue};
use sops_core::format::{EmitOptions, Format};
use sops_core::metadata::{self, Metadata};
use sops_core::{DecryptOptions, EncryptedFile};

const FORMATS: [Format; 6] = [
    Format::Yaml,
    Format::Json,
    Format::Dotenv,
    Format::Ini,
    Format::Toml,
    Format::Binary,
];

fn parse(format: Format, data: &[u8]) {
    let codec = format.codec();
    let opts = EmitOptions::default();
    if let Ok(docs) = codec.parse_plain(data) {
        let _ = codec.emit_plain(&docs, &opts);
    }
    if let Ok(docs) = codec.parse_encrypted(data) {
        let _ = codec.emit_encrypted(&docs, &opts);
    }
}

fn enc_value(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(value) = EncryptedValue::parse(text) {
            let key = DataKey::from_slice(&[1u8; 32]).unwrap();
            let _ = cipher::decrypt(&key, &value, b"a:");
        }
    }
}

fn metadata_target(data: &[u8]) {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let format = FORMATS[pick as usize % FORMATS.len()];
    if let Ok(mut docs) = format.codec().parse_encrypted(input) {
        if let Ok(md) = Metadata::extract(&mut docs, format.metadata_layout()) {
            let _ = metadata::check_version(&md.version);
            md.insert(&mut docs, format);
        }
    }
}

fn decrypt(data: &[u8]) {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let format = FORMATS[(pick & 0x7f) as usize % FORMATS.len()];
    let opts = DecryptOptions {
        ignore_mac: pick & 0x80 != 0,
    };
    if let Ok(file) = EncryptedFile::parse(input, format) {
        let key = DataKey::from_slice(&[1u8; 32]).unwrap();
        if let Ok(plain) = file.decrypt_with_key(key, &opts) {
            let _ = plain.to_bytes(format, &EmitOptions::default());
            let _ = plain.encrypt();
        }
    }
}

fn run(target: &str, data: Vec<u8>) {
    match target {
        "parse_yaml" => parse(Format::Yaml, &data),
        "parse_json" => parse(Format::Json, &data),
        "parse_dotenv" => parse(Format::Dotenv, &data),
        "parse_ini" => parse(Format::Ini, &data),
        "parse_toml" => parse(Format::Toml, &data),
        "parse_binary" => parse(Format::Binary, &data),
        "enc_value" => enc_value(&data),
        "metadata" => metadata_target(&data),
        "decrypt" => decrypt(&data),
        other => panic!("unknown fuzz target folder {other}"),
    }
}

#[test]
fn every_regression_input_is_handled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/regressions");
    let mut count = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let (tx, rx) = mpsc::channel();
            let t = target.clone();
            let handle = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || {
                    run(&t, data);
                    let _ = tx.send(());
                })
                .unwrap();
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(()) => handle.join().unwrap(),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{}: more than 10 s", path.display())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = handle.join();
                    panic!("{}: panicked", path.display())
                }
            }
            count += 1;
        }
    }
    eprintln!("{count} regression inputs replayed");
    assert!(count >= 2);
}

/// Writes the seed files of the `decrypt` and `metadata` fuzz targets: the samples
/// re-encrypted under the fixed data key those targets use, so the fuzzer starts past the
/// cipher. Run by hand: `cargo test -p sops-core --test regressions -- --ignored`.
#[test]
#[ignore]
fn write_fixed_key_fuzz_seeds() {
    use sops_core::keys::age::AgeIdentities;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let key = std::fs::read_to_string(root.join("age-key.txt")).unwrap();
    let ids = AgeIdentities::from_text(&key).unwrap();
    let out = root.join("fuzz-seeds");
    std::fs::create_dir_all(&out).unwrap();
    for (rel, format, ext) in [
        ("sample.yaml", Format::Yaml, "yaml"),
        ("sample.json", Format::Json, "json"),
        ("reliability/sample.enc.env", Format::Dotenv, "env"),
        ("reliability/sample.enc.ini", Format::Ini, "ini"),
        ("reliability/sample.enc.toml", Format::Toml, "toml"),
        ("reliability/sample.enc.bin", Format::Binary, "bin"),
    ] {
        let bytes = std::fs::read(root.join(rel)).unwrap();
        let mut plain = EncryptedFile::parse(&bytes, format)
            .unwrap()
            .decrypt(&[&ids], &DecryptOptions::default())
            .unwrap();
        plain.data_key = DataKey::from_slice(&[1u8; 32]).unwrap();
        let enc = plain.encrypt().unwrap();
        let text = enc.to_bytes(format, &EmitOptions::default()).unwrap();
        // Check the seed opens with the fixed key.
        EncryptedFile::parse(&text, format)
            .unwrap()
            .decrypt_with_key(
                DataKey::from_slice(&[1u8; 32]).unwrap(),
                &DecryptOptions::default(),
            )
            .unwrap();
        std::fs::write(out.join(format!("fixed-key.{ext}")), text).unwrap();
    }
}
