//! The worker under faults: for each fault, a worker serving five topics
//! runs through several epochs with the fault switched on and off, and must
//! keep its promise: no window submitted twice on chain, every window open
//! only while the fault was off confirmed, every other window confirmed or
//! reported with a reason (in the results stream and to the observer), and
//! the first confirmation after the fault within a bounded number of blocks.
//!
//! Timing is counted in blocks of the devnet, never in tight wall-clock
//! bounds, so a loaded machine slows the test down rather than failing it.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use allora_devnet::fixtures::{record, test_key, wait_height, TestNet, BLOCK_TIME as BLOCK};
use allora_devnet::{FaultProxy, ProxyMode};
use allora_sdk::client::{ChainClient, ClientConfig};
use allora_sdk::keys::WorkerKey;
use allora_sdk::worker::{Submission, WorkerError, WorkerObserver};

const CHAIN_ID: &str = "allora-fault-matrix";
const EPOCH: i64 = 8;
const WINDOW: i64 = 5;
const TOPICS: [u64; 5] = [1, 2, 3, 4, 5];
/// How long each fault lasts, in blocks (two epochs and a half).
const FAULT_BLOCKS: i64 = 2 * EPOCH + EPOCH / 2;
/// Blocks run after the fault ends.
const AFTER_BLOCKS: i64 = 3 * EPOCH;
/// The first confirmation after a fault comes within this many blocks: the
/// next window opens within an epoch and is served within its window.
const RECOVERY_BLOCKS: i64 = EPOCH + WINDOW;

fn key() -> WorkerKey {
    test_key(11).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    ProxyRefuse,
    ProxyHang,
    ProxyReset,
    GrpcUnavailable,
    SequenceMismatch,
    WebsocketDrop,
    WebsocketStall,
    BlocksStall,
    MempoolDrop,
}

impl Fault {
    /// Whether windows inside the fault cannot all be served, so the
    /// results stream must carry reasons (keeps the test from passing on a
    /// fault that did nothing).
    fn must_report(self) -> bool {
        matches!(
            self,
            Fault::ProxyRefuse
                | Fault::ProxyHang
                | Fault::ProxyReset
                | Fault::GrpcUnavailable
                | Fault::MempoolDrop
        )
    }
}

/// A failure as the observer saw it: its kind and window.
type Failure = (String, Option<(u64, i64)>);

/// Everything the observer was told, in order.
#[derive(Default)]
struct Recorder {
    failures: Mutex<Vec<Failure>>,
    submissions: Mutex<Vec<(u64, i64)>>,
    websocket: Mutex<Vec<bool>>,
}

impl WorkerObserver for Recorder {
    fn submission(&self, s: &Submission) {
        self.submissions.lock().unwrap().push((s.topic_id, s.nonce));
    }
    fn failure(&self, e: &WorkerError) {
        self.failures
            .lock()
            .unwrap()
            .push((e.kind().to_owned(), e.window()));
    }
    fn websocket(&self, up: bool) {
        self.websocket.lock().unwrap().push(up);
    }
}

struct Env {
    devnet: TestNet,
    proxy: FaultProxy,
}

impl Env {
    async fn set(&self, fault: Fault, on: bool) {
        let d = &self.devnet;
        match fault {
            Fault::ProxyRefuse => self.proxy.set_mode(mode(on, ProxyMode::Refuse)),
            Fault::ProxyHang => self.proxy.set_mode(mode(on, ProxyMode::Hang)),
            Fault::ProxyReset => self.proxy.set_mode(mode(on, ProxyMode::Reset)),
            Fault::GrpcUnavailable => d.set_grpc_unavailable(on),
            Fault::SequenceMismatch => {}
            Fault::WebsocketDrop => {
                if on {
                    d.stop_websocket().await.unwrap();
                } else {
                    d.start_websocket().await.unwrap();
                }
            }
            Fault::WebsocketStall => d.stall_websocket(on),
            Fault::BlocksStall => d.pause_blocks(on),
            Fault::MempoolDrop => d.drop_accepted_txs(on),
        }
    }

    /// Runs the fault for [`FAULT_BLOCKS`] blocks (or their time, when
    /// blocks stall).
    async fn during(&self, fault: Fault) {
        let start = self.devnet.height();
        match fault {
            Fault::BlocksStall => {
                tokio::time::sleep(BLOCK * FAULT_BLOCKS as u32).await;
            }
            Fault::SequenceMismatch => {
                // Someone else uses the account, again and again.
                while self.devnet.height() < start + FAULT_BLOCKS {
                    self.devnet.bump_sequence(key().address()).unwrap();
                    tokio::time::sleep(BLOCK * 3).await;
                }
            }
            Fault::WebsocketDrop => {
                // Drops (connections closed) first, then a full outage.
                self.devnet.drop_websocket_connections().await;
                wait_height(&self.devnet, start + FAULT_BLOCKS).await;
            }
            _ => wait_height(&self.devnet, start + FAULT_BLOCKS).await,
        }
    }
}

fn mode(on: bool, faulty: ProxyMode) -> ProxyMode {
    if on {
        faulty
    } else {
        ProxyMode::PassThrough
    }
}

async fn run_fault(fault: Fault) {
    let devnet = TestNet::start_with_topics(key(), CHAIN_ID, TOPICS, EPOCH, WINDOW)
        .await
        .unwrap();
    let proxy = FaultProxy::start(devnet.grpc_addr()).await.unwrap();
    let env = Env { devnet, proxy };

    let client = ChainClient::new(
        ClientConfig::new([env.proxy.endpoint()])
            .request_timeout(Duration::from_millis(800))
            .connect_timeout(Duration::from_millis(500))
            .unhealthy_cooldown(Duration::from_millis(200)),
    )
    .unwrap();
    let recorder = Arc::new(Recorder::default());
    let worker = env
        .devnet
        .worker_serving(|r| 100.0 + r.topic_id as f64 + r.nonce as f64 / 1000.0)
        .unwrap()
        .client(client)
        .poll_interval(Duration::from_millis(300))
        .observer(recorder.clone());
    let (handle, results) = worker.build().unwrap().start().await.unwrap();
    let stream = record(results);

    // A healthy epoch first: the worker serves every topic.
    let baseline_nonce = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let served: Vec<i64> = stream.served().iter().map(|s| s.nonce).collect();
            if let Some(&n) = served.first() {
                if served.iter().filter(|&&m| m == n).count() == TOPICS.len() {
                    break n;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{fault:?}: no healthy epoch before the fault: {}",
                stream.with(|items| format!("{items:?}"))
            );
            tokio::time::sleep(BLOCK).await;
        }
    };

    let fault_start = env.devnet.height();
    env.set(fault, true).await;
    env.during(fault).await;
    env.set(fault, false).await;
    let fault_end = env.devnet.height();
    wait_height(&env.devnet, fault_end + AFTER_BLOCKS).await;
    let end = env.devnet.height();
    handle.shutdown().await;
    let stream = stream.finish().await.unwrap();
    let me = key().address().to_string();
    let on_chain: Vec<_> = env
        .devnet
        .submissions()
        .into_iter()
        .filter(|s| s.worker == me)
        .collect();

    // 1. Never twice on chain.
    let mut seen = HashSet::new();
    for s in &on_chain {
        assert!(
            seen.insert((s.topic_id, s.nonce)),
            "{fault:?}: duplicate on chain: {s:?}"
        );
    }

    // 2. Every window accounted for.
    let reported: HashSet<(u64, i64)> = stream
        .iter()
        .filter_map(|r| r.as_ref().err().and_then(WorkerError::window))
        .collect();
    let observed: HashSet<(u64, i64)> = recorder
        .failures
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, w)| *w)
        .collect();
    let mut nonce = baseline_nonce;
    // Only windows that closed well before the worker stopped.
    while nonce + WINDOW + 2 < end {
        let overlaps = nonce <= fault_end && nonce + WINDOW >= fault_start;
        for t in TOPICS {
            let confirmed = seen.contains(&(t, nonce));
            if overlaps {
                assert!(
                    confirmed || reported.contains(&(t, nonce)),
                    "{fault:?}: window ({t}, {nonce}) during the fault \
                     ({fault_start}..={fault_end}) neither confirmed nor reported; \
                     stream: {stream:?}"
                );
            } else {
                assert!(
                    confirmed,
                    "{fault:?}: window ({t}, {nonce}) outside the fault \
                     ({fault_start}..={fault_end}) not confirmed; stream: {stream:?}"
                );
            }
        }
        nonce += EPOCH;
    }

    // 3. Every reason in the stream also reached the observer, and the
    //    stream and the observer agree on what was served.
    assert_eq!(
        reported, observed,
        "{fault:?}: stream and observer disagree"
    );
    let served_stream: Vec<(u64, i64)> = stream
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|s| (s.topic_id, s.nonce)))
        .collect();
    assert_eq!(*recorder.submissions.lock().unwrap(), served_stream);
    for item in stream.iter() {
        if let Err(e) = item {
            assert!(!e.to_string().is_empty());
            assert!(
                e.window().is_some(),
                "{fault:?}: error without a window: {e}"
            );
        }
    }
    if fault.must_report() {
        assert!(
            !reported.is_empty(),
            "{fault:?}: the fault left no trace in the results stream: {stream:?}"
        );
    }

    // 4. Recovery within a bounded number of blocks.
    let first_after = on_chain
        .iter()
        .filter(|s| s.height > fault_end)
        .map(|s| s.height)
        .min();
    assert!(
        first_after.is_some_and(|h| h <= fault_end + RECOVERY_BLOCKS),
        "{fault:?}: first confirmation after the fault (ended at {fault_end}) at {first_after:?}"
    );

    if fault == Fault::WebsocketDrop {
        assert!(
            recorder.websocket.lock().unwrap().contains(&false),
            "the observer did not hear of the websocket going down"
        );
    }
}

/// One test per fault, named for what it breaks.
macro_rules! fault_tests {
    ($($name:ident => $fault:ident,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            run_fault(Fault::$fault).await;
        }
    )*};
}

fault_tests! {
    proxy_refuses_connections => ProxyRefuse,
    proxy_accepts_and_hangs => ProxyHang,
    proxy_resets_connections => ProxyReset,
    grpc_answers_unavailable => GrpcUnavailable,
    sequence_moved_behind_the_workers_back => SequenceMismatch,
    websocket_drops_and_goes_away => WebsocketDrop,
    websocket_stalls => WebsocketStall,
    blocks_stall => BlocksStall,
    mempool_drops_accepted_txs => MempoolDrop,
}
