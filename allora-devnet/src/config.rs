//! What a devnet starts with: chain id, block timing, fees, emissions
//! parameters, topics (with their label rules, whitelists and admission
//! caps) and funded accounts.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use allora_sdk::keys::Address;
use allora_sdk::tx::GasPrice;
use allora_sdk::Dec;

use super::error::DevnetError;
use super::feegrant::FeeGrant;
use super::labels;
use super::protocol::DevnetProtocol;

/// Default block interval of a timed devnet.
pub const DEFAULT_BLOCK_INTERVAL: Duration = Duration::from_secs(1);
/// Default chain id.
pub const DEFAULT_CHAIN_ID: &str = "allora-devnet-1";
/// Default minimum gas price: 10 uallo per gas, as on the testnet.
pub const DEFAULT_MIN_GAS_PRICE_UALLO: u64 = 10;
/// Default cap on open (unfulfilled) worker nonces per topic.
pub const DEFAULT_MAX_UNFULFILLED_WORKER_REQUESTS: u64 = 100;
/// Default fee for registering in a topic, in uallo.
pub const DEFAULT_REGISTRATION_FEE: u128 = 10;
/// Default fee per worker payload, in uallo (`Params.data_sending_fee`).
pub const DEFAULT_DATA_SENDING_FEE: u128 = 10;
/// Default largest payload message, in bytes (`Params.max_serialized_msg_length`).
pub const DEFAULT_MAX_SERIALIZED_MSG_LENGTH: i64 = 1_000_000;
/// Default inferers admitted per nonce (`Params.max_top_inferers_to_reward`).
pub const DEFAULT_MAX_TOP_INFERERS: u64 = 32;
/// Default forecasters admitted per nonce (`Params.max_top_forecasters_to_reward`).
pub const DEFAULT_MAX_TOP_FORECASTERS: u64 = 6;
/// Default forecast elements kept per forecast (`Params.max_elements_per_forecast`).
pub const DEFAULT_MAX_ELEMENTS_PER_FORECAST: u64 = 12;
/// Default longest canonical label in bytes (`Params.max_canonical_label_byte_length`).
pub const DEFAULT_MAX_LABEL_BYTES: u64 = 64;

/// How blocks are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockMode {
    /// One block every interval, by a background task.
    Timed(Duration),
    /// Only when the handle's `produce_block` is called (tests step time).
    Manual,
}

/// Whether a topic takes one value or several labeled values per inference
/// (`Topic.output_arity`, allora-chain `x/emissions/proto/emissions/v10/topic.proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputArity {
    /// One value: no label, or the label `y` (`TOPIC_OUTPUT_ARITY_SINGLE`).
    #[default]
    Single,
    /// Several labeled values (`TOPIC_OUTPUT_ARITY_MULTI`).
    Multi,
}

/// What a topic predicts (`Topic.topic_type`); informational on the devnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopicType {
    /// A numeric target (`TOPIC_TYPE_REGRESSION`).
    #[default]
    Regression,
    /// Class probabilities (`TOPIC_TYPE_CLASSIFICATION`).
    Classification,
}

/// The chain's default `max_labels_per_submission` of a topic
/// (`DefaultMaxLabelsPerSubmission`).
pub const DEFAULT_MAX_LABELS_PER_SUBMISSION: u64 = 32;
/// Largest `max_labels_per_submission` a topic may have.
pub const MAX_LABELS_PER_SUBMISSION_LIMIT: u64 = 1024;

/// A topic that exists from genesis, with its label rules, worker whitelist
/// and admission cap. See the [conformance table](crate::conformance) for
/// what each setting makes the devnet refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// The topic id (non-zero).
    pub id: u64,
    /// Free text shown by `GetTopic`.
    pub metadata: String,
    /// Blocks between two worker nonces; the first one opens at this height.
    /// Seconds when the devnet's windows are wall-clock
    /// ([`DevnetProtocol::windows`]).
    pub epoch_length: i64,
    /// Blocks after a nonce during which payloads for it are accepted
    /// (inclusive), `0 < window <= epoch_length` as the chain requires.
    /// Seconds after the epoch opens when windows are wall-clock.
    pub worker_submission_window: i64,
    /// Whether the topic is in the chain's active set. Only active topics
    /// open nonces; a payload for a nonce that is still open is accepted
    /// whether or not the topic is active, as on the chain.
    pub active: bool,
    /// Regression or classification (reported by `GetTopic`).
    pub topic_type: TopicType,
    /// Single value or labeled values.
    pub output_arity: OutputArity,
    /// Most labeled values in one inference on a multi-value topic
    /// (1..=1024; single-value topics always allow one).
    pub max_labels_per_submission: u64,
    /// The labels a multi-value topic accepts; empty accepts any valid
    /// label. Canonicalised when the devnet starts (trimmed, lower-cased
    /// unless [`label_case_sensitive`](Self::label_case_sensitive)).
    pub label_whitelist: Vec<String>,
    /// Whether `BTC` and `btc` are different labels (default false).
    pub label_case_sensitive: bool,
    /// On a multi-value topic, values equal to this (`None`: zero) are
    /// dropped as "not submitted"; at least one other value must remain.
    pub label_default_value: Option<Dec>,
    /// On a multi-value topic, the values must sum to 1 within this
    /// tolerance (`require_unity` with `unity_tolerance`, in (0, 0.01]).
    pub require_unity: Option<Dec>,
    /// The topic's worker whitelist: `None` when disabled, else the
    /// addresses on it. With it enabled, a worker may submit if it is on it,
    /// or on the global worker whitelist, or on the global whitelist (a
    /// disabled global list admits everyone, see [`EmissionsParams`]).
    pub worker_whitelist: Option<Vec<Address>>,
    /// Most inferers admitted per nonce; `None` uses
    /// [`EmissionsParams::max_top_inferers_to_reward`].
    pub max_top_inferers: Option<u64>,
}

impl TopicConfig {
    /// An active single-value regression topic with this epoch length and
    /// submission window, no whitelist and the chain's default label settings.
    pub fn new(id: u64, epoch_length: i64, worker_submission_window: i64) -> Self {
        TopicConfig {
            id,
            metadata: format!("devnet topic {id}"),
            epoch_length,
            worker_submission_window,
            active: true,
            topic_type: TopicType::Regression,
            output_arity: OutputArity::Single,
            max_labels_per_submission: DEFAULT_MAX_LABELS_PER_SUBMISSION,
            label_whitelist: Vec::new(),
            label_case_sensitive: false,
            label_default_value: None,
            require_unity: None,
            worker_whitelist: None,
            max_top_inferers: None,
        }
    }

    /// Makes the topic start inactive.
    pub fn inactive(mut self) -> Self {
        self.active = false;
        self
    }

    /// Sets the metadata text.
    pub fn metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = metadata.into();
        self
    }

    /// Makes the topic take several labeled values per inference.
    pub fn multi(mut self) -> Self {
        self.output_arity = OutputArity::Multi;
        self
    }

    /// Sets single or multi value.
    pub fn output_arity(mut self, arity: OutputArity) -> Self {
        self.output_arity = arity;
        self
    }

    /// Sets the topic type.
    pub fn topic_type(mut self, topic_type: TopicType) -> Self {
        self.topic_type = topic_type;
        self
    }

    /// Sets the most labeled values one inference may carry.
    pub fn max_labels_per_submission(mut self, max: u64) -> Self {
        self.max_labels_per_submission = max;
        self
    }

    /// Accepts only these labels (multi-value topics).
    pub fn label_whitelist<S: Into<String>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
        self.label_whitelist = labels.into_iter().map(Into::into).collect();
        self
    }

    /// Makes labels case-sensitive.
    pub fn label_case_sensitive(mut self, case_sensitive: bool) -> Self {
        self.label_case_sensitive = case_sensitive;
        self
    }

    /// Sets the value that counts as "no value" on a multi-value topic.
    pub fn label_default_value(mut self, value: Dec) -> Self {
        self.label_default_value = Some(value);
        self
    }

    /// Requires a multi-value topic's values to sum to 1 within `tolerance`.
    pub fn require_unity(mut self, tolerance: Dec) -> Self {
        self.require_unity = Some(tolerance);
        self
    }

    /// Enables the topic's worker whitelist with these members.
    pub fn worker_whitelist(mut self, members: impl IntoIterator<Item = Address>) -> Self {
        self.worker_whitelist = Some(members.into_iter().collect());
        self
    }

    /// Admits at most `max` inferers per nonce.
    pub fn max_top_inferers(mut self, max: u64) -> Self {
        self.max_top_inferers = Some(max);
        self
    }

    pub(crate) fn validate(&self, params: &EmissionsParams) -> Result<Self, DevnetError> {
        let fail =
            |reason: String| Err(DevnetError::Config(format!("topic {}: {reason}", self.id)));
        if self.id == 0 {
            return Err(DevnetError::Config("topic id 0 is reserved".into()));
        }
        if self.epoch_length <= 0 {
            return fail("epoch length must be positive".into());
        }
        if self.worker_submission_window <= 0 || self.worker_submission_window > self.epoch_length {
            return fail("the worker submission window must be in 1..=epoch_length".into());
        }
        if !(1..=MAX_LABELS_PER_SUBMISSION_LIMIT).contains(&self.max_labels_per_submission) {
            return fail(format!(
                "max_labels_per_submission must be in 1..={MAX_LABELS_PER_SUBMISSION_LIMIT}"
            ));
        }
        if self.max_top_inferers == Some(0) {
            return fail("max_top_inferers must be positive".into());
        }
        if let Some(tolerance) = &self.require_unity {
            if self.output_arity == OutputArity::Single {
                return fail("require_unity is only allowed on multi-value topics".into());
            }
            let t = tolerance.as_str().parse::<f64>().unwrap_or(f64::NAN);
            if !(t > 0.0 && t <= 0.01) {
                return fail("unity tolerance must be in (0, 0.01]".into());
            }
        }
        let mut topic = self.clone();
        topic.label_whitelist = labels::canonical_whitelist(
            &self.label_whitelist,
            params.max_canonical_label_byte_length,
            self.label_case_sensitive,
        )
        .map_err(|reason| {
            DevnetError::Config(format!("topic {}: label whitelist: {reason}", self.id))
        })?;
        Ok(topic)
    }
}

/// Reads `ID:EPOCH_LENGTH:SUBMISSION_WINDOW[:OPTION,OPTION...]`, the
/// `allora-devnet --topic` syntax. Options: `multi`, `single`,
/// `classification`, `inactive`, `case-sensitive`, `labels=A|B|C`
/// (whitelist), `max-labels=N`, `default=DEC`, `unity=TOLERANCE`,
/// `whitelist=ADDRESS|ADDRESS` (enables the worker whitelist; empty for an
/// enabled, empty list), `max-top-inferers=N`.
///
/// ```
/// use allora_devnet::{OutputArity, TopicConfig};
///
/// let topic: TopicConfig = "7:10:5:multi,labels=up|down,max-labels=2,max-top-inferers=1".parse()?;
/// assert_eq!(topic.output_arity, OutputArity::Multi);
/// assert_eq!(topic.label_whitelist, ["up", "down"]);
/// assert_eq!((topic.max_labels_per_submission, topic.max_top_inferers), (2, Some(1)));
/// # Ok::<(), allora_devnet::DevnetError>(())
/// ```
impl FromStr for TopicConfig {
    type Err = DevnetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| DevnetError::Config(format!("topic {text:?}: {reason}"));
        let mut parts = text.splitn(4, ':');
        let mut number = |what: &str| -> Result<i64, DevnetError> {
            let part = parts.next().ok_or_else(|| {
                bad("expected ID:EPOCH_LENGTH:SUBMISSION_WINDOW[:OPTIONS]".into())
            })?;
            part.parse::<i64>()
                .map_err(|e| bad(format!("{what} {part:?}: {e}")))
        };
        let id = u64::try_from(number("id")?).map_err(|e| bad(format!("id: {e}")))?;
        let epoch = number("epoch length")?;
        let window = number("submission window")?;
        let mut topic = TopicConfig::new(id, epoch, window);
        let options = parts.next().unwrap_or("");
        for option in options.split(',').filter(|o| !o.is_empty()) {
            let (key, value) = match option.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (option, None),
            };
            let count = |v: Option<&str>| -> Result<u64, DevnetError> {
                let v = v.ok_or_else(|| bad(format!("{key} needs a value")))?;
                v.parse::<u64>().map_err(|e| bad(format!("{key}={v}: {e}")))
            };
            let decimal = |v: Option<&str>| -> Result<Dec, DevnetError> {
                let v = v.ok_or_else(|| bad(format!("{key} needs a value")))?;
                v.parse::<Dec>().map_err(|e| bad(format!("{key}={v}: {e}")))
            };
            let list = |v: Option<&str>| -> Vec<String> {
                v.unwrap_or("")
                    .split('|')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            topic = match key {
                "multi" => topic.multi(),
                "single" => topic.output_arity(OutputArity::Single),
                "classification" => topic.topic_type(TopicType::Classification),
                "inactive" => topic.inactive(),
                "case-sensitive" => topic.label_case_sensitive(true),
                "labels" => topic.label_whitelist(list(value)),
                "max-labels" => topic.max_labels_per_submission(count(value)?),
                "default" => topic.label_default_value(decimal(value)?),
                "unity" => topic.require_unity(decimal(value)?),
                "max-top-inferers" => topic.max_top_inferers(count(value)?),
                "whitelist" => {
                    let members = list(value)
                        .iter()
                        .map(|a| a.parse::<Address>().map_err(|e| bad(e.to_string())))
                        .collect::<Result<Vec<_>, _>>()?;
                    topic.worker_whitelist(members)
                }
                other => return Err(bad(format!("unknown option {other:?}"))),
            };
        }
        Ok(topic)
    }
}

/// The emissions module parameters the devnet enforces (`emissions.v9.Params`,
/// served by `GetParams`). Defaults are the chain's `DefaultParams()`
/// (allora-chain `x/emissions/types/params.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmissionsParams {
    /// Largest encoded `InsertWorkerPayloadRequest`, in bytes (code 53 above).
    pub max_serialized_msg_length: i64,
    /// Charged from the payload's sender on every accepted payload, in uallo
    /// (code 5 when the balance after the tx fee is short).
    pub data_sending_fee: u128,
    /// Inferers admitted per nonce unless the topic sets its own cap.
    pub max_top_inferers_to_reward: u64,
    /// Forecasters admitted per nonce.
    pub max_top_forecasters_to_reward: u64,
    /// Forecast elements kept per forecast.
    pub max_elements_per_forecast: u64,
    /// Longest canonical label, in bytes (1..=1024).
    pub max_canonical_label_byte_length: u64,
    /// Whether the global whitelist is enforced (a disabled list admits
    /// everyone).
    pub global_whitelist_enabled: bool,
    /// Whether the global worker whitelist is enforced.
    pub global_worker_whitelist_enabled: bool,
    /// Members of the global whitelist.
    pub global_whitelist: Vec<Address>,
    /// Members of the global worker whitelist.
    pub global_worker_whitelist: Vec<Address>,
}

impl Default for EmissionsParams {
    fn default() -> Self {
        EmissionsParams {
            max_serialized_msg_length: DEFAULT_MAX_SERIALIZED_MSG_LENGTH,
            data_sending_fee: DEFAULT_DATA_SENDING_FEE,
            max_top_inferers_to_reward: DEFAULT_MAX_TOP_INFERERS,
            max_top_forecasters_to_reward: DEFAULT_MAX_TOP_FORECASTERS,
            max_elements_per_forecast: DEFAULT_MAX_ELEMENTS_PER_FORECAST,
            max_canonical_label_byte_length: DEFAULT_MAX_LABEL_BYTES,
            global_whitelist_enabled: true,
            global_worker_whitelist_enabled: true,
            global_whitelist: Vec::new(),
            global_worker_whitelist: Vec::new(),
        }
    }
}

impl EmissionsParams {
    fn validate(&self) -> Result<(), DevnetError> {
        if self.max_serialized_msg_length <= 0 {
            return Err(DevnetError::Config(
                "max_serialized_msg_length must be positive".into(),
            ));
        }
        if !(labels::MIN_MAX_LABEL_BYTES..=labels::MAX_MAX_LABEL_BYTES)
            .contains(&self.max_canonical_label_byte_length)
        {
            return Err(DevnetError::Config(format!(
                "max_canonical_label_byte_length must be in {}..={}",
                labels::MIN_MAX_LABEL_BYTES,
                labels::MAX_MAX_LABEL_BYTES
            )));
        }
        if self.max_top_inferers_to_reward == 0 || self.max_top_forecasters_to_reward == 0 {
            return Err(DevnetError::Config(
                "the top inferer and forecaster caps must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// An account that exists from genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// The address.
    pub address: Address,
    /// Balance in uallo.
    pub balance: u128,
    /// The account number; `None` takes the next free one.
    pub account_number: Option<u64>,
    /// The starting sequence.
    pub sequence: u64,
}

impl AccountConfig {
    /// An account with this balance, the next free account number and sequence 0.
    pub fn new(address: Address, balance: u128) -> Self {
        AccountConfig {
            address,
            balance,
            account_number: None,
            sequence: 0,
        }
    }

    /// Sets the account number.
    pub fn account_number(mut self, number: u64) -> Self {
        self.account_number = Some(number);
        self
    }

    /// Sets the starting sequence.
    pub fn sequence(mut self, sequence: u64) -> Self {
        self.sequence = sequence;
        self
    }
}

/// Everything a devnet starts from. Build one with [`super::Devnet::builder`].
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// The chain id signatures must be made for.
    pub chain_id: String,
    /// How blocks are produced.
    pub block_mode: BlockMode,
    /// The feemarket minimum gas price.
    pub min_gas_price: GasPrice,
    /// Fee debited by `RegisterRequest`, in uallo.
    pub registration_fee: u128,
    /// The emissions parameters payloads are checked against.
    pub params: EmissionsParams,
    /// At most this many worker nonces stay open per topic; the oldest is
    /// dropped when a new one would exceed it.
    pub max_unfulfilled_worker_requests: u64,
    /// Where the gRPC server listens (port 0: any free port).
    pub grpc_addr: SocketAddr,
    /// Where the websocket server listens (port 0: any free port).
    pub websocket_addr: SocketAddr,
    /// Topics at genesis.
    pub topics: Vec<TopicConfig>,
    /// Accounts at genesis.
    pub accounts: Vec<AccountConfig>,
    /// Workers registered at genesis, as (topic, address).
    pub workers: Vec<(u64, Address)>,
    /// Fee allowances at genesis.
    pub fee_grants: Vec<FeeGrant>,
    /// The emissions protocol at genesis (default v10, windows in blocks).
    pub protocol: DevnetProtocol,
    /// Upgrades: from each height on (its block included), the protocol
    /// given. Ascending heights.
    pub upgrades: Vec<(i64, DevnetProtocol)>,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        DevnetConfig {
            chain_id: DEFAULT_CHAIN_ID.to_owned(),
            block_mode: BlockMode::Timed(DEFAULT_BLOCK_INTERVAL),
            min_gas_price: GasPrice::from_uallo(DEFAULT_MIN_GAS_PRICE_UALLO),
            registration_fee: DEFAULT_REGISTRATION_FEE,
            params: EmissionsParams::default(),
            max_unfulfilled_worker_requests: DEFAULT_MAX_UNFULFILLED_WORKER_REQUESTS,
            grpc_addr: loopback,
            websocket_addr: loopback,
            topics: Vec::new(),
            accounts: Vec::new(),
            workers: Vec::new(),
            fee_grants: Vec::new(),
            protocol: DevnetProtocol::default(),
            upgrades: Vec::new(),
        }
    }
}

impl DevnetConfig {
    pub(crate) fn validate(&self) -> Result<(), DevnetError> {
        if self.chain_id.is_empty() {
            return Err(DevnetError::Config("the chain id is empty".into()));
        }
        if let BlockMode::Timed(interval) = self.block_mode {
            if interval.is_zero() {
                return Err(DevnetError::Config("the block interval is zero".into()));
            }
        }
        if self.max_unfulfilled_worker_requests == 0 {
            return Err(DevnetError::Config(
                "max_unfulfilled_worker_requests must be positive".into(),
            ));
        }
        self.params.validate()?;
        self.protocol.validate()?;
        let mut previous = 0;
        for (height, protocol) in &self.upgrades {
            if *height <= previous {
                return Err(DevnetError::Config(format!(
                    "upgrade heights must be positive and ascending (got {height} after {previous})"
                )));
            }
            protocol.validate()?;
            previous = *height;
        }
        for topic in &self.topics {
            topic.validate(&self.params)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_options_parse() {
        let member = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv";
        let topic: TopicConfig = format!(
            "3:20:4:multi,classification,inactive,case-sensitive,labels=A|b,max-labels=5,\
             default=0.5,unity=0.01,whitelist={member},max-top-inferers=2"
        )
        .parse()
        .unwrap();
        assert_eq!(
            (topic.id, topic.epoch_length, topic.worker_submission_window),
            (3, 20, 4)
        );
        assert_eq!(topic.output_arity, OutputArity::Multi);
        assert_eq!(topic.topic_type, TopicType::Classification);
        assert!(!topic.active && topic.label_case_sensitive);
        assert_eq!(topic.label_whitelist, ["A", "b"]);
        assert_eq!(topic.max_labels_per_submission, 5);
        assert_eq!(topic.label_default_value.unwrap().as_str(), "0.5");
        assert_eq!(topic.require_unity.unwrap().as_str(), "0.01");
        assert_eq!(
            topic.worker_whitelist.unwrap()[0].as_str(),
            member,
            "the worker whitelist is enabled with its member"
        );
        assert_eq!(topic.max_top_inferers, Some(2));
        // A bare `whitelist=` enables an empty list.
        let empty: TopicConfig = "1:10:5:whitelist=".parse().unwrap();
        assert_eq!(empty.worker_whitelist, Some(Vec::new()));
        let plain: TopicConfig = "1:10:5".parse().unwrap();
        assert_eq!(plain, TopicConfig::new(1, 10, 5));
    }

    #[test]
    fn bad_topic_options_say_what_is_wrong() {
        for (text, part) in [
            ("1:10", "expected ID:EPOCH_LENGTH"),
            ("x:10:5", "id \"x\""),
            ("1:10:5:bogus", "unknown option \"bogus\""),
            ("1:10:5:max-labels", "max-labels needs a value"),
            ("1:10:5:max-labels=many", "max-labels=many"),
            ("1:10:5:whitelist=cosmos1xyz", "invalid address"),
            ("1:10:5:default=abc", "default=abc"),
        ] {
            let err = text.parse::<TopicConfig>().unwrap_err().to_string();
            assert!(err.contains(part), "{text}: {err}");
        }
    }

    #[test]
    fn topics_are_validated_against_the_chains_limits() {
        let params = EmissionsParams::default();
        let check = |t: TopicConfig| t.validate(&params).map(|_| ()).map_err(|e| e.to_string());
        assert!(check(TopicConfig::new(1, 10, 5)).is_ok());
        assert!(check(TopicConfig::new(1, 10, 5).max_labels_per_submission(0)).is_err());
        assert!(check(TopicConfig::new(1, 10, 5).max_labels_per_submission(1025)).is_err());
        assert!(check(TopicConfig::new(1, 10, 5).max_top_inferers(0)).is_err());
        let tol = |t: &str| t.parse::<Dec>().unwrap();
        assert!(check(TopicConfig::new(1, 10, 5).require_unity(tol("0.01")))
            .unwrap_err()
            .contains("only allowed on multi-value topics"));
        assert!(check(
            TopicConfig::new(1, 10, 5)
                .multi()
                .require_unity(tol("0.02"))
        )
        .is_err());
        assert!(check(
            TopicConfig::new(1, 10, 5)
                .multi()
                .require_unity(tol("0.01"))
        )
        .is_ok());
        let err = check(TopicConfig::new(1, 10, 5).label_whitelist(["up", "UP"])).unwrap_err();
        assert!(err.contains("duplicate label"), "{err}");
        let canonical = TopicConfig::new(1, 10, 5)
            .label_whitelist([" Up "])
            .validate(&params)
            .unwrap();
        assert_eq!(canonical.label_whitelist, ["up"]);
        let mut bad = DevnetConfig::default();
        bad.params.max_canonical_label_byte_length = 0;
        assert!(bad.validate().is_err());
    }
}
