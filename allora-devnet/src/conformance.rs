#![doc = include_str!("../CONFORMANCE.md")]
