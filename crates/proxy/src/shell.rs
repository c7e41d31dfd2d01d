//! The proxy's I/O shell: watches Services and EndpointSlices, batches changes
//! (at most one sync per `min_sync_interval`, at least one per `sync_period`; the
//! sink writes only what changed, except in a full sync: the first, the one after
//! a failure, and the first sync once `full_sync_period` has passed since the
//! last full one), computes the plan, hands it to the sink, then clears stale UDP
//! conntrack entries.

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
    /// The longest time without a sync (upstream's `--iptables-sync-period`): a
    /// sync with nothing changed writes nothing but re-checks the jumps into
    /// the proxy's chains.
    pub sync_period: Duration,
    /// How often a sync is full (every chain and map rewritten), which repairs
    /// rules something else changed; upstream's fixed `FullSyncPeriod`, an hour.
    /// At 10,000 Services a full iptables sync takes tens of seconds of CPU.
    pub full_sync_period: Duration,
}

/// Upstream's default `syncPeriod`.
pub const DEFAULT_SYNC_PERIOD: Duration = Duration::from_secs(30);
/// Upstream's `FullSyncPeriod`.
pub const DEFAULT_FULL_SYNC_PERIOD: Duration = Duration::from_secs(3600);

/// Whether the next sync must be full: the first one, one after a failure (the
/// sinks no longer know what the kernel holds), or the first once
/// `full_sync_period` has passed since the last full sync.
fn needs_full_sync(last_full: Option<Instant>, failures: u32, now: Instant, full_sync_period: Duration) -> bool {
    failures > 0 || last_full.is_none_or(|t| now.saturating_duration_since(t) >= full_sync_period)
}

impl ProxyConfig {
    pub fn new(node_name: &str, node_ip: Ipv4Addr) -> ProxyConfig {
        ProxyConfig {
            node: NodeContext { name: node_name.into(), addresses: vec![node_ip], pod_cidr: None },
            options: Options::default(),
            min_sync_interval: Duration::from_secs(1),
            sync_period: DEFAULT_SYNC_PERIOD,
            full_sync_period: DEFAULT_FULL_SYNC_PERIOD,
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
        let mut last_full: Option<Instant> = None;
        let mut failures = 0u32;
        loop {
            let due = match (pending, last_sync) {
                (Some(_), Some(last)) => last + self.config.min_sync_interval,
                (Some(at), None) => at,
                (None, Some(last)) => last + self.config.sync_period,
                (None, None) => Instant::now() + self.config.sync_period,
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
                    let full = needs_full_sync(last_full, failures, started, self.config.full_sync_period);
                    if full {
                        // Rewrite everything, repairing rules that something
                        // else changed or removed.
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
                            if full {
                                last_full = Some(started);
                            }
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

    #[test]
    fn a_sync_is_full_first_after_a_failure_and_once_per_full_sync_period() {
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        assert!(needs_full_sync(None, 0, t0, hour), "the first sync");
        assert!(!needs_full_sync(Some(t0), 0, t0 + Duration::from_secs(30), hour));
        assert!(needs_full_sync(Some(t0), 1, t0 + Duration::from_secs(1), hour), "after a failure");
        assert!(needs_full_sync(Some(t0), 0, t0 + hour, hour), "the period is over");
    }

    #[tokio::test(start_paused = true)]
    async fn syncs_run_every_sync_period_and_only_the_full_sync_period_makes_them_full() {
        let sink = RecordingSink::default();
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let mut cfg = ProxyConfig::new("node-a", Ipv4Addr::new(192, 168, 1, 1));
        cfg.sync_period = Duration::from_secs(10);
        cfg.full_sync_period = Duration::from_secs(35);
        let mut p = Proxy::new(client, cfg, Box::new(sink.clone()), Box::new(FakeConntrack::default()), Arc::default());
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { p.run_on(tokio_stream::wrappers::ReceiverStream::new(rx), shutdown).await }
        });
        for c in [
            Change::Service(Box::new(watcher::Event::Init)),
            Change::Service(Box::new(watcher::Event::InitDone)),
            Change::Slice(Box::new(watcher::Event::Init)),
            Change::Slice(Box::new(watcher::Event::InitDone)),
        ] {
            tx.send(Ok(c)).await.unwrap();
        }
        // Syncs at 0 s (first), 10, 20, 30 and 40 s (35 s after the first full one).
        tokio::time::sleep(Duration::from_secs(45)).await;
        assert_eq!(*sink.full.lock().unwrap(), [true, false, false, false, true]);
        shutdown.cancel();
        task.await.unwrap();
    }
}
