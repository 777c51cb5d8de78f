//! Schedules.

use serde::Serialize;

/// A schedule as `wharf schedules` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ScheduleView {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    /// `deploy ENV [PKG] VERSION` or `publish REPOSITORY`.
    pub action: String,
    /// The last fire time claimed (RFC 3339 UTC), its result and when it finished.
    pub last_fire: Option<String>,
    pub last_result: Option<String>,
    pub last_finished: Option<String>,
    /// The next fire time after `now`, in UTC.
    pub next_fire: Option<String>,
}
