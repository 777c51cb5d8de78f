//! Mirrors of remote APT repositories: create, list, show, update, drop —
//! `wharf_app::mirror`, as `wharf mirror` calls it. An update runs within the request
//! (its downloads do not hold the writer lock, so other writers go on meanwhile) and
//! answers with its report.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use wharf_app::mirror::CreateRequest;

use super::auth::{Body, Caller, Path, Query};
use crate::{ApiError, AppState};

/// `GET /mirrors`: `wharf mirror list`.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::mirror::list(&ctx).await?).into_response())
}

/// `POST /mirrors`: `wharf mirror create`. The keyring travels as ASCII-armored text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    name: String,
    url: String,
    distribution: String,
    #[serde(default)]
    components: Vec<String>,
    architectures: Vec<String>,
    #[serde(default)]
    filter: Vec<String>,
    #[serde(default)]
    filter_with_deps: bool,
    keyring: Option<String>,
    #[serde(default)]
    ignore_signatures: bool,
    #[serde(default)]
    with_sources: bool,
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<CreateBody>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let request = CreateRequest {
        name: body.name,
        url: body.url,
        distribution: body.distribution,
        components: body.components,
        architectures: body.architectures,
        filter: body.filter,
        filter_with_deps: body.filter_with_deps,
        keyring: body.keyring,
        ignore_signatures: body.ignore_signatures,
        with_sources: body.with_sources,
    };
    Ok(Json(wharf_app::mirror::create(&ctx, request).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShowQuery {
    #[serde(default)]
    packages: bool,
}

/// `GET /mirrors/{name}?packages=`: `wharf mirror show`.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::mirror::show(&ctx, &name, query.packages).await?).into_response())
}

/// `POST /mirrors/{name}/update`: `wharf mirror update`.
pub(crate) async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let report = wharf_app::mirror::update(&ctx, &name, &wharf_app::progress::Silent).await?;
    Ok(Json(report).into_response())
}

/// `DELETE /mirrors/{name}`: `wharf mirror drop`.
pub(crate) async fn drop_mirror(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::mirror::drop(&ctx, &name).await?).into_response())
}
