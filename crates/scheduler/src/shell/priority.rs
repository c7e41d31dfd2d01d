//! Pod priority: `spec.priority` when the API server's Priority admission set it,
//! otherwise resolved from the PriorityClass named (or the global default), as
//! that admission plugin would.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::scheduling::v1::PriorityClass;

/// Known PriorityClasses.
#[derive(Debug, Default)]
pub struct PriorityClasses {
    values: HashMap<String, (i32, bool)>,
}

impl PriorityClasses {
    pub fn upsert(&mut self, pc: &PriorityClass) {
        let name = pc.metadata.name.clone().unwrap_or_default();
        self.values.insert(name, (pc.value, pc.global_default.unwrap_or(false)));
    }

    pub fn remove(&mut self, name: &str) {
        self.values.remove(name);
    }

    /// The priority the pod runs with.
    pub fn priority_of(&self, pod: &Pod) -> i32 {
        let spec = pod.spec.as_ref();
        if let Some(p) = spec.and_then(|s| s.priority) {
            return p;
        }
        match spec.and_then(|s| s.priority_class_name.as_deref()).filter(|n| !n.is_empty()) {
            Some(name) => self.values.get(name).map_or(0, |(v, _)| *v),
            None => self.values.values().filter(|(_, global)| *global).map(|(v, _)| *v).max().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;

    fn pc(name: &str, value: i32, global: bool) -> PriorityClass {
        let mut p = PriorityClass { value, global_default: Some(global), ..Default::default() };
        p.metadata.name = Some(name.into());
        p
    }

    fn pod(priority: Option<i32>, class: Option<&str>) -> Pod {
        Pod {
            spec: Some(PodSpec { priority, priority_class_name: class.map(Into::into), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn resolution_table() {
        let mut classes = PriorityClasses::default();
        classes.upsert(&pc("high", 1000, false));
        assert_eq!(classes.priority_of(&pod(Some(7), Some("high"))), 7);
        assert_eq!(classes.priority_of(&pod(None, Some("high"))), 1000);
        assert_eq!(classes.priority_of(&pod(None, Some("missing"))), 0);
        assert_eq!(classes.priority_of(&pod(None, None)), 0);
        classes.upsert(&pc("default", 50, true));
        assert_eq!(classes.priority_of(&pod(None, None)), 50);
        classes.remove("default");
        assert_eq!(classes.priority_of(&pod(None, None)), 0);
    }
}
