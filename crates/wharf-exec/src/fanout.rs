//! The fan-out engine: one action on many nodes, at most `fanout` at a time, results
//! streamed as [`Event`]s so a front end can print while the run goes on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Semaphore, mpsc};

use crate::outcome::NodeResult;
use crate::pool::{ExecOptions, Pool};
use crate::target::Target;

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// What a run reports as it goes.
#[derive(Debug, Clone)]
pub enum Event {
    /// One complete line (without its `\n`; a last line may lack one) of kept output.
    Line { node: Arc<str>, stream: OutputStream, line: Vec<u8> },
    /// A node is done; its full result.
    Finished(NodeResult),
}

/// What to do on every node.
#[derive(Debug, Clone)]
pub enum Action {
    /// Run a command line (the remote login shell interprets it, as with `ssh host CMD`).
    Run(String),
    /// Copy a local file to a path on every node.
    Copy { source: PathBuf, dest: String },
}

/// Options for a whole run.
#[derive(Debug, Clone)]
pub struct FanoutOptions {
    /// How many nodes are worked on at once (`-f`).
    pub fanout: usize,
    pub exec: ExecOptions,
    /// Send [`Event::Line`]s (off when output is gathered at the end anyway).
    pub stream_lines: bool,
    /// Keep each node's connection in the pool after its action (for later commands, e.g.
    /// the next stage of a deployment). A one-shot run closes it at once, which keeps
    /// client memory and the number of live server processes down on big fleets.
    pub keep_connections: bool,
}

impl FanoutOptions {
    /// Default fan-out, as `clush`'s.
    pub const DEFAULT_FANOUT: usize = 64;
}

impl Default for FanoutOptions {
    fn default() -> FanoutOptions {
        FanoutOptions {
            fanout: Self::DEFAULT_FANOUT,
            exec: ExecOptions::default(),
            stream_lines: false,
            keep_connections: true,
        }
    }
}

/// Run `action` on every target. Every node ends with exactly one [`Event::Finished`];
/// the function returns when all have been sent.
pub async fn fan_out(
    pool: &Pool,
    targets: Vec<Target>,
    action: Action,
    options: &FanoutOptions,
    events: mpsc::Sender<Event>,
) {
    let run_start = Instant::now();
    let permits = Arc::new(Semaphore::new(options.fanout.max(1)));
    let action = Arc::new(action);
    let mut tasks = tokio::task::JoinSet::new();
    for target in targets {
        let (pool, action, permits, events) =
            (pool.clone(), action.clone(), permits.clone(), events.clone());
        let options = options.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore is never closed");
            let line_events = options.stream_lines.then(|| events.clone());
            let result = match &*action {
                Action::Run(command) => {
                    pool.exec_streaming(&target, command, &options.exec, line_events, run_start)
                        .await
                }
                Action::Copy { source, dest } => {
                    pool.copy_at(&target, source, dest, &options.exec, run_start).await
                }
            };
            if !options.keep_connections {
                pool.disconnect(&target.name).await;
            }
            let _ = events.send(Event::Finished(result)).await;
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined {
            tracing::error!("a node task panicked: {err}");
        }
    }
}

/// [`fan_out`] without streaming: every node's result, in the order of `targets`.
pub async fn run_all(
    pool: &Pool,
    targets: Vec<Target>,
    action: Action,
    options: &FanoutOptions,
) -> Vec<NodeResult> {
    let order: std::collections::HashMap<String, usize> =
        targets.iter().enumerate().map(|(idx, target)| (target.name.clone(), idx)).collect();
    let (sender, mut receiver) = mpsc::channel(1024);
    let options = FanoutOptions { stream_lines: false, ..options.clone() };
    let collect = async {
        let mut results = Vec::new();
        while let Some(event) = receiver.recv().await {
            if let Event::Finished(result) = event {
                results.push(result);
            }
        }
        results
    };
    let ((), mut results) = tokio::join!(fan_out(pool, targets, action, &options, sender), collect);
    results.sort_by_key(|result| order.get(&result.node).copied().unwrap_or(usize::MAX));
    results
}
