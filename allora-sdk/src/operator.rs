//! What a node operator's tools do besides running the worker: create or
//! import a key file, show which address a key source gives, register in
//! topics with a line per topic, and print a report as text or JSON.
//!
//! Each function writes what the operator reads to `out` (standard output in
//! a command-line tool) and returns an [`OperatorError`] that says what to do
//! ([`write_report`], which only writes, the write's own error).
//! A mnemonic reaches `out` once, from [`create_key_file`]; no other output
//! and no error holds any part of it. Key files are written and read on
//! blocking threads, never on the async runtime, and `out` is written
//! asynchronously (any [`AsyncWrite`]: `tokio::io::stdout()`, a socket, a
//! `Vec<u8>`), flushed after each line or report.
//!
//! ```no_run
//! use allora_sdk::key_source::KeyFileSource;
//! use allora_sdk::operator;
//!
//! # async fn demo() -> Result<(), allora_sdk::operator::OperatorError> {
//! let path = std::path::PathBuf::from("/var/lib/allora-worker/worker.key");
//! let mut out = tokio::io::stdout();
//! // key file: …, address: allo1…, then the 24 words, shown this once.
//! operator::create_key_file(path.clone(), 24, &mut out).await?;
//! // key: key file …, address: allo1…, pubkey: 02… (never the mnemonic).
//! operator::show_key(&KeyFileSource::new(&path), &mut out).await?;
//! # Ok(())
//! # }
//! ```

use std::fmt::Display;
use std::io::BufRead;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::key_source::{KeySource, KeySourceError, WorkerSigner};
use crate::keyfile;
use crate::keys::{Address, KeyError, Mnemonic, WorkerKey};
use crate::pipeline::TxPipeline;
use crate::registration::{
    ensure_registered, Registration, RegistrationError, REGISTRATION_TIMEOUT,
};

/// Why an operator command failed. No variant holds any part of a mnemonic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// A key could not be generated, written or derived; the key file is
    /// named, and an existing one is never overwritten
    /// ([`KeyError::AlreadyExists`]).
    #[error("{0}")]
    Key(#[from] KeyError),
    /// The mnemonic read from the input is not a valid phrase (the reason
    /// never quotes it).
    #[error("the mnemonic read from standard input is not valid: {0}; paste the 12 or 24 words separated by spaces")]
    BadMnemonic(KeyError),
    /// The input could not be read.
    #[error("cannot read the mnemonic from standard input: {0}")]
    Input(#[source] std::io::Error),
    /// The key could not be loaded from its source (the source is named).
    #[error("cannot load the worker key: {0}")]
    KeySource(#[from] KeySourceError),
    /// A registration failed (for lack of funds: the message names the
    /// account, its balance and what it needs). Topics before it in the list
    /// are registered; the ones after it were not tried.
    #[error("registering in topic {topic_id} failed: {source}")]
    Register {
        /// The topic.
        topic_id: u64,
        /// Why.
        #[source]
        source: Box<RegistrationError>,
    },
    /// Writing to `out` failed.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
    /// The blocking task that handles the key file panicked or was
    /// cancelled (the runtime is shutting down).
    #[error("internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// `keys new`: generates a mnemonic of `words` words (12 or 24), writes it
/// to a new key file at `path` (mode 0600, parent directories 0700, see
/// [`keyfile::write_new`]) and writes to `out` the file, the address and,
/// this one time, the mnemonic:
///
/// ```text
/// key file: PATH
/// address:  allo1…
///
/// mnemonic (shown once; …):
///
/// WORD WORD …
/// ```
///
/// Returns the address. Errors: [`OperatorError::Key`] for another word
/// count or when the file exists already (it is left as it is) or cannot be
/// written; [`OperatorError::Output`].
pub async fn create_key_file(
    path: PathBuf,
    words: usize,
    out: &mut (dyn AsyncWrite + Unpin + Send),
) -> Result<Address, OperatorError> {
    let (mnemonic, key, path) = tokio::task::spawn_blocking(move || {
        let mnemonic = Mnemonic::generate(words)?;
        keyfile::write_new(&path, &mnemonic)?;
        let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
        Ok::<_, KeyError>((mnemonic, key, path))
    })
    .await??;
    let report = Zeroizing::new(format!(
        "key file: {}\naddress:  {}\n\nmnemonic (shown once; write it down and keep it offline, anyone with it controls the worker's funds):\n\n{}\n\n",
        path.display(),
        key.address(),
        mnemonic.phrase().as_str()
    ));
    emit(out, &report).await?;
    Ok(key.address().clone())
}

/// `keys import`: reads one line, a mnemonic, from `input` (standard input
/// in a command-line tool, so that the phrase never appears in the process
/// list or shell history), writes it to a new key file at `path` like
/// [`create_key_file`], and writes `imported into PATH` and the address to
/// `out` (never the phrase). Returns the address.
///
/// Errors: [`OperatorError::Input`], [`OperatorError::BadMnemonic`] (no
/// file is written), [`OperatorError::Key`] when the file exists already or
/// cannot be written, [`OperatorError::Output`].
pub async fn import_key_file(
    path: PathBuf,
    mut input: impl BufRead + Send + 'static,
    out: &mut (dyn AsyncWrite + Unpin + Send),
) -> Result<Address, OperatorError> {
    let (address, path) = tokio::task::spawn_blocking(move || {
        let mut line = Zeroizing::new(String::new());
        input.read_line(&mut line).map_err(OperatorError::Input)?;
        let mnemonic = Mnemonic::from_str(line.trim()).map_err(OperatorError::BadMnemonic)?;
        keyfile::write_new(&path, &mnemonic)?;
        let key = WorkerKey::from_mnemonic(&mnemonic, "")?;
        Ok::<_, OperatorError>((key.address().clone(), path))
    })
    .await??;
    let report = format!("imported into {}\naddress: {address}\n", path.display());
    emit(out, &report).await?;
    Ok(address)
}

/// `keys show`: loads the signer from `source` and writes the source, the
/// address and the compressed public key in hex (never the mnemonic):
///
/// ```text
/// key:     key file PATH
/// address: allo1…
/// pubkey:  02…
/// ```
///
/// For a key in a KMS the public key is read from the KMS; for a remote
/// signer it is the configured one. Returns the signer. Errors:
/// [`OperatorError::KeySource`], [`OperatorError::Output`].
pub async fn show_key(
    source: &dyn KeySource,
    out: &mut (dyn AsyncWrite + Unpin + Send),
) -> Result<WorkerSigner, OperatorError> {
    let signer = source.load().await?;
    let report = format!(
        "key:     {}\naddress: {}\npubkey:  {}\n",
        source.describe(),
        signer.address(),
        signer.public_key().to_hex()
    );
    emit(out, &report).await?;
    Ok(signer)
}

/// `register`: registers `pipeline`'s signer in each of `topics`, in order,
/// where it is not registered yet (one transaction per topic, each given
/// [`REGISTRATION_TIMEOUT`], see [`ensure_registered`]). Writes
/// `worker allo1…`, then a line per topic as it is done:
///
/// ```text
/// topic 1: already registered
/// topic 3: registered in tx HASH (height 42)
/// ```
///
/// Stops at the first topic that fails with [`OperatorError::Register`]
/// (for lack of funds it names the account, its balance and what it needs);
/// also [`OperatorError::Output`].
pub async fn register_topics(
    pipeline: &TxPipeline,
    topics: &[u64],
    out: &mut (dyn AsyncWrite + Unpin + Send),
) -> Result<(), OperatorError> {
    emit(out, &format!("worker {}\n", pipeline.address())).await?;
    for &topic_id in topics {
        let line = match ensure_registered(pipeline, topic_id, REGISTRATION_TIMEOUT).await {
            Ok(Registration::AlreadyRegistered) => {
                format!("topic {topic_id}: already registered")
            }
            Ok(Registration::Registered(tx)) => format!(
                "topic {topic_id}: registered in tx {} (height {})",
                tx.txhash, tx.height
            ),
            Err(source) => {
                return Err(OperatorError::Register {
                    topic_id,
                    source: Box::new(source),
                })
            }
        };
        emit(out, &format!("{line}\n")).await?;
    }
    Ok(())
}

/// Writes `text` to `out` and flushes it, so that each line is out before
/// the next step (a registration may take a block or more).
async fn emit(out: &mut (dyn AsyncWrite + Unpin + Send), text: &str) -> Result<(), OperatorError> {
    write_flushed(out, text)
        .await
        .map_err(OperatorError::Output)
}

async fn write_flushed(
    out: &mut (dyn AsyncWrite + Unpin + Send),
    text: &str,
) -> std::io::Result<()> {
    out.write_all(text.as_bytes()).await?;
    out.flush().await
}

/// Writes `report` (such as a [`NodeStatus`](crate::status::NodeStatus) or
/// a [`CheckReport`](crate::check::CheckReport)) to `out` and flushes it:
/// pretty-printed JSON and a newline when `json`, else its text form.
///
/// Errors: the write's, or serialisation's as [`std::io::Error`].
pub async fn write_report<R: Serialize + Display>(
    report: &R,
    json: bool,
    out: &mut (dyn AsyncWrite + Unpin + Send),
) -> std::io::Result<()> {
    let text = if json {
        let mut text = serde_json::to_string_pretty(report)?;
        text.push('\n');
        text
    } else {
        report.to_string()
    };
    write_flushed(out, &text).await
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::key_source::{EnvMnemonicSource, KeyFileSource};
    use std::os::unix::fs::PermissionsExt;

    fn text(out: &[u8]) -> String {
        String::from_utf8_lossy(out).into_owned()
    }

    #[tokio::test]
    async fn a_created_key_file_is_private_shows_its_phrase_once_and_imports_to_the_same_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/worker.key");
        let mut out = Vec::new();
        let address = create_key_file(path.clone(), 12, &mut out).await.unwrap();
        let shown = text(&out);
        let phrase = keyfile::read(&path).unwrap().phrase();
        assert!(shown.starts_with(&format!(
            "key file: {}\naddress:  {address}\n\nmnemonic (shown once;",
            path.display()
        )));
        assert!(
            shown.ends_with(&format!("\n\n{}\n\n", phrase.as_str())),
            "{shown}"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        // The same phrase imported elsewhere: the same address, no phrase shown.
        let copy = dir.path().join("b/worker.key");
        let input = std::io::Cursor::new(format!("  {}  \n", phrase.as_str()));
        let mut out = Vec::new();
        let imported = import_key_file(copy.clone(), input, &mut out)
            .await
            .unwrap();
        assert_eq!(imported, address);
        assert_eq!(
            text(&out),
            format!("imported into {}\naddress: {address}\n", copy.display())
        );
        assert_eq!(keyfile::read(&copy).unwrap().phrase(), phrase);

        // `keys show` of either file: source, address and public key only.
        let mut out = Vec::new();
        let signer = show_key(&KeyFileSource::new(&copy), &mut out)
            .await
            .unwrap();
        assert_eq!(signer.address(), &address);
        let shown = text(&out);
        assert_eq!(
            shown,
            format!(
                "key:     key file {}\naddress: {address}\npubkey:  {}\n",
                copy.display(),
                signer.public_key().to_hex()
            )
        );
        assert!(!shown.contains(phrase.split(' ').next().unwrap()));
    }

    #[tokio::test]
    async fn an_existing_key_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.key");
        create_key_file(path.clone(), 24, &mut Vec::new())
            .await
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        let mut out = Vec::new();
        let err = create_key_file(path.clone(), 12, &mut out)
            .await
            .unwrap_err();
        assert!(
            matches!(err, OperatorError::Key(KeyError::AlreadyExists { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("already exists"), "{err}");
        let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
        let input = std::io::Cursor::new(format!("{phrase}\n"));
        let err = import_key_file(path.clone(), input, &mut out)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            OperatorError::Key(KeyError::AlreadyExists { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(out.is_empty());
        // Neither 12 nor 24 words: nothing is written.
        let other = dir.path().join("other.key");
        let err = create_key_file(other.clone(), 18, &mut out)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            OperatorError::Key(KeyError::UnsupportedWordCount(18))
        ));
        assert!(!other.exists());
    }

    #[tokio::test]
    async fn a_bad_phrase_is_refused_without_being_echoed_or_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        let input = std::io::Cursor::new("hunter2 correct horse\n");
        let mut out = Vec::new();
        let err = import_key_file(path.clone(), input, &mut out)
            .await
            .unwrap_err();
        assert!(matches!(err, OperatorError::BadMnemonic(_)), "{err}");
        let message = err.to_string();
        assert!(message.contains("not valid") && message.contains("12 or 24 words"));
        assert!(!message.contains("hunter2") && !message.contains("horse"));
        assert!(out.is_empty());
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_key_source_that_fails_is_named_in_the_error() {
        let source = EnvMnemonicSource::new("ALLORA_OPERATOR_TEST_UNSET_MNEMONIC");
        let mut out = Vec::new();
        let err = show_key(&source, &mut out).await.unwrap_err();
        assert!(matches!(err, OperatorError::KeySource(_)), "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with("cannot load the worker key: ")
                && message.contains("ALLORA_OPERATOR_TEST_UNSET_MNEMONIC"),
            "{message}"
        );
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn reports_are_written_as_text_or_pretty_json() {
        #[derive(Serialize)]
        struct Report {
            ok: bool,
        }
        impl Display for Report {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                writeln!(f, "ok: {}", self.ok)
            }
        }
        let mut out = Vec::new();
        write_report(&Report { ok: true }, false, &mut out)
            .await
            .unwrap();
        assert_eq!(text(&out), "ok: true\n");
        let mut out = Vec::new();
        write_report(&Report { ok: true }, true, &mut out)
            .await
            .unwrap();
        assert_eq!(text(&out), "{\n  \"ok\": true\n}\n");
    }
}
