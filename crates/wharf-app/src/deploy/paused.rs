//! What happens to a deploy that stopped: `resume` (interrupted), `approve` (waiting at
//! a manual stage), `cancel` (any that is not over). A paused deploy is re-planned from the
//! configuration and continues only if its stages are the ones it started with.

use serde_json::json;
use wharf_store::deploy::{DeployRow, DeployState};
use wharf_store::now_rfc3339;

use super::engine::Notice;
use super::lease::{reap, take_lease};
use super::lifecycle::{DeployReport, Session, load, plan_stages, report, run};
use super::stages::{DOWNGRADE_PIPELINE, ExecStage};
use super::{DeployRequest, Purpose, window_refusals};
use crate::context::Context;
use crate::error::{AppError, Result};

/// The stages of a recorded deploy, as the configuration plans them now; refused when
/// they no longer match what the deploy started with.
pub(crate) async fn replan(session: &Session<'_>, row: &DeployRow) -> Result<Vec<ExecStage>> {
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
pub(crate) async fn resume_notice(session: &Session<'_>, row: &DeployRow) -> Result<()> {
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
pub(crate) async fn continue_deploy(
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
