//! Prepare checks.

use serde::Serialize;

/// The result of one prepare check (a `[[checks]]` entry, or a pipeline's `http-check`
/// stage): pass or fail, with the evidence that says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckOutcome {
    /// The `[[checks]]` entry's name (for an `http-check` stage: the URL).
    pub name: String,
    /// `haproxy`, `alertmanager`, `http` or `command`.
    pub kind: String,
    pub passed: bool,
    /// One line a fact: each failing `backend/server STATUS`, each firing alert with its
    /// labels, the status or body an endpoint answered, a command's last lines of output;
    /// on a pass, what was seen to be fine.
    pub evidence: Vec<String>,
}
