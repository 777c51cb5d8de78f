//! Where each environment stands (`wharf status`) and one deploy in full (`wharf show`).

use std::collections::BTreeMap;

use serde::Serialize;
use wharf_store::deploy::NodeRun;
use wharf_store::guard::{EnvLock, Maintenance, PackageHold};

use super::{DeployView, OverrideView};

/// One environment as `wharf status` reports it (field names fixed by docs/deploy.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EnvironmentStatus {
    pub environment: String,
    /// Package → what the newest succeeded deploy of it to this environment installed.
    /// Packages never deployed here are absent.
    pub packages: BTreeMap<String, DeployedVersion>,
    /// The lock that stops deploys here — the environment's own, else the global one
    /// (`environment` = `*`); `null` when deploys may go ahead.
    pub locked: Option<EnvLock>,
    /// The packages held on this environment.
    pub holds: Vec<PackageHold>,
    /// The change-lock windows covering this environment that are open at the moment
    /// asked about.
    pub open_windows: Vec<OpenWindowView>,
    /// This environment's nodes in maintenance.
    pub maintenance: Vec<Maintenance>,
    /// With `--check`: nodes whose installed version differs from the expected one, and
    /// nodes that could not be read. Without `--check`: empty.
    pub disagreeing_nodes: Vec<DisagreeingNodeView>,
    /// Whether installed versions were read (`--check`).
    pub checked: bool,
    /// The deploy in progress here (`planned`, `running` or `waiting`); `null` if none.
    pub running: Option<RunningDeployView>,
}

/// The version a succeeded deploy installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeployedVersion {
    pub version: String,
    /// When that deploy finished (RFC 3339, UTC).
    pub deployed_at: String,
    pub deploy_id: i64,
    /// Who started that deploy.
    #[serde(default)]
    pub deployed_by: String,
    /// The guards it lifted, each with its reason.
    #[serde(default)]
    pub overrides: Vec<OverrideView>,
}

/// A change-lock window open now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OpenWindowView {
    pub name: String,
    /// When the current opening closes (RFC 3339, UTC).
    pub until: String,
    /// `automated` (refuses only automated deploys) or `all`.
    pub applies_to: String,
    pub reason: Option<String>,
}

/// A node that disagrees: its versions, and what was expected of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DisagreeingNodeView {
    pub node: String,
    /// Package → installed version (`null`: not installed); empty when unreadable.
    pub versions: BTreeMap<String, Option<String>>,
    /// Package → the expected version: the recorded one (the newest succeeded deploy),
    /// else the one most of the environment's nodes have; `null` when neither exists
    /// (never deployed and no majority). Only packages this node differs on.
    pub expected: BTreeMap<String, Option<String>>,
    /// Why the versions could not be read (unreachable, the command failed); `null`
    /// when they were.
    pub error: Option<String>,
}

/// The deploy in progress on an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RunningDeployView {
    pub id: i64,
    /// `planned`, `running` or `waiting`.
    pub state: String,
    /// The stage it is at (the first not finished); `null` before the first.
    pub stage: Option<String>,
}

/// `wharf show ID`: the deploy, every node's result and its events.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DeployDetail {
    pub deploy: DeployView,
    /// By stage, then node.
    pub nodes: Vec<NodeRunView>,
    /// Oldest first.
    pub events: Vec<DeployEventView>,
}

/// One node's result in one stage of a deploy: the store's [`NodeRun`] (`stage`, `node`,
/// `state`, `exit_code`, `output_tail`, `started_at`, `finished_at`) and the stage's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodeRunView {
    #[serde(flatten)]
    pub run: NodeRun,
    /// The name of stage `stage` (`null` if the record has no such stage).
    pub stage_name: Option<String>,
}

/// Something that happened to a deploy (what notifiers announce).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DeployEventView {
    pub id: i64,
    pub at: String,
    /// `deploy.started`, `stage.finished`, `deploy.finished`, `downgrade.announced`, …
    pub kind: String,
    pub body: serde_json::Value,
}
