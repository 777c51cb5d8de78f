//! Deploys.

use serde::Serialize;

/// `wharf deploy … --dry-run`: the plan, and every guard that would refuse it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStageView {
    pub name: String,
    /// `check`, `run`, `install`, `restart`, `http-check`, `wait`, `manual`.
    pub kind: String,
    /// Its nodes (within the environment), folded.
    pub nodes: String,
    pub count: usize,
    pub batches: usize,
    /// `run`, `wait` (for `wharf approve`) or `skip`.
    pub run: &'static str,
    /// Why it waits or is skipped.
    pub note: Option<String>,
    pub point_of_no_return: bool,
}

/// A guard that refuses the deploy: which, why, and what lifts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusalView {
    /// `lock`, `hold`, `window`, `promotion-gate`, `downgrade`, …
    pub guard: String,
    pub message: String,
    pub lift: String,
}
