//! Format and metadata behaviour of sops 3.12–3.13 (the metadata layout, JSON integers, INI
//! newlines, error texts) and the drop-in details of issue 12 (`.toml` files in sops's binary
//! form, merge keys in `.sops.yaml`, binary files' selectors, `type:` tags), each checked
//! against the reference sops 3.11 where it shows the behaviour. Where only 3.13 has it, the
//! expected bytes come from sops's v3.13.2 source, named in a comment.

mod common;

use common::{our_sops, reference_sops, show, Dir, RECIPIENT};

/// Asserts that the needles occur in `text` in this order.
fn in_order(text: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        match text[from..].find(needle) {
            Some(at) => from += at + needle.len(),
            None => panic!("{needle:?} missing or out of order after byte {from} in\n{text}"),
        }
    }
}

/// Decrypts `name` with both binaries and checks they print the same bytes.
fn both_decrypt_alike(dir: &Dir, name: &str) -> Vec<u8> {
    let ours = dir.ok(&our_sops(), &["-d", name]);
    let reference = dir.ok(&reference_sops(), &["-d", name]);
    assert_eq!(show(&ours), show(&reference), "{name}");
    ours
}

/// sops 3.13 (PR 2120, `stores/metadata.go`) writes the `sops` block from a map: keys sorted
/// by name at every level (an age entry is `enc` then `recipient`), version 3.13.2. Greppable
/// markers stay, and sops 3.11 still decrypts every format.
#[test]
fn metadata_layout_of_3_13_read_by_3_11() {
    let dir = Dir::new();
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "a.yaml",
            "k: v\nnum: 1\n",
            &[
                "\nsops:\n    age:\n        - enc: |",
                "          recipient: age1",
                "\n    lastmodified: ",
                "\n    mac: ENC[",
                "\n    unencrypted_suffix: _unencrypted",
                "\n    version: 3.13.2\n",
            ],
        ),
        (
            "a.json",
            "{\n\t\"k\": \"v\"\n}\n",
            &[
                "\"sops\": {\n\t\t\"age\": [\n\t\t\t{\n\t\t\t\t\"enc\": ",
                "\"recipient\": \"age1",
                "\"lastmodified\": ",
                "\"mac\": \"ENC[",
                "\"unencrypted_suffix\": \"_unencrypted\"",
                "\"version\": \"3.13.2\"\n\t}\n}\n",
            ],
        ),
        (
            "a.env",
            "K=v\n",
            &[
                "\nsops_age__list_0__map_enc=",
                "\nsops_age__list_0__map_recipient=age1",
                "\nsops_lastmodified=",
                "\nsops_mac=ENC[",
                "\nsops_unencrypted_suffix=_unencrypted",
                "\nsops_version=3.13.2\n",
            ],
        ),
        (
            "a.ini",
            "[s]\nk = v\n",
            &[
                "\n[sops]\nage__list_0__map_enc ",
                "\nage__list_0__map_recipient = age1",
                "\nlastmodified ",
                "\nmac ",
                "= ENC[",
                "\nunencrypted_suffix ",
                "\nversion ",
                "= 3.13.2\n",
            ],
        ),
        (
            "a.bin",
            "raw bytes\n",
            &[
                "\"data\": \"ENC[",
                "\"age\": [",
                "\"enc\": ",
                "\"recipient\": \"age1",
                "\"lastmodified\": ",
                "\"mac\": \"ENC[",
                "\"version\": \"3.13.2\"",
            ],
        ),
    ];
    for (name, content, needles) in cases {
        dir.write(name, content);
        let enc = format!("enc.{name}");
        let out = dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, name]);
        dir.write(&enc, &out);
        in_order(&show(&out), needles);
        assert_eq!(both_decrypt_alike(&dir, &enc), content.as_bytes(), "{name}");
    }
}

/// Several key groups: `hc_vault` and `age` have no `omitempty` in `keygroup`, so an empty
/// one is written as `[]` (in JSON too: sops 3.13 turns the nil slice into an empty list;
/// 3.11 wrote `null`); `key_groups` and `shamir_threshold` take their sorted places.
#[test]
fn key_groups_layout_of_3_13() {
    let dir = Dir::new();
    dir.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{RECIPIENT}]\n      - age: [{RECIPIENT}]\n"
        ),
    );
    dir.write("a.json", "{\"k\": 1}\n");
    dir.write("a.yaml", "k: 1\n");
    let json = show(&dir.ok(&our_sops(), &["-e", "a.json"]));
    in_order(
        &json,
        &[
            "\"key_groups\": [\n\t\t\t{\n\t\t\t\t\"age\": [",
            "\"recipient\": ",
            "\"hc_vault\": []",
            "\"age\": [",
            "\"hc_vault\": []",
            "\"lastmodified\"",
            "\"mac\"",
            "\"shamir_threshold\": 2",
            "\"unencrypted_suffix\"",
            "\"version\"",
        ],
    );
    dir.write("enc.json", &json);
    both_decrypt_alike(&dir, "enc.json");
    let yaml = show(&dir.ok(&our_sops(), &["-e", "a.yaml"]));
    in_order(
        &yaml,
        &[
            "\n    key_groups:\n        - age:",
            "\n          hc_vault: []",
            "\n    shamir_threshold: 2",
        ],
    );
    dir.write("enc.yaml", &yaml);
    both_decrypt_alike(&dir, "enc.yaml");
}

/// A file sops 3.11 wrote (struct order, version 3.11.0) decrypts, and rewriting it writes
/// the new layout, which 3.11 still reads.
#[test]
fn rewriting_a_3_11_file_writes_the_new_layout() {
    let dir = Dir::new();
    dir.write("a.yaml", "k: v\n");
    let old = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "a.yaml"]);
    in_order(&show(&old), &["- recipient: age1", "enc: |"]);
    dir.write("enc.yaml", &old);
    both_decrypt_alike(&dir, "enc.yaml");
    dir.ok(&our_sops(), &["set", "enc.yaml", "[\"k\"]", "\"w\""]);
    let new = show(&dir.read("enc.yaml"));
    in_order(&new, &["- enc: |", "recipient: age1", "lastmodified"]);
    assert_eq!(both_decrypt_alike(&dir, "enc.yaml"), b"k: w\n");
}

/// sops 3.13.2 (PR 2222, `normalizeJSONNumber` in `stores/json/store.go`): what
/// `strconv.ParseInt(s, 10, 64)` accepts is an int (`type:int`, printed exactly; `-0` is 0),
/// everything else a float64. sops 3.11 decrypts such files to the same output; its own files
/// (every number `type:float`) still decrypt as before.
#[test]
fn json_integers_stay_integers() {
    let dir = Dir::new();
    let input = "{\"big\": 9007199254740993, \"n0\": -0, \"f\": 1.0, \"e\": 1e3, \"huge\": 12345678901234567890, \"min\": -9223372036854775808}\n";
    dir.write("n.json", input);
    let ours = show(&dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, "n.json"]));
    let types: Vec<&str> = ours
        .split("type:")
        .skip(1)
        .map(|t| &t[..t.find(']').unwrap()])
        .collect();
    assert_eq!(
        types,
        ["int", "int", "float", "float", "float", "int", "str"]
    );
    dir.write("ours.json", &ours);
    let plain = both_decrypt_alike(&dir, "ours.json");
    assert_eq!(
        show(&plain),
        "{\n\t\"big\": 9007199254740993,\n\t\"n0\": 0,\n\t\"f\": 1,\n\t\"e\": 1000,\n\t\"huge\": 12345678901234567000,\n\t\"min\": -9223372036854775808\n}\n"
    );
    let yaml = dir.ok(&our_sops(), &["-d", "--output-type", "yaml", "ours.json"]);
    let reference_yaml = dir.ok(
        &reference_sops(),
        &["-d", "--output-type", "yaml", "ours.json"],
    );
    assert_eq!(show(&yaml), show(&reference_yaml));
    assert!(show(&yaml).starts_with("big: 9007199254740993\nn0: 0\n"));
    // A 3.11 file: floats, decrypted as before.
    let theirs = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "n.json"]);
    dir.write("theirs.json", &theirs);
    assert!(show(&both_decrypt_alike(&dir, "theirs.json")).contains("9007199254740992"));
}

/// sops 3.13 (PR 2138, `treeBranchFromJSON`): top-level arrays and scalars get an
/// explanation; the exit code stays 2, as in 3.11.
#[test]
fn json_top_level_must_be_an_object() {
    let dir = Dir::new();
    let cases = [
        ("[1]\n", "not arrays or other types. Got delimiter [ instead. To encrypt this file, wrap it in an object, e.g., {\"data\": [...]}"),
        ("5\n", "not other JSON types. Got 5 of type int instead"),
        ("\"s\"\n", "not other JSON types. Got \"s\" of type string instead"),
    ];
    for (content, tail) in cases {
        dir.write("a.json", content);
        let expected = format!("Could not unmarshal input data: SOPS only supports JSON files with a top-level object (starting with '{{'), {tail}");
        for args in [
            &["-e", "--age", RECIPIENT, "a.json"][..],
            &["-d", "a.json"][..],
        ] {
            let out = dir.run(&our_sops(), args);
            let stderr = show(&out.stderr);
            assert!(stderr.contains(&expected), "{args:?} {content:?}: {stderr}");
            let reference = dir.run(&reference_sops(), args);
            assert_eq!(
                out.status.code(),
                reference.status.code(),
                "{args:?} {content}"
            );
        }
    }
}

/// INI: 3.13.2 (PR 2189) writes newlines in `[sops]` values double-escaped (a `\n` on one
/// line, as 3.11 does) and reads both that and 3.13.0/3.13.1's real newlines (a `"""` value).
#[test]
fn ini_metadata_newlines_both_ways() {
    let dir = Dir::new();
    dir.write("a.ini", "[s]\nk = v\n");
    let enc = show(&dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, "a.ini"]));
    let line = enc
        .lines()
        .find(|l| l.starts_with("age__list_0__map_enc"))
        .unwrap();
    assert!(
        line.contains("-----BEGIN AGE ENCRYPTED FILE-----\\n"),
        "{line}"
    );
    dir.write("double.ini", &enc);
    both_decrypt_alike(&dir, "double.ini");
    let (key, value) = line.split_once(" = ").unwrap();
    let single = format!("{key} = \"\"\"{}\"\"\"", value.replace("\\n", "\n"));
    dir.write("single.ini", enc.replace(line, &single));
    assert_eq!(dir.ok(&our_sops(), &["-d", "single.ini"]), b"[s]\nk = v\n");
}

/// dotenv without metadata: `sops metadata not found`, exit 1, as 3.12 reports it (PR 2055)
/// and 3.11 already does.
#[test]
fn dotenv_without_metadata() {
    let dir = Dir::new();
    dir.write("a.env", "A=1\n");
    dir.write("empty.env", "");
    for name in ["a.env", "empty.env"] {
        let ours = dir.run(&our_sops(), &["-d", name]);
        let reference = dir.run(&reference_sops(), &["-d", name]);
        assert_eq!(ours.status.code(), reference.status.code(), "{name}");
        assert_eq!(ours.status.code(), Some(1), "{name}");
        assert!(
            show(&ours.stderr).contains("sops metadata not found"),
            "{name}"
        );
    }
}

/// `.toml` files: sops has no TOML store and encrypts them as binary files. Ours reads by
/// content, keeps that form when rewriting, and writes it for new files; our TOML store is
/// one setting away (`--input-type toml`, `toml_per_value: true`).
#[test]
fn toml_files_follow_sops() {
    let dir = Dir::new();
    let plain = "# conf\n[db]\npass = \"x\" # p\nport = 5\n";
    dir.write("a.toml", plain);
    // Written by sops: decrypt, filestatus, rotate, set keep the binary form.
    let theirs = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "a.toml"]);
    dir.write("theirs.toml", &theirs);
    assert_eq!(both_decrypt_alike(&dir, "theirs.toml"), plain.as_bytes());
    assert_eq!(
        show(&dir.ok(&our_sops(), &["filestatus", "theirs.toml"])).trim(),
        "{\"encrypted\":true}"
    );
    dir.ok(&our_sops(), &["rotate", "-i", "theirs.toml"]);
    assert!(dir
        .read("theirs.toml")
        .starts_with(b"{\n\t\"data\": \"ENC["));
    assert_eq!(both_decrypt_alike(&dir, "theirs.toml"), plain.as_bytes());
    dir.ok(
        &our_sops(),
        &["set", "theirs.toml", "[\"data\"]", "\"x = 1\\n\""],
    );
    assert_eq!(both_decrypt_alike(&dir, "theirs.toml"), b"x = 1\n");
    dir.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {RECIPIENT}\n"),
    );
    dir.ok(&our_sops(), &["updatekeys", "-y", "theirs.toml"]);
    assert!(dir
        .read("theirs.toml")
        .starts_with(b"{\n\t\"data\": \"ENC["));
    std::fs::remove_file(dir.path(".sops.yaml")).unwrap();
    // A new file: the binary form, which sops decrypts.
    let ours = dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, "a.toml"]);
    assert!(
        ours.starts_with(b"{\n\t\"data\": \"ENC["),
        "{}",
        show(&ours)
    );
    dir.write("ours.toml", &ours);
    assert_eq!(both_decrypt_alike(&dir, "ours.toml"), plain.as_bytes());
    // Our TOML store on request; such files keep their form.
    let per_value = show(&dir.ok(
        &our_sops(),
        &["-e", "--input-type", "toml", "--age", RECIPIENT, "a.toml"],
    ));
    assert!(per_value.contains("\n[sops]\n"), "{per_value}");
    dir.write("values.toml", &per_value);
    assert_eq!(
        dir.ok(&our_sops(), &["-d", "values.toml"]),
        plain.as_bytes()
    );
    dir.ok(&our_sops(), &["rotate", "-i", "values.toml"]);
    assert!(show(&dir.read("values.toml")).contains("\n[sops]\n"));
    // The creation-rule setting, which Go sops ignores.
    dir.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {RECIPIENT}\n    toml_per_value: true\n"),
    );
    let by_rule = show(&dir.ok(&our_sops(), &["-e", "a.toml"]));
    assert!(by_rule.contains("\n[sops]\n"), "{by_rule}");
    dir.ok(&reference_sops(), &["-e", "a.toml"]);
}

/// `.sops.yaml` with anchors and merge keys (`<<: *base`), which yaml.v3 applies when sops
/// reads its config: both binaries pick the merged keys and selector.
#[test]
fn sops_yaml_merge_keys() {
    let dir = Dir::new();
    dir.write(
        ".sops.yaml",
        format!(
            "base: &base\n  age: {RECIPIENT}\n  encrypted_regex: ^pw$\ncreation_rules:\n  - path_regex: \\.yaml$\n    <<: *base\n  - <<: *base\n    path_regex: \\.json$\n    encrypted_regex: ^x$\n"
        ),
    );
    dir.write("a.yaml", "pw: 1\nother: 2\n");
    dir.write("a.json", "{\"x\": 1, \"pw\": 2}\n");
    for bin in [our_sops(), reference_sops()] {
        let yaml = show(&dir.ok(&bin, &["-e", "a.yaml"]));
        assert!(
            yaml.starts_with("pw: ENC[") && yaml.contains("\nother: 2\n"),
            "{yaml}"
        );
        let json = show(&dir.ok(&bin, &["-e", "a.json"]));
        assert!(
            json.contains("\"x\": \"ENC[") && json.contains("\"pw\": 2"),
            "{json}"
        );
    }
}

/// Binary files: no selector is written on encrypt, a selector flag is ignored with sops's
/// warning, and rewriting a file without selector writes the default `unencrypted_suffix`
/// (sops's `ToInternal`), byte for byte where the reference shows it.
#[test]
fn binary_files_and_selectors() {
    let dir = Dir::new();
    dir.write("x.bin", "hello\n");
    for bin in [our_sops(), reference_sops()] {
        let out = dir.run(
            &bin,
            &[
                "-e",
                "--age",
                RECIPIENT,
                "--unencrypted-suffix",
                "_u",
                "x.bin",
            ],
        );
        assert!(out.status.success());
        assert!(
            !show(&out.stdout).contains("suffix"),
            "{}",
            show(&out.stdout)
        );
        assert!(
            show(&out.stderr).contains("Using an unencrypted suffix does not make sense with the input store (the binary store produces one key that should always be encrypted) and will be ignored."),
            "{}",
            show(&out.stderr)
        );
    }
    let theirs = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "x.bin"]);
    for (i, bin) in [our_sops(), reference_sops()].iter().enumerate() {
        let name = format!("r{i}.bin");
        dir.write(&name, &theirs);
        dir.ok(bin, &["rotate", "-i", &name]);
        in_order(
            &show(&dir.read(&name)),
            &[
                "\"mac\": \"ENC[",
                "]\",\n\t\t\"unencrypted_suffix\": \"_unencrypted\",\n\t\t\"version\": ",
            ],
        );
        both_decrypt_alike(&dir, &name);
    }
}

/// A `type:` tag that is not one of sops's: refused on a value (exit 25) and on the MAC
/// (exit 51, `Cannot decrypt MAC: Unknown datatype`), as sops does; a MAC of another known
/// type cannot match (51); `--ignore-mac` skips the MAC in both.
#[test]
fn unknown_type_tags_are_refused() {
    let dir = Dir::new();
    dir.write("t.yaml", "a: x\nb: y\n");
    let enc = show(&dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "t.yaml"]));
    let value = enc.replacen("type:str]", "type:xyz]", 1);
    let mac_of = |tag: &str| {
        enc.lines()
            .map(|l| {
                if l.starts_with("    mac: ") {
                    l.replace("type:str]", tag)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    dir.write("value.yaml", value);
    dir.write("mac.yaml", mac_of("type:xyz]"));
    dir.write("macint.yaml", mac_of("type:int]"));
    for (name, code, text) in [
        ("value.yaml", 25, "Unknown datatype: xyz"),
        ("mac.yaml", 51, "Cannot decrypt MAC: Unknown datatype: xyz"),
        ("macint.yaml", 51, ""),
    ] {
        for bin in [our_sops(), reference_sops()] {
            let out = dir.run(&bin, &["-d", name]);
            assert_eq!(out.status.code(), Some(code), "{name} {}", bin.display());
            assert!(out.stdout.is_empty());
            assert!(show(&out.stderr).contains(text), "{}", show(&out.stderr));
        }
    }
    for name in ["mac.yaml", "macint.yaml"] {
        let ours = dir.ok(&our_sops(), &["-d", "--ignore-mac", name]);
        let reference = dir.ok(&reference_sops(), &["-d", "--ignore-mac", name]);
        assert_eq!(ours, reference);
    }
}

/// Comment lines that strip to nothing before an INI section (`#` twice): sops encrypts the
/// file but panics in go-ini when it decrypts it (exit 2); we decrypt it (a deliberate
/// difference, listed in README).
#[test]
fn ini_empty_comments_before_a_section() {
    let dir = Dir::new();
    dir.write("a.ini", "#\n#\n[s]\nk = v\n");
    let theirs = dir.ok(&reference_sops(), &["-e", "--age", RECIPIENT, "a.ini"]);
    dir.write("theirs.ini", &theirs);
    let reference = dir.run(&reference_sops(), &["-d", "theirs.ini"]);
    assert_eq!(reference.status.code(), Some(2));
    assert!(show(&reference.stderr).contains("panic"));
    let ours = show(&dir.ok(&our_sops(), &["-d", "theirs.ini"]));
    assert!(ours.ends_with("[s]\nk = v\n"), "{ours}");
    let again = dir.ok(&our_sops(), &["-e", "--age", RECIPIENT, "a.ini"]);
    dir.write("ours.ini", &again);
    assert_eq!(show(&dir.ok(&our_sops(), &["-d", "ours.ini"])), ours);
}

/// sops looks for its reserved entry in the OUTPUT format: `sops_...` keys block a dotenv
/// output but not a JSON one, and a `sops` key blocks YAML but not dotenv. Both binaries.
#[test]
fn already_encrypted_check_follows_the_output_format() {
    for bin in [reference_sops(), our_sops()] {
        let dir = Dir::new();
        dir.write("p.env", "A=1\n");
        dir.ok(
            &bin,
            &["encrypt", "--age", RECIPIENT, "--output", "e.env", "p.env"],
        );
        let again = dir.run(&bin, &["encrypt", "--age", RECIPIENT, "e.env"]);
        assert_eq!(again.status.code(), Some(203), "{bin:?}");
        dir.ok(
            &bin,
            &[
                "encrypt",
                "--age",
                RECIPIENT,
                "--output-type",
                "json",
                "e.env",
            ],
        );
        dir.write("s.yaml", "sops: 1\na: 2\n");
        let yaml = dir.run(&bin, &["encrypt", "--age", RECIPIENT, "s.yaml"]);
        assert_eq!(yaml.status.code(), Some(203), "{bin:?}");
        dir.ok(
            &bin,
            &[
                "encrypt",
                "--age",
                RECIPIENT,
                "--output-type",
                "dotenv",
                "--output",
                "s.env",
                "s.yaml",
            ],
        );
        assert_eq!(
            show(&dir.ok(&bin, &["decrypt", "s.env"])),
            "sops=1\na=2\n",
            "{bin:?}"
        );
    }
}

/// A binary file's encrypted form is JSON, so `--indent` below -1 is refused when encrypting
/// (exit 4) and ignored when decrypting to raw bytes. Both binaries.
#[test]
fn negative_indent_and_binary_files() {
    for bin in [reference_sops(), our_sops()] {
        let dir = Dir::new();
        dir.write("p.bin", "raw\n");
        let refused = dir.run(&bin, &["-e", "-a", RECIPIENT, "--indent=-2", "p.bin"]);
        assert_eq!(refused.status.code(), Some(4), "{bin:?}");
        dir.ok(&bin, &["-e", "-a", RECIPIENT, "--output", "e.bin", "p.bin"]);
        assert_eq!(
            show(&dir.ok(&bin, &["-d", "--indent=-2", "e.bin"])),
            "raw\n",
            "{bin:?}"
        );
    }
}
