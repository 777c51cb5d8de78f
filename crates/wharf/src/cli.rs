//! Command-line grammar (clap derive). Shared option structs end in `Args`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env_vars;

/// Wharf: signed APT repositories, fleet execution and staged deployments for Debian
/// fleets, in one binary.
///
/// Without --server, commands work on the local data directory (SQLite and files under
/// --data). Exit codes: 0 ok, 1 failure, 2 usage or config error, 3 node unreachable.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = concat!(
    "Examples:\n",
    "  # Is the configuration valid, and which file and data directory are used?\n",
    "  wharf config check\n",
    "  wharf --config /etc/wharf/wharf.toml nodes @canary\n",
    "  wharf run -w @role:web -b -- uname -r\n",
    "  wharf repo add bookworm-tools ./build/*.deb && wharf publish bookworm-tools",
))]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command accepts, before or after the subcommand.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Configuration file [default: $WHARF_CONFIG, else ./wharf.toml, else
    /// /etc/wharf/wharf.toml]. Missing default files mean an empty configuration; a missing
    /// file named here or by $WHARF_CONFIG is an error.
    // `$WHARF_CONFIG` is read by `Settings::load`, not clap, so `config check` can say
    // which of the two named the file.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Data directory: the SQLite store, signing keys and published repositories
    /// [default: `[store] data` in the config, else ./wharf-data].
    #[arg(long, global = true, env = env_vars::DATA, value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
    /// Database URL (`postgres://…` or a SQLite path) [default: DATA/wharf.db, or
    /// `[store] database` in the config].
    #[arg(long, global = true, env = env_vars::DATABASE, value_name = "URL", hide_env_values = true)]
    pub(crate) database: Option<String>,
    /// Where package files and published trees live: `s3://BUCKET[/PREFIX]` for
    /// S3-compatible storage, endpoint and credentials from AWS_* variables [default: the
    /// data directory, or `[store] storage` in the config].
    #[arg(long, global = true, env = env_vars::STORAGE, value_name = "URL")]
    pub(crate) storage: Option<String>,
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check wharf.toml and print a summary of the fleet it describes.
    #[command(subcommand)]
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf config check\n",
        "  wharf config check --json\n",
        "  wharf --config etc/fleet.toml config check",
    ))]
    Config(ConfigCommand),
    /// List nodes with their address and labels.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf nodes\n",
        "  wharf nodes @canary\n",
        "  wharf nodes 'web[01-04]' --json\n",
        "  wharf nodes @role:db",
    ))]
    Nodes(NodesArgs),
    /// Expand, fold or count node sets (ClusterShell's `nodeset`, with Wharf's groups).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf nodeset -e 'web[01-04]'\n",
        "  wharf nodeset -f web01 web02 web03 db1\n",
        "  wharf nodeset -c '@production!@role:db'\n",
        "  wharf nodeset -e @canary | tr ' ' '\\n'",
    ))]
    Nodeset(NodesetArgs),
    /// Compare and sort Debian package versions exactly as dpkg does.
    #[command(subcommand)]
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf version compare 1.0~rc1 lt 1.0\n",
        "  wharf version sort < versions.txt\n",
        "  wharf version sort -r < versions.txt",
    ))]
    Version(VersionCommand),
    /// Show the audit log, or verify that it has not been tampered with.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf audit\n",
        "  wharf audit --action deploy --target gprd -n 20\n",
        "  wharf audit --action repo.add --json\n",
        "  wharf audit --verify",
    ))]
    Audit(AuditArgs),
    /// Record an operator note in the audit log ("!log" for the fleet).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf log restarted puma by hand\n",
        "  wharf log --target web01 \"restarted puma by hand\"\n",
        "  wharf log --target gprd deploys paused during the incident",
    ))]
    Log(LogArgs),
    /// Write a demo configuration with a local fleet and walk through it.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf demo\n",
        "  wharf demo --dir /tmp/wharf-demo",
    ))]
    Demo(DemoArgs),
    /// Run a command on a node set over SSH, in parallel (`clush -w NODESET [-b] CMD`).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf run -w @canary -b -- uptime\n",
        "  # Twenty web nodes but web07, eight at a time, each given five minutes\n",
        "  wharf run -w 'web[01-20]' -x web07 -f 8 -u 300 -- sudo systemctl restart puma\n",
        "  wharf run -w @role:db --json -- df -h /var/lib/postgresql",
    ))]
    Run(RunArgs),
    /// Copy a file to every node of a node set (SFTP).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf copy -w @canary ./puma.rb /etc/gitlab/puma.rb\n",
        "  wharf copy -w 'web[01-04]' -x web02 motd /etc/motd\n",
        "  wharf copy -w @role:web --accept-new -f 16 ./ca.pem /usr/local/share/ca-certificates/acme.crt",
    ))]
    Copy(CopyArgs),
    /// Create, fill and inspect APT repositories.
    #[command(subcommand)]
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo create bookworm-tools --distribution bookworm\n",
        "  wharf repo add bookworm-tools ./build/*.deb\n",
        "  wharf repo show bookworm-tools --with-packages\n",
        "  wharf repo list",
    ))]
    Repo(RepoCommand),
    /// Freeze a repository's contents under a name, to publish later.
    #[command(subcommand)]
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf snapshot create tools-2024-06-01 --from bookworm-tools\n",
        "  wharf snapshot list\n",
        "  wharf publish --snapshot tools-2024-06-01 --prefix bookworm-tools",
    ))]
    Snapshot(SnapshotCommand),
    /// Publish a repository or snapshot as a signed APT tree (`publish list|drop` too).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf publish bookworm-tools\n",
        "  # Serve a frozen snapshot under the repository's usual prefix\n",
        "  wharf publish --snapshot tools-2024-06-01 --prefix bookworm-tools\n",
        "  # A plain tree for nginx, not recorded\n",
        "  wharf publish bookworm-tools --to-dir /var/www/apt/bookworm-tools\n",
        "  wharf publish list",
    ))]
    Publish(PublishArgs),
    /// The repository signing key.
    #[command(subcommand)]
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf key export\n",
        "  wharf key export > /usr/share/keyrings/acme-archive.asc",
    ))]
    Key(KeyCommand),
    /// Check repositories, publishes and free disk space; exit 1 when unhealthy.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf health\n",
        "  wharf health --min-free-percent 5\n",
        "  wharf health --json",
    ))]
    Health(HealthArgs),
    /// Serve published repositories over HTTP (`/apt/PREFIX/…`) and `/healthz`.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf server\n",
        "  wharf server --listen 0.0.0.0:8440\n",
        "  wharf --data /var/lib/wharf server --listen '[::]:8440'",
    ))]
    Server(ServerArgs),
    /// Print a shell completion script for bash, zsh or fish.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf completions bash > /etc/bash_completion.d/wharf\n",
        "  wharf completions zsh > \"${fpath[1]}/_wharf\"\n",
        "  wharf completions fish > ~/.config/fish/completions/wharf.fish",
    ))]
    Completions(CompletionsArgs),
    /// Print the man page of wharf (roff), or write one page per command with --out.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf man > wharf.1\n",
        "  wharf man --out /usr/local/share/man/man1\n",
        "  wharf man | man -l -",
    ))]
    Man(ManArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate the configuration; exit 2 naming file, line and key when it is wrong.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf config check\n",
        "  # Which file, data directory and [apt] settings are in effect, for scripts\n",
        "  wharf config check --json\n",
        "  wharf --config /etc/wharf/wharf.toml config check",
    ))]
    Check(JsonArgs),
}

#[derive(Debug, Args)]
pub(crate) struct JsonArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct NodesArgs {
    /// Node set to list, e.g. `@canary`, `web[01-04]`, `@role:db` [default: all nodes].
    pub(crate) nodeset: Option<String>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["expand", "fold", "count", "json"])))]
pub(crate) struct NodesetArgs {
    /// Print the expansion, names separated by spaces.
    #[arg(short, long)]
    pub(crate) expand: bool,
    /// Fold into the shortest expression.
    #[arg(short, long)]
    pub(crate) fold: bool,
    /// Print the number of nodes.
    #[arg(short, long)]
    pub(crate) count: bool,
    /// Node-set expressions; several are joined with `,` (union). None: read them from
    /// stdin, separated by spaces or newlines, as ClusterShell's `nodeset` does.
    #[arg(value_name = "EXPR")]
    pub(crate) exprs: Vec<String>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum VersionCommand {
    /// Read versions from stdin, one a line, and print them in ascending dpkg order.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf version sort < versions.txt\n",
        "  # Newest first\n",
        "  wharf version sort -r < versions.txt",
    ))]
    Sort(VersionSortArgs),
    /// `A OP B` with OP one of lt le eq ne ge gt: exit 0 when true, 1 when false.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf version compare 1.0~rc1 lt 1.0\n",
        "  wharf version compare 2:1.0-1 ge 1:9.9 && echo upgrade\n",
        "  wharf version compare 0:1.0 eq 1.0",
    ))]
    Compare(VersionCompareArgs),
}

#[derive(Debug, Args)]
pub(crate) struct VersionSortArgs {
    /// Descending order.
    #[arg(short, long)]
    pub(crate) reverse: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VersionCompareArgs {
    pub(crate) a: String,
    #[arg(value_enum)]
    pub(crate) op: CompareOp,
    pub(crate) b: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum CompareOp {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Recompute the hash chain and report the first entry that does not match.
    #[arg(long)]
    pub(crate) verify: bool,
    /// Only entries whose action starts with this, e.g. `deploy` or `repo.add`.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) action: Option<String>,
    /// Only entries about this target (an environment, repository, node set…).
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// Show at most this many entries (the newest).
    #[arg(short = 'n', long, default_value_t = 50)]
    pub(crate) limit: u32,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// What happened, in words for the next person on call.
    #[arg(required = true)]
    pub(crate) message: Vec<String>,
    /// What it is about (a node set, environment or repository).
    #[arg(long, default_value = "fleet")]
    pub(crate) target: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to write the demo's wharf.toml and node roots.
    #[arg(long, default_value = "wharf-demo", value_name = "DIR")]
    pub(crate) dir: PathBuf,
}

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

#[derive(Debug, Subcommand)]
pub(crate) enum RepoCommand {
    /// Create an empty repository.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo create bookworm-tools --distribution bookworm\n",
        "  wharf repo create bookworm-tools --distribution bookworm --architectures amd64,arm64\n",
        "  wharf repo create trixie-tools --distribution trixie --component main,contrib\n",
        "  wharf repo create bookworm-tools --distribution bookworm --comment \"Internal tools for Debian 12\"",
    ))]
    Create(RepoCreateArgs),
    /// List repositories.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo list\n",
        "  wharf repo list --json",
    ))]
    List(JsonArgs),
    /// Show one repository's settings (and packages with --with-packages).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo show bookworm-tools\n",
        "  wharf repo show bookworm-tools --with-packages\n",
        "  wharf repo show bookworm-tools --with-packages --json",
    ))]
    Show(RepoShowArgs),
    /// Add `.deb` files or directories (searched recursively); all or nothing.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo add bookworm-tools ./build/*.deb\n",
        "  # Every .deb under ./debs/, into the contrib component\n",
        "  wharf repo add bookworm-tools ./debs/ --component contrib\n",
        "  # A rebuilt package with the same name, version and architecture\n",
        "  wharf repo add bookworm-tools foo_1.2-1_amd64.deb --replace",
    ))]
    Add(RepoAddArgs),
    /// Remove packages: `pkg`, `pkg (= version)` or `pkg_version_arch`.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo remove bookworm-tools foo\n",
        "  wharf repo remove bookworm-tools 'foo (= 1.2-1)'\n",
        "  wharf repo remove bookworm-tools foo_1.2-1_amd64",
    ))]
    Remove(RepoRemoveArgs),
    /// Delete a repository (its packages stay stored); refused while published.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo drop bookworm-tools\n",
        "  # Even while it is published\n",
        "  wharf repo drop bookworm-tools --force",
    ))]
    Drop(DropArgs),
    /// Check every stored package file against the SHA-256 the store recorded.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo verify\n",
        "  wharf repo verify --json",
    ))]
    Verify(JsonArgs),
    /// Delete stored packages that no repository or snapshot contains (files and metadata).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo cleanup\n",
        "  wharf repo cleanup --json",
    ))]
    Cleanup(JsonArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RepoCreateArgs {
    pub(crate) name: String,
    /// Distribution (Suite and Codename) clients put in sources.list, e.g. `bookworm`.
    #[arg(long)]
    pub(crate) distribution: String,
    /// Components, comma-separated.
    #[arg(long, default_value = "main", value_delimiter = ',')]
    pub(crate) component: Vec<String>,
    /// Architectures, comma-separated (`all` packages are listed under each).
    #[arg(long, default_value = "amd64", value_delimiter = ',')]
    pub(crate) architectures: Vec<String>,
    /// Free text shown by `repo show` and in the Release file's Description.
    #[arg(long)]
    pub(crate) comment: Option<String>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RepoShowArgs {
    pub(crate) name: String,
    /// List the packages too.
    #[arg(long)]
    pub(crate) with_packages: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RepoAddArgs {
    pub(crate) name: String,
    /// `.deb` files or directories.
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,
    /// Component to add to [default: the repository's first].
    #[arg(long)]
    pub(crate) component: Option<String>,
    /// Replace a package with the same name, version and architecture but other content.
    #[arg(long)]
    pub(crate) replace: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RepoRemoveArgs {
    pub(crate) name: String,
    /// `pkg`, `pkg (= version)` or `pkg_version_arch`.
    pub(crate) query: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DropArgs {
    pub(crate) name: String,
    /// Drop even while published.
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SnapshotCommand {
    /// Freeze a repository's current contents.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf snapshot create tools-2024-06-01 --from bookworm-tools\n",
        "  wharf snapshot create before-upgrade --from bookworm-tools",
    ))]
    Create(SnapshotCreateArgs),
    /// List snapshots.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf snapshot list\n",
        "  wharf snapshot list --json",
    ))]
    List(JsonArgs),
    /// Show one snapshot (packages included).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf snapshot show tools-2024-06-01\n",
        "  wharf snapshot show tools-2024-06-01 --json",
    ))]
    Show(RepoShowArgs),
    /// Delete a snapshot; refused while published.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf snapshot drop tools-2024-06-01\n",
        "  wharf snapshot drop tools-2024-06-01 --force",
    ))]
    Drop(DropArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SnapshotCreateArgs {
    pub(crate) name: String,
    /// The repository to freeze.
    #[arg(long)]
    pub(crate) from: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct PublishArgs {
    #[command(subcommand)]
    pub(crate) command: Option<PublishCommand>,
    /// The repository to publish.
    #[arg(required_unless_present = "snapshot", conflicts_with = "snapshot")]
    pub(crate) repo: Option<String>,
    /// Publish a snapshot instead of a repository.
    #[arg(long)]
    pub(crate) snapshot: Option<String>,
    /// Prefix under /apt/ [default: the repository or snapshot name].
    #[arg(long)]
    pub(crate) prefix: Option<String>,
    /// Write a plain tree to this directory instead (for nginx & co.); not recorded.
    #[arg(long, value_name = "DIR", conflicts_with = "prefix")]
    pub(crate) to_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PublishCommand {
    /// List published prefixes.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf publish list\n",
        "  wharf publish list --json",
    ))]
    List(JsonArgs),
    /// Remove a published tree.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf publish drop bookworm-tools\n",
        "  wharf publish drop tools-staging",
    ))]
    Drop(PublishDropArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PublishDropArgs {
    pub(crate) prefix: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Print the public signing key, ASCII-armored, for clients' `signed-by=`.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf key export\n",
        "  # For clients: deb [signed-by=/usr/share/keyrings/acme-archive.asc] …\n",
        "  wharf key export > /usr/share/keyrings/acme-archive.asc",
    ))]
    Export,
}

#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// Minimum free disk space on the data directory's filesystem, in percent [default:
    /// `[apt] min_free_percent`, else 10].
    #[arg(long)]
    pub(crate) min_free_percent: Option<f64>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Address to listen on, `HOST:PORT` (port 0 picks a free one) [default: `[server]
    /// listen` in the config, else 127.0.0.1:8440]. The first line on stdout is
    /// `listening on http://ADDR`.
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub(crate) shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write `wharf.1` and one page per subcommand (`wharf-repo-add.1`, …) into this
    /// directory instead of printing `wharf.1`.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    /// The words of one example as the shell would pass them: whitespace-separated, with
    /// '…' and "…" quoting; it ends at the first unquoted `|`, `>`, `<`, `&&` or `;`, which
    /// belong to the shell. Globs stay literal (clap takes `./build/*.deb` as a path).
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word: Option<String> = None;
        let mut quote = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.get_or_insert_default().push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    word.get_or_insert_default();
                }
                (None, c) if c.is_whitespace() => words.extend(word.take()),
                (None, '|' | '>' | '<' | ';' | '&') if word.is_none() => break,
                (None, c) => word.get_or_insert_default().push(c),
            }
        }
        assert!(quote.is_none(), "unbalanced quotes in {line:?}");
        words.extend(word);
        words
    }

    #[test]
    fn shell_words_split_like_sh() {
        assert_eq!(
            shell_words("wharf nodes 'web[01-04]' --json"),
            ["wharf", "nodes", "web[01-04]", "--json"]
        );
        assert_eq!(shell_words("wharf log \"a b\"  c"), ["wharf", "log", "a b", "c"]);
        assert_eq!(shell_words("wharf key export > /tmp/k.asc"), ["wharf", "key", "export"]);
        assert_eq!(shell_words("wharf a && wharf b"), ["wharf", "a"]);
        assert_eq!(
            shell_words("wharf nodeset -e @x | tr ' ' '\\n'"),
            ["wharf", "nodeset", "-e", "@x"]
        );
    }

    /// Every command and subcommand has an `Examples:` section in its help, and every
    /// example in it (a line starting with `wharf `) parses; at least one of them runs the
    /// command it documents.
    #[test]
    fn every_command_has_examples_that_parse() {
        fn walk(command: &clap::Command, path: &mut Vec<String>, checked: &mut usize) {
            let name = path.join(" ");
            let help = command.get_after_help().map(|help| help.to_string()).unwrap_or_default();
            assert!(help.starts_with("Examples:\n"), "`{name} --help` has no Examples section");
            let examples: Vec<&str> =
                help.lines().map(str::trim).filter(|line| line.starts_with("wharf ")).collect();
            assert!(examples.len() >= 2, "`{name}` has {} examples, want 2–4", examples.len());
            let mut documents_itself = false;
            for example in examples {
                let words = shell_words(example);
                if let Err(err) = Cli::try_parse_from(&words) {
                    panic!("example of `{name}` does not parse: {example}\n{err}");
                }
                // The subcommand path the example runs, e.g. ["wharf", "repo", "add"].
                let matches = Cli::command().get_matches_from(&words);
                let mut ran = vec!["wharf".to_owned()];
                let mut current = &matches;
                while let Some((sub, sub_matches)) = current.subcommand() {
                    ran.push(sub.to_owned());
                    current = sub_matches;
                }
                documents_itself |= ran.starts_with(path);
                *checked += 1;
            }
            assert!(documents_itself, "no example of `{name}` runs `{name}`");
            for sub in command.get_subcommands() {
                path.push(sub.get_name().to_owned());
                walk(sub, path, checked);
                path.pop();
            }
        }
        let mut checked = 0;
        walk(&Cli::command(), &mut vec!["wharf".to_owned()], &mut checked);
        assert!(checked > 70, "only {checked} examples checked");
    }

    /// Example lines stay on one line of `--help` at the maximum width clap wraps to.
    #[test]
    fn examples_fit_the_help_width() {
        fn walk(command: &clap::Command) {
            let help = command.get_after_help().map(|help| help.to_string()).unwrap_or_default();
            for line in help.lines() {
                assert!(line.chars().count() <= 100, "too wide for --help: {line}");
            }
            command.get_subcommands().for_each(walk);
        }
        walk(&Cli::command());
    }
}
