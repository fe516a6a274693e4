//! The devnet enforces the chain's rules: every rule is broken once over
//! real gRPC and refused with the chain's code, codespace and log.

mod devnet_support;

use allora_devnet::fixtures::*;
use allora_devnet::{ante_gas, PAYLOAD_BASE_GAS, PAYLOAD_GAS_PER_VALUE};
use allora_sdk::proto::emissions::{v10, v3};
use allora_sdk::proto::{to_any, Any};
use allora_sdk::tx::tx_hash;
use devnet_support::*;
use k256::elliptic_curve::ops::Neg;
use prost::Message;

#[tokio::test]
async fn valid_payload_is_included_recorded_and_charged() {
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    let tx = sign_tx(
        CHAIN_ID,
        &a.worker,
        vec![payload_any(&a.worker, TOPIC, FIRST_NONCE, "123.456").unwrap()],
        5,
        0,
        GAS,
        FEE,
    )
    .unwrap();
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
    assert_eq!(sub.tx_hash, tx.hash());
    let acc = devnet.account(a.worker.address()).unwrap();
    assert_eq!((acc.sequence, acc.balance), (1, BALANCE - FEE));
    assert_eq!(devnet.included_txs().len(), 1);
}

#[tokio::test]
async fn one_account_sends_several_txs_per_block_and_batches_topics() {
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    // Both topics share the schedule, so nonce 10 is open in both.
    let batched = sign_tx(
        CHAIN_ID,
        &a.worker,
        vec![
            payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap(),
            payload_any(&a.worker, TOPIC_B, FIRST_NONCE, "2").unwrap(),
        ],
        5,
        0,
        GAS,
        FEE,
    )
    .unwrap();
    let register = sign_tx(
        CHAIN_ID,
        &a.worker,
        vec![to_any(&v10::RegisterRequest {
            sender: a.worker.address().to_string(),
            topic_id: TOPIC,
            owner: a.worker.address().to_string(),
            is_reputer: true,
        })],
        5,
        1,
        GAS,
        FEE,
    )
    .unwrap();
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
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    let msg = to_any(&v10::RegisterRequest {
        sender: a.outsider.address().to_string(),
        topic_id: TOPIC,
        owner: a.outsider.address().to_string(),
        is_reputer: false,
    });
    let tx = sign_tx(CHAIN_ID, &a.outsider, vec![msg.clone()], 6, 0, GAS, FEE).unwrap();
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
    let again = sign_tx(CHAIN_ID, &a.outsider, vec![msg], 6, 1, GAS, FEE).unwrap();
    let res = deliver(&devnet, &ch, &again).await.unwrap();
    assert_eq!(
        (res.code, res.codespace.as_str()),
        (8, "emissions"),
        "{}",
        res.raw_log
    );
}

#[tokio::test]
async fn tx_signatures_are_verified_against_chain_id_and_account_number() {
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    let msg = || vec![payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap()];
    let wrong_chain = sign_tx("allora-testnet-1", &a.worker, msg(), 5, 0, GAS, FEE).unwrap();
    let wrong_number = sign_tx(CHAIN_ID, &a.worker, msg(), 99, 0, GAS, FEE).unwrap();
    for tx in [wrong_chain, wrong_number] {
        let res = broadcast(&ch, tx.to_bytes()).await.unwrap();
        assert_eq!(
            (res.code, res.codespace.as_str()),
            (4, "sdk"),
            "{}",
            res.raw_log
        );
        assert!(res.raw_log.starts_with(&format!(
            "signature verification failed; please verify account number (5) and chain-id ({CHAIN_ID})"
        )));
        assert!(res.raw_log.ends_with(": unauthorized"));
    }
    // A corrupted signature.
    let good = sign_tx(CHAIN_ID, &a.worker, msg(), 5, 0, GAS, FEE).unwrap();
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
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    // The worker's payload, in a tx signed by the outsider.
    let tx = sign_tx(
        CHAIN_ID,
        &a.outsider,
        vec![payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap()],
        5,
        0,
        GAS,
        FEE,
    )
    .unwrap();
    let res = broadcast(&ch, tx.to_bytes()).await.unwrap();
    assert_eq!(
        (res.code, res.codespace.as_str()),
        (8, "sdk"),
        "{}",
        res.raw_log
    );
    assert!(res.raw_log.contains("pubKey does not match signer address"));
}

#[tokio::test]
async fn wrong_sequence_is_refused_at_check_tx_and_bump_sequence_desyncs() {
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    let tx = sign_tx(
        CHAIN_ID,
        &a.worker,
        vec![payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap()],
        5,
        3,
        GAS,
        FEE,
    )
    .unwrap();
    let res = broadcast(&ch, tx.to_bytes()).await.unwrap();
    assert_eq!((res.code, res.codespace.as_str()), (32, "sdk"));
    assert_eq!(
        res.raw_log,
        "account sequence mismatch, expected 0, got 3: incorrect account sequence"
    );
    // A transaction sent behind the client's back moves the sequence.
    assert_eq!(devnet.bump_sequence(a.worker.address()).unwrap(), 1);
    let stale = sign_tx(
        CHAIN_ID,
        &a.worker,
        vec![payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap()],
        5,
        0,
        GAS,
        FEE,
    )
    .unwrap();
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
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    let low = sign_tx(
        CHAIN_ID,
        &a.worker,
        vec![payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap()],
        5,
        0,
        GAS,
        FEE - 1,
    )
    .unwrap();
    let res = broadcast(&ch, low.to_bytes()).await.unwrap();
    assert_eq!((res.code, res.codespace.as_str()), (13, "sdk"));
    assert_eq!(
        res.raw_log,
        format!(
            "got: {}uallo required: {FEE}uallo, minGasPrice: 10.000000000000000000uallo, gas: {GAS}: insufficient fee",
            FEE - 1
        )
    );
    let poor = sign_tx(
        CHAIN_ID,
        &a.poor,
        vec![payload_any(&a.poor, TOPIC, FIRST_NONCE, "1").unwrap()],
        7,
        0,
        GAS,
        FEE,
    )
    .unwrap();
    let res = broadcast(&ch, poor.to_bytes()).await.unwrap();
    assert_eq!(
        (res.code, res.codespace.as_str()),
        (5, "sdk"),
        "{}",
        res.raw_log
    );
    assert!(res.raw_log.ends_with("insufficient funds"));
}

#[tokio::test]
async fn out_of_gas_is_included_charged_and_not_applied() {
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    let msgs = vec![payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap()];
    // Enough for the ante handler, not for the payload.
    let probe = sign_tx(CHAIN_ID, &a.worker, msgs.clone(), 5, 0, GAS, FEE).unwrap();
    let gas = ante_gas(probe.to_bytes().len(), 1) + PAYLOAD_BASE_GAS / 2;
    let fee = u128::from(gas) * 10;
    let tx = sign_tx(CHAIN_ID, &a.worker, msgs, 5, 0, gas, fee).unwrap();
    let res = deliver(&devnet, &ch, &tx).await.unwrap();
    assert_eq!((res.code, res.codespace.as_str()), (11, "sdk"));
    assert!(res
        .raw_log
        .contains(&format!("gasWanted: {gas}, gasUsed: ")));
    assert!(res.raw_log.ends_with("out of gas"));
    assert!(devnet.submissions().is_empty());
    let acc = devnet.account(a.worker.address()).unwrap();
    assert_eq!((acc.sequence, acc.balance), (1, BALANCE - fee));
    // Less gas than the ante handler needs is refused at CheckTx.
    let tiny = sign_tx(
        CHAIN_ID,
        &a.worker,
        vec![payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap()],
        5,
        1,
        1_000,
        10_000,
    )
    .unwrap();
    assert_eq!(broadcast(&ch, tiny.to_bytes()).await.unwrap().code, 11);
}

#[tokio::test]
async fn simulate_reports_the_gas_delivery_uses() {
    use allora_sdk::tx::{Fee, UnsignedTx};
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    let msgs = vec![payload_any(&a.worker, TOPIC, FIRST_NONCE, "7.5").unwrap()];
    let sim_bytes = UnsignedTx::new(msgs.clone())
        // Same fee as the signed tx, so the two differ only in the signature.
        .simulation_bytes(a.worker.public_key(), 0, &Fee::uallo(FEE, GAS))
        .unwrap();
    let simulated = simulate_gas(&ch, sim_bytes).await.unwrap();
    let signed = sign_tx(CHAIN_ID, &a.worker, msgs, 5, 0, GAS, FEE).unwrap();
    assert_eq!(
        simulated,
        ante_gas(signed.to_bytes().len(), 1) + PAYLOAD_BASE_GAS + PAYLOAD_GAS_PER_VALUE
    );
    let res = deliver(&devnet, &ch, &signed).await.unwrap();
    assert_eq!(res.gas_used as u64, simulated);
}

/// Delivers a payload tx from the worker at sequence 0 and returns the result.
async fn deliver_payload(
    devnet: &allora_devnet::DevnetHandle,
    msg: Any,
) -> cosmrs::proto::cosmos::base::abci::v1beta1::TxResponse {
    let ch = channel(devnet).await.unwrap();
    let worker = test_key(1).unwrap();
    let seq = devnet.account(worker.address()).unwrap().sequence;
    deliver(
        devnet,
        &ch,
        &sign_tx(CHAIN_ID, &worker, vec![msg], 5, seq, GAS, FEE).unwrap(),
    )
    .await
    .unwrap()
}

fn payload_message(any: &Any) -> v10::InsertWorkerPayloadRequest {
    v10::InsertWorkerPayloadRequest::decode(any.value.as_slice()).unwrap()
}

#[tokio::test]
async fn bundle_signature_must_verify_with_low_s() {
    let a = actors();
    let devnet = started(&a).await;
    // Tampered value after signing.
    let mut msg = payload_message(&payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap());
    let bundle = msg.worker_data_bundle.as_mut().unwrap();
    bundle
        .inference_forecasts_bundle
        .as_mut()
        .unwrap()
        .inference
        .as_mut()
        .unwrap()
        .values[0]
        .value = "2".into();
    let res = deliver_payload(&devnet, to_any(&msg)).await;
    assert_eq!((res.code, res.codespace.as_str()), (4, "sdk"));
    assert_eq!(
        res.raw_log,
        "failed to execute message; message index: 0: Error validating worker data bundle: \
         signature verification failed: unauthorized"
    );
    // The same signature with S replaced by n - S (valid ECDSA, high S).
    let mut msg = payload_message(&payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap());
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
    assert_eq!(
        (res.code, res.codespace.as_str()),
        (4, "sdk"),
        "{}",
        res.raw_log
    );
    assert!(res.raw_log.contains("signature verification failed"));
    assert!(devnet.submissions().is_empty());
}

#[tokio::test]
async fn sender_must_be_the_worker() {
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    // The worker's signed bundle relayed by the outsider.
    let mut msg = payload_message(&payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap());
    msg.sender = a.outsider.address().to_string();
    let tx = sign_tx(CHAIN_ID, &a.outsider, vec![to_any(&msg)], 6, 0, GAS, FEE).unwrap();
    let res = deliver(&devnet, &ch, &tx).await.unwrap();
    assert_eq!(
        (res.code, res.codespace.as_str()),
        (4, "sdk"),
        "{}",
        res.raw_log
    );
    assert!(res.raw_log.contains("does not match worker"));
}

#[tokio::test]
async fn topic_must_exist_and_be_active() {
    let a = actors();
    let devnet = started(&a).await;
    let res = deliver_payload(
        &devnet,
        payload_any(&a.worker, 99, FIRST_NONCE, "1").unwrap(),
    )
    .await;
    assert_eq!(
        (res.code, res.codespace.as_str()),
        (6, "emissions"),
        "{}",
        res.raw_log
    );
    assert!(res.raw_log.ends_with("invalid topic ID"));
    let res = deliver_payload(
        &devnet,
        payload_any(&a.worker, INACTIVE_TOPIC, FIRST_NONCE, "1").unwrap(),
    )
    .await;
    assert_eq!((res.code, res.codespace.as_str()), (6, "emissions"));
    assert!(res.raw_log.contains("is not active"));
    // Deactivating a topic with an open nonce refuses payloads for it too.
    devnet.set_topic_active(TOPIC, false).unwrap();
    let res = deliver_payload(
        &devnet,
        payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap(),
    )
    .await;
    assert_eq!(res.code, 6);
}

#[tokio::test]
async fn worker_must_be_registered() {
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    let tx = sign_tx(
        CHAIN_ID,
        &a.outsider,
        vec![payload_any(&a.outsider, TOPIC, FIRST_NONCE, "1").unwrap()],
        6,
        0,
        GAS,
        FEE,
    )
    .unwrap();
    let res = deliver(&devnet, &ch, &tx).await.unwrap();
    assert_eq!((res.code, res.codespace.as_str()), (13, "emissions"));
    assert_eq!(
        res.raw_log,
        "failed to execute message; message index: 0: worker is not registered in this topic: address not registered"
    );
    // The hook registers without a transaction.
    devnet.register_worker(TOPIC, a.outsider.address()).unwrap();
    let tx = sign_tx(
        CHAIN_ID,
        &a.outsider,
        vec![payload_any(&a.outsider, TOPIC, FIRST_NONCE, "1").unwrap()],
        6,
        1,
        GAS,
        FEE,
    )
    .unwrap();
    assert_eq!(deliver(&devnet, &ch, &tx).await.unwrap().code, 0);
}

#[tokio::test]
async fn nonce_must_be_open_and_window_not_closed() {
    let a = actors();
    let devnet = started(&a).await;
    let res = deliver_payload(
        &devnet,
        payload_any(&a.worker, TOPIC, FIRST_NONCE - 1, "1").unwrap(),
    )
    .await;
    assert_eq!(
        (res.code, res.codespace.as_str()),
        (44, "emissions"),
        "{}",
        res.raw_log
    );
    // The window of nonce 10 is blocks 10..=15; a tx in block 15 is on time.
    devnet.produce_blocks_until(FIRST_NONCE + 4).await;
    let res = deliver_payload(
        &devnet,
        payload_any(&a.worker, TOPIC_B, FIRST_NONCE, "1").unwrap(),
    )
    .await;
    assert_eq!(
        (res.code, res.height),
        (0, FIRST_NONCE + 5),
        "{}",
        res.raw_log
    );
    // Block 16 is too late: the nonce was closed in EndBlock 15.
    let res = deliver_payload(
        &devnet,
        payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap(),
    )
    .await;
    assert_eq!((res.code, res.codespace.as_str()), (44, "emissions"));
    assert!(devnet.open_nonces(TOPIC).is_empty());
}

#[tokio::test]
async fn a_second_payload_for_the_same_nonce_is_already_submitted() {
    let a = actors();
    let devnet = started(&a).await;
    assert_eq!(
        deliver_payload(
            &devnet,
            payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap()
        )
        .await
        .code,
        0
    );
    let res = deliver_payload(
        &devnet,
        payload_any(&a.worker, TOPIC, FIRST_NONCE, "2").unwrap(),
    )
    .await;
    assert_eq!((res.code, res.codespace.as_str()), (1, "undefined"));
    assert!(res.raw_log.contains("inference already submitted"));
    let sub = devnet
        .submission(TOPIC, FIRST_NONCE, a.worker.address())
        .unwrap();
    assert_eq!(sub.inference.unwrap()[0].1, "1");
}

#[tokio::test]
async fn failing_message_fails_the_whole_tx_but_the_fee_is_charged() {
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
    let tx = sign_tx(
        CHAIN_ID,
        &a.worker,
        vec![
            payload_any(&a.worker, TOPIC, FIRST_NONCE, "1").unwrap(),
            payload_any(&a.worker, 99, FIRST_NONCE, "1").unwrap(),
        ],
        5,
        0,
        GAS,
        FEE,
    )
    .unwrap();
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
    let a = actors();
    let devnet = started(&a).await;
    let ch = channel(&devnet).await.unwrap();
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
    let tx = sign_tx(CHAIN_ID, &a.worker, vec![to_any(&msg)], 5, 0, GAS, FEE).unwrap();
    let res = broadcast(&ch, tx.to_bytes()).await.unwrap();
    assert_eq!(
        (res.code, res.codespace.as_str()),
        (2, "sdk"),
        "{}",
        res.raw_log
    );
    assert!(res.raw_log.ends_with("tx parse error"));

    let unknown = Any {
        type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
        value: vec![],
    };
    let tx = sign_tx(CHAIN_ID, &a.worker, vec![unknown], 5, 0, GAS, FEE).unwrap();
    let res = broadcast(&ch, tx.to_bytes()).await.unwrap();
    assert_eq!((res.code, res.codespace.as_str()), (6, "sdk"));
    assert_eq!(
        res.raw_log,
        "unrecognized message type: /cosmos.bank.v1beta1.MsgSend: unknown request"
    );
}

#[tokio::test]
async fn golden_vector_txs_pass_the_signature_check() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../allora-sdk/tests/vectors/allora-sdk-py-1.3.0.json"
    ))
    .unwrap();
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    for tx in vectors["txs"].as_array().unwrap() {
        let payload = vectors["payloads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == tx["payload"])
            .unwrap();
        let address: allora_sdk::keys::Address =
            payload["worker_address"].as_str().unwrap().parse().unwrap();
        let bytes = hex::decode(tx["tx_raw_hex"].as_str().unwrap()).unwrap();
        let devnet = allora_devnet::Devnet::builder()
            .chain_id(tx["chain_id"].as_str().unwrap())
            .manual_blocks()
            .account(
                allora_devnet::AccountConfig::new(address.clone(), u128::MAX / 2)
                    .account_number(tx["account_number"].as_u64().unwrap())
                    .sequence(tx["sequence"].as_u64().unwrap()),
            )
            .build()
            .start()
            .await
            .unwrap();
        let ch = channel(&devnet).await.unwrap();
        let res = broadcast(&ch, &bytes).await.unwrap();
        assert_eq!(res.code, 0, "{}: {}", tx["name"], res.raw_log);
        assert_eq!(res.txhash, tx_hash(&bytes));
        devnet.produce_block().await;
        let res = get_tx(&ch, &res.txhash).await.unwrap();
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
        let other = allora_devnet::Devnet::builder()
            .chain_id("allora-other-1")
            .manual_blocks()
            .account(
                allora_devnet::AccountConfig::new(address, u128::MAX / 2)
                    .account_number(tx["account_number"].as_u64().unwrap())
                    .sequence(tx["sequence"].as_u64().unwrap()),
            )
            .build()
            .start()
            .await
            .unwrap();
        let res = broadcast(&channel(&other).await.unwrap(), &bytes)
            .await
            .unwrap();
        assert_eq!(res.code, 4);
    }
}
