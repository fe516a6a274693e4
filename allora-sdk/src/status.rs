//! "Is my node working?": what the chain and the worker's submission record
//! say about a worker, gathered in one report.
//!
//! [`NodeStatus::gather`] asks the chain for its id, the emissions protocol
//! it speaks (and whether this build speaks it), the worker's balance and,
//! for each topic, whether it exists, whether the whitelists admit the
//! worker (`CanSubmitWorkerPayload`) and whether the worker is registered;
//! reads the newest recorded window of each topic from the submission
//! record and each topic's state as the running worker last wrote it
//! (serving, or suspended and why), without disturbing the worker; checks on
//! chain whether that window's transaction landed; and tries the websocket.
//! Nothing here fails because the chain is unreachable:
//! the report says so. The report serializes to JSON and displays as text.
//!
//! ```no_run
//! use allora_sdk::client::{ChainClient, ClientConfig};
//! use allora_sdk::keys::Address;
//! use allora_sdk::status::NodeStatus;
//!
//! # async fn demo(address: Address) -> Result<(), Box<dyn std::error::Error>> {
//! let client = ChainClient::new(ClientConfig::new(["http://127.0.0.1:9090"]))?;
//! let status = NodeStatus::gather(
//!     &client,
//!     &address,
//!     "/var/lib/allora-worker".as_ref(),
//!     &[1, 3],
//!     Some("ws://127.0.0.1:26657/websocket"),
//! )
//! .await?;
//! print!("{status}");
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::client::{ChainClient, ClientError};
use crate::emissions::{EmissionsVersion, WindowMode};
use crate::keys::Address;
use crate::worker::store::{read_record, read_topic_states, StoreError, WindowState};
use crate::worker::TopicState;

/// How long the websocket check may take.
pub const WEBSOCKET_TIMEOUT: Duration = Duration::from_secs(5);

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    /// The node's chain id, when it answered.
    pub chain_id: Option<String>,
    /// Why the chain could not be asked, if it could not.
    pub chain_error: Option<String>,
    /// The chain's emissions protocol, when the chain answered.
    pub emissions: Option<EmissionsReport>,
    /// The worker address.
    pub address: String,
    /// Its balance in uallo, when known.
    pub balance_uallo: Option<u128>,
    /// The websocket check, when a websocket is configured.
    pub websocket: Option<WebsocketStatus>,
    /// Per topic, in the order asked.
    pub topics: Vec<TopicStatus>,
}

/// The emissions protocol the chain speaks (see [`crate::emissions`]).
#[derive(Debug, Clone, Serialize)]
pub struct EmissionsReport {
    /// The version the chain speaks (`v10`), when known.
    pub version: Option<String>,
    /// How its windows are measured (`blocks` or `wall-clock`), when this
    /// build speaks it.
    pub windows: Option<&'static str>,
    /// Whether this build speaks it; unknown when the chain could not be
    /// asked.
    pub supported: Option<bool>,
    /// The versions this build speaks.
    pub supported_versions: Vec<String>,
    /// Whether the version is fixed by configuration rather than detected.
    pub pinned: bool,
    /// What it means, in words.
    pub message: String,
}

impl EmissionsReport {
    /// Asks the chain which protocol it speaks now.
    pub async fn gather(client: &ChainClient) -> EmissionsReport {
        let supported_versions = EmissionsVersion::supported()
            .map(|v| v.to_string())
            .collect();
        let pinned = client.pinned_emissions_version().is_some();
        match client.detect_emissions().await {
            Ok(protocol) => EmissionsReport {
                version: Some(protocol.version().to_string()),
                windows: Some(match protocol.windows() {
                    WindowMode::Blocks => "blocks",
                    WindowMode::WallClock => "wall-clock",
                }),
                supported: Some(true),
                supported_versions,
                pinned,
                message: protocol.to_string(),
            },
            Err(ClientError::UnsupportedEmissions(unsupported)) => EmissionsReport {
                version: unsupported.chain.map(|v| v.to_string()),
                windows: None,
                supported: Some(false),
                supported_versions,
                pinned,
                message: unsupported.to_string(),
            },
            Err(error) => EmissionsReport {
                version: None,
                windows: None,
                supported: None,
                supported_versions,
                pinned,
                message: format!("could not ask the chain: {error}"),
            },
        }
    }
}

/// Whether the websocket answered.
#[derive(Debug, Clone, Serialize)]
pub struct WebsocketStatus {
    /// Its URL.
    pub url: String,
    /// Whether a websocket handshake succeeded.
    pub reachable: bool,
    /// Why not.
    pub error: Option<String>,
}

/// One topic.
#[derive(Debug, Clone, Serialize)]
pub struct TopicStatus {
    /// The topic id.
    pub id: u64,
    /// Whether the topic exists (unknown when the query failed).
    pub exists: Option<bool>,
    /// Whether the whitelists let the worker submit there
    /// (`CanSubmitWorkerPayload`; unknown when the query failed).
    pub whitelisted: Option<bool>,
    /// Whether the worker is registered there (unknown when the query failed).
    pub registered: Option<bool>,
    /// The topic's state as the worker last wrote it (serving, or suspended
    /// with the reason); `None` when no worker ran on this data directory.
    pub worker_state: Option<TopicState>,
    /// The newest window in the submission record.
    pub last_submission: Option<LastSubmission>,
}

/// The newest recorded window of a topic.
#[derive(Debug, Clone, Serialize)]
pub struct LastSubmission {
    /// The nonce.
    pub nonce: i64,
    /// `pending`, `confirmed` or `abandoned`.
    pub state: &'static str,
    /// The transaction hash, when recorded.
    pub tx: Option<String>,
    /// The block height, when known.
    pub height: Option<i64>,
    /// Whether the chain has it: the transaction was found and succeeded (or
    /// the chain reported the payload as already there). Unknown when the
    /// chain could not be asked.
    pub landed: Option<bool>,
    /// Why the window was abandoned.
    pub reason: Option<String>,
}

impl NodeStatus {
    /// Gathers the report for the worker `address` serving `topics`, whose
    /// submission record is in `data_dir`. Fails only when the record cannot
    /// be read.
    pub async fn gather(
        client: &ChainClient,
        address: &Address,
        data_dir: &Path,
        topics: &[u64],
        websocket: Option<&str>,
    ) -> Result<NodeStatus, StoreError> {
        let (chain_id, chain_error) = match client.chain_id().await {
            Ok(id) => (Some(id), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let reachable = chain_error.is_none();
        let emissions = if reachable {
            Some(EmissionsReport::gather(client).await)
        } else {
            None
        };
        let balance_uallo = if reachable {
            client.balance(address, crate::tx::DENOM).await.ok()
        } else {
            None
        };
        let worker_states = read_topic_states(data_dir).await?;
        // Later entries are newer nonces of the same topic.
        let newest: BTreeMap<u64, (i64, WindowState)> = read_record(data_dir)
            .await?
            .into_iter()
            .map(|(topic, nonce, state)| (topic, (nonce, state)))
            .collect();
        let mut topic_statuses = Vec::with_capacity(topics.len());
        for &id in topics {
            let (exists, whitelisted, registered) = if reachable {
                let exists = match client.topic(id).await {
                    Ok(_) => Some(true),
                    Err(ClientError::NotFound(_)) => Some(false),
                    Err(_) => None,
                };
                (
                    exists,
                    client.can_submit_worker_payload(id, address).await.ok(),
                    client.is_worker_registered(id, address).await.ok(),
                )
            } else {
                (None, None, None)
            };
            let last_submission = match newest.get(&id) {
                None => None,
                Some((nonce, state)) => Some(describe(client, reachable, *nonce, state).await),
            };
            topic_statuses.push(TopicStatus {
                id,
                exists,
                whitelisted,
                registered,
                worker_state: worker_states.get(&id).cloned(),
                last_submission,
            });
        }
        let websocket = match websocket {
            None => None,
            Some(url) => Some(check_websocket(url).await),
        };
        Ok(NodeStatus {
            chain_id,
            chain_error,
            emissions,
            address: address.to_string(),
            balance_uallo,
            websocket,
            topics: topic_statuses,
        })
    }
}

async fn describe(
    client: &ChainClient,
    reachable: bool,
    nonce: i64,
    state: &WindowState,
) -> LastSubmission {
    let (name, tx, mut height, reason) = match state {
        WindowState::Pending { tx } => ("pending", tx.clone(), None, None),
        WindowState::Confirmed { tx, height } => ("confirmed", tx.clone(), *height, None),
        WindowState::Abandoned { reason } => ("abandoned", None, None, Some(reason.clone())),
    };
    let mut landed = match state {
        WindowState::Abandoned { .. } => Some(false),
        // Confirmed without a hash: the chain said it already had the payload.
        WindowState::Confirmed { tx: None, .. } => Some(true),
        _ => None,
    };
    if let (Some(hash), true) = (&tx, reachable) {
        landed = match client.tx(hash).await {
            Ok(Some(outcome)) => {
                height = Some(outcome.height);
                Some(outcome.result.is_ok())
            }
            Ok(None) => Some(false),
            Err(error) => {
                tracing::warn!(%error, tx = %hash, "could not look the transaction up");
                None
            }
        };
    }
    LastSubmission {
        nonce,
        state: name,
        tx,
        height,
        landed,
        reason,
    }
}

pub(crate) async fn check_websocket(url: &str) -> WebsocketStatus {
    let attempt =
        tokio::time::timeout(WEBSOCKET_TIMEOUT, tokio_tungstenite::connect_async(url)).await;
    let error = match attempt {
        Ok(Ok((mut stream, _))) => {
            // Best effort: the check is over either way.
            let _ = stream.close(None).await;
            None
        }
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {}s", WEBSOCKET_TIMEOUT.as_secs())),
    };
    WebsocketStatus {
        url: url.to_owned(),
        reachable: error.is_none(),
        error,
    }
}

fn yes_no(value: Option<bool>, yes: &str, no: &str) -> String {
    match value {
        Some(true) => yes.to_owned(),
        Some(false) => no.to_owned(),
        None => "unknown".to_owned(),
    }
}

/// The report as text, one line per fact.
impl fmt::Display for NodeStatus {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.chain_id, &self.chain_error) {
            (Some(id), _) => writeln!(out, "chain:     {id} (node reachable)")?,
            (None, Some(e)) => writeln!(out, "chain:     UNREACHABLE: {e}")?,
            (None, None) => writeln!(out, "chain:     unknown")?,
        }
        if let Some(emissions) = &self.emissions {
            let pinned = if emissions.pinned { " (pinned)" } else { "" };
            match emissions.supported {
                Some(true) => writeln!(
                    out,
                    "emissions: {} ({}){pinned}",
                    emissions.version.as_deref().unwrap_or("?"),
                    match emissions.windows {
                        Some("wall-clock") => "wall-clock windows",
                        _ => "windows in blocks",
                    }
                )?,
                Some(false) => writeln!(out, "emissions: UNSUPPORTED: {}", emissions.message)?,
                None => writeln!(out, "emissions: unknown: {}", emissions.message)?,
            }
        }
        writeln!(out, "address:   {}", self.address)?;
        match self.balance_uallo {
            Some(b) => writeln!(out, "balance:   {b} uallo")?,
            None => writeln!(out, "balance:   unknown")?,
        }
        match &self.websocket {
            None => writeln!(
                out,
                "websocket: not configured (windows are found by polling)"
            )?,
            Some(ws) if ws.reachable => writeln!(out, "websocket: {} reachable", ws.url)?,
            Some(ws) => writeln!(
                out,
                "websocket: {} NOT reachable: {}",
                ws.url,
                ws.error.as_deref().unwrap_or("unknown error")
            )?,
        }
        for topic in &self.topics {
            if topic.exists == Some(false) {
                writeln!(
                    out,
                    "topic {}: does NOT exist on this chain (check the topic id)",
                    topic.id
                )?;
                continue;
            }
            let registered = yes_no(
                topic.registered,
                "registered",
                "NOT registered (register the worker in it)",
            );
            write!(out, "topic {}: {registered}; ", topic.id)?;
            if topic.whitelisted == Some(false) {
                write!(
                    out,
                    "NOT whitelisted (the topic's worker whitelist does not admit the worker); "
                )?;
            }
            match &topic.worker_state {
                Some(TopicState::Suspended(s)) => {
                    write!(out, "worker: SUSPENDED ({}: {}); ", s.reason, s.detail)?
                }
                Some(TopicState::Serving) => write!(out, "worker: serving; ")?,
                None => {}
            }
            match &topic.last_submission {
                None => writeln!(out, "no submission recorded yet")?,
                Some(s) => {
                    write!(out, "last nonce {} {}", s.nonce, s.state)?;
                    if let Some(tx) = &s.tx {
                        write!(out, ", tx {tx}")?;
                    }
                    if let Some(h) = s.height {
                        write!(out, ", height {h}")?;
                    }
                    if let Some(reason) = &s.reason {
                        write!(out, " ({reason})")?;
                    }
                    writeln!(out, ", {}", yes_no(s.landed, "landed", "NOT landed"))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_names_every_fact() {
        let status = NodeStatus {
            chain_id: None,
            chain_error: Some("connection refused".into()),
            emissions: None,
            address: "allo1xyz".into(),
            balance_uallo: None,
            websocket: None,
            topics: vec![
                TopicStatus {
                    id: 1,
                    exists: None,
                    whitelisted: None,
                    registered: None,
                    worker_state: None,
                    last_submission: Some(LastSubmission {
                        nonce: 20,
                        state: "abandoned",
                        tx: None,
                        height: None,
                        landed: Some(false),
                        reason: Some("window missed".into()),
                    }),
                },
                TopicStatus {
                    id: 2,
                    exists: Some(true),
                    whitelisted: Some(false),
                    registered: Some(false),
                    worker_state: Some(TopicState::Suspended(crate::worker::Suspension {
                        reason: crate::worker::SuspendReason::NotPermitted,
                        detail: "ask the admin".into(),
                        since_height: Some(5),
                        next_check_height: Some(35),
                    })),
                    last_submission: None,
                },
                TopicStatus {
                    id: 3,
                    exists: Some(false),
                    whitelisted: None,
                    registered: None,
                    worker_state: None,
                    last_submission: None,
                },
            ],
        };
        let text = status.to_string();
        assert!(text.contains("UNREACHABLE: connection refused"), "{text}");
        assert!(
            text.contains("topic 1: unknown; last nonce 20 abandoned (window missed), NOT landed"),
            "{text}"
        );
        assert!(
            text.contains("topic 2: NOT registered") && text.contains("no submission recorded"),
            "{text}"
        );
        assert!(
            text.contains("NOT whitelisted")
                && text.contains("worker: SUSPENDED (not_permitted: ask the admin)"),
            "{text}"
        );
        assert!(text.contains("topic 3: does NOT exist"), "{text}");
    }

    #[test]
    fn the_emissions_line_says_whether_the_chain_can_be_served() {
        let report = |supported, message: &str| EmissionsReport {
            version: Some("v11".into()),
            windows: None,
            supported,
            supported_versions: vec!["v9".into(), "v10".into()],
            pinned: false,
            message: message.into(),
        };
        let mut status = NodeStatus {
            chain_id: Some("allora-testnet-1".into()),
            chain_error: None,
            emissions: Some(report(
                Some(false),
                "the chain speaks emissions v11; this build of allora-rs supports v9, v10: upgrade allora-rs",
            )),
            address: "allo1xyz".into(),
            balance_uallo: Some(5),
            websocket: None,
            topics: Vec::new(),
        };
        let text = status.to_string();
        assert!(
            text.contains("emissions: UNSUPPORTED: the chain speaks emissions v11; this build of allora-rs supports v9, v10"),
            "{text}"
        );
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["emissions"]["supported"], false);
        assert_eq!(json["emissions"]["version"], "v11");
        status.emissions = Some(EmissionsReport {
            version: Some("v9".into()),
            windows: Some("blocks"),
            pinned: true,
            ..report(Some(true), "emissions v9 (windows in blocks)")
        });
        let text = status.to_string();
        assert!(
            text.contains("emissions: v9 (windows in blocks) (pinned)"),
            "{text}"
        );
    }
}
