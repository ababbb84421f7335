//! Whole files: parse, decrypt, encrypt and emit, tying formats, metadata, keys and the
//! cipher together. The types keep encrypted and decrypted content apart, so a plaintext tree
//! cannot be written where ciphertext is expected.

use crate::cipher::DataKey;
use crate::crypt::{self, Selection};
use crate::error::Error;
use crate::format::{EmitOptions, Format, MetadataLayout, Trailer, WriteError};
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

/// Checks the computed MAC of the plaintext against the file's stored one, as sops does.
fn check_mac(
    metadata: &Metadata,
    data_key: &DataKey,
    computed: &str,
    opts: &DecryptOptions,
) -> Result<(), Error> {
    if opts.ignore_mac {
        return Ok(());
    }
    let stored = crypt::decrypt_mac(data_key, &metadata.mac, &metadata.last_modified)
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
    Ok(())
}

/// The metadata of an encrypted YAML or JSON file, found without reading the whole file: the
/// last top-level `sops` entry, read on its own. Only a guess, for starting to recover the
/// data key early ([`EncryptedFile::parse_decrypting`] checks it against the whole file);
/// `None` when there is nothing that looks like one, or for other formats.
pub fn peek_metadata(input: &[u8], format: Format) -> Option<Metadata> {
    let node = match format {
        Format::Yaml => {
            let text = std::str::from_utf8(input).ok()?;
            let at = if text.starts_with("sops:\n") {
                0
            } else {
                text.rfind("\nsops:\n")? + 1
            };
            // The entry runs to the next line that starts at column 0 with something else
            // than a comment or a `-` item, or to a document marker.
            let mut end = text.len();
            let mut line = at + text[at..].find('\n')? + 1;
            while line < text.len() {
                let rest = &text[line..];
                let first = rest.as_bytes()[0];
                if rest.starts_with("---") || rest.starts_with("...") {
                    end = line;
                    break;
                }
                if !matches!(first, b' ' | b'#' | b'\n' | b'-') {
                    end = line;
                    break;
                }
                match rest.find('\n') {
                    Some(n) => line += n + 1,
                    None => break,
                }
            }
            let mut docs = crate::format::yaml::parse_handing_over(
                &text.as_bytes()[at..end],
                &mut |_: &mut [MapItem]| {},
            )?
            .0;
            let node = docs.first_mut()?.remove(SOPS_KEY)?;
            node
        }
        Format::Json => crate::format::json::peek_sops_object(input)?,
        _ => return None,
    };
    let mut doc = Document::new();
    doc.push(SOPS_KEY, node);
    let metadata = Metadata::extract(&mut [doc], MetadataLayout::Nested).ok()?;
    metadata::check_version(&metadata.version).ok()?;
    Some(metadata)
}

/// What [`EncryptedFile::parse_decrypting`] did.
pub enum EarlyDecrypt {
    /// The file is read and decrypted, its MAC checked.
    Done(Box<DecryptedFile>),
    /// The file needs the ordinary way ([`EncryptedFile::parse`], then decryption): it is not
    /// YAML in the fast path's subset or JSON, has several documents, comment selectors, or
    /// metadata other than the guess, or does not parse (the ordinary way reports why).
    NotApplicable,
    /// The file was read and its metadata is the guess, but decrypting failed or the MAC does
    /// not match: what the ordinary way would report.
    Failed(Error),
}

impl EncryptedFile {
    /// Reads an encrypted YAML or JSON file and decrypts it at the same time, with the data
    /// key recovered from `expected` (the metadata [`peek_metadata`] found): each batch of
    /// top-level entries is decrypted (on all cores) as soon as it is read, so the ciphertext
    /// of the whole file is never held in the tree. The result is the ordinary way's:
    /// anything that would make it differ (see [`EarlyDecrypt::NotApplicable`]) is detected,
    /// and errors are reported in the ordinary order (reading, then decryption, then MAC).
    pub fn parse_decrypting(
        input: &[u8],
        format: Format,
        expected: &Metadata,
        data_key: &DataKey,
        opts: &DecryptOptions,
    ) -> EarlyDecrypt {
        let Ok(sel) = Selection::new(&expected.selectors) else {
            return EarlyDecrypt::NotApplicable;
        };
        let Some(mut dec) = crypt::BatchDecryptor::new(data_key, &sel, SOPS_KEY) else {
            return EarlyDecrypt::NotApplicable;
        };
        if format == Format::Yaml {
            if let Some(parts) = crate::format::yaml::split_into_parts(input) {
                match Self::decrypt_yaml_parts(parts, expected, data_key, &sel, opts) {
                    EarlyDecrypt::NotApplicable => {}
                    done_or_failed => return done_or_failed,
                }
            }
        }
        let mut hook = |items: &mut [MapItem]| dec.items(items);
        let parsed = match format {
            Format::Yaml => crate::format::yaml::parse_handing_over(input, &mut hook),
            Format::Json => crate::format::json::parse_encrypted_handing_over(input, &mut hook)
                .ok()
                .map(|(doc, handed)| (vec![doc], handed)),
            _ => None,
        };
        let Some((mut documents, handed)) = parsed else {
            return EarlyDecrypt::NotApplicable;
        };
        if documents.len() != 1 {
            return EarlyDecrypt::NotApplicable;
        }
        if let Some(rest) = documents[0].items.get_mut(handed..) {
            dec.items(rest);
        }
        let metadata = match Metadata::extract(&mut documents, format.metadata_layout()) {
            Ok(m) if m == *expected && metadata::check_version(&m.version).is_ok() => m,
            _ => return EarlyDecrypt::NotApplicable,
        };
        let computed = match dec.finish() {
            Ok(mac) => mac,
            Err(e) => return EarlyDecrypt::Failed(e.into()),
        };
        if let Err(e) = check_mac(&metadata, data_key, &computed, opts) {
            return EarlyDecrypt::Failed(e);
        }
        EarlyDecrypt::Done(Box::new(DecryptedFile {
            documents,
            metadata,
            data_key: data_key.clone(),
            iv_stash: Default::default(),
        }))
    }

    /// [`EncryptedFile::parse_decrypting`] for a large YAML file cut into parts (by
    /// [`crate::format::yaml::FileParts`], so that the file is never in memory whole): the
    /// parts are loaded, read and decrypted on all cores, each dropped once read, and the MAC
    /// is computed over them in document order.
    pub fn parse_decrypting_yaml_parts<P: crate::format::yaml::Part>(
        parts: Vec<P>,
        expected: &Metadata,
        data_key: &DataKey,
        opts: &DecryptOptions,
    ) -> EarlyDecrypt {
        let Ok(sel) = Selection::new(&expected.selectors) else {
            return EarlyDecrypt::NotApplicable;
        };
        // Comment rules need the comments before each value, possibly in an earlier part.
        if sel.uses_comments() {
            return EarlyDecrypt::NotApplicable;
        }
        Self::decrypt_yaml_parts(parts, expected, data_key, &sel, opts)
    }

    fn decrypt_yaml_parts<P: crate::format::yaml::Part>(
        parts: Vec<P>,
        expected: &Metadata,
        data_key: &DataKey,
        sel: &Selection,
        opts: &DecryptOptions,
    ) -> EarlyDecrypt {
        let vc = data_key.value_cipher();
        let Some((doc, macs)) = crate::format::yaml::parse_in_parts(parts, |items| {
            crypt::decrypt_part(items, &vc, sel, SOPS_KEY)
        }) else {
            return EarlyDecrypt::NotApplicable;
        };
        let mut documents = vec![doc];
        let metadata = match Metadata::extract(&mut documents, MetadataLayout::Nested) {
            Ok(m) if m == *expected && metadata::check_version(&m.version).is_ok() => m,
            _ => return EarlyDecrypt::NotApplicable,
        };
        let mac_input = match macs.into_iter().collect::<Result<Vec<_>, _>>() {
            Ok(inputs) => inputs,
            Err(e) => return EarlyDecrypt::Failed(e.into()),
        };
        let mut mac = crypt::PartsMac::new(sel);
        for part in mac_input {
            mac.add(&part);
        }
        let computed = mac.hex();
        if let Err(e) = check_mac(&metadata, data_key, &computed, opts) {
            return EarlyDecrypt::Failed(e);
        }
        EarlyDecrypt::Done(Box::new(DecryptedFile {
            documents,
            metadata,
            data_key: data_key.clone(),
            iv_stash: Default::default(),
        }))
    }

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
        Self::prepare_encryption(documents, opts)?.encrypt()
    }

    /// The first step of [`EncryptedFile::encrypt`]: a fresh data key wrapped for the
    /// recipients and the metadata, with the documents still in plaintext. Then
    /// [`DecryptedFile::encrypt`] or [`DecryptedFile::encrypt_to`] encrypts them.
    pub fn prepare_encryption(
        documents: Vec<Document>,
        opts: &EncryptOptions,
    ) -> Result<DecryptedFile, Error> {
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
        Ok(DecryptedFile {
            documents,
            metadata,
            data_key,
            iv_stash: Default::default(),
        })
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
        check_mac(&metadata, &data_key, &computed, opts)?;
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

    /// Writes the bytes of [`EncryptedFile::to_bytes`] to `out`; YAML and JSON hand them over
    /// in chunks as they are produced instead of building the whole file in memory. A format
    /// error is reported before anything is written.
    pub fn write_to(
        &self,
        format: Format,
        opts: &EmitOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<(), WriteError> {
        let (entries, every_document) = self.metadata.entries(format);
        let trailer = Trailer {
            entries: &entries,
            every_document,
        };
        format
            .codec()
            .write_encrypted_with_trailer(&self.documents, trailer, opts, out)
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

    /// True when [`DecryptedFile::encrypt_to`] can encrypt and write this file in `format`:
    /// one YAML or JSON document, no IVs kept from an earlier version, no comment selectors,
    /// nothing the writer could refuse.
    pub fn can_encrypt_to(&self, format: Format) -> bool {
        matches!(format, Format::Yaml | Format::Json)
            && self.documents.len() == 1
            && self.iv_stash.is_empty()
            && crate::format::always_emittable(&self.documents, &[])
            && Selection::new(&self.metadata.selectors)
                .is_ok_and(|sel| crypt::BatchEncryptor::new(&self.data_key, &sel).is_some())
    }

    /// [`DecryptedFile::encrypt`] then [`EncryptedFile::write_to`], batch by batch: each batch
    /// of top-level entries is encrypted (on all cores), written and dropped, and the metadata
    /// with the MAC follows, so the ciphertext of the whole file is never in memory. The same
    /// bytes as the two steps (but for the fresh IVs). Only when
    /// [`DecryptedFile::can_encrypt_to`] says so; otherwise it fails before writing anything.
    pub fn encrypt_to(
        self,
        format: Format,
        opts: &EmitOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<(), WriteError> {
        let refuse = |why: &str| WriteError::Format(crate::format::FormatError::Emit(why.into()));
        if !self.can_encrypt_to(format) {
            return Err(refuse("this file cannot be encrypted while it is written"));
        }
        let DecryptedFile {
            mut documents,
            mut metadata,
            data_key,
            ..
        } = self;
        let sel = Selection::new(&metadata.selectors).map_err(|e| refuse(&e.to_string()))?;
        if format == Format::Yaml && !sel.uses_comments() {
            // Encrypted and written on all cores, batch by batch; the MAC in document order.
            let vc = data_key.value_cipher();
            let mac = std::cell::RefCell::new(crypt::PartsMac::new(&sel));
            let mut failed = None;
            let prepare = |items: &mut [MapItem]| crypt::encrypt_part(items, &vc, &sel);
            let mut consume = |result: Result<Vec<u8>, crypt::CryptError>| match result {
                Ok(input) => mac.borrow_mut().add(&input),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            };
            let mut trailer = || {
                metadata.last_modified = timestamp::now_utc();
                metadata.mac =
                    crypt::encrypt_mac(&data_key, &mac.borrow().hex(), &metadata.last_modified);
                metadata.entries(format).0
            };
            if let Some(written) = crate::format::write_in_parallel_batches(
                format,
                &mut documents[0],
                opts,
                out,
                &prepare,
                &mut consume,
                &mut trailer,
            ) {
                written?;
                return match failed {
                    Some(e) => Err(refuse(&e.to_string())),
                    None => Ok(()),
                };
            }
        }
        let enc = std::cell::RefCell::new(
            crypt::BatchEncryptor::new(&data_key, &sel).ok_or_else(|| refuse("comment rules"))?,
        );
        // Cannot happen once `can_encrypt_to` holds (the only error is nesting too deep).
        let mut failed = None;
        let mut prepare = |items: &mut [MapItem]| {
            if let Err(e) = enc.borrow_mut().items(items) {
                failed.get_or_insert(e);
            }
        };
        let mut trailer = || {
            let mac = enc.borrow().mac();
            metadata.last_modified = timestamp::now_utc();
            metadata.mac = crypt::encrypt_mac(&data_key, &mac, &metadata.last_modified);
            metadata.entries(format).0
        };
        let doc = &mut documents[0];
        crate::format::write_in_batches(format, doc, opts, out, &mut prepare, &mut trailer)
            .unwrap_or_else(|| Err(refuse("this file cannot be encrypted while it is written")))?;
        match failed {
            Some(e) => Err(refuse(&e.to_string())),
            None => Ok(()),
        }
    }

    /// Writes the bytes of [`DecryptedFile::to_bytes`] to `out`, streamed as
    /// [`EncryptedFile::write_to`] does.
    pub fn write_to(
        &self,
        format: Format,
        opts: &EmitOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<(), WriteError> {
        format.codec().write_plain(&self.documents, opts, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::age::{AgeIdentities, AgeRecipient};
    use crate::tree::{Map, Node, Scalar};

    fn key_pair() -> (AgeRecipient, AgeIdentities) {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/age-key.txt"),
        )
        .unwrap();
        let public = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap();
        (
            AgeRecipient::parse(public).unwrap(),
            AgeIdentities::from_text(&text).unwrap(),
        )
    }

    /// A YAML file of `n` top-level entries (more than a batch) with comments, inline
    /// comments, nesting, lists, empty and unencrypted values.
    fn big_yaml(n: usize) -> String {
        let mut s = String::from("# head\n");
        for i in 0..n {
            s.push_str(&format!(
                "# entry {i}\nk{i}:\n    host: h{i}.example # inline\n"
            ));
            s.push_str(&format!("    port: {i}\n    ok: true\n    ratio: 0.{i}\n"));
            s.push_str("    tags:\n        - a\n        # between\n        - b\n");
            s.push_str(&format!("    empty:\n    note_unencrypted: plain {i}\n"));
            if i % 7 == 0 {
                s.push_str(&format!("top{i}: scalar # c\n"));
            }
        }
        s.push_str("# tail\n");
        s
    }

    fn encrypt(plain: &[u8], format: Format) -> Vec<u8> {
        let (recipient, _) = key_pair();
        let docs = parse_plain(plain, format).unwrap();
        let opts = EncryptOptions {
            key_groups: vec![vec![Box::new(recipient)]],
            ..Default::default()
        };
        EncryptedFile::encrypt(docs, &opts)
            .unwrap()
            .to_bytes(format, &EmitOptions::default())
            .unwrap()
    }

    /// Decrypts the ordinary way, and through `peek_metadata` + `parse_decrypting` when that
    /// applies: both must agree (same documents, or the same error). Returns whether the early
    /// way applied.
    fn check_both_ways(input: &[u8], format: Format) -> bool {
        let (_, ids) = key_pair();
        let opts = DecryptOptions::default();
        let ordinary = EncryptedFile::parse(input, format).and_then(|f| f.decrypt(&[&ids], &opts));
        let Some(meta) = peek_metadata(input, format) else {
            return false;
        };
        let Ok(key) = keys::recover_data_key(&meta, &[&ids]) else {
            return false;
        };
        let early = EncryptedFile::parse_decrypting(input, format, &meta, &key, &opts);
        same_as_ordinary(early, ordinary)
    }

    /// Checks that an early way's result is the ordinary way's (the same documents, or the
    /// same error); false when the early way did not apply.
    fn same_as_ordinary(early: EarlyDecrypt, ordinary: Result<DecryptedFile, Error>) -> bool {
        match early {
            EarlyDecrypt::NotApplicable => false,
            EarlyDecrypt::Done(d) => {
                let o = ordinary.expect("the early way decrypted what the ordinary way refuses");
                // Through the debug form: NaN is not equal to itself.
                assert_eq!(format!("{:?}", d.documents), format!("{:?}", o.documents));
                assert_eq!(d.metadata, o.metadata);
                true
            }
            EarlyDecrypt::Failed(e) => {
                let o = ordinary.expect_err("the early way refused what the ordinary way reads");
                assert_eq!(e.to_string(), o.to_string());
                true
            }
        }
    }

    #[test]
    fn early_decryption_equals_the_ordinary_way() {
        let yaml = big_yaml(600);
        let enc = encrypt(yaml.as_bytes(), Format::Yaml);
        assert!(check_both_ways(&enc, Format::Yaml));
        let docs = parse_plain(yaml.as_bytes(), Format::Yaml).unwrap();
        let json = emit_plain(&docs, Format::Json, &EmitOptions::default()).unwrap();
        let enc_json = encrypt(&json, Format::Json);
        assert!(check_both_ways(&enc_json, Format::Json));
        // Tampered: the same MAC error both ways; a broken value: the same value error.
        let text = String::from_utf8(enc.clone()).unwrap();
        let at = text.find("ENC[AES256_GCM,data:").unwrap() + 20;
        let mut bad = text.clone().into_bytes();
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        assert!(check_both_ways(&bad, Format::Yaml));
        // A syntax error after the first batches: the ordinary way's error, not a decryption one.
        let broken = text.replacen("k500:", "k500: [", 1);
        assert!(!check_both_ways(broken.as_bytes(), Format::Yaml));
    }

    /// [`check_both_ways`] for a large YAML file read in parts from disk.
    fn check_file_parts(input: &[u8]) -> bool {
        let (_, ids) = key_pair();
        let opts = DecryptOptions::default();
        let ordinary =
            EncryptedFile::parse(input, Format::Yaml).and_then(|f| f.decrypt(&[&ids], &opts));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        std::fs::write(&path, input).unwrap();
        let plan = crate::format::yaml::FileParts::plan(&path)
            .unwrap()
            .expect("a plan");
        assert!(plan.len() > 2);
        let meta = peek_metadata(&plan.metadata_text().unwrap(), Format::Yaml).unwrap();
        let key = keys::recover_data_key(&meta, &[&ids]).unwrap();
        let early = EncryptedFile::parse_decrypting_yaml_parts(plan.parts(), &meta, &key, &opts);
        same_as_ordinary(early, ordinary)
    }

    #[test]
    fn decryption_in_parts_equals_the_ordinary_way() {
        let yaml = big_yaml(4000);
        let enc = encrypt(yaml.as_bytes(), Format::Yaml);
        let parts = crate::format::yaml::split_into_parts(&enc).expect("cut into parts");
        assert!(parts.len() > 2);
        assert!(check_both_ways(&enc, Format::Yaml));
        assert!(check_file_parts(&enc));
        let text = String::from_utf8(enc.clone()).unwrap();
        // A value changed in a late part: the same MAC error.
        let at = text.rfind("ENC[AES256_GCM,data:").unwrap() - 400;
        let at = at + text[at..].find("ENC[AES256_GCM,data:").unwrap() + 20;
        let mut bad = text.clone().into_bytes();
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        assert!(check_both_ways(&bad, Format::Yaml));
        assert!(check_file_parts(&bad));
        // A syntax error, a key repeated in two parts: the ordinary way's error.
        for broken in [
            text.replacen("k3500:", "k3500: [", 1),
            text.replacen("k3500:", "k10:", 1),
        ] {
            assert!(!check_both_ways(broken.as_bytes(), Format::Yaml));
            assert!(!check_file_parts(broken.as_bytes()));
        }
    }

    #[test]
    fn early_decryption_agrees_on_every_encrypted_test_file() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let mut stack = vec![root];
        let (mut seen, mut early) = (0, 0);
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let format = match path.extension().and_then(|e| e.to_str()) {
                    Some("yaml" | "yml") => Format::Yaml,
                    Some("json") => Format::Json,
                    _ => continue,
                };
                let input = std::fs::read(&path).unwrap();
                if memchr::memmem::find(&input, b"ENC[").is_none() {
                    continue;
                }
                seen += 1;
                if check_both_ways(&input, format) {
                    early += 1;
                }
            }
        }
        assert!(
            seen > 50 && early > 20,
            "{seen} files, {early} decrypted early"
        );
    }

    #[test]
    fn parallel_batches_write_what_sequential_batches_write() {
        use crate::tree::Entry;
        let trailer = vec![Entry {
            key: "sops".into(),
            value: Node::Scalar(Scalar::Str("x".into())),
        }];
        let mut inputs = vec![big_yaml(3000), big_yaml(3), big_yaml(300)];
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    inputs.extend(std::fs::read_to_string(&path).ok());
                }
            }
        }
        let mut compared = 0;
        for yaml in &inputs {
            let Ok(docs) = parse_plain(yaml.as_bytes(), Format::Yaml) else {
                continue;
            };
            if docs.len() != 1 {
                continue;
            }
            for indent in [None, Some(2), Some(1)] {
                let opts = EmitOptions { indent };
                let (mut a, mut b) = (docs[0].clone(), docs[0].clone());
                let mut sequential = Vec::new();
                let done = crate::format::write_in_batches(
                    Format::Yaml,
                    &mut a,
                    &opts,
                    &mut sequential,
                    &mut |_| {},
                    &mut || trailer.clone(),
                );
                let Some(Ok(())) = done else { continue };
                let mut parallel = Vec::new();
                crate::format::write_in_parallel_batches(
                    Format::Yaml,
                    &mut b,
                    &opts,
                    &mut parallel,
                    &|items| items.len(),
                    &mut |_| {},
                    &mut || trailer.clone(),
                )
                .unwrap()
                .unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&parallel),
                    String::from_utf8_lossy(&sequential)
                );
                // The same items many times over, written whole on all cores: the bytes of
                // the one-core writer.
                let mut many = Map::new();
                for n in 0..(2000 / docs[0].items.len().max(1) + 1) {
                    for item in &docs[0].items {
                        let mut item = item.clone();
                        if let MapItem::Entry(e) = &mut item {
                            e.key = format!("{}_{n}", e.key);
                        }
                        many.items.push(item);
                    }
                }
                let one_core = Format::Yaml.codec().emit_plain(&[many.clone()], &opts);
                let mut all_cores = Vec::new();
                let written = Format::Yaml
                    .codec()
                    .write_plain(&[many], &opts, &mut all_cores);
                match one_core {
                    Ok(bytes) => {
                        written.unwrap();
                        assert_eq!(
                            String::from_utf8_lossy(&all_cores),
                            String::from_utf8_lossy(&bytes)
                        );
                    }
                    Err(_) => assert!(written.is_err()),
                }
                compared += 1;
            }
        }
        assert!(compared > 300, "{compared}");
    }

    #[test]
    fn batch_encryption_writes_what_the_two_steps_write() {
        let (_, ids) = key_pair();
        let mask = |b: &[u8]| {
            let text = String::from_utf8(b.to_vec()).unwrap();
            let enc = regex::Regex::new(r"ENC\[[^\]]*\]").unwrap();
            let stamp = regex::Regex::new(r"lastmodified.*").unwrap();
            let text = enc.replace_all(&text, "ENC");
            stamp.replace_all(&text, "lastmodified").into_owned()
        };
        let yaml = big_yaml(600);
        let docs = parse_plain(yaml.as_bytes(), Format::Yaml).unwrap();
        let json = emit_plain(&docs, Format::Json, &EmitOptions::default()).unwrap();
        for (plain, format) in [(yaml.as_bytes(), Format::Yaml), (&json[..], Format::Json)] {
            let opts = EncryptOptions {
                key_groups: vec![vec![Box::new(key_pair().0)]],
                ..Default::default()
            };
            let prepared =
                EncryptedFile::prepare_encryption(parse_plain(plain, format).unwrap(), &opts)
                    .unwrap();
            assert!(prepared.can_encrypt_to(format));
            let two_steps = prepared
                .clone()
                .encrypt()
                .unwrap()
                .to_bytes(format, &EmitOptions::default())
                .unwrap();
            let mut streamed = Vec::new();
            prepared
                .encrypt_to(format, &EmitOptions::default(), &mut streamed)
                .unwrap();
            assert_eq!(mask(&streamed), mask(&two_steps));
            // It decrypts (MAC included) to the input.
            let back = EncryptedFile::parse(&streamed, format)
                .unwrap()
                .decrypt(&[&ids], &DecryptOptions::default())
                .unwrap();
            assert_eq!(back.documents, parse_plain(plain, format).unwrap());
        }
    }

    /// A writer that fails after `left` bytes.
    struct Failing {
        left: usize,
    }

    impl std::io::Write for Failing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.left {
                return Err(std::io::Error::other("disk full"));
            }
            self.left -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn streamed_output_equals_the_buffered_one() {
        // Over a chunk of output, so that it leaves in several writes.
        let yaml = big_yaml(6000);
        let docs = parse_plain(yaml.as_bytes(), Format::Yaml).unwrap();
        let (_, ids) = key_pair();
        for format in [Format::Yaml, Format::Json] {
            let plain = emit_plain(&docs, format, &EmitOptions::default()).unwrap();
            assert!(plain.len() > crate::format::STREAM_CHUNK);
            let enc = encrypt(&plain, format);
            let file = EncryptedFile::parse(&enc, format).unwrap();
            let mut out = Vec::new();
            file.write_to(format, &EmitOptions::default(), &mut out)
                .unwrap();
            assert_eq!(out, enc);
            let dec = file.decrypt(&[&ids], &DecryptOptions::default()).unwrap();
            let mut out = Vec::new();
            dec.write_to(format, &EmitOptions::default(), &mut out)
                .unwrap();
            assert_eq!(out, plain);
            let err = dec
                .write_to(format, &EmitOptions::default(), &mut Failing { left: 10 })
                .unwrap_err();
            assert!(matches!(err, WriteError::Io(_)));
        }
        // A tree the writer refuses: the error comes before any byte.
        let mut doc = Map::new();
        doc.push("a", Node::Scalar(Scalar::Float(f64::NAN)));
        let err = Format::Json
            .codec()
            .write_plain(&[doc], &EmitOptions::default(), &mut Failing { left: 0 })
            .unwrap_err();
        assert!(matches!(err, WriteError::Format(_)), "{err:?}");
    }
}
