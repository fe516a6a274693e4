//! Test fixtures shared by every test that needs a devnet: deterministic
//! keys, a devnet with a funded worker registered in its topics, a chain
//! client and a [`Worker`] wired to it, collection of a worker's results,
//! raw transactions signed, simulated, broadcast and delivered over gRPC
//! (one at a time, or through every stage at once with [`through_stages`]),
//! payloads with any labels or broken fields ([`labeled_payload_any`],
//! [`signed_bundle`]), and dead endpoints (a refused port, a port that
//! never answers).
//!
//! Every fallible fixture returns a [`FixtureError`] rather than panicking,
//! so tests decide how to fail (usually `.unwrap()`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! use allora_devnet::fixtures::{collect, test_key, TestNet};
//!
//! // Three topics (epoch 10 blocks, window 5), 200 ms blocks, the worker
//! // funded and registered in each.
//! let net = TestNet::builder(test_key(7)?)
//!     .topics(1..=3, 10, 5)
//!     .start()
//!     .await?;
//! // A worker serving every topic with one closure.
//! let (worker, mut results) = net
//!     .worker_serving(|req| 1000.0 + req.topic_id as f64)?
//!     .build()?
//!     .start()
//!     .await?;
//! let (served, failed) = collect(&mut results, 3, Duration::from_secs(10)).await;
//! worker.shutdown().await;
//! assert!(failed.is_empty(), "{failed:?}");
//! assert_eq!(served.len(), 3, "one window of each topic");
//! assert!(net.submission(1, 10, net.address()).is_some());
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use allora_infer::{FnProvider, InferenceRequest, IntoPrediction};
use allora_sdk::client::{ChainClient, ClientConfig, ClientError};
use allora_sdk::emissions::EmissionsVersion;
use allora_sdk::keys::{Address, KeyError, WorkerKey};
use allora_sdk::payload::{PayloadError, WorkerPayload};
use allora_sdk::proto::emissions::{v10, v3};
use allora_sdk::proto::{to_any, Any};
use allora_sdk::signer::SharedSigner;
use allora_sdk::tx::{tx_hash, Fee, SignedTx, SignerData, TxBuildError, UnsignedTx};
use allora_sdk::worker::{
    Submission, TopicSpec, Worker, WorkerBuilder, WorkerError, WorkerResults,
};
use allora_sdk::{Dec, DecimalError};
use cosmrs::proto::cosmos::base::abci::v1beta1::TxResponse;
use cosmrs::proto::cosmos::tx::v1beta1::service_client::ServiceClient as TxClient;
use cosmrs::proto::cosmos::tx::v1beta1::{
    BroadcastMode, BroadcastTxRequest, GetTxRequest, SimulateRequest,
};
use derive_setters::Setters;
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::{
    AccountConfig, Devnet, DevnetBuilder, DevnetError, DevnetHandle, DevnetProtocol, TopicConfig,
};

/// The test worker's balance unless [`TestNetBuilder::balance`] says
/// otherwise, in uallo (enough for thousands of transactions).
pub const WORKER_BALANCE: u128 = 10_000_000_000_000;

/// The block interval of a [`TestNet`] unless set otherwise.
pub const BLOCK_TIME: Duration = Duration::from_millis(200);

/// How often [`wait_height`] looks at the devnet's height.
const HEIGHT_POLL: Duration = Duration::from_millis(20);

/// What went wrong while setting a fixture up or using it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// A test key could not be made (seeds 0 and 255 are not valid
    /// secp256k1 scalars).
    #[error("test key: {0}")]
    Key(#[from] KeyError),
    /// The devnet refused its configuration or a test hook.
    #[error("devnet: {0}")]
    Devnet(#[from] DevnetError),
    /// The chain client could not be built.
    #[error("chain client: {0}")]
    Client(#[from] ClientError),
    /// The worker could not be built or started.
    #[error("worker: {0}")]
    Worker(#[from] WorkerError),
    /// The temporary data directory could not be created.
    #[error("temporary data directory: {0}")]
    DataDir(#[source] std::io::Error),
    /// A loopback listener could not be bound.
    #[error("loopback listener: {0}")]
    Listener(#[source] std::io::Error),
    /// No gRPC connection to the devnet.
    #[error("gRPC connection to {endpoint}: {source}")]
    Connect {
        /// The endpoint dialled.
        endpoint: String,
        /// Why the connection failed.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A gRPC call failed.
    #[error("gRPC {call}: {status}")]
    Grpc {
        /// The call.
        call: &'static str,
        /// The status the devnet answered.
        status: Box<tonic::Status>,
    },
    /// A value is not a canonical decimal.
    #[error("decimal: {0}")]
    Decimal(#[from] DecimalError),
    /// A payload could not be signed.
    #[error("payload: {0}")]
    Payload(#[from] PayloadError),
    /// A transaction could not be built or signed.
    #[error("transaction: {0}")]
    Tx(#[from] TxBuildError),
    /// CheckTx refused a transaction that [`deliver`] expected to pass.
    #[error("CheckTx refused {hash}: code {code} ({codespace}): {log}")]
    CheckTx {
        /// The transaction hash.
        hash: String,
        /// The ABCI code.
        code: u32,
        /// The codespace.
        codespace: String,
        /// The raw log.
        log: String,
    },
    /// The account a fixture was asked to sign for does not exist on the
    /// devnet.
    #[error("no account {0} on the devnet")]
    NoAccount(String),
    /// The task recording a worker's results panicked.
    #[error("result recorder: {0}")]
    Recorder(#[from] tokio::task::JoinError),
}

/// A deterministic key: the secp256k1 private key whose 32 bytes all equal
/// `seed`. Different seeds give different accounts; every seed from 1 to 254
/// is valid.
pub fn test_key(seed: u8) -> Result<WorkerKey, FixtureError> {
    Ok(WorkerKey::from_private_key_bytes(&[seed; 32])?)
}

/// Builds a [`TestNet`]: a devnet whose worker account is funded and
/// registered in every topic added with [`topics`](Self::topics) or
/// [`topic`](Self::topic). Defaults: chain id
/// [`DEFAULT_CHAIN_ID`](crate::DEFAULT_CHAIN_ID), timed blocks every
/// [`BLOCK_TIME`], balance [`WORKER_BALANCE`], next free account number.
#[derive(Debug, Clone, Setters)]
#[setters(generate = false)]
pub struct TestNetBuilder {
    devnet: DevnetBuilder,
    key: WorkerKey,
    /// The worker signs with this signer (a remote or KMS signer) instead of
    /// the builder's key: its address is the account funded and registered,
    /// and [`TestNet::worker`] builds the worker with it.
    #[setters(generate, strip_option)]
    signer: Option<SharedSigner>,
    topics: Vec<TopicConfig>,
    /// Sets the worker's balance, in uallo (default [`WORKER_BALANCE`]).
    #[setters(generate)]
    balance: u128,
    /// Gives the worker account this account number.
    #[setters(generate, strip_option)]
    account_number: Option<u64>,
    register: bool,
    /// The time between blocks (default [`BLOCK_TIME`]).
    #[setters(generate, rename = "block_interval", strip_option)]
    block_time: Option<Duration>,
}

impl TestNetBuilder {
    /// Sets the chain id.
    pub fn chain_id(mut self, chain_id: impl Into<String>) -> Self {
        self.devnet = self.devnet.chain_id(chain_id);
        self
    }

    /// Produces blocks only through [`DevnetHandle::produce_block`].
    pub fn manual_blocks(mut self) -> Self {
        self.block_time = None;
        self
    }

    /// Adds topics `ids`, each with the same epoch length and submission
    /// window (in blocks).
    pub fn topics(
        mut self,
        ids: impl IntoIterator<Item = u64>,
        epoch_length: i64,
        submission_window: i64,
    ) -> Self {
        self.topics.extend(
            ids.into_iter()
                .map(|id| TopicConfig::new(id, epoch_length, submission_window)),
        );
        self
    }

    /// Adds a topic as configured (inactive, with metadata...).
    pub fn topic(mut self, topic: TopicConfig) -> Self {
        self.topics.push(topic);
        self
    }

    /// Speaks `protocol` from genesis (see [`DevnetBuilder::emissions`]).
    pub fn emissions(mut self, protocol: DevnetProtocol) -> Self {
        self.devnet = self.devnet.emissions(protocol);
        self
    }

    /// Upgrades to `protocol` at `height` (see [`DevnetBuilder::upgrade_at`]).
    pub fn upgrade_at(mut self, height: i64, protocol: DevnetProtocol) -> Self {
        self.devnet = self.devnet.upgrade_at(height, protocol);
        self
    }

    /// Funds the worker but registers it in no topic (to test registration).
    pub fn unregistered(mut self) -> Self {
        self.register = false;
        self
    }

    /// Anything else the devnet builder offers (minimum gas price, more
    /// accounts, ...), applied after the worker's account and topics.
    pub fn devnet(mut self, f: impl FnOnce(DevnetBuilder) -> DevnetBuilder) -> Self {
        self.devnet = f(self.devnet);
        self
    }

    /// The devnet as configured, not started.
    pub fn build(&self) -> Devnet {
        let address = match &self.signer {
            Some(signer) => signer.address(),
            None => self.key.address(),
        };
        let mut account = AccountConfig::new(address.clone(), self.balance);
        if let Some(number) = self.account_number {
            account = account.account_number(number);
        }
        let mut devnet = self.devnet.clone();
        devnet = match self.block_time {
            Some(interval) => devnet.block_interval(interval),
            None => devnet.manual_blocks(),
        };
        let mut config = devnet.build().config().clone();
        // The worker's account and topics come first, in the order given.
        config.accounts.insert(0, account);
        let extra_topics = std::mem::take(&mut config.topics);
        config.topics = self.topics.clone();
        config.topics.extend(extra_topics);
        if self.register {
            let registrations = self.topics.iter().map(|t| (t.id, address.clone()));
            config.workers.splice(0..0, registrations);
        }
        Devnet::new(config)
    }

    /// Starts the devnet and creates the worker's temporary data directory.
    pub async fn start(self) -> Result<TestNet, FixtureError> {
        let devnet = self.build().start().await?;
        let data_dir = tempfile::tempdir().map_err(FixtureError::DataDir)?;
        Ok(TestNet {
            topics: self.topics.iter().map(|t| t.id).collect(),
            devnet,
            signer: self.signer,
            key: self.key,
            block_time: self.block_time,
            data_dir,
        })
    }
}

/// A running devnet with a funded worker registered in its topics, and a
/// temporary data directory for that worker's submission record. Derefs to
/// the [`DevnetHandle`]; dropping it stops the devnet and removes the
/// directory.
#[derive(Debug)]
pub struct TestNet {
    devnet: DevnetHandle,
    key: WorkerKey,
    signer: Option<SharedSigner>,
    topics: Vec<u64>,
    block_time: Option<Duration>,
    data_dir: tempfile::TempDir,
}

impl Deref for TestNet {
    type Target = DevnetHandle;

    fn deref(&self) -> &DevnetHandle {
        &self.devnet
    }
}

impl TestNet {
    /// A builder for a devnet whose worker is `key`.
    pub fn builder(key: WorkerKey) -> TestNetBuilder {
        TestNetBuilder {
            devnet: Devnet::builder(),
            key,
            signer: None,
            topics: Vec::new(),
            balance: WORKER_BALANCE,
            account_number: None,
            register: true,
            block_time: Some(BLOCK_TIME),
        }
    }

    /// Starts a devnet on `chain_id` with the defaults of [`TestNet::builder`]
    /// and topics `ids`, each with the same epoch length and submission
    /// window (in blocks): the common case of
    /// `TestNet::builder(key).chain_id(..).topics(..).start()`.
    ///
    /// Errors: as [`TestNetBuilder::start`].
    pub async fn start_with_topics(
        key: WorkerKey,
        chain_id: &str,
        ids: impl IntoIterator<Item = u64>,
        epoch_length: i64,
        submission_window: i64,
    ) -> Result<TestNet, FixtureError> {
        TestNet::builder(key)
            .chain_id(chain_id)
            .topics(ids, epoch_length, submission_window)
            .start()
            .await
    }

    /// The devnet.
    pub fn devnet(&self) -> &DevnetHandle {
        &self.devnet
    }

    /// The key given to [`TestNet::builder`] (the worker's key, unless a
    /// [`signer`](TestNetBuilder::signer) was set).
    pub fn key(&self) -> &WorkerKey {
        &self.key
    }

    /// The worker's address: the signer's, else the key's.
    pub fn address(&self) -> &Address {
        match &self.signer {
            Some(signer) => signer.address(),
            None => self.key.address(),
        }
    }

    /// The topics the devnet was started with, in order.
    pub fn topics(&self) -> &[u64] {
        &self.topics
    }

    /// The block interval, `None` for manual blocks.
    pub fn block_time(&self) -> Option<Duration> {
        self.block_time
    }

    /// The worker's data directory (kept until the `TestNet` is dropped,
    /// so a second worker started on it sees the first one's record).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// A client configuration for the devnet's gRPC endpoint, to adjust
    /// timeouts before [`ChainClient::new`].
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig::new([self.devnet.grpc_endpoint()])
    }

    /// A chain client of the devnet, with default timeouts.
    pub fn client(&self) -> Result<ChainClient, FixtureError> {
        Ok(ChainClient::new(self.client_config())?)
    }

    /// A raw gRPC channel to the devnet.
    pub async fn channel(&self) -> Result<Channel, FixtureError> {
        channel(&self.devnet).await
    }

    /// A worker builder wired to the devnet: a [`client`](Self::client),
    /// the worker key (or signer), the websocket, the [`data_dir`](Self::data_dir), the
    /// chain id and, in timed mode, the block time. Add topics, then build.
    pub fn worker(&self) -> Result<WorkerBuilder, FixtureError> {
        let builder = Worker::builder().client(self.client()?);
        let builder = match &self.signer {
            Some(signer) => builder.signer(signer.signer().clone()),
            None => builder.key(self.key.clone()),
        };
        let mut builder = builder
            .websocket(self.devnet.websocket_url())
            .data_dir(self.data_dir.path())
            .chain_id(self.devnet.chain_id());
        if let Some(block_time) = self.block_time {
            builder = builder.block_time(block_time);
        }
        Ok(builder)
    }

    /// [`worker`](Self::worker) serving every topic of the devnet with one
    /// closure (see [`fn_topic`]).
    pub fn worker_serving<F, T>(&self, f: F) -> Result<WorkerBuilder, FixtureError>
    where
        F: Fn(&InferenceRequest) -> T + Send + Sync + 'static,
        T: IntoPrediction + Send + 'static,
    {
        let provider = Arc::new(FnProvider::new(f));
        Ok(self.topics.iter().fold(self.worker()?, |builder, &id| {
            builder.topic(TopicSpec::inference(id, provider.clone()))
        }))
    }

    /// Waits until the devnet's height reaches `height` (timed blocks).
    pub async fn wait_height(&self, height: i64) {
        wait_height(&self.devnet, height).await;
    }

    /// Stops the devnet (see [`DevnetHandle::shutdown`]).
    pub async fn shutdown(self) {
        self.devnet.shutdown().await;
    }
}

/// An inference topic served by a closure from request to value.
pub fn fn_topic<F, T>(topic_id: u64, f: F) -> TopicSpec
where
    F: Fn(&InferenceRequest) -> T + Send + Sync + 'static,
    T: IntoPrediction + Send + 'static,
{
    TopicSpec::inference(topic_id, Arc::new(FnProvider::new(f)))
}

/// Waits until the devnet's height reaches `height`. Blocks must come from
/// somewhere: timed mode, or another task producing them.
pub async fn wait_height(devnet: &DevnetHandle, height: i64) {
    while devnet.height() < height {
        tokio::time::sleep(HEIGHT_POLL).await;
    }
}

/// Reads a worker's results until `until` says stop, the stream ends, or
/// `max` has passed. Returns the windows served and the failures, each in
/// order.
pub async fn collect_until(
    results: &mut WorkerResults,
    max: Duration,
    mut until: impl FnMut(&[Submission], &[WorkerError]) -> bool,
) -> (Vec<Submission>, Vec<WorkerError>) {
    let mut served = Vec::new();
    let mut failed = Vec::new();
    let deadline = tokio::time::Instant::now() + max;
    while !until(&served, &failed) {
        match tokio::time::timeout_at(deadline, results.next()).await {
            Ok(Some(Ok(submission))) => served.push(submission),
            Ok(Some(Err(error))) => failed.push(error),
            Ok(None) | Err(_) => break,
        }
    }
    (served, failed)
}

/// Reads a worker's results until `count` windows were served (or the
/// stream ends, or `max` has passed).
pub async fn collect(
    results: &mut WorkerResults,
    count: usize,
    max: Duration,
) -> (Vec<Submission>, Vec<WorkerError>) {
    collect_until(results, max, |served, _| served.len() >= count).await
}

/// Builds and starts the worker of `builder`, reads its results as
/// [`collect_until`] does, then shuts the worker down. Returns the windows
/// served and the failures, each in order.
pub async fn run_worker_until(
    builder: WorkerBuilder,
    max: Duration,
    until: impl FnMut(&[Submission], &[WorkerError]) -> bool,
) -> Result<(Vec<Submission>, Vec<WorkerError>), FixtureError> {
    let (handle, mut results) = builder.build()?.start().await?;
    let outcome = collect_until(&mut results, max, until).await;
    handle.shutdown().await;
    Ok(outcome)
}

/// Runs the worker of `builder` as [`run_worker_until`] does, until `count`
/// windows were served (or the stream ends, or `max` has passed).
pub async fn run_worker(
    builder: WorkerBuilder,
    count: usize,
    max: Duration,
) -> Result<(Vec<Submission>, Vec<WorkerError>), FixtureError> {
    run_worker_until(builder, max, |served, _| served.len() >= count).await
}

/// A worker's results, recorded by a background task as they come (see
/// [`record`]).
#[derive(Debug)]
pub struct RecordedResults {
    items: Arc<Mutex<Vec<Result<Submission, WorkerError>>>>,
    task: JoinHandle<()>,
}

/// Records every result of a worker in the background until its stream
/// ends (after the worker is shut down).
pub fn record(mut results: WorkerResults) -> RecordedResults {
    let items: Arc<Mutex<Vec<Result<Submission, WorkerError>>>> = Arc::default();
    let task = tokio::spawn({
        let items = Arc::clone(&items);
        async move {
            while let Some(item) = results.next().await {
                lock(&items).push(item);
            }
        }
    });
    RecordedResults { items, task }
}

impl RecordedResults {
    /// Looks at the results so far.
    pub fn with<R>(&self, f: impl FnOnce(&[Result<Submission, WorkerError>]) -> R) -> R {
        f(&lock(&self.items))
    }

    /// The windows served so far.
    pub fn served(&self) -> Vec<Submission> {
        self.with(|items| {
            items
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .cloned()
                .collect()
        })
    }

    /// Waits for the stream to end and returns every result, in order.
    pub async fn finish(self) -> Result<Vec<Result<Submission, WorkerError>>, FixtureError> {
        self.task.await?;
        Ok(std::mem::take(&mut *lock(&self.items)))
    }
}

/// Locks the recording; a panic elsewhere leaves plain data still readable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A gRPC channel to the devnet (plaintext HTTP/2 on loopback).
pub async fn channel(devnet: &DevnetHandle) -> Result<Channel, FixtureError> {
    let endpoint = devnet.grpc_endpoint();
    let connect = |source: Box<dyn std::error::Error + Send + Sync>| FixtureError::Connect {
        endpoint: endpoint.clone(),
        source,
    };
    Channel::from_shared(endpoint.clone())
        .map_err(|e| connect(e.into()))?
        .connect()
        .await
        .map_err(|e| connect(e.into()))
}

/// An inference payload of `key` for `topic` at `nonce`, signed and wrapped
/// as the `Any` a transaction carries. `value` is a decimal string.
pub fn payload_any(
    key: &WorkerKey,
    topic: u64,
    nonce: i64,
    value: &str,
) -> Result<Any, FixtureError> {
    payload_any_for(EmissionsVersion::V10, key, topic, nonce, value)
}

/// [`payload_any`] encoded for emissions `version` (its type URL; on v9 the
/// value in `value`).
pub fn payload_any_for(
    version: EmissionsVersion,
    key: &WorkerKey,
    topic: u64,
    nonce: i64,
    value: &str,
) -> Result<Any, FixtureError> {
    let value = value.parse::<Dec>()?;
    Ok(WorkerPayload::inference(topic, nonce, value)
        .for_version(version)
        .sign(key)?
        .to_any())
}

/// An inference of `key` for `topic` at `nonce` with these labeled values
/// taken as they are (no local checks, so any label the chain refuses can
/// be sent), and `value` `"0"` as the SDKs send.
pub fn raw_inference(
    key: &WorkerKey,
    topic: u64,
    nonce: i64,
    values: &[(&str, &str)],
) -> v10::InputInference {
    v10::InputInference {
        topic_id: topic,
        block_height: nonce,
        inferer: key.address().to_string(),
        value: "0".to_owned(),
        extra_data: Vec::new(),
        proof: String::new(),
        values: values
            .iter()
            .map(|(label, value)| v10::InputLabeledValue {
                label: (*label).to_owned(),
                value: (*value).to_owned(),
            })
            .collect(),
    }
}

/// Signs `bundle` exactly as given with `key` (decimals must already be in
/// canonical text) into an `InsertWorkerPayloadRequest` for `topic` and
/// `nonce`, sent by the worker itself. Tests break the result's fields to
/// exercise each check of the chain.
pub fn signed_bundle(
    key: &WorkerKey,
    topic: u64,
    nonce: i64,
    bundle: v10::InputInferenceForecastBundle,
) -> v10::InsertWorkerPayloadRequest {
    let signature = key.sign(&prost::Message::encode_to_vec(&bundle));
    v10::InsertWorkerPayloadRequest {
        sender: key.address().to_string(),
        worker_data_bundle: Some(v10::InputWorkerDataBundle {
            worker: key.address().to_string(),
            nonce: Some(v3::Nonce {
                block_height: nonce,
            }),
            topic_id: topic,
            inference_forecasts_bundle: Some(bundle),
            inferences_forecasts_bundle_signature: signature.to_vec(),
            pubkey: key.public_key().to_hex(),
        }),
    }
}

/// A payload of `key` with these labeled values as they are (see
/// [`raw_inference`]), signed, as the `Any` a transaction carries.
pub fn labeled_payload_any(
    key: &WorkerKey,
    topic: u64,
    nonce: i64,
    values: &[(&str, &str)],
) -> Any {
    let bundle = v10::InputInferenceForecastBundle {
        inference: Some(raw_inference(key, topic, nonce, values)),
        forecast: None,
    };
    to_any(&signed_bundle(key, topic, nonce, bundle))
}

/// What the chain answered one transaction at each stage.
#[derive(Debug, Clone)]
pub struct Stages {
    /// `Simulate`: the gas used, or the refusal (its message carries the
    /// chain's log; a simulation runs the messages, CheckTx does not).
    pub simulate: Result<u64, tonic::Status>,
    /// The `BroadcastTx` (sync) answer: CheckTx.
    pub check_tx: TxResponse,
    /// The transaction's result in the next block, if CheckTx accepted it.
    pub deliver_tx: Option<TxResponse>,
}

/// Sends `msgs` signed by `key` (at its current account number and
/// sequence, paying `fee` uallo for `gas`) through every stage: Simulate,
/// then BroadcastTx, then one block and GetTx.
pub async fn through_stages(
    devnet: &DevnetHandle,
    key: &WorkerKey,
    msgs: Vec<Any>,
    gas: u64,
    fee: u128,
) -> Result<Stages, FixtureError> {
    let account = devnet
        .account(key.address())
        .ok_or_else(|| FixtureError::NoAccount(key.address().to_string()))?;
    let channel = channel(devnet).await?;
    let unsigned = UnsignedTx::new(msgs.clone());
    let bytes =
        unsigned.simulation_bytes(key.public_key(), account.sequence, &Fee::uallo(fee, gas))?;
    let simulate = match simulate_gas(&channel, bytes).await {
        Ok(gas) => Ok(gas),
        Err(FixtureError::Grpc { status, .. }) => Err(*status),
        Err(other) => return Err(other),
    };
    let tx = sign_tx(
        devnet.chain_id(),
        key,
        msgs,
        account.account_number,
        account.sequence,
        gas,
        fee,
    )?;
    let check_tx = broadcast(&channel, tx.to_bytes()).await?;
    let deliver_tx = if check_tx.code == 0 {
        devnet.produce_block().await;
        Some(
            get_tx(&channel, tx.hash())
                .await
                .map_err(grpc_error("GetTx"))?,
        )
    } else {
        None
    };
    Ok(Stages {
        simulate,
        check_tx,
        deliver_tx,
    })
}

/// Signs `msgs` into a transaction for `chain_id`, paying `fee` uallo for
/// `gas`.
pub fn sign_tx(
    chain_id: &str,
    key: &WorkerKey,
    msgs: Vec<Any>,
    account_number: u64,
    sequence: u64,
    gas: u64,
    fee: u128,
) -> Result<SignedTx, FixtureError> {
    Ok(UnsignedTx::new(msgs).sign(
        key,
        &SignerData::new(chain_id, account_number, sequence),
        &Fee::uallo(fee, gas),
    )?)
}

/// Simulates a transaction (bytes from
/// [`UnsignedTx::simulation_bytes`]) and returns the gas it used.
pub async fn simulate_gas(channel: &Channel, tx_bytes: Vec<u8>) -> Result<u64, FixtureError> {
    let grpc = grpc_error("Simulate");
    // The deprecated `tx` field stays empty: the bytes carry the transaction.
    #[allow(deprecated)]
    let request = SimulateRequest { tx: None, tx_bytes };
    TxClient::new(channel.clone())
        .simulate(request)
        .await
        .map_err(grpc)?
        .into_inner()
        .gas_info
        .map(|info| info.gas_used)
        .ok_or_else(|| grpc(tonic::Status::internal("Simulate answered no gas_info")))
}

/// Broadcasts raw transaction bytes in sync mode and returns the CheckTx
/// answer (a refusal is an answer, not an error).
pub async fn broadcast(channel: &Channel, bytes: &[u8]) -> Result<TxResponse, FixtureError> {
    let grpc = grpc_error("BroadcastTx");
    TxClient::new(channel.clone())
        .broadcast_tx(BroadcastTxRequest {
            tx_bytes: bytes.to_vec(),
            mode: BroadcastMode::Sync as i32,
        })
        .await
        .map_err(grpc)?
        .into_inner()
        .tx_response
        .ok_or_else(|| {
            grpc(tonic::Status::internal(
                "BroadcastTx answered no tx_response",
            ))
        })
}

/// Looks an included transaction up by hash; the devnet's `NotFound` status
/// is returned as is.
pub async fn get_tx(channel: &Channel, hash: &str) -> Result<TxResponse, tonic::Status> {
    TxClient::new(channel.clone())
        .get_tx(GetTxRequest {
            hash: hash.to_owned(),
        })
        .await?
        .into_inner()
        .tx_response
        .ok_or_else(|| tonic::Status::internal("GetTx answered no tx_response"))
}

/// Broadcasts `tx` (CheckTx must accept it), produces a block, and returns
/// the transaction's result in that block.
pub async fn deliver(
    devnet: &DevnetHandle,
    channel: &Channel,
    tx: &SignedTx,
) -> Result<TxResponse, FixtureError> {
    deliver_bytes(devnet, channel, tx.to_bytes()).await
}

/// [`deliver`] for raw `TxRaw` bytes (a golden vector's, a hand-built
/// transaction's).
pub async fn deliver_bytes(
    devnet: &DevnetHandle,
    channel: &Channel,
    bytes: &[u8],
) -> Result<TxResponse, FixtureError> {
    let hash = tx_hash(bytes);
    let checked = broadcast(channel, bytes).await?;
    if checked.code != 0 {
        return Err(FixtureError::CheckTx {
            hash,
            code: checked.code,
            codespace: checked.codespace,
            log: checked.raw_log,
        });
    }
    devnet.produce_block().await;
    get_tx(channel, &hash).await.map_err(grpc_error("GetTx"))
}

/// Maps a failed gRPC `call` to [`FixtureError::Grpc`].
fn grpc_error(call: &'static str) -> impl Fn(tonic::Status) -> FixtureError + Copy {
    move |status| FixtureError::Grpc {
        call,
        status: Box::new(status),
    }
}

/// A loopback port nothing listens on (bound, then released), so
/// connections to it are refused.
pub fn refused_port() -> Result<u16, FixtureError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(FixtureError::Listener)?;
    Ok(listener
        .local_addr()
        .map_err(FixtureError::Listener)?
        .port())
}

/// A loopback port that accepts TCP connections and never answers, until
/// dropped: what a hung node looks like to a client.
#[derive(Debug)]
pub struct HangingPort {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HangingPort {
    /// Binds a free loopback port and starts holding its connections.
    pub async fn start() -> Result<HangingPort, FixtureError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(FixtureError::Listener)?;
        let addr = listener.local_addr().map_err(FixtureError::Listener)?;
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Ok(HangingPort { addr, task })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Its URL as a gRPC endpoint (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for HangingPort {
    fn drop(&mut self) {
        self.task.abort();
    }
}
