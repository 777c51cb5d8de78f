//! A stage on nodes, batch by batch: each node's command (the stage's template expanded
//! with the node's name, pins and units), the fan-out over the deploy's pool, the version
//! check after installs, and each node's result recorded before anything else happens.

use std::collections::{HashMap, HashSet};

use wharf_core::nodeset::NodeSet;
use wharf_core::template::CommandKey;
use wharf_core::version::Version;
use wharf_deploy::command::{NodeName, PackageName, Pin, UnitName, Values, expand_step};
use wharf_deploy::exceeds;
use wharf_exec::{Action, NodeResult, Outcome};
use wharf_store::deploy::NodeRun;
use wharf_store::now_rfc3339;

use super::engine::{Engine, StageEnd};
use super::stages::{ExecStage, Step};
use crate::error::{AppError, Result};
use crate::fleet::FleetRequest;

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

impl Engine<'_> {
    /// The command each node runs in this stage; `None`: the step has no command here.
    pub(crate) fn commands(
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
        // `{version}`: the one version every package goes to; none when they differ.
        let mut versions: Vec<&Version> = pins.iter().map(|pin| &pin.version).collect();
        versions.dedup();
        let version = match versions.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let expand = |key, values: &Values<'_>| {
            expand_step(&templates, key, values).map_err(|err| {
                AppError::invalid(format!(
                    "{err}: this deploy gives none (`{{version}}` needs every package at one \
                     version; use `{{packages}}` for `pkg=version` words)"
                ))
            })
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
                    &Values {
                        packages: &pins,
                        version,
                        allow_downgrades: self.record.downgrade,
                        ..base
                    },
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
    pub(crate) async fn on_nodes(&mut self, index: usize, stage: &ExecStage) -> Result<StageEnd> {
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
            failed.extend(self.run_batch(index, stage, &todo, commands).await?);
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

    /// Run one batch, its nodes recorded `running` first and finished after; returns the
    /// nodes that failed, with why.
    async fn run_batch(
        &mut self,
        index: usize,
        stage: &ExecStage,
        todo: &[String],
        commands: HashMap<String, String>,
    ) -> Result<Vec<(String, String)>> {
        let stage_no = i64::try_from(index).unwrap_or(i64::MAX);
        let mut failed = Vec::new();
        let started = now_rfc3339();
        let running: Vec<NodeRun> = todo
            .iter()
            .map(|node| node_run(stage_no, node, "running", None, "", &started))
            .collect();
        self.ctx.store().record_nodes(self.id, &running).await?;
        let results = self.batch(stage, todo, commands).await?;
        let finished: Vec<NodeRun> = results
            .iter()
            .map(|v| {
                let state = if v.result.is_ok() { "succeeded" } else { "failed" };
                let mut run = node_run(stage_no, &v.node, state, v.exit_code, &v.tail, &started);
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
        Ok(failed)
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
