//! Plans: which stages a deploy runs, on which nodes, in which batches.
//!
//! [`plan`] meets a [`Pipeline`] with an [`Environment`]: every stage's nodes are
//! intersected with the environment's (in the environment's node-set order), split into
//! batches, and its `when` decided. Nothing runs here; the application layer executes a
//! [`Plan`] and `--dry-run` prints one.

use std::collections::BTreeSet;

use wharf_core::config::{StageKind, StageWhen};
use wharf_core::inventory::{Environment, Inventory};
use wharf_core::version::Version;

use crate::amount::{Amount, batches};
use crate::pipeline::{Action, Pipeline, ServiceSelector, Stage};

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRequest {
    pub version: Version,
    /// `--allow-precheck-failure`: checks before the first stage that changes nodes report
    /// failures without stopping the deploy.
    pub allow_precheck_failure: bool,
}

/// A deploy, decided: what will run where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub environment: String,
    pub pipeline: String,
    pub version: Version,
    /// The environment's packages, installed at `version`.
    pub packages: Vec<String>,
    pub stages: Vec<PlannedStage>,
}

/// One stage of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStage {
    pub name: String,
    pub action: Action,
    /// The stage's nodes within the environment, in node-set order.
    pub nodes: Vec<String>,
    /// `nodes` split by the stage's batch size.
    pub batches: Vec<Vec<String>>,
    /// For `restart`: the services restarted, by name; empty otherwise.
    pub services: Vec<String>,
    pub max_failures: Amount,
    pub run: StageRun,
    pub point_of_no_return: bool,
    /// A failure is reported but does not stop the deploy (`--allow-precheck-failure`).
    pub failure_allowed: bool,
}

impl PlannedStage {
    #[must_use]
    pub fn kind(&self) -> StageKind {
        self.action.kind()
    }
}

/// Whether a planned stage runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRun {
    Run,
    /// `when = "manual"`: the deploy waits here until an operator continues it.
    AwaitApproval,
    /// Not run, and why.
    Skip(String),
}

/// A pipeline that cannot run in an environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "stage {stage} of pipeline {pipeline} selects no node of {environment}: \
         fix the stage's `nodes` or the environment's"
    )]
    EmptyStage { pipeline: String, stage: String, environment: String },
    #[error(
        "stage {stage} of pipeline {pipeline} restarts {selectors}, none of which runs on its \
         nodes in {environment}"
    )]
    NoServices { pipeline: String, stage: String, environment: String, selectors: String },
}

/// The stages `pipeline` runs in `environment` for `request`.
pub fn plan(
    environment: &Environment,
    pipeline: &Pipeline,
    inventory: &Inventory,
    request: &DeployRequest,
) -> Result<Plan, PlanError> {
    let mut stages = Vec::new();
    let mut changed = false;
    for stage in &pipeline.stages {
        let planned = plan_stage(environment, pipeline, inventory, stage, request, changed)?;
        changed |= stage.action.changes_nodes() && !matches!(planned.run, StageRun::Skip(_));
        stages.push(planned);
    }
    Ok(Plan {
        environment: environment.name.clone(),
        pipeline: pipeline.name.clone(),
        version: request.version.clone(),
        packages: environment.packages.clone(),
        stages,
    })
}

fn plan_stage(
    environment: &Environment,
    pipeline: &Pipeline,
    inventory: &Inventory,
    stage: &Stage,
    request: &DeployRequest,
    changed: bool,
) -> Result<PlannedStage, PlanError> {
    let mut nodes: Vec<String> = match &stage.nodes {
        None => environment.nodes.clone(),
        Some(set) => environment.nodes.iter().filter(|node| set.contains(node)).cloned().collect(),
    };
    let mut services = Vec::new();
    let mut skip = None;
    if let Action::Restart { services: selectors } = &stage.action {
        let on_stage: BTreeSet<String> = nodes.iter().cloned().collect();
        let mut restarted_on = BTreeSet::new();
        for service in inventory.services() {
            let selected = selectors.iter().any(|selector| match selector {
                ServiceSelector::All => true,
                ServiceSelector::Name(name) => service.name == *name,
                ServiceSelector::Kind(kind) => service.kind == *kind,
                ServiceSelector::Tier(tier) => service.tier == Some(*tier),
            });
            let here: Vec<&str> = service
                .nodes
                .iter()
                .map(String::as_str)
                .filter(|n| on_stage.contains(*n))
                .collect();
            if selected && !here.is_empty() {
                services.push(service.name.clone());
                restarted_on.extend(here);
            }
        }
        nodes.retain(|node| restarted_on.contains(node.as_str()));
        if services.is_empty() && !on_stage.is_empty() {
            if !stage.skip_if_empty {
                return Err(PlanError::NoServices {
                    pipeline: pipeline.name.clone(),
                    stage: stage.name.clone(),
                    environment: environment.name.clone(),
                    selectors: selectors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            skip = Some(format!("no service to restart in {}", environment.name));
        }
    }
    if stage.when == StageWhen::CanaryOnly && !environment.canary {
        skip = Some(format!("canary-only, and {} is not a canary environment", environment.name));
    }
    if nodes.is_empty() && skip.is_none() {
        if !stage.skip_if_empty {
            return Err(PlanError::EmptyStage {
                pipeline: pipeline.name.clone(),
                stage: stage.name.clone(),
                environment: environment.name.clone(),
            });
        }
        skip = Some(format!("no node of {} in this stage", environment.name));
    }
    let run = match (skip, stage.when) {
        (Some(why), _) => StageRun::Skip(why),
        (None, StageWhen::Manual) => StageRun::AwaitApproval,
        (None, _) => StageRun::Run,
    };
    Ok(PlannedStage {
        name: stage.name.clone(),
        action: stage.action.clone(),
        batches: batches(&nodes, stage.batch),
        nodes,
        services,
        max_failures: stage.max_failures,
        run,
        point_of_no_return: stage.point_of_no_return,
        failure_allowed: request.allow_precheck_failure
            && stage.action.kind() == StageKind::Check
            && !changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::load;

    /// One row: the extra config, the environment, the pipeline, and the stages as
    /// `name run nodes batches` lines (or the error).
    fn check(extra: &str, env: &str, pipeline: &str, precheck: bool, want: Result<&[&str], &str>) {
        let (inventory, pipelines) = load(extra).unwrap();
        let environment = inventory.environment(env).unwrap();
        let request =
            DeployRequest { version: "11.8.1".parse().unwrap(), allow_precheck_failure: precheck };
        let got = plan(environment, pipelines.get(pipeline).unwrap(), &inventory, &request);
        match (got, want) {
            (Ok(plan), Ok(want)) => {
                let lines: Vec<String> = plan
                    .stages
                    .iter()
                    .map(|stage| {
                        let run = match &stage.run {
                            StageRun::Run => "run".to_owned(),
                            StageRun::AwaitApproval => "await".to_owned(),
                            StageRun::Skip(why) => format!("skip({why})"),
                        };
                        let batches: Vec<String> =
                            stage.batches.iter().map(|b| b.len().to_string()).collect();
                        let mut line = format!(
                            "{} {run} {} [{}]",
                            stage.name,
                            stage.nodes.join(","),
                            batches.join(",")
                        );
                        if !stage.services.is_empty() {
                            line.push_str(&format!(" services={}", stage.services.join(",")));
                        }
                        if stage.failure_allowed {
                            line.push_str(" failure-allowed");
                        }
                        line
                    })
                    .collect();
                assert_eq!(lines, want, "{env} {pipeline}");
            }
            (Err(err), Err(want)) => assert_eq!(err.to_string(), want),
            (got, want) => panic!("{env} {pipeline}: got {got:?}, want {want:?}"),
        }
    }

    const GPRD: &str =
        "gitaly01,gitaly02,praefect01,web03,web04,web05,web06,web07,web08,web09,web10";

    #[test]
    fn built_in_pipelines() {
        check(
            "",
            "gprd",
            "upgrade",
            false,
            Ok(&[
                &format!("prepare run {GPRD} [11]"),
                "tier-1 run gitaly01,gitaly02 [2]",
                "tier-2 run praefect01 [1]",
                "install run web03,web04,web05,web06,web07,web08,web09,web10 [2,2,2,2]",
                &format!("restart run {GPRD} [11] services=praefect,gitaly,puma"),
                &format!("verify run {GPRD} [11]"),
            ]),
        );
        check(
            "",
            "gstg",
            "upgrade",
            true,
            Ok(&[
                "prepare run stg1,stg2 [2] failure-allowed",
                "tier-1 skip(no node of gstg in this stage)  []",
                "tier-2 skip(no node of gstg in this stage)  []",
                "install run stg1,stg2 [1,1]",
                "restart skip(no service to restart in gstg)  []",
                "verify run stg1,stg2 [2]",
            ]),
        );
        check(
            "",
            "gprd",
            "rollback",
            false,
            Ok(&[
                &format!("prepare run {GPRD} [11]"),
                "install run web03,web04,web05,web06,web07,web08,web09,web10 [2,2,2,2]",
                "tier-2 await praefect01 [1]",
                "tier-1 await gitaly01,gitaly02 [2]",
            ]),
        );
    }

    const CUSTOM: &str = r#"
[[pipelines]]
name = "custom"
[[pipelines.stages]]
name = "lb"
kind = "check"
[[pipelines.stages]]
name = "assets"
kind = "run"
command = "upload-assets"
when = "canary-only"
nodes = "web01,web03"
[[pipelines.stages]]
name = "web"
kind = "install"
nodes = "web[01-10]"
batch = 3
[[pipelines.stages]]
name = "after"
kind = "check"
[[pipelines.stages]]
name = "rpc"
kind = "restart"
services = ["rpc"]
[[pipelines.stages]]
name = "approve"
kind = "manual"
when = "manual"
"#;

    #[test]
    fn written_pipelines() {
        check(
            CUSTOM,
            "gprd-cny",
            "custom",
            true,
            Err(
                "stage rpc of pipeline custom restarts rpc, none of which runs on its nodes in gprd-cny",
            ),
        );
        let canary = CUSTOM.replace("services = [\"rpc\"]", "services = [\"worker\"]");
        check(
            &canary,
            "gprd-cny",
            "custom",
            true,
            Ok(&[
                "lb run web01,web02 [2] failure-allowed",
                "assets run web01 [1]",
                "web run web01,web02 [2]",
                "after run web01,web02 [2]",
                "rpc run web01,web02 [2] services=puma",
                "approve await web01,web02 [2]",
            ]),
        );
        check(
            CUSTOM,
            "gprd",
            "custom",
            true,
            Ok(&[
                &format!("lb run {GPRD} [11] failure-allowed"),
                "assets skip(canary-only, and gprd is not a canary environment) web03 [1]",
                "web run web03,web04,web05,web06,web07,web08,web09,web10 [3,3,2]",
                &format!("after run {GPRD} [11]"),
                "rpc run gitaly01,gitaly02,praefect01 [3] services=praefect,gitaly",
                &format!("approve await {GPRD} [11]"),
            ]),
        );
        let empty = "[[pipelines]]\nname = \"db\"\n[[pipelines.stages]]\nname = \"migrate\"\nkind = \"install\"\nnodes = \"gitaly01\"\n";
        check(
            empty,
            "gstg",
            "db",
            false,
            Err(
                "stage migrate of pipeline db selects no node of gstg: fix the stage's `nodes` or the environment's",
            ),
        );
        check(empty, "gprd", "db", false, Ok(&["migrate run gitaly01 [1]"]));
    }
}
