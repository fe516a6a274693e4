//! Discovery: where the worker learns of blocks and open windows.
//!
//! The node's websocket delivers every block's window events as they
//! happen; polling the newest block and each topic's open nonces keeps
//! discovery going while the websocket is down (fast), catches up at once
//! when it (re)connects (events of blocks made while it subscribed are
//! lost), and catches anything it missed while it is up (slow). Both feed one channel of
//! [`ChainEvent`]s; a window found twice is the event loop's to ignore.
//!
//! Polling follows the client's emissions protocol: open nonces on chains
//! whose windows are counted in blocks, the topics' scheduler epochs (with
//! their close times) on wall-clock chains. An emissions query refused in
//! the version in use is passed on ([`ChainEvent::EmissionsRefused`]) so the
//! event loop asks the chain again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::events::{self, ChainEvent, EventStreamConfig};
use crate::client::{ChainClient, ClientError};
use crate::emissions::WindowMode;

/// Queries in flight at once while polling many topics.
const POLL_CONCURRENCY: usize = 16;
/// Events buffered between discovery and the event loop.
const EVENT_BUFFER: usize = 4096;

/// How discovery runs.
#[derive(Debug, Clone)]
pub(super) struct DiscoveryConfig {
    /// The node's websocket, if any.
    pub(super) websocket: Option<String>,
    /// Poll interval while the websocket is down.
    pub(super) poll_fast: Duration,
    /// Poll interval while it is up.
    pub(super) poll_slow: Duration,
    /// Block time assumed (a stalled websocket is noticed after some blocks).
    pub(super) block_time: Duration,
}

/// Running discovery; [`Discovery::stop`] ends it.
#[derive(Debug)]
pub(super) struct Discovery {
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

impl Discovery {
    /// Starts the websocket (when configured) and the poller for `topics`;
    /// ringing `poll_now` makes the poller poll at once.
    pub(super) fn start(
        client: ChainClient,
        topics: Vec<u64>,
        config: DiscoveryConfig,
        poll_now: Arc<Notify>,
    ) -> (Discovery, mpsc::Receiver<ChainEvent>) {
        let (events_tx, events_rx) = mpsc::channel::<ChainEvent>(EVENT_BUFFER);
        // When the websocket last delivered something (`None` while down).
        let (ws_seen_tx, ws_seen_rx) = watch::channel(None::<Instant>);
        // Also rung when the websocket (re)connects: events of blocks made
        // while it was subscribing are lost, so the poller catches up at once.
        let catch_up = poll_now;
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        if let Some(url) = config.websocket.clone() {
            let (ws_tx, mut ws_rx) = mpsc::channel::<ChainEvent>(EVENT_BUFFER);
            let topic_set: HashSet<u64> = topics.iter().copied().collect();
            let mut stream_config = EventStreamConfig::new(url);
            // A stall is noticed after some blocks of silence, not the default
            // 30 s, which could span many windows of a fast chain.
            stream_config.stall_timeout =
                (config.block_time * 10).clamp(Duration::from_secs(2), stream_config.stall_timeout);
            tasks.spawn(events::run(stream_config, topic_set, ws_tx, cancel.clone()));
            // Relay websocket events, noting the connection state for the poller.
            let relay_tx = events_tx.clone();
            let connected = Arc::clone(&catch_up);
            tasks.spawn(async move {
                while let Some(event) = ws_rx.recv().await {
                    let seen = match event {
                        ChainEvent::Connection(false) => None,
                        ChainEvent::Connection(true) => {
                            connected.notify_one();
                            Some(Instant::now())
                        }
                        _ => Some(Instant::now()),
                    };
                    ws_seen_tx.send_replace(seen);
                    if relay_tx.send(event).await.is_err() {
                        return;
                    }
                }
            });
        }
        tasks.spawn(poll(
            client,
            topics,
            events_tx,
            ws_seen_rx,
            catch_up,
            (config.poll_fast, config.poll_slow),
            cancel.clone(),
        ));
        (Discovery { cancel, tasks }, events_rx)
    }

    /// Stops discovery and waits for its tasks.
    pub(super) async fn stop(mut self) {
        self.cancel.cancel();
        self.tasks.shutdown().await;
    }
}

/// Reads each topic's window length (`worker_submission_window`, in
/// blocks). Topics that cannot be read are left out (their window ends are
/// then taken from the window events).
pub(super) async fn window_lengths(client: &ChainClient, topics: Vec<u64>) -> Vec<(u64, i64)> {
    let mut fetched = futures_util::stream::iter(topics)
        .map(|id| {
            let client = client.clone();
            async move { (id, client.topic(id).await) }
        })
        .buffer_unordered(POLL_CONCURRENCY);
    let mut lengths = Vec::new();
    while let Some((id, result)) = fetched.next().await {
        match result {
            Ok(topic) => lengths.push((id, topic.worker_submission_window)),
            Err(error) => {
                tracing::warn!(topic_id = id, %error, "could not read the topic; its window length is taken from events");
            }
        }
    }
    lengths
}

/// The open windows of a topic: its unfulfilled nonces when windows are
/// counted in blocks, its scheduler epochs taking payloads (with their close
/// times) when they are wall-clock.
async fn open_windows(
    client: &ChainClient,
    topic_id: u64,
    windows: Option<WindowMode>,
) -> Result<Vec<ChainEvent>, ClientError> {
    if windows == Some(WindowMode::WallClock) {
        let epochs = client.topic_epochs(topic_id).await?;
        return Ok(epochs
            .into_iter()
            .filter(|w| w.accepting)
            .map(ChainEvent::EpochWindow)
            .collect());
    }
    let nonces = client.unfulfilled_worker_nonces(topic_id).await?;
    Ok(nonces
        .into_iter()
        .map(|nonce| ChainEvent::WindowOpened {
            topic_id,
            nonce,
            window_end: None,
        })
        .collect())
}

/// Polls the newest block and the open windows of every topic: at once
/// when the websocket (re)connects, then at the fast interval while the
/// websocket is not delivering and at the slow one while it is.
async fn poll(
    client: ChainClient,
    topics: Vec<u64>,
    out: mpsc::Sender<ChainEvent>,
    websocket_seen: watch::Receiver<Option<Instant>>,
    catch_up: Arc<Notify>,
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
        // One round's calls end by the time the next round is due.
        let client = client.with_deadline(polled_at + slow);
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
        let windows = client.protocol().map(|p| p.windows());
        let mut polled = futures_util::stream::iter(topics.iter().copied())
            .map(|topic_id| {
                let client = client.clone();
                async move { (topic_id, open_windows(&client, topic_id, windows).await) }
            })
            .buffer_unordered(POLL_CONCURRENCY);
        let mut refused = None;
        while let Some((topic_id, result)) = polled.next().await {
            match result {
                Ok(found) => {
                    for event in found {
                        if out.send(event).await.is_err() {
                            return;
                        }
                    }
                }
                Err(error) if error.suggests_other_emissions_version() => {
                    refused.get_or_insert_with(|| error.to_string());
                }
                Err(error) => tracing::warn!(topic_id, %error, "polling open windows failed"),
            }
        }
        drop(polled);
        if let Some(reason) = refused {
            if out
                .send(ChainEvent::EmissionsRefused { reason })
                .await
                .is_err()
            {
                return;
            }
        }
        // Wake at the fast interval; poll again at once if the websocket is
        // not live, else when the slow interval is up.
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = catch_up.notified() => break,
                _ = tokio::time::sleep(fast) => {}
            }
            if !websocket_live(&websocket_seen) || polled_at.elapsed() >= slow {
                break;
            }
        }
    }
}
