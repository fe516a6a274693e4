//! The `register` command: registers the worker in every configured topic
//! where it is not registered yet, one transaction per topic.

use std::io::Write;

use allora_sdk::client::{ChainClient, ClientConfig};
use allora_sdk::pipeline::{PipelineConfig, TxPipeline};
use allora_sdk::registration::{ensure_registered, Registration, REGISTRATION_TIMEOUT};

use crate::config::Settings;
use crate::error::AppError;

/// Registers in the configured topics and reports each to `out`.
pub async fn register(settings: Settings, out: &mut dyn Write) -> Result<(), AppError> {
    let signer = crate::keys::load_configured(&settings.key)
        .await?
        .into_shared();
    let client = ChainClient::new(ClientConfig::new(settings.grpc_endpoints.iter()))?;
    let chain_id = match settings.chain_id {
        Some(id) => id,
        None => client.chain_id().await?,
    };
    writeln!(out, "worker {}", signer.address()).map_err(AppError::Output)?;
    let mut config = PipelineConfig::new(chain_id);
    config.gas_price = settings.gas_price;
    config.tier = settings.fee_tier;
    config.max_fee = settings.max_fee;
    config.fee_granter = settings.fee_granter;
    let pipeline = TxPipeline::new(client, signer, config);
    for topic in &settings.topics {
        let line = match ensure_registered(&pipeline, topic.id, REGISTRATION_TIMEOUT).await {
            Ok(Registration::AlreadyRegistered) => {
                format!("topic {}: already registered", topic.id)
            }
            Ok(Registration::Registered(tx)) => format!(
                "topic {}: registered in tx {} (height {})",
                topic.id, tx.txhash, tx.height
            ),
            Err(source) => {
                return Err(AppError::Register {
                    topic_id: topic.id,
                    source: Box::new(source),
                })
            }
        };
        writeln!(out, "{line}").map_err(AppError::Output)?;
    }
    Ok(())
}
