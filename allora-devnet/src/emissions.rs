//! The emissions module: the two worker messages and the EndBlock that opens
//! and closes worker nonces, with windows counted in blocks or, on
//! wall-clock protocols, scheduler epochs opened and closed at block times.
//! Messages arrive in the richest shape (`emissions.v10`'s) whatever the
//! protocol's version; events are named in the protocol's package.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use allora_sdk::decimal::Dec;
use allora_sdk::emissions::{MessageSet, WindowMode};
use allora_sdk::keys::{Address, PublicKey, ADDRESS_PREFIX};
use allora_sdk::proto::emissions::v10;
use allora_sdk::tx::DENOM;
use cosmrs::tendermint::Time;
use sha2::Digest as _;

use super::abci::{self, AbciError};
use super::config::{OutputArity, TopicConfig};
use super::events::{self, json_int, json_str, Event};
use super::labels::{self, LabelLimits};
use super::protocol::DevnetProtocol;
use super::state::{
    LabeledValues, Ledger, NetworkInferences, NonceInputs, SchedulerEpoch, Submission, Topic,
};

/// `time` plus `seconds` (a topic's timing on wall-clock protocols).
pub(crate) fn after_seconds(time: Time, seconds: i64) -> Time {
    let seconds = u64::try_from(seconds).unwrap_or(0);
    time.checked_add(Duration::from_secs(seconds))
        .unwrap_or(time)
}

/// The last name of a v10 event type constant (`EventWorkerRegistered`).
fn event_name(constant: &str) -> &str {
    constant.rsplit('.').next().unwrap_or(constant)
}

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
    protocol: DevnetProtocol,
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
            &protocol.event_type(event_name(kind)),
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
    /// The block's time (wall-clock windows are checked against it).
    pub(crate) time: Time,
    pub(crate) tx_hash: &'a str,
    pub(crate) protocol: DevnetProtocol,
}

/// The text of a Go nil-pointer panic, which the SDK's baseapp recovers.
const NIL_DEREFERENCE: &str = "runtime error: invalid memory address or nil pointer dereference";

/// `msgServer.InsertWorkerPayload` (allora-chain
/// `x/emissions/keeper/msgserver/msg_server_worker_payload.go`): every
/// check in the chain's order. The caller runs it on a copy of the ledger
/// and keeps the copy only on success, so a failure after the data fee
/// was taken rolls the fee back, as the chain's cached message state does.
pub(crate) fn insert_worker_payload(
    ledger: &mut Ledger,
    msg: &v10::InsertWorkerPayloadRequest,
    block: BlockContext<'_>,
) -> Result<MsgOutcome, AbciError> {
    validate_bech32(&msg.sender).map_err(|e| e.context("Error validating sender address"))?;
    // The chain reads the bundle's worker before any nil check.
    let bundle = msg
        .worker_data_bundle
        .as_ref()
        .ok_or_else(|| AbciError::panic(NIL_DEREFERENCE))?;
    validate_bech32(&bundle.worker).map_err(|e| e.context("Error validating worker address"))?;
    if !ledger.can_submit_worker_payload(bundle.topic_id, &bundle.worker) {
        return Err(abci::NOT_PERMITTED_TO_SUBMIT_WORKER_PAYLOAD
            .wrap("Worker is not permitted to submit payload"));
    }
    validate_bundle(bundle, block.protocol.wire())
        .map_err(|e| e.context("Error validating worker data bundle"))?;
    let size = prost::Message::encoded_len(msg);
    if i64::try_from(size).unwrap_or(i64::MAX) > ledger.params.max_serialized_msg_length {
        return Err(abci::QUERY_TOO_LARGE.bare());
    }
    let topic_id = bundle.topic_id;
    let nonce = bundle.nonce.as_ref().map_or(0, |n| n.block_height);
    let topic = ledger
        .topics
        .get(&topic_id)
        .map(|t| t.config.clone())
        .ok_or_else(|| abci::INVALID_TOPIC_ID.bare())?;
    if !ledger.is_open_nonce(topic_id, nonce) {
        return Err(abci::UNFULFILLED_NONCE_NOT_FOUND.bare());
    }
    check_window(ledger, &topic, nonce, &block)?;
    if !ledger.is_worker(topic_id, &bundle.worker) {
        return Err(abci::ADDRESS_NOT_REGISTERED.wrap("worker is not registered in this topic"));
    }
    charge_data_fee(ledger, &msg.sender, topic_id)?;

    let inner = bundle
        .inference_forecasts_bundle
        .as_ref()
        .ok_or_else(|| AbciError::panic(NIL_DEREFERENCE))?;
    let forecast = inner
        .forecast
        .as_ref()
        .map(|f| convert_forecast(bundle, f))
        .transpose()?;
    let mut outcome = MsgOutcome::default();
    let mut submission = Submission {
        topic_id,
        nonce,
        worker: bundle.worker.clone(),
        sender: msg.sender.clone(),
        inference: None,
        inference_admitted: false,
        forecast: None,
        forecast_admitted: false,
        tx_hash: block.tx_hash.to_owned(),
        height: block.height,
    };
    if let Some(inference) = &inner.inference {
        let processed = process_inference(ledger, &topic, nonce, inference)?;
        if processed.admitted {
            outcome.events.push(inferer_event(
                block.protocol,
                bundle,
                inference,
                &processed.labels,
            ));
        }
        submission.inference_admitted = processed.admitted;
        submission.inference = Some(processed.values);
    }
    if let Some(elements) = forecast {
        if let Some((admitted, kept)) =
            process_forecast(ledger, &topic, nonce, &bundle.worker, &elements)?
        {
            let extra = inner
                .forecast
                .as_ref()
                .map_or(&[][..], |f| &f.extra_data[..]);
            outcome
                .events
                .push(forecaster_event(block.protocol, bundle, extra, &kept));
            submission.forecast_admitted = admitted;
            submission.forecast = Some(kept);
        }
    }
    outcome.submissions.push(submission);
    Ok(outcome)
}

/// The worker window check of `InsertWorkerPayload`. With wall-clock
/// windows (allora-chain `x/emissions/keeper/epoch_submission.go`,
/// `CheckWorkerSubmissionWindow`): the live epoch started at `nonce` must
/// be in its worker-submission state with the block's time within its
/// window, inclusive; a nonce with no such epoch (opened before the
/// upgrade) falls back to the height check. In blocks: the block must be
/// within the nonce's window.
fn check_window(
    ledger: &Ledger,
    topic: &TopicConfig,
    nonce: i64,
    block: &BlockContext<'_>,
) -> Result<(), AbciError> {
    let topic_id = topic.id;
    if block.protocol.windows == WindowMode::WallClock {
        let epoch = ledger
            .topics
            .get(&topic_id)
            .and_then(|t| t.epochs.iter().find(|e| e.start_height == nonce));
        if let Some(epoch) = epoch {
            let open = epoch.worker_open
                && !block.time.before(epoch.open_at)
                && !block.time.after(epoch.close_at);
            if !open {
                return Err(abci::WORKER_NONCE_WINDOW_NOT_AVAILABLE.wrap(format!(
                    "worker wall-clock window not open for topic {topic_id} legacy nonce \
                     {nonce}: now={} open={} close={}",
                    block.time.to_rfc3339(),
                    epoch.open_at.to_rfc3339(),
                    epoch.close_at.to_rfc3339()
                )));
            }
            return Ok(());
        }
    }
    let window_end = ledger
        .nonce_close_at
        .get(&(topic_id, nonce))
        .filter(|_| block.protocol.windows == WindowMode::WallClock)
        .copied()
        .unwrap_or_else(|| nonce.saturating_add(topic.worker_submission_window));
    if block.height < nonce || block.height > window_end {
        return Err(abci::WORKER_NONCE_WINDOW_NOT_AVAILABLE.wrap(format!(
            "Worker window not open for topic: {topic_id}, current block {}, start window: \
             {nonce}, end window: {window_end}",
            block.height
        )));
    }
    Ok(())
}

/// `ValidateStringIsBech32`: an address the SDK's `AccAddressFromBech32`
/// accepts. Its errors are plain Go errors (codespace `undefined`, code 1).
fn validate_bech32(text: &str) -> Result<(), AbciError> {
    bech32_error(text).map_or(Ok(()), |reason| {
        Err(AbciError::unregistered(format!(
            "error validating actor id: {reason}"
        )))
    })
}

/// Why the SDK's `AccAddressFromBech32` refuses `text`, in its words.
fn bech32_error(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return Some("empty address string is not allowed".to_owned());
    }
    match text.parse::<cosmrs::AccountId>() {
        Ok(id) if id.prefix() == ADDRESS_PREFIX => None,
        Ok(id) => Some(format!(
            "invalid Bech32 prefix; expected {ADDRESS_PREFIX}, got {}",
            id.prefix()
        )),
        Err(e) => Some(format!("decoding bech32 failed: {e}")),
    }
}

/// `ValidateBech32`: an address, or the SDK's code 7.
fn validate_address(text: &str) -> Result<(), AbciError> {
    bech32_error(text).map_or(Ok(()), |reason| {
        Err(abci::INVALID_ADDRESS.wrap(format!("invalid bech32 address ({reason})")))
    })
}

/// The account address of a bundle's `pubkey` bytes as the chain derives
/// it (RIPEMD160 of SHA-256), whether or not they are a curve point.
fn pubkey_address(bytes: &[u8]) -> Option<String> {
    let hash = ripemd::Ripemd160::digest(sha2::Sha256::digest(bytes));
    cosmrs::AccountId::new(ADDRESS_PREFIX, &hash)
        .ok()
        .map(|id| id.to_string())
}

/// `InputWorkerDataBundle.Validate` (allora-chain
/// `x/emissions/types/validations.go`), in the chain's order; the signature
/// is checked over the bundle re-encoded on the protocol's `wire`.
fn validate_bundle(
    bundle: &v10::InputWorkerDataBundle,
    wire: &MessageSet,
) -> Result<(), AbciError> {
    let nonce = bundle
        .nonce
        .as_ref()
        .ok_or_else(|| abci::INVALID_REQUEST.wrap("worker data bundle nonce cannot be nil"))?;
    if nonce.block_height < 0 {
        return Err(abci::INVALID_TYPE.wrap(
            "worker data bundle nonce is invalid: nonce block height is invalid: block height \
             must be greater than or equal to 0",
        ));
    }
    if nonce.block_height == 0 {
        return Err(
            abci::INVALID_TYPE.wrap("worker data bundle nonce block height must be greater than 0")
        );
    }
    if bundle.worker.is_empty() {
        return Err(abci::INVALID_REQUEST.wrap("worker cannot be empty"));
    }
    if bundle.pubkey.is_empty() {
        return Err(abci::INVALID_REQUEST.wrap("public key cannot be empty"));
    }
    let pubkey_bytes = hex::decode(&bundle.pubkey)
        .ok()
        .filter(|b| b.len() == 33)
        .ok_or_else(|| abci::INVALID_REQUEST.wrap("invalid pubkey"))?;
    let pubkey_address = pubkey_address(&pubkey_bytes)
        .ok_or_else(|| abci::INVALID_REQUEST.wrap("invalid pubkey"))?;
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
        validate_contents(
            "inference contents are invalid",
            [
                "topic id is invalid",
                "inferer address is invalid",
                "block height is invalid",
            ],
            inference.topic_id,
            &inference.inferer,
            inference.block_height,
        )?;
        check_actor(
            ["Inference.Inferer", "inference"],
            bundle,
            &inference.inferer,
            inference.topic_id,
            inference.block_height,
            &pubkey_address,
        )?;
    }
    if let Some(forecast) = &inner.forecast {
        validate_contents(
            "forecast contents are invalid",
            [
                "forecast topic id is invalid",
                "forecast forecaster address is invalid",
                "forecast block height is invalid",
            ],
            forecast.topic_id,
            &forecast.forecaster,
            forecast.block_height,
        )?;
        if forecast.forecast_elements.is_empty() {
            return Err(
                abci::INVALID_REQUEST.wrap("at least one forecast element must be provided")
            );
        }
        for element in &forecast.forecast_elements {
            validate_address(&element.inferer).map_err(|e| {
                e.context("forecast element inferer address is invalid")
                    .context("forecast element contents are invalid")
                    .context("forecast element is invalid")
            })?;
        }
        check_actor(
            ["Forecast.Forecaster", "forecast"],
            bundle,
            &forecast.forecaster,
            forecast.topic_id,
            forecast.block_height,
            &pubkey_address,
        )?;
    }
    let signed = wire.encode_bundle(&canonical_bundle(inner));
    let verified = PublicKey::from_sec1_bytes(&pubkey_bytes).is_ok_and(|key| {
        key.verify(&signed, &bundle.inferences_forecasts_bundle_signature)
            .is_ok()
    });
    if !verified {
        return Err(abci::UNAUTHORIZED.wrap("signature verification failed"));
    }
    if pubkey_address != bundle.worker {
        return Err(abci::UNAUTHORIZED.wrap("worker address does not match signature"));
    }
    Ok(())
}

/// `validateInferenceContents` / `ValidateForecastContents`: topic id,
/// actor address and block height, each failure wrapped as the chain does.
fn validate_contents(
    outer: &str,
    [topic_ctx, actor_ctx, height_ctx]: [&str; 3],
    topic_id: u64,
    actor: &str,
    block_height: i64,
) -> Result<(), AbciError> {
    if topic_id == 0 {
        return Err(abci::INVALID_TYPE
            .wrap("topic id zero is reserved")
            .context(topic_ctx)
            .context(outer));
    }
    validate_address(actor).map_err(|e| e.context(actor_ctx).context(outer))?;
    if block_height < 0 {
        return Err(abci::INVALID_TYPE
            .wrap("block height must be greater than or equal to 0")
            .context(height_ctx)
            .context(outer));
    }
    Ok(())
}

/// The checks of an inference or forecast against its bundle: signed by
/// the pubkey's account, which is the worker, for the bundle's topic and
/// nonce.
fn check_actor(
    [field, what]: [&str; 2],
    bundle: &v10::InputWorkerDataBundle,
    actor: &str,
    topic_id: u64,
    block_height: i64,
    pubkey_address: &str,
) -> Result<(), AbciError> {
    if actor != pubkey_address {
        return Err(abci::UNAUTHORIZED.wrap(format!(
            "{field} {actor} does not match pubkey {pubkey_address}"
        )));
    }
    if bundle.worker != actor {
        return Err(abci::UNAUTHORIZED.wrap(format!(
            "{field} {actor} does not match worker address {}",
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
            "{what} block height {block_height} does not match bundle block height {nonce}"
        )));
    }
    Ok(())
}

/// The data fee (`sendEffectiveRevenueActivateTopicIfWeightSufficient`):
/// from the sender's balance left after the tx fee to the ecosystem
/// account, counted as the topic's fee revenue.
fn charge_data_fee(ledger: &mut Ledger, sender: &str, topic_id: u64) -> Result<(), AbciError> {
    let fee = ledger.params.data_sending_fee;
    let account = ledger
        .accounts
        .get_mut(sender)
        .filter(|a| a.balance >= fee)
        .ok_or_else(|| {
            abci::INSUFFICIENT_FUNDS.wrap("sender has insufficient balance to cover fees")
        })?;
    account.balance -= fee;
    ledger.ecosystem_balance = ledger.ecosystem_balance.saturating_add(fee);
    let revenue = ledger.topic_fee_revenue.entry(topic_id).or_default();
    *revenue = revenue.saturating_add(fee);
    Ok(())
}

/// `convertWorkerForecastPayload`: the forecast's elements in canonical
/// decimal text. Its two refusals cannot trigger after the bundle checks
/// (which refuse an empty forecast and a topic mismatch first); they stay
/// in the chain's order.
fn convert_forecast(
    bundle: &v10::InputWorkerDataBundle,
    forecast: &v10::InputForecast,
) -> Result<LabeledValues, AbciError> {
    let elements: LabeledValues = forecast
        .forecast_elements
        .iter()
        .map(|e| (e.inferer.clone(), canonical(&e.value)))
        .collect();
    if elements.is_empty() {
        return Err(
            abci::NO_VALID_FORECAST_ELEMENTS.wrap("No valid forecast elements found in Forecast")
        );
    }
    if forecast.topic_id != bundle.topic_id {
        return Err(abci::INVALID_TOPIC_ID.wrap("forecaster not using the same topic as bundle"));
    }
    Ok(elements)
}

/// An inference after the label checks and admission planning.
struct ProcessedInference {
    /// Whether the inferer joined the nonce's active set.
    admitted: bool,
    /// The submitted labels in canonical form (what the event carries).
    labels: Vec<String>,
    /// The values stored: (canonical label, canonical decimal).
    values: LabeledValues,
}

/// The chain updates a worker's score EMA once per window: a submission
/// for `nonce` by a worker (`key`: topic and address) already scored at it
/// or a later nonce is refused; else the worker is scored at `nonce`.
fn score_once(
    scored: &mut BTreeMap<(u64, String), i64>,
    key: (u64, String),
    nonce: i64,
) -> Result<(), AbciError> {
    if scored.get(&key).is_some_and(|last| *last >= nonce) {
        return Err(abci::CANT_UPDATE_EMA_MORE_THAN_ONCE_PER_WINDOW.bare());
    }
    scored.insert(key, nonce);
    Ok(())
}

/// `processWorkerInferencePayload`: label rules, admission planning, and
/// for an admitted inferer normalisation and storage.
fn process_inference(
    ledger: &mut Ledger,
    topic: &TopicConfig,
    nonce: i64,
    inference: &v10::InputInference,
) -> Result<ProcessedInference, AbciError> {
    let single = topic.output_arity == OutputArity::Single;
    let limits = LabelLimits {
        cap: if single {
            1
        } else {
            topic.max_labels_per_submission
        },
        whitelist: &topic.label_whitelist,
        max_bytes: ledger.params.max_canonical_label_byte_length,
        case_sensitive: topic.label_case_sensitive,
    };
    let submitted: Vec<&str> = inference.values.iter().map(|v| v.label.as_str()).collect();
    let labels = labels::validate_labels(&submitted, limits)
        .map_err(|e| e.context("input inference failed label validation"))?;
    if single {
        if let [label] = labels.as_slice() {
            labels::validate_single_arity_label(label)?;
        }
    }

    let inferer = inference.inferer.clone();
    let planning = |e: AbciError| e.context("Error planning inference admission");
    let admitted_now = ledger
        .inputs
        .get(&(topic.id, nonce))
        .map_or(0, |inputs| inputs.inferences.len());
    if ledger
        .inputs
        .get(&(topic.id, nonce))
        .is_some_and(|inputs| inputs.inferences.contains_key(&inferer))
    {
        // A plain Go error on the chain: no registered code.
        return Err(planning(AbciError::unregistered(
            "inference already submitted",
        )));
    }
    score_once(
        &mut ledger.inferer_score_nonce,
        (topic.id, inferer.clone()),
        nonce,
    )
    .map_err(planning)?;
    let cap = topic
        .max_top_inferers
        .unwrap_or(ledger.params.max_top_inferers_to_reward);
    let admitted = u64::try_from(admitted_now).unwrap_or(u64::MAX) < cap;
    let values = normalize_inference(topic, inference, &labels, admitted)?;
    if admitted {
        ledger
            .inputs
            .entry((topic.id, nonce))
            .or_default()
            .inferences
            .insert(inferer, values.clone());
    }
    Ok(ProcessedInference {
        admitted,
        labels,
        values,
    })
}

/// `NormalizeInputInference` (worker keeper): the values stored for an
/// inference. Only an admitted inferer's inference is normalised on the
/// chain, so its refusals (sdk 18) apply only when `admitted`.
fn normalize_inference(
    topic: &TopicConfig,
    inference: &v10::InputInference,
    labels: &[String],
    admitted: bool,
) -> Result<LabeledValues, AbciError> {
    let normalizing = |e: AbciError| e.context("failed to normalize admitted inference");
    let values: Vec<(String, String)> = labels
        .iter()
        .zip(&inference.values)
        .map(|(label, v)| (label.clone(), canonical(&v.value)))
        .collect();
    if topic.output_arity == OutputArity::Single {
        let value = values
            .first()
            .map_or_else(|| canonical(&inference.value), |(_, v)| v.clone());
        return Ok(vec![(labels::SINGLE_ARITY_LABEL.to_owned(), value)]);
    }
    if values.is_empty() {
        if admitted {
            return Err(normalizing(
                abci::INVALID_REQUEST.wrap("multi-arity inference requires labeled values"),
            ));
        }
        return Ok(values);
    }
    let default = topic
        .label_default_value
        .as_ref()
        .map_or("0", |d| d.as_str());
    let kept: LabeledValues = values
        .iter()
        .filter(|(_, v)| !decimal_eq(v, default))
        .cloned()
        .collect();
    if !admitted {
        return Ok(kept);
    }
    if kept.is_empty() {
        return Err(normalizing(abci::INVALID_REQUEST.wrap(
            "multi-arity inference requires at least one non-default label value",
        )));
    }
    if let Some(tolerance) = &topic.require_unity {
        let sum: f64 = values
            .iter()
            .map(|(_, v)| v.parse::<f64>().unwrap_or(f64::NAN))
            .sum();
        let tol = tolerance.as_str().parse::<f64>().unwrap_or(0.0);
        // A NaN sum (an unparsable value) fails too.
        let within = (sum - 1.0).abs() <= tol;
        if !within {
            let sum_text = Dec::try_from(sum).map_or_else(|_| sum.to_string(), Dec::into_string);
            return Err(normalizing(abci::INVALID_REQUEST.wrap(format!(
                "require_unity violated: sum={sum_text} tol={tolerance}"
            ))));
        }
    }
    Ok(kept)
}

/// Numeric equality of two decimal texts (`1.50` equals `1.5`, `-0` equals `0`).
fn decimal_eq(a: &str, b: &str) -> bool {
    match (decimal_parts(a), decimal_parts(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A decimal text as (negative, significant digits, exponent of the last
/// digit), with trailing zeros folded into the exponent; zero is
/// `(false, "", 0)`.
fn decimal_parts(text: &str) -> Option<(bool, String, i64)> {
    let dec = text.parse::<Dec>().ok()?;
    let s = dec.as_str();
    let (negative, rest) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (mantissa, exponent) = match rest.split_once('E') {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // value = digits × 10^(exponent of the first digit − fraction length)
    let mut digits = format!("{int_part}{frac_part}");
    let mut exponent = exponent - i64::try_from(frac_part.len()).ok()?;
    let trimmed = digits.trim_start_matches('0').to_owned();
    digits = trimmed;
    while digits.ends_with('0') {
        digits.pop();
        exponent += 1;
    }
    if digits.is_empty() {
        return Some((false, String::new(), 0));
    }
    Some((negative, digits, exponent))
}
/// `ProcessWorkerForecastPayload`: keeps the elements of distinct inferers
/// among the top `max_elements_per_forecast` (the devnet has no scores: the
/// first ones in submitted order), then appends the forecast, admitting the
/// forecaster while fewer than `max_top_forecasters_to_reward` are. Returns
/// `None` when no element was kept (nothing stored, no event), else whether
/// the forecaster was admitted (the event is emitted either way) and the
/// kept elements.
fn process_forecast(
    ledger: &mut Ledger,
    topic: &TopicConfig,
    nonce: i64,
    forecaster: &str,
    elements: &LabeledValues,
) -> Result<Option<(bool, LabeledValues)>, AbciError> {
    let top = usize::try_from(ledger.params.max_elements_per_forecast).unwrap_or(usize::MAX);
    let mut kept: LabeledValues = Vec::new();
    for (inferer, value) in elements {
        if kept.len() < top && !kept.iter().any(|(i, _)| i == inferer) {
            kept.push((inferer.clone(), value.clone()));
        }
    }
    if kept.is_empty() {
        return Ok(None);
    }
    let appending = |e: AbciError| e.context("Error appending forecast");
    let inputs = ledger.inputs.get(&(topic.id, nonce));
    if inputs.is_some_and(|i| i.forecasts.contains_key(forecaster)) {
        return Err(appending(AbciError::unregistered(
            "forecast already submitted",
        )));
    }
    let admitted_now = inputs.map_or(0, |i| i.forecasts.len());
    score_once(
        &mut ledger.forecaster_score_nonce,
        (topic.id, forecaster.to_owned()),
        nonce,
    )
    .map_err(appending)?;
    let admitted = u64::try_from(admitted_now).unwrap_or(u64::MAX)
        < ledger.params.max_top_forecasters_to_reward;
    if admitted {
        ledger
            .inputs
            .entry((topic.id, nonce))
            .or_default()
            .forecasts
            .insert(forecaster.to_owned(), kept.clone());
    }
    Ok(Some((admitted, kept)))
}

/// `EventInsertInfererPayload`, built from the bundle as submitted with the
/// labels in canonical form.
fn inferer_event(
    protocol: DevnetProtocol,
    bundle: &v10::InputWorkerDataBundle,
    inference: &v10::InputInference,
    labels: &[String],
) -> Event {
    let values: Vec<serde_json::Value> = labels
        .iter()
        .zip(&inference.values)
        .map(|(label, v)| serde_json::json!({"label": label, "value": canonical(&v.value)}))
        .collect();
    let mut fields = vec![
        ("inferer", json_str(&bundle.worker)),
        ("nonce", json_int(bundle_nonce(bundle))),
        ("topic_id", json_int(bundle.topic_id)),
        ("value", json_str(&canonical(&inference.value))),
        ("extra_data", json_bytes(&inference.extra_data)),
    ];
    // v9's event has no labeled values.
    if protocol.labeled() {
        fields.push(("values", serde_json::Value::Array(values).to_string()));
    }
    Event::typed(
        &protocol.event_type(event_name(events::INSERT_INFERER_PAYLOAD)),
        fields,
    )
}

/// `EventInsertForecasterPayload` with the kept elements.
fn forecaster_event(
    protocol: DevnetProtocol,
    bundle: &v10::InputWorkerDataBundle,
    extra_data: &[u8],
    elements: &LabeledValues,
) -> Event {
    let column = |f: fn(&(String, String)) -> &String| {
        serde_json::Value::Array(
            elements
                .iter()
                .map(|e| serde_json::Value::String(f(e).clone()))
                .collect(),
        )
        .to_string()
    };
    Event::typed(
        &protocol.event_type(event_name(events::INSERT_FORECASTER_PAYLOAD)),
        vec![
            ("forecaster", json_str(&bundle.worker)),
            ("nonce", json_int(bundle_nonce(bundle))),
            ("topic_id", json_int(bundle.topic_id)),
            ("inferer_addresses", column(|e| &e.0)),
            ("inferer_values", column(|e| &e.1)),
            ("extra_data", json_bytes(extra_data)),
        ],
    )
}

fn bundle_nonce(bundle: &v10::InputWorkerDataBundle) -> i64 {
    bundle.nonce.as_ref().map_or(0, |n| n.block_height)
}

/// proto3 JSON of a bytes field: base64, or `null` when absent.
fn json_bytes(bytes: &[u8]) -> String {
    use base64::Engine as _;
    if bytes.is_empty() {
        "null".to_owned()
    } else {
        json_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }
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

/// The EndBlock event of `protocol` opening the window of `nonce` (given
/// its end) or closing it (`EventWorkerSubmissionWindowOpened` and
/// `...Closed`, allora-chain `x/emissions/proto/emissions/v10/events.proto`).
fn window_event(
    protocol: DevnetProtocol,
    topic_id: u64,
    nonce: i64,
    window_end: Option<i64>,
) -> Event {
    let mut attributes = vec![
        ("topic_id", json_int(topic_id)),
        ("nonce_block_height", json_int(nonce)),
    ];
    let name = match window_end {
        Some(end) => {
            attributes.push(("window_end_block", json_int(end)));
            events::WINDOW_OPENED
        }
        None => events::WINDOW_CLOSED,
    };
    Event::typed(&protocol.event_type(event_name(name)), attributes).in_end_block()
}

/// EndBlock at `height` (stamped `time`): opens a nonce for every active
/// topic whose epoch starts now (at its height, or with wall-clock windows
/// at the first block stamped at or after its start time), then closes the
/// nonces whose window is over, emitting the protocol's window events.
pub(crate) fn end_block(
    ledger: &mut Ledger,
    height: i64,
    time: Time,
    protocol: DevnetProtocol,
) -> Vec<Event> {
    let mut out = Vec::new();
    let topic_ids: Vec<u64> = ledger.topics.keys().copied().collect();
    for topic_id in &topic_ids {
        let opened = match ledger.topics.get_mut(topic_id) {
            Some(topic) => match protocol.windows {
                WindowMode::Blocks => start_block_epoch(topic, height),
                WindowMode::WallClock => start_scheduler_epoch(topic, height, time),
            },
            None => None,
        };
        let Some(window) = opened else {
            continue;
        };
        open_nonce(ledger, *topic_id, height, protocol);
        // The event's window end is the nonce plus the topic's window: a
        // height in blocks, a height plus seconds with wall-clock windows
        // (allora-chain `epoch_transitions.go`, `openWorkerWindow`).
        let window_end = height.saturating_add(window);
        out.push(window_event(protocol, *topic_id, height, Some(window_end)));
    }
    if protocol.windows == WindowMode::WallClock {
        close_scheduler_windows(ledger, &topic_ids, time);
    }
    for topic_id in &topic_ids {
        for nonce in due_height_closes(ledger, *topic_id, height, protocol) {
            close_nonce(ledger, *topic_id, nonce);
            out.push(window_event(protocol, *topic_id, nonce, None));
        }
    }
    out
}

/// Windows in blocks: an epoch ends at `height` for the topic. Returns the
/// window length (blocks) when it opens a nonce (an active topic).
fn start_block_epoch(topic: &mut Topic, height: i64) -> Option<i64> {
    if topic.next_epoch_end > height {
        return None;
    }
    topic.next_epoch_end = height.saturating_add(topic.config.epoch_length);
    if !topic.config.active {
        return None;
    }
    topic.epoch_last_ended = height;
    Some(topic.config.worker_submission_window)
}

/// Wall-clock windows: a scheduler epoch starts in the first block stamped
/// at or after the topic's next start (allora-chain `types/epoch.go`,
/// `NewEpoch`): its worker window runs `worker_submission_window` seconds
/// from the block's time, its reputer window from a ground-truth lag (the
/// epoch length on the devnet) for one more epoch length. Returns the
/// window length (seconds) when it opens a nonce (an active topic).
fn start_scheduler_epoch(topic: &mut Topic, height: i64, time: Time) -> Option<i64> {
    if time.before(topic.next_epoch_at) {
        return None;
    }
    let length = topic.config.epoch_length;
    topic.next_epoch_at = after_seconds(topic.next_epoch_at, length);
    if topic.next_epoch_at.before(time) {
        // Blocks stopped for longer than an epoch: start counting again.
        topic.next_epoch_at = after_seconds(time, length);
    }
    if !topic.config.active {
        return None;
    }
    topic.epoch_last_ended = height;
    let window = topic.config.worker_submission_window;
    let reputer_open_at = after_seconds(time, length);
    topic.epochs.push(SchedulerEpoch {
        counter: topic.epochs_started,
        start_height: height,
        open_at: time,
        close_at: after_seconds(time, window),
        worker_open: true,
        reputer_open_at,
        reputer_close_at: after_seconds(reputer_open_at, length),
    });
    topic.epochs_started = topic.epochs_started.saturating_add(1);
    Some(window)
}

/// Adds an open nonce, dropping the oldest beyond the cap. With windows in
/// blocks its close is scheduled now: a later change of the topic's window
/// does not move it.
fn open_nonce(ledger: &mut Ledger, topic_id: u64, height: i64, protocol: DevnetProtocol) {
    let max_open = usize::try_from(ledger.max_unfulfilled_worker_requests).unwrap_or(usize::MAX);
    let window = ledger
        .topics
        .get(&topic_id)
        .map_or(0, |t| t.config.worker_submission_window);
    let open = ledger.open_nonces.entry(topic_id).or_default();
    open.insert(height);
    let mut dropped = Vec::new();
    while open.len() > max_open {
        if let Some(oldest) = open.pop_first() {
            dropped.push(oldest);
        }
    }
    if protocol.windows == WindowMode::Blocks {
        ledger
            .nonce_close_at
            .insert((topic_id, height), height.saturating_add(window));
    }
    for oldest in dropped {
        ledger.inputs.remove(&(topic_id, oldest));
        ledger.nonce_close_at.remove(&(topic_id, oldest));
    }
}

/// Wall-clock windows: closes every worker window whose close time is
/// before the block's time (the scheduler's due check, `BlockTime.After`),
/// and prunes epochs whose reputer window is over (completed).
fn close_scheduler_windows(ledger: &mut Ledger, topic_ids: &[u64], time: Time) {
    for topic_id in topic_ids {
        let closing: Vec<i64> = match ledger.topics.get_mut(topic_id) {
            Some(topic) => {
                let mut closing = Vec::new();
                for epoch in &mut topic.epochs {
                    if epoch.worker_open && time.after(epoch.close_at) {
                        epoch.worker_open = false;
                        closing.push(epoch.start_height);
                    }
                }
                topic.epochs.retain(|e| !time.after(e.reputer_close_at));
                closing
            }
            None => Vec::new(),
        };
        for nonce in closing {
            if ledger.is_open_nonce(*topic_id, nonce) {
                close_nonce(ledger, *topic_id, nonce);
            }
        }
    }
}

/// The topic's nonces whose height-counted window ends by `height`: every
/// open one with windows in blocks, only those opened before an upgrade to
/// wall-clock windows otherwise.
fn due_height_closes(
    ledger: &Ledger,
    topic_id: u64,
    height: i64,
    protocol: DevnetProtocol,
) -> Vec<i64> {
    let Some(window) = ledger
        .topics
        .get(&topic_id)
        .map(|t| t.config.worker_submission_window)
    else {
        return Vec::new();
    };
    let close_at = |n: i64| match ledger.nonce_close_at.get(&(topic_id, n)) {
        Some(at) => Some(*at),
        None if protocol.windows == WindowMode::Blocks => Some(n.saturating_add(window)),
        None => None,
    };
    ledger
        .open_nonces
        .get(&topic_id)
        .map(|open| {
            open.iter()
                .copied()
                .filter(|n| *n < height && close_at(*n).is_some_and(|at| at <= height))
                .collect()
        })
        .unwrap_or_default()
}

/// Closes a nonce: its inputs become the topic's latest network inferences
/// (when someone inferred, as the chain stores them).
fn close_nonce(ledger: &mut Ledger, topic_id: u64, nonce: i64) {
    if let Some(open) = ledger.open_nonces.get_mut(&topic_id) {
        open.remove(&nonce);
    }
    ledger.nonce_close_at.remove(&(topic_id, nonce));
    let inputs: NonceInputs = ledger.inputs.remove(&(topic_id, nonce)).unwrap_or_default();
    if !inputs.inferences.is_empty() {
        ledger
            .latest_inferences
            .insert(topic_id, NetworkInferences { nonce, inputs });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_compare_by_value() {
        assert!(decimal_eq("0", "0.000"));
        assert!(decimal_eq("1.50", "1.5"));
        assert!(decimal_eq("1.2E-7", "0.00000012"));
        assert!(decimal_eq("-0", "0"));
        assert!(decimal_eq("1E+3", "1000"));
        assert!(!decimal_eq("1.5", "-1.5"));
        assert!(!decimal_eq("0.1", "0.01"));
    }

    #[test]
    fn bech32_errors_read_like_the_sdks() {
        assert_eq!(
            bech32_error("").as_deref(),
            Some("empty address string is not allowed")
        );
        assert_eq!(
            bech32_error("cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu").as_deref(),
            Some("invalid Bech32 prefix; expected allo, got cosmos")
        );
        assert!(bech32_error("allo1nope")
            .unwrap()
            .starts_with("decoding bech32 failed: "));
        assert_eq!(
            bech32_error("allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"),
            None
        );
    }

    #[test]
    fn pubkey_addresses_do_not_need_a_curve_point() {
        // Not a point on secp256k1, still an address.
        assert!(pubkey_address(&[9u8; 33]).is_some_and(|a| a.starts_with("allo1")));
    }
}
