//! The worker against the chain's rules, on the devnet over real sockets:
//! every refusal of the conformance table the worker can meet, with its
//! reaction asserted (the outcome kind, reported once, no fee where none is
//! due, the topic suspended and served again without a restart), and the
//! checks it makes before signing (labels, guard rails, the maximum fee).
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/held.rs"]
mod held;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use allora_devnet::fixtures::{
    fn_topic, record, refused_port, test_key, HangingPort, RecordedResults, TestNet, TestNetBuilder,
};
use allora_devnet::{AccountConfig, DevnetBuilder, TopicConfig};
use allora_sdk::status::NodeStatus;
use allora_sdk::tx::GasPrice;
use allora_sdk::worker::{
    Outcome, ProviderSide, SuspendReason, TopicSpec, TopicState, WorkerBuilder, WorkerError,
    WorkerHandle, WorkerObserver,
};
use allora_sdk::{FnProvider, HttpProvider, InferenceProvider, InferenceRequest, Submission};
use held::HeldFirstCall;

const BLOCK: Duration = Duration::from_millis(200);
const EPOCH: i64 = 8;
const WINDOW: i64 = 5;

/// What the observer saw: each topic state change and each failure kind.
#[derive(Default)]
struct Seen {
    states: Mutex<Vec<(u64, String)>>,
    failures: Mutex<Vec<&'static str>>,
}

impl WorkerObserver for Seen {
    fn topic_state(&self, topic_id: u64, state: &TopicState) {
        self.states
            .lock()
            .unwrap()
            .push((topic_id, state.as_str().to_owned()));
    }

    fn failure(&self, error: &WorkerError) {
        self.failures.lock().unwrap().push(error.kind());
    }
}

impl Seen {
    fn states_of(&self, topic_id: u64) -> Vec<String> {
        self.states
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t == topic_id)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

/// Waits (up to `max`) until `done` holds.
async fn until(max: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + max;
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// A devnet on `chain_id` with short blocks, for the worker of key `seed`.
fn devnet(seed: u8, chain_id: &str) -> TestNetBuilder {
    TestNet::builder(test_key(seed).unwrap())
        .chain_id(chain_id)
        .block_interval(BLOCK)
}

/// Starts the devnet `builder` describes.
async fn launch(builder: TestNetBuilder) -> TestNet {
    builder.start().await.unwrap()
}

/// A devnet of topic 1 on `chain_id` for the worker of key `seed`, with the
/// chain rules `rules` sets.
async fn one_topic(
    seed: u8,
    chain_id: &str,
    rules: impl FnOnce(DevnetBuilder) -> DevnetBuilder,
) -> TestNet {
    launch(
        devnet(seed, chain_id)
            .topics([1], EPOCH, WINDOW)
            .devnet(rules),
    )
    .await
}

/// A devnet on `chain_id` whose minimum gas price is 10 uallo, and a worker
/// of topic 1 that offers 1 uallo per gas.
async fn underpaying(seed: u8, chain_id: &str) -> (TestNet, WorkerBuilder) {
    let net = one_topic(seed, chain_id, |d| {
        d.min_gas_price(GasPrice::from_uallo(10))
    })
    .await;
    let worker = net
        .worker()
        .unwrap()
        .topic(fn_topic(1, |_: &InferenceRequest| 1.5))
        .gas_price(GasPrice::from_uallo(1));
    (net, worker)
}

/// Builds and starts the worker, recording its results.
async fn run(worker: WorkerBuilder) -> (WorkerHandle, RecordedResults) {
    let (handle, results) = worker.build().unwrap().start().await.unwrap();
    (handle, record(results))
}

/// [`run`], with a fresh [`Seen`] observing the worker.
async fn run_seen(worker: WorkerBuilder) -> (WorkerHandle, RecordedResults, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let (handle, results) = run(worker.observer(seen.clone())).await;
    (handle, results, seen)
}

/// Waits (up to `secs` seconds) until `topic_id` has been served.
async fn until_served(results: &RecordedResults, topic_id: u64, secs: u64) -> bool {
    until(Duration::from_secs(secs), || {
        !results.with(|items| served(items, topic_id)).is_empty()
    })
    .await
}

/// A provider that counts its calls.
fn counting(calls: &Arc<AtomicUsize>, value: f64) -> Arc<dyn InferenceProvider> {
    let calls = Arc::clone(calls);
    Arc::new(FnProvider::new(move |_: &InferenceRequest| {
        calls.fetch_add(1, Ordering::SeqCst);
        value
    }))
}

fn served(items: &[Result<Submission, WorkerError>], topic_id: u64) -> Vec<Submission> {
    items
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|s| s.topic_id == topic_id)
        .cloned()
        .collect()
}

fn suspensions(items: &[Result<Submission, WorkerError>], topic_id: u64) -> Vec<SuspendReason> {
    errors(items, |e| match e {
        WorkerError::TopicSuspended {
            topic_id: t,
            suspension,
        } if *t == topic_id => Some(suspension.reason),
        _ => None,
    })
}

/// What `pick` takes from each failure among `items`, in order.
fn errors<T>(
    items: &[Result<Submission, WorkerError>],
    pick: impl Fn(&WorkerError) -> Option<T>,
) -> Vec<T> {
    items
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter_map(pick)
        .collect()
}

/// Starts a worker that serves topic 1 and `suspended`, checking the topics
/// every epoch, with a fresh [`Seen`] observing it.
async fn run_beside_served(
    net: &TestNet,
    suspended: TopicSpec,
) -> (WorkerHandle, RecordedResults, Arc<Seen>) {
    run_seen(
        net.worker()
            .unwrap()
            .topic(fn_topic(1, |_: &InferenceRequest| 1.5))
            .topic(suspended)
            .topic_check_epochs(1),
    )
    .await
}

/// Waits (up to `secs` seconds) until the recorded results satisfy `done`,
/// asserting that they do, then stops the worker and returns every result.
async fn finish_when(
    handle: WorkerHandle,
    results: RecordedResults,
    secs: u64,
    done: impl Fn(&[Result<Submission, WorkerError>]) -> bool,
) -> Vec<Result<Submission, WorkerError>> {
    assert!(until(Duration::from_secs(secs), || results.with(&done)).await);
    handle.shutdown().await;
    results.finish().await.unwrap()
}

/// Asserts that no payload of `topic_id` reached the chain before `height`.
fn assert_no_submission_before(net: &TestNet, topic_id: u64, height: i64) {
    let early: Vec<_> = net
        .submissions()
        .into_iter()
        .filter(|s| s.topic_id == topic_id && s.height < height)
        .collect();
    assert!(early.is_empty(), "{early:?}");
}

/// Stops the worker and asserts that `topic_id` was suspended for `reason`
/// exactly once (reported as `state`) and then served; returns the results.
async fn finish_suspended_once(
    handle: WorkerHandle,
    results: RecordedResults,
    seen: &Seen,
    topic_id: u64,
    reason: SuspendReason,
    state: &str,
) -> Vec<Result<Submission, WorkerError>> {
    handle.shutdown().await;
    let items = results.finish().await.unwrap();
    assert_eq!(suspensions(&items, topic_id), [reason], "reported once");
    assert_eq!(seen.states_of(topic_id), [state, "serving"]);
    items
}

#[tokio::test]
async fn an_unregistered_topic_is_suspended_reported_and_served_once_registered() {
    let net = launch(
        devnet(21, "allora-rules-register")
            .topics([1, 2], EPOCH, WINDOW)
            .unregistered(),
    )
    .await;
    net.register_worker(1, net.address()).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    // One unregistered topic does not stop the worker from starting.
    let (handle, results, seen) =
        run_beside_served(&net, TopicSpec::inference(2, counting(&calls, 22.5))).await;

    // Reported at start: in the results stream and to the observer.
    assert!(
        until(Duration::from_secs(5), || results.with(
            |items| suspensions(items, 2) == [SuspendReason::NotRegistered]
        ))
        .await
    );
    assert_eq!(seen.states_of(2), ["not_registered"]);
    assert_eq!(seen.states_of(1), ["serving"]);
    // And in `status`, from what the running worker wrote.
    let client = net.client().unwrap();
    assert!(
        until(Duration::from_secs(5), || net
            .data_dir()
            .join("topics.json")
            .exists())
        .await
    );
    let status = NodeStatus::gather(&client, net.address(), net.data_dir(), &[1, 2], None)
        .await
        .unwrap();
    assert_eq!(status.topics[1].registered, Some(false));
    match &status.topics[1].worker_state {
        Some(TopicState::Suspended(s)) => assert_eq!(s.reason, SuspendReason::NotRegistered),
        other => panic!("{other:?}"),
    }
    assert!(
        status.to_string().contains("SUSPENDED (not_registered"),
        "{status}"
    );

    // Topic 1 is served meanwhile; topic 2 costs no provider call.
    assert!(until_served(&results, 1, 10).await);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let registered_at = net.height();
    net.register_worker(2, net.address()).unwrap();
    assert!(
        until_served(&results, 2, 15).await,
        "topic 2 served after its registration, without a restart"
    );
    let items = finish_suspended_once(
        handle,
        results,
        &seen,
        2,
        SuspendReason::NotRegistered,
        "not_registered",
    )
    .await;
    let first = &served(&items, 2)[0];
    assert_eq!(first.outcome, Outcome::Included);
    assert!(first.nonce >= registered_at - WINDOW, "{first:?}");
    // Nothing of topic 2 reached the chain before its registration.
    assert!(net
        .included_txs()
        .iter()
        .all(|tx| tx.code == 0 || tx.height >= registered_at));
    assert_no_submission_before(&net, 2, registered_at);
}

#[tokio::test]
async fn a_whitelist_that_refuses_the_worker_suspends_the_topic_until_it_admits_it() {
    let other = test_key(99).unwrap().address().clone();
    let net = launch(
        devnet(22, "allora-rules-whitelist")
            .topic(TopicConfig::new(1, EPOCH, WINDOW))
            .topic(TopicConfig::new(2, EPOCH, WINDOW).worker_whitelist([other])),
    )
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let (handle, results, seen) =
        run_beside_served(&net, TopicSpec::inference(2, counting(&calls, 2.5))).await;
    assert!(until_served(&results, 1, 10).await);
    assert_eq!(seen.states_of(2), ["not_permitted"]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no provider call while refused"
    );
    let admitted_at = net.height();
    net.set_worker_whitelist(2, Some(vec![net.address().clone()]))
        .unwrap();
    assert!(until_served(&results, 2, 15).await);
    finish_suspended_once(
        handle,
        results,
        &seen,
        2,
        SuspendReason::NotPermitted,
        "not_permitted",
    )
    .await;
    // No fee was paid for topic 2 while the whitelist refused the worker.
    assert!(net.included_txs().iter().all(|tx| tx.code == 0));
    assert_no_submission_before(&net, 2, admitted_at);
}

#[tokio::test]
async fn a_topic_that_does_not_exist_is_suspended_until_it_does() {
    let net = launch(devnet(23, "allora-rules-topic").topics([1], EPOCH, WINDOW)).await;
    let (handle, results, seen) =
        run_beside_served(&net, fn_topic(9, |_: &InferenceRequest| 9.5)).await;
    assert!(until_served(&results, 1, 10).await);
    assert_eq!(seen.states_of(9), ["topic_missing"]);
    net.add_topic(TopicConfig::new(9, EPOCH, WINDOW)).unwrap();
    net.register_worker(9, net.address()).unwrap();
    assert!(until_served(&results, 9, 15).await);
    finish_suspended_once(
        handle,
        results,
        &seen,
        9,
        SuspendReason::TopicMissing,
        "topic_missing",
    )
    .await;
}

#[tokio::test]
async fn labels_are_checked_as_the_chain_checks_them_before_anything_is_signed() {
    let multi = |id| {
        TopicConfig::new(id, EPOCH, WINDOW)
            .multi()
            .label_whitelist(["up", "down", "flat"])
            .max_labels_per_submission(2)
    };
    let net = launch(
        devnet(24, "allora-rules-labels")
            .topic(multi(1))
            .topic(multi(2))
            .topic(multi(3))
            .topic(multi(4))
            .topic(multi(5))
            .topic(multi(6))
            .topic(
                TopicConfig::new(7, EPOCH, WINDOW)
                    .multi()
                    .label_case_sensitive(true)
                    .label_whitelist(["Up"]),
            )
            .topics([8], EPOCH, WINDOW)
            .devnet(|d| d.max_canonical_label_byte_length(8)),
    )
    .await;
    let labeled = |id, pairs: Vec<(&'static str, f64)>| {
        TopicSpec::inference(
            id,
            Arc::new(FnProvider::new(move |_: &InferenceRequest| pairs.clone())),
        )
    };
    let (handle, results) = run(net
        .worker()
        .unwrap()
        // Accepted: canonical labels are trimmed and lower-cased.
        .topic(labeled(1, vec![(" UP ", 0.7), ("down", 0.3)]))
        .topic(labeled(2, vec![("up", 0.5), ("sideways", 0.5)]))
        .topic(labeled(3, vec![("up", 0.2), ("down", 0.3), ("flat", 0.5)]))
        .topic(labeled(4, vec![("up!", 1.0)]))
        .topic(labeled(5, vec![("up", 0.5), ("UP", 0.5)]))
        .topic(labeled(6, vec![("downwards", 1.0)]))
        // Case-sensitive: "up" is not "Up".
        .topic(labeled(7, vec![("up", 1.0)]))
        // Two values on a single-value topic.
        .topic(labeled(8, vec![("a", 1.0), ("b", 2.0)])))
    .await;
    let refusals = |items: &[Result<Submission, WorkerError>]| {
        errors(items, |e| match e {
            WorkerError::LabelsRefused {
                topic_id, source, ..
            } => Some((*topic_id, source.kind.codespace(), source.kind.code())),
            _ => None,
        })
    };
    let items = finish_when(handle, results, 10, |items| {
        !served(items, 1).is_empty() && refusals(items).len() >= 7
    })
    .await;

    let mut refused: Vec<_> = refusals(&items);
    refused.sort_unstable();
    refused.dedup_by_key(|(topic, ..)| *topic);
    assert_eq!(
        refused,
        [
            (2, "emissions", 97),
            (3, "emissions", 98),
            (4, "emissions", 95),
            (5, "emissions", 95),
            (6, "emissions", 95),
            (7, "emissions", 97),
            (8, "emissions", 98),
        ]
    );
    // A refusal is final for its window only: the topic is not suspended.
    assert!((2..=8).all(|t| suspensions(&items, t).is_empty()));
    let on_chain = net
        .submissions()
        .into_iter()
        .find(|s| s.topic_id == 1)
        .expect("topic 1 on chain");
    assert_eq!(
        on_chain.inference.unwrap(),
        [
            ("up".to_owned(), "0.7".to_owned()),
            ("down".to_owned(), "0.3".to_owned())
        ]
    );
    // Nothing of the refused topics was sent: no transaction failed, no
    // payload of theirs is on chain.
    assert!(net.included_txs().iter().all(|tx| tx.code == 0));
    assert!(net.submissions().iter().all(|s| s.topic_id == 1));
}

#[tokio::test]
async fn an_inference_past_the_top_n_cap_is_included_but_not_admitted() {
    let second = test_key(26).unwrap();
    let net = launch(
        devnet(25, "allora-rules-admission")
            .topic(TopicConfig::new(1, EPOCH, WINDOW).max_top_inferers(1))
            .devnet(|d| {
                d.account(AccountConfig::new(
                    second.address().clone(),
                    10_000_000_000_000,
                ))
                .worker(1, second.address().clone())
            }),
    )
    .await;
    let second_dir = tempfile::tempdir().unwrap();
    let start = |builder: allora_sdk::WorkerBuilder| async move {
        builder
            .topic(fn_topic(1, |r: &InferenceRequest| r.nonce as f64))
            .build()
            .unwrap()
            .start()
            .await
            .unwrap()
    };
    let (first, first_results) = start(net.worker().unwrap()).await;
    let (other, other_results) = start(
        net.worker()
            .unwrap()
            .key(second.clone())
            .data_dir(second_dir.path()),
    )
    .await;
    let (a, b) = (record(first_results), record(other_results));
    let done = |r: &allora_devnet::fixtures::RecordedResults| r.served().len() >= 2;
    assert!(until(Duration::from_secs(15), || done(&a) && done(&b)).await);
    first.shutdown().await;
    other.shutdown().await;
    let (a, b) = (a.finish().await.unwrap(), b.finish().await.unwrap());
    // For each nonce both served, one inferer was admitted and the other
    // included but not admitted (code 0, no EventInsertInfererPayload).
    let outcome = |items: &[Result<Submission, WorkerError>], nonce| {
        served(items, 1)
            .into_iter()
            .find(|s| s.nonce == nonce)
            .map(|s| s.outcome)
    };
    let nonces: Vec<i64> = served(&a, 1).iter().map(|s| s.nonce).collect();
    let mut compared = 0;
    for nonce in nonces {
        let (Some(x), Some(y)) = (outcome(&a, nonce), outcome(&b, nonce)) else {
            continue;
        };
        let mut pair = [x, y];
        pair.sort_by_key(|o| *o == Outcome::NotAdmitted);
        assert_eq!(
            pair,
            [Outcome::Included, Outcome::NotAdmitted],
            "nonce {nonce}"
        );
        compared += 1;
        let admitted: Vec<bool> = net
            .submissions()
            .iter()
            .filter(|s| s.nonce == nonce)
            .map(|s| s.inference_admitted)
            .collect();
        assert_eq!(admitted.len(), 2);
        assert_eq!(admitted.iter().filter(|a| **a).count(), 1);
    }
    assert!(compared >= 1);
    assert!(net.included_txs().iter().all(|tx| tx.code == 0));
}

/// An HTTP server answering `body` to every request, on loopback.
async fn http_answering(body: String) -> String {
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { body }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/")
}

fn http(url: &str) -> Arc<HttpProvider> {
    Arc::new(
        HttpProvider::builder(url)
            .max_retries(0)
            .attempt_timeout(Duration::from_millis(400))
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn servers_answers_are_read_by_the_topics_arity_and_each_side_stands_alone() {
    let forecast_inferer = test_key(60).unwrap().address().to_string();
    let net = launch(
        devnet(27, "allora-rules-servers")
            .topics([1, 2, 3], EPOCH, WINDOW)
            .topic(
                TopicConfig::new(4, EPOCH, WINDOW)
                    .multi()
                    .label_whitelist(["up"]),
            ),
    )
    .await;
    let one_key = http_answering(r#"{"inference": 3012.5}"#.into()).await;
    let one_key_text = http_answering(r#"{"prediction": "0.0012"}"#.into()).await;
    let labeled = http_answering(r#"{"UP": 0.7}"#.into()).await;
    // The off-chain node's forecast format: inferer -> list, first counts.
    let forecast = http_answering(format!(r#"{{"{forecast_inferer}": [0.12, 0.3]}}"#)).await;
    let down = format!("http://127.0.0.1:{}/", refused_port().unwrap());
    let hung = HangingPort::start().await.unwrap();
    let (handle, results) = run(net
        .worker()
        .unwrap()
        // A one-key object on a single-value topic, with a hung forecast
        // server: the inference goes alone, at its own time.
        .topic(
            TopicSpec::inference(1, http(&one_key))
                .with_forecast(http(&hung.endpoint()))
                .with_forecast_timeout(Duration::from_millis(300)),
        )
        // A forecast server that is down: the inference still goes.
        .topic(TopicSpec::inference(2, http(&one_key_text)).with_forecast(http(&down)))
        // An inference server that is down: the forecast goes alone.
        .topic(TopicSpec::inference(3, http(&down)).with_forecast(http(&forecast)))
        // A one-key object on a multi-value topic: a label.
        .topic(TopicSpec::inference(4, http(&labeled))))
    .await;
    let items = finish_when(handle, results, 15, |items| {
        (1..=4).all(|t| !served(items, t).is_empty())
    })
    .await;
    let on_chain = |topic: u64| {
        let nonce = served(&items, topic)[0].nonce;
        net.submission(topic, nonce, net.address()).unwrap()
    };
    assert_eq!(
        on_chain(1).inference.unwrap(),
        [("y".to_owned(), "3012.5".to_owned())]
    );
    assert!(on_chain(1).forecast.is_none());
    assert_eq!(
        on_chain(2).inference.unwrap(),
        [("y".to_owned(), "0.0012".to_owned())]
    );
    assert!(on_chain(3).inference.is_none());
    assert_eq!(
        on_chain(3).forecast.unwrap(),
        [(forecast_inferer.clone(), "0.12".to_owned())]
    );
    assert_eq!(
        on_chain(4).inference.unwrap(),
        [("up".to_owned(), "0.7".to_owned())]
    );
    // Each failing side reported on its own, with its side.
    let side_failures = |topic: u64| {
        items
            .iter()
            .filter_map(|r| match r {
                Err(e @ WorkerError::Provider { topic_id, side, .. }) if *topic_id == topic => {
                    Some((*side, e.kind()))
                }
                _ => None,
            })
            .next()
    };
    assert_eq!(
        side_failures(1),
        Some((ProviderSide::Forecast, "forecast_timeout"))
    );
    assert_eq!(
        side_failures(2),
        Some((ProviderSide::Forecast, "forecast_error"))
    );
    assert_eq!(
        side_failures(3),
        Some((ProviderSide::Inference, "provider_error"))
    );
    assert_eq!(side_failures(4), None);
}

#[tokio::test]
async fn a_fee_below_the_minimum_is_raised_to_what_the_chain_requires_in_one_step() {
    let (_net, worker) = underpaying(28, "allora-rules-fee").await;
    let (handle, results) = run(worker.fee_tier(allora_sdk::FeeTier::Eco)).await;
    let items = finish_when(handle, results, 10, |items| {
        items.iter().filter(|r| r.is_ok()).count() >= 2
    })
    .await;
    for s in served(&items, 1) {
        let fee = s.fee.clone().unwrap();
        // Exactly ceil(10 uallo × gas limit): what the chain asked for.
        assert_eq!(fee.amount, u128::from(fee.gas_limit) * 10, "{s:?}");
    }
    // No window failed for the fee: the raise happened within the window.
    assert!(
        items.iter().all(|r| r.is_ok()),
        "{:?}",
        items.iter().filter(|r| r.is_err()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_fee_above_the_maximum_is_not_paid_and_says_both_amounts() {
    let (net, worker) = underpaying(29, "allora-rules-max-fee").await;
    let balance = net.account(net.address()).unwrap().balance;
    let (handle, results, seen) = run_seen(worker.max_fee(1_000)).await;
    let above = |items: &[Result<Submission, WorkerError>]| {
        errors(items, |e| match e {
            WorkerError::FeeAboveMaximum {
                required, maximum, ..
            } => Some((*required, *maximum)),
            _ => None,
        })
    };
    let items = finish_when(handle, results, 10, |i| above(i).len() >= 2).await;
    let found = above(&items);
    for (required, maximum) in &found {
        assert_eq!(*maximum, 1_000);
        assert!(*required > 1_000 && required % 10 == 0, "{required}");
    }
    let text = items
        .iter()
        .find_map(|r| r.as_ref().err())
        .unwrap()
        .to_string();
    assert!(
        text.contains("fee above maximum") && text.contains("1000uallo"),
        "{text}"
    );
    assert!(seen.failures.lock().unwrap().contains(&"fee_above_maximum"));
    // Nothing was paid, nothing reported as unreachable.
    assert!(net.included_txs().is_empty());
    assert_eq!(net.account(net.address()).unwrap().balance, balance);
    assert!(items
        .iter()
        .all(|r| !matches!(r, Err(WorkerError::Unavailable { .. }))));
}

#[tokio::test]
async fn guard_rails_refuse_zero_and_out_of_range_values_before_signing() {
    let net = launch(devnet(30, "allora-rules-guard").topics([1, 2, 3], EPOCH, WINDOW)).await;
    let value = |v: f64| Arc::new(FnProvider::new(move |_: &InferenceRequest| v));
    let range = |min: &str, max: &str| (Some(min.parse().unwrap()), Some(max.parse().unwrap()));
    let (min, max) = range("100", "10000");
    let (handle, results, seen) = run_seen(
        net.worker()
            .unwrap()
            .topic(TopicSpec::inference(1, value(0.0)).refuse_zero())
            .topic(TopicSpec::inference(2, value(1e6)).value_range(min.clone(), max.clone()))
            .topic(
                TopicSpec::inference(3, value(3012.5))
                    .refuse_zero()
                    .value_range(min, max),
            ),
    )
    .await;
    let refused = |items: &[Result<Submission, WorkerError>]| {
        errors(items, |e| match e {
            e @ WorkerError::Provider { topic_id, .. } => Some((*topic_id, e.kind())),
            _ => None,
        })
    };
    let items = finish_when(handle, results, 10, |items| {
        let r = refused(items);
        r.iter().any(|(t, _)| *t == 1)
            && r.iter().any(|(t, _)| *t == 2)
            && !served(items, 3).is_empty()
    })
    .await;
    assert!(refused(&items)
        .iter()
        .all(|(t, kind)| *t != 3 && *kind == "value_refused"));
    assert!(seen.failures.lock().unwrap().contains(&"value_refused"));
    assert!(net.submissions().iter().all(|s| s.topic_id == 3));
    assert!(net.included_txs().iter().all(|tx| tx.code == 0));
}

#[tokio::test]
async fn an_oversized_payload_is_final_for_its_window_and_costs_no_fee() {
    let net = one_topic(31, "allora-rules-size", |d| d.max_serialized_msg_length(64)).await;
    let (handle, results) = run(net
        .worker()
        .unwrap()
        .topic(fn_topic(1, |_: &InferenceRequest| 1.5)))
    .await;
    let kinds = |items: &[Result<Submission, WorkerError>]| errors(items, |e| Some(e.kind()));
    let items = finish_when(handle, results, 10, |i| kinds(i).len() >= 2).await;
    // One report per window, each the chain's code 53, caught by the
    // simulation: nothing included, nothing paid.
    let windows: Vec<_> = items
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| (e.kind(), e.window()))
        .collect();
    assert!(
        windows.iter().all(|(kind, _)| *kind == "payload_too_large"),
        "{windows:?}"
    );
    let mut nonces: Vec<_> = windows.iter().map(|(_, w)| w.unwrap().1).collect();
    let all = nonces.len();
    nonces.dedup();
    assert_eq!(nonces.len(), all, "one report per window");
    assert!(net.included_txs().is_empty());
}

#[tokio::test]
async fn a_data_fee_the_account_cannot_pay_suspends_its_topics_until_funded() {
    let net = one_topic(32, "allora-rules-funds", |d| {
        d.data_sending_fee(1_000_000_000_000_000)
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let (handle, results, seen) = run_seen(
        net.worker()
            .unwrap()
            .topic(TopicSpec::inference(1, counting(&calls, 1.5)))
            .topic_check_epochs(1),
    )
    .await;
    assert!(
        until(Duration::from_secs(10), || seen.states_of(1).len() >= 2).await,
        "{:?}",
        seen.states_of(1)
    );
    assert_eq!(seen.states_of(1), ["serving", "insufficient_funds"]);
    let refused_calls = calls.load(Ordering::SeqCst);
    // Suspended: the next epochs cost nothing.
    let height = net.height();
    net.wait_height(height + 2 * EPOCH).await;
    assert_eq!(calls.load(Ordering::SeqCst), refused_calls);
    net.fund(net.address(), 10_000_000_000_000_000).unwrap();
    assert!(until(Duration::from_secs(15), || !results.served().is_empty()).await);
    handle.shutdown().await;
    let items = results.finish().await.unwrap();
    assert_eq!(suspensions(&items, 1), [SuspendReason::InsufficientFunds]);
    let rejected: Vec<_> = items
        .iter()
        .filter(|r| matches!(r, Err(WorkerError::Rejected { .. })))
        .collect();
    assert_eq!(rejected.len(), 1, "reported once: {rejected:?}");
    assert_eq!(
        seen.states_of(1),
        ["serving", "insufficient_funds", "serving"]
    );
}

#[tokio::test]
async fn a_window_the_chain_closed_early_is_missed_once_and_costs_no_fee() {
    let net = launch(devnet(33, "allora-rules-window").topics([1], EPOCH, WINDOW)).await;
    // The first window's provider holds until the test has shortened the
    // window under its open nonce (as an UpdateTopic would), so its payload
    // meets code 67.
    let held = HeldFirstCall::default();
    let (handle, results) = run(net
        .worker()
        .unwrap()
        .topic(TopicSpec::inference(1, held.provider(4.5))))
    .await;
    held.started().await;
    let nonce = net.open_nonces(1)[0];
    net.wait_height(nonce + 2).await;
    net.set_worker_submission_window(1, 1).unwrap();
    held.release();
    assert!(
        until(Duration::from_secs(10), || results
            .with(|items| items.iter().any(|r| r.is_err())))
        .await
    );
    net.set_worker_submission_window(1, WINDOW).unwrap();
    assert!(until(Duration::from_secs(15), || !results.served().is_empty()).await);
    handle.shutdown().await;
    let items = results.finish().await.unwrap();
    let failures: Vec<&WorkerError> = items.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failures.len(), 1, "reported once: {failures:?}");
    assert_eq!(failures[0].kind(), "window_missed");
    assert_eq!(failures[0].window(), Some((1, nonce)));
    assert!(
        failures[0]
            .to_string()
            .contains("worker nonce window not available"),
        "{}",
        failures[0]
    );
    // Caught by the simulation: no failed transaction, no fee; the topic
    // stays served.
    assert!(net.included_txs().iter().all(|tx| tx.code == 0));
    assert!(suspensions(&items, 1).is_empty());
}

#[tokio::test]
async fn auto_registration_waits_for_the_funds_it_needs_instead_of_failing_each_check() {
    let net = launch(
        devnet(34, "allora-rules-autoregister")
            .topics([1], EPOCH, WINDOW)
            .unregistered()
            .balance(100),
    )
    .await;
    let (handle, results, seen) = run_seen(
        net.worker()
            .unwrap()
            .topic(fn_topic(1, |_: &InferenceRequest| 1.5))
            .auto_register(true)
            .topic_check_epochs(1),
    )
    .await;
    assert!(until(Duration::from_secs(5), || !seen.states_of(1).is_empty()).await);
    assert_eq!(seen.states_of(1), ["registration_failed"]);
    let detail = results.with(|items| {
        items
            .iter()
            .find_map(|r| match r {
                Err(WorkerError::TopicSuspended { suspension, .. }) => {
                    Some(suspension.detail.clone())
                }
                _ => None,
            })
            .unwrap()
    });
    assert!(
        detail.contains("has 100 uallo") && detail.contains("registration fee"),
        "{detail}"
    );
    // Checks go on without sending anything.
    let height = net.height();
    net.wait_height(height + 2 * EPOCH).await;
    assert!(net.included_txs().is_empty());
    net.fund(net.address(), 10_000_000_000_000).unwrap();
    assert!(until(Duration::from_secs(15), || !results.served().is_empty()).await);
    finish_suspended_once(
        handle,
        results,
        &seen,
        1,
        SuspendReason::RegistrationFailed,
        "registration_failed",
    )
    .await;
    assert!(net.is_worker_registered(1, net.address()));
}
