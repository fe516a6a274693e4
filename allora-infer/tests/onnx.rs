//! OnnxProvider on the tiny model in tests/fixtures (y = x . [0.5, 0.25, 2.0] + 1).
#![cfg(feature = "onnx")]
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use allora_infer::{
    DecimalError, InferError, InferenceProvider, InferenceRequest, OnnxProvider, Prediction,
};
use tokio::time::Instant;

fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/linear.onnx")
}

/// The model of [`model_path`], its features from `features`.
fn linear<F>(features: F) -> OnnxProvider
where
    F: Fn(&InferenceRequest) -> Vec<f32> + Send + Sync + 'static,
{
    OnnxProvider::load(model_path(), &[1, 3], features).unwrap()
}

/// What `p` infers for `topic_id`.
async fn infer(p: &OnnxProvider, topic_id: u64) -> Result<Prediction, InferError> {
    p.infer(&request(topic_id)).await
}

fn single(value: &str) -> Prediction {
    Prediction::Single(value.parse().unwrap())
}

fn request(topic_id: u64) -> InferenceRequest {
    InferenceRequest::new(topic_id, 100, Instant::now() + Duration::from_secs(10))
}

#[tokio::test]
async fn output_equals_the_models_known_output() {
    let p = linear(|_: &InferenceRequest| vec![2.0, 4.0, 1.0]);
    // 2*0.5 + 4*0.25 + 1*2.0 + 1 = 5, exactly in f32.
    assert_eq!(infer(&p, 1).await.unwrap(), single("5.0"));
}

#[tokio::test]
async fn features_come_from_the_request() {
    let p = linear(|req: &InferenceRequest| vec![req.topic_id as f32, 0.0, 0.0]);
    // topic 3: 3*0.5 + 1 = 2.5; topic 10: 10*0.5 + 1 = 6.
    for (topic_id, want) in [(3, "2.5"), (10, "6.0")] {
        assert_eq!(
            infer(&p, topic_id).await.unwrap(),
            single(want),
            "{topic_id}"
        );
    }
}

#[tokio::test]
async fn labeled_output() {
    let p = linear(|_: &InferenceRequest| vec![1.0, 1.0, 1.0]).with_output_labels(["price"]);
    assert_eq!(
        infer(&p, 1).await.unwrap(),
        Prediction::Labeled(vec![("price".into(), "3.75".parse().unwrap())])
    );
}

#[tokio::test]
async fn nan_output_is_a_typed_error() {
    let p = linear(|_: &InferenceRequest| vec![f32::NAN, 0.0, 0.0]);
    assert!(matches!(
        infer(&p, 1).await,
        Err(InferError::InvalidValue {
            source: DecimalError::NonFinite(_),
            ..
        })
    ));
}

#[tokio::test]
async fn wrong_feature_count_and_missing_model_are_typed_errors() {
    let p = linear(|_: &InferenceRequest| vec![1.0]);
    assert!(matches!(infer(&p, 1).await, Err(InferError::Config(_))));
    assert!(matches!(
        OnnxProvider::load("no/such/model.onnx", &[1, 3], |_: &InferenceRequest| vec![]),
        Err(InferError::Model(_))
    ));
    assert!(matches!(
        OnnxProvider::load(model_path(), &[1, 4], |_: &InferenceRequest| vec![]),
        Err(InferError::Model(_))
    ));
}
