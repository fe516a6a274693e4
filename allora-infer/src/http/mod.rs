//! An HTTP inference server as a provider: the way the official off-chain
//! node calls its model, `GET http://inference:8000/inference/{Token}`.
//!
//! The server may answer with a bare number in text (`123.45`), a JSON number,
//! a JSON string (`"123.45"`) or a JSON object of labeled values
//! (`{"up":0.7,"down":"0.3"}`, order kept); for forecasts, a JSON object
//! mapping inferer address to value. Numbers are read from the response text
//! itself, so their decimal spelling survives. Anything else (NaN, infinity,
//! garbage, an empty or oversized body, a non-2xx status) is a typed
//! [`InferError`], never a value.
//!
//! Connection failures, 5xx and 429 answers and per-attempt timeouts are
//! retried with exponential backoff and jitter, but only while the request's
//! deadline leaves room for the wait.
//!
//! ```no_run
//! use std::time::Duration;
//! use allora_infer::{HttpProvider, InferenceProvider, InferenceRequest};
//!
//! # async fn run() -> Result<(), allora_infer::InferError> {
//! let provider = HttpProvider::builder("http://inference:8000/inference/{Token}")
//!     .topic_token(1, "ETH")
//!     .topic_token(3, "BTC")
//!     .attempt_timeout(Duration::from_secs(2))
//!     .build()?;
//! let req = InferenceRequest::new(1, 1_000, tokio::time::Instant::now() + Duration::from_secs(10));
//! let prediction = provider.infer(&req).await?;
//! println!("{prediction:?}");
//! # Ok(()) }
//! ```

mod body;
mod template;

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use derive_setters::Setters;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::error::InferError;
use crate::forecast::ForecastProvider;
use crate::inference::InferenceProvider;
use crate::request::{ForecastValue, InferenceRequest, Prediction};
use template::UrlTemplate;

/// The URL template of a local inference server such as the
/// `allora-inference-server` example (the official node's template, with
/// the local host).
pub const DEFAULT_URL_TEMPLATE: &str = "http://127.0.0.1:8000/inference/{Token}";

/// Default cap on a response body: an inference is a number or a few labeled
/// values, so anything near this is a misbehaving server.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// How much of an error response is kept for the error message.
const ERROR_BODY_SNIPPET: usize = 256;

/// A provider that asks an HTTP inference server. Cheap to clone (the
/// connection pool and configuration are shared).
///
/// Implements both [`InferenceProvider`] and [`ForecastProvider`]; the two
/// usually live at different URLs, so build one provider for each.
#[derive(Debug, Clone)]
pub struct HttpProvider {
    client: reqwest::Client,
    config: Arc<Config>,
}

#[derive(Debug)]
struct Config {
    url: UrlTemplate,
    topic_urls: HashMap<u64, UrlTemplate>,
    token: Option<String>,
    topic_tokens: HashMap<u64, String>,
    attempt_timeout: Duration,
    max_body_bytes: usize,
    backoff: Backoff,
}

/// Configures an [`HttpProvider`]; see [`HttpProvider::builder`].
#[derive(Debug, Clone, Setters)]
#[setters(generate = false)]
#[must_use]
pub struct HttpProviderBuilder {
    url: String,
    topic_urls: Vec<(u64, String)>,
    /// The token used for topics without one of their own.
    #[setters(generate, strip_option, into)]
    token: Option<String>,
    topic_tokens: HashMap<u64, String>,
    /// How long one attempt may take (default 5 s); the request's deadline
    /// bounds it further.
    #[setters(generate)]
    attempt_timeout: Duration,
    /// The largest response body accepted (default 64 KiB).
    #[setters(generate)]
    max_body_bytes: usize,
    backoff: Backoff,
}

impl HttpProvider {
    /// A provider for `url_template` with default settings.
    ///
    /// ```
    /// let p = allora_infer::HttpProvider::new("http://127.0.0.1:8000/inference/{Token}").unwrap();
    /// # let _ = p;
    /// assert!(allora_infer::HttpProvider::new("http://h/{Nope}").is_err());
    /// ```
    pub fn new(url_template: impl Into<String>) -> Result<Self, InferError> {
        Self::builder(url_template).build()
    }

    /// Starts configuring a provider. `url_template` may contain `{Token}`,
    /// `{TopicId}` and `{BlockHeight}`; it is used for every topic without a
    /// URL of its own ([`HttpProviderBuilder::topic_url`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = allora_infer::HttpProvider::builder("http://127.0.0.1:8000/inference/{Token}")
    ///     .topic_token(1, "ETH")
    ///     .topic_url(7, "http://127.0.0.1:9000/predict/{TopicId}?height={BlockHeight}")
    ///     .attempt_timeout(Duration::from_secs(1))
    ///     .max_retries(2)
    ///     .backoff(Duration::from_millis(50), Duration::from_millis(500))
    ///     .max_body_bytes(4096)
    ///     .build()
    ///     .unwrap();
    /// # let _ = p;
    /// ```
    pub fn builder(url_template: impl Into<String>) -> HttpProviderBuilder {
        HttpProviderBuilder {
            url: url_template.into(),
            topic_urls: Vec::new(),
            token: None,
            topic_tokens: HashMap::new(),
            attempt_timeout: Duration::from_secs(5),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            backoff: Backoff::default(),
        }
    }

    /// The URL a request goes to. The token is the request's hint if it has
    /// one, else the topic's configured token, else the default token.
    fn url_for(&self, req: &InferenceRequest) -> Result<String, InferError> {
        let config = &self.config;
        let template = config.topic_urls.get(&req.topic_id).unwrap_or(&config.url);
        let token = req
            .token
            .as_deref()
            .or_else(|| config.topic_tokens.get(&req.topic_id).map(String::as_str))
            .or(config.token.as_deref());
        if template.needs_token() && token.is_none() {
            return Err(InferError::Config(format!(
                "no token for topic {}: the URL template needs {{Token}}; set one with topic_token() or token()",
                req.topic_id
            )));
        }
        Ok(template.render(req, token))
    }

    /// Fetches the body for `req`, retrying transient failures while the
    /// deadline allows.
    async fn fetch(&self, req: &InferenceRequest) -> Result<(String, String), InferError> {
        let url = self.url_for(req)?;
        let started = Instant::now();
        let backoff = self.config.backoff;
        let mut retry = 0;
        loop {
            let now = Instant::now();
            if now >= req.deadline {
                return Err(InferError::Timeout {
                    elapsed: started.elapsed(),
                });
            }
            let attempt_deadline = (now + self.config.attempt_timeout).min(req.deadline);
            let result =
                match tokio::time::timeout_at(attempt_deadline, self.fetch_once(&url)).await {
                    Ok(result) => result,
                    Err(_) => Err(InferError::Timeout {
                        elapsed: started.elapsed(),
                    }),
                };
            let err = match result {
                Ok(body) => return Ok((url, body)),
                Err(err) => err,
            };
            if !err.is_retryable() {
                return Err(err);
            }
            let time_left = req.deadline.saturating_duration_since(Instant::now());
            let Some(delay) = backoff.delay_within(retry, time_left) else {
                return Err(err);
            };
            tracing::debug!(%url, retry, ?delay, error = %err, "retrying inference request");
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    async fn fetch_once(&self, url: &str) -> Result<String, InferError> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| transport(url, &e))?;
        let status = response.status();
        if !status.is_success() {
            let snippet = read_body(&mut response, ERROR_BODY_SNIPPET)
                .await
                .map(|(bytes, _)| String::from_utf8_lossy(&bytes).trim().to_owned())
                .unwrap_or_default();
            return Err(InferError::HttpStatus {
                url: url.to_owned(),
                status: status.as_u16(),
                body: snippet,
            });
        }
        let limit = self.config.max_body_bytes;
        let too_large = || InferError::BodyTooLarge {
            url: url.to_owned(),
            limit,
        };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        let (bytes, truncated) = read_body(&mut response, limit)
            .await
            .map_err(|e| transport(url, &e))?;
        if truncated {
            return Err(too_large());
        }
        String::from_utf8(bytes).map_err(|_| InferError::UnexpectedShape {
            detail: format!("response from {url} is not UTF-8 text"),
        })
    }
}

/// Reads at most `limit` bytes of the body, chunk by chunk, and reports
/// whether there was more; a server streaming without end costs at most
/// `limit` bytes of memory.
async fn read_body(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(bytes.len());
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok((bytes, true));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, false))
}

/// Describes a client error with its causes ("error sending request" alone
/// does not say that the connection was refused).
fn transport(url: &str, err: &reqwest::Error) -> InferError {
    let mut detail = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    InferError::Transport {
        url: url.to_owned(),
        detail,
    }
}

/// Parses an inference server's response body as [`HttpProvider`] does: a
/// bare or quoted decimal, or an object of labeled decimals. `url` only
/// names the source in errors. Exposed for tools and fuzzing.
///
/// ```
/// use allora_infer::{http::parse_inference_body, Prediction};
/// assert!(matches!(parse_inference_body("2650.5", "test"), Ok(Prediction::Single(_))));
/// assert!(parse_inference_body("\"NaN\"", "test").is_err());
/// ```
pub fn parse_inference_body(body: &str, url: &str) -> Result<Prediction, InferError> {
    body::parse_prediction(body, url)
}

/// Parses a forecast response body (an object of inferer address to
/// decimal) as [`HttpProvider`] does. Exposed for tools and fuzzing.
pub fn parse_forecast_body(body: &str, url: &str) -> Result<Vec<ForecastValue>, InferError> {
    body::parse_forecast(body, url)
}

#[async_trait]
impl InferenceProvider for HttpProvider {
    async fn infer(&self, req: &InferenceRequest) -> Result<Prediction, InferError> {
        let (url, body) = self.fetch(req).await?;
        body::parse_prediction(&body, &url)
    }
}

#[async_trait]
impl ForecastProvider for HttpProvider {
    async fn forecast(&self, req: &InferenceRequest) -> Result<Vec<ForecastValue>, InferError> {
        let (url, body) = self.fetch(req).await?;
        body::parse_forecast(&body, &url)
    }
}

impl HttpProviderBuilder {
    /// The token for one topic (`{Token}` in the URL), unless the request
    /// carries its own hint.
    pub fn topic_token(mut self, topic_id: u64, token: impl Into<String>) -> Self {
        self.topic_tokens.insert(topic_id, token.into());
        self
    }

    /// A URL template for one topic, in place of the default one.
    pub fn topic_url(mut self, topic_id: u64, url_template: impl Into<String>) -> Self {
        self.topic_urls.push((topic_id, url_template.into()));
        self
    }

    /// How many times a retryable failure is retried (default 3); 0 disables
    /// retries.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.backoff = self.backoff.with_max_retries(retries);
        self
    }

    /// The first retry waits about `initial`, each later one twice as long,
    /// never more than `max` (defaults 100 ms and 2 s).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        let retries = self.backoff.max_retries().unwrap_or(0);
        self.backoff = Backoff::new(initial, max).with_max_retries(retries);
        self
    }

    /// Checks the templates and builds the provider.
    pub fn build(self) -> Result<HttpProvider, InferError> {
        if self.attempt_timeout.is_zero() {
            return Err(InferError::Config(
                "attempt timeout is zero; give attempts time to answer".into(),
            ));
        }
        let url = UrlTemplate::parse(&self.url)?;
        let topic_urls = self
            .topic_urls
            .iter()
            .map(|(topic, t)| Ok((*topic, UrlTemplate::parse(t)?)))
            .collect::<Result<HashMap<_, _>, InferError>>()?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("allora-infer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| InferError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpProvider {
            client,
            config: Arc::new(Config {
                url,
                topic_urls,
                token: self.token,
                topic_tokens: self.topic_tokens,
                attempt_timeout: self.attempt_timeout,
                max_body_bytes: self.max_body_bytes,
                backoff: self.backoff,
            }),
        })
    }
}
