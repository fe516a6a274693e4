//! `allora-worker`: the Allora worker built on `allora-sdk`. See `--help`
//! and the README's "Running a worker".

use std::process::ExitCode;

use allora_sdk::operator;
use allora_worker::cli::{Cli, Command, KeysCommand};
use allora_worker::config::{self, process_env};
use allora_worker::{check, keys, logging, register, run, status, AppError};
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
    let names = std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned());
    let config = cli.config.as_deref();
    let env = &process_env;
    if let Some(Command::Check(args)) = &cli.command {
        // `check` reports an unknown variable as a failing line.
        let out = &mut tokio::io::stdout();
        return match check::check(config, env, names, args.json, out).await? {
            true => Ok(()),
            false => Err(AppError::ChecksFailed),
        };
    }
    config::check_variables(names)?;
    match cli.command {
        None => run::run(&cli.run, config, env).await,
        Some(Command::Run(args)) => run::run(&args, config, env).await,
        Some(Command::Keys(command)) => keys_command(command, config).await,
        Some(Command::Status(args)) => {
            let settings = config::load(config, env).await?;
            status::status(settings, args.json, &mut tokio::io::stdout()).await
        }
        Some(Command::Register) => {
            let settings = config::load(config, env).await?;
            register::register(settings, &mut tokio::io::stdout()).await
        }
        Some(Command::Check(_)) => Ok(()),
    }
}

async fn keys_command(
    command: KeysCommand,
    config: Option<&std::path::Path>,
) -> Result<(), AppError> {
    let setting = config::key_setting(config, &process_env).await?;
    let out = &mut tokio::io::stdout();
    match command {
        KeysCommand::New { words, key_file } => {
            let path = keys::file_to_write(key_file.as_deref(), &setting)?;
            operator::create_key_file(path, words, out).await?;
        }
        KeysCommand::Show { key_file } => {
            let setting = key_file.map_or(setting, config::KeySetting::File);
            let source = keys::source(&setting, None).await;
            operator::show_key(source.as_ref(), out).await?;
        }
        KeysCommand::Import { key_file } => {
            let path = keys::file_to_write(key_file.as_deref(), &setting)?;
            eprintln!("paste the mnemonic (12 or 24 words) and press Enter:");
            let stdin = std::io::BufReader::new(std::io::stdin());
            operator::import_key_file(path, stdin, out).await?;
        }
    }
    Ok(())
}
