//! The document tree every format parses into and emits from.
//!
//! A sops file is one or more *documents* (several only in multi-document YAML). Each document
//! is a [`Map`]: an ordered list of key/value entries and comments. Values are maps, sequences
//! or typed [`Scalar`]s. Comments are items of the map or sequence that holds them, exactly as
//! sops models them, because their position decides their additional data when encrypted.
//!
//! The tree knows nothing about encryption or any file syntax; `crypt` walks it to encrypt and
//! decrypt, and the `format` modules turn bytes into trees and back.

/// One parsed document: the top-level mapping of a file.
pub type Document = Map;

/// A node of the tree: a mapping, a sequence, or a scalar leaf.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// An ordered mapping from string keys to nodes, with comments between entries.
    Map(Map),
    /// An ordered sequence of nodes, with comments between items.
    Seq(Seq),
    /// A leaf value.
    Scalar(Scalar),
}

/// How a container was written, for formats that can keep that (TOML tables, YAML flow).
/// Formats that do not care use [`Layout::Block`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// The ordinary, multi-line layout of the format.
    #[default]
    Block,
    /// Written inline: YAML flow `{}`/`[]`, TOML inline tables and arrays.
    Inline,
    /// TOML only: a `[table]` header, or `[[array]]` for a sequence of tables.
    Table,
    /// TOML only: keys written dotted (`a.b = 1`) inside the parent table.
    Dotted,
}

/// An ordered mapping. Keys are kept in the order the file had them; duplicates are kept too
/// (JSON and dotenv files may have them and sops keeps them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    /// Entries and comments in document order.
    pub items: Vec<MapItem>,
    /// How the mapping was written.
    pub layout: Layout,
}

/// One item of a [`Map`].
#[derive(Debug, Clone, PartialEq)]
pub enum MapItem {
    /// A key and its value.
    Entry(Entry),
    /// A comment line (or block) standing between entries.
    Comment(Comment),
}

/// A key/value pair of a [`Map`].
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key, always a string (sops refuses other key types).
    pub key: String,
    /// The value.
    pub value: Node,
}

/// An ordered sequence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Seq {
    /// Items and comments in document order.
    pub items: Vec<SeqItem>,
    /// How the sequence was written.
    pub layout: Layout,
}

/// One item of a [`Seq`].
#[derive(Debug, Clone, PartialEq)]
pub enum SeqItem {
    /// A value.
    Node(Node),
    /// A comment standing between items (YAML writes it as a list item once encrypted).
    Comment(Comment),
}

/// A comment. `text` is what follows the comment marker, leading space included
/// (`# primary` holds ` primary`), or an `ENC[...,type:comment]` string once encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The comment's text or its encrypted form.
    pub text: String,
    /// A YAML comment that sat on the line of the value that follows it in the tree
    /// (`key: value # note`): written back on that value's line (sops 3.13, PR 2131).
    pub inline: bool,
}

impl Comment {
    /// A comment with the given text.
    pub fn new(text: impl Into<String>) -> Self {
        Comment {
            text: text.into(),
            inline: false,
        }
    }

    /// A comment written on the line of the value that follows it.
    pub fn inline(text: impl Into<String>) -> Self {
        Comment {
            text: text.into(),
            inline: true,
        }
    }
}

/// A typed leaf value. The type decides the `type:` tag of its encrypted form and the bytes
/// that are encrypted and hashed (see [`Scalar::plaintext_bytes`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A null value; never encrypted, never hashed.
    Null,
    /// A boolean (`type:bool`, plaintext `True`/`False`).
    Bool(bool),
    /// A signed 64-bit integer (`type:int`).
    Int(i64),
    /// A 64-bit float (`type:float`, plaintext in Go's `'f'` format).
    Float(f64),
    /// A UTF-8 string (`type:str`). Encrypted values are strings of the `ENC[...]` form.
    Str(String),
    /// Raw bytes that are not UTF-8 (binary files, YAML `!!binary`); encrypted as `type:str`.
    Bytes(Vec<u8>),
    /// A timestamp kept as RFC 3339 text with nanoseconds trimmed (`type:time`).
    Time(String),
}

impl Scalar {
    /// The `type:` tag sops writes for this scalar.
    pub fn type_tag(&self) -> &'static str {
        match self {
            Scalar::Null | Scalar::Str(_) | Scalar::Bytes(_) => "str",
            Scalar::Bool(_) => "bool",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float",
            Scalar::Time(_) => "time",
        }
    }

    /// The bytes sops encrypts and feeds to the MAC for this scalar.
    pub fn plaintext_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        use std::borrow::Cow;
        match self {
            Scalar::Null => Cow::Borrowed(b""),
            Scalar::Bool(true) => Cow::Borrowed(b"True"),
            Scalar::Bool(false) => Cow::Borrowed(b"False"),
            Scalar::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Scalar::Float(f) => Cow::Owned(crate::number::format_float_f(*f).into_bytes()),
            Scalar::Str(s) | Scalar::Time(s) => Cow::Borrowed(s.as_bytes()),
            Scalar::Bytes(b) => Cow::Borrowed(b),
        }
    }

    /// True for values sops never encrypts: null and the empty string.
    pub fn is_empty(&self) -> bool {
        match self {
            Scalar::Null => true,
            Scalar::Str(s) => s.is_empty(),
            Scalar::Bytes(b) => b.is_empty(),
            _ => false,
        }
    }

    /// The string if this is a [`Scalar::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl Map {
    /// An empty block mapping.
    pub fn new() -> Self {
        Map::default()
    }

    /// Appends an entry.
    pub fn push(&mut self, key: impl Into<String>, value: Node) {
        self.items.push(MapItem::Entry(Entry {
            key: key.into(),
            value,
        }));
    }

    /// Appends a comment.
    pub fn push_comment(&mut self, text: impl Into<String>) {
        self.items.push(MapItem::Comment(Comment::new(text)));
    }

    /// The entries, skipping comments.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.items.iter().filter_map(|item| match item {
            MapItem::Entry(e) => Some(e),
            MapItem::Comment(_) => None,
        })
    }

    /// The first value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries().find(|e| e.key == key).map(|e| &e.value)
    }

    /// The first value stored under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.items.iter_mut().find_map(|item| match item {
            MapItem::Entry(e) if e.key == key => Some(&mut e.value),
            _ => None,
        })
    }

    /// Removes every entry under `key` and returns the first removed value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let mut removed = None;
        let mut kept = Vec::with_capacity(self.items.len());
        for item in self.items.drain(..) {
            match item {
                MapItem::Entry(e) if e.key == key => {
                    if removed.is_none() {
                        removed = Some(e.value);
                    }
                }
                other => kept.push(other),
            }
        }
        self.items = kept;
        removed
    }

    /// Number of entries with the given key.
    pub fn count_key(&self, key: &str) -> usize {
        self.entries().filter(|e| e.key == key).count()
    }
}

impl Seq {
    /// An empty block sequence.
    pub fn new() -> Self {
        Seq::default()
    }

    /// Appends a value.
    pub fn push(&mut self, value: Node) {
        self.items.push(SeqItem::Node(value));
    }

    /// The values, skipping comments.
    pub fn values(&self) -> impl Iterator<Item = &Node> {
        self.items.iter().filter_map(|item| match item {
            SeqItem::Node(n) => Some(n),
            SeqItem::Comment(_) => None,
        })
    }
}

impl From<Scalar> for Node {
    fn from(s: Scalar) -> Self {
        Node::Scalar(s)
    }
}

impl From<Map> for Node {
    fn from(m: Map) -> Self {
        Node::Map(m)
    }
}

impl From<Seq> for Node {
    fn from(s: Seq) -> Self {
        Node::Seq(s)
    }
}

impl Node {
    /// A string scalar node.
    pub fn str(s: impl Into<String>) -> Node {
        Node::Scalar(Scalar::Str(s.into()))
    }

    /// The mapping, if this node is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The scalar, if this node is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }
}
