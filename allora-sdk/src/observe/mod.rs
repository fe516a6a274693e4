//! Watching a running worker: several [`WorkerObserver`](crate::worker::WorkerObserver)s at once
//! ([`FanOut`]), the balance kept current ([`spawn_balance_refresh`]), a
//! line per submission on standard output ([`SubmissionPrinter`]), and,
//! with the `prometheus` feature, a Prometheus registry with its `/metrics`
//! and `/healthz` server (module `prometheus`).
//!
//! Exporters to other systems (CloudWatch in `allora-aws`) implement
//! [`WorkerObserver`](crate::worker::WorkerObserver) too, so a binary composes them without the worker
//! knowing any of them:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use allora_sdk::client::{ChainClient, ClientConfig};
//! use allora_sdk::keys::WorkerKey;
//! use allora_sdk::observe::{spawn_balance_refresh, FanOut, DEFAULT_BALANCE_REFRESH};
//! use allora_sdk::worker::{Submission, WorkerObserver};
//! use tokio_util::sync::CancellationToken;
//!
//! /// Prints every submission.
//! struct Printer;
//! impl WorkerObserver for Printer {
//!     fn submission(&self, s: &Submission) {
//!         println!("topic {} nonce {} included", s.topic_id, s.nonce);
//!     }
//! }
//!
//! # async fn demo(key: WorkerKey) -> Result<(), Box<dyn std::error::Error>> {
//! let client = ChainClient::new(ClientConfig::new(["http://127.0.0.1:9090"]))?;
//! let observer: Arc<dyn WorkerObserver> = Arc::new(FanOut::new().with(Arc::new(Printer)));
//! let stop = CancellationToken::new();
//! let refresh = spawn_balance_refresh(
//!     client.clone(),
//!     key.address().clone(),
//!     Arc::clone(&observer),
//!     DEFAULT_BALANCE_REFRESH,
//!     stop.clone(),
//! );
//! // ... Worker::builder().observer(observer) ...
//! stop.cancel();
//! refresh.await?;
//! # Ok(())
//! # }
//! ```

mod balance;
mod fanout;
mod print;
#[cfg(feature = "prometheus")]
pub mod prometheus;

pub use balance::{spawn_balance_refresh, DEFAULT_BALANCE_REFRESH};
pub use fanout::FanOut;
pub use print::SubmissionPrinter;
