//! `wharf run` and `wharf copy`: parse the fleet options, call [`wharf_app::fleet`], and
//! print as it streams (`node: line`) or gathered like `clush -b`, then one line per
//! distinct failure.
//!
//! Exit codes: 0 all nodes succeeded; 3 any node unreachable; otherwise 1 when any node
//! failed (with `-S`: the largest remote exit code; a timed-out command counts as 124).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use wharf_app::fleet::{FleetEvent, FleetRequest};
use wharf_app::wire::NodeResultView;
use wharf_core::nodeset::NodeSet;
use wharf_exec::gather::{failures, gather};
use wharf_exec::{Action, ExecOptions, FanoutOptions, LocalEnv, NodeResult, Outcome, OutputStream};

use crate::cli::{CopyArgs, FleetArgs, RunArgs};
use crate::env_vars;
use crate::exit::{FAILURE, SUCCESS, UNREACHABLE, UsageError};
use crate::output;
use crate::settings::Settings;

/// The separator line of gathered output, as `clush -b` prints it.
const RULE: &str = "----------------";
/// What `-S` reports for a command killed by the command timeout (as `timeout(1)`).
const TIMED_OUT_CODE: u8 = 124;

pub(crate) fn run(settings: &Settings, args: &RunArgs) -> anyhow::Result<u8> {
    let command = args.command.join(" ");
    let gathering = args.gather || args.gather_stderr;
    // Lines are printed as they come, except what -b/-B gathers and --json.
    let stream_lines = !args.fleet.json && !args.gather_stderr;
    let results = execute(
        settings,
        Action::Run(command),
        &args.fleet,
        stream_lines,
        |node, stream, line| {
            let text = String::from_utf8_lossy(line);
            match stream {
                OutputStream::Stdout if !gathering => output::line(format!("{node}: {text}")),
                OutputStream::Stdout => {}
                OutputStream::Stderr => output::err_line(format!("{node}: {text}")),
            }
        },
    )?;
    if args.fleet.json {
        print_json(&results)?;
    } else {
        if gathering {
            print_gathered(&results, args.gather_stderr);
        }
        print_failures(&results);
    }
    Ok(exit_code(&results, args.max_exit_code))
}

pub(crate) fn copy(settings: &Settings, args: &CopyArgs) -> anyhow::Result<u8> {
    if !args.source.is_file() {
        bail!(UsageError(format!("{} is not a readable file", args.source.display())));
    }
    let action = Action::Copy { source: args.source.clone(), dest: args.dest.clone() };
    let results = execute(settings, action, &args.fleet, false, |_, _, _| {})?;
    if args.fleet.json {
        print_json(&results)?;
    } else {
        let copied: Vec<&str> = results
            .iter()
            .filter(|result| result.outcome.is_success())
            .map(|result| result.node.as_str())
            .collect();
        if !copied.is_empty() {
            output::line(format!(
                "{} ({}): copied {} to {}",
                NodeSet::from_names(copied.iter().copied()).fold(),
                copied.len(),
                args.source.display(),
                args.dest
            ));
        }
        print_failures(&results);
    }
    Ok(exit_code(&results, false))
}

/// What the application layer needs to know of this machine to reach nodes over SSH.
pub(crate) fn local_env() -> LocalEnv {
    LocalEnv {
        home: std::env::var_os(env_vars::HOME).map_or_else(|| PathBuf::from("/"), PathBuf::from),
        local_user: std::env::var(env_vars::USER).unwrap_or_else(|_| "root".to_owned()),
        agent: std::env::var_os(env_vars::SSH_AUTH_SOCK)
            .filter(|sock| !sock.is_empty())
            .map(PathBuf::from),
    }
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).ok().filter(|duration| !duration.is_zero()).ok_or_else(
        || UsageError(format!("{flag} {value}: give a positive number of seconds")).into(),
    )
}

fn fanout_options(args: &FleetArgs, stream_lines: bool) -> anyhow::Result<FanoutOptions> {
    if args.fanout == 0 {
        bail!(UsageError("-f 0: the fan-out must be at least 1".to_owned()));
    }
    Ok(FanoutOptions {
        fanout: args.fanout,
        exec: ExecOptions {
            connect_timeout: seconds(args.connect_timeout, "-t")?,
            command_timeout: args.command_timeout.map(|value| seconds(value, "-u")).transpose()?,
            output_limit: args.max_output,
        },
        stream_lines,
        // One command per node: close each connection as soon as its node is done.
        keep_connections: false,
    })
}

/// Resolve the targets, run `action` on them through the application layer, calling
/// `on_line` for streamed lines and drawing progress on a terminal; results come back in
/// node-set order.
fn execute(
    settings: &Settings,
    action: Action,
    args: &FleetArgs,
    stream_lines: bool,
    mut on_line: impl FnMut(&str, OutputStream, &[u8]),
) -> anyhow::Result<Vec<NodeResult>> {
    let options = fanout_options(args, stream_lines)?;
    let inventory = settings.inventory()?;
    let request = FleetRequest {
        nodes: args.nodes.clone(),
        exclude: args.exclude.clone(),
        accept_new: args.accept_new,
        ssh_config: args.ssh_config.clone(),
    };
    let targets =
        wharf_app::fleet::targets(&inventory, &settings.config.ssh, &local_env(), &request)?;
    for target in &targets {
        if let wharf_exec::TargetTransport::Ssh(ssh) = &target.transport {
            for line in ssh.describe() {
                if args.ssh_debug {
                    output::err_line(format!("{}: ssh: {line}", target.name));
                } else {
                    tracing::debug!(node = %target.name, "ssh: {line}");
                }
            }
        }
    }
    let total = targets.len();
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let show_progress = std::io::stderr().is_terminal() && !args.json;
    runtime.block_on(async {
        let ctx = settings.context().await?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel(4096);
        let run = tokio::spawn(async move {
            wharf_app::fleet::execute(&ctx, targets, action, options, Some(sender)).await
        });
        let (mut n_done, mut n_failed) = (0, 0);
        let mut last_draw = Instant::now();
        while let Some(event) = receiver.recv().await {
            match event {
                FleetEvent::Line { node, stream, line } => {
                    if show_progress {
                        output::progress(None);
                    }
                    on_line(&node, stream, &line);
                }
                FleetEvent::Done { outcome, .. } => {
                    n_done += 1;
                    n_failed += usize::from(!outcome.is_success());
                }
            }
            if show_progress && last_draw.elapsed() > Duration::from_millis(100) {
                last_draw = Instant::now();
                output::progress(Some(&format!("wharf: {n_done}/{total} done, {n_failed} failed")));
            }
        }
        if show_progress {
            output::progress(None);
        }
        let report = run.await.context("the run task failed")??;
        Ok(report.results)
    })
}

fn print_gathered(results: &[NodeResult], with_stderr: bool) {
    for group in gather(results, with_stderr) {
        output::line(RULE);
        output::line(format!(
            "{} ({})",
            NodeSet::from_names(group.nodes.iter().copied()).fold(),
            group.nodes.len()
        ));
        output::line(RULE);
        for bytes in [group.stdout, group.stderr] {
            let text = String::from_utf8_lossy(bytes);
            for line in text.lines() {
                output::line(line);
            }
        }
    }
}

/// `wharf: NODES (N): what went wrong`, one line per distinct failure, then truncations.
pub(crate) fn print_failures(results: &[NodeResult]) {
    for (nodes, description) in failures(results) {
        output::err_line(format!(
            "wharf: {} ({}): {description}",
            NodeSet::from_names(nodes.iter().copied()).fold(),
            nodes.len()
        ));
    }
    for result in results.iter().filter(|result| result.truncated_bytes > 0) {
        output::err_line(format!(
            "wharf: {}: output truncated, {} bytes not kept (--max-output)",
            result.node, result.truncated_bytes
        ));
    }
}

pub(crate) fn exit_code(results: &[NodeResult], max_exit_code: bool) -> u8 {
    if results.iter().any(|result| matches!(result.outcome, Outcome::Unreachable(_))) {
        return UNREACHABLE;
    }
    if results.iter().all(|result| result.outcome.is_success()) {
        return SUCCESS;
    }
    if !max_exit_code {
        return FAILURE;
    }
    results
        .iter()
        .map(|result| match &result.outcome {
            Outcome::Exited(code) => u8::try_from(*code).unwrap_or(u8::MAX),
            Outcome::TimedOut(_) => TIMED_OUT_CODE,
            _ => FAILURE,
        })
        .max()
        .unwrap_or(FAILURE)
        .max(FAILURE)
}

/// `--json`: one object per node, one per line, in node-set order.
fn print_json(results: &[NodeResult]) -> anyhow::Result<()> {
    for result in results {
        output::json_line(&NodeResultView::from(result))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wharf_exec::{Unreachable, UnreachableReason};

    use super::*;

    fn result(node: &str, outcome: Outcome) -> NodeResult {
        NodeResult {
            node: node.to_owned(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            truncated_bytes: 0,
            started: Duration::ZERO,
            finished: Duration::ZERO,
            outcome,
        }
    }

    #[test]
    fn exit_codes_follow_clush() {
        let ok = || result("a", Outcome::Exited(0));
        let failed = |code| result("b", Outcome::Exited(code));
        let timed_out = || result("c", Outcome::TimedOut(Duration::from_secs(1)));
        let unreachable = || {
            result(
                "d",
                Outcome::Unreachable(Unreachable {
                    reason: UnreachableReason::Refused,
                    message: "refused".into(),
                }),
            )
        };
        let check = |results: Vec<NodeResult>, max: bool, expected: u8| {
            assert_eq!(exit_code(&results, max), expected, "{results:?} -S={max}");
        };
        check(vec![ok(), ok()], false, SUCCESS);
        check(vec![ok(), failed(7)], false, FAILURE);
        check(vec![ok(), failed(7)], true, 7);
        check(vec![failed(7), timed_out()], true, TIMED_OUT_CODE);
        check(vec![ok(), failed(300)], true, u8::MAX);
        check(vec![failed(2), unreachable()], true, UNREACHABLE);
        check(vec![ok(), result("e", Outcome::Failed("broken".into()))], true, FAILURE);
    }
}
