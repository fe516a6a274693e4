//! Gas limits: simulation times an adjustment, with a fallback when
//! simulation is not possible or says nothing definitive; for routine
//! transactions, the gas of a recent simulation of one as large.
//!
//! Simulation also shows the chain's verdict on each message before any fee
//! is paid, so it is the default. A worker whose windows are routine (fresh,
//! of topics the chain accepted last time) sends many transactions of the
//! same shape every epoch; those reuse a [`GasMemory`] figure and save a
//! round trip and the node's re-execution of every payload.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::{ChainClient, ChainError, ClientError, TxErrorKind};
use crate::keys::{Address, PublicKey};
use crate::tx::{Fee, PreparedTx};

use super::{message_index, SubmitError};

/// How the gas limit of a transaction is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GasPolicy {
    /// Multiplier on simulated gas (default 1.3).
    pub adjustment: f64,
    /// Gas per message when simulation fails (default 250 000, as the
    /// official SDK assumes for a worker payload).
    pub fallback_per_message: u64,
    /// Lower bound of any gas limit (default 100 000).
    pub min_gas: u64,
    /// Upper bound of any gas limit (default 50 000 000).
    pub max_gas: u64,
    /// Factor applied after an out-of-gas failure (default 1.5).
    pub out_of_gas_bump: f64,
}

impl Default for GasPolicy {
    fn default() -> Self {
        GasPolicy {
            adjustment: 1.3,
            fallback_per_message: 250_000,
            min_gas: 100_000,
            max_gas: 50_000_000,
            out_of_gas_bump: 1.5,
        }
    }
}

impl GasPolicy {
    /// The limit for a simulated gas use.
    pub fn from_simulation(&self, gas_used: u64) -> u64 {
        self.clamp(scale(gas_used, self.adjustment))
    }

    /// The limit when simulation failed, for `messages` messages.
    pub fn fallback(&self, messages: usize) -> u64 {
        self.clamp(
            self.fallback_per_message
                .saturating_mul(u64::try_from(messages.max(1)).unwrap_or(u64::MAX)),
        )
    }

    /// The limit after running out of gas with `previous`.
    pub fn bumped(&self, previous: u64) -> u64 {
        self.clamp(scale(previous, self.out_of_gas_bump).max(previous.saturating_add(1)))
    }

    /// Gas to ask for in a simulation: enough that simulation itself does
    /// not run out.
    pub fn simulation_limit(&self, messages: usize) -> u64 {
        self.max_gas.min(self.fallback(messages).saturating_mul(4))
    }

    fn clamp(&self, gas: u64) -> u64 {
        gas.clamp(self.min_gas, self.max_gas.max(self.min_gas))
    }
}

/// Gas used by recent simulations, by message count: what a routine
/// transaction of as many messages is expected to use.
#[derive(Debug, Default)]
pub struct GasMemory {
    by_count: HashMap<usize, Remembered>,
}

#[derive(Debug, Clone, Copy)]
struct Remembered {
    gas_used: u64,
    body_len: usize,
    at: Instant,
}

impl GasMemory {
    /// Notes that a transaction of `messages` messages and a body of
    /// `body_len` bytes used `gas_used` in simulation at `now`.
    pub fn remember(&mut self, messages: usize, body_len: usize, gas_used: u64, now: Instant) {
        self.by_count.insert(
            messages,
            Remembered {
                gas_used,
                body_len: body_len.max(1),
                at: now,
            },
        );
    }

    /// The gas a transaction of `messages` messages and a body of
    /// `body_len` bytes is expected to use, from a simulation no older than
    /// `max_age`: the remembered figure, scaled up (never down) by the
    /// body's size, as gas grows with the bytes stored and sent.
    pub fn recall(
        &self,
        messages: usize,
        body_len: usize,
        now: Instant,
        max_age: Duration,
    ) -> Option<u64> {
        let r = self.by_count.get(&messages)?;
        if now.saturating_duration_since(r.at) > max_age {
            return None;
        }
        let scale = u128::from(r.gas_used) * body_len.max(r.body_len) as u128;
        u64::try_from(scale.div_ceil(r.body_len as u128)).ok()
    }

    /// Forgets the figure for `messages` messages (it proved too low).
    pub fn forget(&mut self, messages: usize) {
        self.by_count.remove(&messages);
    }
}

/// What the gas step found out.
#[derive(Debug)]
pub(crate) enum Estimate {
    /// The transaction used this much gas in simulation.
    Simulated(u64),
    /// Simulation said nothing definitive: use this limit.
    Fallback(u64),
    /// The chain's verdict on the transaction itself, given in simulation.
    Refused(ChainError),
}

/// Simulates `tx` with `sequence` (and the fee granter the transaction
/// will name, which the chain checks in simulation too) and turns the gas
/// used into a limit.
///
/// Simulation is advisory: a failure that is not the chain's verdict on the
/// transaction (the endpoint cannot simulate, or an unclassified error that
/// names no message) falls back to [`GasPolicy::fallback`], and the
/// broadcast finds out the rest.
pub(crate) async fn estimate(
    client: &ChainClient,
    policy: &GasPolicy,
    tx: &PreparedTx,
    public_key: PublicKey,
    sequence: u64,
    granter: Option<&Address>,
) -> Result<Estimate, SubmitError> {
    let count = tx.message_count();
    let probe_fee = Fee::uallo(1, policy.simulation_limit(count)).with_granter(granter.cloned());
    let bytes = tx.simulation_bytes(public_key, sequence, &probe_fee)?;
    match client.simulate(bytes).await {
        Ok(estimate) => Ok(Estimate::Simulated(estimate.gas_used)),
        Err(ClientError::Chain(error)) if is_verdict(&error) => Ok(Estimate::Refused(error)),
        Err(error @ ClientError::DeadlineExceeded { .. }) => Err(error.into()),
        Err(error) => {
            tracing::debug!(%error, "simulation failed; using the fallback gas limit");
            Ok(Estimate::Fallback(policy.fallback(count)))
        }
    }
}

/// Whether a simulation failure is the chain's verdict on the transaction
/// rather than simulation not working.
fn is_verdict(error: &ChainError) -> bool {
    error.kind() != TxErrorKind::Other || message_index(&error.raw_log).is_some()
}

fn scale(gas: u64, factor: f64) -> u64 {
    let scaled = (gas as f64 * factor).ceil();
    if scaled.is_finite() && scaled >= 0.0 && scaled < u64::MAX as f64 {
        scaled as u64
    } else {
        u64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_gas_scales_up_with_size_and_expires() {
        let now = Instant::now();
        let age = Duration::from_secs(60);
        let mut m = GasMemory::default();
        assert_eq!(m.recall(3, 900, now, age), None);
        m.remember(3, 900, 300_000, now);
        assert_eq!(m.recall(3, 900, now, age), Some(300_000));
        assert_eq!(
            m.recall(3, 600, now, age),
            Some(300_000),
            "never scaled down"
        );
        assert_eq!(
            m.recall(3, 1_000, now, age),
            Some(333_334),
            "scaled up, rounded up"
        );
        assert_eq!(m.recall(4, 900, now, age), None, "another message count");
        assert_eq!(
            m.recall(3, 900, now + age + Duration::from_millis(1), age),
            None
        );
        m.forget(3);
        assert_eq!(m.recall(3, 900, now, age), None);
    }

    #[test]
    fn limits_follow_the_policy() {
        let p = GasPolicy::default();
        assert_eq!(p.from_simulation(180_000), 234_000);
        assert_eq!(p.from_simulation(1), p.min_gas);
        assert_eq!(p.fallback(3), 750_000);
        assert_eq!(p.bumped(200_000), 300_000);
        assert_eq!(p.from_simulation(u64::MAX), p.max_gas);
        assert!(p.simulation_limit(1) >= p.fallback(1));
    }
}
