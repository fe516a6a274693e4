//! The HTTP remote signer against a loopback signing service: honest, late,
//! garbage, high-S, wrong-key and refusing services. Only verified
//! signatures ever come out. Then the real `Worker` signing through it on the
//! devnet, where one late answer fails one window and nothing else.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use allora_devnet::fixtures::{run_worker_until, test_key, TestNet};

use allora_sdk::keys::WorkerKey;
use allora_sdk::payload::WorkerPayload;
use allora_sdk::signer::{
    sign_verified, RemoteSigner, SharedSigner, SignError, Signer, SignerError,
};
use allora_sdk::tx::{Fee, SignerData, UnsignedTx};
use allora_sdk::worker::{Outcome, WorkerError};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use k256::ecdsa::Signature;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

const TOKEN: &str = "t0ken-only-the-signer-knows";

/// One call the service saw.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    digest: String,
    public_key: String,
}

#[derive(Clone)]
struct Service {
    key: WorkerKey,
    other: WorkerKey,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Whether the one late answer of mode `late-once` was given.
    was_late: Arc<AtomicBool>,
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn signature(sig: [u8; 64]) -> Response {
    json(
        StatusCode::OK,
        serde_json::json!({ "signature": hex::encode(sig) }),
    )
}

/// The behaviour is chosen by the last path segment.
async fn sign(
    State(service): State<Service>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let digest_hex = request["digest"].as_str().unwrap().to_owned();
    let seen = Seen {
        authorization: headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
        digest: digest_hex.clone(),
        public_key: request["public_key"].as_str().unwrap().to_owned(),
    };
    service.seen.lock().unwrap().push(seen.clone());
    if seen.authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({ "error": "missing or wrong bearer token" }),
        );
    }
    if seen.public_key != service.key.public_key().to_hex() {
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "error": "no such key here" }),
        );
    }
    let digest: [u8; 32] = hex::decode(&digest_hex).unwrap().try_into().unwrap();
    let good = service.key.sign_prehash(&digest).unwrap();
    match mode.as_str() {
        "good" => signature(good),
        "upper-0x" => json(
            StatusCode::OK,
            serde_json::json!({ "signature": format!("0x{}", hex::encode_upper(good)), "key_version": 3 }),
        ),
        "late" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            signature(good)
        }
        "late-once" => {
            if !service.was_late.swap(true, Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            signature(good)
        }
        "high-s" => {
            let sig = Signature::from_slice(&good).unwrap();
            let high = Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
            assert!(high.normalize_s().is_some(), "the twin is high-S");
            signature(high.to_bytes().into())
        }
        "wrong-key" => signature(service.other.sign_prehash(&digest).unwrap()),
        "corrupted" => {
            let mut sig = good;
            sig[63] ^= 0x04;
            signature(sig)
        }
        "html" => (StatusCode::OK, "<html>gateway says hi</html>").into_response(),
        "short" => json(
            StatusCode::OK,
            serde_json::json!({ "signature": hex::encode(&good[..63]) }),
        ),
        "not-hex" => json(
            StatusCode::OK,
            serde_json::json!({ "signature": "zz".repeat(64) }),
        ),
        "huge" => json(
            StatusCode::OK,
            serde_json::json!({ "signature": hex::encode(good), "pad": "x".repeat(100_000) }),
        ),
        "busy" => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "error": "HSM busy\nretry" }),
        ),
        "forbidden" => json(
            StatusCode::FORBIDDEN,
            serde_json::json!({ "error": "policy forbids signing for this worker" }),
        ),
        "redirect" => (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", "http://127.0.0.1:1/elsewhere")],
        )
            .into_response(),
        other => panic!("unknown mode {other}"),
    }
}

struct Fixture {
    base: String,
    key: WorkerKey,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fixture {
    async fn start() -> Fixture {
        let service = Service {
            key: WorkerKey::from_private_key_bytes(&[21; 32]).unwrap(),
            other: WorkerKey::from_private_key_bytes(&[22; 32]).unwrap(),
            seen: Arc::default(),
            was_late: Arc::default(),
        };
        let fixture = Fixture {
            base: String::new(),
            key: service.key.clone(),
            seen: service.seen.clone(),
        };
        let app = Router::new()
            .route("/sign/{mode}", post(sign))
            .with_state(service);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Fixture {
            base: format!("http://{addr}/sign"),
            ..fixture
        }
    }

    fn signer(&self, mode: &str) -> RemoteSigner {
        RemoteSigner::builder(format!("{}/{mode}", self.base), self.key.public_key())
            .bearer_token(TOKEN)
            .timeout(Duration::from_millis(800))
            .build()
            .unwrap()
    }

    fn last_seen(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().unwrap()
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// The error of signing `message` through `signer`, checked to carry no
/// secret.
async fn failure(signer: &RemoteSigner, message: &[u8]) -> SignerError {
    let err = sign_verified(signer, message, soon()).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TOKEN), "error shows the token: {shown}");
    assert!(shown.contains("remote signer http://127.0.0.1:"), "{shown}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_service_signs_payloads_and_transactions_byte_identically() {
    let f = Fixture::start().await;
    let signer = f.signer("good");
    assert_eq!(signer.public_key(), f.key.public_key());

    let payload = WorkerPayload::inference(7, 1_000, "42.5".parse().unwrap());
    let signed = payload.sign_with(&signer, soon()).await.unwrap();
    assert_eq!(signed, payload.sign(&f.key).unwrap());
    let seen = f.last_seen();
    assert_eq!(
        seen.authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(seen.public_key, f.key.public_key().to_hex());
    assert_eq!(
        seen.digest,
        hex::encode(Sha256::digest(signed.bundle_bytes())),
        "the service is sent sha256(bundle bytes)"
    );

    let unsigned = UnsignedTx::new(vec![signed.to_any()]);
    let data = SignerData::new("allora-devnet-1", 3, 9);
    let fee = Fee::uallo(5_000, 200_000);
    let tx = unsigned
        .sign_with(&signer, &data, &fee, soon())
        .await
        .unwrap();
    assert_eq!(tx, unsigned.sign(&f.key, &data, &fee).unwrap());

    // Upper-case hex with 0x and extra fields are fine.
    let sig = sign_verified(&f.signer("upper-0x"), b"m", soon())
        .await
        .unwrap();
    assert_eq!(sig, f.key.sign(b"m"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_s_answer_is_normalised_and_verified() {
    let f = Fixture::start().await;
    let sig = sign_verified(&f.signer("high-s"), b"bundle", soon())
        .await
        .unwrap();
    assert_eq!(sig, f.key.sign(b"bundle"));
    f.key.public_key().verify(b"bundle", &sig).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_and_corrupted_signatures_are_caught_before_use() {
    let f = Fixture::start().await;
    for mode in ["wrong-key", "corrupted"] {
        let err = failure(&f.signer(mode), b"sign doc").await;
        assert!(
            matches!(&err, SignerError::Unverified { public_key, .. } if *public_key == f.key.public_key().to_hex()),
            "{mode}: {err:?}"
        );
        assert!(!err.is_retryable(), "{mode}");
        // Nothing is returned to build a payload from either.
        let payload = WorkerPayload::inference(7, 1_000, "1".parse().unwrap());
        let err = payload
            .sign_with(&f.signer(mode), soon())
            .await
            .unwrap_err();
        assert!(
            matches!(err, SignError::Signer(SignerError::Unverified { .. })),
            "{mode}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_answers_are_malformed() {
    let f = Fixture::start().await;
    for (mode, says) in [
        ("html", "expected JSON"),
        ("short", "not 128 hex digits"),
        ("not-hex", "not 128 hex digits"),
        ("huge", "longer than"),
    ] {
        let err = failure(&f.signer(mode), b"x").await;
        assert!(
            matches!(&err, SignerError::Malformed { reason, .. } if reason.contains(says)),
            "{mode}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_services_time_out_by_the_signer_timeout_or_the_deadline() {
    let f = Fixture::start().await;
    let started = std::time::Instant::now();
    let err = failure(&f.signer("late"), b"x").await;
    assert!(
        matches!(err, SignerError::Timeout { waited, .. } if waited == Duration::from_millis(800)),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(3));

    // A deadline shorter than the signer's own timeout wins.
    let patient = RemoteSigner::builder(format!("{}/late", f.base), f.key.public_key())
        .bearer_token(TOKEN)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = sign_verified(&patient, b"x", started + Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_outages_are_told_apart() {
    let f = Fixture::start().await;

    let err = failure(&f.signer("busy"), b"x").await;
    assert!(
        matches!(&err, SignerError::Unavailable { reason, .. } if reason == "HTTP 503: HSM busy retry"),
        "{err:?}"
    );
    assert!(err.is_retryable());

    let err = failure(&f.signer("forbidden"), b"x").await;
    assert!(
        matches!(&err, SignerError::Refused { code, reason, .. }
            if code == "HTTP 403" && reason.contains("policy forbids") && reason.contains("bearer token")),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let err = failure(&f.signer("redirect"), b"x").await;
    assert!(
        matches!(&err, SignerError::Refused { code, reason, .. }
            if code == "HTTP 307" && reason.contains("redirects are not followed")),
        "{err:?}"
    );

    // A wrong token: refused, and the token sent is never shown.
    let wrong = RemoteSigner::builder(format!("{}/good", f.base), f.key.public_key())
        .bearer_token("wrong-secret-token")
        .build()
        .unwrap();
    let err = failure(&wrong, b"x").await;
    assert!(
        matches!(&err, SignerError::Refused { code, .. } if code == "HTTP 401"),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?} {wrong:?}").contains("wrong-secret"));

    // A key the service does not hold.
    let stranger = WorkerKey::from_private_key_bytes(&[23; 32]).unwrap();
    let unknown = RemoteSigner::builder(format!("{}/good", f.base), stranger.public_key())
        .bearer_token(TOKEN)
        .build()
        .unwrap();
    let err = failure(&unknown, b"x").await;
    assert!(
        matches!(&err, SignerError::Refused { code, reason, .. }
            if code == "HTTP 404" && reason.contains("no such key")),
        "{err:?}"
    );

    // Nobody listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = RemoteSigner::builder(format!("http://127.0.0.1:{port}/sign"), f.key.public_key())
        .bearer_token(TOKEN)
        .build()
        .unwrap();
    let err = failure(&dead, b"x").await;
    assert!(matches!(err, SignerError::Unavailable { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_signing_remotely_loses_only_the_window_of_a_late_answer() {
    const TOPICS: usize = 3;
    let f = Fixture::start().await;
    // The service's first answer comes after 3 s: past the signer's 800 ms
    // timeout and the window's send deadline (a 5-block window of 200 ms
    // blocks). Every other answer is prompt.
    let signer = SharedSigner::new(Arc::new(f.signer("late-once"))).unwrap();
    let net = TestNet::builder(test_key(1).unwrap())
        .signer(signer.clone())
        .topics(1..=TOPICS as u64, 10, 5)
        .start()
        .await
        .unwrap();
    // Two epochs of every topic: one window lost, the others served.
    let (served, failed) = run_worker_until(
        net.worker_serving(|r| 50.0 + r.topic_id as f64).unwrap(),
        Duration::from_secs(60),
        |served, failed| served.len() + failed.len() >= 2 * TOPICS,
    )
    .await
    .unwrap();

    assert_eq!(failed.len(), 1, "{failed:?}");
    let late = &failed[0];
    assert_eq!(late.kind(), "signer_timeout", "{late}");
    assert!(
        matches!(
            late,
            WorkerError::Signer {
                source: SignerError::Timeout { .. },
                ..
            }
        ),
        "{late:?}"
    );
    assert!(!late.to_string().contains(TOKEN), "{late}");
    let (late_topic, late_nonce) = late.window().unwrap();
    assert_eq!(served.len(), 2 * TOPICS - 1, "{served:?}");
    for s in &served {
        assert_eq!(s.outcome, Outcome::Included, "{s:?}");
        assert_ne!((s.topic_id, s.nonce), (late_topic, late_nonce));
        assert!(net
            .submission(s.topic_id, s.nonce, signer.address())
            .is_some());
    }
    // The late window's epoch: every other topic was served in it.
    let same_epoch = served.iter().filter(|s| s.nonce == late_nonce).count();
    assert_eq!(same_epoch, TOPICS - 1, "{served:?}");
    assert!(net
        .submission(late_topic, late_nonce, signer.address())
        .is_none());
}
