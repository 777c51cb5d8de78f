//! The application layer as the server holds it: the `wharf_app::Context` (opened on first
//! use, so APT serving never waits for the database) and the configuration every request
//! acts on, replaced whole when it is reloaded (SIGHUP).

use std::sync::{Arc, RwLock};

use wharf_app::{Actor, Context, ContextSettings};
use wharf_core::config::{Config, ConfigSource};
use wharf_core::inventory::Inventory;

use crate::ApiError;

/// A checked configuration: the file, its text (for errors naming lines) and the
/// inventory resolved from it. Requests take an `Arc` of the one current when they start.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub source: ConfigSource,
    pub inventory: Inventory,
    /// What `wharf config check` says of this configuration and of the server's settings
    /// (`GET /api/v1/config`).
    pub summary: wharf_app::wire::ConfigSummary,
}

/// The context and configuration shared by every request.
#[derive(Debug)]
pub(crate) struct AppHandle {
    settings: ContextSettings,
    context: tokio::sync::OnceCell<Context>,
    config: RwLock<Arc<Loaded>>,
    local_env: wharf_exec::LocalEnv,
}

impl AppHandle {
    pub(crate) fn new(
        settings: ContextSettings,
        loaded: Loaded,
        local_env: wharf_exec::LocalEnv,
    ) -> AppHandle {
        AppHandle {
            settings,
            context: tokio::sync::OnceCell::new(),
            config: RwLock::new(Arc::new(loaded)),
            local_env,
        }
    }

    /// How the API reaches nodes (`HOME`, `USER`, `SSH_AUTH_SOCK` of the server).
    pub(crate) fn local_env(&self) -> &wharf_exec::LocalEnv {
        &self.local_env
    }

    /// The context acting for `actor`; opening the store on first use (503 while it
    /// cannot be opened).
    pub(crate) async fn context(&self, actor: Actor) -> Result<Context, ApiError> {
        self.app_context(actor).await.map_err(ApiError::from)
    }

    /// [`AppHandle::context`] for what is not a request (the notification worker).
    pub(crate) async fn app_context(&self, actor: Actor) -> Result<Context, wharf_app::AppError> {
        let base = self
            .context
            .get_or_try_init(|| Context::open(self.settings.clone(), Actor::cli("wharf-server")))
            .await?;
        Ok(base.acting_as(actor))
    }

    /// The configuration as of now.
    pub(crate) fn config(&self) -> Arc<Loaded> {
        self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replace the configuration (SIGHUP, after the new file was checked).
    pub(crate) fn reload(&self, loaded: Loaded) {
        *self.config.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded);
    }

    pub(crate) async fn close(&self) {
        if let Some(context) = self.context.get() {
            context.store().close().await;
        }
    }
}
