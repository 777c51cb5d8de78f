//! The steps a deploy runs: a [`Plan`]'s stages, or the downgrade flow of seed 000 (stop
//! the services, install the older version, reconfigure, start, check the services and
//! the installed version, hold), as [`ExecStage`]s the engine executes and a record lists.

use wharf_core::inventory::{Environment, Inventory};
use wharf_core::template::CommandKey;
use wharf_deploy::{Action, Amount, Plan, StageRun, batches};

/// The pipeline name a downgrade is recorded under.
pub(crate) const DOWNGRADE_PIPELINE: &str = "downgrade";

/// What a stage does when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The built-in and configured checks. A precheck comes before any stage that changes
    /// nodes: its failure refuses the deploy (exit 4) unless failures are allowed.
    Checks {
        precheck: bool,
    },
    /// The deploy's packages at their versions, verified with the `version` command.
    Install,
    /// A command per unit of the named services on each node (`restart`, `stop`, …).
    Services {
        key: CommandKey,
        services: Vec<String>,
    },
    /// An environment-level command (`reconfigure`); skipped when none is configured.
    Command {
        key: CommandKey,
    },
    /// A command from `[[pipelines]]`, as written.
    Run {
        command: String,
    },
    HttpCheck {
        url: String,
        expect_status: u16,
        expect_body: Option<String>,
        timeout: u64,
    },
    Wait {
        seconds: u64,
    },
    /// Continues when an operator approves it.
    Manual,
    /// Record a hold of the packages and run `hold` on the nodes (`--hold`).
    Hold,
}

impl Step {
    /// As recorded: `check`, `install`, `restart`, `stop`, `start`, `status`,
    /// `reconfigure`, `run`, `http-check`, `wait`, `manual`, `hold`.
    pub(crate) fn kind(&self) -> String {
        match self {
            Step::Checks { .. } => "check".to_owned(),
            Step::Install => "install".to_owned(),
            Step::Services { key, .. } | Step::Command { key } => key.to_string(),
            Step::Run { .. } => "run".to_owned(),
            Step::HttpCheck { .. } => "http-check".to_owned(),
            Step::Wait { .. } => "wait".to_owned(),
            Step::Manual => "manual".to_owned(),
            Step::Hold => "hold".to_owned(),
        }
    }

    /// Whether it runs a command per node (and so records each node's result).
    pub(crate) fn on_nodes(&self) -> bool {
        matches!(
            self,
            Step::Install
                | Step::Services { .. }
                | Step::Command { .. }
                | Step::Run { .. }
                | Step::Hold
        )
    }
}

/// One stage as the engine runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExecStage {
    pub name: String,
    pub step: Step,
    pub nodes: Vec<String>,
    pub batches: Vec<Vec<String>>,
    pub max_failures: Amount,
    pub run: StageRun,
    pub point_of_no_return: bool,
    /// A failing check is a warning, not a stop (`--allow-precheck-failure`).
    pub failure_allowed: bool,
}

/// A plan's stages as steps.
pub(crate) fn from_plan(plan: &Plan) -> Vec<ExecStage> {
    let mut changed = false;
    plan.stages
        .iter()
        .map(|stage| {
            let step = match &stage.action {
                Action::Check => Step::Checks { precheck: !changed },
                Action::Run { command } => Step::Run { command: command.clone() },
                Action::Install => Step::Install,
                Action::Restart { .. } => {
                    Step::Services { key: CommandKey::Restart, services: stage.services.clone() }
                }
                Action::HttpCheck { url, expect_status, expect_body, timeout } => Step::HttpCheck {
                    url: url.clone(),
                    expect_status: *expect_status,
                    expect_body: expect_body.clone(),
                    timeout: *timeout,
                },
                Action::Wait { duration } => Step::Wait { seconds: *duration },
                Action::Manual => Step::Manual,
            };
            changed |= stage.action.changes_nodes() && !matches!(stage.run, StageRun::Skip(_));
            ExecStage {
                name: stage.name.clone(),
                step,
                nodes: stage.nodes.clone(),
                batches: stage.batches.clone(),
                max_failures: stage.max_failures,
                run: stage.run.clone(),
                point_of_no_return: stage.point_of_no_return,
                failure_allowed: stage.failure_allowed,
            }
        })
        .collect()
}

/// Seed 000's downgrade: every node at once (a dev box, a small environment), stopping at
/// the first failure.
pub(crate) fn downgrade(
    environment: &Environment,
    inventory: &Inventory,
    allow_precheck_failure: bool,
    hold: bool,
) -> Vec<ExecStage> {
    let services: Vec<String> = inventory
        .services()
        .iter()
        .filter(|s| s.nodes.iter().any(|n| environment.nodes.contains(n)))
        .map(|s| s.name.clone())
        .collect();
    let with_services: Vec<String> = environment
        .nodes
        .iter()
        .filter(|node| {
            inventory
                .services()
                .iter()
                .any(|s| services.contains(&s.name) && s.nodes.contains(node))
        })
        .cloned()
        .collect();
    let stage = |name: &str, step: Step, nodes: &[String]| ExecStage {
        name: name.to_owned(),
        run: if nodes.is_empty() && step.on_nodes() {
            StageRun::Skip(format!("no service runs on {}", environment.name))
        } else {
            StageRun::Run
        },
        failure_allowed: allow_precheck_failure && step == Step::Checks { precheck: true },
        step,
        nodes: nodes.to_vec(),
        batches: batches(nodes, None),
        max_failures: Amount::Count(0),
        point_of_no_return: false,
    };
    let all = &environment.nodes;
    let service_step = |key| Step::Services { key, services: services.clone() };
    let mut stages = vec![
        stage("prepare", Step::Checks { precheck: true }, all),
        stage("stop", service_step(CommandKey::Stop), &with_services),
        stage("install", Step::Install, all),
        stage("reconfigure", Step::Command { key: CommandKey::Reconfigure }, all),
        stage("start", service_step(CommandKey::Start), &with_services),
        stage("status", service_step(CommandKey::Status), &with_services),
        stage("verify", Step::Checks { precheck: false }, all),
    ];
    if hold {
        stages.push(stage("hold", Step::Hold, all));
    }
    stages
}
