//! Fees: a gas price (static, or the feemarket's current price) times the
//! gas limit times a tier.

use std::time::Duration;

use tokio::time::Instant;

use crate::client::ChainClient;
use crate::tx::{Fee, FeeTier, GasPrice, DENOM};

/// Where the gas price comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum GasPriceSource {
    /// A fixed price.
    Static(GasPrice),
    /// The feemarket module's current price, cached for `cache_for`, times
    /// `multiplier_percent / 100`; `fallback` when the query fails.
    Feemarket {
        /// Headroom over the current minimum, in percent (default 120).
        multiplier_percent: u32,
        /// How long a fetched price is reused.
        cache_for: Duration,
        /// The price used when the query fails.
        fallback: GasPrice,
    },
}

/// Gas price source and tier, with the price cache.
#[derive(Debug, Clone)]
pub struct FeePolicy {
    source: GasPriceSource,
    tier: FeeTier,
    cached: Option<(GasPrice, Instant)>,
}

impl FeePolicy {
    /// A policy.
    pub fn new(source: GasPriceSource, tier: FeeTier) -> Self {
        FeePolicy {
            source,
            tier,
            cached: None,
        }
    }

    /// The configured tier.
    pub fn tier(&self) -> FeeTier {
        self.tier
    }

    /// The gas price to use now.
    pub async fn gas_price(&mut self, client: &ChainClient) -> GasPrice {
        match &self.source {
            GasPriceSource::Static(price) => *price,
            GasPriceSource::Feemarket {
                multiplier_percent,
                cache_for,
                fallback,
            } => {
                if let Some((price, at)) = self.cached {
                    if at.elapsed() < *cache_for {
                        return price;
                    }
                }
                match client.gas_price(DENOM).await {
                    Ok(price) => {
                        let price = price.scaled(u128::from(*multiplier_percent), 100);
                        self.cached = Some((price, Instant::now()));
                        price
                    }
                    Err(error) => {
                        tracing::warn!(%error, fallback = %fallback, "feemarket gas price unavailable; using the fallback price");
                        *fallback
                    }
                }
            }
        }
    }

    /// Forgets the cached price (after an insufficient-fee rejection).
    pub fn invalidate(&mut self) {
        self.cached = None;
    }

    /// The fee for `gas_limit` at `tier`.
    pub async fn fee(&mut self, client: &ChainClient, gas_limit: u64, tier: FeeTier) -> Fee {
        let price = self.gas_price(client).await;
        Fee::for_gas(gas_limit, price, tier)
    }
}
