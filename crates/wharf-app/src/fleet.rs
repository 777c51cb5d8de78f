//! The fleet flow: a node set → one [`Target`] per node → the fan-out engine, with
//! [`FleetEvent`]s for a front end to print (the CLI) or stream (the server), and one
//! audit entry per run naming who ran what where and how each node fared.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;
use wharf_core::config::{Config, ConfigSource, Transport};
use wharf_core::config::{KnownHostsPolicy, SshConfig};
use wharf_core::inventory::{Inventory, Node};
use wharf_core::nodeset::NodeSet;
use wharf_exec::ssh_config::SshConfigFile;
use wharf_exec::{
    Action, Event, FanoutOptions, HostKeyPolicy, HostOverrides, LocalEnv, LocalTarget, NodeResult,
    Outcome, OutputStream, Pool, SshResolver, Target, TargetTransport,
};
use wharf_store::AuditEntry;

use crate::context::Context;
use crate::error::{AppError, Result};

/// Where and how to reach an environment's nodes: what a hold, a deploy or a status check
/// needs to run commands on them.
#[derive(Debug, Clone, Copy)]
pub struct Fleet<'a> {
    pub config: &'a Config,
    pub source: &'a ConfigSource,
    pub inventory: &'a Inventory,
    pub env: &'a LocalEnv,
    pub options: &'a FanoutOptions,
}

/// Which nodes, and how to reach them.
#[derive(Debug, Clone, Default)]
pub struct FleetRequest {
    /// Node-set expressions (joined with `,`): inventory names, `@group`, `@label:value`,
    /// or host names from ssh_config.
    pub nodes: Vec<String>,
    /// Node sets to leave out.
    pub exclude: Vec<String>,
    /// Record unknown host keys (changed keys are still refused).
    pub accept_new: bool,
    /// An ssh_config to read instead of `~/.ssh/config`.
    pub ssh_config: Option<PathBuf>,
}

/// What a run reports as it goes.
#[derive(Debug, Clone)]
pub enum FleetEvent {
    /// One line of a node's output (without its newline).
    Line { node: Arc<str>, stream: OutputStream, line: Vec<u8> },
    /// A node is done.
    Done { node: String, outcome: Outcome },
}

/// A finished run: every node's result in node-set order, and the audit entry.
#[derive(Debug)]
pub struct FleetReport {
    pub results: Vec<NodeResult>,
    pub audit: AuditEntry,
}

/// The inventory nodes `expr` names (all nodes without one). A name outside the
/// inventory is refused, naming the configuration file to add it to.
pub fn select_nodes<'a>(
    inventory: &'a Inventory,
    expr: Option<&str>,
    config_path: &std::path::Path,
) -> Result<Vec<&'a Node>> {
    let Some(expr) = expr else {
        return Ok(inventory.all().iter().filter_map(|name| inventory.node(name)).collect());
    };
    let set = inventory.resolve(expr)?;
    if set.is_empty() {
        return Err(AppError::invalid(format!("node set {expr:?} matches no node")));
    }
    set.iter()
        .map(|name| {
            inventory.node(name).ok_or_else(|| {
                AppError::not_found(format!(
                    "{name} is not in the inventory ({}); add it to a [[nodes]] entry",
                    config_path.display()
                ))
            })
        })
        .collect()
}

/// Expand the request's node set (minus its exclusions) and say how to reach each node:
/// local nodes run here, inventory nodes over SSH with their overrides, other names as
/// ssh_config hosts.
pub fn targets(
    inventory: &Inventory,
    ssh: &SshConfig,
    env: &LocalEnv,
    request: &FleetRequest,
) -> Result<Vec<Target>> {
    let expr = request.nodes.join(",");
    let mut set = inventory.resolve(&expr)?;
    if !request.exclude.is_empty() {
        set.difference(&inventory.resolve(&request.exclude.join(","))?);
    }
    if set.is_empty() {
        return Err(AppError::invalid(format!(
            "node set {expr:?}{} expands to no node; check the names with `wharf nodeset -e`",
            if request.exclude.is_empty() {
                String::new()
            } else {
                format!(" minus {:?}", request.exclude.join(","))
            }
        )));
    }
    let resolver = resolver(ssh, env, request)?;
    set.iter().map(|name| target(inventory, &resolver, name)).collect()
}

fn target(inventory: &Inventory, resolver: &SshResolver, name: &str) -> Result<Target> {
    let resolve = |overrides: &HostOverrides| {
        resolver.resolve(name, overrides).map_err(|err| AppError::invalid(err.to_string()))
    };
    let transport = match inventory.node(name) {
        Some(node) if node.transport == Transport::Local => {
            TargetTransport::Local(LocalTarget { root: node.root.as_ref().map(PathBuf::from) })
        }
        Some(node) => TargetTransport::Ssh(resolve(&HostOverrides {
            // `host` defaults to the name: then ssh_config's HostName still applies.
            host: (node.host != node.name).then(|| node.host.clone()),
            port: node.port,
            user: node.user.clone(),
        })?),
        None => {
            check_host_name(name)?;
            TargetTransport::Ssh(resolve(&HostOverrides::default())?)
        }
    };
    Ok(Target { name: name.to_owned(), transport })
}

/// A name outside the inventory is a host name: keep it to host-name characters.
fn check_host_name(name: &str) -> Result<()> {
    let valid = !name.starts_with(['-', '.'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(AppError::invalid(format!(
            "{name:?} is neither an inventory node nor a valid host name"
        )))
    }
}

fn resolver(ssh: &SshConfig, env: &LocalEnv, request: &FleetRequest) -> Result<SshResolver> {
    let config_path =
        request.ssh_config.clone().unwrap_or_else(|| env.home.join(".ssh").join("config"));
    if request.ssh_config.is_some() && !config_path.is_file() {
        return Err(AppError::invalid(format!(
            "ssh config {} does not exist",
            config_path.display()
        )));
    }
    // As `ssh`: an explicit file alone (`-F`), else the user's file then the system one.
    let config = match &request.ssh_config {
        Some(_) => SshConfigFile::load(&config_path, &env.home),
        None => SshConfigFile::load_with_system(
            &config_path,
            std::path::Path::new(wharf_exec::ssh_config::SYSTEM_CONFIG),
            &env.home,
        ),
    }
    .map_err(|err| {
        AppError::invalid(format!(
            "ssh config {err}; fix that line (`ssh -G HOST` shows how OpenSSH reads the file)"
        ))
    })?;
    Ok(SshResolver {
        config,
        env: env.clone(),
        default_user: ssh.user.clone(),
        default_policy: match ssh.known_hosts {
            KnownHostsPolicy::Strict => HostKeyPolicy::Strict,
            KnownHostsPolicy::AcceptNew => HostKeyPolicy::AcceptNew,
        },
        forced_policy: request.accept_new.then_some(HostKeyPolicy::AcceptNew),
    })
}

/// Run `action` on every target, at most `options.fanout` at once; `events` (when given)
/// receives every line and every node's end as they happen. Appends one `fleet.run` or
/// `fleet.copy` audit entry. Unreachable and failed nodes are results, not errors.
pub async fn execute(
    ctx: &Context,
    targets: Vec<Target>,
    action: Action,
    options: FanoutOptions,
    events: Option<mpsc::Sender<FleetEvent>>,
) -> Result<FleetReport> {
    let (audit_action, what) = match &action {
        Action::Run(command) => ("fleet.run", command.clone()),
        Action::RunEach(commands) => ("fleet.run", format!("{} per-node commands", commands.len())),
        Action::Copy { source, dest } => ("fleet.copy", format!("{} -> {dest}", source.display())),
    };
    let pool = Pool::new();
    let results = fan_out(&pool, targets, action, &options, events.as_ref()).await;
    pool.close().await;
    let audit = ctx.store().append_audit(run_entry(ctx, audit_action, &what, &results)).await?;
    Ok(FleetReport { results, audit })
}

/// Run `action` on every target over `pool` — a deploy keeps one pool for all its stages,
/// so each node's connection is opened once — and return the results in target order.
/// No audit entry: the caller audits what the run was for.
pub async fn fan_out(
    pool: &Pool,
    targets: Vec<Target>,
    action: Action,
    options: &FanoutOptions,
    events: Option<&mpsc::Sender<FleetEvent>>,
) -> Vec<NodeResult> {
    let order: HashMap<String, usize> =
        targets.iter().enumerate().map(|(idx, target)| (target.name.clone(), idx)).collect();
    let n_targets = targets.len();
    let (sender, mut receiver) = mpsc::channel(4096);
    let run = tokio::spawn({
        let (pool, options) = (pool.clone(), options.clone());
        async move { wharf_exec::fan_out(&pool, targets, action, &options, sender).await }
    });
    let mut results = Vec::with_capacity(n_targets);
    while let Some(event) = receiver.recv().await {
        let forward = match event {
            Event::Line { node, stream, line } => FleetEvent::Line { node, stream, line },
            Event::Finished(result) => {
                let done =
                    FleetEvent::Done { node: result.node.clone(), outcome: result.outcome.clone() };
                results.push(result);
                done
            }
        };
        if let Some(events) = events {
            // A front end that stopped listening does not stop the run.
            let _ = events.send(forward).await;
        }
    }
    if let Err(err) = run.await {
        tracing::error!("the fan-out task failed: {err}");
    }
    results.sort_by_key(|result| order.get(&result.node).copied().unwrap_or(usize::MAX));
    results
}

/// One audit entry per run or copy: which nodes, what was done, and how each group of
/// nodes fared — so the log answers "who ran what where" without the terminal scrollback.
fn run_entry(
    ctx: &Context,
    action: &str,
    what: &str,
    results: &[NodeResult],
) -> wharf_store::NewAuditEntry {
    let fold = |keep: &dyn Fn(&NodeResult) -> bool| {
        NodeSet::from_names(results.iter().filter(|r| keep(r)).map(|r| r.node.clone())).fold()
    };
    let unreachable = |r: &NodeResult| matches!(r.outcome, Outcome::Unreachable(_));
    ctx.entry(
        action,
        &fold(&|_| true),
        json!({
            "command": what,
            "nodes": results.len(),
            "succeeded": fold(&|r| r.outcome.is_success()),
            "failed": fold(&|r| !r.outcome.is_success() && !unreachable(r)),
            "unreachable": fold(&unreachable),
        }),
    )
}
