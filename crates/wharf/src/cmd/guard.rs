//! `wharf lock|unlock|locks`, `wharf windows` and `wharf maintenance …`: parse, call
//! [`wharf_app::guard`] or [`wharf_app::windows`], render. A lock held by someone else is a refusal (exit 4).

use wharf_app::guard::LockScope;

use super::repo::render;
use crate::cli::{JsonArgs, LockArgs, MaintenanceCommand, UnlockArgs, WindowsArgs};
use crate::output;
use crate::settings::Settings;

fn scope(environment: Option<&String>, all: bool) -> LockScope {
    match environment {
        Some(name) if !all => LockScope::Environment(name.clone()),
        _ => LockScope::All,
    }
}

pub(crate) fn lock(settings: &Settings, args: &LockArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let scope = scope(args.environment.as_ref(), args.all);
        let report =
            wharf_app::guard::lock(&ctx, &inventory, &scope, &args.reason, args.steal.as_deref())
                .await?;
        render(args.output.json, &report, || {
            let what =
                if report.environment == "*" { "every environment" } else { &report.environment };
            match &report.stolen_from {
                Some(from) => output::line(format!("locked {what} (taken over from {from})")),
                None => output::line(format!("locked {what}")),
            }
        })
    })
}

pub(crate) fn unlock(settings: &Settings, args: &UnlockArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let scope = scope(args.environment.as_ref(), args.all);
        let report = wharf_app::guard::unlock(&ctx, &inventory, &scope).await?;
        render(args.output.json, &report, || {
            let what =
                if report.environment == "*" { "every environment" } else { &report.environment };
            output::line(format!("unlocked {what} (was locked by {})", report.was_locked_by));
        })
    })
}

pub(crate) fn locks(settings: &Settings, args: &JsonArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let locks = wharf_app::guard::locks(&ctx).await?;
        render(args.json, &locks, || {
            let rows: Vec<Vec<String>> = locks
                .iter()
                .map(|l| {
                    vec![l.environment.clone(), l.holder.clone(), l.since.clone(), l.reason.clone()]
                })
                .collect();
            output::table(&["ENVIRONMENT", "HOLDER", "SINCE", "REASON"], &rows);
        })
    })
}

pub(crate) fn maintenance(settings: &Settings, command: &MaintenanceCommand) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        match command {
            MaintenanceCommand::Start(args) => {
                let report = wharf_app::guard::start_maintenance(
                    &ctx,
                    &inventory,
                    &args.nodeset,
                    &args.reason,
                )
                .await?;
                render(args.output.json, &report, || {
                    output::line(format!("{} ({}): in maintenance", report.nodes, report.count));
                })
            }
            MaintenanceCommand::Stop(args) => {
                let report =
                    wharf_app::guard::stop_maintenance(&ctx, &inventory, &args.nodeset).await?;
                render(args.output.json, &report, || {
                    output::line(format!(
                        "{} ({}): out of maintenance",
                        report.nodes, report.count
                    ));
                })
            }
            MaintenanceCommand::List(args) => {
                let nodes = wharf_app::guard::maintenance(&ctx).await?;
                render(args.json, &nodes, || {
                    let rows: Vec<Vec<String>> = nodes
                        .iter()
                        .map(|m| {
                            vec![
                                m.node.clone(),
                                m.holder.clone(),
                                m.since.clone(),
                                m.reason.clone(),
                            ]
                        })
                        .collect();
                    output::table(&["NODE", "BY", "SINCE", "REASON"], &rows);
                })
            }
        }
    })
}

pub(crate) fn windows(settings: &Settings, args: &WindowsArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    let now = match &args.at {
        Some(text) => wharf_app::windows::parse_instant(text)?,
        None => wharf_app::windows::now(),
    };
    let views = wharf_app::windows::windows(
        &settings.config,
        &settings.source,
        &inventory,
        args.environment.as_deref(),
        now,
    )?;
    render(args.output.json, &views, || {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|w| {
                let dash = || "-".to_owned();
                vec![
                    w.name.clone(),
                    if w.open { "OPEN" } else { "closed" }.to_owned(),
                    w.opens_local.clone().unwrap_or_else(dash),
                    w.closes_local.clone().unwrap_or_else(dash),
                    w.closes_at.clone().unwrap_or_else(dash),
                    w.applies_to.to_owned(),
                    w.environments.join(","),
                ]
            })
            .collect();
        output::table(
            &[
                "WINDOW",
                "STATE",
                "OPENS (LOCAL)",
                "CLOSES (LOCAL)",
                "CLOSES (UTC)",
                "APPLIES TO",
                "ENVIRONMENTS",
            ],
            &rows,
        );
    })
}
