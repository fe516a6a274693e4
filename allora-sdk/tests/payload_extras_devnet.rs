//! A payload carrying the inference's `extra_data` and `proof` and the
//! forecast's `extra_data` goes through the pipeline to the devnet, whose
//! signature check re-encodes the bundle as the chain does: accepted, and
//! the chain's payload events repeat the bytes.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use allora_devnet::fixtures::{test_key, wait_height, TestNet};
use allora_devnet::{INSERT_FORECASTER_PAYLOAD, INSERT_INFERER_PAYLOAD};
use allora_sdk::payload::{ForecastElement, WorkerPayload};
use allora_sdk::pipeline::{PipelineConfig, TxPipeline};
use tokio::time::Instant;

#[tokio::test]
async fn extra_data_and_proof_reach_the_chain_signed() {
    let key = test_key(5).unwrap();
    let net = TestNet::builder(key.clone())
        .block_interval(Duration::from_millis(100))
        .topics([1], 10, 10)
        .start()
        .await
        .unwrap();
    wait_height(&net, 10).await;
    let nonce = net.open_nonces(1)[0];
    let other = test_key(6).unwrap().address().clone();
    let signed = WorkerPayload::inference(1, nonce, "3012.5".parse().unwrap())
        .with_forecast([ForecastElement {
            inferer: other,
            value: "0.12".parse().unwrap(),
        }])
        .with_inference_extra_data(b"\x00model-v7\xff".to_vec())
        .with_forecast_extra_data(b"forecast-meta".to_vec())
        .with_proof("zkml:groth16:0f3a")
        .sign(&key)
        .unwrap();
    let pipeline = TxPipeline::new(
        net.client().unwrap(),
        Arc::new(key.clone()),
        PipelineConfig::new(net.chain_id()),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let included = pipeline
        .submit(vec![signed.to_any()], deadline, deadline)
        .await
        .unwrap();
    let tx = net.included_tx(&included.txhash).unwrap();
    assert_eq!(tx.code, 0, "{}", tx.raw_log);
    let attribute = |kind: &str| {
        tx.events
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} in {:?}", tx.events))
            .attributes
            .iter()
            .find(|a| a.key == "extra_data")
            .unwrap()
            .value
            .clone()
    };
    // proto3 JSON: base64 of the bytes.
    assert_eq!(attribute(INSERT_INFERER_PAYLOAD), "\"AG1vZGVsLXY3/w==\"");
    assert_eq!(
        attribute(INSERT_FORECASTER_PAYLOAD),
        "\"Zm9yZWNhc3QtbWV0YQ==\""
    );
    assert!(net.submission(1, nonce, key.address()).is_some());
}
