//! What the golden-vector tests share: the byte fields of a payload and a
//! transaction vector, how a vector file and its inputs are read, and the
//! checks that our bytes equal the official SDK's.

use std::path::Path;

use allora_sdk::keys::{Mnemonic, WorkerKey};
use allora_sdk::payload::SignedPayload;
use allora_sdk::tx::{SignedTx, SignerData, UnsignedTx};
use allora_sdk::Dec;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A wallet of the vectors: its mnemonic, derivation path, and the
/// account the SDK derived from them.
#[derive(Deserialize)]
pub struct Wallet {
    pub name: String,
    pub mnemonic: String,
    pub hd_path: String,
    pub address: String,
    pub pubkey_compressed_hex: String,
}

impl Wallet {
    /// The key of the wallet's mnemonic (with the BIP-39 `passphrase`) at
    /// its derivation path.
    pub fn key(&self, passphrase: &str) -> WorkerKey {
        let mnemonic: Mnemonic = self.mnemonic.parse().unwrap();
        WorkerKey::from_mnemonic_at(&mnemonic, passphrase, &self.hd_path).unwrap()
    }
}

/// A forecast element of a payload vector, its value as the bundle has it.
#[derive(Deserialize)]
pub struct ElementVector {
    pub inferer: String,
    pub value: String,
}

/// A fee coin of a transaction vector.
#[derive(Deserialize)]
pub struct Coin {
    pub denom: String,
    pub amount: String,
}

/// What a transaction vector signs: its payload (by name), account, fee
/// and body fields.
#[derive(Deserialize)]
pub struct TxInput {
    pub name: String,
    pub payload: String,
    pub chain_id: String,
    pub account_number: u64,
    pub sequence: u64,
    pub gas_limit: u64,
    pub fee_amount: Vec<Coin>,
    pub memo: String,
    pub timeout_height: u32,
    pub pubkey_type_url: String,
}

impl TxInput {
    /// The chain, account number and sequence the transaction is signed for.
    pub fn signer_data(&self) -> SignerData {
        SignerData::new(&self.chain_id, self.account_number, self.sequence)
    }

    /// The unsigned transaction carrying `payload`, with the vector's memo
    /// and timeout height.
    pub fn unsigned(&self, payload: &SignedPayload) -> UnsignedTx {
        UnsignedTx::new(vec![payload.to_any()])
            .with_memo(&self.memo)
            .with_timeout_height(self.timeout_height)
    }
}

/// The bytes the official SDK made for a payload: the signed bundle and the
/// message that carries it.
#[derive(Deserialize)]
pub struct PayloadBytes {
    pub bundle_proto_hex: String,
    pub bundle_sha256_hex: String,
    pub bundle_signature_hex: String,
    pub pubkey_field: String,
    pub msg_type_url: String,
    pub msg_proto_hex: String,
}

/// The bytes the official SDK (through cosmpy) made for a transaction.
#[derive(Deserialize)]
pub struct TxBytes {
    pub body_bytes_hex: String,
    pub auth_info_bytes_hex: String,
    pub sign_doc_bytes_hex: String,
    pub sign_doc_sha256_hex: String,
    pub signature_rfc6979_hex: String,
    pub tx_raw_hex: String,
    pub tx_hash: String,
}

/// A vector file, read whole.
pub fn load<T: DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A vector input: decimal text, or a Python float given by its repr.
pub fn input_value(v: &serde_json::Value) -> Dec {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap(),
        serde_json::Value::Object(o) => {
            let repr = o["python_float_repr"].as_str().unwrap();
            Dec::try_from(repr.parse::<f64>().unwrap()).unwrap()
        }
        other => panic!("unexpected input {other}"),
    }
}

/// Our signed payload has the SDK's bundle, bundle digest, signature and
/// message.
pub fn assert_payload_bytes(ctx: &str, signed: &SignedPayload, want: &PayloadBytes) {
    assert_eq!(
        hex::encode(signed.bundle_bytes()),
        want.bundle_proto_hex,
        "{ctx}"
    );
    assert_eq!(
        hex::encode(Sha256::digest(signed.bundle_bytes())),
        want.bundle_sha256_hex,
        "{ctx}"
    );
    assert_eq!(
        hex::encode(signed.signature()),
        want.bundle_signature_hex,
        "{ctx}"
    );
    let any = signed.to_any();
    assert_eq!(any.type_url, want.msg_type_url, "{ctx}");
    assert_eq!(hex::encode(&any.value), want.msg_proto_hex, "{ctx}");
}

/// Our sign doc is the SDK's, and so is its SHA-256 digest.
pub fn assert_sign_doc(ctx: &str, doc: &[u8], want: &TxBytes) {
    assert_eq!(hex::encode(doc), want.sign_doc_bytes_hex, "{ctx}");
    assert_eq!(
        hex::encode(Sha256::digest(doc)),
        want.sign_doc_sha256_hex,
        "{ctx}"
    );
}

/// Our signed transaction has the SDK's body, auth info, signature, raw
/// bytes and hash.
pub fn assert_tx_bytes(ctx: &str, tx: &SignedTx, want: &TxBytes) {
    assert_eq!(hex::encode(tx.body_bytes()), want.body_bytes_hex, "{ctx}");
    assert_eq!(
        hex::encode(tx.auth_info_bytes()),
        want.auth_info_bytes_hex,
        "{ctx}"
    );
    assert_eq!(
        hex::encode(tx.signature()),
        want.signature_rfc6979_hex,
        "{ctx}"
    );
    assert_eq!(hex::encode(tx.to_bytes()), want.tx_raw_hex, "{ctx}");
    assert_eq!(tx.hash(), want.tx_hash, "{ctx}");
}
