//! Decoding and encoding on the submit path: the payload message, the raw
//! transaction, one websocket frame announcing windows, and canonical
//! decimals. None of these should show next to a signature (tens of us);
//! this bench is here to catch one that starts to.

use std::collections::HashSet;
use std::hint::black_box;

use allora_sdk::keys::WorkerKey;
use allora_sdk::payload::WorkerPayload;
use allora_sdk::proto::emissions::v10::InsertWorkerPayloadRequest;
use allora_sdk::tx::{Fee, SignedTx, SignerData, UnsignedTx};
use allora_sdk::worker::events::{parse_frame, ChainEvent, Frame};
use allora_sdk::Dec;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use prost::Message;

/// The id the worker subscribes with; `parse_frame` ignores frames of any
/// other id, so a frame without it would measure the early return only.
const SUBSCRIPTION_ID: &str = "allora-rs-new-block-events";

/// A `NewBlockEvents` frame as CometBFT sends it, with `topics` windows
/// opening (attribute values JSON-quoted, as the chain's typed events are).
fn new_block_events_frame(topics: u64) -> String {
    let events: Vec<String> = (1..=topics)
        .map(|topic| {
            format!(
                r#"{{"type":"emissions.v10.EventWorkerSubmissionWindowOpened","attributes":[{{"key":"topic_id","value":"\"{topic}\""}},{{"key":"nonce_block_height","value":"\"1200\""}},{{"key":"window_end_block","value":"\"1210\""}},{{"key":"mode","value":"EndBlock"}}]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"jsonrpc":"2.0","id":"{SUBSCRIPTION_ID}","result":{{"query":"tm.event='NewBlockEvents'","data":{{"type":"tendermint/event/NewBlockEvents","value":{{"height":"1200","events":[{}],"num_txs":"0"}}}}}}}}"#,
        events.join(",")
    )
}

fn codec(c: &mut Criterion) {
    let key = WorkerKey::from_private_key_hex(&"11".repeat(32)).expect("valid key");
    let signed = WorkerPayload::inference(69, 1_234_567, "123.456".parse().expect("dec"))
        .sign(&key)
        .expect("sign");
    let request: InsertWorkerPayloadRequest = signed.message().clone();
    let request_bytes = request.encode_to_vec();

    c.bench_function("insert_worker_payload_encode", |b| {
        b.iter(|| black_box(&request).encode_to_vec())
    });
    c.bench_function("insert_worker_payload_decode", |b| {
        b.iter(|| {
            InsertWorkerPayloadRequest::decode(black_box(request_bytes.as_slice())).expect("decode")
        })
    });

    let tx = UnsignedTx::new(vec![signed.to_any()])
        .sign(
            &key,
            &SignerData::new("allora-testnet-1", 1, 1),
            &Fee::uallo(9_720_000, 216_000),
        )
        .expect("sign");
    let (body, auth, sig) = (
        tx.body_bytes().to_vec(),
        tx.auth_info_bytes().to_vec(),
        tx.signature().to_vec(),
    );
    // TxRaw encoding plus the SHA-256 hash the chain reports (computed when
    // first asked for, so asked for here); the clones are part of the input.
    c.bench_function("tx_raw_encode_and_hash", |b| {
        b.iter(|| {
            let tx = SignedTx::from_parts(body.clone(), auth.clone(), sig.clone());
            let _ = tx.hash().len();
            tx
        })
    });

    let all_topics = HashSet::new();
    let mut group = c.benchmark_group("new_block_events_frame_parse");
    for windows in [1u64, 100] {
        let frame = new_block_events_frame(windows);
        // A malformed sample would bench the error path; check it parses.
        match parse_frame(&frame, &all_topics) {
            Frame::Events(events)
                if events
                    .iter()
                    .filter(|e| matches!(e, ChainEvent::WindowOpened { .. }))
                    .count()
                    == windows as usize => {}
            other => panic!("sample frame did not parse as {windows} windows: {other:?}"),
        }
        group.bench_with_input(BenchmarkId::from_parameter(windows), &frame, |b, f| {
            b.iter(|| parse_frame(black_box(f), &all_topics))
        });
    }
    group.finish();

    c.bench_function("dec_from_f64", |b| {
        b.iter(|| Dec::try_from(black_box(2_650.123_456_789_f64)).expect("finite"))
    });
    c.bench_function("dec_from_f64_exponent", |b| {
        b.iter(|| Dec::try_from(black_box(1.2345e-7_f64)).expect("finite"))
    });
    c.bench_function("dec_from_str", |b| {
        b.iter(|| black_box("2650.123456789").parse::<Dec>().expect("dec"))
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
