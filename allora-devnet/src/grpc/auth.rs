//! `cosmos.auth.v1beta1.Query`: accounts.

use std::sync::Arc;

use cosmrs::proto::cosmos::auth::v1beta1 as auth;
use cosmrs::proto::cosmos::auth::v1beta1::query_server::Query;
use cosmrs::proto::cosmos::crypto::secp256k1::PubKey as Secp256k1PubKey;
use tonic::{Request, Response, Status};

use allora_sdk::keys::Address;
use allora_sdk::proto::to_any;

use super::super::state::Account;
use super::super::Shared;
use super::parse_address;

/// The chain's bech32 account prefix.
const BECH32_PREFIX: &str = "allo";

/// Serves accounts from the devnet ledger.
#[derive(Debug)]
pub(crate) struct AuthService {
    shared: Arc<Shared>,
}

impl AuthService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        AuthService { shared }
    }

    fn base_account(&self, address: &Address) -> Result<auth::BaseAccount, Status> {
        let chain = self.shared.chain();
        let account = chain
            .ledger
            .accounts
            .get(address.as_str())
            .ok_or_else(|| Status::not_found(format!("account {address} not found")))?;
        Ok(to_base_account(address.as_str(), account))
    }
}

fn to_base_account(address: &str, account: &Account) -> auth::BaseAccount {
    auth::BaseAccount {
        address: address.to_owned(),
        pub_key: account.pubkey.map(|pk| {
            to_any(&Secp256k1PubKey {
                key: pk.to_compressed().to_vec(),
            })
        }),
        account_number: account.number,
        sequence: account.sequence,
    }
}

#[tonic::async_trait]
impl Query for AuthService {
    async fn accounts(
        &self,
        _request: Request<auth::QueryAccountsRequest>,
    ) -> Result<Response<auth::QueryAccountsResponse>, Status> {
        let chain = self.shared.chain();
        let accounts = chain
            .ledger
            .accounts
            .iter()
            .map(|(address, account)| to_any(&to_base_account(address, account)))
            .collect();
        Ok(Response::new(auth::QueryAccountsResponse {
            accounts,
            pagination: None,
        }))
    }

    async fn account(
        &self,
        request: Request<auth::QueryAccountRequest>,
    ) -> Result<Response<auth::QueryAccountResponse>, Status> {
        let address = parse_address(&request.into_inner().address)?;
        let account = self.base_account(&address)?;
        Ok(Response::new(auth::QueryAccountResponse {
            account: Some(to_any(&account)),
        }))
    }

    async fn account_address_by_id(
        &self,
        request: Request<auth::QueryAccountAddressByIdRequest>,
    ) -> Result<Response<auth::QueryAccountAddressByIdResponse>, Status> {
        let id = request.into_inner().account_id;
        let chain = self.shared.chain();
        let address = chain
            .ledger
            .accounts
            .iter()
            .find(|(_, a)| a.number == id)
            .map(|(address, _)| address.clone())
            .ok_or_else(|| {
                Status::not_found(format!(
                    "account address not found with account number {id}"
                ))
            })?;
        Ok(Response::new(auth::QueryAccountAddressByIdResponse {
            account_address: address,
        }))
    }

    async fn params(
        &self,
        _request: Request<auth::QueryParamsRequest>,
    ) -> Result<Response<auth::QueryParamsResponse>, Status> {
        // The SDK defaults; the devnet's memo limit and gas model use them.
        Ok(Response::new(auth::QueryParamsResponse {
            params: Some(auth::Params {
                max_memo_characters: 256,
                tx_sig_limit: 7,
                tx_size_cost_per_byte: super::super::GAS_PER_TX_BYTE,
                sig_verify_cost_ed25519: 590,
                sig_verify_cost_secp256k1: super::super::SIG_VERIFY_GAS,
            }),
        }))
    }

    async fn module_accounts(
        &self,
        _request: Request<auth::QueryModuleAccountsRequest>,
    ) -> Result<Response<auth::QueryModuleAccountsResponse>, Status> {
        // The devnet keeps fees out of any module account.
        Ok(Response::new(auth::QueryModuleAccountsResponse {
            accounts: Vec::new(),
        }))
    }

    async fn module_account_by_name(
        &self,
        request: Request<auth::QueryModuleAccountByNameRequest>,
    ) -> Result<Response<auth::QueryModuleAccountByNameResponse>, Status> {
        Err(Status::not_found(format!(
            "account {} not found",
            request.into_inner().name
        )))
    }

    async fn bech32_prefix(
        &self,
        _request: Request<auth::Bech32PrefixRequest>,
    ) -> Result<Response<auth::Bech32PrefixResponse>, Status> {
        Ok(Response::new(auth::Bech32PrefixResponse {
            bech32_prefix: BECH32_PREFIX.to_owned(),
        }))
    }

    async fn address_bytes_to_string(
        &self,
        request: Request<auth::AddressBytesToStringRequest>,
    ) -> Result<Response<auth::AddressBytesToStringResponse>, Status> {
        let bytes = request.into_inner().address_bytes;
        let id = cosmrs::AccountId::new(BECH32_PREFIX, &bytes)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(auth::AddressBytesToStringResponse {
            address_string: id.to_string(),
        }))
    }

    async fn address_string_to_bytes(
        &self,
        request: Request<auth::AddressStringToBytesRequest>,
    ) -> Result<Response<auth::AddressStringToBytesResponse>, Status> {
        let address = parse_address(&request.into_inner().address_string)?;
        Ok(Response::new(auth::AddressStringToBytesResponse {
            address_bytes: address.to_bytes(),
        }))
    }

    async fn account_info(
        &self,
        request: Request<auth::QueryAccountInfoRequest>,
    ) -> Result<Response<auth::QueryAccountInfoResponse>, Status> {
        let address = parse_address(&request.into_inner().address)?;
        Ok(Response::new(auth::QueryAccountInfoResponse {
            info: Some(self.base_account(&address)?),
        }))
    }
}
