//! Binary format (stub: to be written).

use super::{Codec, EmitOptions, FormatError};
use crate::tree::{Document, Node};

/// The Binary codec.
pub struct Binary;

impl Codec for Binary {
    fn parse_plain(&self, _input: &[u8]) -> Result<Vec<Document>, FormatError> {
        Err(FormatError::Parse("binary: not implemented yet".into()))
    }

    fn emit_plain(&self, _docs: &[Document], _opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        Err(FormatError::Emit("binary: not implemented yet".into()))
    }

    fn emit_value(&self, _value: &Node, _opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        Err(FormatError::Emit("binary: not implemented yet".into()))
    }
}
