//! # allora-aws
//!
//! AWS adapters for Allora Network workers: CloudWatch metrics, Secrets
//! Manager key source and EC2 instance metadata.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
