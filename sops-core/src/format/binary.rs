//! Binary format: any file that is not YAML, JSON, dotenv or INI (sops 3.11's binary store).
//!
//! The plaintext is the file's bytes, held as the single value `data` of one document (a
//! [`Scalar::Str`] when the bytes are UTF-8, [`Scalar::Bytes`] otherwise). The encrypted file is
//! JSON, `{"data": "ENC[...]", "sops": {...}}`, read and written by the [`super::json`] module.
//!
//! As in sops, a wrapper without a string `data` value parses fine and fails only when the
//! plaintext is written (`error emitting binary store: no binary data found in tree`).

use super::json::{parse_encrypted_document, Json};
use super::{Codec, EmitOptions, FormatError, Trailer};
use crate::tree::{Document, Map, Node, Scalar};

/// The binary codec: the whole file is one value.
pub struct Binary;

/// The key that holds the file's bytes.
const DATA_KEY: &str = "data";

impl Codec for Binary {
    fn parse_plain(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        let value = match std::str::from_utf8(input) {
            Ok(s) => Scalar::Str(s.to_owned()),
            Err(_) => Scalar::Bytes(input.to_vec()),
        };
        let mut doc = Map::new();
        doc.push(DATA_KEY, Node::Scalar(value));
        Ok(vec![doc])
    }

    fn parse_encrypted(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        parse_encrypted_document(input).map(|doc| vec![doc])
    }

    fn emit_plain(&self, docs: &[Document], _opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        let [doc] = docs else {
            return Err(emit_error("there must be exactly one tree branch"));
        };
        data_bytes(doc)
    }

    /// The encrypted form of a binary file is JSON.
    fn emit_encrypted(
        &self,
        docs: &[Document],
        opts: &EmitOptions,
    ) -> Result<Vec<u8>, FormatError> {
        Json.emit_plain(docs, opts)
    }

    fn emit_encrypted_with_trailer(
        &self,
        docs: &[Document],
        trailer: Trailer<'_>,
        opts: &EmitOptions,
    ) -> Result<Vec<u8>, FormatError> {
        Json.emit_encrypted_with_trailer(docs, trailer, opts)
    }

    fn emit_value(&self, value: &Node, _opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        match value {
            Node::Scalar(Scalar::Str(s)) => Ok(s.as_bytes().to_vec()),
            Node::Scalar(Scalar::Bytes(b)) => Ok(b.clone()),
            // sops writes an extracted map as a whole plaintext file.
            Node::Map(map) => data_bytes(map),
            _ => Err(FormatError::Emit(
                "Binary files are not structured and extracting a single value is not possible"
                    .into(),
            )),
        }
    }
}

/// True when `input` is sops's encrypted binary form: a JSON object with a `data` entry and a
/// `sops` mapping. sops 3.11 has no TOML store and encrypts `*.toml` files this way, so a
/// `.toml` file with this content is read as binary (see [`super::Format::for_content`]).
pub fn is_envelope(input: &[u8]) -> bool {
    let start = input.iter().position(|b| !b.is_ascii_whitespace());
    if start.map(|i| input[i]) != Some(b'{') {
        return false;
    }
    match parse_encrypted_document(input) {
        Ok(doc) => doc.get(DATA_KEY).is_some() && matches!(doc.get("sops"), Some(Node::Map(_))),
        Err(_) => false,
    }
}

/// The bytes under the first `data` key, as sops finds them.
fn data_bytes(doc: &Map) -> Result<Vec<u8>, FormatError> {
    match doc.get(DATA_KEY) {
        Some(Node::Scalar(Scalar::Str(s))) => Ok(s.as_bytes().to_vec()),
        Some(Node::Scalar(Scalar::Bytes(b))) => Ok(b.clone()),
        Some(_) => Err(emit_error(
            "'data' key in tree does not have a string value",
        )),
        None => Err(emit_error("no binary data found in tree")),
    }
}

fn emit_error(detail: &str) -> FormatError {
    FormatError::Emit(format!("error emitting binary store: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_recognised_by_content() {
        assert!(is_envelope(
            b"{\n\t\"data\": \"ENC[x]\",\n\t\"sops\": {\"version\": \"3.11.0\"}\n}\n"
        ));
        assert!(!is_envelope(b"{\"data\": \"x\"}"));
        assert!(!is_envelope(b"[sops]\nversion = \"3.13.2\"\n"));
        assert!(!is_envelope(b"data = \"x\"\n"));
        assert!(!is_envelope(b""));
    }
    use crate::format::json::Json;
    use std::path::{Path, PathBuf};

    fn golden_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/binary")
    }

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(golden_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Every input of testdata/binary: the bytes come back unchanged (as `sops -d` prints
    /// them), the sops-encrypted wrapper is reproduced byte for byte for each indentation, and
    /// `--output-type json` output matches.
    #[test]
    fn golden_files_match_sops() {
        let mut cases = 0;
        for entry in std::fs::read_dir(golden_dir()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let Some(case) = name.strip_suffix(".bin") else {
                continue;
            };
            cases += 1;
            let input = read(&name);
            let docs = Binary.parse_plain(&input).unwrap();
            let opts = EmitOptions::default();
            assert_eq!(Binary.emit_plain(&docs, &opts).unwrap(), input, "{case}");
            assert_eq!(read(&format!("{case}.dec")), input, "{case}: sops -d");
            let as_json = Json.emit_plain(&docs, &opts).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&as_json),
                String::from_utf8_lossy(&read(&format!("{case}.dec.json"))),
                "{case}: --output-type json"
            );
            for (variant, indent) in [
                ("default", None),
                ("indent2", Some(2)),
                ("indent0", Some(0)),
            ] {
                let opts = EmitOptions { indent };
                let enc = read(&format!("{case}.{variant}.enc"));
                let parsed = Binary.parse_encrypted(&enc).unwrap();
                assert!(parsed[0].get("sops").is_some());
                let ours = Binary.emit_encrypted(&parsed, &opts).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&enc),
                    "{case} {variant}"
                );
            }
        }
        assert!(cases >= 8, "only {cases} golden cases found");
    }

    #[test]
    fn parse_plain_types_the_data() {
        let data = |input: &[u8]| Binary.parse_plain(input).unwrap()[0].get("data").cloned();
        assert_eq!(data(b""), Some(Node::str("")));
        assert_eq!(data("é\n".as_bytes()), Some(Node::str("é\n")));
        assert_eq!(
            data(b"\xff\x00"),
            Some(Node::Scalar(Scalar::Bytes(vec![0xff, 0])))
        );
    }

    #[test]
    fn arbitrary_bytes_round_trip() {
        let mut state: u32 = 12345;
        for len in [0usize, 1, 2, 3, 7, 100, 1000] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (state >> 16) as u8
                })
                .collect();
            let docs = Binary.parse_plain(&bytes).unwrap();
            assert_eq!(
                Binary.emit_plain(&docs, &EmitOptions::default()).unwrap(),
                bytes
            );
        }
    }

    #[test]
    fn missing_or_odd_data_fails_when_written_like_sops() {
        let opts = EmitOptions::default();
        let docs = Binary.parse_encrypted(br#"{"sops": {}}"#).unwrap();
        assert_eq!(
            Binary.emit_plain(&docs, &opts).unwrap_err(),
            FormatError::Emit("error emitting binary store: no binary data found in tree".into())
        );
        let docs = Binary
            .parse_encrypted(br#"{"data": 5, "sops": {}}"#)
            .unwrap();
        assert_eq!(
            Binary.emit_plain(&docs, &opts).unwrap_err(),
            FormatError::Emit(
                "error emitting binary store: 'data' key in tree does not have a string value"
                    .into()
            )
        );
        assert!(Binary.emit_plain(&[], &opts).is_err());
        assert!(Binary.parse_encrypted(b"not json").is_err());
        assert!(Binary.parse_encrypted(b"").is_err());
    }

    #[test]
    fn emit_value_gives_raw_bytes() {
        let opts = EmitOptions::default();
        assert_eq!(
            Binary.emit_value(&Node::str("a\nb"), &opts).unwrap(),
            b"a\nb"
        );
        let bytes = Node::Scalar(Scalar::Bytes(vec![0xff]));
        assert_eq!(Binary.emit_value(&bytes, &opts).unwrap(), [0xff]);
        assert!(Binary
            .emit_value(&Node::Scalar(Scalar::Float(1.0)), &opts)
            .is_err());
    }
}
