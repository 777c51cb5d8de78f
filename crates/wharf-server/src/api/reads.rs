//! Status, the audit log, nodes and node sets, and API tokens — `wharf_app::status`,
//! `wharf_app::audit`, the inventory and `wharf_app::token`, as `wharf status|audit|nodes|
//! nodeset|token` call them.

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
    let inventory = &loaded.inventory;
    let selected = match &query.nodeset {
        Some(expr) => {
            let set = inventory.resolve(expr).map_err(invalid_set)?;
            if let Some(unknown) = set.iter().find(|name| inventory.node(name).is_none()) {
                return Err(ApiError::invalid(format!("{unknown} is not in the inventory")));
            }
            set
        }
        None => inventory.all().clone(),
    };
    let nodes: Vec<_> = selected.iter().filter_map(|name| inventory.node(name)).collect();
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
