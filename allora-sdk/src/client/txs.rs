//! Transaction calls: simulate, broadcast (with its CheckTx code checked)
//! and look-up of included transactions.

use cosmrs::proto::cosmos::base::abci::v1beta1::TxResponse;
use cosmrs::proto::cosmos::tx::v1beta1 as txpb;

use super::error::{found, malformed, ChainError, ClientError, TxStage};
use super::ChainClient;
use crate::tx::SignedTx;

/// The result of a gas simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasEstimate {
    /// Gas the transaction used in simulation.
    pub gas_used: u64,
    /// Gas the simulated transaction asked for.
    pub gas_wanted: u64,
}

/// A transaction accepted into the mempool (CheckTx passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastAck {
    /// Its hash.
    pub txhash: String,
}

/// An event of an included transaction, as the node reports it in
/// `GetTx` (`tx_response.events`): the type and the attributes in order.
/// Typed events (`emissions.v10.EventInsertInfererPayload`...) carry each
/// field as its proto3-JSON text (`topic_id` = `"\"1\""`); every event of
/// a message ends with a `msg_index` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxEvent {
    /// The event type.
    pub kind: String,
    /// `(key, value)` pairs, in order.
    pub attributes: Vec<(String, String)>,
}

impl TxEvent {
    /// The value of an attribute.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The index of the message that emitted the event, when it came from
    /// one.
    pub fn msg_index(&self) -> Option<usize> {
        self.attribute("msg_index")?.trim_matches('"').parse().ok()
    }
}

/// An included transaction's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutcome {
    /// Its hash.
    pub txhash: String,
    /// The block that included it.
    pub height: i64,
    /// Gas asked for.
    pub gas_wanted: i64,
    /// Gas used.
    pub gas_used: i64,
    /// `Ok` when its messages were applied, the chain's error otherwise (the
    /// fee was paid either way).
    pub result: Result<(), ChainError>,
    /// The events it emitted: the ante handler's and each message's (whose
    /// events carry `msg_index`).
    pub events: Vec<TxEvent>,
}

fn chain_error(stage: TxStage, response: &TxResponse) -> ChainError {
    ChainError {
        stage,
        codespace: response.codespace.clone(),
        code: response.code,
        raw_log: response.raw_log.clone(),
        txhash: Some(response.txhash.clone()).filter(|h| !h.is_empty()),
        height: Some(response.height).filter(|h| *h > 0),
    }
}

/// Reads the chain's error out of a failed simulation's status message.
fn simulate_error(message: &str) -> ChainError {
    // The SDK's message reads "<log> With gas wanted: ..." with no code
    // attached: the code is that of the registered error the log ends with.
    let (codespace, code) = super::error::registered_error(message);
    ChainError {
        stage: TxStage::Simulate,
        codespace: codespace.to_owned(),
        code,
        raw_log: message.to_owned(),
        txhash: None,
        height: None,
    }
}

impl ChainClient {
    /// Simulates a transaction (see [`crate::tx::UnsignedTx::simulation_bytes`])
    /// and returns the gas it uses. A rejection comes back as
    /// [`ClientError::Chain`] at stage [`TxStage::Simulate`].
    pub async fn simulate(&self, tx_bytes: Vec<u8>) -> Result<GasEstimate, ClientError> {
        #[allow(deprecated)]
        let request = txpb::SimulateRequest { tx: None, tx_bytes };
        let response = self
            .call_with("Simulate", request, |ch, request| async move {
                txpb::service_client::ServiceClient::new(ch)
                    .simulate(request)
                    .await
            })
            .await
            .map_err(|e| match e {
                ClientError::Status { message, code, .. } if code != tonic::Code::Unimplemented => {
                    ClientError::Chain(simulate_error(&message))
                }
                other => other,
            })?;
        let info = response
            .gas_info
            .ok_or_else(|| malformed("Simulate", "no gas info"))?;
        Ok(GasEstimate {
            gas_used: info.gas_used,
            gas_wanted: info.gas_wanted,
        })
    }

    /// Broadcasts in SYNC mode and checks the CheckTx code: a rejection comes
    /// back as [`ClientError::Chain`] at stage [`TxStage::CheckTx`], at once.
    pub async fn broadcast(&self, tx: &SignedTx) -> Result<BroadcastAck, ClientError> {
        let request = txpb::BroadcastTxRequest {
            tx_bytes: tx.to_bytes().to_vec(),
            mode: txpb::BroadcastMode::Sync as i32,
        };
        let response = self
            .call_with("BroadcastTx", request, |ch, request| async move {
                txpb::service_client::ServiceClient::new(ch)
                    .broadcast_tx(request)
                    .await
            })
            .await?;
        let tx_response = response
            .tx_response
            .ok_or_else(|| malformed("BroadcastTx", "no tx_response"))?;
        if tx_response.code != 0 {
            let mut error = chain_error(TxStage::CheckTx, &tx_response);
            error.txhash.get_or_insert_with(|| tx.hash().to_owned());
            return Err(ClientError::Chain(error));
        }
        Ok(BroadcastAck {
            txhash: if tx_response.txhash.is_empty() {
                tx.hash().to_owned()
            } else {
                tx_response.txhash
            },
        })
    }

    /// Looks up an included transaction; `None` while it is not in a block.
    pub async fn tx(&self, txhash: &str) -> Result<Option<TxOutcome>, ClientError> {
        let request = txpb::GetTxRequest {
            hash: txhash.to_owned(),
        };
        let result = self
            .call_with("GetTx", request, |ch, request| async move {
                txpb::service_client::ServiceClient::new(ch)
                    .get_tx(request)
                    .await
            })
            .await;
        let Some(response) = found(result, "tx not found")? else {
            return Ok(None);
        };
        let tx_response = response
            .tx_response
            .ok_or_else(|| malformed("GetTx", "no tx_response"))?;
        let result = if tx_response.code == 0 {
            Ok(())
        } else {
            Err(chain_error(TxStage::DeliverTx, &tx_response))
        };
        let events = tx_response
            .events
            .into_iter()
            .map(|event| TxEvent {
                kind: event.r#type,
                attributes: event
                    .attributes
                    .into_iter()
                    .map(|a| (a.key, a.value))
                    .collect(),
            })
            .collect();
        Ok(Some(TxOutcome {
            txhash: tx_response.txhash,
            height: tx_response.height,
            gas_wanted: tx_response.gas_wanted,
            gas_used: tx_response.gas_used,
            result,
            events,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::TxErrorKind;

    #[test]
    fn simulation_errors_are_classified_from_their_text() {
        let e = simulate_error(
            "account sequence mismatch, expected 3, got 2: incorrect account sequence",
        );
        assert_eq!(
            e.kind(),
            TxErrorKind::SequenceMismatch { expected: Some(3) }
        );
        assert_eq!(
            simulate_error(
                "failed to execute message; message index: 0: inference already submitted"
            )
            .kind(),
            TxErrorKind::AlreadySubmitted
        );
        assert_eq!(simulate_error("weird").kind(), TxErrorKind::Other);
        let closed = simulate_error(
            "failed to execute message; message index: 0: unfulfilled nonce not found With gas wanted: '0' and gas used: '0' ",
        );
        assert_eq!((closed.codespace.as_str(), closed.code), ("emissions", 75));
        assert_eq!(closed.kind(), TxErrorKind::NonceNotOpen);
    }
}
