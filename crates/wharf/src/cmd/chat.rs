//! Chat commands for `wharf server`'s `/chatops/slack`: the slash command's text is parsed
//! by the CLI's own grammar (`Cli`, so `deploy gprd 11.8.0 --ignore-production-checks
//! 'reason'` means exactly what it means on the command line), run through the same
//! `wharf_app` functions as the chat user's identity, and answered as text.

use std::pin::Pin;
use std::sync::Arc;

use clap::Parser as _;
use wharf_app::deploy::{DeployReport, DeployRequest, RollbackRequest, Session};
use wharf_app::fleet::Fleet;
use wharf_app::status::HistoryFilter;
use wharf_core::config::Role;
use wharf_server::chatops::{ChatCommands, ChatReply, ChatRequest};

use crate::cli::{Cli, Command, DeploysCommand};

/// The chat commands and the role each needs; anything else is not a chat command.
const COMMANDS: &[(&str, Role)] = &[
    ("deploy", Role::Deployer),
    ("rollback", Role::Deployer),
    ("approve", Role::Deployer),
    ("resume", Role::Deployer),
    ("cancel", Role::Deployer),
    ("lock", Role::Deployer),
    ("unlock", Role::Deployer),
    ("status", Role::Viewer),
    ("history", Role::Viewer),
    ("locks", Role::Viewer),
    ("holds", Role::Viewer),
    ("windows", Role::Viewer),
];

/// Options that pick another configuration or data directory: never from chat.
const GLOBAL_OPTIONS: &[&str] = &["--config", "--data", "--database", "--storage", "--server"];

#[derive(Debug)]
pub(crate) struct Chat {
    pub(crate) env: wharf_exec::LocalEnv,
}

/// Split like a POSIX shell does for words: whitespace separates; '…' and "…" quote;
/// a backslash escapes the next character (outside single quotes).
pub(crate) fn split_words(text: &str) -> Result<Vec<String>, String> {
    let (mut words, mut word, mut in_word) = (Vec::new(), String::new(), false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a ' quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => word.extend(chars.next()),
                        Some(c) => word.push(c),
                        None => return Err("a \" quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            // Slack sends typographic quotes when users type them on phones.
            '‘' | '’' | '“' | '”' => {
                return Err("use straight quotes (' or \") around a reason".into());
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

impl ChatCommands for Chat {
    fn role_needed(&self, text: &str) -> Option<Role> {
        let first = split_words(text).ok()?.into_iter().next()?;
        COMMANDS.iter().find(|(name, _)| *name == first).map(|(_, role)| *role)
    }

    fn run(&self, request: ChatRequest) -> Pin<Box<dyn Future<Output = ChatReply> + Send>> {
        let env = self.env.clone();
        Box::pin(async move {
            match run(request, env).await {
                Ok(reply) => reply,
                Err(text) => ChatReply { text, failed: true },
            }
        })
    }

    fn help(&self) -> String {
        let names: Vec<&str> = COMMANDS.iter().map(|(name, _)| *name).collect();
        format!(
            "Wharf commands, with the CLI's options: {}.\nExamples: `deploy 11.8.0-ee.0 gstg`, \
             `deploy gprd 11.8.0-ee.0 --ignore-production-checks 'canary verified'`, `status gprd`, \
             `rollback gprd`, `lock gprd --reason 'incident #123'`.",
            names.join(", ")
        )
    }
}

async fn run(request: ChatRequest, env: wharf_exec::LocalEnv) -> Result<ChatReply, String> {
    let words = split_words(&request.text)?;
    if let Some(option) = words.iter().find(|w| GLOBAL_OPTIONS.iter().any(|g| w.starts_with(g))) {
        return Err(format!(
            "{option} cannot be given from chat: the server's own configuration applies"
        ));
    }
    let cli = Cli::try_parse_from(std::iter::once("wharf".to_owned()).chain(words))
        .map_err(|err| err.render().to_string())?;
    let loaded = request.loaded.clone();
    let options = wharf_exec::FanoutOptions::default();
    let fleet = Fleet {
        config: &loaded.config,
        source: &loaded.source,
        inventory: &loaded.inventory,
        env: &env,
        options: &options,
    };
    let ctx = &request.context;
    let session = Session {
        ctx,
        fleet,
        clock: wharf_app::deploy::system_clock(),
        notices: None,
        started: None,
    };
    let err = |e: wharf_app::AppError| e.to_string();
    let text = match cli.command {
        Command::Deploy(args) => {
            let (packages, environment) =
                wharf_app::deploy::parse_targets(&loaded.inventory, &args.words).map_err(err)?;
            let deploy = DeployRequest {
                packages,
                environment,
                pipeline: args.pipeline,
                ignore_production_checks: args.ignore_production_checks,
                allow_precheck_failure: args.allow_precheck_failure,
                automated: false,
                downgrade: args.downgrade,
                hold: args.hold,
                issue: args.issue,
            };
            if args.dry_run {
                let now = wharf_app::windows::now();
                let report = wharf_app::deploy::dry_run(
                    ctx,
                    &loaded.config,
                    &loaded.source,
                    &loaded.inventory,
                    &deploy,
                    now,
                )
                .await
                .map_err(err)?;
                return Ok(dry_run_text(&report));
            }
            return Ok(deploy_text(
                &wharf_app::deploy::start(&session, &deploy).await.map_err(err)?,
            ));
        }
        Command::Rollback(args) => {
            let rollback = RollbackRequest {
                environment: args.environment,
                to: args.to,
                reviewed_by: args.reviewed_by,
                force: args.force,
                automated: false,
                issue: args.issue,
            };
            return Ok(deploy_text(
                &wharf_app::deploy::rollback(&session, &rollback).await.map_err(err)?,
            ));
        }
        Command::Approve(args) => {
            let report = wharf_app::deploy::approve(&session, args.id, args.stage.as_deref());
            return Ok(deploy_text(&report.await.map_err(err)?));
        }
        Command::Resume(args) => {
            return Ok(deploy_text(
                &wharf_app::deploy::resume(&session, args.id).await.map_err(err)?,
            ));
        }
        Command::Cancel(args) => {
            let report =
                wharf_app::deploy::cancel(ctx, args.id, &args.reason).await.map_err(err)?;
            format!(
                "deploy {} is {} ({})",
                report.deploy.id, report.deploy.state, request.user.name
            )
        }
        Command::Lock(args) => {
            let scope = super::guard::scope(args.environment.as_ref(), args.all);
            let until = args
                .until
                .as_deref()
                .map(wharf_app::windows::parse_instant)
                .transpose()
                .map_err(err)?;
            let report = wharf_app::guard::lock(
                ctx,
                &loaded.inventory,
                &scope,
                &args.reason,
                args.steal.as_deref(),
                until,
            )
            .await
            .map_err(err)?;
            format!("{} locked {} ({:?})", report.holder, report.environment, report.reason)
        }
        Command::Unlock(args) => {
            let scope = super::guard::scope(args.environment.as_ref(), args.all);
            let report =
                wharf_app::guard::unlock(ctx, &loaded.inventory, &scope).await.map_err(err)?;
            format!("{} unlocked (was locked by {})", report.environment, report.was_locked_by)
        }
        Command::Locks(_) => {
            let locks = wharf_app::guard::locks(ctx).await.map_err(err)?;
            lines(
                locks.iter().map(|l| {
                    format!("{}: {} since {} ({:?})", l.environment, l.holder, l.since, l.reason)
                }),
                "no locks",
            )
        }
        Command::Holds(_) => {
            let holds = wharf_app::hold::holds(ctx).await.map_err(err)?;
            lines(
                holds.iter().map(|h| {
                    format!("{} on {}: {} ({:?})", h.package, h.environment, h.holder, h.reason)
                }),
                "no holds",
            )
        }
        Command::Windows(_) => {
            let now = wharf_app::windows::now();
            let windows = wharf_app::windows::windows(
                &loaded.config,
                &loaded.source,
                &loaded.inventory,
                None,
                now,
            )
            .map_err(err)?;
            lines(
                windows
                    .iter()
                    .map(|w| format!("{}: {}", w.name, if w.open { "OPEN" } else { "closed" })),
                "no change-lock windows",
            )
        }
        Command::Deploys(DeploysCommand::Status(args)) => {
            status_text(&session, args.environment.as_deref()).await.map_err(err)?
        }
        Command::Deploys(DeploysCommand::History(args)) => {
            let deploys = wharf_app::status::history(
                ctx,
                &loaded.inventory,
                HistoryFilter {
                    environment: args.environment.as_deref(),
                    state: args.state.as_deref(),
                },
                args.limit.min(10),
            )
            .await
            .map_err(err)?;
            lines(deploys.iter().map(one_line), "no deploys yet")
        }
        _ => return Err("not a chat command; try `help`".into()),
    };
    Ok(ChatReply { text, failed: false })
}

fn lines(items: impl Iterator<Item = String>, empty: &str) -> String {
    let all: Vec<String> = items.collect();
    if all.is_empty() { empty.to_owned() } else { all.join("\n") }
}

fn one_line(deploy: &wharf_app::wire::DeployView) -> String {
    let versions: Vec<String> = deploy.packages.iter().map(|(p, v)| format!("{p} {v}")).collect();
    format!(
        "deploy {} of {} to {} by {}: {}",
        deploy.id,
        versions.join(", "),
        deploy.environment,
        deploy.started_by,
        deploy.state
    )
}

fn deploy_text(report: &DeployReport) -> ChatReply {
    let deploy = &report.deploy;
    let mut text = one_line(deploy);
    for o in &deploy.overrides {
        text.push_str(&format!("\noverride {} by {}: {:?}", o.kind, o.by, o.reason));
    }
    for refusal in &report.refusals {
        text.push_str(&format!(
            "\nrefused ({}): {}; {}",
            refusal.guard, refusal.message, refusal.lift
        ));
    }
    if report.refusals.is_empty()
        && let Some(reason) = &deploy.reason
    {
        text.push_str(&format!("\n{reason}"));
    }
    for warning in &deploy.warnings {
        text.push_str(&format!("\nwarning: {warning}"));
    }
    ChatReply { failed: !matches!(deploy.state.as_str(), "succeeded" | "waiting"), text }
}

fn dry_run_text(report: &wharf_app::wire::DryRunReport) -> ChatReply {
    let mut text = format!(
        "dry run: deploy {} of {} to {} ({})",
        report.version,
        report.packages.join(", "),
        report.environment,
        report.pipeline
    );
    for stage in &report.stages {
        text.push_str(&format!(
            "\n- {} ({}): {} {}",
            stage.name, stage.kind, stage.run, stage.nodes
        ));
    }
    for refusal in &report.refusals {
        text.push_str(&format!(
            "\nrefused ({}): {}; {}",
            refusal.guard, refusal.message, refusal.lift
        ));
    }
    ChatReply { failed: !report.refusals.is_empty(), text }
}

async fn status_text(
    session: &Session<'_>,
    environment: Option<&str>,
) -> wharf_app::Result<String> {
    let pool = wharf_exec::Pool::new();
    let now = wharf_app::windows::now();
    let report =
        wharf_app::status::status(session.ctx, session.fleet, &pool, environment, false, now)
            .await?;
    pool.close().await;
    Ok(lines(
        report.iter().map(|env| {
            let versions: Vec<String> = env
                .packages
                .iter()
                .map(|(p, v)| format!("{p} {} (#{})", v.version, v.deploy_id))
                .collect();
            let mut line = format!(
                "{}: {}",
                env.environment,
                if versions.is_empty() { "-".to_owned() } else { versions.join(", ") }
            );
            if let Some(lock) = &env.locked {
                line.push_str(&format!(" [LOCKED by {}]", lock.holder));
            }
            for hold in &env.holds {
                line.push_str(&format!(" [HELD {}]", hold.package));
            }
            if let Some(running) = &env.running {
                line.push_str(&format!(" [deploy {} {}]", running.id, running.state));
            }
            line
        }),
        "no environments",
    ))
}

/// The chat commands `wharf server` answers.
pub(crate) fn commands() -> Arc<dyn ChatCommands> {
    Arc::new(Chat { env: super::run::local_env() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_a_shell() {
        let cases: [(&str, &[&str]); 5] = [
            ("deploy 11.8.0-ee.0 gstg", &["deploy", "11.8.0-ee.0", "gstg"]),
            (
                "deploy gprd 1.0 --ignore-production-checks 'canary verified by hand'",
                &["deploy", "gprd", "1.0", "--ignore-production-checks", "canary verified by hand"],
            ),
            (
                r#"lock gprd --reason "incident \"123\"""#,
                &["lock", "gprd", "--reason", "incident \"123\""],
            ),
            ("  status   ", &["status"]),
            (r"lock gprd --reason it\'s", &["lock", "gprd", "--reason", "it's"]),
        ];
        for (text, words) in cases {
            assert_eq!(split_words(text).unwrap(), words, "{text}");
        }
        assert!(split_words("lock gprd --reason 'open").is_err());
        assert!(split_words("lock gprd --reason ‘smart’").unwrap_err().contains("straight quotes"));
    }

    #[test]
    fn roles_per_command() {
        let chat = Chat { env: super::super::run::local_env() };
        assert_eq!(chat.role_needed("deploy 1.0 gstg"), Some(Role::Deployer));
        assert_eq!(chat.role_needed("status gprd"), Some(Role::Viewer));
        assert_eq!(chat.role_needed("repo drop tools"), None, "not a chat command");
        assert_eq!(chat.role_needed("token create x --role admin"), None);
    }
}
