//! Running a deploy's stages, in order, under its lease.
//!
//! **Invariants.** Before a batch starts, its nodes are recorded `running`; when it ends,
//! each node's result (state, exit code, output tail) is recorded before anything else
//! happens — so after a kill, `succeeded` nodes are never run again and `running` ones
//! are. Windows, a cancel request and the lease are looked at before every stage after
//! the first this process runs, and between batches. A stage whose failures pass its
//! `max_failures` stops the deploy as `failed`, naming the nodes; a failing precheck
//! refuses it (exit 4) unless failures are allowed, then it is a recorded warning.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use wharf_core::inventory::Environment;
use wharf_core::nodeset::NodeSet;
use wharf_core::template::CommandKey;
use wharf_core::version::Version;
use wharf_deploy::command::{NodeName, PackageName, Pin, UnitName, Values, expand_step};
use wharf_deploy::{StageRun, exceeds};
use wharf_exec::{Action, NodeResult, Outcome, Pool};
use wharf_store::deploy::{DeployRecord, DeployState, NodeRun};
use wharf_store::now_rfc3339;

use super::prechecks::{self, CheckScope};
use super::stages::{ExecStage, Step};
use super::{Clock, window_refusals};
use crate::context::Context;
use crate::error::{AppError, Result};
use crate::fleet::{Fleet, FleetRequest};

/// A line for the front end to show as the deploy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub deploy_id: i64,
    /// Something went wrong on a node or a check (printed to stderr by the CLI).
    pub problem: bool,
    pub text: String,
}

/// Lines of a node's output kept in its record.
const TAIL_LINES: usize = 20;

/// One node's result in a batch.
struct Verdict {
    node: String,
    result: std::result::Result<(), String>,
    exit_code: Option<i64>,
    /// The last lines of its output.
    tail: String,
}

/// How a stage ended.
enum StageEnd {
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
    async fn interruption(&self) -> Result<Option<(DeployState, String)>> {
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
        let failed: Vec<String> =
            results.iter().filter(|r| !r.passed).map(prechecks::CheckResult::describe).collect();
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
        if failed.is_empty() {
            return Ok(StageEnd::Succeeded);
        }
        if stage.failure_allowed {
            for failure in &failed {
                self.record
                    .warnings
                    .push(format!("{} (allowed: --allow-precheck-failure)", failure));
                self.notice(true, format!("warning: {failure}"));
            }
            return Ok(StageEnd::Succeeded);
        }
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

    /// The command each node runs in this stage; `None`: the step has no command here.
    fn commands(
        &self,
        stage: &ExecStage,
        nodes: &[String],
    ) -> Result<Option<HashMap<String, String>>> {
        let templates =
            self.fleet.config.commands_for(Some(&self.environment.name), self.fleet.source)?;
        let pins: Vec<Pin> = self
            .record
            .packages
            .iter()
            .map(|(name, version)| {
                Ok(Pin {
                    name: name
                        .parse::<PackageName>()
                        .map_err(|e| AppError::invalid(e.to_string()))?,
                    version: version.parse()?,
                })
            })
            .collect::<Result<_>>()?;
        let expand = |key, values: &Values<'_>| {
            expand_step(&templates, key, values).map_err(|err| AppError::internal(err.to_string()))
        };
        let mut commands = HashMap::new();
        for node in nodes {
            let name: NodeName = node
                .parse()
                .map_err(|e: wharf_deploy::command::ValueError| AppError::invalid(e.to_string()))?;
            let base = Values { node: Some(&name), ..Values::default() };
            let line = match &stage.step {
                Step::Install => expand(
                    CommandKey::Install,
                    &Values { packages: &pins, allow_downgrades: self.record.downgrade, ..base },
                )?
                .map(|c| c.into_string()),
                Step::Command { key } => expand(*key, &base)?.map(|c| c.into_string()),
                Step::Run { command } => Some(command.clone()),
                Step::Services { key, services } => {
                    let mut parts = Vec::new();
                    for service in self.fleet.inventory.services() {
                        if !services.contains(&service.name) || !service.nodes.contains(node) {
                            continue;
                        }
                        for unit in &service.units {
                            let unit: UnitName =
                                unit.parse().map_err(|e: wharf_deploy::command::ValueError| {
                                    AppError::invalid(e.to_string())
                                })?;
                            if let Some(cmd) = expand(*key, &Values { unit: Some(&unit), ..base })?
                            {
                                parts.push(cmd.into_string());
                            }
                        }
                    }
                    (!parts.is_empty()).then(|| parts.join(" && "))
                }
                _ => None,
            };
            match line {
                Some(line) => {
                    commands.insert(node.clone(), line);
                }
                None if matches!(stage.step, Step::Services { .. }) => {
                    commands.insert(node.clone(), "true".to_owned());
                }
                None => return Ok(None),
            }
        }
        Ok(Some(commands))
    }

    /// Run the stage's command on its nodes, batch by batch.
    async fn on_nodes(&mut self, index: usize, stage: &ExecStage) -> Result<StageEnd> {
        let stage_no = i64::try_from(index).unwrap_or(i64::MAX);
        let previous = self.ctx.store().deploy_nodes(self.id).await?;
        let done: HashSet<String> = previous
            .iter()
            .filter(|r| r.stage == stage_no && r.state == "succeeded")
            .map(|r| r.node.clone())
            .collect();
        let mut failed: Vec<(String, String)> = Vec::new();
        let n_batches = stage.batches.len();
        for (b, batch) in stage.batches.iter().enumerate() {
            if b > 0
                && let Some((state, why)) = self.interruption().await?
            {
                return Ok(StageEnd::Stopped(state, why));
            }
            let todo: Vec<String> = batch.iter().filter(|n| !done.contains(*n)).cloned().collect();
            if todo.is_empty() {
                continue;
            }
            let Some(commands) = self.commands(stage, &todo)? else {
                self.notice(
                    false,
                    format!(
                        "stage {}: no {} command configured, skipped",
                        stage.name,
                        stage.step.kind()
                    ),
                );
                self.record.stages[index].state = "skipped".to_owned();
                return Ok(StageEnd::Succeeded);
            };
            if n_batches > 1 {
                self.notice(
                    false,
                    format!(
                        "  batch {}/{n_batches}: {}",
                        b + 1,
                        NodeSet::from_names(todo.iter().cloned()).fold()
                    ),
                );
            }
            let started = now_rfc3339();
            let running: Vec<NodeRun> = todo
                .iter()
                .map(|node| node_run(stage_no, node, "running", None, "", &started))
                .collect();
            self.ctx.store().record_nodes(self.id, &running).await?;
            let results = self.batch(stage, &todo, commands).await?;
            let finished: Vec<NodeRun> = results
                .iter()
                .map(|v| {
                    let state = if v.result.is_ok() { "succeeded" } else { "failed" };
                    let mut run =
                        node_run(stage_no, &v.node, state, v.exit_code, &v.tail, &started);
                    run.finished_at = Some(now_rfc3339());
                    run
                })
                .collect();
            self.ctx.store().record_nodes(self.id, &finished).await?;
            for Verdict { node, result, .. } in &results {
                let counts = &mut self.record.stages[index].nodes;
                match result {
                    Ok(()) => counts.succeeded += 1,
                    Err(why) => {
                        counts.failed += 1;
                        self.notice(true, format!("  {node}: {why}"));
                        failed.push((node.clone(), why.clone()));
                    }
                }
            }
            self.save().await?;
            if exceeds(stage.max_failures, failed.len(), stage.nodes.len()) {
                let nodes = NodeSet::from_names(failed.iter().map(|(n, _)| n.clone())).fold();
                let first = &failed[0];
                return Ok(StageEnd::Failed(format!(
                    "stage {} failed on {nodes} (limit {}; {}: {})",
                    stage.name, stage.max_failures, first.0, first.1
                )));
            }
        }
        Ok(StageEnd::Succeeded)
    }

    /// One batch: the commands, then (for installs) the versions. Per node: its verdict,
    /// exit code and output tail.
    async fn batch(
        &self,
        stage: &ExecStage,
        nodes: &[String],
        commands: HashMap<String, String>,
    ) -> Result<Vec<Verdict>> {
        let request = FleetRequest { nodes: vec![nodes.join(",")], ..FleetRequest::default() };
        let targets = crate::fleet::targets(
            self.fleet.inventory,
            &self.fleet.config.ssh,
            self.fleet.env,
            &request,
        )?;
        let distinct: HashSet<&String> = commands.values().collect();
        let action = match distinct.into_iter().collect::<Vec<_>>().as_slice() {
            [one] => Action::Run((*one).clone()),
            _ => Action::RunEach(commands.clone()),
        };
        let results: Vec<NodeResult> =
            crate::fleet::fan_out(&self.pool, targets, action, self.fleet.options, None).await;
        let mut verdicts: Vec<Verdict> = results
            .iter()
            .map(|r| Verdict {
                node: r.node.clone(),
                result: if r.outcome.is_success() { Ok(()) } else { Err(why(r)) },
                exit_code: r.outcome.exit_code().map(i64::from),
                tail: tail(r),
            })
            .collect();
        if stage.step == Step::Install {
            self.verify(&mut verdicts).await?;
        }
        Ok(verdicts)
    }

    /// After an install: each node that succeeded must now run the target versions.
    async fn verify(&self, verdicts: &mut [Verdict]) -> Result<()> {
        let installed: Vec<String> =
            verdicts.iter().filter(|v| v.result.is_ok()).map(|v| v.node.clone()).collect();
        let packages: Vec<String> = self.record.packages.keys().cloned().collect();
        let read = crate::versions::installed(
            self.fleet,
            &self.pool,
            &self.environment.name,
            &installed,
            &packages,
        )
        .await?;
        let read: HashMap<&str, &crate::versions::NodeVersions> =
            read.iter().map(|n| (n.node.as_str(), n)).collect();
        for verdict in verdicts.iter_mut().filter(|v| v.result.is_ok()) {
            let Some(node) = read.get(verdict.node.as_str()) else { continue };
            if let Some(error) = &node.error {
                verdict.result =
                    Err(format!("installed, but its version could not be read: {error}"));
                continue;
            }
            for (package, want) in &self.record.packages {
                let have = node.versions.get(package).cloned().flatten();
                let same = have.as_deref().and_then(|h| h.parse::<Version>().ok())
                    == want.parse::<Version>().ok();
                if !same {
                    verdict.result = Err(format!(
                        "the install exited 0 but {package} is {}, expected {want}",
                        have.as_deref().unwrap_or("not installed")
                    ));
                }
            }
        }
        Ok(())
    }
}

fn node_run(
    stage: i64,
    node: &str,
    state: &str,
    code: Option<i64>,
    tail: &str,
    at: &str,
) -> NodeRun {
    NodeRun {
        stage,
        node: node.to_owned(),
        state: state.to_owned(),
        exit_code: code,
        output_tail: tail.to_owned(),
        started_at: at.to_owned(),
        finished_at: None,
    }
}

/// Why a node failed, in one line: its outcome and its last line of error output.
fn why(result: &NodeResult) -> String {
    let last = String::from_utf8_lossy(&result.stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default();
    match &result.outcome {
        Outcome::Unreachable(_) => result.outcome.describe(),
        other => format!("{}{last}", other.describe()),
    }
}

/// The last lines of a node's output (stdout, then stderr).
fn tail(result: &NodeResult) -> String {
    let mut text = String::from_utf8_lossy(&result.stdout).into_owned();
    let err = String::from_utf8_lossy(&result.stderr);
    if !err.trim().is_empty() {
        text.push_str(&err);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}
