//! Provider calls: one per window, inference and forecast together, bounded
//! by the window's provider deadline; the values become a signed payload.

use std::time::Duration;

use allora_infer::{InferError, InferenceRequest, Prediction};
use tokio::time::Instant;

use super::{TopicSpec, WorkerError};
use crate::emissions::EmissionsVersion;
use crate::keys::{Address, WorkerKey};
use crate::payload::{ForecastElement, WorkerPayload};
use crate::proto::Any;

/// A window's signed payload, ready for a transaction.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Payload {
    /// The `MsgInsertWorkerPayload` message.
    pub(super) message: Any,
    /// How long the provider took.
    pub(super) inference: Duration,
}

/// Asks the topic's providers for the window opened at `nonce` and signs the
/// payload for emissions `version`. A provider that has not answered by
/// `deadline` is a [`InferError::Timeout`].
pub(super) async fn provide(
    key: &WorkerKey,
    spec: &TopicSpec,
    nonce: i64,
    deadline: Instant,
    version: EmissionsVersion,
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
    let signed = payload
        .for_version(version)
        .sign(key)
        .map_err(|source| WorkerError::Payload {
            topic_id,
            nonce,
            source,
        })?;
    Ok(Payload {
        message: signed.to_any(),
        inference: elapsed,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use allora_infer::{AsyncFnProvider, FnForecaster, FnProvider};

    use super::*;
    use crate::proto::emissions::v10;

    fn key() -> WorkerKey {
        WorkerKey::from_private_key_bytes(&[3; 32]).unwrap()
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
        let payload = provide(&key(), &spec, 20, deadline, EmissionsVersion::V10)
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
        let err = provide(&key(), &spec, 10, deadline, EmissionsVersion::V10)
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
        let err = provide(&key(), &spec, 10, deadline, EmissionsVersion::V10)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid inferer"), "{err}");
    }
}
