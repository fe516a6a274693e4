//! What a provider is asked and what it answers.
//!
//! ```
//! use std::time::Duration;
//! use allora_infer::{Dec, InferenceRequest, Prediction};
//! use tokio::time::Instant;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let req = InferenceRequest::new(1, 1_000, Instant::now() + Duration::from_secs(5)).with_token("ETH");
//! assert_eq!(req.token.as_deref(), Some("ETH"));
//! assert!(req.remaining() <= Duration::from_secs(5));
//!
//! let p = Prediction::Single(Dec::from(3));
//! assert_eq!(p.as_single().map(Dec::as_str), Some("3"));
//! # }
//! ```

use std::time::Duration;

use tokio::time::Instant;

use crate::decimal::Dec;

/// The context of one inference: which topic, which nonce, by when.
///
/// The worker loop builds one per (topic, nonce) and passes it to every
/// provider; a provider must answer (or give up) before [`deadline`](Self::deadline),
/// after which the submission window may have closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InferenceRequest {
    /// The topic the value is for.
    pub topic_id: u64,
    /// The nonce: the block height at which the topic's epoch opened.
    pub nonce: i64,
    /// When the answer stops being useful.
    pub deadline: Instant,
    /// A token or label the topic predicts (`"ETH"`), when the worker is
    /// configured with one; HTTP providers put it in the URL.
    pub token: Option<String>,
}

impl InferenceRequest {
    /// A request without a token hint.
    pub fn new(topic_id: u64, nonce: i64, deadline: Instant) -> Self {
        InferenceRequest {
            topic_id,
            nonce,
            deadline,
            token: None,
        }
    }

    /// Sets the token hint.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Time left until the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// An inference: one value, or values labeled by name (for topics that
/// predict several quantities at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prediction {
    /// A single value.
    Single(Dec),
    /// Labeled values, in the order the model produced them. A JSON object
    /// with one key (`{"inference": 3012.5}`) comes as one labeled value; a
    /// worker serving a single-value topic sends it as that topic's value.
    Labeled(Vec<(String, Dec)>),
}

impl Prediction {
    /// The value, if this is a single value.
    pub fn as_single(&self) -> Option<&Dec> {
        match self {
            Prediction::Single(v) => Some(v),
            Prediction::Labeled(_) => None,
        }
    }
}

impl From<Dec> for Prediction {
    fn from(value: Dec) -> Self {
        Prediction::Single(value)
    }
}

/// One forecast element: what this worker predicts another inferer's loss
/// to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForecastValue {
    /// The inferer's address (`allo1...`).
    pub inferer: String,
    /// The forecast value.
    pub value: Dec,
}

impl ForecastValue {
    /// A forecast element.
    pub fn new(inferer: impl Into<String>, value: Dec) -> Self {
        ForecastValue {
            inferer: inferer.into(),
            value,
        }
    }
}
