//! Closures as providers, so that the simplest worker is one function.
//!
//! ```
//! use std::time::Duration;
//! use allora_infer::{AsyncFnProvider, FnProvider, InferenceProvider, InferenceRequest};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let req = InferenceRequest::new(1, 100, tokio::time::Instant::now() + Duration::from_secs(1));
//!
//! let sync = FnProvider::new(|req: &InferenceRequest| 2000.0 + req.topic_id as f64);
//! assert_eq!(sync.infer(&req).await.unwrap().as_single().unwrap().as_str(), "2001.0");
//!
//! let fetched = AsyncFnProvider::new(|_req: InferenceRequest| async { "0.70" });
//! assert_eq!(fetched.infer(&req).await.unwrap().as_single().unwrap().as_str(), "0.70");
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::convert::{IntoForecast, IntoPrediction};
use crate::error::InferError;
use crate::forecast::ForecastProvider;
use crate::inference::InferenceProvider;
use crate::request::{ForecastValue, InferenceRequest, Prediction};

/// A provider from a synchronous closure.
///
/// The closure runs on tokio's blocking pool (`spawn_blocking`), so it may do
/// CPU work or blocking I/O without stalling other topics; its result is
/// converted with [`IntoPrediction`] (so it may return `f64`, an integer, a
/// string, a [`Dec`](crate::Dec), labeled pairs or a `Result` of those). If it
/// has not finished by the request's deadline the provider returns
/// [`InferError::Timeout`] (the closure itself runs to completion in the
/// background, as blocking work cannot be interrupted).
pub struct FnProvider<F> {
    f: Arc<F>,
}

impl<F, T> FnProvider<F>
where
    F: Fn(&InferenceRequest) -> T + Send + Sync + 'static,
    T: IntoPrediction + Send + 'static,
{
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        FnProvider { f: Arc::new(f) }
    }
}

impl<F> std::fmt::Debug for FnProvider<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnProvider")
    }
}

#[async_trait]
impl<F, T> InferenceProvider for FnProvider<F>
where
    F: Fn(&InferenceRequest) -> T + Send + Sync + 'static,
    T: IntoPrediction + Send + 'static,
{
    async fn infer(&self, req: &InferenceRequest) -> Result<Prediction, InferError> {
        let f = Arc::clone(&self.f);
        run_blocking(req, move |owned| f(owned).into_prediction()).await
    }
}

/// A provider from an async closure (or a function returning a future).
///
/// The closure receives its own copy of the request so that the future it
/// returns can outlive the call; the future runs on the caller's task, so it
/// should await I/O rather than compute for long. It is dropped (cancelled)
/// at the request's deadline, and the provider returns
/// [`InferError::Timeout`].
pub struct AsyncFnProvider<F> {
    f: F,
}

impl<F, Fut> AsyncFnProvider<F>
where
    F: Fn(InferenceRequest) -> Fut + Send + Sync,
    Fut: Future + Send,
    Fut::Output: IntoPrediction,
{
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        AsyncFnProvider { f }
    }
}

impl<F> std::fmt::Debug for AsyncFnProvider<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AsyncFnProvider")
    }
}

#[async_trait]
impl<F, Fut> InferenceProvider for AsyncFnProvider<F>
where
    F: Fn(InferenceRequest) -> Fut + Send + Sync,
    Fut: Future + Send,
    Fut::Output: IntoPrediction,
{
    async fn infer(&self, req: &InferenceRequest) -> Result<Prediction, InferError> {
        until_deadline(req, (self.f)(req.clone()))
            .await?
            .into_prediction()
    }
}

/// A forecaster from a synchronous closure, run on the blocking pool like
/// [`FnProvider`]; its result is converted with [`IntoForecast`] (e.g.
/// `Vec<(address, f64)>`).
///
/// ```
/// use std::time::Duration;
/// use allora_infer::{ForecastProvider, FnForecaster, InferenceRequest};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let f = FnForecaster::new(|_: &InferenceRequest| vec![("allo1inferer", 0.02)]);
/// let req = InferenceRequest::new(1, 100, tokio::time::Instant::now() + Duration::from_secs(1));
/// assert_eq!(f.forecast(&req).await.unwrap()[0].value.as_str(), "0.02");
/// # }
/// ```
pub struct FnForecaster<F> {
    f: Arc<F>,
}

impl<F, T> FnForecaster<F>
where
    F: Fn(&InferenceRequest) -> T + Send + Sync + 'static,
    T: IntoForecast + Send + 'static,
{
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        FnForecaster { f: Arc::new(f) }
    }
}

impl<F> std::fmt::Debug for FnForecaster<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnForecaster")
    }
}

#[async_trait]
impl<F, T> ForecastProvider for FnForecaster<F>
where
    F: Fn(&InferenceRequest) -> T + Send + Sync + 'static,
    T: IntoForecast + Send + 'static,
{
    async fn forecast(&self, req: &InferenceRequest) -> Result<Vec<ForecastValue>, InferError> {
        let f = Arc::clone(&self.f);
        run_blocking(req, move |owned| f(owned).into_forecast()).await
    }
}

/// A forecaster from an async closure, cancelled at the deadline like
/// [`AsyncFnProvider`].
///
/// ```
/// use std::time::Duration;
/// use allora_infer::{AsyncFnForecaster, ForecastProvider, InferenceRequest};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let f = AsyncFnForecaster::new(|_req: InferenceRequest| async { vec![("allo1inferer", "0.5")] });
/// let req = InferenceRequest::new(1, 100, tokio::time::Instant::now() + Duration::from_secs(1));
/// assert_eq!(f.forecast(&req).await.unwrap().len(), 1);
/// # }
/// ```
pub struct AsyncFnForecaster<F> {
    f: F,
}

impl<F, Fut> AsyncFnForecaster<F>
where
    F: Fn(InferenceRequest) -> Fut + Send + Sync,
    Fut: Future + Send,
    Fut::Output: IntoForecast,
{
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        AsyncFnForecaster { f }
    }
}

impl<F> std::fmt::Debug for AsyncFnForecaster<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AsyncFnForecaster")
    }
}

#[async_trait]
impl<F, Fut> ForecastProvider for AsyncFnForecaster<F>
where
    F: Fn(InferenceRequest) -> Fut + Send + Sync,
    Fut: Future + Send,
    Fut::Output: IntoForecast,
{
    async fn forecast(&self, req: &InferenceRequest) -> Result<Vec<ForecastValue>, InferError> {
        until_deadline(req, (self.f)(req.clone()))
            .await?
            .into_forecast()
    }
}

/// Runs `work` on the blocking pool, giving up at the request's deadline
/// (the work itself cannot be interrupted and finishes in the background).
async fn run_blocking<R, W>(req: &InferenceRequest, work: W) -> Result<R, InferError>
where
    R: Send + 'static,
    W: FnOnce(&InferenceRequest) -> Result<R, InferError> + Send + 'static,
{
    let owned = req.clone();
    let task = tokio::task::spawn_blocking(move || work(&owned));
    match until_deadline(req, task).await? {
        Ok(result) => result,
        Err(join) => Err(InferError::provider(format!(
            "the closure panicked or was cancelled: {join}"
        ))),
    }
}

/// Awaits `fut` until the request's deadline, dropping it then.
async fn until_deadline<T>(
    req: &InferenceRequest,
    fut: impl Future<Output = T>,
) -> Result<T, InferError> {
    let started = Instant::now();
    tokio::time::timeout_at(req.deadline, fut)
        .await
        .map_err(|_| InferError::Timeout {
            elapsed: started.elapsed(),
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::decimal::Dec;

    fn req(ms: u64) -> InferenceRequest {
        InferenceRequest::new(7, 42, Instant::now() + Duration::from_millis(ms))
    }

    #[tokio::test]
    async fn sync_closure_sees_the_request() {
        let p = FnProvider::new(|r: &InferenceRequest| r.nonce * 2);
        assert_eq!(
            p.infer(&req(1000)).await,
            Ok(Prediction::Single(Dec::from(84)))
        );
    }

    #[tokio::test]
    async fn nan_from_a_closure_is_a_typed_error() {
        let p = FnProvider::new(|_: &InferenceRequest| f64::NAN);
        assert!(matches!(
            p.infer(&req(1000)).await,
            Err(InferError::InvalidValue { .. })
        ));
        let p = AsyncFnProvider::new(|_| async { "Infinity" });
        assert!(matches!(
            p.infer(&req(1000)).await,
            Err(InferError::InvalidValue { .. })
        ));
    }

    #[tokio::test]
    async fn closures_may_fail_with_typed_errors() {
        let p = AsyncFnProvider::new(|_| async {
            Err::<f64, _>(InferError::provider_retryable("feed down"))
        });
        let err = p.infer(&req(1000)).await.unwrap_err();
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn slow_closures_time_out_at_the_deadline() {
        let p = AsyncFnProvider::new(|_| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            1.0
        });
        let started = Instant::now();
        assert!(matches!(
            p.infer(&req(50)).await,
            Err(InferError::Timeout { .. })
        ));
        assert!(started.elapsed() < Duration::from_secs(2));

        let p = FnProvider::new(|_: &InferenceRequest| {
            std::thread::sleep(Duration::from_millis(500));
            1.0
        });
        assert!(matches!(
            p.infer(&req(50)).await,
            Err(InferError::Timeout { .. })
        ));
    }

    #[tokio::test]
    async fn forecast_closures() {
        let f =
            FnForecaster::new(|r: &InferenceRequest| vec![(format!("allo1t{}", r.topic_id), 0.5)]);
        assert_eq!(
            f.forecast(&req(1000)).await.unwrap(),
            vec![ForecastValue::new("allo1t7", "0.5".parse().unwrap())]
        );
        let f = AsyncFnForecaster::new(|_| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            vec![("allo1a", 1)]
        });
        assert!(matches!(
            f.forecast(&req(50)).await,
            Err(InferError::Timeout { .. })
        ));
        let f = AsyncFnForecaster::new(|_| async { Vec::<(String, f64)>::new() });
        assert!(matches!(
            f.forecast(&req(1000)).await,
            Err(InferError::UnexpectedShape { .. })
        ));
    }

    #[tokio::test]
    async fn closures_work_behind_a_trait_object() {
        let p: Arc<dyn InferenceProvider> = Arc::new(FnProvider::new(|_: &InferenceRequest| {
            vec![("up", 0.7), ("down", 0.3)]
        }));
        assert!(matches!(
            p.infer(&req(1000)).await,
            Ok(Prediction::Labeled(v)) if v.len() == 2
        ));
    }
}
