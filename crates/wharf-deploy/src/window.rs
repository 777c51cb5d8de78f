//! Change-lock windows: when deploys are refused.
//!
//! A [`Window`] comes from a `[[windows]]` entry ([`Window::from_config`]). Every decision
//! takes the clock as `now`: [`Window::is_open`], [`Window::opening`] (the current or next
//! opening, for `wharf windows`) and [`open_windows`] (the windows that refuse a deploy).
//!
//! Cron windows run in wall-clock time of the window's zone, the way cron fires: a start or
//! end skipped by a spring-forward gap happens at the first instant after the gap; one that
//! occurs twice in a fall-back fold happens at its first occurrence
//! ([`wharf_core::cron::wall_clock_instant`]). A cron window is open from the most recent
//! `start` at or before `now` until the first `end` after that start.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use wharf_core::config::{Config, ConfigError, ConfigSource, WindowSettings};
use wharf_core::cron::{Cron, next_fire, prev_fire};

pub use wharf_core::config::{AppliesTo, WindowSchedule};

/// A change-lock window, resolved from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub name: String,
    pub schedule: WindowSchedule,
    pub timezone: TimeZone,
    /// `None`: every environment.
    pub environments: Option<Vec<String>>,
    pub applies_to: AppliesTo,
    /// Shown when the window refuses a deploy.
    pub reason: Option<String>,
}

/// One opening of a window: open from `start` (inclusive) until `end` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A window that refuses a deploy now, and the opening it is in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blocking<'w> {
    pub window: &'w Window,
    pub opening: Opening,
}

/// A window whose schedule cannot be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error(
        "window {window:?}: cron expression {cron:?} has no match within {years} years of {near}",
        years = Cron::SEARCH_YEARS
    )]
    NoMatch { window: String, cron: String, near: DateTime },
    #[error("window {window:?}: {message}")]
    Time { window: String, message: String },
}

impl From<WindowSettings> for Window {
    fn from(settings: WindowSettings) -> Self {
        Window {
            name: settings.name,
            schedule: settings.schedule,
            timezone: settings.timezone,
            environments: settings.environments,
            applies_to: settings.applies_to,
            reason: settings.reason,
        }
    }
}

impl Window {
    /// Every `[[windows]]` entry of `config`, checked.
    pub fn from_config(config: &Config, source: &ConfigSource) -> Result<Vec<Window>, ConfigError> {
        Ok(config.resolve_windows(source)?.into_iter().map(Window::from).collect())
    }

    /// Whether the window covers `environment`.
    #[must_use]
    pub fn covers(&self, environment: &str) -> bool {
        self.environments.as_ref().is_none_or(|envs| envs.iter().any(|env| env == environment))
    }

    /// Whether the window refuses a deploy that is (or is not) `automated`.
    #[must_use]
    pub fn refuses(&self, automated: bool) -> bool {
        automated || self.applies_to == AppliesTo::All
    }

    /// Whether the window is open at `now`.
    pub fn is_open(&self, now: Timestamp) -> Result<bool, WindowError> {
        Ok(self.current(now)?.is_some())
    }

    /// The opening `now` is in, if any.
    pub fn current(&self, now: Timestamp) -> Result<Option<Opening>, WindowError> {
        let opening = match &self.schedule {
            WindowSchedule::Dated { from, until } => Opening { start: *from, end: *until },
            WindowSchedule::Cron { start, .. } | WindowSchedule::CronFor { start, .. } => {
                let Some(start) = self.prev_at_or_before(start, now)? else { return Ok(None) };
                Opening { start, end: self.end_after(start)? }
            }
        };
        Ok((opening.start <= now && now < opening.end).then_some(opening))
    }

    /// The opening `now` is in, or else the next one; `None` when a dated window is over.
    pub fn opening(&self, now: Timestamp) -> Result<Option<Opening>, WindowError> {
        if let Some(current) = self.current(now)? {
            return Ok(Some(current));
        }
        match &self.schedule {
            WindowSchedule::Dated { from, until } => {
                Ok((now < *from).then_some(Opening { start: *from, end: *until }))
            }
            WindowSchedule::Cron { start, .. } | WindowSchedule::CronFor { start, .. } => {
                let start = self.next_after(start, now)?;
                Ok(Some(Opening { start, end: self.end_after(start)? }))
            }
        }
    }

    /// Where the opening that began at `start` ends.
    fn end_after(&self, start: Timestamp) -> Result<Timestamp, WindowError> {
        match &self.schedule {
            WindowSchedule::Cron { end, .. } => self.next_after(end, start),
            WindowSchedule::CronFor { seconds, .. } => {
                let seconds = i64::try_from(*seconds).unwrap_or(i64::MAX);
                start.checked_add(SignedDuration::from_secs(seconds)).map_err(|e| self.time(e))
            }
            WindowSchedule::Dated { until, .. } => Ok(*until),
        }
    }

    /// The first instant after `after` at which `cron` fires (see
    /// [`wharf_core::cron::next_fire`]).
    fn next_after(&self, cron: &Cron, after: Timestamp) -> Result<Timestamp, WindowError> {
        next_fire(cron, &self.timezone, after)
            .map_err(|e| self.time(e))?
            .ok_or_else(|| self.no_match(cron, self.timezone.to_datetime(after)))
    }

    /// The last instant at or before `now` at which `cron` fired, if any within the search
    /// bound (see [`wharf_core::cron::prev_fire`]).
    fn prev_at_or_before(
        &self,
        cron: &Cron,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, WindowError> {
        prev_fire(cron, &self.timezone, now).map_err(|e| self.time(e))
    }

    fn no_match(&self, cron: &Cron, near: DateTime) -> WindowError {
        WindowError::NoMatch { window: self.name.clone(), cron: cron.to_string(), near }
    }

    fn time(&self, err: jiff::Error) -> WindowError {
        WindowError::Time { window: self.name.clone(), message: err.to_string() }
    }
}

/// The windows that refuse a deploy to `environment` at `now`: open, covering the
/// environment, and applying to this kind of deploy (an `automated` window refuses only
/// automated deploys; `all` refuses every deploy). In configuration order.
pub fn open_windows<'w>(
    windows: &'w [Window],
    environment: &str,
    automated: bool,
    now: Timestamp,
) -> Result<Vec<Blocking<'w>>, WindowError> {
    let mut blocking = Vec::new();
    for window in windows {
        if !window.covers(environment) || !window.refuses(automated) {
            continue;
        }
        if let Some(opening) = window.current(now)? {
            blocking.push(Blocking { window, opening });
        }
    }
    Ok(blocking)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn cron_window(start: &str, end: &str, zone: &str) -> Window {
        Window {
            name: format!("{start} → {end}"),
            schedule: WindowSchedule::Cron {
                start: start.parse().unwrap(),
                end: end.parse().unwrap(),
            },
            timezone: TimeZone::get(zone).unwrap(),
            environments: None,
            applies_to: AppliesTo::Automated,
            reason: None,
        }
    }

    /// `(now, expected opening (start, end), "open" or "closed")`.
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a str);

    /// At each `now` marked "open" the window is open, in the opening `(start, end)`; at
    /// each marked "closed" it is closed and its next opening is `(start, end)` (`None`: no
    /// more openings). Also: the opening, asked for at its start, is itself.
    fn check(window: &Window, cases: &[Case<'_>]) {
        for (now, expect, open) in cases {
            let now = ts(now);
            let want = expect.map(|(start, end)| Opening { start: ts(start), end: ts(end) });
            let is_open = *open == "open";
            assert_eq!(window.is_open(now), Ok(is_open), "{}: open at {now}?", window.name);
            assert_eq!(window.opening(now), Ok(want), "{}: opening at {now}", window.name);
            if let Some(want) = want {
                assert_eq!(window.current(want.start), Ok(Some(want)), "{}", window.name);
            }
        }
    }

    #[test]
    fn daily_window_opens_and_closes_at_its_boundaries() {
        let w = cron_window("30 2 * * *", "30 3 * * *", "UTC");
        let today = Some(("2026-12-01T02:30:00Z", "2026-12-01T03:30:00Z"));
        let tomorrow = Some(("2026-12-02T02:30:00Z", "2026-12-02T03:30:00Z"));
        check(
            &w,
            &[
                ("2026-12-01T02:29:59Z", today, "closed"),
                ("2026-12-01T02:30:00Z", today, "open"),
                ("2026-12-01T03:29:59.999Z", today, "open"),
                ("2026-12-01T03:30:00Z", tomorrow, "closed"),
                ("2026-12-01T12:00:00Z", tomorrow, "closed"),
            ],
        );
    }

    #[test]
    fn weekend_window_in_amsterdam() {
        // 2026-12-04 is a Friday; Amsterdam is UTC+1 in winter.
        let w = cron_window("0 23 * * 5", "0 7 * * 1", "Europe/Amsterdam");
        let weekend = Some(("2026-12-04T22:00:00Z", "2026-12-07T06:00:00Z"));
        let next = Some(("2026-12-11T22:00:00Z", "2026-12-14T06:00:00Z"));
        check(
            &w,
            &[
                ("2026-12-01T12:00:00Z", weekend, "closed"),
                ("2026-12-04T21:59:59Z", weekend, "closed"),
                ("2026-12-04T22:00:00Z", weekend, "open"),
                ("2026-12-06T12:00:00Z", weekend, "open"),
                ("2026-12-07T05:59:59Z", weekend, "open"),
                ("2026-12-07T06:00:00Z", next, "closed"),
            ],
        );
        // Summer: UTC+2, and the spring-forward weekend (2026-03-27 is a Friday).
        let summer = Some(("2026-07-03T21:00:00Z", "2026-07-06T05:00:00Z"));
        check(&w, &[("2026-07-04T00:00:00Z", summer, "open")]);
        let spring = Some(("2026-03-27T22:00:00Z", "2026-03-30T05:00:00Z"));
        check(
            &w,
            &[
                ("2026-03-29T12:00:00Z", spring, "open"),
                (
                    "2026-03-30T05:00:00Z",
                    Some(("2026-04-03T21:00:00Z", "2026-04-06T05:00:00Z")),
                    "closed",
                ),
            ],
        );
    }

    #[test]
    fn dated_windows() {
        let dated = |from: &str, until: &str| Window {
            schedule: WindowSchedule::Dated { from: ts(from), until: ts(until) },
            ..cron_window("0 0 * * *", "0 1 * * *", "UTC")
        };
        let year_end = dated("2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z");
        let it = Some(("2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z"));
        check(
            &year_end,
            &[
                ("2026-12-01T12:00:00Z", it, "closed"),
                ("2026-12-19T23:59:59Z", it, "closed"),
                ("2026-12-20T00:00:00Z", it, "open"),
                ("2027-01-03T23:59:59Z", it, "open"),
                ("2027-01-04T00:00:00Z", None, "closed"),
            ],
        );
    }

    #[test]
    fn local_dated_window_from_config() {
        let text = "[[windows]]\nname = \"eve\"\nfrom = \"2026-12-24T18:00:00\"\nuntil = \"2026-12-27T08:00:00\"\ntimezone = \"America/New_York\"\n";
        let source = ConfigSource::new("wharf.toml", text);
        let windows = Window::from_config(&source.parse().unwrap(), &source).unwrap();
        let it = Some(("2026-12-24T23:00:00Z", "2026-12-27T13:00:00Z"));
        check(
            &windows[0],
            &[
                ("2026-12-24T22:59:59Z", it, "closed"),
                ("2026-12-24T23:00:00Z", it, "open"),
                ("2026-12-27T12:59:59Z", it, "open"),
                ("2026-12-27T13:00:00Z", None, "closed"),
            ],
        );
    }

    /// A daily `30 2 * * *` → `30 3 * * *` window on DST nights: `nights` lists, per day,
    /// the UTC instants it opens and closes.
    fn check_nights(zone: &str, nights: &[(&str, &str)]) {
        let w = cron_window("30 2 * * *", "30 3 * * *", zone);
        for (start, end) in nights {
            let (start_at, end_at) = (ts(start), ts(end));
            let it = Some((*start, *end));
            check(
                &w,
                &[
                    (&(start_at - SignedDuration::from_secs(1)).to_string(), it, "closed"),
                    (start, it, "open"),
                    (&(end_at - SignedDuration::from_secs(1)).to_string(), it, "open"),
                ],
            );
            assert_eq!(w.is_open(end_at), Ok(false), "{zone}: closed at {end}");
        }
    }

    #[test]
    fn dst_nights_in_amsterdam() {
        check_nights(
            "Europe/Amsterdam",
            &[
                ("2026-03-28T01:30:00Z", "2026-03-28T02:30:00Z"), // CET, UTC+1: one hour
                // 02:30 does not exist: opens at 03:00 CEST (the transition), closes 03:30.
                ("2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"),
                ("2026-03-30T00:30:00Z", "2026-03-30T01:30:00Z"), // CEST, UTC+2: one hour
                ("2026-10-24T00:30:00Z", "2026-10-24T01:30:00Z"),
                // 02:30 happens twice: opens at the first (CEST), closes at 03:30 CET: two hours.
                ("2026-10-25T00:30:00Z", "2026-10-25T02:30:00Z"),
                ("2026-10-26T01:30:00Z", "2026-10-26T02:30:00Z"),
            ],
        );
        // During the repeated hour (02:30 CET, the second time), the window is still the
        // one that opened at the first 02:30 and does not open again.
        let w = cron_window("30 2 * * *", "30 3 * * *", "Europe/Amsterdam");
        let it = Opening { start: ts("2026-10-25T00:30:00Z"), end: ts("2026-10-25T02:30:00Z") };
        assert_eq!(w.current(ts("2026-10-25T01:30:00Z")), Ok(Some(it)));
    }

    #[test]
    fn dst_nights_in_new_york() {
        check_nights(
            "America/New_York",
            &[
                ("2026-03-07T07:30:00Z", "2026-03-07T08:30:00Z"), // EST, UTC-5
                // 02:30 does not exist: opens at 03:00 EDT (the transition), closes 03:30 EDT.
                ("2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"),
                ("2026-03-09T06:30:00Z", "2026-03-09T07:30:00Z"), // EDT, UTC-4
                ("2026-10-31T06:30:00Z", "2026-10-31T07:30:00Z"),
                // New York repeats 01:00–02:00, so 02:30 and 03:30 happen once, in EST.
                ("2026-11-01T07:30:00Z", "2026-11-01T08:30:00Z"),
                ("2026-11-02T07:30:00Z", "2026-11-02T08:30:00Z"),
            ],
        );
        // The repeated hour there: `30 1` opens at the first 01:30 (EDT) and `30 2` closes
        // it at 02:30 EST: two hours.
        let w = cron_window("30 1 * * *", "30 2 * * *", "America/New_York");
        let it = Some(("2026-11-01T05:30:00Z", "2026-11-01T07:30:00Z"));
        check(&w, &[("2026-11-01T06:30:00Z", it, "open"), ("2026-11-01T07:29:59Z", it, "open")]);
    }

    #[test]
    fn cron_plus_duration_and_impossible_expressions() {
        let w = Window {
            schedule: WindowSchedule::CronFor {
                start: "0 22 * * *".parse().unwrap(),
                seconds: 9 * 3600,
            },
            ..cron_window("0 0 * * *", "0 1 * * *", "Europe/Amsterdam")
        };
        // A duration is elapsed time: 9h from 22:00 CEST on the fall-back night ends 06:00 CET.
        let it = Some(("2026-10-24T20:00:00Z", "2026-10-25T05:00:00Z"));
        check(&w, &[("2026-10-25T04:59:59Z", it, "open"), ("2026-10-24T19:59:59Z", it, "closed")]);

        // The parser refuses `0 0 31 2 *`; one it cannot refuse errors clearly.
        let rare = cron_window("0 0 29 2 *", "0 1 29 2 *", "UTC");
        let err = rare.opening(ts("2097-03-01T00:00:00Z")).unwrap_err();
        assert!(err.to_string().contains("has no match within 5 years"), "{err}");
        assert_eq!(rare.is_open(ts("2097-03-01T00:00:00Z")), Ok(false));
    }

    #[test]
    fn open_windows_filters_by_environment_and_kind() {
        let mut automated = cron_window("0 0 * * *", "0 6 * * *", "UTC");
        automated.name = "nightly".to_owned();
        automated.environments = Some(vec!["production".to_owned()]);
        let mut all = cron_window("0 0 * * *", "0 1 * * *", "UTC");
        all.name = "freeze".to_owned();
        all.applies_to = AppliesTo::All;
        let windows = [automated, all];
        let names = |env: &str, auto: bool, now: &str| -> Vec<String> {
            let open = open_windows(&windows, env, auto, ts(now)).unwrap();
            open.iter().map(|b| b.window.name.clone()).collect()
        };
        let cases: &[(&str, bool, &str, &[&str])] = &[
            ("production", true, "2026-12-01T00:30:00Z", &["nightly", "freeze"]),
            ("production", false, "2026-12-01T00:30:00Z", &["freeze"]),
            ("staging", true, "2026-12-01T00:30:00Z", &["freeze"]),
            ("production", true, "2026-12-01T02:00:00Z", &["nightly"]),
            ("production", false, "2026-12-01T02:00:00Z", &[]),
            ("staging", true, "2026-12-01T07:00:00Z", &[]),
        ];
        for (env, auto, now, want) in cases {
            assert_eq!(names(env, *auto, now), *want, "{env} automated={auto} at {now}");
        }
        let open = open_windows(&windows, "production", true, ts("2026-12-01T02:00:00Z")).unwrap();
        assert_eq!(open[0].opening.end, ts("2026-12-01T06:00:00Z"));
    }
}
