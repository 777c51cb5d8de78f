//! Deploys: start (in the background: 202 with the deploy once it runs), dry-run, show,
//! history, approve, resume, cancel, rollback — `wharf_app::deploy` and
//! `wharf_app::status`, as `wharf deploy|show|history|…` call them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;
use wharf_app::Context;
use wharf_app::deploy::{DeployReport, DeployRequest, RollbackRequest, Session};
use wharf_app::status::HistoryFilter;
use wharf_app::token::Role;
use wharf_app::wire::DeployResult;

use super::auth::{Body, Caller, OptionalBody, Path, Query};
use super::cache::PageKey;
use crate::{ApiError, AppState, Loaded};

/// How long approve and resume wait for their deploy to end before answering 202.
const WAIT_BEFORE_ACCEPTED: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    environment: Option<String>,
    /// Only deploys in this state (`failed`, `interrupted`, …).
    state: Option<String>,
    #[serde(default = "default_history_limit")]
    limit: u32,
}

fn default_history_limit() -> u32 {
    20
}

/// The most deploys one history request returns: every one is decoded and serialized.
const MAX_HISTORY_LIMIT: u32 = 1_000;

pub(crate) async fn history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    if query.limit == 0 || query.limit > MAX_HISTORY_LIMIT {
        return Err(ApiError::invalid(format!(
            "limit must be 1 to {MAX_HISTORY_LIMIT}, not {}",
            query.limit
        )));
    }
    let loaded = state.app.config();
    let filter =
        HistoryFilter { environment: query.environment.as_deref(), state: query.state.as_deref() };
    // Before the cache: an environment a reload removed is refused even with a page kept.
    filter.check(&loaded.inventory)?;
    let key = PageKey {
        environment: query.environment.clone(),
        state: query.state.clone(),
        limit: query.limit,
    };
    let counter = caller.counters.deploys;
    if let Some(body) = state.deploy_pages.get(counter, &key) {
        return Ok(json_bytes(body));
    }
    let ctx = caller.context(&state).await?;
    let views = wharf_app::status::history(&ctx, &loaded.inventory, filter, query.limit).await?;
    let body =
        Bytes::from(serde_json::to_vec(&views).map_err(|err| {
            ApiError::internal(format!("cannot encode the deploy history: {err}"))
        })?);
    // Kept only when nothing was going (see `cache`) and the table did not change since
    // the counter was read: then the page is the table as of that counter.
    if wharf_app::status::settled(&ctx).await?
        && ctx.store().change_counters().await.map_err(wharf_app::AppError::from)?.deploys
            == counter
    {
        state.deploy_pages.put(counter, key, body.clone());
    }
    Ok(json_bytes(body))
}

/// A JSON body already encoded.
fn json_bytes(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    Ok(Json(wharf_app::status::show(&ctx, id).await?).into_response())
}

/// `POST /deploys`: what `wharf deploy` takes, as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartBody {
    environment: String,
    /// Every package the environment deploys, at this version…
    version: Option<String>,
    /// …or these packages at these versions.
    #[serde(default)]
    packages: BTreeMap<String, String>,
    pipeline: Option<String>,
    ignore_production_checks: Option<String>,
    #[serde(default)]
    allow_precheck_failure: bool,
    #[serde(default)]
    downgrade: bool,
    #[serde(default)]
    hold: bool,
    issue: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// Windows for automated deploys apply (always, for an automated token).
    #[serde(default)]
    automated: bool,
}

/// The words `wharf deploy` would get, checked by the same parser.
fn request(caller: &Caller, loaded: &Loaded, body: StartBody) -> Result<DeployRequest, ApiError> {
    let mut words: Vec<String> = match (&body.version, body.packages.is_empty()) {
        (Some(version), true) => vec![version.clone()],
        (None, false) => body.packages.iter().map(|(p, v)| format!("{p}={v}")).collect(),
        _ => {
            return Err(ApiError::invalid(
                "give either `version` (every package of the environment) or `packages` ({name: version})",
            ));
        }
    };
    words.push(body.environment.clone());
    let (packages, environment) = wharf_app::deploy::parse_targets(&loaded.inventory, &words)?;
    if body.hold && !body.downgrade {
        return Err(ApiError::invalid("`hold` goes with `downgrade`"));
    }
    if let Some(reason) = &body.ignore_production_checks {
        caller.require(Role::Deployer, "ignore_production_checks")?;
        if reason.trim().is_empty() {
            return Err(ApiError::invalid(
                "ignore_production_checks must say why: give a non-empty reason",
            ));
        }
    }
    Ok(DeployRequest {
        packages,
        environment,
        pipeline: body.pipeline,
        ignore_production_checks: body.ignore_production_checks,
        allow_precheck_failure: body.allow_precheck_failure,
        automated: body.automated || caller.identity.automated,
        downgrade: body.downgrade,
        hold: body.hold,
        issue: body.issue,
    })
}

pub(crate) async fn start(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<StartBody>,
) -> Result<Response, ApiError> {
    let loaded = state.app.config();
    let dry_run = body.dry_run;
    let request = request(&caller, &loaded, body)?;
    let ctx = caller.context(&state).await?;
    if dry_run {
        let report = wharf_app::deploy::dry_run(
            &ctx,
            &loaded.config,
            &loaded.source,
            &loaded.inventory,
            &request,
            wharf_app::windows::now(),
        )
        .await?;
        if let Some(first) = report.refusals.first() {
            let message = format!("refused ({}): {}; {}", first.guard, first.message, first.lift);
            let report =
                serde_json::to_value(&report).map_err(|e| ApiError::internal(e.to_string()))?;
            return Err(refused(message).with("dry_run", report));
        }
        return Ok(Json(report).into_response());
    }
    run(&state, ctx, Op::Start(request)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollbackBody {
    to: Option<String>,
    reviewed_by: Option<String>,
    force: Option<String>,
    issue: Option<String>,
    #[serde(default)]
    automated: bool,
}

pub(crate) async fn rollback(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(environment): Path<String>,
    OptionalBody(body): OptionalBody<RollbackBody>,
) -> Result<Response, ApiError> {
    let request = RollbackRequest {
        environment,
        to: body.to,
        reviewed_by: body.reviewed_by,
        force: body.force,
        automated: body.automated || caller.identity.automated,
        issue: body.issue,
    };
    let ctx = caller.context(&state).await?;
    run(&state, ctx, Op::Rollback(request)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveBody {
    /// The stage it waits at (a check that you approve what you think you approve).
    stage: Option<String>,
}

pub(crate) async fn approve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<i64>,
    OptionalBody(body): OptionalBody<ApproveBody>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    run(&state, ctx, Op::Approve(id, body.stage)).await
}

pub(crate) async fn resume(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    run(&state, ctx, Op::Resume(id)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelBody {
    reason: String,
}

pub(crate) async fn cancel(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<CancelBody>,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    let report = wharf_app::deploy::cancel(&ctx, id, &body.reason).await?;
    Ok(Json(result(&report)).into_response())
}

/// A deploy flow run in the background.
pub(crate) enum Op {
    Start(DeployRequest),
    Rollback(RollbackRequest),
    Resume(i64),
    Approve(i64, Option<String>),
}

impl Op {
    async fn execute(&self, session: &Session<'_>) -> wharf_app::Result<DeployReport> {
        match self {
            Op::Start(request) => wharf_app::deploy::start(session, request).await,
            Op::Rollback(request) => wharf_app::deploy::rollback(session, request).await,
            Op::Resume(id) => wharf_app::deploy::resume(session, *id).await,
            Op::Approve(id, stage) => {
                wharf_app::deploy::approve(session, *id, stage.as_deref()).await
            }
        }
    }

    /// The deploy it is about, when known before it runs.
    fn known_id(&self) -> Option<i64> {
        match self {
            Op::Start(_) | Op::Rollback(_) => None,
            Op::Resume(id) | Op::Approve(id, _) => Some(*id),
        }
    }
}

fn result(report: &DeployReport) -> DeployResult {
    DeployResult { deploy: report.deploy.clone(), refusals: report.refusals.clone() }
}

fn refused(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "refused", message)
}

/// Run `op` in a task of its own, so it goes on after the response: answer with its end
/// when that comes first (200, or 409 `refused` with the refused deploy), else 202 with
/// the deploy as soon as it runs (start, rollback) or after a short wait (approve,
/// resume). The deploy is then followed with `GET /deploys/{id}`.
pub(crate) async fn run(state: &AppState, ctx: Context, op: Op) -> Result<Response, ApiError> {
    let reach = super::guards::Reach::of(state);
    let known = op.known_id();
    let (started, mut started_rx) = mpsc::unbounded_channel();
    let task_ctx = ctx.clone();
    // Through the server's work tracker: drained on SIGTERM/SIGQUIT like chat deploys.
    let mut task = state.work.spawn(async move {
        let session = Session {
            ctx: &task_ctx,
            fleet: reach.fleet(),
            clock: wharf_app::deploy::system_clock(),
            notices: None,
            started: Some(started),
        };
        let result = op.execute(&session).await;
        if let Err(err) = &result {
            tracing::warn!(error = %err, "a deploy started through the API ended with an error");
        }
        result
    });
    let accepted_id = tokio::select! {
        biased;
        ended = &mut task => {
            let report = ended.map_err(|e| ApiError::internal(format!("deploy task: {e}")))??;
            return Ok(finished(&report));
        }
        Some(id) = started_rx.recv() => id,
        () = tokio::time::sleep(WAIT_BEFORE_ACCEPTED), if known.is_some() => {
            known.unwrap_or_default()
        }
    };
    let detail = wharf_app::status::show(&ctx, accepted_id).await?;
    let body = DeployResult { deploy: detail.deploy, refusals: Vec::new() };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// A deploy flow's end as the API answers it.
fn finished(report: &DeployReport) -> Response {
    let body = result(report);
    if report.deploy.state == "refused" {
        let message = match report.refusals.first() {
            Some(first) => format!("refused ({}): {}; {}", first.guard, first.message, first.lift),
            None => report.deploy.reason.clone().unwrap_or_else(|| "refused".to_owned()),
        };
        let deploy = serde_json::to_value(&body).unwrap_or_default();
        return refused(message).with("deploy", deploy).into_response();
    }
    Json(body).into_response()
}
