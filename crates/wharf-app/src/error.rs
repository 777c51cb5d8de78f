//! [`AppError`]: the one error type of the application layer. Its [`ErrorKind`] says what
//! a front end should do with it — the CLI maps kinds to exit codes, the HTTP API to
//! statuses and stable codes — and its message says, in words, what went wrong and what
//! to do. Outcomes (a node that failed, an unhealthy check) are reports, never errors.

use std::fmt;

/// What kind of failure, independent of the front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is wrong: a bad name, version, node set or argument. Nothing changed.
    Invalid,
    /// What the request names does not exist.
    NotFound,
    /// The request is valid but refused in the current state: the name is taken, the
    /// repository is published, the content differs. Nothing changed.
    Conflict,
    /// A guard rail refused it: a lock, a hold, a window, a gate. The message names the
    /// guard and what lifts it. Nothing changed.
    Refused,
    /// Something Wharf depends on does not answer: the database, the bucket.
    Unavailable,
    /// Wharf itself failed: I/O, corrupt data, a bug.
    Internal,
}

impl ErrorKind {
    /// The stable machine-readable code: `invalid`, `not_found`, `conflict`,
    /// `unavailable`, `internal`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Refused => "refused",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status a server answers with.
    #[must_use]
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict | ErrorKind::Refused => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// Whether the caller caused it (and can fix it by asking differently).
    #[must_use]
    pub fn is_caller_error(self) -> bool {
        matches!(
            self,
            ErrorKind::Invalid | ErrorKind::NotFound | ErrorKind::Conflict | ErrorKind::Refused
        )
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of an application flow: a kind, a message for the operator, and the
/// underlying error (printed as a chain by the front end, never repeated in the message).
#[derive(Debug)]
pub struct AppError {
    kind: ErrorKind,
    message: String,
    source: Option<Source>,
    /// The source is the whole error (its message is complete): print it, not `message`.
    transparent: bool,
}

/// The application layer's `Result`.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> AppError {
        AppError { kind, message: message.into(), source: None, transparent: false }
    }

    /// `err` as it is, with a kind: its message is the message, its causes the chain.
    pub fn transparent(kind: ErrorKind, err: impl Into<Source>) -> AppError {
        let source = err.into();
        AppError { kind, message: source.to_string(), source: Some(source), transparent: true }
    }

    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Conflict, message)
    }

    /// Refused by a guard rail: say which and what lifts it.
    pub fn refused(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Refused, message)
    }

    pub fn unavailable(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Internal, message)
    }

    /// The same error with `source` as its cause.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Source>) -> AppError {
        self.source = Some(source.into());
        self
    }

    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The wrapped error, when it is an `E` (e.g. a `ConfigError` for its file and line).
    #[must_use]
    pub fn downcast_source<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source.as_deref()?.downcast_ref::<E>()
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let source = self.source.as_deref()?;
        if self.transparent {
            return source.source();
        }
        Some(source as &(dyn std::error::Error + 'static))
    }
}

/// `.or_internal(|| "cannot read X")` and friends: wrap any error with a kind and a
/// message saying what was being done.
pub trait Context<T> {
    /// Wrap the error as `kind` with `message`.
    fn or_kind(self, kind: ErrorKind, message: impl FnOnce() -> String) -> Result<T>;

    fn or_internal(self, message: impl FnOnce() -> String) -> Result<T>
    where
        Self: Sized,
    {
        self.or_kind(ErrorKind::Internal, message)
    }

    fn or_invalid(self, message: impl FnOnce() -> String) -> Result<T>
    where
        Self: Sized,
    {
        self.or_kind(ErrorKind::Invalid, message)
    }

    fn or_unavailable(self, message: impl FnOnce() -> String) -> Result<T>
    where
        Self: Sized,
    {
        self.or_kind(ErrorKind::Unavailable, message)
    }
}

impl<T, E: Into<Source>> Context<T> for std::result::Result<T, E> {
    fn or_kind(self, kind: ErrorKind, message: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| AppError::new(kind, message()).with_source(err))
    }
}

impl From<wharf_store::StoreError> for AppError {
    fn from(err: wharf_store::StoreError) -> AppError {
        use wharf_store::StoreError;
        let kind = match &err {
            StoreError::Connect { .. } | StoreError::ConnectTimeout { .. } => {
                ErrorKind::Unavailable
            }
            StoreError::InvalidUrl { .. } => ErrorKind::Invalid,
            _ => ErrorKind::Internal,
        };
        // The store's message is complete (operation and redacted URL).
        AppError::transparent(kind, err)
    }
}

/// Errors of the operator's own input that carry their own complete message (file, line,
/// position): invalid, with the error itself as the message.
macro_rules! invalid_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for AppError {
            fn from(err: $ty) -> AppError {
                AppError::transparent(ErrorKind::Invalid, err)
            }
        }
    )*};
}
invalid_from!(
    wharf_core::config::ConfigError,
    wharf_core::nodeset::NodeSetError,
    wharf_core::version::VersionError
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_codes_and_statuses() {
        let check = |kind: ErrorKind, code: &str, status: u16, caller: bool| {
            assert_eq!(
                (kind.code(), kind.http_status(), kind.is_caller_error()),
                (code, status, caller)
            );
        };
        check(ErrorKind::Invalid, "invalid", 400, true);
        check(ErrorKind::NotFound, "not_found", 404, true);
        check(ErrorKind::Conflict, "conflict", 409, true);
        check(ErrorKind::Refused, "refused", 409, true);
        check(ErrorKind::Unavailable, "unavailable", 503, false);
        check(ErrorKind::Internal, "internal", 500, false);
    }

    #[test]
    fn transparent_errors_print_once() {
        let err = AppError::transparent(ErrorKind::Invalid, std::io::Error::other("bad thing"));
        assert_eq!(err.to_string(), "bad thing");
        assert!(std::error::Error::source(&err).is_none());
        assert!(err.downcast_source::<std::io::Error>().is_some());
    }

    #[test]
    fn context_keeps_the_cause_out_of_the_message() {
        let io: std::result::Result<(), std::io::Error> =
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"));
        let err = io.or_internal(|| "cannot read /x".to_owned()).unwrap_err();
        assert_eq!(err.to_string(), "cannot read /x");
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "no such file");
    }
}
