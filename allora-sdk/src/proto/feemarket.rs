//! The feemarket module's gas price queries (`feemarket.feemarket.v1`).
#![allow(missing_docs, clippy::all)]
include!(concat!(env!("OUT_DIR"), "/feemarket.feemarket.v1.rs"));
