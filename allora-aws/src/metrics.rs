//! A CloudWatch sink for worker metrics.
//!
//! [`CloudWatchMetrics`] is a cheap, cloneable handle. [`CloudWatchMetrics::record`]
//! only tries to put the metric on a bounded queue: it never waits, so a
//! slow or unreachable CloudWatch can never delay a submission. When the queue
//! is full, or CloudWatch keeps failing, metrics are dropped and counted
//! ([`CloudWatchMetrics::dropped`]).
//!
//! A background task drains the queue. Within one flush interval it
//! aggregates every sample of the same metric (name, unit and dimensions) into
//! a single datum (a statistic set when there are several samples), and sends
//! them with `PutMetricData`, up to 1000 data per request. A failed request is
//! retried once; then its samples are dropped and counted.
//!
//! ```no_run
//! use std::time::Duration;
//! use allora_aws::metrics::{names, CloudWatchMetrics, CloudWatchSinkConfig, Metric};
//!
//! # async fn example() -> Result<(), allora_aws::metrics::MetricsError> {
//! let aws = allora_aws::sdk_config::config_loader().load().await;
//! let metrics = CloudWatchMetrics::spawn(
//!     &aws,
//!     CloudWatchSinkConfig::default().instance_id("i-0123456789abcdef0"),
//! )?;
//! metrics.record(Metric::count(names::SUBMISSIONS, 1).with_topic(69));
//! metrics.record(
//!     Metric::duration(names::INFERENCE_LATENCY, Duration::from_millis(420)).with_topic(69),
//! );
//! // On exit: send what is still buffered.
//! metrics.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::config::retry::RetryConfig;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};
use aws_sdk_cloudwatch::Client;
use aws_smithy_types::error::display::DisplayErrorContext;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// Names of the metrics a worker reports, and of their dimensions.
pub mod names {
    /// Windows served (`Count`), with an [`OUTCOME`] dimension.
    pub const SUBMISSIONS: &str = "Submissions";
    /// Failures (`Count`), with a [`FAILURE_KIND`] dimension.
    pub const SUBMISSION_FAILURES: &str = "SubmissionFailures";
    /// Time from a worker window opening to the transaction's broadcast
    /// (`Milliseconds`).
    pub const WINDOW_OPEN_TO_BROADCAST: &str = "WindowOpenToBroadcastLatency";
    /// Time from broadcast to inclusion in a block (`Milliseconds`).
    pub const BROADCAST_TO_INCLUSION: &str = "BroadcastToInclusionLatency";
    /// Time from a worker window opening to the payload's inclusion in a
    /// block (`Milliseconds`).
    pub const WINDOW_OPEN_TO_INCLUSION: &str = "WindowOpenToInclusionLatency";
    /// The worker account's balance in uallo (`None`).
    pub const BALANCE: &str = "BalanceUallo";
    /// Time the inference provider took to produce a value (`Milliseconds`).
    pub const INFERENCE_LATENCY: &str = "InferenceLatency";
    /// The last block height the worker saw (`None`).
    pub const BLOCK_HEIGHT: &str = "BlockHeight";
    /// Whether the node's event websocket is connected: 1 or 0 (`None`).
    pub const WEBSOCKET_CONNECTED: &str = "WebsocketConnected";
    /// Whether this build speaks the chain's emissions version: 1 or 0
    /// (`None`); 0 means nothing can be signed until allora-rs is upgraded.
    pub const EMISSIONS_SUPPORTED: &str = "EmissionsSupported";
    /// The emissions version the chain speaks, the `N` of `emissions.vN`,
    /// when known (`None`).
    pub const EMISSIONS_VERSION: &str = "EmissionsVersion";

    /// Dimension naming the EC2 instance, added to every metric.
    pub const INSTANCE_ID: &str = "InstanceId";
    /// Dimension naming the AWS region of the instance, added to every metric.
    pub const REGION: &str = "Region";
    /// Dimension naming the Allora topic a metric is about.
    pub const TOPIC_ID: &str = "TopicId";
    /// Dimension naming how a window ended: `included`, `already_submitted`
    /// or `failed`.
    pub const OUTCOME: &str = "Outcome";
    /// Dimension naming why something failed: the worker error's kind (for
    /// example `window_missed`, `provider_timeout`, `unavailable`).
    pub const FAILURE_KIND: &str = "FailureKind";
}

/// Namespace used unless configured otherwise.
pub const DEFAULT_NAMESPACE: &str = "Allora/Worker";
/// How often buffered metrics are sent unless configured otherwise.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(60);
/// The most data `PutMetricData` accepts in one request.
pub const MAX_DATA_PER_REQUEST: usize = 1000;
/// Metrics the queue holds before `record` starts dropping them.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// The most dimensions CloudWatch accepts on one metric.
pub const MAX_DIMENSIONS: usize = 30;
/// Pause before the one retry of a failed `PutMetricData`.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// The unit of a metric's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Unit {
    /// A number of events.
    Count,
    /// A duration in milliseconds.
    Milliseconds,
    /// A duration in seconds.
    Seconds,
    /// A size in bytes.
    Bytes,
    /// A percentage.
    Percent,
    /// No unit (for example a balance in uallo).
    None,
}

impl Unit {
    fn to_cloudwatch(self) -> StandardUnit {
        match self {
            Unit::Count => StandardUnit::Count,
            Unit::Milliseconds => StandardUnit::Milliseconds,
            Unit::Seconds => StandardUnit::Seconds,
            Unit::Bytes => StandardUnit::Bytes,
            Unit::Percent => StandardUnit::Percent,
            Unit::None => StandardUnit::None,
        }
    }
}

/// One sample of a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    name: Cow<'static, str>,
    value: f64,
    unit: Unit,
    dimensions: Vec<(Cow<'static, str>, String)>,
    timestamp: SystemTime,
}

impl Metric {
    /// A sample taken now.
    pub fn new(name: impl Into<Cow<'static, str>>, value: f64, unit: Unit) -> Self {
        Metric {
            name: name.into(),
            value,
            unit,
            dimensions: Vec::new(),
            timestamp: SystemTime::now(),
        }
    }

    /// A count of events.
    pub fn count(name: impl Into<Cow<'static, str>>, count: u64) -> Self {
        // Counts beyond 2^53 lose precision, far above anything a worker counts.
        Metric::new(name, count as f64, Unit::Count)
    }

    /// A duration, reported in milliseconds.
    pub fn duration(name: impl Into<Cow<'static, str>>, duration: Duration) -> Self {
        Metric::new(name, duration.as_secs_f64() * 1000.0, Unit::Milliseconds)
    }

    /// Adds a dimension; one with the same name as a default dimension
    /// replaces it for this metric.
    pub fn with_dimension(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        self.dimensions.push((name.into(), value.into()));
        self
    }

    /// Adds the [`names::TOPIC_ID`] dimension.
    pub fn with_topic(self, topic_id: u64) -> Self {
        self.with_dimension(names::TOPIC_ID, topic_id.to_string())
    }

    /// Sets when the sample was taken (default: when it was made).
    pub fn at(mut self, timestamp: SystemTime) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The unit.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// The dimensions given to this sample, without the sink's defaults.
    pub fn dimensions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.dimensions
            .iter()
            .map(|(name, value)| (name.as_ref(), value.as_str()))
    }
}

/// Settings of a [`CloudWatchMetrics`] sink.
#[derive(Debug, Clone)]
pub struct CloudWatchSinkConfig {
    namespace: String,
    flush_interval: Duration,
    max_data_per_request: usize,
    queue_capacity: usize,
    default_dimensions: Vec<(String, String)>,
}

impl Default for CloudWatchSinkConfig {
    fn default() -> Self {
        CloudWatchSinkConfig {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            max_data_per_request: MAX_DATA_PER_REQUEST,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            default_dimensions: Vec::new(),
        }
    }
}

impl CloudWatchSinkConfig {
    /// The CloudWatch namespace (default [`DEFAULT_NAMESPACE`]).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How often buffered metrics are sent (default 60 s). Metrics are also
    /// sent as soon as a full request's worth is buffered.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Data per `PutMetricData` request, at most [`MAX_DATA_PER_REQUEST`].
    pub fn max_data_per_request(mut self, max: usize) -> Self {
        self.max_data_per_request = max.clamp(1, MAX_DATA_PER_REQUEST);
        self
    }

    /// How many unsent metrics may wait before `record` drops new ones
    /// (default [`DEFAULT_QUEUE_CAPACITY`]).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// Adds a dimension to every metric.
    pub fn default_dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.default_dimensions.retain(|(n, _)| *n != name);
        self.default_dimensions.push((name, value.into()));
        self
    }

    /// Adds the [`names::INSTANCE_ID`] dimension to every metric.
    pub fn instance_id(self, instance_id: impl Into<String>) -> Self {
        self.default_dimension(names::INSTANCE_ID, instance_id)
    }

    /// Adds the [`names::INSTANCE_ID`] and [`names::REGION`] dimensions of
    /// an EC2 instance to every metric.
    pub fn instance(self, identity: &crate::imds::InstanceIdentity) -> Self {
        self.instance_id(identity.instance_id.clone())
            .default_dimension(names::REGION, identity.region.clone())
    }
}

/// Why a sink could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The sink's background task needs a Tokio runtime.
    #[error("CloudWatchMetrics::spawn must be called within a Tokio runtime")]
    NoRuntime,
    /// The namespace is empty, too long or reserved by AWS.
    #[error("invalid CloudWatch namespace {0:?}: 1-255 characters, not starting with \"AWS/\"")]
    InvalidNamespace(String),
}

struct Shared {
    dropped: AtomicU64,
    published: AtomicU64,
    stop: Notify,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A handle to a CloudWatch metrics sink. Clones share one queue and one
/// background task.
#[derive(Clone)]
pub struct CloudWatchMetrics {
    queue: mpsc::Sender<Metric>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CloudWatchMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudWatchMetrics")
            .field("dropped", &self.dropped())
            .field("published", &self.published())
            .finish_non_exhaustive()
    }
}

impl CloudWatchMetrics {
    /// Starts the sink's background task on the current Tokio runtime,
    /// sending with a CloudWatch client made from `aws`. The SDK's own retries
    /// are turned off: the sink retries a failed request once, itself.
    pub fn spawn(aws: &SdkConfig, config: CloudWatchSinkConfig) -> Result<Self, MetricsError> {
        let namespace_ok = !config.namespace.is_empty()
            && config.namespace.len() <= 255
            && !config.namespace.starts_with("AWS/");
        if !namespace_ok {
            return Err(MetricsError::InvalidNamespace(config.namespace));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MetricsError::NoRuntime)?;
        let client = Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(aws)
                .retry_config(RetryConfig::disabled())
                .build(),
        );
        let (queue, receiver) = mpsc::channel(config.queue_capacity);
        let shared = Arc::new(Shared {
            dropped: AtomicU64::new(0),
            published: AtomicU64::new(0),
            stop: Notify::new(),
            task: Mutex::new(None),
        });
        let publisher = Publisher {
            client,
            config,
            shared: Arc::clone(&shared),
            pending: BTreeMap::new(),
            failing: false,
        };
        let task = runtime.spawn(publisher.run(receiver));
        // The lock only guards an Option swap; a poisoned one still holds a valid value.
        *shared
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
        Ok(CloudWatchMetrics { queue, shared })
    }

    /// Queues a metric without waiting. Returns `false` when it was dropped
    /// because the queue is full or the sink was shut down.
    pub fn record(&self, metric: Metric) -> bool {
        match self.queue.try_send(metric) {
            Ok(()) => true,
            Err(_) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Samples dropped so far: queue full, sink shut down, invalid values, or
    /// CloudWatch failing twice.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Samples CloudWatch has accepted so far.
    pub fn published(&self) -> u64 {
        self.shared.published.load(Ordering::Relaxed)
    }

    /// Sends everything queued, then stops the background task. Later
    /// `record` calls drop their metric. Calling it again returns at once.
    pub async fn shutdown(&self) {
        self.shared.stop.notify_one();
        let task = self
            .shared
            .task
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "CloudWatch metrics task ended abnormally");
            }
        }
    }
}

/// Samples of one metric within a flush: what a statistic set needs.
struct Aggregate {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    first_seen: SystemTime,
}

/// Name, unit and sorted dimensions: samples with equal keys are aggregated.
type AggregateKey = (String, Unit, Vec<(String, String)>);

struct Publisher {
    client: Client,
    config: CloudWatchSinkConfig,
    shared: Arc<Shared>,
    pending: BTreeMap<AggregateKey, Aggregate>,
    /// Whether the last request failed: an outage is logged once, at its
    /// start and end, not at every flush.
    failing: bool,
}

impl Publisher {
    async fn run(mut self, mut queue: mpsc::Receiver<Metric>) {
        let period = self.config.flush_interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = self.shared.stop.notified() => {
                    // Take what was queued before shutdown, then refuse more.
                    queue.close();
                    while let Some(metric) = queue.recv().await {
                        self.add(metric);
                    }
                    self.flush().await;
                    return;
                }
                // Before the queue: under a steady stream of metrics the queue is
                // always ready, and a biased select would never reach the timer.
                _ = ticker.tick() => self.flush().await,
                received = queue.recv() => match received {
                    Some(metric) => {
                        self.add(metric);
                        if self.pending.len() >= self.config.max_data_per_request {
                            self.flush().await;
                        }
                    }
                    // Every handle is gone.
                    None => {
                        self.flush().await;
                        return;
                    }
                },
            }
        }
    }

    fn add(&mut self, metric: Metric) {
        if !metric.value.is_finite() || metric.name.is_empty() {
            tracing::warn!(metric = %metric.name, "dropping a metric with an empty name or a non-finite value");
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut dimensions: Vec<(String, String)> = self
            .config
            .default_dimensions
            .iter()
            .filter(|(name, _)| !metric.dimensions.iter().any(|(n, _)| n == name))
            .cloned()
            .collect();
        dimensions.extend(
            metric
                .dimensions
                .into_iter()
                .map(|(name, value)| (name.into_owned(), value)),
        );
        dimensions.sort();
        dimensions.dedup_by(|a, b| a.0 == b.0);
        if dimensions.len() > MAX_DIMENSIONS {
            tracing::warn!(metric = %metric.name, "dropping a metric with more than {MAX_DIMENSIONS} dimensions");
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let value = metric.value;
        self.pending
            .entry((metric.name.into_owned(), metric.unit, dimensions))
            .and_modify(|a| {
                a.count += 1;
                a.sum += value;
                a.min = a.min.min(value);
                a.max = a.max.max(value);
            })
            .or_insert(Aggregate {
                count: 1,
                sum: value,
                min: value,
                max: value,
                first_seen: metric.timestamp,
            });
    }

    async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let mut data = Vec::with_capacity(pending.len());
        let mut samples = Vec::with_capacity(pending.len());
        for ((name, unit, dimensions), aggregate) in pending {
            samples.push(aggregate.count);
            data.push(to_datum(name, unit, dimensions, &aggregate));
        }
        let chunk = self.config.max_data_per_request;
        for (data, samples) in data.chunks(chunk).zip(samples.chunks(chunk)) {
            let samples: u64 = samples.iter().sum();
            if self.put(data).await {
                self.shared.published.fetch_add(samples, Ordering::Relaxed);
            } else {
                self.shared.dropped.fetch_add(samples, Ordering::Relaxed);
            }
        }
    }

    /// One `PutMetricData`, retried once. Returns whether it succeeded.
    async fn put(&mut self, data: &[MetricDatum]) -> bool {
        for attempt in 1..=2 {
            let result = self
                .client
                .put_metric_data()
                .namespace(&self.config.namespace)
                .set_metric_data(Some(data.to_vec()))
                .send()
                .await;
            match result {
                Ok(_) => {
                    if self.failing {
                        self.failing = false;
                        tracing::warn!(
                            namespace = %self.config.namespace,
                            dropped_so_far = self.shared.dropped.load(Ordering::Relaxed),
                            "CloudWatch accepts metrics again"
                        );
                    }
                    return true;
                }
                Err(e) if attempt == 2 && !self.failing => {
                    self.failing = true;
                    tracing::warn!(
                        data = data.len(),
                        namespace = %self.config.namespace,
                        error = %DisplayErrorContext(&e),
                        "PutMetricData failed twice; these metrics are dropped, and so are later ones until CloudWatch accepts them again (failures are logged at debug level meanwhile)"
                    );
                }
                Err(e) => {
                    tracing::debug!(
                        attempt,
                        data = data.len(),
                        namespace = %self.config.namespace,
                        error = %DisplayErrorContext(&e),
                        "PutMetricData failed"
                    );
                    if attempt == 1 {
                        tokio::time::sleep(RETRY_DELAY).await;
                    }
                }
            }
        }
        false
    }
}

fn to_datum(
    name: String,
    unit: Unit,
    dimensions: Vec<(String, String)>,
    aggregate: &Aggregate,
) -> MetricDatum {
    let builder = MetricDatum::builder()
        .metric_name(name)
        .unit(unit.to_cloudwatch())
        .timestamp(aws_smithy_types::DateTime::from(aggregate.first_seen))
        .set_dimensions(Some(
            dimensions
                .into_iter()
                .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                .collect(),
        ));
    if aggregate.count == 1 {
        builder.value(aggregate.sum).build()
    } else {
        builder
            .statistic_values(
                StatisticSet::builder()
                    .sample_count(aggregate.count as f64)
                    .sum(aggregate.sum)
                    .minimum(aggregate.min)
                    .maximum(aggregate.max)
                    .build(),
            )
            .build()
    }
}
