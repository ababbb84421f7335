//! sops-core: read and write sops-encrypted files.
#![warn(missing_docs)]

pub mod format;
pub mod number;
pub mod tree;
