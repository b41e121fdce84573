//! What goes to the terminal: colour choice and log setup. Data goes to
//! stdout, talk to stderr.

use std::io::IsTerminal;

use crate::cli::ColorChoice;

/// Decides whether stderr gets colour, and tells `colored` so.
pub fn init_color(choice: ColorChoice) -> bool {
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
        }
    };
    colored::control::set_override(on);
    on
}

/// Sends `tracing` events to stderr at the level `-v`/`-q` choose (default
/// info), unless `RUST_LOG` says otherwise.
pub fn init_logging(verbose: u8, quiet: u8, color: bool) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("poetry={level},{level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .init();
}
