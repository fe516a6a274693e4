//! How long to wait before trying again: exponential backoff with jitter and
//! a cap, aware of deadlines.
//!
//! This is the one retry schedule of the workspace: the HTTP provider here
//! uses it between attempts, and `allora-sdk` uses it in its transaction
//! pipeline (a full mempool), in its worker (a window retried while it stays
//! open) and in its event stream (websocket reconnects). What to retry is
//! decided elsewhere ([`InferError::is_retryable`](crate::InferError::is_retryable)
//! here, the remedy policy of `allora-sdk` for chain answers); this type only
//! says how long to wait, and whether a wait still fits before a deadline.
//!
//! ```
//! use std::time::Duration;
//! use allora_infer::backoff::Backoff;
//!
//! let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2)).with_max_retries(3);
//! // Retry 0 waits 50..=100 ms, retry 1 100..=200 ms, ... never more than 2 s.
//! assert!(backoff.delay(1) <= Duration::from_millis(200));
//! // No wait that would reach the deadline, and none after the last retry.
//! assert_eq!(backoff.delay_within(0, Duration::from_millis(10)), None);
//! assert_eq!(backoff.delay_within(3, Duration::from_secs(60)), None);
//! ```

use std::time::Duration;

/// Exponential backoff: retry `n` (0-based) waits `initial × 2^n`, capped at
/// `max`, drawn uniformly from the upper half of that span ("equal jitter"),
/// so that clients that failed together do not retry in lockstep while each
/// still waits at least half the nominal time. Optionally bounded by a
/// number of retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    max_retries: Option<u32>,
}

impl Default for Backoff {
    /// 100 ms doubling up to 2 s, at most 3 retries.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(2)).with_max_retries(3)
    }
}

impl Backoff {
    /// Waits from about `initial` doubling up to `max` (raised to `initial`
    /// if smaller), with no bound on the number of retries.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            max_retries: None,
        }
    }

    /// Allows at most `retries` retries (0: none).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// The first wait (before jitter).
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The longest wait.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The bound on retries, if any.
    pub fn max_retries(&self) -> Option<u32> {
        self.max_retries
    }

    /// Whether retry number `retry` (0-based) is allowed.
    pub fn allows(&self, retry: u32) -> bool {
        self.max_retries.is_none_or(|max| retry < max)
    }

    /// The nominal wait before retry `retry` (0-based), before jitter:
    /// `initial × 2^retry`, capped at `max`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The wait before retry `retry` (0-based): uniform in the upper half of
    /// [`Backoff::ceiling`].
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with_jitter(retry, fastrand::f64())
    }

    /// [`Backoff::delay`] with the jitter given: `unit` in `[0, 1]` picks
    /// the point in the upper half of the ceiling (0: half, 1: the ceiling).
    pub fn delay_with_jitter(&self, retry: u32, unit: f64) -> Duration {
        let full = self.ceiling(retry);
        let half = full / 2;
        half + (full - half).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before retry `retry` when that retry is allowed and the wait
    /// ends before `time_left` runs out; `None` otherwise (give up now rather
    /// than wait past the deadline).
    pub fn delay_within(&self, retry: u32, time_left: Duration) -> Option<Duration> {
        if !self.allows(retry) {
            return None;
        }
        let delay = self.delay(retry);
        (delay < time_left).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_then_caps_with_jitter_in_the_upper_half() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        for _ in 0..100 {
            let d0 = b.delay(0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d2 = b.delay(2);
            assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400));
            let d9 = b.delay(9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000));
        }
        assert!(b.delay(u32::MAX) <= Duration::from_millis(1000));
        assert_eq!(b.delay_with_jitter(3, 0.0), Duration::from_millis(400));
        assert_eq!(b.delay_with_jitter(3, 1.0), Duration::from_millis(800));
        assert_eq!(b.delay_with_jitter(3, 7.0), Duration::from_millis(800));
    }

    #[test]
    fn retries_and_deadlines_bound_the_waits() {
        let b =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).with_max_retries(2);
        assert!(b.allows(0) && b.allows(1) && !b.allows(2));
        assert!(b.delay_within(0, Duration::from_secs(5)).is_some());
        assert_eq!(b.delay_within(2, Duration::from_secs(5)), None);
        // Even the shortest possible wait (half the ceiling) does not fit.
        assert_eq!(b.delay_within(1, Duration::from_millis(100)), None);
        assert_eq!(b.delay_within(0, Duration::ZERO), None);
        let unbounded = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
        assert!(unbounded.allows(u32::MAX));
        // A cap below the first wait is raised to it.
        assert_eq!(
            Backoff::new(Duration::from_secs(1), Duration::ZERO).max(),
            Duration::from_secs(1)
        );
    }
}
