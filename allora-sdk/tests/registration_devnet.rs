//! Registration against a devnet with a registration fee: an account that
//! cannot pay is told its address, balance and what it needs (and, on the
//! testnet, where the faucet is) before anything is sent, and the chain's
//! own lack-of-funds answer gets the same treatment.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use allora_devnet::fixtures::{test_key, TestNet};
use allora_devnet::{AccountConfig, BasicAllowance, FeeGrant};
use allora_sdk::faucet::TESTNET_FAUCET_URL;
use allora_sdk::pipeline::{GasPriceSource, PipelineConfig, TxPipeline};
use allora_sdk::registration::{
    ensure_registered, register, Registration, RegistrationError, REGISTRATION_TIMEOUT,
};
use allora_sdk::tx::{FeeTier, GasPrice};
use allora_sdk::worker::{SuspendReason, WorkerError};
use futures_util::StreamExt;

const TESTNET: &str = "allora-testnet-1";
const REGISTRATION_FEE: u128 = 1_000_000;
/// 250,000 gas (the fallback when simulation refuses the registration) x 10
/// uallo/gas x 1.5 (standard tier).
const FEE: u128 = 3_750_000;

async fn net(chain_id: &str, balance: u128) -> TestNet {
    TestNet::builder(test_key(11).unwrap())
        .chain_id(chain_id)
        .topics([1], 10, 5)
        .unregistered()
        .balance(balance)
        .devnet(|d| d.registration_fee(REGISTRATION_FEE))
        .start()
        .await
        .unwrap()
}

fn pipeline(net: &TestNet) -> TxPipeline {
    let mut config = PipelineConfig::new(net.chain_id());
    config.gas_price = GasPriceSource::Static(GasPrice::from_uallo(10));
    config.tier = FeeTier::Standard;
    TxPipeline::new(net.client().unwrap(), Arc::new(net.key().clone()), config)
}

#[tokio::test]
async fn an_underfunded_worker_is_told_its_balance_what_it_needs_and_the_faucet() {
    let net = net(TESTNET, 1_000).await;
    let err = register(&pipeline(&net), 1, REGISTRATION_TIMEOUT)
        .await
        .unwrap_err();
    let RegistrationError::InsufficientFunds(short) = &err else {
        panic!("not a lack of funds: {err}");
    };
    assert_eq!(short.address, *net.address());
    assert_eq!(short.balance_uallo, 1_000);
    assert_eq!(short.registration_fee_uallo, REGISTRATION_FEE);
    assert_eq!(short.fee_uallo, FEE);
    assert_eq!(short.needed_uallo, FEE + REGISTRATION_FEE);
    assert_eq!(short.faucet_url, Some(TESTNET_FAUCET_URL));
    assert!(short.chain_answer.is_none());
    let text = err.to_string();
    for part in [
        net.address().as_str(),
        "has 1000 uallo",
        "needs 4750000 uallo (3750000 uallo transaction fee + 1000000 uallo registration fee)",
        "send it at least 4749000 uallo more",
        TESTNET_FAUCET_URL,
    ] {
        assert!(text.contains(part), "{part:?} missing in {text}");
    }
    // Nothing was sent.
    assert!(net.included_txs().is_empty());
    assert_eq!(net.account(net.address()).unwrap().sequence, 0);
    assert!(!net.is_worker_registered(1, net.address()));

    // Funded enough, the same call registers (simulated gas is lower than
    // the fallback, so the fee paid is below the estimate above).
    net.fund(net.address(), FEE + REGISTRATION_FEE).unwrap();
    let done = ensure_registered(&pipeline(&net), 1, REGISTRATION_TIMEOUT)
        .await
        .unwrap();
    assert!(matches!(done, Registration::Registered(_)));
    assert!(net.is_worker_registered(1, net.address()));
}

#[tokio::test]
async fn off_the_testnet_no_faucet_is_named_and_auto_registration_says_the_same() {
    let net = net("allora-devnet-1", 1_000).await;
    let (handle, mut results) = net
        .worker_serving(|_| 1.0)
        .unwrap()
        .auto_register(true)
        .gas_price(GasPrice::from_uallo(10))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    // The topic is suspended, with the reason, and nothing is sent.
    let first = tokio::time::timeout(Duration::from_secs(10), results.next())
        .await
        .unwrap()
        .unwrap();
    handle.shutdown().await;
    let Err(WorkerError::TopicSuspended {
        topic_id: 1,
        suspension,
    }) = &first
    else {
        panic!("unexpected: {first:?}");
    };
    assert_eq!(suspension.reason, SuspendReason::RegistrationFailed);
    let text = &suspension.detail;
    let needed = format!("needs {} uallo", FEE + REGISTRATION_FEE);
    assert!(
        text.contains(net.address().as_str())
            && text.contains("has 1000 uallo")
            && text.contains(&needed),
        "{text}"
    );
    assert!(!text.contains("faucet"), "{text}");
    assert!(net.included_txs().is_empty());
}

#[tokio::test]
async fn the_chains_own_lack_of_funds_answer_is_reported_the_same_way() {
    // The worker can pay the registration fee, and a fee granter with a
    // grant pays the transaction fee: the check passes. But the granter's
    // account is nearly empty, so the chain refuses (sdk 5).
    let granter = test_key(12).unwrap();
    let worker = test_key(11).unwrap();
    let (g, w) = (granter.address().clone(), worker.address().clone());
    let net = TestNet::builder(worker)
        .chain_id(TESTNET)
        .topics([1], 10, 5)
        .unregistered()
        .balance(2 * REGISTRATION_FEE)
        .devnet(move |d| {
            d.registration_fee(REGISTRATION_FEE)
                .account(AccountConfig::new(g.clone(), 5))
                .fee_grant(FeeGrant::new(g, w, BasicAllowance::unlimited()))
        })
        .start()
        .await
        .unwrap();
    let mut config = PipelineConfig::new(TESTNET);
    config.fee_granter = Some(granter.address().clone());
    let pipeline = TxPipeline::new(net.client().unwrap(), Arc::new(net.key().clone()), config);
    let err = register(&pipeline, 1, Duration::from_secs(20))
        .await
        .unwrap_err();
    let RegistrationError::InsufficientFunds(short) = &err else {
        panic!("not a lack of funds: {err}");
    };
    let answer = short.chain_answer.as_ref().unwrap();
    assert_eq!((answer.codespace.as_str(), answer.code), ("sdk", 5));
    assert_eq!(short.needed_uallo, REGISTRATION_FEE);
    assert_eq!(short.balance_uallo, 2 * REGISTRATION_FEE);
    let text = err.to_string();
    for part in [
        "the chain refused registering",
        net.address().as_str(),
        "insufficient funds",
        granter.address().as_str(),
        TESTNET_FAUCET_URL,
    ] {
        assert!(text.contains(part), "{part:?} missing in {text}");
    }
    assert!(!net.is_worker_registered(1, net.address()));
}
