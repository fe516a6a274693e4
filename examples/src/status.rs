//! The `status` command: "is my node working?" (see
//! [`allora_sdk::status::NodeStatus`]), as text or JSON.

use allora_sdk::client::{ChainClient, ClientConfig};
use allora_sdk::operator::write_report;
use allora_sdk::status::NodeStatus;

use crate::config::Settings;
use crate::error::AppError;

/// Gathers the report and writes it to `out`.
pub async fn status(
    settings: Settings,
    json: bool,
    out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
) -> Result<(), AppError> {
    let signer = crate::keys::load_configured(&settings.key).await?;
    let client = ChainClient::new(ClientConfig::new(settings.grpc_endpoints.iter()))?;
    let topics: Vec<u64> = settings.topics.iter().map(|t| t.id).collect();
    let report = NodeStatus::gather(
        &client,
        signer.address(),
        &settings.data_dir,
        &topics,
        settings.websocket_url.as_deref(),
    )
    .await?;
    write_report(&report, json, out)
        .await
        .map_err(AppError::Output)
}
