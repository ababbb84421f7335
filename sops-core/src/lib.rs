//! sops-core: read and write sops-encrypted files.
//!
//! A sops file keeps its keys readable and encrypts every value with AES-256-GCM under one
//! random data key, which is itself wrapped for each recipient (age, PGP, cloud KMS ...).
//! This crate reads and writes such files byte-compatibly with sops 3.x, in YAML, JSON,
//! dotenv, INI, binary and (our addition) TOML.
//!
//! The front door is [`decrypt_bytes`] / [`decrypt_file`] and [`encrypt_bytes`]; the modules
//! below give full control: [`file`] (encrypted and decrypted files), [`tree`] (the document
//! tree), [`format`] (one module per file format), [`keys`] (key sources), [`crypt`] (the
//! tree walk, MAC and selectors), [`cipher`] (the value cipher) and [`metadata`].
//!
//! ```
//! use sops_core::{decrypt_bytes, encrypt_bytes, format::Format, keys::age::{AgeIdentities, AgeRecipient}};
//!
//! let recipient = AgeRecipient::parse("age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx")?;
//! let encrypted = encrypt_bytes(b"password: hunter2\n", Format::Yaml, vec![Box::new(recipient)])?;
//! assert!(String::from_utf8_lossy(&encrypted).contains("password: ENC[AES256_GCM,"));
//!
//! let identities = AgeIdentities::from_text(
//!     "AGE-SECRET-KEY-1CYZPQWE442GN9FNH3LDYNR0QATR7JS73EFZJLCLPH3GNUYEML84SPPNAJK")?;
//! let plain = decrypt_bytes(&encrypted, Format::Yaml, &[&identities])?;
//! assert_eq!(plain, b"password: hunter2\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod atomic;
pub mod check;
pub mod cipher;
pub mod config;
pub mod crypt;
pub mod edit;
pub mod error;
pub mod file;
pub mod format;
pub mod iv_stash;
pub mod keys;
#[cfg(feature = "keyservice")]
pub mod keyservice;
pub mod merge;
pub mod metadata;
pub mod number;
pub mod private_dir;
#[cfg(feature = "publish")]
pub mod publish;
pub mod timestamp;
pub mod tree;
pub mod tree_path;
pub mod typed;

pub use error::Error;
pub use file::{DecryptOptions, DecryptedFile, EncryptOptions, EncryptedFile};

use format::{EmitOptions, Format};
use keys::{Recipient, Unwrapper};

/// Decrypts an encrypted file's bytes in `format` and returns the plaintext in the same format.
pub fn decrypt_bytes(
    input: &[u8],
    format: Format,
    sources: &[&dyn Unwrapper],
) -> Result<Vec<u8>, Error> {
    let file = EncryptedFile::parse(input, format)?.decrypt(sources, &DecryptOptions::default())?;
    file.to_bytes(format, &EmitOptions::default())
}

/// Decrypts a file on disk with the age identities of the environment (`SOPS_AGE_KEY_FILE`
/// and the others sops reads), picking the format from the file name (and, for `.toml`, from
/// the content: sops's binary envelope is a binary file, see [`Format::for_content`]).
pub fn decrypt_file(
    path: impl AsRef<std::path::Path>,
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let path = path.as_ref();
    let input = std::fs::read(path)?;
    let identities = keys::age::AgeIdentities::from_env();
    Ok(decrypt_bytes(
        &input,
        Format::from_path(path).for_content(&input),
        &[&identities],
    )?)
}

/// Decrypts an encrypted file's bytes into a serde type (the first document).
pub fn decrypt_bytes_into<T: serde::de::DeserializeOwned>(
    input: &[u8],
    format: Format,
    sources: &[&dyn Unwrapper],
) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
    let file = EncryptedFile::parse(input, format)?.decrypt(sources, &DecryptOptions::default())?;
    let doc = file.documents.into_iter().next().unwrap_or_default();
    Ok(typed::from_document(&doc)?)
}

/// Encrypts plaintext bytes in `format` for one group of recipients, with sops's defaults.
pub fn encrypt_bytes(
    input: &[u8],
    format: Format,
    recipients: Vec<Box<dyn Recipient>>,
) -> Result<Vec<u8>, Error> {
    let docs = file::parse_plain(input, format)?;
    let opts = EncryptOptions {
        key_groups: vec![recipients],
        single_value: format == Format::Binary,
        ..Default::default()
    };
    EncryptedFile::encrypt(docs, &opts)?.to_bytes(format, &EmitOptions::default())
}
