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

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::cipher::IV_LEN;

/// IVs of the values of a decrypted file, by digest of (path, type, plaintext).
#[derive(Default, Clone)]
pub struct IvStash {
    ivs: HashMap<[u8; 32], [u8; IV_LEN]>,
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
    pub fn insert(&mut self, aad: &str, type_tag: &str, plaintext: &[u8], iv: [u8; IV_LEN]) {
        self.ivs.insert(Self::digest(aad, type_tag, plaintext), iv);
    }

    /// The IV to re-use for `plaintext` of type `type_tag` at path `aad`, if it is unchanged.
    pub fn get(&self, aad: &str, type_tag: &str, plaintext: &[u8]) -> Option<[u8; IV_LEN]> {
        if self.ivs.is_empty() {
            return None;
        }
        self.ivs
            .get(&Self::digest(aad, type_tag, plaintext))
            .copied()
    }

    /// How many values are recorded.
    pub fn len(&self) -> usize {
        self.ivs.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.ivs.is_empty()
    }

    /// Forgets every IV (zeroizing them), so the next encryption draws fresh ones.
    pub fn clear(&mut self) {
        for (mut k, mut v) in self.ivs.drain() {
            k.zeroize();
            v.zeroize();
        }
    }
}

impl Drop for IvStash {
    fn drop(&mut self) {
        self.clear();
    }
}

impl std::fmt::Debug for IvStash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IvStash({} values)", self.ivs.len())
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
        assert_eq!(s.get("a:", "str", b"x"), Some([1; 32]));
        assert_eq!(s.get("b:", "str", b"x"), None);
        assert_eq!(s.get("a:", "int", b"x"), None);
        assert_eq!(s.get("a:", "str", b"y"), None);
        s.clear();
        assert!(s.is_empty());
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
