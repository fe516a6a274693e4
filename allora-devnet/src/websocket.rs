//! The CometBFT JSON-RPC websocket (`/websocket`): `subscribe`,
//! `unsubscribe` and `unsubscribe_all`, with `NewBlockEvents` frames sent to
//! each subscription whose query matches a block's events.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::error::DevnetError;
use super::events::BlockEvents;
use super::faults::FaultSwitches;

/// The only event kind the devnet publishes.
const NEW_BLOCK_EVENTS: &str = "NewBlockEvents";

/// One `key = 'value'` condition of a subscription query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    key: String,
    value: String,
}

/// A parsed CometBFT query: conditions joined by `AND`, each compared for
/// equality (the only operator the worker protocol uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    conditions: Vec<Condition>,
}

impl Query {
    /// Parses `key = 'value' [AND key = 'value' ...]`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut conditions = Vec::new();
        let mut rest = text.trim();
        loop {
            let key_end = rest
                .find(|c: char| c == '=' || c.is_whitespace())
                .ok_or_else(|| format!("expected `=` after {rest:?}"))?;
            let key = &rest[..key_end];
            if key.is_empty() {
                return Err("empty key".to_owned());
            }
            rest = rest[key_end..].trim_start();
            rest = rest
                .strip_prefix('=')
                .ok_or_else(|| format!("only `=` is supported, at {rest:?}"))?
                .trim_start();
            rest = rest
                .strip_prefix('\'')
                .ok_or_else(|| format!("expected a quoted value at {rest:?}"))?;
            let value_end = rest
                .find('\'')
                .ok_or_else(|| "unterminated quoted value".to_owned())?;
            conditions.push(Condition {
                key: key.to_owned(),
                value: rest[..value_end].to_owned(),
            });
            rest = rest[value_end + 1..].trim_start();
            if rest.is_empty() {
                break;
            }
            rest = rest
                .strip_prefix("AND")
                .or_else(|| rest.strip_prefix("and"))
                .ok_or_else(|| format!("expected AND at {rest:?}"))?
                .trim_start();
        }
        Ok(Query { conditions })
    }

    fn matches(&self, flattened: &BTreeMap<String, Vec<String>>) -> bool {
        self.conditions.iter().all(|c| {
            flattened
                .get(&c.key)
                .is_some_and(|values| values.contains(&c.value))
        })
    }
}

/// The `"type.key": [values]` map CometBFT sends beside the data.
fn flatten(block: &BlockEvents) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    map.insert("tm.event".to_owned(), vec![NEW_BLOCK_EVENTS.to_owned()]);
    for event in &block.events {
        for attr in &event.attributes {
            map.entry(format!("{}.{}", event.kind, attr.key))
                .or_default()
                .push(attr.value.clone());
        }
    }
    map
}

/// The JSON-RPC result frame for one subscription and block.
fn frame(id: &Value, query: &str, block: &BlockEvents, flattened: &Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "result": {
            "query": query,
            "data": {
                "type": "tendermint/event/NewBlockEvents",
                "value": {
                    "height": block.height.to_string(),
                    "events": block.events,
                    "num_txs": block.num_txs.to_string(),
                }
            },
            "events": flattened,
        }
    })
}

#[derive(Clone)]
struct WsState {
    blocks: broadcast::Sender<Arc<BlockEvents>>,
    faults: Arc<FaultSwitches>,
    kick: watch::Receiver<u64>,
}

/// The websocket server: can be stopped and started again on the same port,
/// and can drop all its connections, so tests can exercise reconnects.
#[derive(Debug)]
pub(crate) struct WebsocketServer {
    addr: SocketAddr,
    blocks: broadcast::Sender<Arc<BlockEvents>>,
    faults: Arc<FaultSwitches>,
    kick: watch::Sender<u64>,
    task: Option<JoinHandle<()>>,
}

impl WebsocketServer {
    /// Binds `addr` and starts serving.
    pub(crate) async fn start(
        addr: SocketAddr,
        blocks: broadcast::Sender<Arc<BlockEvents>>,
        faults: Arc<FaultSwitches>,
    ) -> Result<Self, DevnetError> {
        let (kick, _) = watch::channel(0);
        let mut server = WebsocketServer {
            addr,
            blocks,
            faults,
            kick,
            task: None,
        };
        server.listen().await?;
        Ok(server)
    }

    async fn listen(&mut self) -> Result<(), DevnetError> {
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| DevnetError::Bind {
                server: "websocket",
                addr: self.addr,
                source,
            })?;
        // Port 0 resolves once; a restart reuses the same port so clients
        // can reconnect to the URL they were given.
        if let Ok(local) = listener.local_addr() {
            self.addr = local;
        }
        let state = WsState {
            blocks: self.blocks.clone(),
            faults: Arc::clone(&self.faults),
            kick: self.kick.subscribe(),
        };
        let app = Router::new()
            .route("/websocket", get(upgrade))
            .with_state(state);
        self.task = Some(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "devnet websocket server stopped");
            }
        }));
        Ok(())
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the server is accepting connections.
    pub(crate) fn is_running(&self) -> bool {
        self.task.is_some()
    }

    /// Closes every open connection; the server keeps accepting new ones.
    pub(crate) fn drop_connections(&self) {
        self.kick.send_modify(|generation| *generation += 1);
    }

    /// Stops accepting connections and closes the open ones.
    pub(crate) fn stop(&mut self) -> Result<(), DevnetError> {
        let task = self
            .task
            .take()
            .ok_or(DevnetError::WebsocketState("already stopped"))?;
        task.abort();
        self.drop_connections();
        Ok(())
    }

    /// Starts serving again on the same address.
    pub(crate) async fn restart(&mut self) -> Result<(), DevnetError> {
        if self.task.is_some() {
            return Err(DevnetError::WebsocketState("already running"));
        }
        self.listen().await
    }
}

impl Drop for WebsocketServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.drop_connections();
    }
}

async fn upgrade(ws: WebSocketUpgrade, State(state): State<WsState>) -> Response {
    ws.on_upgrade(move |socket| connection(socket, state))
}

/// One client's subscriptions: JSON-RPC id and query text, by query.
struct Subscription {
    id: Value,
    text: String,
    query: Query,
}

async fn connection(socket: WebSocket, state: WsState) {
    let mut kick = state.kick;
    kick.mark_unchanged();
    let mut blocks = state.blocks.subscribe();
    let (mut sink, mut stream) = socket.split();
    let mut subscriptions: Vec<Subscription> = Vec::new();
    loop {
        tokio::select! {
            _ = kick.changed() => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => continue,
                };
                let reply = handle_request(text.as_str(), &mut subscriptions);
                if sink.send(Message::Text(reply.to_string().into())).await.is_err() {
                    break;
                }
            }
            block = blocks.recv() => {
                let block = match block {
                    Ok(block) => block,
                    // A slow client misses blocks, as with CometBFT's
                    // bounded subscription buffers.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if state.faults.websocket_stalled() {
                    // Fault injection: a stalled node sends nothing.
                    continue;
                }
                let flattened = flatten(&block);
                let flattened_json = json!(flattened);
                for sub in subscriptions.iter().filter(|s| s.query.matches(&flattened)) {
                    let message = frame(&sub.id, &sub.text, &block, &flattened_json);
                    if sink.send(Message::Text(message.to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn rpc_error(id: &Value, code: i64, message: &str, data: String) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message, "data": data },
    })
}

fn handle_request(text: &str, subscriptions: &mut Vec<Subscription>) -> Value {
    let request: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return rpc_error(&Value::Null, -32700, "Parse error", e.to_string()),
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    let query_text = request
        .get("params")
        .and_then(|p| p.get("query"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let ok = json!({ "jsonrpc": "2.0", "id": id, "result": {} });
    match method {
        "subscribe" => {
            let Some(text) = query_text else {
                return rpc_error(&id, -32602, "Invalid params", "missing query".to_owned());
            };
            let query = match Query::parse(&text) {
                Ok(q) => q,
                Err(e) => {
                    return rpc_error(
                        &id,
                        -32603,
                        "Internal error",
                        format!("failed to parse query: {e}"),
                    )
                }
            };
            if subscriptions.iter().any(|s| s.text == text) {
                return rpc_error(
                    &id,
                    -32603,
                    "Internal error",
                    "already subscribed".to_owned(),
                );
            }
            subscriptions.push(Subscription { id, text, query });
            ok
        }
        "unsubscribe" => {
            let Some(text) = query_text else {
                return rpc_error(&id, -32602, "Invalid params", "missing query".to_owned());
            };
            let before = subscriptions.len();
            subscriptions.retain(|s| s.text != text);
            if subscriptions.len() == before {
                return rpc_error(
                    &id,
                    -32603,
                    "Internal error",
                    "subscription not found".to_owned(),
                );
            }
            ok
        }
        "unsubscribe_all" => {
            subscriptions.clear();
            ok
        }
        other => rpc_error(
            &id,
            -32601,
            "Method not found",
            format!("unknown method {other:?}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{json_int, Event, WINDOW_OPENED};

    fn block() -> BlockEvents {
        BlockEvents {
            height: 120,
            events: vec![Event::typed(
                WINDOW_OPENED,
                vec![
                    ("topic_id", json_int(7)),
                    ("nonce_block_height", json_int(120)),
                    ("window_end_block", json_int(130)),
                ],
            )
            .in_end_block()],
            num_txs: 0,
        }
    }

    #[test]
    fn query_with_attribute_matches_only_its_topic() {
        let flat = flatten(&block());
        let q = Query::parse(
            "tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowOpened.topic_id = '\"7\"'",
        )
        .unwrap();
        assert!(q.matches(&flat));
        let other = Query::parse(
            "tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowOpened.topic_id = '\"8\"'",
        )
        .unwrap();
        assert!(!other.matches(&flat));
        assert!(Query::parse("tm.event='NewBlockEvents'")
            .unwrap()
            .matches(&flat));
        assert!(!Query::parse("tm.event='NewBlock'").unwrap().matches(&flat));
    }

    #[test]
    fn malformed_queries_are_refused() {
        assert!(Query::parse("tm.event > 3").is_err());
        assert!(Query::parse("tm.event='x").is_err());
        assert!(Query::parse("a='b' OR c='d'").is_err());
    }

    #[test]
    fn frame_has_cometbft_shape() {
        let b = block();
        let flat = json!(flatten(&b));
        let f = frame(&json!("sub-1"), "q", &b, &flat);
        assert_eq!(f["result"]["data"]["value"]["height"], "120");
        assert_eq!(f["result"]["data"]["value"]["num_txs"], "0");
        let attrs = &f["result"]["data"]["value"]["events"][0]["attributes"];
        assert_eq!(attrs[0]["key"], "nonce_block_height");
        assert_eq!(attrs[1]["value"], "\"7\"");
        assert_eq!(attrs[3]["key"], "mode");
        assert_eq!(
            f["result"]["events"]["emissions.v10.EventWorkerSubmissionWindowOpened.topic_id"][0],
            "\"7\""
        );
    }
}
