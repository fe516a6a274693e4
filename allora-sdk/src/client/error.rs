//! Errors of the chain client, and the classification of chain rejections.

use std::fmt;
use std::time::Duration;

/// Where in the transaction's life the chain rejected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxStage {
    /// At gas simulation.
    Simulate,
    /// At broadcast (`CheckTx`): the transaction never entered the mempool.
    CheckTx,
    /// In a block (`DeliverTx`): included, fee paid, messages not applied.
    DeliverTx,
}

impl fmt::Display for TxStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TxStage::Simulate => "simulate",
            TxStage::CheckTx => "CheckTx",
            TxStage::DeliverTx => "DeliverTx",
        })
    }
}

/// A rejection by the chain, with its codespace, code and log kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainError {
    /// The stage that rejected the transaction.
    pub stage: TxStage,
    /// The module codespace (`sdk`, `emissions`, `undefined`...).
    pub codespace: String,
    /// The ABCI code (0 never appears here).
    pub code: u32,
    /// The chain's log text.
    pub raw_log: String,
    /// The transaction hash, when known.
    pub txhash: Option<String>,
    /// The block height, when included.
    pub height: Option<i64>,
}

/// What a chain rejection means for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxErrorKind {
    /// The account sequence used is not the chain's; carries the expected
    /// sequence when the log states it. Refresh and resend at once.
    SequenceMismatch {
        /// The sequence the chain expects, parsed from the log.
        expected: Option<u64>,
    },
    /// The gas limit was too low. Raise it and resend.
    OutOfGas,
    /// The fee was below the minimum. Raise it and resend.
    InsufficientFee,
    /// The account cannot pay the fee. Fund it.
    InsufficientFunds,
    /// This worker already submitted for the nonce: the goal is met.
    AlreadySubmitted,
    /// The submission window of the nonce is closed or not open: give up.
    WindowClosed,
    /// The worker is not registered in the topic.
    NotRegistered,
    /// The topic does not exist or is inactive.
    TopicUnavailable,
    /// A signature did not verify (wrong key, chain id or account number).
    Unauthorized,
    /// The same transaction is already in the mempool.
    AlreadyInMempool,
    /// The mempool is full; try again later.
    MempoolFull,
    /// Anything else.
    Other,
}

impl TxErrorKind {
    /// A short stable name, for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            TxErrorKind::SequenceMismatch { .. } => "sequence_mismatch",
            TxErrorKind::OutOfGas => "out_of_gas",
            TxErrorKind::InsufficientFee => "insufficient_fee",
            TxErrorKind::InsufficientFunds => "insufficient_funds",
            TxErrorKind::AlreadySubmitted => "already_submitted",
            TxErrorKind::WindowClosed => "window_closed",
            TxErrorKind::NotRegistered => "not_registered",
            TxErrorKind::TopicUnavailable => "topic_unavailable",
            TxErrorKind::Unauthorized => "unauthorized",
            TxErrorKind::AlreadyInMempool => "already_in_mempool",
            TxErrorKind::MempoolFull => "mempool_full",
            TxErrorKind::Other => "other",
        }
    }
}

/// Emissions codes the official SDK treats as "already submitted".
const ALREADY_SUBMITTED_CODES: [u32; 3] = [68, 75, 78];

impl ChainError {
    /// Classifies the rejection from its codespace, code and log.
    pub fn kind(&self) -> TxErrorKind {
        classify(&self.codespace, self.code, &self.raw_log)
    }
}

/// Classifies a chain error from its parts. Text matches come first where
/// the chain uses unregistered errors (codespace `undefined`, code 1).
pub fn classify(codespace: &str, code: u32, log: &str) -> TxErrorKind {
    let lower = log.to_ascii_lowercase();
    if lower.contains("account sequence mismatch") || (codespace == "sdk" && code == 32) {
        return TxErrorKind::SequenceMismatch {
            expected: parse_expected_sequence(&lower),
        };
    }
    if lower.contains("already submitted")
        || lower.contains("cannot update ema more than once per window")
        || (codespace == "emissions" && ALREADY_SUBMITTED_CODES.contains(&code))
    {
        return TxErrorKind::AlreadySubmitted;
    }
    match (codespace, code) {
        ("sdk", 11) => return TxErrorKind::OutOfGas,
        ("sdk", 13) => return TxErrorKind::InsufficientFee,
        ("sdk", 5) => return TxErrorKind::InsufficientFunds,
        ("sdk", 4) => return TxErrorKind::Unauthorized,
        ("sdk", 19) => return TxErrorKind::AlreadyInMempool,
        ("sdk", 20) => return TxErrorKind::MempoolFull,
        ("emissions", 67) | ("emissions", 44) => return TxErrorKind::WindowClosed,
        ("emissions", 13) | ("emissions", 10) => return TxErrorKind::NotRegistered,
        ("emissions", 6) | ("emissions", 23) => return TxErrorKind::TopicUnavailable,
        _ => {}
    }
    if lower.contains("out of gas") {
        TxErrorKind::OutOfGas
    } else if lower.contains("insufficient fee") {
        TxErrorKind::InsufficientFee
    } else if lower.contains("insufficient funds") {
        TxErrorKind::InsufficientFunds
    } else if lower.contains("nonce window not available")
        || lower.contains("unfulfilled nonce not found")
        || lower.contains("nonce already fulfilled")
    {
        TxErrorKind::WindowClosed
    } else if lower.contains("address not registered")
        || lower.contains("address is not registered in this topic")
    {
        // The registered descriptions of emissions codes 13 and 10, which a
        // failed simulation carries without its code.
        TxErrorKind::NotRegistered
    } else if lower.contains("invalid topic id") || lower.contains("topic does not exist") {
        // Emissions codes 6 and 23.
        TxErrorKind::TopicUnavailable
    } else if lower.contains("signature verification failed") {
        TxErrorKind::Unauthorized
    } else if lower.contains("tx already in mempool") {
        TxErrorKind::AlreadyInMempool
    } else {
        TxErrorKind::Other
    }
}

/// Finds `expected N` in a sequence-mismatch log.
fn parse_expected_sequence(lower_log: &str) -> Option<u64> {
    let rest = &lower_log[lower_log.find("expected ")? + "expected ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "chain rejected the transaction at {} (codespace {}, code {}",
            self.stage, self.codespace, self.code
        )?;
        if let Some(hash) = &self.txhash {
            write!(f, ", tx {hash}")?;
        }
        write!(f, "): {}", self.raw_log)
    }
}

impl std::error::Error for ChainError {}

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No endpoints, or an endpoint URL that cannot be used.
    #[error("invalid endpoint {url:?}: {reason}")]
    InvalidEndpoint {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Every endpoint failed at the transport level (down, refusing, timing
    /// out). Check the endpoints and the network.
    #[error("{method}: all {} endpoint(s) failed: {}", attempts.len(), format_attempts(attempts))]
    Unavailable {
        /// The gRPC method.
        method: &'static str,
        /// Each endpoint tried and its failure.
        attempts: Vec<(String, String)>,
    },
    /// The endpoint answered with a gRPC error that is not a transport
    /// failure (a bad request, an unknown item...).
    #[error("{method} on {endpoint}: {code:?}: {message}")]
    Status {
        /// The gRPC method.
        method: &'static str,
        /// The endpoint that answered.
        endpoint: String,
        /// The gRPC status code.
        code: tonic::Code,
        /// The status message (the chain's text).
        message: String,
    },
    /// The caller's deadline (for instance the end of the window the call
    /// is made for) passed before an endpoint answered. The endpoints are not
    /// marked unhealthy for it.
    #[error("{method}: the call's deadline passed before an answer{}", if attempts.is_empty() { String::new() } else { format!(" (earlier failures: {})", format_attempts(attempts)) })]
    DeadlineExceeded {
        /// The gRPC method.
        method: &'static str,
        /// Endpoints that failed before the deadline, and how.
        attempts: Vec<(String, String)>,
    },
    /// The item asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The chain answered with something this client cannot read.
    #[error("{method}: malformed response: {reason}")]
    Malformed {
        /// The gRPC method.
        method: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The chain rejected a transaction.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The chain speaks no emissions version this build supports.
    #[error(transparent)]
    UnsupportedEmissions(#[from] crate::emissions::Unsupported),
    /// The emissions version in use has no such query.
    #[error("{query:?} is not served by emissions {version}")]
    NotServed {
        /// The query.
        query: crate::emissions::Query,
        /// The version in use.
        version: crate::emissions::EmissionsVersion,
    },
}

fn format_attempts(attempts: &[(String, String)]) -> String {
    attempts
        .iter()
        .map(|(endpoint, error)| format!("{endpoint}: {error}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ClientError {
    /// Whether the same call may succeed later: transport failures, and
    /// chain rejections whose remedy (see [`crate::pipeline::remedy`]) is
    /// not final. A call whose own deadline passed is not retryable within
    /// it.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Unavailable { .. } => true,
            ClientError::Status { code, .. } => matches!(
                code,
                tonic::Code::Unavailable | tonic::Code::ResourceExhausted | tonic::Code::Aborted
            ),
            ClientError::Chain(e) => crate::pipeline::remedy::is_retryable(e.kind()),
            _ => false,
        }
    }

    /// The chain rejection, if this is one.
    pub fn chain_error(&self) -> Option<&ChainError> {
        match self {
            ClientError::Chain(e) => Some(e),
            _ => None,
        }
    }
}

/// Failure of one attempt on one endpoint (internal to failover).
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// The endpoint is unusable: fail over.
    Transport(TransportFailure),
    /// The endpoint answered: return to the caller.
    Status(tonic::Status),
}

/// What went wrong at the transport level.
#[derive(Debug)]
pub(crate) struct TransportFailure {
    pub(crate) message: String,
    /// No answer within the attempt's time.
    pub(crate) timed_out: bool,
}

pub(crate) fn timeout_message(after: Duration) -> String {
    format!("no answer within {} ms", after.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_chain_errors_a_worker_meets() {
        let cases = [
            ("sdk", 32, "account sequence mismatch, expected 5, got 4: incorrect account sequence", TxErrorKind::SequenceMismatch { expected: Some(5) }),
            ("sdk", 11, "out of gas in location: WriteFlat; gasWanted: 200000, gasUsed: 200345: out of gas", TxErrorKind::OutOfGas),
            ("sdk", 13, "got: 100uallo required: 200uallo, minGasPrice: 10.000000000000000000uallo, gas: 20: insufficient fee", TxErrorKind::InsufficientFee),
            ("sdk", 5, "spendable balance 1uallo is smaller than 5uallo: insufficient funds", TxErrorKind::InsufficientFunds),
            ("undefined", 1, "failed to execute message; message index: 0: inference already submitted", TxErrorKind::AlreadySubmitted),
            ("emissions", 75, "whatever", TxErrorKind::AlreadySubmitted),
            ("emissions", 67, "worker nonce window not available", TxErrorKind::WindowClosed),
            ("emissions", 13, "address not registered", TxErrorKind::NotRegistered),
            ("sdk", 4, "signature verification failed; please verify account number (1) and chain-id (c): unauthorized", TxErrorKind::Unauthorized),
            ("sdk", 19, "tx already in mempool", TxErrorKind::AlreadyInMempool),
            ("sdk", 2, "tx parse error", TxErrorKind::Other),
            ("undefined", 1, "failed to execute message; message index: 0: worker is not registered in this topic: address not registered", TxErrorKind::NotRegistered),
            ("undefined", 1, "failed to execute message; message index: 0: topic 2 is not active: invalid topic ID", TxErrorKind::TopicUnavailable),
            ("undefined", 1, "topic does not exist", TxErrorKind::TopicUnavailable),
        ];
        for (codespace, code, log, want) in cases {
            assert_eq!(
                classify(codespace, code, log),
                want,
                "{codespace}/{code}: {log}"
            );
        }
    }

    #[test]
    fn sequence_mismatch_without_numbers_still_classifies() {
        assert_eq!(
            classify("sdk", 32, "incorrect account sequence"),
            TxErrorKind::SequenceMismatch { expected: None }
        );
    }

    #[test]
    fn retryability_follows_the_remedy_policy() {
        let mk = |codespace: &str, code, log: &str| ChainError {
            stage: TxStage::CheckTx,
            codespace: codespace.into(),
            code,
            raw_log: log.into(),
            txhash: None,
            height: None,
        };
        assert!(ClientError::Chain(mk(
            "sdk",
            32,
            "account sequence mismatch, expected 1, got 0"
        ))
        .is_retryable());
        assert!(
            !ClientError::Chain(mk("emissions", 67, "worker nonce window not available"))
                .is_retryable()
        );
        let shown = mk("sdk", 13, "insufficient fee").to_string();
        assert!(shown.contains("codespace sdk, code 13"), "{shown}");
    }
}
