//! AWS for the worker, when its key or metrics need it.

use std::time::Duration;

use allora_aws::sdk_config::AwsContext;

use crate::config::{KeySetting, Settings};

/// The most the instance-metadata lookup may add to start-up.
pub const IMDS_LIMIT: Duration = Duration::from_secs(2);

/// Connects to AWS when the settings need it (an AWS key source: a secret
/// or a KMS key; or CloudWatch metrics); `None` otherwise.
pub async fn connect(settings: &Settings) -> Option<AwsContext> {
    let needed = settings.cloudwatch.is_some()
        || matches!(
            settings.key,
            KeySetting::AwsSecret(_) | KeySetting::Kms { .. }
        );
    match needed {
        true => Some(AwsContext::load(IMDS_LIMIT).await),
        false => None,
    }
}
