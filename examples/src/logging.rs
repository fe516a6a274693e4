//! Log output: human-readable text (default) or JSON lines, on standard
//! error so that standard output stays for results.
//!
//! Secrets never reach the logs: keys and mnemonics have redacting `Debug`
//! implementations and are never passed to `tracing` macros.

use tracing_subscriber::EnvFilter;

/// The log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. `verbosity` counts `-v` flags; `RUST_LOG`
/// overrides the levels when set.
pub fn init(format: LogFormat, verbosity: u8) {
    let default = match verbosity {
        0 => "warn,allora_worker=info,allora_sdk=info,allora_aws=info",
        1 => "info,allora_worker=debug,allora_sdk=debug,allora_aws=debug",
        _ => "debug,allora_worker=trace,allora_sdk=trace,allora_aws=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, not in files or log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialisation (only possible in tests) keeps the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
