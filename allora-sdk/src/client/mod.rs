//! A typed gRPC client for the Allora chain, with per-call deadlines and
//! failover between several endpoints.
//!
//! ```no_run
//! use allora_sdk::client::{ChainClient, ClientConfig};
//!
//! # async fn demo() -> Result<(), allora_sdk::client::ClientError> {
//! let client = ChainClient::new(ClientConfig::new([
//!     "grpc+https://allora-grpc.testnet.allora.network:443",
//!     "http://127.0.0.1:9090",
//! ]))?;
//! let chain_id = client.chain_id().await?;
//! let topic = client.topic(69).await?;
//! println!("{chain_id}: topic {} epoch length {}", topic.id, topic.epoch_length);
//! # Ok(())
//! # }
//! ```

mod emissions;
mod endpoint;
mod error;
mod feegrant;
mod node;
mod queries;
mod txs;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use endpoint::EndpointHealth;
pub use error::{classify, registered_error, ChainError, ClientError, TxErrorKind, TxStage};
pub use feegrant::FeeAllowance;
pub use node::NodeInfo;
pub use queries::{AccountInfo, LatestBlock};
pub use txs::{BroadcastAck, GasEstimate, TxEvent, TxOutcome};

use emissions::ProtocolState;
use endpoint::{Endpoint, EndpointPool};

use crate::emissions::EmissionsVersion;

/// Settings of a [`ChainClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// gRPC endpoints, tried in this order (`http://`, `https://`, or the
    /// official SDK's `grpc+http://` / `grpc+https://`).
    pub endpoints: Vec<String>,
    /// Deadline of each call on one endpoint.
    pub request_timeout: Duration,
    /// Deadline of connection set-up.
    pub connect_timeout: Duration,
    /// How long a failed endpoint is passed over before it is tried again.
    pub unhealthy_cooldown: Duration,
    /// The emissions version to speak; `None` (the default) detects it from
    /// the chain and follows it through upgrades (see
    /// [`ChainClient::detect_emissions`]).
    pub emissions_version: Option<EmissionsVersion>,
}

impl ClientConfig {
    /// Endpoints with default timeouts (5 s per call, 3 s to connect, 30 s
    /// cool-down).
    pub fn new<I, S>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            unhealthy_cooldown: Duration::from_secs(30),
            emissions_version: None,
        }
    }

    /// Sets the per-call deadline.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the connection deadline.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the cool-down of a failed endpoint.
    pub fn unhealthy_cooldown(mut self, cooldown: Duration) -> Self {
        self.unhealthy_cooldown = cooldown;
        self
    }

    /// Speaks `version` instead of detecting it. The chain's windows (in
    /// blocks or wall-clock) are still detected; upgrades are not followed.
    pub fn emissions_version(mut self, version: EmissionsVersion) -> Self {
        self.emissions_version = Some(version);
        self
    }
}

/// A cheaply cloneable chain client. Connections open on first use.
///
/// It speaks the emissions protocol of the chain (see
/// [`crate::emissions`]): detected on the first emissions call, or pinned
/// by [`ClientConfig::emissions_version`]; clones share it, so one
/// [`detect_emissions`](ChainClient::detect_emissions) after an upgrade
/// moves them all.
///
/// Every call is bounded by the request timeout on each endpoint;
/// [`ChainClient::with_deadline`] gives a view of the client whose calls
/// are also bounded by a deadline of the caller's (the worker passes each
/// window's deadline this way, so no call outlives its window).
#[derive(Debug, Clone)]
pub struct ChainClient {
    pool: Arc<EndpointPool>,
    deadline: Option<Instant>,
    protocol: Arc<ProtocolState>,
}

impl ChainClient {
    /// Makes a client. Fails on an empty or malformed endpoint list; does not
    /// connect. Must be called inside a tokio runtime.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        if config.endpoints.is_empty() {
            return Err(ClientError::InvalidEndpoint {
                url: String::new(),
                reason: "at least one gRPC endpoint is required".to_owned(),
            });
        }
        let endpoints = config
            .endpoints
            .iter()
            .map(|url| Endpoint::new(url, config.connect_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ChainClient {
            pool: Arc::new(EndpointPool::new(
                endpoints,
                config.request_timeout,
                config.unhealthy_cooldown,
            )),
            deadline: None,
            protocol: Arc::new(ProtocolState::new(config.emissions_version)),
        })
    }

    /// The same client (same connections and endpoint health) with every call
    /// bounded by `deadline` as well: each attempt gets the request timeout
    /// or the time left, whichever is shorter, and a call whose deadline has
    /// passed fails with [`ClientError::DeadlineExceeded`] without going out.
    /// A client that already has a deadline keeps the earlier of the two.
    ///
    /// ```no_run
    /// # async fn demo(client: allora_sdk::client::ChainClient) -> Result<(), allora_sdk::client::ClientError> {
    /// use std::time::Duration;
    /// let window_ends = tokio::time::Instant::now() + Duration::from_secs(4);
    /// let height = client.with_deadline(window_ends).latest_block().await?.height;
    /// # let _ = height; Ok(()) }
    /// ```
    pub fn with_deadline(&self, deadline: Instant) -> ChainClient {
        ChainClient {
            pool: Arc::clone(&self.pool),
            deadline: Some(self.deadline.map_or(deadline, |d| d.min(deadline))),
            protocol: Arc::clone(&self.protocol),
        }
    }

    /// The deadline of this view, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Runs one gRPC call through the endpoint pool under this view's deadline.
    async fn call<T, F, Fut>(&self, method: &'static str, call: F) -> Result<T, ClientError>
    where
        F: Fn(tonic::transport::Channel) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.pool.call(method, self.deadline, call).await
    }

    /// [`call`](Self::call) for a call that sends `request`: each attempt
    /// gets its own copy. (A plain function handing back the pool's future,
    /// so that it adds no layer to the futures of the calls built on it.)
    fn call_with<'a, Req, T, F, Fut>(
        &'a self,
        method: &'static str,
        request: Req,
        call: F,
    ) -> impl std::future::Future<Output = Result<T, ClientError>> + 'a
    where
        Req: Clone + 'a,
        T: 'a,
        F: Fn(tonic::transport::Channel, Req) -> Fut + 'a,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>> + 'a,
    {
        self.pool.call(method, self.deadline, move |channel| {
            call(channel, request.clone())
        })
    }

    /// The health of each endpoint, in configured order.
    pub fn endpoint_health(&self) -> Vec<EndpointHealth> {
        self.pool.health()
    }
}
