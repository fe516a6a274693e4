//! The worker's mnemonic, kept in AWS Secrets Manager.
//!
//! The secret's `SecretString` holds either the bare phrase or a JSON object
//! `{"mnemonic": "..."}` (other fields are ignored, so the object can carry
//! notes for operators). The phrase only ever lives in memory: it is never
//! written to disk, logged, or put into an error, and the copies made while
//! parsing are zeroized.
//!
//! ```no_run
//! use allora_aws::secrets::{SecretError, SecretsManagerKeySource};
//! use allora_sdk::keys::WorkerKey;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = allora_aws::sdk_config::config_loader().load().await;
//! let source = SecretsManagerKeySource::new(
//!     aws_sdk_secretsmanager::Client::new(&config),
//!     "allora/worker/mnemonic",
//! )
//! .create_if_missing(true);
//! let mnemonic = source.load_mnemonic().await?;
//! let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
//! println!("worker address: {}", key.address());
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;

use allora_sdk::key_source::{signer_from_mnemonic, KeySource, KeySourceError, WorkerSigner};
use allora_sdk::keys::Mnemonic;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;
use aws_smithy_types::error::display::DisplayErrorContext;
use zeroize::{Zeroize, Zeroizing};

/// Number of words of a mnemonic created on first run.
pub const CREATED_WORD_COUNT: usize = 24;

/// Why the mnemonic could not be loaded. No variant ever holds any part of the
/// secret's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The secret does not exist (and creating it was not asked for).
    #[error("secret {secret_id:?} not found in Secrets Manager")]
    NotFound {
        /// The secret name or ARN asked for.
        secret_id: String,
    },
    /// The credentials in use are refused, or may not read (or create) the
    /// secret.
    #[error("access to secret {secret_id:?} denied ({code}); check the IAM policy of the role")]
    AccessDenied {
        /// The secret name or ARN asked for.
        secret_id: String,
        /// The service's error code.
        code: String,
    },
    /// The secret exists but does not hold a usable mnemonic.
    #[error("secret {secret_id:?} is malformed: {reason}")]
    Malformed {
        /// The secret name or ARN asked for.
        secret_id: String,
        /// What is wrong, without quoting the value.
        reason: String,
    },
    /// Secrets Manager could not be reached in time.
    #[error("Secrets Manager unreachable while reading {secret_id:?}: {message}")]
    Unreachable {
        /// The secret name or ARN asked for.
        secret_id: String,
        /// What the HTTP client reported.
        message: String,
    },
    /// Secrets Manager refused the request for another reason.
    #[error("Secrets Manager error for {secret_id:?}: {code}: {message}")]
    Service {
        /// The secret name or ARN asked for.
        secret_id: String,
        /// The service's error code.
        code: String,
        /// The service's message (empty for requests that carried the secret,
        /// whose messages are not relayed).
        message: String,
    },
    /// A new mnemonic could not be generated.
    #[error("could not generate a mnemonic: {0}")]
    Generate(#[source] allora_sdk::keys::KeyError),
}

impl SecretError {
    /// Whether trying again later may succeed: the service was unreachable or
    /// failed on its side.
    pub fn is_retryable(&self) -> bool {
        match self {
            SecretError::Unreachable { .. } => true,
            SecretError::Service { code, .. } => {
                code == "InternalServiceError" || code == "ThrottlingException"
            }
            _ => false,
        }
    }
}

/// Reads the worker mnemonic from one secret, optionally creating it.
#[derive(Debug, Clone)]
pub struct SecretsManagerKeySource {
    client: Client,
    secret_id: String,
    create_if_missing: bool,
    kms_key_id: Option<String>,
}

impl SecretsManagerKeySource {
    /// A source reading the secret with this name or ARN.
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        SecretsManagerKeySource {
            client,
            secret_id: secret_id.into(),
            create_if_missing: false,
            kms_key_id: None,
        }
    }

    /// When the secret does not exist, generate a 24-word mnemonic, store it
    /// as `{"mnemonic": "..."}` under the configured name and use it
    /// (default: off, so that a typo in the name cannot silently give the
    /// worker a new, empty wallet). Needs `secretsmanager:CreateSecret`.
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// The KMS key that encrypts a secret created by this source (default:
    /// the account's `aws/secretsmanager` key).
    pub fn kms_key_id(mut self, key: impl Into<String>) -> Self {
        self.kms_key_id = Some(key.into());
        self
    }

    /// The secret name or ARN.
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// Loads the mnemonic, creating the secret first if asked to and it does
    /// not exist. As a [`KeySource`], the source derives the worker key from
    /// it.
    #[tracing::instrument(skip(self), fields(secret_id = %self.secret_id))]
    pub async fn load_mnemonic(&self) -> Result<Mnemonic, SecretError> {
        match self.read().await {
            Err(SecretError::NotFound { .. }) if self.create_if_missing => {
                self.create().await?;
                // Read back instead of returning the generated phrase: when two
                // instances race to create, both end up with the one stored.
                self.read().await
            }
            other => other,
        }
    }

    async fn read(&self) -> Result<Mnemonic, SecretError> {
        let mut output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| self.classify(e, true))?;
        let text = Zeroizing::new(output.secret_string.take());
        if let Some(mut binary) = output.secret_binary.take().map(|b| b.into_inner()) {
            binary.zeroize();
            if text.is_none() {
                return Err(self.malformed(
                    "the secret holds SecretBinary; store the phrase as SecretString".to_owned(),
                ));
            }
        }
        let Some(text) = text.as_deref() else {
            return Err(self.malformed("the secret has no SecretString".to_owned()));
        };
        parse_secret_string(text).map_err(|reason| self.malformed(reason))
    }

    async fn create(&self) -> Result<(), SecretError> {
        let mnemonic = Mnemonic::generate(CREATED_WORD_COUNT).map_err(SecretError::Generate)?;
        // The phrase is lower-case ASCII words and spaces, so it needs no
        // JSON escaping; formatting directly keeps every copy zeroizable.
        let phrase = mnemonic.phrase();
        let mut body = Zeroizing::new(String::with_capacity(phrase.len() + 16));
        body.push_str("{\"mnemonic\":\"");
        body.push_str(&phrase);
        body.push_str("\"}");
        let request = self
            .client
            .create_secret()
            .name(&self.secret_id)
            .description("BIP39 mnemonic of an Allora worker key, created by allora-aws")
            .set_kms_key_id(self.kms_key_id.clone())
            .secret_string(body.as_str());
        match request.send().await {
            Ok(_) => {
                tracing::info!("created a new worker mnemonic in Secrets Manager");
                Ok(())
            }
            Err(e) => match self.classify(e, false) {
                SecretError::Service { code, .. } if code == "ResourceExistsException" => {
                    tracing::info!("secret was created concurrently; using the stored one");
                    Ok(())
                }
                other => Err(other),
            },
        }
    }

    fn malformed(&self, reason: String) -> SecretError {
        SecretError::Malformed {
            secret_id: self.secret_id.clone(),
            reason,
        }
    }

    /// Maps an SDK error to a [`SecretError`]. `relay_message` is false for
    /// requests that carried the secret, in case the service quoted it back.
    fn classify<E>(&self, error: SdkError<E, HttpResponse>, relay_message: bool) -> SecretError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let secret_id = self.secret_id.clone();
        match &error {
            SdkError::ServiceError(context) => {
                let code = context.err().code().unwrap_or("Unknown").to_owned();
                match code.as_str() {
                    "ResourceNotFoundException" => SecretError::NotFound { secret_id },
                    "AccessDeniedException"
                    | "AccessDenied"
                    | "UnrecognizedClientException"
                    | "InvalidClientTokenId"
                    | "InvalidSignatureException" => SecretError::AccessDenied { secret_id, code },
                    // A 403 whose body is not the service's JSON (a proxy, an
                    // endpoint in front of the service) is still a refusal.
                    _ if context.raw().status().as_u16() == 403 => SecretError::AccessDenied {
                        secret_id,
                        code: format!("HTTP 403 ({code})"),
                    },
                    _ => SecretError::Service {
                        secret_id,
                        message: if relay_message {
                            context.err().message().unwrap_or_default().to_owned()
                        } else {
                            String::new()
                        },
                        code,
                    },
                }
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => SecretError::Unreachable {
                secret_id,
                message: DisplayErrorContext(&error).to_string(),
            },
            _ => SecretError::Service {
                secret_id,
                code: "RequestFailed".to_owned(),
                message: if relay_message {
                    DisplayErrorContext(&error).to_string()
                } else {
                    String::new()
                },
            },
        }
    }
}

#[async_trait::async_trait]
impl KeySource for SecretsManagerKeySource {
    fn describe(&self) -> String {
        format!("Secrets Manager secret {:?}", self.secret_id)
    }

    async fn load(&self) -> Result<WorkerSigner, KeySourceError> {
        let origin = self.describe();
        let mnemonic = self
            .load_mnemonic()
            .await
            .map_err(|e| to_key_source_error(e, origin.clone()))?;
        signer_from_mnemonic(&mnemonic, &origin)
    }
}

/// The key-source view of a [`SecretError`]: what happened and what to do.
fn to_key_source_error(error: SecretError, origin: String) -> KeySourceError {
    match error {
        SecretError::NotFound { .. } => KeySourceError::NotFound {
            origin,
            hint: "check the secret id (name or ARN) and the region (AWS_REGION), or create the secret holding the mnemonic".to_owned(),
        },
        SecretError::AccessDenied { code, .. } => KeySourceError::AccessDenied {
            origin,
            detail: code,
            hint: "allow secretsmanager:GetSecretValue on this secret to the role or credentials in use (and kms:Decrypt on its key when it is a customer-managed KMS key)".to_owned(),
        },
        SecretError::Malformed { reason, .. } => KeySourceError::InvalidMnemonic {
            origin,
            reason,
            hint: "store the 12 or 24 words in the secret string, bare or as {\"mnemonic\": \"...\"}".to_owned(),
        },
        SecretError::Unreachable { message, .. } => KeySourceError::Unavailable {
            origin,
            detail: message,
        },
        SecretError::Service { code, message, .. } => KeySourceError::Failed {
            origin,
            detail: if message.is_empty() {
                code
            } else {
                format!("{code}: {message}")
            },
        },
        SecretError::Generate(source) => KeySourceError::Key { origin, source },
    }
}

#[derive(serde::Deserialize)]
struct WrappedMnemonic<'a> {
    #[serde(borrow)]
    mnemonic: Cow<'a, str>,
}

/// Parses a SecretString: the bare phrase or `{"mnemonic": "..."}`. The error
/// says what is wrong without quoting any of the text (serde's messages can
/// quote values, so they are not passed on).
fn parse_secret_string(text: &str) -> Result<Mnemonic, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the SecretString is empty".to_owned());
    }
    if !text.starts_with('{') {
        return text
            .parse()
            .map_err(|e| format!("not a BIP39 mnemonic: {e}"));
    }
    let wrapped: WrappedMnemonic<'_> = serde_json::from_str(text).map_err(|_| {
        "the SecretString looks like JSON but is not an object with a string \"mnemonic\" field"
            .to_owned()
    })?;
    let parsed = wrapped
        .mnemonic
        .parse()
        .map_err(|e| format!("the \"mnemonic\" field is not a BIP39 mnemonic: {e}"));
    // An escaped string was copied out of the secret; clear that copy.
    if let Cow::Owned(mut copy) = wrapped.mnemonic {
        copy.zeroize();
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABOUT: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn parses_bare_and_json_forms() {
        assert_eq!(
            parse_secret_string(&format!("  {ABOUT}\n"))
                .unwrap()
                .phrase()
                .as_str(),
            ABOUT
        );
        let json = format!("{{\"mnemonic\": \"{ABOUT}\", \"note\": \"worker 1\"}}");
        assert_eq!(parse_secret_string(&json).unwrap().phrase().as_str(), ABOUT);
        // An escaped form takes the owned path.
        let escaped = format!("{{\"mnemonic\": \"\\u0061{}\"}}", &ABOUT[1..]);
        assert_eq!(parse_secret_string(&escaped).unwrap().word_count(), 12);
    }

    #[test]
    fn malformed_secrets_are_described_without_quoting_them() {
        let cases = [
            "",
            "   ",
            "{\"mnemonic\": 12345678}",
            "{\"phrase\": \"abandon\"}",
            "{not json abandon",
            "abandon zebra abandon",
            "{\"mnemonic\": \"abandon zebra secretword\"}",
        ];
        for case in cases {
            let reason = parse_secret_string(case).unwrap_err();
            for word in ["12345678", "zebra", "secretword"] {
                assert!(!reason.contains(word), "{case:?} -> {reason}");
            }
        }
    }
}
