//! A fast path for the YAML that sops writes and that people usually write.
//!
//! granit-parser reads all of YAML, but on a large file most of the time goes into its general
//! tokenizer. Most sops files use a small, line-oriented subset: block mappings and sequences,
//! one-line plain and quoted scalars, literal blocks (`|`, `|-`, `|+`), empty `{}` / `[]`,
//! comments and `---` between documents. This scanner reads exactly that subset, line by line,
//! and produces the events granit would produce for it, with the same positions, so the one
//! tree builder in `parse` serves both paths and places comments the same way.
//!
//! At the first sign of anything else (other flow collections, anchors, aliases, tags,
//! multi-line plain or quoted scalars, folded blocks, tabs, carriage returns, control
//! characters, directives, unusual indentation) it stops with [`Unsupported`], and the caller
//! parses the whole input again with granit. Being outside the subset is never an error by
//! itself: only granit decides what is invalid. Tests compare both paths on every sample file
//! and on randomly generated documents.

use std::borrow::Cow;

use granit_parser::{Event, Marker, Placement, ScalarStyle, Span, StructureStyle};

/// The input is outside the fast path's subset (or the consumer gave up): parse it again with
/// the full parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unsupported;

type Scan<T = ()> = Result<T, Unsupported>;

/// Longest key the fast path reads (YAML limits implicit keys to 1024 characters).
const MAX_KEY_LEN: usize = 1024;

/// Feeds `sink` the events of `src`, or stops with [`Unsupported`] (also when `sink` does).
#[cfg(test)]
pub(super) fn scan<'a, F>(src: &'a str, sink: F) -> Scan
where
    F: FnMut(Event<'a>, Span) -> Scan,
{
    scan_from_line(src, sink).map_err(|_| Unsupported)
}

/// Like [`scan`], giving the number of the line where the input left the subset (0 for a
/// character outside it, or no final line break).
pub(super) fn scan_from_line<'a, F>(src: &'a str, sink: F) -> Result<(), usize>
where
    F: FnMut(Event<'a>, Span) -> Scan,
{
    // Without a final line break, a block scalar on the last line ends differently in libyaml
    // than in the YAML test suite: granit handles that case.
    if !only_plain_characters(src.as_bytes()) || !src.ends_with('\n') {
        return Err(0);
    }
    let mut scanner = Scanner {
        src,
        bytes: src.as_bytes(),
        next: 0,
        line: 0,
        line_start: 0,
        line_ascii: true,
        blocks: Vec::new(),
        awaiting: None,
        held: Vec::new(),
        document: DocumentState::Before,
        sink,
    };
    scanner.run().map_err(|_| scanner.line)
}

/// The line where `src` leaves the fast path's subset, if it does (0: a character outside it).
#[cfg(test)]
pub(super) fn unsupported_line(src: &str) -> Option<usize> {
    scan_from_line(src, |_, _| Ok(())).err()
}

/// True when `bytes` has no character the fast path leaves to granit: tabs, carriage returns,
/// other control characters, C1 controls, NEL, the line and paragraph separators, BOM and
/// the non-characters U+FFFE/U+FFFF.
fn only_plain_characters(bytes: &[u8]) -> bool {
    const CHUNK: usize = 32;
    let suspicious = |b: u8| (b < 0x20 && b != b'\n') || b == 0x7f || b == 0xc2 || b >= 0xe2;
    let mut chunks = bytes.chunks_exact(CHUNK);
    for (i, chunk) in chunks.by_ref().enumerate() {
        // No early exit inside the chunk, so the compiler can vectorize the test.
        if chunk.iter().fold(false, |acc, &b| acc | suspicious(b))
            && !check_slowly(bytes, i * CHUNK, (i + 1) * CHUNK)
        {
            return false;
        }
    }
    let tail = bytes.len() - chunks.remainder().len();
    check_slowly(bytes, tail, bytes.len())
}

/// The exact test of [`only_plain_characters`] for `bytes[from..to]` (multi-byte sequences may
/// continue past `to`).
fn check_slowly(bytes: &[u8], from: usize, to: usize) -> bool {
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    (from..to).all(|i| match at(i) {
        b'\n' => true,
        b if b < 0x20 || b == 0x7f => false,
        // U+0080..U+009F: C1 controls and NEL.
        0xc2 => at(i + 1) >= 0xa0,
        // U+2028, U+2029.
        0xe2 => !(at(i + 1) == 0x80 && matches!(at(i + 2), 0xa8 | 0xa9)),
        // U+FEFF, U+FFFE, U+FFFF.
        0xef => {
            !((at(i + 1) == 0xbb && at(i + 2) == 0xbf)
                || (at(i + 1) == 0xbf && matches!(at(i + 2), 0xbe | 0xbf)))
        }
        _ => true,
    })
}

/// A position in the input, as granit reports it: byte offset, 1-based line, column in
/// characters.
#[derive(Debug, Clone, Copy)]
struct Pos {
    byte: usize,
    line: usize,
    col: usize,
}

impl Pos {
    fn marker(self) -> Marker {
        Marker::new(self.byte, self.line, self.col).with_byte_offset(Some(self.byte))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Map,
    Seq,
}

/// An open block collection and the column of its keys or dashes.
#[derive(Debug, Clone, Copy)]
struct Block {
    kind: BlockKind,
    indent: usize,
}

/// A key or `-` whose value did not start on its line: a nested collection may follow on the
/// next lines, otherwise the value is null.
#[derive(Debug, Clone, Copy)]
struct Awaiting {
    /// The collection holding the key or item.
    holder: Block,
    /// Where granit reports the null value if nothing follows.
    null_at: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocumentState {
    /// No document started yet.
    Before,
    /// A document started (explicitly or by content) and has no content yet.
    Empty,
    /// The document's root mapping is open.
    Open,
    /// The root mapping closed: only comments or a new document may follow.
    Closed,
}

/// A scalar read from one line, with where it ends.
struct LineScalar<'a> {
    value: Cow<'a, str>,
    style: ScalarStyle,
    /// Byte offset just past the scalar (past the closing quote for quoted ones).
    end: usize,
}

struct Scanner<'a, F> {
    src: &'a str,
    bytes: &'a [u8],
    /// Byte offset of the next line to read.
    next: usize,
    /// 1-based number of the current line.
    line: usize,
    /// Byte offset of the current line.
    line_start: usize,
    /// Whether the current line is ASCII (columns are then byte distances).
    line_ascii: bool,
    blocks: Vec<Block>,
    awaiting: Option<Awaiting>,
    /// Comments met while a value is awaited: granit reports them after a null value and
    /// before a nested collection.
    held: Vec<(Event<'a>, Span)>,
    document: DocumentState,
    sink: F,
}

impl<'a, F> Scanner<'a, F>
where
    F: FnMut(Event<'a>, Span) -> Scan,
{
    fn run(&mut self) -> Scan {
        let origin = Pos {
            byte: 0,
            line: 1,
            col: 0,
        };
        self.emit(Event::StreamStart, origin, origin)?;
        while let Some((start, end)) = self.next_line() {
            self.line_content(start, end)?;
        }
        let eof = self.end_of_input();
        if !matches!(self.document, DocumentState::Open | DocumentState::Closed) {
            // No document, or an empty last one: granit's business.
            return Err(Unsupported);
        }
        self.close_document(eof)?;
        self.emit(Event::StreamEnd, eof, eof)
    }

    /// Moves to the next line, returning its byte range without the newline.
    fn next_line(&mut self) -> Option<(usize, usize)> {
        if self.next >= self.bytes.len() {
            return None;
        }
        let start = self.next;
        let end =
            memchr::memchr(b'\n', &self.bytes[start..]).map_or(self.bytes.len(), |i| start + i);
        self.next = end + 1;
        self.line += 1;
        self.line_start = start;
        self.line_ascii = self.bytes[start..end].is_ascii();
        Some((start, end))
    }

    /// The line after the current one, without moving to it.
    fn peek_line(&self) -> Option<(usize, usize)> {
        if self.next >= self.bytes.len() {
            return None;
        }
        let start = self.next;
        let end =
            memchr::memchr(b'\n', &self.bytes[start..]).map_or(self.bytes.len(), |i| start + i);
        Some((start, end))
    }

    fn end_of_input(&self) -> Pos {
        let len = self.bytes.len();
        if len == 0 || self.bytes[len - 1] == b'\n' {
            Pos {
                byte: len,
                line: self.line + 1,
                col: 0,
            }
        } else {
            self.pos(len)
        }
    }

    /// The position of byte `byte` of the current line.
    fn pos(&self, byte: usize) -> Pos {
        let col = if self.line_ascii {
            byte - self.line_start
        } else {
            self.src[self.line_start..byte].chars().count()
        };
        Pos {
            byte,
            line: self.line,
            col,
        }
    }

    fn emit(&mut self, event: Event<'a>, start: Pos, end: Pos) -> Scan {
        (self.sink)(event, Span::new(start.marker(), end.marker()))
    }

    fn emit_at(&mut self, event: Event<'a>, at: Pos) -> Scan {
        self.emit(event, at, at)
    }

    fn spaces_from(&self, mut i: usize, end: usize) -> usize {
        while i < end && self.bytes[i] == b' ' {
            i += 1;
        }
        i
    }

    fn line_content(&mut self, start: usize, end: usize) -> Scan {
        let first = self.spaces_from(start, end);
        if first == end {
            return Ok(());
        }
        let indent = first - start;
        let rest = &self.bytes[first..end];
        if rest[0] == b'#' {
            return self.comment(first, end, Placement::Above);
        }
        if indent == 0 && (rest.starts_with(b"---") || rest.starts_with(b"...")) {
            return if rest == b"---" {
                self.document_marker(first)
            } else {
                Err(Unsupported)
            };
        }
        self.content_line(first, end, indent)
    }

    /// A comment from its `#` to the end of the line.
    fn comment(&mut self, hash: usize, end: usize, placement: Placement) -> Scan {
        let text = &self.src[hash + 1..end];
        let start = self.pos(hash);
        let end = self.pos(end);
        let event = Event::Comment(Cow::Borrowed(text), placement);
        if self.awaiting.is_some() {
            self.held
                .push((event, Span::new(start.marker(), end.marker())));
            return Ok(());
        }
        self.emit(event, start, end)
    }

    fn release_held(&mut self) -> Scan {
        for (event, span) in std::mem::take(&mut self.held) {
            (self.sink)(event, span)?;
        }
        Ok(())
    }

    fn document_marker(&mut self, at: usize) -> Scan {
        let pos = self.pos(at);
        match self.document {
            DocumentState::Before => {}
            DocumentState::Empty => return Err(Unsupported),
            DocumentState::Open | DocumentState::Closed => self.close_document(pos)?,
        }
        self.document = DocumentState::Empty;
        self.emit_at(Event::DocumentStart(true, None), pos)
    }

    fn close_document(&mut self, at: Pos) -> Scan {
        self.close_blocks(|_| true, at)?;
        self.emit_at(Event::DocumentEnd, at)
    }

    /// Settles a waiting value as null and closes the open collections `closes` selects,
    /// innermost first.
    fn close_blocks(&mut self, closes: impl Fn(&Block) -> bool, at: Pos) -> Scan {
        if let Some(waiting) = self.awaiting.take() {
            self.emit_null(waiting.null_at)?;
            self.release_held()?;
        }
        while let Some(top) = self.blocks.last().copied() {
            if !closes(&top) {
                break;
            }
            self.blocks.pop();
            let event = match top.kind {
                BlockKind::Map => Event::MappingEnd,
                BlockKind::Seq => Event::SequenceEnd,
            };
            self.emit_at(event, at)?;
        }
        if self.blocks.is_empty() && self.document == DocumentState::Open {
            self.document = DocumentState::Closed;
        }
        Ok(())
    }

    fn emit_null(&mut self, at: Pos) -> Scan {
        let null = Event::Scalar(Cow::Borrowed("~"), ScalarStyle::Plain, 0, None);
        self.emit_at(null, at)
    }

    /// Opens a block collection whose keys or dashes are at column `indent`; granit reports
    /// its start at `at`.
    fn open_block(&mut self, kind: BlockKind, indent: usize, at: Pos) -> Scan {
        let event = match kind {
            BlockKind::Map => Event::MappingStart(StructureStyle::Block, 0, None),
            BlockKind::Seq => Event::SequenceStart(StructureStyle::Block, 0, None),
        };
        self.blocks.push(Block { kind, indent });
        self.emit_at(event, at)
    }

    /// A line whose first non-space character, at column `indent`, starts content.
    fn content_line(&mut self, first: usize, end: usize, indent: usize) -> Scan {
        let at = self.pos(first);
        let is_item =
            self.bytes[first] == b'-' && (first + 1 == end || self.bytes[first + 1] == b' ');
        match self.document {
            DocumentState::Before => {
                self.document = DocumentState::Empty;
                self.emit_at(Event::DocumentStart(false, None), at)?;
            }
            DocumentState::Closed => return Err(Unsupported),
            DocumentState::Empty | DocumentState::Open => {}
        }
        if self.document == DocumentState::Empty {
            if is_item {
                return Err(Unsupported);
            }
            self.document = DocumentState::Open;
            self.open_block(BlockKind::Map, indent, at)?;
            return self.key_line(first, end, at);
        }
        if let Some(waiting) = self.awaiting {
            let holder = waiting.holder;
            let nested = indent > holder.indent
                || (is_item && holder.kind == BlockKind::Map && indent == holder.indent);
            if nested {
                self.awaiting = None;
                self.release_held()?;
                if !is_item {
                    self.open_block(BlockKind::Map, indent, at)?;
                    return self.key_line(first, end, at);
                }
                if indent > holder.indent {
                    self.open_block(BlockKind::Seq, indent, at)?;
                    return self.item(first, end);
                }
                return self.indentless_item(first, end, indent);
            }
        }
        // Close what this line's column ends; a sequence written at its key's column also ends
        // at the next key.
        self.close_blocks(
            |b| b.indent > indent || (b.indent == indent && b.kind == BlockKind::Seq && !is_item),
            at,
        )?;
        let want = if is_item {
            BlockKind::Seq
        } else {
            BlockKind::Map
        };
        match self.blocks.last() {
            Some(top) if top.kind == want && top.indent == indent => {}
            _ => return Err(Unsupported),
        }
        if is_item {
            self.item(first, end)
        } else {
            self.key_line(first, end, at)
        }
    }

    /// `key: value` at `first`, in the mapping on top of the stack.
    fn key_line(&mut self, first: usize, end: usize, at: Pos) -> Scan {
        let holder = *self.blocks.last().ok_or(Unsupported)?;
        let (key, colon) = self.key(first, end)?.ok_or(Unsupported)?;
        let key_end = self.pos(key.end);
        self.emit(Event::Scalar(key.value, key.style, 0, None), at, key_end)?;
        self.after_indicator(colon + 1, end, holder, self.pos(colon))
    }

    /// The first item of a sequence written at its key's column: granit reports the
    /// sequence's start after the dash (after a comment there, if any).
    fn indentless_item(&mut self, dash: usize, end: usize, indent: usize) -> Scan {
        let q = self.spaces_from(dash + 1, end);
        if q < end && self.bytes[q] == b'#' {
            self.comment(q, end, Placement::Right)?;
            let at = self.pos(end);
            self.open_block(BlockKind::Seq, indent, at)?;
            let holder = *self.blocks.last().ok_or(Unsupported)?;
            self.awaiting = Some(Awaiting {
                holder,
                null_at: at,
            });
            return Ok(());
        }
        let at = self.pos(q);
        self.open_block(BlockKind::Seq, indent, at)?;
        self.item(dash, end)
    }

    /// A sequence item: `-` at `dash`, in the sequence on top of the stack.
    fn item(&mut self, dash: usize, end: usize) -> Scan {
        let holder = *self.blocks.last().ok_or(Unsupported)?;
        let q = self.spaces_from(dash + 1, end);
        if q < end && self.bytes[q] != b'#' {
            if self.bytes[q] == b'-' && (q + 1 == end || self.bytes[q + 1] == b' ') {
                return Err(Unsupported);
            }
            if let Some((key, colon)) = self.key(q, end)? {
                // `- key: value` opens a mapping at the key's column.
                let at = self.pos(q);
                self.open_block(BlockKind::Map, at.col, at)?;
                let map = *self.blocks.last().ok_or(Unsupported)?;
                let key_end = self.pos(key.end);
                self.emit(Event::Scalar(key.value, key.style, 0, None), at, key_end)?;
                return self.after_indicator(colon + 1, end, map, self.pos(colon));
            }
        }
        let null_at = self.pos(end);
        self.after_indicator(dash + 1, end, holder, null_at)
    }

    /// What follows a key's `:` or an item's `-`: nothing (the value comes on the next lines,
    /// or is null), a same-line comment, or a value.
    fn after_indicator(&mut self, from: usize, end: usize, holder: Block, null_at: Pos) -> Scan {
        let q = self.spaces_from(from, end);
        if q == end {
            self.awaiting = Some(Awaiting { holder, null_at });
            return Ok(());
        }
        if self.bytes[q] == b'#' {
            if q == from {
                return Err(Unsupported);
            }
            // After a key the null value comes first (it sits at the colon); after a dash the
            // comment does (the null sits at the end of the line).
            let waiting = Awaiting { holder, null_at };
            if holder.kind == BlockKind::Map {
                self.awaiting = Some(waiting);
                self.comment(q, end, Placement::Right)?;
            } else {
                self.comment(q, end, Placement::Right)?;
                self.awaiting = Some(waiting);
            }
            return Ok(());
        }
        if q == from {
            return Err(Unsupported);
        }
        self.value(q, end, holder)
    }

    /// A value starting at `q` on the current line.
    fn value(&mut self, q: usize, end: usize, holder: Block) -> Scan {
        match self.bytes[q] {
            b'"' | b'\'' => {
                let scalar = self.quoted(q, end)?;
                let after = scalar.end;
                self.emit_scalar(scalar, q)?;
                self.line_rest(after, end)
            }
            b'|' => self.literal(q, end, holder),
            b'{' | b'[' => self.empty_flow(q, end),
            _ => {
                let (scalar, comment) = self.plain(q, end)?;
                self.emit_scalar(scalar, q)?;
                match comment {
                    Some(hash) => self.comment(hash, end, Placement::Right),
                    None => Ok(()),
                }
            }
        }
    }

    fn emit_scalar(&mut self, scalar: LineScalar<'a>, start: usize) -> Scan {
        let (start, end) = (self.pos(start), self.pos(scalar.end));
        self.emit(
            Event::Scalar(scalar.value, scalar.style, 0, None),
            start,
            end,
        )
    }

    /// After a complete value: only spaces, or spaces and a comment.
    fn line_rest(&mut self, from: usize, end: usize) -> Scan {
        let q = self.spaces_from(from, end);
        if q == end {
            return Ok(());
        }
        if self.bytes[q] == b'#' && q > from {
            return self.comment(q, end, Placement::Right);
        }
        Err(Unsupported)
    }

    /// `{}` or `[]`, the only flow collections of the fast path.
    fn empty_flow(&mut self, q: usize, end: usize) -> Scan {
        let (start, stop) = match self.bytes.get(q..q + 2) {
            Some(b"{}") => (
                Event::MappingStart(StructureStyle::Flow, 0, None),
                Event::MappingEnd,
            ),
            Some(b"[]") => (
                Event::SequenceStart(StructureStyle::Flow, 0, None),
                Event::SequenceEnd,
            ),
            _ => return Err(Unsupported),
        };
        if q + 2 > end {
            return Err(Unsupported);
        }
        let (a, b, c) = (self.pos(q), self.pos(q + 1), self.pos(q + 2));
        self.emit(start, a, b)?;
        self.emit(stop, b, c)?;
        self.line_rest(q + 2, end)
    }

    /// Reads a key at `q`: a plain or quoted scalar followed by `:` and a space or the end of
    /// the line. Returns the key and the byte offset of its colon, `None` when the text at `q`
    /// is not a key (a value), and [`Unsupported`] for what the fast path does not read.
    fn key(&self, q: usize, end: usize) -> Scan<Option<(LineScalar<'a>, usize)>> {
        let (scalar, after) = match self.bytes[q] {
            b'"' | b'\'' => {
                let scalar = self.quoted(q, end)?;
                let after = scalar.end;
                (scalar, after)
            }
            _ => {
                if !plain_may_start(&self.bytes[q..end]) {
                    return Ok(None);
                }
                let Some(colon) = self.plain_key_colon(q, end) else {
                    return Ok(None);
                };
                let text = self.src[q..colon].trim_end_matches(' ');
                let scalar = LineScalar {
                    value: Cow::Borrowed(text),
                    style: ScalarStyle::Plain,
                    end: q + text.len(),
                };
                (scalar, colon)
            }
        };
        if scalar.end - q > MAX_KEY_LEN {
            return Err(Unsupported);
        }
        let colon = self.spaces_from(after, end);
        let is_indicator = colon < end
            && self.bytes[colon] == b':'
            && (colon + 1 == end || self.bytes[colon + 1] == b' ');
        Ok(is_indicator.then_some((scalar, colon)))
    }

    /// The first `:` followed by a space or the end of the line, before any comment.
    fn plain_key_colon(&self, q: usize, end: usize) -> Option<usize> {
        let mut i = q;
        while let Some(off) = memchr::memchr2(b':', b'#', &self.bytes[i..end]) {
            let at = i + off;
            if self.bytes[at] == b'#' {
                if at > q && self.bytes[at - 1] == b' ' {
                    return None;
                }
            } else if at + 1 == end || self.bytes[at + 1] == b' ' {
                return Some(at);
            }
            i = at + 1;
        }
        None
    }

    /// A plain scalar value at `q` running to the end of the line or to a comment, whose `#`
    /// is returned too.
    fn plain(&self, q: usize, end: usize) -> Scan<(LineScalar<'a>, Option<usize>)> {
        if !plain_may_start(&self.bytes[q..end]) {
            return Err(Unsupported);
        }
        let mut i = q;
        let mut stop = end;
        let mut comment = None;
        while let Some(off) = memchr::memchr2(b':', b'#', &self.bytes[i..end]) {
            let at = i + off;
            if self.bytes[at] == b'#' {
                if self.bytes[at - 1] == b' ' {
                    stop = at;
                    comment = Some(at);
                    break;
                }
            } else if at + 1 == end || self.bytes[at + 1] == b' ' {
                // `a: b: c` is an error, `a: b:` a key: granit's to judge.
                return Err(Unsupported);
            }
            i = at + 1;
        }
        let text = self.src[q..stop].trim_end_matches(' ');
        Ok((
            LineScalar {
                value: Cow::Borrowed(text),
                style: ScalarStyle::Plain,
                end: q + text.len(),
            },
            comment,
        ))
    }

    /// A quoted scalar that closes on its line.
    fn quoted(&self, q: usize, end: usize) -> Scan<LineScalar<'a>> {
        let quote = self.bytes[q];
        let body = q + 1;
        if quote == b'\'' {
            let mut i = body;
            let mut owned: Option<String> = None;
            loop {
                let off = memchr::memchr(b'\'', &self.bytes[i..end]).ok_or(Unsupported)?;
                let at = i + off;
                if self.bytes.get(at + 1) == Some(&b'\'') && at + 1 < end {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.src[i..=at]);
                    i = at + 2;
                    continue;
                }
                return Ok(LineScalar {
                    value: self.quoted_value(owned, body, i, at),
                    style: ScalarStyle::SingleQuoted,
                    end: at + 1,
                });
            }
        }
        let mut i = body;
        let mut owned: Option<String> = None;
        loop {
            let off = memchr::memchr2(b'"', b'\\', &self.bytes[i..end]).ok_or(Unsupported)?;
            let at = i + off;
            if self.bytes[at] == b'"' {
                return Ok(LineScalar {
                    value: self.quoted_value(owned, body, i, at),
                    style: ScalarStyle::DoubleQuoted,
                    end: at + 1,
                });
            }
            let s = owned.get_or_insert_with(String::new);
            s.push_str(&self.src[i..at]);
            i = unescape(self.bytes, at, end, s)?;
        }
    }

    /// The text of a quoted scalar whose body starts at `body` and whose closing quote is at
    /// `at`: borrowed from the input, or `owned` (what was unescaped so far) plus the rest
    /// from `from`.
    fn quoted_value(
        &self,
        owned: Option<String>,
        body: usize,
        from: usize,
        at: usize,
    ) -> Cow<'a, str> {
        match owned {
            Some(mut s) => {
                s.push_str(&self.src[from..at]);
                Cow::Owned(s)
            }
            None => Cow::Borrowed(&self.src[body..at]),
        }
    }

    /// A literal block scalar whose header `|`, `|-` or `|+` is at `q`.
    fn literal(&mut self, q: usize, end: usize, holder: Block) -> Scan {
        let mut h = q + 1;
        let chomp = match self.bytes.get(h) {
            Some(b'-') if h < end => b'-',
            Some(b'+') if h < end => b'+',
            _ => b' ',
        };
        if chomp != b' ' {
            h += 1;
        }
        if self.spaces_from(h, end) != end {
            return Err(Unsupported);
        }
        let mut value = String::new();
        let mut content_indent: Option<usize> = None;
        let mut first: Option<Pos> = None;
        while let Some((start, stop)) = self.peek_line() {
            let text = &self.src[start..stop];
            let spaces = text.len() - text.trim_start_matches(' ').len();
            let ci = match content_indent {
                Some(ci) => ci,
                None if spaces == text.len() => return Err(Unsupported),
                None if spaces > holder.indent => spaces,
                None => break,
            };
            if spaces < ci && spaces < text.len() {
                break;
            }
            if stop == self.bytes.len() {
                // A last line without a newline: chomping subtleties left to granit.
                return Err(Unsupported);
            }
            self.next_line();
            if content_indent.is_none() {
                content_indent = Some(ci);
                first = Some(self.pos(start + ci));
            }
            if let Some(content) = text.get(ci..) {
                value.push_str(content);
            }
            value.push('\n');
        }
        match chomp {
            b'-' => value.truncate(value.trim_end_matches('\n').len()),
            b' ' => {
                value.truncate(value.trim_end_matches('\n').len());
                if !value.is_empty() {
                    value.push('\n');
                }
            }
            _ => {}
        }
        let Some(first) = first else {
            // An empty literal: rare, and granit's positions for it are not worth mirroring.
            return Err(Unsupported);
        };
        let end_pos = if self.next >= self.bytes.len() {
            self.end_of_input()
        } else {
            Pos {
                byte: self.next,
                line: self.line + 1,
                col: 0,
            }
        };
        let event = Event::Scalar(Cow::Owned(value), ScalarStyle::Literal, 0, None);
        self.emit(event, first, end_pos)
    }
}

/// True when a plain scalar may start with these bytes (YAML's indicator rules, block context).
fn plain_may_start(rest: &[u8]) -> bool {
    match rest.first() {
        None => false,
        Some(b'-' | b'?' | b':') => rest.get(1).is_some_and(|&b| b != b' '),
        Some(
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`' | b' ',
        ) => false,
        Some(_) => true,
    }
}

/// Decodes the escape at `bytes[at]` (a backslash) into `out`, returning the offset after it.
fn unescape(bytes: &[u8], at: usize, end: usize, out: &mut String) -> Scan<usize> {
    let code = *bytes
        .get(at + 1)
        .filter(|_| at + 1 < end)
        .ok_or(Unsupported)?;
    let simple = match code {
        b'0' => Some('\0'),
        b'a' => Some('\u{07}'),
        b'b' => Some('\u{08}'),
        b't' => Some('\t'),
        b'n' => Some('\n'),
        b'v' => Some('\u{0b}'),
        b'f' => Some('\u{0c}'),
        b'r' => Some('\r'),
        b'e' => Some('\u{1b}'),
        b' ' => Some(' '),
        b'"' => Some('"'),
        b'/' => Some('/'),
        b'\\' => Some('\\'),
        b'N' => Some('\u{85}'),
        b'_' => Some('\u{a0}'),
        b'L' => Some('\u{2028}'),
        b'P' => Some('\u{2029}'),
        _ => None,
    };
    if let Some(c) = simple {
        out.push(c);
        return Ok(at + 2);
    }
    let digits = match code {
        b'x' => 2,
        b'u' => 4,
        b'U' => 8,
        _ => return Err(Unsupported),
    };
    let hex = bytes
        .get(at + 2..at + 2 + digits)
        .filter(|_| at + 2 + digits <= end)
        .ok_or(Unsupported)?;
    let hex = std::str::from_utf8(hex).map_err(|_| Unsupported)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Unsupported);
    }
    let value = u32::from_str_radix(hex, 16).map_err(|_| Unsupported)?;
    out.push(char::from_u32(value).ok_or(Unsupported)?);
    Ok(at + 2 + digits)
}
