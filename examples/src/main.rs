//! `allora-worker`: the Allora worker built on `allora-sdk`. See `--help`
//! and the README's "Running a worker".

use std::io::Write;
use std::process::ExitCode;

use allora_worker::cli::{Cli, Command, KeysCommand};
use allora_worker::config::{self, process_env};
use allora_worker::{keys, logging, register, run, status, AppError};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format, cli.verbose);
    match dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::debug!(?error, "command failed");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), AppError> {
    let config = cli.config.as_deref();
    let env = &process_env;
    match cli.command {
        None => run::run(&cli.run, config, env).await,
        Some(Command::Run(args)) => run::run(&args, config, env).await,
        Some(Command::Keys(command)) => keys_command(command, config).await,
        Some(Command::Status(args)) => {
            let settings = config::load(config, env).await?;
            let report = status::gather(settings).await?;
            let mut out = std::io::stdout().lock();
            if args.json {
                serde_json::to_writer_pretty(&mut out, &report)
                    .map_err(|e| AppError::Output(e.into()))?;
                writeln!(out).map_err(AppError::Output)
            } else {
                status::write_text(&report, &mut out).map_err(AppError::Output)
            }
        }
        Some(Command::Register) => {
            let settings = config::load(config, env).await?;
            register::register(settings, &mut std::io::stdout().lock()).await
        }
    }
}

async fn keys_command(
    command: KeysCommand,
    config: Option<&std::path::Path>,
) -> Result<(), AppError> {
    let env = &process_env;
    let config_path = config::config_path(config, env);
    match command {
        KeysCommand::New { words, key_file } => {
            let path =
                keys::key_file_path(key_file.as_deref(), config_path.as_deref(), env).await?;
            tokio::task::spawn_blocking(move || {
                keys::new_key(&path, words, &mut std::io::stdout().lock())
            })
            .await?
        }
        KeysCommand::Show { key_file } => {
            let explicit = key_file.is_some();
            let path =
                keys::key_file_path(key_file.as_deref(), config_path.as_deref(), env).await?;
            tokio::task::spawn_blocking(move || {
                keys::show_key(&path, explicit, &process_env, &mut std::io::stdout().lock())
            })
            .await?
        }
        KeysCommand::Import { key_file } => {
            let path =
                keys::key_file_path(key_file.as_deref(), config_path.as_deref(), env).await?;
            tokio::task::spawn_blocking(move || {
                eprintln!("paste the mnemonic (12 or 24 words) and press Enter:");
                keys::import_key(
                    &path,
                    &mut std::io::stdin().lock(),
                    &mut std::io::stdout().lock(),
                )
            })
            .await?
        }
    }
}
