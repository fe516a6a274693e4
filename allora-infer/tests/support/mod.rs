//! Loopback fixtures shared by the HTTP tests: a server on a free port and
//! a provider pointed at it.

#![allow(dead_code)]

use std::net::SocketAddr;

use allora_infer::{HttpProvider, HttpProviderBuilder};
use axum::Router;
use tokio::net::TcpListener;

/// Serves `app` on a free loopback port until the test ends.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A provider of token ETH at `addr`'s `/inference/{Token}` route, to be
/// tuned and built.
pub fn eth_provider(addr: SocketAddr) -> HttpProviderBuilder {
    HttpProvider::builder(format!("http://{addr}/inference/{{Token}}")).token("ETH")
}
