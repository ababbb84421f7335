//! Keeping the ciphertext of unchanged values across an edit.
//!
//! sops re-encrypts a value with the IV it had when neither its plaintext nor its path (the
//! additional data) changed, so the ciphertext stays byte-identical and a one-value edit is a
//! one-line diff (plus `lastmodified` and `mac`). Re-using an IV is only safe for the very same
//! plaintext under the same key and additional data (it then yields the very same ciphertext),
//! which is exactly the condition checked here.
//!
//! The stash maps a SHA-256 digest of (additional data, type tag, plaintext) to the IV: the
//! plaintext itself is never kept, and everything kept is zeroized on drop.

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::cipher::IV_LEN;

/// IVs of the values of a decrypted file, by digest of (path, type, plaintext).
///
/// Entries are `digest || iv` in one flat vector (so all of it can be zeroized in place),
/// sorted once filled for binary search.
#[derive(Default, Clone)]
pub struct IvStash {
    entries: Vec<[u8; 32 + IV_LEN]>,
    sorted: bool,
}

impl IvStash {
    /// An empty stash (every value gets a fresh IV).
    pub fn new() -> IvStash {
        IvStash::default()
    }

    fn digest(aad: &str, type_tag: &str, plaintext: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        // Length prefixes keep the three fields apart.
        h.update((aad.len() as u64).to_le_bytes());
        h.update(aad.as_bytes());
        h.update((type_tag.len() as u64).to_le_bytes());
        h.update(type_tag.as_bytes());
        h.update(plaintext);
        h.finalize().into()
    }

    /// Records that `plaintext` of type `type_tag` at path `aad` was encrypted with `iv`.
    /// Call [`IvStash::sort`] after the last insertion for fast lookups.
    pub fn insert(&mut self, aad: &str, type_tag: &str, plaintext: &[u8], iv: [u8; IV_LEN]) {
        let mut entry = [0u8; 32 + IV_LEN];
        entry[..32].copy_from_slice(&Self::digest(aad, type_tag, plaintext));
        entry[32..].copy_from_slice(&iv);
        self.entries.push(entry);
        self.sorted = false;
    }

    /// Makes room for `n` more values up front, so no copy of the entries is left behind in
    /// freed memory when the vector grows.
    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve_exact(n);
    }

    /// Sorts the entries so lookups are binary searches.
    pub fn sort(&mut self) {
        self.entries.sort_unstable_by(|a, b| a[..32].cmp(&b[..32]));
        self.sorted = true;
    }

    /// The IV to re-use for `plaintext` of type `type_tag` at path `aad`, if it is unchanged.
    pub fn get(&self, aad: &str, type_tag: &str, plaintext: &[u8]) -> Option<[u8; IV_LEN]> {
        if self.entries.is_empty() {
            return None;
        }
        let d = Self::digest(aad, type_tag, plaintext);
        let found = if self.sorted {
            self.entries
                .binary_search_by(|e| e[..32].cmp(&d[..]))
                .ok()
                .map(|i| &self.entries[i])
        } else {
            self.entries.iter().find(|e| e[..32] == d[..])
        };
        found.map(|e| {
            let mut iv = [0u8; IV_LEN];
            iv.copy_from_slice(&e[32..]);
            iv
        })
    }

    /// Adds the IVs of `other` for the values this stash does not know yet (what this stash
    /// has wins). Only meaningful when both were filled under the same data key.
    pub fn absorb(&mut self, other: &IvStash) {
        if !self.sorted {
            self.sort();
        }
        // A new vector of the final size, so no copy is left behind in freed memory.
        let mut merged = Vec::with_capacity(self.entries.len() + other.entries.len());
        merged.extend_from_slice(&self.entries);
        for entry in &other.entries {
            let found = self
                .entries
                .binary_search_by(|e| e[..32].cmp(&entry[..32]))
                .is_ok();
            if !found {
                merged.push(*entry);
            }
        }
        self.entries.zeroize();
        self.entries = merged;
        self.sort();
    }

    /// How many values are recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every IV (zeroizing them in place), so the next encryption draws fresh ones.
    pub fn clear(&mut self) {
        self.entries.zeroize();
        self.sorted = false;
    }
}

impl Drop for IvStash {
    fn drop(&mut self) {
        self.clear();
    }
}

impl std::fmt::Debug for IvStash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IvStash({} values)", self.entries.len())
    }
}

/// Extracts the IV of an `ENC[...]` string without decoding the rest.
pub(crate) fn stored_iv(text: &str) -> Option<[u8; IV_LEN]> {
    use base64::Engine;
    let start = text.find(",iv:")? + 4;
    let len = text[start..].find(',')?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&text[start..start + len])
        .ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_by_path_type_and_plaintext() {
        let mut s = IvStash::new();
        s.insert("a:", "str", b"x", [1; 32]);
        s.insert("c:", "str", b"x", [2; 32]);
        assert_eq!(s.get("c:", "str", b"x"), Some([2; 32]));
        s.sort();
        assert_eq!(s.get("c:", "str", b"x"), Some([2; 32]));
        assert_eq!(s.get("a:", "str", b"x"), Some([1; 32]));
        assert_eq!(s.get("b:", "str", b"x"), None);
        assert_eq!(s.get("a:", "int", b"x"), None);
        assert_eq!(s.get("a:", "str", b"y"), None);
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn absorb_keeps_own_ivs_first() {
        let mut a = IvStash::new();
        a.insert("a:", "str", b"x", [1; 32]);
        let mut b = IvStash::new();
        b.insert("a:", "str", b"x", [9; 32]);
        b.insert("b:", "str", b"y", [2; 32]);
        a.absorb(&b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.get("a:", "str", b"x"), Some([1; 32]));
        assert_eq!(a.get("b:", "str", b"y"), Some([2; 32]));
    }

    #[test]
    fn parses_iv_field() {
        let key = crate::cipher::DataKey::generate();
        let text = crate::cipher::encrypt(&key, b"v", b"a:", "str", Some(&[7; 32]));
        assert_eq!(stored_iv(&text), Some([7; 32]));
        assert_eq!(
            stored_iv("ENC[AES256_GCM,data:x,iv:AAAA,tag:x,type:str]"),
            None
        );
    }
}
