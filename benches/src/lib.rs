//! Criterion benches of the allora-sdk submit path; see `benches/`.
