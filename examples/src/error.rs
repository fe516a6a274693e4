//! What can stop a command of `allora-worker`, each with what to do about it.

use allora_sdk::client::ClientError;
use allora_sdk::key_source::KeySourceError;
use allora_sdk::observe::prometheus::PrometheusError;
use allora_sdk::operator::OperatorError;
use allora_sdk::worker::store::StoreError;
use allora_sdk::worker::WorkerError;

use crate::config::ConfigError;

/// A failure of an `allora-worker` command. The message says what went wrong
/// and what to do; `main` prints it and exits non-zero.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The configuration is unusable (the message names the field).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The metrics server could not start.
    #[error("{0} (--metrics-addr, metrics_addr or ALLORA_METRICS_ADDR; --allow-public-metrics or allow_public_metrics = true for a public address)")]
    Metrics(#[from] PrometheusError),
    /// The CloudWatch exporter could not start.
    #[error("CloudWatch metrics: {0}")]
    CloudWatch(#[from] allora_aws::MetricsError),
    /// The worker key could not be loaded from its source.
    #[error("cannot load the worker key: {0}")]
    KeySource(#[from] KeySourceError),
    /// A `keys` command or a registration failed (the message names the
    /// key file, the topic or what the account lacks).
    #[error(transparent)]
    Operator(#[from] OperatorError),
    /// The submission record could not be read.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The chain could not be queried.
    #[error("chain query failed: {0}; check grpc_endpoints and that the node is reachable")]
    Client(Box<ClientError>),
    /// The worker failed to start or stopped abnormally.
    #[error("worker: {0}")]
    Worker(Box<WorkerError>),
    /// The embedded demo devnet could not start.
    #[error("{0}")]
    Demo(Box<allora_devnet::demo::DemoError>),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
    /// `check` found a problem (the report says which and what to do).
    #[error("a check failed: the lines marked FAIL (\"status\": \"fail\") say what to do")]
    ChecksFailed,
}

// The chain's errors are large; boxing keeps every `Result` small.
impl From<ClientError> for AppError {
    fn from(error: ClientError) -> Self {
        AppError::Client(Box::new(error))
    }
}

impl From<WorkerError> for AppError {
    fn from(error: WorkerError) -> Self {
        AppError::Worker(Box::new(error))
    }
}

impl From<allora_devnet::demo::DemoError> for AppError {
    fn from(error: allora_devnet::demo::DemoError) -> Self {
        AppError::Demo(Box::new(error))
    }
}
