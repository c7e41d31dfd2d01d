//! Cron schedules as Kubernetes reads them (robfig/cron's standard parser):
//! five fields — minute, hour, day of month, month, day of week — with `*`,
//! `?`, lists, ranges, steps and month/weekday names, or a macro (`@yearly`,
//! `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`).
//! When both day fields are restricted a day matches either (cron's rule).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("expected exactly 5 fields, found {0}: {1}")]
    FieldCount(usize, String),
    #[error("unrecognized descriptor: {0}")]
    Descriptor(String),
    #[error("failed to parse {field} field {value:?}: {reason}")]
    Field { field: &'static str, value: String, reason: String },
}

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Whether the day-of-month / day-of-week field was `*` or `?`.
    days_any: bool,
    weekdays_any: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: Field = Field { name: "hour", min: 0, max: 23, names: &[] };
const DAY: Field = Field { name: "day-of-month", min: 1, max: 31, names: &[] };
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
};
const WEEKDAY: Field =
    Field { name: "day-of-week", min: 0, max: 6, names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"] };

impl Field {
    fn err(&self, value: &str, reason: impl Into<String>) -> Error {
        Error::Field { field: self.name, value: value.into(), reason: reason.into() }
    }

    fn number(&self, s: &str) -> Result<u32, Error> {
        if let Some(i) = self.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(self.min + i as u32);
        }
        let n: u32 = s.parse().map_err(|_| self.err(s, "not a number"))?;
        if n < self.min || n > self.max {
            return Err(self.err(s, format!("beyond range {}-{}", self.min, self.max)));
        }
        Ok(n)
    }

    /// The bits of a comma-separated field and whether it was a plain `*`/`?`.
    fn parse(&self, text: &str) -> Result<(u64, bool), Error> {
        let mut bits = 0u64;
        let mut any = false;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s.parse().map_err(|_| self.err(part, "bad step"))?;
                    if step == 0 {
                        return Err(self.err(part, "step of zero"));
                    }
                    (r, Some(step))
                }
                None => (part, None),
            };
            let (low, high) = if range == "*" || range == "?" {
                any |= step.is_none_or(|s| s == 1);
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                (self.number(a)?, self.number(b)?)
            } else {
                let n = self.number(range)?;
                // `5/15` means from 5 to the end in steps of 15.
                (n, if step.is_some() { self.max } else { n })
            };
            if low > high {
                return Err(self.err(part, "range start after its end"));
            }
            let step = step.unwrap_or(1);
            bits |= (low..=high).step_by(step as usize).fold(0u64, |b, v| b | (1 << v));
        }
        Ok((bits, any))
    }
}

impl Schedule {
    /// # Errors
    /// The text is not a five-field schedule or a known macro.
    pub fn parse(text: &str) -> Result<Schedule, Error> {
        let text = text.trim();
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            t if t.starts_with('@') => return Err(Error::Descriptor(t.into())),
            t => t,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(Error::FieldCount(fields.len(), text.into()));
        }
        let (minutes, _) = MINUTE.parse(fields[0])?;
        let (hours, _) = HOUR.parse(fields[1])?;
        let (days, days_any) = DAY.parse(fields[2])?;
        let (months, _) = MONTH.parse(fields[3])?;
        let (weekdays, weekdays_any) = WEEKDAY.parse(fields[4])?;
        Ok(Schedule {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_any,
            weekdays_any,
        })
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.days_any || self.weekdays_any {
            dom && dow
        } else {
            dom || dow
        }
    }

    fn matches(&self, t: NaiveDateTime) -> bool {
        self.months & (1 << t.month()) != 0
            && self.day_matches(t.date())
            && self.hours & (1 << t.hour()) != 0
            && self.minutes & (1 << t.minute()) != 0
    }

    /// The first scheduled time strictly after `after`, in `after`'s zone
    /// (wall-clock minutes that do not exist there, in a DST gap, are
    /// skipped); `None` if there is none in the next five years.
    pub fn next_after<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let tz = after.timezone();
        let local = after.naive_local();
        let mut t = local.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let limit = local + Duration::days(5 * 366);
        while t < limit {
            if self.months & (1 << t.month()) == 0 {
                let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
                t = NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t.with_minute(0)? + Duration::hours(1);
                continue;
            }
            if self.matches(t) {
                if let Some(at) = tz.from_local_datetime(&t).earliest() {
                    if at > *after {
                        return Some(at);
                    }
                }
            }
            t += Duration::minutes(1);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(spec: &str, after: &str) -> String {
        Schedule::parse(spec).unwrap().next_after(&at(after)).unwrap().to_rfc3339()
    }

    #[test]
    fn next_times() {
        assert_eq!(next("*/5 * * * *", "2024-03-01T10:02:30Z"), "2024-03-01T10:05:00+00:00");
        assert_eq!(next("*/5 * * * *", "2024-03-01T10:05:00Z"), "2024-03-01T10:10:00+00:00", "strictly after");
        assert_eq!(next("@hourly", "2024-03-01T10:02:00Z"), "2024-03-01T11:00:00+00:00");
        assert_eq!(next("@daily", "2024-12-31T23:59:00Z"), "2025-01-01T00:00:00+00:00");
        assert_eq!(next("@weekly", "2024-03-01T00:00:00Z"), "2024-03-03T00:00:00+00:00", "Sunday");
        assert_eq!(next("@yearly", "2024-03-01T00:00:00Z"), "2025-01-01T00:00:00+00:00");
        assert_eq!(next("30 9 * jan-mar MON-fri", "2024-03-29T10:00:00Z"), "2025-01-01T09:30:00+00:00");
        assert_eq!(next("0 0 29 2 *", "2024-03-01T00:00:00Z"), "2028-02-29T00:00:00+00:00");
        assert_eq!(next("15,45 1-3/2 * * *", "2024-03-01T01:20:00Z"), "2024-03-01T01:45:00+00:00");
        assert_eq!(next("15,45 1-3/2 * * *", "2024-03-01T01:50:00Z"), "2024-03-01T03:15:00+00:00");
        assert_eq!(next("5/20 * * * *", "2024-03-01T01:26:00Z"), "2024-03-01T01:45:00+00:00");
        // Both day fields restricted: either matches (the 13th, or a Friday).
        assert_eq!(next("0 0 13 * 5", "2024-03-01T12:00:00Z"), "2024-03-08T00:00:00+00:00");
        assert_eq!(next("0 0 13 * ?", "2024-03-01T12:00:00Z"), "2024-03-13T00:00:00+00:00");
    }

    #[test]
    fn bad_schedules_are_errors() {
        assert!(matches!(Schedule::parse("* * * *"), Err(Error::FieldCount(4, _))));
        assert!(matches!(Schedule::parse("@every 5m"), Err(Error::Descriptor(_))));
        assert!(matches!(Schedule::parse("60 * * * *"), Err(Error::Field { field: "minute", .. })));
        assert!(matches!(Schedule::parse("*/0 * * * *"), Err(Error::Field { .. })));
        assert!(matches!(Schedule::parse("5-1 * * * *"), Err(Error::Field { .. })));
        assert!(matches!(Schedule::parse("* * * foo *"), Err(Error::Field { field: "month", .. })));
    }

    #[test]
    fn time_zones_shift_the_wall_clock() {
        let s = Schedule::parse("0 9 * * *").unwrap();
        let tz = chrono_tz::Europe::Berlin;
        let after = at("2024-07-01T00:00:00Z").with_timezone(&tz);
        assert_eq!(s.next_after(&after).unwrap().with_timezone(&Utc).to_rfc3339(), "2024-07-01T07:00:00+00:00");
        // 02:30 does not exist in Berlin on 2024-03-31 (DST starts): skipped to the next day.
        let s = Schedule::parse("30 2 * * *").unwrap();
        let after = at("2024-03-30T12:00:00Z").with_timezone(&tz);
        assert_eq!(s.next_after(&after).unwrap().with_timezone(&Utc).to_rfc3339(), "2024-04-01T00:30:00+00:00");
    }
}
