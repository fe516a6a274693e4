//! The worker's remedies against the devnet, over real sockets: a payload
//! refused because the chain refuses its topic for this worker (final for
//! the topic) ends its window, reported as the chain's refusal and recorded,
//! while the other topics go on; the topic is served again once the chain
//! accepts the worker there again.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use allora_devnet::fixtures::{fn_topic, test_key, TestNet};
use allora_sdk::worker::store::{SubmissionStore, WindowState};
use allora_sdk::worker::{Outcome, Submission, TopicSpec, WorkerError};
use allora_sdk::{AsyncFnProvider, InferError, InferenceRequest, StreamExt};
use tokio::sync::Notify;

const BLOCK: Duration = Duration::from_millis(200);
const EPOCH: i64 = 10;
const WINDOW: i64 = 5;

#[tokio::test]
async fn a_refused_topic_ends_its_window_and_is_served_again_once_accepted() {
    let devnet = TestNet::builder(test_key(13).unwrap())
        .chain_id("allora-remedies-test")
        .block_interval(BLOCK)
        .topics([1, 2], EPOCH, WINDOW)
        .start()
        .await
        .unwrap();

    // Topic 2's first provider call holds until the test has removed the
    // worker's registration there, so its payload meets a chain that
    // refuses the topic to this worker.
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
    let (handle, mut results) = devnet
        .worker()
        .unwrap()
        .topic(fn_topic(1, |_: &InferenceRequest| 11.5))
        .topic(TopicSpec::inference(2, Arc::new(topic2)))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();

    tokio::time::timeout(Duration::from_secs(10), started.notified())
        .await
        .expect("topic 2's first window reaches its provider");
    devnet.unregister_worker(2, devnet.address()).unwrap();
    release.notify_one();

    let mut served: Vec<Submission> = Vec::new();
    let mut failed: Vec<WorkerError> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !served.iter().any(|s| s.topic_id == 2) {
        match tokio::time::timeout_at(deadline, results.next()).await {
            Ok(Some(Ok(s))) => served.push(s),
            Ok(Some(Err(e))) => {
                // Registered again as soon as the refusal is reported.
                devnet.register_worker(2, devnet.address()).unwrap();
                failed.push(e);
            }
            Ok(None) | Err(_) => break,
        }
    }
    handle.shutdown().await;

    // Reported once, as the chain's refusal of the topic.
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].window(), Some((2, EPOCH)));
    assert_eq!(failed[0].kind(), "not_registered", "{}", failed[0]);
    // Topic 1 was served throughout; topic 2 again once accepted.
    let again = served
        .iter()
        .find(|s| s.topic_id == 2)
        .expect("topic 2 served after the worker was registered again");
    assert!(again.nonce > EPOCH, "{again:?}");
    assert_eq!(again.outcome, Outcome::Included);
    assert!(served
        .iter()
        .filter(|s| s.topic_id == 1)
        .any(|s| s.nonce == EPOCH));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the refused window was not retried"
    );
    let record = SubmissionStore::open(devnet.data_dir()).unwrap();
    assert!(matches!(
        record.get(2, EPOCH),
        Some(WindowState::Abandoned { .. })
    ));
    assert!(record.is_final(2, again.nonce));
}
