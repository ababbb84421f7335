//! Hostile inputs: a corpus of malformed files in every format. Each must give an error (or,
//! for a truncation that still reads, the original plaintext), never a panic, a signal, a stack
//! overflow or a run over 10 s, and no error message may hold a plaintext value.
//!
//! Inputs run on a thread with the default 2 MiB test stack, smaller than the binary's main
//! thread, so recursion that fits here fits there.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use sops_core::format::{EmitOptions, Format};
use sops_core::keys::age::AgeIdentities;
use sops_core::{DecryptOptions, EncryptedFile};

/// Values of the samples that must never appear in an error message.
const SECRETS: [&str; 4] = ["hunter2", "db.example.com", "tok-9f8e7d6c5b4a", "line one"];

fn testdata(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../testdata/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn identities() -> AgeIdentities {
    AgeIdentities::from_text(&String::from_utf8(testdata("age-key.txt")).unwrap()).unwrap()
}

/// Parses and decrypts; `Ok(plaintext)` or `Err(message)`.
fn decrypt(bytes: &[u8], format: Format, ignore_mac: bool) -> Result<Vec<u8>, String> {
    let ids = identities();
    let file = EncryptedFile::parse(bytes, format).map_err(|e| e.to_string())?;
    let plain = file
        .decrypt(&[&ids], &DecryptOptions { ignore_mac })
        .map_err(|e| e.to_string())?;
    plain
        .to_bytes(format, &EmitOptions::default())
        .map_err(|e| e.to_string())
}

/// Counts of what the corpus produced, for the report.
#[derive(Default, Debug)]
struct Tally {
    tried: usize,
    errors: usize,
    same_plaintext: usize,
}

/// Runs one input on its own thread with a time limit; fails the test on a panic, a timeout,
/// a plaintext in the message, or a success with a changed plaintext (unless `any_ok`).
fn run_one(
    label: &str,
    bytes: Vec<u8>,
    format: Format,
    expected: Option<&[u8]>,
    tally: &mut Tally,
) {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            // Also the plain parser: hostile plaintext must not crash encryption either.
            let _ = format.codec().parse_plain(&bytes);
            let _ = tx.send((
                decrypt(&bytes, format, false),
                decrypt(&bytes, format, true),
            ));
        })
        .unwrap();
    let outcome = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(o) => o,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{label}: took more than 60 s (a hang, not a slow run)")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = handle.join();
            panic!("{label}: panicked")
        }
    };
    handle.join().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{label}: took {:?}",
        start.elapsed()
    );
    tally.tried += 1;
    let (checked, unchecked) = outcome;
    for result in [&checked, &unchecked] {
        if let Err(msg) = result {
            assert!(!msg.is_empty(), "{label}: empty message");
            for s in SECRETS {
                assert!(!msg.contains(s), "{label}: plaintext in the message: {msg}");
            }
        }
    }
    match checked {
        Err(_) => tally.errors += 1,
        Ok(out) => match expected {
            Some(e) if out == e => tally.same_plaintext += 1,
            _ => panic!(
                "{label}: accepted, giving {:?}",
                String::from_utf8_lossy(&out[..out.len().min(200)])
            ),
        },
    }
}

/// The encrypted samples, one per format (YAML and JSON by the reference sops, the others in
/// `testdata/reliability/`).
fn samples() -> Vec<(&'static str, Format, Vec<u8>)> {
    vec![
        ("sample.yaml", Format::Yaml, testdata("sample.yaml")),
        ("sample.json", Format::Json, testdata("sample.json")),
        (
            "sample.enc.env",
            Format::Dotenv,
            testdata("reliability/sample.enc.env"),
        ),
        (
            "sample.enc.ini",
            Format::Ini,
            testdata("reliability/sample.enc.ini"),
        ),
        (
            "sample.enc.bin",
            Format::Binary,
            testdata("reliability/sample.enc.bin"),
        ),
        (
            "sample.enc.toml",
            Format::Toml,
            testdata("reliability/sample.enc.toml"),
        ),
    ]
}

#[test]
fn truncated_at_every_length() {
    let mut tally = Tally::default();
    for (name, format, bytes) in samples() {
        let expected = decrypt(&bytes, format, false).expect("the sample decrypts");
        // Every length for the small files; the bigger ones in steps (debug builds are slow).
        let step = if bytes.len() > 2000 { 3 } else { 1 };
        for len in (0..bytes.len()).step_by(step) {
            run_one(
                &format!("{name} truncated to {len}"),
                bytes[..len].to_vec(),
                format,
                Some(&expected),
                &mut tally,
            );
        }
    }
    eprintln!("truncations: {tally:?}");
}

/// Replaces the first match of `from` by `to` (asserting there is one).
fn sub(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in the sample");
    text.replacen(from, to, 1)
}

/// Rewrites the first `field:<b64>` of an `ENC[...]` value to `value`.
fn set_field(text: &str, field: &str, value: &str) -> String {
    let at = text.find(&format!(",{field}:")).expect("an ENC value") + field.len() + 2;
    let end = at + text[at..].find([',', ']']).unwrap();
    format!("{}{value}{}", &text[..at], &text[end..])
}

/// Malformed variants of one encrypted sample, by name.
fn corpus(text: &str, format: Format) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| v.push((name.to_string(), bytes));
    add("bad base64 data", set_field(text, "data", "!!!!").into());
    add("bad base64 iv", set_field(text, "iv", "@@@").into());
    add("bad base64 tag", set_field(text, "tag", "%%").into());
    add("short iv", set_field(text, "iv", "AAAA").into());
    add("long iv", set_field(text, "iv", &"A".repeat(88)).into());
    add("short tag", set_field(text, "tag", "AAAA").into());
    add("long tag", set_field(text, "tag", &"A".repeat(44)).into());
    add("empty data", set_field(text, "data", "").into());
    add(
        "unknown cipher",
        sub(text, "ENC[AES256_GCM,", "ENC[CHACHA20,").into(),
    );
    add(
        "unknown type",
        sub(text, "type:str]", "type:secret]").into(),
    );
    for ty in ["int", "float", "bool", "bytes", "comment"] {
        add(
            &format!("str retagged {ty}"),
            sub(text, "type:str]", &format!("type:{ty}]")).into(),
        );
    }
    add(
        "unterminated ENC",
        sub(text, "type:str]", "type:str").into(),
    );
    add("garbage version", garbage_version(text, format).into());
    add("empty version", empty_version(text, format).into());
    add("NUL byte", {
        let mut b = text.as_bytes().to_vec();
        b.insert(b.len() / 2, 0);
        b
    });
    add("NUL bytes everywhere", text.replace('\n', "\0\n").into());
    add("invalid UTF-8", {
        let mut b = text.as_bytes().to_vec();
        b.splice(b.len() / 3..b.len() / 3, [0xff, 0xfe, 0xc3]);
        b
    });
    add(
        "invalid UTF-8 in a value",
        sub(text, "ENC[", "\u{fffd}ENC[")
            .replace('\u{fffd}', "\u{0}")
            .into(),
    );
    add("no sops block", strip_metadata(text, format).into());
    add("empty file", Vec::new());
    add("only whitespace", b" \n\t\n".to_vec());
    add(
        "BOM",
        [b"\xef\xbb\xbf".as_slice(), text.as_bytes()].concat(),
    );
    add("CRLF", text.replace('\n', "\r\n").into());
    add("all ENC values", text.replace("data:", "data:A").into());
    v
}

fn garbage_version(text: &str, format: Format) -> String {
    match format {
        Format::Yaml => sub(text, "version: 3.11.0", "version: not.a.version"),
        Format::Json | Format::Binary => {
            sub(text, "\"version\": \"3.11.0\"", "\"version\": \"x.y.z\"")
        }
        Format::Dotenv => sub(text, "sops_version=3.11.0", "sops_version=x"),
        Format::Ini => sub(text, "= 3.11.0", "= garbage"),
        Format::Toml => sub(text, "version = \"", "version = \"garbage"),
    }
}

fn empty_version(text: &str, format: Format) -> String {
    match format {
        Format::Yaml => sub(text, "version: 3.11.0", "version: \"\""),
        Format::Json | Format::Binary => sub(text, "\"version\": \"3.11.0\"", "\"version\": 5"),
        Format::Dotenv => sub(text, "sops_version=3.11.0", "sops_version="),
        Format::Ini => sub(text, "= 3.11.0", "="),
        Format::Toml => text.replace("version = \"", "version = 1 #"),
    }
}

fn strip_metadata(text: &str, format: Format) -> String {
    match format {
        Format::Yaml => text[..text.find("\nsops:").unwrap() + 1].to_string(),
        Format::Dotenv => text
            .lines()
            .filter(|l| !l.starts_with("sops_"))
            .map(|l| format!("{l}\n"))
            .collect(),
        Format::Ini | Format::Toml => text[..text.find("[sops]").unwrap()].to_string(),
        Format::Json | Format::Binary => {
            let at = text.find(",\n\t\"sops\"").unwrap();
            format!("{}\n}}\n", &text[..at])
        }
    }
}

#[test]
fn malformed_corpus_every_format() {
    let mut tally = Tally::default();
    for (name, format, bytes) in samples() {
        let expected = decrypt(&bytes, format, false).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        for (what, input) in corpus(&text, format) {
            run_one(
                &format!("{name}: {what}"),
                input,
                format,
                Some(&expected),
                &mut tally,
            );
        }
    }
    eprintln!("malformed corpus: {tally:?}");
    assert!(tally.errors > 100);
}

/// Inputs that exist for one format only (the sops panics of issue 8 among them).
#[test]
fn format_specific_hostile_inputs() {
    let mut tally = Tally::default();
    let yaml = String::from_utf8(testdata("sample.yaml")).unwrap();
    let json = String::from_utf8(testdata("sample.json")).unwrap();
    let bin = String::from_utf8(testdata("reliability/sample.enc.bin")).unwrap();
    let yaml_plain = decrypt(yaml.as_bytes(), Format::Yaml, false).unwrap();
    let json_plain = decrypt(json.as_bytes(), Format::Json, false).unwrap();
    let cases: Vec<(&str, Format, String)> = vec![
        // sops panics on these
        (
            "YAML: plain int where ENC is expected",
            Format::Yaml,
            set_yaml_value(&yaml, "password", "5"),
        ),
        (
            "YAML: extra document after the file",
            Format::Yaml,
            format!("{yaml}---\nextra: document\n"),
        ),
        (
            "YAML: extra document with a sops block",
            Format::Yaml,
            format!("{yaml}---\n{}", &yaml[yaml.find("\nsops:").unwrap() + 1..]),
        ),
        (
            "YAML: duplicated sops block",
            Format::Yaml,
            format!("{yaml}{}", &yaml[yaml.find("\nsops:").unwrap() + 1..]),
        ),
        (
            "JSON: two sops keys",
            Format::Json,
            sub(&json, "\n\t\"sops\": {", "\n\t\"sops\": {},\n\t\"sops\": {"),
        ),
        (
            "JSON: plain number where ENC is expected",
            Format::Json,
            set_json_value(&json, "port", "5"),
        ),
        (
            "binary: data is a number",
            Format::Binary,
            set_json_value(&bin, "data", "5"),
        ),
        (
            "binary: data is a map",
            Format::Binary,
            set_json_value(&bin, "data", "{}"),
        ),
        (
            "binary: no data",
            Format::Binary,
            sub(&bin, "\"data\"", "\"d\""),
        ),
        (
            "YAML: sops block is a list",
            Format::Yaml,
            format!(
                "{}sops: [1, 2]\n",
                &yaml[..yaml.find("\nsops:").unwrap() + 1]
            ),
        ),
        (
            "YAML: sops block is a string",
            Format::Yaml,
            format!(
                "{}sops: hello\n",
                &yaml[..yaml.find("\nsops:").unwrap() + 1]
            ),
        ),
        (
            "YAML: age list is a map",
            Format::Yaml,
            sub(
                &yaml,
                "    age:\n        - recipient:",
                "    age:\n        x:\n          recipient:",
            ),
        ),
        (
            "YAML: lastmodified not a time",
            Format::Yaml,
            set_yaml_value(&yaml, "lastmodified", "yesterday"),
        ),
        (
            "YAML: mac is an int",
            Format::Yaml,
            set_yaml_value(&yaml, "mac", "12"),
        ),
        (
            "YAML: encrypted comment replaced by a plain one",
            Format::Yaml,
            sub(&yaml, "#ENC[", "#XNC["),
        ),
        (
            "JSON: top level is a list",
            Format::Json,
            "[1, 2, 3]".to_string(),
        ),
        ("JSON: top level is a string", Format::Json, "\"x\"".into()),
        (
            "YAML: top level is a list",
            Format::Yaml,
            "- 1\n- 2\n".into(),
        ),
        (
            "YAML: top level is a scalar",
            Format::Yaml,
            "hello\n".into(),
        ),
        ("YAML: tabs", Format::Yaml, "a:\n\tb: 1\n".into()),
        (
            "YAML: unknown tag",
            Format::Yaml,
            "a: !!foo 1\nsops: !!bar {}\n".into(),
        ),
        (
            "YAML: undefined alias",
            Format::Yaml,
            "a: *nothing\n".into(),
        ),
        (
            "YAML: merge of a scalar",
            Format::Yaml,
            "a: 1\nb:\n  <<: *a\n".into(),
        ),
        ("YAML: recursive alias", Format::Yaml, "a: &a [*a]\n".into()),
        ("INI: section only", Format::Ini, "[".into()),
        ("dotenv: only =", Format::Dotenv, "=\n==\n=x\n".into()),
        ("TOML: unterminated", Format::Toml, "a = \"".into()),
    ];
    // A later document holding only a `sops` block reads as an empty document, as in sops.
    let with_empty_doc = [yaml_plain.as_slice(), b"---\n{}\n"].concat();
    for (label, format, text) in cases {
        let expected = match format {
            Format::Yaml if label.contains("extra document with a sops block") => {
                Some(with_empty_doc.as_slice())
            }
            Format::Yaml => Some(yaml_plain.as_slice()),
            Format::Json => Some(json_plain.as_slice()),
            _ => None,
        };
        run_one(label, text.into_bytes(), format, expected, &mut tally);
    }
    eprintln!("format-specific: {tally:?}");
}

fn set_yaml_value(text: &str, key: &str, value: &str) -> String {
    let at = text.find(&format!(" {key}: ")).expect("key") + key.len() + 3;
    let end = at + text[at..].find('\n').unwrap();
    format!("{}{value}{}", &text[..at], &text[end..])
}

fn set_json_value(text: &str, key: &str, value: &str) -> String {
    let at = text.find(&format!("\"{key}\": ")).expect("key") + key.len() + 4;
    let end = at + text[at..].find([',', '\n']).unwrap();
    format!("{}{value}{}", &text[..at], &text[end..])
}

/// Deep nesting, alias bombs and huge lines, per format.
#[test]
fn resource_exhaustion() {
    let mut tally = Tally::default();
    let deep = 10_000;
    let mut cases: Vec<(String, Format, Vec<u8>)> = vec![
        (
            "YAML: 10 000 nested flow lists".into(),
            Format::Yaml,
            format!("a: {}{}\n", "[".repeat(deep), "]".repeat(deep)).into(),
        ),
        (
            "YAML: 10 000 nested flow maps".into(),
            Format::Yaml,
            format!("a: {}1{}\n", "{a: ".repeat(deep), "}".repeat(deep)).into(),
        ),
        (
            "YAML: 10 000 nested block maps".into(),
            Format::Yaml,
            (0..deep)
                .map(|i| format!("{}k:\n", " ".repeat(i)))
                .collect::<String>()
                .into(),
        ),
        (
            "YAML: 10 000 nested block lists".into(),
            Format::Yaml,
            format!("a:\n{}x\n", "- ".repeat(deep)).into(),
        ),
        (
            "JSON: 10 000 nested arrays".into(),
            Format::Json,
            format!("{{\"a\": {}{}}}", "[".repeat(deep), "]".repeat(deep)).into(),
        ),
        (
            "JSON: 10 000 nested objects".into(),
            Format::Json,
            format!("{}1{}", "{\"a\": ".repeat(deep), "}".repeat(deep)).into(),
        ),
        (
            "binary: 10 000 nested arrays".into(),
            Format::Binary,
            format!("{{\"data\": {}{}}}", "[".repeat(deep), "]".repeat(deep)).into(),
        ),
        (
            "TOML: 10 000 nested arrays".into(),
            Format::Toml,
            format!("a = {}{}\n", "[".repeat(deep), "]".repeat(deep)).into(),
        ),
        (
            "TOML: 10 000 nested inline tables".into(),
            Format::Toml,
            format!("a = {}1{}\n", "{a = ".repeat(deep), "}".repeat(deep)).into(),
        ),
        (
            "TOML: 10 000 dotted keys".into(),
            Format::Toml,
            format!("{} = 1\n", vec!["a"; deep].join(".")).into(),
        ),
        (
            "TOML: 10 000-deep table header".into(),
            Format::Toml,
            format!("[{}]\nb = 1\n", vec!["a"; deep].join(".")).into(),
        ),
        (
            "dotenv: sops_ key 10 000 levels deep".into(),
            Format::Dotenv,
            format!("sops_{}=1\n", "a__list_0__map_".repeat(deep)).into(),
        ),
        (
            "INI: sops key 10 000 levels deep".into(),
            Format::Ini,
            format!("[sops]\n{} = 1\n", "a__list_0__map_".repeat(deep)).into(),
        ),
    ];
    // Alias bombs: nine levels of ten references each would be 10^9 nodes if expanded.
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 10].join(",");
        bomb.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    cases.push((
        "YAML: billion laughs".into(),
        Format::Yaml,
        bomb.clone().into(),
    ));
    cases.push((
        "YAML: billion laughs with merge keys".into(),
        Format::Yaml,
        "a: &a {x: 1, y: 2}\nb: &b {<<: *a, c: *a, d: *a}\nc: &c {<<: *b, e: *b, f: *b}\nd: {<<: *c, g: *c, h: *c}\n".into(),
    ));
    cases.push((
        "YAML: 100 000 aliases to one anchor".into(),
        Format::Yaml,
        format!("a: &a [1, 2, 3]\nb: [{}]\n", vec!["*a"; 100_000].join(",")).into(),
    ));
    // One huge line: 100 MB in release, 20 MB in debug (the debug parser is ~10x slower).
    let size = if cfg!(debug_assertions) {
        20 << 20
    } else {
        100 << 20
    };
    let big = "x".repeat(size);
    cases.push((
        "YAML: huge line".into(),
        Format::Yaml,
        format!("a: {big}\n").into(),
    ));
    cases.push((
        "YAML: huge quoted line".into(),
        Format::Yaml,
        format!("a: \"{big}\"\n").into(),
    ));
    cases.push((
        "JSON: huge line".into(),
        Format::Json,
        format!("{{\"a\": \"{big}\"}}").into(),
    ));
    cases.push((
        "dotenv: huge line".into(),
        Format::Dotenv,
        format!("A={big}\n").into(),
    ));
    cases.push((
        "INI: huge line".into(),
        Format::Ini,
        format!("[s]\na = {big}\n").into(),
    ));
    cases.push((
        "TOML: huge line".into(),
        Format::Toml,
        format!("a = \"{big}\"\n").into(),
    ));
    cases.push((
        "binary: huge ENC value".into(),
        Format::Binary,
        format!("{{\"data\": \"ENC[AES256_GCM,data:{big},iv:AAAA,tag:AAAA,type:str]\"}}").into(),
    ));
    drop(big);
    for (label, format, bytes) in cases {
        let t = Instant::now();
        run_one(&label, bytes, format, None, &mut tally);
        eprintln!("{label}: {:?}", t.elapsed());
    }
    eprintln!("resource exhaustion: {tally:?}");
}
