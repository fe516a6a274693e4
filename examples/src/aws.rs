//! AWS for the worker, when its key or metrics need it.

use allora_aws::sdk_config::AwsContext;
use allora_aws::setup::DEFAULT_IMDS_LIMIT;

use crate::config::{KeySetting, Settings};

/// Connects to AWS when the settings need it (an AWS key source: a secret
/// or a KMS key; or CloudWatch metrics); `None` otherwise.
pub async fn connect(settings: &Settings) -> Option<AwsContext> {
    let needed = settings.cloudwatch.is_some()
        || matches!(
            settings.key,
            KeySetting::AwsSecret(_) | KeySetting::Kms { .. }
        );
    match needed {
        true => Some(AwsContext::load(DEFAULT_IMDS_LIMIT).await),
        false => None,
    }
}
