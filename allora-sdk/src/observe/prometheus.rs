//! Prometheus metrics fed by the worker's [`WorkerObserver`] hooks, served
//! with `/healthz` (feature `prometheus`).
//!
//! Metrics (all prefixed `allora_worker_`):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `submissions_total` | counter | `topic`, `outcome` (`included`, `not_admitted`, `already_submitted`, `failed`) |
//! | `failures_total` | counter | `kind` (the worker error's [`kind`](WorkerError::kind): `not_registered`, `nonce_not_open`, `invalid_label_name`, `fee_above_maximum`, `forecast_timeout`, `value_refused`, `unavailable`...) |
//! | `topic_state` | gauge (0/1) | `topic`, `state` (`serving`, or why it is suspended: `not_registered`, `not_permitted`, `topic_missing`, `labels`, `insufficient_funds`...; 1 for the current state) |
//! | `balance_uallo` | gauge | |
//! | `block_height` | gauge | |
//! | `websocket_connected` | gauge (0/1) | |
//! | `window_to_broadcast_seconds` | histogram | |
//! | `broadcast_to_included_seconds` | histogram | |
//! | `inference_seconds` | histogram | |
//! | `emissions_version` | gauge | | the `N` of the `emissions.vN` the chain speaks (0 until known) |
//! | `emissions_supported` | gauge (0/1) | | whether this build speaks it |
//! | `emissions_wall_clock` | gauge (0/1) | | whether its windows are wall-clock |
//!
//! plus any counter added with [`PrometheusObserver::register_counter_fn`]
//! (such as the CloudWatch exporter's dropped samples).
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use allora_sdk::observe::prometheus::{bind, serve, PrometheusObserver};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let metrics = Arc::new(PrometheusObserver::new(Duration::from_secs(60)));
//! let listener = bind("127.0.0.1:9464".parse()?, false).await?;
//! let stop = CancellationToken::new();
//! let server = serve(listener, Arc::clone(&metrics), stop.clone());
//! // ... Worker::builder().observer(metrics) ...
//! stop.cancel();
//! server.await?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::emissions::{EmissionsStatus, WindowMode};
use crate::worker::{Submission, TopicState, WorkerError, WorkerObserver};

/// The prefix of every metric name.
pub const PREFIX: &str = "allora_worker";

/// Why the metrics server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrometheusError {
    /// The address is reachable from other hosts and that was not allowed.
    #[error("refusing to serve metrics on {addr}, which is not a loopback address; allow public metrics explicitly if it must be reachable from other hosts")]
    PublicAddress {
        /// The requested address.
        addr: SocketAddr,
    },
    /// Listening failed (address in use, no permission).
    #[error("cannot serve metrics on {addr}: {source}; choose another address")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubmissionLabels {
    topic: u64,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicStateLabels {
    topic: u64,
    state: &'static str,
}

/// The worker's Prometheus metrics and its health. Implements
/// [`WorkerObserver`]; share it in an `Arc`.
#[derive(Debug)]
pub struct PrometheusObserver {
    registry: Registry,
    submissions: Family<SubmissionLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    topic_states: Family<TopicStateLabels, Gauge<i64, AtomicI64>>,
    /// Each topic's current state label (to zero it when it changes).
    current_states: Mutex<HashMap<u64, &'static str>>,
    balance: Gauge<f64, AtomicU64>,
    height: Gauge<i64, AtomicI64>,
    websocket: Gauge<i64, AtomicI64>,
    window_to_broadcast: Histogram,
    broadcast_to_included: Histogram,
    inference: Histogram,
    emissions_version: Gauge<i64, AtomicI64>,
    emissions_supported: Gauge<i64, AtomicI64>,
    emissions_wall_clock: Gauge<i64, AtomicI64>,
    last_block: Mutex<Option<Instant>>,
    max_block_age: Duration,
    /// Why the chain cannot be served, when it speaks no supported version.
    unsupported: Mutex<Option<String>>,
}

impl PrometheusObserver {
    /// Registers the metrics; [`healthy`](Self::healthy) (and `/healthz`)
    /// fails once no block was seen for `max_block_age`, and while the chain
    /// speaks no emissions version this build supports.
    pub fn new(max_block_age: Duration) -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let submissions = Family::<SubmissionLabels, Counter>::default();
        registry.register(
            "submissions",
            "Windows served, by topic and outcome",
            submissions.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register("failures", "Failures, by kind", failures.clone());
        let topic_states = Family::<TopicStateLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "topic_state",
            "Whether each topic is served or suspended, and why (1 for its current state)",
            topic_states.clone(),
        );
        let balance = Gauge::<f64, AtomicU64>::default();
        registry.register("balance_uallo", "Account balance in uallo", balance.clone());
        let height = Gauge::<i64, AtomicI64>::default();
        registry.register("block_height", "Last block height seen", height.clone());
        let websocket = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "websocket_connected",
            "Whether the event websocket is connected (1) or not (0)",
            websocket.clone(),
        );
        let seconds = || Histogram::new(exponential_buckets(0.05, 2.0, 12));
        let window_to_broadcast = seconds();
        registry.register(
            "window_to_broadcast_seconds",
            "From discovering a window to the mempool accepting its payload",
            window_to_broadcast.clone(),
        );
        let broadcast_to_included = seconds();
        registry.register(
            "broadcast_to_included_seconds",
            "From the mempool accepting a payload to seeing it in a block",
            broadcast_to_included.clone(),
        );
        let inference = seconds();
        registry.register(
            "inference_seconds",
            "Provider call latency",
            inference.clone(),
        );
        let emissions_version = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "emissions_version",
            "The emissions version the chain speaks (N of emissions.vN; 0 until known)",
            emissions_version.clone(),
        );
        let emissions_supported = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "emissions_supported",
            "Whether this build speaks the chain's emissions version (1) or not (0)",
            emissions_supported.clone(),
        );
        let emissions_wall_clock = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "emissions_wall_clock",
            "Whether the chain's windows are wall-clock (1) or counted in blocks (0)",
            emissions_wall_clock.clone(),
        );
        PrometheusObserver {
            emissions_version,
            emissions_supported,
            emissions_wall_clock,
            unsupported: Mutex::new(None),
            registry,
            submissions,
            failures,
            topic_states,
            current_states: Mutex::new(HashMap::new()),
            balance,
            height,
            websocket,
            window_to_broadcast,
            broadcast_to_included,
            inference,
            last_block: Mutex::new(None),
            max_block_age,
        }
    }

    /// Adds a counter whose value is read from `value` at every scrape, such
    /// as a count kept by another component. `name` gets the
    /// `allora_worker_` prefix and the `_total` suffix.
    pub fn register_counter_fn(
        &mut self,
        name: &'static str,
        help: &'static str,
        value: impl Fn() -> u64 + Send + Sync + 'static,
    ) {
        // The registry adds the prefix.
        self.registry.register_collector(Box::new(CounterFn {
            name: name.to_owned(),
            help,
            value: Box::new(value),
        }));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; an error would mean a bug in a
        // metric's encoder, and an empty answer is the honest fallback.
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }

    /// Whether a block was seen within the allowed age and the chain
    /// speaks an emissions version this build supports.
    pub fn healthy(&self) -> bool {
        self.unsupported_reason().is_none()
            && self
                .block_age()
                .is_some_and(|age| age <= self.max_block_age)
    }

    /// Why the chain cannot be served, while it speaks no emissions version
    /// this build supports.
    pub fn unsupported_reason(&self) -> Option<String> {
        match self.unsupported.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Time since the last block, if one was seen.
    pub fn block_age(&self) -> Option<Duration> {
        let last = match self.last_block.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        };
        last.map(|at| at.elapsed())
    }
}

impl WorkerObserver for PrometheusObserver {
    fn submission(&self, submission: &Submission) {
        let outcome = submission.outcome.as_str();
        self.submissions
            .get_or_create(&SubmissionLabels {
                topic: submission.topic_id,
                outcome,
            })
            .inc();
        if let Some(d) = submission.latency.window_to_broadcast {
            self.window_to_broadcast.observe(d.as_secs_f64());
        }
        if let Some(d) = submission.latency.broadcast_to_included {
            self.broadcast_to_included.observe(d.as_secs_f64());
        }
    }

    fn failure(&self, error: &WorkerError) {
        self.failures
            .get_or_create(&FailureLabels { kind: error.kind() })
            .inc();
        if let Some((topic, _)) = error.window() {
            self.submissions
                .get_or_create(&SubmissionLabels {
                    topic,
                    outcome: "failed",
                })
                .inc();
        }
    }

    fn balance(&self, uallo: u128) {
        // A gauge is a float; precision loss above 2^53 uallo is acceptable.
        self.balance.set(uallo as f64);
    }

    fn inference_latency(&self, _topic_id: u64, latency: Duration) {
        self.inference.observe(latency.as_secs_f64());
    }

    fn websocket(&self, connected: bool) {
        self.websocket.set(i64::from(connected));
    }

    fn topic_state(&self, topic_id: u64, state: &TopicState) {
        let label = state.as_str();
        let previous = {
            let mut current = match self.current_states.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            current.insert(topic_id, label)
        };
        if let Some(previous) = previous.filter(|p| *p != label) {
            self.topic_states
                .get_or_create(&TopicStateLabels {
                    topic: topic_id,
                    state: previous,
                })
                .set(0);
        }
        self.topic_states
            .get_or_create(&TopicStateLabels {
                topic: topic_id,
                state: label,
            })
            .set(1);
    }

    fn block(&self, height: i64) {
        self.height.set(height);
        match self.last_block.lock() {
            Ok(mut guard) => *guard = Some(Instant::now()),
            Err(poisoned) => *poisoned.into_inner() = Some(Instant::now()),
        }
    }

    fn emissions(&self, status: &EmissionsStatus) {
        let (version, supported, wall_clock, reason) = match status {
            EmissionsStatus::Supported(protocol) => (
                Some(protocol.version()),
                true,
                protocol.windows() == WindowMode::WallClock,
                None,
            ),
            EmissionsStatus::Unsupported(unsupported) => (
                unsupported.chain,
                false,
                false,
                Some(unsupported.to_string()),
            ),
        };
        self.emissions_version
            .set(version.map_or(0, |v| i64::from(v.number())));
        self.emissions_supported.set(i64::from(supported));
        self.emissions_wall_clock.set(i64::from(wall_clock));
        match self.unsupported.lock() {
            Ok(mut guard) => *guard = reason,
            Err(poisoned) => *poisoned.into_inner() = reason,
        }
    }
}

/// A counter read from a closure at scrape time.
struct CounterFn {
    name: String,
    help: &'static str,
    value: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for CounterFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterFn")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Collector for CounterFn {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counter = ConstCounter::new((self.value)());
        let metric =
            encoder.encode_descriptor(&self.name, self.help, None, counter.metric_type())?;
        counter.encode(metric)
    }
}

/// The `/metrics` and `/healthz` routes.
pub fn router(metrics: Arc<PrometheusObserver>) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(serve_health))
        .with_state(metrics)
}

async fn serve_metrics(State(metrics): State<Arc<PrometheusObserver>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}

async fn serve_health(State(metrics): State<Arc<PrometheusObserver>>) -> impl IntoResponse {
    if let Some(reason) = metrics.unsupported_reason() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {reason}\n"),
        );
    }
    match metrics.block_age() {
        Some(age) if metrics.healthy() => (
            StatusCode::OK,
            format!("ok: last block {:.1}s ago\n", age.as_secs_f64()),
        ),
        Some(age) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: no block for {:.1}s\n", age.as_secs_f64()),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy: no block seen yet\n".to_owned(),
        ),
    }
}

/// Listens on `addr` for the metrics server; a non-loopback address needs
/// `allow_public`. Port 0 picks a free port (see the listener's
/// `local_addr`).
pub async fn bind(
    addr: SocketAddr,
    allow_public: bool,
) -> Result<tokio::net::TcpListener, PrometheusError> {
    if !addr.ip().is_loopback() && !allow_public {
        return Err(PrometheusError::PublicAddress { addr });
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| PrometheusError::Bind { addr, source })
}

/// Serves `/metrics` and `/healthz` on `listener` until `stop` is cancelled.
pub fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<PrometheusObserver>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let served = axum::serve(listener, router(metrics))
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the metrics server stopped");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::{Latency, Outcome};

    #[test]
    fn submissions_health_and_counter_fns_are_reported() {
        let mut metrics = PrometheusObserver::new(Duration::from_secs(60));
        let dropped = Arc::new(AtomicU64::new(0));
        let read = Arc::clone(&dropped);
        metrics.register_counter_fn("things_dropped", "Things dropped", move || {
            read.load(std::sync::atomic::Ordering::Relaxed)
        });
        assert!(!metrics.healthy());
        metrics.block(42);
        assert!(metrics.healthy());
        metrics.submission(&Submission {
            topic_id: 7,
            nonce: 40,
            outcome: Outcome::Included,
            txhash: Some("AB".into()),
            height: Some(42),
            fee: None,
            batch_size: 1,
            latency: Latency {
                inference: Duration::from_millis(5),
                window_to_broadcast: Some(Duration::from_millis(300)),
                broadcast_to_included: Some(Duration::from_millis(900)),
            },
        });
        metrics.failure(&WorkerError::NotSent {
            topic_id: 7,
            nonce: 41,
        });
        metrics.balance(1_000);
        dropped.store(3, std::sync::atomic::Ordering::Relaxed);
        let text = metrics.encode();
        for expected in [
            "allora_worker_submissions_total{topic=\"7\",outcome=\"included\"} 1",
            "allora_worker_submissions_total{topic=\"7\",outcome=\"failed\"} 1",
            "allora_worker_failures_total{kind=\"not_sent\"} 1",
            "allora_worker_block_height 42",
            "allora_worker_balance_uallo 1000.0",
            "allora_worker_broadcast_to_included_seconds_count 1",
            "allora_worker_things_dropped_total 3",
        ] {
            assert!(text.lines().any(|l| l == expected), "{expected}\n{text}");
        }
    }

    #[test]
    fn topic_states_show_the_current_one() {
        use crate::worker::{SuspendReason, Suspension};
        let metrics = PrometheusObserver::new(Duration::from_secs(60));
        metrics.topic_state(1, &TopicState::Serving);
        metrics.topic_state(
            2,
            &TopicState::Suspended(Suspension {
                reason: SuspendReason::NotRegistered,
                detail: "register it".into(),
                since_height: None,
                next_check_height: None,
            }),
        );
        metrics.failure(&WorkerError::FeeAboveMaximum {
            topic_id: 1,
            nonce: 10,
            required: 4500,
            maximum: 3000,
        });
        let text = metrics.encode();
        for expected in [
            "allora_worker_topic_state{topic=\"1\",state=\"serving\"} 1",
            "allora_worker_topic_state{topic=\"2\",state=\"not_registered\"} 1",
            "allora_worker_failures_total{kind=\"fee_above_maximum\"} 1",
        ] {
            assert!(text.lines().any(|l| l == expected), "{expected}\n{text}");
        }
        metrics.topic_state(2, &TopicState::Serving);
        let text = metrics.encode();
        for expected in [
            "allora_worker_topic_state{topic=\"2\",state=\"not_registered\"} 0",
            "allora_worker_topic_state{topic=\"2\",state=\"serving\"} 1",
        ] {
            assert!(text.lines().any(|l| l == expected), "{expected}\n{text}");
        }
    }

    #[tokio::test]
    async fn an_unsupported_emissions_version_is_unhealthy_and_measured() {
        use crate::emissions::{EmissionsVersion, Protocol, Unsupported};
        let metrics = Arc::new(PrometheusObserver::new(Duration::from_secs(60)));
        metrics.block(10);
        let wall_clock = Protocol::new(EmissionsVersion::V10, WindowMode::WallClock).unwrap();
        metrics.emissions(&EmissionsStatus::Supported(wall_clock));
        assert!(metrics.healthy());
        let text = metrics.encode();
        for expected in [
            "allora_worker_emissions_version 10",
            "allora_worker_emissions_supported 1",
            "allora_worker_emissions_wall_clock 1",
        ] {
            assert!(text.lines().any(|l| l == expected), "{expected}\n{text}");
        }
        metrics.emissions(&EmissionsStatus::Unsupported(Unsupported {
            chain: Some(EmissionsVersion::new(11)),
        }));
        assert!(
            !metrics.healthy(),
            "blocks still come, but nothing can be signed"
        );
        let text = metrics.encode();
        for expected in [
            "allora_worker_emissions_version 11",
            "allora_worker_emissions_supported 0",
        ] {
            assert!(text.lines().any(|l| l == expected), "{expected}\n{text}");
        }
        let response = serve_health(State(Arc::clone(&metrics)))
            .await
            .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(body.to_vec()).unwrap(),
            "unhealthy: the chain speaks emissions v11; this build of allora-rs supports v9, v10: upgrade allora-rs\n"
        );
        // Back on a supported version: healthy again.
        metrics.emissions(&EmissionsStatus::Supported(wall_clock));
        assert!(metrics.healthy());
    }

    #[tokio::test]
    async fn a_public_address_is_refused_unless_allowed() {
        let public: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(matches!(
            bind(public, false).await,
            Err(PrometheusError::PublicAddress { .. })
        ));
        assert!(bind("127.0.0.1:0".parse().unwrap(), false).await.is_ok());
    }
}
