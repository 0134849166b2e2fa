//! Cron schedules (docs/protocols.md §6): croner 4 over chrono-tz, so daylight-saving changes are
//! handled as croner documents them — a fixed time in a spring-forward gap runs at the first valid
//! time after it, one in a fall-back overlap runs once; interval patterns skip the gap and run in
//! both passes of the overlap. Times are milliseconds since the epoch, always given by the caller:
//! nothing here reads a clock.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A tick is missed (the server was down) once a later tick has come due, or once it is this late;
/// then the workflow's catch-up policy decides. A tick that is merely late fires as itself.
pub const MISSED_AFTER_MS: i64 = 60_000;

/// What happens to ticks missed while no node was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    /// Fire the latest missed tick once.
    Latest,
    /// Fire nothing missed; go on with the next tick.
    None,
}

impl CatchUp {
    pub const NAMES: [&'static str; 2] = ["latest", "none"];

    pub fn parse(s: &str) -> Option<CatchUp> {
        match s {
            "latest" => Some(CatchUp::Latest),
            "none" => Some(CatchUp::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Latest => "latest",
            CatchUp::None => "none",
        }
    }
}

/// A parsed `schedule` trigger.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pub expr: String,
    pub timezone: Tz,
    pub catch_up: CatchUp,
    cron: Cron,
}

/// Which of a schedule's fields is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// `cron` or `timezone`.
    pub field: &'static str,
    pub message: String,
}

/// What a due tick does: the time it fires for (`scheduledAt`), if any, and when the next is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    pub fire: Option<i64>,
    pub next: Option<i64>,
}

impl CronSchedule {
    /// Parses a 5-field (minute precision) or 6-field (seconds first) expression, or one of
    /// croner's nicknames (`@hourly`, `@daily`, …), in an IANA time zone.
    pub fn parse(expr: &str, timezone: &str, catch_up: CatchUp) -> Result<Self, ScheduleError> {
        let cron_error = |message: String| ScheduleError {
            field: "cron",
            message,
        };
        let fields = expr.split_whitespace().count();
        if !expr.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
            return Err(cron_error(format!(
                "'cron' must have 5 fields (minute hour day-of-month month day-of-week) or 6 \
                 (seconds first), not {fields}"
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| cron_error(format!("'{expr}' is not a valid cron expression: {e}")))?;
        let tz: Tz = timezone.parse().map_err(|_| ScheduleError {
            field: "timezone",
            message: format!(
                "'{timezone}' is not an IANA time zone name (e.g. 'UTC', 'America/Sao_Paulo', \
                 'Europe/Berlin')"
            ),
        })?;
        let schedule = CronSchedule {
            expr: expr.to_owned(),
            timezone: tz,
            catch_up,
            cron,
        };
        // A pattern that matches no date (e.g. the 31st of February) is refused now, not when
        // it would first fire.
        if schedule.next_after(0).is_none() {
            return Err(cron_error(format!("'{expr}' never matches a date")));
        }
        Ok(schedule)
    }

    fn at(&self, ms: i64) -> Option<DateTime<Tz>> {
        Utc.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.with_timezone(&self.timezone))
    }

    /// The first tick strictly after `ms`.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        let t = self.at(ms)?;
        self.cron
            .find_next_occurrence(&t, false)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    /// The last tick at or before `ms`.
    pub fn latest_at_or_before(&self, ms: i64) -> Option<i64> {
        let t = self.at(ms)?;
        self.cron
            .find_previous_occurrence(&t, true)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    /// The next `n` ticks after `ms`.
    pub fn upcoming(&self, ms: i64, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n);
        let mut from = ms;
        while out.len() < n {
            match self.next_after(from) {
                Some(t) => {
                    out.push(t);
                    from = t;
                }
                None => break,
            }
        }
        out
    }

    /// The tick that was due at `due`, seen at `now` (≥ `due`). Normally it fires as itself. After
    /// downtime it may have been missed (see [`MISSED_AFTER_MS`]): with `latest` the latest tick
    /// that came due fires once; with `none` nothing fires. The next tick is the first after `now`,
    /// so missed ticks never pile up.
    pub fn due(&self, due: i64, now: i64) -> Tick {
        let latest = self.latest_at_or_before(now).filter(|t| *t >= due);
        let fire = match self.catch_up {
            CatchUp::Latest => latest,
            CatchUp::None => latest.filter(|t| *t == due && now - due <= MISSED_AFTER_MS),
        };
        Tick {
            fire,
            next: self.next_after(now.max(due)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    fn utc(ms: i64) -> String {
        Utc.timestamp_millis_opt(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    fn ny(expr: &str) -> CronSchedule {
        CronSchedule::parse(expr, "America/New_York", CatchUp::Latest).unwrap()
    }

    #[test]
    fn five_and_six_fields_in_a_zone() {
        let s = CronSchedule::parse("0 9 * * 1-5", "America/Sao_Paulo", CatchUp::Latest).unwrap();
        // Friday 2026-11-20 10:00 in São Paulo (UTC-3) → Monday 09:00 local = 12:00 UTC.
        assert_eq!(
            utc(s.next_after(ms("2026-11-20T13:00:00Z")).unwrap()),
            "2026-11-23T12:00:00Z"
        );
        let every_5s = CronSchedule::parse("*/5 * * * * *", "UTC", CatchUp::Latest).unwrap();
        assert_eq!(
            every_5s
                .upcoming(ms("2026-11-21T10:00:01Z"), 3)
                .into_iter()
                .map(utc)
                .collect::<Vec<_>>(),
            [
                "2026-11-21T10:00:05Z",
                "2026-11-21T10:00:10Z",
                "2026-11-21T10:00:15Z"
            ]
        );
    }

    #[test]
    fn bad_expressions_and_zones_name_their_field() {
        for (expr, tz, field) in [
            ("* * * *", "UTC", "cron"),
            ("* * * * * * *", "UTC", "cron"),
            ("61 * * * *", "UTC", "cron"),
            ("0 0 31 2 *", "UTC", "cron"),
            ("0 9 * * *", "Mars/Olympus", "timezone"),
            ("0 9 * * *", "america/new_york", "timezone"),
        ] {
            let e = CronSchedule::parse(expr, tz, CatchUp::Latest).unwrap_err();
            assert_eq!(e.field, field, "{expr} {tz}: {}", e.message);
        }
        assert!(CronSchedule::parse("@daily", "UTC", CatchUp::None).is_ok());
    }

    #[test]
    fn spring_forward_runs_a_fixed_time_in_the_gap_at_the_first_valid_time() {
        // 2026-03-08: New York clocks jump from 02:00 EST to 03:00 EDT.
        let s = ny("30 2 * * *");
        let day_before = s.next_after(ms("2026-03-07T12:00:00Z")).unwrap();
        assert_eq!(utc(day_before), "2026-03-08T07:00:00Z", "03:00 EDT");
        let after = s.next_after(day_before).unwrap();
        assert_eq!(utc(after), "2026-03-09T06:30:00Z", "02:30 EDT the next day");
        // An interval pattern simply skips the missing hour.
        let half_hourly = ny("*/30 * * * *");
        assert_eq!(
            half_hourly
                .upcoming(ms("2026-03-08T06:15:00Z"), 3)
                .into_iter()
                .map(utc)
                .collect::<Vec<_>>(),
            [
                "2026-03-08T06:30:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T07:30:00Z"
            ],
            "01:30 EST, 03:00 EDT, 03:30 EDT"
        );
    }

    #[test]
    fn fall_back_runs_a_fixed_time_once_and_intervals_in_both_passes() {
        // 2026-11-01: New York clocks go back from 02:00 EDT to 01:00 EST.
        let s = ny("30 1 * * *");
        let first = s.next_after(ms("2026-10-31T12:00:00Z")).unwrap();
        assert_eq!(utc(first), "2026-11-01T05:30:00Z", "01:30 EDT");
        assert_eq!(
            utc(s.next_after(first).unwrap()),
            "2026-11-02T06:30:00Z",
            "not 01:30 EST again"
        );
        let half_hourly = ny("*/30 * * * *");
        let ticks: Vec<String> = half_hourly
            .upcoming(ms("2026-11-01T04:45:00Z"), 5)
            .into_iter()
            .map(utc)
            .collect();
        assert_eq!(
            ticks,
            [
                "2026-11-01T05:00:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T06:30:00Z",
                "2026-11-01T07:00:00Z"
            ],
            "01:00 EDT, 01:30 EDT, 01:00 EST, 01:30 EST, 02:00 EST: monotonic in real time"
        );
    }

    #[test]
    fn a_tick_on_time_fires_as_itself() {
        let s = CronSchedule::parse("0 * * * *", "UTC", CatchUp::None).unwrap();
        let due = ms("2026-11-21T10:00:00Z");
        let tick = s.due(due, due + 150);
        assert_eq!(tick.fire, Some(due));
        assert_eq!(tick.next.map(utc).unwrap(), "2026-11-21T11:00:00Z");
    }

    #[test]
    fn after_downtime_latest_fires_the_last_missed_tick_once_and_none_fires_nothing() {
        let due = ms("2026-11-21T10:00:00Z");
        let back = ms("2026-11-21T13:20:00Z");
        let latest = CronSchedule::parse("0 * * * *", "UTC", CatchUp::Latest).unwrap();
        let tick = latest.due(due, back);
        assert_eq!(tick.fire.map(utc).unwrap(), "2026-11-21T13:00:00Z");
        assert_eq!(tick.next.map(utc).unwrap(), "2026-11-21T14:00:00Z");
        let none = CronSchedule::parse("0 * * * *", "UTC", CatchUp::None).unwrap();
        let tick = none.due(due, back);
        assert_eq!(tick.fire, None);
        assert_eq!(tick.next.map(utc).unwrap(), "2026-11-21T14:00:00Z");
        // Back within a minute, before the next tick: merely late, not missed.
        let tick = none.due(due, ms("2026-11-21T10:00:30Z"));
        assert_eq!(tick.fire.map(utc).unwrap(), "2026-11-21T10:00:00Z");
        // A later tick came due: missed, however recent the later one is.
        let every_2s = CronSchedule::parse("*/2 * * * * *", "UTC", CatchUp::None).unwrap();
        let tick = every_2s.due(due, due + 4_100);
        assert_eq!(tick.fire, None);
        assert_eq!(tick.next, Some(due + 6_000));
    }

    #[test]
    fn a_due_time_the_pattern_no_longer_has_fires_nothing_before_it() {
        // The pattern changed from :00 to :30 while the :00 tick was due.
        let s = CronSchedule::parse("30 * * * *", "UTC", CatchUp::Latest).unwrap();
        let due = ms("2026-11-21T10:00:00Z");
        let tick = s.due(due, due + 200);
        assert_eq!(tick.fire, None);
        assert_eq!(tick.next.map(utc).unwrap(), "2026-11-21T10:30:00Z");
    }
}
