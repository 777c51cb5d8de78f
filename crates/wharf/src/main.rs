//! `wharf`: the command-line front of Wharf. Only this crate knows clap, exit codes and the
//! terminal; every command calls the same library functions the server calls.
//!
//! Flow: [`cli::Cli`] parses arguments → [`settings::Settings`] resolves config file, data
//! directory and database once → a `cmd::*` function does the work and prints through
//! [`output`] → [`exit`] turns the outcome or the error chain into the process exit code.

mod cli;
mod cmd;
mod env_vars;
mod exit;
mod output;
mod progress;
mod settings;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.global.verbose);
    exit::finish(cmd::dispatch(cli))
}

/// `-v` raises Wharf's own log level; `RUST_LOG` overrides everything. Logs go to stderr so
/// stdout stays clean for `--json`.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info,wharf=info",
        2 => "info,wharf=debug,wharf_core=debug,wharf_store=debug",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose >= 2)
        .init();
}
