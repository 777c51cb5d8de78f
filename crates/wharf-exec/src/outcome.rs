//! What happened on a node: [`NodeResult`] and its [`Outcome`]. A node that exits non-zero,
//! times out or cannot be reached is an outcome — data — never an `Err`.

use std::time::Duration;

use serde::{Serialize, Serializer};

/// Why a node could not be reached. Spelled one way everywhere — serde, [`as_str`]
/// and `Display`: `dns`, `refused`, `timeout`, `auth`, `host-key`, `other`.
///
/// [`as_str`]: UnreachableReason::as_str
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnreachableReason {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens on the port.
    Refused,
    /// No answer (TCP, key exchange or authentication) within the connect timeout.
    Timeout,
    /// No offered key was accepted.
    Auth,
    /// The host key is unknown, changed or revoked.
    HostKey,
    /// Anything else before the command could start (network unreachable, protocol error).
    Other,
}

impl UnreachableReason {
    /// The reason's name (kebab-case), as in `--json` output and `unreachable (host-key): …`.
    pub fn as_str(self) -> &'static str {
        match self {
            UnreachableReason::Dns => "dns",
            UnreachableReason::Refused => "refused",
            UnreachableReason::Timeout => "timeout",
            UnreachableReason::Auth => "auth",
            UnreachableReason::HostKey => "host-key",
            UnreachableReason::Other => "other",
        }
    }
}

impl std::fmt::Display for UnreachableReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for UnreachableReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A node could not be reached: the reason and a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Unreachable {
    pub reason: UnreachableReason,
    pub message: String,
}

impl Unreachable {
    pub(crate) fn new(reason: UnreachableReason, message: impl Into<String>) -> Unreachable {
        Unreachable { reason, message: message.into() }
    }
}

/// How a node's command ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The command ran and exited with this code.
    Exited(u32),
    /// The command was killed by a signal (name without `SIG`).
    Signalled(String),
    /// The command outlived the command timeout; it was sent SIGKILL and its channel closed.
    TimedOut(Duration),
    /// The node could not be reached; the command did not run.
    Unreachable(Unreachable),
    /// The connection broke or the server refused the request after connecting.
    Failed(String),
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Exited(0))
    }

    /// The remote exit code, when the command ran to its end.
    pub fn exit_code(&self) -> Option<u32> {
        match self {
            Outcome::Exited(code) => Some(*code),
            _ => None,
        }
    }

    /// A one-line description of a non-success, e.g. `exited with exit code 3`.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Exited(code) => format!("exited with exit code {code}"),
            Outcome::Signalled(signal) => format!("killed by signal {signal}"),
            Outcome::TimedOut(after) => {
                format!("command timed out after {}s, killed", after.as_secs_f64())
            }
            Outcome::Unreachable(unreachable) => {
                format!("unreachable ({}): {}", unreachable.reason, unreachable.message)
            }
            Outcome::Failed(message) => format!("failed: {message}"),
        }
    }
}

/// Everything Wharf knows about one node's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeResult {
    pub node: String,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output bytes received beyond the per-node limit and not kept.
    pub truncated_bytes: u64,
    /// When the node's turn started and ended, measured from the start of the run.
    pub started: Duration,
    pub finished: Duration,
    pub outcome: Outcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_spelled_one_way() {
        let reasons = [
            (UnreachableReason::Dns, "dns"),
            (UnreachableReason::Refused, "refused"),
            (UnreachableReason::Timeout, "timeout"),
            (UnreachableReason::Auth, "auth"),
            (UnreachableReason::HostKey, "host-key"),
            (UnreachableReason::Other, "other"),
        ];
        for (reason, name) in reasons {
            assert_eq!(reason.as_str(), name);
            assert_eq!(reason.to_string(), name);
        }
        let outcome = Outcome::Unreachable(Unreachable::new(UnreachableReason::HostKey, "changed"));
        assert_eq!(outcome.describe(), "unreachable (host-key): changed");
    }
}
