//! A deploy's life: started (or refused, and recorded so), run under the environment's
//! lease with a heartbeat, paused at a manual stage until approved, interrupted by a
//! window or a crash and resumed, cancelled.
//!
//! **One deploy per environment**: the store's lease (one conditional upsert) admits one
//! deploy at a time across processes and servers. Its owner is `host:pid:start-time`; a
//! deploy marked running whose owner is gone — the process no longer exists on this host,
//! or the lease expired without a heartbeat — is found by [`reap`] and marked
//! `interrupted` at the stage it reached.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use wharf_core::config::{Config, ConfigSource};
use wharf_core::inventory::Inventory;
use wharf_exec::Pool;
use wharf_store::deploy::{
    DeployRecord, DeployRow, DeployState, NodeCounts, Override, StageRecord,
};
use wharf_store::guard::Lease;
use wharf_store::now_rfc3339;

use super::engine::Engine;
pub use super::engine::Notice;
use super::stages::{DOWNGRADE_PIPELINE, ExecStage};
use super::{Clock, DeployRequest, Purpose, environment_named, window_refusals};
use crate::context::Context;
use crate::error::{AppError, Result};
use crate::fleet::Fleet;
use crate::wire::{DeployView, RefusalView};

/// How long a lease lasts without a heartbeat.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often the heartbeat renews it.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Everything a deploy flow needs besides the request.
#[derive(Clone)]
pub struct Session<'a> {
    pub ctx: &'a Context,
    pub fleet: Fleet<'a>,
    pub clock: Clock,
    pub notices: Option<UnboundedSender<Notice>>,
}

impl<'a> Session<'a> {
    fn config(&self) -> (&'a Config, &'a ConfigSource, &'a Inventory) {
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

/// This process, as a lease owner: `host:pid:start-time`.
fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    let pid = std::process::id();
    format!("{host}:{pid}:{}", start_time(pid).unwrap_or_default())
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`), so a
/// reused pid is not mistaken for the owner.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it follow its `)`.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19).map(str::to_owned)
}

/// Whether a lease owner is still running: `Some(false)` when it was a process on this
/// host that is gone, `None` when it is elsewhere (then only the lease's expiry tells).
fn owner_alive(owner: &str) -> Option<bool> {
    let mut parts = owner.rsplitn(3, ':');
    let (start, pid, host) = (parts.next()?, parts.next()?, parts.next()?);
    let here = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    if host != here.trim() {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    Some(start_time(pid).is_some_and(|s| s == start))
}

fn ms(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// Mark every running deploy whose owner is gone `interrupted`, and free its lease.
/// Returns the ids marked.
pub async fn reap(ctx: &Context) -> Result<Vec<i64>> {
    let leases = ctx.store().leases().await?;
    let now = ms(Timestamp::now());
    let mut reaped = Vec::new();
    for row in ctx.store().deploys(None, 1_000).await? {
        if !matches!(row.record.state, DeployState::Running | DeployState::Planned) {
            continue;
        }
        let lease = leases.iter().find(|l| l.deploy_id == row.id);
        let gone = match lease {
            // Recorded, lease not taken yet: gone only once that has taken too long.
            None if row.record.state == DeployState::Planned => {
                super::instant(&row.record.started_at).as_millisecond()
                    + i64::try_from(LEASE_TTL.as_millis()).unwrap_or(30_000)
                    <= now
            }
            None => true,
            Some(lease) => owner_alive(&lease.owner) == Some(false) || lease.expires_ms <= now,
        };
        if !gone {
            continue;
        }
        let mut record = row.record;
        let stage = record.stages.iter().find(|s| s.state == "running").map(|s| s.name.clone());
        let why = format!(
            "the process running it is gone{}; `wharf resume {}` continues it",
            stage.map(|s| format!(" (during stage {s})")).unwrap_or_default(),
            row.id
        );
        record.state = DeployState::Interrupted;
        record.reason = Some(why.clone());
        let entry = ctx
            .entry("deploy.interrupted", &record.environment, json!({ "deploy": row.id }))
            .reason(&why);
        ctx.store().update_deploy(row.id, &record, Some(&entry)).await?;
        ctx.store()
            .append_deploy_event(
                row.id,
                "deploy.paused",
                &json!({ "state": "interrupted", "reason": why }),
            )
            .await?;
        if lease.is_some() {
            ctx.store().release_lease(&record.environment, row.id).await?;
        }
        reaped.push(row.id);
    }
    Ok(reaped)
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

async fn plan_stages<'s>(
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
    let action = match (refusals.is_empty(), purpose) {
        (false, _) => "deploy.refused",
        (true, Purpose::Deploy) => "deploy.start",
        (true, Purpose::Rollback) => "rollback.start",
    };
    let reasons: Vec<String> =
        record.overrides.iter().map(|o| format!("{}: {}", o.kind, o.reason)).collect();
    let (id, _) = ctx
        .store()
        .create_deploy(&record, |id| {
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
    if !refusals.is_empty() {
        return report(ctx, id, refusals).await;
    }
    if let Err(holder) = take_lease(ctx, &record.environment, id).await? {
        let refusal = RefusalView {
            guard: "running".into(),
            message: format!("deploy {} is running on {}", holder.deploy_id, record.environment),
            lift: format!("wait for it, or `wharf cancel {} --reason R`", holder.deploy_id),
        };
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
    run(session, id, record, exec).await
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

async fn running_deploy(ctx: &Context, environment: &str) -> Result<Option<Lease>> {
    let now = ms(Timestamp::now());
    Ok(ctx
        .store()
        .leases()
        .await?
        .into_iter()
        .find(|l| l.environment == environment && l.expires_ms > now))
}

fn another_running(lease: &Lease) -> RefusalView {
    RefusalView {
        guard: "running".into(),
        message: format!("deploy {} is running on {}", lease.deploy_id, lease.environment),
        lift: format!("wait for it, or `wharf cancel {} --reason R`", lease.deploy_id),
    }
}

async fn take_lease(
    ctx: &Context,
    environment: &str,
    id: i64,
) -> Result<std::result::Result<Lease, Lease>> {
    let now = Timestamp::now();
    let lease = Lease {
        environment: environment.to_owned(),
        deploy_id: id,
        owner: owner(),
        expires_ms: ms(now) + i64::try_from(LEASE_TTL.as_millis()).unwrap_or(30_000),
    };
    Ok(match ctx.store().acquire_lease(&lease, ms(now)).await? {
        Ok(()) => Ok(lease),
        Err(holder) => Err(holder),
    })
}

/// Run the deploy's remaining stages under its lease (already taken), then give it up.
async fn run(
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
        // The record must not say `running` for a deploy nobody runs.
        engine.record.state = DeployState::Interrupted;
        engine.record.reason = Some(format!("stopped by an error: {err}; `wharf resume {id}`"));
        let _ = ctx.store().update_deploy(id, &engine.record, None).await;
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

async fn heartbeat(store: wharf_store::Store, environment: String, id: i64, lost: Arc<AtomicBool>) {
    let owner = owner();
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let lease = Lease {
            environment: environment.clone(),
            deploy_id: id,
            owner: owner.clone(),
            expires_ms: ms(Timestamp::now())
                + i64::try_from(LEASE_TTL.as_millis()).unwrap_or(30_000),
        };
        match store.renew_lease(&lease).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(err) => tracing::warn!("could not renew the lease of deploy {id}: {err}"),
        }
    }
}

async fn report(ctx: &Context, id: i64, refusals: Vec<RefusalView>) -> Result<DeployReport> {
    let row = load(ctx, id).await?;
    Ok(DeployReport { deploy: DeployView::from(&row), refusals, unreachable: Vec::new() })
}

async fn load(ctx: &Context, id: i64) -> Result<DeployRow> {
    ctx.store()
        .deploy(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no deploy {id}; `wharf history` lists them")))
}

/// The stages of a recorded deploy, as the configuration plans them now; refused when
/// they no longer match what the deploy started with.
async fn replan(session: &Session<'_>, row: &DeployRow) -> Result<Vec<ExecStage>> {
    let record = &row.record;
    let request = DeployRequest {
        packages: record.packages.clone(),
        environment: record.environment.clone(),
        pipeline: (record.pipeline != DOWNGRADE_PIPELINE).then(|| record.pipeline.clone()),
        allow_precheck_failure: record.overrides.iter().any(|o| o.kind == "allow-precheck-failure"),
        ignore_production_checks: None,
        automated: record.automated,
        downgrade: record.downgrade && record.pipeline == DOWNGRADE_PIPELINE,
        hold: record.hold,
        issue: record.issue.clone(),
    };
    // The pipeline is named (or the downgrade flow asked for): the purpose only picks
    // between guards, whose answers a resume does not ask again.
    let (_, _, exec) = plan_stages(session, &request, Purpose::Deploy).await?;
    let now: Vec<&str> = exec.iter().map(|s| s.name.as_str()).collect();
    let then: Vec<&str> = record.stages.iter().map(|s| s.name.as_str()).collect();
    if now != then {
        return Err(AppError::conflict(format!(
            "pipeline {} changed since deploy {} started (stages then: {}; now: {}): restore it, or `wharf cancel {} --reason R` and deploy again",
            record.pipeline,
            row.id,
            then.join(", "),
            now.join(", "),
            row.id
        )));
    }
    Ok(exec)
}

/// What `resume` will do: the stage it continues at, nodes it re-runs (in flight when the
/// deploy stopped) and nodes it leaves alone (finished).
async fn resume_notice(session: &Session<'_>, row: &DeployRow) -> Result<()> {
    let Some(index) =
        row.record.stages.iter().position(|s| !matches!(s.state.as_str(), "succeeded" | "skipped"))
    else {
        return Ok(());
    };
    let stage_no = i64::try_from(index).unwrap_or(i64::MAX);
    let nodes = session.ctx.store().deploy_nodes(row.id).await?;
    let of_stage = |state: &str| {
        wharf_core::nodeset::NodeSet::from_names(
            nodes
                .iter()
                .filter(|n| n.stage == stage_no && n.state == state)
                .map(|n| n.node.clone()),
        )
        .fold()
    };
    let (rerun, done) = (of_stage("running"), of_stage("succeeded"));
    let text = format!(
        "resuming deploy {} at stage {}{}{}",
        row.id,
        row.record.stages[index].name,
        if rerun.is_empty() {
            String::new()
        } else {
            format!("; re-running {rerun} (in flight when it stopped)")
        },
        if done.is_empty() { String::new() } else { format!("; not re-running {done} (finished)") },
    );
    if let Some(notices) = &session.notices {
        let _ = notices.send(Notice { deploy_id: row.id, problem: false, text });
    }
    Ok(())
}

/// Continue an interrupted deploy where it stopped.
pub async fn resume(session: &Session<'_>, id: i64) -> Result<DeployReport> {
    let ctx = session.ctx;
    reap(ctx).await?;
    let row = load(ctx, id).await?;
    match row.record.state {
        DeployState::Interrupted => {}
        DeployState::Waiting => {
            return Err(AppError::conflict(format!(
                "deploy {id} waits for an approval, not a resume: `wharf approve {id}`"
            )));
        }
        DeployState::Running | DeployState::Planned => {
            return Err(AppError::conflict(format!("deploy {id} is running")));
        }
        state => {
            return Err(AppError::conflict(format!(
                "deploy {id} is {}: nothing to resume; start a new deploy",
                state.as_str()
            )));
        }
    }
    continue_deploy(session, row, "deploy.resume", None).await
}

/// Let a deploy waiting at a manual stage go on (`stage`, when given, must be the one it
/// waits at).
pub async fn approve(session: &Session<'_>, id: i64, stage: Option<&str>) -> Result<DeployReport> {
    let ctx = session.ctx;
    let row = load(ctx, id).await?;
    if row.record.state != DeployState::Waiting {
        return Err(AppError::conflict(format!(
            "deploy {id} is {}, not waiting for an approval",
            row.record.state.as_str()
        )));
    }
    let Some(index) = row.record.stages.iter().position(|s| s.state == "waiting") else {
        return Err(AppError::internal(format!("deploy {id} waits, but no stage does")));
    };
    let waiting = row.record.stages[index].name.clone();
    if let Some(stage) = stage
        && stage != waiting
    {
        return Err(AppError::invalid(format!(
            "deploy {id} waits at stage {waiting}, not {stage}: `wharf approve {id} {waiting}`"
        )));
    }
    continue_deploy(session, row, "deploy.approve", Some(index)).await
}

/// Take the lease again and run the rest of a paused deploy.
async fn continue_deploy(
    session: &Session<'_>,
    row: DeployRow,
    action: &str,
    approve: Option<usize>,
) -> Result<DeployReport> {
    let ctx = session.ctx;
    let id = row.id;
    let exec = replan(session, &row).await?;
    let (config, source, _) = session.config();
    let refusals = window_refusals(
        config,
        source,
        &row.record.environment,
        row.record.automated,
        (session.clock)(),
    )?;
    if let Some(refusal) = refusals.into_iter().next() {
        return Err(AppError::refused(format!("{}; {}", refusal.message, refusal.lift)));
    }
    if let Err(holder) = take_lease(ctx, &row.record.environment, id).await? {
        return Err(AppError::refused(format!(
            "deploy {} is running on {}: wait for it, or `wharf cancel {} --reason R`",
            holder.deploy_id, row.record.environment, holder.deploy_id
        )));
    }
    resume_notice(session, &row).await?;
    let mut record = row.record;
    record.state = DeployState::Running;
    record.reason = None;
    let mut details = json!({ "deploy": id });
    if let Some(index) = approve {
        record.stages[index].approved_by = Some(ctx.actor().name.clone());
        record.stages[index].state = "pending".to_owned();
        details["stage"] = record.stages[index].name.clone().into();
    }
    let entry = ctx.entry(action, &record.environment, details);
    ctx.store().update_deploy(id, &record, Some(&entry)).await?;
    ctx.store().append_deploy_event(id, action, &json!({ "by": ctx.actor().name })).await?;
    run(session, id, record, exec).await
}

/// Cancel a deploy: one that waits or was interrupted ends now; a running one is asked to
/// stop and does so before its next batch.
pub async fn cancel(ctx: &Context, id: i64, reason: &str) -> Result<DeployReport> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid("a cancel must say why: give --reason"));
    }
    reap(ctx).await?;
    let row = load(ctx, id).await?;
    let mut record = row.record;
    match record.state {
        DeployState::Waiting | DeployState::Interrupted | DeployState::Planned => {
            record.state = DeployState::Cancelled;
            record.finished_at = Some(now_rfc3339());
            record.reason = Some(format!("cancelled by {} ({reason:?})", ctx.actor().name));
            let entry = ctx
                .entry("deploy.cancel", &record.environment, json!({ "deploy": id }))
                .reason(reason);
            ctx.store().update_deploy(id, &record, Some(&entry)).await?;
            ctx.store()
                .append_deploy_event(
                    id,
                    "deploy.finished",
                    &json!({ "state": "cancelled", "reason": record.reason }),
                )
                .await?;
        }
        DeployState::Running => {
            let entry = ctx
                .entry(
                    "deploy.cancel",
                    &record.environment,
                    json!({ "deploy": id, "running": true }),
                )
                .reason(reason);
            ctx.store().append_audit(entry).await?;
            ctx.store()
                .append_deploy_event(
                    id,
                    "deploy.cancel_requested",
                    &json!({ "by": ctx.actor().name, "reason": reason }),
                )
                .await?;
        }
        state => {
            return Err(AppError::conflict(format!(
                "deploy {id} is {}: nothing to cancel",
                state.as_str()
            )));
        }
    }
    report(ctx, id, Vec::new()).await
}
