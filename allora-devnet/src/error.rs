//! Errors of the devnet itself (start-up and test hooks), as opposed to the
//! chain errors it reports to clients in transaction results.

use std::net::SocketAddr;

/// Why the devnet could not start or a hook could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// A listening socket could not be bound.
    #[error("cannot bind the {server} server to {addr}: {source}")]
    Bind {
        /// Which server ("gRPC" or "websocket").
        server: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration breaks a chain rule.
    #[error("invalid devnet configuration: {0}")]
    Config(String),
    /// A hook named an account the devnet does not know.
    #[error("unknown account {0}")]
    UnknownAccount(String),
    /// A hook named a topic the devnet does not know.
    #[error("unknown topic {0}")]
    UnknownTopic(u64),
    /// A hook tried to add a topic or account that already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The websocket server was asked to start while running (or to stop while stopped).
    #[error("the websocket server is {0}")]
    WebsocketState(&'static str),
}
