//! AWS set up from the environment (`allora_aws::setup`): key sources built
//! on a shared configuration, or on one loaded from the process environment,
//! against moto on loopback.
//!
//! One test function: it sets the process environment, which no other test
//! in this binary may read at the same time.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use allora_aws::kms::KmsMessageType;
use allora_aws::setup::{
    kms_key_source, secrets_manager_key_source, shared_or_load, DEFAULT_IMDS_LIMIT,
};
use allora_sdk::key_source::KeySource;
use aws_sdk_kms::types::KeySpec;
use support::{create_kms_key, create_secret, free_port, MotoServer};

const ABOUT: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
/// The address of [`ABOUT`] at the Cosmos HD path.
const ABOUT_ADDRESS: &str = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv";

/// Stores [`ABOUT`] as the secret `name` where `config` points.
async fn put_mnemonic(config: &aws_config::SdkConfig, name: &str) {
    create_secret(&aws_sdk_secretsmanager::Client::new(config), name, ABOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_sources_use_the_shared_configuration_or_the_environment() {
    let moto = MotoServer::start().await;
    let shared = moto.sdk_config().await;
    put_mnemonic(&shared, "worker/mnemonic").await;

    // A shared configuration is used as it is.
    let config = shared_or_load(Some(&shared)).await;
    assert_eq!(config.region(), shared.region());
    assert_eq!(config.endpoint_url(), Some(moto.endpoint.as_str()));
    let source = secrets_manager_key_source(Some(&shared), "worker/mnemonic").await;
    assert_eq!(
        source.describe(),
        "Secrets Manager secret \"worker/mnemonic\""
    );
    assert_eq!(
        source.load().await.unwrap().address().as_str(),
        ABOUT_ADDRESS
    );

    let kms = aws_sdk_kms::Client::new(&shared);
    let key_arn = create_kms_key(&kms, KeySpec::EccSecgP256K1).await;
    let source = kms_key_source(Some(&shared), key_arn.clone(), KmsMessageType::Raw).await;
    assert_eq!(source.describe(), format!("KMS key {key_arn}"));
    let signer = source.connect().await.unwrap();
    assert_eq!(signer.message_type(), KmsMessageType::Raw);
    assert!(signer.address().as_str().starts_with("allo1"));

    // Without one, the process environment says where AWS is: here moto,
    // with instance metadata on a loopback port where nothing listens.
    let nothing = format!("http://127.0.0.1:{}", free_port());
    for (name, value) in [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", nothing.as_str()),
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_REGION", "eu-west-3"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ] {
        std::env::set_var(name, value);
    }
    std::env::remove_var("AWS_PROFILE");
    let started = Instant::now();
    let config = shared_or_load(None).await;
    assert!(started.elapsed() < DEFAULT_IMDS_LIMIT + Duration::from_secs(1));
    assert_eq!(config.region().unwrap().as_ref(), "eu-west-3");
    // moto keeps one store per region: the secret is created where the
    // environment points.
    put_mnemonic(&config, "worker/from-env").await;
    let source = secrets_manager_key_source(None, "worker/from-env").await;
    assert_eq!(
        source.load().await.unwrap().address().as_str(),
        ABOUT_ADDRESS
    );
}
