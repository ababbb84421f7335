//! age's post-quantum hybrid recipient type (Go age 1.3, sops 3.12): `age1pq1...` recipients,
//! `AGE-SECRET-KEY-PQ-1...` identities and the `mlkem768x25519` stanza.
//!
//! Per the age specification (C2SP age, "mlkem768x25519 recipient stanza"), the file key is
//! sealed with HPKE base mode (RFC 9180) using the MLKEM768-X25519 KEM (X-Wing, KEM id 0x647a
//! in draft-ietf-hpke-pq), HKDF-SHA256 and ChaCha20Poly1305, `info` =
//! `age-encryption.org/mlkem768x25519`, empty `aad`. The stanza is
//! `-> mlkem768x25519 <base64 enc>` with the HPKE ciphertext as body. The identity is the
//! 32-byte X-Wing seed; the recipient the 1216-byte X-Wing public key (ML-KEM-768
//! encapsulation key followed by the X25519 public key), both Bech32 without the length limit.

use std::collections::HashSet;
use std::fmt;

use age::secrecy::{ExposeSecret, SecretString};
use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use age_core::primitives::{bech32_decode, bech32_encode, hpke_open, hpke_seal};
use base64::{prelude::BASE64_STANDARD_NO_PAD, Engine};
use hpke::generic_array::typenum::{self, Unsigned, U32};
use hpke::{kem::SharedSecret, Deserializable, HpkeError, Serializable};
use ml_kem::kem::{Decapsulate, Encapsulate};
use ml_kem::{Ciphertext, EncodedSizeUser, KemCore, MlKem768};
use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};
use sha3::digest::{ExtendableOutput, FixedOutput, OutputSizeUser, Update, XofReader};
use sha3::{Sha3_256, Shake256};
use zeroize::{Zeroize, Zeroizing};

/// The stanza type.
const STANZA_TAG: &str = "mlkem768x25519";
/// The HPKE `info` string.
const INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// The age label that keeps post-quantum recipients from being mixed with classic ones.
const LABEL: &str = "postquantum";
/// X-Wing's combiner label, `\.//^\`.
const XWING_LABEL: &[u8] = b"\\.//^\\";
const RECIPIENT_HRP: bech32::Hrp = bech32::Hrp::parse_unchecked("age1pq");
const IDENTITY_HRP: bech32::Hrp = bech32::Hrp::parse_unchecked("AGE-SECRET-KEY-PQ-");

type KemNct = <MlKem768 as KemCore>::CiphertextSize;
type KemNek = <<MlKem768 as KemCore>::EncapsulationKey as EncodedSizeUser>::EncodedSize;

/// An X-Wing private key: the seed and what it expands to.
#[derive(Clone)]
pub(super) struct PrivateKey {
    seed: Zeroizing<[u8; 32]>,
    dk_pq: <MlKem768 as KemCore>::DecapsulationKey,
    dk_t: x25519_dalek::StaticSecret,
    ek_t: x25519_dalek::PublicKey,
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.seed == other.seed
    }
}
impl Eq for PrivateKey {}

impl PrivateKey {
    fn from_seed(seed: [u8; 32]) -> PrivateKey {
        let seed = Zeroizing::new(seed);
        // expandDecapsulationKey: SHAKE256(seed, 96) = d || z || sk_X.
        let mut expanded = Zeroizing::new([0u8; 96]);
        Shake256::default()
            .chain(seed.as_slice())
            .finalize_xof()
            .read(expanded.as_mut_slice());
        let mut d = [0u8; 32];
        let mut z = [0u8; 32];
        let mut t = [0u8; 32];
        d.copy_from_slice(&expanded[..32]);
        z.copy_from_slice(&expanded[32..64]);
        t.copy_from_slice(&expanded[64..]);
        let (dk_pq, _) = MlKem768::generate_deterministic(&d.into(), &z.into());
        let dk_t = x25519_dalek::StaticSecret::from(t);
        let ek_t = x25519_dalek::PublicKey::from(&dk_t);
        d.zeroize();
        z.zeroize();
        t.zeroize();
        PrivateKey {
            seed,
            dk_pq,
            dk_t,
            ek_t,
        }
    }
}

impl Deserializable for PrivateKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        let seed: [u8; 32] = encoded
            .try_into()
            .map_err(|_| HpkeError::IncorrectInputLength(32, encoded.len()))?;
        Ok(PrivateKey::from_seed(seed))
    }
}

impl Serializable for PrivateKey {
    type OutputSize = U32;

    fn write_exact(&self, buf: &mut [u8]) {
        buf.copy_from_slice(self.seed.as_slice());
    }
}

/// An X-Wing public key: ML-KEM-768 encapsulation key, then the X25519 public key.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PublicKey {
    ek_pq: <MlKem768 as KemCore>::EncapsulationKey,
    ek_t: x25519_dalek::PublicKey,
}
impl Eq for PublicKey {}

impl Deserializable for PublicKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        let want = Self::OutputSize::to_usize();
        if encoded.len() != want {
            return Err(HpkeError::IncorrectInputLength(want, encoded.len()));
        }
        let (pq, t) = encoded.split_at(KemNek::to_usize());
        let ek_pq = <MlKem768 as KemCore>::EncapsulationKey::from_bytes(
            pq.try_into().map_err(|_| HpkeError::ValidationError)?,
        );
        let t: [u8; 32] = t.try_into().map_err(|_| HpkeError::ValidationError)?;
        Ok(PublicKey {
            ek_pq,
            ek_t: x25519_dalek::PublicKey::from(t),
        })
    }
}

impl Serializable for PublicKey {
    type OutputSize = typenum::Sum<KemNek, U32>;

    fn write_exact(&self, buf: &mut [u8]) {
        let n = KemNek::to_usize();
        buf[..n].copy_from_slice(&self.ek_pq.as_bytes());
        buf[n..].copy_from_slice(self.ek_t.as_bytes());
    }
}

/// The X-Wing ciphertext: ML-KEM-768 ciphertext, then the ephemeral X25519 public key.
#[derive(Clone)]
pub(super) struct EncappedKey {
    ct_pq: Ciphertext<MlKem768>,
    ct_t: [u8; 32],
}

impl Deserializable for EncappedKey {
    fn from_bytes(encoded: &[u8]) -> Result<Self, HpkeError> {
        let want = Self::OutputSize::to_usize();
        if encoded.len() != want {
            return Err(HpkeError::IncorrectInputLength(want, encoded.len()));
        }
        let (pq, t) = encoded.split_at(KemNct::to_usize());
        let ct_pq = <[u8; KemNct::USIZE]>::try_from(pq)
            .map_err(|_| HpkeError::ValidationError)?
            .into();
        let ct_t = t.try_into().map_err(|_| HpkeError::ValidationError)?;
        Ok(EncappedKey { ct_pq, ct_t })
    }
}

impl Serializable for EncappedKey {
    type OutputSize = typenum::Sum<KemNct, U32>;

    fn write_exact(&self, buf: &mut [u8]) {
        let n = KemNct::to_usize();
        buf[..n].copy_from_slice(&self.ct_pq.0);
        buf[n..].copy_from_slice(&self.ct_t);
    }
}

/// The MLKEM768-X25519 (X-Wing) KEM for the `hpke` crate.
pub(super) struct XWing;

/// X-Wing's combiner: SHA3-256(ss_M || ss_X || ct_X || pk_X || label).
fn combine(ss_pq: &[u8], ss_t: &[u8], ct_t: &[u8], ek_t: &[u8]) -> SharedSecret<XWing> {
    let mut h = Sha3_256::default();
    h.update(ss_pq);
    h.update(ss_t);
    h.update(ct_t);
    h.update(ek_t);
    h.update(XWING_LABEL);
    SharedSecret(h.finalize_fixed())
}

impl hpke::Kem for XWing {
    type PublicKey = PublicKey;
    type PrivateKey = PrivateKey;
    type EncappedKey = EncappedKey;
    type NSecret = <Sha3_256 as OutputSizeUser>::OutputSize;
    const KEM_ID: u16 = 0x647a;

    fn sk_to_pk(sk: &PrivateKey) -> PublicKey {
        PublicKey {
            ek_pq: sk.dk_pq.encapsulation_key().clone(),
            ek_t: sk.ek_t,
        }
    }

    fn derive_keypair(ikm: &[u8]) -> (PrivateKey, PublicKey) {
        // Not used by age; derive the seed from the input keying material with SHAKE256.
        let mut seed = [0u8; 32];
        Shake256::default()
            .chain(ikm)
            .finalize_xof()
            .read(&mut seed);
        let sk = PrivateKey::from_seed(seed);
        let pk = Self::sk_to_pk(&sk);
        (sk, pk)
    }

    fn decap(
        sk: &PrivateKey,
        pk_sender_id: Option<&PublicKey>,
        enc: &EncappedKey,
    ) -> Result<SharedSecret<Self>, HpkeError> {
        if pk_sender_id.is_some() {
            return Err(HpkeError::DecapError);
        }
        let ss_pq = sk
            .dk_pq
            .decapsulate(&enc.ct_pq)
            .map_err(|()| HpkeError::DecapError)?;
        let ss_t = sk
            .dk_t
            .diffie_hellman(&x25519_dalek::PublicKey::from(enc.ct_t));
        Ok(combine(
            &ss_pq,
            ss_t.as_bytes(),
            &enc.ct_t,
            sk.ek_t.as_bytes(),
        ))
    }

    fn encap<R: CryptoRng + RngCore>(
        pk: &PublicKey,
        sender_id_keypair: Option<(&PrivateKey, &PublicKey)>,
        rng: &mut R,
    ) -> Result<(SharedSecret<Self>, EncappedKey), HpkeError> {
        if sender_id_keypair.is_some() {
            return Err(HpkeError::EncapError);
        }
        let (ct_pq, ss_pq) = pk
            .ek_pq
            .encapsulate(rng)
            .map_err(|()| HpkeError::EncapError)?;
        let ek = x25519_dalek::EphemeralSecret::random_from_rng(&mut *rng);
        let ct_t = x25519_dalek::PublicKey::from(&ek).to_bytes();
        let ss_t = ek.diffie_hellman(&pk.ek_t);
        Ok((
            combine(&ss_pq, ss_t.as_bytes(), &ct_t, pk.ek_t.as_bytes()),
            EncappedKey { ct_pq, ct_t },
        ))
    }
}

/// An `age1pq1...` hybrid post-quantum recipient.
#[derive(Clone)]
pub struct HybridRecipient(PublicKey);

impl std::str::FromStr for HybridRecipient {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        bech32_decode(
            s,
            |_| "invalid Bech32 encoding",
            |hrp| {
                (hrp == RECIPIENT_HRP && s.starts_with("age1pq1"))
                    .then_some(())
                    .ok_or("not an age1pq1 recipient")
            },
            |_, bytes| {
                PublicKey::from_bytes(&bytes.collect::<Vec<_>>())
                    .map(HybridRecipient)
                    .map_err(|_| "invalid post-quantum recipient")
            },
        )
    }
}

impl fmt::Display for HybridRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bech32_encode(RECIPIENT_HRP, &self.0.to_bytes()))
    }
}

impl age::Recipient for HybridRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let (enc, ct) = hpke_seal::<XWing, _>(&self.0, INFO, file_key.expose_secret(), &mut OsRng);
        Ok((
            vec![Stanza {
                tag: STANZA_TAG.to_owned(),
                args: vec![BASE64_STANDARD_NO_PAD.encode(enc.to_bytes())],
                body: ct,
            }],
            HashSet::from([LABEL.to_owned()]),
        ))
    }
}

/// An `AGE-SECRET-KEY-PQ-1...` hybrid post-quantum identity.
#[derive(Clone)]
pub struct HybridIdentity(PrivateKey);

impl HybridIdentity {
    /// Generates a new random identity.
    pub fn generate() -> HybridIdentity {
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        HybridIdentity(PrivateKey::from_seed(seed))
    }

    /// The identity as `AGE-SECRET-KEY-PQ-1...` text.
    pub fn to_string(&self) -> SecretString {
        let mut s = bech32_encode(IDENTITY_HRP, self.0.seed.as_slice());
        let upper = s.to_uppercase();
        s.zeroize();
        SecretString::from(upper)
    }

    /// The matching `age1pq1...` recipient.
    pub fn to_public(&self) -> HybridRecipient {
        HybridRecipient(<XWing as hpke::Kem>::sk_to_pk(&self.0))
    }
}

/// Generates a new hybrid key pair: the `AGE-SECRET-KEY-PQ-1...` identity text and its
/// `age1pq1...` recipient (what `age-keygen -pq` prints).
pub fn generate_hybrid_key() -> (Zeroizing<String>, String) {
    let id = HybridIdentity::generate();
    let text = Zeroizing::new(id.to_string().expose_secret().to_string());
    (text, id.to_public().to_string())
}

impl std::str::FromStr for HybridIdentity {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.starts_with("AGE-SECRET-KEY-PQ-1") {
            return Err("not an AGE-SECRET-KEY-PQ-1 identity");
        }
        bech32_decode(
            s,
            |_| "invalid Bech32 encoding",
            |hrp| (hrp == IDENTITY_HRP).then_some(()).ok_or("incorrect HRP"),
            |_, bytes| {
                let bytes = Zeroizing::new(bytes.collect::<Vec<_>>());
                let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| "invalid key")?;
                Ok(HybridIdentity(PrivateKey::from_seed(seed)))
            },
        )
    }
}

impl age::Identity for HybridIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        if stanza.args.len() != 1 {
            return Some(Err(age::DecryptError::InvalidHeader));
        }
        let enc = match BASE64_STANDARD_NO_PAD.decode(&stanza.args[0]) {
            Ok(enc) if enc.len() == EncappedKey::size() => enc,
            _ => return Some(Err(age::DecryptError::InvalidHeader)),
        };
        if stanza.body.len() != FILE_KEY_BYTES + 16 {
            return Some(Err(age::DecryptError::InvalidHeader));
        }
        let enc = match EncappedKey::from_bytes(&enc) {
            Ok(enc) => enc,
            Err(_) => return Some(Err(age::DecryptError::InvalidHeader)),
        };
        // A stanza for another recipient fails to open: not ours.
        let pt = Zeroizing::new(hpke_open::<XWing>(&enc, &self.0, INFO, &stanza.body).ok()?);
        FileKey::try_init_with_mut(|key| {
            key.copy_from_slice(&pt);
            Ok::<(), ()>(())
        })
        .ok()
        .map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn identity_and_recipient_round_trip() {
        let id = HybridIdentity::generate();
        let text = id.to_string();
        assert!(text.expose_secret().starts_with("AGE-SECRET-KEY-PQ-1"));
        let again = HybridIdentity::from_str(text.expose_secret()).unwrap();
        let r = id.to_public().to_string();
        assert!(r.starts_with("age1pq1"));
        assert_eq!(again.to_public().to_string(), r);
        assert_eq!(HybridRecipient::from_str(&r).unwrap().to_string(), r);
    }

    #[test]
    fn wraps_and_unwraps() {
        let id = HybridIdentity::generate();
        let r = id.to_public();
        let key = FileKey::new(Box::new([7u8; FILE_KEY_BYTES]));
        let (stanzas, labels) = age::Recipient::wrap_file_key(&r, &key).unwrap();
        assert!(labels.contains("postquantum"));
        assert_eq!(stanzas[0].tag, "mlkem768x25519");
        assert_eq!(stanzas[0].body.len(), 32);
        let got = age::Identity::unwrap_stanza(&id, &stanzas[0])
            .unwrap()
            .unwrap();
        assert_eq!(got.expose_secret(), &[7u8; FILE_KEY_BYTES]);
        // Another identity does not match.
        let other = HybridIdentity::generate();
        assert!(age::Identity::unwrap_stanza(&other, &stanzas[0]).is_none());
    }
}
