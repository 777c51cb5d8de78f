//! `/history`: deploys, newest first, by environment and state, a page at a time; and the versions
//! two deploys installed, side by side (`?from=ID&to=ID`). `wharf_app::status::history`
//! and `show`, as `GET /api/v1/deploys` and `/deploys/{id}` call them.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use wharf_app::status::HistoryFilter;
use wharf_app::wire::DeployView;
use wharf_store::deploy::DeployState;

use super::layout::{self, Nav};
use super::session::Session;
use crate::{ApiError, AppState};

/// Deploys per page.
const PER_PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HistoryQuery {
    environment: Option<String>,
    state: Option<String>,
    #[serde(default)]
    page: u32,
    from: Option<i64>,
    to: Option<i64>,
}

pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(query): Query<HistoryQuery>,
) -> Response {
    match render(&state, &session, &query).await {
        Ok(body) => layout::page("History", Nav::History, Some(&session), &body),
        Err(err) => layout::api_error(&err, Some(&session)),
    }
}

async fn render(
    state: &AppState,
    session: &Session,
    query: &HistoryQuery,
) -> Result<Markup, ApiError> {
    let ctx = session.caller.context(state).await?;
    let loaded = state.app.config();
    let environment = query.environment.as_deref().filter(|e| !e.is_empty());
    let state_filter = query.state.as_deref().filter(|s| !s.is_empty());
    let filter = HistoryFilter { environment, state: state_filter };
    let page = query.page.min(10_000);
    let wanted = (page + 1).saturating_mul(PER_PAGE).saturating_add(1);
    let mut deploys = wharf_app::status::history(&ctx, &loaded.inventory, filter, wanted).await?;
    let has_more = deploys.len() > ((page + 1) * PER_PAGE) as usize;
    let shown: Vec<DeployView> =
        deploys.drain(..).skip((page * PER_PAGE) as usize).take(PER_PAGE as usize).collect();
    let diff = match (query.from, query.to) {
        (Some(from), Some(to)) => Some((
            wharf_app::status::show(&ctx, from).await?.deploy,
            wharf_app::status::show(&ctx, to).await?.deploy,
        )),
        _ => None,
    };
    let base = format!(
        "/history?environment={}&state={}",
        encode(environment.unwrap_or_default()),
        encode(state_filter.unwrap_or_default())
    );
    Ok(html! {
        form.filters method="get" action="/history" {
            label for="environment" { "Environment" }
            select id="environment" name="environment" {
                option value="" { "all" }
                @for env in loaded.inventory.environments() {
                    option value=(env.name) selected[Some(env.name.as_str()) == environment] { (env.name) }
                }
            }
            label for="state" { "State" }
            select id="state" name="state" {
                option value="" { "any" }
                @for state in DeployState::ALL.map(DeployState::as_str) {
                    option value=(state) selected[Some(state) == state_filter] { (state) }
                }
            }
            button type="submit" { "Show" }
        }
        @if let Some((from, to)) = &diff { (versions_diff(from, to)) }
        @if shown.is_empty() && (environment.is_some() || state_filter.is_some()) {
            p { "No deploys match these filters." }
        } @else if shown.is_empty() {
            p { "No deploys yet." }
        } @else {
            div.scroll role="region" aria-label="Deploys" tabindex="0" {
                table {
                    caption { "Deploys, newest first" }
                    thead { tr {
                        th scope="col" { "Deploy" } th scope="col" { "Environment" }
                        th scope="col" { "Versions" } th scope="col" { "State" }
                        th scope="col" { "By" } th scope="col" { "Started" }
                    } }
                    tbody {
                        @for deploy in &shown {
                            tr {
                                th scope="row" { a href={ "/deploys/" (deploy.id) } { "#" (deploy.id) } }
                                td { (deploy.environment) }
                                td { (versions(deploy)) }
                                td { (layout::state(&deploy.state)) }
                                td { (deploy.started_by) }
                                td { (layout::time(&deploy.started_at)) }
                            }
                        }
                    }
                }
            }
            (layout::pager(&base, page, has_more))
        }
        form.filters method="get" action="/history" {
            label for="from" { "Compare deploy" }
            input id="from" name="from" type="number" min="1" inputmode="numeric" value=[query.from];
            label for="to" { "with deploy" }
            input id="to" name="to" type="number" min="1" inputmode="numeric" value=[query.to];
            button type="submit" { "Compare" }
        }
    })
}

fn versions(deploy: &DeployView) -> String {
    deploy.packages.iter().map(|(p, v)| format!("{p} {v}")).collect::<Vec<_>>().join(", ")
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The versions two deploys installed, package by package.
fn versions_diff(from: &DeployView, to: &DeployView) -> Markup {
    let packages: BTreeSet<&String> = from.packages.keys().chain(to.packages.keys()).collect();
    html! {
        table {
            caption { "Deploy #" (from.id) " (" (from.environment) ") against #" (to.id) " (" (to.environment) ")" }
            thead { tr {
                th scope="col" { "Package" } th scope="col" { "#" (from.id) }
                th scope="col" { "#" (to.id) } th scope="col" { "Changed" }
            } }
            tbody {
                @for package in packages {
                    @let a = from.packages.get(package);
                    @let b = to.packages.get(package);
                    tr {
                        th scope="row" { (package) }
                        td { (a.map_or("—", String::as_str)) }
                        td { (b.map_or("—", String::as_str)) }
                        td { @if a == b { "same" } @else { strong { "changed" } } }
                    }
                }
            }
        }
    }
}
