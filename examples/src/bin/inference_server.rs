//! `allora-inference-server`: the side inference server a worker's
//! `HttpProvider` calls (`http://127.0.0.1:8000/inference/{Token}` by
//! default).
//!
//! Serves the demo model (a deterministic, made-up price-like series per
//! token; see `allora_infer::demo`) unless built with the `onnx` feature and
//! given `--model PATH`, in which case the ONNX model is run on the token's
//! last `--model-inputs` demo prices (shape `[1, N]`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use allora_infer::demo::{serving_model, Clock};
use allora_infer::server::{serve, ServerState};
use clap::Parser;

/// Serves model inferences over HTTP for an Allora worker.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; loopback by default so the model is not exposed.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    address: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// ONNX model to serve (needs the `onnx` feature); without it the demo
    /// model is served.
    #[arg(long)]
    model: Option<PathBuf>,
    /// How many recent demo prices the ONNX model takes as input.
    #[arg(long, default_value_t = 3)]
    model_inputs: usize,
    /// How long the model may take per request, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("allora-inference-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let model = serving_model(args.model.as_deref(), args.model_inputs, Clock::System)?;
    match &args.model {
        Some(path) => println!("serving ONNX model {}", path.display()),
        None => println!("serving the demo model (made-up price-like series; not a prediction)"),
    }
    let state = ServerState::new(model, Duration::from_millis(args.timeout_ms));
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.address, args.port)).await?;
    println!(
        "allora-inference-server listening on http://{}",
        listener.local_addr()?
    );
    // If the signal handler cannot be installed, run until killed.
    let shutdown = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    serve(listener, state, shutdown).await?;
    Ok(())
}
