//! The transaction pipeline: account -> gas -> fee -> sign -> broadcast
//! (CheckTx code checked) -> confirm, one step per file, with every chain
//! rejection handed to the one remedy policy ([`remedy`]):
//!
//! - sequence mismatch: take the sequence the chain expects (or fetch it
//!   again) and resend at once;
//! - out of gas: raise the limit and resend;
//! - insufficient fee: raise the fee straight to what the chain says it
//!   requires (or, when it names no amount, to the fee market's price at
//!   the next tier) and resend, within the maximum fee per transaction
//!   ([`PipelineConfig::max_fee`]; above it: [`SubmitError::FeeAboveMaximum`],
//!   nothing paid);
//! - full mempool: wait (backoff, within the deadline) and resend;
//! - anything final for the window or the topic, or "already submitted":
//!   returned with the failing message's index when the chain names it, so
//!   a batch can drop that message and send the rest;
//! - not included before the deadline: returned, and the sequence is fetched
//!   again before the next transaction.
//!
//! Every call to the chain carries the deadline of the transaction (no
//! broadcast after `send_by`, no inclusion check after `confirm_by`), and so
//! does every signature (a signer that has not answered by `send_by` fails
//! the transaction with [`SubmitError::Signer`]; nothing unsigned or
//! unverified is broadcast). Broadcasting is serialised per account (one
//! sequence at a time); simulation, waits and confirmation are not, so
//! several transactions can be in flight. The in-process key signs under the
//! account's lock (it takes microseconds); a signer outside the process
//! signs outside it, with the sequence read under the lock, so that a slow
//! or hung signer holds up no other transaction. Should another transaction
//! take that sequence meanwhile, the transaction is signed once more for the
//! next one, under the lock and within the same deadline.

mod account;
mod broadcast;
mod confirm;
mod fee;
mod gas;
pub mod remedy;
mod sign;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub use account::SequenceTracker;
pub use allora_infer::Backoff;
pub use fee::{FeePolicy, GasPriceSource};
pub use gas::{GasMemory, GasPolicy};
pub use remedy::{FeeTarget, Remedy, RemedyContext, RemedyPolicy};

use crate::client::{ChainClient, ChainError, ClientError, TxErrorKind, TxEvent, TxStage};
use crate::keys::Address;
use crate::proto::Any;
use crate::signer::{SharedSigner, SignError, Signer, SignerError};
use crate::tx::{Fee, FeeTier, SignedTx, TxBuildError};
use broadcast::{Broadcast, Sent};
use gas::Estimate;
use sign::TxSigner;

/// Why a transaction did not make it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The chain rejected it for a reason resending cannot fix.
    #[error("{error}")]
    Rejected {
        /// The chain's error.
        error: ChainError,
        /// The failing message, when the chain names it.
        message_index: Option<usize>,
    },
    /// It was accepted into the mempool but not seen in a block in time.
    #[error("tx {txhash} accepted but not included before the deadline")]
    NotIncluded {
        /// Its hash.
        txhash: String,
    },
    /// The deadline passed before it could be sent.
    #[error("deadline passed before the transaction could be sent")]
    DeadlinePassed,
    /// The fee the chain requires is above the maximum fee per
    /// transaction: the transaction was not sent (or not sent again).
    #[error("fee above maximum: the chain requires {required}uallo, the maximum fee per transaction is {maximum}uallo; raise the maximum or lower the gas price")]
    FeeAboveMaximum {
        /// The fee the chain requires, in uallo.
        required: u128,
        /// The maximum fee per transaction, in uallo.
        maximum: u128,
    },
    /// Every attempt hit a retryable rejection.
    #[error("gave up after {attempts} attempts; last: {last}")]
    AttemptsExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The last rejection.
        last: ChainError,
    },
    /// The chain could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The transaction could not be built.
    #[error(transparent)]
    Build(#[from] TxBuildError),
    /// The signer gave no usable signature by the deadline (late, refused,
    /// unreachable, or a signature that does not verify); nothing was
    /// broadcast.
    #[error("transaction not signed: {0}")]
    Signer(#[from] SignerError),
}

impl SubmitError {
    /// The kind of the chain rejection, if this is one.
    pub fn chain_kind(&self) -> Option<TxErrorKind> {
        match self {
            SubmitError::Rejected { error, .. }
            | SubmitError::AttemptsExhausted { last: error, .. } => Some(error.kind()),
            SubmitError::Client(ClientError::Chain(e)) => Some(e.kind()),
            _ => None,
        }
    }
}

/// An included, successful transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Included {
    /// Its hash.
    pub txhash: String,
    /// Its block.
    pub height: i64,
    /// The fee paid.
    pub fee: Fee,
    /// Gas used.
    pub gas_used: i64,
    /// When the mempool accepted it.
    pub broadcast_at: Instant,
    /// When it was seen in a block.
    pub included_at: Instant,
    /// How many attempts it took.
    pub attempts: u32,
    /// The events it emitted, as the node reported them.
    pub events: Vec<TxEvent>,
}

impl Included {
    /// Whether message `msg_index` emitted an event whose type is `name` or
    /// ends with `.{name}` (any emissions version, e.g.
    /// `EventInsertInfererPayload`). `GetTx` reports every event of an
    /// included transaction, with `msg_index` on each message's events
    /// (cosmos-sdk v0.50), so an event missing here was not emitted.
    pub fn message_emitted(&self, msg_index: usize, name: &str) -> bool {
        self.events.iter().any(|event| {
            event.msg_index() == Some(msg_index)
                && event
                    .kind
                    .rsplit_once('.')
                    .map_or(event.kind.as_str(), |(_, last)| last)
                    == name
        })
    }
}

/// Settings of a [`TxPipeline`].
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Chain id signed into every transaction.
    pub chain_id: String,
    /// Gas policy.
    pub gas: GasPolicy,
    /// Gas price source.
    pub gas_price: GasPriceSource,
    /// Starting fee tier.
    pub tier: FeeTier,
    /// Interval between inclusion checks.
    pub confirm_poll: Duration,
    /// Most attempts per transaction.
    pub max_attempts: u32,
    /// Waits after a full mempool (bounded by the deadline).
    pub backoff: Backoff,
    /// How long a simulated gas figure is reused for routine transactions
    /// ([`GasMode::ReuseRecent`]).
    pub gas_reuse_for: Duration,
    /// Memo of every transaction.
    pub memo: String,
    /// The most one transaction may pay, in uallo (`None`: no limit). A
    /// fee computed above it is lowered to it; a fee the chain requires
    /// above it is not paid ([`SubmitError::FeeAboveMaximum`]).
    pub max_fee: Option<u128>,
    /// An account paying every transaction's fee under a fee grant it gave
    /// the key (see [`Fee`]); `None`: the key's account pays.
    pub fee_granter: Option<Address>,
}

impl PipelineConfig {
    /// Defaults for a chain id: simulated gas x1.3, a static price of 10
    /// uallo/gas, standard tier, 250 ms inclusion polls, 5 attempts, waits
    /// of 250 ms doubling up to 2 s after a full mempool, simulated gas
    /// reused for 10 minutes by routine transactions, no maximum fee.
    pub fn new(chain_id: impl Into<String>) -> Self {
        PipelineConfig {
            chain_id: chain_id.into(),
            gas: GasPolicy::default(),
            gas_price: GasPriceSource::Static(crate::tx::GasPrice::from_uallo(10)),
            tier: FeeTier::Standard,
            confirm_poll: Duration::from_millis(250),
            max_attempts: 5,
            backoff: remedy::default_backoff(),
            gas_reuse_for: Duration::from_secs(600),
            memo: String::new(),
            max_fee: None,
            fee_granter: None,
        }
    }
}

#[derive(Debug)]
struct SendState {
    account: SequenceTracker,
    fees: FeePolicy,
}

/// Sends transactions for one signer.
#[derive(Debug, Clone)]
pub struct TxPipeline {
    client: ChainClient,
    signer: SharedSigner,
    config: Arc<PipelineConfig>,
    state: Arc<Mutex<SendState>>,
    /// Never held across an await.
    gas_memory: Arc<std::sync::Mutex<GasMemory>>,
}

/// How a transaction's gas limit is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GasMode {
    /// Simulate the transaction: the chain's verdict on every message comes
    /// before any fee is paid (a message that would fail is named and can
    /// be left out).
    #[default]
    Simulate,
    /// Reuse the gas of a recent simulation of a transaction with as many
    /// messages (scaled up by size; see [`GasMemory`]), simulating only when
    /// none is known: for routine transactions whose messages are expected
    /// to pass. A message that fails anyway fails the transaction in its
    /// block (the fee is paid, the chain names the message).
    ReuseRecent,
}

/// Simulations redone because the account's own transactions moved the
/// sequence meanwhile, before the fallback gas limit is used instead.
const SIMULATION_CHASES: usize = 8;

/// The settings of the next attempt, as remedies change them.
#[derive(Debug, Clone, Copy)]
struct Plan {
    gas_limit: Option<u64>,
    tier: FeeTier,
}

/// What one attempt at the mempool came to.
enum Attempt {
    /// The mempool accepted the transaction.
    Sent(Sent),
    /// Try again (after the wait, if any), remembering the rejection.
    Again {
        rejection: ChainError,
        wait: Option<Duration>,
    },
}

impl TxPipeline {
    /// A pipeline for `signer` over `client`: a [`SharedSigner`], or a
    /// [`WorkerKey`](crate::keys::WorkerKey) (plain or in an `Arc`).
    pub fn new(
        client: ChainClient,
        signer: impl Into<SharedSigner>,
        config: PipelineConfig,
    ) -> Self {
        let fees = FeePolicy::new(config.gas_price.clone(), config.tier);
        TxPipeline {
            client,
            signer: signer.into(),
            config: Arc::new(config),
            state: Arc::new(Mutex::new(SendState {
                account: SequenceTracker::new(),
                fees,
            })),
            gas_memory: Arc::default(),
        }
    }

    fn gas_memory(&self) -> std::sync::MutexGuard<'_, GasMemory> {
        // Poisoning only means a panic elsewhere; the figures stay usable.
        self.gas_memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The client used.
    pub fn client(&self) -> &ChainClient {
        &self.client
    }

    /// The signer.
    pub fn signer(&self) -> &SharedSigner {
        &self.signer
    }

    /// The signer's account address.
    pub fn address(&self) -> &Address {
        self.signer.address()
    }

    /// The remedy policy this pipeline follows (its gas policy and waits).
    pub fn remedy_policy(&self) -> RemedyPolicy {
        RemedyPolicy {
            gas: self.config.gas,
            backoff: self.config.backoff,
            max_fee: self.config.max_fee,
        }
    }

    /// The starting fee tier.
    pub fn fee_tier(&self) -> FeeTier {
        self.config.tier
    }

    /// Forgets the local sequence (someone else used the account).
    pub async fn invalidate_sequence(&self) {
        self.state.lock().await.account.invalidate();
    }

    /// The fee a transaction of `gas_limit` costs now, at the configured
    /// tier (within the maximum fee; with the configured fee granter, who
    /// pays it).
    pub async fn fee_estimate(&self, gas_limit: u64) -> Fee {
        let mut state = self.state.lock().await;
        let tier = state.fees.tier();
        let mut fee = state.fees.fee(&self.client, gas_limit, tier).await;
        if let Some(max) = self.config.max_fee {
            fee.amount = fee.amount.min(max);
        }
        fee.with_granter(self.config.fee_granter.clone())
    }

    /// The maximum fee per transaction, in uallo, if one is set.
    pub fn max_fee(&self) -> Option<u128> {
        self.config.max_fee
    }

    /// The account paying this pipeline's fees under a fee grant, if any.
    pub fn fee_granter(&self) -> Option<&Address> {
        self.config.fee_granter.as_ref()
    }

    /// The chain id signed into every transaction.
    pub fn chain_id(&self) -> &str {
        &self.config.chain_id
    }

    /// The gas limit this pipeline would give a transaction of `messages`
    /// now, without signing or sending anything: the simulated gas times
    /// the adjustment, or the fallback limit when the chain cannot simulate
    /// them (an account it has never seen, a message it would refuse).
    /// Every call is bounded by `deadline`.
    pub async fn estimate_gas(
        &self,
        messages: Vec<Any>,
        deadline: Instant,
    ) -> Result<u64, SubmitError> {
        let signer = TxSigner::new(messages, &self.config.memo, &self.config.chain_id)?;
        let count = signer.prepared().message_count();
        let client = self.client.with_deadline(deadline);
        let current = self
            .state
            .lock()
            .await
            .account
            .current(&client, self.signer.address())
            .await;
        let sequence = match current {
            Ok((_, sequence)) => sequence,
            Err(ClientError::NotFound(_)) => return Ok(self.config.gas.fallback(count)),
            Err(other) => return Err(other.into()),
        };
        Ok(match self.simulate(&client, &signer, sequence).await? {
            Estimate::Simulated(gas_used) => self.config.gas.from_simulation(gas_used),
            Estimate::Fallback(gas) => gas,
            Estimate::Refused(_) => self.config.gas.fallback(count),
        })
    }

    /// Sends `messages` in one transaction and waits for its inclusion: no
    /// attempt is broadcast after `send_by`, and inclusion is awaited until
    /// `confirm_by`. The transaction is simulated first ([`GasMode::Simulate`]).
    pub async fn submit(
        &self,
        messages: Vec<Any>,
        send_by: Instant,
        confirm_by: Instant,
    ) -> Result<Included, SubmitError> {
        self.submit_with(messages, send_by, confirm_by, GasMode::Simulate)
            .await
    }

    /// [`TxPipeline::submit`], with the gas found as `gas` says.
    pub async fn submit_with(
        &self,
        messages: Vec<Any>,
        send_by: Instant,
        confirm_by: Instant,
        gas: GasMode,
    ) -> Result<Included, SubmitError> {
        let signer = TxSigner::new(messages, &self.config.memo, &self.config.chain_id)?;
        let recalled = match gas {
            GasMode::Simulate => None,
            GasMode::ReuseRecent => self.gas_memory().recall(
                signer.prepared().message_count(),
                signer.prepared().body_bytes().len(),
                Instant::now(),
                self.config.gas_reuse_for,
            ),
        };
        let mut plan = Plan {
            gas_limit: recalled.map(|gas_used| self.config.gas.from_simulation(gas_used)),
            tier: self.config.tier,
        };
        let mut last: Option<ChainError> = None;

        for attempt in 1..=self.config.max_attempts.max(1) {
            if Instant::now() >= send_by {
                return Err(SubmitError::DeadlinePassed);
            }
            let sent = match self.send(&signer, &mut plan, attempt, send_by).await? {
                Attempt::Sent(sent) => sent,
                Attempt::Again { rejection, wait } => {
                    last = Some(rejection);
                    if let Some(wait) = wait {
                        tokio::time::sleep(wait).await;
                    }
                    continue;
                }
            };
            let outcome = confirm::inclusion(
                &self.client,
                &sent.txhash,
                self.config.confirm_poll,
                confirm_by.max(send_by),
            )
            .await?;
            let Some(outcome) = outcome else {
                // It may still be in a mempool: the chain's sequence is no
                // longer predictable from here.
                self.invalidate_sequence().await;
                return Err(SubmitError::NotIncluded {
                    txhash: sent.txhash,
                });
            };
            match outcome.result {
                Ok(()) => {
                    return Ok(Included {
                        txhash: sent.txhash,
                        height: outcome.height,
                        fee: sent.fee,
                        gas_used: outcome.gas_used,
                        broadcast_at: sent.at,
                        included_at: Instant::now(),
                        attempts: attempt,
                        events: outcome.events,
                    })
                }
                Err(error) => {
                    if error.kind() == TxErrorKind::OutOfGas {
                        // The figure it came from (if any) is too low.
                        self.gas_memory().forget(signer.prepared().message_count());
                    }
                    let mut state = self.state.lock().await;
                    let wait = self.apply(&mut state, &mut plan, &error, attempt, send_by)?;
                    drop(state);
                    last = Some(error);
                    if let Some(wait) = wait {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        match last {
            Some(last) => Err(SubmitError::AttemptsExhausted {
                attempts: self.config.max_attempts,
                last,
            }),
            None => Err(SubmitError::DeadlinePassed),
        }
    }

    /// One attempt at getting the transaction into the mempool: gas (outside
    /// the account's lock, so that the simulations of several transactions
    /// overlap), then account, fee, sign and broadcast under the lock.
    async fn send(
        &self,
        signer: &TxSigner,
        plan: &mut Plan,
        attempt: u32,
        send_by: Instant,
    ) -> Result<Attempt, SubmitError> {
        let client = self.client.with_deadline(send_by);
        let gas = match plan.gas_limit {
            Some(gas) => gas,
            None => match self
                .estimate(&client, signer, plan, attempt, send_by)
                .await?
            {
                Ok(gas) => gas,
                Err(again) => return Ok(again),
            },
        };
        plan.gas_limit = Some(gas);
        let mut state = self.state.lock().await;
        let address = self.signer.address();
        let (account_number, sequence) = state.account.current(&client, address).await?;
        let mut fee = state.fees.fee(&client, gas, plan.tier).await;
        if let Some(maximum) = self.config.max_fee {
            // What the chain last said it requires, when above the maximum,
            // is not paid; a fee the configuration alone puts above it is
            // lowered to it.
            if let Some(required) = state.fees.floor_fee(gas).filter(|r| *r > maximum) {
                return Err(SubmitError::FeeAboveMaximum { required, maximum });
            }
            fee.amount = fee.amount.min(maximum);
        }
        let fee = fee.with_granter(self.config.fee_granter.clone());
        let tx = if self.signer.needs_verification() {
            // A signer outside the process: signed without the lock, so that
            // other transactions go on meanwhile.
            drop(state);
            let tx = signer
                .sign(&self.signer, account_number, sequence, &fee, send_by)
                .await
                .map_err(sign_error)?;
            state = self.state.lock().await;
            match state.account.current(&client, address).await? {
                now if now == (account_number, sequence) => tx,
                // Another transaction took the sequence: signed again for the
                // next one, under the lock so that it cannot move again.
                (account_number, sequence) => {
                    self.sign_locked(signer, account_number, sequence, &fee, send_by)
                        .await?
                }
            }
        } else {
            self.sign_locked(signer, account_number, sequence, &fee, send_by)
                .await?
        };
        match broadcast::broadcast(&client, &tx, &fee).await {
            Ok(Broadcast::Accepted(sent)) => {
                state.account.advance();
                Ok(Attempt::Sent(sent))
            }
            Ok(Broadcast::Refused(error)) => {
                let wait = self.apply(&mut state, plan, &error, attempt, send_by)?;
                Ok(Attempt::Again {
                    rejection: error,
                    wait,
                })
            }
            Err(other) => {
                // The broadcast may or may not have reached a mempool: fetch
                // the sequence again rather than guess.
                state.account.invalidate();
                Err(SubmitError::Client(other))
            }
        }
    }

    /// Signs with the account's lock held by the caller.
    async fn sign_locked(
        &self,
        signer: &TxSigner,
        account_number: u64,
        sequence: u64,
        fee: &Fee,
        send_by: Instant,
    ) -> Result<SignedTx, SubmitError> {
        signer
            .sign(&self.signer, account_number, sequence, fee, send_by)
            .await
            .map_err(sign_error)
    }

    /// Simulates `signer`'s transaction at `sequence` with this pipeline's
    /// key, gas policy and fee granter.
    async fn simulate(
        &self,
        client: &ChainClient,
        signer: &TxSigner,
        sequence: u64,
    ) -> Result<Estimate, SubmitError> {
        gas::estimate(
            client,
            &self.config.gas,
            signer.prepared(),
            self.signer.public_key(),
            sequence,
            self.config.fee_granter.as_ref(),
        )
        .await
    }

    /// The gas step: simulates with the sequence known now, without holding
    /// the account's lock. `Ok(Err(..))` asks for another attempt (the
    /// chain's sequence differs from ours).
    async fn estimate(
        &self,
        client: &ChainClient,
        signer: &TxSigner,
        plan: &Plan,
        attempt: u32,
        send_by: Instant,
    ) -> Result<Result<u64, Attempt>, SubmitError> {
        let address = self.signer.address();
        let mut sequence = self
            .state
            .lock()
            .await
            .account
            .current(client, address)
            .await?
            .1;
        let count = signer.prepared().message_count();
        for _ in 0..SIMULATION_CHASES {
            let error = match self.simulate(client, signer, sequence).await? {
                Estimate::Simulated(gas_used) => {
                    self.gas_memory().remember(
                        count,
                        signer.prepared().body_bytes().len(),
                        gas_used,
                        Instant::now(),
                    );
                    return Ok(Ok(self.config.gas.from_simulation(gas_used)));
                }
                Estimate::Fallback(gas) => return Ok(Ok(gas)),
                Estimate::Refused(error) => error,
            };
            let remedy = self.remedy_for(&error, plan, attempt, send_by);
            match remedy {
                Remedy::ResyncSequence { to } => {
                    let mut state = self.state.lock().await;
                    match state.account.sequence() {
                        // Another transaction of this account went out while
                        // this one simulated: simulate again with its successor.
                        Some(now) if now != sequence => {
                            sequence = now;
                            continue;
                        }
                        // The chain's sequence is not ours: someone else used
                        // the account.
                        _ => {
                            state.account.resync(to);
                            return Ok(Err(Attempt::Again {
                                rejection: error,
                                wait: None,
                            }));
                        }
                    }
                }
                _ if remedy.is_final() || message_index(&error.raw_log).is_some() => {
                    return Err(rejected(error));
                }
                // The complaint is about the simulation's probe fee or limit,
                // not the transaction to send.
                _ => {
                    tracing::debug!(%error, "simulation inconclusive; using the fallback gas limit");
                    return Ok(Ok(self.config.gas.fallback(count)));
                }
            }
        }
        tracing::debug!(
            "the account's sequence kept moving during simulation; using the fallback gas limit"
        );
        Ok(Ok(self.config.gas.fallback(count)))
    }

    /// The policy's remedy for `error` in the current attempt.
    fn remedy_for(
        &self,
        error: &ChainError,
        plan: &Plan,
        attempt: u32,
        deadline: Instant,
    ) -> Remedy {
        let ctx = RemedyContext {
            stage: error.stage,
            attempt,
            tier: plan.tier,
            gas_limit: plan.gas_limit,
            time_left: deadline.saturating_duration_since(Instant::now()),
        };
        self.remedy_policy().remedy(error.kind(), &ctx)
    }

    /// Keeps what an insufficient-fee answer says the chain requires as the
    /// fee floor: the fee for the gas limit that was sent, and the minimum
    /// gas price when the fee market names it.
    fn learn_fee(&self, state: &mut SendState, plan: &Plan, error: &ChainError, required: u128) {
        if let Some(gas) = plan.gas_limit {
            state.fees.require(required, gas);
        }
        if let Some(price) = error.min_gas_price() {
            state.fees.raise_floor(price);
        }
    }

    /// Applies the remedy for a rejection: `Ok(wait)` to try again (after
    /// the wait, if any), the rejection itself when it is final.
    fn apply(
        &self,
        state: &mut SendState,
        plan: &mut Plan,
        error: &ChainError,
        attempt: u32,
        deadline: Instant,
    ) -> Result<Option<Duration>, SubmitError> {
        match self.remedy_for(error, plan, attempt, deadline) {
            Remedy::ResyncSequence { to } => {
                match to {
                    Some(sequence) => state.account.resync(Some(sequence)),
                    None => state.account.invalidate(),
                }
                Ok(None)
            }
            Remedy::RaiseFee {
                to: FeeTarget::Tier(tier),
            } => {
                state.fees.invalidate();
                plan.tier = tier;
                Ok(None)
            }
            Remedy::RaiseFee {
                to: FeeTarget::Amount(required),
            } => {
                self.learn_fee(state, plan, error, required);
                Ok(None)
            }
            Remedy::FeeAboveMaximum { required, maximum } => {
                // Remembered, so the next transactions are not sent to be
                // refused the same way.
                self.learn_fee(state, plan, error, required);
                Err(SubmitError::FeeAboveMaximum { required, maximum })
            }
            Remedy::RaiseGas { to } => {
                plan.gas_limit = Some(to);
                Ok(None)
            }
            Remedy::RetryAfter { delay } => Ok(Some(delay)),
            Remedy::FinalForWindow | Remedy::FinalForTopic | Remedy::Done => {
                Err(rejected(error.clone()))
            }
        }
    }
}

/// A signing failure as the pipeline reports it.
fn sign_error(error: SignError) -> SubmitError {
    match error {
        SignError::Signer(error) => SubmitError::Signer(error),
        SignError::Tx(error) => SubmitError::Build(error),
        SignError::Payload(error) => SubmitError::Build(TxBuildError::Encode(error.to_string())),
    }
}

fn rejected(error: ChainError) -> SubmitError {
    SubmitError::Rejected {
        message_index: message_index(&error.raw_log),
        error,
    }
}

/// The failing message's index, from the SDK's "message index: N" text.
pub fn message_index(log: &str) -> Option<usize> {
    const MARK: &str = "message index: ";
    let rest = &log[log.find(MARK)? + MARK.len()..];
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// Whether an error happened before the transaction reached a block.
pub fn never_broadcast(error: &SubmitError) -> bool {
    match error {
        SubmitError::Rejected { error, .. } => error.stage != TxStage::DeliverTx,
        SubmitError::DeadlinePassed
        | SubmitError::Build(_)
        | SubmitError::FeeAboveMaximum { .. }
        | SubmitError::Signer(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_failing_message() {
        assert_eq!(
            message_index(
                "failed to execute message; message index: 12: inference already submitted"
            ),
            Some(12)
        );
        assert_eq!(message_index("out of gas"), None);
    }

    #[test]
    fn events_are_found_by_message_and_name() {
        let now = Instant::now();
        let event = |kind: &str, index: &str| TxEvent {
            kind: kind.into(),
            attributes: vec![
                ("topic_id".into(), "\"1\"".into()),
                ("msg_index".into(), index.into()),
            ],
        };
        let mut included = Included {
            txhash: "AB".into(),
            height: 3,
            fee: Fee::uallo(1, 1),
            gas_used: 1,
            broadcast_at: now,
            included_at: now,
            attempts: 1,
            events: Vec::new(),
        };
        assert!(!included.message_emitted(0, "EventInsertInfererPayload"));
        included.events = vec![
            event("tx", "0"),
            event("emissions.v10.EventInsertInfererPayload", "1"),
            event("emissions.v9.EventInsertForecasterPayload", "0"),
        ];
        assert!(included.message_emitted(1, "EventInsertInfererPayload"));
        assert!(!included.message_emitted(0, "EventInsertInfererPayload"));
        assert!(included.message_emitted(0, "EventInsertForecasterPayload"));
    }
}
