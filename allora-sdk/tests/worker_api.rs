//! The one-crate worker API against the devnet, over real sockets: endpoints,
//! a mnemonic from the environment, closures per topic and `run_until`.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use allora_devnet::fixtures::{refused_port, TestNet};
use allora_sdk::{Mnemonic, Worker, WorkerError, WorkerKey};

const PHRASE: &str = "abandon abandon abandon abandon abandon abandon \
    abandon abandon abandon abandon abandon about";
const BLOCK: Duration = Duration::from_millis(200);

#[tokio::test]
async fn a_worker_from_endpoints_a_mnemonic_variable_and_closures_runs_until_told_to_stop() {
    let mnemonic: Mnemonic = PHRASE.parse().unwrap();
    let key = WorkerKey::from_mnemonic(&mnemonic, "").unwrap();
    let address = key.address().clone();
    let devnet = TestNet::builder(key)
        .chain_id("allora-api-test")
        .block_interval(BLOCK)
        .topics([1, 2], 10, 5)
        .start()
        .await
        .unwrap();
    std::env::set_var("ALLORA_API_TEST_MNEMONIC", PHRASE);
    let dir = tempfile::tempdir().unwrap();

    // Stop once both topics were served in two epochs.
    let served_twice = async {
        while devnet.submissions().len() < 4 {
            tokio::time::sleep(BLOCK).await;
        }
    };
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        Worker::builder()
            .endpoints([devnet.grpc_endpoint()])
            .websocket(devnet.websocket_url())
            .chain_id("allora-api-test")
            .mnemonic_env("ALLORA_API_TEST_MNEMONIC")
            .data_dir(dir.path())
            .block_time(BLOCK)
            .topic_fn(1, |req| 100.0 + req.nonce as f64)
            .topic_async(2, |req| async move { format!("{}.25", req.nonce) })
            .run_until(served_twice),
    )
    .await
    .expect("the run stops when told to")
    .unwrap();

    assert_eq!(summary.included, 4, "{summary}");
    assert_eq!(summary.failures(), 0, "{summary}");
    let inference = |topic, nonce| {
        devnet
            .submission(topic, nonce, &address)
            .and_then(|s| s.inference)
            .map(|values| values[0].1.clone())
    };
    assert_eq!(inference(1, 10).as_deref(), Some("110.0"));
    assert_eq!(inference(2, 20).as_deref(), Some("20.25"));
}

#[tokio::test]
async fn start_up_failures_are_typed_errors() {
    // Nothing listens on the endpoint: the chain id cannot be read.
    std::env::set_var("ALLORA_API_TEST_MNEMONIC_2", PHRASE);
    let dir = tempfile::tempdir().unwrap();
    let port = refused_port().unwrap();
    let run_with_mnemonic_in = |variable: &str| {
        Worker::builder()
            .endpoints([format!("http://127.0.0.1:{port}")])
            .mnemonic_env(variable)
            .data_dir(dir.path())
            .topic_fn(1, |_| 1.0)
            .run_until(std::future::pending::<()>())
    };
    let err = run_with_mnemonic_in("ALLORA_API_TEST_MNEMONIC_2")
        .await
        .unwrap_err();
    assert!(matches!(err, WorkerError::Client(_)), "{err:?}");

    let err = run_with_mnemonic_in("ALLORA_API_TEST_MNEMONIC_UNSET")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("ALLORA_API_TEST_MNEMONIC_UNSET"),
        "{err}"
    );
}
