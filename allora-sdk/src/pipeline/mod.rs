//! The transaction pipeline: account -> gas -> fee -> sign -> broadcast
//! (CheckTx code checked) -> confirm, with each rejection handled by kind.
//!
//! - sequence mismatch: take the sequence the chain expects and resend at once;
//! - out of gas: raise the limit and resend;
//! - insufficient fee: refresh the gas price, raise the tier and resend;
//! - anything that names a message (already submitted, window closed...):
//!   returned with the message index, so a batch can drop that message and
//!   send the rest;
//! - not included before the deadline: returned, and the sequence is fetched
//!   again before the next transaction.
//!
//! Signing and broadcasting are serialised per account (one sequence at a
//! time); confirmation is not, so several transactions can be in flight.

mod account;
mod fee;
mod gas;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub use account::SequenceTracker;
pub use fee::{FeePolicy, GasPriceSource};
pub use gas::GasPolicy;

use crate::client::{ChainClient, ChainError, ClientError, TxErrorKind, TxStage};
use crate::keys::WorkerKey;
use crate::proto::Any;
use crate::tx::{Fee, FeeTier, SignerData, TxBuildError, UnsignedTx};

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
    /// Memo of every transaction.
    pub memo: String,
}

impl PipelineConfig {
    /// Defaults for a chain id: simulated gas x1.3, a static price of 10
    /// uallo/gas, standard tier, 250 ms inclusion polls, 5 attempts.
    pub fn new(chain_id: impl Into<String>) -> Self {
        PipelineConfig {
            chain_id: chain_id.into(),
            gas: GasPolicy::default(),
            gas_price: GasPriceSource::Static(crate::tx::GasPrice::from_uallo(10)),
            tier: FeeTier::Standard,
            confirm_poll: Duration::from_millis(250),
            max_attempts: 5,
            memo: String::new(),
        }
    }
}

#[derive(Debug)]
struct SendState {
    account: SequenceTracker,
    fees: FeePolicy,
}

/// Sends transactions for one key.
#[derive(Debug, Clone)]
pub struct TxPipeline {
    client: ChainClient,
    key: Arc<WorkerKey>,
    config: Arc<PipelineConfig>,
    state: Arc<Mutex<SendState>>,
}

enum Step {
    /// Resend (a new attempt) with these settings.
    Retry,
    /// Stop with this error.
    Fail(SubmitError),
}

impl TxPipeline {
    /// A pipeline for `key` over `client`.
    pub fn new(client: ChainClient, key: Arc<WorkerKey>, config: PipelineConfig) -> Self {
        let fees = FeePolicy::new(config.gas_price.clone(), config.tier);
        TxPipeline {
            client,
            key,
            config: Arc::new(config),
            state: Arc::new(Mutex::new(SendState {
                account: SequenceTracker::new(),
                fees,
            })),
        }
    }

    /// The client used.
    pub fn client(&self) -> &ChainClient {
        &self.client
    }

    /// The signing key.
    pub fn key(&self) -> &WorkerKey {
        &self.key
    }

    /// Forgets the local sequence (someone else used the account).
    pub async fn invalidate_sequence(&self) {
        self.state.lock().await.account.invalidate();
    }

    /// The fee a transaction of `gas_limit` costs now, at the configured tier.
    pub async fn fee_estimate(&self, gas_limit: u64) -> Fee {
        let mut state = self.state.lock().await;
        let tier = state.fees.tier();
        state.fees.fee(&self.client, gas_limit, tier).await
    }

    /// Sends `messages` in one transaction and waits for its inclusion: no
    /// attempt is broadcast after `send_by`, and inclusion is awaited until
    /// `confirm_by`.
    pub async fn submit(
        &self,
        messages: Vec<Any>,
        send_by: Instant,
        confirm_by: Instant,
    ) -> Result<Included, SubmitError> {
        let unsigned = UnsignedTx::new(messages).with_memo(self.config.memo.clone());
        let count = unsigned.messages().len();
        let mut gas_limit: Option<u64> = None;
        let mut tier = self.config.tier;
        let mut last: Option<ChainError> = None;

        for attempt in 1..=self.config.max_attempts.max(1) {
            if Instant::now() >= send_by {
                return Err(SubmitError::DeadlinePassed);
            }
            let sent = {
                let mut state = self.state.lock().await;
                match self
                    .sign_and_broadcast(
                        &mut state,
                        &unsigned,
                        count,
                        &mut gas_limit,
                        &mut tier,
                        &mut last,
                    )
                    .await?
                {
                    Some(sent) => sent,
                    None => continue,
                }
            };
            match self.confirm(&sent.txhash, confirm_by.max(send_by)).await? {
                Some(outcome) => match outcome.result {
                    Ok(()) => {
                        return Ok(Included {
                            txhash: sent.txhash,
                            height: outcome.height,
                            fee: sent.fee,
                            gas_used: outcome.gas_used,
                            broadcast_at: sent.at,
                            included_at: Instant::now(),
                            attempts: attempt,
                        })
                    }
                    Err(error) => {
                        match self.on_rejection(&error, &mut gas_limit, &mut tier).await {
                            Step::Retry => last = Some(error),
                            Step::Fail(e) => return Err(e),
                        }
                    }
                },
                None => {
                    // It may still be in a mempool: the chain's sequence is
                    // no longer predictable from here.
                    self.invalidate_sequence().await;
                    return Err(SubmitError::NotIncluded {
                        txhash: sent.txhash,
                    });
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

    /// One attempt at getting the transaction into the mempool. `Ok(None)`
    /// asks for another attempt.
    #[allow(clippy::too_many_arguments)]
    async fn sign_and_broadcast(
        &self,
        state: &mut SendState,
        unsigned: &UnsignedTx,
        count: usize,
        gas_limit: &mut Option<u64>,
        tier: &mut FeeTier,
        last: &mut Option<ChainError>,
    ) -> Result<Option<Sent>, SubmitError> {
        let address = self.key.address();
        let (account_number, sequence) = state.account.current(&self.client, address).await?;
        let gas = match *gas_limit {
            Some(gas) => gas,
            None => {
                let probe_fee = Fee::uallo(1, self.config.gas.simulation_limit(count));
                let bytes =
                    unsigned.simulation_bytes(self.key.public_key(), sequence, &probe_fee)?;
                match self.client.simulate(bytes).await {
                    Ok(estimate) => self.config.gas.from_simulation(estimate.gas_used),
                    Err(ClientError::Chain(error)) => match error.kind() {
                        TxErrorKind::SequenceMismatch { expected } => {
                            state.account.resync(expected);
                            *last = Some(error);
                            return Ok(None);
                        }
                        _ if message_index(&error.raw_log).is_some() || is_final(error.kind()) => {
                            return Err(SubmitError::Rejected {
                                message_index: message_index(&error.raw_log),
                                error,
                            })
                        }
                        _ => {
                            tracing::debug!(%error, "simulation failed; using the fallback gas limit");
                            self.config.gas.fallback(count)
                        }
                    },
                    Err(error) => {
                        tracing::debug!(%error, "simulation unavailable; using the fallback gas limit");
                        self.config.gas.fallback(count)
                    }
                }
            }
        };
        *gas_limit = Some(gas);
        let fee = state.fees.fee(&self.client, gas, *tier).await;
        let signer = SignerData::new(self.config.chain_id.clone(), account_number, sequence);
        let tx = unsigned.sign(&self.key, &signer, &fee)?;
        match self.client.broadcast(&tx).await {
            Ok(ack) => {
                state.account.advance();
                Ok(Some(Sent {
                    txhash: ack.txhash,
                    fee,
                    at: Instant::now(),
                }))
            }
            Err(ClientError::Chain(error)) => match error.kind() {
                TxErrorKind::AlreadyInMempool => {
                    state.account.advance();
                    Ok(Some(Sent {
                        txhash: tx.hash().to_owned(),
                        fee,
                        at: Instant::now(),
                    }))
                }
                TxErrorKind::SequenceMismatch { expected } => {
                    state.account.resync(expected);
                    *last = Some(error);
                    Ok(None)
                }
                TxErrorKind::InsufficientFee => {
                    state.fees.invalidate();
                    *tier = tier.raised().unwrap_or(*tier);
                    *last = Some(error);
                    Ok(None)
                }
                TxErrorKind::OutOfGas => {
                    *gas_limit = Some(self.config.gas.bumped(gas));
                    *last = Some(error);
                    Ok(None)
                }
                TxErrorKind::MempoolFull => {
                    tokio::time::sleep(self.config.confirm_poll).await;
                    *last = Some(error);
                    Ok(None)
                }
                _ => Err(SubmitError::Rejected {
                    message_index: message_index(&error.raw_log),
                    error,
                }),
            },
            Err(other) => {
                // The broadcast may or may not have reached a mempool: fetch
                // the sequence again rather than guess.
                state.account.invalidate();
                Err(SubmitError::Client(other))
            }
        }
    }

    /// What to do after an included transaction failed.
    async fn on_rejection(
        &self,
        error: &ChainError,
        gas_limit: &mut Option<u64>,
        tier: &mut FeeTier,
    ) -> Step {
        match error.kind() {
            TxErrorKind::OutOfGas => {
                *gas_limit = gas_limit.map(|g| self.config.gas.bumped(g));
                Step::Retry
            }
            TxErrorKind::InsufficientFee => {
                self.state.lock().await.fees.invalidate();
                *tier = tier.raised().unwrap_or(*tier);
                Step::Retry
            }
            TxErrorKind::SequenceMismatch { .. } => {
                self.invalidate_sequence().await;
                Step::Retry
            }
            _ => Step::Fail(SubmitError::Rejected {
                message_index: message_index(&error.raw_log),
                error: error.clone(),
            }),
        }
    }

    /// Polls for inclusion until the deadline. `Ok(None)`: not seen in time.
    async fn confirm(
        &self,
        txhash: &str,
        deadline: Instant,
    ) -> Result<Option<crate::client::TxOutcome>, SubmitError> {
        loop {
            match self.client.tx(txhash).await {
                Ok(Some(outcome)) => return Ok(Some(outcome)),
                Ok(None) => {}
                Err(error) if error.is_retryable() => {
                    tracing::debug!(%error, txhash, "inclusion check failed; retrying");
                }
                Err(error) => return Err(error.into()),
            }
            let next = Instant::now() + self.config.confirm_poll;
            if next >= deadline {
                return Ok(None);
            }
            tokio::time::sleep_until(next).await;
        }
    }
}

struct Sent {
    txhash: String,
    fee: Fee,
    at: Instant,
}

/// Rejections that resending the same messages cannot fix.
fn is_final(kind: TxErrorKind) -> bool {
    matches!(
        kind,
        TxErrorKind::AlreadySubmitted
            | TxErrorKind::WindowClosed
            | TxErrorKind::NotRegistered
            | TxErrorKind::TopicUnavailable
            | TxErrorKind::Unauthorized
            | TxErrorKind::InsufficientFunds
    )
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
        SubmitError::DeadlinePassed | SubmitError::Build(_) => true,
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
}
