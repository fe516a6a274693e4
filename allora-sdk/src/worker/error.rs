//! What can go wrong for a worker: at start-up, and for one window.

use std::fmt;

use allora_infer::InferError;

use crate::client::{ChainError, ClientError};
use crate::keys::KeyError;
use crate::labels::LabelError;
use crate::payload::PayloadError;
use crate::signer::SignerError;
use crate::worker::store::StoreError;
use crate::worker::Suspension;

/// Which provider of a window: the inference's or the forecast's. Each has
/// its own deadline and error; one failing never drops the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderSide {
    /// The inference provider.
    Inference,
    /// The forecast provider.
    Forecast,
}

impl fmt::Display for ProviderSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProviderSide::Inference => "inference",
            ProviderSide::Forecast => "forecast",
        })
    }
}

/// A worker failure: of the whole worker (start-up), of one window (in the
/// results stream, with its topic and nonce), or of one topic (suspended;
/// the worker keeps running and serves the others).
///
/// Only [`WorkerError::Unavailable`] says the chain could not be reached;
/// every answer of the chain is reported as what it says.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The configuration is unusable.
    #[error("invalid worker configuration: {0}")]
    Config(String),
    /// The node serves another chain than configured.
    #[error("chain id mismatch: configured {configured:?}, node reports {reported:?}; check the endpoints")]
    ChainIdMismatch {
        /// The configured chain id.
        configured: String,
        /// The node's chain id.
        reported: String,
    },
    /// The chain would refuse a topic's payloads (found at start or by a
    /// re-check): the topic is suspended, its windows skipped without a
    /// provider call or a fee, until a re-check finds it served again.
    /// Reported once per suspension, not per window.
    #[error("topic {topic_id}: {suspension}")]
    TopicSuspended {
        /// The topic.
        topic_id: u64,
        /// Why, since when, and when it is checked again.
        suspension: Suspension,
    },
    /// The chain could not be queried.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A key problem.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The mnemonic could not be taken from its environment variable (the
    /// value is never part of the message).
    #[error("environment variable {variable}: {reason}")]
    MnemonicEnv {
        /// The variable's name.
        variable: String,
        /// What is wrong.
        reason: String,
    },
    /// The submission record failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A provider gave no usable value for a window (or one the topic's
    /// guard rails refuse). The other side, when it answered, was sent
    /// alone.
    #[error("topic {topic_id} nonce {nonce}: no {side}: {source}")]
    Provider {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// Which provider.
        side: ProviderSide,
        /// The provider's error.
        #[source]
        source: InferError,
    },
    /// The inference's labels break the topic's label rules, as the chain
    /// checks them: refused before signing, so nothing was paid. The chain
    /// would have answered the error's codespace and code.
    #[error("topic {topic_id} nonce {nonce}: labels refused before signing (the chain would answer {} {}): {source}", source.kind.codespace(), source.kind.code())]
    LabelsRefused {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// The rule broken.
        #[source]
        source: LabelError,
    },
    /// The provider's values could not make a valid payload.
    #[error("topic {topic_id} nonce {nonce}: invalid payload: {source}")]
    Payload {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// Why.
        #[source]
        source: PayloadError,
    },
    /// The worker's signer gave no usable signature for the window's payload
    /// or transaction by the window's send deadline: it answered late, was
    /// unreachable or refused, or returned a signature that does not verify
    /// against its public key. Nothing was broadcast for the window.
    #[error("topic {topic_id} nonce {nonce}: {source}")]
    Signer {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// The signer's error (it names the signer, never a secret).
        #[source]
        source: SignerError,
    },
    /// The window closed (or would close) before a payload could be sent.
    #[error("topic {topic_id} nonce {nonce}: window missed: {reason}")]
    WindowMissed {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// Why.
        reason: String,
    },
    /// The chain rejected the payload.
    #[error("topic {topic_id} nonce {nonce}: {source}")]
    Rejected {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// The chain's error.
        #[source]
        source: ChainError,
    },
    /// The fee the chain requires is above the maximum fee per transaction:
    /// the window was given up without paying it.
    #[error("topic {topic_id} nonce {nonce}: fee above maximum: the chain requires {required}uallo, the maximum fee per transaction is {maximum}uallo")]
    FeeAboveMaximum {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// The fee the chain requires, in uallo.
        required: u128,
        /// The maximum fee per transaction, in uallo.
        maximum: u128,
    },
    /// The chain answered a query the submission needed with an error (an
    /// account it does not know, a malformed answer...); the window is
    /// tried again while it stays open.
    #[error("topic {topic_id} nonce {nonce}: the chain answered: {reason}")]
    ChainAnswer {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// What it answered.
        reason: String,
    },
    /// The transaction could not be built (a defect, not the chain's
    /// answer).
    #[error("topic {topic_id} nonce {nonce}: transaction not built: {reason}")]
    Transaction {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// Why.
        reason: String,
    },
    /// A task of the worker failed (a panic in a provider, say).
    #[error("topic {topic_id} nonce {nonce}: internal failure: {reason}")]
    TaskFailed {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// Why.
        reason: String,
    },
    /// The transaction was accepted but not seen in a block in time; it may
    /// still land (a resend is answered "already submitted").
    #[error("topic {topic_id} nonce {nonce}: tx {txhash} not included in time")]
    NotIncluded {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// The transaction.
        txhash: String,
    },
    /// The chain could not be reached (every endpoint failed at the
    /// transport level) to send the payload; the window is tried again
    /// while it stays open.
    #[error("topic {topic_id} nonce {nonce}: chain unreachable: {reason}")]
    Unavailable {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// Why.
        reason: String,
    },
    /// The worker shut down before the payload was sent.
    #[error("topic {topic_id} nonce {nonce}: not sent: worker shutting down")]
    NotSent {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
    },
}

impl WorkerError {
    /// The window the error is about, if any.
    pub fn window(&self) -> Option<(u64, i64)> {
        match self {
            WorkerError::Provider {
                topic_id, nonce, ..
            }
            | WorkerError::Payload {
                topic_id, nonce, ..
            }
            | WorkerError::Signer {
                topic_id, nonce, ..
            }
            | WorkerError::WindowMissed {
                topic_id, nonce, ..
            }
            | WorkerError::Rejected {
                topic_id, nonce, ..
            }
            | WorkerError::NotIncluded {
                topic_id, nonce, ..
            }
            | WorkerError::Unavailable {
                topic_id, nonce, ..
            }
            | WorkerError::LabelsRefused {
                topic_id, nonce, ..
            }
            | WorkerError::FeeAboveMaximum {
                topic_id, nonce, ..
            }
            | WorkerError::ChainAnswer {
                topic_id, nonce, ..
            }
            | WorkerError::Transaction {
                topic_id, nonce, ..
            }
            | WorkerError::TaskFailed {
                topic_id, nonce, ..
            }
            | WorkerError::NotSent { topic_id, nonce } => Some((*topic_id, *nonce)),
            _ => None,
        }
    }

    /// The topic the error is about, if any (a window's, or a suspended
    /// topic's).
    pub fn topic(&self) -> Option<u64> {
        match self {
            WorkerError::TopicSuspended { topic_id, .. } => Some(*topic_id),
            other => other.window().map(|(topic_id, _)| topic_id),
        }
    }

    /// A short stable name of the failure kind, for metrics labels: the
    /// chain's refusals by their [`TxErrorKind`](crate::client::TxErrorKind)
    /// name (`not_registered`, `nonce_not_open`, `invalid_label_name`...),
    /// suspensions by their reason, the rest by what failed
    /// (`provider_timeout`, `forecast_error`, `fee_above_maximum`,
    /// `unavailable`...).
    pub fn kind(&self) -> &'static str {
        match self {
            WorkerError::Config(_) => "config",
            WorkerError::ChainIdMismatch { .. } => "chain_id_mismatch",
            WorkerError::TopicSuspended { suspension, .. } => suspension.reason.as_str(),
            WorkerError::Client(_) => "client",
            WorkerError::Key(_) | WorkerError::MnemonicEnv { .. } => "key",
            WorkerError::Store(_) => "store",
            WorkerError::Provider { source, side, .. } => match (side, source) {
                (ProviderSide::Inference, InferError::Timeout { .. }) => "provider_timeout",
                (ProviderSide::Inference, InferError::Refused { .. }) => "value_refused",
                (ProviderSide::Inference, _) => "provider_error",
                (ProviderSide::Forecast, InferError::Timeout { .. }) => "forecast_timeout",
                (ProviderSide::Forecast, _) => "forecast_error",
            },
            WorkerError::LabelsRefused { source, .. } => source.kind.as_str(),
            WorkerError::Payload { .. } => "invalid_payload",
            WorkerError::Signer { source, .. } => match source {
                SignerError::Timeout { .. } => "signer_timeout",
                SignerError::Unverified { .. } => "signer_unverified",
                _ => "signer_error",
            },
            WorkerError::WindowMissed { .. } => "window_missed",
            WorkerError::Rejected { source, .. } => source.kind().as_str(),
            WorkerError::FeeAboveMaximum { .. } => "fee_above_maximum",
            WorkerError::ChainAnswer { .. } => "chain_answer",
            WorkerError::Transaction { .. } => "tx_build",
            WorkerError::TaskFailed { .. } => "internal",
            WorkerError::NotIncluded { .. } => "not_included",
            WorkerError::Unavailable { .. } => "unavailable",
            WorkerError::NotSent { .. } => "not_sent",
        }
    }
}
