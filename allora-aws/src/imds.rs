//! EC2 instance metadata (IMDSv2 only): the region and instance id a worker
//! runs in, used to label its metrics.
//!
//! Off EC2 the metadata service does not answer; the short deadlines here
//! turn that into [`ImdsError::Unavailable`] within a few seconds, so a worker
//! started on a laptop falls back quickly instead of hanging at start-up.
//!
//! ```no_run
//! use allora_aws::imds::{Ec2Metadata, ImdsError};
//!
//! # async fn example() -> Result<(), ImdsError> {
//! let metadata = Ec2Metadata::builder().build()?;
//! let identity = metadata.identity().await?;
//! println!("running as {} in {}", identity.instance_id, identity.region);
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use aws_config::imds::client::error::ImdsError as SdkImdsError;
use aws_config::imds::client::Client;
use aws_config::provider_config::ProviderConfig;
use aws_smithy_types::error::display::DisplayErrorContext;
use derive_setters::Setters;

use crate::sdk_config::https_client;

/// Metadata path of the instance's region.
pub const REGION_PATH: &str = "/latest/meta-data/placement/region";
/// Metadata path of the instance id.
pub const INSTANCE_ID_PATH: &str = "/latest/meta-data/instance-id";
/// Default deadline for one metadata lookup, token request and retry included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

const METADATA_DISABLED_ENV: &str = "AWS_EC2_METADATA_DISABLED";

/// Why instance metadata could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImdsError {
    /// `AWS_EC2_METADATA_DISABLED=true` is set and no endpoint was given
    /// explicitly.
    #[error("EC2 instance metadata is disabled by {METADATA_DISABLED_ENV}")]
    Disabled,
    /// The endpoint given to the builder is not a valid URL.
    #[error("invalid instance metadata endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The metadata service did not answer or refused a session token: the
    /// process is not on EC2, or the instance's metadata options block it.
    #[error("EC2 instance metadata service unavailable (not running on EC2?): {message}")]
    Unavailable {
        /// What the HTTP client reported.
        message: String,
    },
    /// The service answered a lookup with an error status.
    #[error("instance metadata {path} answered with HTTP status {status}")]
    ErrorStatus {
        /// The metadata path.
        path: &'static str,
        /// The HTTP status code.
        status: u16,
    },
    /// The service answered with a value that is not what the path holds.
    #[error("instance metadata {path} returned an unusable value: {reason}")]
    InvalidValue {
        /// The metadata path.
        path: &'static str,
        /// What is wrong with the value.
        reason: &'static str,
    },
}

/// Where an instance runs: its region and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceIdentity {
    /// The AWS region, such as `us-east-1`.
    pub region: String,
    /// The EC2 instance id, such as `i-0123456789abcdef0`.
    pub instance_id: String,
}

/// Builds an [`Ec2Metadata`] client.
#[derive(Debug, Clone, Setters)]
#[setters(generate = false)]
pub struct Ec2MetadataBuilder {
    /// Talks to this endpoint (such as `http://127.0.0.1:8080`) instead of the
    /// one from `AWS_EC2_METADATA_SERVICE_ENDPOINT` or the link-local default.
    /// An explicit endpoint is used even when `AWS_EC2_METADATA_DISABLED` is set.
    #[setters(generate, strip_option, into)]
    endpoint: Option<String>,
    /// Deadline for one lookup, token request and retry included
    /// (default [`DEFAULT_TIMEOUT`]).
    #[setters(generate)]
    timeout: Duration,
}

impl Ec2MetadataBuilder {
    /// Builds the client. Fails with [`ImdsError::Disabled`] when the
    /// environment turns instance metadata off and no endpoint was given.
    pub fn build(self) -> Result<Ec2Metadata, ImdsError> {
        // Build the SDK client with the rustls connector: the SDK's own default
        // HTTPS client is compiled out.
        let provider = ProviderConfig::default().with_http_client(https_client());
        let attempt_timeout = self.timeout / 2;
        let mut builder = Client::builder()
            .configure(&provider)
            .max_attempts(2)
            .connect_timeout(attempt_timeout)
            .read_timeout(attempt_timeout)
            .operation_attempt_timeout(attempt_timeout)
            .operation_timeout(self.timeout);
        match self.endpoint {
            Some(endpoint) => {
                builder = builder
                    .endpoint(&endpoint)
                    .map_err(|e| ImdsError::InvalidEndpoint {
                        reason: e.to_string(),
                        endpoint,
                    })?;
            }
            None if metadata_disabled() => return Err(ImdsError::Disabled),
            None => {}
        }
        Ok(Ec2Metadata {
            client: builder.build(),
        })
    }
}

fn metadata_disabled() -> bool {
    std::env::var(METADATA_DISABLED_ENV)
        .map(|v| v.trim().eq_ignore_ascii_case("true"))
        .unwrap_or(false)
}

/// The region and id of the EC2 instance this process runs on, or `None`
/// when instance metadata is disabled (`AWS_EC2_METADATA_DISABLED=true`),
/// absent (not on EC2) or slow: the answer comes within `limit` whatever the
/// metadata service does. The endpoint is the SDK's usual one
/// (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, else the link-local address). Why
/// there is no identity is logged at info level.
pub async fn identity_within(limit: Duration) -> Option<InstanceIdentity> {
    match Ec2Metadata::builder().timeout(limit).build() {
        Ok(metadata) => metadata.identity_within(limit).await,
        Err(error) => {
            tracing::info!(%error, "no EC2 instance identity");
            None
        }
    }
}

/// An IMDSv2 client: every lookup carries a session token obtained with a
/// `PUT`, and the tokenless IMDSv1 fallback is never used.
#[derive(Debug, Clone)]
pub struct Ec2Metadata {
    client: Client,
}

impl Ec2Metadata {
    /// A builder with the default endpoint and timeout.
    pub fn builder() -> Ec2MetadataBuilder {
        Ec2MetadataBuilder {
            endpoint: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The instance's region.
    pub async fn region(&self) -> Result<String, ImdsError> {
        let region = self.lookup(REGION_PATH).await?;
        checked(region, REGION_PATH, "not a region name", |region| {
            !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    }

    /// The instance id.
    pub async fn instance_id(&self) -> Result<String, ImdsError> {
        let id = self.lookup(INSTANCE_ID_PATH).await?;
        checked(id, INSTANCE_ID_PATH, "not an EC2 instance id", |id| {
            id.strip_prefix("i-")
                .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        })
    }

    /// Region and instance id together.
    pub async fn identity(&self) -> Result<InstanceIdentity, ImdsError> {
        let (region, instance_id) = tokio::join!(self.region(), self.instance_id());
        Ok(InstanceIdentity {
            region: region?,
            instance_id: instance_id?,
        })
    }

    /// [`identity`](Self::identity), or `None` (logged at info level) when
    /// it fails or takes longer than `limit`.
    pub async fn identity_within(&self, limit: Duration) -> Option<InstanceIdentity> {
        match tokio::time::timeout(limit, self.identity()).await {
            Ok(Ok(identity)) => Some(identity),
            Ok(Err(error)) => {
                tracing::info!(%error, "no EC2 instance identity");
                None
            }
            Err(_) => {
                tracing::info!(
                    limit_secs = limit.as_secs_f64(),
                    "no EC2 instance identity: the metadata service did not answer in time"
                );
                None
            }
        }
    }

    async fn lookup(&self, path: &'static str) -> Result<String, ImdsError> {
        match self.client.get(path).await {
            Ok(value) => Ok(value.as_ref().trim().to_owned()),
            Err(SdkImdsError::ErrorResponse(response)) => Err(ImdsError::ErrorStatus {
                path,
                status: response.response().status().as_u16(),
            }),
            Err(other) => Err(ImdsError::Unavailable {
                message: DisplayErrorContext(&other).to_string(),
            }),
        }
    }
}

/// The value read at `path`, refused as `reason` unless it is `valid`.
fn checked(
    value: String,
    path: &'static str,
    reason: &'static str,
    valid: fn(&str) -> bool,
) -> Result<String, ImdsError> {
    if valid(&value) {
        Ok(value)
    } else {
        Err(ImdsError::InvalidValue { path, reason })
    }
}
