//! `wharf apply`: declared repositories against stored ones.

use serde::{Deserialize, Serialize};

/// What `wharf apply` did, or with `--dry-run` would do (`POST /api/v1/apply`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Every declared repository exists with its declared settings (after this run; with
    /// `dry_run`, as things are), and no asked-for prune was refused. False: exit 1.
    pub in_sync: bool,
    /// Repositories created (or to be created), in file order.
    pub created: Vec<String>,
    /// Settings changed to what is declared (or to be changed): fields whose change
    /// clients do not notice (added components or architectures, prefix, comment).
    pub updated: Vec<FieldDiff>,
    /// Differences Wharf leaves alone, each with why and what to do.
    pub drift: Vec<FieldDiff>,
    /// Stored repositories no `[[repositories]]` entry names.
    pub undeclared: Vec<UndeclaredView>,
    /// Declared repositories already as declared.
    pub unchanged: Vec<String>,
    /// The audit entries written, one per change.
    pub audit_ids: Vec<i64>,
}

/// One field of a repository that differs from its declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    pub repository: String,
    /// `distribution`, `components`, `architectures`, `prefix` or `comment`.
    pub field: String,
    /// The value in `wharf.toml` (lists comma-separated; an absent comment is empty).
    pub declared: String,
    /// The value the store holds.
    pub actual: String,
    /// Why it is or is not changed, and what to do.
    pub note: String,
}

/// A stored repository that is not declared, and what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndeclaredView {
    pub repository: String,
    pub packages: i64,
    pub published_as: Vec<String>,
    /// `keep` (no `--prune`), `drop` (dropped, or dropped without `--dry-run`) or
    /// `refuse` (asked to prune, but it holds packages or is published).
    pub action: String,
    pub reason: String,
}

/// What `wharf import aptly ROOT` did, or with `--dry-run` would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// The aptly root read.
    pub root: String,
    pub dry_run: bool,
    /// Every aptly repository, then every snapshot, by name.
    pub collections: Vec<ImportedView>,
    /// False when a repository or snapshot of the same name holds other packages (left
    /// alone): exit 1.
    pub ok: bool,
}

/// One aptly repository or snapshot and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedView {
    /// `repository` or `snapshot`.
    pub kind: String,
    pub name: String,
    pub distribution: String,
    pub component: String,
    pub architectures: Vec<String>,
    /// A snapshot's aptly repository, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub packages: usize,
    /// `import` (imported, or to import with `--dry-run`), `present` (already imported:
    /// same packages) or `conflict` (the name holds other packages; left alone).
    pub action: String,
    /// The audit entries written for it.
    pub audit_ids: Vec<i64>,
}
