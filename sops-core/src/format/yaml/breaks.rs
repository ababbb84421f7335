//! The Unicode line breaks of YAML 1.1, which yaml.v3 (libyaml) honours and YAML 1.2 (granit)
//! treats as text: NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029).
//!
//! libyaml reads NEL as a `\n` everywhere, so the input is parsed with each NEL replaced by a
//! `\n`: exactly what libyaml sees. LS and PS are line breaks too (they end comments, plain
//! scalars and lines), but a scalar keeps them as they are where it keeps a line break, and
//! folding never turns them into a space. So they are replaced by `\n` for the structure, their
//! places remembered, and the scalars that held one are decoded again here as libyaml decodes
//! them: quoted, plain and folded scalars from their source (libyaml's folding, where a
//! separator never folds into a space), literal blocks by putting each separator back in
//! place of its `\n`.

use crate::format::FormatError;

/// The input with NEL, LS and PS replaced by `\n`, and where (offset in the new text) each
/// LS or PS was.
pub(super) fn normalize(text: &str) -> (String, Vec<(usize, char)>) {
    let mut out = String::with_capacity(text.len());
    let mut seps = Vec::new();
    for c in text.chars() {
        match c {
            '\u{85}' => out.push('\n'),
            '\u{2028}' | '\u{2029}' => {
                seps.push((out.len(), c));
                out.push('\n');
            }
            _ => out.push(c),
        }
    }
    (out, seps)
}

/// The separator that stood at `at`, if any.
fn sep_at(seps: &[(usize, char)], at: usize) -> Option<char> {
    seps.binary_search_by_key(&at, |&(p, _)| p)
        .ok()
        .map(|i| seps[i].1)
}

/// True if a separator stood in `start..end`.
pub(super) fn any_in(seps: &[(usize, char)], start: usize, end: usize) -> bool {
    let i = seps.partition_point(|&(p, _)| p < start);
    seps.get(i).is_some_and(|&(p, _)| p < end)
}

fn unsupported(line: usize) -> FormatError {
    FormatError::Parse(format!(
        "yaml: line {line}: a line or paragraph separator (U+2028, U+2029) inside a folded or plain scalar is not supported"
    ))
}

/// The value of a quoted scalar whose source `src[start..end]` (quotes included) held a
/// separator, decoded as libyaml does.
pub(super) fn quoted(
    src: &str,
    start: usize,
    end: usize,
    double: bool,
    seps: &[(usize, char)],
) -> String {
    let raw = &src[start..end];
    let mut chars = raw.char_indices().skip(1).peekable();
    let mut value = String::new();
    let mut whitespaces = String::new();
    let mut leading_break = String::new();
    let mut trailing_breaks = String::new();
    let read_break = |at: usize, c: char| -> char {
        if c == '\n' {
            sep_at(seps, start + at).unwrap_or('\n')
        } else {
            '\n'
        }
    };
    loop {
        let mut leading_blanks = false;
        // Non-blank characters.
        while let Some(&(_, c)) = chars.peek() {
            if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
                break;
            }
            chars.next();
            if !double && c == '\'' {
                if matches!(chars.peek(), Some(&(_, '\''))) {
                    chars.next();
                    value.push('\'');
                    continue;
                }
                return value;
            }
            if double && c == '"' {
                return value;
            }
            if double && c == '\\' {
                let Some((j, e)) = chars.next() else {
                    return value;
                };
                if e == '\n' || e == '\r' {
                    // An escaped line break: no folding.
                    if e == '\r' && matches!(chars.peek(), Some(&(_, '\n'))) {
                        chars.next();
                    }
                    leading_blanks = true;
                    break;
                }
                let mut hex = |n: usize| {
                    let digits = raw.get(j + 1..j + 1 + n).unwrap_or("");
                    for _ in 0..n {
                        chars.next();
                    }
                    u32::from_str_radix(digits, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('\u{fffd}')
                };
                let out = match e {
                    '0' => '\0',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    't' | '\t' => '\t',
                    'n' => '\n',
                    'v' => '\u{b}',
                    'f' => '\u{c}',
                    'r' => '\r',
                    'e' => '\u{1b}',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    'x' => hex(2),
                    'u' => hex(4),
                    'U' => hex(8),
                    other => other,
                };
                value.push(out);
                continue;
            }
            value.push(c);
        }
        // Blanks and breaks.
        while let Some(&(i, c)) = chars.peek() {
            match c {
                ' ' | '\t' => {
                    if !leading_blanks {
                        whitespaces.push(c);
                    }
                    chars.next();
                }
                '\n' | '\r' => {
                    chars.next();
                    if c == '\r' && matches!(chars.peek(), Some(&(_, '\n'))) {
                        chars.next();
                    }
                    let b = read_break(i, c);
                    if leading_blanks {
                        trailing_breaks.push(b);
                    } else {
                        whitespaces.clear();
                        leading_break.push(b);
                        leading_blanks = true;
                    }
                }
                _ => break,
            }
        }
        if chars.peek().is_none() {
            return value;
        }
        if leading_blanks {
            if leading_break.starts_with('\n') {
                if trailing_breaks.is_empty() {
                    value.push(' ');
                } else {
                    value.push_str(&trailing_breaks);
                }
            } else {
                value.push_str(&leading_break);
                value.push_str(&trailing_breaks);
            }
            leading_break.clear();
            trailing_breaks.clear();
        } else {
            value.push_str(&whitespaces);
            whitespaces.clear();
        }
    }
}

/// The value of a literal block whose `\n`s may stand for separators: each `\n` of `value`
/// is the next line break of the source after the header line, in order.
pub(super) fn literal(src: &str, start: usize, value: &str, seps: &[(usize, char)]) -> String {
    // The header line: the last line before `start` with something other than blanks.
    let mut line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    while line_start > 0 {
        let prev_start = src[..line_start - 1].rfind('\n').map_or(0, |i| i + 1);
        if !src[prev_start..line_start - 1]
            .trim_matches([' ', '\t', '\r'])
            .is_empty()
        {
            break;
        }
        line_start = prev_start;
    }
    let mut breaks = src[line_start..]
        .match_indices('\n')
        .map(|(i, _)| sep_at(seps, line_start + i).unwrap_or('\n'));
    value
        .chars()
        .map(|c| {
            if c == '\n' {
                breaks.next().unwrap_or('\n')
            } else {
                c
            }
        })
        .collect()
}

/// The value of a plain scalar whose source `src[start..end]` held a separator, folded as
/// libyaml folds it (`yaml_parser_scan_plain_scalar`): a line feed between two lines becomes a
/// space (or the empty lines that follow it), a line or paragraph separator stays as it is,
/// and the blanks around a line break are dropped.
pub(super) fn plain(src: &str, start: usize, end: usize, seps: &[(usize, char)]) -> String {
    let mut value = String::new();
    let mut chars = src[start..end].char_indices().peekable();
    loop {
        while let Some(&(_, c)) = chars.peek() {
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                break;
            }
            value.push(c);
            chars.next();
        }
        let mut whitespaces = String::new();
        let mut leading_break: Option<char> = None;
        let mut trailing_breaks = String::new();
        while let Some(&(i, c)) = chars.peek() {
            chars.next();
            match c {
                ' ' | '\t' if leading_break.is_none() => whitespaces.push(c),
                ' ' | '\t' => {}
                '\r' if matches!(chars.peek(), Some(&(_, '\n'))) => {}
                _ => {
                    let b = if c == '\n' {
                        sep_at(seps, start + i).unwrap_or('\n')
                    } else {
                        '\n'
                    };
                    match leading_break {
                        None => leading_break = Some(b),
                        Some(_) => trailing_breaks.push(b),
                    }
                }
            }
            if matches!(chars.peek(), Some(&(_, c)) if !matches!(c, ' ' | '\t' | '\n' | '\r')) {
                break;
            }
        }
        if chars.peek().is_none() {
            return value;
        }
        join(&mut value, &whitespaces, leading_break, &trailing_breaks);
    }
}

/// Joins two runs of text the way libyaml does after the blanks and breaks between them.
fn join(value: &mut String, whitespaces: &str, leading_break: Option<char>, trailing: &str) {
    match leading_break {
        None => value.push_str(whitespaces),
        Some('\n') if trailing.is_empty() => value.push(' '),
        Some('\n') => value.push_str(trailing),
        Some(b) => {
            value.push(b);
            value.push_str(trailing);
        }
    }
}

/// The value of a folded block scalar whose content (from `start`, the line after its header,
/// to `end`) held a separator, as libyaml's `yaml_parser_scan_block_scalar` reads it: a line
/// feed between two lines that do not start with a blank folds into a space (or into the empty
/// lines that follow it), a line or paragraph separator never folds. `value` is granit's
/// reading of the normalised text, which gives the content indentation. None when the block
/// has no content line to measure it from.
pub(super) fn folded(
    src: &str,
    start: usize,
    end: usize,
    value: &str,
    seps: &[(usize, char)],
) -> Option<String> {
    let header = header_line(src, start);
    let header_end = header + src[header..].find('\n')?;
    let header_text = &src[header..header_end];
    let start = header_end + 1;
    // The indicators after `>`: chomping (`-` strip, `+` keep) and an indentation digit.
    let at = header_text
        .char_indices()
        .find(|&(i, c)| c == '>' && (i == 0 || header_text[..i].ends_with([' ', '\t'])))
        .map(|(i, _)| i)?;
    let indicators: String = header_text[at + 1..]
        .chars()
        .take_while(|c| matches!(c, '+' | '-' | '0'..='9'))
        .collect();
    let chomp = if indicators.contains('-') {
        -1
    } else if indicators.contains('+') {
        1
    } else {
        0
    };
    // The indentation: the first line with content, less the spaces granit kept of it.
    let body = &src[start..end.max(start)];
    let first_src = body.split('\n').find(|l| !l.trim().is_empty())?;
    let first_src = first_src.trim_end_matches('\r');
    let first_val = value.split('\n').find(|l| !l.trim().is_empty())?;
    let spaces = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let indent = spaces(first_src).checked_sub(spaces(first_val))?;

    let mut out = String::new();
    let mut leading_break = String::new();
    let mut trailing_breaks = String::new();
    let mut leading_blank = false;
    let mut seen_content = false;
    let mut offset = start;
    for line in src[start..].split_inclusive('\n') {
        offset += line.len();
        let (text, brk) = match line.strip_suffix('\n') {
            Some(t) => (
                t.strip_suffix('\r').unwrap_or(t),
                Some(sep_at(seps, offset - 1).unwrap_or('\n')),
            ),
            None => (line, None),
        };
        let lead = spaces(text);
        let blank_line = text[lead.min(text.len())..].is_empty() && lead <= indent;
        if blank_line {
            if let Some(b) = brk {
                trailing_breaks.push(b);
            }
            continue;
        }
        if lead < indent {
            break;
        }
        let content = &text[indent..];
        let trailing_blank = content.starts_with([' ', '\t']);
        if seen_content && leading_break == "\n" && !leading_blank && !trailing_blank {
            if trailing_breaks.is_empty() {
                out.push(' ');
            }
        } else {
            out.push_str(&leading_break);
        }
        leading_break.clear();
        out.push_str(&trailing_breaks);
        trailing_breaks.clear();
        leading_blank = trailing_blank;
        out.push_str(content);
        seen_content = true;
        if let Some(b) = brk {
            leading_break.push(b);
        }
    }
    if chomp != -1 {
        out.push_str(&leading_break);
    }
    if chomp == 1 {
        out.push_str(&trailing_breaks);
    }
    Some(out)
}

/// Start of a block scalar's header line: the last line before `start` with something other
/// than blanks.
fn header_line(src: &str, start: usize) -> usize {
    let mut line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    while line_start > 0 {
        let prev_start = src[..line_start - 1].rfind('\n').map_or(0, |i| i + 1);
        if !src[prev_start..line_start - 1]
            .trim_matches([' ', '\t', '\r'])
            .is_empty()
        {
            return prev_start;
        }
        line_start = prev_start;
    }
    line_start
}

/// The error for a folded block that held a separator where its indentation is unknown.
pub(super) fn refuse(line: usize) -> FormatError {
    unsupported(line)
}

#[cfg(test)]
mod tests {
    use crate::format::{yaml::Yaml, Codec, EmitOptions};
    use crate::tree::Node;

    fn value(input: &str) -> Result<Option<Node>, String> {
        Yaml.parse_plain(input.as_bytes())
            .map(|d| d[0].get("k").cloned())
            .map_err(|e| e.to_string())
    }

    /// Each case as the reference sops 3.11 decrypts it (through `--output-type json`).
    #[test]
    fn unicode_line_breaks_like_yaml_v3() {
        for (input, want) in [
            ("k: \"x\u{85}y\"\n", "x y"),
            ("k: 'x\u{2028}    y'\n", "x\u{2028}y"),
            ("k: \"x\u{2029}y\"\n", "x\u{2029}y"),
            ("k: \"x\\Ly\"\n", "x\u{2028}y"),
            ("k: 'a\u{2028}\n  b'\n", "a\u{2028}\nb"),
            ("k: |\n  x\u{2028}  y\n", "x\u{2028}y\n"),
            ("k: |\n  x\u{85}  y\n", "x\ny\n"),
            ("k: x\u{85}  y\n", "x y"),
            ("# c\u{85}k: 1\n", "1"),
            // Plain and folded scalars (the reference, through `--output-type json`).
            ("k: x\u{2028}  y\n", "x\u{2028}y"),
            ("k: x\u{2028}\n  y\n", "x\u{2028}\ny"),
            (
                "k: a \u{2029}  \n\n  b c\u{2028} d\n",
                "a\u{2029}\n\nb c\u{2028}d",
            ),
            ("k: >\n  x\u{2028}  y\n  z\n", "x\u{2028}y z\n"),
            (
                "k: >-\n  a\u{2029}\n\n  b\u{2028}   c\n    d\n  e\n",
                "a\u{2029}\n\nb\u{2028} c\n  d\ne",
            ),
            ("k: >+\n  a\n  b\u{2028}\n\n", "a b\u{2028}\n\n"),
            ("k: >2\n   a\u{2028}  b\n", " a\u{2028}b\n"),
            ("k: > # h>\n  a\u{2028}  b\u{2028}\n", "a\u{2028}b\u{2028}"),
            (
                "k: >\n\n  a\u{2028}\u{2028}  b\n\n  c\nj: 1\n",
                "\na\u{2028}\u{2028}b\nc\n",
            ),
            (
                "k: >\n  a \u{2028}  b \n   c\n  d\n",
                "a \u{2028}b \n c\nd\n",
            ),
        ] {
            let got = value(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            let got = match got {
                Some(Node::Scalar(crate::tree::Scalar::Str(s))) => s,
                Some(Node::Scalar(crate::tree::Scalar::Int(i))) => i.to_string(),
                other => panic!("{input:?}: {other:?}"),
            };
            assert_eq!(got, want, "{input:?}");
        }
        // Refused by the reference too: the line after the separator is not indented.
        for input in [
            "k\u{2028}0: a b\n",
            "k: >\n  x\u{2028}y\n",
            "k: x\u{2028}y\n",
            "k: a b # c\u{2028}x\n",
        ] {
            assert!(value(input).is_err(), "{input:?}");
        }
    }

    /// The reference writes `'x\u2028    y'` for the value `x\u2028y`: we write and read it.
    #[test]
    fn separator_values_round_trip() {
        for v in ["x\u{2028}y", "a\u{2029}b c", "p\u{85}q", "x\u{2028}\ny\n"] {
            let mut m = crate::tree::Map::new();
            m.push("k", Node::str(v));
            let out = Yaml
                .emit_plain(&[m], &EmitOptions::default())
                .expect("emit");
            let back = Yaml.parse_plain(&out).expect("parse");
            assert_eq!(
                back[0].get("k"),
                Some(&Node::str(v)),
                "{v:?}: {:?}",
                String::from_utf8_lossy(&out)
            );
        }
    }
}
