//! A YAML writer that reproduces Go yaml.v3's output for the nodes sops builds: block style,
//! configurable indentation, yaml.v3's quoting and scalar style rules, no line folding, and
//! comments written where yaml.v3 writes sops's head and foot comments.

use base64::Engine;

use super::resolve::{is_old_bool_or_base60, resolve_plain, Resolved};
use crate::format::FormatError;
use crate::tree::{Map, MapItem, Node, Scalar, Seq, SeqItem};

/// Deepest nesting the writer accepts.
const MAX_DEPTH: usize = 1000;

/// The output buffer with the little state yaml.v3's emitter keeps about the current line.
pub(crate) struct Emitter {
    pub(crate) out: Vec<u8>,
    best: usize,
    column: usize,
    /// Only indentation (and `-`/`?`/`:` indicators) written on this line so far.
    indention: bool,
    /// The last character written was white space.
    whitespace: bool,
}

/// How a string is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl Emitter {
    /// A writer with the given indentation step, preallocating `capacity` bytes.
    pub(crate) fn new(best: usize, capacity: usize) -> Self {
        Emitter {
            out: Vec::with_capacity(capacity),
            best,
            column: 0,
            indention: true,
            whitespace: true,
        }
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
        while self.column < indent {
            self.out.push(b' ');
            self.column += 1;
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

    /// Writes a document's top-level mapping.
    pub(crate) fn document(&mut self, map: &Map) -> Result<(), FormatError> {
        self.map(map, None, 0)
    }

    /// Writes a map whose indentation is computed from `parent` (None for the root).
    fn map(
        &mut self,
        map: &Map,
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
        if map.entries().next().is_none() {
            return self.empty_flow(
                "{",
                "}",
                map.items.iter().filter_map(|i| match i {
                    MapItem::Comment(c) => Some(c.text.as_str()),
                    MapItem::Entry(_) => None,
                }),
                parent,
            );
        }
        for item in &map.items {
            match item {
                MapItem::Comment(c) => self.comment(&c.text, indent),
                MapItem::Entry(e) => {
                    self.write_indent(indent);
                    let simple = is_simple_key(&e.key);
                    if simple {
                        self.string(&e.key, indent, true);
                        self.indicator(":", false, false, false);
                    } else {
                        self.indicator("?", true, false, true);
                        let at = self.nested(indent, false);
                        self.string(&e.key, at, false);
                        self.write_indent(indent);
                        self.indicator(":", true, false, true);
                    }
                    self.value(&e.value, indent, false, depth)?;
                }
            }
        }
        Ok(())
    }

    fn seq(&mut self, seq: &Seq, parent: (usize, bool), depth: usize) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::Emit("yaml: exceeded max depth of 1000".into()));
        }
        let indent = self.nested(parent.0, parent.1);
        if seq.values().next().is_none()
            && !seq
                .items
                .iter()
                .any(|i| matches!(i, SeqItem::Comment(c) if is_enc_comment(&c.text)))
        {
            // yaml.v3 writes the head comment of an empty sequence after `[]`.
            self.indicator("[]", true, false, false);
            for item in &seq.items {
                if let SeqItem::Comment(c) = item {
                    self.comment(&c.text, parent.0);
                }
            }
            return Ok(());
        }
        for item in &seq.items {
            match item {
                SeqItem::Comment(c) if !is_enc_comment(&c.text) => self.comment(&c.text, indent),
                SeqItem::Comment(c) => {
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    self.scalar(&Scalar::Str(c.text.clone()), indent + 2, false, false);
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
                    let rest = Seq {
                        items: inner.items[lead..].to_vec(),
                        layout: inner.layout,
                    };
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    self.seq(&rest, (indent, true), depth + 1)?;
                }
                SeqItem::Node(Node::Map(m))
                    if matches!(m.items.first(), Some(MapItem::Comment(_)))
                        && m.entries().next().is_some() =>
                {
                    // yaml.v3 writes a mapping's head comment before the item's `- `.
                    let lead = m
                        .items
                        .iter()
                        .take_while(|i| matches!(i, MapItem::Comment(_)))
                        .count();
                    for c in &m.items[..lead] {
                        if let MapItem::Comment(c) = c {
                            self.comment(&c.text, indent);
                        }
                    }
                    let rest = Map {
                        items: m.items[lead..].to_vec(),
                        layout: m.layout,
                    };
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    self.map(&rest, Some((indent, true)), depth + 1)?;
                }
                SeqItem::Node(n) => {
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    self.value(n, indent, true, depth)?;
                }
            }
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
                Ok(())
            }
            Node::Map(m) => self.map(m, Some((indent, in_seq)), depth + 1),
            Node::Seq(s) => self.seq(s, (indent, in_seq), depth + 1),
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
            self.write_indent(0);
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
                self.plain(format_int(*i, &mut buf));
            }
            Scalar::Float(f) => self.plain(&crate::number::format_float_yaml(*f)),
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
            Style::Plain => self.plain(text),
            Style::Single => self.single(text, block_indent),
            Style::Double => self.double(text),
            Style::Literal => self.literal(text, block_indent),
        }
    }

    fn plain(&mut self, s: &str) {
        if !self.whitespace {
            self.out.push(b' ');
            self.column += 1;
        }
        self.write(s);
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
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
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
        self.put_break();
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

/// Decimal text of an integer, without allocating.
fn format_int(v: i64, buf: &mut [u8; 20]) -> &str {
    let mut n = v.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    std::str::from_utf8(&buf[pos..]).unwrap_or("0")
}

/// An encrypted comment inside a sequence, which sops writes as a list item.
pub(crate) fn is_enc_comment(text: &str) -> bool {
    text.starts_with("ENC[") && text.ends_with("type:comment]")
}

fn is_simple_key(key: &str) -> bool {
    key.len() <= 128 && !key.contains(is_break)
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

/// The style yaml.v3 ends up using for a string value (or key).
fn string_style(s: &str, key: bool) -> Style {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if resolve_plain(s) != Resolved::Str || is_old_bool_or_base60(s) {
        Style::Double
    } else {
        Style::Plain
    };
    let a = analyze(s);
    match requested {
        Style::Plain if !a.block_plain => {
            if a.single {
                Style::Single
            } else {
                Style::Double
            }
        }
        Style::Literal if !a.block || key => Style::Double,
        other => other,
    }
}

struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

/// yaml.v3's scalar analysis, for the block context.
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
    let mut a = Analysis {
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || tabs || special {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block = false;
    }
    if line_breaks || block_indicators {
        a.block_plain = false;
    }
    a
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
        Node::Map(m) => e.map(m, None, 0)?,
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

impl Emitter {
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
