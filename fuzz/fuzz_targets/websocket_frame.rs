//! CometBFT websocket frames as the worker's event stream parses them:
//! never panic, for all topics and for a topic filter.
#![no_main]

use std::collections::HashSet;

use allora_sdk::worker::events::{parse_frame, ChainEvent, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_frame(text, &HashSet::new());
    let only: HashSet<u64> = [1, 69].into_iter().collect();
    if let Frame::Events(events) = parse_frame(text, &only) {
        for event in events {
            if let ChainEvent::WindowOpened { topic_id, .. }
            | ChainEvent::WindowClosed { topic_id, .. } = event
            {
                assert!(
                    only.contains(&topic_id),
                    "topic {topic_id} let through the filter"
                );
            }
        }
    }
});
