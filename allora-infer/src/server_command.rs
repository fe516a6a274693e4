//! The side inference server as a command (feature `cli`): its command-line
//! options and its run loop, so that a binary is a `clap` parser with
//! [`ServerOptions`] flattened into it and a call to [`run`].
//!
//! It serves the demo model (a deterministic, made-up price-like series per
//! token; see [`crate::demo`]) unless given `--model PATH`, in which case
//! the ONNX model (feature `onnx`) is run on the token's last
//! `--model-inputs` demo prices (shape `[1, N]`), over the routes of
//! [`crate::server`] (`GET /inference/{token}`, `GET /healthz`).
//!
//! ```no_run
//! use allora_infer::demo::Clock;
//! use allora_infer::server_command::{run, ServerOptions};
//! use clap::Parser;
//!
//! /// Serves model inferences over HTTP.
//! #[derive(Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     options: ServerOptions,
//! }
//!
//! # async fn demo() -> Result<(), allora_infer::server_command::ServerCommandError> {
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! run(&Args::parse().options, Clock::System, &mut std::io::stdout(), shutdown).await
//! # }
//! ```

use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::demo::{serving_model, Clock};
use crate::server::{serve, ServerState};
use crate::InferError;

/// The side server's options, as a `clap` argument group: `--address`
/// (default `127.0.0.1`), `--port` (default 8000; 0 picks a free one),
/// `--model PATH`, `--model-inputs N` (default 3) and `--timeout-ms MS`
/// (default 2000).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ServerOptions {
    /// Address to listen on; loopback by default so the model is not exposed.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub address: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// ONNX model to serve (needs the `onnx` feature); without it the demo
    /// model is served.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// How many recent demo prices the ONNX model takes as input.
    #[arg(long, default_value_t = 3)]
    pub model_inputs: usize,
    /// How long the model may take per request, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

impl ServerOptions {
    /// The socket address to listen on: `address:port`.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    /// What is served, as the line [`run`] prints: `serving ONNX model PATH`
    /// or `serving the demo model (…)`.
    pub fn describe(&self) -> String {
        match &self.model {
            Some(path) => format!("serving ONNX model {}", path.display()),
            None => {
                "serving the demo model (made-up price-like series; not a prediction)".to_owned()
            }
        }
    }

    /// Loads the model (the demo model's prices follow `clock`) and binds
    /// the listener, without serving yet.
    ///
    /// Errors: [`ServerCommandError::Model`] when the ONNX model cannot be
    /// loaded (or this build lacks the `onnx` feature),
    /// [`ServerCommandError::Bind`] when the address cannot be listened on.
    pub async fn bind(&self, clock: Clock) -> Result<BoundServer, ServerCommandError> {
        let state = self.state(clock)?;
        self.listen(state).await
    }

    /// The model to serve and its time limit per request.
    fn state(&self, clock: Clock) -> Result<ServerState, ServerCommandError> {
        let model = serving_model(self.model.as_deref(), self.model_inputs, clock)?;
        Ok(ServerState::new(
            model,
            Duration::from_millis(self.timeout_ms),
        ))
    }

    /// Binds the listener for `state`.
    async fn listen(&self, state: ServerState) -> Result<BoundServer, ServerCommandError> {
        let addr = self.socket_addr();
        let bind_error = |source| ServerCommandError::Bind { addr, source };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        Ok(BoundServer {
            listener,
            state,
            local_addr,
        })
    }
}

/// A side server with its model loaded and its port bound
/// ([`ServerOptions::bind`]).
pub struct BoundServer {
    listener: tokio::net::TcpListener,
    state: ServerState,
    local_addr: SocketAddr,
}

impl BoundServer {
    /// The address it listens on (with the port picked when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, letting open requests finish.
    ///
    /// Errors: [`ServerCommandError::Serve`].
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerCommandError> {
        serve(self.listener, self.state, shutdown)
            .await
            .map_err(ServerCommandError::Serve)
    }
}

/// Runs the side server as its binary does: loads the model, writes to
/// `out` what is served ([`ServerOptions::describe`]), binds, writes
/// `allora-inference-server listening on http://ADDR`, then serves until
/// `shutdown` completes.
///
/// Errors: those of [`ServerOptions::bind`] and [`BoundServer::serve`], and
/// [`ServerCommandError::Output`] when `out` cannot be written.
pub async fn run(
    options: &ServerOptions,
    clock: Clock,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerCommandError> {
    let state = options.state(clock)?;
    writeln!(out, "{}", options.describe()).map_err(ServerCommandError::Output)?;
    let server = options.listen(state).await?;
    writeln!(
        out,
        "allora-inference-server listening on http://{}",
        server.local_addr()
    )
    .map_err(ServerCommandError::Output)?;
    out.flush().map_err(ServerCommandError::Output)?;
    server.serve(shutdown).await
}

/// Why the side server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerCommandError {
    /// The model could not be loaded (the message names the file and says
    /// what to do, e.g. build with the `onnx` feature).
    #[error(transparent)]
    Model(#[from] InferError),
    /// The address could not be listened on.
    #[error("cannot listen on {addr}: {source}; choose another --address or --port, or stop what uses it")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The start-up lines could not be written.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}
