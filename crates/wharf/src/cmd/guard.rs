//! `wharf lock|unlock|locks`, `wharf windows` and `wharf maintenance …`: parse, call
//! [`wharf_app::guard`] or [`wharf_app::windows`], render. A lock held by someone else is a refusal (exit 4).

use wharf_app::guard::LockScope;

use super::repo::render;
use crate::cli::{
    HoldArgs, HoldsArgs, JsonArgs, LockArgs, MaintenanceCommand, UnholdArgs, UnlockArgs,
    WindowsArgs,
};
use crate::output;
use crate::settings::Settings;

/// What `lock`/`unlock` act on (also for chat commands).
pub(crate) fn scope(environment: Option<&String>, all: bool) -> LockScope {
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
        let until = args.until.as_deref().map(wharf_app::windows::parse_instant).transpose()?;
        let report = wharf_app::guard::lock(
            &ctx,
            &inventory,
            &scope,
            &args.reason,
            args.steal.as_deref(),
            until,
        )
        .await?;
        render_lock(args.output.json, &report)
    })
}

/// `wharf lock`'s output (also with `--server`).
pub(crate) fn render_lock(json: bool, report: &wharf_app::wire::LockReport) -> anyhow::Result<u8> {
    render(json, report, || {
        let what =
            if report.environment == "*" { "every environment" } else { &report.environment };
        match &report.stolen_from {
            Some(from) => output::line(format!("locked {what} (taken over from {from})")),
            None => output::line(format!("locked {what}")),
        }
    })
}

pub(crate) fn unlock(settings: &Settings, args: &UnlockArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let scope = scope(args.environment.as_ref(), args.all);
        let report = wharf_app::guard::unlock(&ctx, &inventory, &scope).await?;
        render_unlock(args.output.json, &report)
    })
}

/// `wharf unlock`'s output (also with `--server`).
pub(crate) fn render_unlock(
    json: bool,
    report: &wharf_app::wire::UnlockReport,
) -> anyhow::Result<u8> {
    render(json, report, || {
        let what =
            if report.environment == "*" { "every environment" } else { &report.environment };
        output::line(format!("unlocked {what} (was locked by {})", report.was_locked_by));
    })
}

pub(crate) fn locks(settings: &Settings, args: &JsonArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        render_locks(args.json, &wharf_app::guard::locks(&ctx).await?)
    })
}

/// `wharf locks`'s output (also with `--server`).
pub(crate) fn render_locks(json: bool, locks: &[wharf_app::wire::EnvLock]) -> anyhow::Result<u8> {
    render(json, &locks, || {
        let rows: Vec<Vec<String>> = locks
            .iter()
            .map(|l| {
                vec![
                    l.environment.clone(),
                    l.holder.clone(),
                    l.since.clone(),
                    l.until.clone().unwrap_or_else(|| "-".to_owned()),
                    l.reason.clone(),
                ]
            })
            .collect();
        output::table(&["ENVIRONMENT", "HOLDER", "SINCE", "UNTIL", "REASON"], &rows);
    })
}

pub(crate) fn maintenance(settings: &Settings, command: &MaintenanceCommand) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    let (env, options) = (super::run::local_env(), wharf_exec::FanoutOptions::default());
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let fleet = node_fleet(settings, &inventory, &env, &options);
        match command {
            MaintenanceCommand::Start(args) => {
                let (report, results) =
                    wharf_app::guard::start_maintenance(&ctx, fleet, &args.nodeset, &args.reason)
                        .await?;
                render(args.output.json, &report, || {
                    output::line(format!("{} ({}): in maintenance", report.nodes, report.count));
                    super::run::print_failures(&results);
                })?;
                Ok(super::run::exit_code(&results, false))
            }
            MaintenanceCommand::Stop(args) => {
                let (report, results) =
                    wharf_app::guard::stop_maintenance(&ctx, fleet, &args.nodeset).await?;
                render(args.output.json, &report, || {
                    output::line(format!(
                        "{} ({}): out of maintenance",
                        report.nodes, report.count
                    ));
                    super::run::print_failures(&results);
                })?;
                Ok(super::run::exit_code(&results, false))
            }
            MaintenanceCommand::List(args) => {
                render_maintenance(args.json, &wharf_app::guard::maintenance(&ctx).await?)
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
    render_windows(args.output.json, &views)
}

/// `wharf windows`'s output (also with `--server`).
pub(crate) fn render_windows(
    json: bool,
    views: &[wharf_app::wire::WindowView],
) -> anyhow::Result<u8> {
    render(json, &views, || {
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
                    w.applies_to.clone(),
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

/// How holds and maintenance reach nodes: the configuration and `wharf run`'s defaults.
fn node_fleet<'a>(
    settings: &'a Settings,
    inventory: &'a wharf_core::inventory::Inventory,
    env: &'a wharf_exec::LocalEnv,
    options: &'a wharf_exec::FanoutOptions,
) -> wharf_app::fleet::Fleet<'a> {
    wharf_app::fleet::Fleet {
        config: &settings.config,
        source: &settings.source,
        inventory,
        env,
        options,
    }
}

fn render_hold(
    json: bool,
    report: &wharf_app::wire::HoldReport,
    results: &[wharf_exec::NodeResult],
    done: &str,
) -> anyhow::Result<u8> {
    render(json, report, || {
        output::line(format!("{done} {} on {}", report.package, report.environment));
        if !report.succeeded.is_empty() {
            output::line(format!("  nodes: {}", report.succeeded));
        }
        super::run::print_failures(results);
    })?;
    Ok(super::run::exit_code(results, false))
}

pub(crate) fn hold(settings: &Settings, args: &HoldArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    let (env, options) = (super::run::local_env(), wharf_exec::FanoutOptions::default());
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let fleet = node_fleet(settings, &inventory, &env, &options);
        let (report, results) =
            wharf_app::hold::hold(&ctx, fleet, &args.environment, &args.package, &args.reason)
                .await?;
        render_hold(args.output.json, &report, &results, "held")
    })
}

pub(crate) fn unhold(settings: &Settings, args: &UnholdArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    let (env, options) = (super::run::local_env(), wharf_exec::FanoutOptions::default());
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let fleet = node_fleet(settings, &inventory, &env, &options);
        let (report, results) =
            wharf_app::hold::unhold(&ctx, fleet, &args.environment, &args.package).await?;
        render_hold(args.output.json, &report, &results, "unheld")
    })
}

pub(crate) fn holds(settings: &Settings, args: &HoldsArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    let (env, options) = (super::run::local_env(), wharf_exec::FanoutOptions::default());
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let (holds, check) = if args.check {
            let fleet = node_fleet(settings, &inventory, &env, &options);
            let check = wharf_app::hold::check(&ctx, fleet).await?;
            (check.holds.clone(), Some(check))
        } else {
            (wharf_app::hold::holds(&ctx).await?, None)
        };
        render_holds(args.output.json, &holds, check.as_ref())
    })
}

/// `wharf holds [--check]`'s output and exit code (also with `--server`).
pub(crate) fn render_holds(
    json: bool,
    holds: &[wharf_app::wire::PackageHold],
    check: Option<&wharf_app::wire::HoldsCheck>,
) -> anyhow::Result<u8> {
    let human = || {
        let rows: Vec<Vec<String>> = holds
            .iter()
            .map(|h| {
                vec![
                    h.environment.clone(),
                    h.package.clone(),
                    h.holder.clone(),
                    h.since.clone(),
                    h.reason.clone(),
                ]
            })
            .collect();
        output::table(&["ENVIRONMENT", "PACKAGE", "BY", "SINCE", "REASON"], &rows);
    };
    let Some(check) = check else { return render(json, &holds, human) };
    render(json, check, || {
        human();
        for node in &check.disagreeing_nodes {
            let what = match &node.error {
                Some(error) => format!("cannot be asked: {error}"),
                None => format!(
                    "not held: {}; held but not recorded: {}",
                    list(&node.not_held),
                    list(&node.unrecorded)
                ),
            };
            output::err_line(format!("wharf: {} ({}): {what}", node.node, node.environment));
        }
    })?;
    let unreachable = check.disagreeing_nodes.iter().any(|n| n.error.is_some());
    Ok(match (unreachable, check.disagreeing_nodes.is_empty()) {
        (true, _) => crate::exit::UNREACHABLE,
        (false, false) => crate::exit::FAILURE,
        (false, true) => crate::exit::SUCCESS,
    })
}

/// `wharf maintenance list`'s output (also with `--server`).
pub(crate) fn render_maintenance(
    json: bool,
    nodes: &[wharf_app::wire::Maintenance],
) -> anyhow::Result<u8> {
    render(json, &nodes, || {
        let rows: Vec<Vec<String>> = nodes
            .iter()
            .map(|m| vec![m.node.clone(), m.holder.clone(), m.since.clone(), m.reason.clone()])
            .collect();
        output::table(&["NODE", "BY", "SINCE", "REASON"], &rows);
    })
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "-".to_owned() } else { items.join(", ") }
}

pub(crate) fn schedules(settings: &Settings, args: &JsonArgs) -> anyhow::Result<u8> {
    let schedules = settings.config.resolve_schedules(&settings.source)?;
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let views = wharf_app::schedule::list(&ctx, &schedules, wharf_app::windows::now()).await?;
        render_schedules(args.json, &views)
    })
}

/// `wharf schedules`' output (also with `--server`).
pub(crate) fn render_schedules(
    json: bool,
    views: &[wharf_app::wire::ScheduleView],
) -> anyhow::Result<u8> {
    render(json, &views, || {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|s| {
                let dash = || "-".to_owned();
                vec![
                    s.name.clone(),
                    format!("{} ({})", s.cron, s.timezone),
                    s.action.clone(),
                    s.last_fire.clone().unwrap_or_else(dash),
                    s.last_result.clone().unwrap_or_else(dash),
                    s.next_fire.clone().unwrap_or_else(dash),
                ]
            })
            .collect();
        output::table(&["SCHEDULE", "CRON", "ACTION", "LAST RUN", "RESULT", "NEXT (UTC)"], &rows);
    })
}
