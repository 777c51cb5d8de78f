//! The configured prepare checks (`[[checks]]`, issue 10): before a deploy and at a
//! pipeline's `check` stages, every entry that applies to the environment runs —
//! concurrently, reported in file order — and says pass or fail with evidence.
//!
//! - `haproxy`: every server of the environment's nodes is UP in the stats CSV (a URL or
//!   the stats socket).
//! - `alertmanager`: no active, unsilenced, uninhibited alert matches (API v2).
//! - `http`: a URL answers with a status (and a body substring) before a timeout
//!   ([`http_until`], also the `http-check` stage).
//! - `command`: `sh -c COMMAND` on the Wharf host exits 0.
//!
//! A check that cannot reach what it asks fails, with evidence naming the address and the
//! error; only a configuration that cannot be read is an `Err`. The built-in checks
//! (package published, fleet version, maintenance) are the deploy engine's.

mod alertmanager;
mod command;
mod haproxy;
mod http;

use wharf_core::config::{CheckSettings, CheckSpec, Config, ConfigSource};
use wharf_core::inventory::Environment;

use crate::error::Result;
pub use crate::wire::CheckOutcome;
pub use http::http_until;
pub(crate) use http::{cause, human};

/// What the checks are run for.
#[derive(Debug, Clone, Copy)]
pub struct CheckTarget<'a> {
    pub environment: &'a Environment,
    /// The version about to be deployed (`WHARF_VERSION` for `command` checks).
    pub version: &'a str,
    /// `--ignore-production-checks`: `production_only` checks do not run.
    pub ignore_production_checks: bool,
}

/// Pass or fail, and why: what a check kind's runner returns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    passed: bool,
    evidence: Vec<String>,
}

impl Verdict {
    fn pass(evidence: Vec<String>) -> Verdict {
        Verdict { passed: true, evidence }
    }

    fn fail(evidence: Vec<String>) -> Verdict {
        Verdict { passed: false, evidence }
    }
}

/// Every `[[checks]]` entry that applies to the target's environment, run concurrently;
/// the outcomes are in file order. `Err` only when the configuration is invalid.
pub async fn configured(
    config: &Config,
    source: &ConfigSource,
    target: &CheckTarget<'_>,
) -> Result<Vec<CheckOutcome>> {
    let checks = config.resolve_checks(source)?;
    let env = target.environment;
    let runs = checks
        .iter()
        .filter(|check| {
            check.applies_to(&env.name, env.production, target.ignore_production_checks)
        })
        .map(|check| run(check, target));
    Ok(futures::future::join_all(runs).await)
}

/// Run one check for the target.
pub async fn run(check: &CheckSettings, target: &CheckTarget<'_>) -> CheckOutcome {
    let env = target.environment;
    let verdict = match &check.spec {
        CheckSpec::Haproxy { stats, backends } => {
            haproxy::check(stats, backends, &env.nodes, check.timeout).await
        }
        CheckSpec::Alertmanager { url, matchers, severities } => {
            alertmanager::check(url, matchers, severities, &env.name, check.timeout).await
        }
        CheckSpec::Http { url, expect_status, expect_body } => {
            let outcome =
                http_until(url, *expect_status, expect_body.as_deref(), check.timeout).await;
            Verdict { passed: outcome.passed, evidence: outcome.evidence }
        }
        CheckSpec::Command { command } => command::check(command, target, check.timeout).await,
    };
    CheckOutcome {
        name: check.name.clone(),
        kind: check.spec.kind().as_str().to_owned(),
        passed: verdict.passed,
        evidence: verdict.evidence,
    }
}
