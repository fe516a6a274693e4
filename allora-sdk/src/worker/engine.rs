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
use super::check::{self, CheckKind, TopicCheck, Verdict};
use super::clock::{BlockClock, Deadlines, WindowClock};
use super::decision::{self, Decision, Missed, SubmitResult, WindowFacts};
use super::discovery::{self, Discovery, DiscoveryConfig};
use super::events::ChainEvent;
use super::outcome::{self, Carried};
use super::provider::{self, Provided};
use super::store::{SubmissionStore, WindowState};
use super::topics::{SuspendReason, TopicState, Topics};
use super::writer::{RecordWriter, WriterTask};
use super::{Submission, WorkerConfig, WorkerError, WorkerObserver};
use crate::pipeline::{GasMode, RemedyPolicy, TxPipeline};

/// Finished windows are pruned from the book at most this often (blocks).
const PRUNE_EVERY_BLOCKS: i64 = 16;

/// What a task brings back to the loop.
enum Done {
    /// A window's providers answered (or failed).
    Provided {
        id: WindowId,
        // Boxed: a payload is large next to the other variants.
        provided: Box<Provided>,
    },
    /// A transaction carrying these windows, in order, was answered.
    Submitted {
        ids: Vec<WindowId>,
        result: SubmitResult,
    },
    /// Topics were checked (at `height`).
    Checked {
        height: i64,
        checks: Vec<(u64, TopicCheck)>,
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
    /// The newest block height seen.
    height: Option<i64>,
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
            topics: Topics::new(&config.topics, config.topic_check_epochs),
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
            height: None,
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
                    self.height = Some(height);
                    self.check_due_topics(height);
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
        // A suspended topic's windows cost nothing: no provider call, no
        // fee, no report (the suspension was reported once). A window still
        // open when the topic resumes is found again by polling.
        if self.topics.is_suspended(topic_id) || self.book.contains(id) {
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
        let rules = self.topics.rules(topic_id);
        let span = tracing::info_span!("window", topic_id, nonce, window_end = ?end);
        let handle = self.tasks.spawn(
            async move {
                let provided = provider::provide(
                    pipeline.signer(),
                    &spec,
                    rules,
                    nonce,
                    deadlines.provide_by,
                    deadlines.send_by,
                )
                .await;
                Done::Provided {
                    id,
                    provided: Box::new(provided),
                }
            }
            .instrument(span),
        );
        self.book.open(window, handle.id(), routine);
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Provided { id, provided } => {
                let Provided { payload, failures } = *provided;
                match payload {
                    Some(payload) => {
                        self.observer.inference_latency(id.0, payload.inference);
                        self.book.provided(id, payload, Instant::now());
                    }
                    None => self.book.finish(id),
                }
                // Each side's failure on its own; the other side, if it
                // answered, goes out regardless.
                for failure in failures {
                    self.report(Err(failure));
                }
            }
            Done::Submitted { ids, result } => self.on_submitted(ids, result),
            Done::Checked { height, checks } => self.on_checked(height, checks),
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
            let carried = Carried {
                index,
                has_inference: payload.has_inference,
            };
            let facts = WindowFacts {
                index,
                batch_len,
                time_left: window.deadlines.send_by.saturating_duration_since(now),
                retries: entry.retries,
                tier,
            };
            let decision = decision::decide(&result, facts, &self.remedies);
            let effects = outcome::effects(
                decision,
                &window,
                inference,
                Some(&result),
                carried,
                batch_len,
            );
            if let Some(state) = effects.record {
                records.push((id.0, id.1, state));
            }
            match decision {
                Decision::Included => self.topics.note_answer(id.0, true),
                Decision::AlreadySubmitted
                | Decision::Missed(Missed::ChainClosed)
                | Decision::Rejected
                | Decision::RejectedForTopic
                | Decision::FeeAboveMaximum { .. } => self.topics.note_answer(id.0, false),
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
                | Decision::FeeAboveMaximum { .. }
                | Decision::Unbuildable
                | Decision::SignerFailed => self.book.finish(id),
                Decision::RejectedForTopic => self.book.finish(id),
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
            // After the window's own report: the topic's suspension.
            if let (Decision::RejectedForTopic, Err(error)) = (decision, &result) {
                if let Some(reason) = error.chain_kind().and_then(SuspendReason::from_kind) {
                    self.suspend(id.0, reason, error.to_string(), None);
                }
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
                    let carried = Carried {
                        index: 0,
                        has_inference: payload.has_inference,
                    };
                    let effects = outcome::effects(decision, &window, inference, None, carried, 1);
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
        let mut ready = self.book.take_ready();
        // A topic suspended meanwhile: its payloads are not sent.
        let mut dropped = Vec::new();
        ready.retain(|(id, _)| {
            let keep = !self.topics.is_suspended(id.0);
            if !keep {
                dropped.push(*id);
            }
            keep
        });
        for id in dropped {
            self.drop_suspended(id);
        }
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

    /// The start-up checks: every topic's state reported to the observer,
    /// each suspended one also in the results stream (once), and the
    /// states written for `status`.
    fn start_topics(&mut self, checks: Vec<(u64, TopicCheck)>) {
        for (topic_id, check) in checks {
            if let Some(info) = check.info {
                self.topics.set_info(topic_id, info);
            }
            match check.verdict {
                Verdict::Suspend(reason, detail) => {
                    self.suspend(topic_id, reason, detail, None);
                }
                Verdict::Unknown(why) => {
                    tracing::warn!(topic_id, %why, "could not check the topic at start; serving it and checking again later");
                }
                Verdict::Serve => {}
            }
        }
        let mut ids = self.topics.ids();
        ids.sort_unstable();
        for topic_id in ids {
            if let Some(state) = self.topics.state(topic_id) {
                if *state == TopicState::Serving {
                    self.observer.topic_state(topic_id, state);
                }
            }
        }
        let serving = self
            .topics
            .states()
            .iter()
            .filter(|(_, s)| *s == TopicState::Serving)
            .count();
        tracing::info!(
            serving,
            suspended = self.topics.ids().len() - serving,
            "topics checked"
        );
        self.write_topic_states();
    }

    /// Suspends a topic: reported once (results stream, observer, the
    /// states file) unless it already was, for the same reason.
    fn suspend(
        &mut self,
        topic_id: u64,
        reason: SuspendReason,
        detail: String,
        height: Option<i64>,
    ) {
        let height = height.or(self.height);
        if !self.topics.suspend(topic_id, reason, detail, height) {
            return;
        }
        let Some(TopicState::Suspended(suspension)) = self.topics.state(topic_id).cloned() else {
            return;
        };
        tracing::warn!(topic_id, reason = %suspension.reason, detail = %suspension.detail, "topic suspended: no provider calls and no fees for it until a check finds the chain accepting it");
        self.observer
            .topic_state(topic_id, &TopicState::Suspended(suspension.clone()));
        self.report(Err(WorkerError::TopicSuspended {
            topic_id,
            suspension,
        }));
        self.write_topic_states();
    }

    /// A ready or waiting window of a topic suspended meanwhile: not sent,
    /// recorded as given up (its suspension was reported).
    fn drop_suspended(&mut self, id: WindowId) {
        self.book.finish(id);
        let reason = match self.topics.state(id.0) {
            Some(TopicState::Suspended(s)) => format!("topic suspended ({})", s.reason),
            _ => "topic suspended".to_owned(),
        };
        self.writer
            .record(vec![(id.0, id.1, WindowState::Abandoned { reason })]);
    }

    /// Starts a check of the topics due at `height`: suspended ones in
    /// full, served ones for their settings (label rules, window length).
    fn check_due_topics(&mut self, height: i64) {
        let due: Vec<(u64, CheckKind)> = self
            .topics
            .due(height)
            .into_iter()
            .map(|(topic_id, suspended)| {
                let kind = match suspended {
                    None => CheckKind::Refresh,
                    Some(SuspendReason::InsufficientFunds) => CheckKind::Funds,
                    Some(_) => CheckKind::Full,
                };
                (topic_id, kind)
            })
            .collect();
        if due.is_empty() || self.cancel.is_cancelled() {
            return;
        }
        let pipeline = self.pipeline.clone();
        let auto_register = self.config.auto_register;
        self.tasks.spawn(
            async move {
                let (_, checks) = check::check_topics(&pipeline, due, auto_register).await;
                Done::Checked { height, checks }
            }
            .instrument(tracing::info_span!("topic_check", height)),
        );
    }

    /// A check's findings: settings noted, suspended topics served again
    /// (or still suspended), served topics suspended when the chain no
    /// longer has them.
    fn on_checked(&mut self, height: i64, checks: Vec<(u64, TopicCheck)>) {
        for (topic_id, check) in checks {
            if let Some(info) = check.info {
                self.topics.set_info(topic_id, info);
            }
            match check.verdict {
                Verdict::Serve => {
                    if self.topics.resume(topic_id) {
                        tracing::info!(topic_id, "topic served again: the chain accepts it");
                        self.observer.topic_state(topic_id, &TopicState::Serving);
                        self.write_topic_states();
                    }
                    self.topics.schedule(topic_id, height);
                }
                Verdict::Suspend(reason, detail) => {
                    self.suspend(topic_id, reason, detail, Some(height));
                    self.topics.schedule(topic_id, height);
                }
                Verdict::Unknown(why) => {
                    tracing::warn!(topic_id, %why, "topic check inconclusive; checking again later");
                    self.topics.schedule(topic_id, height);
                }
            }
        }
    }

    /// Writes every topic's state to the data directory (off the runtime,
    /// not waited for).
    fn write_topic_states(&self) {
        let dir = self.config.data_dir.clone();
        let states = self.topics.states();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = super::store::write_topic_states(&dir, &states) {
                tracing::warn!(%error, "could not write the topic states");
            }
        });
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
                self.report(Err(WorkerError::TaskFailed {
                    topic_id,
                    nonce,
                    reason: error.to_string(),
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

pub(super) async fn run(mut engine: Engine, start_checks: Vec<(u64, TopicCheck)>) {
    engine.start_topics(start_checks);
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
