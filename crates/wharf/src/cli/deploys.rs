//! Arguments of the deploy commands: `deploy`, `rollback`, `resume`, `approve`, `cancel`,
//! and the reports `status`, `history` and `show` ([`DeploysCommand`], flattened into the
//! top-level [`super::Command`]).

use clap::{Args, Subcommand};

use super::JsonArgs;

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// VERSION and ENV in either order (`11.8.0-ee.0 gstg`), or PKG=VERSION words and ENV.
    #[arg(num_args = 2.., value_names = ["VERSION", "ENV"], required = true)]
    pub(crate) words: Vec<String>,
    /// Show the plan and every guard's answer; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Run this pipeline instead of the environment's.
    #[arg(long, value_name = "NAME")]
    pub(crate) pipeline: Option<String>,
    /// Lift the promotion gate (and production-only checks), saying why.
    #[arg(long, value_name = "REASON")]
    pub(crate) ignore_production_checks: Option<String>,
    /// Record failing prepare checks as warnings instead of refusing.
    #[arg(long)]
    pub(crate) allow_precheck_failure: bool,
    /// Install an older version than the one running: stop, install, reconfigure, start,
    /// verify.
    #[arg(long)]
    pub(crate) downgrade: bool,
    /// Hold the packages on the environment once deployed (`apt-mark hold`).
    #[arg(long)]
    pub(crate) hold: bool,
    /// The issue this deploy belongs to, quoted in its announcements.
    #[arg(long, value_name = "URL")]
    pub(crate) issue: Option<String>,
    /// Started by CI or a timer: change-lock windows for automated deploys apply.
    #[arg(long)]
    pub(crate) automated: bool,
    /// Do not ask for confirmation before deploying to a production environment.
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Ask the guards as of this moment, RFC 3339 [default: now].
    #[arg(long, value_name = "TIME")]
    pub(crate) at: Option<String>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The environment to roll back.
    #[arg(value_name = "ENV")]
    pub(crate) environment: String,
    /// Go back to this successful version instead of the previous one.
    #[arg(long, value_name = "VERSION")]
    pub(crate) to: Option<String>,
    /// Who reviewed going back more than one version (required then).
    #[arg(long, value_name = "NAME")]
    pub(crate) reviewed_by: Option<String>,
    /// Leave a version whose deploy ran a point-of-no-return stage, saying why.
    #[arg(long, value_name = "REASON")]
    pub(crate) force: Option<String>,
    /// The issue this rollback belongs to.
    #[arg(long, value_name = "URL")]
    pub(crate) issue: Option<String>,
    /// Do not ask for confirmation before rolling back a production environment.
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Started by CI or a timer: change-lock windows for automated deploys apply.
    #[arg(long)]
    pub(crate) automated: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    /// The interrupted deploy (`wharf history` lists them).
    #[arg(value_name = "ID")]
    pub(crate) id: i64,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ApproveArgs {
    /// The deploy waiting at a manual stage.
    #[arg(value_name = "ID")]
    pub(crate) id: i64,
    /// The stage it waits at (a check that you approve what you think you approve).
    #[arg(value_name = "STAGE")]
    pub(crate) stage: Option<String>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CancelArgs {
    /// The deploy to cancel.
    #[arg(value_name = "ID")]
    pub(crate) id: i64,
    /// Why, recorded in the audit log and the deploy.
    #[arg(long, value_name = "REASON", required = true)]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

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
    /// Only deploys in this state: planned, running, waiting, succeeded, failed,
    /// interrupted, cancelled or refused.
    #[arg(long)]
    pub(crate) state: Option<String>,
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
