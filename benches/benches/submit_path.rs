//! The whole submit path of the real `Worker` against the in-process devnet:
//! a block opens a window in each of N topics, the worker hears it on the
//! websocket, calls its provider, signs the payloads, batches them
//! (`max_messages_per_tx`, default 100) and broadcasts; the next block
//! includes them.
//!
//! Blocks are produced by the bench (manual-block devnet) one second apart,
//! like a 1-second chain: block h opens the windows and block h+1 must
//! include every payload. The figure criterion reports per iteration is the worker's
//! own `window_to_broadcast` of the slowest topic: from the window event
//! reaching the worker to the CheckTx acknowledgement of the transaction
//! that carries it. The bench also prints, per N, that figure's p50, p90
//! and maximum over every payload with the machine's load average, and the
//! time from window to inclusion as the worker observed it (it polls `GetTx` every 250 ms, so
//! that figure carries up to 250 ms of polling on top of the 1 s block) and
//! whether every payload landed in block h+1, the 1,000-topic target.
//!
//! Devnet, worker and bench share one 2-thread tokio runtime, so the devnet's
//! CheckTx work (signature checks of every payload) counts against the
//! worker: the figures are an upper bound for the worker alone.

use std::time::{Duration, Instant};

use allora_devnet::fixtures::{test_key, TestNet};
use allora_sdk::worker::{Submission, WorkerHandle, WorkerResults};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures_util::StreamExt;

/// The chain's block time the target is stated for.
const BLOCK_TIME: Duration = Duration::from_secs(1);
/// Windows open every 3 blocks and stay open 3 blocks: block h opens them,
/// h+1 is the one the target asks for, h+2 takes what missed h+1 (reported
/// as a miss) without opening new windows, so iterations never overlap. The
/// worker's send deadline (half a block before the window's end) falls well
/// after h+1.
const EPOCH_LENGTH: i64 = 3;
const SUBMISSION_WINDOW: i64 = 3;
/// With every payload acknowledged, results follow block h+1 within one
/// inclusion poll (250 ms); this long without one means some missed it.
const RESULT_STALL: Duration = Duration::from_secs(2);

struct Setup {
    devnet: TestNet,
    worker: Option<WorkerHandle>,
    results: WorkerResults,
    topics: usize,
    /// When the last block was produced: blocks keep a 1-second cadence,
    /// since the worker derives its send deadlines from the block time it
    /// measures, and bunched blocks would make it give up early.
    last_block: Instant,
}

impl Setup {
    async fn start(topics: usize) -> Setup {
        let devnet = TestNet::builder(test_key(0x22).expect("valid key"))
            .manual_blocks()
            .balance(1_000_000_000_000_000)
            .topics(1..=topics as u64, EPOCH_LENGTH, SUBMISSION_WINDOW)
            .start()
            .await
            .expect("devnet starts");
        let (handle, results) = devnet
            .worker_serving(|_| 2650.5)
            .expect("worker for the devnet")
            .block_time(BLOCK_TIME)
            .build()
            .expect("worker config")
            .start()
            .await
            .expect("worker starts");
        let mut setup = Setup {
            devnet,
            worker: Some(handle),
            results,
            topics,
            last_block: Instant::now(),
        };
        // One block for the websocket subscription to settle on, then up to
        // the block before an epoch end, so the next block opens windows.
        setup.next_block().await;
        let next_open = (setup.devnet.height() / EPOCH_LENGTH + 1) * EPOCH_LENGTH - 1;
        while setup.devnet.height() < next_open {
            setup.next_block().await;
        }
        setup
    }

    /// Produces a block one block time after the previous one.
    async fn next_block(&mut self) -> allora_devnet::BlockEvents {
        tokio::time::sleep_until((self.last_block + BLOCK_TIME).into()).await;
        self.last_block = Instant::now();
        self.devnet.produce_block().await
    }

    /// One window in every topic, served. Returns the slowest topic's window
    /// to CheckTx ack, its window to observed inclusion, whether every
    /// payload was included in the block after the window opened, and each
    /// topic's window to CheckTx ack.
    async fn one_window(&mut self) -> (Duration, Duration, bool, Vec<Duration>) {
        let opened = self.next_block().await;
        assert_eq!(
            opened.height % EPOCH_LENGTH,
            0,
            "the bench's block schedule drifted off the epoch"
        );
        self.next_block().await;

        let mut to_ack = Duration::ZERO;
        let mut acks = Vec::with_capacity(self.topics);
        let mut to_included = Duration::ZERO;
        let mut in_next_block = true;
        let mut received = 0;
        while received < self.topics {
            let Ok(next) = tokio::time::timeout(RESULT_STALL, self.results.next()).await else {
                assert!(
                    self.devnet.height() < opened.height + SUBMISSION_WINDOW,
                    "worker results stalled until the windows closed"
                );
                self.next_block().await;
                continue;
            };
            received += 1;
            // A window the worker gave up on is a miss of the target, which
            // the bench reports rather than aborts on.
            let submission: Submission = match next.expect("worker still running") {
                Ok(submission) => submission,
                Err(error) => {
                    eprintln!("submit_path/{} topics: {error}", self.topics);
                    in_next_block = false;
                    continue;
                }
            };
            assert_eq!(submission.nonce, opened.height, "result of another window");
            let broadcast = submission
                .latency
                .window_to_broadcast
                .expect("this run broadcast it");
            let included = broadcast + submission.latency.broadcast_to_included.unwrap_or_default();
            to_ack = to_ack.max(broadcast);
            acks.push(broadcast);
            to_included = to_included.max(included);
            in_next_block &= submission.height == Some(opened.height + 1);
        }
        // Back on the epoch schedule: the next block opens the next windows.
        while self.devnet.height() < opened.height + EPOCH_LENGTH - 1 {
            self.next_block().await;
        }
        (to_ack, to_included, in_next_block, acks)
    }

    async fn shutdown(mut self) {
        if let Some(worker) = self.worker.take() {
            worker.shutdown().await;
        }
        self.devnet.shutdown().await;
    }
}

fn submit_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("submit_path_window_to_checktx_ack");
    // Every iteration lasts one epoch (3 s), so criterion's minimum of ten
    // samples of one iteration each is what it gets.
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    // `cargo test --all-targets` runs each bench once: the 1,000-topic case
    // (long set-up and epochs) only runs under `cargo bench`.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let cases: &[usize] = if bench_mode {
        &[1, 10, 100, 1_000]
    } else {
        &[1, 10, 100]
    };
    for &topics in cases {
        let mut setup = runtime.block_on(Setup::start(topics));
        let mut included = Vec::new();
        let mut acks = Vec::new();
        let mut all_in_next_block = true;
        let load_before = load_average();
        group.bench_with_input(BenchmarkId::from_parameter(topics), &topics, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (ack, inc, next, each) = runtime.block_on(setup.one_window());
                    total += ack;
                    included.push(inc);
                    acks.extend(each);
                    all_in_next_block &= next;
                }
                total
            })
        });
        included.sort();
        acks.sort();
        // Empty when a criterion filter skipped this case.
        if let (Some(p50), Some(p90), Some(max)) = (
            acks.get(acks.len() / 2),
            acks.get(acks.len() * 9 / 10),
            acks.last(),
        ) {
            println!(
                "submit_path/{topics} topics: window to CheckTx ack over {} payloads: \
                 p50 {p50:?}, p90 {p90:?}, max {max:?}; load average {load_before} before, {} after",
                acks.len(),
                load_average()
            );
        }
        if let (Some(median), Some(max)) = (included.get(included.len() / 2), included.last()) {
            println!(
                "submit_path/{topics} topics: window to inclusion as the worker saw it \
             (1 s block + up to 250 ms GetTx polling): median {median:?}, max {max:?} \
             over {} windows; every payload in the next block: {}",
                included.len(),
                if all_in_next_block { "yes" } else { "NO" }
            );
        }
        runtime.block_on(setup.shutdown());
    }
    group.finish();
}

/// The 1-minute load average, to say how busy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

criterion_group!(benches, submit_path);
criterion_main!(benches);
