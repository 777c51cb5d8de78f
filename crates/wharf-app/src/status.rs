//! `wharf status`, `history` and `show`: where each environment stands — the versions its
//! newest succeeded deploys installed, what stops the next deploy (lock, holds, open
//! change-lock windows, nodes in maintenance), the deploy in progress, and with `--check`
//! the nodes whose installed versions disagree — and the deploy records themselves.
//! Reads only; the clock is a parameter.

use std::collections::BTreeMap;

use jiff::Timestamp;
use wharf_core::config::AppliesTo;
use wharf_core::inventory::{Environment, Inventory};
use wharf_core::version::Version;
use wharf_deploy::window::Window;
use wharf_exec::Pool;
use wharf_store::deploy::{DeployRow, DeployState};
use wharf_store::guard::{ALL_ENVIRONMENTS, EnvLock, Maintenance, PackageHold};

use crate::context::Context;
use crate::error::{AppError, Result};
use crate::fleet::Fleet;
use crate::versions::{self, NodeVersions};
use crate::wire::{
    DeployDetail, DeployEventView, DeployView, DeployedVersion, DisagreeingNodeView,
    EnvironmentStatus, NodeRunView, OpenWindowView, OverrideView, RunningDeployView,
};

/// How many deploys of an environment `status` reads to find each package's newest
/// succeeded one.
const STATUS_HISTORY: u32 = 10_000;

/// The environment named `name`, or a not-found error listing the known ones.
fn environment<'a>(inventory: &'a Inventory, name: &str) -> Result<&'a Environment> {
    inventory.environments().iter().find(|env| env.name == name).ok_or_else(|| {
        let known: Vec<&str> =
            inventory.environments().iter().map(|env| env.name.as_str()).collect();
        AppError::not_found(format!(
            "no environment named {name:?} (known: {})",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        ))
    })
}

/// What every environment's status shares: the guard-rail state and the windows.
struct Shared {
    locks: Vec<EnvLock>,
    holds: Vec<PackageHold>,
    maintenance: Vec<Maintenance>,
    windows: Vec<Window>,
}

/// Each environment's status (all of them in promotion order, or the one named), as of
/// `now`. With `check`, every node's installed versions are read over `pool` and the
/// disagreeing ones reported.
pub async fn status(
    ctx: &Context,
    fleet: Fleet<'_>,
    pool: &Pool,
    environment_name: Option<&str>,
    check: bool,
    now: Timestamp,
) -> Result<Vec<EnvironmentStatus>> {
    // A deploy whose process died reads `interrupted`, not `running`.
    crate::deploy::reap(ctx).await?;
    let environments: Vec<&Environment> = match environment_name {
        Some(name) => vec![environment(fleet.inventory, name)?],
        None => fleet.inventory.environments().iter().collect(),
    };
    let shared = Shared {
        locks: crate::guard::active_locks(ctx, now).await?,
        holds: ctx.store().holds().await?,
        maintenance: ctx.store().maintenance().await?,
        windows: Window::from_config(fleet.config, fleet.source)?,
    };
    let mut report = Vec::with_capacity(environments.len());
    for env in environments {
        let history = ctx.store().deploys(Some(&env.name), STATUS_HISTORY).await?;
        let mut status = guard_status(env, &shared, &history, now)?;
        if check {
            let recorded: BTreeMap<String, String> =
                status.packages.iter().map(|(p, d)| (p.clone(), d.version.clone())).collect();
            let mut packages = env.packages.clone();
            packages.extend(recorded.keys().filter(|p| !env.packages.contains(p)).cloned());
            if !packages.is_empty() && !env.nodes.is_empty() {
                let read =
                    versions::installed(fleet, pool, &env.name, &env.nodes, &packages).await?;
                status.disagreeing_nodes = disagreements(&read, &recorded, &packages);
            }
            status.checked = true;
        }
        report.push(status);
    }
    Ok(report)
}

/// One environment's status from the store's state, without reading nodes.
fn guard_status(
    env: &Environment,
    shared: &Shared,
    history: &[DeployRow],
    now: Timestamp,
) -> Result<EnvironmentStatus> {
    let locked = shared
        .locks
        .iter()
        .find(|l| l.environment == env.name)
        .or_else(|| shared.locks.iter().find(|l| l.environment == ALL_ENVIRONMENTS))
        .cloned();
    let mut open_windows = Vec::new();
    for window in shared.windows.iter().filter(|w| w.covers(&env.name)) {
        let current = window.current(now).map_err(|err| AppError::invalid(err.to_string()))?;
        if let Some(opening) = current {
            open_windows.push(OpenWindowView {
                name: window.name.clone(),
                until: opening.end.to_string(),
                applies_to: match window.applies_to {
                    AppliesTo::Automated => "automated",
                    AppliesTo::All => "all",
                }
                .to_owned(),
                reason: window.reason.clone(),
            });
        }
    }
    Ok(EnvironmentStatus {
        environment: env.name.clone(),
        packages: deployed_versions(history),
        locked,
        holds: shared.holds.iter().filter(|h| h.environment == env.name).cloned().collect(),
        open_windows,
        maintenance: shared
            .maintenance
            .iter()
            .filter(|m| env.nodes.contains(&m.node))
            .cloned()
            .collect(),
        disagreeing_nodes: Vec::new(),
        checked: false,
        running: running(history),
    })
}

/// Package → the newest succeeded deploy of it, from `history` (newest first).
fn deployed_versions(history: &[DeployRow]) -> BTreeMap<String, DeployedVersion> {
    let mut packages = BTreeMap::new();
    for row in history.iter().filter(|row| row.record.state == DeployState::Succeeded) {
        let record = &row.record;
        for (package, version) in &record.packages {
            packages.entry(package.clone()).or_insert_with(|| DeployedVersion {
                version: version.clone(),
                deployed_at: record
                    .finished_at
                    .clone()
                    .unwrap_or_else(|| record.started_at.clone()),
                deploy_id: row.id,
                deployed_by: record.started_by.clone(),
                overrides: record.overrides.iter().map(OverrideView::from).collect(),
            });
        }
    }
    packages
}

/// The newest deploy that is not over (planned, running, waiting or interrupted).
fn running(history: &[DeployRow]) -> Option<RunningDeployView> {
    let row = history.iter().find(|row| !row.record.state.is_final())?;
    let stage = row
        .record
        .stages
        .iter()
        .find(|s| !matches!(s.state.as_str(), "succeeded" | "failed" | "skipped"))
        .map(|s| s.name.clone());
    Some(RunningDeployView { id: row.id, state: row.record.state.as_str().to_owned(), stage })
}

/// Whether two versions are the same: dpkg's equality when both parse (`1.0` = `0:1.0`),
/// else the text.
fn same(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => match (a.parse::<Version>(), b.parse::<Version>()) {
            (Ok(va), Ok(vb)) => va == vb,
            _ => a == b,
        },
        (a, b) => a == b,
    }
}

/// What each package is expected to be: the recorded version, else the one most of the
/// readable nodes have; `None` when neither exists (never deployed, no single majority).
fn expected_versions(
    read: &[NodeVersions],
    recorded: &BTreeMap<String, String>,
    packages: &[String],
) -> BTreeMap<String, Option<Option<String>>> {
    let mut expected = BTreeMap::new();
    for package in packages {
        if let Some(version) = recorded.get(package) {
            expected.insert(package.clone(), Some(Some(version.clone())));
            continue;
        }
        let mut counts: Vec<(Option<String>, usize)> = Vec::new();
        for installed in read.iter().filter(|n| n.error.is_none()) {
            let version = installed.versions.get(package).cloned().flatten();
            match counts.iter_mut().find(|(v, _)| same(v.as_deref(), version.as_deref())) {
                Some((_, count)) => *count += 1,
                None => counts.push((version, 1)),
            }
        }
        counts.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        let majority = match counts.as_slice() {
            [(version, _)] => Some(version.clone()),
            [(version, first), (_, second), ..] if first > second => Some(version.clone()),
            _ => None,
        };
        expected.insert(package.clone(), majority);
    }
    expected
}

/// The nodes that disagree: unreadable ones with their error, and readable ones whose
/// version of a package differs from the expected one ([`expected_versions`]; with no
/// expectation, every node disagrees while the nodes do not all agree). Node order.
#[must_use]
pub fn disagreements(
    read: &[NodeVersions],
    recorded: &BTreeMap<String, String>,
    packages: &[String],
) -> Vec<DisagreeingNodeView> {
    let expected = expected_versions(read, recorded, packages);
    let unanimous = |package: &str| {
        let mut versions = read
            .iter()
            .filter(|n| n.error.is_none())
            .map(|n| n.versions.get(package).cloned().flatten());
        let first = versions.next().flatten();
        versions.all(|v| same(v.as_deref(), first.as_deref()))
    };
    let mut out = Vec::new();
    for node in read {
        let mut differs = BTreeMap::new();
        if node.error.is_none() {
            for package in packages {
                let have = node.versions.get(package).cloned().flatten();
                let want = expected.get(package).cloned().flatten();
                let bad = match &want {
                    Some(want) => !same(have.as_deref(), want.as_deref()),
                    None => !unanimous(package),
                };
                if bad {
                    differs.insert(package.clone(), want.flatten());
                }
            }
        }
        if node.error.is_some() || !differs.is_empty() {
            out.push(DisagreeingNodeView {
                node: node.node.clone(),
                versions: node.versions.clone(),
                expected: differs,
                error: node.error.clone(),
            });
        }
    }
    out
}

/// Which deploys `history` lists: of one environment or all, in one state or any.
#[derive(Debug, Default, Clone, Copy)]
pub struct HistoryFilter<'a> {
    pub environment: Option<&'a str>,
    /// A state as printed (`failed`, `interrupted`, …).
    pub state: Option<&'a str>,
}

impl<'a> HistoryFilter<'a> {
    /// Every deploy of `environment` (or of all), in any state.
    #[must_use]
    pub fn environment(environment: Option<&'a str>) -> HistoryFilter<'a> {
        HistoryFilter { environment, state: None }
    }

    /// Refuse an environment `inventory` does not have or a state there is not; the state
    /// the filter names, if any.
    pub fn check(&self, inventory: &Inventory) -> Result<Option<DeployState>> {
        if let Some(name) = self.environment {
            environment(inventory, name)?;
        }
        self.state.map(deploy_state).transpose()
    }
}

/// The state `text` names, or an error listing the states there are.
pub fn deploy_state(text: &str) -> Result<DeployState> {
    DeployState::from_stored(text).ok_or_else(|| {
        let states: Vec<&str> = DeployState::ALL.iter().map(|s| s.as_str()).collect();
        AppError::invalid(format!("no deploy state {text:?}: one of {}", states.join(", ")))
    })
}

/// The newest `limit` deploys that `filter` lets through, newest first.
pub async fn history(
    ctx: &Context,
    inventory: &Inventory,
    filter: HistoryFilter<'_>,
    limit: u32,
) -> Result<Vec<DeployView>> {
    let state = filter.check(inventory)?;
    // A deploy whose process died reads `interrupted`, not `running`.
    crate::deploy::reap(ctx).await?;
    let rows = match state {
        Some(state) => ctx.store().deploys_in_state(filter.environment, state, limit).await?,
        None => ctx.store().deploys(filter.environment, limit).await?,
    };
    Ok(rows.iter().map(DeployView::from).collect())
}

/// Whether no deploy is planned or running: then the history can only change by a write
/// (which bumps the store's deploy counter), not by a process dying.
pub async fn settled(ctx: &Context) -> Result<bool> {
    Ok(ctx.store().active_deploys().await?.is_empty())
}

/// One deploy in full: its record, every node's result and its events.
pub async fn show(ctx: &Context, id: i64) -> Result<DeployDetail> {
    // A deploy whose process died reads `interrupted`, not `running`.
    crate::deploy::reap(ctx).await?;
    let Some(row) = ctx.store().deploy(id).await? else {
        return Err(AppError::not_found(format!("no deploy {id}; `wharf history` lists them")));
    };
    let stage_name = |index: i64| {
        usize::try_from(index).ok().and_then(|i| row.record.stages.get(i)).map(|s| s.name.clone())
    };
    let nodes = ctx
        .store()
        .deploy_nodes(id)
        .await?
        .into_iter()
        .map(|run| NodeRunView { stage_name: stage_name(run.stage), run })
        .collect();
    let events = ctx
        .store()
        .events_of_deploy(id)
        .await?
        .into_iter()
        .map(|e| DeployEventView { id: e.id, at: e.at, kind: e.kind, body: e.body })
        .collect();
    Ok(DeployDetail { deploy: DeployView::from(&row), nodes, events })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, versions: &[(&str, Option<&str>)]) -> NodeVersions {
        NodeVersions {
            node: name.to_owned(),
            versions: versions
                .iter()
                .map(|(p, v)| ((*p).to_owned(), v.map(str::to_owned)))
                .collect(),
            error: None,
        }
    }

    fn check(read: &[NodeVersions], recorded: &[(&str, &str)], want: &[(&str, &str)]) {
        let recorded = recorded.iter().map(|(p, v)| ((*p).to_owned(), (*v).to_owned())).collect();
        let packages = vec!["app".to_owned()];
        let got: Vec<(String, String)> = disagreements(read, &recorded, &packages)
            .into_iter()
            .map(|d| {
                let what = match &d.error {
                    Some(error) => format!("error: {error}"),
                    None => format!("expected {:?}", d.expected.get("app").cloned().flatten()),
                };
                (d.node, what)
            })
            .collect();
        let want: Vec<(String, String)> =
            want.iter().map(|(n, w)| ((*n).to_owned(), (*w).to_owned())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn nodes_disagree_with_the_record_else_the_majority() {
        let a = |v: Option<&str>| node("a", &[("app", v)]);
        let b = |v: Option<&str>| node("b", &[("app", v)]);
        let c = |v: Option<&str>| node("c", &[("app", v)]);
        // All agree with the record (dpkg equality: 0:1.1 is 1.1).
        check(&[a(Some("1.1")), b(Some("0:1.1")), c(Some("1.1"))], &[("app", "1.1")], &[]);
        // The record wins over the majority.
        check(
            &[a(Some("1.0")), b(Some("1.0")), c(Some("1.1"))],
            &[("app", "1.1")],
            &[("a", "expected Some(\"1.1\")"), ("b", "expected Some(\"1.1\")")],
        );
        // Never deployed: the majority is expected; not installed counts as a version.
        check(&[a(Some("1.0")), b(None), c(Some("1.0"))], &[], &[("b", "expected Some(\"1.0\")")]);
        // No majority: every node is named, with no expectation.
        check(
            &[a(Some("1.0")), b(Some("1.1"))],
            &[],
            &[("a", "expected None"), ("b", "expected None")],
        );
        // Unreadable nodes are named with their error and do not vote.
        let mut down = c(None);
        down.versions.clear();
        down.error = Some("connection refused".into());
        check(&[a(Some("1.0")), b(Some("1.0")), down], &[], &[("c", "error: connection refused")]);
    }
}
