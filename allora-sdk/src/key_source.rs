//! Where a worker's signing key comes from.
//!
//! A [`KeySource`] yields a [`WorkerSigner`]: a local key derived from a
//! BIP39 mnemonic ([`WorkerSigner::Local`]), or a signer that keeps the key
//! elsewhere, a cloud KMS or a remote signing service
//! ([`WorkerSigner::Remote`]). Either way the worker address comes from the
//! signer's public key, and [`WorkerSigner::into_shared`] gives what
//! [`WorkerBuilder::signer`](crate::worker::WorkerBuilder::signer) and
//! [`TxPipeline::new`](crate::pipeline::TxPipeline::new) take, so code that
//! chooses a source does not change with the kind of signer.
//!
//! Sources here: [`KeyFileSource`] (a 0600 key file),
//! [`EnvMnemonicSource`] (a mnemonic in an environment variable, for
//! containers) and [`RemoteSignerSource`] (an HTTP signing service, see
//! [`RemoteSigner`]). `allora-aws` adds an AWS Secrets Manager source (a
//! mnemonic) and an AWS KMS source (a key that never leaves KMS). Every
//! mnemonic source keeps the phrase in memory only, zeroizes its copies,
//! and never puts any of it in a log line or an error.
//!
//! ```no_run
//! use allora_sdk::key_source::{EnvMnemonicSource, KeyFileSource, KeySource};
//!
//! # async fn demo() -> Result<(), allora_sdk::key_source::KeySourceError> {
//! let source: Box<dyn KeySource> = match std::env::var_os("ALLORA_MNEMONIC") {
//!     Some(_) => Box::new(EnvMnemonicSource::new("ALLORA_MNEMONIC")),
//!     None => Box::new(KeyFileSource::new("/var/lib/allora-worker/worker.key")),
//! };
//! let signer = source.load().await?;
//! println!("worker {} (key from {})", signer.address(), source.describe());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use derive_setters::Setters;
use zeroize::Zeroizing;

use crate::keyfile;
use crate::keys::{Address, KeyError, Mnemonic, PublicKey, WorkerKey};
use crate::signer::{RemoteSigner, SharedSigner, Signer, SignerError};

/// What a [`KeySource`] yields: the handle the worker signs with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WorkerSigner {
    /// A secp256k1 key held in this process (zeroized on drop).
    Local(WorkerKey),
    /// A signer that keeps the key outside this process (an AWS KMS key, a
    /// remote signing service); its signatures are verified before use.
    Remote(SharedSigner),
}

impl WorkerSigner {
    /// A signer that keeps its key outside this process.
    ///
    /// Errors: [`SignerError::PublicKey`] when no address derives from its
    /// public key.
    pub fn remote(signer: Arc<dyn Signer>) -> Result<Self, SignerError> {
        SharedSigner::new(signer).map(WorkerSigner::Remote)
    }

    /// The signer's `allo1...` address.
    pub fn address(&self) -> &Address {
        match self {
            WorkerSigner::Local(key) => key.address(),
            WorkerSigner::Remote(signer) => signer.address(),
        }
    }

    /// The signer's public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            WorkerSigner::Local(key) => key.public_key(),
            WorkerSigner::Remote(signer) => signer.public_key(),
        }
    }

    /// Who signs, for logs: `local key allo1…`, `KMS key alias/worker`,
    /// `remote signer https://host/sign`. Never secret.
    pub fn describe(&self) -> String {
        match self {
            WorkerSigner::Local(key) => Signer::describe(key),
            WorkerSigner::Remote(signer) => signer.describe(),
        }
    }

    /// The local key, when the signer is one (`None` for a signer that
    /// keeps its key elsewhere).
    pub fn into_local(self) -> Option<WorkerKey> {
        match self {
            WorkerSigner::Local(key) => Some(key),
            WorkerSigner::Remote(_) => None,
        }
    }

    /// The signer as a worker or a pipeline takes it, whichever kind it is.
    pub fn into_shared(self) -> SharedSigner {
        match self {
            WorkerSigner::Local(key) => key.into(),
            WorkerSigner::Remote(signer) => signer,
        }
    }
}

impl From<WorkerKey> for WorkerSigner {
    fn from(key: WorkerKey) -> Self {
        WorkerSigner::Local(key)
    }
}

/// Why a key could not be loaded. `origin` names the source (`key file
/// /path`, `environment variable ALLORA_MNEMONIC`, `Secrets Manager secret
/// "arn:..."`); no variant ever holds any part of the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// The key is not where the source looks.
    #[error("{origin} not found; {hint}")]
    NotFound {
        /// The source.
        origin: String,
        /// What to do.
        hint: String,
    },
    /// The source refused to give the key to these credentials.
    #[error("{origin}: access denied ({detail}); {hint}")]
    AccessDenied {
        /// The source.
        origin: String,
        /// The refusal (an error code, never the secret).
        detail: String,
        /// What to do.
        hint: String,
    },
    /// The source holds something that is not a usable mnemonic.
    #[error("{origin} does not hold a valid mnemonic: {reason}; {hint}")]
    InvalidMnemonic {
        /// The source.
        origin: String,
        /// What is wrong, without quoting it.
        reason: String,
        /// What to do.
        hint: String,
    },
    /// The source could not be reached; trying again later may work.
    #[error("{origin} could not be reached: {detail}")]
    Unavailable {
        /// The source.
        origin: String,
        /// What the transport reported.
        detail: String,
    },
    /// The key file could not be read (permissions, I/O).
    #[error("{origin}: {source}")]
    Key {
        /// The source.
        origin: String,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// The source failed in another way.
    #[error("{origin}: {detail}")]
    Failed {
        /// The source.
        origin: String,
        /// What happened (never secret).
        detail: String,
    },
    /// A signer that keeps the key elsewhere could not be set up: its
    /// public key could not be read or is unusable, or it is misconfigured
    /// (the error names the signer).
    #[error(transparent)]
    Signer(#[from] SignerError),
}

impl KeySourceError {
    /// Whether trying again later may succeed (the source was unreachable).
    pub fn is_retryable(&self) -> bool {
        match self {
            KeySourceError::Unavailable { .. } => true,
            KeySourceError::Signer(error) => error.is_retryable(),
            _ => false,
        }
    }
}

/// Where a worker's key comes from.
#[async_trait::async_trait]
pub trait KeySource: Send + Sync + std::fmt::Debug {
    /// The source, for logs and errors: never secret.
    fn describe(&self) -> String;

    /// Loads the key. Blocking work (files) happens off the async runtime.
    async fn load(&self) -> Result<WorkerSigner, KeySourceError>;
}

/// Derives the worker key from a mnemonic at the Cosmos HD path the
/// official SDKs use, without a BIP39 passphrase.
pub fn signer_from_mnemonic(
    mnemonic: &Mnemonic,
    origin: &str,
) -> Result<WorkerSigner, KeySourceError> {
    WorkerKey::from_mnemonic(mnemonic, "")
        .map(WorkerSigner::Local)
        .map_err(|source| KeySourceError::Key {
            origin: origin.to_owned(),
            source,
        })
}

/// A key file: the mnemonic on one line, mode 0600 (see [`keyfile`]).
#[derive(Debug, Clone)]
pub struct KeyFileSource {
    path: PathBuf,
}

impl KeyFileSource {
    /// The key file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KeyFileSource { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the mnemonic. Blocking.
    pub fn read_mnemonic(&self) -> Result<Mnemonic, KeySourceError> {
        let origin = self.describe();
        match keyfile::read(&self.path) {
            Ok(mnemonic) => Ok(mnemonic),
            Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(KeySourceError::NotFound {
                    origin,
                    hint: format!(
                        "create it with `allora-worker keys new --key-file {path}` or import a mnemonic with `allora-worker keys import --key-file {path}`",
                        path = self.path.display()
                    ),
                })
            }
            Err(KeyError::InvalidMnemonic(reason)) => Err(KeySourceError::InvalidMnemonic {
                origin,
                reason,
                hint: "the file must hold the 12 or 24 words on one line".to_owned(),
            }),
            Err(source) => Err(KeySourceError::Key { origin, source }),
        }
    }
}

#[async_trait::async_trait]
impl KeySource for KeyFileSource {
    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }

    async fn load(&self) -> Result<WorkerSigner, KeySourceError> {
        let source = self.clone();
        let origin = self.describe();
        tokio::task::spawn_blocking(move || {
            let mnemonic = source.read_mnemonic()?;
            signer_from_mnemonic(&mnemonic, &source.describe())
        })
        .await
        .map_err(|e| KeySourceError::Failed {
            origin,
            detail: format!("the reading task failed: {e}"),
        })?
    }
}

/// A mnemonic in an environment variable of this process (for containers
/// whose orchestrator injects secrets as variables). The variable is read
/// at [`load`](KeySource::load); the copy taken is zeroized.
#[derive(Debug, Clone)]
pub struct EnvMnemonicSource {
    var: String,
}

impl EnvMnemonicSource {
    /// The variable `var` (such as `ALLORA_MNEMONIC`).
    pub fn new(var: impl Into<String>) -> Self {
        EnvMnemonicSource { var: var.into() }
    }

    /// Parses `phrase` as this source would (for values that come from
    /// elsewhere than the process environment).
    pub fn parse(&self, phrase: &str) -> Result<Mnemonic, KeySourceError> {
        let phrase = phrase.trim();
        if phrase.is_empty() {
            return Err(self.not_set());
        }
        Mnemonic::from_str(phrase).map_err(|e| KeySourceError::InvalidMnemonic {
            origin: self.describe(),
            reason: match e {
                KeyError::InvalidMnemonic(reason) => reason,
                other => other.to_string(),
            },
            hint: format!("set {} to the 12 or 24 words", self.var),
        })
    }

    fn not_set(&self) -> KeySourceError {
        KeySourceError::NotFound {
            origin: self.describe(),
            hint: format!(
                "set {} to the worker's 12 or 24 words, or choose another key source",
                self.var
            ),
        }
    }
}

#[async_trait::async_trait]
impl KeySource for EnvMnemonicSource {
    fn describe(&self) -> String {
        format!("environment variable {}", self.var)
    }

    async fn load(&self) -> Result<WorkerSigner, KeySourceError> {
        let phrase = match std::env::var(&self.var) {
            Ok(value) => Zeroizing::new(value),
            Err(std::env::VarError::NotPresent) => return Err(self.not_set()),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(KeySourceError::InvalidMnemonic {
                    origin: self.describe(),
                    reason: "the value is not valid UTF-8".to_owned(),
                    hint: format!("set {} to the 12 or 24 words", self.var),
                })
            }
        };
        let mnemonic = self.parse(&phrase)?;
        signer_from_mnemonic(&mnemonic, &self.describe())
    }
}

/// A signing service reached over HTTP (see [`RemoteSigner`] for the
/// protocol). The worker's public key is configured, not asked of the
/// service; the bearer token, if any, is never shown.
#[derive(Clone, Setters)]
#[setters(generate = false)]
pub struct RemoteSignerSource {
    url: String,
    public_key: PublicKey,
    token: Option<Zeroizing<String>>,
    /// Sends a bearer token read from this source when the signer is loaded
    /// (instead of one given with [`bearer_token`](Self::bearer_token)).
    #[setters(generate, rename = "bearer_token_from")]
    token_from: BearerToken,
    /// How long one signing call may take (default
    /// [`remote::DEFAULT_TIMEOUT`](crate::signer::remote::DEFAULT_TIMEOUT));
    /// the window's deadline applies as well.
    #[setters(generate, strip_option)]
    timeout: Option<Duration>,
}

/// Where a remote signer's bearer token is read from: when the signer is
/// loaded ([`KeySource::load`]), so the token never sits in a
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BearerToken {
    /// No token (or one given with [`RemoteSignerSource::bearer_token`]).
    #[default]
    None,
    /// The environment variable of this name (trimmed).
    Env(String),
    /// The first line of this file, which other users must not be able to
    /// read (mode 0600 on Unix).
    File(PathBuf),
}

impl BearerToken {
    /// Reads the token (`None` for [`BearerToken::None`]).
    ///
    /// Errors: [`KeySourceError::NotFound`] for an unset variable or a
    /// missing or empty file; [`KeySourceError::Failed`] for a file that
    /// cannot be read or that other users can read. The token is never part
    /// of an error.
    pub async fn read(&self) -> Result<Option<Zeroizing<String>>, KeySourceError> {
        match self {
            BearerToken::None => Ok(None),
            BearerToken::Env(var) => match std::env::var(var) {
                Ok(token) if !token.trim().is_empty() => {
                    let token = Zeroizing::new(token);
                    Ok(Some(Zeroizing::new(token.trim().to_owned())))
                }
                _ => Err(KeySourceError::NotFound {
                    origin: format!("environment variable {var}"),
                    hint: format!("set {var} to the signing service's bearer token"),
                }),
            },
            BearerToken::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_token_file(&path))
                    .await
                    .map_err(|e| KeySourceError::Failed {
                        origin: "remote signer token file".to_owned(),
                        detail: format!("the reading task failed: {e}"),
                    })?
                    .map(Some)
            }
        }
    }
}

/// Reads a bearer token file: not readable by group or others, the token on
/// its first line. Blocking.
fn read_token_file(path: &Path) -> Result<Zeroizing<String>, KeySourceError> {
    let origin = format!("remote signer token file {}", path.display());
    let text = match std::fs::read_to_string(path).map(Zeroizing::new) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeySourceError::NotFound {
                origin,
                hint: "write the signing service's bearer token into it (mode 0600), or point the configuration at where it is".to_owned(),
            })
        }
        Err(e) => {
            return Err(KeySourceError::Failed {
                origin,
                detail: format!("cannot read it: {e}"),
            })
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(KeySourceError::Failed {
                origin,
                detail: format!(
                    "its mode {:o} lets other users read it; chmod 600 it",
                    mode & 0o777
                ),
            });
        }
    }
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        return Err(KeySourceError::NotFound {
            origin,
            hint: "the file is empty; write the bearer token on its first line".to_owned(),
        });
    }
    Ok(Zeroizing::new(token.to_owned()))
}

impl RemoteSignerSource {
    /// The service at `url` holding the key whose public key is `public_key`.
    pub fn new(url: impl Into<String>, public_key: PublicKey) -> Self {
        RemoteSignerSource {
            url: url.into(),
            public_key,
            token: None,
            token_from: BearerToken::None,
            timeout: None,
        }
    }

    /// Sends `Authorization: Bearer <token>` with every call.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Zeroizing::new(token.into()));
        self
    }
}

impl fmt::Debug for RemoteSignerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSignerSource")
            .field("public_key", &self.public_key)
            .field("bearer_token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl KeySource for RemoteSignerSource {
    fn describe(&self) -> String {
        match reqwest::Url::parse(&self.url) {
            Ok(mut url) => {
                // No credentials or query in a description.
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.set_query(None);
                url.set_fragment(None);
                format!("remote signer {url}")
            }
            Err(_) => "remote signer (invalid URL)".to_owned(),
        }
    }

    /// Builds the signer; makes no call (the first signature is the first
    /// contact with the service).
    async fn load(&self) -> Result<WorkerSigner, KeySourceError> {
        let mut builder = RemoteSigner::builder(self.url.clone(), self.public_key);
        let read = self.token_from.read().await?;
        if let Some(token) = read.as_ref().or(self.token.as_ref()) {
            builder = builder.bearer_token(token.as_str());
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        Ok(WorkerSigner::remote(Arc::new(builder.build()?))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABOUT: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    const ABOUT_ADDRESS: &str = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv";

    #[tokio::test]
    async fn bearer_tokens_are_read_at_load_from_a_private_file_or_a_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signer.token");
        let from_file = BearerToken::File(path.clone());
        let missing = from_file.read().await.unwrap_err();
        assert!(
            matches!(missing, KeySourceError::NotFound { .. }),
            "{missing:?}"
        );
        std::fs::write(&path, "s3cret-token\nignored\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let open = from_file.read().await.unwrap_err();
            assert!(open.to_string().contains("chmod 600"), "{open}");
            assert!(!open.to_string().contains("s3cret"), "{open}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let token = from_file.read().await.unwrap().unwrap();
        assert_eq!(token.as_str(), "s3cret-token");
        std::fs::write(&path, "\n").unwrap();
        let empty = from_file.read().await.unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");

        let var = "ALLORA_SDK_TEST_BEARER_TOKEN_UNSET";
        let unset = BearerToken::Env(var.into()).read().await.unwrap_err();
        assert!(unset.to_string().contains(var), "{unset}");
        assert!(BearerToken::None.read().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_key_file_yields_its_key_and_a_missing_one_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.key");
        let source = KeyFileSource::new(&path);
        let err = source.load().await.unwrap_err();
        assert!(matches!(err, KeySourceError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("keys new"), "{err}");
        keyfile::write_new(&path, &ABOUT.parse().unwrap()).unwrap();
        let signer = source.load().await.unwrap();
        assert_eq!(signer.address().as_str(), ABOUT_ADDRESS);
        assert!(source.describe().contains("worker.key"));
    }

    #[tokio::test]
    async fn a_bad_key_file_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.key");
        std::fs::write(&path, "hunter2 zebra secretword\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let err = KeyFileSource::new(&path).load().await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(
            matches!(err, KeySourceError::InvalidMnemonic { .. }),
            "{shown}"
        );
        for word in ["hunter2", "zebra", "secretword"] {
            assert!(!shown.contains(word), "{shown}");
        }
    }

    #[test]
    fn an_environment_phrase_is_parsed_and_bad_ones_are_not_echoed() {
        let source = EnvMnemonicSource::new("ALLORA_TEST_MNEMONIC");
        let mnemonic = source.parse(&format!(" {ABOUT}\n")).unwrap();
        let signer = signer_from_mnemonic(&mnemonic, "test").unwrap();
        assert_eq!(signer.address().as_str(), ABOUT_ADDRESS);
        assert!(matches!(
            source.parse("  "),
            Err(KeySourceError::NotFound { .. })
        ));
        let err = source.parse("hunter2 zebra").unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("ALLORA_TEST_MNEMONIC"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("zebra"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_remote_signer_source_yields_a_remote_signer_with_the_configured_address() {
        let key = WorkerKey::from_private_key_bytes(&[7; 32]).unwrap();
        let source = RemoteSignerSource::new(
            "https://ops:pw@signer.example:8443/sign?k=1",
            key.public_key(),
        )
        .bearer_token("s3cret-token")
        .timeout(Duration::from_secs(1));
        assert_eq!(
            source.describe(),
            "remote signer https://signer.example:8443/sign"
        );
        let shown = format!("{source:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("pw"),
            "{shown}"
        );
        let signer = source.load().await.unwrap();
        assert!(matches!(signer, WorkerSigner::Remote(_)));
        assert_eq!(signer.address(), key.address());
        assert_eq!(signer.public_key(), key.public_key());
        assert_eq!(
            signer.describe(),
            "remote signer https://signer.example:8443/sign"
        );
        let shared = signer.clone().into_shared();
        assert_eq!(shared.address(), key.address());
        assert!(shared.needs_verification());
        assert!(signer.into_local().is_none());

        let err = RemoteSignerSource::new("ftp://signer.example/sign", key.public_key())
            .load()
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                KeySourceError::Signer(SignerError::InvalidConfig { .. })
            ),
            "{err:?}"
        );
        assert!(!err.is_retryable());

        let local = WorkerSigner::from(key.clone());
        assert!(!local.clone().into_shared().needs_verification());
        assert_eq!(local.describe(), format!("local key {}", key.address()));
    }

    #[tokio::test]
    async fn an_unset_variable_is_not_found() {
        let source = EnvMnemonicSource::new("ALLORA_TEST_MNEMONIC_THAT_IS_NEVER_SET");
        let err = source.load().await.unwrap_err();
        assert!(matches!(err, KeySourceError::NotFound { .. }), "{err:?}");
        assert!(!err.is_retryable());
    }
}
