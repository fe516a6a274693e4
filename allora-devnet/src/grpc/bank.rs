//! `cosmos.bank.v1beta1.Query`: balances. The devnet has one denom, uallo.

use std::sync::Arc;

use cosmrs::proto::cosmos::bank::v1beta1 as bank;
use cosmrs::proto::cosmos::bank::v1beta1::query_server::Query;
use cosmrs::proto::cosmos::base::v1beta1::Coin;
use tonic::Status;

use allora_sdk::tx::DENOM;

use super::super::Shared;
use super::parse_address;

/// Serves balances from the devnet ledger.
#[derive(Debug)]
pub(crate) struct BankService {
    shared: Arc<Shared>,
}

impl BankService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        BankService { shared }
    }

    /// The balance of `address` in `denom` (zero for an unknown account or
    /// another denom, as the bank module answers).
    fn balance(&self, address: &str, denom: &str) -> Result<Coin, Status> {
        let address = parse_address(address)?;
        if denom.is_empty() {
            return Err(Status::invalid_argument("invalid denom"));
        }
        let amount = if denom == DENOM {
            self.shared
                .chain()
                .ledger
                .accounts
                .get(address.as_str())
                .map_or(0, |a| a.balance)
        } else {
            0
        };
        Ok(coin(denom, amount))
    }

    fn all_balances(&self, address: &str) -> Result<Vec<Coin>, Status> {
        let coin = self.balance(address, DENOM)?;
        Ok(if coin.amount == "0" {
            Vec::new()
        } else {
            vec![coin]
        })
    }

    fn owners(&self, denom: &str) -> Vec<bank::DenomOwner> {
        if denom != DENOM {
            return Vec::new();
        }
        self.shared
            .chain()
            .ledger
            .accounts
            .iter()
            .filter(|(_, a)| a.balance > 0)
            .map(|(address, a)| bank::DenomOwner {
                address: address.clone(),
                balance: Some(coin(DENOM, a.balance)),
            })
            .collect()
    }

    fn supply(&self) -> u128 {
        self.shared
            .chain()
            .ledger
            .accounts
            .values()
            .fold(0u128, |sum, a| sum.saturating_add(a.balance))
    }
}

fn coin(denom: &str, amount: u128) -> Coin {
    Coin {
        denom: denom.to_owned(),
        amount: amount.to_string(),
    }
}

fn no_metadata(denom: &str) -> Status {
    Status::not_found(format!("client metadata for denom {denom}"))
}

unary_handlers! {
    impl Query for BankService {
        fn balance(&self, req: bank::QueryBalanceRequest) -> bank::QueryBalanceResponse {
            Ok(bank::QueryBalanceResponse {
                balance: Some(self.balance(&req.address, &req.denom)?),
            })
        }

        fn all_balances(
            &self,
            request: bank::QueryAllBalancesRequest,
        ) -> bank::QueryAllBalancesResponse {
            Ok(bank::QueryAllBalancesResponse {
                balances: self.all_balances(&request.address)?,
                pagination: None,
            })
        }

        fn spendable_balances(
            &self,
            request: bank::QuerySpendableBalancesRequest,
        ) -> bank::QuerySpendableBalancesResponse {
            // Nothing is locked on the devnet: spendable is the whole balance.
            Ok(bank::QuerySpendableBalancesResponse {
                balances: self.all_balances(&request.address)?,
                pagination: None,
            })
        }

        fn spendable_balance_by_denom(
            &self,
            req: bank::QuerySpendableBalanceByDenomRequest,
        ) -> bank::QuerySpendableBalanceByDenomResponse {
            Ok(bank::QuerySpendableBalanceByDenomResponse {
                balance: Some(self.balance(&req.address, &req.denom)?),
            })
        }

        fn total_supply(
            &self,
            _request: bank::QueryTotalSupplyRequest,
        ) -> bank::QueryTotalSupplyResponse {
            Ok(bank::QueryTotalSupplyResponse {
                supply: vec![coin(DENOM, self.supply())],
                pagination: None,
            })
        }

        fn supply_of(&self, request: bank::QuerySupplyOfRequest) -> bank::QuerySupplyOfResponse {
            let denom = request.denom;
            let amount = if denom == DENOM { self.supply() } else { 0 };
            Ok(bank::QuerySupplyOfResponse {
                amount: Some(coin(&denom, amount)),
            })
        }

        fn params(&self, _request: bank::QueryParamsRequest) -> bank::QueryParamsResponse {
            Ok(bank::QueryParamsResponse {
                params: Some(bank::Params {
                    default_send_enabled: true,
                    ..Default::default()
                }),
            })
        }

        fn denom_metadata(
            &self,
            request: bank::QueryDenomMetadataRequest,
        ) -> bank::QueryDenomMetadataResponse {
            Err(no_metadata(&request.denom))
        }

        fn denom_metadata_by_query_string(
            &self,
            request: bank::QueryDenomMetadataByQueryStringRequest,
        ) -> bank::QueryDenomMetadataByQueryStringResponse {
            Err(no_metadata(&request.denom))
        }

        fn denoms_metadata(
            &self,
            _request: bank::QueryDenomsMetadataRequest,
        ) -> bank::QueryDenomsMetadataResponse {
            Ok(bank::QueryDenomsMetadataResponse {
                metadatas: Vec::new(),
                pagination: None,
            })
        }

        fn denom_owners(
            &self,
            request: bank::QueryDenomOwnersRequest,
        ) -> bank::QueryDenomOwnersResponse {
            Ok(bank::QueryDenomOwnersResponse {
                denom_owners: self.owners(&request.denom),
                pagination: None,
            })
        }

        fn denom_owners_by_query(
            &self,
            request: bank::QueryDenomOwnersByQueryRequest,
        ) -> bank::QueryDenomOwnersByQueryResponse {
            Ok(bank::QueryDenomOwnersByQueryResponse {
                denom_owners: self.owners(&request.denom),
                pagination: None,
            })
        }

        fn send_enabled(
            &self,
            _request: bank::QuerySendEnabledRequest,
        ) -> bank::QuerySendEnabledResponse {
            Ok(bank::QuerySendEnabledResponse {
                send_enabled: Vec::new(),
                pagination: None,
            })
        }
    }
}
