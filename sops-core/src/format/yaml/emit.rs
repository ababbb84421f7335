//! A YAML writer that reproduces Go yaml.v3's output for the nodes sops builds: block style,
//! configurable indentation, yaml.v3's quoting and scalar style rules, no line folding, and
//! comments written where yaml.v3 writes sops's head and foot comments.

use base64::Engine;

use super::resolve::{is_old_bool_or_base60, resolve_plain, Resolved};
use crate::format::{warm_map_items, warm_seq_items, FormatError};
use crate::tree::{Entry, Map, MapItem, Node, Scalar, Seq, SeqItem};

/// Deepest nesting the writer accepts.
const MAX_DEPTH: usize = 1000;

/// The output buffer with the little state yaml.v3's emitter keeps about the current line.
pub(crate) struct Emitter<'w> {
    pub(crate) out: Vec<u8>,
    /// Where full chunks of `out` go while writing (see [`Emitter::maybe_flush`]); without
    /// one, the whole output stays in `out`.
    sink: Option<&'w mut dyn std::io::Write>,
    /// The first error of the sink; later chunks are dropped.
    sink_error: Option<std::io::Error>,
    best: usize,
    column: usize,
    /// Only indentation (and `-`/`?`/`:` indicators) written on this line so far.
    indention: bool,
    /// The last character written was white space.
    whitespace: bool,
    /// Inline comments for the end of the value being written (yaml.v3's line comment).
    line_comment: Vec<String>,
    /// Writing the first document, the only one whose merge keys sops checks.
    pub(crate) first_doc: bool,
}

/// How a string is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl<'w> Emitter<'w> {
    /// A writer with the given indentation step, preallocating `capacity` bytes.
    pub(crate) fn new(best: usize, capacity: usize) -> Self {
        Emitter {
            out: Vec::with_capacity(capacity),
            sink: None,
            sink_error: None,
            best,
            column: 0,
            indention: true,
            whitespace: true,
            line_comment: Vec::new(),
            first_doc: true,
        }
    }

    /// A writer that hands its output to `sink` in chunks of about
    /// [`STREAM_CHUNK`](crate::format::STREAM_CHUNK) bytes as it goes, instead of keeping it.
    /// The caller writes what is left in `out` at the end.
    pub(crate) fn with_sink(best: usize, sink: &'w mut dyn std::io::Write) -> Self {
        let mut e = Emitter::new(best, crate::format::STREAMED_START);
        e.sink = Some(sink);
        e
    }

    /// Adds bytes written by another writer of the same document (whose output ended a line),
    /// handing them to the sink as [`Emitter::maybe_flush`] does.
    pub(crate) fn write_bytes(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        self.maybe_flush();
    }

    /// Writes what is left in `out` to the sink and reports the sink's first error.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        if let Some(e) = self.sink_error.take() {
            return Err(e);
        }
        match self.sink.as_mut() {
            Some(sink) => sink.write_all(&self.out),
            None => Ok(()),
        }
    }

    /// Hands `out` to the sink once it holds a chunk. The writer never reads back what it
    /// wrote, so the output can leave at any point.
    #[inline]
    fn maybe_flush(&mut self) {
        if self.out.len() < crate::format::STREAM_CHUNK {
            return;
        }
        if let Some(sink) = self.sink.as_mut() {
            if self.sink_error.is_none() {
                if let Err(e) = sink.write_all(&self.out) {
                    self.sink_error = Some(e);
                }
            }
            self.out.clear();
        }
    }

    /// Writes the pending inline comments at the end of the current line, then a line break,
    /// as yaml.v3 writes a line comment; continuation lines go at `indent`.
    fn line_comment(&mut self, indent: usize) {
        if self.line_comment.is_empty() {
            return;
        }
        if !self.whitespace {
            self.out.push(b' ');
            self.column += 1;
        }
        let comments = std::mem::take(&mut self.line_comment);
        for (i, text) in comments.iter().enumerate() {
            if i > 0 {
                self.write_indent(indent);
            }
            self.out.push(b'#');
            self.column += 1;
            self.write(text);
            self.indention = false;
            self.put_break();
        }
        self.whitespace = true;
    }

    fn put_break(&mut self) {
        self.out.push(b'\n');
        self.column = 0;
        self.indention = true;
        self.whitespace = true;
    }

    fn write_indent(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        if self.column < indent {
            let n = indent - self.column;
            self.out.extend(std::iter::repeat_n(b' ', n));
            self.column = indent;
        }
        self.whitespace = true;
        self.indention = true;
    }

    /// Writes text that holds no line break.
    fn write(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
        self.column += if s.is_ascii() {
            s.len()
        } else {
            s.chars().count()
        };
    }

    /// Writes an indicator such as `-`, `:`, `?`, `|`.
    fn indicator(
        &mut self,
        s: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.out.push(b' ');
            self.column += 1;
        }
        self.write(s);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn comment(&mut self, text: &str, indent: usize) {
        self.write_indent(indent);
        self.out.push(b'#');
        self.column += 1;
        self.write(text);
        self.put_break();
    }

    /// Ends the document's last line.
    pub(crate) fn end_document(&mut self) {
        if !self.indention || self.column > 0 {
            self.put_break();
        }
    }

    /// Indentation of a collection or scalar nested under something at `indent`.
    fn nested(&self, indent: usize, in_seq: bool) -> usize {
        if in_seq {
            indent + 2
        } else {
            self.best * ((indent + self.best) / self.best)
        }
    }

    /// Writes a document's top-level mapping followed by the `trailer` entries, as if they
    /// were appended to it.
    pub(crate) fn document(&mut self, map: &Map, trailer: &[Entry]) -> Result<(), FormatError> {
        self.map(&map.items, trailer, None, 0)
    }

    /// Writes a map made of `items` then `trailer`, whose indentation is computed from
    /// `parent` (None for the root).
    fn map(
        &mut self,
        items: &[MapItem],
        trailer: &[Entry],
        parent: Option<(usize, bool)>,
        depth: usize,
    ) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::Emit("yaml: exceeded max depth of 1000".into()));
        }
        let indent = match parent {
            None => 0,
            Some((i, in_seq)) => self.nested(i, in_seq),
        };
        if trailer.is_empty() && !items.iter().any(|i| matches!(i, MapItem::Entry(_))) {
            return self.empty_flow(
                "{",
                "}",
                items.iter().filter_map(|i| match i {
                    MapItem::Comment(c) => Some(c.text.as_str()),
                    MapItem::Entry(_) => None,
                }),
                parent,
            );
        }
        self.map_items(items, indent, depth)?;
        for e in trailer {
            self.entry(e, indent, depth)?;
        }
        Ok(())
    }

    /// The items of a map at `indent` (not its trailer).
    fn map_items(
        &mut self,
        items: &[MapItem],
        indent: usize,
        depth: usize,
    ) -> Result<(), FormatError> {
        let mut inline: Vec<&str> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            warm_map_items(items, i);
            match item {
                MapItem::Comment(c) if c.inline => inline.push(&c.text),
                MapItem::Comment(c) => self.comment(&c.text, indent),
                MapItem::Entry(e) => {
                    if !inline.is_empty() {
                        self.inline_comments(
                            &mut inline,
                            matches!(e.value, Node::Scalar(_)),
                            indent,
                        );
                    }
                    self.entry(e, indent, depth)?
                }
            }
            self.maybe_flush();
        }
        // Inline comments with no value after them end the map, like other comments.
        for text in inline {
            self.comment(text, indent);
        }
        Ok(())
    }

    /// Writes some top-level items of a document given in pieces: the same bytes as
    /// [`Emitter::document`] as long as every piece but the last ends with an entry (an inline
    /// comment waits for the entry after it) and the trailer is not empty (else an empty
    /// document is written `{}`).
    pub(crate) fn root_items(&mut self, items: &[MapItem]) -> Result<(), FormatError> {
        self.map_items(items, 0, 0)
    }

    /// Writes the trailer of a document given in pieces (see [`Emitter::root_items`]).
    pub(crate) fn root_trailer(&mut self, trailer: &[Entry]) -> Result<(), FormatError> {
        for e in trailer {
            self.entry(e, 0, 0)?;
        }
        Ok(())
    }

    /// Makes `pending` the line comment of the next value when it is written on one line with
    /// its key or `-` (`inline_ok`), else writes them on their own lines at `indent`.
    fn inline_comments(&mut self, pending: &mut Vec<&str>, inline_ok: bool, indent: usize) {
        if inline_ok {
            self.line_comment = pending.drain(..).map(str::to_string).collect();
        } else {
            for text in pending.drain(..) {
                self.comment(text, indent);
            }
        }
    }

    /// Writes `key: value` of a map at `indent`.
    fn entry(&mut self, e: &Entry, indent: usize, depth: usize) -> Result<(), FormatError> {
        self.write_indent(indent);
        if e.key == "<<" && self.first_doc && !mergeable(&e.value) {
            // yaml.v3 writes `!!merge <<`, which sops then reads as a merge key and refuses
            // (in the first document) unless the value is a map or a list of maps: quote it so
            // that the file reads back.
            self.double("<<");
            self.indicator(":", false, false, false);
        } else if is_simple_key(&e.key) {
            self.string(&e.key, indent, true);
            self.indicator(":", false, false, false);
        } else {
            self.indicator("?", true, false, true);
            let at = self.nested(indent, false);
            self.string(&e.key, at, false);
            self.write_indent(indent);
            self.indicator(":", true, false, true);
        }
        self.value(&e.value, indent, false, depth)
    }

    fn seq(
        &mut self,
        items: &[SeqItem],
        parent: (usize, bool),
        depth: usize,
    ) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::Emit("yaml: exceeded max depth of 1000".into()));
        }
        let indent = self.nested(parent.0, parent.1);
        if !items.iter().any(|i| match i {
            SeqItem::Node(_) => true,
            SeqItem::Comment(c) => is_enc_comment(&c.text),
        }) {
            // yaml.v3 writes the head comment of an empty sequence after `[]`.
            self.indicator("[]", true, false, false);
            for item in items {
                if let SeqItem::Comment(c) = item {
                    self.comment(&c.text, parent.0);
                }
            }
            return Ok(());
        }
        let mut inline: Vec<&str> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            warm_seq_items(items, i);
            if let SeqItem::Node(_) = item {
                // The item's inline comments go on its `- ` line.
                self.line_comment = inline.drain(..).map(str::to_string).collect();
            }
            match item {
                SeqItem::Comment(c) if c.inline => inline.push(&c.text),
                SeqItem::Comment(c) if !is_enc_comment(&c.text) => self.comment(&c.text, indent),
                SeqItem::Comment(c) => {
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    self.string(&c.text, indent + 2, false);
                }
                SeqItem::Node(Node::Seq(inner))
                    if matches!(inner.items.first(), Some(SeqItem::Comment(c)) if !is_enc_comment(&c.text))
                        && inner.values().next().is_some() =>
                {
                    // Likewise for a sequence's head comment.
                    let lead = inner
                        .items
                        .iter()
                        .take_while(
                            |i| matches!(i, SeqItem::Comment(c) if !is_enc_comment(&c.text)),
                        )
                        .count();
                    for c in &inner.items[..lead] {
                        if let SeqItem::Comment(c) = c {
                            self.comment(&c.text, indent);
                        }
                    }
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    self.line_comment(indent);
                    self.seq(&inner.items[lead..], (indent, true), depth + 1)?;
                }
                SeqItem::Node(Node::Map(m))
                    if matches!(m.items.first(), Some(MapItem::Comment(c)) if !c.inline)
                        && m.entries().next().is_some() =>
                {
                    // yaml.v3 writes a mapping's head comment before the item's `- `.
                    let lead = m
                        .items
                        .iter()
                        .take_while(|i| matches!(i, MapItem::Comment(c) if !c.inline))
                        .count();
                    for c in &m.items[..lead] {
                        if let MapItem::Comment(c) = c {
                            self.comment(&c.text, indent);
                        }
                    }
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    self.line_comment(indent);
                    self.map(&m.items[lead..], &[], Some((indent, true)), depth + 1)?;
                }
                SeqItem::Node(n) => {
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    let block = match n {
                        Node::Map(m) => m.entries().next().is_some(),
                        Node::Seq(s) => s.values().next().is_some(),
                        Node::Scalar(_) => false,
                    };
                    if block {
                        self.line_comment(indent);
                    }
                    self.value(n, indent, true, depth)?;
                    self.line_comment(indent);
                }
            }
        }
        // Inline comments with no item after them end the sequence, like other comments.
        for text in inline {
            self.comment(text, indent);
        }
        Ok(())
    }

    /// Writes a value after `key:` (in_seq false) or `-` (in_seq true) of a container at `indent`.
    fn value(
        &mut self,
        node: &Node,
        indent: usize,
        in_seq: bool,
        depth: usize,
    ) -> Result<(), FormatError> {
        match node {
            Node::Scalar(s) => {
                let at = self.nested(indent, in_seq);
                self.scalar(s, at, false, false);
                self.line_comment(indent);
                Ok(())
            }
            Node::Map(m) => self.map(&m.items, &[], Some((indent, in_seq)), depth + 1),
            Node::Seq(s) => self.seq(&s.items, (indent, in_seq), depth + 1),
        }
    }

    /// An empty collection, `{}` / `[]`, or with comments inside when it holds only comments.
    fn empty_flow<'a>(
        &mut self,
        open: &str,
        close: &str,
        comments: impl Iterator<Item = &'a str>,
        parent: Option<(usize, bool)>,
    ) -> Result<(), FormatError> {
        let (base, in_seq) = parent.unwrap_or((0, false));
        let inner = if parent.is_none() {
            self.best
        } else {
            self.nested(base, in_seq)
        };
        if parent.is_none() {
            // A document of comments only: yaml.v3 writes them as the head comment of an
            // empty root mapping, above `{}`.
            for text in comments {
                self.comment(text, 0);
            }
            self.write_indent(0);
            self.indicator(open, true, true, false);
            self.indicator(close, false, false, false);
            return Ok(());
        }
        self.indicator(open, true, true, false);
        let mut any = false;
        for text in comments {
            any = true;
            self.comment(text, inner);
        }
        if any {
            self.write_indent(base);
        }
        self.indicator(close, false, false, false);
        Ok(())
    }

    /// Writes a scalar. `block_indent` is the indentation of block scalar content.
    fn scalar(&mut self, s: &Scalar, block_indent: usize, _flow: bool, key: bool) {
        match s {
            Scalar::Null => self.plain("null"),
            Scalar::Bool(true) => self.plain("true"),
            Scalar::Bool(false) => self.plain("false"),
            Scalar::Int(i) => {
                let mut buf = [0u8; 20];
                self.plain(crate::number::format_int(*i, &mut buf));
            }
            Scalar::Float(f) => {
                self.plain_start();
                let start = self.out.len();
                crate::number::push_float_yaml(&mut self.out, *f);
                // ASCII only.
                self.column += self.out.len() - start;
                self.plain_end();
            }
            Scalar::Time(t) => self.plain(t),
            Scalar::Bytes(b) => {
                let text = encode_base64_lines(b);
                self.indicator("!!binary", true, false, false);
                if text.contains('\n') {
                    self.literal(&text, block_indent);
                } else {
                    self.plain(&text);
                }
            }
            Scalar::Str(text) => self.string(text, block_indent, key),
        }
    }

    /// Writes a string in the style yaml.v3 picks for it.
    fn string(&mut self, text: &str, block_indent: usize, key: bool) {
        if text == "<<" {
            self.indicator("!!merge", true, false, false);
            self.plain("<<");
            return;
        }
        match string_style(text, key) {
            (Style::Plain, true) => {
                self.plain_start();
                self.out.extend_from_slice(text.as_bytes());
                self.column += text.len();
                self.plain_end();
            }
            (Style::Plain, false) => self.plain(text),
            (Style::Single, _) => self.single(text, block_indent),
            (Style::Double, _) => self.double(text),
            (Style::Literal, _) => self.literal(text, block_indent),
        }
    }

    fn plain(&mut self, s: &str) {
        self.plain_start();
        self.write(s);
        self.plain_end();
    }

    /// The separating space a plain scalar needs, for text then written directly.
    fn plain_start(&mut self) {
        if !self.whitespace {
            self.out.push(b' ');
            self.column += 1;
        }
    }

    /// The state after a plain scalar's text.
    fn plain_end(&mut self) {
        self.whitespace = false;
        self.indention = false;
    }

    fn single(&mut self, s: &str, indent: usize) {
        self.indicator("'", true, false, false);
        let mut breaks = false;
        for c in s.chars() {
            if is_break(c) {
                let mut buf = [0u8; 4];
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                self.column = 0;
                self.indention = true;
                self.whitespace = true;
                breaks = true;
                continue;
            }
            if breaks {
                self.write_indent(indent);
                breaks = false;
            }
            if c == '\'' {
                self.out.extend_from_slice(b"''");
                self.column += 2;
            } else {
                let mut buf = [0u8; 4];
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                self.column += 1;
            }
        }
        self.indicator("'", false, false, false);
    }

    fn double(&mut self, s: &str) {
        self.indicator("\"", true, false, false);
        // yaml.v3's BOM test looks at the start of the string, whatever the position: a
        // string starting with U+FEFF has every character escaped.
        let bom = s.starts_with('\u{feff}');
        for c in s.chars() {
            let code = c as u32;
            if bom || !is_printable(c) || code == 0xFEFF || is_break(c) || c == '"' || c == '\\' {
                let esc: String = match c {
                    '\0' => "\\0".into(),
                    '\u{7}' => "\\a".into(),
                    '\u{8}' => "\\b".into(),
                    '\t' => "\\t".into(),
                    '\n' => "\\n".into(),
                    '\u{b}' => "\\v".into(),
                    '\u{c}' => "\\f".into(),
                    '\r' => "\\r".into(),
                    '\u{1b}' => "\\e".into(),
                    '"' => "\\\"".into(),
                    '\\' => "\\\\".into(),
                    '\u{85}' => "\\N".into(),
                    '\u{a0}' => "\\_".into(),
                    '\u{2028}' => "\\L".into(),
                    '\u{2029}' => "\\P".into(),
                    _ if code <= 0xFF => format!("\\x{code:02X}"),
                    _ if code <= 0xFFFF => format!("\\u{code:04X}"),
                    _ => format!("\\U{code:08X}"),
                };
                self.write(&esc);
            } else {
                let mut buf = [0u8; 4];
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                self.column += 1;
            }
        }
        self.indicator("\"", false, false, false);
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.indicator("|", true, false, false);
        let mut hints = String::new();
        let first = s.chars().next();
        // (yaml.v3 adds the indentation indicator for a leading space or break only, and then
        // cannot read back a block whose first line starts with a tab: it prints such a
        // string as `null` instead. We add the indicator, and the block reads back.)
        if first.is_some_and(|c| c == ' ' || c == '\t' || is_break(c)) {
            hints.push_str(&self.best.to_string());
        }
        let mut rev = s.chars().rev();
        match rev.next() {
            None => hints.push('-'),
            Some(last) if !is_break(last) => hints.push('-'),
            Some(_) => match rev.next() {
                None => hints.push('+'),
                Some(prev) if is_break(prev) => hints.push('+'),
                Some(_) => {}
            },
        }
        if !hints.is_empty() {
            self.write(&hints);
        }
        if self.line_comment.is_empty() {
            self.put_break();
        } else {
            self.line_comment(indent);
        }
        let mut breaks = true;
        for line_piece in split_breaks(s) {
            match line_piece {
                Piece::Break(c) => {
                    if c == '\n' {
                        self.out.push(b'\n');
                    } else {
                        let mut buf = [0u8; 4];
                        self.out
                            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    self.column = 0;
                    self.indention = true;
                    self.whitespace = true;
                    breaks = true;
                }
                Piece::Text(t) => {
                    if breaks {
                        self.write_indent(indent);
                        breaks = false;
                    }
                    self.write(t);
                    self.indention = false;
                    self.whitespace = false;
                }
            }
        }
    }
}

enum Piece<'a> {
    Break(char),
    Text(&'a str),
}

fn split_breaks(s: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = s;
    std::iter::from_fn(move || {
        let c = rest.chars().next()?;
        if is_break(c) {
            rest = &rest[c.len_utf8()..];
            return Some(Piece::Break(c));
        }
        let end = rest.find(is_break).unwrap_or(rest.len());
        let (t, r) = rest.split_at(end);
        rest = r;
        Some(Piece::Text(t))
    })
}

/// An encrypted comment inside a sequence, which sops writes as a list item.
pub(crate) fn is_enc_comment(text: &str) -> bool {
    text.starts_with("ENC[") && text.ends_with("type:comment]")
}

fn is_simple_key(key: &str) -> bool {
    key.len() <= 128
        && (!key.bytes().any(|c| c == b'\n' || c == b'\r' || c >= 0x80) || !key.contains(is_break))
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `is_printable`, which yaml.v3 uses (4-byte UTF-8 is not "printable").
fn is_printable(c: char) -> bool {
    let c = c as u32;
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
}

/// The style yaml.v3 ends up using for a string value (or key), and whether the string is
/// ASCII (known when it was scanned quickly; `false` means "not checked" too).
fn string_style(s: &str, key: bool) -> (Style, bool) {
    let (a, newline, ascii) = match analyze_ascii(s.as_bytes()) {
        Some((a, newline)) => (a, newline, true),
        None => (analyze(s), s.contains('\n'), false),
    };
    let requested = if newline {
        Style::Literal
    } else if may_resolve_non_str(s)
        && (resolve_plain(s) != Resolved::Str || is_old_bool_or_base60(s))
    {
        Style::Double
    } else {
        Style::Plain
    };
    let style = match requested {
        Style::Plain if !a.block_plain => {
            if a.single {
                Style::Single
            } else {
                Style::Double
            }
        }
        Style::Literal if !a.block || key => Style::Double,
        other => other,
    };
    (style, ascii)
}

/// False when a plain scalar `s` certainly resolves to a string and is not a YAML 1.1 bool
/// or base-60 number, so that [`resolve_plain`] and [`is_old_bool_or_base60`] need not run.
///
/// Those only see something else in: the empty string, keywords of at most 5 bytes (`false`,
/// `-.inf`, `yes`, `<<`, starting with one of `tTfFnN~<yYoO.+-`), and strings starting with a
/// digit, a sign or `.` made only of the bytes that numbers and timestamps use (digits up to
/// hexadecimal, `x` `o` `b` prefixes, `+ - . _ :`, exponents, and `T t Z z` and space of
/// timestamps).
fn may_resolve_non_str(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return true;
    };
    let numeric_start = matches!(first, b'0'..=b'9' | b'+' | b'-' | b'.');
    if b.len() <= 5 {
        // The keywords start with these.
        return numeric_start
            || matches!(
                first,
                b't' | b'T' | b'f' | b'F' | b'n' | b'N' | b'~' | b'<' | b'y' | b'Y' | b'o' | b'O'
            );
    }
    numeric_start && b.iter().all(|&c| NUMERIC_TEXT[c as usize])
}

/// The bytes that can appear in a plain scalar yaml.v3 resolves to an int, float or
/// timestamp (a superset).
static NUMERIC_TEXT: [bool; 256] = {
    let mut t = [false; 256];
    let allowed = b"0123456789abcdefABCDEFxXoO+-._: tTzZ";
    let mut i = 0;
    while i < allowed.len() {
        t[allowed[i] as usize] = true;
        i += 1;
    }
    t
};

struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

/// What the analysis records about a scalar, as yaml.v3's `yaml_emitter_analyze_scalar`.
#[derive(Default)]
struct Flags {
    block_indicators: bool,
    leading_space: bool,
    leading_break: bool,
    trailing_space: bool,
    trailing_break: bool,
    break_space: bool,
    space_break: bool,
    line_breaks: bool,
    special: bool,
    tabs: bool,
}

impl Flags {
    /// The styles the flags allow.
    fn verdict(&self) -> Analysis {
        let mut a = Analysis {
            block_plain: true,
            single: true,
            block: true,
        };
        if self.leading_space || self.leading_break || self.trailing_space || self.trailing_break {
            a.block_plain = false;
        }
        if self.trailing_space {
            a.block = false;
        }
        if self.break_space {
            a.block_plain = false;
            a.single = false;
        }
        if self.space_break || self.tabs || self.special {
            a.block_plain = false;
            a.single = false;
        }
        if self.space_break || self.special {
            a.block = false;
        }
        if self.line_breaks || self.block_indicators {
            a.block_plain = false;
        }
        a
    }
}

/// True for a value that yaml.v3 accepts after a merge key: a map or a list of maps.
fn mergeable(node: &Node) -> bool {
    match node {
        Node::Map(_) => true,
        Node::Seq(s) => s.values().all(|n| matches!(n, Node::Map(_))),
        Node::Scalar(_) => false,
    }
}

/// Bytes the ASCII scan looks at: everything but the printable ASCII characters other than
/// space, `#` and `:` (which never change the analysis in the middle of a string).
static NOTABLE: [bool; 256] = {
    let mut t = [true; 256];
    let mut c = 0x21;
    while c < 0x7F {
        t[c] = c == b'#' as usize || c == b':' as usize;
        c += 1;
    }
    t
};

/// True if `b` holds a byte below `!` (space, tab, line breaks, other controls), DEL or a
/// non-ASCII byte. Checks eight bytes at a time.
fn has_blank_control_or_non_ascii(b: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        // A byte below 0x21 (the borrow only starts at such a byte, so "any" is exact), or a
        // byte above 0x7E (0x7F + 1 sets the high bit; bytes from 0x80 have it already).
        let below = x.wrapping_sub(ONES * 0x21) & !x;
        let above = x.wrapping_add(ONES) | x;
        if (below | above) & HIGHS != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&c| !(0x21..0x7F).contains(&c))
}

/// [`analyze`] for an ASCII string, working on bytes, with whether it holds a `\n`; `None`
/// when the string is not ASCII (or empty), for [`analyze`] to handle.
fn analyze_ascii(b: &[u8]) -> Option<(Analysis, bool)> {
    let (&first, &last) = (b.first()?, b.last()?);
    let n = b.len();
    let is_blank = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let blank_at = |i: usize| i >= n || is_blank(b[i]);
    let mut f = Flags {
        block_indicators: b.starts_with(b"---") || b.starts_with(b"..."),
        leading_space: first == b' ',
        leading_break: first == b'\n' || first == b'\r',
        trailing_space: last == b' ',
        trailing_break: last == b'\n' || last == b'\r',
        ..Flags::default()
    };
    match first {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => f.block_indicators = true,
        b'?' | b':' | b'-' if blank_at(1) => f.block_indicators = true,
        _ => {}
    }
    if !has_blank_control_or_non_ascii(b) {
        // Nothing but printable ASCII other than space: a `:` or `#` after the first byte
        // only matters as a `:` at the very end (followed by the end of the string).
        if n > 1 && last == b':' {
            f.block_indicators = true;
        }
        return Some((f.verdict(), false));
    }
    let mut newline = false;
    for (i, &c) in b.iter().enumerate() {
        if !NOTABLE[c as usize] {
            continue;
        }
        match c {
            b':' => {
                if i > 0 && blank_at(i + 1) {
                    f.block_indicators = true;
                }
            }
            b'#' => {
                if i > 0 && is_blank(b[i - 1]) {
                    f.block_indicators = true;
                }
            }
            b' ' => {
                if i > 0 && matches!(b[i - 1], b'\n' | b'\r') {
                    f.break_space = true;
                }
            }
            b'\n' | b'\r' => {
                f.line_breaks = true;
                if c == b'\n' {
                    newline = true;
                } else {
                    // Not printable for libyaml.
                    f.special = true;
                }
                if i > 0 && b[i - 1] == b' ' {
                    f.space_break = true;
                }
            }
            b'\t' => f.tabs = true,
            0x80.. => return None,
            // Other control characters and DEL.
            _ => f.special = true,
        }
    }
    Some((f.verdict(), newline))
}

/// yaml.v3's scalar analysis, for the block context (any string; see [`analyze_ascii`]).
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain: false,
            single: true,
            block: false,
        };
    }
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut previous_space, mut previous_break) =
        (false, false, false, false);
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let mut preceded_by_ws = true;
    let blankz = |c: Option<char>| c.is_none_or(|c| c == ' ' || c == '\t' || is_break(c));
    let mut iter = s.char_indices().peekable();
    while let Some((pos, c)) = iter.next() {
        let next = iter.peek().map(|&(_, c)| c);
        let followed_by_ws = blankz(next);
        let i = pos;
        let is_last = next.is_none();
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if is_last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if is_last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = c == ' ' || c == '\t' || is_break(c);
    }
    Flags {
        block_indicators,
        leading_space,
        leading_break,
        trailing_space,
        trailing_break,
        break_space,
        space_break,
        line_breaks,
        special,
        tabs,
    }
    .verdict()
}

/// yaml.v3's base64 for `!!binary`: one line, or 70-character lines each ending in a newline.
fn encode_base64_lines(b: &[u8]) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(b);
    if enc.len() < 70 {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / 70 + 1);
    for chunk in enc.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// The text yaml.v3 writes for a lone scalar (`--extract` of a non-string leaf).
pub(crate) fn scalar_line(s: &Scalar, best: usize) -> Vec<u8> {
    let mut e = Emitter::new(best, 64);
    e.scalar(s, 0, false, false);
    e.end_document();
    e.out
}

/// Writes a map or sequence on its own (`--extract`).
pub(crate) fn node_block(node: &Node, best: usize) -> Result<Vec<u8>, FormatError> {
    let mut e = Emitter::new(best, 256);
    match node {
        Node::Map(m) => e.map(&m.items, &[], None, 0)?,
        Node::Seq(s) => {
            // A top-level sequence sits at column 0.
            let fake_parent = (0usize, false);
            let _ = fake_parent;
            e.top_seq(s)?;
        }
        Node::Scalar(s) => e.scalar(s, 0, false, false),
    }
    e.end_document();
    Ok(e.out)
}

impl Emitter<'_> {
    fn top_seq(&mut self, seq: &Seq) -> Result<(), FormatError> {
        if seq.values().next().is_none() {
            return self.empty_flow("[", "]", std::iter::empty(), None);
        }
        for item in &seq.items {
            match item {
                SeqItem::Comment(c) => self.comment(&c.text, 0),
                SeqItem::Node(n) => {
                    self.write_indent(0);
                    self.indicator("-", true, false, true);
                    self.value(n, 0, true, 0)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Codec, EmitOptions, Trailer};

    /// A deterministic generator of test strings over `alphabet`.
    fn strings(alphabet: &[&str], count: usize, max_len: u64) -> Vec<String> {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = next() % (max_len + 1);
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    /// The byte-wise analysis agrees with the general one on every ASCII string, and the
    /// quick resolution check never skips a string that resolves to something else.
    #[test]
    fn fast_paths_agree_with_the_general_analysis() {
        let punctuation = [
            " ", " ", "\t", "\n", "\r", ":", ":", "#", "-", "-", "?", ".", "'", "\"", ",", "[",
            "]", "{", "}", "&", "*", "!", "|", ">", "%", "@", "`", "\u{1}", "\u{7f}", "a", "b",
            "Z", "0", "1", "é", "\u{85}", "\u{2028}", "\u{feff}", "😀",
        ];
        let numeric = [
            "0", "1", "2", "5", "9", "_", "+", "-", ".", ":", "e", "E", "x", "X", "o", "O", "b",
            "B", "a", "f", "F", "t", "T", "z", "Z", " ", "n", "y", "s", "i",
        ];
        // Long strings that are mostly letters, so the eight-byte scan meets each notable
        // byte at every position of a word.
        let mut mostly_plain = vec!["a"; 60];
        mostly_plain.extend(["=", "/", ",", "[", "]", "A", "9"]);
        mostly_plain.extend(&punctuation);
        let mut all = strings(&punctuation, 200_000, 8);
        all.extend(strings(&numeric, 300_000, 12));
        all.extend(strings(&mostly_plain, 200_000, 40));
        all.extend(
            [
                "",
                "---",
                "...",
                "--- a",
                "-",
                "- a",
                "a:",
                "a: b",
                "a:b",
                "a #b",
                "a#b",
                "#",
                " a",
                "a ",
                "a\n",
                "\na",
                "a \nb",
                "a\n b",
                "true",
                "False",
                "~",
                "null",
                "<<",
                "yes",
                "off",
                "1:20",
                "+1:20.5",
                ".5",
                "-.inf",
                ".NaN",
                "0x1F",
                "0o17",
                "1_000",
                "1e3",
                "2024-01-02",
                "2024-01-02T03:04:05Z",
                "2001-12-14 21:59:43.10",
                "2001-12-14t21:59:43.10-05:00",
                "9223372036854775808",
                "ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]",
            ]
            .map(String::from),
        );
        for s in &all {
            assert_eq!(
                has_blank_control_or_non_ascii(s.as_bytes()),
                s.bytes().any(|c| !(0x21..0x7F).contains(&c)),
                "{s:?}"
            );
            let general = analyze(s);
            if let Some((fast, newline)) = analyze_ascii(s.as_bytes()) {
                assert!(s.is_ascii(), "{s:?}");
                assert_eq!(
                    (fast.block_plain, fast.single, fast.block, newline),
                    (
                        general.block_plain,
                        general.single,
                        general.block,
                        s.contains('\n')
                    ),
                    "{s:?}"
                );
            } else {
                assert!(s.is_empty() || !s.is_ascii(), "{s:?}");
            }
            if !may_resolve_non_str(s) {
                assert!(
                    resolve_plain(s) == Resolved::Str && !is_old_bool_or_base60(s),
                    "{s:?}"
                );
            }
        }
    }

    /// Emitting with a trailer gives the bytes of emitting the documents with the trailer
    /// entries appended, for every document shape.
    #[test]
    fn trailer_equals_appended_entries() {
        let cases = [
            "a: 1\n",
            "# only a comment\n",
            "{}\n",
            "a: 1\n---\nb: [x]\n---\n# c\n",
            "- not a map\n",
        ];
        let mut meta = Map::new();
        meta.push("version", Node::str("3.11.0"));
        let mut list = Seq::new();
        list.push(Node::str("ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]"));
        meta.push("list", Node::Seq(list));
        let entries = [
            Entry {
                key: "sops".into(),
                value: Node::Map(meta),
            },
            Entry {
                key: "sops_extra".into(),
                value: Node::str("x: y"),
            },
        ];
        for input in cases {
            let Ok(docs) = super::super::Yaml.parse_plain(input.as_bytes()) else {
                continue;
            };
            for every_document in [false, true] {
                for indent in [None, Some(2)] {
                    let opts = EmitOptions { indent };
                    let trailer = Trailer {
                        entries: &entries,
                        every_document,
                    };
                    let mut appended = docs.clone();
                    trailer.append_to(&mut appended);
                    assert_eq!(
                        String::from_utf8(
                            super::super::Yaml
                                .emit_encrypted_with_trailer(&docs, trailer, &opts)
                                .unwrap()
                        )
                        .unwrap(),
                        String::from_utf8(super::super::Yaml.emit_plain(&appended, &opts).unwrap())
                            .unwrap(),
                        "{input:?}"
                    );
                }
            }
        }
    }
}
