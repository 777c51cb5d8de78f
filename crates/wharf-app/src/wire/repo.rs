//! Repositories, snapshots, publishes and health.

use serde::Serialize;

/// A repository or snapshot (`repo list`, `snapshot list`, `repo show`, `repo create`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CollectionView {
    pub name: String,
    /// `repository` or `snapshot`.
    pub kind: String,
    /// Suite and Codename clients put in sources.list.
    pub distribution: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    pub comment: Option<String>,
    /// A snapshot's repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Where `wharf publish NAME` publishes it without `--prefix`, when that is not its
    /// name (`prefix` in `[[repositories]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Whether its publishes have `Contents-ARCH.gz` indices (`apt-file`).
    #[serde(default)]
    pub contents: bool,
    /// How many packages it holds.
    pub packages: i64,
    /// Bumped by every change of its contents.
    pub generation: i64,
    pub created_at: String,
    /// Prefixes it is published at.
    pub published_as: Vec<String>,
    /// With `--with-packages` (always for a snapshot's `show`): its packages by name,
    /// architecture and version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_list: Option<Vec<PackageView>>,
    /// A mirror's remote and what its last update saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<MirrorView>,
    /// A repository's snapshot policy (`[[repositories]]` `snapshot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_policy: Option<SnapshotPolicyView>,
    /// A snapshot taken by its repository's snapshot policy (not by hand).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_policy: bool,
}

/// A snapshot policy: every publish takes a snapshot named by `name`; the newest `keep`
/// it took are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SnapshotPolicyView {
    pub name: String,
    pub keep: u32,
}

/// Where a mirror fetches from (`mirror list`, `mirror show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MirrorView {
    /// The remote repository's root URL.
    pub url: String,
    /// The package queries selecting what is mirrored; empty: everything.
    pub filter: Vec<String>,
    pub filter_with_deps: bool,
    /// Fingerprints of the keys the remote `Release` must be signed with.
    pub keys: Vec<String>,
    /// Signatures are not checked (chosen at create time; unsafe).
    pub ignore_signatures: bool,
    /// Source packages are mirrored too (`Sources`, `.dsc` and their files).
    #[serde(default)]
    pub with_sources: bool,
    /// `Date` of the remote `Release` the last update used.
    pub release_date: Option<String>,
    /// When the last update that changed something committed.
    pub updated_at: Option<String>,
}

/// What `mirror update` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MirrorUpdateReport {
    pub mirror: String,
    /// `Date` of the remote `Release`.
    pub release_date: Option<String>,
    /// Packages the mirror lists after the update.
    pub packages: usize,
    /// Package files downloaded (verified, then stored).
    pub downloaded: usize,
    /// Of those, downloads resumed from a partial file with an HTTP `Range` request.
    pub resumed: usize,
    /// Bytes received for package files.
    pub bytes: u64,
    /// Packages whose file Wharf already stored.
    pub reused: usize,
    /// Packages the remote no longer lists (their files stay stored).
    pub removed: usize,
    /// The mirror's new generation; `None` when nothing changed.
    pub generation: Option<i64>,
    pub audit_id: Option<i64>,
}

/// One package in a repository or snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PackageView {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub component: String,
    /// Size of the `.deb` in bytes.
    pub size: i64,
    pub sha256: String,
}

/// What `repo add` did. Nothing is added unless every file was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AddReport {
    pub repository: String,
    pub component: String,
    /// `name_version_arch` of every package added.
    pub added: Vec<String>,
    /// SHA-256 of packages replaced (`--replace`).
    pub replaced: Vec<String>,
    /// Files whose package was already in the repository with the same content.
    pub already_present: usize,
    /// Package files written to storage (new content).
    pub stored: usize,
    /// The repository's generation after the change; `null` when nothing changed.
    pub generation: Option<i64>,
    /// The audit entry of the change; `null` when nothing changed.
    pub audit_id: Option<i64>,
}

/// What `repo include` did: the upload's `.deb` and `.dsc` files went through `repo add`
/// (all or nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IncludeReport {
    /// The `.changes` as named.
    pub changes: String,
    /// Its `Source` and `Version`.
    pub source: String,
    pub version: String,
    /// Fingerprint of the uploader's key; `null` for an unsigned upload (accepted with
    /// `--accept-unsigned`).
    pub signed_by: Option<String>,
    /// Listed files checked but not added by themselves (`.buildinfo`).
    pub ignored: Vec<String>,
    pub add: AddReport,
}

/// What `repo include --incoming DIR` did: each complete `.changes` included (and
/// removed with its files), the others left where they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IncomingReport {
    pub directory: String,
    pub included: Vec<IncludeReport>,
    /// Uploads with a listed file missing or short: still being copied.
    pub waiting: Vec<IncomingSkip>,
    /// Uploads `repo include` refused, left in the directory.
    pub rejected: Vec<IncomingSkip>,
}

/// A `.changes` of the incoming directory left where it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IncomingSkip {
    /// Its file name.
    pub changes: String,
    pub reason: String,
}

/// What `repo remove` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RemoveReport {
    pub repository: String,
    pub query: String,
    /// `name_version_arch` of every package removed; empty when nothing matched.
    pub removed: Vec<String>,
    pub generation: Option<i64>,
    pub audit_id: Option<i64>,
}

/// What `repo drop`, `snapshot drop` or `publish drop` removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DropReport {
    /// `repository`, `snapshot` or `publish`.
    pub kind: String,
    /// The name, or the prefix of a publish.
    pub name: String,
    /// `--force`: dropped although published.
    pub forced: bool,
    /// Prefixes it was published at (they keep serving until dropped themselves).
    pub published_as: Vec<String>,
    pub audit_id: i64,
}

/// What `snapshot create` froze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SnapshotReport {
    pub name: String,
    pub from: String,
    /// The repository's generation the snapshot froze.
    pub generation: i64,
    pub packages: i64,
    pub audit_id: i64,
}

/// What `publish` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PublishReport {
    /// The prefix under `/apt/`; `null` for `--to-dir`.
    pub prefix: Option<String>,
    /// `repository` or `snapshot`.
    pub kind: String,
    pub source: String,
    pub distribution: String,
    /// The source's generation that was published.
    pub generation: i64,
    /// Where clients' files are: a directory, or `s3://…`.
    pub location: String,
    /// Nothing had changed since the last publish: nothing was written.
    pub unchanged: bool,
    pub packages: usize,
    pub indices_rewritten: usize,
    pub indices_unchanged: usize,
    pub pool_files_added: usize,
    /// The audit entry; `null` when unchanged or for `--to-dir`.
    pub audit_id: Option<i64>,
    /// What the repository's snapshot policy did; absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<PolicySnapshots>,
}

/// What a repository's snapshot policy (`[[repositories]]` `snapshot`) did at a publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PolicySnapshots {
    /// The snapshot taken; `null` when the newest one the policy made already froze
    /// this generation.
    pub created: Option<String>,
    /// Snapshots the policy made beyond `keep`, dropped (never a published one).
    pub dropped: Vec<String>,
    pub keep: u32,
}

/// A published prefix (`publish list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PublishView {
    pub prefix: String,
    /// `repo` or `snapshot`.
    pub kind: String,
    pub source: String,
    pub distribution: String,
    pub generation: i64,
    pub published_at: String,
    /// Where clients' files are: a directory, or `s3://…`.
    pub path: String,
}

/// `repo verify`: stored package files checked against their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct VerifyReport {
    pub ok: bool,
    /// How many stored packages were checked.
    pub packages: usize,
    /// Where the package files are: the object directory, or `s3://…`.
    #[serde(default)]
    pub location: String,
    /// With `--all`: how many more objects of the object store (those no stored package
    /// names, loose or packed) were read back and hashed; `null` otherwise.
    #[serde(default)]
    pub objects: Option<usize>,
    /// One line per package or object whose file is missing or different, naming it.
    pub problems: Vec<String>,
    /// When there are problems: what to do about them; `null` otherwise.
    #[serde(default)]
    pub advice: Option<String>,
}

/// `repo cleanup`: what was forgotten and deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CleanupReport {
    /// Packages no repository or snapshot contained, forgotten by the store.
    pub packages: usize,
    /// Files deleted from storage, and their bytes.
    pub files: usize,
    pub bytes: u64,
    /// File lists (for `Contents` indices) of packages no longer stored, dropped from
    /// `DATA/contents`, and the bytes that freed.
    #[serde(default)]
    pub lists: usize,
    #[serde(default)]
    pub list_bytes: u64,
    /// Directories nothing refers to, removed (relative to the data directory): the
    /// tree of a prefix no longer published, downloads of a mirror no longer there.
    #[serde(default)]
    pub leftovers: Vec<String>,
    pub audit_id: i64,
}

/// `health`: every check and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct HealthReport {
    pub healthy: bool,
    pub checks: Vec<CheckView>,
}

/// One health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CheckView {
    /// `repo NAME`, `storage URL`, `publish PREFIX`, `valid-until PREFIX`, `disk`.
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// What `repo copy` or `repo move` did (or, with `--dry-run`, would do). All or nothing:
/// a conflict refuses the whole command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CopyReport {
    /// `copy` or `move`.
    pub action: String,
    pub source: String,
    /// `repository` or `snapshot`.
    pub source_kind: String,
    pub destination: String,
    /// The queries as given (any may match); empty with `--all`.
    pub queries: Vec<String>,
    /// Nothing was changed: this is what would be.
    pub dry_run: bool,
    /// `name_version_arch` of every package added to the destination, dependencies
    /// included.
    pub copied: Vec<String>,
    /// Those of `copied` that `--with-deps` brought in.
    pub dependencies: Vec<String>,
    /// Matched packages the destination already had with the same content.
    pub already_present: Vec<String>,
    /// `move`: `name_version_arch` of every package taken out of the source.
    pub removed: Vec<String>,
    /// `--with-deps`: `pkg_version_arch: dependency` for every dependency neither the
    /// destination nor the source satisfies (reported, not an error).
    pub missing_dependencies: Vec<String>,
    /// The destination's generation after the change; `null` when nothing changed.
    pub generation: Option<i64>,
    pub audit_id: Option<i64>,
}

/// `repo diff A B`: packages by name and architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DiffReport {
    pub left: String,
    /// `repository` or `snapshot`.
    pub left_kind: String,
    pub right: String,
    pub right_kind: String,
    /// Nothing differs.
    pub identical: bool,
    /// Name and architecture only on the left, with every version there.
    pub only_left: Vec<DiffEntry>,
    pub only_right: Vec<DiffEntry>,
    /// On both sides with other versions (or the same version with other content).
    pub different: Vec<DiffEntry>,
}

/// One name and architecture in a [`DiffReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DiffEntry {
    pub name: String,
    pub architecture: String,
    /// Versions on the left (empty when only on the right), dpkg order.
    pub left: Vec<String>,
    pub right: Vec<String>,
}
