//! `allora-devnet`: runs the in-process Allora devnet on loopback until
//! Ctrl-C, printing its endpoints and each block's events.
//!
//! ```text
//! allora-devnet --chain-id allora-devnet-1 --topic 1:10:5 \
//!     --topic 2:10:5:multi,labels=up|down|flat,max-labels=3,max-top-inferers=4 \
//!     --fund allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv:1000000000 \
//!     --data-sending-fee 10 --emissions v9 --upgrade 100:v10
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use allora_devnet::{
    AccountConfig, Devnet, DevnetProtocol, EmissionsParams, TopicConfig, DEFAULT_CHAIN_ID,
    DEFAULT_DATA_SENDING_FEE, DEFAULT_MAX_ELEMENTS_PER_FORECAST, DEFAULT_MAX_LABEL_BYTES,
    DEFAULT_MAX_SERIALIZED_MSG_LENGTH, DEFAULT_MAX_TOP_FORECASTERS, DEFAULT_MAX_TOP_INFERERS,
};
use allora_sdk::keys::Address;
use allora_sdk::tx::GasPrice;
use clap::Parser;

/// Runs an Allora devnet that enforces the chain's signature, sequence, fee
/// and worker-payload rules (whitelists, message size, nonce windows,
/// registration, data fee, labels, top-N admission).
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
    /// Minimum gas price in uallo per gas, whole or fractional (10, 0.08).
    #[arg(long, default_value = "10", value_parser = parse_gas_price)]
    min_gas_price: GasPrice,
    /// Registration fee in uallo.
    #[arg(long, default_value_t = 10)]
    registration_fee: u128,
    /// A topic as ID:EPOCH_LENGTH:SUBMISSION_WINDOW[:OPTIONS] (repeatable).
    /// OPTIONS, comma-separated: multi, single, classification, inactive,
    /// case-sensitive, labels=A|B (label whitelist), max-labels=N,
    /// default=DEC (label default value), unity=TOLERANCE (require_unity),
    /// whitelist=ADDR|ADDR (enables the topic's worker whitelist),
    /// max-top-inferers=N.
    #[arg(long = "topic", value_parser = parse_topic)]
    topics: Vec<TopicConfig>,
    /// Data fee charged per worker payload, in uallo.
    #[arg(long, default_value_t = DEFAULT_DATA_SENDING_FEE)]
    data_sending_fee: u128,
    /// Largest worker payload message, in encoded bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_SERIALIZED_MSG_LENGTH)]
    max_serialized_msg_length: i64,
    /// Longest canonical label, in bytes (1 to 1024).
    #[arg(long, default_value_t = DEFAULT_MAX_LABEL_BYTES)]
    max_label_bytes: u64,
    /// Inferers admitted per nonce on topics without their own cap.
    #[arg(long, default_value_t = DEFAULT_MAX_TOP_INFERERS)]
    max_top_inferers: u64,
    /// Forecasters admitted per nonce.
    #[arg(long, default_value_t = DEFAULT_MAX_TOP_FORECASTERS)]
    max_top_forecasters: u64,
    /// Forecast elements kept per forecast.
    #[arg(long, default_value_t = DEFAULT_MAX_ELEMENTS_PER_FORECAST)]
    max_elements_per_forecast: u64,
    /// Turns the global whitelist off (it then admits everyone to topics
    /// with a worker whitelist).
    #[arg(long)]
    no_global_whitelist: bool,
    /// Turns the global worker whitelist off.
    #[arg(long)]
    no_global_worker_whitelist: bool,
    /// An address on the global whitelist (repeatable).
    #[arg(long = "global-whitelisted", value_parser = parse_address)]
    global_whitelist: Vec<Address>,
    /// An address on the global worker whitelist (repeatable).
    #[arg(long = "global-worker-whitelisted", value_parser = parse_address)]
    global_worker_whitelist: Vec<Address>,
    /// A funded account as ADDRESS:UALLO (repeatable).
    #[arg(long = "fund", value_parser = parse_fund)]
    funded: Vec<AccountConfig>,
    /// A worker registered at genesis as TOPIC:ADDRESS (repeatable).
    #[arg(long = "worker", value_parser = parse_worker)]
    workers: Vec<(u64, Address)>,
    /// The emissions protocol: v9, v10, or v10-wall-clock (scheduler
    /// epochs; topic epoch lengths and windows are then seconds).
    #[arg(long, default_value = "v10", value_parser = parse_protocol)]
    emissions: DevnetProtocol,
    /// An upgrade as HEIGHT:PROTOCOL (repeatable, ascending heights): from
    /// that block on the devnet speaks PROTOCOL.
    #[arg(long = "upgrade", value_parser = parse_upgrade)]
    upgrades: Vec<(i64, DevnetProtocol)>,
}

fn parse_protocol(text: &str) -> Result<DevnetProtocol, String> {
    DevnetProtocol::from_str(text).map_err(|e| e.to_string())
}

fn parse_upgrade(text: &str) -> Result<(i64, DevnetProtocol), String> {
    let (height, protocol) = split_pair(text, "HEIGHT:PROTOCOL, e.g. 100:v10")?;
    Ok((parse_number(height)?, parse_protocol(protocol)?))
}

fn parse_topic(text: &str) -> Result<TopicConfig, String> {
    TopicConfig::from_str(text).map_err(|e| e.to_string())
}

fn parse_gas_price(text: &str) -> Result<GasPrice, String> {
    GasPrice::from_decimal(text).map_err(|e| e.to_string())
}

fn parse_address(text: &str) -> Result<Address, String> {
    Address::from_str(text).map_err(|e| e.to_string())
}

fn parse_fund(text: &str) -> Result<AccountConfig, String> {
    let (address, amount) = split_pair(text, "ADDRESS:UALLO")?;
    Ok(AccountConfig::new(
        parse_address(address)?,
        parse_number(amount)?,
    ))
}

fn parse_worker(text: &str) -> Result<(u64, Address), String> {
    let (topic, address) = split_pair(text, "TOPIC:ADDRESS")?;
    Ok((parse_number(topic)?, parse_address(address)?))
}

/// The two sides of an `A:B` argument whose shape is `expected`.
fn split_pair<'a>(text: &'a str, expected: &str) -> Result<(&'a str, &'a str), String> {
    text.split_once(':')
        .ok_or_else(|| format!("expected {expected}"))
}

/// A number argument; the error quotes the text.
fn parse_number<T>(text: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    text.parse::<T>().map_err(|e| format!("{text:?}: {e}"))
}

/// The devnet the arguments describe.
fn devnet(args: Args) -> Result<Devnet, String> {
    let interval = match Duration::try_from_secs_f64(args.block_interval) {
        Ok(d) if !d.is_zero() => d,
        _ => return Err("--block-interval must be a positive number of seconds".to_owned()),
    };
    let mut builder = Devnet::builder()
        .chain_id(args.chain_id)
        .block_interval(interval)
        .min_gas_price(args.min_gas_price)
        .registration_fee(args.registration_fee)
        .params(EmissionsParams {
            max_serialized_msg_length: args.max_serialized_msg_length,
            data_sending_fee: args.data_sending_fee,
            max_top_inferers_to_reward: args.max_top_inferers,
            max_top_forecasters_to_reward: args.max_top_forecasters,
            max_elements_per_forecast: args.max_elements_per_forecast,
            max_canonical_label_byte_length: args.max_label_bytes,
            global_whitelist_enabled: !args.no_global_whitelist,
            global_worker_whitelist_enabled: !args.no_global_worker_whitelist,
            global_whitelist: args.global_whitelist,
            global_worker_whitelist: args.global_worker_whitelist,
        })
        .grpc_addr(SocketAddr::new(args.host, args.grpc_port))
        .websocket_addr(SocketAddr::new(args.host, args.ws_port))
        .emissions(args.emissions);
    for (height, protocol) in args.upgrades {
        builder = builder.upgrade_at(height, protocol);
    }
    for topic in args.topics {
        builder = builder.topic(topic);
    }
    for account in args.funded {
        builder = builder.account(account);
    }
    for (topic, address) in args.workers {
        builder = builder.worker(topic, address);
    }
    Ok(builder.build())
}

#[tokio::main]
async fn main() -> ExitCode {
    let devnet = match devnet(Args::parse()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("allora-devnet: {e}");
            return ExitCode::FAILURE;
        }
    };
    let devnet = match devnet.start().await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("allora-devnet: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("chain id:  {}", devnet.chain_id());
    println!("emissions: {}", devnet.protocol());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_topic_and_global_settings_reach_the_devnet() {
        let member = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv";
        let args = Args::try_parse_from([
            "allora-devnet",
            "--topic",
            "1:10:5",
            "--topic",
            &format!(
                "2:10:5:multi,labels=up|down,max-labels=2,whitelist={member},max-top-inferers=3"
            ),
            "--data-sending-fee",
            "25",
            "--max-serialized-msg-length",
            "4096",
            "--max-label-bytes",
            "16",
            "--max-top-inferers",
            "7",
            "--no-global-worker-whitelist",
            "--global-whitelisted",
            member,
            "--min-gas-price",
            "0.08",
        ])
        .unwrap();
        let devnet = devnet(args).unwrap();
        let config = devnet.config();
        let params = &config.params;
        assert_eq!(
            (
                params.data_sending_fee,
                params.max_serialized_msg_length,
                params.max_canonical_label_byte_length,
                params.max_top_inferers_to_reward
            ),
            (25, 4096, 16, 7)
        );
        assert!(params.global_whitelist_enabled && !params.global_worker_whitelist_enabled);
        assert_eq!(
            config.min_gas_price,
            GasPrice::from_decimal("0.08").unwrap()
        );
        assert!(Args::try_parse_from(["allora-devnet", "--min-gas-price", "cheap"]).is_err());
        assert_eq!(params.global_whitelist[0].as_str(), member);
        let multi = &config.topics[1];
        assert_eq!(multi.output_arity, allora_devnet::OutputArity::Multi);
        assert_eq!(multi.label_whitelist, ["up", "down"]);
        assert_eq!(multi.max_top_inferers, Some(3));
        assert_eq!(multi.worker_whitelist.as_ref().unwrap()[0].as_str(), member);
        assert!(Args::try_parse_from(["allora-devnet", "--topic", "1:10:5:nonsense"]).is_err());
        assert_eq!(config.protocol, DevnetProtocol::V10, "the default");
        let versions = Args::try_parse_from([
            "allora-devnet",
            "--emissions",
            "v9",
            "--upgrade",
            "100:v10",
            "--upgrade",
            "200:v10-wall-clock",
        ])
        .unwrap();
        let config = super::devnet(versions).unwrap().config().clone();
        assert_eq!(config.protocol, DevnetProtocol::V9);
        assert_eq!(
            config.upgrades,
            [
                (100, DevnetProtocol::V10),
                (200, DevnetProtocol::V10_WALL_CLOCK)
            ]
        );
        assert!(Args::try_parse_from(["allora-devnet", "--emissions", "v9-wall-clock"]).is_err());
        assert!(Args::try_parse_from(["allora-devnet", "--upgrade", "v10"]).is_err());
        let zero = Args::try_parse_from(["allora-devnet", "--block-interval", "0"]).unwrap();
        assert!(devnet_error(zero).contains("--block-interval"));
    }

    fn devnet_error(args: Args) -> String {
        devnet(args).map(|_| ()).unwrap_err()
    }

    #[test]
    fn pair_arguments_parse_or_say_what_they_expect() {
        let member = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv";
        let (topic, address) = parse_worker(&format!("3:{member}")).unwrap();
        assert_eq!((topic, address.as_str()), (3, member));
        let account = parse_fund(&format!("{member}:500")).unwrap();
        assert_eq!((account.address.as_str(), account.balance), (member, 500));
        assert_eq!(parse_upgrade("100:v9").unwrap(), (100, DevnetProtocol::V9));
        assert_eq!(parse_worker(member).unwrap_err(), "expected TOPIC:ADDRESS");
        assert_eq!(parse_fund("500").unwrap_err(), "expected ADDRESS:UALLO");
        assert_eq!(
            parse_upgrade("v9").unwrap_err(),
            "expected HEIGHT:PROTOCOL, e.g. 100:v10"
        );
        assert_eq!(
            parse_upgrade("soon:v9").unwrap_err(),
            "\"soon\": invalid digit found in string"
        );
        assert!(parse_fund(&format!("{member}:-1")).is_err());
        assert!(parse_worker("3:nobody").is_err());
    }
}
