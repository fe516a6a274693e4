//! `cosmos.tx.v1beta1.Service`: Simulate, BroadcastTx (CheckTx) and GetTx.

use std::sync::Arc;

use cosmrs::proto::cosmos::base::abci::v1beta1::{self as abci, TxResponse};
use cosmrs::proto::cosmos::tx::v1beta1::service_server::Service;
use cosmrs::proto::cosmos::tx::v1beta1::{self as txpb, BroadcastMode, Tx, TxRaw};
use prost::Message;
use tonic::Status;

use allora_sdk::proto::to_any;

use super::super::{IncludedTx, Shared};
use super::not_served;

/// Serves the transaction endpoints of the devnet chain.
#[derive(Debug)]
pub(crate) struct TxService {
    shared: Arc<Shared>,
}

impl TxService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        TxService { shared }
    }
}

/// `TxRaw` bytes as the structured `Tx` (bodies decoded).
fn raw_to_tx(bytes: &[u8]) -> Result<Tx, prost::DecodeError> {
    let raw = TxRaw::decode(bytes)?;
    Ok(Tx {
        body: Some(txpb::TxBody::decode(raw.body_bytes.as_slice())?),
        auth_info: Some(txpb::AuthInfo::decode(raw.auth_info_bytes.as_slice())?),
        signatures: raw.signatures,
    })
}

/// The structured `Tx` as `TxRaw` bytes.
fn tx_to_raw(tx: &Tx) -> Vec<u8> {
    TxRaw {
        body_bytes: tx
            .body
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default(),
        auth_info_bytes: tx
            .auth_info
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default(),
        signatures: tx.signatures.clone(),
    }
    .encode_to_vec()
}

fn gas_i64(gas: u64) -> i64 {
    i64::try_from(gas).unwrap_or(i64::MAX)
}

fn tx_response(included: &IncludedTx, tx: Option<&Tx>) -> TxResponse {
    TxResponse {
        height: included.height,
        txhash: included.hash.clone(),
        codespace: included.codespace.clone(),
        code: included.code,
        raw_log: included.raw_log.clone(),
        gas_wanted: gas_i64(included.gas_wanted),
        gas_used: gas_i64(included.gas_used),
        tx: tx.map(to_any),
        timestamp: included.timestamp.clone(),
        events: included.events.iter().map(|e| e.to_proto()).collect(),
        ..Default::default()
    }
}

unary_handlers! {
    impl Service for TxService {
        fn simulate(&self, req: txpb::SimulateRequest) -> txpb::SimulateResponse {
            // Older clients send the structured (deprecated) `tx` field.
            #[allow(deprecated)]
            let legacy_tx = req.tx.as_ref();
            let bytes = match (req.tx_bytes.is_empty(), legacy_tx) {
                (false, _) => req.tx_bytes.clone(),
                (true, Some(tx)) => tx_to_raw(tx),
                (true, None) => {
                    return Err(Status::invalid_argument("empty txBytes is not allowed"))
                }
            };
            let simulation = self.shared.chain().simulate(&bytes).map_err(|e| {
                // The SDK's text for a failed simulation.
                Status::unknown(format!("{} With gas wanted: '0' and gas used: '0' ", e.log))
            })?;
            Ok(txpb::SimulateResponse {
                gas_info: Some(abci::GasInfo {
                    gas_wanted: simulation.gas_wanted,
                    gas_used: simulation.gas_used,
                }),
                result: Some(abci::Result {
                    events: simulation.events.iter().map(|e| e.to_proto()).collect(),
                    ..Default::default()
                }),
            })
        }

        fn get_tx(&self, request: txpb::GetTxRequest) -> txpb::GetTxResponse {
            let hash = request.hash;
            if hash.is_empty() {
                return Err(Status::invalid_argument("request cannot be nil"));
            }
            let included = self
                .shared
                .chain()
                .included_tx(&hash)
                .cloned()
                .ok_or_else(|| Status::not_found(format!("tx not found: {hash}")))?;
            let tx = raw_to_tx(&included.tx_bytes).ok();
            Ok(txpb::GetTxResponse {
                tx_response: Some(tx_response(&included, tx.as_ref())),
                tx,
            })
        }

        fn broadcast_tx(&self, req: txpb::BroadcastTxRequest) -> txpb::BroadcastTxResponse {
            self.shared
                .broadcasts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mode = BroadcastMode::try_from(req.mode).unwrap_or(BroadcastMode::Unspecified);
            if !matches!(mode, BroadcastMode::Sync | BroadcastMode::Async) {
                return Err(Status::invalid_argument(format!(
                    "unsupported broadcast mode {mode:?}: use SYNC or ASYNC"
                )));
            }
            if req.tx_bytes.is_empty() {
                return Err(Status::invalid_argument("invalid empty tx"));
            }
            let check = self.shared.chain().check_tx(&req.tx_bytes);
            let mut response = TxResponse {
                txhash: check.hash,
                ..Default::default()
            };
            // ASYNC answers before CheckTx on a real node; only SYNC reports it.
            if mode == BroadcastMode::Sync {
                response.gas_wanted = gas_i64(check.gas_wanted);
                response.gas_used = gas_i64(check.gas_used);
                if let Err(e) = check.result {
                    response.code = e.code;
                    response.codespace = e.codespace.to_owned();
                    response.raw_log = e.log;
                }
            }
            Ok(txpb::BroadcastTxResponse {
                tx_response: Some(response),
            })
        }

        fn get_txs_event(&self, _request: txpb::GetTxsEventRequest) -> txpb::GetTxsEventResponse {
            Err(not_served("GetTxsEvent"))
        }

        fn get_block_with_txs(
            &self,
            _request: txpb::GetBlockWithTxsRequest,
        ) -> txpb::GetBlockWithTxsResponse {
            Err(not_served("GetBlockWithTxs"))
        }

        fn tx_decode(&self, request: txpb::TxDecodeRequest) -> txpb::TxDecodeResponse {
            let tx = raw_to_tx(&request.tx_bytes)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            Ok(txpb::TxDecodeResponse { tx: Some(tx) })
        }

        fn tx_encode(&self, request: txpb::TxEncodeRequest) -> txpb::TxEncodeResponse {
            let tx = request
                .tx
                .ok_or_else(|| Status::invalid_argument("invalid empty tx"))?;
            Ok(txpb::TxEncodeResponse {
                tx_bytes: tx_to_raw(&tx),
            })
        }

        fn tx_encode_amino(
            &self,
            _request: txpb::TxEncodeAminoRequest,
        ) -> txpb::TxEncodeAminoResponse {
            Err(not_served("TxEncodeAmino"))
        }

        fn tx_decode_amino(
            &self,
            _request: txpb::TxDecodeAminoRequest,
        ) -> txpb::TxDecodeAminoResponse {
            Err(not_served("TxDecodeAmino"))
        }
    }
}
