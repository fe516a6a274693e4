//! Presets of the public Allora networks: chain id, public endpoints, fee
//! denomination, gas price defaults and the emissions version each network is
//! listed with.
//!
//! Every field is public, so any of them can be replaced after taking a
//! preset:
//!
//! ```no_run
//! use allora_sdk::network::Network;
//!
//! let mut testnet = Network::testnet();
//! testnet.grpc_endpoints = vec!["https://my-node.example:443".into()];
//! let builder = allora_sdk::Worker::builder()
//!     .network(testnet)
//!     .topic_fn(69, |req| 2650.5 + req.nonce as f64 / 1e9);
//! # let _ = builder;
//! ```
//!
//! Sources: the chain ids, endpoints and deployed emissions versions come
//! from the networks manifest of the Allora docs (`public/api/networks.json`
//! in `allora-network/docs`, updated 2026-07-31: testnet on allora-chain
//! v0.17.0 with `emissions/v10`, mainnet on v0.16.0 with `emissions/v9`).
//! The websocket is the CometBFT RPC host's `/websocket` path. The fee
//! denomination is `uallo` (allora-chain `app/params/config.go`). The
//! fallback gas prices are those the docs recommend for testnet (10 uallo
//! per gas, `pages/devs/get-started/managing-gas.mdx`) and the official
//! Python SDK's mainnet default (250,000,000 uallo per gas, allora-sdk 1.3.0
//! `AlloraNetworkConfig.mainnet`); both networks price gas with the
//! feemarket module, which is asked first.
//!
//! The emissions version listed is only an expectation: the worker detects
//! the version the chain speaks at start (see [`crate::emissions`]) and
//! logs a warning when it differs from the preset's, then speaks the chain's.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::emissions::EmissionsVersion;
use crate::pipeline::GasPriceSource;
use crate::tx::{GasPrice, DENOM};

/// The gas price headroom over the feemarket's current price, in percent.
const FEEMARKET_MULTIPLIER_PERCENT: u32 = 120;
/// How long a feemarket price is reused.
const FEEMARKET_CACHE: Duration = Duration::from_secs(30);

/// One Allora network: where to reach it and how to pay for gas there.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// A short name (`testnet`, `mainnet`, or anything for a custom one).
    pub name: String,
    /// The chain id, checked against the node at start.
    pub chain_id: String,
    /// Public gRPC endpoints, tried in order.
    pub grpc_endpoints: Vec<String>,
    /// The CometBFT websocket (`wss://host/websocket`), if any.
    pub websocket_url: Option<String>,
    /// The fee denomination (always `uallo` on Allora; a worker refuses
    /// any other).
    pub fee_denom: String,
    /// How the gas price is chosen.
    pub gas_price: GasPriceSource,
    /// The emissions version the network is listed with (an expectation;
    /// the chain's own is detected).
    pub emissions: Option<EmissionsVersion>,
    /// The faucet, on networks that have one.
    pub faucet_url: Option<String>,
}

impl Network {
    /// Allora testnet (`allora-testnet-1`).
    pub fn testnet() -> Network {
        Network {
            name: "testnet".into(),
            chain_id: "allora-testnet-1".into(),
            grpc_endpoints: vec!["https://allora-grpc.testnet.allora.network:443".into()],
            websocket_url: Some("wss://allora-rpc.testnet.allora.network/websocket".into()),
            fee_denom: DENOM.into(),
            gas_price: feemarket(GasPrice::from_uallo(10)),
            emissions: Some(EmissionsVersion::V10),
            faucet_url: Some("https://faucet.testnet.allora.network/".into()),
        }
    }

    /// Allora mainnet (`allora-mainnet-1`).
    pub fn mainnet() -> Network {
        Network {
            name: "mainnet".into(),
            chain_id: "allora-mainnet-1".into(),
            grpc_endpoints: vec!["https://allora-grpc.mainnet.allora.network:443".into()],
            websocket_url: Some("wss://allora-rpc.mainnet.allora.network/websocket".into()),
            fee_denom: DENOM.into(),
            gas_price: feemarket(GasPrice::from_uallo(250_000_000)),
            emissions: Some(EmissionsVersion::V9),
            faucet_url: None,
        }
    }

    /// The preset named `name` (`testnet` or `mainnet`, any case).
    pub fn preset(name: &str) -> Result<Network, UnknownNetwork> {
        match name.trim().to_ascii_lowercase().as_str() {
            "testnet" => Ok(Network::testnet()),
            "mainnet" => Ok(Network::mainnet()),
            _ => Err(UnknownNetwork {
                name: name.to_owned(),
            }),
        }
    }

    /// The names of the presets.
    pub const PRESETS: &'static [&'static str] = &["testnet", "mainnet"];

    /// Whether the fee denomination is the chain's (`uallo`).
    pub fn check_denom(&self) -> Result<(), String> {
        if self.fee_denom == DENOM {
            Ok(())
        } else {
            Err(format!(
                "network {}: fee denomination {:?} is not the chain's; Allora charges fees in {DENOM}",
                self.name, self.fee_denom
            ))
        }
    }
}

/// The feemarket's price with the usual headroom, `fallback` when it cannot
/// be read.
fn feemarket(fallback: GasPrice) -> GasPriceSource {
    GasPriceSource::Feemarket {
        multiplier_percent: FEEMARKET_MULTIPLIER_PERCENT,
        cache_for: FEEMARKET_CACHE,
        fallback,
    }
}

impl FromStr for Network {
    type Err = UnknownNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Network::preset(s)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.chain_id)
    }
}

/// A network name that is not a preset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a known network; use one of: testnet, mainnet (or give the chain id and endpoints)")]
pub struct UnknownNetwork {
    /// The name given.
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_carry_the_listed_facts() {
        let testnet = Network::testnet();
        assert_eq!(testnet.chain_id, "allora-testnet-1");
        assert_eq!(testnet.emissions, Some(EmissionsVersion::V10));
        assert_eq!(testnet.fee_denom, "uallo");
        assert!(testnet.grpc_endpoints[0].starts_with("https://allora-grpc.testnet."));
        let mainnet = Network::mainnet();
        assert_eq!(mainnet.chain_id, "allora-mainnet-1");
        assert_eq!(mainnet.emissions, Some(EmissionsVersion::V9));
        assert!(mainnet.faucet_url.is_none());
        assert!(matches!(
            mainnet.gas_price,
            GasPriceSource::Feemarket { fallback, .. } if fallback == GasPrice::from_uallo(250_000_000)
        ));
    }

    #[test]
    fn presets_are_found_by_name_and_others_refused() {
        assert_eq!(Network::preset(" TestNet ").unwrap(), Network::testnet());
        assert_eq!("mainnet".parse::<Network>().unwrap(), Network::mainnet());
        let err = Network::preset("devnet").unwrap_err();
        assert!(err.to_string().contains("testnet, mainnet"), "{err}");
        for name in Network::PRESETS {
            assert!(Network::preset(name).is_ok());
        }
    }

    #[test]
    fn another_denomination_is_refused() {
        let mut net = Network::testnet();
        assert!(net.check_denom().is_ok());
        net.fee_denom = "uatom".into();
        assert!(net.check_denom().unwrap_err().contains("uallo"));
    }
}
