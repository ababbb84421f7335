//! JSON format: a parser and an emitter that behave byte for byte like sops's JSON store.
//!
//! sops reads JSON with the token API of Go's `encoding/json` and walks the tokens itself, so we
//! mirror that walk rather than use a general JSON library:
//! - keys keep their order and duplicates are kept;
//! - as in sops 3.13.2 (PR 2222), a number that is an integer in the int64 range becomes a
//!   [`Scalar::Int`] (stored `type:int`, printed without loss) and every other number a
//!   [`Scalar::Float`] (sops 3.11 read every number as a float; its `type:float` values
//!   still decrypt to the same output); `true`/`false` a [`Scalar::Bool`], `null` a
//!   [`Scalar::Null`];
//! - the top level must be an object, with sops 3.13's explanation otherwise (PR 2138);
//! - strings are decoded as Go does: all escapes, surrogate pairs, and invalid UTF-8 or lone
//!   surrogates replaced by U+FFFD one byte (or escape) at a time;
//! - error messages are Go's (`invalid character '}' looking for beginning of object key
//!   string`), including sops's quirks: input that ends in the middle of a value is accepted in
//!   some places (`{"a"` parses as `{}`), and text after the top-level object is ignored.
//!
//! An encrypted file is first checked as a whole, as sops does with `json.Unmarshal`, so its
//! errors are those of Go's full-document scanner (`unexpected end of JSON input`,
//! `... after top-level value`).
//!
//! The emitter writes what Go's `json.Marshal` followed by `json.Indent` writes: one tab per
//! level by default (`--indent n`: n spaces, `0`: newlines without indentation), `<`, `>`, `&`,
//! U+2028 and U+2029 escaped, numbers in ES6 style, empty containers as `{}` and `[]`, and a
//! final newline. Comments of the tree are skipped, since JSON has none.
//!
//! The [`super::binary`] format reuses both halves for its JSON wrapper.

use super::{warm_map_items, warm_seq_items};
use super::{Codec, EmitOptions, FormatError, Trailer, WriteError};
use crate::number::{format_float_f, format_float_g, push_float_json};
use crate::tree::{Document, Entry, Map, MapItem, Node, Scalar, Seq, SeqItem};

/// The JSON codec (`.json` files).
pub struct Json;

/// How deep objects and arrays may nest before parsing fails (sops itself has no limit).
const MAX_DEPTH: usize = 1000;

/// The prefix sops puts on errors from reading a plaintext JSON tree.
const PLAIN_PREFIX: &str = "Could not unmarshal input data: ";

/// The prefix sops puts on errors from checking an encrypted JSON file as a whole.
const ENCRYPTED_PREFIX: &str = "Error unmarshalling input json: ";

impl Codec for Json {
    fn parse_plain(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        parse_plain_document(input).map(|doc| vec![doc])
    }

    fn parse_encrypted(&self, input: &[u8]) -> Result<Vec<Document>, FormatError> {
        parse_encrypted_document(input).map(|doc| vec![doc])
    }

    fn emit_plain(&self, docs: &[Document], opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        // sops writes the first tree branch only; JSON has a single document.
        let doc = docs
            .first()
            .ok_or_else(|| FormatError::Emit("Error marshaling to json: no document".into()))?;
        emit_document(doc, opts)
    }

    fn emit_encrypted_with_trailer(
        &self,
        docs: &[Document],
        trailer: Trailer<'_>,
        opts: &EmitOptions,
    ) -> Result<Vec<u8>, FormatError> {
        let doc = docs
            .first()
            .ok_or_else(|| FormatError::Emit("Error marshaling to json: no document".into()))?;
        emit_document_with_trailer(doc, trailer.for_document(0), opts)
    }

    fn write_plain(
        &self,
        docs: &[Document],
        opts: &EmitOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<(), WriteError> {
        self.write_encrypted_with_trailer(docs, Trailer::default(), opts, out)
    }

    fn write_encrypted_with_trailer(
        &self,
        docs: &[Document],
        trailer: Trailer<'_>,
        opts: &EmitOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<(), WriteError> {
        let doc = docs
            .first()
            .ok_or_else(|| FormatError::Emit("Error marshaling to json: no document".into()))?;
        let trailer = trailer.for_document(0);
        if !super::always_emittable(std::slice::from_ref(doc), trailer) {
            // Emit whole first, so that an error comes before any output.
            out.write_all(&emit_document_with_trailer(doc, trailer, opts)?)?;
            return Ok(());
        }
        let mut emitter = Emitter::new(opts, super::STREAMED_START);
        emitter.sink = Some(out);
        emitter
            .map(doc, trailer, 0)
            .map_err(|e| FormatError::Emit(format!("Error marshaling to json: {e}")))?;
        emitter.out.push(b'\n');
        emitter.finish()?;
        Ok(())
    }

    fn emit_value(&self, value: &Node, opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
        match value {
            // sops prints a string leaf as its raw bytes and a map as a whole file.
            Node::Scalar(Scalar::Str(s)) => Ok(s.as_bytes().to_vec()),
            Node::Scalar(Scalar::Bytes(b)) => Ok(b.clone()),
            Node::Map(map) => emit_document(map, opts),
            // Anything else is encoded and indented, with no final newline.
            _ => {
                let mut emitter = Emitter::new(opts, 64);
                emitter.node(value, 0).map_err(FormatError::Emit)?;
                Ok(emitter.out)
            }
        }
    }
}

/// [`super::write_in_batches`] for JSON.
pub(crate) fn write_in_batches(
    doc: &mut Document,
    opts: &EmitOptions,
    out: &mut dyn std::io::Write,
    prepare: &mut dyn FnMut(&mut [MapItem]),
    trailer: &mut dyn FnMut() -> Vec<Entry>,
) -> Result<(), WriteError> {
    let wrap = |e: String| FormatError::Emit(format!("Error marshaling to json: {e}"));
    let mut emitter = Emitter::new(opts, super::STREAMED_START);
    emitter.sink = Some(out);
    emitter.out.push(b'{');
    let mut empty = true;
    let mut start = 0;
    while start < doc.items.len() {
        let end = super::batch_end(&doc.items, start);
        let batch = &mut doc.items[start..end];
        prepare(batch);
        emitter.map_items(batch, &mut empty, 0).map_err(wrap)?;
        for item in batch.iter_mut() {
            *item = MapItem::Comment(crate::tree::Comment::new(String::new()));
        }
        start = end;
    }
    let entries = trailer();
    emitter.map_end(&entries, &mut empty, 0).map_err(wrap)?;
    emitter.out.push(b'\n');
    emitter.finish()?;
    Ok(())
}

/// Parses a plaintext JSON file into one document, with sops's error messages.
pub(crate) fn parse_plain_document(input: &[u8]) -> Result<Document, FormatError> {
    let mut reader = Reader::new(input, false);
    match reader.top_level() {
        Ok(doc) => Ok(doc),
        Err(Fail::Eof) => Err(FormatError::Parse(format!("{PLAIN_PREFIX}EOF"))),
        Err(Fail::Msg(m) | Fail::NotObject(m)) => {
            Err(FormatError::Parse(format!("{PLAIN_PREFIX}{m}")))
        }
    }
}

/// Parses an encrypted JSON file (JSON or binary format) into one document.
///
/// The whole input must be valid JSON, as sops 3.11 checks it with `json.Unmarshal` before
/// walking it. A top-level value that is not an object gets sops 3.13's explanation.
pub(crate) fn parse_encrypted_document(input: &[u8]) -> Result<Document, FormatError> {
    parse_encrypted_inner(Reader::new(input, true))
}

/// [`parse_encrypted_document`], handing the top-level entries to `hook` in batches as they
/// are read (the hook may change them in place). Returns the document and how many top-level
/// entries the hook had. On an error the hook may have seen some entries.
pub(crate) fn parse_encrypted_handing_over(
    input: &[u8],
    hook: &mut dyn FnMut(&mut [MapItem]),
) -> Result<(Document, usize), FormatError> {
    let mut reader = Reader::new(input, true);
    reader.hook = Some(hook);
    let parsed = reader.top_level();
    let handed = reader.handed;
    let doc = encrypted_result(parsed, reader)?;
    Ok((doc, handed))
}

/// The object of the last `"sops"` key of an encrypted JSON file, read on its own: a guess
/// for [`crate::file::peek_metadata`], `None` when there is nothing that looks like one.
pub(crate) fn peek_sops_object(input: &[u8]) -> Option<Node> {
    let at = memchr::memmem::rfind(input, b"\"sops\"")?;
    let mut i = at + 6;
    while input.get(i).is_some_and(|c| is_space(*c)) {
        i += 1;
    }
    if input.get(i) != Some(&b':') {
        return None;
    }
    let brace = i + 1 + input[i + 1..].iter().position(|c| !is_space(*c))?;
    if input[brace] != b'{' {
        return None;
    }
    let mut reader = Reader::new(&input[brace..], false);
    reader.top_level().ok().map(Node::Map)
}

fn parse_encrypted_inner(mut reader: Reader<'_>) -> Result<Document, FormatError> {
    let parsed = reader.top_level();
    encrypted_result(parsed, reader)
}

/// The outcome of reading an encrypted document, with sops's error messages.
fn encrypted_result(
    parsed: Result<Map, Fail>,
    mut reader: Reader<'_>,
) -> Result<Document, FormatError> {
    match parsed {
        Ok(doc) => {
            // sops looks for its metadata before it reads the numbers of the tree, so a file
            // without metadata is reported as such (by the caller) first.
            let has_metadata =
                matches!(doc.get("sops"), Some(n) if n.as_scalar() != Some(&Scalar::Null));
            match reader.range_error.take() {
                Some(m) if has_metadata => Err(FormatError::Parse(format!("{PLAIN_PREFIX}{m}"))),
                _ => Ok(doc),
            }
        }
        Err(Fail::Eof) => Err(FormatError::Parse(format!(
            "{ENCRYPTED_PREFIX}unexpected end of JSON input"
        ))),
        Err(Fail::Msg(m)) => Err(FormatError::Parse(format!("{ENCRYPTED_PREFIX}{m}"))),
        Err(Fail::NotObject(m)) => Err(FormatError::Parse(format!("{PLAIN_PREFIX}{m}"))),
    }
}

/// Emits a whole document: indented JSON followed by a newline.
pub(crate) fn emit_document(doc: &Map, opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
    emit_document_with_trailer(doc, &[], opts)
}

/// Emits a whole document followed by `trailer` entries, as if they were appended to it.
pub(crate) fn emit_document_with_trailer(
    doc: &Map,
    trailer: &[Entry],
    opts: &EmitOptions,
) -> Result<Vec<u8>, FormatError> {
    let capacity = super::capacity_hint(&doc.items, trailer, super::bytes_per_item(trailer));
    let mut emitter = Emitter::new(opts, capacity);
    emitter
        .map(doc, trailer, 0)
        .map_err(|e| FormatError::Emit(format!("Error marshaling to json: {e}")))?;
    emitter.out.push(b'\n');
    Ok(emitter.out)
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Why reading stopped: the input ended where Go reports a plain `io.EOF` (which sops's walk
/// treats as the end of an object in some places), or an error with its message.
#[derive(Debug)]
enum Fail {
    Eof,
    Msg(String),
    /// The top-level value is not an object: sops 3.13's explanation, reported the same way
    /// for plaintext and encrypted files.
    NotObject(String),
}

/// Where the tokenizer stands, as in Go's `json.Decoder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    TopValue,
    ArrayStart,
    ArrayValue,
    ArrayComma,
    ObjectStart,
    ObjectKey,
    ObjectColon,
    ObjectValue,
    ObjectComma,
}

/// One token: an opening or closing delimiter, an object key, or a scalar value.
#[derive(Debug)]
enum Token {
    Open(u8),
    Close,
    Key(String),
    Value(Scalar),
}

/// A tokenizer over the whole input plus the sops-style tree walk on top of it.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    state: State,
    stack: Vec<State>,
    /// Full-document mode (encrypted files): EOF is always an error, text after the top-level
    /// value is an error, and out-of-range numbers are reported only once the syntax is known
    /// to be valid.
    strict: bool,
    /// The first out-of-range number seen in strict mode.
    range_error: Option<String>,
    /// Receives the top-level entries in batches as they are read (see
    /// [`parse_encrypted_handing_over`]).
    hook: Option<RootHook<'a>>,
    /// How many top-level entries `hook` had.
    handed: usize,
}

/// Receives the top-level entries of a document in batches (see [`Reader::hook`]).
type RootHook<'h> = &'h mut dyn FnMut(&mut [MapItem]);

/// Top-level entries handed to a hook at a time, at least.
const ROOT_BATCH: usize = 256;

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], strict: bool) -> Self {
        Reader {
            buf,
            pos: 0,
            state: State::TopValue,
            stack: Vec::new(),
            strict,
            range_error: None,
            hook: None,
            handed: 0,
        }
    }

    /// The next non-space byte, without consuming it.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.buf.get(self.pos) {
            if !is_space(c) {
                return Some(c);
            }
            self.pos += 1;
        }
        None
    }

    /// The input ended between tokens.
    fn eof(&self) -> Fail {
        if self.strict {
            Fail::Msg("unexpected end of JSON input".into())
        } else {
            Fail::Eof
        }
    }

    /// The input ended inside a scalar. Go's full-document scanner then acts as if a space
    /// followed, so `context` (the error a space would cause) is reported when there is one.
    fn eof_in_value(&self, context: Option<&str>) -> Fail {
        if !self.strict {
            return Fail::Msg("unexpected EOF".into());
        }
        match context {
            Some(ctx) => Fail::Msg(format!("invalid character ' ' {ctx}")),
            None => Fail::Msg("unexpected end of JSON input".into()),
        }
    }

    fn syntax(c: u8, context: &str) -> Fail {
        Fail::Msg(format!("invalid character {} {context}", quote_char(c)))
    }

    fn token_error(&self, c: u8) -> Fail {
        let context = match self.state {
            State::TopValue | State::ArrayStart | State::ArrayValue | State::ObjectValue => {
                " looking for beginning of value"
            }
            State::ArrayComma => " after array element",
            State::ObjectKey => " looking for beginning of object key string",
            State::ObjectColon => " after object key",
            State::ObjectComma => " after object key:value pair",
            // Go's token API has no context here; its full scanner has one.
            State::ObjectStart if self.strict => " looking for beginning of object key string",
            State::ObjectStart => "",
        };
        Fail::Msg(format!("invalid character {}{context}", quote_char(c)))
    }

    fn value_allowed(&self) -> bool {
        matches!(
            self.state,
            State::TopValue | State::ArrayStart | State::ArrayValue | State::ObjectValue
        )
    }

    fn value_end(&mut self) {
        match self.state {
            State::ArrayStart | State::ArrayValue => self.state = State::ArrayComma,
            State::ObjectValue => self.state = State::ObjectComma,
            _ => {}
        }
    }

    /// The next token, with the checks of Go's `Decoder.Token`.
    fn token(&mut self) -> Result<Token, Fail> {
        loop {
            let Some(c) = self.peek() else {
                return Err(self.eof());
            };
            match c {
                b'[' | b'{' => {
                    if !self.value_allowed() {
                        return Err(self.token_error(c));
                    }
                    self.pos += 1;
                    self.stack.push(self.state);
                    self.state = if c == b'[' {
                        State::ArrayStart
                    } else {
                        State::ObjectStart
                    };
                    return Ok(Token::Open(c));
                }
                b']' | b'}' => {
                    let ok = if c == b']' {
                        matches!(self.state, State::ArrayStart | State::ArrayComma)
                    } else {
                        matches!(self.state, State::ObjectStart | State::ObjectComma)
                    };
                    if !ok {
                        return Err(self.token_error(c));
                    }
                    self.pos += 1;
                    self.state = self.stack.pop().unwrap_or(State::TopValue);
                    self.value_end();
                    return Ok(Token::Close);
                }
                b':' => {
                    if self.state != State::ObjectColon {
                        return Err(self.token_error(c));
                    }
                    self.pos += 1;
                    self.state = State::ObjectValue;
                }
                b',' => {
                    self.state = match self.state {
                        State::ArrayComma => State::ArrayValue,
                        State::ObjectComma => State::ObjectKey,
                        _ => return Err(self.token_error(c)),
                    };
                    self.pos += 1;
                }
                b'"' if matches!(self.state, State::ObjectStart | State::ObjectKey) => {
                    let key = self.string()?;
                    self.state = State::ObjectColon;
                    return Ok(Token::Key(key));
                }
                _ => {
                    if !self.value_allowed() {
                        return Err(self.token_error(c));
                    }
                    let value = self.scalar(c)?;
                    self.value_end();
                    return Ok(Token::Value(value));
                }
            }
        }
    }

    /// A scalar value starting at `c` (the current byte).
    fn scalar(&mut self, c: u8) -> Result<Scalar, Fail> {
        match c {
            b'"' => self.string().map(Scalar::Str),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true", "true").map(|_| Scalar::Bool(true)),
            b'f' => self.literal(b"false", "false").map(|_| Scalar::Bool(false)),
            b'n' => self.literal(b"null", "null").map(|_| Scalar::Null),
            _ => Err(Self::syntax(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &[u8], name: &str) -> Result<(), Fail> {
        for (i, &expected) in word.iter().enumerate().skip(1) {
            let context = || format!("in literal {name} (expecting {})", quote_char(expected));
            match self.buf.get(self.pos + i) {
                Some(&c) if c == expected => {}
                Some(&c) => return Err(Self::syntax(c, &context())),
                None => return Err(self.eof_in_value(Some(&context()))),
            }
        }
        self.pos += word.len();
        Ok(())
    }

    /// A number, checked against JSON's grammar as Go's scanner does, then read as a float64.
    fn number(&mut self) -> Result<Scalar, Fail> {
        let buf = self.buf;
        let start = self.pos;
        let mut i = start;
        let at = |i: usize| buf.get(i).copied();
        if at(i) == Some(b'-') {
            i += 1;
            match at(i) {
                Some(b'0'..=b'9') => {}
                Some(c) => return Err(Self::syntax(c, "in numeric literal")),
                None => return Err(self.eof_in_value(Some("in numeric literal"))),
            }
        }
        if at(i) == Some(b'0') {
            i += 1;
        } else {
            while let Some(b'0'..=b'9') = at(i) {
                i += 1;
            }
        }
        if at(i) == Some(b'.') {
            i += 1;
            let context = "after decimal point in numeric literal";
            match at(i) {
                Some(b'0'..=b'9') => {}
                Some(c) => return Err(Self::syntax(c, context)),
                None => return Err(self.eof_in_value(Some(context))),
            }
            while let Some(b'0'..=b'9') = at(i) {
                i += 1;
            }
        }
        if let Some(b'e' | b'E') = at(i) {
            i += 1;
            if let Some(b'+' | b'-') = at(i) {
                i += 1;
            }
            let context = "in exponent of numeric literal";
            match at(i) {
                Some(b'0'..=b'9') => {}
                Some(c) => return Err(Self::syntax(c, context)),
                None => return Err(self.eof_in_value(Some(context))),
            }
            while let Some(b'0'..=b'9') = at(i) {
                i += 1;
            }
        }
        self.pos = i;
        // The grammar above only lets ASCII through.
        let text = std::str::from_utf8(&buf[start..i]).unwrap_or("0");
        // sops 3.13.2 (PR 2222) decodes with `UseNumber`, then keeps an integer that
        // `strconv.ParseInt(text, 10, 64)` accepts as an int (`-0` is the int 0) and reads
        // every other number (`1.0`, `1e3`, integers beyond int64) as a float64.
        if let Ok(int) = text.parse::<i64>() {
            return Ok(Scalar::Int(int));
        }
        let value: f64 = text.parse().unwrap_or(0.0);
        if value.is_infinite() {
            let msg = format!("strconv.ParseFloat: parsing {text:?}: value out of range");
            if !self.strict {
                return Err(Fail::Msg(msg));
            }
            // Go checks the whole document's syntax first: report this only if it is valid.
            self.range_error.get_or_insert(msg);
        }
        Ok(Scalar::Float(value))
    }

    /// A string starting at the current `"`, decoded as Go's `encoding/json` decodes it.
    fn string(&mut self) -> Result<String, Fail> {
        let buf = self.buf;
        let start = self.pos + 1;
        let mut i = start;
        // Fast path: no escapes and valid UTF-8.
        loop {
            match buf.get(i) {
                Some(b'"') => {
                    if let Ok(s) = std::str::from_utf8(&buf[start..i]) {
                        self.pos = i + 1;
                        return Ok(s.to_owned());
                    }
                    break;
                }
                Some(b'\\') => break,
                Some(&c) if c < 0x20 => return Err(Self::syntax(c, "in string literal")),
                Some(_) => i += 1,
                None => return Err(self.eof_in_value(None)),
            }
        }
        let mut out: Vec<u8> = Vec::with_capacity(i - start + 16);
        let mut i = start;
        loop {
            let Some(&c) = buf.get(i) else {
                return Err(self.eof_in_value(None));
            };
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = buf.get(i + 1) else {
                        return Err(self.eof_in_value(Some("in string escape code")));
                    };
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(8),
                        b'f' => Some(12),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => return Err(Self::syntax(e, "in string escape code")),
                    };
                    if let Some(b) = simple {
                        out.push(b);
                        i += 2;
                        continue;
                    }
                    let r = self.hex4(i + 2)?;
                    i += 6;
                    let ch = if (0xD800..0xE000).contains(&r) {
                        // A surrogate: valid only as a high one followed by an escaped low one.
                        let low = if r < 0xDC00
                            && buf.get(i) == Some(&b'\\')
                            && buf.get(i + 1) == Some(&b'u')
                        {
                            parse_hex4(buf.get(i + 2..i + 6))
                        } else {
                            None
                        };
                        match low {
                            Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                i += 6;
                                char::from_u32(0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00))
                                    .unwrap_or('\u{FFFD}')
                            }
                            _ => '\u{FFFD}',
                        }
                    } else {
                        char::from_u32(r).unwrap_or('\u{FFFD}')
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                c if c < 0x20 => return Err(Self::syntax(c, "in string literal")),
                c if c < 0x80 => {
                    out.push(c);
                    i += 1;
                }
                _ => {
                    // One UTF-8 sequence, or U+FFFD for a byte that does not start one.
                    let width = match c {
                        0xC2..=0xDF => 2,
                        0xE0..=0xEF => 3,
                        0xF0..=0xF4 => 4,
                        _ => 0,
                    };
                    match buf.get(i..i + width) {
                        Some(seq) if width > 0 && std::str::from_utf8(seq).is_ok() => {
                            out.extend_from_slice(seq);
                            i += width;
                        }
                        _ => {
                            out.extend_from_slice("\u{FFFD}".as_bytes());
                            i += 1;
                        }
                    }
                }
            }
        }
        // Every piece pushed above is valid UTF-8.
        self.pos = i + 1;
        Ok(String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// The four hex digits of a `\u` escape at `at`, with the scanner's errors.
    fn hex4(&self, at: usize) -> Result<u32, Fail> {
        let context = "in \\u hexadecimal character escape";
        let mut r = 0u32;
        for k in 0..4 {
            match self.buf.get(at + k) {
                Some(&c) => match (c as char).to_digit(16) {
                    Some(d) => r = r * 16 + d,
                    None => return Err(Self::syntax(c, context)),
                },
                None => return Err(self.eof_in_value(Some(context))),
            }
        }
        Ok(r)
    }

    // --- The tree walk of sops's JSON store, on top of the tokens. ---

    /// Reads the top-level value, which must be an object.
    fn top_level(&mut self) -> Result<Map, Fail> {
        match self.token()? {
            Token::Open(b'{') => {
                let map = self.object(1)?;
                self.check_trailing()?;
                Ok(map)
            }
            // sops 3.13 (PR 2138) explains that only a top-level object is supported, for
            // plaintext and encrypted files alike (both go through the same walk).
            Token::Open(_) => Err(Fail::NotObject(
                "SOPS only supports JSON files with a top-level object (starting with '{'), not \
                 arrays or other types. Got delimiter [ instead. To encrypt this file, wrap it \
                 in an object, e.g., {\"data\": [...]}"
                    .into(),
            )),
            Token::Value(value) => {
                let (shown, ty) = match &value {
                    Scalar::Str(s) => (go_quote(s), "string"),
                    Scalar::Int(i) => (i.to_string(), "int"),
                    Scalar::Float(f) => (format_float_g(*f), "float64"),
                    Scalar::Bool(b) => (b.to_string(), "bool"),
                    _ => ("<nil>".to_string(), "<nil>"),
                };
                Err(Fail::NotObject(format!(
                    "SOPS only supports JSON files with a top-level object (starting with '{{'), \
                     not other JSON types. Got {shown} of type {ty} instead"
                )))
            }
            // The tokenizer never starts with a closing delimiter or a key.
            Token::Close | Token::Key(_) => Err(Fail::Msg("invalid JSON".into())),
        }
    }

    /// In strict mode, only spaces may follow the top-level value (plain mode ignores the rest).
    fn check_trailing(&mut self) -> Result<(), Fail> {
        if self.strict {
            if let Some(c) = self.peek() {
                return Err(Self::syntax(c, "after top-level value"));
            }
        }
        Ok(())
    }

    fn check_depth(depth: usize) -> Result<(), Fail> {
        if depth > MAX_DEPTH {
            return Err(Fail::Msg(format!(
                "exceeded max depth: objects and arrays nest deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }

    /// The entries of an object whose `{` was read. Like sops, a plain `EOF` ends the object
    /// without error.
    fn object(&mut self, depth: usize) -> Result<Map, Fail> {
        Self::check_depth(depth)?;
        let mut map = Map::new();
        loop {
            match self.entry(depth) {
                Ok(Some(entry)) => {
                    map.items.push(MapItem::Entry(entry));
                    if depth == 1 && map.items.len() >= self.handed + ROOT_BATCH {
                        if let Some(hook) = self.hook.as_mut() {
                            hook(&mut map.items[self.handed..]);
                            self.handed = map.items.len();
                        }
                    }
                }
                Ok(None) | Err(Fail::Eof) => return Ok(map),
                Err(e) => return Err(e),
            }
        }
    }

    /// One key and value, or `None` at the closing `}`.
    fn entry(&mut self, depth: usize) -> Result<Option<Entry>, Fail> {
        let key = match self.token() {
            Ok(Token::Key(k)) => k,
            Ok(Token::Close) => return Ok(None),
            // sops asks for a key and gets nothing back at the end of the input.
            Err(Fail::Eof) => {
                return Err(Fail::Msg(
                    "Expected JSON object key, got %!s(<nil>) of type <nil> instead".into(),
                ))
            }
            Err(e) => return Err(e),
            Ok(_) => return Err(Fail::Msg("Expected JSON object key".into())),
        };
        let value = match self.token()? {
            Token::Open(b'{') => Node::Map(self.object(depth + 1)?),
            Token::Open(_) => Node::Seq(self.array(depth + 1)?),
            Token::Value(v) => Node::Scalar(v),
            Token::Close | Token::Key(_) => return Err(Fail::Msg("invalid JSON".into())),
        };
        Ok(Some(Entry { key, value }))
    }

    /// The items of an array whose `[` was read.
    fn array(&mut self, depth: usize) -> Result<Seq, Fail> {
        Self::check_depth(depth)?;
        let mut seq = Seq::new();
        loop {
            let node = match self.token()? {
                Token::Close => return Ok(seq),
                Token::Open(b'{') => Node::Map(self.object(depth + 1)?),
                Token::Open(_) => Node::Seq(self.array(depth + 1)?),
                Token::Value(v) => Node::Scalar(v),
                Token::Key(_) => return Err(Fail::Msg("invalid JSON".into())),
            };
            seq.items.push(SeqItem::Node(node));
        }
    }
}

fn parse_hex4(digits: Option<&[u8]>) -> Option<u32> {
    let digits = digits?;
    let mut r = 0u32;
    for &c in digits {
        r = r * 16 + (c as char).to_digit(16)?;
    }
    Some(r)
}

/// A byte quoted for an error message, as Go's `encoding/json` does (`'x'`, `'\x01'`, `'Ã'`).
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        _ => {
            let quoted = go_quote(&char::from(c).to_string());
            format!("'{}'", &quoted[1..quoted.len() - 1])
        }
    }
}

/// Whether Go's `strconv.IsPrint` holds, approximately: no control, format, separator
/// (except ASCII space) or private-use characters.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c,
            '\u{AD}' | '\u{600}'..='\u{605}' | '\u{61C}' | '\u{6DD}' | '\u{70F}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
            | '\u{E000}'..='\u{F8FF}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
            | '\u{FFFE}' | '\u{FFFF}' | '\u{F0000}'..))
}

/// A string quoted as Go's `strconv.Quote` (and `%#v`) quotes it.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_go_printable(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{B}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7F}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Emitting
// ---------------------------------------------------------------------------------------------

/// Writes indented JSON into one buffer, or in chunks to a sink.
struct Emitter<'w> {
    out: Vec<u8>,
    indent: Vec<u8>,
    /// Where full chunks of `out` go while writing; without one, the output stays in `out`.
    sink: Option<&'w mut dyn std::io::Write>,
    /// The first error of the sink; later chunks are dropped.
    sink_error: Option<std::io::Error>,
}

impl<'w> Emitter<'w> {
    fn new(opts: &EmitOptions, capacity: usize) -> Self {
        let indent = match opts.indent {
            None => b"\t".to_vec(),
            Some(n) => vec![b' '; n],
        };
        Emitter {
            out: Vec::with_capacity(capacity),
            indent,
            sink: None,
            sink_error: None,
        }
    }

    /// Hands `out` to the sink once it holds a chunk (the writer never reads back its output).
    #[inline]
    fn maybe_flush(&mut self) {
        if self.out.len() < super::STREAM_CHUNK {
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

    /// Writes what is left to the sink and reports its first error.
    fn finish(mut self) -> std::io::Result<()> {
        if let Some(e) = self.sink_error.take() {
            return Err(e);
        }
        match self.sink.as_mut() {
            Some(sink) => sink.write_all(&self.out),
            None => Ok(()),
        }
    }

    fn newline(&mut self, depth: usize) {
        self.out.push(b'\n');
        for _ in 0..depth {
            self.out.extend_from_slice(&self.indent);
        }
    }

    fn node(&mut self, node: &Node, depth: usize) -> Result<(), String> {
        match node {
            Node::Map(m) => self.map(m, &[], depth),
            Node::Seq(s) => self.seq(s, depth),
            Node::Scalar(s) => self.scalar(s),
        }
    }

    /// An object, followed by the `trailer` entries. As in sops, an error inside a value is
    /// wrapped once per enclosing object.
    fn map(&mut self, map: &Map, trailer: &[Entry], depth: usize) -> Result<(), String> {
        self.out.push(b'{');
        let mut empty = true;
        self.map_items(&map.items, &mut empty, depth)?;
        self.map_end(trailer, &mut empty, depth)
    }

    /// The entries of an object whose `{` is written; `empty`: none written yet.
    fn map_items(
        &mut self,
        items: &[MapItem],
        empty: &mut bool,
        depth: usize,
    ) -> Result<(), String> {
        for (i, item) in items.iter().enumerate() {
            warm_map_items(items, i);
            if let MapItem::Entry(entry) = item {
                self.entry(entry, empty, depth)?;
                self.maybe_flush();
            }
        }
        Ok(())
    }

    /// The trailer entries and the end of an object.
    fn map_end(&mut self, trailer: &[Entry], empty: &mut bool, depth: usize) -> Result<(), String> {
        for entry in trailer {
            self.entry(entry, empty, depth)?;
        }
        if !*empty {
            self.newline(depth);
        }
        self.out.push(b'}');
        Ok(())
    }

    /// One `"key": value` of an object at `depth`; `empty` tells whether it is the first.
    fn entry(&mut self, entry: &Entry, empty: &mut bool, depth: usize) -> Result<(), String> {
        if !*empty {
            self.out.push(b',');
        }
        *empty = false;
        self.newline(depth + 1);
        write_str(&mut self.out, &entry.key);
        self.out.extend_from_slice(b": ");
        self.node(&entry.value, depth + 1)
            .map_err(|e| format!("Error encoding value : {e}"))
    }

    fn seq(&mut self, seq: &Seq, depth: usize) -> Result<(), String> {
        self.out.push(b'[');
        let mut empty = true;
        for (i, item) in seq.items.iter().enumerate() {
            warm_seq_items(&seq.items, i);
            let SeqItem::Node(value) = item else {
                continue;
            };
            if !empty {
                self.out.push(b',');
            }
            empty = false;
            self.newline(depth + 1);
            self.node(value, depth + 1)?;
        }
        if !empty {
            self.newline(depth);
        }
        self.out.push(b']');
        Ok(())
    }

    fn scalar(&mut self, scalar: &Scalar) -> Result<(), String> {
        match scalar {
            Scalar::Null => self.out.extend_from_slice(b"null"),
            Scalar::Bool(true) => self.out.extend_from_slice(b"true"),
            Scalar::Bool(false) => self.out.extend_from_slice(b"false"),
            Scalar::Int(i) => push_int(&mut self.out, *i),
            Scalar::Float(f) => {
                if !push_float_json(&mut self.out, *f) {
                    return Err(format!("json: unsupported value: {}", format_float_f(*f)));
                }
            }
            Scalar::Str(s) | Scalar::Time(s) => write_str(&mut self.out, s),
            Scalar::Bytes(b) => write_bytes(&mut self.out, b),
        }
        Ok(())
    }
}

/// Appends the decimal text of an integer (as `i64::to_string`) without allocating.
fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    out.extend_from_slice(crate::number::format_int(v, &mut buf).as_bytes());
}

/// Bytes that need an escape in Go's HTML-safe JSON strings (ASCII) or a closer look (0xE2,
/// the first byte of U+2028 and U+2029).
const fn escape_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xE2] = true;
    t
}

static NEEDS_ESCAPE: [bool; 256] = escape_table();

/// Writes a JSON string literal as Go's `json.Marshal` does.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_bytes(out, s.as_bytes());
}

/// Writes a JSON string literal from bytes that may not be UTF-8: each invalid byte becomes
/// the six characters `\ufffd`, as Go writes a Go string holding such bytes.
pub(crate) fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0; // start of the bytes not yet copied
    let mut i = 0;
    while i < bytes.len() {
        // Skip eight plain ASCII bytes at a time.
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !may_need_escape(u64::from_ne_bytes(word)) {
                i += 8;
                continue;
            }
        }
        let c = bytes[i];
        if c >= 0x80 {
            // Check UTF-8 validity from here on; copy valid text through.
            let valid = match std::str::from_utf8(&bytes[i..]) {
                Ok(_) => bytes.len() - i,
                Err(e) => e.valid_up_to(),
            };
            if valid == 0 {
                out.extend_from_slice(&bytes[run..i]);
                out.extend_from_slice(b"\\ufffd");
                i += 1;
                run = i;
                continue;
            }
            // Look for U+2028/U+2029 (E2 80 A8/A9) and ASCII specials inside the valid run.
            let end = i + valid;
            while i < end {
                let b = bytes[i];
                if NEEDS_ESCAPE[b as usize] {
                    if b == 0xE2 {
                        if bytes.get(i + 1) == Some(&0x80)
                            && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9))
                        {
                            out.extend_from_slice(&bytes[run..i]);
                            out.extend_from_slice(if bytes[i + 2] == 0xA8 {
                                b"\\u2028"
                            } else {
                                b"\\u2029"
                            });
                            i += 3;
                            run = i;
                            continue;
                        }
                    } else {
                        out.extend_from_slice(&bytes[run..i]);
                        escape_ascii(out, b, HEX);
                        run = i + 1;
                    }
                }
                i += 1;
            }
            continue;
        }
        if NEEDS_ESCAPE[c as usize] {
            out.extend_from_slice(&bytes[run..i]);
            escape_ascii(out, c, HEX);
            run = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// True if one of eight bytes is a control character, `"`, `\\`, `<`, `>`, `&` or
/// non-ASCII: the bytes [`NEEDS_ESCAPE`] or the UTF-8 check look at. Never false for such a
/// word (it may be true for others).
fn may_need_escape(x: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Some byte of `v` is zero.
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    // Below 0x20: a borrow starts only at such a byte.
    let control = x.wrapping_sub(ONES * 0x20) & !x;
    // `"` (0x22) and `&` (0x26) both become 0x26 with bit 2 set; `<` (0x3C) and `>` (0x3E)
    // both become 0x3E with bit 1 set; no other byte does.
    let quote_amp = zero((x | (ONES * 0x04)) ^ (ONES * 0x26));
    let angle = zero((x | (ONES * 0x02)) ^ (ONES * 0x3E));
    let backslash = zero(x ^ (ONES * 0x5C));
    (control | quote_amp | angle | backslash | x) & HIGHS != 0
}

fn escape_ascii(out: &mut Vec<u8>, c: u8, hex: &[u8; 16]) {
    match c {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        8 => out.extend_from_slice(b"\\b"),
        12 => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            hex[(c >> 4) as usize],
            hex[(c & 15) as usize],
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Comment;
    use std::path::{Path, PathBuf};

    fn golden_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/json")
    }

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(golden_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    fn parse(input: &str) -> Document {
        let mut docs = Json.parse_plain(input.as_bytes()).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    fn emit(doc: &Document, indent: Option<usize>) -> String {
        let out = Json
            .emit_plain(std::slice::from_ref(doc), &EmitOptions { indent })
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn plain_err(input: &[u8]) -> String {
        match Json.parse_plain(input) {
            Err(FormatError::Parse(m)) => m,
            other => panic!("expected a parse error for {input:?}, got {other:?}"),
        }
    }

    const VARIANTS: [(&str, Option<usize>); 3] = [
        ("default", None),
        ("indent2", Some(2)),
        ("indent0", Some(0)),
    ];

    /// Every input of testdata/json: our plaintext output equals `sops -d`, and re-emitting a
    /// sops-encrypted file gives it back byte for byte, for each indentation.
    #[test]
    fn golden_files_match_sops() {
        let mut cases = 0;
        for entry in std::fs::read_dir(golden_dir()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.ends_with(".json")
                || name.ends_with(".enc.json")
                || name.ends_with(".dec.json")
            {
                continue;
            }
            cases += 1;
            let case = name.trim_end_matches(".json");
            let docs = Json.parse_plain(&read(&name)).unwrap();
            for (variant, indent) in VARIANTS {
                let opts = EmitOptions { indent };
                let dec = read(&format!("{case}.{variant}.dec.json"));
                let ours = Json.emit_plain(&docs, &opts).unwrap();
                // The recordings are sops 3.11's, which read every number as a float64; 3.13.2
                // (PR 2222) keeps an integer beyond 2^53 exact and reads the integer `-0` as 0.
                let expected = String::from_utf8_lossy(&dec)
                    .replace(": 9007199254740992", ": 9007199254740993")
                    .replace("\"neg0\": -0", "\"neg0\": 0");
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    expected,
                    "{case} {variant}: plaintext differs from sops -d"
                );
                // The decrypted output re-parses to itself, except that 3.13.2 reads the
                // `-0` 3.11 printed as the integer 0.
                let again = Json
                    .emit_plain(&Json.parse_plain(&dec).unwrap(), &opts)
                    .unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&again),
                    String::from_utf8_lossy(&dec).replace(": -0,", ": 0,"),
                    "{case} {variant}: decrypted output is not stable"
                );

                let enc = read(&format!("{case}.{variant}.enc.json"));
                let parsed = Json.parse_encrypted(&enc).unwrap();
                let ours = Json.emit_encrypted(&parsed, &opts).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&enc),
                    "{case} {variant}: encrypted file not reproduced"
                );
            }
        }
        assert!(cases >= 12, "only {cases} golden cases found");
    }

    fn extract<'a>(doc: &'a Document, path: &str) -> &'a Node {
        let mut node: Option<&Node> = None;
        for part in path
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split("][")
        {
            node = Some(if let Some(key) = part.strip_prefix('"') {
                let key = key.trim_end_matches('"');
                match node {
                    None => doc.get(key).unwrap(),
                    Some(n) => n.as_map().unwrap().get(key).unwrap(),
                }
            } else {
                let i: usize = part.parse().unwrap();
                match node {
                    Some(Node::Seq(s)) => s.values().nth(i).unwrap(),
                    _ => panic!("bad path {path}"),
                }
            });
        }
        node.unwrap()
    }

    /// `--extract` outputs recorded from sops: raw strings, bare scalars, maps with and lists
    /// without a final newline.
    #[test]
    fn extract_matches_sops() {
        let doc = parse(std::str::from_utf8(&read("extract.default.dec.json")).unwrap());
        let table = String::from_utf8(read("extract.tsv")).unwrap();
        for line in table.lines() {
            let mut cols = line.split('\t');
            let (path, indent, hex) = (cols.next().unwrap(), cols.next().unwrap(), cols.next());
            let indent = match indent {
                "-1" => None,
                n => Some(n.parse().unwrap()),
            };
            let expected = unhex(hex.unwrap_or(""));
            let ours = Json
                .emit_value(extract(&doc, path), &EmitOptions { indent })
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&expected),
                "--extract {path} --indent {indent:?}"
            );
        }
    }

    /// sops 3.13.2's message for a recorded sops 3.11 one, where 3.13 changed it: a top-level
    /// value that is not an object gets an explanation (PR 2138, `treeBranchFromJSON` in
    /// `stores/json/store.go`), for encrypted files too since both go through the same walk;
    /// an integer is an `int` there (PR 2222); an out-of-range number fails in
    /// `json.Number.Float64` (`strconv.ParseFloat`).
    fn as_of_3_13(msg: &str, input: &[u8]) -> Option<String> {
        const PLAIN: &str = "Could not unmarshal input data: ";
        const HEAD: &str =
            "SOPS only supports JSON files with a top-level object (starting with '{'), ";
        if msg == format!("{PLAIN}Expected JSON object start, got delimiter [ instead") {
            return Some(format!(
                "{PLAIN}{HEAD}not arrays or other types. Got delimiter [ instead. To encrypt this \
                 file, wrap it in an object, e.g., {{\"data\": [...]}}"
            ));
        }
        if let Some(rest) = msg.strip_prefix(&format!("{PLAIN}Expected JSON object start, got ")) {
            let text = String::from_utf8_lossy(input);
            let rest = match text.trim().parse::<i64>() {
                Ok(i) => format!("{i} of type int instead"),
                Err(_) => rest.to_string(),
            };
            return Some(format!("{PLAIN}{HEAD}not other JSON types. Got {rest}"));
        }
        let range = msg
            .strip_prefix(&format!("{PLAIN}json: cannot unmarshal number "))
            .and_then(|r| r.strip_suffix(" into Go value of type float64"));
        range.map(|n| format!("{PLAIN}strconv.ParseFloat: parsing {n:?}: value out of range"))
    }

    /// Error messages recorded from sops 3.11 for plaintext (`sops -e`) and encrypted
    /// (`sops -d`) inputs, translated to 3.13.2's by [`as_of_3_13`]; an empty message means
    /// sops accepted the input.
    #[test]
    fn errors_match_sops() {
        let table = String::from_utf8(read("errors.tsv")).unwrap();
        let mut count = 0;
        let mut not_object = std::collections::HashMap::new();
        for line in table.lines() {
            let mut cols = line.splitn(3, '\t');
            let (mode, hex, msg) = (
                cols.next().unwrap(),
                cols.next().unwrap(),
                cols.next().unwrap_or(""),
            );
            let input = unhex(hex);
            let translated = as_of_3_13(msg, &input);
            if let (Some(t), "plain") = (&translated, mode) {
                if t.contains("top-level object") {
                    not_object.insert(hex.to_string(), t.clone());
                }
            }
            let msg = match (mode, not_object.get(hex)) {
                ("encrypted", Some(t)) => t.clone(),
                _ => translated.unwrap_or_else(|| msg.to_string()),
            };
            let msg = msg.as_str();
            let shown = String::from_utf8_lossy(&input).into_owned();
            let result = if mode == "plain" {
                Json.parse_plain(&input)
            } else {
                Json.parse_encrypted(&input)
            };
            match (msg, result) {
                ("", Ok(_)) => {}
                ("sops metadata not found", Ok(docs)) => {
                    assert!(docs[0].get("sops").is_none(), "{shown}")
                }
                (msg, Err(FormatError::Parse(ours))) => assert_eq!(ours, msg, "{mode} {shown:?}"),
                (msg, other) => panic!("{mode} {shown:?}: expected {msg:?}, got {other:?}"),
            }
            count += 1;
        }
        assert!(count > 100);
    }

    #[test]
    fn typing_follows_sops() {
        let doc = parse(r#"{"i":42,"f":1.5,"e":1e3,"n":-0,"t":true,"F":false,"z":null,"s":"x"}"#);
        let get = |k: &str| doc.get(k).unwrap().as_scalar().unwrap().clone();
        // sops 3.13.2 (PR 2222): what `strconv.ParseInt(s, 10, 64)` accepts is an int.
        assert_eq!(get("i"), Scalar::Int(42));
        assert_eq!(get("f"), Scalar::Float(1.5));
        assert_eq!(get("e"), Scalar::Float(1000.0));
        assert_eq!(get("n"), Scalar::Int(0));
        assert_eq!(get("t"), Scalar::Bool(true));
        assert_eq!(get("F"), Scalar::Bool(false));
        assert_eq!(get("z"), Scalar::Null);
        assert_eq!(get("s"), Scalar::Str("x".into()));
    }

    #[test]
    fn duplicate_keys_and_order_are_kept() {
        let doc = parse(r#"{"b":1,"a":2,"b":3}"#);
        let keys: Vec<_> = doc.entries().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(
            emit(&doc, None),
            "{\n\t\"b\": 1,\n\t\"a\": 2,\n\t\"b\": 3\n}\n"
        );
    }

    #[test]
    fn strings_decode_like_go() {
        let doc = parse(r#"{"s":"\ud83d\ude00\ud800x\u00e9\/\b\f"}"#);
        assert_eq!(
            doc.get("s").unwrap().as_scalar().unwrap().as_str(),
            Some("😀\u{FFFD}xé/\u{8}\u{C}")
        );
        // Invalid UTF-8: one U+FFFD per byte, as Go's decoder does.
        let docs = Json.parse_plain(b"{\"s\":\"\xf0\x9f\x98!\"}").unwrap();
        assert_eq!(
            docs[0].get("s").unwrap().as_scalar().unwrap().as_str(),
            Some("\u{FFFD}\u{FFFD}\u{FFFD}!")
        );
    }

    /// Emitting with a trailer gives the bytes of emitting the document with the trailer
    /// entries appended; only the first document is written.
    #[test]
    fn trailer_equals_appended_entries() {
        let mut meta = Map::new();
        meta.push("version", Node::str("3.11.0"));
        meta.push("n", Node::Scalar(Scalar::Int(3)));
        let entries = [Entry {
            key: "sops".into(),
            value: Node::Map(meta),
        }];
        for input in ["{}", r#"{"a":[1,{"b":null}],"c":"<x>"}"#] {
            let docs = vec![parse(input), parse(r#"{"z":1}"#)];
            for indent in [None, Some(0), Some(3)] {
                let opts = EmitOptions { indent };
                let trailer = Trailer {
                    entries: &entries,
                    every_document: true,
                };
                let mut appended = docs.clone();
                trailer.append_to(&mut appended);
                assert_eq!(
                    String::from_utf8(
                        Json.emit_encrypted_with_trailer(&docs, trailer, &opts)
                            .unwrap()
                    )
                    .unwrap(),
                    String::from_utf8(Json.emit_encrypted(&appended, &opts).unwrap()).unwrap(),
                    "{input}"
                );
            }
        }
    }

    /// The eight-byte check flags every word holding a byte that needs a look.
    #[test]
    fn word_check_finds_every_special_byte() {
        for special in 0..=255u8 {
            let needs = !(0x20..0x80).contains(&special) || b"\"\\<>&".contains(&special);
            for pos in 0..8 {
                for filler in [b'a', b'=', b'~', b' ', b'!', b'?'] {
                    let mut word = [filler; 8];
                    word[pos] = special;
                    let flagged = may_need_escape(u64::from_ne_bytes(word));
                    if needs {
                        assert!(flagged, "{special:#x} at {pos}");
                    } else {
                        assert!(!flagged, "{special:#x} at {pos} with {filler}");
                    }
                }
            }
        }
        let mut out = Vec::new();
        write_str(
            &mut out,
            "0123456<89abcdefghi\"jk&lmnopqrstu>vwxyz\u{2028}é\n",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"0123456\\u003c89abcdefghi\\\"jk\\u0026lmnopqrstu\\u003evwxyz\\u2028é\\n\""
        );
    }

    #[test]
    fn integers_as_to_string() {
        for v in [0, 1, -1, 9, 10, -10, 4242, i64::MAX, i64::MIN, i64::MIN + 1] {
            let mut out = Vec::new();
            push_int(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    #[test]
    fn emits_every_scalar_type() {
        let mut doc = Map::new();
        doc.push_comment(" skipped");
        doc.push("i", Node::Scalar(Scalar::Int(-7)));
        doc.push(
            "t",
            Node::Scalar(Scalar::Time("2024-01-02T00:00:00Z".into())),
        );
        doc.push("b", Node::Scalar(Scalar::Bytes(b"a\xff<".to_vec())));
        let mut seq = Seq::new();
        seq.items.push(SeqItem::Comment(Comment::new("gone")));
        seq.push(Node::Scalar(Scalar::Float(1e21)));
        doc.push("l", Node::Seq(seq));
        assert_eq!(
            emit(&doc, Some(1)),
            "{\n \"i\": -7,\n \"t\": \"2024-01-02T00:00:00Z\",\n \"b\": \"a\\ufffd\\u003c\",\n \"l\": [\n  1e+21\n ]\n}\n"
        );
    }

    #[test]
    fn non_finite_floats_fail_like_sops() {
        let nan = Node::Scalar(Scalar::Float(f64::NAN));
        let mut inner = Map::new();
        inner.push(
            "x",
            Node::Seq(Seq {
                items: vec![SeqItem::Node(nan.clone())],
                ..Seq::new()
            }),
        );
        let mut doc = Map::new();
        doc.push("a", Node::Map(inner.clone()));
        let err = Json
            .emit_plain(&[doc], &EmitOptions::default())
            .unwrap_err();
        assert_eq!(
            err,
            FormatError::Emit(
                "Error marshaling to json: Error encoding value : Error encoding value : json: unsupported value: NaN".into()
            )
        );
        let list = Node::Seq(Seq {
            items: vec![SeqItem::Node(Node::Scalar(Scalar::Float(f64::INFINITY)))],
            ..Seq::new()
        });
        assert_eq!(
            Json.emit_value(&list, &EmitOptions::default()).unwrap_err(),
            FormatError::Emit("json: unsupported value: +Inf".into())
        );
        let inf = Node::Scalar(Scalar::Float(f64::NEG_INFINITY));
        assert_eq!(
            Json.emit_value(&inf, &EmitOptions::default()).unwrap_err(),
            FormatError::Emit("json: unsupported value: -Inf".into())
        );
        assert_eq!(
            Json.emit_value(&Node::Map(inner), &EmitOptions::default())
                .unwrap_err(),
            FormatError::Emit(
                "Error marshaling to json: Error encoding value : json: unsupported value: NaN"
                    .into()
            )
        );
    }

    #[test]
    fn emit_value_of_scalars() {
        let opts = EmitOptions::default();
        let v = |s: Scalar| {
            String::from_utf8(Json.emit_value(&Node::Scalar(s), &opts).unwrap()).unwrap()
        };
        assert_eq!(v(Scalar::Str("a<b\n".into())), "a<b\n");
        assert_eq!(v(Scalar::Float(42.0)), "42");
        assert_eq!(v(Scalar::Int(42)), "42");
        assert_eq!(v(Scalar::Bool(false)), "false");
        assert_eq!(v(Scalar::Null), "null");
        assert_eq!(
            v(Scalar::Time("2024-01-02T00:00:00Z".into())),
            "\"2024-01-02T00:00:00Z\""
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{{\"a\":{}{}}}", "[".repeat(999), "]".repeat(999));
        assert!(Json.parse_plain(ok.as_bytes()).is_ok());
        assert!(Json.parse_encrypted(ok.as_bytes()).is_ok());
        for n in [1000, 100_000] {
            let deep = format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n));
            let err = plain_err(deep.as_bytes());
            assert!(err.contains("exceeded max depth"), "{err}");
            let deep = format!("{{\"a\":{}", "{\"b\":".repeat(n));
            assert!(plain_err(deep.as_bytes()).contains("exceeded max depth"));
            assert!(Json.parse_encrypted(deep.as_bytes()).is_err());
        }
    }

    #[test]
    fn out_of_range_number_in_encrypted_file() {
        // Syntax errors come first, as sops checks the whole file before reading numbers.
        let err = Json
            .parse_encrypted(br#"{"a":1e400,"sops":{},"b":x}"#)
            .unwrap_err();
        assert_eq!(
            err,
            FormatError::Parse(
                "Error unmarshalling input json: invalid character 'x' looking for beginning of value".into()
            )
        );
        let err = Json
            .parse_encrypted(br#"{"a":1e400,"sops":{}}"#)
            .unwrap_err();
        assert_eq!(
            err,
            FormatError::Parse(
                "Could not unmarshal input data: strconv.ParseFloat: parsing \"1e400\": value out of range".into()
            )
        );
    }

    #[test]
    fn quoting_helpers_match_go() {
        assert_eq!(quote_char(b'\''), "'\\''");
        assert_eq!(quote_char(b'"'), "'\"'");
        assert_eq!(quote_char(b'\\'), "'\\\\'");
        assert_eq!(quote_char(0x7f), "'\\x7f'");
        assert_eq!(quote_char(0xff), "'ÿ'");
        assert_eq!(
            go_quote("a\u{2028}😀\u{10FFFF}"),
            "\"a\\u2028😀\\U0010ffff\""
        );
    }

    /// Mutated and truncated inputs never panic.
    #[test]
    fn never_panics_on_garbage() {
        let seed = read("escapes.json");
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut input = seed.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % input.len();
                input[i] = (next() & 0xff) as u8;
            }
            input.truncate((next() as usize) % (input.len() + 1));
            let _ = Json.parse_plain(&input);
            let _ = Json.parse_encrypted(&input);
        }
    }

    /// Timing of a 3.5 MB file with 140 000 values (run with `--release --ignored --nocapture`).
    #[test]
    #[ignore]
    fn perf_large_file() {
        let mut input = String::from("{");
        for i in 0..35_000 {
            if i > 0 {
                input.push(',');
            }
            input.push_str(&format!(
                "\"key_{i}\": {{\"name\": \"value number {i} with some text <&> \\u00e9\", \"n\": {}, \"list\": [true, null, \"ENC[AES256_GCM,data:abcdefgh,iv:ijkl,tag:mnop,type:str]\"]}}",
                i as f64 * 1.25
            ));
        }
        input.push('}');
        // The best of a few runs, since the machine is shared.
        let mut best = (std::time::Duration::MAX, std::time::Duration::MAX, 0);
        for _ in 0..5 {
            let start = std::time::Instant::now();
            let docs = Json.parse_plain(input.as_bytes()).unwrap();
            let parsed = start.elapsed();
            let out = Json.emit_plain(&docs, &EmitOptions::default()).unwrap();
            let total = start.elapsed();
            best = (best.0.min(parsed), best.1.min(total), out.len());
        }
        eprintln!(
            "{} bytes in, {} out: parse {:?}, parse+emit {:?}",
            input.len(),
            best.2,
            best.0,
            best.1
        );
    }
}
