//! Shared helpers for the devnet tests: keys, a running devnet, gRPC
//! clients and signed transactions.
#![allow(dead_code)]

use allora_devnet::{AccountConfig, DevnetBuilder, DevnetHandle, TopicConfig};
use allora_sdk::keys::WorkerKey;
use allora_sdk::payload::WorkerPayload;
use allora_sdk::proto::Any;
use allora_sdk::tx::{Fee, SignedTx, SignerData, UnsignedTx};
use allora_sdk::Dec;
use cosmrs::proto::cosmos::base::abci::v1beta1::TxResponse;
use cosmrs::proto::cosmos::tx::v1beta1::service_client::ServiceClient as TxClient;
use cosmrs::proto::cosmos::tx::v1beta1::{BroadcastMode, BroadcastTxRequest, GetTxRequest};
use tonic::transport::Channel;

pub const CHAIN_ID: &str = "allora-devnet-test";
/// Topic 1: epoch 10, window 5 (first nonce at height 10, closed at 15).
pub const TOPIC: u64 = 1;
/// Topic 3: same schedule, for batched payloads.
pub const TOPIC_B: u64 = 3;
/// Topic 2: exists but is inactive.
pub const INACTIVE_TOPIC: u64 = 2;
pub const FIRST_NONCE: i64 = 10;
pub const BALANCE: u128 = 1_000_000_000_000;
pub const GAS: u64 = 300_000;
/// 10 uallo/gas × GAS.
pub const FEE: u128 = 3_000_000;

pub fn key(seed: u8) -> WorkerKey {
    WorkerKey::from_private_key_bytes(&[seed; 32]).unwrap()
}

/// The worker (registered in topics 1, 2 and 3), an unregistered funded
/// account, and a poor account.
pub struct Actors {
    pub worker: WorkerKey,
    pub outsider: WorkerKey,
    pub poor: WorkerKey,
}

pub fn actors() -> Actors {
    Actors {
        worker: key(1),
        outsider: key(2),
        poor: key(3),
    }
}

/// A manual-block devnet with the standard topics and accounts.
pub fn builder(a: &Actors) -> DevnetBuilder {
    allora_devnet::Devnet::builder()
        .chain_id(CHAIN_ID)
        .manual_blocks()
        .topic(TopicConfig::new(TOPIC, 10, 5))
        .topic(TopicConfig::new(INACTIVE_TOPIC, 10, 5).inactive())
        .topic(TopicConfig::new(TOPIC_B, 10, 5))
        .account(AccountConfig::new(a.worker.address().clone(), BALANCE).account_number(5))
        .account(AccountConfig::new(a.outsider.address().clone(), BALANCE).account_number(6))
        .account(AccountConfig::new(a.poor.address().clone(), 1_000).account_number(7))
        .worker(TOPIC, a.worker.address().clone())
        .worker(INACTIVE_TOPIC, a.worker.address().clone())
        .worker(TOPIC_B, a.worker.address().clone())
}

/// Starts the standard devnet and steps to the first nonce of topic 1.
pub async fn started(a: &Actors) -> DevnetHandle {
    let devnet = builder(a).build().start().await.unwrap();
    devnet.produce_blocks_until(FIRST_NONCE).await;
    devnet
}

pub async fn channel(devnet: &DevnetHandle) -> Channel {
    Channel::from_shared(devnet.grpc_endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub fn payload_any(key: &WorkerKey, topic: u64, nonce: i64, value: &str) -> Any {
    WorkerPayload::inference(topic, nonce, value.parse::<Dec>().unwrap())
        .sign(key)
        .unwrap()
        .to_any()
}

pub fn sign(
    key: &WorkerKey,
    msgs: Vec<Any>,
    account_number: u64,
    sequence: u64,
    gas: u64,
    fee: u128,
) -> SignedTx {
    sign_for(CHAIN_ID, key, msgs, account_number, sequence, gas, fee)
}

pub fn sign_for(
    chain_id: &str,
    key: &WorkerKey,
    msgs: Vec<Any>,
    account_number: u64,
    sequence: u64,
    gas: u64,
    fee: u128,
) -> SignedTx {
    UnsignedTx::new(msgs)
        .sign(
            key,
            &SignerData::new(chain_id, account_number, sequence),
            &Fee::uallo(fee, gas),
        )
        .unwrap()
}

pub async fn broadcast(channel: &Channel, bytes: &[u8]) -> TxResponse {
    TxClient::new(channel.clone())
        .broadcast_tx(BroadcastTxRequest {
            tx_bytes: bytes.to_vec(),
            mode: BroadcastMode::Sync as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .tx_response
        .unwrap()
}

pub async fn get_tx(channel: &Channel, hash: &str) -> Result<TxResponse, tonic::Status> {
    TxClient::new(channel.clone())
        .get_tx(GetTxRequest {
            hash: hash.to_owned(),
        })
        .await
        .map(|r| r.into_inner().tx_response.unwrap())
}

/// Broadcasts (expecting CheckTx to pass), produces a block, and returns
/// the included result.
pub async fn deliver(devnet: &DevnetHandle, channel: &Channel, tx: &SignedTx) -> TxResponse {
    let checked = broadcast(channel, tx.to_bytes()).await;
    assert_eq!(checked.code, 0, "CheckTx refused: {}", checked.raw_log);
    devnet.produce_block().await;
    get_tx(channel, tx.hash()).await.unwrap()
}
