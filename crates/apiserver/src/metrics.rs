//! `/metrics` in Prometheus text format, with upstream's metric names:
//! `apiserver_request_total`, `apiserver_request_duration_seconds`,
//! `apiserver_current_inflight_requests`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// upstream's buckets for request latency, in seconds.
const BUCKETS: [f64; 18] =
    [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];

/// The labels of one request series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestLabels {
    /// Upper-case HTTP-ish verb as upstream reports it: GET, LIST, WATCH, POST, PUT, PATCH, DELETE.
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    /// `resource`, `namespace` or `cluster`; empty for non-resource requests.
    pub scope: String,
    pub code: u16,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestLabels, Histogram>>,
    pub in_flight_readonly: AtomicI64,
    pub in_flight_mutating: AtomicI64,
}

impl Metrics {
    pub fn observe(&self, labels: RequestLabels, took: Duration) {
        let seconds = took.as_secs_f64();
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let h = requests.entry(labels).or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.");
        let _ = writeln!(out, "# TYPE apiserver_request_total counter");
        for (l, h) in requests.iter() {
            let _ = writeln!(out, "apiserver_request_total{{{},code=\"{}\"}} {}", label_set(l), l.code, h.count);
        }
        let _ = writeln!(out, "# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.");
        let _ = writeln!(out, "# TYPE apiserver_request_duration_seconds histogram");
        // Durations are per series without the code, as upstream.
        let mut by_series: BTreeMap<String, Histogram> = BTreeMap::new();
        for (l, h) in requests.iter() {
            let agg = by_series.entry(label_set(l)).or_default();
            agg.count += h.count;
            agg.sum += h.sum;
            for i in 0..BUCKETS.len() {
                agg.buckets[i] += h.buckets[i];
            }
        }
        for (labels, h) in &by_series {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "apiserver_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}", h.buckets[i]);
            }
            let _ = writeln!(out, "apiserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "apiserver_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "apiserver_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
        let _ = writeln!(out, "# HELP apiserver_current_inflight_requests Maximal number of currently used inflight request limit of this apiserver per request kind in last second.");
        let _ = writeln!(out, "# TYPE apiserver_current_inflight_requests gauge");
        let _ = writeln!(out, "apiserver_current_inflight_requests{{request_kind=\"mutating\"}} {}", self.in_flight_mutating.load(Ordering::Relaxed));
        let _ = writeln!(out, "apiserver_current_inflight_requests{{request_kind=\"readOnly\"}} {}", self.in_flight_readonly.load(Ordering::Relaxed));
        out
    }
}

fn label_set(l: &RequestLabels) -> String {
    format!(
        "component=\"apiserver\",dry_run=\"\",group=\"{}\",resource=\"{}\",scope=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{}\"",
        l.group, l.resource, l.scope, l.subresource, l.verb, l.version
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        let labels = RequestLabels {
            verb: "LIST".into(),
            group: "".into(),
            version: "v1".into(),
            resource: "pods".into(),
            subresource: "".into(),
            scope: "namespace".into(),
            code: 200,
        };
        m.observe(labels.clone(), Duration::from_millis(30));
        m.observe(labels, Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("apiserver_request_total{component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\",code=\"200\"} 2"));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.05\"} 2"));
        assert!(text.contains("apiserver_request_duration_seconds_count{"));
    }
}
