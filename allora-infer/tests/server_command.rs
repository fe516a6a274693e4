//! The side server as a command: its options as a command line parses them,
//! the run loop's start-up lines, serving until shutdown, and its errors.
// Tests and examples stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "cli")]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use allora_infer::demo::{demo_price, Clock};
use allora_infer::server_command::{run, ServerCommandError, ServerOptions};
use clap::Parser;

const FIXED_TIME: u64 = 1_764_000_000;

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    options: ServerOptions,
}

fn options(args: &[&str]) -> ServerOptions {
    Args::try_parse_from(std::iter::once("allora-inference-server").chain(args.iter().copied()))
        .unwrap()
        .options
}

#[test]
fn options_default_to_the_demo_model_on_loopback_port_8000() {
    let defaults = options(&[]);
    assert_eq!(
        defaults,
        ServerOptions {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8000,
            model: None,
            model_inputs: 3,
            timeout_ms: 2000,
        }
    );
    assert_eq!(defaults.socket_addr().to_string(), "127.0.0.1:8000");
    assert_eq!(
        defaults.describe(),
        "serving the demo model (made-up price-like series; not a prediction)"
    );
    let given = options(&[
        "--address",
        "0.0.0.0",
        "--port",
        "0",
        "--model",
        "m.onnx",
        "--model-inputs",
        "5",
        "--timeout-ms",
        "250",
    ]);
    assert_eq!(given.socket_addr().to_string(), "0.0.0.0:0");
    assert_eq!(given.model_inputs, 5);
    assert_eq!(given.timeout_ms, 250);
    assert_eq!(given.describe(), "serving ONNX model m.onnx");
    assert!(Args::try_parse_from(["x", "--port", "70000"]).is_err());
    assert!(Args::try_parse_from(["x", "--address", "localhost:1"]).is_err());
}

#[tokio::test]
async fn a_bound_server_serves_the_demo_model_until_shutdown() {
    let server = options(&["--port", "0"])
        .bind(Clock::Fixed(FIXED_TIME))
        .await
        .unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));

    let answers = [
        (
            "inference/ETH",
            format!("{:.4}", demo_price("ETH", FIXED_TIME)),
        ),
        ("healthz", "ok".to_owned()),
    ];
    for (path, expected) in answers {
        let response = reqwest::get(format!("http://{addr}/{path}")).await.unwrap();
        assert_eq!(response.text().await.unwrap(), expected, "{path}");
    }

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(reqwest::get(format!("http://{addr}/healthz"))
        .await
        .is_err());
}

#[tokio::test]
async fn run_says_what_it_serves_and_where_then_stops_on_shutdown() {
    let mut out = Vec::new();
    run(&options(&["--port", "0"]), Clock::System, &mut out, async {
    })
    .await
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0],
        "serving the demo model (made-up price-like series; not a prediction)"
    );
    let addr = lines[1]
        .strip_prefix("allora-inference-server listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(addr.parse::<u16>().unwrap() > 0);
}

#[tokio::test]
async fn a_model_that_cannot_load_or_a_taken_port_is_a_typed_error() {
    // No such model (or no `onnx` feature in this build): nothing is printed.
    let mut out = Vec::new();
    let err = run(
        &options(&["--port", "0", "--model", "no-such-model.onnx"]),
        Clock::System,
        &mut out,
        async {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ServerCommandError::Model(_)), "{err}");
    assert!(err.to_string().contains("no-such-model.onnx"), "{err}");
    assert!(out.is_empty());

    // A port in use: the address is named, with what to do.
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let err = options(&["--port", &port])
        .bind(Clock::System)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ServerCommandError::Bind { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && message.contains("--port"),
        "{message}"
    );
}
