//! `/healthz`: 200 with `{"status":"ok",…}` when the store answers, 503 otherwise.
//!
//! The store is opened on first use and reopened after a failure, so the server starts
//! (and keeps serving APT trees) while the database is down.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wharf_store::Store;

use crate::AppState;

/// How long a health check waits for the store before answering 503.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub(crate) struct StoreHandle {
    database: String,
    store: tokio::sync::Mutex<Option<Store>>,
}

impl StoreHandle {
    pub(crate) fn new(database: String) -> Self {
        StoreHandle { database, store: tokio::sync::Mutex::new(None) }
    }

    /// Open if needed, then ask the store a trivial question. Returns the backend name.
    /// The lock is held only to open the store or to take a handle (a clone of its pool),
    /// so health checks run side by side instead of one at a time.
    async fn check(&self) -> Result<&'static str, String> {
        let store = {
            let mut guard = self.store.lock().await;
            if guard.is_none() {
                let opened = tokio::time::timeout(STORE_TIMEOUT, Store::open(&self.database))
                    .await
                    .map_err(|_| format!("store did not answer within {STORE_TIMEOUT:?}"))?;
                *guard = Some(opened.map_err(|err| error_chain(&err))?);
            }
            guard.clone().ok_or("store not open")?
        };
        let failed = match tokio::time::timeout(STORE_TIMEOUT, store.ping()).await {
            Ok(Ok(())) => return Ok(store.backend()),
            Ok(Err(err)) => error_chain(&err),
            Err(_) => format!("store did not answer within {STORE_TIMEOUT:?}"),
        };
        // Reopen on the next check.
        *self.store.lock().await = None;
        Err(failed)
    }

    pub(crate) async fn close(&self) {
        if let Some(store) = self.store.lock().await.take() {
            store.close().await;
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub(crate) async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.check().await {
        Ok(backend) => {
            Json(serde_json::json!({ "status": "ok", "store": backend })).into_response()
        }
        Err(detail) => {
            tracing::warn!(health.store = "unreachable", "health check failed: {detail}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable", "store": "unreachable" })),
            )
                .into_response()
        }
    }
}
