//! Secrets stay secret: a worker run with a known mnemonic through its
//! success and failure paths (provider errors, a panicking provider,
//! sequence mismatches, a node answering UNAVAILABLE, a mempool losing
//! transactions) must never show the mnemonic or the private key (hex or
//! base64) in its TRACE-level logs, in any error's Display or Debug, in the
//! results stream, in the observer's inputs, or in a panic message. And key
//! files are private: created 0600, refused when group or world readable.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use allora_devnet::fixtures::{fn_topic, record, TestNet};
use allora_infer::{AsyncFnProvider, InferError, InferenceRequest};
use allora_sdk::client::ChainClient;
use allora_sdk::keys::{Mnemonic, WorkerKey};
use allora_sdk::worker::{Submission, TopicSpec, WorkerError, WorkerObserver};
use base64::Engine as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const EPOCH: i64 = 6;
const WINDOW: i64 = 4;

/// Everything said anywhere during the run.
type Transcript = Arc<Mutex<String>>;

/// A TRACE-level subscriber writing every span and event field to a buffer.
struct Capture {
    out: Transcript,
    next_id: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let _ = write!(self.0, " {}={} / {:?}", field.name(), value, value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut out = self.out.lock().unwrap();
        let _ = write!(out, "\nspan {}:", span.metadata().name());
        span.record(&mut Fields(&mut out));
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed))
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Fields(&mut self.out.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut out = self.out.lock().unwrap();
        let _ = write!(
            out,
            "\n{} {}:",
            event.metadata().level(),
            event.metadata().target()
        );
        event.record(&mut Fields(&mut out));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Writes what the observer hears, Display and Debug.
struct Echo(Transcript);

impl WorkerObserver for Echo {
    fn submission(&self, s: &Submission) {
        let _ = write!(self.0.lock().unwrap(), "\nobserver ok {s:?}");
    }
    fn failure(&self, e: &WorkerError) {
        let _ = write!(self.0.lock().unwrap(), "\nobserver err {e} / {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_ever_written_anywhere() {
    let transcript: Transcript = Arc::default();
    tracing::subscriber::set_global_default(Capture {
        out: Arc::clone(&transcript),
        next_id: AtomicU64::new(1),
    })
    .unwrap();
    let panics = Arc::clone(&transcript);
    std::panic::set_hook(Box::new(move |info| {
        let _ = write!(panics.lock().unwrap(), "\npanic {info}");
    }));

    let mnemonic = Mnemonic::generate(24).unwrap();
    let phrase = mnemonic.phrase().to_string();
    let key = WorkerKey::from_mnemonic(&mnemonic, "").unwrap();
    let secret = key.private_key_bytes();
    let secret_hex = hex_lower(&secret[..]);
    let secret_b64 = base64::engine::general_purpose::STANDARD.encode(&secret[..]);

    let devnet = TestNet::start_with_topics(key.clone(), "allora-secrets", 1..=3, EPOCH, WINDOW)
        .await
        .unwrap();
    let client = ChainClient::new(
        devnet
            .client_config()
            .request_timeout(Duration::from_millis(800)),
    )
    .unwrap();
    let worker = devnet
        .worker()
        .unwrap()
        .client(client)
        .key(WorkerKey::from_mnemonic(&mnemonic, "").unwrap())
        .poll_interval(Duration::from_millis(300))
        .observer(Arc::new(Echo(Arc::clone(&transcript))))
        .topic(fn_topic(1, |r| r.nonce as f64))
        .topic(TopicSpec::inference(
            2,
            Arc::new(AsyncFnProvider::new(|r: InferenceRequest| async move {
                if (r.nonce / EPOCH) % 2 == 0 {
                    panic!("provider exploded at nonce {}", r.nonce);
                }
                Err::<f64, _>(InferError::Provider {
                    message: "model unavailable".into(),
                    retryable: false,
                })
            })),
        ))
        .topic(fn_topic(3, |_| f64::NAN))
        .build()
        .unwrap();
    let _ = write!(transcript.lock().unwrap(), "\nworker {worker:?}");
    let (handle, results) = worker.start().await.unwrap();
    let results = record(results);

    // Healthy, then the failure paths one after another.
    devnet.wait_height(2 * EPOCH + WINDOW).await;
    devnet.bump_sequence(key.address()).unwrap();
    devnet.wait_height(3 * EPOCH + WINDOW).await;
    devnet.set_grpc_unavailable(true);
    devnet.wait_height(4 * EPOCH + WINDOW).await;
    devnet.set_grpc_unavailable(false);
    devnet.drop_accepted_txs(true);
    devnet.wait_height(5 * EPOCH + WINDOW).await;
    devnet.drop_accepted_txs(false);
    devnet.wait_height(6 * EPOCH + WINDOW).await;
    handle.shutdown().await;
    let mut served = 0;
    for item in results.finish().await.unwrap() {
        let mut out = transcript.lock().unwrap();
        match &item {
            Ok(s) => {
                served += 1;
                let _ = write!(out, "\nresult ok {s:?}");
            }
            Err(e) => {
                let _ = write!(out, "\nresult err {e} / {e:?}");
                let mut source = std::error::Error::source(e);
                while let Some(s) = source {
                    let _ = write!(out, "\n  caused by {s} / {s:?}");
                    source = s.source();
                }
            }
        }
    }

    let _ = write!(
        transcript.lock().unwrap(),
        "\nkey {key:?} mnemonic {mnemonic:?} address {}",
        key.address()
    );
    let text = transcript.lock().unwrap().clone();
    // The run did go through the paths it claims to.
    assert!(served >= 2, "too little was served: {text}");
    for needle in [
        "provider exploded",
        "model unavailable",
        "unavailable",
        "not included",
        "DEBUG",
        "TRACE",
    ] {
        assert!(
            text.contains(needle),
            "the run never produced {needle:?}; transcript:\n{text}"
        );
    }
    // And said nothing secret.
    assert!(!text.contains(&phrase), "the mnemonic leaked");
    let words: Vec<&str> = phrase.split_whitespace().collect();
    for run in words.windows(3) {
        assert!(
            !text.contains(&run.join(" ")),
            "part of the mnemonic leaked: {run:?}"
        );
    }
    assert!(
        !text.to_lowercase().contains(&secret_hex),
        "the key (hex) leaked"
    );
    assert!(!text.contains(&secret_b64), "the key (base64) leaked");
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(unix)]
#[test]
fn key_files_are_created_private_and_refused_when_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys").join("worker.key");
    let mnemonic = Mnemonic::generate(24).unwrap();
    allora_sdk::keyfile::write_new(&path, &mnemonic).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        *allora_sdk::keyfile::read(&path).unwrap().phrase(),
        *mnemonic.phrase()
    );
    for loose in [0o640, 0o604, 0o644, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
        let error = allora_sdk::keyfile::read(&path).unwrap_err();
        let shown = format!("{error} / {error:?}");
        assert!(shown.contains("permission") || shown.contains("mode") || shown.contains("0"));
        assert!(
            !shown.contains(mnemonic.phrase().as_str()),
            "the refusal shows the mnemonic"
        );
    }
}
