//! `wharf apply`: make the stored repositories what `[[repositories]]` in `wharf.toml`
//! declares (seed 004: "repositories are declared in puppet"). The CLI, `POST
//! /api/v1/apply` and `wharf server` (on start and SIGHUP) call [`apply`].
//!
//! [`plan`] decides, without I/O, from the declarations and the stored repositories:
//!
//! - a declared repository that is missing is created;
//! - a field clients do not notice is changed to what is declared: components and
//!   architectures that are only added, the publish prefix (used by the next `wharf
//!   publish`; a tree already published stays where it is), the comment;
//! - everything else is drift, reported and left alone: another distribution (Suite and
//!   Codename: changing them makes every apt client ask for confirmation), components or
//!   architectures taken away (their packages would vanish from clients);
//! - a stored repository nobody declares is kept and reported. `--prune` drops those that
//!   are empty and unpublished; one holding packages is dropped only when named with
//!   `--prune-with-packages NAME`, a published one never (`wharf publish drop` first).
//!
//! A declared snapshot policy is stored with the repository (a change of it is applied,
//! not drift); what it does at each publish is decided by [`snapshots::plan`].
//!
//! Each change commits in its own store transaction with its audit entry (`repo.create`,
//! `repo.update`, `repo.drop`, reason `declared in wharf.toml`), under the writer lock.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use wharf_core::config::DeclaredRepository;
use wharf_store::{AptCollectionRow, AptKind, RepoSettings, SnapshotPolicy};

use crate::context::Context;
use crate::error::{AppError, Result};
use crate::wire::{ApplyReport, FieldDiff, UndeclaredView};

pub mod snapshots;

/// The reason every audit entry of `apply` carries.
pub const REASON: &str = "declared in wharf.toml";

/// What `wharf apply` is asked to do besides creating and updating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyRequest {
    /// Change nothing; report what would change.
    pub dry_run: bool,
    /// Drop undeclared repositories that are empty and unpublished.
    pub prune: bool,
    /// Undeclared repositories to drop although they hold packages (implies `prune`).
    pub prune_with_packages: Vec<String>,
}

/// A stored repository as the plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRepository {
    pub name: String,
    pub settings: RepoSettings,
    pub packages: i64,
    /// Prefixes it is published at.
    pub published_as: Vec<String>,
}

/// What [`plan`] decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub create: Vec<(String, RepoSettings)>,
    /// New settings of a repository, with the fields that change.
    pub update: Vec<(String, RepoSettings, Vec<FieldDiff>)>,
    pub drift: Vec<FieldDiff>,
    pub undeclared: Vec<UndeclaredView>,
    pub unchanged: Vec<String>,
}

impl Plan {
    /// Nothing left different from the declarations once the plan is carried out (or,
    /// for `pending`, also nothing still to do).
    #[must_use]
    pub fn in_sync(&self, pending: bool) -> bool {
        let refused = self.undeclared.iter().any(|u| u.action == "refuse");
        let to_do = !self.create.is_empty()
            || !self.update.is_empty()
            || self.undeclared.iter().any(|u| u.action == "drop");
        self.drift.is_empty() && !refused && !(pending && to_do)
    }
}

/// The stored settings a declaration asks for.
#[must_use]
pub fn declared_settings(declared: &DeclaredRepository) -> RepoSettings {
    RepoSettings {
        distribution: declared.distribution.clone(),
        components: declared.components.clone(),
        architectures: declared.architectures.clone(),
        comment: declared.comment.clone(),
        from: None,
        prefix: declared.prefix.clone(),
        contents: declared.contents,
        mirror: None,
        snapshot: declared.snapshot.as_ref().map(|policy| SnapshotPolicy {
            name: policy.name.clone(),
            keep: policy.keep,
            generation: None,
        }),
    }
}

/// Decide, for declarations and stored repositories; see the module docs. A
/// `--prune-with-packages` name that is not a stored, undeclared repository is an error
/// naming it.
pub fn plan(
    declared: &[DeclaredRepository],
    stored: &[StoredRepository],
    request: &ApplyRequest,
) -> std::result::Result<Plan, String> {
    let by_name: BTreeMap<&str, &StoredRepository> =
        stored.iter().map(|s| (s.name.as_str(), s)).collect();
    let declared_names: BTreeSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    for name in &request.prune_with_packages {
        if declared_names.contains(name.as_str()) {
            return Err(format!(
                "--prune-with-packages {name}: {name} is declared in wharf.toml; remove its [[repositories]] entry first"
            ));
        }
        if !by_name.contains_key(name.as_str()) {
            return Err(format!(
                "--prune-with-packages {name}: there is no repository named {name:?} (see `wharf repo list`)"
            ));
        }
    }
    let mut plan = Plan::default();
    for repo in declared {
        let wanted = declared_settings(repo);
        let Some(current) = by_name.get(repo.name.as_str()) else {
            plan.create.push((repo.name.clone(), wanted));
            continue;
        };
        let (settings, changed, drift) = compare(&repo.name, &wanted, &current.settings);
        plan.drift.extend(drift);
        if changed.is_empty() {
            if !plan.drift.iter().any(|d| d.repository == repo.name) {
                plan.unchanged.push(repo.name.clone());
            }
        } else {
            plan.update.push((repo.name.clone(), settings, changed));
        }
    }
    let prune = request.prune || !request.prune_with_packages.is_empty();
    for repo in stored.iter().filter(|s| !declared_names.contains(s.name.as_str())) {
        let named = request.prune_with_packages.contains(&repo.name);
        let (action, reason) = undeclared_fate(repo, prune, named);
        plan.undeclared.push(UndeclaredView {
            repository: repo.name.clone(),
            packages: repo.packages,
            published_as: repo.published_as.clone(),
            action: action.to_owned(),
            reason,
        });
    }
    Ok(plan)
}

fn undeclared_fate(repo: &StoredRepository, prune: bool, named: bool) -> (&'static str, String) {
    let name = &repo.name;
    if !prune {
        return (
            "keep",
            "not in wharf.toml: kept (`wharf apply --prune` drops it when empty)".into(),
        );
    }
    if let Some(prefix) = repo.published_as.first() {
        return (
            "refuse",
            format!("published at {prefix}: `wharf publish drop {prefix}` first, or declare it"),
        );
    }
    match (repo.packages, named) {
        (0, _) => ("drop", "not in wharf.toml, empty and unpublished".into()),
        (n, true) => (
            "drop",
            format!("not in wharf.toml; its {n} package(s) named by --prune-with-packages"),
        ),
        (n, false) => (
            "refuse",
            format!(
                "holds {n} package(s): declare it, or drop it with `wharf apply --prune-with-packages {name}`"
            ),
        ),
    }
}

fn list(items: &[String]) -> String {
    items.join(",")
}

/// The settings to store and the fields that change, and the drift left alone.
fn compare(
    name: &str,
    wanted: &RepoSettings,
    current: &RepoSettings,
) -> (RepoSettings, Vec<FieldDiff>, Vec<FieldDiff>) {
    let mut settings = current.clone();
    let (mut changed, mut drift) = (Vec::new(), Vec::new());
    let diff = |field: &str, declared: String, actual: String, note: &str| FieldDiff {
        repository: name.to_owned(),
        field: field.to_owned(),
        declared,
        actual,
        note: note.to_owned(),
    };
    if wanted.distribution != current.distribution {
        drift.push(diff(
            "distribution",
            wanted.distribution.clone(),
            current.distribution.clone(),
            "not changed: a new Suite/Codename makes every apt client ask for confirmation; \
             declare a new repository for it, or write the stored value back in wharf.toml",
        ));
    }
    for (field, want, have) in [
        ("components", &wanted.components, &current.components),
        ("architectures", &wanted.architectures, &current.architectures),
    ] {
        if want == have {
            continue;
        }
        let (declared, actual) = (list(want), list(have));
        if have.iter().all(|item| want.contains(item)) {
            changed.push(diff(field, declared, actual, "added: clients see more, lose nothing"));
            if field == "components" {
                settings.components = want.clone();
            } else {
                settings.architectures = want.clone();
            }
        } else {
            drift.push(diff(
                field,
                declared,
                actual,
                "not changed: taking one away would hide its packages from clients; \
                 write it back in wharf.toml",
            ));
        }
    }
    // Optional text fields: absent shows as the name (prefix) or nothing (comment).
    let texts = [
        (
            "prefix",
            &wanted.prefix,
            &current.prefix,
            name,
            "the next `wharf publish` uses it; a tree published before stays until `wharf publish drop`",
        ),
        (
            "comment",
            &wanted.comment,
            &current.comment,
            "",
            "the Release Description from the next publish",
        ),
    ];
    for (field, want, have, absent, note) in texts {
        if want != have {
            let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| absent.to_owned());
            changed.push(diff(field, shown(want), shown(have), note));
        }
    }
    settings.prefix.clone_from(&wanted.prefix);
    settings.comment.clone_from(&wanted.comment);
    if wanted.contents != current.contents {
        let note = "the next publish adds or removes the Contents indices";
        changed.push(diff(
            "contents",
            wanted.contents.to_string(),
            current.contents.to_string(),
            note,
        ));
        settings.contents = wanted.contents;
    }
    if wanted.snapshot != current.snapshot {
        let shown = |policy: &Option<SnapshotPolicy>| {
            policy.as_ref().map_or_else(
                || "none".to_owned(),
                |p| format!("on publish, name {}, keep {}", p.name, p.keep),
            )
        };
        let note = "the next publish takes (or no longer takes) a snapshot";
        changed.push(diff("snapshot", shown(&wanted.snapshot), shown(&current.snapshot), note));
        settings.snapshot.clone_from(&wanted.snapshot);
    }
    (settings, changed, drift)
}

/// The stored repositories, with their package counts and prefixes.
async fn stored(ctx: &Context) -> Result<Vec<StoredRepository>> {
    let publishes = ctx.store().apt_publishes().await?;
    let rows: Vec<AptCollectionRow> = ctx.store().apt_collections(AptKind::Repo, None).await?;
    Ok(rows
        .into_iter()
        .map(|row| StoredRepository {
            published_as: publishes
                .iter()
                .filter(|p| p.record.kind == AptKind::Repo && p.record.source == row.name)
                .map(|p| p.prefix.clone())
                .collect(),
            name: row.name,
            settings: row.settings,
            packages: row.n_packages,
        })
        .collect())
}

/// Carry out [`plan`] for `declared`: see the module docs.
pub async fn apply(
    ctx: &Context,
    declared: &[DeclaredRepository],
    request: &ApplyRequest,
) -> Result<ApplyReport> {
    let _lock = if request.dry_run { None } else { Some(ctx.layout().lock_writer().await?) };
    let plan = plan(declared, &stored(ctx).await?, request).map_err(AppError::invalid)?;
    let mut report = ApplyReport {
        dry_run: request.dry_run,
        in_sync: plan.in_sync(request.dry_run),
        created: plan.create.iter().map(|(name, _)| name.clone()).collect(),
        updated: plan.update.iter().flat_map(|(_, _, changes)| changes.clone()).collect(),
        drift: plan.drift.clone(),
        undeclared: plan.undeclared.clone(),
        unchanged: plan.unchanged.clone(),
        audit_ids: Vec::new(),
    };
    if request.dry_run {
        return Ok(report);
    }
    let store = ctx.store();
    for (name, settings) in &plan.create {
        let details = serde_json::to_value(settings).unwrap_or_default();
        let entry = ctx.entry("repo.create", name, details).reason(REASON);
        let Some(audit) =
            store.apt_create_collection(AptKind::Repo, name, settings, &entry).await?
        else {
            return Err(AppError::conflict(format!(
                "repository {name:?} was created meanwhile by another writer: run `wharf apply` again"
            )));
        };
        report.audit_ids.push(audit.id);
    }
    for (name, settings, changes) in &plan.update {
        let entry = ctx.entry("repo.update", name, json!({ "changes": changes })).reason(REASON);
        let Some(audit) = store.apt_update_settings(AptKind::Repo, name, settings, &entry).await?
        else {
            return Err(AppError::not_found(format!(
                "repository {name:?} was dropped meanwhile: run `wharf apply` again"
            )));
        };
        report.audit_ids.push(audit.id);
    }
    for undeclared in plan.undeclared.iter().filter(|u| u.action == "drop") {
        let name = &undeclared.repository;
        let details = json!({ "pruned": true, "packages": undeclared.packages });
        let entry = ctx.entry("repo.drop", name, details).reason(REASON);
        if let Some(audit) = store.apt_drop_collection(AptKind::Repo, name, &entry).await? {
            report.audit_ids.push(audit.id);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use wharf_core::config::DeclaredSnapshotPolicy;

    use super::*;

    fn declared(name: &str, dist: &str, archs: &[&str]) -> DeclaredRepository {
        DeclaredRepository {
            name: name.into(),
            distribution: dist.into(),
            components: vec!["main".into()],
            architectures: archs.iter().map(|a| (*a).to_owned()).collect(),
            prefix: None,
            comment: None,
            contents: true,
            snapshot: None,
            line: 1,
        }
    }

    fn stored(repo: &DeclaredRepository, packages: i64, published: &[&str]) -> StoredRepository {
        StoredRepository {
            name: repo.name.clone(),
            settings: declared_settings(repo),
            packages,
            published_as: published.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn request(prune: bool, with_packages: &[&str]) -> ApplyRequest {
        ApplyRequest {
            dry_run: false,
            prune,
            prune_with_packages: with_packages.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    /// `(repository, field)` of each diff.
    fn fields(diffs: &[FieldDiff]) -> Vec<(&str, &str)> {
        diffs.iter().map(|d| (d.repository.as_str(), d.field.as_str())).collect()
    }

    #[test]
    fn missing_repositories_are_created_present_ones_left() {
        let tools = declared("bookworm-tools", "bookworm", &["amd64"]);
        let beta = declared("bookworm-toolsbeta", "bookworm", &["amd64"]);
        let plan =
            plan(&[tools.clone(), beta.clone()], &[stored(&tools, 3, &[])], &request(false, &[]))
                .unwrap();
        assert_eq!(plan.create, [(beta.name.clone(), declared_settings(&beta))]);
        assert_eq!(plan.unchanged, ["bookworm-tools"]);
        assert!(plan.update.is_empty() && plan.drift.is_empty() && plan.undeclared.is_empty());
        assert!(plan.in_sync(false));
        assert!(!plan.in_sync(true), "a dry run with something to create is not in sync");
        let nothing = super::plan(&[], &[], &ApplyRequest::default()).unwrap();
        assert!(nothing.in_sync(true));
    }

    #[test]
    fn fields_are_applied_or_reported_by_what_clients_would_see() {
        let was = declared("r", "bookworm", &["amd64", "arm64"]);
        // (declaration, changed fields, drifting fields)
        let cases: Vec<(DeclaredRepository, Vec<&str>, Vec<&str>)> = vec![
            (declared("r", "bookworm", &["amd64", "arm64", "i386"]), vec!["architectures"], vec![]),
            (declared("r", "bookworm", &["amd64"]), vec![], vec!["architectures"]),
            (declared("r", "trixie", &["amd64", "arm64"]), vec![], vec!["distribution"]),
            (
                DeclaredRepository {
                    components: vec!["main".into(), "contrib".into()],
                    ..was.clone()
                },
                vec!["components"],
                vec![],
            ),
            (
                DeclaredRepository { components: vec!["contrib".into()], ..was.clone() },
                vec![],
                vec!["components"],
            ),
            (
                DeclaredRepository { prefix: Some("tools".into()), ..was.clone() },
                vec!["prefix"],
                vec![],
            ),
            (
                DeclaredRepository { comment: Some("Tools".into()), ..was.clone() },
                vec!["comment"],
                vec![],
            ),
            (DeclaredRepository { contents: false, ..was.clone() }, vec!["contents"], vec![]),
            (
                DeclaredRepository {
                    snapshot: Some(DeclaredSnapshotPolicy { name: "r-{n}".into(), keep: 3 }),
                    ..was.clone()
                },
                vec!["snapshot"],
                vec![],
            ),
            (
                DeclaredRepository {
                    comment: Some("T".into()),
                    ..declared("r", "sid", &["arm64"])
                },
                vec!["comment"],
                vec!["distribution", "architectures"],
            ),
            (was.clone(), vec![], vec![]),
        ];
        for (wanted, changed, drifting) in cases {
            let plan = plan(
                std::slice::from_ref(&wanted),
                &[stored(&was, 5, &["r"])],
                &request(false, &[]),
            )
            .unwrap();
            let changed_now: Vec<&str> = plan
                .update
                .iter()
                .flat_map(|(_, _, c)| c.iter().map(|d| d.field.as_str()))
                .collect();
            assert_eq!(changed_now, changed, "{wanted:?}");
            assert_eq!(
                fields(&plan.drift),
                drifting.iter().map(|f| ("r", *f)).collect::<Vec<_>>(),
                "{wanted:?}"
            );
            assert_eq!(plan.in_sync(false), drifting.is_empty(), "{wanted:?}");
            assert_eq!(plan.unchanged.is_empty(), !(changed.is_empty() && drifting.is_empty()));
            // What is stored keeps the drifting fields as they were.
            if let Some((_, settings, _)) = plan.update.first() {
                assert_eq!(settings.distribution, "bookworm");
                assert!(settings.architectures.contains(&"arm64".to_owned()));
                assert_eq!(settings.comment, wanted.comment);
                assert_eq!(settings.prefix, wanted.prefix);
                assert_eq!(settings.snapshot, declared_settings(&wanted).snapshot);
            }
        }
    }

    #[test]
    fn undeclared_repositories_are_dropped_only_when_safe() {
        let keep = declared("bookworm-tools", "bookworm", &["amd64"]);
        let empty = stored(&declared("empty", "bookworm", &["amd64"]), 0, &[]);
        let full = stored(&declared("full", "bookworm", &["amd64"]), 12, &[]);
        let published = stored(&declared("public", "bookworm", &["amd64"]), 0, &["public"]);
        let all = [stored(&keep, 1, &[]), empty, full, published];
        let fates = |request: ApplyRequest| {
            let plan = plan(std::slice::from_ref(&keep), &all, &request).unwrap();
            let fates: Vec<(String, String)> =
                plan.undeclared.iter().map(|u| (u.repository.clone(), u.action.clone())).collect();
            (fates, plan.in_sync(false))
        };
        let names = |f: &[(&str, &str)]| -> Vec<(String, String)> {
            f.iter().map(|(n, a)| ((*n).to_owned(), (*a).to_owned())).collect()
        };
        assert_eq!(
            fates(request(false, &[])),
            (names(&[("empty", "keep"), ("full", "keep"), ("public", "keep")]), true)
        );
        assert_eq!(
            fates(request(true, &[])),
            (names(&[("empty", "drop"), ("full", "refuse"), ("public", "refuse")]), false)
        );
        assert_eq!(
            fates(request(false, &["full"])),
            (names(&[("empty", "drop"), ("full", "drop"), ("public", "refuse")]), false)
        );
        let plan = plan(std::slice::from_ref(&keep), &all, &request(true, &[])).unwrap();
        let full = plan.undeclared.iter().find(|u| u.repository == "full").unwrap();
        assert!(full.reason.contains("--prune-with-packages full"), "{}", full.reason);
        let public = plan.undeclared.iter().find(|u| u.repository == "public").unwrap();
        assert!(public.reason.contains("wharf publish drop public"), "{}", public.reason);
        for (bad, says) in [("bookworm-tools", "is declared"), ("nope", "no repository named")] {
            let err =
                super::plan(std::slice::from_ref(&keep), &all, &request(true, &[bad])).unwrap_err();
            assert!(err.contains(says) && err.contains(bad), "{err}");
        }
    }
}
