//! `repo copy` and `repo move`: packages a query selects (or all of them) from a
//! repository or snapshot into a repository, dependencies optionally followed
//! ([`wharf_apt::depends::follow`]). Packages are content-addressed, so a copy adds
//! membership rows only — never bytes. All or nothing: the destination's additions, a
//! move's removals from the source and the audit entry commit in one store transaction,
//! and a conflict (same name, version and architecture with other content) refuses the
//! whole command naming both files.

use std::collections::HashMap;

use serde_json::json;
use wharf_apt::depends::{DepPackage, follow};
use wharf_store::{AptKind, AptMemberRow};

use super::{PackageQuery, collection, kind_name, resolve};
use crate::context::Context;
use crate::error::{AppError, Result};
use crate::wire::CopyReport;

/// What `repo copy`/`repo move` asks for.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    /// A repository, or a snapshot (`snapshot:NAME`, or a name no repository has).
    pub source: String,
    pub destination: String,
    /// Any may match; ignored with `all`.
    pub queries: Vec<String>,
    /// Every package of the source.
    pub all: bool,
    /// Also copy what the selected packages depend on (`Depends`, `Pre-Depends`).
    pub with_deps: bool,
    /// Report what would change; change nothing.
    pub dry_run: bool,
    /// Take the packages out of the source (a repository) too.
    pub remove_from_source: bool,
}

fn package_id(member: &AptMemberRow) -> String {
    let package = &member.package;
    format!("{}_{}_{}", package.name, package.version, package.architecture)
}

fn dep_package(member: &AptMemberRow) -> DepPackage {
    let package = &member.package;
    DepPackage::from_control(
        &package.name,
        &package.version,
        &package.architecture,
        &package.control,
    )
}

/// Copy or move packages. See the module docs.
pub async fn copy(ctx: &Context, request: CopyRequest) -> Result<CopyReport> {
    let query = if request.all { None } else { Some(PackageQuery::parse_all(&request.queries)?) };
    let action = if request.remove_from_source { "move" } else { "copy" };
    let _lock = ctx.layout().lock_writer().await?;
    let (source_kind, source) = resolve(ctx, &request.source).await?;
    if request.remove_from_source && source_kind == AptKind::Snapshot {
        return Err(AppError::invalid(format!(
            "{} is a snapshot, and snapshots never change: use `wharf repo copy` to copy from it",
            source.name
        )));
    }
    let destination = collection(ctx, AptKind::Repo, &request.destination).await?;
    if source_kind == AptKind::Repo && source.name == destination.name {
        return Err(AppError::invalid(format!(
            "source and destination are both {}: name two repositories",
            source.name
        )));
    }
    let source_members = ctx.store().apt_members(source_kind, &source.name).await?;
    let dest_members = ctx.store().apt_members(AptKind::Repo, &destination.name).await?;
    let mut selected: Vec<usize> = (0..source_members.len())
        .filter(|idx| query.as_ref().is_none_or(|q| q.matches(&source_members[*idx].package)))
        .collect();
    let mut report = CopyReport {
        action: action.to_owned(),
        source: source.name.clone(),
        source_kind: kind_name(source_kind).to_owned(),
        destination: destination.name.clone(),
        queries: if request.all { Vec::new() } else { request.queries.clone() },
        dry_run: request.dry_run,
        copied: Vec::new(),
        dependencies: Vec::new(),
        already_present: Vec::new(),
        removed: Vec::new(),
        missing_dependencies: Vec::new(),
        generation: None,
        audit_id: None,
    };
    if request.with_deps && !selected.is_empty() {
        let source_deps: Vec<DepPackage> = source_members.iter().map(dep_package).collect();
        let dest_deps: Vec<DepPackage> = dest_members.iter().map(dep_package).collect();
        let followed = follow(&source_deps, &dest_deps, &selected);
        report.dependencies =
            followed.added.iter().map(|i| package_id(&source_members[*i])).collect();
        report.missing_dependencies = followed.missing;
        selected.extend(followed.added);
    }
    let rows = decide(
        &destination.name,
        &destination.settings.components,
        &source_members,
        &dest_members,
        &selected,
        &mut report,
    )?;
    if request.remove_from_source {
        report.removed = selected.iter().map(|i| package_id(&source_members[*i])).collect();
    }
    if request.dry_run || (rows.is_empty() && report.removed.is_empty()) {
        return Ok(report);
    }
    let shas: Vec<String> = if request.remove_from_source {
        selected.iter().map(|i| source_members[*i].package.sha256.clone()).collect()
    } else {
        Vec::new()
    };
    record(ctx, (source_kind, &source.name), &rows, &shas, &mut report).await?;
    Ok(report)
}

/// One transaction: `rows` into the destination, `shas` out of the source (a move), and
/// the `repo.copy`/`repo.move` entry; the report gets the generation and entry id.
async fn record(
    ctx: &Context,
    (source_kind, source): (AptKind, &str),
    rows: &[AptMemberRow],
    shas: &[String],
    report: &mut CopyReport,
) -> Result<()> {
    let destination = report.destination.clone();
    let dropped =
        |name: &str| AppError::not_found(format!("repository {name} was dropped meanwhile"));
    let mut change = ctx
        .store()
        .apt_begin_change(AptKind::Repo, &destination, rows.len() > 256)
        .await?
        .ok_or_else(|| dropped(&destination))?;
    change.add(rows).await?;
    if !shas.is_empty() {
        change.remove_from(source_kind, source, shas).await?.ok_or_else(|| dropped(source))?;
    }
    let entry = ctx.entry(
        &format!("repo.{}", report.action),
        &destination,
        json!({
            "from": source,
            "from_kind": report.source_kind,
            "queries": report.queries,
            "copied": report.copied,
            "dependencies": report.dependencies,
            "removed": report.removed,
        }),
    );
    let (generation, audit) = change.commit_audited(&entry).await?;
    report.generation = Some(generation);
    report.audit_id = Some(audit.id);
    Ok(())
}

/// The rows to add to the destination: each selected package in its component, unless
/// the destination already has it. The same name, version and architecture with other
/// content refuses everything.
fn decide(
    destination: &str,
    components: &[String],
    source: &[AptMemberRow],
    dest: &[AptMemberRow],
    selected: &[usize],
    report: &mut CopyReport,
) -> Result<Vec<AptMemberRow>> {
    let existing: HashMap<(&str, &str, &str), &str> = dest
        .iter()
        .map(|m| {
            let p = &m.package;
            ((p.name.as_str(), p.version.as_str(), p.architecture.as_str()), p.sha256.as_str())
        })
        .collect();
    let mut rows = Vec::new();
    for idx in selected {
        let member = &source[*idx];
        let p = &member.package;
        match existing.get(&(p.name.as_str(), p.version.as_str(), p.architecture.as_str())) {
            Some(sha) if *sha == p.sha256 => report.already_present.push(package_id(member)),
            Some(sha) => {
                return Err(AppError::conflict(format!(
                    "nothing {}: {} {} {} in {} (sha256 {}) differs from the one already in {destination} (sha256 {sha}); remove it from {destination} first (`wharf repo remove {destination} {}`)",
                    if report.action == "move" { "moved" } else { "copied" },
                    p.name,
                    p.version,
                    p.architecture,
                    report.source,
                    p.sha256,
                    package_id(member),
                )));
            }
            None => {
                if !components.contains(&member.component) {
                    return Err(AppError::invalid(format!(
                        "nothing {}: {} is in component {:?} of {}, which {destination} does not have (it has {})",
                        if report.action == "move" { "moved" } else { "copied" },
                        package_id(member),
                        member.component,
                        report.source,
                        components.join(", ")
                    )));
                }
                report.copied.push(package_id(member));
                rows.push(member.clone());
            }
        }
    }
    rows.sort_unstable_by(|a, b| a.package.sha256.cmp(&b.package.sha256));
    Ok(rows)
}
