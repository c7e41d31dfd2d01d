//! The shell of static pods: reads the manifest directory every
//! [`POLL_PERIOD`] (parsing only files whose time or size changed), hands the static pods to the pod manager (an edited file is
//! a new pod, so the old one is stopped and the new one started; a removed
//! file stops its pod), and keeps their mirror pods in the API in step. The
//! files are read whether or not the API server answers: static pods run
//! without it, and their mirrors catch up when it is back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use kube::runtime::watcher;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{is_manifest_file, mirror_pod, parse, reconcile, MirrorAction, CONFIG_MIRROR, CONFIG_SEEN, MIRROR_UID};
use crate::pod::manager::PodEvent;

/// How often the directory is read and the mirrors checked (upstream reads
/// on inotify events and every 20 s).
pub const POLL_PERIOD: Duration = Duration::from_secs(2);

pub struct StaticPodSource {
    pub dir: PathBuf,
    pub node_name: String,
    pub client: kube::Client,
    /// The pod manager's events.
    pub tx: mpsc::Sender<PodEvent>,
}

#[derive(Default)]
struct State {
    /// What the manager was last given, by static pod uid.
    delivered: BTreeMap<String, Pod>,
    /// When each static pod uid was first seen (`config.seen`).
    seen: BTreeMap<String, String>,
    /// The last complaint about each file, so a bad file is reported once.
    complaints: BTreeMap<PathBuf, String>,
    node_uid: Option<String>,
    /// The mirror pods in step after the last round, by static pod uid.
    mirrors: BTreeMap<String, Pod>,
    /// Each file's modification time and length when last parsed, and what it
    /// parsed to: an unchanged file is not read again.
    parsed: BTreeMap<PathBuf, Parsed>,
}

/// A manifest file as last read: its modification time and length, and the
/// static pod it gave (or why not).
struct Parsed {
    mtime: Option<SystemTime>,
    len: u64,
    pod: Result<Pod, String>,
}

impl StaticPodSource {
    /// Runs until `shutdown` or the manager is gone; the first round is at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut state = State::default();
        loop {
            if !self.round(&mut state).await {
                return;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(POLL_PERIOD) => {}
            }
        }
    }

    /// One round; false once the manager is gone.
    async fn round(&self, state: &mut State) -> bool {
        let mut pods = self.read_dir(state);
        for p in &mut pods {
            let uid = p.metadata.uid.clone().unwrap_or_default();
            let seen = state.seen.entry(uid).or_insert_with(|| chrono::Utc::now().to_rfc3339()).clone();
            p.metadata.annotations.get_or_insert_with(Default::default).insert(CONFIG_SEEN.into(), seen);
        }
        let wanted: BTreeSet<String> = pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
        state.seen.retain(|uid, _| wanted.contains(uid));
        // Stops first: an edited manifest's new pod waits for the old one
        // (the pod manager holds it until the old worker has ended).
        let gone: Vec<String> = state.delivered.keys().filter(|u| !wanted.contains(*u)).cloned().collect();
        for uid in gone {
            if let Some(p) = state.delivered.remove(&uid) {
                tracing::info!(pod = ?p.metadata.name, "static pod's manifest changed or was removed: stopping it");
                if self.tx.send(watcher::Event::Delete(p)).await.is_err() {
                    return false;
                }
            }
        }
        // The pods go to the manager before any API call: they run whether or
        // not the API answers, and a restarted agent adopts them before it
        // looks for sandboxes nobody owns.
        for mut p in pods.clone() {
            let uid = p.metadata.uid.clone().unwrap_or_default();
            // The worker writes the status to the mirror and reads the last one
            // written from it (times of transitions, start time, QoS class).
            if let Some(m) = state.mirrors.get(&uid) {
                p.status = m.status.clone();
                if let Some(muid) = &m.metadata.uid {
                    p.metadata.annotations.get_or_insert_with(Default::default).insert(MIRROR_UID.into(), muid.clone());
                }
            }
            if state.delivered.get(&uid) != Some(&p) {
                state.delivered.insert(uid, p.clone());
                if self.tx.send(watcher::Event::Apply(p)).await.is_err() {
                    return false;
                }
            }
        }
        // The mirrors: best effort; without the API the pods run all the same.
        // (The last mirrors seen are kept meanwhile.)
        match self.sync_mirrors(state, &pods).await {
            Ok(m) => state.mirrors = m,
            Err(e) => tracing::debug!("static pods: mirror pods not synced: {e}"),
        }
        true
    }

    /// The static pods of the directory's manifest files (none when it does
    /// not exist); bad files are logged once and skipped.
    fn read_dir(&self, state: &mut State) -> Vec<Pod> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut paths: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.is_file() && is_manifest_file(p)).collect();
        paths.sort();
        state.complaints.retain(|p, _| paths.contains(p));
        state.parsed.retain(|p, _| paths.contains(p));
        let mut out: Vec<Pod> = Vec::new();
        for path in paths {
            let meta = std::fs::metadata(&path).ok();
            let stamp = (meta.as_ref().and_then(|m| m.modified().ok()), meta.map_or(0, |m| m.len()));
            let result = match state.parsed.get(&path) {
                Some(p) if (p.mtime, p.len) == stamp && stamp.0.is_some() => p.pod.clone(),
                _ => {
                    let pod = std::fs::read(&path)
                        .map_err(|e| e.to_string())
                        .and_then(|b| parse(&b, &path, &self.node_name).map_err(|e| e.to_string()));
                    state.parsed.insert(path.clone(), Parsed { mtime: stamp.0, len: stamp.1, pod: pod.clone() });
                    pod
                }
            };
            match result {
                Ok(p)
                    if out.iter().any(|o| {
                        o.metadata.name == p.metadata.name && o.metadata.namespace == p.metadata.namespace
                    }) =>
                {
                    complain(
                        state,
                        &path,
                        format!("a static pod named {:?} comes from an earlier file", p.metadata.name),
                    );
                }
                Ok(p) => {
                    state.complaints.remove(&path);
                    out.push(p);
                }
                Err(e) => complain(state, &path, e),
            }
        }
        out
    }

    /// Creates and deletes mirror pods so the API shows `pods`; returns the
    /// mirrors that are in step, by static pod uid.
    async fn sync_mirrors(&self, state: &mut State, pods: &[Pod]) -> Result<BTreeMap<String, Pod>, kube::Error> {
        let all: Api<Pod> = Api::all(self.client.clone());
        let lp = ListParams::default().fields(&format!("spec.nodeName={}", self.node_name));
        let api_pods = all.list(&lp).await?.items;
        for action in reconcile(pods, &api_pods) {
            match action {
                MirrorAction::Create { static_uid } => {
                    let Some(p) = pods.iter().find(|p| p.metadata.uid.as_deref() == Some(&static_uid)) else {
                        continue;
                    };
                    let node_uid = match &state.node_uid {
                        Some(u) => u.clone(),
                        None => {
                            let nodes: Api<Node> = Api::all(self.client.clone());
                            let uid = nodes.get(&self.node_name).await?.metadata.uid.unwrap_or_default();
                            state.node_uid = Some(uid.clone());
                            uid
                        }
                    };
                    let ns = p.metadata.namespace.as_deref().unwrap_or("default");
                    let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
                    match api.create(&PostParams::default(), &mirror_pod(p, &self.node_name, &node_uid)).await {
                        Ok(_) => tracing::info!(pod = ?p.metadata.name, "created the mirror pod"),
                        Err(kube::Error::Api(e)) if e.code == 409 => {}
                        Err(e) => tracing::info!(pod = ?p.metadata.name, "cannot create the mirror pod: {e}"),
                    }
                }
                MirrorAction::Delete { namespace, name, uid } => {
                    let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
                    let dp = DeleteParams {
                        grace_period_seconds: Some(0),
                        preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
                        ..Default::default()
                    };
                    match api.delete(&name, &dp).await {
                        Ok(_) => tracing::info!(pod = %name, "deleted a stale mirror pod"),
                        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                        Err(e) => tracing::info!(pod = %name, "cannot delete the mirror pod: {e}"),
                    }
                }
            }
        }
        let in_step = api_pods
            .into_iter()
            .filter(|m| m.metadata.deletion_timestamp.is_none())
            .filter_map(|m| {
                let hash = m.metadata.annotations.as_ref()?.get(CONFIG_MIRROR)?.clone();
                pods.iter()
                    .any(|p| p.metadata.uid.as_deref() == Some(&hash) && p.metadata.name == m.metadata.name)
                    .then_some((hash, m))
            })
            .collect();
        Ok(in_step)
    }
}

fn complain(state: &mut State, path: &std::path::Path, why: String) {
    if state.complaints.get(path) != Some(&why) {
        eprintln!("skiff: agent: static pod manifest {} skipped: {why}", path.display());
        state.complaints.insert(path.to_path_buf(), why);
    }
}
