//! The mockall mocks, as a user would use them to test their own code.
#![cfg(feature = "mock")]
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use allora_infer::{
    Dec, ForecastProvider, ForecastValue, InferError, InferenceProvider, InferenceRequest,
    MockForecastProvider, MockInferenceProvider, Prediction,
};
use tokio::time::Instant;

/// Stand-in for user code: asks for an inference, and a forecast only when
/// the inference succeeded.
async fn infer_then_forecast(
    inference: Arc<dyn InferenceProvider>,
    forecast: Arc<dyn ForecastProvider>,
    req: &InferenceRequest,
) -> Result<(Prediction, Vec<ForecastValue>), InferError> {
    let p = inference.infer(req).await?;
    let f = forecast.forecast(req).await?;
    Ok((p, f))
}

#[tokio::test]
async fn mocks_stand_in_for_providers() {
    let mut inference = MockInferenceProvider::new();
    inference
        .expect_infer()
        .withf(|req| req.topic_id == 3 && req.token.as_deref() == Some("BTC"))
        .times(1)
        .returning(|_| Ok(Prediction::Single(Dec::from(65_000))));
    let mut forecast = MockForecastProvider::new();
    forecast
        .expect_forecast()
        .times(1)
        .returning(|_| Ok(vec![ForecastValue::new("allo1x", "0.5".parse().unwrap())]));

    let req =
        InferenceRequest::new(3, 10, Instant::now() + Duration::from_secs(1)).with_token("BTC");
    let (p, f) = infer_then_forecast(Arc::new(inference), Arc::new(forecast), &req)
        .await
        .unwrap();
    assert_eq!(p, Prediction::Single(Dec::from(65_000)));
    assert_eq!(f.len(), 1);
}

#[tokio::test]
async fn mocks_can_fail() {
    let mut inference = MockInferenceProvider::new();
    inference.expect_infer().returning(|_| {
        Err(InferError::Timeout {
            elapsed: Duration::from_secs(1),
        })
    });
    let mut forecast = MockForecastProvider::new();
    forecast.expect_forecast().never();

    let req = InferenceRequest::new(3, 10, Instant::now() + Duration::from_secs(1));
    let err = infer_then_forecast(Arc::new(inference), Arc::new(forecast), &req)
        .await
        .unwrap_err();
    assert!(err.is_retryable());
}
