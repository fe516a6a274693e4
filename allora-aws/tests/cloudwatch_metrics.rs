//! The CloudWatch sink against moto on loopback, and against endpoints that
//! refuse or never answer.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant, SystemTime};

use allora_aws::metrics::{names, CloudWatchMetrics, CloudWatchSinkConfig, Metric, Unit};
use allora_aws::{CloudWatchObserver, InstanceIdentity};
use allora_sdk::worker::{Latency, Outcome, Submission, WorkerError, WorkerObserver};
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use support::{free_port, listed_metrics, loopback_sdk_config, MotoServer};

const NAMESPACE: &str = "Allora/WorkerTest";
const INSTANCE: &str = "i-0123456789abcdef0";

fn has_dimension(dimensions: &[Dimension], name: &str, value: &str) -> bool {
    dimensions
        .iter()
        .any(|d| d.name() == Some(name) && d.value() == Some(value))
}

async fn list_metric_count(client: &aws_sdk_cloudwatch::Client, name: &str) -> usize {
    let metrics = listed_metrics(client, NAMESPACE, Some(name)).await;
    for metric in &metrics {
        let dimensions = metric.dimensions();
        assert!(
            has_dimension(dimensions, names::INSTANCE_ID, INSTANCE),
            "every metric carries the instance id: {dimensions:?}"
        );
    }
    metrics.len()
}

/// The sink's settings in the test namespace, for the test instance,
/// flushed every `flush_interval`.
fn sink_config(flush_interval: Duration) -> CloudWatchSinkConfig {
    CloudWatchSinkConfig::default()
        .namespace(NAMESPACE)
        .instance_id(INSTANCE)
        .flush_interval(flush_interval)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_batched_aggregated_and_visible_in_cloudwatch() {
    let moto = MotoServer::start().await;
    let aws = moto.sdk_config().await;
    let sink = CloudWatchMetrics::spawn(
        &aws,
        // Long enough that only the batch size and shutdown trigger sends.
        sink_config(Duration::from_secs(3600))
            // Smaller than CloudWatch's 1000 so that the emulator, which slows
            // down sharply with request size, answers in time on a busy machine.
            .max_data_per_request(200),
    )
    .unwrap();

    // Five samples of one metric become one statistic set.
    for latency in [100, 200, 300, 400, 500] {
        assert!(sink.record(
            Metric::duration(names::INFERENCE_LATENCY, Duration::from_millis(latency))
                .with_topic(69)
        ));
    }
    // 450 distinct metrics: three PutMetricData requests.
    for topic in 0..450u64 {
        assert!(sink.record(Metric::count(names::SUBMISSIONS, 1).with_topic(topic)));
    }
    let before = SystemTime::now() - Duration::from_secs(600);
    sink.shutdown().await;
    assert_eq!(sink.dropped(), 0);
    assert_eq!(sink.published(), 455);
    assert!(
        !sink.record(Metric::count(names::SUBMISSIONS, 1)),
        "closed after shutdown"
    );
    assert_eq!(sink.dropped(), 1);

    let client = aws_sdk_cloudwatch::Client::new(&aws);
    assert_eq!(list_metric_count(&client, names::SUBMISSIONS).await, 450);
    assert_eq!(
        list_metric_count(&client, names::INFERENCE_LATENCY).await,
        1
    );

    let stats = client
        .get_metric_statistics()
        .namespace(NAMESPACE)
        .metric_name(names::INFERENCE_LATENCY)
        .dimensions(
            Dimension::builder()
                .name(names::TOPIC_ID)
                .value("69")
                .build(),
        )
        .dimensions(
            Dimension::builder()
                .name(names::INSTANCE_ID)
                .value(INSTANCE)
                .build(),
        )
        .start_time(before.into())
        .end_time((SystemTime::now() + Duration::from_secs(600)).into())
        .period(3600)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Sum)
        .statistics(Statistic::Minimum)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap();
    let points = stats.datapoints();
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0].sample_count(), Some(5.0));
    assert_eq!(points[0].sum(), Some(1500.0));
    assert_eq!(points[0].minimum(), Some(100.0));
    assert_eq!(points[0].maximum(), Some(500.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_sent_every_flush_interval() {
    let moto = MotoServer::start().await;
    let aws = moto.sdk_config().await;
    let sink = CloudWatchMetrics::spawn(&aws, sink_config(Duration::from_millis(200))).unwrap();
    sink.record(Metric::new(names::BALANCE, 1.5e9, Unit::None));
    sink.record(
        Metric::count(names::SUBMISSION_FAILURES, 1)
            .with_topic(7)
            .with_dimension(names::FAILURE_KIND, "WindowClosed"),
    );
    let client = aws_sdk_cloudwatch::Client::new(&aws);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.published() < 2 {
        assert!(Instant::now() < deadline, "no flush within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failures = listed_metrics(&client, NAMESPACE, Some(names::SUBMISSION_FAILURES)).await;
    let window_closed = failures
        .iter()
        .filter(|m| has_dimension(m.dimensions(), names::FAILURE_KIND, "WindowClosed"));
    assert_eq!(window_closed.count(), 1, "{failures:?}");
    assert_eq!(list_metric_count(&client, names::BALANCE).await, 1);
    sink.shutdown().await;
    assert_eq!(sink.dropped(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cloudwatch_drops_and_counts_metrics() {
    // Nothing listens on this port: every request is refused at once.
    let aws = loopback_sdk_config(&format!("http://127.0.0.1:{}", free_port())).await;
    let sink = CloudWatchMetrics::spawn(
        &aws,
        CloudWatchSinkConfig::default().flush_interval(Duration::from_millis(50)),
    )
    .unwrap();
    for topic in 0..10 {
        sink.record(Metric::count(names::SUBMISSIONS, 1).with_topic(topic));
    }
    sink.record(Metric::new(names::BALANCE, f64::NAN, Unit::None));
    sink.shutdown().await;
    assert_eq!(sink.published(), 0);
    assert_eq!(sink.dropped(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_never_blocks_even_with_a_full_queue_and_a_hung_endpoint() {
    // A server that accepts connections and never answers: the publisher hangs
    // in PutMetricData until its deadline while the queue fills up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let aws = allora_aws::sdk_config::config_loader()
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .test_credentials()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(1))
                .operation_timeout(Duration::from_secs(1))
                .build(),
        )
        .load()
        .await;
    let capacity = 100;
    let sink = CloudWatchMetrics::spawn(
        &aws,
        CloudWatchSinkConfig::default()
            .queue_capacity(capacity)
            .flush_interval(Duration::from_millis(20)),
    )
    .unwrap();
    sink.record(Metric::count(names::SUBMISSIONS, 1));
    // Let the publisher take it and get stuck sending it.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let total = 5 * capacity;
    let mut accepted = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..total {
        let started = Instant::now();
        if sink.record(Metric::count(names::SUBMISSIONS, 1).with_topic(i as u64)) {
            accepted += 1;
        }
        slowest = slowest.max(started.elapsed());
    }
    // A call that waited for the publisher would take the 1 s deadline; the
    // margin below it only absorbs scheduling hiccups on a busy machine.
    assert!(
        slowest < Duration::from_millis(200),
        "record took {slowest:?}"
    );
    assert!(accepted <= capacity, "{accepted} accepted");
    assert!(sink.dropped() >= (total - capacity) as u64);

    let started = Instant::now();
    sink.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(sink.published(), 0);
    assert_eq!(sink.dropped(), total as u64 + 1);
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_events_become_metrics_with_the_instance_dimensions() {
    let moto = MotoServer::start().await;
    let aws = moto.sdk_config().await;
    let identity = InstanceIdentity {
        region: "eu-west-1".into(),
        instance_id: INSTANCE.into(),
    };
    let observer = CloudWatchObserver::spawn(
        &aws,
        CloudWatchSinkConfig::default()
            .namespace(NAMESPACE)
            .instance(&identity)
            .flush_interval(Duration::from_secs(3600)),
    )
    .unwrap();
    let submission = Submission {
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
    };
    observer.submission(&submission);
    observer.submission(&submission);
    observer.failure(&WorkerError::WindowMissed {
        topic_id: 7,
        nonce: 50,
        reason: "closed".into(),
    });
    observer.balance(1_000_000);
    observer.block(42);
    observer.websocket(true);
    observer.inference_latency(7, Duration::from_millis(12));
    observer.emissions(&allora_sdk::emissions::EmissionsStatus::Unsupported(
        allora_sdk::emissions::Unsupported {
            chain: Some(allora_sdk::emissions::EmissionsVersion::new(11)),
        },
    ));
    observer.shutdown(Duration::from_secs(60)).await;
    assert_eq!(observer.dropped(), 0);
    // Two submissions of four samples each, two for the failure, four more,
    // two for the emissions protocol.
    assert_eq!(observer.published(), 16);

    let client = aws_sdk_cloudwatch::Client::new(&aws);
    let mut seen: Vec<String> = listed_metrics(&client, NAMESPACE, None)
        .await
        .iter()
        .map(|m| {
            let dims = m.dimensions();
            assert!(has_dimension(dims, names::INSTANCE_ID, INSTANCE), "{m:?}");
            assert!(has_dimension(dims, names::REGION, "eu-west-1"), "{m:?}");
            let extra: Vec<String> = dims
                .iter()
                .filter(|d| d.name() != Some(names::INSTANCE_ID) && d.name() != Some(names::REGION))
                .map(|d| format!("{}={}", d.name().unwrap_or(""), d.value().unwrap_or("")))
                .collect();
            format!("{} {}", m.metric_name().unwrap_or(""), extra.join(","))
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "BalanceUallo ",
            "BlockHeight ",
            "BroadcastToInclusionLatency ",
            "EmissionsSupported ",
            "EmissionsVersion ",
            "InferenceLatency ",
            "SubmissionFailures FailureKind=window_missed",
            "Submissions Outcome=failed",
            "Submissions Outcome=included",
            "WebsocketConnected ",
            "WindowOpenToBroadcastLatency ",
            "WindowOpenToInclusionLatency ",
        ]
    );
}
