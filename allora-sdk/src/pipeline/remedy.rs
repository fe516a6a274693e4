//! The one policy for chain answers: from a classified rejection, and the
//! little context it needs, to what to do about it.
//!
//! Both the transaction pipeline (for the transaction it is sending) and the
//! worker (for each window a failed transaction carried) ask
//! [`RemedyPolicy::remedy`]; nothing else decides whether to resend, resync,
//! raise the fee or give up.
//!
//! | chain answer ([`TxErrorKind`]) | remedy |
//! |---|---|
//! | sequence mismatch (sdk 32) | [`Remedy::ResyncSequence`], to the expected sequence when the log names it (not at DeliverTx: the chain moved on since) |
//! | out of gas (sdk 11) | [`Remedy::RaiseGas`] to [`GasPolicy::bumped`] of the limit in use |
//! | insufficient fee (sdk 13) naming the fee it requires | [`Remedy::RaiseFee`] straight to that fee ([`FeeTarget::Amount`]), or [`Remedy::FeeAboveMaximum`] when it is above the maximum fee per transaction |
//! | insufficient fee (sdk 13) without an amount | [`Remedy::RaiseFee`] to the next tier at the fee market's current price ([`FeeTarget::Tier`]) |
//! | mempool full (sdk 20), same tx already in the mempool (sdk 19) | [`Remedy::RetryAfter`] a backoff, when it fits before the deadline; else [`Remedy::FinalForWindow`] |
//! | already submitted (`inference already submitted`; emissions 78) | [`Remedy::Done`]: the goal is met |
//! | nonce not open (emissions 75), window closed (emissions 67) | [`Remedy::FinalForWindow`] |
//! | payload too large (emissions 53), no valid forecast element (emissions 77), values refused after admission (sdk 18), tx decode (sdk 2), anything else | [`Remedy::FinalForWindow`] |
//! | not registered (emissions 10/13), topic missing (emissions 6/23), whitelist refuses the worker (emissions 83), labels (emissions 95/97/98, sdk 18 single-value label), bundle defects (sdk 18/29/7/4 in the bundle checks), unauthorized (sdk 4/8), insufficient funds (sdk 5) | [`Remedy::FinalForTopic`]: the topic is suspended until a re-check finds it served again |
//!
//! The codes are those of the chain's `x/emissions/types/errors.go` and the
//! Cosmos SDK's `types/errors/errors.go`, as classified by
//! [`crate::client::classify`].
//!
//! ```
//! use std::time::Duration;
//! use allora_sdk::client::{TxErrorKind, TxStage};
//! use allora_sdk::pipeline::{FeeTarget, Remedy, RemedyContext, RemedyPolicy};
//! use allora_sdk::tx::FeeTier;
//!
//! let policy = RemedyPolicy { max_fee: Some(5_000), ..RemedyPolicy::default() };
//! let ctx = RemedyContext {
//!     stage: TxStage::CheckTx,
//!     attempt: 1,
//!     tier: FeeTier::Eco,
//!     gas_limit: Some(200_000),
//!     time_left: Duration::from_secs(3),
//! };
//! assert_eq!(
//!     policy.remedy(TxErrorKind::InsufficientFee { required: Some(4_500) }, &ctx),
//!     Remedy::RaiseFee { to: FeeTarget::Amount(4_500) }
//! );
//! assert_eq!(
//!     policy.remedy(TxErrorKind::InsufficientFee { required: Some(9_000) }, &ctx),
//!     Remedy::FeeAboveMaximum { required: 9_000, maximum: 5_000 }
//! );
//! assert_eq!(
//!     policy.remedy(TxErrorKind::InsufficientFee { required: None }, &ctx),
//!     Remedy::RaiseFee { to: FeeTarget::Tier(FeeTier::Standard) }
//! );
//! assert_eq!(policy.remedy(TxErrorKind::OutOfGas, &ctx), Remedy::RaiseGas { to: 300_000 });
//! assert_eq!(policy.remedy(TxErrorKind::AlreadySubmitted, &ctx), Remedy::Done);
//! assert_eq!(policy.remedy(TxErrorKind::NonceNotOpen, &ctx), Remedy::FinalForWindow);
//! assert_eq!(policy.remedy(TxErrorKind::NotPermitted, &ctx), Remedy::FinalForTopic);
//! ```

use std::time::Duration;

use allora_infer::Backoff;

use super::gas::GasPolicy;
use crate::client::{TxErrorKind, TxStage};
use crate::tx::FeeTier;

/// What to do after the chain refused a transaction (or one of its
/// messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remedy {
    /// The account sequence used is not the chain's: take `to` (the
    /// sequence the chain said it expects) or, when `None`, fetch it again;
    /// then resend at once.
    ResyncSequence {
        /// The sequence to use, when known.
        to: Option<u64>,
    },
    /// The fee was too low: resend with the fee raised to `to`.
    RaiseFee {
        /// The fee to pay next.
        to: FeeTarget,
    },
    /// The gas limit was too low: resend with this limit.
    RaiseGas {
        /// The gas limit to use next.
        to: u64,
    },
    /// A passing condition (a full mempool, an unreachable chain): resend
    /// the same after waiting this long. Only given when the wait ends
    /// before the deadline.
    RetryAfter {
        /// How long to wait first.
        delay: Duration,
    },
    /// Nothing sent for this window can succeed any more (the window closed,
    /// or the payload is refused for good): give the window up.
    FinalForWindow,
    /// The topic cannot be served until something outside the worker
    /// changes (the worker is not registered or not whitelisted, the topic
    /// is gone, the provider's labels break the topic's rules, the account
    /// cannot pay): give the window up; the topic's other windows would fail
    /// alike until then.
    FinalForTopic,
    /// The fee the chain requires is above the maximum fee per transaction:
    /// give the window up without paying it.
    FeeAboveMaximum {
        /// The fee the chain requires, in uallo.
        required: u128,
        /// The maximum fee per transaction, in uallo.
        maximum: u128,
    },
    /// The goal is met: the chain already has this worker's payload for
    /// the window.
    Done,
}

impl Remedy {
    /// Whether the window's story ends here (final or done): nothing is
    /// resent.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Remedy::FinalForWindow
                | Remedy::FinalForTopic
                | Remedy::FeeAboveMaximum { .. }
                | Remedy::Done
        )
    }
}

/// The fee a [`Remedy::RaiseFee`] raises to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeeTarget {
    /// The gas price fetched afresh (the fee market's current price, also
    /// for a static price that proved too low) times this tier (the next
    /// tier up, or the top tier again when already there).
    Tier(FeeTier),
    /// The fee the chain named as required, in uallo, for the gas limit in
    /// use.
    Amount(u128),
}

/// What the policy knows about the attempt the chain answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemedyContext {
    /// Where the chain answered (simulation, CheckTx or DeliverTx).
    pub stage: TxStage,
    /// Attempts made so far, counting the one answered (1 for the first);
    /// waits grow with it.
    pub attempt: u32,
    /// The fee tier in use.
    pub tier: FeeTier,
    /// The gas limit in use, when one was set.
    pub gas_limit: Option<u64>,
    /// Time left before the deadline (of the window, or of the transaction's
    /// earliest window).
    pub time_left: Duration,
}

/// The remedy policy: the gas policy (for raised limits), the backoff (for
/// waits) and the maximum fee per transaction (for raised fees).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemedyPolicy {
    /// How gas limits are raised.
    pub gas: GasPolicy,
    /// How long waits are.
    pub backoff: Backoff,
    /// The most a transaction may pay, in uallo (`None`: no limit).
    pub max_fee: Option<u128>,
}

impl Default for RemedyPolicy {
    /// The default gas policy; waits from 250 ms doubling up to 2 s; no
    /// maximum fee.
    fn default() -> Self {
        RemedyPolicy {
            gas: GasPolicy::default(),
            backoff: default_backoff(),
            max_fee: None,
        }
    }
}

/// Waits of a full mempool or an unreachable chain: 250 ms doubling up to
/// 2 s (a block or two of a fast chain), bounded by the deadline.
pub(crate) fn default_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(250), Duration::from_secs(2))
}

impl RemedyPolicy {
    /// The remedy for a rejection of kind `kind` (see the module docs for
    /// the table).
    pub fn remedy(&self, kind: TxErrorKind, ctx: &RemedyContext) -> Remedy {
        match kind {
            TxErrorKind::SequenceMismatch { expected } => Remedy::ResyncSequence {
                to: if ctx.stage == TxStage::DeliverTx {
                    None
                } else {
                    expected
                },
            },
            TxErrorKind::OutOfGas => Remedy::RaiseGas {
                to: self.gas.bumped(ctx.gas_limit.unwrap_or(self.gas.min_gas)),
            },
            TxErrorKind::InsufficientFee {
                required: Some(required),
            } => match self.max_fee {
                Some(maximum) if required > maximum => {
                    Remedy::FeeAboveMaximum { required, maximum }
                }
                _ => Remedy::RaiseFee {
                    to: FeeTarget::Amount(required),
                },
            },
            TxErrorKind::InsufficientFee { required: None } => Remedy::RaiseFee {
                to: FeeTarget::Tier(ctx.tier.raised().unwrap_or(ctx.tier)),
            },
            TxErrorKind::MempoolFull | TxErrorKind::AlreadyInMempool => self.wait(ctx),
            TxErrorKind::AlreadySubmitted => Remedy::Done,
            TxErrorKind::NotRegistered
            | TxErrorKind::TopicUnavailable
            | TxErrorKind::NotPermitted
            | TxErrorKind::Label(_)
            | TxErrorKind::InvalidBundle
            | TxErrorKind::Unauthorized
            | TxErrorKind::InsufficientFunds => Remedy::FinalForTopic,
            TxErrorKind::NonceNotOpen
            | TxErrorKind::WindowClosed
            | TxErrorKind::PayloadTooLarge
            | TxErrorKind::NoValidForecast
            | TxErrorKind::InvalidValues
            | TxErrorKind::TxDecode
            | TxErrorKind::Other => Remedy::FinalForWindow,
        }
    }

    /// The wait after failed attempt `ctx.attempt` (a passing condition),
    /// or the end of the window when no wait fits before the deadline.
    pub fn wait(&self, ctx: &RemedyContext) -> Remedy {
        match self
            .backoff
            .delay_within(ctx.attempt.saturating_sub(1), ctx.time_left)
        {
            Some(delay) => Remedy::RetryAfter { delay },
            None => Remedy::FinalForWindow,
        }
    }
}

/// Whether resending (after the remedy the kind calls for) can succeed,
/// given time: the policy's answer is not final.
pub fn is_retryable(kind: TxErrorKind) -> bool {
    let ctx = RemedyContext {
        stage: TxStage::CheckTx,
        attempt: 1,
        tier: FeeTier::Standard,
        gas_limit: None,
        time_left: Duration::MAX,
    };
    !RemedyPolicy::default().remedy(kind, &ctx).is_final()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(stage: TxStage) -> RemedyContext {
        RemedyContext {
            stage,
            attempt: 1,
            tier: FeeTier::Standard,
            gas_limit: Some(200_000),
            time_left: Duration::from_secs(10),
        }
    }

    #[test]
    fn every_kind_has_its_remedy() {
        let p = RemedyPolicy::default();
        let c = ctx(TxStage::CheckTx);
        assert_eq!(
            p.remedy(TxErrorKind::SequenceMismatch { expected: Some(9) }, &c),
            Remedy::ResyncSequence { to: Some(9) }
        );
        assert_eq!(
            p.remedy(TxErrorKind::SequenceMismatch { expected: None }, &c),
            Remedy::ResyncSequence { to: None }
        );
        assert_eq!(
            p.remedy(TxErrorKind::OutOfGas, &c),
            Remedy::RaiseGas { to: 300_000 }
        );
        assert_eq!(
            p.remedy(TxErrorKind::InsufficientFee { required: None }, &c),
            Remedy::RaiseFee {
                to: FeeTarget::Tier(FeeTier::Priority)
            }
        );
        assert_eq!(
            p.remedy(
                TxErrorKind::InsufficientFee {
                    required: Some(u128::MAX)
                },
                &c
            ),
            Remedy::RaiseFee {
                to: FeeTarget::Amount(u128::MAX)
            },
            "no maximum by default"
        );
        let capped = RemedyPolicy {
            max_fee: Some(1000),
            ..p
        };
        assert_eq!(
            capped.remedy(
                TxErrorKind::InsufficientFee {
                    required: Some(1000)
                },
                &c
            ),
            Remedy::RaiseFee {
                to: FeeTarget::Amount(1000)
            },
            "the maximum itself may be paid"
        );
        assert_eq!(
            capped.remedy(
                TxErrorKind::InsufficientFee {
                    required: Some(1001)
                },
                &c
            ),
            Remedy::FeeAboveMaximum {
                required: 1001,
                maximum: 1000
            }
        );
        for kind in [TxErrorKind::MempoolFull, TxErrorKind::AlreadyInMempool] {
            match p.remedy(kind, &c) {
                Remedy::RetryAfter { delay } => {
                    assert!(
                        delay >= Duration::from_millis(125) && delay <= Duration::from_millis(250)
                    )
                }
                other => panic!("{kind:?}: {other:?}"),
            }
        }
        assert_eq!(p.remedy(TxErrorKind::AlreadySubmitted, &c), Remedy::Done);
        for kind in [
            TxErrorKind::NotRegistered,
            TxErrorKind::TopicUnavailable,
            TxErrorKind::NotPermitted,
            TxErrorKind::Label(crate::labels::LabelErrorKind::NotInWhitelist),
            TxErrorKind::InvalidBundle,
            TxErrorKind::Unauthorized,
            TxErrorKind::InsufficientFunds,
        ] {
            assert_eq!(p.remedy(kind, &c), Remedy::FinalForTopic, "{kind:?}");
        }
        for kind in [
            TxErrorKind::NonceNotOpen,
            TxErrorKind::WindowClosed,
            TxErrorKind::PayloadTooLarge,
            TxErrorKind::NoValidForecast,
            TxErrorKind::InvalidValues,
            TxErrorKind::TxDecode,
            TxErrorKind::Other,
        ] {
            assert_eq!(p.remedy(kind, &c), Remedy::FinalForWindow, "{kind:?}");
        }
    }

    #[test]
    fn a_sequence_named_at_delivery_is_fetched_again() {
        let p = RemedyPolicy::default();
        assert_eq!(
            p.remedy(
                TxErrorKind::SequenceMismatch { expected: Some(9) },
                &ctx(TxStage::DeliverTx)
            ),
            Remedy::ResyncSequence { to: None }
        );
        assert_eq!(
            p.remedy(
                TxErrorKind::SequenceMismatch { expected: Some(9) },
                &ctx(TxStage::Simulate)
            ),
            Remedy::ResyncSequence { to: Some(9) }
        );
    }

    #[test]
    fn the_top_tier_stays_and_gas_without_a_limit_starts_from_the_minimum() {
        let p = RemedyPolicy::default();
        let c = RemedyContext {
            tier: FeeTier::Priority,
            gas_limit: None,
            ..ctx(TxStage::DeliverTx)
        };
        assert_eq!(
            p.remedy(TxErrorKind::InsufficientFee { required: None }, &c),
            Remedy::RaiseFee {
                to: FeeTarget::Tier(FeeTier::Priority)
            }
        );
        assert_eq!(
            p.remedy(TxErrorKind::OutOfGas, &c),
            Remedy::RaiseGas {
                to: p.gas.bumped(p.gas.min_gas)
            }
        );
    }

    #[test]
    fn waits_grow_with_attempts_and_never_pass_the_deadline() {
        let p = RemedyPolicy::default();
        let late = RemedyContext {
            attempt: 4,
            ..ctx(TxStage::CheckTx)
        };
        match p.remedy(TxErrorKind::MempoolFull, &late) {
            Remedy::RetryAfter { delay } => {
                assert!(delay >= Duration::from_millis(1000) && delay <= Duration::from_secs(2))
            }
            other => panic!("{other:?}"),
        }
        let no_time = RemedyContext {
            time_left: Duration::from_millis(100),
            ..ctx(TxStage::CheckTx)
        };
        assert_eq!(
            p.remedy(TxErrorKind::MempoolFull, &no_time),
            Remedy::FinalForWindow
        );
    }

    #[test]
    fn retryable_is_what_is_not_final() {
        assert!(is_retryable(TxErrorKind::SequenceMismatch {
            expected: None
        }));
        assert!(is_retryable(TxErrorKind::OutOfGas));
        assert!(is_retryable(TxErrorKind::InsufficientFee {
            required: None
        }));
        assert!(is_retryable(TxErrorKind::InsufficientFee {
            required: Some(1)
        }));
        assert!(!is_retryable(TxErrorKind::NonceNotOpen));
        assert!(is_retryable(TxErrorKind::MempoolFull));
        assert!(!is_retryable(TxErrorKind::AlreadySubmitted));
        assert!(!is_retryable(TxErrorKind::WindowClosed));
        assert!(!is_retryable(TxErrorKind::NotRegistered));
        assert!(!is_retryable(TxErrorKind::Other));
        assert!(Remedy::Done.is_final() && !Remedy::RaiseGas { to: 1 }.is_final());
        assert!(Remedy::FeeAboveMaximum {
            required: 2,
            maximum: 1
        }
        .is_final());
    }
}
