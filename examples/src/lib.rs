//! Building blocks of the example binaries: the worker (`allora-worker`:
//! configuration, commands, metrics, the embedded devnet) and the side
//! inference server (`allora-inference-server`) with its demo model.

pub mod aws;
pub mod cli;
pub mod config;
pub mod demo_model;
pub mod embedded_devnet;
pub mod error;
pub mod inference_server;
pub mod keys;
pub mod logging;
pub mod register;
pub mod run;
pub mod status;

pub use error::AppError;
