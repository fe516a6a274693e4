//! What a decision about a window means for the submission record and for
//! the results stream: the window's new record state and its report, built
//! from the decision and the transaction's answer. Pure, like the decision.

use std::time::Duration;

use super::book::Window;
use super::decision::{Decision, Missed, RetryCause, SubmitResult};
use super::store::WindowState;
use super::{Latency, Outcome, Submission, WorkerError};
use crate::client::ChainError;
use crate::pipeline::SubmitError;

/// The window's record change and report.
#[derive(Debug)]
pub(super) struct Effects {
    /// The window's new state in the record, when it changes.
    pub(super) record: Option<WindowState>,
    /// What the results stream and the observer are told, if anything.
    pub(super) report: Option<Result<Submission, WorkerError>>,
}

impl Effects {
    fn none() -> Self {
        Effects {
            record: None,
            report: None,
        }
    }
}

/// What a window's message was in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Carried {
    /// Its position in the transaction.
    pub(super) index: usize,
    /// Whether it carried an inference (whose admission the chain reports
    /// with `EventInsertInfererPayload`).
    pub(super) has_inference: bool,
}

/// The effects of `decision` for `window`, whose provider took `inference`,
/// sent as `carried` in a transaction of `batch_size` messages that came
/// back with `answer` (`None` for a decision taken without one, after a
/// wait).
pub(super) fn effects(
    decision: Decision,
    window: &Window,
    inference: Duration,
    answer: Option<&SubmitResult>,
    carried: Carried,
    batch_size: usize,
) -> Effects {
    let (topic_id, nonce) = window.id();
    let chain = answer.and_then(chain_error);
    let missed = |reason: String| {
        Some(Err(WorkerError::WindowMissed {
            topic_id,
            nonce,
            reason,
        }))
    };
    let abandoned = |reason: &str| {
        Some(WindowState::Abandoned {
            reason: reason.to_owned(),
        })
    };
    let rejected = |source: &ChainError| WorkerError::Rejected {
        topic_id,
        nonce,
        source: source.clone(),
    };
    // A failure reported for the window, with nothing recorded for it.
    let report_only = |error: WorkerError| Effects {
        record: None,
        report: Some(Err(error)),
    };
    match decision {
        Decision::Included => match answer {
            Some(Ok(included)) => Effects {
                record: Some(WindowState::Confirmed {
                    tx: Some(included.txhash.clone()),
                    height: Some(included.height),
                }),
                report: Some(Ok(Submission {
                    topic_id,
                    nonce,
                    // Included with code 0, but no admission event for this
                    // message: the chain did not take the inference.
                    outcome: if carried.has_inference
                        && !included.message_emitted(carried.index, ADMITTED_EVENT)
                    {
                        Outcome::NotAdmitted
                    } else {
                        Outcome::Included
                    },
                    txhash: Some(included.txhash.clone()),
                    height: Some(included.height),
                    fee: Some(included.fee.clone()),
                    batch_size,
                    latency: Latency {
                        inference,
                        window_to_broadcast: Some(
                            included
                                .broadcast_at
                                .saturating_duration_since(window.discovered_at),
                        ),
                        broadcast_to_included: Some(
                            included
                                .included_at
                                .saturating_duration_since(included.broadcast_at),
                        ),
                    },
                })),
            },
            _ => Effects::none(),
        },
        Decision::AlreadySubmitted => Effects {
            record: Some(WindowState::Confirmed {
                tx: None,
                height: None,
            }),
            report: Some(Ok(Submission {
                topic_id,
                nonce,
                outcome: Outcome::AlreadySubmitted,
                txhash: None,
                height: None,
                fee: None,
                batch_size: 1,
                latency: Latency {
                    inference,
                    ..Latency::default()
                },
            })),
        },
        Decision::Missed(Missed::ChainClosed) => Effects {
            record: abandoned(chain.map_or("window closed", |c| c.raw_log.as_str())),
            report: missed(chain.map_or_else(|| "window closed".to_owned(), ToString::to_string)),
        },
        Decision::Missed(Missed::DeadlineBeforeSend) => Effects {
            record: abandoned("window deadline passed before sending"),
            report: missed(
                "the window's deadline passed before the payload could be sent".to_owned(),
            ),
        },
        Decision::Missed(Missed::DeadlineBeforeResend) => Effects {
            record: abandoned("window deadline passed before resending"),
            report: missed(
                "the window's deadline passed before the payload could be resent".to_owned(),
            ),
        },
        Decision::FeeAboveMaximum { required, maximum } => Effects {
            record: abandoned(&format!(
                "fee above maximum: the chain requires {required}uallo, the maximum is {maximum}uallo"
            )),
            report: Some(Err(WorkerError::FeeAboveMaximum {
                topic_id,
                nonce,
                required,
                maximum,
            })),
        },
        Decision::Unbuildable => {
            let reason = match answer {
                Some(Err(error)) => error.to_string(),
                _ => "the transaction could not be built".to_owned(),
            };
            Effects {
                record: abandoned(&reason),
                report: Some(Err(WorkerError::Transaction {
                    topic_id,
                    nonce,
                    reason,
                })),
            }
        }
        Decision::Rejected | Decision::RejectedForTopic => match chain {
            Some(chain) => Effects {
                record: abandoned(&chain.raw_log),
                report: Some(Err(rejected(chain))),
            },
            None => Effects::none(),
        },
        Decision::SignerFailed => match answer {
            Some(Err(SubmitError::Signer(source))) => Effects {
                record: abandoned(&format!("not signed: {source}")),
                report: Some(Err(WorkerError::Signer {
                    topic_id,
                    nonce,
                    source: source.clone(),
                })),
            },
            _ => Effects::none(),
        },
        Decision::Resend { .. } => Effects::none(),
        Decision::Retry { cause, .. } => match (cause, answer) {
            (RetryCause::NotIncluded, Some(Err(SubmitError::NotIncluded { txhash }))) => Effects {
                record: Some(WindowState::Pending {
                    tx: Some(txhash.clone()),
                }),
                report: Some(Err(WorkerError::NotIncluded {
                    topic_id,
                    nonce,
                    txhash: txhash.clone(),
                })),
            },
            (RetryCause::Refused, _) if chain.is_some() => Effects {
                record: None,
                report: chain.map(|chain| Err(rejected(chain))),
            },
            (_, Some(Err(SubmitError::Signer(source)))) => Effects {
                record: None,
                report: Some(Err(WorkerError::Signer {
                    topic_id,
                    nonce,
                    source: source.clone(),
                })),
            },
            // The chain's last answer, whatever the attempts.
            (
                RetryCause::Exhausted,
                Some(Err(SubmitError::AttemptsExhausted { last, .. })),
            ) => report_only(rejected(last)),
            (RetryCause::ChainAnswer, Some(Err(error))) => report_only(WorkerError::ChainAnswer {
                topic_id,
                nonce,
                reason: error.to_string(),
            }),
            (RetryCause::Unreachable, Some(Err(error))) => report_only(WorkerError::Unavailable {
                topic_id,
                nonce,
                reason: error.to_string(),
            }),
            _ => Effects::none(),
        },
    }
}

/// The event the chain emits for an admitted inference (allora-chain
/// `x/emissions/keeper/msgserver/msg_server_worker_payload.go`: "emitted
/// only on admission"), by its name in any emissions version.
const ADMITTED_EVENT: &str = "EventInsertInfererPayload";

/// The chain's rejection in a transaction's answer, if it is one.
fn chain_error(answer: &SubmitResult) -> Option<&ChainError> {
    match answer {
        Err(SubmitError::Rejected { error, .. }) => Some(error),
        _ => None,
    }
}

/// A transaction included at `height`, broadcast and seen at `times`, with
/// `events` (for tests of the decisions and their effects).
#[cfg(test)]
pub(super) fn included_for_test(
    height: i64,
    (broadcast_at, included_at): (tokio::time::Instant, tokio::time::Instant),
    events: Vec<crate::client::TxEvent>,
) -> crate::pipeline::Included {
    crate::pipeline::Included {
        txhash: "AB".into(),
        height,
        fee: crate::tx::Fee::uallo(10, 100),
        gas_used: 90,
        broadcast_at,
        included_at,
        attempts: 1,
        events,
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::client::{TxEvent, TxStage};
    use crate::worker::clock::{Deadlines, WindowEnd};

    const MS: Duration = Duration::from_millis(1);

    const ALONE: Carried = Carried {
        index: 0,
        has_inference: true,
    };

    /// The effects of `decision` for the only message of a transaction, whose
    /// provider took a millisecond.
    fn alone(decision: Decision, window: &Window, answer: Option<&SubmitResult>) -> Effects {
        effects(decision, window, MS, answer, ALONE, 1)
    }

    fn window(now: Instant) -> Window {
        Window {
            topic_id: 3,
            nonce: 30,
            end: WindowEnd::Height(35),
            discovered_at: now,
            deadlines: Deadlines {
                provide_by: now,
                send_by: now,
                confirm_by: now,
            },
        }
    }

    fn refused(code: u32, log: &str) -> SubmitResult {
        Err(SubmitError::Rejected {
            error: ChainError {
                stage: TxStage::DeliverTx,
                codespace: "emissions".into(),
                code,
                raw_log: log.into(),
                txhash: Some("EF".into()),
                height: Some(31),
            },
            message_index: None,
        })
    }

    #[test]
    fn an_inclusion_is_confirmed_with_its_latencies() {
        let now = Instant::now();
        let answer = Ok(included_for_test(
            31,
            (now + 20 * MS, now + 1020 * MS),
            vec![TxEvent {
                kind: "emissions.v10.EventInsertInfererPayload".into(),
                attributes: vec![("msg_index".into(), "0".into())],
            }],
        ));
        let e = effects(
            Decision::Included,
            &window(now),
            5 * MS,
            Some(&answer),
            ALONE,
            4,
        );
        assert_eq!(
            e.record,
            Some(WindowState::Confirmed {
                tx: Some("AB".into()),
                height: Some(31)
            })
        );
        let s = e.report.unwrap().unwrap();
        assert_eq!((s.topic_id, s.nonce, s.batch_size), (3, 30, 4));
        assert_eq!(s.outcome, Outcome::Included);
        assert_eq!(s.latency.inference, 5 * MS);
        assert_eq!(s.latency.window_to_broadcast, Some(20 * MS));
        assert_eq!(s.latency.broadcast_to_included, Some(1000 * MS));
    }

    #[test]
    fn done_and_final_answers_are_recorded_and_reported() {
        let now = Instant::now();
        let w = window(now);
        let e = effects(
            Decision::AlreadySubmitted,
            &w,
            MS,
            Some(&refused(78, "cannot update EMA more than once per window")),
            ALONE,
            3,
        );
        let s = e.report.unwrap().unwrap();
        assert_eq!((s.outcome, s.batch_size), (Outcome::AlreadySubmitted, 1));
        assert!(e.record.unwrap().is_final());

        let closed = refused(67, "nonce window not available");
        let e = alone(Decision::Missed(Missed::ChainClosed), &w, Some(&closed));
        assert_eq!(
            e.record,
            Some(WindowState::Abandoned {
                reason: "nonce window not available".into()
            })
        );
        assert_eq!(e.report.unwrap().unwrap_err().kind(), "window_missed");

        for decision in [Decision::Rejected, Decision::RejectedForTopic] {
            let e = effects(
                decision,
                &w,
                MS,
                Some(&refused(13, "address not registered")),
                ALONE,
                1,
            );
            assert!(e.record.unwrap().is_final());
            let err = e.report.unwrap().unwrap_err();
            assert_eq!(err.kind(), "not_registered");
            assert_eq!(err.window(), Some((3, 30)));
        }
    }

    #[test]
    fn deadlines_say_why_nothing_was_sent() {
        let now = Instant::now();
        let w = window(now);
        let e = alone(Decision::Missed(Missed::DeadlineBeforeResend), &w, None);
        assert!(e.record.unwrap().is_final());
        assert!(e
            .report
            .unwrap()
            .unwrap_err()
            .to_string()
            .contains("resent"));
        let e = alone(Decision::Missed(Missed::DeadlineBeforeSend), &w, None);
        assert!(e
            .report
            .unwrap()
            .unwrap_err()
            .to_string()
            .contains("be sent"));
    }

    #[test]
    fn retries_are_reported_and_a_lost_transaction_stays_pending() {
        let now = Instant::now();
        let w = window(now);
        let lost = Err(SubmitError::NotIncluded {
            txhash: "CD".into(),
        });
        let retry = |cause| Decision::Retry {
            after: Some(MS),
            cause,
        };
        let e = alone(retry(RetryCause::NotIncluded), &w, Some(&lost));
        assert_eq!(
            e.record,
            Some(WindowState::Pending {
                tx: Some("CD".into())
            })
        );
        assert_eq!(e.report.unwrap().unwrap_err().kind(), "not_included");

        let down = Err(SubmitError::DeadlinePassed);
        let e = alone(retry(RetryCause::Unreachable), &w, Some(&down));
        assert!(e.record.is_none());
        assert_eq!(e.report.unwrap().unwrap_err().kind(), "unavailable");

        let full = refused(20, "mempool is full");
        let e = alone(retry(RetryCause::Refused), &w, Some(&full));
        assert!(e.record.is_none());
        assert!(matches!(e.report, Some(Err(WorkerError::Rejected { .. }))));

        let e = effects(
            Decision::Resend { solo: true },
            &w,
            MS,
            Some(&full),
            ALONE,
            2,
        );
        assert!(e.record.is_none() && e.report.is_none());
    }

    #[test]
    fn an_inclusion_without_the_admission_event_is_not_admitted() {
        let now = Instant::now();
        let event = |kind: &str, index: usize| TxEvent {
            kind: kind.into(),
            attributes: vec![("msg_index".into(), index.to_string())],
        };
        let answer = |events| Ok(included_for_test(31, (now, now), events));
        let outcome = |answer: &SubmitResult, carried| {
            effects(
                Decision::Included,
                &window(now),
                MS,
                Some(answer),
                carried,
                2,
            )
            .report
            .unwrap()
            .unwrap()
            .outcome
        };
        let second = Carried {
            index: 1,
            has_inference: true,
        };
        let admitted_first = answer(vec![
            event("tx", 0),
            event("emissions.v10.EventInsertInfererPayload", 0),
            event("emissions.v10.EventInsertForecasterPayload", 1),
        ]);
        assert_eq!(outcome(&admitted_first, ALONE), Outcome::Included);
        assert_eq!(outcome(&admitted_first, second), Outcome::NotAdmitted);
        // A forecast alone has no admission event to miss.
        let forecast_only = Carried {
            index: 1,
            has_inference: false,
        };
        assert_eq!(outcome(&admitted_first, forecast_only), Outcome::Included);
        // No event at all: not admitted either.
        assert_eq!(outcome(&answer(Vec::new()), second), Outcome::NotAdmitted);
    }

    #[test]
    fn chain_answers_are_never_reported_as_unreachable() {
        let now = Instant::now();
        let w = window(now);
        let retry = |cause| Decision::Retry {
            after: Some(MS),
            cause,
        };
        let exhausted = Err(SubmitError::AttemptsExhausted {
            attempts: 5,
            last: ChainError {
                stage: TxStage::CheckTx,
                codespace: "sdk".into(),
                code: 13,
                raw_log: "insufficient fee".into(),
                txhash: None,
                height: None,
            },
        });
        let e = alone(retry(RetryCause::Exhausted), &w, Some(&exhausted));
        assert_eq!(e.report.unwrap().unwrap_err().kind(), "insufficient_fee");
        let unfunded = Err(SubmitError::Client(crate::client::ClientError::NotFound(
            "account allo1x (fund it first)".into(),
        )));
        let e = alone(retry(RetryCause::ChainAnswer), &w, Some(&unfunded));
        let err = e.report.unwrap().unwrap_err();
        assert_eq!(err.kind(), "chain_answer");
        assert!(err.to_string().contains("fund it first"), "{err}");

        let above = Err(SubmitError::FeeAboveMaximum {
            required: 4500,
            maximum: 3000,
        });
        let e = alone(
            Decision::FeeAboveMaximum {
                required: 4500,
                maximum: 3000,
            },
            &w,
            Some(&above),
        );
        assert!(e.record.unwrap().is_final());
        let err = e.report.unwrap().unwrap_err();
        assert_eq!(err.kind(), "fee_above_maximum");
        assert!(
            err.to_string().contains("4500uallo") && err.to_string().contains("3000uallo"),
            "{err}"
        );
    }

    #[test]
    fn a_signer_failure_is_reported_as_its_own_kind() {
        use crate::signer::SignerError;
        let now = Instant::now();
        let w = window(now);
        let late = Err(SubmitError::Signer(SignerError::Timeout {
            signer: "remote signer http://127.0.0.1:1/".into(),
            waited: 2 * MS,
        }));
        let e = effects(Decision::SignerFailed, &w, MS, Some(&late), ALONE, 3);
        assert!(e.record.unwrap().is_final());
        let err = e.report.unwrap().unwrap_err();
        assert_eq!(err.kind(), "signer_timeout");
        assert_eq!(err.window(), Some((3, 30)));
        // Asked again later: reported meanwhile, nothing recorded.
        let retry = Decision::Retry {
            after: Some(MS),
            cause: RetryCause::Unreachable,
        };
        let e = effects(retry, &w, MS, Some(&late), ALONE, 1);
        assert!(e.record.is_none());
        assert_eq!(e.report.unwrap().unwrap_err().kind(), "signer_timeout");
    }
}
