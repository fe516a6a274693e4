//! The `register` command: registers the worker in every configured topic
//! where it is not registered yet, one transaction per topic (see
//! [`allora_sdk::operator::register_topics`]).

use allora_sdk::client::{ChainClient, ClientConfig};
use allora_sdk::operator::register_topics;
use allora_sdk::pipeline::{PipelineConfig, TxPipeline};

use crate::config::Settings;
use crate::error::AppError;

/// Registers in the configured topics and reports each to `out`.
pub async fn register(
    settings: Settings,
    out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
) -> Result<(), AppError> {
    let signer = crate::keys::load_configured(&settings.key)
        .await?
        .into_shared();
    let client = ChainClient::new(ClientConfig::new(settings.grpc_endpoints.iter()))?;
    let chain_id = match settings.chain_id {
        Some(id) => id,
        None => client.chain_id().await?,
    };
    let mut config = PipelineConfig::new(chain_id);
    config.gas_price = settings.gas_price;
    config.tier = settings.fee_tier;
    config.max_fee = settings.max_fee;
    config.fee_granter = settings.fee_granter;
    let pipeline = TxPipeline::new(client, signer, config);
    let topics: Vec<u64> = settings.topics.iter().map(|t| t.id).collect();
    Ok(register_topics(&pipeline, &topics, out).await?)
}
