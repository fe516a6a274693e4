//! The devnet enforces the chain's rules: every rule is broken once over
//! real gRPC and refused with the chain's code, codespace and log.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod devnet_support;
mod devnet_tx;

use allora_devnet::fixtures::*;
use allora_devnet::{
    ante_gas, DevnetHandle, DevnetProtocol, PAYLOAD_BASE_GAS, PAYLOAD_GAS_PER_VALUE,
};
use allora_sdk::keys::WorkerKey;
use allora_sdk::proto::emissions::{v10, v3};
use allora_sdk::proto::{to_any, Any};
use allora_sdk::tx::tx_hash;
use devnet_support::*;
use devnet_tx::*;
use k256::elliptic_curve::ops::Neg;
use prost::Message;

#[tokio::test]
async fn valid_payload_is_included_recorded_and_charged() {
    let (a, devnet, ch) = connected().await;
    let tx = sign(
        &a.worker,
        vec![payload_at(&a.worker, TOPIC, FIRST_NONCE, "123.456")],
        5,
        0,
    );
    let res = deliver(&devnet, &ch, &tx).await.unwrap();
    assert_eq!(
        (res.code, res.height),
        (0, FIRST_NONCE + 1),
        "{}",
        res.raw_log
    );
    assert_eq!(res.txhash, tx.hash());
    assert_eq!(res.gas_wanted, GAS as i64);
    assert!(res.gas_used > 0 && res.gas_used < GAS as i64);
    let sub = devnet
        .submission(TOPIC, FIRST_NONCE, a.worker.address())
        .unwrap();
    assert_eq!(
        sub.inference,
        Some(vec![("y".to_owned(), "123.456".to_owned())])
    );
    assert!(sub.inference_admitted);
    assert_eq!(sub.tx_hash, tx.hash());
    // The tx fee, and the data fee to the ecosystem account.
    let acc = devnet.account(a.worker.address()).unwrap();
    assert_eq!((acc.sequence, acc.balance), (1, BALANCE - FEE - DATA_FEE));
    assert_eq!(devnet.ecosystem_balance(), DATA_FEE);
    assert_eq!(devnet.topic_fee_revenue(TOPIC), DATA_FEE);
    assert_eq!(devnet.included_txs().len(), 1);
    // The admitted inferer's event, encoded as the SDK encodes typed events.
    let event = res
        .events
        .iter()
        .find(|e| e.r#type == allora_devnet::INSERT_INFERER_PAYLOAD)
        .expect("EventInsertInfererPayload");
    let attributes: Vec<(&str, &str)> = event
        .attributes
        .iter()
        .map(|a| (a.key.as_str(), a.value.as_str()))
        .collect();
    let worker = format!("\"{}\"", a.worker.address());
    assert_eq!(
        attributes,
        [
            ("extra_data", "null"),
            ("inferer", worker.as_str()),
            ("nonce", "\"10\""),
            ("topic_id", "\"1\""),
            ("value", "\"0\""),
            ("values", r#"[{"label":"y","value":"123.456"}]"#),
            ("msg_index", "0"),
        ]
    );
}

#[tokio::test]
async fn one_account_sends_several_txs_per_block_and_batches_topics() {
    let (a, devnet, ch) = connected().await;
    // Both topics share the schedule, so nonce 10 is open in both.
    let batched = sign(
        &a.worker,
        vec![
            payload(&a.worker, TOPIC),
            payload_at(&a.worker, TOPIC_B, FIRST_NONCE, "2"),
        ],
        5,
        0,
    );
    let register = sign(
        &a.worker,
        vec![to_any(&v10::RegisterRequest {
            sender: a.worker.address().to_string(),
            topic_id: TOPIC,
            owner: a.worker.address().to_string(),
            is_reputer: true,
        })],
        5,
        1,
    );
    assert_eq!(broadcast(&ch, batched.to_bytes()).await.unwrap().code, 0);
    assert_eq!(broadcast(&ch, register.to_bytes()).await.unwrap().code, 0);
    let block = devnet.produce_block().await;
    assert_eq!(block.num_txs, 2);
    for hash in [batched.hash(), register.hash()] {
        let res = get_tx(&ch, hash).await.unwrap();
        assert_eq!(res.code, 0, "{}", res.raw_log);
    }
    assert!(devnet
        .submission(TOPIC_B, FIRST_NONCE, a.worker.address())
        .is_some());
    assert_eq!(devnet.account(a.worker.address()).unwrap().sequence, 2);
}

#[tokio::test]
async fn register_debits_fee_and_registers() {
    let (a, devnet, ch) = connected().await;
    let msg = to_any(&v10::RegisterRequest {
        sender: a.outsider.address().to_string(),
        topic_id: TOPIC,
        owner: a.outsider.address().to_string(),
        is_reputer: false,
    });
    let tx = sign(&a.outsider, vec![msg.clone()], 6, 0);
    let res = deliver(&devnet, &ch, &tx).await.unwrap();
    assert_eq!(res.code, 0, "{}", res.raw_log);
    assert!(res
        .events
        .iter()
        .any(|e| e.r#type == "emissions.v10.EventWorkerRegistered"));
    let fee = allora_devnet::DEFAULT_REGISTRATION_FEE;
    assert_eq!(
        devnet.account(a.outsider.address()).unwrap().balance,
        BALANCE - FEE - fee
    );
    // Registering twice is refused.
    let again = sign(&a.outsider, vec![msg], 6, 1);
    let res = deliver(&devnet, &ch, &again).await.unwrap();
    assert_code(&res, 8, "emissions");
}

#[tokio::test]
async fn tx_signatures_are_verified_against_chain_id_and_account_number() {
    let (a, devnet, ch) = connected().await;
    let msg = || vec![payload(&a.worker, TOPIC)];
    let wrong_chain = sign_tx("allora-testnet-1", &a.worker, msg(), 5, 0, GAS, FEE).unwrap();
    let wrong_number = sign(&a.worker, msg(), 99, 0);
    for tx in [wrong_chain, wrong_number] {
        let res = check_refused(&ch, &tx, 4, "sdk").await;
        assert!(res.raw_log.starts_with(&format!(
            "signature verification failed; please verify account number (5) and chain-id ({CHAIN_ID})"
        )));
        assert!(res.raw_log.ends_with(": unauthorized"));
    }
    // A corrupted signature.
    let good = sign(&a.worker, msg(), 5, 0);
    let mut sig = good.signature().to_vec();
    sig[10] ^= 1;
    let bad = allora_sdk::tx::SignedTx::from_parts(
        good.body_bytes().to_vec(),
        good.auth_info_bytes().to_vec(),
        sig,
    );
    assert_eq!(broadcast(&ch, bad.to_bytes()).await.unwrap().code, 4);
    // Nothing was charged and the sequence did not move.
    devnet.produce_block().await;
    let acc = devnet.account(a.worker.address()).unwrap();
    assert_eq!((acc.sequence, acc.balance), (0, BALANCE));
}

#[tokio::test]
async fn tx_signed_by_another_key_than_the_message_signer_is_refused() {
    let (a, _devnet, ch) = connected().await;
    // The worker's payload, in a tx signed by the outsider.
    let tx = sign(&a.outsider, vec![payload(&a.worker, TOPIC)], 5, 0);
    let res = check_refused(&ch, &tx, 8, "sdk").await;
    assert!(res.raw_log.contains("pubKey does not match signer address"));
}

#[tokio::test]
async fn wrong_sequence_is_refused_at_check_tx_and_bump_sequence_desyncs() {
    let (a, devnet, ch) = connected().await;
    let tx = sign(&a.worker, vec![payload(&a.worker, TOPIC)], 5, 3);
    let res = check_refused(&ch, &tx, 32, "sdk").await;
    assert_eq!(
        res.raw_log,
        "account sequence mismatch, expected 0, got 3: incorrect account sequence"
    );
    // A transaction sent behind the client's back moves the sequence.
    assert_eq!(devnet.bump_sequence(a.worker.address()).unwrap(), 1);
    let stale = sign(&a.worker, vec![payload(&a.worker, TOPIC)], 5, 0);
    let res = broadcast(&ch, stale.to_bytes()).await.unwrap();
    assert_eq!(res.code, 32);
    assert!(res.raw_log.contains("expected 1, got 0"));
    // The chain never includes a refused tx.
    devnet.produce_block().await;
    let err = get_tx(&ch, stale.hash()).await.unwrap_err();
    assert!(err.message().contains("tx not found"), "{}", err.message());
}

#[tokio::test]
async fn low_fee_and_low_balance_are_refused() {
    let (a, _devnet, ch) = connected().await;
    let low = sign_paying(
        &a.worker,
        vec![payload(&a.worker, TOPIC)],
        5,
        0,
        GAS,
        FEE - 1,
    );
    let res = check_refused(&ch, &low, 13, "sdk").await;
    assert_eq!(
        res.raw_log,
        format!(
            "got: {}uallo required: {FEE}uallo, minGasPrice: 10.000000000000000000uallo, gas: {GAS}: insufficient fee",
            FEE - 1
        )
    );
    let poor = sign(&a.poor, vec![payload(&a.poor, TOPIC)], 7, 0);
    let res = check_refused(&ch, &poor, 5, "sdk").await;
    assert!(res.raw_log.ends_with("insufficient funds"));
}

#[tokio::test]
async fn out_of_gas_is_included_charged_and_not_applied() {
    let (a, devnet, ch) = connected().await;
    let msgs = vec![payload(&a.worker, TOPIC)];
    // Enough for the ante handler, not for the payload.
    let probe = sign(&a.worker, msgs.clone(), 5, 0);
    let gas = ante_gas(probe.to_bytes().len(), 1) + PAYLOAD_BASE_GAS / 2;
    let fee = u128::from(gas) * 10;
    let tx = sign_paying(&a.worker, msgs, 5, 0, gas, fee);
    let res = deliver(&devnet, &ch, &tx).await.unwrap();
    assert_code(&res, 11, "sdk");
    assert!(res
        .raw_log
        .contains(&format!("gasWanted: {gas}, gasUsed: ")));
    assert!(res.raw_log.ends_with("out of gas"));
    assert!(devnet.submissions().is_empty());
    let acc = devnet.account(a.worker.address()).unwrap();
    assert_eq!((acc.sequence, acc.balance), (1, BALANCE - fee));
    // Less gas than the ante handler needs is refused at CheckTx.
    let tiny = sign_paying(
        &a.worker,
        vec![payload(&a.worker, TOPIC)],
        5,
        1,
        1_000,
        10_000,
    );
    assert_eq!(broadcast(&ch, tiny.to_bytes()).await.unwrap().code, 11);
}

#[tokio::test]
async fn simulate_reports_the_gas_delivery_uses() {
    use allora_sdk::tx::{Fee, UnsignedTx};
    let (a, devnet, ch) = connected().await;
    let msgs = vec![payload_at(&a.worker, TOPIC, FIRST_NONCE, "7.5")];
    let sim_bytes = UnsignedTx::new(msgs.clone())
        // Same fee as the signed tx, so the two differ only in the signature.
        .simulation_bytes(a.worker.public_key(), 0, &Fee::uallo(FEE, GAS))
        .unwrap();
    let simulated = simulate_gas(&ch, sim_bytes).await.unwrap();
    let signed = sign(&a.worker, msgs, 5, 0);
    assert_eq!(
        simulated,
        ante_gas(signed.to_bytes().len(), 1) + PAYLOAD_BASE_GAS + PAYLOAD_GAS_PER_VALUE
    );
    let res = deliver(&devnet, &ch, &signed).await.unwrap();
    assert_eq!(res.gas_used as u64, simulated);
}

/// Delivers a payload tx from the worker at sequence 0 and returns the result.
async fn deliver_payload(devnet: &allora_devnet::DevnetHandle, msg: Any) -> TxResponse {
    let ch = channel(devnet).await.unwrap();
    let worker = test_key(1).unwrap();
    let seq = devnet.account(worker.address()).unwrap().sequence;
    deliver(devnet, &ch, &sign(&worker, vec![msg], 5, seq))
        .await
        .unwrap()
}

fn payload_message(any: &Any) -> v10::InsertWorkerPayloadRequest {
    v10::InsertWorkerPayloadRequest::decode(any.value.as_slice()).unwrap()
}

#[tokio::test]
async fn bundle_signature_must_verify_with_low_s() {
    let (a, devnet) = standard().await;
    // Tampered value after signing.
    let mut msg = payload_message(&payload(&a.worker, TOPIC));
    let bundle = msg.worker_data_bundle.as_mut().unwrap();
    inference_of(bundle).values[0].value = "2".into();
    let res = deliver_payload(&devnet, to_any(&msg)).await;
    assert_code(&res, 4, "sdk");
    assert_message_log(
        &res,
        "Error validating worker data bundle: \
         signature verification failed: unauthorized",
    );
    // The same signature with S replaced by n - S (valid ECDSA, high S).
    let mut msg = payload_message(&payload(&a.worker, TOPIC));
    let bundle = msg.worker_data_bundle.as_mut().unwrap();
    let sig =
        k256::ecdsa::Signature::from_slice(&bundle.inferences_forecasts_bundle_signature).unwrap();
    let (r, s) = sig.split_scalars();
    let high = k256::ecdsa::Signature::from_scalars(r, s.as_ref().neg()).unwrap();
    assert!(
        high.normalize_s().is_some(),
        "the rewritten signature is high-S"
    );
    bundle.inferences_forecasts_bundle_signature = high.to_bytes().to_vec();
    let res = deliver_payload(&devnet, to_any(&msg)).await;
    assert_code(&res, 4, "sdk");
    assert!(res.raw_log.contains("signature verification failed"));
    assert!(devnet.submissions().is_empty());
}

#[tokio::test]
async fn a_relayed_payload_is_accepted_and_its_sender_pays_the_data_fee() {
    let (a, devnet, ch) = connected().await;
    // The worker's signed bundle relayed by the outsider: the chain checks
    // the bundle's worker (signature, whitelist, registration), not who
    // sends it, and charges the data fee to the sender.
    let mut msg = payload_message(&payload(&a.worker, TOPIC));
    msg.sender = a.outsider.address().to_string();
    let tx = sign(&a.outsider, vec![to_any(&msg)], 6, 0);
    let res = deliver(&devnet, &ch, &tx).await.unwrap();
    assert_eq!(res.code, 0, "{}", res.raw_log);
    let sub = devnet
        .submission(TOPIC, FIRST_NONCE, a.worker.address())
        .unwrap();
    assert_eq!(sub.sender, a.outsider.address().as_str());
    assert_eq!(
        devnet.account(a.outsider.address()).unwrap().balance,
        BALANCE - FEE - DATA_FEE
    );
    assert_eq!(devnet.account(a.worker.address()).unwrap().balance, BALANCE);
}

#[tokio::test]
async fn topic_must_exist_and_active_only_decides_whether_nonces_open() {
    let (a, devnet) = standard().await;
    refused_exactly(
        &devnet,
        &a.worker,
        payload(&a.worker, 99),
        ("emissions", 6),
        "invalid topic ID",
    )
    .await;
    // An inactive topic opens no nonces, so its payloads find none (the
    // msg server itself does not look at activity).
    assert!(devnet.open_nonces(INACTIVE_TOPIC).is_empty());
    refused_when_run(
        &devnet,
        &a.worker,
        payload(&a.worker, INACTIVE_TOPIC),
        ("emissions", 75),
        "unfulfilled nonce not found",
    )
    .await;
    // Deactivating a topic leaves its open nonce open, and payloads for it
    // are accepted until it closes.
    devnet.set_topic_active(TOPIC, false).unwrap();
    accepted(&devnet, &a.worker, payload(&a.worker, TOPIC)).await;
}

#[tokio::test]
async fn worker_must_be_registered() {
    let (a, devnet, ch) = connected().await;
    let tx = sign(&a.outsider, vec![payload(&a.outsider, TOPIC)], 6, 0);
    let res = deliver(&devnet, &ch, &tx).await.unwrap();
    assert_code(&res, 13, "emissions");
    assert_message_log(
        &res,
        "worker is not registered in this topic: address not registered",
    );
    // The hook registers without a transaction.
    devnet.register_worker(TOPIC, a.outsider.address()).unwrap();
    let tx = sign(&a.outsider, vec![payload(&a.outsider, TOPIC)], 6, 1);
    assert_eq!(deliver(&devnet, &ch, &tx).await.unwrap().code, 0);
}

#[tokio::test]
async fn nonce_must_be_open_and_window_not_closed() {
    let (a, devnet) = standard().await;
    refused_exactly(
        &devnet,
        &a.worker,
        payload_at(&a.worker, TOPIC, FIRST_NONCE - 1, "1"),
        ("emissions", 75),
        "unfulfilled nonce not found",
    )
    .await;
    // The window of nonce 10 is blocks 10..=15; a tx in block 15 is on time.
    devnet.produce_blocks_until(FIRST_NONCE + 4).await;
    let res = deliver_payload(&devnet, payload(&a.worker, TOPIC_B)).await;
    assert_eq!(
        (res.code, res.height),
        (0, FIRST_NONCE + 5),
        "{}",
        res.raw_log
    );
    // Block 16 is too late: the nonce was closed in EndBlock 15.
    let res = deliver_payload(&devnet, payload(&a.worker, TOPIC)).await;
    assert_code(&res, 75, "emissions");
    assert!(devnet.open_nonces(TOPIC).is_empty());
}

#[tokio::test]
async fn a_second_payload_for_the_same_nonce_is_already_submitted() {
    let (a, devnet) = standard().await;
    assert_eq!(
        deliver_payload(&devnet, payload(&a.worker, TOPIC))
            .await
            .code,
        0
    );
    let res = deliver_payload(&devnet, payload_at(&a.worker, TOPIC, FIRST_NONCE, "2")).await;
    assert_code(&res, 1, "undefined");
    assert_message_log(
        &res,
        "Error planning inference admission: \
         inference already submitted",
    );
    let sub = devnet
        .submission(TOPIC, FIRST_NONCE, a.worker.address())
        .unwrap();
    assert_eq!(sub.inference.unwrap()[0].1, "1");
}

#[tokio::test]
async fn failing_message_fails_the_whole_tx_but_the_fee_is_charged() {
    let (a, devnet, ch) = connected().await;
    let tx = sign(
        &a.worker,
        vec![payload(&a.worker, TOPIC), payload(&a.worker, 99)],
        5,
        0,
    );
    let res = deliver(&devnet, &ch, &tx).await.unwrap();
    assert_eq!(res.code, 6);
    assert!(res
        .raw_log
        .starts_with("failed to execute message; message index: 1: "));
    assert!(devnet.submissions().is_empty());
    let acc = devnet.account(a.worker.address()).unwrap();
    assert_eq!((acc.sequence, acc.balance), (1, BALANCE - FEE));
}

#[tokio::test]
async fn invalid_decimals_and_unknown_messages_fail_decoding() {
    let (a, _devnet, ch) = connected().await;
    let worker = a.worker.address().to_string();
    let msg = v10::InsertWorkerPayloadRequest {
        sender: worker.clone(),
        worker_data_bundle: Some(v10::InputWorkerDataBundle {
            worker: worker.clone(),
            nonce: Some(v3::Nonce {
                block_height: FIRST_NONCE,
            }),
            topic_id: TOPIC,
            inference_forecasts_bundle: Some(v10::InputInferenceForecastBundle {
                inference: Some(v10::InputInference {
                    topic_id: TOPIC,
                    block_height: FIRST_NONCE,
                    inferer: worker.clone(),
                    value: "0".into(),
                    values: vec![v10::InputLabeledValue {
                        label: "y".into(),
                        value: "1e41".into(),
                    }],
                    ..Default::default()
                }),
                forecast: None,
            }),
            inferences_forecasts_bundle_signature: vec![1; 64],
            pubkey: a.worker.public_key().to_hex(),
        }),
    };
    let tx = sign(&a.worker, vec![to_any(&msg)], 5, 0);
    let res = check_refused(&ch, &tx, 2, "sdk").await;
    assert!(res.raw_log.ends_with("tx parse error"));

    let unknown = Any {
        type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
        value: vec![],
    };
    let tx = sign(&a.worker, vec![unknown], 5, 0);
    let res = check_refused(&ch, &tx, 6, "sdk").await;
    assert_eq!(
        res.raw_log,
        "unrecognized message type: /cosmos.bank.v1beta1.MsgSend: unknown request"
    );
}

#[tokio::test]
async fn golden_vector_txs_pass_the_signature_check() {
    for VectorTx { tx, address, bytes } in vector_txs("allora-sdk-py-1.3.0.json") {
        let tx = &tx;
        let devnet = vector_devnet(
            tx["chain_id"].as_str().unwrap(),
            DevnetProtocol::V10,
            address.clone(),
            tx,
        )
        .await;
        let ch = channel(&devnet).await.unwrap();
        let res = deliver_bytes(&devnet, &ch, &bytes)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", tx["name"]));
        assert_eq!(res.txhash, tx_hash(&bytes));
        // The tx and bundle signatures verified (the bundle check runs before
        // the topic lookup); the devnet has no topic for these vectors, so
        // delivery stops there, with fee and sequence consumed.
        assert_eq!(
            (res.code, res.codespace.as_str()),
            (6, "emissions"),
            "{}: {}",
            tx["name"],
            res.raw_log
        );
        let acc = devnet.account(&address).unwrap();
        assert_eq!(acc.sequence, tx["sequence"].as_u64().unwrap() + 1);
        // A devnet on another chain id refuses the same bytes.
        let other = vector_devnet("allora-other-1", DevnetProtocol::V10, address, tx).await;
        let res = broadcast(&channel(&other).await.unwrap(), &bytes)
            .await
            .unwrap();
        assert_eq!(res.code, 4);
    }
}

// ---------------------------------------------------------------------------
// The checks of `InsertWorkerPayload`, each broken once, in the chain's
// order (see `allora_devnet::conformance`). Message handlers run at
// Simulate and in the block, never at CheckTx: a refused payload is
// included with the chain's code, its fee and sequence spent, and a worker
// that simulates first sees the refusal for free.
// ---------------------------------------------------------------------------

/// Sends `msg` signed by `key` through every stage and checks it is refused
/// only when its message runs: Simulate fails with `log_part`, CheckTx
/// accepts, the block includes it with `(codespace, code)`, and the tx fee
/// and sequence are spent while the data fee (if it was taken) is not.
async fn refused_when_run(
    devnet: &DevnetHandle,
    key: &WorkerKey,
    msg: Any,
    (codespace, code): (&str, u32),
    log_part: &str,
) -> TxResponse {
    let before = devnet.account(key.address()).unwrap();
    let ecosystem = devnet.ecosystem_balance();
    let stages = through_stages(devnet, key, vec![msg], GAS, FEE)
        .await
        .unwrap();
    let simulated = stages.simulate.expect_err("Simulate runs the message");
    assert!(
        simulated.message().contains(log_part),
        "Simulate: {}",
        simulated.message()
    );
    assert_eq!(
        stages.check_tx.code, 0,
        "CheckTx does not run messages: {}",
        stages.check_tx.raw_log
    );
    let res = stages.deliver_tx.expect("included");
    assert_eq!(
        (res.codespace.as_str(), res.code),
        (codespace, code),
        "{}",
        res.raw_log
    );
    assert!(
        res.raw_log
            .starts_with("failed to execute message; message index: 0: ")
            && res.raw_log.contains(log_part),
        "{}",
        res.raw_log
    );
    assert!(res.events.is_empty(), "{:?}", res.events);
    let after = devnet.account(key.address()).unwrap();
    assert_eq!(
        (after.sequence, after.balance),
        (before.sequence + 1, before.balance - FEE),
        "the tx fee and sequence are spent, the data fee is not"
    );
    assert_eq!(devnet.ecosystem_balance(), ecosystem);
    res
}

/// [`refused_when_run`], where the log is exactly the message's `error`.
async fn refused_exactly(
    devnet: &DevnetHandle,
    key: &WorkerKey,
    msg: Any,
    code: (&str, u32),
    error: &str,
) {
    let res = refused_when_run(devnet, key, msg, code, error).await;
    assert_message_log(&res, error);
}

/// Sends `msg` signed by `key` through every stage and checks it succeeds.
async fn accepted(devnet: &DevnetHandle, key: &WorkerKey, msg: Any) -> TxResponse {
    let stages = through_stages(devnet, key, vec![msg], GAS, FEE)
        .await
        .unwrap();
    assert!(stages.simulate.is_ok(), "{:?}", stages.simulate);
    let res = stages.deliver_tx.expect("included");
    assert_eq!(res.code, 0, "{}", res.raw_log);
    res
}

fn has_event(res: &TxResponse, kind: &str) -> bool {
    res.events.iter().any(|e| e.r#type == kind)
}

fn attribute<'a>(res: &'a TxResponse, kind: &str, key: &str) -> &'a str {
    res.events
        .iter()
        .find(|e| e.r#type == kind)
        .and_then(|e| e.attributes.iter().find(|a| a.key == key))
        .map(|a| a.value.as_str())
        .unwrap_or_else(|| panic!("{kind}.{key} missing"))
}

/// A payload message whose bundle `f` breaks after signing.
fn broken(key: &WorkerKey, f: impl FnOnce(&mut v10::InputWorkerDataBundle)) -> Any {
    let mut msg = payload_message(&payload(key, TOPIC));
    f(msg.worker_data_bundle.as_mut().unwrap());
    to_any(&msg)
}

fn inference_of(bundle: &mut v10::InputWorkerDataBundle) -> &mut v10::InputInference {
    bundle
        .inference_forecasts_bundle
        .as_mut()
        .unwrap()
        .inference
        .as_mut()
        .unwrap()
}

#[tokio::test]
async fn the_worker_address_is_checked_first_with_a_plain_error() {
    let (a, devnet) = standard().await;
    let cosmos = "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu";
    // Every later check would also fail: the address comes first.
    let res = refused_when_run(
        &devnet,
        &a.worker,
        broken(&a.worker, |b| {
            b.worker = cosmos.into();
            b.nonce = None;
        }),
        ("undefined", 1),
        "Error validating worker address: error validating actor id: invalid Bech32 prefix; \
         expected allo, got cosmos",
    )
    .await;
    assert!(!res.raw_log.contains(": invalid request"));
    refused_when_run(
        &devnet,
        &a.worker,
        broken(&a.worker, |b| b.worker.clear()),
        ("undefined", 1),
        "Error validating worker address: error validating actor id: empty address string is \
         not allowed",
    )
    .await;
}

#[tokio::test]
async fn a_topic_worker_whitelist_refuses_others_with_83_before_any_bundle_check() {
    let a = actors();
    let member = test_key(4).unwrap();
    let listed = TOPIC + 10;
    let devnet = launch(builder(&a).topic(
        allora_devnet::TopicConfig::new(listed, 10, 5).worker_whitelist([member.address().clone()]),
    ))
    .await;
    devnet.produce_blocks_until(FIRST_NONCE).await;
    // Not on the list: refused even with a broken signature, which is
    // checked later.
    let mut msg = payload_message(&payload(&a.worker, listed));
    msg.worker_data_bundle
        .as_mut()
        .unwrap()
        .inferences_forecasts_bundle_signature[5] ^= 1;
    refused_exactly(
        &devnet,
        &a.worker,
        to_any(&msg),
        ("emissions", 83),
        "Worker is not permitted to submit \
         payload: not permitted to submit worker payload",
    )
    .await;

    // The queries answer with the same rule.
    let mut q = queries(&devnet).await;
    let asker = q.clone();
    let can = |topic_id: u64, key: &WorkerKey| {
        let mut q = asker.clone();
        let address = key.address().to_string();
        async move {
            q.can_submit_worker_payload(v10::CanSubmitWorkerPayloadRequest { topic_id, address })
                .await
                .unwrap()
                .into_inner()
                .can_submit_worker_payload
        }
    };
    assert!(!can(listed, &a.worker).await);
    assert!(can(listed, &member).await);
    assert!(can(TOPIC, &a.worker).await, "no list on topic 1");
    assert!(can(99, &a.worker).await, "an unknown topic has no list");
    let status = q
        .get_worker_submission_window_status(v10::GetWorkerSubmissionWindowStatusRequest {
            topic_id: listed,
            address: a.worker.address().to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(status.is_registered && !status.is_whitelisted);

    // Adding the worker to the topic's list lets it in.
    devnet
        .set_worker_whitelist(
            listed,
            Some(vec![member.address().clone(), a.worker.address().clone()]),
        )
        .unwrap();
    assert!(can(listed, &a.worker).await);
    accepted(&devnet, &a.worker, payload(&a.worker, listed)).await;
}

#[tokio::test]
async fn global_whitelists_admit_workers_a_topic_list_leaves_out() {
    let a = actors();
    let listed = TOPIC + 10;
    let topic = || allora_devnet::TopicConfig::new(listed, 10, 5).worker_whitelist([]);
    // On the global worker whitelist.
    let on_global = launch(
        builder(&a)
            .topic(topic())
            .devnet(|d| d.global_worker_whitelist(true, [a.worker.address().clone()])),
    )
    .await;
    // The global worker whitelist switched off admits everyone.
    let worker_list_off = launch(
        builder(&a)
            .topic(topic())
            .devnet(|d| d.global_worker_whitelist(false, [])),
    )
    .await;
    // So does the global whitelist switched off.
    let global_off = launch(
        builder(&a)
            .topic(topic())
            .devnet(|d| d.global_whitelist(false, [])),
    )
    .await;
    for devnet in [&on_global, &worker_list_off, &global_off] {
        devnet.produce_blocks_until(FIRST_NONCE).await;
        accepted(devnet, &a.worker, payload(&a.worker, listed)).await;
    }
    // The chain's defaults (both global lists on, empty) leave the topic's
    // list as the only way in.
    let defaults = launch(builder(&a).topic(topic())).await;
    defaults.produce_blocks_until(FIRST_NONCE).await;
    refused_when_run(
        &defaults,
        &a.worker,
        payload(&a.worker, listed),
        ("emissions", 83),
        "not permitted to submit worker payload",
    )
    .await;
}

#[tokio::test]
async fn bundle_checks_run_in_the_chains_order() {
    let (a, devnet) = standard().await;
    let other = a.outsider.address().to_string();
    let worker = a.worker.address().to_string();
    type Break = Box<dyn FnOnce(&mut v10::InputWorkerDataBundle)>;
    fn case(
        codespace: &'static str,
        code: u32,
        log: impl Into<String>,
        f: impl FnOnce(&mut v10::InputWorkerDataBundle) + 'static,
    ) -> (&'static str, u32, String, Break) {
        (codespace, code, log.into(), Box::new(f))
    }
    // A forecast by the worker with `elements`.
    let forecast = |elements: Vec<v10::InputForecastElement>| {
        let worker = worker.clone();
        move |b: &mut v10::InputWorkerDataBundle| {
            b.inference_forecasts_bundle.as_mut().unwrap().forecast = Some(v10::InputForecast {
                topic_id: TOPIC,
                block_height: FIRST_NONCE,
                forecaster: worker,
                forecast_elements: elements,
                extra_data: Vec::new(),
            })
        }
    };
    let (inferer, bundle_worker) = (other.clone(), other.clone());
    // Each case also breaks the signature (any change after signing does),
    // which is checked last: the earlier check must win.
    let cases =
        vec![
        case("sdk", 18, "worker data bundle nonce cannot be nil", |b| b.nonce = None),
        case("sdk", 29, "worker data bundle nonce is invalid", |b| {
            b.nonce = Some(v3::Nonce { block_height: -1 })
        }),
        case(
            "sdk",
            29,
            "worker data bundle nonce block height must be greater than 0",
            |b| b.nonce = Some(v3::Nonce { block_height: 0 }),
        ),
        case("sdk", 18, "public key cannot be empty", |b| b.pubkey.clear()),
        case("sdk", 18, "invalid pubkey", |b| b.pubkey = "02abcd".into()),
        case("sdk", 18, "signature cannot be empty", |b| {
            b.inferences_forecasts_bundle_signature.clear()
        }),
        case("sdk", 18, "inference forecasts bundle cannot be nil", |b| {
            b.inference_forecasts_bundle = None
        }),
        case("sdk", 18, "inference and forecast cannot both be nil", |b| {
            b.inference_forecasts_bundle.as_mut().unwrap().inference = None
        }),
        case(
            "sdk",
            29,
            "inference contents are invalid: topic id is invalid: topic id zero is reserved",
            |b| inference_of(b).topic_id = 0,
        ),
        case(
            "sdk",
            7,
            "inference contents are invalid: inferer address is invalid: invalid bech32 address",
            |b| inference_of(b).inferer = "allo1nope".into(),
        ),
        case(
            "sdk",
            4,
            format!("Inference.Inferer {other} does not match pubkey {worker}"),
            move |b| inference_of(b).inferer = inferer,
        ),
        case(
            "sdk",
            4,
            format!("Inference.Inferer {worker} does not match worker address {other}"),
            move |b| b.worker = bundle_worker,
        ),
        case(
            "sdk",
            18,
            "inference topic id 3 does not match bundle topic id 1",
            |b| inference_of(b).topic_id = TOPIC_B,
        ),
        case(
            "sdk",
            18,
            "inference block height 11 does not match bundle block height 10",
            |b| inference_of(b).block_height = FIRST_NONCE + 1,
        ),
        case(
            "sdk",
            18,
            "at least one forecast element must be provided",
            forecast(Vec::new()),
        ),
        case(
            "sdk",
            7,
            "forecast element is invalid: forecast element contents are invalid: forecast \
             element inferer address is invalid: invalid bech32 address",
            forecast(vec![v10::InputForecastElement {
                inferer: "nope".into(),
                value: "1".into(),
            }]),
        ),
        case(
            "sdk",
            4,
            "Error validating worker data bundle: signature verification failed: unauthorized",
            |b| inference_of(b).values[0].value = "2".into(),
        ),
    ];
    for (codespace, code, log, f) in cases {
        let res = refused_when_run(
            &devnet,
            &a.worker,
            broken(&a.worker, f),
            (codespace, code),
            &log,
        )
        .await;
        assert!(
            res.raw_log
                .starts_with("failed to execute message; message index: 0: Error validating worker data bundle: "),
            "{}",
            res.raw_log
        );
    }
    assert!(devnet.submissions().is_empty());
}

#[tokio::test]
async fn a_payload_over_the_size_limit_is_refused_with_53() {
    let a = actors();
    let devnet = launch(builder(&a).devnet(|d| d.max_serialized_msg_length(400))).await;
    devnet.produce_blocks_until(FIRST_NONCE).await;
    let fits = payload(&a.worker, TOPIC);
    assert!(fits.value.len() <= 400);
    let mut inference = raw_inference(&a.worker, TOPIC, FIRST_NONCE, &[("y", "1")]);
    inference.extra_data = vec![7; 300];
    let big = signed_bundle(
        &a.worker,
        TOPIC,
        FIRST_NONCE,
        v10::InputInferenceForecastBundle {
            inference: Some(inference),
            forecast: None,
        },
    );
    refused_exactly(
        &devnet,
        &a.worker,
        to_any(&big),
        ("emissions", 53),
        "query is too large",
    )
    .await;
    accepted(&devnet, &a.worker, fits).await;
}

#[tokio::test]
async fn a_window_shortened_under_an_open_nonce_refuses_late_payloads_with_67() {
    let (a, devnet) = standard().await;
    // Nonce 10 closes at the end of block 15 as scheduled, but the window
    // is now 2 blocks: block 13 is past it.
    devnet.set_worker_submission_window(TOPIC, 2).unwrap();
    devnet.produce_blocks_until(FIRST_NONCE + 2).await;
    assert_eq!(devnet.open_nonces(TOPIC), vec![FIRST_NONCE]);
    let res = refused_when_run(
        &devnet,
        &a.worker,
        payload(&a.worker, TOPIC),
        ("emissions", 67),
        "worker nonce window not available",
    )
    .await;
    assert_message_log(
        &res,
        "Worker window not open for topic: 1, \
         current block 13, start window: 10, end window: 12: worker nonce window not available",
    );
    devnet.produce_blocks_until(FIRST_NONCE + 5).await;
    assert!(devnet.open_nonces(TOPIC).is_empty());
}

#[tokio::test]
async fn an_unregistered_worker_is_refused_with_13_and_pays_no_data_fee() {
    let (a, devnet) = standard().await;
    refused_exactly(
        &devnet,
        &a.outsider,
        payload(&a.outsider, TOPIC),
        ("emissions", 13),
        "worker is not registered in this topic: \
         address not registered",
    )
    .await;
}

#[tokio::test]
async fn the_data_fee_is_taken_from_what_the_tx_fee_leaves() {
    let a = actors();
    let short = test_key(5).unwrap();
    let enough = test_key(6).unwrap();
    let devnet = launch(builder(&a).devnet(|d| {
        // The tx fee plus less than the data fee, and exactly both.
        d.account(allora_devnet::AccountConfig::new(
            short.address().clone(),
            FEE + DATA_FEE - 1,
        ))
        .account(allora_devnet::AccountConfig::new(
            enough.address().clone(),
            FEE + DATA_FEE,
        ))
        .worker(TOPIC, short.address().clone())
        .worker(TOPIC, enough.address().clone())
    }))
    .await;
    devnet.produce_blocks_until(FIRST_NONCE).await;
    refused_exactly(
        &devnet,
        &short,
        payload(&short, TOPIC),
        ("sdk", 5),
        "sender has insufficient balance to cover \
         fees: insufficient funds",
    )
    .await;
    assert_eq!(
        devnet.account(short.address()).unwrap().balance,
        DATA_FEE - 1
    );
    accepted(&devnet, &enough, payload(&enough, TOPIC)).await;
    assert_eq!(devnet.account(enough.address()).unwrap().balance, 0);
    assert_eq!(devnet.topic_fee_revenue(TOPIC), DATA_FEE);
}

#[tokio::test]
async fn forecasts_keep_distinct_top_elements_and_emit_their_event() {
    let a = actors();
    let devnet = launch(builder(&a).devnet(|d| d.max_elements_per_forecast(2))).await;
    devnet.produce_blocks_until(FIRST_NONCE).await;
    let inferers: Vec<String> = (10..13)
        .map(|seed| test_key(seed).unwrap().address().to_string())
        .collect();
    let element = |i: usize, value: &str| v10::InputForecastElement {
        inferer: inferers[i].clone(),
        value: value.into(),
    };
    let forecast = v10::InputForecast {
        topic_id: TOPIC,
        block_height: FIRST_NONCE,
        forecaster: a.worker.address().to_string(),
        // The second element repeats the first inferer; only two are kept.
        forecast_elements: vec![
            element(0, "0.1"),
            element(0, "0.9"),
            element(1, "0.2"),
            element(2, "0.3"),
        ],
        extra_data: Vec::new(),
    };
    let msg = signed_bundle(
        &a.worker,
        TOPIC,
        FIRST_NONCE,
        v10::InputInferenceForecastBundle {
            inference: None,
            forecast: Some(forecast),
        },
    );
    let res = accepted(&devnet, &a.worker, to_any(&msg)).await;
    assert!(!has_event(&res, allora_devnet::INSERT_INFERER_PAYLOAD));
    let kind = allora_devnet::INSERT_FORECASTER_PAYLOAD;
    assert_eq!(
        attribute(&res, kind, "inferer_addresses"),
        serde_json::json!([inferers[0], inferers[1]]).to_string()
    );
    assert_eq!(attribute(&res, kind, "inferer_values"), r#"["0.1","0.2"]"#);
    assert_eq!(attribute(&res, kind, "nonce"), "\"10\"");
    let sub = devnet
        .submission(TOPIC, FIRST_NONCE, a.worker.address())
        .unwrap();
    assert!(sub.forecast_admitted && sub.inference.is_none());
    assert_eq!(sub.forecast.unwrap().len(), 2);
    // The same forecaster again in this window.
    let res = refused_when_run(
        &devnet,
        &a.worker,
        to_any(&msg),
        ("undefined", 1),
        "Error appending forecast: forecast already submitted",
    )
    .await;
    assert!(res.raw_log.ends_with("forecast already submitted"));
}

/// Topics for the label rules, with a window long enough for one block per
/// case: two single-value topics (one case-sensitive) and two multi-value
/// topics, one with a whitelist and a 2-label cap, one case-sensitive
/// requiring unity.
const SINGLE: u64 = 19;
const MULTI: u64 = 20;
const MULTI_OPEN: u64 = 21;
const SINGLE_CASE: u64 = 22;
const SINGLE_B: u64 = 23;
/// Their first nonce, open for 40 blocks.
const LABEL_NONCE: i64 = 40;

/// `key`'s inference of labeled `values` for the label topics' nonce.
fn labeled(key: &WorkerKey, topic: u64, values: &[(&str, &str)]) -> Any {
    labeled_payload_any(key, topic, LABEL_NONCE, values)
}

async fn label_devnet(a: &Actors) -> allora_devnet::fixtures::TestNet {
    let topic = |id| allora_devnet::TopicConfig::new(id, LABEL_NONCE, LABEL_NONCE);
    let devnet = launch(
        builder(a)
            .topic(topic(SINGLE))
            .topic(topic(SINGLE_B))
            .topic(
                topic(MULTI)
                    .multi()
                    .label_whitelist(["Up", "down", "flat"])
                    .max_labels_per_submission(2),
            )
            .topic(
                topic(MULTI_OPEN)
                    .multi()
                    .label_case_sensitive(true)
                    .label_default_value("0".parse().unwrap())
                    .require_unity("0.01".parse().unwrap()),
            )
            .topic(topic(SINGLE_CASE).label_case_sensitive(true))
            .devnet(|d| d.max_canonical_label_byte_length(8)),
    )
    .await;
    devnet.produce_blocks_until(LABEL_NONCE).await;
    devnet
}

#[tokio::test]
async fn a_single_value_topic_takes_y_or_no_label() {
    let a = actors();
    let devnet = label_devnet(&a).await;
    let w = &a.worker;
    // Refusals first (each leaves the nonce open for the worker).
    refused_exactly(
        &devnet,
        w,
        labeled(w, SINGLE, &[("price", "3012.5")]),
        ("sdk", 18),
        "single-arity label must be \"y\", got \
         \"price\": invalid request",
    )
    .await;
    refused_when_run(
        &devnet,
        w,
        labeled(w, SINGLE, &[("y", "1"), ("y2", "2")]),
        ("emissions", 98),
        "input inference failed label validation: submission has 2 labels, per-topic cap is 1: \
         too many labels in one submission (exceeds effective cap)",
    )
    .await;
    refused_when_run(
        &devnet,
        w,
        labeled(w, SINGLE, &[("", "1")]),
        ("emissions", 95),
        "input inference failed label validation: input labeled value at index 0: label is \
         empty after trimming: invalid label name",
    )
    .await;
    // A case-sensitive single-value topic does not fold "Y".
    refused_when_run(
        &devnet,
        w,
        labeled(w, SINGLE_CASE, &[("Y", "1")]),
        ("sdk", 18),
        "got \"Y\"",
    )
    .await;
    // " Y " is "y" once canonical; the event carries the canonical label.
    let res = accepted(&devnet, w, labeled(w, SINGLE, &[(" Y ", "3012.5")])).await;
    assert_eq!(
        attribute(&res, allora_devnet::INSERT_INFERER_PAYLOAD, "values"),
        r#"[{"label":"y","value":"3012.5"}]"#
    );
    // No label at all: the scalar value field.
    let scalar = {
        let mut inference = raw_inference(w, SINGLE_B, LABEL_NONCE, &[]);
        inference.value = "42.5".into();
        to_any(&signed_bundle(
            w,
            SINGLE_B,
            LABEL_NONCE,
            v10::InputInferenceForecastBundle {
                inference: Some(inference),
                forecast: None,
            },
        ))
    };
    let res = accepted(&devnet, w, scalar).await;
    assert_eq!(
        attribute(&res, allora_devnet::INSERT_INFERER_PAYLOAD, "values"),
        "[]"
    );
    assert_eq!(
        devnet
            .submission(SINGLE_B, LABEL_NONCE, w.address())
            .unwrap()
            .inference,
        Some(vec![("y".to_owned(), "42.5".to_owned())])
    );
}

#[tokio::test]
async fn a_multi_value_topic_takes_its_labels_and_refuses_each_invalid_kind() {
    let a = actors();
    let devnet = label_devnet(&a).await;
    let w = &a.worker;
    type Case = (
        &'static [(&'static str, &'static str)],
        (&'static str, u32),
        &'static str,
    );
    let cases: [Case; 8] = [
        (
            &[("up", "1"), ("down", "2"), ("flat", "3")],
            ("emissions", 98),
            "submission has 3 labels, per-topic cap is 2",
        ),
        (
            &[("up!", "1")],
            ("emissions", 95),
            "input labeled value at index 0: label contains a disallowed character: U+0021",
        ),
        (
            &[("sideways", "1"), ("up", "2")],
            ("emissions", 97),
            "label \"sideways\" is not in topic label whitelist: label is not in the topic's \
             label whitelist",
        ),
        (
            &[("upwards!!", "1")],
            ("emissions", 95),
            "label exceeds 8 bytes after normalization (got 9)",
        ),
        (
            &[("UP", "1"), (" up", "2")],
            ("emissions", 95),
            "duplicate label after canonicalization at index 1: \"up\"",
        ),
        (
            &[("  ", "1")],
            ("emissions", 95),
            "label is empty after trimming",
        ),
        (
            &[],
            ("sdk", 18),
            "failed to normalize admitted inference: multi-arity inference requires labeled \
             values: invalid request",
        ),
        (
            &[("up", "0"), ("down", "0.000")],
            ("sdk", 18),
            "multi-arity inference requires at least one non-default label value",
        ),
    ];
    for (values, code, log) in cases {
        refused_when_run(&devnet, w, labeled(w, MULTI, values), code, log).await;
    }
    refused_when_run(
        &devnet,
        w,
        labeled(w, MULTI_OPEN, &[("a", "0.5"), ("b", "0.4")]),
        ("sdk", 18),
        "require_unity violated: sum=0.9",
    )
    .await;
    assert!(devnet.submissions().is_empty());

    // Valid labels are accepted, stored and reported canonical.
    let res = accepted(
        &devnet,
        w,
        labeled(w, MULTI, &[("UP", "0.7"), ("Down ", "0")]),
    )
    .await;
    assert_eq!(
        attribute(&res, allora_devnet::INSERT_INFERER_PAYLOAD, "values"),
        r#"[{"label":"up","value":"0.7"},{"label":"down","value":"0"}]"#
    );
    // The default value (0) counts as not submitted.
    assert_eq!(
        devnet
            .submission(MULTI, LABEL_NONCE, w.address())
            .unwrap()
            .inference,
        Some(vec![("up".to_owned(), "0.7".to_owned())])
    );
    // Case-sensitive: "BTC" and "btc" are two labels.
    accepted(
        &devnet,
        w,
        labeled(w, MULTI_OPEN, &[("BTC", "0.5"), ("btc", "0.495")]),
    )
    .await;
    assert_eq!(
        devnet
            .submission(MULTI_OPEN, LABEL_NONCE, w.address())
            .unwrap()
            .inference,
        Some(vec![
            ("BTC".to_owned(), "0.5".to_owned()),
            ("btc".to_owned(), "0.495".to_owned())
        ])
    );

    // GetTopic reports the label settings.
    let mut q = queries(&devnet).await;
    let topic = get_topic(&mut q, MULTI).await;
    assert_eq!(topic.output_arity, v10::TopicOutputArity::Multi as i32);
    assert_eq!(topic.label_whitelist, ["up", "down", "flat"]);
    assert_eq!(
        (topic.max_labels_per_submission, topic.label_case_sensitive),
        (2, false)
    );
    let open = get_topic(&mut q, MULTI_OPEN).await;
    assert!(open.label_case_sensitive && open.require_unity);
    assert_eq!(
        (
            open.unity_tolerance.as_str(),
            open.label_default_value.as_str()
        ),
        ("0.01", "0")
    );
    let params = get_params(&mut q).await;
    assert_eq!(params.max_canonical_label_byte_length, 8);
    assert_eq!(params.data_sending_fee, DATA_FEE.to_string());
    assert_eq!(
        (
            params.max_top_inferers_to_reward,
            params.max_serialized_msg_length
        ),
        (32, 1_000_000)
    );
    assert!(params.global_whitelist_enabled && params.global_worker_whitelist_enabled);
}

#[tokio::test]
async fn inferers_beyond_the_top_n_cap_are_accepted_but_not_admitted() {
    let a = actors();
    let second = test_key(4).unwrap();
    let capped = TOPIC + 30;
    let devnet = launch(
        builder(&a)
            .topic(allora_devnet::TopicConfig::new(capped, 10, 5).max_top_inferers(1))
            .devnet(|d| {
                d.account(allora_devnet::AccountConfig::new(
                    second.address().clone(),
                    BALANCE,
                ))
                .worker(capped, second.address().clone())
            }),
    )
    .await;
    devnet.produce_blocks_until(FIRST_NONCE).await;
    let first = accepted(&devnet, &a.worker, payload(&a.worker, capped)).await;
    assert!(has_event(&first, allora_devnet::INSERT_INFERER_PAYLOAD));
    // The second inferer: code 0, data fee paid, nothing stored, no event.
    let before = devnet.account(second.address()).unwrap().balance;
    let res = accepted(
        &devnet,
        &second,
        payload_at(&second, capped, FIRST_NONCE, "2"),
    )
    .await;
    assert!(!has_event(&res, allora_devnet::INSERT_INFERER_PAYLOAD));
    assert_eq!(
        devnet.account(second.address()).unwrap().balance,
        before - FEE - DATA_FEE
    );
    let sub = devnet
        .submission(capped, FIRST_NONCE, second.address())
        .unwrap();
    assert!(!sub.inference_admitted);
    // The nonce counts as used for it: its score was updated for this
    // window, so trying again is refused with 78.
    refused_when_run(
        &devnet,
        &second,
        payload_at(&second, capped, FIRST_NONCE, "3"),
        ("emissions", 78),
        "Error planning inference admission: cannot update EMA more than once per window",
    )
    .await;
    // Only the admitted inference makes the network inference.
    devnet.produce_blocks_until(FIRST_NONCE + 5).await;
    let mut q = queries(&devnet).await;
    let latest = latest_network_inferences(&mut q, capped)
        .await
        .unwrap()
        .network_inferences
        .unwrap();
    let inferers: Vec<&str> = latest
        .inferer_values
        .iter()
        .map(|v| v.worker.as_str())
        .collect();
    assert_eq!(inferers, [a.worker.address().as_str()]);
    // Next window, the first to submit takes the slot.
    let next = FIRST_NONCE + 10;
    devnet.produce_blocks_until(next).await;
    let res = accepted(&devnet, &second, payload_at(&second, capped, next, "4")).await;
    assert!(has_event(&res, allora_devnet::INSERT_INFERER_PAYLOAD));
    let res = accepted(&devnet, &a.worker, payload_at(&a.worker, capped, next, "5")).await;
    assert!(!has_event(&res, allora_devnet::INSERT_INFERER_PAYLOAD));
}
