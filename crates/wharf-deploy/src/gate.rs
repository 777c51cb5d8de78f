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
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    /// The injected clock of every test: 2026-12-01 12:00 UTC.
    fn now() -> Timestamp {
        at("2026-12-01T12:00:00Z")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn outcome(
        env: &str,
        version: &str,
        succeeded: bool,
        pnr: Option<&str>,
        hour: u8,
    ) -> DeployOutcome {
        DeployOutcome {
            environment: env.to_owned(),
            packages: BTreeMap::from([("gitlab-ee".to_owned(), v(version))]),
            succeeded,
            ran_point_of_no_return: pnr.map(str::to_owned),
            finished_at: at(&format!("2026-12-01T{hour:02}:00:00Z")),
        }
    }

    /// One table row: what a guard returned, against `Ok(detail)` or `Err((guard,
    /// message, lift))`.
    fn check(
        name: &str,
        got: Result<String, Refusal>,
        want: Result<&str, (GuardKind, &str, &str)>,
    ) {
        match (got, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{name}"),
            (Err(got), Err((guard, message, lift))) => {
                assert_eq!(
                    (got.guard, got.message.as_str(), got.lift.as_str()),
                    (guard, message, lift),
                    "{name}"
                )
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }

    fn env(name: &str, after: Option<&str>, production: bool) -> Environment {
        Environment {
            name: name.to_owned(),
            nodes_expr: String::new(),
            nodes: Vec::new(),
            after: after.map(str::to_owned),
            production,
            repository: None,
            packages: vec!["gitlab-ee".to_owned()],
            canary: false,
        }
    }

    #[test]
    fn promotion_gate_table() {
        use GuardKind::PromotionGate as G;
        let history = [
            outcome("gprd-cny", "11.8.0", true, None, 1),
            outcome("gprd-cny", "11.8.1", false, None, 2),
        ];
        let gprd = env("gprd", Some("gprd-cny"), true);
        let run = |env: &Environment, version: &str, flag: Option<&str>| {
            promotion_gate(env, &v(version), &history, flag).map(|()| "ok".to_owned())
        };
        check("succeeded on canary", run(&gprd, "11.8.0", None), Ok("ok"));
        check(
            "failed on canary",
            run(&gprd, "11.8.1", None),
            Err((
                G,
                "gprd accepts only versions that succeeded on gprd-cny, and 11.8.1 has not (last: 11.8.0)",
                "wharf deploy 11.8.1 gprd-cny, or --ignore-production-checks REASON",
            )),
        );
        check(
            "never on canary",
            promotion_gate(&gprd, &v("11.9.0"), &[], None).map(|()| "ok".to_owned()),
            Err((
                G,
                "gprd accepts only versions that succeeded on gprd-cny, and 11.9.0 has not (none yet)",
                "wharf deploy 11.9.0 gprd-cny, or --ignore-production-checks REASON",
            )),
        );
        check("override with reason", run(&gprd, "11.8.1", Some("incident #123 fix")), Ok("ok"));
        check(
            "override without reason",
            run(&gprd, "11.8.1", Some("  ")),
            Err((
                G,
                "--ignore-production-checks needs a reason, recorded in the audit log",
                "--ignore-production-checks 'why it is safe'",
            )),
        );
        check("not production", run(&env("gstg2", Some("gstg"), false), "11.9.0", None), Ok("ok"));
        check("first in order", run(&env("gstg", None, true), "11.9.0", None), Ok("ok"));
    }

    #[test]
    fn downgrade_table() {
        let installed = BTreeMap::from([
            ("web01".to_owned(), v("11.8.1")),
            ("web02".to_owned(), v("1:11.0")),
            ("web03".to_owned(), v("11.8.0")),
        ]);
        let run = |target: &str, allow| {
            downgrade(&v(target), &installed, allow).map(|()| "ok".to_owned())
        };
        check("newer than all", run("2:1.0", false), Ok("ok"));
        check("equal to newest", run("1:11.0", false), Ok("ok"));
        check(
            "older, epoch wins",
            run("11.9", false),
            Err((
                GuardKind::Downgrade,
                "11.9 is older than 1:11.0, installed on web02",
                "--downgrade",
            )),
        );
        check(
            "older than several",
            run("11.8.0~rc1", false),
            Err((
                GuardKind::Downgrade,
                "11.8.0~rc1 is older than 1:11.0, installed on web02 (and 2 more nodes)",
                "--downgrade",
            )),
        );
        check("allowed", run("1.0", true), Ok("ok"));
        check(
            "nothing installed",
            downgrade(&v("1.0"), &BTreeMap::new(), false).map(|()| "ok".to_owned()),
            Ok("ok"),
        );
    }

    #[test]
    fn rollback_target_table() {
        use GuardKind::{PointOfNoReturn as P, RollbackTarget as R};
        let history = [
            outcome("gprd", "11.7.0", true, None, 1),
            outcome("gstg", "11.9.0", true, None, 2),
            outcome("gprd", "11.8.0", true, None, 3),
            outcome("gprd", "11.8.1", false, None, 4),
            outcome("gprd", "11.8.1", true, Some("post-deploy migrations"), 5),
            outcome("gprd", "11.8.2", true, None, 6),
        ];
        let run = |to: Option<&str>, reviewed: Option<&str>, force: Option<&str>| {
            rollback_target("gprd", &history, to.map(v).as_ref(), reviewed, force)
                .map(|t| format!("{} ({} back)", t.outcome.describe(), t.steps_back))
        };
        check("previous", run(None, None, None), Ok("11.8.1 (1 back)"));
        check("named previous", run(Some("11.8.1"), None, None), Ok("11.8.1 (1 back)"));
        check(
            "two back without review",
            run(Some("11.8.0"), None, Some("dbre ok")),
            Err((
                R,
                "11.8.0 is 2 successful versions back on gprd; rolling back more than one version needs a review",
                "--reviewed-by NAME",
            )),
        );
        check(
            "past a point of no return",
            run(Some("11.8.0"), Some("bob"), None),
            Err((
                P,
                "post-deploy migrations ran in 11.8.1; rolling back needs --force REASON",
                "--force REASON",
            )),
        );
        check(
            "reviewed and forced",
            run(Some("11.8.0"), Some("bob"), Some("reverted by DBRE")),
            Ok("11.8.0 (2 back)"),
        );
        check(
            "blank force",
            run(Some("11.8.0"), Some("bob"), Some(" ")),
            Err((
                P,
                "post-deploy migrations ran in 11.8.1; rolling back needs --force REASON",
                "--force REASON",
            )),
        );
        check("three back", run(Some("11.7.0"), Some("bob"), Some("yes")), Ok("11.7.0 (3 back)"));
        check(
            "never succeeded",
            run(Some("11.9.0"), None, None),
            Err((R, "11.9.0 never succeeded on gprd (now at 11.8.2)", "wharf deploy VERSION gprd")),
        );
        check(
            "no history",
            rollback_target("dev", &history, None, None, None).map(|_| String::new()),
            Err((R, "dev has no deploy to roll back", "wharf deploy VERSION dev")),
        );
        let once = [outcome("gprd", "11.8.0", true, None, 1)];
        check(
            "nothing earlier",
            rollback_target("gprd", &once, None, None, None).map(|_| String::new()),
            Err((
                R,
                "no earlier version succeeded on gprd (now at 11.8.0)",
                "wharf deploy VERSION gprd",
            )),
        );
        // A failed current deploy rolls back to the last success, even the same version.
        let failed = [
            outcome("gprd", "11.8.0", true, None, 1),
            outcome("gprd", "11.8.1", false, Some("post-deploy migrations"), 2),
        ];
        check(
            "failed deploy that passed its point of no return",
            rollback_target("gprd", &failed, None, None, None).map(|_| String::new()),
            Err((
                P,
                "post-deploy migrations ran in 11.8.1; rolling back needs --force REASON",
                "--force REASON",
            )),
        );
        check(
            "failed deploy, forced",
            rollback_target("gprd", &failed, None, None, Some("r")).map(|t| t.outcome.describe()),
            Ok("11.8.0"),
        );
    }

    fn lock_at(env: Option<&str>, holder: &str, since: Timestamp) -> Lock {
        Lock {
            environment: env.map(str::to_owned),
            holder: holder.to_owned(),
            reason: "incident #123".to_owned(),
            since,
        }
    }

    #[test]
    fn lock_table() {
        use GuardKind::Lock as L;
        let today = at("2026-12-01T10:02:00Z");
        let yesterday = at("2026-11-30T23:59:00+01:00");
        let locks =
            [lock_at(Some("gprd"), "alice", today), lock_at(Some("gstg"), "bob", yesterday)];
        let deploy =
            |env: &str, locks: &[Lock]| deploy_lock(env, locks, now()).map(|()| "ok".to_owned());
        check(
            "locked",
            deploy("gprd", &locks),
            Err((
                L,
                "gprd is locked by alice since 10:02 UTC (\"incident #123\")",
                "wharf unlock gprd",
            )),
        );
        check(
            "locked yesterday",
            deploy("gstg", &locks),
            Err((
                L,
                "gstg is locked by bob since 2026-11-30 22:59 UTC (\"incident #123\")",
                "wharf unlock gstg",
            )),
        );
        check("free", deploy("gprd-cny", &locks), Ok("ok"));
        let global = [lock_at(None, "carol", at("2026-11-29T08:00:00Z"))];
        check(
            "global",
            deploy("gprd-cny", &global),
            Err((
                L,
                "every environment is locked by carol since 2026-11-29 08:00 UTC (\"incident #123\")",
                "wharf unlock --all",
            )),
        );
        let relock = |env: Option<&str>, actor: &str, steal: Option<&str>| {
            lock(env, actor, &locks, steal, now()).map(|()| "ok".to_owned())
        };
        check("own lock", relock(Some("gprd"), "alice", None), Ok("ok"));
        check(
            "someone else's",
            relock(Some("gprd"), "bob", None),
            Err((
                L,
                "gprd is locked by alice since 10:02 UTC (\"incident #123\")",
                "wharf lock gprd --steal REASON, or ask alice to unlock",
            )),
        );
        check(
            "steal with reason",
            relock(Some("gprd"), "bob", Some("alice is off shift")),
            Ok("ok"),
        );
        check(
            "steal without reason",
            relock(Some("gprd"), "bob", Some("")).map(|_| String::new()),
            Err((
                L,
                "gprd is locked by alice since 10:02 UTC (\"incident #123\")",
                "wharf lock gprd --steal REASON, or ask alice to unlock",
            )),
        );
        check("unlocked env", relock(Some("gprd-cny"), "bob", None), Ok("ok"));
        check(
            "global over global",
            lock(None, "dave", &global, None, now()).map(|()| String::new()),
            Err((
                L,
                "every environment is locked by carol since 2026-11-29 08:00 UTC (\"incident #123\")",
                "wharf lock --all --steal REASON, or ask carol to unlock",
            )),
        );
    }

    #[test]
    fn hold_table() {
        let holds = [Hold {
            package: "gitlab-ce".to_owned(),
            environment: "dev".to_owned(),
            holder: "alice".to_owned(),
            reason: "nightly broke sidekiq".to_owned(),
            since: at("2026-12-01T07:40:00Z"),
        }];
        let run = |env: &str, pkg: &str| {
            hold(env, &[pkg.to_owned()], &holds, now()).map(|()| "ok".to_owned())
        };
        check(
            "held",
            run("dev", "gitlab-ce"),
            Err((
                GuardKind::Hold,
                "gitlab-ce is held on dev by alice since 07:40 UTC (\"nightly broke sidekiq\")",
                "wharf unhold gitlab-ce --env dev",
            )),
        );
        check("other env", run("gstg", "gitlab-ce"), Ok("ok"));
        check("other package", run("dev", "gitlab-ee"), Ok("ok"));
    }
}
