//! The worker loop against the devnet over real sockets: every open window
//! ends in exactly one confirmed submission, or a reported reason.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use allora_devnet::fixtures::{collect, collect_until, test_key, TestNet};
use allora_devnet::TopicConfig;
use allora_infer::{AsyncFnProvider, InferenceRequest};
use allora_sdk::worker::{Outcome, TopicSpec, WorkerHandle, WorkerResults};

const CHAIN_ID: &str = "allora-worker-test";
const EPOCH: i64 = 10;
const WINDOW: i64 = 5;

/// Topics `topics` (epoch 10, window 5) on 200 ms blocks, the worker funded
/// and registered in each.
async fn testnet(topics: impl IntoIterator<Item = u64>) -> TestNet {
    TestNet::start_with_topics(test_key(7).unwrap(), CHAIN_ID, topics, EPOCH, WINDOW)
        .await
        .unwrap()
}

fn value(r: &InferenceRequest) -> f64 {
    1000.0 + r.topic_id as f64 + r.nonce as f64 / 1000.0
}

/// A worker serving every topic of `net` with [`value`].
async fn start_worker(net: &TestNet) -> (WorkerHandle, WorkerResults) {
    net.worker_serving(value)
        .unwrap()
        .poll_interval(Duration::from_millis(500))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap()
}

/// Every (topic, nonce) appears at most once among the chain's accepted
/// submissions of this worker.
fn assert_no_duplicates(net: &TestNet) {
    let mut seen = HashSet::new();
    for s in net.submissions() {
        if s.worker == net.address().as_str() {
            assert!(
                seen.insert((s.topic_id, s.nonce)),
                "duplicate submission {s:?}"
            );
        }
    }
}

#[tokio::test]
async fn one_topic_several_epochs_one_confirmed_submission_each() {
    let devnet = testnet([1]).await;
    let (handle, mut results) = start_worker(&devnet).await;
    let (ok, err) = collect(&mut results, 3, Duration::from_secs(15)).await;
    handle.shutdown().await;
    assert!(err.is_empty(), "unexpected failures: {err:?}");
    assert_eq!(ok.len(), 3);
    let nonces: Vec<i64> = ok.iter().map(|s| s.nonce).collect();
    assert_eq!(nonces, vec![EPOCH, 2 * EPOCH, 3 * EPOCH]);
    for s in &ok {
        assert_eq!(s.outcome, Outcome::Included);
        let on_chain = devnet
            .submission(1, s.nonce, devnet.address())
            .expect("on chain");
        let values = on_chain.inference.expect("an inference");
        assert_eq!(
            values[0].1,
            format!("{}", 1000.0 + 1.0 + s.nonce as f64 / 1000.0)
        );
        assert!(s.height.unwrap() <= s.nonce + WINDOW);
        assert!(s.latency.window_to_broadcast.is_some());
    }
    assert_no_duplicates(&devnet);
}

#[tokio::test]
async fn twenty_topics_share_one_transaction_per_epoch() {
    let devnet = testnet(1..=20).await;
    let (handle, mut results) = start_worker(&devnet).await;
    let (ok, err) = collect(&mut results, 40, Duration::from_secs(15)).await;
    handle.shutdown().await;
    assert!(err.is_empty(), "unexpected failures: {err:?}");
    let mut by_nonce: HashMap<i64, HashSet<String>> = HashMap::new();
    for s in &ok {
        by_nonce
            .entry(s.nonce)
            .or_default()
            .insert(s.txhash.clone().unwrap());
    }
    assert_eq!(by_nonce.len(), 2);
    for (nonce, txs) in by_nonce {
        assert_eq!(txs.len(), 1, "nonce {nonce}: all 20 payloads in one tx");
        let tx = devnet.included_tx(txs.iter().next().unwrap()).unwrap();
        assert_eq!(tx.code, 0);
    }
    assert!(ok.iter().all(|s| s.batch_size == 20));
    assert_no_duplicates(&devnet);
}

#[tokio::test]
async fn polling_keeps_submitting_while_the_websocket_is_down() {
    let devnet = testnet([1]).await;
    let (handle, mut results) = start_worker(&devnet).await;
    let (first, _) = collect(&mut results, 1, Duration::from_secs(6)).await;
    assert_eq!(first.len(), 1);

    devnet.stop_websocket().await.unwrap();
    let (ok, err) = collect(&mut results, 2, Duration::from_secs(12)).await;
    assert!(err.is_empty(), "unexpected failures: {err:?}");
    assert_eq!(ok.len(), 2, "two more windows served by polling alone");
    assert!(!devnet.websocket_running().await);

    // The websocket comes back; the worker reconnects and goes on.
    devnet.start_websocket().await.unwrap();
    let (more, _) = collect(&mut results, 1, Duration::from_secs(6)).await;
    handle.shutdown().await;
    assert_eq!(more.len(), 1);
    let nonces: Vec<i64> = first
        .iter()
        .chain(&ok)
        .chain(&more)
        .map(|s| s.nonce)
        .collect();
    assert_eq!(nonces, vec![EPOCH, 2 * EPOCH, 3 * EPOCH, 4 * EPOCH]);
    assert_no_duplicates(&devnet);
}

#[tokio::test]
async fn a_sequence_bumped_behind_the_workers_back_loses_nothing() {
    let devnet = testnet([1, 2]).await;
    let (handle, mut results) = start_worker(&devnet).await;
    let (first, _) = collect(&mut results, 2, Duration::from_secs(6)).await;
    assert_eq!(first.len(), 2);
    devnet.bump_sequence(devnet.address()).unwrap();
    devnet.bump_sequence(devnet.address()).unwrap();
    let (ok, err) = collect(&mut results, 2, Duration::from_secs(6)).await;
    handle.shutdown().await;
    assert!(err.is_empty(), "unexpected failures: {err:?}");
    assert_eq!(ok.len(), 2);
    assert!(ok
        .iter()
        .all(|s| s.nonce == 2 * EPOCH && s.outcome == Outcome::Included));
    assert_no_duplicates(&devnet);
}

#[tokio::test]
async fn a_restart_mid_epoch_sends_nothing_twice() {
    // A long window so the restart happens while it is still open.
    let devnet = TestNet::builder(test_key(7).unwrap())
        .chain_id(CHAIN_ID)
        .topic(TopicConfig::new(1, 30, 25))
        .start()
        .await
        .unwrap();
    let (handle, mut results) = start_worker(&devnet).await;
    let (ok, _) = collect(&mut results, 1, Duration::from_secs(10)).await;
    handle.shutdown().await;
    assert_eq!(ok.len(), 1);
    let nonce = ok[0].nonce;
    let txs_before = devnet.included_txs().len();

    // Restart with the same data directory while the window is still open.
    assert!(devnet.open_nonces(1).is_empty() || devnet.height() < nonce + 25);
    let (handle, mut results) = start_worker(&devnet).await;
    let (again, err) = collect_until(&mut results, Duration::from_secs(3), |_, _| false).await;
    handle.shutdown().await;
    assert!(
        again.is_empty() && err.is_empty(),
        "restart re-served the window: {again:?} {err:?}"
    );
    assert_eq!(
        devnet.included_txs().len(),
        txs_before,
        "no transaction sent after the restart"
    );
    assert_no_duplicates(&devnet);
}

#[tokio::test]
async fn a_provider_too_slow_for_the_window_is_reported_and_never_sent_late() {
    let devnet = testnet([1]).await;
    let slow = Arc::new(AsyncFnProvider::new(|_req: InferenceRequest| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok::<f64, allora_infer::InferError>(1.0)
    }));
    let (handle, mut results) = devnet
        .worker()
        .unwrap()
        .topic(TopicSpec::inference(1, slow))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let (ok, err) = collect_until(&mut results, Duration::from_secs(6), |_, err| {
        !err.is_empty()
    })
    .await;
    assert!(ok.is_empty());
    let failure = &err[0];
    assert_eq!(failure.window(), Some((1, EPOCH)));
    assert_eq!(failure.kind(), "provider_timeout", "{failure}");
    // Well past the window: nothing was sent for it.
    devnet.wait_height(EPOCH + WINDOW + 2).await;
    handle.shutdown().await;
    assert!(devnet.submission(1, EPOCH, devnet.address()).is_none());
    assert!(devnet.included_txs().is_empty(), "no transaction at all");
}
