//! `/audit`: the audit log, newest first, filtered by action (`deploy.`), target
//! (an environment, a repository…), person and time — all applied by the store, as
//! `wharf audit --actor --since --until` — and with `?verify=true` the chain status
//! of `wharf audit --verify`. `wharf_app::audit::list` and `verify`, as
//! `GET /api/v1/audit` calls them.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use wharf_store::AuditQuery;

use super::layout::{self, Nav};
use super::session::Session;
use crate::{ApiError, AppState};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditParams {
    action: Option<String>,
    target: Option<String>,
    actor: Option<String>,
    /// Entries at or after this time (RFC 3339, or a date).
    since: Option<String>,
    /// Entries before this time (RFC 3339, or a date).
    until: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    verify: bool,
}

pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(params): Query<AuditParams>,
) -> Response {
    match render(&state, &session, &params).await {
        Ok(body) => layout::page("Audit log", Nav::Audit, Some(&session), &body),
        Err(err) => layout::api_error(&err, Some(&session)),
    }
}

fn nonempty(text: Option<&String>) -> Option<&str> {
    text.map(|t| t.trim()).filter(|t| !t.is_empty())
}

async fn render(
    state: &AppState,
    session: &Session,
    params: &AuditParams,
) -> Result<Markup, ApiError> {
    let ctx = session.caller.context(state).await?;
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let query = AuditQuery {
        action_prefix: nonempty(params.action.as_ref()).map(str::to_owned),
        target: nonempty(params.target.as_ref()).map(str::to_owned),
        limit: Some(limit),
        after_id: None,
        newest: true,
        actor: nonempty(params.actor.as_ref()).map(str::to_owned),
        since: nonempty(params.since.as_ref()).map(str::to_owned),
        until: nonempty(params.until.as_ref()).map(str::to_owned),
    };
    let mut entries = wharf_app::audit::list(&ctx, &query).await?;
    entries.reverse();
    let (actor, since, until) =
        (query.actor.as_deref(), query.since.as_deref(), query.until.as_deref());
    let verification =
        if params.verify { Some(wharf_app::audit::verify(&ctx).await?) } else { None };
    Ok(html! {
        form.filters method="get" action="/audit" {
            label for="action" { "Action starts with" }
            input id="action" name="action" type="text" placeholder="deploy." value=[nonempty(params.action.as_ref())];
            label for="target" { "Target" }
            input id="target" name="target" type="text" placeholder="production" value=[nonempty(params.target.as_ref())];
            label for="actor" { "Person" }
            input id="actor" name="actor" type="text" value=[actor];
            label for="since" { "Since" }
            input id="since" name="since" type="text" placeholder="2026-12-01" value=[since];
            label for="until" { "Before" }
            input id="until" name="until" type="text" placeholder="2026-12-02" value=[until];
            label for="limit" { "Newest" }
            input id="limit" name="limit" type="number" min="1" max="1000" value=(limit);
            button type="submit" { "Filter" }
        }
        @match &verification {
            Some(v) if v.ok => p.badge.ok role="status" { "Chain verified: " (v.n_entries) " entries, unbroken." },
            Some(v) => p.error role="alert" {
                "The chain is broken"
                @if let Some(b) = &v.first_break { " at entry " (b.id) ": " (b.message) }
            },
            None => p { a href="/audit?verify=true" { "Verify the chain" } " (reads the whole log)." },
        }
        @if entries.is_empty() {
            p { "No entries match." }
        } @else {
            div.scroll role="region" aria-label="Audit entries" tabindex="0" {
                table {
                    caption { "Audit entries, newest first" }
                    thead { tr {
                        th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Who" }
                        th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Reason" }
                    } }
                    tbody {
                        @for e in &entries {
                            tr {
                                th scope="row" { (e.id) }
                                td { (layout::time(&e.at)) }
                                td { (e.actor) }
                                td { (e.action) }
                                td { (e.target) }
                                td { (e.reason.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    })
}
