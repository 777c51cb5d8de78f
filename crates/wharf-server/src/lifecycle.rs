//! How the server starts and stops, the way GitLab Runner does (seed 002):
//!
//! - SIGTERM (and SIGINT): stop accepting, let running deploys finish for up to
//!   `[server] drain_timeout`, then stop them and record them `interrupted` (`wharf
//!   resume` continues them). SIGQUIT: the same, waiting as long as they take.
//! - SIGHUP: reload `wharf.toml`; a file that does not check out is refused with the
//!   error logged, and the server goes on with the configuration it had. A reloaded
//!   file's `[[repositories]]` are applied (`declared`), as on start.
//! - systemd: `READY=1` once listening and `STOPPING=1` on the way down, to
//!   `$NOTIFY_SOCKET` (`Type=notify`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio_util::task::TaskTracker;

/// How the server was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM or SIGINT: drain for at most the drain timeout.
    Term,
    /// SIGQUIT: drain for as long as it takes.
    Quit,
}

/// Reads and checks the configuration again (SIGHUP); the error says what is wrong.
#[derive(Clone)]
pub struct Reload(pub Arc<dyn Fn() -> Result<crate::Loaded, String> + Send + Sync>);

impl std::fmt::Debug for Reload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reload")
    }
}

/// Completes with the first SIGTERM, SIGINT or SIGQUIT.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn stop_signal() -> std::io::Result<impl Future<Output = Stop> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); Stop::Term }
            _ = int.recv() => { tracing::info!("SIGINT: draining"); Stop::Term }
            _ = quit.recv() => { tracing::info!("SIGQUIT: draining until running deploys finish"); Stop::Quit }
        }
    })
}

/// Reload on every SIGHUP until the server stops.
pub(crate) fn reload_on_hangup(state: Arc<crate::AppState>, reload: Reload) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match (reload.0)() {
                Ok(loaded) => {
                    state.app.reload(loaded);
                    tracing::info!("SIGHUP: configuration reloaded");
                    state.work.spawn(crate::declared::apply(state.clone(), "SIGHUP"));
                }
                Err(why) => {
                    tracing::error!(
                        "SIGHUP: the configuration was not reloaded, keeping the old one: {why}"
                    );
                }
            }
        }
    });
    Ok(())
}

/// Work the server started in the background (deploys from ChatOps and the API) and
/// waits for on its way down.
#[derive(Debug, Default)]
pub(crate) struct Work {
    tracker: TaskTracker,
    aborts: Mutex<Vec<AbortHandle>>,
}

impl Work {
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        let handle = self.tracker.spawn(work);
        let mut aborts = self.aborts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        aborts.retain(|a| !a.is_finished());
        aborts.push(handle.abort_handle());
        handle
    }

    /// Wait for the running work: without limit for [`Stop::Quit`], for at most `timeout`
    /// for [`Stop::Term`], after which it is stopped. True when everything finished.
    pub(crate) async fn drain(&self, stop: Stop, timeout: Duration) -> bool {
        self.tracker.close();
        let finished = match stop {
            Stop::Quit => {
                self.tracker.wait().await;
                true
            }
            Stop::Term => tokio::time::timeout(timeout, self.tracker.wait()).await.is_ok(),
        };
        if !finished {
            for abort in
                self.aborts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter()
            {
                abort.abort();
            }
            self.tracker.wait().await;
        }
        finished
    }
}

/// Tell systemd (`$NOTIFY_SOCKET`, `Type=notify`) `state`, e.g. `READY=1`. Nothing when
/// not started by systemd.
pub(crate) fn notify(state: &str) {
    use std::os::unix::net::UnixDatagram;
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let sent = UnixDatagram::unbound().and_then(|socket| {
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt as _;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)
        } else {
            socket.send_to(state.as_bytes(), &path)
        }
    });
    if let Err(err) = sent {
        tracing::warn!("cannot notify systemd ({state}): {err}");
    }
}
