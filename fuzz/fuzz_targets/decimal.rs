//! `Dec` from text: never panics, and what parses prints back to text that
//! parses to the same value.
#![no_main]

use allora_infer::Dec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = text.parse::<Dec>() {
        let printed = value.to_string();
        let again: Dec = printed
            .parse()
            .unwrap_or_else(|e| panic!("{printed:?} (from {text:?}) does not parse back: {e}"));
        assert_eq!(again, value, "round trip of {text:?} via {printed:?}");
    }
});
