//! The `check` command: "will my node work?" before it runs. The
//! configuration and the key are checked here; the endpoints, chain, funds,
//! topics and servers by [`allora_sdk::check`]. Text or JSON; the exit code
//! says whether any check failed.

use std::path::Path;

use allora_sdk::check::{check_key, CheckLine, CheckReport};
use allora_sdk::operator::write_report;

use crate::config::{self, Settings};
use crate::error::AppError;
use crate::{aws, keys};

/// Checks everything and writes the report to `out`; `Ok(false)` when a
/// check failed. `variables` are the names of the process environment.
pub async fn check(
    config_flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    variables: impl IntoIterator<Item = String>,
    json: bool,
    out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
) -> Result<bool, AppError> {
    let loaded = match config::check_variables(variables) {
        Ok(()) => config::load(config_flag, env).await,
        Err(e) => Err(e),
    };
    let report = match loaded {
        Ok(settings) => checks(&settings, config_flag, env).await,
        Err(e) => CheckReport::new(vec![CheckLine::fail(
            "config",
            e.to_string(),
            "correct what the message names (examples/config/worker.example.toml shows every field)",
        )]),
    };
    write_report(&report, json, out)
        .await
        .map_err(AppError::Output)?;
    Ok(report.ok)
}

async fn checks(
    settings: &Settings,
    config_flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> CheckReport {
    let config_line = CheckLine::pass(
        "config",
        match config::config_path(config_flag, env) {
            Some(path) => format!("{} is valid", path.display()),
            None => "the ALLORA_* variables are valid".to_owned(),
        },
    );
    let aws = aws::connect(settings).await;
    let source = keys::source(&settings.key, aws.as_ref().map(|a| &a.config)).await;
    let (key_line, address) = check_key(source.as_ref()).await;
    let mut report = match settings.preflight(address) {
        Ok(preflight) => preflight.run().await,
        Err(e) => CheckReport::new(vec![CheckLine::fail(
            "topics",
            e.to_string(),
            "correct the topic's URLs",
        )]),
    };
    report.prepend(vec![config_line, key_line]);
    report
}
