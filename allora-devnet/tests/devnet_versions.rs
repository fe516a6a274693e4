//! The devnet speaks one emissions protocol at a time (v9, v10, v10 with
//! wall-clock windows, or a version the SDK does not know), serving only
//! its services, type URLs and events, and switches at an upgrade height.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod devnet_support;
mod devnet_tx;

use std::time::Duration;

use allora_devnet::fixtures::*;
use allora_devnet::{AccountConfig, BlockEvents, DevnetProtocol, TopicConfig};
use allora_sdk::emissions::{EmissionsVersion, WindowMode};
use allora_sdk::proto::emissions::{v10, v9};
use devnet_support::*;
use devnet_tx::{vector_devnet, vector_txs, VectorTx};
use tonic::transport::Channel;

fn v10_queries(ch: &Channel) -> v10::query_service_client::QueryServiceClient<Channel> {
    v10::query_service_client::QueryServiceClient::new(ch.clone())
}

fn v9_queries(ch: &Channel) -> v9::query_service_client::QueryServiceClient<Channel> {
    v9::query_service_client::QueryServiceClient::new(ch.clone())
}

/// `GetParams` of `version`'s query service (v9's or v10's).
async fn get_params(
    ch: &Channel,
    version: EmissionsVersion,
) -> Result<tonic::Response<v10::GetParamsResponse>, tonic::Status> {
    let request = v10::GetParamsRequest {};
    if version == EmissionsVersion::V9 {
        v9_queries(ch).get_params(request).await
    } else {
        v10_queries(ch).get_params(request).await
    }
}

/// The scheduler epochs of the topic.
async fn topic_epochs(ch: &Channel) -> Vec<v10::Epoch> {
    v10_queries(ch)
        .get_topic_epochs(v10::GetTopicEpochsRequest { topic_id: TOPIC })
        .await
        .unwrap()
        .into_inner()
        .epochs
}

fn event_kinds(block: &BlockEvents) -> Vec<&str> {
    block.events.iter().map(|e| e.kind.as_str()).collect()
}

/// Broadcasts a payload of `version` from the worker and returns the CheckTx
/// answer (and, if accepted, the included result).
async fn send(
    devnet: &TestNet,
    ch: &Channel,
    version: EmissionsVersion,
    nonce: i64,
    sequence: u64,
) -> (u32, String, Option<(u32, String)>) {
    let key = devnet.key();
    let msg = payload_any_for(version, key, TOPIC, nonce, "3012.5").unwrap();
    let tx = sign_tx(CHAIN_ID, key, vec![msg], 5, sequence, GAS, FEE).unwrap();
    let checked = broadcast(ch, tx.to_bytes()).await.unwrap();
    if checked.code != 0 {
        return (checked.code, checked.raw_log, None);
    }
    devnet.produce_block().await;
    let included = get_tx(ch, tx.hash()).await.unwrap();
    (0, String::new(), Some((included.code, included.raw_log)))
}

/// A call to a service the devnet does not serve fails as a gRPC server
/// fails it.
#[track_caller]
fn assert_unknown_service<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, service: &str) {
    let err = answer.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert_eq!(err.message(), format!("unknown service {service}"));
}

/// The devnet does not speak `version`: its query service is unknown, and
/// a payload of it for the first nonce is refused at decoding (CheckTx
/// answers code 2 naming its type URL).
async fn assert_not_spoken(devnet: &TestNet, ch: &Channel, version: EmissionsVersion) {
    assert_unknown_service(get_params(ch, version).await, &version.query_service());
    let (code, log, _) = send(devnet, ch, version, FIRST_NONCE, 0).await;
    assert_eq!(code, 2);
    let type_url = format!("/{}.InsertWorkerPayloadRequest", version.package());
    assert_eq!(
        log,
        format!("unable to resolve type URL {type_url}: tx parse error")
    );
}

#[tokio::test]
async fn a_v9_devnet_serves_v9_only() {
    let a = actors();
    let devnet = builder(&a)
        .emissions(DevnetProtocol::V9)
        .start()
        .await
        .unwrap();
    let mut opened = Vec::new();
    while devnet.height() < FIRST_NONCE {
        opened.push(devnet.produce_block().await);
    }
    let last = opened.last().unwrap();
    assert!(event_kinds(last).contains(&"emissions.v9.EventWorkerSubmissionWindowOpened"));
    let ch = channel(&devnet).await.unwrap();

    // Only the v9 query service answers, and a v10 payload cannot even be
    // decoded.
    assert_not_spoken(&devnet, &ch, EmissionsVersion::V10).await;
    let topic = v9_queries(&ch)
        .get_topic(v10::GetTopicRequest { topic_id: TOPIC })
        .await
        .unwrap()
        .into_inner()
        .topic
        .unwrap();
    assert_eq!(
        (topic.epoch_length, topic.worker_submission_window),
        (10, 5)
    );
    let params = get_params(&ch, EmissionsVersion::V9)
        .await
        .unwrap()
        .into_inner()
        .params
        .unwrap();
    assert_eq!(params.version, "v9-devnet");
    let epochs = v9_queries(&ch)
        .get_unfulfilled_worker_nonces(v10::GetUnfulfilledWorkerNoncesRequest { topic_id: TOPIC })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(epochs.nonces.unwrap().nonces[0].block_height, FIRST_NONCE);

    // Labeled values (field 7 of the inference) are a field v9 does not
    // have: an unknown field, refused at decoding.
    let key = devnet.key();
    let labeled =
        payload_any_for(EmissionsVersion::V10, key, TOPIC, FIRST_NONCE, "3012.5").unwrap();
    let labeled = allora_sdk::proto::Any {
        type_url: "/emissions.v9.InsertWorkerPayloadRequest".to_owned(),
        value: labeled.value,
    };
    let tx = sign_tx(CHAIN_ID, key, vec![labeled], 5, 0, GAS, FEE).unwrap();
    let checked = broadcast(&ch, tx.to_bytes()).await.unwrap();
    assert_eq!(checked.code, 2, "{}", checked.raw_log);
    assert_eq!(
        checked.raw_log,
        r#"errUnknownField "emissions.v9.InputInference": {TagNum: 7, WireType:"bytes"}: tx parse error"#
    );

    // A v9 payload goes through with its value in `value`.
    let (code, _, included) = send(&devnet, &ch, EmissionsVersion::V9, FIRST_NONCE, 0).await;
    assert_eq!((code, included), (0, Some((0, String::new()))));
    let stored = devnet
        .submission(TOPIC, FIRST_NONCE, devnet.address())
        .unwrap();
    assert_eq!(
        stored.inference.unwrap(),
        [("y".to_owned(), "3012.5".to_owned())]
    );
    let tx = devnet.included_txs().pop().unwrap();
    let event = tx
        .events
        .iter()
        .find(|e| e.kind.ends_with("EventInsertInfererPayload"))
        .unwrap();
    assert_eq!(event.kind, "emissions.v9.EventInsertInfererPayload");
    assert_eq!(event.attribute("value"), Some("\"3012.5\""));
    assert_eq!(event.attribute("values"), None, "v9 has no labeled values");
}

#[tokio::test]
async fn a_v10_devnet_refuses_v9_payloads_at_decoding() {
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    assert_not_spoken(&devnet, &ch, EmissionsVersion::V9).await;
    // No scheduler epochs on windows counted in blocks.
    let err = v10_queries(&ch)
        .get_topic_epochs(v10::GetTopicEpochsRequest { topic_id: TOPIC })
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "unknown method GetTopicEpochs for service emissions.v10.QueryService"
    );
    let (code, _, included) = send(&devnet, &ch, EmissionsVersion::V10, FIRST_NONCE, 0).await;
    assert_eq!((code, included), (0, Some((0, String::new()))));
}

#[tokio::test]
async fn an_upgrade_switches_services_type_urls_and_events_at_its_height() {
    let a = actors();
    let devnet = builder(&a)
        .emissions(DevnetProtocol::V9)
        .upgrade_at(FIRST_NONCE + 2, DevnetProtocol::V10)
        .start()
        .await
        .unwrap();
    devnet.produce_blocks_until(FIRST_NONCE + 1).await;
    assert_eq!(devnet.protocol(), DevnetProtocol::V9);
    let ch = channel(&devnet).await.unwrap();
    assert!(get_params(&ch, EmissionsVersion::V9).await.is_ok());
    devnet.produce_block().await;
    assert_eq!(devnet.protocol(), DevnetProtocol::V10);
    assert!(get_params(&ch, EmissionsVersion::V9).await.is_err());
    assert!(get_params(&ch, EmissionsVersion::V10).await.is_ok());
    // The nonce opened under v9 is still open, and takes v10 payloads only.
    let (code, _, _) = send(&devnet, &ch, EmissionsVersion::V9, FIRST_NONCE, 0).await;
    assert_eq!(code, 2);
    let (code, _, included) = send(&devnet, &ch, EmissionsVersion::V10, FIRST_NONCE, 0).await;
    assert_eq!((code, included), (0, Some((0, String::new()))));
    devnet.produce_blocks_until(2 * FIRST_NONCE - 1).await;
    let block = devnet.produce_block().await;
    assert!(event_kinds(&block).contains(&"emissions.v10.EventWorkerSubmissionWindowOpened"));
}

#[tokio::test]
async fn a_version_the_sdk_does_not_know_is_served_under_its_own_names() {
    let a = actors();
    let v11 = DevnetProtocol::new(EmissionsVersion::new(11), WindowMode::Blocks);
    let devnet = builder(&a).emissions(v11).start().await.unwrap();
    let block = devnet.produce_block().await;
    assert!(block.events.is_empty());
    devnet.produce_blocks_until(FIRST_NONCE - 1).await;
    let block = devnet.produce_block().await;
    assert!(event_kinds(&block).contains(&"emissions.v11.EventWorkerSubmissionWindowOpened"));
    let ch = channel(&devnet).await.unwrap();
    for version in [EmissionsVersion::V9, EmissionsVersion::V10] {
        let (code, log, _) = send(&devnet, &ch, version, FIRST_NONCE, 0).await;
        assert_eq!(code, 2, "{log}");
    }
}

#[tokio::test]
async fn wall_clock_windows_open_and_close_at_block_times() {
    let a = actors();
    let other = test_key(9).unwrap();
    // Epochs of 2 s with a 1 s worker window; a second registered worker.
    let devnet = TestNet::builder(a.worker.clone())
        .chain_id(CHAIN_ID)
        .manual_blocks()
        .account_number(5)
        .emissions(DevnetProtocol::V10_WALL_CLOCK)
        .topic(TopicConfig::new(TOPIC, 2, 1))
        .devnet(|d| {
            d.account(AccountConfig::new(other.address().clone(), BALANCE).account_number(6))
                .worker(TOPIC, other.address().clone())
        })
        .start()
        .await
        .unwrap();
    let first = devnet.produce_block().await;
    assert!(first.events.is_empty(), "no epoch before 2 s");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let opened = devnet.produce_block().await;
    let nonce = opened.height;
    let event = &opened.events[0];
    assert_eq!(
        event.kind,
        "emissions.v10.EventWorkerSubmissionWindowOpened"
    );
    assert_eq!(
        event.attribute("nonce_block_height"),
        Some(format!("\"{nonce}\"").as_str())
    );
    // The height plus the window's seconds, as the chain computes it.
    assert_eq!(
        event.attribute("window_end_block"),
        Some(format!("\"{}\"", nonce + 1).as_str())
    );

    let ch = channel(&devnet).await.unwrap();
    let epochs = topic_epochs(&ch).await;
    assert_eq!(epochs.len(), 1);
    let epoch = &epochs[0];
    assert_eq!(epoch.start_block_height, nonce);
    assert_eq!(epoch.state, v10::EpochState::WorkerSubmission as i32);
    assert_eq!(epoch.nonce, 1 << 56);
    let window = epoch.worker_submission_window.unwrap();
    let (open, close) = (window.open_at.unwrap(), window.close_at.unwrap());
    assert_eq!((close.seconds - open.seconds, close.nanos), (1, open.nanos));
    let by_nonce = v10_queries(&ch)
        .get_epoch(v10::GetEpochRequest {
            topic_id: TOPIC,
            nonce: epoch.nonce,
        })
        .await
        .unwrap()
        .into_inner()
        .epoch
        .unwrap();
    assert_eq!(&by_nonce, epoch);
    let missing = v10_queries(&ch)
        .get_epoch(v10::GetEpochRequest {
            topic_id: TOPIC,
            nonce: 7,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // In the window: accepted.
    let (code, _, included) = send(&devnet, &ch, EmissionsVersion::V10, nonce, 0).await;
    assert_eq!((code, included), (0, Some((0, String::new()))));
    // After its close time, in a block that has not closed it yet: refused
    // by time, whatever the height.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let late = payload_any_for(EmissionsVersion::V10, &other, TOPIC, nonce, "1").unwrap();
    let tx = sign_tx(CHAIN_ID, &other, vec![late], 6, 0, GAS, FEE).unwrap();
    let result = deliver(&devnet, &ch, &tx).await.unwrap();
    assert_eq!((result.code, result.codespace.as_str()), (67, "emissions"));
    assert!(
        result.raw_log.contains(&format!(
            "worker wall-clock window not open for topic {TOPIC} legacy nonce {nonce}: now="
        )),
        "{}",
        result.raw_log
    );
    // That block closed the window.
    assert!(devnet.open_nonces(TOPIC).is_empty());
    let epochs = topic_epochs(&ch).await;
    assert_eq!(epochs[0].state, v10::EpochState::WaitingGroundTruth as i32);
}

#[tokio::test]
async fn v9_golden_vector_txs_pass_a_v9_devnets_signature_checks_only() {
    for VectorTx { tx, address, bytes } in vector_txs("allora-sdk-py-1.3.0-emissions-v9.json") {
        let name = tx["name"].as_str().unwrap();
        for protocol in [DevnetProtocol::V9, DevnetProtocol::V10] {
            let devnet = vector_devnet(
                tx["chain_id"].as_str().unwrap(),
                protocol,
                address.clone(),
                &tx,
            )
            .await;
            let ch = channel(&devnet).await.unwrap();
            let res = broadcast(&ch, &bytes).await.unwrap();
            if protocol == DevnetProtocol::V10 {
                assert_eq!((res.code, res.codespace.as_str()), (2, "sdk"), "{name}");
                continue;
            }
            assert_eq!(res.code, 0, "{name}: {}", res.raw_log);
            devnet.produce_block().await;
            let res = get_tx(&ch, &res.txhash).await.unwrap();
            // The tx and the bundle signature (over the v9 encoding)
            // verified; the devnet has no topic for these vectors, so
            // delivery stops at the topic lookup.
            assert_eq!(
                (res.code, res.codespace.as_str()),
                (6, "emissions"),
                "{name}: {}",
                res.raw_log
            );
        }
    }
}
