//! Status, the audit log, nodes and node sets, API tokens, health, schedules and the loaded
//! configuration — `wharf_app::status`, `wharf_app::audit`, the inventory,
//! `wharf_app::token`, `wharf_app::health` and `wharf_app::schedule`, as `wharf status|
//! audit|log|nodes|nodeset|token|health|schedules|config check` call them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use wharf_app::token::{CreateToken, Role};
use wharf_store::AuditQuery;

use super::auth::{Body, Caller, Path, Query};
use super::guards::{Reach, instant};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusQuery {
    environment: Option<String>,
    #[serde(default)]
    check: bool,
    at: Option<String>,
}

pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<StatusQuery>,
) -> Result<Response, ApiError> {
    let now = instant(query.at.as_deref())?;
    let ctx = caller.context(&state).await?;
    let reach = Reach::of(&state);
    let pool = wharf_exec::Pool::new();
    let report = wharf_app::status::status(
        &ctx,
        reach.fleet(),
        &pool,
        query.environment.as_deref(),
        query.check,
        now,
    )
    .await;
    pool.close().await;
    Ok(Json(report?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    action: Option<String>,
    target: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(default = "default_audit_limit")]
    limit: u32,
}

fn default_audit_limit() -> u32 {
    50
}

pub(crate) async fn audit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(params): Query<AuditParams>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let query = AuditQuery {
        action_prefix: params.action,
        target: params.target,
        limit: Some(params.limit),
        after_id: None,
        newest: true,
        actor: params.actor,
        since: params.since,
        until: params.until,
    };
    Ok(Json(wharf_app::audit::list(&ctx, &query).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodesQuery {
    nodeset: Option<String>,
}

fn invalid_set(err: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(err.to_string())
}

pub(crate) async fn nodes(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Query(query): Query<NodesQuery>,
) -> Result<Response, ApiError> {
    let loaded = state.app.config();
    let nodes = wharf_app::fleet::select_nodes(
        &loaded.inventory,
        query.nodeset.as_deref(),
        &loaded.source.file,
    )?;
    Ok(Json(nodes).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodesetQuery {
    expr: String,
}

pub(crate) async fn nodeset(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Query(query): Query<NodesetQuery>,
) -> Result<Response, ApiError> {
    let loaded = state.app.config();
    let set = loaded.inventory.resolve(&query.expr).map_err(invalid_set)?;
    Ok(Json(wharf_app::wire::NodesetView::new(&query.expr, &set)).into_response())
}

pub(crate) async fn tokens(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::token::list(&ctx).await?).into_response())
}

/// `POST /tokens`: `wharf token create NAME --role R [--automated] [--expires D]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    name: String,
    role: String,
    #[serde(default)]
    automated: bool,
    /// `90d`, `12h`…
    expires: Option<String>,
}

pub(crate) async fn create_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<TokenBody>,
) -> Result<Response, ApiError> {
    let expires_in = body
        .expires
        .as_deref()
        .map(wharf_core::config::parse_duration)
        .transpose()
        .map_err(|err| ApiError::invalid(format!("expires: {err}")))?;
    let request = CreateToken {
        name: body.name,
        role: body.role.parse::<Role>()?,
        automated: body.automated,
        expires_in,
    };
    let ctx = caller.context(&state).await?;
    let created = wharf_app::token::create(&ctx, &request).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub(crate) async fn revoke_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::token::revoke(&ctx, &name).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthQuery {
    min_free_percent: Option<f64>,
}

/// `GET /health`: the server's repositories, store and disk (`wharf health`). An unhealthy
/// report is still 200: it is an outcome (`healthy: false`), as the CLI's exit 1 is.
pub(crate) async fn health(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<HealthQuery>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::health::health(&ctx, query.min_free_percent).await?).into_response())
}

/// `GET /key`: the public signing key (`wharf key export`).
pub(crate) async fn key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::key::public_key(&ctx)?).into_response())
}

/// `GET /schedules`: the schedules of the configuration the server runs (`wharf schedules`).
pub(crate) async fn schedules(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let loaded = state.app.config();
    let schedules = loaded
        .config
        .resolve_schedules(&loaded.source)
        .map_err(|err| ApiError::internal(format!("the loaded configuration: {err}")))?;
    let ctx = caller.context(&state).await?;
    let now = wharf_app::windows::now();
    Ok(Json(wharf_app::schedule::list(&ctx, &schedules, now).await?).into_response())
}

/// `GET /audit/verify`: the whole chain checked (`wharf audit --verify`); a broken chain is
/// a 200 report with `ok: false`.
pub(crate) async fn verify_audit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::audit::verify(&ctx).await?).into_response())
}

/// `POST /audit`: `wharf log [--target T] MESSAGE…`, an operator's note in the audit log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteBody {
    target: String,
    message: String,
}

pub(crate) async fn note(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<NoteBody>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::audit::note(&ctx, &body.target, &body.message).await?).into_response())
}

/// `GET /config`: what `wharf config check` says of the configuration the server runs
/// (after its last successful reload) and of its data directory, store and `[apt]`.
pub(crate) async fn config(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.config().summary.clone()).into_response())
}
