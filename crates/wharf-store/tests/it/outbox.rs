//! Conformance cases for the notification outbox (`wharf_store::outbox`): run by the suite
//! in `conformance.rs` on both backends.

use serde_json::json;
use wharf_store::guard::{EnvLock, LockOutcome};
use wharf_store::outbox::Done;
use wharf_store::{NewAuditEntry, Store};

use crate::conformance::TestDb;
use crate::deploy::record;

async fn outbox(store: &Store) -> Vec<wharf_store::outbox::OutboxRow> {
    store.outbox_after(0, 1000).await.unwrap()
}

/// Announced audit actions get their row in the audit entry's transaction, whatever
/// method appends the entry; other actions, refused changes and plain deploy events get
/// none; downgrade announcements do, with their text and environment.
pub(crate) async fn outbox_rows_commit_with_what_they_announce(db: &TestDb) {
    let store = &db.store;
    store.append_audit(NewAuditEntry::new("alice", "note", "gstg")).await.unwrap();
    assert!(outbox(store).await.is_empty(), "a note is not announced");

    let lock = EnvLock {
        environment: "gprd".into(),
        holder: "alice".into(),
        reason: "incident #123".into(),
        since: "2026-12-01T10:02:00.000Z".into(),
        until: None,
    };
    let entry = NewAuditEntry::new("alice", "lock", "gprd").reason("incident #123");
    let LockOutcome::Locked(audited) = store.lock_environment(&lock, false, &entry).await.unwrap()
    else {
        panic!("not locked")
    };
    let mut bob = lock.clone();
    bob.holder = "bob".into();
    let refused = NewAuditEntry::new("bob", "lock", "gprd");
    assert!(matches!(
        store.lock_environment(&bob, false, &refused).await.unwrap(),
        LockOutcome::HeldBy(_)
    ));
    let rows = outbox(store).await;
    assert_eq!(rows.len(), 1, "a refused lock announces nothing: {rows:?}");
    let row = &rows[0];
    assert_eq!((row.kind.as_str(), row.environment.as_str()), ("lock", "gprd"));
    assert_eq!(row.audit_id, Some(audited.id));
    assert_eq!(row.actor.as_deref(), Some("alice"));
    assert_eq!(row.reason.as_deref(), Some("incident #123"));
    assert_eq!(row.created_at, audited.at);
    assert_eq!(row.event_id.len(), 32);

    let (deploy, _) = store
        .create_deploy(&record("gstg", "11.8.0-ee.0"), |id| {
            NewAuditEntry::new("alice", "deploy.start", "gstg").details(json!({ "deploy": id }))
        })
        .await
        .unwrap();
    store.append_deploy_event(deploy, "stage.finished", &json!({ "stage": "x" })).await.unwrap();
    let text = "I will be manually downgrading package on gstg to gitlab-ee 11.7.0-ee.0.";
    let event =
        store.append_deploy_event(deploy, "downgrade.announced", &json!({ "text": text })).await;
    let event = event.unwrap();
    let rows = outbox(store).await;
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["lock", "deploy.start", "downgrade.announced"]);
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(rows[1].deploy_id, Some(deploy));
    let announced = &rows[2];
    assert_eq!(announced.deploy_event_id, Some(event));
    assert_eq!((announced.deploy_id, announced.environment.as_str()), (Some(deploy), "gstg"));
    assert_eq!(announced.body["text"], text);
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "event ids are distinct");
    assert_eq!(store.outbox_after(rows[1].id, 10).await.unwrap(), rows[2..].to_vec());
    let n = db.raw.scalar_i64("SELECT COUNT(*) FROM outbox WHERE audit_id IS NOT NULL").await;
    assert_eq!(n, 2);
}

/// One owner delivers to a destination at a time; progress only moves forward, and only
/// for the owner; attempts are counted; a new destination skips rows too old to announce.
pub(crate) async fn outbox_destinations_are_leased_and_progress_in_order(db: &TestDb) {
    let store = &db.store;
    for env in ["a", "b", "c"] {
        store.append_audit(NewAuditEntry::new("alice", "unlock", env)).await.unwrap();
    }
    let rows = outbox(store).await;
    let (first, second) = (rows[0].id, rows[1].id);
    let long_ago = "2000-01-01T00:00:00.000Z";
    let claim = |owner: &'static str, now: i64| {
        store.outbox_claim("slack", owner, now, now + 30_000, long_ago)
    };
    assert_eq!(claim("one", 1000).await.unwrap(), Some(0));
    assert_eq!(claim("two", 2000).await.unwrap(), None, "leased to one");
    assert_eq!(claim("one", 2000).await.unwrap(), Some(0), "renewed by its owner");

    let failed = store.outbox_failed(first, "slack", "503 Service Unavailable", 5000).await;
    assert_eq!(failed.unwrap().attempts, 1);
    let failed = store.outbox_failed(first, "slack", "connection refused", 7000).await.unwrap();
    assert_eq!((failed.attempts, failed.next_attempt_ms), (2, 7000));
    assert_eq!(failed.last_error.as_deref(), Some("connection refused"));
    assert!(store.outbox_done(first, "slack", "one", Done::Delivered).await.unwrap());
    let delivered = store.outbox_delivery(first, "slack").await.unwrap().unwrap();
    assert_eq!(delivered.attempts, 3);
    assert!(delivered.delivered_at.is_some());
    assert!(
        !store.outbox_done(first, "slack", "one", Done::Skipped).await.unwrap(),
        "no going back"
    );
    assert!(!store.outbox_done(second, "slack", "two", Done::Skipped).await.unwrap(), "not owner");
    assert!(store.outbox_delivery(second, "slack").await.unwrap().is_none());

    store.outbox_release("slack", "one").await.unwrap();
    assert_eq!(claim("two", 3000).await.unwrap(), Some(first), "taken over where one stopped");
    assert!(store.outbox_done(second, "slack", "two", Done::GaveUp("too old")).await.unwrap());
    let gave_up = store.outbox_delivery(second, "slack").await.unwrap().unwrap();
    assert!(gave_up.last_error.unwrap().contains("too old") && gave_up.delivered_at.is_none());
    assert_eq!(claim("one", 40_000).await.unwrap(), Some(second), "an expired lease is taken");

    let later = store.outbox_claim("hook", "one", 1000, 2000, "2999-01-01T00:00:00.000Z").await;
    assert_eq!(later.unwrap(), Some(rows[2].id), "a new destination skips old rows");
    assert!(store.outbox_delivery(first, "hook").await.unwrap().is_none());
}
