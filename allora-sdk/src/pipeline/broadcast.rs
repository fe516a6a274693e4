//! Broadcast: the signed transaction to the mempool, in SYNC mode, with the
//! CheckTx code checked.

use tokio::time::Instant;

use crate::client::{ChainClient, ChainError, ClientError, TxErrorKind};
use crate::tx::{Fee, SignedTx};

/// A transaction the mempool accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    /// Its hash.
    pub(crate) txhash: String,
    /// Its fee.
    pub(crate) fee: Fee,
    /// When the mempool accepted it.
    pub(crate) at: Instant,
}

/// What the mempool said.
#[derive(Debug)]
pub(crate) enum Broadcast {
    /// Accepted: its sequence is used.
    Accepted(Sent),
    /// Refused at CheckTx: its sequence is not used.
    Refused(ChainError),
}

/// Broadcasts `tx`. "Already in the mempool" (the same bytes sent before,
/// e.g. by an attempt whose answer was lost) counts as accepted. A
/// transport failure is returned as it is: whether the transaction reached a
/// mempool is then unknown.
pub(crate) async fn broadcast(
    client: &ChainClient,
    tx: &SignedTx,
    fee: &Fee,
) -> Result<Broadcast, ClientError> {
    let accepted = |txhash: String| {
        Broadcast::Accepted(Sent {
            txhash,
            fee: fee.clone(),
            at: Instant::now(),
        })
    };
    match client.broadcast(tx).await {
        Ok(ack) => Ok(accepted(ack.txhash)),
        Err(ClientError::Chain(error)) if error.kind() == TxErrorKind::AlreadyInMempool => {
            Ok(accepted(tx.hash().to_owned()))
        }
        Err(ClientError::Chain(error)) => Ok(Broadcast::Refused(error)),
        Err(other) => Err(other),
    }
}
