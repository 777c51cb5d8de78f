//! `/deploys/{id}`: one deploy — summary, overrides and their reasons, warnings, stages
//! with state and timings, every node's result, and its events, streamed live while it
//! runs (`/deploys/{id}/events`: the API's server-sent events, authenticated by the
//! session cookie). `wharf_app::status::show` as `GET /api/v1/deploys/{id}` calls it.
//! The action forms are in `actions`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use wharf_app::token::Role;
use wharf_app::wire::{DeployDetail, DeployEventView, DeployView};

use super::layout::{self, Nav};
use super::session::Session;
use crate::AppState;
use crate::api::auth::Path;

pub(crate) use super::actions::{act, confirm, confirm_rollback, rollback};

/// States after which nothing more happens to a deploy without a person (the event
/// stream ends there).
pub(crate) fn is_settled(state: &str) -> bool {
    matches!(state, "succeeded" | "failed" | "cancelled" | "refused" | "interrupted")
}

pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
) -> Response {
    let detail = match session.caller.context(&state).await {
        Ok(ctx) => wharf_app::status::show(&ctx, id).await.map_err(crate::ApiError::from),
        Err(err) => Err(err),
    };
    match detail {
        Ok(detail) => {
            let title = format!("Deploy #{id}");
            layout::page(&title, Nav::History, Some(&session), &render(&detail, &session))
        }
        Err(err) => layout::api_error(&err, Some(&session)),
    }
}

fn render(detail: &DeployDetail, session: &Session) -> Markup {
    let deploy = &detail.deploy;
    let settled = is_settled(&deploy.state);
    let last_event = detail.events.last().map_or(0, |e| e.id);
    html! {
        div id="live" data-deploy=(deploy.id) data-last-event=(last_event) data-settled=(settled) {
            section id="summary" aria-labelledby="summary-h" {
                h2 id="summary-h" { "Summary" }
                (summary(deploy))
            }
            @if session.may(Role::Deployer) {
                (super::actions::buttons(deploy))
            }
            section aria-labelledby="stages-h" {
                h2 id="stages-h" { "Stages" }
                (stages(deploy))
            }
            section aria-labelledby="nodes-h" {
                h2 id="nodes-h" { "Nodes" }
                (nodes(detail))
            }
        }
        section aria-labelledby="events-h" {
            h2 id="events-h" { "Events" }
            @if !settled { p id="live-note" { "Following this deploy live." } }
            ol id="events" aria-live="polite" {
                @for event in &detail.events { (event_item(event)) }
            }
        }
    }
}

fn summary(deploy: &DeployView) -> Markup {
    html! {
        dl.facts {
            dt { "State" } dd id="deploy-state" { (layout::state(&deploy.state)) }
            dt { "Environment" } dd { a href={ "/history?environment=" (deploy.environment) } { (deploy.environment) } }
            dt { "Packages" } dd {
                @for (package, version) in &deploy.packages {
                    (package) " " strong { (version) }
                    @if let Some(previous) = deploy.previous.get(package) { " (was " (previous) ")" }
                    br;
                }
            }
            dt { "Pipeline" } dd { (deploy.pipeline) }
            dt { "Started by" } dd {
                (deploy.started_by) " via " (deploy.via)
                @if deploy.automated { " (automated)" }
            }
            dt { "Started" } dd { (layout::time(&deploy.started_at)) }
            dt { "Finished" } dd {
                @match &deploy.finished_at { Some(at) => (layout::time(at)), None => "—" }
            }
            @if let Some(reason) = &deploy.reason { dt { "Reason" } dd { (reason) } }
            @if let Some(issue) = &deploy.issue { dt { "Issue" } dd { (issue) } }
        }
        @if !deploy.overrides.is_empty() {
            h3 { "Overrides" }
            table {
                thead { tr { th scope="col" { "Override" } th scope="col" { "Reason" } th scope="col" { "By" } } }
                tbody { @for o in &deploy.overrides { tr { td { (o.kind) } td { (o.reason) } td { (o.by) } } } }
            }
        }
        @if !deploy.warnings.is_empty() {
            h3 { "Warnings" }
            ul.warnings { @for warning in &deploy.warnings { li { (warning) } } }
        }
    }
}

fn stages(deploy: &DeployView) -> Markup {
    html! {
        div.scroll role="region" aria-label="Stages" tabindex="0" {
            table id="stages" {
                thead { tr {
                    th scope="col" { "Stage" } th scope="col" { "Kind" } th scope="col" { "State" }
                    th scope="col" { "Nodes ok / failed / skipped" } th scope="col" { "Started" }
                    th scope="col" { "Took" }
                } }
                tbody {
                    @for stage in &deploy.stages {
                        tr {
                            th scope="row" { (stage.name) @if stage.point_of_no_return { " ⚑" } }
                            td { (stage.kind) }
                            td { (layout::state(&stage.state)) }
                            td { (stage.nodes.succeeded) " / " (stage.nodes.failed) " / " (stage.nodes.skipped) }
                            td { @match &stage.started_at { Some(at) => (layout::time(at)), None => "—" } }
                            td { (layout::duration(stage.started_at.as_deref(), stage.finished_at.as_deref())) }
                        }
                    }
                }
            }
        }
    }
}

fn nodes(detail: &DeployDetail) -> Markup {
    html! {
        @if detail.nodes.is_empty() {
            p.muted { "No node has run anything yet." }
        } @else {
            div.scroll role="region" aria-label="Node results" tabindex="0" {
                table {
                    thead { tr {
                        th scope="col" { "Stage" } th scope="col" { "Node" } th scope="col" { "State" }
                        th scope="col" { "Exit" } th scope="col" { "Output (last lines)" }
                    } }
                    tbody {
                        @for node in &detail.nodes {
                            tr {
                                td { (node.stage_name.as_deref().unwrap_or("?")) }
                                th scope="row" { (node.run.node) }
                                td { (layout::state(&node.run.state)) }
                                td { @match node.run.exit_code { Some(code) => (code), None => "—" } }
                                td {
                                    @if node.run.output_tail.is_empty() { span.muted { "none" } }
                                    @else { pre { (node.run.output_tail) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One event as a list item: when, what, and its scalar fields (the page's script
/// renders the streamed ones the same way).
fn event_item(event: &DeployEventView) -> Markup {
    let fields: Vec<String> = event
        .body
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(key, value)| match value {
                    serde_json::Value::String(s) => Some(format!("{key}: {s}")),
                    serde_json::Value::Number(n) => Some(format!("{key}: {n}")),
                    serde_json::Value::Bool(b) => Some(format!("{key}: {b}")),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    html! {
        li data-id=(event.id) {
            (layout::time(&event.at)) " " strong { (event.kind) }
            @if !fields.is_empty() { " — " (fields.join(", ")) }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    /// The last event the page has (the SSE `Last-Event-ID`, for the first connection).
    after: Option<i64>,
}

/// `GET /deploys/{id}/events`: the API's event stream for a signed-in session.
pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<i64>,
    Query(query): Query<EventsQuery>,
    mut headers: HeaderMap,
) -> Response {
    if let Some(after) = query.after
        && !headers.contains_key("last-event-id")
    {
        headers.insert("last-event-id", HeaderValue::from(after));
    }
    match crate::api::events::events(State(state), session.caller.clone(), Path(id), headers).await
    {
        Ok(response) => response,
        Err(err) => layout::api_error(&err, Some(&session)),
    }
}
