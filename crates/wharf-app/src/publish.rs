//! Publishing: a repository or snapshot becomes a signed APT tree, incrementally — a
//! tree published before is edited (only new stanzas rendered, removed ones left out)
//! when it can be, and an unchanged source is not written at all. The publish record and
//! its audit entry commit in one store transaction, after the tree is in place. A
//! repository with a snapshot policy then gets its snapshot (`policy_snapshots`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use serde_json::json;
use wharf_apt::deb::FileDigest;
use wharf_apt::publish::{Delta, PoolMode, PreviousIndices, PublishPackage, PublishSource};
use wharf_core::version::Version;
use wharf_store::{
    AptCollectionRow, AptKind, AptPackageRow, PublishRecord, ReleaseRecord, RepoSettings,
    SnapshotPolicy,
};

use crate::apply::snapshots::{self, PolicySnapshot};
use crate::context::Context;
use crate::error::{AppError, Context as _, Result};
use crate::progress::Progress;
use crate::repo::{check_name, collection, kind_name};
use crate::storage::PublishJob;
use crate::wire::{DropReport, PolicySnapshots, PublishReport, PublishView};

/// What to publish, and where.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub kind: AptKind,
    /// The repository or snapshot.
    pub source: String,
    /// The prefix under `/apt/`; `None`: the source's name.
    pub prefix: Option<String>,
    /// Write a plain tree (pool files included) to this directory instead; not recorded.
    pub to_dir: Option<PathBuf>,
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
}

/// Seconds from the configuration as the publish code counts them.
pub(crate) fn seconds(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Publish a repository or snapshot. See the module docs.
pub async fn publish(
    ctx: &Context,
    request: PublishRequest,
    progress: &dyn Progress,
) -> Result<PublishReport> {
    let (kind, source) = (request.kind, request.source.clone());
    if let Some(prefix) = &request.prefix {
        check_name("prefix", prefix)?;
    }
    progress.phase("reading the store", 0);
    let _lock = ctx.layout().lock_writer().await?;
    let row = collection(ctx, kind, &source).await?;
    // `--prefix`, else the declared one (`[[repositories]]`), else the name.
    let prefix = (request.prefix.clone().or_else(|| row.settings.prefix.clone()))
        .unwrap_or_else(|| source.clone());
    check_name("prefix", &prefix)?;
    let (repo_settings, generation) = (row.settings.clone(), row.generation);
    let key = ctx.signing_key()?;
    let apt = ctx.apt();
    let label = apt.label(&prefix);
    let now = unix_now();
    let record = PublishRecord {
        kind,
        source: source.clone(),
        distribution: repo_settings.distribution.clone(),
        generation,
        settings: repo_settings.clone(),
        release: ReleaseRecord {
            origin: apt.origin.clone(),
            label: label.clone(),
            key: key.fingerprint(),
        },
    };
    let root = match &request.to_dir {
        Some(dir) => dir.clone(),
        None => ctx.storage().tree_dir(&prefix),
    };
    let mut report = PublishReport {
        prefix: request.to_dir.is_none().then(|| prefix.clone()),
        kind: kind_name(kind).to_owned(),
        source: source.clone(),
        distribution: repo_settings.distribution.clone(),
        generation,
        location: match &request.to_dir {
            Some(dir) => dir.display().to_string(),
            None => ctx.storage().tree_location(&prefix),
        },
        unchanged: false,
        packages: 0,
        indices_rewritten: 0,
        indices_unchanged: 0,
        pool_files_added: 0,
        audit_id: None,
        snapshots: None,
    };
    if request.to_dir.is_none() && unchanged(ctx, &prefix, &record, &root, now).await? {
        report.unchanged = true;
        report.snapshots = policy_snapshots(ctx, kind, &row).await?;
        return Ok(report);
    }
    let (previous, delta, Members { packages, sources }) =
        if root.join(wharf_apt::publish::STATE_FILE).exists() {
            let tree = PublishTree { root: &root, to_dir: request.to_dir.is_some() };
            publish_sources(ctx, kind, &source, &tree, &repo_settings).await?
        } else {
            // A first publish: every member, control stanza and all, in one listing.
            let listed = ctx.store().apt_member_packages(kind, &source).await?;
            let mut members = Members::default();
            for member in listed {
                members.push(member.package, member.component)?;
            }
            (PreviousIndices::default(), None, members)
        };
    progress.phase("writing indices", 0);
    let job = PublishJob {
        root,
        distribution: repo_settings.distribution.clone(),
        origin: apt.origin.clone(),
        label,
        description: repo_settings.comment.clone(),
        components: repo_settings.components.clone(),
        architectures: repo_settings.architectures.clone(),
        packages,
        sources,
        now,
        valid_for_seconds: apt.valid_for.map(seconds),
        grace_seconds: seconds(apt.grace),
        previous,
        delta,
        // `wharf server` serves the pool of DATA/public from the object store; a
        // --to-dir tree is for other web servers and gets real files.
        pool: if request.to_dir.is_some() { PoolMode::Files } else { PoolMode::Listed },
        contents: repo_settings
            .contents
            .then(|| wharf_apt::contents::ContentsLists::new(ctx.layout().contents())),
    };
    let outcome = ctx
        .storage()
        .publish(job, request.to_dir.is_none().then_some(prefix.as_str()), key)
        .await?;
    report.packages = outcome.n_packages;
    report.indices_rewritten = outcome.n_indices_rewritten;
    report.indices_unchanged = outcome.n_indices_unchanged;
    report.pool_files_added = outcome.n_pool_files_added;
    if request.to_dir.is_none() {
        let details = json!({ "kind": kind.as_str(), "source": source, "generation": generation, "outcome": outcome });
        let entry = ctx.entry("publish", &prefix, details);
        wharf_store::failpoint::hit("publish.before_commit");
        let audit = ctx.store().apt_put_publish(&prefix, &record, &entry).await?;
        report.audit_id = Some(audit.id);
        report.snapshots = policy_snapshots(ctx, kind, &row).await?;
    }
    Ok(report)
}

/// A repository's snapshot policy after a publish of it, as [`crate::apply::snapshots`]
/// decides: take the snapshot, drop those beyond `keep`, each change with its audit entry
/// in one transaction. The caller holds the writer lock. `None`: no policy.
async fn policy_snapshots(
    ctx: &Context,
    kind: AptKind,
    row: &AptCollectionRow,
) -> Result<Option<PolicySnapshots>> {
    let (AptKind::Repo, Some(policy)) = (kind, &row.settings.snapshot) else {
        return Ok(None);
    };
    let snapshots = ctx.store().apt_collections(AptKind::Snapshot, None).await?;
    let published: HashSet<String> = (ctx.store().apt_publishes().await?.into_iter())
        .filter(|p| p.record.kind == AptKind::Snapshot)
        .map(|p| p.record.source)
        .collect();
    let existing = snapshots.iter().map(|s| s.name.clone()).collect();
    let made: Vec<PolicySnapshot> = (snapshots.iter())
        .filter(|s| s.settings.from.as_deref() == Some(row.name.as_str()))
        .filter_map(|s| {
            Some(PolicySnapshot {
                generation: s.settings.snapshot.as_ref()?.generation.unwrap_or(0),
                name: s.name.clone(),
                created_at: s.created_at.clone(),
                published: published.contains(&s.name),
            })
        })
        .collect();
    let date = jiff::Timestamp::now().strftime("%Y%m%d").to_string();
    let plan = snapshots::plan(policy, &row.name, row.generation, &date, &existing, &made)
        .map_err(|why| {
            AppError::invalid(format!(
                "published, but the snapshot policy of {} cannot name a snapshot: {why}; fix its [[repositories]] entry and run `wharf apply`",
                row.name
            ))
        })?;
    let mut report = PolicySnapshots { created: None, dropped: Vec::new(), keep: policy.keep };
    if let Some(name) = plan.create {
        let taken = SnapshotPolicy { generation: Some(row.generation), ..policy.clone() };
        crate::repo::freeze(ctx, &name, AptKind::Repo, row, &row.name, Some(taken)).await?;
        report.created = Some(name);
    }
    for name in plan.drop {
        let details = json!({ "repository": row.name, "policy": { "name": policy.name, "keep": policy.keep } });
        let entry = ctx.entry("snapshot.drop", &name, details);
        if ctx.store().apt_drop_collection(AptKind::Snapshot, &name, &entry).await?.is_some() {
            report.dropped.push(name);
        }
    }
    Ok(Some(report))
}

/// Whether the tree at `prefix` already publishes exactly `record` and needs no
/// rewrite. A prefix that publishes something else is refused. A `Release` with
/// `Valid-Until` is renewed by every publish; superseded files past their grace period
/// are removed by one.
async fn unchanged(
    ctx: &Context,
    prefix: &str,
    record: &PublishRecord,
    root: &Path,
    now: i64,
) -> Result<bool> {
    let current = ctx.store().apt_publishes().await?;
    let Some(old) = current.into_iter().find(|row| row.prefix == prefix).map(|row| row.record)
    else {
        return Ok(false);
    };
    if old.kind != record.kind || old.source != record.source {
        return Err(AppError::conflict(format!(
            "prefix {prefix} already publishes {} {}: choose another --prefix or `wharf publish drop {prefix}`",
            old.kind.as_str(),
            old.source
        )));
    }
    let inrelease = root.join("dists").join(&record.distribution).join("InRelease");
    let apt = ctx.apt();
    Ok(old == *record
        && inrelease.exists()
        && apt.valid_for.is_none()
        && !wharf_apt::publish::expiry_due(root, now, seconds(apt.grace)))
}

/// The tree a publish rewrites.
struct PublishTree<'a> {
    root: &'a Path,
    to_dir: bool,
}

/// The members a publish lists: binary packages, and source packages (architecture
/// `source`, their `Sources` stanza as control).
#[derive(Default)]
struct Members {
    packages: Vec<PublishPackage>,
    sources: Vec<PublishSource>,
}

impl Members {
    /// A stored package of `component`, as a publish takes it.
    fn push(&mut self, row: AptPackageRow, component: String) -> Result<()> {
        if row.architecture == wharf_apt::dsc::SOURCE_ARCHITECTURE {
            self.sources.push(PublishSource {
                name: row.name,
                version: row.version,
                component,
                stanza: row.control,
            });
        } else {
            self.packages.push(publish_package(row, component)?);
        }
        Ok(())
    }
}

/// What a publish of a tree that was published before starts from: the previous
/// indices, the [`Delta`] when the tree can be edited (then the members are only the new
/// ones), and the members. Packages the previous publish listed come from its index
/// (stanza, digests and all); only the others — and every source package when the tree
/// is not edited — are read from the store.
async fn publish_sources(
    ctx: &Context,
    kind: AptKind,
    source: &str,
    tree: &PublishTree<'_>,
    repo_settings: &RepoSettings,
) -> Result<(PreviousIndices, Option<Delta>, Members)> {
    let (root, to_dir) = (tree.root, tree.to_dir);
    // Reading the previous indices overlaps the store query.
    let loading = {
        let (root, distribution) = (root.to_owned(), repo_settings.distribution.clone());
        tokio::task::spawn_blocking(move || PreviousIndices::load(&root, &distribution))
    };
    let members = ctx.store().apt_member_shas(kind, source).await?;
    let n_members = members.len();
    let previous =
        loading.await.or_internal(|| "reading the previous indices failed".to_owned())?;
    // A tree in DATA/public whose indices cover what is published now is edited: removed
    // stanzas left out, new ones merged in. Otherwise every package is listed, those the
    // previous index has taken from it.
    let edit = !to_dir && ctx.storage().objects().is_some();
    let (components, architectures) =
        (repo_settings.components.clone(), repo_settings.architectures.clone());
    let (previous, delta, packages, missing) = tokio::task::spawn_blocking(move || {
        let delta = edit.then(|| previous.delta(&members, &components, &architectures)).flatten();
        let (packages, missing) = match &delta {
            Some(delta) => (Vec::new(), delta.new.clone()),
            None => previous_packages(&previous, members, &architectures),
        };
        (previous, delta, packages, missing)
    })
    .await
    .or_internal(|| "reading the previous indices failed".to_owned())?;
    let mut missing: HashMap<String, String> = missing.into_iter().collect();
    // A few are looked up by SHA-256; most come from one listing.
    let found: Vec<AptPackageRow> = if missing.len() * 2 > n_members {
        let listed = ctx.store().apt_member_packages(kind, source).await?;
        listed.into_iter().map(|m| m.package).filter(|p| missing.contains_key(&p.sha256)).collect()
    } else {
        let wanted: Vec<String> = missing.keys().cloned().collect();
        ctx.store().apt_packages(&wanted).await?
    };
    let mut members = Members { packages, sources: Vec::new() };
    for row in found {
        let component = missing.remove(&row.sha256).unwrap_or_default();
        members.push(row, component)?;
    }
    if let Some(sha256) = missing.keys().next() {
        return Err(AppError::internal(format!(
            "package {sha256} is in {source} but not stored: run `wharf repo verify`"
        )));
    }
    Ok((previous, delta, members))
}

/// The members the previous index lists, as it lists them, and the (sha256, component) of
/// the others; on every core (tens of thousands of stanzas to parse).
fn previous_packages(
    previous: &PreviousIndices,
    members: Vec<(String, String)>,
    architectures: &[String],
) -> (Vec<PublishPackage>, Vec<(String, String)>) {
    let n_threads = std::thread::available_parallelism().map_or(1, usize::from).min(4);
    let n_members = members.len();
    let chunk = n_members.div_ceil(n_threads).max(1);
    let mut packages: Vec<PublishPackage> = Vec::new();
    let mut missing = Vec::new();
    std::thread::scope(|scope| {
        let workers: Vec<_> = members
            .chunks(chunk)
            .enumerate()
            .map(|(n, part)| {
                let first = n == 0;
                scope.spawn(move || {
                    // Room for everything in the first part's list: the others are moved
                    // into it without growing it.
                    let mut found = Vec::with_capacity(if first { n_members } else { part.len() });
                    let mut not_found = Vec::new();
                    for (sha256, component) in part {
                        match previous.package(component, architectures, sha256) {
                            Some(package) => found.push(package),
                            None => not_found.push((sha256.clone(), component.clone())),
                        }
                    }
                    (found, not_found)
                })
            })
            .collect();
        for worker in workers {
            let (found, not_found) = worker.join().expect("stanza parsing does not panic");
            if packages.is_empty() {
                packages = found;
            } else {
                packages.extend(found);
            }
            missing.extend(not_found);
        }
    });
    (packages, missing)
}

/// A stored package as a publish takes it.
fn publish_package(row: AptPackageRow, component: String) -> Result<PublishPackage> {
    Ok(PublishPackage {
        version: Version::from_str(&row.version).map_err(|err| {
            AppError::internal(format!("stored package {} has a bad version", row.sha256))
                .with_source(err)
        })?,
        control: Some(row.control),
        name: row.name,
        architecture: row.architecture,
        component,
        digest: FileDigest {
            size: u64::try_from(row.size).unwrap_or(0),
            md5: row.md5,
            sha1: row.sha1,
            sha256: row.sha256,
        },
    })
}

/// Every published prefix.
pub async fn list(ctx: &Context) -> Result<Vec<PublishView>> {
    Ok(ctx
        .store()
        .apt_publishes()
        .await?
        .into_iter()
        .map(|row| PublishView {
            path: ctx.storage().tree_location(&row.prefix),
            prefix: row.prefix,
            kind: row.record.kind.as_str().to_owned(),
            source: row.record.source,
            distribution: row.record.distribution,
            generation: row.record.generation,
            published_at: row.published_at,
        })
        .collect())
}

/// Stop publishing `prefix`: forget the record (with its audit entry), then remove the
/// tree.
pub async fn drop(ctx: &Context, prefix: &str) -> Result<DropReport> {
    check_name("prefix", prefix)?;
    let _lock = ctx.layout().lock_writer().await?;
    let entry = ctx.entry("publish.drop", prefix, json!({}));
    let Some(audit) = ctx.store().apt_drop_publish(prefix, &entry).await? else {
        return Err(AppError::not_found(format!("nothing is published at prefix {prefix:?}")));
    };
    ctx.storage().drop_tree(prefix).await?;
    Ok(DropReport {
        kind: "publish".to_owned(),
        name: prefix.to_owned(),
        forced: false,
        published_as: vec![prefix.to_owned()],
        audit_id: audit.id,
    })
}
