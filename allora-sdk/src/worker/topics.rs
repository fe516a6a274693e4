//! The topics a worker serves: where their values come from and how long
//! their windows are.

use std::collections::HashMap;
use std::sync::Arc;

use super::clock::WindowEnd;
use super::TopicSpec;

#[derive(Debug)]
struct Topic {
    spec: Arc<TopicSpec>,
    /// The topic's `worker_submission_window`, in blocks, when read.
    window_len: Option<i64>,
    /// The chain refused the topic's last payload that got an answer.
    refused: bool,
}

/// Every served topic by id.
#[derive(Debug)]
pub(super) struct Topics {
    topics: HashMap<u64, Topic>,
}

impl Topics {
    pub(super) fn new(specs: &[TopicSpec]) -> Self {
        Topics {
            topics: specs
                .iter()
                .map(|spec| {
                    (
                        spec.topic_id,
                        Topic {
                            spec: Arc::new(spec.clone()),
                            window_len: None,
                            refused: false,
                        },
                    )
                })
                .collect(),
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

    /// Notes a topic's window length (in blocks, at least 1).
    pub(super) fn set_window_len(&mut self, topic_id: u64, len: i64) {
        if let Some(topic) = self.topics.get_mut(&topic_id) {
            topic.window_len = Some(len.max(1));
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

    fn topics() -> Topics {
        let provider = Arc::new(FnProvider::new(|_: &InferenceRequest| 1.0));
        Topics::new(&[
            TopicSpec::inference(1, provider.clone()),
            TopicSpec::inference(2, provider),
        ])
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
}
