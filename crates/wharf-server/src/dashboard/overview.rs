//! `/`: environments in promotion order × packages — the version running, when and by
//! whom it was deployed; badges for locks, holds, open change-lock windows, nodes in
//! maintenance and (after "check installed versions") nodes that disagree; a running
//! deploy's progress inline. `wharf_app::status::status` as `GET /api/v1/status` calls
//! it, and `wharf_app::status::show` for the deploys the cells name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use wharf_app::wire::{DeployView, EnvironmentStatus};

use super::layout::{self, Nav};
use super::session::Session;
use crate::AppState;
use crate::api::guards::Reach;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct OverviewQuery {
    /// Read every node's installed versions (`wharf status --check`).
    #[serde(default)]
    check: bool,
}

pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(query): Query<OverviewQuery>,
) -> Response {
    match render(&state, &session, query.check).await {
        Ok(body) => layout::page("Overview", Nav::Overview, Some(&session), &body),
        Err(err) => layout::api_error(&err, Some(&session)),
    }
}

async fn render(
    state: &AppState,
    session: &Session,
    check: bool,
) -> Result<Markup, crate::ApiError> {
    let ctx = session.caller.context(state).await?;
    let reach = Reach::of(state);
    let pool = wharf_exec::Pool::new();
    let report = wharf_app::status::status(
        &ctx,
        reach.fleet(),
        &pool,
        None,
        check,
        wharf_app::windows::now(),
    )
    .await;
    pool.close().await;
    let report = report?;
    // The running deploys' progress.
    let mut deploys = BTreeMap::new();
    for id in report.iter().filter_map(|env| env.running.as_ref().map(|r| r.id)) {
        deploys.insert(id, wharf_app::status::show(&ctx, id).await?.deploy);
    }
    let loaded = state.app.config();
    let mut packages: BTreeSet<&str> = BTreeSet::new();
    for env in loaded.inventory.environments() {
        packages.extend(env.packages.iter().map(String::as_str));
    }
    for env in &report {
        packages.extend(env.packages.keys().map(String::as_str));
    }
    Ok(html! {
        @if report.is_empty() {
            p { "No environments are configured: add [[environments]] to wharf.toml." }
        } @else {
            // While a deploy runs, the page's script re-reads this region every few seconds.
            div.scroll id="overview" role="region" aria-label="Environments and packages" tabindex="0"
                data-refresh=[(!deploys.is_empty()).then_some("5")] {
                table {
                    caption { "What runs where, in promotion order" }
                    thead { tr {
                        th scope="col" { "Environment" }
                        @for package in &packages { th scope="col" { (package) } }
                        th scope="col" { "Now" }
                    } }
                    tbody {
                        @for env in &report { (row(env, &packages, &deploys)) }
                    }
                }
            }
            @if check {
                p { "Installed versions were read from every node just now." }
            } @else {
                p { a href="/?check=true" { "Check installed versions on the nodes" }
                    " (reads every node; may take a while)." }
            }
        }
    })
}

fn row(
    env: &EnvironmentStatus,
    packages: &BTreeSet<&str>,
    deploys: &BTreeMap<i64, DeployView>,
) -> Markup {
    html! {
        tr {
            th scope="row" {
                a href={ "/history?environment=" (env.environment) } { (env.environment) }
                (badges(env))
            }
            @for package in packages {
                td {
                    @match env.packages.get(*package) {
                        Some(deployed) => {
                            a.version href={ "/deploys/" (deployed.deploy_id) } { (deployed.version) }
                            br;
                            small {
                                (layout::time(&deployed.deployed_at))
                                " by " (deployed.deployed_by)
                                @for o in &deployed.overrides {
                                    br; span.badge.warn { (o.kind) ": " (o.reason) }
                                }
                            }
                        }
                        None => span.muted { "never deployed" },
                    }
                }
            }
            td {
                @match &env.running {
                    Some(running) => {
                        @let deploy = deploys.get(&running.id);
                        a href={ "/deploys/" (running.id) } { "Deploy #" (running.id) }
                        " " (layout::state(&running.state))
                        @if let Some(stage) = &running.stage { br; small { "stage " (stage) } }
                        @if let Some(deploy) = deploy {
                            @let done = deploy.stages.iter().filter(|s| matches!(s.state.as_str(), "succeeded" | "skipped" | "failed")).count();
                            br;
                            progress value=(done) max=(deploy.stages.len().max(1))
                                aria-label={ "Deploy " (running.id) " progress" } {
                                (done) " of " (deploy.stages.len()) " stages"
                            }
                        }
                    }
                    None => span.muted { "idle" },
                }
            }
        }
    }
}

/// Locks, holds, windows, maintenance, disagreeing nodes: each a badge with its reason.
fn badges(env: &EnvironmentStatus) -> Markup {
    html! {
        ul.badges {
            @if let Some(lock) = &env.locked {
                li.badge.bad {
                    @if lock.environment == "*" { "all locked" } @else { "locked" }
                    " by " (lock.holder) ": " (lock.reason)
                }
            }
            @for hold in &env.holds {
                li.badge.warn { (hold.package) " held by " (hold.holder) ": " (hold.reason) }
            }
            @for window in &env.open_windows {
                li.badge.warn {
                    "window " (window.name) " (" (window.applies_to) ") until " (layout::time(&window.until))
                }
            }
            @if !env.maintenance.is_empty() {
                li.badge.warn {
                    (env.maintenance.len()) " in maintenance: "
                    (env.maintenance.iter().map(|m| m.node.as_str()).collect::<Vec<_>>().join(", "))
                }
            }
            @if !env.disagreeing_nodes.is_empty() {
                li.badge.bad {
                    (env.disagreeing_nodes.len()) " disagreeing: "
                    (env.disagreeing_nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>().join(", "))
                }
            }
        }
    }
}
