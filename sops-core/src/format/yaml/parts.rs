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
}

impl CutFinder {
    fn new(min_len: usize) -> Self {
        CutFinder {
            min_len: min_len.max(1),
            last_cut: 0,
            candidate: None,
            cuts: Vec::new(),
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

/// One part of a YAML input read in parts (by
/// [`EncryptedFile::parse_decrypting_yaml_parts`](crate::file::EncryptedFile::parse_decrypting_yaml_parts)):
/// bytes in memory, or a range of a file
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
        .map(|(i, part)| read_part(i == 0, part, &each))
        .collect();
    join_parts(read.into_iter().collect::<Option<_>>()?)
}

/// Loads and reads one part (the first one when `first`), then calls `each` on its items.
fn read_part<P, T, F>(first: bool, part: P, each: &F) -> Option<ReadPart<T>>
where
    P: Part,
    F: Fn(&mut [MapItem]) -> T,
{
    let part = part.load()?;
    let bytes = part.as_ref();
    if has_document_marker(bytes) || (first && !root_starts_at_column_0(bytes)) {
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
}

/// Puts the parts' items end to end, once the whole is checked: the node limit, and no key
/// repeated across parts (each part checked its own keys).
fn join_parts<T>(mut read: Vec<ReadPart<T>>) -> Option<(Document, Vec<T>)> {
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
/// by the thread that reads it. Made by [`FileParts::plan`], which reads
/// only a little of the file around each place it cuts.
#[derive(Debug)]
pub struct FileParts {
    file: std::fs::File,
    /// Byte ranges of the parts, in order, covering the file.
    ranges: Vec<std::ops::Range<u64>>,
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

/// How far before a wanted cut [`FileParts::plan`] starts reading (to find the start of the
/// line before it), and how much it reads at first.
const WINDOW_BEFORE: u64 = 4096;
const WINDOW: usize = 64 * 1024;
/// The most it reads looking for one cut.
const MAX_WINDOW: usize = 4 << 20;

impl FileParts {
    /// Plans the parts of the regular file `path` (several per core, at least 64 KiB each):
    /// where it wants a cut, it reads a window of the file and cuts at the first place there, before a top-level key
    /// or the column-0 comments above it. `None` when
    /// it is not a regular file, is shorter than a few hundred KiB, or has no place to cut
    /// (read it whole then). The file is kept open: the parts are read from the same file.
    pub fn plan(path: &std::path::Path) -> std::io::Result<Option<FileParts>> {
        let large_file = |meta: &std::fs::Metadata| {
            cfg!(unix) && meta.is_file() && meta.len() >= MIN_SPLIT_LEN as u64
        };
        // Looked at before it is opened: opening a named pipe, even to close it again, would
        // take its data from the reader that comes next.
        if !large_file(&std::fs::metadata(path)?) {
            return Ok(None);
        }
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        if !large_file(&meta) {
            return Ok(None);
        }
        let len = meta.len();
        let step = part_len(usize::try_from(len).unwrap_or(usize::MAX)) as u64;
        let mut ranges = Vec::new();
        let mut start = 0;
        let mut window = Vec::new();
        let mut wanted = step;
        while wanted + step / 2 < len {
            match first_cut_at_or_after(&file, wanted.max(start + 1), len, &mut window) {
                Some(cut) => {
                    let cut = cut as u64;
                    ranges.push(start..cut);
                    start = cut;
                    wanted = cut + step;
                }
                None => break,
            }
        }
        if ranges.is_empty() {
            return Ok(None);
        }
        ranges.push(start..len);
        Ok(Some(FileParts { file, ranges }))
    }

    /// The text of the top-level `sops` entry, from the last line that is exactly `sops:` to
    /// the end of the file, when that line is in the last part (a part holds whole top-level
    /// entries); `None` otherwise.
    pub fn metadata_text(&self) -> Option<Vec<u8>> {
        let last = FilePart {
            file: &self.file,
            range: self.ranges.last()?.clone(),
        }
        .load()?;
        let at = if last.starts_with(b"sops:\n") {
            0
        } else {
            memchr::memmem::rfind(&last, b"\nsops:\n")? + 1
        };
        let mut text = last;
        text.drain(..at);
        Some(text)
    }

    /// The parts, to read with
    /// [`EncryptedFile::parse_decrypting_yaml_parts`](crate::file::EncryptedFile::parse_decrypting_yaml_parts).
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

/// The first place to cut `file` (of `len` bytes) at or after byte `wanted`, looking at most
/// [`MAX_WINDOW`] bytes ahead; `window` is a buffer to use.
#[cfg(unix)]
fn first_cut_at_or_after(
    file: &std::fs::File,
    wanted: u64,
    len: u64,
    window: &mut Vec<u8>,
) -> Option<usize> {
    use std::os::unix::fs::FileExt;
    let from = wanted.saturating_sub(WINDOW_BEFORE);
    let mut size = WINDOW;
    loop {
        let end = (from + size as u64).min(len);
        window.resize(usize::try_from(end - from).ok()?, 0);
        file.read_exact_at(window, from).ok()?;
        // Lines from the first one that starts in the window (the start of the file is one).
        let mut line = if from == 0 {
            0
        } else {
            memchr::memchr(b'\n', window)? + 1
        };
        let mut finder = CutFinder::new(1);
        let base = usize::try_from(from).ok()?;
        while let Some(n) = memchr::memchr(b'\n', &window[line..]) {
            finder.line(base + line, &window[line..line + n]);
            if let Some(&cut) = finder.cuts.iter().find(|&&c| c as u64 >= wanted) {
                return Some(cut);
            }
            line += n + 1;
        }
        if end == len || size >= MAX_WINDOW {
            return None;
        }
        size *= 4;
    }
}

#[cfg(not(unix))]
fn first_cut_at_or_after(_: &std::fs::File, _: u64, _: u64, _: &mut Vec<u8>) -> Option<usize> {
    None
}

#[cfg(test)]
mod tests;
