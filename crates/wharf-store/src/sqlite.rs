//! The SQLite backend: one file, WAL mode, `synchronous=FULL`, writers serialized by
//! `BEGIN IMMEDIATE` and a 30 s `busy_timeout`.
//!
//! Why `synchronous=FULL` rather than `NORMAL`: in WAL mode both keep every committed
//! transaction when the *process* is killed (the WAL is in the OS page cache), but only
//! `FULL` fsyncs the WAL at each commit, so an acknowledged audit entry also survives a
//! power cut or kernel crash. Wharf's writes are few (deploys, audit entries), so the
//! extra fsync per commit is cheap insurance.
//!
//! Why `BEGIN IMMEDIATE` for read-then-write transactions: a deferred transaction takes
//! its read snapshot first; if another connection commits before it upgrades to a write,
//! SQLite returns `SQLITE_BUSY` at once whatever the busy timeout. `IMMEDIATE` takes the
//! write lock up front, so the busy timeout applies and the writer simply waits.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::StoreError;
use crate::audit::{
    self, AuditQuery, AuditRow, AuditTuple, AuditVerification, ChainVerifier, NewAuditEntry,
};
use crate::migrate::{self, Migration};

/// How long a writer waits for another writer (another task or process) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Rows read per page while verifying the chain.
const VERIFY_PAGE: i64 = 1000;

#[derive(Clone)]
pub(crate) struct SqliteStore {
    pub(crate) pool: SqlitePool,
    url: String,
}

impl SqliteStore {
    pub(crate) async fn open(path: &Path) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}", path.display());
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|source| StoreError::CreateDir { path: parent.to_owned(), source })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // Two processes opening a new database race to switch it to WAL; SQLite answers the
        // loser "database is locked" at once instead of calling the busy handler (it would
        // deadlock otherwise). Connecting again after a moment finds WAL set up.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let pool = loop {
            let attempt = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(BUSY_TIMEOUT + Duration::from_secs(10))
                .connect_with(options.clone())
                .await;
            match attempt {
                Err(sqlx::Error::Database(err))
                    if err.code().as_deref() == Some("5")
                        && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => {
                    break other
                        .map_err(|source| StoreError::Connect { url: url.clone(), source })?;
                }
            }
        };
        let store = SqliteStore { pool, url };
        store.migrate(migrate::SQLITE).await?;
        Ok(store)
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn query_err(
        &self,
        op: &'static str,
    ) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
        move |source| StoreError::Query { url: self.url.clone(), op, source }
    }

    pub(crate) async fn snapshot_into(&self, dest: &Path) -> Result<(), StoreError> {
        let dest = dest.to_str().ok_or_else(|| StoreError::Unsupported {
            url: self.url.clone(),
            what: "the snapshot's path is not UTF-8: name another",
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(dest)
            .execute(&self.pool)
            .await
            .map_err(self.query_err("snapshot the store (VACUUM INTO)"))?;
        // VACUUM INTO does not sync what it wrote.
        std::fs::File::open(dest)
            .and_then(|file| file.sync_all())
            .map_err(|source| StoreError::SnapshotFile { path: dest.into(), source })?;
        Ok(())
    }

    async fn migrate(&self, migrations: &[Migration]) -> Result<(), StoreError> {
        let op = "apply migrations";
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(self.query_err(op))?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER PRIMARY KEY NOT NULL,
                name       TEXT NOT NULL,
                applied_at TEXT NOT NULL
            ) STRICT",
        )
        .execute(&mut *tx)
        .await
        .map_err(self.query_err(op))?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                .fetch_one(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
        let known = migrations.last().map_or(0, |migration| migration.version);
        if current > known {
            return Err(StoreError::SchemaTooNew { url: self.url.clone(), found: current, known });
        }
        for migration in migrations.iter().filter(|migration| migration.version > current) {
            let migrate_err = |source| StoreError::Migrate {
                url: self.url.clone(),
                version: migration.version,
                name: migration.name,
                source,
            };
            sqlx::raw_sql(migration.sql).execute(&mut *tx).await.map_err(migrate_err)?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            )
            .bind(migration.version)
            .bind(migration.name)
            .bind(crate::now_rfc3339())
            .execute(&mut *tx)
            .await
            .map_err(migrate_err)?;
        }
        sqlx::query(INIT_META)
            .bind("store.created_at")
            .bind(crate::now_rfc3339())
            .execute(&mut *tx)
            .await
            .map_err(self.query_err(op))?;
        tx.commit().await.map_err(self.query_err(op))
    }

    pub(crate) async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditRow, StoreError> {
        let op = "append audit entry";
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(self.query_err(op))?;
        let row = self.append_audit_in(&mut tx, entry).await?;
        tx.commit().await.map_err(self.query_err(op))?;
        Ok(row)
    }

    /// Appends `entry` inside `tx` and commits both: the change and its audit entry exist
    /// together or not at all. The append comes last: it takes the audit lock, and nothing
    /// holding that lock waits for a lock on other rows, so this order cannot deadlock.
    pub(crate) async fn commit_audited(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
        entry: &NewAuditEntry,
        op: &'static str,
    ) -> Result<crate::AuditEntry, StoreError> {
        let row = self.append_audit_in(&mut tx, entry).await?;
        tx.commit().await.map_err(self.query_err(op))?;
        Ok(row.entry_of(entry))
    }

    /// Appends to the chain inside `tx` (which must be able to write): the entry exists
    /// exactly when what it records is committed with it.
    pub(crate) async fn append_audit_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        entry: &NewAuditEntry,
    ) -> Result<AuditRow, StoreError> {
        let op = "append audit entry";
        let prev: Option<(i64, String)> =
            sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await
                .map_err(self.query_err(op))?;
        let row = AuditRow::next(prev, crate::now_rfc3339(), entry);
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, target, reason, details, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(row.id)
        .bind(&row.at)
        .bind(&row.actor)
        .bind(&row.action)
        .bind(&row.target)
        .bind(&row.reason)
        .bind(&row.details)
        .bind(&row.prev_hash)
        .bind(&row.hash)
        .execute(&mut **tx)
        .await
        .map_err(self.query_err(op))?;
        sqlx::query(SET_META)
            .bind(audit::HEAD_META_KEY)
            .bind(audit::head_value(&row))
            .execute(&mut **tx)
            .await
            .map_err(self.query_err(op))?;
        // The outbox hook: an announced action gets its notification in this transaction.
        if let Some(new) = crate::outbox::NewOutbox::of_audit(&row) {
            self.outbox_in(tx, &new).await?;
        }
        Ok(row)
    }

    pub(crate) async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        // Two static statements that differ only in direction: sqlx accepts no dynamic SQL.
        macro_rules! list {
            ($order:literal) => {
                concat!(
                    "SELECT id, at, actor, action, target, reason, details, prev_hash, hash
             FROM audit_log
             WHERE (?1 IS NULL OR substr(action, 1, length(?1)) = ?1)
               AND (?2 IS NULL OR target = ?2)
               AND id > ?3
               AND (?5 IS NULL OR actor = ?5)
               AND (?6 IS NULL OR at >= ?6)
               AND (?7 IS NULL OR at < ?7)
             ORDER BY id ",
                    $order,
                    "
             LIMIT ?4"
                )
            };
        }
        let sql = if query.newest { list!("DESC") } else { list!("ASC") };
        let mut rows: Vec<AuditTuple> = sqlx::query_as(sql)
            .bind(&query.action_prefix)
            .bind(&query.target)
            .bind(query.after_id.unwrap_or(i64::MIN))
            .bind(query.limit.map_or(-1, i64::from))
            .bind(&query.actor)
            .bind(&query.since)
            .bind(&query.until)
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_err("list audit entries"))?;
        if query.newest {
            rows.reverse();
        }
        Ok(rows.into_iter().map(AuditRow::from).collect())
    }

    pub(crate) async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        let op = "verify audit chain";
        // One read transaction: a consistent snapshot even while others append.
        let mut tx = self.pool.begin().await.map_err(self.query_err(op))?;
        let head: Option<String> = sqlx::query_scalar(GET_META)
            .bind(audit::HEAD_META_KEY)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.query_err(op))?;
        let mut verifier = ChainVerifier::default();
        'pages: loop {
            let page: Vec<AuditTuple> = sqlx::query_as(
                "SELECT id, at, actor, action, target, reason, details, prev_hash, hash
                 FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .bind(verifier.resume_after())
            .bind(VERIFY_PAGE)
            .fetch_all(&mut *tx)
            .await
            .map_err(self.query_err(op))?;
            let n_rows = page.len();
            for row in page {
                if !verifier.push(&AuditRow::from(row)) {
                    break 'pages;
                }
            }
            if i64::try_from(n_rows).unwrap_or(0) < VERIFY_PAGE {
                break;
            }
        }
        tx.rollback().await.map_err(self.query_err(op))?;
        Ok(verifier.finish(head.as_deref()))
    }

    pub(crate) async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(GET_META)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.query_err("read setting"))
    }

    pub(crate) async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(SET_META)
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(self.query_err("write setting"))?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

const GET_META: &str = "SELECT value FROM meta WHERE key = ?1";

/// Sets a value only if the key has none (the store's creation time).
const INIT_META: &str =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING";

const SET_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";
