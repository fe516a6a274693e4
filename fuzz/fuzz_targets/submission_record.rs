//! The submission record loader: never panics on any file contents.
#![no_main]

use allora_sdk::worker::store::parse_record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_record(text);
    }
});
