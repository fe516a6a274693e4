//! A demo model: a made-up, price-like series per token, so that the
//! inference server answers something plausible without a trained model.
//!
//! It is NOT a prediction of anything. The value for a token at a given
//! minute is a pure function of the token text and the time:
//!
//! - a base level between 1 and 200,000 derived from a hash of the token
//!   (so "ETH" and "BTC" differ but each is stable across runs and hosts);
//! - a mean-reverting walk in log space with one step per UTC day since 1970
//!   (daily volatility about 3%, pulled back towards the base level);
//! - within the day, a random walk with one step per minute (about 0.1% per
//!   minute), which restarts at UTC midnight, so small jumps occur there.
//!
//! Every step's noise comes from a SplitMix64 stream seeded by the token, so
//! two servers agree on the value for the same token and minute.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{async_trait, Dec, InferError, InferenceProvider, InferenceRequest, Prediction};

const SECONDS_PER_STEP: u64 = 60;
const STEPS_PER_DAY: u64 = 24 * 60;
const DAILY_VOLATILITY: f64 = 0.03;
const DAILY_REVERSION: f64 = 0.05;
const MINUTE_VOLATILITY: f64 = 0.001;

/// The demo price of `token` at `unix_secs` (constant within a minute).
pub fn demo_price(token: &str, unix_secs: u64) -> f64 {
    let seed = fnv1a(token.as_bytes());
    let base = 10f64.powi((seed % 5) as i32) * (1.0 + ((seed >> 8) % 1000) as f64 / 1000.0);
    let minute = unix_secs / SECONDS_PER_STEP;
    let (day, minute_of_day) = (minute / STEPS_PER_DAY, minute % STEPS_PER_DAY);
    let mut log_level = 0.0;
    for d in 0..day {
        log_level = log_level * (1.0 - DAILY_REVERSION) + DAILY_VOLATILITY * noise(seed, d);
    }
    let day_seed = splitmix64(seed ^ day);
    for m in 0..=minute_of_day {
        log_level += MINUTE_VOLATILITY * noise(day_seed, m);
    }
    base * log_level.exp()
}

/// The last `count` demo prices of `token` up to `unix_secs`, one minute
/// apart, oldest first: the feature vector the server feeds an ONNX model.
pub fn demo_history(token: &str, unix_secs: u64, count: usize) -> Vec<f64> {
    (0..count as u64)
        .rev()
        .map(|back| demo_price(token, unix_secs.saturating_sub(back * SECONDS_PER_STEP)))
        .collect()
}

/// Noise with mean 0 and variance 1 (uniform on ±√3), step `index` of the
/// stream `seed`.
fn noise(seed: u64, index: u64) -> f64 {
    let bits = splitmix64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let unit = (bits >> 11) as f64 / (1u64 << 53) as f64;
    (unit * 2.0 - 1.0) * 3f64.sqrt()
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a: stable across Rust versions, unlike the standard library's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where the demo model gets the time from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    System,
    /// A fixed Unix time in seconds (for tests and reproducible demos).
    Fixed(u64),
}

impl Clock {
    /// The current Unix time in seconds by this clock.
    pub fn unix_secs(self) -> u64 {
        match self {
            Clock::Fixed(t) => t,
            // A clock before 1970 is a broken host; the walk then starts at day 0.
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

/// The demo model as a provider: the demo price of the request's token (or
/// `"topic-<id>"` without one), with four decimals.
#[derive(Debug, Clone, Copy)]
pub struct DemoModel {
    clock: Clock,
}

impl DemoModel {
    /// A demo model reading `clock`.
    pub fn new(clock: Clock) -> Self {
        DemoModel { clock }
    }

    /// The value the model gives `req` now, as text with four decimals.
    pub fn value_for(&self, req: &InferenceRequest) -> Result<Dec, InferError> {
        let price = demo_price(&token_of(req), self.clock.unix_secs());
        Ok(format!("{price:.4}").parse::<Dec>()?)
    }

    /// The clock in use.
    pub fn clock(&self) -> Clock {
        self.clock
    }
}

/// The series name for a request: its token, or one per topic.
pub fn token_of(req: &InferenceRequest) -> String {
    req.token
        .clone()
        .unwrap_or_else(|| format!("topic-{}", req.topic_id))
}

#[async_trait]
impl InferenceProvider for DemoModel {
    async fn infer(&self, req: &InferenceRequest) -> Result<Prediction, InferError> {
        // About 20,000 cheap steps: microseconds, fine on the async thread.
        self.value_for(req).map(Prediction::Single)
    }
}

/// What the side server serves: the demo model, or with `onnx_model` the
/// ONNX model at that path fed with demo prices (`demo_history_onnx`;
/// [`InferError::Config`] when this build lacks the `onnx` feature).
pub fn serving_model(
    onnx_model: Option<&std::path::Path>,
    inputs: usize,
    clock: Clock,
) -> Result<std::sync::Arc<dyn InferenceProvider>, InferError> {
    match onnx_model {
        None => Ok(std::sync::Arc::new(DemoModel::new(clock))),
        #[cfg(feature = "onnx")]
        Some(path) => Ok(std::sync::Arc::new(demo_history_onnx(path, inputs, clock)?)),
        #[cfg(not(feature = "onnx"))]
        Some(path) => {
            let _ = inputs;
            Err(InferError::Config(format!(
                "cannot serve {}: this binary was built without the `onnx` feature (cargo build -p allora-worker --features onnx)",
                path.display()
            )))
        }
    }
}

/// An ONNX model at `path` fed with the token's last `inputs` demo prices
/// (oldest first, one minute apart; input shape `[1, inputs]`): a way to try
/// a model end to end without a data feed.
#[cfg(feature = "onnx")]
pub fn demo_history_onnx(
    path: &std::path::Path,
    inputs: usize,
    clock: Clock,
) -> Result<crate::OnnxProvider, InferError> {
    let model = DemoModel::new(clock);
    crate::OnnxProvider::load(path, &[1, inputs], move |req: &InferenceRequest| {
        demo_history(&token_of(req), model.clock().unix_secs(), inputs)
            .into_iter()
            .map(|p| p as f32)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_token_and_minute() {
        let t = 1_764_000_000;
        assert_eq!(demo_price("ETH", t), demo_price("ETH", t + 59 - t % 60));
        assert_ne!(demo_price("ETH", t), demo_price("BTC", t));
        assert_ne!(demo_price("ETH", t), demo_price("ETH", t + 60));
    }

    #[test]
    fn stays_price_like() {
        for token in ["ETH", "BTC", "SOL", "topic-1"] {
            for k in 0..50u64 {
                let p = demo_price(token, 1_700_000_000 + k * 7_777);
                assert!(p.is_finite() && p > 0.1 && p < 1e7, "{token}: {p}");
                let step = demo_price(token, 1_700_000_000 + k * 7_777 + 60) / p;
                assert!((0.9..1.1).contains(&step), "{token}: jump {step}");
            }
        }
    }

    #[test]
    fn history_is_oldest_first_and_ends_now() {
        let h = demo_history("ETH", 1_764_000_000, 3);
        assert_eq!(h.len(), 3);
        assert_eq!(h[2], demo_price("ETH", 1_764_000_000));
        assert_eq!(h[0], demo_price("ETH", 1_764_000_000 - 120));
    }
}
