//! A worker whose fees are paid by a fee granter, through the whole worker
//! pipeline against the devnet: with a grant the granter pays every fee and
//! the worker only its data fees; without one every transaction is refused
//! with the chain's fee grant error and nothing is spent.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use allora_devnet::fixtures::{run_worker, run_worker_until, test_key, TestNet};
use allora_devnet::{AccountConfig, BasicAllowance, FeeGrant, DEFAULT_DATA_SENDING_FEE};
use allora_sdk::keys::WorkerKey;
use allora_sdk::worker::WorkerError;

const GRANTER_BALANCE: u128 = 1_000_000_000_000;
const SPEND_LIMIT: u128 = 500_000_000_000;

async fn net(granter: &WorkerKey, grant: bool) -> TestNet {
    let granter_address = granter.address().clone();
    let worker = test_key(7).unwrap();
    let worker_address = worker.address().clone();
    TestNet::builder(worker)
        .topics([1, 2], 6, 4)
        .devnet(move |d| {
            let d = d.account(AccountConfig::new(granter_address.clone(), GRANTER_BALANCE));
            if grant {
                d.fee_grant(FeeGrant::new(
                    granter_address,
                    worker_address,
                    BasicAllowance::spend_limit(SPEND_LIMIT)
                        .expiring_at(SystemTime::now() + Duration::from_secs(3600)),
                ))
            } else {
                d
            }
        })
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_a_grant_the_granter_pays_every_fee_and_the_worker_only_data_fees() {
    let granter = test_key(9).unwrap();
    let net = net(&granter, true).await;
    let worker_before = net.account(net.address()).unwrap().balance;
    let (served, failed) = run_worker(
        net.worker_serving(|req| 100.0 + req.nonce as f64)
            .unwrap()
            .fee_granter(granter.address().clone()),
        4,
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(served.len() >= 4, "{served:?}");

    // Each transaction's fee once (a batch shares one).
    let fees: BTreeMap<String, u128> = served
        .iter()
        .map(|s| (s.txhash.clone().unwrap(), s.fee.as_ref().unwrap()))
        .map(|(hash, fee)| {
            assert_eq!(fee.granter.as_ref(), Some(granter.address()));
            (hash, fee.amount)
        })
        .collect();
    let paid: u128 = fees.values().sum();
    assert!(paid > 0);
    // Every transaction of the worker on chain named the granter.
    let ours: Vec<_> = net
        .included_txs()
        .into_iter()
        .filter(|t| fees.contains_key(&t.hash))
        .collect();
    assert_eq!(ours.len(), fees.len());
    assert!(ours.iter().all(|t| t.code == 0));

    let payloads = net
        .submissions()
        .iter()
        .filter(|s| s.worker == net.address().as_str())
        .count() as u128;
    assert_eq!(payloads, served.len() as u128);
    assert_eq!(
        net.account(granter.address()).unwrap().balance,
        GRANTER_BALANCE - paid,
        "the granter paid every fee"
    );
    assert_eq!(
        net.account(net.address()).unwrap().balance,
        worker_before - payloads * DEFAULT_DATA_SENDING_FEE,
        "the worker paid its data fees only"
    );
    assert_eq!(
        net.fee_allowance(granter.address(), net.address())
            .unwrap()
            .spend_limit,
        Some(SPEND_LIMIT - paid)
    );
}

#[tokio::test]
async fn without_a_grant_every_window_is_refused_and_nothing_is_spent() {
    let granter = test_key(9).unwrap();
    let net = net(&granter, false).await;
    let worker_before = net.account(net.address()).unwrap();
    let (served, failed) = run_worker_until(
        net.worker_serving(|req| 100.0 + req.nonce as f64)
            .unwrap()
            .fee_granter(granter.address().clone()),
        Duration::from_secs(20),
        |_, f| f.len() >= 2,
    )
    .await
    .unwrap();
    assert!(served.is_empty(), "{served:?}");
    assert!(failed.len() >= 2, "{failed:?}");
    for error in &failed {
        let WorkerError::Rejected { source, .. } = error else {
            panic!("not a chain refusal: {error}");
        };
        assert_eq!(
            (source.codespace.as_str(), source.code),
            ("sdk", 38),
            "{error}"
        );
        assert!(
            source.raw_log.contains(&format!(
                "{} does not allow to pay fees for {}: fee-grant not found",
                granter.address(),
                net.address()
            )),
            "{error}"
        );
    }
    assert_eq!(net.account(net.address()).unwrap(), worker_before);
    assert_eq!(
        net.account(granter.address()).unwrap().balance,
        GRANTER_BALANCE
    );
    assert!(net.submissions().is_empty());
    assert!(net.included_txs().is_empty());
}
