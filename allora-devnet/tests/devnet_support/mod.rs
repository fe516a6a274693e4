//! The scenario of the devnet's rule and protocol tests, on the shared
//! fixtures: a worker registered in topics 1 to 3 (2 inactive), a funded
//! outsider and a poor account, on manual blocks.
#![allow(dead_code)]

use allora_devnet::fixtures::{test_key, TestNet, TestNetBuilder};
use allora_devnet::{AccountConfig, TopicConfig};
use allora_sdk::keys::WorkerKey;

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
/// The data fee every accepted payload costs its sender.
pub const DATA_FEE: u128 = allora_devnet::DEFAULT_DATA_SENDING_FEE;

/// The worker (registered in topics 1, 2 and 3), an unregistered funded
/// account, and a poor account.
pub struct Actors {
    pub worker: WorkerKey,
    pub outsider: WorkerKey,
    pub poor: WorkerKey,
}

pub fn actors() -> Actors {
    Actors {
        worker: test_key(1).unwrap(),
        outsider: test_key(2).unwrap(),
        poor: test_key(3).unwrap(),
    }
}

/// A manual-block devnet with the standard topics and accounts.
pub fn builder(a: &Actors) -> TestNetBuilder {
    let (outsider, poor) = (a.outsider.address().clone(), a.poor.address().clone());
    TestNet::builder(a.worker.clone())
        .chain_id(CHAIN_ID)
        .manual_blocks()
        .balance(BALANCE)
        .account_number(5)
        .topic(TopicConfig::new(TOPIC, 10, 5))
        .topic(TopicConfig::new(INACTIVE_TOPIC, 10, 5).inactive())
        .topic(TopicConfig::new(TOPIC_B, 10, 5))
        .devnet(|d| {
            d.account(AccountConfig::new(outsider, BALANCE).account_number(6))
                .account(AccountConfig::new(poor, 1_000).account_number(7))
        })
}

/// Starts the standard devnet and steps to the first nonce of topic 1.
pub async fn started(a: &Actors) -> TestNet {
    let devnet = builder(a).start().await.unwrap();
    devnet.produce_blocks_until(FIRST_NONCE).await;
    devnet
}
