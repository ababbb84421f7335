//! Three-way merge of decrypted sops files, for `sops merge-driver` (a git merge driver).
//!
//! A merge is a diff of trees: the documents of BASE, CURRENT and OTHER are compared **by key
//! path**. A value changed on one side takes that side's value; the same change on both sides
//! is fine; different changes to the same path, or a delete on one side against an edit on the
//! other, are conflicts. Maps are merged key by key (recursively, also when both sides added
//! the same map); sequences item by item when all three have the same length, else as one
//! value. Comments travel with the key that follows them and are merged like values. Key order
//! and layout follow CURRENT; a key that only OTHER added is placed after the key that precedes
//! it in OTHER.
//!
//! The keys of the file (data key, key groups, Shamir threshold) are merged as one unit, and
//! the partial-encryption selectors as another: the side that changed them wins, and both
//! changing them differently is a conflict.
//!
//! The result is a [`DecryptedFile`] with the chosen side's data key and IVs (and the other
//! side's IVs when both share the data key), so that [`DecryptedFile::encrypt`] keeps the
//! ciphertext of every value whose plaintext did not change. Conflicts are reported as key
//! paths only: never a value or a comment text.
//!
//! This module does not read or write files, nor talk to git: the CLI does.

use crate::file::DecryptedFile;
use crate::metadata::Metadata;
use crate::tree::{Comment, Document, Map, MapItem, Node, Seq, SeqItem};

/// The merge could not be done without a human: the paths that conflict, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} conflicting path(s): {}", .paths.len(), .paths.join(", "))]
pub struct MergeConflicts {
    /// Each conflicting place, as a tree path (`["db"]["password"]`) or a description of a
    /// part of the metadata (`sops keys (...)`). Never a value.
    pub paths: Vec<String>,
}

/// Merges OTHER into CURRENT with BASE as the common ancestor (`None` when the file did not
/// exist there). On success the result carries CURRENT's (or OTHER's, when only OTHER changed
/// them) data key, key groups and selectors, ready to be encrypted again.
pub fn merge_files(
    base: Option<DecryptedFile>,
    current: DecryptedFile,
    other: DecryptedFile,
) -> Result<DecryptedFile, MergeConflicts> {
    let mut conflicts = Vec::new();
    let empty: Vec<Document> = Vec::new();
    let base_docs = base.as_ref().map_or(&empty, |b| &b.documents);
    let documents = merge_documents(
        base_docs,
        &current.documents,
        &other.documents,
        &mut conflicts,
    );

    let keys = |f: &DecryptedFile| KeyState::of(f);
    let base_keys = base.as_ref().map(keys);
    let take_other_keys = match pick(
        base_keys.as_ref(),
        Some(&keys(&current)),
        Some(&keys(&other)),
    ) {
        Picked::Current => false,
        Picked::Other => true,
        Picked::Conflict => {
            conflicts.push("sops keys (both sides changed the recipients or the data key)".into());
            false
        }
    };
    let base_selectors = base.as_ref().map(|b| &b.metadata.selectors);
    let selectors = match pick(
        base_selectors,
        Some(&current.metadata.selectors),
        Some(&other.metadata.selectors),
    ) {
        Picked::Current => current.metadata.selectors.clone(),
        Picked::Other => other.metadata.selectors.clone(),
        Picked::Conflict => {
            conflicts.push("sops encryption selectors (both sides changed them)".into());
            current.metadata.selectors.clone()
        }
    };
    if !conflicts.is_empty() {
        return Err(MergeConflicts { paths: conflicts });
    }
    let (mut chosen, rest) = if take_other_keys {
        (other, current)
    } else {
        (current, other)
    };
    if chosen.data_key.as_bytes() == rest.data_key.as_bytes() {
        // Values taken from the other side keep their ciphertext too.
        chosen.iv_stash.absorb(&rest.iv_stash);
    }
    chosen.documents = documents;
    chosen.metadata = Metadata {
        selectors,
        ..chosen.metadata
    };
    Ok(chosen)
}

/// What identifies a file's keys: the data key and the recipients of each group.
#[derive(PartialEq, Eq)]
struct KeyState {
    data_key: [u8; 32],
    groups: Vec<Vec<String>>,
    threshold: usize,
}

impl KeyState {
    fn of(f: &DecryptedFile) -> KeyState {
        KeyState {
            data_key: *f.data_key.as_bytes(),
            groups: crate::edit::specs_of(&f.metadata.key_groups)
                .iter()
                .map(|g| g.iter().map(|k| k.name()).collect())
                .collect(),
            threshold: f.metadata.shamir_threshold,
        }
    }
}

impl Drop for KeyState {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.data_key);
    }
}

/// Which side a three-way choice takes.
#[derive(Debug, PartialEq, Eq)]
enum Picked {
    Current,
    Other,
    Conflict,
}

/// The three-way rule: the same on both sides, or changed on one side only.
fn pick<T: PartialEq + ?Sized>(base: Option<&T>, cur: Option<&T>, oth: Option<&T>) -> Picked {
    if cur == oth || base == oth {
        Picked::Current
    } else if base == cur {
        Picked::Other
    } else {
        Picked::Conflict
    }
}

/// Merges the document lists: document by document when all three have as many, else as a
/// whole.
pub fn merge_documents(
    base: &[Document],
    cur: &[Document],
    oth: &[Document],
    conflicts: &mut Vec<String>,
) -> Vec<Document> {
    let base_len = if base.is_empty() {
        cur.len()
    } else {
        base.len()
    };
    if cur.len() == oth.len() && cur.len() == base_len {
        let many = cur.len() > 1;
        let empty = Map::new();
        return cur
            .iter()
            .zip(oth)
            .enumerate()
            .map(|(i, (c, o))| {
                let b = base.get(i).unwrap_or(&empty);
                let path = if many {
                    format!("document {}: ", i + 1)
                } else {
                    String::new()
                };
                merge_map(&path, b, c, o, conflicts)
            })
            .collect();
    }
    match pick(Some(base), Some(cur), Some(oth)) {
        Picked::Current => cur.to_vec(),
        Picked::Other => oth.to_vec(),
        Picked::Conflict => {
            conflicts.push("the list of documents (both sides added or removed documents)".into());
            cur.to_vec()
        }
    }
}

fn key_path(path: &str, key: &str) -> String {
    if key.contains('"') {
        format!("{path}['{key}']")
    } else {
        format!("{path}[\"{key}\"]")
    }
}

/// Shows an empty path (the whole document) readably.
fn shown(path: &str) -> String {
    if path.is_empty() || path.ends_with(": ") {
        format!("{path}(the document)")
    } else {
        path.to_string()
    }
}

/// A map split into its entries, each with the comments just before it, and the comments
/// after the last entry. `None` when a key appears twice (such a map is merged as a whole).
struct Split<'a> {
    entries: Vec<(&'a str, Vec<Comment>, &'a Node)>,
    trailing: Vec<Comment>,
}

impl<'a> Split<'a> {
    fn of(map: &'a Map) -> Option<Split<'a>> {
        let mut entries: Vec<(&str, Vec<Comment>, &Node)> = Vec::new();
        let mut pending = Vec::new();
        for item in &map.items {
            match item {
                MapItem::Comment(c) => pending.push(c.clone()),
                MapItem::Entry(e) => {
                    if entries.iter().any(|(k, _, _)| *k == e.key) {
                        return None;
                    }
                    entries.push((&e.key, std::mem::take(&mut pending), &e.value));
                }
            }
        }
        Some(Split {
            entries,
            trailing: pending,
        })
    }

    fn get(&self, key: &str) -> Option<(&Vec<Comment>, &'a Node)> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, c, n)| (c, *n))
    }
}

/// Merges three versions of one map (BASE may be empty).
fn merge_map(path: &str, base: &Map, cur: &Map, oth: &Map, conflicts: &mut Vec<String>) -> Map {
    let (Some(b), Some(c), Some(o)) = (Split::of(base), Split::of(cur), Split::of(oth)) else {
        return match pick(Some(base), Some(cur), Some(oth)) {
            Picked::Other => oth.clone(),
            Picked::Current => cur.clone(),
            Picked::Conflict => {
                conflicts.push(format!("{} (a map with duplicate keys)", shown(path)));
                cur.clone()
            }
        };
    };
    // (key, comments before it, value), in CURRENT's order.
    let mut out: Vec<(String, Vec<Comment>, Node)> = Vec::new();
    for (key, c_comments, c_value) in &c.entries {
        let here = key_path(path, key);
        let b_entry = b.get(key);
        let o_entry = o.get(key);
        let value = merge_node(
            &here,
            b_entry.map(|e| e.1),
            Some(c_value),
            o_entry.map(|e| e.1),
            conflicts,
        );
        let Some(value) = value else {
            continue; // OTHER deleted it and CURRENT did not change it.
        };
        // A side that lacks the entry keeps BASE's comments for it.
        let b_comments = b_entry.map(|e| e.0);
        let o_comments = o_entry.map(|e| e.0).or(b_comments);
        let comments = match pick(b_comments, Some(c_comments), o_comments) {
            Picked::Other => o_comments.cloned().unwrap_or_default(),
            Picked::Current => c_comments.clone(),
            Picked::Conflict => {
                conflicts.push(format!("{} (the comment before {here})", shown(path)));
                c_comments.clone()
            }
        };
        out.push((key.to_string(), comments, value));
    }
    // Entries CURRENT does not have: deleted there, or added by OTHER.
    let mut anchor: Option<usize> = None;
    for (key, o_comments, o_value) in &o.entries {
        if let Some(pos) = out.iter().position(|(k, _, _)| k == key) {
            anchor = Some(pos);
            continue;
        }
        if c.get(key).is_some() {
            continue; // OTHER's entry was merged away above (deleted by OTHER is not here).
        }
        let here = key_path(path, key);
        match b.get(key) {
            Some((_, b_value)) => {
                // CURRENT deleted it: fine when OTHER did not change it.
                if *o_value != b_value {
                    conflicts.push(format!(
                        "{here} (deleted on one side, changed on the other)"
                    ));
                }
            }
            None => {
                let at = anchor.map_or(0, |a| a + 1);
                out.insert(
                    at,
                    (key.to_string(), o_comments.clone(), (*o_value).clone()),
                );
                anchor = Some(at);
            }
        }
    }
    let trailing = match pick(Some(&b.trailing), Some(&c.trailing), Some(&o.trailing)) {
        Picked::Other => o.trailing.clone(),
        Picked::Current => c.trailing.clone(),
        Picked::Conflict => {
            conflicts.push(format!("{} (the comments at the end)", shown(path)));
            c.trailing.clone()
        }
    };
    let layout = match pick(Some(&base.layout), Some(&cur.layout), Some(&oth.layout)) {
        Picked::Other => oth.layout,
        _ => cur.layout,
    };
    let mut items = Vec::with_capacity(out.len() + trailing.len());
    for (key, comments, value) in out {
        items.extend(comments.into_iter().map(MapItem::Comment));
        items.push(MapItem::Entry(crate::tree::Entry { key, value }));
    }
    items.extend(trailing.into_iter().map(MapItem::Comment));
    Map { items, layout }
}

/// Merges three versions of one value; `None` means the value is deleted.
fn merge_node(
    path: &str,
    base: Option<&Node>,
    cur: Option<&Node>,
    oth: Option<&Node>,
    conflicts: &mut Vec<String>,
) -> Option<Node> {
    match pick(base, cur, oth) {
        Picked::Current => return cur.cloned(),
        Picked::Other => return oth.cloned(),
        Picked::Conflict => {}
    }
    match (base, cur, oth) {
        (b, Some(Node::Map(c)), Some(Node::Map(o))) => {
            let empty = Map::new();
            let b = match b {
                Some(Node::Map(b)) => b,
                _ => &empty,
            };
            return Some(Node::Map(merge_map(path, b, c, o, conflicts)));
        }
        (Some(Node::Seq(b)), Some(Node::Seq(c)), Some(Node::Seq(o)))
            if b.items.len() == c.items.len() && c.items.len() == o.items.len() =>
        {
            return Some(Node::Seq(merge_seq(path, b, c, o, conflicts)));
        }
        _ => {}
    }
    let what = match (cur, oth) {
        (None, _) | (_, None) => " (deleted on one side, changed on the other)",
        _ => "",
    };
    conflicts.push(format!("{}{what}", shown(path)));
    cur.cloned()
}

/// Merges three sequences of the same length item by item.
fn merge_seq(path: &str, base: &Seq, cur: &Seq, oth: &Seq, conflicts: &mut Vec<String>) -> Seq {
    let mut items = Vec::with_capacity(cur.items.len());
    let mut index = 0;
    for ((b, c), o) in base.items.iter().zip(&cur.items).zip(&oth.items) {
        let item = match (b, c, o) {
            (SeqItem::Node(b), SeqItem::Node(c), SeqItem::Node(o)) => {
                let here = format!("{path}[{index}]");
                index += 1;
                SeqItem::Node(
                    merge_node(&here, Some(b), Some(c), Some(o), conflicts)
                        .unwrap_or_else(|| c.clone()),
                )
            }
            _ => match pick(Some(b), Some(c), Some(o)) {
                Picked::Other => o.clone(),
                Picked::Current => c.clone(),
                Picked::Conflict => {
                    conflicts.push(format!("{} (a comment in the list)", shown(path)));
                    c.clone()
                }
            },
        };
        items.push(item);
    }
    let layout = match pick(Some(&base.layout), Some(&cur.layout), Some(&oth.layout)) {
        Picked::Other => oth.layout,
        _ => cur.layout,
    };
    Seq { items, layout }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{EmitOptions, Format};

    fn doc(yaml: &str) -> Vec<Document> {
        crate::file::parse_plain(yaml.as_bytes(), Format::Yaml).unwrap()
    }

    fn merged(base: &str, cur: &str, oth: &str) -> Result<String, Vec<String>> {
        let mut conflicts = Vec::new();
        let docs = merge_documents(&doc(base), &doc(cur), &doc(oth), &mut conflicts);
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        let bytes = crate::file::emit_plain(&docs, Format::Yaml, &EmitOptions::default()).unwrap();
        Ok(String::from_utf8(bytes).unwrap())
    }

    const BASE: &str = "a: 1\nb: 2\nc:\n    d: x\n    e: v\n";

    #[test]
    fn changes_on_different_paths_merge() {
        let cur = "a: 10\nb: 2\nc:\n    d: x\n    e: v\n";
        let oth = "a: 1\nb: 2\nc:\n    d: x\n    e: z\n";
        assert_eq!(
            merged(BASE, cur, oth).unwrap(),
            "a: 10\nb: 2\nc:\n    d: x\n    e: z\n"
        );
    }

    #[test]
    fn same_change_on_both_sides_is_fine() {
        let both = "a: 1\nb: 3\nc:\n    d: x\n    e: v\n";
        assert_eq!(merged(BASE, both, both).unwrap(), both);
    }

    #[test]
    fn different_changes_conflict_by_path() {
        let cur = "a: 1\nb: 2\nc:\n    d: p\n    e: v\n";
        let oth = "a: 1\nb: 2\nc:\n    d: q\n    e: v\n";
        assert_eq!(merged(BASE, cur, oth).unwrap_err(), [r#"["c"]["d"]"#]);
    }

    #[test]
    fn delete_against_edit_conflicts_and_plain_delete_merges() {
        let cur = "a: 1\nc:\n    d: x\n    e: v\n";
        let oth = "a: 1\nb: 5\nc:\n    d: x\n    e: v\n";
        let err = merged(BASE, cur, oth).unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].starts_with(r#"["b"]"#), "{err:?}");
        // The other way round too.
        assert_eq!(merged(BASE, oth, cur).unwrap_err().len(), 1);
        // A delete against no change is a delete.
        let oth2 = "a: 7\nb: 2\nc:\n    d: x\n    e: v\n";
        assert_eq!(
            merged(BASE, cur, oth2).unwrap(),
            "a: 7\nc:\n    d: x\n    e: v\n"
        );
        assert_eq!(
            merged(BASE, oth2, cur).unwrap(),
            "a: 7\nc:\n    d: x\n    e: v\n"
        );
    }

    #[test]
    fn keys_added_by_other_follow_their_neighbour() {
        let cur = "z: 0\na: 1\nb: 2\nc:\n    d: x\n    e: v\n";
        let oth = "a: 1\nnew: nv\nb: 2\nc:\n    d: x\n    e: v\n    f: w\n";
        assert_eq!(
            merged(BASE, cur, oth).unwrap(),
            "z: 0\na: 1\nnew: nv\nb: 2\nc:\n    d: x\n    e: v\n    f: w\n"
        );
        // Both adding the same map with different keys merges inside it.
        let cur = format!("{BASE}m:\n    p: 1\n");
        let oth = format!("{BASE}m:\n    q: 2\n");
        assert_eq!(
            merged(BASE, &cur, &oth).unwrap(),
            format!("{BASE}m:\n    q: 2\n    p: 1\n")
        );
    }

    #[test]
    fn comments_follow_their_key_and_current() {
        let base = "# one\na: 1\n# two\nb: 2\n";
        let cur = "# one\na: 1\n# two changed\nb: 2\n";
        let oth = "# one\na: 5\n# two\nb: 2\n";
        assert_eq!(
            merged(base, cur, oth).unwrap(),
            "# one\na: 5\n# two changed\nb: 2\n"
        );
        let oth = "# one, theirs\na: 1\n# two, theirs\nb: 2\n";
        assert_eq!(
            merged(base, cur, oth).unwrap_err(),
            [r#"(the document) (the comment before ["b"])"#]
        );
    }

    #[test]
    fn lists_merge_item_by_item_when_lengths_agree() {
        let base = "l:\n    - a\n    - b\n";
        let cur = "l:\n    - A\n    - b\n";
        let oth = "l:\n    - a\n    - B\n";
        assert_eq!(merged(base, cur, oth).unwrap(), "l:\n    - A\n    - B\n");
        let oth = "l:\n    - a\n    - b\n    - c\n";
        assert_eq!(merged(base, cur, oth).unwrap_err(), [r#"["l"]"#]);
    }

    #[test]
    fn documents_merge_one_by_one() {
        let base = "a: 1\n---\nb: 1\n";
        let cur = "a: 2\n---\nb: 1\n";
        let oth = "a: 1\n---\nb: 3\n";
        assert_eq!(merged(base, cur, oth).unwrap(), "a: 2\n---\nb: 3\n");
        let oth = "a: 3\n---\nb: 1\n";
        assert_eq!(
            merged(base, cur, oth).unwrap_err(),
            [r#"document 1: ["a"]"#]
        );
    }

    #[test]
    fn files_keep_ciphertext_and_take_the_side_that_changed_keys() {
        use crate::keys::age::{AgeIdentities, AgeRecipient};
        use crate::{DecryptOptions, EncryptOptions, EncryptedFile};
        let recipient =
            AgeRecipient::parse("age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx")
                .unwrap();
        let ids = AgeIdentities::from_text(
            "AGE-SECRET-KEY-1CYZPQWE442GN9FNH3LDYNR0QATR7JS73EFZJLCLPH3GNUYEML84SPPNAJK",
        )
        .unwrap();
        let opts = EncryptOptions {
            key_groups: vec![vec![Box::new(recipient)]],
            ..Default::default()
        };
        let base_enc = EncryptedFile::encrypt(doc(BASE), &opts).unwrap();
        let open = |f: &EncryptedFile| {
            let key = crate::keys::recover_data_key(&f.metadata, &[&ids]).unwrap();
            f.clone()
                .decrypt_with_key_keeping_ivs(key, &DecryptOptions::default())
                .unwrap()
        };
        let edit = |f: &EncryptedFile, path: &str, v: &str| {
            let mut d = open(f);
            d.set(&crate::tree_path::parse(path).unwrap(), Node::str(v));
            d.encrypt().unwrap()
        };
        let cur = edit(&base_enc, r#"["a"]"#, "cur");
        let oth = edit(&base_enc, r#"["c"]["e"]"#, "oth");
        let result = merge_files(Some(open(&base_enc)), open(&cur), open(&oth))
            .unwrap()
            .encrypt()
            .unwrap();
        let leaf = |f: &EncryptedFile, k: &str| f.documents[0].get(k).unwrap().clone();
        assert_eq!(leaf(&result, "a"), leaf(&cur, "a"));
        assert_eq!(leaf(&result, "b"), leaf(&base_enc, "b"));
        assert_eq!(leaf(&result, "c"), leaf(&oth, "c"));
        let plain = open(&result);
        assert_eq!(
            crate::file::emit_plain(&plain.documents, Format::Yaml, &EmitOptions::default())
                .unwrap(),
            b"a: cur\nb: 2\nc:\n    d: x\n    e: oth\n"
        );
        // OTHER rotated the data key, CURRENT changed a value: OTHER's keys win.
        let mut rotated = open(&base_enc);
        let groups = crate::edit::specs_of(&rotated.metadata.key_groups);
        rotated.rotate(&groups, 0).unwrap();
        let rotated = rotated.encrypt().unwrap();
        let result = merge_files(Some(open(&base_enc)), open(&cur), open(&rotated)).unwrap();
        assert_eq!(
            result.data_key.as_bytes(),
            open(&rotated).data_key.as_bytes()
        );
        // Both rotated: conflict.
        let mut rotated2 = open(&cur);
        rotated2.rotate(&groups, 0).unwrap();
        let err = merge_files(Some(open(&base_enc)), rotated2, open(&rotated)).unwrap_err();
        assert_eq!(err.paths.len(), 1);
        assert!(err.paths[0].starts_with("sops keys"));
    }
}
