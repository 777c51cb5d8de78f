//! `--server URL`: commands through a `wharf server`'s API instead of the local data
//! directory, printing what the local commands print (through their own render functions)
//! and exiting with the same codes. A deploy the server runs in the background is followed
//! through its live events (`GET /api/v1/deploys/ID/events`) until it ends.
//!
//! Here: the deploy commands (`deploy` with `--dry-run`, `rollback`, `resume`, `approve`,
//! `cancel`), `status`, `history`, `show`, locks, holds, windows, `audit`, maintenance and
//! tokens. `repo.rs`: `repo` (`add` is one multipart upload: all or nothing), `snapshot`,
//! `publish`. `ops.rs`: `nodes`, `nodeset`, `health`, `schedules`, `audit --verify`, `log`,
//! `config check`. Commands that only make sense where they run (`run`, `copy`, `demo`,
//! `server`, `key export`, `repo verify|cleanup`, `publish --to-dir`) are refused saying
//! why; `version`, `completions` and `man` never reach this module.

use std::io::BufRead as _;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wharf_app::deploy::DeployReport;
use wharf_app::wire::{DeployResult, DeployView, DryRunReport};

use crate::cli::{Command, DeploysCommand};
use crate::env_vars;
use crate::exit::{REFUSED, SUCCESS, UsageError};
use crate::output;

mod ops;
mod repo;

/// A command that only works where it runs: why, and what to do.
fn local_only(why: &str) -> anyhow::Error {
    anyhow::Error::new(UsageError(format!(
        "{why}: run it without --server (unset ${}), on the machine it is about",
        env_vars::SERVER
    )))
}

/// A server and the token to act with.
struct Remote {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

/// An answer that is not a success: `{code, message}` and the status.
struct Refusal {
    status: StatusCode,
    code: String,
    message: String,
    body: Value,
}

impl Remote {
    fn new(server: &str) -> Remote {
        Remote {
            base: format!("{}/api/v1", server.trim_end_matches('/')),
            token: std::env::var(env_vars::TOKEN).ok().filter(|t| !t.is_empty()),
            client: reqwest::Client::new(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> anyhow::Result<Result<Value, Refusal>> {
        let response = builder
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("cannot reach the server at {}: {err}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(Ok(body));
        }
        Ok(Err(Refusal {
            status,
            code: body["code"].as_str().unwrap_or("").to_owned(),
            message: body["message"].as_str().unwrap_or("").to_owned(),
            body,
        }))
    }

    /// Send, and read a success as `T`; anything else is the command's error.
    async fn call<T: DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        match self.send(builder).await? {
            Ok(body) => Ok(serde_json::from_value(body)?),
            Err(refusal) => Err(error(&refusal)),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call(self.request(reqwest::Method::GET, path)).await
    }

    async fn post_as<T: DeserializeOwned>(&self, path: &str, body: &Value) -> anyhow::Result<T> {
        self.call(self.request(reqwest::Method::POST, path).json(body)).await
    }

    async fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call(self.request(reqwest::Method::DELETE, path)).await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Result<Value, Refusal>> {
        self.send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    /// Print the deploy's events as they happen until its stream ends.
    async fn follow(&self, id: i64) -> anyhow::Result<()> {
        use futures::StreamExt as _;
        let response =
            self.request(reqwest::Method::GET, &format!("/deploys/{id}/events")).send().await?;
        if !response.status().is_success() {
            return Ok(());
        }
        let mut stream = response.bytes_stream();
        let mut pending = Vec::new();
        while let Some(chunk) = stream.next().await {
            pending.extend_from_slice(&chunk?);
            while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = pending.drain(..end + 2).collect();
                for line in frame.lines().map_while(Result::ok) {
                    if let Some(data) = line.strip_prefix("data:") {
                        print_event(data.trim());
                    }
                }
            }
        }
        Ok(())
    }
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

/// `text` as one URL path segment or query value: everything but unreserved characters
/// percent-encoded (an `--at` offset's `+` must not arrive as a space).
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One event, in the words the local deploy prints.
fn print_event(data: &str) {
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

/// A refusal as the local command would fail: exit 4 for a guard, 2 for a request the
/// server found wrong, 1 otherwise.
fn error(refusal: &Refusal) -> anyhow::Error {
    let message = if refusal.message.is_empty() {
        format!("the server answered {}", refusal.status)
    } else {
        refusal.message.clone()
    };
    match refusal.code.as_str() {
        "invalid" | "not_found" | "conflict" | "unauthorized" | "forbidden" => {
            anyhow::Error::new(UsageError(message))
        }
        _ => anyhow::anyhow!(message),
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
            return super::deploy::finish(json, report(result.deploy, result.refusals));
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
        return super::deploy::finish(json, report(result.deploy, result.refusals));
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
    super::deploy::finish(json, done)
}

/// Run `command` through the server at `server`.
pub(crate) fn dispatch(server: &str, command: Command) -> anyhow::Result<u8> {
    let remote = Remote::new(server);
    super::runtime()?.block_on(async {
        match command {
            Command::Deploy(args) => {
                if args.at.is_some() {
                    anyhow::bail!(UsageError(
                        "--at asks the guards at another moment on this machine's data; with --server the server's clock applies".into()
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
                outcome(&remote, answer, args.output.json).await
            }
            Command::Rollback(args) => {
                let body = json!({ "to": args.to, "reviewed_by": args.reviewed_by, "force": args.force,
                    "issue": args.issue, "automated": args.automated });
                let path = format!("/environments/{}/rollback", enc(&args.environment));
                outcome(&remote, remote.post(&path, &body).await?, args.output.json).await
            }
            Command::Resume(args) => {
                let answer = remote.post(&format!("/deploys/{}/resume", args.id), &json!({})).await?;
                outcome(&remote, answer, args.output.json).await
            }
            Command::Approve(args) => {
                let answer = remote
                    .post(&format!("/deploys/{}/approve", args.id), &json!({ "stage": args.stage }))
                    .await?;
                outcome(&remote, answer, args.output.json).await
            }
            Command::Cancel(args) => {
                let path = format!("/deploys/{}/cancel", args.id);
                match remote.post(&path, &json!({ "reason": args.reason })).await? {
                    Ok(body) => {
                        let result: DeployResult = serde_json::from_value(body)?;
                        super::deploy::finish(args.output.json, report(result.deploy, result.refusals))?;
                        Ok(SUCCESS)
                    }
                    Err(refusal) => Err(error(&refusal)),
                }
            }
            Command::Deploys(DeploysCommand::History(args)) => {
                let mut path = format!("/deploys?limit={}", args.limit);
                if let Some(env) = &args.environment {
                    path.push_str(&format!("&environment={}", enc(env)));
                }
                let deploys: Vec<DeployView> = remote.get(&path).await?;
                super::status::render_history(args.output.json, &deploys)
            }
            Command::Deploys(DeploysCommand::Status(args)) => {
                let mut query = vec![format!("check={}", args.check)];
                if let Some(env) = &args.environment {
                    query.push(format!("environment={}", enc(env)));
                }
                if let Some(at) = &args.at {
                    query.push(format!("at={}", enc(at)));
                }
                let report: Vec<wharf_app::wire::EnvironmentStatus> =
                    remote.get(&format!("/status?{}", query.join("&"))).await?;
                super::status::render_status(args.output.json, &report)
            }
            Command::Windows(args) => {
                let mut query = Vec::new();
                if let Some(env) = &args.environment {
                    query.push(format!("environment={}", enc(env)));
                }
                if let Some(at) = &args.at {
                    query.push(format!("at={}", enc(at)));
                }
                let views: Vec<wharf_app::wire::WindowView> =
                    remote.get(&format!("/windows?{}", query.join("&"))).await?;
                super::guard::render_windows(args.output.json, &views)
            }
            Command::Audit(args) if !args.verify => {
                let mut query = vec![format!("limit={}", args.limit)];
                if let Some(action) = &args.action {
                    query.push(format!("action={}", enc(action)));
                }
                if let Some(target) = &args.target {
                    query.push(format!("target={}", enc(target)));
                }
                let entries: Vec<wharf_store::AuditEntry> =
                    remote.get(&format!("/audit?{}", query.join("&"))).await?;
                if args.output.json {
                    output::json(&entries)?;
                } else {
                    super::audit::print_entries(&entries);
                }
                Ok(SUCCESS)
            }
            Command::Holds(args) => {
                if args.check {
                    let check: wharf_app::wire::HoldsCheck = remote.get("/holds?check=true").await?;
                    super::guard::render_holds(args.output.json, &check.holds, Some(&check))
                } else {
                    let holds: Vec<wharf_app::wire::PackageHold> = remote.get("/holds").await?;
                    super::guard::render_holds(args.output.json, &holds, None)
                }
            }
            Command::Maintenance(crate::cli::MaintenanceCommand::List(args)) => {
                let nodes: Vec<wharf_app::wire::Maintenance> = remote.get("/maintenance").await?;
                super::guard::render_maintenance(args.json, &nodes)
            }
            Command::Token(crate::cli::TokenCommand::List(args)) => {
                let tokens: Vec<wharf_app::wire::TokenView> = remote.get("/tokens").await?;
                super::token::render_list(args.json, &tokens)
            }
            Command::Token(crate::cli::TokenCommand::Create(args)) => {
                let body = json!({ "name": args.name, "role": format!("{:?}", args.role).to_lowercase(),
                    "automated": args.automated, "expires": args.expires });
                super::token::render_created(args.output.json, &remote.post_as("/tokens", &body).await?)
            }
            Command::Token(crate::cli::TokenCommand::Revoke(args)) => {
                let path = format!("/tokens/{}", enc(&args.name));
                super::token::render_revoked(args.output.json, &remote.delete(&path).await?)
            }
            Command::Repo(command) => repo::repo(&remote, command).await,
            Command::Snapshot(command) => repo::snapshot(&remote, command).await,
            Command::Publish(args) => repo::publish(&remote, args).await,
            Command::Nodes(args) => ops::list_nodes(&remote, &args).await,
            Command::Nodeset(args) => ops::expand(&remote, &args).await,
            Command::Health(args) => ops::health(&remote, &args).await,
            Command::Schedules(args) => ops::schedules(&remote, &args).await,
            Command::Audit(args) => ops::verify(&remote, &args).await,
            Command::Log(args) => ops::note(&remote, &args).await,
            Command::Config(crate::cli::ConfigCommand::Check(args)) => {
                ops::config_check(&remote, &args).await
            }
            Command::Hold(args) => {
                let body = json!({ "package": args.package, "environment": args.environment, "reason": args.reason });
                held(args.output.json, &remote.post_as("/holds", &body).await?, "held")
            }
            Command::Unhold(args) => {
                let path = format!("/holds/{}/{}", enc(&args.environment), enc(&args.package));
                held(args.output.json, &remote.delete(&path).await?, "unheld")
            }
            Command::Maintenance(crate::cli::MaintenanceCommand::Start(args)) => {
                let body = json!({ "nodes": args.nodeset, "reason": args.reason });
                maintained(args.output.json, &remote.post_as("/maintenance", &body).await?, "in maintenance")
            }
            Command::Maintenance(crate::cli::MaintenanceCommand::Stop(args)) => {
                let path = format!("/maintenance/{}", enc(&args.nodeset));
                maintained(args.output.json, &remote.delete(&path).await?, "out of maintenance")
            }
            Command::Locks(args) => {
                let locks: Vec<wharf_app::wire::EnvLock> = remote.get("/locks").await?;
                super::guard::render_locks(args.json, &locks)
            }
            Command::Lock(args) => {
                let body = json!({ "environment": args.environment, "all": args.all,
                    "reason": args.reason, "steal": args.steal, "until": args.until });
                match remote.post("/locks", &body).await? {
                    Ok(report) => super::guard::render_lock(args.output.json, &serde_json::from_value(report)?),
                    Err(refusal) if refusal.code == "refused" => {
                        output::err_line(format!("wharf: refused: {}", refusal.message));
                        Ok(REFUSED)
                    }
                    Err(refusal) => Err(error(&refusal)),
                }
            }
            Command::Unlock(args) => {
                let env = if args.all { "*".to_owned() } else { args.environment.clone().unwrap_or_default() };
                let path = format!("/locks/{}", enc(&env));
                super::guard::render_unlock(args.output.json, &remote.delete(&path).await?)
            }
            Command::Deploys(DeploysCommand::Show(args)) => {
                let detail: wharf_app::wire::DeployDetail = remote.get(&format!("/deploys/{}", args.id)).await?;
                super::status::render_show(args.output.json, &detail)
            }
            Command::Run(_) | Command::Copy(_) => Err(local_only(
                "run and copy connect to the nodes from the machine they run on",
            )),
            Command::Demo(_) => Err(local_only("demo writes a fleet and a data directory here")),
            Command::Server(_) => Err(local_only(
                "server serves a data directory itself; --server names one to talk to",
            )),
            Command::Key(_) => Err(local_only(
                "key export reads the signing key from the data directory (clients can also \
                 use the key a published repository's InRelease is signed with)",
            )),
            Command::Version(_) | Command::Completions(_) | Command::Man(_) => {
                unreachable!("dispatched before --server is looked at")
            }
        }
    })
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

fn held(json: bool, report: &wharf_app::wire::HoldReport, done: &str) -> anyhow::Result<u8> {
    super::repo::render(json, report, || {
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
    super::repo::render(json, report, || {
        output::line(format!("{} ({}): {done}", report.nodes, report.count))
    })?;
    Ok(node_failures(&report.failed))
}

fn dry_run(answer: Result<Value, Refusal>, json: bool) -> anyhow::Result<u8> {
    let (report, code): (DryRunReport, u8) = match answer {
        Ok(body) => (serde_json::from_value(body)?, SUCCESS),
        Err(refusal) if refusal.body["dry_run"].is_object() => {
            (serde_json::from_value(refusal.body["dry_run"].clone())?, REFUSED)
        }
        Err(refusal) => return Err(error(&refusal)),
    };
    super::deploy::render_dry_run(json, &report)?;
    Ok(if report.refusals.is_empty() { code } else { REFUSED.max(code) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query_values_are_percent_encoded() {
        assert_eq!(enc("2026-12-24T13:00:00+01:00"), "2026-12-24T13%3A00%3A00%2B01%3A00");
        assert_eq!(enc("*"), "%2A");
        assert_eq!(enc("bookworm-tools_1.0~rc"), "bookworm-tools_1.0~rc");
        assert_eq!(enc("a/b?c"), "a%2Fb%3Fc");
    }
}
