//! Micro-benchmarks of the value cipher: encrypting and decrypting one value, and parsing the
//! `ENC[...]` text form. Run with `cargo bench -p sops-core --bench cipher`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sops_core::cipher::{DataKey, EncryptedValue};

/// A value's path as the tree walk passes it as additional data.
const AAD: &[u8] = b"service_00042:password:";

/// The plaintexts: a typical short secret (24 bytes) and a ~1 KB one (a certificate, a key).
fn plaintexts() -> Vec<(&'static str, Vec<u8>)> {
    let short = b"k3j5v9q2m8x1z7c4b6n0p2r5".to_vec();
    let long: Vec<u8> = (0..1024u32)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7 % 36) as usize])
        .collect();
    vec![("24B", short), ("1KB", long)]
}

fn bench_cipher(c: &mut Criterion) {
    let key = DataKey::generate();
    let cipher = key.value_cipher();

    let mut group = c.benchmark_group("cipher");
    for (name, plain) in plaintexts() {
        let text = cipher.encrypt(&plain, AAD, "str", None);
        let parsed = EncryptedValue::parse(&text).expect("our own output parses");
        group.throughput(Throughput::Bytes(plain.len() as u64));

        group.bench_with_input(BenchmarkId::new("encrypt", name), &plain, |b, plain| {
            b.iter(|| cipher.encrypt(black_box(plain), black_box(AAD), "str", None))
        });
        group.bench_with_input(BenchmarkId::new("decrypt", name), &parsed, |b, parsed| {
            b.iter(|| {
                cipher
                    .decrypt(black_box(parsed), black_box(AAD))
                    .expect("right key and AAD")
            })
        });
        group.bench_with_input(BenchmarkId::new("parse_enc", name), &text, |b, text| {
            b.iter(|| EncryptedValue::parse(black_box(text)).expect("well formed"))
        });
        // What decrypting one leaf of a file costs: parse the text, then decrypt.
        group.bench_with_input(
            BenchmarkId::new("parse_and_decrypt", name),
            &text,
            |b, text| {
                b.iter(|| {
                    let parsed = EncryptedValue::parse(black_box(text)).expect("well formed");
                    cipher.decrypt(&parsed, AAD).expect("right key and AAD")
                })
            },
        );
    }
    group.finish();

    // Keying AES-GCM once per file (the key schedule), for comparison with the per-value costs.
    c.bench_function("cipher/value_cipher_setup", |b| {
        b.iter(|| black_box(&key).value_cipher())
    });
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_cipher
}
criterion_main!(benches);
