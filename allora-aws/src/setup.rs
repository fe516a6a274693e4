//! Setting up AWS for a worker from its environment: one configuration
//! (region, credentials and endpoints from the environment variables, the
//! profile files or the instance role, see [`AwsContext::load`]) shared by
//! the CloudWatch exporter and the key sources, loaded only when something
//! needs AWS.
//!
//! ```no_run
//! use allora_aws::sdk_config::AwsContext;
//! use allora_aws::setup::{secrets_manager_key_source, DEFAULT_IMDS_LIMIT};
//! use allora_sdk::key_source::KeySource;
//!
//! # async fn demo() -> Result<(), allora_sdk::key_source::KeySourceError> {
//! // Loaded once (at most DEFAULT_IMDS_LIMIT waiting for instance metadata)…
//! let aws = AwsContext::load(DEFAULT_IMDS_LIMIT).await;
//! // …and shared by every client built from it.
//! let source = secrets_manager_key_source(Some(&aws.config), "allora/worker/mnemonic").await;
//! let signer = source.load().await?;
//! println!("worker {}", signer.address());
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use aws_config::SdkConfig;

use crate::kms::{KmsKeySource, KmsMessageType};
use crate::sdk_config::AwsContext;
use crate::secrets::SecretsManagerKeySource;

/// How long loading the configuration here waits at most for the EC2
/// instance metadata service (2 s): off EC2 the look-up gives up after this,
/// so start-up is at most this much slower.
pub const DEFAULT_IMDS_LIMIT: Duration = Duration::from_secs(2);

/// The configuration `shared` (cloned: clients built from it share its
/// credentials cache), else one loaded like [`AwsContext::load`] with
/// [`DEFAULT_IMDS_LIMIT`] (the region from `AWS_REGION`, the profile or the
/// instance). Never fails: missing credentials or region show up as errors
/// of the first call made with it.
pub async fn shared_or_load(shared: Option<&SdkConfig>) -> SdkConfig {
    match shared {
        Some(config) => config.clone(),
        None => AwsContext::load(DEFAULT_IMDS_LIMIT).await.config,
    }
}

/// A key source reading the mnemonic in the Secrets Manager secret
/// `secret_id` (name or ARN) with the configuration of [`shared_or_load`].
/// Nothing is asked of AWS until the key is loaded.
pub async fn secrets_manager_key_source(
    shared: Option<&SdkConfig>,
    secret_id: impl Into<String>,
) -> SecretsManagerKeySource {
    let client = aws_sdk_secretsmanager::Client::new(&shared_or_load(shared).await);
    SecretsManagerKeySource::new(client, secret_id)
}

/// A key source signing with the KMS key `key_id` (key id, key ARN, alias
/// name or alias ARN), sending `message_type`, with the configuration of
/// [`shared_or_load`]. Nothing is asked of AWS until the key is loaded.
pub async fn kms_key_source(
    shared: Option<&SdkConfig>,
    key_id: impl Into<String>,
    message_type: KmsMessageType,
) -> KmsKeySource {
    let client = aws_sdk_kms::Client::new(&shared_or_load(shared).await);
    KmsKeySource::new(client, key_id).with_message_type(message_type)
}
