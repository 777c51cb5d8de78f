//! `[[repositories]]` made real by the server itself: on start and after every SIGHUP
//! reload, the same `wharf_app::apply::apply` as `wharf apply` (no prune) creates the
//! missing repositories and applies the safe changes, audited as `wharf-server`; drift is
//! logged as a warning, never changed. Without `[[repositories]]` nothing is looked at.

use std::sync::Arc;

use wharf_app::Actor;
use wharf_app::apply::ApplyRequest;

use crate::AppState;

/// The identity the server's own changes are audited as.
pub(crate) const ACTOR: &str = "wharf-server";

/// Apply the current configuration's declarations; `when` names the occasion in the log.
pub(crate) async fn apply(state: Arc<AppState>, when: &'static str) {
    let loaded = state.app.config();
    if loaded.config.repositories.is_empty() {
        return;
    }
    let declared = match loaded.config.resolve_repositories(&loaded.source) {
        Ok(declared) => declared,
        Err(err) => {
            tracing::error!("{when}: [[repositories]] not applied: {err}");
            return;
        }
    };
    let ctx = match state.app.app_context(Actor::cli(ACTOR)).await {
        Ok(ctx) => ctx,
        Err(err) => {
            tracing::error!("{when}: [[repositories]] not applied: {err}");
            return;
        }
    };
    let report = match wharf_app::apply::apply(&ctx, &declared, &ApplyRequest::default()).await {
        Ok(report) => report,
        Err(err) => {
            tracing::error!("{when}: [[repositories]] not applied: {err}");
            return;
        }
    };
    for name in &report.created {
        tracing::info!(repository = %name, "{when}: created repository {name} (declared in wharf.toml)");
    }
    for diff in &report.updated {
        tracing::info!(
            repository = %diff.repository,
            "{when}: repository {} {}: {:?} -> {:?}",
            diff.repository, diff.field, diff.actual, diff.declared
        );
    }
    for diff in &report.drift {
        tracing::warn!(
            repository = %diff.repository,
            "{when}: DRIFT repository {} {}: {:?} in wharf.toml, {:?} stored: {}",
            diff.repository, diff.field, diff.declared, diff.actual, diff.note
        );
    }
    for undeclared in &report.undeclared {
        tracing::info!(
            repository = %undeclared.repository,
            "{when}: repository {} is not declared in wharf.toml (kept)",
            undeclared.repository
        );
    }
    tracing::info!(in_sync = report.in_sync, "{when}: [[repositories]] applied");
}
