//! Fee grants: a transaction naming a fee granter pays from the granter's
//! account under its allowance, and is refused with the chain's codes
//! without one, at CheckTx, with nothing spent.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use allora_devnet::fixtures::{broadcast, channel, deliver, payload_any, test_key, TestNet};
use allora_devnet::{AccountConfig, BasicAllowance, FeeGrant};
use allora_sdk::client::ChainClient;
use allora_sdk::keys::{Address, WorkerKey};
use allora_sdk::tx::{Fee, SignedTx, SignerData, UnsignedTx};

const GAS: u64 = 300_000;
const FEE: u128 = 3_000_000;
const GRANTER_BALANCE: u128 = 1_000_000_000;

/// A signed payload transaction of the worker for the first open nonce of
/// topic 1, paying `fee` with `granter` named.
fn payload_tx(net: &TestNet, granter: Option<&Address>, fee: u128) -> SignedTx {
    let key = net.key();
    let account = net.account(key.address()).unwrap();
    let nonce = net.open_nonces(1)[0];
    let msg = payload_any(key, 1, nonce, "3012.5").unwrap();
    UnsignedTx::new(vec![msg])
        .sign(
            key,
            &SignerData::new(net.chain_id(), account.account_number, account.sequence),
            &Fee::uallo(fee, GAS).with_granter(granter.cloned()),
        )
        .unwrap()
}

async fn net(granter: &WorkerKey, grant: Option<BasicAllowance>) -> TestNet {
    let granter_address = granter.address().clone();
    let worker = test_key(7).unwrap();
    let worker_address = worker.address().clone();
    let net = TestNet::builder(worker)
        .manual_blocks()
        .topics([1], 2, 2)
        .devnet(move |d| {
            let d = d.account(AccountConfig::new(granter_address.clone(), GRANTER_BALANCE));
            match grant {
                Some(allowance) => {
                    d.fee_grant(FeeGrant::new(granter_address, worker_address, allowance))
                }
                None => d,
            }
        })
        .start()
        .await
        .unwrap();
    net.produce_blocks_until(2).await;
    net
}

/// The log of a fee `granter` does not pay for the worker of `net`, for
/// `reason` (the ante handler's wrapping of the feegrant keeper's error).
fn escrow_refusal(net: &TestNet, granter: &WorkerKey, reason: &str) -> String {
    format!(
        "error escrowing funds: {} does not allow to pay fees for {}: {reason}",
        granter.address(),
        net.address()
    )
}

#[tokio::test]
async fn a_granted_fee_comes_from_the_granter_and_lowers_the_allowance() {
    let granter = test_key(9).unwrap();
    let net = net(&granter, Some(BasicAllowance::spend_limit(10 * FEE))).await;
    let worker_before = net.account(net.address()).unwrap().balance;
    let ch = channel(&net).await.unwrap();
    let tx = payload_tx(&net, Some(granter.address()), FEE);
    let result = deliver(&net, &ch, &tx).await.unwrap();
    assert_eq!(result.code, 0, "{}", result.raw_log);
    assert_eq!(
        net.account(granter.address()).unwrap().balance,
        GRANTER_BALANCE - FEE
    );
    // The worker pays only the data fee of its payload.
    let data_fee = allora_devnet::DEFAULT_DATA_SENDING_FEE;
    assert_eq!(
        net.account(net.address()).unwrap().balance,
        worker_before - data_fee
    );
    assert_eq!(
        net.fee_allowance(granter.address(), net.address()),
        Some(BasicAllowance::spend_limit(9 * FEE))
    );
    // The query service reports the same.
    let client = ChainClient::new(net.client_config()).unwrap();
    let allowance = client
        .fee_allowance(granter.address(), net.address())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(allowance.spend_limit_uallo, Some(9 * FEE));
    assert_eq!(
        allowance.type_url,
        "/cosmos.feegrant.v1beta1.BasicAllowance"
    );
    assert_eq!(allowance.granter, granter.address().as_str());
    // A fee over what is left is refused with feegrant code 2.
    let too_much = payload_tx(&net, Some(granter.address()), 10 * FEE);
    let refused = broadcast(&ch, too_much.to_bytes()).await.unwrap();
    assert_eq!((refused.codespace.as_str(), refused.code), ("feegrant", 2));
    assert_eq!(
        refused.raw_log,
        escrow_refusal(&net, &granter, "basic allowance: fee limit exceeded")
    );
}

#[tokio::test]
async fn without_a_grant_the_transaction_is_refused_at_check_tx_and_nothing_is_spent() {
    let granter = test_key(9).unwrap();
    let net = net(&granter, None).await;
    let worker_before = net.account(net.address()).unwrap();
    let ch = channel(&net).await.unwrap();
    let tx = payload_tx(&net, Some(granter.address()), FEE);
    let refused = broadcast(&ch, tx.to_bytes()).await.unwrap();
    assert_eq!((refused.codespace.as_str(), refused.code), ("sdk", 38));
    assert_eq!(
        refused.raw_log,
        escrow_refusal(&net, &granter, "fee-grant not found: not found")
    );
    net.produce_block().await;
    assert_eq!(net.account(net.address()).unwrap(), worker_before);
    assert_eq!(
        net.account(granter.address()).unwrap().balance,
        GRANTER_BALANCE
    );
    assert!(net.submissions().is_empty());
    // The query answers "no grant".
    let client = ChainClient::new(net.client_config()).unwrap();
    assert_eq!(
        client
            .fee_allowance(granter.address(), net.address())
            .await
            .unwrap(),
        None
    );
    // Naming itself as granter, the signer simply pays.
    let own = payload_tx(&net, Some(net.address()), FEE);
    assert_eq!(deliver(&net, &ch, &own).await.unwrap().code, 0);
}

#[tokio::test]
async fn an_allowance_expiring_before_the_block_refuses_in_the_block_then_is_pruned() {
    let granter = test_key(9).unwrap();
    let expires = SystemTime::now() + Duration::from_millis(300);
    let net = net(
        &granter,
        Some(BasicAllowance::unlimited().expiring_at(expires)),
    )
    .await;
    let ch = channel(&net).await.unwrap();
    // Checked against the last block's time: still valid.
    let tx = payload_tx(&net, Some(granter.address()), FEE);
    let checked = broadcast(&ch, tx.to_bytes()).await.unwrap();
    assert_eq!(checked.code, 0, "{}", checked.raw_log);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Delivered in a block after the expiration: refused, nothing charged.
    let worker_before = net.account(net.address()).unwrap().balance;
    net.produce_block().await;
    let included = net.included_tx(tx.hash()).unwrap();
    assert_eq!(
        (included.codespace.as_str(), included.code),
        ("feegrant", 3)
    );
    assert!(
        included
            .raw_log
            .ends_with("basic allowance: fee allowance expired"),
        "{}",
        included.raw_log
    );
    assert_eq!(net.account(net.address()).unwrap().balance, worker_before);
    assert_eq!(
        net.account(granter.address()).unwrap().balance,
        GRANTER_BALANCE
    );
    // The block's end pruned it: the next transaction finds no grant.
    assert_eq!(net.fee_allowance(granter.address(), net.address()), None);
    // (Another fee, so not the same bytes as the one included.)
    let again = payload_tx(&net, Some(granter.address()), FEE + 1);
    let refused = broadcast(&ch, again.to_bytes()).await.unwrap();
    assert_eq!((refused.codespace.as_str(), refused.code), ("sdk", 38));
}

#[tokio::test]
async fn grants_are_made_and_revoked_through_the_handle() {
    let granter = test_key(9).unwrap();
    let net = net(&granter, None).await;
    let grant = FeeGrant::new(
        granter.address().clone(),
        net.address().clone(),
        BasicAllowance::spend_limit(FEE),
    );
    net.grant_fee_allowance(grant.clone()).unwrap();
    assert!(
        net.grant_fee_allowance(grant).is_err(),
        "one allowance per pair"
    );
    let ch = channel(&net).await.unwrap();
    // Spent exactly: the allowance is used up and removed.
    let tx = payload_tx(&net, Some(granter.address()), FEE);
    assert_eq!(deliver(&net, &ch, &tx).await.unwrap().code, 0);
    assert_eq!(net.fee_allowance(granter.address(), net.address()), None);
    net.grant_fee_allowance(FeeGrant::new(
        granter.address().clone(),
        net.address().clone(),
        BasicAllowance::unlimited(),
    ))
    .unwrap();
    assert!(net.revoke_fee_allowance(granter.address(), net.address()));
    assert!(!net.revoke_fee_allowance(granter.address(), net.address()));
}
