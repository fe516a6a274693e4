//! # allora-infer
//!
//! Pluggable inference providers for Allora Network workers: the traits a
//! data scientist implements or configures to give the worker its numbers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
