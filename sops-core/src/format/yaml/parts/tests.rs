//! Reading in parts against reading in one piece: wherever the parts are accepted, the
//! document must be the one the ordinary parse gives.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::super::fast_tests::Gen;
use super::super::parse::parse;
use super::*;

/// Cuts `text` at `cuts`.
fn cut<'a>(text: &'a str, cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    for &c in cuts {
        parts.push(&text.as_bytes()[start..c]);
        start = c;
    }
    parts.push(&text.as_bytes()[start..]);
    parts
}

/// Reads `text` cut at `cuts`; when the parts are accepted, checks that the ordinary parse
/// gives the same document. True when accepted.
fn check_cuts(text: &str, cuts: &[usize]) -> bool {
    let Some((doc, results)) = parse_parts(cut(text, cuts), |items| items.len()) else {
        return false;
    };
    assert_eq!(results.len(), cuts.len() + 1);
    assert_eq!(results.iter().sum::<usize>(), doc.items.len());
    match parse(text.as_bytes()) {
        Ok(docs) => assert_eq!(docs, vec![doc], "parts differ for {text:?} cut at {cuts:?}"),
        Err(e) => panic!("parts accepted {text:?} (cut at {cuts:?}), which fails: {e}"),
    }
    true
}

/// Every cut of `text` on its own, and all of them at once; how many were accepted.
fn check_all_cuts(text: &str) -> usize {
    let cuts = cut_points(text.as_bytes(), 1);
    let mut accepted = 0;
    for &c in &cuts {
        accepted += usize::from(check_cuts(text, &[c]));
    }
    if cuts.len() > 1 {
        accepted += usize::from(check_cuts(text, &cuts));
    }
    accepted
}

#[test]
fn cuts_before_top_level_keys_and_their_comments() {
    let text = "# head\na: 1\nb:\n    c: x\n# about d\n# more\nd:\n    - 1\n    - 2\ne: |\n    t\nf: ENC[x]\n";
    let cuts = cut_points(text.as_bytes(), 1);
    let at = |s: &str| text.find(s).unwrap();
    // Not before `a` (after a comment).
    assert_eq!(cuts, vec![at("b:"), at("# about"), at("e:"), at("f:")]);
    assert!(check_all_cuts(text) > 0);
}

#[test]
fn no_cut_where_something_carries_over() {
    for text in [
        // An empty value or a nested block opens on the line before.
        "a:\nb: 1\n",
        // A block scalar header.
        "a: |\nb: 1\n",
        // A comment on the line before could belong to what follows.
        "a: 1 # c\nb: 1\n",
        "a: 1\n# c\n\nb: 1\n",
        // A blank line.
        "a: 1\n\nb: 1\n",
        // An indented comment.
        "a: 1\n  # c\nb: 1\n",
        // Not a key at column 0.
        "a: 1\n- b\n",
        "a: 1\n---\nb: 1\n",
        "a: 1\n? b\n",
        "a: 1\nb\n",
        // The key line is not complete.
        "a: 1\nb: 1",
    ] {
        assert_eq!(
            cut_points(text.as_bytes(), 1),
            Vec::<usize>::new(),
            "{text:?}"
        );
    }
}

#[test]
fn parts_that_cannot_stand_for_the_whole_are_refused() {
    for (text, cuts) in [
        // A key repeated across parts.
        ("a: 1\nb: 2\na: 3\n", vec![5, 10]),
        // The root mapping does not start at column 0.
        ("  a: 1\nb: 2\n", vec![7]),
        // A sequence at the root.
        ("- 1\nb: 2\n", vec![4]),
        // Several documents.
        ("a: 1\n---\nc: 1\nb: 2\n", vec![14]),
        // Outside the fast path.
        ("a: &x 1\nb: *x\n", vec![8]),
    ] {
        assert!(
            parse_parts(cut(text, &cuts), |_| ()).is_none(),
            "accepted {text:?} cut at {cuts:?}"
        );
    }
}

/// Documents in the fast path's subset, the way sops files and hand-written configs look:
/// nested maps and sequences at varying indentation, literal blocks, comments at every column
/// (own-line and on value lines), blank lines.
struct SubsetGen {
    rng: StdRng,
    out: String,
    n: usize,
}

impl SubsetGen {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.gen_range(0..items.len())]
    }

    fn comments(&mut self, indent: usize) {
        while self.rng.gen_bool(0.3) {
            self.n += 1;
            match self.rng.gen_range(0..5) {
                0 => self.out.push('\n'),
                1 => self.out.push_str(&format!("# c{}\n", self.n)),
                2 => self
                    .out
                    .push_str(&format!("{}# c{}\n", " ".repeat(indent), self.n)),
                3 => self
                    .out
                    .push_str(&format!("{}# c{}\n", " ".repeat(indent + 2), self.n)),
                _ => self
                    .out
                    .push_str(&format!("{}# c{}\n", " ".repeat(indent / 2), self.n)),
            }
        }
    }

    fn scalar_line(&mut self) {
        let v = self.pick(&[
            "x",
            "1",
            "true",
            "'q'",
            "\"d\"",
            "{}",
            "[]",
            "ENC[AES256_GCM,data:a=,iv:b=,tag:c=,type:str]",
            "~",
            "",
        ]);
        if !v.is_empty() {
            self.out.push(' ');
            self.out.push_str(v);
        }
        if self.rng.gen_bool(0.15) {
            self.n += 1;
            self.out.push_str(&format!(" # r{}", self.n));
        }
        self.out.push('\n');
    }

    fn value(&mut self, indent: usize, depth: usize) {
        match self.rng.gen_range(0..10) {
            0..=1 if depth < 3 => {
                self.out.push('\n');
                let step = self.rng.gen_range(1..5);
                self.map(indent + step, depth + 1);
            }
            2..=3 if depth < 3 => {
                self.out.push('\n');
                let step = *[0usize, 2, 4].get(self.rng.gen_range(0..3)).unwrap_or(&2);
                self.seq(indent + step, depth + 1);
            }
            4 => {
                let header = self.pick(&["|", "|-", "|+"]);
                self.out.push_str(&format!(" {header}\n"));
                for _ in 0..self.rng.gen_range(0..3) {
                    match self.rng.gen_range(0..3) {
                        0 => self.out.push('\n'),
                        _ => self
                            .out
                            .push_str(&format!("{}text\n", " ".repeat(indent + 2))),
                    }
                }
            }
            _ => self.scalar_line(),
        }
    }

    fn map(&mut self, indent: usize, depth: usize) {
        for _ in 0..self.rng.gen_range(1..4) {
            self.comments(indent);
            let key = self.rng.gen_range(0..50);
            self.out.push_str(&format!("{}k{key}:", " ".repeat(indent)));
            self.value(indent, depth);
        }
    }

    fn seq(&mut self, indent: usize, depth: usize) {
        for _ in 0..self.rng.gen_range(1..4) {
            self.comments(indent);
            self.out.push_str(&format!("{}-", " ".repeat(indent)));
            if depth < 3 && self.rng.gen_bool(0.3) {
                let key = self.rng.gen_range(0..50);
                self.out.push_str(&format!(" k{key}:"));
                self.value(indent + 2, depth + 1);
                if self.rng.gen_bool(0.5) {
                    self.map(indent + 2, depth + 1);
                }
            } else {
                self.scalar_line();
            }
        }
    }

    fn document(&mut self) {
        self.comments(0);
        for i in 0..self.rng.gen_range(2..10) {
            self.comments(0);
            self.out.push_str(&format!("top{i}:"));
            self.value(0, 0);
        }
        self.comments(0);
    }
}

#[test]
fn random_documents_read_the_same_in_parts() {
    // `YAML_PARTS_CASES=100000` runs a longer sweep.
    let total: u64 = std::env::var("YAML_PARTS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut accepted = 0;
    for seed in 0..total {
        let mut g = SubsetGen {
            rng: StdRng::seed_from_u64(seed),
            out: String::new(),
            n: 0,
        };
        g.document();
        accepted += check_all_cuts(&g.out);
    }
    eprintln!("{accepted} accepted cuts in {total} documents of the subset");
    assert!(accepted > total as usize, "only {accepted} accepted cuts");
    // Near the subset, with its irregularities (mostly refused, never wrong).
    for seed in 0..total {
        let mut g = Gen {
            rng: StdRng::seed_from_u64(seed),
            out: String::new(),
            comment: 0,
        };
        g.noise(0);
        for _ in 0..g.rng.gen_range(2..8) {
            g.map(0, 0);
            g.noise(0);
        }
        check_all_cuts(&g.out);
    }
}

#[test]
fn sample_files_read_the_same_in_parts() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");
    let mut accepted = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            if let Ok(text) = std::fs::read_to_string(&path) {
                accepted += check_all_cuts(&text);
            }
        }
    }
    assert!(accepted > 0);
}

#[test]
fn large_input_is_split_and_reads_the_same() {
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!(
            "# entry {i}\nk{i}:\n    a: {i}\n    b: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n    c:\n        - x\n        - 'y'\n"
        ));
    }
    let parts = split(text.as_bytes()).expect("split");
    assert!(parts.len() > 2);
    assert_eq!(parts.concat(), text.as_bytes());
    let (doc, _) = parse_parts(parts, |_| ()).expect("read in parts");
    let (whole, _) = super::super::parse::parse_fast_counting(&text).expect("whole");
    assert_eq!(vec![doc], whole);
}

#[test]
fn a_file_is_planned_at_places_its_text_can_be_cut() {
    let mut text = String::new();
    for i in 0..30_000 {
        let long = "x".repeat(i % 97 * 13);
        text.push_str(&format!(
            "# c{i}\nk{i}:\n    a: {long}\n    b:\n        - {i}\n"
        ));
    }
    text.push_str("sops:\n    version: 3.11.0\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    std::fs::write(&path, &text).unwrap();
    let every_cut = cut_points(text.as_bytes(), 1);
    let plan = FileParts::plan(&path).unwrap().expect("planned");
    assert!(plan.len() > 4);
    assert_eq!(plan.ranges.first().unwrap().start, 0);
    assert_eq!(plan.ranges.last().unwrap().end as usize, text.len());
    for pair in plan.ranges.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
        assert!(every_cut.contains(&(pair[1].start as usize)));
    }
    assert_eq!(
        plan.metadata_text().unwrap(),
        b"sops:\n    version: 3.11.0\n"
    );
    let (doc, _) = parse_parts(plan.parts(), |_| ()).expect("read in parts");
    let (whole, _) = super::super::parse::parse_fast_counting(&text).expect("whole");
    assert_eq!(vec![doc], whole);
    // Lines longer than the first window.
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&format!("k{i}: {}\n", "y".repeat(100_000)));
    }
    std::fs::write(&path, &text).unwrap();
    let plan = FileParts::plan(&path).unwrap().expect("planned");
    assert!(plan.len() > 2);
    assert!(plan.metadata_text().is_none());
    let (doc, _) = parse_parts(plan.parts(), |_| ()).expect("read in parts");
    assert_eq!(vec![doc], parse(text.as_bytes()).unwrap());
    // No place to cut; a small file.
    std::fs::write(&path, format!("k: |\n{}", "  x\n".repeat(200_000))).unwrap();
    assert!(FileParts::plan(&path).unwrap().is_none());
    std::fs::write(&path, "a: 1\nb: 2\n").unwrap();
    assert!(FileParts::plan(&path).unwrap().is_none());
}
