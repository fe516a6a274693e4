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

use std::hint::black_box;
use std::process::ExitCode;

use allora_sdk::keys::WorkerKey;
use allora_sdk::payload::WorkerPayload;
use allora_sdk::tx::{Fee, SignerData, UnsignedTx};
use k256::ecdsa::signature::hazmat::PrehashSigner;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(op), Some(count)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u32>().ok()))
    else {
        eprintln!("usage: sign_ops bare_k256|payload|tx|payload_and_tx ITERATIONS");
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
            other => {
                eprintln!("unknown operation {other}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
