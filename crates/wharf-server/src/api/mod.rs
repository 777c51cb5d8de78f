//! The JSON API under `/api/v1/`: every endpoint calls the same `wharf_app` function the
//! CLI calls and answers with the wire types its `--json` prints; errors are one shape,
//! `{code, message}` ([`crate::ApiError`]).

use std::sync::Arc;

use axum::Router;

use crate::AppState;

/// The routes below `/api/v1`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
}
