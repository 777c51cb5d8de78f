//! `/nodes`: the inventory's nodes (`?nodeset=` selects, as `GET /api/v1/nodes` does), a
//! page at a time, with their address, labels, groups, environments, maintenance
//! (`wharf_app::guard::maintenance`), whether the newest deploys reached them and the
//! versions their install stages put there.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use wharf_app::status::HistoryFilter;
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
    let seen = last_seen(&ctx, inventory).await?;
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
                    th scope="col" { "Last deploy step" } th scope="col" { "Installed by Wharf" }
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
                                td {
                                    @match seen.get(*name) {
                                        Some(seen) => {
                                            @if seen.reached { span.badge.ok { "reached" } } @else { span.badge.bad { "unreachable" } }
                                            " in " a href={ "/deploys/" (seen.deploy_id) } { "#" (seen.deploy_id) }
                                            @if let Some(at) = &seen.at { br; small { (layout::time(at)) } }
                                        }
                                        None => span.muted { "—" },
                                    }
                                }
                                td {
                                    @match seen.get(*name).filter(|s| !s.installed.is_empty()) {
                                        Some(seen) => {
                                            @for (package, version) in &seen.installed {
                                                (package) " " strong { (version) } br;
                                            }
                                        }
                                        None => span.muted { "—" },
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

/// How many of the newest deploys the "last deploy step" column looks at.
const SEEN_DEPLOYS: u32 = 20;

/// A node's last finished step in a deploy, and what install stages put on it.
struct Seen {
    reached: bool,
    deploy_id: i64,
    at: Option<String>,
    /// Package → the version of the newest deploy whose install stage succeeded on the node.
    installed: BTreeMap<String, String>,
}

/// Node → its last finished, not skipped step in the newest deploys (as `GET /deploys`
/// and `GET /deploys/{id}` tell): reached when it succeeded or its command ran at all
/// (an exit code), unreachable otherwise — the rule of the `wharf_node_reachable` metric.
/// Installed versions come from the same records: a succeeded run of an `install` stage
/// installed the deploy's packages (what `status --check` would ask the node itself).
async fn last_seen(
    ctx: &wharf_app::Context,
    inventory: &wharf_core::inventory::Inventory,
) -> Result<BTreeMap<String, Seen>, ApiError> {
    let mut seen = BTreeMap::new();
    for deploy in
        wharf_app::status::history(ctx, inventory, HistoryFilter::default(), SEEN_DEPLOYS).await?
    {
        let mut runs = wharf_app::status::show(ctx, deploy.id).await?.nodes;
        runs.sort_by(|a, b| b.run.finished_at.cmp(&a.run.finished_at));
        for view in runs {
            let run = view.run;
            if run.finished_at.is_none() || run.state == "skipped" {
                continue;
            }
            let reached = run.state == "succeeded" || run.exit_code.is_some();
            let installed_here = run.state == "succeeded"
                && usize::try_from(run.stage)
                    .ok()
                    .and_then(|i| deploy.stages.get(i))
                    .is_some_and(|stage| stage.kind == "install");
            let entry = seen.entry(run.node).or_insert(Seen {
                reached,
                deploy_id: deploy.id,
                at: run.finished_at,
                installed: BTreeMap::new(),
            });
            if installed_here {
                for (package, version) in &deploy.packages {
                    entry.installed.entry(package.clone()).or_insert_with(|| version.clone());
                }
            }
        }
    }
    Ok(seen)
}
