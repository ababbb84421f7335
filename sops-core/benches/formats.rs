//! Micro-benchmarks of the format codecs (plaintext parse and emit) and of the whole-file path
//! (`encrypt_bytes` / `decrypt_bytes` with a generated age key), on generated in-memory inputs
//! of about 1 000 entries. Run with `cargo bench -p sops-core --bench formats`.
//!
//! The inputs mirror `bench/gen.py`'s medium size: per entry a nested map with a host string, a
//! port, a bool, a float, a 24-character password and a list of three tags, plus comments (YAML,
//! JSON, TOML); flat `KEY=value` lines for dotenv and `[section]`s of flat keys for INI.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use age::secrecy::ExposeSecret;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sops_core::format::{EmitOptions, Format};
use sops_core::keys::age::{AgeIdentities, AgeRecipient};
use sops_core::keys::Recipient;
use sops_core::{decrypt_bytes, encrypt_bytes};

/// Number of entries (nested maps, or groups of flat keys) in each generated input.
const ENTRIES: usize = 1000;

const FORMATS: [Format; 5] = [
    Format::Yaml,
    Format::Json,
    Format::Dotenv,
    Format::Ini,
    Format::Toml,
];

/// A small deterministic generator (xorshift64*), so every run benchmarks the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn password(&mut self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..24)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

/// One generated entry, written out by each format.
struct Entry {
    name: String,
    host: String,
    port: u64,
    enabled: bool,
    ratio: f64,
    password: String,
    tags: [String; 3],
}

fn entries() -> Vec<Entry> {
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    (0..ENTRIES)
        .map(|i| Entry {
            name: format!("service_{i:05}"),
            host: format!("host-{}.example.com", rng.below(1_000_000)),
            port: 1 + rng.below(65534),
            enabled: rng.below(2) == 1,
            ratio: rng.below(1_000_000) as f64 / 1_000_000.0 + 0.000_001,
            password: rng.password(),
            tags: std::array::from_fn(|_| format!("tag{}", rng.below(100))),
        })
        .collect()
}

fn input(format: Format, entries: &[Entry]) -> String {
    let mut out = String::new();
    match format {
        Format::Yaml => {
            out.push_str("# generated benchmark file\n");
            for e in entries {
                let _ = write!(
                    out,
                    "# {name}\n{name}:\n    host: {}\n    port: {}\n    enabled: {}\n    ratio: {}\n    password: {}\n    tags:\n",
                    e.host,
                    e.port,
                    e.enabled,
                    e.ratio,
                    e.password,
                    name = e.name
                );
                for t in &e.tags {
                    let _ = writeln!(out, "        - {t}");
                }
            }
        }
        Format::Json => {
            out.push_str("{\n");
            for (i, e) in entries.iter().enumerate() {
                let _ = write!(
                    out,
                    "  \"{}\": {{\n    \"host\": \"{}\",\n    \"port\": {},\n    \"enabled\": {},\n    \"ratio\": {},\n    \"password\": \"{}\",\n    \"tags\": [\n      \"{}\",\n      \"{}\",\n      \"{}\"\n    ]\n  }}",
                    e.name, e.host, e.port, e.enabled, e.ratio, e.password, e.tags[0], e.tags[1], e.tags[2]
                );
                out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
            }
            out.push_str("}\n");
        }
        Format::Toml => {
            out.push_str("# generated benchmark file\n");
            for e in entries {
                let _ = write!(
                    out,
                    "\n# {name}\n[{name}]\nhost = \"{}\"\nport = {}\nenabled = {}\nratio = {}\npassword = \"{}\" # secret\ntags = [\"{}\", \"{}\", \"{}\"]\n",
                    e.host,
                    e.port,
                    e.enabled,
                    e.ratio,
                    e.password,
                    e.tags[0],
                    e.tags[1],
                    e.tags[2],
                    name = e.name
                );
            }
        }
        Format::Dotenv => {
            out.push_str("# generated benchmark file\n");
            for e in entries {
                let n = e.name.to_uppercase();
                let _ = write!(
                    out,
                    "# {n}\n{n}_HOST={}\n{n}_PORT={}\n{n}_ENABLED={}\n{n}_RATIO={}\n{n}_PASSWORD={}\n{n}_TAGS={},{},{}\n",
                    e.host, e.port, e.enabled, e.ratio, e.password, e.tags[0], e.tags[1], e.tags[2]
                );
            }
        }
        Format::Ini => {
            out.push_str("; generated benchmark file\n");
            for e in entries {
                let _ = write!(
                    out,
                    "\n; {name}\n[{name}]\nhost     = {}\nport     = {}\nenabled  = {}\nratio    = {}\npassword = {}\ntags     = {},{},{}\n",
                    e.host,
                    e.port,
                    e.enabled,
                    e.ratio,
                    e.password,
                    e.tags[0],
                    e.tags[1],
                    e.tags[2],
                    name = e.name
                );
            }
        }
        Format::Binary => unreachable!("not benchmarked"),
    }
    out
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

/// Plaintext parse and emit of each format, throughput in bytes of the plaintext input.
fn bench_codecs(c: &mut Criterion) {
    let entries = entries();
    let mut group = c.benchmark_group("codec");
    for format in FORMATS {
        let text = input(format, &entries);
        let codec = format.codec();
        let docs = codec
            .parse_plain(text.as_bytes())
            .unwrap_or_else(|e| panic!("generated {} input: {e}", format.name()));
        let opts = EmitOptions::default();
        codec.emit_plain(&docs, &opts).expect("emits");
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("parse", format.name()),
            text.as_bytes(),
            |b, bytes| b.iter(|| codec.parse_plain(black_box(bytes)).expect("parses")),
        );
        group.bench_with_input(BenchmarkId::new("emit", format.name()), &docs, |b, docs| {
            b.iter(|| codec.emit_plain(black_box(docs), &opts).expect("emits"))
        });
    }
    group.finish();
}

/// The whole-file path with a generated age key: `encrypt_bytes` (parse, wrap the data key,
/// encrypt every value, MAC, emit) and `decrypt_bytes` (parse, unwrap the data key, decrypt,
/// check the MAC, emit). Throughput in bytes of the plaintext.
fn bench_files(c: &mut Criterion) {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let identities =
        AgeIdentities::from_text(identity.to_string().expose_secret()).expect("a valid identity");
    let recipients = || -> Vec<Box<dyn Recipient>> {
        vec![Box::new(
            AgeRecipient::parse(&public).expect("a valid recipient"),
        )]
    };

    let entries = entries();
    let mut group = c.benchmark_group("file");
    for format in FORMATS {
        let text = input(format, &entries);
        let encrypted = encrypt_bytes(text.as_bytes(), format, recipients()).expect("encrypts");
        let decrypted = decrypt_bytes(&encrypted, format, &[&identities]).expect("decrypts");
        if format == Format::Toml {
            assert_eq!(decrypted, text.as_bytes(), "TOML round-trips byte for byte");
        }
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("decrypt", format.name()),
            &encrypted,
            |b, encrypted| {
                b.iter(|| {
                    decrypt_bytes(black_box(encrypted), format, &[&identities]).expect("decrypts")
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("encrypt", format.name()),
            text.as_bytes(),
            |b, bytes| {
                b.iter(|| encrypt_bytes(black_box(bytes), format, recipients()).expect("encrypts"))
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_codecs, bench_files
}
criterion_main!(benches);
