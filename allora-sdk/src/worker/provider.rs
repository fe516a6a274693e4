//! Provider calls: one per window, inference and forecast together, bounded
//! by the window's provider deadline; the values become a payload signed by
//! the worker's signer, bounded by the window's send deadline. Each window
//! runs in its own task, so the payloads of a batch are signed concurrently.

use std::time::Duration;

use allora_infer::{InferError, InferenceRequest, Prediction};
use tokio::time::Instant;

use super::{TopicSpec, WorkerError};
use crate::keys::Address;
use crate::payload::{ForecastElement, WorkerPayload};
use crate::proto::Any;
use crate::signer::{SharedSigner, SignError};

/// A window's signed payload, ready for a transaction.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Payload {
    /// The `MsgInsertWorkerPayload` message.
    pub(super) message: Any,
    /// How long the provider took.
    pub(super) inference: Duration,
}

/// Asks the topic's providers for the window opened at `nonce` and signs the
/// payload. A provider that has not answered by `deadline` is a
/// [`InferError::Timeout`]; a signer that has not answered by `sign_by` (or
/// answered wrong) is a [`WorkerError::Signer`].
pub(super) async fn provide(
    signer: &SharedSigner,
    spec: &TopicSpec,
    nonce: i64,
    deadline: Instant,
    sign_by: Instant,
) -> Result<Payload, WorkerError> {
    let topic_id = spec.topic_id;
    let mut request = InferenceRequest::new(topic_id, nonce, deadline);
    if let Some(token) = &spec.token {
        request = request.with_token(token.clone());
    }
    let started = Instant::now();
    let inference = async {
        match &spec.inference {
            Some(p) => p.infer(&request).await.map(Some),
            None => Ok(None),
        }
    };
    let forecast = async {
        match &spec.forecast {
            Some(p) => p.forecast(&request).await.map(Some),
            None => Ok(None),
        }
    };
    let provider_error = |source| WorkerError::Provider {
        topic_id,
        nonce,
        source,
    };
    let (inference, forecast) =
        match tokio::time::timeout_at(deadline, futures_util::future::join(inference, forecast))
            .await
        {
            Ok((i, f)) => (i.map_err(provider_error)?, f.map_err(provider_error)?),
            Err(_) => {
                return Err(provider_error(InferError::Timeout {
                    elapsed: started.elapsed(),
                }))
            }
        };
    let elapsed = started.elapsed();
    let mut payload = match inference {
        Some(Prediction::Single(value)) => WorkerPayload::inference(topic_id, nonce, value),
        Some(Prediction::Labeled(values)) => {
            WorkerPayload::labeled_inference(topic_id, nonce, values)
        }
        None => WorkerPayload::forecast(topic_id, nonce, []),
    };
    if let Some(values) = forecast {
        let mut elements = Vec::with_capacity(values.len());
        for v in values {
            let inferer: Address = v.inferer.parse().map_err(|e: crate::keys::KeyError| {
                provider_error(InferError::UnexpectedShape {
                    detail: format!("forecast names an invalid inferer: {e}"),
                })
            })?;
            elements.push(ForecastElement {
                inferer,
                value: v.value,
            });
        }
        payload = payload.with_forecast(elements);
    }
    Ok(Payload {
        message: sign_payload(signer, &payload, sign_by).await?,
        inference: elapsed,
    })
}

/// Signs a window's payload with the worker's signer by `sign_by`: the
/// worker, inferer, forecaster and `pubkey` fields are the signer's stored
/// address and public key; the signature is verified unless the signer is
/// the in-process key (see [`Signer::needs_verification`](crate::signer::Signer::needs_verification)).
pub(super) async fn sign_payload(
    signer: &SharedSigner,
    payload: &WorkerPayload,
    sign_by: Instant,
) -> Result<Any, WorkerError> {
    let (topic_id, nonce) = (payload.topic_id(), payload.nonce());
    let signed = payload
        .sign_shared(signer, sign_by)
        .await
        .map_err(|error| match error {
            SignError::Payload(source) => WorkerError::Payload {
                topic_id,
                nonce,
                source,
            },
            SignError::Signer(source) => WorkerError::Signer {
                topic_id,
                nonce,
                source,
            },
            // Building a payload involves no transaction.
            SignError::Tx(error) => WorkerError::Payload {
                topic_id,
                nonce,
                source: crate::payload::PayloadError::BadSignature(error.to_string()),
            },
        })?;
    Ok(signed.to_any())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use allora_infer::{AsyncFnProvider, FnForecaster, FnProvider};

    use super::*;
    use crate::keys::{PublicKey, WorkerKey};
    use crate::proto::emissions::v10;
    use crate::signer::{SignRequest, Signer, SignerError, SIGNATURE_LEN};

    fn key() -> WorkerKey {
        WorkerKey::from_private_key_bytes(&[3; 32]).unwrap()
    }

    fn signer() -> SharedSigner {
        key().into()
    }

    /// A remote signer that answers after `delay`, with a signature by
    /// `signs_with` (another key than its public key: a wrong signature).
    struct Remote {
        key: WorkerKey,
        signs_with: WorkerKey,
        delay: Duration,
    }

    #[async_trait::async_trait]
    impl Signer for Remote {
        fn public_key(&self) -> PublicKey {
            self.key.public_key()
        }

        fn describe(&self) -> String {
            "test remote signer".to_owned()
        }

        async fn sign_digest(
            &self,
            request: &SignRequest<'_>,
        ) -> Result<[u8; SIGNATURE_LEN], SignerError> {
            tokio::time::sleep(self.delay).await;
            Ok(self.signs_with.sign_prehash(request.digest()).unwrap())
        }
    }

    fn remote(signs_with: WorkerKey, delay: Duration) -> SharedSigner {
        SharedSigner::new(Arc::new(Remote {
            key: key(),
            signs_with,
            delay,
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn values_become_a_signed_payload() {
        let inferer = key().address().to_string();
        let spec = TopicSpec::inference(
            4,
            Arc::new(FnProvider::new(|r: &InferenceRequest| r.nonce as f64 / 2.0)),
        )
        .with_forecast(Arc::new(FnForecaster::new(move |_: &InferenceRequest| {
            vec![(inferer.clone(), 0.25)]
        })));
        let deadline = Instant::now() + Duration::from_secs(5);
        let payload = provide(&signer(), &spec, 20, deadline, deadline)
            .await
            .unwrap();
        let msg: v10::InsertWorkerPayloadRequest =
            prost::Message::decode(payload.message.value.as_slice()).unwrap();
        let bundle = msg.worker_data_bundle.unwrap();
        assert_eq!(bundle.nonce.unwrap().block_height, 20);
        assert_eq!(bundle.topic_id, 4);
        let inference = bundle.inference_forecasts_bundle.unwrap();
        assert_eq!(inference.inference.unwrap().values[0].value, "10.0");
        assert_eq!(inference.forecast.unwrap().forecast_elements.len(), 1);
        assert!(!bundle.inferences_forecasts_bundle_signature.is_empty());
    }

    #[tokio::test]
    async fn a_provider_past_its_deadline_is_a_timeout() {
        let spec = TopicSpec::inference(
            1,
            Arc::new(AsyncFnProvider::new(|_: InferenceRequest| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                1.0
            })),
        );
        let deadline = Instant::now() + Duration::from_millis(50);
        let err = provide(&signer(), &spec, 10, deadline, deadline)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "provider_timeout");
        assert_eq!(err.window(), Some((1, 10)));
    }

    #[tokio::test]
    async fn a_forecast_naming_no_address_is_refused() {
        let spec = TopicSpec::forecast(
            2,
            Arc::new(FnForecaster::new(|_: &InferenceRequest| {
                vec![("not-an-address", 0.5)]
            })),
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = provide(&signer(), &spec, 10, deadline, deadline)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid inferer"), "{err}");
    }

    #[tokio::test]
    async fn a_remote_signature_is_verified_and_carries_the_signers_address() {
        let spec = TopicSpec::inference(5, Arc::new(FnProvider::new(|_: &InferenceRequest| 2.5)));
        let deadline = Instant::now() + Duration::from_secs(5);
        let honest = remote(key(), Duration::ZERO);
        let payload = provide(&honest, &spec, 30, deadline, deadline)
            .await
            .unwrap();
        // Byte for byte what the local key signs.
        let local = provide(&signer(), &spec, 30, deadline, deadline)
            .await
            .unwrap();
        assert_eq!(payload.message, local.message);
        let msg: v10::InsertWorkerPayloadRequest =
            prost::Message::decode(payload.message.value.as_slice()).unwrap();
        assert_eq!(msg.sender, key().address().as_str());
        assert_eq!(
            msg.worker_data_bundle.unwrap().pubkey,
            key().public_key().to_hex()
        );
    }

    #[tokio::test]
    async fn a_late_or_wrong_signer_fails_the_window_with_its_own_kind() {
        let spec = TopicSpec::inference(5, Arc::new(FnProvider::new(|_: &InferenceRequest| 2.5)));
        let provide_by = Instant::now() + Duration::from_secs(5);
        let sign_by = Instant::now() + Duration::from_millis(200);
        let late = remote(key(), Duration::from_secs(30));
        let started = Instant::now();
        let err = provide(&late, &spec, 40, provide_by, sign_by)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "signer_timeout");
        assert_eq!(err.window(), Some((5, 40)));
        assert!(started.elapsed() < Duration::from_secs(5));

        let wrong = remote(
            WorkerKey::from_private_key_bytes(&[9; 32]).unwrap(),
            Duration::ZERO,
        );
        let err = provide(&wrong, &spec, 40, provide_by, provide_by)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "signer_unverified");
        assert!(
            matches!(
                &err,
                WorkerError::Signer {
                    source: SignerError::Unverified { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("test remote signer"), "{err}");
    }
}
