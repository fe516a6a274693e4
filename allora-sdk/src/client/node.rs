//! What a node says about itself (`GetNodeInfo`) and the time of past
//! blocks (`GetBlockByHeight`), for pre-flight checks and block-time
//! estimates.

use std::time::{Duration, SystemTime};

use cosmrs::proto::cosmos::base::tendermint::v1beta1 as tm;

use super::{ChainClient, ClientError};

/// The node's identity and software, from `GetNodeInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct NodeInfo {
    /// The chain id (`default_node_info.network`).
    pub network: String,
    /// The CometBFT version (`default_node_info.version`).
    pub cometbft_version: String,
    /// The application's name (`application_version.app_name`, e.g. `allorad`).
    pub app_name: String,
    /// The application's version (`application_version.version`, e.g. `v0.17.0`).
    pub app_version: String,
    /// The Cosmos SDK version it is built with.
    pub cosmos_sdk_version: String,
}

impl ChainClient {
    /// The node's chain id and software versions.
    pub async fn node_info(&self) -> Result<NodeInfo, ClientError> {
        let response = self.get_node_info().await?;
        let node = response.default_node_info.unwrap_or_default();
        let app = response.application_version.unwrap_or_default();
        Ok(NodeInfo {
            network: node.network,
            cometbft_version: node.version,
            app_name: app.app_name,
            app_version: app.version,
            cosmos_sdk_version: app.cosmos_sdk_version,
        })
    }

    /// The time of the block at `height`, when its header has one.
    pub async fn block_time_at(&self, height: i64) -> Result<Option<SystemTime>, ClientError> {
        let response = self
            .call("GetBlockByHeight", |ch| async move {
                tm::service_client::ServiceClient::new(ch)
                    .get_block_by_height(tm::GetBlockByHeightRequest { height })
                    .await
            })
            .await?;
        let time = response
            .sdk_block
            .and_then(|b| b.header)
            .and_then(|h| h.time)
            .or_else(|| response.block.and_then(|b| b.header).and_then(|h| h.time));
        Ok(time.and_then(system_time))
    }
}

/// A block header's time as a [`SystemTime`] (`None` before the epoch or out
/// of range).
pub(super) fn system_time(time: cosmrs::proto::Timestamp) -> Option<SystemTime> {
    let secs = u64::try_from(time.seconds).ok()?;
    let nanos = u32::try_from(time.nanos).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}
