//! `wharf run` and `wharf copy`: one action on a node set through `wharf-exec`, printed as
//! it streams (`node: line`) or gathered like `clush -b`, then one line per distinct failure.
//!
//! Exit codes: 0 all nodes succeeded; 3 any node unreachable; otherwise 1 when any node
//! failed (with `-S`: the largest remote exit code; a timed-out command counts as 124).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::json;
use wharf_core::config::{KnownHostsPolicy, Transport};
use wharf_core::inventory::Inventory;
use wharf_core::nodeset::NodeSet;
use wharf_exec::gather::{failures, gather};
use wharf_exec::ssh_config::SshConfigFile;
use wharf_exec::{
    Action, Event, ExecOptions, FanoutOptions, HostKeyPolicy, HostOverrides, LocalEnv, LocalTarget,
    NodeResult, Outcome, OutputStream, Pool, SshResolver, Target, TargetTransport,
};
use wharf_store::NewAuditEntry;

use crate::cli::{CopyArgs, FleetArgs, RunArgs};
use crate::env_vars;
use crate::exit::{FAILURE, SUCCESS, UNREACHABLE, UsageError};
use crate::output;
use crate::settings::{Settings, actor};

/// The separator line of gathered output, as `clush -b` prints it.
const RULE: &str = "----------------";
/// What `-S` reports for a command killed by the command timeout (as `timeout(1)`).
const TIMED_OUT_CODE: u8 = 124;

pub(crate) fn run(settings: &Settings, args: &RunArgs) -> anyhow::Result<u8> {
    let targets = targets(settings, &args.fleet)?;
    let command = args.command.join(" ");
    let gathering = args.gather || args.gather_stderr;
    // Lines are printed as they come, except what -b/-B gathers and --json.
    let stream_lines = !args.fleet.json && !args.gather_stderr;
    let results = execute(
        targets,
        Action::Run(command.clone()),
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
    record(settings, "fleet.run", &command, &results)?;
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
    let targets = targets(settings, &args.fleet)?;
    let action = Action::Copy { source: args.source.clone(), dest: args.dest.clone() };
    let results = execute(targets, action, &args.fleet, false, |_, _, _| {})?;
    let what = format!("{} -> {}", args.source.display(), args.dest);
    record(settings, "fleet.copy", &what, &results)?;
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

/// One audit entry per run or copy: which nodes, what was done, and how each group of
/// nodes fared — so the log answers "who ran what where" without the terminal scrollback.
fn record(
    settings: &Settings,
    action: &str,
    what: &str,
    results: &[NodeResult],
) -> anyhow::Result<()> {
    let fold = |keep: &dyn Fn(&NodeResult) -> bool| {
        NodeSet::from_names(results.iter().filter(|r| keep(r)).map(|r| r.node.clone())).fold()
    };
    let entry = NewAuditEntry {
        actor: actor(),
        action: action.to_owned(),
        target: fold(&|_| true),
        reason: None,
        details: json!({
            "command": what,
            "nodes": results.len(),
            "succeeded": fold(&|r| r.outcome.is_success()),
            "failed": fold(&|r| !r.outcome.is_success() && !matches!(r.outcome, Outcome::Unreachable(_))),
            "unreachable": fold(&|r| matches!(r.outcome, Outcome::Unreachable(_))),
        }),
    };
    super::runtime()?.block_on(async {
        settings.open_store().await?.append_audit(entry).await?;
        Ok(())
    })
}

/// Expand `-w` minus `-x` and say how to reach every node.
fn targets(settings: &Settings, args: &FleetArgs) -> anyhow::Result<Vec<Target>> {
    let inventory = settings.inventory()?;
    let expr = args.nodes.join(",");
    let mut set = inventory.resolve(&expr)?;
    if !args.exclude.is_empty() {
        set.difference(&inventory.resolve(&args.exclude.join(","))?);
    }
    if set.is_empty() {
        bail!(UsageError(format!(
            "node set {expr:?}{} expands to no node; check the names with `wharf nodeset -e`",
            if args.exclude.is_empty() {
                String::new()
            } else {
                format!(" minus {:?}", args.exclude.join(","))
            }
        )));
    }
    let resolver = resolver(settings, args)?;
    set.iter().map(|name| target(&inventory, &resolver, name)).collect()
}

fn target(inventory: &Inventory, resolver: &SshResolver, name: &str) -> anyhow::Result<Target> {
    let transport = match inventory.node(name) {
        Some(node) if node.transport == Transport::Local => {
            TargetTransport::Local(LocalTarget { root: node.root.as_ref().map(PathBuf::from) })
        }
        Some(node) => {
            let overrides = HostOverrides {
                // `host` defaults to the name: then ssh_config's HostName still applies.
                host: (node.host != node.name).then(|| node.host.clone()),
                port: node.port,
                user: node.user.clone(),
            };
            TargetTransport::Ssh(
                resolver.resolve(name, &overrides).map_err(|err| UsageError(err.to_string()))?,
            )
        }
        None => {
            check_host_name(name)?;
            TargetTransport::Ssh(
                resolver
                    .resolve(name, &HostOverrides::default())
                    .map_err(|err| UsageError(err.to_string()))?,
            )
        }
    };
    Ok(Target { name: name.to_owned(), transport })
}

/// A name outside the inventory is a host name: keep it to host-name characters.
fn check_host_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.starts_with(['-', '.'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        bail!(UsageError(format!("{name:?} is neither an inventory node nor a valid host name")));
    }
    Ok(())
}

fn resolver(settings: &Settings, args: &FleetArgs) -> anyhow::Result<SshResolver> {
    let home = std::env::var_os(env_vars::HOME).map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let config_path = args.ssh_config.clone().unwrap_or_else(|| home.join(".ssh/config"));
    if args.ssh_config.is_some() && !config_path.is_file() {
        bail!(UsageError(format!("ssh config {} does not exist", config_path.display())));
    }
    let config = SshConfigFile::load(&config_path).map_err(|err| UsageError(err.to_string()))?;
    let env = LocalEnv {
        home,
        local_user: std::env::var(env_vars::USER).unwrap_or_else(|_| "root".to_owned()),
        agent: std::env::var_os(env_vars::SSH_AUTH_SOCK)
            .filter(|sock| !sock.is_empty())
            .map(PathBuf::from),
    };
    let ssh = &settings.config.ssh;
    Ok(SshResolver {
        config,
        env,
        default_user: ssh.user.clone(),
        default_policy: match ssh.known_hosts {
            KnownHostsPolicy::Strict => HostKeyPolicy::Strict,
            KnownHostsPolicy::AcceptNew => HostKeyPolicy::AcceptNew,
        },
        forced_policy: args.accept_new.then_some(HostKeyPolicy::AcceptNew),
    })
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).ok().filter(|duration| !duration.is_zero()).ok_or_else(
        || UsageError(format!("{flag} {value}: give a positive number of seconds")).into(),
    )
}

/// Run `action` on all targets, calling `on_line` for streamed lines and drawing progress
/// on a terminal; results come back in node-set order.
fn execute(
    targets: Vec<Target>,
    action: Action,
    args: &FleetArgs,
    stream_lines: bool,
    mut on_line: impl FnMut(&str, OutputStream, &[u8]),
) -> anyhow::Result<Vec<NodeResult>> {
    if args.fanout == 0 {
        bail!(UsageError("-f 0: the fan-out must be at least 1".to_owned()));
    }
    let options = FanoutOptions {
        fanout: args.fanout,
        exec: ExecOptions {
            connect_timeout: seconds(args.connect_timeout, "-t")?,
            command_timeout: args.command_timeout.map(|value| seconds(value, "-u")).transpose()?,
            output_limit: args.max_output,
        },
        stream_lines,
        // One command per node: close each connection as soon as its node is done.
        keep_connections: false,
    };
    let order: std::collections::HashMap<String, usize> =
        targets.iter().enumerate().map(|(idx, target)| (target.name.clone(), idx)).collect();
    let total = targets.len();
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let show_progress = std::io::stderr().is_terminal() && !args.json;
    let mut results = runtime.block_on(async {
        let pool = Pool::new();
        let (sender, mut receiver) = tokio::sync::mpsc::channel(4096);
        let run = tokio::spawn({
            let pool = pool.clone();
            async move { wharf_exec::fan_out(&pool, targets, action, &options, sender).await }
        });
        let mut results = Vec::with_capacity(total);
        let mut failed = 0;
        let mut last_draw = Instant::now();
        while let Some(event) = receiver.recv().await {
            match event {
                Event::Line { node, stream, line } => {
                    if show_progress {
                        output::progress(None);
                    }
                    on_line(&node, stream, &line);
                }
                Event::Finished(result) => {
                    failed += usize::from(!result.outcome.is_success());
                    results.push(result);
                }
            }
            if show_progress && last_draw.elapsed() > Duration::from_millis(100) {
                last_draw = Instant::now();
                output::progress(Some(&format!(
                    "wharf: {}/{total} done, {failed} failed",
                    results.len()
                )));
            }
        }
        if show_progress {
            output::progress(None);
        }
        let _ = run.await;
        pool.close().await;
        results
    });
    results.sort_by_key(|result| order.get(&result.node).copied().unwrap_or(usize::MAX));
    Ok(results)
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
fn print_failures(results: &[NodeResult]) {
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

fn exit_code(results: &[NodeResult], max_exit_code: bool) -> u8 {
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
#[derive(Serialize)]
struct NodeResultView<'a> {
    node: &'a str,
    /// `ok`, `failed`, `timeout` or `unreachable`.
    status: &'static str,
    exit_code: Option<u32>,
    stdout: String,
    stderr: String,
    truncated_bytes: u64,
    started_ms: u128,
    finished_ms: u128,
    duration_ms: u128,
    error: Option<ErrorView<'a>>,
}

#[derive(Serialize)]
struct ErrorView<'a> {
    /// `dns`, `refused`, `timeout`, `auth`, `host-key`, `other`, `command-timeout`,
    /// `signal` or `failed`.
    kind: &'a str,
    message: String,
}

fn print_json(results: &[NodeResult]) -> anyhow::Result<()> {
    for result in results {
        let (status, error) = match &result.outcome {
            Outcome::Exited(0) => ("ok", None),
            Outcome::Exited(_) => ("failed", None),
            Outcome::TimedOut(_) => (
                "timeout",
                Some(ErrorView { kind: "command-timeout", message: result.outcome.describe() }),
            ),
            Outcome::Signalled(_) => {
                ("failed", Some(ErrorView { kind: "signal", message: result.outcome.describe() }))
            }
            Outcome::Failed(message) => {
                ("failed", Some(ErrorView { kind: "failed", message: message.clone() }))
            }
            Outcome::Unreachable(unreachable) => (
                "unreachable",
                Some(ErrorView {
                    kind: match unreachable.reason {
                        wharf_exec::UnreachableReason::HostKey => "host-key",
                        wharf_exec::UnreachableReason::Other => "other",
                        reason => reason.as_str(),
                    },
                    message: unreachable.message.clone(),
                }),
            ),
        };
        output::json_line(&NodeResultView {
            node: &result.node,
            status,
            exit_code: result.outcome.exit_code(),
            stdout: String::from_utf8_lossy(&result.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&result.stderr).into_owned(),
            truncated_bytes: result.truncated_bytes,
            started_ms: result.started.as_millis(),
            finished_ms: result.finished.as_millis(),
            duration_ms: result.finished.saturating_sub(result.started).as_millis(),
            error,
        })?;
    }
    Ok(())
}
