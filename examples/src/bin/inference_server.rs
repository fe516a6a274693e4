//! `allora-inference-server`: the side inference server a worker's
//! `HttpProvider` calls (`http://127.0.0.1:8000/inference/{Token}` by
//! default).
//!
//! Serves the demo model (a deterministic, made-up price-like series per
//! token; see `allora_infer::demo`) unless built with the `onnx`
//! feature and given `--model PATH`, in which case the ONNX model is run on
//! the token's last `--model-inputs` demo prices (shape `[1, N]`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use allora_infer::demo::{Clock, DemoModel};
use allora_infer::server::{router, ServerState};
use allora_infer::InferenceProvider;
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
    let model = load_model(&args)?;
    let state = ServerState::new(model, Duration::from_millis(args.timeout_ms));
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.address, args.port)).await?;
    println!(
        "allora-inference-server listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            // If the signal handler cannot be installed, run until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await?;
    Ok(())
}

fn load_model(args: &Args) -> Result<Arc<dyn InferenceProvider>, Box<dyn std::error::Error>> {
    match &args.model {
        None => {
            println!("serving the demo model (made-up price-like series; not a prediction)");
            Ok(Arc::new(DemoModel::new(Clock::System)))
        }
        Some(path) => load_onnx(path, args.model_inputs),
    }
}

#[cfg(feature = "onnx")]
fn load_onnx(
    path: &std::path::Path,
    inputs: usize,
) -> Result<Arc<dyn InferenceProvider>, Box<dyn std::error::Error>> {
    let model = allora_infer::demo::demo_history_onnx(path, inputs, Clock::System)?;
    println!("serving ONNX model {}", path.display());
    Ok(Arc::new(model))
}

#[cfg(not(feature = "onnx"))]
fn load_onnx(
    path: &std::path::Path,
    _inputs: usize,
) -> Result<Arc<dyn InferenceProvider>, Box<dyn std::error::Error>> {
    Err(format!(
        "cannot serve {}: this binary was built without the `onnx` feature (cargo build -p allora-worker --features onnx)",
        path.display()
    )
    .into())
}
