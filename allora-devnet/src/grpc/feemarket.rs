//! `feemarket.feemarket.v1.Query`: the minimum gas price (constant on the devnet).

use std::sync::Arc;

use cosmrs::proto::cosmos::base::v1beta1::DecCoin;
use tonic::Status;

use allora_sdk::proto::feemarket as fm;

use super::server::feemarket::query_server::Query;
use allora_sdk::tx::DENOM;

use super::super::Shared;

/// Serves the devnet's gas price.
#[derive(Debug)]
pub(crate) struct FeemarketService {
    shared: Arc<Shared>,
}

impl FeemarketService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        FeemarketService { shared }
    }

    /// The price as a `DecCoin` whose amount is `LegacyDec` wire text (the
    /// value × 10^18, no decimal point).
    fn price(&self) -> DecCoin {
        DecCoin {
            denom: DENOM.to_owned(),
            amount: self.shared.chain().min_gas_price.atto().to_string(),
        }
    }
}

unary_handlers! {
    impl Query for FeemarketService {
        fn gas_price(&self, request: fm::GasPriceRequest) -> fm::GasPriceResponse {
            self.shared
                .gas_price_queries
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let denom = request.denom;
            if denom != DENOM {
                return Err(Status::not_found(format!(
                    "unable to get gas price for denom {denom}"
                )));
            }
            Ok(fm::GasPriceResponse {
                price: Some(self.price()),
            })
        }

        fn gas_prices(&self, _request: fm::GasPricesRequest) -> fm::GasPricesResponse {
            Ok(fm::GasPricesResponse {
                prices: vec![self.price()],
            })
        }
    }
}
