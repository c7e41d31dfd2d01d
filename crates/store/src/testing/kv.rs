//! Conformance checks for reads, writes, transactions and compaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{fill, put};
use crate::*;

pub async fn revision_and_version_bookkeeping(store: Arc<dyn Store>) {
    // A new store is empty, and its revision only moves when something is written. The
    // starting revision itself is the backend's (0 for the embedded store, 1 for a fresh
    // etcd); everything below is relative to it.
    let r0 = store.current_revision().await.unwrap();
    assert!(r0 >= 0, "revisions are never negative");
    assert_eq!(store.count(b"/").await.unwrap(), 0, "a new store has no keys");
    assert_eq!(store.current_revision().await.unwrap(), r0, "reading does not move the revision");
    let a = store.create(b"/a", b"1".to_vec()).await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (r0 + 1, r0 + 1, 1));
    let b = store.create(b"/b", b"1".to_vec()).await.unwrap();
    assert_eq!((b.create_revision, b.mod_revision, b.version), (r0 + 2, r0 + 2, 1));
    let a2 = store.update(b"/a", b"2".to_vec(), None).await.unwrap();
    assert_eq!((a2.create_revision, a2.mod_revision, a2.version), (r0 + 1, r0 + 3, 2));
    assert_eq!(store.current_revision().await.unwrap(), r0 + 3);

    // Failed writes and read-only transactions take no revision.
    assert!(store.create(b"/a", b"x".to_vec()).await.is_err());
    let read_only = store.txn(Txn::new().and_then([TxnOp::get("/a")])).await.unwrap();
    assert_eq!(read_only.revision, r0 + 3);
    let noop_delete = store.txn(Txn::new().and_then([TxnOp::delete("/missing")])).await.unwrap();
    assert_eq!(noop_delete.revision, r0 + 3, "deleting nothing writes nothing");
    assert_eq!(store.current_revision().await.unwrap(), r0 + 3);

    let (deleted, rev) = store.delete(b"/a", None).await.unwrap();
    assert_eq!(rev, r0 + 4);
    assert_eq!(deleted.value, b"2");
    assert_eq!(store.get(b"/a", None).await.unwrap(), (None, r0 + 4));

    // Re-creating starts a new life: new create revision, version 1.
    let a3 = store.create(b"/a", b"3".to_vec()).await.unwrap();
    assert_eq!((a3.create_revision, a3.mod_revision, a3.version), (r0 + 5, r0 + 5, 1));

    // A multi-key write takes exactly one revision.
    let multi = store.txn(Txn::new().and_then([TxnOp::put("/c", "1"), TxnOp::put("/d", "1")])).await.unwrap();
    assert_eq!(multi.revision, r0 + 6);
    let (c, _) = store.get(b"/c", None).await.unwrap();
    let (d, _) = store.get(b"/d", None).await.unwrap();
    assert_eq!(c.unwrap().mod_revision, r0 + 6);
    assert_eq!(d.unwrap().mod_revision, r0 + 6);
}

pub async fn reads_at_past_revisions(store: Arc<dyn Store>) {
    let v1 = store.create(b"/k", b"one".to_vec()).await.unwrap().mod_revision;
    let v2 = store.update(b"/k", b"two".to_vec(), None).await.unwrap().mod_revision;
    let (_, v3) = store.delete(b"/k", None).await.unwrap();
    let v4 = store.create(b"/k", b"four".to_vec()).await.unwrap().mod_revision;

    let at = |rev| {
        let store = store.clone();
        async move { store.get(b"/k", Some(rev)).await.unwrap().0.map(|kv| kv.value) }
    };
    assert_eq!(at(v1).await.as_deref(), Some(&b"one"[..]));
    assert_eq!(at(v2).await.as_deref(), Some(&b"two"[..]));
    assert_eq!(at(v3).await, None);
    assert_eq!(at(v4).await.as_deref(), Some(&b"four"[..]));
    let (_, served) = store.get(b"/k", Some(v2)).await.unwrap();
    assert_eq!(served, v2, "a read at a revision reports that revision");

    match store.get(b"/k", Some(v4 + 10)).await {
        Err(Error::FutureRevision { requested, current }) => assert_eq!((requested, current), (v4 + 10, v4)),
        other => panic!("expected FutureRevision, got {other:?}"),
    }
}

pub async fn create_update_delete_errors(store: Arc<dyn Store>) {
    let kv = store.create(b"/x", b"1".to_vec()).await.unwrap();
    match store.create(b"/x", b"2".to_vec()).await {
        Err(Error::AlreadyExists { key, mod_revision }) => {
            assert_eq!(key, b"/x");
            assert_eq!(mod_revision, kv.mod_revision);
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert!(matches!(store.update(b"/nope", b"1".to_vec(), None).await, Err(Error::NotFound { .. })));
    assert!(matches!(store.delete(b"/nope", None).await, Err(Error::NotFound { .. })));

    let updated = store.update(b"/x", b"2".to_vec(), Some(kv.mod_revision)).await.unwrap();
    match store.update(b"/x", b"3".to_vec(), Some(kv.mod_revision)).await {
        Err(Error::Conflict { expected, current, .. }) => {
            assert_eq!(expected, kv.mod_revision);
            assert_eq!(current, updated.mod_revision, "the conflict carries the current revision");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    match store.delete(b"/x", Some(kv.mod_revision)).await {
        Err(Error::Conflict { current, .. }) => assert_eq!(current, updated.mod_revision),
        other => panic!("expected Conflict, got {other:?}"),
    }
    store.delete(b"/x", Some(updated.mod_revision)).await.unwrap();
    match store.update(b"/x", b"4".to_vec(), Some(updated.mod_revision)).await {
        Err(Error::Conflict { current: 0, .. }) => {}
        other => panic!("a precondition on a deleted key is a conflict with current 0, got {other:?}"),
    }
    assert!(matches!(store.txn(put("", "v")).await, Err(Error::InvalidRequest(_))));
    let dup = Txn::new().and_then([TxnOp::put("/d", "1"), TxnOp::put("/d", "2")]);
    assert!(matches!(store.txn(dup).await, Err(Error::InvalidRequest(_))));
}

pub async fn concurrent_conflicting_updates_exactly_one_wins(store: Arc<dyn Store>) {
    for round in 0..5 {
        let key = format!("/race/{round}");
        let base = store.create(key.as_bytes(), b"0".to_vec()).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..32 {
            let store = store.clone();
            let key = key.clone();
            tasks.spawn(async move {
                store.update(key.as_bytes(), format!("{i}").into_bytes(), Some(base.mod_revision)).await
            });
        }
        let (mut won, mut conflicted) = (Vec::new(), 0);
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(kv) => won.push(kv),
                Err(Error::Conflict { .. }) => conflicted += 1,
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert_eq!(won.len(), 1, "exactly one of the conflicting updates wins");
        assert_eq!(conflicted, 31);
        let (now, _) = store.get(key.as_bytes(), None).await.unwrap();
        assert_eq!(now.unwrap(), won[0]);
    }
}

pub async fn txn_compare_then_else(store: Arc<dyn Store>) {
    store.create(b"/t/a", b"a1".to_vec()).await.unwrap();
    let b = store.create(b"/t/b", b"b1".to_vec()).await.unwrap();

    // All compares hold: success branch runs, atomically, at one revision.
    let ok = store
        .txn(
            Txn::new()
                .when([
                    Compare::value("/t/a", CompareOp::Equal, "a1"),
                    Compare::mod_revision("/t/b", CompareOp::Equal, b.mod_revision),
                    Compare::version("/t/b", CompareOp::Greater, 0),
                    Compare::create_revision("/t/c", CompareOp::Equal, 0),
                ])
                .and_then([
                    TxnOp::put("/t/a", "a2"),
                    TxnOp::delete("/t/b"),
                    TxnOp::put("/t/c", "c1"),
                    TxnOp::get("/t/c"),
                ])
                .or_else([TxnOp::put("/t/never", "x")]),
        )
        .await
        .unwrap();
    assert!(ok.succeeded);
    assert_eq!(ok.revision, b.mod_revision + 1);
    match &ok.results[..] {
        [TxnOpResult::Put { kv: a, prev: Some(a_prev) }, TxnOpResult::Delete { prev: Some(b_prev) }, TxnOpResult::Put { kv: c, prev: None }, TxnOpResult::Get { kv: Some(c_read) }] =>
        {
            assert_eq!((a.value.as_slice(), a.version, a.mod_revision), (&b"a2"[..], 2, ok.revision));
            assert_eq!(a_prev.value, b"a1");
            assert_eq!(b_prev.value, b"b1");
            assert_eq!((c.create_revision, c.version), (ok.revision, 1));
            assert_eq!(c_read.value, b"c1", "a get sees the writes before it in the same transaction");
        }
        other => panic!("unexpected results {other:?}"),
    }

    // One compare fails: the else branch runs and the then branch leaves no trace.
    let failed = store
        .txn(
            Txn::new()
                .when([Compare::value("/t/a", CompareOp::Equal, "a2"), Compare::value("/t/b", CompareOp::Equal, "b1")])
                .and_then([TxnOp::put("/t/a", "a3")])
                .or_else([TxnOp::get("/t/a"), TxnOp::put("/t/else", "ran")]),
        )
        .await
        .unwrap();
    assert!(!failed.succeeded, "a value compare on a missing key never holds");
    assert_eq!(failed.revision, ok.revision + 1);
    assert!(matches!(&failed.results[0], TxnOpResult::Get { kv: Some(kv) } if kv.value == b"a2"));
    assert_eq!(store.get(b"/t/a", None).await.unwrap().0.unwrap().value, b"a2");
    assert_eq!(store.get(b"/t/else", None).await.unwrap().0.unwrap().value, b"ran");

    // Ordering compares.
    let cmp = |op, rev| {
        let store = store.clone();
        async move { store.txn(Txn::new().when([Compare::mod_revision("/t/a", op, rev)])).await.unwrap().succeeded }
    };
    let a_rev = ok.revision;
    assert!(cmp(CompareOp::Less, a_rev + 1).await);
    assert!(!cmp(CompareOp::Less, a_rev).await);
    assert!(cmp(CompareOp::Greater, a_rev - 1).await);
    assert!(cmp(CompareOp::NotEqual, a_rev - 1).await);
    assert!(!cmp(CompareOp::NotEqual, a_rev).await);
}

pub async fn range_bounds_and_count(store: Arc<dyn Store>) {
    for key in ["/r/a", "/r/b", "/r/b/x", "/r/c", "/ra", "/s"] {
        store.create(key.as_bytes(), key.as_bytes().to_vec()).await.unwrap();
    }
    let keys =
        |resp: RangeResponse| resp.kvs.into_iter().map(|kv| String::from_utf8(kv.key).unwrap()).collect::<Vec<_>>();
    assert_eq!(keys(store.range(RangeRequest::prefix("/r/")).await.unwrap()), ["/r/a", "/r/b", "/r/b/x", "/r/c"]);
    assert_eq!(keys(store.range(RangeRequest::between("/r/b", "/r/c")).await.unwrap()), ["/r/b", "/r/b/x"]);
    let limited = store.range(RangeRequest::prefix("/r/").limit(2)).await.unwrap();
    assert!(limited.more);
    assert_eq!(keys(limited), ["/r/a", "/r/b"]);
    let exact = store.range(RangeRequest::prefix("/r/").limit(4)).await.unwrap();
    assert!(!exact.more, "no more when the limit equals what is left");
    assert_eq!(store.count(b"/r/").await.unwrap(), 4);
    assert_eq!(store.count(b"/").await.unwrap(), 6);
    assert_eq!(store.count(b"/none/").await.unwrap(), 0);
    store.delete(b"/r/b", None).await.unwrap();
    assert_eq!(store.count(b"/r/").await.unwrap(), 3);
    assert_eq!(keys(store.range(RangeRequest::prefix("/r/")).await.unwrap()), ["/r/a", "/r/b/x", "/r/c"]);
}

pub async fn range_pagination_at_fixed_revision(store: Arc<dyn Store>) {
    const N: usize = 10_240;
    fill(&store, "/page/", N, 64).await;
    let snapshot = store.current_revision().await.unwrap();

    // Churn while paging: none of it may show up in a read at `snapshot`.
    let churn = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in (0..N).step_by(97) {
                let key = format!("/page/{i:06}");
                store.update(key.as_bytes(), b"changed".to_vec(), None).await.unwrap();
                if i % 2 == 0 {
                    store.delete(key.as_bytes(), None).await.unwrap();
                }
                store.create(format!("/page/{i:06}-new").as_bytes(), b"new".to_vec()).await.unwrap();
            }
        })
    };

    let mut seen = BTreeMap::new();
    let mut start = b"/page/".to_vec();
    let end = prefix_end(b"/page/").unwrap();
    let mut pages = 0;
    loop {
        let resp = store
            .range(RangeRequest {
                start: start.clone(),
                end: RangeEnd::Exclusive(end.clone()),
                revision: Some(snapshot),
                limit: Some(500),
            })
            .await
            .unwrap();
        assert_eq!(resp.revision, snapshot);
        assert!(resp.kvs.len() <= 500);
        pages += 1;
        for kv in &resp.kvs {
            assert!(kv.mod_revision <= snapshot);
            assert!(seen.insert(kv.key.clone(), kv.value.clone()).is_none(), "a key appeared on two pages");
        }
        if !resp.more {
            break;
        }
        start = resp.kvs.last().unwrap().key.clone();
        start.push(0);
    }
    churn.await.unwrap();
    assert_eq!(pages, N.div_ceil(500));
    assert_eq!(seen.len(), N);
    for (i, (key, value)) in seen.iter().enumerate() {
        assert_eq!(key, format!("/page/{i:06}").as_bytes());
        assert_eq!(value, format!("value-{i}").as_bytes());
    }
}

pub async fn values_up_to_the_limit(store: Arc<dyn Store>) {
    let big = vec![0xabu8; MAX_VALUE_BYTES];
    store.create(b"/big", big.clone()).await.unwrap();
    assert_eq!(store.get(b"/big", None).await.unwrap().0.unwrap().value, big);
    let rev = store.current_revision().await.unwrap();
    match store.create(b"/too-big", vec![0u8; MAX_VALUE_BYTES + 1]).await {
        Err(Error::ValueTooLarge { size, limit }) => assert_eq!((size, limit), (MAX_VALUE_BYTES + 1, MAX_VALUE_BYTES)),
        other => panic!("expected ValueTooLarge, got {other:?}"),
    }
    assert_eq!(store.current_revision().await.unwrap(), rev, "a rejected write leaves no trace");
    assert_eq!(store.get(b"/too-big", None).await.unwrap().0, None);
}

pub async fn compaction_makes_old_revisions_unreadable(store: Arc<dyn Store>) {
    let r1 = store.create(b"/c/k", b"1".to_vec()).await.unwrap().mod_revision;
    let r2 = store.update(b"/c/k", b"2".to_vec(), None).await.unwrap().mod_revision;
    let r3 = store.update(b"/c/k", b"3".to_vec(), None).await.unwrap().mod_revision;
    store.create(b"/c/gone", b"x".to_vec()).await.unwrap();
    let (_, r5) = store.delete(b"/c/gone", None).await.unwrap();
    store.create(b"/c/other", b"o".to_vec()).await.unwrap();

    store.compact(r3).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), r3);
    match store.get(b"/c/k", Some(r2)).await {
        Err(Error::Compacted { requested, compacted }) => assert_eq!((requested, compacted), (r2, r3)),
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(matches!(store.get(b"/c/k", Some(r1)).await, Err(Error::Compacted { .. })));
    assert_eq!(store.get(b"/c/k", Some(r3)).await.unwrap().0.unwrap().value, b"3");
    assert_eq!(store.get(b"/c/gone", Some(r5)).await.unwrap().0, None);
    assert_eq!(store.range(RangeRequest::prefix("/c/")).await.unwrap().kvs.len(), 2);

    // Compacting again to an older revision changes nothing.
    store.compact(r2).await.unwrap();
    assert_eq!(store.compacted_revision().await.unwrap(), r3);
    // Compacting to the present is allowed; the future is not.
    let now = store.current_revision().await.unwrap();
    store.compact(now).await.unwrap();
    assert_eq!(store.get(b"/c/k", None).await.unwrap().0.unwrap().value, b"3");
    assert_eq!(store.get(b"/c/other", None).await.unwrap().0.unwrap().value, b"o");
    assert!(store.compact(now + 5).await.is_err());
}
