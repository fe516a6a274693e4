//! Building blocks of the example binaries: the side inference server
//! (`allora-inference-server`) and its demo model.

pub mod demo_model;
pub mod inference_server;
