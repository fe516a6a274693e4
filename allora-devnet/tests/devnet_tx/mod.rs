//! Transactions on the devnet of the rule and protocol tests: signing at
//! the standard gas and fee, payloads, and checks of the chain's answers.
#![allow(dead_code)]

use allora_devnet::fixtures::{broadcast, channel, payload_any, sign_tx, TestNet, TestNetBuilder};
use allora_devnet::{AccountConfig, Devnet, DevnetHandle, DevnetProtocol};
use allora_sdk::keys::{Address, WorkerKey};
use allora_sdk::proto::emissions::v10;
use allora_sdk::proto::emissions::v10::query_service_client::QueryServiceClient;
use allora_sdk::proto::Any;
use allora_sdk::tx::SignedTx;
use tonic::transport::Channel;

use crate::devnet_support::{actors, started, Actors, CHAIN_ID, FEE, FIRST_NONCE, GAS};

/// A transaction vector of the SDK's golden-vector tests, with the address
/// of the worker that signed it and its raw bytes.
pub struct VectorTx {
    /// The vector as the file has it.
    pub tx: serde_json::Value,
    /// The worker of its payload.
    pub address: Address,
    /// `tx_raw_hex`, decoded.
    pub bytes: Vec<u8>,
}

/// The transaction vectors of `file` (under `allora-sdk/tests/vectors`).
pub fn vector_txs(file: &str) -> Vec<VectorTx> {
    let path = format!(
        "{}/../allora-sdk/tests/vectors/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    let payloads = vectors["payloads"].as_array().unwrap();
    vectors["txs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tx| {
            let payload = payloads
                .iter()
                .find(|p| p["name"] == tx["payload"])
                .unwrap();
            VectorTx {
                tx: tx.clone(),
                address: payload["worker_address"].as_str().unwrap().parse().unwrap(),
                bytes: hex::decode(tx["tx_raw_hex"].as_str().unwrap()).unwrap(),
            }
        })
        .collect()
}

/// A devnet speaking `protocol` on `chain_id`, holding the account that
/// signed the vector `tx` at the vector's account number and sequence.
pub async fn vector_devnet(
    chain_id: &str,
    protocol: DevnetProtocol,
    address: Address,
    tx: &serde_json::Value,
) -> DevnetHandle {
    Devnet::builder()
        .chain_id(chain_id)
        .manual_blocks()
        .emissions(protocol)
        .account(
            AccountConfig::new(address, u128::MAX / 2)
                .account_number(tx["account_number"].as_u64().unwrap())
                .sequence(tx["sequence"].as_u64().unwrap()),
        )
        .build()
        .start()
        .await
        .unwrap()
}

/// Starts the devnet `builder` describes.
pub async fn launch(builder: TestNetBuilder) -> TestNet {
    builder.start().await.unwrap()
}

/// The standard actors and devnet, at the first nonce of topic 1.
pub async fn standard() -> (Actors, TestNet) {
    let a = actors();
    let devnet = started(&a).await;
    (a, devnet)
}

/// [`standard`], with a channel to the devnet.
pub async fn connected() -> (Actors, TestNet, Channel) {
    let (a, devnet) = standard().await;
    let ch = channel(&devnet).await.unwrap();
    (a, devnet, ch)
}

pub type TxResponse = cosmrs::proto::cosmos::base::abci::v1beta1::TxResponse;

/// `msgs` in a tx signed by `signer` on the test chain with account
/// `number` and `sequence`, at `GAS` and `FEE`.
pub fn sign(signer: &WorkerKey, msgs: Vec<Any>, number: u64, sequence: u64) -> SignedTx {
    sign_paying(signer, msgs, number, sequence, GAS, FEE)
}

/// [`sign`], paying `fee` uallo for `gas`.
pub fn sign_paying(
    signer: &WorkerKey,
    msgs: Vec<Any>,
    number: u64,
    sequence: u64,
    gas: u64,
    fee: u128,
) -> SignedTx {
    sign_tx(CHAIN_ID, signer, msgs, number, sequence, gas, fee).unwrap()
}

/// `key`'s inference `value` for `nonce` of `topic`.
pub fn payload_at(key: &WorkerKey, topic: u64, nonce: i64, value: &str) -> Any {
    payload_any(key, topic, nonce, value).unwrap()
}

/// `key`'s inference "1" for the first nonce of `topic`.
pub fn payload(key: &WorkerKey, topic: u64) -> Any {
    payload_at(key, topic, FIRST_NONCE, "1")
}

/// Checks the result's code and codespace, showing its log otherwise.
#[track_caller]
pub fn assert_code(res: &TxResponse, code: u32, codespace: &str) {
    assert_eq!(
        (res.code, res.codespace.as_str()),
        (code, codespace),
        "{}",
        res.raw_log
    );
}

/// Broadcasts `tx` and checks that CheckTx refused it with `code` in
/// `codespace`; returns the answer, for its log.
pub async fn check_refused(ch: &Channel, tx: &SignedTx, code: u32, codespace: &str) -> TxResponse {
    let res = broadcast(ch, tx.to_bytes()).await.unwrap();
    assert_code(&res, code, codespace);
    res
}

/// Checks the log of a tx whose first message failed with `error`.
#[track_caller]
pub fn assert_message_log(res: &TxResponse, error: &str) {
    assert_eq!(
        res.raw_log,
        format!("failed to execute message; message index: 0: {error}")
    );
}

/// A client of the emissions queries on `devnet`.
pub async fn queries(devnet: &DevnetHandle) -> QueryServiceClient<Channel> {
    QueryServiceClient::new(channel(devnet).await.unwrap())
}

/// Topic `topic_id`, as `GetTopic` answers it.
pub async fn get_topic(q: &mut QueryServiceClient<Channel>, topic_id: u64) -> v10::Topic {
    q.get_topic(v10::GetTopicRequest { topic_id })
        .await
        .unwrap()
        .into_inner()
        .topic
        .unwrap()
}

/// What `GetLatestNetworkInferences` answers for `topic_id`.
pub async fn latest_network_inferences(
    q: &mut QueryServiceClient<Channel>,
    topic_id: u64,
) -> Result<v10::GetLatestNetworkInferencesResponse, tonic::Status> {
    q.get_latest_network_inferences(v10::GetLatestNetworkInferencesRequest { topic_id })
        .await
        .map(tonic::Response::into_inner)
}

/// The emissions parameters, as `GetParams` answers them.
pub async fn get_params(
    q: &mut QueryServiceClient<Channel>,
) -> allora_sdk::proto::emissions::v9::Params {
    q.get_params(v10::GetParamsRequest {})
        .await
        .unwrap()
        .into_inner()
        .params
        .unwrap()
}
