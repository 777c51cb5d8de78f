//! `wharf status|history|show`: parse, call [`wharf_app::status`], render. `status --check`
//! exits 1 when a node's version disagrees and 3 when a node cannot be read.

use wharf_app::status::HistoryFilter;
use wharf_app::windows::Instant;
use wharf_app::wire::{DeployDetail, DeployView, EnvironmentStatus};
use wharf_core::config::format_duration;

use super::repo::render;
use crate::cli::{DeploysCommand, HistoryArgs, ShowArgs, StatusArgs};
use crate::exit::{FAILURE, SUCCESS, UNREACHABLE};
use crate::output;
use crate::settings::Settings;

pub(crate) fn run(settings: &Settings, command: &DeploysCommand) -> anyhow::Result<u8> {
    match command {
        DeploysCommand::Status(args) => status(settings, args),
        DeploysCommand::History(args) => history(settings, args),
        DeploysCommand::Show(args) => show(settings, args),
    }
}

/// `2026-12-01T10:02:31.125Z` → `2026-12-01 10:02 UTC`; anything else as it is.
fn when(at: &str) -> String {
    match at.parse::<Instant>() {
        Ok(at) => at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => at.to_owned(),
    }
}

/// How long from `start` to `end`, `3m12s`; `-` when either is missing or unreadable.
fn took(start: &str, end: Option<&str>) -> String {
    let (Ok(start), Some(Ok(end))) = (start.parse::<Instant>(), end.map(str::parse::<Instant>))
    else {
        return "-".to_owned();
    };
    format_duration(u64::try_from(end.as_second() - start.as_second()).unwrap_or(0))
}

fn pairs(map: &std::collections::BTreeMap<String, String>) -> String {
    map.iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(" ")
}

fn status(settings: &Settings, args: &StatusArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    let now = match &args.at {
        Some(text) => wharf_app::windows::parse_instant(text)?,
        None => wharf_app::windows::now(),
    };
    let (env, options) = (super::run::local_env(), wharf_exec::FanoutOptions::default());
    let fleet = wharf_app::fleet::Fleet {
        config: &settings.config,
        source: &settings.source,
        inventory: &inventory,
        env: &env,
        options: &options,
    };
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let pool = wharf_exec::Pool::new();
        let report = wharf_app::status::status(
            &ctx,
            fleet,
            &pool,
            args.environment.as_deref(),
            args.check,
            now,
        )
        .await;
        pool.close().await;
        render_status(args.output.json, &report?)
    })
}

/// `wharf status`'s output and exit code (also with `--server`).
pub(crate) fn render_status(json: bool, report: &[EnvironmentStatus]) -> anyhow::Result<u8> {
    render(json, &report, || report.iter().for_each(print_status))?;
    let nodes = || report.iter().flat_map(|s| &s.disagreeing_nodes);
    Ok(if nodes().any(|n| n.error.is_some()) {
        UNREACHABLE
    } else if nodes().next().is_some() {
        FAILURE
    } else {
        SUCCESS
    })
}

/// The badges of an environment: what stops or slows its next deploy.
fn badges(status: &EnvironmentStatus) -> Vec<String> {
    let mut badges = Vec::new();
    if let Some(lock) = &status.locked {
        let scope = if lock.environment == "*" { " (all environments)" } else { "" };
        badges.push(format!("LOCKED by {}{scope}: {:?}", lock.holder, lock.reason));
    }
    for hold in &status.holds {
        badges.push(format!("HELD {} by {}: {:?}", hold.package, hold.holder, hold.reason));
    }
    for window in &status.open_windows {
        let only = if window.applies_to == "automated" { " (automated deploys)" } else { "" };
        badges.push(format!("WINDOW {} open until {}{only}", window.name, when(&window.until)));
    }
    if !status.maintenance.is_empty() {
        let nodes: Vec<&str> = status.maintenance.iter().map(|m| m.node.as_str()).collect();
        badges.push(format!("{} in maintenance: {}", nodes.len(), nodes.join(", ")));
    }
    badges
}

fn print_status(status: &EnvironmentStatus) {
    let badges = badges(status);
    if badges.is_empty() {
        output::line(&status.environment);
    } else {
        output::line(format!("{}  {}", status.environment, badges.join("  ")));
    }
    if status.packages.is_empty() {
        output::line("  no succeeded deploy yet");
    } else {
        let rows: Vec<Vec<String>> = status
            .packages
            .iter()
            .map(|(package, d)| {
                vec![
                    format!("  {package}"),
                    d.version.clone(),
                    when(&d.deployed_at),
                    format!("#{}", d.deploy_id),
                ]
            })
            .collect();
        output::table(&["  PACKAGE", "VERSION", "DEPLOYED", "DEPLOY"], &rows);
    }
    if let Some(running) = &status.running {
        let stage = running.stage.as_deref().map(|s| format!(" at {s}")).unwrap_or_default();
        output::line(format!("  deploy #{} {}{stage}", running.id, running.state));
    }
    for node in &status.disagreeing_nodes {
        match &node.error {
            Some(error) => output::line(format!("  UNREACHABLE {}: {error}", node.node)),
            None => {
                let found: Vec<String> = node
                    .expected
                    .iter()
                    .map(|(package, want)| {
                        let have = node.versions.get(package).cloned().flatten();
                        format!(
                            "{package}={} (expected {})",
                            have.as_deref().unwrap_or("not installed"),
                            want.as_deref().unwrap_or("no majority")
                        )
                    })
                    .collect();
                output::line(format!("  DISAGREES {}: {}", node.node, found.join(", ")));
            }
        }
    }
    if status.checked && status.disagreeing_nodes.is_empty() {
        output::line("  every node has the expected versions");
    }
}

fn history(settings: &Settings, args: &HistoryArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let filter = HistoryFilter {
            environment: args.environment.as_deref(),
            state: args.state.as_deref(),
        };
        let deploys = wharf_app::status::history(&ctx, &inventory, filter, args.limit).await?;
        render_history(args.output.json, &deploys)
    })
}

/// `wharf history`'s output (also with `--server`).
pub(crate) fn render_history(json: bool, deploys: &[DeployView]) -> anyhow::Result<u8> {
    render(json, &deploys, || {
        if deploys.is_empty() {
            output::line("no deploys yet");
            return;
        }
        let rows: Vec<Vec<String>> = deploys.iter().map(history_row).collect();
        output::table(
            &["ID", "ENVIRONMENT", "PACKAGES", "STATE", "BY", "STARTED", "TOOK", "OVERRIDES"],
            &rows,
        );
    })
}

fn history_row(d: &DeployView) -> Vec<String> {
    let overrides: Vec<&str> = d.overrides.iter().map(|o| o.kind.as_str()).collect();
    vec![
        format!("#{}", d.id),
        d.environment.clone(),
        pairs(&d.packages),
        d.state.to_owned(),
        format!("{} ({})", d.started_by, d.via),
        when(&d.started_at),
        took(&d.started_at, d.finished_at.as_deref()),
        if overrides.is_empty() { "-".to_owned() } else { format!("! {}", overrides.join(",")) },
    ]
}

fn show(settings: &Settings, args: &ShowArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let detail = wharf_app::status::show(&ctx, args.id).await?;
        render_show(args.output.json, &detail)
    })
}

/// `wharf show`'s output (also with `--server`).
pub(crate) fn render_show(json: bool, detail: &DeployDetail) -> anyhow::Result<u8> {
    render(json, detail, || print_detail(detail))
}

fn print_detail(detail: &DeployDetail) {
    let d = &detail.deploy;
    output::line(format!("deploy #{} to {}: {}", d.id, d.environment, d.state));
    let previous = if d.previous.is_empty() {
        String::new()
    } else {
        format!(" (was {})", pairs(&d.previous))
    };
    output::line(format!("  packages: {}{previous}", pairs(&d.packages)));
    output::line(format!(
        "  pipeline {}, started by {} ({}{}) at {}, took {}",
        d.pipeline,
        d.started_by,
        d.via,
        if d.automated { ", automated" } else { "" },
        when(&d.started_at),
        took(&d.started_at, d.finished_at.as_deref())
    ));
    for (label, value) in [("issue", &d.issue), ("reason", &d.reason)] {
        if let Some(value) = value {
            output::line(format!("  {label}: {value}"));
        }
    }
    for o in &d.overrides {
        output::line(format!("  OVERRIDE {} by {}: {:?}", o.kind, o.by, o.reason));
    }
    for warning in &d.warnings {
        output::line(format!("  WARNING {warning}"));
    }
    if !d.stages.is_empty() {
        let rows: Vec<Vec<String>> = d
            .stages
            .iter()
            .map(|s| {
                vec![
                    format!("  {}", s.name),
                    s.kind.clone(),
                    s.state.clone(),
                    format!("{}/{}/{}", s.nodes.succeeded, s.nodes.failed, s.nodes.skipped),
                    s.started_at.as_deref().map(when).unwrap_or_else(|| "-".to_owned()),
                    s.started_at
                        .as_deref()
                        .map_or_else(|| "-".to_owned(), |at| took(at, s.finished_at.as_deref())),
                ]
            })
            .collect();
        output::table(&["  STAGE", "KIND", "STATE", "OK/FAILED/SKIPPED", "STARTED", "TOOK"], &rows);
    }
    for (node, stage_name) in
        detail.nodes.iter().filter(|n| n.run.state == "failed").map(|n| (&n.run, &n.stage_name))
    {
        let code = node.exit_code.map(|c| format!(", exit {c}")).unwrap_or_default();
        let stage = stage_name.clone().unwrap_or_else(|| format!("stage {}", node.stage));
        output::line(format!("  FAILED {} in {stage}{code}", node.node));
        for line in node.output_tail.lines() {
            output::line(format!("    | {line}"));
        }
    }
    for event in &detail.events {
        output::line(format!("  {} {}", when(&event.at), event.kind));
    }
}
