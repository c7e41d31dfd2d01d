//! Partial nftables syncs, as upstream's nftables proxier does them: the table
//! stays, and one `nft -f` transaction changes only what differs from the last
//! sync — map elements added and deleted, new chains and sets added, changed
//! chains flushed and refilled, chains that are gone flushed now and deleted by
//! a later sync (before Linux 6.2 the kernel notices only a moment after a map
//! element is deleted that the chain it pointed to is unreferenced, so upstream
//! waits too). Affinity sets of unchanged endpoints keep their contents, so
//! ClientIP affinity survives other Services' changes.
//!
//! The periodic resync rewrites every chain and map in place the same way.
//!
//! Pure: [`Table::parse`] reads the script `render::nft::render` wrote;
//! [`script`] turns the last written table into the new one.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::hash::{Hash, Hasher};

use super::nft::TABLE;

/// The parts of the table that partial syncs diff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Chain → (fingerprint of its rules, its text block).
    chains: BTreeMap<String, (u64, String)>,
    /// Set → its declaration block.
    sets: BTreeMap<String, String>,
    /// Map → (declaration line, key → verdict).
    maps: BTreeMap<String, (String, BTreeMap<String, String>)>,
}

impl Table {
    /// The blocks of a full script (`add table`, `delete table`, `table ... { }`).
    pub fn parse(script: &str) -> Table {
        let mut t = Table::default();
        let mut lines = script.lines();
        while let Some(line) = lines.next() {
            let Some(head) = line.strip_prefix('\t').filter(|l| !l.starts_with('\t')) else { continue };
            let mut words = head.split(' ');
            let (kind, name) = (words.next().unwrap_or(""), words.next().unwrap_or("").to_string());
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "\t}").collect();
            match kind {
                "chain" => {
                    let mut h = DefaultHasher::new();
                    body.hash(&mut h);
                    t.chains.insert(name, (h.finish(), format!("{line}\n{}\n\t}}\n", body.join("\n"))));
                }
                "set" => {
                    t.sets.insert(name, format!("{line}\n{}\n\t}}\n", body.join("\n")));
                }
                "map" => {
                    let decl = body.first().map(|l| l.trim().to_string()).unwrap_or_default();
                    let elements = body
                        .iter()
                        .skip(1)
                        .filter_map(|l| l.trim().trim_end_matches(',').split_once(" : "))
                        .map(|(k, v)| (k.trim_start_matches("elements = {").trim().to_string(), v.to_string()))
                        .collect();
                    t.maps.insert(name, (decl, elements));
                }
                _ => {}
            }
        }
        t
    }
}

/// What the kernel holds after a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub table: Table,
    /// Chains and sets flushed/unused by the last sync, to delete in the next.
    pub doomed_chains: BTreeSet<String>,
    pub doomed_sets: BTreeSet<String>,
}

/// One sync's `nft -f` input and what will be in place once it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sync {
    /// Empty when nothing changed.
    pub script: String,
    pub written: Written,
    /// Whether the whole table was replaced.
    pub full: bool,
    /// Chains added, rewritten or flushed.
    pub chains_changed: usize,
}

/// The transaction from `previous` to `full_script` (from `render::nft::render`):
/// the full script itself when there is no previous state, or when a set's
/// declaration changed (a set cannot be redeclared in place). With `rewrite`
/// (the periodic resync) every chain and map is flushed and refilled, which
/// repairs what something else changed, while the affinity sets keep their
/// contents.
pub fn script(full_script: &str, previous: Option<&Written>, rewrite: bool) -> Sync {
    let new = Table::parse(full_script);
    let Some(prev) = previous.filter(|p| sets_compatible(&p.table, &new)) else {
        let chains_changed = new.chains.len();
        return Sync {
            script: full_script.to_string(),
            written: Written { table: new, ..Default::default() },
            full: true,
            chains_changed,
        };
    };
    let old = &prev.table;
    let mut s = String::new();
    let mut written = Written { table: new.clone(), ..Default::default() };
    let t = TABLE;
    // Last sync's leftovers are unreferenced by now, unless they came back.
    for c in prev.doomed_chains.iter().filter(|c| !new.chains.contains_key(*c)) {
        let _ = writeln!(s, "delete chain ip {t} {c}");
    }
    for set in prev.doomed_sets.iter().filter(|c| !new.sets.contains_key(*c)) {
        let _ = writeln!(s, "delete set ip {t} {set}");
    }
    // New sets and chains first, so rules and map elements can point at them.
    let mut body = String::new();
    for (_, block) in new.sets.iter().filter(|(n, _)| !old.sets.contains_key(*n)) {
        body.push_str(block);
    }
    let mut changed = Vec::new();
    for (name, (fp, _)) in &new.chains {
        let came_back = prev.doomed_chains.contains(name);
        match old.chains.get(name) {
            Some((old_fp, _)) if old_fp == fp && !came_back && !rewrite => {}
            Some(_) => {
                let _ = writeln!(s, "flush chain ip {t} {name}");
                changed.push(name);
            }
            None if came_back => {
                let _ = writeln!(s, "flush chain ip {t} {name}");
                changed.push(name);
            }
            None => {
                let _ = writeln!(s, "add chain ip {t} {name}");
                changed.push(name);
            }
        }
    }
    for name in &changed {
        body.push_str(&new.chains[*name].1);
    }
    if !body.is_empty() {
        let _ = write!(s, "table ip {t} {{\n{body}}}\n");
    }
    // Map elements: deletions first (a changed verdict is a delete and an add).
    for (map, (_, elements)) in &new.maps {
        if rewrite {
            let _ = writeln!(s, "flush map ip {t} {map}");
        }
        let before = old.maps.get(map).map(|(_, e)| e).filter(|_| !rewrite);
        let gone: Vec<&String> =
            before.into_iter().flatten().filter(|(k, v)| elements.get(*k) != Some(*v)).map(|(k, _)| k).collect();
        if !gone.is_empty() {
            let keys: Vec<&str> = gone.iter().map(|k| k.as_str()).collect();
            let _ = writeln!(s, "delete element ip {t} {map} {{ {} }}", keys.join(", "));
        }
        let added: Vec<String> = elements
            .iter()
            .filter(|(k, v)| before.and_then(|b| b.get(*k)) != Some(*v))
            .map(|(k, v)| format!("{k} : {v}"))
            .collect();
        if !added.is_empty() {
            let _ = writeln!(s, "add element ip {t} {map} {{ {} }}", added.join(", "));
        }
    }
    // Chains and sets that are gone: emptied now, deleted by the next sync.
    for name in old.chains.keys().filter(|c| !new.chains.contains_key(*c)) {
        let _ = writeln!(s, "flush chain ip {t} {name}");
        written.doomed_chains.insert(name.clone());
        changed.push(name);
    }
    for name in old.sets.keys().filter(|c| !new.sets.contains_key(*c)) {
        written.doomed_sets.insert(name.clone());
    }
    let chains_changed = changed.len();
    Sync { script: s, written, full: false, chains_changed }
}

/// Sets present in both tables must be declared the same way.
fn sets_compatible(old: &Table, new: &Table) -> bool {
    new.sets.iter().all(|(n, decl)| old.sets.get(n).is_none_or(|d| d == decl))
        && old.maps.iter().all(|(n, (decl, _))| new.maps.get(n).is_some_and(|(d, _)| d == decl))
}

#[cfg(test)]
mod tests;
