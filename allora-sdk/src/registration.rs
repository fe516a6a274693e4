//! Registering a key as a worker (an inferer or forecaster) in a topic.
//!
//! The chain refuses worker payloads from unregistered addresses
//! (allora-chain `x/emissions/keeper/msgserver/msg_server_worker_payload.go`).
//! Registration is a `MsgRegister` (`RegisterRequest` of the emissions
//! version the chain speaks: `/emissions.v9.RegisterRequest` or
//! `/emissions.v10.RegisterRequest`, see [`crate::emissions`]) with
//! `is_reputer = false`, signed by the worker, which pays the transaction fee
//! and the topic's registration fee (`Params.registration_fee`, in uallo).
//!
//! ```no_run
//! use std::sync::Arc;
//! use allora_sdk::client::{ChainClient, ClientConfig};
//! use allora_sdk::keys::WorkerKey;
//! use allora_sdk::pipeline::{PipelineConfig, TxPipeline};
//! use allora_sdk::registration::{ensure_registered, Registration, REGISTRATION_TIMEOUT};
//!
//! # async fn demo(key: WorkerKey) -> Result<(), Box<dyn std::error::Error>> {
//! let client = ChainClient::new(ClientConfig::new(["http://127.0.0.1:9090"]))?;
//! let chain_id = client.chain_id().await?;
//! let pipeline = TxPipeline::new(client, Arc::new(key), PipelineConfig::new(chain_id));
//! match ensure_registered(&pipeline, 69, REGISTRATION_TIMEOUT).await? {
//!     Registration::AlreadyRegistered => println!("already registered"),
//!     Registration::Registered(tx) => println!("registered in {} at {}", tx.txhash, tx.height),
//! }
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use crate::pipeline::{Included, SubmitError, TxPipeline};
use crate::proto::emissions::v10;

/// How long one registration usually may take, from signing to inclusion.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// What [`ensure_registered`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// The key was registered in the topic already; nothing was sent.
    AlreadyRegistered,
    /// This transaction registered it.
    Registered(Included),
}

/// Registers the pipeline's key as a worker in `topic_id`, unconditionally:
/// one transaction in the chain's emissions version, included within
/// `timeout` or an error.
pub async fn register(
    pipeline: &TxPipeline,
    topic_id: u64,
    timeout: Duration,
) -> Result<Included, SubmitError> {
    let address = pipeline.key().address().to_string();
    tracing::info!(topic_id, %address, "registering as a worker");
    let message = v10::RegisterRequest {
        sender: address.clone(),
        topic_id,
        owner: address,
        is_reputer: false,
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let protocol = pipeline
        .client()
        .with_deadline(deadline)
        .emissions()
        .await?;
    let message = protocol.messages().register_any(&message);
    pipeline.submit(vec![message], deadline, deadline).await
}

/// Registers the pipeline's key in `topic_id` unless the chain says it is
/// registered there already.
pub async fn ensure_registered(
    pipeline: &TxPipeline,
    topic_id: u64,
    timeout: Duration,
) -> Result<Registration, SubmitError> {
    let registered = pipeline
        .client()
        .is_worker_registered(topic_id, pipeline.key().address())
        .await?;
    if registered {
        return Ok(Registration::AlreadyRegistered);
    }
    register(pipeline, topic_id, timeout)
        .await
        .map(Registration::Registered)
}
