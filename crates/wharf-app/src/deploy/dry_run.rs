//! `wharf deploy … --dry-run`: the plan and every guard's answer, nothing recorded.

use jiff::Timestamp;
use wharf_core::config::{Config, ConfigSource};
use wharf_core::inventory::Inventory;
use wharf_core::nodeset::NodeSet;
use wharf_deploy::StageRun;

use super::{DeployRequest, Purpose, plan_stages};
use crate::context::Context;
use crate::error::Result;
use crate::wire::{DryRunReport, PlannedStageView};

/// Plan the deploy and ask every guard, at `now`. Refusals are the report (the CLI exits
/// 4 when there are any); errors are for what cannot be planned at all.
pub async fn dry_run(
    ctx: &Context,
    config: &Config,
    source: &ConfigSource,
    inventory: &Inventory,
    request: &DeployRequest,
    now: Timestamp,
) -> Result<DryRunReport> {
    let (prepared, pipeline, exec) =
        plan_stages(ctx, config, source, inventory, request, Purpose::Deploy, now).await?;
    let stages = exec
        .iter()
        .map(|stage| {
            let (run, note) = match &stage.run {
                StageRun::Run => ("run", None),
                StageRun::AwaitApproval => ("wait", Some("waits for `wharf approve`".to_owned())),
                StageRun::Skip(why) => ("skip", Some(why.clone())),
            };
            PlannedStageView {
                name: stage.name.clone(),
                kind: stage.step.kind(),
                nodes: NodeSet::from_names(stage.nodes.iter().cloned()).fold(),
                count: stage.nodes.len(),
                batches: stage.batches.len(),
                run: run.to_owned(),
                note,
                point_of_no_return: stage.point_of_no_return,
            }
        })
        .collect();
    Ok(DryRunReport {
        environment: prepared.environment.name.clone(),
        pipeline,
        version: describe(&prepared.packages),
        packages: prepared.packages.keys().cloned().collect(),
        automated: request.automated,
        stages,
        refusals: prepared.refusals,
    })
}

/// `1.2-1` when every package goes to one version, `a=1.2-1, b=3.0` otherwise.
pub(crate) fn describe(
    packages: &std::collections::BTreeMap<String, wharf_core::version::Version>,
) -> String {
    let mut versions: Vec<String> = packages.values().map(ToString::to_string).collect();
    versions.dedup();
    match versions.as_slice() {
        [one] => one.clone(),
        _ => packages.iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(", "),
    }
}
