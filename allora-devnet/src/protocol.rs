//! The emissions protocol the devnet speaks: a version (`emissions.v9`,
//! `emissions.v10`, or a version `allora-sdk` does not know yet) and how
//! its windows are measured (blocks, or wall-clock scheduler epochs).
//!
//! The devnet serves only its protocol's query service, type URLs and
//! events: other versions' query services answer `UNIMPLEMENTED` ("unknown
//! service emissions.v9.QueryService"), their messages fail decoding
//! ("unable to resolve type URL …: tx parse error", sdk code 2, as
//! allora-chain v0.17 refuses v9 payloads), and the scheduler queries
//! (`GetTopicEpochs`, `GetEpoch`) answer only with wall-clock windows. A
//! version `allora-sdk` does not know (say v11) is served as the newest
//! version's messages under its own names, which is how a worker meets a chain upgraded past
//! it. An upgrade switches the protocol at a height
//! ([`DevnetBuilder::upgrade_at`](crate::DevnetBuilder::upgrade_at)).

use std::fmt;
use std::str::FromStr;

use allora_sdk::emissions::{EmissionsVersion, MessageSet, Query, WindowMode};

use super::error::DevnetError;

/// The emissions protocol of a devnet: a version and how its windows are
/// measured. The devnet serves only this protocol's query service, type
/// URLs and events; other versions' services answer `UNIMPLEMENTED` and
/// their messages fail decoding (sdk code 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DevnetProtocol {
    /// The emissions version.
    pub version: EmissionsVersion,
    /// How windows are measured. With [`WindowMode::WallClock`] a topic's
    /// `epoch_length` and `worker_submission_window` are seconds (as after
    /// allora-chain's emissions store migration v17), epochs open at block
    /// times and a window takes payloads in blocks stamped up to its close.
    pub windows: WindowMode,
}

impl DevnetProtocol {
    /// Emissions v9, windows in blocks (chain v0.16).
    pub const V9: DevnetProtocol = DevnetProtocol {
        version: EmissionsVersion::V9,
        windows: WindowMode::Blocks,
    };
    /// Emissions v10, windows in blocks (chain v0.17; the default).
    pub const V10: DevnetProtocol = DevnetProtocol {
        version: EmissionsVersion::V10,
        windows: WindowMode::Blocks,
    };
    /// Emissions v10 with scheduler epochs and wall-clock windows (chain
    /// v0.18).
    pub const V10_WALL_CLOCK: DevnetProtocol = DevnetProtocol {
        version: EmissionsVersion::V10,
        windows: WindowMode::WallClock,
    };

    /// A protocol.
    pub fn new(version: EmissionsVersion, windows: WindowMode) -> Self {
        DevnetProtocol { version, windows }
    }

    /// The messages on the wire: the version's set, or the newest set
    /// `allora-sdk` knows for a version it does not.
    pub(crate) fn wire(&self) -> &'static MessageSet {
        self.version.messages().unwrap_or(MessageSet::newest())
    }

    /// The type URL of `message` (`InsertWorkerPayloadRequest`) in this
    /// version's package.
    pub fn type_url(&self, message: &str) -> String {
        format!("/{}.{message}", self.version.package())
    }

    /// The type of `event` (`EventWorkerSubmissionWindowOpened`) in this
    /// version's package.
    pub fn event_type(&self, event: &str) -> String {
        format!("{}.{event}", self.version.package())
    }

    /// Whether `method` of the version's query service is served.
    pub(crate) fn serves(&self, method: &str) -> bool {
        let wire = self.wire();
        let scheduler = [Query::Epoch, Query::TopicEpochs]
            .iter()
            .any(|q| wire.query_method(*q) == Some(method));
        let listed = wire.queries().any(|(_, m)| m == method);
        listed && (!scheduler || self.windows == WindowMode::WallClock)
    }

    /// Whether inferences carry labeled values.
    pub(crate) fn labeled(&self) -> bool {
        self.wire().labeled_values()
    }

    pub(crate) fn validate(&self) -> Result<(), DevnetError> {
        let scheduler = self.wire().query_method(Query::TopicEpochs).is_some();
        if self.windows == WindowMode::WallClock && !scheduler {
            return Err(DevnetError::Config(format!(
                "emissions {} has no scheduler epochs: wall-clock windows need v10 or later",
                self.version
            )));
        }
        Ok(())
    }
}

impl Default for DevnetProtocol {
    fn default() -> Self {
        DevnetProtocol::V10
    }
}

impl fmt::Display for DevnetProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.windows {
            WindowMode::Blocks => write!(f, "{}", self.version),
            WindowMode::WallClock => write!(f, "{}-wall-clock", self.version),
        }
    }
}

/// `v9`, `v10`, `v10-wall-clock`, or any `vN[-wall-clock]`.
///
/// ```
/// use allora_devnet::DevnetProtocol;
///
/// assert_eq!("v10-wall-clock".parse::<DevnetProtocol>()?, DevnetProtocol::V10_WALL_CLOCK);
/// assert_eq!("v9".parse::<DevnetProtocol>()?, DevnetProtocol::V9);
/// assert!("v9-wall-clock".parse::<DevnetProtocol>().is_err());
/// # Ok::<(), allora_devnet::DevnetError>(())
/// ```
impl FromStr for DevnetProtocol {
    type Err = DevnetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let (version, windows) = match trimmed.strip_suffix("-wall-clock") {
            Some(version) => (version, WindowMode::WallClock),
            None => (trimmed, WindowMode::Blocks),
        };
        let version = version
            .parse::<EmissionsVersion>()
            .map_err(|e| DevnetError::Config(format!("emissions protocol {trimmed:?}: {e}")))?;
        let protocol = DevnetProtocol { version, windows };
        protocol.validate()?;
        Ok(protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_version_and_match_the_sdks_sets() {
        for protocol in [DevnetProtocol::V9, DevnetProtocol::V10] {
            let set = protocol.version.messages().unwrap();
            assert_eq!(
                protocol.type_url("InsertWorkerPayloadRequest"),
                set.insert_worker_payload_type_url()
            );
            assert_eq!(
                protocol.type_url("RegisterRequest"),
                set.register_type_url()
            );
            assert_eq!(
                protocol.event_type("EventWorkerSubmissionWindowOpened"),
                set.window_opened_event()
            );
            assert_eq!(protocol.wire(), set);
        }
        let v11 = DevnetProtocol::new(EmissionsVersion::new(11), WindowMode::Blocks);
        assert_eq!(
            v11.type_url("InsertWorkerPayloadRequest"),
            "/emissions.v11.InsertWorkerPayloadRequest"
        );
        assert_eq!(v11.wire().version(), EmissionsVersion::V10);
        assert_eq!(v11.to_string(), "v11");
    }

    #[test]
    fn scheduler_queries_are_served_only_with_wall_clock_windows() {
        assert!(DevnetProtocol::V10_WALL_CLOCK.serves("GetTopicEpochs"));
        assert!(!DevnetProtocol::V10.serves("GetTopicEpochs"));
        assert!(!DevnetProtocol::V9.serves("GetEpoch"));
        assert!(DevnetProtocol::V9.serves("GetUnfulfilledWorkerNonces"));
        assert!(!DevnetProtocol::V9.serves("GetLatestNetworkInferences"));
        assert!(DevnetProtocol::V10.serves("GetLatestNetworkInferences"));
        assert!(!DevnetProtocol::V10.serves("NoSuchMethod"));
        assert_eq!(
            "v11-wall-clock"
                .parse::<DevnetProtocol>()
                .unwrap()
                .to_string(),
            "v11-wall-clock"
        );
        assert!("v9-wall-clock".parse::<DevnetProtocol>().is_err());
        assert!("ten".parse::<DevnetProtocol>().is_err());
    }
}
