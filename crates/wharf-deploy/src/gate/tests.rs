//! Tests of the guards: one `check(...)` table per decision, with an injected clock.

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
fn check(name: &str, got: Result<String, Refusal>, want: Result<&str, (GuardKind, &str, &str)>) {
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
    let run =
        |target: &str, allow| downgrade(&v(target), &installed, allow).map(|()| "ok".to_owned());
    check("newer than all", run("2:1.0", false), Ok("ok"));
    check("equal to newest", run("1:11.0", false), Ok("ok"));
    check(
        "older, epoch wins",
        run("11.9", false),
        Err((GuardKind::Downgrade, "11.9 is older than 1:11.0, installed on web02", "--downgrade")),
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
    let locks = [lock_at(Some("gprd"), "alice", today), lock_at(Some("gstg"), "bob", yesterday)];
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
    check("steal with reason", relock(Some("gprd"), "bob", Some("alice is off shift")), Ok("ok"));
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
