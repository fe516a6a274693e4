//! Emissions v10 (allora-chain v0.17 on; `x/emissions/proto/emissions/v10/`).
//!
//! Inferences carry labeled values (`InputInference.values`, field 7); a
//! single-valued inference is sent as the official Python SDK 1.3.0 sends
//! it, `value = "0"` and one value labeled `y`. From chain v0.18
//! (emissions store migration v17) the query service also answers the
//! scheduler-epoch queries `GetEpoch` and `GetTopicEpochs`. Its messages
//! are the shapes payloads are described in, so they encode as they are.

use prost::Message;

use super::MessageSet;
use crate::proto::emissions::v10;

/// The v10 message set.
pub(super) const MESSAGES: MessageSet = message_set!(
    10,
    labeled_values: true,
    encode_bundle: |bundle| bundle.encode_to_vec(),
    encode_insert: |message| message.encode_to_vec(),
    decode_insert: |bytes| Ok(v10::InsertWorkerPayloadRequest::decode(bytes)?),
);
