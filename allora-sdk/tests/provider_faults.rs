//! Bad providers never put a bad value on chain: slow, hanging, failing,
//! garbage-speaking, flooding and NaN-returning providers (an
//! `HttpProvider` against a loopback server this test controls, and
//! closures) fail their window with a typed error in the results stream,
//! and the worker goes on serving later windows whose answer is healthy.
//!
//! Each topic misbehaves in odd epochs (nonce / EPOCH odd) and answers
//! well in even ones.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use allora_devnet::fixtures::{fn_topic, record, test_key, TestNet};
use allora_infer::{HttpProvider, InferError};
use allora_sdk::keys::WorkerKey;
use allora_sdk::worker::{TopicSpec, WorkerError};
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const CHAIN_ID: &str = "allora-provider-faults";
const EPOCH: i64 = 8;
const WINDOW: i64 = 5;
/// Served through HTTP: slow, hang, 500, garbage, huge, "NaN".
const SLOW: u64 = 1;
const HANG: u64 = 2;
const FAILS: u64 = 3;
const GARBAGE: u64 = 4;
const HUGE: u64 = 5;
const NAN_TEXT: u64 = 6;
/// A closure returning NaN.
const NAN_CLOSURE: u64 = 7;
const TOPICS: [u64; 7] = [SLOW, HANG, FAILS, GARBAGE, HUGE, NAN_TEXT, NAN_CLOSURE];
const BODY_LIMIT: usize = 64 * 1024;

fn key() -> WorkerKey {
    test_key(13).unwrap()
}

fn bad_epoch(nonce: i64) -> bool {
    (nonce / EPOCH) % 2 == 1
}

fn healthy(topic: u64, nonce: i64) -> f64 {
    500.0 + topic as f64 + nonce as f64 / 1000.0
}

async fn answer(Path((topic, height)): Path<(u64, i64)>) -> Response {
    if !bad_epoch(height) {
        return healthy(topic, height).to_string().into_response();
    }
    match topic {
        SLOW => {
            tokio::time::sleep(Duration::from_secs(20)).await;
            healthy(topic, height).to_string().into_response()
        }
        HANG => std::future::pending().await,
        FAILS => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "model exploded",
        )
            .into_response(),
        GARBAGE => "<html>{not json".into_response(),
        HUGE => format!("{}{}", healthy(topic, height), " ".repeat(4 * BODY_LIMIT)).into_response(),
        _ => "\"NaN\"".into_response(),
    }
}

/// Whether `error` is the typed error topic `topic` must produce.
fn expected(topic: u64, error: &InferError) -> bool {
    match topic {
        SLOW | HANG => matches!(error, InferError::Timeout { .. }),
        FAILS => matches!(error, InferError::HttpStatus { status: 500, .. }),
        // Plain text is read as a bare number, so garbage is an invalid value.
        GARBAGE => matches!(
            error,
            InferError::InvalidJson { .. }
                | InferError::UnexpectedShape { .. }
                | InferError::InvalidValue { .. }
        ),
        HUGE => matches!(error, InferError::BodyTooLarge { .. }),
        _ => matches!(error, InferError::InvalidValue { .. }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_are_never_submitted_and_the_worker_keeps_serving() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/{topic}/{height}", get(answer));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let devnet = TestNet::start_with_topics(key(), CHAIN_ID, TOPICS, EPOCH, WINDOW)
        .await
        .unwrap();

    let http = Arc::new(
        HttpProvider::builder(format!("http://{server_addr}/{{TopicId}}/{{BlockHeight}}"))
            .attempt_timeout(Duration::from_secs(2))
            .max_retries(1)
            .backoff(Duration::from_millis(20), Duration::from_millis(50))
            .max_body_bytes(BODY_LIMIT)
            .build()
            .unwrap(),
    );
    let mut worker = devnet
        .worker()
        .unwrap()
        .poll_interval(Duration::from_millis(300));
    for t in TOPICS {
        worker = worker.topic(if t == NAN_CLOSURE {
            fn_topic(t, |r| {
                if bad_epoch(r.nonce) {
                    f64::NAN
                } else {
                    healthy(r.topic_id, r.nonce)
                }
            })
        } else {
            TopicSpec::inference(t, http.clone())
        });
    }
    let (handle, results) = worker.build().unwrap().start().await.unwrap();
    let stream = record(results);
    // Two bad epochs and two good ones after the first nonce (8).
    let last_nonce = 5 * EPOCH;
    devnet.wait_height(last_nonce + WINDOW + 3).await;
    handle.shutdown().await;
    let stream = stream.finish().await.unwrap();
    server.abort();

    let me = devnet.address().to_string();
    let mut nonce = EPOCH;
    while nonce <= last_nonce {
        for t in TOPICS {
            let on_chain = devnet
                .submissions()
                .into_iter()
                .find(|s| s.worker == me && s.topic_id == t && s.nonce == nonce);
            if bad_epoch(nonce) {
                assert!(
                    on_chain.is_none(),
                    "topic {t} nonce {nonce}: a bad answer reached the chain: {on_chain:?}"
                );
                let typed = stream.iter().any(|r| match r {
                    Err(WorkerError::Provider {
                        topic_id,
                        nonce: n,
                        source,
                        ..
                    }) => *topic_id == t && *n == nonce && expected(t, source),
                    _ => false,
                });
                assert!(
                    typed,
                    "topic {t} nonce {nonce}: no typed provider error; stream: {stream:?}"
                );
            } else {
                let s = on_chain.unwrap_or_else(|| {
                    panic!("topic {t} nonce {nonce}: healthy window not served; stream: {stream:?}")
                });
                let value = &s.inference.expect("an inference")[0].1;
                assert_eq!(
                    *value,
                    healthy(t, nonce).to_string(),
                    "topic {t} nonce {nonce}"
                );
            }
        }
        nonce += EPOCH;
    }
}
