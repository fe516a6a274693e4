//! # allora-sdk
//!
//! A Rust SDK for [Allora Network](https://allora.network) workers: keys,
//! wire-exact worker payloads and transactions, and (in later modules) the
//! chain client and the submit loop.
//!
//! Everything that goes on the wire is byte-for-byte what the chain expects:
//! the crate's tests reproduce the golden vectors of the official Python SDK
//! (addresses, bundle bytes, signatures, sign docs, `TxRaw` bytes and hashes).
//!
//! ```
//! use allora_sdk::keys::{Mnemonic, WorkerKey};
//! use allora_sdk::payload::WorkerPayload;
//! use allora_sdk::tx::{Fee, FeeTier, GasPrice, SignerData, UnsignedTx};
//!
//! let mnemonic: Mnemonic = "abandon abandon abandon abandon abandon abandon \
//!     abandon abandon abandon abandon abandon about".parse()?;
//! let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
//!
//! // An inference of 123.456 for topic 69 at nonce 1234567, signed.
//! let payload = WorkerPayload::inference(69, 1_234_567, 123.456_f64.try_into()?).sign(&key)?;
//!
//! // Into a transaction, with the fee for 216000 gas at 30 uallo/gas, standard tier.
//! let fee = Fee::for_gas(216_000, GasPrice::from_uallo(30), FeeTier::Standard);
//! let signer = SignerData::new("allora-testnet-1", 12345, 7);
//! let tx = UnsignedTx::new(vec![payload.to_any()]).sign(&key, &signer, &fee)?;
//! assert_eq!(tx.hash(), "C6FC3BB9F0810D7218A128A78757B0A0A29E14F4BC37D7432CD501A168DB60E1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod check;
pub mod client;
pub mod emissions;
pub mod faucet;
pub mod key_source;
pub mod keyfile;
pub mod keys;
pub mod labels;
pub mod network;
pub mod observe;
pub mod operator;
pub mod payload;
pub mod pipeline;
pub mod proto;
pub mod registration;
pub mod signer;
pub mod status;
pub mod tx;
pub mod worker;

/// The provider crate, whole: every provider and its builders.
pub use allora_infer as infer;
/// Canonical decimals (from `allora-infer`, where provider values are validated).
pub use allora_infer::decimal;
/// What a worker needs from `allora-infer`, so that one crate is enough:
/// the provider traits, their request and answer, closure adapters, the
/// HTTP provider and the provider error.
pub use allora_infer::{
    async_trait, AsyncFnForecaster, AsyncFnProvider, Dec, DecimalError, FnForecaster, FnProvider,
    ForecastProvider, ForecastValue, HttpProvider, InferError, InferenceProvider, InferenceRequest,
    IntoForecast, IntoPrediction, Prediction,
};
pub use client::{ChainClient, ClientConfig};
/// To read [`WorkerResults`](worker::WorkerResults), a `Stream`, without a
/// dependency on `futures`: `results.next().await`.
pub use futures_util::StreamExt;
pub use keys::{Address, KeyError, Mnemonic, PublicKey, WorkerKey};
pub use network::Network;
pub use payload::{PayloadError, SignedPayload, WorkerPayload};
pub use signer::{RemoteSigner, SignError, Signer, SignerError};
pub use tx::{Fee, FeeTier, GasPrice, PreparedTx, SignedTx, SignerData, TxBuildError, UnsignedTx};
pub use worker::{
    Outcome, RunSummary, Submission, TopicSpec, Worker, WorkerBuilder, WorkerError, WorkerObserver,
};

/// The README's library example, compiled and run as a doc-test.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
