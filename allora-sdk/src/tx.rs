//! Transactions: SIGN_MODE_DIRECT sign docs, `TxRaw` bytes and hashes, fees.
//!
//! The account number and sequence are supplied by the caller here; the
//! submit pipeline keeps them up to date.
//!
//! ```
//! use allora_sdk::keys::{Mnemonic, WorkerKey};
//! use allora_sdk::payload::WorkerPayload;
//! use allora_sdk::tx::{Fee, SignerData, UnsignedTx};
//!
//! let mnemonic: Mnemonic = "abandon abandon abandon abandon abandon abandon \
//!     abandon abandon abandon abandon abandon about".parse()?;
//! let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
//! let payload = WorkerPayload::inference(69, 1_234_567, "123.456".parse()?).sign(&key)?;
//! let tx = UnsignedTx::new(vec![payload.to_any()])
//!     .sign(&key, &SignerData::new("allora-testnet-1", 12345, 7), &Fee::uallo(9_720_000, 216_000))?;
//! assert_eq!(tx.hash(), "C6FC3BB9F0810D7218A128A78757B0A0A29E14F4BC37D7432CD501A168DB60E1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;

use std::ops::Range;
use std::sync::OnceLock;

use cosmrs::proto::cosmos::base::v1beta1::Coin;
use cosmrs::proto::cosmos::crypto::secp256k1::PubKey as ProtoPubKey;
use cosmrs::proto::cosmos::tx::signing::v1beta1::SignMode;
use cosmrs::proto::cosmos::tx::v1beta1::{
    mode_info, AuthInfo, Fee as ProtoFee, ModeInfo, SignerInfo,
};
use prost::encoding;
use prost::Message;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::keys::{Address, PublicKey, WorkerKey};
use crate::proto::Any;
use crate::signer::{sign_verified, SignError, Signer};

/// The fee denomination of the Allora chain.
pub const DENOM: &str = "uallo";

/// The type URL of a secp256k1 public key in a signer's info.
const SECP256K1_PUBKEY_URL: &str = "/cosmos.crypto.secp256k1.PubKey";

/// Why a transaction could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxBuildError {
    /// The chain id is not a valid Cosmos chain id.
    #[error("invalid chain id {0:?}")]
    InvalidChainId(String),
    /// The fee denomination is invalid.
    #[error("invalid fee denomination {0:?}")]
    InvalidDenom(String),
    /// The transaction has no messages.
    #[error("a transaction needs at least one message")]
    NoMessages,
    /// cosmrs refused a part of the transaction.
    #[error("cannot encode transaction: {0}")]
    Encode(String),
    /// An externally made signature does not verify for the sign doc.
    #[error("transaction signature rejected: {0}")]
    BadSignature(String),
    /// A gas price could not be parsed.
    #[error("invalid gas price {input:?}: {reason}")]
    InvalidGasPrice {
        /// The input.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Who signs and in which account state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerData {
    /// The chain id (e.g. `allora-testnet-1`).
    pub chain_id: String,
    /// The signer's account number.
    pub account_number: u64,
    /// The signer's next sequence.
    pub sequence: u64,
}

impl SignerData {
    /// Bundles the three values.
    pub fn new(chain_id: impl Into<String>, account_number: u64, sequence: u64) -> Self {
        SignerData {
            chain_id: chain_id.into(),
            account_number,
            sequence,
        }
    }
}

/// The fee of a transaction: an amount of one denomination, a gas limit
/// and, optionally, a fee granter.
///
/// With a granter (`Fee.granter`, field 4 of the `Fee` in the transaction's
/// `AuthInfo`), the chain takes the fee from the granter's account under
/// the fee allowance it gave the signer (cosmos-sdk `x/feegrant`; Allora's
/// `app/ante.go` passes the fee grant keeper to its feemarket fee
/// decorator). Without an allowance the transaction is refused before it
/// enters the mempool, nothing spent: codespace `sdk`, code 38,
/// `... does not allow to pay fees for ...: fee-grant not found: not found`;
/// an expired allowance is codespace `feegrant` code 3 (`fee allowance
/// expired`), one whose spend limit is too small code 2 (`fee limit
/// exceeded`). The payer field stays empty: the signer is the fee payer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    /// The amount paid.
    pub amount: u128,
    /// Its denomination.
    pub denom: String,
    /// The gas limit.
    pub gas_limit: u64,
    /// The account paying the fee under a fee grant, if not the signer.
    pub granter: Option<Address>,
}

impl Fee {
    /// A fee in `uallo`, paid by the signer.
    pub fn uallo(amount: u128, gas_limit: u64) -> Self {
        Fee {
            amount,
            denom: DENOM.to_owned(),
            gas_limit,
            granter: None,
        }
    }

    /// This fee, paid by `granter` under a fee grant (`None`: by the signer).
    pub fn with_granter(mut self, granter: Option<Address>) -> Self {
        self.granter = granter;
        self
    }

    /// The fee for `gas_limit` at a gas price and tier, rounded up to a
    /// whole uallo (see [`GasPrice::fee_for`]): 250 000 gas at 0.08 uallo/gas,
    /// eco tier, is 20 000 uallo.
    pub fn for_gas(gas_limit: u64, price: GasPrice, tier: FeeTier) -> Self {
        Fee::uallo(price.fee_for(gas_limit, tier), gas_limit)
    }

    /// The fee as the chain's protobuf `Fee` (one coin, the granter if any,
    /// no payer).
    fn to_proto(&self) -> Result<ProtoFee, TxBuildError> {
        if !is_valid_denom(&self.denom) {
            return Err(TxBuildError::InvalidDenom(self.denom.clone()));
        }
        Ok(ProtoFee {
            amount: vec![Coin {
                denom: self.denom.clone(),
                amount: self.amount.to_string(),
            }],
            gas_limit: self.gas_limit,
            payer: String::new(),
            granter: self
                .granter
                .as_ref()
                .map_or_else(String::new, |g| g.as_str().to_owned()),
        })
    }
}

/// Whether `denom` is a valid Cosmos SDK coin denomination
/// (`[a-zA-Z][a-zA-Z0-9/:._-]{2,127}`, the SDK's `reDnmString`).
fn is_valid_denom(denom: &str) -> bool {
    let bytes = denom.as_bytes();
    (3..=128).contains(&bytes.len())
        && bytes[0].is_ascii_alphabetic()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b':' | b'.' | b'_' | b'-'))
}

/// A fee tier: how much above the gas price to pay for priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FeeTier {
    /// 1.0 × the gas price.
    Eco,
    /// 1.5 × the gas price.
    #[default]
    Standard,
    /// 2.5 × the gas price.
    Priority,
}

impl FeeTier {
    /// The multiplier in tenths.
    fn tenths(self) -> u128 {
        match self {
            FeeTier::Eco => 10,
            FeeTier::Standard => 15,
            FeeTier::Priority => 25,
        }
    }

    /// The next tier up, if any.
    pub fn raised(self) -> Option<FeeTier> {
        match self {
            FeeTier::Eco => Some(FeeTier::Standard),
            FeeTier::Standard => Some(FeeTier::Priority),
            FeeTier::Priority => None,
        }
    }
}

impl FromStr for FeeTier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "eco" => Ok(FeeTier::Eco),
            "standard" => Ok(FeeTier::Standard),
            "priority" => Ok(FeeTier::Priority),
            other => Err(format!(
                "unknown fee tier {other:?}: use eco, standard or priority"
            )),
        }
    }
}

/// A gas price in `uallo` per gas unit, held exactly with 18 decimals (the
/// chain's `LegacyDec` precision), so fractional prices such as 0.08
/// uallo/gas are exact.
///
/// ```
/// use allora_sdk::tx::{FeeTier, GasPrice};
///
/// let price = GasPrice::from_decimal("0.08")?;
/// assert_eq!(price.to_string(), "0.08uallo");
/// assert_eq!(price.fee_for(250_000, FeeTier::Eco), 20_000);
/// assert_eq!("2.5e-2".parse::<GasPrice>()?, GasPrice::from_atto(25_000_000_000_000_000));
/// # Ok::<(), allora_sdk::tx::TxBuildError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GasPrice {
    atto: u128,
}

const ATTO: u128 = 1_000_000_000_000_000_000;
/// Decimal places a gas price can carry (the chain's `LegacyDec`).
const GAS_PRICE_DECIMALS: i32 = 18;

impl GasPrice {
    /// From the raw 18-decimal integer, as the feemarket module reports it
    /// (`"10000000000000000000"` is 10 uallo per gas).
    pub fn from_atto(atto: u128) -> Self {
        GasPrice { atto }
    }

    /// A whole number of uallo per gas.
    pub fn from_uallo(uallo: u64) -> Self {
        GasPrice {
            atto: u128::from(uallo) * ATTO,
        }
    }

    /// A decimal number of uallo per gas, exactly: `"0.08"`, `"10"`,
    /// `"2.5e8"`, `"0.025uallo"` (the same as [`FromStr`]).
    ///
    /// Errors ([`TxBuildError::InvalidGasPrice`]): not a decimal number,
    /// negative, more than 18 decimal places (finer than the chain's
    /// `LegacyDec` can hold), or too large.
    pub fn from_decimal(text: &str) -> Result<Self, TxBuildError> {
        text.parse()
    }

    /// The raw 18-decimal integer.
    pub fn atto(self) -> u128 {
        self.atto
    }

    /// Whether the price is zero.
    pub fn is_zero(self) -> bool {
        self.atto == 0
    }

    /// This price multiplied by `numerator / denominator` (rounded down).
    pub fn scaled(self, numerator: u128, denominator: u128) -> Self {
        GasPrice {
            atto: self.atto.saturating_mul(numerator) / denominator.max(1),
        }
    }

    /// The fee in uallo for `gas` at this price and `tier`:
    /// `ceil(gas × price × tier)`, saturating at `u128::MAX`.
    ///
    /// Rounded up because the chain requires it: the feemarket ante handler
    /// computes the required fee as `ceil(min_gas_price × gas_limit)` and
    /// refuses a smaller fee with `insufficient fee` (skip-mev feemarket
    /// `x/feemarket/ante/fee.go`, `CheckTxFee`, which Allora's
    /// `app/ante.go` installs). Rounding down, as the official Python SDK
    /// does (`int(gas × price × tier)`), can pay one uallo too little at a
    /// fractional price.
    pub fn fee_for(self, gas: u64, tier: FeeTier) -> u128 {
        let total = u128::from(gas)
            .saturating_mul(self.atto)
            .saturating_mul(tier.tenths());
        total.div_ceil(10 * ATTO)
    }
}

impl FromStr for GasPrice {
    type Err = TxBuildError;

    /// Parses a plain decimal such as `10`, `0.08`, `0.025` or `2.5e8` (an
    /// optional trailing `uallo` is accepted: `10uallo`), exactly.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bad = |reason| TxBuildError::InvalidGasPrice {
            input: input.to_owned(),
            reason,
        };
        let s = input.trim();
        let s = s.strip_suffix(DENOM).unwrap_or(s).trim_end();
        let dec: crate::Dec = s.parse().map_err(|_| bad("not a decimal number"))?;
        let text = dec.as_str();
        if text.starts_with('-') {
            return Err(bad("must not be negative"));
        }
        let (mantissa, exp) = match text.split_once('E') {
            Some((m, e)) => (m, e.parse::<i32>().map_err(|_| bad("bad exponent"))?),
            None => (text, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = format!("{int}{frac}");
        let frac_len = i32::try_from(frac.len()).map_err(|_| bad("too many digits"))?;
        let scale = GAS_PRICE_DECIMALS + exp - frac_len;
        let mut atto: u128 = digits.parse().map_err(|_| bad("too large"))?;
        if scale >= 0 {
            for _ in 0..scale {
                atto = atto.checked_mul(10).ok_or_else(|| bad("too large"))?;
            }
        } else {
            for _ in 0..(-scale) {
                if atto % 10 != 0 {
                    return Err(bad(
                        "more than 18 decimal places (the chain's gas prices have 18)",
                    ));
                }
                atto /= 10;
            }
        }
        Ok(GasPrice { atto })
    }
}

impl fmt::Display for GasPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.atto / ATTO;
        let frac = self.atto % ATTO;
        if frac == 0 {
            write!(f, "{int}{DENOM}")
        } else {
            let frac = format!("{frac:018}");
            write!(f, "{int}.{}{DENOM}", frac.trim_end_matches('0'))
        }
    }
}

impl fmt::Debug for GasPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GasPrice({self})")
    }
}

/// The messages and body fields of a transaction, before signing.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsignedTx {
    messages: Vec<Any>,
    memo: String,
    timeout_height: u32,
}

impl UnsignedTx {
    /// A transaction carrying these messages, with no memo and no timeout.
    pub fn new(messages: Vec<Any>) -> Self {
        UnsignedTx {
            messages,
            memo: String::new(),
            timeout_height: 0,
        }
    }

    /// Sets the memo.
    pub fn with_memo(mut self, memo: impl Into<String>) -> Self {
        self.memo = memo.into();
        self
    }

    /// Sets the block height after which the transaction is invalid (0: none).
    pub fn with_timeout_height(mut self, height: u32) -> Self {
        self.timeout_height = height;
        self
    }

    /// The messages.
    pub fn messages(&self) -> &[Any] {
        &self.messages
    }

    /// The `TxBody` encoded as the `bytes` field number 1 of `SignDoc` and
    /// `TxRaw` (both start with it), and where the body starts in it.
    fn body_field(&self) -> Result<(Vec<u8>, usize), TxBuildError> {
        if self.messages.is_empty() {
            return Err(TxBuildError::NoMessages);
        }
        // TxBody: messages (1), memo (2), timeout_height (3); no extension
        // options. Encoded field by field as prost does, without copying the
        // messages into a body struct first.
        let body_len: usize = self
            .messages
            .iter()
            .map(|m| encoding::message::encoded_len(1, m))
            .sum::<usize>()
            + if self.memo.is_empty() {
                0
            } else {
                encoding::string::encoded_len(2, &self.memo)
            }
            + if self.timeout_height == 0 {
                0
            } else {
                encoding::uint64::encoded_len(3, &u64::from(self.timeout_height))
            };
        let mut field = Vec::with_capacity(body_len + 8);
        encoding::encode_key(1, encoding::WireType::LengthDelimited, &mut field);
        encoding::encode_varint(body_len as u64, &mut field);
        let start = field.len();
        for message in &self.messages {
            encoding::message::encode(1, message, &mut field);
        }
        if !self.memo.is_empty() {
            encoding::string::encode(2, &self.memo, &mut field);
        }
        if self.timeout_height != 0 {
            encoding::uint64::encode(3, &u64::from(self.timeout_height), &mut field);
        }
        Ok((field, start))
    }

    /// Encodes the body once, for signing with several sequences or fees
    /// (the body of a transaction does not change between attempts).
    pub fn prepare(&self) -> Result<PreparedTx, TxBuildError> {
        let (body_field, body_start) = self.body_field()?;
        Ok(PreparedTx {
            body_field,
            body_start,
            message_count: self.messages.len(),
        })
    }

    /// The SIGN_MODE_DIRECT sign doc bytes.
    pub fn sign_doc_bytes(
        &self,
        public_key: PublicKey,
        signer: &SignerData,
        fee: &Fee,
    ) -> Result<Vec<u8>, TxBuildError> {
        self.prepare()?.sign_doc_bytes(public_key, signer, fee)
    }

    /// Signs the transaction (SIGN_MODE_DIRECT, RFC 6979, low-S).
    pub fn sign(
        &self,
        key: &WorkerKey,
        signer: &SignerData,
        fee: &Fee,
    ) -> Result<SignedTx, TxBuildError> {
        self.prepare()?.sign(key, signer, fee)
    }

    /// Signs the transaction (SIGN_MODE_DIRECT) through any [`Signer`] by
    /// `deadline`; the signer info carries the signer's public key.
    ///
    /// The signature is normalised to low-S and verified before it is
    /// attached (see [`sign_verified`]); for a [`WorkerKey`] the result is
    /// byte-identical to [`UnsignedTx::sign`].
    ///
    /// Errors: [`SignError::Tx`] when the transaction cannot be built (the
    /// signer is not asked), [`SignError::Signer`] when the signer times out,
    /// fails or returns a signature that does not verify.
    pub async fn sign_with<S: Signer + ?Sized>(
        &self,
        signer: &S,
        signer_data: &SignerData,
        fee: &Fee,
        deadline: Instant,
    ) -> Result<SignedTx, SignError> {
        self.prepare()?
            .sign_with(signer, signer_data, fee, deadline)
            .await
    }

    /// Attaches a signature over the sign doc made elsewhere (a remote signer
    /// or hardware key), after checking that it verifies.
    pub fn with_signature(
        &self,
        public_key: PublicKey,
        signer: &SignerData,
        fee: &Fee,
        signature: &[u8],
    ) -> Result<SignedTx, TxBuildError> {
        self.prepare()?
            .with_signature(public_key, signer, fee, signature)
    }

    /// The bytes to send to `Simulate`: the real body and auth info with an
    /// empty signature, which the chain accepts for gas estimation.
    pub fn simulation_bytes(
        &self,
        public_key: PublicKey,
        sequence: u64,
        fee: &Fee,
    ) -> Result<Vec<u8>, TxBuildError> {
        self.prepare()?.simulation_bytes(public_key, sequence, fee)
    }
}

/// A transaction whose body is encoded, ready to be signed for any signer
/// state and fee (see [`UnsignedTx::prepare`]).
///
/// The body is kept as the encoded first field of the sign doc (and of the
/// raw transaction, which starts with the same field), so each signature
/// encodes only what changes (auth info, chain id, account number) and
/// copies the body once into the sign doc and once into the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedTx {
    body_field: Vec<u8>,
    body_start: usize,
    message_count: usize,
}

impl PreparedTx {
    /// The encoded body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body_field[self.body_start..]
    }

    /// How many messages the body carries.
    pub fn message_count(&self) -> usize {
        self.message_count
    }

    /// The raw transaction of this body with `auth_info_bytes` and
    /// `signature`.
    fn signed(&self, auth_info_bytes: &[u8], signature: &[u8]) -> SignedTx {
        SignedTx::assemble(
            &self.body_field,
            self.body_start,
            auth_info_bytes,
            signature,
        )
    }

    /// The `AuthInfo` of one SIGN_MODE_DIRECT secp256k1 signer.
    fn auth_info_bytes(
        public_key: PublicKey,
        sequence: u64,
        fee: &Fee,
    ) -> Result<Vec<u8>, TxBuildError> {
        let public_key = Any {
            type_url: SECP256K1_PUBKEY_URL.to_owned(),
            value: ProtoPubKey {
                key: public_key.to_compressed().to_vec(),
            }
            .encode_to_vec(),
        };
        Ok(AuthInfo {
            signer_infos: vec![SignerInfo {
                public_key: Some(public_key),
                mode_info: Some(ModeInfo {
                    sum: Some(mode_info::Sum::Single(mode_info::Single {
                        mode: SignMode::Direct as i32,
                    })),
                }),
                sequence,
            }],
            fee: Some(fee.to_proto()?),
            ..AuthInfo::default()
        }
        .encode_to_vec())
    }

    /// The SIGN_MODE_DIRECT sign doc bytes.
    pub fn sign_doc_bytes(
        &self,
        public_key: PublicKey,
        signer: &SignerData,
        fee: &Fee,
    ) -> Result<Vec<u8>, TxBuildError> {
        Ok(self.sign_doc(public_key, signer, fee)?.1)
    }

    /// The auth info bytes and the sign doc made from them and the body.
    fn sign_doc(
        &self,
        public_key: PublicKey,
        signer: &SignerData,
        fee: &Fee,
    ) -> Result<(Vec<u8>, Vec<u8>), TxBuildError> {
        if signer
            .chain_id
            .parse::<cosmrs::tendermint::chain::Id>()
            .is_err()
        {
            return Err(TxBuildError::InvalidChainId(signer.chain_id.clone()));
        }
        let auth_info_bytes = Self::auth_info_bytes(public_key, signer.sequence, fee)?;
        // SignDoc: body_bytes (1), auth_info_bytes (2), chain_id (3),
        // account_number (4); proto3 leaves out a zero account number.
        let mut doc = Vec::with_capacity(
            self.body_field.len() + auth_info_bytes.len() + signer.chain_id.len() + 16,
        );
        doc.extend_from_slice(&self.body_field);
        put_bytes(2, &auth_info_bytes, &mut doc);
        encoding::string::encode(3, &signer.chain_id, &mut doc);
        if signer.account_number != 0 {
            encoding::uint64::encode(4, &signer.account_number, &mut doc);
        }
        Ok((auth_info_bytes, doc))
    }

    /// Signs (SIGN_MODE_DIRECT, RFC 6979, low-S).
    pub fn sign(
        &self,
        key: &WorkerKey,
        signer: &SignerData,
        fee: &Fee,
    ) -> Result<SignedTx, TxBuildError> {
        let (auth_info_bytes, doc) = self.sign_doc(key.public_key(), signer, fee)?;
        let signature = key.sign(&doc);
        Ok(self.signed(&auth_info_bytes, &signature))
    }

    /// Signs through any [`Signer`] by `deadline` (see
    /// [`UnsignedTx::sign_with`]).
    pub async fn sign_with<S: Signer + ?Sized>(
        &self,
        signer: &S,
        signer_data: &SignerData,
        fee: &Fee,
        deadline: Instant,
    ) -> Result<SignedTx, SignError> {
        let (auth_info_bytes, doc) = self.sign_doc(signer.public_key(), signer_data, fee)?;
        let signature = sign_verified(signer, &doc, deadline).await?;
        Ok(self.signed(&auth_info_bytes, &signature))
    }

    /// Attaches a signature over the sign doc made elsewhere, after checking
    /// that it verifies.
    pub fn with_signature(
        &self,
        public_key: PublicKey,
        signer: &SignerData,
        fee: &Fee,
        signature: &[u8],
    ) -> Result<SignedTx, TxBuildError> {
        let (auth_info_bytes, doc) = self.sign_doc(public_key, signer, fee)?;
        public_key
            .verify(&doc, signature)
            .map_err(|e| TxBuildError::BadSignature(e.to_string()))?;
        Ok(self.signed(&auth_info_bytes, signature))
    }

    /// The bytes to send to `Simulate` (an empty signature).
    pub fn simulation_bytes(
        &self,
        public_key: PublicKey,
        sequence: u64,
        fee: &Fee,
    ) -> Result<Vec<u8>, TxBuildError> {
        let auth_info_bytes = Self::auth_info_bytes(public_key, sequence, fee)?;
        Ok(self.signed(&auth_info_bytes, &[]).bytes)
    }
}

/// A signed transaction ready to broadcast.
#[derive(Clone)]
pub struct SignedTx {
    /// The `TxRaw` bytes.
    bytes: Vec<u8>,
    body: Range<usize>,
    auth_info: Range<usize>,
    signature: Range<usize>,
    /// Computed when first asked for: the node's answer to a broadcast
    /// carries it, so the hot path rarely needs it.
    hash: OnceLock<String>,
}

impl PartialEq for SignedTx {
    fn eq(&self, other: &Self) -> bool {
        // The ranges follow from the bytes.
        self.bytes == other.bytes
    }
}

impl Eq for SignedTx {}

impl SignedTx {
    /// Assembles a signed transaction from its parts.
    pub fn from_parts(body_bytes: Vec<u8>, auth_info_bytes: Vec<u8>, signature: Vec<u8>) -> Self {
        let mut body_field = Vec::with_capacity(body_bytes.len() + 8);
        put_bytes(1, &body_bytes, &mut body_field);
        let body_start = body_field.len() - body_bytes.len();
        Self::assemble(&body_field, body_start, &auth_info_bytes, &signature)
    }

    /// `TxRaw`: body_bytes (1, given encoded), auth_info_bytes (2) and one
    /// signature (3, encoded even when empty, as a repeated field is).
    fn assemble(body_field: &[u8], body_start: usize, auth_info: &[u8], signature: &[u8]) -> Self {
        let mut bytes =
            Vec::with_capacity(body_field.len() + auth_info.len() + signature.len() + 8);
        bytes.extend_from_slice(body_field);
        let body = body_start..body_field.len();
        put_bytes(2, auth_info, &mut bytes);
        let auth_info = bytes.len() - auth_info.len()..bytes.len();
        put_bytes(3, signature, &mut bytes);
        let signature = bytes.len() - signature.len()..bytes.len();
        SignedTx {
            bytes,
            body,
            auth_info,
            signature,
            hash: OnceLock::new(),
        }
    }

    /// The `TxRaw` bytes to broadcast.
    pub fn to_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The transaction hash: upper-case hex of sha256 of the `TxRaw` bytes.
    pub fn hash(&self) -> &str {
        self.hash.get_or_init(|| tx_hash(&self.bytes))
    }

    /// The encoded body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.bytes[self.body.clone()]
    }

    /// The encoded auth info.
    pub fn auth_info_bytes(&self) -> &[u8] {
        &self.bytes[self.auth_info.clone()]
    }

    /// The signature.
    pub fn signature(&self) -> &[u8] {
        &self.bytes[self.signature.clone()]
    }
}

impl fmt::Debug for SignedTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedTx")
            .field("hash", &self.hash())
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Appends a length-delimited field (bytes or an embedded message's bytes).
fn put_bytes(field: u32, value: &[u8], buf: &mut Vec<u8>) {
    encoding::encode_key(field, encoding::WireType::LengthDelimited, buf);
    encoding::encode_varint(value.len() as u64, buf);
    buf.extend_from_slice(value);
}

/// The hash of raw transaction bytes, as the chain reports it.
pub fn tx_hash(tx_bytes: &[u8]) -> String {
    hex::encode_upper(Sha256::digest(tx_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_tiers_match_the_official_sdk_arithmetic() {
        // The four fees of the golden vectors.
        let dynamic = |dec18: u128| GasPrice::from_atto(dec18).scaled(3, 1);
        assert_eq!(
            dynamic(10 * ATTO).fee_for(216_000, FeeTier::Standard),
            9_720_000
        );
        assert_eq!(
            GasPrice::from_uallo(10).fee_for(300_000, FeeTier::Priority),
            7_500_000
        );
        assert_eq!(
            dynamic(12_500_000_000_000_000_000).fee_for(300_000, FeeTier::Standard),
            16_875_000
        );
        assert_eq!(
            GasPrice::from_uallo(250_000_000).fee_for(148_147, FeeTier::Eco),
            37_036_750_000_000
        );
    }

    #[test]
    fn fractional_prices_give_exact_fees_rounded_up() {
        let price = GasPrice::from_decimal("0.08").unwrap();
        assert_eq!(price.fee_for(250_000, FeeTier::Eco), 20_000);
        assert_eq!(price.fee_for(250_000, FeeTier::Standard), 30_000);
        assert_eq!(price.fee_for(250_000, FeeTier::Priority), 50_000);
        assert_eq!(
            Fee::for_gas(250_000, price, FeeTier::Eco),
            Fee::uallo(20_000, 250_000)
        );
        // 0.025 x 3 = 0.075 uallo: the chain requires ceil, so 1.
        let small = GasPrice::from_decimal("0.025").unwrap();
        assert_eq!(small.fee_for(3, FeeTier::Eco), 1);
        // 0.08 x 12 345 x 1.5 = 1481.4 -> 1482.
        assert_eq!(price.fee_for(12_345, FeeTier::Standard), 1_482);
        assert_eq!(GasPrice::default().fee_for(1_000, FeeTier::Priority), 0);
        assert_eq!(
            GasPrice::from_atto(u128::MAX).fee_for(u64::MAX, FeeTier::Priority),
            u128::MAX.div_ceil(10 * ATTO)
        );
    }

    #[test]
    fn gas_prices_parse() {
        assert_eq!("10".parse::<GasPrice>().unwrap(), GasPrice::from_uallo(10));
        assert_eq!(
            "2.5e8".parse::<GasPrice>().unwrap(),
            GasPrice::from_uallo(250_000_000)
        );
        assert_eq!(
            "0.025uallo".parse::<GasPrice>().unwrap().atto(),
            25_000_000_000_000_000
        );
        assert_eq!(
            GasPrice::from_atto(25_000_000_000_000_000).to_string(),
            "0.025uallo"
        );
        assert_eq!(
            GasPrice::from_decimal("0.08").unwrap().atto(),
            80_000_000_000_000_000
        );
        assert_eq!(
            "0.080000000000000000000".parse::<GasPrice>().unwrap(),
            GasPrice::from_decimal("0.08").unwrap()
        );
        assert_eq!(
            "8e-2 uallo".parse::<GasPrice>().unwrap(),
            GasPrice::from_decimal("0.08").unwrap()
        );
        assert_eq!(
            GasPrice::from_atto(1).to_string(),
            "0.000000000000000001uallo"
        );
        let err = "0.0000000000000000001".parse::<GasPrice>().unwrap_err();
        assert!(err.to_string().contains("18 decimal places"), "{err}");
        assert!("-1".parse::<GasPrice>().is_err());
        assert!("".parse::<GasPrice>().is_err());
        assert!("NaN".parse::<GasPrice>().is_err());
        assert!("abc".parse::<GasPrice>().is_err());
        assert!("1e40".parse::<GasPrice>().is_err());
        assert_eq!("eco".parse::<FeeTier>().unwrap(), FeeTier::Eco);
        assert!("cheap".parse::<FeeTier>().is_err());
        assert_eq!(FeeTier::Eco.raised(), Some(FeeTier::Standard));
        assert_eq!(FeeTier::Priority.raised(), None);
    }

    #[test]
    fn empty_transactions_and_bad_chain_ids_are_refused() {
        let key = WorkerKey::from_private_key_hex(&"11".repeat(32)).unwrap();
        let fee = Fee::uallo(1, 1);
        let err = UnsignedTx::new(vec![]).sign(&key, &SignerData::new("c", 0, 0), &fee);
        assert_eq!(err.unwrap_err(), TxBuildError::NoMessages);
        let any = Any {
            type_url: "/x.Y".into(),
            value: vec![],
        };
        let err =
            UnsignedTx::new(vec![any]).sign(&key, &SignerData::new("bad chain id", 0, 0), &fee);
        assert!(matches!(err, Err(TxBuildError::InvalidChainId(_))));
    }

    #[test]
    fn direct_encoding_matches_the_protobuf_messages() {
        use cosmrs::proto::cosmos::tx::v1beta1::{SignDoc, TxBody, TxRaw};
        let key = WorkerKey::from_private_key_hex(&"11".repeat(32)).unwrap();
        let any = |n: u8| Any {
            type_url: "/x.Y".into(),
            value: vec![n; 200],
        };
        let fee = Fee::uallo(0, 123_456);
        for (memo, timeout, account_number) in [("", 0, 0), ("hello", 0, 7), ("", 99, 1 << 40)] {
            let unsigned = UnsignedTx::new(vec![any(1), any(2)])
                .with_memo(memo)
                .with_timeout_height(timeout);
            #[allow(deprecated)]
            let body = TxBody {
                messages: vec![any(1), any(2)],
                memo: memo.to_owned(),
                timeout_height: u64::from(timeout),
                ..TxBody::default()
            }
            .encode_to_vec();
            let signer = SignerData::new("allora-testnet-1", account_number, 3);
            let tx = unsigned.sign(&key, &signer, &fee).unwrap();
            assert_eq!(tx.body_bytes(), body.as_slice());
            let doc = SignDoc {
                body_bytes: body.clone(),
                auth_info_bytes: tx.auth_info_bytes().to_vec(),
                chain_id: "allora-testnet-1".into(),
                account_number,
            }
            .encode_to_vec();
            assert_eq!(
                unsigned
                    .sign_doc_bytes(key.public_key(), &signer, &fee)
                    .unwrap(),
                doc
            );
            let raw = TxRaw {
                body_bytes: body.clone(),
                auth_info_bytes: tx.auth_info_bytes().to_vec(),
                signatures: vec![tx.signature().to_vec()],
            }
            .encode_to_vec();
            assert_eq!(tx.to_bytes(), raw.as_slice());
            assert_eq!(tx.hash(), tx_hash(&raw));
            let again = SignedTx::from_parts(
                body.clone(),
                tx.auth_info_bytes().to_vec(),
                tx.signature().to_vec(),
            );
            assert_eq!(again, tx);
            // Simulation: the same with one empty signature.
            let sim = unsigned
                .simulation_bytes(key.public_key(), 3, &fee)
                .unwrap();
            let raw = TxRaw {
                body_bytes: body,
                auth_info_bytes: tx.auth_info_bytes().to_vec(),
                signatures: vec![Vec::new()],
            }
            .encode_to_vec();
            assert_eq!(sim, raw);
        }
    }

    #[test]
    fn a_fee_granter_goes_into_the_auth_info_fee() {
        use cosmrs::proto::cosmos::tx::v1beta1::AuthInfo;
        let key = WorkerKey::from_private_key_hex(&"11".repeat(32)).unwrap();
        let granter: Address = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"
            .parse()
            .unwrap();
        let any = Any {
            type_url: "/x.Y".into(),
            value: vec![1],
        };
        let signer = SignerData::new("allora-testnet-1", 1, 1);
        let fee = Fee::uallo(20_000, 250_000).with_granter(Some(granter.clone()));
        let tx = UnsignedTx::new(vec![any.clone()])
            .sign(&key, &signer, &fee)
            .unwrap();
        let proto = AuthInfo::decode(tx.auth_info_bytes()).unwrap().fee.unwrap();
        assert_eq!(proto.granter, granter.as_str());
        assert_eq!(proto.payer, "");
        assert_eq!(proto.gas_limit, 250_000);
        key.public_key()
            .verify(
                &UnsignedTx::new(vec![any.clone()])
                    .sign_doc_bytes(key.public_key(), &signer, &fee)
                    .unwrap(),
                tx.signature(),
            )
            .unwrap();
        // Without one, the field is left out (proto3).
        let plain = UnsignedTx::new(vec![any])
            .sign(&key, &signer, &Fee::uallo(20_000, 250_000))
            .unwrap();
        assert_eq!(
            tx.auth_info_bytes().len(),
            plain.auth_info_bytes().len() + 2 + granter.as_str().len()
        );
    }

    #[test]
    fn fee_denominations_are_checked() {
        let key = WorkerKey::from_private_key_hex(&"11".repeat(32)).unwrap();
        let any = Any {
            type_url: "/x.Y".into(),
            value: vec![1],
        };
        let signer = SignerData::new("allora-testnet-1", 1, 1);
        for bad in ["", "u", "1allo", "uallo!", &"a".repeat(129)] {
            let fee = Fee {
                denom: bad.to_owned(),
                ..Fee::uallo(1, 1)
            };
            assert_eq!(
                UnsignedTx::new(vec![any.clone()]).sign(&key, &signer, &fee),
                Err(TxBuildError::InvalidDenom(bad.to_owned()))
            );
        }
        let ibc = Fee {
            denom: "ibc/27394FB092D2ECCD56123C74F36E4C1F926001CEADA9CA97EA622B25F41E5EB2".into(),
            ..Fee::uallo(1, 1)
        };
        assert!(UnsignedTx::new(vec![any]).sign(&key, &signer, &ibc).is_ok());
    }
}
