//! Guard-rail state operators set by hand: environment locks (`wharf lock`) and nodes in
//! maintenance (`wharf maintenance`). Locks are never silently replaced: locking over
//! someone else's lock is refused unless stolen with a reason, and both the lock and the
//! theft are on record.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::json;
use wharf_core::inventory::Inventory;
use wharf_core::nodeset::NodeSet;
use wharf_core::template::CommandKey;
use wharf_deploy::command::{NodeName, Reason, ValueError, Values, expand_step};
use wharf_exec::{Action, NodeResult};
use wharf_store::guard::{ALL_ENVIRONMENTS, EnvLock, LockOutcome, Maintenance};

use crate::context::Context;
use crate::error::{AppError, Result};
use crate::fleet::{Fleet, FleetRequest};
use crate::wire::{LockReport, MaintenanceReport, NodeResultView, UnlockReport};

/// Which environment a lock is about: one by name, or all (`--all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockScope {
    Environment(String),
    All,
}

impl LockScope {
    /// The store's name for it (`*` for all), checked against the inventory.
    fn environment(&self, inventory: &Inventory) -> Result<String> {
        match self {
            LockScope::All => Ok(ALL_ENVIRONMENTS.to_owned()),
            LockScope::Environment(name) => {
                if inventory.environments().iter().any(|env| env.name == *name) {
                    Ok(name.clone())
                } else {
                    let known: Vec<&str> =
                        inventory.environments().iter().map(|env| env.name.as_str()).collect();
                    Err(AppError::not_found(format!(
                        "no environment named {name:?} (known: {})",
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    )))
                }
            }
        }
    }
}

fn required(what: &str, text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::invalid(format!("{what} must say why: give a non-empty reason")));
    }
    Ok(text.to_owned())
}

/// How a refusal names a lock: `gprd is locked by alice since 10:02 UTC ("incident #123")`.
#[must_use]
pub fn describe_lock(lock: &EnvLock) -> String {
    let what = if lock.environment == ALL_ENVIRONMENTS {
        "every environment is".to_owned()
    } else {
        format!("{} is", lock.environment)
    };
    // `2026-12-01T10:02:00.000Z` → `2026-12-01 10:02 UTC`.
    let since = match (lock.since.get(..10), lock.since.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => lock.since.clone(),
    };
    let until = lock.until.as_ref().map(|u| format!(" until {u}")).unwrap_or_default();
    format!("{what} locked by {} since {since}{until} ({:?})", lock.holder, lock.reason)
}

/// `2026-12-01T10:02:31.125Z`: how the store writes instants, so that text order is time
/// order.
pub fn stamp(at: Timestamp) -> String {
    let at = at.to_zoned(jiff::tz::TimeZone::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// The locks in force at `now`: a lock past its `until` is gone.
pub async fn active_locks(ctx: &Context, now: Timestamp) -> Result<Vec<EnvLock>> {
    let now = stamp(now);
    Ok(ctx
        .store()
        .locks()
        .await?
        .into_iter()
        .filter(|l| l.until.as_ref().is_none_or(|until| *until > now))
        .collect())
}

/// Lock an environment (or all), until unlocked or until `until`. Someone else's lock is
/// refused unless `steal` gives a reason; the acting identity's own lock is renewed.
pub async fn lock(
    ctx: &Context,
    inventory: &Inventory,
    scope: &LockScope,
    reason: &str,
    steal: Option<&str>,
    until: Option<Timestamp>,
) -> Result<LockReport> {
    let environment = scope.environment(inventory)?;
    let reason = required("a lock", reason)?;
    let steal = steal.map(|why| required("--steal", why)).transpose()?;
    let now = Timestamp::now();
    if let Some(until) = until
        && until <= now
    {
        return Err(AppError::invalid(format!("--until {until} is in the past")));
    }
    let holder = ctx.actor().name.clone();
    let previous = active_locks(ctx, now).await?.into_iter().find(|l| l.environment == environment);
    let stolen_from = previous.filter(|l| l.holder != holder).map(|l| l.holder);
    let action = if stolen_from.is_some() { "lock.steal" } else { "lock" };
    let mut entry = ctx.entry(
        action,
        &environment,
        json!({ "lock_reason": reason, "stolen_from": stolen_from }),
    );
    entry.reason = Some(steal.clone().unwrap_or_else(|| reason.clone()));
    let lock = EnvLock {
        environment: environment.clone(),
        holder: holder.clone(),
        reason: reason.clone(),
        since: stamp(now),
        until: until.map(stamp),
    };
    match ctx.store().lock_environment(&lock, steal.is_some(), &entry).await? {
        LockOutcome::Locked(audit) => Ok(LockReport {
            environment,
            holder,
            reason,
            since: lock.since,
            until: lock.until,
            stolen_from: if steal.is_some() { stolen_from } else { None },
            audit_id: audit.id,
        }),
        LockOutcome::HeldBy(held) => Err(AppError::refused(format!(
            "{}; wharf lock {} --steal REASON to take it over, or ask {} to unlock it",
            describe_lock(&held),
            if held.environment == ALL_ENVIRONMENTS {
                "--all".to_owned()
            } else {
                held.environment.clone()
            },
            held.holder
        ))),
    }
}

/// Unlock an environment (or the global lock).
pub async fn unlock(
    ctx: &Context,
    inventory: &Inventory,
    scope: &LockScope,
) -> Result<UnlockReport> {
    let environment = scope.environment(inventory)?;
    let previous = ctx.store().locks().await?.into_iter().find(|l| l.environment == environment);
    let entry = ctx.entry(
        "unlock",
        &environment,
        json!({ "was_locked_by": previous.as_ref().map(|l| l.holder.clone()) }),
    );
    match ctx.store().unlock_environment(&environment, &entry).await? {
        Some(audit) => Ok(UnlockReport {
            environment,
            was_locked_by: previous.map(|l| l.holder).unwrap_or_default(),
            audit_id: audit.id,
        }),
        None => Err(AppError::not_found(format!(
            "{} is not locked (see `wharf locks`)",
            if environment == ALL_ENVIRONMENTS { "the global lock" } else { environment.as_str() }
        ))),
    }
}

/// Every lock.
pub async fn locks(ctx: &Context) -> Result<Vec<EnvLock>> {
    active_locks(ctx, Timestamp::now()).await
}

/// The inventory nodes `expr` names; a name outside the inventory is refused.
fn inventory_nodes(inventory: &Inventory, expr: &str) -> Result<NodeSet> {
    let set = inventory.resolve(expr)?;
    if set.is_empty() {
        return Err(AppError::invalid(format!("node set {expr:?} matches no node")));
    }
    if let Some(unknown) = set.iter().find(|name| inventory.node(name).is_none()) {
        return Err(AppError::not_found(format!(
            "{unknown} is not an inventory node; maintenance is for nodes in wharf.toml"
        )));
    }
    Ok(set)
}

/// Run the `maintenance_start` or `maintenance_stop` command (none by default; e.g. stop
/// cron and `puppet agent --disable {reason}`, seed 003) on the nodes, each with its own
/// `{node}`; no command configured, nothing runs.
async fn maintenance_command(
    ctx: &Context,
    fleet: Fleet<'_>,
    key: CommandKey,
    nodes: &[String],
    reason: Option<&str>,
) -> Result<Vec<NodeResult>> {
    let templates = fleet.config.commands_for(None, fleet.source)?;
    let reason: Option<Reason> = reason
        .map(|r| r.parse().map_err(|e: ValueError| AppError::invalid(e.to_string())))
        .transpose()?;
    let mut commands = HashMap::new();
    for node in nodes {
        let name: NodeName =
            node.parse().map_err(|e: ValueError| AppError::invalid(e.to_string()))?;
        let values = Values { node: Some(&name), reason: reason.as_ref(), ..Values::default() };
        match expand_step(&templates, key, &values) {
            Ok(Some(command)) => {
                commands.insert(node.clone(), command.into_string());
            }
            Ok(None) => return Ok(Vec::new()),
            Err(err) => return Err(AppError::internal(err.to_string())),
        }
    }
    let request = FleetRequest { nodes: vec![nodes.join(",")], ..FleetRequest::default() };
    let targets = crate::fleet::targets(fleet.inventory, &fleet.config.ssh, fleet.env, &request)?;
    let action = Action::RunEach(commands);
    Ok(crate::fleet::execute(ctx, targets, action, fleet.options.clone(), None).await?.results)
}

fn failures(results: &[NodeResult]) -> Vec<NodeResultView> {
    results.iter().filter(|r| !r.outcome.is_success()).map(NodeResultView::from).collect()
}

/// Put nodes in maintenance: recorded first — deploys to their environments fail the
/// `maintenance` check from then on — then the `maintenance_start` command on them.
pub async fn start_maintenance(
    ctx: &Context,
    fleet: Fleet<'_>,
    expr: &str,
    reason: &str,
) -> Result<(MaintenanceReport, Vec<NodeResult>)> {
    let set = inventory_nodes(fleet.inventory, expr)?;
    let reason = required("maintenance", reason)?;
    let nodes: Vec<String> = set.iter().map(str::to_owned).collect();
    let mut entry = ctx.entry("maintenance.start", &set.fold(), json!({ "nodes": nodes.len() }));
    entry.reason = Some(reason.clone());
    let holder = ctx.actor().name.clone();
    let since = wharf_store::now_rfc3339();
    let audit = ctx.store().start_maintenance(&nodes, &holder, &reason, &since, &entry).await?;
    let results =
        maintenance_command(ctx, fleet, CommandKey::MaintenanceStart, &nodes, Some(&reason))
            .await?;
    let report = MaintenanceReport {
        nodes: set.fold(),
        count: nodes.len(),
        audit_id: audit.id,
        failed: failures(&results),
    };
    Ok((report, results))
}

/// Take nodes out of maintenance, then run `maintenance_stop` on them.
pub async fn stop_maintenance(
    ctx: &Context,
    fleet: Fleet<'_>,
    expr: &str,
) -> Result<(MaintenanceReport, Vec<NodeResult>)> {
    let set = inventory_nodes(fleet.inventory, expr)?;
    let current: Vec<String> =
        ctx.store().maintenance().await?.into_iter().map(|m| m.node).collect();
    let leaving: Vec<String> =
        set.iter().filter(|n| current.iter().any(|c| c == n)).map(str::to_owned).collect();
    let folded = NodeSet::from_names(leaving.iter().cloned()).fold();
    let entry = ctx.entry("maintenance.stop", &folded, json!({ "nodes": leaving.len() }));
    match ctx.store().stop_maintenance(&leaving, &entry).await? {
        Some(audit) => {
            let results =
                maintenance_command(ctx, fleet, CommandKey::MaintenanceStop, &leaving, None)
                    .await?;
            let report = MaintenanceReport {
                nodes: folded,
                count: leaving.len(),
                audit_id: audit.id,
                failed: failures(&results),
            };
            Ok((report, results))
        }
        None => Err(AppError::not_found(format!(
            "no node of {} is in maintenance (see `wharf maintenance list`)",
            set.fold()
        ))),
    }
}

/// Every node in maintenance.
pub async fn maintenance(ctx: &Context) -> Result<Vec<Maintenance>> {
    Ok(ctx.store().maintenance().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_holder_time_and_reason() {
        let lock = |environment: &str| EnvLock {
            environment: environment.into(),
            holder: "alice".into(),
            reason: "incident #123".into(),
            since: "2026-12-01T10:02:31.125Z".into(),
            until: None,
        };
        assert_eq!(
            describe_lock(&lock("gprd")),
            "gprd is locked by alice since 2026-12-01 10:02 UTC (\"incident #123\")"
        );
        assert!(describe_lock(&lock("*")).starts_with("every environment is locked by alice"));
    }
}
