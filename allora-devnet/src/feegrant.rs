//! Fee grants (cosmos-sdk `x/feegrant`, which Allora enables: allora-chain
//! `app/keepers/keepers.go`): a granter lets a grantee's transactions name
//! it in `Fee.granter`, and the fee comes out of the granter's account.
//!
//! The devnet keeps basic allowances (an optional spend limit in uallo and
//! an optional expiration) and applies them as the chain's fee decorator
//! does (skip-mev feemarket `x/feemarket/ante/fee.go`, `EscrowFunds`, with
//! `x/feegrant` `keeper.UseGrantedFees` and `BasicAllowance.Accept`):
//!
//! | Case | Codespace / code | Log |
//! |---|---|---|
//! | no allowance from the granter to the signer | sdk / 38 | `error escrowing funds: <granter> does not allow to pay fees for <payer>: fee-grant not found: not found` |
//! | the allowance expired (block time after its expiration) | feegrant / 3 | `error escrowing funds: <granter> does not allow to pay fees for <payer>: basic allowance: fee allowance expired` |
//! | the fee is more than what is left of the spend limit | feegrant / 2 | `error escrowing funds: <granter> does not allow to pay fees for <payer>: basic allowance: fee limit exceeded` |
//! | the granter cannot pay | sdk / 5 | `error escrowing funds: spendable balance <b>uallo is smaller than <fee>uallo: insufficient funds` |
//!
//! All happen in the ante handler, so at CheckTx: the transaction never
//! enters the mempool and nothing is spent. An accepted fee lowers the spend
//! limit; an allowance spent to zero is removed, and expired ones are
//! pruned at the end of each block (the module's `EndBlocker`). A granter
//! naming itself pays its own fee without an allowance.

use std::collections::BTreeMap;
use std::time::SystemTime;

use allora_sdk::keys::Address;

use super::abci::{self, AbciError};
use super::error::DevnetError;

/// A basic fee allowance (`cosmos.feegrant.v1beta1.BasicAllowance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BasicAllowance {
    /// Most the granter pays in total, in uallo; `None`: no limit.
    pub spend_limit: Option<u128>,
    /// When the allowance stops (compared with the block time); `None`: never.
    pub expiration: Option<SystemTime>,
}

impl BasicAllowance {
    /// No spend limit, no expiration.
    pub fn unlimited() -> Self {
        BasicAllowance::default()
    }

    /// A spend limit in uallo, no expiration.
    pub fn spend_limit(uallo: u128) -> Self {
        BasicAllowance {
            spend_limit: Some(uallo),
            expiration: None,
        }
    }

    /// This allowance, expiring at `at`.
    pub fn expiring_at(mut self, at: SystemTime) -> Self {
        self.expiration = Some(at);
        self
    }
}

/// An allowance from a granter to a grantee (`cosmos.feegrant.v1beta1.Grant`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeGrant {
    /// Who pays.
    pub granter: Address,
    /// Whose fees it pays.
    pub grantee: Address,
    /// The limits.
    pub allowance: BasicAllowance,
}

impl FeeGrant {
    /// A grant of `allowance` from `granter` to `grantee`.
    pub fn new(granter: Address, grantee: Address, allowance: BasicAllowance) -> Self {
        FeeGrant {
            granter,
            grantee,
            allowance,
        }
    }
}

/// The allowances, by (granter, grantee) address text.
pub(crate) type Grants = BTreeMap<(String, String), BasicAllowance>;

/// Stores a grant, as `MsgGrantAllowance` would: one allowance per pair,
/// and not one that has expired already.
pub(crate) fn grant(
    grants: &mut Grants,
    grant: &FeeGrant,
    now: SystemTime,
) -> Result<(), DevnetError> {
    let key = (grant.granter.to_string(), grant.grantee.to_string());
    if grants.contains_key(&key) {
        return Err(DevnetError::AlreadyExists(format!(
            "fee allowance from {} to {}",
            grant.granter, grant.grantee
        )));
    }
    if grant.allowance.spend_limit == Some(0) {
        return Err(DevnetError::Config("spend limit must be positive".into()));
    }
    if grant.allowance.expiration.is_some_and(|at| at < now) {
        return Err(DevnetError::Config(
            "expiration is before current block time".into(),
        ));
    }
    grants.insert(key, grant.allowance);
    Ok(())
}

/// `UseGrantedFees`: lets `granter` pay `fee` uallo for `grantee` at block
/// time `now`, lowering the spend limit (and removing an allowance spent to
/// zero).
pub(crate) fn use_granted_fees(
    grants: &mut Grants,
    granter: &str,
    grantee: &str,
    fee: u128,
    now: SystemTime,
) -> Result<(), AbciError> {
    let key = (granter.to_owned(), grantee.to_owned());
    let Some(allowance) = grants.get_mut(&key) else {
        return Err(abci::NOT_FOUND.wrap("fee-grant not found"));
    };
    if allowance.expiration.is_some_and(|at| at < now) {
        return Err(abci::FEE_LIMIT_EXPIRED.wrap("basic allowance"));
    }
    if let Some(limit) = allowance.spend_limit {
        let left = limit
            .checked_sub(fee)
            .ok_or_else(|| abci::FEE_LIMIT_EXCEEDED.wrap("basic allowance"))?;
        allowance.spend_limit = Some(left);
        if left == 0 {
            grants.remove(&key);
        }
    }
    Ok(())
}

/// The module's end-of-block pruning of expired allowances.
pub(crate) fn prune_expired(grants: &mut Grants, now: SystemTime) {
    grants.retain(|_, a| a.expiration.is_none_or(|at| at > now));
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn addr(seed: u8) -> Address {
        allora_sdk::keys::WorkerKey::from_private_key_bytes(&[seed; 32])
            .unwrap()
            .address()
            .clone()
    }

    #[test]
    fn allowances_pay_within_their_limit_and_time() {
        let now = SystemTime::now();
        let (g, e) = (addr(1), addr(2));
        let mut grants = Grants::new();
        let err = use_granted_fees(&mut grants, g.as_str(), e.as_str(), 5, now).unwrap_err();
        assert_eq!((err.codespace, err.code), ("sdk", 38));
        assert_eq!(err.log, "fee-grant not found: not found");

        grant(
            &mut grants,
            &FeeGrant::new(g.clone(), e.clone(), BasicAllowance::spend_limit(10)),
            now,
        )
        .unwrap();
        use_granted_fees(&mut grants, g.as_str(), e.as_str(), 4, now).unwrap();
        let err = use_granted_fees(&mut grants, g.as_str(), e.as_str(), 7, now).unwrap_err();
        assert_eq!((err.codespace, err.code), ("feegrant", 2));
        assert_eq!(err.log, "basic allowance: fee limit exceeded");
        // Spent to zero: removed.
        use_granted_fees(&mut grants, g.as_str(), e.as_str(), 6, now).unwrap();
        assert!(grants.is_empty());

        let soon = now + Duration::from_secs(10);
        grant(
            &mut grants,
            &FeeGrant::new(
                g.clone(),
                e.clone(),
                BasicAllowance::unlimited().expiring_at(soon),
            ),
            now,
        )
        .unwrap();
        use_granted_fees(&mut grants, g.as_str(), e.as_str(), 1_000_000, now).unwrap();
        let later = soon + Duration::from_secs(1);
        let err = use_granted_fees(&mut grants, g.as_str(), e.as_str(), 1, later).unwrap_err();
        assert_eq!((err.codespace, err.code), ("feegrant", 3));
        assert_eq!(err.log, "basic allowance: fee allowance expired");
        prune_expired(&mut grants, later);
        assert!(grants.is_empty());

        // Grants that cannot be used are refused.
        let past = FeeGrant::new(
            g.clone(),
            e.clone(),
            BasicAllowance::unlimited().expiring_at(now - Duration::from_secs(1)),
        );
        assert!(grant(&mut grants, &past, now).is_err());
        let zero = FeeGrant::new(g.clone(), e.clone(), BasicAllowance::spend_limit(0));
        assert!(grant(&mut grants, &zero, now).is_err());
        let ok = FeeGrant::new(g, e, BasicAllowance::unlimited());
        grant(&mut grants, &ok, now).unwrap();
        assert!(grant(&mut grants, &ok, now).is_err(), "one per pair");
    }
}
