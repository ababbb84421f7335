//! Reading a large YAML document in parts, on all cores.
//!
//! A sops file is one block mapping whose top-level keys sit at column 0. Such a document can
//! be cut before a top-level key (and the column-0 comments right above it) into parts that
//! the fast path reads on their own: the top-level items of the parts, put end to end, are
//! the items of the whole document. A cut is only made where nothing can carry over from one
//! part to the next (see [`CutFinder`]), and [`parse_parts`] checks what a part cannot see on
//! its own: that each part is one block mapping, that no key is repeated across parts, and
//! the node limit of the whole. Anything else, or any part outside the fast path's subset,
//! gives `None`, and the caller reads the whole input the ordinary way (which also reports
//! errors with the right line numbers). Tests compare both ways on random documents, cut at
//! every possible place.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::tree::{Document, Layout, MapItem};

/// Inputs shorter than this are read in one piece.
pub(crate) const MIN_SPLIT_LEN: usize = 512 * 1024;

/// The byte offsets where `text` is cut into parts of at least `min_len` bytes (the last part
/// may be shorter), in increasing order; empty when it has no place to cut. (The last line
/// only counts if it ends with a line break.)
pub(crate) fn cut_points(text: &[u8], min_len: usize) -> Vec<usize> {
    let mut finder = CutFinder::new(min_len);
    let mut start = 0;
    while let Some(n) = memchr::memchr(b'\n', &text[start..]) {
        finder.line(start, &text[start..start + n]);
        start += n + 1;
    }
    finder.cuts
}

/// Finds the places to cut an input, fed one complete line at a time (without its line
/// break). A place to cut is the start of a line `L` such that
/// - the line before `L` is a complete value line: not blank, no `#` anywhere (no comment that
///   could belong to what follows), not ending with what opens something on the next lines
///   (`:` an empty value or nested block, `|`/`>`/`-`/`+` a block scalar header or an empty
///   item), no trailing blank;
/// - `L` and the lines after it are comments at column 0, up to a line that starts at column 0
///   with a plain or quoted key (`L` may be that line itself); no blank line in between.
///
/// Cuts are at least `min_len` bytes apart (and from the start).
struct CutFinder {
    min_len: usize,
    last_cut: usize,
    /// Where the line after a complete value line starts, while only column-0 comments
    /// followed it.
    candidate: Option<usize>,
    cuts: Vec<usize>,
    /// The start of the last line that is exactly `sops:`.
    sops_line: Option<usize>,
}

impl CutFinder {
    fn new(min_len: usize) -> Self {
        CutFinder {
            min_len: min_len.max(1),
            last_cut: 0,
            candidate: None,
            cuts: Vec::new(),
            sops_line: None,
        }
    }

    /// The line `line` starts at byte `start`.
    fn line(&mut self, start: usize, line: &[u8]) {
        match self.candidate {
            Some(_) if line.first() == Some(&b'#') => {}
            Some(cut) if is_top_level_key(line) => {
                if cut >= self.last_cut + self.min_len {
                    self.cuts.push(cut);
                    self.last_cut = cut;
                }
                self.candidate = None;
            }
            _ => self.candidate = None,
        }
        if closes_cleanly(line) {
            self.candidate = Some(start + line.len() + 1);
        }
        if line == b"sops:" {
            self.sops_line = Some(start);
        }
    }
}

/// A line after which the next line may start a new top-level entry without anything carried
/// over (see [`CutFinder`]).
fn closes_cleanly(line: &[u8]) -> bool {
    let Some(first) = line.iter().position(|&b| b != b' ') else {
        return false;
    };
    let last = line[line.len() - 1];
    line[first] != b'#'
        && !line.starts_with(b"...")
        && !line.starts_with(b"---")
        && memchr::memchr(b'#', line).is_none()
        && !matches!(
            last,
            b':' | b'|' | b'>' | b'-' | b'+' | b' ' | b'\r' | b'\t'
        )
}

/// A line that starts a top-level entry with a plain or quoted key.
fn is_top_level_key(line: &[u8]) -> bool {
    match line.first() {
        None => false,
        Some(b) if b" \t#-%?:[]{},&*!|>@`\r".contains(b) => false,
        Some(_) => !line.starts_with(b"...") && memchr::memchr(b':', line).is_some(),
    }
}

/// True when `text` has a line that starts a document (`---`) or ends one (`...`).
fn has_document_marker(text: &[u8]) -> bool {
    text.starts_with(b"---")
        || text.starts_with(b"...")
        || memchr::memmem::find(text, b"\n---").is_some()
        || memchr::memmem::find(text, b"\n...").is_some()
}

/// True when the first line of `text` with content (not blank, not only a comment) starts at
/// column 0 with something else than a sequence item: the document's root is a block mapping
/// at column 0, so that keys at column 0 further on continue it.
fn root_starts_at_column_0(text: &[u8]) -> bool {
    for line in text.split(|&b| b == b'\n') {
        let Some(first) = line.iter().position(|&b| b != b' ') else {
            continue;
        };
        if line[first] != b'#' {
            return first == 0 && line[0] != b'-';
        }
    }
    false
}

/// One part of the input as [`parse_parts`] gets it: bytes in memory, or a range of a file
/// that the thread reading the part loads (and frees once it is read).
pub trait Part: Send {
    /// The part's bytes once loaded.
    type Bytes: AsRef<[u8]>;
    /// Loads the part; `None` when it cannot be read (the caller then reads the whole input).
    fn load(self) -> Option<Self::Bytes>;
}

impl<'a> Part for &'a [u8] {
    type Bytes = &'a [u8];
    fn load(self) -> Option<&'a [u8]> {
        Some(self)
    }
}

/// One part, read: its top-level items, what `each` made of them, and its node count.
struct ReadPart<T> {
    doc: Document,
    result: T,
    nodes: usize,
}

/// Reads the parts of one document (cut by [`CutFinder`], in order) on all cores, through the
/// fast path, calling `each` on every part's top-level items in the thread that read it; each
/// part is dropped as soon as it is read. Returns the whole document and `each`'s results in
/// part order, or `None` when the parts cannot stand for the whole document (see the module
/// documentation): the caller then reads the whole input the ordinary way. `each` may change
/// the items in place (not add or remove any).
pub(crate) fn parse_parts<P, T, F>(parts: Vec<P>, each: F) -> Option<(Document, Vec<T>)>
where
    P: Part,
    T: Send,
    F: Fn(&mut [MapItem]) -> T + Sync,
{
    let read: Vec<Option<ReadPart<T>>> = parts
        .into_par_iter()
        .enumerate()
        .map(|(i, part)| {
            let part = part.load()?;
            let bytes = part.as_ref();
            if has_document_marker(bytes) || (i == 0 && !root_starts_at_column_0(bytes)) {
                return None;
            }
            let text = std::str::from_utf8(bytes).ok()?;
            let (mut docs, nodes) = super::parse::parse_fast_counting(text).ok()?;
            drop(part);
            if docs.len() != 1 || docs[0].layout != Layout::Block || docs[0].items.is_empty() {
                return None;
            }
            let mut doc = docs.pop()?;
            let result = each(&mut doc.items);
            Some(ReadPart { doc, result, nodes })
        })
        .collect();
    let mut read: Vec<ReadPart<T>> = read.into_iter().collect::<Option<_>>()?;
    if read.is_empty() || read.iter().map(|p| p.nodes).sum::<usize>() > super::parse::MAX_NODES {
        return None;
    }
    let total = read.iter().map(|p| p.doc.items.len()).sum();
    let mut keys = HashSet::with_capacity(total);
    for part in &read {
        for item in &part.doc.items {
            if let MapItem::Entry(e) = item {
                if !keys.insert(e.key.as_str()) {
                    return None;
                }
            }
        }
    }
    drop(keys);
    let mut results = Vec::with_capacity(read.len());
    let mut whole = std::mem::take(&mut read[0].doc);
    whole.items.reserve(total - whole.items.len());
    for (i, part) in read.into_iter().enumerate() {
        if i > 0 {
            whole.items.extend(part.doc.items);
        }
        results.push(part.result);
    }
    Some((whole, results))
}

/// How many parts an input of `len` bytes is cut into, about: several per core, so that the
/// cores stay busy and each holds little of the input at a time.
fn part_len(len: usize) -> usize {
    let want = rayon::current_num_threads().max(1) * 8;
    (len / want).max(64 * 1024)
}

/// Parts of `text` for [`parse_parts`] (see [`part_len`]); `None` when `text` is too short to
/// be worth it or has no place to cut.
pub(crate) fn split(text: &[u8]) -> Option<Vec<&[u8]>> {
    if text.len() < MIN_SPLIT_LEN {
        return None;
    }
    let cuts = cut_points(text, part_len(text.len()));
    if cuts.is_empty() {
        return None;
    }
    let mut parts = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        parts.push(&text[start..cut]);
        start = cut;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// A large YAML file cut into parts without being held in memory whole: each part is loaded
/// by the thread that reads it (see [`parse_parts`]). Made by [`FileParts::plan`], which
/// reads the file once, a block at a time, to find where to cut.
#[derive(Debug)]
pub struct FileParts {
    file: std::fs::File,
    /// Byte ranges of the parts, in order, covering the file.
    ranges: Vec<std::ops::Range<u64>>,
    /// Where the last line that is exactly `sops:` starts, if there is one.
    sops_line: Option<u64>,
}

/// A range of a [`FileParts`]' file.
pub struct FilePart<'f> {
    file: &'f std::fs::File,
    range: std::ops::Range<u64>,
}

impl Part for FilePart<'_> {
    type Bytes = Vec<u8>;
    #[cfg(unix)]
    fn load(self) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut bytes = vec![0; usize::try_from(self.range.end - self.range.start).ok()?];
        self.file.read_exact_at(&mut bytes, self.range.start).ok()?;
        Some(bytes)
    }
    #[cfg(not(unix))]
    fn load(self) -> Option<Vec<u8>> {
        None
    }
}

impl FileParts {
    /// Reads the regular file `path` once, a block at a time, and plans its parts; `None` when
    /// it is not a regular file, is shorter than a few hundred KiB or has no place to cut (read
    /// it whole then). The file is kept open: the parts are read from the same file.
    pub fn plan(path: &std::path::Path) -> std::io::Result<Option<FileParts>> {
        Self::plan_with_block(path, 1 << 20)
    }

    fn plan_with_block(
        path: &std::path::Path,
        block_len: usize,
    ) -> std::io::Result<Option<FileParts>> {
        use std::io::Read;
        if cfg!(not(unix)) {
            return Ok(None);
        }
        let mut file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        let Ok(len) = usize::try_from(meta.len()) else {
            return Ok(None);
        };
        if !meta.is_file() || len < MIN_SPLIT_LEN {
            return Ok(None);
        }
        let mut finder = CutFinder::new(part_len(len));
        let mut block = vec![0u8; block_len.max(1)];
        // `block[..filled]` holds the file from byte `base` on; complete lines are fed to the
        // finder and dropped, the incomplete last one moved to the front.
        let (mut base, mut filled) = (0usize, 0usize);
        loop {
            if filled == block.len() {
                // A line longer than the block.
                block.resize(block.len() * 2, 0);
            }
            let n = file.read(&mut block[filled..])?;
            if n == 0 {
                break;
            }
            let scan_from = filled;
            filled += n;
            let Some(last_break) = memchr::memrchr(b'\n', &block[scan_from..filled]) else {
                continue;
            };
            let complete = scan_from + last_break + 1;
            let mut start = 0;
            while let Some(k) = memchr::memchr(b'\n', &block[start..complete]) {
                finder.line(base + start, &block[start..start + k]);
                start += k + 1;
            }
            block.copy_within(complete..filled, 0);
            base += complete;
            filled -= complete;
        }
        if base + filled != len || finder.cuts.is_empty() {
            // The file changed size while it was read, or there is nothing to cut.
            return Ok(None);
        }
        let mut ranges = Vec::with_capacity(finder.cuts.len() + 1);
        let mut start = 0;
        for &cut in &finder.cuts {
            ranges.push(start as u64..cut as u64);
            start = cut;
        }
        ranges.push(start as u64..len as u64);
        Ok(Some(FileParts {
            file,
            ranges,
            sops_line: finder.sops_line.map(|s| s as u64),
        }))
    }

    /// The text of the top-level `sops` entry, if the file has a line `sops:` (from that line
    /// to the end of its part, which holds the whole entry: parts start at top-level keys).
    pub fn metadata_text(&self) -> Option<Vec<u8>> {
        let at = self.sops_line?;
        let part = self.ranges.iter().find(|r| r.contains(&at))?;
        FilePart {
            file: &self.file,
            range: at..part.end,
        }
        .load()
    }

    /// The parts, for [`parse_parts`].
    pub fn parts(&self) -> Vec<FilePart<'_>> {
        self.ranges
            .iter()
            .map(|r| FilePart {
                file: &self.file,
                range: r.clone(),
            })
            .collect()
    }

    /// How many parts there are.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Always false: a plan has at least two parts.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests;
