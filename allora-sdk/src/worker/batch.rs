//! Batching: which ready payloads share a transaction, and when they go.
//!
//! One transaction carries up to `max_messages_per_tx` payloads (one
//! sequence number and one fee for many topics). Ready payloads go out when
//! no provider call is still running (nothing else is about to be ready),
//! when a full transaction's worth is ready, or when the oldest has waited
//! the linger time. A payload marked solo (its batch failed without the
//! chain naming the culprit) goes in a transaction of its own.

use std::time::Duration;

use tokio::time::Instant;

use super::book::WindowId;

/// When ready payloads go out and how many share a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Batching {
    /// Most payloads per transaction (at least 1).
    pub(super) max_messages: usize,
    /// Longest a ready payload waits for others.
    pub(super) linger: Duration,
}

impl Batching {
    /// Whether to send now: `ready` payloads wait, `providing` provider
    /// calls run; `force` when the linger time is up or the worker stops.
    pub(super) fn due(&self, ready: usize, providing: usize, force: bool) -> bool {
        ready > 0 && (force || providing == 0 || ready >= self.max_messages)
    }

    /// When the linger time of payloads ready since `since` is up.
    pub(super) fn linger_until(&self, since: Option<Instant>) -> Option<Instant> {
        since.map(|t| t + self.linger)
    }

    /// Splits the ready windows (oldest first, with their solo flags) into
    /// transactions: each solo window alone, the rest in order, at most
    /// `max_messages` each.
    pub(super) fn plan(&self, ready: Vec<(WindowId, bool)>) -> Vec<Vec<WindowId>> {
        let max = self.max_messages.max(1);
        let (solo, batchable): (Vec<_>, Vec<_>) = ready.into_iter().partition(|(_, s)| *s);
        let mut batches: Vec<Vec<WindowId>> = solo.into_iter().map(|(id, _)| vec![id]).collect();
        let batchable: Vec<WindowId> = batchable.into_iter().map(|(id, _)| id).collect();
        batches.extend(batchable.chunks(max).map(<[WindowId]>::to_vec));
        batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batching(max: usize) -> Batching {
        Batching {
            max_messages: max,
            linger: Duration::from_millis(100),
        }
    }

    #[test]
    fn payloads_go_when_nothing_else_is_coming_or_a_transaction_is_full() {
        let b = batching(3);
        assert!(!b.due(0, 0, true), "nothing ready");
        assert!(b.due(1, 0, false), "no provider still running");
        assert!(!b.due(2, 5, false), "more are coming");
        assert!(b.due(3, 5, false), "a full transaction");
        assert!(b.due(1, 5, true), "linger time up");
        let now = Instant::now();
        assert_eq!(
            b.linger_until(Some(now)),
            Some(now + Duration::from_millis(100))
        );
        assert_eq!(b.linger_until(None), None);
    }

    #[test]
    fn solo_payloads_go_alone_and_the_rest_in_full_transactions() {
        let ready = vec![
            ((1, 10), false),
            ((2, 10), true),
            ((3, 10), false),
            ((4, 10), false),
            ((5, 10), false),
        ];
        assert_eq!(
            batching(2).plan(ready),
            vec![
                vec![(2, 10)],
                vec![(1, 10), (3, 10)],
                vec![(4, 10), (5, 10)],
            ]
        );
        assert!(batching(2).plan(Vec::new()).is_empty());
        assert_eq!(batching(0).plan(vec![((1, 1), false)]), vec![vec![(1, 1)]]);
    }
}
