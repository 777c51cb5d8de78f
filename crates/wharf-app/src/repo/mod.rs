//! Repositories and snapshots: create, list, show, add (see [`mod@add`]), remove, copy and
//! move ([`mod@copy`]), diff ([`mod@diff`]), drop, verify, cleanup, freeze. Metadata lives in the store, package files in
//! [`crate::storage::Storage`]. Every flow that changes something holds the data
//! directory's writer lock for its whole duration (a second writer waits its turn) and
//! commits its audit entry in the same store transaction as the change.

pub mod add;
pub mod copy;
pub mod diff;
pub mod include;
pub mod incoming;
mod leftovers;
mod lists;
pub mod query;
mod verify;

use std::collections::HashSet;
use std::path::Path;

use serde_json::json;
use wharf_store::{AptCollectionRow, AptKind, AptMemberRow, RepoSettings};

use crate::context::Context;
use crate::error::{AppError, Context as _, Result};
use crate::wire::{
    CleanupReport, CollectionView, DropReport, PackageView, RemoveReport, SnapshotPolicyView,
    SnapshotReport,
};
pub use add::{AddRequest, add};
pub use copy::{CopyRequest, copy};
pub use diff::diff;
pub use include::{IncludeRequest, include};
pub use incoming::{IncomingRequest, include_incoming};
pub use query::PackageQuery;
pub use verify::{VerifyScope, verify};

/// `repository` or `snapshot`, for messages and reports.
#[must_use]
pub fn kind_name(kind: AptKind) -> &'static str {
    match kind {
        AptKind::Repo => "repository",
        AptKind::Snapshot => "snapshot",
        AptKind::Mirror => "mirror",
    }
}

/// The command family of a kind: `repo`, `snapshot` or `mirror`.
#[must_use]
pub fn command_name(kind: AptKind) -> &'static str {
    match kind {
        AptKind::Repo => "repo",
        AptKind::Snapshot => "snapshot",
        AptKind::Mirror => "mirror",
    }
}

/// Names end up in paths and URLs: see [`wharf_core::names::check_name`].
pub fn check_name(what: &str, name: &str) -> Result<()> {
    wharf_core::names::check_name(what, name).map_err(AppError::invalid)
}

/// What `repo create` asks for.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub name: String,
    pub distribution: String,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    pub comment: Option<String>,
    /// Publish `Contents-ARCH.gz` indices.
    pub contents: bool,
}

/// The stored repository or snapshot named `name`, or a not-found error saying where to
/// look.
pub(crate) async fn collection(
    ctx: &Context,
    kind: AptKind,
    name: &str,
) -> Result<AptCollectionRow> {
    let rows = ctx.store().apt_collections(kind, Some(name)).await?;
    rows.into_iter().next().ok_or_else(|| {
        AppError::not_found(format!(
            "no {} named {name:?} (see `wharf {} list`)",
            kind_name(kind),
            command_name(kind)
        ))
    })
}

/// A repository or snapshot named by a command: `repo:NAME`, `snapshot:NAME`, or a bare
/// name — the repository of that name, else the snapshot; both existing is an error that
/// asks which.
pub(crate) async fn resolve(ctx: &Context, text: &str) -> Result<(AptKind, AptCollectionRow)> {
    resolve_among(ctx, text, [AptKind::Repo, AptKind::Snapshot]).await
}

/// `KIND:NAME` for either kind, or a bare name — of the first kind, else the second;
/// both existing is an error that asks which.
async fn resolve_among(
    ctx: &Context,
    text: &str,
    kinds: [AptKind; 2],
) -> Result<(AptKind, AptCollectionRow)> {
    for kind in kinds {
        if let Some(name) = text.strip_prefix(command_name(kind)).and_then(|t| t.strip_prefix(':'))
        {
            return Ok((kind, collection(ctx, kind, name).await?));
        }
    }
    let [first, second] = kinds;
    let a = ctx.store().apt_collections(first, Some(text)).await?.into_iter().next();
    let b = ctx.store().apt_collections(second, Some(text)).await?.into_iter().next();
    let (one, other) = (command_name(first), command_name(second));
    match (a, b) {
        (Some(_), Some(_)) => Err(AppError::invalid(format!(
            "both a {} and a {} are named {text:?}: write {one}:{text} or {other}:{text}",
            kind_name(first),
            kind_name(second)
        ))),
        (Some(row), None) => Ok((first, row)),
        (None, Some(row)) => Ok((second, row)),
        (None, None) => Err(AppError::not_found(format!(
            "no {} or {} named {text:?} (see `wharf {one} list` and `wharf {other} list`)",
            kind_name(first),
            kind_name(second)
        ))),
    }
}

/// The prefixes `name` is published at.
pub(crate) async fn published_from(
    ctx: &Context,
    kind: AptKind,
    name: &str,
) -> Result<Vec<String>> {
    Ok(ctx
        .store()
        .apt_publishes()
        .await?
        .into_iter()
        .filter(|row| row.record.kind == kind && row.record.source == name)
        .map(|row| row.prefix)
        .collect())
}

fn view(kind: AptKind, row: AptCollectionRow, published_as: Vec<String>) -> CollectionView {
    let settings = row.settings;
    let mirror = settings.mirror.map(crate::mirror::view);
    CollectionView {
        name: row.name,
        kind: kind_name(kind).to_owned(),
        distribution: settings.distribution,
        components: settings.components,
        architectures: settings.architectures,
        comment: settings.comment,
        from: settings.from,
        prefix: settings.prefix,
        contents: settings.contents,
        packages: row.n_packages,
        generation: row.generation,
        created_at: row.created_at,
        published_as,
        package_list: None,
        mirror,
        snapshot_policy: (settings.snapshot.as_ref())
            .filter(|_| kind == AptKind::Repo)
            .map(|p| SnapshotPolicyView { name: p.name.clone(), keep: p.keep }),
        by_policy: kind == AptKind::Snapshot && settings.snapshot.is_some(),
    }
}

/// Names a repository cannot take: the HTTP API's own segments under `/api/v1/repos/`
/// (`POST /repos/verify`), which would hide the repository's `GET`/`DELETE /repos/NAME`.
const RESERVED_REPO_NAMES: [&str; 2] = ["verify", "cleanup"];

fn check_repo_name(name: &str) -> Result<()> {
    check_name("repository name", name)?;
    if RESERVED_REPO_NAMES.contains(&name) {
        return Err(AppError::invalid(format!(
            "repository name {name:?} is reserved (the API's POST /api/v1/repos/{name}): \
             choose another"
        )));
    }
    Ok(())
}

/// Create an empty repository.
pub async fn create(ctx: &Context, request: CreateRequest) -> Result<CollectionView> {
    check_repo_name(&request.name)?;
    check_name("distribution", &request.distribution)?;
    for component in &request.components {
        check_name("component", component)?;
    }
    if request.components.is_empty() || request.architectures.is_empty() {
        return Err(AppError::invalid(
            "a repository needs at least one component and one architecture",
        ));
    }
    for arch in &request.architectures {
        wharf_core::names::check_repository_architecture(arch).map_err(AppError::invalid)?;
    }
    let settings = RepoSettings {
        distribution: request.distribution,
        components: request.components,
        architectures: request.architectures,
        comment: request.comment,
        from: None,
        prefix: None,
        contents: request.contents,
        mirror: None,
        snapshot: None,
    };
    let _lock = ctx.layout().lock_writer().await?;
    let entry = ctx.entry(
        "repo.create",
        &request.name,
        serde_json::to_value(&settings).unwrap_or_default(),
    );
    if ctx
        .store()
        .apt_create_collection(AptKind::Repo, &request.name, &settings, &entry)
        .await?
        .is_none()
    {
        return Err(AppError::conflict(format!("repository {:?} already exists", request.name)));
    }
    show(ctx, AptKind::Repo, &request.name, false, None).await
}

/// What `repo edit` changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct EditRequest {
    pub repository: String,
    /// Publish `Contents-ARCH.gz` indices; the next publish adds or removes them.
    pub contents: Option<bool>,
}

/// Change a repository's settings (with its audit entry, in one transaction). Its
/// packages and published trees stay as they are until the next publish.
pub async fn edit(ctx: &Context, request: EditRequest) -> Result<CollectionView> {
    let _lock = ctx.layout().lock_writer().await?;
    let row = collection(ctx, AptKind::Repo, &request.repository).await?;
    let mut settings = row.settings.clone();
    if let Some(contents) = request.contents {
        settings.contents = contents;
    }
    if settings != row.settings {
        let details = json!({ "contents": settings.contents });
        let entry = ctx.entry("repo.edit", &request.repository, details);
        ctx.store()
            .apt_update_settings(AptKind::Repo, &request.repository, &settings, &entry)
            .await?
            .ok_or_else(|| {
                AppError::not_found(format!(
                    "repository {:?} was dropped meanwhile",
                    request.repository
                ))
            })?;
    }
    show(ctx, AptKind::Repo, &request.repository, false, None).await
}

/// Every repository or snapshot.
pub async fn list(ctx: &Context, kind: AptKind) -> Result<Vec<CollectionView>> {
    let publishes = ctx.store().apt_publishes().await?;
    let rows = ctx.store().apt_collections(kind, None).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let published_as = publishes
                .iter()
                .filter(|p| p.record.kind == kind && p.record.source == row.name)
                .map(|p| p.prefix.clone())
                .collect();
            view(kind, row, published_as)
        })
        .collect())
}

/// One repository or snapshot, with its packages when asked.
///
/// `filter` lists only the packages it matches (and implies `with_packages`).
pub async fn show(
    ctx: &Context,
    kind: AptKind,
    name: &str,
    with_packages: bool,
    filter: Option<&PackageQuery>,
) -> Result<CollectionView> {
    let row = collection(ctx, kind, name).await?;
    let published_as = published_from(ctx, kind, name).await?;
    let mut view = view(kind, row, published_as);
    if with_packages || filter.is_some() {
        let members = ctx.store().apt_members(kind, name).await?;
        view.package_list = Some(
            members
                .into_iter()
                .filter(|m| filter.is_none_or(|query| query.matches(&m.package)))
                .map(|m| PackageView {
                    name: m.package.name,
                    version: m.package.version,
                    architecture: m.package.architecture,
                    component: m.component,
                    size: m.package.size,
                    sha256: m.package.sha256,
                })
                .collect(),
        );
    }
    Ok(view)
}

fn package_id(member: &AptMemberRow) -> String {
    let package = &member.package;
    format!("{}_{}_{}", package.name, package.version, package.architecture)
}

/// Remove the packages `query` matches from a repository. Nothing matching is a report
/// with nothing removed, not an error.
pub async fn remove(ctx: &Context, repository: &str, query: &str) -> Result<RemoveReport> {
    let parsed = PackageQuery::parse(query)?;
    let _lock = ctx.layout().lock_writer().await?;
    collection(ctx, AptKind::Repo, repository).await?;
    let members = ctx.store().apt_members(AptKind::Repo, repository).await?;
    let matched: Vec<&AptMemberRow> =
        members.iter().filter(|m| parsed.matches(&m.package)).collect();
    let mut report = RemoveReport {
        repository: repository.to_owned(),
        query: query.to_owned(),
        removed: matched.iter().map(|m| package_id(m)).collect(),
        generation: None,
        audit_id: None,
    };
    if matched.is_empty() {
        return Ok(report);
    }
    let shas: Vec<String> = matched.iter().map(|m| m.package.sha256.clone()).collect();
    let Some(mut change) = ctx.store().apt_begin_change(AptKind::Repo, repository, false).await?
    else {
        return Err(AppError::not_found(format!("repository {repository} was dropped meanwhile")));
    };
    change.remove(&shas).await?;
    let entry =
        ctx.entry("repo.remove", repository, json!({ "query": query, "removed": report.removed }));
    let (generation, audit) = change.commit_audited(&entry).await?;
    report.generation = Some(generation);
    report.audit_id = Some(audit.id);
    Ok(report)
}

/// Delete a repository or snapshot (its packages stay stored); refused while published
/// unless `force`.
pub async fn drop(ctx: &Context, kind: AptKind, name: &str, force: bool) -> Result<DropReport> {
    let _lock = ctx.layout().lock_writer().await?;
    collection(ctx, kind, name).await?;
    let published_as = published_from(ctx, kind, name).await?;
    if !published_as.is_empty() && !force {
        return Err(AppError::conflict(format!(
            "{} {name} is published as {}: `wharf publish drop PREFIX` first, or pass --force",
            kind_name(kind),
            published_as.join(", ")
        )));
    }
    let action = format!("{}.drop", command_name(kind));
    let entry = ctx.entry(&action, name, json!({ "forced": force, "published_as": published_as }));
    let Some(audit) = ctx.store().apt_drop_collection(kind, name, &entry).await? else {
        return Err(AppError::not_found(format!(
            "{} {name} was dropped meanwhile",
            kind_name(kind)
        )));
    };
    Ok(DropReport {
        kind: kind_name(kind).to_owned(),
        name: name.to_owned(),
        forced: force,
        published_as,
        audit_id: audit.id,
    })
}

/// Freeze the current contents of repository or mirror `from` as snapshot `name`.
pub async fn snapshot(ctx: &Context, name: &str, from: &str) -> Result<SnapshotReport> {
    snapshot_recording(ctx, name, from, from).await
}

/// [`snapshot`], remembering `recorded_from` as where it came from (an import takes
/// the snapshot of a staging repository, but records aptly's source).
pub(crate) async fn snapshot_recording(
    ctx: &Context,
    name: &str,
    from: &str,
    recorded_from: &str,
) -> Result<SnapshotReport> {
    check_name("snapshot name", name)?;
    let _lock = ctx.layout().lock_writer().await?;
    // `repo:NAME`, `mirror:NAME`, or a bare name: the repository, else the mirror.
    let (from_kind, row) = resolve_among(ctx, from, [AptKind::Repo, AptKind::Mirror]).await?;
    freeze(ctx, name, from_kind, &row, recorded_from, None).await
}

/// Take snapshot `name` of `row` (of kind `from_kind`), with its `snapshot.create` entry
/// in the same transaction; `policy`: the snapshot policy taking it (`None`: by hand).
/// The caller holds the writer lock.
pub(crate) async fn freeze(
    ctx: &Context,
    name: &str,
    from_kind: AptKind,
    row: &AptCollectionRow,
    recorded_from: &str,
    policy: Option<wharf_store::SnapshotPolicy>,
) -> Result<SnapshotReport> {
    let from = row.name.as_str();
    let mut settings = row.settings.clone();
    settings.from = Some(recorded_from.to_owned());
    settings.mirror = None;
    // A snapshot is published under its own name unless told: never over its repository.
    settings.prefix = None;
    let mut details = json!({ "from": recorded_from, "kind": kind_name(from_kind), "generation": row.generation, "packages": row.n_packages });
    if let Some(policy) = &policy {
        details["policy"] = json!({ "name": policy.name, "keep": policy.keep });
    }
    settings.snapshot = policy;
    let entry = ctx.entry("snapshot.create", name, details);
    let Some(audit) = ctx.store().apt_snapshot(from_kind, from, name, &settings, &entry).await?
    else {
        return Err(AppError::conflict(format!("snapshot {name:?} already exists")));
    };
    Ok(SnapshotReport {
        name: name.to_owned(),
        from: recorded_from.to_owned(),
        generation: row.generation,
        packages: row.n_packages,
        audit_id: audit.id,
    })
}

/// Forget packages no repository or snapshot contains, then delete every object the store
/// no longer names and no published tree's pool list names (a package removed from a
/// repository is served until the tree is published again and its grace period ends),
/// and leftovers of interrupted adds; then drop the file lists (`Contents`) of packages the
/// store no longer has ([`lists`]) and the directories nothing refers to ([`leftovers`]).
pub async fn cleanup(ctx: &Context) -> Result<CleanupReport> {
    let _lock = ctx.layout().lock_writer().await?;
    let (forgotten, audit) = ctx
        .store()
        .apt_delete_unreferenced(|forgotten| {
            ctx.entry("repo.cleanup", "objects", json!({ "packages": forgotten.len() }))
        })
        .await?;
    let packages = ctx.store().apt_all_packages().await?;
    let stored: HashSet<String> = packages.iter().map(|row| row.sha256.clone()).collect();
    let mut keep: HashSet<String> =
        packages.into_iter().flat_map(verify::package_objects).map(|(sha256, _)| sha256).collect();
    // Local trees serve their pool from the objects (a bucket's trees hold copies).
    if ctx.storage().objects().is_some() {
        for row in ctx.store().apt_publishes().await? {
            let tree = ctx.storage().tree_dir(&row.prefix);
            let listed = wharf_apt::publish::read_pool_list(&tree).map_err(|err| {
                AppError::internal(format!("cannot read the pool list of {}", tree.display()))
                    .with_source(err)
            })?;
            keep.extend(listed.into_values());
        }
    }
    let (files, bytes) = ctx.storage().retain(keep).await?;
    let places = [
        (
            ctx.storage().tree_dir("x").parent().map(Path::to_owned).unwrap_or_default(),
            ctx.store().apt_publishes().await?.into_iter().map(|p| p.prefix).collect(),
        ),
        (
            ctx.layout().mirror_downloads("x").parent().map(Path::to_owned).unwrap_or_default(),
            (ctx.store().apt_collections(AptKind::Mirror, None).await?.into_iter())
                .map(|m| m.name)
                .collect(),
        ),
    ];
    let root = ctx.layout().root().to_owned();
    let leftovers = crate::storage::blocking(move || leftovers::remove_orphans(&root, &places))
        .await?
        .or_internal(|| "cannot remove a directory nothing refers to".to_owned())?;
    let live = ctx.layout().contents();
    let trimmed =
        crate::storage::blocking(move || lists::trim(&live, &stored)).await?.or_internal(|| {
            format!("cannot trim the file lists in {}", ctx.layout().contents().display())
        })?;
    Ok(CleanupReport {
        packages: forgotten.len(),
        files,
        bytes,
        lists: trimmed.lists,
        list_bytes: trimmed.bytes,
        leftovers,
        audit_id: audit.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_is_a_reserved_repository_name() {
        assert!(check_repo_name("bookworm-tools").is_ok());
        assert!(check_repo_name("verify.d").is_ok());
        for bad in ["verify", "cleanup", "a/b"] {
            assert_eq!(check_repo_name(bad).unwrap_err().kind(), crate::ErrorKind::Invalid);
        }
        assert!(check_repo_name("verify").unwrap_err().to_string().contains("reserved"));
    }
}
