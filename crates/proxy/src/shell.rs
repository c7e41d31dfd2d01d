//! The proxy's I/O shell: watches Services and EndpointSlices, batches changes
//! (at most one sync per `min_sync_interval`, at least one per `resync_interval`;
//! the sink writes only what changed, except at the periodic resync, which is full),
//! computes the plan, hands it to the sink, then clears stale UDP conntrack entries.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::conntrack::{stale_entries, Conntrack};
use crate::metrics::Metrics;
use crate::model::{NodeContext, Options, ServicePortPlan};
use crate::plan::plan;
use crate::sink::RuleSink;

/// The proxy's settings.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub node: NodeContext,
    pub options: Options,
    /// Changes arriving closer together than this are applied in one sync.
    pub min_sync_interval: Duration,
    /// Full re-apply period, which repairs rules something else changed.
    pub resync_interval: Duration,
}

impl ProxyConfig {
    pub fn new(node_name: &str, node_ip: Ipv4Addr) -> ProxyConfig {
        ProxyConfig {
            node: NodeContext { name: node_name.into(), addresses: vec![node_ip], pod_cidr: None },
            options: Options::default(),
            min_sync_interval: Duration::from_secs(1),
            resync_interval: Duration::from_secs(30),
        }
    }
}

/// The service proxy of one node.
pub struct Proxy {
    client: kube::Client,
    config: ProxyConfig,
    sink: Box<dyn RuleSink>,
    conntrack: Box<dyn Conntrack>,
    metrics: Arc<Metrics>,
}

/// A watched collection, rebuilt on relists.
struct Cache<K> {
    objects: BTreeMap<(String, String), K>,
    relist: Option<BTreeMap<(String, String), K>>,
    ready: bool,
}

impl<K: kube::Resource + Clone> Cache<K> {
    fn new() -> Self {
        Cache { objects: BTreeMap::new(), relist: None, ready: false }
    }

    /// Applies one event; true when the visible set changed.
    fn apply(&mut self, event: watcher::Event<K>) -> bool {
        let key = |o: &K| (o.namespace().unwrap_or_default(), o.name_any());
        match event {
            watcher::Event::Init => {
                self.relist = Some(BTreeMap::new());
                false
            }
            watcher::Event::InitApply(o) => {
                if let Some(r) = &mut self.relist {
                    r.insert(key(&o), o);
                }
                false
            }
            watcher::Event::InitDone => {
                if let Some(r) = self.relist.take() {
                    self.objects = r;
                }
                self.ready = true;
                true
            }
            watcher::Event::Apply(o) => {
                self.objects.insert(key(&o), o);
                true
            }
            watcher::Event::Delete(o) => {
                self.objects.remove(&key(&o));
                true
            }
        }
    }

    fn values(&self) -> Vec<K> {
        self.objects.values().cloned().collect()
    }
}

enum Change {
    Service(Box<watcher::Event<Service>>),
    Slice(Box<watcher::Event<EndpointSlice>>),
}

impl Proxy {
    /// A proxy writing through `sink`; nothing runs until `run`.
    pub fn new(
        client: kube::Client,
        config: ProxyConfig,
        sink: Box<dyn RuleSink>,
        conntrack: Box<dyn Conntrack>,
        metrics: Arc<Metrics>,
    ) -> Proxy {
        Proxy { client, config, sink, conntrack, metrics }
    }

    /// Syncs until `shutdown`. Rules stay in place when it stops (like kube-proxy),
    /// so a restarting agent does not interrupt Service traffic.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let services = watcher(Api::<Service>::all(self.client.clone()), watcher::Config::default())
            .default_backoff()
            .map(|e| e.map(|e| Change::Service(Box::new(e))));
        let slices = watcher(Api::<EndpointSlice>::all(self.client.clone()), watcher::Config::default())
            .default_backoff()
            .map(|e| e.map(|e| Change::Slice(Box::new(e))));
        let changes = futures::stream::select(services, slices);
        self.run_on(changes, shutdown).await
    }

    /// The loop, on any stream of changes (tests feed their own).
    async fn run_on<S>(&mut self, changes: S, shutdown: CancellationToken)
    where
        S: Stream<Item = Result<Change, watcher::Error>>,
    {
        let mut changes = std::pin::pin!(changes);
        let mut svcs = Cache::<Service>::new();
        let mut slices = Cache::<EndpointSlice>::new();
        let mut applied: Vec<ServicePortPlan> = Vec::new();
        // When the oldest unapplied change arrived.
        let mut pending: Option<Instant> = None;
        let mut last_sync: Option<Instant> = None;
        let mut failures = 0u32;
        loop {
            let due = match (pending, last_sync) {
                (Some(_), Some(last)) => last + self.config.min_sync_interval,
                (Some(at), None) => at,
                (None, Some(last)) => last + self.config.resync_interval,
                (None, None) => Instant::now() + self.config.resync_interval,
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                change = changes.next() => match change {
                    Some(Ok(Change::Service(e))) => { if svcs.apply(*e) { pending.get_or_insert_with(Instant::now); } }
                    Some(Ok(Change::Slice(e))) => { if slices.apply(*e) { pending.get_or_insert_with(Instant::now); } }
                    Some(Err(e)) => tracing::warn!("proxy: watch: {e}"),
                    None => return,
                },
                _ = tokio::time::sleep_until(due), if svcs.ready && slices.ready => {
                    let started = Instant::now();
                    // Full: the first sync, the one after a failure (the sinks
                    // re-read the kernel then) and the periodic resync.
                    let full = pending.is_none() || last_sync.is_none() || failures > 0;
                    if pending.is_none() {
                        // The periodic resync: rewrite everything, repairing rules
                        // that something else changed or removed.
                        self.sink.request_full_sync();
                    }
                    let plan = plan(&svcs.values(), &slices.values(), &self.config.node);
                    match self.sink.apply(&plan, &self.config.node, &self.config.options).await {
                        Ok(()) => {
                            failures = 0;
                            let done = Instant::now();
                            self.metrics.synced(done - started, pending.map(|p| done - p), plan.len(), full);
                            for d in stale_entries(&applied, &plan) {
                                if let Err(e) = self.conntrack.delete(&d).await {
                                    tracing::warn!("proxy: {e}");
                                }
                            }
                            applied = plan;
                            pending = None;
                            last_sync = Some(done);
                        }
                        Err(e) => {
                            // Retry with back-off; the pending change stays pending.
                            failures += 1;
                            self.metrics.sync_failed();
                            tracing::warn!("proxy: applying rules failed: {e}");
                            eprintln!("skiff: proxy: applying rules failed: {e}");
                            let backoff = Duration::from_millis(500) * 2u32.pow(failures.min(6));
                            last_sync = Some(Instant::now() + backoff - self.config.min_sync_interval.min(backoff));
                            pending.get_or_insert_with(Instant::now);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::FakeConntrack;
    use crate::fixtures::{endpoint, service, slice};
    use crate::sink::RecordingSink;

    fn proxy(sink: RecordingSink) -> Proxy {
        // A client that is never used: run_on gets its changes from the test.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let mut cfg = ProxyConfig::new("node-a", Ipv4Addr::new(192, 168, 1, 1));
        cfg.min_sync_interval = Duration::from_secs(1);
        Proxy::new(client, cfg, Box::new(sink), Box::new(FakeConntrack::default()), Arc::default())
    }

    #[tokio::test(start_paused = true)]
    async fn changes_within_the_min_sync_interval_are_applied_in_one_sync_and_failures_retry() {
        let sink = RecordingSink::default();
        let mut p = proxy(sink.clone());
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                p.run_on(tokio_stream::wrappers::ReceiverStream::new(rx), shutdown).await;
            }
        });
        let svc = service("ns", "web", "10.43.0.5", &[("", 80, "TCP")]);
        let eps = |ips: &[&str]| {
            slice(
                "ns",
                "web",
                &[("", 8080, "TCP")],
                ips.iter().map(|i| endpoint(i, "node-a", None, None, None)).collect(),
            )
        };
        for c in [
            Change::Service(Box::new(watcher::Event::Init)),
            Change::Service(Box::new(watcher::Event::InitApply(svc))),
            Change::Service(Box::new(watcher::Event::InitDone)),
            Change::Slice(Box::new(watcher::Event::Init)),
            Change::Slice(Box::new(watcher::Event::InitDone)),
        ] {
            tx.send(Ok(c)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(sink.applied.lock().unwrap().len(), 1, "the first sync is immediate");
        // Three changes inside one interval → one more sync, with the last state.
        *sink.fail_next.lock().unwrap() = true;
        for ips in [&["10.42.0.2"][..], &["10.42.0.2", "10.42.0.3"], &["10.42.0.3"]] {
            tx.send(Ok(Change::Slice(Box::new(watcher::Event::Apply(eps(ips)))))).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.applied.lock().unwrap().len(), 1, "not before the interval");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let applied = sink.applied.lock().unwrap().clone();
        assert_eq!(applied.len(), 2, "the failed sync was retried once: {applied:?}");
        assert_eq!(applied[1][0].cluster_endpoints.len(), 1);
        assert_eq!(applied[1][0].cluster_endpoints[0].ip, Ipv4Addr::new(10, 42, 0, 3));
        shutdown.cancel();
        task.await.unwrap();
    }
}
