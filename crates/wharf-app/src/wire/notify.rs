//! What a generic `[[notify]]` webhook receives (`kind = "webhook"`): one announcement per
//! request, JSON, with its id also in the `Idempotency-Key` and `X-Wharf-Event-Id` headers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::OverrideView;

/// One announcement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationView {
    /// The de-duplication id: the same on every retry (32 hex digits).
    pub id: String,
    /// The audit action (`deploy.start`, `deploy.succeeded`, `lock`, `hold`, `publish`, …)
    /// or `downgrade.announced`/`downgrade.completed`.
    pub kind: String,
    /// What it is about: an environment, `*` (every environment), a publish prefix, or a
    /// node set (maintenance).
    pub environment: String,
    /// Who did it (for downgrade announcements, who started the deploy).
    pub actor: Option<String>,
    /// When it happened (UTC, RFC 3339).
    pub at: String,
    /// The line a chat channel shows (what the Slack destination sends as `text`).
    pub text: String,
    /// The reason recorded with it, if any.
    pub reason: Option<String>,
    /// The deploy it is about, if any.
    pub deploy: Option<NotificationDeployView>,
    /// The audit entry's details, or the deploy event's body.
    pub details: serde_json::Value,
}

/// The deploy an announcement is about, as it is when the announcement is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationDeployView {
    pub id: i64,
    pub environment: String,
    /// Package → version.
    pub packages: BTreeMap<String, String>,
    pub state: String,
    /// Every override of the deploy, with its reason: repeated in each announcement.
    pub overrides: Vec<OverrideView>,
    pub issue: Option<String>,
}
