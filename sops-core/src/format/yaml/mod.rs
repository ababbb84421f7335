//! YAML, read and written exactly as sops 3.11 does through Go's yaml.v3.
//!
//! Parsing builds our tree straight from granit-parser's event stream: scalars are typed with
//! yaml.v3's resolution rules ([`resolve`]), aliases are expanded (with a bound on the total
//! size), `<<` stays a literal key, and comments become items of the map or sequence that holds
//! them, same-line comments moved above what they follow, as sops does. Writing ([`emit`])
//! reproduces yaml.v3's encoder: 4-space default indentation with indented sequences, its
//! quoting rules, literal blocks for multi-line strings and no line folding.
//!
//! This module knows nothing about encryption: the `sops` metadata is an ordinary entry.

mod emit;
mod parse;
mod resolve;

use super::{Codec, EmitOptions, FormatError, Trailer};
use crate::tree::{Document, Node, Scalar};

/// The YAML codec.
pub struct Yaml;

/// The indentation step for the requested `--indent`: 0 or none means 4, 1 means 2.
fn indent_step(opts: &EmitOptions) -> usize {
    match opts.indent {
        None | Some(0) => 4,
        Some(1) => 2,
        Some(n) => n,
    }
}

impl Codec for Yaml {
    fn parse_plain(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        parse::parse(input)
    }

    fn emit_plain(&self, docs: &[Document], opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        emit_documents(docs, Trailer::default(), opts)
    }

    fn emit_encrypted_with_trailer(
        &self,
        docs: &[Document],
        trailer: Trailer<'_>,
        opts: &EmitOptions,
    ) -> Result<Vec<u8>, FormatError> {
        emit_documents(docs, trailer, opts)
    }

    fn emit_value(&self, value: &Node, opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        match value {
            Node::Scalar(Scalar::Str(s)) => Ok(s.as_bytes().to_vec()),
            Node::Scalar(s) => Ok(emit::scalar_line(s, indent_step(opts))),
            other => emit::node_block(other, indent_step(opts)),
        }
    }
}

/// Writes the documents, each followed by its trailer entries, separated by `---`.
fn emit_documents(
    docs: &[Document],
    trailer: Trailer<'_>,
    opts: &EmitOptions,
) -> Result<Vec<u8>, FormatError> {
    let capacity = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let trailer = trailer.for_document(i);
            super::capacity_hint(&d.items, trailer, super::bytes_per_item(trailer))
        })
        .sum();
    let mut e = emit::Emitter::new(indent_step(opts), capacity);
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            e.out.extend_from_slice(b"---\n");
        }
        e.document(doc, trailer.for_document(i))?;
        e.end_document();
    }
    Ok(e.out)
}

#[cfg(test)]
mod tests;
