//! Times the phases of decrypting and encrypting one file: `cargo run --release --example phases FILE`.
use std::time::Instant;

use sops_core::file::{DecryptOptions, EncryptedFile};
use sops_core::format::{EmitOptions, Format};
use sops_core::keys::{self, age::AgeIdentities};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: phases ENCRYPTED_FILE");
    let format = Format::from_path(std::path::Path::new(&path));
    let t = Instant::now();
    let input = std::fs::read(&path).unwrap();
    let lap = |name: &str, t: &mut Instant| {
        eprintln!("{name:>12}: {:7.1} ms", t.elapsed().as_secs_f64() * 1000.0);
        *t = Instant::now();
    };
    let mut t = t;
    lap("read", &mut t);
    let file = EncryptedFile::parse(&input, format).unwrap();
    lap("parse", &mut t);
    let ids = AgeIdentities::from_env();
    let key = keys::recover_data_key(&file.metadata, &[&ids]).unwrap();
    lap("data key", &mut t);
    let enc_copy = file.clone();
    lap("clone", &mut t);
    let plain = file
        .decrypt_with_key(key, &DecryptOptions::default())
        .unwrap();
    lap("decrypt", &mut t);
    let out = plain.to_bytes(format, &EmitOptions::default()).unwrap();
    lap("emit plain", &mut t);
    let reenc = plain.encrypt().unwrap();
    lap("encrypt", &mut t);
    let out2 = reenc.to_bytes(format, &EmitOptions::default()).unwrap();
    lap("emit enc", &mut t);
    let docs = sops_core::file::parse_plain(&out, format).unwrap();
    lap("parse plain", &mut t);
    eprintln!(
        "{} {} {} {}",
        out.len(),
        out2.len(),
        docs.len(),
        enc_copy.documents.len()
    );
}
