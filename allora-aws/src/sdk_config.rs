//! Loading the AWS SDK configuration the adapters share.
//!
//! The SDK crates are built without their default HTTPS client (which
//! compiles aws-lc); [`config_loader`] plugs in a rustls client on ring, the
//! same TLS stack `reqwest` uses in the rest of the workspace, and sets
//! deadlines so that an unreachable endpoint fails in seconds rather than
//! hanging a worker.
//!
//! ```no_run
//! # async fn example() {
//! // Region, credentials and endpoint come from the usual environment
//! // variables, profile files or the instance role unless set here.
//! let config = allora_aws::sdk_config::config_loader()
//!     .region(aws_config::Region::new("us-east-1"))
//!     .load()
//!     .await;
//! let secrets = aws_sdk_secretsmanager::Client::new(&config);
//! # let _ = secrets;
//! # }
//! ```

use std::time::Duration;

use aws_config::environment::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_secretsmanager::config::SharedHttpClient;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::Builder;

/// How long establishing a TCP/TLS connection may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt of an API call may take, connection included.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an API call may take, retries included.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTPS client for the AWS SDK: hyper with rustls on ring, trusting the
/// platform's root certificates.
pub fn https_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The timeouts [`config_loader`] sets.
pub fn default_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .operation_attempt_timeout(DEFAULT_ATTEMPT_TIMEOUT)
        .operation_timeout(DEFAULT_OPERATION_TIMEOUT)
        .build()
}

/// An `aws_config` loader with the latest behaviour version, the rustls
/// client of [`https_client`] and the [`default_timeouts`]. Everything else
/// (region, credentials, `AWS_ENDPOINT_URL`) is resolved as the SDK always
/// does, and any of it can be overridden on the returned loader.
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(default_timeouts())
}

/// Loads a [`config_loader`] configuration whose region comes from
/// `AWS_REGION` (or `AWS_DEFAULT_REGION`), else the shared config profile,
/// else `fallback_region` (such as the instance's region from
/// [`identity_within`](crate::imds::identity_within)). Unlike the SDK's
/// default region chain it never asks instance metadata itself, so a
/// process off EC2 does not wait for it a second time.
pub async fn load(fallback_region: Option<String>) -> SdkConfig {
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::new())
        .or_else(fallback_region.map(Region::new));
    config_loader().region(region).load().await
}

/// The AWS SDK configuration and, on EC2, the instance the process runs on.
#[derive(Debug, Clone)]
pub struct AwsContext {
    /// Region, credentials and endpoints as [`load`] resolves them.
    pub config: SdkConfig,
    /// The EC2 instance (its id and region label metrics), when there is one.
    pub identity: Option<crate::imds::InstanceIdentity>,
}

impl AwsContext {
    /// Asks instance metadata who this instance is (giving up after
    /// `imds_limit`, as off EC2), then [`load`]s the configuration with the
    /// instance's region as the fallback.
    pub async fn load(imds_limit: Duration) -> AwsContext {
        let identity = crate::imds::identity_within(imds_limit).await;
        let config = load(identity.as_ref().map(|i| i.region.clone())).await;
        AwsContext { config, identity }
    }
}
