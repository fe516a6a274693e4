//! Transaction decoding and the ante handler: the checks every transaction
//! passes before its messages run, in the Cosmos SDK's decorator order
//! (basic validation, timeout, memo, size gas, fee check and deduction,
//! public key, sequence and signature, sequence increment).

use std::str::FromStr;
use std::time::SystemTime;

use cosmrs::proto::cosmos::crypto::secp256k1::PubKey as Secp256k1PubKey;
use cosmrs::proto::cosmos::tx::signing::v1beta1::SignMode;
use cosmrs::proto::cosmos::tx::v1beta1::{mode_info, AuthInfo, SignDoc, TxBody, TxRaw};
use prost::Message;

use allora_sdk::decimal::Dec;
use allora_sdk::emissions::EmissionsVersion;
use allora_sdk::keys::{Address, PublicKey};
use allora_sdk::proto::emissions::v10;
use allora_sdk::tx::{GasPrice, DENOM};

use super::abci::{self, AbciError};
use super::feegrant;
use super::gas;
use super::protocol::DevnetProtocol;
use super::state::Ledger;

/// The SDK's default `MaxMemoCharacters`.
const MAX_MEMO_CHARS: usize = 256;
const SECP256K1_PUBKEY_URL: &str = "/cosmos.crypto.secp256k1.PubKey";
const ATTO_PER_UNIT: u128 = 1_000_000_000_000_000_000;

/// A message the devnet knows how to run, read from its protocol's wire
/// into the richest shape (`emissions.v10`'s messages).
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    Register(v10::RegisterRequest),
    InsertWorkerPayload(Box<v10::InsertWorkerPayloadRequest>),
}

impl Msg {
    /// The address that must sign the message.
    pub(crate) fn signer(&self) -> &str {
        match self {
            Msg::Register(m) => &m.sender,
            Msg::InsertWorkerPayload(m) => &m.sender,
        }
    }
}

/// A decoded transaction.
#[derive(Debug, Clone)]
pub(crate) struct DecodedTx {
    pub(crate) raw: TxRaw,
    pub(crate) body: TxBody,
    pub(crate) auth_info: AuthInfo,
    pub(crate) msgs: Vec<Msg>,
    /// Length of the encoded `TxRaw`.
    pub(crate) len: usize,
}

impl DecodedTx {
    /// The gas limit the fee pays for.
    pub(crate) fn gas_limit(&self) -> u64 {
        self.auth_info.fee.as_ref().map_or(0, |f| f.gas_limit)
    }

    /// Distinct message signers, in order of first appearance.
    pub(crate) fn signers(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for msg in &self.msgs {
            if !out.contains(&msg.signer()) {
                out.push(msg.signer());
            }
        }
        out
    }
}

/// Decodes `TxRaw` bytes the way the chain's tx decoder does, including the
/// messages of `protocol` and their bounded decimals (a bad decimal fails
/// decoding on the chain, before any handler runs). A message of another
/// emissions version fails decoding as the chain's interface registry
/// fails it ("unable to resolve type URL …", sdk code 2).
pub(crate) fn decode(bytes: &[u8], protocol: DevnetProtocol) -> Result<DecodedTx, AbciError> {
    let raw = TxRaw::decode(bytes).map_err(|e| abci::TX_DECODE.wrap(e))?;
    let body = TxBody::decode(raw.body_bytes.as_slice()).map_err(|e| abci::TX_DECODE.wrap(e))?;
    let auth_info =
        AuthInfo::decode(raw.auth_info_bytes.as_slice()).map_err(|e| abci::TX_DECODE.wrap(e))?;
    let wire = protocol.wire();
    let register_url = protocol.type_url("RegisterRequest");
    let payload_url = protocol.type_url("InsertWorkerPayloadRequest");
    let mut msgs = Vec::with_capacity(body.messages.len());
    for any in &body.messages {
        let msg = if any.type_url == register_url {
            Msg::Register(
                wire.decode_register(any.value.as_slice())
                    .map_err(|e| abci::TX_DECODE.wrap(e))?,
            )
        } else if any.type_url == payload_url {
            let payload = wire
                .decode_insert_worker_payload(any.value.as_slice())
                .map_err(|e| abci::TX_DECODE.wrap(e))?;
            check_payload_decimals(&payload)?;
            Msg::InsertWorkerPayload(Box::new(payload))
        } else if EmissionsVersion::of_name(&any.type_url).is_some() {
            // Another emissions version's message: its type is not
            // registered with this chain's codec.
            return Err(
                abci::TX_DECODE.wrap(format!("unable to resolve type URL {}", any.type_url))
            );
        } else {
            // The chain cannot route (or even resolve) a type it has no
            // handler for; the whole transaction is refused up front.
            return Err(
                abci::UNKNOWN_REQUEST.wrap(format!("unrecognized message type: {}", any.type_url))
            );
        };
        if Address::from_str(msg.signer()).is_err() {
            return Err(
                abci::INVALID_ADDRESS.wrap(format!("invalid signer address {:?}", msg.signer()))
            );
        }
        msgs.push(msg);
    }
    if msgs.is_empty() {
        return Err(abci::INVALID_REQUEST.wrap("must contain at least one message"));
    }
    Ok(DecodedTx {
        raw,
        body,
        auth_info,
        msgs,
        len: bytes.len(),
    })
}

/// Every decimal in a payload must parse as the chain's `BoundedExp40Dec`;
/// an empty field is the zero value the chain's decoder leaves in place.
fn check_payload_decimals(payload: &v10::InsertWorkerPayloadRequest) -> Result<(), AbciError> {
    let Some(bundle) = payload
        .worker_data_bundle
        .as_ref()
        .and_then(|b| b.inference_forecasts_bundle.as_ref())
    else {
        return Ok(());
    };
    let mut texts: Vec<&str> = Vec::new();
    if let Some(inference) = &bundle.inference {
        texts.push(&inference.value);
        texts.extend(inference.values.iter().map(|v| v.value.as_str()));
    }
    if let Some(forecast) = &bundle.forecast {
        texts.extend(forecast.forecast_elements.iter().map(|e| e.value.as_str()));
    }
    for text in texts.into_iter().filter(|t| !t.is_empty()) {
        text.parse::<Dec>().map_err(|e| abci::TX_DECODE.wrap(e))?;
    }
    Ok(())
}

/// How a transaction is being run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Admission to the mempool (`BroadcastTx`).
    Check,
    /// Inclusion in a block.
    Deliver,
    /// Gas estimation: no fee check, no signature check, unlimited gas.
    Simulate,
}

/// What the ante handler needs to know about the chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnteContext<'a> {
    pub(crate) chain_id: &'a str,
    /// Height of the block the transaction would be part of.
    pub(crate) height: i64,
    pub(crate) min_gas_price: GasPrice,
    pub(crate) mode: Mode,
    /// The block time fee allowances expire against.
    pub(crate) block_time: SystemTime,
}

/// Runs the ante handler against `ledger`, applying its effects (fee debit,
/// public keys, sequences). Callers pass a copy and keep it only on success.
/// Returns the gas the ante handler consumed.
pub(crate) fn run(
    ledger: &mut Ledger,
    tx: &DecodedTx,
    ctx: &AnteContext<'_>,
) -> Result<u64, AbciError> {
    let signers = tx.signers();
    let signer_infos = &tx.auth_info.signer_infos;
    if tx.raw.signatures.is_empty() {
        return Err(abci::NO_SIGNATURES.bare());
    }
    if signer_infos.len() != signers.len() || tx.raw.signatures.len() != signers.len() {
        return Err(abci::UNAUTHORIZED.wrap(format!(
            "wrong number of signers; expected {}, got {}",
            signers.len(),
            signer_infos.len().max(tx.raw.signatures.len())
        )));
    }

    let timeout = tx.body.timeout_height;
    if timeout > 0 && u64::try_from(ctx.height).unwrap_or(0) > timeout {
        return Err(abci::TX_TIMEOUT_HEIGHT.wrap(format!(
            "block height: {}, timeout height: {timeout}",
            ctx.height
        )));
    }

    let memo_chars = tx.body.memo.chars().count();
    if memo_chars > MAX_MEMO_CHARS {
        return Err(abci::MEMO_TOO_LARGE.wrap(format!(
            "maximum number of characters is {MAX_MEMO_CHARS} but received {memo_chars} characters"
        )));
    }

    let gas_limit = tx.gas_limit();
    let mut counted_len = tx.len;
    if ctx.mode == Mode::Simulate {
        let empty = tx.raw.signatures.iter().filter(|s| s.is_empty()).count();
        counted_len += empty * gas::SIGNATURE_LEN as usize;
    }
    let ante_gas = gas::ante_gas(counted_len, signers.len());
    if ctx.mode != Mode::Simulate && gas_limit < ante_gas {
        return Err(abci::OUT_OF_GAS.wrap(format!(
            "out of gas in location: txSize; gasWanted: {gas_limit}, gasUsed: {ante_gas}"
        )));
    }

    deduct_fee(ledger, tx, signers[0], gas_limit, ctx)?;

    for (index, (signer, info)) in signers.iter().zip(signer_infos).enumerate() {
        let account = ledger.accounts.get(*signer).ok_or_else(|| {
            abci::UNKNOWN_ADDRESS.wrap(format!("account {signer} does not exist"))
        })?;
        let pubkey = match (&info.public_key, account.pubkey) {
            (Some(any), _) => decode_pubkey(any)?,
            (None, Some(stored)) => stored,
            // Simulation stands in a placeholder key for an account that has
            // never signed, as the SDK does; only the sequence is checked.
            (None, None) if ctx.mode == Mode::Simulate => {
                check_sequence(account.sequence, info.sequence)?;
                if let Some(account) = ledger.accounts.get_mut(*signer) {
                    account.sequence = account.sequence.saturating_add(1);
                }
                continue;
            }
            (None, None) => {
                return Err(
                    abci::INVALID_PUBKEY.wrap(format!("pubkey on account {signer} is not set"))
                )
            }
        };
        let derived = pubkey.address().map_err(|e| abci::INVALID_PUBKEY.wrap(e))?;
        if derived.as_str() != *signer {
            return Err(abci::INVALID_PUBKEY.wrap(format!(
                "pubKey does not match signer address {signer} with signer index: {index}"
            )));
        }
        check_sequence(account.sequence, info.sequence)?;
        let direct = matches!(
            info.mode_info.as_ref().and_then(|m| m.sum.as_ref()),
            Some(mode_info::Sum::Single(single)) if single.mode == SignMode::Direct as i32
        );
        if !direct {
            return Err(
                abci::UNAUTHORIZED.wrap("the devnet verifies SIGN_MODE_DIRECT signatures only")
            );
        }
        let signature = &tx.raw.signatures[index];
        let skip = ctx.mode == Mode::Simulate && signature.is_empty();
        if !skip {
            let doc = SignDoc {
                body_bytes: tx.raw.body_bytes.clone(),
                auth_info_bytes: tx.raw.auth_info_bytes.clone(),
                chain_id: ctx.chain_id.to_owned(),
                account_number: account.number,
            }
            .encode_to_vec();
            if pubkey.verify(&doc, signature).is_err() {
                return Err(abci::UNAUTHORIZED.wrap(format!(
                    "signature verification failed; please verify account number ({}) and \
                     chain-id ({}): (unable to verify single signer signature)",
                    account.number, ctx.chain_id
                )));
            }
        }
        if let Some(account) = ledger.accounts.get_mut(*signer) {
            account.pubkey = Some(pubkey);
            account.sequence = account.sequence.saturating_add(1);
        }
    }
    Ok(ante_gas)
}

fn check_sequence(expected: u64, got: u64) -> Result<(), AbciError> {
    if expected != got {
        return Err(abci::WRONG_SEQUENCE.wrap(format!(
            "account sequence mismatch, expected {expected}, got {got}"
        )));
    }
    Ok(())
}

fn decode_pubkey(any: &cosmrs::proto::Any) -> Result<PublicKey, AbciError> {
    if any.type_url != SECP256K1_PUBKEY_URL {
        return Err(
            abci::INVALID_PUBKEY.wrap(format!("unsupported public key type {}", any.type_url))
        );
    }
    let key =
        Secp256k1PubKey::decode(any.value.as_slice()).map_err(|e| abci::INVALID_PUBKEY.wrap(e))?;
    PublicKey::from_sec1_bytes(&key.key).map_err(|e| abci::INVALID_PUBKEY.wrap(e))
}

/// The feemarket fee check (not in simulation) and the fee deduction from
/// the first signer or, when the fee names a granter, from the granter under
/// its fee allowance (see [`feegrant`]).
fn deduct_fee(
    ledger: &mut Ledger,
    tx: &DecodedTx,
    payer: &str,
    gas_limit: u64,
    ctx: &AnteContext<'_>,
) -> Result<(), AbciError> {
    let mut fee: u128 = 0;
    for coin in tx.auth_info.fee.iter().flat_map(|f| &f.amount) {
        let amount: u128 = coin
            .amount
            .parse()
            .map_err(|_| abci::TX_DECODE.wrap(format!("invalid fee amount {:?}", coin.amount)))?;
        if coin.denom == DENOM {
            fee = fee.saturating_add(amount);
        }
    }
    if ctx.mode != Mode::Simulate {
        let required = required_fee(ctx.min_gas_price, gas_limit);
        if fee < required {
            return Err(abci::INSUFFICIENT_FEE.wrap(format!(
                "got: {fee}{DENOM} required: {required}{DENOM}, minGasPrice: {}{DENOM}, gas: {gas_limit}",
                legacy_dec(ctx.min_gas_price)
            )));
        }
    }
    let granter = tx.auth_info.fee.as_ref().map_or("", |f| f.granter.as_str());
    let mut from = payer;
    if !granter.is_empty() {
        if Address::from_str(granter).is_err() {
            return Err(
                abci::INVALID_ADDRESS.wrap(format!("invalid fee granter address {granter:?}"))
            );
        }
        // The fee decorator escrows nothing in simulation (it asks the
        // allowance for a zero fee, so only its existence and expiry count).
        let asked = if ctx.mode == Mode::Simulate { 0 } else { fee };
        if granter != payer {
            feegrant::use_granted_fees(
                &mut ledger.fee_grants,
                granter,
                payer,
                asked,
                ctx.block_time,
            )
            .map_err(|e| {
                e.context(format!("{granter} does not allow to pay fees for {payer}"))
                    .context("error escrowing funds")
            })?;
        }
        from = granter;
        fee = asked;
    }
    let account = ledger.accounts.get_mut(from).ok_or_else(|| {
        abci::UNKNOWN_ADDRESS.wrap(format!("fee payer address: {from} does not exist"))
    })?;
    if account.balance < fee {
        return Err(abci::INSUFFICIENT_FUNDS
            .wrap(format!(
                "spendable balance {}{DENOM} is smaller than {fee}{DENOM}",
                account.balance
            ))
            .context("error escrowing funds"));
    }
    account.balance -= fee;
    Ok(())
}

/// `ceil(gas_limit × price)` in uallo.
pub(crate) fn required_fee(price: GasPrice, gas_limit: u64) -> u128 {
    let atto = price.atto().saturating_mul(u128::from(gas_limit));
    atto.div_ceil(ATTO_PER_UNIT)
}

/// A gas price as Cosmos `LegacyDec` text with 18 decimals ("10.000000000000000000").
pub(crate) fn legacy_dec(price: GasPrice) -> String {
    let atto = price.atto();
    format!("{}.{:018}", atto / ATTO_PER_UNIT, atto % ATTO_PER_UNIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_fee_rounds_up() {
        assert_eq!(required_fee(GasPrice::from_uallo(10), 200_000), 2_000_000);
        assert_eq!(required_fee(GasPrice::from_atto(1), 1), 1);
        assert_eq!(
            required_fee(GasPrice::from_atto(1_500_000_000_000_000_000), 3),
            5
        );
        assert_eq!(required_fee(GasPrice::from_atto(0), 1_000_000), 0);
    }

    #[test]
    fn gas_price_is_written_as_legacy_dec() {
        assert_eq!(
            legacy_dec(GasPrice::from_uallo(10)),
            "10.000000000000000000"
        );
        assert_eq!(
            legacy_dec(GasPrice::from_atto(2_500_000_000_000_000)),
            "0.002500000000000000"
        );
    }

    #[test]
    fn garbage_and_empty_txs_fail_decoding() {
        assert_eq!(
            decode(&[0xff, 0xff], DevnetProtocol::V10)
                .map(|_| ())
                .unwrap_err()
                .code,
            2
        );
        let empty = TxRaw::default().encode_to_vec();
        let err = decode(&empty, DevnetProtocol::V10).map(|_| ()).unwrap_err();
        assert_eq!((err.code, err.codespace), (18, "sdk"));
    }
}
