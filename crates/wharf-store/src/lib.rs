//! Wharf's one persistence API. Every capability that keeps state — the audit log first,
//! then deploys, locks, holds, repositories — goes through [`Store`]; only this crate
//! writes SQL.
//!
//! Goals:
//! - One API over two backends: SQLite (the default, one file, no server) and PostgreSQL
//!   (several Wharf servers sharing one database). Callers never match on the backend.
//! - Nothing acknowledged is lost: SQLite runs in WAL mode with `synchronous=FULL`, so a
//!   committed write survives `kill -9` of the process and a power cut; a second writer
//!   waits (`busy_timeout`) instead of failing with "database is locked".
//! - A tamper-evident audit log: a SHA-256 hash chain, appended under a lock that spans
//!   processes, so ids are gap-free and the chain never forks.
//! - Every change commits with its audit entry: each mutating APT method takes the
//!   [`NewAuditEntry`] and appends it in the change's own transaction, so a crash leaves
//!   both or neither, and a refused change (a name taken, nothing to drop) writes none.
//!   Only [`Store::set_meta`] and [`AptChange::commit`] (kept for tests) write without.
//! - Stored records are typed here ([`RepoSettings`], [`PublishRecord`]): callers never
//!   see the JSON text they are stored as, and a record that does not parse is
//!   [`StoreError::Corrupt`].
//! - Each backend has its own migrations (`migrations/{sqlite,postgres}/NNNN_name.sql`),
//!   embedded in the binary and applied by [`Store::open`].
//!
//! Non-goals: an ORM or query builder; compile-time checked queries (no database at build
//! time); moving data between backends; preventing tampering (the chain detects it).
//!
//! Tour:
//! - [`Store`]: open by URL, then [`Store::append_audit`], [`Store::audit`],
//!   [`Store::verify_audit`], [`Store::get_meta`] / [`Store::set_meta`].
//! - [`deploy`]: deploy records, node results per stage, events to announce.
//! - [`guard`]: environment locks, package holds, nodes in maintenance, deploy leases.
//! - [`outbox`]: notifications, written with the audit entry (or deploy event) they
//!   announce, and each destination's delivery progress.
//! - [`token`]: API tokens (name, role, the secret's hash, expiry, revocation).
//! - [`apt`]: APT repository metadata (packages, repositories, snapshots, publishes);
//!   [`apt_record`]: the records stored for repositories, snapshots and publishes.
//! - [`audit`]: the entry types (built with [`NewAuditEntry::new`]) and the hash chain,
//!   pure and unit-tested.
//! - `sqlite` / `postgres`: one module per backend, each with the same methods.
//! - [`StoreError`]: what failed, on which (password-redacted) URL, in which operation.
//!
//! URL forms accepted by [`Store::open`]:
//! - `sqlite:///abs/path/wharf.db`, `sqlite://relative/path.db`, `sqlite:path.db`
//! - a plain filesystem path: `/var/lib/wharf/wharf.db`, `./wharf.db`
//! - `postgres://user:password@host:port/db?…` or `postgresql://…`

/// `dispatch!(self, method(args))`: call the backend's own `method`. Every `Store` method
/// that is the same for both backends is one line through it.
macro_rules! dispatch {
    ($self:ident, $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            crate::Backend::Sqlite(store) => store.$method($($arg),*).await,
            crate::Backend::Postgres(store) => store.$method($($arg),*).await,
        }
    };
}

pub mod apt;
pub mod apt_record;
pub mod audit;
pub mod counter;
pub mod deploy;
pub mod failpoint;
pub mod guard;
mod migrate;
pub mod outbox;
mod postgres;
pub mod schedule;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod token;

use std::path::{Path, PathBuf};

pub use apt::{
    AptChange, AptCollectionRow, AptKind, AptMemberDigestRow, AptMemberRow, AptPackageRow,
    AptPublishRow,
};
pub use apt_record::{MirrorSource, PublishRecord, ReleaseRecord, RepoSettings, SnapshotPolicy};
pub use audit::{
    AuditBreak, AuditBreakKind, AuditEntry, AuditQuery, AuditVerification, NewAuditEntry,
};
pub use counter::ChangeCounters;

/// An error means the store could not do its job; a broken audit chain is not an error
/// (see [`AuditVerification`]). Messages name the URL with any password replaced by `***`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use store URL {url}: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error("cannot create directory {} for the store", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot connect to store {url}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot connect to store {url}: no answer within {after:?}")]
    ConnectTimeout { url: String, after: std::time::Duration },
    #[error("cannot apply migration {name} to store {url}")]
    Migrate { url: String, version: i64, name: &'static str, source: sqlx::Error },
    #[error(
        "store {url} has schema version {found}, newer than this Wharf knows ({known}); upgrade Wharf"
    )]
    SchemaTooNew { url: String, found: i64, known: i64 },
    #[error("store {url}: {op} failed")]
    Query { url: String, op: &'static str, source: sqlx::Error },
    #[error("store {url}: {op}: stored data is unreadable: {detail}")]
    Corrupt { url: String, op: &'static str, detail: String },
    #[error("store {url}: {what}")]
    Unsupported { url: String, what: &'static str },
    #[error("cannot write the store's snapshot {}", path.display())]
    SnapshotFile { path: PathBuf, source: std::io::Error },
}

/// The store: cheap to clone (a connection pool inside), safe to share between tasks.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend()).field("url", &self.url()).finish()
    }
}

/// What a store URL names, after parsing.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    SqliteFile(PathBuf),
    Postgres(String),
}

fn parse_url(url: &str) -> Result<Location, StoreError> {
    let invalid = |reason| StoreError::InvalidUrl { url: redact_url(url), reason };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Location::Postgres(url.to_owned()));
    }
    let path = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") {
        return Err(invalid("use sqlite:///path, postgres://… or a plain file path"));
    } else {
        url
    };
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    if path.is_empty() || path.starts_with(":memory:") {
        return Err(invalid("a file path is required (in-memory stores are not supported)"));
    }
    Ok(Location::SqliteFile(PathBuf::from(path)))
}

/// Replaces the password of `scheme://user:password@host/…` and any `password=` query
/// parameter with `***`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |idx| authority_start + idx);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = &out[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(authority_start + colon + 1..authority_start + at, "***");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// The current UTC time as RFC 3339 with milliseconds, `2026-11-25T12:54:59.123Z`.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

impl Store {
    /// Opens (creating if needed) the store at `url` and applies pending migrations;
    /// records `store.created_at` in the settings the first time. See the crate docs for
    /// the URL forms.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let backend = match parse_url(url)? {
            Location::SqliteFile(path) => Backend::Sqlite(sqlite::SqliteStore::open(&path).await?),
            Location::Postgres(url) => Backend::Postgres(postgres::PgStore::open(&url).await?),
        };
        Ok(Store { backend })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The URL this store was opened with, password redacted: safe to log.
    pub fn url(&self) -> &str {
        match &self.backend {
            Backend::Sqlite(store) => store.url(),
            Backend::Postgres(store) => store.url(),
        }
    }

    /// Appends one entry to the audit log, chained to the previous one. Serialized across
    /// tasks and processes: ids are 1, 2, 3, … with no gaps and the chain never forks.
    pub async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let row = match &self.backend {
            Backend::Sqlite(store) => store.append_audit(&entry).await?,
            Backend::Postgres(store) => store.append_audit(&entry).await?,
        };
        Ok(row.entry_of(&entry))
    }

    /// Lists audit entries matching `query`, in id order.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite(store) => store.audit(query).await?,
            Backend::Postgres(store) => store.audit(query).await?,
        };
        rows.into_iter()
            .map(|row| {
                let id = row.id;
                row.into_entry().map_err(|err| StoreError::Corrupt {
                    url: self.url().to_owned(),
                    op: "list audit entries",
                    detail: format!("entry {id}: details are not JSON: {err}"),
                })
            })
            .collect()
    }

    /// Re-checks the whole audit chain. A broken chain is reported, not returned as `Err`.
    pub async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => store.verify_audit().await,
            Backend::Postgres(store) => store.verify_audit().await,
        }
    }

    /// Reads a setting.
    pub async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => store.get_meta(key).await,
            Backend::Postgres(store) => store.get_meta(key).await,
        }
    }

    /// Writes a setting, replacing any previous value.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => store.set_meta(key, value).await,
            Backend::Postgres(store) => store.set_meta(key, value).await,
        }
    }

    /// A cheap round trip (reads one setting): `Ok` when the store answers. For health
    /// checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.get_meta("store.created_at").await.map(drop)
    }

    /// Writes a consistent copy of a SQLite store to `dest`, durable when this returns
    /// (`VACUUM INTO`: one read transaction, so writers in other connections and
    /// processes carry on, and the copy is the store as of one instant). `dest` must not
    /// exist. A PostgreSQL store is [`StoreError::Unsupported`]: `pg_dump` backs it up.
    pub async fn snapshot_into(&self, dest: &Path) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => store.snapshot_into(dest).await,
            Backend::Postgres(store) => Err(StoreError::Unsupported {
                url: store.url().to_owned(),
                what: "a PostgreSQL store is not snapshotted by Wharf: back it up with pg_dump",
            }),
        }
    }

    /// Closes the connections, waiting for those in use. Dropping the store also closes
    /// them, without waiting.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(store) => store.close().await,
            Backend::Postgres(store) => store.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_url_forms() {
        let file = |path: &str| Location::SqliteFile(PathBuf::from(path));
        assert_eq!(parse_url("sqlite:///abs/wharf.db").unwrap(), file("/abs/wharf.db"));
        assert_eq!(parse_url("sqlite://rel/wharf.db").unwrap(), file("rel/wharf.db"));
        assert_eq!(parse_url("sqlite:wharf.db?mode=rwc").unwrap(), file("wharf.db"));
        assert_eq!(parse_url("/var/lib/wharf/wharf.db").unwrap(), file("/var/lib/wharf/wharf.db"));
        assert_eq!(parse_url("./wharf.db").unwrap(), file("./wharf.db"));
        let pg = "postgresql://u:p@h/db";
        assert_eq!(parse_url(pg).unwrap(), Location::Postgres(pg.into()));
        assert!(parse_url("mysql://u:secret@h/db").is_err());
        assert!(parse_url("sqlite::memory:").is_err());
        assert!(parse_url("").is_err());
    }

    #[test]
    fn redacts_passwords() {
        let check = |url: &str, expected: &str| assert_eq!(redact_url(url), expected, "{url}");
        check("postgres://wharf:s3cr@t@db:5432/wharf", "postgres://wharf:***@db:5432/wharf");
        check("postgres://wharf@db/wharf", "postgres://wharf@db/wharf");
        check(
            "postgres://db/wharf?user=w&password=s3cret&x=1",
            "postgres://db/wharf?user=w&password=***&x=1",
        );
        check("/var/lib/wharf.db", "/var/lib/wharf.db");
        let err = parse_url("mysql://u:hunter2@h/db").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn timestamps_are_rfc3339_millis_utc() {
        let at = now_rfc3339();
        assert_eq!(at.len(), "2026-11-25T12:54:59.123Z".len(), "{at}");
        assert!(at.ends_with('Z') && at.as_bytes()[10] == b'T', "{at}");
    }
}
