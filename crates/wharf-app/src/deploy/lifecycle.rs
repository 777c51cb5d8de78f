//! Starting a deploy: decided, recorded (a refused one too), announced, and run under the
//! environment's lease until it ends or pauses. `paused.rs` continues it; `lease.rs` says
//! who runs it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use wharf_core::config::{Config, ConfigSource};
use wharf_core::inventory::Inventory;
use wharf_exec::Pool;
use wharf_store::deploy::{
    DeployRecord, DeployRow, DeployState, NodeCounts, Override, StageRecord,
};
use wharf_store::now_rfc3339;

use super::engine::Engine;
pub use super::engine::Notice;
use super::lease::{another_running, heartbeat, reap, running_deploy, take_lease};
use super::stages::{DOWNGRADE_PIPELINE, ExecStage};
use super::{Clock, DeployRequest, Purpose, environment_named};
use crate::context::Context;
use crate::error::{AppError, ErrorKind, Result};
use crate::fleet::Fleet;
use crate::wire::{DeployView, RefusalView};

/// Everything a deploy flow needs besides the request.
#[derive(Clone)]
pub struct Session<'a> {
    pub ctx: &'a Context,
    pub fleet: Fleet<'a>,
    pub clock: Clock,
    pub notices: Option<UnboundedSender<Notice>>,
    /// Told a started deploy's (or rollback's) id once it holds the lease and runs, so a
    /// front end that runs it in the background can answer with the id (the HTTP API's
    /// 202). Not told for a refused deploy: its flow returns at once.
    pub started: Option<UnboundedSender<i64>>,
}

impl<'a> Session<'a> {
    pub(crate) fn config(&self) -> (&'a Config, &'a ConfigSource, &'a Inventory) {
        (self.fleet.config, self.fleet.source, self.fleet.inventory)
    }
}

/// Where a deploy stands after a command: its record, and the refusals that stopped it
/// before it ran (empty otherwise).
#[derive(Debug, Clone)]
pub struct DeployReport {
    pub deploy: DeployView,
    pub refusals: Vec<RefusalView>,
    /// Nodes that could not be reached in the stage that failed.
    pub unreachable: Vec<String>,
}

fn stage_records(stages: &[ExecStage]) -> Vec<StageRecord> {
    stages
        .iter()
        .map(|stage| StageRecord {
            name: stage.name.clone(),
            kind: stage.step.kind(),
            state: "pending".to_owned(),
            nodes: NodeCounts::default(),
            point_of_no_return: stage.point_of_no_return,
            started_at: None,
            finished_at: None,
            approved_by: None,
        })
        .collect()
}

fn overrides(ctx: &Context, request: &DeployRequest, extra: Vec<Override>) -> Vec<Override> {
    let by = ctx.actor().name.clone();
    let mut list = Vec::new();
    if let Some(reason) = &request.ignore_production_checks {
        list.push(Override {
            kind: "ignore-production-checks".into(),
            reason: reason.trim().into(),
            by: by.clone(),
        });
    }
    if request.allow_precheck_failure {
        list.push(Override {
            kind: "allow-precheck-failure".into(),
            reason: "failing prechecks are recorded as warnings".into(),
            by: by.clone(),
        });
    }
    list.extend(extra);
    list
}

pub(crate) async fn plan_stages<'s>(
    session: &Session<'s>,
    request: &DeployRequest,
    purpose: Purpose,
) -> Result<(super::Prepared<'s>, String, Vec<ExecStage>)> {
    let (config, source, inventory) = session.config();
    let now = (session.clock)();
    super::plan_stages(session.ctx, config, source, inventory, request, purpose, now).await
}

/// Start a deploy: decide, record, and run it to its end (or a pause). A refused deploy
/// is recorded as `refused` with the refusals; nothing runs.
pub async fn start(session: &Session<'_>, request: &DeployRequest) -> Result<DeployReport> {
    start_as(session, request, Purpose::Deploy, Vec::new()).await
}

pub(crate) async fn start_as(
    session: &Session<'_>,
    request: &DeployRequest,
    purpose: Purpose,
    extra_overrides: Vec<Override>,
) -> Result<DeployReport> {
    let ctx = session.ctx;
    reap(ctx).await?;
    let (prepared, pipeline, exec) = plan_stages(session, request, purpose).await?;
    let mut refusals = prepared.refusals.clone();
    let running = running_deploy(ctx, &prepared.environment.name).await?;
    if let Some(other) = &running {
        refusals.push(another_running(other));
    }
    let record = DeployRecord {
        environment: prepared.environment.name.clone(),
        pipeline,
        packages: prepared.packages.iter().map(|(p, v)| (p.clone(), v.to_string())).collect(),
        previous: prepared.previous.iter().map(|(p, v)| (p.clone(), v.to_string())).collect(),
        // `planned` until the lease is taken: a concurrent `reap` leaves it alone meanwhile.
        state: if refusals.is_empty() { DeployState::Planned } else { DeployState::Refused },
        started_by: ctx.actor().name.clone(),
        via: ctx.actor().via.kind().to_owned(),
        automated: request.automated,
        overrides: overrides(ctx, request, extra_overrides),
        warnings: Vec::new(),
        stages: stage_records(&exec),
        started_at: now_rfc3339(),
        finished_at: (!refusals.is_empty()).then(now_rfc3339),
        reason: refusals.first().map(|r| format!("refused: {}; {}", r.message, r.lift)),
        issue: request.issue.clone(),
        downgrade: request.downgrade || purpose == Purpose::Rollback,
        hold: request.hold,
    };
    let id = record_start(ctx, &record, &refusals, purpose).await?;
    if !refusals.is_empty() {
        return report(ctx, id, refusals).await;
    }
    if let Err(holder) = take_lease(ctx, &record.environment, id).await? {
        // Lost the race for the lease to a deploy that started meanwhile.
        let refusal = another_running(&holder);
        let mut record = record;
        record.state = DeployState::Refused;
        record.finished_at = Some(now_rfc3339());
        record.reason = Some(format!("refused: {}; {}", refusal.message, refusal.lift));
        let entry = ctx
            .entry("deploy.refused", &record.environment, json!({ "deploy": id }))
            .reason(&refusal.message);
        ctx.store().update_deploy(id, &record, Some(&entry)).await?;
        return report(ctx, id, vec![refusal]).await;
    }
    let mut record = record;
    record.state = DeployState::Running;
    ctx.store().update_deploy(id, &record, None).await?;
    announce_start(ctx, id, &record).await?;
    if let Some(started) = &session.started {
        let _ = started.send(id);
    }
    run(session, id, record, exec).await
}

/// Record the new deploy with its audit entry (`deploy.start`, `rollback.start` or
/// `deploy.refused`, its reason the refusal or the overrides' reasons); returns its id.
async fn record_start(
    ctx: &Context,
    record: &DeployRecord,
    refusals: &[RefusalView],
    purpose: Purpose,
) -> Result<i64> {
    let action = match (refusals.is_empty(), purpose) {
        (false, _) => "deploy.refused",
        (true, Purpose::Deploy) => "deploy.start",
        (true, Purpose::Rollback) => "rollback.start",
    };
    let reasons: Vec<String> =
        record.overrides.iter().map(|o| format!("{}: {}", o.kind, o.reason)).collect();
    let (id, _) = ctx
        .store()
        .create_deploy(record, |id| {
            let entry = ctx.entry(
                action,
                &record.environment,
                json!({
                    "deploy": id,
                    "packages": record.packages,
                    "pipeline": record.pipeline,
                    "automated": record.automated,
                    "overrides": record.overrides,
                    "refusals": refusals,
                    "issue": record.issue,
                }),
            );
            match (reasons.is_empty(), refusals.first()) {
                (_, Some(refusal)) => entry.reason(&refusal.message),
                (false, None) => entry.reason(reasons.join("; ")),
                (true, None) => entry,
            }
        })
        .await?;
    Ok(id)
}

/// Seed 000's wording for a downgrade, the plain one otherwise.
async fn announce_start(ctx: &Context, id: i64, record: &DeployRecord) -> Result<()> {
    let versions =
        record.packages.iter().map(|(p, v)| format!("{p} {v}")).collect::<Vec<_>>().join(", ");
    let issue = record.issue.as_ref().map(|i| format!(" {i}")).unwrap_or_default();
    let (kind, text) = if record.downgrade && record.pipeline == DOWNGRADE_PIPELINE {
        (
            "downgrade.announced",
            format!(
                "I will be manually downgrading package on {} to {versions}.{issue}",
                record.environment
            ),
        )
    } else {
        (
            "deploy.started",
            format!("{} deploying {versions} to {}{issue}", record.started_by, record.environment),
        )
    };
    ctx.store()
        .append_deploy_event(
            id,
            kind,
            &json!({ "text": text, "packages": record.packages, "overrides": record.overrides }),
        )
        .await?;
    Ok(())
}

/// Run the deploy's remaining stages under its lease (already taken), then give it up.
pub(crate) async fn run(
    session: &Session<'_>,
    id: i64,
    record: DeployRecord,
    exec: Vec<ExecStage>,
) -> Result<DeployReport> {
    let ctx = session.ctx;
    let environment = environment_named(session.fleet.inventory, &record.environment)?;
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat =
        tokio::spawn(heartbeat(ctx.store().clone(), record.environment.clone(), id, lost.clone()));
    let mut engine = Engine {
        ctx,
        fleet: session.fleet,
        environment,
        pool: Pool::new(),
        id,
        record,
        stages: exec,
        clock: session.clock.clone(),
        notices: session.notices.clone(),
        lost,
    };
    let result = engine.run().await;
    heartbeat.abort();
    engine.pool.close().await;
    ctx.store().release_lease(&engine.record.environment, id).await?;
    if let Err(err) = result {
        // The record must not say `running` for a deploy nobody runs. What Wharf depends
        // on being away (the database) may come back: resumable. Anything else — a command
        // template that cannot be filled in, a node name that is not one — will not get
        // better by resuming.
        let (state, why) = match err.kind() {
            ErrorKind::Unavailable => (
                DeployState::Interrupted,
                format!("stopped: {err}; `wharf resume {id}` once it answers again"),
            ),
            _ => (DeployState::Failed, format!("stopped by an error: {err}")),
        };
        let record = &mut engine.record;
        record.state = state;
        record.reason = Some(why.clone());
        if state.is_final() {
            record.finished_at = Some(now_rfc3339());
        }
        let action = format!("deploy.{}", state.as_str());
        let entry = ctx.entry(&action, &record.environment, json!({ "deploy": id })).reason(&why);
        let _ = ctx.store().update_deploy(id, record, Some(&entry)).await;
        return Err(err);
    }
    if engine.record.state == DeployState::Succeeded && engine.record.pipeline == DOWNGRADE_PIPELINE
    {
        let held = if engine.record.hold { " The package has also been put on hold." } else { "" };
        let text = format!("Downgrade completed.{held}");
        ctx.store()
            .append_deploy_event(id, "downgrade.completed", &json!({ "text": text }))
            .await?;
    }
    let unreachable = unreachable_nodes(ctx, id).await?;
    let mut done = report(ctx, id, Vec::new()).await?;
    done.unreachable = unreachable;
    Ok(done)
}

async fn unreachable_nodes(ctx: &Context, id: i64) -> Result<Vec<String>> {
    Ok(ctx
        .store()
        .deploy_nodes(id)
        .await?
        .into_iter()
        .filter(|n| n.state == "failed" && n.exit_code.is_none())
        .map(|n| n.node)
        .collect())
}

pub(crate) async fn report(
    ctx: &Context,
    id: i64,
    refusals: Vec<RefusalView>,
) -> Result<DeployReport> {
    let row = load(ctx, id).await?;
    Ok(DeployReport { deploy: DeployView::from(&row), refusals, unreachable: Vec::new() })
}

pub(crate) async fn load(ctx: &Context, id: i64) -> Result<DeployRow> {
    ctx.store()
        .deploy(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no deploy {id}; `wharf history` lists them")))
}
