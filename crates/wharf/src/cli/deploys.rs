//! Options of the commands that report on deploys: `status`, `history` and `show`.
//! Flattened into the top-level [`super::Command`] as [`DeploysCommand`].

use clap::{Args, Subcommand};

use super::JsonArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum DeploysCommand {
    /// Where each environment stands: deployed versions, locks, holds, windows, maintenance.
    ///
    /// Per environment, in promotion order: each package's version from its newest
    /// succeeded deploy, the lock (the environment's, or the global `--all` one), held
    /// packages, change-lock windows open now, nodes in maintenance and the deploy in
    /// progress. --check also reads every node's installed versions and names the nodes
    /// that differ from the recorded version (else from the majority) or cannot be read.
    ///
    /// Exit codes: 0 ok; 1 with --check when a node's version disagrees; 3 with --check
    /// when a node is unreachable or its version cannot be read (takes precedence over 1);
    /// 2 for an unknown environment.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf status\n",
        "  # Do all production nodes run what Wharf deployed there?\n",
        "  wharf status gprd --check\n",
        "  wharf status --json --at 2026-12-05T12:00:00Z",
    ))]
    Status(StatusArgs),
    /// The newest deploys, newest first: versions, state, who, when, how long.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf history\n",
        "  wharf history gprd -n 5\n",
        "  wharf history --json",
    ))]
    History(HistoryArgs),
    /// One deploy in full: stages, overrides, warnings, every node's result, its events.
    ///
    /// An unknown ID exits 2.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf show 42\n",
        "  wharf show 42 --json",
    ))]
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Only this environment [default: all, in promotion order].
    pub(crate) environment: Option<String>,
    /// Read the installed versions on every node (the `version` command) and report the
    /// nodes that disagree or cannot be read.
    #[arg(long)]
    pub(crate) check: bool,
    /// The moment whose open windows to show, RFC 3339 (`2026-12-24T18:00:00Z`)
    /// [default: now].
    #[arg(long, value_name = "TIME")]
    pub(crate) at: Option<String>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Only this environment's deploys.
    pub(crate) environment: Option<String>,
    /// Show at most this many deploys (the newest).
    #[arg(short = 'n', long, default_value_t = 20)]
    pub(crate) limit: u32,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The deploy's id (from `wharf history`).
    pub(crate) id: i64,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}
