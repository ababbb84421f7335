//! Whole files: parse, decrypt, encrypt and emit, tying formats, metadata, keys and the
//! cipher together. The types keep encrypted and decrypted content apart, so a plaintext tree
//! cannot be written where ciphertext is expected.

use crate::cipher::DataKey;
use crate::crypt::{self, Selection};
use crate::error::Error;
use crate::format::{EmitOptions, Format, MetadataLayout, Trailer};
use crate::iv_stash::IvStash;
use crate::keys::{self, Recipient, Unwrapper};
use crate::metadata::{self, Metadata, MetadataError, Selectors, SOPS_KEY};
use crate::timestamp;
use crate::tree::{Document, MapItem};

/// An encrypted file in memory: documents whose selected values are `ENC[...]`, and metadata.
#[derive(Debug, Clone)]
pub struct EncryptedFile {
    /// The documents, without the `sops` entries.
    pub documents: Vec<Document>,
    /// The metadata.
    pub metadata: Metadata,
}

/// A decrypted file in memory, with the data key that opens it (kept to re-encrypt edits).
/// Its `Debug` form shows neither the plaintext nor the key.
#[derive(Clone)]
pub struct DecryptedFile {
    /// The plaintext documents.
    pub documents: Vec<Document>,
    /// The metadata the file had.
    pub metadata: Metadata,
    /// The data key.
    pub data_key: DataKey,
    /// The IVs of the values as they were decrypted (filled by
    /// [`EncryptedFile::decrypt_with_key_keeping_ivs`]): [`DecryptedFile::encrypt`] re-uses
    /// them for unchanged values so their ciphertext stays the same.
    pub iv_stash: IvStash,
}

impl std::fmt::Debug for DecryptedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptedFile")
            .field(
                "documents",
                &format_args!("<{} redacted>", self.documents.len()),
            )
            .field("metadata", &self.metadata)
            .field("data_key", &self.data_key)
            .finish()
    }
}

/// Options for decryption.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecryptOptions {
    /// Skip the MAC check (`--ignore-mac`).
    pub ignore_mac: bool,
}

/// The `type:` tags of sops's `ENC[...]` values.
const SOPS_TYPES: [&str; 7] = ["str", "int", "float", "bool", "bytes", "comment", "time"];

/// What to encrypt a new file for, and which values to encrypt.
#[derive(Default)]
pub struct EncryptOptions {
    /// Key groups of recipients. Usually one group; several use Shamir.
    pub key_groups: Vec<Vec<Box<dyn Recipient>>>,
    /// Shamir threshold for several groups (0 = all groups).
    pub shamir_threshold: usize,
    /// Partial-encryption settings. With none set, `unencrypted_suffix: _unencrypted` is used.
    pub selectors: Selectors,
    /// The input is a binary file, sops's single-value store: as in sops, no selector applies
    /// to it and none is written (not even the default `unencrypted_suffix`).
    pub single_value: bool,
}

/// Parses a plaintext file for encryption, refusing input that already has sops metadata.
///
/// Every document is checked: sops 3.11 checks the first one only, encrypts a YAML file whose
/// later document has a `sops` key, and then cannot decrypt what it wrote (a Go panic).
pub fn parse_plain(input: &[u8], format: Format) -> Result<Vec<Document>, Error> {
    parse_plain_for_output(input, format, format)
}

/// [`parse_plain`] for a file that will be written in `output`: as in sops, the reserved
/// entry is the output format's (`sops` for most, `sops_...` keys for dotenv), since that is
/// where the metadata will go.
pub fn parse_plain_for_output(
    input: &[u8],
    format: Format,
    output: Format,
) -> Result<Vec<Document>, Error> {
    let docs = format.codec().parse_plain(input)?;
    if docs.iter().any(|doc| has_metadata_key(doc, output)) {
        return Err(Error::AlreadyEncrypted);
    }
    Ok(docs)
}

/// True if a document has the top-level entry sops reserves for metadata in `format`.
pub fn has_metadata_key(doc: &Document, format: Format) -> bool {
    doc.items.iter().any(|item| match item {
        MapItem::Entry(e) => match format.metadata_layout() {
            MetadataLayout::FlatPrefixed => e.key.starts_with(metadata::FLAT_PREFIX),
            _ => e.key == SOPS_KEY,
        },
        MapItem::Comment(_) => false,
    })
}

/// Emits plaintext documents in `format`.
pub fn emit_plain(docs: &[Document], format: Format, opts: &EmitOptions) -> Result<Vec<u8>, Error> {
    Ok(format.codec().emit_plain(docs, opts)?)
}

impl EncryptedFile {
    /// Parses an encrypted file and its metadata.
    pub fn parse(input: &[u8], format: Format) -> Result<EncryptedFile, Error> {
        let mut documents = match format.codec().parse_encrypted(input) {
            // An empty file has no metadata, whatever its format says about emptiness.
            Err(crate::format::FormatError::EmptyYaml) => {
                return Err(MetadataError::NotFound.into())
            }
            other => other?,
        };
        let metadata = Metadata::extract(&mut documents, format.metadata_layout())?;
        metadata::check_version(&metadata.version)?;
        Ok(EncryptedFile {
            documents,
            metadata,
        })
    }

    /// Encrypts plaintext documents for new recipients with a fresh data key.
    pub fn encrypt(
        documents: Vec<Document>,
        opts: &EncryptOptions,
    ) -> Result<EncryptedFile, Error> {
        let mut selectors = opts.selectors.clone();
        match selectors.count_set() {
            _ if opts.single_value => selectors = Selectors::default(),
            0 => selectors.unencrypted_suffix = Some(metadata::DEFAULT_UNENCRYPTED_SUFFIX.into()),
            1 => {}
            _ => return Err(Error::ConflictingSelectors),
        }
        if opts.key_groups.iter().all(|g| g.is_empty()) {
            return Err(Error::NoRecipients);
        }
        let data_key = DataKey::generate();
        let (key_groups, shamir_threshold) =
            keys::wrap_data_key(&data_key, &opts.key_groups, opts.shamir_threshold)?;
        let metadata = Metadata {
            key_groups,
            shamir_threshold,
            selectors,
            version: metadata::WRITER_VERSION.to_string(),
            ..Default::default()
        };
        DecryptedFile {
            documents,
            metadata,
            data_key,
            iv_stash: Default::default(),
        }
        .encrypt()
    }

    fn seal_mac(&mut self, key: &DataKey, mac: &str) {
        self.metadata.last_modified = timestamp::now_utc();
        self.metadata.mac = crypt::encrypt_mac(key, mac, &self.metadata.last_modified);
    }

    /// Recovers the data key with `sources` and decrypts every value, checking the MAC.
    pub fn decrypt(
        self,
        sources: &[&dyn Unwrapper],
        opts: &DecryptOptions,
    ) -> Result<DecryptedFile, Error> {
        let data_key = keys::recover_data_key(&self.metadata, sources)?;
        self.decrypt_with_key(data_key, opts)
    }

    /// Decrypts every value with a known data key, checking the MAC.
    pub fn decrypt_with_key(
        self,
        data_key: DataKey,
        opts: &DecryptOptions,
    ) -> Result<DecryptedFile, Error> {
        self.decrypt_inner(data_key, opts, false)
    }

    /// Like [`EncryptedFile::decrypt_with_key`], also remembering each value's IV so that
    /// re-encrypting after an edit keeps the ciphertext of unchanged values (as sops does).
    pub fn decrypt_with_key_keeping_ivs(
        self,
        data_key: DataKey,
        opts: &DecryptOptions,
    ) -> Result<DecryptedFile, Error> {
        self.decrypt_inner(data_key, opts, true)
    }

    fn decrypt_inner(
        self,
        data_key: DataKey,
        opts: &DecryptOptions,
        keep_ivs: bool,
    ) -> Result<DecryptedFile, Error> {
        let EncryptedFile {
            mut documents,
            metadata,
        } = self;
        let sel = Selection::new(&metadata.selectors)?;
        let mut iv_stash = IvStash::new();
        let computed = if keep_ivs {
            crypt::decrypt_documents_keeping_ivs(&mut documents, &data_key, &sel, &mut iv_stash)?
        } else {
            crypt::decrypt_documents(&mut documents, &data_key, &sel)?
        };
        if !opts.ignore_mac {
            let stored = crypt::decrypt_mac(&data_key, &metadata.mac, &metadata.last_modified)
                .map_err(Error::MacUndecryptable)?;
            // sops decrypts the MAC by its `type:` tag: an unknown tag is refused, and any
            // other tag than `str` gives a value that cannot equal the computed MAC.
            let type_tag = crate::cipher::EncryptedValue::parse(&metadata.mac)
                .map(|v| v.type_tag)
                .unwrap_or_else(|_| "str".into());
            if !SOPS_TYPES.contains(&type_tag.as_str()) {
                return Err(Error::MacUnknownType(type_tag));
            }
            if stored != computed || type_tag != "str" {
                let detail = if stored.is_empty() {
                    ", and the file has no MAC"
                } else if type_tag != "str" {
                    ", whose type is not str"
                } else {
                    ""
                };
                return Err(Error::MacMismatch { detail });
            }
        }
        Ok(DecryptedFile {
            documents,
            metadata,
            data_key,
            iv_stash,
        })
    }

    /// Emits the encrypted file in `format`, metadata included. The metadata entries are
    /// written after the documents' own (as [`Metadata::insert`] would place them) without
    /// copying the documents.
    pub fn to_bytes(&self, format: Format, opts: &EmitOptions) -> Result<Vec<u8>, Error> {
        let (entries, every_document) = self.metadata.entries(format);
        let trailer = Trailer {
            entries: &entries,
            every_document,
        };
        Ok(format
            .codec()
            .emit_encrypted_with_trailer(&self.documents, trailer, opts)?)
    }
}

impl DecryptedFile {
    /// Re-encrypts the (possibly edited) documents with the same data key and recipients,
    /// updating `lastmodified` and the MAC. Values whose path and plaintext did not change
    /// keep their IV, hence their exact ciphertext, when the IVs were kept at decryption.
    pub fn encrypt(self) -> Result<EncryptedFile, Error> {
        let DecryptedFile {
            mut documents,
            metadata,
            data_key,
            iv_stash,
        } = self;
        let sel = Selection::new(&metadata.selectors)?;
        let mac =
            crypt::encrypt_documents_with_ivs(&mut documents, &data_key, &sel, Some(&iv_stash))?;
        let mut file = EncryptedFile {
            documents,
            metadata,
        };
        file.seal_mac(&data_key, &mac);
        Ok(file)
    }

    /// Emits the plaintext in `format`.
    pub fn to_bytes(&self, format: Format, opts: &EmitOptions) -> Result<Vec<u8>, Error> {
        emit_plain(&self.documents, format, opts)
    }
}
