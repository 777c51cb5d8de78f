//! The conformance suite: one set of cases, each run on a fresh, empty store of the
//! backend under test. Every backend must pass all of them unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::deploy::deploy_records_story;
use crate::guard::{
    guard_holds_and_maintenance, guard_leases_one_deploy_per_environment,
    guard_locks_are_never_silently_replaced, schedule_fire_times_are_claimed_once,
};
use crate::outbox::{
    outbox_destinations_are_leased_and_progress_in_order,
    outbox_rows_commit_with_what_they_announce,
};
use crate::token::{change_counters_follow_every_writer, token_create_list_revoke};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use wharf_store::{
    AptKind, AptMemberRow, AptPackageRow, AuditBreakKind, AuditEntry, AuditQuery, NewAuditEntry,
    PublishRecord, ReleaseRecord, RepoSettings, Store, StoreError,
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
    apt_changes_commit_with_their_audit_entry,
    apt_failed_audit_append_undoes_the_change,
    apt_unreadable_records_are_corrupt,
    apt_moves_change_two_collections_at_once,
    apt_sources_are_members_listed_apart,
    apt_mirrors_update_and_freeze,
    guard_locks_are_never_silently_replaced,
    guard_holds_and_maintenance,
    guard_leases_one_deploy_per_environment,
    schedule_fire_times_are_claimed_once,
    deploy_records_story,
    outbox_rows_commit_with_what_they_announce,
    outbox_destinations_are_leased_and_progress_in_order,
    token_create_list_revoke,
    change_counters_follow_every_writer,
    snapshot_is_the_store_as_of_one_instant,
);

fn entry(actor: &str, action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry::new(actor, action, target)
}

async fn append_n(store: &Store, n: usize) {
    for idx in 0..n {
        let mut new = entry("alice", "note", "gstg");
        new.details = json!({ "idx": idx });
        store.append_audit(new).await.unwrap();
    }
}

/// SQLite: `snapshot_into` writes a store that opens on its own with everything committed
/// before it, nothing after, and an intact audit chain; it never overwrites a file.
/// PostgreSQL: refused, naming `pg_dump`, with nothing written.
async fn snapshot_is_the_store_as_of_one_instant(db: &TestDb) {
    append_n(&db.store, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("snapshot.db");
    match &db.raw {
        Raw::Postgres(_) => {
            let err = db.store.snapshot_into(&dest).await.unwrap_err();
            assert!(matches!(err, StoreError::Unsupported { .. }), "{err:?}");
            assert!(err.to_string().contains("pg_dump"), "{err}");
            assert!(!dest.exists());
        }
        Raw::Sqlite(_) => {
            db.store.snapshot_into(&dest).await.unwrap();
            append_n(&db.store, 2).await;
            let copy = Store::open(&dest.display().to_string()).await.unwrap();
            let entries = copy.audit(&AuditQuery::default()).await.unwrap();
            assert_eq!(entries.len(), 5);
            assert!(copy.verify_audit().await.unwrap().ok);
            copy.close().await;
            assert_eq!(db.store.audit(&AuditQuery::default()).await.unwrap().len(), 7);
            let again = db.store.snapshot_into(&dest).await;
            assert!(again.is_err(), "an existing file must not be overwritten");
        }
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(store.backend());
    let n_files = std::fs::read_dir(dir).unwrap().count();
    assert_eq!(usize::try_from(n_migrations).unwrap(), n_files, "every migration once");
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
        ..Default::default()
    };
    assert_eq!(ids(combined).await, [3]);
    assert_eq!(ids(AuditQuery { actor: prefix("bob"), ..Default::default() }).await, [2, 5]);
    assert_eq!(ids(AuditQuery { actor: prefix("bo"), ..Default::default() }).await, [0; 0]);
    let (first, last) = (all[0].at.clone(), all[4].at.clone());
    let count = |since: Option<String>, until: Option<String>| async move {
        ids(AuditQuery { since, until, ..Default::default() }).await.len()
    };
    assert_eq!(count(Some(first.clone()), None).await, 5, "since is inclusive");
    assert_eq!(count(None, Some(first.clone())).await, 0, "until is exclusive");
    assert_eq!(count(Some("9999-01-01".into()), None).await, 0);
    assert_eq!(count(Some(first), Some("9999-01-01".into())).await, 5);
    assert!(count(None, Some(last)).await < 5);
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

/// Settings of a test repository.
fn repo_settings(distribution: &str) -> RepoSettings {
    RepoSettings {
        distribution: distribution.into(),
        components: vec!["main".into(), "contrib".into()],
        architectures: vec!["amd64".into()],
        comment: Some("tools — ünïcode".into()),
        from: None,
        prefix: None,
        contents: true,
        mirror: None,
        snapshot: None,
    }
}

fn publish_record(kind: AptKind, source: &str, generation: i64) -> PublishRecord {
    PublishRecord {
        kind,
        source: source.into(),
        distribution: "stable".into(),
        generation,
        settings: repo_settings("stable"),
        release: ReleaseRecord { origin: "o".into(), label: "l".into(), key: "FPR".into() },
    }
}

/// Adds and removes members in one change committed without an audit entry; `None` when
/// the collection does not exist.
async fn change_members(
    store: &Store,
    kind: AptKind,
    name: &str,
    add: &[AptMemberRow],
    remove: &[String],
) -> Result<Option<i64>, StoreError> {
    let bulk = add.len() + remove.len() > 500;
    let Some(mut change) = store.apt_begin_change(kind, name, bulk).await? else {
        return Ok(None);
    };
    change.remove(remove).await?;
    change.add(add).await?;
    change.commit().await.map(Some)
}

async fn audit_log(store: &Store) -> Vec<AuditEntry> {
    store.audit(&AuditQuery::default()).await.unwrap()
}

/// Repositories, members with generations, snapshots and publishes, end to end.
async fn apt_repository_story(db: &TestDb) {
    let store = &db.store;
    let settings = repo_settings("stable");
    let create = entry("ci", "repo.create", "tools");
    assert!(
        store
            .apt_create_collection(AptKind::Repo, "tools", &settings, &create)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .apt_create_collection(AptKind::Repo, "tools", &settings, &create)
            .await
            .unwrap()
            .is_none()
    );
    // Settings change with their audit entry, or not at all for an unknown name.
    let off = RepoSettings { contents: false, ..settings.clone() };
    let edit = entry("ci", "repo.edit", "tools");
    assert!(
        store.apt_update_settings(AptKind::Repo, "tools", &off, &edit).await.unwrap().is_some()
    );
    let stored = store.apt_collections(AptKind::Repo, Some("tools")).await.unwrap();
    assert!(!stored[0].settings.contents);
    assert_eq!(stored[0].generation, 0, "a settings change is not a content change");
    let n_audit = store.audit(&AuditQuery::default()).await.unwrap().len();
    assert!(store.apt_update_settings(AptKind::Repo, "nope", &off, &edit).await.unwrap().is_none());
    assert_eq!(store.audit(&AuditQuery::default()).await.unwrap().len(), n_audit);
    assert!(
        store
            .apt_update_settings(AptKind::Repo, "tools", &settings, &edit)
            .await
            .unwrap()
            .is_some()
    );
    let add = [apt_member("aa", "sha-a"), apt_member("bb", "sha-b")];
    assert_eq!(change_members(store, AptKind::Repo, "tools", &add, &[]).await.unwrap(), Some(1));
    assert_eq!(change_members(store, AptKind::Repo, "nope", &add, &[]).await.unwrap(), None);
    let listed = store.apt_collections(AptKind::Repo, None).await.unwrap();
    assert_eq!((listed.len(), listed[0].n_packages, listed[0].generation), (1, 2, 1));
    assert_eq!(listed[0].settings, settings);
    assert_eq!(store.apt_collections(AptKind::Repo, Some("tools")).await.unwrap().len(), 1);
    assert!(store.apt_collections(AptKind::Repo, Some("other")).await.unwrap().is_empty());

    let snap = entry("ci", "snapshot.create", "snap1");
    assert!(
        store
            .apt_snapshot(AptKind::Repo, "tools", "snap1", &settings, &snap)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .apt_snapshot(AptKind::Repo, "tools", "snap1", &settings, &snap)
            .await
            .unwrap()
            .is_none()
    );
    let removed =
        change_members(store, AptKind::Repo, "tools", &[], &["sha-a".to_owned()]).await.unwrap();
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
    let cleanup = |_: &[String]| entry("ci", "repo.cleanup", "objects");
    assert!(store.apt_delete_unreferenced(cleanup).await.unwrap().0.is_empty());

    let publish = entry("ci", "publish", "tools");
    store
        .apt_put_publish("tools", &publish_record(AptKind::Repo, "tools", 1), &publish)
        .await
        .unwrap();
    store
        .apt_put_publish("tools", &publish_record(AptKind::Repo, "tools", 2), &publish)
        .await
        .unwrap();
    let publishes = store.apt_publishes().await.unwrap();
    assert_eq!(publishes.len(), 1);
    assert_eq!(publishes[0].record, publish_record(AptKind::Repo, "tools", 2));
    let unpublish = entry("ci", "publish.drop", "tools");
    assert!(store.apt_drop_publish("tools", &unpublish).await.unwrap().is_some());
    assert!(store.apt_drop_publish("tools", &unpublish).await.unwrap().is_none());
    let drop_repo = entry("ci", "repo.drop", "tools");
    assert!(store.apt_drop_collection(AptKind::Repo, "tools", &drop_repo).await.unwrap().is_some());
    assert!(store.apt_collections(AptKind::Repo, None).await.unwrap().is_empty());
    let drop_snap = entry("ci", "snapshot.drop", "snap1");
    assert!(
        store.apt_drop_collection(AptKind::Snapshot, "snap1", &drop_snap).await.unwrap().is_some()
    );
    let (mut forgotten, _) = store.apt_delete_unreferenced(cleanup).await.unwrap();
    forgotten.sort();
    assert_eq!(forgotten, ["sha-a", "sha-b"]);
    assert!(store.apt_all_packages().await.unwrap().is_empty());
    assert!(store.verify_audit().await.unwrap().ok);
}

/// Source packages (architecture `source`, migration 0010) are members like any other —
/// snapshots take them, removals drop them — and `apt_member_sources` lists only them.
async fn apt_sources_are_members_listed_apart(db: &TestDb) {
    let store = &db.store;
    let settings = repo_settings("stable");
    let create = entry("ci", "repo.create", "src");
    store.apt_create_collection(AptKind::Repo, "src", &settings, &create).await.unwrap();
    let mut source = apt_member("hello", "sha-dsc");
    source.package.architecture = "source".into();
    source.package.control =
        "Package: hello\nChecksums-Sha256:\n aa 1 hello_1.0.dsc\n bb 2 hello_1.0.orig.tar.gz\n"
            .into();
    source.component = "contrib".into();
    let binary = apt_member("hello", "sha-deb");
    let add = [binary.clone(), source.clone()];
    change_members(store, AptKind::Repo, "src", &add, &[]).await.unwrap();
    assert_eq!(store.apt_member_sources(AptKind::Repo, "src").await.unwrap(), [source.clone()]);
    assert_eq!(store.apt_members(AptKind::Repo, "src").await.unwrap().len(), 2);
    let snap = entry("ci", "snapshot.create", "src-1");
    store.apt_snapshot(AptKind::Repo, "src", "src-1", &settings, &snap).await.unwrap();
    change_members(store, AptKind::Repo, "src", &[], &["sha-dsc".to_owned()]).await.unwrap();
    assert!(store.apt_member_sources(AptKind::Repo, "src").await.unwrap().is_empty());
    assert_eq!(store.apt_member_sources(AptKind::Snapshot, "src-1").await.unwrap(), [source]);
    assert!(store.apt_member_sources(AptKind::Repo, "nope").await.unwrap().is_empty());
}

/// Adds and removals larger than one multi-row statement (500 rows) land whole, in one
/// generation, and a failure in a later batch leaves nothing of the earlier ones.
async fn apt_changes_span_many_statements(db: &TestDb) {
    let store = &db.store;
    let create = entry("ci", "repo.create", "big");
    let settings = repo_settings("stable");
    assert!(
        store
            .apt_create_collection(AptKind::Repo, "big", &settings, &create)
            .await
            .unwrap()
            .is_some()
    );
    let add: Vec<AptMemberRow> =
        (0..1234).map(|i| apt_member(&format!("p{i:04}"), &format!("sha-{i:04}"))).collect();
    assert_eq!(change_members(store, AptKind::Repo, "big", &add, &[]).await.unwrap(), Some(1));
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
    assert_eq!(change_members(store, AptKind::Repo, "big", &[], &remove).await.unwrap(), Some(2));
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
    assert!(change_members(store, AptKind::Repo, "big", &bad, &[]).await.is_err());
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
    assert_eq!(change.commit_audited(&entry("ci", "repo.add", "big")).await.unwrap().0, 3);
    assert_eq!(store.apt_member_shas(AptKind::Repo, "big").await.unwrap().len(), 617 + 600 - 1);
    // The audit entry was committed with the change, on the one chain.
    let audited = store.audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(audited.len(), n_audited + 1);
    assert_eq!(audited.last().unwrap().action, "repo.add");
    assert!(store.verify_audit().await.unwrap().ok);
    assert!(store.apt_begin_change(AptKind::Repo, "nope", false).await.unwrap().is_none());
}

/// Every APT change commits with its audit entry: the change and the entry appear
/// together, the method returns the stored entry, and a refused change (a name taken,
/// nothing to drop) writes none.
async fn apt_changes_commit_with_their_audit_entry(db: &TestDb) {
    let store = &db.store;
    // The entry each call returns is the one the log holds, and the last one.
    async fn appended(store: &Store, n_before: usize, returned: &AuditEntry) {
        let log = audit_log(store).await;
        assert_eq!(log.len(), n_before + 1, "exactly one entry");
        assert_eq!(log.last(), Some(returned));
    }
    let settings = repo_settings("stable");
    let create = entry("alice", "repo.create", "tools").details(json!({ "components": 2 }));
    let stored = store
        .apt_create_collection(AptKind::Repo, "tools", &settings, &create)
        .await
        .unwrap()
        .expect("created");
    appended(store, 0, &stored).await;
    assert_eq!((stored.id, stored.action.as_str()), (1, "repo.create"));
    assert_eq!(stored.details, json!({ "components": 2 }));
    let listed = store.apt_collections(AptKind::Repo, Some("tools")).await.unwrap();
    assert_eq!(listed[0].settings, settings, "settings round-trip typed");
    let taken = entry("alice", "repo.create", "tools");
    assert_eq!(
        store
            .apt_create_collection(AptKind::Snapshot, "x", &settings, &taken)
            .await
            .unwrap()
            .map(|e| e.id),
        Some(2),
        "names are per kind"
    );
    assert!(
        store
            .apt_create_collection(AptKind::Repo, "tools", &settings, &taken)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_log(store).await.len(), 2, "a taken name writes no entry");

    let mut change = store.apt_begin_change(AptKind::Repo, "tools", false).await.unwrap().unwrap();
    change.add(&[apt_member("aa", "sha-a"), apt_member("bb", "sha-b")]).await.unwrap();
    let (generation, audited) =
        change.commit_audited(&entry("alice", "repo.add", "tools")).await.unwrap();
    assert_eq!(
        (generation, audited.action.as_str(), audited.target.as_str()),
        (1, "repo.add", "tools")
    );
    assert_eq!(audit_log(store).await.len(), 3);

    // Settings change with their entry; contents and generation stay.
    let declared = RepoSettings {
        architectures: vec!["amd64".into(), "arm64".into()],
        prefix: Some("tools-pub".into()),
        ..settings.clone()
    };
    let update = entry("wharf-server", "repo.update", "tools").reason("declared in wharf.toml");
    let stored = store
        .apt_update_settings(AptKind::Repo, "tools", &declared, &update)
        .await
        .unwrap()
        .expect("updated");
    appended(store, 3, &stored).await;
    let listed = store.apt_collections(AptKind::Repo, Some("tools")).await.unwrap();
    assert_eq!(
        (&listed[0].settings, listed[0].generation, listed[0].n_packages),
        (&declared, 1, 2)
    );
    assert!(
        store
            .apt_update_settings(AptKind::Repo, "nope", &declared, &update)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .apt_update_settings(AptKind::Snapshot, "tools", &declared, &update)
            .await
            .unwrap()
            .is_none(),
        "kinds are separate"
    );
    assert_eq!(audit_log(store).await.len(), 4, "nothing to update writes no entry");
    store.apt_update_settings(AptKind::Repo, "tools", &settings, &update).await.unwrap().unwrap();

    let snap_settings = RepoSettings { from: Some("tools".into()), ..settings.clone() };
    let snap = entry("alice", "snapshot.create", "s1");
    let stored = store
        .apt_snapshot(AptKind::Repo, "tools", "s1", &snap_settings, &snap)
        .await
        .unwrap()
        .unwrap();
    appended(store, 5, &stored).await;
    assert_eq!(store.apt_members(AptKind::Snapshot, "s1").await.unwrap().len(), 2);
    let listed = store.apt_collections(AptKind::Snapshot, Some("s1")).await.unwrap();
    assert_eq!(listed[0].settings, snap_settings);
    assert!(
        store
            .apt_snapshot(AptKind::Repo, "tools", "s1", &snap_settings, &snap)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(audit_log(store).await.len(), 6, "a taken snapshot name writes no entry");

    let record = publish_record(AptKind::Snapshot, "s1", 1);
    let publish = entry("alice", "publish", "web").details(json!({ "kind": "snapshot" }));
    let stored = store.apt_put_publish("web", &record, &publish).await.unwrap();
    appended(store, 6, &stored).await;
    let publishes = store.apt_publishes().await.unwrap();
    assert_eq!((publishes[0].prefix.as_str(), &publishes[0].record), ("web", &record));
    // The stored text is what the binary wrote before the record was typed here.
    let body: String = db.raw.scalar("SELECT body FROM apt_publish WHERE prefix = 'web'").await;
    assert!(body.contains(r#""kind":"snapshot""#), "{body}");
    let replaced = publish_record(AptKind::Snapshot, "s1", 2);
    let stored = store.apt_put_publish("web", &replaced, &publish).await.unwrap();
    appended(store, 7, &stored).await;
    assert_eq!(store.apt_publishes().await.unwrap()[0].record.generation, 2);

    let unpublish = entry("alice", "publish.drop", "web");
    let stored = store.apt_drop_publish("web", &unpublish).await.unwrap().unwrap();
    appended(store, 8, &stored).await;
    assert!(store.apt_publishes().await.unwrap().is_empty());
    assert!(store.apt_drop_publish("web", &unpublish).await.unwrap().is_none());
    assert_eq!(audit_log(store).await.len(), 9, "nothing to drop writes no entry");

    let drop_repo = entry("alice", "repo.drop", "tools").reason("replaced");
    let stored =
        store.apt_drop_collection(AptKind::Repo, "tools", &drop_repo).await.unwrap().unwrap();
    appended(store, 9, &stored).await;
    assert_eq!(stored.reason.as_deref(), Some("replaced"));
    assert!(store.apt_collections(AptKind::Repo, None).await.unwrap().is_empty());
    assert!(store.apt_drop_collection(AptKind::Repo, "tools", &drop_repo).await.unwrap().is_none());
    assert!(store.apt_drop_collection(AptKind::Repo, "s1", &drop_repo).await.unwrap().is_none());
    assert_eq!(audit_log(store).await.len(), 10, "nothing to drop writes no entry");

    // The snapshot still holds both packages: nothing to forget, but the run is recorded.
    let cleanup = |forgotten: &[String]| {
        entry("alice", "repo.cleanup", "objects").details(json!({ "packages": forgotten.len() }))
    };
    let (forgotten, stored) = store.apt_delete_unreferenced(cleanup).await.unwrap();
    assert!(forgotten.is_empty());
    appended(store, 10, &stored).await;
    assert_eq!(stored.details, json!({ "packages": 0 }));
    let drop_snap = entry("alice", "snapshot.drop", "s1");
    store.apt_drop_collection(AptKind::Snapshot, "s1", &drop_snap).await.unwrap().unwrap();
    let (forgotten, stored) = store.apt_delete_unreferenced(cleanup).await.unwrap();
    assert_eq!(forgotten.len(), 2);
    appended(store, 12, &stored).await;
    assert_eq!(stored.details, json!({ "packages": 2 }));
    assert!(store.apt_all_packages().await.unwrap().is_empty());

    let report = store.verify_audit().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.n_entries, 13);
}

/// The entry is appended inside the change's transaction: when the append fails, the
/// change is undone, for every mutating method.
async fn apt_failed_audit_append_undoes_the_change(db: &TestDb) {
    let store = &db.store;
    let settings = repo_settings("stable");
    let ok = |action: &str, target: &str| entry("bob", action, target);
    store
        .apt_create_collection(AptKind::Repo, "r", &settings, &ok("repo.create", "r"))
        .await
        .unwrap()
        .unwrap();
    let mut change = store.apt_begin_change(AptKind::Repo, "r", false).await.unwrap().unwrap();
    change.add(&[apt_member("aa", "sha-a")]).await.unwrap();
    change.commit_audited(&ok("repo.add", "r")).await.unwrap();
    store
        .apt_create_collection(AptKind::Repo, "gone", &settings, &ok("repo.create", "gone"))
        .await
        .unwrap()
        .unwrap();
    let mut change = store.apt_begin_change(AptKind::Repo, "gone", false).await.unwrap().unwrap();
    change.add(&[apt_member("zz", "sha-z")]).await.unwrap();
    change.commit_audited(&ok("repo.add", "gone")).await.unwrap();
    store
        .apt_drop_collection(AptKind::Repo, "gone", &ok("repo.drop", "gone"))
        .await
        .unwrap()
        .unwrap();
    let record = publish_record(AptKind::Repo, "r", 1);
    store.apt_put_publish("r", &record, &ok("publish", "r")).await.unwrap();
    let n_entries = audit_log(store).await.len();

    // From here on, every append of a `refused` entry fails inside its transaction.
    if matches!(db.raw, Raw::Postgres(_)) {
        db.raw
            .execute(
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'refused'; END $$",
            )
            .await;
        db.raw
            .execute(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW
             WHEN (NEW.action = 'refused') EXECUTE FUNCTION refuse_audit()",
            )
            .await;
    } else {
        db.raw
            .execute(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
             WHEN NEW.action = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .await;
    }
    let refused = entry("bob", "refused", "x");
    assert!(store.apt_create_collection(AptKind::Repo, "new", &settings, &refused).await.is_err());
    assert!(store.apt_collections(AptKind::Repo, Some("new")).await.unwrap().is_empty());
    assert!(store.apt_snapshot(AptKind::Repo, "r", "s", &settings, &refused).await.is_err());
    assert!(store.apt_collections(AptKind::Snapshot, None).await.unwrap().is_empty());
    assert!(store.apt_members(AptKind::Snapshot, "s").await.unwrap().is_empty());
    let newer = publish_record(AptKind::Repo, "r", 2);
    assert!(store.apt_put_publish("r", &newer, &refused).await.is_err());
    assert!(store.apt_put_publish("other", &newer, &refused).await.is_err());
    let publishes = store.apt_publishes().await.unwrap();
    assert_eq!((publishes.len(), &publishes[0].record), (1, &record));
    assert!(store.apt_drop_publish("r", &refused).await.is_err());
    assert_eq!(store.apt_publishes().await.unwrap().len(), 1);
    assert!(store.apt_drop_collection(AptKind::Repo, "r", &refused).await.is_err());
    assert_eq!(store.apt_collections(AptKind::Repo, Some("r")).await.unwrap()[0].n_packages, 1);
    let other = RepoSettings { architectures: vec!["arm64".into()], ..settings.clone() };
    assert!(store.apt_update_settings(AptKind::Repo, "r", &other, &refused).await.is_err());
    assert_eq!(
        store.apt_collections(AptKind::Repo, Some("r")).await.unwrap()[0].settings,
        settings
    );
    assert!(store.apt_delete_unreferenced(|_| refused.clone()).await.is_err());
    assert_eq!(store.apt_all_packages().await.unwrap().len(), 2, "sha-z is not forgotten");
    let mut change = store.apt_begin_change(AptKind::Repo, "r", false).await.unwrap().unwrap();
    change.remove(&["sha-a".to_owned()]).await.unwrap();
    assert!(change.commit_audited(&refused).await.is_err());
    let listed = store.apt_collections(AptKind::Repo, Some("r")).await.unwrap();
    assert_eq!((listed[0].n_packages, listed[0].generation), (1, 1));

    assert_eq!(audit_log(store).await.len(), n_entries, "no entry without its change");
    let report = store.verify_audit().await.unwrap();
    assert!(report.ok, "{report:?}");
    // The store still works: the next change gets the next id.
    let (forgotten, stored) =
        store.apt_delete_unreferenced(|_| ok("repo.cleanup", "objects")).await.unwrap();
    assert_eq!(
        (forgotten, stored.id),
        (vec!["sha-z".to_owned()], i64::try_from(n_entries).unwrap() + 1)
    );
    assert!(store.verify_audit().await.unwrap().ok);
}

/// A stored repository or publish record that does not parse is `Corrupt`, naming it.
async fn apt_unreadable_records_are_corrupt(db: &TestDb) {
    let store = &db.store;
    let settings = repo_settings("stable");
    store
        .apt_create_collection(
            AptKind::Repo,
            "tools",
            &settings,
            &entry("c", "repo.create", "tools"),
        )
        .await
        .unwrap()
        .unwrap();
    let record = publish_record(AptKind::Repo, "tools", 0);
    store.apt_put_publish("web", &record, &entry("c", "publish", "web")).await.unwrap();

    db.raw
        .execute("UPDATE apt_collection SET body = '{\"distribution\":1}' WHERE name = 'tools'")
        .await;
    let err = store.apt_collections(AptKind::Repo, None).await.unwrap_err();
    let StoreError::Corrupt { detail, .. } = &err else { panic!("{err:?}") };
    assert!(detail.contains("repo tools"), "{detail}");
    assert!(store.apt_collections(AptKind::Repo, Some("tools")).await.is_err());
    assert!(store.apt_collections(AptKind::Snapshot, None).await.unwrap().is_empty());

    db.raw.execute("UPDATE apt_publish SET body = replace(body, '\"repo\"', '\"tree\"')").await;
    let err = store.apt_publishes().await.unwrap_err();
    let StoreError::Corrupt { detail, .. } = &err else { panic!("{err:?}") };
    assert!(detail.contains("publish at web"), "{detail}");
    db.raw.execute("UPDATE apt_publish SET body = 'not json'").await;
    assert!(matches!(store.apt_publishes().await, Err(StoreError::Corrupt { .. })));

    // A damaged record can still be dropped, with its entry.
    let dropped = entry("c", "publish.drop", "web");
    assert!(store.apt_drop_publish("web", &dropped).await.unwrap().is_some());
    assert!(store.apt_publishes().await.unwrap().is_empty());
    assert!(store.verify_audit().await.unwrap().ok);
}

/// A move (`AptChange::remove_from`): members leave one collection and join another in one
/// transaction with one entry, and both generations move; a second collection that does
/// not exist is `None`, and the change dropped uncommitted leaves everything as it was.
async fn apt_moves_change_two_collections_at_once(db: &TestDb) {
    let store = &db.store;
    let settings = repo_settings("stable");
    for name in ["beta", "tools"] {
        let create = entry("ci", "repo.create", name);
        store.apt_create_collection(AptKind::Repo, name, &settings, &create).await.unwrap();
    }
    let members = [apt_member("aa", "sha-a"), apt_member("bb", "sha-b")];
    change_members(store, AptKind::Repo, "beta", &members, &[]).await.unwrap();
    let state = async |name: &str| {
        let row = store.apt_collections(AptKind::Repo, Some(name)).await.unwrap().remove(0);
        let members = store.apt_members(AptKind::Repo, name).await.unwrap();
        (row.generation, members.into_iter().map(|m| m.package.name).collect::<Vec<_>>())
    };
    let (beta_before, tools_before) = (state("beta").await.0, state("tools").await.0);
    let n_entries = audit_log(store).await.len();

    let mut change = store.apt_begin_change(AptKind::Repo, "tools", false).await.unwrap().unwrap();
    change.add(&[apt_member("aa", "sha-a")]).await.unwrap();
    let moved = change.remove_from(AptKind::Repo, "beta", &["sha-a".into()]).await.unwrap();
    assert_eq!(moved, Some(beta_before + 1));
    change.commit_audited(&entry("ci", "repo.move", "tools")).await.unwrap();
    assert_eq!(state("beta").await, (beta_before + 1, vec!["bb".to_owned()]));
    assert_eq!(state("tools").await, (tools_before + 1, vec!["aa".to_owned()]));
    assert_eq!(audit_log(store).await.len(), n_entries + 1);

    let mut change = store.apt_begin_change(AptKind::Repo, "tools", false).await.unwrap().unwrap();
    change.add(&[apt_member("bb", "sha-b")]).await.unwrap();
    assert_eq!(change.remove_from(AptKind::Repo, "nope", &["sha-b".into()]).await.unwrap(), None);
    drop(change);
    assert_eq!(state("tools").await, (tools_before + 1, vec!["aa".to_owned()]));
    assert_eq!(state("beta").await, (beta_before + 1, vec!["bb".to_owned()]));
}

/// A mirror is a collection like a repository: its update replaces members and records
/// what it saw in its settings in one audited transaction; a snapshot freezes it; it is
/// listed apart from repositories of the same name.
async fn apt_mirrors_update_and_freeze(db: &TestDb) {
    let store = &db.store;
    let source = wharf_store::MirrorSource {
        url: "http://127.0.0.1:8080/debian".into(),
        filter: vec!["Name (% a*)".into()],
        keyring: Some("-----BEGIN PGP PUBLIC KEY BLOCK-----".into()),
        ..Default::default()
    };
    let settings = RepoSettings { mirror: Some(source.clone()), ..repo_settings("stable") };
    let create = entry("ci", "mirror.create", "up");
    assert!(
        store
            .apt_create_collection(AptKind::Mirror, "up", &settings, &create)
            .await
            .unwrap()
            .is_some()
    );
    // The same name may be a repository too: kinds are apart.
    let repo = entry("ci", "repo.create", "up");
    let plain = repo_settings("stable");
    assert!(
        store.apt_create_collection(AptKind::Repo, "up", &plain, &repo).await.unwrap().is_some()
    );
    let listed = store.apt_collections(AptKind::Mirror, None).await.unwrap();
    assert_eq!((listed.len(), &listed[0].settings), (1, &settings));
    assert_eq!(store.apt_collections(AptKind::Repo, None).await.unwrap()[0].settings.mirror, None);

    let mut change = store.apt_begin_change(AptKind::Mirror, "up", true).await.unwrap().unwrap();
    change.add(&[apt_member("aa", "sha-a"), apt_member("ab", "sha-b")]).await.unwrap();
    let seen = wharf_store::MirrorSource {
        release_date: Some("Tue, 01 Dec 2026 18:00:00 UTC".into()),
        ..source.clone()
    };
    let updated = RepoSettings { mirror: Some(seen), ..settings.clone() };
    change.set_settings(&updated).await.unwrap();
    let (generation, audited) =
        change.commit_audited(&entry("ci", "mirror.update", "up")).await.unwrap();
    assert_eq!((generation, audited.action.as_str()), (1, "mirror.update"));
    let listed = store.apt_collections(AptKind::Mirror, Some("up")).await.unwrap();
    assert_eq!((listed[0].n_packages, &listed[0].settings), (2, &updated));
    assert!(store.apt_members(AptKind::Repo, "up").await.unwrap().is_empty());

    // An update that is dropped before committing changes neither members nor settings.
    let mut change = store.apt_begin_change(AptKind::Mirror, "up", false).await.unwrap().unwrap();
    change.remove(&["sha-a".to_owned()]).await.unwrap();
    change.set_settings(&settings).await.unwrap();
    drop(change);
    let listed = store.apt_collections(AptKind::Mirror, Some("up")).await.unwrap();
    assert_eq!((listed[0].n_packages, listed[0].generation, &listed[0].settings), (2, 1, &updated));

    let frozen = RepoSettings { from: Some("up".into()), mirror: None, ..settings.clone() };
    let snap = entry("ci", "snapshot.create", "up-1");
    let made = store.apt_snapshot(AptKind::Mirror, "up", "up-1", &frozen, &snap).await.unwrap();
    assert!(made.is_some());
    let members: Vec<String> = store
        .apt_members(AptKind::Snapshot, "up-1")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.package.sha256)
        .collect();
    assert_eq!(members, ["sha-a", "sha-b"]);
    let drop_entry = entry("ci", "mirror.drop", "up");
    assert!(store.apt_drop_collection(AptKind::Mirror, "up", &drop_entry).await.unwrap().is_some());
    assert_eq!(store.apt_members(AptKind::Snapshot, "up-1").await.unwrap().len(), 2);
    assert_eq!(store.apt_collections(AptKind::Repo, Some("up")).await.unwrap().len(), 1);
}
