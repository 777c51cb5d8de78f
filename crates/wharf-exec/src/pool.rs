//! Connections kept open within a run — and across the stages of a deployment — keyed by
//! node name: [`Pool`] hands out [`Session`]s and runs commands on them.
//!
//! **Invariant:** at most one connection per node is being established at any moment (a
//! per-node async lock), so concurrent users of one node share one connection. A connection
//! found dead is dropped and re-established once; failures are never cached.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::capture::Capture;
use crate::event::Event;
use crate::outcome::{NodeResult, Outcome, Unreachable, UnreachableReason};
use crate::ssh::{self, ChannelOpenError, KeyCache, SshConnection};
use crate::target::{LocalTarget, Target, TargetTransport};

/// Limits for one command on one node.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// TCP connect, key exchange and authentication together.
    pub connect_timeout: Duration,
    /// How long the command may run; `None` waits forever.
    pub command_timeout: Option<Duration>,
    /// Output bytes (stdout and stderr together) kept per node; the rest is counted.
    pub output_limit: usize,
}

impl ExecOptions {
    /// Default connect timeout, as `clush`'s (`-t`).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default per-node output limit: 1,000 nodes × 256 KiB stays well under a gigabyte.
    pub const DEFAULT_OUTPUT_LIMIT: usize = 256 * 1024;
}

impl Default for ExecOptions {
    fn default() -> ExecOptions {
        ExecOptions {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            command_timeout: None,
            output_limit: Self::DEFAULT_OUTPUT_LIMIT,
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<SshConnection>>>>;

struct PoolInner {
    config: Arc<russh::client::Config>,
    keys: KeyCache,
    slots: Mutex<HashMap<String, Slot>>,
}

/// Open connections by node name. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool::new()
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("open", &self.open_connections()).finish()
    }
}

/// A node ready to run commands: an authenticated SSH connection, or a local node.
#[derive(Clone)]
pub struct Session {
    node: Arc<str>,
    kind: SessionKind,
}

#[derive(Clone)]
enum SessionKind {
    Ssh(Arc<SshConnection>),
    Local(LocalTarget),
}

impl Pool {
    pub fn new() -> Pool {
        Pool {
            inner: Arc::new(PoolInner {
                config: ssh::client_config(),
                keys: Mutex::new(HashMap::new()),
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How many SSH connections are open.
    pub fn open_connections(&self) -> usize {
        let slots: Vec<Slot> =
            self.inner.slots.lock().expect("pool lock").values().cloned().collect();
        slots
            .iter()
            .filter(|slot| {
                slot.try_lock().is_ok_and(|conn| conn.as_ref().is_some_and(|c| !c.is_closed()))
            })
            .count()
    }

    /// The open session for `target`, connecting (within `connect_timeout`) if needed.
    pub async fn session(
        &self,
        target: &Target,
        connect_timeout: Duration,
    ) -> Result<Session, Unreachable> {
        self.session_inner(target, connect_timeout, false).await
    }

    async fn session_inner(
        &self,
        target: &Target,
        connect_timeout: Duration,
        fresh: bool,
    ) -> Result<Session, Unreachable> {
        let node: Arc<str> = Arc::from(target.name.as_str());
        let ssh_target = match &target.transport {
            TargetTransport::Local(local) => {
                return Ok(Session { node, kind: SessionKind::Local(local.clone()) });
            }
            TargetTransport::Ssh(ssh_target) => ssh_target,
        };
        let slot = self
            .inner
            .slots
            .lock()
            .expect("pool lock")
            .entry(target.name.clone())
            .or_default()
            .clone();
        let mut guard = slot.lock().await;
        if let Some(connection) = guard.as_ref().filter(|c| !fresh && !c.is_closed()) {
            return Ok(Session { node, kind: SessionKind::Ssh(connection.clone()) });
        }
        if let Some(old) = guard.take() {
            old.close().await;
        }
        // ssh_config's ConnectTimeout for this host wins over the run's default.
        let connect_timeout = ssh_target.connect_timeout.unwrap_or(connect_timeout);
        let connecting = ssh::connect(ssh_target, self.inner.config.clone(), &self.inner.keys);
        let connection = match tokio::time::timeout(connect_timeout, connecting).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(Unreachable::new(
                    UnreachableReason::Timeout,
                    format!(
                        "no SSH session with {}:{} within {}s",
                        ssh_target.host,
                        ssh_target.port,
                        connect_timeout.as_secs_f64()
                    ),
                ));
            }
        };
        *guard = Some(connection.clone());
        Ok(Session { node, kind: SessionKind::Ssh(connection) })
    }

    /// Run `command` on `target`, connecting if needed; every failure is in the result.
    pub async fn exec(&self, target: &Target, command: &str, options: &ExecOptions) -> NodeResult {
        self.exec_streaming(target, command, options, None, Instant::now()).await
    }

    pub(crate) async fn exec_streaming(
        &self,
        target: &Target,
        command: &str,
        options: &ExecOptions,
        events: Option<mpsc::Sender<Event>>,
        run_start: Instant,
    ) -> NodeResult {
        let started = run_start.elapsed();
        let node: Arc<str> = Arc::from(target.name.as_str());
        let mut capture = Capture::new(node, options.output_limit, events);
        let mut outcome = None;
        for fresh in [false, true] {
            let session = match self.session_inner(target, options.connect_timeout, fresh).await {
                Ok(session) => session,
                Err(unreachable) => {
                    outcome = Some(Outcome::Unreachable(unreachable));
                    break;
                }
            };
            match session.run(command, options.command_timeout, &mut capture).await {
                Ok(result) => {
                    outcome = Some(result);
                    break;
                }
                Err(ChannelOpenError(message)) => {
                    outcome = Some(Outcome::Failed(format!("cannot open a channel: {message}")));
                }
            }
        }
        let (stdout, stderr, truncated_bytes) = capture.finish().await;
        NodeResult {
            node: target.name.clone(),
            stdout,
            stderr,
            truncated_bytes,
            started,
            finished: run_start.elapsed(),
            outcome: outcome.expect("set in the loop"),
        }
    }

    /// Copy the local file `source` to `dest` on `target` (SFTP; a local node's root).
    pub async fn copy(
        &self,
        target: &Target,
        source: &Path,
        dest: &str,
        options: &ExecOptions,
    ) -> NodeResult {
        self.copy_at(target, source, dest, options, Instant::now()).await
    }

    pub(crate) async fn copy_at(
        &self,
        target: &Target,
        source: &Path,
        dest: &str,
        options: &ExecOptions,
        run_start: Instant,
    ) -> NodeResult {
        let started = run_start.elapsed();
        let mode = match std::fs::metadata(source) {
            Ok(metadata) => {
                std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o7777
            }
            Err(err) => {
                return failed(
                    target,
                    started,
                    run_start,
                    format!("cannot read {}: {err}", source.display()),
                );
            }
        };
        let mut outcome = None;
        for fresh in [false, true] {
            let session = match self.session_inner(target, options.connect_timeout, fresh).await {
                Ok(session) => session,
                Err(unreachable) => {
                    outcome = Some(Outcome::Unreachable(unreachable));
                    break;
                }
            };
            let copying = async {
                match &session.kind {
                    SessionKind::Local(local) => {
                        Ok(crate::local::copy(local, source, dest, mode).await)
                    }
                    SessionKind::Ssh(connection) => ssh::copy(connection, source, dest, mode).await,
                }
            };
            let result = match options.command_timeout {
                Some(timeout) => match tokio::time::timeout(timeout, copying).await {
                    Ok(result) => result,
                    Err(_) => {
                        outcome = Some(Outcome::TimedOut(timeout));
                        break;
                    }
                },
                None => copying.await,
            };
            match result {
                Ok(Ok(_bytes)) => {
                    outcome = Some(Outcome::Exited(0));
                    break;
                }
                Ok(Err(message)) => {
                    outcome = Some(Outcome::Failed(message));
                    break;
                }
                Err(ChannelOpenError(message)) => {
                    outcome = Some(Outcome::Failed(format!("cannot open a channel: {message}")));
                }
            }
        }
        NodeResult {
            node: target.name.clone(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            truncated_bytes: 0,
            started,
            finished: run_start.elapsed(),
            outcome: outcome.expect("set in the loop"),
        }
    }

    /// Close the connection to `node`, if one is open.
    pub async fn disconnect(&self, node: &str) {
        let slot = self.inner.slots.lock().expect("pool lock").remove(node);
        if let Some(slot) = slot
            && let Some(connection) = slot.lock().await.take()
        {
            connection.close().await;
        }
    }

    /// Close every connection (a deployment calls this when its last stage is done).
    pub async fn close(&self) {
        let slots: Vec<Slot> =
            self.inner.slots.lock().expect("pool lock").drain().map(|(_, slot)| slot).collect();
        for slot in slots {
            if let Some(connection) = slot.lock().await.take() {
                connection.close().await;
            }
        }
    }
}

fn failed(target: &Target, started: Duration, run_start: Instant, message: String) -> NodeResult {
    NodeResult {
        node: target.name.clone(),
        stdout: Vec::new(),
        stderr: Vec::new(),
        truncated_bytes: 0,
        started,
        finished: run_start.elapsed(),
        outcome: Outcome::Failed(message),
    }
}

impl Session {
    /// The node this session reaches.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Run a command on this session, keeping at most `options.output_limit` bytes.
    pub async fn exec(&self, command: &str, options: &ExecOptions) -> NodeResult {
        let run_start = Instant::now();
        let mut capture = Capture::new(self.node.clone(), options.output_limit, None);
        let outcome = match self.run(command, options.command_timeout, &mut capture).await {
            Ok(outcome) => outcome,
            Err(ChannelOpenError(message)) => {
                Outcome::Failed(format!("cannot open a channel: {message}"))
            }
        };
        let (stdout, stderr, truncated_bytes) = capture.finish().await;
        NodeResult {
            node: self.node.to_string(),
            stdout,
            stderr,
            truncated_bytes,
            started: Duration::ZERO,
            finished: run_start.elapsed(),
            outcome,
        }
    }

    async fn run(
        &self,
        command: &str,
        timeout: Option<Duration>,
        capture: &mut Capture,
    ) -> Result<Outcome, ChannelOpenError> {
        match &self.kind {
            SessionKind::Ssh(connection) => ssh::exec(connection, command, timeout, capture).await,
            SessionKind::Local(local) => {
                Ok(crate::local::exec(&self.node, local, command, timeout, capture).await)
            }
        }
    }
}
