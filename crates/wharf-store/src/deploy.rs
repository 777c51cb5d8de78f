//! Deploy records: what a deploy is and how far it got, written as it goes, so that a
//! killed deploy can be found, marked `interrupted` and resumed without re-running the
//! nodes that finished; and the events a notifier announces.
//!
//! A deploy's record is typed here ([`DeployRecord`]) and stored as JSON next to the
//! columns queries need (environment, state, times). Starting a deploy and every change of
//! its state that the caller audits commit with their audit entry in one transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::apt::decode;
use crate::apt_record::encode;
use crate::{AuditEntry, NewAuditEntry, StoreError};

/// Where a deploy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployState {
    Planned,
    Running,
    /// At a manual stage, waiting for `wharf approve`.
    Waiting,
    Succeeded,
    Failed,
    /// Stopped by a crash, a kill or an opening window; `wharf resume` continues it.
    Interrupted,
    Cancelled,
    /// A guard refused it; nothing ran.
    Refused,
}

impl DeployState {
    /// As stored and printed: `planned`, `running`, …
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeployState::Planned => "planned",
            DeployState::Running => "running",
            DeployState::Waiting => "waiting",
            DeployState::Succeeded => "succeeded",
            DeployState::Failed => "failed",
            DeployState::Interrupted => "interrupted",
            DeployState::Cancelled => "cancelled",
            DeployState::Refused => "refused",
        }
    }

    /// Every state, in the order a deploy may pass through them.
    pub const ALL: [DeployState; 8] = [
        DeployState::Planned,
        DeployState::Running,
        DeployState::Waiting,
        DeployState::Succeeded,
        DeployState::Failed,
        DeployState::Interrupted,
        DeployState::Cancelled,
        DeployState::Refused,
    ];

    /// The state stored as `text` (see [`DeployState::as_str`]).
    #[must_use]
    pub fn from_stored(text: &str) -> Option<DeployState> {
        DeployState::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// Whether nothing more will happen to it (`interrupted` may still be resumed).
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeployState::Succeeded
                | DeployState::Failed
                | DeployState::Cancelled
                | DeployState::Refused
        )
    }
}

/// An override of a guard, with its mandatory reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// `ignore-production-checks`, `allow-precheck-failure`, `force`, `steal`, …
    pub kind: String,
    pub reason: String,
    pub by: String,
}

/// Node counts of a stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCounts {
    pub succeeded: u32,
    pub failed: u32,
    pub skipped: u32,
}

/// One stage of a deploy as it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    /// `check`, `run`, `install`, `restart`, `http-check`, `wait`, `manual`.
    pub kind: String,
    /// `pending`, `running`, `waiting`, `succeeded`, `failed`, `skipped`.
    pub state: String,
    pub nodes: NodeCounts,
    #[serde(default)]
    pub point_of_no_return: bool,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Who let a `when = "manual"` stage go ahead (`wharf approve`).
    #[serde(default)]
    pub approved_by: Option<String>,
}

/// A deploy: the record `wharf show ID --json` prints (see docs/deploy.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    pub environment: String,
    pub pipeline: String,
    /// Package → version being deployed.
    pub packages: BTreeMap<String, String>,
    /// Package → version the environment had before (for rollbacks).
    pub previous: BTreeMap<String, String>,
    pub state: DeployState,
    pub started_by: String,
    /// `cli`, `api`, `chat`, `schedule`.
    pub via: String,
    /// Started by CI or a timer: change-lock windows apply.
    pub automated: bool,
    pub overrides: Vec<Override>,
    /// Allowed precheck failures and other things the operator must see.
    pub warnings: Vec<String>,
    pub stages: Vec<StageRecord>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Why it stopped (`failed`, `interrupted`, `cancelled`, `refused`), in words.
    #[serde(default)]
    pub reason: Option<String>,
    /// The issue or change request it belongs to.
    #[serde(default)]
    pub issue: Option<String>,
    /// `--downgrade`: installs may go to older versions.
    #[serde(default)]
    pub downgrade: bool,
    /// `--hold`: hold the packages once deployed.
    #[serde(default)]
    pub hold: bool,
}

/// A stored deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployRow {
    pub id: i64,
    #[serde(flatten)]
    pub record: DeployRecord,
}

/// A deploy's columns without its record: what counting deploys needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploySummary {
    pub id: i64,
    pub environment: String,
    pub state: DeployState,
}

/// One node's result in one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRun {
    /// The stage's index in the deploy's record.
    pub stage: i64,
    pub node: String,
    /// `running`, `succeeded`, `failed`, `skipped`.
    pub state: String,
    pub exit_code: Option<i64>,
    /// The last lines of its output.
    pub output_tail: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// Something to announce about a deploy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployEvent {
    /// Increasing: readers resume after the last id they saw.
    pub id: i64,
    pub deploy_id: i64,
    pub at: String,
    /// `deploy.started`, `stage.finished`, `deploy.finished`, `downgrade.announced`, …
    pub kind: String,
    pub body: serde_json::Value,
}

type NodeTuple = (i64, String, String, Option<i64>, String, String, Option<String>);

macro_rules! impl_deploy {
    ($store:ty, $db:ty, $begin:literal) => {
        impl $store {
            pub(crate) async fn create_deploy(
                &self,
                record: &DeployRecord,
                entry: impl FnOnce(i64) -> NewAuditEntry,
            ) -> Result<(i64, AuditEntry), StoreError> {
                let op = "create deploy";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO deploy (environment, state, started_at, finished_at, body)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(&record.environment)
                .bind(record.state.as_str())
                .bind(&record.started_at)
                .bind(&record.finished_at)
                .bind(encode(record))
                .fetch_one(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                let entry = entry(id);
                let row = self.append_audit_in(&mut tx, &entry).await?;
                tx.commit().await.map_err(self.query_err(op))?;
                Ok((id, row.entry_of(&entry)))
            }

            pub(crate) async fn update_deploy(
                &self,
                id: i64,
                record: &DeployRecord,
                entry: Option<&NewAuditEntry>,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "update deploy";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let done = sqlx::query(
                    "UPDATE deploy SET state = $1, finished_at = $2, body = $3 WHERE id = $4",
                )
                .bind(record.state.as_str())
                .bind(&record.finished_at)
                .bind(encode(record))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Corrupt {
                        url: self.url().to_owned(),
                        op,
                        detail: format!("deploy {id} does not exist"),
                    });
                }
                let audited = match entry {
                    Some(entry) => Some(self.append_audit_in(&mut tx, entry).await?.entry_of(entry)),
                    None => None,
                };
                tx.commit().await.map_err(self.query_err(op))?;
                Ok(audited)
            }

            pub(crate) async fn deploys(&self, limit: i64) -> Result<Vec<DeployRow>, StoreError> {
                let op = "list deploys";
                let rows: Vec<(i64, String)> =
                    sqlx::query_as("SELECT id, body FROM deploy ORDER BY id DESC LIMIT $1")
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(self.query_err(op))?;
                self.deploy_rows(op, rows)
            }

            pub(crate) async fn deploys_of_environment(
                &self,
                environment: &str,
                limit: i64,
            ) -> Result<Vec<DeployRow>, StoreError> {
                let op = "list deploys";
                // On the (environment, id) index: only this environment's rows are read.
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT id, body FROM deploy WHERE environment = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(environment)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err(op))?;
                self.deploy_rows(op, rows)
            }

            pub(crate) async fn deploys_in_state(
                &self,
                environment: Option<&str>,
                state: &str,
                limit: i64,
            ) -> Result<Vec<DeployRow>, StoreError> {
                let op = "list deploys";
                // On the state index (`deploy_state`), then the environment among those.
                let rows: Vec<(i64, String)> = match environment {
                    Some(environment) => sqlx::query_as(
                        "SELECT id, body FROM deploy WHERE state = $1 AND environment = $2 \
                         ORDER BY id DESC LIMIT $3",
                    )
                    .bind(state)
                    .bind(environment)
                    .bind(limit),
                    None => sqlx::query_as(
                        "SELECT id, body FROM deploy WHERE state = $1 ORDER BY id DESC LIMIT $2",
                    )
                    .bind(state)
                    .bind(limit),
                }
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err(op))?;
                self.deploy_rows(op, rows)
            }

            pub(crate) async fn deploy_by_id(&self, id: i64) -> Result<Vec<DeployRow>, StoreError> {
                let op = "read a deploy";
                let rows: Vec<(i64, String)> =
                    sqlx::query_as("SELECT id, body FROM deploy WHERE id = $1")
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(self.query_err(op))?;
                self.deploy_rows(op, rows)
            }

            fn deploy_rows(
                &self,
                op: &'static str,
                rows: Vec<(i64, String)>,
            ) -> Result<Vec<DeployRow>, StoreError> {
                rows.into_iter()
                    .map(|(id, body)| {
                        let record = decode(self.url(), op, &format!("deploy {id}"), &body)?;
                        Ok(DeployRow { id, record })
                    })
                    .collect()
            }

            pub(crate) async fn deploy_summaries(
                &self,
                limit: i64,
            ) -> Result<Vec<DeploySummary>, StoreError> {
                let op = "list deploy summaries";
                let rows: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT id, environment, state FROM deploy ORDER BY id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err(op))?;
                rows.into_iter()
                    .map(|(id, environment, state)| {
                        let state = DeployState::from_stored(&state).ok_or_else(|| {
                            StoreError::Corrupt {
                                url: self.url().to_owned(),
                                op,
                                detail: format!("deploy {id} has the unknown state {state:?}"),
                            }
                        })?;
                        Ok(DeploySummary { id, environment, state })
                    })
                    .collect()
            }

            pub(crate) async fn active_deploys(&self) -> Result<Vec<DeployRow>, StoreError> {
                let op = "list active deploys";
                // `deploy_state` (migration 0009) makes this a lookup, not a scan of every
                // deploy ever made.
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT id, body FROM deploy WHERE state IN ('planned', 'running')
                     ORDER BY id DESC",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err(op))?;
                self.deploy_rows(op, rows)
            }

            pub(crate) async fn record_nodes(
                &self,
                deploy_id: i64,
                runs: &[NodeRun],
            ) -> Result<(), StoreError> {
                let op = "record node results";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                for run in runs {
                    sqlx::query(
                        "INSERT INTO deploy_node
                         (deploy_id, stage, node, state, exit_code, output_tail, started_at, finished_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         ON CONFLICT (deploy_id, stage, node) DO UPDATE SET state = excluded.state,
                         exit_code = excluded.exit_code, output_tail = excluded.output_tail,
                         started_at = excluded.started_at, finished_at = excluded.finished_at",
                    )
                    .bind(deploy_id)
                    .bind(run.stage)
                    .bind(&run.node)
                    .bind(&run.state)
                    .bind(run.exit_code)
                    .bind(&run.output_tail)
                    .bind(&run.started_at)
                    .bind(&run.finished_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.query_err(op))?;
                }
                tx.commit().await.map_err(self.query_err(op))
            }

            pub(crate) async fn events_of_deploy(
                &self,
                deploy_id: i64,
            ) -> Result<Vec<DeployEvent>, StoreError> {
                let op = "list a deploy's events";
                let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
                    "SELECT id, deploy_id, at, kind, body FROM deploy_event WHERE deploy_id = $1
                     ORDER BY id",
                )
                .bind(deploy_id)
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err(op))?;
                rows.into_iter()
                    .map(|(id, deploy_id, at, kind, body)| {
                        let body = decode(self.url(), op, &format!("deploy event {id}"), &body)?;
                        Ok(DeployEvent { id, deploy_id, at, kind, body })
                    })
                    .collect()
            }

            pub(crate) async fn deploy_nodes(&self, deploy_id: i64) -> Result<Vec<NodeRun>, StoreError> {
                let rows: Vec<NodeTuple> = sqlx::query_as(
                    "SELECT stage, node, state, exit_code, output_tail, started_at, finished_at
                     FROM deploy_node WHERE deploy_id = $1 ORDER BY stage, node",
                )
                .bind(deploy_id)
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err("list node results"))?;
                Ok(rows
                    .into_iter()
                    .map(|(stage, node, state, exit_code, output_tail, started_at, finished_at)| {
                        NodeRun { stage, node, state, exit_code, output_tail, started_at, finished_at }
                    })
                    .collect())
            }

            pub(crate) async fn deploy_events(
                &self,
                after_id: i64,
                limit: i64,
            ) -> Result<Vec<DeployEvent>, StoreError> {
                let op = "list deploy events";
                let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
                    "SELECT id, deploy_id, at, kind, body FROM deploy_event WHERE id > $1
                     ORDER BY id LIMIT $2",
                )
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err(op))?;
                rows.into_iter()
                    .map(|(id, deploy_id, at, kind, body)| {
                        let body = decode(self.url(), op, &format!("deploy event {id}"), &body)?;
                        Ok(DeployEvent { id, deploy_id, at, kind, body })
                    })
                    .collect()
            }
        }
    };
}

impl_deploy!(crate::sqlite::SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
impl_deploy!(crate::postgres::PgStore, sqlx::Postgres, "BEGIN");

impl crate::Store {
    /// Record a new deploy; its id is given to `entry` to build the audit entry that
    /// commits with it.
    pub async fn create_deploy(
        &self,
        record: &DeployRecord,
        entry: impl FnOnce(i64) -> NewAuditEntry,
    ) -> Result<(i64, AuditEntry), StoreError> {
        dispatch!(self, create_deploy(record, entry))
    }

    /// Write a deploy's record as it is now, with `entry` (a state change worth auditing)
    /// in the same transaction. A deploy that does not exist is an error.
    pub async fn update_deploy(
        &self,
        id: i64,
        record: &DeployRecord,
        entry: Option<&NewAuditEntry>,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, update_deploy(id, record, entry))
    }

    /// One deploy.
    pub async fn deploy(&self, id: i64) -> Result<Option<DeployRow>, StoreError> {
        Ok(dispatch!(self, deploy_by_id(id))?.into_iter().next())
    }

    /// The newest `limit` deploys, of one environment or all, newest first.
    pub async fn deploys(
        &self,
        environment: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeployRow>, StoreError> {
        match environment {
            Some(environment) => {
                dispatch!(self, deploys_of_environment(environment, i64::from(limit)))
            }
            None => dispatch!(self, deploys(i64::from(limit))),
        }
    }

    /// The newest `limit` deploys in `state` (of `environment`, or of all), newest first.
    pub async fn deploys_in_state(
        &self,
        environment: Option<&str>,
        state: DeployState,
        limit: u32,
    ) -> Result<Vec<DeployRow>, StoreError> {
        dispatch!(self, deploys_in_state(environment, state.as_str(), i64::from(limit)))
    }

    /// The newest `limit` deploys' id, environment and state, newest first: no record is
    /// read or decoded.
    pub async fn deploy_summaries(&self, limit: u32) -> Result<Vec<DeploySummary>, StoreError> {
        dispatch!(self, deploy_summaries(i64::from(limit)))
    }

    /// Every deploy that is `planned` or `running` (those that hold, or are about to
    /// take, a lease), newest first.
    pub async fn active_deploys(&self) -> Result<Vec<DeployRow>, StoreError> {
        dispatch!(self, active_deploys())
    }

    /// Record (or update) one node's result in one stage.
    pub async fn record_node(&self, deploy_id: i64, run: &NodeRun) -> Result<(), StoreError> {
        dispatch!(self, record_nodes(deploy_id, std::slice::from_ref(run)))
    }

    /// Record (or update) several node results in one transaction.
    pub async fn record_nodes(&self, deploy_id: i64, runs: &[NodeRun]) -> Result<(), StoreError> {
        dispatch!(self, record_nodes(deploy_id, runs))
    }

    /// Every event of one deploy, oldest first.
    pub async fn events_of_deploy(&self, deploy_id: i64) -> Result<Vec<DeployEvent>, StoreError> {
        dispatch!(self, events_of_deploy(deploy_id))
    }

    /// Every node result of a deploy, by stage and node.
    pub async fn deploy_nodes(&self, deploy_id: i64) -> Result<Vec<NodeRun>, StoreError> {
        dispatch!(self, deploy_nodes(deploy_id))
    }

    /// Store a deploy event; returns its id. The kinds in
    /// [`crate::outbox::ANNOUNCED_DEPLOY_EVENTS`] get their outbox row in the same
    /// transaction.
    pub async fn append_deploy_event(
        &self,
        deploy_id: i64,
        kind: &str,
        body: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        dispatch!(self, append_deploy_event(deploy_id, kind, body))
    }

    /// Events after `after_id`, oldest first.
    pub async fn deploy_events(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<DeployEvent>, StoreError> {
        dispatch!(self, deploy_events(after_id, i64::from(limit)))
    }
}
