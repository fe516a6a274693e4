//! The client against endpoints that refuse or hang, over real sockets.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use allora_devnet::fixtures::{refused_port, HangingPort};
use allora_sdk::client::{ChainClient, ClientConfig, ClientError};

#[tokio::test]
async fn dead_endpoints_fail_fast_with_every_attempt_reported() {
    let hang = HangingPort::start().await.unwrap();
    let refused = refused_port().unwrap();
    let client = ChainClient::new(
        ClientConfig::new([hang.endpoint(), format!("grpc+http://127.0.0.1:{refused}")])
            .request_timeout(Duration::from_millis(400))
            .connect_timeout(Duration::from_millis(400)),
    )
    .unwrap();

    let started = Instant::now();
    let err = client.chain_id().await.unwrap_err();
    let took = started.elapsed();
    match &err {
        ClientError::Unavailable { method, attempts } => {
            assert_eq!(*method, "GetNodeInfo");
            assert_eq!(attempts.len(), 2, "{attempts:?}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(err.is_retryable());
    // One timeout for the hanging endpoint, the refused one fails at once.
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    let health = client.endpoint_health();
    assert!(
        health
            .iter()
            .all(|h| !h.healthy && h.consecutive_failures == 1),
        "{health:?}"
    );
    assert!(health.iter().all(|h| h.last_error.is_some()));
}

#[tokio::test]
async fn empty_and_malformed_endpoint_lists_are_refused() {
    let none: [&str; 0] = [];
    assert!(matches!(
        ChainClient::new(ClientConfig::new(none)),
        Err(ClientError::InvalidEndpoint { .. })
    ));
    assert!(matches!(
        ChainClient::new(ClientConfig::new(["localhost:9090"])),
        Err(ClientError::InvalidEndpoint { .. })
    ));
}

#[tokio::test]
async fn a_callers_deadline_cuts_calls_short_without_blaming_the_endpoint() {
    let hang = HangingPort::start().await.unwrap();
    let client = ChainClient::new(
        ClientConfig::new([hang.endpoint()])
            .request_timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(30)),
    )
    .unwrap();

    let started = Instant::now();
    let window_end = tokio::time::Instant::now() + Duration::from_millis(300);
    let err = client
        .with_deadline(window_end)
        .chain_id()
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            ClientError::DeadlineExceeded {
                method: "GetNodeInfo",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable(), "{err}");
    assert!(took >= Duration::from_millis(250), "took {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The endpoint was not given the full request timeout, so it is not marked down.
    assert!(client.endpoint_health()[0].healthy);

    // A deadline already passed: the call does not go out at all.
    let past = tokio::time::Instant::now() - Duration::from_millis(1);
    let started = Instant::now();
    let err = client.with_deadline(past).chain_id().await.unwrap_err();
    assert!(
        matches!(err, ClientError::DeadlineExceeded { .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(100));
    // The earlier of two deadlines wins.
    let later = tokio::time::Instant::now() + Duration::from_secs(60);
    assert_eq!(
        client.with_deadline(past).with_deadline(later).deadline(),
        Some(past)
    );
}
