//! A signer reached over HTTP: for keys kept in a signing service, an HSM
//! front end or another machine.
//!
//! # Protocol
//!
//! One call per signature:
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! Authorization: Bearer <token>            (only when a token is configured)
//!
//! {"digest": "<64 hex digits>", "public_key": "<66 hex digits>"}
//! ```
//!
//! - `digest`: the SHA-256 of the bytes being signed (an encoded payload
//!   bundle or a transaction sign doc). Sign it as is: do not hash it again.
//! - `public_key`: the compressed secp256k1 public key the worker expects the
//!   signature to verify against, so that a service holding several keys
//!   knows which one to use (and can refuse when it holds none).
//!
//! A successful answer is status 2xx with
//!
//! ```text
//! {"signature": "<128 hex digits>"}
//! ```
//!
//! the 64-byte `r || s` ECDSA signature (32 big-endian bytes each; upper or
//! lower case, optional `0x`). Either S is accepted: the worker normalises
//! to low-S. Other fields are ignored. A refusal is any other status, with
//! `{"error": "<message>"}` as body if the service wants the worker to log
//! a reason. Status 408, 429 and 5xx count as "unavailable, try again
//! later"; other statuses as refusals. Redirects are not followed.
//!
//! The worker verifies every signature against the configured public key
//! before using it, so a service that answers late, answers garbage, signs
//! with another key or signs other bytes makes the signing call fail with a
//! [`SignerError`]; nothing it returns reaches the chain unverified.
//!
//! The public key is configured, not asked of the service: a misrouted or
//! compromised service cannot move the worker to another account.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use allora_sdk::keys::PublicKey;
//! use allora_sdk::signer::{RemoteSigner, Signer};
//!
//! # fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let public_key = PublicKey::from_hex(
//!     "02a1633cafcc01ebfb6d78e39f687a1f0995c62fc95f51ead10a02ee0be551b5dc",
//! )?;
//! let signer = RemoteSigner::builder("https://signer.internal:8443/sign", public_key)
//!     .bearer_token(std::env::var("SIGNER_TOKEN")?)
//!     .timeout(Duration::from_secs(2))
//!     .build()?;
//! println!("worker {} signs through {}", public_key.address()?, signer.describe());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use derive_setters::Setters;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

use super::{RawSignature, SignRequest, Signer, SignerError, SIGNATURE_LEN};
use crate::keys::PublicKey;

/// How long one signing call may take unless set otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting may take unless set otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read; anything longer is not a signature.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;
/// The most of a service's error message relayed into an error.
const MAX_ERROR_CHARS: usize = 200;

/// Builds a [`RemoteSigner`].
#[derive(Setters)]
#[setters(generate = false)]
pub struct RemoteSignerBuilder {
    url: String,
    public_key: PublicKey,
    /// Sends `Authorization: Bearer <token>` with every call. The token is
    /// never logged, shown by `Debug` or put into an error.
    #[setters(generate, rename = "bearer_token", strip_option, into)]
    token: Option<String>,
    /// How long one signing call may take, connection included (default
    /// [`DEFAULT_TIMEOUT`]). The caller's deadline applies as well.
    #[setters(generate)]
    timeout: Duration,
    /// How long connecting may take (default [`DEFAULT_CONNECT_TIMEOUT`]).
    #[setters(generate)]
    connect_timeout: Duration,
}

impl RemoteSignerBuilder {
    /// Checks the URL and the token and builds the signer. Makes no call.
    ///
    /// Errors: [`SignerError::InvalidConfig`] for a URL that is not `http` or
    /// `https`, or a token that cannot be sent in a header.
    pub fn build(self) -> Result<RemoteSigner, SignerError> {
        let invalid =
            |signer: String, reason: String| SignerError::InvalidConfig { signer, reason };
        let url: Url = self.url.parse().map_err(|e| {
            invalid(
                "remote signer".to_owned(),
                format!("invalid URL: {e}; expected a form like https://host:port/sign"),
            )
        })?;
        let shown = shown_url(&url);
        let signer = format!("remote signer {shown}");
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(
                signer,
                format!("URL scheme {:?} is not http or https", url.scheme()),
            ));
        }
        let authorization = match self.token {
            Some(token) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        invalid(
                            signer.clone(),
                            "the bearer token holds characters an HTTP header cannot carry"
                                .to_owned(),
                        )
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| invalid(signer.clone(), format!("HTTP client: {}", error_chain(e))))?;
        Ok(RemoteSigner {
            http,
            url,
            signer,
            public_key: self.public_key,
            authorization,
            timeout: self.timeout,
        })
    }
}

impl fmt::Debug for RemoteSignerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSignerBuilder")
            .field("public_key", &self.public_key)
            .field("bearer_token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// A [`Signer`] that asks an HTTP service to sign (see the
/// [module docs](self) for the protocol).
#[derive(Clone)]
pub struct RemoteSigner {
    http: reqwest::Client,
    url: Url,
    signer: String,
    public_key: PublicKey,
    authorization: Option<HeaderValue>,
    timeout: Duration,
}

impl RemoteSigner {
    /// A builder for a service at `url` holding the key whose public key is
    /// `public_key`.
    pub fn builder(url: impl Into<String>, public_key: PublicKey) -> RemoteSignerBuilder {
        RemoteSignerBuilder {
            url: url.into(),
            public_key,
            token: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    fn unavailable(&self, reason: String) -> SignerError {
        SignerError::Unavailable {
            signer: self.signer.clone(),
            reason,
        }
    }

    fn malformed(&self, reason: impl Into<String>) -> SignerError {
        SignerError::Malformed {
            signer: self.signer.clone(),
            reason: reason.into(),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> SignerError {
        if e.is_timeout() {
            SignerError::Timeout {
                signer: self.signer.clone(),
                waited: self.timeout,
            }
        } else {
            self.unavailable(error_chain(e))
        }
    }

    /// Reads at most [`MAX_RESPONSE_BYTES`] of the body.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, SignerError> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(self.malformed(format!(
                    "the answer is longer than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn refusal(&self, status: StatusCode, body: &[u8]) -> SignerError {
        let message = serde_json::from_slice::<ErrorBody>(body)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
        let message = printable(&message);
        let message = if message.is_empty() {
            "no message".to_owned()
        } else {
            message
        };
        let code = format!("HTTP {}", status.as_u16());
        if status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
        {
            return self.unavailable(format!("{code}: {message}"));
        }
        let hint = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                "; check the bearer token and the service's access rules"
            }
            StatusCode::NOT_FOUND => "; check the signer URL and that the service holds this key",
            s if s.is_redirection() => "; redirects are not followed: configure the final URL",
            _ => "",
        };
        SignerError::Refused {
            signer: self.signer.clone(),
            code,
            reason: format!("{message}{hint}"),
        }
    }
}

impl fmt::Debug for RemoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSigner")
            .field("url", &shown_url(&self.url))
            .field("public_key", &self.public_key)
            .field(
                "bearer_token",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Serialize)]
struct SignBody {
    digest: String,
    public_key: String,
}

#[derive(Deserialize)]
struct SignatureBody {
    signature: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

#[async_trait::async_trait]
impl Signer for RemoteSigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn describe(&self) -> String {
        self.signer.clone()
    }

    async fn sign_digest(&self, request: &SignRequest<'_>) -> Result<RawSignature, SignerError> {
        let body = SignBody {
            digest: hex::encode(request.digest()),
            public_key: self.public_key.to_hex(),
        };
        let mut call = self.http.post(self.url.clone()).json(&body);
        if let Some(authorization) = &self.authorization {
            call = call.header(AUTHORIZATION, authorization.clone());
        }
        let response = call.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let body = self.read_body(response).await?;
        if !status.is_success() {
            return Err(self.refusal(status, &body));
        }
        let answer: SignatureBody = serde_json::from_slice(&body).map_err(|e| {
            self.malformed(format!(
                "expected JSON {{\"signature\": \"<128 hex digits>\"}}: {e}"
            ))
        })?;
        let text = answer.signature.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        let mut signature = [0u8; SIGNATURE_LEN];
        hex::decode_to_slice(text, &mut signature).map_err(|_| {
            self.malformed(format!(
                "\"signature\" is not 128 hex digits ({} characters)",
                text.len()
            ))
        })?;
        Ok(signature)
    }
}

/// The URL as shown in logs and errors: no user, password, query or fragment.
fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    // Only fails for URLs that cannot have credentials, which then have none.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// A transport error and its causes, without the URL (which the signer's
/// description already shows, minus any credentials).
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The printable part of a service's message, shortened.
fn printable(message: &str) -> String {
    let cleaned: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = cleaned.trim();
    match trimmed.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PublicKey {
        crate::keys::WorkerKey::from_private_key_bytes(&[5; 32])
            .unwrap()
            .public_key()
    }

    #[test]
    fn urls_are_checked_and_shown_without_credentials() {
        let signer =
            RemoteSigner::builder("https://ops:hunter2@signer.example:8443/sign?t=abc", key())
                .bearer_token("s3cret-token")
                .build()
                .unwrap();
        assert_eq!(
            signer.describe(),
            "remote signer https://signer.example:8443/sign"
        );
        let shown = format!("{signer:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret") && !shown.contains("t=abc")
        );

        for bad in ["ftp://signer/sign", "not a url"] {
            let err = RemoteSigner::builder(bad, key()).build().unwrap_err();
            assert!(matches!(err, SignerError::InvalidConfig { .. }), "{err:?}");
        }
        let err = RemoteSigner::builder("https://signer/sign", key())
            .bearer_token("line\nbreak")
            .build()
            .unwrap_err();
        assert!(matches!(err, SignerError::InvalidConfig { .. }), "{err:?}");
        assert!(!err.to_string().contains("line"), "{err}");
    }

    #[test]
    fn service_messages_are_printable_and_short() {
        assert_eq!(printable("a\u{7}b\nc "), "a b c");
        let long = "x".repeat(500);
        assert_eq!(printable(&long).chars().count(), MAX_ERROR_CHARS + 1);
    }
}
