//! Change counters (migration 0012): a number per table that a trigger bumps in the same
//! transaction as every insert, update or delete of that table, by any writer — this
//! process, a CLI run beside the server, another server on the same PostgreSQL, a script.
//! A reader that keeps a copy of a table in memory reads the counters (one small query)
//! and trusts its copy while the table's counter is the one it was loaded at.

use crate::StoreError;

/// The counters of the tables readers keep copies of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeCounters {
    /// `api_token`: created or revoked tokens.
    pub tokens: i64,
    /// `deploy`: a deploy started, advanced, finished or reaped.
    pub deploys: i64,
}

impl ChangeCounters {
    fn from_rows(rows: Vec<(String, i64)>) -> ChangeCounters {
        let mut counters = ChangeCounters::default();
        for (name, n) in rows {
            match name.as_str() {
                "api_token" => counters.tokens = n,
                "deploy" => counters.deploys = n,
                _ => {}
            }
        }
        counters
    }
}

macro_rules! impl_counter {
    ($store:ty) => {
        impl $store {
            pub(crate) async fn change_counters(&self) -> Result<ChangeCounters, StoreError> {
                let rows: Vec<(String, i64)> = sqlx::query_as("SELECT name, n FROM change_counter")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(self.query_err("read change counters"))?;
                Ok(ChangeCounters::from_rows(rows))
            }
        }
    };
}

impl_counter!(crate::sqlite::SqliteStore);
impl_counter!(crate::postgres::PgStore);

impl crate::Store {
    /// The change counters as of now: one query, whatever the tables hold.
    pub async fn change_counters(&self) -> Result<ChangeCounters, StoreError> {
        dispatch!(self, change_counters())
    }
}
