//! The one error type every provider returns.
//!
//! A worker loop has a few seconds inside a submission window; what it needs
//! from an error is whether trying again could help ([`InferError::is_retryable`])
//! and a message an operator can act on. Variants carry plain data (status
//! codes, limits, text) rather than the error types of the libraries
//! underneath, so that upgrading those libraries does not change this API.
//!
//! ```
//! use allora_infer::{DecimalError, InferError};
//!
//! let err = InferError::HttpStatus { url: "http://inference:8000/inference/ETH".into(), status: 503, body: String::new() };
//! assert!(err.is_retryable());
//!
//! let err = InferError::from(DecimalError::NonFinite("NaN".into()));
//! assert!(!err.is_retryable());
//! ```

use std::convert::Infallible;
use std::time::Duration;

use crate::decimal::DecimalError;

/// Why a provider produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InferError {
    /// The request's deadline passed (or an attempt's timeout expired) before
    /// a value arrived.
    #[error(
        "inference timed out after {elapsed:?}: the model answered too slowly for the submission window; make it faster or give it a longer timeout"
    )]
    Timeout {
        /// How long the provider waited.
        elapsed: Duration,
    },
    /// The request could not reach the inference server (connection refused,
    /// reset, DNS failure, TLS failure).
    #[error("could not reach {url}: {detail}; check that the inference server is running and the URL is right")]
    Transport {
        /// The URL that was requested.
        url: String,
        /// What the HTTP client reported.
        detail: String,
    },
    /// The inference server answered with a status other than 2xx.
    #[error("{url} answered HTTP {status}{}: {}", body_note(.body), status_advice(*.status))]
    HttpStatus {
        /// The URL that was requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, for diagnosis (at most 256 bytes).
        body: String,
    },
    /// The response body is larger than the provider accepts.
    #[error("response from {url} exceeds {limit} bytes: an inference is one number or a few labeled values; raise the limit only if that is really expected")]
    BodyTooLarge {
        /// The URL that was requested.
        url: String,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The response body is empty (or only white space).
    #[error("response from {url} is empty: the server must answer with a number, e.g. \"123.45\"")]
    EmptyResponse {
        /// The URL that was requested.
        url: String,
    },
    /// The response looks like JSON but is not valid JSON, or is not UTF-8.
    #[error("response is not valid JSON: {detail}")]
    InvalidJson {
        /// What the parser reported.
        detail: String,
    },
    /// The response or closure result is well formed but is not a shape a
    /// prediction can take (an array, `null`, a nested object, no values).
    #[error("unexpected prediction shape: {detail}")]
    UnexpectedShape {
        /// What was wrong with it.
        detail: String,
    },
    /// A value is not a finite decimal the chain accepts (NaN, infinity,
    /// garbage text, out of range).
    #[error("invalid value{}: {source}", context_note(.context))]
    InvalidValue {
        /// Which value it was (a label or inferer address), empty for a
        /// single value.
        context: String,
        /// Why the value was refused.
        #[source]
        source: DecimalError,
    },
    /// A value the worker's guard rails refuse for its topic (zero where
    /// zero is refused, or outside the topic's `[min, max]`).
    #[error("value {value} refused: {reason}")]
    Refused {
        /// The value, as it would have been sent.
        value: String,
        /// Which rule refused it.
        reason: String,
    },
    /// The same label or inferer address appears twice in one answer.
    #[error("duplicate key {0:?} in the response: each label or inferer may appear once")]
    DuplicateKey(String),
    /// The provider is misconfigured (bad URL template, missing token, model
    /// with an unexpected shape); retrying does not help, fixing the
    /// configuration does.
    #[error("provider misconfigured: {0}")]
    Config(String),
    /// The model failed to load or to run.
    #[error("model error: {0}")]
    Model(String),
    /// A user-written provider failed; the text is its own.
    #[error("provider failed: {message}")]
    Provider {
        /// What the provider reported.
        message: String,
        /// Whether the provider considers the failure transient.
        retryable: bool,
    },
}

impl InferError {
    /// Whether asking again (within the same window, if time remains) could
    /// produce a value: timeouts, unreachable servers, 5xx and 429 answers and
    /// user failures marked retryable. Everything else is a property of the
    /// answer or the configuration and will recur.
    pub fn is_retryable(&self) -> bool {
        match self {
            InferError::Timeout { .. } | InferError::Transport { .. } => true,
            InferError::HttpStatus { status, .. } => *status >= 500 || *status == 429,
            InferError::Provider { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// A failure of a user-written provider that retrying will not fix.
    pub fn provider(message: impl std::fmt::Display) -> Self {
        InferError::Provider {
            message: message.to_string(),
            retryable: false,
        }
    }

    /// A transient failure of a user-written provider (a data feed briefly
    /// unavailable, say).
    pub fn provider_retryable(message: impl std::fmt::Display) -> Self {
        InferError::Provider {
            message: message.to_string(),
            retryable: true,
        }
    }

    pub(crate) fn invalid_value(context: impl Into<String>, source: DecimalError) -> Self {
        InferError::InvalidValue {
            context: context.into(),
            source,
        }
    }
}

fn body_note(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(" ({body:?})")
    }
}

fn status_advice(status: u16) -> &'static str {
    if (400..500).contains(&status) && status != 429 {
        "the request is wrong; check the URL template and the token"
    } else {
        "the server failed or is overloaded; asking again later may succeed"
    }
}

fn context_note(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" for {context:?}")
    }
}

impl From<DecimalError> for InferError {
    fn from(source: DecimalError) -> Self {
        InferError::invalid_value(String::new(), source)
    }
}

impl From<Infallible> for InferError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_follows_status_class() {
        let status = |status| InferError::HttpStatus {
            url: "u".into(),
            status,
            body: String::new(),
        };
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(InferError::Timeout {
            elapsed: Duration::from_secs(1)
        }
        .is_retryable());
        assert!(!InferError::Config("x".into()).is_retryable());
        assert!(InferError::provider_retryable("feed down").is_retryable());
        assert!(!InferError::provider("bad input").is_retryable());
    }

    #[test]
    fn messages_say_what_to_do() {
        let err = InferError::HttpStatus {
            url: "http://x/inference/ETH".into(),
            status: 404,
            body: "not found".into(),
        };
        let text = err.to_string();
        assert!(
            text.contains("404") && text.contains("URL template"),
            "{text}"
        );
    }
}
