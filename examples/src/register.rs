//! The `register` command: registers the worker in every configured topic
//! where it is not registered yet, one transaction per topic.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use allora_sdk::client::{ChainClient, ClientConfig};
use allora_sdk::pipeline::{PipelineConfig, TxPipeline};
use allora_sdk::proto::{emissions::v10, to_any};

use crate::config::Settings;
use crate::error::AppError;

/// How long one registration may take, from sending to inclusion.
const REGISTRATION_DEADLINE: Duration = Duration::from_secs(60);

/// Registers in the configured topics and reports each to `out`.
pub async fn register(settings: Settings, out: &mut dyn Write) -> Result<(), AppError> {
    let key = crate::keys::load(settings.key).await?;
    let client = ChainClient::new(ClientConfig::new(settings.grpc_endpoints.iter()))?;
    let chain_id = match settings.chain_id {
        Some(id) => id,
        None => client.chain_id().await?,
    };
    let address = key.address().to_string();
    let mut config = PipelineConfig::new(chain_id);
    config.gas_price = settings.gas_price;
    config.tier = settings.fee_tier;
    let pipeline = TxPipeline::new(client.clone(), Arc::new(key), config);
    writeln!(out, "worker {address}").map_err(AppError::Output)?;
    for topic in &settings.topics {
        if client
            .is_worker_registered(topic.id, pipeline.key().address())
            .await?
        {
            writeln!(out, "topic {}: already registered", topic.id).map_err(AppError::Output)?;
            continue;
        }
        let message = v10::RegisterRequest {
            sender: address.clone(),
            topic_id: topic.id,
            owner: address.clone(),
            is_reputer: false,
        };
        let deadline = tokio::time::Instant::now() + REGISTRATION_DEADLINE;
        let included = pipeline
            .submit(vec![to_any(&message)], deadline, deadline)
            .await
            .map_err(|source| AppError::Register {
                topic_id: topic.id,
                source: Box::new(source),
            })?;
        writeln!(
            out,
            "topic {}: registered in tx {} (height {})",
            topic.id, included.txhash, included.height
        )
        .map_err(AppError::Output)?;
    }
    Ok(())
}
