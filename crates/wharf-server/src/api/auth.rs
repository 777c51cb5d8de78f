//! Who is calling: `Authorization: Bearer TOKEN`, checked against the store's tokens by
//! `wharf_app::token::TokenCache` (hashes compared in constant time; the table kept in
//! memory while the store's change counter says it is current), then against the role
//! the route needs. Every route of the table in `mod.rs` passes through [`authorize`]
//! with its role, so no endpoint can forget to check; the handler gets the [`Caller`].
//!
//! 401 `unauthorized` without a token, or with an unknown, expired or revoked one (the
//! message says which; the token itself is never echoed or logged); 403 `forbidden` with
//! a role too weak, naming the role needed.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;
use wharf_app::token::{Role, TokenCheck, TokenIdentity};
use wharf_app::{Actor, Context, Via};
use wharf_store::ChangeCounters;

use crate::{ApiError, AppState};

/// The authenticated caller of an API request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) identity: TokenIdentity,
    /// The peer address, `IP:PORT`, when the server knows it.
    pub(crate) from: Option<String>,
    /// The store's change counters, read when the request was authenticated: what the
    /// handler's in-memory copies ([`super::cache`]) are checked against.
    pub(crate) counters: ChangeCounters,
}

impl Caller {
    /// The actor audit entries name: the token, via the API, from the peer address.
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            name: self.identity.name.clone(),
            via: Via::Api { token: self.identity.name.clone(), from: self.from.clone() },
        }
    }

    /// The application context acting for this caller.
    pub(crate) async fn context(&self, state: &AppState) -> Result<Context, ApiError> {
        state.app.context(self.actor()).await
    }

    /// Refuse unless this caller's role may do what `needed` may.
    pub(crate) fn require(&self, needed: Role, what: &str) -> Result<(), ApiError> {
        if self.identity.role.allows(needed) {
            return Ok(());
        }
        let or_admin = if needed == Role::Admin { "" } else { " (or admin)" };
        Err(ApiError::forbidden(format!(
            "{what} needs a token with role {needed}{or_admin}; token {:?} has role {}",
            self.identity.name, self.identity.role
        )))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, ApiError> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::internal("a handler asked for the caller on a route without authorization")
        })
    }
}

fn bearer(request: &Request) -> Result<&str, ApiError> {
    let Some(value) = request.headers().get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "this endpoint needs a token: send `Authorization: Bearer TOKEN` (wharf token create)",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    token.ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer TOKEN`"))
}

/// The middleware of every API route: authenticate, check `needed`, and hand the
/// [`Caller`] to the handler.
pub(crate) async fn authorize(
    State((state, needed)): State<(Arc<AppState>, Role)>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = bearer(&request)?;
    let (identity, counters) = identify(&state, presented).await?;
    let from = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string());
    let caller = Caller { identity, from, counters };
    if !caller.identity.role.allows(needed) {
        caller.require(needed, &format!("{} {}", request.method(), request.uri().path()))?;
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// Who `presented` (a token) is, and the store's change counters as of this request: 401
/// when it is unknown, expired or revoked. The API's bearer header and the dashboard's
/// session cookie both end here. One query (the counters) while no token changed.
pub(crate) async fn identify(
    state: &AppState,
    presented: &str,
) -> Result<(TokenIdentity, ChangeCounters), ApiError> {
    let ctx = state.app.context(Actor::cli("wharf-server")).await?;
    let read = || async { ctx.store().change_counters().await.map_err(wharf_app::AppError::from) };
    let counters = state.counters.read(read).await?;
    let check = state.tokens.check(&ctx, counters.tokens, presented).await?;
    Ok(match check {
        TokenCheck::Valid(identity) => (identity, counters),
        TokenCheck::Expired { name } => {
            return Err(ApiError::unauthorized(format!(
                "token {name:?} has expired: ask an admin for a new one (wharf token create)"
            )));
        }
        TokenCheck::Revoked { name } => {
            return Err(ApiError::unauthorized(format!(
                "token {name:?} was revoked: ask an admin for a new one (wharf token create)"
            )));
        }
        TokenCheck::Unknown => {
            return Err(ApiError::unauthorized(
                "unknown token: send a token made by `wharf token create`",
            ));
        }
    })
}

/// `Json<T>` whose rejections are `400 invalid` in the API's error shape.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

/// `Query<T>` whose rejections are `400 invalid`.
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Query<T>, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

/// `Path<T>` whose rejections are `400 invalid`.
pub(crate) struct Path<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::invalid(rejection.body_text())),
        }
    }
}

/// A JSON body that may be left out (empty: `T::default()`); rejections are `400 invalid`.
pub(crate) struct OptionalBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<OptionalBody<T>, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::invalid(rejection.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalBody)
            .map_err(|err| ApiError::invalid(format!("the JSON body is wrong: {err}")))
    }
}
