//! `wharf audit` and `wharf log`: read, verify and add to the tamper-evident audit log.

use wharf_store::{AuditEntry, AuditQuery, AuditVerification};

use crate::cli::{AuditArgs, LogArgs};
use crate::exit::{FAILURE, SUCCESS};
use crate::output;
use crate::settings::Settings;

pub(crate) fn show(settings: &Settings, args: &AuditArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        if args.verify {
            return render_verify(args.output.json, &wharf_app::audit::verify(&ctx).await?);
        }
        let query = AuditQuery {
            action_prefix: args.action.clone(),
            target: args.target.clone(),
            limit: Some(args.limit),
            after_id: None,
            newest: true,
            actor: args.actor.clone(),
            since: args.since.clone(),
            until: args.until.clone(),
        };
        let entries = wharf_app::audit::list(&ctx, &query).await?;
        if args.output.json {
            output::json(&entries)?;
        } else {
            print_entries(&entries);
        }
        Ok(SUCCESS)
    })
}

/// `wharf audit --verify`'s output and exit code, 1 for a broken chain (also with
/// `--server`).
pub(crate) fn render_verify(json: bool, report: &AuditVerification) -> anyhow::Result<u8> {
    if json {
        output::json(report)?;
    } else if let Some(broken) = &report.first_break {
        output::line(format!(
            "audit log BROKEN at entry {}: {} ({} entries read)",
            broken.id, broken.message, report.n_entries
        ));
    } else {
        output::line(format!(
            "audit log ok: {} entries, head {}",
            report.n_entries,
            report.last_hash.as_deref().unwrap_or("(empty)")
        ));
    }
    Ok(if report.ok { SUCCESS } else { FAILURE })
}

/// `wharf audit`'s table (also with `--server`).
pub(crate) fn print_entries(entries: &[AuditEntry]) {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            let mut what = entry.target.clone();
            if let Some(reason) = &entry.reason {
                what.push_str(&format!(" — reason: {reason}"));
            }
            if let Some(message) = entry.details.get("message").and_then(|m| m.as_str()) {
                what.push_str(&format!(" — {message}"));
            }
            vec![
                entry.id.to_string(),
                entry.at.clone(),
                entry.actor.clone(),
                entry.action.clone(),
                what,
            ]
        })
        .collect();
    output::table(&["ID", "AT", "ACTOR", "ACTION", "TARGET"], &rows);
}

pub(crate) fn log(settings: &Settings, args: &LogArgs) -> anyhow::Result<u8> {
    let message = args.message.join(" ");
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        render_note(args.output.json, &wharf_app::audit::note(&ctx, &args.target, &message).await?)
    })
}

/// `wharf log`'s output (also with `--server`).
pub(crate) fn render_note(json: bool, entry: &AuditEntry) -> anyhow::Result<u8> {
    if json {
        output::json(entry)?;
    } else {
        output::line(format!("logged #{} at {}", entry.id, entry.at));
    }
    Ok(SUCCESS)
}
