//! AWS for the worker, when its key or metrics need it: the SDK
//! configuration and, on EC2, the instance identity that labels metrics.

use std::time::Duration;

use allora_aws::InstanceIdentity;
use aws_config::SdkConfig;

use crate::config::{KeySetting, Settings};

/// The most the instance-metadata lookup may add to start-up.
pub const IMDS_LIMIT: Duration = Duration::from_secs(2);

/// The AWS SDK configuration and where the process runs.
#[derive(Debug, Clone)]
pub struct Aws {
    /// Region, credentials and endpoints as the SDK resolves them.
    pub config: SdkConfig,
    /// The EC2 instance, when there is one.
    pub identity: Option<InstanceIdentity>,
}

/// Connects to AWS when the settings need it (an AWS key source: a secret
/// or a KMS key; or CloudWatch metrics); `None` otherwise.
pub async fn connect(settings: &Settings) -> Option<Aws> {
    let needed = settings.cloudwatch.is_some()
        || matches!(
            settings.key,
            KeySetting::AwsSecret(_) | KeySetting::Kms { .. }
        );
    if !needed {
        return None;
    }
    let identity = allora_aws::identity_within(IMDS_LIMIT).await;
    let config = allora_aws::sdk_config::load(identity.as_ref().map(|i| i.region.clone())).await;
    Some(Aws { config, identity })
}
