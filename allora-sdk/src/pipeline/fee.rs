//! Fees: a gas price (static, or the feemarket's current price) times the
//! gas limit times a tier, never below what the chain last said it
//! requires.
//!
//! An insufficient-fee answer names the fee the chain requires for the gas
//! limit sent; [`FeePolicy::require`] turns it into a price floor, so the
//! next attempt pays at least that (in one step, not a tier at a time) and
//! so do the transactions after it, for [`FLOOR_KEPT_FOR`]. Without an
//! amount, the fee market's current price becomes the floor.

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

/// How long a price floor learned from the chain is kept. After that the
/// configured price is tried again (a refusal at CheckTx costs no fee).
pub const FLOOR_KEPT_FOR: Duration = Duration::from_secs(600);

/// 10^18: a gas price is held in atto-uallo per gas.
const ATTO: u128 = 1_000_000_000_000_000_000;

/// Gas price source and tier, with the price cache and the floor learned
/// from the chain.
#[derive(Debug, Clone)]
pub struct FeePolicy {
    source: GasPriceSource,
    tier: FeeTier,
    cached: Option<(GasPrice, Instant)>,
    /// The lowest price the chain said it accepts, and when it said so.
    floor: Option<(GasPrice, Instant)>,
    /// Ask the fee market for its price at the next fee: the price in use
    /// proved too low and the chain named no amount.
    consult_feemarket: bool,
}

impl FeePolicy {
    /// A policy.
    pub fn new(source: GasPriceSource, tier: FeeTier) -> Self {
        FeePolicy {
            source,
            tier,
            cached: None,
            floor: None,
            consult_feemarket: false,
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

    /// Forgets the cached price (after an insufficient-fee rejection that
    /// named no amount): the next fee uses the fee market's current price
    /// as a floor, whatever the source.
    pub fn invalidate(&mut self) {
        self.cached = None;
        self.consult_feemarket = true;
    }

    /// The chain required `required` uallo for a transaction of
    /// `gas_limit`: keep the price that pays it as a floor.
    pub fn require(&mut self, required: u128, gas_limit: u64) {
        let gas = u128::from(gas_limit.max(1));
        let atto = required.saturating_mul(ATTO).div_ceil(gas);
        self.raise_floor(GasPrice::from_atto(atto));
    }

    /// Keeps `price` as a floor (when above the current one).
    pub fn raise_floor(&mut self, price: GasPrice) {
        let now = Instant::now();
        let current = self.current_floor(now);
        if current.is_none_or(|floor| price > floor) {
            self.floor = Some((price, now));
        }
    }

    fn current_floor(&self, now: Instant) -> Option<GasPrice> {
        self.floor
            .filter(|(_, at)| now.saturating_duration_since(*at) < FLOOR_KEPT_FOR)
            .map(|(price, _)| price)
    }

    /// The least fee the chain is known to accept for `gas_limit` (the floor
    /// times the gas, rounded up, as the chain computes it), if a floor is
    /// known.
    pub fn floor_fee(&self, gas_limit: u64) -> Option<u128> {
        let price = self.current_floor(Instant::now())?;
        Some(
            price
                .atto()
                .saturating_mul(u128::from(gas_limit))
                .div_ceil(ATTO),
        )
    }

    /// The fee for `gas_limit` at `tier`: the configured price times the
    /// tier, raised to the floor's fee when that is higher.
    pub async fn fee(&mut self, client: &ChainClient, gas_limit: u64, tier: FeeTier) -> Fee {
        if std::mem::take(&mut self.consult_feemarket) {
            match client.gas_price(DENOM).await {
                Ok(price) => self.raise_floor(price),
                Err(error) => {
                    tracing::warn!(%error, "feemarket gas price unavailable after an insufficient-fee answer")
                }
            }
        }
        let price = self.gas_price(client).await;
        let mut fee = Fee::for_gas(gas_limit, price, tier);
        if let Some(floor) = self.floor_fee(gas_limit) {
            fee.amount = fee.amount.max(floor);
        }
        fee
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_fee_becomes_a_floor_that_pays_it_exactly() {
        let mut fees = FeePolicy::new(
            GasPriceSource::Static(GasPrice::from_uallo(1)),
            FeeTier::Eco,
        );
        assert_eq!(fees.floor_fee(200_000), None);
        fees.require(4_500, 3_000);
        assert_eq!(fees.floor_fee(3_000), Some(4_500));
        // 1.5 per gas, rounded up as the chain does.
        assert_eq!(fees.floor_fee(3), Some(5));
        // A lower figure later does not lower the floor.
        fees.require(10, 3_000);
        assert_eq!(fees.floor_fee(3_000), Some(4_500));
        // A fee that does not divide evenly still pays at least what was asked.
        fees.require(10_001, 3);
        assert!(fees.floor_fee(3).unwrap() >= 10_001);
        fees.raise_floor(GasPrice::from_uallo(100_000));
        assert_eq!(fees.floor_fee(2), Some(200_000));
    }

    #[tokio::test(start_paused = true)]
    async fn floors_are_forgotten_after_a_while() {
        let mut fees = FeePolicy::new(
            GasPriceSource::Static(GasPrice::from_uallo(1)),
            FeeTier::Eco,
        );
        fees.require(10, 1);
        tokio::time::advance(FLOOR_KEPT_FOR - Duration::from_secs(1)).await;
        assert_eq!(fees.floor_fee(1), Some(10));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(fees.floor_fee(1), None);
    }
}
