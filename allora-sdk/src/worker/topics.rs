//! The topics a worker serves: where their values come from, the chain's
//! settings for them (window and epoch lengths, label rules), and whether
//! the chain lets this worker serve them.
//!
//! A topic the chain refuses for something outside the worker's payload
//! (not registered, not whitelisted, gone, the account unable to pay, or a
//! payload defect that would recur: its labels, its bundle) is
//! **suspended**: no provider call and no fee for its windows, its state
//! reported once (results stream, observer, the data directory's
//! [`TOPIC_STATES_FILE`](super::store::TOPIC_STATES_FILE) read by
//! `status`), and a re-check every few epochs that resumes it, without a
//! restart, once the chain accepts it again.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::check::TopicInfo;
use super::clock::WindowEnd;
use super::TopicSpec;
use crate::client::TxErrorKind;
use crate::labels::LabelRules;

/// Epoch length assumed (in blocks) for re-check intervals while no served
/// topic's is known.
const FALLBACK_EPOCH_BLOCKS: i64 = 60;

/// Why a topic is suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SuspendReason {
    /// The worker is not registered in the topic (emissions 13).
    NotRegistered,
    /// Registering the worker in the topic failed (auto-registration).
    RegistrationFailed,
    /// The topic's (or the global) worker whitelist refuses the worker
    /// (emissions 83; `CanSubmitWorkerPayload` false).
    NotPermitted,
    /// The topic does not exist (emissions 6).
    TopicMissing,
    /// The chain refused the provider's labels for the topic's label rules
    /// (emissions 95, 97, 98; sdk 18 on a single-value topic).
    Labels,
    /// The chain refused the payload's bundle (sdk 18, 29, 7, 4 in its
    /// bundle checks): a defect of its making or signing.
    InvalidBundle,
    /// The chain refused the transaction's signature (sdk 4, 8).
    Unauthorized,
    /// The account could not pay the fee or the data fee (sdk 5).
    InsufficientFunds,
}

impl SuspendReason {
    /// A short stable name, for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            SuspendReason::NotRegistered => "not_registered",
            SuspendReason::RegistrationFailed => "registration_failed",
            SuspendReason::NotPermitted => "not_permitted",
            SuspendReason::TopicMissing => "topic_missing",
            SuspendReason::Labels => "labels",
            SuspendReason::InvalidBundle => "invalid_bundle",
            SuspendReason::Unauthorized => "unauthorized",
            SuspendReason::InsufficientFunds => "insufficient_funds",
        }
    }

    /// The reason a chain refusal of this kind suspends its topic for, if
    /// it does (the kinds whose remedy is final for the topic).
    pub fn from_kind(kind: TxErrorKind) -> Option<Self> {
        Some(match kind {
            TxErrorKind::NotRegistered => SuspendReason::NotRegistered,
            TxErrorKind::NotPermitted => SuspendReason::NotPermitted,
            TxErrorKind::TopicUnavailable => SuspendReason::TopicMissing,
            TxErrorKind::Label(_) => SuspendReason::Labels,
            TxErrorKind::InvalidBundle => SuspendReason::InvalidBundle,
            TxErrorKind::Unauthorized => SuspendReason::Unauthorized,
            TxErrorKind::InsufficientFunds => SuspendReason::InsufficientFunds,
            _ => return None,
        })
    }
}

impl fmt::Display for SuspendReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why and since when a topic is suspended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    /// Why.
    pub reason: SuspendReason,
    /// What the chain said (or the query found), and what to do.
    pub detail: String,
    /// The block height when it was suspended, when known.
    pub since_height: Option<i64>,
    /// The height at or after which it is checked again, when known.
    pub next_check_height: Option<i64>,
}

impl fmt::Display for Suspension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "suspended ({}): {}", self.reason, self.detail)?;
        if let Some(height) = self.next_check_height {
            write!(f, "; checked again at height {height}")?;
        }
        Ok(())
    }
}

/// Whether the worker serves a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TopicState {
    /// Its windows are served.
    Serving,
    /// Its windows are skipped (no provider call, no fee) until a re-check
    /// finds the chain accepting it again.
    Suspended(Suspension),
}

impl TopicState {
    /// `serving`, or the suspension's reason: a metrics label.
    pub fn as_str(&self) -> &'static str {
        match self {
            TopicState::Serving => "serving",
            TopicState::Suspended(s) => s.reason.as_str(),
        }
    }
}

impl fmt::Display for TopicState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicState::Serving => f.write_str("serving"),
            TopicState::Suspended(s) => s.fmt(f),
        }
    }
}

#[derive(Debug)]
struct Topic {
    spec: Arc<TopicSpec>,
    /// The topic's `worker_submission_window`, in blocks, when read.
    window_len: Option<i64>,
    /// The topic's `epoch_length`, in blocks, when read.
    epoch_len: Option<i64>,
    /// The topic's label rules, when read.
    rules: Option<Arc<LabelRules>>,
    /// The chain refused the topic's last payload that got an answer.
    refused: bool,
    state: TopicState,
    /// When the topic is checked next (a block height).
    check_at: Option<i64>,
    /// A check of it is running.
    checking: bool,
}

/// Every served topic by id.
#[derive(Debug)]
pub(super) struct Topics {
    topics: HashMap<u64, Topic>,
    /// Epochs between checks of a topic.
    check_every_epochs: i64,
}

impl Topics {
    pub(super) fn new(specs: &[TopicSpec], check_every_epochs: u32) -> Self {
        Topics {
            topics: specs
                .iter()
                .map(|spec| {
                    (
                        spec.topic_id,
                        Topic {
                            spec: Arc::new(spec.clone()),
                            window_len: None,
                            epoch_len: None,
                            rules: None,
                            refused: false,
                            state: TopicState::Serving,
                            check_at: None,
                            checking: false,
                        },
                    )
                })
                .collect(),
            check_every_epochs: i64::from(check_every_epochs.max(1)),
        }
    }

    /// The served topic ids.
    pub(super) fn ids(&self) -> Vec<u64> {
        self.topics.keys().copied().collect()
    }

    /// A served topic's spec.
    pub(super) fn spec(&self, topic_id: u64) -> Option<Arc<TopicSpec>> {
        self.topics.get(&topic_id).map(|t| Arc::clone(&t.spec))
    }

    /// A topic's label rules, when read.
    pub(super) fn rules(&self, topic_id: u64) -> Option<Arc<LabelRules>> {
        self.topics.get(&topic_id)?.rules.clone()
    }

    /// Notes a topic's window length (in blocks, at least 1).
    pub(super) fn set_window_len(&mut self, topic_id: u64, len: i64) {
        if let Some(topic) = self.topics.get_mut(&topic_id) {
            topic.window_len = Some(len.max(1));
        }
    }

    /// Notes what `GetTopic` said of a topic.
    pub(super) fn set_info(&mut self, topic_id: u64, info: TopicInfo) {
        if let Some(topic) = self.topics.get_mut(&topic_id) {
            topic.window_len = Some(info.window_len.max(1));
            topic.epoch_len = Some(info.epoch_len).filter(|len| *len > 0);
            topic.rules = info.rules.map(Arc::new);
        }
    }

    /// Notes the chain's answer to one of the topic's payloads: accepted, or
    /// refused (rejected, already there, window closed).
    pub(super) fn note_answer(&mut self, topic_id: u64, accepted: bool) {
        if let Some(topic) = self.topics.get_mut(&topic_id) {
            topic.refused = !accepted;
        }
    }

    /// Whether the chain refused the topic's last answered payload.
    pub(super) fn refused_lately(&self, topic_id: u64) -> bool {
        self.topics.get(&topic_id).is_some_and(|t| t.refused)
    }

    /// A topic's state.
    pub(super) fn state(&self, topic_id: u64) -> Option<&TopicState> {
        self.topics.get(&topic_id).map(|t| &t.state)
    }

    /// Whether a topic is suspended.
    pub(super) fn is_suspended(&self, topic_id: u64) -> bool {
        matches!(self.state(topic_id), Some(TopicState::Suspended(_)))
    }

    /// Every topic's state.
    pub(super) fn states(&self) -> Vec<(u64, TopicState)> {
        let mut states: Vec<(u64, TopicState)> = self
            .topics
            .iter()
            .map(|(id, t)| (*id, t.state.clone()))
            .collect();
        states.sort_by_key(|(id, _)| *id);
        states
    }

    /// Blocks between two checks of a topic: a few of its epochs (of the
    /// shortest known epoch when its own is not known).
    fn check_interval(&self, topic_id: u64) -> i64 {
        let epoch = self
            .topics
            .get(&topic_id)
            .and_then(|t| t.epoch_len)
            .or_else(|| self.topics.values().filter_map(|t| t.epoch_len).min())
            .unwrap_or(FALLBACK_EPOCH_BLOCKS);
        epoch.max(1).saturating_mul(self.check_every_epochs)
    }

    /// Suspends a topic at `height` (when known). Returns whether that
    /// changed anything (it was serving, or suspended for another reason):
    /// a repeated suspension is not reported again.
    pub(super) fn suspend(
        &mut self,
        topic_id: u64,
        reason: SuspendReason,
        detail: String,
        height: Option<i64>,
    ) -> bool {
        let interval = self.check_interval(topic_id);
        let Some(topic) = self.topics.get_mut(&topic_id) else {
            return false;
        };
        let changed = match &topic.state {
            TopicState::Suspended(s) => s.reason != reason,
            TopicState::Serving => true,
        };
        let next_check_height = height.map(|h| h.saturating_add(interval));
        topic.check_at = next_check_height.or(topic.check_at);
        topic.state = TopicState::Suspended(Suspension {
            reason,
            detail,
            since_height: match (&topic.state, changed) {
                (TopicState::Suspended(s), false) => s.since_height,
                _ => height,
            },
            next_check_height,
        });
        changed
    }

    /// Serves a topic again. Returns whether it was suspended.
    pub(super) fn resume(&mut self, topic_id: u64) -> bool {
        let Some(topic) = self.topics.get_mut(&topic_id) else {
            return false;
        };
        let was = matches!(topic.state, TopicState::Suspended(_));
        topic.state = TopicState::Serving;
        topic.refused = false;
        was
    }

    /// Schedules a topic's next check a few epochs after `height`.
    pub(super) fn schedule(&mut self, topic_id: u64, height: i64) {
        let interval = self.check_interval(topic_id);
        if let Some(topic) = self.topics.get_mut(&topic_id) {
            topic.check_at = Some(height.saturating_add(interval));
            topic.checking = false;
            if let TopicState::Suspended(s) = &mut topic.state {
                s.next_check_height = topic.check_at;
            }
        }
    }

    /// After an emissions upgrade: the label rules read under the previous
    /// version are dropped (the chain checks labels meanwhile) and every
    /// topic is due for a check at the next block, which reads them again.
    pub(super) fn settings_stale(&mut self) {
        for topic in self.topics.values_mut() {
            topic.rules = None;
            if !topic.checking {
                topic.check_at = Some(i64::MIN);
            }
        }
    }

    /// The topics due for a check at `height` (each with whether it is
    /// suspended, and for what), marked as being checked. Topics never
    /// scheduled are scheduled from `height` on.
    pub(super) fn due(&mut self, height: i64) -> Vec<(u64, Option<SuspendReason>)> {
        let unscheduled: Vec<u64> = self
            .topics
            .iter()
            .filter(|(_, t)| t.check_at.is_none() && !t.checking)
            .map(|(id, _)| *id)
            .collect();
        for id in unscheduled {
            self.schedule(id, height);
        }
        self.topics
            .iter_mut()
            .filter(|(_, t)| !t.checking && t.check_at.is_some_and(|at| at <= height))
            .map(|(id, t)| {
                t.checking = true;
                let reason = match &t.state {
                    TopicState::Suspended(s) => Some(s.reason),
                    TopicState::Serving => None,
                };
                (*id, reason)
            })
            .collect()
    }

    /// The end of the topic's window opened at `nonce`: as the chain
    /// announced it, else from the topic's window length; `None` when
    /// neither is known.
    pub(super) fn window_end(
        &self,
        topic_id: u64,
        nonce: i64,
        announced: Option<i64>,
    ) -> Option<WindowEnd> {
        match announced {
            Some(end) => Some(WindowEnd::Height(end)),
            None => self
                .topics
                .get(&topic_id)?
                .window_len
                .map(|len| WindowEnd::Height(nonce + len)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use allora_infer::{FnProvider, InferenceRequest};

    use super::*;
    use crate::labels::OutputArity;

    fn topics() -> Topics {
        let provider = Arc::new(FnProvider::new(|_: &InferenceRequest| 1.0));
        Topics::new(
            &[
                TopicSpec::inference(1, provider.clone()),
                TopicSpec::inference(2, provider),
            ],
            3,
        )
    }

    fn info(epoch_len: i64) -> TopicInfo {
        TopicInfo {
            rules: Some(LabelRules {
                arity: OutputArity::Multi,
                ..LabelRules::default()
            }),
            window_len: 5,
            epoch_len,
        }
    }

    #[test]
    fn window_ends_come_from_the_event_or_the_window_length() {
        let mut t = topics();
        assert_eq!(
            t.window_end(1, 100, Some(105)),
            Some(WindowEnd::Height(105))
        );
        assert_eq!(t.window_end(1, 100, None), None, "length unknown");
        t.set_window_len(1, 7);
        assert_eq!(t.window_end(1, 100, None), Some(WindowEnd::Height(107)));
        t.set_window_len(2, 0);
        assert_eq!(t.window_end(2, 100, None), Some(WindowEnd::Height(101)));
        assert_eq!(t.window_end(9, 100, None), None, "not served");
        let mut ids = t.ids();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2]);
        assert!(t.spec(2).is_some() && t.spec(3).is_none());
    }

    #[test]
    fn the_last_answer_of_the_chain_is_remembered() {
        let mut t = topics();
        assert!(!t.refused_lately(1));
        t.note_answer(1, false);
        assert!(t.refused_lately(1) && !t.refused_lately(2));
        t.note_answer(1, true);
        assert!(!t.refused_lately(1));
    }

    #[test]
    fn settings_come_from_the_topic() {
        let mut t = topics();
        assert!(t.rules(1).is_none());
        t.set_info(1, info(10));
        assert_eq!(t.rules(1).unwrap().arity, OutputArity::Multi);
        assert_eq!(t.window_end(1, 100, None), Some(WindowEnd::Height(105)));
    }

    #[test]
    fn a_suspension_is_reported_once_and_checked_every_few_epochs() {
        let mut t = topics();
        t.set_info(1, info(10));
        assert!(t.suspend(2, SuspendReason::NotRegistered, "x".into(), Some(100)));
        assert!(t.is_suspended(2) && !t.is_suspended(1));
        // The same reason again changes nothing worth a report.
        assert!(!t.suspend(2, SuspendReason::NotRegistered, "y".into(), Some(110)));
        // Another reason does.
        assert!(t.suspend(2, SuspendReason::NotPermitted, "z".into(), Some(120)));
        match t.state(2) {
            Some(TopicState::Suspended(s)) => {
                assert_eq!(s.since_height, Some(120));
                // Topic 2's epoch is unknown: the shortest known one, 10
                // blocks, times three.
                assert_eq!(s.next_check_height, Some(150));
                assert_eq!(s.reason.as_str(), "not_permitted");
            }
            other => panic!("{other:?}"),
        }
        // Topic 1 was never scheduled: from now on.
        assert_eq!(t.due(149), Vec::new());
        assert_eq!(t.due(150), vec![(2, Some(SuspendReason::NotPermitted))]);
        assert_eq!(t.due(151), Vec::new(), "a check is running");
        let mut due = t.due(179);
        due.sort_unstable_by_key(|(id, _)| *id);
        assert_eq!(due, vec![(1, None)]);
        assert!(t.resume(2) && !t.resume(2));
        t.schedule(2, 151);
        assert!(t.due(180).is_empty());
        assert_eq!(t.due(181), vec![(2, None)]);
        let states = t.states();
        assert_eq!(states.len(), 2);
        assert!(states.iter().all(|(_, s)| *s == TopicState::Serving));
    }

    #[test]
    fn chain_refusals_that_suspend_a_topic() {
        use crate::labels::LabelErrorKind;
        assert_eq!(
            SuspendReason::from_kind(TxErrorKind::NotPermitted),
            Some(SuspendReason::NotPermitted)
        );
        assert_eq!(
            SuspendReason::from_kind(TxErrorKind::Label(LabelErrorKind::TooManyLabels)),
            Some(SuspendReason::Labels)
        );
        assert_eq!(SuspendReason::from_kind(TxErrorKind::NonceNotOpen), None);
        let json = serde_json::to_string(&TopicState::Suspended(Suspension {
            reason: SuspendReason::NotRegistered,
            detail: "d".into(),
            since_height: Some(3),
            next_check_height: None,
        }))
        .unwrap();
        assert_eq!(
            json,
            r#"{"state":"suspended","reason":"not_registered","detail":"d","since_height":3,"next_check_height":null}"#
        );
        assert_eq!(
            serde_json::from_str::<TopicState>(&json).unwrap().as_str(),
            "not_registered"
        );
    }
}
