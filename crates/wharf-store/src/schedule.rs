//! Schedule runs: each fire time of a schedule is claimed once — one conditional upsert, so
//! of several servers on one database exactly one wins it — and its result recorded.

use crate::StoreError;

/// The last claimed run of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScheduleRun {
    pub name: String,
    /// The fire time, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub last_fire: String,
    /// Which server claimed it.
    pub claimed_by: String,
    /// `running`, `missed`, `succeeded`, or `failed: …`.
    pub result: String,
    pub finished_at: Option<String>,
}

type RunTuple = (String, String, String, String, Option<String>);

macro_rules! impl_schedule {
    ($store:ty) => {
        impl $store {
            pub(crate) async fn claim_schedule(
                &self,
                name: &str,
                fire: &str,
                by: &str,
                result: &str,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO schedule_run (name, last_fire, claimed_by, result, finished_at)
                     VALUES ($1, $2, $3, $4, NULL)
                     ON CONFLICT (name) DO UPDATE SET last_fire = excluded.last_fire,
                     claimed_by = excluded.claimed_by, result = excluded.result, finished_at = NULL
                     WHERE schedule_run.last_fire < excluded.last_fire",
                )
                .bind(name)
                .bind(fire)
                .bind(by)
                .bind(result)
                .execute(&self.pool)
                .await
                .map_err(self.query_err("claim a schedule run"))?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn finish_schedule(
                &self,
                name: &str,
                fire: &str,
                result: &str,
                at: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE schedule_run SET result = $1, finished_at = $2
                     WHERE name = $3 AND last_fire = $4",
                )
                .bind(result)
                .bind(at)
                .bind(name)
                .bind(fire)
                .execute(&self.pool)
                .await
                .map_err(self.query_err("record a schedule run"))?;
                Ok(())
            }

            pub(crate) async fn schedule_runs(&self) -> Result<Vec<ScheduleRun>, StoreError> {
                let rows: Vec<RunTuple> = sqlx::query_as(
                    "SELECT name, last_fire, claimed_by, result, finished_at FROM schedule_run
                     ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err("list schedule runs"))?;
                Ok(rows
                    .into_iter()
                    .map(|(name, last_fire, claimed_by, result, finished_at)| ScheduleRun {
                        name,
                        last_fire,
                        claimed_by,
                        result,
                        finished_at,
                    })
                    .collect())
            }
        }
    };
}

impl_schedule!(crate::sqlite::SqliteStore);
impl_schedule!(crate::postgres::PgStore);

impl crate::Store {
    /// Claim fire time `fire` of schedule `name` for `by`: true for exactly one caller per
    /// fire time, across processes and servers; false when it (or a later one) was claimed.
    pub async fn claim_schedule(
        &self,
        name: &str,
        fire: &str,
        by: &str,
        result: &str,
    ) -> Result<bool, StoreError> {
        dispatch!(self, claim_schedule(name, fire, by, result))
    }

    /// Record how the run of `fire` ended.
    pub async fn finish_schedule(
        &self,
        name: &str,
        fire: &str,
        result: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, finish_schedule(name, fire, result, at))
    }

    /// The last claimed run of every schedule.
    pub async fn schedule_runs(&self) -> Result<Vec<ScheduleRun>, StoreError> {
        dispatch!(self, schedule_runs())
    }
}
