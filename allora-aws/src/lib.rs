//! # allora-aws
//!
//! AWS adapters for Allora Network workers:
//!
//! - [`metrics`]: a CloudWatch sink whose `record` never blocks the worker;
//! - [`secrets`]: the worker mnemonic kept in Secrets Manager;
//! - [`kms`]: a worker key that never leaves AWS KMS, as an
//!   [`allora_sdk::signer::Signer`];
//! - [`imds`]: the instance's region and id from EC2 instance metadata (IMDSv2);
//! - [`sdk_config`]: the AWS SDK configuration they share (rustls, deadlines).
//!
//! ```no_run
//! use allora_aws::imds::Ec2Metadata;
//! use allora_aws::metrics::{names, CloudWatchMetrics, CloudWatchSinkConfig, Metric};
//! use allora_aws::secrets::SecretsManagerKeySource;
//! use allora_sdk::keys::WorkerKey;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let instance = Ec2Metadata::builder().build()?.identity().await?;
//! let aws = allora_aws::sdk_config::config_loader()
//!     .region(aws_config::Region::new(instance.region))
//!     .load()
//!     .await;
//! let mnemonic = SecretsManagerKeySource::new(
//!     aws_sdk_secretsmanager::Client::new(&aws),
//!     "allora/worker/mnemonic",
//! )
//! .load()
//! .await?;
//! let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
//! let metrics = CloudWatchMetrics::spawn(
//!     &aws,
//!     CloudWatchSinkConfig::default().instance_id(instance.instance_id),
//! )?;
//! metrics.record(Metric::count(names::SUBMISSIONS, 1).with_topic(69));
//! println!("worker {} ready", key.address());
//! metrics.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod imds;
pub mod kms;
pub mod metrics;
pub mod sdk_config;
pub mod secrets;

pub use imds::{Ec2Metadata, ImdsError, InstanceIdentity};
pub use kms::{KmsMessageType, KmsSigner};
pub use metrics::{CloudWatchMetrics, CloudWatchSinkConfig, Metric, MetricsError, Unit};
pub use secrets::{SecretError, SecretsManagerKeySource};
