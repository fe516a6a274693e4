//! The `run` command: builds the worker from the configuration (or the
//! embedded demo devnet when there is none), composes its observers
//! (Prometheus always, CloudWatch when configured, a line per submission on
//! standard output), and runs it until SIGTERM/SIGINT or `--exit-after`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use allora_aws::CloudWatchObserver;
use allora_sdk::client::{ChainClient, ClientConfig};
use allora_sdk::keys::Address;
use allora_sdk::observe::prometheus::{self, PrometheusObserver};
use allora_sdk::observe::{
    spawn_balance_refresh, FanOut, SubmissionPrinter, DEFAULT_BALANCE_REFRESH,
};
use allora_sdk::worker::{shutdown_signal, WorkerBuilder, WorkerObserver};
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::config::{self, Settings, DEFAULT_DATA_DIR};
use crate::error::AppError;
use crate::{aws, keys};

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
    let signer = keys::load(source.as_ref()).await?;
    tracing::info!(address = %signer.address(), key = %source.describe(), signer = %signer.describe(), "worker key loaded");
    let cloudwatch = match (&settings.cloudwatch, &aws) {
        (Some(cw), Some(aws)) => {
            let observer = CloudWatchObserver::for_instance(
                &aws.config,
                cw.namespace.clone(),
                cw.flush_interval,
                aws.identity.as_ref(),
            )?;
            observer.register_counters(&mut metrics);
            tracing::info!(namespace = %cw.namespace, "CloudWatch metrics on");
            Some(observer)
        }
        _ => None,
    };
    let address = signer.address().clone();
    let client = ChainClient::new(ClientConfig::new(settings.grpc_endpoints.iter()))?;
    let builder = settings.worker_builder(client.clone(), signer.into_shared())?;
    let metrics = Arc::new(metrics);
    let mut observers = FanOut::new().with(metrics.clone());
    if let Some(cw) = &cloudwatch {
        observers.push(Arc::new(cw.clone()));
    }
    let topics = settings.topics.iter().map(|t| t.id).collect();
    let running = Running {
        builder,
        client,
        address,
        observers,
        metrics,
        listener,
        topics,
    };
    let result = running.serve(args).await;
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
    let metrics_addr = args.metrics_addr.unwrap_or(config::DEFAULT_METRICS_SOCKET);
    let listener = prometheus::bind(metrics_addr, args.allow_public_metrics).await?;
    println!(
        "no configuration given (--config, ALLORA_WORKER_CONFIG or ALLORA_* variables): running against an embedded devnet with {} demo topic(s)",
        args.devnet_topics
    );
    let demo = allora_devnet::demo::start(args.devnet_topics, Path::new(DEFAULT_DATA_DIR)).await?;
    let running = Running {
        builder: demo.worker()?,
        client: demo.client()?,
        address: demo.key.address().clone(),
        observers: FanOut::new().with(metrics.clone()),
        metrics,
        listener,
        topics: demo.topics.iter().map(|t| t.topic_id).collect(),
    };
    let result = running.serve(args).await;
    demo.handle.shutdown().await;
    result
}

/// A worker ready to start, with its observers and metrics listener.
struct Running {
    builder: WorkerBuilder,
    client: ChainClient,
    address: Address,
    observers: FanOut,
    metrics: Arc<PrometheusObserver>,
    listener: tokio::net::TcpListener,
    topics: Vec<u64>,
}

impl Running {
    /// Serves metrics, keeps the balance metric current, prints a line per
    /// submission, and runs the worker until a signal or `--exit-after`.
    async fn serve(self, args: &RunArgs) -> Result<(), AppError> {
        // Installed now, so a signal during start-up is not lost.
        let signal = shutdown_signal();
        let stop = CancellationToken::new();
        if let Ok(addr) = self.listener.local_addr() {
            println!("metrics on http://{addr}/metrics (health: /healthz)");
        }
        let server = prometheus::serve(self.listener, self.metrics, stop.clone());
        let enough = CancellationToken::new();
        let printer = SubmissionPrinter::new().stop_after(args.exit_after, enough.clone());
        let observer: Arc<dyn WorkerObserver> = Arc::new(self.observers.with(Arc::new(printer)));
        let worker = self.builder.observer(Arc::clone(&observer)).build()?;
        let balance = spawn_balance_refresh(
            self.client,
            self.address.clone(),
            observer,
            DEFAULT_BALANCE_REFRESH,
            stop.clone(),
        );
        let stopped = async {
            tokio::select! {
                () = signal => {}
                () = enough.cancelled() => {}
            }
        };
        let result = worker
            .run_until_with(stopped, || {
                SubmissionPrinter::announce(&self.address, &self.topics)
            })
            .await;
        stop.cancel();
        let _ = balance.await;
        let _ = server.await;
        result.map(|_| ()).map_err(AppError::from)
    }
}
