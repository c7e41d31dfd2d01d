//! The resources the server serves (API discovery), for the controllers that
//! act on every resource: the garbage collector and the namespace controller.

use kube::api::ApiResource;
use kube::discovery::{verbs, Discovery, Scope};

/// One served resource.
#[derive(Debug, Clone)]
pub struct Served {
    pub resource: ApiResource,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl Served {
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// Every resource of every group at its preferred version.
///
/// # Errors
/// When discovery requests fail.
pub async fn served(client: &kube::Client) -> Result<Vec<Served>, kube::Error> {
    let discovery = Discovery::new(client.clone()).run().await?;
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            out.push(Served { namespaced: caps.scope == Scope::Namespaced, verbs: caps.operations.clone(), resource });
        }
    }
    Ok(out)
}

/// Resources whose objects can own or be owned and be garbage collected:
/// listable, watchable, deletable; Events are left out (upstream's GC ignores
/// them too: they are many and never own anything).
pub fn collectable(served: &[Served]) -> Vec<Served> {
    served
        .iter()
        .filter(|s| s.supports(verbs::LIST) && s.supports(verbs::WATCH) && s.supports(verbs::DELETE))
        .filter(|s| s.resource.kind != "Event")
        .cloned()
        .collect()
}
