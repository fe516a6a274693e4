//! Confirmation: polls for the transaction's inclusion until a deadline.

use std::time::Duration;

use tokio::time::Instant;

use crate::client::{ChainClient, ClientError, TxOutcome};

/// Polls `GetTx` every `poll` until the transaction is in a block or
/// `deadline` passes (`Ok(None)`: not seen in time). Transport failures are
/// retried at the next poll; an answer the chain gives that is not "not
/// found yet" is returned.
pub(crate) async fn inclusion(
    client: &ChainClient,
    txhash: &str,
    poll: Duration,
    deadline: Instant,
) -> Result<Option<TxOutcome>, ClientError> {
    let client = client.with_deadline(deadline);
    loop {
        match client.tx(txhash).await {
            Ok(Some(outcome)) => return Ok(Some(outcome)),
            Ok(None) => {}
            Err(ClientError::DeadlineExceeded { .. }) => return Ok(None),
            Err(error) if error.is_retryable() => {
                tracing::debug!(%error, txhash, "inclusion check failed; retrying");
            }
            Err(error) => return Err(error),
        }
        let next = Instant::now() + poll;
        if next >= deadline {
            return Ok(None);
        }
        tokio::time::sleep_until(next).await;
    }
}
