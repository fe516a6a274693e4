//! The typed client against the devnet over real sockets: every query, the
//! transaction calls with their chain errors, and failover.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use allora_devnet::fixtures::{refused_port, test_key, HangingPort, TestNet};
use allora_sdk::client::{ChainClient, ClientConfig, ClientError, TxErrorKind, TxStage};
use allora_sdk::keys::WorkerKey;
use allora_sdk::payload::WorkerPayload;
use allora_sdk::tx::{Fee, GasPrice, SignerData, UnsignedTx};

const CHAIN_ID: &str = "allora-client-test";
const TOPIC: u64 = 4;
const BALANCE: u128 = 5_000_000_000;

fn worker() -> WorkerKey {
    test_key(9).unwrap()
}

/// Topic 4 (epoch 10, window 5) on manual blocks, stepped to its first
/// nonce; the worker is account 42.
async fn devnet() -> TestNet {
    let devnet = TestNet::builder(worker())
        .chain_id(CHAIN_ID)
        .manual_blocks()
        .topics([TOPIC], 10, 5)
        .balance(BALANCE)
        .account_number(42)
        .devnet(|d| d.min_gas_price(GasPrice::from_uallo(10)))
        .start()
        .await
        .unwrap();
    devnet.produce_blocks_until(10).await;
    devnet
}

#[tokio::test]
async fn every_query_is_answered() {
    let devnet = devnet().await;
    let c = devnet.client().unwrap();
    let w = worker();
    let stranger = test_key(8).unwrap();

    assert_eq!(c.chain_id().await.unwrap(), CHAIN_ID);
    let block = c.latest_block().await.unwrap();
    assert_eq!(block.height, devnet.height());
    assert_eq!(block.chain_id, CHAIN_ID);
    assert!(block.time.is_some());

    let info = c.account_info(w.address()).await.unwrap();
    assert_eq!((info.account_number, info.sequence), (42, 0));
    assert!(matches!(
        c.account_info(stranger.address()).await,
        Err(ClientError::NotFound(_))
    ));
    assert_eq!(c.balance(w.address(), "uallo").await.unwrap(), BALANCE);
    assert_eq!(c.balance(stranger.address(), "uallo").await.unwrap(), 0);
    assert_eq!(
        c.gas_price("uallo").await.unwrap(),
        GasPrice::from_uallo(10)
    );

    let params = c.params().await.unwrap();
    assert!(params.max_unfulfilled_worker_requests > 0);
    let topic = c.topic(TOPIC).await.unwrap();
    assert_eq!(
        (topic.id, topic.epoch_length, topic.worker_submission_window),
        (TOPIC, 10, 5)
    );
    assert!(matches!(c.topic(999).await, Err(ClientError::NotFound(_))));
    assert!(c.next_topic_id().await.unwrap() > TOPIC);
    assert!(c.topic_exists(TOPIC).await.unwrap());
    assert!(!c.topic_exists(999).await.unwrap());
    assert!(c.is_topic_active(TOPIC).await.unwrap());
    assert!(c.is_worker_registered(TOPIC, w.address()).await.unwrap());
    assert!(!c
        .is_worker_registered(TOPIC, stranger.address())
        .await
        .unwrap());
    assert!(c
        .can_submit_worker_payload(TOPIC, w.address())
        .await
        .unwrap());
    assert_eq!(c.unfulfilled_worker_nonces(TOPIC).await.unwrap(), vec![10]);
    assert!(c.is_worker_nonce_unfulfilled(TOPIC, 10).await.unwrap());
    assert!(!c.is_worker_nonce_unfulfilled(TOPIC, 9).await.unwrap());
    assert!(matches!(
        c.latest_network_inferences(TOPIC).await,
        Err(ClientError::NotFound(_))
    ));
    let status = c
        .worker_submission_window_status(TOPIC, w.address())
        .await
        .unwrap();
    assert!(status.is_open);
    assert_eq!(status.current_nonce_block_height, 10);
}

#[tokio::test]
async fn transactions_simulate_broadcast_and_land() {
    let devnet = devnet().await;
    let c = devnet.client().unwrap();
    let w = worker();
    let payload = WorkerPayload::inference(TOPIC, 10, "1.25".parse().unwrap())
        .sign(&w)
        .unwrap();
    let unsigned = UnsignedTx::new(vec![payload.to_any()]);

    let sim = unsigned
        .simulation_bytes(w.public_key(), 0, &Fee::uallo(1, 1_000_000))
        .unwrap();
    let estimate = c.simulate(sim).await.unwrap();
    assert!(estimate.gas_used > 0);

    // A wrong sequence is refused at CheckTx, at once, with the expected one.
    let fee = Fee::for_gas(
        estimate.gas_used * 2,
        GasPrice::from_uallo(10),
        allora_sdk::FeeTier::Eco,
    );
    let stale = unsigned
        .sign(&w, &SignerData::new(CHAIN_ID, 42, 3), &fee)
        .unwrap();
    let err = c.broadcast(&stale).await.unwrap_err();
    let chain = err.chain_error().expect("a chain error");
    assert_eq!(chain.stage, TxStage::CheckTx);
    assert_eq!(
        chain.kind(),
        TxErrorKind::SequenceMismatch { expected: Some(0) }
    );
    assert!(err.is_retryable());

    let tx = unsigned
        .sign(&w, &SignerData::new(CHAIN_ID, 42, 0), &fee)
        .unwrap();
    let ack = c.broadcast(&tx).await.unwrap();
    assert_eq!(ack.txhash, tx.hash());
    assert_eq!(c.tx(tx.hash()).await.unwrap(), None, "not in a block yet");
    devnet.produce_block().await;
    let outcome = c.tx(tx.hash()).await.unwrap().expect("included");
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.height, devnet.height());

    // The same payload again: included, but rejected by the emissions module.
    let again = unsigned
        .sign(&w, &SignerData::new(CHAIN_ID, 42, 1), &fee)
        .unwrap();
    c.broadcast(&again).await.unwrap();
    devnet.produce_block().await;
    let outcome = c.tx(again.hash()).await.unwrap().expect("included");
    let rejection = outcome.result.unwrap_err();
    assert_eq!(rejection.stage, TxStage::DeliverTx);
    assert_eq!(
        rejection.kind(),
        TxErrorKind::AlreadySubmitted,
        "{rejection}"
    );

    // Once the window closes, the network inference includes the value.
    devnet.produce_blocks_until(16).await;
    let latest = c.latest_network_inferences(TOPIC).await.unwrap();
    let bundle = latest.network_inferences.expect("a bundle");
    assert_eq!(bundle.inferer_values.len(), 1);
    assert_eq!(bundle.inferer_values[0].worker, w.address().as_str());
    assert_eq!(bundle.inferer_values[0].values[0].value, "1.25");
}

#[tokio::test]
async fn a_dead_endpoint_costs_one_timeout_then_traffic_moves() {
    let devnet = devnet().await;
    let hang = HangingPort::start().await.unwrap();
    let timeout = Duration::from_millis(500);
    let c = ChainClient::new(
        ClientConfig::new([
            hang.endpoint(),
            format!("http://127.0.0.1:{}", refused_port().unwrap()),
            devnet.grpc_endpoint(),
        ])
        .request_timeout(timeout)
        .connect_timeout(timeout),
    )
    .unwrap();

    let started = Instant::now();
    assert_eq!(c.chain_id().await.unwrap(), CHAIN_ID);
    let first = started.elapsed();
    assert!(first < timeout * 2, "first call took {first:?}");
    let health = c.endpoint_health();
    assert!(
        !health[0].healthy && !health[1].healthy && health[2].healthy,
        "{health:?}"
    );

    // Later calls go straight to the live endpoint.
    let started = Instant::now();
    for _ in 0..5 {
        c.latest_block().await.unwrap();
    }
    assert!(started.elapsed() < timeout, "took {:?}", started.elapsed());
    assert_eq!(c.endpoint_health()[0].consecutive_failures, 1);
}
