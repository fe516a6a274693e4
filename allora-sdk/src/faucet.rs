//! Testnet faucet requests: top up a worker whose balance cannot pay fees.
//!
//! The faucet takes a form POST of `chain` and `address` at
//! `{faucet_url}/api/request` (with an optional `x-api-key` header), then
//! funds the address some blocks later. [`top_up`] asks only when the balance
//! is below the wanted minimum, waits for the funds to arrive, and gives up
//! with a typed error (a refusal such as HTTP 429 is not retried).
//!
//! The worker loop never calls this on its own: an application decides when a
//! faucet is appropriate (testnets only) and calls it before starting.

use std::time::Duration;

use crate::client::{ChainClient, ClientError};

/// The Allora testnet's chain id.
pub const TESTNET_CHAIN_ID: &str = "allora-testnet-1";

/// The testnet faucet's page, as the Allora docs' network manifest lists it
/// (allora-network/docs `public/api/networks.json`; mainnet has none).
pub const TESTNET_FAUCET_URL: &str = "https://faucet.testnet.allora.network/";

/// The faucet where an account of `chain_id` can get funds, if the chain
/// has one (only the testnet).
pub fn faucet_for(chain_id: &str) -> Option<&'static str> {
    (chain_id == TESTNET_CHAIN_ID).then_some(TESTNET_FAUCET_URL)
}
use crate::keys::Address;
use crate::tx::DENOM;

/// Why a top-up failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaucetError {
    /// The faucet URL is malformed.
    #[error("invalid faucet URL {0:?}: expected http(s)://host[:port]")]
    InvalidUrl(String),
    /// The faucet refused the request (HTTP 4xx); asking again will not help.
    #[error("faucet refused the request with HTTP {status}{}", if *.status == 429 { ": too many requests; send funds to the worker from another wallet" } else { "" })]
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// The faucet could not be reached or failed on every attempt.
    #[error("faucet unavailable after {attempts} attempt(s): {last}")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The faucet accepted the requests but the balance did not reach the minimum.
    #[error("faucet accepted the request but the balance is {balance} uallo after waiting, below {wanted}")]
    NotFunded {
        /// The balance seen last.
        balance: u128,
        /// The minimum asked for.
        wanted: u128,
    },
    /// The balance could not be read.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Settings of a top-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaucetConfig {
    /// The faucet's base URL.
    pub url: String,
    /// The chain id sent to the faucet.
    pub chain_id: String,
    /// Optional API key (`x-api-key` header).
    pub api_key: Option<String>,
    /// Ask only when the balance is below this (uallo).
    pub min_balance: u128,
    /// Faucet requests at most.
    pub attempts: u32,
    /// Balance checks after each accepted request.
    pub polls: u32,
    /// Time between balance checks.
    pub poll_interval: Duration,
    /// Deadline of each HTTP request.
    pub request_timeout: Duration,
}

impl FaucetConfig {
    /// Defaults: ask below 1e8 uallo, 5 attempts, 12 checks 5 s apart.
    pub fn new(url: impl Into<String>, chain_id: impl Into<String>) -> Self {
        FaucetConfig {
            url: url.into(),
            chain_id: chain_id.into(),
            api_key: None,
            min_balance: 100_000_000,
            attempts: 5,
            polls: 12,
            poll_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What a top-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopUp {
    /// The balance was already enough; nothing was asked.
    NotNeeded {
        /// The balance.
        balance: u128,
    },
    /// The faucet funded the address.
    Funded {
        /// The new balance.
        balance: u128,
    },
}

/// Tops `address` up from the faucet when its balance is below the minimum.
pub async fn top_up(
    client: &ChainClient,
    address: &Address,
    config: &FaucetConfig,
) -> Result<TopUp, FaucetError> {
    let balance = client.balance(address, DENOM).await?;
    if balance >= config.min_balance {
        return Ok(TopUp::NotNeeded { balance });
    }
    let base = config.url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(FaucetError::InvalidUrl(config.url.clone()));
    }
    let endpoint = format!("{base}/api/request");
    let http = reqwest::Client::builder()
        .timeout(config.request_timeout)
        .build()
        .map_err(|e| FaucetError::Unavailable {
            attempts: 0,
            last: e.to_string(),
        })?;
    let mut last = String::new();
    let mut seen = balance;
    for attempt in 1..=config.attempts.max(1) {
        let mut request = http.post(&endpoint).form(&[
            ("chain", config.chain_id.as_str()),
            ("address", address.as_str()),
        ]);
        if let Some(key) = &config.api_key {
            request = request.header("x-api-key", key);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                tracing::info!(%address, attempt, "faucet request accepted; waiting for funds");
                for _ in 0..config.polls {
                    tokio::time::sleep(config.poll_interval).await;
                    seen = client.balance(address, DENOM).await?;
                    if seen >= config.min_balance {
                        return Ok(TopUp::Funded { balance: seen });
                    }
                }
                last = format!("balance still {seen} uallo");
            }
            Ok(response) if response.status().is_client_error() => {
                return Err(FaucetError::Refused {
                    status: response.status().as_u16(),
                });
            }
            Ok(response) => last = format!("HTTP {}", response.status()),
            Err(error) => last = error.to_string(),
        }
        tracing::warn!(%address, attempt, %last, "faucet request did not fund the worker");
    }
    if seen > balance || last.starts_with("balance") {
        return Err(FaucetError::NotFunded {
            balance: seen,
            wanted: config.min_balance,
        });
    }
    Err(FaucetError::Unavailable {
        attempts: config.attempts.max(1),
        last,
    })
}
