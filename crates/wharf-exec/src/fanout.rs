//! The fan-out engine: one action on many nodes, at most `fanout` at a time, results
//! streamed as [`Event`]s so a front end can print while the run goes on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::event::Event;
use crate::outcome::{NodeResult, Outcome};
use crate::pool::{ExecOptions, Pool};
use crate::target::Target;

/// What to do on every node.
#[derive(Debug, Clone)]
pub enum Action {
    /// Run a command line (the remote login shell interprets it, as with `ssh host CMD`).
    Run(String),
    /// Run each node's own command line, by node name (a deploy's `{node}` templates); a
    /// node missing from the map fails without running anything.
    RunEach(HashMap<String, String>),
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

/// Run `action` on every target. Every node ends with exactly one [`Event::Finished`] —
/// even if its task panics (then its outcome is [`Outcome::Failed`]); the function
/// returns when all have been sent.
pub async fn fan_out(
    pool: &Pool,
    targets: Vec<Target>,
    action: Action,
    options: &FanoutOptions,
    events: mpsc::Sender<Event>,
) {
    let run_start = Instant::now();
    let action = Arc::new(action);
    let node_events = events.clone();
    let run_node = |target: Target| {
        let (pool, action, events) = (pool.clone(), action.clone(), node_events.clone());
        let options = options.clone();
        async move {
            let line_events = options.stream_lines.then_some(events);
            let result = match &*action {
                Action::Run(command) => {
                    pool.exec_streaming(&target, command, &options.exec, line_events, run_start)
                        .await
                }
                Action::RunEach(commands) => match commands.get(&target.name) {
                    Some(command) => {
                        pool.exec_streaming(&target, command, &options.exec, line_events, run_start)
                            .await
                    }
                    None => NodeResult {
                        node: target.name.clone(),
                        stdout: Vec::new(),
                        stderr: Vec::new(),
                        truncated_bytes: 0,
                        started: run_start.elapsed(),
                        finished: run_start.elapsed(),
                        outcome: Outcome::Failed("no command was given for this node".to_owned()),
                    },
                },
                Action::Copy { source, dest } => {
                    pool.copy_at(&target, source, dest, &options.exec, run_start).await
                }
            };
            if !options.keep_connections {
                pool.disconnect(&target.name).await;
            }
            result
        }
    };
    drive(targets, options.fanout, run_start, run_node, &events).await;
}

/// Spawn `run_node(target)` for every target, at most `fanout` running at once, and send
/// one [`Event::Finished`] per target as each ends: its result, or a failure if it panicked.
async fn drive<F, Fut>(
    targets: Vec<Target>,
    fanout: usize,
    run_start: Instant,
    mut run_node: F,
    events: &mpsc::Sender<Event>,
) where
    F: FnMut(Target) -> Fut,
    Fut: Future<Output = NodeResult> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(fanout.max(1)));
    let mut tasks = JoinSet::new();
    let mut nodes: HashMap<tokio::task::Id, String> = HashMap::new();
    for target in targets {
        let node = target.name.clone();
        let permits = permits.clone();
        let work = run_node(target);
        let task = tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore is never closed");
            work.await
        });
        nodes.insert(task.id(), node);
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        let result = match joined {
            Ok((id, result)) => {
                nodes.remove(&id);
                result
            }
            Err(err) => {
                let node = nodes.remove(&err.id()).unwrap_or_default();
                let what = if err.is_panic() {
                    let payload = err.into_panic();
                    let message = payload
                        .downcast_ref::<&str>()
                        .copied()
                        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                        .unwrap_or("(no message)");
                    format!("panicked: {message}")
                } else {
                    "was cancelled".to_owned()
                };
                tracing::error!(node, "the task for this node {what}");
                let now = run_start.elapsed();
                NodeResult {
                    node,
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                    truncated_bytes: 0,
                    started: now,
                    finished: now,
                    outcome: Outcome::Failed(format!(
                        "internal error: the task for this node {what}"
                    )),
                }
            }
        };
        let _ = events.send(Event::Finished(result)).await;
    }
}

/// [`fan_out`] without streaming: every node's result — one per target — in the order of
/// `targets`.
pub async fn run_all(
    pool: &Pool,
    targets: Vec<Target>,
    action: Action,
    options: &FanoutOptions,
) -> Vec<NodeResult> {
    let order = node_order(&targets);
    let options = FanoutOptions { stream_lines: false, ..options.clone() };
    collect_in_order(order, |sender| fan_out(pool, targets, action, &options, sender)).await
}

fn node_order(targets: &[Target]) -> HashMap<String, usize> {
    targets.iter().enumerate().map(|(idx, target)| (target.name.clone(), idx)).collect()
}

/// Run `run` with a sender and collect the [`Event::Finished`] results it sends, in `order`.
async fn collect_in_order<Fut: Future<Output = ()>>(
    order: HashMap<String, usize>,
    run: impl FnOnce(mpsc::Sender<Event>) -> Fut,
) -> Vec<NodeResult> {
    let (sender, mut receiver) = mpsc::channel(1024);
    let collect = async {
        let mut results = Vec::new();
        while let Some(event) = receiver.recv().await {
            if let Event::Finished(result) = event {
                results.push(result);
            }
        }
        results
    };
    let ((), mut results) = tokio::join!(run(sender), collect);
    results.sort_by_key(|result| order.get(&result.node).copied().unwrap_or(usize::MAX));
    results
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::target::{LocalTarget, TargetTransport};

    fn local(name: &str) -> Target {
        Target {
            name: name.to_owned(),
            transport: TargetTransport::Local(LocalTarget { root: None }),
        }
    }

    /// The per-node work is injected, so a panic can be forced in one node's task without
    /// a panic path in the production code.
    #[tokio::test]
    async fn a_node_whose_task_panics_still_yields_one_failed_result() {
        let targets = vec![local("a"), local("boom"), local("c"), local("d")];
        let order = node_order(&targets);
        let run_start = Instant::now();
        let run_node = |target: Target| async move {
            if target.name == "boom" {
                panic!("injected into {}", target.name);
            }
            // Let the other nodes' tasks interleave with this one, without waiting on a clock.
            tokio::task::yield_now().await;
            NodeResult {
                node: target.name,
                stdout: b"ok\n".to_vec(),
                stderr: Vec::new(),
                truncated_bytes: 0,
                started: Duration::ZERO,
                finished: run_start.elapsed(),
                outcome: Outcome::Exited(0),
            }
        };
        let results = collect_in_order(order, |sender| async move {
            drive(targets, 2, run_start, run_node, &sender).await;
        })
        .await;

        let nodes: Vec<&str> = results.iter().map(|result| result.node.as_str()).collect();
        assert_eq!(nodes, ["a", "boom", "c", "d"]);
        for result in &results {
            if result.node == "boom" {
                assert!(!result.outcome.is_success());
                assert_eq!(
                    result.outcome,
                    Outcome::Failed(
                        "internal error: the task for this node panicked: injected into boom"
                            .to_owned()
                    )
                );
            } else {
                assert!(result.outcome.is_success(), "{result:?}");
            }
        }
    }
}
