//! `wharf backup` and `wharf restore`: parse, call [`wharf_app::backup`], render.

use crate::cli::{BackupArgs, RestoreArgs};
use crate::exit::SUCCESS;
use crate::output;
use crate::progress::TerminalProgress;
use crate::settings::Settings;

pub(crate) fn backup(settings: &Settings, args: &BackupArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let ctx = settings.context().await?;
        let progress = TerminalProgress::new(!args.output.json);
        let report = wharf_app::backup::backup(&ctx, &args.dest, &progress).await;
        progress.clear();
        let report = report?;
        if args.output.json {
            output::json(&report)?;
        } else {
            output::line(format!(
                "backup {}: the data directory as of {}, {} file(s), {} bytes, checksums in {}",
                report.path,
                report.created_at,
                report.files,
                report.bytes,
                wharf_app::backup::MANIFEST
            ));
            if let Some(bucket) = &report.objects_in_bucket {
                output::line(format!(
                    "package files stay in {bucket}: the bucket (with versioning) is their backup"
                ));
            }
        }
        Ok(SUCCESS)
    })
}

pub(crate) fn restore(settings: &Settings, args: &RestoreArgs) -> anyhow::Result<u8> {
    let report = wharf_app::backup::restore(&args.src, &settings.data_dir, args.force)?;
    if args.output.json {
        output::json(&report)?;
    } else {
        output::line(format!(
            "restored the backup of {} into {}: {} file(s), {} bytes, each matching its checksum",
            report.created_at, report.data, report.files, report.bytes
        ));
        if let Some(aside) = &report.set_aside {
            output::line(format!(
                "the previous data directory is now {aside} (remove it when done)"
            ));
        }
    }
    Ok(SUCCESS)
}
