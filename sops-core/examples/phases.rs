//! Times the stages of decrypting and re-encrypting one file, best of five runs:
//! `SOPS_AGE_KEY_FILE=testdata/age-key.txt cargo run --release -p sops-core --example phases FILE`.
use std::time::Instant;

use sops_core::file::{DecryptOptions, EncryptedFile};
use sops_core::format::{EmitOptions, Format};
use sops_core::keys::{self, age::AgeIdentities};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STAGES: [&str; 7] = [
    "read",
    "parse",
    "decrypt",
    "emit plain",
    "parse plain",
    "encrypt",
    "emit enc",
];

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: phases ENCRYPTED_FILE");
    let format = Format::from_path(std::path::Path::new(&path));
    let ids = AgeIdentities::from_env();
    let mut best = [f64::MAX; STAGES.len()];
    for _ in 0..5 {
        let mut times = Vec::new();
        let mut t = Instant::now();
        let mut lap = |times: &mut Vec<f64>| {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            t = Instant::now();
        };
        let input = std::fs::read(&path).unwrap();
        lap(&mut times);
        let file = EncryptedFile::parse(&input, format).unwrap();
        lap(&mut times);
        let key = keys::recover_data_key(&file.metadata, &[&ids]).unwrap();
        let plain = file
            .decrypt_with_key(key, &DecryptOptions::default())
            .unwrap();
        lap(&mut times);
        let out = plain.to_bytes(format, &EmitOptions::default()).unwrap();
        lap(&mut times);
        let docs = sops_core::file::parse_plain(&out, format).unwrap();
        lap(&mut times);
        let reencrypted = plain.encrypt().unwrap();
        lap(&mut times);
        let out2 = reencrypted
            .to_bytes(format, &EmitOptions::default())
            .unwrap();
        lap(&mut times);
        for (b, t) in best.iter_mut().zip(&times) {
            *b = b.min(*t);
        }
        std::hint::black_box((out2, docs));
    }
    for (name, ms) in STAGES.iter().zip(best) {
        eprintln!("{name:>12}: {ms:7.1} ms");
    }
}
