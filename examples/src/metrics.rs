//! Prometheus metrics fed by the worker's [`WorkerObserver`] hooks, served
//! with `/healthz` on a loopback address.
//!
//! Metrics (all prefixed `allora_worker_`):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `submissions_total` | counter | `topic`, `outcome` (`included`, `already_submitted`, `failed`) |
//! | `failures_total` | counter | `kind` (the worker error's kind) |
//! | `balance_uallo` | gauge | |
//! | `block_height` | gauge | |
//! | `websocket_connected` | gauge (0/1) | |
//! | `window_to_broadcast_seconds` | histogram | |
//! | `broadcast_to_included_seconds` | histogram | |
//! | `inference_seconds` | histogram | |

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use allora_sdk::worker::{Outcome, Submission, WorkerError, WorkerObserver};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::error::AppError;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubmissionLabels {
    topic: u64,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    kind: &'static str,
}

/// The worker's metrics. Implements [`WorkerObserver`]; cheap to share.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    submissions: Family<SubmissionLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    balance: Gauge<f64, AtomicU64>,
    height: Gauge<i64, AtomicI64>,
    websocket: Gauge<i64, AtomicI64>,
    window_to_broadcast: Histogram,
    broadcast_to_included: Histogram,
    inference: Histogram,
    last_block: Mutex<Option<Instant>>,
    max_block_age: Duration,
}

impl Metrics {
    /// Registers the metrics; `/healthz` fails once no block was seen for
    /// `max_block_age`.
    pub fn new(max_block_age: Duration) -> Self {
        let mut registry = Registry::with_prefix("allora_worker");
        let submissions = Family::<SubmissionLabels, Counter>::default();
        registry.register(
            "submissions",
            "Windows served, by topic and outcome",
            submissions.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register("failures", "Failures, by kind", failures.clone());
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
        Metrics {
            registry,
            submissions,
            failures,
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

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; an error would mean a bug in a
        // metric's encoder, and an empty answer is the honest fallback.
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }

    /// Whether a block was seen within the allowed age.
    pub fn healthy(&self) -> bool {
        let last = match self.last_block.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        };
        last.is_some_and(|at| at.elapsed() <= self.max_block_age)
    }

    /// Seconds since the last block, if one was seen.
    fn block_age(&self) -> Option<Duration> {
        let last = match self.last_block.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        };
        last.map(|at| at.elapsed())
    }
}

impl WorkerObserver for Metrics {
    fn submission(&self, submission: &Submission) {
        let outcome = match submission.outcome {
            Outcome::Included => "included",
            Outcome::AlreadySubmitted => "already_submitted",
        };
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

    fn block(&self, height: i64) {
        self.height.set(height);
        match self.last_block.lock() {
            Ok(mut guard) => *guard = Some(Instant::now()),
            Err(poisoned) => *poisoned.into_inner() = Some(Instant::now()),
        }
    }
}

/// The `/metrics` and `/healthz` routes.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(serve_health))
        .with_state(metrics)
}

async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}

async fn serve_health(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
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

/// Binds the metrics server; a non-loopback address needs `allow_public`.
/// Returns the bound address (port 0 picks a free one).
pub async fn bind(
    addr: SocketAddr,
    allow_public: bool,
) -> Result<tokio::net::TcpListener, AppError> {
    if !addr.ip().is_loopback() && !allow_public {
        return Err(AppError::PublicMetrics { addr });
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::MetricsBind { addr, source })
}

/// Serves the metrics on `listener` until `stop` is cancelled.
pub fn spawn(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
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
    use allora_sdk::worker::Latency;

    #[test]
    fn submissions_and_health_are_reported() {
        let metrics = Metrics::new(Duration::from_secs(60));
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
        metrics.balance(1_000);
        let text = metrics.encode();
        assert!(
            text.contains("allora_worker_submissions_total{topic=\"7\",outcome=\"included\"} 1"),
            "{text}"
        );
        assert!(text.contains("allora_worker_block_height 42"), "{text}");
        assert!(text.contains("allora_worker_balance_uallo 1000"), "{text}");
        assert!(
            text.contains("allora_worker_broadcast_to_included_seconds_count 1"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_public_address_is_refused_unless_allowed() {
        let public: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(matches!(
            bind(public, false).await,
            Err(AppError::PublicMetrics { .. })
        ));
        assert!(bind("127.0.0.1:0".parse().unwrap(), false).await.is_ok());
    }
}
