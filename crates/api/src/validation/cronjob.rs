//! CronJob validation, as upstream's `ValidateCronJobSpec`: the schedule parses
//! (robfig/cron's message), names no `TZ=`, `timeZone` is a real IANA zone, the
//! policies and limits are in range, and the job template is a valid Job spec.

use serde_json::{json, Value};

use crate::cron::Schedule;
use crate::Cause;

pub fn cronjob(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    let at = |p: &str| spec.and_then(|s| s.pointer(p)).filter(|v| !v.is_null());
    match at("/schedule").and_then(Value::as_str) {
        None | Some("") => causes.push(Cause::required("spec.schedule")),
        Some(schedule) => {
            let value = json!(schedule);
            if let Err(e) = Schedule::parse(schedule) {
                causes.push(Cause::invalid("spec.schedule", &value, e.to_string()));
            }
            if schedule.contains("TZ") {
                let detail = "cannot use TZ or CRON_TZ in schedule, use timeZone field instead";
                causes.push(Cause::invalid("spec.schedule", &value, detail));
            }
        }
    }
    if let Some(v) = at("/startingDeadlineSeconds") {
        if !super::int_in(v, 0, i64::MAX) {
            causes.push(Cause::invalid("spec.startingDeadlineSeconds", v, "must be greater than or equal to 0"));
        }
    }
    match at("/concurrencyPolicy").and_then(Value::as_str) {
        None | Some("") => causes.push(Cause::required("spec.concurrencyPolicy")),
        Some("Allow" | "Forbid" | "Replace") => {}
        Some(other) => {
            causes.push(Cause::not_supported("spec.concurrencyPolicy", &json!(other), &["Allow", "Forbid", "Replace"]))
        }
    }
    for field in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        if let Some(v) = at(&format!("/{field}")) {
            if !super::int_in(v, 0, i32::MAX as i64) {
                causes.push(Cause::invalid(format!("spec.{field}"), v, "must be greater than or equal to 0"));
            }
        }
    }
    if let Some(zone) = spec.and_then(|s| s.get("timeZone")).and_then(Value::as_str) {
        causes.extend(time_zone(zone).into_iter().map(|detail| Cause::invalid("spec.timeZone", &json!(zone), detail)));
    }
    super::workloads::job_spec(at("/jobTemplate/spec"), "spec.jobTemplate.spec", causes);
}

/// Upstream's `validateTimeZone`: what is wrong with `zone`, if anything.
fn time_zone(zone: &str) -> Vec<String> {
    if zone.is_empty() {
        return vec!["timeZone must be nil or non-empty string".into()];
    }
    let valid_part = |p: &str| {
        p != "."
            && p != ".."
            && !p.starts_with('-')
            && !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
    };
    if !zone.split('/').all(valid_part) {
        return vec![format!("unknown time zone {zone}")];
    }
    let mut problems = Vec::new();
    if zone.eq_ignore_ascii_case("Local") {
        problems.push("timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones".into());
    }
    // Go's LoadLocation knows "Local" (the machine's zone) and the IANA database.
    if zone != "Local" && zone.parse::<chrono_tz::Tz>().is_err() {
        problems.push(format!("unknown time zone {zone}"));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({"spec": {
            "schedule": "*/5 * * * *",
            "concurrencyPolicy": "Allow",
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "c", "image": "busybox"}],
            }}}},
        }})
    }

    fn summaries(patch: Value) -> Vec<String> {
        let mut obj = valid();
        for (k, v) in patch.as_object().unwrap() {
            obj["spec"][k] = v.clone();
        }
        let mut causes = Vec::new();
        cronjob(&obj, &mut causes);
        causes.iter().map(Cause::summary).collect()
    }

    #[test]
    fn a_valid_cronjob_passes() {
        assert_eq!(summaries(json!({})), Vec::<String>::new());
        assert_eq!(summaries(json!({"schedule": "@hourly", "timeZone": "Europe/Berlin"})), Vec::<String>::new());
        assert_eq!(summaries(json!({"timeZone": "Etc/GMT+5"})), Vec::<String>::new());
    }

    #[test]
    fn invalid_schedules_carry_robfig_cron_messages() {
        assert_eq!(
            summaries(json!({"schedule": "invalid"})),
            [r#"spec.schedule: Invalid value: "invalid": expected exactly 5 fields, found 1: [invalid]"#]
        );
        assert_eq!(
            summaries(json!({"schedule": "61 * * * *"})),
            [r#"spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61"#]
        );
        assert_eq!(summaries(json!({"schedule": ""})), ["spec.schedule: Required value"]);
        assert_eq!(
            summaries(json!({"schedule": "TZ=UTC 0 * * * *"})),
            [
                r#"spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"#
            ]
        );
    }

    #[test]
    fn time_zones_must_be_iana_names() {
        assert_eq!(
            summaries(json!({"timeZone": "Mars/Olympus_Mons"})),
            [r#"spec.timeZone: Invalid value: "Mars/Olympus_Mons": unknown time zone Mars/Olympus_Mons"#]
        );
        assert_eq!(
            summaries(json!({"timeZone": "../etc/passwd"})),
            [r#"spec.timeZone: Invalid value: "../etc/passwd": unknown time zone ../etc/passwd"#]
        );
        assert_eq!(
            summaries(json!({"timeZone": ""})),
            [r#"spec.timeZone: Invalid value: "": timeZone must be nil or non-empty string"#]
        );
        assert_eq!(
            summaries(json!({"timeZone": "Local"})),
            [
                r#"spec.timeZone: Invalid value: "Local": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"#
            ]
        );
    }

    #[test]
    fn policies_limits_and_the_job_template_are_checked() {
        assert_eq!(
            summaries(
                json!({"concurrencyPolicy": "Sometimes", "successfulJobsHistoryLimit": -1, "startingDeadlineSeconds": -5})
            ),
            [
                "spec.startingDeadlineSeconds: Invalid value: -5: must be greater than or equal to 0",
                r#"spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace""#,
                "spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
        let got = summaries(json!({"jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Always", "containers": [{"name": "c", "image": "busybox"}]}}}}}));
        assert_eq!(
            got,
            [
                r#"spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never""#
            ]
        );
    }
}
