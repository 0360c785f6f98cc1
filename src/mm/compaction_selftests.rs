//! The fragmentation workload as a self-test (kselftest compaction_test's
//! criterion): a node filled with movable task pages, three of every four
//! freed, leaves almost no free 2 MiB block; compaction must then make at
//! least a third of the node allocatable as order-9 blocks. kcompactd on
//! the same workload: woken by an atomic request it makes the block, and a
//! proactive pass brings the node's fragmentation score under its mark.

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
        let c = compaction::compact_node(node, compaction::Goal::WholeZone, compaction::Mode::Sync);
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

selftest!(
    explicit "compaction",
    fn kcompactd_makes_the_block_an_atomic_request_missed_and_compacts_proactively() {
        use super::kcompactd::{self, kcompactd as daemon};
        use super::page_alloc::{__free_pages, alloc_pages_node};
        use crate::bench::fragmentation::{fragmented, NoCompaction};
        use alloc::vec::Vec;
        use core::sync::atomic::Ordering::Relaxed;
        use mm::compaction::score_wmarks;
        use mm::gfp::Gfp;
        let node = topology().mem_node(numa_node_id());
        let k = daemon(node);
        let was = kcompactd::proactiveness();
        let before = free_counts();
        let wakes = compaction::COMPACT_STAT.compact_daemon_wake.load(Relaxed);
        let (runs, migrated) = (k.runs.load(Relaxed), k.migrated.load(Relaxed));
        // A fragmented node, its few order-9 blocks taken by atomic
        // requests, all with kcompactd held off.
        let atomic = Gfp::ATOMIC | Gfp::THISNODE | Gfp::NOWARN;
        let order = PAGEBLOCK_ORDER as u32;
        let mut held = Vec::new();
        let (task, filled, kept) = {
            let _off = NoCompaction::new();
            kcompactd::set_proactiveness(0);
            let f = fragmented(node, u64::MAX).ok_or(crate::selftest::Failure::Failed)?;
            while let Some(p) = alloc_pages_node(node as i32, atomic, order) {
                if held.try_reserve(1).is_err() {
                    __free_pages(p, order);
                    break;
                }
                held.push(p);
            }
            f
        };
        // The next atomic request fails (it may not compact) and wakes
        // kcompactd, whose run makes a block.
        let missed = alloc_pages_node(node as i32, atomic, order);
        kassert!(missed.is_none(), "no order-9 block left on node {node}");
        let woke = crate::sched::wait_for(60_000_000_000, || k.runs.load(Relaxed) > runs && k.is_idle());
        kassert!(woke, "kcompactd{node} ran for the order");
        kassert!(compaction::COMPACT_STAT.compact_daemon_wake.load(Relaxed) > wakes);
        let got = alloc_pages_node(node as i32, atomic, order);
        kassert!(got.is_some(), "an order-9 block after kcompactd's run");
        held.extend(got);
        let by_run = k.migrated.load(Relaxed) - migrated;
        // Proactive compaction: at proactiveness 100 the marks are 5 and
        // 15; setting it runs a pass at once.
        let (low, high) = score_wmarks(100);
        let score0 = compaction::node_score(node);
        kassert!(score0 > high, "node {node} fragmented: score {score0}");
        let passes = k.proactive_passes.load(Relaxed);
        kcompactd::set_proactiveness(100);
        let passed = crate::sched::wait_for(60_000_000_000, || {
            k.proactive_passes.load(Relaxed) > passes && k.is_idle()
        });
        kcompactd::set_proactiveness(was);
        let score1 = compaction::node_score(node);
        kprintln!(
            "    # kcompactd{node}: {by_run} pages migrated for an atomic order-9 request; a proactive pass (marks {low}/{high}) took the score from {score0} to {score1}, {} pages migrated",
            k.migrated.load(Relaxed) - migrated - by_run
        );
        kassert!(passed, "kcompactd{node} ran a proactive pass");
        kassert!(score1 <= high && score1 < score0, "score {score0} -> {score1}");
        let mut intact = 0u64;
        task.for_each_page(|_, w| intact += (w[0] < filled) as u64);
        kassert_eq!(intact, kept, "the task's pages, moved, read back");
        for p in held {
            __free_pages(p, order);
        }
        kassert_eq!(task.release_memory(), kept);
        drop(task);
        crate::sched::reap_all_dead(1_000_000_000);
        let after = free_counts();
        for (n, (b, a)) in before.iter().zip(after.iter()).enumerate() {
            kassert_eq!(a, b, "node {n}: no page lost or leaked");
        }
        Ok(())
    }
);
