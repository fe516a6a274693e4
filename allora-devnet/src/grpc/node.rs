//! `cosmos.base.tendermint.v1beta1.Service`: node info and blocks.

use std::sync::Arc;

use cosmrs::proto::cosmos::base::tendermint::v1beta1 as node;
use cosmrs::proto::cosmos::base::tendermint::v1beta1::service_server::Service;
use cosmrs::proto::tendermint::p2p::DefaultNodeInfo;
use cosmrs::proto::tendermint::types::{self as tm, BlockId};
use cosmrs::proto::tendermint::version::Consensus;
use cosmrs::proto::Timestamp;
use sha2::{Digest, Sha256};
use tonic::Status;

use super::super::{IncludedTx, Shared};
use super::not_served;

/// CometBFT's block protocol version.
const BLOCK_PROTOCOL: u64 = 11;

/// Serves node info and blocks from the devnet chain.
#[derive(Debug)]
pub(crate) struct NodeService {
    shared: Arc<Shared>,
}

impl NodeService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        NodeService { shared }
    }

    /// The block at `height` in both the CometBFT and the SDK shapes.
    fn block(&self, height: i64) -> Result<(BlockId, tm::Block, node::Block), Status> {
        let chain = self.shared.chain();
        let time = chain.block_time_at(height).ok_or_else(|| {
            Status::invalid_argument(format!(
                "requested block height {height} is bigger then the chain length {}",
                chain.height
            ))
        })?;
        let txs: Vec<Vec<u8>> = chain
            .included_txs()
            .into_iter()
            .filter(|t| t.height == height)
            .map(|t: IncludedTx| t.tx_bytes)
            .collect();
        let version = Some(Consensus {
            block: BLOCK_PROTOCOL,
            app: 0,
        });
        let time = Some(Timestamp::from(time));
        let hash = Sha256::digest(format!("{}/{height}", chain.chain_id)).to_vec();
        let header = tm::Header {
            version,
            chain_id: chain.chain_id.clone(),
            height,
            time,
            ..Default::default()
        };
        let sdk_header = node::Header {
            version,
            chain_id: chain.chain_id.clone(),
            height,
            time,
            ..Default::default()
        };
        let data = Some(tm::Data { txs });
        let block = tm::Block {
            header: Some(header),
            data: data.clone(),
            evidence: Some(tm::EvidenceList::default()),
            last_commit: None,
        };
        let sdk_block = node::Block {
            header: Some(sdk_header),
            data,
            evidence: Some(tm::EvidenceList::default()),
            last_commit: None,
        };
        let id = BlockId {
            hash,
            part_set_header: None,
        };
        Ok((id, block, sdk_block))
    }
}

unary_handlers! {
    impl Service for NodeService {
        fn get_node_info(&self, _request: node::GetNodeInfoRequest) -> node::GetNodeInfoResponse {
            let chain_id = self.shared.chain().chain_id.clone();
            Ok(node::GetNodeInfoResponse {
                default_node_info: Some(DefaultNodeInfo {
                    network: chain_id,
                    moniker: "allora-devnet".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                application_version: Some(node::VersionInfo {
                    name: "allora-devnet".to_owned(),
                    app_name: "allora-devnet".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
            })
        }

        fn get_syncing(&self, _request: node::GetSyncingRequest) -> node::GetSyncingResponse {
            Ok(node::GetSyncingResponse { syncing: false })
        }

        fn get_latest_block(
            &self,
            _request: node::GetLatestBlockRequest,
        ) -> node::GetLatestBlockResponse {
            let height = self.shared.chain().height;
            let (id, block, sdk_block) = self.block(height)?;
            Ok(node::GetLatestBlockResponse {
                block_id: Some(id),
                block: Some(block),
                sdk_block: Some(sdk_block),
            })
        }

        fn get_block_by_height(
            &self,
            request: node::GetBlockByHeightRequest,
        ) -> node::GetBlockByHeightResponse {
            let (id, block, sdk_block) = self.block(request.height)?;
            Ok(node::GetBlockByHeightResponse {
                block_id: Some(id),
                block: Some(block),
                sdk_block: Some(sdk_block),
            })
        }

        fn get_latest_validator_set(
            &self,
            _request: node::GetLatestValidatorSetRequest,
        ) -> node::GetLatestValidatorSetResponse {
            Err(not_served(
                "GetLatestValidatorSet (the devnet has no validators)",
            ))
        }

        fn get_validator_set_by_height(
            &self,
            _request: node::GetValidatorSetByHeightRequest,
        ) -> node::GetValidatorSetByHeightResponse {
            Err(not_served(
                "GetValidatorSetByHeight (the devnet has no validators)",
            ))
        }

        fn abci_query(&self, _request: node::AbciQueryRequest) -> node::AbciQueryResponse {
            Err(not_served("ABCIQuery"))
        }
    }
}
