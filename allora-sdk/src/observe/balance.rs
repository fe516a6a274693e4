//! Keeping an observer's view of the worker's balance current.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::ChainClient;
use crate::keys::Address;
use crate::worker::WorkerObserver;

/// How often [`spawn_balance_refresh`] is usually asked to query.
pub const DEFAULT_BALANCE_REFRESH: Duration = Duration::from_secs(60);

/// Reports the balance of `address` (in uallo, the chain's fee denom) to
/// `observer` every `every`, until `stop` is cancelled. The worker itself
/// reports the balance once, at start; this keeps gauges and low-balance
/// alarms current while it runs. A failed query is logged and retried at the
/// next tick; it never stops the task.
pub fn spawn_balance_refresh(
    client: ChainClient,
    address: Address,
    observer: Arc<dyn WorkerObserver>,
    every: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let every = every.max(Duration::from_millis(10));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.cancelled() => return,
            }
            let query = client.balance(&address, crate::tx::DENOM);
            let answer = tokio::select! {
                answer = query => answer,
                () = stop.cancelled() => return,
            };
            match answer {
                Ok(balance) => observer.balance(balance),
                Err(error) => tracing::warn!(%address, %error, "could not refresh the balance"),
            }
        }
    })
}
