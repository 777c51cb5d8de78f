//! Options of `wharf mirror`: mirrors of remote APT repositories.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::JsonArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum MirrorCommand {
    /// Create a mirror of a remote repository (nothing is fetched until `mirror update`).
    #[command(
        long_about = concat!(
            "Create a mirror of a remote repository (nothing is fetched until `mirror update`).\n\n",
            "The remote's InRelease (or Release and Release.gpg) must be signed by a key in\n",
            "--keyring: an armored (.asc) or binary (.gpg) OpenPGP public keyring.\n",
            "--ignore-signatures accepts whatever the network returns: anyone between Wharf\n",
            "and the remote can then put packages into your repositories. Do not use it for\n",
            "anything that reaches a fleet.",
        ),
        after_help = concat!(
            "Examples:\n",
            "  wharf mirror create tools http://deb.internal/tools bookworm --keyring t.asc --arch amd64\n",
            "  # Only postgresql-16 (add --filter-with-deps for what it depends on)\n",
            "  wharf mirror create pg http://pg.internal/apt bookworm --arch amd64 --keyring k.gpg --filter pg16\n",
            "  wharf mirror create c http://deb.internal/d bookworm --component contrib --arch arm64 --keyring k\n",
            "  # Binaries and sources (apt-get source works from a publish of it)\n",
            "  wharf mirror create src http://deb.internal/d bookworm --arch amd64 --keyring k --with-sources",
        )
    )]
    Create(MirrorCreateArgs),
    /// List mirrors.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf mirror list\n",
        "  wharf mirror list --json",
    ))]
    List(JsonArgs),
    /// Show one mirror: its remote, what its last update saw, its packages.
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf mirror show tools\n",
        "  wharf mirror show tools --with-packages --json",
    ))]
    Show(MirrorShowArgs),
    /// Fetch what changed on the remote: checked, then stored, all or nothing.
    #[command(
        long_about = concat!(
            "Fetch what changed on the remote: checked, then stored, all or nothing.\n\n",
            "Downloads only package files Wharf does not store yet, 8 at a time, each checked\n",
            "against the size and SHA-256 of the signed index; a download that was cut is\n",
            "resumed by the next update. Freeze the result with `wharf snapshot create`.",
        ),
        after_help = concat!(
            "Examples:\n",
            "  wharf mirror update tools\n",
            "  wharf mirror update tools --json\n",
            "  wharf snapshot create tools-2024-06-01 --from mirror:tools",
        )
    )]
    Update(MirrorNameArgs),
    /// Delete a mirror (its packages stay stored; snapshots of it keep theirs).
    #[command(after_help = concat!(
        "Examples:\n",
        "  wharf mirror drop tools\n",
        "  wharf mirror drop tools --json",
    ))]
    Drop(MirrorNameArgs),
}

#[derive(Debug, Args)]
pub(crate) struct MirrorCreateArgs {
    pub(crate) name: String,
    /// The remote repository's root: the URL holding dists/ and pool/.
    pub(crate) url: String,
    /// The distribution to mirror (a directory under dists/), e.g. `bookworm`.
    pub(crate) distribution: String,
    /// A component to mirror (repeat for more) [default: main].
    #[arg(long)]
    pub(crate) component: Vec<String>,
    /// An architecture to mirror (repeat for more); `all` packages come with each.
    #[arg(long, visible_alias = "arch", required = true)]
    pub(crate) architecture: Vec<String>,
    /// Mirror only the packages this aptly package query matches (repeat: any of them).
    #[arg(long, value_name = "QUERY")]
    pub(crate) filter: Vec<String>,
    /// Also mirror what the filtered packages depend on (within the remote).
    #[arg(long, requires = "filter")]
    pub(crate) filter_with_deps: bool,
    /// The OpenPGP public keys the remote signs with (.asc or .gpg).
    #[arg(long, required_unless_present = "ignore_signatures")]
    pub(crate) keyring: Option<PathBuf>,
    /// UNSAFE: accept an unsigned remote, or one signed by any key.
    #[arg(long, conflicts_with = "keyring")]
    pub(crate) ignore_signatures: bool,
    /// Mirror source packages too (the remote's Sources, each .dsc and its files), so
    /// that a publish of the mirror serves `apt-get source`.
    #[arg(long)]
    pub(crate) with_sources: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct MirrorShowArgs {
    pub(crate) name: String,
    /// List the packages too.
    #[arg(long)]
    pub(crate) with_packages: bool,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}

/// `mirror update NAME` and `mirror drop NAME`.
#[derive(Debug, Args)]
pub(crate) struct MirrorNameArgs {
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) output: JsonArgs,
}
