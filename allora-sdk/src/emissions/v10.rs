//! Emissions v10 (allora-chain v0.17 on; `x/emissions/proto/emissions/v10/`).
//!
//! Inferences carry labeled values (`InputInference.values`, field 7); a
//! single-valued inference is sent as the official Python SDK 1.3.0 sends
//! it, `value = "0"` and one value labeled `y`. From chain v0.18
//! (emissions store migration v17) the query service also answers the
//! scheduler-epoch queries `GetEpoch` and `GetTopicEpochs`.

use prost::Message;

use super::{MessageSet, Query, WindowEventAttributes};
use crate::proto::emissions::v10;

/// The v10 message set.
pub(super) const MESSAGES: MessageSet = MessageSet {
    version: super::EmissionsVersion::V10,
    query_service: "emissions.v10.QueryService",
    msg_service: "emissions.v10.MsgService",
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
        (Query::LatestNetworkInferences, "GetLatestNetworkInferences"),
        (
            Query::WorkerSubmissionWindowStatus,
            "GetWorkerSubmissionWindowStatus",
        ),
        (Query::Epoch, "GetEpoch"),
        (Query::TopicEpochs, "GetTopicEpochs"),
    ],
    insert_worker_payload: "/emissions.v10.InsertWorkerPayloadRequest",
    register: "/emissions.v10.RegisterRequest",
    window_opened: "emissions.v10.EventWorkerSubmissionWindowOpened",
    window_closed: "emissions.v10.EventWorkerSubmissionWindowClosed",
    window_attributes: WindowEventAttributes {
        topic_id: "topic_id",
        nonce: "nonce_block_height",
        window_end: "window_end_block",
    },
    labeled_values: true,
    encode_bundle: |bundle| bundle.encode_to_vec(),
    encode_insert: |message| message.encode_to_vec(),
    decode_insert: |bytes| v10::InsertWorkerPayloadRequest::decode(bytes),
    encode_register: |message| message.encode_to_vec(),
    decode_register: |bytes| v10::RegisterRequest::decode(bytes),
};

#[cfg(test)]
mod tests {
    use prost::Name;

    use super::*;

    #[test]
    fn the_type_urls_are_the_generated_ones() {
        assert_eq!(
            MESSAGES.insert_worker_payload_type_url(),
            v10::InsertWorkerPayloadRequest::type_url()
        );
        assert_eq!(
            MESSAGES.register_type_url(),
            v10::RegisterRequest::type_url()
        );
        assert_eq!(
            MESSAGES.query_path(Query::TopicEpochs).as_deref(),
            Some("/emissions.v10.QueryService/GetTopicEpochs")
        );
    }

    #[test]
    fn messages_round_trip_unchanged() {
        let register = v10::RegisterRequest {
            sender: "allo1a".into(),
            topic_id: 3,
            owner: "allo1a".into(),
            is_reputer: false,
        };
        let any = MESSAGES.register_any(&register);
        assert_eq!(any.value, register.encode_to_vec());
        assert_eq!(MESSAGES.decode_register(&any.value).unwrap(), register);
    }
}
