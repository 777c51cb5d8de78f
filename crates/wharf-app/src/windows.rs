//! `wharf windows`: which change-lock windows are open at a moment, and when each next
//! opens and closes — in its own time zone and in UTC. Pure: the moment is a parameter.

use std::str::FromStr as _;

use jiff::Timestamp;
use wharf_core::config::{AppliesTo, Config, ConfigSource};
use wharf_core::inventory::Inventory;
use wharf_deploy::window::Window;

use crate::error::{AppError, Result};
use crate::wire::WindowView;

/// An instant (re-exported so front ends need no time crate of their own).
pub type Instant = Timestamp;

/// The current instant.
#[must_use]
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// Parse `--at`: an RFC 3339 instant (`2026-12-24T18:00:00Z`, `…+01:00`).
pub fn parse_instant(text: &str) -> Result<Timestamp> {
    Timestamp::from_str(text).map_err(|err| {
        AppError::invalid(format!(
            "--at {text:?} is not an RFC 3339 instant such as 2026-12-24T18:00:00Z: {err}"
        ))
    })
}

/// Every window (or those covering `environment`), as of `now`.
pub fn windows(
    config: &Config,
    source: &ConfigSource,
    inventory: &Inventory,
    environment: Option<&str>,
    now: Timestamp,
) -> Result<Vec<WindowView>> {
    if let Some(name) = environment
        && !inventory.environments().iter().any(|env| env.name == name)
    {
        return Err(AppError::not_found(format!("no environment named {name:?}")));
    }
    let mut views = Vec::new();
    for window in Window::from_config(config, source)? {
        if environment.is_some_and(|name| !window.covers(name)) {
            continue;
        }
        let schedule_error =
            |err: wharf_deploy::window::WindowError| AppError::invalid(err.to_string());
        let open = window.is_open(now).map_err(schedule_error)?;
        let opening = window.opening(now).map_err(schedule_error)?;
        let local = |at: Timestamp| {
            at.to_zoned(window.timezone.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string()
        };
        views.push(WindowView {
            name: window.name.clone(),
            open,
            applies_to: match window.applies_to {
                AppliesTo::Automated => "automated",
                AppliesTo::All => "all",
            }
            .to_owned(),
            environments: window.environments.clone().unwrap_or_else(|| vec!["*".to_owned()]),
            timezone: window.timezone.iana_name().unwrap_or("UTC").to_owned(),
            reason: window.reason.clone(),
            opens_at: opening.map(|o| o.start.to_string()),
            closes_at: opening.map(|o| o.end.to_string()),
            opens_local: opening.map(|o| local(o.start)),
            closes_local: opening.map(|o| local(o.end)),
        });
    }
    Ok(views)
}
