//! The notification worker `wharf server` runs beside the HTTP server: it delivers the
//! store's outbox to the `[[notify]]` destinations of the current configuration (see
//! `wharf_app::notify::run_worker`), including what CLI runs left behind, until shutdown.

use std::sync::Arc;
use std::time::Duration;

use wharf_app::Actor;

use crate::AppState;

/// How often the worker looks for new announcements.
const POLL: Duration = Duration::from_secs(1);

/// The running worker; [`Worker::stop`] ends it after the delivery in progress.
pub(crate) struct Worker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    pub(crate) fn spawn(state: Arc<AppState>) -> Worker {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let config_state = state.clone();
        let metrics = state.metrics.clone();
        let task = tokio::spawn(wharf_app::notify::run_worker(
            move || {
                let state = state.clone();
                async move { state.app.app_context(Actor::cli("wharf-server")).await }
            },
            move || {
                let loaded = config_state.app.config();
                (loaded.config.clone(), loaded.source.clone())
            },
            wharf_app::notify::DeliveryOptions::default(),
            POLL,
            stopped,
            move |report| {
                for (destination, delivered, failed) in &report.counts {
                    for _ in 0..*delivered {
                        metrics.webhook_delivery(destination, true);
                    }
                    for _ in 0..*failed {
                        metrics.webhook_delivery(destination, false);
                    }
                }
            },
        ));
        Worker { stop, task }
    }

    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
