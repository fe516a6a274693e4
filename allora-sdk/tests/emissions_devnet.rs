//! The client finds which emissions protocol a chain speaks, speaks it, and
//! notices when the chain stops speaking it.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use allora_devnet::fixtures::{test_key, TestNet, TestNetBuilder};
use allora_devnet::{DevnetProtocol, TopicConfig};
use allora_sdk::client::{ChainClient, ClientError};
use allora_sdk::emissions::{EmissionsVersion, Protocol, Query, Unsupported, WindowMode};
use allora_sdk::pipeline::{PipelineConfig, TxPipeline};
use allora_sdk::registration::{ensure_registered, Registration, REGISTRATION_TIMEOUT};

fn net(protocol: DevnetProtocol) -> TestNetBuilder {
    TestNet::builder(test_key(21).unwrap())
        .manual_blocks()
        .emissions(protocol)
        .topic(TopicConfig::new(1, 10, 5))
}

async fn detected(devnet: &TestNet) -> Result<Protocol, ClientError> {
    devnet.client().unwrap().detect_emissions().await
}

#[tokio::test]
async fn each_supported_protocol_is_detected() {
    for (protocol, version, windows) in [
        (DevnetProtocol::V9, EmissionsVersion::V9, WindowMode::Blocks),
        (
            DevnetProtocol::V10,
            EmissionsVersion::V10,
            WindowMode::Blocks,
        ),
        (
            DevnetProtocol::V10_WALL_CLOCK,
            EmissionsVersion::V10,
            WindowMode::WallClock,
        ),
    ] {
        let devnet = net(protocol).start().await.unwrap();
        let found = detected(&devnet).await.unwrap();
        assert_eq!(
            (found.version(), found.windows()),
            (version, windows),
            "{protocol}"
        );
    }
}

#[tokio::test]
async fn a_chain_past_this_build_is_named_in_the_error() {
    let v11 = DevnetProtocol::new(EmissionsVersion::new(11), WindowMode::Blocks);
    let devnet = net(v11).start().await.unwrap();
    let err = detected(&devnet).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::UnsupportedEmissions(Unsupported {
                chain: Some(v)
            }) if v == EmissionsVersion::new(11)
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the chain speaks emissions v11; this build of allora-rs supports v9, v10: upgrade allora-rs"
    );
    assert!(err.suggests_other_emissions_version());
    // Queries fail the same way, and nothing is remembered.
    let client = devnet.client().unwrap();
    assert!(matches!(
        client.topic(1).await,
        Err(ClientError::UnsupportedEmissions(_))
    ));
    assert_eq!(client.protocol(), None);
}

#[tokio::test]
async fn a_v9_chain_is_spoken_in_v9_queries_and_registration_included() {
    let devnet = net(DevnetProtocol::V9)
        .block_interval(Duration::from_millis(100))
        .unregistered()
        .start()
        .await
        .unwrap();
    devnet.wait_height(10).await;
    let client = devnet.client().unwrap();
    assert_eq!(client.protocol(), None, "nothing asked yet");
    // The first emissions query detects the version.
    let topic = client.topic(1).await.unwrap();
    assert_eq!(
        (topic.epoch_length, topic.worker_submission_window),
        (10, 5)
    );
    assert_eq!(client.protocol().unwrap().version(), EmissionsVersion::V9);
    assert!(client
        .unfulfilled_worker_nonces(1)
        .await
        .unwrap()
        .contains(&10));
    assert!(client.params().await.unwrap().version.starts_with("v9"));
    let not_served = client.latest_network_inferences(1).await.unwrap_err();
    assert!(
        matches!(
            not_served,
            ClientError::NotServed {
                query: Query::LatestNetworkInferences,
                ..
            }
        ),
        "{not_served}"
    );
    assert!(matches!(
        client.topic_epochs(1).await,
        Err(ClientError::NotServed { .. })
    ));

    // Registration goes out as /emissions.v9.RegisterRequest.
    let chain_id = client.chain_id().await.unwrap();
    let pipeline = TxPipeline::new(
        client.clone(),
        Arc::new(devnet.key().clone()),
        PipelineConfig::new(chain_id),
    );
    let registered = ensure_registered(&pipeline, 1, REGISTRATION_TIMEOUT)
        .await
        .unwrap();
    let Registration::Registered(included) = registered else {
        panic!("already registered?")
    };
    assert!(devnet.is_worker_registered(1, devnet.address()));
    let tx = devnet.included_tx(&included.txhash).unwrap();
    assert!(tx
        .events
        .iter()
        .any(|e| e.kind == "emissions.v9.EventWorkerRegistered"));
}

#[tokio::test]
async fn wall_clock_epochs_are_read_with_their_times() {
    let devnet = TestNet::builder(test_key(22).unwrap())
        .manual_blocks()
        .emissions(DevnetProtocol::V10_WALL_CLOCK)
        .topic(TopicConfig::new(1, 1, 1))
        .start()
        .await
        .unwrap();
    let client = devnet.client().unwrap();
    assert!(client.topic_epochs(1).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    let block = devnet.produce_block().await;
    let epochs = client.topic_epochs(1).await.unwrap();
    assert_eq!(epochs.len(), 1);
    let window = epochs[0];
    assert_eq!((window.topic_id, window.nonce), (1, block.height));
    assert_eq!(
        window.close_at.duration_since(window.open_at).unwrap(),
        Duration::from_secs(1)
    );
    let now = SystemTime::now();
    assert!(window.open_at <= now && window.is_open_at(window.open_at));
    assert_eq!(client.epoch(1, window.epoch).await.unwrap(), window);
    assert!(matches!(
        client.epoch(1, 99).await,
        Err(ClientError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_pinned_version_is_spoken_without_probing_and_fails_visibly() {
    let devnet = net(DevnetProtocol::V10).start().await.unwrap();
    let client = ChainClient::new(
        devnet
            .client_config()
            .emissions_version(EmissionsVersion::V9),
    )
    .unwrap();
    assert_eq!(
        client.pinned_emissions_version(),
        Some(EmissionsVersion::V9)
    );
    let pinned = client.detect_emissions().await.unwrap();
    assert_eq!(pinned.version(), EmissionsVersion::V9);
    let err = client.topic(1).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Status { code: tonic::Code::Unimplemented, message, .. }
            if message == "unknown service emissions.v9.QueryService"),
        "{err}"
    );
    assert!(err.suggests_other_emissions_version());
}

#[tokio::test]
async fn after_an_upgrade_queries_fail_until_detected_again() {
    let devnet = net(DevnetProtocol::V9)
        .upgrade_at(3, DevnetProtocol::V10)
        .start()
        .await
        .unwrap();
    let client = devnet.client().unwrap();
    assert_eq!(
        client.emissions().await.unwrap().version(),
        EmissionsVersion::V9
    );
    let view = client.with_deadline(tokio::time::Instant::now() + Duration::from_secs(5));
    devnet.produce_blocks_until(3).await;
    let err = view.topic(1).await.unwrap_err();
    assert!(err.suggests_other_emissions_version(), "{err}");
    // One detection moves every clone and view of the client.
    assert_eq!(
        view.detect_emissions().await.unwrap().version(),
        EmissionsVersion::V10
    );
    assert_eq!(client.protocol().unwrap().version(), EmissionsVersion::V10);
    assert_eq!(client.topic(1).await.unwrap().id, 1);
}
