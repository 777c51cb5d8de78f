//! The state deployments' guard rails read and write: environment locks, package holds,
//! nodes in maintenance, and deploy leases (one deploy per environment at a time).
//!
//! Every change appends its audit entry in the same transaction, and a refused change
//! (someone else's lock, a lease still held) writes nothing. Written once for both
//! backends by `impl_guard!`, like `apt.rs`. Leases take the clock as a parameter (Unix
//! milliseconds), so tests drive time instead of sleeping.

use crate::{AuditEntry, NewAuditEntry, StoreError};

/// The environment name of the global lock (`wharf lock --all`).
pub const ALL_ENVIRONMENTS: &str = "*";

/// A lock on an environment (or on all, [`ALL_ENVIRONMENTS`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnvLock {
    pub environment: String,
    /// Who locked it.
    pub holder: String,
    pub reason: String,
    /// RFC 3339, UTC.
    pub since: String,
    /// RFC 3339: the lock lapses then; `None`: until unlocked.
    pub until: Option<String>,
}

/// What locking an environment did.
#[derive(Debug, Clone, PartialEq)]
pub enum LockOutcome {
    /// Locked (or the holder's own lock renewed), with the audit entry.
    Locked(AuditEntry),
    /// Someone else holds it and nothing was stolen: nothing changed.
    HeldBy(EnvLock),
}

/// A package held on an environment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageHold {
    pub environment: String,
    pub package: String,
    pub holder: String,
    pub reason: String,
    pub since: String,
}

/// A node in maintenance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Maintenance {
    pub node: String,
    pub holder: String,
    pub reason: String,
    pub since: String,
}

/// The running deploy of an environment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lease {
    pub environment: String,
    pub deploy_id: i64,
    /// Who runs it: `host:pid:start` or a server's id.
    pub owner: String,
    /// Unix milliseconds; past it, the lease may be taken over.
    pub expires_ms: i64,
}

type LockTuple = (String, String, String, String, Option<String>);

fn lock_from((environment, holder, reason, since, until): LockTuple) -> EnvLock {
    EnvLock { environment, holder, reason, since, until }
}

macro_rules! impl_guard {
    ($store:ty, $db:ty, $begin:literal) => {
        impl $store {
            pub(crate) async fn lock_environment(
                &self,
                lock: &EnvLock,
                steal: bool,
                entry: &NewAuditEntry,
            ) -> Result<LockOutcome, StoreError> {
                let op = "lock environment";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let current: Option<LockTuple> = sqlx::query_as(
                    "SELECT environment, holder, reason, since, until FROM env_lock
                     WHERE environment = $1",
                )
                .bind(&lock.environment)
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                // A lock past its `until` is gone: replaced without stealing. Both times are
                // written by Wharf as `YYYY-MM-DDTHH:MM:SS.mmmZ`, so text order is time order.
                let expired = |l: &EnvLock| l.until.as_ref().is_some_and(|until| *until <= lock.since);
                if let Some(current) = current.map(lock_from)
                    && current.holder != lock.holder
                    && !expired(&current)
                    && !steal
                {
                    return Ok(LockOutcome::HeldBy(current));
                }
                sqlx::query(
                    "INSERT INTO env_lock (environment, holder, reason, since, until)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (environment) DO UPDATE SET holder = excluded.holder,
                     reason = excluded.reason, since = excluded.since, until = excluded.until",
                )
                .bind(&lock.environment)
                .bind(&lock.holder)
                .bind(&lock.reason)
                .bind(&lock.since)
                .bind(&lock.until)
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                self.commit_audited(tx, entry, op).await.map(LockOutcome::Locked)
            }

            pub(crate) async fn unlock_environment(
                &self,
                environment: &str,
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "unlock environment";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let done = sqlx::query("DELETE FROM env_lock WHERE environment = $1")
                    .bind(environment)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.query_err(op))?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                self.commit_audited(tx, entry, op).await.map(Some)
            }

            pub(crate) async fn locks(&self) -> Result<Vec<EnvLock>, StoreError> {
                let rows: Vec<LockTuple> = sqlx::query_as(
                    "SELECT environment, holder, reason, since, until FROM env_lock
                     ORDER BY environment",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err("list locks"))?;
                Ok(rows.into_iter().map(lock_from).collect())
            }

            pub(crate) async fn hold_package(
                &self,
                hold: &PackageHold,
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "hold package";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let done = sqlx::query(
                    "INSERT INTO package_hold (environment, package, holder, reason, since)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(&hold.environment)
                .bind(&hold.package)
                .bind(&hold.holder)
                .bind(&hold.reason)
                .bind(&hold.since)
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                self.commit_audited(tx, entry, op).await.map(Some)
            }

            pub(crate) async fn unhold_package(
                &self,
                environment: &str,
                package: &str,
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "unhold package";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let done = sqlx::query(
                    "DELETE FROM package_hold WHERE environment = $1 AND package = $2",
                )
                .bind(environment)
                .bind(package)
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                self.commit_audited(tx, entry, op).await.map(Some)
            }

            pub(crate) async fn holds(&self) -> Result<Vec<PackageHold>, StoreError> {
                let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
                    "SELECT environment, package, holder, reason, since FROM package_hold
                     ORDER BY environment, package",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err("list holds"))?;
                Ok(rows
                    .into_iter()
                    .map(|(environment, package, holder, reason, since)| PackageHold {
                        environment,
                        package,
                        holder,
                        reason,
                        since,
                    })
                    .collect())
            }

            pub(crate) async fn start_maintenance(
                &self,
                nodes: &[String],
                holder: &str,
                reason: &str,
                since: &str,
                entry: &NewAuditEntry,
            ) -> Result<AuditEntry, StoreError> {
                let op = "start maintenance";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                for node in nodes {
                    sqlx::query(
                        "INSERT INTO node_maintenance (node, holder, reason, since)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (node) DO UPDATE SET holder = excluded.holder,
                         reason = excluded.reason, since = excluded.since",
                    )
                    .bind(node)
                    .bind(holder)
                    .bind(reason)
                    .bind(since)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.query_err(op))?;
                }
                self.commit_audited(tx, entry, op).await
            }

            pub(crate) async fn stop_maintenance(
                &self,
                nodes: &[String],
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "stop maintenance";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let mut n_stopped = 0;
                for node in nodes {
                    let done = sqlx::query("DELETE FROM node_maintenance WHERE node = $1")
                        .bind(node)
                        .execute(&mut *tx)
                        .await
                        .map_err(self.query_err(op))?;
                    n_stopped += done.rows_affected();
                }
                if n_stopped == 0 {
                    return Ok(None);
                }
                self.commit_audited(tx, entry, op).await.map(Some)
            }

            pub(crate) async fn maintenance(&self) -> Result<Vec<Maintenance>, StoreError> {
                let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                    "SELECT node, holder, reason, since FROM node_maintenance ORDER BY node",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err("list maintenance"))?;
                Ok(rows
                    .into_iter()
                    .map(|(node, holder, reason, since)| Maintenance { node, holder, reason, since })
                    .collect())
            }

            pub(crate) async fn acquire_lease(
                &self,
                lease: &Lease,
                now_ms: i64,
            ) -> Result<Result<(), Lease>, StoreError> {
                let op = "acquire deploy lease";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                // Taken when absent or expired, or already this deploy's: one statement,
                // so two processes racing for it cannot both win.
                let done = sqlx::query(
                    "INSERT INTO deploy_lease (environment, deploy_id, owner, expires_ms)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (environment) DO UPDATE SET deploy_id = excluded.deploy_id,
                     owner = excluded.owner, expires_ms = excluded.expires_ms
                     WHERE deploy_lease.expires_ms <= $5 OR deploy_lease.deploy_id = $6",
                )
                .bind(&lease.environment)
                .bind(lease.deploy_id)
                .bind(&lease.owner)
                .bind(lease.expires_ms)
                .bind(now_ms)
                .bind(lease.deploy_id)
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                if done.rows_affected() == 1 {
                    tx.commit().await.map_err(self.query_err(op))?;
                    return Ok(Ok(()));
                }
                let (environment, deploy_id, owner, expires_ms): (String, i64, String, i64) =
                    sqlx::query_as(
                        "SELECT environment, deploy_id, owner, expires_ms FROM deploy_lease
                         WHERE environment = $1",
                    )
                    .bind(&lease.environment)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(self.query_err(op))?;
                Ok(Err(Lease { environment, deploy_id, owner, expires_ms }))
            }

            pub(crate) async fn renew_lease(
                &self,
                lease: &Lease,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE deploy_lease SET expires_ms = $1
                     WHERE environment = $2 AND deploy_id = $3 AND owner = $4",
                )
                .bind(lease.expires_ms)
                .bind(&lease.environment)
                .bind(lease.deploy_id)
                .bind(&lease.owner)
                .execute(&self.pool)
                .await
                .map_err(self.query_err("renew deploy lease"))?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
                let rows: Vec<(String, i64, String, i64)> = sqlx::query_as(
                    "SELECT environment, deploy_id, owner, expires_ms FROM deploy_lease
                     ORDER BY environment",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err("list deploy leases"))?;
                Ok(rows
                    .into_iter()
                    .map(|(environment, deploy_id, owner, expires_ms)| Lease {
                        environment,
                        deploy_id,
                        owner,
                        expires_ms,
                    })
                    .collect())
            }

            pub(crate) async fn release_lease(
                &self,
                environment: &str,
                deploy_id: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "DELETE FROM deploy_lease WHERE environment = $1 AND deploy_id = $2",
                )
                .bind(environment)
                .bind(deploy_id)
                .execute(&self.pool)
                .await
                .map_err(self.query_err("release deploy lease"))?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

impl_guard!(crate::sqlite::SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
impl_guard!(crate::postgres::PgStore, sqlx::Postgres, "BEGIN");

impl crate::Store {
    /// Lock an environment. Someone else's lock is kept (and returned) unless `steal`;
    /// the holder's own lock is renewed. The lock and its audit entry commit together.
    pub async fn lock_environment(
        &self,
        lock: &EnvLock,
        steal: bool,
        entry: &NewAuditEntry,
    ) -> Result<LockOutcome, StoreError> {
        dispatch!(self, lock_environment(lock, steal, entry))
    }

    /// Unlock; `None` (and no entry) when it was not locked.
    pub async fn unlock_environment(
        &self,
        environment: &str,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, unlock_environment(environment, entry))
    }

    /// Every lock, by environment (`*` first: the global lock).
    pub async fn locks(&self) -> Result<Vec<EnvLock>, StoreError> {
        dispatch!(self, locks())
    }

    /// Record a hold; `None` (and no entry) when that package is already held there.
    pub async fn hold_package(
        &self,
        hold: &PackageHold,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, hold_package(hold, entry))
    }

    /// Forget a hold; `None` (and no entry) when there was none.
    pub async fn unhold_package(
        &self,
        environment: &str,
        package: &str,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, unhold_package(environment, package, entry))
    }

    /// Every hold, by environment and package.
    pub async fn holds(&self) -> Result<Vec<PackageHold>, StoreError> {
        dispatch!(self, holds())
    }

    /// Put nodes in maintenance (renewing the reason of those already in it).
    pub async fn start_maintenance(
        &self,
        nodes: &[String],
        holder: &str,
        reason: &str,
        since: &str,
        entry: &NewAuditEntry,
    ) -> Result<AuditEntry, StoreError> {
        dispatch!(self, start_maintenance(nodes, holder, reason, since, entry))
    }

    /// Take nodes out of maintenance; `None` (and no entry) when none of them was in it.
    pub async fn stop_maintenance(
        &self,
        nodes: &[String],
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, stop_maintenance(nodes, entry))
    }

    /// Every node in maintenance.
    pub async fn maintenance(&self) -> Result<Vec<Maintenance>, StoreError> {
        dispatch!(self, maintenance())
    }

    /// Take the environment's deploy lease for `lease.deploy_id` until `lease.expires_ms`:
    /// `Ok(Err(holder))` when another deploy holds an unexpired one. Atomic across
    /// processes and servers: of two racing deploys exactly one gets it.
    pub async fn acquire_lease(
        &self,
        lease: &Lease,
        now_ms: i64,
    ) -> Result<Result<(), Lease>, StoreError> {
        dispatch!(self, acquire_lease(lease, now_ms))
    }

    /// Extend the lease to `lease.expires_ms` (the heartbeat); `false` when it is no
    /// longer this owner's (it expired and was taken over).
    pub async fn renew_lease(&self, lease: &Lease) -> Result<bool, StoreError> {
        dispatch!(self, renew_lease(lease))
    }

    /// Every deploy lease, expired or not: who runs what, for finding deploys whose
    /// owner is gone.
    pub async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        dispatch!(self, leases())
    }

    /// Give the lease up; `false` when this deploy did not hold it.
    pub async fn release_lease(
        &self,
        environment: &str,
        deploy_id: i64,
    ) -> Result<bool, StoreError> {
        dispatch!(self, release_lease(environment, deploy_id))
    }
}
