//! The conformance suite: one set of cases, each run on a fresh, empty store of the
//! backend under test. Every backend must pass all of them unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use wharf_store::{
    AptKind, AptMemberRow, AptPackageRow, AuditBreakKind, AuditQuery, NewAuditEntry, Store,
};

/// A fresh store plus the means to reopen it and to tamper with it behind its back.
pub(crate) struct TestDb {
    pub(crate) store: Store,
    pub(crate) url: String,
    pub(crate) raw: Raw,
}

/// Raw SQL on a separate connection, for tampering and for checks the API does not offer.
pub(crate) enum Raw {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Raw {
    pub(crate) async fn execute(&self, sql: &str) {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(path) => {
                let mut conn = sqlite_conn(path).await;
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            }
            Raw::Postgres(url) => {
                let mut conn = PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            }
        }
    }

    pub(crate) async fn scalar_i64(&self, sql: &str) -> i64 {
        self.scalar::<i64>(sql).await
    }

    pub(crate) async fn scalar<T>(&self, sql: &str) -> T
    where
        T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(path) => {
                let mut conn = sqlite_conn(path).await;
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
            Raw::Postgres(url) => {
                let mut conn = PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }
}

async fn sqlite_conn(path: &Path) -> SqliteConnection {
    let options = SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(30));
    SqliteConnection::connect_with(&options).await.unwrap()
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        /// Runs every case on its own fresh store, printing each case's time.
        pub(crate) async fn run_all(fresh: impl AsyncFn(&str) -> TestDb) {
            $(
                let started = Instant::now();
                let db = fresh(stringify!($case)).await;
                $case(&db).await;
                db.store.close().await;
                eprintln!("  {} ok in {} ms", stringify!($case), started.elapsed().as_millis());
            )*
        }
    };
}

suite!(
    open_twice_is_idempotent,
    append_list_filter_limit,
    verify_accepts_intact_chain,
    verify_reports_tampering,
    meta_get_set_overwrite,
    concurrent_appends_keep_chain,
    apt_repository_story,
    apt_changes_span_many_statements,
);

fn entry(actor: &str, action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        reason: None,
        details: json!({}),
    }
}

async fn append_n(store: &Store, n: usize) {
    for idx in 0..n {
        let mut new = entry("alice", "note", "gstg");
        new.details = json!({ "idx": idx });
        store.append_audit(new).await.unwrap();
    }
}

async fn open_twice_is_idempotent(db: &TestDb) {
    let store = &db.store;
    assert!(["sqlite", "postgres"].contains(&store.backend()));
    assert!(!store.url().contains("not-a-secret"), "{}", store.url());
    let created_at = store.get_meta("store.created_at").await.unwrap().expect("created_at set");
    append_n(store, 2).await;

    let again = Store::open(&db.url).await.unwrap();
    assert_eq!(again.backend(), store.backend());
    assert_eq!(again.get_meta("store.created_at").await.unwrap(), Some(created_at));
    assert_eq!(again.audit(&AuditQuery::default()).await.unwrap().len(), 2);
    again.close().await;
    let third = Store::open(&db.url).await.unwrap();
    third.close().await;
    let n_migrations = db.raw.scalar_i64("SELECT COUNT(*) FROM schema_migrations").await;
    assert_eq!(n_migrations, 3);
}

async fn append_list_filter_limit(db: &TestDb) {
    let store = &db.store;
    let mut first = entry("alice", "deploy.start", "gstg");
    first.reason = Some("hotfix for INC-42".into());
    first.details = json!({"version": "11.8.0", "nodes": ["web01", "web02"], "n": 2, "ok": true});
    let appended = store.append_audit(first.clone()).await.unwrap();
    assert_eq!(appended.id, 1);
    assert_eq!(appended.prev_hash, "0".repeat(64));
    assert_eq!(appended.hash.len(), 64);
    assert!(appended.at.ends_with('Z'), "{}", appended.at);
    assert_eq!((appended.reason.clone(), appended.details.clone()), (first.reason, first.details));

    store.append_audit(entry("bob", "config.check", "gprd")).await.unwrap();
    store.append_audit(entry("alice", "deploy.finish", "gstg")).await.unwrap();
    store.append_audit(entry("carol", "deployment.note", "gstg")).await.unwrap();
    store.append_audit(entry("bob", "deploy.start", "gprd")).await.unwrap();

    let all = store.audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(all[0], appended, "listed entry equals the appended one");
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert!(pair[1].at >= pair[0].at);
    }

    let ids = |query: AuditQuery| async move {
        store.audit(&query).await.unwrap().iter().map(|e| e.id).collect::<Vec<_>>()
    };
    let prefix = |p: &str| Some(p.to_owned());
    assert_eq!(
        ids(AuditQuery { action_prefix: prefix("deploy."), ..Default::default() }).await,
        [1, 3, 5]
    );
    assert_eq!(
        ids(AuditQuery { action_prefix: prefix("deploy"), ..Default::default() }).await,
        [1, 3, 4, 5]
    );
    assert_eq!(
        ids(AuditQuery { action_prefix: prefix("DEPLOY"), ..Default::default() }).await,
        [0; 0]
    );
    assert_eq!(
        ids(AuditQuery { action_prefix: prefix("deploy_%"), ..Default::default() }).await,
        [0; 0]
    );
    assert_eq!(ids(AuditQuery { target: prefix("gprd"), ..Default::default() }).await, [2, 5]);
    assert_eq!(ids(AuditQuery { limit: Some(2), ..Default::default() }).await, [1, 2]);
    assert_eq!(ids(AuditQuery { limit: Some(0), ..Default::default() }).await, [0; 0]);
    assert_eq!(
        ids(AuditQuery { limit: Some(2), newest: true, ..Default::default() }).await,
        [4, 5]
    );
    assert_eq!(
        ids(AuditQuery {
            action_prefix: prefix("deploy"),
            limit: Some(3),
            newest: true,
            ..Default::default()
        })
        .await,
        [3, 4, 5]
    );
    assert_eq!(ids(AuditQuery { after_id: Some(3), ..Default::default() }).await, [4, 5]);
    let combined = AuditQuery {
        action_prefix: prefix("deploy."),
        target: prefix("gstg"),
        limit: Some(1),
        after_id: Some(1),
        newest: false,
    };
    assert_eq!(ids(combined).await, [3]);
}

async fn verify_accepts_intact_chain(db: &TestDb) {
    let store = &db.store;
    let empty = store.verify_audit().await.unwrap();
    assert!(empty.ok && empty.n_entries == 0 && empty.last_id.is_none(), "{empty:?}");

    append_n(store, 1200).await; // more than one verification page
    let report = store.verify_audit().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.n_entries, report.last_id), (1200, Some(1200)));
    let last =
        store.audit(&AuditQuery { after_id: Some(1199), ..Default::default() }).await.unwrap();
    assert_eq!(report.last_hash.as_deref(), Some(last[0].hash.as_str()));
}

async fn verify_reports_tampering(db: &TestDb) {
    let store = &db.store;
    append_n(store, 5).await;
    let check = |id: i64, kind: AuditBreakKind| async move {
        let report = store.verify_audit().await.unwrap();
        assert!(!report.ok, "{report:?}");
        let brk = report.first_break.expect("a break");
        assert_eq!((brk.id, brk.kind), (id, kind), "{}", brk.message);
    };

    db.raw.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 3").await;
    check(3, AuditBreakKind::HashMismatch).await;
    db.raw.execute("UPDATE audit_log SET actor = 'alice' WHERE id = 3").await;
    assert!(store.verify_audit().await.unwrap().ok);

    db.raw.execute("UPDATE audit_log SET details = '{\"idx\":1 }' WHERE id = 2").await;
    check(2, AuditBreakKind::HashMismatch).await;
    db.raw.execute("UPDATE audit_log SET details = '{\"idx\":1}' WHERE id = 2").await;

    db.raw.execute("DELETE FROM audit_log WHERE id = 5").await;
    check(5, AuditBreakKind::HeadMismatch).await;

    db.raw.execute("DELETE FROM audit_log WHERE id = 2").await;
    check(3, AuditBreakKind::IdGap).await;
}

async fn meta_get_set_overwrite(db: &TestDb) {
    let store = &db.store;
    assert_eq!(store.get_meta("signing.key_id").await.unwrap(), None);
    store.set_meta("signing.key_id", "k1").await.unwrap();
    assert_eq!(store.get_meta("signing.key_id").await.unwrap().as_deref(), Some("k1"));
    store.set_meta("signing.key_id", "k2 — ünïcode ✓").await.unwrap();
    assert_eq!(store.get_meta("signing.key_id").await.unwrap().as_deref(), Some("k2 — ünïcode ✓"));
    store.set_meta("empty", "").await.unwrap();
    assert_eq!(store.get_meta("empty").await.unwrap().as_deref(), Some(""));
    assert!(store.get_meta("store.created_at").await.unwrap().is_some());
}

async fn concurrent_appends_keep_chain(db: &TestDb) {
    const N_TASKS: usize = 8;
    const N_EACH: usize = 25;
    let mut tasks = Vec::new();
    for task_idx in 0..N_TASKS {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 0..N_EACH {
                let mut new = entry(&format!("task-{task_idx}"), "note", "");
                new.details = json!({ "seq": seq });
                store.append_audit(new).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let all = db.store.audit(&AuditQuery::default()).await.unwrap();
    let expected: Vec<i64> = (1..=i64::try_from(N_TASKS * N_EACH).unwrap()).collect();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), expected);
    let mut next_seq: HashMap<&str, u64> = HashMap::new();
    for e in &all {
        let seq = next_seq.entry(e.actor.as_str()).or_default();
        assert_eq!(e.details["seq"].as_u64(), Some(*seq), "per-task order kept");
        *seq += 1;
    }
    let report = db.store.verify_audit().await.unwrap();
    assert!(report.ok, "{report:?}");
}

fn apt_member(name: &str, sha256: &str) -> AptMemberRow {
    AptMemberRow {
        package: AptPackageRow {
            sha256: sha256.into(),
            name: name.into(),
            version: "1.0".into(),
            architecture: "all".into(),
            size: 42,
            md5: "m".into(),
            sha1: "s".into(),
            control: format!("Package: {name}\nDescription: café\n\tdéjà vu\n .\n"),
        },
        component: "main".into(),
    }
}

/// Repositories, members with generations, snapshots and publishes, end to end.
async fn apt_repository_story(db: &TestDb) {
    let store = &db.store;
    assert!(store.apt_create_collection(AptKind::Repo, "tools", "{}").await.unwrap());
    assert!(!store.apt_create_collection(AptKind::Repo, "tools", "{}").await.unwrap());
    let add = [apt_member("aa", "sha-a"), apt_member("bb", "sha-b")];
    assert_eq!(store.apt_change_members(AptKind::Repo, "tools", &add, &[]).await.unwrap(), Some(1));
    assert_eq!(store.apt_change_members(AptKind::Repo, "nope", &add, &[]).await.unwrap(), None);
    let listed = store.apt_collections(AptKind::Repo, None).await.unwrap();
    assert_eq!((listed.len(), listed[0].n_packages, listed[0].generation), (1, 2, 1));
    assert_eq!(store.apt_collections(AptKind::Repo, Some("tools")).await.unwrap().len(), 1);
    assert!(store.apt_collections(AptKind::Repo, Some("other")).await.unwrap().is_empty());

    assert!(store.apt_snapshot("tools", "snap1", "{}").await.unwrap());
    assert!(!store.apt_snapshot("tools", "snap1", "{}").await.unwrap());
    let removed =
        store.apt_change_members(AptKind::Repo, "tools", &[], &["sha-a".to_owned()]).await.unwrap();
    assert_eq!(removed, Some(2));
    let repo: Vec<String> = store
        .apt_members(AptKind::Repo, "tools")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.package.name)
        .collect();
    assert_eq!(repo, ["bb"]);
    let snap = store.apt_members(AptKind::Snapshot, "snap1").await.unwrap();
    assert_eq!(snap, add.to_vec(), "the snapshot keeps what the repository had");
    assert_eq!(store.apt_all_packages().await.unwrap().len(), 2, "packages are never deleted");
    // The cheap listing (one aggregated row) says the same as the full one, stanzas with
    // tabs, several lines and characters beyond ASCII included.
    let mut listed = store.apt_member_packages(AptKind::Snapshot, "snap1").await.unwrap();
    listed.sort_by(|a, b| a.package.sha256.cmp(&b.package.sha256));
    assert_eq!(listed, add.to_vec());
    assert!(store.apt_member_packages(AptKind::Repo, "nope").await.unwrap().is_empty());
    assert_eq!(store.apt_control("sha-a").await.unwrap(), Some(add[0].package.control.clone()));
    assert_eq!(store.apt_control("sha-x").await.unwrap(), None);
    // Cleanup forgets only what no repository or snapshot holds.
    assert!(store.apt_delete_unreferenced().await.unwrap().is_empty());

    store.apt_put_publish("tools", "{\"v\":1}").await.unwrap();
    store.apt_put_publish("tools", "{\"v\":2}").await.unwrap();
    let publishes = store.apt_publishes().await.unwrap();
    assert_eq!((publishes.len(), publishes[0].body.as_str()), (1, "{\"v\":2}"));
    assert!(store.apt_drop_publish("tools").await.unwrap());
    assert!(!store.apt_drop_publish("tools").await.unwrap());
    assert!(store.apt_drop_collection(AptKind::Repo, "tools").await.unwrap());
    assert!(store.apt_collections(AptKind::Repo, None).await.unwrap().is_empty());
    assert!(store.apt_drop_collection(AptKind::Snapshot, "snap1").await.unwrap());
    let mut forgotten = store.apt_delete_unreferenced().await.unwrap();
    forgotten.sort();
    assert_eq!(forgotten, ["sha-a", "sha-b"]);
    assert!(store.apt_all_packages().await.unwrap().is_empty());
}

/// Adds and removals larger than one multi-row statement (500 rows) land whole, in one
/// generation, and a failure in a later batch leaves nothing of the earlier ones.
async fn apt_changes_span_many_statements(db: &TestDb) {
    let store = &db.store;
    assert!(store.apt_create_collection(AptKind::Repo, "big", "{}").await.unwrap());
    let add: Vec<AptMemberRow> =
        (0..1234).map(|i| apt_member(&format!("p{i:04}"), &format!("sha-{i:04}"))).collect();
    assert_eq!(store.apt_change_members(AptKind::Repo, "big", &add, &[]).await.unwrap(), Some(1));
    assert_eq!(store.apt_member_packages(AptKind::Repo, "big").await.unwrap().len(), 1234);
    let mut shas = store.apt_member_shas(AptKind::Repo, "big").await.unwrap();
    shas.sort();
    assert_eq!(shas.len(), 1234);
    assert_eq!(shas[7], ("sha-0007".to_owned(), "main".to_owned()));
    let names: Vec<String> = (0..1234).step_by(3).map(|i| format!("p{i:04}")).collect();
    let named = store.apt_members_named(AptKind::Repo, "big", &names).await.unwrap();
    assert_eq!(named.len(), 412, "names in several statements");
    assert!(
        named
            .iter()
            .all(|m| names.contains(&m.name) && m.sha256 == format!("sha-{}", &m.name[1..]))
    );
    assert!(store.apt_members_named(AptKind::Repo, "other", &names).await.unwrap().is_empty());
    let wanted: Vec<String> = (0..1234).step_by(2).map(|i| format!("sha-{i:04}")).collect();
    let mut packages =
        store.apt_packages(&[wanted.clone(), vec!["sha-none".into()]].concat()).await.unwrap();
    packages.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    assert_eq!(packages.len(), 617, "unknown ones are left out");
    assert_eq!(packages[1], add[2].package);
    let remove: Vec<String> = (0..1234).step_by(2).map(|i| format!("sha-{i:04}")).collect();
    assert_eq!(
        store.apt_change_members(AptKind::Repo, "big", &[], &remove).await.unwrap(),
        Some(2)
    );
    let left = store.apt_members(AptKind::Repo, "big").await.unwrap();
    assert_eq!(left.len(), 617);
    assert!(left.iter().all(|m| m.package.sha256.ends_with(['1', '3', '5', '7', '9'])));
    // A row that breaks a constraint in the third batch: the whole change is refused.
    let mut bad: Vec<AptMemberRow> =
        (0..1100).map(|i| apt_member(&format!("q{i:04}"), &format!("shq-{i:04}"))).collect();
    bad[1050].package.name = "refused".into();
    if matches!(db.raw, Raw::Postgres(_)) {
        db.raw
            .execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'refused'; END $$",
            )
            .await;
        db.raw
            .execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON apt_package FOR EACH ROW
             WHEN (NEW.name = 'refused') EXECUTE FUNCTION refuse()",
            )
            .await;
    } else {
        db.raw
            .execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON apt_package WHEN NEW.name = 'refused'
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .await;
    }
    assert!(store.apt_change_members(AptKind::Repo, "big", &bad, &[]).await.is_err());
    assert_eq!(store.apt_members(AptKind::Repo, "big").await.unwrap().len(), 617);
    assert_eq!(store.apt_collections(AptKind::Repo, Some("big")).await.unwrap()[0].generation, 2);

    // A change fed in batches: invisible to readers until committed, and nothing at all
    // when dropped uncommitted.
    let batch = |from: usize| -> Vec<AptMemberRow> {
        (from..from + 300)
            .map(|i| apt_member(&format!("r{i:04}"), &format!("shr-{i:04}")))
            .collect()
    };
    let mut change = store.apt_begin_change(AptKind::Repo, "big", true).await.unwrap().unwrap();
    assert_eq!(change.generation(), 3);
    change.add(&batch(0)).await.unwrap();
    change.add(&batch(300)).await.unwrap();
    assert_eq!(store.apt_member_shas(AptKind::Repo, "big").await.unwrap().len(), 617);
    drop(change);
    assert_eq!(store.apt_member_shas(AptKind::Repo, "big").await.unwrap().len(), 617);
    assert_eq!(store.apt_collections(AptKind::Repo, Some("big")).await.unwrap()[0].generation, 2);
    let mut change = store.apt_begin_change(AptKind::Repo, "big", false).await.unwrap().unwrap();
    change.add(&batch(0)).await.unwrap();
    change.add(&batch(300)).await.unwrap();
    change.remove(&["sha-0001".to_owned()]).await.unwrap();
    let n_audited = store.audit(&AuditQuery::default()).await.unwrap().len();
    assert_eq!(change.commit_audited(&entry("ci", "repo.add", "big")).await.unwrap(), 3);
    assert_eq!(store.apt_member_shas(AptKind::Repo, "big").await.unwrap().len(), 617 + 600 - 1);
    // The audit entry was committed with the change, on the one chain.
    let audited = store.audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(audited.len(), n_audited + 1);
    assert_eq!(audited.last().unwrap().action, "repo.add");
    assert!(store.verify_audit().await.unwrap().ok);
    assert!(store.apt_begin_change(AptKind::Repo, "nope", false).await.unwrap().is_none());
}
