//! Compaction of the data file: dropping the versions no read at or after the
//! compacted revision can see.

use std::collections::BTreeSet;

use redb::{Database, Durability, ReadableTable, Table};

use super::layout::{self, LOG, META, REVS};
use super::read::{engine, version_at};
use crate::error::{Error, Result};
use crate::types::Revision;

/// Most log revisions one compaction step processes, so a large compaction does not
/// hold up flushes for long.
const COMPACTION_STEP: u64 = 10_000;

/// Drops history below the next `COMPACTION_STEP` revisions after `compacted` (at
/// most up to `target`) in one durable commit; returns the new compacted revision.
pub fn compact_step(db: &Database, compacted: Revision, target: Revision) -> Result<Revision> {
    let from = compacted.max(1) as u64;
    let until = (target as u64).min(from + COMPACTION_STEP);
    let mut wtx = db.begin_write().map_err(engine)?;
    wtx.set_durability(Durability::Immediate);
    {
        let mut revs = wtx.open_table(REVS).map_err(engine)?;
        let mut log = wtx.open_table(LOG).map_err(engine)?;
        let mut keys = BTreeSet::new();
        for entry in log.extract_from_if(from..until, |_, _| true).map_err(engine)? {
            let (_, raw) = entry.map_err(engine)?;
            let changed = layout::decode_log(raw.value())
                .ok_or_else(|| Error::backend("embedded store: undecodable log record"))?;
            keys.extend(changed);
        }
        let new_compacted = until as Revision;
        for key in keys {
            prune_key(&mut revs, &key, new_compacted)?;
        }
        let mut meta = wtx.open_table(META).map_err(engine)?;
        meta.insert(layout::META_COMPACTED, new_compacted).map_err(engine)?;
    }
    wtx.commit().map_err(engine)?;
    Ok(until as Revision)
}

/// Removes every version of `key` that no read at or after `compacted` can see: all
/// but the newest version below `compacted`, and that one too if it is a tombstone.
fn prune_key(revs: &mut Table<&'static [u8], &'static [u8]>, key: &[u8], compacted: Revision) -> Result<()> {
    let Some((newest_rev, newest)) = version_at(revs, key, compacted - 1)? else {
        return Ok(());
    };
    let keep_from = if newest.tombstone { newest_rev + 1 } else { newest_rev };
    let lo = layout::version_key(key, 0);
    let hi = layout::version_key(key, keep_from);
    let doomed: Vec<Vec<u8>> = revs
        .range(lo.as_slice()..hi.as_slice())
        .map_err(engine)?
        .map(|entry| entry.map(|(k, _)| k.value().to_vec()).map_err(engine))
        .collect::<Result<_>>()?;
    for k in doomed {
        revs.remove(k.as_slice()).map_err(engine)?;
    }
    Ok(())
}
