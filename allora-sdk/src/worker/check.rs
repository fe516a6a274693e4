//! Topic checks: whether the chain lets this worker serve a topic, asked
//! before anything is sent for it (at start, and every few epochs while it
//! is suspended), and the topic's settings the worker needs (window and
//! epoch lengths, label rules).
//!
//! A full check asks, in the chain's own order of refusals: `GetTopic` (the
//! topic exists; emissions 6 otherwise), `CanSubmitWorkerPayload` (the
//! whitelists admit the worker; emissions 83 otherwise) and
//! `IsWorkerRegisteredInTopicId` (emissions 13 otherwise; registered here
//! when auto-registration is on), and, for a topic suspended because the
//! account could not pay, the balance against one transaction's fee plus
//! the data fee (sdk 5 otherwise). A query that fails at the transport
//! level decides nothing: the topic keeps its state until the next check.

use futures_util::StreamExt;

use super::topics::SuspendReason;
use crate::client::ClientError;
use crate::labels::LabelRules;
use crate::pipeline::TxPipeline;
use crate::proto::emissions::v9;

/// Checks run at once while checking many topics.
const CHECK_CONCURRENCY: usize = 16;

/// What a check asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CheckKind {
    /// The topic's settings only (a topic being served).
    Refresh,
    /// Existence, whitelist and registration (a topic at start, or
    /// suspended for any reason but funds).
    Full,
    /// A full check and the balance (a topic suspended for funds).
    Funds,
}

/// The chain's settings of a topic that the worker uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TopicInfo {
    /// The label rules (with the module's byte limit); `None` on an
    /// emissions version without labeled values (v9: one value each).
    pub(super) rules: Option<LabelRules>,
    /// `worker_submission_window`, in blocks.
    pub(super) window_len: i64,
    /// `epoch_length`, in blocks.
    pub(super) epoch_len: i64,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Nothing refuses the worker.
    Serve,
    /// The chain would refuse the topic's payloads, for this reason.
    Suspend(SuspendReason, String),
    /// A query failed: nothing was decided.
    Unknown(String),
}

/// One topic's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TopicCheck {
    /// The topic's settings, when `GetTopic` answered.
    pub(super) info: Option<TopicInfo>,
    /// The verdict.
    pub(super) verdict: Verdict,
}

/// Checks `topics` (each with what to ask), at most [`CHECK_CONCURRENCY`]
/// at once, after reading the module parameters (`None` when that failed:
/// the label rules then use the chain's defaults).
pub(super) async fn check_topics(
    pipeline: &TxPipeline,
    topics: Vec<(u64, CheckKind)>,
    auto_register: bool,
) -> (Option<v9::Params>, Vec<(u64, TopicCheck)>) {
    let client = pipeline.client();
    let params = match client.params().await {
        Ok(params) => Some(params),
        Err(error) => {
            tracing::warn!(%error, "could not read the emissions parameters; label checks use the chain's defaults");
            None
        }
    };
    let checks = futures_util::stream::iter(topics)
        .map(|(topic_id, kind)| {
            let params = params.as_ref();
            async move {
                let check = check_topic(pipeline, topic_id, kind, params, auto_register).await;
                (topic_id, check)
            }
        })
        .buffer_unordered(CHECK_CONCURRENCY)
        .collect()
        .await;
    (params, checks)
}

async fn check_topic(
    pipeline: &TxPipeline,
    topic_id: u64,
    kind: CheckKind,
    params: Option<&v9::Params>,
    auto_register: bool,
) -> TopicCheck {
    let client = pipeline.client();
    let address = pipeline.signer().address();
    let unknown = |what: &str, error: ClientError| TopicCheck {
        info: None,
        verdict: Verdict::Unknown(format!("{what}: {error}")),
    };
    let topic = match client.topic(topic_id).await {
        Ok(topic) => topic,
        Err(ClientError::NotFound(_)) => {
            return TopicCheck {
                info: None,
                verdict: Verdict::Suspend(
                    SuspendReason::TopicMissing,
                    format!("topic {topic_id} does not exist (its payloads would fail with emissions 6); check the topic id"),
                ),
            }
        }
        Err(error) => return unknown("GetTopic", error),
    };
    let default_params = v9::Params::default();
    let labeled = client
        .emissions()
        .await
        .map_or(true, |protocol| protocol.messages().labeled_values());
    let info = TopicInfo {
        rules: labeled.then(|| LabelRules::from_topic(&topic, params.unwrap_or(&default_params))),
        window_len: topic.worker_submission_window,
        epoch_len: topic.epoch_length,
    };
    let with = |verdict| TopicCheck {
        info: Some(info.clone()),
        verdict,
    };
    if kind == CheckKind::Refresh {
        return with(Verdict::Serve);
    }
    match client.can_submit_worker_payload(topic_id, address).await {
        Ok(true) => {}
        Ok(false) => {
            return with(Verdict::Suspend(
                SuspendReason::NotPermitted,
                format!("the worker whitelists do not admit {address} in topic {topic_id} (CanSubmitWorkerPayload is false; its payloads would fail with emissions 83); ask the topic's whitelist admin to add it"),
            ))
        }
        Err(error) => return TopicCheck { info: Some(info), ..unknown("CanSubmitWorkerPayload", error) },
    }
    match client.is_worker_registered(topic_id, address).await {
        Ok(true) => {}
        Ok(false) if auto_register => {
            // Registration checks the balance against the transaction fee and
            // the registration fee first and sends nothing while it falls
            // short, so an unfunded account costs no fee at each check.
            match crate::registration::register(
                pipeline,
                topic_id,
                crate::registration::REGISTRATION_TIMEOUT,
            )
            .await
            {
                Ok(_) => {}
                Err(crate::registration::RegistrationError::InsufficientFunds(funds)) => {
                    return with(Verdict::Suspend(SuspendReason::RegistrationFailed, funds.to_string()))
                }
                Err(error) => {
                    return with(Verdict::Suspend(
                        SuspendReason::RegistrationFailed,
                        format!("registering {address} in topic {topic_id} failed: {error}"),
                    ))
                }
            }
        }
        Ok(false) => {
            return with(Verdict::Suspend(
                SuspendReason::NotRegistered,
                format!("{address} is not registered as a worker in topic {topic_id} (its payloads would fail with emissions 13); register it (`allora-worker register`, or auto_register = true)"),
            ))
        }
        Err(error) => return TopicCheck { info: Some(info), ..unknown("IsWorkerRegisteredInTopicId", error) },
    }
    if kind == CheckKind::Funds {
        let data_fee: u128 = params
            .and_then(|p| p.data_sending_fee.parse().ok())
            .unwrap_or(0);
        let needed = pipeline
            .fee_estimate(pipeline.remedy_policy().gas.fallback(1))
            .await
            .amount
            .saturating_add(data_fee);
        match client.balance(address, crate::tx::DENOM).await {
            Ok(balance) if balance < needed => {
                return with(Verdict::Suspend(
                    SuspendReason::InsufficientFunds,
                    format!("{address} holds {balance} uallo, below the {needed} uallo one payload costs (transaction fee plus the data fee); fund it"),
                ))
            }
            Ok(_) => {}
            Err(error) => return TopicCheck { info: Some(info), ..unknown("Balance", error) },
        }
    }
    with(Verdict::Serve)
}
