//! Running a deploy's stages, in order, under its lease.
//!
//! **Invariants.** Before a batch starts, its nodes are recorded `running`; when it ends,
//! each node's result (state, exit code, output tail) is recorded before anything else
//! happens — so after a kill, `succeeded` nodes are never run again and `running` ones
//! are. Windows, a cancel request and the lease are looked at before every stage after
//! the first this process runs, and between batches. A stage whose failures pass its
//! `max_failures` stops the deploy as `failed`, naming the nodes; a failing precheck
//! refuses it (exit 4) unless failures are allowed, then it is a recorded warning.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use wharf_core::inventory::Environment;
use wharf_core::nodeset::NodeSet;
use wharf_core::version::Version;
use wharf_deploy::StageRun;
use wharf_exec::Pool;
use wharf_store::deploy::{DeployRecord, DeployState};
use wharf_store::now_rfc3339;

use super::prechecks::{self, CheckScope};
use super::stages::{ExecStage, Step};
use super::{Clock, window_refusals};
use crate::context::Context;
use crate::error::Result;
use crate::fleet::Fleet;

/// A line for the front end to show as the deploy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub deploy_id: i64,
    /// Something went wrong on a node or a check (printed to stderr by the CLI).
    pub problem: bool,
    pub text: String,
}

/// How a stage ended.
pub(crate) enum StageEnd {
    Succeeded,
    /// The deploy fails (exit 1), with why.
    Failed(String),
    /// A precheck said no (exit 4).
    Refused(String),
    /// Stopped between batches: a window opened, a cancel was asked for, the lease is gone.
    Stopped(DeployState, String),
}

/// One deploy being run by this process.
pub(crate) struct Engine<'a> {
    pub ctx: &'a Context,
    pub fleet: Fleet<'a>,
    pub environment: &'a Environment,
    pub pool: Pool,
    pub id: i64,
    pub record: DeployRecord,
    pub stages: Vec<ExecStage>,
    pub clock: Clock,
    pub notices: Option<UnboundedSender<Notice>>,
    /// Set by the heartbeat when the lease could not be renewed.
    pub lost: Arc<AtomicBool>,
}

impl Engine<'_> {
    pub(crate) fn notice(&self, problem: bool, text: impl Into<String>) {
        if let Some(notices) = &self.notices {
            let _ = notices.send(Notice { deploy_id: self.id, problem, text: text.into() });
        }
    }

    pub(crate) async fn save(&self) -> Result<()> {
        self.ctx.store().update_deploy(self.id, &self.record, None).await?;
        Ok(())
    }

    pub(crate) async fn event(&self, kind: &str, body: serde_json::Value) -> Result<()> {
        self.ctx.store().append_deploy_event(self.id, kind, &body).await?;
        Ok(())
    }

    /// Run every stage not yet done; returns when the deploy is finished, waiting for an
    /// approval, or stopped. The record says which.
    pub(crate) async fn run(&mut self) -> Result<()> {
        let mut first = true;
        for index in 0..self.stages.len() {
            let stage = self.stages[index].clone();
            if matches!(self.record.stages[index].state.as_str(), "succeeded" | "skipped") {
                continue;
            }
            if let StageRun::Skip(why) = &stage.run {
                self.record.stages[index].state = "skipped".to_owned();
                self.notice(false, format!("stage {}: skipped ({why})", stage.name));
                self.save().await?;
                continue;
            }
            if !first && let Some((state, why)) = self.interruption().await? {
                return self.stop(state, why).await;
            }
            first = false;
            let awaits = stage.run == StageRun::AwaitApproval || stage.step == Step::Manual;
            if awaits && self.record.stages[index].approved_by.is_none() {
                self.record.stages[index].state = "waiting".to_owned();
                let why = format!(
                    "stage {} waits for approval: `wharf approve {} {}`",
                    stage.name, self.id, stage.name
                );
                self.event("deploy.waiting", json!({ "stage": stage.name })).await?;
                return self.stop(DeployState::Waiting, why).await;
            }
            self.begin_stage(index).await?;
            let end = self.execute(index, &stage).await?;
            let (stage_state, stop) = match end {
                StageEnd::Succeeded => ("succeeded", None),
                StageEnd::Failed(why) => ("failed", Some((DeployState::Failed, why))),
                StageEnd::Refused(why) => ("failed", Some((DeployState::Refused, why))),
                StageEnd::Stopped(state, why) => ("running", Some((state, why))),
            };
            self.finish_stage(index, stage_state).await?;
            if let Some((state, why)) = stop {
                return self.stop(state, why).await;
            }
        }
        self.stop(DeployState::Succeeded, String::new()).await
    }

    /// What stops the deploy before its next stage or batch, if anything.
    pub(crate) async fn interruption(&self) -> Result<Option<(DeployState, String)>> {
        let cancel = self
            .ctx
            .store()
            .events_of_deploy(self.id)
            .await?
            .into_iter()
            .find(|e| e.kind == "deploy.cancel_requested");
        if let Some(cancel) = cancel {
            let by = cancel.body["by"].as_str().unwrap_or("someone").to_owned();
            let reason = cancel.body["reason"].as_str().unwrap_or("").to_owned();
            return Ok(Some((DeployState::Cancelled, format!("cancelled by {by} ({reason:?})"))));
        }
        if self.lost.load(Ordering::SeqCst) {
            return Ok(Some((
                DeployState::Interrupted,
                format!("lost the lease on {}: `wharf resume {}`", self.environment.name, self.id),
            )));
        }
        let now = (self.clock)();
        let refusals = window_refusals(
            self.fleet.config,
            self.fleet.source,
            &self.environment.name,
            self.record.automated,
            now,
        )?;
        if let Some(window) = refusals.first() {
            return Ok(Some((
                DeployState::Interrupted,
                format!("{}; `wharf resume {}` once it closes", window.message, self.id),
            )));
        }
        Ok(None)
    }

    async fn begin_stage(&mut self, index: usize) -> Result<()> {
        let stage = &self.stages[index];
        let record = &mut self.record.stages[index];
        record.state = "running".to_owned();
        record.started_at.get_or_insert_with(now_rfc3339);
        let nodes = NodeSet::from_names(stage.nodes.iter().cloned()).fold();
        self.notice(false, format!("stage {} ({}): {nodes}", stage.name, stage.step.kind()));
        self.save().await?;
        self.event(
            "stage.started",
            json!({ "stage": stage.name, "kind": stage.step.kind(), "nodes": nodes }),
        )
        .await
    }

    async fn finish_stage(&mut self, index: usize, state: &str) -> Result<()> {
        let record = &mut self.record.stages[index];
        record.state = state.to_owned();
        if state != "running" {
            record.finished_at = Some(now_rfc3339());
        }
        let body = json!({ "stage": record.name, "state": state, "nodes": record.nodes });
        self.save().await?;
        self.event("stage.finished", body).await
    }

    /// Record the deploy's end (or pause) and say so.
    async fn stop(&mut self, state: DeployState, why: String) -> Result<()> {
        self.record.state = state;
        self.record.reason = (!why.is_empty()).then(|| why.clone());
        if state.is_final() {
            self.record.finished_at = Some(now_rfc3339());
        }
        let entry = self.ctx.entry(
            &format!("deploy.{}", state.as_str()),
            &self.record.environment,
            json!({ "deploy": self.id, "packages": self.record.packages, "reason": self.record.reason }),
        );
        let entry = match &self.record.reason {
            Some(reason) => entry.reason(reason),
            None => entry,
        };
        self.ctx.store().update_deploy(self.id, &self.record, Some(&entry)).await?;
        let kind = if state.is_final() { "deploy.finished" } else { "deploy.paused" };
        self.event(kind, json!({ "state": state.as_str(), "reason": self.record.reason })).await?;
        if !why.is_empty() {
            self.notice(state != DeployState::Waiting, why);
        }
        Ok(())
    }

    async fn execute(&mut self, index: usize, stage: &ExecStage) -> Result<StageEnd> {
        match &stage.step {
            Step::Checks { precheck } => self.checks(stage, *precheck).await,
            Step::HttpCheck { url, expect_status, expect_body, timeout } => {
                let outcome = crate::checks::http_until(
                    url,
                    *expect_status,
                    expect_body.as_deref(),
                    Duration::from_secs(*timeout),
                )
                .await;
                if outcome.passed {
                    Ok(StageEnd::Succeeded)
                } else {
                    Ok(StageEnd::Failed(format!("{}: {}", stage.name, outcome.evidence.join("; "))))
                }
            }
            Step::Wait { seconds } => {
                self.notice(false, format!("stage {}: waiting {seconds}s", stage.name));
                tokio::time::sleep(Duration::from_secs(*seconds)).await;
                Ok(StageEnd::Succeeded)
            }
            Step::Manual => Ok(StageEnd::Succeeded),
            Step::Hold => self.hold(stage).await,
            _ => self.on_nodes(index, stage).await,
        }
    }

    fn target_versions(&self) -> Result<BTreeMap<String, Version>> {
        self.record.packages.iter().map(|(p, v)| Ok((p.clone(), v.parse::<Version>()?))).collect()
    }

    async fn checks(&mut self, stage: &ExecStage, precheck: bool) -> Result<StageEnd> {
        let packages = self.target_versions()?;
        let scope = CheckScope {
            environment: self.environment,
            packages: &packages,
            precheck,
            downgrade: self.record.downgrade,
            ignore_production_checks: self
                .record
                .overrides
                .iter()
                .any(|o| o.kind == "ignore-production-checks"),
        };
        let results = prechecks::run(self.ctx, self.fleet, &self.pool, &scope).await?;
        for result in &results {
            let mark = if result.passed { "ok" } else { "FAILED" };
            self.notice(!result.passed, format!("  check {}: {mark}", result.name));
        }
        self.event(
            "checks.finished",
            json!({ "stage": stage.name, "results": results.iter().map(|r| json!({
                "name": r.name, "passed": r.passed, "evidence": r.evidence })).collect::<Vec<_>>() }),
        )
        .await?;
        // A check already failing before the deploy, and allowed then, is a warning again
        // after the changes: --allow-precheck-failure would mean nothing otherwise.
        let allowed_before =
            |name: &str| self.record.warnings.iter().any(|w| w.starts_with(&format!("{name}: ")));
        let (allowed, failed): (Vec<_>, Vec<_>) = results
            .iter()
            .filter(|r| !r.passed)
            .partition(|r| stage.failure_allowed || allowed_before(&r.name));
        for result in allowed {
            let failure = result.describe();
            self.notice(true, format!("warning: {failure}"));
            self.record.warnings.push(format!("{failure} (allowed: --allow-precheck-failure)"));
        }
        if failed.is_empty() {
            return Ok(StageEnd::Succeeded);
        }
        let failed: Vec<String> = failed.iter().map(|r| r.describe()).collect();
        let why = format!("check failed: {}", failed.join("; "));
        if precheck {
            Ok(StageEnd::Refused(format!("{why} (to go ahead anyway: --allow-precheck-failure)")))
        } else {
            Ok(StageEnd::Failed(why))
        }
    }

    async fn hold(&mut self, stage: &ExecStage) -> Result<StageEnd> {
        let reason = format!(
            "deploy {} put {} on hold{}",
            self.id,
            super::dry_run::describe(&self.target_versions()?),
            self.record.issue.as_ref().map(|i| format!(" ({i})")).unwrap_or_default()
        );
        let mut failed = Vec::new();
        for package in self.record.packages.keys() {
            let existing = self.ctx.store().holds().await?;
            if existing
                .iter()
                .any(|h| h.environment == self.environment.name && h.package == *package)
            {
                continue;
            }
            let (report, _) =
                crate::hold::hold(self.ctx, self.fleet, &self.environment.name, package, &reason)
                    .await?;
            failed.extend(report.failed.iter().map(|f| {
                let why = f.error.as_ref().map_or_else(
                    || format!("exited with {}", f.exit_code.unwrap_or_default()),
                    |e| e.message.clone(),
                );
                format!("{}: {why}", f.node)
            }));
        }
        let counts = &mut self.record.stages.iter_mut().find(|s| s.name == stage.name);
        if let Some(record) = counts {
            record.nodes.succeeded =
                u32::try_from(stage.nodes.len() - failed.len().min(stage.nodes.len()))
                    .unwrap_or(u32::MAX);
            record.nodes.failed = u32::try_from(failed.len()).unwrap_or(u32::MAX);
        }
        if failed.is_empty() {
            Ok(StageEnd::Succeeded)
        } else {
            Ok(StageEnd::Failed(format!("hold failed on {}", failed.join("; "))))
        }
    }
}
