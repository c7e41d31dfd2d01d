//! Conformance checks for watches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::*;

/// Waits this long for a watch to deliver something before failing the check.
const PATIENCE: Duration = Duration::from_secs(30);

/// Reads events from `stream` until `want` events have arrived (progress batches
/// are skipped, but each must not go backwards).
pub async fn collect_events(stream: &mut WatchStream, want: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut last_batch = 0;
    while events.len() < want {
        let batch = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .unwrap_or_else(|_| panic!("watch stalled after {} of {want} events", events.len()))
            .expect("watch stream ended")
            .expect("watch error");
        assert!(batch.revision >= last_batch, "batch revisions go backwards");
        last_batch = batch.revision;
        for e in &batch.events {
            assert!(e.revision() <= batch.revision, "event newer than its batch");
        }
        events.extend(batch.events);
    }
    events
}

pub async fn watch_sees_every_change_in_order_under_concurrent_writers(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    const EACH: usize = 150;
    store.create(b"/w/seed", b"s".to_vec()).await.unwrap();
    let start = store.current_revision().await.unwrap();
    let mut stream = store.watch(b"/w/", start).await.unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.spawn(async move {
            let key = format!("/w/{w}");
            for i in 0..EACH {
                let value = format!("{i}").into_bytes();
                if i == 0 {
                    store.create(key.as_bytes(), value).await.unwrap();
                } else {
                    store.update(key.as_bytes(), value, None).await.unwrap();
                }
            }
            store.delete(key.as_bytes(), None).await.unwrap();
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let events = collect_events(&mut stream, WRITERS * (EACH + 1)).await;
    assert_eq!(events.len(), WRITERS * (EACH + 1));

    // Every write took one revision and nothing else wrote: the events are exactly
    // the revisions after `start`, each once, in order.
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.revision(), start + 1 + i as i64, "gap or duplicate in the watch");
    }
    // Per key: values in write order, each event's prev is the previous event.
    let mut last: HashMap<Vec<u8>, Event> = HashMap::new();
    for e in events {
        let prev = last.get(&e.kv.key);
        match e.kind {
            EventKind::Put => {
                let i: usize = String::from_utf8(e.kv.value.clone()).unwrap().parse().unwrap();
                assert_eq!(e.kv.version, i as i64 + 1);
                assert_eq!(e.prev.as_ref().map(|p| p.value.clone()), prev.map(|p| p.kv.value.clone()));
            }
            EventKind::Delete => {
                assert_eq!(e.prev.as_ref().unwrap().value, format!("{}", EACH - 1).into_bytes());
            }
        }
        last.insert(e.kv.key.clone(), e);
    }
    assert!(last.values().all(|e| e.kind == EventKind::Delete));
}

pub async fn watch_resumes_from_a_revision(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    for i in 0..20 {
        store.txn(super::put("/res/k", &format!("{i}"))).await.unwrap();
    }
    // Replay from history: a watch from an old revision sees what happened since.
    let mut first = store.watch(b"/res/", start).await.unwrap();
    let seen = collect_events(&mut first, 10).await;
    let resume_from = seen[9].revision();
    drop(first);

    for i in 20..40 {
        store.txn(super::put("/res/k", &format!("{i}"))).await.unwrap();
    }
    let mut second = store.watch(b"/res/", resume_from).await.unwrap();
    let rest = collect_events(&mut second, 30).await;
    let values: Vec<String> =
        seen[..10].iter().chain(&rest).map(|e| String::from_utf8(e.kv.value.clone()).unwrap()).collect();
    let expected: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    assert_eq!(values, expected, "resuming from the last revision seen loses and repeats nothing");

    // Live events still arrive after the replay.
    store.txn(super::put("/res/k", "live")).await.unwrap();
    let live = collect_events(&mut second, 1).await;
    assert_eq!(live[0].kv.value, b"live");
}

pub async fn watch_filters_by_prefix_and_reports_deletes(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let mut stream = store.watch(b"/pods/", start).await.unwrap();
    store.create(b"/pods/a", b"1".to_vec()).await.unwrap();
    store.create(b"/podsx", b"no".to_vec()).await.unwrap();
    store.create(b"/services/a", b"no".to_vec()).await.unwrap();
    store.update(b"/pods/a", b"2".to_vec(), None).await.unwrap();
    let (_, del_rev) = store.delete(b"/pods/a", None).await.unwrap();

    let events = collect_events(&mut stream, 3).await;
    assert!(events.iter().all(|e| e.kv.key == b"/pods/a"));
    assert_eq!(events[0].kind, EventKind::Put);
    assert_eq!(events[0].prev, None);
    assert_eq!(events[1].prev.as_ref().unwrap().value, b"1");
    let delete = &events[2];
    assert_eq!(delete.kind, EventKind::Delete);
    assert_eq!(delete.kv.mod_revision, del_rev);
    let prev = delete.prev.as_ref().expect("a delete carries the previous value");
    assert_eq!((prev.value.as_slice(), prev.version), (&b"2"[..], 2));
}

pub async fn watch_from_compacted_revision_fails(store: Arc<dyn Store>) {
    // Revisions relative to where the store starts (0 embedded, 1 for a fresh etcd).
    let r0 = store.current_revision().await.unwrap();
    for i in 0..10 {
        store.txn(super::put("/cw/k", &format!("{i}"))).await.unwrap();
    }
    store.compact(r0 + 6).await.unwrap();
    // Changes from revision r0+6 on are kept: watching after r0+5 works, after r0+4 does not.
    let mut ok = store.watch(b"/cw/", r0 + 5).await.unwrap();
    let events = collect_events(&mut ok, 5).await;
    assert_eq!(events.iter().map(|e| e.revision() - r0).collect::<Vec<_>>(), [6, 7, 8, 9, 10]);

    let err = match store.watch(b"/cw/", r0 + 4).await {
        Err(e) => e,
        Ok(mut stream) => match tokio::time::timeout(PATIENCE, stream.next()).await {
            Ok(Some(Err(e))) => e,
            other => panic!("expected a Compacted error, got {other:?}"),
        },
    };
    match err {
        Error::Compacted { compacted, .. } => assert_eq!(compacted, r0 + 6),
        other => panic!("expected Compacted, got {other:?}"),
    }
}
