//! sops-core: read and write sops-encrypted files.
#![warn(missing_docs)]

pub mod cipher;
pub mod crypt;
pub mod format;
pub mod keys;
pub mod metadata;
pub mod number;
pub mod timestamp;
pub mod tree;
