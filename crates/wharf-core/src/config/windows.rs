//! `[[windows]]`: change-lock windows (issue 10): [`WindowConfig`] as written,
//! [`WindowConfig::resolve`] into [`WindowSettings`], and [`Config::resolve_windows`] for
//! the whole file.

use std::ops::Range;

use serde::Deserialize;

use super::{Config, ConfigError, ConfigSource, Spanned, parse_duration};

/// `[[windows]]`: a change-lock window, a time when deploys are refused. One of three forms:
/// `start` + `end` (cron expressions), `start` + `duration`, or `from` + `until` (one-off
/// dates). [`WindowConfig::resolve`] checks it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    pub name: Spanned<String>,
    /// Five-field cron expression, in wall-clock time of `timezone`: when the window opens.
    pub start: Option<Spanned<String>>,
    /// Cron expression: the first match after an opening closes the window.
    pub end: Option<Spanned<String>>,
    /// How long the window stays open after `start` (`2h`, `1d12h`).
    pub duration: Option<Spanned<String>>,
    /// RFC 3339 date-time: with an offset (`Z`, `+02:00`) an instant, without one a
    /// wall-clock time in `timezone`.
    pub from: Option<Spanned<String>>,
    pub until: Option<Spanned<String>>,
    /// IANA time zone name. Default `UTC`.
    pub timezone: Option<Spanned<String>>,
    /// Environment names the window applies to; absent or `"*"`: all.
    pub environments: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub applies_to: AppliesTo,
    /// Shown when the window refuses a deploy.
    pub reason: Option<String>,
}

/// Which deploys a window refuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppliesTo {
    /// Only deploys nobody started by hand (the scheduler's, promotions).
    #[default]
    Automated,
    /// Every deploy.
    All,
}

/// When a window is open, as checked by [`WindowConfig::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub enum WindowSchedule {
    /// Open from each `start` match until the next `end` match.
    Cron { start: crate::cron::Cron, end: crate::cron::Cron },
    /// Open from each `start` match for `seconds`.
    CronFor { start: crate::cron::Cron, seconds: u64 },
    /// Open once, `from` (inclusive) to `until` (exclusive).
    Dated { from: jiff::Timestamp, until: jiff::Timestamp },
}

/// A `[[windows]]` entry checked, with its defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSettings {
    pub name: String,
    pub schedule: WindowSchedule,
    pub timezone: jiff::tz::TimeZone,
    /// `None`: every environment.
    pub environments: Option<Vec<String>>,
    pub applies_to: AppliesTo,
    pub reason: Option<String>,
    /// The line of `name`, for messages that point back at the file.
    pub line: usize,
}

impl WindowConfig {
    /// Check every value and apply the defaults; errors name the line and
    /// `windows.NAME.KEY`.
    pub fn resolve(&self, source: &ConfigSource) -> Result<WindowSettings, ConfigError> {
        let name = self.name.get_ref();
        let err = |span: Range<usize>, key: &str, message: String| {
            source.error(Some(span), Some(&format!("windows.{name}.{key}")), message)
        };
        if name.trim().is_empty() {
            return Err(err(self.name.span(), "name", "is empty: name the window".to_owned()));
        }
        let timezone = match &self.timezone {
            None => jiff::tz::TimeZone::UTC,
            Some(zone) => jiff::tz::TimeZone::get(zone.get_ref()).map_err(|why| {
                err(
                    zone.span(),
                    "timezone",
                    format!(
                        "unknown time zone {:?} (write an IANA name such as \"Europe/Amsterdam\"; \
                         the system tz database, Debian's `tzdata`, must know it): {why}",
                        zone.get_ref()
                    ),
                )
            })?,
        };
        let cron = |value: &Spanned<String>, key: &str| {
            value.get_ref().parse::<crate::cron::Cron>().map_err(|why| err(value.span(), key, why))
        };
        let instant = |value: &Spanned<String>, key: &str| {
            let text = value.get_ref();
            if let Ok(at) = text.parse::<jiff::Timestamp>() {
                return Ok(at);
            }
            text.parse::<jiff::civil::DateTime>()
                .map_err(|why| why.to_string())
                .and_then(|dt| {
                    crate::cron::wall_clock_instant(&timezone, dt).map_err(|why| why.to_string())
                })
                .map_err(|why| {
                    err(
                        value.span(),
                        key,
                        format!(
                            "invalid date-time {text:?}: {why} (write RFC 3339, e.g. \
                             \"2026-12-20T00:00:00Z\", or without an offset for wall-clock \
                             time in the window's timezone)"
                        ),
                    )
                })
        };
        let mix = |value: &Option<Spanned<String>>, key: &str, form: &str| match value {
            Some(value) => Err(err(value.span(), key, format!("cannot be used with {form}"))),
            None => Ok(()),
        };
        let schedule = match (&self.start, &self.from) {
            (Some(start), None) => {
                mix(&self.until, "until", "`start` (a dated window is `from` + `until`)")?;
                match (&self.end, &self.duration) {
                    (Some(end), None) => WindowSchedule::Cron {
                        start: cron(start, "start")?,
                        end: cron(end, "end")?,
                    },
                    (None, Some(duration)) => {
                        let seconds = parse_duration(duration.get_ref())
                            .map_err(|why| err(duration.span(), "duration", why))?;
                        if seconds == 0 {
                            let why = "must be longer than 0s".to_owned();
                            return Err(err(duration.span(), "duration", why));
                        }
                        WindowSchedule::CronFor { start: cron(start, "start")?, seconds }
                    }
                    (Some(_), Some(duration)) => {
                        let why = "cannot be used with `end`: choose one".to_owned();
                        return Err(err(duration.span(), "duration", why));
                    }
                    (None, None) => {
                        let why = "needs `end` (a cron expression) or `duration`".to_owned();
                        return Err(err(start.span(), "start", why));
                    }
                }
            }
            (None, Some(from)) => {
                mix(&self.end, "end", "`from` (a cron window is `start` + `end`)")?;
                mix(&self.duration, "duration", "`from` (a dated window ends at `until`)")?;
                let Some(until) = &self.until else {
                    return Err(err(from.span(), "from", "needs `until`".to_owned()));
                };
                let (from_at, until_at) = (instant(from, "from")?, instant(until, "until")?);
                if until_at <= from_at {
                    let why = format!("{until_at} is not after `from` ({from_at})");
                    return Err(err(until.span(), "until", why));
                }
                WindowSchedule::Dated { from: from_at, until: until_at }
            }
            (Some(_), Some(from)) => {
                let why = "cannot be used with `start`: a window is either cron (`start`) \
                           or dated (`from` + `until`)";
                return Err(err(from.span(), "from", why.to_owned()));
            }
            (None, None) => {
                let why = "needs `start` + `end`, `start` + `duration`, or `from` + `until`";
                return Err(err(self.name.span(), "name", why.to_owned()));
            }
        };
        let environments = match &self.environments {
            None => None,
            Some(list) if list.get_ref().iter().any(|env| env == "*") => None,
            Some(list) if list.get_ref().is_empty() => {
                let why = "is empty: name environments, or leave it out for all".to_owned();
                return Err(err(list.span(), "environments", why));
            }
            Some(list) => Some(list.get_ref().clone()),
        };
        Ok(WindowSettings {
            name: name.clone(),
            schedule,
            timezone,
            environments,
            applies_to: self.applies_to,
            reason: self.reason.clone(),
            line: source.line_of(self.name.span().start),
        })
    }
}

impl Config {
    /// Every `[[windows]]` entry resolved; window names are unique and name environments
    /// that exist.
    pub fn resolve_windows(
        &self,
        source: &ConfigSource,
    ) -> Result<Vec<WindowSettings>, ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut windows = Vec::with_capacity(self.windows.len());
        for window in &self.windows {
            let settings = window.resolve(source)?;
            if !seen.insert(settings.name.clone()) {
                let key = format!("windows.{}", settings.name);
                let why = "is defined twice: window names must be unique";
                return Err(source.error(Some(window.name.span()), Some(&key), why));
            }
            let key = format!("windows.{}.environments", settings.name);
            self.environment_list(source, window.environments.as_ref(), &key)?;
            windows.push(settings);
        }
        Ok(windows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Ok(check)` runs `check` on the one resolved window; `Err((line, key, part))` is the
    /// expected error.
    /// What a window check expects: a check of the resolved window, or an error's line,
    /// key and part of its message.
    type Expect<'a> = Result<fn(&WindowSettings), (usize, &'a str, &'a str)>;

    fn check(text: &str, expect: Expect<'_>) {
        let source = ConfigSource::new("/etc/wharf/wharf.toml", text);
        let got = source.parse().and_then(|config| config.resolve_windows(&source));
        match (got, expect) {
            (Ok(windows), Ok(check)) => check(&windows[0]),
            (Err(err), Err((line, key, part))) => {
                assert_eq!((err.line, err.key.as_deref()), (Some(line), Some(key)), "{err}");
                assert!(err.message.contains(part), "{text}: {err} lacks {part:?}");
                let prefix = format!("/etc/wharf/wharf.toml:{line}: key `{key}`");
                assert!(err.to_string().starts_with(&prefix), "{err}");
            }
            (got, _) => panic!("{text}: unexpected {got:?}"),
        }
    }

    const ENVS: &str = "[[environments]]\nname = \"production\"\nnodes = \"a\"\n";

    #[test]
    fn windows_resolve() {
        check(
            "[[windows]]\nname = \"weekend\"\nstart = \"0 23 * * fri\"\nend = \"0 7 * * mon\"\ntimezone = \"Europe/Amsterdam\"\nreason = \"weekend\"\n",
            Ok(|w| {
                assert_eq!(w.name, "weekend");
                assert_eq!(w.line, 2);
                assert!(
                    matches!(&w.schedule, WindowSchedule::Cron { start, .. } if start.to_string() == "0 23 * * fri")
                );
                assert_eq!(w.timezone.iana_name(), Some("Europe/Amsterdam"));
                assert_eq!((w.environments.as_ref(), w.applies_to), (None, AppliesTo::Automated));
                assert_eq!(w.reason.as_deref(), Some("weekend"));
            }),
        );
        check(
            "[[windows]]\nname = \"nightly\"\nstart = \"0 22 * * *\"\nduration = \"9h\"\napplies_to = \"all\"\nenvironments = [\"*\"]\n",
            Ok(|w| {
                assert!(matches!(w.schedule, WindowSchedule::CronFor { seconds: 32_400, .. }));
                assert_eq!(w.timezone, jiff::tz::TimeZone::UTC);
                assert_eq!((w.environments.as_ref(), w.applies_to), (None, AppliesTo::All));
            }),
        );
        check(
            "[[windows]]\nname = \"year-end\"\nfrom = \"2026-12-20T00:00:00Z\"\nuntil = \"2027-01-04T00:00:00+01:00\"\n",
            Ok(|w| {
                let WindowSchedule::Dated { from, until } = w.schedule else { panic!() };
                assert_eq!(from.to_string(), "2026-12-20T00:00:00Z");
                assert_eq!(until.to_string(), "2027-01-03T23:00:00Z");
            }),
        );
        check(
            &format!(
                "{ENVS}[[windows]]\nname = \"eve\"\nfrom = \"2026-12-24T18:00:00\"\nuntil = \"2026-12-27\"\ntimezone = \"Europe/Amsterdam\"\nenvironments = [\"production\"]\n"
            ),
            Ok(|w| {
                let WindowSchedule::Dated { from, until } = w.schedule else { panic!() };
                assert_eq!(from.to_string(), "2026-12-24T17:00:00Z", "local time in the zone");
                assert_eq!(until.to_string(), "2026-12-26T23:00:00Z");
                assert_eq!(w.environments, Some(vec!["production".to_owned()]));
            }),
        );
    }

    #[test]
    fn bad_windows_name_file_line_and_key() {
        let w = "[[windows]]\nname = \"w\"\n";
        let cases: &[(String, usize, &str, &str)] = &[
            (format!("{w}strat = \"0 0 * * *\"\n"), 3, "strat", "unknown field `strat`"),
            (
                format!(
                    "{w}start = \"0 0 * * *\"\nend = \"0 1 * * *\"\ntimezone = \"Europe/Amsterdan\"\n"
                ),
                5,
                "windows.w.timezone",
                "unknown time zone \"Europe/Amsterdan\"",
            ),
            (
                format!("{w}start = \"0 0 * *\"\nend = \"0 1 * * *\"\n"),
                3,
                "windows.w.start",
                "expected 5 fields",
            ),
            (
                format!("{w}start = \"0 0 * * *\"\nend = \"0 0 31 2 *\"\n"),
                4,
                "windows.w.end",
                "can never match",
            ),
            (
                format!("{w}start = \"0 0 * * *\"\nend = \"0 1 * * *\"\nduration = \"1h\"\n"),
                5,
                "windows.w.duration",
                "cannot be used with `end`",
            ),
            (format!("{w}start = \"0 0 * * *\"\n"), 3, "windows.w.start", "needs `end`"),
            (
                format!("{w}start = \"0 0 * * *\"\nduration = \"2x\"\n"),
                4,
                "windows.w.duration",
                "invalid duration",
            ),
            (
                format!("{w}start = \"0 0 * * *\"\nduration = \"0s\"\n"),
                4,
                "windows.w.duration",
                "longer than 0s",
            ),
            (
                format!("{w}start = \"0 0 * * *\"\nfrom = \"2026-12-20T00:00:00Z\"\n"),
                4,
                "windows.w.from",
                "cannot be used with `start`",
            ),
            (format!("{w}from = \"2026-12-20T00:00:00Z\"\n"), 3, "windows.w.from", "needs `until`"),
            (
                format!("{w}from = \"2026-12-20T00:00:00Z\"\nuntil = \"2026-12-32\"\n"),
                4,
                "windows.w.until",
                "invalid date-time \"2026-12-32\"",
            ),
            (
                format!("{w}from = \"2026-12-20T00:00:00Z\"\nuntil = \"2026-12-19T00:00:00Z\"\n"),
                4,
                "windows.w.until",
                "is not after `from`",
            ),
            (
                format!("{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\nend = \"0 0 * * *\"\n"),
                5,
                "windows.w.end",
                "cannot be used with `from`",
            ),
            (w.to_owned(), 2, "windows.w.name", "needs `start` + `end`"),
            (
                format!(
                    "{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\napplies_to = \"some\"\n"
                ),
                5,
                "some",
                "unknown variant `some`, expected `automated` or `all`",
            ),
            (
                format!("{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\nenvironments = []\n"),
                5,
                "windows.w.environments",
                "is empty",
            ),
            (
                format!(
                    "{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\nenvironments = [\"prod\"]\n"
                ),
                5,
                "windows.w.environments",
                "no [[environments]] entry is named \"prod\"",
            ),
            (
                format!(
                    "{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\n\n{w}from = \"2026-12-20\"\nuntil = \"2026-12-21\"\n"
                ),
                7,
                "windows.w",
                "defined twice",
            ),
        ];
        for (text, line, key, part) in cases {
            check(text, Err((*line, key, part)));
        }
    }
}
