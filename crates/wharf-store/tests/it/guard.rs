//! Conformance cases for the guard-rail state (`wharf_store::guard`): run by the suite in
//! `conformance.rs` on both backends.

use wharf_store::guard::{EnvLock, Lease, LockOutcome, PackageHold};
use wharf_store::{AuditQuery, NewAuditEntry, Store};

use crate::conformance::TestDb;

async fn n_entries(store: &Store) -> usize {
    store.audit(&AuditQuery::default()).await.unwrap().len()
}

fn lock(environment: &str, holder: &str, reason: &str) -> EnvLock {
    EnvLock {
        environment: environment.into(),
        holder: holder.into(),
        reason: reason.into(),
        since: "2026-12-01T10:02:00.000Z".into(),
        until: None,
    }
}

fn entry(actor: &str, action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry::new(actor, action, target)
}

/// Someone else's lock is never replaced without `steal`; every change is audited, every
/// refusal writes nothing.
pub(crate) async fn guard_locks_are_never_silently_replaced(db: &TestDb) {
    let store = &db.store;
    let locked = store
        .lock_environment(
            &lock("gprd", "alice", "incident #123"),
            false,
            &entry("alice", "lock", "gprd"),
        )
        .await
        .unwrap();
    assert!(matches!(locked, LockOutcome::Locked(ref e) if e.action == "lock"), "{locked:?}");
    let refused = store
        .lock_environment(&lock("gprd", "bob", "release"), false, &entry("bob", "lock", "gprd"))
        .await
        .unwrap();
    match refused {
        LockOutcome::HeldBy(held) => {
            assert_eq!((held.holder.as_str(), held.reason.as_str()), ("alice", "incident #123"));
        }
        other => panic!("bob replaced alice's lock: {other:?}"),
    }
    assert_eq!(n_entries(store).await, 1, "a refused lock writes no entry");
    // Her own lock is renewed; bob may steal it with a reason.
    let renewed = store
        .lock_environment(
            &lock("gprd", "alice", "still #123"),
            false,
            &entry("alice", "lock", "gprd"),
        )
        .await
        .unwrap();
    assert!(matches!(renewed, LockOutcome::Locked(_)));
    let stolen = store
        .lock_environment(
            &lock("gprd", "bob", "hotfix"),
            true,
            &entry("bob", "lock.steal", "gprd").reason("alice is offline"),
        )
        .await
        .unwrap();
    assert!(
        matches!(stolen, LockOutcome::Locked(ref e) if e.reason.as_deref() == Some("alice is offline"))
    );
    store
        .lock_environment(&lock("*", "carol", "freeze"), false, &entry("carol", "lock", "*"))
        .await
        .unwrap();
    let locks = store.locks().await.unwrap();
    let holders: Vec<(&str, &str)> =
        locks.iter().map(|l| (l.environment.as_str(), l.holder.as_str())).collect();
    assert_eq!(holders, [("*", "carol"), ("gprd", "bob")]);
    assert!(
        store.unlock_environment("gprd", &entry("bob", "unlock", "gprd")).await.unwrap().is_some()
    );
    assert!(
        store.unlock_environment("gprd", &entry("bob", "unlock", "gprd")).await.unwrap().is_none()
    );
    assert_eq!(n_entries(store).await, 5);
    // A lock past its `until` is gone: replaced without stealing.
    let until = EnvLock {
        until: Some("2026-12-01T12:00:00.000Z".into()),
        ..lock("gstg", "dave", "freeze")
    };
    store.lock_environment(&until, false, &entry("dave", "lock", "gstg")).await.unwrap();
    let early = EnvLock { since: "2026-12-01T11:59:59.999Z".into(), ..lock("gstg", "erin", "x") };
    let refused =
        store.lock_environment(&early, false, &entry("erin", "lock", "gstg")).await.unwrap();
    assert!(matches!(refused, LockOutcome::HeldBy(_)), "still in force: {refused:?}");
    let late = EnvLock { since: "2026-12-01T12:00:00.000Z".into(), ..lock("gstg", "erin", "x") };
    let replaced =
        store.lock_environment(&late, false, &entry("erin", "lock", "gstg")).await.unwrap();
    assert!(matches!(replaced, LockOutcome::Locked(_)), "expired: {replaced:?}");
    assert!(store.verify_audit().await.unwrap().ok);
}

/// Holds and maintenance: recorded once, audited, refused or no-op changes write nothing.
pub(crate) async fn guard_holds_and_maintenance(db: &TestDb) {
    let store = &db.store;
    let hold = PackageHold {
        environment: "dev".into(),
        package: "gitlab-ee".into(),
        holder: "dana".into(),
        reason: "nightly broke login".into(),
        since: "2026-12-01T07:30:00.000Z".into(),
    };
    assert!(store.hold_package(&hold, &entry("dana", "hold", "dev")).await.unwrap().is_some());
    assert!(store.hold_package(&hold, &entry("dana", "hold", "dev")).await.unwrap().is_none());
    assert_eq!(store.holds().await.unwrap(), std::slice::from_ref(&hold));
    let nodes = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    store
        .start_maintenance(
            &nodes(&["w1", "w2"]),
            "erin",
            "disk swap",
            "2026-12-01T08:00:00.000Z",
            &entry("erin", "maintenance.start", "w[1-2]"),
        )
        .await
        .unwrap();
    let in_maintenance: Vec<String> =
        store.maintenance().await.unwrap().into_iter().map(|m| m.node).collect();
    assert_eq!(in_maintenance, ["w1", "w2"]);
    assert!(
        store
            .stop_maintenance(&nodes(&["w2", "w3"]), &entry("erin", "maintenance.stop", "w[2-3]"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .stop_maintenance(&nodes(&["w3"]), &entry("erin", "maintenance.stop", "w3"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.maintenance().await.unwrap().len(), 1);
    assert!(
        store
            .unhold_package("dev", "gitlab-ee", &entry("dana", "unhold", "dev"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .unhold_package("dev", "gitlab-ee", &entry("dana", "unhold", "dev"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.holds().await.unwrap().is_empty());
    assert_eq!(n_entries(store).await, 4);
    assert!(store.verify_audit().await.unwrap().ok);
}

/// One deploy per environment: a lease is taken only when absent, expired or already the
/// same deploy's; of many racing deploys exactly one gets it. The clock is a parameter.
pub(crate) async fn guard_leases_one_deploy_per_environment(db: &TestDb) {
    let store = &db.store;
    let lease = |deploy_id: i64, expires_ms: i64| Lease {
        environment: "gstg".into(),
        deploy_id,
        owner: format!("host:{deploy_id}"),
        expires_ms,
    };
    assert_eq!(store.acquire_lease(&lease(1, 1_000), 0).await.unwrap(), Ok(()));
    assert_eq!(store.acquire_lease(&lease(2, 1_500), 500).await.unwrap(), Err(lease(1, 1_000)));
    assert_eq!(store.acquire_lease(&lease(1, 1_200), 600).await.unwrap(), Ok(()), "its own");
    assert!(store.renew_lease(&lease(1, 2_000)).await.unwrap());
    assert!(store.acquire_lease(&lease(2, 3_000), 1_999).await.unwrap().is_err());
    // Deploy 1 stopped renewing (killed): once expired, deploy 2 takes over.
    assert_eq!(store.acquire_lease(&lease(2, 3_000), 2_000).await.unwrap(), Ok(()));
    assert_eq!(store.leases().await.unwrap(), [lease(2, 3_000)], "the lease is listed");
    assert!(!store.renew_lease(&lease(1, 4_000)).await.unwrap(), "no longer deploy 1's");
    assert!(!store.release_lease("gstg", 1).await.unwrap());
    assert!(store.release_lease("gstg", 2).await.unwrap());

    let racers: Vec<_> = (10..18)
        .map(|deploy_id| {
            let store = store.clone();
            let lease = Lease {
                environment: "gprd".into(),
                deploy_id,
                owner: format!("host:{deploy_id}"),
                expires_ms: 60_000,
            };
            tokio::spawn(async move { store.acquire_lease(&lease, 1_000).await.unwrap().is_ok() })
        })
        .collect();
    let mut n_won = 0;
    for racer in racers {
        n_won += usize::from(racer.await.unwrap());
    }
    assert_eq!(n_won, 1, "exactly one racing deploy gets the lease");
}

/// Schedule runs: each fire time is claimed by exactly one caller, even racing.
pub(crate) async fn schedule_fire_times_are_claimed_once(db: &TestDb) {
    let store = &db.store;
    let fire = "2026-12-01T07:20:00.000Z";
    assert!(store.claim_schedule("nightly", fire, "server-a", "running").await.unwrap());
    assert!(!store.claim_schedule("nightly", fire, "server-b", "running").await.unwrap());
    assert!(
        !store
            .claim_schedule("nightly", "2026-11-30T07:20:00.000Z", "server-b", "running")
            .await
            .unwrap(),
        "an earlier one"
    );
    store.finish_schedule("nightly", fire, "succeeded", "2026-12-01T07:21:00.000Z").await.unwrap();
    let runs = store.schedule_runs().await.unwrap();
    assert_eq!(
        (runs[0].claimed_by.as_str(), runs[0].result.as_str(), runs[0].finished_at.as_deref()),
        ("server-a", "succeeded", Some("2026-12-01T07:21:00.000Z"))
    );
    let next = "2026-12-02T07:20:00.000Z";
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim_schedule("nightly", next, &format!("server-{i}"), "running")
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one of eight servers runs the fire time");
}
