//! The official Allora Python SDK's stock worker (PyPI `allora-sdk` 1.3.0,
//! unmodified) against the devnet on loopback: a client nobody here wrote
//! registers, prices its fees from the fee market, gets its payloads
//! included, and is held to the chain's label rules.
//!
//! The SDK comes from the test virtualenv that `scripts/install-test-deps.sh`
//! creates under `target/test-deps` (`ALLORA_TEST_PYTHON` names another
//! interpreter). Without it the test fails and says so.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use allora_devnet::fixtures::test_key;
use allora_devnet::{AccountConfig, Devnet, DevnetHandle, TopicConfig};
use allora_sdk::keys::WorkerKey;
use allora_sdk::proto::emissions::v10;
use cosmrs::proto::cosmos::tx::v1beta1::{AuthInfo, TxBody, TxRaw};
use prost::{Message, Name};

const CHAIN_ID: &str = "allora-devnet-python";
/// The topic the first worker answers with a number (label `y`).
const VALUE_TOPIC: u64 = 1;
/// A single-value topic the second worker answers with `{"price": …}`.
const LABELED_TOPIC: u64 = 2;
/// Blocks per epoch, and the window: long enough for the SDK's 2-second
/// inclusion polling.
const EPOCH: i64 = 16;
const BLOCK: Duration = Duration::from_millis(500);
const BALANCE: u128 = 1_000_000_000_000;
/// The devnet's fee market price, in uallo per gas.
const MARKET_PRICE: u64 = 10;
/// The price the SDK falls back to without the fee market; different from
/// what the fee market leads to, so the fees show which one was used.
const STATIC_PRICE: u64 = 11;
/// The SDK multiplies the fee market price by 3 (its default
/// `dynamic_gas_price_default_multiplier`) and by 1.5 for its default
/// STANDARD fee tier.
const MARKET_FEE_PER_GAS: f64 = MARKET_PRICE as f64 * 3.0 * 1.5;
/// Give up after this long.
const DEADLINE: Duration = Duration::from_secs(150);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in the workspace")
        .to_path_buf()
}

/// The interpreter with `allora-sdk` 1.3.0, or a failure saying how to get it.
fn python_with_allora_sdk() -> PathBuf {
    let python = std::env::var_os("ALLORA_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/test-deps/venv/bin/python"));
    let check = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m, allora_sdk.worker.worker; \
             print(m.version('allora-sdk'))",
        ])
        .stdin(Stdio::null())
        .output();
    match check {
        Ok(out)
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1.3.0" =>
        {
            python
        }
        Ok(out) => panic!(
            "{} has no allora-sdk 1.3.0 ({}{}): run `bash scripts/install-test-deps.sh` first",
            python.display(),
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "cannot run {} ({e}): run `bash scripts/install-test-deps.sh` first to install the \
             official Python SDK into target/test-deps",
            python.display()
        ),
    }
}

/// Kills the Python process when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The payload message and fee of an included transaction.
fn payload_and_fee(tx_bytes: &[u8]) -> Option<(v10::InsertWorkerPayloadRequest, u128, u64)> {
    let raw = TxRaw::decode(tx_bytes).ok()?;
    let body = TxBody::decode(raw.body_bytes.as_slice()).ok()?;
    let fee = AuthInfo::decode(raw.auth_info_bytes.as_slice()).ok()?.fee?;
    let any = body
        .messages
        .iter()
        .find(|m| m.type_url == v10::InsertWorkerPayloadRequest::type_url())?;
    let msg = v10::InsertWorkerPayloadRequest::decode(any.value.as_slice()).ok()?;
    let amount = fee
        .amount
        .iter()
        .find(|c| c.denom == "uallo")?
        .amount
        .parse()
        .ok()?;
    Some((msg, amount, fee.gas_limit))
}

fn sender_is(msg: &v10::InsertWorkerPayloadRequest, key: &WorkerKey) -> bool {
    msg.sender == key.address().as_str()
}

/// What the devnet has seen of the two Python workers so far.
#[derive(Debug, Default)]
struct Seen {
    registered: bool,
    /// The value worker's admitted payload: (fee, gas limit).
    included: Option<(u128, u64)>,
    /// The labeled worker's refused payload: (codespace, code, log).
    refused: Option<(String, u32, String)>,
}

fn look(devnet: &DevnetHandle, valued: &WorkerKey, labeled: &WorkerKey) -> Seen {
    let mut seen = Seen {
        registered: devnet.is_worker_registered(VALUE_TOPIC, valued.address())
            && devnet.is_worker_registered(LABELED_TOPIC, labeled.address()),
        ..Seen::default()
    };
    for tx in devnet.included_txs() {
        let Some((msg, fee, gas)) = payload_and_fee(&tx.tx_bytes) else {
            continue;
        };
        let admitted = tx
            .events
            .iter()
            .any(|e| e.kind == allora_devnet::INSERT_INFERER_PAYLOAD);
        if sender_is(&msg, valued) && tx.code == 0 && admitted {
            seen.included = Some((fee, gas));
        }
        if sender_is(&msg, labeled) && tx.code != 0 {
            seen.refused = Some((tx.codespace.clone(), tx.code, tx.raw_log.clone()));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_worker_registers_pays_the_fee_market_and_keeps_the_label_rules() {
    let python = python_with_allora_sdk();
    let valued = test_key(41).unwrap();
    let labeled = test_key(42).unwrap();
    let devnet = Devnet::builder()
        .chain_id(CHAIN_ID)
        .block_interval(BLOCK)
        .min_gas_price(allora_sdk::tx::GasPrice::from_uallo(MARKET_PRICE))
        .topic(TopicConfig::new(VALUE_TOPIC, EPOCH, EPOCH))
        .topic(TopicConfig::new(LABELED_TOPIC, EPOCH, EPOCH))
        // Funded, not registered: the workers register themselves.
        .account(AccountConfig::new(valued.address().clone(), BALANCE))
        .account(AccountConfig::new(labeled.address().clone(), BALANCE))
        .build()
        .start()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let workers = serde_json::json!([
        {"topic_id": VALUE_TOPIC, "output": "value",
         "private_key": hex::encode(*valued.private_key_bytes())},
        {"topic_id": LABELED_TOPIC, "output": "labeled",
         "private_key": hex::encode(*labeled.private_key_bytes())},
    ]);
    let started = Instant::now();
    let mut child = Running(
        Command::new(&python)
            .arg(workspace().join("scripts/python-worker/run_worker.py"))
            .env("ALLORA_CHAIN_ID", CHAIN_ID)
            .env(
                "ALLORA_GRPC_URL",
                format!("grpc+http://{}", devnet.grpc_addr()),
            )
            .env("ALLORA_WEBSOCKET_URL", devnet.websocket_url())
            .env("ALLORA_STATIC_GAS_PRICE", STATIC_PRICE.to_string())
            .env("ALLORA_WORKERS", workers.to_string())
            .env("ALLORA_RUN_SECONDS", DEADLINE.as_secs().to_string())
            .env("PYTHONUNBUFFERED", "1")
            // The SDK would read or write ./.allora_key without a key.
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(File::create(&out_path).unwrap())
            .stderr(File::create(&err_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let logs = || {
        format!(
            "python stdout:\n{}\npython stderr:\n{}",
            tail(&out_path),
            tail(&err_path)
        )
    };

    let seen = loop {
        let seen = look(&devnet, &valued, &labeled);
        if seen.registered && seen.included.is_some() && seen.refused.is_some() {
            break seen;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "the Python worker exited ({status}) early: {seen:?}\n{}",
                logs()
            );
        }
        assert!(
            started.elapsed() < DEADLINE,
            "not done after {DEADLINE:?}: {seen:?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let took = started.elapsed();
    drop(child);
    println!("{}", logs());

    // Registered itself (RegisterRequest txs of its own).
    assert!(seen.registered);
    // Its payload was included and admitted, with the label "y"...
    let submission = devnet
        .submissions()
        .into_iter()
        .find(|s| s.worker == valued.address().as_str() && s.topic_id == VALUE_TOPIC)
        .expect("the value worker's submission");
    assert!(submission.inference_admitted);
    assert_eq!(
        submission.inference,
        Some(vec![("y".to_owned(), "3012.5".to_owned())])
    );
    // ...priced from the fee market's gas price, which it asked for.
    let (fee, gas) = seen.included.unwrap();
    assert!(devnet.gas_price_queries() > 0, "no GasPrice query");
    assert_eq!(
        fee,
        (gas as f64 * MARKET_FEE_PER_GAS) as u128,
        "fee {fee} for gas {gas}: not the fee market price (static would be {})",
        (gas as f64 * STATIC_PRICE as f64 * 1.5) as u128
    );
    // The labeled payload on a single-value topic: included, refused with
    // the chain's code, the fee spent.
    let (codespace, code, log) = seen.refused.unwrap();
    assert_eq!((codespace.as_str(), code), ("sdk", 18), "{log}");
    assert_eq!(
        log,
        "failed to execute message; message index: 0: single-arity label must be \"y\", got \
         \"price\": invalid request"
    );
    assert!(devnet
        .submissions()
        .iter()
        .all(|s| s.worker != labeled.address().as_str()));
    println!("python worker: registered, included and refused in {took:?}");
}
