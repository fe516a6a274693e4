//! The command line: `allora-worker [--config FILE] [--log-format text|json]
//! [-v] <command>`; with no command it runs `run`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

/// An Allora Network worker: submits your model's inferences to topics every
/// epoch. Without any configuration, `run` starts an embedded devnet and
/// shows the submit loop end to end.
#[derive(Debug, Parser)]
#[command(name = "allora-worker", version, about)]
pub struct Cli {
    /// The TOML configuration file (default: $ALLORA_WORKER_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format (logs go to standard error).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More detailed logs (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `run` when no command is given (ignored by other commands).
    #[command(flatten)]
    pub run: RunArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker (the default command).
    Run(RunArgs),
    /// Create, show or import the worker key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Is my node working? Chain, balance, registration, last submissions.
    Status(StatusArgs),
    /// Register the worker in the configured topics.
    Register,
    /// Will my node work? Checks the configuration, endpoints, chain id, key,
    /// balance, topics and inference servers before running; exit code 0
    /// when no check fails, 1 otherwise.
    Check(StatusArgs),
}

/// Options of `run`.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// Demo topics of the embedded devnet (used only without configuration).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub devnet_topics: u64,
    /// Stop after this many successful submissions.
    #[arg(long, value_name = "N")]
    pub exit_after: Option<u64>,
    /// Where to serve /metrics and /healthz (overrides the configuration).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Allow serving metrics on a non-loopback address.
    #[arg(long)]
    pub allow_public_metrics: bool,
}

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new key file (mode 0600) and print its mnemonic once.
    New {
        /// Mnemonic length.
        #[arg(long, default_value_t = 24, value_parser = parse_words)]
        words: usize,
        /// Where to write it (default: the configured key file).
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
    },
    /// Show the address and public key (never the mnemonic).
    Show {
        /// The key file (default: the configured one).
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
    },
    /// Import a mnemonic read from standard input into a new key file.
    Import {
        /// Where to write it (default: the configured key file).
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
    },
}

/// Options of `status` and `check`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_words(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n @ (12 | 24)) => Ok(n),
        _ => Err(format!("{text:?}: use 12 or 24")),
    }
}
