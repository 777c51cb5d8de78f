//! The web dashboard: server-rendered HTML (maud) over the same application-layer calls
//! and role checks as the API, so it shows nothing the API cannot tell and lets nobody do
//! what their token may not. See `docs/dashboard.md`.
//!
//! Pages, one module each: `overview` (`/`: environments × packages, guards, running
//! deploys), `deploy` (`/deploys/{id}`: stages, nodes, events streamed live, and the
//! approve / resume / cancel / rollback forms), `history` (`/history`), `repos`
//! (`/repos`), `nodes` (`/nodes`), `audit` (`/audit`), `login` (`/login`, `/logout`).
//! `session` holds the cookie and CSRF rules, `layout` the page frame and error pages.
//!
//! **Invariant:** every page handler takes a [`session::Session`] (no session: a redirect
//! to `/login`), every POST checks its CSRF token before anything else, and every action
//! checks the role the API route of the same action needs.

mod actions;
mod audit;
mod deploy;
mod history;
mod layout;
mod login;
mod nodes;
mod overview;
mod repos;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

/// Whether the client asked for a web page (a browser's `Accept: text/html,…`).
pub(crate) fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|kind| kind.trim().starts_with("text/html")))
}

/// The page a browser gets for an address that is neither a page nor a file.
pub(crate) fn not_found() -> axum::response::Response {
    layout::error_page(
        axum::http::StatusCode::NOT_FOUND,
        "Not found",
        "There is no page at this address.",
        None,
    )
}

/// The dashboard's routes (merged at the root, beside `/api/v1` and `/apt`).
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/history", get(history::page))
        .route("/repos", get(repos::list))
        .route("/repos/{name}", get(repos::show))
        .route("/nodes", get(nodes::page))
        .route("/audit", get(audit::page))
        .route("/deploys/{id}", get(deploy::page))
        .route("/deploys/{id}/events", get(deploy::events))
        .route("/deploys/{id}/{action}", get(deploy::confirm).post(deploy::act))
        .route("/environments/{env}/rollback", get(deploy::confirm_rollback).post(deploy::rollback))
        .route(
            "/assets/dashboard.css",
            get(|| async { layout::asset("text/css; charset=utf-8", layout::CSS) }),
        )
        .route(
            "/assets/dashboard.js",
            get(|| async { layout::asset("text/javascript; charset=utf-8", layout::JS) }),
        )
}
