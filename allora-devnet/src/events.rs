//! Chain events in the shape CometBFT publishes them.
//!
//! The Cosmos SDK turns a typed (protobuf) event into an ABCI event whose
//! attribute values are the JSON encodings of the fields, so integers
//! (uint64/int64 are strings in proto3 JSON) arrive JSON-quoted: `"\"7\""`.
//! Attributes are sorted by key; message events get a trailing `msg_index`
//! attribute and block-level events a trailing `mode` attribute
//! (`BeginBlock`/`EndBlock`).

use serde::Serialize;

/// Type of the event that opens a worker submission window.
pub const WINDOW_OPENED: &str = "emissions.v10.EventWorkerSubmissionWindowOpened";
/// Type of the event that closes a worker submission window.
pub const WINDOW_CLOSED: &str = "emissions.v10.EventWorkerSubmissionWindowClosed";
/// Type of the event emitted when a worker registers in a topic.
pub const WORKER_REGISTERED: &str = "emissions.v10.EventWorkerRegistered";
/// Type of the event emitted when a reputer registers in a topic.
pub const REPUTER_REGISTERED: &str = "emissions.v10.EventReputerRegistered";
/// Type of the event emitted when an inferer's payload is admitted to a
/// nonce's active set (and only then).
pub const INSERT_INFERER_PAYLOAD: &str = "emissions.v10.EventInsertInfererPayload";
/// Type of the event emitted when a forecast keeps at least one element.
pub const INSERT_FORECASTER_PAYLOAD: &str = "emissions.v10.EventInsertForecasterPayload";

/// One attribute of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventAttribute {
    /// The attribute key.
    pub key: String,
    /// The value, JSON-encoded for typed events.
    pub value: String,
    /// Whether CometBFT indexes it (always true here).
    pub index: bool,
}

/// An ABCI event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// The event type, e.g. [`WINDOW_OPENED`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The attributes in the order the chain emits them.
    pub attributes: Vec<EventAttribute>,
}

impl Event {
    /// A typed event: `fields` are (name, JSON value) pairs; they are sorted
    /// by name as the SDK does.
    pub(crate) fn typed(kind: &str, fields: Vec<(&str, String)>) -> Self {
        let mut fields = fields;
        fields.sort_by(|a, b| a.0.cmp(b.0));
        Event {
            kind: kind.to_owned(),
            attributes: fields
                .into_iter()
                .map(|(key, value)| EventAttribute {
                    key: key.to_owned(),
                    value,
                    index: true,
                })
                .collect(),
        }
    }

    /// Marks the event as emitted by the message at `index` of its
    /// transaction (the SDK appends `msg_index` to every message event).
    pub(crate) fn in_message(mut self, index: usize) -> Self {
        self.attributes.push(EventAttribute {
            key: "msg_index".to_owned(),
            value: index.to_string(),
            index: true,
        });
        self
    }

    /// Marks the event as emitted by EndBlock.
    pub(crate) fn in_end_block(mut self) -> Self {
        self.attributes.push(EventAttribute {
            key: "mode".to_owned(),
            value: "EndBlock".to_owned(),
            index: true,
        });
        self
    }

    /// The value of an attribute.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| a.value.as_str())
    }

    pub(crate) fn to_proto(&self) -> cosmrs::proto::tendermint::abci::Event {
        use cosmrs::proto::tendermint::abci;
        abci::Event {
            r#type: self.kind.clone(),
            attributes: self
                .attributes
                .iter()
                .map(|a| abci::EventAttribute {
                    key: a.key.clone(),
                    value: a.value.clone(),
                    index: a.index,
                })
                .collect(),
        }
    }
}

/// The proto3-JSON encoding of a 64-bit integer: a quoted decimal.
pub(crate) fn json_int(value: impl std::fmt::Display) -> String {
    format!("\"{value}\"")
}

/// The JSON encoding of a string.
pub(crate) fn json_str(value: &str) -> String {
    serde_json::Value::String(value.to_owned()).to_string()
}

/// The events of one block, as published to websocket subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEvents {
    /// The block height.
    pub height: i64,
    /// Events from FinalizeBlock outside transactions (EndBlock).
    pub events: Vec<Event>,
    /// Number of transactions in the block.
    pub num_txs: usize,
}
