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
///
/// Classified by codespace and code first ([`classify`]); by text only where
/// the chain uses errors it does not register (codespace `undefined`, code
/// 1), where one code covers several cases (sdk 18, 4, 7, 29), and for a
/// failed simulation, whose answer carries only the log (see
/// [`registered_error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxErrorKind {
    /// The account sequence used is not the chain's (sdk 32); carries the
    /// expected sequence when the log states it. Refresh and resend at once.
    SequenceMismatch {
        /// The sequence the chain expects, parsed from the log.
        expected: Option<u64>,
    },
    /// The gas limit was too low (sdk 11). Raise it and resend.
    OutOfGas,
    /// The fee was below the minimum (sdk 13); carries the fee the chain
    /// requires, in uallo, when the log states it (`required: 4500uallo`).
    InsufficientFee {
        /// The fee the chain requires for the gas limit sent, in uallo.
        required: Option<u128>,
    },
    /// The account cannot pay the fee or the data fee (sdk 5). Fund it.
    InsufficientFunds,
    /// This worker already submitted for the nonce (`inference already
    /// submitted`, an unregistered error), or its score was already updated
    /// in this window (emissions 78): the goal is met.
    AlreadySubmitted,
    /// The nonce is not open (emissions 75, `unfulfilled nonce not found`):
    /// never opened, or already closed. Final for the window; nothing says
    /// this worker's payload is on chain.
    NonceNotOpen,
    /// The block is outside the nonce's submission window (emissions 67).
    WindowClosed,
    /// The worker is not registered in the topic (emissions 13, 10).
    NotRegistered,
    /// The topic does not exist (emissions 6, 23).
    TopicUnavailable,
    /// The topic's or the global worker whitelist refuses this worker
    /// (emissions 83).
    NotPermitted,
    /// The message is larger than `max_serialized_msg_length` (emissions 53).
    PayloadTooLarge,
    /// The forecast has no valid element (emissions 77).
    NoValidForecast,
    /// The inference's labels break the topic's label rules (emissions 95,
    /// 97, 98; sdk 18 for a single-value topic's label).
    Label(crate::labels::LabelErrorKind),
    /// The bundle failed the chain's checks (sdk 18, 29, 7, 4 with `Error
    /// validating worker data bundle`; an invalid worker address; a missing
    /// bundle): a defect of the payload's making or signing.
    InvalidBundle,
    /// The admitted inference's values were refused (sdk 18, `failed to
    /// normalize admitted inference`: no non-default value, or values not
    /// summing to one where the topic requires it).
    InvalidValues,
    /// The transaction did not decode (sdk 2): a value out of the chain's
    /// decimal range, or a field the chain does not know.
    TxDecode,
    /// A signature did not verify (sdk 4, 8: wrong key, chain id or account
    /// number).
    Unauthorized,
    /// The same transaction is already in the mempool (sdk 19).
    AlreadyInMempool,
    /// The mempool is full (sdk 20); try again later.
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
            TxErrorKind::InsufficientFee { .. } => "insufficient_fee",
            TxErrorKind::InsufficientFunds => "insufficient_funds",
            TxErrorKind::AlreadySubmitted => "already_submitted",
            TxErrorKind::NonceNotOpen => "nonce_not_open",
            TxErrorKind::WindowClosed => "window_closed",
            TxErrorKind::NotRegistered => "not_registered",
            TxErrorKind::TopicUnavailable => "topic_unavailable",
            TxErrorKind::NotPermitted => "not_permitted",
            TxErrorKind::PayloadTooLarge => "payload_too_large",
            TxErrorKind::NoValidForecast => "no_valid_forecast",
            TxErrorKind::Label(kind) => kind.as_str(),
            TxErrorKind::InvalidBundle => "invalid_bundle",
            TxErrorKind::InvalidValues => "invalid_values",
            TxErrorKind::TxDecode => "tx_decode",
            TxErrorKind::Unauthorized => "unauthorized",
            TxErrorKind::AlreadyInMempool => "already_in_mempool",
            TxErrorKind::MempoolFull => "mempool_full",
            TxErrorKind::Other => "other",
        }
    }
}

impl ChainError {
    /// Classifies the rejection from its codespace, code and log.
    pub fn kind(&self) -> TxErrorKind {
        classify(&self.codespace, self.code, &self.raw_log)
    }

    /// The fee the chain requires, in uallo, when the log states it (an
    /// insufficient-fee answer: `required: 4500uallo`).
    pub fn required_fee(&self) -> Option<u128> {
        parse_required_fee(&self.raw_log)
    }

    /// The minimum gas price the fee market states in an insufficient-fee
    /// answer (`minGasPrice: 10.000000000000000000uallo`).
    pub fn min_gas_price(&self) -> Option<crate::tx::GasPrice> {
        const MARK: &str = "minGasPrice: ";
        let rest = &self.raw_log[self.raw_log.find(MARK)? + MARK.len()..];
        let token: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let after = &rest[token.len()..];
        if !after.starts_with(crate::tx::DENOM) {
            return None;
        }
        token.parse().ok()
    }
}

/// Classifies a chain error from its parts: by codespace and code, with the
/// log read only where the code alone does not decide (see
/// [`TxErrorKind`]). Codes are those of allora-chain's
/// `x/emissions/types/errors.go` and the Cosmos SDK's
/// `types/errors/errors.go`.
pub fn classify(codespace: &str, code: u32, log: &str) -> TxErrorKind {
    use crate::labels::LabelErrorKind;
    // The bundle checks of the payload message server wrap their errors in
    // this context; the same codes elsewhere mean something else.
    let in_bundle = || log.contains("Error validating worker data bundle");
    match (codespace, code) {
        ("sdk", 32) => TxErrorKind::SequenceMismatch {
            expected: parse_expected_sequence(&log.to_ascii_lowercase()),
        },
        ("sdk", 11) => TxErrorKind::OutOfGas,
        ("sdk", 13) => TxErrorKind::InsufficientFee {
            required: parse_required_fee(log),
        },
        ("sdk", 5) => TxErrorKind::InsufficientFunds,
        ("sdk", 19) => TxErrorKind::AlreadyInMempool,
        ("sdk", 20) => TxErrorKind::MempoolFull,
        ("sdk", 2) => TxErrorKind::TxDecode,
        ("sdk", 4 | 7 | 29) if in_bundle() => TxErrorKind::InvalidBundle,
        ("sdk", 4 | 8) => TxErrorKind::Unauthorized,
        ("sdk", 18) => {
            if log.contains("single-arity label") {
                TxErrorKind::Label(LabelErrorKind::SingleArityLabel)
            } else if log.contains("failed to normalize admitted inference") {
                TxErrorKind::InvalidValues
            } else if in_bundle() {
                TxErrorKind::InvalidBundle
            } else {
                TxErrorKind::Other
            }
        }
        ("emissions", 6 | 23) => TxErrorKind::TopicUnavailable,
        ("emissions", 10 | 13) => TxErrorKind::NotRegistered,
        ("emissions", 53) => TxErrorKind::PayloadTooLarge,
        ("emissions", 62) if log.contains("label cap") => {
            TxErrorKind::Label(LabelErrorKind::CapNotPositive)
        }
        ("emissions", 67) => TxErrorKind::WindowClosed,
        ("emissions", 75) => TxErrorKind::NonceNotOpen,
        ("emissions", 77) => TxErrorKind::NoValidForecast,
        ("emissions", 78) => TxErrorKind::AlreadySubmitted,
        ("emissions", 83) => TxErrorKind::NotPermitted,
        ("emissions", 95) => TxErrorKind::Label(LabelErrorKind::InvalidLabelName),
        ("emissions", 97) => TxErrorKind::Label(LabelErrorKind::NotInWhitelist),
        ("emissions", 98) => TxErrorKind::Label(LabelErrorKind::TooManyLabels),
        // Plain Go errors of the chain: only their text says what they are.
        ("undefined", 1) => {
            let lower = log.to_ascii_lowercase();
            if lower.contains("already submitted") {
                TxErrorKind::AlreadySubmitted
            } else if lower.contains("error validating worker address")
                || lower.contains("error validating sender address")
            {
                TxErrorKind::InvalidBundle
            } else {
                TxErrorKind::Other
            }
        }
        // A recovered panic of the payload handler: a bundle it cannot read.
        ("undefined", 111_222) => TxErrorKind::InvalidBundle,
        _ => TxErrorKind::Other,
    }
}

/// The registered errors a worker meets: codespace, code and description.
/// A chain log ends with the description of the error it wraps.
const REGISTERED: &[(&str, u32, &str)] = &[
    ("sdk", 2, "tx parse error"),
    ("sdk", 3, "invalid sequence"),
    ("sdk", 4, "unauthorized"),
    ("sdk", 5, "insufficient funds"),
    ("sdk", 6, "unknown request"),
    ("sdk", 7, "invalid address"),
    ("sdk", 8, "invalid pubkey"),
    ("sdk", 9, "unknown address"),
    ("sdk", 10, "invalid coins"),
    ("sdk", 11, "out of gas"),
    ("sdk", 12, "memo too large"),
    ("sdk", 13, "insufficient fee"),
    ("sdk", 14, "maximum number of signatures exceeded"),
    ("sdk", 15, "no signatures supplied"),
    ("sdk", 18, "invalid request"),
    ("sdk", 19, "tx already in mempool"),
    ("sdk", 20, "mempool is full"),
    ("sdk", 21, "tx too large"),
    ("sdk", 29, "invalid type"),
    ("sdk", 30, "tx timeout height"),
    ("sdk", 32, "incorrect account sequence"),
    ("sdk", 41, "invalid gas limit"),
    ("emissions", 6, "invalid topic ID"),
    ("emissions", 10, "address is not registered in this topic"),
    ("emissions", 13, "address not registered"),
    ("emissions", 23, "topic does not exist"),
    ("emissions", 52, "invalid value"),
    ("emissions", 53, "query is too large"),
    ("emissions", 62, "value must be greater than 0"),
    ("emissions", 67, "worker nonce window not available"),
    ("emissions", 75, "unfulfilled nonce not found"),
    ("emissions", 77, "no valid forecast elements found"),
    (
        "emissions",
        78,
        "cannot update EMA more than once per window",
    ),
    ("emissions", 83, "not permitted to submit worker payload"),
    ("emissions", 95, "invalid label name"),
    (
        "emissions",
        97,
        "label is not in the topic's label whitelist",
    ),
    (
        "emissions",
        98,
        "too many labels in one submission (exceeds effective cap)",
    ),
    ("feemarket", 1, "no fee coin provided. Must provide one."),
];

/// The codespace and code of the registered error a chain log ends with
/// (the way a failed simulation reports it: the log, with no code), or
/// `undefined`/1 for an error the chain does not register and
/// `undefined`/111222 for a recovered panic.
///
/// ```
/// use allora_sdk::client::registered_error;
///
/// assert_eq!(
///     registered_error("failed to execute message; message index: 0: worker is not registered in this topic: address not registered With gas wanted: '0' and gas used: '0' "),
///     ("emissions", 13)
/// );
/// assert_eq!(registered_error("inference already submitted"), ("undefined", 1));
/// ```
pub fn registered_error(log: &str) -> (&'static str, u32) {
    // A simulation appends the gas figures to the error's text.
    let text = match log.find(" With gas wanted: ") {
        Some(at) => &log[..at],
        None => log,
    };
    let text = text.trim_end();
    let mut best: Option<(&'static str, u32, usize)> = None;
    for (codespace, code, description) in REGISTERED {
        let longer = best.is_none_or(|(_, _, len)| description.len() > len);
        if text.ends_with(description) && longer {
            best = Some((codespace, *code, description.len()));
        }
    }
    match best {
        Some((codespace, code, _)) => (codespace, code),
        None if text.ends_with(": panic") => ("undefined", 111_222),
        None => ("undefined", 1),
    }
}

/// Finds the uallo amount after `required: ` in an insufficient-fee log
/// (the fee market's `got: X required: Y, minGasPrice: Z` and the SDK's
/// `insufficient fees; got: X required: Y`).
fn parse_required_fee(log: &str) -> Option<u128> {
    const MARK: &str = "required: ";
    let rest = &log[log.find(MARK)? + MARK.len()..];
    let coins = rest.split(|c: char| c.is_whitespace()).next()?;
    coins
        .trim_end_matches([',', ':', ';'])
        .split(',')
        .find_map(|coin| coin.strip_suffix(crate::tx::DENOM)?.parse().ok())
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

/// An answer of `method` that lacks what it should carry.
pub(super) fn malformed(method: &'static str, reason: impl Into<String>) -> ClientError {
    ClientError::Malformed {
        method,
        reason: reason.into(),
    }
}

/// A look-up's answer, with "not there" as `None`: a `NotFound` status, or
/// any status whose message contains `not_found_text` (how some modules
/// answer a missing entry).
pub(super) fn found<T>(
    answer: Result<T, ClientError>,
    not_found_text: &str,
) -> Result<Option<T>, ClientError> {
    match answer {
        Ok(response) => Ok(Some(response)),
        Err(ClientError::Status { code, message, .. })
            if code == tonic::Code::NotFound || message.contains(not_found_text) =>
        {
            Ok(None)
        }
        Err(other) => Err(other),
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
        use crate::labels::LabelErrorKind as L;
        let cases = [
            ("sdk", 32, "account sequence mismatch, expected 5, got 4: incorrect account sequence", TxErrorKind::SequenceMismatch { expected: Some(5) }),
            ("sdk", 11, "out of gas in location: WriteFlat; gasWanted: 200000, gasUsed: 200345: out of gas", TxErrorKind::OutOfGas),
            ("sdk", 13, "got: 100uallo required: 200uallo, minGasPrice: 10.000000000000000000uallo, gas: 20: insufficient fee", TxErrorKind::InsufficientFee { required: Some(200) }),
            ("sdk", 13, "insufficient fees; got: 3000uallo required: 4500uallo: insufficient fee", TxErrorKind::InsufficientFee { required: Some(4500) }),
            ("sdk", 13, "insufficient fee", TxErrorKind::InsufficientFee { required: None }),
            ("sdk", 5, "spendable balance 1uallo is smaller than 5uallo: insufficient funds", TxErrorKind::InsufficientFunds),
            ("sdk", 5, "failed to execute message; message index: 0: sender has insufficient balance to cover fees: insufficient funds", TxErrorKind::InsufficientFunds),
            ("undefined", 1, "failed to execute message; message index: 0: Error planning inference admission: inference already submitted", TxErrorKind::AlreadySubmitted),
            ("emissions", 78, "failed to execute message; message index: 0: Error planning inference admission: cannot update EMA more than once per window", TxErrorKind::AlreadySubmitted),
            ("emissions", 75, "failed to execute message; message index: 0: unfulfilled nonce not found", TxErrorKind::NonceNotOpen),
            ("emissions", 67, "Worker window not open for topic: 1, current block 30, start window: 20, end window: 25: worker nonce window not available", TxErrorKind::WindowClosed),
            ("emissions", 13, "worker is not registered in this topic: address not registered", TxErrorKind::NotRegistered),
            ("emissions", 6, "invalid topic ID", TxErrorKind::TopicUnavailable),
            ("emissions", 83, "Worker is not permitted to submit payload: not permitted to submit worker payload", TxErrorKind::NotPermitted),
            ("emissions", 53, "query is too large", TxErrorKind::PayloadTooLarge),
            ("emissions", 77, "No valid forecast elements found in Forecast: no valid forecast elements found", TxErrorKind::NoValidForecast),
            ("emissions", 95, "input inference failed label validation: input labeled value at index 0: label is empty after trimming: invalid label name", TxErrorKind::Label(L::InvalidLabelName)),
            ("emissions", 97, "label \"c\" is not in topic label whitelist: label is not in the topic's label whitelist", TxErrorKind::Label(L::NotInWhitelist)),
            ("emissions", 98, "submission has 2 labels, per-topic cap is 1: too many labels in one submission (exceeds effective cap)", TxErrorKind::Label(L::TooManyLabels)),
            ("sdk", 18, "failed to execute message; message index: 0: single-arity label must be \"y\", got \"inference\": invalid request", TxErrorKind::Label(L::SingleArityLabel)),
            ("sdk", 18, "failed to normalize admitted inference: require_unity violated: sum=0.9 tol=0.01: invalid request", TxErrorKind::InvalidValues),
            ("sdk", 18, "Error validating worker data bundle: worker data bundle nonce cannot be nil: invalid request", TxErrorKind::InvalidBundle),
            ("sdk", 4, "Error validating worker data bundle: signature verification failed: unauthorized", TxErrorKind::InvalidBundle),
            ("sdk", 4, "signature verification failed; please verify account number (1) and chain-id (c): unauthorized", TxErrorKind::Unauthorized),
            ("undefined", 1, "Error validating worker address: error validating actor id: decoding bech32 failed: invalid checksum", TxErrorKind::InvalidBundle),
            ("undefined", 111_222, "recovered: runtime error: invalid memory address or nil pointer dereference: panic", TxErrorKind::InvalidBundle),
            ("sdk", 19, "tx already in mempool", TxErrorKind::AlreadyInMempool),
            ("sdk", 20, "mempool is full", TxErrorKind::MempoolFull),
            ("sdk", 2, "tx parse error", TxErrorKind::TxDecode),
            ("sdk", 18, "invalid request", TxErrorKind::Other),
            // Code 44 is retired; a code decides, not a text that merely
            // resembles another error.
            ("emissions", 44, "nonce already fulfilled", TxErrorKind::Other),
            ("undefined", 1, "topic 2 is not active: invalid topic ID", TxErrorKind::Other),
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
    fn a_log_without_a_code_is_read_by_its_registered_description() {
        let sim = |log: &str| format!("{log} With gas wanted: '0' and gas used: '0' ");
        let cases = [
            ("failed to execute message; message index: 0: unfulfilled nonce not found", ("emissions", 75)),
            ("failed to execute message; message index: 0: worker is not registered in this topic: address not registered", ("emissions", 13)),
            ("failed to execute message; message index: 1: Worker is not permitted to submit payload: not permitted to submit worker payload", ("emissions", 83)),
            ("submission has 2 labels, per-topic cap is 1: too many labels in one submission (exceeds effective cap)", ("emissions", 98)),
            ("account sequence mismatch, expected 3, got 2: incorrect account sequence", ("sdk", 32)),
            ("signature verification failed; please verify account number (1) and chain-id (c): unauthorized", ("sdk", 4)),
            ("single-arity label must be \"y\", got \"p\": invalid request", ("sdk", 18)),
            ("failed to execute message; message index: 0: Error planning inference admission: inference already submitted", ("undefined", 1)),
            ("recovered: runtime error: invalid memory address or nil pointer dereference: panic", ("undefined", 111_222)),
            ("weird", ("undefined", 1)),
        ];
        for (log, want) in cases {
            assert_eq!(registered_error(&sim(log)), want, "{log}");
            assert_eq!(registered_error(log), want, "{log}");
        }
    }

    #[test]
    fn insufficient_fee_answers_name_the_fee_and_price() {
        let mk = |log: &str| ChainError {
            stage: TxStage::CheckTx,
            codespace: "sdk".into(),
            code: 13,
            raw_log: log.into(),
            txhash: None,
            height: None,
        };
        let feemarket = mk("error checking fee: got: 250000uallo required: 300000uallo, minGasPrice: 1.500000000000000000uallo, gas: 200000: insufficient fee");
        assert_eq!(feemarket.required_fee(), Some(300_000));
        assert_eq!(feemarket.min_gas_price(), Some("1.5".parse().unwrap()));
        let sdk = mk("insufficient fees; got: 3000uallo required: 4500uallo: insufficient fee");
        assert_eq!(sdk.required_fee(), Some(4500));
        assert_eq!(sdk.min_gas_price(), None);
        assert_eq!(
            mk("required: 10stake,4500uallo: insufficient fee").required_fee(),
            Some(4500)
        );
        assert_eq!(
            mk("required: 10stake: insufficient fee").required_fee(),
            None
        );
        assert_eq!(mk("insufficient fee").required_fee(), None);
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
