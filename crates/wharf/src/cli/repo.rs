//! Options of the APT repository commands: `repo`, `snapshot`, `publish`, `key` and `health`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::JsonArgs;

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
    /// Change a repository's settings; the next publish applies them.
    #[command(after_help = concat!(
        "Examples:\n",
        "  # No Contents-ARCH.gz indices from the next publish on\n",
        "  wharf repo edit bookworm-tools --contents=false\n",
        "  wharf repo edit bookworm-tools --contents=true --json",
    ))]
    Edit(RepoEditArgs),
    /// Add `.deb` and `.dsc` files or directories (searched recursively); all or nothing.
    ///
    /// A `.dsc` is a source package: it and every file it lists (read from its directory)
    /// are checked against its sizes and checksums, stored, and published in `Sources`.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo add bookworm-tools ./build/*.deb\n",
        "  # A source package: the .dsc, its .orig.tar.* and .debian.tar.* next to it\n",
        "  wharf repo add bookworm-tools hello_1.0-1.dsc\n",
        "  # Every .deb under ./debs/, into the contrib component\n",
        "  wharf repo add bookworm-tools ./debs/ --component contrib\n",
        "  # A rebuilt package with the same name, version and architecture\n",
        "  wharf repo add bookworm-tools foo_1.2-1_amd64.deb --replace",
    ))]
    Add(RepoAddArgs),
    /// Add a `.changes` upload (its `.deb` and `.dsc` files), all or nothing.
    ///
    /// The `.changes` must be signed by a key of `[apt] uploaders_keyring`, and every file
    /// it lists (read from its directory) must have the size and checksums it says. An
    /// unsigned one is taken only with --accept-unsigned where `[apt] accept_unsigned =
    /// true` allows it.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo include bookworm-tools hello_1.0-1_amd64.changes\n",
        "  # What dput uploaded into an incoming directory\n",
        "  wharf repo include bookworm-tools /srv/incoming/hello_1.0-1_source.changes --json\n",
        "  # Every complete upload dput copied there (method = local), removed once included\n",
        "  wharf repo include bookworm-tools --incoming /srv/incoming\n",
        "  # A CI upload without a signature, where the configuration allows it\n",
        "  wharf repo include bookworm-tools hello_1.0-1_amd64.changes --accept-unsigned",
    ))]
    Include(RepoIncludeArgs),
    /// Remove the packages a query matches (see `docs/repositories.md`, "Package queries").
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo remove bookworm-tools foo\n",
        "  wharf repo remove bookworm-tools 'foo (<< 1.2-1)'\n",
        "  wharf repo remove bookworm-tools foo_1.2-1_amd64\n",
        "  wharf repo remove bookworm-tools 'Name (% foo-*), $Architecture (= arm64)'",
    ))]
    Remove(RepoRemoveArgs),
    /// Copy packages a query matches from a repository or snapshot into a repository.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo copy bookworm-toolsbeta bookworm-tools 'foo (>= 1.2)'\n",
        "  # With what they depend on, showing what would change first\n",
        "  wharf repo copy bookworm-toolsbeta bookworm-tools foo bar --with-deps --dry-run\n",
        "  # A whole snapshot's contents\n",
        "  wharf repo copy snapshot:tools-2024-06-01 bookworm-tools --all",
    ))]
    Copy(RepoCopyArgs),
    /// Move packages a query matches from one repository to another (copy, then remove).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo move bookworm-toolsbeta bookworm-tools 'foo (= 1.2-1)'\n",
        "  wharf repo move bookworm-toolsbeta bookworm-tools 'Name (% foo*)' --dry-run",
    ))]
    Move(RepoCopyArgs),
    /// Compare two repositories or snapshots: only in one, or in other versions.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo diff bookworm-toolsbeta bookworm-tools\n",
        "  wharf repo diff snapshot:tools-2024-06-01 bookworm-tools --json",
    ))]
    Diff(RepoDiffArgs),
    /// Delete a repository (its packages stay stored); refused while published.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo drop bookworm-tools\n",
        "  # Even while it is published\n",
        "  wharf repo drop bookworm-tools --force",
    ))]
    Drop(DropArgs),
    /// Check every stored package file against the SHA-256 the store recorded.
    ///
    /// With --all, also read back every object of the object store and check it.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo verify\n",
        "  wharf repo verify --all\n",
        "  wharf repo verify --all --json",
    ))]
    Verify(RepoVerifyArgs),
    /// Delete stored packages that no repository or snapshot contains (files and metadata).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf repo cleanup\n",
        "  wharf repo cleanup --json",
    ))]
    Cleanup(JsonArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RepoVerifyArgs {
    /// Repositories or snapshots (`repo:NAME`, `snapshot:NAME`) whose packages to check.
    #[arg(conflicts_with = "all")]
    pub(crate) names: Vec<String>,
    /// Check every stored package and every object of the object store, named or not.
    #[arg(long)]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
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
    /// Publish `Contents-ARCH.gz` indices, what `apt-file` searches (`--contents=false`:
    /// none).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub(crate) contents: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RepoEditArgs {
    pub(crate) name: String,
    /// Publish `Contents-ARCH.gz` indices (`apt-file`): `true` or `false`; left out,
    /// unchanged.
    #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub(crate) contents: Option<bool>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RepoShowArgs {
    pub(crate) name: String,
    /// List only the packages these queries match (any of them); implies --with-packages.
    #[arg(value_name = "QUERY")]
    pub(crate) queries: Vec<String>,
    /// List the packages too.
    #[arg(long)]
    pub(crate) with_packages: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RepoAddArgs {
    pub(crate) name: String,
    /// `.deb` and `.dsc` files, or directories.
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
pub(crate) struct RepoIncludeArgs {
    pub(crate) name: String,
    /// The `.changes` file; the files it lists are read from its directory.
    #[arg(required_unless_present = "incoming", conflicts_with = "incoming")]
    pub(crate) changes: Option<PathBuf>,
    /// Include every complete `.changes` in this directory (where `dput` with `method =
    /// local` copies uploads), removing each once included; incomplete or refused ones
    /// are left, with the reason (like `reprepro processincoming`).
    #[arg(long, value_name = "DIR")]
    pub(crate) incoming: Option<PathBuf>,
    /// Component to add to [default: the repository's first].
    #[arg(long)]
    pub(crate) component: Option<String>,
    /// Replace a package with the same name, version and architecture but other content.
    #[arg(long)]
    pub(crate) replace: bool,
    /// Take an unsigned `.changes` (only where `[apt] accept_unsigned = true`).
    #[arg(long)]
    pub(crate) accept_unsigned: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RepoRemoveArgs {
    pub(crate) name: String,
    /// A package query: `pkg`, `pkg (>= version)`, `pkg_version_arch`, `Name (% glob*)`…
    pub(crate) query: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RepoCopyArgs {
    /// The repository (or, for copy, snapshot) to take packages from: NAME, repo:NAME or
    /// snapshot:NAME.
    pub(crate) source: String,
    /// The repository to put them in.
    pub(crate) destination: String,
    /// Package queries; a package any of them matches is taken.
    #[arg(value_name = "QUERY", required_unless_present = "all")]
    pub(crate) queries: Vec<String>,
    /// Every package of the source instead of queries.
    #[arg(long, conflicts_with = "queries")]
    pub(crate) all: bool,
    /// Also take what they depend on (Depends, Pre-Depends), from the source.
    #[arg(long)]
    pub(crate) with_deps: bool,
    /// Show what would change; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RepoDiffArgs {
    /// A repository or snapshot: NAME, repo:NAME or snapshot:NAME.
    pub(crate) left: String,
    pub(crate) right: String,
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
    /// Freeze a repository's or mirror's current contents.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf snapshot create tools-2024-06-01 --from bookworm-tools\n",
        "  wharf snapshot create upstream-2024-06-01 --from mirror:tools-upstream\n",
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
    /// The repository or mirror to freeze (`repo:NAME` or `mirror:NAME` when both exist).
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
pub(crate) struct ApplyArgs {
    /// Change nothing: print what would change (exit 1 if anything would).
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Drop undeclared repositories that are empty and not published.
    #[arg(long)]
    pub(crate) prune: bool,
    /// Drop this undeclared repository even though it holds packages (repeatable; implies
    /// --prune). Its packages stay stored until `wharf repo cleanup`.
    #[arg(long, value_name = "NAME")]
    pub(crate) prune_with_packages: Vec<String>,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// Recreate an aptly root's repositories and snapshots, same names, same packages.
    ///
    /// aptly (`apt-get install aptly`) lists what ROOT holds; every package file is taken
    /// from aptly's pool after its SHA-256 is checked against aptly's database, and added
    /// as `repo add` adds files. A missing or damaged pool file stops the import before
    /// anything changes. Running it again imports nothing twice: names that already hold
    /// the same packages are reported `present`; one holding other packages is a
    /// `conflict`, left alone (exit 1). Stop `aptly api serve` first: aptly's database
    /// takes one user at a time.
    #[command(after_help = concat!(
        "Examples:\n",
        "  # What would be imported, with distributions and package counts\n",
        "  wharf import aptly /srv/packages --dry-run\n",
        "  wharf import aptly /srv/packages\n",
        "  wharf import aptly ~/.aptly --json",
    ))]
    Aptly(ImportAptlyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ImportAptlyArgs {
    /// aptly's rootDir (`rootDir` in /etc/aptly.conf or ~/.aptly.conf; default ~/.aptly).
    pub(crate) root: PathBuf,
    /// Read and check everything, change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}
