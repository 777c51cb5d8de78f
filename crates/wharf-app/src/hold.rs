//! `wharf hold|unhold|holds`: a package held on an environment is recorded first — from
//! then on deploys of it there are refused — and then held on the environment's nodes with
//! the configured `hold` command (`apt-mark hold` by default), as in seed 000's runbook
//! for a broken nightly. Node failures are reported with the nodes named; the record
//! stays, so the guard holds even where a node could not be reached.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use wharf_core::inventory::Inventory;
use wharf_core::nodeset::NodeSet;
use wharf_core::template::CommandKey;
use wharf_deploy::command::{PackageName, Reason, Values, expand_step};
use wharf_exec::{Action, NodeResult};
use wharf_store::guard::PackageHold;

use crate::context::Context;
use crate::error::{AppError, Result};
use crate::fleet::{Fleet, FleetRequest};
use crate::wire::{HoldDisagreement, HoldReport, HoldsCheck};

fn environment_nodes(inventory: &Inventory, environment: &str) -> Result<Vec<String>> {
    inventory
        .environments()
        .iter()
        .find(|env| env.name == environment)
        .map(|env| env.nodes.clone())
        .ok_or_else(|| AppError::not_found(format!("no environment named {environment:?}")))
}

fn package_name(text: &str) -> Result<PackageName> {
    text.parse()
        .map_err(|err: wharf_deploy::command::ValueError| AppError::invalid(err.to_string()))
}

/// Run the `key` command for `package` on the environment's nodes, if the step has one.
async fn run_step(
    ctx: &Context,
    fleet: Fleet<'_>,
    environment: &str,
    nodes: &[String],
    key: CommandKey,
    values: &Values<'_>,
) -> Result<Vec<NodeResult>> {
    let templates = fleet.config.commands_for(Some(environment), fleet.source)?;
    let Some(command) =
        expand_step(&templates, key, values).map_err(|err| AppError::internal(err.to_string()))?
    else {
        return Ok(Vec::new());
    };
    let request = FleetRequest { nodes: vec![nodes.join(",")], ..FleetRequest::default() };
    let targets = crate::fleet::targets(fleet.inventory, &fleet.config.ssh, fleet.env, &request)?;
    let action = Action::Run(command.into_string());
    let report = crate::fleet::execute(ctx, targets, action, fleet.options.clone(), None).await?;
    Ok(report.results)
}

fn report(
    environment: &str,
    package: &str,
    reason: Option<String>,
    results: Vec<NodeResult>,
    audit_id: i64,
) -> HoldReport {
    let fold = |keep: &dyn Fn(&NodeResult) -> bool| {
        NodeSet::from_names(results.iter().filter(|r| keep(r)).map(|r| r.node.clone())).fold()
    };
    HoldReport {
        environment: environment.to_owned(),
        package: package.to_owned(),
        reason,
        succeeded: fold(&|r| r.outcome.is_success()),
        failed: results
            .iter()
            .filter(|r| !r.outcome.is_success())
            .map(crate::wire::NodeResultView::from)
            .collect(),
        audit_id,
    }
}

/// Hold `package` on `environment`: recorded (refused if already held), then held on
/// every node of the environment.
pub async fn hold(
    ctx: &Context,
    fleet: Fleet<'_>,
    environment: &str,
    package: &str,
    reason: &str,
) -> Result<(HoldReport, Vec<NodeResult>)> {
    let nodes = environment_nodes(fleet.inventory, environment)?;
    let name = package_name(package)?;
    let why: Reason = reason
        .parse()
        .map_err(|_| AppError::invalid("a hold must say why: give a non-empty --reason"))?;
    let existing = ctx.store().holds().await?;
    if let Some(held) =
        existing.iter().find(|h| h.environment == environment && h.package == package)
    {
        return Err(AppError::conflict(format!(
            "{package} is already held on {environment} by {} since {} ({:?}); `wharf unhold {package} --env {environment}` first",
            held.holder, held.since, held.reason
        )));
    }
    let record = PackageHold {
        environment: environment.to_owned(),
        package: package.to_owned(),
        holder: ctx.actor().name.clone(),
        reason: reason.trim().to_owned(),
        since: wharf_store::now_rfc3339(),
    };
    let mut entry = ctx.entry("hold", environment, json!({ "package": package }));
    entry.reason = Some(record.reason.clone());
    let Some(audit) = ctx.store().hold_package(&record, &entry).await? else {
        return Err(AppError::conflict(format!("{package} was held on {environment} meanwhile")));
    };
    let values = Values { package: Some(&name), reason: Some(&why), ..Values::default() };
    let results = run_step(ctx, fleet, environment, &nodes, CommandKey::Hold, &values).await?;
    let report = report(environment, package, Some(record.reason), results.clone(), audit.id);
    Ok((report, results))
}

/// Unhold `package` on `environment`: the record goes, then the nodes' holds.
pub async fn unhold(
    ctx: &Context,
    fleet: Fleet<'_>,
    environment: &str,
    package: &str,
) -> Result<(HoldReport, Vec<NodeResult>)> {
    let nodes = environment_nodes(fleet.inventory, environment)?;
    let name = package_name(package)?;
    let entry = ctx.entry("unhold", environment, json!({ "package": package }));
    let Some(audit) = ctx.store().unhold_package(environment, package, &entry).await? else {
        return Err(AppError::not_found(format!(
            "{package} is not held on {environment} (see `wharf holds`)"
        )));
    };
    let values = Values { package: Some(&name), ..Values::default() };
    let results = run_step(ctx, fleet, environment, &nodes, CommandKey::Unhold, &values).await?;
    let report = report(environment, package, None, results.clone(), audit.id);
    Ok((report, results))
}

/// Every recorded hold.
pub async fn holds(ctx: &Context) -> Result<Vec<PackageHold>> {
    Ok(ctx.store().holds().await?)
}

/// `wharf holds --check`: ask every environment's nodes what they hold (the `holds`
/// command, `apt-mark showhold` by default) and name the nodes that disagree with the
/// recorded holds. A node is expected to hold what is recorded on any environment it is in,
/// and judged only on the packages those environments deploy or hold — holds operators
/// keep for other packages are not Wharf's business.
pub async fn check(ctx: &Context, fleet: Fleet<'_>) -> Result<HoldsCheck> {
    let holds = ctx.store().holds().await?;
    let environments = fleet.inventory.environments();
    // Node → (expected holds, packages judged).
    let mut judged: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for environment in environments {
        for node in &environment.nodes {
            let (expected, relevant) = judged.entry(node.as_str()).or_default();
            for hold in holds.iter().filter(|h| h.environment == environment.name) {
                expected.insert(hold.package.as_str());
                relevant.insert(hold.package.as_str());
            }
            relevant.extend(environment.packages.iter().map(String::as_str));
        }
    }
    let mut asked = BTreeSet::new();
    let mut disagreeing = Vec::new();
    for environment in environments {
        let nodes: Vec<String> = environment
            .nodes
            .iter()
            .filter(|n| judged.get(n.as_str()).is_some_and(|(_, r)| !r.is_empty()))
            .filter(|n| asked.insert(n.as_str()))
            .cloned()
            .collect();
        if nodes.is_empty() {
            continue;
        }
        let values = Values::default();
        let results =
            run_step(ctx, fleet, &environment.name, &nodes, CommandKey::Holds, &values).await?;
        for result in results {
            let Some((expected, relevant)) = judged.get(result.node.as_str()) else { continue };
            let disagreement = |not_held, unrecorded, error| HoldDisagreement {
                node: result.node.clone(),
                environment: environment.name.clone(),
                not_held,
                unrecorded,
                error,
            };
            if !result.outcome.is_success() {
                disagreeing.push(disagreement(vec![], vec![], Some(result.outcome.describe())));
                continue;
            }
            let stdout = String::from_utf8_lossy(&result.stdout);
            let held: BTreeSet<&str> =
                stdout.split_whitespace().filter(|p| relevant.contains(p)).collect();
            let not_held: Vec<String> =
                expected.difference(&held).map(|p| (*p).to_owned()).collect();
            let unrecorded: Vec<String> =
                held.difference(expected).map(|p| (*p).to_owned()).collect();
            if !not_held.is_empty() || !unrecorded.is_empty() {
                disagreeing.push(disagreement(not_held, unrecorded, None));
            }
        }
    }
    Ok(HoldsCheck { holds, disagreeing_nodes: disagreeing })
}
