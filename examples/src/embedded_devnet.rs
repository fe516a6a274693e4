//! `run` without any configuration: an in-process devnet with demo topics,
//! a local key funded and registered there, and the demo model as provider,
//! so a fresh checkout shows the real submit loop with one command.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use allora_devnet::{Devnet, DevnetHandle, TopicConfig};
use allora_sdk::keys::WorkerKey;
use allora_sdk::worker::{store::STORE_FILE, TopicSpec};

use crate::config::{DEFAULT_DATA_DIR, DEFAULT_KEY_FILE_NAME};
use crate::error::AppError;
use allora_infer::demo::{Clock, DemoModel};

/// Blocks between two nonces of a demo topic.
pub const EPOCH_LENGTH: i64 = 10;
/// Blocks a demo topic's window stays open.
pub const SUBMISSION_WINDOW: i64 = 5;
/// The devnet's block interval.
pub const BLOCK_INTERVAL: Duration = Duration::from_secs(1);
/// What the worker account is funded with, in uallo.
const FUNDING_UALLO: u128 = 1_000_000_000_000;
/// Tokens of the demo topics, in order; more topics reuse them.
const TOKENS: [&str; 3] = ["ETH", "BTC", "SOL"];

/// A running embedded devnet and what the worker needs to use it.
#[derive(Debug)]
pub struct EmbeddedDevnet {
    /// The devnet (stopped when dropped or shut down).
    pub handle: DevnetHandle,
    /// The worker key (funded and registered in every demo topic).
    pub key: WorkerKey,
    /// Where the submission record of this devnet run lives.
    pub data_dir: PathBuf,
    /// The demo topics with their providers.
    pub topics: Vec<TopicSpec>,
}

/// The token of demo topic `id` (1-based).
pub fn demo_token(id: u64) -> String {
    let index = usize::try_from(id.saturating_sub(1)).unwrap_or(0) % TOKENS.len();
    TOKENS[index].to_owned()
}

/// Starts the devnet with `topic_count` topics, loads or creates the key file
/// under `./allora-worker-data`, funds and registers the key.
pub async fn start(topic_count: u64) -> Result<EmbeddedDevnet, AppError> {
    let base = PathBuf::from(DEFAULT_DATA_DIR);
    let key_path = base.join(DEFAULT_KEY_FILE_NAME);
    let data_dir = base.join("devnet");
    let (key, created) = {
        let key_path = key_path.clone();
        tokio::task::spawn_blocking(move || crate::keys::load_or_create(&key_path)).await??
    };
    if created {
        tracing::info!(path = %key_path.display(), address = %key.address(), "created a new worker key file (mode 0600)");
    } else {
        tracing::info!(path = %key_path.display(), address = %key.address(), "using the existing worker key file");
    }
    // Every devnet starts at height 0, so a record of an earlier devnet's
    // nonces would make the worker skip windows it never served here.
    {
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || reset_record(&data_dir)).await??;
    }

    let mut builder = Devnet::builder().block_interval(BLOCK_INTERVAL);
    for id in 1..=topic_count {
        builder = builder.topic(
            TopicConfig::new(id, EPOCH_LENGTH, SUBMISSION_WINDOW)
                .metadata(format!("demo {} price", demo_token(id))),
        );
    }
    let handle = builder.build().start().await?;
    handle.fund(key.address(), FUNDING_UALLO)?;
    for id in 1..=topic_count {
        handle.register_worker(id, key.address())?;
    }
    tracing::info!(
        chain_id = handle.chain_id(),
        grpc = %handle.grpc_endpoint(),
        websocket = %handle.websocket_url(),
        topics = topic_count,
        "embedded devnet started (1 s blocks, epoch {EPOCH_LENGTH}, window {SUBMISSION_WINDOW}); the demo model's values are made up"
    );

    let model = Arc::new(DemoModel::new(Clock::System));
    let topics = (1..=topic_count)
        .map(|id| TopicSpec::inference(id, model.clone()).with_token(demo_token(id)))
        .collect();
    Ok(EmbeddedDevnet {
        handle,
        key,
        data_dir,
        topics,
    })
}

fn reset_record(data_dir: &Path) -> Result<(), AppError> {
    let io = |source| AppError::DataDir {
        path: data_dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    match std::fs::remove_file(data_dir.join(STORE_FILE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_tokens_cycle() {
        assert_eq!(demo_token(1), "ETH");
        assert_eq!(demo_token(3), "SOL");
        assert_eq!(demo_token(4), "ETH");
    }
}
