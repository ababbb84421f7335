//! Changing a decrypted file: setting and removing values at a tree path (`sops set` /
//! `sops unset`), JSON values, rotating the data key, changing recipients (`updatekeys`,
//! `rotate --add-age ...`) and comparing key groups.
//!
//! Re-encryption after any of these goes through [`DecryptedFile::encrypt`], which keeps the
//! ciphertext of every unchanged value (see [`crate::iv_stash`]).

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::cipher::DataKey;
use crate::config::KeySpec;
use crate::file::DecryptedFile;
use crate::keys::{self, KeyError, Recipient};
use crate::metadata::{KeyGroup, Metadata, StoredKey};
use crate::tree::{Map, MapItem, Node, Scalar, Seq, SeqItem};
use crate::tree_path::PathStep;

/// Why a value could not be removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsetError {
    /// The path names a key or index that is not there (`--idempotent` ignores this).
    #[error("{0}")]
    NotFound(String),
    /// The path goes through a scalar (its Go type name as sops prints it, and the step).
    #[error("Unsupported type: {0} for item '{1}'")]
    NotAContainer(&'static str, String),
}

/// Parses a JSON value as `sops set` takes it. Unlike sops 3.11 (which makes every number a
/// float), an integer stays an integer; maps keep their key order.
pub fn json_value(text: &str) -> Result<Node, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let node = de.deserialize_any(NodeVisitor).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(node)
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Scalar::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(Scalar::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(match i64::try_from(v) {
            Ok(i) => Scalar::Int(i),
            Err(_) => Scalar::Float(v as f64),
        }))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(Scalar::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::str(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Scalar::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Seq::new();
        while let Some(n) = seq.next_element_seed(NodeSeed)? {
            out.push(n);
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(NodeSeed)?;
            out.push(k, v);
        }
        Ok(Node::Map(out))
    }
}

struct NodeSeed;

impl<'de> de::DeserializeSeed<'de> for NodeSeed {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// The value a path leads to when it has to be created: maps for keys, one-item lists for
/// indexes, as sops builds it.
fn value_from_path(steps: &[PathStep], leaf: Node) -> Node {
    steps.iter().rev().fold(leaf, |acc, step| match step {
        PathStep::Key(k) => {
            let mut m = Map::new();
            m.push(k.clone(), acc);
            Node::Map(m)
        }
        PathStep::Index(_) => {
            let mut s = Seq::new();
            s.push(acc);
            Node::Seq(s)
        }
    })
}

/// Sets `value` at `steps` in `root`, creating missing branches as sops does (a missing key is
/// appended, an index past the end appends an item). Returns whether anything changed.
/// An empty path changes nothing.
pub fn set(root: &mut Map, steps: &[PathStep], value: Node) -> bool {
    let Some((first, rest)) = steps.split_first() else {
        return false;
    };
    set_in_map(root, first, rest, value)
}

fn set_in_map(map: &mut Map, first: &PathStep, rest: &[PathStep], value: Node) -> bool {
    let PathStep::Key(key) = first else {
        // sops compares keys with the index and never matches: it appends nothing useful.
        return false;
    };
    for item in map.items.iter_mut() {
        if let MapItem::Entry(e) = item {
            if &e.key == key {
                return set_node(&mut e.value, rest, value);
            }
        }
    }
    map.push(key.clone(), value_from_path(rest, value));
    true
}

fn set_node(node: &mut Node, steps: &[PathStep], value: Node) -> bool {
    let Some((first, rest)) = steps.split_first() else {
        let changed = *node != value;
        *node = value;
        return changed;
    };
    match (node, first) {
        (Node::Map(m), _) => set_in_map(m, first, rest, value),
        (Node::Seq(s), PathStep::Index(i)) => {
            let position = s
                .items
                .iter()
                .enumerate()
                .filter(|(_, it)| matches!(it, SeqItem::Node(_)))
                .map(|(pos, _)| pos)
                .nth(*i);
            match position {
                Some(pos) => match &mut s.items[pos] {
                    SeqItem::Node(n) => set_node(n, rest, value),
                    SeqItem::Comment(_) => false,
                },
                None => {
                    s.push(value_from_path(rest, value));
                    true
                }
            }
        }
        (node, _) => {
            let new = value_from_path(steps, value);
            let changed = *node != new;
            *node = new;
            changed
        }
    }
}

/// Removes the value at `steps` from `root`, as `sops unset` does.
pub fn unset(root: &mut Map, steps: &[PathStep]) -> Result<(), UnsetError> {
    let Some((first, rest)) = steps.split_first() else {
        return Err(UnsetError::NotFound("Key not found: ".into()));
    };
    unset_in_map(root, first, rest)
}

fn not_found(step: &PathStep) -> UnsetError {
    match step {
        PathStep::Key(k) => UnsetError::NotFound(format!("Key not found: {k}")),
        PathStep::Index(i) => UnsetError::NotFound(format!("Index {i} out of bounds")),
    }
}

fn unset_in_map(map: &mut Map, first: &PathStep, rest: &[PathStep]) -> Result<(), UnsetError> {
    let PathStep::Key(key) = first else {
        return Err(not_found(first));
    };
    let pos = map
        .items
        .iter()
        .position(|it| matches!(it, MapItem::Entry(e) if &e.key == key))
        .ok_or_else(|| not_found(first))?;
    if rest.is_empty() {
        map.items.remove(pos);
        return Ok(());
    }
    match &mut map.items[pos] {
        MapItem::Entry(e) => unset_node(&mut e.value, rest),
        MapItem::Comment(_) => Err(not_found(first)),
    }
}

fn unset_node(node: &mut Node, steps: &[PathStep]) -> Result<(), UnsetError> {
    let Some((first, rest)) = steps.split_first() else {
        return Ok(());
    };
    match node {
        Node::Map(m) => unset_in_map(m, first, rest),
        Node::Seq(s) => {
            let PathStep::Index(i) = first else {
                return Err(not_found(first));
            };
            let pos = s
                .items
                .iter()
                .enumerate()
                .filter(|(_, it)| matches!(it, SeqItem::Node(_)))
                .map(|(pos, _)| pos)
                .nth(*i)
                .ok_or_else(|| not_found(first))?;
            if rest.is_empty() {
                s.items.remove(pos);
                return Ok(());
            }
            match &mut s.items[pos] {
                SeqItem::Node(n) => unset_node(n, rest),
                SeqItem::Comment(_) => Err(not_found(first)),
            }
        }
        Node::Scalar(s) => Err(UnsetError::NotAContainer(
            match s {
                Scalar::Null => "<nil>",
                Scalar::Bool(_) => "bool",
                Scalar::Int(_) => "int",
                Scalar::Float(_) => "float64",
                Scalar::Str(_) | Scalar::Bytes(_) => "string",
                Scalar::Time(_) => "time.Time",
            },
            match first {
                PathStep::Key(k) => k.clone(),
                PathStep::Index(i) => i.to_string(),
            },
        )),
    }
}

/// The [`KeySpec`] that names a stored key (to wrap a data key for it again).
pub fn spec_of(key: &StoredKey) -> KeySpec {
    match key {
        StoredKey::Age { recipient, .. } => KeySpec::Age(recipient.clone()),
        StoredKey::Pgp { fp, .. } => KeySpec::Pgp(fp.clone()),
        StoredKey::Kms {
            arn,
            role,
            context,
            aws_profile,
            ..
        } => KeySpec::Kms {
            arn: arn.clone(),
            role: role.clone(),
            context: context.clone(),
            aws_profile: aws_profile.clone(),
        },
        StoredKey::GcpKms { resource_id, .. } => KeySpec::GcpKms(resource_id.clone()),
        StoredKey::AzureKv {
            vault_url,
            name,
            version,
            ..
        } => KeySpec::AzureKv {
            vault_url: vault_url.clone(),
            key: name.clone(),
            version: version.clone(),
        },
        StoredKey::HcVault {
            vault_address,
            engine_path,
            key_name,
            ..
        } => KeySpec::HcVault(format!("{vault_address}/v1/{engine_path}/keys/{key_name}")),
        StoredKey::Hckms { key_id, .. } => KeySpec::Hckms(key_id.clone()),
    }
}

/// The key groups of a file's metadata as [`KeySpec`]s.
pub fn specs_of(groups: &[KeyGroup]) -> Vec<Vec<KeySpec>> {
    groups
        .iter()
        .map(|g| g.iter().map(spec_of).collect())
        .collect()
}

/// Wraps `data_key` for new key groups and stores them (and the threshold) in `metadata`.
/// Values, `lastmodified` and the MAC are left alone (as `sops updatekeys` does).
pub fn rewrap(
    metadata: &mut Metadata,
    data_key: &DataKey,
    groups: &[Vec<KeySpec>],
    threshold: usize,
) -> Result<(), KeyError> {
    let recipients: Vec<Vec<Box<dyn Recipient>>> = crate::config::recipients(groups)?;
    let (key_groups, threshold) = keys::wrap_data_key(data_key, &recipients, threshold)?;
    metadata.key_groups = key_groups;
    metadata.shamir_threshold = threshold;
    Ok(())
}

impl DecryptedFile {
    /// Generates a new data key and wraps it for `groups` (with `threshold` for several
    /// groups); every value gets a fresh IV when the file is encrypted again.
    pub fn rotate(&mut self, groups: &[Vec<KeySpec>], threshold: usize) -> Result<(), KeyError> {
        let data_key = DataKey::generate();
        rewrap(&mut self.metadata, &data_key, groups, threshold)?;
        self.data_key = data_key;
        self.iv_stash.clear();
        Ok(())
    }

    /// Sets a value in the first document (see [`set`]). Returns whether anything changed.
    pub fn set(&mut self, steps: &[PathStep], value: Node) -> bool {
        if self.documents.is_empty() {
            self.documents.push(Map::new());
        }
        set(&mut self.documents[0], steps, value)
    }

    /// Removes a value from the first document (see [`unset`]).
    pub fn unset(&mut self, steps: &[PathStep]) -> Result<(), UnsetError> {
        match self.documents.first_mut() {
            Some(doc) => unset(doc, steps),
            None => Err(UnsetError::NotFound("Key not found".into())),
        }
    }
}

/// A top-level scalar as `sops exec-env` puts it into the environment (sops's
/// `ValToString`: floats with at least one decimal, `true`/`false`, RFC 3339 times).
pub fn env_value(value: &Scalar) -> String {
    crate::format::dotenv::scalar_to_string(value)
}

/// The change of one key group: keys kept, added and removed, named as sops names them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupDiff {
    /// Keys in both.
    pub common: Vec<String>,
    /// Keys only in the new group.
    pub added: Vec<String>,
    /// Keys only in the old group.
    pub removed: Vec<String>,
}

fn stored_name(key: &StoredKey) -> String {
    spec_of(key).name()
}

/// Compares a file's key groups with the groups a rule asks for, group by group.
pub fn diff_key_groups(old: &[KeyGroup], new: &[Vec<KeySpec>]) -> Vec<GroupDiff> {
    let n = old.len().max(new.len());
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let ours: Vec<String> = old
            .get(i)
            .map(|g| g.iter().map(stored_name).collect())
            .unwrap_or_default();
        let theirs: Vec<String> = new
            .get(i)
            .map(|g| g.iter().map(KeySpec::name).collect())
            .unwrap_or_default();
        let mut d = GroupDiff::default();
        for k in &theirs {
            if ours.contains(k) {
                d.common.push(k.clone());
            } else {
                d.added.push(k.clone());
            }
        }
        for k in &ours {
            if !theirs.contains(k) {
                d.removed.push(k.clone());
            }
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree_path::parse;

    #[test]
    fn json_values_keep_ints_and_order() {
        assert_eq!(json_value("5").unwrap(), Node::Scalar(Scalar::Int(5)));
        assert_eq!(json_value("5.5").unwrap(), Node::Scalar(Scalar::Float(5.5)));
        assert_eq!(json_value("\"x\"").unwrap(), Node::str("x"));
        let Node::Map(m) = json_value(r#"{"z":1,"a":[true,null]}"#).unwrap() else {
            panic!()
        };
        let keys: Vec<_> = m.entries().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["z", "a"]);
        assert!(json_value("{").is_err());
        assert!(json_value("1 2").is_err());
    }

    #[test]
    fn set_creates_branches_and_reports_change() {
        let mut root = Map::new();
        root.push("a", Node::str("x"));
        assert!(!set(&mut root, &parse(r#"["a"]"#).unwrap(), Node::str("x")));
        assert!(set(&mut root, &parse(r#"["a"]"#).unwrap(), Node::str("y")));
        assert!(set(
            &mut root,
            &parse(r#"["b"]["c"][3]"#).unwrap(),
            Node::Scalar(Scalar::Int(1))
        ));
        let b = root.get("b").unwrap().as_map().unwrap();
        let Node::Seq(c) = b.get("c").unwrap() else {
            panic!()
        };
        assert_eq!(c.items.len(), 1);
        assert!(set(
            &mut root,
            &parse(r#"["b"]["c"][5]"#).unwrap(),
            Node::str("z")
        ));
        let b = root.get("b").unwrap().as_map().unwrap();
        let Node::Seq(c) = b.get("c").unwrap() else {
            panic!()
        };
        assert_eq!(c.items.len(), 2);
    }

    #[test]
    fn unchanged_values_keep_their_ciphertext() {
        use crate::format::Format;
        use crate::keys::age::{AgeIdentities, AgeRecipient};
        use crate::{file, DecryptOptions, EncryptOptions, EncryptedFile};
        let recipient =
            AgeRecipient::parse("age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx")
                .unwrap();
        let ids = AgeIdentities::from_text(
            "AGE-SECRET-KEY-1CYZPQWE442GN9FNH3LDYNR0QATR7JS73EFZJLCLPH3GNUYEML84SPPNAJK",
        )
        .unwrap();
        let docs = file::parse_plain(b"a: 1\nb: x\n# c\nl: [p, q]\n", Format::Yaml).unwrap();
        let opts = EncryptOptions {
            key_groups: vec![vec![Box::new(recipient)]],
            ..Default::default()
        };
        let enc = EncryptedFile::encrypt(docs, &opts).unwrap();
        let key = crate::keys::recover_data_key(&enc.metadata, &[&ids]).unwrap();
        let mut dec = enc
            .clone()
            .decrypt_with_key_keeping_ivs(key.clone(), &DecryptOptions::default())
            .unwrap();
        assert_eq!(dec.iv_stash.len(), 5);
        assert!(dec.set(
            &crate::tree_path::parse(r#"["b"]"#).unwrap(),
            Node::str("y")
        ));
        let again = dec.encrypt().unwrap();
        let leaf = |f: &EncryptedFile, k: &str| f.documents[0].get(k).unwrap().clone();
        assert_eq!(leaf(&enc, "a"), leaf(&again, "a"));
        assert_eq!(leaf(&enc, "l"), leaf(&again, "l"));
        assert_ne!(leaf(&enc, "b"), leaf(&again, "b"));
        assert_eq!(enc.documents[0].items[2], again.documents[0].items[2]);
        // Without kept IVs (plain decrypt), everything is new.
        let dec = enc
            .clone()
            .decrypt_with_key(key, &DecryptOptions::default())
            .unwrap();
        let fresh = dec.encrypt().unwrap();
        assert_ne!(leaf(&enc, "a"), leaf(&fresh, "a"));
    }

    #[test]
    fn unset_removes_or_reports() {
        let mut root = Map::new();
        let mut s = Seq::new();
        s.push(Node::str("a"));
        s.push(Node::str("b"));
        root.push("l", Node::Seq(s));
        unset(&mut root, &parse(r#"["l"][0]"#).unwrap()).unwrap();
        assert_eq!(
            unset(&mut root, &parse(r#"["l"][1]"#).unwrap()),
            Err(UnsetError::NotFound("Index 1 out of bounds".into()))
        );
        assert_eq!(
            unset(&mut root, &parse(r#"["x"]"#).unwrap()),
            Err(UnsetError::NotFound("Key not found: x".into()))
        );
        unset(&mut root, &parse(r#"["l"]"#).unwrap()).unwrap();
        assert!(root.items.is_empty());
    }
}
