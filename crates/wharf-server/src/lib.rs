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
//! - Graceful shutdown on SIGTERM/SIGINT/SIGQUIT: stop accepting, finish in-flight
//!   requests, drain background deploys, return; SIGHUP reloads the configuration.
//!
//! Non-goals: TLS (put a reverse proxy in front), HTTP/2, multi-range responses (a
//! multi-range request gets the whole file, which RFC 9110 allows).
//!
//! Tour:
//! - [`Server`]: [`Server::bind`] then [`Server::run`] with a stop future, usually
//!   [`lifecycle::stop_signal`]; [`lifecycle`]: drain, reload, systemd notifications.
//! - `files`: `/apt/…` — path checks and the handler; `bucket_files`: the same from an
//!   S3-compatible bucket; `http_file`: what both send — content types, validators,
//!   conditional requests, ranges (pure functions, unit-tested).
//! - `health`: `/healthz` and the lazily (re)connected store.
//! - `app`: the `wharf_app::Context` (opened on first use) and the configuration
//!   ([`Loaded`], replaced whole on reload) that the API, ChatOps and schedules act on.
//! - `api`: `/api/v1/…`.
//! - `dashboard`: the web dashboard at `/` (HTML pages over the same calls and roles as the
//!   API; `docs/dashboard.md`).
//! - [`chatops`]: `/chatops/slack` — signed, fresh, not replayed, mapped users (and
//!   `/chatops/mattermost`, checked by the command's token); the
//!   commands themselves run through [`chatops::ChatCommands`], which the binary provides.
//! - `notify`: the worker delivering announcements to `[[notify]]` destinations.
//! - `schedules`: the scheduler claiming and running `[[schedules]]` fire times.
//! - `declared`: `[[repositories]]` applied on start and after each SIGHUP reload.
//! - `metrics`: `/metrics` (Prometheus) — every series declared there; the HTTP middleware
//!   and the hooks other modules count through.
//! - [`ApiError`]: the one error type of every endpoint, a stable `code` plus a message.
//!
//! **Invariant:** HTTP wire types (request parsing, response bodies) live in this crate only.

mod api;
mod app;
mod bucket_files;
pub mod chatops;
mod dashboard;
mod declared;
mod error;
mod file_cache;
mod files;
mod health;
mod http_file;
pub mod lifecycle;
mod metrics;
mod notify;
mod schedules;

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
    /// Runs chat commands (`/chatops/slack`); `None`: ChatOps off.
    pub chat: Option<Arc<dyn chatops::ChatCommands>>,
    /// Reads the configuration again on SIGHUP; `None`: SIGHUP is not handled.
    pub reload: Option<lifecycle::Reload>,
    /// On SIGTERM, how long running deploys may take to finish.
    pub drain_timeout: std::time::Duration,
    /// `HOME`, `USER`, `SSH_AUTH_SOCK` as the binary read them: how the API's deploys,
    /// holds and checks reach nodes (as `wharf run` does).
    pub local_env: wharf_exec::LocalEnv,
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
    /// Small tree files and pool objects, in memory while they are current.
    file_cache: file_cache::FileCache,
    /// Serve from this bucket instead of `public_root`.
    bucket: Option<wharf_storage::Bucket>,
    store: health::StoreHandle,
    /// The application layer and configuration the API, ChatOps and schedules use.
    app: app::AppHandle,
    chat: Option<Arc<dyn chatops::ChatCommands>>,
    chat_replays: chatops::ReplayGuard,
    /// Deploys and other work started in the background, drained on the way down.
    work: lifecycle::Work,
    /// `/metrics`: the in-process series and the hooks to count into.
    metrics: metrics::Metrics,
    /// The store's change counters, one read shared by the requests waiting for it.
    counters: api::cache::CounterReads,
    /// The token table, in memory while the store's change counter says it is current.
    tokens: wharf_app::token::TokenCache,
    /// The newest pages of the deploy history, likewise.
    deploy_pages: api::cache::DeployPages,
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    state: Arc<AppState>,
    reload: Option<lifecycle::Reload>,
    drain_timeout: std::time::Duration,
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
            file_cache: file_cache::FileCache::default(),
            bucket: settings.bucket,
            store: health::StoreHandle::new(settings.database),
            app: app::AppHandle::new(settings.context, settings.loaded, settings.local_env),
            chat: settings.chat,
            chat_replays: chatops::ReplayGuard::default(),
            work: lifecycle::Work::default(),
            metrics: metrics::Metrics::new(metrics_token),
            counters: api::cache::CounterReads::default(),
            tokens: wharf_app::token::TokenCache::default(),
            deploy_pages: api::cache::DeployPages::default(),
        });
        Ok(Server {
            listener,
            local_addr,
            state,
            reload: settings.reload,
            drain_timeout: settings.drain_timeout,
        })
    }

    /// The address actually bound (the real port when 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` says how to stop; then stops accepting connections, waits
    /// for in-flight requests, drains background deploys (see [`lifecycle`]) and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = lifecycle::Stop> + Send + 'static,
    ) -> Result<(), ServerError> {
        let app = router(self.state.clone());
        if let Some(reload) = self.reload.clone() {
            lifecycle::reload_on_hangup(self.state.clone(), reload)
                .map_err(|source| ServerError::Serve { source })?;
        }
        let (stop_sender, stop) = tokio::sync::oneshot::channel();
        let graceful = async move {
            let _ = stop_sender.send(shutdown.await);
        };
        let notifier = notify::Worker::spawn(self.state.clone());
        let scheduler = schedules::spawn(self.state.clone());
        self.state.work.spawn(declared::apply(self.state.clone(), "start"));
        tracing::info!(server.addr = %self.local_addr, "serving");
        lifecycle::notify("READY=1");
        // TCP_NODELAY: a file response is written as headers, then body chunks; with Nagle
        // on, the body waits for the client's delayed ACK of the headers (~40 ms on every
        // keep-alive request after the first).
        let listener = self.listener.tap_io(|stream| {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::warn!("cannot set TCP_NODELAY: {err}");
            }
        });
        // With the peer address: the API records it in audit entries.
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(graceful)
            .await
            .map_err(|source| ServerError::Serve { source })?;
        lifecycle::notify("STOPPING=1");
        scheduler.abort();
        let stop = stop.await.unwrap_or(lifecycle::Stop::Term);
        if !self.state.work.drain(stop, self.drain_timeout).await {
            interrupt_running(&self.state, self.drain_timeout).await;
        }
        notifier.stop().await;
        self.state.store.close().await;
        self.state.app.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Record the deploys stopped at the drain timeout as `interrupted`.
async fn interrupt_running(state: &AppState, drain_timeout: std::time::Duration) {
    let actor = wharf_app::Actor::cli("wharf-server");
    let why = format!(
        "the server stopped (SIGTERM) before it finished, after a drain of {}s",
        drain_timeout.as_secs()
    );
    match state.app.context(actor).await {
        Ok(ctx) => match wharf_app::deploy::interrupt_own(&ctx, &why).await {
            Ok(ids) => tracing::warn!("deploys {ids:?} interrupted by the shutdown"),
            Err(err) => tracing::error!("cannot record interrupted deploys: {err}"),
        },
        Err(err) => tracing::error!("cannot record interrupted deploys: {err}"),
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .nest("/api/v1", api::routes(state.clone()))
        .merge(dashboard::routes())
        .route("/chatops/slack", axum::routing::post(chatops::slack))
        .route("/chatops/mattermost", axum::routing::post(chatops::mattermost))
        .fallback(files::fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}
