//! The worker's events as CloudWatch metrics: a [`WorkerObserver`] over the
//! [`CloudWatchMetrics`] sink.
//!
//! Every hook only queues a sample ([`CloudWatchMetrics::record`] never
//! waits), so a slow or unreachable CloudWatch never delays a window; samples
//! that cannot be queued or sent are dropped and counted
//! ([`CloudWatchObserver::dropped`]).
//!
//! | event | metric | unit | dimensions besides the sink's defaults |
//! |---|---|---|---|
//! | window served | `Submissions` | Count | `Outcome` = `included` / `already_submitted` |
//! | window failed | `Submissions` | Count | `Outcome` = `failed` |
//! | any failure | `SubmissionFailures` | Count | `FailureKind` (the worker error's kind) |
//! | window served | `WindowOpenToBroadcastLatency`, `BroadcastToInclusionLatency`, `WindowOpenToInclusionLatency` | Milliseconds | |
//! | provider call | `InferenceLatency` | Milliseconds | |
//! | balance read | `BalanceUallo` | None | |
//! | block seen | `BlockHeight` | None | |
//! | websocket up/down | `WebsocketConnected` | None (1/0) | |
//! | emissions protocol found or changed | `EmissionsSupported` | None (1/0) | |
//! | same, when the chain's version is known | `EmissionsVersion` | None (the `N` of `emissions.vN`) | |
//!
//! Metrics carry no topic dimension: each distinct dimension set is a billed
//! custom metric, and per-topic detail is in the Prometheus metrics and the
//! worker's `status`. On EC2 the sink's defaults are the instance id and
//! region ([`CloudWatchSinkConfig::instance`]).

use std::time::Duration;

use allora_sdk::emissions::EmissionsStatus;
use allora_sdk::worker::{Submission, WorkerError, WorkerObserver};
use aws_config::SdkConfig;

use crate::imds::InstanceIdentity;
use crate::metrics::{names, CloudWatchMetrics, CloudWatchSinkConfig, Metric, MetricsError, Unit};

/// Feeds a CloudWatch sink from the worker's observer hooks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CloudWatchObserver {
    sink: CloudWatchMetrics,
}

impl CloudWatchObserver {
    /// Observes into an existing sink.
    pub fn new(sink: CloudWatchMetrics) -> Self {
        CloudWatchObserver { sink }
    }

    /// Starts a sink (see [`CloudWatchMetrics::spawn`]) and observes into it.
    pub fn spawn(aws: &SdkConfig, config: CloudWatchSinkConfig) -> Result<Self, MetricsError> {
        CloudWatchMetrics::spawn(aws, config).map(Self::new)
    }

    /// A worker's usual observer: metrics in `namespace`, sent every
    /// `flush_interval`, with the instance's id and region as dimensions when
    /// it runs on EC2 (`instance`, from
    /// [`identity_within`](crate::imds::identity_within)).
    pub fn for_instance(
        aws: &SdkConfig,
        namespace: impl Into<String>,
        flush_interval: Duration,
        instance: Option<&InstanceIdentity>,
    ) -> Result<Self, MetricsError> {
        let mut config = CloudWatchSinkConfig::default()
            .namespace(namespace)
            .flush_interval(flush_interval);
        match instance {
            Some(instance) => config = config.instance(instance),
            None => tracing::info!("CloudWatch metrics carry no instance dimensions (not on EC2)"),
        }
        Self::spawn(aws, config)
    }

    /// The sink.
    pub fn sink(&self) -> &CloudWatchMetrics {
        &self.sink
    }

    /// Samples dropped so far (queue full, CloudWatch unreachable or
    /// refusing, invalid values).
    pub fn dropped(&self) -> u64 {
        self.sink.dropped()
    }

    /// Samples CloudWatch accepted so far.
    pub fn published(&self) -> u64 {
        self.sink.published()
    }

    /// Counts the exporter's own health on a Prometheus registry:
    /// `cloudwatch_dropped` and `cloudwatch_published` (samples; feature
    /// `prometheus`).
    #[cfg(feature = "prometheus")]
    pub fn register_counters(
        &self,
        metrics: &mut allora_sdk::observe::prometheus::PrometheusObserver,
    ) {
        let (dropped, published) = (self.clone(), self.clone());
        metrics.register_counter_fn(
            "cloudwatch_dropped",
            "CloudWatch samples dropped (queue full, CloudWatch unreachable or refusing)",
            move || dropped.dropped(),
        );
        metrics.register_counter_fn(
            "cloudwatch_published",
            "CloudWatch samples accepted by CloudWatch",
            move || published.published(),
        );
    }

    /// Sends what is buffered and stops, waiting at most `limit` (CloudWatch
    /// may be unreachable; what is not sent by then is lost).
    pub async fn shutdown(&self, limit: Duration) {
        if tokio::time::timeout(limit, self.sink.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                limit_secs = limit.as_secs_f64(),
                "CloudWatch metrics not flushed within the shutdown limit; the rest are dropped"
            );
        }
    }

    fn record(&self, metric: Metric) {
        // A refused sample is counted by the sink; nothing to do here.
        let _ = self.sink.record(metric);
    }
}

impl WorkerObserver for CloudWatchObserver {
    fn submission(&self, submission: &Submission) {
        let outcome = submission.outcome.as_str();
        self.record(Metric::count(names::SUBMISSIONS, 1).with_dimension(names::OUTCOME, outcome));
        let latency = submission.latency;
        if let Some(d) = latency.window_to_broadcast {
            self.record(Metric::duration(names::WINDOW_OPEN_TO_BROADCAST, d));
        }
        if let Some(d) = latency.broadcast_to_included {
            self.record(Metric::duration(names::BROADCAST_TO_INCLUSION, d));
        }
        if let (Some(a), Some(b)) = (latency.window_to_broadcast, latency.broadcast_to_included) {
            self.record(Metric::duration(
                names::WINDOW_OPEN_TO_INCLUSION,
                a.saturating_add(b),
            ));
        }
    }

    fn failure(&self, error: &WorkerError) {
        self.record(
            Metric::count(names::SUBMISSION_FAILURES, 1)
                .with_dimension(names::FAILURE_KIND, error.kind()),
        );
        if error.window().is_some() {
            self.record(
                Metric::count(names::SUBMISSIONS, 1).with_dimension(names::OUTCOME, "failed"),
            );
        }
    }

    fn balance(&self, uallo: u128) {
        // A CloudWatch value is a double; precision loss above 2^53 uallo is
        // irrelevant for a balance gauge.
        self.record(Metric::new(names::BALANCE, uallo as f64, Unit::None));
    }

    fn inference_latency(&self, _topic_id: u64, latency: Duration) {
        self.record(Metric::duration(names::INFERENCE_LATENCY, latency));
    }

    fn websocket(&self, connected: bool) {
        self.record(Metric::new(
            names::WEBSOCKET_CONNECTED,
            f64::from(u8::from(connected)),
            Unit::None,
        ));
    }

    fn block(&self, height: i64) {
        self.record(Metric::new(names::BLOCK_HEIGHT, height as f64, Unit::None));
    }

    fn emissions(&self, status: &EmissionsStatus) {
        self.record(Metric::new(
            names::EMISSIONS_SUPPORTED,
            f64::from(u8::from(status.is_supported())),
            Unit::None,
        ));
        let version = match status {
            EmissionsStatus::Supported(protocol) => Some(protocol.version()),
            EmissionsStatus::Unsupported(unsupported) => unsupported.chain,
        };
        if let Some(version) = version {
            self.record(Metric::new(
                names::EMISSIONS_VERSION,
                f64::from(version.number()),
                Unit::None,
            ));
        }
    }
}
