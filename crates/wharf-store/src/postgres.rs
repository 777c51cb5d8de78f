//! The PostgreSQL backend, for several Wharf servers sharing one database.
//!
//! Writers that read-then-write (audit appends, migrations) take a transaction-scoped
//! advisory lock (`pg_advisory_xact_lock`) first, so they serialize across connections,
//! processes and hosts, and the lock is released by commit, rollback or a dropped
//! connection. Plain `READ COMMITTED` is enough: each statement after the lock sees every
//! commit made before it.

use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::StoreError;
use crate::audit::{
    self, AuditQuery, AuditRow, AuditTuple, AuditVerification, ChainVerifier, NewAuditEntry,
};
use crate::migrate::{self, Migration};

/// How long to wait for a free connection (or for the server, when opening).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Advisory lock keys ("WHARFAUD", "WHARFMIG" as big-endian bytes).
const AUDIT_LOCK_KEY: i64 = 0x5748_4152_4641_5544;
const MIGRATE_LOCK_KEY: i64 = 0x5748_4152_464d_4947;

/// Rows read per page while verifying the chain.
const VERIFY_PAGE: i64 = 1000;

#[derive(Clone)]
pub(crate) struct PgStore {
    pub(crate) pool: PgPool,
    url: String,
}

impl PgStore {
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let redacted = crate::redact_url(url);
        let connect_err = |source| StoreError::Connect { url: redacted.clone(), source };
        let options: PgConnectOptions = url.parse().map_err(connect_err)?;
        // One probe connection first, to fail fast with the real reason (refused, bad
        // password, no such database): the pool retries a refused connection until its
        // acquire timeout and then reports only "timed out".
        let probe = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| StoreError::ConnectTimeout {
                url: redacted.clone(),
                after: ACQUIRE_TIMEOUT,
            })?
            .map_err(connect_err)?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        let store = PgStore { pool, url: redacted };
        store.migrate(migrate::POSTGRES).await?;
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

    async fn migrate(&self, migrations: &[Migration]) -> Result<(), StoreError> {
        let op = "apply migrations";
        let mut tx = self.pool.begin().await.map_err(self.query_err(op))?;
        lock(&mut tx, MIGRATE_LOCK_KEY).await.map_err(self.query_err(op))?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    BIGINT PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )",
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
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
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
        let mut tx = self.pool.begin().await.map_err(self.query_err(op))?;
        let row = self.append_audit_in(&mut tx, entry).await?;
        tx.commit().await.map_err(self.query_err(op))?;
        Ok(row)
    }

    /// Appends `entry` inside `tx` and commits both: the change and its audit entry exist
    /// together or not at all. The append comes last: it takes the audit lock, and nothing
    /// holding that lock waits for a lock on other rows, so this order cannot deadlock.
    pub(crate) async fn commit_audited(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
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
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        entry: &NewAuditEntry,
    ) -> Result<AuditRow, StoreError> {
        let op = "append audit entry";
        lock(tx, AUDIT_LOCK_KEY).await.map_err(self.query_err(op))?;
        let prev: Option<(i64, String)> =
            sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await
                .map_err(self.query_err(op))?;
        let row = AuditRow::next(prev, crate::now_rfc3339(), entry);
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, target, reason, details, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
             WHERE ($1::text IS NULL OR substr(action, 1, length($1::text)) = $1::text)
               AND ($2::text IS NULL OR target = $2::text)
               AND id > $3
               AND ($5::text IS NULL OR actor = $5::text)
               AND ($6::text IS NULL OR at >= $6::text)
               AND ($7::text IS NULL OR at < $7::text)
             ORDER BY id ",
                    $order,
                    "
             LIMIT $4"
                )
            };
        }
        let sql = if query.newest { list!("DESC") } else { list!("ASC") };
        let mut rows: Vec<AuditTuple> = sqlx::query_as(sql)
            .bind(&query.action_prefix)
            .bind(&query.target)
            .bind(query.after_id.unwrap_or(i64::MIN))
            .bind(query.limit.map(i64::from))
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
        // One snapshot for the whole walk, even while others append.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(self.query_err(op))?;
        let head: Option<String> = sqlx::query_scalar(GET_META)
            .bind(audit::HEAD_META_KEY)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.query_err(op))?;
        let mut verifier = ChainVerifier::default();
        'pages: loop {
            let page: Vec<AuditTuple> = sqlx::query_as(
                "SELECT id, at, actor, action, target, reason, details, prev_hash, hash
                 FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
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

const GET_META: &str = "SELECT value FROM meta WHERE key = $1";

/// Sets a value only if the key has none (the store's creation time).
const INIT_META: &str =
    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";

const SET_META: &str = "INSERT INTO meta (key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Takes a transaction-scoped advisory lock: held until commit or rollback.
async fn lock(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, key: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut **tx).await?;
    Ok(())
}
