//! "Will my node work?": a pre-flight check of everything a worker needs,
//! before it runs.
//!
//! [`Preflight::run`] asks each gRPC endpoint who it is (reachable, on the
//! configured chain id, which software, and which emissions protocol its
//! chain speaks: v9 or v10, windows in blocks or on the wall clock, detected
//! as the worker does at start), tries the websocket, weighs
//! the balance against one day of fees, and for each topic checks that it
//! exists and is active, that the worker is registered and whitelisted,
//! that its submission window is longer than the provider timeout, and that
//! the inference (and forecast) provider answers a value that parses, with
//! its latency. Each result is a [`CheckLine`] that passes, warns, fails or
//! was skipped (because what it needs failed); a failing line says what to
//! do. Nothing is signed or sent. The report serializes to JSON and displays
//! as text.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use allora_sdk::check::{Preflight, TopicProbe};
//! use allora_sdk::{Address, FnProvider, InferenceRequest};
//!
//! # async fn demo(address: Address) {
//! let mut preflight = Preflight::new(["https://allora-grpc.testnet.allora.network:443"]);
//! preflight.chain_id = Some("allora-testnet-1".into());
//! preflight.address = Some(address);
//! preflight.topics.push(TopicProbe::inference(
//!     69,
//!     Arc::new(FnProvider::new(|_: &InferenceRequest| 2650.5)),
//!     Duration::from_secs(10),
//! ));
//! let report = preflight.run().await;
//! print!("{report}");
//! std::process::exit(if report.ok { 0 } else { 1 });
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use allora_infer::{ForecastProvider, InferenceProvider, InferenceRequest, Prediction};
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use crate::client::{ChainClient, ClientConfig, ClientError, NodeInfo};
use crate::key_source::KeySource;
use crate::keys::Address;
use crate::pipeline::{FeePolicy, GasPolicy, GasPriceSource};
use crate::proto::emissions::{v10, v9};
use crate::tx::{FeeTier, GasPrice, DENOM};

/// Seconds in the day the balance is weighed against.
const DAY_SECS: f64 = 86_400.0;
/// Blocks the block time is measured over (fewer on a young chain).
const BLOCK_TIME_SAMPLE: i64 = 20;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Fine.
    Pass,
    /// Works, but worth attention.
    Warn,
    /// Will not work: see the remedy.
    Fail,
    /// Not checked, because something it needs failed.
    Skip,
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Skip => "SKIP",
        })
    }
}

/// One check: an id (`endpoint[0]`, `balance`, `topic[69].inference`...),
/// its outcome, what was found, what to do when it does not pass, and the
/// figures behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckLine {
    /// A stable id.
    pub id: String,
    /// The outcome.
    pub status: CheckStatus,
    /// What was found.
    pub summary: String,
    /// What to do (failing and warning lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    /// Figures for machines (latencies in ms, amounts in uallo...).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl CheckLine {
    /// A line with no remedy and no figures.
    pub fn new(id: impl Into<String>, status: CheckStatus, summary: impl Into<String>) -> Self {
        CheckLine {
            id: id.into(),
            status,
            summary: summary.into(),
            remedy: None,
            data: serde_json::Value::Null,
        }
    }

    /// A passing line.
    pub fn pass(id: impl Into<String>, summary: impl Into<String>) -> Self {
        CheckLine::new(id, CheckStatus::Pass, summary)
    }

    /// A failing line and what to do about it.
    pub fn fail(
        id: impl Into<String>,
        summary: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        CheckLine::new(id, CheckStatus::Fail, summary).remedy(remedy)
    }

    /// A warning and what to do about it.
    pub fn warn(
        id: impl Into<String>,
        summary: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        CheckLine::new(id, CheckStatus::Warn, summary).remedy(remedy)
    }

    /// A line skipped because of `why`.
    pub fn skip(id: impl Into<String>, why: impl Into<String>) -> Self {
        CheckLine::new(id, CheckStatus::Skip, why)
    }

    /// Sets the remedy.
    pub fn remedy(mut self, remedy: impl Into<String>) -> Self {
        self.remedy = Some(remedy.into());
        self
    }

    /// Sets the figures.
    pub fn data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// Every check, in order. `ok` is true when none failed (warnings and
/// skipped lines of passing checks allowed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// Whether the node should work.
    pub ok: bool,
    /// The checks.
    pub checks: Vec<CheckLine>,
}

impl CheckReport {
    /// A report of these lines.
    pub fn new(checks: Vec<CheckLine>) -> Self {
        let mut report = CheckReport {
            ok: true,
            checks: Vec::new(),
        };
        for line in checks {
            report.push(line);
        }
        report
    }

    /// Adds a line.
    pub fn push(&mut self, line: CheckLine) {
        self.ok &= line.status != CheckStatus::Fail;
        self.checks.push(line);
    }

    /// Adds lines in front (checks made before these, such as the
    /// configuration and the key).
    pub fn prepend(&mut self, lines: Vec<CheckLine>) {
        self.ok &= lines.iter().all(|l| l.status != CheckStatus::Fail);
        self.checks.splice(0..0, lines);
    }

    /// The line with this id.
    pub fn line(&self, id: &str) -> Option<&CheckLine> {
        self.checks.iter().find(|l| l.id == id)
    }

    /// The failing lines.
    pub fn failures(&self) -> impl Iterator<Item = &CheckLine> {
        self.checks.iter().filter(|l| l.status == CheckStatus::Fail)
    }
}

/// The report as text: one line per check, the remedy under each line that
/// does not pass, and a verdict.
impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.checks.iter().map(|l| l.id.len()).max().unwrap_or(0);
        for line in &self.checks {
            writeln!(
                f,
                "{} {:width$}  {}",
                line.status,
                line.id,
                line.summary,
                width = width
            )?;
            if let Some(remedy) = &line.remedy {
                writeln!(f, "     {:width$}  -> {remedy}", "", width = width)?;
            }
        }
        let failed = self.failures().count();
        if failed == 0 {
            writeln!(f, "ready: no check failed")
        } else {
            writeln!(
                f,
                "NOT ready: {failed} check(s) failed; fix them and run check again"
            )
        }
    }
}

/// A topic to check, with the providers that serve it.
#[derive(Clone)]
pub struct TopicProbe {
    /// The topic.
    pub topic_id: u64,
    /// The inference provider, if the worker infers.
    pub inference: Option<Arc<dyn InferenceProvider>>,
    /// The forecast provider, if the worker forecasts.
    pub forecast: Option<Arc<dyn ForecastProvider>>,
    /// The token hint passed to providers.
    pub token: Option<String>,
    /// The longest the worker lets a provider take.
    pub timeout: Duration,
    /// Where the inference comes from, for messages (e.g. its URL).
    pub inference_source: Option<String>,
    /// Where the forecast comes from, for messages.
    pub forecast_source: Option<String>,
}

impl TopicProbe {
    /// A topic served with inferences from `provider` within `timeout`.
    pub fn inference(
        topic_id: u64,
        provider: Arc<dyn InferenceProvider>,
        timeout: Duration,
    ) -> Self {
        TopicProbe {
            topic_id,
            inference: Some(provider),
            forecast: None,
            token: None,
            timeout,
            inference_source: None,
            forecast_source: None,
        }
    }

    /// The probe of a worker's topic, with the worker's provider timeout.
    pub fn from_spec(spec: &crate::worker::TopicSpec, timeout: Duration) -> Self {
        TopicProbe {
            topic_id: spec.topic_id,
            inference: spec.inference.clone(),
            forecast: spec.forecast.clone(),
            token: spec.token.clone(),
            timeout,
            inference_source: None,
            forecast_source: None,
        }
    }
}

impl fmt::Debug for TopicProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicProbe")
            .field("topic_id", &self.topic_id)
            .field("inference", &self.inference_source)
            .field("forecast", &self.forecast_source)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What to check. Build with [`Preflight::new`], then set what applies.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// The gRPC endpoints, each checked on its own.
    pub endpoints: Vec<String>,
    /// The chain id the endpoints must serve, when configured.
    pub chain_id: Option<String>,
    /// The node's websocket, when configured.
    pub websocket: Option<String>,
    /// The worker's address (`None`: the key could not be loaded, and the
    /// checks that need it are skipped).
    pub address: Option<Address>,
    /// An account paying the fees under a fee grant, if any.
    pub fee_granter: Option<Address>,
    /// The gas price source, as the worker uses it.
    pub gas_price: GasPriceSource,
    /// The fee tier.
    pub fee_tier: FeeTier,
    /// The gas policy (its fallback limit prices one payload).
    pub gas: GasPolicy,
    /// Whether the worker registers itself where it is not registered.
    pub auto_register: bool,
    /// The topics.
    pub topics: Vec<TopicProbe>,
    /// Deadline of each chain call.
    pub request_timeout: Duration,
}

impl Preflight {
    /// Checks of these endpoints with the worker's defaults (10 uallo/gas,
    /// standard tier, default gas policy, 5 s per call) and nothing else.
    pub fn new<I, S>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Preflight {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            chain_id: None,
            websocket: None,
            address: None,
            fee_granter: None,
            gas_price: GasPriceSource::Static(GasPrice::from_uallo(10)),
            fee_tier: FeeTier::Standard,
            gas: GasPolicy::default(),
            auto_register: false,
            topics: Vec::new(),
            request_timeout: Duration::from_secs(5),
        }
    }

    fn client_config<I, S>(&self, endpoints: I) -> ClientConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientConfig::new(endpoints)
            .request_timeout(self.request_timeout)
            .connect_timeout(self.request_timeout.min(Duration::from_secs(3)))
            .unhealthy_cooldown(Duration::from_millis(1))
    }

    /// Runs every check. Never fails: what cannot be checked is a line.
    pub async fn run(&self) -> CheckReport {
        let mut report = CheckReport::new(Vec::new());
        let reachable = self.check_endpoints(&mut report).await;
        if let Some(url) = &self.websocket {
            let ws = crate::status::check_websocket(url).await;
            report.push(match ws.error {
                None => CheckLine::pass("websocket", format!("{url} reachable")),
                Some(e) => CheckLine::fail(
                    "websocket",
                    format!("{url} not reachable: {e}"),
                    "check websocket_url (ws://host:26657/websocket on the node's CometBFT RPC port) and that the port is open; without a websocket the worker still finds windows by polling",
                ),
            });
        } else {
            report.push(CheckLine::warn(
                "websocket",
                "not configured: the worker finds windows by polling",
                "set websocket_url to the node's ws://host:26657/websocket to see windows as they open",
            ));
        }
        if reachable.is_empty() {
            report.push(CheckLine::skip(
                "chain",
                "no endpoint on the configured chain answered the emissions queries: the chain checks need one",
            ));
            for topic in &self.topics {
                report.push(CheckLine::skip(
                    format!("topic[{}]", topic.topic_id),
                    "no endpoint on the configured chain answered",
                ));
            }
            return report;
        }
        let client = match ChainClient::new(self.client_config(reachable)) {
            Ok(client) => client,
            Err(e) => {
                report.push(CheckLine::fail(
                    "chain",
                    format!("no client: {e}"),
                    "check grpc_endpoints",
                ));
                return report;
            }
        };
        let chain = ChainFacts::gather(&client, &self.topics).await;
        self.check_funds(&client, &chain, &mut report).await;
        for topic in &self.topics {
            self.check_topic(&client, &chain, topic, &mut report).await;
        }
        report
    }

    /// One line per endpoint (reachable, chain id, software) and one per
    /// reachable endpoint's emissions module; returns the endpoints that
    /// answered on the right chain.
    async fn check_endpoints(&self, report: &mut CheckReport) -> Vec<String> {
        let mut reachable = Vec::new();
        if self.endpoints.is_empty() {
            report.push(CheckLine::fail(
                "endpoints",
                "no gRPC endpoint configured",
                "list at least one in grpc_endpoints",
            ));
        }
        let mut seen_chains: Vec<String> = Vec::new();
        for (i, url) in self.endpoints.iter().enumerate() {
            let id = format!("endpoint[{i}]");
            let client = match ChainClient::new(self.client_config([url.as_str()])) {
                Ok(c) => c,
                Err(e) => {
                    report.push(CheckLine::fail(
                        id,
                        format!("{url}: {e}"),
                        "write it as http(s)://host:port or grpc+http(s)://host:port",
                    ));
                    continue;
                }
            };
            let started = Instant::now();
            let info = client.node_info().await;
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let info = match info {
                Ok(info) => info,
                Err(e) => {
                    report.push(
                        CheckLine::fail(
                            id,
                            format!("{url} not reachable: {e}"),
                            "check the URL (scheme, host and the node's gRPC port, usually 9090 or 443), that the node runs, and that a firewall lets this machine in",
                        )
                        .data(json!({ "url": url })),
                    );
                    continue;
                }
            };
            let software = describe_software(&info);
            let data = json!({
                "url": url,
                "latency_ms": round_ms(latency_ms),
                "chain_id": info.network,
                "node": info,
            });
            match &self.chain_id {
                Some(want) if *want != info.network => {
                    report.push(
                        CheckLine::fail(
                            id,
                            format!(
                                "{url} serves chain {:?}, not the configured {want:?} ({software})",
                                info.network
                            ),
                            format!("point this endpoint at a node of {want}, or set chain_id = {:?} if that is the chain you mean", info.network),
                        )
                        .data(data),
                    );
                    continue;
                }
                _ => {}
            }
            let mut line = CheckLine::pass(
                id.clone(),
                format!(
                    "{url} reachable in {latency_ms:.0} ms, chain {} ({software})",
                    info.network
                ),
            )
            .data(data);
            if self.chain_id.is_none() {
                line = CheckLine::warn(
                    id.clone(),
                    line.summary.clone(),
                    format!(
                        "chain_id is not configured; set chain_id = {:?} so a wrong endpoint is caught",
                        info.network
                    ),
                )
                .data(line.data);
            }
            report.push(line);
            let emissions = detect_emissions(&client, &info).await;
            report.push(emissions.line(format!("{id}.emissions")));
            if !seen_chains.contains(&info.network) {
                seen_chains.push(info.network.clone());
            }
            if emissions.supported {
                reachable.push(url.clone());
            }
        }
        if seen_chains.len() > 1 {
            report.push(CheckLine::fail(
                "endpoints",
                format!(
                    "the endpoints serve different chains: {}",
                    seen_chains.join(", ")
                ),
                "list endpoints of one chain only",
            ));
        }
        reachable
    }

    /// The balance (and fee grant) against one day of fees.
    async fn check_funds(
        &self,
        client: &ChainClient,
        chain: &ChainFacts,
        report: &mut CheckReport,
    ) {
        let Some(address) = &self.address else {
            report.push(CheckLine::skip("balance", "no key: the address is unknown"));
            return;
        };
        let mut fees = FeePolicy::new(self.gas_price.clone(), self.fee_tier);
        let gas = self.gas.fallback(1);
        let fee_per_tx = fees.fee(client, gas, self.fee_tier).await.amount;
        let price = fees.gas_price(client).await;
        let data_fee = chain.data_sending_fee;
        let windows_per_day: f64 = chain.windows_per_day.iter().map(|(_, w)| w).sum();
        let windows = windows_per_day.ceil() as u128;
        let tx_day = fee_per_tx.saturating_mul(windows);
        let data_day = data_fee.saturating_mul(windows);
        let estimate = format!(
            "one day estimated as {windows} window(s) ({}) each with its own transaction of {gas} gas (the fallback limit; batching and simulation only lower it) at {price}/gas x {} = {fee_per_tx} uallo, plus the {data_fee} uallo data fee",
            chain.describe_windows(),
            tier_name(self.fee_tier),
        );
        let balance = match client.balance(address, DENOM).await {
            Ok(b) => b,
            Err(e) => {
                report.push(CheckLine::fail(
                    "balance",
                    format!("cannot read the balance of {address}: {e}"),
                    "check the endpoints",
                ));
                return;
            }
        };
        // The worker's account pays the data fees always, the transaction
        // fees unless a granter does.
        let (per_window, day) = match &self.fee_granter {
            None => (fee_per_tx + data_fee, tx_day + data_day),
            Some(_) => (data_fee, data_day),
        };
        let data = json!({
            "address": address.as_str(),
            "balance_uallo": balance.to_string(),
            "fee_per_tx_uallo": fee_per_tx.to_string(),
            "data_fee_uallo": data_fee.to_string(),
            "windows_per_day": windows,
            "day_uallo": day.to_string(),
            "block_time_secs": chain.block_time_secs,
            "estimate": estimate,
        });
        let who = if self.fee_granter.is_some() {
            "data fees (a fee granter pays the transaction fees)"
        } else {
            "fees"
        };
        let line = if balance < per_window {
            CheckLine::fail(
                "balance",
                format!("{address} has {balance} uallo: not enough for one submission ({per_window} uallo)"),
                format!("send {address} at least {} uallo (one day of {who}); {estimate}", day.saturating_sub(balance)),
            )
        } else if balance < day {
            let hours = if day == 0 {
                0.0
            } else {
                24.0 * balance as f64 / day as f64
            };
            CheckLine::warn(
                "balance",
                format!("{address} has {balance} uallo: about {hours:.1} hours of {who} ({day} uallo a day)"),
                format!("send {address} {} uallo more to last a day; {estimate}", day - balance),
            )
        } else {
            CheckLine::pass(
                "balance",
                format!("{address} has {balance} uallo, {day} uallo a day of {who}: {estimate}"),
            )
        };
        report.push(line.data(data));
        if let Some(granter) = &self.fee_granter {
            report.push(
                self.check_fee_grant(client, granter, address, tx_day, fee_per_tx)
                    .await,
            );
        }
    }

    async fn check_fee_grant(
        &self,
        client: &ChainClient,
        granter: &Address,
        grantee: &Address,
        tx_day: u128,
        fee_per_tx: u128,
    ) -> CheckLine {
        let id = "fee_grant";
        let allowance = match client.fee_allowance(granter, grantee).await {
            Ok(Some(a)) => a,
            Ok(None) => {
                return CheckLine::fail(
                    id,
                    format!("{granter} gave {grantee} no fee allowance: every transaction would be refused (fee-grant not found)"),
                    format!("have {granter} grant one (x/feegrant MsgGrantAllowance), or remove fee_granter"),
                )
            }
            Err(e) => {
                return CheckLine::fail(
                    id,
                    format!("cannot read the fee allowance: {e}"),
                    "check the endpoints",
                )
            }
        };
        if allowance.is_expired_at(SystemTime::now()) {
            return CheckLine::fail(
                id,
                format!("the allowance from {granter} has expired"),
                format!("have {granter} grant a new one, or remove fee_granter"),
            );
        }
        let payload_url = <v10::InsertWorkerPayloadRequest as prost::Name>::type_url();
        if !allowance.allows_message(&payload_url) {
            return CheckLine::fail(
                id,
                format!(
                    "the allowance from {granter} does not pay for worker payloads (allowed: {})",
                    allowance.allowed_messages.join(", ")
                ),
                "have the granter allow /emissions.v10.InsertWorkerPayloadRequest",
            );
        }
        let granter_balance = client.balance(granter, DENOM).await.ok();
        let spendable = allowance.spendable_uallo();
        let data = json!({
            "granter": granter.as_str(),
            "spendable_uallo": spendable.map(|s| s.to_string()),
            "granter_balance_uallo": granter_balance.map(|b| b.to_string()),
            "day_uallo": tx_day.to_string(),
        });
        let limit =
            |s: Option<u128>| s.map_or("no limit".to_owned(), |s| format!("{s} uallo left"));
        let pays = spendable
            .map_or(u128::MAX, |s| s)
            .min(granter_balance.unwrap_or(u128::MAX));
        let line = if pays < fee_per_tx {
            CheckLine::fail(
                id,
                format!("the allowance from {granter} ({}) or its balance ({} uallo) cannot pay one transaction ({fee_per_tx} uallo)", limit(spendable), granter_balance.unwrap_or(0)),
                format!("have {granter} raise the allowance or fund its account"),
            )
        } else if pays < tx_day {
            CheckLine::warn(
                id,
                format!("the allowance from {granter} ({}) pays less than a day of fees ({tx_day} uallo)", limit(spendable)),
                format!("have {granter} raise the allowance or fund its account"),
            )
        } else {
            CheckLine::pass(
                id,
                format!(
                    "{granter} pays the fees ({}; its balance {} uallo)",
                    limit(spendable),
                    granter_balance.map_or("unknown".to_owned(), |b| b.to_string())
                ),
            )
        };
        line.data(data)
    }

    async fn check_topic(
        &self,
        client: &ChainClient,
        chain: &ChainFacts,
        probe: &TopicProbe,
        report: &mut CheckReport,
    ) {
        let t = probe.topic_id;
        let id = |what: &str| format!("topic[{t}].{what}");
        let topic = match chain.topics.iter().find(|(id, _)| *id == t).map(|(_, r)| r) {
            Some(Ok(topic)) => topic.clone(),
            Some(Err(e)) if e.contains("not found") => {
                report.push(CheckLine::fail(
                    id("exists"),
                    format!("topic {t} does not exist on {}", chain.chain_id),
                    "check the topic id in the configuration (the Allora docs list the topics of each network)",
                ));
                for what in ["active", "registered", "whitelisted", "window", "inference"] {
                    report.push(CheckLine::skip(id(what), "the topic does not exist"));
                }
                return;
            }
            Some(Err(e)) => {
                report.push(CheckLine::fail(
                    id("exists"),
                    format!("cannot read topic {t}: {e}"),
                    "check the endpoints",
                ));
                return;
            }
            None => return,
        };
        report.push(
            CheckLine::pass(
                id("exists"),
                format!("topic {t}: {:?}, epoch {} blocks, window {} blocks", topic.metadata, topic.epoch_length, topic.worker_submission_window),
            )
            .data(json!({"epoch_length": topic.epoch_length, "worker_submission_window": topic.worker_submission_window})),
        );
        report.push(match client.is_topic_active(t).await {
            Ok(true) => CheckLine::pass(id("active"), "active: its windows open every epoch"),
            Ok(false) => CheckLine::fail(
                id("active"),
                "inactive: no window opens until the chain activates it again",
                "serve an active topic, or wait for this one to be active (topics need enough stake and fee revenue)",
            ),
            Err(e) => CheckLine::fail(id("active"), format!("cannot tell: {e}"), "check the endpoints"),
        });
        match &self.address {
            None => {
                report.push(CheckLine::skip(
                    id("registered"),
                    "no key: the address is unknown",
                ));
                report.push(CheckLine::skip(
                    id("whitelisted"),
                    "no key: the address is unknown",
                ));
            }
            Some(address) => {
                report.push(match client.is_worker_registered(t, address).await {
                    Ok(true) => CheckLine::pass(id("registered"), format!("{address} is registered")),
                    Ok(false) if self.auto_register => CheckLine::warn(
                        id("registered"),
                        format!("{address} is not registered yet; the worker registers it at start"),
                        "keep the balance above the registration fee plus a transaction fee",
                    ),
                    Ok(false) => CheckLine::fail(
                        id("registered"),
                        format!("{address} is not registered in topic {t}: the chain refuses its payloads"),
                        "run `allora-worker register` (or set auto_register = true)",
                    ),
                    Err(e) => CheckLine::fail(id("registered"), format!("cannot tell: {e}"), "check the endpoints"),
                });
                report.push(match client.can_submit_worker_payload(t, address).await {
                    Ok(true) => CheckLine::pass(id("whitelisted"), "may submit (CanSubmitWorkerPayload)"),
                    Ok(false) => CheckLine::fail(
                        id("whitelisted"),
                        format!("{address} is not on the topic's worker whitelist: the chain refuses its payloads"),
                        "ask the topic's creator (or the chain's whitelist admins) to add this address",
                    ),
                    Err(e) => CheckLine::fail(id("whitelisted"), format!("cannot tell: {e}"), "check the endpoints"),
                });
            }
        }
        report.push(self.check_window(chain, probe, &topic));
        let nonce = if topic.epoch_last_ended > 0 {
            topic.epoch_last_ended
        } else {
            chain.height.max(1)
        };
        if let Some(provider) = &probe.inference {
            report.push(probe_inference(probe, provider.as_ref(), nonce).await);
        }
        if let Some(provider) = &probe.forecast {
            report.push(probe_forecast(probe, provider.as_ref(), nonce).await);
        }
        if probe.inference.is_none() && probe.forecast.is_none() {
            report.push(CheckLine::fail(
                id("inference"),
                "no provider configured",
                "set inference_url (or forecast_url)",
            ));
        }
    }

    fn check_window(
        &self,
        chain: &ChainFacts,
        probe: &TopicProbe,
        topic: &v10::Topic,
    ) -> CheckLine {
        let id = format!("topic[{}].window", probe.topic_id);
        let timeout = probe.timeout.as_secs_f64();
        let Some(block) = chain.block_time_secs else {
            return CheckLine::warn(
                id,
                format!(
                    "window {} blocks; block time unknown (too few blocks yet)",
                    topic.worker_submission_window
                ),
                "run check again once the chain has a few blocks",
            );
        };
        let window = topic.worker_submission_window as f64 * block;
        let data = json!({"window_blocks": topic.worker_submission_window, "window_secs": window, "timeout_secs": timeout, "block_time_secs": block});
        let summary = format!(
            "window {} blocks x {block:.2} s = {window:.1} s; provider timeout {timeout:.1} s",
            topic.worker_submission_window
        );
        let line = if timeout >= window {
            CheckLine::fail(
                id,
                summary,
                format!("a provider allowed {timeout:.0} s outlives the {window:.1} s window (the payload must be signed, sent and included inside it): lower timeout_secs to at most {:.0} s and make the server answer faster", (window / 2.0).floor().max(1.0)),
            )
        } else if timeout > window / 2.0 {
            CheckLine::warn(
                id,
                summary,
                format!("a provider using most of its {timeout:.0} s leaves little of the window to send the payload; keep timeout_secs under {:.0} s", (window / 2.0).floor().max(1.0)),
            )
        } else {
            CheckLine::pass(id, summary)
        };
        line.data(data)
    }
}

/// The `key` line: whether `source` yields a key, naming the source and the
/// address (never the key's content), and the address when it does.
pub async fn check_key(source: &dyn KeySource) -> (CheckLine, Option<Address>) {
    match source.load().await {
        Ok(signer) => (
            CheckLine::pass(
                "key",
                format!("{}: address {}", source.describe(), signer.address()),
            ),
            Some(signer.address().clone()),
        ),
        Err(e) => (
            CheckLine::fail(
                "key",
                format!("{}: {e}", source.describe()),
                "create a key file with `allora-worker keys new` (or `keys import`), or point key.source at the key",
            ),
            None,
        ),
    }
}

/// What a check asks the provider for: this topic's latest nonce.
fn request(probe: &TopicProbe, nonce: i64) -> InferenceRequest {
    let request = InferenceRequest::new(probe.topic_id, nonce, Instant::now() + probe.timeout);
    match &probe.token {
        Some(token) => request.with_token(token.clone()),
        None => request,
    }
}

/// The line id of the probe of a topic's `side` (`inference`, `forecast`),
/// and how messages name its provider (`source`, else "the <side>
/// provider").
fn probe_names(probe: &TopicProbe, side: &str, source: Option<&str>) -> (String, String) {
    (
        format!("topic[{}].{side}", probe.topic_id),
        source.map_or_else(|| format!("the {side} provider"), str::to_owned),
    )
}

/// Runs a provider call under the probe's timeout: its answer (`Err` when
/// none came in time) and how long it took, in ms.
async fn timed<T>(
    probe: &TopicProbe,
    call: impl std::future::Future<Output = T>,
) -> (Result<T, tokio::time::error::Elapsed>, f64) {
    let started = Instant::now();
    let answer = tokio::time::timeout(probe.timeout, call).await;
    (answer, round_ms(started.elapsed().as_secs_f64() * 1000.0))
}

/// The line of a probe whose provider answered with an error instead of a
/// `what` (value, forecast).
fn provider_failed(
    id: String,
    source: &str,
    what: &str,
    ms: f64,
    error: &allora_infer::InferError,
    remedy: &str,
) -> CheckLine {
    CheckLine::fail(
        id,
        format!("{source} gave no usable {what} in {ms} ms: {error}"),
        remedy,
    )
    .data(json!({"latency_ms": ms, "error": error.to_string()}))
}

/// The line of a probe whose provider did not answer within its timeout.
fn no_answer(id: String, source: &str, probe: &TopicProbe, ms: f64, remedy: &str) -> CheckLine {
    CheckLine::fail(
        id,
        format!(
            "{source} did not answer within {:.0} s",
            probe.timeout.as_secs_f64()
        ),
        remedy,
    )
    .data(json!({"latency_ms": ms}))
}

async fn probe_inference(
    probe: &TopicProbe,
    provider: &dyn InferenceProvider,
    nonce: i64,
) -> CheckLine {
    let (id, source) = probe_names(probe, "inference", probe.inference_source.as_deref());
    let (answer, ms) = timed(probe, provider.infer(&request(probe, nonce))).await;
    match answer {
        Ok(Ok(prediction)) => {
            let value = match &prediction {
                Prediction::Single(v) => v.as_str().to_owned(),
                Prediction::Labeled(values) => values
                    .iter()
                    .map(|(l, v)| format!("{l}={}", v.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            CheckLine::pass(id, format!("{source} answered {value} in {ms} ms"))
                .data(json!({"value": value, "latency_ms": ms, "nonce": nonce}))
        }
        Ok(Err(e)) => provider_failed(
            id,
            &source,
            "value",
            ms,
            &e,
            "start the inference server (allora-inference-server, or your own) and make it answer a plain number or a JSON number for this URL",
        ),
        Err(_) => no_answer(
            id,
            &source,
            probe,
            ms,
            "check that the server runs and is fast enough, or raise timeout_secs (within the window)",
        ),
    }
}

async fn probe_forecast(
    probe: &TopicProbe,
    provider: &dyn ForecastProvider,
    nonce: i64,
) -> CheckLine {
    let (id, source) = probe_names(probe, "forecast", probe.forecast_source.as_deref());
    let (answer, ms) = timed(probe, provider.forecast(&request(probe, nonce))).await;
    match answer {
        Ok(Ok(values)) => {
            let bad: Vec<&str> = values
                .iter()
                .filter(|v| v.inferer.parse::<Address>().is_err())
                .map(|v| v.inferer.as_str())
                .collect();
            if values.is_empty() || !bad.is_empty() {
                return CheckLine::fail(
                    id,
                    format!("{source} answered {} element(s), not usable: {}", values.len(), if bad.is_empty() { "none".to_owned() } else { format!("not addresses: {}", bad.join(", ")) }),
                    "answer a JSON object mapping inferer addresses (allo1...) to values",
                )
                .data(json!({"latency_ms": ms}));
            }
            CheckLine::pass(id, format!("{source} answered {} element(s) in {ms} ms", values.len()))
                .data(json!({"elements": values.len(), "latency_ms": ms, "nonce": nonce}))
        }
        Ok(Err(e)) => provider_failed(
            id,
            &source,
            "forecast",
            ms,
            &e,
            "start the forecast server and make it answer a JSON object mapping inferer addresses to values",
        ),
        Err(_) => no_answer(
            id,
            &source,
            probe,
            ms,
            "check that the server runs and is fast enough",
        ),
    }
}

/// What the chain says, gathered once for every check that needs it.
struct ChainFacts {
    chain_id: String,
    height: i64,
    /// Seconds per block over the last blocks, when there are enough.
    block_time_secs: Option<f64>,
    data_sending_fee: u128,
    /// Each topic, or why it could not be read.
    topics: Vec<(u64, Result<v10::Topic, String>)>,
    /// Windows a day of each existing topic.
    windows_per_day: Vec<(u64, f64)>,
}

impl ChainFacts {
    async fn gather(client: &ChainClient, probes: &[TopicProbe]) -> ChainFacts {
        let chain_id = client.chain_id().await.unwrap_or_default();
        let latest = client.latest_block().await.ok();
        let height = latest.as_ref().map_or(0, |b| b.height);
        let block_time_secs = match &latest {
            Some(b) if b.height > 1 => {
                let back = BLOCK_TIME_SAMPLE.min(b.height - 1);
                match (b.time, client.block_time_at(b.height - back).await) {
                    (Some(now), Ok(Some(then))) => now
                        .duration_since(then)
                        .ok()
                        .map(|d| d.as_secs_f64() / back as f64)
                        .filter(|s| *s > 0.0),
                    _ => None,
                }
            }
            _ => None,
        };
        let params: Option<v9::Params> = client.params().await.ok();
        let data_sending_fee = params
            .as_ref()
            .and_then(|p| p.data_sending_fee.parse::<u128>().ok())
            .unwrap_or(0);
        let mut topics = Vec::new();
        let mut windows_per_day = Vec::new();
        for probe in probes {
            let topic = client.topic(probe.topic_id).await.map_err(|e| match e {
                ClientError::NotFound(what) => format!("not found: {what}"),
                other => other.to_string(),
            });
            if let (Ok(t), Some(block)) = (&topic, block_time_secs) {
                if t.epoch_length > 0 {
                    windows_per_day
                        .push((probe.topic_id, DAY_SECS / (t.epoch_length as f64 * block)));
                }
            }
            topics.push((probe.topic_id, topic));
        }
        ChainFacts {
            chain_id,
            height,
            block_time_secs,
            data_sending_fee,
            topics,
            windows_per_day,
        }
    }

    fn describe_windows(&self) -> String {
        let block = match self.block_time_secs {
            Some(b) => format!("{b:.2} s blocks measured over the last blocks"),
            None => "block time unknown".to_owned(),
        };
        let per_topic: Vec<String> = self
            .windows_per_day
            .iter()
            .map(|(t, w)| format!("topic {t}: {w:.0}/day"))
            .collect();
        format!(
            "{block}; {}",
            if per_topic.is_empty() {
                "no topic".to_owned()
            } else {
                per_topic.join(", ")
            }
        )
    }
}

/// What the node's emissions module is: the application's name and version
/// from `GetNodeInfo`, and the emissions protocol the chain speaks as the
/// worker detects it at start ([`ChainClient::detect_emissions`]: which
/// supported version's `QueryService` answers, and whether windows are
/// counted in blocks or on the wall clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmissionsCheck {
    /// The application's name and version, as the node reports them.
    pub application: String,
    /// The protocol detected (`emissions v10 (blocks)`), when one was.
    pub protocol: Option<String>,
    /// Whether this build speaks it.
    pub supported: bool,
    /// Why not, when it does not (or the node did not answer).
    pub error: Option<String>,
}

impl EmissionsCheck {
    fn line(&self, id: String) -> CheckLine {
        let data = serde_json::to_value(self).unwrap_or_default();
        match (&self.protocol, self.supported) {
            (Some(protocol), true) => {
                CheckLine::pass(id, format!("{protocol} ({})", self.application))
            }
            _ => CheckLine::fail(
                id,
                format!(
                    "no emissions version this build speaks ({}) answers ({}): {}",
                    crate::emissions::EmissionsVersion::supported_list(),
                    self.application,
                    self.error.as_deref().unwrap_or("no answer")
                ),
                "use an allora-worker that supports the chain's emissions version, or an endpoint that serves its emissions queries",
            ),
        }
        .data(data)
    }
}

/// Detects the emissions protocol a node's chain speaks, as the worker does
/// at start.
pub async fn detect_emissions(client: &ChainClient, info: &NodeInfo) -> EmissionsCheck {
    let application = describe_software(info);
    match client.detect_emissions().await {
        Ok(protocol) => EmissionsCheck {
            application,
            protocol: Some(protocol.to_string()),
            supported: true,
            error: None,
        },
        Err(e) => EmissionsCheck {
            application,
            protocol: None,
            supported: false,
            error: Some(e.to_string()),
        },
    }
}

fn describe_software(info: &NodeInfo) -> String {
    let mut text = match (info.app_name.is_empty(), info.app_version.is_empty()) {
        (false, false) => format!("{} {}", info.app_name, info.app_version),
        (false, true) => info.app_name.clone(),
        (true, false) => format!("version {}", info.app_version),
        (true, true) => "application version not reported".to_owned(),
    };
    if !info.cosmos_sdk_version.is_empty() {
        text.push_str(&format!(", cosmos-sdk {}", info.cosmos_sdk_version));
    }
    text
}

fn tier_name(tier: FeeTier) -> &'static str {
    match tier {
        FeeTier::Eco => "1.0 (eco)",
        FeeTier::Standard => "1.5 (standard)",
        FeeTier::Priority => "2.5 (priority)",
    }
}

fn round_ms(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_fails_when_any_line_fails_and_says_what_to_do() {
        let mut report = CheckReport::new(vec![
            CheckLine::pass("endpoint[0]", "reachable"),
            CheckLine::warn("websocket", "not configured", "set websocket_url"),
        ]);
        assert!(report.ok);
        report.push(CheckLine::fail("balance", "0 uallo", "fund it"));
        report.prepend(vec![CheckLine::pass("config", "valid")]);
        assert!(!report.ok);
        assert_eq!(report.checks[0].id, "config");
        let text = report.to_string();
        assert!(text.contains("FAIL balance"), "{text}");
        assert!(text.contains("-> fund it"), "{text}");
        assert!(
            text.ends_with("NOT ready: 1 check(s) failed; fix them and run check again\n"),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["checks"][3]["status"], "fail");
        assert_eq!(json["checks"][3]["remedy"], "fund it");
        assert!(json["checks"][0].get("remedy").is_none());
    }
}
