//! [`ApiError`]: the one error type every endpoint returns.
//!
//! A client gets the status, a stable machine-readable `code` and a message meant for it;
//! details that only an operator should see (paths, causes) go to the log, once, here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An HTTP error: `{"code": "...", "message": "..."}` — one shape for every endpoint — plus,
/// for some, one more member that says more (a refused deploy's record and refusals).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// For the log only.
    internal: Option<String>,
    /// `(member, value)` added next to `code` and `message`.
    extra: Option<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), internal: None, extra: None }
    }

    /// 400 `invalid`: the request itself is wrong (body, query, path).
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    /// 401 `unauthorized`: no token, or not a valid one.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`: a valid token whose role may not do this.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// Add `member: value` to the body, beside `error`.
    pub(crate) fn with(mut self, member: &'static str, value: serde_json::Value) -> Self {
        self.extra = Some((member, value));
        self
    }

    /// The message the client sees.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file")
    }

    pub(crate) fn bad_path(why: &'static str) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_path", why)
    }

    /// A server-side failure: the client sees a generic message, the log the cause.
    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; see the server log".into(),
            internal: Some(detail.into()),
            extra: None,
        }
    }

    /// The status this error answers with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// What only the log sees (a server-side failure's cause), for front ends other than
    /// JSON (the dashboard) that log it themselves.
    pub(crate) fn log_detail(&self) -> Option<&str> {
        self.internal.as_deref()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// An application-layer failure as the API answers it: the kind picks the status and the
/// stable code; the caller's own mistakes (invalid, not found, conflict) show their
/// message, Wharf's failures (unavailable, internal) only a generic one, the cause chain
/// going to the log.
impl From<wharf_app::AppError> for ApiError {
    fn from(err: wharf_app::AppError) -> ApiError {
        let kind = err.kind();
        let status =
            StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if kind.is_caller_error() {
            return ApiError::new(status, kind.code(), err.to_string());
        }
        let mut chain = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            chain.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        ApiError {
            status,
            code: kind.code(),
            message: format!("{}; see the server log", kind.code().replace('_', " ")),
            internal: Some(chain),
            extra: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(internal) = &self.internal {
            tracing::error!(
                http.status = self.status.as_u16(),
                error.code = self.code,
                "{internal}"
            );
        }
        let mut body = serde_json::json!({ "code": self.code, "message": self.message });
        if let (Some((member, value)), Some(map)) = (self.extra, body.as_object_mut()) {
            map.insert(member.to_owned(), value);
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"wharf\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use wharf_app::{AppError, ErrorKind};

    use super::*;

    #[test]
    fn application_errors_map_to_statuses_and_codes() {
        let check = |err: AppError, status: u16, code: &str, client_sees_message: bool| {
            let message = err.to_string();
            let api = ApiError::from(err);
            assert_eq!((api.status().as_u16(), api.code()), (status, code));
            assert_eq!(api.message == message, client_sees_message, "{api}");
        };
        check(AppError::invalid("invalid prefix \"..\""), 400, "invalid", true);
        check(AppError::not_found("no repository named \"x\""), 404, "not_found", true);
        check(AppError::conflict("repository \"x\" already exists"), 409, "conflict", true);
        let secret = AppError::unavailable("cannot open the store /var/lib/wharf/wharf.db");
        check(secret, 503, "unavailable", false);
        let internal = AppError::new(ErrorKind::Internal, "cannot write /var/lib/wharf/x")
            .with_source(std::io::Error::other("disk full"));
        let api = ApiError::from(internal);
        assert_eq!(api.internal.as_deref(), Some("cannot write /var/lib/wharf/x: disk full"));
        assert!(!api.message.contains("/var/lib"), "{api}");
    }
}
