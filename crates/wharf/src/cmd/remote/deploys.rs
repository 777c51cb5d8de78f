//! The deploy commands through a server: `deploy` (and `--dry-run`), `rollback`, `resume`,
//! `approve`, `cancel`, `history`, `status` and `show`. A deploy the server runs in the
//! background is followed through its events until it ends.

use serde_json::{Value, json};
use wharf_app::deploy::DeployReport;
use wharf_app::wire::{DeployResult, DeployView, DryRunReport};

use super::{Refusal, Remote, enc, error};
use crate::cli::{ApproveArgs, CancelArgs, DeployArgs, DeploysCommand, ResumeArgs, RollbackArgs};
use crate::cmd::status;
use crate::exit::{REFUSED, SUCCESS, UsageError};
use crate::output;

pub(super) async fn deploy(remote: &Remote, args: DeployArgs) -> anyhow::Result<u8> {
    if args.at.is_some() {
        anyhow::bail!(UsageError(
            "--at asks the guards at another moment on this machine's data; with --server the \
             server's clock applies"
                .into()
        ));
    }
    let (packages, version) = words(&args.words);
    let body = json!({
        "environment": packages.1, "version": version, "packages": packages.0,
        "pipeline": args.pipeline, "ignore_production_checks": args.ignore_production_checks,
        "allow_precheck_failure": args.allow_precheck_failure, "downgrade": args.downgrade,
        "hold": args.hold, "issue": args.issue, "dry_run": args.dry_run, "automated": args.automated,
    });
    let answer = remote.post("/deploys", &body).await?;
    if args.dry_run {
        return dry_run(answer, args.output.json);
    }
    outcome(remote, answer, args.output.json).await
}

pub(super) async fn rollback(remote: &Remote, args: RollbackArgs) -> anyhow::Result<u8> {
    let body = json!({ "to": args.to, "reviewed_by": args.reviewed_by, "force": args.force,
        "issue": args.issue, "automated": args.automated });
    let path = format!("/environments/{}/rollback", enc(&args.environment));
    outcome(remote, remote.post(&path, &body).await?, args.output.json).await
}

pub(super) async fn resume(remote: &Remote, args: ResumeArgs) -> anyhow::Result<u8> {
    let answer = remote.post(&format!("/deploys/{}/resume", args.id), &json!({})).await?;
    outcome(remote, answer, args.output.json).await
}

pub(super) async fn approve(remote: &Remote, args: ApproveArgs) -> anyhow::Result<u8> {
    let path = format!("/deploys/{}/approve", args.id);
    let answer = remote.post(&path, &json!({ "stage": args.stage })).await?;
    outcome(remote, answer, args.output.json).await
}

pub(super) async fn cancel(remote: &Remote, args: CancelArgs) -> anyhow::Result<u8> {
    let path = format!("/deploys/{}/cancel", args.id);
    match remote.post(&path, &json!({ "reason": args.reason })).await? {
        Ok(body) => {
            let result: DeployResult = serde_json::from_value(body)?;
            crate::cmd::deploy::finish(args.output.json, report(result.deploy, result.refusals))?;
            Ok(SUCCESS)
        }
        Err(refusal) => Err(error(&refusal)),
    }
}

/// `history`, `status` and `show`.
pub(super) async fn read(remote: &Remote, command: DeploysCommand) -> anyhow::Result<u8> {
    match command {
        DeploysCommand::History(args) => {
            let mut path = format!("/deploys?limit={}", args.limit);
            if let Some(env) = &args.environment {
                path.push_str(&format!("&environment={}", enc(env)));
            }
            if let Some(state) = &args.state {
                path.push_str(&format!("&state={}", enc(state)));
            }
            let deploys: Vec<DeployView> = remote.get(&path).await?;
            status::render_history(args.output.json, &deploys)
        }
        DeploysCommand::Status(args) => {
            let mut query = vec![format!("check={}", args.check)];
            if let Some(env) = &args.environment {
                query.push(format!("environment={}", enc(env)));
            }
            if let Some(at) = &args.at {
                query.push(format!("at={}", enc(at)));
            }
            let report: Vec<wharf_app::wire::EnvironmentStatus> =
                remote.get(&format!("/status?{}", query.join("&"))).await?;
            status::render_status(args.output.json, &report)
        }
        DeploysCommand::Show(args) => {
            let detail: wharf_app::wire::DeployDetail =
                remote.get(&format!("/deploys/{}", args.id)).await?;
            status::render_show(args.output.json, &detail)
        }
    }
}

/// One event, in the words the local deploy prints.
pub(super) fn print_event(data: &str) {
    let Ok(event) = serde_json::from_str::<Value>(data) else { return };
    let body = &event["body"];
    let text = match event["kind"].as_str().unwrap_or("") {
        "stage.started" => format!(
            "stage {} ({}): {}",
            body["stage"].as_str().unwrap_or("?"),
            body["kind"].as_str().unwrap_or("?"),
            body["nodes"].as_str().unwrap_or("")
        ),
        "checks.finished" => body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let mark = if r["passed"].as_bool() == Some(true) { "ok" } else { "FAILED" };
                format!("  check {}: {mark}", r["name"].as_str().unwrap_or("?"))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "downgrade.announced" | "downgrade.completed" => {
            body["text"].as_str().unwrap_or("").to_owned()
        }
        _ => return,
    };
    if !text.is_empty() {
        output::line(text);
    }
}

fn report(deploy: DeployView, refusals: Vec<wharf_app::wire::RefusalView>) -> DeployReport {
    DeployReport { deploy, refusals, unreachable: Vec::new() }
}

/// After a start, approve or resume: the deploy's end, following it while it runs.
async fn outcome(
    remote: &Remote,
    answer: Result<Value, Refusal>,
    json: bool,
) -> anyhow::Result<u8> {
    let body = match answer {
        Ok(body) => body,
        Err(refusal) if refusal.code == "refused" && refusal.body["deploy"].is_object() => {
            let result: DeployResult = serde_json::from_value(refusal.body["deploy"].clone())?;
            return crate::cmd::deploy::finish(json, report(result.deploy, result.refusals));
        }
        Err(refusal) if refusal.code == "refused" => {
            output::err_line(format!("wharf: {}", refusal.message));
            return Ok(REFUSED);
        }
        Err(refusal) => return Err(error(&refusal)),
    };
    let result: DeployResult = serde_json::from_value(body)?;
    // The events print what the local command prints as it goes — replayed from the start
    // when the deploy already ended, followed live while it runs.
    if !json {
        remote.follow(result.deploy.id).await?;
    }
    if !matches!(result.deploy.state.as_str(), "planned" | "running") {
        return crate::cmd::deploy::finish(json, report(result.deploy, result.refusals));
    }
    // The stream ends with the deploy; read its record as it ended.
    let detail: Value = remote.get(&format!("/deploys/{}", result.deploy.id)).await?;
    let deploy: DeployView = serde_json::from_value(detail["deploy"].clone())?;
    let mut done = report(deploy, Vec::new());
    done.unreachable = detail["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["state"] == "failed" && n["exit_code"].is_null())
        .filter_map(|n| n["node"].as_str().map(str::to_owned))
        .collect();
    crate::cmd::deploy::finish(json, done)
}

/// `VERSION ENV`, `ENV VERSION` or `PKG=VERSION… ENV` as the API takes them: the server
/// knows the environments, so a bare word that is not `PKG=VERSION` and not the last
/// version-looking word is the environment. Returns ((packages, environment), version).
fn words(words: &[String]) -> ((serde_json::Map<String, Value>, String), Option<String>) {
    let mut packages = serde_json::Map::new();
    let mut bare = Vec::new();
    for word in words {
        match word.split_once('=') {
            Some((name, version)) => {
                packages.insert(name.to_owned(), Value::String(version.to_owned()));
            }
            None => bare.push(word.clone()),
        }
    }
    // A version starts with a digit (Debian policy); an environment name need not.
    let (versions, names): (Vec<String>, Vec<String>) =
        bare.into_iter().partition(|w| w.starts_with(|c: char| c.is_ascii_digit()));
    let environment = names.into_iter().next().unwrap_or_default();
    ((packages, environment), versions.into_iter().next())
}

fn dry_run(answer: Result<Value, Refusal>, json: bool) -> anyhow::Result<u8> {
    let (report, code): (DryRunReport, u8) = match answer {
        Ok(body) => (serde_json::from_value(body)?, SUCCESS),
        Err(refusal) if refusal.body["dry_run"].is_object() => {
            (serde_json::from_value(refusal.body["dry_run"].clone())?, REFUSED)
        }
        Err(refusal) => return Err(error(&refusal)),
    };
    crate::cmd::deploy::render_dry_run(json, &report)?;
    Ok(if report.refusals.is_empty() { code } else { REFUSED.max(code) })
}
