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

selftest!(
    explicit "compaction",
    fn cached_pages_move_with_compaction_and_read_back_intact() {
        use super::migrate::MIGRATE_STAT;
        use super::pagecache::PageCache;
        use super::selftest_support::CacheGuard;
        use crate::sched::task::Task;
        use core::sync::atomic::Ordering::Relaxed;
        use mm::gfp::Gfp;
        let node = topology().mem_node(numa_node_id());
        const BLOCKS: u32 = 2048;
        let cache = PageCache::create("compact-test", BLOCKS).ok_or(crate::selftest::Failure::Failed)?;
        let _guard = CacheGuard(cache);
        // Holes all over the node: a task fills it, then frees three
        // pages in four; the cache's pages land in those holes.
        let task = Task::create("holes", 0).map_err(|_| crate::selftest::Failure::Failed)?;
        let fill = Gfp::KERNEL | Gfp::THISNODE | Gfp::NORETRY | Gfp::NOWARN;
        while task.alloc_page(fill, node as i32, |_| {}).is_ok() {}
        task.free_pages_where(|pfn, _| pfn % 4 != 0);
        for b in 0..BLOCKS {
            kassert!(cache.read(b, node, Gfp::KERNEL | Gfp::NOWARN).is_ok(), "block {b}");
        }
        task.release_memory();
        drop(task);
        crate::sched::reap_all_dead(1_000_000_000);
        let moved0 = MIGRATE_STAT.pgmigrate_success.load(Relaxed);
        let c = compaction::compact_node(node, None, compaction::Mode::Sync);
        kassert!(c.migrated > 0, "the cache's low pages moved up");
        kassert!(MIGRATE_STAT.pgmigrate_success.load(Relaxed) - moved0 >= c.migrated);
        // Every block reads back as a hit whose bytes are its block's.
        let hits = cache.stats.hits.load(Relaxed);
        for b in 0..BLOCKS {
            kassert!(cache.read(b, node, Gfp::KERNEL | Gfp::NOWARN).is_ok(), "block {b} after");
        }
        kassert_eq!(cache.stats.hits.load(Relaxed) - hits, BLOCKS as u64, "all still cached");
        kassert_eq!(cache.stats.corrupt.load(Relaxed), 0);
        kprintln!("    # compact_memory on node {node}: {} pages migrated, the cache's {BLOCKS} blocks intact", c.migrated);
        Ok(())
    }
);
