//! The fee grant module's `Allowance` query: whether an account may have its
//! transaction fees paid by another (cosmos-sdk `x/feegrant`, enabled on
//! Allora: allora-chain `app/keepers/keepers.go` holds its keeper).

use std::time::{Duration, SystemTime};

use cosmrs::proto::cosmos::base::v1beta1::Coin;
use cosmrs::proto::cosmos::feegrant::v1beta1 as feegrant;
use prost::{Message, Name};

use super::error::found;
use super::{ChainClient, ClientError};
use crate::keys::Address;
use crate::tx::DENOM;

/// A fee allowance a granter gave a grantee, as the chain reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeAllowance {
    /// Who pays.
    pub granter: String,
    /// Whose fees are paid.
    pub grantee: String,
    /// The allowance's type URL (`/cosmos.feegrant.v1beta1.BasicAllowance`,
    /// `PeriodicAllowance` or `AllowedMsgAllowance`).
    pub type_url: String,
    /// What is left to spend, in uallo; `None` when there is no limit.
    pub spend_limit_uallo: Option<u128>,
    /// What is left in the current period of a periodic allowance, in uallo.
    pub period_can_spend_uallo: Option<u128>,
    /// When the allowance expires; `None`: never.
    pub expiration: Option<SystemTime>,
    /// The message types it pays for; empty: any.
    pub allowed_messages: Vec<String>,
}

impl FeeAllowance {
    /// Whether the allowance has expired at `now` (the chain compares with
    /// the block time).
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expiration.is_some_and(|at| at < now)
    }

    /// The most it can pay now, in uallo (`None`: no limit): the lower of
    /// the spend limit and what is left in the current period.
    pub fn spendable_uallo(&self) -> Option<u128> {
        match (self.spend_limit_uallo, self.period_can_spend_uallo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether it pays for messages of `type_url`.
    pub fn allows_message(&self, type_url: &str) -> bool {
        self.allowed_messages.is_empty()
            || self
                .allowed_messages
                .iter()
                .any(|m| m.trim_start_matches('/') == type_url.trim_start_matches('/'))
    }
}

fn malformed(reason: impl Into<String>) -> ClientError {
    super::error::malformed("Allowance", reason)
}

/// The uallo amount among `coins` (`None` when the list is empty: no
/// limit; `Some(0)` when it limits only other denominations).
fn uallo_of(coins: &[Coin]) -> Result<Option<u128>, ClientError> {
    if coins.is_empty() {
        return Ok(None);
    }
    let mut total = 0u128;
    for coin in coins.iter().filter(|c| c.denom == DENOM) {
        total = total.saturating_add(
            coin.amount
                .parse::<u128>()
                .map_err(|_| malformed(format!("coin amount {:?}", coin.amount)))?,
        );
    }
    Ok(Some(total))
}

fn time_of(t: &cosmrs::proto::Timestamp) -> Option<SystemTime> {
    let secs = u64::try_from(t.seconds).ok()?;
    let nanos = u32::try_from(t.nanos).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

fn fill_basic(out: &mut FeeAllowance, basic: &feegrant::BasicAllowance) -> Result<(), ClientError> {
    out.spend_limit_uallo = uallo_of(&basic.spend_limit)?;
    out.expiration = basic.expiration.as_ref().and_then(time_of);
    Ok(())
}

/// Reads an allowance `Any` (nested inside an `AllowedMsgAllowance` at most
/// once, as the chain allows).
fn fill(out: &mut FeeAllowance, any: &cosmrs::proto::Any, depth: u8) -> Result<(), ClientError> {
    let bad = |e: prost::DecodeError| malformed(format!("{}: {e}", any.type_url));
    let url = any.type_url.trim_start_matches('/');
    if url == feegrant::BasicAllowance::full_name() {
        fill_basic(
            out,
            &feegrant::BasicAllowance::decode(any.value.as_slice()).map_err(bad)?,
        )
    } else if url == feegrant::PeriodicAllowance::full_name() {
        let periodic = feegrant::PeriodicAllowance::decode(any.value.as_slice()).map_err(bad)?;
        if let Some(basic) = &periodic.basic {
            fill_basic(out, basic)?;
        }
        out.period_can_spend_uallo = uallo_of(&periodic.period_can_spend)?;
        Ok(())
    } else if url == feegrant::AllowedMsgAllowance::full_name() && depth == 0 {
        let allowed = feegrant::AllowedMsgAllowance::decode(any.value.as_slice()).map_err(bad)?;
        out.allowed_messages = allowed.allowed_messages;
        match &allowed.allowance {
            Some(inner) => fill(out, inner, depth + 1),
            None => Err(malformed("AllowedMsgAllowance without an allowance")),
        }
    } else {
        Err(malformed(format!(
            "unknown allowance type {}",
            any.type_url
        )))
    }
}

impl ChainClient {
    /// The fee allowance `granter` gave `grantee`, or `None` when there is
    /// none (the chain answers that with an error whose text says
    /// `fee-grant not found`, or `NotFound`).
    pub async fn fee_allowance(
        &self,
        granter: &Address,
        grantee: &Address,
    ) -> Result<Option<FeeAllowance>, ClientError> {
        let request = feegrant::QueryAllowanceRequest {
            granter: granter.to_string(),
            grantee: grantee.to_string(),
        };
        let answer = self
            .call_with("Allowance", request, |ch, request| async move {
                feegrant::query_client::QueryClient::new(ch)
                    .allowance(request)
                    .await
            })
            .await;
        let Some(response) = found(answer, "fee-grant not found")? else {
            return Ok(None);
        };
        let Some(grant) = response.allowance else {
            return Ok(None);
        };
        let any = grant
            .allowance
            .ok_or_else(|| malformed("grant without an allowance"))?;
        let mut out = FeeAllowance {
            granter: grant.granter,
            grantee: grant.grantee,
            type_url: any.type_url.clone(),
            spend_limit_uallo: None,
            period_can_spend_uallo: None,
            expiration: None,
            allowed_messages: Vec::new(),
        };
        fill(&mut out, &any, 0)?;
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(limit: Option<u128>, expires: Option<i64>) -> feegrant::BasicAllowance {
        feegrant::BasicAllowance {
            spend_limit: limit
                .map(|l| {
                    vec![Coin {
                        denom: DENOM.into(),
                        amount: l.to_string(),
                    }]
                })
                .unwrap_or_default(),
            expiration: expires.map(|seconds| cosmrs::proto::Timestamp { seconds, nanos: 0 }),
        }
    }

    fn any<M: Message + Name>(m: &M) -> cosmrs::proto::Any {
        cosmrs::proto::Any {
            type_url: M::type_url(),
            value: m.encode_to_vec(),
        }
    }

    fn read(a: &cosmrs::proto::Any) -> FeeAllowance {
        let mut out = FeeAllowance {
            granter: "g".into(),
            grantee: "e".into(),
            type_url: a.type_url.clone(),
            spend_limit_uallo: None,
            period_can_spend_uallo: None,
            expiration: None,
            allowed_messages: Vec::new(),
        };
        fill(&mut out, a, 0).unwrap();
        out
    }

    #[test]
    fn allowances_of_every_kind_are_read() {
        let b = read(&any(&basic(Some(5_000), Some(100))));
        assert_eq!(b.spendable_uallo(), Some(5_000));
        assert!(b.is_expired_at(SystemTime::UNIX_EPOCH + Duration::from_secs(101)));
        assert!(!b.is_expired_at(SystemTime::UNIX_EPOCH + Duration::from_secs(99)));
        let unlimited = read(&any(&basic(None, None)));
        assert_eq!(unlimited.spendable_uallo(), None);
        assert!(!unlimited.is_expired_at(SystemTime::now()));

        let periodic = feegrant::PeriodicAllowance {
            basic: Some(basic(Some(9_000), None)),
            period: None,
            period_spend_limit: vec![],
            period_can_spend: vec![Coin {
                denom: DENOM.into(),
                amount: "700".into(),
            }],
            period_reset: None,
        };
        assert_eq!(read(&any(&periodic)).spendable_uallo(), Some(700));

        let allowed = feegrant::AllowedMsgAllowance {
            allowance: Some(any(&basic(Some(1), None))),
            allowed_messages: vec!["/emissions.v10.InsertWorkerPayloadRequest".into()],
        };
        let a = read(&any(&allowed));
        assert!(a.allows_message("/emissions.v10.InsertWorkerPayloadRequest"));
        assert!(!a.allows_message("/emissions.v10.RegisterRequest"));
        assert_eq!(a.spendable_uallo(), Some(1));
        assert!(unlimited.allows_message("/anything"));
    }
}
