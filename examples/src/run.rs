//! The `run` command: builds the worker from the configuration (or the
//! embedded devnet when there is none), serves metrics, prints one line per
//! submission, and shuts down gracefully on SIGTERM/SIGINT.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use allora_sdk::client::{ChainClient, ClientConfig};
use allora_sdk::keys::Address;
use allora_sdk::worker::{Outcome, Submission, Worker, WorkerBuilder, WorkerObserver};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::config::{self, Settings, DEFAULT_METRICS_ADDR};
use crate::embedded_devnet;
use crate::error::AppError;
use crate::metrics::{self, Metrics};

/// How long in-flight work may take after a shutdown signal; the worker's own
/// grace period is shorter, so the process exits within 10 s.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(9);
/// How often the balance gauge is refreshed.
const BALANCE_REFRESH: Duration = Duration::from_secs(60);

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
    let metrics = Arc::new(Metrics::new(settings.health_max_block_age));
    let listener = metrics::bind(
        args.metrics_addr.unwrap_or(settings.metrics_addr),
        args.allow_public_metrics || settings.allow_public_metrics,
    )
    .await?;
    let key = crate::keys::load(settings.key).await?;
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
    if let Some(longest) = settings.topics.iter().map(|t| t.timeout).max() {
        builder = builder.provider_timeout(longest);
    }
    for topic in &settings.topics {
        builder = builder.topic(topic.to_spec()?);
    }
    let topic_ids: Vec<u64> = settings.topics.iter().map(|t| t.id).collect();
    drive(
        args, builder, client, address, &topic_ids, metrics, listener,
    )
    .await
}

async fn run_devnet(args: &RunArgs) -> Result<(), AppError> {
    let metrics = Arc::new(Metrics::new(Duration::from_secs(30)));
    let metrics_addr = match args.metrics_addr {
        Some(addr) => addr,
        None => DEFAULT_METRICS_ADDR
            .parse()
            .map_err(|e| AppError::ConfigValue {
                field: "metrics_addr".into(),
                problem: format!("the default {DEFAULT_METRICS_ADDR} does not parse: {e}"),
            })?,
    };
    let listener = metrics::bind(metrics_addr, args.allow_public_metrics).await?;
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
    let result = drive(
        args, builder, client, address, &topic_ids, metrics, listener,
    )
    .await;
    devnet.handle.shutdown().await;
    result
}

/// Starts the worker and the metrics server, prints submissions, and stops
/// on a signal or after `--exit-after` submissions.
async fn drive(
    args: &RunArgs,
    builder: WorkerBuilder,
    client: ChainClient,
    address: Address,
    topic_ids: &[u64],
    metrics: Arc<Metrics>,
    listener: tokio::net::TcpListener,
) -> Result<(), AppError> {
    let stop = CancellationToken::new();
    let metrics_addr = listener
        .local_addr()
        .map_err(|source| AppError::MetricsBind {
            addr: ([127, 0, 0, 1], 0).into(),
            source,
        })?;
    let server = metrics::spawn(listener, Arc::clone(&metrics), stop.clone());
    println!("metrics on http://{metrics_addr}/metrics (health: /healthz)");

    let observer: Arc<dyn WorkerObserver> = metrics.clone();
    let worker = builder.observer(observer).build()?;
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
    let balance_task = tokio::spawn(refresh_balance(
        client,
        address,
        Arc::clone(&metrics),
        stop.clone(),
    ));
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

/// Keeps the balance gauge current (the worker reports it at start only).
async fn refresh_balance(
    client: ChainClient,
    address: Address,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(BALANCE_REFRESH);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => return,
        }
        match client.balance(&address, allora_sdk::tx::DENOM).await {
            Ok(balance) => metrics.balance(balance),
            Err(error) => tracing::warn!(%error, "could not refresh the balance"),
        }
    }
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
