//! `POST /apply`: `wharf apply` against the configuration the server runs.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use wharf_app::apply::ApplyRequest;

use super::auth::{Caller, OptionalBody};
use crate::{ApiError, AppState};

/// `{dry_run, prune, prune_with_packages}`, every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplyBody {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    prune: bool,
    #[serde(default)]
    prune_with_packages: Vec<String>,
}

/// The server's `[[repositories]]` applied as the caller; answers the `ApplyReport`
/// (200 whether in sync or not: `in_sync` says).
pub(crate) async fn apply(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    OptionalBody(body): OptionalBody<ApplyBody>,
) -> Result<Response, ApiError> {
    let loaded = state.app.config();
    let declared = loaded.config.resolve_repositories(&loaded.source).map_err(|err| {
        ApiError::internal(format!("the loaded configuration no longer checks: {err}"))
    })?;
    let ctx = caller.context(&state).await?;
    let request = ApplyRequest {
        dry_run: body.dry_run,
        prune: body.prune,
        prune_with_packages: body.prune_with_packages,
    };
    Ok(Json(wharf_app::apply::apply(&ctx, &declared, &request).await?).into_response())
}
