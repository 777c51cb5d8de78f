//! Guard rails: locks, holds, change-lock windows, nodes in maintenance —
//! `wharf_app::guard`, `wharf_app::hold` and `wharf_app::windows`, as `wharf lock|hold|
//! windows|maintenance` call them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use wharf_app::guard::LockScope;

use super::auth::{Body, Caller, Path, Query};
use crate::{ApiError, AppState, Loaded};

/// How holds, maintenance and status checks reach nodes: the configuration as of now and
/// `wharf run`'s defaults.
pub(crate) struct Reach {
    loaded: Arc<Loaded>,
    env: wharf_exec::LocalEnv,
    options: wharf_exec::FanoutOptions,
}

impl Reach {
    pub(crate) fn of(state: &AppState) -> Reach {
        Reach {
            loaded: state.app.config(),
            env: state.app.local_env().clone(),
            options: wharf_exec::FanoutOptions::default(),
        }
    }

    pub(crate) fn fleet(&self) -> wharf_app::fleet::Fleet<'_> {
        wharf_app::fleet::Fleet {
            config: &self.loaded.config,
            source: &self.loaded.source,
            inventory: &self.loaded.inventory,
            env: &self.env,
            options: &self.options,
        }
    }
}

/// An RFC 3339 instant from a query or body, or now.
pub(crate) fn instant(at: Option<&str>) -> Result<jiff::Timestamp, ApiError> {
    Ok(match at {
        Some(text) => wharf_app::windows::parse_instant(text)?,
        None => wharf_app::windows::now(),
    })
}

pub(crate) async fn locks(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::guard::locks(&ctx).await?).into_response())
}

/// `POST /locks`: `wharf lock ENV|--all --reason R [--steal REASON] [--until TIME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LockBody {
    environment: Option<String>,
    #[serde(default)]
    all: bool,
    reason: String,
    steal: Option<String>,
    until: Option<String>,
}

pub(crate) async fn lock(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<LockBody>,
) -> Result<Response, ApiError> {
    let scope = match (body.environment, body.all) {
        (Some(name), false) => LockScope::Environment(name),
        (None, true) => LockScope::All,
        _ => return Err(ApiError::invalid("give either `environment` or `all: true`")),
    };
    let until = body.until.as_deref().map(wharf_app::windows::parse_instant).transpose()?;
    let ctx = caller.context(&state).await?;
    let loaded = state.app.config();
    let report = wharf_app::guard::lock(
        &ctx,
        &loaded.inventory,
        &scope,
        &body.reason,
        body.steal.as_deref(),
        until,
    )
    .await?;
    Ok(Json(report).into_response())
}

pub(crate) async fn unlock(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(environment): Path<String>,
) -> Result<Response, ApiError> {
    let scope =
        if environment == "*" { LockScope::All } else { LockScope::Environment(environment) };
    let ctx = caller.context(&state).await?;
    let loaded = state.app.config();
    Ok(Json(wharf_app::guard::unlock(&ctx, &loaded.inventory, &scope).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckQuery {
    #[serde(default)]
    check: bool,
}

pub(crate) async fn holds(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<CheckQuery>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    if !query.check {
        return Ok(Json(wharf_app::hold::holds(&ctx).await?).into_response());
    }
    let reach = Reach::of(&state);
    Ok(Json(wharf_app::hold::check(&ctx, reach.fleet()).await?).into_response())
}

/// `POST /holds`: `wharf hold PKG --env ENV --reason R`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldBody {
    package: String,
    environment: String,
    reason: String,
}

pub(crate) async fn hold(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<HoldBody>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let reach = Reach::of(&state);
    let (report, _) =
        wharf_app::hold::hold(&ctx, reach.fleet(), &body.environment, &body.package, &body.reason)
            .await?;
    Ok(Json(report).into_response())
}

pub(crate) async fn unhold(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((environment, package)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let reach = Reach::of(&state);
    let (report, _) = wharf_app::hold::unhold(&ctx, reach.fleet(), &environment, &package).await?;
    Ok(Json(report).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WindowsQuery {
    environment: Option<String>,
    at: Option<String>,
}

pub(crate) async fn windows(
    State(state): State<Arc<AppState>>,
    _caller: super::auth::Caller,
    Query(query): Query<WindowsQuery>,
) -> Result<Response, ApiError> {
    let loaded = state.app.config();
    let views = wharf_app::windows::windows(
        &loaded.config,
        &loaded.source,
        &loaded.inventory,
        query.environment.as_deref(),
        instant(query.at.as_deref())?,
    )?;
    Ok(Json(views).into_response())
}

pub(crate) async fn maintenance(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::guard::maintenance(&ctx).await?).into_response())
}

/// `POST /maintenance`: `wharf maintenance start NODESET --reason R`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MaintenanceBody {
    nodes: String,
    reason: String,
}

pub(crate) async fn start_maintenance(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<MaintenanceBody>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let reach = Reach::of(&state);
    let (report, _) =
        wharf_app::guard::start_maintenance(&ctx, reach.fleet(), &body.nodes, &body.reason).await?;
    Ok(Json(report).into_response())
}

pub(crate) async fn stop_maintenance(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(nodes): Path<String>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let reach = Reach::of(&state);
    let (report, _) = wharf_app::guard::stop_maintenance(&ctx, reach.fleet(), &nodes).await?;
    Ok(Json(report).into_response())
}
