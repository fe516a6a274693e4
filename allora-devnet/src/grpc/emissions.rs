//! The emissions query service: topics, registrations, nonces, windows,
//! scheduler epochs and the latest network inferences. Implemented once,
//! in `emissions.v10`'s shapes, and served under the devnet's protocol
//! (see `grpc::gate`): on v9 the topic leaves out v10's label settings.

use std::collections::BTreeMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::server::emissions::query_service_server::QueryService;
use allora_sdk::decimal::Dec;
use allora_sdk::proto::emissions::{v10, v3, v9};

use super::super::chain::Chain;
use super::super::config::{OutputArity, TopicType};
use super::super::protocol::DevnetProtocol;
use super::super::state::{Ledger, NetworkInferences, SchedulerEpoch, Topic, NONCE_V2_VERSION_1};
use super::super::Shared;
use super::parse_address;

/// The loss method every devnet topic reports.
const LOSS_METHOD: &str = "mse";
/// `Params.max_string_length` (the chain's default).
const MAX_STRING_LENGTH: u64 = 255;
/// `Params.max_whitelist_input_array_length` (the chain's default).
const MAX_WHITELIST_INPUT_ARRAY_LENGTH: u64 = 10;

/// Serves the emissions module's queries from the devnet ledger.
#[derive(Debug)]
pub(crate) struct EmissionsService {
    shared: Arc<Shared>,
}

impl EmissionsService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        EmissionsService { shared }
    }
}

fn topic_not_found(topic_id: u64) -> Status {
    Status::not_found(format!("topic {topic_id} not found"))
}

fn find_topic(ledger: &Ledger, topic_id: u64) -> Result<&Topic, Status> {
    ledger
        .topics
        .get(&topic_id)
        .ok_or_else(|| topic_not_found(topic_id))
}

/// A devnet time as a protobuf timestamp.
fn timestamp(time: cosmrs::tendermint::Time) -> cosmrs::proto::Timestamp {
    time.into()
}

/// A scheduler epoch as the chain answers it (allora-chain
/// `x/emissions/proto/emissions/v10/epoch.proto`).
fn epoch_proto(topic: &Topic, epoch: &SchedulerEpoch, now: cosmrs::tendermint::Time) -> v10::Epoch {
    let state = if epoch.worker_open {
        v10::EpochState::WorkerSubmission
    } else if now.before(epoch.reputer_open_at) {
        v10::EpochState::WaitingGroundTruth
    } else {
        v10::EpochState::ReputerSubmission
    };
    v10::Epoch {
        nonce: epoch.nonce(),
        topic_id: topic.config.id,
        state: state as i32,
        worker_submission_window: Some(v10::Window {
            open_at: Some(timestamp(epoch.open_at)),
            close_at: Some(timestamp(epoch.close_at)),
        }),
        reputer_submission_window: Some(v10::Window {
            open_at: Some(timestamp(epoch.reputer_open_at)),
            close_at: Some(timestamp(epoch.reputer_close_at)),
        }),
        epsilon: "0.01".to_owned(),
        start_block_height: epoch.start_height,
    }
}

/// A topic as the chain answers it under `protocol`: on v9 without type,
/// arity or label settings (fields 23 on).
fn topic_proto(topic: &Topic, protocol: DevnetProtocol) -> v10::Topic {
    let config = &topic.config;
    let v9_fields = v10::Topic {
        id: config.id,
        metadata: config.metadata.clone(),
        loss_method: LOSS_METHOD.to_owned(),
        epoch_last_ended: topic.epoch_last_ended,
        epoch_length: config.epoch_length,
        ground_truth_lag: config.epoch_length,
        worker_submission_window: config.worker_submission_window,
        ..Default::default()
    };
    if !protocol.labeled() {
        return v9_fields;
    }
    v10::Topic {
        topic_type: match config.topic_type {
            TopicType::Regression => v10::TopicType::Regression,
            TopicType::Classification => v10::TopicType::Classification,
        } as i32,
        output_arity: match config.output_arity {
            OutputArity::Single => v10::TopicOutputArity::Single,
            OutputArity::Multi => v10::TopicOutputArity::Multi,
        } as i32,
        require_unity: config.require_unity.is_some(),
        unity_tolerance: config
            .require_unity
            .as_ref()
            .map_or("0", |t| t.as_str())
            .to_owned(),
        max_labels_per_submission: config.max_labels_per_submission,
        label_whitelist: config.label_whitelist.clone(),
        label_default_value: config
            .label_default_value
            .as_ref()
            .map_or("0", |d| d.as_str())
            .to_owned(),
        label_case_sensitive: config.label_case_sensitive,
        ..v9_fields
    }
}

/// The network inference bundle of a closed nonce: each inferer's values,
/// and per label the plain mean of the inferers' values as the combined and
/// naive values (the devnet has no scores to weight them by).
fn network_bundle(topic_id: u64, latest: &NetworkInferences) -> v10::NetworkInferenceBundle {
    let mut labels: Vec<String> = Vec::new();
    let mut sums: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    let mut inferer_values = Vec::new();
    for (worker, values) in &latest.inputs.inferences {
        let mut out = Vec::with_capacity(values.len());
        for (label, value) in values {
            let position = labels.iter().position(|l| l == label).unwrap_or_else(|| {
                labels.push(label.clone());
                labels.len() - 1
            });
            if let Ok(v) = value.parse::<f64>() {
                let entry = sums.entry(label.clone()).or_insert((0.0, 0));
                entry.0 += v;
                entry.1 += 1;
            }
            out.push(v10::LabeledValue {
                label_id: u32::try_from(position).unwrap_or(u32::MAX),
                label_name: label.clone(),
                value: value.clone(),
            });
        }
        inferer_values.push(v10::WorkerInference {
            worker: worker.clone(),
            values: out,
        });
    }
    let combined: Vec<v10::LabeledValue> = labels
        .iter()
        .enumerate()
        .filter_map(|(id, label)| {
            let (sum, count) = sums.get(label)?;
            let mean = Dec::try_from(*sum / f64::from(*count)).ok()?;
            Some(v10::LabeledValue {
                label_id: u32::try_from(id).unwrap_or(u32::MAX),
                label_name: label.clone(),
                value: mean.into_string(),
            })
        })
        .collect();
    v10::NetworkInferenceBundle {
        topic_id,
        block_height: latest.nonce,
        naive_value: combined.clone(),
        combined_value: combined,
        inferer_values,
        forecaster_values: Vec::new(),
    }
}

/// Implements the query service: each method answers, from the chain
/// under its lock, by the function of the same name below.
macro_rules! serve_queries {
    ($($method:ident($request:ident) -> $response:ident;)*) => {
        #[tonic::async_trait]
        impl QueryService for EmissionsService {
            $(
                async fn $method(
                    &self,
                    request: Request<v10::$request>,
                ) -> Result<Response<v10::$response>, Status> {
                    $method(&self.shared.chain(), request.into_inner()).map(Response::new)
                }
            )*
        }
    };
}

serve_queries! {
    get_params(GetParamsRequest) -> GetParamsResponse;
    get_next_topic_id(GetNextTopicIdRequest) -> GetNextTopicIdResponse;
    get_topic(GetTopicRequest) -> GetTopicResponse;
    topic_exists(TopicExistsRequest) -> TopicExistsResponse;
    is_topic_active(IsTopicActiveRequest) -> IsTopicActiveResponse;
    is_worker_registered_in_topic_id(IsWorkerRegisteredInTopicIdRequest)
        -> IsWorkerRegisteredInTopicIdResponse;
    can_submit_worker_payload(CanSubmitWorkerPayloadRequest) -> CanSubmitWorkerPayloadResponse;
    get_unfulfilled_worker_nonces(GetUnfulfilledWorkerNoncesRequest)
        -> GetUnfulfilledWorkerNoncesResponse;
    is_worker_nonce_unfulfilled(IsWorkerNonceUnfulfilledRequest)
        -> IsWorkerNonceUnfulfilledResponse;
    get_latest_network_inferences(GetLatestNetworkInferencesRequest)
        -> GetLatestNetworkInferencesResponse;
    get_worker_submission_window_status(GetWorkerSubmissionWindowStatusRequest)
        -> GetWorkerSubmissionWindowStatusResponse;
    get_epoch(GetEpochRequest) -> GetEpochResponse;
    get_topic_epochs(GetTopicEpochsRequest) -> GetTopicEpochsResponse;
}

fn get_params(chain: &Chain, _: v10::GetParamsRequest) -> Result<v10::GetParamsResponse, Status> {
    let ledger = &chain.ledger;
    let max = ledger.max_unfulfilled_worker_requests;
    let p = &ledger.params;
    Ok(v10::GetParamsResponse {
        params: Some(v9::Params {
            version: format!("{}-devnet", chain.protocol.version),
            max_serialized_msg_length: p.max_serialized_msg_length,
            min_epoch_length: 1,
            max_unfulfilled_worker_requests: max,
            max_unfulfilled_reputer_requests: max,
            max_top_inferers_to_reward: p.max_top_inferers_to_reward,
            max_top_forecasters_to_reward: p.max_top_forecasters_to_reward,
            registration_fee: ledger.registration_fee.to_string(),
            data_sending_fee: p.data_sending_fee.to_string(),
            max_elements_per_forecast: p.max_elements_per_forecast,
            max_string_length: MAX_STRING_LENGTH,
            global_whitelist_enabled: p.global_whitelist_enabled,
            topic_creator_whitelist_enabled: true,
            global_worker_whitelist_enabled: p.global_worker_whitelist_enabled,
            global_reputer_whitelist_enabled: true,
            global_admin_whitelist_appended: true,
            max_whitelist_input_array_length: MAX_WHITELIST_INPUT_ARRAY_LENGTH,
            max_canonical_label_byte_length: p.max_canonical_label_byte_length,
            // Not modelled (the chain's defaults are not known): 0.
            max_topic_label_whitelist_size: 0,
            max_epoch_label_registry_size: 0,
        }),
    })
}

fn get_next_topic_id(
    chain: &Chain,
    _: v10::GetNextTopicIdRequest,
) -> Result<v10::GetNextTopicIdResponse, Status> {
    Ok(v10::GetNextTopicIdResponse {
        next_topic_id: chain.ledger.next_topic_id(),
    })
}

fn get_topic(chain: &Chain, req: v10::GetTopicRequest) -> Result<v10::GetTopicResponse, Status> {
    let topic = find_topic(&chain.ledger, req.topic_id)?;
    Ok(v10::GetTopicResponse {
        topic: Some(topic_proto(topic, chain.protocol)),
        weight: "0".to_owned(),
        effective_revenue: "0".to_owned(),
        topic_stake: "0".to_owned(),
    })
}

fn topic_exists(
    chain: &Chain,
    req: v10::TopicExistsRequest,
) -> Result<v10::TopicExistsResponse, Status> {
    Ok(v10::TopicExistsResponse {
        exists: chain.ledger.topics.contains_key(&req.topic_id),
    })
}

fn is_topic_active(
    chain: &Chain,
    req: v10::IsTopicActiveRequest,
) -> Result<v10::IsTopicActiveResponse, Status> {
    let topic = chain.ledger.topics.get(&req.topic_id);
    Ok(v10::IsTopicActiveResponse {
        is_active: topic.is_some_and(|t| t.config.active),
    })
}

fn is_worker_registered_in_topic_id(
    chain: &Chain,
    req: v10::IsWorkerRegisteredInTopicIdRequest,
) -> Result<v10::IsWorkerRegisteredInTopicIdResponse, Status> {
    let address = parse_address(&req.address)?;
    Ok(v10::IsWorkerRegisteredInTopicIdResponse {
        is_registered: chain.ledger.is_worker(req.topic_id, address.as_str()),
    })
}

fn can_submit_worker_payload(
    chain: &Chain,
    req: v10::CanSubmitWorkerPayloadRequest,
) -> Result<v10::CanSubmitWorkerPayloadResponse, Status> {
    let address = parse_address(&req.address)?;
    // The chain's rule, for any topic id (an unknown topic has no
    // whitelist enabled).
    Ok(v10::CanSubmitWorkerPayloadResponse {
        can_submit_worker_payload: chain
            .ledger
            .can_submit_worker_payload(req.topic_id, address.as_str()),
    })
}

fn get_unfulfilled_worker_nonces(
    chain: &Chain,
    req: v10::GetUnfulfilledWorkerNoncesRequest,
) -> Result<v10::GetUnfulfilledWorkerNoncesResponse, Status> {
    let open = chain.ledger.open_nonces.get(&req.topic_id);
    // Newest first, as the chain prepends new nonces.
    let nonces = open.into_iter().flatten().rev();
    Ok(v10::GetUnfulfilledWorkerNoncesResponse {
        nonces: Some(v3::Nonces {
            nonces: nonces.map(|h| v3::Nonce { block_height: *h }).collect(),
        }),
    })
}

fn is_worker_nonce_unfulfilled(
    chain: &Chain,
    req: v10::IsWorkerNonceUnfulfilledRequest,
) -> Result<v10::IsWorkerNonceUnfulfilledResponse, Status> {
    Ok(v10::IsWorkerNonceUnfulfilledResponse {
        is_worker_nonce_unfulfilled: chain.ledger.is_open_nonce(req.topic_id, req.block_height),
    })
}

fn get_latest_network_inferences(
    chain: &Chain,
    req: v10::GetLatestNetworkInferencesRequest,
) -> Result<v10::GetLatestNetworkInferencesResponse, Status> {
    let topic_id = req.topic_id;
    find_topic(&chain.ledger, topic_id)?;
    let latest = chain
        .ledger
        .latest_inferences
        .get(&topic_id)
        .ok_or_else(|| {
            Status::not_found(format!(
                "no network inferences for topic {topic_id}: no nonce closed with inferences yet"
            ))
        })?;
    Ok(v10::GetLatestNetworkInferencesResponse {
        network_inferences: Some(network_bundle(topic_id, latest)),
        inference_block_height: latest.nonce,
    })
}

fn get_worker_submission_window_status(
    chain: &Chain,
    req: v10::GetWorkerSubmissionWindowStatusRequest,
) -> Result<v10::GetWorkerSubmissionWindowStatusResponse, Status> {
    let topic = find_topic(&chain.ledger, req.topic_id)?;
    let window = topic.config.worker_submission_window;
    let current = chain
        .ledger
        .open_nonces
        .get(&req.topic_id)
        .and_then(|open| open.last().copied());
    let start = current.unwrap_or(topic.epoch_last_ended);
    let (is_registered, is_whitelisted) = if req.address.is_empty() {
        (false, false)
    } else {
        let address = parse_address(&req.address)?;
        (
            chain.ledger.is_worker(req.topic_id, address.as_str()),
            chain
                .ledger
                .can_submit_worker_payload(req.topic_id, address.as_str()),
        )
    };
    Ok(v10::GetWorkerSubmissionWindowStatusResponse {
        is_open: current.is_some(),
        current_nonce_block_height: start,
        window_start_block: start,
        window_end_block: start.saturating_add(window),
        next_window_start_block: topic.next_epoch_end,
        next_window_end_block: topic.next_epoch_end.saturating_add(window),
        is_registered,
        is_whitelisted,
        is_topic_active: topic.config.active,
    })
}

fn get_epoch(chain: &Chain, req: v10::GetEpochRequest) -> Result<v10::GetEpochResponse, Status> {
    let not_found = || {
        Status::not_found(format!(
            "epoch not found for topic {} nonce {}",
            req.topic_id, req.nonce
        ))
    };
    let topic = chain
        .ledger
        .topics
        .get(&req.topic_id)
        .ok_or_else(not_found)?;
    let epoch = topic
        .epochs
        .iter()
        .find(|e| e.nonce() == req.nonce && req.nonce & NONCE_V2_VERSION_1 != 0)
        .ok_or_else(not_found)?;
    Ok(v10::GetEpochResponse {
        epoch: Some(epoch_proto(topic, epoch, chain.block_time)),
    })
}

fn get_topic_epochs(
    chain: &Chain,
    req: v10::GetTopicEpochsRequest,
) -> Result<v10::GetTopicEpochsResponse, Status> {
    // A topic with no epoch in flight (or none at all) has an empty list.
    let topic = chain.ledger.topics.get(&req.topic_id);
    let epochs = topic.into_iter().flat_map(|topic| {
        let proto = |epoch| epoch_proto(topic, epoch, chain.block_time);
        topic.epochs.iter().map(proto)
    });
    Ok(v10::GetTopicEpochsResponse {
        epochs: epochs.collect(),
    })
}
