//! Worker payloads: the inference and/or forecast a worker submits for one
//! topic and nonce, signed the way the chain verifies it.
//!
//! The chain checks a payload by re-encoding its `InputInferenceForecastBundle`,
//! hashing it with SHA-256 and verifying the secp256k1 signature against the
//! `pubkey` field, whose address must equal the worker, inferer and
//! forecaster. [`WorkerPayload::sign`] produces exactly that.
//!
//! A payload is encoded for one emissions version
//! ([`WorkerPayload::for_version`], v10 by default; see
//! [`crate::emissions`]): on v10 a single value goes out as the labeled
//! value `y` (with `value` `"0"`, as the official Python SDK sends it), on
//! v9 in `value`, which has no labels. The worker signs for the version the
//! chain speaks.
//!
//! Besides the values, a payload may carry the chain's free-form fields:
//! the inference's `extra_data` (bytes, field 5) and `proof` (string, field
//! 6), and the forecast's `extra_data` (field 5) (allora-chain
//! `x/emissions/proto/emissions/v10/inputworker.proto`). They are signed as
//! part of the bundle and left out when empty, as proto3 encodes them.
//!
//! ```
//! # use allora_sdk::keys::{Mnemonic, WorkerKey};
//! # use allora_sdk::payload::WorkerPayload;
//! # let mnemonic: Mnemonic = "abandon abandon abandon abandon abandon abandon \
//! #     abandon abandon abandon abandon abandon about".parse()?;
//! # let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
//! let signed = WorkerPayload::inference(69, 1_234_567, "3012.5".parse()?)
//!     .with_extra_data(b"model-v7".to_vec())
//!     .with_proof("zkml:groth16:0f3a")
//!     .sign(&key)?;
//! let bundle = signed.message().worker_data_bundle.as_ref().unwrap();
//! let inference = bundle.inference_forecasts_bundle.as_ref().unwrap().inference.as_ref().unwrap();
//! assert_eq!(inference.extra_data, b"model-v7");
//! assert_eq!(inference.proof, "zkml:groth16:0f3a");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```
//! use allora_sdk::keys::{Mnemonic, WorkerKey};
//! use allora_sdk::payload::WorkerPayload;
//! use allora_sdk::Dec;
//!
//! let mnemonic: Mnemonic = "abandon abandon abandon abandon abandon abandon \
//!     abandon abandon abandon abandon abandon about".parse()?;
//! let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
//! let payload = WorkerPayload::inference(69, 1_234_567, "123.456".parse::<Dec>()?);
//! let signed = payload.sign(&key)?;
//! assert_eq!(signed.signature().len(), 64);
//! key.public_key().verify(signed.bundle_bytes(), signed.signature())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use tokio::time::Instant;

use crate::decimal::Dec;
use crate::emissions::{EmissionsVersion, MessageSet};
use crate::keys::{Address, PublicKey, WorkerKey};
use crate::proto::emissions::{v10, v3};
use crate::proto::Any;
use crate::signer::{sign_verified, SharedSigner, SignError, Signer, SignerError};

/// The label of a single-valued inference.
pub const DEFAULT_LABEL: &str = "y";
/// The chain's default longest label, in bytes (the limit is the
/// `max_canonical_label_byte_length` parameter; see [`crate::labels`]).
pub const MAX_LABEL_LEN: usize = 64;

/// Why a payload could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The payload has neither an inference nor a forecast.
    #[error("payload for topic {topic_id} has neither an inference nor a forecast")]
    Empty {
        /// The topic.
        topic_id: u64,
    },
    /// The nonce block height is not positive.
    #[error("nonce block height {0} is not positive")]
    InvalidNonce(i64),
    /// A labeled inference has no values.
    #[error("labeled inference has no values")]
    NoValues,
    /// A label the chain refuses whatever the topic: empty after trimming,
    /// longer than 1024 bytes, or with a character other than ASCII
    /// letters, digits, `_ - / .` and space.
    #[error("invalid label {0:?}: labels are ASCII letters, digits, '_', '-', '/', '.' and spaces, not empty")]
    InvalidLabel(String),
    /// The same label appears twice.
    #[error("duplicate label {0:?}")]
    DuplicateLabel(String),
    /// A forecast has no elements.
    #[error("forecast has no elements")]
    EmptyForecast,
    /// Two forecast elements name the same inferer.
    #[error("forecast names inferer {0} twice")]
    DuplicateInferer(String),
    /// An externally made signature does not verify for the bundle.
    #[error("bundle signature rejected: {0}")]
    BadSignature(String),
    /// An inference field (`extra_data` or `proof`) is set on a payload
    /// without an inference, where the chain has no place for it.
    #[error("payload for topic {topic_id} sets the inference's {field} but has no inference")]
    NoInferenceFor {
        /// The topic.
        topic_id: u64,
        /// The field (`extra_data` or `proof`).
        field: &'static str,
    },
    /// This build does not speak the emissions version asked for.
    #[error("emissions {0} is not supported by this build (it supports {supported})", supported = EmissionsVersion::supported_list())]
    UnsupportedVersion(EmissionsVersion),
    /// The emissions version has no labeled values (v9): an inference
    /// there is one value.
    #[error("emissions {0} inferences are one value; labeled values need emissions v10")]
    LabelsNotSupported(EmissionsVersion),
}

/// The inference part of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inference {
    /// One value, sent with the label `"y"`.
    Single(Dec),
    /// Several labeled values, sent in the given order.
    Labeled(Vec<(String, Dec)>),
}

/// One element of a forecast: the predicted loss of an inferer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForecastElement {
    /// The inferer whose loss is forecast.
    pub inferer: Address,
    /// The forecast value.
    pub value: Dec,
}

/// An unsigned worker payload for one topic and nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPayload {
    topic_id: u64,
    nonce: i64,
    inference: Option<Inference>,
    forecast: Vec<ForecastElement>,
    inference_extra_data: Vec<u8>,
    proof: String,
    forecast_extra_data: Vec<u8>,
    version: EmissionsVersion,
}

impl WorkerPayload {
    /// A payload with a single-valued inference.
    pub fn inference(topic_id: u64, nonce: i64, value: Dec) -> Self {
        WorkerPayload {
            topic_id,
            nonce,
            inference: Some(Inference::Single(value)),
            forecast: Vec::new(),
            inference_extra_data: Vec::new(),
            proof: String::new(),
            forecast_extra_data: Vec::new(),
            version: EmissionsVersion::V10,
        }
    }

    /// A payload with a labeled (multi-output) inference.
    pub fn labeled_inference(
        topic_id: u64,
        nonce: i64,
        values: impl IntoIterator<Item = (String, Dec)>,
    ) -> Self {
        WorkerPayload {
            topic_id,
            nonce,
            inference: Some(Inference::Labeled(values.into_iter().collect())),
            forecast: Vec::new(),
            inference_extra_data: Vec::new(),
            proof: String::new(),
            forecast_extra_data: Vec::new(),
            version: EmissionsVersion::V10,
        }
    }

    /// A payload with only a forecast.
    pub fn forecast(
        topic_id: u64,
        nonce: i64,
        elements: impl IntoIterator<Item = ForecastElement>,
    ) -> Self {
        WorkerPayload {
            topic_id,
            nonce,
            inference: None,
            forecast: elements.into_iter().collect(),
            inference_extra_data: Vec::new(),
            proof: String::new(),
            forecast_extra_data: Vec::new(),
            version: EmissionsVersion::V10,
        }
    }

    /// Adds (or replaces) the forecast of this payload.
    pub fn with_forecast(mut self, elements: impl IntoIterator<Item = ForecastElement>) -> Self {
        self.forecast = elements.into_iter().collect();
        self
    }

    /// Sets `extra_data` on the inference and the forecast alike, as the
    /// official Python SDK's `insert_worker_payload` does (free-form bytes the
    /// chain stores with them and repeats in its payload events). On a payload
    /// with only one of them it goes to that one.
    pub fn with_extra_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        let data = data.into();
        self.inference_extra_data.clone_from(&data);
        self.forecast_extra_data = data;
        self
    }

    /// Sets the inference's `extra_data` (field 5 of `InputInference`) only.
    pub fn with_inference_extra_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.inference_extra_data = data.into();
        self
    }

    /// Sets the forecast's `extra_data` (field 5 of `InputForecast`) only.
    pub fn with_forecast_extra_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.forecast_extra_data = data.into();
        self
    }

    /// Sets the inference's `proof` (field 6 of `InputInference`), e.g. a
    /// proof of how the value was computed. A payload with a proof needs an
    /// inference ([`PayloadError::NoInferenceFor`] otherwise).
    pub fn with_proof(mut self, proof: impl Into<String>) -> Self {
        self.proof = proof.into();
        self
    }

    /// The inference's `extra_data`.
    pub fn inference_extra_data(&self) -> &[u8] {
        &self.inference_extra_data
    }

    /// The forecast's `extra_data`.
    pub fn forecast_extra_data(&self) -> &[u8] {
        &self.forecast_extra_data
    }

    /// The inference's `proof`.
    pub fn proof(&self) -> &str {
        &self.proof
    }

    /// Encodes the payload for emissions `version` (v10 unless set).
    pub fn for_version(mut self, version: EmissionsVersion) -> Self {
        self.version = version;
        self
    }

    /// The emissions version the payload is encoded for.
    pub fn version(&self) -> EmissionsVersion {
        self.version
    }

    fn messages(&self) -> Result<&'static MessageSet, PayloadError> {
        self.version
            .messages()
            .ok_or(PayloadError::UnsupportedVersion(self.version))
    }

    /// The topic.
    pub fn topic_id(&self) -> u64 {
        self.topic_id
    }

    /// The nonce block height.
    pub fn nonce(&self) -> i64 {
        self.nonce
    }

    /// Builds the bundle for `worker` after checking the payload, in the
    /// richest shape (see [`crate::emissions`]); its bytes on the payload's
    /// version's wire are what is signed ([`MessageSet::encode_bundle`]).
    pub fn bundle(
        &self,
        worker: &Address,
    ) -> Result<v10::InputInferenceForecastBundle, PayloadError> {
        if self.nonce <= 0 {
            return Err(PayloadError::InvalidNonce(self.nonce));
        }
        if self.inference.is_none() && self.forecast.is_empty() {
            return Err(PayloadError::Empty {
                topic_id: self.topic_id,
            });
        }
        if self.inference.is_none() && !self.proof.is_empty() {
            return Err(PayloadError::NoInferenceFor {
                topic_id: self.topic_id,
                field: "proof",
            });
        }
        // `with_extra_data` sets both sides; only a separately set inference
        // extra_data on a forecast-only payload has nowhere to go.
        if self.inference.is_none()
            && !self.inference_extra_data.is_empty()
            && self.inference_extra_data != self.forecast_extra_data
        {
            return Err(PayloadError::NoInferenceFor {
                topic_id: self.topic_id,
                field: "extra_data",
            });
        }
        let labeled = self.messages()?.labeled_values();
        let inference = self
            .inference
            .as_ref()
            .map(|inf| self.input_inference(inf, worker, labeled))
            .transpose()?;
        let forecast = if self.forecast.is_empty() {
            None
        } else {
            Some(self.input_forecast(worker)?)
        };
        Ok(v10::InputInferenceForecastBundle {
            inference,
            forecast,
        })
    }

    fn input_inference(
        &self,
        inference: &Inference,
        worker: &Address,
        labeled: bool,
    ) -> Result<v10::InputInference, PayloadError> {
        if !labeled {
            // One value, in `value` (emissions v9): a single value, or one
            // labeled with the single-value label.
            let value = match inference {
                Inference::Single(v) => v,
                Inference::Labeled(pairs) => match pairs.as_slice() {
                    [(label, v)] if label == DEFAULT_LABEL => v,
                    _ => return Err(PayloadError::LabelsNotSupported(self.version)),
                },
            };
            return Ok(v10::InputInference {
                topic_id: self.topic_id,
                block_height: self.nonce,
                inferer: worker.as_str().to_owned(),
                value: value.as_str().to_owned(),
                extra_data: Vec::new(),
                proof: String::new(),
                values: Vec::new(),
            });
        }
        let values = match inference {
            Inference::Single(v) => vec![v10::InputLabeledValue {
                label: DEFAULT_LABEL.to_owned(),
                value: v.as_str().to_owned(),
            }],
            Inference::Labeled(pairs) => {
                if pairs.is_empty() {
                    return Err(PayloadError::NoValues);
                }
                let mut seen = std::collections::HashSet::with_capacity(pairs.len());
                for (label, _) in pairs {
                    // The chain's rules that do not depend on the topic; the
                    // topic's own (length limit, case folding, whitelist,
                    // arity) are `crate::labels::LabelRules`.
                    let valid = crate::labels::canonical_label(
                        label,
                        crate::labels::MAX_MAX_LABEL_BYTES,
                        true,
                    )
                    .is_ok();
                    if !valid {
                        return Err(PayloadError::InvalidLabel(label.clone()));
                    }
                    if !seen.insert(label.as_str()) {
                        return Err(PayloadError::DuplicateLabel(label.clone()));
                    }
                }
                pairs
                    .iter()
                    .map(|(label, value)| v10::InputLabeledValue {
                        label: label.clone(),
                        value: value.as_str().to_owned(),
                    })
                    .collect()
            }
        };
        Ok(v10::InputInference {
            topic_id: self.topic_id,
            block_height: self.nonce,
            inferer: worker.as_str().to_owned(),
            // The chain reads `values`; the legacy field carries a zero.
            value: "0".to_owned(),
            extra_data: self.inference_extra_data.clone(),
            proof: self.proof.clone(),
            values,
        })
    }

    fn input_forecast(&self, worker: &Address) -> Result<v10::InputForecast, PayloadError> {
        let mut elements: Vec<&ForecastElement> = self.forecast.iter().collect();
        elements.sort_by(|a, b| a.inferer.cmp(&b.inferer));
        if let Some(pair) = elements.windows(2).find(|w| w[0].inferer == w[1].inferer) {
            return Err(PayloadError::DuplicateInferer(pair[0].inferer.to_string()));
        }
        Ok(v10::InputForecast {
            topic_id: self.topic_id,
            block_height: self.nonce,
            forecaster: worker.as_str().to_owned(),
            forecast_elements: elements
                .into_iter()
                .map(|e| v10::InputForecastElement {
                    inferer: e.inferer.as_str().to_owned(),
                    value: e.value.as_str().to_owned(),
                })
                .collect(),
            extra_data: self.forecast_extra_data.clone(),
        })
    }

    /// Builds, encodes and signs the payload with the worker's key.
    pub fn sign(&self, key: &WorkerKey) -> Result<SignedPayload, PayloadError> {
        let worker = key.address();
        let bundle = self.bundle(worker)?;
        let bundle_bytes = self.messages()?.encode_bundle(&bundle);
        let signature = key.sign(&bundle_bytes);
        self.assemble(worker, key.public_key(), bundle, bundle_bytes, &signature)
    }

    /// Builds, encodes and signs the payload through any [`Signer`] by
    /// `deadline`. The worker, inferer, forecaster and `pubkey` fields come
    /// from the signer's public key.
    ///
    /// The signature is normalised to low-S and verified before it is
    /// attached (see [`sign_verified`]); for a [`WorkerKey`] the result is
    /// byte-identical to [`WorkerPayload::sign`].
    ///
    /// Errors: [`SignError::Payload`] for an invalid payload (the signer is
    /// not asked), [`SignError::Signer`] when the signer times out, fails or
    /// returns a signature that does not verify.
    pub async fn sign_with<S: Signer + ?Sized>(
        &self,
        signer: &S,
        deadline: Instant,
    ) -> Result<SignedPayload, SignError> {
        let public_key = signer.public_key();
        let worker = public_key.address().map_err(|e| SignerError::PublicKey {
            signer: signer.describe(),
            reason: e.to_string(),
        })?;
        self.sign_as(signer, &worker, public_key, deadline).await
    }

    /// [`WorkerPayload::sign_with`] through a worker's [`SharedSigner`],
    /// whose address and public key were read once: the path a worker takes
    /// for every window.
    pub async fn sign_shared(
        &self,
        signer: &SharedSigner,
        deadline: Instant,
    ) -> Result<SignedPayload, SignError> {
        self.sign_as(
            signer.signer().as_ref(),
            signer.address(),
            signer.public_key(),
            deadline,
        )
        .await
    }

    async fn sign_as<S: Signer + ?Sized>(
        &self,
        signer: &S,
        worker: &Address,
        public_key: PublicKey,
        deadline: Instant,
    ) -> Result<SignedPayload, SignError> {
        let bundle = self.bundle(worker)?;
        let bundle_bytes = self.messages()?.encode_bundle(&bundle);
        let signature = sign_verified(signer, &bundle_bytes, deadline).await?;
        Ok(self.assemble(worker, public_key, bundle, bundle_bytes, &signature)?)
    }

    /// Attaches a signature made elsewhere (a remote signer or hardware key)
    /// over `sha256(bundle bytes)`, after checking that it verifies.
    ///
    /// [`WorkerPayload::bundle_bytes_for`] gives the bytes to sign.
    pub fn with_signature(
        &self,
        public_key: PublicKey,
        signature: &[u8],
    ) -> Result<SignedPayload, PayloadError> {
        let worker = public_key
            .address()
            .map_err(|e| PayloadError::BadSignature(e.to_string()))?;
        let bundle = self.bundle(&worker)?;
        let bundle_bytes = self.messages()?.encode_bundle(&bundle);
        public_key
            .verify(&bundle_bytes, signature)
            .map_err(|e| PayloadError::BadSignature(e.to_string()))?;
        self.assemble(&worker, public_key, bundle, bundle_bytes, signature)
    }

    /// The encoded bundle a worker with this public key signs.
    pub fn bundle_bytes_for(&self, public_key: PublicKey) -> Result<Vec<u8>, PayloadError> {
        let worker = public_key
            .address()
            .map_err(|e| PayloadError::BadSignature(e.to_string()))?;
        let bundle = self.bundle(&worker)?;
        Ok(self.messages()?.encode_bundle(&bundle))
    }

    fn assemble(
        &self,
        worker: &Address,
        public_key: PublicKey,
        bundle: v10::InputInferenceForecastBundle,
        bundle_bytes: Vec<u8>,
        signature: &[u8],
    ) -> Result<SignedPayload, PayloadError> {
        let messages = self.messages()?;
        let message = v10::InsertWorkerPayloadRequest {
            sender: worker.as_str().to_owned(),
            worker_data_bundle: Some(v10::InputWorkerDataBundle {
                worker: worker.as_str().to_owned(),
                nonce: Some(v3::Nonce {
                    block_height: self.nonce,
                }),
                topic_id: self.topic_id,
                inference_forecasts_bundle: Some(bundle),
                inferences_forecasts_bundle_signature: signature.to_vec(),
                pubkey: public_key.to_hex(),
            }),
        };
        Ok(SignedPayload {
            bundle_bytes,
            message,
            messages,
        })
    }
}

/// A signed worker payload, ready to go into a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedPayload {
    bundle_bytes: Vec<u8>,
    message: v10::InsertWorkerPayloadRequest,
    messages: &'static MessageSet,
}

impl SignedPayload {
    /// The encoded bundle that was signed.
    pub fn bundle_bytes(&self) -> &[u8] {
        &self.bundle_bytes
    }

    /// The 64-byte bundle signature.
    pub fn signature(&self) -> &[u8] {
        self.message
            .worker_data_bundle
            .as_ref()
            .map(|b| b.inferences_forecasts_bundle_signature.as_slice())
            .unwrap_or_default()
    }

    /// The `InsertWorkerPayloadRequest` message, in the richest shape (on
    /// v9 the inference's value is in `value` and `values` is empty).
    pub fn message(&self) -> &v10::InsertWorkerPayloadRequest {
        &self.message
    }

    /// The emissions version it is encoded for.
    pub fn version(&self) -> EmissionsVersion {
        self.messages.version()
    }

    /// The message as a transaction `Any`: the version's type URL and its
    /// encoding (whose bundle is the signed [`bundle_bytes`](Self::bundle_bytes)).
    pub fn to_any(&self) -> Any {
        self.messages.insert_worker_payload_any(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::keys::Mnemonic;

    fn key() -> WorkerKey {
        let m: Mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about".parse().unwrap();
        WorkerKey::from_mnemonic(&m, "").unwrap()
    }

    fn dec(s: &str) -> Dec {
        s.parse().unwrap()
    }

    #[test]
    fn signature_verifies_and_message_round_trips() {
        let key = key();
        let signed = WorkerPayload::inference(7, 100, dec("1.5"))
            .sign(&key)
            .unwrap();
        key.public_key()
            .verify(signed.bundle_bytes(), signed.signature())
            .unwrap();
        let any = signed.to_any();
        assert_eq!(any.type_url, "/emissions.v10.InsertWorkerPayloadRequest");
        let decoded = v10::InsertWorkerPayloadRequest::decode(any.value.as_slice()).unwrap();
        assert_eq!(&decoded, signed.message());
        let bundle = decoded
            .worker_data_bundle
            .unwrap()
            .inference_forecasts_bundle
            .unwrap();
        assert_eq!(bundle.encode_to_vec(), signed.bundle_bytes());
    }

    #[test]
    fn forecast_elements_are_sorted_and_unique() {
        let key = key();
        let a: Address = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"
            .parse()
            .unwrap();
        let b: Address = "allo15gpgf5e3gq6v336806d64z4pdtskhd634q22f4"
            .parse()
            .unwrap();
        let p = WorkerPayload::forecast(
            1,
            10,
            [
                ForecastElement {
                    inferer: a.clone(),
                    value: dec("2"),
                },
                ForecastElement {
                    inferer: b.clone(),
                    value: dec("1"),
                },
            ],
        );
        let bundle = p.bundle(key.address()).unwrap();
        let f = bundle.forecast.unwrap();
        assert_eq!(f.forecast_elements[0].inferer, b.as_str());
        assert_eq!(f.forecast_elements[1].inferer, a.as_str());
        assert!(bundle.inference.is_none());

        let dup = WorkerPayload::forecast(
            1,
            10,
            [
                ForecastElement {
                    inferer: a.clone(),
                    value: dec("2"),
                },
                ForecastElement {
                    inferer: a.clone(),
                    value: dec("3"),
                },
            ],
        );
        assert!(matches!(
            dup.sign(&key),
            Err(PayloadError::DuplicateInferer(_))
        ));
    }

    #[test]
    fn rejects_malformed_payloads() {
        let key = key();
        let cases = [
            (WorkerPayload::inference(1, 0, dec("1")), "InvalidNonce"),
            (WorkerPayload::forecast(1, 5, []), "Empty"),
            (WorkerPayload::labeled_inference(1, 5, []), "NoValues"),
            (
                WorkerPayload::labeled_inference(1, 5, [(String::new(), dec("1"))]),
                "InvalidLabel",
            ),
            (
                WorkerPayload::labeled_inference(1, 5, [("a!b".into(), dec("1"))]),
                "InvalidLabel",
            ),
            (
                WorkerPayload::labeled_inference(
                    1,
                    5,
                    [("a".into(), dec("1")), ("a".into(), dec("2"))],
                ),
                "DuplicateLabel",
            ),
        ];
        for (payload, want) in cases {
            let err = payload.sign(&key).unwrap_err();
            assert!(
                format!("{err:?}").starts_with(want),
                "{err:?} is not {want}"
            );
        }
        // Inner spaces, slashes and dots are the chain's label characters.
        WorkerPayload::labeled_inference(1, 5, [("BTC/USD 1h.close".into(), dec("1"))])
            .sign(&key)
            .unwrap();
    }

    #[test]
    fn extra_data_and_proof_are_signed_and_left_out_when_empty() {
        let key = key();
        let plain = WorkerPayload::inference(7, 100, dec("1.5"));
        let with = plain.clone().with_extra_data(vec![0, 1, 2]).with_proof("p");
        let bundle = with.bundle(key.address()).unwrap();
        let inf = bundle.inference.as_ref().unwrap();
        assert_eq!(
            (inf.extra_data.as_slice(), inf.proof.as_str()),
            (&[0, 1, 2][..], "p")
        );
        // Field 5 (bytes) and 6 (string) on the wire, nothing when empty.
        let bytes = inf.encode_to_vec();
        assert!(bytes.windows(5).any(|w| w == [0x2a, 3, 0, 1, 2]));
        assert!(bytes.windows(3).any(|w| w == [0x32, 1, b'p']));
        let empty = plain.bundle(key.address()).unwrap().inference.unwrap();
        assert_eq!(
            empty.encode_to_vec().len() + 5 + 3,
            bytes.len(),
            "proto3 leaves empty fields out"
        );
        let signed = with.sign(&key).unwrap();
        key.public_key()
            .verify(signed.bundle_bytes(), signed.signature())
            .unwrap();

        // The forecast's own extra_data.
        let other: Address = "allo15gpgf5e3gq6v336806d64z4pdtskhd634q22f4"
            .parse()
            .unwrap();
        let element = ForecastElement {
            inferer: other,
            value: dec("0.1"),
        };
        let both = WorkerPayload::inference(3, 9, dec("0.5"))
            .with_forecast([element.clone()])
            .with_inference_extra_data(b"i".to_vec())
            .with_forecast_extra_data(b"f".to_vec())
            .bundle(key.address())
            .unwrap();
        assert_eq!(both.inference.unwrap().extra_data, b"i");
        assert_eq!(both.forecast.unwrap().extra_data, b"f");
        let forecast_only = WorkerPayload::forecast(3, 9, [element.clone()])
            .with_extra_data(b"x".to_vec())
            .bundle(key.address())
            .unwrap();
        assert_eq!(forecast_only.forecast.unwrap().extra_data, b"x");
        // Inference fields need an inference.
        for payload in [
            WorkerPayload::forecast(3, 9, [element.clone()]).with_proof("p"),
            WorkerPayload::forecast(3, 9, [element]).with_inference_extra_data(b"i".to_vec()),
        ] {
            assert!(matches!(
                payload.sign(&key),
                Err(PayloadError::NoInferenceFor { topic_id: 3, .. })
            ));
        }
    }

    #[test]
    fn inference_and_forecast_together() {
        let key = key();
        let other: Address = "allo15gpgf5e3gq6v336806d64z4pdtskhd634q22f4"
            .parse()
            .unwrap();
        let signed = WorkerPayload::inference(3, 9, dec("0.5"))
            .with_forecast([ForecastElement {
                inferer: other,
                value: dec("0.1"),
            }])
            .sign(&key)
            .unwrap();
        let bundle = signed
            .message()
            .worker_data_bundle
            .as_ref()
            .unwrap()
            .inference_forecasts_bundle
            .as_ref()
            .unwrap();
        assert!(bundle.inference.is_some() && bundle.forecast.is_some());
        key.public_key()
            .verify(signed.bundle_bytes(), signed.signature())
            .unwrap();
    }

    #[test]
    fn a_v9_payload_carries_its_value_in_value_and_no_labels() {
        let key = key();
        let signed = WorkerPayload::inference(1, 1234, dec("3012.5"))
            .for_version(EmissionsVersion::V9)
            .sign(&key)
            .unwrap();
        assert_eq!(signed.version(), EmissionsVersion::V9);
        key.public_key()
            .verify(signed.bundle_bytes(), signed.signature())
            .unwrap();
        let any = signed.to_any();
        assert_eq!(any.type_url, "/emissions.v9.InsertWorkerPayloadRequest");
        let decoded = v10::InsertWorkerPayloadRequest::decode(any.value.as_slice()).unwrap();
        let bundle = decoded
            .worker_data_bundle
            .unwrap()
            .inference_forecasts_bundle
            .unwrap();
        assert_eq!(bundle.inference.as_ref().unwrap().value, "3012.5");
        assert_eq!(bundle.encode_to_vec(), signed.bundle_bytes());
        // The inference encodes as field 4 = "3012.5" and nothing past field 6.
        let inference = bundle.inference.as_ref().unwrap();
        assert!(inference.values.is_empty());
        assert!(inference
            .encode_to_vec()
            .ends_with(&[0x22, 0x06, b'3', b'0', b'1', b'2', b'.', b'5']));

        // The label of a single value is accepted; others are not.
        let y = WorkerPayload::labeled_inference(1, 5, [("y".to_owned(), dec("2"))])
            .for_version(EmissionsVersion::V9)
            .sign(&key)
            .unwrap();
        assert_eq!(
            y.message()
                .worker_data_bundle
                .as_ref()
                .unwrap()
                .inference_forecasts_bundle
                .as_ref()
                .unwrap()
                .inference
                .as_ref()
                .unwrap()
                .value,
            "2"
        );
        let labels = WorkerPayload::labeled_inference(1, 5, [("up".to_owned(), dec("0.7"))])
            .for_version(EmissionsVersion::V9)
            .sign(&key);
        assert_eq!(
            labels.unwrap_err(),
            PayloadError::LabelsNotSupported(EmissionsVersion::V9)
        );
        let unknown = WorkerPayload::inference(1, 5, dec("1"))
            .for_version(EmissionsVersion::new(11))
            .sign(&key);
        assert_eq!(
            unknown.unwrap_err(),
            PayloadError::UnsupportedVersion(EmissionsVersion::new(11))
        );
    }
}
