//! Provider calls: one per window and side, inference and forecast each
//! with its own deadline and error, so a slow or failing side never costs
//! the other; the values are checked (guard rails, the topic's label rules)
//! and become a payload signed by the worker's signer, bounded by the
//! window's send deadline. Each window runs in its own task, so the payloads
//! of a batch are signed concurrently.

use std::sync::Arc;
use std::time::Duration;

use allora_infer::{ForecastValue, InferError, InferenceRequest, Prediction};
use tokio::time::Instant;

use super::{ProviderSide, TopicSpec, WorkerError};
use crate::emissions::EmissionsVersion;
use crate::keys::Address;
use crate::labels::{LabelRules, SINGLE_VALUE_LABEL};
use crate::payload::{ForecastElement, WorkerPayload};
use crate::proto::Any;
use crate::signer::{SharedSigner, SignError};

/// A window's signed payload, ready for a transaction.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Payload {
    /// The `MsgInsertWorkerPayload` message.
    pub(super) message: Any,
    /// How long the providers took.
    pub(super) inference: Duration,
    /// Whether it carries an inference (whose admission the chain reports
    /// with an event).
    pub(super) has_inference: bool,
}

/// What a window's providers came to: the payload of whatever sides
/// answered (none when no side did), and each failure, to report on its
/// own.
#[derive(Debug)]
pub(super) struct Provided {
    pub(super) payload: Option<Payload>,
    pub(super) failures: Vec<WorkerError>,
}

/// Asks the topic's providers for the window opened at `nonce`, each side
/// until its own deadline (the window's `deadline`, or earlier by the
/// side's timeout), and signs a payload of the sides that answered with
/// values the topic accepts, encoded for emissions `version`. `rules` are the topic's label rules, when
/// known. A signer that has not answered by `sign_by` (or answered wrong) is
/// a [`WorkerError::Signer`] among the failures.
pub(super) async fn provide(
    signer: &SharedSigner,
    spec: &TopicSpec,
    rules: Option<Arc<LabelRules>>,
    nonce: i64,
    deadline: Instant,
    sign_by: Instant,
    version: EmissionsVersion,
) -> Provided {
    let topic_id = spec.topic_id;
    let started = Instant::now();
    let side_deadline = |timeout: Option<Duration>| match timeout {
        Some(timeout) => deadline.min(started + timeout),
        None => deadline,
    };
    let request = |deadline| {
        let request = InferenceRequest::new(topic_id, nonce, deadline);
        match &spec.token {
            Some(token) => request.with_token(token.clone()),
            None => request,
        }
    };
    let inference = async {
        let provider = spec.inference.as_ref()?;
        let deadline = side_deadline(spec.inference_timeout);
        let request = request(deadline);
        Some(within(deadline, started, provider.infer(&request)).await)
    };
    let forecast = async {
        let provider = spec.forecast.as_ref()?;
        let deadline = side_deadline(spec.forecast_timeout);
        let request = request(deadline);
        Some(within(deadline, started, provider.forecast(&request)).await)
    };
    let (inference, forecast) = futures_util::future::join(inference, forecast).await;
    let elapsed = started.elapsed();

    let mut failures = Vec::new();
    let failed = |side, source| WorkerError::Provider {
        topic_id,
        nonce,
        side,
        source,
    };
    let inference = match inference {
        None => None,
        Some(Err(source)) => {
            failures.push(failed(ProviderSide::Inference, source));
            None
        }
        Some(Ok(prediction)) => {
            let prediction = for_topic(prediction, rules.as_deref());
            match check_inference(spec, rules.as_deref(), &prediction) {
                Ok(()) => Some(prediction),
                Err(Refusal::Value(source)) => {
                    failures.push(failed(ProviderSide::Inference, source));
                    None
                }
                Err(Refusal::Labels(source)) => {
                    failures.push(WorkerError::LabelsRefused {
                        topic_id,
                        nonce,
                        source,
                    });
                    None
                }
            }
        }
    };
    let forecast = match forecast {
        None => None,
        Some(Err(source)) => {
            failures.push(failed(ProviderSide::Forecast, source));
            None
        }
        Some(Ok(values)) => match elements(values) {
            Ok(elements) => Some(elements),
            Err(source) => {
                failures.push(failed(ProviderSide::Forecast, source));
                None
            }
        },
    };
    let has_inference = inference.is_some();
    let payload = match (inference, forecast) {
        (None, None) => {
            return Provided {
                payload: None,
                failures,
            }
        }
        (Some(Prediction::Single(value)), forecast) => {
            with_forecast(WorkerPayload::inference(topic_id, nonce, value), forecast)
        }
        (Some(Prediction::Labeled(values)), forecast) => with_forecast(
            WorkerPayload::labeled_inference(topic_id, nonce, values),
            forecast,
        ),
        (None, Some(elements)) => WorkerPayload::forecast(topic_id, nonce, elements),
    };
    match sign_payload(signer, &payload.for_version(version), sign_by).await {
        Ok(message) => Provided {
            payload: Some(Payload {
                message,
                inference: elapsed,
                has_inference,
            }),
            failures,
        },
        Err(error) => {
            failures.push(error);
            Provided {
                payload: None,
                failures,
            }
        }
    }
}

/// A provider's answer by `deadline`, or a timeout.
async fn within<T>(
    deadline: Instant,
    started: Instant,
    call: impl std::future::Future<Output = Result<T, InferError>>,
) -> Result<T, InferError> {
    match tokio::time::timeout_at(deadline, call).await {
        Ok(result) => result,
        Err(_) => Err(InferError::Timeout {
            elapsed: started.elapsed(),
        }),
    }
}

fn with_forecast(payload: WorkerPayload, forecast: Option<Vec<ForecastElement>>) -> WorkerPayload {
    match forecast {
        Some(elements) => payload.with_forecast(elements),
        None => payload,
    }
}

/// A prediction as the topic takes it: on a single-value topic (or one
/// whose arity is not known, single being the chain's default) a one-key
/// object (`{"inference": 3012.5}`) is the value itself, sent unlabeled
/// (as `y`); on a multi-value topic keys are labels.
fn for_topic(prediction: Prediction, rules: Option<&LabelRules>) -> Prediction {
    let single = rules.is_none_or(LabelRules::is_single);
    match prediction {
        Prediction::Labeled(mut pairs) if single && pairs.len() == 1 => match pairs.pop() {
            Some((_, value)) => Prediction::Single(value),
            None => Prediction::Labeled(pairs),
        },
        other => other,
    }
}

enum Refusal {
    Value(InferError),
    Labels(crate::labels::LabelError),
}

/// The topic's guard rails, then its label rules (the labels as they go on
/// the wire: `y` for a single value).
fn check_inference(
    spec: &TopicSpec,
    rules: Option<&LabelRules>,
    prediction: &Prediction,
) -> Result<(), Refusal> {
    spec.guard.check(prediction).map_err(Refusal::Value)?;
    if let Some(rules) = rules {
        let labels: Vec<&str> = match prediction {
            Prediction::Single(_) => vec![SINGLE_VALUE_LABEL],
            Prediction::Labeled(pairs) => pairs.iter().map(|(label, _)| label.as_str()).collect(),
        };
        rules.check(&labels).map_err(Refusal::Labels)?;
    }
    Ok(())
}

/// Forecast values with their inferers' addresses checked.
fn elements(values: Vec<ForecastValue>) -> Result<Vec<ForecastElement>, InferError> {
    values
        .into_iter()
        .map(|v| {
            let inferer: Address = v.inferer.parse().map_err(|e: crate::keys::KeyError| {
                InferError::UnexpectedShape {
                    detail: format!("forecast names an invalid inferer: {e}"),
                }
            })?;
            Ok(ForecastElement {
                inferer,
                value: v.value,
            })
        })
        .collect()
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
    use allora_infer::{AsyncFnForecaster, AsyncFnProvider, FnForecaster, FnProvider};

    use super::*;
    use crate::keys::{PublicKey, WorkerKey};
    use crate::labels::OutputArity;
    use crate::proto::emissions::v10;
    use crate::signer::{RawSignature, SignRequest, Signer, SignerError};

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
        ) -> Result<RawSignature, SignerError> {
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

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// `provide` on emissions v10 with five seconds to provide and to sign.
    async fn provide_soon(
        signer: &SharedSigner,
        spec: &TopicSpec,
        rules: Option<Arc<LabelRules>>,
        nonce: i64,
    ) -> Provided {
        provide(
            signer,
            spec,
            rules,
            nonce,
            soon(),
            soon(),
            EmissionsVersion::V10,
        )
        .await
    }

    /// `provide` on emissions v10 without label rules, by `provide_by` and
    /// signed by `sign_by`.
    async fn provide_v10(
        signer: &SharedSigner,
        spec: &TopicSpec,
        nonce: i64,
        provide_by: Instant,
        sign_by: Instant,
    ) -> Provided {
        provide(
            signer,
            spec,
            None,
            nonce,
            provide_by,
            sign_by,
            EmissionsVersion::V10,
        )
        .await
    }

    fn decode(payload: &Payload) -> v10::InputInferenceForecastBundle {
        let msg: v10::InsertWorkerPayloadRequest =
            prost::Message::decode(payload.message.value.as_slice()).unwrap();
        msg.worker_data_bundle
            .unwrap()
            .inference_forecasts_bundle
            .unwrap()
    }

    fn labels(bundle: &v10::InputInferenceForecastBundle) -> Vec<(String, String)> {
        bundle
            .inference
            .as_ref()
            .unwrap()
            .values
            .iter()
            .map(|v| (v.label.clone(), v.value.clone()))
            .collect()
    }

    fn multi() -> Option<Arc<LabelRules>> {
        Some(Arc::new(LabelRules {
            arity: OutputArity::Multi,
            max_labels_per_submission: 3,
            whitelist: vec!["up".into(), "down".into()],
            ..LabelRules::default()
        }))
    }

    fn one_key(key: &'static str, value: &'static str) -> TopicSpec {
        TopicSpec::inference(
            1,
            Arc::new(FnProvider::new(move |_: &InferenceRequest| {
                vec![(key, value)]
            })),
        )
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
        let provided = provide_soon(&signer(), &spec, None, 20).await;
        assert!(provided.failures.is_empty());
        let payload = provided.payload.unwrap();
        assert!(payload.has_inference);
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
        let err = only_failure(provide_v10(&signer(), &spec, 10, deadline, deadline).await);
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
        let provided = provide_soon(&signer(), &spec, None, 10).await;
        assert!(provided.payload.is_none());
        let err = &provided.failures[0];
        assert!(err.to_string().contains("invalid inferer"), "{err}");
        assert_eq!(err.kind(), "forecast_error");
    }

    #[tokio::test]
    async fn a_slow_or_failing_forecast_never_costs_the_inference() {
        let slow = TopicSpec::inference(1, Arc::new(FnProvider::new(|_: &InferenceRequest| 7.5)))
            .with_forecast(Arc::new(AsyncFnForecaster::new(
                |_: InferenceRequest| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Vec::<(String, f64)>::new()
                },
            )))
            .with_forecast_timeout(Duration::from_millis(50));
        let started = Instant::now();
        let provided = provide_soon(&signer(), &slow, None, 10).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "its own deadline"
        );
        let payload = provided.payload.unwrap();
        assert!(payload.has_inference);
        let bundle = decode(&payload);
        assert_eq!(labels(&bundle), [("y".to_owned(), "7.5".to_owned())]);
        assert!(bundle.forecast.is_none());
        assert_eq!(provided.failures.len(), 1);
        assert_eq!(provided.failures[0].kind(), "forecast_timeout");

        // And the reverse: the forecast goes alone.
        let inferer = key().address().to_string();
        let failing = TopicSpec::inference(
            1,
            Arc::new(FnProvider::new(|_: &InferenceRequest| {
                Err::<f64, _>(InferError::provider("model down"))
            })),
        )
        .with_forecast(Arc::new(FnForecaster::new(move |_: &InferenceRequest| {
            vec![(inferer.clone(), 0.25)]
        })));
        let provided = provide_soon(&signer(), &failing, None, 10).await;
        let payload = provided.payload.unwrap();
        assert!(!payload.has_inference);
        let bundle = decode(&payload);
        assert!(bundle.inference.is_none());
        assert_eq!(bundle.forecast.unwrap().forecast_elements.len(), 1);
        assert_eq!(provided.failures[0].kind(), "provider_error");
    }

    #[tokio::test]
    async fn a_one_key_object_is_the_value_of_a_single_value_topic() {
        for rules in [None, Some(Arc::new(LabelRules::default()))] {
            let provided =
                provide_soon(&signer(), &one_key("inference", "3012.5"), rules, 10).await;
            assert!(provided.failures.is_empty(), "{:?}", provided.failures);
            let bundle = decode(&provided.payload.unwrap());
            assert_eq!(labels(&bundle), [("y".to_owned(), "3012.5".to_owned())]);
        }
        // On a multi-value topic the key is a label, checked as the chain
        // checks it.
        let provided = provide_soon(&signer(), &one_key("Up", "0.7"), multi(), 10).await;
        assert!(provided.failures.is_empty(), "{:?}", provided.failures);
        assert_eq!(
            labels(&decode(&provided.payload.unwrap())),
            [("Up".to_owned(), "0.7".to_owned())]
        );
        let provided = provide_soon(&signer(), &one_key("prediction", "0.0012"), multi(), 10).await;
        assert!(provided.payload.is_none());
        let err = &provided.failures[0];
        assert_eq!(err.kind(), "label_not_in_whitelist");
        assert!(err.to_string().contains("emissions 97"), "{err}");
    }

    #[tokio::test]
    async fn labels_the_chain_would_refuse_are_refused_before_signing() {
        let labeled = |pairs: Vec<(&'static str, f64)>| {
            TopicSpec::inference(
                1,
                Arc::new(FnProvider::new(move |_: &InferenceRequest| pairs.clone())),
            )
        };
        let single = Some(Arc::new(LabelRules::default()));
        for (spec, rules, kind) in [
            (
                labeled(vec![("a", 1.0), ("b", 2.0)]),
                single.clone(),
                "too_many_labels",
            ),
            (
                labeled(vec![("up", 1.0), ("UP", 2.0)]),
                multi(),
                "invalid_label_name",
            ),
            (labeled(vec![("up!", 1.0)]), multi(), "invalid_label_name"),
            (
                labeled(vec![("up", 1.0), ("down", 1.0), ("x", 1.0), ("y", 1.0)]),
                multi(),
                "too_many_labels",
            ),
        ] {
            let provided = provide_soon(&signer(), &spec, rules, 10).await;
            assert!(provided.payload.is_none(), "{kind}");
            assert_eq!(provided.failures[0].kind(), kind);
        }
    }

    #[tokio::test]
    async fn guard_rails_refuse_values_before_signing() {
        let spec = TopicSpec::inference(
            1,
            Arc::new(FnProvider::new(|r: &InferenceRequest| r.nonce as f64)),
        )
        .refuse_zero()
        .value_range(Some("1".parse().unwrap()), Some("100".parse().unwrap()));
        let zero = TopicSpec::inference(1, Arc::new(FnProvider::new(|_: &InferenceRequest| 0.0)))
            .refuse_zero();
        let provided = provide_soon(&signer(), &zero, None, 10).await;
        assert!(provided.payload.is_none());
        assert_eq!(provided.failures[0].kind(), "value_refused");
        let provided = provide_soon(&signer(), &spec, None, 101).await;
        assert_eq!(provided.failures[0].kind(), "value_refused");
        assert!(provided.failures[0].to_string().contains("maximum 100"));
        let provided = provide_soon(&signer(), &spec, None, 50).await;
        assert!(provided.payload.is_some() && provided.failures.is_empty());
    }

    #[tokio::test]
    async fn a_remote_signature_is_verified_and_carries_the_signers_address() {
        let spec = TopicSpec::inference(5, Arc::new(FnProvider::new(|_: &InferenceRequest| 2.5)));
        let honest = remote(key(), Duration::ZERO);
        let payload = provide_soon(&honest, &spec, None, 30)
            .await
            .payload
            .unwrap();
        // Byte for byte what the local key signs.
        let local = provide_soon(&signer(), &spec, None, 30)
            .await
            .payload
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
        let err = only_failure(provide_v10(&late, &spec, 40, provide_by, sign_by).await);
        assert_eq!(err.kind(), "signer_timeout");
        assert_eq!(err.window(), Some((5, 40)));
        assert!(started.elapsed() < Duration::from_secs(5));

        let wrong = remote(
            WorkerKey::from_private_key_bytes(&[9; 32]).unwrap(),
            Duration::ZERO,
        );
        let err = only_failure(provide_v10(&wrong, &spec, 40, provide_by, provide_by).await);
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

    fn only_failure(provided: Provided) -> WorkerError {
        assert!(provided.payload.is_none());
        let mut failures = provided.failures;
        assert_eq!(failures.len(), 1, "{failures:?}");
        failures.remove(0)
    }
}
