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
//! ```no_run
//! use std::sync::Arc;
//! use allora_infer::{FnProvider, InferenceRequest};
//! use allora_sdk::client::{ChainClient, ClientConfig};
//! use allora_sdk::keys::{Mnemonic, WorkerKey};
//! use allora_sdk::worker::{TopicSpec, Worker};
//! use futures_util::StreamExt;
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

mod engine;
mod error;
pub mod events;
pub mod store;

use std::collections::HashSet;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use allora_infer::{ForecastProvider, InferenceProvider};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use error::WorkerError;

use crate::client::ChainClient;
use crate::keys::WorkerKey;
use crate::pipeline::{GasPolicy, GasPriceSource, PipelineConfig, TxPipeline};
use crate::tx::{Fee, FeeTier, GasPrice};

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

/// Builds a [`Worker`].
#[derive(Default)]
pub struct WorkerBuilder {
    client: Option<ChainClient>,
    key: Option<WorkerKey>,
    topics: Vec<TopicSpec>,
    data_dir: Option<PathBuf>,
    websocket: Option<String>,
    chain_id: Option<String>,
    poll_interval: Option<Duration>,
    block_time: Option<Duration>,
    provider_timeout: Option<Duration>,
    batch_linger: Option<Duration>,
    max_messages_per_tx: Option<usize>,
    auto_register: bool,
    gas: Option<GasPolicy>,
    gas_price: Option<GasPriceSource>,
    fee_tier: Option<FeeTier>,
    observer: Option<Arc<dyn WorkerObserver>>,
}

impl WorkerBuilder {
    /// The chain client (required).
    pub fn client(mut self, client: ChainClient) -> Self {
        self.client = Some(client);
        self
    }

    /// The worker's key (required).
    pub fn key(mut self, key: WorkerKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Adds a topic.
    pub fn topic(mut self, topic: TopicSpec) -> Self {
        self.topics.push(topic);
        self
    }

    /// The directory of the submission record (required).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The node's websocket (`ws://host:26657/websocket`). Without one the
    /// worker discovers windows by polling only.
    pub fn websocket(mut self, url: impl Into<String>) -> Self {
        self.websocket = Some(url.into());
        self
    }

    /// The expected chain id (checked against the node at start).
    pub fn chain_id(mut self, chain_id: impl Into<String>) -> Self {
        self.chain_id = Some(chain_id.into());
        self
    }

    /// How often to poll open nonces while the websocket is down (default 5 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// Block time assumed until measured (default 5 s).
    pub fn block_time(mut self, block_time: Duration) -> Self {
        self.block_time = Some(block_time);
        self
    }

    /// Longest a provider may take (default 30 s; the window may allow less).
    pub fn provider_timeout(mut self, timeout: Duration) -> Self {
        self.provider_timeout = Some(timeout);
        self
    }

    /// How long ready payloads wait to share a transaction (default 100 ms).
    pub fn batch_linger(mut self, linger: Duration) -> Self {
        self.batch_linger = Some(linger);
        self
    }

    /// Most payloads per transaction (default 100).
    pub fn max_messages_per_tx(mut self, max: usize) -> Self {
        self.max_messages_per_tx = Some(max);
        self
    }

    /// Registers in topics where the worker is not registered yet.
    pub fn auto_register(mut self, enabled: bool) -> Self {
        self.auto_register = enabled;
        self
    }

    /// Gas policy.
    pub fn gas_policy(mut self, gas: GasPolicy) -> Self {
        self.gas = Some(gas);
        self
    }

    /// A fixed gas price (default 10 uallo/gas).
    pub fn gas_price(mut self, price: GasPrice) -> Self {
        self.gas_price = Some(GasPriceSource::Static(price));
        self
    }

    /// The gas price source.
    pub fn gas_price_source(mut self, source: GasPriceSource) -> Self {
        self.gas_price = Some(source);
        self
    }

    /// The fee tier (default standard).
    pub fn fee_tier(mut self, tier: FeeTier) -> Self {
        self.fee_tier = Some(tier);
        self
    }

    /// Metrics hooks.
    pub fn observer(mut self, observer: Arc<dyn WorkerObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Checks the settings and builds the worker.
    pub fn build(self) -> Result<Worker, WorkerError> {
        let client = self
            .client
            .ok_or_else(|| WorkerError::Config("a chain client is required".into()))?;
        let key = self
            .key
            .ok_or_else(|| WorkerError::Config("a worker key is required".into()))?;
        let data_dir = self.data_dir.ok_or_else(|| {
            WorkerError::Config("a data directory (for the submission record) is required".into())
        })?;
        if self.topics.is_empty() {
            return Err(WorkerError::Config("at least one topic is required".into()));
        }
        let mut seen = HashSet::new();
        for topic in &self.topics {
            if topic.topic_id == 0 {
                return Err(WorkerError::Config("topic id 0 is reserved".into()));
            }
            if !seen.insert(topic.topic_id) {
                return Err(WorkerError::Config(format!(
                    "topic {} is configured twice",
                    topic.topic_id
                )));
            }
            if topic.inference.is_none() && topic.forecast.is_none() {
                return Err(WorkerError::Config(format!(
                    "topic {} has neither an inference nor a forecast provider",
                    topic.topic_id
                )));
            }
        }
        let max_messages_per_tx = self.max_messages_per_tx.unwrap_or(100);
        if max_messages_per_tx == 0 {
            return Err(WorkerError::Config(
                "max_messages_per_tx must be at least 1".into(),
            ));
        }
        let poll_interval = self.poll_interval.unwrap_or(Duration::from_secs(5));
        if poll_interval.is_zero() {
            return Err(WorkerError::Config("poll_interval must be positive".into()));
        }
        let config = WorkerConfig {
            topics: self.topics,
            data_dir,
            websocket: self.websocket,
            chain_id: self.chain_id,
            poll_interval,
            poll_interval_connected: poll_interval * 6,
            block_time: self.block_time.unwrap_or(Duration::from_secs(5)),
            provider_timeout: self.provider_timeout.unwrap_or(Duration::from_secs(30)),
            batch_linger: self.batch_linger.unwrap_or(Duration::from_millis(100)),
            max_messages_per_tx,
            auto_register: self.auto_register,
            gas: self.gas.unwrap_or_default(),
            gas_price: self
                .gas_price
                .unwrap_or(GasPriceSource::Static(GasPrice::from_uallo(10))),
            fee_tier: self.fee_tier.unwrap_or_default(),
            shutdown_grace: Duration::from_secs(8),
        };
        Ok(Worker {
            client,
            key: Arc::new(key),
            config,
            observer: self.observer.unwrap_or_else(|| Arc::new(NoopObserver)),
        })
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

    /// Checks the chain (chain id, registration, balance), opens the record
    /// and starts the loop. Returns the handle and the results stream.
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
