//! HttpProvider against real HTTP servers on loopback.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use allora_infer::{
    Dec, DecimalError, ForecastProvider, ForecastValue, HttpProvider, InferError,
    InferenceProvider, InferenceRequest, Prediction,
};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use support::{eth_provider, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// A server answering every request with `body` (status 200).
async fn answering(body: &'static str, content_type: &'static str) -> SocketAddr {
    serve(Router::new().route(
        "/inference/{token}",
        get(move || async move { ([(header::CONTENT_TYPE, content_type)], body) }),
    ))
    .await
}

fn provider(addr: SocketAddr) -> HttpProvider {
    eth_provider(addr)
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap()
}

fn request(deadline: Duration) -> InferenceRequest {
    InferenceRequest::new(1, 1000, Instant::now() + deadline)
}

async fn infer_body(
    body: &'static str,
    content_type: &'static str,
) -> Result<Prediction, InferError> {
    let addr = answering(body, content_type).await;
    provider(addr).infer(&request(Duration::from_secs(5))).await
}

fn single(text: &str) -> Prediction {
    Prediction::Single(text.parse::<Dec>().unwrap())
}

#[tokio::test]
async fn bare_text_json_numbers_and_json_strings_keep_their_decimal_text() {
    for (body, content_type, expected) in [
        ("123.45", "text/plain", "123.45"),
        ("123.45\n", "text/plain", "123.45"),
        ("0.70", "application/json", "0.70"),
        ("1.2345e-07", "application/json", "1.2345E-7"),
        ("\"123.45\"", "application/json", "123.45"),
    ] {
        assert_eq!(
            infer_body(body, content_type).await.unwrap(),
            single(expected),
            "{body:?} as {content_type}"
        );
    }
}

#[tokio::test]
async fn json_labeled_object_in_order() {
    let got = infer_body(r#"{"up":0.70,"down":"0.3"}"#, "application/json")
        .await
        .unwrap();
    assert_eq!(
        got,
        Prediction::Labeled(vec![
            ("up".into(), "0.70".parse().unwrap()),
            ("down".into(), "0.3".parse().unwrap()),
        ])
    );
}

#[tokio::test]
async fn forecast_object_of_inferers() {
    let addr = answering(r#"{"allo1zz":"0.5","allo1aa":0.125}"#, "application/json").await;
    let got = provider(addr)
        .forecast(&request(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![
            ForecastValue::new("allo1zz", "0.5".parse().unwrap()),
            ForecastValue::new("allo1aa", "0.125".parse().unwrap()),
        ]
    );
}

#[tokio::test]
async fn non_finite_garbage_and_out_of_range_are_refused() {
    let non_finite = |r: Result<Prediction, InferError>| {
        matches!(
            r,
            Err(InferError::InvalidValue {
                source: DecimalError::NonFinite(_),
                ..
            })
        )
    };
    assert!(non_finite(infer_body("NaN", "text/plain").await));
    assert!(non_finite(infer_body("Infinity", "text/plain").await));
    assert!(non_finite(
        infer_body("\"-Infinity\"", "application/json").await
    ));
    assert!(matches!(
        infer_body("the model says hi", "text/plain").await,
        Err(InferError::InvalidValue {
            source: DecimalError::Invalid { .. },
            ..
        })
    ));
    assert!(matches!(
        infer_body("1e50", "application/json").await,
        Err(InferError::InvalidValue {
            source: DecimalError::OutOfRange(_),
            ..
        })
    ));
}

#[tokio::test]
async fn empty_and_invalid_json_are_refused() {
    assert!(matches!(
        infer_body("", "text/plain").await,
        Err(InferError::EmptyResponse { .. })
    ));
    assert!(matches!(
        infer_body("  \n", "text/plain").await,
        Err(InferError::EmptyResponse { .. })
    ));
    assert!(matches!(
        infer_body(r#"{"up": 0.7,"#, "application/json").await,
        Err(InferError::InvalidJson { .. })
    ));
}

#[tokio::test]
async fn oversized_body_with_length_is_refused() {
    let big: &'static str = Box::leak("1".repeat(100 * 1024).into_boxed_str());
    let err = infer_body(big, "text/plain").await.unwrap_err();
    assert!(
        matches!(err, InferError::BodyTooLarge { limit: 65536, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

/// A raw HTTP/1.1 server that streams an endless chunked body and counts the
/// bytes it manages to send before the client hangs up.
async fn endless_chunked() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("2000\r\n{}\r\n", "9".repeat(0x2000));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {
                    counter.fetch_add(0x2000, Ordering::Relaxed);
                }
            });
        }
    });
    (addr, sent)
}

#[tokio::test]
async fn endless_body_is_cut_at_the_limit() {
    let (addr, sent) = endless_chunked().await;
    let p = eth_provider(addr)
        .max_body_bytes(16 * 1024)
        .build()
        .unwrap();
    let err = p.infer(&request(Duration::from_secs(5))).await.unwrap_err();
    assert!(
        matches!(err, InferError::BodyTooLarge { limit: 16384, .. }),
        "{err:?}"
    );
    // The client stopped reading: the server could not push megabytes
    // (only what fits in the socket buffers beyond the limit).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sent.load(Ordering::Relaxed) < 16 * 1024 * 1024);
}

/// A server that fails with `status` for the first `failures` requests,
/// then answers `42`; returns the number of requests seen.
async fn flaky(status: StatusCode, failures: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/inference/{token}",
            get(move |State(hits): State<Arc<AtomicUsize>>| async move {
                if hits.fetch_add(1, Ordering::SeqCst) < failures {
                    (status, "model not ready").into_response()
                } else {
                    "42".into_response()
                }
            }),
        )
        .with_state(Arc::clone(&hits));
    (serve(app).await, hits)
}

#[tokio::test]
async fn server_errors_and_too_many_requests_are_retried_until_success() {
    for (status, failures) in [
        (StatusCode::INTERNAL_SERVER_ERROR, 1),
        (StatusCode::TOO_MANY_REQUESTS, 2),
    ] {
        let (addr, hits) = flaky(status, failures).await;
        let got = provider(addr)
            .infer(&request(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(got, single("42"), "{status}");
        assert_eq!(hits.load(Ordering::SeqCst), failures + 1, "{status}");
    }
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let (addr, hits) = flaky(StatusCode::NOT_FOUND, 10).await;
    let err = provider(addr)
        .infer(&request(Duration::from_secs(5)))
        .await
        .unwrap_err();
    match &err {
        InferError::HttpStatus { status, body, .. } => {
            assert_eq!(*status, 404);
            assert_eq!(body, "model not ready");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_stop_at_max_retries() {
    let (addr, hits) = flaky(StatusCode::SERVICE_UNAVAILABLE, 100).await;
    let p = eth_provider(addr)
        .max_retries(2)
        .backoff(Duration::from_millis(5), Duration::from_millis(10))
        .build()
        .unwrap();
    let err = p.infer(&request(Duration::from_secs(5))).await.unwrap_err();
    assert!(matches!(err, InferError::HttpStatus { status: 503, .. }));
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn hanging_server_times_out_at_the_deadline() {
    let addr = serve(Router::new().route(
        "/inference/{token}",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "1"
        }),
    ))
    .await;
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let err = provider(addr).infer(&request(deadline)).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, InferError::Timeout { .. }), "{err:?}");
    assert!(
        elapsed >= deadline - Duration::from_millis(5),
        "{elapsed:?}"
    );
    assert!(
        elapsed < deadline + Duration::from_millis(150),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn slow_attempts_are_cut_and_retried() {
    // Each attempt gets 100 ms; the first one hangs, the second answers.
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/inference/{token}",
            get(|State(hits): State<Arc<AtomicUsize>>| async move {
                if hits.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                "7"
            }),
        )
        .with_state(Arc::clone(&hits));
    let addr = serve(app).await;
    let p = eth_provider(addr)
        .attempt_timeout(Duration::from_millis(100))
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .build()
        .unwrap();
    assert_eq!(
        p.infer(&request(Duration::from_secs(5))).await.unwrap(),
        single("7")
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refused_connection_is_a_retryable_transport_error() {
    // Bind then drop, so the port is (almost certainly) closed.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let started = Instant::now();
    let err = provider(addr)
        .infer(&request(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(matches!(err, InferError::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_millis(650));
}

#[tokio::test]
async fn url_placeholders_and_token_precedence() {
    let app = Router::new()
        .route(
            "/inference/{token}",
            get(|Path(token): Path<String>| async move {
                match token.as_str() {
                    "ETH" => "1",
                    "BTC" => "2",
                    "a/b" => "3",
                    _ => "4",
                }
            }),
        )
        .route(
            "/topic/{topic}/{height}",
            get(|Path((topic, height)): Path<(u64, i64)>| async move {
                (topic as i64 * 1_000_000 + height).to_string()
            }),
        );
    let addr = serve(app).await;
    let p = HttpProvider::builder(format!("http://{addr}/inference/{{Token}}"))
        .token("SOL")
        .topic_token(2, "BTC")
        .topic_url(
            9,
            format!("http://{addr}/topic/{{TopicId}}/{{BlockHeight}}"),
        )
        .build()
        .unwrap();
    let at = |topic| InferenceRequest::new(topic, 77, Instant::now() + Duration::from_secs(5));
    assert_eq!(p.infer(&at(1)).await.unwrap(), single("4"));
    assert_eq!(p.infer(&at(2)).await.unwrap(), single("2"));
    assert_eq!(
        p.infer(&at(2).with_token("ETH")).await.unwrap(),
        single("1")
    );
    assert_eq!(
        p.infer(&at(1).with_token("a/b")).await.unwrap(),
        single("3")
    );
    assert_eq!(p.infer(&at(9)).await.unwrap(), single("9000077"));

    let no_token = HttpProvider::new(format!("http://{addr}/inference/{{Token}}")).unwrap();
    assert!(matches!(
        no_token.infer(&at(1)).await,
        Err(InferError::Config(_))
    ));
}

#[tokio::test]
async fn providers_work_as_trait_objects() {
    let addr = answering("3.5", "text/plain").await;
    let p: Arc<dyn InferenceProvider> = Arc::new(provider(addr));
    assert_eq!(
        p.infer(&request(Duration::from_secs(5))).await.unwrap(),
        single("3.5")
    );
}
