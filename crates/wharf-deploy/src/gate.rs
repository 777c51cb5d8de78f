//! Guards: whether a deploy, rollback or lock may go ahead, as pure decisions.
//!
//! Every guard returns `Result<_, Refusal>`; a [`Refusal`] names the guard, says why in
//! one line, and says what lifts it (a flag with a reason, another command). The history,
//! locks, holds and the clock are passed in: the store provides them, the CLI maps a
//! refusal to exit code 4.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use wharf_core::inventory::Environment;
use wharf_core::version::Version;

/// Which guard refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardKind {
    /// A production environment after another accepts only versions that succeeded there.
    PromotionGate,
    /// The target is older than an installed version.
    Downgrade,
    /// No rollback target, or one too far back without review.
    RollbackTarget,
    /// Leaving a version whose deploy ran a point-of-no-return stage.
    PointOfNoReturn,
    /// The environment (or everything) is locked.
    Lock,
    /// A package is held in the environment.
    Hold,
}

impl fmt::Display for GuardKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GuardKind::PromotionGate => "promotion-gate",
            GuardKind::Downgrade => "downgrade",
            GuardKind::RollbackTarget => "rollback-target",
            GuardKind::PointOfNoReturn => "point-of-no-return",
            GuardKind::Lock => "lock",
            GuardKind::Hold => "hold",
        })
    }
}

/// A guard said no: why, and what lifts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (to go ahead: {lift})")]
pub struct Refusal {
    pub guard: GuardKind,
    pub message: String,
    pub lift: String,
}

impl Refusal {
    fn new(guard: GuardKind, message: impl Into<String>, lift: impl Into<String>) -> Refusal {
        Refusal { guard, message: message.into(), lift: lift.into() }
    }
}

/// A finished deploy or rollback of one environment, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployOutcome {
    pub environment: String,
    /// The version each package was deployed at.
    pub packages: BTreeMap<String, Version>,
    pub succeeded: bool,
    /// The point-of-no-return stage that ran (e.g. `post-deploy migrations`), if any.
    pub ran_point_of_no_return: Option<String>,
    pub finished_at: Timestamp,
}

impl DeployOutcome {
    /// `11.8.1`, or `gitlab-ee=11.8.1, gitaly=…` when the packages differ.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut versions: Vec<&Version> = self.packages.values().collect();
        versions.dedup();
        match versions.as_slice() {
            [one] => one.to_string(),
            _ => {
                self.packages.iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(", ")
            }
        }
    }

    fn has(&self, version: &Version) -> bool {
        self.packages.values().any(|v| v == version)
    }
}

/// An environment lock (`environment: None` is the global lock, `wharf lock --all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub environment: Option<String>,
    pub holder: String,
    pub reason: String,
    pub since: Timestamp,
}

/// A package held in an environment: deploys there leave it alone until `unhold`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub package: String,
    pub environment: String,
    pub holder: String,
    pub reason: String,
    pub since: Timestamp,
}

/// A reason given with an override flag: present and not blank.
fn reason(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|r| !r.is_empty())
}

/// `10:02 UTC` today, `2026-11-30 10:02 UTC` otherwise.
fn since(at: Timestamp, now: Timestamp) -> String {
    let at = at.to_zoned(TimeZone::UTC);
    let clock = format!("{:02}:{:02} UTC", at.hour(), at.minute());
    if at.date() == now.to_zoned(TimeZone::UTC).date() {
        clock
    } else {
        format!("{} {clock}", at.date())
    }
}

/// Promotion gate: an environment with `after = X` and `production = true` accepts only a
/// version that succeeded on X. `--ignore-production-checks REASON` lifts it; a blank
/// reason does not.
pub fn promotion_gate(
    environment: &Environment,
    version: &Version,
    history: &[DeployOutcome],
    ignore_production_checks: Option<&str>,
) -> Result<(), Refusal> {
    let Some(after) = environment.after.as_deref().filter(|_| environment.production) else {
        return Ok(());
    };
    let lift = "--ignore-production-checks REASON";
    if let Some(flag) = ignore_production_checks {
        return match reason(Some(flag)) {
            Some(_) => Ok(()),
            None => Err(Refusal::new(
                GuardKind::PromotionGate,
                "--ignore-production-checks needs a reason, recorded in the audit log",
                "--ignore-production-checks 'why it is safe'",
            )),
        };
    }
    let succeeded = |o: &&DeployOutcome| o.environment == after && o.succeeded;
    if history.iter().filter(succeeded).any(|o| o.has(version)) {
        return Ok(());
    }
    let last = history.iter().filter(succeeded).max_by_key(|o| o.finished_at);
    let last = last.map_or_else(|| "none yet".to_owned(), |o| format!("last: {}", o.describe()));
    Err(Refusal::new(
        GuardKind::PromotionGate,
        format!(
            "{} accepts only versions that succeeded on {after}, and {version} has not ({last})",
            environment.name
        ),
        format!("wharf deploy {version} {after}, or {lift}"),
    ))
}

/// Downgrade: `target` older than a version installed on a node (node → version) is
/// refused without `--downgrade`.
pub fn downgrade(
    target: &Version,
    installed: &BTreeMap<String, Version>,
    allow_downgrade: bool,
) -> Result<(), Refusal> {
    if allow_downgrade {
        return Ok(());
    }
    let newer: Vec<(&String, &Version)> = installed.iter().filter(|(_, v)| *v > target).collect();
    let Some((node, newest)) = newer.iter().max_by(|a, b| a.1.cmp(b.1)) else { return Ok(()) };
    let more = match newer.len() {
        1 => String::new(),
        n => format!(" (and {} more node{})", n - 1, if n == 2 { "" } else { "s" }),
    };
    Err(Refusal::new(
        GuardKind::Downgrade,
        format!("{target} is older than {newest}, installed on {node}{more}"),
        "--downgrade",
    ))
}

/// Where a rollback goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackTarget {
    /// The deploy whose packages the rollback reinstalls.
    pub outcome: DeployOutcome,
    /// 1: the previous successful version; more needs a reviewer.
    pub steps_back: usize,
}

/// Rollback target selection for `environment`: by default the successful version before
/// the current one. `to` picks another successful one; more than one version back needs
/// `--reviewed-by NAME` (seed 001: never roll back further without a thorough review).
/// Leaving a version whose deploy ran a point-of-no-return stage needs `--force REASON`.
pub fn rollback_target(
    environment: &str,
    history: &[DeployOutcome],
    to: Option<&Version>,
    reviewed_by: Option<&str>,
    force: Option<&str>,
) -> Result<RollbackTarget, Refusal> {
    let mut ours: Vec<&DeployOutcome> =
        history.iter().filter(|o| o.environment == environment).collect();
    ours.sort_by_key(|o| o.finished_at);
    let Some(current) = ours.last() else {
        return Err(Refusal::new(
            GuardKind::RollbackTarget,
            format!("{environment} has no deploy to roll back"),
            format!("wharf deploy VERSION {environment}"),
        ));
    };
    // Successful versions other than the current one, newest first, each once.
    let mut candidates: Vec<(usize, &DeployOutcome)> = Vec::new();
    for (index, outcome) in ours.iter().enumerate().rev() {
        if outcome.succeeded
            && outcome.packages != current.packages
            && !candidates.iter().any(|(_, c)| c.packages == outcome.packages)
        {
            candidates.push((index, outcome));
        }
    }
    let chosen = match to {
        None => candidates.first(),
        Some(version) => candidates.iter().find(|(_, o)| o.has(version)),
    };
    let Some(&(index, target)) = chosen else {
        let what = to.map_or_else(|| "no earlier version".to_owned(), |v| format!("{v} never"));
        return Err(Refusal::new(
            GuardKind::RollbackTarget,
            format!("{what} succeeded on {environment} (now at {})", current.describe()),
            format!("wharf deploy VERSION {environment}"),
        ));
    };
    let steps_back = candidates.iter().position(|(i, _)| *i == index).unwrap_or(0) + 1;
    if steps_back > 1 && reason(reviewed_by).is_none() {
        return Err(Refusal::new(
            GuardKind::RollbackTarget,
            format!(
                "{} is {steps_back} successful versions back on {environment}; rolling back more than one version needs a review",
                target.describe()
            ),
            "--reviewed-by NAME",
        ));
    }
    // The newest deploy after the target that passed a point of no return is the one named.
    let passed = ours[index + 1..]
        .iter()
        .rev()
        .find_map(|o| o.ran_point_of_no_return.as_ref().map(|stage| (stage, o)));
    if let Some((stage, left)) = passed
        && reason(force).is_none()
    {
        return Err(Refusal::new(
            GuardKind::PointOfNoReturn,
            format!("{stage} ran in {}; rolling back needs --force REASON", left.describe()),
            "--force REASON",
        ));
    }
    Ok(RollbackTarget { outcome: target.clone(), steps_back })
}

/// The lock that stops deploys to `environment`, if any: its own first, then the global.
fn lock_on<'a>(environment: &str, locks: &'a [Lock]) -> Option<&'a Lock> {
    locks
        .iter()
        .find(|lock| lock.environment.as_deref() == Some(environment))
        .or_else(|| locks.iter().find(|lock| lock.environment.is_none()))
}

fn describe_lock(lock: &Lock, now: Timestamp) -> String {
    let what = lock.environment.as_deref().unwrap_or("every environment");
    format!(
        "{what} is locked by {} since {} ({:?})",
        lock.holder,
        since(lock.since, now),
        lock.reason
    )
}

/// Deploy lock: a lock stops every deploy, automated or not, whoever holds it.
pub fn deploy_lock(environment: &str, locks: &[Lock], now: Timestamp) -> Result<(), Refusal> {
    let Some(lock) = lock_on(environment, locks) else { return Ok(()) };
    let lift = match &lock.environment {
        Some(env) => format!("wharf unlock {env}"),
        None => "wharf unlock --all".to_owned(),
    };
    Err(Refusal::new(GuardKind::Lock, describe_lock(lock, now), lift))
}

/// Locking over a lock: someone else's lock on the same target is never silently
/// replaced; `--steal REASON` takes it over. Relocking one's own lock is allowed.
/// `environment: None` is `wharf lock --all`.
pub fn lock(
    environment: Option<&str>,
    actor: &str,
    locks: &[Lock],
    steal: Option<&str>,
    now: Timestamp,
) -> Result<(), Refusal> {
    let Some(held) = locks.iter().find(|lock| lock.environment.as_deref() == environment) else {
        return Ok(());
    };
    if held.holder == actor || reason(steal).is_some() {
        return Ok(());
    }
    let command = environment
        .map_or_else(|| "wharf lock --all".to_owned(), |env| format!("wharf lock {env}"));
    Err(Refusal::new(
        GuardKind::Lock,
        describe_lock(held, now),
        format!("{command} --steal REASON, or ask {} to unlock", held.holder),
    ))
}

/// Hold: a package held in `environment` cannot be deployed there.
pub fn hold(
    environment: &str,
    packages: &[String],
    holds: &[Hold],
    now: Timestamp,
) -> Result<(), Refusal> {
    let Some(held) = holds
        .iter()
        .find(|hold| hold.environment == environment && packages.contains(&hold.package))
    else {
        return Ok(());
    };
    Err(Refusal::new(
        GuardKind::Hold,
        format!(
            "{} is held on {environment} by {} since {} ({:?})",
            held.package,
            held.holder,
            since(held.since, now),
            held.reason
        ),
        format!("wharf unhold {} --env {environment}", held.package),
    ))
}

#[cfg(test)]
mod tests;
