//! Options of the fleet commands, `run` and `copy`: which nodes, how to reach them, what to do.

use std::path::PathBuf;

use clap::Args;

/// Which nodes, and how to reach them: shared by `run` and `copy`.
#[derive(Debug, Args)]
pub(crate) struct FleetArgs {
    /// Node set: inventory names, `@group`, `@label:value`, or host names from ssh_config.
    #[arg(short = 'w', value_name = "NODESET", required = true)]
    pub(crate) nodes: Vec<String>,
    /// Leave out these nodes.
    #[arg(short = 'x', value_name = "NODESET")]
    pub(crate) exclude: Vec<String>,
    /// How many nodes to work on at once.
    #[arg(short = 'f', long = "fanout", value_name = "N", default_value_t = wharf_exec::FanoutOptions::DEFAULT_FANOUT)]
    pub(crate) fanout: usize,
    /// Connect timeout in seconds (TCP, key exchange and authentication).
    #[arg(short = 't', long = "connect-timeout", value_name = "SECONDS", default_value_t = 10.0)]
    pub(crate) connect_timeout: f64,
    /// Command timeout in seconds: past it the command is killed and the node reported.
    #[arg(short = 'u', long = "command-timeout", value_name = "SECONDS")]
    pub(crate) command_timeout: Option<f64>,
    /// Record unknown host keys (StrictHostKeyChecking accept-new); changed keys are still refused.
    #[arg(long)]
    pub(crate) accept_new: bool,
    /// ssh_config file to read instead of ~/.ssh/config.
    #[arg(long, value_name = "FILE")]
    pub(crate) ssh_config: Option<PathBuf>,
    /// Output bytes kept per node (stdout and stderr together); the rest is counted.
    #[arg(long, value_name = "BYTES", default_value_t = wharf_exec::ExecOptions::DEFAULT_OUTPUT_LIMIT)]
    pub(crate) max_output: usize,
    /// Print to stderr how each node is reached and every ssh_config option that applies
    /// to it but that Wharf does not act on (also logged with -vv).
    #[arg(long)]
    pub(crate) ssh_debug: bool,
    /// Print one JSON object per node instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) fleet: FleetArgs,
    /// Gather identical output (stdout and exit code) and print each group once.
    #[arg(short = 'b', conflicts_with = "gather_stderr")]
    pub(crate) gather: bool,
    /// Like -b, with stderr part of the output that is compared and printed.
    #[arg(short = 'B')]
    pub(crate) gather_stderr: bool,
    /// Exit with the largest remote exit code instead of 1 when a node fails.
    #[arg(short = 'S')]
    pub(crate) max_exit_code: bool,
    /// The command, after `--`: run by the login shell of each node, like `ssh HOST CMD`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub(crate) command: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CopyArgs {
    #[command(flatten)]
    pub(crate) fleet: FleetArgs,
    /// Local file to copy.
    pub(crate) source: PathBuf,
    /// Path on every node (for local nodes: under the node's root).
    pub(crate) dest: String,
}
