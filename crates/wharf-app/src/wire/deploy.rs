//! Deploys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wharf_store::deploy::DeployRow;

/// `wharf deploy … --dry-run`: the plan, and every guard that would refuse it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRunReport {
    pub environment: String,
    pub pipeline: String,
    pub version: String,
    /// The environment's packages, each deployed at `version`.
    pub packages: Vec<String>,
    pub automated: bool,
    pub stages: Vec<PlannedStageView>,
    /// Empty when the deploy may go ahead.
    pub refusals: Vec<RefusalView>,
}

/// One planned stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStageView {
    pub name: String,
    /// `check`, `run`, `install`, `restart`, `http-check`, `wait`, `manual`.
    pub kind: String,
    /// Its nodes (within the environment), folded.
    pub nodes: String,
    pub count: usize,
    pub batches: usize,
    /// `run`, `wait` (for `wharf approve`) or `skip`.
    pub run: String,
    /// Why it waits or is skipped.
    pub note: Option<String>,
    pub point_of_no_return: bool,
}

/// A guard that refuses the deploy: which, why, and what lifts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalView {
    /// `lock`, `hold`, `window`, `promotion-gate`, `downgrade`, …
    pub guard: String,
    pub message: String,
    pub lift: String,
}

/// A deploy, as `wharf deploy --json`, `show`, `history` and the API report it (field names
/// fixed by docs/deploy.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployView {
    pub id: i64,
    pub environment: String,
    pub pipeline: String,
    /// Package → version deployed.
    pub packages: BTreeMap<String, String>,
    /// Package → version the environment ran before.
    pub previous: BTreeMap<String, String>,
    /// `planned`, `running`, `waiting`, `succeeded`, `failed`, `interrupted`, `cancelled`,
    /// `refused`.
    pub state: String,
    pub started_by: String,
    /// `cli`, `api`, `chat`, `schedule`.
    pub via: String,
    pub automated: bool,
    pub overrides: Vec<OverrideView>,
    pub warnings: Vec<String>,
    pub stages: Vec<StageView>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Why it stopped (failed, interrupted, cancelled, refused), in words.
    pub reason: Option<String>,
    /// The issue or change request it belongs to (`--issue`).
    pub issue: Option<String>,
}

/// A guard lifted for a deploy, with its mandatory reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideView {
    /// `ignore-production-checks`, `allow-precheck-failure`, `force`, `reviewed-by`.
    pub kind: String,
    pub reason: String,
    pub by: String,
}

/// One stage of a deploy as it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageView {
    pub name: String,
    pub kind: String,
    /// `pending`, `running`, `waiting`, `succeeded`, `failed`, `skipped`.
    pub state: String,
    pub nodes: NodeCountsView,
    pub point_of_no_return: bool,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// How many of a stage's nodes succeeded, failed and were skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCountsView {
    pub succeeded: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl From<&wharf_store::deploy::Override> for OverrideView {
    fn from(o: &wharf_store::deploy::Override) -> OverrideView {
        OverrideView { kind: o.kind.clone(), reason: o.reason.clone(), by: o.by.clone() }
    }
}

impl From<&DeployRow> for DeployView {
    fn from(row: &DeployRow) -> DeployView {
        let r = &row.record;
        DeployView {
            id: row.id,
            environment: r.environment.clone(),
            pipeline: r.pipeline.clone(),
            packages: r.packages.clone(),
            previous: r.previous.clone(),
            state: r.state.as_str().to_owned(),
            started_by: r.started_by.clone(),
            via: r.via.clone(),
            automated: r.automated,
            overrides: r.overrides.iter().map(OverrideView::from).collect(),
            warnings: r.warnings.clone(),
            stages: r
                .stages
                .iter()
                .map(|s| StageView {
                    name: s.name.clone(),
                    kind: s.kind.clone(),
                    state: s.state.clone(),
                    nodes: NodeCountsView {
                        succeeded: s.nodes.succeeded,
                        failed: s.nodes.failed,
                        skipped: s.nodes.skipped,
                    },
                    point_of_no_return: s.point_of_no_return,
                    started_at: s.started_at.clone(),
                    finished_at: s.finished_at.clone(),
                })
                .collect(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            reason: r.reason.clone(),
            issue: r.issue.clone(),
        }
    }
}

/// What `wharf deploy`, `rollback`, `resume`, `approve` and `cancel` print with `--json`:
/// the deploy (its fields at the top level) and the guards that refused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployResult {
    #[serde(flatten)]
    pub deploy: DeployView,
    /// Empty unless a guard refused the deploy before it ran.
    pub refusals: Vec<RefusalView>,
}
