//! `wharf-server`: Wharf's HTTP server.
//!
//! Today it serves what `wharf publish` writes — the signed APT trees under
//! `DATA/public/PREFIX/` — at `/apt/PREFIX/…` to stock `apt`, answers `/healthz`, and
//! exports Prometheus metrics at `/metrics`. The JSON API and ChatOps will join it here.
//!
//! Goals:
//! - Correct HTTP for package clients: content types apt and proxies expect, `Range`
//!   (206/416), `ETag` and `Last-Modified` with `If-None-Match`/`If-Modified-Since`/
//!   `If-Range` (304), `HEAD`.
//! - Nothing outside the published trees is reachable: no directory listings, no `..`
//!   (raw or percent-encoded), no dot-files (the publish state file, temporary files), no
//!   symlink that leads out of `DATA/public`.
//! - Serving APT does not depend on the database: when the store is unreachable `/healthz`
//!   says so with 503, and packages are still served.
//! - Graceful shutdown on SIGTERM/SIGINT: stop accepting, finish in-flight requests, return.
//!
//! Non-goals: TLS (put a reverse proxy in front), HTTP/2, multi-range responses (a
//! multi-range request gets the whole file, which RFC 9110 allows).
//!
//! Tour:
//! - [`Server`]: [`Server::bind`] then [`Server::run`] with a shutdown future, usually
//!   [`shutdown_signal`].
//! - `files`: `/apt/…` — path checks and the handler; `bucket_files`: the same from an
//!   S3-compatible bucket; `http_file`: what both send — content types, validators,
//!   conditional requests, ranges (pure functions, unit-tested).
//! - `health`: `/healthz` and the lazily (re)connected store.
//! - `app`: the `wharf_app::Context` (opened on first use) and the configuration
//!   ([`Loaded`], replaced whole on reload) that the API, ChatOps and schedules act on.
//! - `api`: `/api/v1/…`.
//! - `metrics`: `/metrics` (Prometheus) — every series declared there; the HTTP middleware
//!   and the hooks other modules count through.
//! - [`ApiError`]: the one error type of every endpoint, a stable `code` plus a message.
//!
//! **Invariant:** HTTP wire types (request parsing, response bodies) live in this crate only.

mod api;
mod app;
mod bucket_files;
mod error;
mod files;
mod health;
mod http_file;
mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use axum::serve::ListenerExt as _;

pub use app::Loaded;
pub use error::ApiError;

/// What the server needs, resolved by the binary from config, environment and flags.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `DATA/public`: one published tree per prefix.
    pub public_dir: PathBuf,
    /// `DATA/objects`: the package files that pool lists name.
    pub objects_dir: PathBuf,
    /// Store URL, as `wharf_store::Store::open` takes it.
    pub database: String,
    /// With S3 storage, the bucket: `/apt/PREFIX/…` is served from its `public/PREFIX/…`
    /// and `public_dir` is not used.
    pub bucket: Option<wharf_storage::Bucket>,
    /// How the API opens the application layer (on first use).
    pub context: wharf_app::ContextSettings,
    /// The configuration the API acts on.
    pub loaded: Loaded,
}

/// The server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot use {} as the published-trees directory", path.display())]
    PublicDir { path: PathBuf, source: std::io::Error },
    #[error(
        "[server] metrics_token_env names {var}, which is unset or empty: set it, or remove \
         the key to make /metrics public"
    )]
    MetricsToken { var: String },
    #[error("the HTTP server stopped with an error")]
    Serve { source: std::io::Error },
}

/// Shared by every request.
#[derive(Debug)]
struct AppState {
    /// Canonical path of `DATA/public`; every served file must resolve below it.
    public_root: PathBuf,
    /// Where the pool files of trees published with a pool list come from.
    objects: wharf_apt::objects::Objects,
    pool_lists: files::PoolLists,
    /// Serve from this bucket instead of `public_root`.
    bucket: Option<wharf_storage::Bucket>,
    store: health::StoreHandle,
    /// The application layer and configuration the API, ChatOps and schedules use.
    app: app::AppHandle,
    /// `/metrics`: the in-process series and the hooks to count into.
    metrics: metrics::Metrics,
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    state: Arc<AppState>,
}

impl Server {
    /// Binds `addr` (`HOST:PORT`; port 0 picks a free port) and prepares the state. The
    /// store is connected lazily, so a database outage does not stop APT serving.
    pub async fn bind(addr: &str, settings: ServerSettings) -> Result<Server, ServerError> {
        let public_err =
            |source| ServerError::PublicDir { path: settings.public_dir.clone(), source };
        let public_root = if settings.bucket.is_some() {
            // Nothing is read (or created) in the data directory.
            settings.public_dir.clone()
        } else {
            tokio::fs::create_dir_all(&settings.public_dir).await.map_err(public_err)?;
            tokio::fs::canonicalize(&settings.public_dir).await.map_err(public_err)?
        };
        let metrics_token = match &settings.loaded.config.server.metrics_token_env {
            Some(var) => match std::env::var(var) {
                Ok(token) if !token.trim().is_empty() => Some(token.trim().to_owned()),
                _ => return Err(ServerError::MetricsToken { var: var.clone() }),
            },
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr: addr.to_owned(), source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr: addr.to_owned(), source })?;
        if let Some(bucket) = &settings.bucket {
            tracing::info!(storage.url = %bucket.url(), "serving /apt/ from the bucket");
        }
        let state = Arc::new(AppState {
            public_root,
            objects: wharf_apt::objects::Objects::new(settings.objects_dir),
            pool_lists: files::PoolLists::default(),
            bucket: settings.bucket,
            store: health::StoreHandle::new(settings.database),
            app: app::AppHandle::new(settings.context, settings.loaded),
            metrics: metrics::Metrics::new(metrics_token),
        });
        Ok(Server { listener, local_addr, state })
    }

    /// The address actually bound (the real port when 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting connections and waits for
    /// in-flight requests to finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let app = router(self.state.clone());
        tracing::info!(server.addr = %self.local_addr, "serving");
        // TCP_NODELAY: a file response is written as headers, then body chunks; with Nagle
        // on, the body waits for the client's delayed ACK of the headers (~40 ms on every
        // keep-alive request after the first).
        let listener = self.listener.tap_io(|stream| {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::warn!("cannot set TCP_NODELAY: {err}");
            }
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| ServerError::Serve { source })?;
        self.state.store.close().await;
        self.state.app.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .nest("/api/v1", api::routes())
        .fallback(files::fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Completes on the first SIGTERM or SIGINT (Ctrl-C).
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
            _ = int.recv() => tracing::info!("SIGINT: finishing in-flight requests"),
        }
    })
}
