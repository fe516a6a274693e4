//! Building a worker: from a ready chain client and key (or any
//! [`Signer`]), or from endpoints, a mnemonic in the environment and
//! closures, with one crate.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use allora_infer::{
    AsyncFnForecaster, AsyncFnProvider, FnForecaster, FnProvider, ForecastProvider,
    InferenceProvider, InferenceRequest, IntoForecast, IntoPrediction,
};
use derive_setters::Setters;
use zeroize::Zeroizing;

use super::{NoopObserver, TopicSpec, Worker, WorkerConfig, WorkerError, WorkerObserver};
use crate::client::{ChainClient, ClientConfig};
use crate::emissions::EmissionsVersion;
use crate::keys::{Address, Mnemonic, WorkerKey};
use crate::network::Network;
use crate::pipeline::{GasPolicy, GasPriceSource};
use crate::signer::{SharedSigner, Signer, SignerError};
use crate::tx::{FeeTier, GasPrice};

/// Builds a [`Worker`].
///
/// The chain is given either as a ready [`ChainClient`] ([`WorkerBuilder::client`])
/// or as gRPC endpoints ([`WorkerBuilder::endpoints`]); the key as a
/// [`WorkerKey`] ([`WorkerBuilder::key`]), as any [`Signer`] such as a
/// remote or KMS signer ([`WorkerBuilder::signer`]), or as the name of an
/// environment variable holding the mnemonic ([`WorkerBuilder::mnemonic_env`]). Topics
/// take providers ([`WorkerBuilder::topic`]) or plain closures
/// ([`WorkerBuilder::topic_fn`], [`WorkerBuilder::topic_async`]).
#[derive(Default, Setters)]
#[setters(generate = false)]
#[must_use]
pub struct WorkerBuilder {
    /// The chain client (this, or [`WorkerBuilder::endpoints`], is required).
    #[setters(generate, strip_option)]
    client: Option<ChainClient>,
    endpoints: Vec<String>,
    signer: Option<Result<SharedSigner, SignerError>>,
    /// Reads the worker's BIP39 mnemonic from the environment variable of
    /// this name when the worker is built, and derives the key on the
    /// Cosmos path (`m/44'/118'/0'/0/0`). Errors name the variable, never
    /// its value.
    #[setters(generate, strip_option, into)]
    mnemonic_env: Option<String>,
    topics: Vec<TopicSpec>,
    /// The directory of the submission record (required).
    #[setters(generate, strip_option, into)]
    data_dir: Option<PathBuf>,
    /// The node's websocket (`ws://host:26657/websocket`). Without one the
    /// worker discovers windows by polling only.
    #[setters(generate, strip_option, into)]
    websocket: Option<String>,
    /// The expected chain id (checked against the node at start).
    #[setters(generate, strip_option, into)]
    chain_id: Option<String>,
    /// How often to poll open nonces while the websocket is down (default 5 s).
    #[setters(generate, strip_option)]
    poll_interval: Option<Duration>,
    /// Block time assumed until measured (default 5 s).
    #[setters(generate, strip_option)]
    block_time: Option<Duration>,
    /// Longest a provider may take (default 30 s; the window may allow less).
    #[setters(generate, strip_option)]
    provider_timeout: Option<Duration>,
    /// How long ready payloads wait to share a transaction (default 100 ms).
    #[setters(generate, strip_option)]
    batch_linger: Option<Duration>,
    /// Most payloads per transaction (default 100).
    #[setters(generate, strip_option)]
    max_messages_per_tx: Option<usize>,
    /// Registers in topics where the worker is not registered yet (at
    /// start, and when a check of a suspended topic finds it unregistered).
    /// Off by default: such a topic is suspended and served once registered.
    #[setters(generate)]
    auto_register: bool,
    /// Gas policy.
    #[setters(generate, rename = "gas_policy", strip_option)]
    gas: Option<GasPolicy>,
    gas_price: Option<GasPriceSource>,
    /// The fee tier (default standard).
    #[setters(generate, strip_option)]
    fee_tier: Option<FeeTier>,
    /// The most one transaction may pay, in uallo (default: no limit). A
    /// fee the gas price and tier put above it is lowered to it; when the
    /// chain requires more (an insufficient-fee answer naming the amount),
    /// the window is given up as [`WorkerError::FeeAboveMaximum`] instead of
    /// paying it.
    #[setters(generate, strip_option)]
    max_fee: Option<u128>,
    /// Epochs between two checks of a suspended topic (default 3): whether
    /// it exists, whether the whitelists admit the worker, whether it is
    /// registered. The served topics' settings (label rules, window length)
    /// are refreshed as often.
    #[setters(generate, strip_option)]
    topic_check_epochs: Option<u32>,
    /// An account that pays every transaction's fee under a fee grant it
    /// gave the worker (`Fee.granter`; see [`Fee`](crate::tx::Fee)). The
    /// worker's own account still pays the registration and data fees.
    /// Without a valid allowance the chain refuses the transactions.
    #[setters(generate, strip_option)]
    fee_granter: Option<Address>,
    /// Metrics hooks.
    #[setters(generate, strip_option)]
    observer: Option<Arc<dyn WorkerObserver>>,
    /// Speaks this emissions version instead of detecting the chain's (see
    /// [`crate::emissions`]): the windows are still detected, upgrades are
    /// not followed. For a chain whose version detection cannot read.
    #[setters(generate, strip_option)]
    emissions_version: Option<EmissionsVersion>,
    /// The emissions version the chain is expected to speak (what
    /// [`network`](Self::network) sets from a preset): a different one
    /// detected at start is logged as a warning, then spoken.
    #[setters(generate, strip_option)]
    expected_emissions: Option<EmissionsVersion>,
    fee_denom_error: Option<String>,
}

impl WorkerBuilder {
    /// The node's gRPC endpoints, tried in this order (`https://host:443`,
    /// `http://host:9090`, or the official SDK's `grpc+https://...`); the
    /// worker builds its client with the default timeouts of
    /// [`ClientConfig::new`]. For other settings, give a client instead.
    pub fn endpoints<I, S>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.endpoints = endpoints.into_iter().map(Into::into).collect();
        self
    }

    /// The worker's key, held in this process: shorthand for
    /// [`WorkerBuilder::signer`] with the key (one of the two, or
    /// [`WorkerBuilder::mnemonic_env`], is required; the last key or signer
    /// given is the one used).
    pub fn key(mut self, key: WorkerKey) -> Self {
        self.signer = Some(Ok(key.into()));
        self
    }

    /// The worker's signer: whoever holds its key (a
    /// [`RemoteSigner`](crate::signer::RemoteSigner), an AWS KMS key through
    /// `allora_aws::kms::KmsSigner`, or a [`WorkerKey`]). The worker address
    /// and the payloads' `pubkey` come from its public key, read once. Every
    /// payload and transaction signature is asked of it with the window's
    /// send deadline and, unless it is the in-process key, verified before
    /// use; a signer that answers late or wrong fails that window
    /// ([`WorkerError::Signer`]) and holds up no other.
    pub fn signer(mut self, signer: Arc<dyn Signer>) -> Self {
        self.signer = Some(SharedSigner::new(signer));
        self
    }

    /// Adds a topic.
    pub fn topic(mut self, topic: TopicSpec) -> Self {
        self.topics.push(topic);
        self
    }

    /// Serves `topic_id` with inferences from a synchronous closure, run on
    /// the blocking pool so it may compute or block (see [`FnProvider`]).
    /// It may return an `f64`, an integer, a decimal string, a
    /// [`Dec`](crate::Dec), labeled pairs, or a `Result` of those; NaN,
    /// infinities and garbage are refused before anything is signed.
    ///
    /// ```no_run
    /// let builder = allora_sdk::Worker::builder()
    ///     .topic_fn(69, |req| 2650.5 + req.nonce as f64 / 1e9);
    /// # let _ = builder;
    /// ```
    pub fn topic_fn<F, T>(self, topic_id: u64, f: F) -> Self
    where
        F: Fn(&InferenceRequest) -> T + Send + Sync + 'static,
        T: IntoPrediction + Send + 'static,
    {
        self.with_inference(topic_id, Arc::new(FnProvider::new(f)))
    }

    /// Serves `topic_id` with inferences from an async closure, which gets
    /// its own copy of the request and is cancelled at its deadline (see
    /// [`AsyncFnProvider`]).
    ///
    /// ```no_run
    /// let builder = allora_sdk::Worker::builder().topic_async(69, |req| async move {
    ///     // e.g. ask a model server here
    ///     Ok::<_, allora_sdk::InferError>(2650.5 + req.nonce as f64 / 1e9)
    /// });
    /// # let _ = builder;
    /// ```
    pub fn topic_async<F, Fut>(self, topic_id: u64, f: F) -> Self
    where
        F: Fn(InferenceRequest) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoPrediction,
    {
        self.with_inference(topic_id, Arc::new(AsyncFnProvider::new(f)))
    }

    /// Adds forecasts from a synchronous closure to `topic_id` (served with
    /// forecasts only if it has no inference). The closure returns
    /// `(inferer address, value)` pairs (see [`FnForecaster`]).
    pub fn forecast_fn<F, T>(self, topic_id: u64, f: F) -> Self
    where
        F: Fn(&InferenceRequest) -> T + Send + Sync + 'static,
        T: IntoForecast + Send + 'static,
    {
        self.with_forecast(topic_id, Arc::new(FnForecaster::new(f)))
    }

    /// Adds forecasts from an async closure to `topic_id` (see
    /// [`AsyncFnForecaster`]).
    pub fn forecast_async<F, Fut>(self, topic_id: u64, f: F) -> Self
    where
        F: Fn(InferenceRequest) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoForecast,
    {
        self.with_forecast(topic_id, Arc::new(AsyncFnForecaster::new(f)))
    }

    fn with_inference(mut self, topic_id: u64, provider: Arc<dyn InferenceProvider>) -> Self {
        match self.topics.iter_mut().find(|t| t.topic_id == topic_id) {
            Some(topic) if topic.inference.is_none() => topic.inference = Some(provider),
            // A second inference for the topic: refused by `build`.
            _ => self.topics.push(TopicSpec::inference(topic_id, provider)),
        }
        self
    }

    fn with_forecast(mut self, topic_id: u64, provider: Arc<dyn ForecastProvider>) -> Self {
        match self.topics.iter_mut().find(|t| t.topic_id == topic_id) {
            Some(topic) if topic.forecast.is_none() => topic.forecast = Some(provider),
            _ => self.topics.push(TopicSpec::forecast(topic_id, provider)),
        }
        self
    }

    /// A fixed gas price (default 10 uallo/gas).
    pub fn gas_price(mut self, price: GasPrice) -> Self {
        self.gas_price = Some(GasPriceSource::Static(price));
        self
    }

    /// The gas price source.
    pub fn gas_price_source(mut self, source: GasPriceSource) -> Self {
        self.gas_price = Some(source);
        self
    }

    /// Takes the chain id, gRPC endpoints, websocket, gas price and
    /// expected emissions version of `network` (a preset such as
    /// [`Network::testnet`], possibly edited). Settings given after this
    /// call replace the network's; a network whose fee denomination is not
    /// `uallo` fails [`build`](Self::build). The network's endpoints make
    /// the worker's client, so it does not combine with
    /// [`client`](Self::client): with a client of your own, give the
    /// network's `chain_id`, `websocket_url`, `gas_price` and `emissions`
    /// through the other setters.
    pub fn network(mut self, network: Network) -> Self {
        self.fee_denom_error = network.check_denom().err();
        self.chain_id = Some(network.chain_id);
        self.endpoints = network.grpc_endpoints;
        self.websocket = network.websocket_url;
        self.gas_price = Some(network.gas_price);
        self.expected_emissions = network.emissions;
        self
    }

    /// Checks the settings and builds the worker (reading the mnemonic and
    /// setting up the client when asked to). Must be called inside a tokio
    /// runtime when it builds the client.
    pub fn build(self) -> Result<Worker, WorkerError> {
        if let Some(problem) = self.fee_denom_error {
            return Err(WorkerError::Config(problem));
        }
        let client = match (self.client, self.endpoints.is_empty()) {
            (Some(_), false) => {
                return Err(WorkerError::Config(
                    "give either a chain client or endpoints, not both".into(),
                ))
            }
            (Some(client), true) => match self.emissions_version {
                Some(version) => client.with_emissions_version(version),
                None => client,
            },
            (None, false) => {
                let mut config = ClientConfig::new(self.endpoints);
                config.emissions_version = self.emissions_version;
                ChainClient::new(config)?
            }
            (None, true) => {
                return Err(WorkerError::Config(
                    "a chain client or gRPC endpoints are required".into(),
                ))
            }
        };
        let signer = match (self.signer, self.mnemonic_env) {
            (Some(_), Some(_)) => {
                return Err(WorkerError::Config(
                    "give either a worker key or signer, or a mnemonic variable, not both".into(),
                ))
            }
            (Some(signer), None) => {
                signer.map_err(|e| WorkerError::Config(format!("the worker's signer: {e}")))?
            }
            (None, Some(variable)) => key_from_env(&variable)?.into(),
            (None, None) => {
                return Err(WorkerError::Config(
                    "a worker key or signer (or the environment variable holding its mnemonic) \
                     is required"
                        .into(),
                ))
            }
        };
        let data_dir = self.data_dir.ok_or_else(|| {
            WorkerError::Config("a data directory (for the submission record) is required".into())
        })?;
        if self.topics.is_empty() {
            return Err(WorkerError::Config("at least one topic is required".into()));
        }
        let mut seen = HashSet::new();
        for topic in &self.topics {
            if topic.topic_id == 0 {
                return Err(WorkerError::Config("topic id 0 is reserved".into()));
            }
            if !seen.insert(topic.topic_id) {
                return Err(WorkerError::Config(format!(
                    "topic {} is configured twice",
                    topic.topic_id
                )));
            }
            if topic.inference.is_none() && topic.forecast.is_none() {
                return Err(WorkerError::Config(format!(
                    "topic {} has neither an inference nor a forecast provider",
                    topic.topic_id
                )));
            }
            if topic.guard.is_inverted() {
                return Err(WorkerError::Config(format!(
                    "topic {}: the minimum value is above the maximum",
                    topic.topic_id
                )));
            }
        }
        if self.max_fee == Some(0) {
            return Err(WorkerError::Config(
                "max_fee must be positive (uallo per transaction)".into(),
            ));
        }
        let topic_check_epochs = self.topic_check_epochs.unwrap_or(3);
        if topic_check_epochs == 0 {
            return Err(WorkerError::Config(
                "topic_check_epochs must be at least 1".into(),
            ));
        }
        let max_messages_per_tx = self.max_messages_per_tx.unwrap_or(100);
        if max_messages_per_tx == 0 {
            return Err(WorkerError::Config(
                "max_messages_per_tx must be at least 1".into(),
            ));
        }
        let poll_interval = self.poll_interval.unwrap_or(Duration::from_secs(5));
        if poll_interval.is_zero() {
            return Err(WorkerError::Config("poll_interval must be positive".into()));
        }
        let config = WorkerConfig {
            topics: self.topics,
            data_dir,
            websocket: self.websocket,
            chain_id: self.chain_id,
            poll_interval,
            poll_interval_connected: poll_interval * 6,
            block_time: self.block_time.unwrap_or(Duration::from_secs(5)),
            provider_timeout: self.provider_timeout.unwrap_or(Duration::from_secs(30)),
            batch_linger: self.batch_linger.unwrap_or(Duration::from_millis(100)),
            max_messages_per_tx,
            auto_register: self.auto_register,
            gas: self.gas.unwrap_or_default(),
            gas_price: self
                .gas_price
                .unwrap_or(GasPriceSource::Static(GasPrice::from_uallo(10))),
            fee_tier: self.fee_tier.unwrap_or_default(),
            max_fee: self.max_fee,
            topic_check_epochs,
            fee_granter: self.fee_granter,
            shutdown_grace: Duration::from_secs(8),
            expected_emissions: self.expected_emissions,
        };
        Ok(Worker {
            client,
            signer,
            config,
            observer: self.observer.unwrap_or_else(|| Arc::new(NoopObserver)),
        })
    }

    /// Builds the worker and runs it until `signal` completes (for instance
    /// `tokio::signal::ctrl_c()`); see [`Worker::run_until`].
    pub async fn run_until<S: Future>(self, signal: S) -> Result<super::RunSummary, WorkerError> {
        self.build()?.run_until(signal).await
    }
}

/// The key of the mnemonic held by the environment variable `variable`.
fn key_from_env(variable: &str) -> Result<WorkerKey, WorkerError> {
    let error = |reason: String| WorkerError::MnemonicEnv {
        variable: variable.to_owned(),
        reason,
    };
    let phrase = match std::env::var(variable) {
        Ok(phrase) => Zeroizing::new(phrase),
        Err(std::env::VarError::NotPresent) => {
            return Err(error(
                "not set; export the worker's BIP39 mnemonic in it (it is never logged)".into(),
            ))
        }
        Err(std::env::VarError::NotUnicode(_)) => return Err(error("not valid UTF-8".into())),
    };
    if phrase.trim().is_empty() {
        return Err(error(
            "empty; export the worker's BIP39 mnemonic in it".into(),
        ));
    }
    // The key error describes what is wrong without quoting the phrase.
    let mnemonic: Mnemonic = phrase
        .parse()
        .map_err(|e: crate::keys::KeyError| error(e.to_string()))?;
    WorkerKey::from_mnemonic(&mnemonic, "").map_err(|e| error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon \
        abandon abandon abandon abandon abandon about";

    fn with_topic() -> WorkerBuilder {
        WorkerBuilder::default()
            .data_dir("unused")
            .topic_fn(1, |req| req.nonce as f64)
    }

    #[tokio::test]
    async fn a_mnemonic_is_read_from_the_variable_named_and_never_echoed() {
        std::env::set_var("ALLORA_SDK_TEST_MNEMONIC_OK", PHRASE);
        let worker = with_topic()
            .endpoints(["http://127.0.0.1:9"])
            .mnemonic_env("ALLORA_SDK_TEST_MNEMONIC_OK")
            .build()
            .unwrap();
        let expected = WorkerKey::from_mnemonic(&PHRASE.parse().unwrap(), "").unwrap();
        assert_eq!(worker.address(), expected.address());

        let err = with_topic()
            .endpoints(["http://127.0.0.1:9"])
            .mnemonic_env("ALLORA_SDK_TEST_MNEMONIC_UNSET")
            .build()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("ALLORA_SDK_TEST_MNEMONIC_UNSET") && text.contains("not set"),
            "{text}"
        );
        assert_eq!(err.kind(), "key");

        // A wrong phrase: the error names the variable and what is wrong,
        // not a word of the phrase.
        std::env::set_var(
            "ALLORA_SDK_TEST_MNEMONIC_BAD",
            "zebra abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon zebra",
        );
        let text = with_topic()
            .endpoints(["http://127.0.0.1:9"])
            .mnemonic_env("ALLORA_SDK_TEST_MNEMONIC_BAD")
            .build()
            .unwrap_err()
            .to_string();
        assert!(text.contains("ALLORA_SDK_TEST_MNEMONIC_BAD"), "{text}");
        assert!(
            !text.contains("zebra") && !text.contains("abandon"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_chain_and_the_key_are_given_once() {
        let key = || WorkerKey::from_private_key_bytes(&[4; 32]).unwrap();
        let client = ChainClient::new(ClientConfig::new(["http://127.0.0.1:9"])).unwrap();
        let both = with_topic()
            .client(client)
            .endpoints(["http://127.0.0.1:9"])
            .key(key())
            .build();
        assert!(matches!(both, Err(WorkerError::Config(_))));
        let neither = with_topic().key(key()).build();
        assert!(matches!(neither, Err(WorkerError::Config(_))));
        let bad = with_topic()
            .endpoints(["localhost:9090"])
            .key(key())
            .build();
        assert!(matches!(bad, Err(WorkerError::Client(_))), "{bad:?}");
        let two_keys = with_topic()
            .endpoints(["http://127.0.0.1:9"])
            .key(key())
            .mnemonic_env("ALLORA_SDK_TEST_MNEMONIC_OK")
            .build();
        assert!(matches!(two_keys, Err(WorkerError::Config(_))));
        // The last key or signer given is the one used.
        let other = WorkerKey::from_private_key_bytes(&[5; 32]).unwrap();
        let replaced = with_topic()
            .endpoints(["http://127.0.0.1:9"])
            .key(key())
            .signer(Arc::new(other.clone()))
            .build()
            .unwrap();
        assert_eq!(replaced.address(), other.address());
    }

    #[tokio::test]
    async fn a_signer_gives_the_worker_its_address() {
        let key = WorkerKey::from_private_key_bytes(&[6; 32]).unwrap();
        let remote =
            crate::signer::RemoteSigner::builder("http://127.0.0.1:9/sign", key.public_key())
                .build()
                .unwrap();
        let worker = with_topic()
            .endpoints(["http://127.0.0.1:9"])
            .signer(Arc::new(remote))
            .build()
            .unwrap();
        assert_eq!(worker.address(), key.address());
        let shown = format!("{worker:?}");
        assert!(
            shown.contains("remote signer http://127.0.0.1:9/sign"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn fee_maximum_and_guard_rails_are_checked() {
        let base = || {
            WorkerBuilder::default()
                .endpoints(["http://127.0.0.1:9"])
                .key(WorkerKey::from_private_key_bytes(&[4; 32]).unwrap())
                .data_dir("unused")
        };
        let worker = base().topic_fn(1, |_| 1.0).max_fee(5_000).build().unwrap();
        assert_eq!(worker.config.max_fee, Some(5_000));
        assert_eq!(worker.config.topic_check_epochs, 3);
        assert!(matches!(
            base().topic_fn(1, |_| 1.0).max_fee(0).build(),
            Err(WorkerError::Config(_))
        ));
        assert!(matches!(
            base().topic_fn(1, |_| 1.0).topic_check_epochs(0).build(),
            Err(WorkerError::Config(_))
        ));
        let inverted =
            TopicSpec::inference(1, Arc::new(FnProvider::new(|_: &InferenceRequest| 1.0)))
                .value_range(Some("2".parse().unwrap()), Some("1".parse().unwrap()));
        let err = base().topic(inverted).build().unwrap_err();
        assert!(
            err.to_string()
                .contains("minimum value is above the maximum"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_network_preset_fills_the_chain_settings_and_later_calls_replace_them() {
        let key = || WorkerKey::from_private_key_bytes(&[4; 32]).unwrap();
        let worker = with_topic()
            .network(Network::mainnet())
            .websocket("ws://127.0.0.1:26657/websocket")
            .key(key())
            .build()
            .unwrap();
        assert_eq!(worker.config.chain_id.as_deref(), Some("allora-mainnet-1"));
        assert_eq!(
            worker.config.websocket.as_deref(),
            Some("ws://127.0.0.1:26657/websocket")
        );
        assert_eq!(worker.config.gas_price, Network::mainnet().gas_price);
        assert_eq!(worker.config.expected_emissions, Some(EmissionsVersion::V9));
        let mut other = Network::testnet();
        other.fee_denom = "uatom".into();
        let err = with_topic().network(other).key(key()).build().unwrap_err();
        assert!(err.to_string().contains("uallo"), "{err}");
    }

    #[tokio::test]
    async fn closures_make_topics_and_forecasts_join_them() {
        let worker = WorkerBuilder::default()
            .endpoints(["http://127.0.0.1:9"])
            .key(WorkerKey::from_private_key_bytes(&[4; 32]).unwrap())
            .data_dir("unused")
            .topic_fn(1, |_| 1.5)
            .topic_async(2, |req| async move { req.nonce })
            .forecast_fn(2, |_| Vec::<(String, f64)>::new())
            .forecast_async(3, |_| async { vec![("allo1x", "0.5")] })
            .build()
            .unwrap();
        let topics = &worker.config.topics;
        assert_eq!(topics.len(), 3);
        assert!(topics[0].inference.is_some() && topics[0].forecast.is_none());
        assert!(topics[1].inference.is_some() && topics[1].forecast.is_some());
        assert!(topics[2].inference.is_none() && topics[2].forecast.is_some());
        // A second inference for a topic is a configuration error.
        let twice = WorkerBuilder::default()
            .endpoints(["http://127.0.0.1:9"])
            .key(WorkerKey::from_private_key_bytes(&[4; 32]).unwrap())
            .data_dir("unused")
            .topic_fn(1, |_| 1.5)
            .topic_fn(1, |_| 2.5)
            .build();
        assert!(matches!(twice, Err(WorkerError::Config(_))));
    }
}
