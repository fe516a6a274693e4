//! Runs one signing operation of the `sign` bench a given number of times,
//! for instruction counts that the shared build machines' timing noise does
//! not blur:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/sign_ops payload_and_tx 200
//! ```
//!
//! `bash scripts/sign-instructions.sh` runs every operation at 0 and N
//! iterations and prints instructions per operation (the difference over
//! N, so key set-up is not counted).
//!
//! Operations: `bare_k256` (one secp256k1 signature of 32 bytes, the floor),
//! `payload`, `tx` and `payload_and_tx` (the synchronous API with a
//! `WorkerKey`), `worker_payload_and_tx` (what the worker does for a window:
//! both signatures through its `SharedSigner` holding the local key, on a
//! tokio runtime), and `checked_payload_and_tx` (the same through a signer
//! whose signatures are normalised and verified, as every signer outside the
//! process is: the cost the local key's fast path avoids).

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use allora_sdk::keys::{PublicKey, WorkerKey};
use allora_sdk::payload::WorkerPayload;
use allora_sdk::signer::{RawSignature, SharedSigner, SignRequest, Signer, SignerError};
use allora_sdk::tx::{Fee, SignerData, UnsignedTx};
use k256::ecdsa::signature::hazmat::PrehashSigner;

/// The local key, declared as needing the verification step.
struct Checked(WorkerKey);

#[allora_sdk::async_trait]
impl Signer for Checked {
    fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }

    async fn sign_digest(&self, request: &SignRequest<'_>) -> Result<RawSignature, SignerError> {
        self.0.sign_digest(request).await
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(op), Some(count)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u32>().ok()))
    else {
        eprintln!(
            "usage: sign_ops bare_k256|payload|tx|payload_and_tx|worker_payload_and_tx|checked_payload_and_tx ITERATIONS"
        );
        return ExitCode::from(2);
    };
    let key = WorkerKey::from_private_key_hex(&"11".repeat(32)).expect("valid key");
    let raw = k256::ecdsa::SigningKey::from_slice(&[0x11; 32]).expect("valid key");
    let signer = SignerData::new("allora-testnet-1", 1, 1);
    let fee = Fee::uallo(9_720_000, 216_000);
    let payload = || {
        WorkerPayload::inference(69, 1_234_567, "123.456".parse().expect("dec"))
            .sign(&key)
            .expect("sign")
    };
    let signed = payload();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let local = SharedSigner::from(key.clone());
    let checked = SharedSigner::new(Arc::new(Checked(key.clone()))).expect("signer");
    let window = |shared: &SharedSigner| {
        runtime.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            let p = WorkerPayload::inference(69, 1_234_567, "123.456".parse().expect("dec"))
                .sign_shared(shared, deadline)
                .await
                .expect("sign");
            UnsignedTx::new(vec![p.to_any()])
                .prepare()
                .expect("prepare")
                .sign_with(shared.signer().as_ref(), &signer, &fee, deadline)
                .await
                .expect("sign")
        })
    };
    assert_eq!(
        window(&local),
        window(&checked),
        "the same bytes either way"
    );
    for _ in 0..count {
        match op.as_str() {
            "bare_k256" => {
                let sig: k256::ecdsa::Signature =
                    raw.sign_prehash(black_box(&[7u8; 32])).expect("sign");
                black_box(sig);
            }
            "payload" => {
                black_box(payload());
            }
            "tx" => {
                black_box(
                    UnsignedTx::new(vec![signed.to_any()])
                        .sign(&key, &signer, &fee)
                        .expect("sign"),
                );
            }
            "payload_and_tx" => {
                let p = payload();
                black_box(
                    UnsignedTx::new(vec![p.to_any()])
                        .sign(&key, &signer, &fee)
                        .expect("sign"),
                );
            }
            "worker_payload_and_tx" => {
                black_box(window(&local));
            }
            "checked_payload_and_tx" => {
                black_box(window(&checked));
            }
            other => {
                eprintln!("unknown operation {other}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
