//! The forecast seam: anything that predicts how accurate other inferers
//! will be.
//!
//! ```
//! use std::time::Duration;
//! use allora_infer::{async_trait, Dec, ForecastProvider, ForecastValue, InferError, InferenceRequest};
//!
//! struct SameForAll(Vec<String>);
//!
//! #[async_trait]
//! impl ForecastProvider for SameForAll {
//!     async fn forecast(&self, _req: &InferenceRequest) -> Result<Vec<ForecastValue>, InferError> {
//!         Ok(self.0.iter().map(|a| ForecastValue::new(a.clone(), Dec::from(1))).collect())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let p = SameForAll(vec!["allo1inferer".into()]);
//! let req = InferenceRequest::new(1, 100, tokio::time::Instant::now() + Duration::from_secs(1));
//! assert_eq!(p.forecast(&req).await.unwrap()[0].inferer, "allo1inferer");
//! # }
//! ```

use async_trait::async_trait;

use crate::error::InferError;
use crate::request::{ForecastValue, InferenceRequest};

/// Produces this worker's forecast for a topic and nonce: one value per
/// inferer it has an opinion about (the predicted loss of that inferer's
/// inference).
///
/// Held as `Arc<dyn ForecastProvider>` by the worker loop and called once per
/// (topic, nonce), like [`InferenceProvider`](crate::InferenceProvider).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ForecastProvider: Send + Sync {
    /// Returns forecast elements for `req`, or an error, before
    /// `req.deadline`. Inferer addresses are returned as given; the payload
    /// builder checks them.
    async fn forecast(&self, req: &InferenceRequest) -> Result<Vec<ForecastValue>, InferError>;
}
