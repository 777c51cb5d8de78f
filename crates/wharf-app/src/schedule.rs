//! `[[schedules]]`: what the server runs by itself (seed 000's nightly deploy at 07:20 UTC).
//!
//! [`due`] asks, for every schedule at an injected instant, whether a fire time has come
//! (`wharf_deploy::schedule::due`), and claims it in the store — of several servers on one
//! database exactly one wins each fire time. A fire time missed while no server was up is
//! claimed as `missed` and audited, never replayed. [`run`] carries a claimed fire time out
//! as `schedule:NAME` (`via: schedule`), an automated identity: change-lock windows apply.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use jiff::Timestamp;
use serde_json::json;
use wharf_core::config::{ScheduleAction, ScheduleSettings};
use wharf_core::version::Version;
use wharf_deploy::schedule::{Due, GRACE};
use wharf_store::AptKind;

use crate::context::{Actor, Context, Via};
use crate::deploy::{DeployRequest, Session};
use crate::error::{AppError, Result};
use crate::guard::stamp;
use crate::wire::ScheduleView;

/// A fire time this server won and must run.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub schedule: ScheduleSettings,
    pub fire: Timestamp,
}

fn describe(action: &ScheduleAction) -> String {
    match action {
        ScheduleAction::Deploy(deploy) => format!(
            "deploy {}{} {}",
            deploy.environment,
            deploy.package.as_ref().map(|p| format!(" {p}")).unwrap_or_default(),
            deploy.version
        ),
        ScheduleAction::Publish(repository) => format!("publish {repository}"),
    }
}

fn time_error(schedule: &ScheduleSettings, err: &jiff::Error) -> AppError {
    AppError::internal(format!("schedule {}: {err}", schedule.name))
}

/// Every schedule with its last run and its next fire time after `now`.
pub async fn list(
    ctx: &Context,
    schedules: &[ScheduleSettings],
    now: Timestamp,
) -> Result<Vec<ScheduleView>> {
    let runs: BTreeMap<String, wharf_store::schedule::ScheduleRun> =
        ctx.store().schedule_runs().await?.into_iter().map(|r| (r.name.clone(), r)).collect();
    schedules
        .iter()
        .map(|s| {
            let run = runs.get(&s.name);
            let next = wharf_core::cron::next_fire(&s.cron, &s.timezone, now)
                .map_err(|err| time_error(s, &err))?;
            Ok(ScheduleView {
                name: s.name.clone(),
                cron: s.cron.to_string(),
                timezone: s.timezone_name.clone(),
                action: describe(&s.action),
                last_fire: run.map(|r| r.last_fire.clone()),
                last_result: run.map(|r| r.result.clone()),
                last_finished: run.and_then(|r| r.finished_at.clone()),
                next_fire: next.map(stamp),
            })
        })
        .collect()
}

/// Which schedules this server runs now: every due fire time it won the claim for.
/// Missed fire times are claimed and audited as `schedule.missed`.
pub async fn due(
    ctx: &Context,
    schedules: &[ScheduleSettings],
    server: &str,
    now: Timestamp,
) -> Result<Vec<Claimed>> {
    let runs: BTreeMap<String, String> =
        ctx.store().schedule_runs().await?.into_iter().map(|r| (r.name, r.last_fire)).collect();
    let mut claimed = Vec::new();
    for schedule in schedules {
        let last = runs
            .get(&schedule.name)
            .map(|at| Timestamp::from_str(at).unwrap_or(Timestamp::UNIX_EPOCH));
        let decision =
            wharf_deploy::schedule::due(&schedule.cron, &schedule.timezone, last, now, GRACE)
                .map_err(|err| time_error(schedule, &err))?;
        match decision {
            Due::Wait { .. } => {}
            Due::Run(fire) => {
                if ctx
                    .store()
                    .claim_schedule(&schedule.name, &stamp(fire), server, "running")
                    .await?
                {
                    claimed.push(Claimed { schedule: schedule.clone(), fire });
                }
            }
            Due::Missed(fire) => {
                if ctx
                    .store()
                    .claim_schedule(&schedule.name, &stamp(fire), server, "missed")
                    .await?
                {
                    tracing::warn!(schedule = %schedule.name, fire = %fire, "missed while no server was up: skipped, not replayed");
                    let entry = ctx
                        .entry("schedule.missed", &schedule.name, json!({ "fire": stamp(fire) }))
                        .reason("no server was up at the fire time; skipped, not replayed");
                    ctx.store().append_audit(entry).await?;
                }
            }
        }
    }
    Ok(claimed)
}

/// The actor a schedule acts as.
#[must_use]
pub fn actor(schedule: &ScheduleSettings) -> Actor {
    Actor {
        name: format!("schedule:{}", schedule.name),
        via: Via::Schedule { name: schedule.name.clone() },
    }
}

/// Carry out a claimed fire time; `session.ctx` must act as [`actor`]. The result is
/// recorded with the claim (and the deploy or publish audits itself).
pub async fn run(session: &Session<'_>, claimed: &Claimed) -> Result<String> {
    let outcome = carry_out(session, &claimed.schedule).await;
    let result = match &outcome {
        Ok(result) => result.clone(),
        Err(err) => format!("failed: {err}"),
    };
    session
        .ctx
        .store()
        .finish_schedule(
            &claimed.schedule.name,
            &stamp(claimed.fire),
            &result,
            &wharf_store::now_rfc3339(),
        )
        .await?;
    outcome
}

async fn carry_out(session: &Session<'_>, schedule: &ScheduleSettings) -> Result<String> {
    match &schedule.action {
        ScheduleAction::Publish(repository) => {
            let request = crate::publish::PublishRequest {
                kind: AptKind::Repo,
                source: repository.clone(),
                prefix: None,
                to_dir: None,
            };
            crate::publish::publish(session.ctx, request, &crate::progress::Silent).await?;
            Ok("succeeded".to_owned())
        }
        ScheduleAction::Deploy(deploy) => {
            let inventory = session.fleet.inventory;
            let environment = crate::deploy::environment_named(inventory, &deploy.environment)?;
            let packages: Vec<String> = match &deploy.package {
                Some(package) => vec![package.clone()],
                None => environment.packages.clone(),
            };
            let mut pins = BTreeMap::new();
            for package in packages {
                let version = if deploy.version == "latest" {
                    newest(session.ctx, environment.repository.as_deref(), &package).await?
                } else {
                    deploy.version.clone()
                };
                pins.insert(package, version);
            }
            let request = DeployRequest {
                packages: pins,
                environment: environment.name.clone(),
                pipeline: deploy.pipeline.clone(),
                automated: true,
                ..DeployRequest::default()
            };
            let report = crate::deploy::start(session, &request).await?;
            let state = report.deploy.state;
            Ok(match report.deploy.reason {
                Some(reason) if state != "succeeded" => {
                    format!("{state}: deploy {}: {reason}", report.deploy.id)
                }
                _ => format!("{state}: deploy {}", report.deploy.id),
            })
        }
    }
}

/// The newest version (dpkg order) of `package` in `repository`.
async fn newest(ctx: &Context, repository: Option<&str>, package: &str) -> Result<String> {
    let Some(repository) = repository else {
        return Err(AppError::invalid(
            "version = \"latest\" needs the environment's `repository` to look in",
        ));
    };
    let members =
        ctx.store().apt_members_named(AptKind::Repo, repository, &[package.to_owned()]).await?;
    members
        .iter()
        .filter_map(|m| m.version.parse::<Version>().ok())
        .max()
        .map(|v| v.to_string())
        .ok_or_else(|| AppError::not_found(format!("{repository} has no version of {package}")))
}
