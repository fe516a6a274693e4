//! The worker's configuration: a TOML file, then environment overrides, then
//! validation into [`Settings`].
//!
//! The file format (every field but `topics` may instead come from the
//! environment; see [`ENV_VARS`]):
//!
//! ```toml
//! network = "testnet"           # a preset: chain id, endpoints, websocket, gas price
//! chain_id = "allora-testnet-1"  # each of these replaces the preset's
//! grpc_endpoints = ["https://grpc-a.example:443", "https://grpc-b.example:443"]
//! websocket_url = "wss://rpc.example/websocket"
//! data_dir = "/var/lib/allora-worker"
//! gas_price = "feemarket"        # or a number of uallo per gas, e.g. 10
//! fee_tier = "standard"          # eco | standard | priority
//! auto_register = false
//! metrics_addr = "127.0.0.1:9464"
//!
//! [key]
//! source = "aws-secret"          # file | env | aws-secret
//! secret_id = "allora/worker/mnemonic"
//!
//! [cloudwatch]
//! namespace = "Allora/Worker"
//!
//! [[topics]]
//! id = 1
//! token = "ETH"
//! inference_url = "http://127.0.0.1:8000/inference/{Token}"
//! timeout_secs = 10
//! ```
//!
//! With `network = "testnet"` (or `"mainnet"`, see
//! [`allora_sdk::network::Network`]) the chain id, gRPC endpoints,
//! websocket and gas price default to the network's; any of them written in
//! the file or set in the environment replaces the preset's value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use allora_infer::HttpProvider;
use allora_sdk::emissions::EmissionsVersion;
use allora_sdk::network::Network;
use allora_sdk::pipeline::GasPriceSource;
use allora_sdk::tx::{FeeTier, GasPrice};
use allora_sdk::worker::TopicSpec;
use serde::Deserialize;

use crate::error::AppError;

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "ALLORA_WORKER_CONFIG";
/// The environment variable holding a mnemonic (for containers); never logged.
pub const MNEMONIC_ENV: &str = "ALLORA_MNEMONIC";
/// The default metrics address: loopback only.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";
/// The default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "allora-worker-data";
/// The key file's name inside the data directory, when no path is given.
pub const DEFAULT_KEY_FILE_NAME: &str = "worker.key";

/// The default CloudWatch flush interval, in seconds.
pub const DEFAULT_CLOUDWATCH_FLUSH_SECS: u64 = 60;

/// The environment variables that override the file, and the field each sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("ALLORA_NETWORK", "network (testnet or mainnet)"),
    ("ALLORA_CHAIN_ID", "chain_id"),
    ("ALLORA_GRPC_ENDPOINTS", "grpc_endpoints (comma-separated)"),
    ("ALLORA_WEBSOCKET_URL", "websocket_url"),
    ("ALLORA_DATA_DIR", "data_dir"),
    ("ALLORA_KEY_SOURCE", "key.source (file, env or aws-secret)"),
    ("ALLORA_KEY_FILE", "key.file"),
    ("ALLORA_KEY_SECRET_ID", "key.secret_id"),
    (
        "ALLORA_MNEMONIC",
        "the mnemonic itself (key.source = \"env\")",
    ),
    (
        "ALLORA_GAS_PRICE",
        "gas_price (\"feemarket\" or uallo per gas)",
    ),
    ("ALLORA_FEE_TIER", "fee_tier"),
    ("ALLORA_AUTO_REGISTER", "auto_register (true/false)"),
    ("ALLORA_METRICS_ADDR", "metrics_addr"),
    ("ALLORA_CLOUDWATCH_NAMESPACE", "cloudwatch.namespace"),
    (
        "ALLORA_CLOUDWATCH_FLUSH_SECS",
        "cloudwatch.flush_interval_secs",
    ),
];

/// Refuses an `ALLORA_*` variable the worker does not read: a typo (or a
/// setting of another program) would otherwise be silently ignored.
pub fn check_variables<I, S>(names: I) -> Result<(), AppError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    for name in names {
        let name = name.as_ref();
        let known = name == CONFIG_ENV || ENV_VARS.iter().any(|(known, _)| *known == name);
        if name.starts_with("ALLORA_") && !known {
            return Err(AppError::UnknownVariable {
                name: name.to_owned(),
            });
        }
    }
    Ok(())
}

/// The file as written: every field optional so the environment can fill it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// A network preset (`testnet`, `mainnet`) giving defaults for the
    /// chain id, endpoints, websocket and gas price.
    pub network: Option<String>,
    /// Expected chain id (checked against the node).
    pub chain_id: Option<String>,
    /// gRPC endpoints, tried in order with failover.
    pub grpc_endpoints: Option<Vec<String>>,
    /// The node's CometBFT websocket (`ws://host:26657/websocket`).
    pub websocket_url: Option<String>,
    /// Where the submission record (and by default the key) lives.
    pub data_dir: Option<PathBuf>,
    /// Shorthand for `key.file`.
    pub key_file: Option<PathBuf>,
    /// Where the key comes from.
    pub key: Option<KeyConfig>,
    /// CloudWatch metrics (off unless a namespace is given).
    pub cloudwatch: Option<CloudWatchConfig>,
    /// `"feemarket"` or a static price in uallo per gas.
    pub gas_price: Option<GasPriceSetting>,
    /// `eco`, `standard` or `priority`.
    pub fee_tier: Option<String>,
    /// Register in configured topics where the worker is not registered.
    pub auto_register: Option<bool>,
    /// Where `/metrics` and `/healthz` are served.
    pub metrics_addr: Option<String>,
    /// Allow a non-loopback metrics address.
    pub allow_public_metrics: Option<bool>,
    /// `/healthz` fails when no block was seen for this long (default 60).
    pub health_max_block_age_secs: Option<u64>,
    /// The topics served.
    #[serde(default)]
    pub topics: Vec<TopicConfig>,
}

/// The `[key]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// `file`, `env` or `aws-secret`; inferred when absent.
    pub source: Option<String>,
    /// The key file (a mnemonic, mode 0600) of `source = "file"`.
    pub file: Option<PathBuf>,
    /// The Secrets Manager secret (name or ARN) of `source = "aws-secret"`.
    pub secret_id: Option<String>,
}

/// The `[cloudwatch]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchConfig {
    /// The metrics namespace; CloudWatch is on when it is set.
    pub namespace: Option<String>,
    /// How often buffered metrics are sent, in seconds (default 60).
    pub flush_interval_secs: Option<u64>,
}

/// A gas price as written: a number, or the name of a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum GasPriceSetting {
    /// uallo per gas.
    Uallo(u64),
    /// `"feemarket"`.
    Named(String),
}

/// One topic as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// The topic id (positive).
    pub id: u64,
    /// Token hint substituted for `{Token}` in URL templates.
    pub token: Option<String>,
    /// URL template of the inference server.
    pub inference_url: Option<String>,
    /// URL template of the forecast server, if the worker forecasts.
    pub forecast_url: Option<String>,
    /// Longest a provider call may take, in seconds (default 10).
    pub timeout_secs: Option<u64>,
}

/// Where the worker's key comes from (the key itself is loaded later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySetting {
    /// A key file.
    File(PathBuf),
    /// The mnemonic in [`MNEMONIC_ENV`].
    Env,
    /// An AWS Secrets Manager secret (name or ARN).
    AwsSecret(String),
}

/// Checked CloudWatch settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWatchSettings {
    /// The namespace.
    pub namespace: String,
    /// How often metrics are sent.
    pub flush_interval: Duration,
}

/// A checked topic.
#[derive(Debug, Clone)]
pub struct TopicSettings {
    /// The topic id.
    pub id: u64,
    /// The token hint.
    pub token: Option<String>,
    /// Inference URL template.
    pub inference_url: Option<String>,
    /// Forecast URL template.
    pub forecast_url: Option<String>,
    /// Provider timeout.
    pub timeout: Duration,
}

impl TopicSettings {
    /// The worker's view of this topic, with HTTP providers.
    pub fn to_spec(&self) -> Result<TopicSpec, AppError> {
        let field = |name: &str| format!("topics[id={}].{name}", self.id);
        let build = |name: &str, url: &str| {
            let mut builder = HttpProvider::builder(url).attempt_timeout(self.timeout);
            if let Some(token) = &self.token {
                builder = builder.token(token.clone());
            }
            builder.build().map_err(|e| AppError::ConfigValue {
                field: field(name),
                problem: e.to_string(),
            })
        };
        let inference = match &self.inference_url {
            Some(url) => Some(build("inference_url", url)?),
            None => None,
        };
        let forecast = match &self.forecast_url {
            Some(url) => Some(build("forecast_url", url)?),
            None => None,
        };
        let mut spec = match (inference, forecast) {
            (Some(i), Some(f)) => {
                TopicSpec::inference(self.id, Arc::new(i)).with_forecast(Arc::new(f))
            }
            (Some(i), None) => TopicSpec::inference(self.id, Arc::new(i)),
            (None, Some(f)) => TopicSpec::forecast(self.id, Arc::new(f)),
            (None, None) => {
                return Err(AppError::ConfigValue {
                    field: field("inference_url"),
                    problem: "a topic needs an inference_url, a forecast_url or both".into(),
                })
            }
        };
        if let Some(token) = &self.token {
            spec = spec.with_token(token.clone());
        }
        Ok(spec)
    }
}

/// A checked configuration.
#[derive(Debug)]
pub struct Settings {
    /// The network preset the settings started from, if any.
    pub network: Option<String>,
    /// The emissions version the preset lists (an expectation: the chain's
    /// own is detected).
    pub expected_emissions: Option<EmissionsVersion>,
    /// Expected chain id, if set.
    pub chain_id: Option<String>,
    /// gRPC endpoints.
    pub grpc_endpoints: Vec<String>,
    /// Websocket URL, if any.
    pub websocket_url: Option<String>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Where the key comes from.
    pub key: KeySetting,
    /// Gas price source.
    pub gas_price: GasPriceSource,
    /// Fee tier.
    pub fee_tier: FeeTier,
    /// Auto-registration.
    pub auto_register: bool,
    /// Metrics address.
    pub metrics_addr: SocketAddr,
    /// Whether a non-loopback metrics address is allowed.
    pub allow_public_metrics: bool,
    /// `/healthz` block-age limit.
    pub health_max_block_age: Duration,
    /// CloudWatch metrics, when configured.
    pub cloudwatch: Option<CloudWatchSettings>,
    /// Topics.
    pub topics: Vec<TopicSettings>,
}

/// Whether the user gave any configuration at all: a file, or one of the
/// worker's environment variables. Without any, `run` uses the embedded devnet.
pub fn any_configuration(config_path: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> bool {
    config_path.is_some()
        || env(CONFIG_ENV).is_some()
        || ENV_VARS.iter().any(|(name, _)| env(name).is_some())
}

/// The configuration file path: `--config`, else `ALLORA_WORKER_CONFIG`.
pub fn config_path(flag: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| env(CONFIG_ENV).filter(|s| !s.is_empty()).map(PathBuf::from))
}

/// Reads and parses a configuration file.
pub async fn read_file(path: &Path) -> Result<FileConfig, AppError> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|source| AppError::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
    parse(path, &text)
}

/// Parses configuration text; `path` is for messages.
pub fn parse(path: &Path, text: &str) -> Result<FileConfig, AppError> {
    toml::from_str(text).map_err(|e| AppError::ConfigSyntax {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })
}

fn invalid(field: &str, problem: impl Into<String>) -> AppError {
    AppError::ConfigValue {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// Applies the environment over the file and checks everything.
pub fn resolve(
    mut file: FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, AppError> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if let Some(v) = var("ALLORA_NETWORK") {
        file.network = Some(v);
    }
    if let Some(v) = var("ALLORA_CHAIN_ID") {
        file.chain_id = Some(v);
    }
    if let Some(v) = var("ALLORA_GRPC_ENDPOINTS") {
        file.grpc_endpoints = Some(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        );
    }
    if let Some(v) = var("ALLORA_WEBSOCKET_URL") {
        file.websocket_url = Some(v);
    }
    if let Some(v) = var("ALLORA_DATA_DIR") {
        file.data_dir = Some(PathBuf::from(v));
    }
    if let Some(v) = var("ALLORA_GAS_PRICE") {
        file.gas_price = Some(match v.trim().parse::<u64>() {
            Ok(n) => GasPriceSetting::Uallo(n),
            Err(_) => GasPriceSetting::Named(v),
        });
    }
    if let Some(v) = var("ALLORA_FEE_TIER") {
        file.fee_tier = Some(v);
    }
    if let Some(v) = var("ALLORA_AUTO_REGISTER") {
        file.auto_register = Some(match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" => false,
            _ => {
                return Err(invalid(
                    "ALLORA_AUTO_REGISTER",
                    format!("{v:?} is not a boolean; use true or false"),
                ))
            }
        });
    }
    if let Some(v) = var("ALLORA_METRICS_ADDR") {
        file.metrics_addr = Some(v);
    }
    let mut cloudwatch = file.cloudwatch.take().unwrap_or_default();
    if let Some(v) = var("ALLORA_CLOUDWATCH_NAMESPACE") {
        cloudwatch.namespace = Some(v);
    }
    if let Some(v) = var("ALLORA_CLOUDWATCH_FLUSH_SECS") {
        cloudwatch.flush_interval_secs = Some(v.trim().parse().map_err(|_| {
            invalid(
                "ALLORA_CLOUDWATCH_FLUSH_SECS",
                format!("{v:?} is not a whole number of seconds"),
            )
        })?);
    }
    let cloudwatch = resolve_cloudwatch(cloudwatch)?;
    let key_dir = file
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let key = resolve_key(&file, &key_dir, env)?;

    // A preset fills what neither the file nor the environment gave.
    let network = match &file.network {
        Some(name) => Some(Network::preset(name).map_err(|e| invalid("network", e.to_string()))?),
        None => None,
    };
    if let Some(net) = &network {
        if file.chain_id.is_none() {
            file.chain_id = Some(net.chain_id.clone());
        }
        if file.grpc_endpoints.is_none() {
            file.grpc_endpoints = Some(net.grpc_endpoints.clone());
        }
        if file.websocket_url.is_none() {
            file.websocket_url = net.websocket_url.clone();
        }
    }

    let chain_id = match file.chain_id {
        Some(id) if id.trim().is_empty() => {
            return Err(invalid(
                "chain_id",
                "is empty; set it to the chain's id (e.g. allora-testnet-1) or remove it",
            ))
        }
        other => other,
    };

    let grpc_endpoints = file.grpc_endpoints.unwrap_or_default();
    if grpc_endpoints.is_empty() {
        return Err(invalid("grpc_endpoints", "no gRPC endpoint is configured; list at least one, e.g. grpc_endpoints = [\"https://grpc.example:443\"] (or set ALLORA_GRPC_ENDPOINTS)"));
    }
    for (i, endpoint) in grpc_endpoints.iter().enumerate() {
        check_url(
            &format!("grpc_endpoints[{i}]"),
            endpoint,
            &["http", "https"],
        )?;
    }

    if let Some(ws) = &file.websocket_url {
        check_url("websocket_url", ws, &["ws", "wss"])?;
    }

    let data_dir = key_dir;
    if data_dir.as_os_str().is_empty() {
        return Err(invalid(
            "data_dir",
            "is empty; set a directory for the submission record",
        ));
    }

    let gas_price = match file.gas_price {
        None => match &network {
            Some(net) => net.gas_price.clone(),
            None => GasPriceSource::Static(GasPrice::from_uallo(10)),
        },
        Some(GasPriceSetting::Uallo(0)) => {
            return Err(invalid(
                "gas_price",
                "is 0; use a positive number of uallo per gas or \"feemarket\"",
            ))
        }
        Some(GasPriceSetting::Uallo(n)) => GasPriceSource::Static(GasPrice::from_uallo(n)),
        Some(GasPriceSetting::Named(name)) if name.trim().eq_ignore_ascii_case("feemarket") => {
            GasPriceSource::Feemarket {
                multiplier_percent: 120,
                cache_for: Duration::from_secs(30),
                fallback: GasPrice::from_uallo(10),
            }
        }
        Some(GasPriceSetting::Named(other)) => {
            return Err(invalid(
                "gas_price",
                format!(
                    "{other:?} is not understood; use \"feemarket\" or a number of uallo per gas"
                ),
            ))
        }
    };

    let fee_tier = match file.fee_tier {
        None => FeeTier::Standard,
        Some(tier) => FeeTier::from_str(tier.trim()).map_err(|_| {
            invalid(
                "fee_tier",
                format!("{tier:?} is not a fee tier; use eco, standard or priority"),
            )
        })?,
    };

    let metrics_text = file
        .metrics_addr
        .unwrap_or_else(|| DEFAULT_METRICS_ADDR.to_owned());
    let metrics_addr = SocketAddr::from_str(metrics_text.trim()).map_err(|e| {
        invalid(
            "metrics_addr",
            format!("{metrics_text:?} is not an address ({e}); use IP:PORT, e.g. 127.0.0.1:9464"),
        )
    })?;

    let health_max_block_age = Duration::from_secs(file.health_max_block_age_secs.unwrap_or(60));
    if health_max_block_age.is_zero() {
        return Err(invalid("health_max_block_age_secs", "must be positive"));
    }

    if file.topics.is_empty() {
        return Err(invalid(
            "topics",
            "no topic is configured; add a [[topics]] table with id and inference_url",
        ));
    }
    let mut topics = Vec::with_capacity(file.topics.len());
    for (i, topic) in file.topics.into_iter().enumerate() {
        let field = |name: &str| format!("topics[{i}].{name}");
        if topic.id == 0 {
            return Err(invalid(
                &field("id"),
                "topic id 0 does not exist; topic ids start at 1",
            ));
        }
        if topics.iter().any(|t: &TopicSettings| t.id == topic.id) {
            return Err(invalid(
                &field("id"),
                format!("topic {} is configured twice; keep one entry", topic.id),
            ));
        }
        if let Some(token) = &topic.token {
            if token.trim().is_empty() || token.contains(['/', '?', '#', ' ']) {
                return Err(invalid(
                    &field("token"),
                    format!("{token:?} is not a usable token; use a symbol such as ETH"),
                ));
            }
        }
        let timeout = Duration::from_secs(topic.timeout_secs.unwrap_or(10));
        if timeout.is_zero() {
            return Err(invalid(&field("timeout_secs"), "must be positive"));
        }
        let settings = TopicSettings {
            id: topic.id,
            token: topic.token,
            inference_url: topic.inference_url,
            forecast_url: topic.forecast_url,
            timeout,
        };
        // Builds the providers once now so a bad template is reported at
        // start-up with its field, not at the first epoch.
        settings.to_spec().map_err(|e| match e {
            AppError::ConfigValue { problem, .. } if problem.contains("needs an inference_url") => {
                invalid(&field("inference_url"), problem)
            }
            other => other,
        })?;
        topics.push(settings);
    }

    Ok(Settings {
        expected_emissions: network.as_ref().and_then(|n| n.emissions),
        network: network.map(|n| n.name),
        chain_id,
        grpc_endpoints,
        websocket_url: file.websocket_url,
        data_dir,
        key,
        gas_price,
        fee_tier,
        auto_register: file.auto_register.unwrap_or(false),
        metrics_addr,
        allow_public_metrics: file.allow_public_metrics.unwrap_or(false),
        health_max_block_age,
        cloudwatch,
        topics,
    })
}

fn resolve_cloudwatch(config: CloudWatchConfig) -> Result<Option<CloudWatchSettings>, AppError> {
    let Some(namespace) = config.namespace else {
        if config.flush_interval_secs.is_some() {
            return Err(invalid(
                "cloudwatch.namespace",
                "is not set, so CloudWatch is off; set it (e.g. \"Allora/Worker\") or remove [cloudwatch]",
            ));
        }
        return Ok(None);
    };
    let namespace = namespace.trim().to_owned();
    if namespace.is_empty() || namespace.len() > 255 || namespace.starts_with("AWS/") {
        return Err(invalid(
            "cloudwatch.namespace",
            format!("{namespace:?} is not usable: 1-255 characters, not starting with \"AWS/\""),
        ));
    }
    let secs = config
        .flush_interval_secs
        .unwrap_or(DEFAULT_CLOUDWATCH_FLUSH_SECS);
    if secs == 0 {
        return Err(invalid(
            "cloudwatch.flush_interval_secs",
            "must be positive",
        ));
    }
    Ok(Some(CloudWatchSettings {
        namespace,
        flush_interval: Duration::from_secs(secs),
    }))
}

/// Where the key comes from: `ALLORA_KEY_SOURCE`, else `key.source`, else
/// inferred (`ALLORA_MNEMONIC` set: env; a secret id: aws-secret; otherwise
/// the key file, by default `worker.key` in the data directory).
pub fn resolve_key(
    file: &FileConfig,
    data_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KeySetting, AppError> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let table = file.key.clone().unwrap_or_default();
    let key_file = match (&file.key_file, &table.file) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "key_file",
                "is set together with key.file; keep one of them",
            ))
        }
        (a, b) => var("ALLORA_KEY_FILE")
            .map(PathBuf::from)
            .or_else(|| a.clone().or_else(|| b.clone())),
    };
    let secret_id = var("ALLORA_KEY_SECRET_ID").or(table.secret_id);
    let mnemonic_set = var(MNEMONIC_ENV).is_some();
    let (field, explicit) = match var("ALLORA_KEY_SOURCE") {
        Some(source) => ("ALLORA_KEY_SOURCE", Some(source)),
        None => ("key.source", table.source),
    };
    let source = match explicit.as_deref().map(str::trim) {
        Some(name) => name.to_ascii_lowercase(),
        None if mnemonic_set => "env".to_owned(),
        None if secret_id.is_some() => "aws-secret".to_owned(),
        None => "file".to_owned(),
    };
    if mnemonic_set && source != "env" {
        return Err(invalid(
            MNEMONIC_ENV,
            format!("is set, but the key source is {source:?}; unset {MNEMONIC_ENV} or choose key.source = \"env\""),
        ));
    }
    match source.as_str() {
        "file" => Ok(KeySetting::File(
            key_file.unwrap_or_else(|| data_dir.join(DEFAULT_KEY_FILE_NAME)),
        )),
        "env" if mnemonic_set => Ok(KeySetting::Env),
        "env" => Err(invalid(
            field,
            format!("is \"env\" but {MNEMONIC_ENV} is not set; set it to the 12 or 24 words"),
        )),
        "aws-secret" => match secret_id {
            Some(id) if !id.trim().is_empty() => Ok(KeySetting::AwsSecret(id.trim().to_owned())),
            _ => Err(invalid(
                "key.secret_id",
                "is needed with key.source = \"aws-secret\"; set the secret's name or ARN (or ALLORA_KEY_SECRET_ID)",
            )),
        },
        other => Err(invalid(
            field,
            format!("{other:?} is not a key source; use file, env or aws-secret"),
        )),
    }
}

fn check_url(field: &str, text: &str, schemes: &[&str]) -> Result<(), AppError> {
    let url = url::Url::parse(text.trim()).map_err(|e| {
        invalid(
            field,
            format!(
                "{text:?} is not a URL ({e}); write it with its scheme, e.g. {}://host:port",
                schemes[0]
            ),
        )
    })?;
    if !schemes.contains(&url.scheme()) {
        return Err(invalid(
            field,
            format!(
                "{text:?} has scheme {:?}; use {}",
                url.scheme(),
                schemes.join(" or ")
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(field, format!("{text:?} has no host")));
    }
    Ok(())
}

/// Loads the configuration: the file (`--config` or `ALLORA_WORKER_CONFIG`),
/// if any, with the environment over it.
pub async fn load(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, AppError> {
    let file = match config_path(flag, env) {
        Some(path) => read_file(&path).await?,
        None => FileConfig::default(),
    };
    resolve(file, env)
}

/// The key setting alone, for the `keys` commands: the file (if any) with
/// the environment over it, without requiring the rest of a configuration.
pub async fn key_setting(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KeySetting, AppError> {
    let mut file = match config_path(flag, env) {
        Some(path) => read_file(&path).await?,
        None => FileConfig::default(),
    };
    let data_dir = env("ALLORA_DATA_DIR")
        .filter(|v| !v.trim().is_empty())
        .map(PathBuf::from)
        .or(file.data_dir.take())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    resolve_key(&file, &data_dir, env)
}

/// Reads a variable of the process environment (empty counts as unset).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const GOOD: &str = r#"
chain_id = "allora-testnet-1"
grpc_endpoints = ["http://127.0.0.1:9090", "https://grpc.example:443"]
websocket_url = "ws://127.0.0.1:26657/websocket"
data_dir = "/tmp/w"
gas_price = "feemarket"
fee_tier = "priority"

[[topics]]
id = 1
token = "ETH"
inference_url = "http://127.0.0.1:8000/inference/{Token}"
"#;

    const TOPIC: &str = r#"
[[topics]]
id = 69
inference_url = "http://127.0.0.1:8000/inference/{Token}"
"#;

    #[test]
    fn a_network_preset_fills_the_chain_settings_and_each_field_replaces_its_value() {
        let file = parse(
            Path::new("w.toml"),
            &format!("network = \"testnet\"\n{TOPIC}"),
        )
        .unwrap();
        let s = resolve(file, &no_env).unwrap();
        let testnet = Network::testnet();
        assert_eq!(s.network.as_deref(), Some("testnet"));
        assert_eq!(s.chain_id.as_deref(), Some("allora-testnet-1"));
        assert_eq!(s.grpc_endpoints, testnet.grpc_endpoints);
        assert_eq!(s.websocket_url, testnet.websocket_url);
        assert_eq!(s.gas_price, testnet.gas_price);
        assert_eq!(s.expected_emissions, Some(EmissionsVersion::V10));

        let text = format!(
            "network = \"mainnet\"\ngrpc_endpoints = [\"http://127.0.0.1:9090\"]\ngas_price = 25\n{TOPIC}"
        );
        let file = parse(Path::new("w.toml"), &text).unwrap();
        let env = |name: &str| {
            (name == "ALLORA_WEBSOCKET_URL").then(|| "ws://127.0.0.1:26657/websocket".to_owned())
        };
        let s = resolve(file, &env).unwrap();
        assert_eq!(s.chain_id.as_deref(), Some("allora-mainnet-1"));
        assert_eq!(s.grpc_endpoints, ["http://127.0.0.1:9090"]);
        assert_eq!(
            s.websocket_url.as_deref(),
            Some("ws://127.0.0.1:26657/websocket")
        );
        assert_eq!(
            s.gas_price,
            GasPriceSource::Static(GasPrice::from_uallo(25))
        );
        assert_eq!(s.expected_emissions, Some(EmissionsVersion::V9));

        // The environment picks the preset too; an unknown name is refused.
        let file = parse(Path::new("w.toml"), TOPIC).unwrap();
        let env = |name: &str| (name == "ALLORA_NETWORK").then(|| "mainnet".to_owned());
        assert_eq!(
            resolve(file, &env).unwrap().chain_id.as_deref(),
            Some("allora-mainnet-1")
        );
        let file = parse(
            Path::new("w.toml"),
            &format!("network = \"devnet\"\n{TOPIC}"),
        )
        .unwrap();
        let err = resolve(file, &no_env).unwrap_err().to_string();
        assert!(
            err.contains("network") && err.contains("testnet, mainnet"),
            "{err}"
        );
    }

    #[test]
    fn a_good_file_resolves() {
        let file = parse(Path::new("w.toml"), GOOD).unwrap();
        let s = resolve(file, &no_env).unwrap();
        assert_eq!(s.grpc_endpoints.len(), 2);
        assert_eq!(s.fee_tier, FeeTier::Priority);
        assert!(matches!(s.gas_price, GasPriceSource::Feemarket { .. }));
        assert_eq!(s.key, KeySetting::File("/tmp/w/worker.key".into()));
        assert_eq!(s.cloudwatch, None);
        assert_eq!(s.metrics_addr, DEFAULT_METRICS_ADDR.parse().unwrap());
        assert_eq!(s.topics[0].timeout, Duration::from_secs(10));
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = parse(Path::new("w.toml"), GOOD).unwrap();
        let env = |name: &str| match name {
            "ALLORA_GRPC_ENDPOINTS" => Some("http://a:1, http://b:2".to_owned()),
            "ALLORA_GAS_PRICE" => Some("25".to_owned()),
            "ALLORA_METRICS_ADDR" => Some("127.0.0.1:0".to_owned()),
            _ => None,
        };
        let s = resolve(file, &env).unwrap();
        assert_eq!(s.grpc_endpoints, ["http://a:1", "http://b:2"]);
        assert!(matches!(s.gas_price, GasPriceSource::Static(p) if p == GasPrice::from_uallo(25)));
        assert_eq!(s.metrics_addr.port(), 0);
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = parse(Path::new("w.toml"), "grpc_endpoint = [\"http://a:1\"]\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("grpc_endpoint"), "{text}");
        assert!(text.contains("w.toml"), "{text}");
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (
                GOOD.replace("http://127.0.0.1:9090", "127.0.0.1:9090"),
                "grpc_endpoints[0]",
            ),
            (
                GOOD.replace("ws://127.0.0.1", "http://127.0.0.1"),
                "websocket_url",
            ),
            (GOOD.replace("id = 1", "id = 0"), "topics[0].id"),
            (
                GOOD.replace("{Token}", "{Coin}"),
                "topics[id=1].inference_url",
            ),
            (GOOD.replace("\"priority\"", "\"fastest\""), "fee_tier"),
            (GOOD.replace("\"feemarket\"", "\"cheap\""), "gas_price"),
        ];
        for (text, field) in cases {
            let file = parse(Path::new("w.toml"), &text).unwrap();
            let err = resolve(file, &no_env).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    /// The key setting of GOOD with `top` before it (top-level keys),
    /// `tables` after it, and `vars` as the environment.
    fn key_of(top: &str, tables: &str, vars: &[(&str, &str)]) -> Result<KeySetting, AppError> {
        let file = parse(Path::new("w.toml"), &format!("{top}\n{GOOD}\n{tables}")).unwrap();
        let env = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        resolve(file, &env).map(|s| s.key)
    }

    #[test]
    fn the_key_source_is_chosen_by_file_then_environment() {
        let secret = "[key]\nsource = \"aws-secret\"\nsecret_id = \"allora/worker\"\n";
        assert_eq!(
            key_of("", secret, &[]).unwrap(),
            KeySetting::AwsSecret("allora/worker".into())
        );
        // A secret id alone implies the source.
        assert_eq!(
            key_of("", "[key]\nsecret_id = \"s\"\n", &[]).unwrap(),
            KeySetting::AwsSecret("s".into())
        );
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:w-AbCdEf";
        assert_eq!(
            key_of("", secret, &[("ALLORA_KEY_SECRET_ID", arn)]).unwrap(),
            KeySetting::AwsSecret(arn.into())
        );
        assert_eq!(
            key_of(
                "",
                secret,
                &[("ALLORA_KEY_SOURCE", "file"), ("ALLORA_KEY_FILE", "/k")]
            )
            .unwrap(),
            KeySetting::File("/k".into())
        );
        assert_eq!(
            key_of("key_file = \"/a.key\"", "", &[]).unwrap(),
            KeySetting::File("/a.key".into())
        );
        assert_eq!(
            key_of("", "", &[(MNEMONIC_ENV, "words")]).unwrap(),
            KeySetting::Env
        );
        // A mnemonic in the environment beside another configured source is
        // ambiguous: refused, naming the variable but not its value.
        let err = key_of("", secret, &[(MNEMONIC_ENV, "hunter2")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(MNEMONIC_ENV) && !err.contains("hunter2"),
            "{err}"
        );
        let err = key_of("", "[key]\nsource = \"aws-secret\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("key.secret_id"), "{err}");
        let err = key_of("", "[key]\nsource = \"vault\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("key.source"), "{err}");
        let err = key_of("", "", &[("ALLORA_KEY_SOURCE", "env")]).unwrap_err();
        assert!(err.to_string().contains(MNEMONIC_ENV), "{err}");
        let err = key_of("key_file = \"/a\"", "[key]\nfile = \"/b\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("key_file"), "{err}");
    }

    #[test]
    fn cloudwatch_is_on_with_a_namespace() {
        let file = parse(
            Path::new("w.toml"),
            &format!("{GOOD}\n[cloudwatch]\nnamespace = \"Allora/Test\"\n"),
        )
        .unwrap();
        let s = resolve(file, &no_env).unwrap();
        assert_eq!(
            s.cloudwatch,
            Some(CloudWatchSettings {
                namespace: "Allora/Test".into(),
                flush_interval: Duration::from_secs(DEFAULT_CLOUDWATCH_FLUSH_SECS),
            })
        );
        let file = parse(Path::new("w.toml"), GOOD).unwrap();
        let env = |name: &str| match name {
            "ALLORA_CLOUDWATCH_NAMESPACE" => Some("Env/Ns".to_owned()),
            "ALLORA_CLOUDWATCH_FLUSH_SECS" => Some("5".to_owned()),
            _ => None,
        };
        let cw = resolve(file, &env).unwrap().cloudwatch.unwrap();
        assert_eq!(cw.namespace, "Env/Ns");
        assert_eq!(cw.flush_interval, Duration::from_secs(5));
        for bad in ["AWS/EC2", ""] {
            let file = parse(
                Path::new("w.toml"),
                &format!("{GOOD}\n[cloudwatch]\nnamespace = \"{bad}\"\n"),
            )
            .unwrap();
            let err = resolve(file, &no_env).unwrap_err().to_string();
            assert!(err.contains("cloudwatch.namespace"), "{err}");
        }
    }

    #[test]
    fn unknown_allora_variables_are_named() {
        assert!(check_variables(["ALLORA_CHAIN_ID", "PATH", "ALLORA_WORKER_CONFIG"]).is_ok());
        let err = check_variables(["HOME", "ALLORA_INFERENCE_URL"]).unwrap_err();
        assert!(err.to_string().contains("ALLORA_INFERENCE_URL"), "{err}");
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../config/worker.example.toml");
        let file = parse(Path::new("worker.example.toml"), text).unwrap();
        let s = resolve(file, &no_env).unwrap();
        assert_eq!(s.topics.len(), 2);
        assert_eq!(s.chain_id.as_deref(), Some("allora-testnet-1"));
        assert_eq!(
            s.key,
            KeySetting::File("/var/lib/allora-worker/worker.key".into())
        );
        // The commented CloudWatch table, uncommented, is valid too.
        let text = text
            .replace("# [cloudwatch]", "[cloudwatch]")
            .replace("# namespace =", "namespace =")
            .replace("# flush_interval_secs =", "flush_interval_secs =");
        let s = resolve(
            parse(Path::new("worker.example.toml"), &text).unwrap(),
            &no_env,
        )
        .unwrap();
        assert_eq!(s.cloudwatch.unwrap().namespace, "Allora/Worker");
    }

    #[test]
    fn no_configuration_is_detected() {
        assert!(!any_configuration(None, &no_env));
        assert!(any_configuration(Some(Path::new("x.toml")), &no_env));
        let env = |name: &str| (name == "ALLORA_CHAIN_ID").then(|| "x".to_owned());
        assert!(any_configuration(None, &env));
    }
}
