//! Which pods a workload owns (upstream's `PodControllerRefManager.ClaimPods`):
//! its own pods that still match, plus matching orphans to adopt; its own pods
//! that stopped matching are released.

use k8s_openapi::api::core::v1::Pod;

use super::owner;
use super::selector::Selector;

#[derive(Debug, Default)]
pub struct Claimed<'a> {
    /// Pods the owner controls after this claim (adopted ones included).
    pub owned: Vec<&'a Pod>,
    /// Orphans to adopt (already in `owned`).
    pub adopt: Vec<&'a Pod>,
    /// Owned pods that no longer match, to release.
    pub release: Vec<&'a Pod>,
}

/// Claims among `pods` for the owner with `owner_uid`. `member` narrows what
/// matches beyond the selector (a StatefulSet's pods must be named for it). An
/// owner being deleted neither adopts nor releases.
pub fn claim_pods<'a>(
    owner_uid: &str,
    selector: &Selector,
    owner_deleting: bool,
    pods: &[&'a Pod],
    member: impl Fn(&Pod) -> bool,
) -> Claimed<'a> {
    let mut c = Claimed::default();
    for pod in pods {
        let matches = selector.matches(pod.metadata.labels.as_ref()) && member(pod);
        match owner::controller_of(&pod.metadata) {
            Some(r) if r.uid == owner_uid => {
                if matches || owner_deleting {
                    c.owned.push(pod);
                } else {
                    c.release.push(pod);
                }
            }
            Some(_) => {}
            None => {
                if matches && !owner_deleting && pod.metadata.deletion_timestamp.is_none() {
                    c.owned.push(pod);
                    c.adopt.push(pod);
                }
            }
        }
    }
    c
}

/// Performs a claim: adoption patches (guarded by the pod's uid) and release
/// patches. Pods that are gone are skipped.
///
/// # Errors
/// A patch failed for another reason.
pub async fn adopt_and_release<K: kube::Resource<DynamicType = ()>>(
    client: &kube::Client,
    owner: &K,
    claimed: &Claimed<'_>,
) -> Result<(), kube::Error> {
    use kube::api::{Api, Patch};
    let ns = owner.meta().namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pp = super::patch_params();
    let owner_uid = owner.meta().uid.clone().unwrap_or_default();
    let name_uid = |p: &Pod| (p.metadata.name.clone().unwrap_or_default(), p.metadata.uid.clone().unwrap_or_default());
    for p in &claimed.adopt {
        let (name, uid) = name_uid(p);
        let patch = owner::adopt_patch(&owner::controller_ref(owner), &uid);
        ignore_gone(api.patch(&name, &pp, &Patch::Strategic(&patch)).await)?;
    }
    for p in &claimed.release {
        let (name, uid) = name_uid(p);
        let patch = owner::release_patch(&owner_uid, &uid);
        ignore_gone(api.patch(&name, &pp, &Patch::Strategic(&patch)).await)?;
    }
    Ok(())
}

fn ignore_gone<T>(r: Result<T, kube::Error>) -> Result<(), kube::Error> {
    crate::replicaset::ignore_gone(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference, Time};
    use std::collections::BTreeMap;

    fn pod(name: &str, app: &str, owner: Option<&str>) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.labels = Some(BTreeMap::from([("app".to_string(), app.to_string())]));
        p.metadata.owner_references =
            owner.map(|uid| vec![OwnerReference { uid: uid.into(), controller: Some(true), ..Default::default() }]);
        p
    }

    #[test]
    fn claims_adopt_orphans_and_release_strays() {
        let selector = Selector::from_label_selector(Some(&LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            ..Default::default()
        }));
        let mut dying = pod("dying", "web", None);
        dying.metadata.deletion_timestamp = Some(Time(chrono::Utc::now()));
        let pods = [
            pod("mine", "web", Some("me")),
            pod("stray", "db", Some("me")),
            pod("orphan", "web", None),
            pod("other-orphan", "db", None),
            pod("theirs", "web", Some("them")),
            pod("not-member", "web", None),
            dying,
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let names = |v: &[&Pod]| v.iter().map(|p| p.metadata.name.clone().unwrap()).collect::<Vec<_>>();
        let member = |p: &Pod| p.metadata.name.as_deref() != Some("not-member");
        let c = claim_pods("me", &selector, false, &refs, member);
        assert_eq!(names(&c.owned), ["mine", "orphan"]);
        assert_eq!(names(&c.adopt), ["orphan"]);
        assert_eq!(names(&c.release), ["stray"]);
        let deleting = claim_pods("me", &selector, true, &refs, member);
        assert_eq!(names(&deleting.owned), ["mine", "stray"]);
        assert!(deleting.adopt.is_empty() && deleting.release.is_empty());
    }
}
