//! Locks and maintenance.

use serde::Serialize;

/// What `wharf lock` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockReport {
    /// The environment, or `*` for all.
    pub environment: String,
    pub holder: String,
    pub reason: String,
    pub since: String,
    /// Whose lock was taken over with `--steal`; `null` otherwise.
    pub stolen_from: Option<String>,
    pub audit_id: i64,
}

/// What `wharf unlock` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnlockReport {
    pub environment: String,
    pub was_locked_by: String,
    pub audit_id: i64,
}

/// What `wharf maintenance start|stop` changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceReport {
    /// The nodes, folded.
    pub nodes: String,
    pub count: usize,
    pub audit_id: i64,
}
