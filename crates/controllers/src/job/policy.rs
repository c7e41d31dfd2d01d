//! `podFailurePolicy`: which rule, if any, a failed pod matches, and what the
//! Job does about it (upstream's `matchPodFailurePolicy`).

use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyRule};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// What a matching rule asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The Job fails at once (reason `PodFailurePolicy`) with this message.
    FailJob(String),
    /// The failure is not counted towards `backoffLimit`.
    Ignore,
    /// Counted as usual (a `Count` rule, or no rule matched).
    Count,
}

/// Evaluates `policy`'s rules in order against a failed `pod`; the first match
/// decides. Without a policy or a match the failure counts.
pub fn evaluate(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Verdict {
    let Some(policy) = policy else { return Verdict::Count };
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    for (index, rule) in policy.rules.iter().enumerate() {
        let Some(matched) = rule_matches(rule, pod) else { continue };
        return match rule.action.as_str() {
            "FailJob" => Verdict::FailJob(match matched {
                Match::ExitCode { container, code } => format!(
                    "Container {container} for pod {ns}/{name} failed with exit code {code} matching FailJob rule at index {index}"
                ),
                Match::Condition(type_) => {
                    format!("Pod {ns}/{name} has condition {type_} matching FailJob rule at index {index}")
                }
            }),
            "Ignore" => Verdict::Ignore,
            // Count, and FailIndex (only meaningful with backoffLimitPerIndex,
            // which skiff does not implement), count the failure.
            _ => Verdict::Count,
        };
    }
    Verdict::Count
}

enum Match {
    ExitCode { container: String, code: i32 },
    Condition(String),
}

fn rule_matches(rule: &PodFailurePolicyRule, pod: &Pod) -> Option<Match> {
    if let Some(req) = &rule.on_exit_codes {
        let status = pod.status.as_ref()?;
        let containers =
            status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
        for c in containers {
            if req.container_name.as_deref().is_some_and(|n| n != c.name) {
                continue;
            }
            let Some(code) = exit_code(c) else { continue };
            // Exit code 0 never matches: the container succeeded.
            let hit = code != 0
                && match req.operator.as_str() {
                    "In" => req.values.contains(&code),
                    "NotIn" => !req.values.contains(&code),
                    _ => false,
                };
            if hit {
                return Some(Match::ExitCode { container: c.name.clone(), code });
            }
        }
        return None;
    }
    for pattern in rule.on_pod_conditions.iter().flatten() {
        let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
        let wanted = if pattern.status.is_empty() { "True" } else { pattern.status.as_str() };
        if conditions.into_iter().flatten().any(|c| c.type_ == pattern.type_ && c.status == wanted) {
            return Some(Match::Condition(pattern.type_.clone()));
        }
    }
    None
}

fn exit_code(c: &ContainerStatus) -> Option<i32> {
    c.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern};
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn failed(code: i32, condition: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta { name: Some("p".into()), namespace: Some("ns".into()), ..Default::default() },
            spec: None,
            status: Some(PodStatus {
                phase: Some("Failed".into()),
                container_statuses: Some(vec![ContainerStatus {
                    name: "main".into(),
                    state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated { exit_code: code, ..Default::default() }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                conditions: condition
                    .map(|t| vec![PodCondition { type_: t.into(), status: "True".into(), ..Default::default() }]),
                ..Default::default()
            }),
        }
    }

    fn exit_rule(action: &str, op: &str, values: &[i32]) -> PodFailurePolicyRule {
        PodFailurePolicyRule {
            action: action.into(),
            on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                container_name: None,
                operator: op.into(),
                values: values.to_vec(),
            }),
            on_pod_conditions: None,
        }
    }

    #[test]
    fn first_matching_rule_decides() {
        let policy = PodFailurePolicy {
            rules: vec![
                exit_rule("FailJob", "In", &[42]),
                PodFailurePolicyRule {
                    action: "Ignore".into(),
                    on_exit_codes: None,
                    on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                        type_: "DisruptionTarget".into(),
                        status: "True".into(),
                    }]),
                },
                exit_rule("Count", "NotIn", &[1]),
            ],
        };
        assert_eq!(
            evaluate(Some(&policy), &failed(42, Some("DisruptionTarget"))),
            Verdict::FailJob(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0".into()
            )
        );
        assert_eq!(evaluate(Some(&policy), &failed(1, Some("DisruptionTarget"))), Verdict::Ignore);
        assert_eq!(evaluate(Some(&policy), &failed(3, None)), Verdict::Count);
        assert_eq!(evaluate(Some(&policy), &failed(1, None)), Verdict::Count, "no rule matched");
        assert_eq!(evaluate(None, &failed(42, None)), Verdict::Count);
        let zero = PodFailurePolicy { rules: vec![exit_rule("FailJob", "NotIn", &[1])] };
        assert_eq!(evaluate(Some(&zero), &failed(0, None)), Verdict::Count, "exit code 0 never matches");
    }
}
