//! The devnet's chain state: accounts, topics, registrations and open
//! worker nonces (the "ledger", cloned to make checks and messages atomic),
//! and what the chain records about the past (blocks, transactions,
//! submissions).

use std::collections::{BTreeMap, BTreeSet};

use allora_sdk::keys::{Address, PublicKey};
use cosmrs::tendermint::Time;

use super::config::{EmissionsParams, TopicConfig};
use super::events::Event;
use super::feegrant::Grants;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) number: u64,
    pub(crate) sequence: u64,
    pub(crate) balance: u128,
    /// Set by the first transaction the account signs.
    pub(crate) pubkey: Option<PublicKey>,
}

/// A topic and its epoch schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Topic {
    pub(crate) config: TopicConfig,
    pub(crate) epoch_last_ended: i64,
    /// The height of the next epoch (windows in blocks).
    pub(crate) next_epoch_end: i64,
    /// The block time from which the next epoch starts (wall-clock windows).
    pub(crate) next_epoch_at: Time,
    /// Scheduler epochs started so far (the counter of their NonceV2).
    pub(crate) epochs_started: u64,
    /// In-flight scheduler epochs, oldest first (wall-clock windows).
    pub(crate) epochs: Vec<SchedulerEpoch>,
}

/// NonceV2's version in the top 8 bits of an epoch's nonce (allora-chain
/// `x/emissions/types/nonce.go`, `NonceVersionV1`).
pub(crate) const NONCE_V2_VERSION_1: u64 = 1 << 56;

/// A scheduler epoch (allora-chain `x/emissions/types/epoch.go`, `NewEpoch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchedulerEpoch {
    /// The per-topic counter (the payload of its NonceV2).
    pub(crate) counter: u64,
    /// The height it started at: the nonce payloads carry.
    pub(crate) start_height: i64,
    /// The worker window.
    pub(crate) open_at: Time,
    pub(crate) close_at: Time,
    /// Whether the worker window is still open (closed by the first block
    /// stamped after `close_at`).
    pub(crate) worker_open: bool,
    /// The reputer window (opens a ground-truth lag after the start).
    pub(crate) reputer_open_at: Time,
    pub(crate) reputer_close_at: Time,
}

impl SchedulerEpoch {
    /// Its packed NonceV2.
    pub(crate) fn nonce(&self) -> u64 {
        NONCE_V2_VERSION_1 | self.counter
    }
}

/// Labeled values, as (label, canonical decimal text).
pub type LabeledValues = Vec<(String, String)>;

/// What workers submitted for one open nonce of a topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NonceInputs {
    /// Admitted inferer address -> its values (the active inferer set).
    pub(crate) inferences: BTreeMap<String, LabeledValues>,
    /// Admitted forecaster address -> (inferer, forecast value) elements.
    pub(crate) forecasts: BTreeMap<String, LabeledValues>,
}

/// The network inferences computed when a nonce closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkInferences {
    pub(crate) nonce: i64,
    pub(crate) inputs: NonceInputs,
}

/// The part of the state transactions and EndBlock change.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ledger {
    pub(crate) accounts: BTreeMap<String, Account>,
    pub(crate) next_account_number: u64,
    pub(crate) topics: BTreeMap<u64, Topic>,
    /// (topic, worker address).
    pub(crate) workers: BTreeSet<(u64, String)>,
    /// (topic, reputer address).
    pub(crate) reputers: BTreeSet<(u64, String)>,
    /// Topic -> unfulfilled worker nonces (block heights).
    pub(crate) open_nonces: BTreeMap<u64, BTreeSet<i64>>,
    /// (topic, nonce) -> the block whose EndBlock closes it, scheduled when
    /// it opened.
    pub(crate) nonce_close_at: BTreeMap<(u64, i64), i64>,
    /// (topic, nonce) -> inputs received while the nonce is open.
    pub(crate) inputs: BTreeMap<(u64, i64), NonceInputs>,
    /// Topic -> inferences of the last nonce that closed with inferences.
    pub(crate) latest_inferences: BTreeMap<u64, NetworkInferences>,
    pub(crate) registration_fee: u128,
    pub(crate) max_unfulfilled_worker_requests: u64,
    pub(crate) params: EmissionsParams,
    /// (topic, inferer) -> the latest nonce its score was updated for (the
    /// block height of its score EMA on the chain).
    pub(crate) inferer_score_nonce: BTreeMap<(u64, String), i64>,
    /// (topic, forecaster) -> the latest nonce its score was updated for.
    pub(crate) forecaster_score_nonce: BTreeMap<(u64, String), i64>,
    /// Topic -> data fees paid for it, in uallo.
    pub(crate) topic_fee_revenue: BTreeMap<u64, u128>,
    /// The mint module's ecosystem account, which receives data fees.
    pub(crate) ecosystem_balance: u128,
    /// Fee allowances, by (granter, grantee).
    pub(crate) fee_grants: Grants,
}

impl Ledger {
    /// The next topic id `CreateNewTopic` would assign.
    pub(crate) fn next_topic_id(&self) -> u64 {
        self.topics
            .keys()
            .next_back()
            .map_or(1, |id| id.saturating_add(1))
    }

    pub(crate) fn is_worker(&self, topic_id: u64, address: &str) -> bool {
        self.workers.contains(&(topic_id, address.to_owned()))
    }

    /// The chain's `CanSubmitWorkerPayload`: on the topic's worker
    /// whitelist (or the topic has none enabled), or on the global worker
    /// whitelist (or it is disabled), or on the global whitelist (or it is
    /// disabled). An unknown topic has no whitelist enabled.
    pub(crate) fn can_submit_worker_payload(&self, topic_id: u64, address: &str) -> bool {
        let on = |list: &[Address]| list.iter().any(|a| a.as_str() == address);
        let topic_ok = self
            .topics
            .get(&topic_id)
            .and_then(|t| t.config.worker_whitelist.as_deref())
            .is_none_or(on);
        let params = &self.params;
        topic_ok
            || !params.global_worker_whitelist_enabled
            || on(&params.global_worker_whitelist)
            || !params.global_whitelist_enabled
            || on(&params.global_whitelist)
    }

    pub(crate) fn is_open_nonce(&self, topic_id: u64, nonce: i64) -> bool {
        self.open_nonces
            .get(&topic_id)
            .is_some_and(|nonces| nonces.contains(&nonce))
    }
}

/// A payload the chain accepted (its transaction succeeded with code 0),
/// recorded for tests to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The topic.
    pub topic_id: u64,
    /// The nonce block height.
    pub nonce: i64,
    /// The worker address.
    pub worker: String,
    /// The transaction signer, who paid the data fee (usually the worker).
    pub sender: String,
    /// Inference values (canonical label, decimal text), if the payload had
    /// an inference. A single-value topic's value is labeled `y`; on a
    /// multi-value topic values equal to the topic's default are left out.
    pub inference: Option<LabeledValues>,
    /// Whether the inferer was admitted to the nonce's active set (and
    /// `EventInsertInfererPayload` emitted). A payload that is accepted but
    /// not admitted stores nothing on the chain.
    pub inference_admitted: bool,
    /// Forecast elements kept (inferer, decimal text), if the payload had a
    /// forecast.
    pub forecast: Option<LabeledValues>,
    /// Whether the forecaster was admitted to the nonce's active set.
    pub forecast_admitted: bool,
    /// Hash of the transaction that carried it.
    pub tx_hash: String,
    /// Height of the block that included it.
    pub height: i64,
}

/// A transaction included in a block, with its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludedTx {
    /// Upper-case hex sha256 of the tx bytes.
    pub hash: String,
    /// The block that included it.
    pub height: i64,
    /// ABCI code: 0 on success.
    pub code: u32,
    /// Codespace of a failure ("" on success).
    pub codespace: String,
    /// The raw log (the error text on failure).
    pub raw_log: String,
    /// The gas limit.
    pub gas_wanted: u64,
    /// The gas consumed.
    pub gas_used: u64,
    /// Events of the transaction (empty on failure).
    pub events: Vec<Event>,
    /// The raw transaction bytes.
    pub tx_bytes: Vec<u8>,
    /// RFC 3339 time of the block.
    pub timestamp: String,
}
