//! Chain errors as clients see them: an ABCI code within a codespace and a
//! raw log, built the way the Cosmos SDK's `errorsmod.Wrap` renders them
//! (`"<context>: <registered description>"`).

use std::fmt;

/// A registered chain error: codespace, code and description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Registered {
    codespace: &'static str,
    code: u32,
    description: &'static str,
}

const fn sdk(code: u32, description: &'static str) -> Registered {
    Registered {
        codespace: "sdk",
        code,
        description,
    }
}

const fn feegrant(code: u32, description: &'static str) -> Registered {
    Registered {
        codespace: "feegrant",
        code,
        description,
    }
}

const fn emissions(code: u32, description: &'static str) -> Registered {
    Registered {
        codespace: "emissions",
        code,
        description,
    }
}

pub(crate) const TX_DECODE: Registered = sdk(2, "tx parse error");
pub(crate) const UNAUTHORIZED: Registered = sdk(4, "unauthorized");
pub(crate) const INSUFFICIENT_FUNDS: Registered = sdk(5, "insufficient funds");
pub(crate) const UNKNOWN_REQUEST: Registered = sdk(6, "unknown request");
pub(crate) const INVALID_ADDRESS: Registered = sdk(7, "invalid address");
pub(crate) const INVALID_PUBKEY: Registered = sdk(8, "invalid pubkey");
pub(crate) const UNKNOWN_ADDRESS: Registered = sdk(9, "unknown address");
pub(crate) const OUT_OF_GAS: Registered = sdk(11, "out of gas");
pub(crate) const MEMO_TOO_LARGE: Registered = sdk(12, "memo too large");
pub(crate) const INSUFFICIENT_FEE: Registered = sdk(13, "insufficient fee");
pub(crate) const NO_SIGNATURES: Registered = sdk(15, "no signatures supplied");
pub(crate) const INVALID_REQUEST: Registered = sdk(18, "invalid request");
pub(crate) const TX_IN_MEMPOOL_CACHE: Registered = sdk(19, "tx already in mempool");
pub(crate) const INVALID_TYPE: Registered = sdk(29, "invalid type");
pub(crate) const TX_TIMEOUT_HEIGHT: Registered = sdk(30, "tx timeout height");
pub(crate) const WRONG_SEQUENCE: Registered = sdk(32, "incorrect account sequence");
pub(crate) const NOT_FOUND: Registered = sdk(38, "not found");

// cosmos-sdk `x/feegrant/errors.go`.
pub(crate) const FEE_LIMIT_EXCEEDED: Registered = feegrant(2, "fee limit exceeded");
pub(crate) const FEE_LIMIT_EXPIRED: Registered = feegrant(3, "fee allowance expired");

pub(crate) const INVALID_TOPIC_ID: Registered = emissions(6, "invalid topic ID");
pub(crate) const ADDRESS_ALREADY_REGISTERED: Registered =
    emissions(8, "address already registered in a topic");
pub(crate) const ADDRESS_NOT_REGISTERED: Registered = emissions(13, "address not registered");
pub(crate) const TOPIC_DOES_NOT_EXIST: Registered = emissions(23, "topic does not exist");
pub(crate) const OWNER_CANNOT_BE_EMPTY: Registered = emissions(24, "owner cannot be empty");
pub(crate) const REGISTRANT_NOT_ENOUGH_DENOM: Registered =
    emissions(48, "topic registrant does not have enough denom");
pub(crate) const QUERY_TOO_LARGE: Registered = emissions(53, "query is too large");
pub(crate) const WORKER_NONCE_WINDOW_NOT_AVAILABLE: Registered =
    emissions(67, "worker nonce window not available");
pub(crate) const UNFULFILLED_NONCE_NOT_FOUND: Registered =
    emissions(75, "unfulfilled nonce not found");
pub(crate) const NO_VALID_FORECAST_ELEMENTS: Registered =
    emissions(77, "no valid forecast elements found");
pub(crate) const CANT_UPDATE_EMA_MORE_THAN_ONCE_PER_WINDOW: Registered =
    emissions(78, "cannot update EMA more than once per window");
pub(crate) const NOT_PERMITTED_TO_SUBMIT_WORKER_PAYLOAD: Registered =
    emissions(83, "not permitted to submit worker payload");

impl Registered {
    /// This error with context in front of its description.
    pub(crate) fn wrap(self, context: impl fmt::Display) -> AbciError {
        AbciError {
            codespace: self.codespace,
            code: self.code,
            log: format!("{context}: {}", self.description),
        }
    }

    /// This error with its bare description.
    pub(crate) fn bare(self) -> AbciError {
        AbciError {
            codespace: self.codespace,
            code: self.code,
            log: self.description.to_owned(),
        }
    }
}

/// A failed check or message: what goes into `code`, `codespace` and `raw_log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AbciError {
    pub(crate) codespace: &'static str,
    pub(crate) code: u32,
    pub(crate) log: String,
}

impl AbciError {
    /// A plain Go error with no registered code, which the chain reports as
    /// code 1 in the "undefined" codespace.
    pub(crate) fn unregistered(log: impl Into<String>) -> Self {
        AbciError {
            codespace: "undefined",
            code: 1,
            log: log.into(),
        }
    }

    /// A Go panic recovered by the SDK's baseapp (`ErrPanic`, codespace
    /// `undefined`, code 111222).
    pub(crate) fn panic(reason: &str) -> Self {
        AbciError {
            codespace: "undefined",
            code: 111_222,
            log: format!("recovered: {reason}: panic"),
        }
    }

    /// Adds context in front of the log, keeping code and codespace (as
    /// `errorsmod.Wrap` does).
    pub(crate) fn context(mut self, context: impl fmt::Display) -> Self {
        self.log = format!("{context}: {}", self.log);
        self
    }
}
