//! Byte-for-byte agreement with the official Python SDK (allora-sdk 1.3.0).
//!
//! The vectors were produced by the official SDK on its real worker code path.
//! A copy is committed under `tests/vectors/`; when the project's shared
//! folder is present beside the checkout, its file is checked too, and the two
//! must agree.
//!
//! `tests/vectors/allora-sdk-py-1.3.0-extras.json` adds payloads carrying the
//! inference's `extra_data` and `proof` and the forecast's `extra_data`, and a
//! transaction whose fee names a fee granter, made by the same SDK's
//! `insert_worker_payload` and cosmpy with `scripts/vectors/payload_extras.py`
//! (its header says how to regenerate them); every test below runs on it too.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/vectors.rs"]
mod vectors;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use allora_sdk::keys::{Address, Mnemonic, PublicKey, WorkerKey};
use allora_sdk::payload::{ForecastElement, SignedPayload, WorkerPayload};
use allora_sdk::signer::{SignRequest, Signer, SignerError};
use allora_sdk::tx::Fee;
use base64::Engine as _;
use serde::Deserialize;
use vectors::{assert_payload_bytes, assert_sign_doc, assert_tx_bytes, input_value};
use vectors::{ElementVector, PayloadBytes, TxBytes, TxInput};

#[derive(Deserialize)]
struct Vectors {
    wallets: Vec<Wallet>,
    payloads: Vec<Payload>,
    txs: Vec<Tx>,
}

#[derive(Deserialize)]
struct Wallet {
    #[serde(flatten)]
    base: vectors::Wallet,
    bip39_passphrase: String,
    private_key_hex: String,
    pubkey_base64: String,
    address_bytes_hex: String,
}

#[derive(Deserialize)]
struct Payload {
    name: String,
    role: String,
    wallet: String,
    worker_address: String,
    topic_id: u64,
    nonce_block_height: i64,
    prediction_input: serde_json::Value,
    inference: Option<serde_json::Value>,
    forecast_elements: Option<Vec<ElementVector>>,
    /// The forecast's `extra_data` (absent in files without it).
    #[serde(default)]
    forecast_extra_data_hex: Option<String>,
    #[serde(flatten)]
    bytes: PayloadBytes,
}

#[derive(Deserialize)]
struct Tx {
    #[serde(flatten)]
    input: TxInput,
    /// The fee granter, when the fee names one.
    #[serde(default)]
    fee_granter: Option<String>,
    /// What the SDK's simulation sends (only for its own transactions).
    #[serde(default)]
    simulate_tx_bytes_hex: Option<String>,
    #[serde(flatten)]
    bytes: TxBytes,
}

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/allora-sdk-py-1.3.0.json")
}

fn extras_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/allora-sdk-py-1.3.0-extras.json")
}

fn shared_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/allora-sdk-py-1.3.0.json")
}

fn load(path: &Path) -> Vectors {
    vectors::load(path)
}

/// Every vector file available: the committed copies always, the shared one
/// when it exists.
fn all_vectors() -> Vec<(String, Vectors)> {
    let mut out = vec![
        ("committed".to_owned(), load(&committed_path())),
        ("extras".to_owned(), load(&extras_path())),
    ];
    if shared_path().exists() {
        out.push(("shared".to_owned(), load(&shared_path())));
    }
    out
}

#[test]
fn committed_copy_matches_shared_file_when_present() {
    if shared_path().exists() {
        let a: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(committed_path()).unwrap()).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(shared_path()).unwrap()).unwrap();
        assert_eq!(
            a, b,
            "tests/vectors copy differs from the shared vectors file"
        );
    }
}

#[test]
fn the_extras_vectors_carry_extra_data_proof_and_a_fee_granter() {
    let v = load(&extras_path());
    let with_proof = v
        .payloads
        .iter()
        .filter(|p| p.inference.as_ref().is_some_and(|i| i["proof"] != ""))
        .count();
    let with_forecast_extra = v
        .payloads
        .iter()
        .filter(|p| {
            p.forecast_extra_data_hex
                .as_deref()
                .is_some_and(|h| !h.is_empty())
        })
        .count();
    assert!(with_proof >= 2 && with_forecast_extra >= 2);
    assert!(v.txs.iter().all(|t| t.fee_granter.is_some()));
    // Our encoding of the first: extra_data (field 5) and proof (field 6)
    // in the inference, byte for byte.
    let p = &v.payloads[0];
    let bundle = build_payload(p)
        .bundle(&p.worker_address.parse().unwrap())
        .unwrap();
    let inf = bundle.inference.unwrap();
    assert_eq!(hex::encode(&inf.extra_data), "00016d6f64656c2d7637ff");
    assert_eq!(inf.proof, "zkml:groth16:0f3a");
}

#[test]
fn wallets_derive_identically() {
    for (source, v) in all_vectors() {
        assert!(!v.wallets.is_empty());
        for w in &v.wallets {
            let ctx = format!("{source}/{}", w.base.name);
            let key = w.base.key(&w.bip39_passphrase);
            assert_eq!(
                hex::encode(&key.private_key_bytes()[..]),
                w.private_key_hex,
                "{ctx}"
            );
            let pk = key.public_key();
            assert_eq!(pk.to_hex(), w.base.pubkey_compressed_hex, "{ctx}");
            assert_eq!(
                base64::engine::general_purpose::STANDARD.encode(pk.to_compressed()),
                w.pubkey_base64,
                "{ctx}"
            );
            assert_eq!(key.address().as_str(), w.base.address, "{ctx}");
            assert_eq!(
                hex::encode(key.address().to_bytes()),
                w.address_bytes_hex,
                "{ctx}"
            );
            // Importing the raw key gives the same account.
            let imported = WorkerKey::from_private_key_hex(&w.private_key_hex).unwrap();
            assert_eq!(imported.address(), key.address(), "{ctx}");
        }
    }
}

fn build_payload(p: &Payload) -> WorkerPayload {
    let payload = build_values(p);
    let field = |name: &str| {
        p.inference
            .as_ref()
            .and_then(|i| i[name].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let inference_extra = hex::decode(field("extra_data_hex")).unwrap();
    let forecast_extra =
        hex::decode(p.forecast_extra_data_hex.as_deref().unwrap_or_default()).unwrap();
    payload
        .with_inference_extra_data(inference_extra)
        .with_forecast_extra_data(forecast_extra)
        .with_proof(field("proof"))
}

fn build_values(p: &Payload) -> WorkerPayload {
    match (p.role.as_str(), &p.prediction_input) {
        ("inferer", serde_json::Value::Object(map)) => WorkerPayload::labeled_inference(
            p.topic_id,
            p.nonce_block_height,
            map.iter().map(|(k, v)| (k.clone(), input_value(v))),
        ),
        ("inferer", v) => {
            let payload =
                WorkerPayload::inference(p.topic_id, p.nonce_block_height, input_value(v));
            match &p.forecast_elements {
                // An inferer that forecasts too.
                Some(elements) => payload.with_forecast(elements.iter().map(|e| ForecastElement {
                    inferer: e.inferer.parse::<Address>().unwrap(),
                    value: e.value.parse().unwrap(),
                })),
                None => payload,
            }
        }
        ("forecaster", serde_json::Value::Object(map)) => WorkerPayload::forecast(
            p.topic_id,
            p.nonce_block_height,
            map.iter().map(|(k, v)| ForecastElement {
                inferer: k.parse::<Address>().unwrap(),
                value: input_value(v),
            }),
        ),
        (role, _) => panic!("unexpected role {role}"),
    }
}

/// The fee of a transaction vector, with its granter if any.
fn tx_fee(t: &Tx) -> Fee {
    Fee {
        denom: t.input.fee_amount[0].denom.clone(),
        ..Fee::uallo(
            t.input.fee_amount[0].amount.parse().unwrap(),
            t.input.gas_limit,
        )
    }
    .with_granter(t.fee_granter.as_ref().map(|g| g.parse().unwrap()))
}

fn keys_by_wallet(v: &Vectors) -> HashMap<String, WorkerKey> {
    v.wallets
        .iter()
        .map(|w| {
            let m: Mnemonic = w.base.mnemonic.parse().unwrap();
            (
                w.base.name.clone(),
                WorkerKey::from_mnemonic(&m, &w.bip39_passphrase).unwrap(),
            )
        })
        .collect()
}

/// Vector `p`'s payload, signed: by its wallet's key when the vectors publish
/// it (our RFC 6979 signature, which must equal the SDK's), else with the
/// SDK's signature attached (and verified).
fn signed_payload(p: &Payload, keys: &HashMap<String, WorkerKey>) -> SignedPayload {
    let payload = build_payload(p);
    match keys.get(&p.wallet) {
        Some(key) => payload.sign(key).unwrap(),
        None => {
            let pubkey = PublicKey::from_hex(&p.bytes.pubkey_field).unwrap();
            let signature = hex::decode(&p.bytes.bundle_signature_hex).unwrap();
            payload.with_signature(pubkey, &signature).unwrap()
        }
    }
}

#[test]
fn payloads_encode_and_sign_identically() {
    for (source, v) in all_vectors() {
        assert!(!v.payloads.is_empty());
        let keys = keys_by_wallet(&v);
        for p in &v.payloads {
            let ctx = format!("{source}/{}", p.name);
            let payload = build_payload(p);
            let pubkey = PublicKey::from_hex(&p.bytes.pubkey_field).unwrap();
            assert_eq!(
                pubkey.address().unwrap().as_str(),
                p.worker_address,
                "{ctx}"
            );

            // The canonical values are what the SDK put in the bundle.
            let bundle = payload.bundle(&p.worker_address.parse().unwrap()).unwrap();
            if let Some(inf) = &p.inference {
                let ours = bundle.inference.as_ref().unwrap();
                assert_eq!(ours.value, inf["value_field"].as_str().unwrap(), "{ctx}");
                let want: Vec<(String, String)> = inf["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|lv| {
                        (
                            lv["label"].as_str().unwrap().to_owned(),
                            lv["value"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                let got: Vec<(String, String)> = ours
                    .values
                    .iter()
                    .map(|lv| (lv.label.clone(), lv.value.clone()))
                    .collect();
                assert_eq!(got, want, "{ctx}");
            }
            if let Some(elements) = &p.forecast_elements {
                let ours = &bundle.forecast.as_ref().unwrap().forecast_elements;
                let got: Vec<(&str, &str)> = ours
                    .iter()
                    .map(|e| (e.inferer.as_str(), e.value.as_str()))
                    .collect();
                let want: Vec<(&str, &str)> = elements
                    .iter()
                    .map(|e| (e.inferer.as_str(), e.value.as_str()))
                    .collect();
                assert_eq!(got, want, "{ctx}");
            }

            let signed = signed_payload(p, &keys);
            assert_payload_bytes(&ctx, &signed, &p.bytes);
            pubkey
                .verify(signed.bundle_bytes(), signed.signature())
                .unwrap();
        }
    }
}

#[test]
fn transactions_sign_identically() {
    for (source, v) in all_vectors() {
        assert!(!v.txs.is_empty());
        let keys = keys_by_wallet(&v);
        for t in &v.txs {
            let ctx = format!("{source}/{}", t.input.name);
            let p = v
                .payloads
                .iter()
                .find(|p| p.name == t.input.payload)
                .unwrap();
            let pubkey = PublicKey::from_hex(&p.bytes.pubkey_field).unwrap();
            let key = keys.get(&p.wallet);
            let signed_payload = signed_payload(p, &keys);
            assert_eq!(
                t.input.pubkey_type_url, "/cosmos.crypto.secp256k1.PubKey",
                "{ctx}"
            );
            assert_eq!(t.input.fee_amount.len(), 1, "{ctx}");
            let fee = tx_fee(t);
            let signer = t.input.signer_data();
            let unsigned = t.input.unsigned(&signed_payload);

            let doc = unsigned.sign_doc_bytes(pubkey, &signer, &fee).unwrap();
            assert_sign_doc(&ctx, &doc, &t.bytes);

            // The SDK simulates with a 1uallo fee and max(250000 x 1.2, 200000) gas.
            if let Some(want) = &t.simulate_tx_bytes_hex {
                let sim = unsigned
                    .simulation_bytes(pubkey, t.input.sequence, &Fee::uallo(1, 300_000))
                    .unwrap();
                assert_eq!(&hex::encode(sim), want, "{ctx}");
            }

            let tx = match key {
                Some(key) => unsigned.sign(key, &signer, &fee).unwrap(),
                None => {
                    let sig = hex::decode(&t.bytes.signature_rfc6979_hex).unwrap();
                    unsigned
                        .with_signature(pubkey, &signer, &fee, &sig)
                        .unwrap()
                }
            };
            assert_tx_bytes(&ctx, &tx, &t.bytes);
            pubkey.verify(&doc, tx.signature()).unwrap();
        }
    }
}

/// A signer for a wallet whose private key the vectors do not publish: it
/// answers with the official SDK's signature for each digest it knows, so
/// the async path (and its verification step) still runs on every vector.
struct ReplaySigner {
    public_key: PublicKey,
    signatures: HashMap<[u8; 32], [u8; 64]>,
}

#[async_trait::async_trait]
impl Signer for ReplaySigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn describe(&self) -> String {
        format!("recorded signatures of {}", self.public_key.to_hex())
    }

    async fn sign_digest(&self, request: &SignRequest<'_>) -> Result<[u8; 64], SignerError> {
        self.signatures
            .get(request.digest())
            .copied()
            .ok_or_else(|| SignerError::Refused {
                signer: self.describe(),
                code: "UnknownDigest".to_owned(),
                reason: hex::encode(request.digest()),
            })
    }
}

fn hex32(text: &str) -> [u8; 32] {
    hex::decode(text).unwrap().try_into().unwrap()
}

fn hex64(text: &str) -> [u8; 64] {
    hex::decode(text).unwrap().try_into().unwrap()
}

/// The signer of a vector's wallet through the [`Signer`] trait: the key
/// itself when the vectors publish it, else the recorded signatures.
fn trait_signer(v: &Vectors, keys: &HashMap<String, WorkerKey>, p: &Payload) -> Box<dyn Signer> {
    if let Some(key) = keys.get(&p.wallet) {
        return Box::new(key.clone());
    }
    let mut signatures = HashMap::new();
    for q in v.payloads.iter().filter(|q| q.wallet == p.wallet) {
        signatures.insert(
            hex32(&q.bytes.bundle_sha256_hex),
            hex64(&q.bytes.bundle_signature_hex),
        );
        for t in v.txs.iter().filter(|t| t.input.payload == q.name) {
            signatures.insert(
                hex32(&t.bytes.sign_doc_sha256_hex),
                hex64(&t.bytes.signature_rfc6979_hex),
            );
        }
    }
    Box::new(ReplaySigner {
        public_key: PublicKey::from_hex(&p.bytes.pubkey_field).unwrap(),
        signatures,
    })
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(30)
}

#[tokio::test]
async fn the_signer_trait_path_reproduces_every_vector() {
    for (source, v) in all_vectors() {
        let keys = keys_by_wallet(&v);
        let mut checked = 0;
        for p in &v.payloads {
            let ctx = format!("{source}/{}", p.name);
            let signer = trait_signer(&v, &keys, p);
            assert_eq!(signer.public_key().to_hex(), p.bytes.pubkey_field, "{ctx}");
            let signed = build_payload(p)
                .sign_with(&signer, deadline())
                .await
                .unwrap();
            assert_payload_bytes(&ctx, &signed, &p.bytes);
            if let Some(key) = keys.get(&p.wallet) {
                assert_eq!(signed, build_payload(p).sign(key).unwrap(), "{ctx}");
            }

            for t in v.txs.iter().filter(|t| t.input.payload == p.name) {
                let ctx = format!("{source}/tx {}", t.input.name);
                let fee = tx_fee(t);
                let data = t.input.signer_data();
                let unsigned = t.input.unsigned(&signed);
                let tx = unsigned
                    .sign_with(&signer, &data, &fee, deadline())
                    .await
                    .unwrap();
                assert_tx_bytes(&ctx, &tx, &t.bytes);
                if let Some(key) = keys.get(&p.wallet) {
                    assert_eq!(tx, unsigned.sign(key, &data, &fee).unwrap(), "{ctx}");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, v.txs.len(), "{source}: every transaction vector");
    }
}
