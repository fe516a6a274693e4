//! Measures what signing with a KMS key costs a worker: the latency of
//! `GetPublicKey`, of one `Sign` call, of a checked signature (`Sign` plus
//! normalisation and verification), and of the signatures of one window with
//! batching: one bundle signature per topic plus one transaction signature
//! for the whole batch, N + 1 calls for N topics.
//!
//! Run it against the moto emulator with `bash scripts/kms-latency.sh`, or
//! against any KMS endpoint the usual AWS environment points at:
//!
//! ```text
//! cargo run --release -p allora-aws --example kms_latency -- \
//!     [--key-id <id|arn|alias>] [--raw] [--samples <n>]
//! ```
//!
//! Without `--key-id` a new `ECC_SECG_P256K1` key is created (needs
//! `kms:CreateKey`; meant for emulators). `--raw` sends messages with
//! `MessageType=RAW`, which moto signs correctly (its `DIGEST` signing hashes
//! the digest again, and such signatures fail verification).
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use allora_aws::kms::{KmsMessageType, KmsSigner};
use allora_sdk::keys::WorkerKey;
use allora_sdk::payload::WorkerPayload;
use allora_sdk::signer::{sign_verified, SignRequest, Signer};
use allora_sdk::tx::{Fee, SignerData, UnsignedTx};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use tokio::task::JoinSet;
use tokio::time::Instant;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    key_id: Option<String>,
    raw: bool,
    samples: usize,
}

fn options() -> Result<Options, Error> {
    let mut options = Options {
        key_id: None,
        raw: false,
        samples: 50,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--key-id" => options.key_id = Some(args.next().ok_or("--key-id needs a value")?),
            "--raw" => options.raw = true,
            "--samples" => {
                options.samples = args.next().ok_or("--samples needs a value")?.parse()?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; use [--key-id <id>] [--raw] [--samples <n>]"
                )
                .into())
            }
        }
    }
    if options.samples == 0 {
        return Err("--samples must be at least 1".into());
    }
    Ok(options)
}

/// Mean, p50, p90, p99 and max of some durations, in milliseconds.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    let mean = ms(samples.iter().sum::<Duration>()) / samples.len() as f64;
    format!(
        "{:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        mean,
        at(0.5),
        at(0.9),
        at(0.99),
        ms(samples[samples.len() - 1])
    )
}

/// Times `samples` runs of `f` (given the run's index) and prints their
/// summary as the row `name`; the first failure stops it.
async fn row<F, Fut, T, E>(name: &str, samples: usize, mut f: F) -> Result<(), Error>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: Into<Error>,
{
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let started = Instant::now();
        f(i).await.map_err(Into::into)?;
        out.push(started.elapsed());
    }
    println!("{name:<44} {}", summary(out));
    Ok(())
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn payloads(topics: u64, nonce: i64) -> Vec<WorkerPayload> {
    (1..=topics)
        .map(|topic| WorkerPayload::inference(topic, nonce, "1234.5678".parse().expect("decimal")))
        .collect()
}

/// The signatures of one window: every payload one after the other, then
/// the transaction.
async fn window_sequential(signer: &KmsSigner, topics: u64, nonce: i64) -> Result<(), Error> {
    let mut anys = Vec::new();
    for payload in payloads(topics, nonce) {
        anys.push(payload.sign_with(signer, deadline()).await?.to_any());
    }
    sign_tx(signer, anys).await
}

/// The signatures of one window: the payloads at once, then the transaction.
async fn window_concurrent(signer: &Arc<KmsSigner>, topics: u64, nonce: i64) -> Result<(), Error> {
    let mut tasks = JoinSet::new();
    for payload in payloads(topics, nonce) {
        let signer = Arc::clone(signer);
        tasks.spawn(async move { payload.sign_with(&*signer, deadline()).await });
    }
    let mut anys = Vec::new();
    while let Some(signed) = tasks.join_next().await {
        anys.push(signed??.to_any());
    }
    sign_tx(signer, anys).await
}

async fn sign_tx(signer: &KmsSigner, anys: Vec<allora_sdk::proto::Any>) -> Result<(), Error> {
    let data = SignerData::new("allora-testnet-1", 12345, 7);
    let fee = Fee::uallo(9_720_000, 216_000);
    UnsignedTx::new(anys)
        .sign_with(signer, &data, &fee, deadline())
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let options = options()?;
    let config = allora_aws::sdk_config::config_loader().load().await;
    let client = aws_sdk_kms::Client::new(&config);
    let key_id = match options.key_id {
        Some(id) => id,
        None => client
            .create_key()
            .key_spec(KeySpec::EccSecgP256K1)
            .key_usage(KeyUsageType::SignVerify)
            .description("allora-aws kms_latency")
            .send()
            .await?
            .key_metadata
            .and_then(|m| m.arn)
            .ok_or("CreateKey returned no key ARN")?,
    };
    let message_type = if options.raw {
        KmsMessageType::Raw
    } else {
        KmsMessageType::Digest
    };
    let signer = KmsSigner::connect(client.clone(), &key_id)
        .await?
        .with_message_type(message_type);
    let n = options.samples;
    println!(
        "KMS signer latency: endpoint {}, key {key_id}, message type {message_type:?}, {n} samples",
        config.endpoint_url().unwrap_or("(default for the region)")
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "ms", "mean", "p50", "p90", "p99", "max"
    );
    row("GetPublicKey (KmsSigner::connect)", n, |_| {
        let client = client.clone();
        let key_id = key_id.clone();
        async move { KmsSigner::connect(client, key_id).await }
    })
    .await?;
    row("Sign, one call", n, |i| {
        let signer = &signer;
        async move {
            let message = format!("message {i}");
            signer
                .sign_digest(&SignRequest::new(message.as_bytes()))
                .await
        }
    })
    .await?;
    let local = WorkerKey::from_private_key_bytes(&[7; 32])?;
    let verified: [(&str, &dyn Signer); 2] = [
        ("Sign + normalise + verify (sign_verified)", &signer),
        ("local key, for comparison (sign_verified)", &local),
    ];
    for (name, signer) in verified {
        row(name, n, |i| async move {
            sign_verified(signer, format!("message {i}").as_bytes(), deadline()).await
        })
        .await?;
    }

    println!();
    println!("One window with batching: N payload signatures + 1 transaction signature");
    let shared = Arc::new(signer.clone());
    let rounds = n.div_ceil(5).max(3);
    for topics in [1u64, 5, 10] {
        let name = |how: &str| format!("N={topics:<3} {} calls, payloads {how}", topics + 1);
        row(&name("one by one"), rounds, |i| {
            window_sequential(&signer, topics, 100 + i as i64)
        })
        .await?;
        row(&name("concurrently"), rounds, |i| {
            window_concurrent(&shared, topics, 100 + i as i64)
        })
        .await?;
    }
    Ok(())
}
