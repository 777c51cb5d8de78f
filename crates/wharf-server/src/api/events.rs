//! `GET /deploys/{id}/events`: a deploy's events as server-sent events, as they are
//! stored (`deploy.started`, `stage.started`, `checks.finished`, `stage.finished`,
//! `deploy.paused`, `deploy.finished`, the downgrade announcements, …). Each event's SSE
//! `id` is its store id, so a client that reconnects with `Last-Event-ID` gets only what
//! it missed. The stream ends once the deploy is over or interrupted (reconnect after a
//! resume); while it waits at a manual stage it stays open with keep-alives.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use wharf_app::Context;
use wharf_store::deploy::{DeployEvent, DeployState};

use super::auth::{Caller, Path};
use crate::{ApiError, AppState};

/// How often the store is asked for new events.
const POLL: Duration = Duration::from_millis(250);

struct Follow {
    ctx: Context,
    id: i64,
    after: i64,
    pending: VecDeque<DeployEvent>,
}

impl Follow {
    /// The next event, waiting for it; `None` once the deploy is over and all was sent.
    async fn next(&mut self) -> Option<DeployEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.after = event.id;
                return Some(event);
            }
            // Read the state first: events written before it are then all in the read below.
            let state = match self.ctx.store().deploy(self.id).await {
                Ok(Some(row)) => row.record.state,
                _ => return None,
            };
            let events = self.ctx.store().events_of_deploy(self.id).await.ok()?;
            self.pending.extend(events.into_iter().filter(|e| e.id > self.after));
            if self.pending.is_empty() {
                if state.is_final() || state == DeployState::Interrupted {
                    return None;
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

fn sse(event: &DeployEvent) -> Event {
    let data = serde_json::json!({
        "id": event.id,
        "deploy_id": event.deploy_id,
        "at": event.at,
        "kind": event.kind,
        "body": event.body,
    });
    Event::default().id(event.id.to_string()).event(event.kind.clone()).data(data.to_string())
}

pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = caller.context(&state).await?;
    if ctx.store().deploy(id).await.map_err(wharf_app::AppError::from)?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no deploy {id}; GET /api/v1/deploys lists them"),
        ));
    }
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let follow = Follow { ctx, id, after, pending: VecDeque::new() };
    let stream = futures::stream::unfold(follow, |mut follow| async move {
        let event = follow.next().await?;
        Some((Ok::<_, Infallible>(sse(&event)), follow))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}
