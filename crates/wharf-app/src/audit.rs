//! The audit log as front ends use it: read it, verify its hash chain, add an operator's
//! note ("!log" for the fleet).

use serde_json::json;
use wharf_store::{AuditEntry, AuditQuery, AuditVerification};

use crate::context::Context;
use crate::error::{AppError, Result};

/// Record an operator note about `target`.
pub async fn note(ctx: &Context, target: &str, message: &str) -> Result<AuditEntry> {
    if message.trim().is_empty() {
        return Err(AppError::invalid("an empty note: say what happened"));
    }
    Ok(ctx.store().append_audit(ctx.entry("note", target, json!({ "message": message }))).await?)
}

/// The entries `query` selects, in id order.
pub async fn list(ctx: &Context, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
    Ok(ctx.store().audit(query).await?)
}

/// Recompute the hash chain; a broken chain is the report, not an error.
pub async fn verify(ctx: &Context) -> Result<AuditVerification> {
    Ok(ctx.store().verify_audit().await?)
}
