//! Byte-for-byte agreement with the official Python SDK's emissions v9
//! classes: bundle bytes, bundle signatures, payload messages and signed
//! transactions.
//!
//! The vectors (`tests/vectors/allora-sdk-py-1.3.0-emissions-v9.json`) are
//! made by `scripts/vectors/make_v9_vectors.py` with allora-sdk 1.3.0's
//! `allora_sdk.rpc_client.protos.emissions.v9` messages, its canonical
//! decimals and cosmpy's signing (RFC 6979, low-S); the script's docs say
//! how to make them again.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use allora_sdk::emissions::EmissionsVersion;
use allora_sdk::keys::{Address, Mnemonic, PublicKey, WorkerKey};
use allora_sdk::payload::{ForecastElement, WorkerPayload};
use allora_sdk::tx::{Fee, SignerData, UnsignedTx};
use allora_sdk::Dec;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Vectors {
    notes: Vec<String>,
    wallets: Vec<Wallet>,
    payloads: Vec<Payload>,
    txs: Vec<Tx>,
}

#[derive(Deserialize)]
struct Wallet {
    name: String,
    mnemonic: String,
    hd_path: String,
    address: String,
    pubkey_compressed_hex: String,
}

#[derive(Deserialize)]
struct Payload {
    name: String,
    wallet: String,
    worker_address: String,
    topic_id: u64,
    nonce_block_height: i64,
    prediction_input: Option<serde_json::Value>,
    forecast_input: Option<BTreeMap<String, serde_json::Value>>,
    inference_value_field: Option<String>,
    forecast_elements: Option<Vec<Element>>,
    bundle_proto_hex: String,
    bundle_sha256_hex: String,
    bundle_signature_hex: String,
    pubkey_field: String,
    msg_type_url: String,
    msg_proto_hex: String,
    checks: BTreeMap<String, bool>,
}

#[derive(Deserialize)]
struct Element {
    inferer: String,
    value: String,
}

#[derive(Deserialize)]
struct Tx {
    name: String,
    payload: String,
    chain_id: String,
    account_number: u64,
    sequence: u64,
    gas_limit: u64,
    fee_amount: Vec<Coin>,
    memo: String,
    timeout_height: u32,
    pubkey_type_url: String,
    any_type_url: String,
    simulate_gas_limit: u64,
    simulate_tx_bytes_hex: String,
    body_bytes_hex: String,
    auth_info_bytes_hex: String,
    sign_doc_bytes_hex: String,
    sign_doc_sha256_hex: String,
    signature_rfc6979_hex: String,
    tx_raw_hex: String,
    tx_hash: String,
    checks: BTreeMap<String, bool>,
}

#[derive(Deserialize)]
struct Coin {
    denom: String,
    amount: String,
}

fn vectors() -> Vectors {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/allora-sdk-py-1.3.0-emissions-v9.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A vector input: decimal text, or a Python float given by its repr.
fn input_value(v: &serde_json::Value) -> Dec {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap(),
        serde_json::Value::Object(o) => {
            let repr = o["python_float_repr"].as_str().unwrap();
            Dec::try_from(repr.parse::<f64>().unwrap()).unwrap()
        }
        other => panic!("unexpected input {other}"),
    }
}

fn keys(v: &Vectors) -> HashMap<String, WorkerKey> {
    v.wallets
        .iter()
        .map(|w| {
            let mnemonic: Mnemonic = w.mnemonic.parse().unwrap();
            let key = WorkerKey::from_mnemonic_at(&mnemonic, "", &w.hd_path).unwrap();
            assert_eq!(key.address().as_str(), w.address, "{}", w.name);
            assert_eq!(
                key.public_key().to_hex(),
                w.pubkey_compressed_hex,
                "{}",
                w.name
            );
            (w.name.clone(), key)
        })
        .collect()
}

/// The payload of a vector, encoded for emissions v9.
fn build(p: &Payload) -> WorkerPayload {
    let elements: Vec<ForecastElement> = p
        .forecast_input
        .iter()
        .flatten()
        .map(|(inferer, value)| ForecastElement {
            inferer: inferer.parse::<Address>().unwrap(),
            value: input_value(value),
        })
        .collect();
    let payload = match &p.prediction_input {
        Some(value) => {
            WorkerPayload::inference(p.topic_id, p.nonce_block_height, input_value(value))
                .with_forecast(elements)
        }
        None => WorkerPayload::forecast(p.topic_id, p.nonce_block_height, elements),
    };
    payload.for_version(EmissionsVersion::V9)
}

#[test]
fn the_vectors_are_v9_and_passed_their_own_checks() {
    let v = vectors();
    assert!(v.notes.iter().any(|n| n.contains("field 4")));
    assert_eq!(v.payloads.len(), 4);
    assert_eq!(v.txs.len(), 3);
    for (name, checks) in v
        .payloads
        .iter()
        .map(|p| (&p.name, &p.checks))
        .chain(v.txs.iter().map(|t| (&t.name, &t.checks)))
    {
        assert!(
            !checks.is_empty() && checks.values().all(|ok| *ok),
            "{name}"
        );
    }
}

#[test]
fn v9_payloads_encode_and_sign_identically() {
    let v = vectors();
    let keys = keys(&v);
    for p in &v.payloads {
        let ctx = &p.name;
        let key = &keys[&p.wallet];
        assert_eq!(key.address().as_str(), p.worker_address, "{ctx}");
        let payload = build(p);
        let bundle = payload.bundle(key.address()).unwrap();
        assert_eq!(
            bundle.inference.as_ref().map(|i| i.value.clone()),
            p.inference_value_field,
            "{ctx}"
        );
        if let Some(inference) = &bundle.inference {
            assert!(
                inference.values.is_empty(),
                "{ctx}: no labeled values in v9"
            );
        }
        let elements: Option<Vec<(String, String)>> = bundle.forecast.as_ref().map(|f| {
            f.forecast_elements
                .iter()
                .map(|e| (e.inferer.clone(), e.value.clone()))
                .collect()
        });
        let want: Option<Vec<(String, String)>> = p.forecast_elements.as_ref().map(|es| {
            es.iter()
                .map(|e| (e.inferer.clone(), e.value.clone()))
                .collect()
        });
        assert_eq!(elements, want, "{ctx}");

        let signed = payload.sign(key).unwrap();
        assert_eq!(
            hex::encode(signed.bundle_bytes()),
            p.bundle_proto_hex,
            "{ctx}"
        );
        assert_eq!(
            hex::encode(Sha256::digest(signed.bundle_bytes())),
            p.bundle_sha256_hex,
            "{ctx}"
        );
        assert_eq!(
            hex::encode(signed.signature()),
            p.bundle_signature_hex,
            "{ctx}"
        );
        assert_eq!(key.public_key().to_hex(), p.pubkey_field, "{ctx}");
        let any = signed.to_any();
        assert_eq!(any.type_url, p.msg_type_url, "{ctx}");
        assert_eq!(hex::encode(&any.value), p.msg_proto_hex, "{ctx}");

        // The same through the Signer trait, and through a signature made
        // elsewhere.
        let through_trait = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async {
                payload
                    .sign_with(key, tokio::time::Instant::now() + Duration::from_secs(5))
                    .await
            })
            .unwrap();
        assert_eq!(through_trait, signed, "{ctx}");
        let pubkey = PublicKey::from_hex(&p.pubkey_field).unwrap();
        let attached = payload
            .with_signature(pubkey, &hex::decode(&p.bundle_signature_hex).unwrap())
            .unwrap();
        assert_eq!(attached, signed, "{ctx}");
        assert_eq!(
            hex::encode(payload.bundle_bytes_for(pubkey).unwrap()),
            p.bundle_proto_hex,
            "{ctx}"
        );

        // The message reads back through the v9 set into the same payload.
        let v9 = EmissionsVersion::V9.messages().unwrap();
        let read = v9.decode_insert_worker_payload(&any.value).unwrap();
        assert_eq!(&read, signed.message(), "{ctx}");
    }
}

#[test]
fn v9_transactions_sign_identically() {
    let v = vectors();
    let keys = keys(&v);
    for t in &v.txs {
        let ctx = &t.name;
        let p = v.payloads.iter().find(|p| p.name == t.payload).unwrap();
        let key = &keys[&p.wallet];
        let pubkey = key.public_key();
        assert_eq!(
            t.pubkey_type_url, "/cosmos.crypto.secp256k1.PubKey",
            "{ctx}"
        );
        assert_eq!(
            t.any_type_url, "/emissions.v9.InsertWorkerPayloadRequest",
            "{ctx}"
        );
        let [coin] = t.fee_amount.as_slice() else {
            panic!("{ctx}: one fee coin")
        };
        let fee = Fee {
            amount: coin.amount.parse().unwrap(),
            denom: coin.denom.clone(),
            gas_limit: t.gas_limit,
            granter: None,
        };
        let signer = SignerData::new(&t.chain_id, t.account_number, t.sequence);
        let unsigned = UnsignedTx::new(vec![build(p).sign(key).unwrap().to_any()])
            .with_memo(&t.memo)
            .with_timeout_height(t.timeout_height);

        let sim = unsigned
            .simulation_bytes(pubkey, t.sequence, &Fee::uallo(1, t.simulate_gas_limit))
            .unwrap();
        assert_eq!(hex::encode(sim), t.simulate_tx_bytes_hex, "{ctx}");
        let doc = unsigned.sign_doc_bytes(pubkey, &signer, &fee).unwrap();
        assert_eq!(hex::encode(&doc), t.sign_doc_bytes_hex, "{ctx}");
        assert_eq!(
            hex::encode(Sha256::digest(&doc)),
            t.sign_doc_sha256_hex,
            "{ctx}"
        );
        let tx = unsigned.sign(key, &signer, &fee).unwrap();
        assert_eq!(hex::encode(tx.body_bytes()), t.body_bytes_hex, "{ctx}");
        assert_eq!(
            hex::encode(tx.auth_info_bytes()),
            t.auth_info_bytes_hex,
            "{ctx}"
        );
        assert_eq!(
            hex::encode(tx.signature()),
            t.signature_rfc6979_hex,
            "{ctx}"
        );
        assert_eq!(hex::encode(tx.to_bytes()), t.tx_raw_hex, "{ctx}");
        assert_eq!(tx.hash(), t.tx_hash, "{ctx}");
        pubkey.verify(&doc, tx.signature()).unwrap();
    }
}
