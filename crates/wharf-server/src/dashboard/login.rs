//! `/login` and `/logout`: a token (made by `wharf token create`) goes into the session
//! cookie once the store knows it; signing out clears the cookie (the token stays valid:
//! `wharf token revoke` ends it everywhere).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{self, Nav};
use super::session::{self, Session};
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

/// Where to go after signing in: a path of this site only — never `//host`, a URL, or
/// anything with a backslash or whitespace (browsers drop tabs and newlines from a
/// `Location`, so `/\t/host` would become `//host`).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            path
        }
        _ => "/",
    }
}

fn login_page(status: StatusCode, next: &str, problem: Option<&str>) -> Response {
    let body = html! {
        p { "Sign in with an API token. An admin makes one with "
            code { "wharf token create NAME --role viewer|deployer" } "." }
        @if let Some(problem) = problem {
            p.error role="alert" id="login-error" { (problem) }
        }
        form.stack method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            label for="token" { "Token" }
            input id="token" name="token" type="password" autocomplete="current-password"
                required spellcheck="false" aria-describedby=[problem.map(|_| "login-error")];
            button type="submit" { "Sign in" }
        }
    };
    layout::page_with_status(status, "Sign in", Nav::None, None, &body)
}

pub(crate) async fn form(Query(query): Query<LoginQuery>) -> Response {
    login_page(StatusCode::OK, safe_next(query.next.as_deref()), None)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    token: String,
    next: Option<String>,
}

pub(crate) async fn submit(
    State(state): State<Arc<AppState>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let token = form.token.trim();
    if !session::looks_like_token(token) {
        let why = "That is not a token: paste what `wharf token create` printed (wharf_…).";
        return login_page(StatusCode::UNAUTHORIZED, next, Some(why));
    }
    match crate::api::auth::identify(&state, token).await {
        Ok((identity, _)) => {
            tracing::info!(token.name = %identity.name, "dashboard sign-in");
            let mut response = Redirect::to(next).into_response();
            let public_url = state.app.config().config.server.public_url.clone();
            let secure = public_url.is_some_and(|url| url.starts_with("https://"));
            response.headers_mut().insert(SET_COOKIE, session::start_cookie(token, secure));
            response
        }
        Err(err) if err.status() == StatusCode::UNAUTHORIZED => {
            login_page(StatusCode::UNAUTHORIZED, next, Some(err.message()))
        }
        Err(err) => layout::api_error(&err, None),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

pub(crate) async fn logout(session: Session, Form(form): Form<LogoutForm>) -> Response {
    if let Some(refused) = session.csrf_refusal(&form.csrf) {
        return refused;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(SET_COOKIE, session::end_cookie());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        for (next, want) in [
            (Some("/deploys/3"), "/deploys/3"),
            (Some("//evil.example/x"), "/"),
            (Some("https://evil.example"), "/"),
            (Some("/\\evil"), "/"),
            (Some("/\t/evil.example"), "/"),
            (Some("/\n/evil.example"), "/"),
            (Some("/history?environment=prod&page=2"), "/history?environment=prod&page=2"),
            (None, "/"),
        ] {
            assert_eq!(safe_next(next), want, "{next:?}");
        }
    }
}
