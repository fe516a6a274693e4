//! The gRPC server: one tonic service per chain module, on one plaintext
//! HTTP/2 listener.

// Helpers here return `tonic::Status` because every handler must; boxing it
// only to unbox it at the trait boundary would buy nothing.
#![allow(clippy::result_large_err)]

/// Implements a tonic service trait whose unary handlers are written on the
/// messages themselves: each `fn name(&self, request: Req) -> Resp { .. }`,
/// whose body gives `Result<Resp, Status>`, becomes the trait's
/// `async fn name(&self, Request<Req>) -> Result<Response<Resp>, Status>`,
/// the request unwrapped before the body runs and its answer wrapped after.
macro_rules! unary_handlers {
    (
        impl $service_trait:ident for $service:ident {
            $(
                fn $method:ident(&$self:ident, $request:ident: $req:ty $(,)?) -> $resp:ty $body:block
            )*
        }
    ) => {
        #[tonic::async_trait]
        impl $service_trait for $service {
            $(
                async fn $method(
                    &$self,
                    request: tonic::Request<$req>,
                ) -> Result<tonic::Response<$resp>, tonic::Status> {
                    let $request: $req = request.into_inner();
                    let answer: Result<$resp, tonic::Status> = $body;
                    answer.map(tonic::Response::new)
                }
            )*
        }
    };
}

mod auth;
mod bank;
mod emissions;
mod feegrant;
mod feemarket;
mod gate;
mod node;
mod server;
mod tx;

use std::net::SocketAddr;
use std::sync::Arc;

use cosmrs::proto::cosmos::auth::v1beta1::query_server::QueryServer as AuthServer;
use cosmrs::proto::cosmos::bank::v1beta1::query_server::QueryServer as BankServer;
use cosmrs::proto::cosmos::base::tendermint::v1beta1::service_server::ServiceServer as NodeServer;
use cosmrs::proto::cosmos::feegrant::v1beta1::query_server::QueryServer as FeegrantServer;
use cosmrs::proto::cosmos::tx::v1beta1::service_server::ServiceServer as TxServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::Status;

use allora_sdk::keys::Address;
use server::feemarket::query_server::QueryServer as FeemarketServer;

use super::error::DevnetError;
use super::Shared;

/// Binds `addr` and serves every module until the returned sender fires.
pub(crate) async fn serve(
    addr: SocketAddr,
    shared: Arc<Shared>,
) -> Result<(SocketAddr, oneshot::Sender<()>, JoinHandle<()>), DevnetError> {
    let bind_error = |source| DevnetError::Bind {
        server: "gRPC",
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let mut routes = tonic::service::Routes::builder();
    routes
        .add_service(NodeServer::new(node::NodeService::new(Arc::clone(&shared))))
        .add_service(AuthServer::new(auth::AuthService::new(Arc::clone(&shared))))
        .add_service(BankServer::new(bank::BankService::new(Arc::clone(&shared))))
        .add_service(TxServer::new(tx::TxService::new(Arc::clone(&shared))))
        .add_service(FeemarketServer::new(feemarket::FeemarketService::new(
            Arc::clone(&shared),
        )))
        .add_service(FeegrantServer::new(feegrant::FeegrantService::new(
            Arc::clone(&shared),
        )));
    // Every other path, the emissions query services among them, goes to
    // the gate, which serves the devnet's protocol only.
    let routes = routes
        .routes()
        .into_axum_router()
        .fallback_service(gate::EmissionsGate::new(Arc::clone(&shared)));
    let router = tonic::transport::Server::builder()
        .layer(tonic::service::InterceptorLayer::new(
            super::faults::grpc_gate(Arc::clone(&shared.faults)),
        ))
        .add_routes(tonic::service::Routes::from(routes));
    let task = tokio::spawn(async move {
        let incoming = TcpIncoming::from(listener);
        let shutdown = async {
            // A dropped sender also means stop.
            let _ = shutdown_rx.await;
        };
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
        {
            tracing::warn!(error = %e, "devnet gRPC server stopped");
        }
    });
    Ok((local, shutdown_tx, task))
}

/// Parses a bech32 account address from a request, as the SDK's query
/// handlers do.
pub(crate) fn parse_address(text: &str) -> Result<Address, Status> {
    if text.is_empty() {
        return Err(Status::invalid_argument(
            "empty address string is not allowed",
        ));
    }
    text.parse::<Address>()
        .map_err(|e| Status::invalid_argument(format!("invalid address {text:?}: {e}")))
}

/// A gRPC method the devnet does not model, answered honestly.
pub(crate) fn not_served(method: &str) -> Status {
    Status::unimplemented(format!("{method} is not served by the allora devnet"))
}
