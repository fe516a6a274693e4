//! # allora-infer
//!
//! Pluggable inference providers for Allora Network workers: the values a
//! model produces, validated into the chain's canonical decimal form.
//!
//! A worker loop holds an `Arc<dyn `[`InferenceProvider`]`>` (and optionally
//! an `Arc<dyn `[`ForecastProvider`]`>`) and asks it once per topic and nonce,
//! with an [`InferenceRequest`] that carries the deadline. Providers here:
//!
//! - [`FnProvider`] / [`AsyncFnProvider`] (and [`FnForecaster`] /
//!   [`AsyncFnForecaster`]): a closure is a provider;
//! - [`HttpProvider`]: an HTTP inference server, as the official off-chain
//!   node uses (`http://inference:8000/inference/{Token}`);
//! - `OnnxProvider` (feature `onnx`): an ONNX model run in process by tract;
//! - [`demo::DemoModel`]: made-up, price-like values, for trying a worker
//!   without a model.
//!
//! The side server (feature `server`) serves any provider over HTTP in the
//! official off-chain node's format, for a worker on the same host to read.
//!
//! [`Dec`] is the one numeric type that reaches a worker payload: it refuses
//! NaN, infinities, garbage text and values outside the chain's bounds, and
//! spells what it accepts exactly as the chain re-encodes it. Every provider
//! failure is a typed [`InferError`] that says whether retrying can help.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use allora_infer::{FnProvider, InferenceProvider, InferenceRequest, Prediction};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let provider: Arc<dyn InferenceProvider> =
//!     Arc::new(FnProvider::new(|req: &InferenceRequest| 2500.0 + req.topic_id as f64 / 4.0));
//! let req = InferenceRequest::new(1, 1_000, tokio::time::Instant::now() + Duration::from_secs(5))
//!     .with_token("ETH");
//! let prediction = provider.infer(&req).await.unwrap();
//! assert_eq!(prediction, Prediction::Single("2500.25".parse().unwrap()));
//! # }
//! ```
//!
//! ## Features
//!
//! - `mock`: mockall mocks of the provider traits (`MockInferenceProvider`,
//!   `MockForecastProvider`) for testing code that uses providers.
//! - `onnx`: `OnnxProvider`.
//! - `server`: `server`, the side inference server (axum).
//! - `cli`: `server_command`, the side server's command-line options (clap)
//!   and run loop (implies `server`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backoff;
pub mod convert;
pub mod decimal;
pub mod demo;
pub mod error;
pub mod forecast;
pub mod func;
pub mod http;
pub mod inference;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod request;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "cli")]
pub mod server_command;

/// Re-exported so that implementing the traits needs no extra dependency.
pub use async_trait::async_trait;
pub use backoff::Backoff;
pub use convert::{IntoForecast, IntoPrediction};
pub use decimal::{Dec, DecimalError};
pub use error::InferError;
pub use forecast::ForecastProvider;
#[cfg(feature = "mock")]
pub use forecast::MockForecastProvider;
pub use func::{AsyncFnForecaster, AsyncFnProvider, FnForecaster, FnProvider};
pub use http::{HttpProvider, HttpProviderBuilder, DEFAULT_MAX_BODY_BYTES, DEFAULT_URL_TEMPLATE};
pub use inference::InferenceProvider;
#[cfg(feature = "mock")]
pub use inference::MockInferenceProvider;
#[cfg(feature = "onnx")]
pub use onnx::OnnxProvider;
pub use request::{ForecastValue, InferenceRequest, Prediction};
