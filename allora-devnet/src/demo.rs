//! A ready-to-run demo: a devnet with demo topics, a worker key that is
//! funded and registered in each, and the demo model serving them, so a
//! fresh checkout shows the real submit loop with no set-up at all (it is
//! what `allora-worker` runs without configuration).
//!
//! The key lives in a key file under the given directory (created on the
//! first run with mode 0600, reused afterwards), the submission record in a
//! `devnet` directory beside it, cleared at each start because every devnet
//! starts at height 0. The demo model's values are made up.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let demo = allora_devnet::demo::start(3, "allora-worker-data".as_ref()).await?;
//! let summary = demo
//!     .worker()?
//!     .build()?
//!     .run_until(tokio::time::sleep(std::time::Duration::from_secs(30)))
//!     .await?;
//! println!("{summary}");
//! demo.handle.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use allora_infer::demo::{Clock, DemoModel};
use allora_sdk::client::{ChainClient, ClientConfig, ClientError};
use allora_sdk::keyfile;
use allora_sdk::keys::{KeyError, WorkerKey};
use allora_sdk::worker::store::STORE_FILE;
use allora_sdk::worker::{TopicSpec, Worker, WorkerBuilder};

use crate::{Devnet, DevnetError, DevnetHandle, TopicConfig};

/// Blocks between two nonces of a demo topic.
pub const EPOCH_LENGTH: i64 = 10;
/// Blocks a demo topic's window stays open.
pub const SUBMISSION_WINDOW: i64 = 5;
/// The demo devnet's block interval.
pub const BLOCK_INTERVAL: Duration = Duration::from_secs(1);
/// What the demo key's account is funded with, in uallo.
pub const FUNDING_UALLO: u128 = 1_000_000_000_000;
/// The key file's name in the demo directory.
pub const KEY_FILE_NAME: &str = "worker.key";
/// Tokens of the demo topics, in order; more topics reuse them.
const TOKENS: [&str; 3] = ["ETH", "BTC", "SOL"];

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The key file could not be read or created.
    #[error("demo key file: {0}")]
    Key(#[from] KeyError),
    /// The record directory could not be prepared.
    #[error("cannot prepare the data directory {path}: {source}; check its permissions")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The devnet could not start.
    #[error("the demo devnet could not start: {0}")]
    Devnet(#[from] DevnetError),
    /// The chain client could not be built.
    #[error("chain client: {0}")]
    Client(#[from] ClientError),
    /// A blocking task failed.
    #[error("internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running demo.
#[derive(Debug)]
pub struct Demo {
    /// The devnet (stopped when dropped or shut down).
    pub handle: DevnetHandle,
    /// The worker key, funded and registered in every demo topic.
    pub key: WorkerKey,
    /// Its key file.
    pub key_file: PathBuf,
    /// Whether this start created the key file.
    pub key_created: bool,
    /// Where the worker's submission record lives.
    pub data_dir: PathBuf,
    /// The demo topics, served by the demo model.
    pub topics: Vec<TopicSpec>,
}

/// The token of demo topic `id` (1-based): ETH, BTC, SOL, ETH...
pub fn token(id: u64) -> &'static str {
    let index = usize::try_from(id.saturating_sub(1)).unwrap_or(0) % TOKENS.len();
    TOKENS[index]
}

/// Starts a demo devnet with `topic_count` topics (epoch
/// [`EPOCH_LENGTH`], window [`SUBMISSION_WINDOW`], blocks every
/// [`BLOCK_INTERVAL`]), with the key of `dir`/[`KEY_FILE_NAME`] (created
/// when missing) funded with [`FUNDING_UALLO`] and registered in each.
pub async fn start(topic_count: u64, dir: &Path) -> Result<Demo, DemoError> {
    let key_file = dir.join(KEY_FILE_NAME);
    let data_dir = dir.join("devnet");
    let (mnemonic, key_created) = {
        let key_file = key_file.clone();
        tokio::task::spawn_blocking(move || keyfile::load_or_create(&key_file)).await??
    };
    let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
    let what = if key_created {
        "created a new"
    } else {
        "using the existing"
    };
    tracing::info!(path = %key_file.display(), address = %key.address(), "{what} worker key file (mode 0600)");
    {
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || reset_record(&data_dir)).await??;
    }
    let mut builder = Devnet::builder().block_interval(BLOCK_INTERVAL);
    for id in 1..=topic_count {
        builder = builder.topic(
            TopicConfig::new(id, EPOCH_LENGTH, SUBMISSION_WINDOW)
                .metadata(format!("demo {} price", token(id))),
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
        "demo devnet started (epoch {EPOCH_LENGTH} blocks, window {SUBMISSION_WINDOW}); the demo model's values are made up"
    );
    let model = Arc::new(DemoModel::new(Clock::System));
    let topics = (1..=topic_count)
        .map(|id| TopicSpec::inference(id, model.clone()).with_token(token(id)))
        .collect();
    Ok(Demo {
        handle,
        key,
        key_file,
        key_created,
        data_dir,
        topics,
    })
}

impl Demo {
    /// A client of the demo devnet.
    pub fn client(&self) -> Result<ChainClient, DemoError> {
        Ok(ChainClient::new(ClientConfig::new([self
            .handle
            .grpc_endpoint()]))?)
    }

    /// A worker builder wired to the demo: its client, key, record,
    /// websocket, chain id, block time and topics, with timings that suit
    /// 1-second blocks. Add an observer, then build.
    pub fn worker(&self) -> Result<WorkerBuilder, DemoError> {
        let mut builder = Worker::builder()
            .client(self.client()?)
            .key(self.key.clone())
            .data_dir(self.data_dir.clone())
            .websocket(self.handle.websocket_url())
            .chain_id(self.handle.chain_id())
            .block_time(BLOCK_INTERVAL)
            .poll_interval(Duration::from_secs(2))
            .provider_timeout(Duration::from_secs(2));
        for topic in &self.topics {
            builder = builder.topic(topic.clone());
        }
        Ok(builder)
    }
}

/// Removes the submission record of an earlier demo: every devnet starts at
/// height 0, so its nonces would make the worker skip windows it never
/// served here.
fn reset_record(data_dir: &Path) -> Result<(), DemoError> {
    let io = |source| DemoError::DataDir {
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
        assert_eq!(token(1), "ETH");
        assert_eq!(token(3), "SOL");
        assert_eq!(token(4), "ETH");
    }

    #[tokio::test]
    async fn a_demo_starts_with_a_funded_registered_key_kept_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let first = start(2, dir.path()).await.unwrap();
        assert!(first.key_created);
        let address = first.key.address().clone();
        assert_eq!(
            first.handle.account(&address).unwrap().balance,
            FUNDING_UALLO
        );
        assert!(first.handle.is_worker_registered(2, &address));
        assert_eq!(first.topics[1].token.as_deref(), Some("BTC"));
        first.handle.shutdown().await;
        std::fs::write(dir.path().join("devnet").join(STORE_FILE), b"old").unwrap();
        let second = start(1, dir.path()).await.unwrap();
        assert!(!second.key_created);
        assert_eq!(second.key.address(), &address);
        assert!(!second.data_dir.join(STORE_FILE).exists());
        second.handle.shutdown().await;
    }
}
