//! The application: CheckTx against the check state (so several
//! transactions from one account can wait in the mempool, as on a real
//! node), Simulate, and block production (DeliverTx for every mempool
//! transaction, then EndBlock).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use cosmrs::tendermint::Time;

use allora_sdk::tx::{tx_hash, GasPrice};

use super::abci::{self, AbciError};
use super::ante::{self, AnteContext, DecodedTx, Mode, Msg};
use super::config::{AccountConfig, DevnetConfig, TopicConfig};
use super::emissions::{self, BlockContext, MsgOutcome};
use super::error::DevnetError;
use super::events::{BlockEvents, Event};
use super::feegrant;
use super::gas;
use super::protocol::DevnetProtocol;
use super::state::{Account, IncludedTx, Ledger, Submission, Topic};

/// A transaction admitted to the mempool.
#[derive(Debug, Clone)]
struct PendingTx {
    hash: String,
    bytes: Vec<u8>,
}

/// The answer to CheckTx.
#[derive(Debug, Clone)]
pub(crate) struct CheckOutcome {
    pub(crate) hash: String,
    pub(crate) gas_wanted: u64,
    pub(crate) gas_used: u64,
    pub(crate) result: Result<(), AbciError>,
}

/// The answer to Simulate.
#[derive(Debug, Clone)]
pub(crate) struct Simulation {
    pub(crate) gas_wanted: u64,
    pub(crate) gas_used: u64,
    pub(crate) events: Vec<Event>,
}

/// The whole devnet chain.
#[derive(Debug)]
pub(crate) struct Chain {
    pub(crate) chain_id: String,
    pub(crate) min_gas_price: GasPrice,
    /// Height of the last committed block (0 before the first).
    pub(crate) height: i64,
    pub(crate) block_time: Time,
    /// Time of each block; index 0 is genesis.
    block_times: Vec<Time>,
    pub(crate) ledger: Ledger,
    /// The committed ledger plus the ante effects of mempool transactions.
    check: Ledger,
    mempool: Vec<PendingTx>,
    txs: HashMap<String, IncludedTx>,
    tx_order: Vec<String>,
    submissions: Vec<Submission>,
    /// Fault injection: accepted transactions are not kept in the mempool.
    pub(crate) drop_accepted: bool,
    /// The emissions protocol spoken now.
    pub(crate) protocol: DevnetProtocol,
    /// Upgrades still to come, by ascending height.
    upgrades: Vec<(i64, DevnetProtocol)>,
}

impl Chain {
    pub(crate) fn new(config: &DevnetConfig) -> Result<Self, DevnetError> {
        config.validate()?;
        let mut ledger = Ledger {
            registration_fee: config.registration_fee,
            max_unfulfilled_worker_requests: config.max_unfulfilled_worker_requests,
            params: config.params.clone(),
            ..Ledger::default()
        };
        let genesis_time = Time::now();
        for topic in &config.topics {
            add_topic(&mut ledger, topic.clone(), 0, genesis_time)?;
        }
        for account in &config.accounts {
            add_account(&mut ledger, account)?;
        }
        for (topic_id, address) in &config.workers {
            if !ledger.topics.contains_key(topic_id) {
                return Err(DevnetError::UnknownTopic(*topic_id));
            }
            ledger.workers.insert((*topic_id, address.to_string()));
        }
        for grant in &config.fee_grants {
            feegrant::grant(&mut ledger.fee_grants, grant, system_time(genesis_time))?;
        }
        Ok(Chain {
            chain_id: config.chain_id.clone(),
            min_gas_price: config.min_gas_price,
            height: 0,
            block_time: genesis_time,
            block_times: vec![genesis_time],
            check: ledger.clone(),
            ledger,
            mempool: Vec::new(),
            txs: HashMap::new(),
            tx_order: Vec::new(),
            submissions: Vec::new(),
            drop_accepted: false,
            protocol: config.protocol,
            upgrades: config.upgrades.clone(),
        })
    }

    fn ante_context(&self, mode: Mode) -> AnteContext<'_> {
        AnteContext {
            chain_id: &self.chain_id,
            height: self.height.saturating_add(1),
            min_gas_price: self.min_gas_price,
            mode,
            block_time: system_time(self.block_time),
        }
    }

    /// The time of the last block, as the fee grant module compares it.
    pub(crate) fn block_system_time(&self) -> SystemTime {
        system_time(self.block_time)
    }

    /// Admits a transaction to the mempool if the ante handler accepts it
    /// against the check state.
    pub(crate) fn check_tx(&mut self, bytes: &[u8]) -> CheckOutcome {
        let hash = tx_hash(bytes);
        let mut outcome = CheckOutcome {
            hash: hash.clone(),
            gas_wanted: 0,
            gas_used: 0,
            result: Ok(()),
        };
        if self.mempool.iter().any(|p| p.hash == hash) || self.txs.contains_key(&hash) {
            outcome.result = Err(abci::TX_IN_MEMPOOL_CACHE.bare());
            return outcome;
        }
        let tx = match ante::decode(bytes, self.protocol) {
            Ok(tx) => tx,
            Err(e) => {
                outcome.result = Err(e);
                return outcome;
            }
        };
        outcome.gas_wanted = tx.gas_limit();
        let mut scratch = self.check.clone();
        match ante::run(&mut scratch, &tx, &self.ante_context(Mode::Check)) {
            Ok(ante_gas) => {
                outcome.gas_used = ante_gas;
                self.check = scratch;
                if !self.drop_accepted {
                    self.mempool.push(PendingTx {
                        hash,
                        bytes: bytes.to_vec(),
                    });
                }
            }
            Err(e) => outcome.result = Err(e),
        }
        outcome
    }

    /// Runs a transaction against a copy of the check state, as the next
    /// block would, without fee or signature checks and without a gas limit.
    pub(crate) fn simulate(&self, bytes: &[u8]) -> Result<Simulation, AbciError> {
        let tx = ante::decode(bytes, self.protocol)?;
        let mut scratch = self.check.clone();
        let ctx = self.ante_context(Mode::Simulate);
        let ante_gas = ante::run(&mut scratch, &tx, &ctx)?;
        let block = BlockContext {
            height: ctx.height,
            time: Time::now(),
            tx_hash: "",
            protocol: self.protocol,
        };
        let outcome = execute_msgs(&mut scratch, &tx, block)?;
        Ok(Simulation {
            gas_wanted: tx.gas_limit(),
            gas_used: ante_gas.saturating_add(messages_gas(&tx)),
            events: outcome.events,
        })
    }

    /// Produces the next block: delivers the mempool, runs EndBlock,
    /// commits, and resets the check state to the committed state.
    pub(crate) fn produce_block(&mut self) -> BlockEvents {
        self.height = self.height.saturating_add(1);
        self.block_time = Time::now();
        self.block_times.push(self.block_time);
        while let Some((height, protocol)) = self.upgrades.first().copied() {
            if height > self.height {
                break;
            }
            self.upgrades.remove(0);
            self.upgrade(protocol);
        }
        let pending = std::mem::take(&mut self.mempool);
        let num_txs = pending.len();
        for tx in pending {
            let included = self.deliver(tx);
            self.tx_order.push(included.hash.clone());
            self.txs.insert(included.hash.clone(), included);
        }
        let events = emissions::end_block(
            &mut self.ledger,
            self.height,
            self.block_time,
            self.protocol,
        );
        feegrant::prune_expired(&mut self.ledger.fee_grants, system_time(self.block_time));
        self.check = self.ledger.clone();
        BlockEvents {
            height: self.height,
            events,
            num_txs,
        }
    }

    fn deliver(&mut self, tx: PendingTx) -> IncludedTx {
        let mut included = IncludedTx {
            hash: tx.hash.clone(),
            height: self.height,
            code: 0,
            codespace: String::new(),
            raw_log: String::new(),
            gas_wanted: 0,
            gas_used: 0,
            events: Vec::new(),
            tx_bytes: tx.bytes.clone(),
            timestamp: self.block_time.to_rfc3339(),
        };
        let fail = |included: &mut IncludedTx, e: AbciError| {
            included.code = e.code;
            included.codespace = e.codespace.to_owned();
            included.raw_log = e.log;
        };
        let decoded = match ante::decode(&tx.bytes, self.protocol) {
            Ok(d) => d,
            Err(e) => {
                fail(&mut included, e);
                return included;
            }
        };
        included.gas_wanted = decoded.gas_limit();
        // The ante handler's effects (fee, sequence) are committed even when
        // the messages fail; its own failure commits nothing.
        let mut scratch = self.ledger.clone();
        let ante_gas = match ante::run(&mut scratch, &decoded, &self.ante_context(Mode::Deliver)) {
            Ok(g) => g,
            Err(e) => {
                fail(&mut included, e);
                return included;
            }
        };
        self.ledger = scratch.clone();
        let gas_used = ante_gas.saturating_add(messages_gas(&decoded));
        included.gas_used = gas_used;
        let gas_wanted = included.gas_wanted;
        if gas_used > gas_wanted {
            fail(
                &mut included,
                abci::OUT_OF_GAS.wrap(format!(
                    "out of gas in location: WriteFlat; gasWanted: {gas_wanted}, gasUsed: {gas_used}"
                )),
            );
            return included;
        }
        let block = BlockContext {
            height: self.height,
            time: self.block_time,
            tx_hash: &tx.hash,
            protocol: self.protocol,
        };
        match execute_msgs(&mut scratch, &decoded, block) {
            Ok(outcome) => {
                self.ledger = scratch;
                included.events = outcome.events;
                self.submissions.extend(outcome.submissions);
            }
            Err(e) => fail(&mut included, e),
        }
        included
    }

    /// A transaction by hash, if a block included it.
    pub(crate) fn included_tx(&self, hash: &str) -> Option<&IncludedTx> {
        self.txs.get(&hash.to_ascii_uppercase())
    }

    /// The time of a block, if it exists.
    pub(crate) fn block_time_at(&self, height: i64) -> Option<Time> {
        usize::try_from(height)
            .ok()
            .and_then(|h| self.block_times.get(h).copied())
    }

    /// Included transactions in block order.
    pub(crate) fn included_txs(&self) -> Vec<IncludedTx> {
        self.tx_order
            .iter()
            .filter_map(|h| self.txs.get(h).cloned())
            .collect()
    }

    /// Every accepted payload, in inclusion order.
    pub(crate) fn submissions(&self) -> &[Submission] {
        &self.submissions
    }

    /// Switches to `protocol` from the current block on, as an upgrade at
    /// this height does. Open nonces stay open and close as scheduled; with
    /// a change of window mode every topic's next epoch is counted from now
    /// (the chain's migration to scheduler epochs scales block counts by
    /// 6 s; the devnet keeps the topic's numbers, read as seconds, since
    /// its blocks are fast).
    pub(crate) fn upgrade(&mut self, protocol: DevnetProtocol) {
        let switched_windows = protocol.windows != self.protocol.windows;
        tracing::info!(height = self.height, from = %self.protocol, to = %protocol, "devnet upgrade");
        self.protocol = protocol;
        if switched_windows {
            let (height, time) = (self.height, self.block_time);
            for ledger in [&mut self.ledger, &mut self.check] {
                for topic in ledger.topics.values_mut() {
                    reschedule(topic, height, time);
                }
            }
        }
    }

    /// Schedules an upgrade to `protocol` at `height` (the block at that
    /// height is the first in the new protocol); a height already reached
    /// upgrades at the next block.
    pub(crate) fn schedule_upgrade(&mut self, height: i64, protocol: DevnetProtocol) {
        let at = self
            .upgrades
            .iter()
            .position(|(h, _)| *h > height)
            .unwrap_or(self.upgrades.len());
        self.upgrades.insert(at, (height, protocol));
    }

    /// Applies a test hook to the committed and the check state alike.
    pub(crate) fn apply(
        &mut self,
        hook: impl Fn(&mut Ledger, i64) -> Result<(), DevnetError>,
    ) -> Result<(), DevnetError> {
        hook(&mut self.ledger, self.height)?;
        hook(&mut self.check, self.height)
    }
}

/// A block time as a `SystemTime` (block times are after 1970).
fn system_time(time: Time) -> SystemTime {
    let nanos = u64::try_from(time.unix_timestamp_nanos()).unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// Gas of all messages of a transaction.
fn messages_gas(tx: &DecodedTx) -> u64 {
    tx.msgs
        .iter()
        .map(gas::message_gas)
        .fold(0u64, u64::saturating_add)
}

/// Runs every message; the first failure fails the transaction (the caller
/// discards `ledger`).
fn execute_msgs(
    ledger: &mut Ledger,
    tx: &DecodedTx,
    block: BlockContext<'_>,
) -> Result<MsgOutcome, AbciError> {
    let mut total = MsgOutcome::default();
    for (index, msg) in tx.msgs.iter().enumerate() {
        let outcome = match msg {
            Msg::Register(m) => emissions::register(ledger, m, block.protocol),
            Msg::InsertWorkerPayload(m) => emissions::insert_worker_payload(ledger, m, block),
        }
        .map_err(|e| e.context(format!("failed to execute message; message index: {index}")))?;
        total
            .events
            .extend(outcome.events.into_iter().map(|e| e.in_message(index)));
        total.submissions.extend(outcome.submissions);
    }
    Ok(total)
}

/// Adds a topic whose first epoch ends one epoch after `height` (blocks)
/// or `time` (wall-clock).
pub(crate) fn add_topic(
    ledger: &mut Ledger,
    config: TopicConfig,
    height: i64,
    time: Time,
) -> Result<(), DevnetError> {
    let config = config.validate(&ledger.params)?;
    if ledger.topics.contains_key(&config.id) {
        return Err(DevnetError::AlreadyExists(format!("topic {}", config.id)));
    }
    let mut topic = Topic {
        config,
        epoch_last_ended: 0,
        next_epoch_end: 0,
        next_epoch_at: time,
        epochs_started: 0,
        epochs: Vec::new(),
    };
    reschedule(&mut topic, height, time);
    ledger.topics.insert(topic.config.id, topic);
    Ok(())
}

/// Counts a topic's next epoch from `height` and `time`, in both modes.
fn reschedule(topic: &mut Topic, height: i64, time: Time) {
    topic.next_epoch_end = height.saturating_add(topic.config.epoch_length);
    topic.next_epoch_at = emissions::after_seconds(time, topic.config.epoch_length);
}

/// Adds an account.
pub(crate) fn add_account(ledger: &mut Ledger, config: &AccountConfig) -> Result<(), DevnetError> {
    let address = config.address.to_string();
    if ledger.accounts.contains_key(&address) {
        return Err(DevnetError::AlreadyExists(format!("account {address}")));
    }
    let number = config.account_number.unwrap_or(ledger.next_account_number);
    ledger.next_account_number = ledger.next_account_number.max(number.saturating_add(1));
    ledger.accounts.insert(
        address,
        Account {
            number,
            sequence: config.sequence,
            balance: config.balance,
            pubkey: None,
        },
    );
    Ok(())
}
