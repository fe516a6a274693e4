//! The worker's event loop: discovery in, provider calls and batched
//! submissions out, every window ending in exactly one recorded result.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use allora_infer::{InferError, InferenceRequest, Prediction};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::events::{self, ChainEvent, EventStreamConfig};
use super::store::{SubmissionStore, WindowState};
use super::{Latency, Outcome, Submission, TopicSpec, WorkerConfig, WorkerError, WorkerObserver};
use crate::client::{ChainClient, TxErrorKind};
use crate::keys::Address;
use crate::payload::{ForecastElement, SignedPayload, WorkerPayload};
use crate::pipeline::{Included, SubmitError, TxPipeline};

/// Windows are forgotten this many blocks after they end.
const FORGET_AFTER_BLOCKS: i64 = 200;
/// Queries in flight at once while polling many topics.
const POLL_CONCURRENCY: usize = 16;

/// One window being served.
#[derive(Debug, Clone)]
struct Window {
    topic_id: u64,
    nonce: i64,
    discovered_at: Instant,
    /// No broadcast after this.
    send_by: Instant,
    /// Inclusion awaited until this.
    confirm_by: Instant,
}

/// A signed payload waiting for its transaction.
#[derive(Debug)]
struct Ready {
    window: Window,
    payload: SignedPayload,
    inference: Duration,
    /// Sent alone (after a batch failed without naming the culprit).
    solo: bool,
}

enum Done {
    Provided {
        window: Window,
        // Boxed: a signed payload is large next to the other variant.
        result: Box<Result<(SignedPayload, Duration), WorkerError>>,
    },
    Submitted {
        batch: Vec<Ready>,
        result: Result<Included, SubmitFailure>,
    },
}

enum SubmitFailure {
    Store(super::store::StoreError),
    Pipeline(SubmitError),
}

/// Where a window stands in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    InProgress,
    Done,
}

/// The chain's clock as seen from here: last height and a measured block time.
#[derive(Debug)]
struct BlockClock {
    height: i64,
    at: Instant,
    block_time: Duration,
}

impl BlockClock {
    fn observe(&mut self, height: i64) -> bool {
        if height <= self.height {
            return false;
        }
        let now = Instant::now();
        if self.height > 0 {
            let blocks = u32::try_from(height - self.height)
                .unwrap_or(u32::MAX)
                .max(1);
            let measured = (now - self.at) / blocks;
            // A smoothed estimate; one slow or bunched-up block moves it little.
            let blended = (self.block_time * 4 + measured) / 5;
            self.block_time = blended.clamp(Duration::from_millis(100), Duration::from_secs(60));
        }
        self.height = height;
        self.at = now;
        true
    }

    /// When block `height` is expected to be finalized.
    fn eta(&self, height: i64) -> Instant {
        let blocks = u32::try_from((height - self.height).max(0)).unwrap_or(u32::MAX);
        self.at + self.block_time.saturating_mul(blocks)
    }
}

pub(super) struct Engine {
    config: WorkerConfig,
    pipeline: TxPipeline,
    store: SubmissionStore,
    observer: Arc<dyn WorkerObserver>,
    results: mpsc::Sender<Result<Submission, WorkerError>>,
    cancel: CancellationToken,
    specs: HashMap<u64, TopicSpec>,
    windows_len: HashMap<u64, i64>,
    clock: BlockClock,
    status: HashMap<(u64, i64), (Status, i64)>,
    ready: Vec<Ready>,
    ready_since: Option<Instant>,
    providers_running: usize,
    tasks: JoinSet<Done>,
    task_windows: HashMap<tokio::task::Id, (bool, Vec<(u64, i64)>)>,
    dropped_results: u64,
}

impl Engine {
    pub(super) fn new(
        config: WorkerConfig,
        pipeline: TxPipeline,
        store: SubmissionStore,
        observer: Arc<dyn WorkerObserver>,
        results: mpsc::Sender<Result<Submission, WorkerError>>,
        cancel: CancellationToken,
    ) -> Self {
        let specs = config
            .topics
            .iter()
            .map(|t| (t.topic_id, t.clone()))
            .collect();
        let block_time = config.block_time;
        Engine {
            config,
            pipeline,
            store,
            observer,
            results,
            cancel,
            specs,
            windows_len: HashMap::new(),
            clock: BlockClock {
                height: 0,
                at: Instant::now(),
                block_time,
            },
            status: HashMap::new(),
            ready: Vec::new(),
            ready_since: None,
            providers_running: 0,
            tasks: JoinSet::new(),
            task_windows: HashMap::new(),
            dropped_results: 0,
        }
    }

    fn client(&self) -> &ChainClient {
        self.pipeline.client()
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

    /// Fetches each topic's submission window length.
    async fn load_topics(&mut self) {
        let client = self.client().clone();
        let ids: Vec<u64> = self.specs.keys().copied().collect();
        let mut fetched = futures_util::stream::iter(ids)
            .map(|id| {
                let client = client.clone();
                async move { (id, client.topic(id).await) }
            })
            .buffer_unordered(POLL_CONCURRENCY);
        while let Some((id, result)) = fetched.next().await {
            match result {
                Ok(topic) => {
                    self.windows_len
                        .insert(id, topic.worker_submission_window.max(1));
                }
                Err(error) => {
                    tracing::warn!(topic_id = id, %error, "could not read the topic; its window length is taken from events");
                }
            }
        }
    }

    fn on_event(&mut self, event: ChainEvent) {
        match event {
            ChainEvent::Block { height } => {
                if self.clock.observe(height) {
                    self.observer.block(height);
                    let horizon = height - FORGET_AFTER_BLOCKS;
                    self.status.retain(|_, (status, end)| {
                        *status == Status::InProgress || *end >= horizon
                    });
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

    fn on_window(&mut self, topic_id: u64, nonce: i64, window_end: Option<i64>) {
        let Some(spec) = self.specs.get(&topic_id).cloned() else {
            return;
        };
        if self.status.contains_key(&(topic_id, nonce)) {
            return;
        }
        let window_end = match (window_end, self.windows_len.get(&topic_id)) {
            (Some(end), _) => end,
            (None, Some(len)) => nonce + len,
            (None, None) => {
                // Without the topic's window length the deadline is unknown.
                tracing::warn!(
                    topic_id,
                    nonce,
                    "window length unknown; skipping this discovery"
                );
                return;
            }
        };
        if let Some(state) = self.store.get(topic_id, nonce) {
            if state.is_final() {
                self.status
                    .insert((topic_id, nonce), (Status::Done, window_end));
                return;
            }
        }
        let now = Instant::now();
        let bt = self.clock.block_time;
        let end_eta = self.clock.eta(window_end);
        let send_by = end_eta.checked_sub(bt / 2).unwrap_or(now);
        let window = Window {
            topic_id,
            nonce,
            discovered_at: now,
            send_by,
            confirm_by: end_eta + bt * 3,
        };
        if self.clock.height > window_end || send_by <= now {
            self.status
                .insert((topic_id, nonce), (Status::Done, window_end));
            self.report(Err(WorkerError::WindowMissed {
                topic_id,
                nonce,
                reason: format!(
                    "found at height {} with the window ending at {window_end}",
                    self.clock.height
                ),
            }));
            return;
        }
        self.status
            .insert((topic_id, nonce), (Status::InProgress, window_end));
        // Leave time to sign and broadcast after the provider answers.
        let reserve = (bt / 2).min(Duration::from_millis(500));
        let deadline = send_by
            .checked_sub(reserve)
            .unwrap_or(now)
            .min(now + self.config.provider_timeout);
        let pipeline = self.pipeline.clone();
        let span = tracing::info_span!("window", topic_id, nonce, window_end);
        self.providers_running += 1;
        let handle = self.tasks.spawn(
            async move {
                let result = Box::new(provide(&pipeline, &spec, &window, deadline).await);
                Done::Provided { window, result }
            }
            .instrument(span),
        );
        self.task_windows
            .insert(handle.id(), (false, vec![(topic_id, nonce)]));
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Provided { window, result } => {
                self.providers_running = self.providers_running.saturating_sub(1);
                match *result {
                    Ok((payload, inference)) => {
                        self.observer.inference_latency(window.topic_id, inference);
                        self.ready_since.get_or_insert_with(Instant::now);
                        self.ready.push(Ready {
                            window,
                            payload,
                            inference,
                            solo: false,
                        });
                    }
                    Err(error) => {
                        self.finish(window.topic_id, window.nonce);
                        self.report(Err(error));
                    }
                }
            }
            Done::Submitted { batch, result } => self.on_submitted(batch, result),
        }
    }

    fn finish(&mut self, topic_id: u64, nonce: i64) {
        if let Some(entry) = self.status.get_mut(&(topic_id, nonce)) {
            entry.0 = Status::Done;
        }
    }

    /// Lets a later discovery of the window try again.
    fn forget(&mut self, topic_id: u64, nonce: i64) {
        self.status.remove(&(topic_id, nonce));
    }

    fn record(&self, topic_id: u64, nonce: i64, state: WindowState) {
        // A record that fails to persist is logged; the chain still refuses a
        // second payload for the window, so this cannot cause a duplicate.
        if let Err(error) = self.store.record(topic_id, nonce, state) {
            tracing::error!(topic_id, nonce, %error, "could not write the submission record");
        }
    }

    fn on_submitted(&mut self, batch: Vec<Ready>, result: Result<Included, SubmitFailure>) {
        let size = batch.len();
        match result {
            Ok(included) => {
                for ready in batch {
                    let w = &ready.window;
                    self.record(
                        w.topic_id,
                        w.nonce,
                        WindowState::Confirmed {
                            tx: Some(included.txhash.clone()),
                            height: Some(included.height),
                        },
                    );
                    self.finish(w.topic_id, w.nonce);
                    let submission = Submission {
                        topic_id: w.topic_id,
                        nonce: w.nonce,
                        outcome: Outcome::Included,
                        txhash: Some(included.txhash.clone()),
                        height: Some(included.height),
                        fee: Some(included.fee.clone()),
                        batch_size: size,
                        latency: Latency {
                            inference: ready.inference,
                            window_to_broadcast: Some(
                                included
                                    .broadcast_at
                                    .saturating_duration_since(w.discovered_at),
                            ),
                            broadcast_to_included: Some(
                                included
                                    .included_at
                                    .saturating_duration_since(included.broadcast_at),
                            ),
                        },
                    };
                    tracing::info!(topic_id = w.topic_id, nonce = w.nonce, txhash = %included.txhash, height = included.height, "payload included");
                    self.report(Ok(submission));
                }
            }
            Err(SubmitFailure::Store(error)) => {
                tracing::error!(%error, "submission record unavailable; payloads not sent");
                for ready in batch {
                    self.finish(ready.window.topic_id, ready.window.nonce);
                    self.report(Err(WorkerError::WindowMissed {
                        topic_id: ready.window.topic_id,
                        nonce: ready.window.nonce,
                        reason: format!("submission record unavailable: {error}"),
                    }));
                }
            }
            Err(SubmitFailure::Pipeline(error)) => self.on_pipeline_error(batch, error),
        }
    }

    fn on_pipeline_error(&mut self, mut batch: Vec<Ready>, error: SubmitError) {
        match error {
            SubmitError::Rejected {
                error: chain,
                message_index,
            } => {
                let culprit = match message_index {
                    Some(i) if i < batch.len() => Some(batch.remove(i)),
                    _ if batch.len() == 1 => batch.pop(),
                    _ => None,
                };
                match culprit {
                    Some(ready) => {
                        let (topic_id, nonce) = (ready.window.topic_id, ready.window.nonce);
                        self.finish(topic_id, nonce);
                        match chain.kind() {
                            TxErrorKind::AlreadySubmitted => {
                                self.record(
                                    topic_id,
                                    nonce,
                                    WindowState::Confirmed {
                                        tx: None,
                                        height: None,
                                    },
                                );
                                self.report(Ok(Submission {
                                    topic_id,
                                    nonce,
                                    outcome: Outcome::AlreadySubmitted,
                                    txhash: None,
                                    height: None,
                                    fee: None,
                                    batch_size: 1,
                                    latency: Latency {
                                        inference: ready.inference,
                                        ..Latency::default()
                                    },
                                }));
                            }
                            TxErrorKind::WindowClosed => {
                                self.record(
                                    topic_id,
                                    nonce,
                                    WindowState::Abandoned {
                                        reason: chain.raw_log.clone(),
                                    },
                                );
                                self.report(Err(WorkerError::WindowMissed {
                                    topic_id,
                                    nonce,
                                    reason: chain.to_string(),
                                }));
                            }
                            _ => {
                                self.record(
                                    topic_id,
                                    nonce,
                                    WindowState::Abandoned {
                                        reason: chain.raw_log.clone(),
                                    },
                                );
                                self.report(Err(WorkerError::Rejected {
                                    topic_id,
                                    nonce,
                                    source: chain,
                                }));
                            }
                        }
                        // The others were fine: send them again at once.
                        self.requeue(batch, false);
                    }
                    None => {
                        // The chain did not say which payload failed: send
                        // each alone to find out.
                        tracing::warn!(error = %chain, size = batch.len(), "batch rejected without a message index; resending payloads one by one");
                        self.requeue(batch, true);
                    }
                }
            }
            SubmitError::NotIncluded { txhash } => {
                for ready in batch {
                    let (topic_id, nonce) = (ready.window.topic_id, ready.window.nonce);
                    self.record(
                        topic_id,
                        nonce,
                        WindowState::Pending {
                            tx: Some(txhash.clone()),
                        },
                    );
                    self.forget(topic_id, nonce);
                    self.report(Err(WorkerError::NotIncluded {
                        topic_id,
                        nonce,
                        txhash: txhash.clone(),
                    }));
                }
            }
            SubmitError::DeadlinePassed => {
                for ready in batch {
                    let (topic_id, nonce) = (ready.window.topic_id, ready.window.nonce);
                    self.finish(topic_id, nonce);
                    self.record(
                        topic_id,
                        nonce,
                        WindowState::Abandoned {
                            reason: "window deadline passed before sending".into(),
                        },
                    );
                    self.report(Err(WorkerError::WindowMissed {
                        topic_id,
                        nonce,
                        reason: "the window's deadline passed before the payload could be sent"
                            .into(),
                    }));
                }
            }
            other => {
                let reason = other.to_string();
                for ready in batch {
                    let (topic_id, nonce) = (ready.window.topic_id, ready.window.nonce);
                    self.forget(topic_id, nonce);
                    self.report(Err(WorkerError::Unavailable {
                        topic_id,
                        nonce,
                        reason: reason.clone(),
                    }));
                }
            }
        }
    }

    fn requeue(&mut self, batch: Vec<Ready>, solo: bool) {
        let now = Instant::now();
        for mut ready in batch {
            if ready.window.send_by <= now {
                let (topic_id, nonce) = (ready.window.topic_id, ready.window.nonce);
                self.finish(topic_id, nonce);
                self.record(
                    topic_id,
                    nonce,
                    WindowState::Abandoned {
                        reason: "window deadline passed before resending".into(),
                    },
                );
                self.report(Err(WorkerError::WindowMissed {
                    topic_id,
                    nonce,
                    reason: "the window's deadline passed before the payload could be resent"
                        .into(),
                }));
                continue;
            }
            ready.solo = ready.solo || solo;
            self.ready_since.get_or_insert(now);
            self.ready.push(ready);
        }
    }

    /// Sends what is ready, batched, when nothing else is about to be ready
    /// or the linger time is up.
    fn maybe_flush(&mut self, force: bool) {
        if self.ready.is_empty() {
            self.ready_since = None;
            return;
        }
        let max = self.config.max_messages_per_tx;
        if !(force || self.providers_running == 0 || self.ready.len() >= max) {
            return;
        }
        let ready = std::mem::take(&mut self.ready);
        self.ready_since = None;
        let (solo, mut batchable): (Vec<Ready>, Vec<Ready>) =
            ready.into_iter().partition(|r| r.solo);
        let mut batches: Vec<Vec<Ready>> = solo.into_iter().map(|r| vec![r]).collect();
        while !batchable.is_empty() {
            let rest = batchable.split_off(batchable.len().min(max));
            batches.push(std::mem::replace(&mut batchable, rest));
        }
        for batch in batches {
            self.spawn_submit(batch);
        }
    }

    fn spawn_submit(&mut self, batch: Vec<Ready>) {
        let pipeline = self.pipeline.clone();
        let store = self.store.clone();
        let windows: Vec<(u64, i64)> = batch
            .iter()
            .map(|r| (r.window.topic_id, r.window.nonce))
            .collect();
        let span = tracing::info_span!("submit", size = batch.len());
        let handle = self.tasks.spawn(
            async move {
                let result = submit(&pipeline, &store, &batch).await;
                Done::Submitted { batch, result }
            }
            .instrument(span),
        );
        self.task_windows.insert(handle.id(), (true, windows));
    }

    fn on_task_lost(&mut self, id: tokio::task::Id, error: &tokio::task::JoinError) {
        let Some((submitting, windows)) = self.task_windows.remove(&id) else {
            return;
        };
        if !submitting {
            self.providers_running = self.providers_running.saturating_sub(1);
        }
        for (topic_id, nonce) in windows {
            if error.is_cancelled() {
                // Shutdown: nothing final is recorded, so a restart serves
                // the window if it is still open.
                self.forget(topic_id, nonce);
                self.report(Err(WorkerError::NotSent { topic_id, nonce }));
            } else {
                tracing::error!(topic_id, nonce, %error, "window task failed");
                self.forget(topic_id, nonce);
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
            Ok((id, done)) => {
                self.task_windows.remove(&id);
                self.on_done(done);
            }
            Err(error) => self.on_task_lost(error.id(), &error),
        }
    }
}

async fn provide(
    pipeline: &TxPipeline,
    spec: &TopicSpec,
    window: &Window,
    deadline: Instant,
) -> Result<(SignedPayload, Duration), WorkerError> {
    let (topic_id, nonce) = (window.topic_id, window.nonce);
    let mut request = InferenceRequest::new(topic_id, nonce, deadline);
    if let Some(token) = &spec.token {
        request = request.with_token(token.clone());
    }
    let started = Instant::now();
    let inference = async {
        match &spec.inference {
            Some(p) => p.infer(&request).await.map(Some),
            None => Ok(None),
        }
    };
    let forecast = async {
        match &spec.forecast {
            Some(p) => p.forecast(&request).await.map(Some),
            None => Ok(None),
        }
    };
    let provider_error = |source| WorkerError::Provider {
        topic_id,
        nonce,
        source,
    };
    let (inference, forecast) =
        match tokio::time::timeout_at(deadline, futures_util::future::join(inference, forecast))
            .await
        {
            Ok((i, f)) => (i.map_err(provider_error)?, f.map_err(provider_error)?),
            Err(_) => {
                return Err(provider_error(InferError::Timeout {
                    elapsed: started.elapsed(),
                }))
            }
        };
    let elapsed = started.elapsed();
    let mut payload = match inference {
        Some(Prediction::Single(value)) => WorkerPayload::inference(topic_id, nonce, value),
        Some(Prediction::Labeled(values)) => {
            WorkerPayload::labeled_inference(topic_id, nonce, values)
        }
        None => WorkerPayload::forecast(topic_id, nonce, []),
    };
    if let Some(values) = forecast {
        let mut elements = Vec::with_capacity(values.len());
        for v in values {
            let inferer: Address = v.inferer.parse().map_err(|e: crate::keys::KeyError| {
                provider_error(InferError::UnexpectedShape {
                    detail: format!("forecast names an invalid inferer: {e}"),
                })
            })?;
            elements.push(ForecastElement {
                inferer,
                value: v.value,
            });
        }
        payload = payload.with_forecast(elements);
    }
    let signed = payload
        .sign(pipeline.key())
        .map_err(|source| WorkerError::Payload {
            topic_id,
            nonce,
            source,
        })?;
    Ok((signed, elapsed))
}

async fn submit(
    pipeline: &TxPipeline,
    store: &SubmissionStore,
    batch: &[Ready],
) -> Result<Included, SubmitFailure> {
    let entries = batch
        .iter()
        .map(|r| {
            (
                r.window.topic_id,
                r.window.nonce,
                WindowState::Pending { tx: None },
            )
        })
        .collect();
    store
        .record_async(entries)
        .await
        .map_err(SubmitFailure::Store)?;
    let send_by = batch
        .iter()
        .map(|r| r.window.send_by)
        .min()
        .unwrap_or_else(Instant::now);
    let confirm_by = batch
        .iter()
        .map(|r| r.window.confirm_by)
        .max()
        .unwrap_or(send_by);
    let messages = batch.iter().map(|r| r.payload.to_any()).collect();
    pipeline
        .submit(messages, send_by, confirm_by)
        .await
        .map_err(SubmitFailure::Pipeline)
}

/// Polls the newest block and the open nonces of every topic.
async fn poll(
    client: ChainClient,
    topics: Vec<u64>,
    out: mpsc::Sender<ChainEvent>,
    websocket_seen: watch::Receiver<Option<Instant>>,
    intervals: (Duration, Duration),
    cancel: CancellationToken,
) {
    let (fast, slow) = intervals;
    // The websocket counts as up only while it delivers: a connection that
    // is open but stalled must not slow polling down (a stall is noticed by
    // the event stream only after its stall timeout).
    let websocket_live = |seen: &watch::Receiver<Option<Instant>>| {
        seen.borrow()
            .is_some_and(|at| at.elapsed() < fast.saturating_mul(2))
    };
    loop {
        let polled_at = Instant::now();
        match client.latest_block().await {
            Ok(block) => {
                if out
                    .send(ChainEvent::Block {
                        height: block.height,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(error) => tracing::warn!(%error, "polling the latest block failed"),
        }
        let mut polled = futures_util::stream::iter(topics.iter().copied())
            .map(|topic_id| {
                let client = client.clone();
                async move { (topic_id, client.unfulfilled_worker_nonces(topic_id).await) }
            })
            .buffer_unordered(POLL_CONCURRENCY);
        while let Some((topic_id, result)) = polled.next().await {
            match result {
                Ok(nonces) => {
                    for nonce in nonces {
                        let event = ChainEvent::WindowOpened {
                            topic_id,
                            nonce,
                            window_end: None,
                        };
                        if out.send(event).await.is_err() {
                            return;
                        }
                    }
                }
                Err(error) => tracing::warn!(topic_id, %error, "polling open nonces failed"),
            }
        }
        drop(polled);
        // Wake at the fast interval; poll again at once if the websocket is
        // not live, else when the slow interval is up.
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(fast) => {}
            }
            if !websocket_live(&websocket_seen) || polled_at.elapsed() >= slow {
                break;
            }
        }
    }
}

pub(super) async fn run(mut engine: Engine) {
    engine.load_topics().await;
    let topics: Vec<u64> = engine.specs.keys().copied().collect();
    let (events_tx, mut events_rx) = mpsc::channel::<ChainEvent>(4096);
    // When the websocket last delivered something (`None` while down).
    let (ws_seen_tx, ws_seen_rx) = watch::channel(None::<Instant>);
    let discovery = CancellationToken::new();

    let mut background = JoinSet::new();
    if let Some(url) = engine.config.websocket.clone() {
        let (ws_tx, mut ws_rx) = mpsc::channel::<ChainEvent>(4096);
        let topic_set: HashSet<u64> = topics.iter().copied().collect();
        let mut stream_config = EventStreamConfig::new(url);
        // A stall is noticed after some blocks of silence, not the default
        // 30 s, which could span many windows of a fast chain.
        stream_config.stall_timeout = (engine.config.block_time * 10)
            .clamp(Duration::from_secs(2), stream_config.stall_timeout);
        background.spawn(events::run(
            stream_config,
            topic_set,
            ws_tx,
            discovery.clone(),
        ));
        // Relay websocket events, noting the connection state for the poller.
        let relay_tx = events_tx.clone();
        background.spawn(async move {
            while let Some(event) = ws_rx.recv().await {
                let seen = match event {
                    ChainEvent::Connection(false) => None,
                    _ => Some(Instant::now()),
                };
                ws_seen_tx.send_replace(seen);
                if relay_tx.send(event).await.is_err() {
                    return;
                }
            }
        });
    }
    background.spawn(poll(
        engine.client().clone(),
        topics,
        events_tx,
        ws_seen_rx,
        (
            engine.config.poll_interval,
            engine.config.poll_interval_connected,
        ),
        discovery.clone(),
    ));

    let cancel = engine.cancel.clone();
    loop {
        let linger = engine.ready_since.map(|t| t + engine.config.batch_linger);
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(event) = events_rx.recv() => engine.on_event(event),
            Some(joined) = engine.tasks.join_next_with_id(), if !engine.tasks.is_empty() => engine.on_join(joined),
            _ = sleep_until_opt(linger), if linger.is_some() => engine.maybe_flush(true),
        }
        engine.maybe_flush(false);
    }

    // Shutdown: stop discovery, send what is ready, let in-flight work
    // finish within the grace period, abort the rest.
    discovery.cancel();
    background.shutdown().await;
    engine.maybe_flush(true);
    let grace = Instant::now() + engine.config.shutdown_grace;
    while !engine.tasks.is_empty() {
        match tokio::time::timeout_at(grace, engine.tasks.join_next_with_id()).await {
            Ok(Some(joined)) => {
                engine.on_join(joined);
                engine.maybe_flush(true);
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
    // Payloads that became ready after the last flush were never sent.
    for ready in std::mem::take(&mut engine.ready) {
        engine.report(Err(WorkerError::NotSent {
            topic_id: ready.window.topic_id,
            nonce: ready.window.nonce,
        }));
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
