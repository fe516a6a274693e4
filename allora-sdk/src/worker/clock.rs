//! The chain's clock as the worker sees it, and the deadlines of a window.
//!
//! A window is described by the chain ([`WindowEnd`]); a [`WindowClock`]
//! turns that description into local deadlines: when providers must
//! answer, when the last broadcast may go out, how long inclusion is
//! awaited. [`BlockClock`] serves chains whose windows are counted in
//! blocks: it measures the block time and projects the window's last block
//! onto the local clock. A chain with windows in wall-clock time gets its
//! own implementation of the trait, with its own form of [`WindowEnd`].
//!
//! Clocks take the current instant as an argument and read no clock
//! themselves, so their arithmetic is tested without waiting.

use std::time::Duration;

use tokio::time::Instant;

/// Windows are forgotten this many blocks after they end.
const FORGET_AFTER_BLOCKS: i64 = 200;

/// When a window stops taking payloads, as the chain describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum WindowEnd {
    /// The last block height that accepts payloads (windows counted in
    /// blocks: the `window_end_block` of the chain's window event, or the
    /// nonce plus the topic's `worker_submission_window`).
    Height(i64),
}

/// The local deadlines of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Deadlines {
    /// Providers must answer by then (time is left to sign and broadcast).
    pub(super) provide_by: Instant,
    /// No broadcast after this.
    pub(super) send_by: Instant,
    /// Inclusion is awaited until this.
    pub(super) confirm_by: Instant,
}

impl Deadlines {
    /// The deadlines of a window found too late: all of them passed at `now`.
    pub(super) fn expired(now: Instant) -> Self {
        Deadlines {
            provide_by: now,
            send_by: now,
            confirm_by: now,
        }
    }
}

/// Why a window cannot be served any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TooLate {
    /// Said in the report.
    pub(super) reason: String,
}

/// The chain's clock, and deadlines of windows from their description.
pub(super) trait WindowClock: Send {
    /// A block was seen at `now`. Returns whether it is newer than the last.
    fn observe_block(&mut self, height: i64, now: Instant) -> bool;

    /// The deadlines of a window ending at `end`, found at `now`; providers
    /// get at most `provider_timeout`. Too late when the window is over or
    /// closes before a payload could be sent.
    fn deadlines(
        &self,
        end: WindowEnd,
        now: Instant,
        provider_timeout: Duration,
    ) -> Result<Deadlines, TooLate>;

    /// Whether the window ended so long ago that nothing about it needs
    /// remembering (a rediscovery of it is not expected any more).
    fn is_long_past(&self, end: WindowEnd) -> bool;
}

/// The clock of a chain whose windows are counted in blocks: the last
/// height seen, when it was seen, and a smoothed measure of the block time.
#[derive(Debug, Clone)]
pub(super) struct BlockClock {
    height: i64,
    at: Instant,
    block_time: Duration,
}

impl BlockClock {
    /// A clock assuming `block_time` until blocks are seen.
    pub(super) fn new(block_time: Duration, now: Instant) -> Self {
        BlockClock {
            height: 0,
            at: now,
            block_time,
        }
    }

    /// When block `height` is expected to be finalized.
    fn eta(&self, height: i64) -> Instant {
        let blocks = u32::try_from((height - self.height).max(0)).unwrap_or(u32::MAX);
        self.at + self.block_time.saturating_mul(blocks)
    }
}

impl WindowClock for BlockClock {
    fn observe_block(&mut self, height: i64, now: Instant) -> bool {
        if height <= self.height {
            return false;
        }
        if self.height > 0 {
            let blocks = u32::try_from(height - self.height)
                .unwrap_or(u32::MAX)
                .max(1);
            let measured = now.saturating_duration_since(self.at) / blocks;
            // A smoothed estimate; one slow or bunched-up block moves it little.
            let blended = (self.block_time * 4 + measured) / 5;
            self.block_time = blended.clamp(Duration::from_millis(100), Duration::from_secs(60));
        }
        self.height = height;
        self.at = now;
        true
    }

    fn deadlines(
        &self,
        end: WindowEnd,
        now: Instant,
        provider_timeout: Duration,
    ) -> Result<Deadlines, TooLate> {
        let WindowEnd::Height(end) = end;
        let bt = self.block_time;
        let end_eta = self.eta(end);
        // The last block of the window is being built until its eta: aim
        // half a block earlier so the transaction makes it in.
        let send_by = end_eta.checked_sub(bt / 2).unwrap_or(now);
        if self.height > end || send_by <= now {
            return Err(TooLate {
                reason: format!(
                    "found at height {} with the window ending at {end}",
                    self.height
                ),
            });
        }
        // Leave time to sign and broadcast after the provider answers.
        let reserve = (bt / 2).min(Duration::from_millis(500));
        let provide_by = send_by
            .checked_sub(reserve)
            .unwrap_or(now)
            .min(now + provider_timeout);
        Ok(Deadlines {
            provide_by,
            send_by,
            confirm_by: end_eta + bt * 3,
        })
    }

    fn is_long_past(&self, end: WindowEnd) -> bool {
        let WindowEnd::Height(end) = end;
        end < self.height - FORGET_AFTER_BLOCKS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn block_time_is_measured_and_smoothed() {
        let t0 = Instant::now();
        let mut clock = BlockClock::new(5 * SEC, t0);
        assert!(clock.observe_block(100, t0));
        assert_eq!(clock.block_time, 5 * SEC, "one block measures nothing");
        assert!(!clock.observe_block(100, t0 + SEC), "not newer");
        assert!(!clock.observe_block(99, t0 + SEC));
        // Two blocks in 2 s: 1 s measured, blended 4:1 with the 5 s assumed.
        assert!(clock.observe_block(102, t0 + 2 * SEC));
        assert_eq!(clock.block_time, Duration::from_millis(4200));
        assert_eq!(clock.height, 102);
        // Bunched-up blocks are clamped at 100 ms.
        let mut fast = BlockClock::new(Duration::from_millis(100), t0);
        fast.observe_block(1, t0);
        fast.observe_block(50, t0);
        assert_eq!(fast.block_time, Duration::from_millis(100));
    }

    #[test]
    fn deadlines_follow_the_windows_last_block() {
        let t0 = Instant::now();
        let mut clock = BlockClock::new(SEC, t0);
        clock.observe_block(10, t0);
        // Window ends at 15: its eta is 5 blocks away.
        let d = clock
            .deadlines(WindowEnd::Height(15), t0, Duration::from_secs(30))
            .unwrap();
        assert_eq!(d.send_by, t0 + Duration::from_millis(4500));
        assert_eq!(d.provide_by, t0 + Duration::from_millis(4000));
        assert_eq!(d.confirm_by, t0 + 8 * SEC);
        // A provider timeout shorter than the window wins.
        let d = clock
            .deadlines(WindowEnd::Height(15), t0, Duration::from_secs(2))
            .unwrap();
        assert_eq!(d.provide_by, t0 + 2 * SEC);
    }

    #[test]
    fn windows_over_or_closing_now_are_too_late() {
        let t0 = Instant::now();
        let mut clock = BlockClock::new(SEC, t0);
        clock.observe_block(20, t0);
        let err = clock.deadlines(WindowEnd::Height(19), t0, SEC).unwrap_err();
        assert_eq!(
            err.reason,
            "found at height 20 with the window ending at 19"
        );
        // Ends at the current height: its send deadline (half a block before
        // the block's eta, which is now) has passed.
        assert!(clock.deadlines(WindowEnd::Height(20), t0, SEC).is_err());
        // One block ahead: still half a block to send.
        assert!(clock.deadlines(WindowEnd::Height(21), t0, SEC).is_ok());
        assert!(clock
            .deadlines(WindowEnd::Height(21), t0 + Duration::from_millis(600), SEC)
            .is_err());
    }

    #[test]
    fn windows_are_forgotten_long_after_they_end() {
        let t0 = Instant::now();
        let mut clock = BlockClock::new(SEC, t0);
        clock.observe_block(1_000, t0);
        assert!(!clock.is_long_past(WindowEnd::Height(800)));
        assert!(clock.is_long_past(WindowEnd::Height(799)));
    }
}
