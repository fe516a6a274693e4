//! The emissions module: the two worker messages and the EndBlock that opens
//! and closes worker nonces.

use std::str::FromStr;

use allora_sdk::decimal::Dec;
use allora_sdk::keys::{Address, PublicKey};
use allora_sdk::proto::emissions::v10;
use allora_sdk::tx::DENOM;

use super::abci::{self, AbciError};
use super::events::{self, json_int, json_str, Event};
use super::state::{LabeledValues, Ledger, NetworkInferences, NonceInputs, Submission};

/// Effects of one successful message.
#[derive(Debug, Default)]
pub(crate) struct MsgOutcome {
    pub(crate) events: Vec<Event>,
    pub(crate) submissions: Vec<Submission>,
}

/// Registers a worker (or reputer) in a topic, debiting the registration fee.
pub(crate) fn register(
    ledger: &mut Ledger,
    msg: &v10::RegisterRequest,
) -> Result<MsgOutcome, AbciError> {
    if msg.owner.is_empty() {
        return Err(abci::OWNER_CANNOT_BE_EMPTY.bare());
    }
    if Address::from_str(&msg.owner).is_err() {
        return Err(abci::INVALID_ADDRESS.wrap(format!("invalid owner address {:?}", msg.owner)));
    }
    if !ledger.topics.contains_key(&msg.topic_id) {
        return Err(abci::TOPIC_DOES_NOT_EXIST.wrap(format!("topic {}", msg.topic_id)));
    }
    let key = (msg.topic_id, msg.sender.clone());
    let already = if msg.is_reputer {
        ledger.reputers.contains(&key)
    } else {
        ledger.workers.contains(&key)
    };
    if already {
        return Err(abci::ADDRESS_ALREADY_REGISTERED.wrap(format!(
            "{} already registered in topic {}",
            msg.sender, msg.topic_id
        )));
    }
    let fee = ledger.registration_fee;
    let account = ledger
        .accounts
        .get_mut(&msg.sender)
        .filter(|a| a.balance >= fee)
        .ok_or_else(|| {
            abci::REGISTRANT_NOT_ENOUGH_DENOM.wrap(format!(
                "registration fee is {fee}{DENOM}: sender does not have enough funds"
            ))
        })?;
    account.balance -= fee;
    let kind = if msg.is_reputer {
        ledger.reputers.insert(key);
        events::REPUTER_REGISTERED
    } else {
        ledger.workers.insert(key);
        events::WORKER_REGISTERED
    };
    Ok(MsgOutcome {
        events: vec![Event::typed(
            kind,
            vec![
                ("topic_id", json_int(msg.topic_id)),
                ("sender", json_str(&msg.sender)),
                ("owner", json_str(&msg.owner)),
            ],
        )],
        submissions: Vec::new(),
    })
}

/// Where a payload is being delivered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockContext<'a> {
    pub(crate) height: i64,
    pub(crate) tx_hash: &'a str,
}

/// Accepts a worker payload, in the order the chain's msg server checks it.
pub(crate) fn insert_worker_payload(
    ledger: &mut Ledger,
    msg: &v10::InsertWorkerPayloadRequest,
    block: BlockContext<'_>,
) -> Result<MsgOutcome, AbciError> {
    let bundle = msg
        .worker_data_bundle
        .as_ref()
        .ok_or_else(|| abci::INVALID_REQUEST.wrap("worker data bundle cannot be nil"))?;
    if Address::from_str(&bundle.worker).is_err() {
        return Err(
            abci::INVALID_ADDRESS.wrap(format!("invalid worker address {:?}", bundle.worker))
        );
    }
    validate_bundle(bundle).map_err(|e| e.context("Error validating worker data bundle"))?;
    // The transaction signer must be the worker itself: bundles cannot be
    // relayed by another account.
    if msg.sender != bundle.worker {
        return Err(abci::UNAUTHORIZED.wrap(format!(
            "sender {} does not match worker {}",
            msg.sender, bundle.worker
        )));
    }
    let topic_id = bundle.topic_id;
    let nonce = bundle.nonce.as_ref().map_or(0, |n| n.block_height);
    let topic = ledger
        .topics
        .get(&topic_id)
        .ok_or_else(|| abci::INVALID_TOPIC_ID.wrap(format!("topic {topic_id} does not exist")))?;
    if !topic.config.active {
        return Err(abci::INVALID_TOPIC_ID.wrap(format!("topic {topic_id} is not active")));
    }
    let window_end = nonce.saturating_add(topic.config.worker_submission_window);
    if !ledger.is_open_nonce(topic_id, nonce) {
        return Err(abci::UNFULFILLED_NONCE_NOT_FOUND.wrap(format!(
            "nonce {nonce} of topic {topic_id} is not an unfulfilled worker nonce"
        )));
    }
    if block.height < nonce || block.height > window_end {
        return Err(abci::WORKER_NONCE_WINDOW_NOT_AVAILABLE.wrap(format!(
            "Worker window not open for topic: {topic_id}, current block {}, start window: \
             {nonce}, end window: {window_end}",
            block.height
        )));
    }
    if !ledger.is_worker(topic_id, &bundle.worker) {
        return Err(abci::ADDRESS_NOT_REGISTERED.wrap("worker is not registered in this topic"));
    }

    let (inference, forecast) = canonical_values(bundle);
    let inputs = ledger.inputs.entry((topic_id, nonce)).or_default();
    if let Some(values) = &inference {
        if inputs.inferences.contains_key(&bundle.worker) {
            // A plain Go error on the chain: no registered code.
            return Err(AbciError::unregistered(
                "Error appending inference: inference already submitted",
            ));
        }
        inputs
            .inferences
            .insert(bundle.worker.clone(), values.clone());
    }
    if let Some(elements) = &forecast {
        if inputs.forecasts.contains_key(&bundle.worker) {
            return Err(AbciError::unregistered(
                "Error appending forecast: forecast already submitted",
            ));
        }
        inputs
            .forecasts
            .insert(bundle.worker.clone(), elements.clone());
    }
    Ok(MsgOutcome {
        events: Vec::new(),
        submissions: vec![Submission {
            topic_id,
            nonce,
            worker: bundle.worker.clone(),
            inference,
            forecast,
            tx_hash: block.tx_hash.to_owned(),
            height: block.height,
        }],
    })
}

/// The inference values and forecast elements in canonical decimal text;
/// forecast elements naming the same inferer twice keep the first, as the
/// chain does.
fn canonical_values(
    bundle: &v10::InputWorkerDataBundle,
) -> (Option<LabeledValues>, Option<LabeledValues>) {
    let Some(inner) = bundle.inference_forecasts_bundle.as_ref() else {
        return (None, None);
    };
    let inference = inner.inference.as_ref().map(|inf| {
        if inf.values.is_empty() {
            vec![(String::new(), canonical(&inf.value))]
        } else {
            inf.values
                .iter()
                .map(|v| (v.label.clone(), canonical(&v.value)))
                .collect()
        }
    });
    let forecast = inner.forecast.as_ref().map(|f| {
        let mut out: LabeledValues = Vec::new();
        for element in &f.forecast_elements {
            if !out.iter().any(|(inferer, _)| *inferer == element.inferer) {
                out.push((element.inferer.clone(), canonical(&element.value)));
            }
        }
        out
    });
    (inference, forecast)
}

/// The text the chain re-marshals a decimal field as: decoding already
/// refused invalid values, and an absent field is the zero value.
fn canonical(text: &str) -> String {
    if text.is_empty() {
        return "0".to_owned();
    }
    text.parse::<Dec>()
        .map(Dec::into_string)
        .unwrap_or_else(|_| text.to_owned())
}

/// The bundle as the chain re-encodes it for the signature check: every
/// decimal field in canonical text and always present.
fn canonical_bundle(
    bundle: &v10::InputInferenceForecastBundle,
) -> v10::InputInferenceForecastBundle {
    let mut out = bundle.clone();
    if let Some(inference) = out.inference.as_mut() {
        inference.value = canonical(&inference.value);
        for v in &mut inference.values {
            v.value = canonical(&v.value);
        }
    }
    if let Some(forecast) = out.forecast.as_mut() {
        for e in &mut forecast.forecast_elements {
            e.value = canonical(&e.value);
        }
    }
    out
}

/// The stateless checks of `InputWorkerDataBundle.Validate`, in the chain's order.
fn validate_bundle(bundle: &v10::InputWorkerDataBundle) -> Result<(), AbciError> {
    let nonce = bundle
        .nonce
        .as_ref()
        .ok_or_else(|| abci::INVALID_REQUEST.wrap("nonce cannot be nil"))?;
    if nonce.block_height <= 0 {
        return Err(abci::INVALID_TYPE.wrap("nonce block height must be greater than 0"));
    }
    if bundle.worker.is_empty() {
        return Err(abci::INVALID_REQUEST.wrap("worker cannot be empty"));
    }
    let pubkey_bytes = hex::decode(&bundle.pubkey)
        .ok()
        .filter(|b| b.len() == 33)
        .ok_or_else(|| abci::INVALID_REQUEST.wrap("invalid pubkey"))?;
    let pubkey = PublicKey::from_sec1_bytes(&pubkey_bytes)
        .map_err(|_| abci::INVALID_REQUEST.wrap("invalid pubkey"))?;
    let pubkey_address = pubkey
        .address()
        .map_err(|_| abci::INVALID_REQUEST.wrap("invalid pubkey"))?;
    if bundle.inferences_forecasts_bundle_signature.is_empty() {
        return Err(abci::INVALID_REQUEST.wrap("signature cannot be empty"));
    }
    let inner = bundle
        .inference_forecasts_bundle
        .as_ref()
        .ok_or_else(|| abci::INVALID_REQUEST.wrap("inference forecasts bundle cannot be nil"))?;
    if inner.inference.is_none() && inner.forecast.is_none() {
        return Err(abci::INVALID_REQUEST.wrap("inference and forecast cannot both be nil"));
    }
    if let Some(inference) = &inner.inference {
        validate_actor(
            "Inference.Inferer",
            inference.topic_id,
            &inference.inferer,
            inference.block_height,
            bundle,
            pubkey_address.as_str(),
        )?;
    }
    if let Some(forecast) = &inner.forecast {
        if forecast.forecast_elements.is_empty() {
            return Err(
                abci::INVALID_REQUEST.wrap("at least one forecast element must be provided")
            );
        }
        for element in &forecast.forecast_elements {
            if Address::from_str(&element.inferer).is_err() {
                return Err(abci::INVALID_ADDRESS.wrap(format!(
                    "invalid forecast element inferer {:?}",
                    element.inferer
                )));
            }
        }
        validate_actor(
            "Forecast.Forecaster",
            forecast.topic_id,
            &forecast.forecaster,
            forecast.block_height,
            bundle,
            pubkey_address.as_str(),
        )?;
    }
    let signed = prost::Message::encode_to_vec(&canonical_bundle(inner));
    if pubkey
        .verify(&signed, &bundle.inferences_forecasts_bundle_signature)
        .is_err()
    {
        return Err(abci::UNAUTHORIZED.wrap("signature verification failed"));
    }
    if pubkey_address.as_str() != bundle.worker {
        return Err(abci::UNAUTHORIZED.wrap("worker address does not match signature"));
    }
    Ok(())
}

/// Checks shared by the inference and the forecast of a bundle.
fn validate_actor(
    what: &str,
    topic_id: u64,
    actor: &str,
    block_height: i64,
    bundle: &v10::InputWorkerDataBundle,
    pubkey_address: &str,
) -> Result<(), AbciError> {
    if topic_id == 0 {
        return Err(abci::INVALID_REQUEST.wrap("topic id zero is reserved"));
    }
    if Address::from_str(actor).is_err() {
        return Err(abci::INVALID_ADDRESS.wrap(format!("{what} {actor:?} is not an address")));
    }
    if block_height < 0 {
        return Err(abci::INVALID_REQUEST.wrap("block height cannot be negative"));
    }
    if actor != pubkey_address {
        return Err(abci::UNAUTHORIZED.wrap(format!(
            "{what} {actor} does not match pubkey {pubkey_address}"
        )));
    }
    if bundle.worker != actor {
        return Err(abci::UNAUTHORIZED.wrap(format!(
            "{what} {actor} does not match worker {}",
            bundle.worker
        )));
    }
    if bundle.topic_id != topic_id {
        return Err(abci::INVALID_REQUEST.wrap(format!(
            "{what} topic id {topic_id} does not match bundle topic id {}",
            bundle.topic_id
        )));
    }
    let nonce = bundle.nonce.as_ref().map_or(0, |n| n.block_height);
    if nonce != block_height {
        return Err(abci::INVALID_REQUEST.wrap(format!(
            "block height {block_height} does not match bundle block height {nonce}"
        )));
    }
    Ok(())
}

/// EndBlock at `height`: opens a nonce for every active topic whose epoch
/// ends now, then closes the nonces whose window ends now, emitting the
/// chain's window events.
pub(crate) fn end_block(ledger: &mut Ledger, height: i64) -> Vec<Event> {
    let mut out = Vec::new();
    let max_open = usize::try_from(ledger.max_unfulfilled_worker_requests).unwrap_or(usize::MAX);
    let topic_ids: Vec<u64> = ledger.topics.keys().copied().collect();
    for topic_id in &topic_ids {
        let Some(topic) = ledger.topics.get_mut(topic_id) else {
            continue;
        };
        if topic.next_epoch_end > height {
            continue;
        }
        topic.next_epoch_end = height.saturating_add(topic.config.epoch_length);
        if !topic.config.active {
            continue;
        }
        topic.epoch_last_ended = height;
        let window_end = height.saturating_add(topic.config.worker_submission_window);
        let open = ledger.open_nonces.entry(*topic_id).or_default();
        open.insert(height);
        while open.len() > max_open {
            if let Some(oldest) = open.pop_first() {
                ledger.inputs.remove(&(*topic_id, oldest));
            }
        }
        out.push(
            Event::typed(
                events::WINDOW_OPENED,
                vec![
                    ("topic_id", json_int(topic_id)),
                    ("nonce_block_height", json_int(height)),
                    ("window_end_block", json_int(window_end)),
                ],
            )
            .in_end_block(),
        );
    }
    for topic_id in &topic_ids {
        let Some(window) = ledger
            .topics
            .get(topic_id)
            .map(|t| t.config.worker_submission_window)
        else {
            continue;
        };
        let due: Vec<i64> = ledger
            .open_nonces
            .get(topic_id)
            .map(|open| {
                open.iter()
                    .copied()
                    .filter(|n| *n < height && n.saturating_add(window) <= height)
                    .collect()
            })
            .unwrap_or_default();
        for nonce in due {
            if let Some(open) = ledger.open_nonces.get_mut(topic_id) {
                open.remove(&nonce);
            }
            let inputs: NonceInputs = ledger
                .inputs
                .remove(&(*topic_id, nonce))
                .unwrap_or_default();
            // The chain stores network inferences only when someone inferred.
            if !inputs.inferences.is_empty() {
                ledger
                    .latest_inferences
                    .insert(*topic_id, NetworkInferences { nonce, inputs });
            }
            out.push(
                Event::typed(
                    events::WINDOW_CLOSED,
                    vec![
                        ("topic_id", json_int(topic_id)),
                        ("nonce_block_height", json_int(nonce)),
                    ],
                )
                .in_end_block(),
            );
        }
    }
    out
}
