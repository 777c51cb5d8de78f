//! Five-field cron expressions (`minute hour day-of-month month day-of-week`), as Vixie
//! cron reads them, and the search for their matches in civil (wall-clock) time.
//!
//! Syntax per field: `*`, a value, a range `a-b`, steps `*/n` and `a-b/n`, and lists of
//! those separated by commas. Months may be written `jan`…`dec`, days of the week
//! `sun`…`sat` (case-insensitive); day-of-week runs 0–7, with 0 and 7 both Sunday. As in
//! Vixie cron, when both day fields are restricted (neither starts with `*`) a day matches
//! if *either* does; otherwise both must.
//!
//! Matches are searched in civil time, without a time zone: turning a civil match into an
//! instant (daylight saving gaps and folds) is [`wall_clock_instant`]'s job. Searches step
//! by fields (month, then day, then hour, then minute) and give up after
//! [`Cron::SEARCH_YEARS`] years, so an expression that can never match costs little.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// A parsed cron expression. Each field is a bit set of the values it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// The day-of-month field starts with `*` (Vixie's `DOM_STAR`).
    dom_star: bool,
    /// The day-of-week field starts with `*` (Vixie's `DOW_STAR`).
    dow_star: bool,
}

struct Field {
    name: &'static str,
    min: u8,
    max: u8,
    names: &'static [&'static str],
}

const MONTH_NAMES: &[&str] =
    &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY_NAMES: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Field; 5] = [
    Field { name: "minute", min: 0, max: 59, names: &[] },
    Field { name: "hour", min: 0, max: 23, names: &[] },
    Field { name: "day-of-month", min: 1, max: 31, names: &[] },
    Field { name: "month", min: 1, max: 12, names: MONTH_NAMES },
    Field { name: "day-of-week", min: 0, max: 7, names: DAY_NAMES },
];

impl Field {
    fn value(&self, text: &str) -> Result<u8, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|name| *name == lower) {
            // Month names count from 1 (jan), day names from 0 (sun).
            return Ok(i as u8 + self.min);
        }
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(match self.names.first() {
                Some(first) => format!(
                    "{text:?} is not a number or a name (expected {}–{} or {first}…{})",
                    self.min,
                    self.max,
                    self.names[self.names.len() - 1]
                ),
                None => format!("{text:?} is not a number (expected {}–{})", self.min, self.max),
            });
        }
        let value: u32 = text.parse().unwrap_or(u32::MAX);
        if value < u32::from(self.min) || value > u32::from(self.max) {
            let value = if value == u32::MAX { text.to_owned() } else { value.to_string() };
            return Err(format!("{value} is out of range {}–{}", self.min, self.max));
        }
        Ok(value as u8)
    }

    /// One field: a comma-separated list of `*`, `a`, `a-b`, `*/n`, `a-b/n`.
    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for item in text.split(',') {
            let (base, step) = match item.split_once('/') {
                Some((base, step)) => {
                    let step: u8 = step
                        .parse()
                        .ok()
                        .filter(|step| *step > 0)
                        .ok_or_else(|| format!("step {step:?} is not a number above 0"))?;
                    (base, Some(step))
                }
                None => (item, None),
            };
            let (low, high) = if base == "*" {
                (self.min, self.max)
            } else if let Some((low, high)) = base.split_once('-') {
                let (low, high) = (self.value(low)?, self.value(high)?);
                if low > high {
                    return Err(format!("range {base} runs backwards"));
                }
                (low, high)
            } else if base.is_empty() {
                return Err(format!("empty item in {text:?}"));
            } else {
                if step.is_some() {
                    return Err(format!("{item:?}: a step needs `*` or a range before it"));
                }
                let value = self.value(base)?;
                (value, value)
            };
            let mut value = low;
            while value <= high {
                // Day-of-week 7 is Sunday, like 0.
                let bit = if self.name == "day-of-week" && value == 7 { 0 } else { value };
                bits |= 1 << bit;
                value = value.saturating_add(step.unwrap_or(1));
            }
        }
        Ok(bits)
    }
}

impl FromStr for Cron {
    type Err = String;

    /// Parse; the error names the field at fault and why, e.g.
    /// `invalid cron expression "61 * * * *": minute: 61 is out of range 0–59`.
    fn from_str(text: &str) -> Result<Cron, String> {
        let invalid = |why: String| format!("invalid cron expression {text:?}: {why}");
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(invalid(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        }
        let mut bits = [0u64; 5];
        for ((field, text), bits) in FIELDS.iter().zip(&fields).zip(&mut bits) {
            *bits = field.parse(text).map_err(|why| invalid(format!("{}: {why}", field.name)))?;
        }
        let cron = Cron {
            text: fields.join(" "),
            minutes: bits[0],
            hours: bits[1],
            days: bits[2],
            months: bits[3],
            weekdays: bits[4],
            dom_star: fields[2].starts_with('*'),
            dow_star: fields[4].starts_with('*'),
        };
        // With the day of the week unrestricted only the day of the month decides: it must
        // exist in one of the months (February counts its 29th: leap years come).
        let possible = (1..=12u8).any(|month| {
            let days_in_month =
                [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month as usize - 1];
            cron.months & (1 << month) != 0
                && (1..=days_in_month).any(|d| cron.days & (1 << d) != 0)
        });
        if cron.dow_star && !possible {
            return Err(invalid(
                "can never match: none of its months has any of its days of the month".to_owned(),
            ));
        }
        Ok(cron)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The lowest set bit at or above `from`.
fn next_bit(bits: u64, from: i8) -> Option<i8> {
    let masked = bits & (!0u64 << from);
    (masked != 0).then(|| masked.trailing_zeros() as i8)
}

/// The highest set bit at or below `from`.
fn prev_bit(bits: u64, from: i8) -> Option<i8> {
    let masked = bits & (!0u64 >> (63 - from));
    (masked != 0).then(|| 63 - masked.leading_zeros() as i8)
}

impl Cron {
    /// How far a search looks before it concludes that an expression never matches.
    pub const SEARCH_YEARS: i16 = 5;

    fn day_matches(&self, date: Date) -> bool {
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        if self.dom_star || self.dow_star { dom && dow } else { dom || dow }
    }

    /// Whether `dt` (to the minute) matches.
    pub fn matches(&self, dt: DateTime) -> bool {
        self.months & (1 << dt.month()) != 0
            && self.day_matches(dt.date())
            && self.hours & (1 << dt.hour()) != 0
            && self.minutes & (1 << dt.minute()) != 0
    }

    /// The first match at or after `from` (rounded up to the minute); `None` when there is
    /// none within [`Cron::SEARCH_YEARS`] years.
    pub fn next_at_or_after(&self, from: DateTime) -> Option<DateTime> {
        let mut date = from.date();
        let (mut hour, mut minute) = (from.hour(), from.minute());
        if from.second() != 0 || from.subsec_nanosecond() != 0 {
            minute += 1;
        }
        let last_year = date.year().saturating_add(Self::SEARCH_YEARS);
        loop {
            if minute == 60 {
                (hour, minute) = (hour + 1, 0);
            }
            if hour == 24 {
                (date, hour, minute) = (date.tomorrow().ok()?, 0, 0);
            }
            if date.year() > last_year {
                return None;
            }
            if self.months & (1 << date.month()) == 0 {
                let next_month = date.last_of_month().tomorrow().ok()?;
                (date, hour, minute) = (next_month, 0, 0);
                continue;
            }
            if !self.day_matches(date) {
                (hour, minute) = (24, 0);
                continue;
            }
            let Some(h) = next_bit(self.hours, hour) else {
                (hour, minute) = (24, 0);
                continue;
            };
            if h != hour {
                (hour, minute) = (h, 0);
            }
            match next_bit(self.minutes, minute) {
                Some(m) => return Some(date.at(hour, m, 0, 0)),
                None => (hour, minute) = (hour + 1, 0),
            }
        }
    }

    /// The last match at or before `from` (truncated to the minute); `None` when there is
    /// none within [`Cron::SEARCH_YEARS`] years.
    pub fn prev_at_or_before(&self, from: DateTime) -> Option<DateTime> {
        let mut date = from.date();
        let (mut hour, mut minute) = (from.hour(), from.minute());
        let first_year = date.year().saturating_sub(Self::SEARCH_YEARS);
        loop {
            if minute < 0 {
                (hour, minute) = (hour - 1, 59);
            }
            if hour < 0 {
                (date, hour, minute) = (date.yesterday().ok()?, 23, 59);
            }
            if date.year() < first_year {
                return None;
            }
            if self.months & (1 << date.month()) == 0 {
                let prev_month = date.first_of_month().yesterday().ok()?;
                (date, hour, minute) = (prev_month, 23, 59);
                continue;
            }
            if !self.day_matches(date) {
                (hour, minute) = (-1, 59);
                continue;
            }
            let Some(h) = prev_bit(self.hours, hour) else {
                (hour, minute) = (-1, 59);
                continue;
            };
            if h != hour {
                (hour, minute) = (h, 59);
            }
            match prev_bit(self.minutes, minute) {
                Some(m) => return Some(date.at(hour, m, 0, 0)),
                None => (hour, minute) = (hour - 1, 59),
            }
        }
    }
}

/// The instant a wall-clock time `dt` happens in `tz`, the way cron fires: a time skipped
/// by a daylight-saving gap happens at the first instant after the gap (the transition);
/// a time that occurs twice (a fold) happens at its first occurrence. Equivalently: the
/// first instant whose wall-clock time is at or after `dt`.
pub fn wall_clock_instant(tz: &TimeZone, dt: DateTime) -> Result<Timestamp, jiff::Error> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt),
        AmbiguousOffset::Gap { after, .. } => {
            // `dt` read with the later offset lies inside the gap's length before the
            // transition, so the next transition is the one that skipped it.
            let inside = after.to_timestamp(dt)?;
            Ok(tz.following(inside).next().map_or(inside, |transition| transition.timestamp()))
        }
    }
}

/// How far past `now`'s wall-clock time [`prev_fire`] starts looking: after a fall-back,
/// wall-clock times later than now's may already have happened (the longest fold is 3h).
const FOLD_SLACK: jiff::SignedDuration = jiff::SignedDuration::from_hours(3);

/// The first instant after `after` at which `cron` fires in `tz` (DST-correct: a time in a
/// spring-forward gap fires at the transition; in a fall-back fold the repeated hour's
/// matches already fired and are skipped). `None`: no match within the search bound.
pub fn next_fire(
    cron: &Cron,
    tz: &TimeZone,
    after: Timestamp,
) -> Result<Option<Timestamp>, jiff::Error> {
    let mut from = tz.to_datetime(after);
    loop {
        let Some(dt) = cron.next_at_or_after(from) else { return Ok(None) };
        let at = wall_clock_instant(tz, dt)?;
        if at > after {
            return Ok(Some(at));
        }
        from = dt.checked_add(jiff::SignedDuration::from_mins(1))?;
    }
}

/// The last instant at or before `now` at which `cron` fired in `tz`, if any within the
/// search bound.
pub fn prev_fire(
    cron: &Cron,
    tz: &TimeZone,
    now: Timestamp,
) -> Result<Option<Timestamp>, jiff::Error> {
    let mut from = tz.to_datetime(now).checked_add(FOLD_SLACK)?;
    loop {
        let Some(dt) = cron.prev_at_or_before(from) else { return Ok(None) };
        let at = wall_clock_instant(tz, dt)?;
        if at <= now {
            return Ok(Some(at));
        }
        from = dt.checked_sub(jiff::SignedDuration::from_mins(1))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    /// `Ok(matches)` lists a few datetimes that must match and a few that must not;
    /// `Err(part)` is a part of the expected error message.
    fn check(text: &str, expect: Result<(&[&str], &[&str]), &str>) {
        let parsed = text.parse::<Cron>();
        match (parsed, expect) {
            (Ok(cron), Ok((yes, no))) => {
                for dt in yes {
                    assert!(cron.matches(dt.parse().unwrap()), "{text} should match {dt}");
                }
                for dt in no {
                    assert!(!cron.matches(dt.parse().unwrap()), "{text} should not match {dt}");
                }
            }
            (Err(err), Err(part)) => {
                assert!(err.contains(part), "{text}: {err:?} lacks {part:?}");
                assert!(err.starts_with(&format!("invalid cron expression {text:?}")), "{err}");
            }
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parser_accepts_and_rejects() {
        // 2026-12-04 is a Friday, 2026-12-06 a Sunday, 2026-12-07 a Monday.
        check("0 23 * * 5", Ok((&["2026-12-04T23:00"], &["2026-12-05T23:00", "2026-12-04T23:01"])));
        check("0 23 * * fri", Ok((&["2026-12-04T23:00"], &["2026-12-05T23:00"])));
        check("0 0 * * 7", Ok((&["2026-12-06T00:00"], &["2026-12-07T00:00"])));
        check("0 0 * * 0", Ok((&["2026-12-06T00:00"], &["2026-12-07T00:00"])));
        check(
            "0 0 * * MON-fri",
            Ok((&["2026-12-07T00:00", "2026-12-04T00:00"], &["2026-12-06T00:00"])),
        );
        check(
            "0 0 * * 5-7",
            Ok((&["2026-12-04T00:00", "2026-12-06T00:00"], &["2026-12-07T00:00"])),
        );
        check(
            "*/15 * * * *",
            Ok((&["2026-01-01T10:45", "2026-01-01T10:00"], &["2026-01-01T10:50"])),
        );
        check(
            "10-50/20 * * * *",
            Ok((&["2026-01-01T10:10", "2026-01-01T10:50"], &["2026-01-01T10:20"])),
        );
        check(
            "0 9,17 * * *",
            Ok((&["2026-01-01T09:00", "2026-01-01T17:00"], &["2026-01-01T12:00"])),
        );
        check("0 0 1 jan,Jul *", Ok((&["2026-07-01T00:00"], &["2026-02-01T00:00"])));
        check("0 0 29 2 *", Ok((&["2028-02-29T00:00"], &["2028-03-01T00:00"])));
        // Both day fields restricted: either matches (the 13th, or any Friday).
        check("0 0 13 * 5", Ok((&["2026-12-13T00:00", "2026-12-04T00:00"], &["2026-12-05T00:00"])));
        // Day-of-week starts with `*`: both must match.
        check("0 0 13 * */1", Ok((&["2026-12-13T00:00"], &["2026-12-04T00:00"])));

        check("0 0 * *", Err("expected 5 fields"));
        check("0 0 * * * *", Err("found 6"));
        check("60 * * * *", Err("minute: 60 is out of range 0–59"));
        check("0 24 * * *", Err("hour: 24 is out of range 0–23"));
        check("0 0 0 * *", Err("day-of-month: 0 is out of range 1–31"));
        check("0 0 * 13 *", Err("month: 13 is out of range 1–12"));
        check("0 0 * * 8", Err("day-of-week: 8 is out of range 0–7"));
        check("0 0 * * funday", Err("day-of-week: \"funday\" is not a number or a name"));
        check("0 0 * foo *", Err("month: \"foo\" is not a number"));
        check("5-1 * * * *", Err("range 5-1 runs backwards"));
        check("*/0 * * * *", Err("step \"0\" is not a number above 0"));
        check("5/10 * * * *", Err("a step needs `*` or a range"));
        check("1,,2 * * * *", Err("empty item"));
        check("-1 * * * *", Err("not a number"));
        check("0 0 31 2 *", Err("can never match"));
        check("0 0 30,31 2 *", Err("can never match"));
        check("0 0 31 4,6,9,11 *", Err("can never match"));
    }

    fn dt(text: &str) -> DateTime {
        text.parse().unwrap()
    }

    #[test]
    fn searches_step_by_fields() {
        let cases = [
            ("30 2 * * *", "2026-03-28T02:30", "2026-03-28T02:30", "2026-03-28T02:30"),
            ("30 2 * * *", "2026-03-28T02:30:01", "2026-03-29T02:30", "2026-03-28T02:30"),
            ("0 23 * * 5", "2026-12-01T12:00", "2026-12-04T23:00", "2026-11-27T23:00"),
            ("0 0 1 1 *", "2026-12-01T12:00", "2027-01-01T00:00", "2026-01-01T00:00"),
            ("0 0 29 2 *", "2026-12-01T12:00", "2028-02-29T00:00", "2024-02-29T00:00"),
            ("59 23 31 12 *", "2026-12-31T23:59:30", "2027-12-31T23:59", "2026-12-31T23:59"),
            ("*/20 9-17 * * mon-fri", "2026-12-04T17:41", "2026-12-07T09:00", "2026-12-04T17:40"),
        ];
        for (text, from, next, prev) in cases {
            let cron: Cron = text.parse().unwrap();
            assert_eq!(cron.next_at_or_after(dt(from)), Some(dt(next)), "{text} next after {from}");
            assert_eq!(cron.prev_at_or_before(dt(from)), Some(dt(prev)), "{text} prev of {from}");
        }
        // An expression the parser cannot rule out but that never matches in the bound.
        let rare: Cron = "0 0 29 2 *".parse().unwrap();
        assert_eq!(
            rare.next_at_or_after(date(2097, 3, 1).at(0, 0, 0, 0)),
            None,
            "2100 is no leap year"
        );
    }

    #[test]
    fn wall_clock_instants_across_dst() {
        let ams = TimeZone::get("Europe/Amsterdam").unwrap();
        let at = |text: &str| wall_clock_instant(&ams, dt(text)).unwrap().to_string();
        assert_eq!(at("2026-03-29T01:30"), "2026-03-29T00:30:00Z");
        assert_eq!(at("2026-03-29T02:30"), "2026-03-29T01:00:00Z", "gap: the transition");
        assert_eq!(at("2026-03-29T03:00"), "2026-03-29T01:00:00Z");
        assert_eq!(at("2026-10-25T02:30"), "2026-10-25T00:30:00Z", "fold: first occurrence");
        assert_eq!(at("2026-10-25T03:00"), "2026-10-25T02:00:00Z");
    }
}
