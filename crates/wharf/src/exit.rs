//! Exit codes, and the one place that prints an error chain.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | failure: the command ran and something failed (a check, a node, a comparison that is false) |
//! | 2 | usage or configuration error: bad arguments, bad `wharf.toml`, invalid version or node set, a name that does not exist or is taken, a change refused in the current state |
//! | 3 | one or more nodes were unreachable |
//! | 4 | refused by a guard rail (a lock held by someone else, …); the message names the guard and what lifts it; nothing was changed |
//!
//! Keep this table in sync with README.md ("Exit codes").

use std::process::ExitCode;

use wharf_core::config::ConfigError;
use wharf_core::nodeset::NodeSetError;
use wharf_core::version::VersionError;

/// The command ran and everything succeeded.
pub(crate) const SUCCESS: u8 = 0;
/// The command ran and something failed.
pub(crate) const FAILURE: u8 = 1;
/// Bad arguments or configuration; nothing was changed.
pub(crate) const USAGE: u8 = 2;
/// One or more nodes could not be reached.
pub(crate) const UNREACHABLE: u8 = 3;
/// A guard rail refused the request.
pub(crate) const REFUSED: u8 = 4;

/// An error the user caused by what they typed or wrote: exits with [`USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// Turn a command's outcome into the process exit code, printing any error chain once.
pub(crate) fn finish(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            crate::output::error(&err);
            ExitCode::from(code_for(&err))
        }
    }
}

fn code_for(err: &anyhow::Error) -> u8 {
    // The application layer says what kind of failure it is: the caller's (exit 2,
    // nothing changed) or Wharf's and its dependencies' (exit 1).
    if let Some(app) = err.chain().find_map(|cause| cause.downcast_ref::<wharf_app::AppError>()) {
        return match app.kind() {
            wharf_app::ErrorKind::Refused => REFUSED,
            kind if kind.is_caller_error() => USAGE,
            _ => FAILURE,
        };
    }
    // `.context(UsageError(…))` is found by downcasting; errors passed up with `?` are found
    // in the chain.
    let usage = err.downcast_ref::<UsageError>().is_some()
        || err.chain().any(|cause| {
            cause.is::<UsageError>()
                || cause.is::<ConfigError>()
                || cause.is::<NodeSetError>()
                || cause.is::<VersionError>()
        });
    if usage { USAGE } else { FAILURE }
}

#[cfg(test)]
mod tests {
    use wharf_app::{AppError, ErrorKind};

    use super::*;

    #[test]
    fn application_error_kinds_pick_the_exit_code() {
        let check = |kind: ErrorKind, expected: u8| {
            let err = anyhow::Error::new(AppError::new(kind, "x")).context("while doing y");
            assert_eq!(code_for(&err), expected, "{kind:?}");
        };
        check(ErrorKind::Invalid, USAGE);
        check(ErrorKind::NotFound, USAGE);
        check(ErrorKind::Conflict, USAGE);
        check(ErrorKind::Refused, REFUSED);
        check(ErrorKind::Unavailable, FAILURE);
        check(ErrorKind::Internal, FAILURE);
        assert_eq!(code_for(&anyhow::Error::new(UsageError("bad flag".into()))), USAGE);
        assert_eq!(code_for(&anyhow::anyhow!("disk full")), FAILURE);
    }
}
