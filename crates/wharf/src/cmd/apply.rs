//! `wharf apply` and `wharf import aptly`: parse, call [`wharf_app::apply`] or
//! [`wharf_app::aptly`], render.

use wharf_app::apply::ApplyRequest;
use wharf_app::aptly::ImportRequest;
use wharf_app::wire::{ApplyReport, ImportReport};

use crate::cli::{ApplyArgs, ImportCommand};
use crate::exit::{FAILURE, SUCCESS};
use crate::output;
use crate::progress::TerminalProgress;
use crate::settings::Settings;

pub(crate) fn request(args: &ApplyArgs) -> ApplyRequest {
    ApplyRequest {
        dry_run: args.dry_run,
        prune: args.prune,
        prune_with_packages: args.prune_with_packages.clone(),
    }
}

pub(crate) fn run(settings: &Settings, args: &ApplyArgs) -> anyhow::Result<u8> {
    let declared = settings.config.resolve_repositories(&settings.source)?;
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let report = wharf_app::apply::apply(&ctx, &declared, &request(args)).await?;
        render(args.output.json, &report)
    })
}

/// Text or JSON; exit 0 when in sync, 1 otherwise (shared with `--server`).
pub(crate) fn render(json: bool, report: &ApplyReport) -> anyhow::Result<u8> {
    if json {
        output::json(report)?;
    } else {
        render_text(report);
    }
    Ok(if report.in_sync { SUCCESS } else { FAILURE })
}

fn render_text(report: &ApplyReport) {
    let would = |done: &str, pending: &str| if report.dry_run { pending } else { done }.to_owned();
    for name in &report.created {
        output::line(format!("{} {name}", would("created", "would create")));
    }
    for diff in &report.updated {
        let verb = would("updated", "would update");
        let (from, to) = (shown(&diff.actual), shown(&diff.declared));
        output::line(format!(
            "{verb} {} {}: {from} -> {to} ({})",
            diff.repository, diff.field, diff.note
        ));
    }
    for diff in &report.drift {
        let (declared, actual) = (shown(&diff.declared), shown(&diff.actual));
        output::line(format!(
            "DRIFT {} {}: {declared} in wharf.toml, {actual} stored: {}",
            diff.repository, diff.field, diff.note
        ));
    }
    for undeclared in &report.undeclared {
        let verb = match undeclared.action.as_str() {
            "drop" => would("dropped", "would drop"),
            "refuse" => "NOT DROPPED".to_owned(),
            _ => "undeclared".to_owned(),
        };
        output::line(format!(
            "{verb} {} ({} package(s)): {}",
            undeclared.repository, undeclared.packages, undeclared.reason
        ));
    }
    if report.in_sync {
        output::line(format!(
            "in sync: {} declared repository(ies) as wharf.toml says",
            report.created.len() + report.unchanged.len() + updated(report)
        ));
    } else if report.dry_run && report.drift.is_empty() {
        output::line("not in sync: run `wharf apply` to make the changes above");
    } else {
        output::line("not in sync: see DRIFT and NOT DROPPED above for what to do");
    }
}

fn shown(value: &str) -> String {
    if value.is_empty() { "(none)".to_owned() } else { format!("{value:?}") }
}

/// Repositories with an applied change (each counted once).
fn updated(report: &ApplyReport) -> usize {
    let mut names: Vec<&str> = report.updated.iter().map(|d| d.repository.as_str()).collect();
    names.dedup();
    names.len()
}

/// `wharf import aptly ROOT`.
pub(crate) fn import(settings: &Settings, command: &ImportCommand) -> anyhow::Result<u8> {
    let ImportCommand::Aptly(args) = command;
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let request = ImportRequest { root: args.root.clone(), dry_run: args.dry_run };
        let progress = TerminalProgress::new(!args.output.json);
        let report = wharf_app::aptly::import(&ctx, &request, &progress).await;
        progress.clear();
        let report = report?;
        if args.output.json {
            output::json(&report)?;
        } else {
            render_import(&report);
        }
        Ok(if report.ok { SUCCESS } else { FAILURE })
    })
}

fn render_import(report: &ImportReport) {
    let rows: Vec<Vec<String>> = report
        .collections
        .iter()
        .map(|c| {
            let action = match (c.action.as_str(), report.dry_run) {
                ("import", true) => "would import".to_owned(),
                ("import", false) => "imported".to_owned(),
                (other, _) => other.to_owned(),
            };
            vec![
                c.kind.clone(),
                c.name.clone(),
                c.distribution.clone(),
                c.component.clone(),
                c.architectures.join(","),
                c.packages.to_string(),
                c.from.clone().unwrap_or_default(),
                action,
            ]
        })
        .collect();
    output::table(
        &[
            "KIND",
            "NAME",
            "DISTRIBUTION",
            "COMPONENT",
            "ARCHITECTURES",
            "PACKAGES",
            "FROM",
            "ACTION",
        ],
        &rows,
    );
    if !report.ok {
        output::line(
            "conflict: a repository or snapshot of that name holds other packages and was left alone; \
             drop or rename it and import again",
        );
    }
}
