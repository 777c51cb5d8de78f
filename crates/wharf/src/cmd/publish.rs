//! `wharf publish …`, `wharf key export` and `wharf health`: parse, call
//! [`wharf_app::publish`] / [`wharf_app::health`], render.

use wharf_app::publish::PublishRequest;
use wharf_app::wire::{DropReport, HealthReport, PublishView};
use wharf_store::AptKind;

use super::repo::render;
use crate::cli::{HealthArgs, KeyCommand, PublishArgs, PublishCommand};
use crate::exit::{FAILURE, SUCCESS, UsageError};
use crate::output;
use crate::progress::TerminalProgress;
use crate::settings::Settings;

pub(crate) fn publish(settings: &Settings, args: PublishArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        match args.command {
            Some(PublishCommand::List(list_args)) => {
                return render_list(list_args.json, &wharf_app::publish::list(&ctx).await?);
            }
            Some(PublishCommand::Drop(drop_args)) => {
                let report = wharf_app::publish::drop(&ctx, &drop_args.prefix).await?;
                return render_unpublished(drop_args.output.json || args.output.json, &report);
            }
            None => {}
        }
        let (kind, source) = match (&args.snapshot, &args.repo) {
            (Some(snapshot), _) => (AptKind::Snapshot, snapshot.clone()),
            (None, Some(repo)) => (AptKind::Repo, repo.clone()),
            (None, None) => {
                anyhow::bail!(UsageError("name a repository or --snapshot SNAP".into()))
            }
        };
        let request = PublishRequest { kind, source, prefix: args.prefix, to_dir: args.to_dir };
        let progress = TerminalProgress::new(!args.output.json);
        let report = wharf_app::publish::publish(&ctx, request, &progress).await;
        progress.clear();
        render_publish(args.output.json, &report?)
    })
}

/// `wharf publish`'s output (also with `--server`).
pub(crate) fn render_publish(
    json: bool,
    report: &wharf_app::wire::PublishReport,
) -> anyhow::Result<u8> {
    render(json, report, || {
        if report.unchanged {
            output::line(format!(
                "{}: unchanged since generation {}",
                report.prefix.as_deref().unwrap_or_default(),
                report.generation
            ));
        } else {
            output::line(format!(
                "published {} {} at {}: {} packages, {} indices rewritten, {} unchanged",
                report.kind,
                report.source,
                report.location,
                report.packages,
                report.indices_rewritten,
                report.indices_unchanged
            ));
        }
        if let Some(policy) = &report.snapshots {
            match &policy.created {
                Some(name) => output::line(format!("took snapshot {name} (snapshot policy)")),
                None => {
                    output::line("no snapshot taken: the newest one already holds this generation")
                }
            }
            if !policy.dropped.is_empty() {
                output::line(format!(
                    "dropped snapshot(s) {} (snapshot policy: keep {})",
                    policy.dropped.join(", "),
                    policy.keep
                ));
            }
        }
    })
}

/// `wharf publish list`'s output (also with `--server`).
pub(crate) fn render_list(json: bool, views: &[PublishView]) -> anyhow::Result<u8> {
    render(json, &views, || {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                vec![
                    v.prefix.clone(),
                    v.kind.clone(),
                    v.source.clone(),
                    v.distribution.clone(),
                    v.published_at.clone(),
                ]
            })
            .collect();
        output::table(&["PREFIX", "KIND", "SOURCE", "DISTRIBUTION", "PUBLISHED AT"], &rows);
    })
}

/// `wharf publish drop`'s output (also with `--server`).
pub(crate) fn render_unpublished(json: bool, report: &DropReport) -> anyhow::Result<u8> {
    render(json, report, || output::line(format!("dropped publish {}", report.name)))
}

pub(crate) fn key(settings: &Settings, command: &KeyCommand) -> anyhow::Result<u8> {
    match command {
        KeyCommand::Export => {
            output::raw(&settings.signing_key()?.public_armored()?);
            Ok(SUCCESS)
        }
    }
}

pub(crate) fn health(settings: &Settings, args: &HealthArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        render_health(
            args.output.json,
            &wharf_app::health::health(&ctx, args.min_free_percent).await?,
        )
    })
}

/// `wharf health`'s output and exit code, 1 when a check failed (also with `--server`).
pub(crate) fn render_health(json: bool, report: &HealthReport) -> anyhow::Result<u8> {
    render(json, report, || {
        let rows: Vec<Vec<String>> = report
            .checks
            .iter()
            .map(|c| {
                vec![c.check.clone(), if c.ok { "ok" } else { "FAIL" }.to_owned(), c.detail.clone()]
            })
            .collect();
        output::table(&["CHECK", "STATUS", "DETAIL"], &rows);
    })?;
    Ok(if report.healthy { SUCCESS } else { FAILURE })
}
