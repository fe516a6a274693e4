//! `operator::register_topics` against a devnet: a line per topic, a
//! transaction only where the worker is not registered yet, and a failure
//! that names the topic and what the account lacks.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use allora_devnet::fixtures::{test_key, TestNet};
use allora_devnet::TopicConfig;
use allora_sdk::operator::{register_topics, OperatorError};
use allora_sdk::pipeline::{GasPriceSource, PipelineConfig, TxPipeline};
use allora_sdk::registration::RegistrationError;
use allora_sdk::tx::GasPrice;

fn pipeline(net: &TestNet) -> TxPipeline {
    let mut config = PipelineConfig::new(net.chain_id());
    config.gas_price = GasPriceSource::Static(GasPrice::from_uallo(10));
    TxPipeline::new(net.client().unwrap(), Arc::new(net.key().clone()), config)
}

#[tokio::test]
async fn registers_only_where_needed_with_a_line_per_topic() {
    let net = TestNet::builder(test_key(21).unwrap())
        .topics([1], 6, 4)
        .start()
        .await
        .unwrap();
    // Topic 3 is new: the worker is not registered in it.
    net.add_topic(TopicConfig::new(3, 6, 4)).unwrap();
    assert!(!net.is_worker_registered(3, net.address()));

    let mut out = Vec::new();
    register_topics(&pipeline(&net), &[1, 3], &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], format!("worker {}", net.address()));
    assert_eq!(lines[1], "topic 1: already registered");
    let rest = lines[2]
        .strip_prefix("topic 3: registered in tx ")
        .unwrap_or_else(|| panic!("{text}"));
    let (hash, height) = rest.split_once(" (height ").unwrap();
    let included = net.included_tx(hash).unwrap();
    assert_eq!(format!("{})", included.height), height);
    assert!(net.is_worker_registered(3, net.address()));
    // One transaction: topic 1 needed none.
    assert_eq!(net.included_txs().len(), 1);
}

#[tokio::test]
async fn a_failing_topic_is_named_with_what_the_account_lacks() {
    let net = TestNet::builder(test_key(22).unwrap())
        .topics([1, 2], 6, 4)
        .unregistered()
        .balance(1_000)
        .devnet(|d| d.registration_fee(1_000_000))
        .start()
        .await
        .unwrap();
    let mut out = Vec::new();
    let err = register_topics(&pipeline(&net), &[1, 2], &mut out)
        .await
        .unwrap_err();
    let OperatorError::Register { topic_id, source } = &err else {
        panic!("not a registration failure: {err}");
    };
    assert_eq!(*topic_id, 1);
    assert!(matches!(**source, RegistrationError::InsufficientFunds(_)));
    let message = err.to_string();
    assert!(
        message.starts_with("registering in topic 1 failed: ")
            && message.contains(net.address().as_str())
            && message.contains("has 1000 uallo"),
        "{message}"
    );
    // The worker line only; topic 2 was not tried and nothing was sent.
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("worker {}\n", net.address())
    );
    assert!(net.included_txs().is_empty());
}
