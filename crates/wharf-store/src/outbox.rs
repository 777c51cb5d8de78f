//! The notification outbox: every audit entry whose action is worth announcing
//! ([`ANNOUNCED_ACTIONS`]) and every announcing deploy event ([`ANNOUNCED_DEPLOY_EVENTS`])
//! gets an outbox row **in the transaction that writes it** — the hook is in the backends'
//! `append_audit_in` and in `append_deploy_event`, so no caller can forget it. Delivery
//! (in `wharf-app`) keeps, per destination, how far it got (`outbox_destination`, taken
//! under a lease so one process delivers to a destination at a time, in order) and each
//! row's attempts (`outbox_delivery`).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::StoreError;
use crate::apt::decode;
use crate::audit::AuditRow;

/// Audit actions that are announced, as the application layer writes them.
pub const ANNOUNCED_ACTIONS: &[&str] = &[
    "deploy.start",
    "deploy.succeeded",
    "deploy.failed",
    "deploy.refused",
    "deploy.interrupted",
    "deploy.cancelled",
    "deploy.cancel",
    "deploy.approve",
    "deploy.resume",
    "deploy.waiting",
    "rollback.start",
    "lock",
    "lock.steal",
    "unlock",
    "hold",
    "unhold",
    "publish",
    "publish.drop",
    "maintenance.start",
    "maintenance.stop",
];

/// Deploy events that are announced, with the text the deploy engine wrote.
pub const ANNOUNCED_DEPLOY_EVENTS: &[&str] = &["downgrade.announced", "downgrade.completed"];

/// Every kind an outbox row can have.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    ANNOUNCED_ACTIONS.iter().chain(ANNOUNCED_DEPLOY_EVENTS).copied()
}

/// One thing to announce.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    /// Increasing: the order of announcements.
    pub id: i64,
    /// The de-duplication id receivers see (32 hex digits): the same on every retry.
    pub event_id: String,
    pub kind: String,
    /// The audit entry's target (an environment, `*`, a node set, a publish prefix), or
    /// the deploy's environment.
    pub environment: String,
    pub audit_id: Option<i64>,
    pub deploy_event_id: Option<i64>,
    pub deploy_id: Option<i64>,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub created_at: String,
    /// The audit entry's details, or the deploy event's body.
    pub body: serde_json::Value,
}

/// One destination's attempts at one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub attempts: i64,
    /// Unix ms: not tried again before.
    pub next_attempt_ms: i64,
    pub delivered_at: Option<String>,
    pub last_error: Option<String>,
}

/// How a row ended for a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done<'a> {
    /// The receiver accepted it.
    Delivered,
    /// The destination's filters leave it out.
    Skipped,
    /// Too old to be worth announcing any more; the last error, for the record.
    GaveUp(&'a str),
}

/// Whether an audit action gets an outbox row.
#[must_use]
pub fn is_announced(action: &str) -> bool {
    ANNOUNCED_ACTIONS.contains(&action)
}

fn event_id(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The row an audit entry gets, if its action is announced. Its event id comes from the
/// entry's chain hash: unique, and stable.
pub(crate) struct NewOutbox {
    event_id: String,
    kind: String,
    environment: String,
    audit_id: Option<i64>,
    deploy_event_id: Option<i64>,
    deploy_id: Option<i64>,
    actor: Option<String>,
    reason: Option<String>,
    created_at: String,
    body: String,
}

impl NewOutbox {
    pub(crate) fn of_audit(row: &AuditRow) -> Option<NewOutbox> {
        if !is_announced(&row.action) {
            return None;
        }
        let details: serde_json::Value = serde_json::from_str(&row.details).unwrap_or_default();
        Some(NewOutbox {
            event_id: event_id(&["audit", &row.hash]),
            kind: row.action.clone(),
            environment: row.target.clone(),
            audit_id: Some(row.id),
            deploy_event_id: None,
            deploy_id: details.get("deploy").and_then(serde_json::Value::as_i64),
            actor: Some(row.actor.clone()),
            reason: row.reason.clone(),
            created_at: row.at.clone(),
            body: row.details.clone(),
        })
    }
}

type OutboxTuple = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    String,
);

macro_rules! impl_outbox {
    ($store:ty, $db:ty, $begin:literal) => {
        impl $store {
            /// The hook: called by `append_audit_in` and `append_deploy_event` inside their
            /// transaction.
            pub(crate) async fn outbox_in(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                new: &NewOutbox,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO outbox (event_id, kind, environment, audit_id, deploy_event_id,
                     deploy_id, actor, reason, created_at, body)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&new.event_id)
                .bind(&new.kind)
                .bind(&new.environment)
                .bind(new.audit_id)
                .bind(new.deploy_event_id)
                .bind(new.deploy_id)
                .bind(&new.actor)
                .bind(&new.reason)
                .bind(&new.created_at)
                .bind(&new.body)
                .execute(&mut **tx)
                .await
                .map_err(self.query_err("write outbox row"))?;
                Ok(())
            }

            pub(crate) async fn append_deploy_event(
                &self,
                deploy_id: i64,
                kind: &str,
                body: &serde_json::Value,
            ) -> Result<i64, StoreError> {
                let op = "append deploy event";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let at = crate::now_rfc3339();
                let body = body.to_string();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO deploy_event (deploy_id, at, kind, body) VALUES ($1, $2, $3, $4)
                     RETURNING id",
                )
                .bind(deploy_id)
                .bind(&at)
                .bind(kind)
                .bind(&body)
                .fetch_one(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                if ANNOUNCED_DEPLOY_EVENTS.contains(&kind) {
                    let (environment, started_at): (String, String) = sqlx::query_as(
                        "SELECT environment, started_at FROM deploy WHERE id = $1",
                    )
                    .bind(deploy_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(self.query_err(op))?;
                    let new = NewOutbox {
                        event_id: event_id(&[
                            "deploy_event",
                            &id.to_string(),
                            &deploy_id.to_string(),
                            &started_at,
                            &at,
                            kind,
                        ]),
                        kind: kind.to_owned(),
                        environment,
                        audit_id: None,
                        deploy_event_id: Some(id),
                        deploy_id: Some(deploy_id),
                        actor: None,
                        reason: None,
                        created_at: at,
                        body,
                    };
                    self.outbox_in(&mut tx, &new).await?;
                }
                tx.commit().await.map_err(self.query_err(op))?;
                Ok(id)
            }

            pub(crate) async fn outbox_after(
                &self,
                after_id: i64,
                limit: i64,
            ) -> Result<Vec<OutboxRow>, StoreError> {
                let op = "list outbox rows";
                let rows: Vec<OutboxTuple> = sqlx::query_as(
                    "SELECT id, event_id, kind, environment, audit_id, deploy_event_id, deploy_id,
                     actor, reason, created_at, body FROM outbox WHERE id > $1 ORDER BY id LIMIT $2",
                )
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(self.query_err(op))?;
                rows.into_iter()
                    .map(|t| {
                        let body = decode(self.url(), op, &format!("outbox row {}", t.0), &t.10)?;
                        Ok(OutboxRow {
                            id: t.0,
                            event_id: t.1,
                            kind: t.2,
                            environment: t.3,
                            audit_id: t.4,
                            deploy_event_id: t.5,
                            deploy_id: t.6,
                            actor: t.7,
                            reason: t.8,
                            created_at: t.9,
                            body,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn outbox_claim(
                &self,
                destination: &str,
                owner: &str,
                now_ms: i64,
                lease_until_ms: i64,
                start_before: &str,
            ) -> Result<Option<i64>, StoreError> {
                let op = "claim outbox destination";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                // A destination seen for the first time starts after the rows too old to
                // announce.
                let start: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(id), 0) FROM outbox WHERE created_at < $1",
                )
                .bind(start_before)
                .fetch_one(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                let done = sqlx::query(
                    "INSERT INTO outbox_destination (name, done_through, owner, lease_until_ms)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
                     lease_until_ms = excluded.lease_until_ms
                     WHERE outbox_destination.lease_until_ms <= $5
                        OR outbox_destination.owner = $6",
                )
                .bind(destination)
                .bind(start)
                .bind(owner)
                .bind(lease_until_ms)
                .bind(now_ms)
                .bind(owner)
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                let through: i64 = sqlx::query_scalar(
                    "SELECT done_through FROM outbox_destination WHERE name = $1",
                )
                .bind(destination)
                .fetch_one(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                tx.commit().await.map_err(self.query_err(op))?;
                Ok(Some(through))
            }

            pub(crate) async fn outbox_release(
                &self,
                destination: &str,
                owner: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE outbox_destination SET lease_until_ms = 0
                     WHERE name = $1 AND owner = $2",
                )
                .bind(destination)
                .bind(owner)
                .execute(&self.pool)
                .await
                .map_err(self.query_err("release outbox destination"))?;
                Ok(())
            }

            pub(crate) async fn outbox_delivery(
                &self,
                outbox_id: i64,
                destination: &str,
            ) -> Result<Option<Delivery>, StoreError> {
                let row: Option<(i64, i64, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT attempts, next_attempt_ms, delivered_at, last_error
                     FROM outbox_delivery WHERE outbox_id = $1 AND destination = $2",
                )
                .bind(outbox_id)
                .bind(destination)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.query_err("read outbox delivery"))?;
                Ok(row.map(|(attempts, next_attempt_ms, delivered_at, last_error)| Delivery {
                    attempts,
                    next_attempt_ms,
                    delivered_at,
                    last_error,
                }))
            }

            pub(crate) async fn outbox_failed(
                &self,
                outbox_id: i64,
                destination: &str,
                error: &str,
                next_attempt_ms: i64,
            ) -> Result<Delivery, StoreError> {
                let (attempts, next_attempt_ms, delivered_at, last_error) = sqlx::query_as(
                    "INSERT INTO outbox_delivery
                     (outbox_id, destination, attempts, next_attempt_ms, last_error)
                     VALUES ($1, $2, 1, $3, $4)
                     ON CONFLICT (outbox_id, destination) DO UPDATE
                     SET attempts = outbox_delivery.attempts + 1,
                     next_attempt_ms = excluded.next_attempt_ms, last_error = excluded.last_error
                     RETURNING attempts, next_attempt_ms, delivered_at, last_error",
                )
                .bind(outbox_id)
                .bind(destination)
                .bind(next_attempt_ms)
                .bind(error)
                .fetch_one(&self.pool)
                .await
                .map_err(self.query_err("record failed delivery"))?;
                Ok(Delivery { attempts, next_attempt_ms, delivered_at, last_error })
            }

            pub(crate) async fn outbox_done(
                &self,
                outbox_id: i64,
                destination: &str,
                owner: &str,
                done: Done<'_>,
            ) -> Result<bool, StoreError> {
                let op = "record outbox progress";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let advanced = sqlx::query(
                    "UPDATE outbox_destination SET done_through = $1
                     WHERE name = $2 AND owner = $3 AND done_through < $4",
                )
                .bind(outbox_id)
                .bind(destination)
                .bind(owner)
                .bind(outbox_id)
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                let (delivered_at, error) = match done {
                    Done::Delivered => (Some(crate::now_rfc3339()), None),
                    Done::Skipped => (None, None),
                    Done::GaveUp(why) => (None, Some(format!("gave up: {why}"))),
                };
                if done != Done::Skipped {
                    sqlx::query(
                        "INSERT INTO outbox_delivery
                         (outbox_id, destination, attempts, next_attempt_ms, delivered_at, last_error)
                         VALUES ($1, $2, $3, 0, $4, $5)
                         ON CONFLICT (outbox_id, destination) DO UPDATE
                         SET attempts = outbox_delivery.attempts + excluded.attempts,
                         delivered_at = excluded.delivered_at,
                         last_error = COALESCE(excluded.last_error, outbox_delivery.last_error)",
                    )
                    .bind(outbox_id)
                    .bind(destination)
                    .bind(i64::from(done == Done::Delivered))
                    .bind(delivered_at)
                    .bind(error)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.query_err(op))?;
                }
                tx.commit().await.map_err(self.query_err(op))?;
                Ok(advanced.rows_affected() == 1)
            }
        }
    };
}

impl_outbox!(crate::sqlite::SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
impl_outbox!(crate::postgres::PgStore, sqlx::Postgres, "BEGIN");

impl crate::Store {
    /// Outbox rows after `after_id`, oldest first.
    pub async fn outbox_after(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        dispatch!(self, outbox_after(after_id, i64::from(limit)))
    }

    /// Take (or renew) the lease on delivering to `destination` until `lease_until_ms`;
    /// returns the id delivery is done through, or `None` while another owner holds it.
    /// A destination seen for the first time starts after the rows created before
    /// `start_before` (RFC 3339).
    pub async fn outbox_claim(
        &self,
        destination: &str,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        start_before: &str,
    ) -> Result<Option<i64>, StoreError> {
        dispatch!(self, outbox_claim(destination, owner, now_ms, lease_until_ms, start_before))
    }

    /// Give the lease up (the next claim by anyone succeeds).
    pub async fn outbox_release(&self, destination: &str, owner: &str) -> Result<(), StoreError> {
        dispatch!(self, outbox_release(destination, owner))
    }

    /// The attempts at one row for one destination, if any.
    pub async fn outbox_delivery(
        &self,
        outbox_id: i64,
        destination: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        dispatch!(self, outbox_delivery(outbox_id, destination))
    }

    /// Record a failed attempt; returns the delivery as it is now.
    pub async fn outbox_failed(
        &self,
        outbox_id: i64,
        destination: &str,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<Delivery, StoreError> {
        dispatch!(self, outbox_failed(outbox_id, destination, error, next_attempt_ms))
    }

    /// Record how a row ended for `destination` and move its progress past it; `false`
    /// when `owner` no longer holds the destination's lease (nothing moved).
    pub async fn outbox_done(
        &self,
        outbox_id: i64,
        destination: &str,
        owner: &str,
        done: Done<'_>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, outbox_done(outbox_id, destination, owner, done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_kinds_are_distinct_and_event_ids_stable() {
        let all: Vec<&str> = kinds().collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert!(is_announced("deploy.start") && !is_announced("note"));
        let id = event_id(&["audit", "abc"]);
        assert_eq!(id.len(), 32);
        assert_eq!(id, event_id(&["audit", "abc"]));
        assert_ne!(id, event_id(&["audit", "abd"]));
        assert_ne!(event_id(&["a", "bc"]), event_id(&["ab", "c"]));
    }
}
