//! The emissions query service under the devnet's protocol: requests to
//! `/emissions.vN.QueryService/<method>` reach the one implementation
//! (`emissions.v10` shapes, see [`super::emissions`]) when `N` is the
//! version the devnet speaks now and the protocol has the method; anything
//! else is answered as a node without that service or method answers
//! (grpc-go: `UNIMPLEMENTED`, "unknown service emissions.v9.QueryService",
//! "unknown method GetTopicEpochs for service emissions.v10.QueryService").
//! The protocol is read per request, so an upgrade at a height takes effect
//! at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use tonic::codegen::http::{self, Request, Uri};
use tonic::codegen::{BoxFuture, Service};
use tonic::server::NamedService;
use tonic::Status;

use allora_sdk::emissions::{MessageSet, Query};

use super::super::protocol::DevnetProtocol;
use super::super::Shared;
use super::emissions::EmissionsService;
use super::server::emissions::query_service_server::QueryServiceServer;

/// Where a request goes.
#[derive(Debug)]
enum Route {
    /// To the implementation, at this path.
    Serve(String),
    /// Refused with this status.
    Refuse(Status),
}

/// The route of `path` under `protocol`.
fn route(path: &str, protocol: DevnetProtocol) -> Route {
    let trimmed = path.trim_start_matches('/');
    let (service, method) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    if service != protocol.version.query_service() {
        return Route::Refuse(Status::unimplemented(format!("unknown service {service}")));
    }
    if !protocol.serves(method) {
        let newest = MessageSet::newest();
        let scheduler = [Query::Epoch, Query::TopicEpochs]
            .iter()
            .any(|q| newest.query_method(*q) == Some(method));
        let implemented = newest.queries().any(|(_, m)| m == method);
        return Route::Refuse(if implemented && !scheduler {
            // A query of the version whose shape the devnet does not serve.
            super::not_served(&format!("{service}/{method}"))
        } else {
            Status::unimplemented(format!("unknown method {method} for service {service}"))
        });
    }
    let implementation = <QueryServiceServer<EmissionsService> as NamedService>::NAME;
    Route::Serve(format!("/{implementation}/{method}"))
}

/// The fallback service of the devnet's gRPC router (see the module docs).
#[derive(Clone)]
pub(crate) struct EmissionsGate {
    shared: Arc<Shared>,
    server: QueryServiceServer<EmissionsService>,
}

impl EmissionsGate {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        EmissionsGate {
            server: QueryServiceServer::new(EmissionsService::new(Arc::clone(&shared))),
            shared,
        }
    }
}

fn refuse(status: Status) -> Response {
    status.into_http::<Body>().into_response()
}

impl Service<Request<Body>> for EmissionsGate {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let protocol = self.shared.chain().protocol;
        let path = match route(request.uri().path(), protocol) {
            Route::Serve(path) => path,
            Route::Refuse(status) => return Box::pin(async move { Ok(refuse(status)) }),
        };
        let mut parts = request.uri().clone().into_parts();
        parts.path_and_query = path.parse::<http::uri::PathAndQuery>().ok();
        match Uri::from_parts(parts) {
            Ok(uri) => *request.uri_mut() = uri,
            Err(e) => {
                let status = Status::internal(format!("devnet could not route {path}: {e}"));
                return Box::pin(async move { Ok(refuse(status)) });
            }
        }
        let mut server = self.server.clone();
        Box::pin(async move {
            let response = server.call(request).await?;
            Ok(response.into_response())
        })
    }
}

#[cfg(test)]
mod tests {
    use allora_sdk::emissions::{EmissionsVersion, WindowMode};

    use super::*;

    #[test]
    fn only_the_protocols_service_and_methods_are_served() {
        let (v9, v10) = (DevnetProtocol::V9, DevnetProtocol::V10);
        let v11 = DevnetProtocol::new(EmissionsVersion::new(11), WindowMode::Blocks);
        // (path, protocol, where the implementation serves it)
        let served = [
            ("emissions.v9.QueryService/GetTopic", v9, "GetTopic"),
            (
                "emissions.v10.QueryService/GetTopicEpochs",
                DevnetProtocol::V10_WALL_CLOCK,
                "GetTopicEpochs",
            ),
            ("emissions.v11.QueryService/GetParams", v11, "GetParams"),
        ];
        for (path, protocol, method) in served {
            let implementation = format!("/emissions.v10.QueryService/{method}");
            match route(&format!("/{path}"), protocol) {
                Route::Serve(at) => assert_eq!(at, implementation, "{path}"),
                Route::Refuse(status) => panic!("{path} refused: {status}"),
            }
        }
        // (path, protocol, the UNIMPLEMENTED status's message)
        let refused = [
            (
                "emissions.v10.QueryService/GetTopic",
                v9,
                "unknown service emissions.v10.QueryService",
            ),
            (
                "emissions.v9.QueryService/GetTopicEpochs",
                v9,
                "unknown method GetTopicEpochs for service emissions.v9.QueryService",
            ),
            (
                "emissions.v9.QueryService/GetLatestNetworkInferences",
                v9,
                "emissions.v9.QueryService/GetLatestNetworkInferences is not served by the allora devnet",
            ),
            (
                "emissions.v10.QueryService/GetTopicEpochs",
                v10,
                "unknown method GetTopicEpochs for service emissions.v10.QueryService",
            ),
            ("cosmos.nope.v1.Query/X", v11, "unknown service cosmos.nope.v1.Query"),
        ];
        for (path, protocol, message) in refused {
            match route(&format!("/{path}"), protocol) {
                Route::Refuse(status) => {
                    assert_eq!(status.code(), tonic::Code::Unimplemented, "{path}");
                    assert_eq!(status.message(), message, "{path}");
                }
                Route::Serve(at) => panic!("{path} served at {at}"),
            }
        }
    }
}
