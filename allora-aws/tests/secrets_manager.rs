//! The Secrets Manager key source against moto on loopback.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use allora_aws::secrets::{SecretError, SecretsManagerKeySource};
use allora_sdk::key_source::{KeySource, KeySourceError};
use support::{create_secret, free_port, loopback_sdk_config, MotoServer};

const ABOUT: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// moto, started with `env`, holding each (name, value) of `secrets` in its
/// Secrets Manager: the server (keep it alive) and a client of it.
async fn moto_with_secrets(
    env: &[(&str, &str)],
    secrets: &[(&str, &str)],
) -> (MotoServer, aws_sdk_secretsmanager::Client) {
    let moto = MotoServer::start_with_env(env).await;
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    for (name, value) in secrets {
        create_secret(&client, name, value).await;
    }
    (moto, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_bare_and_json_secrets_and_reports_bad_ones() {
    let (_moto, client) = moto_with_secrets(
        &[],
        &[
            ("worker/bare", &format!("{ABOUT}\n")),
            (
                "worker/json",
                &format!("{{\"mnemonic\": \"{ABOUT}\", \"owner\": \"ops\"}}"),
            ),
            ("worker/malformed", "hunter2 is my password"),
            ("worker/wrong-json", "{\"phrase\": \"hunter2\"}"),
        ],
    )
    .await;

    for name in ["worker/bare", "worker/json"] {
        let mnemonic = SecretsManagerKeySource::new(client.clone(), name)
            .load_mnemonic()
            .await
            .unwrap();
        assert_eq!(mnemonic.phrase().as_str(), ABOUT, "{name}");
    }

    for name in ["worker/malformed", "worker/wrong-json"] {
        let err = SecretsManagerKeySource::new(client.clone(), name)
            .load_mnemonic()
            .await
            .unwrap_err();
        assert!(matches!(err, SecretError::Malformed { .. }), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("hunter2"),
            "error quotes the secret: {shown}"
        );
        assert!(!err.is_retryable());
    }

    let err = SecretsManagerKeySource::new(client.clone(), "worker/missing")
        .load_mnemonic()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SecretError::NotFound { secret_id } if secret_id == "worker/missing"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_the_mnemonic_on_first_run_and_reuses_it() {
    let (_moto, client) = moto_with_secrets(&[], &[]).await;
    let source =
        SecretsManagerKeySource::new(client.clone(), "allora/worker/new").create_if_missing(true);

    let first = source.load_mnemonic().await.unwrap();
    assert_eq!(first.word_count(), 24);
    let second = source.load_mnemonic().await.unwrap();
    assert_eq!(first.phrase(), second.phrase());
    // A source that may not create finds it too.
    let third = SecretsManagerKeySource::new(client.clone(), "allora/worker/new")
        .load_mnemonic()
        .await
        .unwrap();
    assert_eq!(first.phrase(), third.phrase());

    let stored = client
        .get_secret_value()
        .secret_id("allora/worker/new")
        .send()
        .await
        .unwrap();
    let stored: serde_json::Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    assert_eq!(stored["mnemonic"].as_str(), Some(first.phrase().as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_secrets_manager_is_a_typed_retryable_error() {
    let aws = loopback_sdk_config(&format!("http://127.0.0.1:{}", free_port())).await;
    let started = Instant::now();
    let err = SecretsManagerKeySource::new(aws_sdk_secretsmanager::Client::new(&aws), "any")
        .create_if_missing(true)
        .load_mnemonic()
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::Unreachable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_access_denied() {
    // moto serves one request without checking credentials, then requires
    // IAM users it knows; the dummy test credentials are not one.
    let (_moto, client) = moto_with_secrets(
        &[("INITIAL_NO_AUTH_ACTION_COUNT", "1")],
        &[("worker/locked", ABOUT)],
    )
    .await;
    let err = SecretsManagerKeySource::new(client, "worker/locked")
        .load_mnemonic()
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::AccessDenied { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("abandon"));
    assert!(!err.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_a_key_source_errors_name_the_secret_but_never_its_content() {
    let (_moto, client) = moto_with_secrets(
        &[],
        &[
            ("worker/good", &format!("{{\"mnemonic\": \"{ABOUT}\"}}")),
            ("worker/bad", "hunter2 correct horse"),
        ],
    )
    .await;

    let good = SecretsManagerKeySource::new(client.clone(), "worker/good");
    assert!(good.describe().contains("worker/good"));
    let signer = good.load().await.unwrap();
    assert_eq!(
        signer.address().as_str(),
        "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"
    );

    let err = SecretsManagerKeySource::new(client.clone(), "worker/bad")
        .load()
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        matches!(err, KeySourceError::InvalidMnemonic { .. }),
        "{shown}"
    );
    assert!(shown.contains("worker/bad"), "{shown}");
    for word in ["hunter2", "correct", "horse"] {
        assert!(!shown.contains(word), "{shown}");
    }

    let err = SecretsManagerKeySource::new(client, "worker/missing")
        .load()
        .await
        .unwrap_err();
    assert!(matches!(err, KeySourceError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("worker/missing"), "{err}");
    assert!(!err.is_retryable());
}
