//! The `allora-worker` binary's glue: configuration, commands, and the
//! composition of the libraries' key sources, observers, operator commands
//! and worker (the side server binary, `allora-inference-server`, is
//! `allora_infer::server_command`).

pub mod aws;
pub mod check;
pub mod cli;
pub mod config;
pub mod error;
pub mod keys;
pub mod logging;
pub mod register;
pub mod run;
pub mod status;

pub use error::AppError;
