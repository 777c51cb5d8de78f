//! `wharf audit` and `wharf log`: read, verify and add to the tamper-evident audit log.

use serde_json::json;
use wharf_store::{AuditEntry, AuditQuery, NewAuditEntry, Store};

use crate::cli::{AuditArgs, LogArgs};
use crate::exit::{FAILURE, SUCCESS};
use crate::output;
use crate::settings::{Settings, actor};

/// Open the store the settings name, creating the data directory for the SQLite default.
pub(crate) async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    if !settings.database.contains("://") {
        std::fs::create_dir_all(settings.data_dir()).map_err(|err| {
            anyhow::anyhow!(
                "cannot create data directory {}: {err} (pass --data DIR or set WHARF_DATA)",
                settings.data_dir().display()
            )
        })?;
    }
    Ok(Store::open(&settings.database).await?)
}

pub(crate) fn show(settings: &Settings, args: &AuditArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let store = open_store(settings).await?;
        if args.verify {
            let report = store.verify_audit().await?;
            if args.output.json {
                output::json(&report)?;
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
            return Ok(if report.ok { SUCCESS } else { FAILURE });
        }
        let query = AuditQuery {
            action_prefix: args.action.clone(),
            target: args.target.clone(),
            limit: Some(args.limit),
            after_id: None,
            newest: true,
        };
        let entries = store.audit(&query).await?;
        if args.output.json {
            output::json(&entries)?;
        } else {
            print_entries(&entries);
        }
        Ok(SUCCESS)
    })
}

fn print_entries(entries: &[AuditEntry]) {
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
        let store = open_store(settings).await?;
        let entry = store
            .append_audit(NewAuditEntry {
                actor: actor(),
                action: "note".to_owned(),
                target: args.target.clone(),
                reason: None,
                details: json!({ "message": message }),
            })
            .await?;
        output::line(format!("logged #{} at {}", entry.id, entry.at));
        Ok(SUCCESS)
    })
}
