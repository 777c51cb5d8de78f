//! After a command that may have written announcements (deploys, locks, holds,
//! maintenance, publishes): deliver them to the `[[notify]]` destinations within a short,
//! bounded wait, leaving what is not delivered to `wharf server`. Never changes the
//! command's outcome.

use std::time::Duration;

use crate::cli::Command;
use crate::settings::Settings;

/// The most a command waits for its announcements to be delivered.
const WAIT: Duration = Duration::from_secs(2);

/// Whether `command` can write announced audit entries.
pub(super) fn announces(command: &Command) -> bool {
    matches!(
        command,
        Command::Deploy(_)
            | Command::Rollback(_)
            | Command::Resume(_)
            | Command::Approve(_)
            | Command::Cancel(_)
            | Command::Lock(_)
            | Command::Unlock(_)
            | Command::Hold(_)
            | Command::Unhold(_)
            | Command::Maintenance(_)
            | Command::Publish(_)
    )
}

/// Deliver pending announcements within [`WAIT`]; skipped without `[[notify]]`.
pub(super) fn flush(settings: &Settings) {
    if settings.config.notify.is_empty() {
        return;
    }
    let Ok(runtime) = super::runtime() else { return };
    runtime.block_on(async {
        match settings.context().await {
            Ok(ctx) => {
                wharf_app::notify::flush(&ctx, &settings.config, &settings.source, WAIT).await;
            }
            Err(err) => tracing::warn!("notifications not sent: {err:#}"),
        }
    });
}
