//! The devnet's fault switches, each on its own, seen through the SDK's
//! chain client.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use allora_devnet::fixtures::{wait_height, BLOCK_TIME as BLOCK};
use allora_devnet::{Devnet, FaultProxy, ProxyMode};
use allora_sdk::client::{ChainClient, ClientConfig};

const CHAIN_ID: &str = "allora-fault-switches";

/// Each switch on its own does what it says, and switching back heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_switches_do_what_they_say() {
    let devnet = Devnet::builder()
        .chain_id(CHAIN_ID)
        .block_interval(BLOCK)
        .build()
        .start()
        .await
        .unwrap();
    let proxy = FaultProxy::start(devnet.grpc_addr()).await.unwrap();
    let client = ChainClient::new(
        ClientConfig::new([proxy.endpoint()])
            .request_timeout(Duration::from_millis(500))
            .connect_timeout(Duration::from_millis(300))
            .unhealthy_cooldown(Duration::from_millis(10)),
    )
    .unwrap();
    assert_eq!(client.chain_id().await.unwrap(), CHAIN_ID);
    for faulty in [ProxyMode::Refuse, ProxyMode::Hang, ProxyMode::Reset] {
        proxy.set_mode(faulty);
        assert_eq!(proxy.mode(), faulty);
        let error = client.chain_id().await.unwrap_err();
        assert!(error.is_retryable(), "{faulty:?}: {error}");
        proxy.set_mode(ProxyMode::PassThrough);
        // Back to normal (a reconnect may take one failed call).
        let mut healed = false;
        for _ in 0..20 {
            if client.chain_id().await.is_ok() {
                healed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(healed, "{faulty:?}: the proxy did not heal");
    }

    devnet.set_grpc_unavailable(true);
    let error = client.chain_id().await.unwrap_err();
    assert!(
        error.to_string().to_lowercase().contains("unavailable"),
        "{error}"
    );
    devnet.set_grpc_unavailable(false);
    assert_eq!(client.chain_id().await.unwrap(), CHAIN_ID);

    devnet.pause_blocks(true);
    let paused_at = devnet.height();
    tokio::time::sleep(BLOCK * 5).await;
    assert!(devnet.height() <= paused_at + 1, "blocks kept coming");
    devnet.pause_blocks(false);
    wait_height(&devnet, paused_at + 3).await;
}
