//! # allora-aws
//!
//! AWS adapters for Allora Network workers:
//!
//! - [`secrets`]: the worker mnemonic kept in Secrets Manager, as an
//!   `allora_sdk::key_source::KeySource`;
//! - [`kms`]: a worker key that never leaves AWS KMS, as an
//!   [`allora_sdk::signer::Signer`] and a `KeySource`;
//! - [`observer`]: the worker's events as CloudWatch metrics, a
//!   `WorkerObserver` over the [`metrics`] sink, whose `record` never blocks
//!   the worker;
//! - [`imds`]: the instance's region and id from EC2 instance metadata
//!   (IMDSv2), which label the metrics;
//! - [`sdk_config`]: the AWS SDK configuration they share (rustls, deadlines);
//! - [`setup`]: that configuration loaded once from the environment and
//!   shared, and the key sources built on it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use allora_aws::{identity_within, CloudWatchObserver, SecretsManagerKeySource};
//! use allora_sdk::key_source::KeySource;
//! use allora_sdk::observe::FanOut;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! // On EC2: the instance's region and id (None elsewhere, within 2 s).
//! let instance = identity_within(Duration::from_secs(2)).await;
//! let aws = allora_aws::sdk_config::load(instance.as_ref().map(|i| i.region.clone())).await;
//! let source = SecretsManagerKeySource::new(
//!     aws_sdk_secretsmanager::Client::new(&aws),
//!     "allora/worker/mnemonic",
//! );
//! let signer = source.load().await?;
//! let cloudwatch = CloudWatchObserver::for_instance(
//!     &aws,
//!     "Allora/Worker",
//!     Duration::from_secs(60),
//!     instance.as_ref(),
//! )?;
//! let observer = Arc::new(FanOut::new().with(Arc::new(cloudwatch.clone())));
//! println!("worker {} ready", signer.address());
//! // ... Worker::builder().observer(observer) ... until the worker stops, then:
//! # drop(observer);
//! cloudwatch.shutdown(Duration::from_secs(5)).await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod imds;
pub mod kms;
pub mod metrics;
pub mod observer;
pub mod sdk_config;
pub mod secrets;
pub mod setup;

pub use imds::{identity_within, Ec2Metadata, ImdsError, InstanceIdentity};
pub use kms::{KmsKeySource, KmsMessageType, KmsSigner};
pub use metrics::{CloudWatchMetrics, CloudWatchSinkConfig, Metric, MetricsError, Unit};
pub use observer::CloudWatchObserver;
pub use secrets::{SecretError, SecretsManagerKeySource};
