//! A worker key that lives in AWS KMS: an asymmetric `ECC_SECG_P256K1` key
//! with usage `SIGN_VERIFY`, whose private half never leaves KMS.
//!
//! [`KmsSigner`] implements [`Signer`], and [`KmsKeySource`] is the
//! [`KeySource`] a worker's configuration chooses: the worker address and the payload
//! and transaction public keys come from the key's public key (read once
//! with `GetPublicKey` when the signer is built), and every signature is one
//! `Sign` call with `ECDSA_SHA_256`. KMS answers DER; the signer turns it
//! into the 64-byte `r || s` the chain expects, and
//! [`sign_verified`](allora_sdk::signer::sign_verified) (which every entry
//! point goes through) normalises it to low-S and verifies it against the
//! public key before anything uses it. KMS signatures are randomised, so two
//! signatures of the same bytes differ; both verify.
//!
//! # IAM
//!
//! The worker's role needs two actions on the one key, nothing else:
//!
//! ```json
//! {
//!   "Effect": "Allow",
//!   "Action": ["kms:GetPublicKey", "kms:Sign"],
//!   "Resource": "arn:aws:kms:<region>:<account>:key/<key id>"
//! }
//! ```
//!
//! The key is created with `KeySpec=ECC_SECG_P256K1`, `KeyUsage=SIGN_VERIFY`
//! (`aws kms create-key --key-spec ECC_SECG_P256K1 --key-usage SIGN_VERIFY`).
//!
//! # Message type
//!
//! By default the signer sends KMS the 32-byte SHA-256 digest
//! (`MessageType=DIGEST`), which works for any size of payload or
//! transaction. [`KmsMessageType::Raw`] sends the bytes themselves and lets
//! KMS hash them; KMS takes at most [`RAW_MESSAGE_LIMIT`] bytes that way,
//! which a transaction carrying many payloads exceeds, so longer messages are
//! refused before any call.
//!
//! ```no_run
//! use allora_aws::kms::KmsSigner;
//! use allora_sdk::payload::WorkerPayload;
//! use allora_sdk::signer::Signer;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = allora_aws::sdk_config::config_loader().load().await;
//! let signer = KmsSigner::connect(aws_sdk_kms::Client::new(&config), "alias/allora-worker").await?;
//! println!("worker address: {}", signer.address());
//! let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
//! let payload = WorkerPayload::inference(69, 1_234_567, "123.456".parse()?)
//!     .sign_with(&signer, deadline)
//!     .await?;
//! signer.public_key().verify(payload.bundle_bytes(), payload.signature())?;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use allora_sdk::key_source::{KeySource, KeySourceError, WorkerSigner};
use allora_sdk::keys::{Address, PublicKey};
use allora_sdk::signer::{RawSignature, SignRequest, Signer, SignerError};
use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_sdk_kms::Client;
use aws_smithy_types::error::display::DisplayErrorContext;
use k256::pkcs8::DecodePublicKey;

/// The longest message KMS signs with `MessageType=RAW`, in bytes.
pub const RAW_MESSAGE_LIMIT: usize = 4096;

/// What the signer sends KMS to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KmsMessageType {
    /// The 32-byte SHA-256 digest (`MessageType=DIGEST`): any message size.
    #[default]
    Digest,
    /// The message itself (`MessageType=RAW`), hashed by KMS: messages up to
    /// [`RAW_MESSAGE_LIMIT`] bytes only.
    Raw,
}

/// Signs with an AWS KMS secp256k1 key (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct KmsSigner {
    client: Client,
    key_id: String,
    resolved_key_id: String,
    public_key: PublicKey,
    address: Address,
    message_type: KmsMessageType,
    signer: String,
}

impl KmsSigner {
    /// Reads the public key of `key_id` (a key id, key ARN, alias name such
    /// as `alias/allora-worker`, or alias ARN) with `GetPublicKey`, checks
    /// that it is an `ECC_SECG_P256K1` `SIGN_VERIFY` key offering
    /// `ECDSA_SHA_256`, and builds the signer. Later `Sign` calls name the
    /// key as KMS returned it (its ARN), so re-pointing an alias never switches
    /// the key under a running worker.
    ///
    /// Errors: [`SignerError::PublicKey`] for a key of another kind or a
    /// public key that is not a secp256k1 SubjectPublicKeyInfo;
    /// [`SignerError::Refused`] when KMS refuses (no `kms:GetPublicKey`
    /// permission, unknown or disabled key); [`SignerError::Unavailable`]
    /// when KMS cannot be reached.
    pub async fn connect(client: Client, key_id: impl Into<String>) -> Result<Self, SignerError> {
        let key_id = key_id.into();
        let signer = format!("KMS key {key_id}");
        let output = client
            .get_public_key()
            .key_id(&key_id)
            .send()
            .await
            .map_err(|e| classify(&signer, "kms:GetPublicKey", e))?;
        let not_usable = |reason: String| SignerError::PublicKey {
            signer: signer.clone(),
            reason,
        };
        let spec = key_spec(&output);
        if let Some(spec) = spec {
            if spec != KeySpec::EccSecgP256K1.as_str() {
                return Err(not_usable(format!(
                    "the key spec is {spec}, not ECC_SECG_P256K1; create a key with \
                     KeySpec=ECC_SECG_P256K1 and KeyUsage=SIGN_VERIFY"
                )));
            }
        }
        if let Some(usage) = output.key_usage() {
            if *usage != KeyUsageType::SignVerify {
                return Err(not_usable(format!(
                    "the key usage is {}, not SIGN_VERIFY",
                    usage.as_str()
                )));
            }
        }
        let algorithms = output.signing_algorithms();
        if !algorithms.is_empty() && !algorithms.contains(&SigningAlgorithmSpec::EcdsaSha256) {
            return Err(not_usable(
                "the key does not offer the ECDSA_SHA_256 signing algorithm".to_owned(),
            ));
        }
        let der = output
            .public_key()
            .ok_or_else(|| not_usable("GetPublicKey returned no PublicKey".to_owned()))?;
        let public_key = public_key_from_spki(der.as_ref()).map_err(not_usable)?;
        let address = public_key
            .address()
            .map_err(|e| not_usable(e.to_string()))?;
        let resolved_key_id = output.key_id().unwrap_or(&key_id).to_owned();
        tracing::debug!(%signer, %resolved_key_id, %address, "KMS signing key ready");
        Ok(KmsSigner {
            client,
            key_id,
            resolved_key_id,
            public_key,
            address,
            message_type: KmsMessageType::Digest,
            signer,
        })
    }

    /// What is sent to KMS to sign (default [`KmsMessageType::Digest`]).
    pub fn with_message_type(mut self, message_type: KmsMessageType) -> Self {
        self.message_type = message_type;
        self
    }

    /// The message type in use.
    pub fn message_type(&self) -> KmsMessageType {
        self.message_type
    }

    /// The key as configured (id, ARN or alias).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The key as `GetPublicKey` named it (its ARN on AWS); `Sign` calls
    /// use it.
    pub fn resolved_key_id(&self) -> &str {
        &self.resolved_key_id
    }

    /// The worker address of the key.
    pub fn address(&self) -> &Address {
        &self.address
    }
}

#[async_trait::async_trait]
impl Signer for KmsSigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn describe(&self) -> String {
        self.signer.clone()
    }

    async fn sign_digest(&self, request: &SignRequest<'_>) -> Result<RawSignature, SignerError> {
        let (message, message_type) = match self.message_type {
            KmsMessageType::Digest => (request.digest().as_slice(), MessageType::Digest),
            KmsMessageType::Raw => {
                let message = request.message();
                if message.len() > RAW_MESSAGE_LIMIT {
                    return Err(SignerError::Unsupported {
                        signer: self.signer.clone(),
                        reason: format!(
                            "a {}-byte message exceeds the {RAW_MESSAGE_LIMIT}-byte limit of \
                             MessageType=RAW; use KmsMessageType::Digest",
                            message.len()
                        ),
                    });
                }
                (message, MessageType::Raw)
            }
        };
        let output = self
            .client
            .sign()
            .key_id(&self.resolved_key_id)
            .message(Blob::new(message))
            .message_type(message_type)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| classify(&self.signer, "kms:Sign", e))?;
        let malformed = |reason: &str| SignerError::Malformed {
            signer: self.signer.clone(),
            reason: reason.to_owned(),
        };
        let der = output
            .signature()
            .ok_or_else(|| malformed("Sign returned no Signature"))?;
        let signature = k256::ecdsa::Signature::from_der(der.as_ref())
            .map_err(|_| malformed("Signature is not a DER-encoded secp256k1 ECDSA signature"))?;
        Ok(signature.to_bytes().into())
    }
}

/// A worker key in AWS KMS as a [`KeySource`]: [`load`](KeySource::load)
/// reads the key's public key ([`KmsSigner::connect`]) and yields a
/// [`WorkerSigner::Remote`] whose address is the key's.
///
/// ```no_run
/// use allora_aws::kms::KmsKeySource;
/// use allora_sdk::key_source::KeySource;
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let config = allora_aws::sdk_config::config_loader().load().await;
/// let source = KmsKeySource::new(aws_sdk_kms::Client::new(&config), "alias/allora-worker");
/// let signer = source.load().await?;
/// println!("worker {} signs with {}", signer.address(), signer.describe());
/// let worker = allora_sdk::Worker::builder().signer(signer.into_shared().signer().clone());
/// # let _ = worker;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct KmsKeySource {
    client: Client,
    key_id: String,
    message_type: KmsMessageType,
}

impl KmsKeySource {
    /// The key `key_id` (key id, key ARN, alias name or alias ARN), read
    /// with `client`.
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        KmsKeySource {
            client,
            key_id: key_id.into(),
            message_type: KmsMessageType::Digest,
        }
    }

    /// What the signer sends KMS (default [`KmsMessageType::Digest`]).
    pub fn with_message_type(mut self, message_type: KmsMessageType) -> Self {
        self.message_type = message_type;
        self
    }

    /// Connects: reads and checks the public key (see [`KmsSigner::connect`]).
    pub async fn connect(&self) -> Result<KmsSigner, SignerError> {
        Ok(KmsSigner::connect(self.client.clone(), self.key_id.clone())
            .await?
            .with_message_type(self.message_type))
    }
}

#[async_trait::async_trait]
impl KeySource for KmsKeySource {
    fn describe(&self) -> String {
        format!("KMS key {}", self.key_id)
    }

    /// Errors: [`KeySourceError::Signer`] with the signer's error (refused,
    /// unreachable, or not an `ECC_SECG_P256K1` signing key).
    async fn load(&self) -> Result<WorkerSigner, KeySourceError> {
        let signer = self.connect().await?;
        Ok(WorkerSigner::remote(Arc::new(signer))?)
    }
}

/// The key spec of a `GetPublicKey` answer: `KeySpec`, or its deprecated
/// twin `CustomerMasterKeySpec` for services that only fill that one (the
/// moto emulator, for one).
fn key_spec(output: &GetPublicKeyOutput) -> Option<&str> {
    #[allow(deprecated)]
    let legacy = output.customer_master_key_spec().map(|spec| spec.as_str());
    output.key_spec().map(KeySpec::as_str).or(legacy)
}

/// The compressed key of a DER SubjectPublicKeyInfo, which must hold a
/// secp256k1 point (algorithm id-ecPublicKey, curve secp256k1).
pub fn public_key_from_spki(der: &[u8]) -> Result<PublicKey, String> {
    let key = k256::PublicKey::from_public_key_der(der).map_err(|e| {
        format!("not a DER SubjectPublicKeyInfo of a secp256k1 key ({e}); is it an ECC_SECG_P256K1 key?")
    })?;
    PublicKey::from_sec1_bytes(key.to_sec1_bytes().as_ref()).map_err(|e| e.to_string())
}

/// Maps a KMS SDK error to a [`SignerError`] naming the signer, the IAM
/// action involved and what to check.
fn classify<E>(signer: &str, action: &str, error: SdkError<E, HttpResponse>) -> SignerError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let signer = signer.to_owned();
    match &error {
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or("Unknown").to_owned();
            let message = context.err().message().unwrap_or_default();
            let status = context.raw().status().as_u16();
            let hint = match code.as_str() {
                "AccessDeniedException"
                | "AccessDenied"
                | "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "InvalidSignatureException"
                | "ExpiredTokenException" => format!(
                    "check the credentials and that the IAM policy allows {action} on this key"
                ),
                "NotFoundException" => {
                    "no such key: check the key id, ARN or alias and the region".to_owned()
                }
                "DisabledException" | "KMSInvalidStateException" => {
                    "the key is disabled or pending deletion: enable it".to_owned()
                }
                "InvalidKeyUsageException" => {
                    "the key is not a SIGN_VERIFY key offering ECDSA_SHA_256".to_owned()
                }
                "KeyUnavailableException"
                | "DependencyTimeoutException"
                | "KMSInternalException"
                | "ThrottlingException"
                | "ThrottlingReason"
                | "LimitExceededException" => {
                    return SignerError::Unavailable {
                        signer,
                        reason: format!("{code}: {message}"),
                    }
                }
                _ if status >= 500 => {
                    return SignerError::Unavailable {
                        signer,
                        reason: format!("HTTP {status} ({code}): {message}"),
                    }
                }
                _ => String::new(),
            };
            let reason = match (message.is_empty(), hint.is_empty()) {
                (false, false) => format!("{message}; {hint}"),
                (true, false) => hint,
                (false, true) => message.to_owned(),
                (true, true) => format!("HTTP {status}"),
            };
            SignerError::Refused {
                signer,
                code,
                reason,
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => SignerError::Unavailable {
            signer,
            reason: DisplayErrorContext(&error).to_string(),
        },
        SdkError::ResponseError(_) => SignerError::Malformed {
            signer,
            reason: DisplayErrorContext(&error).to_string(),
        },
        _ => SignerError::InvalidConfig {
            signer,
            reason: DisplayErrorContext(&error).to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::pkcs8::EncodePublicKey;

    #[test]
    fn spki_of_a_secp256k1_key_gives_the_compressed_key() {
        let key = allora_sdk::keys::WorkerKey::from_private_key_bytes(&[9; 32]).unwrap();
        let point = k256::PublicKey::from_sec1_bytes(&key.public_key().to_compressed()).unwrap();
        let der = point.to_public_key_der().unwrap();
        assert_eq!(
            public_key_from_spki(der.as_bytes()).unwrap(),
            key.public_key()
        );
        // A P-256 SubjectPublicKeyInfo (same structure, other curve) is refused.
        let p256 = hex::decode(
            "3059301306072a8648ce3d020106082a8648ce3d030107034200\
             046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
             4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
        )
        .unwrap();
        let err = public_key_from_spki(&p256).unwrap_err();
        assert!(err.contains("secp256k1"), "{err}");
        assert!(public_key_from_spki(b"garbage").is_err());
    }
}
