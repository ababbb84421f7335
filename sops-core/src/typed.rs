//! Decrypted documents as serde types: `let cfg: MyConfig = typed::from_document(&doc)?`.

use serde::de::DeserializeOwned;
use serde_json::{Map as JsonMap, Number, Value};

use crate::tree::{Document, MapItem, Node, Scalar, SeqItem};

/// Converts a node into a JSON value (comments dropped, bytes as lossy UTF-8, non-finite
/// floats as null).
pub fn to_json_value(node: &Node) -> Value {
    match node {
        Node::Map(m) => {
            let mut out = JsonMap::new();
            for item in &m.items {
                if let MapItem::Entry(e) = item {
                    out.insert(e.key.clone(), to_json_value(&e.value));
                }
            }
            Value::Object(out)
        }
        Node::Seq(s) => Value::Array(
            s.items
                .iter()
                .filter_map(|i| match i {
                    SeqItem::Node(n) => Some(to_json_value(n)),
                    SeqItem::Comment(_) => None,
                })
                .collect(),
        ),
        Node::Scalar(s) => match s {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Int(i) => Value::Number((*i).into()),
            Scalar::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Scalar::Str(s) | Scalar::Time(s) => Value::String(s.clone()),
            Scalar::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        },
    }
}

/// Deserializes a decrypted document into any serde type.
pub fn from_document<T: DeserializeOwned>(doc: &Document) -> Result<T, serde_json::Error> {
    serde_json::from_value(to_json_value(&Node::Map(doc.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Map;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Db {
        password: String,
        port: u16,
    }

    #[test]
    fn into_struct() {
        let mut doc = Map::new();
        doc.push_comment(" c");
        doc.push("password", Node::str("x"));
        doc.push("port", Node::Scalar(Scalar::Int(5432)));
        let db: Db = from_document(&doc).unwrap();
        assert_eq!(
            db,
            Db {
                password: "x".into(),
                port: 5432
            }
        );
    }
}
