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
//!
//! The loop also follows the chain's emissions protocol (see
//! [`crate::emissions`]): payloads are signed for the version in use, and
//! any sign of another version (a refused emissions query, window events of
//! another version, a payload whose type the chain cannot resolve) makes it
//! ask the chain again. A supported version is taken up at once, and the
//! windows whose payloads were signed for the old one are served again; a
//! version this build does not speak is reported (log, observer) until the
//! chain speaks a supported one again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::batch::Batching;
use super::book::{Phase, Window, WindowBook, WindowId};
use super::check::{self, CheckKind, TopicCheck, Verdict};
use super::clock::{BlockClock, Deadlines, WallClock, WindowClock, WindowEnd};
use super::decision::{self, Decision, Missed, SubmitResult, WindowFacts};
use super::discovery::{self, Discovery, DiscoveryConfig};
use super::events::ChainEvent;
use super::outcome::{self, Carried};
use super::provider::{self, Provided};
use super::store::{SubmissionStore, WindowState};
use super::topics::{SuspendReason, TopicState, Topics};
use super::writer::{RecordWriter, WriterTask};
use super::{Submission, WorkerConfig, WorkerError, WorkerObserver};
use crate::client::ClientError;
use crate::emissions::{EmissionsStatus, EpochWindow, Protocol, Unsupported, WindowMode};
use crate::pipeline::{GasMode, RemedyPolicy, SubmitError, TxPipeline};

/// Finished windows are pruned from the book at most this often (blocks).
const PRUNE_EVERY_BLOCKS: i64 = 16;
/// The chain is asked for its protocol at most this often.
const DETECTION_INTERVAL: Duration = Duration::from_secs(1);

/// What a task brings back to the loop.
enum Done {
    /// A window's providers answered (or failed).
    Provided {
        id: WindowId,
        // Boxed: a payload is large next to the other variants.
        provided: Box<Provided>,
    },
    /// A transaction carrying these windows, in order, was answered; when
    /// its refusal suggested another emissions version, the chain was
    /// asked again.
    Submitted {
        ids: Vec<WindowId>,
        result: Box<SubmitResult>,
        detected: Option<Result<Protocol, ClientError>>,
    },
    /// Topics were checked (at `height`).
    Checked {
        height: i64,
        checks: Vec<(u64, TopicCheck)>,
    },
    /// The chain said which protocol it speaks.
    Detected(Result<Protocol, ClientError>),
    /// A topic's scheduler epochs (wall-clock windows).
    Epochs {
        topic_id: u64,
        result: Result<Vec<EpochWindow>, ClientError>,
    },
}

/// The clock of windows measured as `windows` says.
fn clock_for(windows: WindowMode, block_time: Duration) -> Box<dyn WindowClock> {
    match windows {
        WindowMode::Blocks => Box::new(BlockClock::new(block_time, Instant::now())),
        WindowMode::WallClock => Box::new(WallClock::new(
            block_time,
            Instant::now(),
            SystemTime::now(),
        )),
    }
}

/// Whether a failed submission suggests the chain speaks another emissions
/// version than the one its payloads were signed for.
fn suggests_other_version(error: &SubmitError) -> bool {
    use crate::emissions::refuses_message_type;
    match error {
        SubmitError::Rejected { error, .. }
        | SubmitError::AttemptsExhausted { last: error, .. } => {
            refuses_message_type(&error.codespace, error.code, &error.raw_log)
        }
        SubmitError::Client(error) => error.suggests_other_emissions_version(),
        _ => false,
    }
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
    /// The protocol payloads are signed for.
    protocol: Protocol,
    /// Set while the chain speaks no version this build does.
    unsupported: Option<Unsupported>,
    /// The detection task in flight, and when the last one started.
    detecting: Option<tokio::task::Id>,
    detected_at: Option<Instant>,
    /// Topics whose epochs are being read.
    epoch_lookups: HashSet<u64>,
    /// Rung to make discovery poll at once.
    poll_now: Arc<Notify>,
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
        protocol: Protocol,
    ) -> Self {
        let (writer, writer_task) = RecordWriter::start(store);
        Engine {
            topics: Topics::new(&config.topics, config.topic_check_epochs),
            batching: Batching {
                max_messages: config.max_messages_per_tx,
                linger: config.batch_linger,
            },
            clock: clock_for(protocol.windows(), config.block_time),
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
            protocol,
            unsupported: None,
            detecting: None,
            detected_at: None,
            epoch_lookups: HashSet::new(),
            poll_now: Arc::new(Notify::new()),
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
            } => match self.protocol.windows() {
                WindowMode::Blocks => self.on_window(topic_id, nonce, window_end),
                // The event's window end is not a height there: the
                // window's close time is read from the topic's epochs.
                WindowMode::WallClock => self.lookup_epochs(topic_id, nonce),
            },
            ChainEvent::EpochWindow(window) => {
                if self.protocol.windows() == WindowMode::WallClock && window.accepting {
                    self.open_window(
                        window.topic_id,
                        window.nonce,
                        WindowEnd::Time(window.close_at),
                    );
                }
            }
            ChainEvent::WindowClosed { .. } => {}
            ChainEvent::EmissionsEvents { version } => {
                if version != self.protocol.version() || self.unsupported.is_some() {
                    self.redetect(&format!("window events of emissions {version}"));
                }
            }
            ChainEvent::EmissionsRefused { reason } => self.redetect(&reason),
            ChainEvent::Connection(up) => self.observer.websocket(up),
        }
    }

    /// A window was announced (or found by polling) on a chain whose
    /// windows are counted in blocks.
    fn on_window(&mut self, topic_id: u64, nonce: i64, announced_end: Option<i64>) {
        if self.book.contains((topic_id, nonce)) || self.topics.spec(topic_id).is_none() {
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
        self.open_window(topic_id, nonce, end);
    }

    /// Reads a topic's scheduler epochs for the window announced at `nonce`
    /// (once at a time per topic).
    fn lookup_epochs(&mut self, topic_id: u64, nonce: i64) {
        if self.book.contains((topic_id, nonce))
            || self.topics.spec(topic_id).is_none()
            || self.topics.is_suspended(topic_id)
            || !self.epoch_lookups.insert(topic_id)
        {
            return;
        }
        let client = self.pipeline.client().clone();
        self.tasks.spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            let result = client.with_deadline(deadline).topic_epochs(topic_id).await;
            Done::Epochs { topic_id, result }
        });
    }

    /// A window ending at `end`: served unless the record has it final, it
    /// is too late, or the chain speaks no version this build does.
    fn open_window(&mut self, topic_id: u64, nonce: i64, end: WindowEnd) {
        let id = (topic_id, nonce);
        let Some(spec) = self.topics.spec(topic_id) else {
            return;
        };
        // A suspended topic's windows cost nothing: no provider call, no
        // fee, no report (the suspension was reported once). A window still
        // open when the topic resumes is found again by polling.
        if self.book.contains(id)
            || self.unsupported.is_some()
            || self.topics.is_suspended(topic_id)
        {
            return;
        }
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
        let version = self.protocol.version();
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
                    version,
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
                        if payload.message.type_url != self.payload_type_url() {
                            // Signed for a version the chain stopped speaking
                            // meanwhile: served again, in the current one.
                            self.book.forget(id);
                            self.poll_now.notify_one();
                        } else {
                            self.book.provided(id, payload, Instant::now());
                        }
                    }
                    None => self.book.finish(id),
                }
                // Each side's failure on its own; the other side, if it
                // answered, goes out regardless.
                for failure in failures {
                    self.report(Err(failure));
                }
            }
            Done::Checked { height, checks } => self.on_checked(height, checks),
            Done::Submitted {
                ids,
                result,
                detected,
            } => {
                if let Some(detected) = detected {
                    self.on_detected(detected);
                }
                self.on_submitted(ids, *result);
            }
            Done::Detected(result) => {
                self.detecting = None;
                self.on_detected(result);
            }
            Done::Epochs { topic_id, result } => {
                self.epoch_lookups.remove(&topic_id);
                match result {
                    Ok(windows) => {
                        for window in windows.into_iter().filter(|w| w.accepting) {
                            self.on_event(ChainEvent::EpochWindow(window));
                        }
                    }
                    Err(error) => {
                        if error.suggests_other_emissions_version() {
                            self.redetect(&error.to_string());
                        } else {
                            tracing::warn!(topic_id, %error, "could not read the topic's epochs; its window waits for the next poll");
                        }
                    }
                }
            }
        }
    }

    /// The type URL of payloads in the protocol in use.
    fn payload_type_url(&self) -> &'static str {
        self.protocol.messages().insert_worker_payload_type_url()
    }

    /// Asks the chain for its protocol (one question at a time, at most
    /// once per [`DETECTION_INTERVAL`]), because of `reason`.
    fn redetect(&mut self, reason: &str) {
        let recent = self
            .detected_at
            .is_some_and(|at| at.elapsed() < DETECTION_INTERVAL);
        if self.detecting.is_some() || recent {
            return;
        }
        tracing::info!(%reason, in_use = %self.protocol, "asking the chain which emissions protocol it speaks");
        self.detected_at = Some(Instant::now());
        let client = self.pipeline.client().clone();
        let handle = self.tasks.spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            Done::Detected(client.with_deadline(deadline).detect_emissions().await)
        });
        self.detecting = Some(handle.id());
    }

    /// What the chain said about its protocol.
    fn on_detected(&mut self, result: Result<Protocol, ClientError>) {
        match result {
            Ok(protocol) => self.use_protocol(protocol),
            Err(ClientError::UnsupportedEmissions(unsupported)) => {
                if self.unsupported.as_ref() != Some(&unsupported) {
                    // One line, once: the chain's version and this build's.
                    tracing::error!(
                        chain = ?unsupported.chain.map(|v| v.to_string()),
                        supported = %crate::emissions::EmissionsVersion::supported_list(),
                        "{unsupported}"
                    );
                    self.observer
                        .emissions(&EmissionsStatus::Unsupported(unsupported.clone()));
                    self.unsupported = Some(unsupported);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not ask the chain for its emissions protocol");
            }
        }
    }

    /// Signs for `protocol` from now on. Payloads signed for another
    /// version that have not gone out are dropped, and their windows served
    /// again (the record is the same in every version, so nothing is sent
    /// twice).
    fn use_protocol(&mut self, protocol: Protocol) {
        let was_unsupported = self.unsupported.take().is_some();
        if protocol == self.protocol && !was_unsupported {
            return;
        }
        let previous = self.protocol;
        self.protocol = protocol;
        if previous != protocol {
            tracing::warn!(from = %previous, to = %protocol, "the chain's emissions protocol changed; following it");
            if previous.windows() != protocol.windows() {
                self.clock = clock_for(protocol.windows(), self.config.block_time);
            }
            self.topics.settings_stale();
            let type_url = self.payload_type_url();
            let stale = self
                .book
                .forget_unsent_if(|payload| payload.message.type_url != type_url);
            if !stale.is_empty() {
                tracing::info!(
                    windows = stale.len(),
                    "payloads signed for the previous version dropped; their windows are served again"
                );
            }
        } else {
            tracing::info!(%protocol, "the chain speaks a supported emissions protocol again");
        }
        self.observer
            .emissions(&EmissionsStatus::Supported(protocol));
        self.poll_now.notify_one();
    }

    /// A transaction's answer: each of its windows decided, recorded (one
    /// write for the whole batch) and reported. A refused transaction whose
    /// payloads were signed for a version the chain no longer speaks leaves
    /// no trace: its windows are served again in the current version.
    fn on_submitted(&mut self, ids: Vec<WindowId>, result: SubmitResult) {
        if result.is_err() && self.unsupported.is_none() {
            let type_url = self.payload_type_url();
            let mut stale = false;
            for id in &ids {
                let outdated = matches!(
                    self.book.get(*id).map(|e| &e.phase),
                    Some(Phase::Submitting { payload, .. }) if payload.message.type_url != type_url
                );
                if outdated {
                    self.book.forget(*id);
                    stale = true;
                }
            }
            if stale {
                self.poll_now.notify_one();
            }
        }
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
                // A type the chain cannot resolve: it may have upgraded.
                let detected = match &result {
                    Err(error) if suggests_other_version(error) => {
                        let client = pipeline.client().with_deadline(confirm_by);
                        Some(client.detect_emissions().await)
                    }
                    _ => None,
                };
                Done::Submitted {
                    ids: task_ids,
                    result: Box::new(result),
                    detected,
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
        if self.detecting == Some(task) {
            self.detecting = None;
        }
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
        Arc::clone(&engine.poll_now),
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
