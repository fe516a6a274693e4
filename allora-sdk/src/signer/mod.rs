//! Signers: whoever holds the worker's key, in memory or not.
//!
//! A worker makes two kinds of signatures, both ECDSA over secp256k1 on the
//! SHA-256 digest of some bytes:
//!
//! - the **bundle signature** of each payload, over its encoded
//!   `InputInferenceForecastBundle` ([`WorkerPayload::sign_with`]);
//! - the **transaction signature**, over the SIGN_MODE_DIRECT sign doc
//!   ([`UnsignedTx::sign_with`]).
//!
//! [`Signer`] abstracts who makes them. The worker address, the payload's
//! `pubkey` field and the transaction's signer info all derive from the
//! signer's compressed public key ([`Signer::public_key`]). Implementations:
//!
//! - [`WorkerKey`]: the key in this process's memory (deterministic RFC 6979
//!   signatures, byte-identical to the synchronous [`WorkerKey::sign`]);
//! - [`RemoteSigner`]: a signing service of the user's own, over HTTP;
//! - `allora_aws::kms::KmsSigner`: an AWS KMS `ECC_SECG_P256K1` key whose
//!   private half never leaves KMS.
//!
//! A remote signer's signature is only used after [`sign_verified`] has
//! normalised it to low-S (the chain refuses high-S signatures) and verified
//! it against the signer's public key over the digest. A signer that answers
//! late, answers garbage or signs with another key yields a [`SignerError`];
//! nothing half-signed or unverified is ever returned. The in-process
//! [`WorkerKey`] alone skips the check ([`Signer::needs_verification`]): its
//! deterministic low-S signatures are correct by construction, and the check
//! would double the cost of signing on the worker's hot path.
//!
//! A worker keeps its signer as a [`SharedSigner`]: one `Arc<dyn Signer>`
//! for all its tasks, with the public key and the worker address read once.
//!
//! ```
//! use std::time::Duration;
//!
//! use allora_sdk::keys::{Mnemonic, WorkerKey};
//! use allora_sdk::payload::WorkerPayload;
//! use allora_sdk::signer::Signer;
//! use allora_sdk::tx::{Fee, SignerData, UnsignedTx};
//! use tokio::time::Instant;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mnemonic: Mnemonic = "abandon abandon abandon abandon abandon abandon \
//!     abandon abandon abandon abandon abandon about".parse()?;
//! // Any signer will do; a boxed trait object is what a worker keeps.
//! let signer: Box<dyn Signer> = Box::new(WorkerKey::from_mnemonic(&mnemonic, "")?);
//! let deadline = Instant::now() + Duration::from_secs(5);
//!
//! let payload = WorkerPayload::inference(69, 1_234_567, "123.456".parse()?)
//!     .sign_with(&signer, deadline)
//!     .await?;
//! let tx = UnsignedTx::new(vec![payload.to_any()])
//!     .sign_with(
//!         &signer,
//!         &SignerData::new("allora-testnet-1", 12345, 7),
//!         &Fee::uallo(9_720_000, 216_000),
//!         deadline,
//!     )
//!     .await?;
//! // The same bytes as the synchronous path with the same key.
//! assert_eq!(tx.hash(), "C6FC3BB9F0810D7218A128A78757B0A0A29E14F4BC37D7432CD501A168DB60E1");
//! # Ok(())
//! # }
//! ```
//!
//! [`WorkerPayload::sign_with`]: crate::payload::WorkerPayload::sign_with
//! [`UnsignedTx::sign_with`]: crate::tx::UnsignedTx::sign_with

mod local;
pub mod remote;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use k256::ecdsa::Signature as EcdsaSignature;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::keys::{Address, KeyError, PublicKey, WorkerKey};
use crate::payload::PayloadError;
use crate::tx::TxBuildError;

pub use remote::{RemoteSigner, RemoteSignerBuilder};

/// Length of the SHA-256 digest a signer signs, in bytes.
pub const DIGEST_LEN: usize = 32;
/// Length of a signature: `r || s`, 32 big-endian bytes each.
pub const SIGNATURE_LEN: usize = 64;

/// A secp256k1 signature as transactions and payload bundles carry it:
/// `r || s`, 32 big-endian bytes each ([`SIGNATURE_LEN`] bytes in all).
pub type RawSignature = [u8; SIGNATURE_LEN];

/// What a signer is asked to sign: a message and its SHA-256 digest.
///
/// Signers sign [`digest`](Self::digest); the message is there for signers
/// that must be sent the message itself (AWS KMS with `MessageType=RAW`) or
/// that want to inspect it. The digest is always the SHA-256 of the message.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    message: &'a [u8],
    digest: [u8; DIGEST_LEN],
}

impl<'a> SignRequest<'a> {
    /// A request to sign `sha256(message)`.
    pub fn new(message: &'a [u8]) -> Self {
        SignRequest {
            message,
            digest: Sha256::digest(message).into(),
        }
    }

    /// The bytes whose digest is signed (an encoded bundle or sign doc).
    pub fn message(&self) -> &'a [u8] {
        self.message
    }

    /// `sha256(message)`, the value the signature is over.
    pub fn digest(&self) -> &[u8; DIGEST_LEN] {
        &self.digest
    }
}

/// Something that holds a secp256k1 key and signs SHA-256 digests with it.
///
/// Object-safe (`Box<dyn Signer>`, `Arc<dyn Signer>`), `Send + Sync`, so one
/// signer can serve every task of a worker at once.
///
/// Implementations return the raw signature; they need not normalise or
/// check it. Callers go through [`sign_verified`] (or the entry points built
/// on it, [`WorkerPayload::sign_with`] and [`UnsignedTx::sign_with`]), which
/// applies the deadline, normalises to low-S and refuses any signature that
/// does not verify against [`public_key`](Self::public_key).
///
/// A signer of one's own (a hardware module, a signing service with its own
/// client) needs its public key and [`sign_digest`](Self::sign_digest);
/// [`describe`](Self::describe) defaults to its type name:
///
/// ```
/// use std::sync::Arc;
///
/// use allora_sdk::keys::{Mnemonic, PublicKey, WorkerKey};
/// use allora_sdk::signer::{RawSignature, SharedSigner, SignRequest, Signer, SignerError};
///
/// /// Stands in for a hardware module that holds the key.
/// struct Module {
///     key: WorkerKey,
/// }
///
/// #[allora_sdk::async_trait]
/// impl Signer for Module {
///     fn public_key(&self) -> PublicKey {
///         self.key.public_key()
///     }
///
///     async fn sign_digest(&self, request: &SignRequest<'_>) -> Result<RawSignature, SignerError> {
///         self.key.sign_prehash(request.digest()).map_err(|e| SignerError::Unavailable {
///             signer: self.describe(),
///             reason: e.to_string(),
///         })
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mnemonic: Mnemonic = "abandon abandon abandon abandon abandon abandon \
///     abandon abandon abandon abandon abandon about".parse()?;
/// let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
/// let address = key.address().clone();
/// let signer = SharedSigner::new(Arc::new(Module { key }))?;
/// assert_eq!(signer.address(), &address);
/// assert!(signer.describe().ends_with("::Module"));
/// # Ok(())
/// # }
/// ```
///
/// [`WorkerPayload::sign_with`]: crate::payload::WorkerPayload::sign_with
/// [`UnsignedTx::sign_with`]: crate::tx::UnsignedTx::sign_with
#[async_trait::async_trait]
pub trait Signer: Send + Sync {
    /// The signer's public key. The worker address, the payload `pubkey`
    /// field and the transaction signer info derive from it. Remote signers
    /// learn it when they are built, so this never makes a call.
    fn public_key(&self) -> PublicKey;

    /// A short description for logs and errors, free of secrets: `local key
    /// allo1…`, `KMS key alias/worker`, `remote signer https://host/sign`.
    /// By default the signer's type name; a signer that calls a service
    /// should name the service and the key it uses there.
    fn describe(&self) -> String {
        std::any::type_name::<Self>().to_owned()
    }

    /// Signs `request.digest()` and returns the 64-byte `r || s` signature.
    ///
    /// Errors say what went wrong on the signer's side: unreachable
    /// ([`SignerError::Unavailable`]), refused ([`SignerError::Refused`]),
    /// an answer that is no signature ([`SignerError::Malformed`]), a request
    /// it cannot take ([`SignerError::Unsupported`]).
    async fn sign_digest(&self, request: &SignRequest<'_>) -> Result<RawSignature, SignerError>;

    /// Whether [`sign_verified`] must normalise and verify this signer's
    /// signatures before they are used. `true` unless overridden, and every
    /// signer outside this process must leave it so: its answers crossed a
    /// network and came from code the worker does not control.
    ///
    /// Only [`WorkerKey`] answers `false`: it signs in this process with the
    /// deterministic RFC 6979 nonce of `k256`, always low-S, so its
    /// signatures are correct by construction (the golden vectors of the
    /// official SDK are reproduced byte for byte through it). Verifying them
    /// would cost about as much again as signing, which a worker pays twice
    /// per submission (bundle and transaction) on its hot path. A signer that
    /// answers `false` is also trusted to answer at once: it is called
    /// without the deadline's timer, and [`sign_verified`] returns its
    /// signature as it is.
    fn needs_verification(&self) -> bool {
        true
    }
}

/// A signer behind a pointer signs as the signer itself.
macro_rules! forward_signer {
    ($($pointer:ident),*) => {$(
        #[async_trait::async_trait]
        impl<S: Signer + ?Sized> Signer for $pointer<S> {
            fn public_key(&self) -> PublicKey {
                (**self).public_key()
            }

            fn describe(&self) -> String {
                (**self).describe()
            }

            async fn sign_digest(
                &self,
                request: &SignRequest<'_>,
            ) -> Result<RawSignature, SignerError> {
                (**self).sign_digest(request).await
            }

            fn needs_verification(&self) -> bool {
                (**self).needs_verification()
            }
        }
    )*};
}

forward_signer!(Box, Arc);

/// A signer shared by every task of a worker: an `Arc<dyn Signer>` with its
/// public key and worker address read once, when it is made.
///
/// Cheap to clone. A [`WorkerKey`] (or `Arc<WorkerKey>`) converts into one
/// with `into()`; any other signer goes through [`SharedSigner::new`].
#[derive(Clone)]
pub struct SharedSigner {
    signer: Arc<dyn Signer>,
    public_key: PublicKey,
    address: Address,
}

impl SharedSigner {
    /// Reads `signer`'s public key (no call: signers learn it when they are
    /// built) and derives the worker address from it.
    ///
    /// Errors: [`SignerError::PublicKey`] when no address derives from the
    /// public key.
    pub fn new(signer: Arc<dyn Signer>) -> Result<Self, SignerError> {
        let public_key = signer.public_key();
        let address = public_key.address().map_err(|e| SignerError::PublicKey {
            signer: signer.describe(),
            reason: e.to_string(),
        })?;
        Ok(SharedSigner {
            signer,
            public_key,
            address,
        })
    }

    /// The signer.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// The worker address: bech32 `allo` of the public key.
    pub fn address(&self) -> &Address {
        &self.address
    }
}

impl From<WorkerKey> for SharedSigner {
    fn from(key: WorkerKey) -> Self {
        Arc::new(key).into()
    }
}

impl From<Arc<WorkerKey>> for SharedSigner {
    fn from(key: Arc<WorkerKey>) -> Self {
        SharedSigner {
            public_key: key.public_key(),
            address: key.address().clone(),
            signer: key,
        }
    }
}

impl fmt::Debug for SharedSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSigner")
            .field("signer", &self.signer.describe())
            .field("address", &self.address.as_str())
            .finish()
    }
}

#[async_trait::async_trait]
impl Signer for SharedSigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn describe(&self) -> String {
        self.signer.describe()
    }

    async fn sign_digest(&self, request: &SignRequest<'_>) -> Result<RawSignature, SignerError> {
        self.signer.sign_digest(request).await
    }

    fn needs_verification(&self) -> bool {
        self.signer.needs_verification()
    }
}

/// Why a signer gave no usable signature. Every variant names the signer
/// (its [`Signer::describe`] text) and never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The signer did not answer before the deadline. Nothing was signed
    /// for the caller; a late answer is dropped.
    #[error(
        "{signer} did not answer within {waited:?}; check that it is reachable and not \
         overloaded, or allow more time before the deadline"
    )]
    Timeout {
        /// The signer.
        signer: String,
        /// How long the call was waited for (zero when the deadline had
        /// already passed and the signer was not called).
        waited: Duration,
    },
    /// The signer could not be reached, or failed on its side in a way that
    /// may pass (connection refused, DNS, TLS, throttling, server error).
    #[error("{signer} unavailable: {reason}")]
    Unavailable {
        /// The signer.
        signer: String,
        /// What the transport or service reported.
        reason: String,
    },
    /// The signer answered with a refusal: missing permission, unknown or
    /// disabled key, rejected credentials, a request it considers invalid.
    #[error("{signer} refused to sign ({code}): {reason}")]
    Refused {
        /// The signer.
        signer: String,
        /// The service's error code or HTTP status.
        code: String,
        /// Its message and what to check.
        reason: String,
    },
    /// The signer answered something that is not a signature (not JSON, not
    /// hex, not DER, wrong length).
    #[error("{signer} answered something that is not a signature: {reason}")]
    Malformed {
        /// The signer.
        signer: String,
        /// What is wrong with the answer (never the answer itself).
        reason: String,
    },
    /// The signature does not verify against the signer's public key over
    /// the digest: the signer signed with another key, signed other bytes,
    /// or the signature was corrupted. It was discarded.
    #[error(
        "signature from {signer} does not verify against its public key {public_key} \
         ({reason}); check that the signer uses the key with that public key and signs \
         the SHA-256 digest it is sent as is"
    )]
    Unverified {
        /// The signer.
        signer: String,
        /// Hex of the compressed public key the signature was checked against.
        public_key: String,
        /// What failed.
        reason: &'static str,
    },
    /// The signer's public key could not be obtained or is not a usable
    /// secp256k1 key.
    #[error("public key of {signer}: {reason}")]
    PublicKey {
        /// The signer.
        signer: String,
        /// What is wrong, and what to check.
        reason: String,
    },
    /// The signer's configuration is unusable (a malformed URL, a token that
    /// cannot be sent). Nothing was called.
    #[error("{signer} is misconfigured: {reason}")]
    InvalidConfig {
        /// The signer.
        signer: String,
        /// What is wrong, and what to change.
        reason: String,
    },
    /// The signer cannot take this request as configured (for example a
    /// message over the size limit of the configured message type).
    #[error("{signer} cannot sign this request: {reason}")]
    Unsupported {
        /// The signer.
        signer: String,
        /// Why, and what to change.
        reason: String,
    },
}

impl SignerError {
    /// Whether asking again later may succeed: the signer timed out or was
    /// unavailable. Refusals, malformed answers and unverifiable signatures
    /// need someone to fix the signer or its configuration.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SignerError::Timeout { .. } | SignerError::Unavailable { .. }
        )
    }

    /// The signer's description.
    pub fn signer(&self) -> &str {
        match self {
            SignerError::Timeout { signer, .. }
            | SignerError::Unavailable { signer, .. }
            | SignerError::Refused { signer, .. }
            | SignerError::Malformed { signer, .. }
            | SignerError::Unverified { signer, .. }
            | SignerError::PublicKey { signer, .. }
            | SignerError::InvalidConfig { signer, .. }
            | SignerError::Unsupported { signer, .. } => signer,
        }
    }
}

/// Why a payload or transaction could not be signed through a [`Signer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The payload is invalid; no signer was asked.
    #[error("cannot sign payload: {0}")]
    Payload(#[from] PayloadError),
    /// The transaction cannot be built; no signer was asked.
    #[error("cannot sign transaction: {0}")]
    Tx(#[from] TxBuildError),
    /// The signer gave no usable signature.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

impl SignError {
    /// The signer's error, if the signer is what failed.
    pub fn signer_error(&self) -> Option<&SignerError> {
        match self {
            SignError::Signer(e) => Some(e),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (see
    /// [`SignerError::is_retryable`]); invalid payloads and transactions
    /// never will.
    pub fn is_retryable(&self) -> bool {
        self.signer_error().is_some_and(SignerError::is_retryable)
    }
}

/// Signs `sha256(message)` with `signer` by `deadline`, and returns the
/// signature only once it is checked: normalised to low-S, then verified
/// against [`Signer::public_key`] over the digest.
///
/// The one exception is a signer whose [`Signer::needs_verification`] is
/// `false` (the in-process [`WorkerKey`], whose deterministic low-S
/// signatures are correct by construction): its signature is returned as it
/// is, and it is called without a timer.
///
/// Errors: [`SignerError::Timeout`] when the deadline passes first (or had
/// passed: the signer is then not called), [`SignerError::Unverified`] when
/// the signature does not verify, or the signer's own error.
pub async fn sign_verified<S: Signer + ?Sized>(
    signer: &S,
    message: &[u8],
    deadline: Instant,
) -> Result<RawSignature, SignerError> {
    let started = Instant::now();
    if started >= deadline {
        return Err(SignerError::Timeout {
            signer: signer.describe(),
            waited: Duration::ZERO,
        });
    }
    let request = SignRequest::new(message);
    if !signer.needs_verification() {
        return signer.sign_digest(&request).await;
    }
    let signature = match tokio::time::timeout_at(deadline, signer.sign_digest(&request)).await {
        Ok(answer) => answer?,
        Err(_elapsed) => {
            return Err(SignerError::Timeout {
                signer: signer.describe(),
                waited: started.elapsed(),
            })
        }
    };
    checked_signature(signer, request.digest(), &signature)
}

/// The verification step every signature passes: parse `r || s`, normalise
/// to low-S, verify against the signer's public key over `digest`.
pub fn checked_signature<S: Signer + ?Sized>(
    signer: &S,
    digest: &[u8; DIGEST_LEN],
    signature: &RawSignature,
) -> Result<RawSignature, SignerError> {
    let public_key = signer.public_key();
    let unverified = |reason| SignerError::Unverified {
        signer: signer.describe(),
        public_key: public_key.to_hex(),
        reason,
    };
    let parsed = EcdsaSignature::from_slice(signature)
        .map_err(|_| unverified("r or s is zero or not below the curve order"))?;
    let normalised = match parsed.normalize_s() {
        Some(low) => {
            tracing::debug!(signer = %signer.describe(), "normalised a high-S signature to low-S");
            low
        }
        None => parsed,
    };
    let bytes: RawSignature = normalised.to_bytes().into();
    public_key
        .verify_prehash(digest, &bytes)
        .map_err(|e| match e {
            KeyError::InvalidSignature(reason) => unverified(reason),
            _ => unverified("does not verify against the public key"),
        })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::WorkerKey;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers with a fixed transformation of the real signature.
    struct Tampering {
        key: WorkerKey,
        other: WorkerKey,
        mode: Mode,
        calls: AtomicUsize,
    }

    #[derive(Clone, Copy)]
    enum Mode {
        Honest,
        HighS,
        Corrupt,
        OtherKey,
        ZeroR,
        Sleep(Duration),
        Fail,
    }

    #[async_trait::async_trait]
    impl Signer for Tampering {
        fn public_key(&self) -> PublicKey {
            self.key.public_key()
        }

        fn describe(&self) -> String {
            "test signer".to_owned()
        }

        async fn sign_digest(
            &self,
            request: &SignRequest<'_>,
        ) -> Result<RawSignature, SignerError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let good = self.key.sign_prehash(request.digest()).unwrap();
            Ok(match self.mode {
                Mode::Honest => good,
                Mode::HighS => {
                    let sig = EcdsaSignature::from_slice(&good).unwrap();
                    EcdsaSignature::from_scalars(sig.r(), -*sig.s())
                        .unwrap()
                        .to_bytes()
                        .into()
                }
                Mode::Corrupt => {
                    let mut sig = good;
                    sig[40] ^= 0x01;
                    sig
                }
                Mode::OtherKey => self.other.sign_prehash(request.digest()).unwrap(),
                Mode::ZeroR => {
                    let mut sig = good;
                    sig[..32].fill(0);
                    sig
                }
                Mode::Sleep(d) => {
                    tokio::time::sleep(d).await;
                    good
                }
                Mode::Fail => {
                    return Err(SignerError::Unavailable {
                        signer: self.describe(),
                        reason: "connection refused".to_owned(),
                    })
                }
            })
        }
    }

    fn signer(mode: Mode) -> Tampering {
        Tampering {
            key: WorkerKey::from_private_key_bytes(&[3; 32]).unwrap(),
            other: WorkerKey::from_private_key_bytes(&[4; 32]).unwrap(),
            mode,
            calls: AtomicUsize::new(0),
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn honest_and_high_s_signatures_come_out_low_s_and_verified() {
        let want = signer(Mode::Honest).key.sign(b"bundle");
        for mode in [Mode::Honest, Mode::HighS] {
            let s = signer(mode);
            let sig = sign_verified(&s, b"bundle", soon()).await.unwrap();
            assert_eq!(sig, want);
            s.key.public_key().verify(b"bundle", &sig).unwrap();
        }
    }

    #[tokio::test]
    async fn bad_signatures_are_refused_with_the_signer_named() {
        for (mode, reason) in [
            (Mode::Corrupt, "does not verify"),
            (Mode::OtherKey, "does not verify"),
            (Mode::ZeroR, "r or s is zero"),
        ] {
            let s = signer(mode);
            let err = sign_verified(&s, b"bundle", soon()).await.unwrap_err();
            let SignerError::Unverified {
                signer: ref name,
                ref public_key,
                reason: got,
            } = err
            else {
                panic!("{err:?}");
            };
            assert_eq!(name, "test signer");
            assert_eq!(public_key, &s.key.public_key().to_hex());
            assert!(got.contains(reason), "{got}");
            assert!(err.to_string().contains("test signer"), "{err}");
            assert!(!err.is_retryable());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn late_signers_time_out_and_passed_deadlines_skip_the_call() {
        let s = signer(Mode::Sleep(Duration::from_secs(10)));
        let deadline = Instant::now() + Duration::from_secs(2);
        let err = sign_verified(&s, b"tx", deadline).await.unwrap_err();
        assert!(
            matches!(&err, SignerError::Timeout { waited, .. } if *waited == Duration::from_secs(2)),
            "{err:?}"
        );
        assert!(err.is_retryable());

        let s = signer(Mode::Honest);
        let err = sign_verified(&s, b"tx", Instant::now()).await.unwrap_err();
        assert!(
            matches!(err, SignerError::Timeout { waited, .. } if waited.is_zero()),
            "{err:?}"
        );
        assert_eq!(s.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn signer_errors_pass_through_and_wrappers_delegate() {
        let err = sign_verified(&signer(Mode::Fail), b"x", soon())
            .await
            .unwrap_err();
        assert!(matches!(err, SignerError::Unavailable { .. }), "{err:?}");
        assert!(err.is_retryable());
        assert_eq!(err.signer(), "test signer");

        let boxed: Box<dyn Signer> = Box::new(signer(Mode::HighS));
        let shared: Arc<dyn Signer> = Arc::new(signer(Mode::HighS));
        let want = signer(Mode::Honest).key.sign(b"x");
        assert_eq!(sign_verified(&boxed, b"x", soon()).await.unwrap(), want);
        assert_eq!(sign_verified(&*shared, b"x", soon()).await.unwrap(), want);
        assert_eq!(boxed.describe(), "test signer");
        assert_eq!(shared.public_key(), signer(Mode::Honest).key.public_key());
    }
}
