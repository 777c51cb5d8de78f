//! Conformance cases for API tokens (`wharf_store::token`): run by the suite in
//! `conformance.rs` on both backends.

use wharf_store::token::TokenRecord;
use wharf_store::{AuditQuery, NewAuditEntry, Store};

use crate::conformance::TestDb;

async fn n_entries(store: &Store) -> usize {
    store.audit(&AuditQuery::default()).await.unwrap().len()
}

fn token(name: &str, role: &str, hash: &str) -> TokenRecord {
    TokenRecord {
        name: name.into(),
        role: role.into(),
        automated: name.starts_with("ci"),
        hash: hash.into(),
        created_at: "2026-12-01T10:00:00.000Z".into(),
        created_by: "alice".into(),
        expires_at: (name == "ci-upload").then(|| "2027-03-01T10:00:00.000Z".into()),
        revoked_at: None,
    }
}

/// Tokens are created with their entry, names are unique, revoking is audited once, and
/// the listing returns every field as written.
pub(crate) async fn token_create_list_revoke(db: &TestDb) {
    let store = &db.store;
    let ci = token("ci-upload", "publisher", &"a".repeat(64));
    let entry = store
        .create_token(&ci, &NewAuditEntry::new("alice", "token.create", "ci-upload"))
        .await
        .unwrap()
        .expect("created");
    assert_eq!(entry.action, "token.create");
    let bob = token("bob", "deployer", &"b".repeat(64));
    store.create_token(&bob, &NewAuditEntry::new("alice", "token.create", "bob")).await.unwrap();
    // A taken name is refused and writes nothing.
    let again = token("bob", "admin", &"c".repeat(64));
    let refused =
        store.create_token(&again, &NewAuditEntry::new("eve", "token.create", "bob")).await;
    assert_eq!(refused.unwrap(), None);
    assert_eq!(n_entries(store).await, 2);

    let listed = store.tokens().await.unwrap();
    assert_eq!(listed, vec![bob.clone(), ci.clone()], "by name, every field");
    assert!(listed[1].automated && !listed[0].automated);
    assert!(!format!("{:?}", listed[1]).contains("aaaa"), "Debug leaves the hash out");

    let at = "2026-12-02T09:00:00.000Z";
    let revoked =
        store.revoke_token("bob", at, &NewAuditEntry::new("alice", "token.revoke", "bob")).await;
    assert_eq!(revoked.unwrap().expect("revoked").action, "token.revoke");
    // Revoking again, or a token that does not exist, changes nothing.
    for name in ["bob", "nobody"] {
        let entry = NewAuditEntry::new("alice", "token.revoke", name);
        assert_eq!(store.revoke_token(name, at, &entry).await.unwrap(), None);
    }
    assert_eq!(n_entries(store).await, 3);
    let bob = store.tokens().await.unwrap().into_iter().find(|t| t.name == "bob").unwrap();
    assert_eq!(bob.revoked_at.as_deref(), Some(at));
}

/// Every change of the token or deploy table, by the store or by any other writer (raw
/// SQL here, as a script would), bumps that table's counter and only that one; a refused
/// change bumps nothing. The server trusts its in-memory copies on exactly this.
pub(crate) async fn change_counters_follow_every_writer(db: &TestDb) {
    let store = &db.store;
    let start = store.change_counters().await.unwrap();
    let ci = token("ci", "publisher", &"d".repeat(64));
    store.create_token(&ci, &NewAuditEntry::new("alice", "token.create", "ci")).await.unwrap();
    let created = store.change_counters().await.unwrap();
    assert!(created.tokens > start.tokens, "{start:?} → {created:?}");
    assert_eq!(created.deploys, start.deploys);
    // Refused: the name is taken. Nothing changed, nothing bumped.
    let entry = NewAuditEntry::new("alice", "token.create", "ci");
    assert_eq!(store.create_token(&ci, &entry).await.unwrap(), None);
    assert_eq!(store.change_counters().await.unwrap(), created);
    let at = "2026-12-02T09:00:00.000Z";
    store.revoke_token("ci", at, &NewAuditEntry::new("alice", "token.revoke", "ci")).await.unwrap();
    let revoked = store.change_counters().await.unwrap();
    assert!(revoked.tokens > created.tokens);

    db.raw
        .execute(
            "INSERT INTO deploy (environment, state, started_at, body)
             VALUES ('gstg', 'succeeded', '2026-12-01T10:00:00Z', '{}')",
        )
        .await;
    let inserted = store.change_counters().await.unwrap();
    assert!(inserted.deploys > revoked.deploys);
    assert_eq!(inserted.tokens, revoked.tokens);
    db.raw.execute("UPDATE deploy SET state = 'failed'").await;
    let updated = store.change_counters().await.unwrap();
    assert!(updated.deploys > inserted.deploys);
    db.raw.execute("UPDATE api_token SET role = 'admin' WHERE name = 'ci'").await;
    assert!(store.change_counters().await.unwrap().tokens > updated.tokens);
}
