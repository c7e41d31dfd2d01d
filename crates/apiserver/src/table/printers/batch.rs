//! Jobs (STATUS, COMPLETIONS, DURATION as 1.32 shows them) and cron jobs.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age_cell, col, name, wide, Printer, AGE, NAME};
use crate::table::age::{age, human_duration, parse_time, seconds_between};
use crate::table::fields::{
    arr_at, condition, container_cells, int_at, opt_bool, opt_int, opt_str, print_bool_ptr, str_at,
};
use crate::table::labels::format_label_selector;

pub const JOB: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string"),
        col("Completions", "string"),
        col("Duration", "string"),
        AGE,
        wide("Containers", "string"),
        wide("Images", "string"),
        wide("Selector", "string"),
    ],
    cells: job_cells,
};

pub const CRON_JOB: Printer = Printer {
    columns: &[
        NAME,
        col("Schedule", "string"),
        col("Timezone", "string"),
        col("Suspend", "boolean"),
        col("Active", "integer"),
        col("Last Schedule", "string"),
        AGE,
        wide("Containers", "string"),
        wide("Images", "string"),
        wide("Selector", "string"),
    ],
    cells: cron_job_cells,
};

/// Whether the job's first condition of `type` is True.
fn has_condition(job: &Value, type_: &str) -> bool {
    condition(job, "/status/conditions", type_).is_some_and(|c| str_at(c, "/status") == "True")
}

/// Finished states first, then deletion, then the transient ones.
fn job_status(job: &Value) -> &'static str {
    if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if job.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null()) {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

/// `succeeded/completions`; without a completion count, `succeeded/1`, with the
/// parallelism when it is above one.
fn completions(job: &Value) -> String {
    let succeeded = int_at(job, "/status/succeeded");
    match (opt_int(job, "/spec/completions"), opt_int(job, "/spec/parallelism").unwrap_or(0)) {
        (Some(completions), _) => format!("{succeeded}/{completions}"),
        (None, parallelism) if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
        (None, _) => format!("{succeeded}/1"),
    }
}

/// Start to completion, or start to now while running; blank before the start.
fn duration(job: &Value, now: DateTime<Utc>) -> String {
    let Some(start) = parse_time(str_at(job, "/status/startTime")) else { return String::new() };
    let end = parse_time(str_at(job, "/status/completionTime")).unwrap_or(now);
    human_duration(seconds_between(start, end))
}

fn job_cells(job: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(job.pointer("/spec/template/spec"));
    vec![
        name(job),
        json!(job_status(job)),
        json!(completions(job)),
        json!(duration(job, now)),
        age_cell(job, now),
        json!(names),
        json!(images),
        json!(format_label_selector(job.pointer("/spec/selector"))),
    ]
}

fn cron_job_cells(cj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last_schedule = match opt_str(cj, "/status/lastScheduleTime") {
        Some(t) => age(Some(t), now),
        None => "<none>".into(),
    };
    let (names, images) = container_cells(cj.pointer("/spec/jobTemplate/spec/template/spec"));
    vec![
        name(cj),
        json!(str_at(cj, "/spec/schedule")),
        json!(opt_str(cj, "/spec/timeZone").unwrap_or("<none>")),
        // A boolean column, but upstream prints it as text.
        json!(print_bool_ptr(opt_bool(cj, "/spec/suspend"))),
        json!(arr_at(cj, "/status/active").len()),
        json!(last_schedule),
        age_cell(cj, now),
        json!(names),
        json!(images),
        json!(format_label_selector(cj.pointer("/spec/jobTemplate/spec/selector"))),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::table::printers::testing::{ago, column_names, row};

    fn job(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "pi", "creationTimestamp": ago(400)}, "spec": spec, "status": status})
    }

    #[test]
    fn job_rows() {
        assert_eq!(
            column_names("batch", "Job"),
            ["Name", "Status", "Completions", "Duration", "Age", "Containers*", "Images*", "Selector*"]
        );
        let one = json!({"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
            "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}}});
        let cases = [
            (
                job(
                    one.clone(),
                    json!({"succeeded": 1, "startTime": ago(400), "completionTime": ago(360),
                    "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}),
                ),
                json!([
                    "pi",
                    "Complete",
                    "1/1",
                    "40s",
                    "6m40s",
                    "pi",
                    "perl:5.34",
                    "batch.kubernetes.io/controller-uid=u1"
                ]),
            ),
            (
                job(one.clone(), json!({"active": 1, "startTime": ago(400)})),
                json!([
                    "pi",
                    "Running",
                    "0/1",
                    "6m40s",
                    "6m40s",
                    "pi",
                    "perl:5.34",
                    "batch.kubernetes.io/controller-uid=u1"
                ]),
            ),
            (
                job(
                    json!({"parallelism": 3}),
                    json!({"failed": 4, "startTime": ago(400), "conditions": [
                    {"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}),
                ),
                json!(["pi", "Failed", "0/1 of 3", "6m40s", "6m40s", "", "", "<none>"]),
            ),
            (
                job(
                    json!({"completions": 5, "suspend": true}),
                    json!({"succeeded": 2,
                    "conditions": [{"type": "Suspended", "status": "True"}]}),
                ),
                json!(["pi", "Suspended", "2/5", "", "6m40s", "", "", "<none>"]),
            ),
            (
                job(
                    json!({}),
                    json!({"startTime": ago(10), "conditions": [{"type": "FailureTarget", "status": "True"}]}),
                ),
                json!(["pi", "FailureTarget", "0/1", "10s", "6m40s", "", "", "<none>"]),
            ),
            (
                job(json!({}), json!({"conditions": [{"type": "Complete", "status": "False"}]})),
                json!(["pi", "Running", "0/1", "", "6m40s", "", "", "<none>"]),
            ),
        ];
        for (obj, want) in cases {
            assert_eq!(Value::from(row("batch", "Job", &obj)), want);
        }
        let mut deleting = job(json!({}), json!({"active": 1}));
        deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(row("batch", "Job", &deleting)[1], "Terminating");
    }

    #[test]
    fn cron_job_rows() {
        assert_eq!(
            column_names("batch", "CronJob"),
            [
                "Name",
                "Schedule",
                "Timezone",
                "Suspend",
                "Active",
                "Last Schedule",
                "Age",
                "Containers*",
                "Images*",
                "Selector*"
            ]
        );
        let cj = json!({"metadata": {"name": "backup", "creationTimestamp": ago(10 * 86400)},
            "spec": {"schedule": "*/5 * * * *", "timeZone": "Europe/Paris", "suspend": false, "jobTemplate": {"spec": {
                "template": {"spec": {"containers": [{"name": "b", "image": "restic"}]}}}}},
            "status": {"active": [{"name": "backup-28573"}], "lastScheduleTime": ago(125)}});
        assert_eq!(
            Value::from(row("batch", "CronJob", &cj)),
            json!(["backup", "*/5 * * * *", "Europe/Paris", "False", 1, "2m5s", "10d", "b", "restic", "<none>"])
        );
        let never = json!({"metadata": {"name": "n"}, "spec": {"schedule": "@daily", "suspend": true}});
        assert_eq!(
            Value::from(row("batch", "CronJob", &never)),
            json!(["n", "@daily", "<none>", "True", 0, "<none>", "<unknown>", "", "", "<none>"])
        );
        let unset = json!({"metadata": {"name": "u"}, "spec": {"schedule": "@hourly"}});
        assert_eq!(row("batch", "CronJob", &unset)[3], "<unset>");
    }
}
