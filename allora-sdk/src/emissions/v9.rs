//! Emissions v9 (allora-chain v0.16 and earlier;
//! `x/emissions/proto/emissions/v9/`).
//!
//! An inference is one value, carried in `InputInference.value` (field 4);
//! the message has no labeled values (no field 7). Everything else a worker
//! sends (forecasts, the bundle, its signature and pubkey, registration) is
//! field for field as in v10, under `emissions.v9` type URLs. The queries a
//! worker makes answer the v10 shapes, but for the topic (no type, arity or
//! label settings: fields 23 to 30) and `GetLatestNetworkInferences` (an
//! unlabeled bundle, not served here).
//!
//! So a v9 message is its v10 message with the labeled values left out:
//! proto3 writes no unset field, and the bytes are the v9 message's, field
//! for field. The official Python SDK's v9 classes give the same bytes
//! (`tests/golden_vectors_v9.rs`).

use prost::Message;

use super::{MessageDecodeError, MessageSet};
use crate::proto::emissions::v10;

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
    decode_insert: decode_insert,
);

/// Leaves out the inference's labeled values, which have no place in v9
/// (payloads built for v9 carry none): what is left encodes to the v9
/// message's bytes, field for field.
fn drop_labeled_values(bundle: Option<&mut v10::InputInferenceForecastBundle>) {
    if let Some(inference) = bundle.and_then(|b| b.inference.as_mut()) {
        inference.values.clear();
    }
}

/// Reads a v9 payload message. A field 7 in the inference is a field v9
/// does not have, which the chain's transaction decoder refuses (an
/// unknown field below number 1024 is critical): so is it here.
fn decode_insert(bytes: &[u8]) -> Result<v10::InsertWorkerPayloadRequest, MessageDecodeError> {
    let message = v10::InsertWorkerPayloadRequest::decode(bytes)?;
    let labeled = message
        .worker_data_bundle
        .as_ref()
        .and_then(|b| b.inference_forecasts_bundle.as_ref())
        .and_then(|b| b.inference.as_ref())
        .is_some_and(|inference| !inference.values.is_empty());
    if labeled {
        return Err(MessageDecodeError::UnknownField {
            message: "emissions.v9.InputInference",
            field: 7,
            wire_type: "bytes",
        });
    }
    Ok(message)
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
        // The inference (field 1 of the bundle) has v9's fields 1 to 6 and
        // no field 7; field 4 carries the value.
        let inference = plain.inference.as_ref().unwrap().encode_to_vec();
        assert_eq!(&bytes[2..2 + inference.len()], inference.as_slice());
        assert_eq!(field_numbers(&inference), [1, 2, 3, 4, 5, 6]);
        assert!(inference
            .windows(8)
            .any(|w| w == [0x22, 0x06, b'3', b'0', b'1', b'2', b'.', b'5']));
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
        assert_eq!(any.value, message.encode_to_vec());
        assert_eq!(
            MESSAGES.decode_insert_worker_payload(&any.value).unwrap(),
            message
        );
        // A field 7 that reaches a v9 reader is an unknown field, which the
        // chain refuses.
        let labeled = payload(bundle(true)).encode_to_vec();
        let refused = MESSAGES.decode_insert_worker_payload(&labeled).unwrap_err();
        assert_eq!(
            refused.to_string(),
            r#"errUnknownField "emissions.v9.InputInference": {TagNum: 7, WireType:"bytes"}"#
        );
    }

    /// The numbers of the fields in `bytes`, in their order.
    fn field_numbers(mut bytes: &[u8]) -> Vec<u32> {
        use prost::encoding::{decode_key, skip_field, DecodeContext};
        let mut numbers = Vec::new();
        while !bytes.is_empty() {
            let (number, wire_type) = decode_key(&mut bytes).unwrap();
            skip_field(wire_type, number, &mut bytes, DecodeContext::default()).unwrap();
            numbers.push(number);
        }
        numbers
    }

    #[test]
    fn the_v9_topic_is_the_v10_one_without_its_label_settings() {
        let topic = v10::Topic {
            id: 1,
            epoch_length: 20,
            worker_submission_window: 5,
            c_norm: "0.75".into(),
            ..v10::Topic::default()
        };
        assert_eq!(field_numbers(&topic.encode_to_vec()), [1, 9, 17, 22]);
        // Each of v10's label settings (fields 23 to 30) writes its field
        // once set; unset, none reaches the wire.
        let labeled = v10::Topic {
            topic_type: v10::TopicType::Regression.into(),
            output_arity: v10::TopicOutputArity::Single.into(),
            require_unity: true,
            unity_tolerance: "0.01".into(),
            max_labels_per_submission: 3,
            label_whitelist: vec!["y".into()],
            label_default_value: "0".into(),
            label_case_sensitive: true,
            ..topic.clone()
        };
        assert_eq!(
            field_numbers(&labeled.encode_to_vec()),
            [1, 9, 17, 22, 23, 24, 25, 26, 27, 28, 29, 30]
        );
    }
}
