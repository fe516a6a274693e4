//! The worker at the edges of wall-clock windows (scheduler epochs,
//! allora-chain v0.18: `x/emissions/keeper/epoch_submission.go`,
//! `CheckWorkerSubmissionWindow` takes a payload while open_at <= block
//! time <= close_at), against the devnet: its payloads land in blocks
//! stamped inside their epoch's window, its providers are given a deadline
//! taken from the window's close time, and a provider answering after the
//! close costs nothing while the other topics are served.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use allora_devnet::fixtures::{collect_until, test_key, TestNet};
use allora_devnet::DevnetProtocol;
use allora_sdk::emissions::EpochWindow;
use allora_sdk::worker::store::{SubmissionStore, WindowState};
use allora_sdk::worker::{Outcome, Submission, WorkerError, WorkerHandle, WorkerResults};
use allora_sdk::{ChainClient, InferenceRequest, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

/// Epochs of 2 s whose worker windows last 1 s (whole seconds, as the
/// chain's topic settings), on the fixtures' 200 ms blocks.
const EPOCH_SECS: i64 = 2;
const WINDOW_SECS: i64 = 1;
const POLL: Duration = Duration::from_millis(500);
const MAX_WAIT: Duration = Duration::from_secs(10);

fn value(r: &InferenceRequest) -> f64 {
    1000.0 + r.topic_id as f64 + r.nonce as f64 / 1000.0
}

/// A devnet with wall-clock windows whose worker serves `topics`.
async fn wall_clock_net(topics: [u64; 2]) -> TestNet {
    TestNet::builder(test_key(21).unwrap())
        .emissions(DevnetProtocol::V10_WALL_CLOCK)
        .topics(topics, EPOCH_SECS, WINDOW_SECS)
        .start()
        .await
        .unwrap()
}

/// Starts the worker of `net`, serving each topic with its provider.
async fn start_worker<F, Fut>(net: &TestNet, topics: [(u64, F); 2]) -> (WorkerHandle, WorkerResults)
where
    F: Fn(InferenceRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = f64> + Send + 'static,
{
    let builder = net.worker().unwrap().poll_interval(POLL);
    let builder = topics.into_iter().fold(builder, |builder, (id, provider)| {
        builder.topic_async(id, provider)
    });
    builder.build().unwrap().start().await.unwrap()
}

/// The chain's epoch of the window opened at `nonce`, while it is in
/// flight.
async fn epoch_of(client: &ChainClient, topic_id: u64, nonce: i64) -> EpochWindow {
    let epochs = client.topic_epochs(topic_id).await.unwrap();
    epochs
        .iter()
        .find(|e| e.nonce == nonce)
        .copied()
        .unwrap_or_else(|| panic!("no epoch of topic {topic_id} at {nonce}: {epochs:?}"))
}

/// The wall time of the local instant `at`.
fn wall(at: Instant) -> SystemTime {
    let (now, wall_now) = (Instant::now(), SystemTime::now());
    match at.checked_duration_since(now) {
        Some(ahead) => wall_now + ahead,
        None => wall_now - now.duration_since(at),
    }
}

/// Sleeps until the wall time `at`.
async fn sleep_until_wall(at: SystemTime) {
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(left).await;
}

#[tokio::test]
async fn payloads_land_in_blocks_stamped_within_their_epochs_window() {
    // Topic 1 answers at once; topic 2 as late as its deadline allows, so
    // its payload goes out near the window's end.
    const PROMPT: u64 = 1;
    const LATE: u64 = 2;
    let net = wall_clock_net([PROMPT, LATE]).await;
    let client = net.client().unwrap();
    let deadlines: Arc<Mutex<HashMap<(u64, i64), SystemTime>>> = Arc::default();
    let provider = |late: bool| {
        let deadlines = Arc::clone(&deadlines);
        move |req: InferenceRequest| {
            let deadline = wall(req.deadline);
            deadlines
                .lock()
                .unwrap()
                .insert((req.topic_id, req.nonce), deadline);
            async move {
                if late {
                    tokio::time::sleep_until(req.deadline - Duration::from_millis(200)).await;
                }
                value(&req)
            }
        }
    };
    let (handle, mut results) =
        start_worker(&net, [(PROMPT, provider(false)), (LATE, provider(true))]).await;

    // Two epochs of both topics, each checked as it is reported (the chain
    // forgets an epoch once its reputer window is over).
    let mut served = Vec::new();
    while served.len() < 4 {
        let next = tokio::time::timeout(MAX_WAIT, results.next()).await;
        let s = match next {
            Ok(Some(Ok(s))) => s,
            other => panic!("served {served:?}, then {other:?}"),
        };
        assert_eq!(s.outcome, Outcome::Included, "{s:?}");
        let window = (s.topic_id, s.nonce);
        let epoch = epoch_of(&client, s.topic_id, s.nonce).await;
        let landed = net
            .submission(s.topic_id, s.nonce, net.address())
            .unwrap_or_else(|| panic!("{window:?} not on the chain"));
        let stamped = client.block_time_at(landed.height).await.unwrap().unwrap();
        assert!(
            epoch.open_at <= stamped && stamped <= epoch.close_at,
            "{window:?} landed at height {} stamped {stamped:?}, outside {:?}..={:?}",
            landed.height,
            epoch.open_at,
            epoch.close_at
        );
        // The providers' deadline comes from the close time: a block (and
        // time to sign) before it, not a count of blocks from the nonce
        // (the window's end as a height would be a block after it).
        let deadline = deadlines.lock().unwrap()[&window];
        let before_close = epoch
            .close_at
            .duration_since(deadline)
            .unwrap_or_else(|_| panic!("{window:?}: provider deadline after the close"));
        assert!(
            before_close >= Duration::from_millis(150)
                && before_close <= Duration::from_millis(800),
            "{window:?}: provider deadline {before_close:?} before the close"
        );
        served.push(window);
    }
    handle.shutdown().await;
    served.sort_unstable();
    let (a, b) = (served[0].1, served[1].1);
    assert!(a < b, "{served:?}");
    assert_eq!(
        served,
        [(PROMPT, a), (PROMPT, b), (LATE, a), (LATE, b)],
        "two epochs of both topics"
    );
}

/// What the worker's account and the devnet's broadcast count say about
/// spending.
fn spending(net: &TestNet) -> (u64, u128, u64) {
    let account = net.account(net.address()).unwrap();
    (account.sequence, account.balance, net.broadcasts_received())
}

/// Whether `failures` holds one for `topic_id`.
fn failed_for(failures: &[WorkerError], topic_id: u64) -> bool {
    failures.iter().any(|e| e.topic() == Some(topic_id))
}

/// The nonces served of `topic_id`, in order.
fn served_for(served: &[Submission], topic_id: u64) -> Vec<i64> {
    served
        .iter()
        .filter(|s| s.topic_id == topic_id)
        .map(|s| s.nonce)
        .collect()
}

#[tokio::test]
async fn a_provider_answering_after_the_close_costs_nothing_and_the_next_window_is_served() {
    const SLOW: u64 = 1;
    const FAST: u64 = 2;
    let net = wall_clock_net([SLOW, FAST]).await;
    // Providers of later windows answer once the test has looked at the
    // account after the slow window's close, so nothing else is sent
    // meanwhile, whatever the timing.
    let (checked_tx, checked) = watch::channel(false);
    let asked: Arc<Mutex<Vec<(u64, i64)>>> = Arc::default();
    let provider = |topic_id: u64| {
        let (asked, checked, client) = (Arc::clone(&asked), checked.clone(), net.client().unwrap());
        move |req: InferenceRequest| {
            let first = {
                let mut asked = asked.lock().unwrap();
                let first = !asked.iter().any(|(t, _)| *t == req.topic_id);
                asked.push((req.topic_id, req.nonce));
                first
            };
            let (mut checked, client) = (checked.clone(), client.clone());
            async move {
                if first && topic_id == SLOW {
                    // Answers a block after the close of the window, as
                    // the chain states it.
                    let epoch = epoch_of(&client, req.topic_id, req.nonce).await;
                    sleep_until_wall(epoch.close_at + Duration::from_millis(200)).await;
                } else if !first {
                    checked.wait_for(|done| *done).await.unwrap();
                }
                value(&req)
            }
        }
    };
    let (handle, mut results) =
        start_worker(&net, [(SLOW, provider(SLOW)), (FAST, provider(FAST))]).await;

    // The fast topic's first window is served while the slow one's provider
    // still computes.
    let (mut served, mut failed) = collect_until(&mut results, MAX_WAIT, |served, _| {
        !served_for(served, FAST).is_empty()
    })
    .await;
    let first = *served_for(&served, FAST)
        .first()
        .unwrap_or_else(|| panic!("nothing served: {failed:?}"));
    let before = spending(&net);
    let epoch = epoch_of(&net.client().unwrap(), SLOW, first).await;

    // The slow window is given up: reported, and nothing sent for it until
    // well after its close (the provider's answer, and blocks after it).
    let reported = failed_for(&failed, SLOW);
    let (more, late) = collect_until(&mut results, MAX_WAIT, |_, failed| {
        reported || failed_for(failed, SLOW)
    })
    .await;
    served.extend(more);
    failed.extend(late);
    sleep_until_wall(epoch.close_at + Duration::from_millis(600)).await;
    while net.open_nonces(SLOW).contains(&first) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        spending(&net),
        before,
        "(sequence, balance, broadcasts) moved for the window given up"
    );
    checked_tx.send_replace(true);

    // The next windows, the slow topic's with a provider fast again.
    let (more, later) = collect_until(&mut results, MAX_WAIT, |served, _| {
        served_for(served, SLOW).iter().any(|n| *n > first)
            && served_for(served, FAST).iter().any(|n| *n > first)
    })
    .await;
    handle.shutdown().await;
    served.extend(more);
    failed.extend(later);

    let [too_late] = failed.as_slice() else {
        panic!("one failure expected: {failed:?}")
    };
    assert_eq!(too_late.window(), Some((SLOW, first)), "{too_late}");
    assert_eq!(too_late.kind(), "provider_timeout", "{too_late}");
    assert!(
        too_late
            .to_string()
            .contains("too slowly for the submission window"),
        "{too_late}"
    );
    let next = *served_for(&served, SLOW).iter().max().unwrap();
    assert!(next > first, "{served:?}");
    assert!(
        served.iter().all(|s| s.outcome == Outcome::Included),
        "{served:?}"
    );
    let mut asked = asked.lock().unwrap().clone();
    asked.sort_unstable();
    assert_eq!(
        asked,
        [(SLOW, first), (SLOW, next), (FAST, first), (FAST, next)],
        "each window asked once"
    );
    assert!(net.submission(SLOW, first, net.address()).is_none());
    assert!(net.submission(SLOW, next, net.address()).is_some());
    assert!(net.submission(FAST, first, net.address()).is_some());
    let record = SubmissionStore::open(net.data_dir()).unwrap();
    assert_eq!(
        record.get(SLOW, first),
        None,
        "never sent, so never marked pending"
    );
    for window in [(SLOW, next), (FAST, first)] {
        assert!(
            matches!(
                record.get(window.0, window.1),
                Some(WindowState::Confirmed { .. })
            ),
            "{window:?}: {:?}",
            record.get(window.0, window.1)
        );
    }
}
