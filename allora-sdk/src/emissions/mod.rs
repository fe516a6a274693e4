//! The chain's emissions protocol versions, as data, in one place.
//!
//! Allora networks do not all speak the same version of the `emissions`
//! module. Each version is a protobuf package, `emissions.vN`, and what a
//! worker meets of it differs from one version to the next:
//!
//! | | v9 | v10 |
//! |---|---|---|
//! | chain releases | v0.16 and earlier | v0.17 on |
//! | payload message | `/emissions.v9.InsertWorkerPayloadRequest` | `/emissions.v10.InsertWorkerPayloadRequest` |
//! | inference value | `InputInference.value` (field 4) | labeled values (field 7); `value` is `"0"` |
//! | registration | `/emissions.v9.RegisterRequest` | `/emissions.v10.RegisterRequest` |
//! | queries | `emissions.v9.QueryService` | `emissions.v10.QueryService` (+ `GetTopicEpochs`, `GetEpoch` from v0.18) |
//! | window events | `emissions.v9.EventWorkerSubmissionWindow{Opened,Closed}` | `emissions.v10.EventWorkerSubmissionWindow{Opened,Closed}` |
//!
//! Sources: allora-chain `x/emissions/proto/emissions/v9/` and `.../v10/`
//! (`inputworker.proto`, `tx.proto`, `query.proto`, `events.proto`,
//! `epoch.proto`), and the classes of the official Python SDK (PyPI
//! `allora-sdk` 1.3.0, `allora_sdk.rpc_client.protos.emissions.v9` and
//! `.v10`), whose v9 classes generate this crate's v9 golden vectors. The
//! docs' network manifest (allora-network/docs `public/api/networks.json`,
//! updated 2026-07-31) lists testnet on chain v0.17.0 (`emissions/v10`) and
//! mainnet on v0.16.0 (`emissions/v9`).
//!
//! A [`MessageSet`] holds one version's differences: its package (which
//! names its services, type URLs and event types), the queries it serves
//! ([`Query`]), and how its payload messages encode. The rest is the same
//! in every supported version: the query methods and their requests and
//! responses (the `emissions.v10` shapes), the window events' attributes
//! and the registration message's fields. Everything above this module
//! (the client's queries, payloads, registration, the worker's discovery
//! and events, `status`, the devnet) asks the [`Protocol`] in use and never
//! names a version.
//!
//! Payloads are described once, in the richest shape this crate knows (the
//! `emissions.v10` messages, which carry both the scalar `value` and
//! labeled `values`); each version's set encodes that description on its
//! own wire ([`MessageSet::encode_bundle`]): v9 keeps `value` and has no
//! field 7.
//!
//! # Which version a chain speaks
//!
//! [`ChainClient::detect_emissions`](crate::client::ChainClient::detect_emissions)
//! asks the node: the newest supported version whose `QueryService`
//! answers `GetParams` is the one in use (a node answers a service it does
//! not register with gRPC `UNIMPLEMENTED`, "unknown service
//! emissions.v9.QueryService"). On a version that has them, whether
//! `GetTopicEpochs` answers tells wall-clock windows (chain v0.18 on,
//! emissions store migration v17: topic `epoch_length`, `ground_truth_lag`
//! and `worker_submission_window` in seconds) from windows counted in
//! blocks ([`WindowMode`]). When no supported version answers, the
//! versions around them are probed so the error can say which one the
//! chain speaks ([`Unsupported`]).
//!
//! # Adding a version
//!
//! A new version is one new module beside `v9.rs` and `v10.rs` (its
//! `MESSAGES` constant and encoders, with `.proto` files under
//! `allora-sdk/proto/emissions/` for what its messages add), one entry in the list of sets below, the
//! versions that serve each [`Query`] if they change, and its golden
//! vectors under `allora-sdk/tests/vectors/`.
//!
//! ```
//! use allora_sdk::emissions::{EmissionsVersion, Query};
//!
//! let supported: Vec<String> = EmissionsVersion::supported().map(|v| v.to_string()).collect();
//! assert_eq!(supported, ["v9", "v10"]);
//! let v9 = EmissionsVersion::V9.messages().expect("v9 is supported");
//! assert_eq!(v9.insert_worker_payload_type_url(), "/emissions.v9.InsertWorkerPayloadRequest");
//! assert_eq!(
//!     v9.query_path(Query::UnfulfilledWorkerNonces).as_deref(),
//!     Some("/emissions.v9.QueryService/GetUnfulfilledWorkerNonces")
//! );
//! assert!(EmissionsVersion::new(11).messages().is_none());
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use prost::Message;

use crate::proto::emissions::v10 as shape;
use crate::proto::Any;

/// The message set of version `emissions.v{number}`: its services, type
/// URLs and event types are named in that package; the rest is given.
macro_rules! message_set {
    (
        $number:literal,
        labeled_values: $labeled_values:expr,
        encode_bundle: $encode_bundle:expr,
        encode_insert: $encode_insert:expr,
        decode_insert: $decode_insert:expr $(,)?
    ) => {
        $crate::emissions::MessageSet {
            version: $crate::emissions::EmissionsVersion::new($number),
            query_service: concat!("emissions.v", $number, ".QueryService"),
            msg_service: concat!("emissions.v", $number, ".MsgService"),
            insert_worker_payload: concat!("/emissions.v", $number, ".InsertWorkerPayloadRequest"),
            register: concat!("/emissions.v", $number, ".RegisterRequest"),
            window_opened: concat!("emissions.v", $number, ".EventWorkerSubmissionWindowOpened"),
            window_closed: concat!("emissions.v", $number, ".EventWorkerSubmissionWindowClosed"),
            labeled_values: $labeled_values,
            encode_bundle: $encode_bundle,
            encode_insert: $encode_insert,
            decode_insert: $decode_insert,
        }
    };
}

mod v10;
mod v9;

/// The sets this build speaks, oldest first. A new version is one more
/// entry here (and its module), and becomes the newest.
const SETS: &[&MessageSet] = &[&v9::MESSAGES, &v10::MESSAGES];
/// The newest of them.
const NEWEST: &MessageSet = &v10::MESSAGES;

/// A version of the chain's emissions protocol: the `N` of the protobuf
/// package `emissions.vN`. Any number can be named (a chain may speak a
/// version this build does not); [`EmissionsVersion::messages`] says
/// whether this build speaks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmissionsVersion(u32);

impl EmissionsVersion {
    /// `emissions.v9` (chain v0.16 and earlier; mainnet as of 2026-07-31).
    pub const V9: EmissionsVersion = EmissionsVersion(9);
    /// `emissions.v10` (chain v0.17 on; testnet as of 2026-07-31).
    pub const V10: EmissionsVersion = EmissionsVersion(10);

    /// The version `emissions.v{number}`.
    pub const fn new(number: u32) -> Self {
        EmissionsVersion(number)
    }

    /// Its number.
    pub const fn number(self) -> u32 {
        self.0
    }

    /// Its protobuf package (`emissions.v9`).
    pub fn package(self) -> String {
        format!("emissions.v{}", self.0)
    }

    /// Its query service (`emissions.v9.QueryService`), whether or not this
    /// build speaks it.
    pub fn query_service(self) -> String {
        format!("emissions.v{}.QueryService", self.0)
    }

    /// Its message set, when this build speaks it.
    pub fn messages(self) -> Option<&'static MessageSet> {
        SETS.iter().copied().find(|set| set.version == self)
    }

    /// Whether this build speaks it.
    pub fn is_supported(self) -> bool {
        self.messages().is_some()
    }

    /// The versions this build speaks, oldest first.
    pub fn supported() -> impl Iterator<Item = EmissionsVersion> + Clone {
        SETS.iter().map(|set| set.version)
    }

    /// The newest version this build speaks.
    pub fn latest() -> EmissionsVersion {
        NEWEST.version
    }

    /// The versions this build speaks, as text (`v9, v10`).
    pub fn supported_list() -> String {
        Self::supported()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The version of a protobuf name in an emissions package: a type URL
    /// (`/emissions.v9.RegisterRequest`), an event type
    /// (`emissions.v10.EventWorkerSubmissionWindowOpened`), a service or a
    /// package. `None` for any other name.
    pub fn of_name(name: &str) -> Option<EmissionsVersion> {
        let rest = name.strip_prefix('/').unwrap_or(name);
        let rest = rest.strip_prefix("emissions.v")?;
        let digits: &str = rest.split_once('.').map_or(rest, |(number, _)| number);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(EmissionsVersion)
    }
}

impl fmt::Display for EmissionsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A version name that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an emissions version; use v9 or v10 (or emissions.v9, 9...)")]
pub struct ParseVersionError(String);

impl FromStr for EmissionsVersion {
    type Err = ParseVersionError;

    /// `v9`, `V9`, `9` or `emissions.v9`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let lower = trimmed.to_ascii_lowercase();
        let number = lower
            .strip_prefix("emissions.v")
            .or_else(|| lower.strip_prefix('v'))
            .unwrap_or(&lower);
        match number.parse::<u32>() {
            Ok(n) if n > 0 && !number.starts_with('+') => Ok(EmissionsVersion(n)),
            _ => Err(ParseVersionError(trimmed.to_owned())),
        }
    }
}

/// Declares [`Query`] from one table of variants and their gRPC methods,
/// so that [`Query::method`] and the list of every query cannot miss one.
macro_rules! queries {
    ($($(#[doc = $doc:literal])* $variant:ident => $method:literal,)*) => {
        /// The queries a worker makes of the emissions module. Each has one
        /// gRPC method name ([`Query::method`]) in every version that serves
        /// it ([`MessageSet::query_path`]).
        ///
        /// Wherever a version serves a query, the request and response are
        /// the `emissions.v10` shapes on the wire for every field a worker
        /// reads (the v9 query service is declared with them, and its topic
        /// is checked against them in the v9 module's tests), so the client
        /// decodes them with one set of types.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Query {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Query {
            /// Every query, in the order of the chain's service.
            const ALL: &'static [Query] = &[$(Query::$variant,)*];

            /// Its gRPC method, the same in every version that serves it
            /// (allora-chain `x/emissions/proto/emissions/v*/query.proto`).
            pub const fn method(self) -> &'static str {
                match self {
                    $(Query::$variant => $method,)*
                }
            }
        }
    };
}

queries! {
    /// `GetParams`: module parameters (also the detection probe).
    Params => "GetParams",
    /// `GetNextTopicId`.
    NextTopicId => "GetNextTopicId",
    /// `GetTopic`.
    Topic => "GetTopic",
    /// `TopicExists`.
    TopicExists => "TopicExists",
    /// `IsTopicActive`.
    IsTopicActive => "IsTopicActive",
    /// `IsWorkerRegisteredInTopicId`.
    IsWorkerRegistered => "IsWorkerRegisteredInTopicId",
    /// `CanSubmitWorkerPayload` (whitelists).
    CanSubmitWorkerPayload => "CanSubmitWorkerPayload",
    /// `GetUnfulfilledWorkerNonces`: open windows (discovery by polling).
    UnfulfilledWorkerNonces => "GetUnfulfilledWorkerNonces",
    /// `IsWorkerNonceUnfulfilled`.
    IsWorkerNonceUnfulfilled => "IsWorkerNonceUnfulfilled",
    /// `GetLatestNetworkInferences` (labeled bundles, v10).
    LatestNetworkInferences => "GetLatestNetworkInferences",
    /// `GetWorkerSubmissionWindowStatus`.
    WorkerSubmissionWindowStatus => "GetWorkerSubmissionWindowStatus",
    /// `GetEpoch`: one scheduler epoch (chain v0.18 on).
    Epoch => "GetEpoch",
    /// `GetTopicEpochs`: a topic's in-flight scheduler epochs, with their
    /// window times (chain v0.18 on; also the wall-clock probe).
    TopicEpochs => "GetTopicEpochs",
}

impl Query {
    /// The oldest version serving it in the `emissions.v10` shapes: v9
    /// answers `GetLatestNetworkInferences` with an unlabeled bundle and
    /// has no scheduler epochs.
    const fn since(self) -> EmissionsVersion {
        match self {
            Query::LatestNetworkInferences | Query::Epoch | Query::TopicEpochs => {
                EmissionsVersion::V10
            }
            _ => EmissionsVersion::V9,
        }
    }
}

/// The attribute keys of the window events, the same in every supported
/// version: the fields of allora-chain's `EventWorkerSubmissionWindowOpened`
/// (`x/emissions/proto/emissions/v*/events.proto`).
const WINDOW_ATTRIBUTES: WindowEventAttributes = WindowEventAttributes {
    topic_id: "topic_id",
    nonce: "nonce_block_height",
    window_end: "window_end_block",
};

/// The attribute keys of the window events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowEventAttributes {
    /// The topic id.
    pub topic_id: &'static str,
    /// The nonce (the height that opened the window).
    pub nonce: &'static str,
    /// The window's last height, on the opening event (not a height on
    /// wall-clock chains: ignored there).
    pub window_end: &'static str,
}

/// One emissions version's services, type URLs, events and encodings.
/// Obtained from [`EmissionsVersion::messages`] or [`Protocol::messages`].
#[derive(Clone, Copy)]
pub struct MessageSet {
    version: EmissionsVersion,
    query_service: &'static str,
    msg_service: &'static str,
    insert_worker_payload: &'static str,
    register: &'static str,
    window_opened: &'static str,
    window_closed: &'static str,
    labeled_values: bool,
    encode_bundle: fn(&shape::InputInferenceForecastBundle) -> Vec<u8>,
    encode_insert: fn(&shape::InsertWorkerPayloadRequest) -> Vec<u8>,
    decode_insert: fn(&[u8]) -> Result<shape::InsertWorkerPayloadRequest, MessageDecodeError>,
}

impl fmt::Debug for MessageSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageSet")
            .field("version", &self.version)
            .field("query_service", &self.query_service)
            .finish_non_exhaustive()
    }
}

impl PartialEq for MessageSet {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
    }
}

impl Eq for MessageSet {}

impl MessageSet {
    /// The set of the newest version this build speaks.
    pub fn newest() -> &'static MessageSet {
        NEWEST
    }

    /// The version.
    pub fn version(&self) -> EmissionsVersion {
        self.version
    }

    /// The full name of its query service (`emissions.v10.QueryService`).
    pub fn query_service(&self) -> &'static str {
        self.query_service
    }

    /// The full name of its message service (`emissions.v10.MsgService`).
    pub fn msg_service(&self) -> &'static str {
        self.msg_service
    }

    /// The gRPC method of `query`, when this version serves it.
    pub fn query_method(&self, query: Query) -> Option<&'static str> {
        (query.since() <= self.version).then_some(query.method())
    }

    /// The gRPC path of `query` (`/emissions.v10.QueryService/GetTopic`),
    /// when this version serves it.
    pub fn query_path(&self, query: Query) -> Option<String> {
        self.query_method(query)
            .map(|method| format!("/{}/{method}", self.query_service))
    }

    /// The queries it serves, with their methods.
    pub fn queries(&self) -> impl Iterator<Item = (Query, &'static str)> + Clone {
        let set = *self;
        Query::ALL
            .iter()
            .copied()
            .filter_map(move |query| Some((query, set.query_method(query)?)))
    }

    /// The type URL of its worker payload message.
    pub fn insert_worker_payload_type_url(&self) -> &'static str {
        self.insert_worker_payload
    }

    /// The type URL of its registration message.
    pub fn register_type_url(&self) -> &'static str {
        self.register
    }

    /// The type of the event opening a worker window.
    pub fn window_opened_event(&self) -> &'static str {
        self.window_opened
    }

    /// The type of the event closing a worker window.
    pub fn window_closed_event(&self) -> &'static str {
        self.window_closed
    }

    /// The attribute keys of its window events.
    pub fn window_event_attributes(&self) -> WindowEventAttributes {
        WINDOW_ATTRIBUTES
    }

    /// Whether inferences carry labeled values (v10). Without them (v9) an
    /// inference is one value, in `value`.
    pub fn labeled_values(&self) -> bool {
        self.labeled_values
    }

    /// The bytes of a payload bundle on this version's wire: what the
    /// worker signs and the chain re-encodes to verify. The bundle is given
    /// in the richest shape (see the [module docs](self)); fields the
    /// version does not have are left out.
    pub fn encode_bundle(&self, bundle: &shape::InputInferenceForecastBundle) -> Vec<u8> {
        (self.encode_bundle)(bundle)
    }

    /// A worker payload message as this version's transaction `Any`.
    pub fn insert_worker_payload_any(&self, message: &shape::InsertWorkerPayloadRequest) -> Any {
        Any {
            type_url: self.insert_worker_payload.to_owned(),
            value: (self.encode_insert)(message),
        }
    }

    /// Reads a worker payload message of this version (an `Any` value whose
    /// type URL is [`insert_worker_payload_type_url`](Self::insert_worker_payload_type_url))
    /// into the richest shape. Bytes that are no such message fail, and so
    /// do a v9 inference's labeled values (field 7, which v9 does not have:
    /// the chain's transaction decoder refuses it as an unknown field).
    /// Other unknown fields are skipped, not refused.
    pub fn decode_insert_worker_payload(
        &self,
        bytes: &[u8],
    ) -> Result<shape::InsertWorkerPayloadRequest, MessageDecodeError> {
        (self.decode_insert)(bytes)
    }

    /// A registration message as this version's transaction `Any`. The
    /// message has the same fields in every supported version; only its
    /// type URL differs (allora-chain `x/emissions/proto/emissions/v*/tx.proto`).
    pub fn register_any(&self, message: &shape::RegisterRequest) -> Any {
        Any {
            type_url: self.register.to_owned(),
            value: message.encode_to_vec(),
        }
    }

    /// Reads a registration message of this version.
    pub fn decode_register(
        &self,
        bytes: &[u8],
    ) -> Result<shape::RegisterRequest, prost::DecodeError> {
        shape::RegisterRequest::decode(bytes)
    }
}

/// Why bytes are not a message of an emissions version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageDecodeError {
    /// Not a protobuf message of the expected shape.
    #[error(transparent)]
    Malformed(#[from] prost::DecodeError),
    /// A field the version's message does not have: labeled values in a v9
    /// inference, the one such field a payload described in the richest
    /// shape can carry. The chain's transaction decoder refuses an unknown
    /// field numbered below 1024 in any message of a transaction body
    /// (cosmos-sdk v0.50 `codec/unknownproto`); this reads as its error
    /// does.
    #[error("errUnknownField {message:?}: {{TagNum: {field}, WireType:{wire_type:?}}}")]
    UnknownField {
        /// The full name of the message holding it
        /// (`emissions.v9.InputInference`).
        message: &'static str,
        /// The field number.
        field: u32,
        /// The field's wire type (`bytes`, `varint`, …).
        wire_type: &'static str,
    },
}

/// How a chain's worker windows are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WindowMode {
    /// In blocks: a window opened at nonce `n` takes payloads up to height
    /// `n + worker_submission_window` (the window event's
    /// `window_end_block`).
    #[default]
    Blocks,
    /// In time, by scheduler epochs (chain v0.18 on): a window takes
    /// payloads in blocks stamped from its epoch's
    /// `worker_submission_window.open_at` to its `close_at` (allora-chain
    /// `x/emissions/keeper/epoch_submission.go`). The nonce is still the
    /// epoch's start height; the window event's `window_end_block` is not a
    /// height there.
    WallClock,
}

impl fmt::Display for WindowMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WindowMode::Blocks => "windows in blocks",
            WindowMode::WallClock => "wall-clock windows",
        })
    }
}

/// The protocol a chain speaks: a supported emissions version and how its
/// windows are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    messages: &'static MessageSet,
    windows: WindowMode,
}

impl Protocol {
    /// `version` with `windows`; [`Unsupported`] when this build does not
    /// speak `version`.
    pub fn new(version: EmissionsVersion, windows: WindowMode) -> Result<Self, Unsupported> {
        version
            .messages()
            .map(|messages| Protocol { messages, windows })
            .ok_or(Unsupported {
                chain: Some(version),
            })
    }

    /// The version.
    pub fn version(&self) -> EmissionsVersion {
        self.messages.version
    }

    /// The version's message set.
    pub fn messages(&self) -> &'static MessageSet {
        self.messages
    }

    /// How windows are measured.
    pub fn windows(&self) -> WindowMode {
        self.windows
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "emissions {} ({})", self.version(), self.windows)
    }
}

/// The chain's emissions protocol as a worker sees it (what
/// [`WorkerObserver::emissions`](crate::worker::WorkerObserver::emissions)
/// reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmissionsStatus {
    /// The chain speaks this protocol, and the worker signs for it.
    Supported(Protocol),
    /// The chain speaks no version this build does: nothing is signed until
    /// it does (or allora-rs is upgraded).
    Unsupported(Unsupported),
}

impl EmissionsStatus {
    /// Whether the worker can serve the chain.
    pub fn is_supported(&self) -> bool {
        matches!(self, EmissionsStatus::Supported(_))
    }
}

impl fmt::Display for EmissionsStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmissionsStatus::Supported(protocol) => protocol.fmt(f),
            EmissionsStatus::Unsupported(unsupported) => unsupported.fmt(f),
        }
    }
}

/// The chain speaks no emissions version this build supports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Unsupported {
    /// The version the chain speaks, when a probe found it.
    pub chain: Option<EmissionsVersion>,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let supported = EmissionsVersion::supported_list();
        match self.chain {
            Some(version) => write!(
                f,
                "the chain speaks emissions {version}; this build of allora-rs supports {supported}: upgrade allora-rs"
            ),
            None => write!(
                f,
                "the chain answers none of the emissions versions this build of allora-rs supports ({supported}); check the endpoint, or upgrade allora-rs"
            ),
        }
    }
}

/// Whether a chain rejection says the node cannot read a message's type:
/// the transaction decoder's "unable to resolve type URL …" (sdk code 2,
/// `tx parse error`; cosmos-sdk `codec/types/interface_registry.go`), or
/// "unrecognized message type", for a message of an emissions package.
/// That is how a chain refuses the messages of a version it no longer (or
/// does not yet) speak: allora-chain v0.17 rejects `emissions.v9` payloads
/// at decoding (`app/querytx_test.go`).
pub fn refuses_message_type(codespace: &str, code: u32, log: &str) -> bool {
    let lower = log.to_ascii_lowercase();
    let names_emissions = lower.contains("/emissions.v");
    let unresolved =
        lower.contains("unable to resolve type url") || lower.contains("unrecognized message type");
    names_emissions && (unresolved || (codespace == "sdk" && code == 2))
}

/// Whether a gRPC status says the node does not serve a method at all
/// (`UNIMPLEMENTED`, as for "unknown service emissions.v9.QueryService").
pub fn is_unimplemented(code: tonic::Code) -> bool {
    code == tonic::Code::Unimplemented
}

/// What a worker needs of a scheduler epoch (chain v0.18 on): its worker
/// window in time and the nonce payloads for it carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochWindow {
    /// The topic.
    pub topic_id: u64,
    /// The epoch's identity (packed NonceV2; not the submission nonce).
    pub epoch: u64,
    /// The submission nonce: the epoch's start height.
    pub nonce: i64,
    /// Whether the epoch is in its worker-submission state.
    pub accepting: bool,
    /// When the worker window opens.
    pub open_at: SystemTime,
    /// When it closes: payloads must land in a block stamped no later.
    pub close_at: SystemTime,
}

impl EpochWindow {
    /// Whether the window takes payloads at `now` (open, and the epoch in
    /// its worker-submission state).
    pub fn is_open_at(&self, now: SystemTime) -> bool {
        self.accepting && self.open_at <= now && now <= self.close_at
    }
}

/// A protobuf timestamp as a time, when representable.
pub(crate) fn system_time(seconds: i64, nanos: i32) -> Option<SystemTime> {
    let nanos = u32::try_from(nanos).ok()?;
    if seconds >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::new(u64::try_from(seconds).ok()?, nanos))
    } else {
        SystemTime::UNIX_EPOCH
            .checked_sub(Duration::from_secs(seconds.unsigned_abs()))?
            .checked_add(Duration::from_nanos(u64::from(nanos)))
    }
}

/// A time as a protobuf timestamp's seconds and nanos.
pub fn timestamp_parts(time: SystemTime) -> (i64, i32) {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            i32::try_from(d.subsec_nanos()).unwrap_or(0),
        ),
        Err(before) => {
            let d = before.duration();
            let mut seconds = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let mut nanos = i32::try_from(d.subsec_nanos()).unwrap_or(0);
            if nanos > 0 {
                seconds -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            (seconds, nanos)
        }
    }
}

/// A scheduler epoch (in its `emissions.v10` shape) as a worker window;
/// `None` without both window times.
pub fn epoch_window(epoch: &shape::Epoch) -> Option<EpochWindow> {
    let window = epoch.worker_submission_window.as_ref()?;
    let open = window.open_at.as_ref()?;
    let close = window.close_at.as_ref()?;
    Some(EpochWindow {
        topic_id: epoch.topic_id,
        epoch: epoch.nonce,
        nonce: epoch.start_block_height,
        accepting: epoch.state == shape::EpochState::WorkerSubmission as i32,
        open_at: system_time(open.seconds, open.nanos)?,
        close_at: system_time(close.seconds, close.nanos)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supported_versions_are_listed_once_each_in_order() {
        let versions: Vec<EmissionsVersion> = EmissionsVersion::supported().collect();
        assert_eq!(versions, [EmissionsVersion::V9, EmissionsVersion::V10]);
        assert_eq!(EmissionsVersion::supported_list(), "v9, v10");
        assert_eq!(EmissionsVersion::latest(), EmissionsVersion::V10);
        assert_eq!(
            Some(MessageSet::newest().version()),
            EmissionsVersion::supported().max()
        );
        for version in &versions {
            let set = version.messages().unwrap();
            assert_eq!(set.version(), *version);
            let package = version.package();
            // Every name of the set is in the version's own package.
            for name in [
                set.query_service(),
                set.msg_service(),
                &set.insert_worker_payload_type_url()[1..],
                &set.register_type_url()[1..],
                set.window_opened_event(),
                set.window_closed_event(),
            ] {
                assert!(name.starts_with(&format!("{package}.")), "{name}");
                assert_eq!(EmissionsVersion::of_name(name), Some(*version), "{name}");
            }
            // Every worker query but the v10-only ones is served.
            for query in [
                Query::Params,
                Query::Topic,
                Query::IsWorkerRegistered,
                Query::UnfulfilledWorkerNonces,
                Query::WorkerSubmissionWindowStatus,
            ] {
                assert!(set.query_method(query).is_some(), "{version} {query:?}");
            }
        }
        assert!(!EmissionsVersion::new(11).is_supported());
        assert!(!EmissionsVersion::new(8).is_supported());
    }

    #[test]
    fn the_names_are_the_generated_ones_and_registration_round_trips() {
        use prost::Name;

        let register = shape::RegisterRequest {
            sender: "allo1a".into(),
            topic_id: 3,
            owner: "allo1b".into(),
            is_reputer: true,
        };
        for (set, insert, register_url) in [
            (
                &v9::MESSAGES,
                "/emissions.v9.InsertWorkerPayloadRequest".to_owned(),
                "/emissions.v9.RegisterRequest".to_owned(),
            ),
            (
                &v10::MESSAGES,
                shape::InsertWorkerPayloadRequest::type_url(),
                shape::RegisterRequest::type_url(),
            ),
        ] {
            assert_eq!(set.insert_worker_payload_type_url(), insert);
            assert_eq!(set.register_type_url(), register_url);
            let package = set.version().package();
            let event = |name: &str| name.replacen("emissions.v10", &package, 1);
            assert_eq!(
                set.window_opened_event(),
                event(&shape::EventWorkerSubmissionWindowOpened::full_name())
            );
            assert_eq!(
                set.window_closed_event(),
                event(&shape::EventWorkerSubmissionWindowClosed::full_name())
            );
            let any = set.register_any(&register);
            assert_eq!(any.type_url, register_url);
            assert_eq!(any.value, register.encode_to_vec());
            assert_eq!(set.decode_register(&any.value).unwrap(), register);
        }
        assert_eq!(
            v10::MESSAGES.query_path(Query::TopicEpochs).as_deref(),
            Some("/emissions.v10.QueryService/GetTopicEpochs")
        );
        let v9_queries: Vec<Query> = v9::MESSAGES.queries().map(|(q, _)| q).collect();
        assert_eq!(v9_queries.len(), 10);
        for query in [
            Query::LatestNetworkInferences,
            Query::Epoch,
            Query::TopicEpochs,
        ] {
            assert_eq!(v9::MESSAGES.query_method(query), None, "{query:?}");
            assert!(!v9_queries.contains(&query));
        }
        assert_eq!(v10::MESSAGES.queries().count(), Query::ALL.len());
        assert!(!v9::MESSAGES.labeled_values() && v10::MESSAGES.labeled_values());
    }

    #[test]
    fn versions_parse_from_their_usual_spellings() {
        for text in ["v9", "V9", "9", "emissions.v9", " v9 "] {
            assert_eq!(
                text.parse::<EmissionsVersion>(),
                Ok(EmissionsVersion::V9),
                "{text}"
            );
        }
        assert_eq!("v10".parse(), Ok(EmissionsVersion::V10));
        assert_eq!("v11".parse(), Ok(EmissionsVersion::new(11)));
        for bad in ["", "v", "ten", "v-1", "v0", "+9", "v9.1"] {
            assert!(bad.parse::<EmissionsVersion>().is_err(), "{bad}");
        }
        assert_eq!(EmissionsVersion::V10.to_string(), "v10");
        assert_eq!(
            EmissionsVersion::new(11).query_service(),
            "emissions.v11.QueryService"
        );
    }

    #[test]
    fn names_tell_their_version() {
        assert_eq!(
            EmissionsVersion::of_name("/emissions.v9.InsertWorkerPayloadRequest"),
            Some(EmissionsVersion::V9)
        );
        assert_eq!(
            EmissionsVersion::of_name("emissions.v11.EventWorkerSubmissionWindowOpened"),
            Some(EmissionsVersion::new(11))
        );
        assert_eq!(
            EmissionsVersion::of_name("emissions.v10"),
            Some(EmissionsVersion::V10)
        );
        for other in [
            "/cosmos.bank.v1beta1.MsgSend",
            "emissions.vx.Foo",
            "coin_spent",
            "emissions.",
        ] {
            assert_eq!(EmissionsVersion::of_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_protocol_needs_a_supported_version_and_says_what_it_is() {
        let p = Protocol::new(EmissionsVersion::V10, WindowMode::WallClock).unwrap();
        assert_eq!(p.to_string(), "emissions v10 (wall-clock windows)");
        assert_eq!(p.messages().version(), EmissionsVersion::V10);
        let err = Protocol::new(EmissionsVersion::new(11), WindowMode::Blocks).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the chain speaks emissions v11; this build of allora-rs supports v9, v10: upgrade allora-rs"
        );
        let none = Unsupported { chain: None }.to_string();
        assert!(
            none.contains("none of the emissions versions") && none.contains("v9, v10"),
            "{none}"
        );
    }

    #[test]
    fn refusals_of_a_message_type_are_recognised() {
        assert!(refuses_message_type(
            "sdk",
            2,
            "unable to resolve type URL /emissions.v9.InsertWorkerPayloadRequest: tx parse error"
        ));
        assert!(refuses_message_type(
            "undefined",
            1,
            "unable to resolve type URL /emissions.v9.RegisterRequest: tx parse error With gas wanted: '0' and gas used: '0' "
        ));
        assert!(refuses_message_type(
            "sdk",
            6,
            "unrecognized message type: /emissions.v11.InsertWorkerPayloadRequest: unknown request"
        ));
        // A bad decimal is a parse error of a known type, not a version sign.
        assert!(!refuses_message_type(
            "sdk",
            2,
            "math: invalid decimal 1e41: tx parse error"
        ));
        assert!(!refuses_message_type(
            "sdk",
            6,
            "unrecognized message type: /cosmos.bank.v1beta1.MsgSend: unknown request"
        ));
    }

    #[test]
    fn epochs_become_windows_and_timestamps_round_trip() {
        let at = |s: i64| cosmrs::proto::Timestamp {
            seconds: s,
            nanos: 500,
        };
        let epoch = shape::Epoch {
            nonce: (1 << 56) | 3,
            topic_id: 7,
            state: shape::EpochState::WorkerSubmission as i32,
            worker_submission_window: Some(shape::Window {
                open_at: Some(at(1_000)),
                close_at: Some(at(1_010)),
            }),
            reputer_submission_window: None,
            epsilon: String::new(),
            start_block_height: 4_242,
        };
        let w = epoch_window(&epoch).unwrap();
        assert_eq!((w.topic_id, w.nonce, w.epoch), (7, 4_242, (1 << 56) | 3));
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::new(s, 500);
        assert_eq!((w.open_at, w.close_at), (t(1_000), t(1_010)));
        assert!(w.is_open_at(t(1_005)) && w.is_open_at(t(1_010)));
        assert!(!w.is_open_at(t(1_011)) && !w.is_open_at(t(999)));
        let waiting = shape::Epoch {
            state: shape::EpochState::WaitingGroundTruth as i32,
            ..epoch.clone()
        };
        assert!(!epoch_window(&waiting).unwrap().is_open_at(t(1_005)));
        let no_times = shape::Epoch {
            worker_submission_window: None,
            ..epoch
        };
        assert!(epoch_window(&no_times).is_none());
        for time in [t(1_000), SystemTime::UNIX_EPOCH - Duration::new(5, 250)] {
            let (s, n) = timestamp_parts(time);
            assert_eq!(system_time(s, n), Some(time));
        }
    }
}
