//! The inventory, health, schedules, the audit log, tokens and the configuration through
//! a server's API: `nodes`, `nodeset` (expanded with the server's groups), `health`,
//! `schedules`, `audit` (and `--verify`), `log`, `token` and `config check` (the
//! configuration the server runs, not a local file), rendered by the local commands' own
//! functions.

use serde_json::json;
use wharf_app::wire::{ConfigSummary, HealthReport, NodesetView, ScheduleView, SigningKeyView};
use wharf_core::inventory::Node;
use wharf_store::{AuditEntry, AuditVerification};

use super::{Remote, enc};
use crate::cli::{AuditArgs, JsonArgs, LogArgs, NodesArgs, NodesetArgs, TokenCommand};
use crate::cmd::{audit, config, guard, nodes, nodeset, publish, token};
use crate::exit::SUCCESS;
use crate::output;

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

/// `key export`: the server's public signing key, printed as the local command prints it.
pub(super) async fn key_export(remote: &Remote) -> anyhow::Result<u8> {
    let key: SigningKeyView = remote.get("/key").await?;
    output::raw(&key.armored);
    Ok(SUCCESS)
}

pub(super) async fn schedules(remote: &Remote, args: &JsonArgs) -> anyhow::Result<u8> {
    let views: Vec<ScheduleView> = remote.get("/schedules").await?;
    guard::render_schedules(args.json, &views)
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

pub(super) async fn audit(remote: &Remote, args: &AuditArgs) -> anyhow::Result<u8> {
    if args.verify {
        let report: AuditVerification = remote.get("/audit/verify").await?;
        return audit::render_verify(args.output.json, &report);
    }
    let mut query = vec![format!("limit={}", args.limit)];
    let filters = [
        ("action", &args.action),
        ("target", &args.target),
        ("actor", &args.actor),
        ("since", &args.since),
        ("until", &args.until),
    ];
    for (name, value) in filters {
        if let Some(value) = value {
            query.push(format!("{name}={}", enc(value)));
        }
    }
    let entries: Vec<AuditEntry> = remote.get(&format!("/audit?{}", query.join("&"))).await?;
    if args.output.json {
        output::json(&entries)?;
    } else {
        audit::print_entries(&entries);
    }
    Ok(SUCCESS)
}

pub(super) async fn token(remote: &Remote, command: &TokenCommand) -> anyhow::Result<u8> {
    match command {
        TokenCommand::List(args) => {
            let tokens: Vec<wharf_app::wire::TokenView> = remote.get("/tokens").await?;
            token::render_list(args.json, &tokens)
        }
        TokenCommand::Create(args) => {
            let body = json!({ "name": args.name, "role": format!("{:?}", args.role).to_lowercase(),
                "automated": args.automated, "expires": args.expires });
            token::render_created(args.output.json, &remote.post_as("/tokens", &body).await?)
        }
        TokenCommand::Revoke(args) => {
            let path = format!("/tokens/{}", enc(&args.name));
            token::render_revoked(args.output.json, &remote.delete(&path).await?)
        }
    }
}
