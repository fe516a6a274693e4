//! `cosmos.bank.v1beta1.Query`: balances. The devnet has one denom, uallo.

use std::sync::Arc;

use cosmrs::proto::cosmos::bank::v1beta1 as bank;
use cosmrs::proto::cosmos::bank::v1beta1::query_server::Query;
use cosmrs::proto::cosmos::base::v1beta1::Coin;
use tonic::{Request, Response, Status};

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

#[tonic::async_trait]
impl Query for BankService {
    async fn balance(
        &self,
        request: Request<bank::QueryBalanceRequest>,
    ) -> Result<Response<bank::QueryBalanceResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(bank::QueryBalanceResponse {
            balance: Some(self.balance(&req.address, &req.denom)?),
        }))
    }

    async fn all_balances(
        &self,
        request: Request<bank::QueryAllBalancesRequest>,
    ) -> Result<Response<bank::QueryAllBalancesResponse>, Status> {
        Ok(Response::new(bank::QueryAllBalancesResponse {
            balances: self.all_balances(&request.into_inner().address)?,
            pagination: None,
        }))
    }

    async fn spendable_balances(
        &self,
        request: Request<bank::QuerySpendableBalancesRequest>,
    ) -> Result<Response<bank::QuerySpendableBalancesResponse>, Status> {
        // Nothing is locked on the devnet: spendable is the whole balance.
        Ok(Response::new(bank::QuerySpendableBalancesResponse {
            balances: self.all_balances(&request.into_inner().address)?,
            pagination: None,
        }))
    }

    async fn spendable_balance_by_denom(
        &self,
        request: Request<bank::QuerySpendableBalanceByDenomRequest>,
    ) -> Result<Response<bank::QuerySpendableBalanceByDenomResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(bank::QuerySpendableBalanceByDenomResponse {
            balance: Some(self.balance(&req.address, &req.denom)?),
        }))
    }

    async fn total_supply(
        &self,
        _request: Request<bank::QueryTotalSupplyRequest>,
    ) -> Result<Response<bank::QueryTotalSupplyResponse>, Status> {
        Ok(Response::new(bank::QueryTotalSupplyResponse {
            supply: vec![coin(DENOM, self.supply())],
            pagination: None,
        }))
    }

    async fn supply_of(
        &self,
        request: Request<bank::QuerySupplyOfRequest>,
    ) -> Result<Response<bank::QuerySupplyOfResponse>, Status> {
        let denom = request.into_inner().denom;
        let amount = if denom == DENOM { self.supply() } else { 0 };
        Ok(Response::new(bank::QuerySupplyOfResponse {
            amount: Some(coin(&denom, amount)),
        }))
    }

    async fn params(
        &self,
        _request: Request<bank::QueryParamsRequest>,
    ) -> Result<Response<bank::QueryParamsResponse>, Status> {
        Ok(Response::new(bank::QueryParamsResponse {
            params: Some(bank::Params {
                default_send_enabled: true,
                ..Default::default()
            }),
        }))
    }

    async fn denom_metadata(
        &self,
        request: Request<bank::QueryDenomMetadataRequest>,
    ) -> Result<Response<bank::QueryDenomMetadataResponse>, Status> {
        Err(no_metadata(&request.into_inner().denom))
    }

    async fn denom_metadata_by_query_string(
        &self,
        request: Request<bank::QueryDenomMetadataByQueryStringRequest>,
    ) -> Result<Response<bank::QueryDenomMetadataByQueryStringResponse>, Status> {
        Err(no_metadata(&request.into_inner().denom))
    }

    async fn denoms_metadata(
        &self,
        _request: Request<bank::QueryDenomsMetadataRequest>,
    ) -> Result<Response<bank::QueryDenomsMetadataResponse>, Status> {
        Ok(Response::new(bank::QueryDenomsMetadataResponse {
            metadatas: Vec::new(),
            pagination: None,
        }))
    }

    async fn denom_owners(
        &self,
        request: Request<bank::QueryDenomOwnersRequest>,
    ) -> Result<Response<bank::QueryDenomOwnersResponse>, Status> {
        Ok(Response::new(bank::QueryDenomOwnersResponse {
            denom_owners: self.owners(&request.into_inner().denom),
            pagination: None,
        }))
    }

    async fn denom_owners_by_query(
        &self,
        request: Request<bank::QueryDenomOwnersByQueryRequest>,
    ) -> Result<Response<bank::QueryDenomOwnersByQueryResponse>, Status> {
        Ok(Response::new(bank::QueryDenomOwnersByQueryResponse {
            denom_owners: self.owners(&request.into_inner().denom),
            pagination: None,
        }))
    }

    async fn send_enabled(
        &self,
        _request: Request<bank::QuerySendEnabledRequest>,
    ) -> Result<Response<bank::QuerySendEnabledResponse>, Status> {
        Ok(Response::new(bank::QuerySendEnabledResponse {
            send_enabled: Vec::new(),
            pagination: None,
        }))
    }
}
