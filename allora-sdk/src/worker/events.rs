//! Window events from the node's CometBFT websocket, kept alive through
//! drops and stalls.
//!
//! One subscription to `tm.event='NewBlockEvents'` carries every block's
//! end-block events, so the stream also ticks once per block (the worker's
//! clock) and needs no per-topic subscription (CometBFT limits those per
//! client). Worker window events are picked out and parsed; attribute values
//! arrive JSON-quoted (`"42"`), as the chain emits typed events. Window
//! events of every emissions version are read (`emissions.vN.Event…`), and
//! each block that carries some says which version emitted them
//! ([`ChainEvent::EmissionsEvents`]), so a worker notices a chain that
//! upgraded under it.
//!
//! On a drop, a stall (no frame for the stall timeout) or a subscription
//! error, the connection is re-opened with exponential backoff and the
//! subscription re-sent.

use std::collections::HashSet;
use std::time::Duration;

use allora_infer::Backoff;

use crate::emissions::{EmissionsVersion, EpochWindow, MessageSet};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// The event type opening a worker window (emissions v10; each version's
/// is in its [`MessageSet`]).
pub const WINDOW_OPENED: &str = "emissions.v10.EventWorkerSubmissionWindowOpened";
/// The event type closing a worker window (emissions v10).
pub const WINDOW_CLOSED: &str = "emissions.v10.EventWorkerSubmissionWindowClosed";
/// The subscription query sent.
pub const NEW_BLOCK_EVENTS_QUERY: &str = "tm.event='NewBlockEvents'";
const SUBSCRIPTION_ID: &str = "allora-rs-new-block-events";

/// Something the chain announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// A block was finalized.
    Block {
        /// Its height.
        height: i64,
    },
    /// A worker window opened.
    WindowOpened {
        /// The topic.
        topic_id: u64,
        /// The nonce (the block height that opened it).
        nonce: i64,
        /// The last block that accepts payloads, when announced.
        window_end: Option<i64>,
    },
    /// A worker window closed.
    WindowClosed {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
    },
    /// A worker window of a scheduler epoch, with its times (wall-clock
    /// windows, found by polling the topic's epochs).
    EpochWindow(EpochWindow),
    /// The block's window events were emitted by this emissions version.
    EmissionsEvents {
        /// The version.
        version: EmissionsVersion,
    },
    /// The chain refused an emissions query in the version in use (an
    /// upgrade may have happened).
    EmissionsRefused {
        /// The chain's answer.
        reason: String,
    },
    /// The event connection is up (`true`) or down (`false`).
    Connection(bool),
}

/// Settings of the event stream.
#[derive(Debug, Clone)]
pub struct EventStreamConfig {
    /// The websocket URL (`ws://host:26657/websocket`).
    pub url: String,
    /// Reconnect if no frame arrives for this long.
    pub stall_timeout: Duration,
    /// First reconnect delay (jittered into its upper half); doubles up to
    /// `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
    /// Deadline of the connection handshake.
    pub connect_timeout: Duration,
}

impl EventStreamConfig {
    /// Defaults for a URL: 30 s stall timeout, 250 ms to 10 s backoff.
    pub fn new(url: impl Into<String>) -> Self {
        EventStreamConfig {
            url: url.into(),
            stall_timeout: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Runs until cancelled, sending the events of `topics` (all topics when
/// empty) to `out`. Returns when cancelled or when `out` is closed.
pub async fn run(
    config: EventStreamConfig,
    topics: HashSet<u64>,
    out: mpsc::Sender<ChainEvent>,
    cancel: CancellationToken,
) {
    // Jitter spreads the reconnects of many workers after a node restart.
    let backoff = Backoff::new(config.initial_backoff, config.max_backoff);
    let mut retry = 0;
    loop {
        let session = tokio::select! {
            _ = cancel.cancelled() => return,
            r = session(&config, &topics, &out) => r,
        };
        if out.send(ChainEvent::Connection(false)).await.is_err() {
            return;
        }
        match session {
            // A session that got going resets the backoff.
            Ok(true) => retry = 0,
            Ok(false) => {}
            Err(SessionEnd::ReceiverGone) => return,
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff.delay(retry)) => {}
        }
        retry = retry.saturating_add(1);
    }
}

enum SessionEnd {
    ReceiverGone,
}

/// One connection. `Ok(true)` when it delivered frames before ending.
async fn session(
    config: &EventStreamConfig,
    topics: &HashSet<u64>,
    out: &mpsc::Sender<ChainEvent>,
) -> Result<bool, SessionEnd> {
    let connect = tokio_tungstenite::connect_async(config.url.as_str());
    let mut ws = match tokio::time::timeout(config.connect_timeout, connect).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(error)) => {
            tracing::warn!(url = %config.url, %error, "event websocket connect failed");
            return Ok(false);
        }
        Err(_) => {
            tracing::warn!(url = %config.url, "event websocket connect timed out");
            return Ok(false);
        }
    };
    let subscribe = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "subscribe",
        "id": SUBSCRIPTION_ID,
        "params": { "query": NEW_BLOCK_EVENTS_QUERY },
    });
    if ws.send(Message::text(subscribe.to_string())).await.is_err() {
        return Ok(false);
    }
    let mut delivered = false;
    let mut announced = false;
    loop {
        let frame = match tokio::time::timeout(config.stall_timeout, ws.next()).await {
            Err(_) => {
                tracing::warn!(url = %config.url, "event websocket stalled; reconnecting");
                return Ok(delivered);
            }
            Ok(None) | Ok(Some(Err(_))) => return Ok(delivered),
            Ok(Some(Ok(frame))) => frame,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Ping(payload) => {
                let _ = ws.send(Message::Pong(payload)).await;
                continue;
            }
            Message::Close(_) => return Ok(delivered),
            _ => continue,
        };
        match parse_frame(text.as_str(), topics) {
            Frame::Ack => {
                if !announced {
                    announced = true;
                    out.send(ChainEvent::Connection(true))
                        .await
                        .map_err(|_| SessionEnd::ReceiverGone)?;
                }
            }
            Frame::Events(events) => {
                delivered = true;
                for event in events {
                    out.send(event)
                        .await
                        .map_err(|_| SessionEnd::ReceiverGone)?;
                }
            }
            Frame::Error(message) => {
                tracing::warn!(url = %config.url, %message, "event subscription refused");
                return Ok(delivered);
            }
            Frame::Other => {}
        }
    }
}

/// What a websocket frame says.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// The subscription was acknowledged.
    Ack,
    /// Events of one block (the block tick first).
    Events(Vec<ChainEvent>),
    /// A JSON-RPC error.
    Error(String),
    /// Anything else (other ids, unknown shapes).
    Other,
}

/// Parses one frame, keeping window events of `topics` (all when empty).
pub fn parse_frame(text: &str, topics: &HashSet<u64>) -> Frame {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Frame::Other;
    };
    if value.get("id").and_then(Value::as_str) != Some(SUBSCRIPTION_ID) {
        return Frame::Other;
    }
    if let Some(error) = value.get("error") {
        return Frame::Error(error.to_string());
    }
    let Some(data) = value.pointer("/result/data") else {
        return if value.get("result").is_some() {
            Frame::Ack
        } else {
            Frame::Other
        };
    };
    if data.get("type").and_then(Value::as_str) != Some("tendermint/event/NewBlockEvents") {
        return Frame::Other;
    }
    let Some(height) = data.pointer("/value/height").and_then(int_of) else {
        return Frame::Other;
    };
    let mut events = vec![ChainEvent::Block { height }];
    let list = data
        .pointer("/value/events")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut versions: Vec<EmissionsVersion> = Vec::new();
    for event in list {
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some((version, opened)) = window_event(kind) else {
            continue;
        };
        if !versions.contains(&version) {
            versions.push(version);
            events.push(ChainEvent::EmissionsEvents { version });
        }
        // A version this build does not speak is read with the newest
        // attribute names.
        let names = version
            .messages()
            .unwrap_or(MessageSet::newest())
            .window_event_attributes();
        let attr = |key: &str| -> Option<i64> {
            event
                .get("attributes")?
                .as_array()?
                .iter()
                .find(|a| a.get("key").and_then(Value::as_str) == Some(key))
                .and_then(|a| a.get("value"))
                .and_then(int_of)
        };
        let (Some(topic), Some(nonce)) = (attr(names.topic_id), attr(names.nonce)) else {
            continue;
        };
        let Ok(topic_id) = u64::try_from(topic) else {
            continue;
        };
        if !topics.is_empty() && !topics.contains(&topic_id) {
            continue;
        }
        events.push(if opened {
            ChainEvent::WindowOpened {
                topic_id,
                nonce,
                window_end: attr(names.window_end),
            }
        } else {
            ChainEvent::WindowClosed { topic_id, nonce }
        });
    }
    Frame::Events(events)
}

/// The version of a window event type (`emissions.vN.EventWorkerSubmission
/// Window{Opened,Closed}`), and whether it opens the window.
fn window_event(kind: &str) -> Option<(EmissionsVersion, bool)> {
    let version = EmissionsVersion::of_name(kind)?;
    let name = kind.rsplit('.').next()?;
    match name {
        "EventWorkerSubmissionWindowOpened" => Some((version, true)),
        "EventWorkerSubmissionWindowClosed" => Some((version, false)),
        _ => None,
    }
}

/// An integer from a JSON number, a string, or a JSON-quoted string (`"\"42\""`).
fn int_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let unquoted = serde_json::from_str::<String>(s).unwrap_or_else(|_| s.clone());
            unquoted.trim().parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(events: &str) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":"{SUBSCRIPTION_ID}","result":{{"query":"tm.event='NewBlockEvents'","data":{{"type":"tendermint/event/NewBlockEvents","value":{{"height":"120","events":{events},"num_txs":"0"}}}}}}}}"#
        )
    }

    /// The frame of block 120 whose emissions events (`version`) are
    /// `events`.
    fn block_120(version: EmissionsVersion, events: impl IntoIterator<Item = ChainEvent>) -> Frame {
        let mut all = vec![
            ChainEvent::Block { height: 120 },
            ChainEvent::EmissionsEvents { version },
        ];
        all.extend(events);
        Frame::Events(all)
    }

    fn opened(topic_id: u64, nonce: i64, window_end: Option<i64>) -> ChainEvent {
        ChainEvent::WindowOpened {
            topic_id,
            nonce,
            window_end,
        }
    }

    fn closed(topic_id: u64, nonce: i64) -> ChainEvent {
        ChainEvent::WindowClosed { topic_id, nonce }
    }

    #[test]
    fn parses_window_events_with_quoted_values() {
        let text = frame(
            r#"[{"type":"emissions.v10.EventWorkerSubmissionWindowOpened","attributes":[{"key":"nonce_block_height","value":"\"120\"","index":true},{"key":"topic_id","value":"\"7\"","index":true},{"key":"window_end_block","value":"\"130\"","index":true},{"key":"mode","value":"EndBlock","index":true}]},
                {"type":"emissions.v10.EventWorkerSubmissionWindowClosed","attributes":[{"key":"nonce_block_height","value":"\"110\""},{"key":"topic_id","value":"\"8\""}]},
                {"type":"coin_spent","attributes":[]}]"#,
        );
        let all = parse_frame(&text, &HashSet::new());
        assert_eq!(
            all,
            block_120(
                EmissionsVersion::V10,
                [opened(7, 120, Some(130)), closed(8, 110)]
            )
        );
        let only_8 = parse_frame(&text, &HashSet::from([8]));
        assert_eq!(only_8, block_120(EmissionsVersion::V10, [closed(8, 110)]));
    }

    #[test]
    fn acks_errors_and_noise() {
        let ack = format!(r#"{{"jsonrpc":"2.0","id":"{SUBSCRIPTION_ID}","result":{{}}}}"#);
        assert_eq!(parse_frame(&ack, &HashSet::new()), Frame::Ack);
        let err = format!(
            r#"{{"jsonrpc":"2.0","id":"{SUBSCRIPTION_ID}","error":{{"code":-32603,"message":"max subscriptions"}}}}"#
        );
        assert!(matches!(
            parse_frame(&err, &HashSet::new()),
            Frame::Error(_)
        ));
        assert_eq!(parse_frame("not json", &HashSet::new()), Frame::Other);
        assert_eq!(
            parse_frame(r#"{"id":"other","result":{}}"#, &HashSet::new()),
            Frame::Other
        );
        // A window event without its attributes is skipped, the block still ticks.
        let partial = frame(
            r#"[{"type":"emissions.v10.EventWorkerSubmissionWindowOpened","attributes":[{"key":"topic_id","value":"\"7\""}]}]"#,
        );
        assert_eq!(
            parse_frame(&partial, &HashSet::new()),
            block_120(EmissionsVersion::V10, [])
        );
    }

    #[test]
    fn window_events_of_every_version_say_which_version_emitted_them() {
        let text = frame(
            r#"[{"type":"emissions.v9.EventWorkerSubmissionWindowOpened","attributes":[{"key":"nonce_block_height","value":"\"120\""},{"key":"topic_id","value":"\"7\""},{"key":"window_end_block","value":"\"125\""}]},
                {"type":"emissions.v11.EventWorkerSubmissionWindowOpened","attributes":[{"key":"nonce_block_height","value":"\"120\""},{"key":"topic_id","value":"\"8\""}]},
                {"type":"emissions.v11.EventWorkerRegistered","attributes":[]}]"#,
        );
        assert_eq!(
            parse_frame(&text, &HashSet::new()),
            block_120(
                EmissionsVersion::V9,
                [
                    opened(7, 120, Some(125)),
                    ChainEvent::EmissionsEvents {
                        version: EmissionsVersion::new(11)
                    },
                    opened(8, 120, None),
                ]
            )
        );
    }
}
