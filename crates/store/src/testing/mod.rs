//! The conformance suite every [`Store`](crate::Store) backend must pass.
//!
//! Each check is a public async function taking a fresh, empty store; it panics on a
//! violation. A backend runs all of them with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```text
//! async fn new_store() -> (Arc<dyn Store>, impl Sized) { ... }
//! skiff_store::conformance_tests!(new_store);
//! ```
//! The second tuple element is kept alive for the test (a temp dir, a child process).

mod kv;
mod watch;

pub use kv::*;
pub use watch::*;

use crate::{Store, Txn, TxnOp};

/// Generates one `#[tokio::test]` per conformance check, each calling `$make().await`
/// for a fresh store.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@each $make;
            revision_and_version_bookkeeping,
            reads_at_past_revisions,
            create_update_delete_errors,
            concurrent_conflicting_updates_exactly_one_wins,
            txn_compare_then_else,
            range_bounds_and_count,
            range_pagination_at_fixed_revision,
            values_up_to_the_limit,
            compaction_makes_old_revisions_unreadable,
            watch_sees_every_change_in_order_under_concurrent_writers,
            watch_resumes_from_a_revision,
            watch_filters_by_prefix_and_reports_deletes,
            watch_from_compacted_revision_fails,
        );
    };
    (@each $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (store, _guard) = $make().await;
                $crate::testing::$name(store).await;
            }
        )*
    };
}

/// Writes `count` keys `{prefix}{i:06}` with `concurrency` parallel writers; returns
/// the highest revision written.
pub async fn fill(store: &std::sync::Arc<dyn Store>, prefix: &str, count: usize, concurrency: usize) -> i64 {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let store = store.clone();
        let prefix = prefix.to_string();
        tasks.spawn(async move {
            let mut max = 0;
            for i in (worker..count).step_by(concurrency) {
                let kv = store
                    .create(format!("{prefix}{i:06}").as_bytes(), format!("value-{i}").into_bytes())
                    .await
                    .expect("fill create");
                max = max.max(kv.mod_revision);
            }
            max
        });
    }
    let mut max = 0;
    while let Some(r) = tasks.join_next().await {
        max = max.max(r.expect("fill task"));
    }
    max
}

/// A transaction that puts one key unconditionally.
pub fn put(key: &str, value: &str) -> Txn {
    Txn::new().and_then([TxnOp::put(key, value)])
}
