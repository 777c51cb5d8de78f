//! API tokens: a name, a role, whether the identity is automated, and the SHA-256 of the
//! secret (the secret itself is never stored). Creating and revoking commit with their
//! audit entry; a refused change (name taken, nothing to revoke) writes none. Written
//! once for both backends by `impl_token!`, like `guard.rs`.

use crate::{AuditEntry, NewAuditEntry, StoreError};

/// A stored token. `hash` is the lowercase hex SHA-256 of the secret: comparing it is the
/// application layer's job (in constant time).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Unique; recorded as the actor of everything done with the token.
    pub name: String,
    /// `viewer`, `publisher`, `deployer` or `admin` (the application layer checks it).
    pub role: String,
    pub automated: bool,
    pub hash: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub created_by: String,
    /// RFC 3339; `None`: never expires.
    pub expires_at: Option<String>,
    /// RFC 3339; `None`: not revoked.
    pub revoked_at: Option<String>,
}

/// Leaves the hash out: a record may be logged.
impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("automated", &self.automated)
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

type TokenTuple = (String, String, bool, String, String, String, Option<String>, Option<String>);

fn token_from(
    (name, role, automated, hash, created_at, created_by, expires_at, revoked_at): TokenTuple,
) -> TokenRecord {
    TokenRecord { name, role, automated, hash, created_at, created_by, expires_at, revoked_at }
}

macro_rules! impl_token {
    ($store:ty, $begin:literal) => {
        impl $store {
            pub(crate) async fn create_token(
                &self,
                token: &TokenRecord,
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "create token";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let done = sqlx::query(
                    "INSERT INTO api_token (name, role, automated, hash, created_at, created_by,
                     expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT DO NOTHING",
                )
                .bind(&token.name)
                .bind(&token.role)
                .bind(token.automated)
                .bind(&token.hash)
                .bind(&token.created_at)
                .bind(&token.created_by)
                .bind(&token.expires_at)
                .bind(&token.revoked_at)
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                self.commit_audited(tx, entry, op).await.map(Some)
            }

            pub(crate) async fn revoke_token(
                &self,
                name: &str,
                at: &str,
                entry: &NewAuditEntry,
            ) -> Result<Option<AuditEntry>, StoreError> {
                let op = "revoke token";
                let mut tx = self.pool.begin_with($begin).await.map_err(self.query_err(op))?;
                let done = sqlx::query(
                    "UPDATE api_token SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
                )
                .bind(at)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(self.query_err(op))?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                self.commit_audited(tx, entry, op).await.map(Some)
            }

            pub(crate) async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
                let rows: Vec<TokenTuple> = sqlx::query_as(
                    "SELECT name, role, automated, hash, created_at, created_by, expires_at,
                     revoked_at FROM api_token ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_err("list tokens"))?;
                Ok(rows.into_iter().map(token_from).collect())
            }
        }
    };
}

impl_token!(crate::sqlite::SqliteStore, "BEGIN IMMEDIATE");
impl_token!(crate::postgres::PgStore, "BEGIN");

impl crate::Store {
    /// Record a new token; `None` (and no entry) when the name is taken.
    pub async fn create_token(
        &self,
        token: &TokenRecord,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, create_token(token, entry))
    }

    /// Mark a token revoked at `at`; `None` (and no entry) when there is no such token or
    /// it was already revoked.
    pub async fn revoke_token(
        &self,
        name: &str,
        at: &str,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>, StoreError> {
        dispatch!(self, revoke_token(name, at, entry))
    }

    /// Every token, revoked and expired ones too, by name.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        dispatch!(self, tokens())
    }
}
