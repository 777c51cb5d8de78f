//! `/nodes`: the inventory's nodes (`?nodeset=` selects, as `GET /api/v1/nodes` does), a
//! page at a time, with their address, labels, groups, environments and maintenance
//! (`wharf_app::guard::maintenance`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use wharf_store::guard::Maintenance;

use super::layout::{self, Nav};
use super::session::Session;
use crate::{ApiError, AppState};

/// Nodes per page.
const PER_PAGE: usize = 100;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NodesQuery {
    nodeset: Option<String>,
    #[serde(default)]
    page: u32,
}

pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(query): Query<NodesQuery>,
) -> Response {
    match render(&state, &session, &query).await {
        Ok(body) => layout::page("Nodes", Nav::Nodes, Some(&session), &body),
        Err(err) => layout::api_error(&err, Some(&session)),
    }
}

async fn render(
    state: &AppState,
    session: &Session,
    query: &NodesQuery,
) -> Result<Markup, ApiError> {
    let ctx = session.caller.context(state).await?;
    let loaded = state.app.config();
    let inventory = &loaded.inventory;
    let expr = query.nodeset.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let selected = match expr {
        Some(expr) => inventory.resolve(expr).map_err(|e| ApiError::invalid(e.to_string()))?,
        None => inventory.all().clone(),
    };
    let maintenance: BTreeMap<String, Maintenance> = wharf_app::guard::maintenance(&ctx)
        .await?
        .into_iter()
        .map(|m| (m.node.clone(), m))
        .collect();
    let page = query.page as usize;
    let names: Vec<&str> = selected.iter().skip(page * PER_PAGE).take(PER_PAGE).collect();
    let has_more = selected.len() > (page + 1) * PER_PAGE;
    let base = match expr {
        Some(expr) => format!(
            "/nodes?nodeset={}",
            form_urlencoded::byte_serialize(expr.as_bytes()).collect::<String>()
        ),
        None => "/nodes".to_owned(),
    };
    Ok(html! {
        form.filters method="get" action="/nodes" {
            label for="nodeset" { "Node set" }
            input id="nodeset" name="nodeset" type="text" placeholder="@production or web[01-05]" value=[expr];
            button type="submit" { "Select" }
        }
        p { (selected.len()) " nodes" @if let Some(expr) = expr { " in " code { (expr) } } "." }
        div.scroll role="region" aria-label="Nodes" tabindex="0" {
            table {
                thead { tr {
                    th scope="col" { "Node" } th scope="col" { "Address" } th scope="col" { "Labels" }
                    th scope="col" { "Groups" } th scope="col" { "Environments" } th scope="col" { "Maintenance" }
                } }
                tbody {
                    @for name in &names {
                        @if let Some(node) = inventory.node(name) {
                            tr {
                                th scope="row" { (node.name) }
                                td {
                                    (node.transport) " "
                                    @if let Some(user) = &node.user { (user) "@" }
                                    (node.host)
                                    @if let Some(port) = node.port { ":" (port) }
                                }
                                td { (node.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")) }
                                td { (inventory.groups().iter().filter(|(_, set)| set.contains(name)).map(|(g, _)| format!("@{g}")).collect::<Vec<_>>().join(" ")) }
                                td { (inventory.environments().iter().filter(|e| e.nodes.iter().any(|n| n == name)).map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")) }
                                td {
                                    @match maintenance.get(*name) {
                                        Some(m) => span.badge.warn { "by " (m.holder) ": " (m.reason) },
                                        None => span.muted { "no" },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (layout::pager(&base, query.page, has_more))
    })
}
