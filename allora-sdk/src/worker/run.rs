//! Running a worker until a signal: start, follow every result (logged and
//! counted), then stop gracefully.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use futures_util::StreamExt;

use super::{Outcome, Submission, Worker, WorkerError};

/// What a run did, window by window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Windows whose payload this run got included.
    pub included: u64,
    /// Windows whose transaction was included but whose inference the chain
    /// did not admit (top-N admission).
    pub not_admitted: u64,
    /// Windows the chain already had this worker's payload for.
    pub already_submitted: u64,
    /// Windows that failed, by kind ([`WorkerError::kind`]).
    pub failed: BTreeMap<&'static str, u64>,
}

impl RunSummary {
    /// How many windows failed.
    pub fn failures(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Counts one result.
    pub fn record(&mut self, result: &Result<Submission, WorkerError>) {
        match result {
            Ok(s) => match s.outcome {
                Outcome::Included => self.included += 1,
                Outcome::NotAdmitted => self.not_admitted += 1,
                Outcome::AlreadySubmitted => self.already_submitted += 1,
            },
            Err(e) => *self.failed.entry(e.kind()).or_default() += 1,
        }
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} included, ", self.included)?;
        if self.not_admitted > 0 {
            write!(f, "{} not admitted, ", self.not_admitted)?;
        }
        write!(
            f,
            "{} already submitted, {} failed",
            self.already_submitted,
            self.failures()
        )?;
        if !self.failed.is_empty() {
            let kinds: Vec<String> = self
                .failed
                .iter()
                .map(|(kind, n)| format!("{kind}: {n}"))
                .collect();
            write!(f, " ({})", kinds.join(", "))?;
        }
        Ok(())
    }
}

impl Worker {
    /// Starts the worker and runs it until `signal` completes (for instance
    /// `tokio::signal::ctrl_c()`), then stops it gracefully: in-flight
    /// submissions finish within the grace period and every record write is
    /// on disk before this returns. Each result is logged with `tracing`
    /// (inclusions at `info`, failures at `warn` with their kind) and
    /// counted in the returned summary. Fails only at start-up (chain id,
    /// registration, the submission record...); a failing window is a
    /// result, not an error. Ends early if the worker stops by itself.
    pub async fn run_until<S: Future>(self, signal: S) -> Result<RunSummary, WorkerError> {
        self.run_until_with(signal, || {}).await
    }

    /// [`run_until`](Self::run_until), calling `started` once the worker has
    /// started (chain checked, registered, record open) and before any
    /// result, e.g. to tell the user it is serving.
    pub async fn run_until_with<S: Future>(
        self,
        signal: S,
        started: impl FnOnce(),
    ) -> Result<RunSummary, WorkerError> {
        let (handle, mut results) = self.start().await?;
        started();
        let mut summary = RunSummary::default();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                _ = &mut signal => break,
                next = results.next() => match next {
                    Some(result) => note(&mut summary, &result),
                    None => break,
                },
            }
        }
        tracing::info!("stopping the worker");
        handle.shutdown().await;
        // What finished while stopping.
        while let Some(result) = results.next().await {
            note(&mut summary, &result);
        }
        tracing::info!(%summary, "worker stopped");
        Ok(summary)
    }
}

/// A future that completes on SIGINT or SIGTERM (on other systems, Ctrl-C),
/// for [`Worker::run_until`]. The handlers are installed when this is
/// called, so a signal that arrives before the future is first polled (say,
/// while the worker starts) is not lost. Must be called inside a tokio
/// runtime. A handler that cannot be installed is logged and left out.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let installed = {
        use tokio::signal::unix::{signal, SignalKind};
        [
            ("SIGTERM", signal(SignalKind::terminate())),
            ("SIGINT", signal(SignalKind::interrupt())),
        ]
        .into_iter()
        .filter_map(|(name, result)| match result {
            Ok(stream) => Some((name, stream)),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for {name}");
                None
            }
        })
        .collect::<Vec<_>>()
    };
    async move {
        #[cfg(unix)]
        {
            let waits = installed.into_iter().map(|(name, mut stream)| {
                Box::pin(async move {
                    stream.recv().await;
                    name
                })
            });
            let waits: Vec<_> = waits.collect();
            if waits.is_empty() {
                std::future::pending::<()>().await;
            }
            let (name, _, _) = futures_util::future::select_all(waits).await;
            tracing::info!("{name} received");
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C received");
        }
    }
}

fn note(summary: &mut RunSummary, result: &Result<Submission, WorkerError>) {
    match result {
        // The engine logs each inclusion as it happens.
        Ok(s) if s.outcome == Outcome::Included => {}
        Ok(s) if s.outcome == Outcome::NotAdmitted => tracing::info!(
            topic_id = s.topic_id,
            nonce = s.nonce,
            txhash = s.txhash.as_deref().unwrap_or("-"),
            "included, but the chain did not admit the inference (the topic's inferer set for the nonce is full)"
        ),
        Ok(s) => tracing::info!(
            topic_id = s.topic_id,
            nonce = s.nonce,
            "the chain already had this worker's payload"
        ),
        Err(error) => tracing::warn!(kind = error.kind(), %error, "window not served"),
    }
    summary.record(result);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::Latency;

    fn served(outcome: Outcome) -> Result<Submission, WorkerError> {
        Ok(Submission {
            topic_id: 1,
            nonce: 10,
            outcome,
            txhash: None,
            height: None,
            fee: None,
            batch_size: 1,
            latency: Latency::default(),
        })
    }

    #[test]
    fn results_are_counted_by_outcome_and_kind() {
        let mut s = RunSummary::default();
        s.record(&served(Outcome::Included));
        s.record(&served(Outcome::Included));
        s.record(&served(Outcome::AlreadySubmitted));
        s.record(&served(Outcome::NotAdmitted));
        s.record(&Err(WorkerError::NotSent {
            topic_id: 1,
            nonce: 20,
        }));
        s.record(&Err(WorkerError::WindowMissed {
            topic_id: 1,
            nonce: 30,
            reason: "late".into(),
        }));
        assert_eq!(
            (
                s.included,
                s.not_admitted,
                s.already_submitted,
                s.failures()
            ),
            (2, 1, 1, 2)
        );
        assert_eq!(
            s.to_string(),
            "2 included, 1 not admitted, 1 already submitted, 2 failed (not_sent: 1, window_missed: 1)"
        );
        assert_eq!(
            RunSummary::default().to_string(),
            "0 included, 0 already submitted, 0 failed"
        );
    }
}
