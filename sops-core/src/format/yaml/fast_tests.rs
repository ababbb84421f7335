//! The fast path against granit: wherever the fast path reads an input, its events (with the
//! positions the tree builder uses) and the resulting trees must be granit's.

use granit_parser::{Event, Parser, Placement, ScalarStyle, Span, StructureStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::fast::{scan, unsupported_line};
use super::parse::parse_full;

/// An event with the parts of its span that the tree builder reads.
fn describe(event: &Event<'_>, span: &Span) -> String {
    let at = |m: &granit_parser::Marker| format!("{}:{}@{:?}", m.line(), m.col(), m.byte_offset());
    let (s, e) = (&span.start, &span.end);
    match event {
        // The builder tells same-line comments from own-line ones, nothing finer.
        Event::Comment(text, placement) => {
            let place = if *placement == Placement::Right {
                "right"
            } else {
                "own-line"
            };
            format!("Comment({text:?}, {place}) {}..{}", at(s), at(e))
        }
        // The builder does not read where a literal block ends.
        Event::Scalar(_, ScalarStyle::Literal, ..) => format!("{event:?} {}", at(s)),
        Event::Scalar(v, ScalarStyle::Plain, ..)
            if v == "~" && s.byte_offset() == e.byte_offset() =>
        {
            format!("{event:?}")
        }
        Event::Scalar(..) => format!("{event:?} {}..{:?}", at(s), e.byte_offset()),
        Event::MappingStart(StructureStyle::Block, ..)
        | Event::SequenceStart(StructureStyle::Block, ..) => {
            format!("{event:?} {}:{}", s.line(), s.col())
        }
        Event::MappingStart(..) | Event::SequenceStart(..) => format!("{event:?} {}", at(s)),
        Event::DocumentStart(..) => "DocumentStart".into(),
        other => format!("{other:?}"),
    }
}

fn fast_events(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    scan(text, |event, span| {
        out.push(describe(&event, &span));
        Ok(())
    })
    .ok()?;
    Some(out)
}

fn full_events(text: &str) -> Result<Vec<String>, String> {
    let mut parser = Parser::new_from_str(text);
    let mut out = Vec::new();
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| e.to_string())?;
        out.push(describe(&event, &span));
    }
    Ok(out)
}

/// Checks one input; returns whether the fast path read it.
fn check(text: &str) -> bool {
    let Some(fast) = fast_events(text) else {
        return false;
    };
    let full = full_events(text)
        .unwrap_or_else(|e| panic!("fast path read what granit refuses ({e}):\n{text}"));
    for (i, (a, b)) in fast.iter().zip(full.iter()).enumerate() {
        assert_eq!(a, b, "event {i} differs for input:\n{text}");
    }
    assert_eq!(
        fast.len(),
        full.len(),
        "event counts differ for input:\n{text}"
    );
    let trees = (super::parse::parse(text.as_bytes()), parse_full(text));
    assert_eq!(trees.0, trees.1, "trees differ for input:\n{text}");
    true
}

fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

#[test]
fn every_sample_file_reads_the_same_on_both_paths() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(files.len() > 100, "testdata not found");
    let mut fast = 0;
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        if check(text) {
            fast += 1;
        }
    }
    // Most samples are ordinary files and must take the fast path.
    assert!(
        fast * 2 > files.len(),
        "only {fast} of {} on the fast path",
        files.len()
    );
}

#[test]
fn files_written_by_sops_take_the_fast_path() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/yaml/golden");
    for name in [
        "comments.enc.yaml",
        "blockscalars.enc.yaml",
        "deep.enc.yaml",
    ] {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(unsupported_line(&text), None, "{}", path.display());
    }
}

#[test]
fn subset_edges() {
    let accepted = [
        "a: 1\n",
        "# c\na: 1 # r\nb:\n    c: \"x y\" # r2\n    d:\n        - e\n        - f: g\n          h: |\n            lit\n# foot\ni: {}\nj: []\n",
        "a:\nb: # c\n  x: 1\nc:   \n  - \n  -\n  - \"q\\\"x\"  # r\n  - 'it''s'\nd: é # ü\ne: |-\n  x\n\n  y\n\n",
        "a:\n- 1\n- 2\nb: 3\n",
        "---\na: 1\n---\nb: 2\n",
        "a: |+\n  x\n\n\nb: 1\n",
        "a: \"\\u00e9\\x41\\U0001F600\\t\"\n",
        "'quoted key': 1\n\"dq key\" : 2\n",
        "a: b#c\nd: e:f\nurl: http://x/y\n",
        "- # c\n",
    ];
    for text in accepted {
        check(text);
    }
    let refused = [
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: [1, 2]\n",
        "a: b\n  c\n",
        "a:\tb\n",
        "a: \"x\n  y\"\n",
        "a: >\n  x\n",
        "%YAML 1.2\n---\na: 1\n",
        "- a\n",
        "a: 1\r\n",
        "",
        "# only a comment\n",
        "a: |\n  x",
        "? a\n: b\n",
    ];
    for text in refused {
        assert!(fast_events(text).is_none(), "fast path read {text:?}");
        check(text);
    }
}

/// Random documents near the subset, with its usual irregularities.
pub(super) struct Gen {
    pub(super) rng: StdRng,
    pub(super) out: String,
    pub(super) comment: usize,
}

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.gen_range(0..items.len())]
    }

    fn comment_text(&mut self) -> String {
        self.comment += 1;
        let body = self.pick(&["", " ", "c", " note: x", "#", " ENC[x]", "  trailing  "]);
        format!("#{body}{}", self.comment)
    }

    fn line(&mut self, indent: usize, text: &str) {
        self.out.push_str(&" ".repeat(indent));
        self.out.push_str(text);
        self.out.push('\n');
    }

    pub(super) fn noise(&mut self, indent: usize) {
        while self.chance(0.2) {
            match self.rng.gen_range(0..6) {
                0 => self.out.push('\n'),
                1 => self.out.push_str("   \n"),
                _ => {
                    let shift = self.pick(&["0", "0", "2", "-2", "1", "-4"]);
                    let col = (indent as i64 + shift.parse::<i64>().unwrap_or(0)).max(0) as usize;
                    let c = self.comment_text();
                    self.line(col, &c);
                }
            }
        }
    }

    fn trailing(&mut self) -> String {
        if self.chance(0.25) {
            let gap = self.pick(&[" ", "  ", ""]);
            format!("{gap}{}", self.comment_text())
        } else if self.chance(0.05) {
            "   ".into()
        } else {
            String::new()
        }
    }

    fn key(&mut self) -> String {
        let n = self.rng.gen_range(0..1000);
        match self.rng.gen_range(0..12) {
            0 => format!("'k {n}'"),
            1 => format!("\"k\\t{n}\""),
            2 => format!("k{n} "),
            3 if self.chance(0.5) => self
                .pick(&["-k", "?k", ":k", "k:x", "k#x", "1", "true", "<<", "~", "é"])
                .into(),
            _ => format!("k{n}"),
        }
    }

    fn scalar(&mut self) -> String {
        if self.chance(0.8) {
            let safe = [
                "x",
                "a b",
                "1",
                "-5",
                "1.5",
                "true",
                "~",
                "2024-01-02",
                "a:b",
                "a #b",
                "a#b",
                "'s'",
                "'it''s'",
                "\"d\\\"q\"",
                "ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi=,type:str]",
                "{}",
                "[]",
                "-x",
                "é ü",
            ];
            return self.pick(&safe).to_string();
        }
        let words = [
            "x",
            "a b",
            "1",
            "-5",
            "0x1F",
            "1.5",
            "1e3",
            ".inf",
            "true",
            "no",
            "~",
            "null",
            "2024-01-02",
            "a:b",
            "a #b",
            "a#b",
            "'s'",
            "'it''s'",
            "\"d\\\"q\"",
            "\"\\u00e9\"",
            "\"\\q\"",
            "ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi=,type:str]",
            "{}",
            "[]",
            "[1]",
            "{a: 1}",
            "&a x",
            "*a",
            "!t x",
            "- x",
            "x: y",
            "'unclosed",
            "\"esc\\",
            "@x",
            "`x",
            "%x",
            "|x",
            "-",
            "?",
            ":",
        ];
        self.pick(&words).to_string()
    }

    fn literal(&mut self, indent: usize) {
        let header = self
            .pick(&["|", "|-", "|+", "| ", "|-", "|", "|2", ">"])
            .to_string();
        self.out.push_str(&header);
        self.out.push('\n');
        let inner = indent + self.rng.gen_range(0..4);
        for _ in 0..self.rng.gen_range(0..4) {
            match self.rng.gen_range(0..5) {
                0 => self.out.push('\n'),
                1 => self.line(inner + 2, "more"),
                2 => self.line(inner, "# not a comment"),
                _ => self.line(inner, "text"),
            }
        }
    }

    fn value(&mut self, indent: usize, depth: usize) {
        let r = self.rng.gen_range(0..10);
        if depth < 4 && r < 3 {
            let t = self.trailing();
            self.out.push_str(&t);
            self.out.push('\n');
            let step = self.rng.gen_range(1..5);
            self.map(indent + step, depth + 1);
        } else if depth < 4 && r < 5 {
            let t = self.trailing();
            self.out.push_str(&t);
            self.out.push('\n');
            let step = *[0, 2, 4].get(self.rng.gen_range(0..3)).unwrap_or(&2);
            self.seq(indent + step, depth + 1);
        } else if r < 6 {
            self.out.push(' ');
            self.literal(indent + 1);
        } else if r < 7 {
            let t = self.trailing();
            self.out.push_str(&t);
            self.out.push('\n');
        } else {
            let s = self.scalar();
            let t = self.trailing();
            self.out.push(' ');
            self.out.push_str(&s);
            self.out.push_str(&t);
            self.out.push('\n');
        }
    }

    pub(super) fn map(&mut self, indent: usize, depth: usize) {
        for _ in 0..self.rng.gen_range(1..4) {
            self.noise(indent);
            let jitter = if self.chance(0.03) { 1 } else { 0 };
            let key = self.key();
            self.out.push_str(&" ".repeat(indent + jitter));
            self.out.push_str(&key);
            self.out.push(':');
            self.value(indent, depth);
        }
    }

    fn seq(&mut self, indent: usize, depth: usize) {
        for _ in 0..self.rng.gen_range(1..4) {
            self.noise(indent);
            self.out.push_str(&" ".repeat(indent));
            self.out.push('-');
            let r = self.rng.gen_range(0..10);
            if depth < 4 && r < 3 {
                // `- key: value` and more keys under it.
                self.out.push(' ');
                let key = self.key();
                self.out.push_str(&key);
                self.out.push(':');
                self.value(indent + 2, depth + 1);
                if self.chance(0.5) {
                    self.map(indent + 2, depth + 1);
                }
            } else {
                self.value(indent, depth);
            }
        }
    }

    fn document(&mut self) {
        self.noise(0);
        if self.chance(0.1) {
            self.out.push_str("---\n");
        }
        self.map(0, 0);
        if self.chance(0.15) {
            self.out.push_str("---\n");
            self.map(0, 0);
        }
        self.noise(0);
    }
}

#[test]
fn random_documents_read_the_same_on_both_paths() {
    let mut fast = 0;
    // `YAML_FAST_PATH_CASES=200000` runs a longer sweep.
    let total: u64 = std::env::var("YAML_FAST_PATH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6000);
    for seed in 0..total {
        let mut g = Gen {
            rng: StdRng::seed_from_u64(seed),
            out: String::new(),
            comment: 0,
        };
        g.document();
        if check(&g.out) {
            fast += 1;
        }
    }
    eprintln!("{fast} of {total} random documents on the fast path");
    assert!(
        fast > total / 4,
        "only {fast} of {total} documents on the fast path"
    );
}
