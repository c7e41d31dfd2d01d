//! Cron schedules as Kubernetes reads them (robfig/cron's standard parser):
//! five fields — minute, hour, day of month, month, day of week — with `*`,
//! `?`, lists, ranges, steps and month/weekday names, or a macro (`@yearly`,
//! `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`).
//! When both day fields are restricted a day matches either (cron's rule).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike};

/// Why a schedule does not parse, worded as robfig/cron words it (upstream's
/// validation puts that text in its `spec.schedule: Invalid value` message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("empty spec string")]
    Empty,
    /// The count and the fields, printed as Go prints a `[]string`.
    #[error("expected exactly 5 fields, found {0}: [{1}]")]
    FieldCount(usize, String),
    #[error("unrecognized descriptor: {0}")]
    Descriptor(String),
    #[error("provided bad location {0}: unknown time zone {0}")]
    Location(String),
    /// A field's problem: robfig's message, naming the part of the field.
    #[error("{reason}")]
    Field { field: &'static str, reason: String },
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
    fn err(&self, reason: String) -> Error {
        Error::Field { field: self.name, reason }
    }

    /// robfig's `parseIntOrName`: a name of this field, else a non-negative integer.
    fn number(&self, s: &str) -> Result<u64, Error> {
        if let Some(i) = self.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(u64::from(self.min) + i as u64);
        }
        int(s).map_err(|reason| self.err(reason))
    }

    /// The bits of a comma-separated field and whether it was a plain `*`/`?`,
    /// checked in robfig's order and with its messages.
    fn parse(&self, text: &str) -> Result<(u64, bool), Error> {
        let mut bits = 0u64;
        let mut any = false;
        let (min, max) = (u64::from(self.min), u64::from(self.max));
        for part in text.split(',') {
            let range_and_step: Vec<&str> = part.split('/').collect();
            let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
            let (low, mut high, star) = match low_and_high[..] {
                ["*" | "?", ..] => (min, max, true),
                [one] => {
                    let n = self.number(one)?;
                    (n, n, false)
                }
                [a, b] => (self.number(a)?, self.number(b)?, false),
                _ => return Err(self.err(format!("too many hyphens: {part}"))),
            };
            let step = match range_and_step[..] {
                [_] => 1,
                [_, step] => {
                    let step = int(step).map_err(|reason| self.err(reason))?;
                    // `5/15` means from 5 to the end in steps of 15.
                    if low_and_high.len() == 1 {
                        high = max;
                    }
                    step
                }
                _ => return Err(self.err(format!("too many slashes: {part}"))),
            };
            if low < min {
                return Err(self.err(format!("beginning of range ({low}) below minimum ({min}): {part}")));
            }
            if high > max {
                return Err(self.err(format!("end of range ({high}) above maximum ({max}): {part}")));
            }
            if low > high {
                return Err(self.err(format!("beginning of range ({low}) beyond end of range ({high}): {part}")));
            }
            if step == 0 {
                return Err(self.err(format!("step of range should be a positive number: {part}")));
            }
            any |= star && step == 1;
            bits |= (low..=high).step_by(step as usize).fold(0u64, |b, v| b | (1 << v));
        }
        Ok((bits, any))
    }
}

/// robfig's `mustParseInt`, with Go's `strconv.Atoi` wording.
fn int(s: &str) -> Result<u64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    let n: i64 = s
        .parse()
        .map_err(|_| format!("failed to parse int from {s}: strconv.Atoi: parsing {s:?}: value out of range"))?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {s}"));
    }
    Ok(n as u64)
}

impl Schedule {
    /// # Errors
    /// The text is not a five-field schedule or a known macro.
    pub fn parse(text: &str) -> Result<Schedule, Error> {
        if text.is_empty() {
            return Err(Error::Empty);
        }
        // `TZ=Zone ` / `CRON_TZ=Zone ` in front: robfig checks the zone (the API
        // refuses such schedules on create, telling users to use `timeZone`).
        let mut text = text.trim();
        if let Some(rest) = text.strip_prefix("TZ=").or_else(|| text.strip_prefix("CRON_TZ=")) {
            let (zone, spec) = rest.split_once(' ').unwrap_or((rest, ""));
            if zone.parse::<chrono_tz::Tz>().is_err() && zone != "Local" {
                return Err(Error::Location(zone.into()));
            }
            text = spec.trim();
        }
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
            return Err(Error::FieldCount(fields.len(), fields.join(" ")));
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
    fn bad_schedules_are_errors_worded_as_robfig_cron_words_them() {
        let err = |spec: &str| Schedule::parse(spec).unwrap_err().to_string();
        assert_eq!(err(""), "empty spec string");
        assert_eq!(err("* * * *"), "expected exactly 5 fields, found 4: [* * * *]");
        assert_eq!(err("not a  schedule"), "expected exactly 5 fields, found 3: [not a schedule]");
        assert_eq!(err("@every 5m"), "unrecognized descriptor: @every 5m");
        assert_eq!(err("60 * * * *"), "end of range (60) above maximum (59): 60");
        assert_eq!(err("* * 0 * *"), "beginning of range (0) below minimum (1): 0");
        assert_eq!(err("*/0 * * * *"), "step of range should be a positive number: */0");
        assert_eq!(err("5-1 * * * *"), "beginning of range (5) beyond end of range (1): 5-1");
        assert_eq!(err("1-2-3 * * * *"), "too many hyphens: 1-2-3");
        assert_eq!(err("1/2/3 * * * *"), "too many slashes: 1/2/3");
        assert_eq!(err("* * * foo *"), r#"failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax"#);
        assert_eq!(
            err("TZ=Mars/Olympus 0 * * * *"),
            "provided bad location Mars/Olympus: unknown time zone Mars/Olympus"
        );
        assert!(Schedule::parse("CRON_TZ=Europe/Berlin 0 * * * *").is_ok());
        assert!(Schedule::parse("0 0 * * SUN-sat").is_ok());
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
