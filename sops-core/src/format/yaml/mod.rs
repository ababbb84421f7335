//! YAML, read and written as sops does through Go's yaml.v3 (libyaml's YAML 1.1 reading).
//!
//! Parsing builds our tree straight from granit-parser's event stream, with granit's
//! libyaml-compatible options and the checks of [`tabs`] and [`breaks`] where YAML 1.2 and
//! libyaml differ: scalars are typed with yaml.v3's resolution rules ([`resolve`]), aliases are
//! expanded (with a bound on the total size), `<<` stays a literal key (checked as yaml.v3
//! checks merges), and comments become items of the map or sequence that holds them; a
//! comment on the line of a scalar value is an inline comment placed before it and written
//! back on that line, as sops 3.13 does (PR 2131). Writing ([`emit`])
//! reproduces yaml.v3's encoder: 4-space default indentation with indented sequences, its
//! quoting rules, literal blocks for multi-line strings and no line folding.
//!
//! This module knows nothing about encryption: the `sops` metadata is an ordinary entry.

mod breaks;
mod emit;
mod fast;
mod parse;
mod parts;
mod resolve;
mod tabs;

use super::{Codec, EmitOptions, FormatError, Trailer, WriteError};
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

/// Parses YAML with granit only, bypassing the line-oriented fast path. The result must
/// always equal [`Codec::parse_plain`]'s; the differential fuzz target checks that.
#[doc(hidden)]
pub fn parse_without_fast_path(input: &[u8]) -> Result<Vec<Document>, FormatError> {
    parse::parse_with(input, false)
}

/// Parses through the fast path only, handing the first document's top-level items to `hook`
/// in batches as soon as they are final; `None` when the input needs the full parser (see
/// `parse::parse_handing_over`).
pub(crate) fn parse_handing_over(
    input: &[u8],
    hook: &mut dyn FnMut(&mut [crate::tree::MapItem]),
) -> Option<(Vec<Document>, usize)> {
    parse::parse_handing_over(input, hook)
}

/// Cuts a large input (without its byte order mark) into parts that are read on all cores:
/// several per core, cut before top-level keys. `None` for an input that is small or has no
/// place to cut. (See `parts` for where a cut is made.)
pub fn split_into_parts(input: &[u8]) -> Option<Vec<&[u8]>> {
    parts::split(input.strip_prefix("\u{feff}".as_bytes()).unwrap_or(input))
}

/// Reads a document cut into parts (by [`split_into_parts`] or [`FileParts`]) on all cores
/// through the fast path, calling `each` on every part's top-level items in the thread that
/// read it (it may change them, not add or remove any); each part is dropped once read.
/// Gives the whole document and `each`'s results in part order, or `None` when the parts
/// cannot stand for the document: the caller then parses the whole input.
pub(crate) fn parse_in_parts<P, T, F>(parts: Vec<P>, each: F) -> Option<(Document, Vec<T>)>
where
    P: parts::Part,
    T: Send,
    F: Fn(&mut [crate::tree::MapItem]) -> T + Sync,
{
    parts::parse_parts(parts, each)
}

pub use parts::{FilePart, FileParts, Part};

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

    fn write_plain(
        &self,
        docs: &[Document],
        opts: &EmitOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<(), WriteError> {
        write_documents(docs, Trailer::default(), opts, out)
    }

    fn write_encrypted_with_trailer(
        &self,
        docs: &[Document],
        trailer: Trailer<'_>,
        opts: &EmitOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<(), WriteError> {
        write_documents(docs, trailer, opts, out)
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
    let step = indent_step(opts);
    let capacity = 4096 + docs.iter().map(|d| map_size(d, 0, step)).sum::<usize>();
    let mut e = emit::Emitter::new(step, capacity);
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            e.out.extend_from_slice(b"---\n");
        }
        e.first_doc = i == 0;
        e.document(doc, trailer.for_document(i))?;
        e.end_document();
    }
    Ok(e.out)
}

/// [`emit_documents`] handing the output to `out` in chunks as it is produced.
fn write_documents(
    docs: &[Document],
    trailer: Trailer<'_>,
    opts: &EmitOptions,
    out: &mut dyn std::io::Write,
) -> Result<(), WriteError> {
    if !super::always_emittable(docs, trailer.entries) {
        // Emit whole first, so that an error comes before any output.
        out.write_all(&emit_documents(docs, trailer, opts)?)?;
        return Ok(());
    }
    if let Some(written) =
        write_document_in_parallel(docs, trailer.for_document(0), indent_step(opts), out)
    {
        return written;
    }
    let mut e = emit::Emitter::with_sink(indent_step(opts), out);
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            e.out.extend_from_slice(b"---\n");
        }
        e.first_doc = i == 0;
        e.document(doc, trailer.for_document(i))?;
        e.end_document();
    }
    e.finish()?;
    Ok(())
}

/// [`super::write_in_batches`] for YAML.
pub(crate) fn write_in_batches(
    doc: &mut Document,
    opts: &EmitOptions,
    out: &mut dyn std::io::Write,
    prepare: &mut dyn FnMut(&mut [crate::tree::MapItem]),
    trailer: &mut dyn FnMut() -> Vec<crate::tree::Entry>,
) -> Result<(), WriteError> {
    let mut e = emit::Emitter::with_sink(indent_step(opts), out);
    e.first_doc = true;
    let mut start = 0;
    while start < doc.items.len() {
        let end = super::batch_end(&doc.items, start);
        let batch = &mut doc.items[start..end];
        prepare(batch);
        e.root_items(batch)?;
        for item in batch.iter_mut() {
            *item = crate::tree::MapItem::Comment(crate::tree::Comment::new(String::new()));
        }
        start = end;
    }
    let entries = trailer();
    if entries.is_empty() && !doc.items.is_empty() {
        // Cannot happen for an encrypted file (its metadata is the trailer); an empty map
        // would be written `{}`, which the batch writer does not do.
        return Err(FormatError::Emit("no metadata to write".into()).into());
    }
    e.root_trailer(&entries)?;
    e.end_document();
    e.finish()?;
    Ok(())
}

/// [`write_in_batches`] with the batches prepared and written on all cores: `prepare` runs on
/// each batch in the thread that writes it, `consume` gets its results in document order on
/// the calling thread, and the bytes are those of [`write_in_batches`]. Each batch is dropped
/// once written.
pub(crate) fn write_in_parallel_batches<T: Send>(
    doc: &mut Document,
    opts: &EmitOptions,
    out: &mut dyn std::io::Write,
    prepare: &(dyn Fn(&mut [crate::tree::MapItem]) -> T + Sync),
    consume: &mut dyn FnMut(T),
    trailer: &mut dyn FnMut() -> Vec<crate::tree::Entry>,
) -> Result<(), WriteError> {
    use crate::tree::{Comment, MapItem};
    let step = indent_step(opts);
    let had_items = !doc.items.is_empty();
    let mut batches: Vec<&mut [MapItem]> = Vec::new();
    let mut rest: &mut [MapItem] = &mut doc.items;
    while !rest.is_empty() {
        let end = super::batch_end(rest, 0);
        let (batch, tail) = std::mem::take(&mut rest).split_at_mut(end);
        batches.push(batch);
        rest = tail;
    }
    let mut e = emit::Emitter::with_sink(step, out);
    e.first_doc = true;
    write_batches_on_all_cores(&mut e, batches, consume, |batch, buffer| {
        let result = prepare(batch);
        emit_batch(batch, step, buffer)?;
        for item in batch.iter_mut() {
            *item = MapItem::Comment(Comment::new(String::new()));
        }
        Ok(result)
    })?;
    let entries = trailer();
    if entries.is_empty() && had_items {
        return Err(FormatError::Emit("no metadata to write".into()).into());
    }
    e.root_trailer(&entries)?;
    e.end_document();
    e.finish()?;
    Ok(())
}

/// Writes batches of top-level items of the first document to `e`, in order: `write` runs on
/// each batch on the rayon pool (a few batches per core at a time, each into a buffer used
/// again for a later batch) and `consume` gets its results on the calling thread. A batch is
/// written with a writer of its own, its last line ended: every batch but the last ends with
/// an entry ([`super::batch_end`]), and at the start of a top-level item a continuing writer
/// is in the state of a new one once the line is ended.
fn write_batches_on_all_cores<B, T, W>(
    e: &mut emit::Emitter<'_>,
    batches: Vec<B>,
    consume: &mut dyn FnMut(T),
    write: W,
) -> Result<(), FormatError>
where
    B: Send,
    T: Send,
    W: Fn(B, &mut Vec<u8>) -> Result<T, FormatError> + Sync,
{
    use rayon::prelude::*;
    let group = rayon::current_num_threads().max(1) * 4;
    let mut buffers: Vec<Vec<u8>> = (0..group).map(|_| Vec::new()).collect();
    let mut batches = batches.into_iter().peekable();
    while batches.peek().is_some() {
        let chunk: Vec<B> = batches.by_ref().take(group).collect();
        let results: Vec<Result<T, FormatError>> = chunk
            .into_par_iter()
            .zip(buffers.par_iter_mut())
            .map(|(batch, buffer)| write(batch, buffer))
            .collect();
        for (result, buffer) in results.into_iter().zip(&buffers) {
            let result = result?;
            e.write_bytes(buffer);
            consume(result);
        }
    }
    Ok(())
}

/// Writes a batch of top-level items of the first document into `buffer` (emptied first)
/// with a writer of its own, ending its last line.
fn emit_batch(
    batch: &[crate::tree::MapItem],
    step: usize,
    buffer: &mut Vec<u8>,
) -> Result<(), FormatError> {
    let mut e = emit::Emitter::new(step, 0);
    e.out = std::mem::take(buffer);
    e.out.clear();
    e.first_doc = true;
    let written = e.root_items(batch);
    e.end_document();
    *buffer = std::mem::take(&mut e.out);
    written
}

/// Top-level items from which a one-document file is written on all cores (fewer: one core).
const PARALLEL_WRITE_ITEMS: usize = 4 * super::WRITE_BATCH;

/// Writes a one-document file with many top-level items on all cores, in batches as
/// [`write_in_parallel_batches`] does (without changing the document): the bytes of
/// [`write_documents`]. `None` when the document is not such a one.
fn write_document_in_parallel(
    docs: &[Document],
    trailer: &[crate::tree::Entry],
    step: usize,
    out: &mut dyn std::io::Write,
) -> Option<Result<(), WriteError>> {
    use crate::tree::MapItem;
    let [doc] = docs else { return None };
    if doc.items.len() < PARALLEL_WRITE_ITEMS
        || rayon::current_num_threads() < 2
        || !doc.items.iter().any(|i| matches!(i, MapItem::Entry(_)))
    {
        return None;
    }
    let mut batches: Vec<&[MapItem]> = Vec::new();
    let mut start = 0;
    while start < doc.items.len() {
        let end = super::batch_end(&doc.items, start);
        batches.push(&doc.items[start..end]);
        start = end;
    }
    let mut e = emit::Emitter::with_sink(step, out);
    e.first_doc = true;
    let written = write_batches_on_all_cores(&mut e, batches, &mut |()| {}, |batch, buffer| {
        emit_batch(batch, step, buffer)
    })
    .and_then(|()| {
        e.root_trailer(trailer)?;
        e.end_document();
        Ok(())
    });
    Some(match written {
        Ok(()) => e.finish().map_err(WriteError::from),
        Err(err) => Err(err.into()),
    })
}

/// About the number of bytes a map takes once written at nesting `depth` (keys, values,
/// indentation, punctuation), so that the output buffer is allocated once: growing a buffer
/// of tens of megabytes by doubling would make it the largest allocation of the process.
fn map_size(map: &crate::tree::Map, depth: usize, step: usize) -> usize {
    use crate::tree::MapItem;
    map.items
        .iter()
        .map(|item| match item {
            MapItem::Entry(e) => depth * step + e.key.len() + 3 + node_size(&e.value, depth, step),
            MapItem::Comment(c) => depth * step + c.text.len() + 4,
        })
        .sum()
}

fn node_size(node: &Node, depth: usize, step: usize) -> usize {
    use crate::tree::SeqItem;
    match node {
        Node::Map(m) => map_size(m, depth + 1, step),
        Node::Seq(s) => s
            .items
            .iter()
            .map(|item| {
                (depth + 1) * step
                    + 2
                    + match item {
                        SeqItem::Node(n) => node_size(n, depth + 1, step),
                        SeqItem::Comment(c) => c.text.len() + 2,
                    }
            })
            .sum(),
        Node::Scalar(Scalar::Str(s)) => s.len() + 1,
        Node::Scalar(Scalar::Bytes(b)) => b.len() * 2 + 1,
        Node::Scalar(_) => 24,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fast_tests;
