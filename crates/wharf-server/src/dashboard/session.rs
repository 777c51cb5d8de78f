//! Who is looking: the API token kept in the `wharf_session` cookie (`HttpOnly`,
//! `SameSite=Strict`, set by the login form), checked on every request exactly as the API
//! checks a bearer token (`api::auth::identify`), and the CSRF token every form carries.
//!
//! The CSRF token is HMAC-SHA256 of a fixed label keyed with the session's token: a page
//! of another origin cannot read the cookie (`HttpOnly`) so it cannot compute it, it is the
//! same on every server of a cluster, and signing out (or revoking the token) ends it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq as _;
use wharf_app::token::Role;

use super::layout;
use crate::AppState;
use crate::api::auth::Caller;

/// The cookie that holds the session's token.
pub(crate) const COOKIE_NAME: &str = "wharf_session";

/// How long the browser keeps the cookie (the token's own expiry still applies).
const MAX_AGE_SECS: u32 = 12 * 3600;

/// A signed-in dashboard user: the same [`Caller`] an API request has, and the CSRF token
/// its forms carry.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) caller: Caller,
    pub(crate) csrf: String,
}

impl Session {
    pub(crate) fn name(&self) -> &str {
        &self.caller.identity.name
    }

    pub(crate) fn role(&self) -> Role {
        self.caller.identity.role
    }

    /// Whether this session may do what `needed` may (the API's rule).
    pub(crate) fn may(&self, needed: Role) -> bool {
        self.role().allows(needed)
    }

    /// A 403 page when this session may not do what `needed` may; `what` names the action.
    pub(crate) fn refusal(&self, needed: Role, what: &str) -> Option<Response> {
        self.caller.require(needed, what).err().map(|err| layout::api_error(&err, Some(self)))
    }

    /// A 403 page when `presented` is not this session's CSRF token.
    pub(crate) fn csrf_refusal(&self, presented: &str) -> Option<Response> {
        if bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes())) {
            return None;
        }
        Some(layout::error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form's security token does not match your session (it is from an older \
             sign-in, or from another site): reload the page and try again.",
            Some(self),
        ))
    }
}

/// The CSRF token of a session whose token is `token`.
pub(crate) fn csrf_for(token: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
    hex::encode(ring::hmac::sign(&key, b"wharf dashboard csrf v1").as_ref())
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Whether `text` may be a token (what `wharf token create` prints): checked before it
/// goes into a `Set-Cookie` header.
pub(crate) fn looks_like_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 200
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `Set-Cookie` that starts a session with `token` (checked by [`looks_like_token`]);
/// `secure` (the server's `public_url` is `https://`) adds `Secure`.
pub(crate) fn start_cookie(token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={MAX_AGE_SECS}{secure}"
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| end_cookie())
}

/// `Set-Cookie` that ends the session.
pub(crate) fn end_cookie() -> HeaderValue {
    HeaderValue::from_static("wharf_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// To the login page, back to `path` afterwards, clearing a cookie that did not work.
fn to_login(parts: &Parts, clear: bool) -> Response {
    let back = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    let mut response = Redirect::to(&format!("/login?next={next}")).into_response();
    if clear {
        response.headers_mut().insert(SET_COOKIE, end_cookie());
    }
    response
}

impl FromRequestParts<Arc<AppState>> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Session, Response> {
        let Some(token) = cookie(&parts.headers, COOKIE_NAME) else {
            return Err(to_login(parts, false));
        };
        let (identity, counters) = match crate::api::auth::identify(state, token).await {
            Ok(identified) => identified,
            Err(err) if err.status() == StatusCode::UNAUTHORIZED => {
                return Err(to_login(parts, true));
            }
            Err(err) => return Err(layout::api_error(&err, None)),
        };
        let from = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string());
        let csrf = csrf_for(token);
        Ok(Session { caller: Caller { identity, from, counters }, csrf })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_found_among_others() {
        let check = |header: &str, want: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(COOKIE, HeaderValue::from_str(header).unwrap());
            assert_eq!(cookie(&headers, COOKIE_NAME), want, "{header}");
        };
        check("wharf_session=wharf_ab12", Some("wharf_ab12"));
        check("a=1; wharf_session=wharf_cd; b=2", Some("wharf_cd"));
        check("a=1;wharf_session=", None);
        check("xwharf_session=1", None);
        check("", None);
    }

    #[test]
    fn only_token_characters_go_into_a_cookie() {
        for (text, ok) in [
            ("wharf_0123abcd", true),
            ("", false),
            ("wharf_1; Domain=evil", false),
            ("a\r\nSet-Cookie: x=1", false),
            ("wharf_ü", false),
        ] {
            assert_eq!(looks_like_token(text), ok, "{text:?}");
        }
        let cookie = start_cookie("wharf_00ff", false);
        let text = cookie.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"), "{text}");
        assert!(!text.contains("Secure"), "{text}");
        let cookie = start_cookie("wharf_00ff", true);
        assert!(cookie.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn csrf_differs_by_session_and_is_stable() {
        assert_eq!(csrf_for("wharf_a"), csrf_for("wharf_a"));
        assert_ne!(csrf_for("wharf_a"), csrf_for("wharf_b"));
        assert_eq!(csrf_for("wharf_a").len(), 64);
    }
}
