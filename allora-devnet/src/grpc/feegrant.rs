//! `cosmos.feegrant.v1beta1.Query`: the fee allowances of the devnet's
//! fee grant store (see the `feegrant` module), as basic allowances.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cosmrs::proto::cosmos::base::v1beta1::Coin;
use cosmrs::proto::cosmos::feegrant::v1beta1 as feegrant;
use cosmrs::proto::cosmos::feegrant::v1beta1::query_server::Query;
use cosmrs::proto::{Any, Timestamp};
use prost::{Message, Name};
use tonic::Status;

use allora_sdk::tx::DENOM;

use super::super::feegrant::BasicAllowance;
use super::super::Shared;
use super::parse_address;

/// Serves fee allowances from the devnet ledger.
#[derive(Debug)]
pub(crate) struct FeegrantService {
    shared: Arc<Shared>,
}

impl FeegrantService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        FeegrantService { shared }
    }

    /// Every grant whose (granter, grantee) passes `keep`.
    fn grants(&self, keep: impl Fn(&str, &str) -> bool) -> Vec<feegrant::Grant> {
        self.shared
            .chain()
            .ledger
            .fee_grants
            .iter()
            .filter(|((granter, grantee), _)| keep(granter, grantee))
            .map(|((granter, grantee), allowance)| grant(granter, grantee, allowance))
            .collect()
    }
}

fn timestamp(at: SystemTime) -> Timestamp {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}

fn grant(granter: &str, grantee: &str, allowance: &BasicAllowance) -> feegrant::Grant {
    let basic = feegrant::BasicAllowance {
        spend_limit: allowance
            .spend_limit
            .map(|limit| {
                vec![Coin {
                    denom: DENOM.to_owned(),
                    amount: limit.to_string(),
                }]
            })
            .unwrap_or_default(),
        expiration: allowance.expiration.map(timestamp),
    };
    feegrant::Grant {
        granter: granter.to_owned(),
        grantee: grantee.to_owned(),
        allowance: Some(Any {
            type_url: feegrant::BasicAllowance::type_url(),
            value: basic.encode_to_vec(),
        }),
    }
}

unary_handlers! {
    impl Query for FeegrantService {
        fn allowance(
            &self,
            req: feegrant::QueryAllowanceRequest,
        ) -> feegrant::QueryAllowanceResponse {
            let granter = parse_address(&req.granter)?;
            let grantee = parse_address(&req.grantee)?;
            let found = self.grants(|g, e| g == granter.as_str() && e == grantee.as_str());
            match found.into_iter().next() {
                Some(grant) => Ok(feegrant::QueryAllowanceResponse {
                    allowance: Some(grant),
                }),
                // The keeper's `ErrNotFound` comes back through the gRPC query
                // router as an internal error with the wrapped text.
                None => Err(Status::internal("fee-grant not found: not found")),
            }
        }

        fn allowances(
            &self,
            request: feegrant::QueryAllowancesRequest,
        ) -> feegrant::QueryAllowancesResponse {
            let grantee = parse_address(&request.grantee)?;
            Ok(feegrant::QueryAllowancesResponse {
                allowances: self.grants(|_, e| e == grantee.as_str()),
                pagination: None,
            })
        }

        fn allowances_by_granter(
            &self,
            request: feegrant::QueryAllowancesByGranterRequest,
        ) -> feegrant::QueryAllowancesByGranterResponse {
            let granter = parse_address(&request.granter)?;
            Ok(feegrant::QueryAllowancesByGranterResponse {
                allowances: self.grants(|g, _| g == granter.as_str()),
                pagination: None,
            })
        }
    }
}
