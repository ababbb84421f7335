//! Tree paths as sops writes them for `--extract` and `--set`: `["db"]["hosts"][0]`.

use crate::tree::{Node, SeqItem};

/// One step of a path: a map key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A map key (`["key"]` or `['key']`).
    Key(String),
    /// A sequence index (`[0]`).
    Index(usize),
}

impl std::fmt::Display for PathStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathStep::Key(k) => write!(f, "['{k}']"),
            PathStep::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path that does not parse, or does not lead anywhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path text is malformed (sops exit code 91).
    #[error("error parsing tree path: {0}")]
    Syntax(String),
    /// A key is missing (sops exit code 1).
    #[error("error truncating tree: component {0} not found")]
    NotFound(PathStep),
    /// An index is past the end of a sequence, or a step goes into a scalar (sops exit code 1).
    #[error("error truncating tree: component {0} accesses out of bounds")]
    OutOfBounds(PathStep),
    /// A step goes into a scalar value.
    #[error(
        "error truncating tree: component {0} goes into a value that is neither a map nor a list"
    )]
    NotAContainer(PathStep),
}

/// Parses `["a"][0]['b']` into steps. An empty path is the whole document.
pub fn parse(path: &str) -> Result<Vec<PathStep>, PathError> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('[')
            .ok_or_else(|| PathError::Syntax(format!("component {rest} doesn't start with [")))?;
        let quote = inner.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            let body = &inner[1..];
            let end = body.find(&format!("{q}]")).ok_or_else(|| {
                PathError::Syntax(format!("component {rest} doesn't end with {q}]"))
            })?;
            steps.push(PathStep::Key(body[..end].to_string()));
            rest = &body[end + 2..];
        } else {
            let end = inner
                .find(']')
                .ok_or_else(|| PathError::Syntax(format!("component {rest} doesn't end with ]")))?;
            let text = &inner[..end];
            let index: i64 = text.trim().parse().map_err(|_| {
                PathError::Syntax(format!(
                    "{text:?} is neither a quoted key nor an integer index"
                ))
            })?;
            if index < 0 {
                return Err(PathError::Syntax(format!(
                    "negative index [{index}] is not allowed"
                )));
            }
            steps.push(PathStep::Index(index as usize));
            rest = &inner[end + 1..];
        }
    }
    Ok(steps)
}

/// Follows `steps` from `root`.
pub fn lookup<'a>(root: &'a Node, steps: &[PathStep]) -> Result<&'a Node, PathError> {
    let mut node = root;
    for step in steps {
        node = match (node, step) {
            (Node::Map(m), PathStep::Key(k)) => {
                m.get(k).ok_or_else(|| PathError::NotFound(step.clone()))?
            }
            (Node::Map(_), PathStep::Index(_)) => return Err(PathError::NotFound(step.clone())),
            (Node::Seq(s), PathStep::Index(i)) => s
                .items
                .iter()
                .filter_map(|item| match item {
                    SeqItem::Node(n) => Some(n),
                    SeqItem::Comment(_) => None,
                })
                .nth(*i)
                .ok_or_else(|| PathError::OutOfBounds(step.clone()))?,
            (Node::Seq(_), PathStep::Key(_)) => return Err(PathError::NotFound(step.clone())),
            (Node::Scalar(_), _) => return Err(PathError::NotAContainer(step.clone())),
        };
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Map, Seq};

    #[test]
    fn parses_paths() {
        assert_eq!(
            parse(r#"["a"][0]['b']"#).unwrap(),
            [
                PathStep::Key("a".into()),
                PathStep::Index(0),
                PathStep::Key("b".into())
            ]
        );
        assert!(parse("bad").is_err());
        assert!(parse("[a][b]").is_err());
        assert!(parse("][").is_err());
        assert!(parse("[-1]").is_err());
        assert!(parse(r#"["a"#).is_err());
    }

    #[test]
    fn looks_up() {
        let mut list = Seq::new();
        list.push(Node::str("x"));
        let mut m = Map::new();
        m.push("l", Node::Seq(list));
        let root = Node::Map(m);
        assert_eq!(
            lookup(&root, &parse(r#"["l"][0]"#).unwrap()).unwrap(),
            &Node::str("x")
        );
        assert!(matches!(
            lookup(&root, &parse(r#"["l"][3]"#).unwrap()),
            Err(PathError::OutOfBounds(_))
        ));
        assert!(matches!(
            lookup(&root, &parse(r#"["n"]"#).unwrap()),
            Err(PathError::NotFound(_))
        ));
        assert!(matches!(
            lookup(&root, &parse(r#"["l"][0]["z"]"#).unwrap()),
            Err(PathError::NotAContainer(_))
        ));
    }
}
