//! What happens to a window after the chain's answer to the transaction
//! that carried it.
//!
//! [`decide`] is a pure function: the answer (or its absence), a few facts
//! about the window, and the remedy policy in; a [`Decision`] out. It does
//! no I/O and reads no clock (the time left is one of the facts), so every
//! case is tested here without a network. The worker's event loop carries
//! the decision out (records, reports, the window's next phase).

use std::time::Duration;

use crate::client::{ClientError, TxErrorKind};
use crate::pipeline::{Included, Remedy, RemedyContext, RemedyPolicy, SubmitError};
use crate::tx::FeeTier;

/// The answer a transaction task brings back.
pub(super) type SubmitResult = Result<Included, SubmitError>;

/// What the decision needs to know about one window of the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WindowFacts {
    /// Its message's position in the transaction.
    pub(super) index: usize,
    /// How many messages the transaction carried.
    pub(super) batch_len: usize,
    /// Time left before the window's send deadline.
    pub(super) time_left: Duration,
    /// Sends of it retried after a wait so far.
    pub(super) retries: u32,
    /// The fee tier in use.
    pub(super) tier: FeeTier,
}

/// Why a window was given up without the chain refusing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Missed {
    /// The chain says the window is closed.
    ChainClosed,
    /// Its deadline passed before the transaction could be sent.
    DeadlineBeforeSend,
    /// Its deadline passed before it could be sent again.
    DeadlineBeforeResend,
}

/// What is reported while a window waits to be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RetryCause {
    /// The chain could not be reached (a transport failure).
    Unreachable,
    /// The chain answered a query the submission needed with an error.
    ChainAnswer,
    /// The pipeline ran out of attempts; the chain's last answer is
    /// reported.
    Exhausted,
    /// The chain refused this payload for a passing reason.
    Refused,
    /// The transaction was accepted but not seen in a block in time; it may
    /// still land (a resend is then answered "already submitted").
    NotIncluded,
}

/// What happens to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Served: the transaction carrying its payload is in a block.
    Included,
    /// Served before: the chain already has this worker's payload
    /// ([`Remedy::Done`]).
    AlreadySubmitted,
    /// Given up ([`Remedy::FinalForWindow`] for a closed window, or a
    /// deadline).
    Missed(Missed),
    /// Given up: the chain refuses this payload for good
    /// ([`Remedy::FinalForWindow`]).
    Rejected,
    /// Given up: the chain refuses the topic itself (the worker is not
    /// registered or not whitelisted, the topic is gone, the labels or the
    /// bundle are defective, the account cannot pay:
    /// [`Remedy::FinalForTopic`]), so its other windows would fail alike
    /// until that changes: the topic is suspended.
    RejectedForTopic,
    /// Given up: the fee the chain requires is above the maximum
    /// ([`Remedy::FeeAboveMaximum`]).
    FeeAboveMaximum {
        /// The fee the chain requires, in uallo.
        required: u128,
        /// The maximum fee per transaction, in uallo.
        maximum: u128,
    },
    /// Given up: the transaction could not be built.
    Unbuildable,
    /// Given up: the worker's signer gave no usable signature for the
    /// transaction (it refused, answered garbage or a signature that does not
    /// verify, or stayed late or unreachable until no wait fits before the
    /// deadline). Nothing was broadcast.
    SignerFailed,
    /// Sent again at once, in the next transaction (alone when `solo`).
    Resend {
        /// To be sent in a transaction of its own.
        solo: bool,
    },
    /// Reported, then sent again after `after`; `None` when no wait fits
    /// before the deadline: the window is forgotten, so a later discovery
    /// while it is still open serves it again.
    Retry {
        /// The wait.
        after: Option<Duration>,
        /// What is reported meanwhile.
        cause: RetryCause,
    },
}

/// The decision for one window of a transaction, from the task's answer.
pub(super) fn decide(result: &SubmitResult, facts: WindowFacts, policy: &RemedyPolicy) -> Decision {
    let error = match result {
        Ok(_) => return Decision::Included,
        Err(error) => error,
    };
    let retry = |cause| Decision::Retry {
        after: policy.backoff.delay_within(facts.retries, facts.time_left),
        cause,
    };
    match error {
        SubmitError::Rejected {
            error,
            message_index,
        } => {
            let culprit = match message_index {
                Some(i) if *i < facts.batch_len => Some(*i),
                _ if facts.batch_len == 1 => Some(0),
                _ => None,
            };
            match culprit {
                // The chain did not say which payload failed: send each alone
                // to find out.
                None => resend(true, facts),
                // Another payload failed; this one was fine.
                Some(i) if i != facts.index => resend(false, facts),
                Some(_) => {
                    let ctx = RemedyContext {
                        stage: error.stage,
                        attempt: facts.retries + 1,
                        tier: facts.tier,
                        gas_limit: None,
                        time_left: facts.time_left,
                    };
                    match policy.remedy(error.kind(), &ctx) {
                        Remedy::Done => Decision::AlreadySubmitted,
                        Remedy::FinalForTopic => Decision::RejectedForTopic,
                        Remedy::FeeAboveMaximum { required, maximum } => {
                            Decision::FeeAboveMaximum { required, maximum }
                        }
                        Remedy::FinalForWindow
                            if matches!(
                                error.kind(),
                                TxErrorKind::WindowClosed | TxErrorKind::NonceNotOpen
                            ) =>
                        {
                            Decision::Missed(Missed::ChainClosed)
                        }
                        Remedy::FinalForWindow => Decision::Rejected,
                        Remedy::RetryAfter { delay } => Decision::Retry {
                            after: Some(delay),
                            cause: RetryCause::Refused,
                        },
                        // A remedy of the pipeline's (sequence, fee, gas) that it
                        // could not apply for this payload: wait, then send again.
                        _ => match policy.wait(&ctx) {
                            Remedy::RetryAfter { delay } => Decision::Retry {
                                after: Some(delay),
                                cause: RetryCause::Refused,
                            },
                            _ => Decision::Rejected,
                        },
                    }
                }
            }
        }
        SubmitError::NotIncluded { .. } => retry(RetryCause::NotIncluded),
        SubmitError::DeadlinePassed => Decision::Missed(Missed::DeadlineBeforeSend),
        SubmitError::FeeAboveMaximum { required, maximum } => Decision::FeeAboveMaximum {
            required: *required,
            maximum: *maximum,
        },
        SubmitError::Build(_) => Decision::Unbuildable,
        SubmitError::AttemptsExhausted { .. } => retry(RetryCause::Exhausted),
        // Only a transport failure is "unreachable"; any other answer of
        // the chain's is reported as what it says.
        SubmitError::Client(
            ClientError::Unavailable { .. } | ClientError::DeadlineExceeded { .. },
        ) => retry(RetryCause::Unreachable),
        SubmitError::Client(_) => retry(RetryCause::ChainAnswer),
        // Nothing was broadcast: a signer that may answer later (late,
        // unreachable) is asked again while a wait fits before the deadline.
        SubmitError::Signer(error) if error.is_retryable() => {
            match policy.backoff.delay_within(facts.retries, facts.time_left) {
                Some(after) => Decision::Retry {
                    after: Some(after),
                    cause: RetryCause::Unreachable,
                },
                None => Decision::SignerFailed,
            }
        }
        SubmitError::Signer(_) => Decision::SignerFailed,
    }
}

/// The decision for a window whose wait is over.
pub(super) fn after_wait(time_left: Duration, solo: bool) -> Decision {
    resend(
        solo,
        WindowFacts {
            index: 0,
            batch_len: 1,
            time_left,
            retries: 0,
            tier: FeeTier::Standard,
        },
    )
}

fn resend(solo: bool, facts: WindowFacts) -> Decision {
    if facts.time_left.is_zero() {
        Decision::Missed(Missed::DeadlineBeforeResend)
    } else {
        Decision::Resend { solo }
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::client::{ChainError, ClientError, TxStage};
    use crate::worker::outcome::included_for_test;

    const SEC: Duration = Duration::from_secs(1);

    fn facts(index: usize, batch_len: usize) -> WindowFacts {
        WindowFacts {
            index,
            batch_len,
            time_left: 3 * SEC,
            retries: 0,
            tier: FeeTier::Standard,
        }
    }

    fn no_time(f: WindowFacts) -> WindowFacts {
        WindowFacts {
            time_left: Duration::ZERO,
            ..f
        }
    }

    fn chain(stage: TxStage, codespace: &str, code: u32, log: &str) -> ChainError {
        ChainError {
            stage,
            codespace: codespace.into(),
            code,
            raw_log: log.into(),
            txhash: None,
            height: None,
        }
    }

    fn rejected(error: ChainError, message_index: Option<usize>) -> SubmitResult {
        Err(SubmitError::Rejected {
            error,
            message_index,
        })
    }

    fn rejected_alone(codespace: &str, code: u32, log: &str) -> SubmitResult {
        rejected(chain(TxStage::DeliverTx, codespace, code, log), None)
    }

    fn decide1(result: &SubmitResult) -> Decision {
        decide(result, facts(0, 1), &RemedyPolicy::default())
    }

    /// Checks that each refusal `(codespace, code, log)`, alone in its
    /// transaction, decides `expected`.
    #[track_caller]
    fn assert_each_decides(refusals: &[(&str, u32, &str)], expected: Decision) {
        for &(codespace, code, log) in refusals {
            assert_eq!(
                decide1(&rejected_alone(codespace, code, log)),
                expected,
                "{codespace}/{code}"
            );
        }
    }

    fn is_retry(d: Decision, cause: RetryCause) -> bool {
        matches!(d, Decision::Retry { after: Some(after), cause: c }
            if c == cause && after > Duration::ZERO && after < 3 * SEC)
    }

    #[test]
    fn an_included_transaction_serves_every_window() {
        let now = Instant::now();
        let included = Ok(included_for_test(11, (now, now), Vec::new()));
        for i in 0..3 {
            assert_eq!(
                decide(&included, facts(i, 3), &RemedyPolicy::default()),
                Decision::Included
            );
        }
    }

    #[test]
    fn already_submitted_is_done() {
        assert_each_decides(
            &[
                (
                    "undefined",
                    1,
                    "Error planning inference admission: inference already submitted",
                ),
                (
                    "emissions",
                    78,
                    "cannot update EMA more than once per window",
                ),
            ],
            Decision::AlreadySubmitted,
        );
    }

    #[test]
    fn a_nonce_no_longer_open_ends_the_window_without_claiming_it_served() {
        assert_each_decides(
            &[("emissions", 75, "unfulfilled nonce not found")],
            Decision::Missed(Missed::ChainClosed),
        );
    }

    #[test]
    fn a_fee_above_the_maximum_ends_the_window() {
        let above = Err(SubmitError::FeeAboveMaximum {
            required: 9,
            maximum: 5,
        });
        assert_eq!(
            decide1(&above),
            Decision::FeeAboveMaximum {
                required: 9,
                maximum: 5
            }
        );
        let policy = RemedyPolicy {
            max_fee: Some(5),
            ..RemedyPolicy::default()
        };
        let refused = rejected_alone(
            "sdk",
            13,
            "got: 1uallo required: 9uallo, minGasPrice: 1uallo, gas: 9: insufficient fee",
        );
        assert_eq!(
            decide(&refused, facts(0, 1), &policy),
            Decision::FeeAboveMaximum {
                required: 9,
                maximum: 5
            }
        );
    }

    #[test]
    fn a_closed_window_is_missed_and_other_final_refusals_are_rejections() {
        assert_each_decides(
            &[("emissions", 67, "nonce window not available")],
            Decision::Missed(Missed::ChainClosed),
        );
        assert_each_decides(
            &[
                ("sdk", 2, "tx parse error"),
                ("emissions", 53, "query is too large"),
                ("emissions", 77, "no valid forecast elements found"),
            ],
            Decision::Rejected,
        );
    }

    #[test]
    fn refusals_of_the_topic_itself_are_final_for_the_topic() {
        assert_each_decides(
            &[
                ("emissions", 13, "address not registered"),
                ("emissions", 6, "invalid topic ID"),
                ("emissions", 83, "not permitted to submit worker payload"),
                ("emissions", 95, "invalid label name"),
                (
                    "sdk",
                    18,
                    "single-arity label must be \"y\", got \"x\": invalid request",
                ),
                ("sdk", 4, "signature verification failed"),
                ("sdk", 5, "insufficient funds"),
            ],
            Decision::RejectedForTopic,
        );
    }

    #[test]
    fn a_full_mempool_is_waited_out_while_time_allows() {
        let full = rejected(chain(TxStage::CheckTx, "sdk", 20, "mempool is full"), None);
        assert!(is_retry(decide1(&full), RetryCause::Refused));
        assert_eq!(
            decide(&full, no_time(facts(0, 1)), &RemedyPolicy::default()),
            Decision::Rejected
        );
    }

    #[test]
    fn pipeline_remedies_it_could_not_apply_become_a_wait() {
        for (codespace, code, log) in [
            ("sdk", 32, "account sequence mismatch, expected 4, got 3"),
            ("sdk", 11, "out of gas"),
            ("sdk", 13, "insufficient fee"),
            ("sdk", 13, "required: 10uallo: insufficient fee"),
        ] {
            let refused = rejected_alone(codespace, code, log);
            assert!(
                is_retry(decide1(&refused), RetryCause::Refused),
                "{codespace}/{code}"
            );
            assert_eq!(
                decide(&refused, no_time(facts(0, 1)), &RemedyPolicy::default()),
                Decision::Rejected
            );
        }
    }

    #[test]
    fn the_named_message_is_the_culprit_and_the_others_go_again() {
        let p = RemedyPolicy::default();
        let named = rejected(
            chain(
                TxStage::Simulate,
                "undefined",
                1,
                "failed to execute message; message index: 1: inference already submitted",
            ),
            Some(1),
        );
        assert_eq!(
            decide(&named, facts(0, 3), &p),
            Decision::Resend { solo: false }
        );
        assert_eq!(decide(&named, facts(1, 3), &p), Decision::AlreadySubmitted);
        assert_eq!(
            decide(&named, facts(2, 3), &p),
            Decision::Resend { solo: false }
        );
        // No time left to send the others again.
        assert_eq!(
            decide(&named, no_time(facts(2, 3)), &p),
            Decision::Missed(Missed::DeadlineBeforeResend)
        );
    }

    #[test]
    fn an_unnamed_failure_of_a_batch_sends_each_alone() {
        let p = RemedyPolicy::default();
        let unnamed = rejected(chain(TxStage::DeliverTx, "sdk", 2, "tx parse error"), None);
        assert_eq!(
            decide(&unnamed, facts(1, 2), &p),
            Decision::Resend { solo: true }
        );
        // An index the batch does not have names nobody.
        let beyond = rejected(chain(TxStage::DeliverTx, "sdk", 2, "x"), Some(7));
        assert_eq!(
            decide(&beyond, facts(0, 2), &p),
            Decision::Resend { solo: true }
        );
        // Alone, it is the culprit.
        assert_eq!(decide(&beyond, facts(0, 1), &p), Decision::Rejected);
    }

    #[test]
    fn a_transaction_not_seen_in_time_is_reported_and_tried_again() {
        let lost = Err(SubmitError::NotIncluded {
            txhash: "CD".into(),
        });
        assert!(is_retry(decide1(&lost), RetryCause::NotIncluded));
        assert_eq!(
            decide(&lost, no_time(facts(0, 1)), &RemedyPolicy::default()),
            Decision::Retry {
                after: None,
                cause: RetryCause::NotIncluded
            }
        );
    }

    #[test]
    fn an_unreachable_chain_is_waited_out_while_time_allows() {
        let unreachable = Err(SubmitError::Client(ClientError::Unavailable {
            method: "BroadcastTx",
            attempts: vec![],
        }));
        assert!(is_retry(decide1(&unreachable), RetryCause::Unreachable));
        let exhausted = Err(SubmitError::AttemptsExhausted {
            attempts: 5,
            last: chain(TxStage::CheckTx, "sdk", 20, "mempool is full"),
        });
        assert!(is_retry(decide1(&exhausted), RetryCause::Exhausted));
        // An answer of the chain's is never "unreachable".
        let unfunded = Err(SubmitError::Client(ClientError::NotFound(
            "account allo1x (fund it first)".into(),
        )));
        assert!(is_retry(decide1(&unfunded), RetryCause::ChainAnswer));
        let deadline = Err(SubmitError::Client(ClientError::DeadlineExceeded {
            method: "GetTx",
            attempts: vec![],
        }));
        assert!(is_retry(decide1(&deadline), RetryCause::Unreachable));
        // Waits grow with the retries made and stop at the deadline.
        let late = WindowFacts {
            retries: 3,
            time_left: 10 * SEC,
            ..facts(0, 1)
        };
        match decide(&unreachable, late, &RemedyPolicy::default()) {
            Decision::Retry {
                after: Some(after), ..
            } => assert!(after >= SEC && after <= 2 * SEC, "{after:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decide(&unreachable, no_time(facts(0, 1)), &RemedyPolicy::default()),
            Decision::Retry {
                after: None,
                cause: RetryCause::Unreachable
            }
        );
    }

    #[test]
    fn a_signer_failure_ends_the_window_unless_it_may_pass_in_time() {
        use crate::signer::SignerError;
        let unverified = Err(SubmitError::Signer(SignerError::Unverified {
            signer: "KMS key alias/w".into(),
            public_key: "02ab".into(),
            reason: "does not verify against the public key",
        }));
        assert_eq!(decide1(&unverified), Decision::SignerFailed);
        let down = Err(SubmitError::Signer(SignerError::Unavailable {
            signer: "KMS key alias/w".into(),
            reason: "ThrottlingException".into(),
        }));
        assert!(is_retry(decide1(&down), RetryCause::Unreachable));
        assert_eq!(
            decide(&down, no_time(facts(0, 1)), &RemedyPolicy::default()),
            Decision::SignerFailed
        );
    }

    #[test]
    fn a_deadline_passed_before_sending_ends_the_window() {
        let passed = Err(SubmitError::DeadlinePassed);
        assert_eq!(
            decide1(&passed),
            Decision::Missed(Missed::DeadlineBeforeSend)
        );
    }

    #[test]
    fn a_window_due_after_its_wait_goes_again_unless_too_late() {
        assert_eq!(after_wait(SEC, true), Decision::Resend { solo: true });
        assert_eq!(
            after_wait(Duration::ZERO, false),
            Decision::Missed(Missed::DeadlineBeforeResend)
        );
    }
}
