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
//! gas_price = "feemarket"        # or uallo per gas: 10, 0.08 or "0.08"
//! fee_granter = "allo1..."       # optional: an account paying the fees under a fee grant
//! fee_tier = "standard"          # eco | standard | priority
//! max_fee_uallo = 500000         # most one transaction may pay (optional)
//! auto_register = false
//! metrics_addr = "127.0.0.1:9464"
//!
//! [key]
//! source = "aws-secret"          # file | env | aws-secret | kms | remote
//! secret_id = "allora/worker/mnemonic"
//!
//! [cloudwatch]
//! namespace = "Allora/Worker"
//!
//! [[topics]]
//! id = 1
//! token = "ETH"
//! inference_url = "http://127.0.0.1:8000/inference/{Token}"
//! forecast_url = "http://127.0.0.1:8000/forecast/{Token}"   # optional
//! timeout_secs = 10
//! forecast_timeout_secs = 5      # the forecast's own deadline (optional)
//! refuse_zero = true             # refuse an inference of 0 (optional)
//! min_value = 100                # refuse values below (optional)
//! max_value = "100000"           # refuse values above (optional)
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

use allora_aws::KmsMessageType;
use allora_infer::{Dec, HttpProvider};
use allora_sdk::check::{Preflight, TopicProbe};
use allora_sdk::client::ChainClient;
use allora_sdk::emissions::EmissionsVersion;
use allora_sdk::keys::{Address, PublicKey};
use allora_sdk::network::Network;
use allora_sdk::pipeline::GasPriceSource;
use allora_sdk::signer::SharedSigner;
use allora_sdk::tx::{FeeTier, GasPrice};
use allora_sdk::worker::{TopicSpec, ValueGuard, Worker, WorkerBuilder};
use serde::Deserialize;

use crate::error::AppError;

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "ALLORA_WORKER_CONFIG";
/// The environment variable holding a mnemonic (for containers); never logged.
pub const MNEMONIC_ENV: &str = "ALLORA_MNEMONIC";
/// The environment variable holding the remote signer's bearer token; never
/// logged.
pub const REMOTE_SIGNER_TOKEN_ENV: &str = "ALLORA_REMOTE_SIGNER_TOKEN";
/// The default metrics address: loopback only.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";
/// [`DEFAULT_METRICS_ADDR`] as an address.
pub const DEFAULT_METRICS_SOCKET: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9464);
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
    (
        "ALLORA_KEY_SOURCE",
        "key.source (file, env, aws-secret, kms or remote)",
    ),
    ("ALLORA_KEY_FILE", "key.file"),
    ("ALLORA_KEY_SECRET_ID", "key.secret_id"),
    (
        "ALLORA_MNEMONIC",
        "the mnemonic itself (key.source = \"env\")",
    ),
    ("ALLORA_KEY_KMS_KEY_ID", "key.kms_key_id"),
    ("ALLORA_KEY_KMS_MESSAGE_TYPE", "key.kms_message_type"),
    ("ALLORA_KEY_REMOTE_URL", "key.remote_url"),
    ("ALLORA_KEY_REMOTE_PUBLIC_KEY", "key.remote_public_key"),
    ("ALLORA_KEY_REMOTE_TOKEN_FILE", "key.remote_token_file"),
    (
        "ALLORA_REMOTE_SIGNER_TOKEN",
        "the remote signer's bearer token itself (key.source = \"remote\")",
    ),
    (
        "ALLORA_GAS_PRICE",
        "gas_price (\"feemarket\" or uallo per gas, e.g. 0.08)",
    ),
    ("ALLORA_FEE_GRANTER", "fee_granter (an allo1... address)"),
    ("ALLORA_FEE_TIER", "fee_tier"),
    (
        "ALLORA_MAX_FEE_UALLO",
        "max_fee_uallo (uallo per transaction)",
    ),
    ("ALLORA_AUTO_REGISTER", "auto_register (true/false)"),
    ("ALLORA_METRICS_ADDR", "metrics_addr"),
    ("ALLORA_CLOUDWATCH_NAMESPACE", "cloudwatch.namespace"),
    (
        "ALLORA_CLOUDWATCH_FLUSH_SECS",
        "cloudwatch.flush_interval_secs",
    ),
];

/// What is wrong with the configuration, with the field or variable and
/// what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}; check the path given with --config or ALLORA_WORKER_CONFIG")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML of the expected shape.
    #[error("invalid configuration file {path}: {message}\nsee examples/config/worker.example.toml for the expected format")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (it names the field, line and column).
        message: String,
    },
    /// A configuration value is unusable.
    #[error("invalid configuration: `{field}`: {problem}")]
    Value {
        /// The field (`topics[1].inference_url`, or an environment variable).
        field: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// An `ALLORA_*` environment variable the worker does not read.
    #[error("unknown environment variable {name}: allora-worker does not read it; remove it or correct its name (the variables it reads are listed in examples/config/worker.example.toml)")]
    UnknownVariable {
        /// The variable.
        name: String,
    },
}

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
            return Err(ConfigError::UnknownVariable {
                name: name.to_owned(),
            }
            .into());
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
    /// `"feemarket"` or a static price in uallo per gas (a TOML integer,
    /// float or decimal string: `10`, `0.08`, `"0.08"`).
    pub gas_price: Option<GasPriceSetting>,
    /// An account that pays the transaction fees under a fee grant
    /// (`Fee.granter`); the worker still pays registration and data fees.
    pub fee_granter: Option<String>,
    /// `eco`, `standard` or `priority`.
    pub fee_tier: Option<String>,
    /// The most one transaction may pay, in uallo.
    pub max_fee_uallo: Option<u64>,
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
    /// `file`, `env`, `aws-secret`, `kms` or `remote`; inferred when absent.
    pub source: Option<String>,
    /// The key file (a mnemonic, mode 0600) of `source = "file"`.
    pub file: Option<PathBuf>,
    /// The Secrets Manager secret (name or ARN) of `source = "aws-secret"`.
    pub secret_id: Option<String>,
    /// The KMS key (key id, key ARN, alias name or alias ARN) of
    /// `source = "kms"`.
    pub kms_key_id: Option<String>,
    /// What is sent to KMS: `digest` (the default) or `raw`.
    pub kms_message_type: Option<String>,
    /// The signing service's URL of `source = "remote"`.
    pub remote_url: Option<String>,
    /// The worker's compressed public key (66 hex digits) held by the
    /// signing service.
    pub remote_public_key: Option<String>,
    /// A file holding the signing service's bearer token (mode 0600).
    pub remote_token_file: Option<PathBuf>,
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

/// A gas price as written: a whole or fractional number of uallo per gas,
/// or text (`"feemarket"`, or a decimal such as `"0.08"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum GasPriceSetting {
    /// A TOML integer: whole uallo per gas.
    Uallo(u64),
    /// A TOML float: uallo per gas, read through its shortest decimal
    /// spelling (`0.08` is exactly 0.08).
    Fractional(f64),
    /// A string: `"feemarket"` or a decimal number of uallo per gas.
    Named(String),
}

/// What a gas price may be written as, for error messages.
const GAS_PRICE_FORMS: &str = "use \"feemarket\" or a positive number of uallo per gas with up to 18 decimal places, e.g. 10, 0.08 or \"0.08\"";

/// The gas price source of a setting; `field` names where it was written
/// (`gas_price`, or `ALLORA_GAS_PRICE`).
fn resolve_gas_price(
    setting: Option<GasPriceSetting>,
    field: &str,
) -> Result<GasPriceSource, AppError> {
    let text = match setting {
        None => return Ok(GasPriceSource::Static(GasPrice::from_uallo(10))),
        Some(GasPriceSetting::Uallo(n)) => n.to_string(),
        // Rust prints the shortest decimal that reads back as the same
        // float: 0.08, not 0.0800000000000000016653...
        Some(GasPriceSetting::Fractional(x)) => x.to_string(),
        Some(GasPriceSetting::Named(name)) if name.trim().eq_ignore_ascii_case("feemarket") => {
            return Ok(GasPriceSource::Feemarket {
                multiplier_percent: 120,
                cache_for: Duration::from_secs(30),
                fallback: GasPrice::from_uallo(10),
            })
        }
        Some(GasPriceSetting::Named(text)) => text,
    };
    match GasPrice::from_decimal(&text) {
        Ok(price) if price.is_zero() => Err(invalid(
            field,
            format!("is {text}: a zero gas price pays no fee; {GAS_PRICE_FORMS}"),
        )),
        Ok(price) => Ok(GasPriceSource::Static(price)),
        Err(e) => Err(invalid(
            field,
            format!("{text:?} is not a gas price ({e}); {GAS_PRICE_FORMS}"),
        )),
    }
}

/// The fee granter of a setting, checked as an address; `field` names
/// where it was written.
fn resolve_fee_granter(text: Option<&str>, field: &str) -> Result<Option<Address>, AppError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    Address::from_str(text).map(Some).map_err(|e| {
        invalid(
            field,
            format!("{text:?} is not an account address ({e}); give the granter's allo1... address or remove it"),
        )
    })
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
    /// Longest the forecast call may take, in seconds (default
    /// `timeout_secs`).
    pub forecast_timeout_secs: Option<u64>,
    /// Refuse an inference of zero.
    pub refuse_zero: Option<bool>,
    /// Refuse inference values below this.
    pub min_value: Option<NumberSetting>,
    /// Refuse inference values above this.
    pub max_value: Option<NumberSetting>,
}

/// A decimal as written: a TOML number, or a string holding one (exact).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NumberSetting {
    /// An integer.
    Integer(i64),
    /// A float (taken as its shortest decimal form).
    Float(f64),
    /// Decimal text.
    Text(String),
}

impl NumberSetting {
    fn to_dec(&self, field: &str) -> Result<Dec, AppError> {
        let parsed = match self {
            NumberSetting::Integer(n) => Ok(Dec::from(*n)),
            NumberSetting::Float(x) => Dec::try_from(*x),
            NumberSetting::Text(text) => text.parse(),
        };
        parsed.map_err(|e| invalid(field, format!("is not a usable number: {e}")))
    }
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
    /// An AWS KMS `ECC_SECG_P256K1` key: the private key never leaves KMS.
    Kms {
        /// Key id, key ARN, alias name or alias ARN.
        key_id: String,
        /// What is sent to KMS.
        message_type: KmsMessageType,
    },
    /// A signing service over HTTP.
    Remote {
        /// Its URL.
        url: String,
        /// The worker's public key, which the service holds.
        public_key: PublicKey,
        /// Where the bearer token comes from (read when the key is loaded).
        token: RemoteToken,
    },
}

/// Where the remote signer's bearer token comes from: read only when the
/// signer is loaded, so it never sits in the settings.
pub type RemoteToken = allora_sdk::key_source::BearerToken;

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
    /// The forecast provider's own timeout.
    pub forecast_timeout: Duration,
    /// Guard rails on inference values.
    pub guard: ValueGuard,
}

impl TopicSettings {
    /// The worker's view of this topic, with HTTP providers.
    pub fn to_spec(&self) -> Result<TopicSpec, AppError> {
        let field = |name: &str| format!("topics[id={}].{name}", self.id);
        let build = |name: &str, url: &str, timeout: Duration| {
            let mut builder = HttpProvider::builder(url).attempt_timeout(timeout);
            if let Some(token) = &self.token {
                builder = builder.token(token.clone());
            }
            builder.build().map_err(|e| ConfigError::Value {
                field: field(name),
                problem: e.to_string(),
            })
        };
        let inference = match &self.inference_url {
            Some(url) => Some(build("inference_url", url, self.timeout)?),
            None => None,
        };
        let forecast = match &self.forecast_url {
            Some(url) => Some(build("forecast_url", url, self.forecast_timeout)?),
            None => None,
        };
        let mut spec = match (inference, forecast) {
            (Some(i), Some(f)) => {
                TopicSpec::inference(self.id, Arc::new(i)).with_forecast(Arc::new(f))
            }
            (Some(i), None) => TopicSpec::inference(self.id, Arc::new(i)),
            (None, Some(f)) => TopicSpec::forecast(self.id, Arc::new(f)),
            (None, None) => {
                return Err(invalid(
                    &field("inference_url"),
                    "a topic needs an inference_url, a forecast_url or both",
                ))
            }
        };
        if let Some(token) = &self.token {
            spec = spec.with_token(token.clone());
        }
        Ok(spec
            .with_guard(self.guard.clone())
            .with_inference_timeout(self.timeout)
            .with_forecast_timeout(self.forecast_timeout))
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
    /// Who pays the transaction fees under a fee grant, if not the worker.
    pub fee_granter: Option<Address>,
    /// Fee tier.
    pub fee_tier: FeeTier,
    /// The most one transaction may pay, in uallo.
    pub max_fee: Option<u128>,
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

impl Settings {
    /// A worker builder with everything these settings say: the client and
    /// key given, the record, registration, fees, websocket, chain id, and
    /// each topic with its HTTP providers (the longest topic timeout bounds
    /// every provider call). Add observers, then build.
    pub fn worker_builder(
        &self,
        client: ChainClient,
        signer: SharedSigner,
    ) -> Result<WorkerBuilder, AppError> {
        let mut builder = Worker::builder()
            .client(client)
            .signer(signer.signer().clone())
            .data_dir(self.data_dir.clone())
            .auto_register(self.auto_register)
            .gas_price_source(self.gas_price.clone())
            .fee_tier(self.fee_tier);
        if let Some(granter) = &self.fee_granter {
            builder = builder.fee_granter(granter.clone());
        }
        if let Some(max_fee) = self.max_fee {
            builder = builder.max_fee(max_fee);
        }
        if let Some(ws) = &self.websocket_url {
            builder = builder.websocket(ws.clone());
        }
        if let Some(chain_id) = &self.chain_id {
            builder = builder.chain_id(chain_id.clone());
        }
        if let Some(version) = self.expected_emissions {
            builder = builder.expected_emissions(version);
        }
        if let Some(longest) = self.topics.iter().map(|t| t.timeout).max() {
            builder = builder.provider_timeout(longest);
        }
        for topic in &self.topics {
            builder = builder.topic(topic.to_spec()?);
        }
        Ok(builder)
    }
}

impl Settings {
    /// The pre-flight checks of these settings for the worker `address`
    /// (`None`: the key could not be loaded), with each topic's providers.
    pub fn preflight(&self, address: Option<Address>) -> Result<Preflight, AppError> {
        let mut preflight = Preflight::new(self.grpc_endpoints.iter().cloned());
        preflight.chain_id = self.chain_id.clone();
        preflight.websocket = self.websocket_url.clone();
        preflight.address = address;
        preflight.fee_granter = self.fee_granter.clone();
        preflight.gas_price = self.gas_price.clone();
        preflight.fee_tier = self.fee_tier;
        preflight.auto_register = self.auto_register;
        for topic in &self.topics {
            let mut probe = TopicProbe::from_spec(&topic.to_spec()?, topic.timeout);
            probe.inference_source = topic
                .inference_url
                .as_ref()
                .map(|u| format!("inference_url {u}"));
            probe.forecast_source = topic
                .forecast_url
                .as_ref()
                .map(|u| format!("forecast_url {u}"));
            preflight.topics.push(probe);
        }
        Ok(preflight)
    }
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
        .map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
    parse(path, &text)
}

/// Parses configuration text; `path` is for messages.
pub fn parse(path: &Path, text: &str) -> Result<FileConfig, AppError> {
    toml::from_str(text).map_err(|e| {
        AppError::Config(ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    })
}

fn invalid(field: &str, problem: impl Into<String>) -> AppError {
    AppError::Config(ConfigError::Value {
        field: field.to_owned(),
        problem: problem.into(),
    })
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
    let gas_price_field = match var("ALLORA_GAS_PRICE") {
        Some(v) => {
            file.gas_price = Some(GasPriceSetting::Named(v));
            "ALLORA_GAS_PRICE"
        }
        None => "gas_price",
    };
    let fee_granter_field = match var("ALLORA_FEE_GRANTER") {
        Some(v) => {
            file.fee_granter = Some(v);
            "ALLORA_FEE_GRANTER"
        }
        None => "fee_granter",
    };
    if let Some(v) = var("ALLORA_FEE_TIER") {
        file.fee_tier = Some(v);
    }
    if let Some(v) = var("ALLORA_MAX_FEE_UALLO") {
        file.max_fee_uallo = Some(v.trim().parse().map_err(|_| {
            invalid(
                "ALLORA_MAX_FEE_UALLO",
                format!("{v:?} is not a whole number of uallo"),
            )
        })?);
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
        check_url(&format!("grpc_endpoints[{i}]"), endpoint, GRPC_SCHEMES)?;
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

    let gas_price = match (&file.gas_price, &network) {
        (None, Some(net)) => net.gas_price.clone(),
        _ => resolve_gas_price(file.gas_price, gas_price_field)?,
    };
    let fee_granter = resolve_fee_granter(file.fee_granter.as_deref(), fee_granter_field)?;

    let fee_tier = match file.fee_tier {
        None => FeeTier::Standard,
        Some(tier) => FeeTier::from_str(tier.trim()).map_err(|_| {
            invalid(
                "fee_tier",
                format!("{tier:?} is not a fee tier; use eco, standard or priority"),
            )
        })?,
    };

    let max_fee =
        match file.max_fee_uallo {
            Some(0) => return Err(invalid(
                "max_fee_uallo",
                "is 0; use a positive number of uallo per transaction, or remove it for no limit",
            )),
            other => other.map(u128::from),
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
        let forecast_timeout = match topic.forecast_timeout_secs {
            Some(0) => return Err(invalid(&field("forecast_timeout_secs"), "must be positive")),
            Some(secs) => Duration::from_secs(secs),
            None => timeout,
        };
        let min = topic
            .min_value
            .as_ref()
            .map(|v| v.to_dec(&field("min_value")))
            .transpose()?;
        let max = topic
            .max_value
            .as_ref()
            .map(|v| v.to_dec(&field("max_value")))
            .transpose()?;
        let mut guard = ValueGuard::default().range(min, max);
        guard.refuse_zero = topic.refuse_zero.unwrap_or(false);
        if guard.is_inverted() {
            return Err(invalid(
                &field("min_value"),
                "is above max_value; the range would refuse every value",
            ));
        }
        let settings = TopicSettings {
            id: topic.id,
            token: topic.token,
            inference_url: topic.inference_url,
            forecast_url: topic.forecast_url,
            timeout,
            forecast_timeout,
            guard,
        };
        // Builds the providers once now so a bad template is reported at
        // start-up with its field, not at the first epoch.
        settings.to_spec().map_err(|e| match e {
            AppError::Config(ConfigError::Value { problem, .. })
                if problem.contains("needs an inference_url") =>
            {
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
        fee_granter,
        fee_tier,
        max_fee,
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
/// inferred (`ALLORA_MNEMONIC` set: env; a secret id: aws-secret; a KMS key
/// id: kms; a remote signer URL: remote; otherwise the key file, by default
/// `worker.key` in the data directory).
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
    let kms_key_id = var("ALLORA_KEY_KMS_KEY_ID").or(table.kms_key_id);
    let remote_url = var("ALLORA_KEY_REMOTE_URL").or(table.remote_url);
    let mnemonic_set = var(MNEMONIC_ENV).is_some();
    let token_set = var(REMOTE_SIGNER_TOKEN_ENV).is_some();
    let (field, explicit) = match var("ALLORA_KEY_SOURCE") {
        Some(source) => ("ALLORA_KEY_SOURCE", Some(source)),
        None => ("key.source", table.source),
    };
    let source = match explicit.as_deref().map(str::trim) {
        Some(name) => name.to_ascii_lowercase(),
        None if mnemonic_set => "env".to_owned(),
        None => {
            let named: Vec<(&str, &str)> = [
                (secret_id.is_some(), "key.secret_id", "aws-secret"),
                (kms_key_id.is_some(), "key.kms_key_id", "kms"),
                (remote_url.is_some(), "key.remote_url", "remote"),
            ]
            .into_iter()
            .filter(|(given, _, _)| *given)
            .map(|(_, field, source)| (field, source))
            .collect();
            match named.as_slice() {
                [] => "file".to_owned(),
                [(_, source)] => (*source).to_owned(),
                several => {
                    let fields: Vec<&str> = several.iter().map(|(field, _)| *field).collect();
                    return Err(invalid(
                        "key.source",
                        format!(
                            "is not set and {} are all given; choose the key source with key.source",
                            fields.join(" and ")
                        ),
                    ));
                }
            }
        }
    };
    if mnemonic_set && source != "env" {
        return Err(invalid(
            MNEMONIC_ENV,
            format!("is set, but the key source is {source:?}; unset {MNEMONIC_ENV} or choose key.source = \"env\""),
        ));
    }
    if token_set && source != "remote" {
        return Err(invalid(
            REMOTE_SIGNER_TOKEN_ENV,
            format!("is set, but the key source is {source:?}; unset {REMOTE_SIGNER_TOKEN_ENV} or choose key.source = \"remote\""),
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
        "kms" => {
            let key_id = match kms_key_id {
                Some(id) if !id.trim().is_empty() => id.trim().to_owned(),
                _ => return Err(invalid(
                    "key.kms_key_id",
                    "is needed with key.source = \"kms\"; set the key's id, ARN or alias (alias/NAME), or ALLORA_KEY_KMS_KEY_ID",
                )),
            };
            let (type_field, message_type) = match var("ALLORA_KEY_KMS_MESSAGE_TYPE") {
                Some(v) => ("ALLORA_KEY_KMS_MESSAGE_TYPE", Some(v)),
                None => ("key.kms_message_type", table.kms_message_type),
            };
            let message_type = match message_type.as_deref().map(str::trim) {
                None => KmsMessageType::Digest,
                Some(t) if t.eq_ignore_ascii_case("digest") => KmsMessageType::Digest,
                Some(t) if t.eq_ignore_ascii_case("raw") => KmsMessageType::Raw,
                Some(other) => {
                    return Err(invalid(
                        type_field,
                        format!("{other:?} is not a KMS message type; use digest (any size) or raw (messages up to 4096 bytes)"),
                    ))
                }
            };
            Ok(KeySetting::Kms {
                key_id,
                message_type,
            })
        }
        "remote" => {
            let url = match remote_url {
                Some(url) if !url.trim().is_empty() => url.trim().to_owned(),
                _ => return Err(invalid(
                    "key.remote_url",
                    "is needed with key.source = \"remote\"; set the signing service's URL, e.g. https://signer.internal:8443/sign (or ALLORA_KEY_REMOTE_URL)",
                )),
            };
            check_url("key.remote_url", &url, &["http", "https"])?;
            let (key_field, public_key) = match var("ALLORA_KEY_REMOTE_PUBLIC_KEY") {
                Some(v) => ("ALLORA_KEY_REMOTE_PUBLIC_KEY", Some(v)),
                None => ("key.remote_public_key", table.remote_public_key),
            };
            let public_key = match public_key {
                Some(hex) if !hex.trim().is_empty() => PublicKey::from_hex(hex.trim()).map_err(|e| {
                    invalid(
                        key_field,
                        format!("is not a compressed secp256k1 public key ({e}); give the 66 hex digits the signing service reports for the worker's key"),
                    )
                })?,
                _ => return Err(invalid(
                    "key.remote_public_key",
                    "is needed with key.source = \"remote\": the worker's compressed public key (66 hex digits), which fixes its address whatever the service answers (or ALLORA_KEY_REMOTE_PUBLIC_KEY)",
                )),
            };
            let token_file = var("ALLORA_KEY_REMOTE_TOKEN_FILE")
                .map(PathBuf::from)
                .or(table.remote_token_file);
            let token = match (token_set, token_file) {
                (true, Some(_)) => {
                    return Err(invalid(
                        "key.remote_token_file",
                        format!("is set together with {REMOTE_SIGNER_TOKEN_ENV}; keep one of them"),
                    ))
                }
                (true, None) => RemoteToken::Env(REMOTE_SIGNER_TOKEN_ENV.to_owned()),
                (false, Some(path)) => RemoteToken::File(path),
                (false, None) => RemoteToken::None,
            };
            Ok(KeySetting::Remote {
                url,
                public_key,
                token,
            })
        }
        other => Err(invalid(
            field,
            format!("{other:?} is not a key source; use file, env, aws-secret, kms or remote"),
        )),
    }
}

/// The schemes of a gRPC endpoint: `http`/`https`, and the official Python
/// SDK's spelling of the same, `grpc+http`/`grpc+https`.
const GRPC_SCHEMES: &[&str] = &["http", "https", "grpc+http", "grpc+https"];

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
        assert_eq!(s.metrics_addr, DEFAULT_METRICS_SOCKET);
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
    fn fee_maximum_and_guard_rails_resolve() {
        let text = GOOD
            .replace(
                "fee_tier = \"priority\"",
                "fee_tier = \"priority\"\nmax_fee_uallo = 500000",
            )
            .replace(
                "inference_url = \"http://127.0.0.1:8000/inference/{Token}\"",
                "inference_url = \"http://127.0.0.1:8000/inference/{Token}\"\nforecast_url = \"http://127.0.0.1:8000/forecast\"\nforecast_timeout_secs = 3\nrefuse_zero = true\nmin_value = 0.5\nmax_value = \"1E+5\"",
            );
        let s = resolve(parse(Path::new("w.toml"), &text).unwrap(), &no_env).unwrap();
        assert_eq!(s.max_fee, Some(500_000));
        let topic = &s.topics[0];
        assert_eq!(topic.forecast_timeout, Duration::from_secs(3));
        assert!(topic.guard.refuse_zero);
        assert_eq!(topic.guard.min.as_ref().map(Dec::as_str), Some("0.5"));
        assert_eq!(topic.guard.max.as_ref().map(Dec::as_str), Some("1E+5"));
        let spec = topic.to_spec().unwrap();
        assert_eq!(spec.guard, topic.guard);
        assert_eq!(spec.forecast_timeout, Some(Duration::from_secs(3)));
        // Without them: no limit, no guard, the forecast shares the timeout.
        let s = resolve(parse(Path::new("w.toml"), GOOD).unwrap(), &no_env).unwrap();
        assert_eq!(s.max_fee, None);
        assert!(s.topics[0].guard.is_empty());
        assert_eq!(s.topics[0].forecast_timeout, Duration::from_secs(10));
        // The environment sets the maximum too.
        let env = |name: &str| (name == "ALLORA_MAX_FEE_UALLO").then(|| "1234".to_owned());
        let s = resolve(parse(Path::new("w.toml"), GOOD).unwrap(), &env).unwrap();
        assert_eq!(s.max_fee, Some(1234));
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
            (
                GOOD.replace("fee_tier", "max_fee_uallo = 0\nfee_tier"),
                "max_fee_uallo",
            ),
            (
                format!("{GOOD}min_value = 10\nmax_value = 1\n"),
                "topics[0].min_value",
            ),
            (
                format!("{GOOD}max_value = \"lots\"\n"),
                "topics[0].max_value",
            ),
            (
                format!("{GOOD}forecast_timeout_secs = 0\n"),
                "topics[0].forecast_timeout_secs",
            ),
        ];
        for (text, field) in cases {
            let file = parse(Path::new("w.toml"), &text).unwrap();
            let err = resolve(file, &no_env).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    /// The static price a configuration resolves to.
    fn static_price(s: &Settings) -> GasPrice {
        match s.gas_price {
            GasPriceSource::Static(p) => p,
            ref other => panic!("not a static price: {other:?}"),
        }
    }

    #[test]
    fn fractional_gas_prices_are_read_from_file_and_environment() {
        let want = GasPrice::from_decimal("0.08").unwrap();
        for written in ["0.08", "\"0.08\"", "8e-2", "\"0.08uallo\""] {
            let text = GOOD.replace("\"feemarket\"", written);
            let s = resolve(parse(Path::new("w.toml"), &text).unwrap(), &no_env).unwrap();
            assert_eq!(static_price(&s), want, "{written}");
            // 0.08 uallo/gas x 250 000 gas = 20 000 uallo (eco), 30 000 (standard).
            assert_eq!(static_price(&s).fee_for(250_000, FeeTier::Eco), 20_000);
            assert_eq!(static_price(&s).fee_for(250_000, FeeTier::Standard), 30_000);
        }
        let env = |name: &str| (name == "ALLORA_GAS_PRICE").then(|| "0.08".to_owned());
        let s = resolve(parse(Path::new("w.toml"), GOOD).unwrap(), &env).unwrap();
        assert_eq!(static_price(&s), want);
        let s = resolve(
            parse(Path::new("w.toml"), &GOOD.replace("\"feemarket\"", "25")).unwrap(),
            &no_env,
        )
        .unwrap();
        assert_eq!(static_price(&s), GasPrice::from_uallo(25));

        // Refusals name the field and the accepted forms.
        for written in ["0", "0.0", "-1", "-0.5", "\"cheap\"", "1e-19", "nan", "inf"] {
            let text = GOOD.replace("\"feemarket\"", written);
            let err = resolve(parse(Path::new("w.toml"), &text).unwrap(), &no_env)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("`gas_price`") && err.contains("0.08") && err.contains("feemarket"),
                "{written}: {err}"
            );
        }
        let env = |name: &str| (name == "ALLORA_GAS_PRICE").then(|| "ten".to_owned());
        let err = resolve(parse(Path::new("w.toml"), GOOD).unwrap(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ALLORA_GAS_PRICE") && err.contains("\"ten\"") && err.contains("0.08"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn grpc_plus_endpoints_are_accepted_from_file_and_environment() {
        let text = GOOD
            .replace("http://127.0.0.1:9090", "grpc+http://127.0.0.1:9090")
            .replace("https://grpc.example:443", "grpc+https://grpc.example:443");
        let s = resolve(parse(Path::new("w.toml"), &text).unwrap(), &no_env).unwrap();
        assert_eq!(
            s.grpc_endpoints,
            [
                "grpc+http://127.0.0.1:9090",
                "grpc+https://grpc.example:443"
            ]
        );
        // The client takes them as they are.
        allora_sdk::ChainClient::new(allora_sdk::ClientConfig::new(s.grpc_endpoints.iter()))
            .unwrap();
        let env = |name: &str| {
            (name == "ALLORA_GRPC_ENDPOINTS")
                .then(|| "grpc+https://a.example:443,grpc+http://b:9090".to_owned())
        };
        let s = resolve(parse(Path::new("w.toml"), GOOD).unwrap(), &env).unwrap();
        assert_eq!(s.grpc_endpoints.len(), 2);
        // Other schemes are still refused, naming the accepted ones.
        let text = GOOD.replace("http://127.0.0.1:9090", "rest+http://127.0.0.1:1317");
        let err = resolve(parse(Path::new("w.toml"), &text).unwrap(), &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("grpc_endpoints[0]") && err.contains("grpc+https"),
            "{err}"
        );
    }

    #[test]
    fn a_fee_granter_is_an_address() {
        let granter = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv";
        let text = format!("fee_granter = \"{granter}\"\n{GOOD}");
        let s = resolve(parse(Path::new("w.toml"), &text).unwrap(), &no_env).unwrap();
        assert_eq!(s.fee_granter.unwrap().as_str(), granter);
        let s = resolve(parse(Path::new("w.toml"), GOOD).unwrap(), &no_env).unwrap();
        assert_eq!(s.fee_granter, None);
        let env = |name: &str| (name == "ALLORA_FEE_GRANTER").then(|| granter.to_owned());
        let s = resolve(parse(Path::new("w.toml"), GOOD).unwrap(), &env).unwrap();
        assert_eq!(s.fee_granter.unwrap().as_str(), granter);
        let text = format!("fee_granter = \"cosmos1xyz\"\n{GOOD}");
        let err = resolve(parse(Path::new("w.toml"), &text).unwrap(), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("fee_granter"), "{err}");
        let env = |name: &str| (name == "ALLORA_FEE_GRANTER").then(|| "nope".to_owned());
        let err = resolve(parse(Path::new("w.toml"), GOOD).unwrap(), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ALLORA_FEE_GRANTER"), "{err}");
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
    fn a_kms_key_or_a_remote_signer_is_a_key_source() {
        let kms = |table: &str| KeySetting::Kms {
            key_id: table.to_owned(),
            message_type: KmsMessageType::Digest,
        };
        assert_eq!(
            key_of(
                "",
                "[key]\nsource = \"kms\"\nkms_key_id = \"alias/w\"\n",
                &[]
            )
            .unwrap(),
            kms("alias/w")
        );
        // The key id alone implies the source; the environment overrides.
        assert_eq!(
            key_of("", "[key]\nkms_key_id = \"alias/w\"\n", &[]).unwrap(),
            kms("alias/w")
        );
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(
            key_of(
                "",
                "[key]\nkms_key_id = \"alias/w\"\nkms_message_type = \"digest\"\n",
                &[
                    ("ALLORA_KEY_KMS_KEY_ID", arn),
                    ("ALLORA_KEY_KMS_MESSAGE_TYPE", "RAW")
                ]
            )
            .unwrap(),
            KeySetting::Kms {
                key_id: arn.into(),
                message_type: KmsMessageType::Raw,
            }
        );
        assert_eq!(
            key_of(
                "",
                "",
                &[("ALLORA_KEY_SOURCE", "kms"), ("ALLORA_KEY_KMS_KEY_ID", "k")]
            )
            .unwrap(),
            kms("k")
        );
        let err = key_of("", "[key]\nsource = \"kms\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("key.kms_key_id"), "{err}");
        let err = key_of(
            "",
            "[key]\nkms_key_id = \"k\"\nkms_message_type = \"hash\"\n",
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("key.kms_message_type"), "{err}");
        // Two sources named without choosing one.
        let err = key_of("", "[key]\nkms_key_id = \"k\"\nsecret_id = \"s\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key.secret_id and key.kms_key_id") && err.contains("key.source"),
            "{err}"
        );

        let public_key = "02a1633cafcc01ebfb6d78e39f687a1f0995c62fc95f51ead10a02ee0be551b5dc";
        let remote = format!(
            "[key]\nremote_url = \"https://signer.internal:8443/sign\"\nremote_public_key = \"{public_key}\"\n"
        );
        let expected = |token| KeySetting::Remote {
            url: "https://signer.internal:8443/sign".into(),
            public_key: PublicKey::from_hex(public_key).unwrap(),
            token,
        };
        assert_eq!(
            key_of("", &remote, &[]).unwrap(),
            expected(RemoteToken::None)
        );
        assert_eq!(
            key_of("", &remote, &[(REMOTE_SIGNER_TOKEN_ENV, "t0ken")]).unwrap(),
            expected(RemoteToken::Env(REMOTE_SIGNER_TOKEN_ENV.to_owned()))
        );
        assert_eq!(
            key_of(
                "",
                &format!("{remote}remote_token_file = \"/etc/allora/signer.token\"\n"),
                &[]
            )
            .unwrap(),
            expected(RemoteToken::File("/etc/allora/signer.token".into()))
        );
        let err = key_of(
            "",
            &format!("{remote}remote_token_file = \"/t\"\n"),
            &[(REMOTE_SIGNER_TOKEN_ENV, "t0ken")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("remote_token_file") && !err.contains("t0ken"),
            "{err}"
        );
        for (table, field) in [
            ("[key]\nsource = \"remote\"\n", "key.remote_url"),
            (
                "[key]\nremote_url = \"https://s/sign\"\n",
                "key.remote_public_key",
            ),
            (
                "[key]\nremote_url = \"https://s/sign\"\nremote_public_key = \"02ab\"\n",
                "key.remote_public_key",
            ),
            (
                &remote.replace("https://signer.internal:8443", "ftp://signer"),
                "key.remote_url",
            ),
        ] {
            let err = key_of("", table, &[]).unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        // A token in the environment beside another source is refused,
        // without echoing it.
        let err = key_of("", "", &[(REMOTE_SIGNER_TOKEN_ENV, "t0ken")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(REMOTE_SIGNER_TOKEN_ENV) && !err.contains("t0ken"),
            "{err}"
        );
        for name in [
            "ALLORA_KEY_KMS_KEY_ID",
            "ALLORA_KEY_KMS_MESSAGE_TYPE",
            "ALLORA_KEY_REMOTE_URL",
            "ALLORA_KEY_REMOTE_PUBLIC_KEY",
            "ALLORA_KEY_REMOTE_TOKEN_FILE",
            REMOTE_SIGNER_TOKEN_ENV,
        ] {
            assert!(check_variables([name]).is_ok(), "{name}");
        }
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
        // So are the commented KMS and remote signer settings.
        let example = include_str!("../config/worker.example.toml");
        let kms = example
            .replace("source = \"file\"", "source = \"kms\"")
            .replace("# kms_key_id =", "kms_key_id =")
            .replace("# kms_message_type =", "kms_message_type =");
        let s = resolve(parse(Path::new("kms.toml"), &kms).unwrap(), &no_env).unwrap();
        assert_eq!(
            s.key,
            KeySetting::Kms {
                key_id: "alias/allora-worker".into(),
                message_type: KmsMessageType::Digest,
            }
        );
        let remote = example
            .replace("source = \"file\"", "source = \"remote\"")
            .replace("# remote_url =", "remote_url =")
            .replace("# remote_public_key =", "remote_public_key =")
            .replace("# remote_token_file =", "remote_token_file =");
        let s = resolve(parse(Path::new("remote.toml"), &remote).unwrap(), &no_env).unwrap();
        assert!(
            matches!(&s.key, KeySetting::Remote { url, token: RemoteToken::File(_), .. }
                if url == "https://signer.internal:8443/sign"),
            "{:?}",
            s.key
        );
    }

    #[test]
    fn no_configuration_is_detected() {
        assert!(!any_configuration(None, &no_env));
        assert!(any_configuration(Some(Path::new("x.toml")), &no_env));
        let env = |name: &str| (name == "ALLORA_CHAIN_ID").then(|| "x".to_owned());
        assert!(any_configuration(None, &env));
    }
}
