//! The value cipher: AES-256-GCM with sops's 32-byte IV, and the `ENC[...]` text form.
//!
//! Every encrypted leaf is `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]`. The key is
//! the file's [`DataKey`]; the additional data is the value's path (see `crypt`). This module
//! knows nothing about trees or files.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// AES-256-GCM with the 32-byte nonce sops uses.
type SopsAesGcm = AesGcm<Aes256, U32>;

/// Length of sops's IV in bytes.
pub const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;
const PREFIX: &str = "ENC[AES256_GCM,data:";

/// The file's 256-bit data key. Zeroized on drop; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> DataKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(key.as_mut());
        DataKey(key)
    }

    /// A data key from exactly 32 bytes, or `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(array)))
    }

    /// The raw key bytes (to wrap them for a master key).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The AES-GCM instance for this key, with its key schedule computed once.
    pub fn value_cipher(&self) -> ValueCipher {
        ValueCipher {
            aead: SopsAesGcm::new(self.0.as_ref().into()),
        }
    }
}

/// AES-256-GCM with sops's 32-byte nonce, keyed once for a file's values. Its key schedule is
/// zeroized on drop.
pub struct ValueCipher {
    aead: SopsAesGcm,
}

impl std::fmt::Debug for ValueCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueCipher(<redacted>)")
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Why a value could not be decrypted. Messages never contain plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// The text is not of the `ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]` form.
    #[error("value is not in sops' ENC[AES256_GCM,...] format")]
    NotEncrypted,
    /// A base64 field does not decode.
    #[error("error base64-decoding {0}")]
    BadBase64(&'static str),
    /// The IV or tag has the wrong length.
    #[error("{0} has the wrong length")]
    BadLength(&'static str),
    /// Authentication failed: wrong key, wrong path (AAD), or tampered data.
    #[error("could not decrypt with AES_GCM: message authentication failed")]
    Authentication,
}

/// The parts of an `ENC[...]` string, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedValue {
    /// Ciphertext without the tag.
    pub data: Vec<u8>,
    /// The IV (32 bytes in files sops writes).
    pub iv: Vec<u8>,
    /// The GCM tag.
    pub tag: Vec<u8>,
    /// The `type:` tag (`str`, `int`, `float`, `bool`, `time`, `bytes`, `comment`).
    pub type_tag: String,
}

impl EncryptedValue {
    /// Parses the `ENC[...]` text form. Like sops, anything after the closing `]` is ignored.
    pub fn parse(text: &str) -> Result<EncryptedValue, CipherError> {
        Self::decode(Self::split(text)?)
    }

    /// The four fields of the text form, still in base64: data, iv, tag and type.
    fn split(text: &str) -> Result<[&str; 4], CipherError> {
        let rest = text.strip_prefix(PREFIX).ok_or(CipherError::NotEncrypted)?;
        let fields = match Self::split_common(rest) {
            Some(fields) => fields,
            None => {
                let body = &rest[..rest.rfind(']').ok_or(CipherError::NotEncrypted)?];
                let (body, type_tag) = body
                    .rsplit_once(",type:")
                    .ok_or(CipherError::NotEncrypted)?;
                let (body, tag) = body.rsplit_once(",tag:").ok_or(CipherError::NotEncrypted)?;
                let (data, iv) = body.rsplit_once(",iv:").ok_or(CipherError::NotEncrypted)?;
                [data, iv, tag, type_tag]
            }
        };
        if fields.iter().any(|f| f.is_empty()) {
            return Err(CipherError::NotEncrypted);
        }
        Ok(fields)
    }

    /// The usual layout after the prefix, `D,iv:I,tag:T,type:Y]` with no commas inside the fields, split
    /// by a single scan; anything unusual goes to the general (regex-equivalent) path.
    fn split_common(rest: &str) -> Option<[&str; 4]> {
        let mut parts = rest.splitn(4, ',');
        let data = parts.next()?;
        let iv = parts.next()?.strip_prefix("iv:")?;
        let tag = parts.next()?.strip_prefix("tag:")?;
        let last = parts.next()?.strip_prefix("type:")?;
        let end = last.find(']')?;
        // A second `]` means the greedy match of the general path could differ.
        if last[end + 1..].contains(']') || last[..end].contains(',') {
            return None;
        }
        Some([data, iv, tag, &last[..end]])
    }

    fn decode([data, iv, tag, type_tag]: [&str; 4]) -> Result<EncryptedValue, CipherError> {
        let decode =
            |field: &str, name| B64.decode(field).map_err(|_| CipherError::BadBase64(name));
        Ok(EncryptedValue {
            data: decode(data, "data")?,
            iv: decode(iv, "iv")?,
            tag: decode(tag, "tag")?,
            type_tag: type_tag.to_string(),
        })
    }

    /// True if `text` looks like an encrypted value (starts with `ENC[AES256_GCM,`).
    pub fn is_encrypted(text: &str) -> bool {
        text.starts_with(PREFIX)
    }
}

/// Encrypts `plaintext` with `key` and `aad`, tagging it `type_tag`. A given `iv` is reused
/// (to keep unchanged values' ciphertext identical on edit); otherwise a random one is drawn.
pub fn encrypt(
    key: &DataKey,
    plaintext: &[u8],
    aad: &[u8],
    type_tag: &str,
    iv: Option<&[u8; IV_LEN]>,
) -> String {
    key.value_cipher().encrypt(plaintext, aad, type_tag, iv)
}

/// Decrypts a parsed value with `key` and `aad`, returning the plaintext bytes.
pub fn decrypt(
    key: &DataKey,
    value: &EncryptedValue,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CipherError> {
    key.value_cipher().decrypt(value, aad)
}

impl ValueCipher {
    /// Encrypts `plaintext` with `aad`, tagging it `type_tag`. A given `iv` is reused
    /// (to keep unchanged values' ciphertext identical on edit); otherwise a random one is drawn.
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        aad: &[u8],
        type_tag: &str,
        iv: Option<&[u8; IV_LEN]>,
    ) -> String {
        let iv = match iv {
            Some(iv) => *iv,
            None => {
                let mut fresh = [0u8; IV_LEN];
                rand::thread_rng().fill_bytes(&mut fresh);
                fresh
            }
        };
        let mut buffer = plaintext.to_vec();
        let tag = self
            .aead
            .encrypt_in_place_detached(Nonce::from_slice(&iv), aad, &mut buffer)
            .expect("AES-GCM encryption cannot fail for in-memory buffers of this size");
        let mut out = String::with_capacity(PREFIX.len() + buffer.len() * 4 / 3 + 120);
        out.push_str(PREFIX);
        B64.encode_string(&buffer, &mut out);
        out.push_str(",iv:");
        B64.encode_string(iv, &mut out);
        out.push_str(",tag:");
        B64.encode_string(tag, &mut out);
        out.push_str(",type:");
        out.push_str(type_tag);
        out.push(']');
        buffer.zeroize();
        out
    }

    /// Parses and decrypts the `ENC[...]` text form in one step, with one allocation (the
    /// plaintext). Returns the plaintext and the `type:` tag. Same checks and errors as
    /// [`EncryptedValue::parse`] followed by [`ValueCipher::decrypt`].
    pub fn decrypt_text<'t>(
        &self,
        text: &'t str,
        aad: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, &'t str), CipherError> {
        let [data, iv, tag, type_tag] = EncryptedValue::split(text)?;
        let mut buffer = Zeroizing::new(
            B64.decode(data)
                .map_err(|_| CipherError::BadBase64("data"))?,
        );
        let iv: Option<[u8; IV_LEN]> = decode_exact(iv, "iv")?;
        let tag: Option<[u8; TAG_LEN]> = decode_exact(tag, "tag")?;
        let iv = iv.ok_or(CipherError::BadLength("iv"))?;
        let tag = tag.ok_or(CipherError::BadLength("tag"))?;
        self.aead
            .decrypt_in_place_detached(
                Nonce::from_slice(&iv),
                aad,
                &mut buffer,
                Tag::from_slice(&tag),
            )
            .map_err(|_| CipherError::Authentication)?;
        Ok((buffer, type_tag))
    }

    /// Decrypts a parsed value with `aad`, returning the plaintext bytes.
    pub fn decrypt(
        &self,
        value: &EncryptedValue,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CipherError> {
        if value.iv.len() != IV_LEN {
            return Err(CipherError::BadLength("iv"));
        }
        if value.tag.len() != TAG_LEN {
            return Err(CipherError::BadLength("tag"));
        }
        let mut buffer = Zeroizing::new(value.data.clone());
        self.aead
            .decrypt_in_place_detached(
                Nonce::from_slice(&value.iv),
                aad,
                &mut buffer,
                Tag::from_slice(&value.tag),
            )
            .map_err(|_| CipherError::Authentication)?;
        Ok(buffer)
    }
}

/// Decodes a base64 field that should hold exactly `N` bytes: `None` when it decodes to
/// another length, an error when it is not base64.
fn decode_exact<const N: usize>(
    field: &str,
    name: &'static str,
) -> Result<Option<[u8; N]>, CipherError> {
    let bad = |_| CipherError::BadBase64(name);
    // 84 base64 characters decode to at most 63 bytes.
    if field.len() <= 84 {
        let mut buf = [0u8; 64];
        let n = B64.decode_slice(field, &mut buf).map_err(|e| match e {
            base64::DecodeSliceError::DecodeError(e) => bad(e),
            base64::DecodeSliceError::OutputSliceTooSmall => CipherError::BadBase64(name),
        })?;
        return Ok(buf[..n].try_into().ok());
    }
    let bytes = B64.decode(field).map_err(bad)?;
    Ok(bytes.as_slice().try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = DataKey::generate();
        let text = encrypt(&key, b"hunter2", b"db:password:", "str", None);
        assert!(text.starts_with("ENC[AES256_GCM,data:"));
        assert!(text.ends_with(",type:str]"));
        let parsed = EncryptedValue::parse(&text).unwrap();
        assert_eq!(parsed.iv.len(), 32);
        assert_eq!(
            &decrypt(&key, &parsed, b"db:password:").unwrap()[..],
            b"hunter2"
        );
        assert_eq!(
            decrypt(&key, &parsed, b"db:other:"),
            Err(CipherError::Authentication)
        );
    }

    #[test]
    fn same_iv_gives_same_ciphertext() {
        let key = DataKey::generate();
        let iv = [7u8; 32];
        assert_eq!(
            encrypt(&key, b"x", b"a:", "str", Some(&iv)),
            encrypt(&key, b"x", b"a:", "str", Some(&iv))
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "plain",
            "ENC[AES256_GCM,data:,iv:,tag:,type:str]",
            "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str",
        ] {
            assert!(EncryptedValue::parse(bad).is_err(), "{bad}");
        }
        let key = DataKey::generate();
        let short =
            EncryptedValue::parse("ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]").unwrap();
        assert_eq!(
            decrypt(&key, &short, b""),
            Err(CipherError::BadLength("iv"))
        );
    }

    #[test]
    fn decrypt_text_agrees_with_parse_then_decrypt() {
        let key = DataKey::generate();
        let vc = key.value_cipher();
        let good = vc.encrypt(b"secret", b"a:", "str", None);
        let long = format!("ENC[AES256_GCM,data:AA==,iv:{},tag:AA==,type:str]", "A".repeat(200));
        let inputs = [
            good.clone(),
            good.replace("data:", "data:!"),
            good.replace("iv:", "iv:!"),
            good.replace("tag:", "tag:!"),
            good.replace("type:str", "type:"),
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]".into(),
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:!,type:str]".into(),
            long,
            "ENC[AES256_GCM,data:a,b,iv:AA==,tag:AA==,type:str]".into(),
            "not encrypted".into(),
        ];
        for text in inputs {
            let two_steps = EncryptedValue::parse(&text)
                .and_then(|v| vc.decrypt(&v, b"a:").map(|p| (p, v.type_tag)));
            let one_step = vc
                .decrypt_text(&text, b"a:")
                .map(|(p, t)| (p, t.to_string()));
            assert_eq!(one_step, two_steps, "{text}");
        }
        assert_eq!(vc.decrypt_text(&good, b"b:"), Err(CipherError::Authentication));
    }

    #[test]
    fn decrypts_known_sops_vector() {
        // Produced by the reference sops: value "hello" at path `a:` with this data key.
        let key = DataKey::from_slice(&[1u8; 32]).unwrap();
        let text = encrypt(&key, b"hello", b"a:", "str", Some(&[2u8; 32]));
        let parsed = EncryptedValue::parse(&text).unwrap();
        assert_eq!(&decrypt(&key, &parsed, b"a:").unwrap()[..], b"hello");
    }
}
