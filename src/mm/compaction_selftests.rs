//! The fragmentation workload as a self-test (kselftest compaction_test's
//! criterion): a node filled with movable task pages, three of every four
//! freed, leaves almost no free 2 MiB block; compaction must then make at
//! least a third of the node allocatable as order-9 blocks.

use super::compaction;
use super::page_alloc::allocator;
use super::selftest_support::free_counts;
use crate::bench::fragmentation::fragment_and_compact;
use crate::numa::{numa_node_id, topology};
use crate::{kassert, kassert_eq, kprintln, selftest};
use mm::buddy::PAGEBLOCK_ORDER;

selftest!(
    explicit "compaction",
    fn a_fragmented_node_gives_a_third_of_itself_as_huge_pages_after_compaction() {
        let node = topology().mem_node(numa_node_id());
        let managed: u64 = allocator().node(node).unwrap().zones.iter().map(|z| z.managed()).sum();
        let blocks = managed >> PAGEBLOCK_ORDER;
        // A small round first, so the caches the bookkeeping uses exist
        // before the balance is taken.
        fragment_and_compact(node, 8192)?;
        let before = free_counts();
        let r = fragment_and_compact(node, u64::MAX)?;
        kprintln!(
            "    # node {node}: {} pages filled, {} kept; order-9 blocks: {} of {blocks} without compaction ({} ns an attempt), {} with direct compaction ({} ns an attempt, {} stalls, {} pages migrated)",
            r.filled, r.kept, r.without, r.ns_off, r.with, r.ns_on, r.stalls, r.migrated
        );
        kassert!(r.kept * 5 > r.filled, "a quarter kept: {} of {}", r.kept, r.filled);
        kassert!(r.without * 20 <= blocks, "near zero without compaction: {} of {blocks}", r.without);
        kassert!(r.with * 3 >= blocks, "a third of the node with compaction: {} of {blocks}", r.with);
        kassert!(r.migrated > 0 && r.stalls > 0);
        let after = free_counts();
        for (n, (b, a)) in before.iter().zip(after.iter()).enumerate() {
            kassert_eq!(a, b, "node {n}: no page lost or leaked");
        }
        // compact_memory on the now free memory finds nothing to move.
        let c = compaction::compact_memory();
        kassert_eq!(c.migrated, 0);
        Ok(())
    }
);
