//! The KMS signer against moto (a real `ECC_SECG_P256K1` key, `RAW`
//! signing) and against a loopback fake of the KMS API (`DIGEST` signing,
//! and a KMS that misbehaves), then a worker key that lives in KMS getting
//! its payload included on the devnet.
//!
//! Why two servers: moto 5.2.5 signs `sha256(message)` correctly for
//! `MessageType=RAW`, but for `MessageType=DIGEST` it hashes the 32-byte
//! digest once more and signs `sha256(digest)`, which no verifier accepts.
//! Real KMS signs the digest as given, and the signer uses `DIGEST` by
//! default (a sign doc carrying many payloads exceeds the 4096-byte `RAW`
//! limit). So `RAW` is exercised against moto, `DIGEST` against a fake that
//! answers `TrentService.GetPublicKey` and `TrentService.Sign` the way KMS
//! does, with signatures from a key the test knows; and moto's `DIGEST`
//! answers are used as what they are, wrong signatures that the
//! verification step must catch.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_kms.rs"]
mod fake_kms;
mod support;

use std::time::Duration;

use allora_aws::kms::{public_key_from_spki, KmsMessageType, KmsSigner, RAW_MESSAGE_LIMIT};
use allora_devnet::fixtures::{channel, deliver, test_key, TestNet};
use allora_devnet::AccountConfig;
use allora_sdk::payload::WorkerPayload;
use allora_sdk::signer::{
    checked_signature, sign_verified, SignError, SignRequest, Signer, SignerError,
};
use allora_sdk::tx::{Fee, SignerData, UnsignedTx};
use aws_sdk_kms::types::KeySpec;
use fake_kms::{Behaviour, Fake};
use k256::ecdsa::Signature;
use sha2::{Digest, Sha256};
use support::{create_kms_key, kms_public_key, moto_with_kms_key};
use tokio::time::Instant;

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn is_high_s(signature: &[u8; 64]) -> bool {
    Signature::from_slice(signature)
        .unwrap()
        .normalize_s()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moto_key_gives_the_address_and_verified_raw_signatures() {
    let (_moto, client, arn) = moto_with_kms_key().await;
    client
        .create_alias()
        .alias_name("alias/allora-worker")
        .target_key_id(&arn)
        .send()
        .await
        .unwrap();

    // The public key, read independently, is the one the signer derives the
    // worker address from, whichever way the key is named.
    let der = kms_public_key(&client, &arn).await;
    let expected = public_key_from_spki(&der).unwrap();
    let key_id = arn.rsplit('/').next().unwrap().to_owned();
    for name in [arn.as_str(), key_id.as_str(), "alias/allora-worker"] {
        let signer = KmsSigner::connect(client.clone(), name).await.unwrap();
        assert_eq!(signer.public_key(), expected, "{name}");
        assert_eq!(signer.address(), &expected.address().unwrap(), "{name}");
        assert!(signer.address().as_str().starts_with("allo1"));
        assert_eq!(signer.describe(), format!("KMS key {name}"));
        assert_eq!(signer.message_type(), KmsMessageType::Digest);
    }

    let signer = KmsSigner::connect(client.clone(), "alias/allora-worker")
        .await
        .unwrap()
        .with_message_type(KmsMessageType::Raw);

    // A payload signed through KMS verifies against the key's public key and
    // carries it.
    let signed = WorkerPayload::inference(7, 100, "3.25".parse().unwrap())
        .sign_with(&signer, soon())
        .await
        .unwrap();
    expected
        .verify(signed.bundle_bytes(), signed.signature())
        .unwrap();
    let bundle = signed.message().worker_data_bundle.as_ref().unwrap();
    assert_eq!(bundle.pubkey, expected.to_hex());
    assert_eq!(bundle.worker, signer.address().as_str());

    // KMS signatures are randomised and moto does not normalise S: the raw
    // answers include high-S signatures, which come out low-S and verified.
    let mut high_s_seen = 0;
    for i in 0..64u32 {
        let message = format!("sign doc {i}");
        let request = SignRequest::new(message.as_bytes());
        let raw = signer.sign_digest(&request).await.unwrap();
        let checked = checked_signature(&signer, request.digest(), &raw).unwrap();
        expected.verify(message.as_bytes(), &checked).unwrap();
        assert!(!is_high_s(&checked));
        if is_high_s(&raw) {
            high_s_seen += 1;
            if high_s_seen == 2 {
                break;
            }
        }
    }
    assert_eq!(high_s_seen, 2, "moto answered no high-S signature in 64");

    // RAW takes at most 4096 bytes: longer messages are refused up front.
    let big = vec![7u8; RAW_MESSAGE_LIMIT + 1];
    let err = sign_verified(&signer, &big, soon()).await.unwrap_err();
    assert!(
        matches!(&err, SignerError::Unsupported { reason, .. } if reason.contains("4096")),
        "{err:?}"
    );
    sign_verified(&signer, &big[..RAW_MESSAGE_LIMIT], soon())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_digest_answers_and_unusable_keys_are_refused() {
    let (_moto, client, arn) = moto_with_kms_key().await;

    // moto 5.2.5 signs sha256(digest) for MessageType=DIGEST (real KMS signs
    // the digest). That is a signature over other bytes, and the
    // verification step refuses it: nothing unverified comes out.
    let signer = KmsSigner::connect(client.clone(), &arn).await.unwrap();
    let err = WorkerPayload::inference(7, 100, "3.25".parse().unwrap())
        .sign_with(&signer, soon())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SignError::Signer(SignerError::Unverified { public_key, .. })
            if *public_key == signer.public_key().to_hex()),
        "{err:?}"
    );

    // A P-256 signing key is not a worker key.
    let p256 = create_kms_key(&client, KeySpec::EccNistP256).await;
    let err = KmsSigner::connect(client.clone(), &p256).await.unwrap_err();
    assert!(
        matches!(&err, SignerError::PublicKey { reason, .. } if reason.contains("ECC_NIST_P256")),
        "{err:?}"
    );

    // An unknown key is a refusal that says what to check.
    let err = KmsSigner::connect(client.clone(), "alias/nobody")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SignerError::Refused { code, reason, .. }
            if code == "NotFoundException" && reason.contains("check the key id")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_signing_through_a_kms_fake_is_byte_identical_to_the_local_key() {
    let fake = Fake::start().await;
    let signer = fake.signer(Behaviour::Honest).await;
    assert_eq!(signer.public_key(), fake.key.public_key());
    assert_eq!(signer.resolved_key_id(), Behaviour::Honest.arn());

    let payload = WorkerPayload::inference(3, 50, "0.125".parse().unwrap());
    let signed = payload.sign_with(&signer, soon()).await.unwrap();
    // The fake signs with RFC 6979, so the bytes equal the local path's.
    assert_eq!(signed, payload.sign(&fake.key).unwrap());
    let call = fake.last_call();
    assert_eq!(call.key_id, Behaviour::Honest.arn(), "Sign names the ARN");
    assert_eq!(call.message_type, "DIGEST");
    assert_eq!(call.algorithm, "ECDSA_SHA_256");
    assert_eq!(
        call.message,
        Sha256::digest(signed.bundle_bytes()).to_vec(),
        "KMS is sent sha256(bundle bytes)"
    );

    // A sign doc far over RAW's 4096 bytes: 60 payloads in one transaction.
    let anys: Vec<_> = (1..=60)
        .map(|topic| {
            WorkerPayload::inference(topic, 50, "0.125".parse().unwrap())
                .sign(&fake.key)
                .unwrap()
                .to_any()
        })
        .collect();
    let unsigned = UnsignedTx::new(anys);
    let data = SignerData::new("allora-devnet-1", 4, 2);
    let fee = Fee::uallo(900_000, 3_000_000);
    let doc = unsigned
        .sign_doc_bytes(fake.key.public_key(), &data, &fee)
        .unwrap();
    assert!(doc.len() > RAW_MESSAGE_LIMIT, "{} bytes", doc.len());
    let tx = unsigned
        .sign_with(&signer, &data, &fee, soon())
        .await
        .unwrap();
    assert_eq!(tx, unsigned.sign(&fake.key, &data, &fee).unwrap());

    // The same transaction with RAW is refused before any call.
    let before = fake.calls.lock().unwrap().len();
    let raw = signer.clone().with_message_type(KmsMessageType::Raw);
    let err = unsigned
        .sign_with(&raw, &data, &fee, soon())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SignError::Signer(SignerError::Unsupported { .. })),
        "{err:?}"
    );
    assert_eq!(fake.calls.lock().unwrap().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_kms_never_yields_an_unverified_signature() {
    let fake = Fake::start().await;
    let message = b"a sign doc";

    // High-S: normalised, then verified.
    let sig = sign_verified(&fake.signer(Behaviour::HighS).await, message, soon())
        .await
        .unwrap();
    assert_eq!(sig, fake.key.sign(message));

    // A corrupted signature and a signature by another key than the public
    // key names are caught before use.
    for behaviour in [Behaviour::Corrupted, Behaviour::WrongKey] {
        let signer = fake.signer(behaviour).await;
        let err = sign_verified(&signer, message, soon()).await.unwrap_err();
        assert!(
            matches!(&err, SignerError::Unverified { signer: name, public_key, .. }
                if name == &format!("KMS key {}", behaviour.key_id())
                    && *public_key == fake.key.public_key().to_hex()),
            "{behaviour:?}: {err:?}"
        );
    }

    // An answer that is no signature, a refusal and throttling: each its
    // own error, and only throttling worth another try.
    type Expected = fn(&SignerError) -> bool;
    let cases: [(Behaviour, Expected, bool); 3] = [
        (
            Behaviour::NotDer,
            |err| matches!(err, SignerError::Malformed { reason, .. } if reason.contains("DER")),
            false,
        ),
        (
            Behaviour::Denied,
            |err| {
                matches!(err, SignerError::Refused { code, reason, .. }
                    if code == "AccessDeniedException" && reason.contains("kms:Sign"))
            },
            false,
        ),
        (
            Behaviour::Throttled,
            |err| {
                matches!(err, SignerError::Unavailable { reason, .. }
                    if reason.contains("ThrottlingException"))
            },
            true,
        ),
    ];
    for (behaviour, expected, retryable) in cases {
        let err = sign_verified(&fake.signer(behaviour).await, message, soon())
            .await
            .unwrap_err();
        assert!(expected(&err), "{behaviour:?}: {err:?}");
        assert_eq!(err.is_retryable(), retryable, "{behaviour:?}: {err:?}");
    }

    // A KMS that answers after the deadline: a timeout, nothing signed.
    let slow = fake.signer(Behaviour::Slow).await;
    let started = Instant::now();
    let err = sign_verified(&slow, message, started + Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Keys that are not secp256k1 are refused when the signer is built.
    for behaviour in [Behaviour::P256, Behaviour::LyingSpec] {
        let err = KmsSigner::connect(fake.client.clone(), behaviour.key_id())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SignerError::PublicKey { .. }),
            "{behaviour:?}: {err:?}"
        );
    }
    let err = KmsSigner::connect(fake.client.clone(), "missing")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SignerError::Refused { code, .. } if code == "NotFoundException"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_signed_in_kms_are_included_on_the_devnet() {
    const TOPIC: u64 = 1;
    let (_moto, client, arn) = moto_with_kms_key().await;
    let moto_signer = KmsSigner::connect(client, &arn)
        .await
        .unwrap()
        .with_message_type(KmsMessageType::Raw);
    let fake = Fake::start().await;
    let fake_signer = fake.signer(Behaviour::HighS).await;

    // Both KMS addresses funded and registered in the topic.
    let signers: [&KmsSigner; 2] = [&moto_signer, &fake_signer];
    let mut builder = TestNet::builder(test_key(1).unwrap())
        .manual_blocks()
        .topics([TOPIC], 10, 5);
    for signer in signers {
        let address = signer.address().clone();
        builder = builder.devnet(|d| {
            d.account(AccountConfig::new(address.clone(), 10_000_000_000))
                .worker(TOPIC, address)
        });
    }
    let net = builder.start().await.unwrap();
    let grpc = channel(&net).await.unwrap();
    for _ in 0..30 {
        if !net.open_nonces(TOPIC).is_empty() {
            break;
        }
        net.produce_block().await;
    }
    let nonce = *net.open_nonces(TOPIC).first().expect("an open nonce");

    for (signer, value) in signers.into_iter().zip(["11.5", "12.5"]) {
        let address = signer.address();
        let payload = WorkerPayload::inference(TOPIC, nonce, value.parse().unwrap())
            .sign_with(signer, soon())
            .await
            .unwrap();
        let account = net.account(address).unwrap();
        let data = SignerData::new(net.chain_id(), account.account_number, account.sequence);
        let tx = UnsignedTx::new(vec![payload.to_any()])
            .sign_with(signer, &data, &Fee::uallo(5_000_000, 400_000), soon())
            .await
            .unwrap();
        let result = deliver(&net, &grpc, &tx).await.unwrap();
        assert_eq!(result.code, 0, "{}: {}", signer.describe(), result.raw_log);
        let submission = net
            .submission(TOPIC, nonce, address)
            .unwrap_or_else(|| panic!("{}: no submission recorded", signer.describe()));
        assert_eq!(submission.tx_hash, tx.hash());
        assert!(
            format!("{:?}", submission.inference).contains(value),
            "{submission:?}"
        );
    }
}
