//! The side inference server and HttpProvider, end to end over loopback.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "server")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use allora_infer::demo::{Clock, DemoModel};
use allora_infer::server::{router, ServerState};
use allora_infer::{HttpProvider, InferError, InferenceProvider, InferenceRequest, Prediction};
use support::{eth_provider, serve};
use tokio::time::Instant;

const FIXED_TIME: u64 = 1_764_000_000;

async fn start(model: Arc<dyn InferenceProvider>) -> SocketAddr {
    serve(router(ServerState::new(model, Duration::from_secs(2)))).await
}

fn request(topic_id: u64) -> InferenceRequest {
    InferenceRequest::new(topic_id, 500, Instant::now() + Duration::from_secs(5))
}

#[tokio::test]
async fn http_provider_reads_the_demo_model_with_the_default_template() {
    let demo = DemoModel::new(Clock::Fixed(FIXED_TIME));
    let addr = start(Arc::new(demo)).await;
    // The default template, pointed at the test's port.
    let template = allora_infer::DEFAULT_URL_TEMPLATE.replace("127.0.0.1:8000", &addr.to_string());
    let provider = HttpProvider::builder(template)
        .topic_token(1, "ETH")
        .build()
        .unwrap();

    let got = provider.infer(&request(1)).await.unwrap();
    let want = demo.value_for(&request(1).with_token("ETH")).unwrap();
    assert_eq!(got, Prediction::Single(want.clone()));
    // Four decimals, as text, unchanged by the trip.
    assert_eq!(want.as_str().split('.').nth(1).map(str::len), Some(4));

    let btc = provider.infer(&request(1).with_token("BTC")).await.unwrap();
    assert_ne!(btc, got);
}

#[tokio::test]
async fn json_mode_is_read_the_same() {
    let demo = DemoModel::new(Clock::Fixed(FIXED_TIME));
    let addr = start(Arc::new(demo)).await;
    let plain = HttpProvider::builder(format!("http://{addr}/inference/{{Token}}"))
        .token("SOL")
        .build()
        .unwrap();
    let json = HttpProvider::builder(format!("http://{addr}/inference/{{Token}}?format=json"))
        .token("SOL")
        .build()
        .unwrap();
    assert_eq!(
        plain.infer(&request(2)).await.unwrap(),
        json.infer(&request(2)).await.unwrap()
    );

    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{addr}/inference/SOL"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.text().await.unwrap();
    assert!(body.parse::<f64>().is_ok(), "{body}");
}

#[tokio::test]
async fn healthz_answers_ok() {
    let addr = start(Arc::new(DemoModel::new(Clock::System))).await;
    let response = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn model_errors_reach_the_client_as_errors_not_values() {
    let failing = allora_infer::AsyncFnProvider::new(|_| async { f64::NAN });
    let addr = start(Arc::new(failing)).await;
    let provider = eth_provider(addr)
        .max_retries(1)
        .backoff(Duration::from_millis(5), Duration::from_millis(5))
        .build()
        .unwrap();
    let err = provider.infer(&request(1)).await.unwrap_err();
    assert!(
        matches!(err, InferError::HttpStatus { status: 500, .. }),
        "{err:?}"
    );
}

#[cfg(feature = "onnx")]
#[tokio::test]
async fn serves_the_onnx_model() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/linear.onnx");
    let clock = Clock::Fixed(FIXED_TIME);
    let model = allora_infer::demo::demo_history_onnx(&path, 3, clock).unwrap();
    let addr = start(Arc::new(model)).await;
    let provider = eth_provider(addr).build().unwrap();
    let got = provider.infer(&request(1)).await.unwrap();

    let h: Vec<f32> = allora_infer::demo::demo_history("ETH", FIXED_TIME, 3)
        .into_iter()
        .map(|p| p as f32)
        .collect();
    let want = h[0] * 0.5 + h[1] * 0.25 + h[2] * 2.0 + 1.0;
    let got: f32 = got.as_single().unwrap().as_str().parse().unwrap();
    assert!((got - want).abs() <= want.abs() * 1e-6, "{got} vs {want}");
}
