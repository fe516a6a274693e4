//! The worker: turns each open submission window of its topics into exactly
//! one confirmed on-chain payload, or a recorded reason why not.
//!
//! Windows are discovered from the node's websocket events and, as a
//! fallback that keeps working while the websocket is down, by polling the
//! open nonces. Each window gets one provider call with a deadline inside the
//! window, payloads that are ready together go out in one transaction (one
//! sequence number serves many topics), and a persisted record under the data
//! directory keeps a restart from submitting twice.
//!
//! A complete worker program (only `allora-sdk` and `tokio` needed):
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), allora_sdk::WorkerError> {
//!     let summary = allora_sdk::Worker::builder()
//!         .endpoints(["https://allora-grpc.testnet.allora.network:443"])
//!         .websocket("wss://allora-rpc.testnet.allora.network/websocket")
//!         .mnemonic_env("ALLORA_MNEMONIC")
//!         .data_dir("allora-worker-data")
//!         .topic_fn(69, |req| 2650.5 + req.nonce as f64 / 1e9)
//!         .run_until(tokio::signal::ctrl_c())
//!         .await?;
//!     println!("{summary}");
//!     Ok(())
//! }
//! ```
//!
//! Programs that want each result, or their own client and key, use
//! [`Worker::start`]:
//!
//! ```no_run
//! use std::sync::Arc;
//! use allora_sdk::client::{ChainClient, ClientConfig};
//! use allora_sdk::keys::{Mnemonic, WorkerKey};
//! use allora_sdk::worker::{TopicSpec, Worker};
//! use allora_sdk::{FnProvider, InferenceRequest, StreamExt};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mnemonic: Mnemonic = std::env::var("ALLORA_MNEMONIC")?.parse()?;
//! let worker = Worker::builder()
//!     .client(ChainClient::new(ClientConfig::new(["http://127.0.0.1:9090"]))?)
//!     .websocket("ws://127.0.0.1:26657/websocket")
//!     .key(WorkerKey::from_mnemonic(&mnemonic, "")?)
//!     .data_dir("/var/lib/allora-worker")
//!     .topic(TopicSpec::inference(1, Arc::new(FnProvider::new(|_: &InferenceRequest| 2650.5))))
//!     .build()?;
//! let (handle, mut results) = worker.start().await?;
//! while let Some(result) = results.next().await {
//!     match result {
//!         Ok(s) => println!("topic {} nonce {}: included in {:?}", s.topic_id, s.nonce, s.height),
//!         Err(e) => eprintln!("{e}"),
//!     }
//! }
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Inside, one module per concern: the event loop (`engine`) moves
//! each window through the window book (`book`), with deadlines from the
//! chain's clock (`clock`), provider calls (`provider`), batching
//! (`batch`), the decision after each chain answer (`decision`, a pure
//! function over the remedy policy of [`crate::pipeline::remedy`]) and its
//! effects (`outcome`), discovery (`discovery`: websocket and polling) and
//! the record writer task (`writer`).

mod batch;
mod book;
mod builder;
mod clock;
mod decision;
mod discovery;
mod engine;
mod error;
pub mod events;
mod outcome;
mod provider;
mod run;
pub mod store;
mod topics;
mod writer;

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use allora_infer::{ForecastProvider, InferenceProvider};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use builder::WorkerBuilder;
pub use error::WorkerError;
pub use run::RunSummary;

use crate::client::ChainClient;
use crate::client::ClientError;
use crate::emissions::{EmissionsStatus, EmissionsVersion};
use crate::keys::WorkerKey;
use crate::pipeline::{GasPolicy, GasPriceSource, PipelineConfig, TxPipeline};
use crate::tx::{Fee, FeeTier};

/// One topic the worker serves, and where its values come from.
#[derive(Clone)]
pub struct TopicSpec {
    /// The topic.
    pub topic_id: u64,
    /// Gives the inference, when the worker infers.
    pub inference: Option<Arc<dyn InferenceProvider>>,
    /// Gives the forecast, when the worker forecasts.
    pub forecast: Option<Arc<dyn ForecastProvider>>,
    /// A token hint passed to providers (`"ETH"`), e.g. for URL templates.
    pub token: Option<String>,
}

impl TopicSpec {
    /// A topic served with inferences.
    pub fn inference(topic_id: u64, provider: Arc<dyn InferenceProvider>) -> Self {
        TopicSpec {
            topic_id,
            inference: Some(provider),
            forecast: None,
            token: None,
        }
    }

    /// A topic served with forecasts.
    pub fn forecast(topic_id: u64, provider: Arc<dyn ForecastProvider>) -> Self {
        TopicSpec {
            topic_id,
            inference: None,
            forecast: Some(provider),
            token: None,
        }
    }

    /// Adds a forecast provider to an inference topic.
    pub fn with_forecast(mut self, provider: Arc<dyn ForecastProvider>) -> Self {
        self.forecast = Some(provider);
        self
    }

    /// Sets the token hint.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

impl std::fmt::Debug for TopicSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicSpec")
            .field("topic_id", &self.topic_id)
            .field("inference", &self.inference.is_some())
            .field("forecast", &self.forecast.is_some())
            .field("token", &self.token)
            .finish()
    }
}

/// How a window ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// This worker's transaction carrying the payload was included.
    Included,
    /// The chain already had this worker's payload for the window (from an
    /// earlier run or an earlier transaction that landed late).
    AlreadySubmitted,
}

/// Time spent in each stage of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// Provider call.
    pub inference: Duration,
    /// From discovering the window to the mempool accepting the payload.
    pub window_to_broadcast: Option<Duration>,
    /// From the mempool accepting it to seeing it in a block.
    pub broadcast_to_included: Option<Duration>,
}

/// One window served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The topic.
    pub topic_id: u64,
    /// The nonce.
    pub nonce: i64,
    /// How it ended.
    pub outcome: Outcome,
    /// The transaction, when this run sent it.
    pub txhash: Option<String>,
    /// Its block.
    pub height: Option<i64>,
    /// The fee of the whole transaction.
    pub fee: Option<Fee>,
    /// Payloads in the same transaction.
    pub batch_size: usize,
    /// Stage timings.
    pub latency: Latency,
}

/// Hooks for metrics: called by the worker as things happen. Every method
/// has an empty default; implementations must not block.
pub trait WorkerObserver: Send + Sync + 'static {
    /// A window was served.
    fn submission(&self, _submission: &Submission) {}
    /// A window failed (or a start-up step did).
    fn failure(&self, _error: &WorkerError) {}
    /// The account balance, in uallo.
    fn balance(&self, _uallo: u128) {}
    /// A provider call finished (successfully or not).
    fn inference_latency(&self, _topic_id: u64, _latency: Duration) {}
    /// The event websocket went up or down.
    fn websocket(&self, _connected: bool) {}
    /// A new block was seen.
    fn block(&self, _height: i64) {}
    /// The chain's emissions protocol: at start, and whenever it changes (an
    /// upgrade the worker follows, or a version this build does not speak,
    /// when nothing can be signed: unhealthy until it speaks a supported
    /// one again).
    fn emissions(&self, _status: &EmissionsStatus) {}
}

struct NoopObserver;
impl WorkerObserver for NoopObserver {}

/// Settings of a worker.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Topics served.
    pub topics: Vec<TopicSpec>,
    /// Where the submission record lives.
    pub data_dir: PathBuf,
    /// Websocket URL of the node's CometBFT RPC, if any.
    pub websocket: Option<String>,
    /// Chain id; taken from the node when `None`, checked against it otherwise.
    pub chain_id: Option<String>,
    /// How often open nonces are polled while the websocket is down.
    pub poll_interval: Duration,
    /// How often they are polled while the websocket is up (a safety net).
    pub poll_interval_connected: Duration,
    /// Block time assumed until measured.
    pub block_time: Duration,
    /// Longest a provider may take, whatever the window allows.
    pub provider_timeout: Duration,
    /// How long ready payloads wait for others to share their transaction.
    pub batch_linger: Duration,
    /// Most payloads per transaction.
    pub max_messages_per_tx: usize,
    /// Register in topics where the worker is not registered.
    pub auto_register: bool,
    /// Gas policy.
    pub gas: GasPolicy,
    /// Gas price source.
    pub gas_price: GasPriceSource,
    /// Fee tier.
    pub fee_tier: FeeTier,
    /// Time allowed for in-flight work at shutdown.
    pub shutdown_grace: Duration,
    /// The emissions version the chain is expected to speak (a network
    /// preset's); a different one detected at start is logged, then
    /// followed.
    pub expected_emissions: Option<EmissionsVersion>,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("topics", &self.topics)
            .field("data_dir", &self.data_dir)
            .field("websocket", &self.websocket)
            .field("chain_id", &self.chain_id)
            .field("poll_interval", &self.poll_interval)
            .field("block_time", &self.block_time)
            .field("max_messages_per_tx", &self.max_messages_per_tx)
            .finish_non_exhaustive()
    }
}

/// A configured worker, not yet running.
pub struct Worker {
    client: ChainClient,
    key: Arc<WorkerKey>,
    config: WorkerConfig,
    observer: Arc<dyn WorkerObserver>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("address", &self.key.address().as_str())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Starts building a worker.
    pub fn builder() -> WorkerBuilder {
        WorkerBuilder::default()
    }

    /// Checks the chain (chain id, emissions protocol, registration,
    /// balance), opens the record and starts the loop. Returns the handle
    /// and the results stream.
    ///
    /// The emissions protocol is detected from the chain (see
    /// [`crate::emissions`]) unless the client pins a version; a chain that
    /// speaks no version this build supports fails the start with
    /// [`ClientError::UnsupportedEmissions`] (the observer hears of it too).
    pub async fn start(self) -> Result<(WorkerHandle, WorkerResults), WorkerError> {
        let reported = self.client.chain_id().await?;
        let chain_id = match &self.config.chain_id {
            Some(configured) if *configured != reported => {
                return Err(WorkerError::ChainIdMismatch {
                    configured: configured.clone(),
                    reported,
                })
            }
            _ => reported,
        };
        let protocol = match self.client.detect_emissions().await {
            Ok(protocol) => protocol,
            Err(ClientError::UnsupportedEmissions(unsupported)) => {
                self.observer
                    .emissions(&EmissionsStatus::Unsupported(unsupported.clone()));
                return Err(ClientError::UnsupportedEmissions(unsupported).into());
            }
            Err(error) => return Err(error.into()),
        };
        tracing::info!(%chain_id, %protocol, pinned = self.client.pinned_emissions_version().is_some(), "emissions protocol of the chain");
        if let Some(expected) = self
            .config
            .expected_emissions
            .filter(|v| *v != protocol.version())
        {
            tracing::warn!(
                %expected,
                speaks = %protocol.version(),
                "the chain does not speak the emissions version its network is listed with (it upgraded?); speaking the chain's"
            );
        }
        self.observer
            .emissions(&EmissionsStatus::Supported(protocol));
        let mut pipeline_config = PipelineConfig::new(chain_id);
        pipeline_config.gas = self.config.gas;
        pipeline_config.gas_price = self.config.gas_price.clone();
        pipeline_config.tier = self.config.fee_tier;
        let pipeline = TxPipeline::new(self.client.clone(), Arc::clone(&self.key), pipeline_config);

        self.ensure_registered(&pipeline).await?;
        self.check_balance(&pipeline).await;

        let dir = self.config.data_dir.clone();
        let store = tokio::task::spawn_blocking(move || store::SubmissionStore::open(&dir))
            .await
            .map_err(|e| WorkerError::Config(format!("opening the submission record: {e}")))??;

        let cancel = CancellationToken::new();
        let (results_tx, results_rx) = mpsc::channel(1024);
        let join = tokio::spawn(engine::run(engine::Engine::new(
            self.config,
            pipeline,
            store,
            self.observer,
            results_tx,
            cancel.clone(),
            protocol,
        )));
        Ok((
            WorkerHandle { cancel, join },
            WorkerResults { rx: results_rx },
        ))
    }

    async fn ensure_registered(&self, pipeline: &TxPipeline) -> Result<(), WorkerError> {
        let address = self.key.address();
        for topic in &self.config.topics {
            if self
                .client
                .is_worker_registered(topic.topic_id, address)
                .await?
            {
                continue;
            }
            if !self.config.auto_register {
                return Err(WorkerError::NotRegistered {
                    topic_id: topic.topic_id,
                    address: address.to_string(),
                });
            }
            crate::registration::register(
                pipeline,
                topic.topic_id,
                crate::registration::REGISTRATION_TIMEOUT,
            )
            .await
            .map_err(|source| WorkerError::RegistrationFailed {
                topic_id: topic.topic_id,
                source,
            })?;
        }
        Ok(())
    }

    async fn check_balance(&self, pipeline: &TxPipeline) {
        let address = self.key.address();
        match self.client.balance(address, crate::tx::DENOM).await {
            Ok(balance) => {
                self.observer.balance(balance);
                let per_epoch = pipeline
                    .fee_estimate(self.config.gas.fallback(self.config.topics.len()))
                    .await;
                if balance < per_epoch.amount.saturating_mul(10) {
                    tracing::warn!(
                        %address,
                        balance_uallo = balance,
                        fee_per_epoch_uallo = per_epoch.amount,
                        "balance covers fewer than 10 epochs of fees; fund the worker to keep submitting"
                    );
                }
            }
            Err(error) => tracing::warn!(%address, %error, "could not read the balance"),
        }
    }
}

/// Controls a running worker.
#[derive(Debug)]
pub struct WorkerHandle {
    cancel: CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops discovering windows, lets in-flight submissions finish (within
    /// the grace period; the rest are reported as not sent), and waits.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Err(error) = self.join.await {
            tracing::error!(%error, "worker task ended abnormally");
        }
    }

    /// A token that stops the worker when cancelled (for signal handlers).
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

/// The stream of results: one item per window served or failed. It ends
/// when the worker has stopped.
#[derive(Debug)]
pub struct WorkerResults {
    rx: mpsc::Receiver<Result<Submission, WorkerError>>,
}

impl futures_util::Stream for WorkerResults {
    type Item = Result<Submission, WorkerError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
