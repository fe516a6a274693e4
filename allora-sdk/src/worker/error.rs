//! What can go wrong for a worker: at start-up, and for one window.

use allora_infer::InferError;

use crate::client::{ChainError, ClientError};
use crate::keys::KeyError;
use crate::payload::PayloadError;
use crate::registration::RegistrationError;
use crate::worker::store::StoreError;

/// A worker failure: of the whole worker (start-up), or of one window (in the
/// results stream, with its topic and nonce; the worker keeps running).
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
    /// The worker is not registered in a topic and auto-registration is off.
    #[error("{address} is not registered as a worker in topic {topic_id}; register it (or enable auto-registration)")]
    NotRegistered {
        /// The topic.
        topic_id: u64,
        /// The worker address.
        address: String,
    },
    /// Registration was attempted and failed.
    #[error("registering in topic {topic_id} failed: {source}")]
    RegistrationFailed {
        /// The topic.
        topic_id: u64,
        /// Why (for lack of funds: the account, its balance and what it
        /// needs).
        #[source]
        source: RegistrationError,
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

    /// The provider gave no usable value for a window.
    #[error("topic {topic_id} nonce {nonce}: no inference: {source}")]
    Provider {
        /// The topic.
        topic_id: u64,
        /// The nonce.
        nonce: i64,
        /// The provider's error.
        #[source]
        source: InferError,
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
    /// The chain could not be reached to send the payload; the window is
    /// tried again while it stays open.
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
            | WorkerError::NotSent { topic_id, nonce } => Some((*topic_id, *nonce)),
            _ => None,
        }
    }

    /// A short stable name of the failure kind, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            WorkerError::Config(_) => "config",
            WorkerError::ChainIdMismatch { .. } => "chain_id_mismatch",
            WorkerError::NotRegistered { .. } => "not_registered",
            WorkerError::RegistrationFailed { .. } => "registration_failed",
            WorkerError::Client(_) => "client",
            WorkerError::Key(_) | WorkerError::MnemonicEnv { .. } => "key",
            WorkerError::Store(_) => "store",
            WorkerError::Provider { source, .. } => match source {
                InferError::Timeout { .. } => "provider_timeout",
                _ => "provider_error",
            },
            WorkerError::Payload { .. } => "invalid_payload",
            WorkerError::WindowMissed { .. } => "window_missed",
            WorkerError::Rejected { source, .. } => source.kind().as_str(),
            WorkerError::NotIncluded { .. } => "not_included",
            WorkerError::Unavailable { .. } => "unavailable",
            WorkerError::NotSent { .. } => "not_sent",
        }
    }
}
