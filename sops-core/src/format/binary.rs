//! Binary format: any file that is not YAML, JSON, dotenv or INI (sops 3.11's binary store).
//!
//! The plaintext is the file's bytes, held as the single value `data` of one document (a
//! [`Scalar::Str`] when the bytes are UTF-8, [`Scalar::Bytes`] otherwise). The encrypted file is
//! JSON, `{"data": "ENC[...]", "sops": {...}}`, read and written by the [`super::json`] module.
//!
//! As in sops, a wrapper without a string `data` value parses fine and fails only when the
//! plaintext is written (`error emitting binary store: no binary data found in tree`).

use super::json::{emit_document, parse_encrypted_document};
use super::{Codec, EmitOptions, FormatError};
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

    fn emit_encrypted(
        &self,
        docs: &[Document],
        opts: &EmitOptions,
    ) -> Result<Vec<u8>, FormatError> {
        let doc = docs
            .first()
            .ok_or_else(|| FormatError::Emit("Error marshaling to json: no document".into()))?;
        emit_document(doc, opts)
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
