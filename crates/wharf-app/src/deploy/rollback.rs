//! `wharf rollback ENV`: back to the previous successful version, with the environment's
//! rollback pipeline (the fleet first, tiers last as manual stages). Going back more than
//! one successful version needs `--reviewed-by NAME`; leaving a version whose deploy ran a
//! point-of-no-return stage needs `--force REASON` (seed 001).

use wharf_core::version::Version;
use wharf_deploy::gate;
use wharf_store::deploy::Override;

use super::lifecycle::{DeployReport, Session, start_as};
use super::{DeployRequest, Purpose, environment_named, guard_state, parse_version};
use crate::error::{AppError, Result};
use crate::wire::RefusalView;

/// What `wharf rollback` asks for.
#[derive(Debug, Clone, Default)]
pub struct RollbackRequest {
    pub environment: String,
    /// `--to VERSION`: another successful version than the previous one.
    pub to: Option<String>,
    /// `--reviewed-by NAME`: needed to go back more than one version.
    pub reviewed_by: Option<String>,
    /// `--force REASON`: needed to leave a version past a point of no return.
    pub force: Option<String>,
    pub automated: bool,
    pub issue: Option<String>,
}

/// Roll the environment back. A rollback guard's refusal is recorded like any refused
/// deploy; the environment's own guards (locks, holds, windows) still apply.
pub async fn rollback(session: &Session<'_>, request: &RollbackRequest) -> Result<DeployReport> {
    let ctx = session.ctx;
    let environment = environment_named(session.fleet.inventory, &request.environment)?;
    let to: Option<Version> = request.to.as_deref().map(parse_version).transpose()?;
    let (_, _, history) = guard_state(ctx, (session.clock)()).await?;
    let target = gate::rollback_target(
        &environment.name,
        &history,
        to.as_ref(),
        request.reviewed_by.as_deref(),
        request.force.as_deref(),
    )
    .map_err(|refusal| {
        let view: RefusalView = super::refusal_view(refusal);
        AppError::refused(format!("refused ({}): {}; {}", view.guard, view.message, view.lift))
    })?;
    let by = ctx.actor().name.clone();
    let mut overrides = Vec::new();
    if let Some(name) = request.reviewed_by.as_deref().filter(|_| target.steps_back > 1) {
        overrides.push(Override {
            kind: "reviewed-by".into(),
            reason: format!("{} versions back, reviewed by {name}", target.steps_back),
            by: by.clone(),
        });
    }
    if let Some(reason) = &request.force {
        overrides.push(Override { kind: "force".into(), reason: reason.trim().into(), by });
    }
    let deploy = DeployRequest {
        packages: target.outcome.packages.iter().map(|(p, v)| (p.clone(), v.to_string())).collect(),
        environment: environment.name.clone(),
        automated: request.automated,
        issue: request.issue.clone(),
        ..DeployRequest::default()
    };
    start_as(session, &deploy, Purpose::Rollback, overrides).await
}
