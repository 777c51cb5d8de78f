//! What every dashboard page shares: the document around it (navigation, who is signed
//! in, the stylesheet and script), the headers that keep it safe (a strict
//! `Content-Security-Policy`: no inline script or style, nothing from another origin),
//! error pages, and small renderers (times, state badges, pagination).

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::Session;
use crate::ApiError;

/// The stylesheet and the script, compiled in: the server may have no internet.
pub(crate) const CSS: &str = include_str!("assets/dashboard.css");
pub(crate) const JS: &str = include_str!("assets/dashboard.js");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The top-level pages, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    History,
    Repos,
    Nodes,
    Audit,
    None,
}

const NAV: [(Nav, &str, &str); 5] = [
    (Nav::Overview, "/", "Overview"),
    (Nav::History, "/history", "History"),
    (Nav::Repos, "/repos", "Repositories"),
    (Nav::Nodes, "/nodes", "Nodes"),
    (Nav::Audit, "/audit", "Audit"),
];

/// A whole page: `title` is the `<title>` and the `<h1>`.
pub(crate) fn page(title: &str, nav: Nav, session: Option<&Session>, body: &Markup) -> Response {
    page_with_status(StatusCode::OK, title, nav, session, body)
}

pub(crate) fn page_with_status(
    status: StatusCode,
    title: &str,
    nav: Nav,
    session: Option<&Session>,
    body: &Markup,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Wharf" }
                link rel="stylesheet" href="/assets/dashboard.css";
                script src="/assets/dashboard.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "Wharf" }
                    @if let Some(session) = session {
                        nav aria-label="Main" {
                            ul {
                                @for (item, href, label) in NAV {
                                    li {
                                        @if item == nav {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        form.who method="post" action="/logout" {
                            span { (session.name()) " (" (session.role()) ")" }
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    html_response(status, markup.into_string())
}

/// An HTML body with the dashboard's headers.
fn html_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A page that says what went wrong and what to do.
pub(crate) fn error_page(
    status: StatusCode,
    title: &str,
    message: &str,
    session: Option<&Session>,
) -> Response {
    let body = html! {
        p.error role="alert" { (message) }
        p { a href="/" { "Back to the overview" } }
    };
    page_with_status(status, title, Nav::None, session, &body)
}

/// An API error as a page: the same status and message the API would answer.
pub(crate) fn api_error(err: &ApiError, session: Option<&Session>) -> Response {
    if let Some(detail) = err.log_detail() {
        tracing::error!(http.status = err.status().as_u16(), error.code = err.code(), "{detail}");
    }
    let title = match err.status() {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Refused",
        StatusCode::BAD_REQUEST => "Invalid request",
        _ => "Something went wrong",
    };
    error_page(err.status(), title, err.message(), session)
}

/// A static asset.
pub(crate) fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// An RFC 3339 time as people read it: `2026-12-01 16:24:01 UTC`, in a `<time>` element.
pub(crate) fn time(at: &str) -> Markup {
    let shown = at
        .parse::<jiff::Timestamp>()
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| at.to_owned());
    html! { time datetime=(at) { (shown) } }
}

/// How long from `start` to `end` (or "—").
pub(crate) fn duration(start: Option<&str>, end: Option<&str>) -> String {
    let (Some(start), Some(end)) = (start, end) else { return "—".to_owned() };
    match (start.parse::<jiff::Timestamp>(), end.parse::<jiff::Timestamp>()) {
        (Ok(start), Ok(end)) => {
            let ms = end.as_millisecond() - start.as_millisecond();
            if ms < 10_000 {
                format!("{:.1} s", ms as f64 / 1000.0)
            } else {
                format!("{} s", ms / 1000)
            }
        }
        _ => "—".to_owned(),
    }
}

/// A deploy's or stage's state as a badge; its colour class follows the state, the word is
/// always there (colour is never the only signal).
pub(crate) fn state(state: &str) -> Markup {
    let class = match state {
        "succeeded" => "ok",
        "failed" | "refused" | "cancelled" => "bad",
        "running" | "planned" => "busy",
        "waiting" | "interrupted" => "warn",
        _ => "quiet",
    };
    html! { span class={ "badge " (class) } { (state) } }
}

/// "Newer" / "Older" links for a list shown `per_page` at a time, page `page` (from 0).
pub(crate) fn pager(base: &str, page: u32, has_more: bool) -> Markup {
    let join = if base.contains('?') { '&' } else { '?' };
    html! {
        nav.pager aria-label="Pages" {
            @if page > 0 {
                a rel="prev" href={ (base) (join) "page=" (page - 1) } { "← Newer" }
            }
            span { "Page " (page + 1) }
            @if has_more {
                a rel="next" href={ (base) (join) "page=" (page + 1) } { "Older →" }
            }
        }
    }
}

/// The hidden CSRF field of a form.
pub(crate) fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_people_read_them() {
        let check = |start: Option<&str>, end: Option<&str>, want: &str| {
            assert_eq!(duration(start, end), want, "{start:?} {end:?}");
        };
        check(Some("2026-12-01T10:00:00Z"), Some("2026-12-01T10:00:01.250Z"), "1.2 s");
        check(Some("2026-12-01T10:00:00Z"), Some("2026-12-01T10:02:05Z"), "125 s");
        check(Some("2026-12-01T10:00:00Z"), None, "—");
        check(Some("garbage"), Some("2026-12-01T10:00:00Z"), "—");
    }

    #[test]
    fn pager_links_keep_the_query() {
        let html = pager("/history?environment=prod", 1, true).into_string();
        assert!(html.contains(r#"href="/history?environment=prod&amp;page=0""#), "{html}");
        assert!(html.contains(r#"href="/history?environment=prod&amp;page=2""#), "{html}");
        let html = pager("/nodes", 0, false).into_string();
        assert!(!html.contains("href"), "{html}");
    }

    #[test]
    fn text_is_escaped() {
        let html = state("<script>").into_string();
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
