//! `wharf deploy VERSION ENV --dry-run`: what a deploy would do and whether the guard
//! rails let it — the environment's pipeline planned for its nodes (stages, batches,
//! waits, skips) and every guard asked with the store's state and an injected clock:
//! locks, holds, change-lock windows, the promotion gate. Running the plan is the next
//! step of the deployment engine; this is the part that decides.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use jiff::Timestamp;
use wharf_core::config::{Config, ConfigSource};
use wharf_core::inventory::Inventory;
use wharf_core::nodeset::NodeSet;
use wharf_core::version::Version;
use wharf_deploy::gate::{self, DeployOutcome, Hold, Lock, Refusal};
use wharf_deploy::window::{Window, open_windows};
use wharf_deploy::{Pipelines, StageRun};
use wharf_store::deploy::DeployState;
use wharf_store::guard::ALL_ENVIRONMENTS;

use crate::context::Context;
use crate::error::{AppError, Result};
use crate::wire::{DryRunReport, PlannedStageView, RefusalView};

/// What `wharf deploy` asks for.
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    pub version: String,
    pub environment: String,
    /// `None`: the environment's pipeline (`upgrade` unless configured).
    pub pipeline: Option<String>,
    /// `--ignore-production-checks REASON`.
    pub ignore_production_checks: Option<String>,
    pub allow_precheck_failure: bool,
    /// Started by CI or a timer: change-lock windows with `applies_to = "automated"` apply.
    pub automated: bool,
}

/// `VERSION ENV` or `ENV VERSION`, as ChatOps accepts them: the word that names an
/// environment is the environment.
pub fn version_and_environment(
    inventory: &Inventory,
    a: &str,
    b: &str,
) -> Result<(String, String)> {
    let is_env = |word: &str| inventory.environments().iter().any(|env| env.name == word);
    match (is_env(a), is_env(b)) {
        (false, true) => Ok((a.to_owned(), b.to_owned())),
        (true, false) => Ok((b.to_owned(), a.to_owned())),
        (true, true) => Err(AppError::invalid(format!(
            "both {a:?} and {b:?} are environments: give a version and an environment"
        ))),
        (false, false) => Err(AppError::not_found(format!(
            "neither {a:?} nor {b:?} is an environment (known: {})",
            inventory
                .environments()
                .iter()
                .map(|env| env.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn instant(text: &str) -> Timestamp {
    // The store writes RFC 3339 UTC; an unreadable one sorts first rather than failing.
    Timestamp::from_str(text).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The guards' view of the store: locks, holds, and the outcome of every finished deploy.
async fn guard_state(ctx: &Context) -> Result<(Vec<Lock>, Vec<Hold>, Vec<DeployOutcome>)> {
    let locks = ctx
        .store()
        .locks()
        .await?
        .into_iter()
        .map(|l| Lock {
            environment: (l.environment != ALL_ENVIRONMENTS).then_some(l.environment),
            holder: l.holder,
            reason: l.reason,
            since: instant(&l.since),
        })
        .collect();
    let holds = ctx
        .store()
        .holds()
        .await?
        .into_iter()
        .map(|h| Hold {
            package: h.package,
            environment: h.environment,
            holder: h.holder,
            reason: h.reason,
            since: instant(&h.since),
        })
        .collect();
    let history = ctx
        .store()
        .deploys(None, 10_000)
        .await?
        .into_iter()
        .filter(|row| row.record.state.is_final())
        .map(|row| {
            let record = row.record;
            DeployOutcome {
                packages: record
                    .packages
                    .iter()
                    .filter_map(|(name, version)| Some((name.clone(), version.parse().ok()?)))
                    .collect::<BTreeMap<String, Version>>(),
                succeeded: record.state == DeployState::Succeeded,
                ran_point_of_no_return: record
                    .stages
                    .iter()
                    .find(|s| s.point_of_no_return && s.state == "succeeded")
                    .map(|s| s.name.clone()),
                finished_at: instant(record.finished_at.as_deref().unwrap_or(&record.started_at)),
                environment: record.environment,
            }
        })
        .collect();
    Ok((locks, holds, history))
}

fn refusal(refusal: Refusal) -> RefusalView {
    RefusalView { guard: refusal.guard.to_string(), message: refusal.message, lift: refusal.lift }
}

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
    let environment =
        inventory.environments().iter().find(|env| env.name == request.environment).ok_or_else(
            || AppError::not_found(format!("no environment named {:?}", request.environment)),
        )?;
    let version: Version = request.version.parse()?;
    if environment.packages.is_empty() {
        return Err(AppError::invalid(format!(
            "environment {} names no packages: add `packages = [\"…\"]` to its [[environments]] entry",
            environment.name
        )));
    }
    let pipelines = Pipelines::resolve(config, source, inventory)?;
    let pipeline = match &request.pipeline {
        Some(name) => pipelines
            .get(name)
            .ok_or_else(|| AppError::not_found(format!("no pipeline named {name:?}")))?,
        None => pipelines.deploy_pipeline(&environment.name).ok_or_else(|| {
            AppError::internal(format!("{} has no deploy pipeline", environment.name))
        })?,
    };
    let plan_request = wharf_deploy::DeployRequest {
        version: version.clone(),
        allow_precheck_failure: request.allow_precheck_failure,
    };
    let plan = wharf_deploy::plan(environment, pipeline, inventory, &plan_request)
        .map_err(|err| AppError::invalid(err.to_string()))?;

    let (locks, holds, history) = guard_state(ctx).await?;
    let mut refusals = Vec::new();
    let decisions = [
        gate::deploy_lock(&environment.name, &locks, now),
        gate::hold(&environment.name, &environment.packages, &holds, now),
        gate::promotion_gate(
            environment,
            &version,
            &history,
            request.ignore_production_checks.as_deref(),
        ),
    ];
    refusals.extend(decisions.into_iter().filter_map(Result::err).map(refusal));
    let windows = Window::from_config(config, source)?;
    let blocking = open_windows(&windows, &environment.name, request.automated, now)
        .map_err(|err| AppError::invalid(err.to_string()))?;
    for block in blocking {
        refusals.push(RefusalView {
            guard: "window".to_owned(),
            message: format!(
                "change-lock window {} is open until {}{}",
                block.window.name,
                block.opening.end,
                block.window.reason.as_ref().map(|r| format!(" ({r:?})")).unwrap_or_default()
            ),
            lift: format!("wait until {}, or deploy by hand (not --automated) if it applies only to automated deploys", block.opening.end),
        });
    }
    let stages = plan
        .stages
        .iter()
        .map(|stage| {
            let (run, note) = match &stage.run {
                StageRun::Run => ("run", None),
                StageRun::AwaitApproval => ("wait", Some("waits for `wharf approve`".to_owned())),
                StageRun::Skip(why) => ("skip", Some(why.clone())),
            };
            PlannedStageView {
                name: stage.name.clone(),
                kind: stage.action.kind().to_string(),
                nodes: NodeSet::from_names(stage.nodes.iter().cloned()).fold(),
                count: stage.nodes.len(),
                batches: stage.batches.len(),
                run,
                note,
                point_of_no_return: stage.point_of_no_return,
            }
        })
        .collect();
    Ok(DryRunReport {
        environment: environment.name.clone(),
        pipeline: plan.pipeline.clone(),
        version: version.to_string(),
        packages: plan.packages.clone(),
        automated: request.automated,
        stages,
        refusals,
    })
}
