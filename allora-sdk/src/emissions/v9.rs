//! Emissions v9 (allora-chain v0.16 and earlier;
//! `x/emissions/proto/emissions/v9/`).
//!
//! An inference is one value, carried in `InputInference.value` (field 4);
//! the message has no labeled values (no field 7). Everything else a worker
//! sends (forecasts, the bundle, its signature and pubkey, registration) is
//! field for field as in v10, under `emissions.v9` type URLs. The queries a
//! worker makes answer the v10 shapes, but for the topic (no label settings)
//! and `GetLatestNetworkInferences` (an unlabeled bundle, not served here).
//!
//! So a payload's v9 bytes are its v10 bytes without labeled values, and a
//! v9 payload reads as v10 once read as v9 (which skips a field 7).

use prost::Message;

use super::MessageSet;
use crate::proto::emissions::{v10, v9};

/// The v9 message set.
pub(super) const MESSAGES: MessageSet = message_set!(
    9,
    labeled_values: false,
    encode_bundle: |bundle| {
        let mut bundle = bundle.clone();
        drop_labeled_values(Some(&mut bundle));
        bundle.encode_to_vec()
    },
    encode_insert: |message| {
        let mut message = message.clone();
        let bundle = message.worker_data_bundle.as_mut();
        drop_labeled_values(bundle.and_then(|b| b.inference_forecasts_bundle.as_mut()));
        message.encode_to_vec()
    },
    decode_insert: read_as_v9::<v9::InsertWorkerPayloadRequest, _>,
);

/// Leaves out the inference's labeled values, which have no place in v9
/// (payloads built for v9 carry none): what is left encodes to the v9
/// message's bytes, field for field.
fn drop_labeled_values(bundle: Option<&mut v10::InputInferenceForecastBundle>) {
    if let Some(inference) = bundle.and_then(|b| b.inference.as_mut()) {
        inference.values.clear();
    }
}

/// Reads `bytes` as the v9 message `V9` (as a v9 node does: a field v9
/// does not have is skipped) and gives it in its v10 shape `V10`, which
/// has every field of `V9` under the same number and type.
fn read_as_v9<V9, V10>(bytes: &[u8]) -> Result<V10, prost::DecodeError>
where
    V9: Message + Default,
    V10: Message + Default,
{
    V10::decode(V9::decode(bytes)?.encode_to_vec().as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::emissions::v3;

    /// A bundle of an inference of 3012.5 and a forecast, with a labeled
    /// value or without.
    fn bundle(labeled: bool) -> v10::InputInferenceForecastBundle {
        let values = if labeled {
            vec![v10::InputLabeledValue {
                label: "y".into(),
                value: "1".into(),
            }]
        } else {
            Vec::new()
        };
        v10::InputInferenceForecastBundle {
            inference: Some(v10::InputInference {
                topic_id: 1,
                block_height: 1234,
                inferer: "allo1w".into(),
                value: "3012.5".into(),
                extra_data: b"x".to_vec(),
                proof: "p".into(),
                values,
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
        }
    }

    fn payload(bundle: v10::InputInferenceForecastBundle) -> v10::InsertWorkerPayloadRequest {
        v10::InsertWorkerPayloadRequest {
            sender: "allo1w".into(),
            worker_data_bundle: Some(v10::InputWorkerDataBundle {
                worker: "allo1w".into(),
                nonce: Some(v3::Nonce { block_height: 1234 }),
                topic_id: 1,
                inference_forecasts_bundle: Some(bundle),
                inferences_forecasts_bundle_signature: vec![7; 64],
                pubkey: "02ab".into(),
            }),
        }
    }

    #[test]
    fn the_value_is_field_4_and_there_is_no_field_7() {
        let plain = bundle(false);
        let bytes = MESSAGES.encode_bundle(&plain);
        // A v10 bundle without labeled values encodes to the same bytes.
        assert_eq!(bytes, plain.encode_to_vec());
        let read = v9::InputInferenceForecastBundle::decode(bytes.as_slice()).unwrap();
        assert_eq!(read.encode_to_vec(), bytes);
        assert_eq!(read.inference.unwrap().value, "3012.5");
        // Labeled values of the richer shape have no place on the v9 wire.
        assert_eq!(MESSAGES.encode_bundle(&bundle(true)), bytes);
        assert_eq!(
            MESSAGES
                .insert_worker_payload_any(&payload(bundle(true)))
                .value,
            MESSAGES.insert_worker_payload_any(&payload(plain)).value
        );
    }

    #[test]
    fn payloads_round_trip_through_the_v9_wire() {
        let message = payload(bundle(false));
        let any = MESSAGES.insert_worker_payload_any(&message);
        assert_eq!(any.type_url, "/emissions.v9.InsertWorkerPayloadRequest");
        let v9_message = v9::InsertWorkerPayloadRequest::decode(any.value.as_slice()).unwrap();
        assert_eq!(v9_message.encode_to_vec(), any.value);
        assert_eq!(
            MESSAGES.decode_insert_worker_payload(&any.value).unwrap(),
            message
        );
        // A field 7 that reaches a v9 reader is skipped, as a v9 node does.
        let labeled = payload(bundle(true)).encode_to_vec();
        assert_eq!(
            MESSAGES.decode_insert_worker_payload(&labeled).unwrap(),
            message
        );
    }

    #[test]
    fn the_v9_topic_reads_as_the_v10_one() {
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
            topic: Some(topic),
            weight: "1".into(),
            effective_revenue: "2".into(),
            topic_stake: "3".into(),
        }
        .encode_to_vec();
        let read = v10::GetTopicResponse::decode(answer.as_slice()).unwrap();
        assert_eq!(read.encode_to_vec(), answer);
        let read = read.topic.unwrap();
        assert_eq!(
            (
                read.epoch_length,
                read.worker_submission_window,
                read.c_norm.as_str()
            ),
            (20, 5, "0.75")
        );
    }
}
