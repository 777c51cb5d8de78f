//! Options of the guard-rail commands: `lock`, `unlock`, `locks` and `maintenance`.

use clap::{Args, Subcommand};

use super::JsonArgs;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["environment", "all"])))]
pub(crate) struct LockArgs {
    /// The environment to lock.
    pub(crate) environment: Option<String>,
    /// Lock every environment (for incidents): no deploy anywhere until unlocked.
    #[arg(long)]
    pub(crate) all: bool,
    /// Why, in words for whoever is refused next.
    #[arg(long, required = true)]
    pub(crate) reason: String,
    /// Take over someone else's lock, saying why (recorded in the audit log).
    #[arg(long, value_name = "REASON")]
    pub(crate) steal: Option<String>,
    /// Lift the lock by itself at this moment, RFC 3339 (e.g. the end of a freeze).
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["environment", "all"])))]
pub(crate) struct UnlockArgs {
    /// The environment to unlock.
    pub(crate) environment: Option<String>,
    /// Lift the global lock (`wharf lock --all`).
    #[arg(long)]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum MaintenanceCommand {
    /// Put nodes in maintenance: deploys to their environments fail the maintenance check.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf maintenance start web07 --reason \"disk replacement\"\n",
        "  wharf maintenance start 'gitaly[01-02]' --reason \"kernel upgrade, puppet disabled\"",
    ))]
    Start(MaintenanceStartArgs),
    /// Take nodes out of maintenance.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf maintenance stop web07\n",
        "  wharf maintenance stop @production",
    ))]
    Stop(MaintenanceStopArgs),
    /// List the nodes in maintenance, who put them there and why.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf maintenance list\n",
        "  wharf maintenance list --json",
    ))]
    List(JsonArgs),
}

#[derive(Debug, Args)]
pub(crate) struct MaintenanceStartArgs {
    /// Inventory nodes: names, `@group`, `@label:value`.
    pub(crate) nodeset: String,
    /// Why, shown by `maintenance list` and in refused deploys.
    #[arg(long, required = true)]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct MaintenanceStopArgs {
    /// Inventory nodes: names, `@group`, `@label:value`.
    pub(crate) nodeset: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct WindowsArgs {
    /// The moment to ask about, RFC 3339 (`2026-12-24T18:00:00Z`) [default: now].
    #[arg(long, value_name = "TIME")]
    pub(crate) at: Option<String>,
    /// Only windows covering this environment.
    #[arg(long = "env", value_name = "ENV")]
    pub(crate) environment: Option<String>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct HoldArgs {
    /// The package to hold (deploys of it to ENV are refused until unheld).
    pub(crate) package: String,
    /// The environment whose nodes hold it.
    #[arg(long = "env", value_name = "ENV", required = true)]
    pub(crate) environment: String,
    /// Why, shown in refused deploys and `wharf holds`.
    #[arg(long, required = true)]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct UnholdArgs {
    pub(crate) package: String,
    #[arg(long = "env", value_name = "ENV", required = true)]
    pub(crate) environment: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct HoldsArgs {
    /// Also ask the nodes what they hold, and name those that disagree with the record.
    #[arg(long)]
    pub(crate) check: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}
