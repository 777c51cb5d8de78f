//! `wharf repo …` and `wharf snapshot …`: parse, call [`wharf_app::repo`], render.

use wharf_app::repo::{
    AddRequest, CopyRequest, CreateRequest, EditRequest, IncludeRequest, IncomingRequest,
    PackageQuery,
};
use wharf_app::wire::{
    CleanupReport, CollectionView, CopyReport, DiffEntry, DiffReport, DropReport, RemoveReport,
    SnapshotReport, VerifyReport,
};
use wharf_store::AptKind;

use crate::cli::{
    DropArgs, JsonArgs, RepoCommand, RepoCopyArgs, RepoRemoveArgs, RepoShowArgs, SnapshotCommand,
};
use crate::exit::{FAILURE, SUCCESS};
use crate::output;
use crate::progress::TerminalProgress;
use crate::settings::Settings;

pub(crate) fn repo(settings: &Settings, command: RepoCommand) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        match command {
            RepoCommand::Create(args) => {
                let request = CreateRequest {
                    name: args.name,
                    distribution: args.distribution,
                    components: args.component,
                    architectures: args.architectures,
                    comment: args.comment,
                    contents: args.contents,
                };
                render_created(args.output.json, &wharf_app::repo::create(&ctx, request).await?)
            }
            RepoCommand::List(args) => {
                list(&wharf_app::repo::list(&ctx, AptKind::Repo).await?, &args)
            }
            RepoCommand::Show(args) => show(&ctx, AptKind::Repo, &args).await,
            RepoCommand::Edit(args) => {
                let request = EditRequest { repository: args.name, contents: args.contents };
                render_edited(args.output.json, &wharf_app::repo::edit(&ctx, request).await?)
            }
            RepoCommand::Add(args) => {
                let request = AddRequest {
                    repository: args.name,
                    paths: args.paths,
                    component: args.component,
                    replace: args.replace,
                };
                let progress = TerminalProgress::new(!args.output.json);
                let report = wharf_app::repo::add(&ctx, request, &progress).await;
                progress.clear();
                render_add(args.output.json, &report?)
            }
            RepoCommand::Include(args) if args.incoming.is_some() => {
                let request = IncomingRequest {
                    repository: args.name,
                    dir: args.incoming.unwrap_or_default(),
                    component: args.component,
                    replace: args.replace,
                    accept_unsigned: args.accept_unsigned,
                };
                let progress = TerminalProgress::new(!args.output.json);
                let report = wharf_app::repo::include_incoming(&ctx, request, &progress).await;
                progress.clear();
                render_incoming(args.output.json, &report?)
            }
            RepoCommand::Include(args) => {
                let request = IncludeRequest {
                    repository: args.name,
                    changes: args.changes.unwrap_or_default(),
                    component: args.component,
                    replace: args.replace,
                    accept_unsigned: args.accept_unsigned,
                };
                let progress = TerminalProgress::new(!args.output.json);
                let report = wharf_app::repo::include(&ctx, request, &progress).await;
                progress.clear();
                render_include(args.output.json, &report?)
            }
            RepoCommand::Remove(args) => {
                let report = wharf_app::repo::remove(&ctx, &args.name, &args.query).await?;
                render_remove(&args, &report)
            }
            RepoCommand::Copy(args) => {
                let report = wharf_app::repo::copy(&ctx, copy_request(&args, false)).await?;
                render_copy(args.output.json, &report)
            }
            RepoCommand::Move(args) => {
                let report = wharf_app::repo::copy(&ctx, copy_request(&args, true)).await?;
                render_copy(args.output.json, &report)
            }
            RepoCommand::Diff(args) => {
                let report = wharf_app::repo::diff(&ctx, &args.left, &args.right).await?;
                render_diff(args.output.json, &report)
            }
            RepoCommand::Drop(args) => drop(&ctx, AptKind::Repo, &args).await,
            RepoCommand::Verify(args) => {
                let scope = wharf_app::repo::VerifyScope { names: args.names, all: args.all };
                let report = wharf_app::repo::verify(&ctx, &scope).await?;
                render_verify(args.output.json, &report)
            }
            RepoCommand::Cleanup(args) => {
                render_cleanup(args.json, &wharf_app::repo::cleanup(&ctx).await?)
            }
        }
    })
}

/// `repo cleanup`'s report (local or through a server).
pub(crate) fn render_cleanup(json: bool, report: &CleanupReport) -> anyhow::Result<u8> {
    render(json, report, || {
        output::line(format!(
            "removed {} unreferenced package(s): {} file(s), {} bytes; {} file list(s), {} bytes",
            report.packages, report.files, report.bytes, report.lists, report.list_bytes
        ));
        for dir in &report.leftovers {
            output::line(format!("removed {dir} (nothing refers to it)"));
        }
    })
}

/// `repo verify`'s report (local or through a server): exit 1 on any problem.
pub(crate) fn render_verify(json: bool, report: &VerifyReport) -> anyhow::Result<u8> {
    if json {
        output::json(report)?;
    } else if report.ok {
        let objects =
            report.objects.map(|n| format!(" and {n} other object(s)")).unwrap_or_default();
        output::line(format!(
            "ok: {} stored package(s){objects} in {} match their checksums",
            report.packages, report.location
        ));
    } else {
        for problem in &report.problems {
            output::line(format!("BAD {problem}"));
        }
        if let Some(advice) = &report.advice {
            output::line(format!("{} problem(s): {advice}", report.problems.len()));
        }
    }
    Ok(if report.ok { SUCCESS } else { FAILURE })
}

pub(crate) fn snapshot(settings: &Settings, command: SnapshotCommand) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        match command {
            SnapshotCommand::Create(args) => {
                let report = wharf_app::repo::snapshot(&ctx, &args.name, &args.from).await?;
                render_snapshot(args.output.json, &report)
            }
            SnapshotCommand::List(args) => {
                list(&wharf_app::repo::list(&ctx, AptKind::Snapshot).await?, &args)
            }
            SnapshotCommand::Show(args) => show(&ctx, AptKind::Snapshot, &args).await,
            SnapshotCommand::Drop(args) => drop(&ctx, AptKind::Snapshot, &args).await,
        }
    })
}

/// JSON when asked, else the text `human` prints.
pub(crate) fn render<T: serde::Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(),
) -> anyhow::Result<u8> {
    if json {
        output::json(value)?;
    } else {
        human();
    }
    Ok(SUCCESS)
}

/// `wharf repo add`'s output (also with `--server`).
pub(crate) fn render_add(json: bool, report: &wharf_app::wire::AddReport) -> anyhow::Result<u8> {
    render(json, report, || {
        if report.generation.is_none() {
            output::line(format!(
                "nothing to do: {} package(s) already in {}",
                report.already_present, report.repository
            ));
        } else {
            output::line(format!(
                "added {} package(s) to {} ({} replaced, {} already present)",
                report.added.len(),
                report.repository,
                report.replaced.len(),
                report.already_present
            ));
        }
    })
}

/// `wharf repo include`'s output (also with `--server`).
pub(crate) fn render_include(
    json: bool,
    report: &wharf_app::wire::IncludeReport,
) -> anyhow::Result<u8> {
    if json {
        return render(json, report, || {});
    }
    let by = match &report.signed_by {
        Some(fingerprint) => format!("signed by {fingerprint}"),
        None => "unsigned, accepted with --accept-unsigned".to_owned(),
    };
    output::line(format!("{} {} ({by})", report.source, report.version));
    if !report.ignored.is_empty() {
        output::line(format!("checked, not added by themselves: {}", report.ignored.join(", ")));
    }
    render_add(false, &report.add)
}

/// `repo include --incoming`'s output: each included upload as `repo include` prints it,
/// then what was left and why; exit 1 when an upload was refused.
fn render_incoming(json: bool, report: &wharf_app::wire::IncomingReport) -> anyhow::Result<u8> {
    if json {
        output::json(report)?;
    } else {
        for included in &report.included {
            output::line(format!("included {}:", included.changes));
            render_include(false, included)?;
        }
        for left in &report.waiting {
            output::line(format!("waiting {}: {}", left.changes, left.reason));
        }
        for left in &report.rejected {
            output::line(format!("REJECTED {}: {}", left.changes, left.reason));
        }
        output::line(format!(
            "{}: {} included, {} waiting, {} rejected",
            report.directory,
            report.included.len(),
            report.waiting.len(),
            report.rejected.len()
        ));
    }
    Ok(if report.rejected.is_empty() { SUCCESS } else { FAILURE })
}

/// `wharf repo list`'s output (also with `--server`).
pub(crate) fn list(views: &[CollectionView], args: &JsonArgs) -> anyhow::Result<u8> {
    render(args.json, &views, || {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                vec![
                    v.name.clone(),
                    v.distribution.clone(),
                    v.components.join(","),
                    v.architectures.join(","),
                    v.packages.to_string(),
                    v.published_as.join(","),
                ]
            })
            .collect();
        output::table(
            &["NAME", "DISTRIBUTION", "COMPONENTS", "ARCHITECTURES", "PACKAGES", "PUBLISHED"],
            &rows,
        );
    })
}

async fn show(ctx: &wharf_app::Context, kind: AptKind, args: &RepoShowArgs) -> anyhow::Result<u8> {
    let with_packages = args.with_packages || kind == AptKind::Snapshot;
    let filter =
        if args.queries.is_empty() { None } else { Some(PackageQuery::parse_all(&args.queries)?) };
    let view = wharf_app::repo::show(ctx, kind, &args.name, with_packages, filter.as_ref()).await?;
    render(args.output.json, &view, || print_collection(&view))
}

/// `wharf repo show`'s text (also with `--server`).
pub(crate) fn print_collection(view: &CollectionView) {
    output::line(format!("{} {}", view.kind, view.name));
    output::line(format!("  distribution:  {}", view.distribution));
    output::line(format!("  components:    {}", view.components.join(", ")));
    output::line(format!("  architectures: {}", view.architectures.join(", ")));
    if let Some(from) = &view.from {
        output::line(format!("  from:          {from}"));
    }
    output::line(format!("  contents:      {}", if view.contents { "yes" } else { "no" }));
    if let Some(policy) = &view.snapshot_policy {
        output::line(format!(
            "  snapshots:     on publish, named {}, the newest {} kept",
            policy.name, policy.keep
        ));
    }
    if view.by_policy {
        output::line("  taken by:      the snapshot policy of its repository");
    }
    if let Some(comment) = &view.comment {
        output::line(format!("  comment:       {comment}"));
    }
    output::line(format!("  packages:      {}", view.packages));
    output::line(format!(
        "  published as:  {}",
        if view.published_as.is_empty() { "-".to_owned() } else { view.published_as.join(", ") }
    ));
    if let Some(packages) = &view.package_list {
        let rows: Vec<Vec<String>> = packages
            .iter()
            .map(|p| {
                vec![p.name.clone(), p.version.clone(), p.architecture.clone(), p.component.clone()]
            })
            .collect();
        output::table(&["PACKAGE", "VERSION", "ARCH", "COMPONENT"], &rows);
    }
}

async fn drop(ctx: &wharf_app::Context, kind: AptKind, args: &DropArgs) -> anyhow::Result<u8> {
    render_drop(args.output.json, &wharf_app::repo::drop(ctx, kind, &args.name, args.force).await?)
}

/// `wharf repo drop`'s and `snapshot drop`'s output (also with `--server`).
pub(crate) fn render_drop(json: bool, report: &DropReport) -> anyhow::Result<u8> {
    render(json, report, || {
        output::line(format!("dropped {} {}", report.kind, report.name));
    })
}

/// `wharf repo create`'s output (also with `--server`).
pub(crate) fn render_created(json: bool, created: &CollectionView) -> anyhow::Result<u8> {
    render(json, created, || {
        output::line(format!("created repository {}", created.name));
    })
}

/// `wharf repo edit`'s output (also with `--server`): the settings as they now are.
pub(crate) fn render_edited(json: bool, edited: &CollectionView) -> anyhow::Result<u8> {
    render(json, edited, || print_collection(edited))
}

/// `wharf repo remove`'s output and exit code, 1 when nothing matched (also with
/// `--server`).
pub(crate) fn render_remove(args: &RepoRemoveArgs, report: &RemoveReport) -> anyhow::Result<u8> {
    render(args.output.json, report, || {
        if report.removed.is_empty() {
            output::line(format!("no package in {} matches {:?}", args.name, args.query));
        } else {
            output::line(format!("removed {} package(s) from {}", report.removed.len(), args.name));
        }
    })?;
    Ok(if report.removed.is_empty() { FAILURE } else { SUCCESS })
}

/// `wharf snapshot create`'s output (also with `--server`).
pub(crate) fn render_snapshot(json: bool, report: &SnapshotReport) -> anyhow::Result<u8> {
    render(json, report, || {
        output::line(format!(
            "created snapshot {} of {} ({} packages)",
            report.name, report.from, report.packages
        ));
    })
}

/// What `repo copy` (or `move`, with `remove_from_source`) asks for.
pub(crate) fn copy_request(args: &RepoCopyArgs, remove_from_source: bool) -> CopyRequest {
    CopyRequest {
        source: args.source.clone(),
        destination: args.destination.clone(),
        queries: args.queries.clone(),
        all: args.all,
        with_deps: args.with_deps,
        dry_run: args.dry_run,
        remove_from_source,
    }
}

/// `wharf repo copy`'s and `repo move`'s output and exit code, 1 when the queries matched
/// nothing (also with `--server`).
pub(crate) fn render_copy(json: bool, report: &CopyReport) -> anyhow::Result<u8> {
    let matched = !report.copied.is_empty() || !report.already_present.is_empty();
    render(json, report, || {
        let would = if report.dry_run { "would " } else { "" };
        if !matched && report.queries.is_empty() {
            output::line(format!("{} has no packages", report.source));
            return;
        }
        if !matched {
            output::line(format!(
                "no package in {} matches {}",
                report.source,
                report.queries.join(" | ")
            ));
            return;
        }
        for id in &report.copied {
            let why = if report.dependencies.contains(id) { " (dependency)" } else { "" };
            output::line(format!("  + {id}{why}"));
        }
        for id in &report.missing_dependencies {
            output::warn(format!("unsatisfied dependency: {id}"));
        }
        let done = match (report.action.as_str(), report.dry_run) {
            ("move", true) => "would move",
            ("move", false) => "moved",
            (_, true) => "would copy",
            (_, false) => "copied",
        };
        output::line(format!(
            "{done} {} package(s) from {} to {} ({} already there{})",
            report.copied.len(),
            report.source,
            report.destination,
            report.already_present.len(),
            if report.action == "move" {
                format!(", {} {would}be removed from {}", report.removed.len(), report.source)
            } else {
                String::new()
            }
        ));
    })?;
    Ok(if matched { SUCCESS } else { FAILURE })
}

/// `wharf repo diff`'s output (also with `--server`).
pub(crate) fn render_diff(json: bool, report: &DiffReport) -> anyhow::Result<u8> {
    render(json, report, || {
        if report.identical {
            output::line(format!("{} and {} have the same packages", report.left, report.right));
            return;
        }
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut push = |mark: &str, entries: &[DiffEntry]| {
            for e in entries {
                let versions =
                    |v: &[String]| if v.is_empty() { "-".to_owned() } else { v.join(", ") };
                rows.push(vec![
                    mark.to_owned(),
                    e.name.clone(),
                    e.architecture.clone(),
                    versions(&e.left),
                    versions(&e.right),
                ]);
            }
        };
        push("<", &report.only_left);
        push(">", &report.only_right);
        push("!", &report.different);
        output::table(&["", "PACKAGE", "ARCH", &report.left, &report.right], &rows);
    })
}
