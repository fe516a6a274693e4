//! Registering a key as a worker (an inferer or forecaster) in a topic.
//!
//! The chain refuses worker payloads from unregistered addresses
//! (allora-chain `x/emissions/keeper/msgserver/msg_server_worker_payload.go`).
//! Registration is a `MsgRegister` (`RegisterRequest` of the emissions
//! version the chain speaks: `/emissions.v9.RegisterRequest` or
//! `/emissions.v10.RegisterRequest`, see [`crate::emissions`]) with
//! `is_reputer = false`, signed by the worker, which pays the transaction fee
//! (unless a fee granter does) and the topic's registration fee
//! (`Params.registration_fee`, in uallo). [`register`] checks the balance
//! against both before sending anything.
//!
//! ```no_run
//! use std::sync::Arc;
//! use allora_sdk::client::{ChainClient, ClientConfig};
//! use allora_sdk::keys::WorkerKey;
//! use allora_sdk::pipeline::{PipelineConfig, TxPipeline};
//! use allora_sdk::registration::{ensure_registered, Registration, REGISTRATION_TIMEOUT};
//!
//! # async fn demo(key: WorkerKey) -> Result<(), Box<dyn std::error::Error>> {
//! let client = ChainClient::new(ClientConfig::new(["http://127.0.0.1:9090"]))?;
//! let chain_id = client.chain_id().await?;
//! let pipeline = TxPipeline::new(client, Arc::new(key), PipelineConfig::new(chain_id));
//! match ensure_registered(&pipeline, 69, REGISTRATION_TIMEOUT).await? {
//!     Registration::AlreadyRegistered => println!("already registered"),
//!     Registration::Registered(tx) => println!("registered in {} at {}", tx.txhash, tx.height),
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use crate::client::{ChainError, ClientError};
use crate::faucet::faucet_for;
use crate::keys::Address;
use crate::pipeline::{Included, SubmitError, TxPipeline};
use crate::proto::emissions::v10;
use crate::proto::Any;
use crate::tx::DENOM;

/// How long one registration usually may take, from signing to inclusion.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// What [`ensure_registered`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// The key was registered in the topic already; nothing was sent.
    AlreadyRegistered,
    /// This transaction registered it.
    Registered(Included),
}

/// Why a registration did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The worker's account cannot pay for the registration; nothing was
    /// sent (or the chain refused it for that reason).
    #[error("{0}")]
    InsufficientFunds(Box<InsufficientFunds>),
    /// The chain could not be asked for the balance or the registration fee.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The transaction failed.
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

/// The account, its balance and what registering costs, in uallo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientFunds {
    /// The topic.
    pub topic_id: u64,
    /// The worker's account, which pays.
    pub address: Address,
    /// Its balance.
    pub balance_uallo: u128,
    /// The transaction fee the pipeline estimates (paid by the fee granter
    /// when there is one, so then not part of [`needed_uallo`](Self::needed_uallo)).
    pub fee_uallo: u128,
    /// Who pays the transaction fee under a fee grant, if not the worker.
    pub fee_granter: Option<Address>,
    /// The chain's registration fee (`Params.registration_fee`).
    pub registration_fee_uallo: u128,
    /// What the account needs: the registration fee, plus the transaction
    /// fee unless a granter pays it.
    pub needed_uallo: u128,
    /// Where to get testnet funds, on the testnet.
    pub faucet_url: Option<&'static str>,
    /// The chain's own refusal, when it answered one.
    pub chain_answer: Option<ChainError>,
}

impl InsufficientFunds {
    /// "(F uallo transaction fee + R uallo registration fee)", or who pays
    /// the transaction fee when a granter does.
    fn breakdown(&self) -> String {
        match &self.fee_granter {
            None => format!(
                "{} uallo transaction fee + {} uallo registration fee",
                self.fee_uallo, self.registration_fee_uallo
            ),
            Some(granter) => format!(
                "{} uallo registration fee; the {} uallo transaction fee is paid by the fee granter {granter}",
                self.registration_fee_uallo, self.fee_uallo
            ),
        }
    }
}

impl fmt::Display for InsufficientFunds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.chain_answer {
            None => write!(
                f,
                "{} has {} uallo but registering in topic {} needs {} uallo ({}); send it at least {} uallo more",
                self.address,
                self.balance_uallo,
                self.topic_id,
                self.needed_uallo,
                self.breakdown(),
                self.needed_uallo.saturating_sub(self.balance_uallo)
            )?,
            Some(answer) => {
                write!(
                    f,
                    "the chain refused registering {} in topic {} for lack of funds ({answer}); it has {} uallo and registering needs {} uallo ({})",
                    self.address,
                    self.topic_id,
                    self.balance_uallo,
                    self.needed_uallo,
                    self.breakdown()
                )?;
                if let Some(granter) = &self.fee_granter {
                    write!(f, "; check the fee granter {granter}'s balance and allowance")?;
                }
            }
        }
        if let Some(url) = self.faucet_url {
            write!(f, "; testnet funds: {url}")?;
        }
        Ok(())
    }
}

/// The registration message of the pipeline's signer in `topic_id`, in the
/// emissions version the chain speaks.
async fn register_message(
    pipeline: &TxPipeline,
    topic_id: u64,
    deadline: tokio::time::Instant,
) -> Result<Any, ClientError> {
    let address = pipeline.address().to_string();
    let message = v10::RegisterRequest {
        sender: address.clone(),
        topic_id,
        owner: address,
        is_reputer: false,
    };
    let protocol = pipeline
        .client()
        .with_deadline(deadline)
        .emissions()
        .await?;
    Ok(protocol.messages().register_any(&message))
}

/// The chain's refusal in a failed submission, if it is one.
fn chain_answer(error: &SubmitError) -> Option<&ChainError> {
    match error {
        SubmitError::Rejected { error, .. }
        | SubmitError::AttemptsExhausted { last: error, .. } => Some(error),
        SubmitError::Client(ClientError::Chain(e)) => Some(e),
        _ => None,
    }
}

/// Whether the chain refused for lack of funds: the fee payer cannot pay the
/// transaction fee (sdk 5, `insufficient funds`), or the sender cannot pay
/// the registration fee (emissions 48, `topic registrant does not have
/// enough denom`: allora-chain `x/emissions/types/errors.go`, from the
/// registration handler `msg_server_registrations.go`).
fn is_lack_of_funds(error: &ChainError) -> bool {
    matches!(
        (error.codespace.as_str(), error.code),
        ("sdk", 5) | ("emissions", 48)
    ) || error.raw_log.contains("insufficient funds")
        || error.raw_log.contains("does not have enough denom")
}

/// What registering `address` costs it now, and whether its balance covers it.
async fn costs(
    pipeline: &TxPipeline,
    topic_id: u64,
    deadline: tokio::time::Instant,
) -> Result<InsufficientFunds, RegistrationError> {
    let client = pipeline.client().with_deadline(deadline);
    let address = pipeline.address();
    let balance_uallo = client.balance(address, DENOM).await?;
    let params = client.params().await?;
    let registration_fee_uallo = if params.registration_fee.is_empty() {
        0
    } else {
        params
            .registration_fee
            .parse::<u128>()
            .map_err(|_| ClientError::Malformed {
                method: "GetParams",
                reason: format!(
                    "registration_fee {:?} is not a whole number of uallo",
                    params.registration_fee
                ),
            })?
    };
    let gas = pipeline
        .estimate_gas(
            vec![register_message(pipeline, topic_id, deadline).await?],
            deadline,
        )
        .await?;
    let fee = pipeline.fee_estimate(gas).await;
    let fee_granter = pipeline.fee_granter().cloned();
    let needed_uallo =
        registration_fee_uallo.saturating_add(if fee_granter.is_some() { 0 } else { fee.amount });
    Ok(InsufficientFunds {
        topic_id,
        address: address.clone(),
        balance_uallo,
        fee_uallo: fee.amount,
        fee_granter,
        registration_fee_uallo,
        needed_uallo,
        faucet_url: faucet_for(pipeline.chain_id()),
        chain_answer: None,
    })
}

/// Registers the pipeline's signer as a worker in `topic_id`, unconditionally:
/// one transaction, included within `timeout` or an error.
///
/// The balance is checked first against the estimated transaction fee plus
/// the chain's registration fee: an account that cannot pay gets
/// [`RegistrationError::InsufficientFunds`] naming the address, its
/// balance, both amounts and, on the testnet, the faucet, and nothing is
/// sent. The same error, with the chain's answer, when the chain refuses
/// for lack of funds anyway.
pub async fn register(
    pipeline: &TxPipeline,
    topic_id: u64,
    timeout: Duration,
) -> Result<Included, RegistrationError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let costs = costs(pipeline, topic_id, deadline).await?;
    if costs.balance_uallo < costs.needed_uallo {
        return Err(RegistrationError::InsufficientFunds(Box::new(costs)));
    }
    let address = pipeline.address();
    tracing::info!(topic_id, %address, "registering as a worker");
    let sent = pipeline
        .submit(
            vec![register_message(pipeline, topic_id, deadline).await?],
            deadline,
            deadline,
        )
        .await;
    match sent {
        Ok(included) => Ok(included),
        Err(error) => match chain_answer(&error).filter(|e| is_lack_of_funds(e)) {
            Some(answer) => {
                let balance_uallo = pipeline
                    .client()
                    .balance(address, DENOM)
                    .await
                    .unwrap_or(costs.balance_uallo);
                Err(RegistrationError::InsufficientFunds(Box::new(
                    InsufficientFunds {
                        balance_uallo,
                        chain_answer: Some(answer.clone()),
                        ..costs
                    },
                )))
            }
            None => Err(error.into()),
        },
    }
}

/// Registers the pipeline's signer in `topic_id` unless the chain says it is
/// registered there already.
pub async fn ensure_registered(
    pipeline: &TxPipeline,
    topic_id: u64,
    timeout: Duration,
) -> Result<Registration, RegistrationError> {
    let registered = pipeline
        .client()
        .is_worker_registered(topic_id, pipeline.address())
        .await?;
    if registered {
        return Ok(Registration::AlreadyRegistered);
    }
    register(pipeline, topic_id, timeout)
        .await
        .map(Registration::Registered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shortfall(granter: Option<Address>, faucet: Option<&'static str>) -> InsufficientFunds {
        InsufficientFunds {
            topic_id: 3,
            address: "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"
                .parse()
                .unwrap(),
            balance_uallo: 1_000,
            fee_uallo: 3_750_000,
            fee_granter: granter.clone(),
            registration_fee_uallo: 1_000_000,
            needed_uallo: if granter.is_some() {
                1_000_000
            } else {
                4_750_000
            },
            faucet_url: faucet,
            chain_answer: None,
        }
    }

    #[test]
    fn the_message_names_the_account_its_balance_and_both_amounts() {
        let text = shortfall(None, Some(crate::faucet::TESTNET_FAUCET_URL)).to_string();
        assert_eq!(
            text,
            "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv has 1000 uallo but registering in \
             topic 3 needs 4750000 uallo (3750000 uallo transaction fee + 1000000 uallo \
             registration fee); send it at least 4749000 uallo more; testnet funds: \
             https://faucet.testnet.allora.network/"
        );
        let granted = shortfall(
            Some(
                "allo15gpgf5e3gq6v336806d64z4pdtskhd634q22f4"
                    .parse()
                    .unwrap(),
            ),
            None,
        )
        .to_string();
        assert!(
            granted.contains("needs 1000000 uallo (1000000 uallo registration fee; the 3750000 uallo transaction fee is paid by the fee granter allo15gpgf5e3gq6v336806d64z4pdtskhd634q22f4)"),
            "{granted}"
        );
        assert!(!granted.contains("faucet"), "{granted}");
    }
}
