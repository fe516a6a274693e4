//! `cosmos.auth.v1beta1.Query`: accounts.

use std::sync::Arc;

use cosmrs::proto::cosmos::auth::v1beta1 as auth;
use cosmrs::proto::cosmos::auth::v1beta1::query_server::Query;
use cosmrs::proto::cosmos::crypto::secp256k1::PubKey as Secp256k1PubKey;
use tonic::Status;

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

unary_handlers! {
    impl Query for AuthService {
        fn accounts(&self, _request: auth::QueryAccountsRequest) -> auth::QueryAccountsResponse {
            let chain = self.shared.chain();
            let accounts = chain
                .ledger
                .accounts
                .iter()
                .map(|(address, account)| to_any(&to_base_account(address, account)))
                .collect();
            Ok(auth::QueryAccountsResponse {
                accounts,
                pagination: None,
            })
        }

        fn account(&self, request: auth::QueryAccountRequest) -> auth::QueryAccountResponse {
            let address = parse_address(&request.address)?;
            let account = self.base_account(&address)?;
            Ok(auth::QueryAccountResponse {
                account: Some(to_any(&account)),
            })
        }

        fn account_address_by_id(
            &self,
            request: auth::QueryAccountAddressByIdRequest,
        ) -> auth::QueryAccountAddressByIdResponse {
            let id = request.account_id;
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
            Ok(auth::QueryAccountAddressByIdResponse {
                account_address: address,
            })
        }

        fn params(&self, _request: auth::QueryParamsRequest) -> auth::QueryParamsResponse {
            // The SDK defaults; the devnet's memo limit and gas model use them.
            Ok(auth::QueryParamsResponse {
                params: Some(auth::Params {
                    max_memo_characters: 256,
                    tx_sig_limit: 7,
                    tx_size_cost_per_byte: super::super::GAS_PER_TX_BYTE,
                    sig_verify_cost_ed25519: 590,
                    sig_verify_cost_secp256k1: super::super::SIG_VERIFY_GAS,
                }),
            })
        }

        fn module_accounts(
            &self,
            _request: auth::QueryModuleAccountsRequest,
        ) -> auth::QueryModuleAccountsResponse {
            // The devnet keeps fees out of any module account.
            Ok(auth::QueryModuleAccountsResponse {
                accounts: Vec::new(),
            })
        }

        fn module_account_by_name(
            &self,
            request: auth::QueryModuleAccountByNameRequest,
        ) -> auth::QueryModuleAccountByNameResponse {
            Err(Status::not_found(format!(
                "account {} not found",
                request.name
            )))
        }

        fn bech32_prefix(&self, _request: auth::Bech32PrefixRequest) -> auth::Bech32PrefixResponse {
            Ok(auth::Bech32PrefixResponse {
                bech32_prefix: BECH32_PREFIX.to_owned(),
            })
        }

        fn address_bytes_to_string(
            &self,
            request: auth::AddressBytesToStringRequest,
        ) -> auth::AddressBytesToStringResponse {
            let bytes = request.address_bytes;
            let id = cosmrs::AccountId::new(BECH32_PREFIX, &bytes)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            Ok(auth::AddressBytesToStringResponse {
                address_string: id.to_string(),
            })
        }

        fn address_string_to_bytes(
            &self,
            request: auth::AddressStringToBytesRequest,
        ) -> auth::AddressStringToBytesResponse {
            let address = parse_address(&request.address_string)?;
            Ok(auth::AddressStringToBytesResponse {
                address_bytes: address.to_bytes(),
            })
        }

        fn account_info(
            &self,
            request: auth::QueryAccountInfoRequest,
        ) -> auth::QueryAccountInfoResponse {
            let address = parse_address(&request.address)?;
            Ok(auth::QueryAccountInfoResponse {
                info: Some(self.base_account(&address)?),
            })
        }
    }
}
