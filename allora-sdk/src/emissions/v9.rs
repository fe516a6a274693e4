//! Emissions v9 (allora-chain v0.16 and earlier;
//! `x/emissions/proto/emissions/v9/`).
//!
//! An inference is one value, carried in `InputInference.value` (field 4);
//! the message has no labeled values (no field 7). Everything else a worker
//! sends (forecasts, the bundle, its signature and pubkey, registration) is
//! field for field as in v10, under `emissions.v9` type URLs. The queries a
//! worker makes answer the v10 shapes, but for the topic (no label settings)
//! and `GetLatestNetworkInferences` (an unlabeled bundle, not served here).

use prost::Message;

use super::{MessageSet, Query, WindowEventAttributes};
use crate::proto::emissions::{v10, v9};

/// The v9 message set.
pub(super) const MESSAGES: MessageSet = MessageSet {
    version: super::EmissionsVersion::V9,
    query_service: "emissions.v9.QueryService",
    msg_service: "emissions.v9.MsgService",
    queries: &[
        (Query::Params, "GetParams"),
        (Query::NextTopicId, "GetNextTopicId"),
        (Query::Topic, "GetTopic"),
        (Query::TopicExists, "TopicExists"),
        (Query::IsTopicActive, "IsTopicActive"),
        (Query::IsWorkerRegistered, "IsWorkerRegisteredInTopicId"),
        (Query::CanSubmitWorkerPayload, "CanSubmitWorkerPayload"),
        (Query::UnfulfilledWorkerNonces, "GetUnfulfilledWorkerNonces"),
        (Query::IsWorkerNonceUnfulfilled, "IsWorkerNonceUnfulfilled"),
        (
            Query::WorkerSubmissionWindowStatus,
            "GetWorkerSubmissionWindowStatus",
        ),
    ],
    insert_worker_payload: "/emissions.v9.InsertWorkerPayloadRequest",
    register: "/emissions.v9.RegisterRequest",
    window_opened: "emissions.v9.EventWorkerSubmissionWindowOpened",
    window_closed: "emissions.v9.EventWorkerSubmissionWindowClosed",
    window_attributes: WindowEventAttributes {
        topic_id: "topic_id",
        nonce: "nonce_block_height",
        window_end: "window_end_block",
    },
    labeled_values: false,
    encode_bundle: |bundle| bundle_to_v9(bundle).encode_to_vec(),
    encode_insert: |message| insert_to_v9(message).encode_to_vec(),
    decode_insert: |bytes| v9::InsertWorkerPayloadRequest::decode(bytes).map(insert_from_v9),
    encode_register: |message| register_to_v9(message).encode_to_vec(),
    decode_register: |bytes| v9::RegisterRequest::decode(bytes).map(register_from_v9),
};

/// The v9 bundle: the inference's `value` as given (labeled values have no
/// place in v9; payloads built for v9 carry none).
fn bundle_to_v9(bundle: &v10::InputInferenceForecastBundle) -> v9::InputInferenceForecastBundle {
    v9::InputInferenceForecastBundle {
        inference: bundle.inference.as_ref().map(|i| v9::InputInference {
            topic_id: i.topic_id,
            block_height: i.block_height,
            inferer: i.inferer.clone(),
            value: i.value.clone(),
            extra_data: i.extra_data.clone(),
            proof: i.proof.clone(),
        }),
        forecast: bundle.forecast.as_ref().map(|f| v9::InputForecast {
            topic_id: f.topic_id,
            block_height: f.block_height,
            forecaster: f.forecaster.clone(),
            forecast_elements: f
                .forecast_elements
                .iter()
                .map(|e| v9::InputForecastElement {
                    inferer: e.inferer.clone(),
                    value: e.value.clone(),
                })
                .collect(),
            extra_data: f.extra_data.clone(),
        }),
    }
}

fn bundle_from_v9(bundle: v9::InputInferenceForecastBundle) -> v10::InputInferenceForecastBundle {
    v10::InputInferenceForecastBundle {
        inference: bundle.inference.map(|i| v10::InputInference {
            topic_id: i.topic_id,
            block_height: i.block_height,
            inferer: i.inferer,
            value: i.value,
            extra_data: i.extra_data,
            proof: i.proof,
            values: Vec::new(),
        }),
        forecast: bundle.forecast.map(|f| v10::InputForecast {
            topic_id: f.topic_id,
            block_height: f.block_height,
            forecaster: f.forecaster,
            forecast_elements: f
                .forecast_elements
                .into_iter()
                .map(|e| v10::InputForecastElement {
                    inferer: e.inferer,
                    value: e.value,
                })
                .collect(),
            extra_data: f.extra_data,
        }),
    }
}

fn insert_to_v9(message: &v10::InsertWorkerPayloadRequest) -> v9::InsertWorkerPayloadRequest {
    v9::InsertWorkerPayloadRequest {
        sender: message.sender.clone(),
        worker_data_bundle: message.worker_data_bundle.as_ref().map(|b| {
            v9::InputWorkerDataBundle {
                worker: b.worker.clone(),
                nonce: b.nonce,
                topic_id: b.topic_id,
                inference_forecasts_bundle: b.inference_forecasts_bundle.as_ref().map(bundle_to_v9),
                inferences_forecasts_bundle_signature: b
                    .inferences_forecasts_bundle_signature
                    .clone(),
                pubkey: b.pubkey.clone(),
            }
        }),
    }
}

fn insert_from_v9(message: v9::InsertWorkerPayloadRequest) -> v10::InsertWorkerPayloadRequest {
    v10::InsertWorkerPayloadRequest {
        sender: message.sender,
        worker_data_bundle: message
            .worker_data_bundle
            .map(|b| v10::InputWorkerDataBundle {
                worker: b.worker,
                nonce: b.nonce,
                topic_id: b.topic_id,
                inference_forecasts_bundle: b.inference_forecasts_bundle.map(bundle_from_v9),
                inferences_forecasts_bundle_signature: b.inferences_forecasts_bundle_signature,
                pubkey: b.pubkey,
            }),
    }
}

fn register_to_v9(message: &v10::RegisterRequest) -> v9::RegisterRequest {
    v9::RegisterRequest {
        sender: message.sender.clone(),
        topic_id: message.topic_id,
        owner: message.owner.clone(),
        is_reputer: message.is_reputer,
    }
}

fn register_from_v9(message: v9::RegisterRequest) -> v10::RegisterRequest {
    v10::RegisterRequest {
        sender: message.sender,
        topic_id: message.topic_id,
        owner: message.owner,
        is_reputer: message.is_reputer,
    }
}

#[cfg(test)]
mod tests {
    use prost::Name;

    use super::*;
    use crate::proto::emissions::v3;

    #[test]
    fn the_type_urls_are_the_generated_ones() {
        assert_eq!(
            MESSAGES.insert_worker_payload_type_url(),
            v9::InsertWorkerPayloadRequest::type_url()
        );
        assert_eq!(
            MESSAGES.register_type_url(),
            v9::RegisterRequest::type_url()
        );
        assert!(!MESSAGES.labeled_values());
        assert_eq!(MESSAGES.query_method(Query::TopicEpochs), None);
        assert_eq!(MESSAGES.query_method(Query::LatestNetworkInferences), None);
    }

    fn payload(value: &str) -> v10::InsertWorkerPayloadRequest {
        v10::InsertWorkerPayloadRequest {
            sender: "allo1w".into(),
            worker_data_bundle: Some(v10::InputWorkerDataBundle {
                worker: "allo1w".into(),
                nonce: Some(v3::Nonce { block_height: 1234 }),
                topic_id: 1,
                inference_forecasts_bundle: Some(v10::InputInferenceForecastBundle {
                    inference: Some(v10::InputInference {
                        topic_id: 1,
                        block_height: 1234,
                        inferer: "allo1w".into(),
                        value: value.into(),
                        extra_data: b"x".to_vec(),
                        proof: "p".into(),
                        values: Vec::new(),
                    }),
                    forecast: Some(v10::InputForecast {
                        topic_id: 1,
                        block_height: 1234,
                        forecaster: "allo1w".into(),
                        forecast_elements: vec![v10::InputForecastElement {
                            inferer: "allo1i".into(),
                            value: "0.12".into(),
                        }],
                        extra_data: b"x".to_vec(),
                    }),
                }),
                inferences_forecasts_bundle_signature: vec![7; 64],
                pubkey: "02ab".into(),
            }),
        }
    }

    #[test]
    fn the_value_is_field_4_and_there_is_no_field_7() {
        let message = payload("3012.5");
        let bundle = message
            .worker_data_bundle
            .as_ref()
            .unwrap()
            .inference_forecasts_bundle
            .as_ref()
            .unwrap();
        let bytes = MESSAGES.encode_bundle(bundle);
        // A v10 bundle without labeled values encodes to the same bytes.
        assert_eq!(bytes, bundle.encode_to_vec());
        let inference = v9::InputInferenceForecastBundle::decode(bytes.as_slice())
            .unwrap()
            .inference
            .unwrap();
        assert_eq!(inference.value, "3012.5");
        // Labeled values of the richer shape have no place on the v9 wire.
        let mut labeled = bundle.clone();
        if let Some(i) = labeled.inference.as_mut() {
            i.values.push(v10::InputLabeledValue {
                label: "y".into(),
                value: "1".into(),
            });
        }
        assert_eq!(MESSAGES.encode_bundle(&labeled), bytes);
    }

    #[test]
    fn messages_round_trip_through_the_v9_wire() {
        let message = payload("3012.5");
        let any = MESSAGES.insert_worker_payload_any(&message);
        assert_eq!(any.type_url, "/emissions.v9.InsertWorkerPayloadRequest");
        assert_eq!(
            MESSAGES.decode_insert_worker_payload(&any.value).unwrap(),
            message
        );
        let register = v10::RegisterRequest {
            sender: "allo1a".into(),
            topic_id: 3,
            owner: "allo1b".into(),
            is_reputer: true,
        };
        let any = MESSAGES.register_any(&register);
        assert_eq!(any.type_url, "/emissions.v9.RegisterRequest");
        assert_eq!(MESSAGES.decode_register(&any.value).unwrap(), register);
    }

    /// `v9_bytes` read as the v10 type `T` and back gives the same bytes:
    /// the client may decode the v9 answer with the v10 type.
    fn same_wire<T: Message + Default>(v9_bytes: Vec<u8>) {
        let read = T::decode(v9_bytes.as_slice()).unwrap();
        assert_eq!(read.encode_to_vec(), v9_bytes);
    }

    #[test]
    fn the_queries_a_worker_makes_answer_the_v10_shapes() {
        same_wire::<v10::GetParamsResponse>(
            v9::GetParamsResponse {
                params: Some(v9::Params {
                    version: "v9".into(),
                    max_serialized_msg_length: 1,
                    registration_fee: "10".into(),
                    data_sending_fee: "10".into(),
                    global_whitelist_enabled: true,
                    ..Default::default()
                }),
            }
            .encode_to_vec(),
        );
        let topic = v9::Topic {
            id: 1,
            creator: "allo1c".into(),
            metadata: "m".into(),
            loss_method: "mse".into(),
            epoch_last_ended: 10,
            epoch_length: 20,
            ground_truth_lag: 30,
            p_norm: "3".into(),
            alpha_regret: "0.1".into(),
            allow_negative: true,
            epsilon: "0.01".into(),
            initial_regret: "0".into(),
            worker_submission_window: 5,
            merit_sortition_alpha: "0.1".into(),
            active_inferer_quantile: "0.2".into(),
            active_forecaster_quantile: "0.2".into(),
            active_reputer_quantile: "0.2".into(),
            c_norm: "0.75".into(),
        };
        let answer = v9::GetTopicResponse {
            topic: Some(topic.clone()),
            weight: "1".into(),
            effective_revenue: "2".into(),
            topic_stake: "3".into(),
        };
        same_wire::<v10::GetTopicResponse>(answer.encode_to_vec());
        let read = v10::GetTopicResponse::decode(answer.encode_to_vec().as_slice()).unwrap();
        let read = read.topic.unwrap();
        assert_eq!(
            (
                read.epoch_length,
                read.worker_submission_window,
                read.c_norm.as_str()
            ),
            (20, 5, "0.75")
        );
        same_wire::<v10::GetUnfulfilledWorkerNoncesResponse>(
            v9::GetUnfulfilledWorkerNoncesResponse {
                nonces: Some(v3::Nonces {
                    nonces: vec![v3::Nonce { block_height: 9 }],
                }),
            }
            .encode_to_vec(),
        );
        same_wire::<v10::GetWorkerSubmissionWindowStatusResponse>(
            v9::GetWorkerSubmissionWindowStatusResponse {
                is_open: true,
                current_nonce_block_height: 1,
                window_start_block: 2,
                window_end_block: 3,
                next_window_start_block: 4,
                next_window_end_block: 5,
                is_registered: true,
                is_whitelisted: true,
                is_topic_active: true,
            }
            .encode_to_vec(),
        );
        same_wire::<v10::IsWorkerRegisteredInTopicIdResponse>(
            v9::IsWorkerRegisteredInTopicIdResponse {
                is_registered: true,
            }
            .encode_to_vec(),
        );
        same_wire::<v10::CanSubmitWorkerPayloadResponse>(
            v9::CanSubmitWorkerPayloadResponse {
                can_submit_worker_payload: true,
            }
            .encode_to_vec(),
        );
        same_wire::<v10::IsWorkerNonceUnfulfilledResponse>(
            v9::IsWorkerNonceUnfulfilledResponse {
                is_worker_nonce_unfulfilled: true,
            }
            .encode_to_vec(),
        );
        same_wire::<v10::GetNextTopicIdResponse>(
            v9::GetNextTopicIdResponse { next_topic_id: 4 }.encode_to_vec(),
        );
        same_wire::<v10::TopicExistsResponse>(
            v9::TopicExistsResponse { exists: true }.encode_to_vec(),
        );
        same_wire::<v10::IsTopicActiveResponse>(
            v9::IsTopicActiveResponse { is_active: true }.encode_to_vec(),
        );
        // And the requests the client sends read as v9's.
        same_wire::<v9::IsWorkerNonceUnfulfilledRequest>(
            v10::IsWorkerNonceUnfulfilledRequest {
                topic_id: 1,
                block_height: 2,
            }
            .encode_to_vec(),
        );
        same_wire::<v9::GetWorkerSubmissionWindowStatusRequest>(
            v10::GetWorkerSubmissionWindowStatusRequest {
                topic_id: 1,
                address: "allo1a".into(),
            }
            .encode_to_vec(),
        );
    }
}
