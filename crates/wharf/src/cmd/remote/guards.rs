//! Guard rails through a server: `windows`, `locks`, `lock`, `unlock`, `holds`, `hold`,
//! `unhold` and `maintenance`, printed and exiting as the local commands do (3 when a node
//! was unreachable, 1 when one failed, 4 for a refused lock).

use serde_json::json;

use super::{Remote, enc, error};
use crate::cli::{
    HoldArgs, HoldsArgs, JsonArgs, LockArgs, MaintenanceCommand, UnholdArgs, UnlockArgs,
    WindowsArgs,
};
use crate::cmd::guard;
use crate::exit::{REFUSED, SUCCESS};
use crate::output;

pub(super) async fn windows(remote: &Remote, args: &WindowsArgs) -> anyhow::Result<u8> {
    let mut query = Vec::new();
    if let Some(env) = &args.environment {
        query.push(format!("environment={}", enc(env)));
    }
    if let Some(at) = &args.at {
        query.push(format!("at={}", enc(at)));
    }
    let views: Vec<wharf_app::wire::WindowView> =
        remote.get(&format!("/windows?{}", query.join("&"))).await?;
    guard::render_windows(args.output.json, &views)
}

pub(super) async fn locks(remote: &Remote, args: &JsonArgs) -> anyhow::Result<u8> {
    let locks: Vec<wharf_app::wire::EnvLock> = remote.get("/locks").await?;
    guard::render_locks(args.json, &locks)
}

pub(super) async fn lock(remote: &Remote, args: &LockArgs) -> anyhow::Result<u8> {
    let body = json!({ "environment": args.environment, "all": args.all,
        "reason": args.reason, "steal": args.steal, "until": args.until });
    match remote.post("/locks", &body).await? {
        Ok(report) => guard::render_lock(args.output.json, &serde_json::from_value(report)?),
        Err(refusal) if refusal.code == "refused" => {
            output::err_line(format!("wharf: refused: {}", refusal.message));
            Ok(REFUSED)
        }
        Err(refusal) => Err(error(&refusal)),
    }
}

pub(super) async fn unlock(remote: &Remote, args: &UnlockArgs) -> anyhow::Result<u8> {
    let env = if args.all { "*".to_owned() } else { args.environment.clone().unwrap_or_default() };
    let path = format!("/locks/{}", enc(&env));
    guard::render_unlock(args.output.json, &remote.delete(&path).await?)
}

pub(super) async fn holds(remote: &Remote, args: &HoldsArgs) -> anyhow::Result<u8> {
    if args.check {
        let check: wharf_app::wire::HoldsCheck = remote.get("/holds?check=true").await?;
        guard::render_holds(args.output.json, &check.holds, Some(&check))
    } else {
        let holds: Vec<wharf_app::wire::PackageHold> = remote.get("/holds").await?;
        guard::render_holds(args.output.json, &holds, None)
    }
}

pub(super) async fn hold(remote: &Remote, args: &HoldArgs) -> anyhow::Result<u8> {
    let body = json!({ "package": args.package, "environment": args.environment,
        "reason": args.reason });
    held(args.output.json, &remote.post_as("/holds", &body).await?, "held")
}

pub(super) async fn unhold(remote: &Remote, args: &UnholdArgs) -> anyhow::Result<u8> {
    let path = format!("/holds/{}/{}", enc(&args.environment), enc(&args.package));
    held(args.output.json, &remote.delete(&path).await?, "unheld")
}

pub(super) async fn maintenance(
    remote: &Remote,
    command: &MaintenanceCommand,
) -> anyhow::Result<u8> {
    match command {
        MaintenanceCommand::List(args) => {
            let nodes: Vec<wharf_app::wire::Maintenance> = remote.get("/maintenance").await?;
            guard::render_maintenance(args.json, &nodes)
        }
        MaintenanceCommand::Start(args) => {
            let body = json!({ "nodes": args.nodeset, "reason": args.reason });
            let report = remote.post_as("/maintenance", &body).await?;
            maintained(args.output.json, &report, "in maintenance")
        }
        MaintenanceCommand::Stop(args) => {
            let path = format!("/maintenance/{}", enc(&args.nodeset));
            maintained(args.output.json, &remote.delete(&path).await?, "out of maintenance")
        }
    }
}

fn held(json: bool, report: &wharf_app::wire::HoldReport, done: &str) -> anyhow::Result<u8> {
    crate::cmd::repo::render(json, report, || {
        output::line(format!("{done} {} on {}", report.package, report.environment));
        if !report.succeeded.is_empty() {
            output::line(format!("  nodes: {}", report.succeeded));
        }
    })?;
    Ok(node_failures(&report.failed))
}

fn maintained(
    json: bool,
    report: &wharf_app::wire::MaintenanceReport,
    done: &str,
) -> anyhow::Result<u8> {
    crate::cmd::repo::render(json, report, || {
        output::line(format!("{} ({}): {done}", report.nodes, report.count))
    })?;
    Ok(node_failures(&report.failed))
}

/// The nodes a remote hold or maintenance command failed on, as the local commands print
/// them; the exit code as theirs: 3 when one was unreachable, 1 when one failed.
fn node_failures(failed: &[wharf_app::wire::NodeResultView]) -> u8 {
    for node in failed {
        let why = node.error.as_ref().map_or_else(
            || format!("exited with exit code {}", node.exit_code.unwrap_or_default()),
            |e| e.message.clone(),
        );
        output::err_line(format!("wharf: {} ({}): {why}", node.node, node.status));
    }
    if failed.iter().any(|n| n.status == "unreachable") {
        crate::exit::UNREACHABLE
    } else if failed.is_empty() {
        SUCCESS
    } else {
        crate::exit::FAILURE
    }
}
