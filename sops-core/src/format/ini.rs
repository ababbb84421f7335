//! INI files, read and written exactly as sops 3.11 does through `gopkg.in/ini.v1`.
//!
//! A file is one document whose entries are sections; each section is a flat map of string
//! values. Keys before the first header belong to the implicit `DEFAULT` section, which always
//! comes first (empty or not) and is written without a header. A repeated `[name]` header gives
//! a second section of that name; a repeated key keeps its first position and its last value.
//!
//! Comments follow sops's tree model: comment lines before a header become the section's
//! comment (the first item of the section), comment lines before a key plus the key's inline
//! comment become one comment placed *after* that key, multi-line comments joined with `\n`,
//! and the leading `;`/`#` and spaces stripped. On output every comment line gets a `; ` (or
//! keeps its `#`/`;`) and is written before what it belongs to, `=` is aligned per section and
//! a blank line separates sections. The `[sops]` section is an ordinary section here.
//!
//! Not handled: the ini.v1 options sops does not turn on (shadows, boolean keys, Python
//! multi-line values), exactly as sops.

use std::borrow::Cow;
use std::collections::HashMap;

use super::dotenv::{go_value_string, scalar_to_string};
use super::{Codec, EmitOptions, FormatError};
use crate::number::format_float_json;
use crate::tree::{Document, Map, MapItem, Node, Scalar, SeqItem};

/// The INI codec.
pub struct Ini;

impl Codec for Ini {
    fn parse_plain(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        parse(input).map_err(|e| FormatError::Parse(format!("Could not unmarshal input data: {e}")))
    }

    fn parse_encrypted(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        // sops reports the ini library's error as is when loading an encrypted file.
        parse(input).map_err(FormatError::Parse)
    }

    fn emit_plain(&self, docs: &[Document], _opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        emit(docs).map_err(|e| FormatError::Emit(format!("Error marshaling to ini: {e}")))
    }

    fn emit_value(&self, value: &Node, opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        match value {
            // sops writes an extracted map as a whole file and a string as its raw bytes; any
            // other value goes through Go's json.Marshal.
            Node::Map(m) => self.emit_plain(std::slice::from_ref(m), opts),
            Node::Scalar(Scalar::Str(s)) => Ok(s.as_bytes().to_vec()),
            Node::Scalar(Scalar::Bytes(b)) => Ok(b.clone()),
            other => {
                let mut out = String::new();
                json_value(other, &mut out, 0).map_err(FormatError::Emit)?;
                Ok(out.into_bytes())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// A section while parsing: keys in first-seen order, with their last value and comment.
/// Names and values borrow the input when they can.
struct Section<'a> {
    name: &'a [u8],
    comment: Vec<u8>,
    keys: Vec<ParsedKey<'a>>,
    index: HashMap<Cow<'a, [u8]>, usize>,
}

/// A key while parsing.
struct ParsedKey<'a> {
    name: Cow<'a, [u8]>,
    value: Cow<'a, [u8]>,
    comment: Vec<u8>,
}

impl<'a> Section<'a> {
    fn new(name: &'a [u8]) -> Self {
        Section {
            name,
            comment: Vec::new(),
            keys: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Adds a key or, when it exists, replaces its value in place. Returns its position.
    fn set(&mut self, name: Cow<'a, [u8]>, value: Cow<'a, [u8]>) -> usize {
        if let Some(&i) = self.index.get(&name) {
            self.keys[i].value = value;
            return i;
        }
        let i = self.keys.len();
        self.index.insert(name.clone(), i);
        self.keys.push(ParsedKey {
            name,
            value,
            comment: Vec::new(),
        });
        i
    }
}

/// A line reader over the input that behaves like Go's `bufio.Reader.ReadBytes('\n')`: each
/// line keeps its `\n`, and reaching the end without a `\n` marks end of file.
struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
    eof: bool,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> &'a [u8] {
        let rest = &self.input[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                &rest[..=i]
            }
            None => {
                self.pos = self.input.len();
                self.eof = true;
                rest
            }
        }
    }
}

/// The parser state of ini.v1 that matters to sops.
struct Parser<'a> {
    lines: Lines<'a>,
    comment: Vec<u8>,
}

/// Parses the whole file into one document of sections, or the ini library's error message.
fn parse(input: &[u8]) -> Result<Vec<Document>, String> {
    let input = skip_bom(input);
    let mut p = Parser {
        lines: Lines {
            input,
            pos: 0,
            eof: false,
        },
        comment: Vec::new(),
    };
    let mut sections = vec![Section::new(b"DEFAULT")];
    let mut counter = 1usize;
    while !p.lines.eof {
        let line = trim_left_space(p.lines.next_line());
        if line.is_empty() {
            continue;
        }
        match line[0] {
            b'#' | b';' => {
                p.comment.extend_from_slice(line);
                continue;
            }
            b'[' => {
                let Some(close) = line.iter().rposition(|&b| b == b']') else {
                    return Err(format!("unclosed section: {}", lossy(line)));
                };
                let name = &line[1..close];
                if name.is_empty() {
                    return Err("empty section name".to_string());
                }
                let mut section = Section::new(name);
                if let Some(c) = clean_comment(&line[close + 1..]) {
                    p.comment.extend_from_slice(c);
                }
                section.comment = trim_space(&p.comment).to_vec();
                p.comment.clear();
                counter = 1;
                sections.push(section);
                continue;
            }
            _ => {}
        }
        let (mut name, offset) = read_key_name(line)?;
        if name.as_ref() == b"-" {
            name = Cow::Owned(format!("#{counter}").into_bytes());
            counter += 1;
        }
        let value = p.read_value(&line[offset..])?;
        if name.is_empty() {
            return Err("error creating new key: empty key name".to_string());
        }
        let section = sections.last_mut().expect("DEFAULT is always present");
        let i = section.set(name, value);
        section.keys[i].comment = trim_space(&p.comment).to_vec();
        p.comment.clear();
    }
    to_document(sections).map(|doc| vec![doc])
}

/// Builds sops's tree: a section comment first, each key's comment right after the key.
fn to_document(sections: Vec<Section>) -> Result<Document, String> {
    let mut doc = Map::new();
    doc.items.reserve(sections.len());
    for section in sections {
        let mut map = Map::new();
        map.items.reserve(section.keys.len() + 1);
        if !section.comment.is_empty() {
            map.push_comment(strip_comment_char(utf8(&section.comment)?));
        }
        for key in section.keys {
            let value = match String::from_utf8(key.value.into_owned()) {
                Ok(s) => Scalar::Str(s),
                Err(e) => Scalar::Bytes(e.into_bytes()),
            };
            map.push(utf8(&key.name)?, Node::Scalar(value));
            if !key.comment.is_empty() {
                map.push_comment(strip_comment_char(utf8(&key.comment)?));
            }
        }
        doc.push(utf8(section.name)?, Node::Map(map));
    }
    Ok(doc)
}

impl<'a> Parser<'a> {
    /// ini.v1 `readValue`: triple-quoted and backquoted values (possibly multi-line),
    /// continuation lines, inline comments, then one pair of surrounding quotes removed.
    fn read_value(&mut self, raw: &'a [u8]) -> Result<Cow<'a, [u8]>, String> {
        let line = trim_left_space(raw);
        if line.is_empty() {
            return Ok(Cow::Borrowed(b""));
        }
        let quote: &[u8] = if line.len() > 3 && line.starts_with(b"\"\"\"") {
            b"\"\"\""
        } else if line[0] == b'`' {
            b"`"
        } else {
            b""
        };
        if !quote.is_empty() {
            let rest = &line[quote.len()..];
            return match rfind(rest, quote) {
                Some(pos) => Ok(Cow::Borrowed(&rest[..pos])),
                None => self.read_multilines(line, rest, quote).map(Cow::Owned),
            };
        }
        let line = trim_space(line);
        if line.last() == Some(&b'\\') {
            return Ok(Cow::Owned(
                self.read_continuation_lines(&line[..line.len() - 1]),
            ));
        }
        let mut line = line;
        if let Some(i) = line.iter().position(|&b| b == b'#' || b == b';') {
            self.comment.extend_from_slice(&line[i..]);
            line = trim_space(&line[..i]);
        }
        if has_surrounded_quote(line, b'\'') || has_surrounded_quote(line, b'"') {
            line = &line[1..line.len() - 1];
        }
        Ok(Cow::Borrowed(line))
    }

    /// A quoted value that continues until the line holding the last closing quote.
    fn read_multilines(
        &mut self,
        first: &[u8],
        start: &[u8],
        quote: &[u8],
    ) -> Result<Vec<u8>, String> {
        let mut value = start.to_vec();
        loop {
            let next = self.lines.next_line();
            if let Some(pos) = rfind(next, quote) {
                value.extend_from_slice(&next[..pos]);
                if let Some(c) = clean_comment(&next[pos..]) {
                    self.comment.extend_from_slice(trim_space(c));
                }
                return Ok(value);
            }
            value.extend_from_slice(next);
            if self.lines.eof {
                return Err(format!(
                    "missing closing key quote from {} to {}",
                    go_quote(first),
                    go_quote(next)
                ));
            }
        }
    }

    /// A value ending in `\` goes on with the next trimmed lines, until a blank line or a line
    /// that does not end in `\`.
    fn read_continuation_lines(&mut self, start: &[u8]) -> Vec<u8> {
        let mut value = start.to_vec();
        loop {
            let next = trim_space(self.lines.next_line());
            if next.is_empty() {
                break;
            }
            value.extend_from_slice(next);
            if value.last() != Some(&b'\\') {
                break;
            }
            value.pop();
        }
        value
    }
}

/// ini.v1 `readKeyName`: the key (possibly quoted with `"`, `"""` or a backquote) and the offset
/// just past its `=` or `:`.
fn read_key_name(line: &[u8]) -> Result<(Cow<'_, [u8]>, usize), String> {
    let quote: &[u8] = match line[0] {
        b'"' if line.len() > 6 && line.starts_with(b"\"\"\"") => b"\"\"\"",
        b'"' => b"\"",
        b'`' => b"`",
        _ => b"",
    };
    if !quote.is_empty() {
        let start = quote.len();
        let Some(pos) = find(&line[start..], quote).map(|p| p + start) else {
            return Err(format!("missing closing key quote: {}", lossy(line)));
        };
        let Some(i) = line[pos + start..]
            .iter()
            .position(|&b| b == b'=' || b == b':')
        else {
            return Err(format!("key-value delimiter not found: {}", lossy(line)));
        };
        let end = pos + i;
        return Ok((
            Cow::Borrowed(trim_space(&line[start..pos])),
            end + start + 1,
        ));
    }
    match line.iter().position(|&b| b == b'=' || b == b':') {
        None => Err(format!("key-value delimiter not found: {}", lossy(line))),
        Some(0) => Err(format!("empty key name: {}", lossy(line))),
        Some(end) => Ok((Cow::Borrowed(trim_space(&line[..end])), end + 1)),
    }
}

/// True when `s` starts and ends with `quote` and holds no other `quote`.
fn has_surrounded_quote(s: &[u8], quote: u8) -> bool {
    s.len() >= 2
        && s[0] == quote
        && s[s.len() - 1] == quote
        && s[1..].iter().position(|&b| b == quote) == Some(s.len() - 2)
}

/// The part of `s` from its first `#` or `;`, if any.
fn clean_comment(s: &[u8]) -> Option<&[u8]> {
    s.iter()
        .position(|&b| b == b'#' || b == b';')
        .map(|i| &s[i..])
}

/// sops's `stripCommentChar`: drops the leading run of `;` and spaces (or `#` and spaces).
fn strip_comment_char(c: String) -> String {
    let cut: &[char] = match c.as_bytes().first() {
        Some(b';') => &[';', ' '],
        Some(b'#') => &['#', ' '],
        _ => return c,
    };
    c.trim_start_matches(cut).to_string()
}

/// Skips a UTF-8 byte order mark, or the two bytes of a UTF-16 one, as ini.v1 does.
fn skip_bom(input: &[u8]) -> &[u8] {
    if input.starts_with(&[0xFE, 0xFF]) || input.starts_with(&[0xFF, 0xFE]) {
        &input[2..]
    } else if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        &input[3..]
    } else {
        input
    }
}

// ---------------------------------------------------------------------------------------------
// Emission
// ---------------------------------------------------------------------------------------------

/// A section ready to write.
struct OutSection<'a> {
    name: &'a str,
    comment: &'a str,
    keys: Vec<OutKey<'a>>,
}

/// A key ready to write.
struct OutKey<'a> {
    name: &'a str,
    value: std::borrow::Cow<'a, [u8]>,
    comment: &'a str,
}

/// Turns the documents into sections as sops's `encodeTree` does, then writes them as ini.v1's
/// `WriteTo` does. Errors are sops's messages, without the `Error marshaling to ini:` prefix.
fn emit(docs: &[Document]) -> Result<Vec<u8>, String> {
    let mut sections: Vec<OutSection> = Vec::new();
    let mut total_keys = 0;
    for doc in docs {
        for item in &doc.items {
            let MapItem::Entry(entry) = item else {
                continue;
            };
            if entry.key.is_empty() {
                return Err("Error encoding section : empty section name".to_string());
            }
            let Node::Map(map) = &entry.value else {
                return Err(
                    "Error encoding section: Section values should always be TreeBranches"
                        .to_string(),
                );
            };
            let mut section = OutSection {
                name: &entry.key,
                comment: "",
                keys: Vec::with_capacity(map.items.len()),
            };
            let mut index: HashMap<&str, usize> = HashMap::new();
            let mut last: Option<usize> = None;
            let mut items = map.items.iter();
            if let Some(MapItem::Comment(c)) = map.items.first() {
                section.comment = &c.text;
                items.next();
            }
            for item in items {
                match item {
                    MapItem::Comment(c) => {
                        if let Some(i) = last {
                            section.keys[i].comment = &c.text;
                        }
                    }
                    MapItem::Entry(e) => {
                        if e.key.is_empty() {
                            return Err(
                                "Error encoding key: error creating new key: empty key name"
                                    .to_string(),
                            );
                        }
                        let value = value_string(&e.value);
                        let i = match index.get(e.key.as_str()) {
                            Some(&i) => {
                                section.keys[i].value = value;
                                i
                            }
                            None => {
                                index.insert(&e.key, section.keys.len());
                                section.keys.push(OutKey {
                                    name: &e.key,
                                    value,
                                    comment: "",
                                });
                                section.keys.len() - 1
                            }
                        };
                        last = Some(i);
                    }
                }
            }
            total_keys += section.keys.len();
            sections.push(section);
        }
    }
    Ok(write_sections(&sections, total_keys))
}

/// A value as sops's `ValToString` gives it to the ini library.
fn value_string(node: &Node) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    match node {
        Node::Scalar(Scalar::Str(s)) => Cow::Borrowed(s.as_bytes()),
        Node::Scalar(Scalar::Bytes(b)) => Cow::Borrowed(b),
        Node::Scalar(s) => Cow::Owned(scalar_to_string(s).into_bytes()),
        other => {
            let mut out = String::new();
            go_value_string(other, &mut out, 0);
            Cow::Owned(out.into_bytes())
        }
    }
}

/// ini.v1 `writeToBuffer` with sops's settings (pretty format, pretty sections, no default
/// header).
fn write_sections(sections: &[OutSection], total_keys: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total_keys * 64 + sections.len() * 16);
    let last = sections.len().saturating_sub(1);
    for (i, section) in sections.iter().enumerate() {
        if !section.comment.is_empty() {
            write_comment(section.comment, false, &mut out);
        }
        if i > 0 || section.name.to_uppercase() != "DEFAULT" {
            out.push(b'[');
            out.extend_from_slice(section.name.as_bytes());
            out.extend_from_slice(b"]\n");
        } else if section.keys.is_empty() {
            continue;
        }
        let width = section
            .keys
            .iter()
            .map(|k| quoted_key_len(k.name))
            .max()
            .unwrap_or(0);
        for key in &section.keys {
            if !key.comment.is_empty() {
                write_comment(key.comment, true, &mut out);
            }
            write_key(key.name, &mut out);
            let len = quoted_key_len(key.name);
            out.resize(out.len() + width.saturating_sub(len), b' ');
            out.extend_from_slice(b" = ");
            write_value(&key.value, &mut out);
            out.push(b'\n');
        }
        if i != last {
            out.push(b'\n');
        }
    }
    out
}

/// Writes a (possibly multi-line) comment, each line starting with its `#`/`;` or `; `.
fn write_comment(comment: &str, is_key: bool, out: &mut Vec<u8>) {
    for line in comment.split('\n') {
        match line.as_bytes().first() {
            Some(&c @ (b'#' | b';')) => {
                out.push(c);
                out.push(b' ');
                out.extend_from_slice(trim_space(&line.as_bytes()[1..]));
            }
            // ini.v1 panics on an empty comment line; we write an empty comment instead.
            _ => {
                out.extend_from_slice(b"; ");
                if is_key {
                    out.extend_from_slice(trim_space(line.as_bytes()));
                } else {
                    out.extend_from_slice(line.as_bytes());
                }
            }
        }
        out.push(b'\n');
    }
}

/// The width a key takes once quoted.
fn quoted_key_len(name: &str) -> usize {
    if name.contains(['"', '=', ':']) {
        name.len() + 2
    } else if name.contains('`') {
        name.len() + 6
    } else {
        name.len()
    }
}

/// Writes a key, backquoted when it holds `"`, `=` or `:`, triple-quoted when it holds a
/// backquote.
fn write_key(name: &str, out: &mut Vec<u8>) {
    if name.contains(['"', '=', ':']) {
        out.push(b'`');
        out.extend_from_slice(name.as_bytes());
        out.push(b'`');
    } else if name.contains('`') {
        out.extend_from_slice(b"\"\"\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\"\"\"");
    } else {
        out.extend_from_slice(name.as_bytes());
    }
}

/// Writes a value: triple-quoted when it holds a line feed or a backquote, backquoted when it
/// holds `#` or `;`, double-quoted when it has surrounding whitespace.
fn write_value(value: &[u8], out: &mut Vec<u8>) {
    let (open, close): (&[u8], &[u8]) = if value.iter().any(|&b| b == b'\n' || b == b'`') {
        (b"\"\"\"", b"\"\"\"")
    } else if value.iter().any(|&b| b == b'#' || b == b';') {
        (b"`", b"`")
    } else if trim_space(value).len() != value.len() {
        (b"\"", b"\"")
    } else {
        (b"", b"")
    };
    out.extend_from_slice(open);
    out.extend_from_slice(value);
    out.extend_from_slice(close);
}

/// A non-string, non-map value as Go's `json.Marshal` writes it (sops's INI `EmitValue`).
fn json_value(node: &Node, out: &mut String, depth: usize) -> Result<(), String> {
    if depth > 1000 {
        return Err("json: value nested too deeply".to_string());
    }
    match node {
        Node::Scalar(s) => match s {
            Scalar::Null => out.push_str("null"),
            Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Scalar::Int(i) => out.push_str(&i.to_string()),
            Scalar::Float(f) => match format_float_json(*f) {
                Some(s) => out.push_str(&s),
                None => {
                    let v = crate::number::format_float_g(*f);
                    return Err(format!("json: unsupported value: {v}"));
                }
            },
            Scalar::Str(s) => json_string(s, out),
            Scalar::Bytes(b) => json_string(&String::from_utf8_lossy(b), out),
            Scalar::Time(t) => json_string(t, out),
        },
        Node::Seq(seq) => {
            out.push('[');
            for (i, item) in seq.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match item {
                    SeqItem::Node(n) => json_value(n, out, depth + 1)?,
                    SeqItem::Comment(c) => {
                        out.push_str("{\"Value\":");
                        json_string(&c.text, out);
                        out.push('}');
                    }
                }
            }
            out.push(']');
        }
        // A sops tree branch is a list of {Key, Value} structs to encoding/json.
        Node::Map(map) => {
            out.push('[');
            for (i, item) in map.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match item {
                    MapItem::Entry(e) => {
                        out.push_str("{\"Key\":");
                        json_string(&e.key, out);
                        out.push_str(",\"Value\":");
                        json_value(&e.value, out, depth + 1)?;
                        out.push('}');
                    }
                    MapItem::Comment(c) => {
                        out.push_str("{\"Key\":{\"Value\":");
                        json_string(&c.text, out);
                        out.push_str("},\"Value\":null}");
                    }
                }
            }
            out.push(']');
        }
    }
    Ok(())
}

/// A JSON string as Go's encoding/json writes it (HTML-safe escapes included).
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------------------------
// Byte helpers with Go's notion of white space (unicode.IsSpace)
// ---------------------------------------------------------------------------------------------

/// Decodes the character starting at `s[0]`, if valid UTF-8; returns it and its length.
fn first_char(s: &[u8]) -> Option<(char, usize)> {
    let len = match s.first()? {
        b if *b < 0x80 => 1,
        b if *b >= 0xF0 => 4,
        b if *b >= 0xE0 => 3,
        b if *b >= 0xC0 => 2,
        _ => return None,
    };
    let chunk = s.get(..len)?;
    std::str::from_utf8(chunk)
        .ok()?
        .chars()
        .next()
        .map(|c| (c, len))
}

/// `s` without leading white space.
fn trim_left_space(mut s: &[u8]) -> &[u8] {
    while let Some(&b) = s.first() {
        if b < 0x80 {
            if !b.is_ascii_whitespace() && b != 0x0B {
                break;
            }
            s = &s[1..];
        } else {
            match first_char(s) {
                Some((c, len)) if c.is_whitespace() => s = &s[len..],
                _ => break,
            }
        }
    }
    s
}

/// `s` without trailing white space.
fn trim_right_space(mut s: &[u8]) -> &[u8] {
    while let Some(&b) = s.last() {
        if b < 0x80 {
            if !b.is_ascii_whitespace() && b != 0x0B {
                break;
            }
            s = &s[..s.len() - 1];
        } else {
            // Step back to the start of the last character.
            let mut start = s.len() - 1;
            while start > 0 && s.len() - start < 4 && (s[start] & 0xC0) == 0x80 {
                start -= 1;
            }
            match first_char(&s[start..]) {
                Some((c, len)) if start + len == s.len() && c.is_whitespace() => {
                    s = &s[..start];
                }
                _ => break,
            }
        }
    }
    s
}

/// `s` without surrounding white space (Go `strings.TrimSpace`).
fn trim_space(s: &[u8]) -> &[u8] {
    trim_right_space(trim_left_space(s))
}

/// Position of the first `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Position of the last `needle` in `hay`.
fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Bytes as text for an error message.
fn lossy(s: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(s)
}

/// A name or comment as UTF-8; sops accepts any bytes, our tree needs UTF-8.
fn utf8(s: &[u8]) -> Result<String, String> {
    String::from_utf8(s.to_vec())
        .map_err(|_| format!("invalid UTF-8 in INI name or comment: {}", lossy(s)))
}

/// Go's `%q` rendering of a string, for error messages.
fn go_quote(s: &[u8]) -> String {
    let mut out = String::from("\"");
    let text = String::from_utf8_lossy(s);
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(input: &str) -> String {
        let docs = Ini.parse_plain(input.as_bytes()).unwrap();
        String::from_utf8(Ini.emit_plain(&docs, &EmitOptions::default()).unwrap()).unwrap()
    }

    fn section<'a>(doc: &'a Document, name: &str) -> &'a Map {
        doc.get(name).and_then(Node::as_map).unwrap()
    }

    #[test]
    fn sops_behaviour_table() {
        let input = "; top semicolon comment\n# top hash comment\nglob=1\n\n[DEFAULT]\nd = dv\n\
                     [sec one]\n; comment in section\na=b\nspaced   =   v with spaces\n\
                     q = \"quoted value\"\nempty =\nn = 42\nt = true\n[other]\nx: colon\n";
        let want = "; top semicolon comment\n# top hash comment\nglob = 1\n\n[DEFAULT]\nd = dv\n\n\
                    [sec one]\n; comment in section\na      = b\nspaced = v with spaces\n\
                    q      = quoted value\nempty  = \nn      = 42\nt      = true\n\n[other]\nx = colon\n";
        assert_eq!(rt(input), want);
        let docs = Ini.parse_plain(input.as_bytes()).unwrap();
        let d = section(&docs[0], "DEFAULT");
        assert_eq!(d.items.len(), 2);
        assert!(
            matches!(&d.items[1], MapItem::Comment(c) if c.text == "top semicolon comment\n# top hash comment")
        );
        assert_eq!(docs[0].count_key("DEFAULT"), 2);
    }

    #[test]
    fn inline_comments_and_duplicates() {
        let docs = Ini
            .parse_plain(b"[s]\n; before\nk = v ; inline\nk2 = x#y\nk = w\n")
            .unwrap();
        let s = section(&docs[0], "s");
        assert_eq!(s.get("k"), Some(&Node::str("w")));
        assert_eq!(s.get("k2"), Some(&Node::str("x")));
        assert_eq!(s.items.len(), 3);
        assert!(matches!(&s.items[2], MapItem::Comment(c) if c.text == "y"));
        let docs = Ini.parse_plain(b"[s]\n; before\nk = v ; inline\n").unwrap();
        let s = section(&docs[0], "s");
        assert!(matches!(&s.items[1], MapItem::Comment(c) if c.text == "before\n; inline"));
        assert_eq!(
            rt("[s]\n; before\nk = v ; inline\n"),
            "[s]\n; before\n; inline\nk = v\n"
        );
        assert_eq!(rt("[s]\na=1\n[s]\nb=2\n"), "[s]\na = 1\n\n[s]\nb = 2\n");
    }

    #[test]
    fn quoting_on_output() {
        let mut s = Map::new();
        s.push("a", Node::str("x;y"));
        s.push("b", Node::str(" pad"));
        s.push("c", Node::str("l1\nl2"));
        s.push("k=q", Node::str("v"));
        s.push("k`", Node::str("v"));
        let mut doc = Map::new();
        doc.push("s", Node::Map(s));
        let out = Ini.emit_plain(&[doc], &EmitOptions::default()).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "[s]\na        = `x;y`\nb        = \" pad\"\nc        = \"\"\"l1\nl2\"\"\"\n\
             `k=q`    = v\n\"\"\"k`\"\"\" = v\n"
        );
        let back = Ini.parse_plain(out.as_bytes()).unwrap();
        let s = section(&back[0], "s");
        assert_eq!(s.get("a"), Some(&Node::str("x;y")));
        assert_eq!(s.get("b"), Some(&Node::str(" pad")));
        assert_eq!(s.get("c"), Some(&Node::str("l1\nl2")));
        assert_eq!(s.get("k=q"), Some(&Node::str("v")));
        assert_eq!(s.get("k`"), Some(&Node::str("v")));
    }

    #[test]
    fn errors() {
        let err = |s: &str| Ini.parse_plain(s.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            err("noequals\n"),
            "Could not unmarshal input data: key-value delimiter not found: noequals\n"
        );
        assert_eq!(
            err("[abc\n"),
            "Could not unmarshal input data: unclosed section: [abc\n"
        );
        assert_eq!(
            err("=x\n"),
            "Could not unmarshal input data: empty key name: =x\n"
        );
        assert_eq!(
            err("[]\n"),
            "Could not unmarshal input data: empty section name"
        );
        let mut top = Map::new();
        top.push("a", Scalar::Int(1).into());
        assert_eq!(
            Ini.emit_plain(&[top], &EmitOptions::default())
                .unwrap_err()
                .to_string(),
            "Error marshaling to ini: Error encoding section: Section values should always be TreeBranches"
        );
    }

    #[test]
    fn empty_input_and_values_from_other_formats() {
        assert_eq!(rt(""), "");
        let docs = Ini.parse_plain(b"").unwrap();
        assert_eq!(docs[0].items.len(), 1);
        let mut nested = Map::new();
        nested.push("x", Scalar::Int(1).into());
        let mut s = Map::new();
        s.push("f", Scalar::Float(1e21).into());
        s.push("n", Scalar::Null.into());
        s.push("nested", Node::Map(nested));
        let mut doc = Map::new();
        doc.push("sec", Node::Map(s));
        let out = Ini.emit_plain(&[doc], &EmitOptions::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[sec]\nf      = 1E+21\nn      = <nil>\nnested = [{x 1}]\n"
        );
        let o = EmitOptions::default();
        assert_eq!(Ini.emit_value(&Scalar::Int(1).into(), &o).unwrap(), b"1");
        assert_eq!(Ini.emit_value(&Scalar::Null.into(), &o).unwrap(), b"null");
    }

    #[test]
    fn ini_golden_files() {
        crate::format::dotenv::golden::check(&Ini, "ini", "ini", &|k| k == "sops");
    }

    /// A tree as the YAML parser gives it for a file converted with `--output-type ini`;
    /// expected output checked with the reference sops.
    #[test]
    fn converted_from_yaml_like_sops() {
        use crate::tree::Seq;
        let mut default = Map::new();
        default.push_comment(" first in section");
        default.push("a", Scalar::Int(1).into());
        default.push_comment(" after a");
        default.push("b", Node::str("x"));
        let mut n = Map::new();
        n.push_comment(" inner");
        n.push("k", Node::str("v"));
        n.push(
            "t",
            Scalar::Time("2001-12-14T21:59:43.1-05:00".into()).into(),
        );
        n.push("f", Scalar::Float(1e-7).into());
        let mut inner = Map::new();
        inner.push("m", Scalar::Int(1).into());
        let mut l = Seq::new();
        l.push(Scalar::Int(1).into());
        l.push(Node::str("two"));
        l.push(Node::Map(inner));
        let mut sec = Map::new();
        sec.push("n", Node::Map(n));
        sec.push("l", Node::Seq(l.clone()));
        sec.push("weird key=", Node::str("v;x"));
        sec.push("e", Node::str(""));
        let mut doc = Map::new();
        doc.push_comment(" top comment");
        doc.push("default", Node::Map(default));
        doc.push("sec", Node::Map(sec));
        let out = Ini.emit_plain(&[doc], &EmitOptions::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            ";  first in section\n; after a\na = 1\nb = x\n\n[sec]\n\
             n            = [{{ inner} <nil>} {k v} {t 2001-12-14 21:59:43.1 -0500 -0500} {f 1e-07}]\n\
             l            = [1 two [{m 1}]]\n`weird key=` = `v;x`\ne            = \n"
        );
        let o = EmitOptions::default();
        assert_eq!(
            Ini.emit_value(&Node::Seq(l), &o).unwrap(),
            br#"[1,"two",[{"Key":"m","Value":1}]]"#
        );
        assert_eq!(
            Ini.emit_value(&Scalar::Float(1e-7).into(), &o).unwrap(),
            b"1e-7"
        );
        assert_eq!(
            Ini.emit_value(
                &Scalar::Time("2001-12-14T21:59:43.1-05:00".into()).into(),
                &o
            )
            .unwrap(),
            br#""2001-12-14T21:59:43.1-05:00""#
        );
    }

    /// sops (ini.v1) panics on a comment whose first line is empty after `;` is stripped; we
    /// write an empty `; ` line instead.
    #[test]
    fn empty_comment_line_does_not_panic() {
        assert_eq!(
            rt("[s]\n;\n;   second line\nb = 2\n"),
            "[s]\n; \n; second line\nb = 2\n"
        );
    }

    /// `-` keys are numbered per section (`#1`, `#2`), and written back under that name.
    #[test]
    fn auto_increment_keys() {
        let docs = Ini.parse_plain(b"[l]\n- = a\n- = b\n[m]\n- = c\n").unwrap();
        assert_eq!(section(&docs[0], "l").get("#2"), Some(&Node::str("b")));
        assert_eq!(section(&docs[0], "m").get("#1"), Some(&Node::str("c")));
    }

    #[test]
    fn large_file_is_fast_enough() {
        let mut input = String::new();
        for s in 0..1000 {
            input.push_str(&format!("[section{s}]\n; comment\n"));
            for k in 0..140 {
                input.push_str(&format!("key{k} = value number {k} of section {s}\n"));
            }
        }
        let start = std::time::Instant::now();
        let docs = Ini.parse_plain(input.as_bytes()).unwrap();
        let parsed = start.elapsed();
        let out = Ini.emit_plain(&docs, &EmitOptions::default()).unwrap();
        assert!(out.len() > input.len() / 2);
        // Generous: debug builds are slow; release takes a few tens of ms.
        eprintln!(
            "ini, {} bytes, 140k keys: parse {parsed:?}, total {:?}",
            input.len(),
            start.elapsed()
        );
        assert!(start.elapsed().as_secs() < 10);
    }
}
