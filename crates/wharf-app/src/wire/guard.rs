//! Locks and maintenance.

use serde::Serialize;

/// What `wharf lock` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LockReport {
    /// The environment, or `*` for all.
    pub environment: String,
    pub holder: String,
    pub reason: String,
    pub since: String,
    /// When it lifts by itself (`--until`); `null`: when unlocked.
    pub until: Option<String>,
    /// Whose lock was taken over with `--steal`; `null` otherwise.
    pub stolen_from: Option<String>,
    pub audit_id: i64,
}

/// What `wharf unlock` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UnlockReport {
    pub environment: String,
    pub was_locked_by: String,
    pub audit_id: i64,
}

/// What `wharf maintenance start|stop` changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MaintenanceReport {
    /// The nodes, folded.
    pub nodes: String,
    pub count: usize,
    pub audit_id: i64,
    /// Nodes where the `maintenance_start`/`maintenance_stop` command failed (the record
    /// stands either way).
    pub failed: Vec<super::NodeResultView>,
}

/// A change-lock window as of a moment (`wharf windows [--at TIME]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct WindowView {
    pub name: String,
    /// Whether it is open at the moment asked about.
    pub open: bool,
    /// `automated` (refuses only automated deploys) or `all`.
    pub applies_to: String,
    /// The environments it covers; `["*"]`: all.
    pub environments: Vec<String>,
    /// Its IANA time zone.
    pub timezone: String,
    pub reason: Option<String>,
    /// The current opening, or else the next, in UTC (RFC 3339); `null` once a dated
    /// window is over.
    pub opens_at: Option<String>,
    pub closes_at: Option<String>,
    /// The same instants in the window's own zone, `2026-12-24 18:00 CET`.
    pub opens_local: Option<String>,
    pub closes_local: Option<String>,
}

/// What `wharf hold` or `wharf unhold` did: the record, then the nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HoldReport {
    pub environment: String,
    pub package: String,
    /// The hold's reason (`null` for an unhold).
    pub reason: Option<String>,
    /// Nodes where the `hold`/`unhold` command succeeded, folded.
    pub succeeded: String,
    /// Nodes where it did not, each with its result.
    pub failed: Vec<crate::wire::NodeResultView>,
    pub audit_id: i64,
}

/// `wharf holds --check`: the recorded holds, and every node whose `holds` command
/// disagrees with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HoldsCheck {
    pub holds: Vec<wharf_store::guard::PackageHold>,
    pub disagreeing_nodes: Vec<HoldDisagreement>,
}

/// A node whose held packages (among its environment's packages and recorded holds) are
/// not the recorded ones, or that could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HoldDisagreement {
    pub node: String,
    pub environment: String,
    /// Recorded as held on its environment, not held on the node.
    pub not_held: Vec<String>,
    /// Held on the node, not recorded (`wharf hold` it, or release it on the node).
    pub unrecorded: Vec<String>,
    /// Why the node could not be asked; the lists are empty then.
    pub error: Option<String>,
}
