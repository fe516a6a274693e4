//! The worker: turns each open submission window of its topics into exactly
//! one confirmed on-chain payload, or a recorded reason why not.
//!
//! Windows are discovered from the node's websocket events and, as a
//! fallback that keeps working while the websocket is down, by polling the
//! open nonces. Each window gets one call per provider (inference and
//! forecast, each with its own deadline inside the window), payloads that
//! are ready together go out in one transaction (one sequence number serves
//! many topics), and a persisted record under the data directory keeps a
//! restart from submitting twice.
//!
//! What the chain would refuse for nothing is refused before signing: labels
//! breaking the topic's rules ([`crate::labels`]), values outside the
//! topic's guard rails ([`ValueGuard`]), a fee above the maximum. Every
//! answer of the chain is classified ([`crate::client::classify`]) and
//! remedied by one policy ([`crate::pipeline::remedy`]): a window ends at
//! most once, reported once; a topic the chain will not take from this
//! worker (not registered, not whitelisted, missing, refused labels, no
//! funds) is suspended ([`TopicState`]): no provider call and no fee until a
//! check every few epochs finds the chain accepting it again.
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
mod check;
mod clock;
mod decision;
mod discovery;
mod engine;
mod error;
pub mod events;
mod guard;
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

use allora_infer::{Dec, ForecastProvider, InferenceProvider};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use builder::WorkerBuilder;
pub use error::{ProviderSide, WorkerError};
pub use guard::ValueGuard;
pub use run::{shutdown_signal, RunSummary};
pub use topics::{SuspendReason, Suspension, TopicState};

use crate::client::ChainClient;
use crate::client::ClientError;
use crate::emissions::{EmissionsStatus, EmissionsVersion};
use crate::keys::Address;
use crate::pipeline::{GasPolicy, GasPriceSource, PipelineConfig, TxPipeline};
use crate::signer::{SharedSigner, Signer};
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
    /// What inference values must satisfy before they are signed.
    pub guard: ValueGuard,
    /// Longest the inference provider may take (the window's own provider
    /// deadline still applies); `None`: the window's deadline only.
    pub inference_timeout: Option<Duration>,
    /// Longest the forecast provider may take, likewise. Each side has its
    /// own deadline and error: a slow or failing forecast never costs the
    /// inference, nor the other way round.
    pub forecast_timeout: Option<Duration>,
}

impl TopicSpec {
    /// A topic served with inferences.
    pub fn inference(topic_id: u64, provider: Arc<dyn InferenceProvider>) -> Self {
        TopicSpec {
            topic_id,
            inference: Some(provider),
            forecast: None,
            token: None,
            guard: ValueGuard::default(),
            inference_timeout: None,
            forecast_timeout: None,
        }
    }

    /// A topic served with forecasts.
    pub fn forecast(topic_id: u64, provider: Arc<dyn ForecastProvider>) -> Self {
        TopicSpec {
            topic_id,
            inference: None,
            forecast: Some(provider),
            token: None,
            guard: ValueGuard::default(),
            inference_timeout: None,
            forecast_timeout: None,
        }
    }

    /// Refuses an inference value of zero (a provider error, nothing sent).
    pub fn refuse_zero(mut self) -> Self {
        self.guard.refuse_zero = true;
        self
    }

    /// Refuses inference values outside `[min, max]` (each bound optional,
    /// both inclusive; a provider error, nothing sent).
    pub fn value_range(mut self, min: Option<Dec>, max: Option<Dec>) -> Self {
        self.guard.min = min;
        self.guard.max = max;
        self
    }

    /// Sets the guard rails on inference values at once.
    pub fn with_guard(mut self, guard: ValueGuard) -> Self {
        self.guard = guard;
        self
    }

    /// The longest the inference provider may take.
    pub fn with_inference_timeout(mut self, timeout: Duration) -> Self {
        self.inference_timeout = Some(timeout);
        self
    }

    /// The longest the forecast provider may take.
    pub fn with_forecast_timeout(mut self, timeout: Duration) -> Self {
        self.forecast_timeout = Some(timeout);
        self
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
            .field("guard", &self.guard)
            .field("inference_timeout", &self.inference_timeout)
            .field("forecast_timeout", &self.forecast_timeout)
            .finish()
    }
}

/// How a window ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// This worker's transaction carrying the payload was included, and its
    /// inference (if it had one) admitted: `EventInsertInfererPayload` for
    /// its message.
    Included,
    /// The transaction was included (code 0, the data fee paid) but the
    /// chain did not admit the inference: no `EventInsertInfererPayload`
    /// for its message, as when the topic's set of inferers for the nonce is
    /// full (top-N admission). Its forecast, if any, was still processed.
    /// Not an error and not retried.
    NotAdmitted,
    /// The chain already had this worker's payload for the window (from an
    /// earlier run or an earlier transaction that landed late).
    AlreadySubmitted,
}

impl Outcome {
    /// The outcome's name in metrics: `included`, `not_admitted`,
    /// `already_submitted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Included => "included",
            Outcome::NotAdmitted => "not_admitted",
            Outcome::AlreadySubmitted => "already_submitted",
        }
    }
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
    /// A topic's state: every topic's at start, then each change (suspended
    /// with its reason, or serving again).
    fn topic_state(&self, _topic_id: u64, _state: &TopicState) {}
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
    /// The most one transaction may pay, in uallo (`None`: no limit).
    pub max_fee: Option<u128>,
    /// Epochs between two checks of a suspended topic (and refreshes of a
    /// served topic's settings).
    pub topic_check_epochs: u32,
    /// Who pays the transaction fees under a fee grant, if not the worker.
    pub fee_granter: Option<Address>,
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
            .field("max_fee", &self.max_fee)
            .field("topic_check_epochs", &self.topic_check_epochs)
            .finish_non_exhaustive()
    }
}

/// A configured worker, not yet running.
pub struct Worker {
    client: ChainClient,
    signer: SharedSigner,
    config: WorkerConfig,
    observer: Arc<dyn WorkerObserver>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("address", &self.signer.address().as_str())
            .field("signer", &self.signer.describe())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Starts building a worker.
    pub fn builder() -> WorkerBuilder {
        WorkerBuilder::default()
    }

    /// The worker's address (from its signer's public key).
    pub fn address(&self) -> &crate::keys::Address {
        self.signer.address()
    }

    /// Checks the chain (chain id; emissions protocol; for each topic, that
    /// it exists, that the whitelists admit the worker and that it is
    /// registered, registering it when auto-registration is on; the
    /// balance), opens the record and starts the loop. Returns the handle
    /// and the results stream.
    ///
    /// A topic the chain would refuse does not stop the worker: it is
    /// suspended (reported in the results stream as
    /// [`WorkerError::TopicSuspended`], to the observer, and in the data
    /// directory for `status`), checked again every few epochs, and served
    /// as soon as the chain accepts it.
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
        pipeline_config.max_fee = self.config.max_fee;
        pipeline_config.fee_granter = self.config.fee_granter.clone();
        let pipeline = TxPipeline::new(self.client.clone(), self.signer.clone(), pipeline_config);

        let topics = self
            .config
            .topics
            .iter()
            .map(|t| (t.topic_id, check::CheckKind::Full))
            .collect();
        let (_, checks) = check::check_topics(&pipeline, topics, self.config.auto_register).await;
        self.check_balance(&pipeline).await;

        let dir = self.config.data_dir.clone();
        let store = tokio::task::spawn_blocking(move || store::SubmissionStore::open(&dir))
            .await
            .map_err(|e| WorkerError::Config(format!("opening the submission record: {e}")))??;

        let cancel = CancellationToken::new();
        let (results_tx, results_rx) = mpsc::channel(1024);
        let join = tokio::spawn(engine::run(
            engine::Engine::new(
                self.config,
                pipeline,
                store,
                self.observer,
                results_tx,
                cancel.clone(),
                protocol,
            ),
            checks,
        ));
        Ok((
            WorkerHandle { cancel, join },
            WorkerResults { rx: results_rx },
        ))
    }

    async fn check_balance(&self, pipeline: &TxPipeline) {
        let address = self.signer.address();
        let balance = match self.client.balance(address, crate::tx::DENOM).await {
            Ok(balance) => balance,
            Err(error) => {
                tracing::warn!(%address, %error, "could not read the balance");
                return;
            }
        };
        self.observer.balance(balance);
        // The fees come from the granter's account when there is one.
        let (payer, payer_balance) = match &self.config.fee_granter {
            None => (address, balance),
            Some(granter) => match self.client.balance(granter, crate::tx::DENOM).await {
                Ok(b) => (granter, b),
                Err(error) => {
                    tracing::warn!(%granter, %error, "could not read the fee granter's balance");
                    return;
                }
            },
        };
        let per_epoch = pipeline
            .fee_estimate(self.config.gas.fallback(self.config.topics.len()))
            .await;
        if payer_balance < per_epoch.amount.saturating_mul(10) {
            tracing::warn!(
                %payer,
                balance_uallo = payer_balance,
                fee_per_epoch_uallo = per_epoch.amount,
                "the fee payer's balance covers fewer than 10 epochs of fees; fund it to keep submitting"
            );
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
