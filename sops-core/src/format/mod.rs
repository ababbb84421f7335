//! File formats: bytes to [`Document`]s and back, one module per format.
//!
//! A format only knows its syntax. It parses a file into documents (the `sops` metadata, when
//! present, is an ordinary entry of the tree at this stage) and emits documents back. Metadata
//! placement (nested `sops:` map, `[sops]` section, flattened `sops_` keys) is decided by
//! [`Format::metadata_layout`] and done once in `metadata`; encryption is done in `crypt`.

pub mod binary;
pub mod dotenv;
pub mod ini;
pub mod json;
pub mod toml;
pub mod yaml;

use std::path::Path;

use crate::tree::{Document, Entry, MapItem, Node, Scalar, SeqItem};

/// A file format error: the input does not parse, or the tree cannot be written in the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The input is not valid in the format (sops exit code 2).
    #[error("{0}")]
    Parse(String),
    /// A YAML input without any document (sops exit code 92).
    #[error("File cannot be completely empty, it must contain at least one document")]
    EmptyYaml,
    /// A value or key of a type sops cannot store, e.g. an integer above i64 or a non-string
    /// key (sops exit code 23).
    #[error("{0}")]
    Unsupported(String),
    /// The tree cannot be written in this format, e.g. a nested map in dotenv (sops exit code 4).
    #[error("{0}")]
    Emit(String),
}

/// Why writing documents while they are emitted failed (see [`Codec::write_plain`]).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The tree cannot be written in the format; nothing was written.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The destination refused the bytes.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// About how many bytes a streaming emitter collects before handing them on: large enough
/// that writes are few, small enough that a large file's output is never in memory whole.
pub(crate) const STREAM_CHUNK: usize = 1 << 20;

/// The first capacity of a streaming writer's buffer: it grows to a chunk only for large
/// outputs, so that a small file's process does not touch a megabyte of fresh memory (on a
/// machine with transparent huge pages, a second huge page to fault in and zero).
pub(crate) const STREAMED_START: usize = 16 * 1024;

/// True when emitting `docs` and `trailer` as YAML or JSON cannot fail: no non-finite float
/// (JSON has no spelling for one) and no nesting near the writers' depth limit. Only then do
/// the streaming writers start writing before the end, so that an error is never reported
/// after part of the output went out (sops writes nothing in that case).
pub(crate) fn always_emittable(docs: &[Document], trailer: &[Entry]) -> bool {
    fn node(n: &Node, depth: usize) -> bool {
        if depth > 500 {
            return false;
        }
        match n {
            Node::Map(m) => map(&m.items, depth + 1),
            Node::Seq(s) => s.items.iter().all(|i| match i {
                SeqItem::Node(n) => node(n, depth + 1),
                SeqItem::Comment(_) => true,
            }),
            Node::Scalar(Scalar::Float(f)) => f.is_finite(),
            Node::Scalar(_) => true,
        }
    }
    fn map(items: &[MapItem], depth: usize) -> bool {
        items.iter().all(|i| match i {
            MapItem::Entry(e) => node(&e.value, depth),
            MapItem::Comment(_) => true,
        })
    }
    docs.iter().all(|d| map(&d.items, 0)) && trailer.iter().all(|e| node(&e.value, 1))
}

/// Top-level items prepared and written at a time, at least, by the batch writers (see
/// [`write_in_batches`]).
pub(crate) const WRITE_BATCH: usize = 256;

/// The end (exclusive) of the batch of top-level items that starts at `start`: at least
/// [`WRITE_BATCH`] items, ending with an entry (an inline comment stays with the entry after
/// it), or the rest.
pub(crate) fn batch_end(items: &[MapItem], start: usize) -> usize {
    let mut end = (start + WRITE_BATCH).min(items.len());
    while end < items.len() && !matches!(items[end - 1], MapItem::Entry(_)) {
        end += 1;
    }
    end
}

/// Writes a one-document YAML or JSON file whose top-level items are prepared batch by batch
/// (`prepare` is called on each batch, in order, just before it is written; the batch is
/// dropped once written), followed by the entries `trailer` gives once every batch is
/// written. The bytes are those of [`Codec::write_encrypted_with_trailer`] on the prepared
/// document with that trailer. `None` for other formats, or a document that
/// [`always_emittable`] refuses: the caller does it the ordinary way.
pub(crate) fn write_in_batches(
    format: Format,
    doc: &mut Document,
    opts: &EmitOptions,
    out: &mut dyn std::io::Write,
    prepare: &mut dyn FnMut(&mut [MapItem]),
    trailer: &mut dyn FnMut() -> Vec<Entry>,
) -> Option<Result<(), WriteError>> {
    if !always_emittable(std::slice::from_ref(doc), &[]) {
        return None;
    }
    match format {
        Format::Yaml => Some(yaml::write_in_batches(doc, opts, out, prepare, trailer)),
        Format::Json => Some(json::write_in_batches(doc, opts, out, prepare, trailer)),
        _ => None,
    }
}

/// [`write_in_batches`] with the batches prepared and written on all cores (`prepare` runs in
/// the thread that writes the batch; `consume` gets its results in document order): YAML
/// only, `None` otherwise or for a document [`always_emittable`] refuses.
pub(crate) fn write_in_parallel_batches<T: Send>(
    format: Format,
    doc: &mut Document,
    opts: &EmitOptions,
    out: &mut dyn std::io::Write,
    prepare: &(dyn Fn(&mut [MapItem]) -> T + Sync),
    consume: &mut dyn FnMut(T),
    trailer: &mut dyn FnMut() -> Vec<Entry>,
) -> Option<Result<(), WriteError>> {
    if format != Format::Yaml || !always_emittable(std::slice::from_ref(doc), &[]) {
        return None;
    }
    Some(yaml::write_in_parallel_batches(
        doc, opts, out, prepare, consume, trailer,
    ))
}

/// Options for emitting a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmitOptions {
    /// Indentation requested with `--indent` or the config's `stores` section. `None` means
    /// the format's default (4 spaces for YAML, a tab for JSON).
    pub indent: Option<usize>,
}

/// Entries a codec writes after a document's own entries, exactly as if they had been appended
/// to it. This is how the `sops` metadata is written without copying the tree (see
/// [`Codec::emit_encrypted_with_trailer`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Trailer<'a> {
    /// The entries, in order.
    pub entries: &'a [Entry],
    /// Whether every document gets them (nested metadata in multi-document YAML) or only the
    /// first one.
    pub every_document: bool,
}

impl<'a> Trailer<'a> {
    /// The entries that follow document number `index` (counting from 0).
    pub fn for_document(&self, index: usize) -> &'a [Entry] {
        if index == 0 || self.every_document {
            self.entries
        } else {
            &[]
        }
    }

    /// Appends the entries to the documents they belong to.
    pub fn append_to(&self, docs: &mut [Document]) {
        for (i, doc) in docs.iter_mut().enumerate() {
            for entry in self.for_document(i) {
                doc.push(entry.key.clone(), entry.value.clone());
            }
        }
    }
}

/// An initial size for the output buffer of a YAML or JSON document: `per_item` bytes for
/// each top-level item and each item of a top-level map or sequence, plus the top-level keys,
/// strings and comments. It reads only the top-level items (the counts and lengths are stored
/// there), not the whole tree. Starting near the final size saves the early steps of growing
/// the buffer, each a trip through the allocator, which right after a decryption or
/// encryption has many freed chunks to sort.
pub(crate) fn capacity_hint(items: &[MapItem], trailer: &[Entry], per_item: usize) -> usize {
    let value = |n: &Node| match n {
        Node::Map(m) => m.items.len() * per_item,
        Node::Seq(s) => s.items.len() * per_item,
        Node::Scalar(Scalar::Str(s)) => s.len(),
        Node::Scalar(Scalar::Bytes(b)) => b.len() * 2,
        Node::Scalar(_) => 0,
    };
    let entry = |e: &Entry| per_item + e.key.len() + value(&e.value);
    let items: usize = items
        .iter()
        .map(|item| match item {
            MapItem::Entry(e) => entry(e),
            MapItem::Comment(c) => per_item + c.text.len(),
        })
        .sum();
    4096 + items + trailer.iter().map(entry).sum::<usize>()
}

/// Bytes per item for [`capacity_hint`]: about a line of plaintext, or of ciphertext when
/// the document is written with its metadata (every value is then an `ENC[...]` string).
pub(crate) fn bytes_per_item(trailer: &[Entry]) -> usize {
    if trailer.is_empty() {
        32
    } else {
        128
    }
}

/// How many items [`warm_map_items`] and [`warm_seq_items`] touch at once.
const WARM_GROUP: usize = 8;

/// Called before item `i` of a map is written: at every [`WARM_GROUP`]-th item, touches the
/// first bytes that writing the next [`WARM_GROUP`] items reads (their keys and string
/// values). Trees are scattered over the heap, so emitting them is bound by memory latency;
/// touching a group of items in a row lets their cache misses overlap instead of coming one
/// after the other. Only a hint: the output does not depend on it.
#[inline(always)]
pub(crate) fn warm_map_items(items: &[MapItem], i: usize) {
    if i.is_multiple_of(WARM_GROUP) {
        for item in items.iter().skip(i + 1).take(WARM_GROUP) {
            if let MapItem::Entry(e) = item {
                std::hint::black_box(e.key.as_bytes().first().copied());
                warm_node(&e.value);
            }
        }
    }
}

/// [`warm_map_items`] for a sequence.
#[inline(always)]
pub(crate) fn warm_seq_items(items: &[SeqItem], i: usize) {
    if i.is_multiple_of(WARM_GROUP) {
        for item in items.iter().skip(i + 1).take(WARM_GROUP) {
            if let SeqItem::Node(node) = item {
                warm_node(node);
            }
        }
    }
}

/// Touches the first byte of a string value.
#[inline(always)]
fn warm_node(node: &Node) {
    if let Node::Scalar(Scalar::Str(s)) = node {
        std::hint::black_box(s.as_bytes().first().copied());
    }
}

/// Where a format keeps the `sops` metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataLayout {
    /// A `sops` entry holding a nested map, in every document (YAML, JSON, TOML, binary).
    Nested,
    /// A `sops` entry holding a flat map whose keys encode the nesting (`age__list_0__map_enc`)
    /// and whose strings have newlines written as `\n` (INI's `[sops]` section).
    FlatSection,
    /// Flat `sops_`-prefixed keys at the top level of the document (dotenv).
    FlatPrefixed,
}

/// The file formats sops knows, plus TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML, `.yaml` / `.yml`.
    Yaml,
    /// JSON, `.json`.
    Json,
    /// dotenv, `.env`.
    Dotenv,
    /// INI, `.ini`.
    Ini,
    /// TOML, `.toml` (not in sops: ours).
    Toml,
    /// Anything else: the whole file is one value, stored in a JSON wrapper.
    Binary,
}

/// What a format module provides. Every format implements it on a unit struct.
pub trait Codec: Sync {
    /// Parses a plaintext file into documents.
    fn parse_plain(&self, input: &[u8]) -> Result<Vec<Document>, FormatError>;

    /// Parses an encrypted file into documents. Same as [`Codec::parse_plain`] except for the
    /// binary format, whose encrypted form is JSON.
    fn parse_encrypted(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        self.parse_plain(input)
    }

    /// Emits plaintext documents.
    fn emit_plain(&self, docs: &[Document], opts: &EmitOptions) -> Result<Vec<u8>, FormatError>;

    /// Emits encrypted documents (metadata already inserted). Same as [`Codec::emit_plain`]
    /// except for the binary format.
    fn emit_encrypted(
        &self,
        docs: &[Document],
        opts: &EmitOptions,
    ) -> Result<Vec<u8>, FormatError> {
        self.emit_plain(docs, opts)
    }

    /// Emits encrypted documents followed by `trailer` (the metadata entries): the same bytes
    /// as [`Codec::emit_encrypted`] of the documents with the trailer appended, without copying
    /// them. The default implementation does copy them; YAML, JSON and binary write the
    /// trailer directly.
    fn emit_encrypted_with_trailer(
        &self,
        docs: &[Document],
        trailer: Trailer<'_>,
        opts: &EmitOptions,
    ) -> Result<Vec<u8>, FormatError> {
        if trailer.entries.is_empty() {
            return self.emit_encrypted(docs, opts);
        }
        let mut docs = docs.to_vec();
        trailer.append_to(&mut docs);
        self.emit_encrypted(&docs, opts)
    }

    /// Writes plaintext documents to `out`: the bytes of [`Codec::emit_plain`]. YAML and JSON
    /// hand them over in chunks while they are produced, so the output is never in memory
    /// whole; the other formats emit into one buffer first. A [`WriteError::Format`] is
    /// always reported before anything was written.
    fn write_plain(
        &self,
        docs: &[Document],
        opts: &EmitOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<(), WriteError> {
        let bytes = self.emit_plain(docs, opts)?;
        out.write_all(&bytes)?;
        Ok(())
    }

    /// Writes encrypted documents and their trailer to `out`: the bytes of
    /// [`Codec::emit_encrypted_with_trailer`], streamed as [`Codec::write_plain`] does.
    fn write_encrypted_with_trailer(
        &self,
        docs: &[Document],
        trailer: Trailer<'_>,
        opts: &EmitOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<(), WriteError> {
        let bytes = self.emit_encrypted_with_trailer(docs, trailer, opts)?;
        out.write_all(&bytes)?;
        Ok(())
    }

    /// Emits one value on its own, for `--extract`.
    fn emit_value(&self, value: &Node, opts: &EmitOptions) -> Result<Vec<u8>, FormatError>;
}

impl Format {
    /// The format sops picks from a file name: by case-sensitive extension, binary otherwise.
    /// TOML (`.toml`) is our addition.
    pub fn from_path(path: &Path) -> Format {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == ".env" {
            return Format::Dotenv;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") | Some("yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            Some("ini") => Format::Ini,
            Some("toml") => Format::Toml,
            _ => Format::Binary,
        }
    }

    /// The format named by `--input-type` / `--output-type`, or `None` for an unknown name
    /// (sops then falls back to the extension).
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "yaml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "dotenv" => Some(Format::Dotenv),
            "ini" => Some(Format::Ini),
            "toml" => Some(Format::Toml),
            "binary" => Some(Format::Binary),
            _ => None,
        }
    }

    /// The name used by `--input-type`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Toml => "toml",
            Format::Binary => "binary",
        }
    }

    /// The usual file extension, used to name temporary files.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "env",
            Format::Ini => "ini",
            Format::Toml => "toml",
            Format::Binary => "bin",
        }
    }

    /// The format to read an encrypted file in, given its content: a TOML file whose content
    /// is sops's binary envelope (what sops, which has no TOML store, writes for `*.toml`) is
    /// binary; anything else keeps `self`.
    pub fn for_content(self, input: &[u8]) -> Format {
        if self == Format::Toml && binary::is_envelope(input) {
            Format::Binary
        } else {
            self
        }
    }

    /// Where this format keeps the metadata.
    pub fn metadata_layout(self) -> MetadataLayout {
        match self {
            Format::Dotenv => MetadataLayout::FlatPrefixed,
            Format::Ini => MetadataLayout::FlatSection,
            _ => MetadataLayout::Nested,
        }
    }

    /// The codec that reads and writes this format.
    pub fn codec(self) -> &'static dyn Codec {
        match self {
            Format::Yaml => &yaml::Yaml,
            Format::Json => &json::Json,
            Format::Dotenv => &dotenv::Dotenv,
            Format::Ini => &ini::Ini,
            Format::Toml => &toml::Toml,
            Format::Binary => &binary::Binary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_like_sops() {
        let f = |p: &str| Format::from_path(Path::new(p));
        assert_eq!(f("a.yaml"), Format::Yaml);
        assert_eq!(f("a.yml"), Format::Yaml);
        assert_eq!(f("a.YAML"), Format::Binary);
        assert_eq!(f("a.json"), Format::Json);
        assert_eq!(f("a.env"), Format::Dotenv);
        assert_eq!(f(".env"), Format::Dotenv);
        assert_eq!(f("x.env.local"), Format::Binary);
        assert_eq!(f("a.ini"), Format::Ini);
        assert_eq!(f("a.toml"), Format::Toml);
        assert_eq!(f("a"), Format::Binary);
    }
}
