//! `wharf deploy|rollback|resume|approve|cancel`: parse, call [`wharf_app::deploy`],
//! print its notices as the deploy goes, render the outcome, exit 0/1/3/4.

use std::io::IsTerminal as _;
use std::sync::Arc;

use tokio::sync::mpsc;
use wharf_app::deploy::{DeployReport, DeployRequest, Notice, RollbackRequest, Session};
use wharf_app::wire::{DeployResult, DryRunReport};

use super::repo::render;
use crate::cli::{ApproveArgs, CancelArgs, DeployArgs, ResumeArgs, RollbackArgs};
use crate::exit::{FAILURE, REFUSED, SUCCESS, UNREACHABLE, UsageError};
use crate::output;
use crate::settings::Settings;

/// The clock guards read: the system's, or a fixed `--at`.
fn clock(at: Option<&String>) -> anyhow::Result<wharf_app::deploy::Clock> {
    Ok(match at {
        Some(text) => {
            let at = wharf_app::windows::parse_instant(text)?;
            Arc::new(move || at)
        }
        None => wharf_app::deploy::system_clock(),
    })
}

/// Everything a deploy flow needs, with notices printed as they come (not with --json).
struct Flow {
    inventory: wharf_core::inventory::Inventory,
    env: wharf_exec::LocalEnv,
    options: wharf_exec::FanoutOptions,
}

impl Flow {
    fn new(settings: &Settings) -> anyhow::Result<Flow> {
        Ok(Flow {
            inventory: settings.inventory()?,
            env: super::run::local_env(),
            options: wharf_exec::FanoutOptions::default(),
        })
    }

    /// Run `body` with a session whose notices a printer task writes out.
    fn run<F>(
        &self,
        settings: &Settings,
        json: bool,
        at: Option<&String>,
        body: F,
    ) -> anyhow::Result<u8>
    where
        F: for<'s> AsyncFnOnce(&'s Session<'s>) -> wharf_app::Result<DeployReport>,
    {
        let clock = clock(at)?;
        super::runtime()?.block_on(async {
            let ctx = settings.context().await?;
            let (sender, mut receiver) = mpsc::unbounded_channel::<Notice>();
            let printer = tokio::spawn(async move {
                while let Some(notice) = receiver.recv().await {
                    if json {
                        continue;
                    }
                    if notice.problem {
                        output::err_line(notice.text);
                    } else {
                        output::line(notice.text);
                    }
                }
            });
            let fleet = wharf_app::fleet::Fleet {
                config: &settings.config,
                source: &settings.source,
                inventory: &self.inventory,
                env: &self.env,
                options: &self.options,
            };
            let session = Session { ctx: &ctx, fleet, clock, notices: Some(sender), started: None };
            let result = body(&session).await;
            drop(session);
            let _ = printer.await;
            finish(json, result?)
        })
    }
}

/// Print the outcome and pick the exit code.
pub(crate) fn finish(json: bool, report: DeployReport) -> anyhow::Result<u8> {
    let deploy = &report.deploy;
    let code = match deploy.state.as_str() {
        "succeeded" | "waiting" => SUCCESS,
        "refused" => REFUSED,
        "failed" if !report.unreachable.is_empty() => UNREACHABLE,
        _ => FAILURE,
    };
    let result = DeployResult { deploy: deploy.clone(), refusals: report.refusals.clone() };
    render(json, &result, || {
        let versions: Vec<String> =
            deploy.packages.iter().map(|(p, v)| format!("{p} {v}")).collect();
        let summary = format!(
            "deploy {} of {} to {} ({}): {}",
            deploy.id,
            versions.join(", "),
            deploy.environment,
            deploy.pipeline,
            deploy.state
        );
        if code == SUCCESS {
            output::line(summary);
        } else {
            output::err_line(format!("wharf: {summary}"));
        }
        for warning in &deploy.warnings {
            output::err_line(format!("warning: {warning}"));
        }
        for refusal in &report.refusals {
            output::err_line(format!(
                "refused ({}): {}; {}",
                refusal.guard, refusal.message, refusal.lift
            ));
        }
        if report.refusals.is_empty()
            && let Some(reason) = &deploy.reason
        {
            output::err_line(format!("  {reason}"));
        }
    })?;
    Ok(code)
}

pub(crate) fn deploy(settings: &Settings, args: &DeployArgs) -> anyhow::Result<u8> {
    let flow = Flow::new(settings)?;
    let (packages, environment) = wharf_app::deploy::parse_targets(&flow.inventory, &args.words)?;
    let request = DeployRequest {
        packages,
        environment,
        pipeline: args.pipeline.clone(),
        ignore_production_checks: args.ignore_production_checks.clone(),
        allow_precheck_failure: args.allow_precheck_failure,
        automated: args.automated,
        downgrade: args.downgrade,
        hold: args.hold,
        issue: args.issue.clone(),
    };
    if args.hold && !args.downgrade {
        anyhow::bail!(UsageError("--hold goes with --downgrade (seed 000's runbook); `wharf hold PKG --env ENV --reason R` holds without deploying".into()));
    }
    if args.dry_run {
        return dry_run(settings, &flow, args, &request);
    }
    let what = request.packages.iter().map(|(p, v)| format!("{p} {v}")).collect::<Vec<_>>();
    let question = format!("deploy {} to", what.join(", "));
    if !confirmed(&flow, &request.environment, &question, args.yes || args.output.json)? {
        return Ok(FAILURE);
    }
    flow.run(settings, args.output.json, args.at.as_ref(), async |session| {
        wharf_app::deploy::start(session, &request).await
    })
}

/// Before changing a production environment from a terminal, ask (`--yes` skips it; so
/// does a pipe, where nobody could answer).
fn confirmed(flow: &Flow, environment: &str, question: &str, yes: bool) -> anyhow::Result<bool> {
    use std::io::Write as _;
    let production =
        flow.inventory.environments().iter().any(|env| env.name == environment && env.production);
    if yes || !production || !std::io::stdin().is_terminal() {
        return Ok(true);
    }
    let mut stderr = std::io::stderr();
    write!(stderr, "{question} production environment {environment}? [y/N] ")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    let yes = matches!(answer.trim(), "y" | "Y" | "yes");
    if !yes {
        output::err_line("wharf: nothing changed (answer y, or pass --yes)");
    }
    Ok(yes)
}

fn dry_run(
    settings: &Settings,
    flow: &Flow,
    args: &DeployArgs,
    request: &DeployRequest,
) -> anyhow::Result<u8> {
    let now = match &args.at {
        Some(text) => wharf_app::windows::parse_instant(text)?,
        None => wharf_app::windows::now(),
    };
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let report = wharf_app::deploy::dry_run(
            &ctx,
            &settings.config,
            &settings.source,
            &flow.inventory,
            request,
            now,
        )
        .await?;
        render_dry_run(args.output.json, &report)?;
        Ok(if report.refusals.is_empty() { SUCCESS } else { REFUSED })
    })
}

pub(crate) fn render_dry_run(json: bool, report: &DryRunReport) -> anyhow::Result<u8> {
    render(json, report, || {
        output::line(format!(
            "deploy {} of {} to {} with pipeline {} (dry run)",
            report.version,
            report.packages.join(", "),
            report.environment,
            report.pipeline
        ));
        let rows: Vec<Vec<String>> = report
            .stages
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.kind.clone(),
                    s.run.to_owned(),
                    format!("{} ({})", s.nodes, s.count),
                    s.batches.to_string(),
                    s.note.clone().unwrap_or_default(),
                ]
            })
            .collect();
        output::table(&["STAGE", "KIND", "RUN", "NODES", "BATCHES", "NOTE"], &rows);
        for refusal in &report.refusals {
            output::err_line(format!(
                "refused ({}): {}; {}",
                refusal.guard, refusal.message, refusal.lift
            ));
        }
    })
}

pub(crate) fn rollback(settings: &Settings, args: &RollbackArgs) -> anyhow::Result<u8> {
    let flow = Flow::new(settings)?;
    let question = "roll back".to_owned();
    if !confirmed(&flow, &args.environment, &question, args.yes || args.output.json)? {
        return Ok(FAILURE);
    }
    let request = RollbackRequest {
        environment: args.environment.clone(),
        to: args.to.clone(),
        reviewed_by: args.reviewed_by.clone(),
        force: args.force.clone(),
        automated: args.automated,
        issue: args.issue.clone(),
    };
    flow.run(settings, args.output.json, None, async |session| {
        wharf_app::deploy::rollback(session, &request).await
    })
}

pub(crate) fn resume(settings: &Settings, args: &ResumeArgs) -> anyhow::Result<u8> {
    let flow = Flow::new(settings)?;
    flow.run(settings, args.output.json, None, async |session| {
        wharf_app::deploy::resume(session, args.id).await
    })
}

pub(crate) fn approve(settings: &Settings, args: &ApproveArgs) -> anyhow::Result<u8> {
    let flow = Flow::new(settings)?;
    flow.run(settings, args.output.json, None, async |session| {
        wharf_app::deploy::approve(session, args.id, args.stage.as_deref()).await
    })
}

pub(crate) fn cancel(settings: &Settings, args: &CancelArgs) -> anyhow::Result<u8> {
    let flow = Flow::new(settings)?;
    // The cancel itself succeeded: exit 0 (the cancelled deploy's own command exits 1).
    flow.run(settings, args.output.json, None, async |session| {
        wharf_app::deploy::cancel(session.ctx, args.id, &args.reason).await
    })
    .map(|_| SUCCESS)
}
