//! Deploys: `wharf deploy`, `rollback`, `resume`, `approve`, `cancel`.
//!
//! A deploy is decided first ([`prepare`]: the environment's pipeline planned for its
//! nodes, and every guard asked with the store's state at an injected instant — locks,
//! holds, change-lock windows, the promotion gate, downgrades), then recorded (a refused
//! one too, so history shows it), then run stage by stage under the environment's lease
//! ([`engine`]), writing each node's result as it goes so that a killed deploy can be
//! found ([`lifecycle::reap`]) and resumed without re-running the nodes that finished.
//!
//! - [`dry_run`]: the plan and the guards' answers, nothing recorded.
//! - `stages`: a plan (or a downgrade) as the steps the engine runs.
//! - `engine`: runs stages in order — checks, waits, approvals, holds, interruptions;
//!   `batches`: a stage on nodes, batch by batch, verified, with its failure limit.
//! - `prechecks`: the built-in checks (package published, fleet versions, maintenance)
//!   and the configured ones.
//! - [`lifecycle`]: start; `paused`: resume, approve, cancel; `lease`: one deploy per
//!   environment, and finding deploys whose owner died ([`reap`]).
//! - [`rollback`]: which version to go back to, and the rollback pipeline.

use std::collections::BTreeMap;
use std::str::FromStr as _;
use std::sync::Arc;

use jiff::Timestamp;
use wharf_core::config::{Config, ConfigSource};
use wharf_core::inventory::{Environment, Inventory};
use wharf_core::version::Version;
use wharf_deploy::gate::{self, DeployOutcome, Hold, Lock, Refusal};
use wharf_deploy::window::{Window, open_windows};
use wharf_deploy::{Pipelines, Plan};
use wharf_store::deploy::{DeployRow, DeployState};
use wharf_store::guard::ALL_ENVIRONMENTS;

use crate::context::Context;
use crate::error::{AppError, Result};
use crate::wire::RefusalView;

mod batches;
mod dry_run;
mod engine;
mod lease;
pub(crate) use lease::owner as lease_owner;
pub mod lifecycle;
mod paused;
mod prechecks;
pub mod rollback;
mod stages;

pub use dry_run::dry_run;
pub use lease::{interrupt_own, reap};
pub use lifecycle::{DeployReport, Notice, Session, start};
pub use paused::{approve, cancel, resume};
pub use rollback::{RollbackRequest, rollback};

/// The clock a deploy reads: windows are checked against it when the deploy starts and
/// before each later stage. Tests pass a scripted one; the CLI the system clock (or a
/// fixed `--at`).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock.
#[must_use]
pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}

/// What `wharf deploy` asks for.
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    /// Package → version: the environment's packages at VERSION, or `PKG=VERSION` words.
    pub packages: BTreeMap<String, String>,
    pub environment: String,
    /// `None`: the environment's pipeline (`upgrade` unless configured).
    pub pipeline: Option<String>,
    /// `--ignore-production-checks REASON`.
    pub ignore_production_checks: Option<String>,
    pub allow_precheck_failure: bool,
    /// Started by CI or a timer: change-lock windows with `applies_to = "automated"` apply.
    pub automated: bool,
    /// `--downgrade`: stop, install the older version, reconfigure, start, verify.
    pub downgrade: bool,
    /// `--hold`: hold the packages on the environment once deployed.
    pub hold: bool,
    /// `--issue URL`: the issue the deploy belongs to, quoted in its announcements.
    pub issue: Option<String>,
}

/// `VERSION ENV`, `ENV VERSION` or `PKG=VERSION… ENV` (in any order), as ChatOps accepts
/// them: the one word that names an environment is the environment; a bare version means
/// every package the environment deploys. Returns (package → version, environment).
pub fn parse_targets(
    inventory: &Inventory,
    words: &[String],
) -> Result<(BTreeMap<String, String>, String)> {
    let is_env = |word: &str| inventory.environments().iter().any(|env| env.name == word);
    let known = || {
        inventory.environments().iter().map(|env| env.name.as_str()).collect::<Vec<_>>().join(", ")
    };
    let envs: Vec<&String> = words.iter().filter(|w| is_env(w)).collect();
    let environment = match envs.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(AppError::not_found(format!(
                "none of {} is an environment (known: {})",
                words.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(", "),
                known()
            )));
        }
        _ => {
            return Err(AppError::invalid(format!(
                "{} are all environments: deploy to one at a time",
                envs.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
    };
    let rest: Vec<&String> = words.iter().filter(|w| !is_env(w)).collect();
    let env = environment_named(inventory, &environment)?;
    let mut packages = BTreeMap::new();
    match rest.as_slice() {
        [] => return Err(AppError::invalid("give a version (or PKG=VERSION) to deploy")),
        [version] if !version.contains('=') => {
            if env.packages.is_empty() {
                return Err(AppError::invalid(format!(
                    "environment {environment} names no packages: add `packages = [\"…\"]` to its [[environments]] entry, or deploy PKG=VERSION"
                )));
            }
            let version = parse_version(version)?;
            for package in &env.packages {
                packages.insert(package.clone(), version.to_string());
            }
        }
        pins => {
            for pin in pins {
                let Some((name, version)) = pin.split_once('=') else {
                    return Err(AppError::invalid(format!(
                        "{pin:?}: give either one VERSION or PKG=VERSION words, not both"
                    )));
                };
                name.parse::<wharf_deploy::command::PackageName>()
                    .map_err(|err| AppError::invalid(err.to_string()))?;
                let version = parse_version(version)?;
                if packages.insert(name.to_owned(), version.to_string()).is_some() {
                    return Err(AppError::invalid(format!("{name} is given twice")));
                }
            }
        }
    }
    Ok((packages, environment))
}

fn parse_version(text: &str) -> Result<Version> {
    text.parse::<Version>()
        .map_err(|err| AppError::invalid(format!("{text:?} is not a Debian version: {err}")))
}

pub(crate) fn environment_named<'a>(
    inventory: &'a Inventory,
    name: &str,
) -> Result<&'a Environment> {
    inventory.environments().iter().find(|env| env.name == name).ok_or_else(|| {
        AppError::not_found(format!(
            "no environment named {name:?} (known: {})",
            inventory.environments().iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")
        ))
    })
}

pub(crate) fn instant(text: &str) -> Timestamp {
    // The store writes RFC 3339 UTC; an unreadable one sorts first rather than failing.
    Timestamp::from_str(text).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A finished deploy as the guards see it.
pub(crate) fn outcome(row: &DeployRow) -> DeployOutcome {
    let record = &row.record;
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
        environment: record.environment.clone(),
    }
}

/// The guards' view of the store: locks, holds, and the outcome of every finished deploy.
pub(crate) async fn guard_state(
    ctx: &Context,
    now: Timestamp,
) -> Result<(Vec<Lock>, Vec<Hold>, Vec<DeployOutcome>)> {
    let locks = crate::guard::active_locks(ctx, now)
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
        .iter()
        .filter(|row| row.record.state.is_final())
        .map(outcome)
        .collect();
    Ok((locks, holds, history))
}

pub(crate) fn refusal_view(refusal: Refusal) -> RefusalView {
    RefusalView { guard: refusal.guard.to_string(), message: refusal.message, lift: refusal.lift }
}

/// What the environment runs now, by the store's record: each package at the version of
/// the newest successful deploy that set it.
pub(crate) fn current_versions(
    history: &[DeployOutcome],
    environment: &str,
) -> BTreeMap<String, Version> {
    let mut ours: Vec<&DeployOutcome> =
        history.iter().filter(|o| o.environment == environment && o.succeeded).collect();
    ours.sort_by_key(|o| o.finished_at);
    let mut current = BTreeMap::new();
    for outcome in ours {
        current.extend(outcome.packages.iter().map(|(p, v)| (p.clone(), v.clone())));
    }
    current
}

/// A deploy decided: the plan, and every guard that refuses it.
pub(crate) struct Prepared<'a> {
    pub environment: &'a Environment,
    pub packages: BTreeMap<String, Version>,
    pub previous: BTreeMap<String, Version>,
    pub plan: Plan,
    pub refusals: Vec<RefusalView>,
}

/// How a prepared deploy came about: a deploy asks every guard; a rollback has passed its
/// own guards (target, review, point of no return) and goes back by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Deploy,
    Rollback,
}

/// Plan the deploy and ask every guard, at `now`.
pub(crate) async fn prepare<'a>(
    ctx: &Context,
    config: &Config,
    source: &ConfigSource,
    inventory: &'a Inventory,
    request: &DeployRequest,
    purpose: Purpose,
    now: Timestamp,
) -> Result<Prepared<'a>> {
    let environment = environment_named(inventory, &request.environment)?;
    let packages: BTreeMap<String, Version> = request
        .packages
        .iter()
        .map(|(name, version)| Ok((name.clone(), parse_version(version)?)))
        .collect::<Result<_>>()?;
    let Some(first) = packages.values().next().cloned() else {
        return Err(AppError::invalid("nothing to deploy: give a version"));
    };
    let pipelines = Pipelines::resolve(config, source, inventory)?;
    let pipeline = match (&request.pipeline, purpose) {
        (Some(name), _) => pipelines
            .get(name)
            .ok_or_else(|| AppError::not_found(format!("no pipeline named {name:?}")))?,
        (None, Purpose::Deploy) => {
            pipelines.deploy_pipeline(&environment.name).ok_or_else(|| {
                AppError::internal(format!("{} has no deploy pipeline", environment.name))
            })?
        }
        (None, Purpose::Rollback) => {
            pipelines.rollback_pipeline(&environment.name).ok_or_else(|| {
                AppError::internal(format!("{} has no rollback pipeline", environment.name))
            })?
        }
    }
    .clone();
    let plan_request = wharf_deploy::DeployRequest {
        version: first,
        allow_precheck_failure: request.allow_precheck_failure,
    };
    let mut plan = wharf_deploy::plan(environment, &pipeline, inventory, &plan_request)
        .map_err(|err| AppError::invalid(err.to_string()))?;
    plan.packages = packages.keys().cloned().collect();

    let (locks, holds, history) = guard_state(ctx, now).await?;
    let previous = current_versions(&history, &environment.name);
    let names: Vec<String> = packages.keys().cloned().collect();
    let mut decisions = vec![
        gate::deploy_lock(&environment.name, &locks, now),
        gate::hold(&environment.name, &names, &holds, now),
    ];
    if purpose == Purpose::Deploy {
        let mut versions: Vec<&Version> = packages.values().collect();
        versions.dedup();
        for version in versions {
            decisions.push(gate::promotion_gate(
                environment,
                version,
                &history,
                request.ignore_production_checks.as_deref(),
            ));
        }
        for (package, version) in &packages {
            let installed: BTreeMap<String, Version> = previous
                .get(package)
                .map(|v| (format!("{} (recorded for {package})", environment.name), v.clone()))
                .into_iter()
                .collect();
            decisions.push(gate::downgrade(version, &installed, request.downgrade));
        }
    }
    let mut refusals: Vec<RefusalView> =
        decisions.into_iter().filter_map(Result::err).map(refusal_view).collect();
    refusals.extend(window_refusals(config, source, &environment.name, request.automated, now)?);
    Ok(Prepared { environment, packages, previous, plan, refusals })
}

/// The stages a deploy runs: the downgrade flow for `--downgrade` (unless a pipeline is
/// named), its pipeline's planned stages otherwise; and the pipeline name recorded.
pub(crate) async fn plan_stages<'a>(
    ctx: &Context,
    config: &Config,
    source: &ConfigSource,
    inventory: &'a Inventory,
    request: &DeployRequest,
    purpose: Purpose,
    now: Timestamp,
) -> Result<(Prepared<'a>, String, Vec<stages::ExecStage>)> {
    let prepared = prepare(ctx, config, source, inventory, request, purpose, now).await?;
    if request.downgrade && purpose == Purpose::Deploy && request.pipeline.is_none() {
        let list = stages::downgrade(
            prepared.environment,
            inventory,
            request.allow_precheck_failure,
            request.hold,
        );
        return Ok((prepared, stages::DOWNGRADE_PIPELINE.to_owned(), list));
    }
    let list = stages::from_plan(&prepared.plan);
    let name = prepared.plan.pipeline.clone();
    Ok((prepared, name, list))
}

/// The change-lock windows open at `now` that refuse this deploy.
pub(crate) fn window_refusals(
    config: &Config,
    source: &ConfigSource,
    environment: &str,
    automated: bool,
    now: Timestamp,
) -> Result<Vec<RefusalView>> {
    let windows = Window::from_config(config, source)?;
    let blocking = open_windows(&windows, environment, automated, now)
        .map_err(|err| AppError::invalid(err.to_string()))?;
    Ok(blocking
        .into_iter()
        .map(|block| RefusalView {
            guard: "window".to_owned(),
            message: format!(
                "change-lock window {} is open until {}{}",
                block.window.name,
                block.opening.end,
                block.window.reason.as_ref().map(|r| format!(" ({r:?})")).unwrap_or_default()
            ),
            lift: if block.window.refuses(false) {
                format!("wait until {}", block.opening.end)
            } else {
                format!(
                    "wait until {}, or deploy by hand (not --automated): it applies only to automated deploys",
                    block.opening.end
                )
            },
        })
        .collect())
}
