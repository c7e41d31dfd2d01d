//! Ages as kubectl shows them (upstream's `duration.HumanDuration`). Every function
//! takes `now` so that a table is rendered against one instant and tests are
//! deterministic.

use chrono::{DateTime, Utc};

/// `5s`, `3m20s`, `2d4h`, ... for a duration in seconds. Up to one second in the
/// future reads `0s` (clock skew between machines); further is `<invalid>`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    if s < 60 * 2 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        let rem = s % 60;
        return if rem == 0 { format!("{m}m") } else { format!("{m}m{rem}s") };
    }
    if m < 60 * 3 {
        return format!("{m}m");
    }
    let h = m / 60;
    if h < 8 {
        let rem = m % 60;
        return if rem == 0 { format!("{h}h") } else { format!("{h}h{rem}m") };
    }
    if h < 48 {
        return format!("{h}h");
    }
    if h < 24 * 8 {
        let rem = h % 24;
        return if rem == 0 { format!("{}d", h / 24) } else { format!("{}d{rem}h", h / 24) };
    }
    if h < 24 * 365 * 2 {
        return format!("{}d", h / 24);
    }
    if h < 24 * 365 * 8 {
        let days = h / 24 % 365;
        return if days == 0 { format!("{}y", h / 24 / 365) } else { format!("{}y{days}d", h / 24 / 365) };
    }
    format!("{}y", h / 24 / 365)
}

/// An RFC 3339 timestamp (with or without fractional seconds), if it parses.
pub fn parse_time(timestamp: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(timestamp).ok().map(|t| t.with_timezone(&Utc))
}

/// Whole seconds from `from` to `to`, truncated toward zero like Go's
/// `int(d.Seconds())`.
pub fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds()
}

/// The age of an RFC 3339 timestamp at `now`, or `<unknown>` when it is missing
/// (upstream prints a zero time that way).
pub fn age(timestamp: Option<&str>, now: DateTime<Utc>) -> String {
    match timestamp.and_then(parse_time) {
        Some(t) => human_duration(seconds_between(t, now)),
        None => "<unknown>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_kubectl() {
        for (seconds, want) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (5, "5s"),
            (119, "119s"),
            (200, "3m20s"),
            (60 * 30, "30m"),
            (3600 * 5 + 60, "5h1m"),
            (3600 * 30, "30h"),
            (86400 * 3 + 3600 * 2, "3d2h"),
            (86400 * 40, "40d"),
            (86400 * (365 * 3 + 10), "3y10d"),
            (86400 * 365 * 9, "9y"),
        ] {
            assert_eq!(human_duration(seconds), want, "{seconds}s");
        }
    }

    #[test]
    fn age_is_measured_against_the_given_now() {
        let now = parse_time("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(age(Some("2024-05-01T11:55:00Z"), now), "5m");
        assert_eq!(age(Some("2024-05-01T11:59:59.500000Z"), now), "0s");
        assert_eq!(age(None, now), "<unknown>");
        assert_eq!(age(Some("yesterday"), now), "<unknown>");
    }
}
