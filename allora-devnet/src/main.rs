//! `allora-devnet`: runs the in-process Allora devnet on loopback until
//! Ctrl-C, printing its endpoints and each block's events.
//!
//! ```text
//! allora-devnet --chain-id allora-devnet-1 --topic 1:10:5 \
//!     --fund allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv:1000000000
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use allora_devnet::{AccountConfig, Devnet, TopicConfig, DEFAULT_CHAIN_ID};
use allora_sdk::keys::Address;
use allora_sdk::tx::GasPrice;
use clap::Parser;

/// Runs an Allora devnet that enforces the chain's signature, sequence, fee
/// and worker-payload rules.
#[derive(Debug, Parser)]
#[command(name = "allora-devnet", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// gRPC port (0: any free port).
    #[arg(long, default_value_t = 9090)]
    grpc_port: u16,
    /// CometBFT websocket port, served at /websocket (0: any free port).
    #[arg(long, default_value_t = 26657)]
    ws_port: u16,
    /// Seconds between blocks (fractions allowed).
    #[arg(long, default_value_t = 1.0)]
    block_interval: f64,
    /// The chain id.
    #[arg(long, default_value = DEFAULT_CHAIN_ID)]
    chain_id: String,
    /// Minimum gas price in uallo per gas.
    #[arg(long, default_value_t = 10)]
    min_gas_price: u64,
    /// Registration fee in uallo.
    #[arg(long, default_value_t = 10)]
    registration_fee: u128,
    /// A topic as ID:EPOCH_LENGTH:SUBMISSION_WINDOW (repeatable).
    #[arg(long = "topic", value_parser = parse_topic)]
    topics: Vec<TopicConfig>,
    /// A funded account as ADDRESS:UALLO (repeatable).
    #[arg(long = "fund", value_parser = parse_fund)]
    funded: Vec<AccountConfig>,
    /// A worker registered at genesis as TOPIC:ADDRESS (repeatable).
    #[arg(long = "worker", value_parser = parse_worker)]
    workers: Vec<(u64, Address)>,
}

fn parse_topic(text: &str) -> Result<TopicConfig, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let [id, epoch, window] = parts.as_slice() else {
        return Err("expected ID:EPOCH_LENGTH:SUBMISSION_WINDOW".to_owned());
    };
    let number = |s: &str| s.parse::<i64>().map_err(|e| format!("{s:?}: {e}"));
    let id = id.parse::<u64>().map_err(|e| format!("{id:?}: {e}"))?;
    Ok(TopicConfig::new(id, number(epoch)?, number(window)?))
}

fn parse_fund(text: &str) -> Result<AccountConfig, String> {
    let (address, amount) = text
        .split_once(':')
        .ok_or_else(|| "expected ADDRESS:UALLO".to_owned())?;
    let address = Address::from_str(address).map_err(|e| e.to_string())?;
    let amount = amount
        .parse::<u128>()
        .map_err(|e| format!("{amount:?}: {e}"))?;
    Ok(AccountConfig::new(address, amount))
}

fn parse_worker(text: &str) -> Result<(u64, Address), String> {
    let (topic, address) = text
        .split_once(':')
        .ok_or_else(|| "expected TOPIC:ADDRESS".to_owned())?;
    let topic = topic
        .parse::<u64>()
        .map_err(|e| format!("{topic:?}: {e}"))?;
    let address = Address::from_str(address).map_err(|e| e.to_string())?;
    Ok((topic, address))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let interval = match Duration::try_from_secs_f64(args.block_interval) {
        Ok(d) if !d.is_zero() => d,
        _ => {
            eprintln!("--block-interval must be a positive number of seconds");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = Devnet::builder()
        .chain_id(args.chain_id)
        .block_interval(interval)
        .min_gas_price(GasPrice::from_uallo(args.min_gas_price))
        .registration_fee(args.registration_fee)
        .grpc_addr(SocketAddr::new(args.host, args.grpc_port))
        .websocket_addr(SocketAddr::new(args.host, args.ws_port));
    for topic in args.topics {
        builder = builder.topic(topic);
    }
    for account in args.funded {
        builder = builder.account(account);
    }
    for (topic, address) in args.workers {
        builder = builder.worker(topic, address);
    }
    let devnet = match builder.build().start().await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("allora-devnet: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("chain id:  {}", devnet.chain_id());
    println!("gRPC:      {}", devnet.grpc_endpoint());
    println!(
        "           (Python SDK url: grpc+{})",
        devnet.grpc_endpoint()
    );
    println!("websocket: {}", devnet.websocket_url());
    let mut blocks = devnet.subscribe_blocks();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            block = blocks.recv() => match block {
                Ok(block) => {
                    for event in &block.events {
                        let attrs: Vec<String> = event
                            .attributes
                            .iter()
                            .map(|a| format!("{}={}", a.key, a.value))
                            .collect();
                        println!("block {}: {} {}", block.height, event.kind, attrs.join(" "));
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    }
    println!("shutting down");
    devnet.shutdown().await;
    ExitCode::SUCCESS
}
