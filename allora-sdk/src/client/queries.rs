//! Typed queries: node, accounts, balances, fees and the emissions module
//! (in whichever emissions version the chain speaks; see [`crate::emissions`]).

use std::time::SystemTime;

use cosmrs::proto::cosmos::auth::v1beta1 as auth;
use cosmrs::proto::cosmos::bank::v1beta1 as bank;
use cosmrs::proto::cosmos::base::tendermint::v1beta1 as tm;

use super::error::malformed;
use super::{ChainClient, ClientError};
use crate::emissions::{epoch_window, EpochWindow, Query};
use crate::keys::Address;
use crate::proto::emissions::{v10, v9};
use crate::proto::feemarket;
use crate::tx::GasPrice;

/// An account's number and next sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// The account address.
    pub address: String,
    /// The account number (fixed at creation).
    pub account_number: u64,
    /// The next sequence the chain expects.
    pub sequence: u64,
}

/// The newest block the endpoint knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestBlock {
    /// Its height.
    pub height: i64,
    /// Its time, when the header has one.
    pub time: Option<SystemTime>,
    /// The chain id in its header.
    pub chain_id: String,
}

fn not_found_as(error: ClientError, what: impl FnOnce() -> String) -> ClientError {
    match error {
        ClientError::Status {
            code: tonic::Code::NotFound,
            ..
        } => ClientError::NotFound(what()),
        other => other,
    }
}

impl ChainClient {
    /// The node's `GetNodeInfo` answer, as it comes.
    pub(super) async fn get_node_info(&self) -> Result<tm::GetNodeInfoResponse, ClientError> {
        self.call("GetNodeInfo", |ch| async move {
            tm::service_client::ServiceClient::new(ch)
                .get_node_info(tm::GetNodeInfoRequest {})
                .await
        })
        .await
    }

    /// The chain id the node reports (`default_node_info.network`).
    pub async fn chain_id(&self) -> Result<String, ClientError> {
        let response = self.get_node_info().await?;
        response
            .default_node_info
            .map(|info| info.network)
            .filter(|network| !network.is_empty())
            .ok_or_else(|| malformed("GetNodeInfo", "no network in default_node_info"))
    }

    /// The newest block's height, time and chain id.
    pub async fn latest_block(&self) -> Result<LatestBlock, ClientError> {
        let response = self
            .call("GetLatestBlock", |ch| async move {
                tm::service_client::ServiceClient::new(ch)
                    .get_latest_block(tm::GetLatestBlockRequest {})
                    .await
            })
            .await?;
        let header = response
            .sdk_block
            .and_then(|b| b.header)
            .map(|h| (h.height, h.time, h.chain_id))
            .or_else(|| {
                response
                    .block
                    .and_then(|b| b.header)
                    .map(|h| (h.height, h.time, h.chain_id))
            })
            .ok_or_else(|| malformed("GetLatestBlock", "block has no header"))?;
        Ok(LatestBlock {
            height: header.0,
            time: header.1.and_then(super::node::system_time),
            chain_id: header.2,
        })
    }

    /// An account's number and sequence ([`ClientError::NotFound`] for an
    /// account the chain has never seen: it needs funds first).
    pub async fn account_info(&self, address: &Address) -> Result<AccountInfo, ClientError> {
        let request = auth::QueryAccountInfoRequest {
            address: address.to_string(),
        };
        let response = self
            .call_with("AccountInfo", request, |ch, request| async move {
                auth::query_client::QueryClient::new(ch)
                    .account_info(request)
                    .await
            })
            .await
            .map_err(|e| not_found_as(e, || format!("account {address} (fund it first)")))?;
        let info = response
            .info
            .ok_or_else(|| malformed("AccountInfo", "no account info"))?;
        Ok(AccountInfo {
            address: info.address,
            account_number: info.account_number,
            sequence: info.sequence,
        })
    }

    /// The balance of `address` in `denom` (0 when it holds none).
    pub async fn balance(&self, address: &Address, denom: &str) -> Result<u128, ClientError> {
        let request = bank::QueryBalanceRequest {
            address: address.to_string(),
            denom: denom.to_owned(),
        };
        let response = self
            .call_with("Balance", request, |ch, request| async move {
                bank::query_client::QueryClient::new(ch)
                    .balance(request)
                    .await
            })
            .await?;
        match response.balance {
            None => Ok(0),
            Some(coin) if coin.amount.is_empty() => Ok(0),
            Some(coin) => coin
                .amount
                .parse()
                .map_err(|_| malformed("Balance", "amount is not an integer")),
        }
    }

    /// The feemarket's current minimum gas price for `denom`.
    pub async fn gas_price(&self, denom: &str) -> Result<GasPrice, ClientError> {
        let request = feemarket::GasPriceRequest {
            denom: denom.to_owned(),
        };
        let response = self
            .call_with("GasPrice", request, |ch, request| async move {
                feemarket::query_client::QueryClient::new(ch)
                    .gas_price(request)
                    .await
            })
            .await?;
        let price = response
            .price
            .ok_or_else(|| malformed("GasPrice", "no price"))?;
        // LegacyDec travels as the integer of value x 10^18.
        price
            .amount
            .parse::<u128>()
            .map(GasPrice::from_atto)
            .map_err(|_| malformed("GasPrice", "amount is not an 18-decimal integer"))
    }

    /// The emissions module parameters.
    pub async fn params(&self) -> Result<v9::Params, ClientError> {
        let response: v10::GetParamsResponse = self
            .emissions_query(Query::Params, v10::GetParamsRequest {})
            .await?;
        response
            .params
            .ok_or_else(|| malformed("GetParams", "no params"))
    }

    /// A topic ([`ClientError::NotFound`] when it does not exist). On an
    /// emissions v9 chain the label settings (fields 23 and on) are unset.
    pub async fn topic(&self, topic_id: u64) -> Result<v10::Topic, ClientError> {
        let response: v10::GetTopicResponse = self
            .emissions_query(Query::Topic, v10::GetTopicRequest { topic_id })
            .await
            .map_err(|e| not_found_as(e, || format!("topic {topic_id}")))?;
        response
            .topic
            .ok_or_else(|| ClientError::NotFound(format!("topic {topic_id}")))
    }

    /// The id the next created topic will get.
    pub async fn next_topic_id(&self) -> Result<u64, ClientError> {
        let response: v10::GetNextTopicIdResponse = self
            .emissions_query(Query::NextTopicId, v10::GetNextTopicIdRequest {})
            .await?;
        Ok(response.next_topic_id)
    }

    /// Whether a topic exists.
    pub async fn topic_exists(&self, topic_id: u64) -> Result<bool, ClientError> {
        let response: v10::TopicExistsResponse = self
            .emissions_query(Query::TopicExists, v10::TopicExistsRequest { topic_id })
            .await?;
        Ok(response.exists)
    }

    /// Whether a topic is active (opens nonces).
    pub async fn is_topic_active(&self, topic_id: u64) -> Result<bool, ClientError> {
        let response: v10::IsTopicActiveResponse = self
            .emissions_query(Query::IsTopicActive, v10::IsTopicActiveRequest { topic_id })
            .await?;
        Ok(response.is_active)
    }

    /// Whether `address` is registered as a worker in the topic.
    pub async fn is_worker_registered(
        &self,
        topic_id: u64,
        address: &Address,
    ) -> Result<bool, ClientError> {
        let request = v10::IsWorkerRegisteredInTopicIdRequest {
            topic_id,
            address: address.to_string(),
        };
        let response: v10::IsWorkerRegisteredInTopicIdResponse = self
            .emissions_query(Query::IsWorkerRegistered, request)
            .await?;
        Ok(response.is_registered)
    }

    /// Whether `address` may submit worker payloads to the topic (whitelists).
    pub async fn can_submit_worker_payload(
        &self,
        topic_id: u64,
        address: &Address,
    ) -> Result<bool, ClientError> {
        let request = v10::CanSubmitWorkerPayloadRequest {
            topic_id,
            address: address.to_string(),
        };
        let response: v10::CanSubmitWorkerPayloadResponse = self
            .emissions_query(Query::CanSubmitWorkerPayload, request)
            .await?;
        Ok(response.can_submit_worker_payload)
    }

    /// The open, unfulfilled worker nonces of a topic, oldest first.
    pub async fn unfulfilled_worker_nonces(&self, topic_id: u64) -> Result<Vec<i64>, ClientError> {
        let response: v10::GetUnfulfilledWorkerNoncesResponse = self
            .emissions_query(
                Query::UnfulfilledWorkerNonces,
                v10::GetUnfulfilledWorkerNoncesRequest { topic_id },
            )
            .await?;
        let mut nonces: Vec<i64> = response
            .nonces
            .map(|n| n.nonces.into_iter().map(|n| n.block_height).collect())
            .unwrap_or_default();
        nonces.sort_unstable();
        nonces.dedup();
        Ok(nonces)
    }

    /// Whether a worker nonce of the topic is still open.
    pub async fn is_worker_nonce_unfulfilled(
        &self,
        topic_id: u64,
        block_height: i64,
    ) -> Result<bool, ClientError> {
        let response: v10::IsWorkerNonceUnfulfilledResponse = self
            .emissions_query(
                Query::IsWorkerNonceUnfulfilled,
                v10::IsWorkerNonceUnfulfilledRequest {
                    topic_id,
                    block_height,
                },
            )
            .await?;
        Ok(response.is_worker_nonce_unfulfilled)
    }

    /// The newest network inferences of a topic ([`ClientError::NotFound`]
    /// before any window of it closed with inferences). Labeled bundles
    /// (emissions v10); [`ClientError::NotServed`] on v9, whose bundles are
    /// unlabeled.
    pub async fn latest_network_inferences(
        &self,
        topic_id: u64,
    ) -> Result<v10::GetLatestNetworkInferencesResponse, ClientError> {
        self.emissions_query(
            Query::LatestNetworkInferences,
            v10::GetLatestNetworkInferencesRequest { topic_id },
        )
        .await
        .map_err(|e| not_found_as(e, || format!("network inferences of topic {topic_id}")))
    }

    /// The worker submission window of a topic as seen by `address`
    /// (heights: meaningful on chains whose windows are counted in blocks).
    pub async fn worker_submission_window_status(
        &self,
        topic_id: u64,
        address: &Address,
    ) -> Result<v10::GetWorkerSubmissionWindowStatusResponse, ClientError> {
        let request = v10::GetWorkerSubmissionWindowStatusRequest {
            topic_id,
            address: address.to_string(),
        };
        self.emissions_query(Query::WorkerSubmissionWindowStatus, request)
            .await
    }

    /// A topic's in-flight scheduler epochs, oldest first, with their worker
    /// windows in time (chain v0.18 on; [`ClientError::NotServed`] on
    /// versions without them, `UNIMPLEMENTED` from older v10 chains).
    /// Epochs without window times are left out.
    pub async fn topic_epochs(&self, topic_id: u64) -> Result<Vec<EpochWindow>, ClientError> {
        let response: v10::GetTopicEpochsResponse = self
            .emissions_query(Query::TopicEpochs, v10::GetTopicEpochsRequest { topic_id })
            .await?;
        Ok(response.epochs.iter().filter_map(epoch_window).collect())
    }

    /// One scheduler epoch of a topic by its packed nonce
    /// ([`ClientError::NotFound`] when the chain has none).
    pub async fn epoch(&self, topic_id: u64, epoch: u64) -> Result<EpochWindow, ClientError> {
        let response: v10::GetEpochResponse = self
            .emissions_query(
                Query::Epoch,
                v10::GetEpochRequest {
                    topic_id,
                    nonce: epoch,
                },
            )
            .await
            .map_err(|e| not_found_as(e, || format!("epoch {epoch} of topic {topic_id}")))?;
        response
            .epoch
            .as_ref()
            .and_then(epoch_window)
            .ok_or_else(|| ClientError::NotFound(format!("epoch {epoch} of topic {topic_id}")))
    }
}
