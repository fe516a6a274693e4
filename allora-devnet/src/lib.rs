//! # allora-devnet
//!
//! An in-process Allora devnet: the chain's real wire protocols on 127.0.0.1
//! with its rules enforced by real cryptography. It is what every network
//! test of `allora-sdk` and the worker talks to, and the `allora-devnet`
//! binary runs it as a standalone process.
//!
//! It serves the gRPC services a worker uses (node info, auth, bank, tx,
//! feemarket, emissions queries) and a CometBFT-compatible `/websocket`
//! publishing `NewBlockEvents`. Transactions are decoded, their
//! SIGN_MODE_DIRECT signatures verified against the chain id and account
//! number, sequences, fees and gas enforced, and worker payloads checked the
//! way the emissions module checks them, in its order and with its codes:
//! whitelists, bundle and signature, message size, topic, open nonce and
//! submission window, registration, data fee, label rules, top-N admission
//! (see [`conformance`] for every check). Nonces open at epoch ends and
//! close after the submission window, with the chain's events. Message
//! types are `allora-sdk`'s own, so the devnet decodes exactly what the SDK
//! encodes.
//!
//! It speaks one emissions protocol at a time ([`DevnetProtocol`]): v9, v10
//! (the default), or v10 with wall-clock windows (scheduler epochs, chain
//! v0.18), serving only that version's query service, type URLs and
//! events, and it can switch protocol at a height, as a chain upgrade does
//! ([`DevnetBuilder::upgrade_at`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use allora_devnet::{Devnet, TopicConfig};
//!
//! let devnet = Devnet::builder()
//!     .chain_id("allora-devnet-1")
//!     .manual_blocks()
//!     .topic(TopicConfig::new(1, 10, 5))
//!     .build()
//!     .start()
//!     .await?;
//! let block = devnet.produce_block().await;
//! assert_eq!(block.height, 1);
//! println!("gRPC at {}, websocket at {}", devnet.grpc_endpoint(), devnet.websocket_url());
//! devnet.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! [`demo`] starts a ready-to-run demo network (topics, a funded key, the
//! demo model) for a first run. [`faults`] makes it misbehave on demand (unavailable gRPC, stalled
//! websocket, paused blocks, a mempool losing transactions, a TCP proxy that
//! refuses, hangs or resets). [`fixtures`] holds what tests of workers and
//! clients set up again and again: keys, a devnet with a funded, registered
//! worker, a client and a worker wired to it, result collection, raw
//! transactions.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod abci;
mod ante;
mod chain;
mod config;
pub mod conformance;
pub mod demo;
mod emissions;
mod error;
mod events;
pub mod faults;
mod feegrant;
pub mod fixtures;
mod gas;
mod grpc;
mod labels;
mod protocol;
mod state;
mod websocket;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use allora_sdk::keys::Address;
use allora_sdk::tx::GasPrice;

use chain::Chain;
pub use config::{
    AccountConfig, BlockMode, DevnetConfig, EmissionsParams, OutputArity, TopicConfig, TopicType,
    DEFAULT_BLOCK_INTERVAL, DEFAULT_CHAIN_ID, DEFAULT_DATA_SENDING_FEE,
    DEFAULT_MAX_ELEMENTS_PER_FORECAST, DEFAULT_MAX_LABELS_PER_SUBMISSION, DEFAULT_MAX_LABEL_BYTES,
    DEFAULT_MAX_SERIALIZED_MSG_LENGTH, DEFAULT_MAX_TOP_FORECASTERS, DEFAULT_MAX_TOP_INFERERS,
    DEFAULT_MAX_UNFULFILLED_WORKER_REQUESTS, DEFAULT_MIN_GAS_PRICE_UALLO, DEFAULT_REGISTRATION_FEE,
    MAX_LABELS_PER_SUBMISSION_LIMIT,
};
pub use error::DevnetError;
pub use events::{
    BlockEvents, Event, EventAttribute, INSERT_FORECASTER_PAYLOAD, INSERT_INFERER_PAYLOAD,
    REPUTER_REGISTERED, WINDOW_CLOSED, WINDOW_OPENED, WORKER_REGISTERED,
};
pub use faults::{FaultProxy, ProxyMode};
pub use feegrant::{BasicAllowance, FeeGrant};
pub use gas::{
    ante_gas, GAS_PER_TX_BYTE, PAYLOAD_BASE_GAS, PAYLOAD_GAS_PER_VALUE, REGISTER_GAS,
    SIG_VERIFY_GAS, TX_BASE_GAS,
};
pub use labels::{MAX_MAX_LABEL_BYTES, MIN_MAX_LABEL_BYTES};
pub use protocol::DevnetProtocol;
pub use state::{IncludedTx, LabeledValues, Submission};
use websocket::WebsocketServer;

/// How long [`DevnetHandle::shutdown`] lets open gRPC calls finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Blocks kept for websocket subscribers that fall behind.
const BLOCK_CHANNEL_CAPACITY: usize = 256;

/// State shared by the servers, the block producer and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    chain: Mutex<Chain>,
    blocks: broadcast::Sender<Arc<BlockEvents>>,
    faults: Arc<faults::FaultSwitches>,
    /// How many feemarket `GasPrice` queries were answered.
    gas_price_queries: AtomicU64,
    /// How many `BroadcastTx` calls arrived (accepted or not).
    broadcasts: AtomicU64,
}

impl Shared {
    /// Locks the chain. The lock is only ever held for synchronous work, so
    /// a poisoned lock means a panic mid-update of plain data that is still
    /// safe to read.
    pub(crate) fn chain(&self) -> MutexGuard<'_, Chain> {
        self.chain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn produce_block(&self) -> Arc<BlockEvents> {
        let block = Arc::new(self.chain().produce_block());
        // No subscriber is not an error: the websocket may be stopped.
        let _ = self.blocks.send(Arc::clone(&block));
        block
    }
}

/// A devnet ready to start. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Devnet {
    config: DevnetConfig,
}

impl Devnet {
    /// A builder with the defaults of [`DevnetConfig`].
    pub fn builder() -> DevnetBuilder {
        DevnetBuilder {
            config: DevnetConfig::default(),
        }
    }

    /// A devnet from a full configuration.
    pub fn new(config: DevnetConfig) -> Self {
        Devnet { config }
    }

    /// The configuration.
    pub fn config(&self) -> &DevnetConfig {
        &self.config
    }

    /// Binds the servers and, in timed mode, starts producing blocks.
    pub async fn start(self) -> Result<DevnetHandle, DevnetError> {
        let chain = Chain::new(&self.config)?;
        let (blocks, _) = broadcast::channel(BLOCK_CHANNEL_CAPACITY);
        let shared = Arc::new(Shared {
            chain: Mutex::new(chain),
            blocks: blocks.clone(),
            faults: Arc::default(),
            gas_price_queries: AtomicU64::new(0),
            broadcasts: AtomicU64::new(0),
        });
        let (grpc_addr, grpc_shutdown, grpc_task) =
            grpc::serve(self.config.grpc_addr, Arc::clone(&shared)).await?;
        let websocket = WebsocketServer::start(
            self.config.websocket_addr,
            blocks,
            Arc::clone(&shared.faults),
        )
        .await?;
        let websocket_addr = websocket.addr();
        let block_task = match self.config.block_mode {
            BlockMode::Manual => None,
            BlockMode::Timed(interval) => {
                Some(tokio::spawn(produce_blocks(Arc::clone(&shared), interval)))
            }
        };
        Ok(DevnetHandle {
            shared,
            chain_id: self.config.chain_id,
            grpc_addr,
            websocket_addr,
            grpc_shutdown: Some(grpc_shutdown),
            grpc_task: Some(grpc_task),
            block_task,
            websocket: tokio::sync::Mutex::new(websocket),
        })
    }
}

async fn produce_blocks(shared: Arc<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !shared.faults.blocks_paused() {
            shared.produce_block();
        }
    }
}

/// Builder methods that each set one field of the configuration to their
/// argument.
macro_rules! config_setters {
    ($($(#[doc = $doc:literal])* $name:ident($ty:ty) => $($field:ident).+;)*) => {
        $(
            $(#[doc = $doc])*
            pub fn $name(mut self, $name: $ty) -> Self {
                self.config.$($field).+ = $name;
                self
            }
        )*
    };
}

/// Builds a [`Devnet`].
#[derive(Debug, Clone)]
pub struct DevnetBuilder {
    config: DevnetConfig,
}

impl DevnetBuilder {
    /// Sets the chain id.
    pub fn chain_id(mut self, chain_id: impl Into<String>) -> Self {
        self.config.chain_id = chain_id.into();
        self
    }

    /// Produces a block every `interval` (the default mode, 1 s).
    pub fn block_interval(mut self, interval: Duration) -> Self {
        self.config.block_mode = BlockMode::Timed(interval);
        self
    }

    /// Produces blocks only through [`DevnetHandle::produce_block`].
    pub fn manual_blocks(mut self) -> Self {
        self.config.block_mode = BlockMode::Manual;
        self
    }

    config_setters! {
        /// Sets the feemarket minimum gas price.
        min_gas_price(GasPrice) => min_gas_price;
        /// Sets the registration fee, in uallo.
        registration_fee(u128) => registration_fee;
        /// Sets the emissions parameters payloads are checked against.
        params(EmissionsParams) => params;
        /// Sets the data fee charged per payload, in uallo.
        data_sending_fee(u128) => params.data_sending_fee;
        /// Sets the largest payload message, in encoded bytes.
        max_serialized_msg_length(i64) => params.max_serialized_msg_length;
        /// Sets the longest canonical label, in bytes (1..=1024).
        max_canonical_label_byte_length(u64) => params.max_canonical_label_byte_length;
        /// Sets how many inferers are admitted per nonce on topics without
        /// their own cap.
        max_top_inferers_to_reward(u64) => params.max_top_inferers_to_reward;
        /// Sets how many forecasters are admitted per nonce.
        max_top_forecasters_to_reward(u64) => params.max_top_forecasters_to_reward;
        /// Sets how many elements of a forecast are kept.
        max_elements_per_forecast(u64) => params.max_elements_per_forecast;
        /// Sets how many worker nonces may stay open per topic.
        max_unfulfilled_worker_requests(u64) => max_unfulfilled_worker_requests;
        /// Sets the gRPC listening address (default `127.0.0.1:0`).
        grpc_addr(SocketAddr) => grpc_addr;
        /// Sets the websocket listening address (default `127.0.0.1:0`).
        websocket_addr(SocketAddr) => websocket_addr;
        /// Speaks `protocol` from genesis (default [`DevnetProtocol::V10`]):
        /// emissions v9, v10, or v10 with wall-clock windows, whose topic
        /// timings are seconds.
        emissions(DevnetProtocol) => protocol;
    }

    /// Enables (with these members) or disables the global whitelist.
    pub fn global_whitelist(
        mut self,
        enabled: bool,
        members: impl IntoIterator<Item = Address>,
    ) -> Self {
        self.config.params.global_whitelist_enabled = enabled;
        self.config.params.global_whitelist = members.into_iter().collect();
        self
    }

    /// Enables (with these members) or disables the global worker whitelist.
    pub fn global_worker_whitelist(
        mut self,
        enabled: bool,
        members: impl IntoIterator<Item = Address>,
    ) -> Self {
        self.config.params.global_worker_whitelist_enabled = enabled;
        self.config.params.global_worker_whitelist = members.into_iter().collect();
        self
    }

    /// Upgrades to `protocol` at `height`: the block at that height is the
    /// first one in the new protocol (heights ascending).
    pub fn upgrade_at(mut self, height: i64, protocol: DevnetProtocol) -> Self {
        self.config.upgrades.push((height, protocol));
        self
    }

    /// Adds a topic.
    pub fn topic(mut self, topic: TopicConfig) -> Self {
        self.config.topics.push(topic);
        self
    }

    /// Adds an account.
    pub fn account(mut self, account: AccountConfig) -> Self {
        self.config.accounts.push(account);
        self
    }

    /// Registers a worker in a topic at genesis.
    pub fn worker(mut self, topic_id: u64, address: Address) -> Self {
        self.config.workers.push((topic_id, address));
        self
    }

    /// Adds a fee allowance at genesis (see [`DevnetHandle::grant_fee_allowance`]).
    pub fn fee_grant(mut self, grant: FeeGrant) -> Self {
        self.config.fee_grants.push(grant);
        self
    }

    /// The devnet.
    pub fn build(self) -> Devnet {
        Devnet::new(self.config)
    }
}

/// An account as the devnet holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountState {
    /// The account number.
    pub account_number: u64,
    /// The committed sequence.
    pub sequence: u64,
    /// The balance in uallo.
    pub balance: u128,
}

/// A running devnet: its endpoints and test hooks. Dropping it stops it.
#[derive(Debug)]
pub struct DevnetHandle {
    shared: Arc<Shared>,
    chain_id: String,
    grpc_addr: SocketAddr,
    websocket_addr: SocketAddr,
    grpc_shutdown: Option<oneshot::Sender<()>>,
    grpc_task: Option<JoinHandle<()>>,
    block_task: Option<JoinHandle<()>>,
    websocket: tokio::sync::Mutex<WebsocketServer>,
}

impl DevnetHandle {
    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The gRPC server's address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The gRPC endpoint URL (`http://127.0.0.1:PORT`, plaintext HTTP/2).
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The websocket server's address (kept across stop and restart).
    pub fn websocket_addr(&self) -> SocketAddr {
        self.websocket_addr
    }

    /// The websocket URL (`ws://127.0.0.1:PORT/websocket`).
    pub fn websocket_url(&self) -> String {
        format!("ws://{}/websocket", self.websocket_addr)
    }

    /// Produces one block now (in either mode) and returns its events.
    pub async fn produce_block(&self) -> BlockEvents {
        (*self.shared.produce_block()).clone()
    }

    /// Produces blocks until the height reaches `height`.
    pub async fn produce_blocks_until(&self, height: i64) {
        while self.height() < height {
            self.shared.produce_block();
        }
    }

    /// Height of the last block.
    pub fn height(&self) -> i64 {
        self.shared.chain().height
    }

    /// Receives every block's events from now on.
    pub fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<BlockEvents>> {
        self.shared.blocks.subscribe()
    }

    /// Activates or deactivates a topic. An inactive topic opens no nonces;
    /// payloads for a nonce it still has open are accepted, as on the chain.
    pub fn set_topic_active(&self, topic_id: u64, active: bool) -> Result<(), DevnetError> {
        self.update_topic(topic_id, |topic| {
            topic.active = active;
            Ok(())
        })
    }

    /// Changes a topic's worker submission window, as an `UpdateTopic`
    /// would. Nonces already open keep the close scheduled when they opened,
    /// but payloads for them are checked against the new window (so a
    /// shorter window makes late payloads fail with code 67).
    pub fn set_worker_submission_window(
        &self,
        topic_id: u64,
        window: i64,
    ) -> Result<(), DevnetError> {
        self.update_topic(topic_id, |topic| {
            if window <= 0 || window > topic.epoch_length {
                return Err(DevnetError::Config(format!(
                    "topic {topic_id}: the worker submission window must be in 1..=epoch_length"
                )));
            }
            topic.worker_submission_window = window;
            Ok(())
        })
    }

    /// Enables a topic's worker whitelist with these members, or disables
    /// it (`None`).
    pub fn set_worker_whitelist(
        &self,
        topic_id: u64,
        members: Option<Vec<Address>>,
    ) -> Result<(), DevnetError> {
        self.update_topic(topic_id, |topic| {
            topic.worker_whitelist = members.clone();
            Ok(())
        })
    }

    /// Changes a topic's configuration in place, as an `UpdateTopic` would.
    fn update_topic(
        &self,
        topic_id: u64,
        update: impl Fn(&mut TopicConfig) -> Result<(), DevnetError>,
    ) -> Result<(), DevnetError> {
        self.shared.chain().apply(|ledger, _| {
            let topic = ledger
                .topics
                .get_mut(&topic_id)
                .ok_or(DevnetError::UnknownTopic(topic_id))?;
            update(&mut topic.config)
        })
    }

    /// Whether a worker is registered in a topic.
    pub fn is_worker_registered(&self, topic_id: u64, address: &Address) -> bool {
        self.shared
            .chain()
            .ledger
            .is_worker(topic_id, address.as_str())
    }

    /// Data fees paid for a topic so far, in uallo.
    pub fn topic_fee_revenue(&self, topic_id: u64) -> u128 {
        self.shared
            .chain()
            .ledger
            .topic_fee_revenue
            .get(&topic_id)
            .copied()
            .unwrap_or(0)
    }

    /// The ecosystem account's balance (every data fee paid), in uallo.
    pub fn ecosystem_balance(&self) -> u128 {
        self.shared.chain().ledger.ecosystem_balance
    }

    /// How many feemarket `GasPrice` queries the devnet has answered.
    pub fn gas_price_queries(&self) -> u64 {
        self.shared.gas_price_queries.load(Ordering::SeqCst)
    }

    /// How many `BroadcastTx` calls the devnet has received, whatever CheckTx
    /// said of them (to check that nothing was sent at all).
    pub fn broadcasts_received(&self) -> u64 {
        self.shared.broadcasts.load(Ordering::SeqCst)
    }

    /// Adds a topic; its first epoch ends `epoch_length` blocks (or, with
    /// wall-clock windows, seconds) from now.
    pub fn add_topic(&self, topic: TopicConfig) -> Result<(), DevnetError> {
        let mut chain = self.shared.chain();
        let time = chain.block_time;
        chain.apply(|ledger, height| chain::add_topic(ledger, topic.clone(), height, time))
    }

    /// The emissions protocol spoken now.
    pub fn protocol(&self) -> DevnetProtocol {
        self.shared.chain().protocol
    }

    /// Upgrades to `protocol` at `height` (the block at that height is the
    /// first one in it; a height already reached upgrades at the next
    /// block).
    pub fn upgrade_at(&self, height: i64, protocol: DevnetProtocol) -> Result<(), DevnetError> {
        protocol.validate()?;
        self.shared.chain().schedule_upgrade(height, protocol);
        Ok(())
    }

    /// Creates an account.
    pub fn add_account(&self, account: AccountConfig) -> Result<(), DevnetError> {
        self.shared
            .chain()
            .apply(|ledger, _| chain::add_account(ledger, &account))
    }

    /// Adds uallo to an account, creating it (next account number) if needed.
    pub fn fund(&self, address: &Address, amount: u128) -> Result<(), DevnetError> {
        self.shared.chain().apply(|ledger, _| {
            if !ledger.accounts.contains_key(address.as_str()) {
                chain::add_account(ledger, &AccountConfig::new(address.clone(), 0))?;
            }
            if let Some(account) = ledger.accounts.get_mut(address.as_str()) {
                account.balance = account.balance.saturating_add(amount);
            }
            Ok(())
        })
    }

    /// Registers a worker in a topic without a transaction.
    pub fn register_worker(&self, topic_id: u64, address: &Address) -> Result<(), DevnetError> {
        self.update_workers(topic_id, |workers| {
            workers.insert((topic_id, address.to_string()));
        })
    }

    /// Removes a worker's registration in a topic without a transaction (as
    /// the chain's `RemoveRegistration` does), so its payloads meet the
    /// chain's "address not registered" refusal (emissions code 13).
    pub fn unregister_worker(&self, topic_id: u64, address: &Address) -> Result<(), DevnetError> {
        self.update_workers(topic_id, |workers| {
            workers.remove(&(topic_id, address.to_string()));
        })
    }

    /// Changes the worker registrations of an existing topic without a
    /// transaction.
    fn update_workers(
        &self,
        topic_id: u64,
        update: impl Fn(&mut BTreeSet<(u64, String)>),
    ) -> Result<(), DevnetError> {
        self.shared.chain().apply(|ledger, _| {
            if !ledger.topics.contains_key(&topic_id) {
                return Err(DevnetError::UnknownTopic(topic_id));
            }
            update(&mut ledger.workers);
            Ok(())
        })
    }

    /// Grants a fee allowance, as a `MsgGrantAllowance` of the granter would:
    /// the grantee's transactions naming the granter in `Fee.granter` then
    /// have their fees taken from the granter's account, within the spend
    /// limit and until the expiration (block time). Refused when the pair
    /// has an allowance already, or it has expired or has a zero limit.
    pub fn grant_fee_allowance(&self, grant: FeeGrant) -> Result<(), DevnetError> {
        let mut chain = self.shared.chain();
        let now = chain.block_system_time();
        chain.apply(|ledger, _| feegrant::grant(&mut ledger.fee_grants, &grant, now))
    }

    /// Removes a fee allowance, as a `MsgRevokeAllowance` would. Returns
    /// whether there was one.
    pub fn revoke_fee_allowance(&self, granter: &Address, grantee: &Address) -> bool {
        let key = (granter.to_string(), grantee.to_string());
        let mut chain = self.shared.chain();
        let existed = chain.ledger.fee_grants.contains_key(&key);
        // Removing a missing entry cannot fail.
        let _ = chain.apply(|ledger, _| {
            ledger.fee_grants.remove(&key);
            Ok(())
        });
        existed
    }

    /// The fee allowance a granter gave a grantee, as committed (its spend
    /// limit lowered by every fee it paid).
    pub fn fee_allowance(&self, granter: &Address, grantee: &Address) -> Option<BasicAllowance> {
        self.shared
            .chain()
            .ledger
            .fee_grants
            .get(&(granter.to_string(), grantee.to_string()))
            .copied()
    }

    /// Advances an account's sequence as if it had sent a transaction behind
    /// the client's back. Returns the new committed sequence.
    pub fn bump_sequence(&self, address: &Address) -> Result<u64, DevnetError> {
        let mut chain = self.shared.chain();
        chain.apply(|ledger, _| {
            let account = ledger
                .accounts
                .get_mut(address.as_str())
                .ok_or_else(|| DevnetError::UnknownAccount(address.to_string()))?;
            account.sequence = account.sequence.saturating_add(1);
            Ok(())
        })?;
        Ok(chain
            .ledger
            .accounts
            .get(address.as_str())
            .map_or(0, |a| a.sequence))
    }

    /// An account's committed state.
    pub fn account(&self, address: &Address) -> Option<AccountState> {
        self.shared
            .chain()
            .ledger
            .accounts
            .get(address.as_str())
            .map(|a| AccountState {
                account_number: a.number,
                sequence: a.sequence,
                balance: a.balance,
            })
    }

    /// Open (unfulfilled) worker nonces of a topic, oldest first.
    pub fn open_nonces(&self, topic_id: u64) -> Vec<i64> {
        self.shared
            .chain()
            .ledger
            .open_nonces
            .get(&topic_id)
            .map(|n| n.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Every accepted payload, in inclusion order.
    pub fn submissions(&self) -> Vec<Submission> {
        self.shared.chain().submissions().to_vec()
    }

    /// The payload a worker submitted for a topic and nonce, if any.
    pub fn submission(&self, topic_id: u64, nonce: i64, worker: &Address) -> Option<Submission> {
        self.shared
            .chain()
            .submissions()
            .iter()
            .find(|s| s.topic_id == topic_id && s.nonce == nonce && s.worker == worker.as_str())
            .cloned()
    }

    /// Every included transaction, in block order.
    pub fn included_txs(&self) -> Vec<IncludedTx> {
        self.shared.chain().included_txs()
    }

    /// An included transaction by hash.
    pub fn included_tx(&self, hash: &str) -> Option<IncludedTx> {
        self.shared.chain().included_tx(hash).cloned()
    }

    /// Closes every websocket connection (the server keeps accepting).
    pub async fn drop_websocket_connections(&self) {
        self.websocket.lock().await.drop_connections();
    }

    /// Stops the websocket server and closes its connections.
    pub async fn stop_websocket(&self) -> Result<(), DevnetError> {
        self.websocket.lock().await.stop()
    }

    /// Starts the websocket server again on the same address.
    pub async fn start_websocket(&self) -> Result<(), DevnetError> {
        self.websocket.lock().await.restart().await
    }

    /// Whether the websocket server is running.
    pub async fn websocket_running(&self) -> bool {
        self.websocket.lock().await.is_running()
    }

    /// Stops block production and both servers. gRPC connections get a
    /// graceful HTTP/2 shutdown, cut short after [`SHUTDOWN_GRACE`].
    pub async fn shutdown(mut self) {
        self.stop_tasks();
        if let Some(mut task) = self.grpc_task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    fn stop_tasks(&mut self) {
        if let Some(task) = self.block_task.take() {
            task.abort();
        }
        if let Some(tx) = self.grpc_shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for DevnetHandle {
    fn drop(&mut self) {
        self.stop_tasks();
        if let Some(task) = self.grpc_task.take() {
            task.abort();
        }
    }
}
