//! When a static pod may start: not while another static pod of the same
//! full name (namespace/name) is still stopping. Editing a manifest makes a
//! new pod (a new uid) of the same name; like upstream's pod workers
//! (`allowStaticPodStart`), the new one waits until the old one's containers
//! are gone, so the two never run side by side (same host ports, same files).
//! Pure bookkeeping: the pod manager asks, and reports workers that ended.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;

/// Static pods running or stopping, and the ones waiting for them, by full name.
#[derive(Debug, Default)]
pub struct StaticStarts {
    /// Full name → uid of the static pod whose worker runs.
    running: HashMap<String, String>,
    /// Full name → the newest pod waiting for that worker to end.
    waiting: HashMap<String, Pod>,
}

fn full_name(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

impl StaticStarts {
    /// A static pod arrived that has no worker yet: `Some(pod)` when it may
    /// start now (its worker is then counted as running), `None` when it
    /// waits for an older pod of its name to finish.
    pub fn admit(&mut self, pod: Pod) -> Option<Pod> {
        let name = full_name(&pod);
        match self.running.get(&name) {
            Some(running) if running != uid(&pod) => {
                self.waiting.insert(name, pod);
                None
            }
            _ => {
                self.running.insert(name, uid(&pod).to_string());
                Some(pod)
            }
        }
    }

    /// Whether the pod with `uid` is held back.
    pub fn is_waiting(&self, uid_: &str) -> bool {
        self.waiting.values().any(|p| uid(p) == uid_)
    }

    /// The pod with `uid` went away before it could start (its file changed
    /// again or was removed).
    pub fn withdraw(&mut self, uid_: &str) {
        self.waiting.retain(|_, p| uid(p) != uid_);
    }

    /// The worker of `uid` ended: the pod waiting for its name, if any, may
    /// start now (and is counted as running).
    pub fn finished(&mut self, uid_: &str) -> Option<Pod> {
        let name = self.running.iter().find(|(_, u)| *u == uid_).map(|(n, _)| n.clone())?;
        self.running.remove(&name);
        let next = self.waiting.remove(&name)?;
        self.running.insert(name, uid(&next).to_string());
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn pod(name: &str, uid: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(name.into()),
                uid: Some(uid.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn uid_of(p: Option<Pod>) -> Option<String> {
        p.and_then(|p| p.metadata.uid)
    }

    #[test]
    fn a_new_version_waits_for_the_old_one_to_finish() {
        let mut s = StaticStarts::default();
        assert_eq!(uid_of(s.admit(pod("web-n", "v1"))), Some("v1".into()));
        assert_eq!(s.admit(pod("web-n", "v2")), None);
        assert!(s.is_waiting("v2"));
        assert_eq!(uid_of(s.finished("v1")), Some("v2".into()));
        assert!(!s.is_waiting("v2"));
        // v2 now runs: a third version waits for it in turn.
        assert_eq!(s.admit(pod("web-n", "v3")), None);
        assert_eq!(uid_of(s.finished("v2")), Some("v3".into()));
    }

    #[test]
    fn only_the_newest_waiting_version_starts() {
        let mut s = StaticStarts::default();
        s.admit(pod("web-n", "v1"));
        assert_eq!(s.admit(pod("web-n", "v2")), None);
        assert_eq!(s.admit(pod("web-n", "v3")), None);
        assert_eq!(uid_of(s.finished("v1")), Some("v3".into()));
    }

    #[test]
    fn other_names_and_the_same_pod_start_at_once() {
        let mut s = StaticStarts::default();
        s.admit(pod("web-n", "v1"));
        assert!(s.admit(pod("db-n", "d1")).is_some());
        // A worker that ended and is asked again (e.g. a restart) starts.
        assert!(s.admit(pod("web-n", "v1")).is_some());
    }

    #[test]
    fn a_withdrawn_pod_never_starts() {
        let mut s = StaticStarts::default();
        s.admit(pod("web-n", "v1"));
        s.admit(pod("web-n", "v2"));
        s.withdraw("v2");
        assert_eq!(s.finished("v1"), None);
        // The name is free again.
        assert!(s.admit(pod("web-n", "v4")).is_some());
    }

    #[test]
    fn a_worker_not_counted_as_static_finishes_quietly() {
        let mut s = StaticStarts::default();
        assert_eq!(s.finished("api-pod"), None);
    }
}
