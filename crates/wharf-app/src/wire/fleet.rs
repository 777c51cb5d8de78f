//! Fleet runs: one view per node.

use serde::Serialize;
use wharf_exec::{NodeResult, Outcome};

/// One node's result of `wharf run`/`wharf copy` (`--json`: one object per line, in
/// node-set order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodeResultView {
    pub node: String,
    /// `ok`, `failed`, `timeout` or `unreachable`.
    pub status: String,
    /// The remote exit code, when the command ran to its end.
    pub exit_code: Option<u32>,
    pub stdout: String,
    pub stderr: String,
    /// Output bytes received beyond `--max-output` and not kept.
    pub truncated_bytes: u64,
    /// When the node's turn started and ended, in ms from the start of the run.
    pub started_ms: u128,
    pub finished_ms: u128,
    pub duration_ms: u128,
    pub error: Option<NodeErrorView>,
}

/// Why a node did not succeed, beyond its exit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodeErrorView {
    /// `dns`, `refused`, `timeout`, `auth`, `host-key`, `other` (unreachable);
    /// `command-timeout`, `signal` or `failed`.
    pub kind: String,
    pub message: String,
}

impl From<&NodeResult> for NodeResultView {
    fn from(result: &NodeResult) -> NodeResultView {
        let error = |kind: &str, message| Some(NodeErrorView { kind: kind.to_owned(), message });
        let (status, error) = match &result.outcome {
            Outcome::Exited(0) => ("ok", None),
            Outcome::Exited(_) => ("failed", None),
            Outcome::TimedOut(_) => {
                ("timeout", error("command-timeout", result.outcome.describe()))
            }
            Outcome::Signalled(_) => ("failed", error("signal", result.outcome.describe())),
            Outcome::Failed(message) => ("failed", error("failed", message.clone())),
            Outcome::Unreachable(unreachable) => {
                ("unreachable", error(unreachable.reason.as_str(), unreachable.message.clone()))
            }
        };
        NodeResultView {
            node: result.node.clone(),
            status: status.to_owned(),
            exit_code: result.outcome.exit_code(),
            stdout: String::from_utf8_lossy(&result.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&result.stderr).into_owned(),
            truncated_bytes: result.truncated_bytes,
            started_ms: result.started.as_millis(),
            finished_ms: result.finished.as_millis(),
            duration_ms: result.finished.saturating_sub(result.started).as_millis(),
            error,
        }
    }
}
