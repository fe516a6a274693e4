//! The record writer: every write of the submission record goes through
//! one task off the async runtime, so the event loop never waits for a disk.
//!
//! Writes queue in a channel; the writer takes everything queued at once
//! and appends it with one flush, so concurrent writes (a batch's final
//! states, several transactions' pending marks) cost one fsync together,
//! not one each. Writes are applied in the order they were sent, and
//! nobody waits for them: a failure is logged (the chain refuses a second
//! payload for a window, so a lost record cannot cause a duplicate).

use tokio::sync::mpsc;

use super::store::{SubmissionStore, WindowState};

/// One window's new state.
pub(super) type Entry = (u64, i64, WindowState);

/// Sends writes to the writer task. Cloning shares the task.
#[derive(Debug, Clone)]
pub(super) struct RecordWriter {
    tx: mpsc::UnboundedSender<Vec<Entry>>,
    store: SubmissionStore,
}

/// The running writer task; [`WriterTask::finish`] waits until every write
/// sent before is on disk.
#[derive(Debug)]
pub(super) struct WriterTask {
    join: tokio::task::JoinHandle<()>,
}

impl RecordWriter {
    /// Starts the writer task for `store` (on the blocking pool).
    pub(super) fn start(store: SubmissionStore) -> (RecordWriter, WriterTask) {
        let (tx, rx) = mpsc::unbounded_channel();
        let writing = store.clone();
        let join = tokio::task::spawn_blocking(move || run(writing, rx));
        (RecordWriter { tx, store }, WriterTask { join })
    }

    /// The record (for reads, which never wait for a write).
    pub(super) fn store(&self) -> &SubmissionStore {
        &self.store
    }

    /// Queues states to write; does not wait.
    pub(super) fn record(&self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        if self.tx.send(entries).is_err() {
            tracing::error!("the record writer has stopped; submission record not updated");
        }
    }
}

impl WriterTask {
    /// Waits for the writer to drain its queue and stop. Every
    /// [`RecordWriter`] must have been dropped, or this waits for them.
    pub(super) async fn finish(self) {
        if let Err(error) = self.join.await {
            tracing::error!(%error, "the record writer ended abnormally");
        }
    }
}

fn run(store: SubmissionStore, mut rx: mpsc::UnboundedReceiver<Vec<Entry>>) {
    while let Some(mut entries) = rx.blocking_recv() {
        while let Ok(more) = rx.try_recv() {
            entries.extend(more);
        }
        let count = entries.len();
        if let Err(error) = store.record_many(entries) {
            tracing::error!(%error, windows = count, "could not write the submission record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(topic: u64) -> Entry {
        (topic, 5, WindowState::Pending { tx: None })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_flushes_and_all_land_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SubmissionStore::open(dir.path()).unwrap();
        let (writer, task) = RecordWriter::start(store.clone());
        // A hundred writes queued back to back, as the event loop queues the
        // final states of a batch; then the last state of topic 1 changes.
        for topic in 0..100 {
            writer.record(vec![pending(topic)]);
        }
        writer.record(vec![(
            1,
            5,
            WindowState::Confirmed {
                tx: Some("AA".into()),
                height: Some(6),
            },
        )]);
        // Writes from other tasks.
        let others: Vec<_> = (100..110)
            .map(|topic| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.record(vec![pending(topic)]) })
            })
            .collect();
        for task in others {
            task.await.unwrap();
        }
        drop(writer);
        task.finish().await;
        assert!(
            store.sync_count() < 50,
            "{} flushes for 111 writes",
            store.sync_count()
        );
        drop(store);
        let store = SubmissionStore::open(dir.path()).unwrap();
        assert_eq!(store.pending().len(), 109);
        assert!(store.is_final(1, 5), "the later write wins");
    }
}
