//! The inference seam: anything that turns a request into a prediction.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use allora_infer::{async_trait, Dec, InferError, InferenceProvider, InferenceRequest, Prediction};
//!
//! struct Constant;
//!
//! #[async_trait]
//! impl InferenceProvider for Constant {
//!     async fn infer(&self, _req: &InferenceRequest) -> Result<Prediction, InferError> {
//!         Ok(Prediction::Single(Dec::from(42)))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let provider: Arc<dyn InferenceProvider> = Arc::new(Constant);
//! let req = InferenceRequest::new(1, 100, tokio::time::Instant::now() + Duration::from_secs(1));
//! assert_eq!(provider.infer(&req).await, Ok(Prediction::Single(Dec::from(42))));
//! # }
//! ```

use async_trait::async_trait;

use crate::error::InferError;
use crate::request::{InferenceRequest, Prediction};

/// Produces this worker's inference for a topic and nonce.
///
/// The worker loop holds providers as `Arc<dyn InferenceProvider>` and calls
/// [`infer`](Self::infer) once per (topic, nonce), possibly for several topics
/// at once, so implementations take `&self` and must be `Send + Sync`.
/// CPU-heavy work belongs in `tokio::task::spawn_blocking`, not in the
/// future itself, so that one slow model does not stall every topic.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait InferenceProvider: Send + Sync {
    /// Returns the prediction for `req`, or an error, before `req.deadline`.
    async fn infer(&self, req: &InferenceRequest) -> Result<Prediction, InferError>;
}
