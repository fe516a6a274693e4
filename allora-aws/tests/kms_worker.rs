//! The real `Worker` with its key in KMS, against the devnet: payloads and
//! transactions signed by KMS are included; answers that do not verify are
//! caught before anything is broadcast.
//!
//! As in `kms_signer.rs`, `MessageType=RAW` runs against moto 5.2.5 (its
//! `DIGEST` signing hashes the digest once more) with a small batch, whose
//! sign doc stays under RAW's 4096 bytes; `MessageType=DIGEST`, what a real
//! worker uses, runs against the loopback fake of the KMS API with a batch
//! whose sign doc is far over that limit.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_kms.rs"]
mod fake_kms;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use allora_aws::kms::{KmsKeySource, KmsMessageType, KmsSigner, RAW_MESSAGE_LIMIT};
use allora_devnet::fixtures::{run_worker, run_worker_until, test_key, TestNet, TestNetBuilder};
use allora_sdk::key_source::{KeySource, WorkerSigner};
use allora_sdk::keys::PublicKey;
use allora_sdk::signer::{RawSignature, SharedSigner, SignRequest, Signer, SignerError};
use allora_sdk::worker::{Outcome, Submission, WorkerError};
use fake_kms::{Behaviour, Fake};
use k256::ecdsa::Signature;
use support::moto_with_kms_key;

const EPOCH: i64 = 10;
const WINDOW: i64 = 5;

/// The transaction signature of `TxRaw` bytes: its last field, one
/// 64-byte signature (tag 0x1a, length 0x40).
fn tx_signature(tx_bytes: &[u8]) -> [u8; 64] {
    let at = tx_bytes.len() - 64;
    assert_eq!(
        &tx_bytes[at - 2..at],
        &[0x1a, 0x40],
        "one 64-byte signature"
    );
    tx_bytes[at..].try_into().unwrap()
}

/// A devnet whose worker (key 1) signs with `signer`, in `topics` of epoch
/// `EPOCH` and window `WINDOW`.
fn signed_by(signer: &SharedSigner, topics: impl IntoIterator<Item = u64>) -> TestNetBuilder {
    TestNet::builder(test_key(1).unwrap())
        .signer(signer.clone())
        .topics(topics, EPOCH, WINDOW)
}

fn is_low_s(signature: &[u8]) -> bool {
    Signature::from_slice(signature)
        .unwrap()
        .normalize_s()
        .is_none()
}

/// Checks that each served window is the signer's payload on the devnet, in
/// a transaction the devnet included, signed low-S; returns the distinct
/// transactions' raw bytes.
fn check_included(net: &TestNet, signer: &SharedSigner, served: &[Submission]) -> Vec<Vec<u8>> {
    let mut txs = BTreeSet::new();
    for s in served {
        assert_eq!(s.outcome, Outcome::Included, "{s:?}");
        assert!(
            net.submission(s.topic_id, s.nonce, signer.address())
                .is_some(),
            "topic {} nonce {} is not on the devnet",
            s.topic_id,
            s.nonce
        );
        txs.insert(s.txhash.clone().unwrap());
    }
    txs.iter()
        .map(|hash| {
            let tx = net.included_tx(hash).unwrap();
            assert_eq!(tx.code, 0, "{}", tx.raw_log);
            assert!(is_low_s(&tx_signature(&tx.tx_bytes)), "{hash} is high-S");
            tx.tx_bytes
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_key_is_in_kms_gets_its_payloads_included() {
    let (_moto, client, arn) = moto_with_kms_key().await;
    // As the binary does: the key source yields a remote signer whose
    // address is the key's.
    let source = KmsKeySource::new(client, &arn).with_message_type(KmsMessageType::Raw);
    assert_eq!(source.describe(), format!("KMS key {arn}"));
    let signer = match source.load().await.unwrap() {
        WorkerSigner::Remote(signer) => signer,
        other => panic!("{other:?}"),
    };
    assert!(signer.needs_verification());

    // Two topics: one transaction per epoch carries both payloads, its sign
    // doc well under RAW's 4096 bytes.
    let net = signed_by(&signer, [1, 2]).start().await.unwrap();
    assert_eq!(net.address(), signer.address());
    let (served, failed) = run_worker(
        net.worker_serving(|r| 100.0 + r.topic_id as f64).unwrap(),
        4,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(served.len(), 4, "two epochs of two topics");
    for tx in check_included(&net, &signer, &served) {
        assert!(tx.len() < RAW_MESSAGE_LIMIT, "{} bytes", tx.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_signing_of_a_large_batch_with_high_s_answers_is_included_low_s() {
    // Every signature the fake answers is the high-S twin of a valid one.
    let fake = Fake::start().await;
    let kms = fake.signer(Behaviour::HighS).await;
    assert_eq!(kms.message_type(), KmsMessageType::Digest);
    let signer = SharedSigner::new(Arc::new(kms)).unwrap();
    const TOPICS: u64 = 30;
    let net = signed_by(&signer, 1..=TOPICS).start().await.unwrap();
    let (served, failed) = run_worker(
        net.worker_serving(|r| 2000.0 + r.topic_id as f64).unwrap(),
        TOPICS as usize,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(served.len(), TOPICS as usize);
    let txs = check_included(&net, &signer, &served);
    // The sign doc (the transaction but its 66-byte signature field, plus
    // the chain id and account number) is far over RAW's limit.
    let largest = txs.iter().map(Vec::len).max().unwrap();
    assert!(largest - 66 > RAW_MESSAGE_LIMIT, "{largest} bytes");
    // Signer calls, all DIGEST: one per payload and one per transaction,
    // plus one more for a transaction whose sequence another one took while
    // both were being signed (batches in flight at once).
    let calls = fake.calls.lock().unwrap().clone();
    let least = served.len() + txs.len();
    assert!(
        (least..least + txs.len()).contains(&calls.len()),
        "{} calls for {} payloads in {} transactions",
        calls.len(),
        served.len(),
        txs.len()
    );
    assert!(calls
        .iter()
        .all(|c| c.message_type == "DIGEST" && c.message.len() == 32));
}

/// A KMS-backed signer whose transaction signatures (sign docs carry the
/// chain id; bundles do not) come back corrupted.
struct CorruptsTransactions {
    inner: KmsSigner,
    chain_id: String,
}

#[async_trait::async_trait]
impl Signer for CorruptsTransactions {
    fn public_key(&self) -> PublicKey {
        self.inner.public_key()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn sign_digest(&self, request: &SignRequest<'_>) -> Result<RawSignature, SignerError> {
        let mut signature = self.inner.sign_digest(request).await?;
        let chain_id = self.chain_id.as_bytes();
        if request
            .message()
            .windows(chain_id.len())
            .any(|w| w == chain_id)
        {
            signature[40] ^= 0x01;
        }
        Ok(signature)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_that_do_not_verify_never_reach_the_devnet() {
    let fake = Fake::start().await;
    let chain_id = "allora-kms-refusals";
    let cases: Vec<(&str, Arc<dyn Signer>)> = vec![
        (
            "corrupted",
            Arc::new(fake.signer(Behaviour::Corrupted).await),
        ),
        (
            "another key than the public key",
            Arc::new(fake.signer(Behaviour::WrongKey).await),
        ),
        (
            "corrupted transaction signature",
            Arc::new(CorruptsTransactions {
                inner: fake.signer(Behaviour::Honest).await,
                chain_id: chain_id.to_owned(),
            }),
        ),
    ];
    for (case, kms) in cases {
        let signer = SharedSigner::new(kms).unwrap();
        let net = signed_by(&signer, [1, 2])
            .chain_id(chain_id)
            .start()
            .await
            .unwrap();
        // A window of each topic.
        let (served, failed) = run_worker_until(
            net.worker_serving(|r| 7.0 + r.topic_id as f64).unwrap(),
            Duration::from_secs(60),
            |_, f| f.len() >= 2,
        )
        .await
        .unwrap();
        assert!(served.is_empty(), "{case}: {served:?}");
        assert!(failed.len() >= 2, "{case}: {failed:?}");
        for error in &failed {
            assert_eq!(error.kind(), "signer_unverified", "{case}: {error}");
            assert!(
                matches!(error, WorkerError::Signer { source: SignerError::Unverified { public_key, .. }, .. }
                    if *public_key == fake.key.public_key().to_hex()),
                "{case}: {error:?}"
            );
            assert!(error.window().is_some(), "{case}: {error}");
        }
        // Nothing was broadcast: no BroadcastTx call, the sequence unused.
        assert_eq!(net.broadcasts_received(), 0, "{case}");
        assert_eq!(net.account(signer.address()).unwrap().sequence, 0, "{case}");
        assert!(net.submissions().is_empty(), "{case}");
    }
}
