//! What a devnet starts with: chain id, block timing, fees, topics and
//! funded accounts.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use allora_sdk::keys::Address;
use allora_sdk::tx::GasPrice;

use super::error::DevnetError;

/// Default block interval of a timed devnet.
pub const DEFAULT_BLOCK_INTERVAL: Duration = Duration::from_secs(1);
/// Default chain id.
pub const DEFAULT_CHAIN_ID: &str = "allora-devnet-1";
/// Default minimum gas price: 10 uallo per gas, as on the testnet.
pub const DEFAULT_MIN_GAS_PRICE_UALLO: u64 = 10;
/// Default cap on open (unfulfilled) worker nonces per topic.
pub const DEFAULT_MAX_UNFULFILLED_WORKER_REQUESTS: u64 = 100;
/// Default fee for registering in a topic, in uallo.
pub const DEFAULT_REGISTRATION_FEE: u128 = 10;

/// How blocks are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockMode {
    /// One block every interval, by a background task.
    Timed(Duration),
    /// Only when the handle's `produce_block` is called (tests step time).
    Manual,
}

/// A topic that exists from genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// The topic id (non-zero).
    pub id: u64,
    /// Free text shown by `GetTopic`.
    pub metadata: String,
    /// Blocks between two worker nonces; the first one opens at this height.
    pub epoch_length: i64,
    /// Blocks after a nonce during which payloads for it are accepted
    /// (inclusive), `0 < window <= epoch_length` as the chain requires.
    pub worker_submission_window: i64,
    /// Whether nonces open for this topic.
    pub active: bool,
}

impl TopicConfig {
    /// An active topic with this epoch length and submission window.
    pub fn new(id: u64, epoch_length: i64, worker_submission_window: i64) -> Self {
        TopicConfig {
            id,
            metadata: format!("devnet topic {id}"),
            epoch_length,
            worker_submission_window,
            active: true,
        }
    }

    /// Makes the topic start inactive.
    pub fn inactive(mut self) -> Self {
        self.active = false;
        self
    }

    /// Sets the metadata text.
    pub fn metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = metadata.into();
        self
    }

    pub(crate) fn validate(&self) -> Result<(), DevnetError> {
        if self.id == 0 {
            return Err(DevnetError::Config("topic id 0 is reserved".into()));
        }
        if self.epoch_length <= 0 {
            return Err(DevnetError::Config(format!(
                "topic {}: epoch length must be positive",
                self.id
            )));
        }
        if self.worker_submission_window <= 0 || self.worker_submission_window > self.epoch_length {
            return Err(DevnetError::Config(format!(
                "topic {}: the worker submission window must be in 1..=epoch_length",
                self.id
            )));
        }
        Ok(())
    }
}

/// An account that exists from genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// The address.
    pub address: Address,
    /// Balance in uallo.
    pub balance: u128,
    /// The account number; `None` takes the next free one.
    pub account_number: Option<u64>,
    /// The starting sequence.
    pub sequence: u64,
}

impl AccountConfig {
    /// An account with this balance, the next free account number and sequence 0.
    pub fn new(address: Address, balance: u128) -> Self {
        AccountConfig {
            address,
            balance,
            account_number: None,
            sequence: 0,
        }
    }

    /// Sets the account number.
    pub fn account_number(mut self, number: u64) -> Self {
        self.account_number = Some(number);
        self
    }

    /// Sets the starting sequence.
    pub fn sequence(mut self, sequence: u64) -> Self {
        self.sequence = sequence;
        self
    }
}

/// Everything a devnet starts from. Build one with [`super::Devnet::builder`].
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// The chain id signatures must be made for.
    pub chain_id: String,
    /// How blocks are produced.
    pub block_mode: BlockMode,
    /// The feemarket minimum gas price.
    pub min_gas_price: GasPrice,
    /// Fee debited by `RegisterRequest`, in uallo.
    pub registration_fee: u128,
    /// At most this many worker nonces stay open per topic; the oldest is
    /// dropped when a new one would exceed it.
    pub max_unfulfilled_worker_requests: u64,
    /// Where the gRPC server listens (port 0: any free port).
    pub grpc_addr: SocketAddr,
    /// Where the websocket server listens (port 0: any free port).
    pub websocket_addr: SocketAddr,
    /// Topics at genesis.
    pub topics: Vec<TopicConfig>,
    /// Accounts at genesis.
    pub accounts: Vec<AccountConfig>,
    /// Workers registered at genesis, as (topic, address).
    pub workers: Vec<(u64, Address)>,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        DevnetConfig {
            chain_id: DEFAULT_CHAIN_ID.to_owned(),
            block_mode: BlockMode::Timed(DEFAULT_BLOCK_INTERVAL),
            min_gas_price: GasPrice::from_uallo(DEFAULT_MIN_GAS_PRICE_UALLO),
            registration_fee: DEFAULT_REGISTRATION_FEE,
            max_unfulfilled_worker_requests: DEFAULT_MAX_UNFULFILLED_WORKER_REQUESTS,
            grpc_addr: loopback,
            websocket_addr: loopback,
            topics: Vec::new(),
            accounts: Vec::new(),
            workers: Vec::new(),
        }
    }
}

impl DevnetConfig {
    pub(crate) fn validate(&self) -> Result<(), DevnetError> {
        if self.chain_id.is_empty() {
            return Err(DevnetError::Config("the chain id is empty".into()));
        }
        if let BlockMode::Timed(interval) = self.block_mode {
            if interval.is_zero() {
                return Err(DevnetError::Config("the block interval is zero".into()));
            }
        }
        if self.max_unfulfilled_worker_requests == 0 {
            return Err(DevnetError::Config(
                "max_unfulfilled_worker_requests must be positive".into(),
            ));
        }
        for topic in &self.topics {
            topic.validate()?;
        }
        Ok(())
    }
}
