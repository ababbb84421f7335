//! yaml.v3's (libyaml's) refusals of tabs at the start of a line, which YAML 1.2 and granit
//! allow: a tab where a block scalar expects indentation, a tab left of the indentation after
//! a plain scalar, and a tab starting a line between tokens in the block context.
//!
//! Tabs are rare in YAML files, so this check runs only when the input has one: the parser
//! records where scalars and flow collections are, and [`check`] walks the lines that start
//! with a tab (after any spaces) the way libyaml's scanner reaches them.

use crate::format::FormatError;

/// What the parser saw, for the lines holding a tab in their indentation.
#[derive(Default)]
pub(super) struct Record {
    /// Ranges where a tab is part of a token (quoted scalars, flow collections).
    pub(super) covered: Vec<(usize, usize)>,
    /// Plain scalars of the block context: start, end, and libyaml's indentation of the block
    /// collection that holds them (-1 at the top level).
    pub(super) plain: Vec<(usize, usize, isize)>,
    /// Literal and folded scalars: where to look for the `|`/`>` indicator (the end of the
    /// previous token), and the indentation of the block collection that holds them.
    pub(super) blocks: Vec<(usize, isize)>,
    /// Open flow collections (start offsets).
    pub(super) flow_starts: Vec<usize>,
}

fn err(src: &str, context: usize, problem_at: usize, message: &str) -> FormatError {
    // yaml.v3 names the line of the token being scanned, or the problem's when that token is
    // on the first line; no line at all on the first line.
    let line_of = |at: usize| 1 + src[..at.min(src.len())].matches('\n').count();
    let line = if line_of(context) > 1 {
        line_of(context)
    } else {
        line_of(problem_at)
    };
    FormatError::Parse(if line > 1 {
        format!("yaml: line {line}: {message}")
    } else {
        format!("yaml: {message}")
    })
}

fn is_break(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Skips one line break at `pos` (`\r\n`, `\r` or `\n`).
fn skip_break(b: &[u8], pos: usize) -> usize {
    if b.get(pos) == Some(&b'\r') && b.get(pos + 1) == Some(&b'\n') {
        pos + 2
    } else {
        pos + 1
    }
}

/// Checks the tabs of `src` against what libyaml accepts.
pub(super) fn check(src: &str, rec: &Record) -> Result<(), FormatError> {
    let b = src.as_bytes();
    let mut covered = rec.covered.clone();
    for &(from, parent) in &rec.blocks {
        covered.push(block_scalar(src, from, parent)?);
    }
    for &(start, end, parent) in &rec.plain {
        covered.push(plain_tail(src, start, end, parent)?);
    }
    // Lines whose indentation holds a tab, outside the ranges above: libyaml's scanner is
    // between tokens there, in the block context, and stops at the tab.
    let mut line_start = 0;
    while line_start < b.len() {
        let mut pos = line_start;
        while b.get(pos) == Some(&b' ') {
            pos += 1;
        }
        if b.get(pos) == Some(&b'\t') && !covered.iter().any(|&(s, e)| s <= pos && pos < e) {
            return Err(err(
                src,
                pos,
                pos,
                "found character that cannot start any token",
            ));
        }
        match b[line_start..].iter().position(|&c| c == b'\n') {
            Some(n) => line_start += n + 1,
            None => break,
        }
    }
    Ok(())
}

/// Walks the blank run after a plain scalar as libyaml's plain scanner does; returns the
/// range it consumed.
fn plain_tail(
    src: &str,
    start: usize,
    end: usize,
    parent: isize,
) -> Result<(usize, usize), FormatError> {
    let b = src.as_bytes();
    let indent = parent + 1;
    let mut pos = end;
    let mut col: isize = 0;
    let mut leading_blanks = false;
    while let Some(&c) = b.get(pos) {
        match c {
            b' ' | b'\t' => {
                if leading_blanks && c == b'\t' && col < indent {
                    return Err(err(
                        src,
                        start,
                        pos,
                        "found a tab character that violates indentation",
                    ));
                }
                pos += 1;
                col += 1;
            }
            c if is_break(c) => {
                pos = skip_break(b, pos);
                col = 0;
                leading_blanks = true;
            }
            _ => break,
        }
    }
    Ok((start, pos))
}

/// Walks a literal or folded scalar's lines as libyaml's block scanner does, from the
/// indicator found after `from`; returns the range it consumed.
fn block_scalar(src: &str, from: usize, parent: isize) -> Result<(usize, usize), FormatError> {
    let b = src.as_bytes();
    let Some(header) = b[from..]
        .iter()
        .position(|&c| c == b'|' || c == b'>')
        .map(|n| from + n)
    else {
        return Ok((from, from));
    };
    let mut pos = header + 1;
    let mut increment: isize = 0;
    while let Some(&c) = b.get(pos) {
        match c {
            b'+' | b'-' => {}
            b'1'..=b'9' => increment = (c - b'0') as isize,
            _ => break,
        }
        pos += 1;
    }
    // The rest of the header line (blanks, a comment).
    while b.get(pos).is_some_and(|&c| !is_break(c)) {
        pos += 1;
    }
    if pos >= b.len() {
        return Ok((header, pos));
    }
    pos = skip_break(b, pos);
    let mut indent: isize = if increment > 0 {
        if parent >= 0 {
            parent + increment
        } else {
            increment
        }
    } else {
        0
    };
    let mut max_indent: isize = 0;
    // The breaks before a content line: spaces up to the indentation, and a tab there is an
    // error; returns the column reached.
    let breaks = |pos: &mut usize, indent: isize, max_indent: &mut isize| loop {
        let mut col: isize = 0;
        while (indent == 0 || col < indent) && b.get(*pos) == Some(&b' ') {
            *pos += 1;
            col += 1;
        }
        *max_indent = (*max_indent).max(col);
        if (indent == 0 || col < indent) && b.get(*pos) == Some(&b'\t') {
            return Err(err(
                src,
                header,
                *pos,
                "found a tab character where an indentation space is expected",
            ));
        }
        match b.get(*pos) {
            Some(&c) if is_break(c) => *pos = skip_break(b, *pos),
            _ => return Ok(col),
        }
    };
    let mut col = breaks(&mut pos, indent, &mut max_indent)?;
    if indent == 0 {
        indent = max_indent.max(parent + 1).max(1);
    }
    while col == indent && pos < b.len() {
        while b.get(pos).is_some_and(|&c| !is_break(c)) {
            pos += 1;
        }
        if pos >= b.len() {
            break;
        }
        pos = skip_break(b, pos);
        col = breaks(&mut pos, indent, &mut max_indent)?;
    }
    Ok((header, pos))
}

#[cfg(test)]
mod tests {
    use crate::format::{yaml::Yaml, Codec, FormatError};

    /// Each case as the reference sops 3.11 answered it (`sops -e`).
    #[test]
    fn tabs_like_yaml_v3() {
        let refused = [
            (
                "a: 1\n\t\nb: 2\n",
                "yaml: line 2: found a tab character that violates indentation",
            ),
            (
                "a: \"1\"\n\t\nb: 2\n",
                "yaml: line 2: found character that cannot start any token",
            ),
            (
                "a:\n  - 1\n\t\n  - 2\n",
                "yaml: line 2: found a tab character that violates indentation",
            ),
            (
                "a: 1\n\t# c\nb: 2\n",
                "yaml: line 2: found a tab character that violates indentation",
            ),
            (
                "a: |\n  \tx\n",
                "yaml: line 2: found a tab character where an indentation space is expected",
            ),
            (
                "a: |\n  x\n \ty\n",
                "yaml: line 3: found a tab character where an indentation space is expected",
            ),
            (
                "a: |\n  x\n\tb\n",
                "yaml: line 3: found a tab character where an indentation space is expected",
            ),
            (
                "a:\n\t\n  b: 1\n",
                "yaml: line 2: found character that cannot start any token",
            ),
            (
                "\t\na: 1\n",
                "yaml: found character that cannot start any token",
            ),
            (
                "a: 1\n\t\n",
                "yaml: line 2: found a tab character that violates indentation",
            ),
        ];
        for (input, want) in refused {
            match Yaml.parse_plain(input.as_bytes()) {
                Err(FormatError::Parse(m)) => assert_eq!(m, want, "{input:?}"),
                other => panic!("{input:?}: {other:?}"),
            }
        }
        for (input, key, want) in [
            ("a: 1\n  \t\nb: 2\n", "a", "1"),
            ("a: |2\n  \tx\n", "a", "\tx\n"),
            ("a: |\n  x\n  \ty\n", "a", "x\n\ty\n"),
            ("a: [1,\n\t2]\n", "b", ""),
            ("a: b\n  \tc\n", "a", "b c"),
            ("a: \"x\n\ty\"\n", "a", "x y"),
            ("a: 1\t\nb: 2\n", "b", "2"),
        ] {
            let docs = Yaml
                .parse_plain(input.as_bytes())
                .unwrap_or_else(|e| panic!("{input:?}: {e}"));
            if let Some(crate::tree::Node::Scalar(s)) = docs[0].get(key) {
                let text = match s {
                    crate::tree::Scalar::Str(t) => t.clone(),
                    crate::tree::Scalar::Int(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                assert_eq!(text, want, "{input:?}");
            }
        }
    }
}
