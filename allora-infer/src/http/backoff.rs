//! When to try an HTTP request again, and how long to wait first.

use std::time::Duration;

/// Exponential backoff with jitter, bounded by a retry count. Whether an
/// error is worth retrying is decided by [`InferError::is_retryable`](crate::InferError::is_retryable),
/// whether there is time for it by the request's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) max_retries: u32,
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            max_retries: 3,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (0-based): `initial * 2^retry`,
    /// capped at `max`, then drawn uniformly from its upper half so that
    /// workers that failed together do not retry in lockstep.
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(16));
        let full = self.initial.saturating_mul(factor).min(self.max);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(fastrand::u64(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_then_caps_with_jitter_in_the_upper_half() {
        let b = Backoff {
            max_retries: 10,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for _ in 0..100 {
            let d0 = b.delay(0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d2 = b.delay(2);
            assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400));
            let d9 = b.delay(9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000));
        }
        assert!(b.delay(u32::MAX) <= Duration::from_millis(1000));
    }
}
