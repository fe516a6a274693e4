//! The chain's clock as the worker sees it, and the deadlines of a window.
//!
//! A window is described by the chain ([`WindowEnd`]); a [`WindowClock`]
//! turns that description into local deadlines: when providers must
//! answer, when the last broadcast may go out, how long inclusion is
//! awaited. [`BlockClock`] serves chains whose windows are counted in
//! blocks: it measures the block time and projects the window's last block
//! onto the local clock. [`WallClock`] serves chains with scheduler epochs
//! (allora-chain v0.18 on), whose windows close at a time: a payload must
//! land in a block stamped no later than the close, so the last broadcast
//! goes out one block time before it.
//!
//! Clocks take the current instant as an argument and read no clock
//! themselves (a wall clock is anchored once, at creation), so their
//! arithmetic is tested without waiting.

use std::time::{Duration, SystemTime};

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
    /// The close time of a scheduler epoch's worker window: the last block
    /// time that accepts payloads (wall-clock windows).
    Time(SystemTime),
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
    /// The deadlines of a window that closes at `closes_at` and whose last
    /// broadcast is at `send_by`: inclusion is awaited until three blocks
    /// after the close; providers answer within `provider_timeout` and early
    /// enough (half a block, at most 500 ms) to leave time to sign and
    /// broadcast.
    fn leaving_time_to_sign(
        now: Instant,
        send_by: Instant,
        closes_at: Instant,
        block_time: Duration,
        provider_timeout: Duration,
    ) -> Self {
        let reserve = (block_time / 2).min(Duration::from_millis(500));
        let provide_by = send_by
            .checked_sub(reserve)
            .unwrap_or(now)
            .min(now + provider_timeout);
        Deadlines {
            provide_by,
            send_by,
            confirm_by: closes_at + block_time * 3,
        }
    }

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
        let end = match end {
            WindowEnd::Height(end) => end,
            WindowEnd::Time(_) => {
                return Err(TooLate {
                    reason: "a wall-clock window on a chain whose windows are counted in blocks"
                        .to_owned(),
                })
            }
        };
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
        Ok(Deadlines::leaving_time_to_sign(
            now,
            send_by,
            end_eta,
            bt,
            provider_timeout,
        ))
    }

    fn is_long_past(&self, end: WindowEnd) -> bool {
        match end {
            WindowEnd::Height(end) => end < self.height - FORGET_AFTER_BLOCKS,
            // Left from before a switch to windows in blocks.
            WindowEnd::Time(_) => true,
        }
    }
}

/// The clock of a chain with scheduler epochs: windows close at a time.
/// Blocks are still counted (their time gives the margin before a close,
/// and windows opened before the chain's switch end at a height); times are
/// projected onto the local clock from an anchor taken at creation.
#[derive(Debug, Clone)]
pub(super) struct WallClock {
    blocks: BlockClock,
    /// The same moment on the monotonic and the wall clock.
    anchor: (Instant, SystemTime),
}

impl WallClock {
    /// A clock assuming `block_time` until blocks are seen, anchored at
    /// `now` / `wall_now` (the same moment).
    pub(super) fn new(block_time: Duration, now: Instant, wall_now: SystemTime) -> Self {
        WallClock {
            blocks: BlockClock::new(block_time, now),
            anchor: (now, wall_now),
        }
    }

    /// The wall time at `now`.
    fn wall(&self, now: Instant) -> SystemTime {
        self.anchor.1 + now.saturating_duration_since(self.anchor.0)
    }

    /// The local instant of wall time `at`, when it is not before `now`.
    fn instant_of(&self, at: SystemTime, now: Instant) -> Option<Instant> {
        at.duration_since(self.wall(now))
            .ok()
            .map(|ahead| now + ahead)
    }
}

impl WindowClock for WallClock {
    fn observe_block(&mut self, height: i64, now: Instant) -> bool {
        self.blocks.observe_block(height, now)
    }

    fn deadlines(
        &self,
        end: WindowEnd,
        now: Instant,
        provider_timeout: Duration,
    ) -> Result<Deadlines, TooLate> {
        let close = match end {
            WindowEnd::Time(close) => close,
            height => return self.blocks.deadlines(height, now, provider_timeout),
        };
        let bt = self.blocks.block_time;
        let too_late = || TooLate {
            reason: format!(
                "found {} before the window's close, less than a block ({} ms)",
                match close.duration_since(self.wall(now)) {
                    Ok(left) => format!("{} ms", left.as_millis()),
                    Err(_) => "after it, not".to_owned(),
                },
                bt.as_millis()
            ),
        };
        let close_at = self.instant_of(close, now).ok_or_else(too_late)?;
        // The payload must be in a block stamped no later than the close:
        // the last broadcast goes out a block time before it.
        let send_by = close_at
            .checked_sub(bt)
            .filter(|t| *t > now)
            .ok_or_else(too_late)?;
        Ok(Deadlines::leaving_time_to_sign(
            now,
            send_by,
            close_at,
            bt,
            provider_timeout,
        ))
    }

    fn is_long_past(&self, end: WindowEnd) -> bool {
        match end {
            WindowEnd::Time(close) => {
                let forget_after = self
                    .blocks
                    .block_time
                    .saturating_mul(u32::try_from(FORGET_AFTER_BLOCKS).unwrap_or(u32::MAX));
                close
                    .checked_add(forget_after)
                    .is_some_and(|at| at < self.wall(self.blocks.at))
            }
            height => self.blocks.is_long_past(height),
        }
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

    #[test]
    fn wall_clock_windows_end_a_block_before_their_close_time() {
        let t0 = Instant::now();
        let w0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut clock = WallClock::new(SEC, t0, w0);
        clock.observe_block(50, t0);
        // Closing 10 s from now: sent by 9 s, providers by 8.5 s.
        let end = WindowEnd::Time(w0 + 10 * SEC);
        let d = clock.deadlines(end, t0, Duration::from_secs(30)).unwrap();
        assert_eq!(d.send_by, t0 + 9 * SEC);
        assert_eq!(d.provide_by, t0 + Duration::from_millis(8_500));
        assert_eq!(d.confirm_by, t0 + 13 * SEC);
        // Found 2 s later: the same deadlines (the anchor carries over).
        let later = t0 + 2 * SEC;
        let d = clock.deadlines(end, later, Duration::from_secs(3)).unwrap();
        assert_eq!(d.send_by, t0 + 9 * SEC);
        assert_eq!(d.provide_by, later + 3 * SEC);
        // Less than a block before the close, or after it: too late.
        let err = clock
            .deadlines(end, t0 + Duration::from_millis(9_200), SEC)
            .unwrap_err();
        assert!(
            err.reason.contains("800 ms before the window's close"),
            "{}",
            err.reason
        );
        let err = clock.deadlines(end, t0 + 11 * SEC, SEC).unwrap_err();
        assert!(err.reason.contains("after it"), "{}", err.reason);
        // Heights still count for windows opened before the switch.
        assert!(clock.deadlines(WindowEnd::Height(55), t0, SEC).is_ok());
    }

    #[test]
    fn wall_clock_windows_are_forgotten_long_after_they_close() {
        let t0 = Instant::now();
        let w0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut clock = WallClock::new(SEC, t0, w0);
        clock.observe_block(1, t0);
        let closed = WindowEnd::Time(w0 - 150 * SEC);
        assert!(
            !clock.is_long_past(closed),
            "200 blocks of 1 s not yet passed"
        );
        for height in 2..=61 {
            clock.observe_block(height, t0 + (height as u32 - 1) * SEC);
        }
        assert!(clock.is_long_past(closed));
        // A block clock has no use for times.
        let blocks = BlockClock::new(SEC, t0);
        assert!(blocks.is_long_past(closed));
        assert!(blocks.deadlines(closed, t0, SEC).is_err());
    }
}
