//! The Unicode line breaks of YAML 1.1, which yaml.v3 (libyaml) honours and YAML 1.2 (granit)
//! treats as text: NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029).
//!
//! libyaml reads NEL as a `\n` everywhere, so the input is parsed with each NEL replaced by a
//! `\n`: exactly what libyaml sees. LS and PS are line breaks too (they end comments, plain
//! scalars and lines), but a scalar keeps them as they are where it keeps a line break, and
//! folding never turns them into a space. So they are replaced by `\n` for the structure, their
//! places remembered, and the scalars that held one are decoded again here as libyaml decodes
//! them: quoted scalars from their source, literal blocks by putting each separator back in
//! place of its `\n`. A folded block or a plain scalar holding one (rare: sops writes such
//! values quoted) is refused rather than read differently.

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

/// The error for a folded block or plain scalar that held a separator.
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
        ] {
            let got = value(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            let got = match got {
                Some(Node::Scalar(crate::tree::Scalar::Str(s))) => s,
                Some(Node::Scalar(crate::tree::Scalar::Int(i))) => i.to_string(),
                other => panic!("{input:?}: {other:?}"),
            };
            assert_eq!(got, want, "{input:?}");
        }
        for input in [
            "k\u{2028}0: a b\n",
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
