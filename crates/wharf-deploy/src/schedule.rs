//! When a schedule runs, as a pure decision with the clock passed in.
//!
//! A schedule fires at its cron expression's times in its own zone (DST-correct, as
//! change-lock windows). Each fire time is claimed once in the store, so of several servers
//! exactly one runs it. A fire time missed while no server was up is claimed and logged,
//! not run: after an outage nothing is replayed in a burst.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use wharf_core::cron::{Cron, next_fire, prev_fire};

/// How late a fire time may be noticed and still run (the scheduler looks every few
/// seconds; more than this means no server was up at the time).
pub const GRACE: SignedDuration = SignedDuration::from_secs(60);

/// What to do about a schedule now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Run the fire time `at` (claim it first).
    Run(Timestamp),
    /// `at` passed while nobody was looking: claim it, log it, do not run it.
    Missed(Timestamp),
    /// Nothing to do; it next fires at `next`.
    Wait { next: Option<Timestamp> },
}

/// The decision for a schedule whose last claimed fire time is `last`, at `now`.
pub fn due(
    cron: &Cron,
    tz: &TimeZone,
    last: Option<Timestamp>,
    now: Timestamp,
    grace: SignedDuration,
) -> Result<Due, jiff::Error> {
    let wait = || Ok(Due::Wait { next: next_fire(cron, tz, now)? });
    let Some(fire) = prev_fire(cron, tz, now)? else { return wait() };
    if last.is_some_and(|last| fire <= last) {
        return wait();
    }
    if now.duration_since(fire) <= grace {
        return Ok(Due::Run(fire));
    }
    // Never claimed before: the schedule is new here, nothing was missed.
    if last.is_none() {
        return wait();
    }
    Ok(Due::Missed(fire))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn runs_once_per_fire_time_and_skips_what_was_missed() {
        let utc = TimeZone::UTC;
        let nightly: Cron = "20 7 * * *".parse().unwrap();
        let fire = at("2026-12-01T07:20:00Z");
        let table: [(Option<&str>, &str, Due); 6] = [
            // Just past the fire time: run it.
            (Some("2026-11-30T07:20:00Z"), "2026-12-01T07:20:03Z", Due::Run(fire)),
            // Already claimed (by this or another server): wait for tomorrow.
            (
                Some("2026-12-01T07:20:00Z"),
                "2026-12-01T07:20:09Z",
                Due::Wait { next: Some(at("2026-12-02T07:20:00Z")) },
            ),
            // Before the fire time.
            (Some("2026-11-30T07:20:00Z"), "2026-12-01T07:19:59Z", Due::Wait { next: Some(fire) }),
            // The server was down at 07:20 and comes back at 09:00: skipped, not replayed.
            (Some("2026-11-30T07:20:00Z"), "2026-12-01T09:00:00Z", Due::Missed(fire)),
            // Down for three days: one miss is logged, not three runs.
            (Some("2026-11-28T07:20:00Z"), "2026-12-01T09:00:00Z", Due::Missed(fire)),
            // A schedule first seen long after a fire time: nothing missed, wait.
            (None, "2026-12-01T09:00:00Z", Due::Wait { next: Some(at("2026-12-02T07:20:00Z")) }),
        ];
        for (last, now, want) in table {
            let got = due(&nightly, &utc, last.map(at), at(now), GRACE).unwrap();
            assert_eq!(got, want, "last {last:?}, now {now}");
        }
    }

    #[test]
    fn fire_times_follow_the_zone_across_daylight_saving() {
        let amsterdam = TimeZone::get("Europe/Amsterdam").unwrap();
        // 02:30 does not exist on the spring-forward night (02:00 → 03:00 CEST): it fires
        // at the transition, 01:00 UTC, once.
        let cron: Cron = "30 2 * * *".parse().unwrap();
        let spring = at("2026-03-29T01:00:00Z");
        assert_eq!(
            due(
                &cron,
                &amsterdam,
                Some(at("2026-03-28T01:30:00Z")),
                at("2026-03-29T01:00:05Z"),
                GRACE
            )
            .unwrap(),
            Due::Run(spring)
        );
        // 02:30 happens twice on the fall-back night (CEST then CET): it runs once, at
        // the first, 00:30 UTC; the second is not a new fire time.
        let fall = at("2026-10-25T00:30:00Z");
        assert_eq!(
            due(
                &cron,
                &amsterdam,
                Some(at("2026-10-24T00:30:00Z")),
                at("2026-10-25T00:30:10Z"),
                GRACE
            )
            .unwrap(),
            Due::Run(fall)
        );
        assert!(matches!(
            due(&cron, &amsterdam, Some(fall), at("2026-10-25T01:30:10Z"), GRACE).unwrap(),
            Due::Wait { .. }
        ));
    }
}
