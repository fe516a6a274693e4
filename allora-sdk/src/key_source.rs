//! Where a worker's signing key comes from.
//!
//! A [`KeySource`] yields a [`WorkerSigner`]: today a local key derived from
//! a BIP39 mnemonic; signers that keep the key elsewhere (a cloud KMS, a
//! remote signing service) are further variants of the same handle, so code
//! that chooses a source does not change when one is added.
//!
//! Sources here: [`KeyFileSource`] (a 0600 key file) and
//! [`EnvMnemonicSource`] (a mnemonic in an environment variable, for
//! containers). `allora-aws` adds an AWS Secrets Manager source. Every
//! source keeps the phrase in memory only, zeroizes its copies, and never
//! puts any of it in a log line or an error.
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

use std::path::{Path, PathBuf};
use std::str::FromStr;

use zeroize::Zeroizing;

use crate::keyfile;
use crate::keys::{Address, KeyError, Mnemonic, PublicKey, WorkerKey};

/// What a [`KeySource`] yields: the handle the worker signs with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WorkerSigner {
    /// A secp256k1 key held in this process (zeroized on drop).
    Local(WorkerKey),
}

impl WorkerSigner {
    /// The signer's `allo1...` address.
    pub fn address(&self) -> &Address {
        match self {
            WorkerSigner::Local(key) => key.address(),
        }
    }

    /// The signer's public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            WorkerSigner::Local(key) => key.public_key(),
        }
    }

    /// The local key, when the signer is one (`None` for a signer that
    /// keeps its key elsewhere).
    pub fn into_local(self) -> Option<WorkerKey> {
        match self {
            WorkerSigner::Local(key) => Some(key),
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
}

impl KeySourceError {
    /// Whether trying again later may succeed (the source was unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, KeySourceError::Unavailable { .. })
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

#[cfg(test)]
mod tests {
    use super::*;

    const ABOUT: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    const ABOUT_ADDRESS: &str = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv";

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
    async fn an_unset_variable_is_not_found() {
        let source = EnvMnemonicSource::new("ALLORA_TEST_MNEMONIC_THAT_IS_NEVER_SET");
        let err = source.load().await.unwrap_err();
        assert!(matches!(err, KeySourceError::NotFound { .. }), "{err:?}");
        assert!(!err.is_retryable());
    }
}
