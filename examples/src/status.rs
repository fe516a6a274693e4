//! The `status` command: "is my node working?" Chain, address, balance,
//! per-topic registration and last recorded submission (checked on chain),
//! and whether the websocket answers.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use allora_sdk::client::{ChainClient, ClientConfig};
use allora_sdk::worker::store::{WindowState, STORE_FILE};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::error::AppError;

/// How long the websocket check may take.
const WEBSOCKET_TIMEOUT: Duration = Duration::from_secs(5);

/// The whole report (also the `--json` output).
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// The node's chain id, when it answered.
    pub chain_id: Option<String>,
    /// Why the chain could not be asked, if it could not.
    pub chain_error: Option<String>,
    /// The worker address.
    pub address: String,
    /// Its balance in uallo, when known.
    pub balance_uallo: Option<u128>,
    /// The websocket check, when one is configured.
    pub websocket: Option<WebsocketStatus>,
    /// Per configured topic.
    pub topics: Vec<TopicStatus>,
}

/// Whether the websocket answered.
#[derive(Debug, Serialize)]
pub struct WebsocketStatus {
    /// Its URL.
    pub url: String,
    /// Whether a websocket handshake succeeded.
    pub reachable: bool,
    /// Why not.
    pub error: Option<String>,
}

/// One topic.
#[derive(Debug, Serialize)]
pub struct TopicStatus {
    /// The topic id.
    pub id: u64,
    /// Whether the worker is registered there (unknown when the query failed).
    pub registered: Option<bool>,
    /// The last window in the submission record.
    pub last_submission: Option<LastSubmission>,
}

/// The newest recorded window of a topic.
#[derive(Debug, Serialize)]
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

#[derive(Debug, Deserialize)]
struct RecordLine {
    topic: u64,
    nonce: i64,
    #[serde(flatten)]
    state: WindowState,
}

/// The newest recorded window per topic. Reads the file without rewriting it,
/// so it is safe while a worker runs.
pub async fn last_windows(data_dir: &Path) -> Result<BTreeMap<u64, (i64, WindowState)>, AppError> {
    let path = data_dir.join(STORE_FILE);
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(AppError::DataDir {
                path: data_dir.to_owned(),
                source,
            })
        }
    };
    let mut last: BTreeMap<u64, (i64, WindowState)> = BTreeMap::new();
    // Later lines win; a torn last line (a crash mid-write) is skipped.
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(record) = serde_json::from_str::<RecordLine>(line) else {
            continue;
        };
        match last.get(&record.topic) {
            Some((nonce, _)) if *nonce > record.nonce => {}
            _ => {
                last.insert(record.topic, (record.nonce, record.state));
            }
        }
    }
    Ok(last)
}

/// Gathers the report.
pub async fn gather(settings: Settings) -> Result<StatusReport, AppError> {
    let key = crate::keys::load(settings.key).await?;
    let address = key.address().clone();
    let client = ChainClient::new(ClientConfig::new(settings.grpc_endpoints.iter()))?;
    let (chain_id, chain_error) = match client.chain_id().await {
        Ok(id) => (Some(id), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let reachable = chain_error.is_none();
    let balance_uallo = if reachable {
        client.balance(&address, allora_sdk::tx::DENOM).await.ok()
    } else {
        None
    };
    let records = last_windows(&settings.data_dir).await?;
    let mut topics = Vec::with_capacity(settings.topics.len());
    for topic in &settings.topics {
        let registered = if reachable {
            client.is_worker_registered(topic.id, &address).await.ok()
        } else {
            None
        };
        let last_submission = match records.get(&topic.id) {
            None => None,
            Some((nonce, state)) => Some(describe(&client, reachable, *nonce, state).await),
        };
        topics.push(TopicStatus {
            id: topic.id,
            registered,
            last_submission,
        });
    }
    let websocket = match &settings.websocket_url {
        None => None,
        Some(url) => Some(check_websocket(url).await),
    };
    Ok(StatusReport {
        chain_id,
        chain_error,
        address: address.to_string(),
        balance_uallo,
        websocket,
        topics,
    })
}

async fn describe(
    client: &ChainClient,
    reachable: bool,
    nonce: i64,
    state: &WindowState,
) -> LastSubmission {
    let (name, tx, height, reason) = match state {
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
    let mut height = height;
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

async fn check_websocket(url: &str) -> WebsocketStatus {
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

/// Writes the report as text.
pub fn write_text(report: &StatusReport, out: &mut dyn Write) -> std::io::Result<()> {
    match (&report.chain_id, &report.chain_error) {
        (Some(id), _) => writeln!(out, "chain:     {id} (node reachable)")?,
        (None, Some(e)) => writeln!(out, "chain:     UNREACHABLE: {e}")?,
        (None, None) => writeln!(out, "chain:     unknown")?,
    }
    writeln!(out, "address:   {}", report.address)?;
    match report.balance_uallo {
        Some(b) => writeln!(out, "balance:   {b} uallo")?,
        None => writeln!(out, "balance:   unknown")?,
    }
    match &report.websocket {
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
    for topic in &report.topics {
        let registered = yes_no(
            topic.registered,
            "registered",
            "NOT registered (run `allora-worker register`)",
        );
        let last = match &topic.last_submission {
            None => "no submission recorded yet".to_owned(),
            Some(s) => {
                let mut text = format!("last nonce {} {}", s.nonce, s.state);
                if let Some(tx) = &s.tx {
                    text.push_str(&format!(", tx {tx}"));
                }
                if let Some(h) = s.height {
                    text.push_str(&format!(", height {h}"));
                }
                if let Some(reason) = &s.reason {
                    text.push_str(&format!(" ({reason})"));
                }
                text.push_str(&format!(", {}", yes_no(s.landed, "landed", "NOT landed")));
                text
            }
        };
        writeln!(out, "topic {}: {registered}; {last}", topic.id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_newest_window_per_topic_wins() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            r#"{"topic":1,"nonce":10,"state":"pending","tx":"AA"}"#,
            r#"{"topic":1,"nonce":10,"state":"confirmed","tx":"AA","height":11}"#,
            r#"{"topic":1,"nonce":20,"state":"abandoned","reason":"window missed"}"#,
            r#"{"topic":2,"nonce":10,"state":"pending","tx":"BB"}"#,
            r#"{"topic":2,"nonce":"#,
        ];
        std::fs::write(dir.path().join(STORE_FILE), lines.join("\n")).unwrap();
        let last = last_windows(dir.path()).await.unwrap();
        assert_eq!(last[&1].0, 20);
        assert!(matches!(last[&1].1, WindowState::Abandoned { .. }));
        assert!(matches!(&last[&2].1, WindowState::Pending { tx: Some(t) } if t == "BB"));
    }

    #[tokio::test]
    async fn a_missing_record_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(last_windows(dir.path()).await.unwrap().is_empty());
    }
}
