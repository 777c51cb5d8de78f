//! `/repos` and `/repos/{name}`: repositories and snapshots — distribution, packages,
//! where each is published — and one collection's packages with versions and sizes,
//! searchable; and `wharf health`'s checks. `wharf_app::repo::list` and `show`, as
//! `GET /api/v1/repos` calls them, and `wharf_app::health::health`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use wharf_app::wire::{CollectionView, HealthReport};
use wharf_store::AptKind;

use super::layout::{self, Nav};
use super::session::Session;
use crate::api::auth::Path;
use crate::{ApiError, AppState};

/// Packages per page of one repository.
const PER_PAGE: usize = 200;

pub(crate) async fn list(State(state): State<Arc<AppState>>, session: Session) -> Response {
    let result = async {
        let ctx = session.caller.context(&state).await?;
        let repos = wharf_app::repo::list(&ctx, AptKind::Repo).await?;
        let snapshots = wharf_app::repo::list(&ctx, AptKind::Snapshot).await?;
        let health = wharf_app::health::health(&ctx, None).await?;
        Ok::<_, ApiError>((repos, snapshots, health))
    }
    .await;
    match result {
        Ok((repos, snapshots, health)) => {
            let body = html! {
                h2 { "Repositories" }
                (collections(&repos, "Repositories"))
                h2 { "Snapshots" }
                (collections(&snapshots, "Snapshots"))
                h2 { "Health" }
                (health_checks(&health))
            };
            layout::page("Repositories", Nav::Repos, Some(&session), &body)
        }
        Err(err) => layout::api_error(&err, Some(&session)),
    }
}

fn collections(views: &[CollectionView], label: &str) -> Markup {
    html! {
        @if views.is_empty() {
            p.muted { "None." }
        } @else {
            div.scroll role="region" aria-label=(label) tabindex="0" {
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Distribution" }
                        th scope="col" { "Packages" } th scope="col" { "Published as" }
                        th scope="col" { "Health" }
                    } }
                    tbody {
                        @for view in views {
                            tr {
                                th scope="row" {
                                    @if view.kind == "repository" { a href={ "/repos/" (view.name) } { (view.name) } }
                                    @else { (view.name) @if let Some(from) = &view.from { " (from " (from) ")" } }
                                }
                                td { (view.distribution) " " (view.components.join(" ")) " / " (view.architectures.join(" ")) }
                                td { (view.packages) }
                                td { @if view.published_as.is_empty() { span.muted { "not published" } } @else { (view.published_as.join(", ")) } }
                                td {
                                    @if view.packages == 0 { span.badge.warn { "empty" } }
                                    @else if view.published_as.is_empty() { span.badge.quiet { "unpublished" } }
                                    @else { span.badge.ok { "ok" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `wharf health`: non-empty repositories, published trees consistent with their
/// `Release`, `Valid-Until` not near, storage reachable, disk space.
fn health_checks(report: &HealthReport) -> Markup {
    html! {
        p {
            @if report.healthy { span.badge.ok { "healthy" } } @else { span.badge.bad { "unhealthy" } }
        }
        ul.checks {
            @for check in &report.checks {
                li {
                    @if check.ok { span.badge.ok { "ok" } } @else { span.badge.bad { "failing" } }
                    " " strong { (check.check) } " — " (check.detail)
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ShowQuery {
    q: Option<String>,
    #[serde(default)]
    page: u32,
}

pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    let view = async {
        let ctx = session.caller.context(&state).await?;
        Ok::<_, ApiError>(wharf_app::repo::show(&ctx, AptKind::Repo, &name, true, None).await?)
    }
    .await;
    let view = match view {
        Ok(view) => view,
        Err(err) => return layout::api_error(&err, Some(&session)),
    };
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let all = view.package_list.clone().unwrap_or_default();
    let matching: Vec<_> = all
        .iter()
        .filter(|p| search.is_none_or(|q| p.name.contains(q) || p.version.contains(q)))
        .collect();
    let page = query.page as usize;
    let has_more = matching.len() > (page + 1) * PER_PAGE;
    let mut base = format!("/repos/{name}");
    if let Some(q) = search {
        base.push_str("?q=");
        base.extend(form_urlencoded::byte_serialize(q.as_bytes()));
    }
    let body = html! {
        p { (view.distribution) " · " (view.packages) " packages · "
            @if view.published_as.is_empty() { "not published" } @else { "published as " (view.published_as.join(", ")) } }
        form.filters method="get" action={ "/repos/" (name) } {
            label for="q" { "Search packages" }
            input id="q" name="q" type="search" value=[search];
            button type="submit" { "Search" }
        }
        div.scroll role="region" aria-label="Packages" tabindex="0" {
            table {
                thead { tr {
                    th scope="col" { "Package" } th scope="col" { "Version" } th scope="col" { "Architecture" }
                    th scope="col" { "Component" } th scope="col" { "Size" }
                } }
                tbody {
                    @for p in matching.iter().skip(page * PER_PAGE).take(PER_PAGE) {
                        tr {
                            th scope="row" { (p.name) }
                            td { (p.version) } td { (p.architecture) } td { (p.component) }
                            td { (size(p.size)) }
                        }
                    }
                }
            }
        }
        (layout::pager(&base, query.page, has_more))
    };
    layout::page(&format!("Repository {name}"), Nav::Repos, Some(&session), &body)
}

/// Bytes as people read them.
fn size(bytes: i64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "a size shown to one decimal")]
    let b = bytes as f64;
    if b >= 1_048_576.0 {
        format!("{:.1} MiB", b / 1_048_576.0)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}
