//! TOML: a plaintext `.toml` file to one [`Document`] and back, byte for byte.
//!
//! sops has no TOML support; this format is ours. The promise is that
//! `decrypt(encrypt(file))` gives back the input byte for byte (comments, blank lines, spacing,
//! quote styles, key order and table layout included), that the encrypted file is valid TOML
//! whose values are `ENC[...]` strings, and that the `sops` metadata sits in a `[sops]` table at
//! the end. It is not a general TOML library: [`toml_edit`] validates the input, and this module
//! only scans the already valid text for the positions of keys, values and comments.
//!
//! # The tree
//! Entries appear in document order. A `[table]` is a map with [`Layout::Table`]; the tables
//! a header path only implies (`a` in `[a.b]`) are maps with [`Layout::Block`]; `[[x]]` is a
//! sequence with [`Layout::Table`] of maps with [`Layout::Table`]; inline tables and arrays use
//! [`Layout::Inline`]; `a.b = 1` makes `a` a map with [`Layout::Dotted`]. Strings, integers,
//! floats and booleans map to their scalars. An offset date-time is a [`Scalar::Time`] holding
//! the text as written (with a space separator turned into `T`, which the layout restores);
//! local dates, times and date-times are not RFC 3339 instants and become strings (`type:str`)
//! that the layout writes back unquoted.
//!
//! Because the tree is filled in document order, a table that comes back after another one
//! (`[a]`, `[b]`, `[a.c]`), or dotted keys split by other keys, give the same key twice in one
//! map; the values and paths are still right.
//!
//! # Comments
//! A comment is a [`Comment`] whose text follows the `#` (so `# note` holds ` note`, as in the
//! other formats). A whole-line comment belongs to the table being filled at that point (or to
//! the array it is written in); the comment at the end of a `key = value` line follows that
//! entry in the map holding the key; the comment at the end of a `[header]` line is the first
//! item of the header's table. An encrypted comment is written as its own `#ENC[...]` line
//! (or at the end of the line it was on) and read back the same way.
//!
//! # The layout record
//! Whatever the plain tree cannot say (blank lines, indentation, spacing around `=`, quoted
//! keys, string quote styles, `0x1F`, `1_000`, `1e3`, CRLF line ends...) is kept in one extra
//! comment, the *layout record*, placed first in the document: `@toml-layout v1 <hash>\n`
//! followed by the input text in which every value is replaced by `\u{1}` and a style letter
//! and every comment text by `\u{2}`. It holds keys, punctuation and whitespace only, never a
//! value or comment text, and it is encrypted like any comment. The `<hash>` is a hash of the
//! tree's shape (keys, containers, leaf and comment positions); when the tree still has that
//! shape the emitter fills the record with the tree's values and comments, otherwise (a key was
//! added with `sops set`, the tree came from another format) it drops the record and writes
//! the default layout. A file already in the default layout gets no record, so an encrypted
//! file (written in the default layout, its record a single `#ENC[...]` line) parses back to
//! exactly the tree it was written from.
//!
//! # The default layout
//! Used when a tree has no (usable) layout record, e.g. for the encrypted file or a tree from
//! another format: `key = value` lines with no indentation, a blank line before each header,
//! basic strings (multi-line `"""` basic strings for values with newlines, such as the
//! armored `enc` of a key), comments on their own `#...` lines or at the end of the line of the
//! entry (or header) they follow. A map is written under a `[header]` (or as `[[x]]` elements
//! for a sequence of maps) only when no plain entry follows it in its parent, since TOML puts
//! a table's plain entries before its sub-tables and the MAC depends on the order; otherwise it
//! is written with dotted keys or inline. The top-level `sops` map is the exception: its plain
//! entries come first and `age` & co. follow as `[[sops.age]]`, which the metadata code reads
//! by key.
//!
//! # What does not round-trip byte for byte
//! Only the spelling of some values, since a value is rebuilt from its typed plaintext and a
//! style letter: escapes in basic strings other than `\" \\ \b \t \n \f \r` and `\uXXXX` for
//! other control characters (e.g. `\u00e9` for `é`), line-ending backslashes in multi-line
//! basic strings, leading zeros or `_` in hex/octal/binary integers, `_` groups other than
//! thousands, float spellings other than Rust's shortest `1.5`/`1e-7` or `{:e}` forms (`5e+22`,
//! `1_000.0`, `+1.0`). Comments inside inline tables cannot exist in TOML, so comments that a
//! tree from another format has inside a map written inline are dropped. TOML has no null, so a
//! null value is an emit error. `--indent` is ignored.

use super::{Codec, EmitOptions, FormatError};
use crate::tree::{Comment, Document, Entry, Layout, Map, MapItem, Node, Scalar, Seq, SeqItem};

/// The TOML codec.
pub struct Toml;

/// Deepest nesting (tables, arrays, inline tables) accepted.
const MAX_DEPTH: usize = 1000;
/// How a layout record starts.
const LAYOUT_MARK: &str = "@toml-layout v1 ";
/// Placeholder of a value in a layout record, followed by a style letter.
const PH_VALUE: u8 = 0x01;
/// Placeholder of a comment text in a layout record.
const PH_COMMENT: u8 = 0x02;

impl Codec for Toml {
    fn parse_plain(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        parse(input, true).map(|doc| vec![doc])
    }

    /// An encrypted file's own layout is not kept: its layout record is the encrypted one it
    /// carries, and a second, plain record (from a hand-edited or tampered file) would show up
    /// as a comment in the plaintext.
    fn parse_encrypted(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        parse(input, false).map(|doc| vec![doc])
    }

    fn emit_plain(&self, docs: &[Document], _opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        match docs {
            [] => Ok(Vec::new()),
            [doc] => emit_document(doc),
            _ => Err(FormatError::Emit(
                "toml: a TOML file holds one document".into(),
            )),
        }
    }

    fn emit_value(&self, value: &Node, _opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        match value {
            Node::Scalar(Scalar::Str(s)) => Ok(s.as_bytes().to_vec()),
            Node::Scalar(Scalar::Bytes(b)) => Ok(b.clone()),
            Node::Map(m) => {
                let mut e = Emitter::with_capacity(256);
                e.table_contents(m, &mut Vec::new(), false, false, 0)?;
                Ok(e.out)
            }
            other => {
                let mut e = Emitter::with_capacity(64);
                e.inline_value(other, 0, false)?;
                e.out.push(b'\n');
                Ok(e.out)
            }
        }
    }
}

fn parse_err(msg: impl Into<String>) -> FormatError {
    FormatError::Parse(format!("Error unmarshalling file: {}", msg.into()))
}

fn too_deep() -> FormatError {
    parse_err(format!(
        "toml: the document nests deeper than {MAX_DEPTH} levels"
    ))
}

/// Parses a TOML file into its document, adding a layout record (when `layout` is set) if the
/// file is not in the default layout.
fn parse(input: &[u8], layout: bool) -> Result<Document, FormatError> {
    let src = std::str::from_utf8(input).map_err(|e| parse_err(format!("toml: {e}")))?;
    if let Err(e) = toml_edit::ImDocument::parse(src) {
        let msg = e.to_string();
        return Err(parse_err(format!("toml: {}", msg.trim_end())));
    }
    let mut p = Parser {
        src,
        b: src.as_bytes(),
        pos: 0,
        skel: String::with_capacity(src.len() / 2 + 16),
        root: Node::Map(Map::new()),
        table: Vec::new(),
    };
    p.document()?;
    let Parser { root, skel, .. } = p;
    let mut root = match root {
        Node::Map(m) => m,
        _ => return Err(parse_err("toml: internal error")),
    };
    if !layout {
        return Ok(root);
    }
    let default = Emitter::default_document(&root, false);
    if default.as_deref().ok() != Some(input) {
        let hash = shape_hash(&root, false);
        let mut text = String::with_capacity(skel.len() + 40);
        text.push_str(LAYOUT_MARK);
        text.push_str(&format!("{hash:016x}\n"));
        text.push_str(&skel);
        root.items.insert(0, MapItem::Comment(Comment::new(text)));
    }
    Ok(root)
}

/// Scans valid TOML text, filling the tree in document order and writing the layout record.
struct Parser<'s> {
    src: &'s str,
    b: &'s [u8],
    pos: usize,
    skel: String,
    root: Node,
    /// Path (item indices from the root) of the table being filled.
    table: Vec<usize>,
}

/// The map at `path` (item indices from the root; a sequence step picks an element).
fn nav_map<'a>(root: &'a mut Node, path: &[usize]) -> Result<&'a mut Map, FormatError> {
    let mut node = root;
    for &i in path {
        node = match node {
            Node::Map(m) => match m.items.get_mut(i) {
                Some(MapItem::Entry(e)) => &mut e.value,
                _ => return Err(parse_err("toml: internal error")),
            },
            Node::Seq(s) => match s.items.get_mut(i) {
                Some(SeqItem::Node(n)) => n,
                _ => return Err(parse_err("toml: internal error")),
            },
            Node::Scalar(_) => return Err(parse_err("toml: internal error")),
        };
    }
    match node {
        Node::Map(m) => Ok(m),
        _ => Err(parse_err("toml: internal error")),
    }
}

/// Adds `keys = value` (dotted when several keys) to `map`, merging into the dotted map the
/// previous item opened. Returns nothing; a trailing comment follows the leaf entry.
fn insert_dotted(
    map: &mut Map,
    keys: Vec<String>,
    value: Node,
    trailing: Option<String>,
) -> Result<(), FormatError> {
    let mut keys = keys;
    let last = keys.pop().ok_or_else(|| parse_err("toml: empty key"))?;
    let mut m = map;
    for k in keys {
        let reuse = matches!(m.items.last(),
            Some(MapItem::Entry(e)) if e.key == k
                && matches!(&e.value, Node::Map(x) if x.layout == Layout::Dotted));
        if !reuse {
            m.push(
                k,
                Node::Map(Map {
                    items: Vec::new(),
                    layout: Layout::Dotted,
                }),
            );
        }
        m = match m.items.last_mut() {
            Some(MapItem::Entry(Entry {
                value: Node::Map(x),
                ..
            })) => x,
            _ => return Err(parse_err("toml: internal error")),
        };
    }
    m.push(last, value);
    if let Some(t) = trailing {
        m.push_comment(t);
    }
    Ok(())
}

impl<'s> Parser<'s> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<u8> {
        self.b.get(self.pos + off).copied()
    }

    fn starts(&self, s: &str) -> bool {
        self.b[self.pos.min(self.b.len())..].starts_with(s.as_bytes())
    }

    /// Copies `n` bytes of input into the layout record.
    fn copy(&mut self, n: usize) -> Result<(), FormatError> {
        let end = self.pos + n;
        let s = self
            .src
            .get(self.pos..end)
            .ok_or_else(|| parse_err("toml: unexpected end of input"))?;
        self.skel.push_str(s);
        self.pos = end;
        Ok(())
    }

    fn expect(&mut self, c: u8) -> Result<(), FormatError> {
        if self.peek() == Some(c) {
            self.copy(1)
        } else {
            Err(parse_err(format!(
                "toml: expected '{}' at byte {}",
                c as char, self.pos
            )))
        }
    }

    fn copy_ws(&mut self) -> Result<(), FormatError> {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        let end = self.pos;
        self.pos = start;
        self.copy(end - start)
    }

    fn copy_newline(&mut self) -> Result<(), FormatError> {
        if self.starts("\r\n") {
            self.copy(2)
        } else {
            self.copy(1)
        }
    }

    /// At `#`: reads a comment up to the end of the line and returns its text.
    fn comment(&mut self) -> Result<String, FormatError> {
        self.copy(1)?;
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b'\n' || (c == b'\r' && self.peek_at(1) == Some(b'\n')) {
                break;
            }
            self.pos += 1;
        }
        self.skel.push(PH_COMMENT as char);
        self.src
            .get(start..self.pos)
            .map(str::to_string)
            .ok_or_else(|| parse_err("toml: bad comment"))
    }

    fn document(&mut self) -> Result<(), FormatError> {
        if self.starts("\u{feff}") {
            self.copy(3)?;
        }
        loop {
            self.copy_ws()?;
            match self.peek() {
                None => return Ok(()),
                Some(b'\n' | b'\r') => self.copy_newline()?,
                Some(b'#') => {
                    let text = self.comment()?;
                    nav_map(&mut self.root, &self.table)?.push_comment(text);
                }
                Some(b'[') => self.header()?,
                Some(_) => self.key_value_line()?,
            }
        }
    }

    fn header(&mut self) -> Result<(), FormatError> {
        let aot = self.peek_at(1) == Some(b'[');
        self.copy(if aot { 2 } else { 1 })?;
        let keys = self.keys()?;
        self.expect(b']')?;
        if aot {
            self.expect(b']')?;
        }
        self.copy_ws()?;
        let trailing = if self.peek() == Some(b'#') {
            Some(self.comment()?)
        } else {
            None
        };
        self.open_table(keys, aot, trailing)
    }

    fn open_table(
        &mut self,
        mut keys: Vec<String>,
        aot: bool,
        trailing: Option<String>,
    ) -> Result<(), FormatError> {
        let last = keys
            .pop()
            .ok_or_else(|| parse_err("toml: empty table name"))?;
        let mut path = Vec::with_capacity(keys.len() + 2);
        for k in keys {
            let m = nav_map(&mut self.root, &path)?;
            let n = m.items.len();
            match m.items.last() {
                Some(MapItem::Entry(e))
                    if e.key == k
                        && matches!(&e.value, Node::Map(x)
                            if matches!(x.layout, Layout::Table | Layout::Block)) =>
                {
                    path.push(n - 1);
                }
                Some(MapItem::Entry(Entry {
                    key,
                    value: Node::Seq(s),
                })) if *key == k && s.layout == Layout::Table && !s.items.is_empty() => {
                    path.push(n - 1);
                    path.push(s.items.len() - 1);
                }
                _ => {
                    m.push(
                        k,
                        Node::Map(Map {
                            items: Vec::new(),
                            layout: Layout::Block,
                        }),
                    );
                    path.push(n);
                }
            }
            if path.len() > MAX_DEPTH {
                return Err(too_deep());
            }
        }
        let mut table = Map {
            items: Vec::new(),
            layout: Layout::Table,
        };
        if let Some(t) = trailing {
            table.push_comment(t);
        }
        let m = nav_map(&mut self.root, &path)?;
        let n = m.items.len();
        if aot {
            if let Some(MapItem::Entry(Entry {
                key,
                value: Node::Seq(s),
            })) = m.items.last_mut()
            {
                if *key == last && s.layout == Layout::Table {
                    s.push(Node::Map(table));
                    path.push(n - 1);
                    path.push(s.items.len() - 1);
                    self.table = path;
                    return Ok(());
                }
            }
            let seq = Seq {
                items: vec![SeqItem::Node(Node::Map(table))],
                layout: Layout::Table,
            };
            m.push(last, Node::Seq(seq));
            path.push(n);
            path.push(0);
        } else {
            m.push(last, Node::Map(table));
            path.push(n);
        }
        self.table = path;
        Ok(())
    }

    fn key_value_line(&mut self) -> Result<(), FormatError> {
        let keys = self.keys()?;
        self.expect(b'=')?;
        self.copy_ws()?;
        let value = self.value(self.table.len())?;
        self.copy_ws()?;
        let trailing = if self.peek() == Some(b'#') {
            Some(self.comment()?)
        } else {
            None
        };
        let table = nav_map(&mut self.root, &self.table)?;
        insert_dotted(table, keys, value, trailing)
    }

    /// A dotted key with its surrounding spaces, copied verbatim into the layout record.
    fn keys(&mut self) -> Result<Vec<String>, FormatError> {
        let mut keys = Vec::new();
        loop {
            self.copy_ws()?;
            let key = match self.peek() {
                Some(b'"') => {
                    let (end, content) = self.basic_end()?;
                    let k = unescape(content, false)?;
                    self.copy(end - self.pos)?;
                    k
                }
                Some(b'\'') => {
                    let (end, content) = self.literal_end()?;
                    let k = content.to_string();
                    self.copy(end - self.pos)?;
                    k
                }
                _ => {
                    let start = self.pos;
                    while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
                    {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        return Err(parse_err(format!("toml: expected a key at byte {start}")));
                    }
                    let end = self.pos;
                    self.pos = start;
                    let k = self.src.get(start..end).unwrap_or_default().to_string();
                    self.copy(end - start)?;
                    k
                }
            };
            keys.push(key);
            self.copy_ws()?;
            if self.peek() == Some(b'.') {
                self.copy(1)?;
            } else {
                return Ok(keys);
            }
        }
    }

    /// End (exclusive) and content of the basic string at the cursor.
    fn basic_end(&self) -> Result<(usize, &'s str), FormatError> {
        let mut i = self.pos + 1;
        loop {
            match self.b.get(i) {
                None => return Err(parse_err("toml: unterminated string")),
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let content = self
            .src
            .get(self.pos + 1..i)
            .ok_or_else(|| parse_err("toml: bad string"))?;
        Ok((i + 1, content))
    }

    fn literal_end(&self) -> Result<(usize, &'s str), FormatError> {
        let start = self.pos + 1;
        let len = self.b[start.min(self.b.len())..]
            .iter()
            .position(|&c| c == b'\'')
            .ok_or_else(|| parse_err("toml: unterminated string"))?;
        let content = self
            .src
            .get(start..start + len)
            .ok_or_else(|| parse_err("toml: bad string"))?;
        Ok((start + len + 1, content))
    }

    /// End and raw content of the multi-line string at the cursor (`quote` is `"` or `'`).
    fn multiline_end(&self, quote: u8) -> Result<(usize, &'s str), FormatError> {
        let mut i = self.pos + 3;
        loop {
            match self.b.get(i) {
                None => return Err(parse_err("toml: unterminated string")),
                Some(b'\\') if quote == b'"' => i += 2,
                Some(&c)
                    if c == quote
                        && self.b.get(i + 1) == Some(&quote)
                        && self.b.get(i + 2) == Some(&quote) =>
                {
                    let mut j = i + 3;
                    while j < i + 5 && self.b.get(j) == Some(&quote) {
                        j += 1;
                    }
                    let content = self
                        .src
                        .get(self.pos + 3..j - 3)
                        .ok_or_else(|| parse_err("toml: bad string"))?;
                    return Ok((j, content));
                }
                Some(_) => i += 1,
            }
        }
    }

    fn push_value_ph(&mut self, style: u8) {
        self.skel.push(PH_VALUE as char);
        self.skel.push(style as char);
    }

    fn value(&mut self, depth: usize) -> Result<Node, FormatError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        match self.peek() {
            Some(b'"') if self.starts("\"\"\"") => {
                let (end, raw) = self.multiline_end(b'"')?;
                let (body, style) = strip_first_newline(raw, b'B', b'N', b'R');
                let s = unescape(body, true)?;
                self.pos = end;
                self.push_value_ph(style);
                Ok(Node::Scalar(Scalar::Str(s)))
            }
            Some(b'"') => {
                let (end, content) = self.basic_end()?;
                let s = unescape(content, false)?;
                self.pos = end;
                self.push_value_ph(b'b');
                Ok(Node::Scalar(Scalar::Str(s)))
            }
            Some(b'\'') if self.starts("'''") => {
                let (end, raw) = self.multiline_end(b'\'')?;
                let (body, style) = strip_first_newline(raw, b'L', b'M', b'P');
                self.pos = end;
                self.push_value_ph(style);
                Ok(Node::Scalar(Scalar::Str(body.to_string())))
            }
            Some(b'\'') => {
                let (end, content) = self.literal_end()?;
                self.pos = end;
                self.push_value_ph(b'l');
                Ok(Node::Scalar(Scalar::Str(content.to_string())))
            }
            Some(b'[') => self.array(depth),
            Some(b'{') => self.inline_table(depth),
            _ => self.bare_value(),
        }
    }

    fn bare_value(&mut self) -> Result<Node, FormatError> {
        let delim = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b',' | b']' | b'}' | b'#');
        let start = self.pos;
        let mut end = start;
        while self.b.get(end).is_some_and(|&c| !delim(c)) {
            end += 1;
        }
        let first = &self.b[start..end];
        let is_date = first.len() == 10
            && first[4] == b'-'
            && first[7] == b'-'
            && first[..4].iter().all(u8::is_ascii_digit);
        let mut space = false;
        if is_date
            && self.b.get(end) == Some(&b' ')
            && self.b.get(end + 1).is_some_and(u8::is_ascii_digit)
            && self.b.get(end + 2).is_some_and(u8::is_ascii_digit)
            && self.b.get(end + 3) == Some(&b':')
        {
            space = true;
            end += 1;
            while self.b.get(end).is_some_and(|&c| !delim(c)) {
                end += 1;
            }
        }
        if end == start {
            return Err(parse_err(format!("toml: expected a value at byte {start}")));
        }
        let tok = self
            .src
            .get(start..end)
            .ok_or_else(|| parse_err("toml: bad value"))?;
        let (scalar, style) = decode_bare(tok, space)?;
        self.pos = end;
        self.push_value_ph(style);
        Ok(Node::Scalar(scalar))
    }

    /// Whitespace, newlines and comments inside an array; comments become items of `seq`.
    fn array_gap(&mut self, seq: &mut Seq) -> Result<(), FormatError> {
        loop {
            self.copy_ws()?;
            match self.peek() {
                Some(b'\n' | b'\r') => self.copy_newline()?,
                Some(b'#') => {
                    let text = self.comment()?;
                    seq.items.push(SeqItem::Comment(Comment::new(text)));
                }
                _ => return Ok(()),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Node, FormatError> {
        self.copy(1)?;
        let mut seq = Seq {
            items: Vec::new(),
            layout: Layout::Inline,
        };
        loop {
            self.array_gap(&mut seq)?;
            match self.peek() {
                Some(b']') => {
                    self.copy(1)?;
                    return Ok(Node::Seq(seq));
                }
                Some(b',') => self.copy(1)?,
                None => return Err(parse_err("toml: unterminated array")),
                Some(_) => {
                    let v = self.value(depth + 1)?;
                    seq.push(v);
                }
            }
        }
    }

    fn inline_table(&mut self, depth: usize) -> Result<Node, FormatError> {
        self.copy(1)?;
        let mut map = Map {
            items: Vec::new(),
            layout: Layout::Inline,
        };
        loop {
            self.copy_ws()?;
            match self.peek() {
                Some(b'}') => {
                    self.copy(1)?;
                    return Ok(Node::Map(map));
                }
                Some(b',') => self.copy(1)?,
                Some(b'\n' | b'\r') => self.copy_newline()?,
                None => return Err(parse_err("toml: unterminated inline table")),
                Some(_) => {
                    let keys = self.keys()?;
                    self.expect(b'=')?;
                    self.copy_ws()?;
                    let v = self.value(depth + 1)?;
                    insert_dotted(&mut map, keys, v, None)?;
                }
            }
        }
    }
}

/// Strips the newline right after the opening delimiter of a multi-line string and picks the
/// style letter: `plain` without one, `lf` after `\n`, `crlf` after `\r\n`.
fn strip_first_newline(raw: &str, plain: u8, lf: u8, crlf: u8) -> (&str, u8) {
    if let Some(rest) = raw.strip_prefix("\r\n") {
        (rest, crlf)
    } else if let Some(rest) = raw.strip_prefix('\n') {
        (rest, lf)
    } else {
        (raw, plain)
    }
}

/// Decodes the escapes of a basic string (`multiline`: also line-ending backslashes).
fn unescape(s: &str, multiline: bool) -> Result<String, FormatError> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let bad = || parse_err("toml: bad escape in string");
        match chars.next().ok_or_else(bad)? {
            'b' => out.push('\u{8}'),
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'f' => out.push('\u{c}'),
            'r' => out.push('\r'),
            'e' => out.push('\u{1b}'),
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            u @ ('u' | 'U' | 'x') => {
                let n = match u {
                    'u' => 4,
                    'U' => 8,
                    _ => 2,
                };
                let mut v = 0u32;
                for _ in 0..n {
                    let d = chars.next().and_then(|d| d.to_digit(16)).ok_or_else(bad)?;
                    v = v * 16 + d;
                }
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            ' ' | '\t' | '\n' | '\r' if multiline => {
                while matches!(chars.peek(), Some(' ' | '\t' | '\n' | '\r')) {
                    chars.next();
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Decodes an unquoted value: boolean, number or date/time, with its style letter.
fn decode_bare(tok: &str, space: bool) -> Result<(Scalar, u8), FormatError> {
    let bad = || parse_err(format!("toml: invalid value {tok:?}"));
    match tok {
        "true" => return Ok((Scalar::Bool(true), b'd')),
        "false" => return Ok((Scalar::Bool(false), b'd')),
        "inf" => return Ok((Scalar::Float(f64::INFINITY), b'd')),
        "+inf" => return Ok((Scalar::Float(f64::INFINITY), b'p')),
        "-inf" => return Ok((Scalar::Float(f64::NEG_INFINITY), b'd')),
        "nan" | "+nan" | "-nan" => return Ok((Scalar::Float(f64::NAN), b'd')),
        _ => {}
    }
    let b = tok.as_bytes();
    let datelike = b.len() >= 10 && b[4] == b'-' && b[..4].iter().all(u8::is_ascii_digit);
    if datelike || tok.contains(':') {
        let text = if space {
            tok.replacen(' ', "T", 1)
        } else {
            tok.to_string()
        };
        if is_rfc3339(&text) {
            return Ok((Scalar::Time(text), if space { b' ' } else { b'd' }));
        }
        // A local date, time or date-time: kept as text, written back unquoted.
        return Ok((Scalar::Str(tok.to_string()), b'D'));
    }
    let (sign, digits) = match b.first() {
        Some(b'+') => (1, &tok[1..]),
        Some(b'-') => (-1, &tok[1..]),
        _ => (1, tok),
    };
    for (prefix, radix, style) in [("0x", 16, b'x'), ("0o", 8, b'o'), ("0b", 2, b'y')] {
        if let Some(rest) = digits.strip_prefix(prefix) {
            let clean: String = rest.chars().filter(|&c| c != '_').collect();
            let v = i64::from_str_radix(&clean, radix).map_err(|_| {
                FormatError::Unsupported(format!("toml: integer {tok} does not fit in 64 bits"))
            })?;
            let style = if style == b'x' && clean.bytes().any(|c| c.is_ascii_uppercase()) {
                b'X'
            } else {
                style
            };
            return Ok((Scalar::Int(v * sign), style));
        }
    }
    let clean: String = tok.chars().filter(|&c| c != '_').collect();
    if digits.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        let v: f64 = clean.parse().map_err(|_| bad())?;
        let style = match (
            b.first() == Some(&b'+'),
            digits.contains('e'),
            digits.contains('E'),
        ) {
            (false, true, _) => b'e',
            (false, _, true) => b'E',
            (true, false, false) => b'p',
            _ => b'd',
        };
        return Ok((Scalar::Float(v), style));
    }
    let v: i64 = clean.parse().map_err(|_| {
        FormatError::Unsupported(format!("toml: integer {tok} does not fit in 64 bits"))
    })?;
    let style = if tok.contains('_') {
        b'_'
    } else if b.first() == Some(&b'+') {
        b'+'
    } else {
        b'd'
    };
    Ok((Scalar::Int(v), style))
}

/// FNV-1a hash of the tree's shape: keys, containers and layouts, leaf and comment positions.
fn shape_hash(root: &Map, skip_first: bool) -> u64 {
    struct H(u64);
    impl H {
        fn feed(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 ^= u64::from(b);
                self.0 = self.0.wrapping_mul(0x100_0000_01b3);
            }
        }
        fn map(&mut self, m: &Map, skip_first: bool) {
            self.feed(&[b'M', m.layout as u8]);
            for item in m.items.iter().skip(usize::from(skip_first)) {
                match item {
                    MapItem::Entry(e) => {
                        self.feed(b"K");
                        self.feed(e.key.as_bytes());
                        self.feed(&[0]);
                        self.node(&e.value);
                    }
                    MapItem::Comment(_) => self.feed(b"C"),
                }
            }
            self.feed(b"}");
        }
        fn node(&mut self, n: &Node) {
            match n {
                Node::Map(m) => self.map(m, false),
                Node::Seq(s) => {
                    self.feed(&[b'Q', s.layout as u8]);
                    for item in &s.items {
                        match item {
                            SeqItem::Node(n) => self.node(n),
                            SeqItem::Comment(_) => self.feed(b"C"),
                        }
                    }
                    self.feed(b"]");
                }
                Node::Scalar(_) => self.feed(b"S"),
            }
        }
    }
    let mut h = H(0xcbf2_9ce4_8422_2325);
    h.map(root, skip_first);
    h.0
}

/// One value or comment of the tree, in document order, for filling a layout record.
enum Slot<'a> {
    Value(&'a Scalar),
    Comment(&'a str),
}

fn collect_slots<'a>(node: &'a Node, out: &mut Vec<Slot<'a>>) {
    match node {
        Node::Map(m) => collect_map_slots(m, 0, out),
        Node::Seq(s) => {
            for item in &s.items {
                match item {
                    SeqItem::Node(n) => collect_slots(n, out),
                    SeqItem::Comment(c) => out.push(Slot::Comment(&c.text)),
                }
            }
        }
        Node::Scalar(s) => out.push(Slot::Value(s)),
    }
}

fn collect_map_slots<'a>(m: &'a Map, skip: usize, out: &mut Vec<Slot<'a>>) {
    for item in m.items.iter().skip(skip) {
        match item {
            MapItem::Entry(e) => collect_slots(&e.value, out),
            MapItem::Comment(c) => out.push(Slot::Comment(&c.text)),
        }
    }
}

/// Emits the document: through its layout record when the tree still fits it, else in the
/// default layout.
fn emit_document(doc: &Document) -> Result<Vec<u8>, FormatError> {
    if let Some(MapItem::Comment(c)) = doc.items.first() {
        if let Some(rest) = c
            .text
            .strip_prefix(LAYOUT_MARK)
            .filter(|r| r.contains('\n'))
        {
            if let Some(out) = fill_layout(doc, rest) {
                return Ok(out);
            }
            return Emitter::default_document(doc, true);
        }
    }
    Emitter::default_document(doc, false)
}

/// Fills a layout record with the tree's values and comments; `None` if they do not fit.
fn fill_layout(doc: &Document, record: &str) -> Option<Vec<u8>> {
    let (hash, skel) = record.split_once('\n')?;
    if u64::from_str_radix(hash, 16).ok()? != shape_hash(doc, true) {
        return None;
    }
    let mut slots = Vec::with_capacity(skel.len() / 16 + 8);
    collect_map_slots(doc, 1, &mut slots);
    let mut slots = slots.into_iter();
    let mut e = Emitter::with_capacity(skel.len() * 2 + 64);
    let b = skel.as_bytes();
    let mut i = 0;
    let mut run = 0;
    while i < b.len() {
        match b[i] {
            PH_VALUE => {
                e.out.extend_from_slice(&b[run..i]);
                let style = *b.get(i + 1)?;
                match slots.next()? {
                    Slot::Value(s) => e.styled_scalar(s, style).ok()?,
                    Slot::Comment(_) => return None,
                }
                i += 2;
                run = i;
            }
            PH_COMMENT => {
                e.out.extend_from_slice(&b[run..i]);
                match slots.next()? {
                    Slot::Comment(t) if !t.contains(['\n', '\r']) => {
                        e.out.extend_from_slice(t.as_bytes())
                    }
                    _ => return None,
                }
                i += 1;
                run = i;
            }
            _ => i += 1,
        }
    }
    e.out.extend_from_slice(&b[run..]);
    if slots.next().is_some() {
        return None;
    }
    Some(e.out)
}

/// How an entry of a table is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// On a `key = value` line (or several dotted lines) of the table's body.
    Body,
    /// Under its own `[header]`.
    Table,
    /// Only through its sub-tables' headers.
    Implicit,
    /// As `[[header]]` elements.
    ArrayOfTables,
}

fn is_array_of_tables(s: &Seq) -> bool {
    matches!(s.layout, Layout::Table | Layout::Block)
        && !s.items.is_empty()
        && s.items
            .iter()
            .all(|i| matches!(i, SeqItem::Node(Node::Map(_))))
}

fn natural_kind(node: &Node) -> Kind {
    match node {
        Node::Map(m) => match m.layout {
            Layout::Table => Kind::Table,
            Layout::Block => {
                let implicit = !m.items.is_empty()
                    && m.items.iter().all(|i| match i {
                        MapItem::Entry(e) => natural_kind(&e.value) != Kind::Body,
                        MapItem::Comment(_) => false,
                    });
                if implicit {
                    Kind::Implicit
                } else {
                    Kind::Table
                }
            }
            Layout::Dotted | Layout::Inline => Kind::Body,
        },
        Node::Seq(s) if is_array_of_tables(s) => Kind::ArrayOfTables,
        _ => Kind::Body,
    }
}

/// How each item of a table's map is written. Without `reorder`, a header kind that has a
/// body item after it is written in the body instead, to keep document order.
fn kinds(m: &Map, reorder: bool) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = m
        .items
        .iter()
        .map(|i| match i {
            MapItem::Entry(e) => natural_kind(&e.value),
            MapItem::Comment(_) => Kind::Body,
        })
        .collect();
    if !reorder {
        if let Some(last_body) = kinds.iter().rposition(|k| *k == Kind::Body) {
            for k in &mut kinds[..last_body] {
                *k = Kind::Body;
            }
        }
    }
    kinds
}

/// Writes TOML text into one buffer.
struct Emitter {
    out: Vec<u8>,
}

impl Emitter {
    fn with_capacity(n: usize) -> Self {
        Emitter {
            out: Vec::with_capacity(n),
        }
    }

    /// The document in the default layout (`skip_first`: leave out a stale layout record).
    fn default_document(doc: &Document, skip_first: bool) -> Result<Vec<u8>, FormatError> {
        let mut e = Emitter::with_capacity(4096);
        let mut view;
        let doc = if skip_first {
            view = doc.clone();
            view.items.remove(0);
            &view
        } else {
            doc
        };
        e.table_contents(doc, &mut Vec::new(), false, false, 0)?;
        Ok(e.out)
    }

    /// The body of a table, then its sub-tables. `path` is the table's key path.
    fn table_contents<'a>(
        &mut self,
        m: &'a Map,
        path: &mut Vec<&'a str>,
        reorder: bool,
        skip_first: bool,
        depth: usize,
    ) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::Emit("toml: the tree nests too deeply".into()));
        }
        let kinds = kinds(m, reorder);
        self.body(m, &kinds, skip_first, &mut Vec::new(), depth)?;
        for (item, kind) in m.items.iter().zip(&kinds) {
            let MapItem::Entry(e) = item else { continue };
            let reorder = reorder || (depth == 0 && e.key == "sops");
            path.push(&e.key);
            match (kind, &e.value) {
                (Kind::Table, Node::Map(child)) => {
                    let trailing = self.header(path, false, child)?;
                    self.table_contents(child, path, reorder, trailing, depth + 1)?;
                }
                (Kind::Implicit, Node::Map(child)) => {
                    self.table_contents(child, path, reorder, false, depth + 1)?;
                }
                (Kind::ArrayOfTables, Node::Seq(s)) => {
                    for n in s.values() {
                        if let Node::Map(child) = n {
                            let trailing = self.header(path, true, child)?;
                            self.table_contents(child, path, reorder, trailing, depth + 1)?;
                        }
                    }
                }
                _ => {}
            }
            path.pop();
        }
        Ok(())
    }

    /// A `[header]` line; a first comment of the table goes at its end (returns true then).
    fn header(&mut self, path: &[&str], aot: bool, table: &Map) -> Result<bool, FormatError> {
        if !self.out.is_empty() {
            self.out.push(b'\n');
        }
        self.out.extend_from_slice(if aot { b"[[" } else { b"[" });
        for (i, k) in path.iter().enumerate() {
            if i > 0 {
                self.out.push(b'.');
            }
            self.key(k);
        }
        self.out.extend_from_slice(if aot { b"]]" } else { b"]" });
        let trailing = match table.items.first() {
            Some(MapItem::Comment(c)) if !c.text.contains(['\n', '\r']) => {
                self.out.extend_from_slice(b" #");
                self.out.extend_from_slice(c.text.as_bytes());
                true
            }
            _ => false,
        };
        self.out.push(b'\n');
        Ok(trailing)
    }

    fn comment_line(&mut self, text: &str) {
        for line in text.split('\n') {
            self.out.push(b'#');
            self.out
                .extend_from_slice(line.trim_end_matches('\r').as_bytes());
            self.out.push(b'\n');
        }
    }

    /// The `key = value` lines of a map (dotted maps recurse with a longer `prefix`).
    fn body<'a>(
        &mut self,
        m: &'a Map,
        kinds: &[Kind],
        skip_first: bool,
        prefix: &mut Vec<&'a str>,
        depth: usize,
    ) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::Emit("toml: the tree nests too deeply".into()));
        }
        let mut i = usize::from(skip_first);
        while i < m.items.len() {
            let kind = kinds.get(i).copied().unwrap_or(Kind::Body);
            match &m.items[i] {
                MapItem::Comment(c) => self.comment_line(&c.text),
                MapItem::Entry(e) if kind == Kind::Body => {
                    let dotted = match &e.value {
                        Node::Map(child) if child.layout != Layout::Inline => {
                            child.entries().next().is_some()
                        }
                        _ => false,
                    };
                    if let (true, Node::Map(child)) = (dotted, &e.value) {
                        prefix.push(&e.key);
                        let all_body = vec![Kind::Body; child.items.len()];
                        self.body(child, &all_body, false, prefix, depth + 1)?;
                        prefix.pop();
                    } else {
                        for k in prefix.iter() {
                            self.key(k);
                            self.out.push(b'.');
                        }
                        self.key(&e.key);
                        self.out.extend_from_slice(b" = ");
                        self.line_value(&e.value, depth + 1)?;
                        if let Some(MapItem::Comment(c)) = m.items.get(i + 1) {
                            if !c.text.contains(['\n', '\r']) {
                                self.out.extend_from_slice(b" #");
                                self.out.extend_from_slice(c.text.as_bytes());
                                i += 1;
                            }
                        }
                        self.out.push(b'\n');
                    }
                }
                MapItem::Entry(_) => {}
            }
            i += 1;
        }
        Ok(())
    }

    fn key(&mut self, k: &str) {
        let bare = !k.is_empty()
            && k.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if bare {
            self.out.extend_from_slice(k.as_bytes());
        } else {
            self.basic_string(k);
        }
    }

    /// The value of a `key = value` line: multi-line strings are written as `"""` strings.
    fn line_value(&mut self, v: &Node, depth: usize) -> Result<(), FormatError> {
        match v {
            Node::Scalar(Scalar::Str(s)) if s.contains('\n') => {
                self.multiline_basic(s, true, false);
                Ok(())
            }
            _ => self.inline_value(v, depth, false),
        }
    }

    /// A value inside a line: scalars, `[...]` arrays and `{ ... }` inline tables.
    fn inline_value(&mut self, v: &Node, depth: usize, nested: bool) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::Emit("toml: the tree nests too deeply".into()));
        }
        match v {
            Node::Scalar(s) => self.styled_scalar(s, b'd'),
            Node::Seq(s) => {
                let has_comment = s.items.iter().any(|i| matches!(i, SeqItem::Comment(_)));
                if !has_comment {
                    self.out.push(b'[');
                    for (i, n) in s.values().enumerate() {
                        if i > 0 {
                            self.out.extend_from_slice(b", ");
                        }
                        self.inline_value(n, depth + 1, true)?;
                    }
                    self.out.push(b']');
                    return Ok(());
                }
                let indent = depth.min(64) * 4;
                self.out.extend_from_slice(b"[\n");
                for item in &s.items {
                    self.out.extend(std::iter::repeat_n(b' ', indent + 4));
                    match item {
                        SeqItem::Node(n) => {
                            self.inline_value(n, depth + 1, true)?;
                            self.out.extend_from_slice(b",\n");
                        }
                        SeqItem::Comment(c) => {
                            self.out.push(b'#');
                            let line = c.text.replace(['\n', '\r'], " ");
                            self.out.extend_from_slice(line.as_bytes());
                            self.out.push(b'\n');
                        }
                    }
                }
                self.out.extend(std::iter::repeat_n(b' ', indent));
                self.out.push(b']');
                Ok(())
            }
            Node::Map(m) => {
                let _ = nested;
                if m.entries().next().is_none() {
                    self.out.extend_from_slice(b"{}");
                    return Ok(());
                }
                self.out.extend_from_slice(b"{ ");
                let mut first = true;
                self.inline_entries(m, &mut Vec::new(), &mut first, depth)?;
                self.out.extend_from_slice(b" }");
                Ok(())
            }
        }
    }

    fn inline_entries<'a>(
        &mut self,
        m: &'a Map,
        prefix: &mut Vec<&'a str>,
        first: &mut bool,
        depth: usize,
    ) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::Emit("toml: the tree nests too deeply".into()));
        }
        for e in m.entries() {
            match &e.value {
                Node::Map(child)
                    if child.layout == Layout::Dotted && child.entries().next().is_some() =>
                {
                    prefix.push(&e.key);
                    self.inline_entries(child, prefix, first, depth + 1)?;
                    prefix.pop();
                }
                v => {
                    if !*first {
                        self.out.extend_from_slice(b", ");
                    }
                    *first = false;
                    for k in prefix.iter() {
                        self.key(k);
                        self.out.push(b'.');
                    }
                    self.key(&e.key);
                    self.out.extend_from_slice(b" = ");
                    self.inline_value(v, depth + 1, true)?;
                }
            }
        }
        Ok(())
    }

    /// A scalar in the given style letter (see the layout record), falling back to the
    /// default spelling when the style cannot hold the value.
    fn styled_scalar(&mut self, s: &Scalar, style: u8) -> Result<(), FormatError> {
        match s {
            Scalar::Null => {
                return Err(FormatError::Emit(
                    "toml: cannot store a null value in TOML".into(),
                ))
            }
            Scalar::Bool(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Scalar::Int(i) => {
                let text = match style {
                    b'x' if *i >= 0 => format!("0x{i:x}"),
                    b'X' if *i >= 0 => format!("0x{i:X}"),
                    b'o' if *i >= 0 => format!("0o{i:o}"),
                    b'y' if *i >= 0 => format!("0b{i:b}"),
                    b'+' if *i >= 0 => format!("+{i}"),
                    b'_' => group_thousands(*i),
                    _ => i.to_string(),
                };
                self.out.extend_from_slice(text.as_bytes());
            }
            Scalar::Float(f) => {
                let text = format_float(*f, style);
                self.out.extend_from_slice(text.as_bytes());
            }
            Scalar::Time(t) => {
                let text = if style == b' ' && t.as_bytes().get(10) == Some(&b'T') {
                    let mut t = t.clone();
                    t.replace_range(10..11, " ");
                    t
                } else {
                    t.clone()
                };
                if is_toml_datetime(&text) {
                    self.out.extend_from_slice(text.as_bytes());
                } else {
                    self.basic_string(&text);
                }
            }
            Scalar::Str(s) => self.styled_string(s, style),
            Scalar::Bytes(b) => self.styled_string(&String::from_utf8_lossy(b), style),
        }
        Ok(())
    }

    fn styled_string(&mut self, s: &str, style: u8) {
        let literal_ok = |ml: bool| {
            s.chars().all(|c| match c {
                '\'' => ml,
                '\t' => true,
                '\n' | '\r' => ml,
                c => !c.is_control(),
            }) && !(ml && (s.contains("'''") || s.replace("\r\n", "").contains('\r')))
        };
        match style {
            b'l' if literal_ok(false) => {
                self.out.push(b'\'');
                self.out.extend_from_slice(s.as_bytes());
                self.out.push(b'\'');
            }
            b'L' | b'M' | b'P' if literal_ok(true) && !(style == b'L' && s.starts_with('\n')) => {
                self.out.extend_from_slice(b"'''");
                match style {
                    b'M' => self.out.push(b'\n'),
                    b'P' => self.out.extend_from_slice(b"\r\n"),
                    _ => {}
                }
                self.out.extend_from_slice(s.as_bytes());
                self.out.extend_from_slice(b"'''");
            }
            b'B' | b'N' | b'R' | b'L' | b'M' | b'P' => {
                let crlf = matches!(style, b'R' | b'P');
                let lead = !matches!(style, b'B' | b'L') || s.starts_with('\n');
                self.multiline_basic(s, lead, crlf);
            }
            b'D' if is_toml_datetime(s) => self.out.extend_from_slice(s.as_bytes()),
            _ => self.basic_string(s),
        }
    }

    fn basic_string(&mut self, s: &str) {
        self.out.reserve(s.len() + 2);
        self.out.push(b'"');
        let mut run = 0;
        for (i, c) in s.char_indices() {
            let esc: Option<&[u8]> = match c {
                '"' => Some(b"\\\""),
                '\\' => Some(b"\\\\"),
                '\u{8}' => Some(b"\\b"),
                '\t' => Some(b"\\t"),
                '\n' => Some(b"\\n"),
                '\u{c}' => Some(b"\\f"),
                '\r' => Some(b"\\r"),
                c if c.is_control() => None,
                _ => continue,
            };
            self.out.extend_from_slice(&s.as_bytes()[run..i]);
            match esc {
                Some(e) => self.out.extend_from_slice(e),
                None => self
                    .out
                    .extend_from_slice(format!("\\u{:04X}", c as u32).as_bytes()),
            }
            run = i + c.len_utf8();
        }
        self.out.extend_from_slice(&s.as_bytes()[run..]);
        self.out.push(b'"');
    }

    fn multiline_basic(&mut self, s: &str, lead: bool, crlf: bool) {
        self.out.extend_from_slice(b"\"\"\"");
        if lead {
            self.out
                .extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        let chars: Vec<char> = s.chars().collect();
        let mut quotes = 0;
        for (i, &c) in chars.iter().enumerate() {
            if c != '"' {
                quotes = 0;
            }
            match c {
                '"' => {
                    quotes += 1;
                    if quotes == 3 {
                        self.out.extend_from_slice(b"\\\"");
                        quotes = 0;
                    } else {
                        self.out.push(b'"');
                    }
                }
                '\\' => self.out.extend_from_slice(b"\\\\"),
                '\n' | '\t' => self.out.push(c as u8),
                '\r' if crlf && chars.get(i + 1) == Some(&'\n') => self.out.push(b'\r'),
                '\r' => self.out.extend_from_slice(b"\\r"),
                '\u{8}' => self.out.extend_from_slice(b"\\b"),
                '\u{c}' => self.out.extend_from_slice(b"\\f"),
                c if c.is_control() => self
                    .out
                    .extend_from_slice(format!("\\u{:04X}", c as u32).as_bytes()),
                c => {
                    let mut buf = [0u8; 4];
                    self.out
                        .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        self.out.extend_from_slice(b"\"\"\"");
    }
}

/// `1234567` as `1_234_567`.
fn group_thousands(i: i64) -> String {
    let digits = i.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if i < 0 {
        out.push('-');
    }
    for (n, c) in digits.chars().enumerate() {
        if n > 0 && (digits.len() - n).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// A float as TOML: Rust's shortest round-trip form (`1.0`, `0.1`, `1e-7`), or `{:e}` forms.
fn format_float(f: f64, style: u8) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    let plus = if style == b'p' && f.is_sign_positive() {
        "+"
    } else {
        ""
    };
    if f.is_infinite() {
        return if f > 0.0 {
            format!("{plus}inf")
        } else {
            "-inf".into()
        };
    }
    match style {
        b'e' => format!("{f:e}"),
        b'E' => format!("{f:E}"),
        _ => format!("{plus}{f:?}"),
    }
}

/// True for an RFC 3339 instant as the crypt layer accepts for `type:time`: a date, `T`, a
/// time with seconds and an offset (`1979-05-27T07:32:00Z`, `...00.5-07:00`).
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    is_toml_datetime(s)
        && b.len() >= 20
        && matches!(b[10], b'T' | b't')
        && b[16] == b':'
        && matches!(b[b.len() - 1], b'Z' | b'z' | b'0'..=b'9')
        && (matches!(b[b.len() - 1], b'Z' | b'z')
            || b[b.len() - 3] == b':' && matches!(b[b.len() - 6], b'+' | b'-'))
}

/// True if `s` is written like a TOML date, time or date-time (so it may stay unquoted).
fn is_toml_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
    };
    let time_at = |i: usize| -> Option<usize> {
        if !(digits(i..i + 2) && b.get(i + 2) == Some(&b':') && digits(i + 3..i + 5)) {
            return None;
        }
        let mut j = i + 5;
        if b.get(j) == Some(&b':') {
            if !digits(j + 1..j + 3) {
                return None;
            }
            j += 3;
            if b.get(j) == Some(&b'.') {
                let start = j + 1;
                j = start;
                while b.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
                if j == start {
                    return None;
                }
            }
        }
        Some(j)
    };
    let date = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10);
    if !date {
        return time_at(0) == Some(b.len());
    }
    if b.len() == 10 {
        return true;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return false;
    }
    let Some(j) = time_at(11) else { return false };
    match &b[j..] {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> EmitOptions {
        EmitOptions::default()
    }

    fn samples() -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/toml");
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .expect("testdata/toml")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        out.sort();
        for (i, s) in INLINE_SAMPLES.iter().enumerate() {
            out.push((format!("inline-{i}"), s.as_bytes().to_vec()));
        }
        out
    }

    const INLINE_SAMPLES: &[&str] = &[
        "a = 1\n",
        "a = \"x\"\n[t]\nb = 2\n",
        "[t] # c\nx.y = 1\n",
        "[t]\n# c\nx.y = 1\n",
        "x = 1 # t\n# l\ny.z = 2\n",
        "a.b = 1 # t\na.c = 2\n",
        "a.b = 1\n# c\na.c = 2\n",
        "[a.b]\n[a]\nx = 1\n",
        "arr = [\n  1, # one\n  [2, # two\n  3],\n]\n",
        "[[a]]\n# c\n[[a]]\nx = 1\n",
        "s = \"quote \\\" back \\\\ tab \\t nl \\n ctrl \\u0001\"\n",
        "m = \"\"\"\na \"\"\\\" b\"\"\"\"\n",
        "m = \"\"\"x\"\"\"\"\"\n",
        "lit = '''\n\nfirst newline kept'''\n",
        "k = 1\n\n\n# end",
        "\u{feff}a = 1\n",
        "#@toml-layout v1 0\na = 1\n",
        "big = 9223372036854775807\nsmall = -9223372036854775808\n",
        "f = 1.0\ng = 0.1\nh = 1e-7\ni = -0.0\n",
        "t = 2024-01-02T03:04:05.123456789+05:30\n",
    ];

    fn parse1(x: &[u8]) -> Map {
        let mut docs = Toml.parse_plain(x).expect("parse");
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn plain_round_trip_is_byte_exact() {
        for (name, x) in samples() {
            let doc = parse1(&x);
            let out = Toml.emit_plain(&[doc], &opts()).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&x),
                "{name}"
            );
        }
    }

    /// Replaces every non-empty scalar and every comment by a fake ENC string.
    fn fake_encrypt(doc: &mut Map) -> (Vec<Scalar>, Vec<String>) {
        fn node(n: &mut Node, vals: &mut Vec<Scalar>, coms: &mut Vec<String>) {
            match n {
                Node::Map(m) => map(m, vals, coms),
                Node::Seq(s) => {
                    for item in &mut s.items {
                        match item {
                            SeqItem::Node(n) => node(n, vals, coms),
                            SeqItem::Comment(c) => comment(c, coms),
                        }
                    }
                }
                Node::Scalar(s) => {
                    if !s.is_empty() {
                        let enc = Scalar::Str(format!(
                            "ENC[AES256_GCM,data:v{},iv:yy,tag:zz,type:{}]",
                            vals.len(),
                            s.type_tag()
                        ));
                        vals.push(std::mem::replace(s, enc));
                    }
                }
            }
        }
        fn comment(c: &mut Comment, coms: &mut Vec<String>) {
            let enc = format!(
                "ENC[AES256_GCM,data:c{},iv:yy,tag:zz,type:comment]",
                coms.len()
            );
            coms.push(std::mem::replace(&mut c.text, enc));
        }
        fn map(m: &mut Map, vals: &mut Vec<Scalar>, coms: &mut Vec<String>) {
            for item in &mut m.items {
                match item {
                    MapItem::Entry(e) => node(&mut e.value, vals, coms),
                    MapItem::Comment(c) => comment(c, coms),
                }
            }
        }
        let (mut vals, mut coms) = (Vec::new(), Vec::new());
        map(doc, &mut vals, &mut coms);
        (vals, coms)
    }

    fn restore(doc: &mut Map, vals: &[Scalar], coms: &[String]) {
        fn idx(s: &str, prefix: &str) -> usize {
            let start = s.find(prefix).unwrap() + prefix.len();
            let end = start + s[start..].find(',').unwrap();
            s[start..end].parse().unwrap()
        }
        fn node(n: &mut Node, vals: &[Scalar], coms: &[String]) {
            match n {
                Node::Map(m) => map(m, vals, coms),
                Node::Seq(s) => {
                    for item in &mut s.items {
                        match item {
                            SeqItem::Node(n) => node(n, vals, coms),
                            SeqItem::Comment(c) => c.text = coms[idx(&c.text, "data:c")].clone(),
                        }
                    }
                }
                Node::Scalar(s) => {
                    if let Scalar::Str(t) = s {
                        if t.starts_with("ENC[") && !vals.is_empty() {
                            *s = vals[idx(t, "data:v")].clone();
                        }
                    }
                }
            }
        }
        fn map(m: &mut Map, vals: &[Scalar], coms: &[String]) {
            for item in &mut m.items {
                match item {
                    MapItem::Entry(e) => node(&mut e.value, vals, coms),
                    MapItem::Comment(c) => c.text = coms[idx(&c.text, "data:c")].clone(),
                }
            }
        }
        map(doc, vals, coms);
    }

    fn metadata() -> Node {
        let mut age = Map::new();
        age.push(
            "recipient",
            Node::str("age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx"),
        );
        age.push(
            "enc",
            Node::str("-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBhYmMK\n-----END AGE ENCRYPTED FILE-----\n"),
        );
        let mut list = Seq::new();
        list.push(Node::Map(age));
        let mut kg = Map::new();
        kg.push("age", Node::Seq(list.clone()));
        let mut groups = Seq::new();
        groups.push(Node::Map(kg));
        let mut sops = Map::new();
        sops.push("age", Node::Seq(list));
        sops.push("key_groups", Node::Seq(groups));
        sops.push("shamir_threshold", Node::Scalar(Scalar::Int(1)));
        sops.push("lastmodified", Node::str("2026-11-23T08:47:46Z"));
        sops.push(
            "mac",
            Node::str("ENC[AES256_GCM,data:mac,iv:i,tag:t,type:str]"),
        );
        sops.push("unencrypted_suffix", Node::str("_unencrypted"));
        sops.push("version", Node::str("3.11.0"));
        Node::Map(sops)
    }

    fn sorted_sops(doc: &mut Map) -> Option<Vec<(String, Node)>> {
        let sops = doc.remove("sops")?;
        let Node::Map(m) = sops else {
            panic!("sops is not a map")
        };
        let mut v: Vec<(String, Node)> = m
            .entries()
            .map(|e| (e.key.clone(), strip_layout(&e.value)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Some(v)
    }

    fn strip_layout(n: &Node) -> Node {
        match n {
            Node::Map(m) => Node::Map(Map {
                items: m
                    .items
                    .iter()
                    .map(|i| match i {
                        MapItem::Entry(e) => MapItem::Entry(Entry {
                            key: e.key.clone(),
                            value: strip_layout(&e.value),
                        }),
                        c => c.clone(),
                    })
                    .collect(),
                layout: Layout::Block,
            }),
            Node::Seq(s) => Node::Seq(Seq {
                items: s
                    .items
                    .iter()
                    .map(|i| match i {
                        SeqItem::Node(n) => SeqItem::Node(strip_layout(n)),
                        c => c.clone(),
                    })
                    .collect(),
                layout: Layout::Block,
            }),
            s => s.clone(),
        }
    }

    #[test]
    fn simulated_encryption_round_trips() {
        for (name, x) in samples() {
            if name == "sops_key.toml" {
                continue;
            }
            let plain = parse1(&x);
            let mut enc = plain.clone();
            let (vals, coms) = fake_encrypt(&mut enc);
            enc.push("sops", metadata());
            let bytes = Toml.emit_encrypted(&[enc.clone()], &opts()).unwrap();
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert!(
                text.contains("\n[sops]\n") || text.starts_with("[sops]\n"),
                "{name}: {text}"
            );
            assert!(text.contains("[[sops.age]]\n"), "{name}: {text}");
            for c in &coms {
                let c = format!("#{c}");
                let line = c.lines().next().unwrap_or_default();
                if line.trim().len() >= 3 {
                    assert!(
                        !text.contains(line),
                        "{name}: comment {c:?} leaked:\n{text}"
                    );
                }
            }
            assert!(
                text.parse::<toml_edit::DocumentMut>().is_ok(),
                "{name}: {text}"
            );
            let mut back = parse1(&bytes);
            let again = Toml.emit_encrypted(&[back.clone()], &opts()).unwrap();
            assert_eq!(String::from_utf8_lossy(&again), text, "{name}: re-emit");
            let sops_back = sorted_sops(&mut back).expect("sops");
            let sops_sent = sorted_sops(&mut enc).unwrap();
            assert_eq!(sops_back, sops_sent, "{name}");
            assert_eq!(back, enc, "{name}: tree shape\n{text}");
            restore(&mut back, &vals, &coms);
            let out = Toml.emit_plain(&[back], &opts()).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&x),
                "{name}"
            );
        }
    }

    /// With `encrypted_suffix`-style selectors comments stay plain: the layout record is then
    /// plain too and the encrypted file keeps the original layout around `ENC[...]` values.
    #[test]
    fn plain_comments_with_encrypted_values() {
        for (name, x) in samples() {
            if name == "sops_key.toml" {
                continue;
            }
            let plain = parse1(&x);
            let mut enc = plain.clone();
            let (vals, coms) = fake_encrypt(&mut enc);
            let mut with_plain_comments = enc.clone();
            restore(&mut with_plain_comments, &[], &coms);
            // `restore` with no values only puts the comments back.
            let bytes = Toml
                .emit_encrypted(std::slice::from_ref(&with_plain_comments), &opts())
                .unwrap();
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert!(
                text.parse::<toml_edit::DocumentMut>().is_ok(),
                "{name}: {text}"
            );
            let back = parse1(&bytes);
            assert_eq!(
                shape_hash(&back, has_record(&back)),
                shape_hash(&with_plain_comments, has_record(&with_plain_comments)),
                "{name}: {text}"
            );
            let _ = vals;
        }
    }

    fn has_record(m: &Map) -> bool {
        matches!(m.items.first(), Some(MapItem::Comment(c)) if c.text.starts_with(LAYOUT_MARK))
    }

    #[test]
    fn typing() {
        let doc = parse1(include_bytes!("../../../testdata/toml/types.toml"));
        let get = |k: &str| doc.get(k).and_then(Node::as_scalar).cloned().unwrap();
        assert_eq!(get("int1"), Scalar::Int(99));
        assert_eq!(get("int6"), Scalar::Int(5_349_221));
        assert_eq!(get("hex1"), Scalar::Int(0xDEAD_BEEF));
        assert_eq!(get("oct1"), Scalar::Int(0o755));
        assert_eq!(get("bin1"), Scalar::Int(0b1101_0110));
        assert_eq!(get("flt4"), Scalar::Float(5e22));
        assert_eq!(get("flt6"), Scalar::Float(-2e-2));
        assert_eq!(get("bool1"), Scalar::Bool(true));
        assert_eq!(get("odt1"), Scalar::Time("1979-05-27T07:32:00Z".into()));
        assert_eq!(get("odt4"), Scalar::Time("1979-05-27T07:32:00Z".into()));
        assert_eq!(get("ld1"), Scalar::Str("1979-05-27".into()));
        assert_eq!(get("lt1"), Scalar::Str("07:32:00".into()));
        assert_eq!(
            get("str2"),
            Scalar::Str("C:\\Users\\nodejs\\templates".into())
        );
        assert_eq!(
            get("str1"),
            Scalar::Str(
                "I'm a string. \"You can quote me\". Name\tJos\u{e9}\nLocation\tSF.".into()
            )
        );
        assert_eq!(
            get("ml_basic"),
            Scalar::Str("Roses are red\nViolets are \"blue\"\n".into())
        );
        assert_eq!(get("quoted key"), Scalar::Int(1));
        assert_eq!(get(""), Scalar::Str("empty key".into()));
    }

    #[test]
    fn tables_and_layouts() {
        let doc = parse1(b"a.b = 1\n[t]\nx = {y = [1]}\n[[l]]\n[[l]]\n[p.q]\n");
        let items: Vec<&Entry> = doc.entries().collect();
        assert_eq!(items[0].value.as_map().unwrap().layout, Layout::Dotted);
        let t = items[1].value.as_map().unwrap();
        assert_eq!(t.layout, Layout::Table);
        assert_eq!(t.get("x").unwrap().as_map().unwrap().layout, Layout::Inline);
        match &items[2].value {
            Node::Seq(s) => {
                assert_eq!(s.layout, Layout::Table);
                assert_eq!(s.values().count(), 2);
            }
            _ => panic!(),
        }
        assert_eq!(items[3].value.as_map().unwrap().layout, Layout::Block);
    }

    #[test]
    fn comments_are_items() {
        let doc = parse1(b"# top\na = 1 # trail\n\n[t] # head\n# in t\nb = 2\n");
        assert!(matches!(&doc.items[0], MapItem::Comment(c) if c.text == " top"));
        assert!(matches!(&doc.items[2], MapItem::Comment(c) if c.text == " trail"));
        let t = doc.get("t").unwrap().as_map().unwrap();
        assert!(matches!(&t.items[0], MapItem::Comment(c) if c.text == " head"));
        assert!(matches!(&t.items[1], MapItem::Comment(c) if c.text == " in t"));
    }

    #[test]
    fn default_layout_has_no_record_and_odd_layout_has_one() {
        let doc = parse1(b"a = 1\n");
        assert_eq!(doc.items.len(), 1);
        let doc = parse1(b"a=1\n");
        assert_eq!(doc.items.len(), 2);
        match &doc.items[0] {
            MapItem::Comment(c) => {
                assert!(c.text.starts_with(LAYOUT_MARK));
                assert_eq!(c.text.split_once('\n').unwrap().1, "a=\u{1}d\n");
            }
            _ => panic!(),
        }
    }

    #[test]
    fn layout_record_holds_no_values_or_comments() {
        let doc = parse1(b"secret='hunter2' # pin 1234\n[t]\nk=\"\"\"\nxyzzy\"\"\"\n");
        let MapItem::Comment(c) = &doc.items[0] else {
            panic!()
        };
        assert!(!c.text.contains("hunter2"));
        assert!(!c.text.contains("1234"));
        assert!(!c.text.contains("xyzzy"));
    }

    #[test]
    fn edited_tree_falls_back_to_default_layout() {
        let mut doc = parse1(b"a=1 # c\n[t]\nb='x'\n");
        if let Some(Node::Map(m)) = doc.get_mut("t") {
            m.push("new", Node::str("v"));
        }
        let out = Toml.emit_plain(&[doc.clone()], &opts()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a = 1 # c\n\n[t]\nb = \"x\"\nnew = \"v\"\n"
        );
        // A changed value keeps the layout.
        let mut doc = parse1(b"a=1 # c\n[t]\nb='x'\n");
        if let Some(Node::Map(t)) = doc.get_mut("t") {
            if let Some(v) = t.get_mut("b") {
                *v = Node::str("it's");
            }
        }
        let out = Toml.emit_plain(&[doc], &opts()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a=1 # c\n[t]\nb=\"it's\"\n"
        );
    }

    #[test]
    fn trees_from_other_formats_emit_valid_toml_in_order() {
        let mut inner = Map::new();
        inner.push("x", Node::Scalar(Scalar::Int(1)));
        inner.push_comment(" inner");
        let mut list = Seq::new();
        list.push(Node::str("a"));
        list.items.push(SeqItem::Comment(Comment::new(" between")));
        list.push(Node::Scalar(Scalar::Float(1.5)));
        let mut maps = Seq::new();
        maps.push(Node::Map(inner.clone()));
        let mut doc = Map::new();
        doc.push_comment(" top");
        doc.push("m", Node::Map(inner.clone()));
        doc.push("after", Node::Scalar(Scalar::Bool(true)));
        doc.push("l", Node::Seq(list));
        doc.push("maps", Node::Seq(maps));
        doc.push("last", Node::Map(inner));
        let out = Toml.emit_plain(&[doc.clone()], &opts()).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.parse::<toml_edit::DocumentMut>().is_ok(), "{text}");
        let back = parse1(&out);
        assert_eq!(
            strip_layout(&Node::Map(back)),
            strip_layout(&Node::Map(doc)),
            "{text}"
        );
        let mut m = Map::new();
        m.push("n", Node::Scalar(Scalar::Null));
        let err = Toml.emit_plain(&[m], &opts());
        assert!(matches!(err, Err(FormatError::Emit(_))));
    }

    #[test]
    fn extract_values() {
        let doc = parse1(b"s = \"hello\"\nn = 42\nf = 1.5\n[t]\nx = 1\nl = [1, \"two\"]\n");
        let v = |k: &str| Toml.emit_value(doc.get(k).unwrap(), &opts()).unwrap();
        assert_eq!(v("s"), b"hello");
        assert_eq!(v("n"), b"42\n");
        assert_eq!(v("f"), b"1.5\n");
        assert_eq!(v("t"), b"x = 1\nl = [1, \"two\"]\n");
    }

    #[test]
    fn errors_and_limits() {
        let bad: [&[u8]; 5] = [
            b"a = ",
            b"a = 1\na = 2\n",
            b"[a\n",
            b"\xff = 1",
            b"a = 99999999999999999999\n",
        ];
        for bad in bad {
            assert!(
                Toml.parse_plain(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("a = {}{}\n", "[".repeat(5000), "]".repeat(5000));
        assert!(Toml.parse_plain(deep.as_bytes()).is_err());
        let deep_table = format!("[{}]\n", vec!["k"; 3000].join("."));
        let _ = Toml.parse_plain(deep_table.as_bytes());
        // Arbitrary bytes never panic, and whatever parses round-trips.
        let mut seed = 1u64;
        for _ in 0..3000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 40) as usize % 40;
            let mut s = Vec::new();
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let alphabet = b"ab =.[]{}\"'#\n,01x-:T+e_\\\r\t";
                s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            if let Ok(docs) = Toml.parse_plain(&s) {
                let out = Toml.emit_plain(&docs, &opts()).unwrap();
                assert_eq!(out, s, "{:?}", String::from_utf8_lossy(&s));
            }
        }
    }

    #[test]
    fn known_spelling_losses() {
        let x = b"a = \"Jos\\u00E9\"\nb = 1e06\nc = 0x00ff\nd = 1_0\ne = \"\"\"x\\\n  y\"\"\"\n";
        let out = Toml.emit_plain(&[parse1(x)], &opts()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a = \"Jos\u{e9}\"\nb = 1e6\nc = 0xff\nd = 1_0\ne = \"\"\"xy\"\"\"\n"
                .replace("1_0", "10")
        );
    }

    #[test]
    fn a_top_level_sops_key_is_just_parsed() {
        let doc = parse1(b"sops = 1\n");
        assert_eq!(doc.get("sops"), Some(&Node::Scalar(Scalar::Int(1))));
    }

    #[test]
    fn large_file_round_trips() {
        let mut s = String::new();
        for i in 0..20_000 {
            s.push_str(&format!(
                "[t{i}]\nname = \"value {i}\"\nn = {i}\n# c\nl = [1, 2]\n"
            ));
        }
        let doc = parse1(s.as_bytes());
        let out = Toml.emit_plain(&[doc], &opts()).unwrap();
        assert_eq!(out, s.as_bytes());
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.next() as usize % xs.len()]
        }
        fn chance(&mut self, n: u64) -> bool {
            self.next().is_multiple_of(n)
        }
    }

    fn gen_value(r: &mut Rng, depth: usize) -> String {
        let scalars = [
            "1",
            "-7",
            "+3",
            "1_000",
            "0xFF",
            "0o17",
            "0b101",
            "3.5",
            "-0.0",
            "1e3",
            "2E-2",
            "inf",
            "true",
            "false",
            "\"s\"",
            "'lit'",
            "\"\"",
            "\"a\\tb\"",
            "\"\"\"\nml\n\"\"\"",
            "'''x'''",
            "1979-05-27",
            "07:32:00",
            "1979-05-27T07:32:00Z",
            "1979-05-27 07:32:00+01:00",
            "\"日本\"",
        ];
        match r.next() % 8 {
            0 if depth < 3 => {
                let n = r.next() % 4;
                let multi = r.chance(2);
                let mut s = String::from("[");
                for i in 0..n {
                    if multi {
                        s.push_str("\n  ");
                        if r.chance(3) {
                            s.push_str("# in array\n  ");
                        }
                    }
                    s.push_str(&gen_value(r, depth + 1));
                    if i + 1 < n || r.chance(2) {
                        s.push(',');
                        if multi && r.chance(3) {
                            s.push_str(" # after");
                        }
                    }
                }
                if multi {
                    s.push('\n');
                }
                s.push(']');
                s
            }
            1 if depth < 3 => {
                let n = r.next() % 3;
                let mut s = String::from("{");
                for i in 0..n {
                    s.push_str(if i == 0 { " " } else { ", " });
                    s.push_str(&format!("k{i} = {}", gen_value(r, depth + 1)));
                }
                s.push_str(if n > 0 { " }" } else { "}" });
                s
            }
            _ => r.pick(&scalars).to_string(),
        }
    }

    fn gen_doc(r: &mut Rng) -> String {
        let mut s = String::new();
        let headers = [
            "[a]",
            "[b]",
            "[a.c]",
            "[[t]]",
            "[[t]]",
            "[d.e.f]",
            "[ q ]",
            "[\"x y\"]",
        ];
        let mut used = std::collections::HashSet::new();
        let mut keyn = 0;
        for _ in 0..(r.next() % 8) {
            match r.next() % 6 {
                0 => {
                    let h = r.pick(&headers);
                    if !h.starts_with("[[") && !used.insert(h) {
                        continue;
                    }
                    if r.chance(2) {
                        s.push('\n');
                    }
                    s.push_str(h);
                    if r.chance(3) {
                        s.push_str(" # header");
                    }
                    s.push('\n');
                }
                1 => s.push_str(r.pick(&["# comment\n", "\n", "  # indented\n", "#\n"])),
                _ => {
                    keyn += 1;
                    let key = match r.next() % 4 {
                        0 => format!("p.k{keyn}"),
                        1 => format!("\"k {keyn}\""),
                        _ => format!("k{keyn}"),
                    };
                    let eq = r.pick(&[" = ", "=", "   = "]);
                    s.push_str(&format!(
                        "{}{key}{eq}{}",
                        r.pick(&["", "  "]),
                        gen_value(r, 0)
                    ));
                    if r.chance(3) {
                        s.push_str(" # trailing");
                    }
                    s.push('\n');
                }
            }
        }
        s
    }

    #[test]
    fn generated_documents_round_trip() {
        let mut r = Rng(42);
        let mut checked = 0;
        for _ in 0..3000 {
            let x = gen_doc(&mut r);
            if x.parse::<toml_edit::DocumentMut>().is_err() {
                continue;
            }
            checked += 1;
            let plain = parse1(x.as_bytes());
            let out = Toml
                .emit_plain(std::slice::from_ref(&plain), &opts())
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out), x);
            let mut enc = plain.clone();
            let (vals, coms) = fake_encrypt(&mut enc);
            enc.push("sops", metadata());
            let bytes = Toml.emit_encrypted(&[enc.clone()], &opts()).unwrap();
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert!(
                text.parse::<toml_edit::DocumentMut>().is_ok(),
                "{x}\n---\n{text}"
            );
            let mut back = parse1(&bytes);
            sorted_sops(&mut back).unwrap();
            sorted_sops(&mut enc).unwrap();
            assert_eq!(back, enc, "{x}\n---\n{text}");
            restore(&mut back, &vals, &coms);
            let out = Toml.emit_plain(&[back], &opts()).unwrap();
            assert_eq!(String::from_utf8_lossy(&out), x);
            // Without the layout record the default layout still parses back to the tree.
            let mut bare = plain.clone();
            if matches!(bare.items.first(), Some(MapItem::Comment(c)) if c.text.starts_with(LAYOUT_MARK))
            {
                bare.items.remove(0);
            }
            let out = Toml
                .emit_plain(std::slice::from_ref(&bare), &opts())
                .unwrap();
            let again = parse1(&out);
            let mut again_bare = again.clone();
            if matches!(again_bare.items.first(), Some(MapItem::Comment(c)) if c.text.starts_with(LAYOUT_MARK))
            {
                again_bare.items.remove(0);
            }
            assert_eq!(
                again_bare,
                bare,
                "{x}\n---\n{}",
                String::from_utf8_lossy(&out)
            );
        }
        assert!(checked > 500, "{checked}");
    }
}

#[cfg(test)]
/// A manual timing run on a 3.5 MB file: `cargo test --release -p sops-core format::toml::perf_probe -- --ignored --nocapture`.
mod perf_probe {
    use super::*;

    #[test]
    #[ignore]
    fn perf_probe() {
        let mut s = String::new();
        let mut i = 0;
        while s.len() < 3_500_000 {
            s.push_str(&format!("[section{i}]\nname = \"value number {i}\"\ncount = {i}\nratio = 0.5\n# comment {i}\nlist = [1, 2, \"x\"]\n"));
            i += 1;
        }
        let t = std::time::Instant::now();
        let _ = s.parse::<toml_edit::DocumentMut>().unwrap();
        eprintln!("toml_edit DocumentMut {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let _ = toml_edit::ImDocument::parse(s.as_str()).unwrap();
        eprintln!("toml_edit ImDocument {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let docs = Toml.parse_plain(s.as_bytes()).unwrap();
        let p = t.elapsed();
        let out = Toml.emit_plain(&docs, &EmitOptions::default()).unwrap();
        eprintln!("parse {:?} total {:?} bytes {}", p, t.elapsed(), out.len());
        let s2 = s.replace(" = ", "=");
        let t = std::time::Instant::now();
        let docs = Toml.parse_plain(s2.as_bytes()).unwrap();
        let p = t.elapsed();
        let out = Toml.emit_plain(&docs, &EmitOptions::default()).unwrap();
        eprintln!(
            "with layout: parse {:?} total {:?} ok {}",
            p,
            t.elapsed(),
            out == s2.as_bytes()
        );
    }
}
