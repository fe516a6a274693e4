//! The transaction pipeline against the devnet: each rejection kind is met
//! for real and handled as documented.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use allora_devnet::fixtures::{payload_any, test_key, TestNet};
use allora_devnet::BlockMode;
use allora_sdk::client::{ChainError, TxErrorKind, TxStage};
use allora_sdk::keys::{PublicKey, WorkerKey};
use allora_sdk::pipeline::{
    never_broadcast, GasMode, GasPolicy, GasPriceSource, Included, PipelineConfig, SubmitError,
    TxPipeline,
};
use allora_sdk::proto::Any;
use allora_sdk::signer::{RawSignature, SharedSigner, SignRequest, Signer, SignerError};
use allora_sdk::tx::{FeeTier, GasPrice};
use tokio::time::Instant;

const CHAIN_ID: &str = "allora-pipeline-test";

fn key() -> WorkerKey {
    test_key(5).unwrap()
}

/// Topics 1 and 2 (epoch 20, window 20) on 100 ms blocks, the worker
/// registered in both, once topic 1 has an open nonce.
async fn devnet(min_price: u64) -> TestNet {
    let builder = TestNet::builder(key())
        .chain_id(CHAIN_ID)
        .block_interval(Duration::from_millis(100))
        .topics([1, 2], 20, 20)
        .devnet(|d| d.min_gas_price(GasPrice::from_uallo(min_price)));
    assert!(matches!(
        builder.build().config().block_mode,
        BlockMode::Timed(_)
    ));
    let devnet = builder.start().await.unwrap();
    while devnet.open_nonces(1).is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    devnet
}

fn pipeline(devnet: &TestNet, config: PipelineConfig) -> TxPipeline {
    TxPipeline::new(devnet.client().unwrap(), Arc::new(key()), config)
}

/// The chain's refusal `err` reports, and the message it names.
fn rejected(err: SubmitError) -> (ChainError, Option<usize>) {
    match err {
        SubmitError::Rejected {
            error,
            message_index,
        } => (error, message_index),
        other => panic!("not a refusal by the chain: {other:?}"),
    }
}

/// The eco tier at a static 10 uallo per gas.
fn eco_at_10_uallo() -> PipelineConfig {
    let mut config = PipelineConfig::new(CHAIN_ID);
    config.gas_price = GasPriceSource::Static(GasPrice::from_uallo(10));
    config.tier = FeeTier::Eco;
    config
}

fn payload(topic: u64, nonce: i64) -> Any {
    payload_any(&key(), topic, nonce, "3.5").unwrap()
}

fn deadlines() -> (Instant, Instant) {
    let now = Instant::now();
    (now + Duration::from_secs(4), now + Duration::from_secs(6))
}

/// Submits `messages` through `p`, sent within 4 s and confirmed within 6 s.
async fn send(p: &TxPipeline, messages: Vec<Any>) -> Result<Included, SubmitError> {
    let (send_by, confirm_by) = deadlines();
    p.submit(messages, send_by, confirm_by).await
}

/// [`send`], with the gas found as `gas` says.
async fn send_with(
    p: &TxPipeline,
    messages: Vec<Any>,
    gas: GasMode,
) -> Result<Included, SubmitError> {
    let (send_by, confirm_by) = deadlines();
    p.submit_with(messages, send_by, confirm_by, gas).await
}

#[tokio::test]
async fn sequence_bumped_behind_our_back_is_recovered_at_once() {
    let devnet = devnet(10).await;
    let p = pipeline(&devnet, PipelineConfig::new(CHAIN_ID));
    let nonce = devnet.open_nonces(1)[0];
    let first = send(&p, vec![payload(1, nonce)]).await.unwrap();
    assert_eq!(first.attempts, 1);

    // Someone else uses the account: our local sequence is now stale.
    devnet.bump_sequence(key().address()).unwrap();
    let second = send(&p, vec![payload(2, nonce)]).await.unwrap();
    assert_eq!(second.attempts, 2, "one rejected attempt, then the resend");
    assert!(devnet.submission(2, nonce, key().address()).is_some());
}

#[tokio::test]
async fn out_of_gas_raises_the_limit_and_resends() {
    let devnet = devnet(10).await;
    let mut config = PipelineConfig::new(CHAIN_ID);
    // Far too little gas, and simulation pretends to need almost none.
    config.gas = GasPolicy {
        adjustment: 0.01,
        min_gas: 1_000,
        out_of_gas_bump: 4.0,
        ..GasPolicy::default()
    };
    let p = pipeline(&devnet, config);
    let nonce = devnet.open_nonces(1)[0];
    let included = send(&p, vec![payload(1, nonce)]).await.unwrap();
    assert!(
        included.attempts > 1,
        "expected a resend after running out of gas"
    );
    let txs = devnet.included_txs();
    assert!(
        txs.iter().any(|t| t.code == 11),
        "an out-of-gas tx was included"
    );
}

#[tokio::test]
async fn a_fee_below_the_minimum_is_raised_in_one_step_to_what_the_chain_requires() {
    let devnet = devnet(20).await;
    // Eco at 10 uallo/gas pays half of what the chain wants; its answer
    // names the fee it requires, which the next attempt pays exactly.
    let p = pipeline(&devnet, eco_at_10_uallo());
    let nonce = devnet.open_nonces(1)[0];
    let included = send(&p, vec![payload(1, nonce)]).await.unwrap();
    assert_eq!(included.attempts, 2, "one refusal, one raise");
    assert_eq!(
        included.fee.amount,
        u128::from(included.fee.gas_limit) * 20,
        "ceil(20 uallo × gas limit)"
    );
    // The next transaction pays it at once.
    while devnet.open_nonces(2).is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let next = devnet.open_nonces(2)[0];
    let again = send(&p, vec![payload(2, next)]).await.unwrap();
    assert_eq!(again.attempts, 1);
}

#[tokio::test]
async fn a_fee_above_the_maximum_is_refused_without_paying() {
    let devnet = devnet(20).await;
    let mut config = eco_at_10_uallo();
    config.max_fee = Some(1_000);
    let p = pipeline(&devnet, config);
    let before = devnet.account(devnet.address()).unwrap().balance;
    let nonce = devnet.open_nonces(1)[0];
    let err = send(&p, vec![payload(1, nonce)]).await.unwrap_err();
    let (required, maximum) = match err {
        allora_sdk::pipeline::SubmitError::FeeAboveMaximum { required, maximum } => {
            (required, maximum)
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(maximum, 1_000);
    assert!(required > maximum && required % 20 == 0, "{required}");
    // Refused at CheckTx (free), then known: not sent again.
    let err = send(&p, vec![payload(1, nonce)]).await.unwrap_err();
    assert!(err.to_string().contains("fee above maximum"), "{err}");
    assert!(devnet.included_txs().is_empty());
    assert_eq!(devnet.account(devnet.address()).unwrap().balance, before);
}

#[tokio::test]
async fn the_feemarket_price_is_used_when_asked() {
    let devnet = devnet(25).await;
    let mut config = PipelineConfig::new(CHAIN_ID);
    config.gas_price = GasPriceSource::Feemarket {
        multiplier_percent: 100,
        cache_for: Duration::from_secs(30),
        fallback: GasPrice::from_uallo(1),
    };
    config.tier = FeeTier::Eco;
    let p = pipeline(&devnet, config);
    let nonce = devnet.open_nonces(1)[0];
    let included = send(&p, vec![payload(1, nonce)]).await.unwrap();
    assert_eq!(
        included.attempts, 1,
        "the feemarket price is accepted first time"
    );
}

#[tokio::test]
async fn a_failing_message_is_named_and_nothing_is_paid_for_it() {
    let devnet = devnet(10).await;
    let p = pipeline(&devnet, PipelineConfig::new(CHAIN_ID));
    let nonce = devnet.open_nonces(1)[0];
    send(&p, vec![payload(1, nonce)]).await.unwrap();
    let balance = devnet.account(key().address()).unwrap().balance;

    // Topic 1 again (already submitted) batched with a fresh topic 2 payload:
    // simulation names message 0 and no transaction is sent.
    let err = send(&p, vec![payload(1, nonce), payload(2, nonce)])
        .await
        .unwrap_err();
    let (error, message_index) = rejected(err);
    assert_eq!(error.kind(), TxErrorKind::AlreadySubmitted);
    assert_eq!(message_index, Some(0));
    assert_eq!(devnet.account(key().address()).unwrap().balance, balance);
}

#[tokio::test]
async fn concurrent_transactions_each_get_a_sequence_and_go_through_once() {
    let devnet = devnet(10).await;
    let p = pipeline(&devnet, PipelineConfig::new(CHAIN_ID));
    let nonce = devnet.open_nonces(1)[0];
    // Two transactions at once: their simulations run outside the account's
    // lock and overlap; each still gets its own sequence and goes through at
    // the first attempt.
    let sends = [1, 2].map(|topic| {
        let p = p.clone();
        tokio::spawn(async move { send(&p, vec![payload(topic, nonce)]).await })
    });
    for sent in sends {
        let included = sent.await.unwrap().unwrap();
        assert_eq!(included.attempts, 1);
    }
    assert!(devnet.submission(1, nonce, key().address()).is_some());
    assert!(devnet.submission(2, nonce, key().address()).is_some());
}

#[tokio::test]
async fn routine_transactions_reuse_simulated_gas_and_meet_refusals_in_the_block() {
    let devnet = devnet(10).await;
    let p = pipeline(&devnet, PipelineConfig::new(CHAIN_ID));
    let nonce = devnet.open_nonces(1)[0];
    // Nothing remembered yet: simulated, and its gas remembered.
    let first = send_with(&p, vec![payload(1, nonce)], GasMode::ReuseRecent)
        .await
        .unwrap();
    let balance = devnet.account(key().address()).unwrap().balance;

    // The same payload again, as a routine transaction: no simulation, so
    // the chain's refusal comes in the block, fee paid, message named.
    let err = send_with(&p, vec![payload(1, nonce)], GasMode::ReuseRecent)
        .await
        .unwrap_err();
    let (error, message_index) = rejected(err);
    assert_eq!(error.stage, TxStage::DeliverTx);
    assert_eq!(error.kind(), TxErrorKind::AlreadySubmitted);
    assert_eq!(message_index, Some(0));
    let failed = devnet
        .included_txs()
        .into_iter()
        .find(|t| t.code != 0)
        .expect("the refused transaction is in a block");
    // It carried the remembered gas, not a new simulation's.
    assert_eq!(failed.gas_wanted, first.fee.gas_limit);
    assert!(devnet.account(key().address()).unwrap().balance < balance);
}

/// A signer outside the process (its signatures are verified) whose first
/// transaction signature never comes.
struct HangsOnce {
    key: WorkerKey,
    hung: AtomicBool,
}

#[async_trait::async_trait]
impl Signer for HangsOnce {
    fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    async fn sign_digest(&self, request: &SignRequest<'_>) -> Result<RawSignature, SignerError> {
        let sign_doc = request
            .message()
            .windows(CHAIN_ID.len())
            .any(|w| w == CHAIN_ID.as_bytes());
        if sign_doc && !self.hung.swap(true, Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        self.key.sign_digest(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_signer_holds_up_no_other_transaction_and_fails_its_own_cleanly() {
    let devnet = devnet(10).await;
    let signer = SharedSigner::new(Arc::new(HangsOnce {
        key: key(),
        hung: AtomicBool::new(false),
    }))
    .unwrap();
    let p = TxPipeline::new(
        devnet.client().unwrap(),
        signer,
        PipelineConfig::new(CHAIN_ID),
    );
    let nonce = devnet.open_nonces(1)[0];
    let started = Instant::now();
    let hung = tokio::spawn({
        let p = p.clone();
        let send_by = started + Duration::from_millis(2500);
        async move {
            p.submit(
                vec![payload(1, nonce)],
                send_by,
                send_by + Duration::from_secs(1),
            )
            .await
        }
    });
    // The first transaction is being signed (and will not be): another one
    // of the same account goes through meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let other = send(&p, vec![payload(2, nonce)]).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "waited for the hung signature: {:?}",
        started.elapsed()
    );
    assert!(!hung.is_finished());
    assert!(devnet.submission(2, nonce, key().address()).is_some());
    assert_eq!(other.attempts, 1);

    // The hung one ends at its deadline, as a signer timeout, unsent.
    let err = hung.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, SubmitError::Signer(SignerError::Timeout { signer, .. }) if signer.ends_with("::HangsOnce")),
        "{err:?}"
    );
    assert!(never_broadcast(&err));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(devnet.submission(1, nonce, key().address()).is_none());
    assert_eq!(devnet.account(key().address()).unwrap().sequence, 1);
}
