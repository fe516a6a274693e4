//! Build + sign one worker payload and one transaction, next to a bare
//! secp256k1 signature (the floor).

use allora_sdk::keys::WorkerKey;
use allora_sdk::payload::WorkerPayload;
use allora_sdk::tx::{Fee, SignerData, UnsignedTx};
use criterion::{criterion_group, criterion_main, Criterion};
use k256::ecdsa::signature::hazmat::PrehashSigner;

fn sign(c: &mut Criterion) {
    let key = WorkerKey::from_private_key_hex(&"11".repeat(32)).expect("valid key");
    let raw = k256::ecdsa::SigningKey::from_slice(&[0x11; 32]).expect("valid key");
    let signer = SignerData::new("allora-testnet-1", 1, 1);
    let fee = Fee::uallo(9_720_000, 216_000);

    c.bench_function("bare_k256_sign_32_bytes", |b| {
        b.iter(|| {
            let sig: k256::ecdsa::Signature = raw.sign_prehash(&[7u8; 32]).expect("sign");
            sig
        })
    });
    c.bench_function("payload_build_sign", |b| {
        b.iter(|| {
            WorkerPayload::inference(69, 1_234_567, "123.456".parse().expect("dec"))
                .sign(&key)
                .expect("sign")
        })
    });
    let payload = WorkerPayload::inference(69, 1_234_567, "123.456".parse().expect("dec"))
        .sign(&key)
        .expect("sign");
    c.bench_function("tx_build_sign", |b| {
        b.iter(|| {
            UnsignedTx::new(vec![payload.to_any()])
                .sign(&key, &signer, &fee)
                .expect("sign")
        })
    });
    c.bench_function("payload_and_tx_build_sign", |b| {
        b.iter(|| {
            let p = WorkerPayload::inference(69, 1_234_567, "123.456".parse().expect("dec"))
                .sign(&key)
                .expect("sign");
            UnsignedTx::new(vec![p.to_any()])
                .sign(&key, &signer, &fee)
                .expect("sign")
        })
    });
}

criterion_group!(benches, sign);
criterion_main!(benches);
