//! The conformance suite against the embedded (redb) backend.

use std::sync::Arc;

use skiff_store::{RedbStore, Store};

async fn new_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    (Arc::new(store), dir)
}

skiff_store::conformance_tests!(new_store);
