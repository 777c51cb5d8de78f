//! The inventory, health, schedules, the audit log's verification and notes, and the
//! configuration, through a server's API: `nodes`, `nodeset` (expanded with the server's
//! groups), `health`, `schedules`, `audit --verify`, `log` and `config check` (the
//! configuration the server runs, not a local file), rendered by the local commands' own
//! functions.

use serde_json::json;
use wharf_app::wire::{ConfigSummary, HealthReport, NodesetView, ScheduleView};
use wharf_core::inventory::Node;
use wharf_store::{AuditEntry, AuditVerification};

use super::{Remote, enc};
use crate::cli::{AuditArgs, JsonArgs, LogArgs, NodesArgs, NodesetArgs};
use crate::cmd::{audit, config, guard, nodes, nodeset, publish};

pub(super) async fn list_nodes(remote: &Remote, args: &NodesArgs) -> anyhow::Result<u8> {
    let path = match &args.nodeset {
        Some(expr) => format!("/nodes?nodeset={}", enc(expr)),
        None => "/nodes".to_owned(),
    };
    let found: Vec<Node> = remote.get(&path).await?;
    nodes::render(args.output.json, &found, "the server's configuration")
}

pub(super) async fn expand(remote: &Remote, args: &NodesetArgs) -> anyhow::Result<u8> {
    let expr = nodeset::expression(args)?;
    let view: NodesetView = remote.get(&format!("/nodeset?expr={}", enc(&expr))).await?;
    nodeset::render(args, &view)
}

pub(super) async fn health(remote: &Remote, args: &crate::cli::HealthArgs) -> anyhow::Result<u8> {
    let path = match args.min_free_percent {
        Some(percent) => format!("/health?min_free_percent={percent}"),
        None => "/health".to_owned(),
    };
    let report: HealthReport = remote.get(&path).await?;
    publish::render_health(args.output.json, &report)
}

pub(super) async fn schedules(remote: &Remote, args: &JsonArgs) -> anyhow::Result<u8> {
    let views: Vec<ScheduleView> = remote.get("/schedules").await?;
    guard::render_schedules(args.json, &views)
}

pub(super) async fn verify(remote: &Remote, args: &AuditArgs) -> anyhow::Result<u8> {
    let report: AuditVerification = remote.get("/audit/verify").await?;
    audit::render_verify(args.output.json, &report)
}

pub(super) async fn note(remote: &Remote, args: &LogArgs) -> anyhow::Result<u8> {
    let body = json!({ "target": args.target, "message": args.message.join(" ") });
    let entry: AuditEntry = remote.post_as("/audit", &body).await?;
    audit::render_note(args.output.json, &entry)
}

pub(super) async fn config_check(remote: &Remote, args: &JsonArgs) -> anyhow::Result<u8> {
    let summary: ConfigSummary = remote.get("/config").await?;
    config::render(args.json, &summary)
}
