//! Ini format (stub: to be written).

use super::{Codec, EmitOptions, FormatError};
use crate::tree::{Document, Node};

/// The Ini codec.
pub struct Ini;

impl Codec for Ini {
    fn parse_plain(&self, _input: &[u8]) -> Result<Vec<Document>, FormatError> {
        Err(FormatError::Parse("ini: not implemented yet".into()))
    }

    fn emit_plain(&self, _docs: &[Document], _opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        Err(FormatError::Emit("ini: not implemented yet".into()))
    }

    fn emit_value(&self, _value: &Node, _opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        Err(FormatError::Emit("ini: not implemented yet".into()))
    }
}
