//! Envoy's Maglev table (`MaglevTable`): each host walks its own permutation of the table,
//! `offset = xxHash64(address) % M`, `skip = xxHash64(address, seed 1) % (M - 1) + 1`,
//! taking turns in proportion to its normalized weight until every slot is owned.

use super::xxhash::xxh64;

/// A filled Maglev lookup table of endpoint indices.
#[derive(Debug, Clone)]
pub(crate) struct MaglevTable {
    table: Vec<usize>,
}

struct TableBuildEntry {
    index: usize,
    offset: u64,
    skip: u64,
    weight: f64,
    target_weight: f64,
    next: u64,
}

impl MaglevTable {
    /// Builds the table over `hosts` (`(endpoint index, address, weight)`) in the order given,
    /// as Envoy's `OriginalMaglevTable::constructImplementationInternals`.
    pub(crate) fn new(hosts: &[(usize, &str, u32)], table_size: u64) -> Self {
        let total: f64 = hosts.iter().map(|&(_, _, w)| f64::from(w)).sum();
        if hosts.is_empty() || total <= 0.0 || table_size < 2 {
            return Self { table: Vec::new() };
        }
        let mut entries: Vec<TableBuildEntry> = hosts
            .iter()
            .map(|&(index, address, weight)| TableBuildEntry {
                index,
                offset: xxh64(address.as_bytes(), 0) % table_size,
                skip: xxh64(address.as_bytes(), 1) % (table_size - 1) + 1,
                weight: f64::from(weight) / total,
                target_weight: 0.0,
                next: 0,
            })
            .collect();
        let max_weight = entries.iter().map(|e| e.weight).fold(0.0, f64::max);
        let size = table_size as usize;
        let mut slots: Vec<Option<usize>> = vec![None; size];
        let mut filled = 0usize;
        let mut iteration = 1u64;
        while filled < size {
            for entry in entries.iter_mut() {
                if filled >= size {
                    break;
                }
                // A host of maximal weight takes a slot every iteration; one of a third of
                // that weight every third iteration.
                if (iteration as f64) * entry.weight < entry.target_weight {
                    continue;
                }
                entry.target_weight += max_weight;
                let mut slot = entry.permutation(table_size);
                while slots[slot].is_some() {
                    entry.next += 1;
                    slot = entry.permutation(table_size);
                }
                slots[slot] = Some(entry.index);
                entry.next += 1;
                filled += 1;
            }
            iteration += 1;
        }
        Self {
            table: slots.into_iter().flatten().collect(),
        }
    }

    /// The endpoint at `table[hash % size]`.
    pub(crate) fn lookup(&self, hash: u64) -> Option<usize> {
        let size = self.table.len() as u64;
        if size == 0 {
            return None;
        }
        self.table.get((hash % size) as usize).copied()
    }
}

impl TableBuildEntry {
    fn permutation(&self, table_size: u64) -> usize {
        (self.offset.wrapping_add(self.skip.wrapping_mul(self.next)) % table_size) as usize
    }
}
