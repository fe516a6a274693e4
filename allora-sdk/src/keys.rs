//! Worker keys: BIP39 mnemonics, BIP32 derivation, secp256k1 signing and
//! `allo` addresses.
//!
//! ```
//! use allora_sdk::keys::{Mnemonic, WorkerKey};
//!
//! let phrase = "abandon abandon abandon abandon abandon abandon \
//!               abandon abandon abandon abandon abandon about";
//! let mnemonic: Mnemonic = phrase.parse()?;
//! let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
//! assert_eq!(key.address().as_str(), "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv");
//! // Secrets never show up in Debug output.
//! assert!(!format!("{key:?}").contains("c4a48e"));
//! # Ok::<(), allora_sdk::keys::KeyError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use cosmrs::bip32::{DerivationPath, XPrv};
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::signature::Signer;
use k256::ecdsa::{Signature as EcdsaSignature, SigningKey, VerifyingKey};
use zeroize::{Zeroize, Zeroizing};

/// Bech32 prefix of Allora account addresses.
pub const ADDRESS_PREFIX: &str = "allo";
/// The Cosmos HD path the official SDKs derive worker keys on.
pub const DEFAULT_HD_PATH: &str = "m/44'/118'/0'/0/0";

/// Why a key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The mnemonic is not a valid BIP39 English phrase. The phrase itself is
    /// never included.
    #[error("invalid mnemonic: {0}; expected 12, 15, 18, 21 or 24 English BIP39 words")]
    InvalidMnemonic(String),
    /// A mnemonic of an unsupported length was asked for.
    #[error("unsupported mnemonic length {0}: use 12 or 24 words")]
    UnsupportedWordCount(usize),
    /// The derivation path is malformed.
    #[error("invalid HD derivation path {path:?}: expected a form like m/44'/118'/0'/0/0")]
    InvalidPath {
        /// The path as given.
        path: String,
    },
    /// BIP32 derivation failed (a derived key was invalid; astronomically rare).
    #[error("key derivation failed: {0}")]
    Derivation(String),
    /// The private key is not 32 bytes of hex, or not a valid secp256k1 scalar.
    #[error("invalid private key: {0}")]
    InvalidPrivateKey(&'static str),
    /// A public key is not a valid compressed secp256k1 point.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// A bech32 address could not be parsed or has the wrong prefix.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A signature is malformed or does not verify.
    #[error("invalid signature: {0}")]
    InvalidSignature(&'static str),
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key file can be read by other users; it must be mode 0600 (or stricter).
    #[error(
        "key file {path} is readable by group or others (mode {mode:o}); \
         run `chmod 600 {path}` and try again"
    )]
    InsecurePermissions {
        /// The key file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file already exists and would be overwritten.
    #[error("key file {path} already exists; refusing to overwrite a key")]
    AlreadyExists {
        /// The key file.
        path: std::path::PathBuf,
    },
}

/// A BIP39 mnemonic phrase. The words are zeroized on drop and never shown by
/// `Debug` or `Display`.
pub struct Mnemonic {
    inner: bip39::Mnemonic,
}

impl Mnemonic {
    /// Generates a new random mnemonic of 12 or 24 words from the operating
    /// system's random source.
    pub fn generate(word_count: usize) -> Result<Self, KeyError> {
        let entropy_len = match word_count {
            12 => 16,
            24 => 32,
            n => return Err(KeyError::UnsupportedWordCount(n)),
        };
        let mut entropy = Zeroizing::new([0u8; 32]);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut entropy[..entropy_len]);
        let inner = bip39::Mnemonic::from_entropy(&entropy[..entropy_len])
            .map_err(|e| KeyError::InvalidMnemonic(e.to_string()))?;
        Ok(Mnemonic { inner })
    }

    /// The phrase: the one secret that restores the key. Show it only to its owner.
    pub fn phrase(&self) -> Zeroizing<String> {
        Zeroizing::new(self.inner.to_string())
    }

    /// Number of words.
    pub fn word_count(&self) -> usize {
        self.inner.word_count()
    }

    /// The 64-byte BIP39 seed for a passphrase ("" for none).
    fn seed(&self, passphrase: &str) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.inner.to_seed_normalized(passphrase))
    }
}

impl FromStr for Mnemonic {
    type Err = KeyError;

    /// Parses an English phrase; extra white space and letter case are ignored.
    fn from_str(phrase: &str) -> Result<Self, Self::Err> {
        let mut normalized: Zeroizing<String> = Zeroizing::new(
            phrase
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase(),
        );
        let parsed = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalized)
            .map_err(|e| KeyError::InvalidMnemonic(describe_bip39_error(&e)));
        normalized.zeroize();
        Ok(Mnemonic { inner: parsed? })
    }
}

/// Describes a BIP39 error without echoing any word of the phrase.
fn describe_bip39_error(e: &bip39::Error) -> String {
    match e {
        bip39::Error::BadWordCount(n) => format!("{n} words"),
        bip39::Error::UnknownWord(i) => format!("word #{} is not in the English list", i + 1),
        bip39::Error::InvalidChecksum => "checksum does not match".to_owned(),
        bip39::Error::BadEntropyBitCount(n) => format!("bad entropy length ({n} bits)"),
        bip39::Error::AmbiguousLanguages(_) => "ambiguous language".to_owned(),
    }
}

impl Drop for Mnemonic {
    fn drop(&mut self) {
        // bip39's `zeroize` feature clears the word indices on drop; this also
        // covers versions where the type only implements `Zeroize`.
        self.inner.zeroize();
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mnemonic({} words, redacted)", self.word_count())
    }
}

/// A bech32 `allo…` account address.
///
/// Ordering is that of the address text, which is how forecast elements are
/// sorted on the wire.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Address(cosmrs::AccountId);

impl std::hash::Hash for Address {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Address {
    /// The address of a public key: bech32("allo", ripemd160(sha256(compressed key))).
    pub fn from_public_key(key: &PublicKey) -> Result<Self, KeyError> {
        key.to_cosmrs()
            .account_id(ADDRESS_PREFIX)
            .map(Address)
            .map_err(|e| KeyError::InvalidPublicKey(e.to_string()))
    }

    /// The address text.
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// The 20 address bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// The cosmrs account id.
    pub fn account_id(&self) -> &cosmrs::AccountId {
        &self.0
    }
}

impl FromStr for Address {
    type Err = KeyError;

    /// Parses and checks a bech32 address with the `allo` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let id: cosmrs::AccountId = s.parse().map_err(|e| KeyError::InvalidAddress {
            address: s.to_owned(),
            reason: format!("{e}"),
        })?;
        if id.prefix() != ADDRESS_PREFIX {
            return Err(KeyError::InvalidAddress {
                address: s.to_owned(),
                reason: format!("prefix is {:?}, expected {ADDRESS_PREFIX:?}", id.prefix()),
            });
        }
        Ok(Address(id))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.as_str())
    }
}

impl AsRef<str> for Address {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A secp256k1 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses a 33-byte compressed (or 65-byte uncompressed) SEC1 key.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        VerifyingKey::from_sec1_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| KeyError::InvalidPublicKey("not a valid secp256k1 point".to_owned()))
    }

    /// Parses hex of a compressed key, as found in a worker bundle's `pubkey`.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let bytes =
            hex::decode(text).map_err(|e| KeyError::InvalidPublicKey(format!("not hex: {e}")))?;
        Self::from_sec1_bytes(&bytes)
    }

    /// The 33-byte compressed SEC1 encoding.
    pub fn to_compressed(&self) -> [u8; 33] {
        let point = self.0.to_encoded_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// Lower-case hex of the compressed key (the worker bundle's `pubkey` field).
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_compressed())
    }

    /// The account address of this key.
    pub fn address(&self) -> Result<Address, KeyError> {
        Address::from_public_key(self)
    }

    /// Verifies a 64-byte `r || s` signature over `sha256(message)`, requiring
    /// low-S as the chain does.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        use sha2::{Digest, Sha256};
        self.verify_prehash(&Sha256::digest(message).into(), signature)
    }

    /// Verifies a 64-byte `r || s` signature over a SHA-256 digest that was
    /// computed elsewhere (`digest = sha256(message)`), requiring low-S as the
    /// chain does. Equivalent to [`PublicKey::verify`] on the message.
    pub fn verify_prehash(&self, digest: &[u8; 32], signature: &[u8]) -> Result<(), KeyError> {
        let sig = EcdsaSignature::from_slice(signature)
            .map_err(|_| KeyError::InvalidSignature("not a 64-byte r||s signature"))?;
        if sig.normalize_s().is_some() {
            return Err(KeyError::InvalidSignature("high-S signature"));
        }
        self.0
            .verify_prehash(digest, &sig)
            .map_err(|_| KeyError::InvalidSignature("does not verify against the public key"))
    }

    pub(crate) fn to_cosmrs(self) -> cosmrs::crypto::PublicKey {
        cosmrs::crypto::PublicKey::from(self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// A worker's signing key, with its public key and address.
///
/// The private scalar is zeroized on drop and never printed.
#[derive(Clone)]
pub struct WorkerKey {
    signing: SigningKey,
    public: PublicKey,
    address: Address,
}

impl WorkerKey {
    /// Derives the key on the default path `m/44'/118'/0'/0/0`.
    pub fn from_mnemonic(mnemonic: &Mnemonic, passphrase: &str) -> Result<Self, KeyError> {
        Self::from_mnemonic_at(mnemonic, passphrase, DEFAULT_HD_PATH)
    }

    /// Derives the key on a given BIP32 path.
    pub fn from_mnemonic_at(
        mnemonic: &Mnemonic,
        passphrase: &str,
        path: &str,
    ) -> Result<Self, KeyError> {
        let path: DerivationPath = path.parse().map_err(|_| KeyError::InvalidPath {
            path: path.to_owned(),
        })?;
        let seed = mnemonic.seed(passphrase);
        let xprv = XPrv::derive_from_path(&seed[..], &path)
            .map_err(|e| KeyError::Derivation(e.to_string()))?;
        Self::from_signing_key(xprv.private_key().clone())
    }

    /// Imports a raw 32-byte private key given as hex (with or without `0x`).
    pub fn from_private_key_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text, &mut bytes[..])
            .map_err(|_| KeyError::InvalidPrivateKey("expected 64 hex characters"))?;
        Self::from_private_key_bytes(&bytes[..])
    }

    /// Imports a raw 32-byte private key.
    pub fn from_private_key_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let signing = SigningKey::from_slice(bytes)
            .map_err(|_| KeyError::InvalidPrivateKey("not a valid secp256k1 scalar"))?;
        Self::from_signing_key(signing)
    }

    fn from_signing_key(signing: SigningKey) -> Result<Self, KeyError> {
        let public = PublicKey(*signing.verifying_key());
        let address = public.address()?;
        Ok(WorkerKey {
            signing,
            public,
            address,
        })
    }

    /// The account address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs `sha256(message)` with an RFC 6979 deterministic nonce and returns
    /// the low-S, 64-byte `r || s` signature the chain expects.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let sig: EcdsaSignature = self.signing.sign(message);
        // k256 already produces low-S; normalising again is free insurance.
        let sig = sig.normalize_s().unwrap_or(sig);
        sig.to_bytes().into()
    }

    /// Signs a SHA-256 digest computed elsewhere (`digest = sha256(message)`)
    /// with an RFC 6979 deterministic nonce: the same low-S `r || s` as
    /// [`WorkerKey::sign`] on the message.
    pub fn sign_prehash(&self, digest: &[u8; 32]) -> Result<[u8; 64], KeyError> {
        let sig: EcdsaSignature = self
            .signing
            .sign_prehash(digest)
            .map_err(|_| KeyError::InvalidSignature("secp256k1 signing failed"))?;
        let sig = sig.normalize_s().unwrap_or(sig);
        Ok(sig.to_bytes().into())
    }

    /// The raw private key bytes. Handle with care: this is the secret.
    pub fn private_key_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes().into())
    }
}

impl fmt::Debug for WorkerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerKey")
            .field("address", &self.address.as_str())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABOUT: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn derives_known_address() {
        let key = WorkerKey::from_mnemonic(&ABOUT.parse().unwrap(), "").unwrap();
        assert_eq!(
            hex::encode(&key.private_key_bytes()[..]),
            "c4a48e2fce1481cd3294b4490f6678090ea98d3d0e5cd984558ab0968741b104"
        );
        assert_eq!(
            key.address().as_str(),
            "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"
        );
    }

    #[test]
    fn passphrase_changes_the_key() {
        let m: Mnemonic = ABOUT.parse().unwrap();
        let a = WorkerKey::from_mnemonic(&m, "").unwrap();
        let b = WorkerKey::from_mnemonic(&m, "TREZOR").unwrap();
        assert_ne!(a.address(), b.address());
    }

    #[test]
    fn mnemonic_parsing_is_forgiving_of_spacing_and_case_only() {
        let messy = format!("  {}  ", ABOUT.to_uppercase().replace(' ', "   "));
        let m: Mnemonic = messy.parse().unwrap();
        assert_eq!(m.phrase().as_str(), ABOUT);
        let bad_checksum = ABOUT.replace("about", "abandon");
        let err = bad_checksum.parse::<Mnemonic>().unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let err = "abandon abandon zzzz".parse::<Mnemonic>().unwrap_err();
        assert!(
            !err.to_string().contains("zzzz"),
            "error must not echo words: {err}"
        );
    }

    #[test]
    fn generated_mnemonics_round_trip() {
        for n in [12, 24] {
            let m = Mnemonic::generate(n).unwrap();
            assert_eq!(m.word_count(), n);
            let again: Mnemonic = m.phrase().parse().unwrap();
            let a = WorkerKey::from_mnemonic(&m, "").unwrap();
            let b = WorkerKey::from_mnemonic(&again, "").unwrap();
            assert_eq!(a.address(), b.address());
        }
        assert!(matches!(
            Mnemonic::generate(13),
            Err(KeyError::UnsupportedWordCount(13))
        ));
        assert_ne!(
            Mnemonic::generate(24).unwrap().phrase(),
            Mnemonic::generate(24).unwrap().phrase()
        );
    }

    #[test]
    fn private_key_import() {
        let key = WorkerKey::from_private_key_hex(
            "0xc4a48e2fce1481cd3294b4490f6678090ea98d3d0e5cd984558ab0968741b104",
        )
        .unwrap();
        assert_eq!(
            key.address().as_str(),
            "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"
        );
        assert!(WorkerKey::from_private_key_hex("abcd").is_err());
        assert!(WorkerKey::from_private_key_hex(&"0".repeat(64)).is_err());
        assert!(WorkerKey::from_private_key_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn signatures_verify_and_are_low_s() {
        let key = WorkerKey::from_mnemonic(&ABOUT.parse().unwrap(), "").unwrap();
        let sig = key.sign(b"hello");
        key.public_key().verify(b"hello", &sig).unwrap();
        assert!(key.public_key().verify(b"hellO", &sig).is_err());
        // The high-S twin of a valid signature is refused.
        let parsed = EcdsaSignature::from_slice(&sig).unwrap();
        let high = EcdsaSignature::from_scalars(parsed.r(), -*parsed.s()).unwrap();
        let err = key
            .public_key()
            .verify(b"hello", &high.to_bytes())
            .unwrap_err();
        assert!(err.to_string().contains("high-S"));
    }

    #[test]
    fn digest_signing_matches_message_signing() {
        use sha2::{Digest, Sha256};
        let key = WorkerKey::from_mnemonic(&ABOUT.parse().unwrap(), "").unwrap();
        for message in [&b""[..], b"hello", &[7u8; 5000]] {
            let digest: [u8; 32] = Sha256::digest(message).into();
            let sig = key.sign_prehash(&digest).unwrap();
            assert_eq!(sig, key.sign(message));
            key.public_key().verify_prehash(&digest, &sig).unwrap();
            let mut other = digest;
            other[0] ^= 1;
            assert!(key.public_key().verify_prehash(&other, &sig).is_err());
        }
        let sig = key.sign(b"hello");
        let parsed = EcdsaSignature::from_slice(&sig).unwrap();
        let high = EcdsaSignature::from_scalars(parsed.r(), -*parsed.s()).unwrap();
        let digest: [u8; 32] = sha2::Sha256::digest(b"hello").into();
        let err = key
            .public_key()
            .verify_prehash(&digest, &high.to_bytes())
            .unwrap_err();
        assert!(err.to_string().contains("high-S"));
    }

    #[test]
    fn addresses_parse_and_check_prefix() {
        let a: Address = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"
            .parse()
            .unwrap();
        assert_eq!(
            hex::encode(a.to_bytes()),
            "28ff5c6d57d8cfd492b6fb42614536ed648e01fd"
        );
        assert!("cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"
            .parse::<Address>()
            .is_err());
        assert!("allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gx"
            .parse::<Address>()
            .is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let m: Mnemonic = ABOUT.parse().unwrap();
        let key = WorkerKey::from_mnemonic(&m, "").unwrap();
        let shown = format!("{m:?} {key:?}");
        assert!(!shown.contains("abandon"));
        assert!(!shown.contains("c4a48e2f"));
        assert!(shown.contains("allo19rl4"));
    }
}
