//! API tokens (`wharf token create|list|revoke`). No view ever holds a token's secret
//! except [`TokenCreated`], printed once.

use serde::Serialize;

/// A token as `wharf token list` shows it: never its secret, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TokenView {
    pub name: String,
    /// `viewer`, `publisher`, `deployer` or `admin`.
    pub role: String,
    /// An automated identity (CI, timers): change-lock windows apply to it.
    pub automated: bool,
    /// `active`, `expired` or `revoked`.
    pub state: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339; `null`: never expires.
    pub expires_at: Option<String>,
    /// RFC 3339; `null`: not revoked.
    pub revoked_at: Option<String>,
}

/// What `wharf token create` made: the token itself, shown this once (only its SHA-256
/// is stored). `Debug` leaves it out.
#[derive(Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TokenCreated {
    /// The secret to send as `Authorization: Bearer TOKEN`: `wharf_` and 64 hex digits.
    pub token: String,
    #[serde(flatten)]
    pub view: TokenView,
    pub audit_id: i64,
}

impl std::fmt::Debug for TokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCreated")
            .field("token", &"***")
            .field("view", &self.view)
            .field("audit_id", &self.audit_id)
            .finish()
    }
}

/// What `wharf token revoke` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TokenRevoked {
    pub name: String,
    /// RFC 3339, UTC.
    pub revoked_at: String,
    pub audit_id: i64,
}
