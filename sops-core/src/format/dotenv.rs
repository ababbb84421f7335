//! dotenv (`.env`) files, read and written exactly as sops 3.11 does.
//!
//! sops's dotenv dialect is deliberately dumb: one `KEY=value` per line, split at the first `=`
//! with no trimming and no quote handling, `#` lines as comments, blank lines dropped. The only
//! transformation is newline escaping: the two characters `\n` become a line feed on read, and a
//! line feed is written back as `\n`. Every value is a string. The file is one flat document;
//! a nested value cannot be written. The `sops_...` metadata keys are ordinary entries here (the
//! `metadata` module flattens and sorts them).

use super::{Codec, EmitOptions, FormatError};
use crate::number::{format_float_f, format_float_g};
use crate::tree::{Document, Map, MapItem, Node, Scalar, SeqItem};

/// The dotenv codec.
pub struct Dotenv;

impl Codec for Dotenv {
    fn parse_plain(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        let mut doc = Map::new();
        doc.items.reserve(input.len() / 32);
        for line in input.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            if line[0] == b'#' {
                doc.push_comment(utf8(&line[1..], line)?);
                continue;
            }
            let Some(eq) = line.iter().position(|&b| b == b'=') else {
                return Err(invalid_line(line));
            };
            let key = utf8(&line[..eq], line)?;
            doc.push(key, Node::Scalar(unescape_newlines(&line[eq + 1..])));
        }
        Ok(vec![doc])
    }

    fn emit_plain(&self, docs: &[Document], _opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        // sops only ever writes the first document.
        let Some(doc) = docs.first() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(doc.items.len() * 48);
        for item in &doc.items {
            match item {
                MapItem::Comment(c) => {
                    out.push(b'#');
                    out.extend_from_slice(c.text.as_bytes());
                }
                MapItem::Entry(e) => {
                    let Node::Scalar(value) = &e.value else {
                        return Err(FormatError::Emit(format!(
                            "cannot use complex value in dotenv file; offending key {}",
                            e.key
                        )));
                    };
                    out.extend_from_slice(e.key.as_bytes());
                    out.push(b'=');
                    match value {
                        Scalar::Str(s) => escape_newlines(s.as_bytes(), &mut out),
                        Scalar::Bytes(b) => escape_newlines(b, &mut out),
                        other => out.extend_from_slice(scalar_to_string(other).as_bytes()),
                    }
                }
            }
            out.push(b'\n');
        }
        Ok(out)
    }

    fn emit_value(&self, value: &Node, opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        match value {
            // sops writes an extracted map as a whole file and a string as its raw bytes.
            Node::Map(m) => self.emit_plain(std::slice::from_ref(m), opts),
            Node::Scalar(Scalar::Str(s)) => Ok(s.as_bytes().to_vec()),
            Node::Scalar(Scalar::Bytes(b)) => Ok(b.clone()),
            other => Err(FormatError::Emit(format!(
                "the dotenv store only supports emitting strings, got {}",
                go_type_name(other)
            ))),
        }
    }
}

/// The parse error sops gives for a line without `=`.
fn invalid_line(line: &[u8]) -> FormatError {
    FormatError::Parse(format!(
        "invalid dotenv input line: {}",
        String::from_utf8_lossy(line)
    ))
}

/// A key or comment as a string. sops accepts any bytes here, but our tree holds keys and
/// comments as UTF-8, so a non-UTF-8 key or comment is refused rather than altered.
fn utf8(bytes: &[u8], line: &[u8]) -> Result<String, FormatError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => Err(FormatError::Parse(format!(
            "invalid UTF-8 in dotenv key or comment: {}",
            String::from_utf8_lossy(line)
        ))),
    }
}

/// Replaces every two-character `\n` with a line feed, left to right and without overlap (Go
/// `strings.Replace`); `\\n` therefore becomes a backslash and a line feed. The result is a
/// string, or bytes when the value is not UTF-8.
fn unescape_newlines(raw: &[u8]) -> Scalar {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && raw.get(i + 1) == Some(&b'n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Scalar::Str(s),
        Err(e) => Scalar::Bytes(e.into_bytes()),
    }
}

/// Writes `value` with each line feed as the two characters `\n`. Backslashes are left alone.
fn escape_newlines(value: &[u8], out: &mut Vec<u8>) {
    for &b in value {
        if b == b'\n' {
            out.extend_from_slice(b"\\n");
        } else {
            out.push(b);
        }
    }
}

/// A non-container scalar as sops's `ValToString` writes it into dotenv and INI files: floats in
/// Go `'G'` form with at least one decimal (`1.0`, `1E+21`), `true`/`false`, `<nil>` for null,
/// times in RFC 3339 without fractional seconds.
pub(crate) fn scalar_to_string(value: &Scalar) -> String {
    match value {
        Scalar::Null => "<nil>".to_string(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => {
            let g = format_float_g(*f).replace('e', "E");
            if g.contains('.') || g.contains('E') || !f.is_finite() {
                g
            } else {
                // Go: FormatFloat(f, 'f', 1, 64) for a value that looks like an integer.
                format!("{}.0", format_float_f(*f))
            }
        }
        Scalar::Str(s) => s.clone(),
        Scalar::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Scalar::Time(t) => strip_fraction(t).into_owned(),
    }
}

/// An RFC 3339 time without its fractional seconds (Go's `time.RFC3339` layout).
fn strip_fraction(t: &str) -> std::borrow::Cow<'_, str> {
    let Some(tpos) = t.find(['T', 't']) else {
        return t.into();
    };
    let Some(dot) = t[tpos..].find('.').map(|p| p + tpos) else {
        return t.into();
    };
    let digits = t[dot + 1..]
        .bytes()
        .take_while(|b| b.is_ascii_digit())
        .count();
    format!("{}{}", &t[..dot], &t[dot + 1 + digits..]).into()
}

/// An RFC 3339 time as Go's `time.Time.String` prints it:
/// `2001-12-14 21:59:43.1 -0500 -0500`, or `... +0000 UTC` for `Z`.
pub(crate) fn go_time_string(t: &str) -> String {
    let Some(tpos) = t.find(['T', 't']) else {
        return t.to_string();
    };
    let (date, rest) = (&t[..tpos], &t[tpos + 1..]);
    let zpos = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = (&rest[..zpos], &rest[zpos..]);
    let clock = clock.trim_end_matches('0');
    let clock = clock.strip_suffix('.').unwrap_or(clock);
    // Trimming zeros must not eat the seconds of a time without a fraction.
    let clock = if clock.len() < 8 {
        &rest[..8.min(zpos)]
    } else {
        clock
    };
    let zone = match zone {
        "" | "Z" | "z" => "+0000 UTC".to_string(),
        z => {
            let hm = z.replace(':', "");
            format!("{hm} {hm}")
        }
    };
    format!("{date} {clock} {zone}")
}

/// A value as Go's `fmt` `%v` prints the sops tree value, used by sops for a nested value inside
/// an INI section (`[{x 1} {y [1 2]}]`).
pub(crate) fn go_value_string(node: &Node, out: &mut String, depth: usize) {
    if depth > 1000 {
        return;
    }
    match node {
        Node::Scalar(s) => out.push_str(&go_scalar_v(s)),
        Node::Map(m) => {
            out.push('[');
            for (i, item) in m.items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                match item {
                    MapItem::Entry(e) => {
                        out.push('{');
                        out.push_str(&e.key);
                        out.push(' ');
                        go_value_string(&e.value, out, depth + 1);
                        out.push('}');
                    }
                    MapItem::Comment(c) => {
                        out.push_str("{{");
                        out.push_str(&c.text);
                        out.push_str("} <nil>}");
                    }
                }
            }
            out.push(']');
        }
        Node::Seq(s) => {
            out.push('[');
            for (i, item) in s.items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                match item {
                    SeqItem::Node(n) => go_value_string(n, out, depth + 1),
                    SeqItem::Comment(c) => {
                        out.push('{');
                        out.push_str(&c.text);
                        out.push('}');
                    }
                }
            }
            out.push(']');
        }
    }
}

/// A scalar as Go's `%v` prints it.
fn go_scalar_v(s: &Scalar) -> String {
    match s {
        Scalar::Float(f) => format_float_g(*f),
        Scalar::Time(t) => go_time_string(t),
        other => scalar_to_string(other),
    }
}

/// The Go type name (`%T`) sops reports for a value it cannot emit.
fn go_type_name(node: &Node) -> &'static str {
    match node {
        Node::Map(_) => "sops.TreeBranch",
        Node::Seq(_) => "[]interface {}",
        Node::Scalar(Scalar::Null) => "<nil>",
        Node::Scalar(Scalar::Bool(_)) => "bool",
        Node::Scalar(Scalar::Int(_)) => "int",
        Node::Scalar(Scalar::Float(_)) => "float64",
        Node::Scalar(Scalar::Str(_)) | Node::Scalar(Scalar::Bytes(_)) => "string",
        Node::Scalar(Scalar::Time(_)) => "time.Time",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(input: &str) -> String {
        let docs = Dotenv.parse_plain(input.as_bytes()).unwrap();
        String::from_utf8(Dotenv.emit_plain(&docs, &EmitOptions::default()).unwrap()).unwrap()
    }

    fn values(input: &str) -> Vec<(String, Scalar)> {
        let docs = Dotenv.parse_plain(input.as_bytes()).unwrap();
        docs[0]
            .entries()
            .map(|e| (e.key.clone(), e.value.as_scalar().unwrap().clone()))
            .collect()
    }

    #[test]
    fn splits_at_first_equals_without_trimming_or_unquoting() {
        let v =
            values("A=plain\nexport B=x\nC=\"b c\"\nE=x=y=z\nF=\nI=t  \n K= l\n=val\nL=v # c\n");
        let want = [
            ("A", "plain"),
            ("export B", "x"),
            ("C", "\"b c\""),
            ("E", "x=y=z"),
            ("F", ""),
            ("I", "t  "),
            (" K", " l"),
            ("", "val"),
            ("L", "v # c"),
        ];
        assert_eq!(v.len(), want.len());
        for ((k, s), (wk, ws)) in v.iter().zip(want) {
            assert_eq!(k, wk);
            assert_eq!(s, &Scalar::Str(ws.into()));
        }
    }

    #[test]
    fn newline_escapes() {
        let v = values("M=a\\nb\nN=back\\\\slash\nO=x\\\\ny\n");
        assert_eq!(v[0].1, Scalar::Str("a\nb".into()));
        assert_eq!(v[1].1, Scalar::Str("back\\\\slash".into()));
        assert_eq!(v[2].1, Scalar::Str("x\\\ny".into()));
        assert_eq!(roundtrip("O=x\\\\ny\n"), "O=x\\\\ny\n");
    }

    #[test]
    fn comments_blank_lines_cr_duplicates() {
        let docs = Dotenv.parse_plain(b"# top\n\n#\nA=1\r\nA=2\n").unwrap();
        let items = &docs[0].items;
        assert_eq!(items.len(), 4);
        assert!(matches!(&items[0], MapItem::Comment(c) if c.text == " top"));
        assert!(matches!(&items[1], MapItem::Comment(c) if c.text.is_empty()));
        assert_eq!(docs[0].get("A"), Some(&Node::str("1\r")));
        assert_eq!(roundtrip("# top\n\nA=1\r\nA=2"), "# top\nA=1\r\nA=2\n");
    }

    #[test]
    fn errors() {
        let err = |s: &str| Dotenv.parse_plain(s.as_bytes()).unwrap_err().to_string();
        assert_eq!(err("noequals\n"), "invalid dotenv input line: noequals");
        assert_eq!(err("  # x\n"), "invalid dotenv input line:   # x");
        assert_eq!(err("A=\"x\nline\"\n"), "invalid dotenv input line: line\"");
        assert!(Dotenv.parse_plain(b"").unwrap()[0].items.is_empty());
    }

    #[test]
    fn emits_non_strings_like_sops() {
        let mut m = Map::new();
        m.push("i", Scalar::Int(1).into());
        m.push("f", Scalar::Float(1.5).into());
        m.push("f2", Scalar::Float(1.0).into());
        m.push("f3", Scalar::Float(1e21).into());
        m.push("f4", Scalar::Float(1e-7).into());
        m.push("f5", Scalar::Float(f64::INFINITY).into());
        m.push("f6", Scalar::Float(-0.0).into());
        m.push("b", Scalar::Bool(true).into());
        m.push("n", Scalar::Null.into());
        m.push(
            "t",
            Scalar::Time("2001-12-14T21:59:43.1-05:00".into()).into(),
        );
        m.push("t2", Scalar::Time("2001-12-14T21:59:43Z".into()).into());
        m.push("s", Node::str("multi\nline\\n"));
        let out = Dotenv.emit_plain(&[m], &EmitOptions::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "i=1\nf=1.5\nf2=1.0\nf3=1E+21\nf4=1E-07\nf5=+Inf\nf6=-0.0\nb=true\nn=<nil>\n\
             t=2001-12-14T21:59:43-05:00\nt2=2001-12-14T21:59:43Z\ns=multi\\nline\\n\n"
        );
    }

    #[test]
    fn complex_values_and_extract() {
        let mut inner = Map::new();
        inner.push("b", Scalar::Int(1).into());
        let mut m = Map::new();
        m.push("a", Node::str("x"));
        m.push("m", Node::Map(inner.clone()));
        let err = Dotenv
            .emit_plain(&[m], &EmitOptions::default())
            .unwrap_err();
        assert_eq!(
            err,
            FormatError::Emit("cannot use complex value in dotenv file; offending key m".into())
        );
        let o = EmitOptions::default();
        assert_eq!(Dotenv.emit_value(&Node::Map(inner), &o).unwrap(), b"b=1\n");
        assert_eq!(Dotenv.emit_value(&Node::str("a\nb"), &o).unwrap(), b"a\nb");
        assert_eq!(
            Dotenv
                .emit_value(&Scalar::Int(1).into(), &o)
                .unwrap_err()
                .to_string(),
            "the dotenv store only supports emitting strings, got int"
        );
    }

    #[test]
    fn go_time_strings() {
        assert_eq!(
            go_time_string("2001-12-14T21:59:43.1-05:00"),
            "2001-12-14 21:59:43.1 -0500 -0500"
        );
        assert_eq!(
            go_time_string("2024-01-02T00:00:00Z"),
            "2024-01-02 00:00:00 +0000 UTC"
        );
    }
}

/// Golden files made by the reference sops 3.11 (`testdata/dotenv/generate.sh`).
#[cfg(test)]
pub(crate) mod golden {
    use super::super::Codec;
    use crate::format::EmitOptions;
    use crate::tree::{Document, MapItem, Node};
    use std::path::PathBuf;

    /// The files of `testdata/<format>/<sub>` whose name ends with `.ext` and that are not
    /// generated outputs.
    pub(crate) fn inputs(format: &str, sub: &str, ext: &str) -> Vec<PathBuf> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(format)
            .join(sub);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_str().unwrap();
                name.ends_with(&format!(".{ext}"))
                    && !name.ends_with(&format!(".enc.{ext}"))
                    && !name.ends_with(&format!(".dec.{ext}"))
            })
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no golden files in {}", dir.display());
        files
    }

    /// `path` with `.ext` replaced by `suffix`.
    pub(crate) fn sibling(path: &std::path::Path, ext: &str, suffix: &str) -> PathBuf {
        let s = path.to_str().unwrap();
        PathBuf::from(format!("{}{suffix}", &s[..s.len() - ext.len() - 1]))
    }

    /// Keys and comment positions of a document, values ignored: the shape that decides the
    /// additional data of every encrypted value. Empty comments are left out: sops writes
    /// nothing for them.
    fn shape(doc: &Document, skip: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        for item in &doc.items {
            match item {
                MapItem::Comment(c) if c.text.is_empty() => {}
                MapItem::Comment(_) => out.push("#".to_string()),
                MapItem::Entry(e) if skip(&e.key) => {}
                MapItem::Entry(e) => {
                    out.push(e.key.clone());
                    if let Node::Map(m) = &e.value {
                        for item in &m.items {
                            match item {
                                MapItem::Comment(c) if c.text.is_empty() => {}
                                MapItem::Comment(_) => out.push("  #".to_string()),
                                MapItem::Entry(e) => out.push(format!("  {}", e.key)),
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Checks every golden case of a format: sops's decrypted output is our re-emission of the
    /// input, our re-emission of sops's encrypted file is byte-identical, and the encrypted
    /// file has the input's shape. Error cases give sops's message.
    pub(crate) fn check(
        codec: &dyn Codec,
        format: &str,
        ext: &str,
        is_metadata: &dyn Fn(&str) -> bool,
    ) {
        let o = EmitOptions::default();
        for input in inputs(format, "cases", ext) {
            let name = input.display().to_string();
            let plain = std::fs::read(&input).unwrap();
            let parsed = codec.parse_plain(&plain).unwrap();
            let ours = codec.emit_plain(&parsed, &o).unwrap();
            let dec_path = sibling(&input, ext, &format!(".dec.{ext}"));
            if let Ok(dec) = std::fs::read(&dec_path) {
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&dec),
                    "{name}: plain re-emission differs from sops -d"
                );
                let again = codec
                    .emit_plain(&codec.parse_plain(&dec).unwrap(), &o)
                    .unwrap();
                assert_eq!(again, dec, "{name}: decrypted output is not stable");
            } else {
                // sops wrote a file it cannot read back (INI `-` keys come out as `#1 = ...`,
                // which reads as a comment; an empty comment line makes ini.v1 panic). Check
                // that our plain output has the layout of sops's encrypted output.
                assert!(sibling(&input, ext, ".dec.err").exists(), "{name}: no .dec");
                let enc =
                    std::fs::read_to_string(sibling(&input, ext, &format!(".enc.{ext}"))).unwrap();
                if !name.contains("panic") {
                    masked_compare(&String::from_utf8_lossy(&ours), &enc, &name);
                }
                continue;
            }
            let enc = std::fs::read(sibling(&input, ext, &format!(".enc.{ext}"))).unwrap();
            let enc_docs = codec.parse_encrypted(&enc).unwrap();
            let re = codec.emit_encrypted(&enc_docs, &o).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&re),
                String::from_utf8_lossy(&enc),
                "{name}: encrypted re-emission differs"
            );
            assert_eq!(
                shape(&enc_docs[0], is_metadata),
                shape(&parsed[0], &|_| false),
                "{name}: encrypted file has another shape"
            );
        }
        for input in inputs(format, "errors", ext) {
            let plain = std::fs::read(&input).unwrap();
            let want = std::fs::read_to_string(sibling(&input, ext, ".err")).unwrap();
            let mut lines = want.lines();
            assert_eq!(lines.next(), Some("2"));
            let msg = lines.next().unwrap();
            let err = codec.parse_plain(&plain).unwrap_err();
            assert_eq!(err.exit_code_hint(), 2);
            let got = format!("Error unmarshalling file: {err}");
            assert_eq!(
                got.lines().next().unwrap_or(""),
                msg,
                "{}: error message",
                input.display()
            );
        }
    }

    /// Compares our plaintext output with sops's encrypted output up to the metadata, line by
    /// line, ignoring everything from an `ENC[` on.
    fn masked_compare(ours: &str, enc: &str, name: &str) {
        let data = match enc.find("\n[sops]\n") {
            Some(i) => enc[..i].trim_end_matches('\n'),
            None => enc.trim_end_matches('\n'),
        };
        let ours: Vec<&str> = ours.trim_end_matches('\n').lines().collect();
        let theirs: Vec<&str> = data.lines().collect();
        assert_eq!(ours.len(), theirs.len(), "{name}: line count");
        for (a, b) in ours.iter().zip(&theirs) {
            let keep = b.find("ENC[").unwrap_or(b.len());
            let keep = if b[..keep].ends_with("; ") && a.starts_with("# ") {
                keep - 2
            } else {
                keep
            };
            assert_eq!(a.get(..keep), b.get(..keep), "{name}: line {a:?} vs {b:?}");
        }
    }

    /// Exit code of a parse error, to keep the check above honest.
    trait Hint {
        fn exit_code_hint(&self) -> i32;
    }

    impl Hint for crate::format::FormatError {
        fn exit_code_hint(&self) -> i32 {
            match self {
                crate::format::FormatError::Parse(_) => 2,
                _ => 0,
            }
        }
    }

    #[test]
    fn dotenv_golden_files() {
        check(&super::Dotenv, "dotenv", "env", &|k| k.starts_with("sops_"));
    }
}
