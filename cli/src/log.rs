//! `--log-level` and `RUST_LOG`: the subscriber that prints the library's `tracing` events on
//! stderr (the library emits them and never prints).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The logging options.
#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// The library's diagnostics on stderr from this level up: off, error, warn, info (bind,
    /// threads, stops, reloads), debug (each I/O thread; connections dropped, by reason) or
    /// trace. RUST_LOG, when set, wins (`RUST_LOG=hsys::server=debug`, any `tracing` filter).
    #[arg(long, value_name = "LEVEL", default_value = "warn")]
    pub log_level: LevelFilter,
}

/// Installs the subscriber: `RUST_LOG` if set and not empty, else `--log-level`.
///
/// # Errors
/// `RUST_LOG` is not a valid filter (said, rather than silently logging something else).
pub fn install(args: &LogArgs) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::try_new(&directives).map_err(|e| format!("RUST_LOG: {e}"))?
        }
        _ => EnvFilter::default().add_directive(args.log_level.into()),
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init().map_err(|e| e.to_string())
}
