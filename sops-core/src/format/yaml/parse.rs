//! Builds our document tree from granit-parser's event stream in one pass, placing comments
//! where sops (through yaml.v3) puts them and typing scalars as yaml.v3 resolves them.

use std::collections::HashMap;

use base64::Engine;
use granit_parser::{Event, Parser, ScalarStyle, Span, StructureStyle, Tag};

use super::resolve::{resolve_plain, Resolved};
use crate::format::FormatError;
use crate::tree::{Document, Entry, Map, MapItem, Node, Scalar, Seq, SeqItem};

/// Most nodes a file may expand to through aliases (protects against alias bombs).
pub(super) const MAX_NODES: usize = 1_000_000;

const CORE_PREFIX: &str = "tag:yaml.org,2002:";

/// An open collection.
enum Frame {
    Map {
        map: Map,
        col: usize,
        line: usize,
        anchor: usize,
        flow: bool,
        start_count: usize,
        /// The key read, waiting for its value, with the byte offset where the key ends.
        key: Option<(String, usize)>,
        /// The waiting key is a merge key (`<<` untagged or `!!merge`) of the first document,
        /// whose value yaml.v3 checks.
        merge: bool,
        /// Line of each key so far, for the duplicate check (first document only).
        key_lines: Vec<usize>,
        /// Index of the keys, built once the mapping is large.
        seen: Option<HashMap<String, usize>>,
    },
    Seq {
        seq: Seq,
        col: usize,
        /// Column of the block sequence's `-` indicators (`col` is where granit starts it).
        dash_col: usize,
        line: usize,
        anchor: usize,
        flow: bool,
        start_count: usize,
    },
}

impl Frame {
    fn col(&self) -> usize {
        match self {
            Frame::Map { col, .. } | Frame::Seq { col, .. } => *col,
        }
    }
    fn flow(&self) -> bool {
        match self {
            Frame::Map { flow, .. } | Frame::Seq { flow, .. } => *flow,
        }
    }
    fn push_comment(&mut self, text: String) {
        match self {
            Frame::Map { map, .. } => map.push_comment(text),
            Frame::Seq { seq, .. } => seq
                .items
                .push(SeqItem::Comment(crate::tree::Comment::new(text))),
        }
    }
}

/// How a waiting own-line comment is to be placed, decided when collections close after it
/// (an approximation of yaml.v3's split of comments into foot and head comments).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Not decided yet.
    Open,
    /// Foot of the last content: goes into the innermost closing collection.
    Deepest,
    /// Foot comment: goes into the innermost closing collection whose column is at or left of
    /// the comment's.
    ByColumn,
    /// Head comment of the next content: waits for it.
    Head,
    /// Foot of the block collection at this depth of the stack (see [`no_final_break_feet`]).
    AtDepth(usize),
    /// Foot of the next block sequence item (see [`Builder::foot_of_next_item`]).
    NextItem,
}

/// An own-line comment waiting for the event that decides where it goes.
struct Pending {
    text: String,
    /// Its column (`usize::MAX` for a same-line comment that goes to the next node).
    col: usize,
    /// Byte offset where the comment ends.
    end: usize,
    place: Place,
    /// A same-line comment right after an anchor or a tag (`key: &a # c`): yaml.v3 gives it
    /// to the next event that carries comments (see [`Builder::end_collection`]).
    after_props: bool,
}

/// What was completed last, so that a same-line comment can be moved above it.
#[derive(Clone, Copy)]
enum Last {
    None,
    /// A scalar or alias stored at this index of the top frame's items.
    Leaf(usize),
    /// A flow collection stored at this index of the top frame's items.
    Flow(usize),
}

/// Receives the top-level items of the first document as they become final (see
/// [`parse_handing_over`]).
pub(crate) type RootHook<'h> = &'h mut dyn FnMut(&mut [MapItem]);

/// Top-level items handed to a [`RootHook`] at a time, at least.
const ROOT_BATCH: usize = 256;

struct Builder<'h> {
    /// Receives the first document's top-level items once final.
    root_hook: Option<RootHook<'h>>,
    /// How many top-level items of the first document `root_hook` had.
    handed: usize,
    stack: Vec<Frame>,
    pending: Vec<Pending>,
    /// Each anchored node, with its size in nodes and its line.
    anchors: HashMap<usize, (Node, usize, usize)>,
    /// The latest anchor of each name, for aliases to an earlier document's anchor.
    anchor_names: HashMap<String, usize>,
    /// Positions for the tab check, when the input has a tab.
    tabs: Option<super::tabs::Record>,
    /// End of the last token other than a comment, for the tab check.
    last_end: usize,
    /// Where the input had a line or paragraph separator (see [`super::breaks`]).
    seps: Vec<(usize, char)>,
    /// End of the last scalar, alias or flow collection stored.
    leaf_end: usize,
    /// The first non-string key, reported once the whole input has parsed.
    deferred: Option<FormatError>,
    /// The first error of sops's decoding of the first document, reported at its end.
    deferred_doc: Option<FormatError>,
    placeholders: usize,
    count: usize,
    docs: Vec<Document>,
    root: Option<Map>,
    doc_seen_root: bool,
    last: Last,
    doc_index: usize,
    /// The last content read was an empty value (`k:` then a line break): yaml.v3 gives the
    /// comments after it, up to the end of the document, to the document's top level.
    last_empty: bool,
    /// A comment yaml.v3 places after the first item of the block collection open at this
    /// stack depth (see [`Builder::crlf_anchor_quirk`]).
    after_first: Option<(usize, String)>,
    /// The previous document ended with `...`.
    prev_explicit_end: bool,
    /// Comments yaml.v3 places after the first entry stored at this stack depth (the foot of
    /// the next block sequence item, see [`Builder::foot_of_next_item`]).
    next_foot: Option<(usize, Vec<String>)>,
    /// A tag that yaml.v3 reads further than granit (see [`tag_read_on`]): the bytes to
    /// rewrite before parsing again.
    retag: Option<(usize, usize)>,
}

fn perr(msg: impl Into<String>) -> FormatError {
    FormatError::Parse(msg.into())
}

/// Parses a YAML stream into documents: through the line-oriented fast path when the input
/// stays in its subset, through granit otherwise (the two produce the same events).
pub(crate) fn parse(input: &[u8]) -> Result<Vec<Document>, FormatError> {
    parse_with(input, true)
}

/// [`parse`], with or without the fast path (without: for the differential fuzz target).
pub(crate) fn parse_with(input: &[u8], fast_path: bool) -> Result<Vec<Document>, FormatError> {
    if input.is_empty() {
        return Err(FormatError::EmptyYaml);
    }
    let text = std::str::from_utf8(input).map_err(|_| perr("yaml: invalid leading UTF-8 octet"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Whether the fast path saw only characters of its subset (no tab, no NEL/LS/PS): then
    // the scans for those are not needed.
    let mut plain_characters = false;
    if fast_path {
        match parse_fast(text) {
            Ok(docs) => return Ok(docs),
            Err(plain) => plain_characters = plain,
        }
    }
    if !plain_characters && has_unicode_break(text) {
        // Line breaks for yaml.v3, text for granit (and outside the fast path's subset).
        let (normalized, seps) = super::breaks::normalize(text);
        return parse_full_with(&normalized, &seps, true);
    }
    parse_full_with(text, &[], !plain_characters)
}

/// True if `text` holds NEL, LS or PS (found through their lead bytes, which are rare).
fn has_unicode_break(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr2_iter(0xC2, 0xE2, b).any(|i| {
        matches!(
            (b[i], b.get(i + 1), b.get(i + 2)),
            (0xC2, Some(0x85), _) | (0xE2, Some(0x80), Some(0xA8 | 0xA9))
        )
    })
}

/// The fast path: `None` when the input leaves its subset or anything goes wrong, in which
/// case granit parses the input again and reports the error, if any.
fn parse_fast(text: &str) -> Result<Vec<Document>, bool> {
    if let Some(parts) = super::parts::split(text.as_bytes()) {
        if let Some((doc, _)) = super::parts::parse_parts(parts, |_| ()) {
            return Ok(vec![doc]);
        }
    }
    parse_fast_counting(text).map(|(docs, _)| docs)
}

/// [`parse_fast`] of the whole text, in one piece, also giving the number of nodes read (for
/// the node limit of a document read in parts).
pub(super) fn parse_fast_counting(text: &str) -> Result<(Vec<Document>, usize), bool> {
    let mut b = Builder::new();
    super::fast::scan_from_line(text, |event, span| {
        b.event(event, span, text)
            .map_err(|_| super::fast::Unsupported)
    })
    // Line 0: a character outside the subset (or no final line break).
    .map_err(|line| line > 0)?;
    let nodes = b.count;
    b.finish().map(|docs| (docs, nodes)).map_err(|_| true)
}

/// Parses through the fast path only, handing the first document's top-level items to `hook`
/// in batches as soon as they are final (the hook may change them in place, not add or remove
/// any). Returns the documents and how many top-level items of the first document the hook
/// had; `None` when the input is outside the fast path's subset or does not parse (the hook
/// may then have seen some items: the caller starts again with [`parse`], which reports the
/// error, if any).
pub(crate) fn parse_handing_over(
    input: &[u8],
    hook: RootHook<'_>,
) -> Option<(Vec<Document>, usize)> {
    let text = std::str::from_utf8(input).ok()?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut b = Builder::new();
    b.root_hook = Some(hook);
    super::fast::scan_from_line(text, |event, span| {
        b.event(event, span, text)
            .map_err(|_| super::fast::Unsupported)
    })
    .ok()?;
    let handed = b.handed;
    b.finish().ok().map(|docs| (docs, handed))
}

/// Parses with granit, which reads all of YAML.
#[cfg(test)]
pub(super) fn parse_full(text: &str) -> Result<Vec<Document>, FormatError> {
    parse_full_with(text, &[], true)
}

/// Parses with granit a text whose line and paragraph separators were replaced by `\n` at the
/// offsets `seps` (see [`super::breaks`]).
/// `may_have_tabs`: false when the input is known to hold no tab.
fn parse_full_with(
    text: &str,
    seps: &[(usize, char)],
    may_have_tabs: bool,
) -> Result<Vec<Document>, FormatError> {
    let mut text = std::borrow::Cow::Borrowed(text);
    let mut seps = std::borrow::Cow::Borrowed(seps);
    // libyaml accepts `\'` in a double-quoted scalar (a `'`), which YAML 1.2 and granit do
    // not: each time granit stops at one, it is rewritten `\x27` and the input parsed again.
    // Likewise a comment right after a closing quote or bracket (`'a'#c`): a blank is put
    // before its `#`.
    for _ in 0..64 {
        match parse_granit(&text, &seps, may_have_tabs) {
            Err(Failure::Retag(range)) => retag(text.to_mut(), range),
            Err(Failure::Scan(e)) => match escaped_quote_at(&text, &e) {
                Some(at) => text.to_mut().replace_range(at..at + 2, "\\x27"),
                None if tag_error_range(&text, &e).is_some() => {
                    if let Some(range) = tag_error_range(&text, &e) {
                        retag(text.to_mut(), range);
                    }
                }
                None => match glued_comment_at(&text, &e) {
                    Some(at) => {
                        text.to_mut().insert(at, ' ');
                        for s in seps.to_mut().iter_mut().filter(|s| s.0 >= at) {
                            s.0 += 1;
                        }
                    }
                    None => return Err(scan_error(&e)),
                },
            },
            Err(Failure::Format(e)) => return Err(e),
            Ok(docs) => return Ok(docs),
        }
    }
    parse_granit(&text, &seps, may_have_tabs).map_err(|f| match f {
        Failure::Scan(e) => scan_error(&e),
        Failure::Format(e) => e,
        Failure::Retag(_) => perr("yaml: did not find expected whitespace or line break"),
    })
}

enum Failure {
    Scan(granit_parser::ScanError),
    /// Rewrite these bytes of a tag (see [`tag_read_on`]) and parse again.
    Retag((usize, usize)),
    Format(FormatError),
}

fn parse_granit(
    text: &str,
    seps: &[(usize, char)],
    may_have_tabs: bool,
) -> Result<Vec<Document>, Failure> {
    let mut parser = Parser::new_from_str_with_options(text, libyaml_options());
    let mut b = Builder::new();
    b.seps = seps.to_vec();
    if may_have_tabs && text.contains('\t') {
        b.tabs = Some(super::tabs::Record::default());
    }
    while let Some(item) = parser.next_event() {
        let (event, span) = match item {
            Ok(x) => x,
            Err(e) => {
                // A tab that libyaml refuses may make granit stop later, with another error.
                if let (Some(rec), Some(at)) = (&b.tabs, e.marker().byte_offset()) {
                    let line_end = text[at.min(text.len())..]
                        .find('\n')
                        .map_or(text.len(), |n| at + n + 1);
                    super::tabs::check(&text[..line_end], rec).map_err(Failure::Format)?;
                }
                return Err(Failure::Scan(e));
            }
        };
        if b.tabs.is_some() {
            b.record_for_tabs(&event, span);
        }
        if let Err(e) = b.event(event, span, text) {
            if let Some(range) = b.retag {
                return Err(Failure::Retag(range));
            }
            // libyaml's scanner would have stopped at a refused tab before this.
            if let (Some(rec), Some(at)) = (&b.tabs, span.start.byte_offset()) {
                let line_end = text[at.min(text.len())..]
                    .find('\n')
                    .map_or(text.len(), |n| at + n + 1);
                super::tabs::check(&text[..line_end], rec).map_err(Failure::Format)?;
            }
            return Err(Failure::Format(e));
        }
    }
    if let Some(rec) = &b.tabs {
        super::tabs::check(text, rec).map_err(Failure::Format)?;
    }
    b.finish().map_err(Failure::Format)
}

/// yaml.v3 reads a tag as libyaml does (`yaml_parser_scan_tag_uri`): after the handle, every
/// URI character, `,`, `[` and `]` included, in any context, up to a blank or a line break
/// (the reference: `[!custom, 1]` is `["1"]`, `k: !t, x` is `k: x`). When the tag granit read
/// ends at `at` on a `,` or `[` that yaml.v3 reads on, followed by a blank, returns the range
/// of the tag's rest: those characters are rewritten `_` (tags other than the standard ones
/// make strings in sops, whatever their name) and the input parsed again.
fn tag_read_on(src: &str, at: usize) -> Option<(usize, usize)> {
    let rest = src.get(at..)?;
    if !rest.starts_with([',', '[']) {
        return None;
    }
    let before = &src[..at];
    let word = before
        .rsplit([' ', '\t', '\n', '\r', '[', '{', ','])
        .next()
        .unwrap_or("");
    let uri = |b: u8| b.is_ascii_alphanumeric() || b"_-;/?:@&=+$,.!~*'()[]%".contains(&b);
    // (All of the tag granit read must be yaml.v3 tag characters: `!#x[` is refused there.)
    if !word.starts_with('!') || word.starts_with("!<") || !word.bytes().skip(1).all(uri) {
        return None;
    }
    let len = rest.bytes().take_while(|&b| uri(b)).count();
    let end = at + len;
    let blank = src[end..]
        .chars()
        .next()
        .is_none_or(|c| " \t\r\n".contains(c));
    (blank && src[at..end].contains([',', '[', ']'])).then_some((at, end))
}

/// The tag granit refused for what follows it (`k: !t, x`), when yaml.v3 reads that on into
/// the tag: the range to rewrite (see [`tag_read_on`]).
fn tag_error_range(text: &str, e: &granit_parser::ScanError) -> Option<(usize, usize)> {
    if !e
        .info()
        .contains("did not find expected whitespace or line break")
    {
        return None;
    }
    let m = e.marker().byte_offset()?.min(text.len());
    // The marker is at the tag's start or after it: find the tag's `!` on that line.
    let line_start = text[..m].rfind('\n').map_or(0, |n| n + 1);
    let line_end = text[m..].find('\n').map_or(text.len(), |n| m + n);
    let line = &text[line_start..line_end];
    let mut search = 0;
    while let Some(i) = line[search..].find('!') {
        let bang = line_start + search + i;
        let after = &text[bang..];
        let tag_len = after
            .bytes()
            .take_while(|&b| !b" \t\r\n,[]{}".contains(&b))
            .count();
        if let Some(range) = tag_read_on(text, bang + tag_len) {
            if range.0 >= m.min(range.0) {
                return Some(range);
            }
        }
        search += i + 1;
    }
    None
}

/// Rewrites the `,`, `[` and `]` of `range` (see [`tag_read_on`]) as `_`.
fn retag(text: &mut String, range: (usize, usize)) {
    let fixed: String = text[range.0..range.1]
        .chars()
        .map(|c| if matches!(c, ',' | '[' | ']') { '_' } else { c })
        .collect();
    text.replace_range(range.0..range.1, &fixed);
}

/// Where granit refused a comment glued to a closing quote or bracket (`'a'#c`, `[a]#c`),
/// which libyaml reads as a comment (the reference: `k: 'a'#c` is `k: a`), if it did.
fn glued_comment_at(text: &str, e: &granit_parser::ScanError) -> Option<usize> {
    if *e.kind() != granit_parser::ErrorKind::CommentNotSeparated {
        return None;
    }
    let at = e.marker().byte_offset()?;
    let glued = text.get(at..)?.starts_with('#') && text[..at].ends_with(['\'', '"', ']', '}']);
    glued.then_some(at)
}

/// Where granit refused an escaped `'` (`\'`) in a double-quoted scalar, if it did.
fn escaped_quote_at(text: &str, e: &granit_parser::ScanError) -> Option<usize> {
    if *e.kind() != granit_parser::ErrorKind::UnknownQuotedScalarEscape {
        return None;
    }
    // granit marks the scalar's opening quote.
    let start = e.marker().byte_offset()?;
    let mut chars = text.get(start..)?.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return None,
            '\\' => match chars.next()? {
                (_, '\'') => return Some(start + i),
                _ => continue,
            },
            _ => {}
        }
    }
    None
}

/// yaml.v3's check of a double-quoted scalar's escapes that YAML 1.2 (and granit) allows:
/// `\/` is unknown to it, and a `\u`/`\U` escape of a surrogate is invalid (no pairs).
fn check_double_quoted(raw: &str, line: usize) -> Result<(), FormatError> {
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            continue;
        }
        let problem = match chars.next() {
            Some((_, '/')) => "found unknown escape character",
            Some((j, u @ ('u' | 'U'))) => {
                let n = if u == 'u' { 4 } else { 8 };
                let code = raw
                    .get(j + 1..j + 1 + n)
                    .and_then(|h| u32::from_str_radix(h, 16).ok());
                match code {
                    Some(code) if (0xD800..=0xDFFF).contains(&code) || code > 0x10FFFF => {
                        "found invalid Unicode character escape code"
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        // yaml.v3 names the scalar's line, or the problem's when the scalar starts the file.
        let at = if line > 1 {
            line
        } else {
            1 + raw[..i].matches('\n').count()
        };
        return Err(perr(if at > 1 {
            format!("yaml: line {at}: {problem}")
        } else {
            format!("yaml: {problem}")
        }));
    }
    Ok(())
}

/// granit's options for the points where libyaml (hence yaml.v3) departs from the YAML test
/// suite: a block scalar ending the file without a line break gets none (`a: |\n  x` is
/// `x`), a BOM inside a document is content, and an alias may refer to an anchor of an
/// earlier document (yaml.v3's parser keeps its anchors for the whole stream).
fn libyaml_options() -> granit_parser::Options {
    let mut o = granit_parser::Options::default();
    o.bom_inside_document_as_content = true;
    o.block_scalar_eof_without_line_feed = true;
    o.emit_unresolved_aliases = true;
    o.emit_anchor_events = true;
    o
}

impl<'h> Builder<'h> {
    fn new() -> Self {
        Builder {
            root_hook: None,
            handed: 0,
            stack: Vec::new(),
            pending: Vec::new(),
            anchors: HashMap::new(),
            anchor_names: HashMap::new(),
            tabs: None,
            last_end: 0,
            seps: Vec::new(),
            leaf_end: 0,
            deferred: None,
            deferred_doc: None,
            placeholders: 0,
            count: 0,
            docs: Vec::new(),
            root: None,
            doc_seen_root: false,
            last: Last::None,
            doc_index: 0,
            prev_explicit_end: false,
            last_empty: false,
            after_first: None,
            next_foot: None,
            retag: None,
        }
    }

    /// Notes where `event` is, for the tab check (before the event is applied).
    fn record_for_tabs(&mut self, event: &Event<'_>, span: Span) {
        let start = span.start.byte_offset().unwrap_or(0);
        let end = span.end.byte_offset().unwrap_or(0);
        let in_flow = self.stack.last().is_some_and(Frame::flow);
        let parent = self.stack.last().map_or(-1, |f| f.col() as isize);
        let Some(rec) = self.tabs.as_mut() else {
            return;
        };
        match event {
            Event::Comment(..) => return,
            Event::Scalar(_, style, ..) => match style {
                ScalarStyle::Plain if !in_flow => rec.plain.push((start, end, parent)),
                ScalarStyle::Literal | ScalarStyle::Folded => {
                    rec.blocks.push((self.last_end, parent))
                }
                _ => rec.covered.push((start, end)),
            },
            Event::MappingStart(StructureStyle::Flow, ..)
            | Event::SequenceStart(StructureStyle::Flow, ..) => rec.flow_starts.push(start),
            Event::MappingEnd | Event::SequenceEnd if in_flow => {
                if let Some(s) = rec.flow_starts.pop() {
                    rec.covered.push((s, end));
                }
            }
            _ => {}
        }
        self.last_end = end;
    }

    /// A key sops refuses only when it encrypts the tree, after reading the whole file: the
    /// error waits for the end of the input (a syntax error anywhere comes first), and a
    /// placeholder key stands in meanwhile.
    ///
    /// `raw`: the key's text, for a scalar key. yaml.v3 finds duplicate keys by their text
    /// (`12` and `"12"` are the same key), before sops sees the key's type: the text stands in
    /// for the key, so that a duplicate is refused first (exit 2, not 23).
    fn defer_key_error(
        &mut self,
        e: FormatError,
        raw: Option<&str>,
        line: usize,
        end: usize,
    ) -> Result<(), FormatError> {
        self.deferred.get_or_insert(e);
        self.placeholders += 1;
        let key = match raw {
            Some(raw) => raw.to_string(),
            None => format!("\u{0}non-string key {}", self.placeholders),
        };
        self.set_key(key, false, line, end)
    }

    /// A key that is a collection (`[a, b]: v`, or an alias to one or to a non-string
    /// scalar), first seen at `key_line`: sops's first pass decodes the first document into a
    /// map of strings, which refuses such a key once that document is read (exit 2); in a later
    /// document it is refused when the tree is encrypted (exit 23).
    fn non_string_key_node(
        &mut self,
        key: Node,
        key_line: usize,
        line: usize,
        end: usize,
    ) -> Result<(), FormatError> {
        if self.doc_index == 0 && !matches!(key, Node::Scalar(_)) {
            let e = if self.stack.len() == 1 {
                let tag = if matches!(key, Node::Map(_)) {
                    "!!map"
                } else {
                    "!!seq"
                };
                perr(format!(
                    "yaml: unmarshal errors:\n  line {key_line}: cannot unmarshal {tag} into string"
                ))
            } else {
                perr(format!("yaml: invalid map key: {}", go_syntax(&key)))
            };
            self.deferred_doc.get_or_insert(e);
        }
        self.defer_key_error(non_string_key_node(&key), None, line, end)
    }

    fn finish(self) -> Result<Vec<Document>, FormatError> {
        if let Some(e) = self.deferred {
            return Err(e);
        }
        if self.docs.is_empty() {
            return Err(perr("EOF"));
        }
        Ok(self.docs)
    }

    fn event(&mut self, event: Event<'_>, span: Span, src: &str) -> Result<(), FormatError> {
        let line = span.start.line();
        let col = span.start.col();
        match event {
            Event::StreamStart => {}
            Event::StreamEnd => {
                // Comments after the last document's end (`...`) belong to that document, as
                // in yaml.v3 (the reference keeps them).
                if let Some(last) = self.docs.last_mut() {
                    for p in self.pending.drain(..) {
                        last.push_comment(p.text);
                    }
                }
            }
            Event::Anchor(id, name) => {
                self.anchor_names.insert(name.into_owned(), id);
            }
            Event::UnresolvedAlias(name) => {
                // Not defined in this document: an anchor of an earlier one, as in yaml.v3.
                let Some(&id) = self.anchor_names.get(name.as_ref()) else {
                    let prefix = if self.doc_index > 0 {
                        "Error unmarshaling input YAML: "
                    } else {
                        ""
                    };
                    return Err(perr(format!(
                        "{prefix}yaml: unknown anchor '{name}' referenced"
                    )));
                };
                return self.event(Event::Alias(id), span, src);
            }
            Event::DocumentStart(_, Some(v)) if (v.major, v.minor) != (1, 1) => {
                // yaml.v3 reads YAML 1.1 documents only.
                return Err(perr("yaml: found incompatible YAML document"));
            }
            Event::DocumentStart(..) => {
                self.root = None;
                self.doc_seen_root = false;
            }
            Event::DocumentEnd => {
                if let Some(e) = self.deferred_doc.take() {
                    return Err(e);
                }
                let had_root = self.root.is_some();
                let mut root = self.root.take().unwrap_or_default();
                // The comments of an empty last document end up at the end of the previous
                // document, as in yaml.v3, unless the document has a comment on its `---` line
                // or ends with `...` or another `---`: then they stay in it.
                let to_previous = !had_root
                    && !self.prev_explicit_end
                    && self.pending.first().is_some_and(|first| {
                        let line_start = src[..first.end.min(src.len())]
                            .rfind('\n')
                            .map_or(0, |n| n + 1);
                        !src[line_start..].starts_with("---")
                    })
                    && self.pending.last().is_some_and(|last| {
                        src.get(last.end..)
                            .is_some_and(|rest| rest.trim().is_empty())
                    });
                if let Some((_, texts)) = self.next_foot.take() {
                    texts.into_iter().for_each(|t| root.push_comment(t));
                }
                let target = match self.docs.last_mut() {
                    Some(prev) if to_previous => prev,
                    _ => &mut root,
                };
                for p in self.pending.drain(..) {
                    target.push_comment(p.text);
                }
                self.docs.push(root);
                self.doc_index += 1;
                let at = span.start.byte_offset().unwrap_or(0);
                self.prev_explicit_end = src.get(at..).is_some_and(|r| r.starts_with("..."));
            }
            Event::Comment(text, placement) => {
                let start = span.start.byte_offset().unwrap_or(0);
                if placement == granit_parser::Placement::Right
                    && self.right_comment(text.to_string(), start, src)
                {
                    return Ok(());
                }
                // A same-line comment with nothing before it (`- # c`, `key: &a # c`) goes to
                // the innermost node that follows: give it a column right of everything.
                let col = if placement == granit_parser::Placement::Right {
                    usize::MAX
                } else {
                    col
                };
                let end = span.end.byte_offset().unwrap_or(0);
                let after_props =
                    placement == granit_parser::Placement::Right && after_props(src, start);
                self.pending.push(Pending {
                    text: text.into_owned(),
                    col,
                    end,
                    place: Place::Open,
                    after_props,
                });
            }
            Event::Alias(id) => {
                self.last = Last::None;
                self.last_empty = false;
                let (node, size, anchor_line) =
                    self.anchors.get(&id).cloned().ok_or_else(|| {
                        perr(format!("yaml: line {line}: unknown anchor referenced"))
                    })?;
                self.count += size;
                if self.count > MAX_NODES {
                    return Err(perr(format!(
                        "yaml: line {line}: document contains excessive aliasing"
                    )));
                }
                if self.stack.is_empty() {
                    return self.root_value(node, line);
                }
                self.flush_pending_into_top();
                if matches!(self.stack.last(), Some(Frame::Map { key: None, .. })) {
                    // An alias as a key (`*k : v`): yaml.v3 uses the value it refers to.
                    return match node {
                        Node::Scalar(Scalar::Str(key)) => {
                            self.set_key(key, false, line, span.end.byte_offset().unwrap_or(0))
                        }
                        other => {
                            let end = span.end.byte_offset().unwrap_or(0);
                            self.non_string_key_node(other, anchor_line, line, end)
                        }
                    };
                }
                self.attach(node, 0, size, line, true)?;
                self.leaf_end = span.end.byte_offset().unwrap_or(0);
            }
            Event::Scalar(mut value, style, anchor, tag) => {
                self.last = Last::None;
                self.bump(line)?;
                if tag.is_some() {
                    let at = span.start.byte_offset().unwrap_or(0);
                    if let Some(range) = tag_read_on(src, at) {
                        self.retag = Some(range);
                        return Err(perr("yaml: tag read on"));
                    }
                    check_tag_end(src, at, line)?;
                }
                if style == ScalarStyle::Plain
                    && span.end.byte_offset() > span.start.byte_offset()
                    && matches!(self.stack.last(), Some(f) if f.flow())
                    && src
                        .get(span.start.byte_offset().unwrap_or(0)..)
                        .is_some_and(|r| r.starts_with(':'))
                {
                    // In a flow collection libyaml reads a `:` starting a token as the value
                    // indicator, whatever follows: `[:x]`, `{a: 1, :x}` are refused there (the
                    // reference, exit 2), granit reads the plain scalar `:x`.
                    return Err(flow_node_content_error(line));
                }
                if !self.seps.is_empty() {
                    let (start, end) = (
                        span.start.byte_offset().unwrap_or(0),
                        span.end.byte_offset().unwrap_or(0),
                    );
                    let held = super::breaks::any_in(&self.seps, start, end);
                    match style {
                        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted if held => {
                            let double = style == ScalarStyle::DoubleQuoted;
                            value =
                                super::breaks::quoted(src, start, end, double, &self.seps).into();
                        }
                        ScalarStyle::Literal => {
                            value = super::breaks::literal(src, start, &value, &self.seps).into();
                        }
                        ScalarStyle::Plain if held => {
                            value = super::breaks::plain(src, start, end, &self.seps).into();
                        }
                        ScalarStyle::Folded if held => {
                            value = super::breaks::folded(src, start, end, &value, &self.seps)
                                .ok_or_else(|| super::breaks::refuse(line))?
                                .into();
                        }
                        _ => {}
                    }
                }
                if style == ScalarStyle::DoubleQuoted {
                    let raw = src
                        .get(
                            span.start.byte_offset().unwrap_or(0)
                                ..span.end.byte_offset().unwrap_or(0),
                        )
                        .unwrap_or("");
                    if raw.contains('\\') {
                        check_double_quoted(raw, line)?;
                    }
                }
                let scalar = match scalar_from_event(&value, style, tag.as_deref(), line) {
                    // sops decodes the scalars of later documents one by one and ignores the
                    // errors: the value is null.
                    Err(_) if self.doc_index > 0 => Value::Scalar(Scalar::Null),
                    other => other?,
                };
                if self.stack.is_empty() {
                    return self.root_scalar(scalar, &value, line);
                }
                // Comments after an empty value (`w: !x` then `# c`, or `- # c` then `- b`)
                // belong to what follows it, as in yaml.v3.
                let (start, end) = (
                    span.start.byte_offset().unwrap_or(0),
                    span.end.byte_offset().unwrap_or(0),
                );
                if start == end {
                    self.comments_before_empty_item(start);
                }
                self.flush_pending_before(start, start == end);
                let is_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                // (Not after a map value that is only an anchor or a tag: `k: &a` then `  # c`
                // keeps the comment in place, the reference; `- &a` then `  # c` does not.)
                let props_value = (anchor != 0 || tag.is_some())
                    && matches!(self.stack.last(), Some(Frame::Map { .. }));
                // (An empty block scalar, `k: |`, is content to yaml.v3: seed s7 yaml #95.)
                self.last_empty = !is_key
                    && start == end
                    && !props_value
                    && !matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
                if is_key && start == end && anchor == 0 && tag.is_none() {
                    self.check_implicit_empty_key(src, start, line)?;
                }
                if is_key && self.stack.len() == 1 && self.doc_index == 0 {
                    self.hand_over_root_items();
                }
                if is_key {
                    let is_merge = self.doc_index == 0 && matches!(scalar, Value::Merge);
                    let key = match scalar {
                        Value::Scalar(Scalar::Str(s)) => s,
                        Value::Merge => "<<".to_string(),
                        Value::Scalar(other) => {
                            let end = span.end.byte_offset().unwrap_or(0);
                            return self.defer_key_error(
                                non_string_key(&other),
                                Some(&value),
                                line,
                                end,
                            );
                        }
                        Value::Uint(u) => {
                            let end = span.end.byte_offset().unwrap_or(0);
                            return self.defer_key_error(FormatError::Unsupported(format!(
                                "Error encrypting tree: Error walking tree: Tree contains a non-string key (type uint64): %!s(uint64={u}). Only string keys aresupported"
                            )), Some(&value), line, end);
                        }
                    };
                    if anchor != 0 {
                        self.anchors
                            .insert(anchor, (Node::str(key.clone()), 1, line));
                    }
                    return self.set_key(key, is_merge, line, span.end.byte_offset().unwrap_or(0));
                }
                let node = match scalar {
                    Value::Scalar(s) => Node::Scalar(s),
                    Value::Merge => Node::str("<<"),
                    Value::Uint(_) => {
                        // sops fails on it when encrypting, after reading the whole input: a
                        // later syntax error wins (exit 2, not 23).
                        self.deferred.get_or_insert(FormatError::Unsupported(
                            "Error encrypting tree: Error walking tree: Cannot walk value, unknown type: uint64".into(),
                        ));
                        Node::Scalar(Scalar::Null)
                    }
                };
                self.attach(node, anchor, 1, line, true)?;
                self.leaf_end = span.end.byte_offset().unwrap_or(0);
            }
            Event::SequenceStart(style, anchor, _) => {
                self.last = Last::None;
                self.last_empty = false;
                let at = span.start.byte_offset().unwrap_or(0).min(src.len());
                let held = self.first_item_comments(style, at, src);
                self.start_collection(false, style, anchor, line, col)?;
                self.pending.extend(held);
                self.crlf_anchor_quirk(style, src);
                let start = span.start.byte_offset().unwrap_or(0).min(src.len());
                if let Some(Frame::Seq { dash_col, .. }) = self.stack.last_mut() {
                    // The `-` itself, or the last one before the start on its line.
                    let before = &src[..start];
                    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
                    if !src[start..].starts_with('-') {
                        if let Some(d) = before[line_start..].rfind('-') {
                            *dash_col = before[line_start..line_start + d].chars().count();
                        }
                    }
                }
            }
            Event::MappingStart(style, anchor, _) => {
                self.last = Last::None;
                self.last_empty = false;
                self.start_collection(true, style, anchor, line, col)?;
                self.crlf_anchor_quirk(style, src);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.last = Last::None;
                self.end_collection(src)?;
                self.leaf_end = span.end.byte_offset().unwrap_or(0);
            }
            _ => {}
        }
        Ok(())
    }

    /// At a new key of the first document's top-level block mapping, every item before it is
    /// final (its value closed, the comments before the key placed, nothing can be inserted
    /// before the key any more): hands them to the hook, a batch at a time.
    fn hand_over_root_items(&mut self) {
        let Some(hook) = self.root_hook.as_mut() else {
            return;
        };
        if let Some(Frame::Map {
            map, flow: false, ..
        }) = self.stack.first_mut()
        {
            if map.items.len() >= self.handed + ROOT_BATCH {
                hook(&mut map.items[self.handed..]);
                self.handed = map.items.len();
            }
        }
    }

    /// Records `key` as the waiting key of the top map, checking for duplicates (first
    /// document only, as sops's first decoding pass does).
    fn set_key(
        &mut self,
        key: String,
        is_merge: bool,
        line: usize,
        end: usize,
    ) -> Result<(), FormatError> {
        let first_doc = self.doc_index == 0;
        if let Some(Frame::Map {
            key: slot,
            merge,
            seen,
            key_lines,
            map,
            ..
        }) = self.stack.last_mut()
        {
            if first_doc {
                let prev = match seen {
                    Some(index) => index.get(&key).copied(),
                    None => map
                        .entries()
                        .zip(key_lines.iter())
                        .find(|(e, _)| e.key == key)
                        .map(|(_, l)| *l),
                };
                if let Some(prev) = prev {
                    return Err(perr(format!(
                        "yaml: unmarshal errors:\n  line {line}: mapping key \"{key}\" already defined at line {prev}"
                    )));
                }
                if let Some(index) = seen {
                    index.insert(key.clone(), line);
                } else if key_lines.len() >= 16 {
                    let mut index: HashMap<String, usize> = map
                        .entries()
                        .zip(key_lines.iter())
                        .map(|(e, l)| (e.key.clone(), *l))
                        .collect();
                    index.insert(key.clone(), line);
                    *seen = Some(index);
                }
                key_lines.push(line);
            }
            *slot = Some((key, end));
            *merge = is_merge;
        }
        Ok(())
    }

    fn bump(&mut self, line: usize) -> Result<(), FormatError> {
        self.count += 1;
        if self.count > MAX_NODES {
            return Err(perr(format!(
                "yaml: line {line}: document contains excessive aliasing"
            )));
        }
        Ok(())
    }

    /// Places a same-line comment above what it follows. Returns false when there is nothing.
    fn right_comment(&mut self, text: String, start: usize, src: &str) -> bool {
        let Some(top) = self.stack.last_mut() else {
            return false;
        };
        if after_dash(src, start) {
            // `- # c`: yaml.v3 gives a block entry no line comment; it is the head comment of
            // whatever follows (see [`Builder::first_item_comments`]).
            return false;
        }
        if let Frame::Map {
            key: Some((_, key_end)),
            map,
            ..
        } = top
        {
            // `key: &anchor # c` or `key: !tag # c`: the comment belongs to the value; so does
            // a comment after the `- ` of an indentless list's first item.
            let between = src.get(*key_end..start).unwrap_or("");
            if between.contains(['&', '!', '\n']) {
                return false;
            }
            map.push_comment(text);
            return true;
        }
        if let (Last::Flow(i), Frame::Seq { .. }) = (self.last, &*top) {
            self.last = Last::Leaf(i);
        }
        if src
            .get(self.leaf_end..start)
            .is_some_and(|s| s.contains('\n'))
        {
            // On a later line than the last value (after the `- ` of an empty item): the
            // comment goes with what follows.
            return false;
        }
        match self.last {
            Last::None => false,
            Last::Leaf(i) => {
                // yaml.v3's line comment of a scalar or alias: an inline comment placed before
                // its value, written back on the value's line (sops 3.13, PR 2131).
                match top {
                    Frame::Map { map, .. } => map
                        .items
                        .insert(i, MapItem::Comment(crate::tree::Comment::inline(text))),
                    Frame::Seq { seq, .. } => seq
                        .items
                        .insert(i, SeqItem::Comment(crate::tree::Comment::inline(text))),
                }
                self.last = Last::Leaf(i + 1);
                true
            }
            Last::Flow(i) => {
                let node = match top {
                    Frame::Map { map, .. } => match map.items.get_mut(i) {
                        Some(MapItem::Entry(e)) => &mut e.value,
                        _ => return false,
                    },
                    Frame::Seq { seq, .. } => match seq.items.get_mut(i) {
                        Some(SeqItem::Node(n)) => n,
                        _ => return false,
                    },
                };
                match node {
                    Node::Map(m) => m
                        .items
                        .insert(0, MapItem::Comment(crate::tree::Comment::new(text))),
                    Node::Seq(s) => s
                        .items
                        .insert(0, SeqItem::Comment(crate::tree::Comment::new(text))),
                    Node::Scalar(_) => return false,
                }
                true
            }
        }
    }

    /// [`Self::flush_pending_into_top`] for the comments that end before `start` (and, for
    /// an empty scalar, that are not on the line of its `-` or key).
    fn flush_pending_before(&mut self, start: usize, empty: bool) {
        if self
            .pending
            .iter()
            .all(|p| p.end <= start && !(empty && p.col == usize::MAX))
        {
            return self.flush_pending_into_top();
        }
        let (before, after): (Vec<Pending>, Vec<Pending>) = self
            .pending
            .drain(..)
            .partition(|p| p.end <= start && !(empty && p.col == usize::MAX));
        self.pending = before;
        self.flush_pending_into_top();
        self.pending = after;
    }

    fn flush_pending_into_top(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.pending.iter().any(|p| p.place == Place::NextItem) {
            let (feet, rest): (Vec<Pending>, Vec<Pending>) = self
                .pending
                .drain(..)
                .partition(|p| p.place == Place::NextItem);
            self.pending = rest;
            let texts = feet.into_iter().map(|p| p.text);
            match &mut self.next_foot {
                Some((_, v)) => v.extend(texts),
                None => self.next_foot = Some((self.stack.len(), texts.collect())),
            }
        }
        // yaml.v3 gives the line comment of `key: &a # c` to the next event that takes
        // comments, as its line comment, which sops writes after that event's head comment
        // (the reference: `k: &m # c11\n# c9\nj: 1` decrypts to `# c9\n# c11\nj: 1`; seed s5
        // yaml #149).
        if self.pending.iter().any(|p| p.after_props) {
            let (props, mut rest): (Vec<Pending>, Vec<Pending>) =
                self.pending.drain(..).partition(|p| p.after_props);
            rest.extend(props);
            self.pending = rest;
        }
        if let Some(top) = self.stack.last_mut() {
            for p in self.pending.drain(..) {
                top.push_comment(p.text);
            }
        }
    }

    /// yaml.v3 (libyaml's line counting after `\r\n`): the first own-line comment after a
    /// `key: &anchor` or `key: !tag` line that ends with CRLF and is not the input's first
    /// line goes after the first item of the block collection that follows
    /// (`a: 1\r\nk: &m\r\n# c\r\n  x: 1\r\n` reads as `k: {x: 1, # c}`).
    fn crlf_anchor_quirk(&mut self, style: StructureStyle, src: &str) {
        if style == StructureStyle::Flow || self.stack.len() < 2 {
            return;
        }
        if !matches!(
            self.stack.get(self.stack.len() - 2),
            Some(Frame::Map { .. })
        ) {
            return;
        }
        let Some(first) = self.pending.first() else {
            return;
        };
        if first.place != Place::Open || first.col == usize::MAX {
            return;
        }
        let before = &src[..first.end.min(src.len())];
        let Some(line_start) = before.rfind('\n').map(|n| n + 1) else {
            return;
        };
        let prev = &src[..line_start - 1];
        let prev_start = prev.rfind('\n').map_or(0, |n| n + 1);
        let prev_line = &prev[prev_start..];
        let Some(t) = prev_line.strip_suffix('\r') else {
            return;
        };
        let t = t.trim_end_matches([' ', '\t']);
        let last_token = t.rsplit([' ', '\t']).next().unwrap_or("");
        if prev_start == 0
            || !(last_token.starts_with('&') || last_token.starts_with('!'))
            || !t.contains(": ")
            || t.trim_start().starts_with('#')
        {
            return;
        }
        let p = self.pending.remove(0);
        self.after_first = Some((self.stack.len(), p.text));
    }

    fn start_collection(
        &mut self,
        is_map: bool,
        style: StructureStyle,
        anchor: usize,
        line: usize,
        col: usize,
    ) -> Result<(), FormatError> {
        self.bump(line)?;
        if self.stack.len() >= 1000 {
            return Err(perr(format!(
                "yaml: line {line}: exceeded max depth of 1000"
            )));
        }
        match self.stack.last_mut() {
            None => {
                if !is_map {
                    return Err(self.top_level_error("!!seq", "", line));
                }
                self.doc_seen_root = true;
            }
            // A collection as a key: refused once it is read (see `non_string_key_node`).
            Some(Frame::Map { .. }) => {}
            Some(top @ Frame::Seq { .. }) => {
                // Comments left of the new item's content belong to the sequence.
                let keep: Vec<Pending> = self.pending.drain(..).collect();
                for p in keep {
                    let (text, c) = (p.text, p.col);
                    // An encrypted comment written before `- ` is the item map's head comment.
                    if p.place == Place::NextItem && !top.flow() {
                        self.pending.push(Pending { text, col: c, ..p });
                    } else if (c < col && !(is_map && super::emit::is_enc_comment(&text)))
                        || top.flow()
                    {
                        top.push_comment(text);
                    } else {
                        self.pending.push(Pending { text, col: c, ..p });
                    }
                }
            }
        }
        let flow = style == StructureStyle::Flow;
        let start_count = self.count;
        let frame = if is_map {
            Frame::Map {
                map: Map::new(),
                col,
                line,
                anchor,
                flow,
                start_count,
                key: None,
                merge: false,
                key_lines: Vec::new(),
                seen: None,
            }
        } else {
            Frame::Seq {
                seq: Seq::new(),
                col,
                dash_col: col,
                line,
                anchor,
                flow,
                start_count,
            }
        };
        let mut frame = frame;
        // A same-line comment after `- ` or after `key: &anchor` is the head comment of this
        // new collection.
        if self.pending.iter().any(|p| p.col == usize::MAX) {
            let (sticky, mut rest): (Vec<Pending>, Vec<Pending>) =
                self.pending.drain(..).partition(|p| p.col == usize::MAX);
            if sticky.iter().all(|p| p.after_props) && rest.iter().all(|p| !p.after_props) {
                // `k: &a # c3\n# c1\n- x`: yaml.v3's line comment of the anchor goes after
                // the head comment (the reference: `# c1` then `# c3`; seed s6 yaml #103).
                for p in rest.drain(..) {
                    frame.push_comment(p.text);
                }
            }
            self.pending = rest;
            for p in sticky {
                frame.push_comment(p.text);
            }
        }
        self.stack.push(frame);
        Ok(())
    }

    /// yaml.v3 has no empty implicit key in a block map: a `:` where a key should be
    /// (`a: 1\n: x`) is "did not find expected key" (the reference, exit 2), named at the map's
    /// first line, or at the `:`'s when the map starts on the input's first line (yaml.v3 counts
    /// lines from 0 here and leaves out line 0). `? \n: x` (an explicit empty key) is read.
    fn check_implicit_empty_key(
        &self,
        src: &str,
        start: usize,
        line: usize,
    ) -> Result<(), FormatError> {
        let Some(Frame::Map {
            flow,
            line: map_line,
            ..
        }) = self.stack.last()
        else {
            return Ok(());
        };
        if *flow {
            return check_flow_empty_key(src, start, line);
        }
        if !src
            .get(start..)
            .is_some_and(|r| r.trim_start_matches([' ', '\t']).starts_with(':'))
        {
            return Ok(());
        }
        let before = src[..start.min(src.len())].trim_end();
        if before.ends_with('?')
            && before[..before.len() - 1].ends_with([' ', '\t', '\n', '-', '?'])
            || before == "?"
        {
            return Ok(()); // `? ` then `: x`: an explicit empty key
        }
        let at = if *map_line > 1 {
            *map_line - 1
        } else {
            line - 1
        };
        Err(perr(if at == 0 {
            "yaml: did not find expected key".to_string()
        } else {
            format!("yaml: line {at}: did not find expected key")
        }))
    }

    /// Own-line comments before an empty item of a block sequence: yaml.v3
    /// gives an empty item no comments, so they wait, like `- # c`, for the next content
    /// (`- a\n  # c\n-\n- y` puts `# c` above `y`, the reference; at the end of the list sops
    /// drops them, we keep them at the top level).
    fn comments_before_empty_item(&mut self, start: usize) {
        if !matches!(self.stack.last(), Some(Frame::Seq { flow: false, .. })) {
            return;
        }
        for p in &mut self.pending {
            if p.end <= start {
                p.col = usize::MAX;
            }
        }
    }

    /// The waiting `- # c` comments on the line where a block sequence starts: they follow
    /// that sequence's first `-`, so they are not its head comment (as they are for a sequence
    /// nested on the next line, `- # c\n  - x`). yaml.v3 makes them the head comment of the next
    /// content: the first item when it has some, else what follows the empty item
    /// (`k:\n- # c\n- b` keeps `# c` above `b`; at the end it goes to the top level).
    fn first_item_comments(&mut self, style: StructureStyle, at: usize, src: &str) -> Vec<Pending> {
        if style == StructureStyle::Flow || !self.pending.iter().any(|p| p.col == usize::MAX) {
            return Vec::new();
        }
        let line_of = |i: usize| src[..i.min(src.len())].rfind('\n').map_or(0, |n| n + 1);
        let seq_line = line_of(at);
        let (held, rest): (Vec<Pending>, Vec<Pending>) = self.pending.drain(..).partition(|p| {
            p.col == usize::MAX
                && !p.after_props
                && line_of(p.end) == seq_line
                && src[seq_line..p.end.min(src.len())]
                    .find('#')
                    .is_some_and(|h| after_dash(src, seq_line + h))
        });
        self.pending = rest;
        held
    }

    /// Decides, when the first collection closes after a run of own-line comments, which of them
    /// are foot comments of what precedes and which are head comments of what follows.
    /// `deepest_col` is the column of that innermost closing collection.
    /// `block_indent` is yaml.v3's indentation of that collection (for a block sequence, the
    /// column of its dashes, which for an indentless one is its parent map's).
    fn plan_pending(&mut self, deepest_col: usize, block_indent: usize, is_map: bool, src: &str) {
        let Some(last) = self.pending.last() else {
            return;
        };
        if last.place != Place::Open {
            return;
        }
        let next_col = next_content_column(src, last.end);
        // Split into groups the way yaml.v3 does: a comment left of the current block and at
        // another column than the group's first one starts a new group.
        let mut groups: Vec<(usize, usize)> = Vec::new(); // (start index, column)
        for (i, p) in self.pending.iter().enumerate() {
            match groups.last() {
                Some(&(_, gcol)) if !(p.col < deepest_col && p.col != gcol) => {}
                _ => groups.push((i, p.col)),
            }
        }
        let Some(&(last_start, last_col)) = groups.last() else {
            return;
        };
        match next_col {
            None if self.last_empty => {
                // The last group goes to the document's top level; earlier ones stay.
                for (i, p) in self.pending.iter_mut().enumerate() {
                    p.place = if i >= last_start || p.col == usize::MAX {
                        Place::Head
                    } else {
                        Place::ByColumn
                    };
                }
            }
            None if src.get(last.end..).is_some_and(|r| !r.trim().is_empty()) => {
                before_document_marker(&mut self.pending, block_indent);
            }
            None => {
                // At the end of the input, comments after a blank line go to the document's
                // top level.
                let at_eof = src.get(last.end..).is_some_and(|r| r.trim().is_empty());
                let mut blank = false;
                for p in &mut self.pending {
                    blank = blank || (at_eof && blank_line_before(src, p.end));
                    p.place = if blank || p.col == usize::MAX {
                        Place::Head
                    } else {
                        Place::ByColumn
                    };
                }
                if at_eof {
                    feet_before_last_group(&mut self.pending, block_indent, src);
                    self.no_final_break_feet((deepest_col, block_indent, is_map), src);
                }
            }
            Some(n) => {
                let last_is_head = !(n < deepest_col && n != last_col);
                let first_end = groups.get(1).map_or(self.pending.len(), |g| g.0);
                for (i, p) in self.pending.iter_mut().enumerate() {
                    p.place = if p.col == usize::MAX || (last_is_head && i >= last_start) {
                        Place::Head
                    } else if i < first_end && !super::emit::is_enc_comment(&p.text) {
                        // (sops writes an encrypted comment at its container's indentation,
                        // so the column finds that container exactly.)
                        Place::Deepest
                    } else {
                        Place::ByColumn
                    };
                }
                self.foot_of_next_item(n, block_indent, src);
            }
        }
    }

    /// yaml.v3 splits the comments after content at their first empty line: the group before
    /// it is a foot comment, which, when left of the innermost block's indentation
    /// (`block_indent`), belongs to the next token (`yaml_parser_scan_comments`). When that is
    /// the `-` of a block sequence item (at column `next_col`), the comment is that item's
    /// foot: sops writes it after the item's first entry (the reference: `k:\n- - x\n# c\n\n-
    /// k5: a\n  k6: b` puts `# c` after `k5: a`). libyaml's comment lookahead steps over a CRLF
    /// byte by byte and sees an empty line after every CRLF comment line (seed s4 yaml #135).
    fn foot_of_next_item(&mut self, next_col: usize, block_indent: usize, src: &str) {
        let Some(first) = self.pending.first() else {
            return;
        };
        let col = first.col;
        if col == usize::MAX || col >= block_indent || blank_line_before(src, first.end) {
            return;
        }
        // The group: up to the first empty line (a CRLF ends it after its first line).
        let mut len = 0;
        for p in &self.pending {
            if p.col != col || p.after_props || (len > 0 && blank_line_before(src, p.end)) {
                return;
            }
            len += 1;
            if blank_after(src, p.end) {
                break;
            }
        }
        if !blank_after(src, self.pending[len - 1].end) {
            return;
        }
        // The next content is a block sequence item, and no block closing before it is
        // indented at the comments' column (its end would take them).
        let Some(line) = src[self.pending[len - 1].end.min(src.len())..]
            .split('\n')
            .skip(1)
            .find(|l| {
                let t = l.trim_start_matches([' ', '\t']).trim_end_matches('\r');
                !t.is_empty() && !t.starts_with('#')
            })
        else {
            return;
        };
        let t = line.trim_start_matches(' ');
        let item = t.starts_with('-') && t[1..].starts_with([' ', '\t', '\r']) || t == "-";
        if self.stack.iter().any(|f| match f {
            Frame::Map { col: c, flow, .. } => !flow && *c == col && *c > next_col,
            Frame::Seq { dash_col, flow, .. } => !flow && *dash_col == col && *dash_col > next_col,
        }) {
            return;
        }
        // Before a key, the foot comment is that key's head comment: written with it, at its
        // indentation (the reference: `a:\n    k: 1\n  # x\n\nb: q` puts `# x` above `b`).
        let place = if item { Place::NextItem } else { Place::Head };
        for p in &mut self.pending[..len] {
            p.place = place;
        }
    }

    /// At the end of an input whose last line is a comment without a line break, yaml.v3
    /// closes the blocks indented at most that line's length only at the stream's end, after
    /// the comments (`yaml_parser_fetch_stream_end`): the innermost of them, when it is a map,
    /// keeps the comments left of its indentation (the reference: `a:\n  k6: x\n# c` keeps
    /// `# c` in the inner map; with a final `\n` it goes to the top level). The blocks indented
    /// further were closed before the comments, as usual. `deepest_col`/`block_indent`: the
    /// closing innermost collection (column, indentation, is a map), already popped.
    fn no_final_break_feet(&mut self, deepest: (usize, usize, bool), src: &str) {
        if src.ends_with(['\n', '\r']) {
            return;
        }
        let last_line = src.rsplit(['\n', '\r']).next().unwrap_or("");
        if !last_line.trim_start_matches([' ', '\t']).starts_with('#') {
            return;
        }
        let width = last_line.chars().count();
        // The innermost block (the popped one, at depth `stack.len()`, then the stack's)
        // whose indentation is at most `width`.
        let popped = (self.stack.len(), deepest.0, deepest.1, deepest.2);
        let frames = self.stack.iter().enumerate().rev().map(|(d, f)| match f {
            Frame::Map { col, .. } => (d, *col, *col, true),
            Frame::Seq { col, dash_col, .. } => (d, *col, *dash_col, false),
        });
        let Some((depth, col, _, is_map)) = std::iter::once(popped)
            .chain(frames)
            .find(|&(_, _, indent, _)| indent <= width)
        else {
            return;
        };
        if !is_map {
            return;
        }
        for p in &mut self.pending {
            if p.place == Place::ByColumn && p.col < col {
                p.place = Place::AtDepth(depth);
            }
        }
    }

    /// yaml.v3 ends an indentless block sequence (`k:\n- a`, its dashes at its map's keys'
    /// column) with an event that takes no comments: when the next content is a key of that
    /// map, the own-line comments after the sequence's last item (the innermost closing
    /// collection) are the head of that key (the reference: `k2:\n- a\n  # c\nyes: 1` puts
    /// `# c` at the top level; seed s4 yaml #101).
    fn indentless_sequence_end(&mut self, frame: &Frame, src: &str) {
        let Frame::Seq {
            dash_col,
            flow: false,
            ..
        } = frame
        else {
            return;
        };
        if !matches!(self.stack.last(), Some(Frame::Map { col, flow: false, .. }) if col == dash_col)
        {
            return;
        }
        let Some(last) = self.pending.last() else {
            return;
        };
        if next_content_column(src, last.end) != Some(*dash_col) {
            return;
        }
        // Comments before the first blank line stay in the sequence (`k2:\n- a\n  # c\n# e\n\n# d\nyes: 1`
        // keeps `# c` and `# e`; a CRLF comment line counts as followed by one, see
        // [`blank_after`]), not after an empty item.
        let from = match self.pending.first() {
            Some(first) if !self.last_empty && !blank_line_before(src, first.end) => self
                .pending
                .iter()
                .position(|p| blank_after(src, p.end))
                .map_or(0, |i| i + 1),
            _ => 0,
        };
        for (i, p) in self.pending.iter_mut().enumerate() {
            p.place = if i < from {
                Place::Deepest
            } else {
                Place::Head
            };
        }
    }

    fn end_collection(&mut self, src: &str) -> Result<(), FormatError> {
        let Some(mut frame) = self.stack.pop() else {
            return Ok(());
        };
        let col = frame.col();
        let flow = frame.flow();
        if let (false, Frame::Map { map, .. }) = (flow, &mut frame) {
            take_props_comments(&mut self.pending, map);
        }
        if flow {
            for p in self.pending.drain(..) {
                frame.push_comment(p.text);
            }
        } else {
            let block_indent = match &frame {
                Frame::Seq { dash_col, .. } => *dash_col,
                Frame::Map { col, .. } => *col,
            };
            let innermost = self.pending.last().is_some_and(|p| p.place == Place::Open);
            self.plan_pending(col, block_indent, matches!(frame, Frame::Map { .. }), src);
            if innermost {
                self.indentless_sequence_end(&frame, src);
            }
            // yaml.v3 gives a comment at the column of a block sequence's dashes, right after
            // a scalar item, to the sequence (`k:\n- n\n# c` keeps `# c` in the list; not
            // after a blank line).
            let follows_directly = self.pending.first().is_some_and(|p| {
                let line_start = src[..p.end.min(src.len())].rfind('\n').map_or(0, |n| n + 1);
                let prev = src[..line_start.saturating_sub(1)]
                    .rsplit('\n')
                    .next()
                    .unwrap_or("");
                line_start > 0 && !prev.trim().is_empty()
            });
            let foot_col = match &frame {
                Frame::Seq { seq, dash_col, .. }
                    if follows_directly
                        && matches!(
                            seq.items.iter().rev().find(|i| matches!(i, SeqItem::Node(_))),
                            Some(SeqItem::Node(Node::Scalar(s)))
                                if !(*s == Scalar::Null && self.last_empty)
                        ) =>
                {
                    col.min(*dash_col)
                }
                // After a map item, at the end of the document, a comment left of the item's
                // keys goes to the top level, not to the sequence.
                Frame::Seq { seq, .. }
                    if matches!(
                        seq.items
                            .iter()
                            .rev()
                            .find(|i| matches!(i, SeqItem::Node(_))),
                        Some(SeqItem::Node(Node::Map(_)))
                    ) && self
                        .pending
                        .last()
                        .is_some_and(|p| next_content_column(src, p.end).is_none()) =>
                {
                    usize::MAX
                }
                _ => col,
            };
            if foot_col == usize::MAX {
                // (Nor to an enclosing collection: `k1:\n- - kk: a\n  # c\n`, the reference;
                // seed s7 yaml #161.)
                for p in &mut self.pending {
                    if matches!(p.place, Place::ByColumn | Place::Open) {
                        p.place = Place::Head;
                    }
                }
            }
            let mut n = 0;
            while n < self.pending.len() {
                let p = &self.pending[n];
                let take = match p.place {
                    Place::Deepest => true,
                    Place::ByColumn | Place::Open => p.col >= foot_col,
                    Place::Head => false,
                    Place::AtDepth(d) => d == self.stack.len(),
                    Place::NextItem => false,
                };
                if !take {
                    break;
                }
                n += 1;
            }
            for p in self.pending.drain(..n) {
                frame.push_comment(p.text);
            }
            // Only the innermost closing collection takes the foot of the last content.
            for p in &mut self.pending {
                if p.place == Place::Deepest {
                    p.place = Place::ByColumn;
                }
            }
        }
        let (node, anchor, start_count, line) = match frame {
            Frame::Map {
                map,
                anchor,
                start_count,
                line,
                key,
                ..
            } => {
                let mut map = map;
                if let Some((k, _)) = key {
                    // A key without a value (cannot happen with a well-formed stream).
                    map.push(k, Node::Scalar(Scalar::Null));
                }
                if flow {
                    map.layout = crate::tree::Layout::Block;
                }
                (Node::Map(map), anchor, start_count, line)
            }
            Frame::Seq {
                seq,
                anchor,
                start_count,
                line,
                ..
            } => (Node::Seq(seq), anchor, start_count, line),
        };
        let size = self.count - start_count;
        if self.stack.is_empty() {
            match node {
                Node::Map(m) => {
                    self.root = Some(m);
                    if anchor != 0 {
                        // An anchored root cannot be referred to from inside itself.
                    }
                }
                _ => return Err(self.top_level_error("!!seq", "", line)),
            }
            return Ok(());
        }
        self.attach(node, anchor, size, line, flow)?;
        if flow {
            if let Last::Leaf(i) = self.last {
                self.last = Last::Flow(i);
            }
        } else {
            self.last = Last::None;
        }
        Ok(())
    }

    /// Stores a finished value in the top frame.
    fn attach(
        &mut self,
        node: Node,
        anchor: usize,
        size: usize,
        _line: usize,
        leaf: bool,
    ) -> Result<(), FormatError> {
        if anchor != 0 {
            self.anchors
                .insert(anchor, (node.clone(), size.max(1), _line));
        }
        if !matches!(node, Node::Scalar(_))
            && matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
        {
            return self.non_string_key_node(node, _line, _line, 0);
        }
        let depth_now = self.stack.len();
        let Some(top) = self.stack.last_mut() else {
            return Ok(());
        };
        match top {
            Frame::Map {
                map, key, merge, ..
            } => {
                if std::mem::take(merge) && !is_merge_value(&node) {
                    return Err(perr(
                        "yaml: map merge requires map or sequence of maps as the value",
                    ));
                }
                let Some((k, _)) = key.take() else {
                    return Err(perr(
                        "yaml: invalid map key: complex keys are not supported",
                    ));
                };
                map.items.push(MapItem::Entry(Entry {
                    key: k,
                    value: node,
                }));
                if let Some((depth, text)) = self.after_first.take() {
                    if depth == depth_now {
                        map.push_comment(text);
                    } else {
                        self.after_first = Some((depth, text));
                    }
                }
                if let Some((depth, texts)) = self.next_foot.take() {
                    if depth == depth_now {
                        texts.into_iter().for_each(|t| map.push_comment(t));
                    } else {
                        self.next_foot = Some((depth, texts));
                    }
                }
                self.last = if leaf {
                    Last::Leaf(map.items.len() - 1)
                } else {
                    Last::None
                };
            }
            Frame::Seq { seq, .. } => {
                seq.items.push(SeqItem::Node(node));
                if let Some((depth, text)) = self.after_first.take() {
                    if depth == depth_now {
                        seq.items
                            .push(SeqItem::Comment(crate::tree::Comment::new(text)));
                    } else {
                        self.after_first = Some((depth, text));
                    }
                }
                if let Some((depth, texts)) = self.next_foot.take() {
                    if depth == depth_now {
                        for t in texts {
                            seq.items
                                .push(SeqItem::Comment(crate::tree::Comment::new(t)));
                        }
                    } else {
                        self.next_foot = Some((depth, texts));
                    }
                }
                self.last = if leaf {
                    Last::Leaf(seq.items.len() - 1)
                } else {
                    Last::None
                };
            }
        }
        Ok(())
    }

    fn root_scalar(&mut self, value: Value, raw: &str, line: usize) -> Result<(), FormatError> {
        match value {
            // An empty document (or `~`): no entries.
            Value::Scalar(Scalar::Null) => Ok(()),
            Value::Scalar(s) => Err(self.top_level_error(short_tag(&s), raw, line)),
            _ => Err(self.top_level_error("!!str", raw, line)),
        }
    }

    fn root_value(&mut self, node: Node, line: usize) -> Result<(), FormatError> {
        match node {
            Node::Map(m) => {
                self.root = Some(m);
                Ok(())
            }
            Node::Seq(_) => Err(self.top_level_error("!!seq", "", line)),
            Node::Scalar(s) => Err(self.top_level_error(short_tag(&s), "", line)),
        }
    }

    fn top_level_error(&self, tag: &str, raw: &str, line: usize) -> FormatError {
        if self.doc_index > 0 {
            return perr(if tag == "!!seq" {
                "Error unmarshaling input YAML: YAML documents that are sequences are not supported"
            } else {
                "Error unmarshaling input YAML: YAML documents that are values are not supported"
            });
        }
        let value = if tag == "!!seq" || tag == "!!map" {
            String::new()
        } else if raw.len() > 10 {
            let mut cut = 7;
            while !raw.is_char_boundary(cut) {
                cut -= 1;
            }
            format!(" `{}...`", &raw[..cut])
        } else {
            format!(" `{raw}`")
        };
        perr(format!(
            "yaml: unmarshal errors:\n  line {line}: cannot unmarshal {tag}{value} into map[string]interface {{}}"
        ))
    }
}

/// What yaml.v3 accepts as the value of a merge key: a map, or a sequence of maps.
fn is_merge_value(node: &Node) -> bool {
    match node {
        Node::Map(_) => true,
        Node::Seq(s) => s.values().all(|n| matches!(n, Node::Map(_))),
        Node::Scalar(_) => false,
    }
}

fn short_tag(s: &Scalar) -> &'static str {
    match s {
        Scalar::Null => "!!null",
        Scalar::Bool(_) => "!!bool",
        Scalar::Int(_) => "!!int",
        Scalar::Float(_) => "!!float",
        Scalar::Str(_) | Scalar::Bytes(_) => "!!str",
        Scalar::Time(_) => "!!timestamp",
    }
}

/// The column of the first content line after byte `from`, or `None` at the end of the
/// document (end of input or a `---` / `...` marker).
/// True if the line before the one where a comment ends (at byte `end`) is blank.
fn blank_line_before(src: &str, end: usize) -> bool {
    let line_start = src[..end.min(src.len())].rfind('\n').map_or(0, |n| n + 1);
    line_start > 0
        && src[..line_start - 1]
            .rsplit('\n')
            .next()
            .is_some_and(|l| l.trim().is_empty())
}

/// True if the comment ending at byte `end` is followed by an empty line, as libyaml's comment
/// lookahead sees it: it steps over a line break byte by byte, so the `\n` of a CRLF after a
/// comment reads as an empty line of its own.
fn blank_after(src: &str, end: usize) -> bool {
    let rest = &src[end.min(src.len())..];
    rest.starts_with("\r\n")
        || rest
            .strip_prefix('\n')
            .is_some_and(|r| r.split('\n').next().is_some_and(|l| l.trim().is_empty()))
}

/// yaml.v3 reads a tag up to the first character that cannot be in a URI, which takes `]`
/// (and `,` and `[`) into the tag, then wants whitespace or a line break: an empty tagged node
/// closing a flow collection (`[!!str]`, `{k: !t}`) is an error there (the reference: exit 2).
/// `at` is where granit put the empty scalar, right after its tag.
fn check_tag_end(src: &str, at: usize, line: usize) -> Result<(), FormatError> {
    let before = &src[..at.min(src.len())];
    let word = before
        .rsplit([' ', '\t', '\n', '\r', '[', '{', ','])
        .next()
        .unwrap_or("");
    if !word.starts_with('!') {
        return Ok(()); // not right after the tag (content or an anchor between)
    }
    match src.get(at..).and_then(|r| r.chars().next()) {
        Some('}') => Err(perr("yaml: did not find expected whitespace or line break")),
        Some(']') => Err(perr(format!(
            "yaml: line {line}: did not find expected ',' or ']'"
        ))),
        _ => Ok(()),
    }
}

/// yaml.v3 has no empty implicit key in a flow collection either: a `:` right after `{`, `[` or
/// `,` (`k: {: x}`, `[a, : x]`) is "did not find expected node content" (the reference, exit 2),
/// named at the `:`'s line counted from 0 (left out when 0). `{? : x}` is read (a null key).
/// `start`: where granit put the empty key, `line` its line (from 1).
fn check_flow_empty_key(src: &str, start: usize, line: usize) -> Result<(), FormatError> {
    let start = start.min(src.len());
    if !src[start..]
        .trim_start_matches([' ', '\t', '\r', '\n'])
        .starts_with(':')
    {
        return Ok(());
    }
    if !src[..start]
        .trim_end_matches([' ', '\t', '\r', '\n'])
        .ends_with(['{', '[', ','])
    {
        return Ok(());
    }
    Err(flow_node_content_error(line))
}

/// yaml.v3's "did not find expected node content" at `line` (from 1), which it names counted
/// from 0 and leaves out when 0.
fn flow_node_content_error(line: usize) -> FormatError {
    let at = line.saturating_sub(1);
    perr(if at == 0 {
        "yaml: did not find expected node content".to_string()
    } else {
        format!("yaml: line {at}: did not find expected node content")
    })
}

/// At the end of the input, after a blank line: yaml.v3 splits the comments where one starts
/// left of the innermost block's indentation at another column than its group's first; every
/// group but the last is the foot of the last content and stays in the innermost collection,
/// only the last one goes to the document's top level (the reference:
/// `k:\n  - |-\n    x\n\n  # c7\n# c8\n` keeps `# c7` in the list).
fn feet_before_last_group(pending: &mut [Pending], block_indent: usize, src: &str) {
    let Some(first) = pending.first() else {
        return;
    };
    if first.col == usize::MAX || !blank_line_before(src, first.end) {
        return;
    }
    let mut group_col = first.col;
    let mut last_start = 0;
    for (i, p) in pending.iter().enumerate() {
        if p.col == usize::MAX {
            return;
        }
        if p.col != group_col && p.col < block_indent {
            group_col = p.col;
            last_start = i;
        }
    }
    for p in &mut pending[..last_start] {
        p.place = Place::Deepest;
    }
}

/// True if the same-line comment starting at `start` follows only block sequence indicators
/// (`- # c`, `- - # c`).
fn after_dash(src: &str, start: usize) -> bool {
    let start = start.min(src.len());
    let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &src[line_start..start];
    prefix.contains('-') && prefix.chars().all(|c| matches!(c, '-' | ' ' | '\t'))
}

/// True if the same-line comment starting at `start` follows an anchor or a tag
/// (`key: &a # c`, `- !t # c`).
fn after_props(src: &str, start: usize) -> bool {
    let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    src[line_start..start]
        .split_whitespace()
        .last()
        .is_some_and(|w| w.starts_with(['&', '!']))
}

/// yaml.v3 emits the empty value of `key: &a # c` without comments, so the line comment waits
/// for the next event that takes comments; when that is the end of a block map (the value
/// ends the map, or a list holding it), it is the map's line comment, which sops writes first
/// in the map (the reference: `a: 1\nk: &m # c\n` decrypts to `# c\na: 1\nk: null`).
fn take_props_comments(pending: &mut Vec<Pending>, map: &mut Map) {
    if !pending.iter().any(|p| p.after_props) {
        return;
    }
    let mut at = 0;
    pending.retain_mut(|p| {
        if !p.after_props {
            return true;
        }
        map.items.insert(
            at,
            MapItem::Comment(crate::tree::Comment::new(std::mem::take(&mut p.text))),
        );
        at += 1;
        false
    });
}

/// Places the comments between the end of a block collection and a `---` or `...` line, as
/// yaml.v3's scanner splits them (`yaml_parser_scan_comments`): the `---` at column 0 is left of
/// the innermost block's indentation `block_indent`, so the first group of comments (up to one
/// at another column further left) is the foot of the last content and stays in the innermost
/// collection, whatever its column; later groups go by column. When that block is at column 0,
/// or the first comment is, nothing is split and all are head comments of the document's end
/// (its top level). Line and paragraph separators count as line breaks here as in yaml.v3: the
/// text is the normalised one (see [`super::breaks`]).
fn before_document_marker(pending: &mut [Pending], block_indent: usize) {
    let first_col = pending.first().map_or(0, |p| p.col);
    let mut first_group = first_col != 0;
    for p in pending.iter_mut() {
        if p.col != first_col && p.col < block_indent {
            first_group = false;
        }
        p.place = if p.col == usize::MAX || block_indent == 0 {
            Place::Head
        } else if first_group {
            Place::Deepest
        } else {
            Place::ByColumn
        };
    }
}

fn next_content_column(src: &str, from: usize) -> Option<usize> {
    let rest = src.get(from..)?;
    let mut lines = rest.split('\n');
    lines.next(); // the rest of the comment's own line
    for line in lines {
        let trimmed = line.trim_start_matches([' ', '\t']);
        let trimmed = trimmed.trim_end_matches('\r');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with("---") || line.starts_with("...") {
            return None;
        }
        return Some(line.len() - line.trim_start_matches(' ').len());
    }
    None
}

/// A syntax error, worded like yaml.v3 where the two libraries agree on the cause.
fn scan_error(e: &granit_parser::ScanError) -> FormatError {
    use granit_parser::ErrorKind as K;
    let line = e.marker().line();
    let text = match e.kind() {
        K::UnclosedFlowCollection { open: '[' }
        | K::UnexpectedEofFlowSequence
        | K::ExpectedFlowSequenceSeparator => "did not find expected ',' or ']'".to_string(),
        K::UnclosedFlowCollection { .. }
        | K::UnexpectedEofFlowMapping
        | K::ExpectedFlowMappingSeparator => "did not find expected ',' or '}'".to_string(),
        K::ExpectedBlockMappingKey => "did not find expected key".to_string(),
        K::TabInBlockIndentation | K::TabNotAllowed | K::UnexpectedCharacter { .. } => {
            "found character that cannot start any token".to_string()
        }
        K::ExpectedNodeContent => "did not find expected node content".to_string(),
        K::SimpleKeyExpected | K::InvalidSimpleKey => "could not find expected ':'".to_string(),
        K::UnknownQuotedScalarEscape
        | K::InvalidLowSurrogate
        | K::MissingLowSurrogate
        | K::UnpairedLowSurrogate
        | K::InvalidLowSurrogateHexEscape
        | K::InvalidUnicodeEscape => {
            let problem = if *e.kind() == K::UnknownQuotedScalarEscape {
                "found unknown escape character"
            } else {
                "found invalid Unicode character escape code"
            };
            // yaml.v3 leaves out the line number of the first line.
            return perr(if line > 1 {
                format!("yaml: line {line}: {problem}")
            } else {
                format!("yaml: {problem}")
            });
        }
        _ => e.info(),
    };
    perr(format!("yaml: line {line}: {text}"))
}

/// sops's error for a map key that is not a string.
fn non_string_key(s: &Scalar) -> FormatError {
    let (ty, shown) = match s {
        Scalar::Null => ("<nil>".to_string(), "%!s(<nil>)".to_string()),
        Scalar::Bool(b) => ("bool".into(), format!("%!s(bool={b})")),
        Scalar::Int(i) => ("int".into(), format!("%!s(int={i})")),
        Scalar::Float(f) => (
            "float64".into(),
            format!("%!s(float64={})", crate::number::format_float_g(*f)),
        ),
        Scalar::Time(t) => ("time.Time".into(), t.clone()),
        Scalar::Str(t) => ("string".into(), t.clone()),
        Scalar::Bytes(_) => ("[]uint8".into(), String::new()),
    };
    FormatError::Unsupported(format!(
        "Error encrypting tree: Error walking tree: Tree contains a non-string key (type {ty}): {shown}. Only string keys aresupported"
    ))
}

/// sops's error for a key that is an alias to a map or a list (or a non-string scalar).
fn non_string_key_node(node: &Node) -> FormatError {
    let ty = match node {
        Node::Scalar(s) => return non_string_key(s),
        Node::Map(_) => "map[string]interface {}",
        Node::Seq(_) => "[]interface {}",
    };
    FormatError::Unsupported(format!(
        "Error encrypting tree: Error walking tree: Tree contains a non-string key (type {ty}): {}. Only string keys aresupported",
        go_format(node)
    ))
}

/// Go's `%s` of the value yaml.v3 decodes `node` to (maps print with sorted keys).
fn go_format(node: &Node) -> String {
    match node {
        Node::Scalar(Scalar::Str(s)) => s.clone(),
        Node::Scalar(Scalar::Null) => "%!s(<nil>)".into(),
        Node::Scalar(Scalar::Bool(b)) => format!("%!s(bool={b})"),
        Node::Scalar(Scalar::Int(i)) => format!("%!s(int={i})"),
        Node::Scalar(Scalar::Float(f)) => {
            format!("%!s(float64={})", crate::number::format_float_g(*f))
        }
        Node::Scalar(Scalar::Time(t)) => t.clone(),
        Node::Scalar(Scalar::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        Node::Map(m) => {
            let mut entries: Vec<_> = m.entries().collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            let inner: Vec<String> = entries
                .iter()
                .map(|e| format!("{}:{}", e.key, go_format(&e.value)))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
        Node::Seq(s) => {
            let inner: Vec<String> = s.values().map(go_format).collect();
            format!("[{}]", inner.join(" "))
        }
    }
}

/// Go's `%#v` of the value yaml.v3 decodes `node` to.
fn go_syntax(node: &Node) -> String {
    match node {
        Node::Scalar(Scalar::Str(s)) => format!("{s:?}"),
        Node::Scalar(Scalar::Null) => "interface {}(nil)".into(),
        Node::Scalar(Scalar::Bool(b)) => b.to_string(),
        Node::Scalar(Scalar::Int(i)) => i.to_string(),
        Node::Scalar(Scalar::Float(f)) => crate::number::format_float_g(*f),
        Node::Scalar(Scalar::Time(t)) => t.clone(),
        Node::Scalar(Scalar::Bytes(b)) => format!("{:?}", String::from_utf8_lossy(b)),
        Node::Map(m) => {
            let mut entries: Vec<_> = m.entries().collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            let inner: Vec<String> = entries
                .iter()
                .map(|e| format!("{:?}:{}", e.key, go_syntax(&e.value)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", inner.join(", "))
        }
        Node::Seq(s) => {
            let inner: Vec<String> = s.values().map(go_syntax).collect();
            format!("[]interface {{}}{{{}}}", inner.join(", "))
        }
    }
}

/// A scalar event's value after tag handling and resolution.
enum Value {
    Scalar(Scalar),
    Uint(u64),
    Merge,
}

fn scalar_from_event(
    value: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
) -> Result<Value, FormatError> {
    // The non-specific tag `!` (also written `!<!>`) leaves the value untagged, as in yaml.v3.
    let tag = tag.filter(|t| !(t.handle().is_empty() && t.suffix() == "!"));
    // `!!int` and the verbatim `!<tag:yaml.org,2002:int>` are the same tag.
    let core = tag.and_then(|t| {
        if t.handle() == CORE_PREFIX {
            Some(t.suffix())
        } else if t.handle().is_empty() {
            t.suffix().strip_prefix(CORE_PREFIX)
        } else {
            None
        }
    });
    let resolved = || match resolve_plain(value) {
        Resolved::Value(s) => Value::Scalar(s),
        Resolved::Uint(u) => Value::Uint(u),
        Resolved::Merge => Value::Merge,
        Resolved::Str => Value::Scalar(Scalar::Str(value.to_string())),
    };
    let mismatch = |want: &str, got: &str| {
        perr(format!(
            "yaml: unmarshal errors:\n  line {line}: cannot decode {got} `{value}` as a !!{want}"
        ))
    };
    match core {
        None if tag.is_some() => Ok(Value::Scalar(Scalar::Str(value.to_string()))),
        None => {
            if style == ScalarStyle::Plain {
                Ok(resolved())
            } else {
                Ok(Value::Scalar(Scalar::Str(value.to_string())))
            }
        }
        Some("str") => Ok(Value::Scalar(Scalar::Str(value.to_string()))),
        // yaml.v3 reads `!!merge <<` (as sops writes it) as a merge key.
        Some("merge") if value == "<<" => Ok(Value::Merge),
        Some("merge") => Ok(Value::Scalar(Scalar::Str(value.to_string()))),
        Some("binary") => {
            let cleaned: String = value.chars().filter(|c| *c != '\n' && *c != '\r').collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(cleaned.as_bytes())
                .map_err(|_| {
                    perr(format!(
                        "yaml: line {line}: !!binary value contains invalid base64 data"
                    ))
                })?;
            Ok(Value::Scalar(match String::from_utf8(bytes) {
                Ok(s) => Scalar::Str(s),
                Err(e) => Scalar::Bytes(e.into_bytes()),
            }))
        }
        Some(want @ ("int" | "float" | "bool" | "null" | "timestamp")) => {
            let r = resolved();
            let got = match &r {
                Value::Scalar(s) => short_tag(s),
                Value::Uint(_) => "!!int",
                Value::Merge => "!!merge",
            };
            match (want, r) {
                ("int", v @ (Value::Scalar(Scalar::Int(_)) | Value::Uint(_))) => Ok(v),
                ("float", Value::Scalar(Scalar::Int(i))) => {
                    Ok(Value::Scalar(Scalar::Float(i as f64)))
                }
                ("float", Value::Uint(u)) => Ok(Value::Scalar(Scalar::Float(u as f64))),
                ("float", v @ Value::Scalar(Scalar::Float(_))) => Ok(v),
                ("bool", v @ Value::Scalar(Scalar::Bool(_))) => Ok(v),
                ("null", v @ Value::Scalar(Scalar::Null)) => Ok(v),
                ("timestamp", v @ Value::Scalar(Scalar::Time(_))) => Ok(v),
                _ => Err(mismatch(want, got)),
            }
        }
        Some(_) => Ok(Value::Scalar(Scalar::Str(value.to_string()))),
    }
}
