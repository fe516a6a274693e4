//! The worker's remedies against the devnet, over real sockets: a payload
//! refused because the chain refuses its topic (final for the topic) ends
//! its window, reported as the chain's refusal and recorded, while the other
//! topics go on; the topic is served again once the chain serves it.
#![cfg(feature = "devnet")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use allora_infer::{AsyncFnProvider, FnProvider, InferError, InferenceRequest};
use allora_sdk::client::{ChainClient, ClientConfig};
use allora_sdk::devnet::{AccountConfig, Devnet, TopicConfig};
use allora_sdk::keys::WorkerKey;
use allora_sdk::worker::store::{SubmissionStore, WindowState};
use allora_sdk::worker::{Outcome, Submission, TopicSpec, Worker, WorkerError};
use futures_util::StreamExt;
use tokio::sync::Notify;

const CHAIN_ID: &str = "allora-remedies-test";
const BLOCK: Duration = Duration::from_millis(200);
const EPOCH: i64 = 10;
const WINDOW: i64 = 5;

fn key() -> WorkerKey {
    WorkerKey::from_private_key_bytes(&[13; 32]).unwrap()
}

#[tokio::test]
async fn a_refused_topic_ends_its_window_and_is_served_again_once_active() {
    let k = key();
    let devnet = Devnet::builder()
        .chain_id(CHAIN_ID)
        .block_interval(BLOCK)
        .account(AccountConfig::new(k.address().clone(), 10_000_000_000_000))
        .topic(TopicConfig::new(1, EPOCH, WINDOW))
        .topic(TopicConfig::new(2, EPOCH, WINDOW))
        .worker(1, k.address().clone())
        .worker(2, k.address().clone())
        .build()
        .start()
        .await
        .unwrap();

    // Topic 2's first provider call holds until the test has deactivated
    // the topic, so its payload meets a chain that refuses the topic.
    let calls = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let topic2 = {
        let (calls, started, release) = (calls.clone(), started.clone(), release.clone());
        AsyncFnProvider::new(move |_req: InferenceRequest| {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            let (started, release) = (started.clone(), release.clone());
            async move {
                if first {
                    started.notify_one();
                    release.notified().await;
                }
                Ok::<f64, InferError>(22.5)
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let client = ChainClient::new(ClientConfig::new([devnet.grpc_endpoint()])).unwrap();
    let (handle, mut results) = Worker::builder()
        .client(client)
        .key(key())
        .websocket(devnet.websocket_url())
        .data_dir(dir.path())
        .chain_id(CHAIN_ID)
        .block_time(BLOCK)
        .topic(TopicSpec::inference(
            1,
            Arc::new(FnProvider::new(|_: &InferenceRequest| 11.5)),
        ))
        .topic(TopicSpec::inference(2, Arc::new(topic2)))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();

    tokio::time::timeout(Duration::from_secs(10), started.notified())
        .await
        .expect("topic 2's first window reaches its provider");
    devnet.set_topic_active(2, false).unwrap();
    release.notify_one();

    let mut served: Vec<Submission> = Vec::new();
    let mut failed: Vec<WorkerError> = Vec::new();
    // Topic 2 stays inactive for a whole epoch, then is active again.
    let reactivate_at = EPOCH * 2 + 5;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !served.iter().any(|s| s.topic_id == 2) {
        if devnet.height() >= reactivate_at {
            devnet.set_topic_active(2, true).unwrap();
        }
        match tokio::time::timeout_at(deadline, results.next()).await {
            Ok(Some(Ok(s))) => served.push(s),
            Ok(Some(Err(e))) => failed.push(e),
            Ok(None) | Err(_) => break,
        }
    }
    handle.shutdown().await;

    // Reported once, as the chain's refusal of the topic.
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].window(), Some((2, EPOCH)));
    assert_eq!(failed[0].kind(), "topic_unavailable", "{}", failed[0]);
    // Topic 1 was served throughout; topic 2 again once active.
    let again = served
        .iter()
        .find(|s| s.topic_id == 2)
        .expect("topic 2 served after it was active again");
    assert!(again.nonce > reactivate_at, "{again:?}");
    assert_eq!(again.outcome, Outcome::Included);
    assert!(served
        .iter()
        .filter(|s| s.topic_id == 1)
        .any(|s| s.nonce == 2 * EPOCH));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the refused window was not retried"
    );
    let record = SubmissionStore::open(dir.path()).unwrap();
    assert!(matches!(
        record.get(2, EPOCH),
        Some(WindowState::Abandoned { .. })
    ));
    assert!(record.is_final(2, again.nonce));
}
