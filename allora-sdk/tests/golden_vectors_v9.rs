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

#[path = "support/vectors.rs"]
mod vectors;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use allora_sdk::emissions::EmissionsVersion;
use allora_sdk::keys::{Address, PublicKey, WorkerKey};
use allora_sdk::payload::{ForecastElement, WorkerPayload};
use allora_sdk::tx::Fee;
use serde::Deserialize;
use vectors::{assert_payload_bytes, assert_sign_doc, assert_tx_bytes, input_value};
use vectors::{ElementVector, PayloadBytes, TxBytes, TxInput, Wallet};

#[derive(Deserialize)]
struct Vectors {
    notes: Vec<String>,
    wallets: Vec<Wallet>,
    payloads: Vec<Payload>,
    txs: Vec<Tx>,
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
    forecast_elements: Option<Vec<ElementVector>>,
    #[serde(flatten)]
    bytes: PayloadBytes,
    checks: BTreeMap<String, bool>,
}

#[derive(Deserialize)]
struct Tx {
    #[serde(flatten)]
    input: TxInput,
    any_type_url: String,
    simulate_gas_limit: u64,
    simulate_tx_bytes_hex: String,
    #[serde(flatten)]
    bytes: TxBytes,
    checks: BTreeMap<String, bool>,
}

fn vectors() -> Vectors {
    vectors::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors/allora-sdk-py-1.3.0-emissions-v9.json"),
    )
}

fn keys(v: &Vectors) -> HashMap<String, WorkerKey> {
    v.wallets
        .iter()
        .map(|w| {
            let key = w.key("");
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
        .chain(v.txs.iter().map(|t| (&t.input.name, &t.checks)))
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
        assert_payload_bytes(ctx, &signed, &p.bytes);
        assert_eq!(key.public_key().to_hex(), p.bytes.pubkey_field, "{ctx}");
        let any = signed.to_any();

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
        let pubkey = PublicKey::from_hex(&p.bytes.pubkey_field).unwrap();
        let attached = payload
            .with_signature(pubkey, &hex::decode(&p.bytes.bundle_signature_hex).unwrap())
            .unwrap();
        assert_eq!(attached, signed, "{ctx}");
        assert_eq!(
            hex::encode(payload.bundle_bytes_for(pubkey).unwrap()),
            p.bytes.bundle_proto_hex,
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
        let ctx = &t.input.name;
        let p = v
            .payloads
            .iter()
            .find(|p| p.name == t.input.payload)
            .unwrap();
        let key = &keys[&p.wallet];
        let pubkey = key.public_key();
        assert_eq!(
            t.input.pubkey_type_url, "/cosmos.crypto.secp256k1.PubKey",
            "{ctx}"
        );
        assert_eq!(
            t.any_type_url, "/emissions.v9.InsertWorkerPayloadRequest",
            "{ctx}"
        );
        let [coin] = t.input.fee_amount.as_slice() else {
            panic!("{ctx}: one fee coin")
        };
        let fee = Fee {
            amount: coin.amount.parse().unwrap(),
            denom: coin.denom.clone(),
            gas_limit: t.input.gas_limit,
            granter: None,
        };
        let signer = t.input.signer_data();
        let unsigned = t.input.unsigned(&build(p).sign(key).unwrap());

        let sim = unsigned
            .simulation_bytes(
                pubkey,
                t.input.sequence,
                &Fee::uallo(1, t.simulate_gas_limit),
            )
            .unwrap();
        assert_eq!(hex::encode(sim), t.simulate_tx_bytes_hex, "{ctx}");
        let doc = unsigned.sign_doc_bytes(pubkey, &signer, &fee).unwrap();
        assert_sign_doc(ctx, &doc, &t.bytes);
        let tx = unsigned.sign(key, &signer, &fee).unwrap();
        assert_tx_bytes(ctx, &tx, &t.bytes);
        pubkey.verify(&doc, tx.signature()).unwrap();
    }
}
