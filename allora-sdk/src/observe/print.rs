//! One line per served window on standard output, and an optional stop
//! after a number of them: what a command-line worker shows its user.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use crate::keys::Address;
use crate::worker::{Outcome, Submission, TopicState, WorkerObserver};

/// `topic=1 nonce=10 tx=9048…28F4 height=11 latency=1.05s outcome=included
/// batch=3`: the window, its transaction and block, the time from the
/// window's discovery to inclusion, how it ended, and how many payloads
/// shared the transaction.
impl fmt::Display for Submission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            Outcome::Included => "included",
            Outcome::NotAdmitted => "not-admitted",
            Outcome::AlreadySubmitted => "already-submitted",
        };
        let latency = self
            .latency
            .window_to_broadcast
            .unwrap_or_default()
            .saturating_add(self.latency.broadcast_to_included.unwrap_or_default());
        write!(
            f,
            "topic={} nonce={} tx={} height={} latency={:.2}s outcome={outcome} batch={}",
            self.topic_id,
            self.nonce,
            self.txhash.as_deref().unwrap_or("-"),
            self.height
                .map_or_else(|| "-".to_owned(), |h| h.to_string()),
            latency.as_secs_f64(),
            self.batch_size,
        )
    }
}

/// Prints `submission <topic=... nonce=...>` on standard output for every
/// window served and `topic=ID suspended reason=REASON: DETAIL` for every
/// topic suspended (at start, or when the chain refuses it), and cancels a token once a given number were served (for
/// `--exit-after N`).
#[derive(Debug, Default)]
pub struct SubmissionPrinter {
    served: AtomicU64,
    stop_after: Option<(u64, CancellationToken)>,
}

impl SubmissionPrinter {
    /// A printer that never stops anything.
    pub fn new() -> Self {
        SubmissionPrinter::default()
    }

    /// Cancels `token` once `count` windows were served (`None`: never).
    pub fn stop_after(mut self, count: Option<u64>, token: CancellationToken) -> Self {
        self.stop_after = count.map(|n| (n, token));
        self
    }

    /// Prints `worker <address> serving topic(s) 1, 2, 3; one line per
    /// submission (Ctrl-C to stop)`, naming the first ten topics and how
    /// many more (for once the worker has started).
    pub fn announce(address: &Address, topics: &[u64]) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "worker {address} serving topic(s) {}; one line per submission (Ctrl-C to stop)",
            topic_list(topics)
        )
        .and_then(|()| out.flush());
    }

    /// Windows served so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

impl WorkerObserver for SubmissionPrinter {
    fn topic_state(&self, topic_id: u64, state: &TopicState) {
        if let TopicState::Suspended(suspension) = state {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "topic={topic_id} suspended reason={}: {}",
                suspension.reason, suspension.detail
            )
            .and_then(|()| out.flush());
        }
    }

    fn submission(&self, submission: &Submission) {
        let mut out = std::io::stdout().lock();
        // A closed stdout (piped into `head`) must not stop the worker.
        let _ = writeln!(out, "submission {submission}").and_then(|()| out.flush());
        let served = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some((count, token)) = &self.stop_after {
            if served >= *count && !token.is_cancelled() {
                tracing::info!(
                    served,
                    "the requested number of submissions is reached; stopping"
                );
                token.cancel();
            }
        }
    }
}

fn topic_list(ids: &[u64]) -> String {
    const SHOWN: usize = 10;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::worker::Latency;

    fn served(n: i64) -> Submission {
        Submission {
            topic_id: 1,
            nonce: n,
            outcome: Outcome::Included,
            txhash: Some("AB12".into()),
            height: Some(n + 1),
            fee: None,
            batch_size: 3,
            latency: Latency {
                inference: Duration::ZERO,
                window_to_broadcast: Some(Duration::from_millis(800)),
                broadcast_to_included: Some(Duration::from_millis(250)),
            },
        }
    }

    #[test]
    fn lines_name_the_window_and_the_stop_comes_after_the_count() {
        assert_eq!(
            served(10).to_string(),
            "topic=1 nonce=10 tx=AB12 height=11 latency=1.05s outcome=included batch=3"
        );
        let token = CancellationToken::new();
        let printer = SubmissionPrinter::new().stop_after(Some(2), token.clone());
        printer.submission(&served(10));
        assert!(!token.is_cancelled());
        printer.submission(&served(20));
        assert!(token.is_cancelled());
        assert_eq!(printer.served(), 2);
    }

    #[test]
    fn long_topic_lists_are_shortened() {
        assert_eq!(topic_list(&[1, 2]), "1, 2");
        let many: Vec<u64> = (1..=100).collect();
        assert!(topic_list(&many).ends_with("10 and 90 more"));
    }
}
