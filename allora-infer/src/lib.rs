//! # allora-infer
//!
//! Pluggable inference providers for Allora Network workers: the values a
//! model produces, validated into the chain's canonical decimal form.
//!
//! [`Dec`] is the one numeric type that reaches a worker payload: it refuses
//! NaN, infinities, garbage text and values outside the chain's bounds, and
//! spells what it accepts exactly as the chain re-encodes it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decimal;

pub use decimal::{Dec, DecimalError};
