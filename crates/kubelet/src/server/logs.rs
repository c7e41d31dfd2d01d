//! Container logs as `kubectl logs` shows them, from CRI log files
//! (`<RFC3339Nano> <stdout|stderr> <P|F> <message>` per line, P = partial).
//! Pure: file text and options in, text out.

/// What the caller asked for (upstream's PodLogOptions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<usize>,
    pub since_seconds: Option<i64>,
    pub limit_bytes: Option<usize>,
}

impl LogOptions {
    pub fn from_query(query: &str) -> LogOptions {
        let mut o = LogOptions::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let on = v.is_empty() || v == "true" || v == "1";
            match k {
                "follow" => o.follow = on,
                "previous" => o.previous = on,
                "timestamps" => o.timestamps = on,
                "tailLines" => o.tail_lines = v.parse().ok(),
                "sinceSeconds" => o.since_seconds = v.parse().ok(),
                "limitBytes" => o.limit_bytes = v.parse().ok(),
                _ => {}
            }
        }
        o
    }
}

/// One parsed CRI log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub time: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    pub message: &'a str,
}

pub fn parse_line(line: &str) -> Option<LogLine<'_>> {
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?;
    let stream = parts.next()?;
    let tag = parts.next()?;
    let message = parts.next().unwrap_or("");
    Some(LogLine { time, stream, partial: tag.starts_with('P'), message })
}

/// Renders `text` (whole lines of a CRI log) for the options; `now_unix` is for
/// `sinceSeconds`.
pub fn render(text: &str, opts: &LogOptions, now_unix: i64) -> String {
    let since = opts.since_seconds.map(|s| now_unix - s);
    let mut lines: Vec<String> = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let Some(l) = parse_line(raw) else { continue };
        if let Some(since) = since {
            let t = chrono::DateTime::parse_from_rfc3339(l.time).map(|t| t.timestamp()).unwrap_or(i64::MAX);
            if t < since {
                continue;
            }
        }
        if pending.is_empty() && opts.timestamps {
            pending.push_str(l.time);
            pending.push(' ');
        }
        pending.push_str(l.message);
        if !l.partial {
            pending.push('\n');
            lines.push(std::mem::take(&mut pending));
        }
    }
    if let Some(n) = opts.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut out = lines.concat();
    if let Some(limit) = opts.limit_bytes {
        let mut cut = limit.min(out.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2024-01-01T00:00:00.1Z stdout F hello\n2024-01-01T00:00:01Z stderr P par\n2024-01-01T00:00:01Z stderr F tial\n2024-01-01T00:00:02Z stdout F bye\n";

    #[test]
    fn lines_join_partials_and_honour_options() {
        assert_eq!(render(LOG, &LogOptions::default(), 0), "hello\npartial\nbye\n");
        let tail = LogOptions { tail_lines: Some(1), ..Default::default() };
        assert_eq!(render(LOG, &tail, 0), "bye\n");
        let ts = LogOptions { timestamps: true, tail_lines: Some(1), ..Default::default() };
        assert_eq!(render(LOG, &ts, 0), "2024-01-01T00:00:02Z bye\n");
        let since = LogOptions { since_seconds: Some(1), ..Default::default() };
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:02Z").unwrap().timestamp();
        assert_eq!(render(LOG, &since, now), "partial\nbye\n");
        let limit = LogOptions { limit_bytes: Some(3), ..Default::default() };
        assert_eq!(render(LOG, &limit, 0), "hel");
    }

    #[test]
    fn query_parsing() {
        let o = LogOptions::from_query("follow=true&tailLines=5&timestamps=1&previous=false");
        assert_eq!(o, LogOptions { follow: true, timestamps: true, tail_lines: Some(5), ..Default::default() });
    }
}
