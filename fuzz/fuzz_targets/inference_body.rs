//! Inference and forecast response bodies as `HttpProvider` parses them:
//! never panic, and a parsed inference holds only finite values that print
//! back as decimals.
#![no_main]

use allora_infer::http::{parse_forecast_body, parse_inference_body};
use allora_infer::{Dec, Prediction};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    match parse_inference_body(body, "fuzz") {
        Ok(Prediction::Single(v)) => check(&v),
        Ok(Prediction::Labeled(values)) => values.iter().for_each(|(_, v)| check(v)),
        Err(_) => {}
    }
    let _ = parse_forecast_body(body, "fuzz");
});

fn check(value: &Dec) {
    let text = value.to_string();
    assert!(text.parse::<Dec>().is_ok(), "{text:?} does not parse back");
}
