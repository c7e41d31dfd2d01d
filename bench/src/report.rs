//! JSON-lines output.

use serde_json::{json, Value};

pub fn emit(line: Value) {
    println!("{line}");
}

/// Emits a comparison of `ours` against `reference` for a higher-is-better metric,
/// with the target ratio and whether it was met.
pub fn ratio(bench: &str, case: &str, metric: &str, ours: f64, reference: f64, target: f64) {
    let ratio = ours / reference;
    emit(json!({
        "bench": bench, "case": case, "kind": "ratio", "metric": metric,
        "ours": ours, "reference": reference, "ratio": round(ratio), "target": target, "met": ratio >= target,
    }));
}

pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Whether a bigger or a smaller figure is better.
#[derive(Clone, Copy)]
pub enum Better {
    Higher,
    Lower,
}

/// Emits a comparison of a measured `value` against an absolute `target` (where no
/// reference implementation runs in the same invocation), and returns whether it was met.
pub fn target(bench: &str, case: &str, metric: &str, value: f64, target: f64, better: Better) -> bool {
    let met = match better {
        Better::Higher => value >= target,
        Better::Lower => value < target,
    };
    emit(json!({
        "bench": bench, "case": case, "kind": "target", "metric": metric,
        "value": round(value), "target": target, "met": met,
    }));
    met
}
