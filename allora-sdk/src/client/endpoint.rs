//! Endpoints with health tracking, and failover of calls between them.
//!
//! Every attempt runs under a deadline: the request timeout, or the time
//! left before the caller's own deadline when that is sooner (a call made
//! for a window never outlives the window). A transport failure (refused
//! connection, reset, timeout, `UNAVAILABLE`) marks the endpoint unhealthy
//! for a cool-down and the call moves on to the next endpoint at once, so a
//! dead endpoint costs at most one timeout and later calls skip it until the
//! cool-down ends. Answers from the chain (even errors such as `NOT_FOUND`)
//! are returned as they are: another endpoint would say the same.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint as TonicEndpoint};

use super::error::{timeout_message, AttemptError, ClientError, TransportFailure};

/// The health of one endpoint, as seen by this client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHealth {
    /// The endpoint URL.
    pub url: String,
    /// Whether calls currently go to it first.
    pub healthy: bool,
    /// Transport failures in a row.
    pub consecutive_failures: u32,
    /// The last transport failure, if any.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Health {
    consecutive_failures: u32,
    unhealthy_until: Option<Instant>,
    last_error: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Endpoint {
    url: String,
    channel: Channel,
    health: Mutex<Health>,
}

impl Endpoint {
    /// Makes a lazily connecting channel. Accepts `http://`, `https://` and the
    /// official SDK's `grpc+http://` / `grpc+https://` forms.
    pub(crate) fn new(url: &str, connect_timeout: Duration) -> Result<Self, ClientError> {
        let invalid = |reason: String| ClientError::InvalidEndpoint {
            url: url.to_owned(),
            reason,
        };
        let normalized = url
            .trim()
            .strip_prefix("grpc+")
            .unwrap_or(url.trim())
            .trim_end_matches('/')
            .to_owned();
        if !(normalized.starts_with("http://") || normalized.starts_with("https://")) {
            return Err(invalid(
                "expected http://host:port or https://host:port (grpc+ prefixes accepted)"
                    .to_owned(),
            ));
        }
        let mut endpoint = TonicEndpoint::from_shared(normalized.clone())
            .map_err(|e| invalid(e.to_string()))?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if normalized.starts_with("https://") {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_webpki_roots())
                .map_err(|e| invalid(e.to_string()))?;
        }
        Ok(Endpoint {
            url: normalized,
            channel: endpoint.connect_lazy(),
            health: Mutex::new(Health::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Health> {
        // A poisoned lock only means a panic elsewhere while holding it; the
        // counters inside are still meaningful.
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_healthy(&self, now: Instant) -> bool {
        self.lock().unhealthy_until.is_none_or(|until| now >= until)
    }

    fn mark_ok(&self) {
        let mut h = self.lock();
        h.consecutive_failures = 0;
        h.unhealthy_until = None;
    }

    fn mark_failed(&self, error: &str, cooldown: Duration) {
        let mut h = self.lock();
        h.consecutive_failures = h.consecutive_failures.saturating_add(1);
        h.unhealthy_until = Some(Instant::now() + cooldown);
        h.last_error = Some(error.to_owned());
    }

    pub(crate) fn health(&self) -> EndpointHealth {
        let now = Instant::now();
        let h = self.lock();
        EndpointHealth {
            url: self.url.clone(),
            healthy: h.unhealthy_until.is_none_or(|until| now >= until),
            consecutive_failures: h.consecutive_failures,
            last_error: h.last_error.clone(),
        }
    }
}

/// The set of endpoints of one client.
#[derive(Debug)]
pub(crate) struct EndpointPool {
    endpoints: Vec<Endpoint>,
    request_timeout: Duration,
    cooldown: Duration,
}

impl EndpointPool {
    pub(crate) fn new(
        endpoints: Vec<Endpoint>,
        request_timeout: Duration,
        cooldown: Duration,
    ) -> Self {
        EndpointPool {
            endpoints,
            request_timeout,
            cooldown,
        }
    }

    pub(crate) fn health(&self) -> Vec<EndpointHealth> {
        self.endpoints.iter().map(Endpoint::health).collect()
    }

    /// Healthy endpoints in configured order, then the cooling ones (so a call
    /// still goes somewhere when all are marked down).
    fn order(&self) -> Vec<&Endpoint> {
        let now = Instant::now();
        let (mut healthy, cooling): (Vec<&Endpoint>, Vec<&Endpoint>) =
            self.endpoints.iter().partition(|e| e.is_healthy(now));
        healthy.extend(cooling);
        healthy
    }

    /// Runs `call` on the first endpoint that answers, failing over on
    /// transport errors, and never past `deadline`: each attempt is bounded
    /// by the request timeout or the time left, whichever is shorter. An
    /// attempt cut short by the caller's deadline does not count against the
    /// endpoint.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        method: &'static str,
        deadline: Option<Instant>,
        call: F,
    ) -> Result<T, ClientError>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut attempts = Vec::new();
        for endpoint in self.order() {
            let (timeout, cut_by_deadline) =
                attempt_timeout(self.request_timeout, deadline, Instant::now());
            if timeout.is_zero() {
                return Err(ClientError::DeadlineExceeded { method, attempts });
            }
            match self.attempt(endpoint, timeout, &call).await {
                Err(AttemptError::Transport(error)) if cut_by_deadline && error.timed_out => {
                    return Err(ClientError::DeadlineExceeded { method, attempts });
                }
                Ok(value) => {
                    endpoint.mark_ok();
                    return Ok(value);
                }
                Err(AttemptError::Status(status)) => {
                    // The endpoint is alive: it answered.
                    endpoint.mark_ok();
                    return Err(status_error(method, &endpoint.url, status));
                }
                Err(AttemptError::Transport(error)) => {
                    let error = error.message;
                    tracing::warn!(endpoint = %endpoint.url, method, %error, "endpoint failed; trying the next one");
                    endpoint.mark_failed(&error, self.cooldown);
                    attempts.push((endpoint.url.clone(), error));
                }
            }
        }
        Err(ClientError::Unavailable { method, attempts })
    }

    async fn attempt<T, F, Fut>(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
        call: &F,
    ) -> Result<T, AttemptError>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match tokio::time::timeout(timeout, call(endpoint.channel.clone())).await {
            Err(_) => Err(AttemptError::Transport(TransportFailure {
                message: timeout_message(timeout),
                timed_out: true,
            })),
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) if is_transport_failure(&status) => {
                Err(AttemptError::Transport(TransportFailure {
                    message: describe_status(&status),
                    timed_out: false,
                }))
            }
            Ok(Err(status)) => Err(AttemptError::Status(status)),
        }
    }
}

/// How long one attempt may take: the request timeout, or the time left
/// before `deadline` when that is shorter (then `true`: a timeout is the
/// caller's deadline, not the endpoint's fault).
fn attempt_timeout(
    request_timeout: Duration,
    deadline: Option<Instant>,
    now: Instant,
) -> (Duration, bool) {
    match deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(now);
            if left < request_timeout {
                (left, true)
            } else {
                (request_timeout, false)
            }
        }
        None => (request_timeout, false),
    }
}

/// Whether a status says the endpoint could not serve, rather than that the
/// chain answered with an error.
fn is_transport_failure(status: &tonic::Status) -> bool {
    use std::error::Error as _;
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => true,
        // tonic reports connection-level failures (resets, protocol errors)
        // as UNKNOWN with a transport error as the source.
        tonic::Code::Unknown => {
            status.source().is_some() || status.message().contains("transport error")
        }
        _ => false,
    }
}

fn describe_status(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut text = format!("{:?}: {}", status.code(), status.message());
    let mut source = status.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn status_error(method: &'static str, endpoint: &str, status: tonic::Status) -> ClientError {
    ClientError::Status {
        method,
        endpoint: endpoint.to_owned(),
        code: status.code(),
        message: status.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_are_normalized_or_refused() {
        let t = Duration::from_secs(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        assert_eq!(
            Endpoint::new("grpc+http://127.0.0.1:9090/", t).unwrap().url,
            "http://127.0.0.1:9090"
        );
        assert_eq!(
            Endpoint::new(" https://example.org:443 ", t).unwrap().url,
            "https://example.org:443"
        );
        assert!(matches!(
            Endpoint::new("127.0.0.1:9090", t),
            Err(ClientError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            Endpoint::new("ftp://x", t),
            Err(ClientError::InvalidEndpoint { .. })
        ));
    }

    #[test]
    fn attempts_are_bounded_by_the_callers_deadline() {
        let now = Instant::now();
        let timeout = Duration::from_secs(5);
        assert_eq!(attempt_timeout(timeout, None, now), (timeout, false));
        assert_eq!(
            attempt_timeout(timeout, Some(now + Duration::from_secs(60)), now),
            (timeout, false)
        );
        assert_eq!(
            attempt_timeout(timeout, Some(now + Duration::from_millis(300)), now),
            (Duration::from_millis(300), true)
        );
        assert_eq!(
            attempt_timeout(timeout, Some(now - Duration::from_millis(1)), now),
            (Duration::ZERO, true)
        );
    }

    #[test]
    fn transport_failures_are_told_apart_from_answers() {
        assert!(is_transport_failure(&tonic::Status::unavailable("down")));
        assert!(is_transport_failure(&tonic::Status::deadline_exceeded(
            "slow"
        )));
        assert!(!is_transport_failure(&tonic::Status::not_found(
            "tx not found: AB"
        )));
        assert!(!is_transport_failure(&tonic::Status::invalid_argument(
            "bad"
        )));
        assert!(!is_transport_failure(&tonic::Status::unknown("out of gas")));
    }
}
