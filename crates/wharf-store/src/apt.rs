//! APT repository metadata: packages (immutable, keyed by SHA-256), collections
//! (repositories and snapshots) with their members, and published prefixes.
//!
//! The SQL is written once and expanded for both backends by `impl_apt!`: placeholders
//! appear in numeric order and are never repeated, which both SQLite and PostgreSQL bind
//! the same way. Every membership change bumps the collection's `generation` in the same
//! transaction, so readers can tell "unchanged since generation N" without reading members.
//!
//! Every mutating method takes the audit entry that records it and appends it as the last
//! statement of the change's transaction (see `apt_commit_audited`): the change and its
//! entry commit together or not at all.

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::apt_record::{PublishRecord, RepoSettings, encode};
use crate::audit::{AuditEntry, NewAuditEntry};

/// One stored package (a distinct `.deb` content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptPackageRow {
    pub sha256: String,
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub size: i64,
    pub md5: String,
    pub sha1: String,
    /// The control stanza without the file fields, in dpkg's order.
    pub control: String,
}

/// A repository or snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptCollectionRow {
    pub name: String,
    pub settings: RepoSettings,
    pub generation: i64,
    pub created_at: String,
    pub n_packages: i64,
}

/// A package in a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptMemberRow {
    pub package: AptPackageRow,
    pub component: String,
}

/// A package in a collection without its control stanza: what a publish needs to decide
/// whether the stanza it rendered last time can be reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptMemberDigestRow {
    pub sha256: String,
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub size: i64,
    pub md5: String,
    pub sha1: String,
    pub component: String,
}

/// A published prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptPublishRow {
    pub prefix: String,
    pub record: PublishRecord,
    pub published_at: String,
}

/// Which kind of collection; stored (and serialized) as `repo`, `snapshot` or `mirror`.
/// A mirror's members are what its last update fetched from its remote repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AptKind {
    Repo,
    Snapshot,
    Mirror,
}

impl AptKind {
    /// `"repo"`, `"snapshot"` or `"mirror"`, as stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AptKind::Repo => "repo",
            AptKind::Snapshot => "snapshot",
            AptKind::Mirror => "mirror",
        }
    }
}

type PackageTuple = (String, String, String, String, i64, String, String, String);

fn package_from(tuple: PackageTuple) -> AptPackageRow {
    let (sha256, name, version, architecture, size, md5, sha1, control) = tuple;
    AptPackageRow { sha256, name, version, architecture, size, md5, sha1, control }
}

/// Parses what `apt_member_packages` aggregates; the error names the damaged part.
fn parse_member_packages(text: &str) -> Result<Vec<AptMemberRow>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut fields = [""; 9];
        for field in &mut fields {
            let (value, after) = rest
                .split_once('\t')
                .ok_or_else(|| format!("member line {:?}", first_line(rest)))?;
            *field = value;
            rest = after;
        }
        let [sha256, name, version, architecture, size, md5, sha1, component, n_chars] = fields;
        let n_chars: usize = n_chars.parse().map_err(|_| format!("stanza length {n_chars:?}"))?;
        // Characters, not bytes: what `length()` counts in both databases.
        let n_bytes = if rest.as_bytes().iter().take(n_chars).all(u8::is_ascii) {
            n_chars
        } else {
            rest.char_indices().nth(n_chars).map_or(rest.len(), |(at, _)| at)
        };
        let control =
            rest.get(..n_bytes).ok_or_else(|| format!("stanza of {sha256} is cut short"))?;
        rest = &rest[n_bytes..];
        match rest.strip_prefix('\n') {
            Some(after) => rest = after,
            None if rest.is_empty() => {}
            None => return Err(format!("stanza of {sha256} is longer than recorded")),
        }
        out.push(AptMemberRow {
            package: AptPackageRow {
                sha256: sha256.to_owned(),
                name: name.to_owned(),
                version: version.to_owned(),
                architecture: architecture.to_owned(),
                size: size.parse().map_err(|_| format!("size {size:?}"))?,
                md5: md5.to_owned(),
                sha1: sha1.to_owned(),
                control: control.to_owned(),
            },
            component: component.to_owned(),
        });
    }
    Ok(out)
}

/// Parses a stored record; a body that does not parse is [`StoreError::Corrupt`] naming
/// what it belongs to (`what`: `repository tools`, `publish at tools`).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    url: &str,
    op: &'static str,
    what: &str,
    body: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|err| StoreError::Corrupt {
        url: url.to_owned(),
        op,
        detail: format!("the record of {what} is not readable: {err}"),
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

macro_rules! package_columns {
    () => {
        "p.sha256, p.name, p.version, p.architecture, p.size, p.md5, p.sha1, p.control"
    };
}

/// Rows per multi-row statement: 9 bind parameters each stays far below SQLite's (32,766)
/// and PostgreSQL's (65,535) limits.
const ROWS_PER_STATEMENT: usize = 500;

/// `v1, v2, …)` — the rest of an `IN (` list, each value bound.
fn push_list<DB>(query: &mut sqlx::QueryBuilder<DB>, values: &[String])
where
    DB: sqlx::Database,
    for<'a> &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    query.push(")");
}

macro_rules! impl_apt {
    ($store:ty, $db:ty, $begin:literal, $big_cache:literal, $normal_cache:literal) => {
        impl $store {
            pub(crate) async fn apt_create_collection(
                &self,
                kind: AptKind,
                name: &str,
                settings: &RepoSettings,
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "create repository";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let done = sqlx::query(
                    "INSERT INTO apt_collection (kind, name, body, generation, created_at)
                     VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
                )
                .bind(kind.as_str())
                .bind(name)
                .bind(encode(settings))
                .bind(crate::now_rfc3339())
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                self.commit_audited(tx, entry, op).await.map(Some)
            }

            pub(crate) async fn apt_update_settings(
                &self,
                kind: AptKind,
                name: &str,
                settings: &RepoSettings,
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "change repository settings";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let done =
                    sqlx::query("UPDATE apt_collection SET body = $1 WHERE kind = $2 AND name = $3")
                        .bind(encode(settings))
                        .bind(kind.as_str())
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                        .map_err(self.query_err(op))?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                self.commit_audited(tx, entry, op).await.map(Some)
            }

            pub(crate) async fn apt_collections(
                &self,
                kind: AptKind,
                name: Option<&str>,
            ) -> Result<Vec<AptCollectionRow>, StoreError> {
                let op = "list repositories";
                let rows: Vec<(String, String, i64, String, i64)> = sqlx::query_as(
                    "SELECT c.name, c.body, c.generation, c.created_at,
                            (SELECT COUNT(*) FROM apt_member m WHERE m.kind = c.kind AND m.collection = c.name)
                     FROM apt_collection c
                     WHERE c.kind = $1 AND ($2 IS NULL OR c.name = $3)
                     ORDER BY c.name",
                )
                .bind(kind.as_str())
                .bind(name)
                .bind(name)
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err(op))?;
                rows.into_iter()
                    .map(|(name, body, generation, created_at, n_packages)| {
                        let what = format!("{} {name}", kind.as_str());
                        Ok(AptCollectionRow {
                            settings: decode(self.url(), op, &what, &body)?,
                            name,
                            generation,
                            created_at,
                            n_packages,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn apt_drop_collection(
                &self,
                kind: AptKind,
                name: &str,
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "drop repository";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                sqlx::query("DELETE FROM apt_member WHERE kind = $1 AND collection = $2")
                    .bind(kind.as_str())
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.query_err(op))?;
                let done = sqlx::query("DELETE FROM apt_collection WHERE kind = $1 AND name = $2")
                    .bind(kind.as_str())
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.query_err(op))?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                self.commit_audited(tx, entry, op).await.map(Some)
            }

            /// Opens the transaction of a membership change and bumps the generation;
            /// `None` when the collection does not exist.
            pub(crate) async fn apt_begin_change(
                &self,
                kind: AptKind,
                name: &str,
                bulk: bool,
            ) -> Result<Option<(sqlx::Transaction<'static, $db>, i64)>, StoreError> {
                let op = "change repository contents";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let generation: Option<i64> = sqlx::query_scalar(
                    "UPDATE apt_collection SET generation = generation + 1
                     WHERE kind = $1 AND name = $2 RETURNING generation",
                )
                .bind(kind.as_str())
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                let Some(generation) = generation else {
                    return Ok(None);
                };
                if bulk {
                    sqlx::query($big_cache).execute(&mut *tx).await.map_err(self.query_err(op))?;
                }
                Ok(Some((tx, generation)))
            }

            /// Bumps another collection's generation inside an open change; `None` when it
            /// does not exist.
            pub(crate) async fn apt_touch_in(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                kind: AptKind,
                name: &str,
            ) -> Result<Option<i64>, StoreError> {
                sqlx::query_scalar(
                    "UPDATE apt_collection SET generation = generation + 1
                     WHERE kind = $1 AND name = $2 RETURNING generation",
                )
                .bind(kind.as_str())
                .bind(name)
                .fetch_optional(&mut **tx)
                .await
                .map_err(self.query_err("change repository contents"))
            }

            /// Replaces the collection's settings inside an open change.
            pub(crate) async fn apt_set_settings_in(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                kind: AptKind,
                name: &str,
                settings: &RepoSettings,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE apt_collection SET body = $1 WHERE kind = $2 AND name = $3")
                    .bind(encode(settings))
                    .bind(kind.as_str())
                    .bind(name)
                    .execute(&mut **tx)
                    .await
                    .map_err(self.query_err("change repository settings"))?;
                Ok(())
            }

            pub(crate) async fn apt_change_rows(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                kind: AptKind,
                name: &str,
                add: &[AptMemberRow],
                remove: &[String],
            ) -> Result<(), StoreError> {
                let op = "change repository contents";
                let now = crate::now_rfc3339();
                // Many rows per statement: each statement is a round trip to the driver,
                // and 20,000 packages one by one cost seconds.
                for chunk in remove.chunks(ROWS_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "DELETE FROM apt_member WHERE kind = ",
                    );
                    query.push_bind(kind.as_str());
                    query.push(" AND collection = ");
                    query.push_bind(name);
                    query.push(" AND sha256 IN (");
                    push_list(&mut query, chunk);
                    query.build().execute(&mut **tx).await.map_err(self.query_err(op))?;
                }
                for chunk in add.chunks(ROWS_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO apt_package
                         (sha256, name, version, architecture, size, md5, sha1, control, added_at) ",
                    );
                    query.push_values(chunk, |mut row, member| {
                        let package = &member.package;
                        row.push_bind(&package.sha256)
                            .push_bind(&package.name)
                            .push_bind(&package.version)
                            .push_bind(&package.architecture)
                            .push_bind(package.size)
                            .push_bind(&package.md5)
                            .push_bind(&package.sha1)
                            .push_bind(&package.control)
                            .push_bind(&now);
                    });
                    query.push(" ON CONFLICT DO NOTHING");
                    query.build().execute(&mut **tx).await.map_err(self.query_err(op))?;
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO apt_member (kind, collection, sha256, component) ",
                    );
                    query.push_values(chunk, |mut row, member| {
                        row.push_bind(kind.as_str())
                            .push_bind(name)
                            .push_bind(&member.package.sha256)
                            .push_bind(&member.component);
                    });
                    query.push(" ON CONFLICT DO NOTHING");
                    query.build().execute(&mut **tx).await.map_err(self.query_err(op))?;
                }
                Ok(())
            }

            pub(crate) async fn apt_commit_change(
                &self,
                mut tx: sqlx::Transaction<'static, $db>,
                bulk: bool,
            ) -> Result<(), StoreError> {
                let op = "change repository contents";
                if bulk {
                    sqlx::query($normal_cache).execute(&mut *tx).await.map_err(self.query_err(op))?;
                }
                tx.commit().await.map_err(self.query_err(op))
            }

            pub(crate) async fn apt_members(
                &self,
                kind: AptKind,
                name: &str,
            ) -> Result<Vec<AptMemberRow>, StoreError> {
                let sql = concat!(
                    "SELECT ",
                    package_columns!(),
                    ", m.component FROM apt_member m
                     JOIN apt_package p ON p.sha256 = m.sha256
                     WHERE m.kind = $1 AND m.collection = $2
                     ORDER BY p.name, p.architecture, p.version"
                );
                self.apt_member_rows(sql, kind, name, "list repository contents").await
            }

            pub(crate) async fn apt_member_sources(
                &self,
                kind: AptKind,
                name: &str,
            ) -> Result<Vec<AptMemberRow>, StoreError> {
                // Through the architecture index of migration 0010: a repository of
                // 20,000 binary packages and no sources costs one index probe.
                let sql = concat!(
                    "SELECT ",
                    package_columns!(),
                    ", m.component FROM apt_package p
                     JOIN apt_member m ON m.sha256 = p.sha256
                     WHERE p.architecture = 'source' AND m.kind = $1 AND m.collection = $2
                     ORDER BY p.name, p.version"
                );
                self.apt_member_rows(sql, kind, name, "list source packages").await
            }

            /// Members as `sql` (package columns and the component; binds kind, name)
            /// selects them.
            async fn apt_member_rows(
                &self,
                sql: &'static str,
                kind: AptKind,
                name: &str,
                op: &'static str,
            ) -> Result<Vec<AptMemberRow>, StoreError> {
                let rows: Vec<(String, String, String, String, i64, String, String, String, String)> =
                    sqlx::query_as(sql)
                        .bind(kind.as_str())
                        .bind(name)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(self.query_err(op))?;
                Ok(rows
                    .into_iter()
                    .map(|(a, b, c, d, e, f, g, h, component)| AptMemberRow {
                        package: package_from((a, b, c, d, e, f, g, h)),
                        component,
                    })
                    .collect())
            }

            pub(crate) async fn apt_member_packages(
                &self,
                kind: AptKind,
                name: &str,
            ) -> Result<Vec<AptMemberRow>, StoreError> {
                let op = "list repository contents";
                // One row for the whole list: tens of thousands of rows cost far more one
                // by one. A line per member: eight tab-separated fields that hold no tab
                // or newline (hex digests, validated names and versions, numbers), the
                // control stanza's length in characters, a tab, and the stanza. One
                // concat_ws per line: a chain of `||` copies the line once per operator.
                let row: (Option<String>,) = sqlx::query_as(
                    "SELECT string_agg(concat_ws('\t', p.sha256, p.name, p.version,
                        p.architecture, p.size, p.md5, p.sha1, m.component, length(p.control),
                        p.control), '\n')
                     FROM apt_member m JOIN apt_package p ON p.sha256 = m.sha256
                     WHERE m.kind = $1 AND m.collection = $2",
                )
                .bind(kind.as_str())
                .bind(name)
                .fetch_one(&self.pool)
                .await
                .map_err(self.query_err(op))?;
                parse_member_packages(row.0.as_deref().unwrap_or_default()).map_err(|detail| {
                    StoreError::Corrupt { url: self.url().to_owned(), op, detail }
                })
            }

            pub(crate) async fn apt_member_shas(
                &self,
                kind: AptKind,
                name: &str,
            ) -> Result<Vec<(String, String)>, StoreError> {
                let op = "list repository contents";
                // One aggregated row: see `apt_member_packages`. Members only, no join.
                let row: (Option<String>,) = sqlx::query_as(
                    "SELECT string_agg(sha256 || '\t' || component, '\n')
                     FROM apt_member WHERE kind = $1 AND collection = $2",
                )
                .bind(kind.as_str())
                .bind(name)
                .fetch_one(&self.pool)
                .await
                .map_err(self.query_err(op))?;
                row.0
                    .as_deref()
                    .unwrap_or_default()
                    .lines()
                    .map(|line| match line.split_once('\t') {
                        Some((sha256, component)) => Ok((sha256.to_owned(), component.to_owned())),
                        None => Err(StoreError::Corrupt {
                            url: self.url().to_owned(),
                            op,
                            detail: format!("member line {line:?}"),
                        }),
                    })
                    .collect()
            }

            pub(crate) async fn apt_members_named(
                &self,
                kind: AptKind,
                collection: &str,
                names: &[String],
            ) -> Result<Vec<AptMemberDigestRow>, StoreError> {
                let op = "list repository contents";
                let mut out = Vec::new();
                for chunk in names.chunks(ROWS_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT p.sha256, p.name, p.version, p.architecture, p.size, p.md5, p.sha1,
                                m.component
                         FROM apt_package p CROSS JOIN apt_member m
                         WHERE m.sha256 = p.sha256 AND m.kind = ",
                    );
                    query.push_bind(kind.as_str());
                    query.push(" AND m.collection = ");
                    query.push_bind(collection);
                    query.push(" AND p.name IN (");
                    push_list(&mut query, chunk);
                    let rows: Vec<(String, String, String, String, i64, String, String, String)> =
                        query.build_query_as().fetch_all(&self.pool).await.map_err(self.query_err(op))?;
                    out.extend(rows.into_iter().map(
                        |(sha256, name, version, architecture, size, md5, sha1, component)| {
                            AptMemberDigestRow {
                                sha256,
                                name,
                                version,
                                architecture,
                                size,
                                md5,
                                sha1,
                                component,
                            }
                        },
                    ));
                }
                Ok(out)
            }

            pub(crate) async fn apt_packages(
                &self,
                shas: &[String],
            ) -> Result<Vec<AptPackageRow>, StoreError> {
                let op = "read packages";
                let mut out = Vec::with_capacity(shas.len());
                for chunk in shas.chunks(ROWS_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(concat!(
                        "SELECT ",
                        package_columns!(),
                        " FROM apt_package p WHERE p.sha256 IN ("
                    ));
                    push_list(&mut query, chunk);
                    let rows: Vec<PackageTuple> =
                        query.build_query_as().fetch_all(&self.pool).await.map_err(self.query_err(op))?;
                    out.extend(rows.into_iter().map(package_from));
                }
                Ok(out)
            }

            pub(crate) async fn apt_control(&self, sha256: &str) -> Result<Option<String>, StoreError> {
                let op = "read package control";
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT control FROM apt_package WHERE sha256 = $1")
                        .bind(sha256)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(self.query_err(op))?;
                Ok(row.map(|(control,)| control))
            }

            pub(crate) async fn apt_delete_unreferenced(
                &self,
                entry: impl FnOnce(&[String]) -> NewAuditEntry,
            ) -> Result<(Vec<String>, AuditEntry), StoreError> {
                let op = "delete unreferenced packages";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let rows: Vec<(String,)> = sqlx::query_as(
                    "DELETE FROM apt_package
                     WHERE NOT EXISTS (SELECT 1 FROM apt_member m WHERE m.sha256 = apt_package.sha256)
                     RETURNING sha256",
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                let forgotten: Vec<String> = rows.into_iter().map(|(sha256,)| sha256).collect();
                let entry = entry(&forgotten);
                let audited = self.commit_audited(tx, &entry, op).await?;
                Ok((forgotten, audited))
            }

            pub(crate) async fn apt_snapshot(
                &self,
                from_kind: AptKind,
                from: &str,
                name: &str,
                settings: &RepoSettings,
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "create snapshot";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let done = sqlx::query(
                    "INSERT INTO apt_collection (kind, name, body, generation, created_at)
                     VALUES ('snapshot', $1, $2, 1, $3) ON CONFLICT DO NOTHING",
                )
                .bind(name)
                .bind(encode(settings))
                .bind(crate::now_rfc3339())
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                sqlx::query(
                    "INSERT INTO apt_member (kind, collection, sha256, component)
                     SELECT 'snapshot', $1, sha256, component FROM apt_member
                     WHERE kind = $2 AND collection = $3",
                )
                .bind(name)
                .bind(from_kind.as_str())
                .bind(from)
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                self.commit_audited(tx, entry, op).await.map(Some)
            }

            pub(crate) async fn apt_all_packages(&self) -> Result<Vec<AptPackageRow>, StoreError> {
                let op = "list packages";
                let sql = concat!("SELECT ", package_columns!(), " FROM apt_package p ORDER BY p.sha256");
                let rows: Vec<PackageTuple> = sqlx::query_as(sql)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(self.query_err(op))?;
                Ok(rows.into_iter().map(package_from).collect())
            }

            pub(crate) async fn apt_put_publish(
                &self,
                prefix: &str,
                record: &PublishRecord,
                entry: &NewAuditEntry,
            ) -> Result<AuditEntry, StoreError> {
                let op = "record publish";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                sqlx::query(
                    "INSERT INTO apt_publish (prefix, body, published_at) VALUES ($1, $2, $3)
                     ON CONFLICT (prefix) DO UPDATE SET body = excluded.body,
                     published_at = excluded.published_at",
                )
                .bind(prefix)
                .bind(encode(record))
                .bind(crate::now_rfc3339())
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                crate::failpoint::hit("store.publish_recorded");
                self.commit_audited(tx, entry, op).await
            }

            pub(crate) async fn apt_publishes(&self) -> Result<Vec<AptPublishRow>, StoreError> {
                let op = "list publishes";
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT prefix, body, published_at FROM apt_publish ORDER BY prefix",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err(op))?;
                rows.into_iter()
                    .map(|(prefix, body, published_at)| {
                        let what = format!("publish at {prefix}");
                        Ok(AptPublishRow {
                            record: decode(self.url(), op, &what, &body)?,
                            prefix,
                            published_at,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn apt_drop_publish(
                &self,
                prefix: &str,
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "drop publish";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let done = sqlx::query("DELETE FROM apt_publish WHERE prefix = $1")
                    .bind(prefix)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.query_err(op))?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                self.commit_audited(tx, entry, op).await.map(Some)
            }
        }
    };
}

// A bulk change gets a 16 MiB SQLite page cache for its transaction (the default 2 MiB
// spilled to the journal while adding 20,000 packages); other commands keep the default,
// which keeps a publish's memory small. PostgreSQL needs neither.
impl_apt!(
    crate::sqlite::SqliteStore,
    sqlx::Sqlite,
    "BEGIN IMMEDIATE",
    "PRAGMA cache_size = -16384",
    "PRAGMA cache_size = -2000"
);
impl_apt!(crate::postgres::PgStore, sqlx::Postgres, "BEGIN", "SELECT 1", "SELECT 1");

/// A membership change in progress: one open transaction (see
/// [`crate::Store::apt_begin_change`]).
pub struct AptChange {
    tx: ChangeTx,
    kind: AptKind,
    name: String,
    generation: i64,
    bulk: bool,
}

enum ChangeTx {
    Sqlite(crate::sqlite::SqliteStore, sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(crate::postgres::PgStore, sqlx::Transaction<'static, sqlx::Postgres>),
}

impl AptChange {
    /// The generation the collection has once this change is committed.
    #[must_use]
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Adds members (package rows inserted if new).
    pub async fn add(&mut self, add: &[AptMemberRow]) -> Result<(), StoreError> {
        let (kind, name) = (self.kind, self.name.as_str());
        match &mut self.tx {
            ChangeTx::Sqlite(store, tx) => store.apt_change_rows(tx, kind, name, add, &[]).await,
            ChangeTx::Postgres(store, tx) => store.apt_change_rows(tx, kind, name, add, &[]).await,
        }
    }

    /// Removes the members with these SHA-256s.
    pub async fn remove(&mut self, remove: &[String]) -> Result<(), StoreError> {
        let (kind, name) = (self.kind, self.name.as_str());
        match &mut self.tx {
            ChangeTx::Sqlite(store, tx) => store.apt_change_rows(tx, kind, name, &[], remove).await,
            ChangeTx::Postgres(store, tx) => {
                store.apt_change_rows(tx, kind, name, &[], remove).await
            }
        }
    }

    /// Replaces the collection's settings in the same transaction (a mirror records
    /// what its update fetched).
    pub async fn set_settings(&mut self, settings: &RepoSettings) -> Result<(), StoreError> {
        let (kind, name) = (self.kind, self.name.as_str());
        match &mut self.tx {
            ChangeTx::Sqlite(store, tx) => {
                store.apt_set_settings_in(tx, kind, name, settings).await
            }
            ChangeTx::Postgres(store, tx) => {
                store.apt_set_settings_in(tx, kind, name, settings).await
            }
        }
    }

    /// Removes members with these SHA-256s from another collection in the same
    /// transaction (bumping its generation): a move takes packages out of one repository
    /// and into another atomically. Returns that collection's new generation, `None` when
    /// it does not exist.
    pub async fn remove_from(
        &mut self,
        kind: AptKind,
        name: &str,
        remove: &[String],
    ) -> Result<Option<i64>, StoreError> {
        let generation = match &mut self.tx {
            ChangeTx::Sqlite(store, tx) => store.apt_touch_in(tx, kind, name).await?,
            ChangeTx::Postgres(store, tx) => store.apt_touch_in(tx, kind, name).await?,
        };
        if generation.is_some() {
            match &mut self.tx {
                ChangeTx::Sqlite(store, tx) => {
                    store.apt_change_rows(tx, kind, name, &[], remove).await?;
                }
                ChangeTx::Postgres(store, tx) => {
                    store.apt_change_rows(tx, kind, name, &[], remove).await?;
                }
            }
        }
        Ok(generation)
    }

    /// Makes the change durable and visible without an audit entry; returns the new
    /// generation. Commands use [`AptChange::commit_audited`]; this is for tests and
    /// tools that record elsewhere.
    pub async fn commit(self) -> Result<i64, StoreError> {
        match self.tx {
            ChangeTx::Sqlite(store, tx) => store.apt_commit_change(tx, self.bulk).await?,
            ChangeTx::Postgres(store, tx) => store.apt_commit_change(tx, self.bulk).await?,
        }
        Ok(self.generation)
    }

    /// [`AptChange::commit`] with the audit entry that records the change appended in the
    /// same transaction: a crash leaves both or neither.
    pub async fn commit_audited(
        self,
        entry: &crate::NewAuditEntry,
    ) -> Result<(i64, crate::AuditEntry), StoreError> {
        let row = match self.tx {
            ChangeTx::Sqlite(store, mut tx) => {
                let row = store.append_audit_in(&mut tx, entry).await?;
                store.apt_commit_change(tx, self.bulk).await?;
                row
            }
            ChangeTx::Postgres(store, mut tx) => {
                let row = store.append_audit_in(&mut tx, entry).await?;
                store.apt_commit_change(tx, self.bulk).await?;
                row
            }
        };
        Ok((self.generation, row.entry_of(entry)))
    }
}

impl crate::Store {
    /// SHA-256 and component of every member: the cheapest listing, for publishes that
    /// take the rest from the previous index.
    pub async fn apt_member_shas(
        &self,
        kind: AptKind,
        name: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        dispatch!(self, apt_member_shas(kind, name))
    }

    /// Members whose package name is one of `names`, without control stanzas.
    pub async fn apt_members_named(
        &self,
        kind: AptKind,
        collection: &str,
        names: &[String],
    ) -> Result<Vec<AptMemberDigestRow>, StoreError> {
        dispatch!(self, apt_members_named(kind, collection, names))
    }

    /// The stored packages with these SHA-256s (unknown ones are left out), any order.
    pub async fn apt_packages(&self, shas: &[String]) -> Result<Vec<AptPackageRow>, StoreError> {
        dispatch!(self, apt_packages(shas))
    }

    /// Creates an empty repository (`kind` repo) or snapshot shell and appends `entry`
    /// in the same transaction; returns the stored entry, or `None` (and no entry) if the
    /// name is taken.
    pub async fn apt_create_collection(
        &self,
        kind: AptKind,
        name: &str,
        settings: &RepoSettings,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, apt_create_collection(kind, name, settings, entry))
    }

    /// Replaces a collection's settings and appends `entry` in the same transaction;
    /// returns the stored entry, or `None` (and no entry) if there is no such collection.
    pub async fn apt_update_settings(
        &self,
        kind: AptKind,
        name: &str,
        settings: &RepoSettings,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, apt_update_settings(kind, name, settings, entry))
    }

    /// All collections of a kind, or the one named. A stored body that does not parse is
    /// [`StoreError::Corrupt`].
    pub async fn apt_collections(
        &self,
        kind: AptKind,
        name: Option<&str>,
    ) -> Result<Vec<AptCollectionRow>, StoreError> {
        dispatch!(self, apt_collections(kind, name))
    }

    /// Deletes a collection and its membership (packages stay stored) and appends `entry`
    /// in the same transaction; returns the stored entry, or `None` (and no entry) if there
    /// is no such collection.
    pub async fn apt_drop_collection(
        &self,
        kind: AptKind,
        name: &str,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, apt_drop_collection(kind, name, entry))
    }

    /// Opens a membership change that is fed in batches — a large `repo add` inserts
    /// while it still reads files — and bumps the generation; `None` when the collection
    /// does not exist. Nothing is visible to others until [`AptChange::commit_audited`];
    /// dropped uncommitted, it changes nothing. `bulk` gives the transaction a larger page
    /// cache.
    pub async fn apt_begin_change(
        &self,
        kind: AptKind,
        name: &str,
        bulk: bool,
    ) -> Result<Option<AptChange>, StoreError> {
        let open = match &self.backend {
            crate::Backend::Sqlite(store) => store
                .apt_begin_change(kind, name, bulk)
                .await?
                .map(|(tx, generation)| (ChangeTx::Sqlite(store.clone(), tx), generation)),
            crate::Backend::Postgres(store) => store
                .apt_begin_change(kind, name, bulk)
                .await?
                .map(|(tx, generation)| (ChangeTx::Postgres(store.clone(), tx), generation)),
        };
        Ok(open.map(|(tx, generation)| AptChange {
            tx,
            kind,
            name: name.to_owned(),
            generation,
            bulk,
        }))
    }

    /// The members of a collection, ordered by name, architecture, version text.
    pub async fn apt_members(
        &self,
        kind: AptKind,
        name: &str,
    ) -> Result<Vec<AptMemberRow>, StoreError> {
        dispatch!(self, apt_members(kind, name))
    }

    /// The source packages (architecture `source`) of a collection, by name and version
    /// text, with their `Sources` stanzas.
    pub async fn apt_member_sources(
        &self,
        kind: AptKind,
        name: &str,
    ) -> Result<Vec<AptMemberRow>, StoreError> {
        dispatch!(self, apt_member_sources(kind, name))
    }

    /// The members of a collection with their control stanzas, in no particular order:
    /// much cheaper than [`Store::apt_members`] on large repositories.
    pub async fn apt_member_packages(
        &self,
        kind: AptKind,
        name: &str,
    ) -> Result<Vec<AptMemberRow>, StoreError> {
        dispatch!(self, apt_member_packages(kind, name))
    }

    /// The control stanza of one stored package.
    pub async fn apt_control(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self, apt_control(sha256))
    }

    /// Forgets every package that no repository or snapshot contains and appends the
    /// entry `entry` builds from their SHA-256s, in one transaction (always, even when
    /// nothing was forgotten: the cleanup itself is recorded). Returns the SHA-256s, so
    /// the caller can delete the files, and the stored entry.
    pub async fn apt_delete_unreferenced(
        &self,
        entry: impl FnOnce(&[String]) -> NewAuditEntry,
    ) -> Result<(Vec<String>, AuditEntry), StoreError> {
        dispatch!(self, apt_delete_unreferenced(entry))
    }

    /// Freezes repository (or mirror: `from_kind`) `from` as snapshot `name` and appends
    /// `entry` in the same transaction; returns the stored entry, or `None` (and no
    /// entry) if the snapshot name is taken.
    pub async fn apt_snapshot(
        &self,
        from_kind: AptKind,
        from: &str,
        name: &str,
        settings: &RepoSettings,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, apt_snapshot(from_kind, from, name, settings, entry))
    }

    /// Every stored package, for verification.
    pub async fn apt_all_packages(&self) -> Result<Vec<AptPackageRow>, StoreError> {
        dispatch!(self, apt_all_packages())
    }

    /// Records (or replaces) the publish at `prefix` and appends `entry` in the same
    /// transaction; returns the stored entry.
    pub async fn apt_put_publish(
        &self,
        prefix: &str,
        record: &PublishRecord,
        entry: &NewAuditEntry,
    ) -> Result<AuditEntry, StoreError> {
        dispatch!(self, apt_put_publish(prefix, record, entry))
    }

    /// Every publish, by prefix. A stored record that does not parse is
    /// [`StoreError::Corrupt`].
    pub async fn apt_publishes(&self) -> Result<Vec<AptPublishRow>, StoreError> {
        dispatch!(self, apt_publishes())
    }

    /// Forgets the publish at `prefix` and appends `entry` in the same transaction;
    /// returns the stored entry, or `None` (and no entry) if nothing is published there.
    pub async fn apt_drop_publish(
        &self,
        prefix: &str,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, apt_drop_publish(prefix, entry))
    }
}
