//! The worker on every emissions protocol the devnet speaks (v9, v10, v10
//! with wall-clock windows), across an upgrade at a set height, and on a
//! chain that moves to a version this build does not speak.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use allora_devnet::fixtures::{collect, collect_until, run_worker_until, test_key, TestNet};
use allora_devnet::DevnetProtocol;
use allora_infer::InferenceRequest;
use allora_sdk::emissions::{EmissionsStatus, EmissionsVersion, WindowMode};
use allora_sdk::worker::{Outcome, WorkerHandle, WorkerObserver, WorkerResults};

const CHAIN_ID: &str = "allora-versions-test";

fn value(r: &InferenceRequest) -> f64 {
    1000.0 + r.topic_id as f64 + r.nonce as f64 / 1000.0
}

/// Topics 1..=3 on 200 ms blocks speaking `protocol`. Windows in blocks:
/// epochs of 10 blocks with 8-block windows; wall-clock: epochs of 3 s with
/// 2 s windows.
async fn testnet(protocol: DevnetProtocol) -> TestNet {
    let (epoch, window) = match protocol.windows {
        WindowMode::Blocks => (10, 8),
        WindowMode::WallClock => (3, 2),
    };
    TestNet::builder(test_key(9).unwrap())
        .chain_id(CHAIN_ID)
        .emissions(protocol)
        .topics(1..=3, epoch, window)
        .start()
        .await
        .unwrap()
}

/// Topics 1 and 2 (epochs of `epoch` blocks with `window`-block windows)
/// on 200 ms blocks of a v9 chain that upgrades to v10 at `upgrade`.
async fn upgrading_to_v10(upgrade: i64, epoch: i64, window: i64) -> TestNet {
    TestNet::builder(test_key(9).unwrap())
        .chain_id(CHAIN_ID)
        .emissions(DevnetProtocol::V9)
        .upgrade_at(upgrade, DevnetProtocol::V10)
        .topics([1, 2], epoch, window)
        .start()
        .await
        .unwrap()
}

async fn start_worker(
    net: &TestNet,
    observer: Option<Arc<dyn WorkerObserver>>,
) -> (WorkerHandle, WorkerResults) {
    let mut builder = net
        .worker_serving(value)
        .unwrap()
        .poll_interval(Duration::from_millis(500));
    if let Some(observer) = observer {
        builder = builder.observer(observer);
    }
    builder.build().unwrap().start().await.unwrap()
}

/// The chain's accepted submissions of the worker, by (topic, nonce);
/// panics on a duplicate.
fn on_chain(net: &TestNet) -> HashMap<(u64, i64), allora_devnet::Submission> {
    let mut seen = HashMap::new();
    for s in net.submissions() {
        if s.worker == net.address().as_str() {
            let key = (s.topic_id, s.nonce);
            assert!(
                seen.insert(key, s).is_none(),
                "duplicate submission {key:?}"
            );
        }
    }
    seen
}

/// Whether the included transaction `hash` carries payloads of `version`.
fn carries(net: &TestNet, hash: &str, version: EmissionsVersion) -> bool {
    let tx = net.included_tx(hash).unwrap();
    let url = format!(
        "/emissions.v{}.InsertWorkerPayloadRequest",
        version.number()
    );
    tx.tx_bytes.windows(url.len()).any(|w| w == url.as_bytes())
}

/// Several epochs of three topics batched in one transaction per epoch, in
/// the chain's version; then a restart on the same record while the last
/// window is open sends nothing twice and goes on with the next epochs.
async fn core_scenarios(protocol: DevnetProtocol) {
    let net = testnet(protocol).await;
    let (handle, mut results) = start_worker(&net, None).await;
    let (first, err) = collect(&mut results, 9, Duration::from_secs(20)).await;
    handle.shutdown().await;
    assert!(err.is_empty(), "{protocol}: unexpected failures: {err:?}");
    assert_eq!(first.len(), 9, "{protocol}: three epochs of three topics");

    let mut by_nonce: HashMap<i64, HashSet<String>> = HashMap::new();
    for s in &first {
        assert_eq!(s.outcome, Outcome::Included, "{protocol}: {s:?}");
        by_nonce
            .entry(s.nonce)
            .or_default()
            .insert(s.txhash.clone().unwrap());
    }
    assert_eq!(by_nonce.len(), 3, "{protocol}: {by_nonce:?}");
    for (nonce, txs) in &by_nonce {
        assert_eq!(txs.len(), 1, "{protocol} nonce {nonce}: one tx per epoch");
        let hash = txs.iter().next().unwrap();
        assert!(
            carries(&net, hash, protocol.version),
            "{protocol}: payloads in the chain's version"
        );
    }
    assert!(first.iter().all(|s| s.batch_size == 3), "{protocol}");
    let chain = on_chain(&net);
    for s in &first {
        let stored = &chain[&(s.topic_id, s.nonce)];
        assert_eq!(
            stored.inference.as_ref().unwrap()[0].1,
            format!(
                "{}",
                value(&InferenceRequest::new(
                    s.topic_id,
                    s.nonce,
                    tokio::time::Instant::now()
                ))
            )
        );
    }

    // Restart on the same record: the served windows are not served again.
    let served: BTreeSet<(u64, i64)> = first.iter().map(|s| (s.topic_id, s.nonce)).collect();
    let last = *by_nonce.keys().max().unwrap();
    let txs_of_last = net
        .included_txs()
        .iter()
        .filter(|tx| carries_nonce(&net, &tx.hash, last))
        .count();
    let (handle, mut results) = start_worker(&net, None).await;
    let (again, err) = collect(&mut results, 6, Duration::from_secs(20)).await;
    handle.shutdown().await;
    assert!(err.is_empty(), "{protocol}: unexpected failures: {err:?}");
    assert_eq!(
        again.len(),
        6,
        "{protocol}: two more epochs after the restart"
    );
    for s in &again {
        assert!(
            !served.contains(&(s.topic_id, s.nonce)),
            "{protocol}: {:?} served twice",
            (s.topic_id, s.nonce)
        );
        assert!(s.nonce > last, "{protocol}: {s:?}");
    }
    assert_eq!(
        net.included_txs()
            .iter()
            .filter(|tx| carries_nonce(&net, &tx.hash, last))
            .count(),
        txs_of_last,
        "{protocol}: nothing sent again for the window open at the restart"
    );
    assert_eq!(on_chain(&net).len(), 15);
}

/// Whether the worker's submissions of `nonce` came in transaction `hash`.
fn carries_nonce(net: &TestNet, hash: &str, nonce: i64) -> bool {
    net.submissions()
        .iter()
        .any(|s| s.tx_hash == hash && s.nonce == nonce)
}

#[tokio::test]
async fn core_scenarios_on_emissions_v9() {
    core_scenarios(DevnetProtocol::V9).await;
}

#[tokio::test]
async fn core_scenarios_on_emissions_v10() {
    core_scenarios(DevnetProtocol::V10).await;
}

#[tokio::test]
async fn core_scenarios_on_wall_clock_windows() {
    core_scenarios(DevnetProtocol::V10_WALL_CLOCK).await;
}

/// Appends to a shared buffer (a captured log).
#[cfg(feature = "prometheus")]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

#[cfg(feature = "prometheus")]
impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Records what the worker says about the chain's protocol.
#[derive(Default)]
struct Statuses(Mutex<Vec<EmissionsStatus>>);

impl WorkerObserver for Statuses {
    fn emissions(&self, status: &EmissionsStatus) {
        self.0.lock().unwrap().push(status.clone());
    }
}

#[tokio::test]
async fn a_worker_follows_an_upgrade_from_v9_to_v10_losing_and_repeating_nothing() {
    // Windows of 8 blocks every 10: the upgrade at 25 falls between two
    // epochs; the window opened at 20 is still open under v10.
    const UPGRADE: i64 = 25;
    let net = upgrading_to_v10(UPGRADE, 10, 8).await;
    let statuses = Arc::new(Statuses::default());
    let (handle, mut results) = start_worker(&net, Some(statuses.clone())).await;
    let (ok, err) = collect_until(&mut results, Duration::from_secs(25), |served, _| {
        served.iter().filter(|s| s.nonce >= 50).count() >= 2
    })
    .await;
    handle.shutdown().await;
    assert!(err.is_empty(), "unexpected failures: {err:?}");
    assert_eq!(net.protocol(), DevnetProtocol::V10);

    let served: Vec<(u64, i64)> = ok.iter().map(|s| (s.topic_id, s.nonce)).collect();
    let unique: BTreeSet<(u64, i64)> = served.iter().copied().collect();
    assert_eq!(served.len(), unique.len(), "served twice: {served:?}");
    // Every window from the first to the last epoch, both topics.
    let expected: BTreeSet<(u64, i64)> = (1..=5).flat_map(|e| [(1, e * 10), (2, e * 10)]).collect();
    assert_eq!(unique, expected);
    let chain = on_chain(&net);
    assert_eq!(chain.len(), expected.len());
    for s in &ok {
        assert_eq!(s.outcome, Outcome::Included, "{s:?}");
        let stored = &chain[&(s.topic_id, s.nonce)];
        let version = if stored.height >= UPGRADE {
            EmissionsVersion::V10
        } else {
            EmissionsVersion::V9
        };
        assert!(
            carries(&net, &stored.tx_hash, version),
            "{s:?} included at {} in {version}",
            stored.height
        );
    }
    let seen = statuses.0.lock().unwrap().clone();
    let versions: Vec<EmissionsVersion> = seen
        .iter()
        .map(|s| match s {
            EmissionsStatus::Supported(p) => p.version(),
            EmissionsStatus::Unsupported(u) => panic!("unsupported {u}"),
        })
        .collect();
    assert_eq!(versions, [EmissionsVersion::V9, EmissionsVersion::V10]);
}

#[cfg(feature = "prometheus")]
#[tokio::test]
async fn a_chain_moving_to_an_unknown_version_makes_the_worker_unhealthy_and_say_so() {
    use allora_sdk::observe::prometheus::PrometheusObserver;
    use allora_sdk::observe::FanOut;
    use allora_sdk::status::EmissionsReport;
    const UPGRADE: i64 = 15;
    // The worker's log, captured (the test's runtime polls every task on
    // this thread).
    let log = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let log = Arc::clone(&log);
        move || LogWriter(Arc::clone(&log))
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let net = TestNet::builder(test_key(9).unwrap())
        .chain_id(CHAIN_ID)
        .upgrade_at(
            UPGRADE,
            DevnetProtocol::new(EmissionsVersion::new(11), WindowMode::Blocks),
        )
        .topics([1], 10, 8)
        .start()
        .await
        .unwrap();
    let statuses = Arc::new(Statuses::default());
    let metrics = Arc::new(PrometheusObserver::new(Duration::from_secs(60)));
    let observer: Arc<dyn WorkerObserver> =
        Arc::new(FanOut::new().with(statuses.clone()).with(metrics.clone()));
    let (handle, mut results) = start_worker(&net, Some(observer)).await;
    let (ok, _) = collect(&mut results, 1, Duration::from_secs(10)).await;
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].nonce, 10);
    assert!(metrics.healthy());

    // The upgrade: within an epoch the worker says the chain speaks v11.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    while metrics.unsupported_reason().is_none() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reason = metrics.unsupported_reason().expect("unsupported reported");
    assert!(
        reason.contains("v11") && reason.contains("v9, v10"),
        "{reason}"
    );
    assert!(!metrics.healthy());
    let text = metrics.encode();
    assert!(
        text.lines()
            .any(|l| l == "allora_worker_emissions_supported 0"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "allora_worker_emissions_version 11"),
        "{text}"
    );

    // Nothing is signed for the new version's windows.
    net.wait_height(32).await;
    let (late, _) = collect_until(&mut results, Duration::from_millis(300), |_, _| false).await;
    handle.shutdown().await;
    let served: Vec<allora_sdk::worker::Submission> = late;
    assert!(served.is_empty(), "{served:?}");
    assert!(on_chain(&net).keys().all(|(_, nonce)| *nonce < UPGRADE));
    let seen = statuses.0.lock().unwrap().clone();
    let unsupported: Vec<&EmissionsStatus> = seen.iter().filter(|s| !s.is_supported()).collect();
    assert_eq!(unsupported.len(), 1, "reported once: {seen:?}");

    // One log line names the chain's version and the supported ones.
    let log = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("the chain speaks emissions v11"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("supports v9, v10"), "{}", lines[0]);

    // The status report says the same.
    let report = EmissionsReport::gather(&net.client().unwrap()).await;
    assert_eq!(report.supported, Some(false));
    assert_eq!(report.version.as_deref(), Some("v11"));
    assert_eq!(report.supported_versions, ["v9", "v10"]);
}

#[tokio::test]
async fn a_payload_signed_before_an_upgrade_and_refused_after_it_is_served_again_in_the_new_version(
) {
    // The window opened at 20 stays open until 38; the chain upgrades at 25
    // while the provider of topic 1 still computes (its first answer comes
    // ~1.6 s, 8 blocks, after the window opened), so that payload is signed
    // for v9 and refused by the v10 chain.
    const UPGRADE: i64 = 25;
    let net = upgrading_to_v10(UPGRADE, 20, 18).await;
    let calls = Arc::new(Mutex::new(Vec::<i64>::new()));
    let slow = {
        let calls = Arc::clone(&calls);
        move |req: InferenceRequest| {
            let calls = Arc::clone(&calls);
            async move {
                let first = {
                    let mut calls = calls.lock().unwrap();
                    calls.push(req.nonce);
                    calls.len() == 1
                };
                if first {
                    tokio::time::sleep(Duration::from_millis(1600)).await;
                }
                Ok::<_, allora_sdk::InferError>(value(&req))
            }
        }
    };
    let (ok, err) = run_worker_until(
        net.worker()
            .unwrap()
            .topic_async(1, slow)
            .topic_fn(2, value)
            .poll_interval(Duration::from_millis(500)),
        Duration::from_secs(20),
        |served, _| served.iter().filter(|s| s.nonce == 40).count() >= 2,
    )
    .await
    .unwrap();
    assert!(err.is_empty(), "unexpected failures: {err:?}");
    assert_eq!(
        *calls.lock().unwrap(),
        [20, 20, 40],
        "the window at 20 asked again after the refusal"
    );
    let served: BTreeSet<(u64, i64)> = ok.iter().map(|s| (s.topic_id, s.nonce)).collect();
    assert_eq!(served.len(), ok.len(), "served twice: {ok:?}");
    assert_eq!(served, BTreeSet::from([(1, 20), (2, 20), (1, 40), (2, 40)]));
    let chain = on_chain(&net);
    assert_eq!(chain.len(), 4);
    let late = &chain[&(1, 20)];
    assert!(late.height >= UPGRADE, "{late:?}");
    assert!(carries(&net, &late.tx_hash, EmissionsVersion::V10));
}
