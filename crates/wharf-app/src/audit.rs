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

/// The entries `query` selects, in id order. `since` and `until` may be dates or RFC 3339
/// times with any offset (see [`instant`]); anything else is refused as invalid.
pub async fn list(ctx: &Context, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let mut query = query.clone();
    query.since = query.since.as_deref().map(|t| instant("since", t)).transpose()?;
    query.until = query.until.as_deref().map(|t| instant("until", t)).transpose()?;
    Ok(ctx.store().audit(&query).await?)
}

/// A bound on the audit log's times as people write it — a date (`2026-12-01`: midnight
/// UTC) or an RFC 3339 time with any offset (`2026-12-01T09:30:00+01:00`) — in the
/// store's format (`2026-12-01T08:30:00.000Z`), which orders as text.
pub fn instant(what: &str, text: &str) -> Result<String> {
    let text = text.trim();
    let timestamp = match text.parse::<jiff::Timestamp>() {
        Ok(timestamp) => timestamp,
        // A bare date only: jiff would also read a date out of `2026-12-01 09:30` and drop
        // the time, which would widen the filter silently.
        Err(_) => match text.parse::<jiff::civil::Date>().ok().filter(|_| text.len() == 10) {
            Some(date) => date
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map_err(|e| AppError::invalid(format!("{what} `{text}`: {e}")))?
                .timestamp(),
            None => {
                return Err(AppError::invalid(format!(
                    "{what} `{text}` is not a time: give a date (2026-12-01, midnight UTC) or an \
                     RFC 3339 time (2026-12-01T09:30:00Z, 2026-12-01T10:30:00+01:00)"
                )));
            }
        },
    };
    let t = timestamp.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    ))
}

/// Recompute the hash chain; a broken chain is the report, not an error.
pub async fn verify(ctx: &Context) -> Result<AuditVerification> {
    Ok(ctx.store().verify_audit().await?)
}

#[cfg(test)]
mod tests {
    use super::instant;

    #[test]
    fn instants_are_normalised_to_the_stored_format() {
        let cases = [
            ("2026-12-01", Some("2026-12-01T00:00:00.000Z")),
            (" 2026-12-01 ", Some("2026-12-01T00:00:00.000Z")),
            ("2026-12-01T09:30:00Z", Some("2026-12-01T09:30:00.000Z")),
            ("2026-12-01T10:30:00.25+01:00", Some("2026-12-01T09:30:00.250Z")),
            ("2026-03-29T02:30:00-04:00", Some("2026-03-29T06:30:00.000Z")),
            ("yesterday", None),
            ("2026-13-01", None),
            ("2026-12-01 09:30", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = instant("since", text);
            match want {
                Some(want) => assert_eq!(got.unwrap(), want, "{text:?}"),
                None => {
                    let err = got.unwrap_err().to_string();
                    assert!(err.contains("since") && err.contains("RFC 3339"), "{text:?}: {err}");
                }
            }
        }
    }
}
