//! Boot-time self-tests of reclaim's cheap parts, on every boot: each
//! node's kswapd on its nearest CPUs, and the page cache's LRU aging.

use super::pagecache::PageCache;
use super::selftest_support::CacheGuard;
use super::vmscan;
use crate::arch::x86_64::percpu;
use crate::sched;
use crate::{kassert, kassert_eq, selftest};
use core::sync::atomic::Ordering::Relaxed;
use mm::gfp::Gfp;

selftest!(
    "vmscan",
    fn every_node_with_memory_has_its_kswapd_on_the_nearest_cpus() {
        let t = crate::numa::topology();
        for n in 0..t.node_count() {
            let k = vmscan::kswapd(n).thread.get();
            kassert_eq!(k.is_some(), t.has_memory(n), "node {n}");
            if let Some(k) = k {
                kassert!(k.has_flag(sched::flags::KSWAPD | sched::flags::MEMALLOC));
                let on = percpu::cpu(k.cpu as usize).unwrap().node;
                let best = (0..t.node_count())
                    .filter(|&m| percpu::online().any(|c| c.node == m))
                    .map(|m| t.distance(n, m))
                    .min()
                    .unwrap();
                kassert_eq!(t.distance(n, on), best, "kswapd{n} on node {on}");
            }
        }
        Ok(())
    }
);

selftest!(
    "vmscan",
    fn the_lru_keeps_referenced_pages_and_drops_the_rest_intact() {
        let node = crate::numa::numa_node_id();
        let Some(cache) = PageCache::create("selftest-lru", 64) else {
            return Err(crate::selftest::Failure::Skipped(
                "no memory for the cache index",
            ));
        };
        let _guard = CacheGuard(cache);
        for b in 0..64 {
            kassert_eq!(cache.read(b, node, Gfp::KERNEL), Ok(()));
        }
        let on = |c: &PageCache| {
            let t = crate::numa::topology();
            (0..t.node_count()).fold((0, 0), |(a, i), n| {
                let (ca, ci, _, _) = c.node_counts(n);
                (a + ca, i + ci)
            })
        };
        kassert_eq!(on(cache), (0, 64), "new pages start inactive");
        // A second read marks a page referenced.
        for b in 0..16 {
            kassert_eq!(cache.read(b, node, Gfp::KERNEL), Ok(()));
        }
        kassert_eq!(cache.write(20, node, Gfp::KERNEL), Ok(()));
        let noio = Gfp::NOIO.reclaim_context();
        let nodes = crate::numa::topology().node_count();
        let pass = |ctx| {
            (0..nodes)
                .map(|n| cache.shrink_lru(n, 64, ctx, false).1)
                .sum::<u64>()
        };
        // The 16 read twice and the written one (a write reads first) were
        // referenced: they move to the active list; the rest are dropped.
        kassert_eq!(pass(noio), 64 - 17);
        let (active, inactive) = on(cache);
        kassert_eq!(active + inactive, 17, "({active}, {inactive})");
        kassert_eq!(cache.stats.activated.load(Relaxed), 17);
        // Unreferenced since, they are aged back and dropped; without I/O
        // the dirty one is passed over every time.
        for _ in 0..4 {
            pass(noio);
        }
        kassert_eq!(on(cache).0 + on(cache).1, 1, "only the dirty page left");
        kassert_eq!(cache.dirty_total(), 1);
        kassert!(cache.stats.dirty_skipped.load(Relaxed) >= 1);
        kassert_eq!(cache.stats.writebacks.load(Relaxed), 0);
        kassert!(cache.stats.deactivated.load(Relaxed) >= 16);
        // With I/O allowed it is written back, then dropped.
        let full = Gfp::KERNEL.reclaim_context();
        for _ in 0..2 {
            pass(full);
        }
        kassert_eq!(on(cache), (0, 0));
        kassert_eq!(cache.stats.writebacks.load(Relaxed), 1);
        // Everything reads back as it was, the written block at its new version.
        for b in 0..64 {
            kassert_eq!(cache.read(b, node, Gfp::KERNEL), Ok(()));
        }
        kassert_eq!(cache.stats.corrupt.load(Relaxed), 0);
        kassert_eq!(cache.stats.refills.load(Relaxed), 128);
        Ok(())
    }
);

selftest!(
    "vmscan",
    fn reclaim_demotes_cold_pages_to_the_lower_tier_and_they_read_back_intact() {
        let tiers = &crate::numa::memory_tiers().tiers;
        let t = crate::numa::topology();
        let Some(node) = (0..t.node_count()).find(|&n| tiers.can_demote(n)) else {
            return Err(crate::selftest::Failure::Skipped(
                "no lower memory tier (needs HMAT: the tiered preset)",
            ));
        };
        if !super::pagecache::DEMOTION_ENABLED.load(Relaxed) {
            return Err(crate::selftest::Failure::Skipped("numa.demotion_enabled=0"));
        }
        let Some(cache) = PageCache::create("selftest-demote", 64) else {
            return Err(crate::selftest::Failure::Skipped(
                "no memory for the cache index",
            ));
        };
        let _guard = CacheGuard(cache);
        // A quarter of them written (dirty, touched once, as the rest):
        // demotion moves them without writeback.
        for b in 0..16 {
            kassert_eq!(cache.write(b, node, Gfp::KERNEL), Ok(()));
        }
        for b in 16..64 {
            kassert_eq!(cache.read(b, node, Gfp::KERNEL), Ok(()));
        }
        kassert_eq!(
            cache.node_counts(node).1,
            64,
            "all 64 inactive on node {node}"
        );
        kassert_eq!(cache.node_counts(node).2, 16);
        let writebacks = cache.stats.writebacks.load(Relaxed);
        // Reclaim's pass over the node, as direct reclaim runs it.
        let (_, freed, demoted) =
            super::pagecache::shrink_node_lru(node, 64, Gfp::KERNEL.reclaim_context());
        kassert_eq!(freed, 64, "node {node} got every frame back");
        kassert_eq!(demoted, 64, "every page had room below");
        kassert_eq!(cache.stats.demoted.load(Relaxed), 64);
        kassert_eq!(
            cache.stats.writebacks.load(Relaxed),
            writebacks,
            "dirty pages moved, not written"
        );
        kassert_eq!(cache.node_counts(node).2, 0, "their dirt moved with them");
        // Where they went: the demotion targets of the node.
        let lower: u64 = numa::hmat::nodes_of(tiers.preferred[node] | tiers.fallback[node])
            .map(|n| cache.node_counts(n).1)
            .sum();
        kassert_eq!(lower, 64);
        let lower_dirty: u64 = numa::hmat::nodes_of(tiers.preferred[node] | tiers.fallback[node])
            .map(|n| cache.node_counts(n).2)
            .sum();
        kassert_eq!(lower_dirty, 16);
        kassert_eq!(cache.node_counts(node).1, 0);
        // Every block reads back from its new page, bytes checked, without
        // a refill.
        let refills = cache.stats.refills.load(Relaxed);
        for b in 0..64 {
            kassert_eq!(cache.read(b, node, Gfp::KERNEL), Ok(()));
        }
        kassert_eq!(cache.stats.refills.load(Relaxed), refills);
        kassert_eq!(cache.stats.corrupt.load(Relaxed), 0);
        Ok(())
    }
);
