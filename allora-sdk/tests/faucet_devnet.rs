//! Faucet top-ups against a loopback faucet that funds accounts on the devnet.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use allora_devnet::fixtures::{test_key, TestNet};
use allora_sdk::client::ChainClient;
use allora_sdk::faucet::{top_up, FaucetConfig, FaucetError, TopUp};
use allora_sdk::keys::{Address, WorkerKey};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

const CHAIN_ID: &str = "allora-faucet-test";

struct Faucet {
    devnet: TestNet,
    status: StatusCode,
    requests: AtomicU32,
}

/// Starts a faucet answering `status`; on success it funds the posted address.
async fn faucet(devnet: TestNet, status: StatusCode) -> (String, Arc<Faucet>) {
    let state = Arc::new(Faucet {
        devnet,
        status,
        requests: AtomicU32::new(0),
    });
    let shared = Arc::clone(&state);
    let app = Router::new().route(
        "/api/request",
        post(move |headers: HeaderMap, body: String| {
            let state = Arc::clone(&shared);
            async move {
                state.requests.fetch_add(1, Ordering::SeqCst);
                let field = |name: &str| {
                    body.split('&')
                        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                        .map(str::to_owned)
                };
                assert_eq!(field("chain").as_deref(), Some(CHAIN_ID));
                assert_eq!(headers.get("x-api-key").unwrap(), "k3y");
                if state.status.is_success() {
                    let address: Address = field("address").unwrap().parse().unwrap();
                    state.devnet.fund(&address, 500_000_000).unwrap();
                }
                state.status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

/// A worker with 1000 uallo on a manual-block devnet, its client, and a
/// loopback faucet in front of that devnet.
struct Fixture {
    client: ChainClient,
    key: WorkerKey,
    url: String,
    faucet: Arc<Faucet>,
}

/// The [`Fixture`] whose faucet answers `status`.
async fn fixture(status: StatusCode) -> Fixture {
    let devnet = TestNet::builder(test_key(33).unwrap())
        .chain_id(CHAIN_ID)
        .manual_blocks()
        .balance(1_000)
        .start()
        .await
        .unwrap();
    let client = devnet.client().unwrap();
    let key = devnet.key().clone();
    let (url, faucet) = faucet(devnet, status).await;
    Fixture {
        client,
        key,
        url,
        faucet,
    }
}

impl Fixture {
    /// Tops the worker up from `url`, with the test's settings.
    async fn top_up_from(&self, url: &str) -> Result<TopUp, FaucetError> {
        top_up(&self.client, self.key.address(), &config(url)).await
    }

    /// Tops the worker up from the fixture's faucet.
    async fn top_up(&self) -> Result<TopUp, FaucetError> {
        self.top_up_from(&self.url).await
    }

    /// How many requests the faucet received.
    fn requests(&self) -> u32 {
        self.faucet.requests.load(Ordering::SeqCst)
    }
}

fn config(url: &str) -> FaucetConfig {
    let mut c = FaucetConfig::new(url, CHAIN_ID);
    c.api_key = Some("k3y".into());
    c.attempts = 3;
    c.polls = 3;
    c.poll_interval = Duration::from_millis(50);
    c
}

#[tokio::test]
async fn a_poor_worker_is_funded_and_a_rich_one_asks_nothing() {
    let f = fixture(StatusCode::OK).await;
    let funded = f.top_up().await.unwrap();
    assert_eq!(
        funded,
        TopUp::Funded {
            balance: 500_001_000
        }
    );
    let again = f.top_up().await.unwrap();
    assert_eq!(
        again,
        TopUp::NotNeeded {
            balance: 500_001_000
        }
    );
    assert_eq!(f.requests(), 1);
}

#[tokio::test]
async fn too_many_requests_is_a_refusal_not_retried() {
    let f = fixture(StatusCode::TOO_MANY_REQUESTS).await;
    let err = f.top_up().await.unwrap_err();
    assert!(matches!(err, FaucetError::Refused { status: 429 }), "{err}");
    assert!(err.to_string().contains("another wallet"));
    assert_eq!(f.requests(), 1);
}

#[tokio::test]
async fn a_failing_faucet_is_tried_a_bounded_number_of_times() {
    let f = fixture(StatusCode::SERVICE_UNAVAILABLE).await;
    let err = f.top_up().await.unwrap_err();
    assert!(
        matches!(err, FaucetError::Unavailable { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(f.requests(), 3);
    assert!(matches!(
        f.top_up_from("ftp://x").await,
        Err(FaucetError::InvalidUrl(_))
    ));
}
