//! A loopback fake of the AWS KMS API for the KMS signer's tests: it
//! answers the JSON 1.1 `TrentService.GetPublicKey` and `TrentService.Sign`
//! calls the way KMS does, `MessageType=DIGEST` signed as given (unlike moto
//! 5.2.5, which hashes the digest again), with signatures by a key the test
//! knows, and misbehaves on purpose for keys named after a [`Behaviour`].
//!
//! Included with `#[path = "support/fake_kms.rs"] mod fake_kms;` by the
//! tests that use it.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use allora_aws::kms::KmsSigner;
use allora_devnet::fixtures::test_key;
use allora_sdk::keys::WorkerKey;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use k256::ecdsa::Signature;
use k256::pkcs8::EncodePublicKey;

use crate::support::loopback_sdk_config;

/// What the fake KMS does for one key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Behaviour {
    Honest,
    HighS,
    Corrupted,
    /// Reports one public key, signs with another.
    WrongKey,
    NotDer,
    Denied,
    Throttled,
    Slow,
    /// An ECC_NIST_P256 key.
    P256,
    /// Claims ECC_SECG_P256K1 but serves a P-256 SubjectPublicKeyInfo.
    LyingSpec,
}

impl Behaviour {
    pub const ALL: [Behaviour; 10] = [
        Behaviour::Honest,
        Behaviour::HighS,
        Behaviour::Corrupted,
        Behaviour::WrongKey,
        Behaviour::NotDer,
        Behaviour::Denied,
        Behaviour::Throttled,
        Behaviour::Slow,
        Behaviour::P256,
        Behaviour::LyingSpec,
    ];

    pub fn key_id(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    pub fn arn(self) -> String {
        format!("arn:aws:kms:us-east-1:111122223333:key/{}", self.key_id())
    }
}

/// A P-256 SubjectPublicKeyInfo (the curve's generator point).
pub const P256_SPKI: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200\
    046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
    4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

/// One `Sign` call the fake saw.
#[derive(Clone, Debug)]
pub struct SignCall {
    pub key_id: String,
    pub message: Vec<u8>,
    pub message_type: String,
    pub algorithm: String,
}

#[derive(Clone)]
struct FakeKms {
    key: WorkerKey,
    other: WorkerKey,
    calls: Arc<Mutex<Vec<SignCall>>>,
}

fn kms_json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

fn kms_error(status: StatusCode, kind: &str, message: &str) -> Response {
    kms_json(
        status,
        serde_json::json!({ "__type": kind, "message": message }),
    )
}

fn spki(key: &WorkerKey) -> Vec<u8> {
    k256::PublicKey::from_sec1_bytes(&key.public_key().to_compressed())
        .unwrap()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// Answers the JSON 1.1 `TrentService.GetPublicKey` and `TrentService.Sign`
/// calls as KMS does, the key's behaviour chosen by its id.
async fn fake_kms(State(kms): State<FakeKms>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let key_id = request["KeyId"].as_str().unwrap().to_owned();
    let Some(behaviour) = Behaviour::ALL
        .into_iter()
        .find(|b| key_id == b.key_id() || key_id == b.arn())
    else {
        return kms_error(
            StatusCode::BAD_REQUEST,
            "NotFoundException",
            &format!("Key '{key_id}' does not exist"),
        );
    };
    match target.as_str() {
        "TrentService.GetPublicKey" => {
            let (spec, der) = match behaviour {
                Behaviour::P256 => ("ECC_NIST_P256", hex::decode(P256_SPKI).unwrap()),
                Behaviour::LyingSpec => ("ECC_SECG_P256K1", hex::decode(P256_SPKI).unwrap()),
                _ => ("ECC_SECG_P256K1", spki(&kms.key)),
            };
            kms_json(
                StatusCode::OK,
                serde_json::json!({
                    "KeyId": behaviour.arn(),
                    "PublicKey": BASE64.encode(der),
                    "KeySpec": spec,
                    "CustomerMasterKeySpec": spec,
                    "KeyUsage": "SIGN_VERIFY",
                    "SigningAlgorithms": ["ECDSA_SHA_256"],
                }),
            )
        }
        "TrentService.Sign" => {
            let message = BASE64.decode(request["Message"].as_str().unwrap()).unwrap();
            kms.calls.lock().unwrap().push(SignCall {
                key_id: key_id.clone(),
                message: message.clone(),
                message_type: request["MessageType"].as_str().unwrap_or("RAW").to_owned(),
                algorithm: request["SigningAlgorithm"].as_str().unwrap().to_owned(),
            });
            // KMS's DIGEST: the message is the digest, signed as given.
            if request["MessageType"] != "DIGEST" || message.len() != 32 {
                return kms_error(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    "this fake only signs 32-byte DIGEST messages",
                );
            }
            let digest: [u8; 32] = message.try_into().unwrap();
            let good = kms.key.sign_prehash(&digest).unwrap();
            let signature = match behaviour {
                Behaviour::Honest => Signature::from_slice(&good).unwrap(),
                Behaviour::HighS => {
                    let low = Signature::from_slice(&good).unwrap();
                    Signature::from_scalars(low.r(), -*low.s()).unwrap()
                }
                Behaviour::Corrupted => {
                    let mut bytes = good;
                    bytes[31] ^= 0x01;
                    Signature::from_slice(&bytes).unwrap()
                }
                Behaviour::WrongKey => {
                    Signature::from_slice(&kms.other.sign_prehash(&digest).unwrap()).unwrap()
                }
                Behaviour::NotDer => {
                    return kms_json(
                        StatusCode::OK,
                        serde_json::json!({
                            "KeyId": behaviour.arn(),
                            "Signature": BASE64.encode(good),
                            "SigningAlgorithm": "ECDSA_SHA_256",
                        }),
                    )
                }
                Behaviour::Denied => {
                    return kms_error(
                        StatusCode::BAD_REQUEST,
                        "AccessDeniedException",
                        "User is not authorized to perform: kms:Sign",
                    )
                }
                Behaviour::Throttled => {
                    return kms_error(
                        StatusCode::BAD_REQUEST,
                        "ThrottlingException",
                        "Rate exceeded",
                    )
                }
                Behaviour::Slow => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Signature::from_slice(&good).unwrap()
                }
                Behaviour::P256 | Behaviour::LyingSpec => unreachable!("never connected"),
            };
            kms_json(
                StatusCode::OK,
                serde_json::json!({
                    "KeyId": behaviour.arn(),
                    "Signature": BASE64.encode(signature.to_der().as_bytes()),
                    "SigningAlgorithm": "ECDSA_SHA_256",
                }),
            )
        }
        other => kms_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("fake KMS does not serve {other}"),
        ),
    }
}

/// A running fake and a client pointing at it (no retries, so that a
/// throttled answer is seen as such).
pub struct Fake {
    pub client: aws_sdk_kms::Client,
    /// The key every fake KMS key signs with (its public key is what
    /// `GetPublicKey` answers).
    pub key: WorkerKey,
    pub calls: Arc<Mutex<Vec<SignCall>>>,
}

impl Fake {
    pub async fn start() -> Fake {
        let kms = FakeKms {
            key: test_key(41).unwrap(),
            other: test_key(42).unwrap(),
            calls: Arc::default(),
        };
        let (key, calls) = (kms.key.clone(), kms.calls.clone());
        let app = Router::new().route("/", post(fake_kms)).with_state(kms);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        // One attempt per call, so a throttled answer is seen as such.
        let config = aws_sdk_kms::config::Builder::from(&loopback_sdk_config(&endpoint).await)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Fake {
            client: aws_sdk_kms::Client::from_conf(config),
            key,
            calls,
        }
    }

    pub async fn signer(&self, behaviour: Behaviour) -> KmsSigner {
        KmsSigner::connect(self.client.clone(), behaviour.key_id())
            .await
            .unwrap()
    }

    pub fn last_call(&self) -> SignCall {
        self.calls.lock().unwrap().last().cloned().unwrap()
    }
}
