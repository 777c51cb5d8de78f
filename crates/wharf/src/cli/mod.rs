//! Command-line grammar (clap derive). Shared option structs end in `Args`. The fleet
//! commands' options are in `fleet`, the APT repository ones in `repo`; both are
//! re-exported here, so `crate::cli::X` names every type.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env_vars;

mod deploys;
mod fleet;
mod guard;
mod mirror;
mod repo;
#[cfg(test)]
mod tests;
mod token;

pub(crate) use deploys::*;
pub(crate) use fleet::*;
pub(crate) use guard::*;
pub(crate) use mirror::*;
pub(crate) use repo::*;
pub(crate) use token::*;

/// Wharf: signed APT repositories, fleet execution and staged deployments for Debian
/// fleets, in one binary.
///
/// Commands work on the local data directory (SQLite and files under --data) through the
/// same application layer the server uses. Exit codes: 0 ok, 1 failure, 2 usage or config
/// error, 3 node unreachable.
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
    /// A `wharf server` to act through (`http://wharf.internal:8440`): commands call its API
    /// with the token in `$WHARF_TOKEN` and print the same output with the same exit codes;
    /// `config check` shows the configuration the server runs. `run`, `copy`, `demo`,
    /// `server`, `import`, `publish --to-dir`, `backup` and `restore` work only where they
    /// run and refuse it; `version`, `completions` and `man` ignore it.
    #[arg(long, global = true, env = env_vars::SERVER, value_name = "URL")]
    pub(crate) server: Option<String>,
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
        "  wharf audit --actor alice --since 2026-12-01 --until 2026-12-02 --json\n",
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
    /// Mirror remote APT repositories: fetched, checked against their keyring, stored.
    #[command(subcommand)]
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf mirror create tools http://deb.internal/tools bookworm --keyring t.asc --arch amd64\n",
        "  wharf mirror update tools\n",
        "  wharf snapshot create tools-2024-06-01 --from mirror:tools\n",
        "  wharf publish --snapshot tools-2024-06-01 --prefix tools",
    ))]
    Mirror(MirrorCommand),
    /// Freeze a repository's or mirror's contents under a name, to publish later.
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
    /// Create the repositories `[[repositories]]` in wharf.toml declares, and report drift.
    ///
    /// Missing repositories are created; added components or architectures, the publish
    /// prefix and the comment are changed to what is declared; a different distribution
    /// or a component or architecture taken away is drift: reported, never changed.
    /// Repositories wharf.toml does not declare are reported and kept; `--prune` drops the
    /// empty, unpublished ones. Exit 0 when in sync (after applying), 1 when drift remains,
    /// a prune was refused, or (with --dry-run) something would change.
    #[command(after_help = concat!(
        "Examples:
",
        "  wharf apply --dry-run
",
        "  wharf apply
",
        "  # Also drop undeclared repositories that are empty and unpublished
",
        "  wharf apply --prune
",
        "  # ... and this one, although it holds packages
",
        "  wharf apply --prune-with-packages stretch-toolsbeta
",
        "  wharf apply --json",
    ))]
    Apply(ApplyArgs),
    /// Bring repositories and snapshots over from another tool (aptly).
    #[command(subcommand)]
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf import aptly /srv/packages --dry-run\n",
        "  wharf import aptly ~/.aptly",
    ))]
    Import(ImportCommand),
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
    /// Serve published repositories (`/apt/PREFIX/…`), `/healthz` and the API (`/api/v1/…`).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf server\n",
        "  wharf server --listen 0.0.0.0:8440\n",
        "  wharf --data /var/lib/wharf server --listen '[::]:8440'",
    ))]
    Server(ServerArgs),
    /// Write a consistent copy of the data directory, even while the server runs.
    ///
    /// The store (one SQLite snapshot, taken first), signing keys, published trees and
    /// package files (loose and packs), with MANIFEST.json listing every file's size and
    /// SHA-256. Written under a hidden name beside DEST and renamed to DEST once complete,
    /// so an interrupted backup never looks like one. Repository changes (add, publish,
    /// cleanup) wait until it is done; the server keeps serving. A PostgreSQL store is
    /// refused: back it up with pg_dump.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf backup /srv/backups/wharf-2026-12-01\n",
        "  wharf --data /var/lib/wharf backup /mnt/volume/wharf-nightly --json",
    ))]
    Backup(BackupArgs),
    /// Restore a backup into a new or empty data directory, checking every file.
    ///
    /// Copies the backup beside the data directory, checks every file against
    /// MANIFEST.json, and renames it into place only when all match: all or nothing. Stop
    /// `wharf server` first. A data directory can also simply be moved: nothing in it
    /// names an absolute path.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf --data /var/lib/wharf restore /srv/backups/wharf-2026-12-01\n",
        "  # Replace a data directory (the old one is kept as DATA.replaced-UNIXTIME)\n",
        "  wharf restore /mnt/volume/wharf-nightly --data ./wharf-data --force --json",
    ))]
    Restore(RestoreArgs),
    /// Deploy a version to an environment through its pipeline, under its guard rails.
    ///
    /// Plans the environment's pipeline for its nodes and asks every guard — locks, holds,
    /// change-lock windows, the promotion gate, downgrades, another deploy running — then
    /// runs the stages, recording each node's result. Exit codes: 0 succeeded, 1 failed,
    /// 3 nodes unreachable, 4 refused by a guard (--dry-run reports the same).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf deploy 11.8.0-ee.0 gstg\n",
        "  wharf deploy gprd 11.8.0-ee.0 --dry-run --json\n",
        "  wharf deploy 11.8.0-ee.0 gprd --ignore-production-checks \"hotfix, canary skipped\" --yes\n",
        "  wharf deploy gitlab-ce=16.1.0-ce.0 dev --downgrade --hold --issue https://gitlab.example/i/123",
    ))]
    Deploy(DeployArgs),
    /// Roll an environment back to its previous successful version (rollback pipeline).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf rollback gprd --yes\n",
        "  wharf rollback gprd --to 11.7.0-ee.0 --reviewed-by bob\n",
        "  wharf rollback gprd --force \"migration is backward compatible\"",
    ))]
    Rollback(RollbackArgs),
    /// Continue an interrupted deploy; nodes that finished are not run again.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf resume 42\n",
        "  wharf resume 42 --json",
    ))]
    Resume(ResumeArgs),
    /// Let a deploy waiting at a manual stage go on.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf approve 42\n",
        "  wharf approve 42 tier-1",
    ))]
    Approve(ApproveArgs),
    /// Cancel a deploy: a waiting or interrupted one at once, a running one after its batch.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf cancel 42 --reason \"wrong version\"\n",
        "  wharf cancel 42 --reason \"incident #123\" --json",
    ))]
    Cancel(CancelArgs),
    /// Lock an environment (or all): deploys there are refused until it is unlocked.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf lock gprd --reason \"incident #123\"\n",
        "  # Someone else's lock is only taken over with a reason\n",
        "  wharf lock gprd --reason \"hotfix\" --steal \"alice is offline, approved by bob\"\n",
        "  wharf lock --all --reason \"year-end freeze\"",
    ))]
    Lock(LockArgs),
    /// Lift an environment's lock (or the global one).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf unlock gprd\n",
        "  wharf unlock --all",
    ))]
    Unlock(UnlockArgs),
    /// List the locks: environment, who holds it, since when and why.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf locks\n",
        "  wharf locks --json",
    ))]
    Locks(JsonArgs),
    /// Hold a package on an environment: no deploys of it there, `apt-mark hold` on nodes.
    ///
    /// The hold is recorded first (deploys of the package to ENV are refused from then on),
    /// then run on every node with the `hold` command (`apt-mark hold` by default).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf hold gitlab-ce --env dev --reason \"nightly 11.9 breaks login, see #4567\"\n",
        "  wharf hold gitlab-ee --env gprd --reason \"incident #123\" --json",
    ))]
    Hold(HoldArgs),
    /// Release a hold: the record, then the nodes' holds (`apt-mark unhold`).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf unhold gitlab-ce --env dev\n",
        "  wharf unhold gitlab-ee --env gprd --json",
    ))]
    Unhold(UnholdArgs),
    /// List the recorded holds: environment, package, who, since when and why.
    ///
    /// --check also asks every environment's nodes what they hold (the `holds` command,
    /// `apt-mark showhold` by default) and names the nodes that disagree with the record,
    /// among the packages Wharf deploys there. Exit 1 when one does, 3 when one cannot be
    /// asked.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf holds\n",
        "  wharf holds --check\n",
        "  wharf holds --check --json",
    ))]
    Holds(HoldsArgs),
    /// The schedules `wharf server` runs: cron, zone, action, last run and next fire time.
    ///
    /// Each fire time runs once across servers, as `schedule:NAME` (automated: change-lock
    /// windows apply); one missed while no server was up is logged, not replayed.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf schedules\n",
        "  wharf schedules --json",
    ))]
    Schedules(JsonArgs),
    /// Change-lock windows: which are open, and when each next opens and closes.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf windows\n",
        "  # Will the weekend window block an automated deploy on Christmas Eve?\n",
        "  wharf windows --env gprd --at 2026-12-24T18:00:00Z\n",
        "  wharf windows --json",
    ))]
    Windows(WindowsArgs),
    /// Put nodes in maintenance, take them out, list them.
    #[command(subcommand)]
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf maintenance start web07 --reason \"disk replacement\"\n",
        "  wharf maintenance list\n",
        "  wharf maintenance stop web07",
    ))]
    Maintenance(MaintenanceCommand),
    #[command(flatten)]
    Deploys(DeploysCommand),
    /// Create, list and revoke the HTTP API's tokens.
    #[command(subcommand)]
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf token create ci-upload --role publisher --automated --expires 90d\n",
        "  wharf token list\n",
        "  wharf token revoke ci-upload",
    ))]
    Token(TokenCommand),
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
pub(crate) struct BackupArgs {
    /// The backup directory to create (it must not exist).
    pub(crate) dest: PathBuf,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A backup directory written by `wharf backup`.
    pub(crate) src: PathBuf,
    /// Restore even into a non-empty data directory: it is moved aside, not deleted.
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
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
    /// Only entries by this actor: a token name, a chat user, `schedule:NAME`, a login.
    #[arg(long, value_name = "WHO")]
    pub(crate) actor: Option<String>,
    /// Only entries at or after this time: a date (`2026-12-01`, midnight UTC) or an RFC 3339
    /// time (`2026-12-01T09:30:00+01:00`).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Only entries before this time (a date or an RFC 3339 time, as --since).
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
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
