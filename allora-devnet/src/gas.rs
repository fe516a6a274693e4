//! The devnet's deterministic gas model.
//!
//! Real gas depends on store access patterns that a devnet does not have;
//! what matters to clients is that the model is deterministic, grows with
//! the transaction's size and work, and that `Simulate` reports exactly what
//! delivery will consume, so simulate-then-multiply gas estimation behaves
//! as on the chain.

use super::ante::Msg;

/// Fixed cost of every transaction (context setup, fee deduction).
pub const TX_BASE_GAS: u64 = 20_000;
/// Cost per byte of the encoded transaction (the SDK's default `TxSizeCostPerByte`).
pub const GAS_PER_TX_BYTE: u64 = 10;
/// Cost of verifying one secp256k1 signature (the SDK's default).
pub const SIG_VERIFY_GAS: u64 = 1_000;
/// Cost of a `RegisterRequest`.
pub const REGISTER_GAS: u64 = 40_000;
/// Fixed cost of an `InsertWorkerPayloadRequest` (bundle signature check,
/// nonce and registration reads).
pub const PAYLOAD_BASE_GAS: u64 = 60_000;
/// Cost per inference value or forecast element stored.
pub const PAYLOAD_GAS_PER_VALUE: u64 = 5_000;

/// A signature slot left empty for simulation is 64 bytes shorter than the
/// signed transaction will be; counting it keeps simulated gas equal to
/// delivered gas.
pub(crate) const SIGNATURE_LEN: u64 = 64;

/// Gas the ante handler consumes before any message runs.
pub fn ante_gas(tx_len: usize, signers: usize) -> u64 {
    TX_BASE_GAS
        .saturating_add(GAS_PER_TX_BYTE.saturating_mul(tx_len as u64))
        .saturating_add(SIG_VERIFY_GAS.saturating_mul(signers as u64))
}

/// Gas one message consumes.
pub(crate) fn message_gas(msg: &Msg) -> u64 {
    match msg {
        Msg::Register(_) => REGISTER_GAS,
        Msg::InsertWorkerPayload(payload) => {
            let values = payload
                .worker_data_bundle
                .as_ref()
                .and_then(|b| b.inference_forecasts_bundle.as_ref())
                .map(|b| {
                    b.inference.as_ref().map_or(0, |i| i.values.len().max(1))
                        + b.forecast.as_ref().map_or(0, |f| f.forecast_elements.len())
                })
                .unwrap_or(0);
            PAYLOAD_BASE_GAS.saturating_add(PAYLOAD_GAS_PER_VALUE.saturating_mul(values as u64))
        }
    }
}
