//! The EC2 blueprint in one process: the side inference server on loopback,
//! the worker reading it over HTTP, the devnet enforcing the chain's rules.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use allora_devnet::fixtures::{run_worker_until, test_key, TestNet};
use allora_infer::demo::{demo_price, Clock, DemoModel};
use allora_infer::server::{router, ServerState};
use allora_infer::{HttpProvider, InferenceProvider};
use allora_sdk::worker::{Outcome, TopicSpec};

const FIXED_TIME: u64 = 1_764_000_000;

#[tokio::test]
async fn worker_submits_what_the_side_server_serves() {
    // The side node, with a fixed clock so its answers are known.
    let model: Arc<dyn InferenceProvider> = Arc::new(DemoModel::new(Clock::Fixed(FIXED_TIME)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router(ServerState::new(model, Duration::from_secs(2))),
        )
        .await
        .unwrap();
    });

    // Funded, not registered: the worker registers itself.
    let devnet = TestNet::builder(test_key(21).unwrap())
        .chain_id("allora-side-node-test")
        .topics([1, 2], 10, 5)
        .unregistered()
        .start()
        .await
        .unwrap();

    // The official off-chain node's URL shape; one provider serves both topics.
    let http: Arc<dyn InferenceProvider> = Arc::new(
        HttpProvider::builder(format!("http://127.0.0.1:{port}/inference/{{Token}}"))
            .topic_token(1, "ETH")
            .topic_token(2, "BTC")
            .build()
            .unwrap(),
    );
    let (served, failed) = run_worker_until(
        devnet
            .worker()
            .unwrap()
            .auto_register(true)
            .topic(TopicSpec::inference(1, Arc::clone(&http)))
            .topic(TopicSpec::inference(2, http)),
        Duration::from_secs(20),
        |ok, err| ok.len() >= 4 || !err.is_empty(),
    )
    .await
    .unwrap();
    server.abort();

    assert!(failed.is_empty(), "worker failure: {failed:?}");
    assert_eq!(served.len(), 4, "two epochs of two topics");
    for s in &served {
        assert_eq!(s.outcome, Outcome::Included);
        let token = if s.topic_id == 1 { "ETH" } else { "BTC" };
        let expected = format!("{:.4}", demo_price(token, FIXED_TIME));
        let on_chain = devnet
            .submission(s.topic_id, s.nonce, devnet.address())
            .expect("payload on chain");
        let values = on_chain.inference.expect("an inference");
        assert_eq!(
            values,
            vec![(
                "y".to_owned(),
                expected.parse::<allora_sdk::Dec>().unwrap().into_string()
            )]
        );
    }
}
