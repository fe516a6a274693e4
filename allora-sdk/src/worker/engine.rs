//! The worker's event loop: discovery in, provider calls and batched
//! submissions out, every window ending in exactly one recorded result.
//!
//! The loop only moves windows between phases in the [`WindowBook`] and
//! starts tasks; the work is elsewhere: deadlines in [`clock`](super::clock),
//! provider calls in [`provider`](super::provider), batching in
//! [`batch`](super::batch), what a chain answer means in
//! [`decision`](super::decision) and [`outcome`](super::outcome), discovery
//! in [`discovery`](super::discovery), record writes in the
//! [`writer`](super::writer) task. Nothing here blocks or waits for a disk.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::batch::Batching;
use super::book::{Phase, Window, WindowBook, WindowId};
use super::clock::{BlockClock, Deadlines, WindowClock};
use super::decision::{self, Decision, Missed, SubmitResult, WindowFacts};
use super::discovery::{self, Discovery, DiscoveryConfig};
use super::events::ChainEvent;
use super::outcome;
use super::provider::{self, Payload};
use super::store::{SubmissionStore, WindowState};
use super::topics::Topics;
use super::writer::{RecordWriter, WriterTask};
use super::{Submission, WorkerConfig, WorkerError, WorkerObserver};
use crate::pipeline::{GasMode, RemedyPolicy, TxPipeline};

/// Finished windows are pruned from the book at most this often (blocks).
const PRUNE_EVERY_BLOCKS: i64 = 16;

/// What a task brings back to the loop.
enum Done {
    /// A provider answered (or failed) for a window.
    Provided {
        id: WindowId,
        // Boxed: a payload is large next to the other variant.
        result: Box<Result<Payload, WorkerError>>,
    },
    /// A transaction carrying these windows, in order, was answered.
    Submitted {
        ids: Vec<WindowId>,
        result: SubmitResult,
    },
}

pub(super) struct Engine {
    config: WorkerConfig,
    pipeline: TxPipeline,
    remedies: RemedyPolicy,
    batching: Batching,
    topics: Topics,
    book: WindowBook,
    clock: Box<dyn WindowClock>,
    writer: RecordWriter,
    writer_task: WriterTask,
    observer: Arc<dyn WorkerObserver>,
    results: mpsc::Sender<Result<Submission, WorkerError>>,
    cancel: CancellationToken,
    tasks: JoinSet<Done>,
    dropped_results: u64,
    pruned_at: i64,
}

impl Engine {
    /// Must be called inside the runtime (it starts the record writer).
    pub(super) fn new(
        config: WorkerConfig,
        pipeline: TxPipeline,
        store: SubmissionStore,
        observer: Arc<dyn WorkerObserver>,
        results: mpsc::Sender<Result<Submission, WorkerError>>,
        cancel: CancellationToken,
    ) -> Self {
        let (writer, writer_task) = RecordWriter::start(store);
        Engine {
            topics: Topics::new(&config.topics),
            batching: Batching {
                max_messages: config.max_messages_per_tx,
                linger: config.batch_linger,
            },
            clock: Box::new(BlockClock::new(config.block_time, Instant::now())),
            remedies: pipeline.remedy_policy(),
            config,
            pipeline,
            book: WindowBook::new(),
            writer,
            writer_task,
            observer,
            results,
            cancel,
            tasks: JoinSet::new(),
            dropped_results: 0,
            pruned_at: 0,
        }
    }

    fn report(&mut self, result: Result<Submission, WorkerError>) {
        match &result {
            Ok(s) => self.observer.submission(s),
            Err(e) => self.observer.failure(e),
        }
        if self.results.try_send(result).is_err() {
            // Nobody is reading fast enough: the loop must not stall for it.
            self.dropped_results += 1;
            if self.dropped_results.is_power_of_two() {
                tracing::warn!(
                    dropped = self.dropped_results,
                    "results stream is full or closed; results dropped"
                );
            }
        }
    }

    fn on_event(&mut self, event: ChainEvent) {
        match event {
            ChainEvent::Block { height } => {
                if self.clock.observe_block(height, Instant::now()) {
                    self.observer.block(height);
                    if height >= self.pruned_at + PRUNE_EVERY_BLOCKS {
                        let clock = &self.clock;
                        self.book.prune(|end| clock.is_long_past(end));
                        self.pruned_at = height;
                    }
                }
            }
            ChainEvent::WindowOpened {
                topic_id,
                nonce,
                window_end,
            } => self.on_window(topic_id, nonce, window_end),
            ChainEvent::WindowClosed { .. } => {}
            ChainEvent::Connection(up) => self.observer.websocket(up),
        }
    }

    /// A window was announced (or found by polling).
    fn on_window(&mut self, topic_id: u64, nonce: i64, announced_end: Option<i64>) {
        let id = (topic_id, nonce);
        let Some(spec) = self.topics.spec(topic_id) else {
            return;
        };
        if self.book.contains(id) {
            return;
        }
        let Some(end) = self.topics.window_end(topic_id, nonce, announced_end) else {
            // Without the topic's window length the deadline is unknown.
            tracing::warn!(
                topic_id,
                nonce,
                "window length unknown; skipping this discovery"
            );
            return;
        };
        let now = Instant::now();
        let closed = |deadlines| Window {
            topic_id,
            nonce,
            end,
            discovered_at: now,
            deadlines,
        };
        let recorded = self.writer.store().get(topic_id, nonce);
        if recorded.as_ref().is_some_and(WindowState::is_final) {
            self.book.close(closed(Deadlines::expired(now)));
            return;
        }
        // A window pending in the record (sent by an earlier run) or of a
        // topic whose last payload was refused gets its transaction simulated.
        let routine = recorded.is_none() && !self.topics.refused_lately(topic_id);
        let deadlines = match self.clock.deadlines(end, now, self.config.provider_timeout) {
            Ok(deadlines) => deadlines,
            Err(late) => {
                self.book.close(closed(Deadlines::expired(now)));
                self.report(Err(WorkerError::WindowMissed {
                    topic_id,
                    nonce,
                    reason: late.reason,
                }));
                return;
            }
        };
        let window = closed(deadlines);
        let pipeline = self.pipeline.clone();
        let span = tracing::info_span!("window", topic_id, nonce, window_end = ?end);
        let handle = self.tasks.spawn(
            async move {
                let result = provider::provide(
                    pipeline.signer(),
                    &spec,
                    nonce,
                    deadlines.provide_by,
                    deadlines.send_by,
                )
                .await;
                Done::Provided {
                    id,
                    result: Box::new(result),
                }
            }
            .instrument(span),
        );
        self.book.open(window, handle.id(), routine);
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Provided { id, result } => match *result {
                Ok(payload) => {
                    self.observer.inference_latency(id.0, payload.inference);
                    self.book.provided(id, payload, Instant::now());
                }
                Err(error) => {
                    self.book.finish(id);
                    self.report(Err(error));
                }
            },
            Done::Submitted { ids, result } => self.on_submitted(ids, result),
        }
    }

    /// A transaction's answer: each of its windows decided, recorded (one
    /// write for the whole batch) and reported.
    fn on_submitted(&mut self, ids: Vec<WindowId>, result: SubmitResult) {
        let batch_len = ids.len();
        let now = Instant::now();
        let tier = self.pipeline.fee_tier();
        let mut records = Vec::new();
        let mut unnamed = false;
        for (index, id) in ids.into_iter().enumerate() {
            let Some(entry) = self.book.get(id) else {
                continue;
            };
            let Phase::Submitting { payload, .. } = &entry.phase else {
                continue;
            };
            let window = entry.window;
            let inference = payload.inference;
            let facts = WindowFacts {
                index,
                batch_len,
                time_left: window.deadlines.send_by.saturating_duration_since(now),
                retries: entry.retries,
                tier,
            };
            let decision = decision::decide(&result, facts, &self.remedies);
            let effects = outcome::effects(decision, &window, inference, Some(&result), batch_len);
            if let Some(state) = effects.record {
                records.push((id.0, id.1, state));
            }
            match decision {
                Decision::Included => self.topics.note_answer(id.0, true),
                Decision::AlreadySubmitted
                | Decision::Missed(Missed::ChainClosed)
                | Decision::Rejected
                | Decision::RejectedForTopic => self.topics.note_answer(id.0, false),
                _ => {}
            }
            match decision {
                Decision::Included => {
                    if let Ok(included) = &result {
                        tracing::info!(topic_id = id.0, nonce = id.1, txhash = %included.txhash, height = included.height, "payload included");
                    }
                    self.book.finish(id);
                }
                Decision::AlreadySubmitted
                | Decision::Missed(_)
                | Decision::Rejected
                | Decision::SignerFailed => self.book.finish(id),
                Decision::RejectedForTopic => {
                    tracing::warn!(
                        topic_id = id.0,
                        "the chain refuses the topic itself (registration, or the topic inactive); its windows fail until that changes"
                    );
                    self.book.finish(id);
                }
                Decision::Resend { solo } => {
                    unnamed |= solo;
                    self.book.requeue(id, solo, now);
                }
                Decision::Retry {
                    after: Some(after), ..
                } => {
                    self.book.wait(id, now + after);
                }
                Decision::Retry { after: None, .. } => self.book.forget(id),
            }
            if let Some(report) = effects.report {
                self.report(report);
            }
        }
        if unnamed {
            if let Err(error) = &result {
                tracing::warn!(%error, size = batch_len, "batch rejected without a message index; resending payloads one by one");
            }
        }
        self.writer.record(records);
    }

    /// Windows whose wait is over: sent again, or missed.
    fn on_wake(&mut self) {
        let now = Instant::now();
        for id in self.book.due(now) {
            let Some(entry) = self.book.get(id) else {
                continue;
            };
            let Phase::Waiting { payload, solo, .. } = &entry.phase else {
                continue;
            };
            let window = entry.window;
            let inference = payload.inference;
            let time_left = window.deadlines.send_by.saturating_duration_since(now);
            match decision::after_wait(time_left, *solo) {
                Decision::Resend { solo } => {
                    self.book.requeue(id, solo, now);
                }
                decision => {
                    let effects = outcome::effects(decision, &window, inference, None, 1);
                    if let Some(state) = effects.record {
                        self.writer.record(vec![(id.0, id.1, state)]);
                    }
                    self.book.finish(id);
                    if let Some(report) = effects.report {
                        self.report(report);
                    }
                }
            }
        }
    }

    /// Sends what is ready, batched, when nothing else is about to be ready
    /// or the linger time is up.
    fn flush(&mut self, force: bool) {
        if !self
            .batching
            .due(self.book.ready_len(), self.book.providing(), force)
        {
            return;
        }
        let ready = self.book.take_ready();
        for ids in self.batching.plan(ready) {
            self.spawn_submit(ids);
        }
    }

    fn spawn_submit(&mut self, ids: Vec<WindowId>) {
        let messages = self.book.messages(&ids);
        let windows: Vec<Window> = ids
            .iter()
            .filter_map(|id| self.book.get(*id).map(|e| e.window))
            .collect();
        let now = Instant::now();
        let send_by = windows
            .iter()
            .map(|w| w.deadlines.send_by)
            .min()
            .unwrap_or(now);
        let confirm_by = windows
            .iter()
            .map(|w| w.deadlines.confirm_by)
            .max()
            .unwrap_or(send_by);
        // Marked pending as it goes out. The mark is not waited for: a
        // restart serves a pending window again anyway (the chain refuses a
        // second payload), so no flush belongs on the way to the mempool.
        self.writer.record(
            ids.iter()
                .map(|(topic, nonce)| (*topic, *nonce, WindowState::Pending { tx: None }))
                .collect(),
        );
        // Routine windows only: the gas of a recent simulation serves.
        let gas = if self.book.all_routine(&ids) {
            GasMode::ReuseRecent
        } else {
            GasMode::Simulate
        };
        let pipeline = self.pipeline.clone();
        let span = tracing::info_span!("submit", size = ids.len());
        let task_ids = ids.clone();
        let handle = self.tasks.spawn(
            async move {
                let result = pipeline
                    .submit_with(messages, send_by, confirm_by, gas)
                    .await;
                Done::Submitted {
                    ids: task_ids,
                    result,
                }
            }
            .instrument(span),
        );
        self.book.submitting(&ids, handle.id());
    }

    fn on_task_lost(&mut self, task: tokio::task::Id, error: &tokio::task::JoinError) {
        for (topic_id, nonce) in self.book.windows_of_task(task) {
            // Nothing final is recorded, so a restart (or a rediscovery)
            // serves the window if it is still open.
            self.book.forget((topic_id, nonce));
            if error.is_cancelled() {
                self.report(Err(WorkerError::NotSent { topic_id, nonce }));
            } else {
                tracing::error!(topic_id, nonce, %error, "window task failed");
                self.report(Err(WorkerError::Unavailable {
                    topic_id,
                    nonce,
                    reason: format!("internal task failure: {error}"),
                }));
            }
        }
    }

    fn on_join(&mut self, joined: Result<(tokio::task::Id, Done), tokio::task::JoinError>) {
        match joined {
            Ok((_, done)) => self.on_done(done),
            Err(error) => self.on_task_lost(error.id(), &error),
        }
    }
}

pub(super) async fn run(mut engine: Engine) {
    let client = engine.pipeline.client().clone();
    for (topic_id, len) in discovery::window_lengths(&client, engine.topics.ids()).await {
        engine.topics.set_window_len(topic_id, len);
    }
    let (discovery, mut events) = Discovery::start(
        client,
        engine.topics.ids(),
        DiscoveryConfig {
            websocket: engine.config.websocket.clone(),
            poll_fast: engine.config.poll_interval,
            poll_slow: engine.config.poll_interval_connected,
            block_time: engine.config.block_time,
        },
    );

    let cancel = engine.cancel.clone();
    loop {
        let linger = engine.batching.linger_until(engine.book.ready_since());
        let wake = engine.book.next_wake();
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(event) = events.recv() => engine.on_event(event),
            Some(joined) = engine.tasks.join_next_with_id(), if !engine.tasks.is_empty() => engine.on_join(joined),
            _ = sleep_until_opt(linger), if linger.is_some() => engine.flush(true),
            _ = sleep_until_opt(wake), if wake.is_some() => engine.on_wake(),
        }
        engine.flush(false);
    }

    // Shutdown: stop discovery, send what is ready, let in-flight work
    // finish within the grace period, abort the rest.
    discovery.stop().await;
    engine.flush(true);
    let grace = Instant::now() + engine.config.shutdown_grace;
    while !engine.tasks.is_empty() {
        match tokio::time::timeout_at(grace, engine.tasks.join_next_with_id()).await {
            Ok(Some(joined)) => {
                engine.on_join(joined);
                engine.flush(true);
            }
            Ok(None) => break,
            Err(_) => {
                engine.tasks.abort_all();
                while let Some(joined) = engine.tasks.join_next_with_id().await {
                    engine.on_join(joined);
                }
            }
        }
    }
    // Payloads that became ready (or were waiting) after the last flush
    // were never sent.
    for (topic_id, nonce) in engine.book.unsent() {
        engine.report(Err(WorkerError::NotSent { topic_id, nonce }));
    }
    // Every record write is on disk before the worker counts as stopped.
    let Engine {
        writer,
        writer_task,
        ..
    } = engine;
    drop(writer);
    writer_task.finish().await;
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
