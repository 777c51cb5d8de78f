//! API tokens: who may call the HTTP API, and with which [`Role`].
//!
//! A token is `wharf_` and 64 hex digits (32 random bytes from the system's generator),
//! shown once by [`create`]; the store keeps only its SHA-256. [`authenticate`] hashes
//! what a client presents and compares it with every stored hash in constant time (no
//! early exit, `subtle::ConstantTimeEq`), then refuses expired and revoked tokens. Secrets
//! are never logged: the types that hold one print `***` in `Debug`.

use jiff::Timestamp;
use serde_json::json;
use subtle::ConstantTimeEq as _;
use wharf_store::token::TokenRecord;

use crate::context::Context;
use crate::error::{AppError, Result};
use crate::guard::stamp;
use crate::wire::{TokenCreated, TokenRevoked, TokenView};

/// What a token may do. `viewer` reads; `publisher` also uploads and publishes;
/// `deployer` also deploys, approves, resumes, cancels, rolls back, locks, holds and puts
/// nodes in maintenance; `admin` does all of that and manages tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Viewer,
    Publisher,
    Deployer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Publisher, Role::Deployer, Role::Admin];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Publisher => "publisher",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }

    /// Whether a token of this role may do what `needed` may: admin may do anything,
    /// every role reads, publisher and deployer only their own.
    #[must_use]
    pub fn allows(self, needed: Role) -> bool {
        self == Role::Admin || self == needed || needed == Role::Viewer
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = AppError;

    fn from_str(text: &str) -> Result<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text).ok_or_else(|| {
            AppError::invalid(format!(
                "unknown role {text:?}: use viewer, publisher, deployer or admin"
            ))
        })
    }
}

/// Who a valid token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    pub name: String,
    pub role: Role,
    pub automated: bool,
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    Valid(TokenIdentity),
    /// Known, but past its `expires_at`.
    Expired {
        name: String,
    },
    /// Known, but revoked.
    Revoked {
        name: String,
    },
    Unknown,
}

/// What `wharf token create` asks for.
#[derive(Debug, Clone)]
pub struct CreateToken {
    pub name: String,
    pub role: Role,
    pub automated: bool,
    /// Seconds from now; `None`: never expires.
    pub expires_in: Option<u64>,
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()))
}

fn state(record: &TokenRecord, now: &str) -> &'static str {
    if record.revoked_at.is_some() {
        "revoked"
    } else if record.expires_at.as_deref().is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

fn view(record: TokenRecord, now: &str) -> TokenView {
    TokenView {
        state: state(&record, now).to_owned(),
        name: record.name,
        role: record.role,
        automated: record.automated,
        created_at: record.created_at,
        created_by: record.created_by,
        expires_at: record.expires_at,
        revoked_at: record.revoked_at,
    }
}

/// Make a token, store its hash with the `token.create` audit entry, and return it (the
/// only time it is shown). A taken name is a conflict.
pub async fn create(ctx: &Context, request: &CreateToken) -> Result<TokenCreated> {
    crate::repo::check_name("token name", &request.name)?;
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| AppError::internal("the system random generator failed"))?;
    let secret = format!("wharf_{}", hex::encode(bytes));
    let now = Timestamp::now();
    let expires_at = match request.expires_in {
        None => None,
        Some(secs) => {
            let secs =
                i64::try_from(secs).map_err(|_| AppError::invalid("--expires is too long"))?;
            let at = now
                .checked_add(jiff::SignedDuration::from_secs(secs))
                .map_err(|_| AppError::invalid("--expires is too long"))?;
            Some(stamp(at))
        }
    };
    let record = TokenRecord {
        name: request.name.clone(),
        role: request.role.as_str().to_owned(),
        automated: request.automated,
        hash: sha256_hex(&secret),
        created_at: stamp(now),
        created_by: ctx.actor().name.clone(),
        expires_at,
        revoked_at: None,
    };
    let entry = ctx.entry(
        "token.create",
        &record.name,
        json!({
            "role": record.role,
            "automated": record.automated,
            "expires_at": record.expires_at,
        }),
    );
    let Some(audit) = ctx.store().create_token(&record, &entry).await? else {
        return Err(AppError::conflict(format!(
            "a token named {:?} already exists (wharf token list; revoke it or pick another name)",
            record.name
        )));
    };
    let now = stamp(now);
    Ok(TokenCreated { token: secret, view: view(record, &now), audit_id: audit.id })
}

/// Every token, without secrets or hashes.
pub async fn list(ctx: &Context) -> Result<Vec<TokenView>> {
    let now = stamp(Timestamp::now());
    Ok(ctx.store().tokens().await?.into_iter().map(|t| view(t, &now)).collect())
}

/// Revoke a token (`token.revoke` in the audit log): it is refused from then on.
pub async fn revoke(ctx: &Context, name: &str) -> Result<TokenRevoked> {
    let at = stamp(Timestamp::now());
    let entry = ctx.entry("token.revoke", name, json!({}));
    if let Some(audit) = ctx.store().revoke_token(name, &at, &entry).await? {
        return Ok(TokenRevoked { name: name.to_owned(), revoked_at: at, audit_id: audit.id });
    }
    let known = ctx.store().tokens().await?.into_iter().find(|t| t.name == name);
    Err(match known {
        Some(token) => AppError::conflict(format!(
            "token {name:?} was already revoked at {}",
            token.revoked_at.unwrap_or_default()
        )),
        None => AppError::not_found(format!("no token named {name:?} (wharf token list)")),
    })
}

/// What `presented` is: a valid token's identity, or why not. Every stored hash is
/// compared, in constant time (`subtle`), whatever matched first.
pub async fn check(ctx: &Context, presented: &str) -> Result<TokenCheck> {
    check_among(&ctx.store().tokens().await?, presented, Timestamp::now())
}

/// What `presented` is among `records` at `now`: every hash is compared in constant time,
/// with no early exit.
pub fn check_among(records: &[TokenRecord], presented: &str, now: Timestamp) -> Result<TokenCheck> {
    let hash = sha256_hex(presented);
    let mut found = None;
    for record in records {
        let same: bool = record.hash.as_bytes().ct_eq(hash.as_bytes()).into();
        if same && found.is_none() {
            found = Some(record);
        }
    }
    let Some(record) = found else { return Ok(TokenCheck::Unknown) };
    let name = record.name.clone();
    Ok(match state(record, &stamp(now)) {
        "revoked" => TokenCheck::Revoked { name },
        "expired" => TokenCheck::Expired { name },
        _ => TokenCheck::Valid(TokenIdentity {
            role: record.role.parse()?,
            name,
            automated: record.automated,
        }),
    })
}

/// The token table kept in memory by a long-running process (the server), checked against
/// the store's change counter on every use: one small query instead of the table, and a
/// token created or revoked by anyone — another process, another server — counts from the
/// next check on, as without the copy.
#[derive(Debug, Default)]
pub struct TokenCache {
    copy: std::sync::Mutex<Option<(i64, std::sync::Arc<Vec<TokenRecord>>)>>,
}

impl TokenCache {
    /// [`check`], with the table read again only when its counter (`counter`, just read by
    /// the caller from [`wharf_store::Store::change_counters`]) moved.
    pub async fn check(&self, ctx: &Context, counter: i64, presented: &str) -> Result<TokenCheck> {
        let cached = self.lock().as_ref().filter(|(at, _)| *at == counter).map(|(_, t)| t.clone());
        let records = match cached {
            Some(records) => records,
            None => {
                // Read at or after `counter`: a copy tagged `counter` is never older than it.
                let records = std::sync::Arc::new(ctx.store().tokens().await?);
                let mut copy = self.lock();
                // A slower request that read an older counter keeps its copy to itself.
                if copy.as_ref().is_none_or(|(at, _)| *at <= counter) {
                    *copy = Some((counter, records.clone()));
                }
                records
            }
        };
        check_among(&records, presented, Timestamp::now())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(i64, std::sync::Arc<Vec<TokenRecord>>)>> {
        self.copy.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The identity of a valid token; `None` for an unknown, expired or revoked one.
pub async fn authenticate(ctx: &Context, presented: &str) -> Result<Option<TokenIdentity>> {
    Ok(match check(ctx, presented).await? {
        TokenCheck::Valid(identity) => Some(identity),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_reads_their_own_and_admin_all() {
        use Role::*;
        let allowed =
            |role: Role| Role::ALL.into_iter().filter(|n| role.allows(*n)).collect::<Vec<_>>();
        assert_eq!(allowed(Viewer), [Viewer]);
        assert_eq!(allowed(Publisher), [Viewer, Publisher]);
        assert_eq!(allowed(Deployer), [Viewer, Deployer]);
        assert_eq!(allowed(Admin), Role::ALL);
        assert_eq!("deployer".parse::<Role>().unwrap(), Deployer);
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn presented_tokens_are_told_apart() {
        let record =
            |name: &str, secret: &str, expires: Option<&str>, revoked: Option<&str>| TokenRecord {
                name: name.into(),
                role: "deployer".into(),
                automated: false,
                hash: sha256_hex(secret),
                created_at: "2026-01-01T00:00:00.000Z".into(),
                created_by: "alice".into(),
                expires_at: expires.map(Into::into),
                revoked_at: revoked.map(Into::into),
            };
        let records = [
            record("ops", "wharf_ops", None, None),
            record("old", "wharf_old", Some("2026-06-01T00:00:00.000Z"), None),
            record("gone", "wharf_gone", None, Some("2026-03-01T00:00:00.000Z")),
        ];
        let now: Timestamp = "2026-07-01T00:00:00Z".parse().unwrap();
        let before_expiry: Timestamp = "2026-05-01T00:00:00Z".parse().unwrap();
        let valid = |name: &str| {
            TokenCheck::Valid(TokenIdentity {
                name: name.into(),
                role: Role::Deployer,
                automated: false,
            })
        };
        for (presented, at, want) in [
            ("wharf_ops", now, valid("ops")),
            ("wharf_old", before_expiry, valid("old")),
            ("wharf_old", now, TokenCheck::Expired { name: "old".into() }),
            ("wharf_gone", before_expiry, TokenCheck::Revoked { name: "gone".into() }),
            ("wharf_nobody", now, TokenCheck::Unknown),
            ("", now, TokenCheck::Unknown),
        ] {
            assert_eq!(check_among(&records, presented, at).unwrap(), want, "{presented} at {at}");
        }
        assert_eq!(check_among(&[], "wharf_ops", now).unwrap(), TokenCheck::Unknown);
    }

    #[test]
    fn states_follow_revocation_then_expiry() {
        let mut record = TokenRecord {
            name: "ci".into(),
            role: "publisher".into(),
            automated: true,
            hash: sha256_hex("wharf_x"),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            created_by: "alice".into(),
            expires_at: Some("2026-02-01T00:00:00.000Z".into()),
            revoked_at: None,
        };
        assert_eq!(state(&record, "2026-01-15T00:00:00.000Z"), "active");
        assert_eq!(state(&record, "2026-02-01T00:00:00.000Z"), "expired");
        record.revoked_at = Some("2026-01-10T00:00:00.000Z".into());
        assert_eq!(state(&record, "2026-01-15T00:00:00.000Z"), "revoked");
        assert_eq!(record.hash.len(), 64);
    }
}
