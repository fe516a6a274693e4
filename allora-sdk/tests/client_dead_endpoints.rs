//! The client against endpoints that refuse or hang, over real sockets.

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
