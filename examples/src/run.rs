//! The `run` command: builds the worker from the configuration (or the
//! embedded devnet when there is none), composes its observers (Prometheus
//! always, CloudWatch when configured), prints one line per submission, and
//! shuts down gracefully on SIGTERM/SIGINT.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use allora_aws::CloudWatchObserver;
use allora_sdk::client::{ChainClient, ClientConfig};
use allora_sdk::keys::Address;
use allora_sdk::observe::prometheus::{self, PrometheusObserver};
use allora_sdk::observe::{spawn_balance_refresh, FanOut, DEFAULT_BALANCE_REFRESH};
use allora_sdk::worker::{Outcome, Submission, Worker, WorkerBuilder, WorkerObserver};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::config::{self, Settings, DEFAULT_METRICS_ADDR};
use crate::error::AppError;
use crate::{aws, embedded_devnet, keys};

/// How long in-flight work may take after a shutdown signal; the worker's own
/// grace period is shorter, so the process exits within 10 s.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(9);
/// How long buffered CloudWatch metrics may take to send at exit.
const CLOUDWATCH_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// Runs the worker until a signal, `--exit-after`, or a fatal error.
pub async fn run(
    args: &RunArgs,
    config_flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), AppError> {
    if config::any_configuration(config_flag, env) {
        let settings = config::load(config_flag, env).await?;
        run_configured(args, settings).await
    } else {
        run_devnet(args).await
    }
}

async fn run_configured(args: &RunArgs, settings: Settings) -> Result<(), AppError> {
    let mut metrics = PrometheusObserver::new(settings.health_max_block_age);
    let listener = prometheus::bind(
        args.metrics_addr.unwrap_or(settings.metrics_addr),
        args.allow_public_metrics || settings.allow_public_metrics,
    )
    .await?;
    let aws = aws::connect(&settings).await;
    let source = keys::source(&settings.key, aws.as_ref().map(|a| &a.config)).await;
    let key = keys::load(source.as_ref()).await?;
    tracing::info!(address = %key.address(), key = %source.describe(), "worker key loaded");
    let cloudwatch = match (&settings.cloudwatch, &aws) {
        (Some(cw), Some(aws)) => {
            let identity = aws.identity.as_ref();
            let observer = CloudWatchObserver::for_instance(
                &aws.config,
                cw.namespace.clone(),
                cw.flush_interval,
                identity,
            )?;
            let (dropped, published) = (observer.clone(), observer.clone());
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
            tracing::info!(namespace = %cw.namespace, "CloudWatch metrics on");
            Some(observer)
        }
        _ => None,
    };
    let address = key.address().clone();
    let client = ChainClient::new(ClientConfig::new(settings.grpc_endpoints.iter()))?;
    let mut builder = Worker::builder()
        .client(client.clone())
        .key(key)
        .data_dir(settings.data_dir.clone())
        .auto_register(settings.auto_register)
        .gas_price_source(settings.gas_price.clone())
        .fee_tier(settings.fee_tier);
    if let Some(ws) = &settings.websocket_url {
        builder = builder.websocket(ws.clone());
    }
    if let Some(chain_id) = &settings.chain_id {
        builder = builder.chain_id(chain_id.clone());
    }
    if let Some(version) = settings.expected_emissions {
        builder = builder.expected_emissions(version);
    }
    if let Some(longest) = settings.topics.iter().map(|t| t.timeout).max() {
        builder = builder.provider_timeout(longest);
    }
    for topic in &settings.topics {
        builder = builder.topic(topic.to_spec()?);
    }
    let topic_ids: Vec<u64> = settings.topics.iter().map(|t| t.id).collect();
    let metrics = Arc::new(metrics);
    let mut observers = FanOut::new().with(metrics.clone());
    if let Some(cw) = &cloudwatch {
        observers.push(Arc::new(cw.clone()));
    }
    let worker = Running {
        builder,
        client,
        address,
        observer: Arc::new(observers),
        metrics,
        listener,
    };
    let result = drive(args, worker, &topic_ids).await;
    if let Some(cw) = cloudwatch {
        cw.shutdown(CLOUDWATCH_FLUSH_LIMIT).await;
        tracing::info!(
            published = cw.published(),
            dropped = cw.dropped(),
            "CloudWatch metrics flushed"
        );
    }
    result
}

async fn run_devnet(args: &RunArgs) -> Result<(), AppError> {
    let metrics = Arc::new(PrometheusObserver::new(Duration::from_secs(30)));
    let metrics_addr = match args.metrics_addr {
        Some(addr) => addr,
        None => DEFAULT_METRICS_ADDR
            .parse()
            .map_err(|e| AppError::ConfigValue {
                field: "metrics_addr".into(),
                problem: format!("the default {DEFAULT_METRICS_ADDR} does not parse: {e}"),
            })?,
    };
    let listener = prometheus::bind(metrics_addr, args.allow_public_metrics).await?;
    println!(
        "no configuration given (--config, ALLORA_WORKER_CONFIG or ALLORA_* variables): running against an embedded devnet with {} demo topic(s)",
        args.devnet_topics
    );
    let devnet = embedded_devnet::start(args.devnet_topics).await?;
    let client = ChainClient::new(ClientConfig::new([devnet.handle.grpc_endpoint()]))?;
    let address = devnet.key.address().clone();
    let topic_ids: Vec<u64> = devnet.topics.iter().map(|t| t.topic_id).collect();
    let mut builder = Worker::builder()
        .client(client.clone())
        .key(devnet.key)
        .data_dir(devnet.data_dir)
        .websocket(devnet.handle.websocket_url())
        .chain_id(devnet.handle.chain_id())
        .block_time(embedded_devnet::BLOCK_INTERVAL)
        .poll_interval(Duration::from_secs(2))
        .provider_timeout(Duration::from_secs(2));
    for topic in devnet.topics {
        builder = builder.topic(topic);
    }
    let worker = Running {
        builder,
        client,
        address,
        observer: metrics.clone(),
        metrics,
        listener,
    };
    let result = drive(args, worker, &topic_ids).await;
    devnet.handle.shutdown().await;
    result
}

/// A worker ready to start, with its observers and metrics listener.
struct Running {
    builder: WorkerBuilder,
    client: ChainClient,
    address: Address,
    observer: Arc<dyn WorkerObserver>,
    metrics: Arc<PrometheusObserver>,
    listener: tokio::net::TcpListener,
}

/// Starts the worker and the metrics server, prints submissions, and stops
/// on a signal or after `--exit-after` submissions.
async fn drive(args: &RunArgs, running: Running, topic_ids: &[u64]) -> Result<(), AppError> {
    let Running {
        builder,
        client,
        address,
        observer,
        metrics,
        listener,
    } = running;
    let stop = CancellationToken::new();
    if let Ok(addr) = listener.local_addr() {
        println!("metrics on http://{addr}/metrics (health: /healthz)");
    }
    let server = prometheus::serve(listener, metrics, stop.clone());
    let worker = builder.observer(Arc::clone(&observer)).build()?;
    let started = worker.start().await;
    let (handle, mut results) = match started {
        Ok(started) => started,
        Err(error) => {
            stop.cancel();
            let _ = server.await;
            return Err(error.into());
        }
    };
    println!(
        "worker {address} serving topic(s) {}; one line per submission (Ctrl-C to stop)",
        topic_list(topic_ids)
    );
    let balance_task = spawn_balance_refresh(
        client,
        address,
        observer,
        DEFAULT_BALANCE_REFRESH,
        stop.clone(),
    );
    let signal_task = tokio::spawn(forward_signals(handle.cancellation_token()));
    let worker_stop = handle.cancellation_token();

    let mut served: u64 = 0;
    loop {
        tokio::select! {
            next = results.next() => match next {
                None => break,
                Some(Ok(submission)) => {
                    print_submission(&submission);
                    served += 1;
                    if args.exit_after.is_some_and(|n| served >= n) {
                        tracing::info!(served, "--exit-after reached; stopping");
                        worker_stop.cancel();
                        break;
                    }
                }
                Some(Err(error)) => tracing::warn!(%error, "window not served"),
            },
            () = worker_stop.cancelled() => {
                tracing::info!("shutting down: letting in-flight submissions finish");
                break;
            }
        }
    }

    // Results that finish during the grace period are still printed.
    let drain = async {
        while let Some(next) = results.next().await {
            match next {
                Ok(submission) => print_submission(&submission),
                Err(error) => tracing::warn!(%error, "window not served"),
            }
        }
        handle.shutdown().await;
    };
    if tokio::time::timeout(SHUTDOWN_LIMIT, drain).await.is_err() {
        tracing::warn!("in-flight work did not finish within the shutdown limit; exiting anyway");
    }
    signal_task.abort();
    stop.cancel();
    let _ = balance_task.await;
    let _ = server.await;
    Ok(())
}

fn topic_list(ids: &[u64]) -> String {
    const SHOWN: usize = 10;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

/// One line per submission: topic, nonce, tx hash, height, latency.
fn print_submission(s: &Submission) {
    let outcome = match s.outcome {
        Outcome::Included => "included",
        Outcome::AlreadySubmitted => "already-submitted",
    };
    let latency = s
        .latency
        .window_to_broadcast
        .unwrap_or_default()
        .saturating_add(s.latency.broadcast_to_included.unwrap_or_default());
    let line = format!(
        "submission topic={} nonce={} tx={} height={} latency={:.2}s outcome={} batch={}",
        s.topic_id,
        s.nonce,
        s.txhash.as_deref().unwrap_or("-"),
        s.height.map_or_else(|| "-".to_owned(), |h| h.to_string()),
        latency.as_secs_f64(),
        outcome,
        s.batch_size,
    );
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. piped into `head`) must not stop the worker.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Cancels `token` on SIGINT or SIGTERM.
async fn forward_signals(token: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = terminate => tracing::info!("SIGTERM received"),
        () = interrupt => tracing::info!("SIGINT received"),
    }
    token.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_topic_lists_are_shortened() {
        assert_eq!(topic_list(&[1, 2]), "1, 2");
        let many: Vec<u64> = (1..=100).collect();
        assert!(topic_list(&many).ends_with("10 and 90 more"));
    }
}
