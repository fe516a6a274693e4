//! The worker's remedies against the devnet, over real sockets: a payload
//! refused because the chain refuses its topic for this worker (final for
//! the topic: not registered, 13; not whitelisted, 83) ends its window,
//! reported once as the chain's refusal and recorded, the topic suspended
//! (no provider call, no fee) while the other topics go on; a check a few
//! epochs later serves it again once the chain accepts the worker there.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/held.rs"]
mod held;

use std::time::Duration;

use allora_devnet::fixtures::{fn_topic, test_key, TestNet};
use allora_sdk::worker::store::{SubmissionStore, WindowState};
use allora_sdk::worker::{Outcome, Submission, SuspendReason, TopicSpec, WorkerError};
use allora_sdk::{InferenceRequest, StreamExt};
use held::HeldFirstCall;

const BLOCK: Duration = Duration::from_millis(200);
const EPOCH: i64 = 10;
const WINDOW: i64 = 5;

/// How the test makes the chain refuse topic 2 to the worker, and accept
/// it again.
#[derive(Clone, Copy)]
enum Refusal {
    Unregistered,
    NotWhitelisted,
}

#[tokio::test]
async fn an_unregistered_topic_ends_its_window_and_is_served_again_once_registered() {
    refused_then_accepted(Refusal::Unregistered, 13).await;
}

#[tokio::test]
async fn a_whitelist_refusal_ends_its_window_and_is_served_again_once_admitted() {
    refused_then_accepted(Refusal::NotWhitelisted, 14).await;
}

async fn refused_then_accepted(refusal: Refusal, seed: u8) {
    let devnet = TestNet::builder(test_key(seed).unwrap())
        .chain_id("allora-remedies-test")
        .block_interval(BLOCK)
        .topics([1, 2], EPOCH, WINDOW)
        .start()
        .await
        .unwrap();
    let (refuse, accept, kind, reason) = match refusal {
        Refusal::Unregistered => (
            Box::new(|d: &TestNet| d.unregister_worker(2, d.address()).unwrap())
                as Box<dyn Fn(&TestNet)>,
            Box::new(|d: &TestNet| d.register_worker(2, d.address()).unwrap())
                as Box<dyn Fn(&TestNet)>,
            "not_registered",
            SuspendReason::NotRegistered,
        ),
        Refusal::NotWhitelisted => (
            Box::new(|d: &TestNet| {
                let other = test_key(99).unwrap().address().clone();
                d.set_worker_whitelist(2, Some(vec![other])).unwrap()
            }) as Box<dyn Fn(&TestNet)>,
            Box::new(|d: &TestNet| d.set_worker_whitelist(2, None).unwrap())
                as Box<dyn Fn(&TestNet)>,
            "not_permitted",
            SuspendReason::NotPermitted,
        ),
    };

    // Topic 2's first provider call holds until the test has made the chain
    // refuse the topic to this worker, so its payload meets that refusal.
    let topic2 = HeldFirstCall::default();
    let (handle, mut results) = devnet
        .worker()
        .unwrap()
        .topic(fn_topic(1, |_: &InferenceRequest| 11.5))
        .topic(TopicSpec::inference(2, topic2.provider(22.5)))
        .topic_check_epochs(1)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();

    topic2.started().await;
    refuse(&devnet);
    topic2.release();

    let mut served: Vec<Submission> = Vec::new();
    let mut failed: Vec<WorkerError> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !served.iter().any(|s| s.topic_id == 2) {
        match tokio::time::timeout_at(deadline, results.next()).await {
            Ok(Some(Ok(s))) => served.push(s),
            Ok(Some(Err(e))) => {
                // Accepted again as soon as the refusal is reported.
                accept(&devnet);
                failed.push(e);
            }
            Ok(None) | Err(_) => break,
        }
    }
    handle.shutdown().await;

    // Reported once, as the chain's refusal of the topic, and the topic
    // suspended once.
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].window(), Some((2, EPOCH)));
    assert_eq!(failed[0].kind(), kind, "{}", failed[0]);
    assert!(
        matches!(&failed[1], WorkerError::TopicSuspended { topic_id: 2, suspension } if suspension.reason == reason),
        "{}",
        failed[1]
    );
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
        topic2.calls(),
        2,
        "the refused window was not retried, and no window was asked for while suspended"
    );
    let record = SubmissionStore::open(devnet.data_dir()).unwrap();
    assert!(matches!(
        record.get(2, EPOCH),
        Some(WindowState::Abandoned { .. })
    ));
    assert!(record.is_final(2, again.nonce));
}
