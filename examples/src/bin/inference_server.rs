//! `allora-inference-server`: the side inference server a worker's
//! `HttpProvider` calls (`http://127.0.0.1:8000/inference/{Token}` by
//! default).
//!
//! Serves the demo model (a deterministic, made-up price-like series per
//! token; see `allora_infer::demo`) unless built with the `onnx` feature and
//! given `--model PATH`, in which case the ONNX model is run on the token's
//! last `--model-inputs` demo prices (shape `[1, N]`). The options and the
//! serve loop are `allora_infer::server_command`.

use allora_infer::demo::Clock;
use allora_infer::server_command::{run, ServerOptions};
use clap::Parser;

/// Serves model inferences over HTTP for an Allora worker.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    options: ServerOptions,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // If the signal handler cannot be installed, run until killed.
    let shutdown = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match run(
        &args.options,
        Clock::System,
        &mut std::io::stdout(),
        shutdown,
    )
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("allora-inference-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
