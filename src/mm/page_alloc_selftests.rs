//! Boot-time self-tests of the page allocator on this machine's topology:
//! zone limits, node-local data, zonelists against the SLIT, every GFP
//! flag, fallback when a node runs dry, statistics, and bad frees.
//!
//! Every test that takes memory gives it all back and checks that every
//! zone's free count is exactly what it was.

use super::page_alloc::{
    alloc_pages_interleave, allocator, FAILURE_REPORTS, NOFAIL_ORDER_WARNINGS, RECLAIM_CALLS,
};
use super::selftest_support::{free_counts, Held};
use super::*;
use crate::numa::{numa_node_id, topology};
use crate::{kassert, kassert_eq, kprintln, selftest};
use core::sync::atomic::Ordering::Relaxed;
use layout::{virt_to_phys, PAGE_SIZE};
use mm::buddy::MAX_ORDER;
use mm::page_alloc::{ZoneRef, MAX_RECLAIM_RETRIES};
use mm::stats::{NumaStat, NR_NUMA_STATS};
use mm::watermark::AllocFlags;
use mm::zone::{ZoneType, DMA32_END_PFN, DMA_END_PFN};
use numa::{NodeId, MAX_NUMNODES};

fn numa_stats() -> [[u64; NR_NUMA_STATS]; MAX_NUMNODES] {
    core::array::from_fn(|n| allocator().node_stats(n))
}

/// The node this CPU allocates from by default.
fn local_mem_node() -> NodeId {
    topology().mem_node(numa_node_id())
}

selftest!(
    "page_alloc",
    fn zones_keep_to_their_address_limits_and_nodes() {
        let t = topology();
        for z in allocator().zones().filter(|z| z.is_populated()) {
            let (s, e) = (z.span.start_pfn, z.span.end_pfn);
            if z.is_hotplug() {
                // Hot-added memory: each online range inside a range the
                // SRAT marks hot-pluggable, all of it present.
                let mut online = 0;
                for (rs, re) in z.online_ranges() {
                    kassert!(
                        t.hotpluggable()
                            .any(|m| m.start <= rs * PAGE_SIZE && re * PAGE_SIZE <= m.end),
                        "hot-added [{rs:#x}-{re:#x}) outside the SRAT's hot-pluggable ranges"
                    );
                    online += re - rs;
                }
                kassert_eq!(z.present(), online);
                kassert!(z.managed() <= z.present());
                continue;
            }
            match z.kind {
                ZoneType::Dma => kassert!(e <= DMA_END_PFN),
                ZoneType::Dma32 => kassert!(s >= DMA_END_PFN && e <= DMA32_END_PFN),
                ZoneType::Normal => kassert!(s >= DMA32_END_PFN),
                ZoneType::Movable => {}
                ZoneType::Device => {
                    // Persistent memory only, never RAM, never free pages.
                    let pmem = super::pmem::regions();
                    kassert!(
                        pmem.iter()
                            .any(|r| r.start <= s * PAGE_SIZE && e * PAGE_SIZE <= r.end),
                        "ZONE_DEVICE [{s:#x}-{e:#x}) is no persistent-memory region"
                    );
                    kassert_eq!(z.managed(), 0);
                    kassert_eq!(t.node_of_addr(s * PAGE_SIZE), None, "RAM in ZONE_DEVICE");
                    continue;
                }
            }
            kassert_eq!(t.node_of_addr(s * PAGE_SIZE), Some(z.node));
            kassert_eq!(t.node_of_addr((e - 1) * PAGE_SIZE), Some(z.node));
            kassert!(z.managed() <= z.present() && z.present() <= z.span.spanned());
        }
        for n in 0..t.node_count() {
            let node = allocator().node(n);
            kassert!(node.is_some(), "node {n} has no node data");
            let present: u64 = node.unwrap().present();
            kassert_eq!(
                present,
                t.memory_of(n)
                    .map(|m| m.end / PAGE_SIZE - m.start.div_ceil(PAGE_SIZE))
                    .sum::<u64>()
                    + super::memory_hotplug::added_bytes(n) / PAGE_SIZE
            );
        }
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn node_data_and_page_descriptors_live_on_their_node() {
        let t = topology();
        for node in allocator().nodes() {
            let home = t.mem_node(node.id);
            let at = |addr: usize| virt_to_phys(addr as u64).and_then(|p| t.node_of_addr(p));
            kassert_eq!(at(node as *const _ as usize), Some(home));
            for z in node.zones.iter() {
                if let Some(d) = z.descriptors_addr() {
                    kassert_eq!(at(d), Some(home));
                }
            }
        }
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn zonelists_visit_nodes_nearest_first_and_zones_highest_first() {
        let t = topology();
        for node in allocator().nodes() {
            let mut last_distance = 0;
            let mut seen = [false; MAX_NUMNODES];
            for n in node.zonelist.nodes() {
                let d = t.distance(node.id, n);
                kassert!(
                    d >= last_distance,
                    "node {}: {n} at {d} after {last_distance}",
                    node.id
                );
                kassert!(!seen[n], "node {n} twice");
                seen[n] = true;
                last_distance = d;
            }
            for (n, &listed) in seen.iter().enumerate().take(t.node_count()) {
                kassert_eq!(listed, t.has_memory(n), "node {n}");
            }
            kassert_eq!(node.zonelist.nodes().next(), Some(t.mem_node(node.id)));
            let mut prev: Option<ZoneRef> = None;
            for r in node.zonelist.iter() {
                if let Some(p) = prev.filter(|p| p.node == r.node) {
                    kassert!(p.zone > r.zone, "zones of a node from the highest down");
                }
                prev = Some(r);
            }
            kassert!(node
                .zonelist_thisnode
                .iter()
                .all(|r| r.node as usize == node.id));
        }
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn gfp_dma_and_dma32_pages_lie_below_16m_and_4g() {
        let before = free_counts();
        let has_dma = allocator()
            .zones()
            .any(|z| z.kind == ZoneType::Dma && z.managed() > 0);
        {
            let mut held = Held::new();
            match alloc_pages(Gfp::KERNEL | Gfp::DMA | Gfp::NOWARN, 0) {
                Some(p) => {
                    kassert!(p.pfn() < DMA_END_PFN, "GFP_DMA page at {:#x}", p.phys());
                    held.push(p, 0);
                }
                None => kassert!(!has_dma, "GFP_DMA failed with a DMA zone"),
            }
            let p = alloc_pages(Gfp::KERNEL | Gfp::DMA32, 3);
            kassert!(p.is_some());
            let p = p.unwrap();
            kassert!(
                p.pfn() + 8 <= DMA32_END_PFN,
                "GFP_DMA32 block at {:#x}",
                p.phys()
            );
            held.push(p, 3);
            let p = alloc_pages(Gfp::KERNEL, 0).unwrap();
            kassert!(p.zone().unwrap() <= ZoneType::Normal);
            held.push(p, 0);
        }
        kassert_eq!(free_counts(), before);
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn gfp_zero_clears_a_block_that_held_data() {
        // Empty lists: freeing below cannot trim them, so the block stays on top.
        super::page_alloc::drain_all_pages();
        let p = alloc_pages(Gfp::KERNEL, 1).unwrap();
        let addr = page_address(p);
        // SAFETY: the two pages are ours until freed below.
        unsafe { core::ptr::write_bytes(addr, 0xa5, 2 * PAGE_SIZE as usize) };
        __free_pages(p, 1);
        // The free lists are LIFO: the same block comes back.
        let q = alloc_pages(Gfp::KERNEL | Gfp::ZERO, 1).unwrap();
        let same = q == p;
        // SAFETY: q's two pages are ours until freed below.
        let zeroed =
            unsafe { core::slice::from_raw_parts(page_address(q), 2 * PAGE_SIZE as usize) }
                .iter()
                .all(|&b| b == 0);
        __free_pages(q, 1);
        kassert!(same, "expected the block just freed back");
        kassert!(zeroed);
        let addr = get_zeroed_page(Gfp::KERNEL);
        kassert!(addr != 0);
        // SAFETY: one page, ours until freed below.
        let zeroed = unsafe { core::slice::from_raw_parts(addr as *const u8, PAGE_SIZE as usize) }
            .iter()
            .all(|&b| b == 0);
        free_pages(addr, 0);
        kassert!(zeroed);
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn addresses_pages_and_frames_round_trip() {
        let before = free_counts();
        let addr = __get_free_pages(Gfp::KERNEL, 2);
        kassert!(addr != 0 && (addr as u64).is_multiple_of(4 * PAGE_SIZE));
        let page = virt_to_page(addr as *const u8).unwrap();
        kassert_eq!(page_address(page) as usize, addr);
        kassert_eq!(page.nid(), topology().node_of_addr(page.phys()));
        kassert_eq!(page.nid(), Some(local_mem_node()));
        free_pages(addr, 2);
        free_pages(0, 3); // a no-op, as in Linux
        kassert_eq!(free_counts(), before);
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn numa_no_node_is_local_and_counted_as_a_local_hit() {
        let local = local_mem_node();
        let before = numa_stats();
        let p = alloc_pages_node(NUMA_NO_NODE, Gfp::KERNEL, 0).unwrap();
        let after = numa_stats();
        __free_pages(p, 0);
        kassert_eq!(p.nid(), Some(local));
        kassert_eq!(
            after[local][NumaStat::Hit as usize] - before[local][NumaStat::Hit as usize],
            1
        );
        let locality = if local == numa_node_id() {
            NumaStat::LocalNode
        } else {
            NumaStat::OtherNode // a memory-less CPU node
        };
        kassert_eq!(
            after[local][locality as usize] - before[local][locality as usize],
            1
        );
        // An explicit remote node is a hit there, and other_node.
        let t = topology();
        if let Some(remote) = (0..t.node_count()).find(|&n| n != numa_node_id() && t.has_memory(n))
        {
            let before = numa_stats();
            let p = alloc_pages_node(remote as i32, Gfp::KERNEL, 0).unwrap();
            let after = numa_stats();
            __free_pages(p, 0);
            kassert_eq!(p.nid(), Some(remote));
            kassert_eq!(
                after[remote][NumaStat::Hit as usize] - before[remote][NumaStat::Hit as usize],
                1
            );
            kassert_eq!(
                after[remote][NumaStat::OtherNode as usize]
                    - before[remote][NumaStat::OtherNode as usize],
                1
            );
        }
        Ok(())
    }
);

// The acceptance case on every preset: allocations preferring
// node 0 that find it full come from the next node in its zonelist, and
// numastat counts a miss on the serving node and a foreign on node 0.
selftest!(
    "page_alloc",
    fn draining_node_0_falls_back_in_slit_order() {
        let t = topology();
        let home = t.mem_node(0);
        let zonelist = &allocator().node(0).unwrap().zonelist;
        // kcompactd, woken by kswapd as nodes fill, would make blocks on
        // nodes the walk has passed.
        let _no_kcompactd = crate::mm::kcompactd::Paused::new();
        let before_counts = free_counts();
        let mut held = Held::new();
        // The index pages came through this CPU's page list, which keeps
        // a batch back; given back to the buddy allocators now, so that the
        // slow path's own drain cannot rebuild a 4 MiB block on a node the
        // walk already passed (a third walk, seen on three nodes of 1 GiB).
        crate::mm::page_alloc::drain_all_pages();
        let could_serve: [bool; MAX_NUMNODES] = core::array::from_fn(|n| {
            allocator().node(n).is_some_and(|node| {
                node.zones
                    .iter()
                    .filter(|z| z.kind <= ZoneType::Normal)
                    .any(|z| {
                        let (free, blocks) = z.free_state();
                        blocks[MAX_ORDER] > 0
                            && free
                                >= z.floor(ZoneType::Normal, AllocFlags::FAST) + (1 << MAX_ORDER)
                    })
            })
        });
        let before = numa_stats();
        let compacted = || {
            crate::mm::compaction::COMPACT_STAT
                .compact_success
                .load(core::sync::atomic::Ordering::Relaxed)
        };
        let compacted_before = compacted();
        let reclaimed = || {
            use core::sync::atomic::Ordering::Relaxed;
            let v = &crate::mm::vmscan::VMSTAT;
            v.pgsteal_direct.load(Relaxed) + v.pgsteal_kswapd.load(Relaxed)
        };
        let reclaimed_before = reclaimed();
        let reserved = || {
            allocator()
                .zones()
                .map(|z| z.reserved_highatomic())
                .sum::<u64>()
        };
        let reserved_before = reserved();
        // Room for three walks past every node (the check below allows two
        // and one more per block compaction, reclaim or unreserving made).
        let mut visited = [(0usize, 0u64); 3 * MAX_NUMNODES];
        let mut nvisited = 0;
        let mut served = [0u64; MAX_NUMNODES];
        while let Some(p) = alloc_pages_node(0, Gfp::KERNEL | Gfp::NOWARN, MAX_ORDER as u32) {
            let n = p.nid().unwrap();
            if nvisited == 0 || visited[nvisited - 1].0 != n {
                kassert!(nvisited < visited.len(), "{nvisited} runs of one node");
                visited[nvisited] = (n, 0);
                nvisited += 1;
            }
            visited[nvisited - 1].1 += 1;
            served[n] += 1;
            kassert!(held.push(p, MAX_ORDER as u32), "index full");
        }
        let after = numa_stats();
        // One line in one print (another CPU's log line, kswapd's, must
        // not land inside it), formatted without allocating: node 0 is
        // drained and the page balance is checked below.
        struct Walk<'a>(&'a [(NodeId, u64)]);
        impl core::fmt::Display for Walk<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                for (i, (n, count)) in self.0.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " -> " };
                    write!(f, "{sep}node {n} ({count} blocks)")?;
                }
                Ok(())
            }
        }
        kprintln!(
            "    # draining node 0 with order-{MAX_ORDER} blocks: {}",
            Walk(&visited[..nvisited])
        );
        // The fast path walks the zonelist once against the low watermarks,
        // then the slow path once more against min: each walk visits the
        // nodes in zonelist order. Direct compaction (order 10 is costly)
        // may make a block on a node already passed: each success that
        // gave a block can start one more walk.
        let position = |n: NodeId| zonelist.nodes().position(|z| z == n);
        let mut walks = 1;
        for w in visited[..nvisited].windows(2) {
            let (a, b) = (position(w[0].0), position(w[1].0));
            kassert!(
                a.is_some() && b.is_some(),
                "a node outside the zonelist served"
            );
            if b < a {
                walks += 1;
            }
        }
        // So may reclaim (a page cache an earlier suite left, freed by
        // kswapd or direct reclaim as the nodes fill) and the slow path's
        // release of the highatomic reserve (pageblocks an earlier suite's
        // atomic requests reserved): each block's worth can start one more
        // walk.
        let compactions = compacted() - compacted_before;
        let released = reserved_before.saturating_sub(reserved());
        let refills = (reclaimed() - reclaimed_before + released).div_ceil(1 << MAX_ORDER);
        kassert!(
            walks <= 2 + compactions + refills,
            "{walks} walks of the zonelist ({compactions} direct compactions gave a block, {refills} blocks' worth reclaimed or unreserved)"
        );
        if nvisited == 0 {
            return Err(crate::selftest::Failure::Skipped(
                "no node has a free 4 MiB block in this VM",
            ));
        }
        // The home node serves first when it has a block to give (a small
        // node may have none: then the fallback starts at once).
        if could_serve[home] {
            kassert_eq!(visited[0].0, home);
        }
        // Every node that had a 4 MiB block GFP_KERNEL could take served.
        for n in (0..t.node_count()).filter(|&n| could_serve[n]) {
            kassert!(served[n] > 0, "node {n} never used");
        }
        let delta = |n: usize, s: NumaStat| after[n][s as usize] - before[n][s as usize];
        let fell_back: u64 = visited[..nvisited]
            .iter()
            .filter(|v| v.0 != home)
            .map(|v| v.1)
            .sum();
        let from_home: u64 = visited[..nvisited]
            .iter()
            .filter(|v| v.0 == home)
            .map(|v| v.1)
            .sum();
        kprintln!(
            "    # numastat delta: node {home} numa_hit +{} numa_foreign +{}; misses on the others +{}",
            delta(home, NumaStat::Hit),
            delta(home, NumaStat::Foreign),
            (0..t.node_count()).map(|n| delta(n, NumaStat::Miss)).sum::<u64>()
        );
        kassert_eq!(delta(home, NumaStat::Foreign), fell_back);
        kassert_eq!(delta(home, NumaStat::Hit), from_home);
        for n in (0..t.node_count()).filter(|&n| n != home) {
            kassert_eq!(delta(n, NumaStat::Miss), served[n], "node {n}");
        }
        drop(held);
        kassert_eq!(free_counts(), before_counts);
        Ok(())
    }
);

// Empties the local node with __GFP_THISNODE, from the largest blocks
// down, until GFP_KERNEL stops; then checks what each flag may still do.
selftest!(
    "page_alloc",
    fn gfp_flags_at_the_watermarks() {
        let node = local_mem_node();
        let nid = node as i32;
        let here = Gfp::THISNODE | Gfp::NOWARN;
        let before_counts = free_counts();
        let zones = || {
            allocator()
                .node(node)
                .unwrap()
                .zones
                .iter()
                .filter(|z| z.is_populated() && z.kind <= ZoneType::Normal)
        };
        let mut held = Held::new();
        let mut free_before = [0u64; mm::zone::NR_ZONES];
        for z in zones() {
            free_before[z.kind.index()] = z.free_pages();
        }
        held.take_everything(nid, Gfp::KERNEL | here);
        kassert!(!held.full(), "index too small to drain the node");
        // GFP_KERNEL stopped at min + lowmem_reserve in every zone it may
        // use; a zone already below that floor (a small DMA zone under a
        // large Normal one: its reserve exceeds its size) gave nothing.
        let kernel = AllocFlags::slow_path(Gfp::KERNEL);
        for z in zones() {
            let floor = z.floor(ZoneType::Normal, kernel);
            kassert_eq!(
                z.free_pages(),
                floor.min(free_before[z.kind.index()]),
                "{} zone",
                z.kind.name()
            );
        }
        kassert!(alloc_pages_node(nid, Gfp::KERNEL | here, 0).is_none());

        // Reclaim is asked, with the caller's limits, as often as the flags say.
        let passes = || RECLAIM_CALLS.direct_reclaim_passes.load(Relaxed);
        let context = || *RECLAIM_CALLS.last_context.lock();
        let p0 = passes();
        kassert!(alloc_pages_node(nid, Gfp::KERNEL | Gfp::NORETRY | here, 0).is_none());
        kassert_eq!(passes() - p0, 1, "__GFP_NORETRY: one pass, no retries");
        let p0 = passes();
        kassert!(alloc_pages_node(nid, Gfp::KERNEL | here, 0).is_none());
        kassert_eq!(passes() - p0, MAX_RECLAIM_RETRIES as u64 + 1);
        kassert!(alloc_pages_node(nid, Gfp::NOIO | here, 0).is_none());
        let ctx = context().unwrap();
        kassert!(
            ctx.may_sleep && !ctx.may_io && !ctx.may_fs,
            "GFP_NOIO reached reclaim as {ctx:?}"
        );
        kassert!(alloc_pages_node(nid, Gfp::NOFS | here, 0).is_none());
        let ctx = context().unwrap();
        kassert!(
            ctx.may_sleep && ctx.may_io && !ctx.may_fs,
            "GFP_NOFS reached reclaim as {ctx:?}"
        );
        let p0 = passes();
        let p = alloc_pages_node(nid, Gfp::ATOMIC | here, 0);
        kassert!(p.is_some(), "GFP_ATOMIC fails where GFP_KERNEL stopped");
        held.push(p.unwrap(), 0);
        kassert_eq!(passes(), p0, "GFP_ATOMIC never reclaims");

        // __GFP_NOWARN: no report; without it, one report (printed here).
        let reports = FAILURE_REPORTS.load(Relaxed);
        kassert!(alloc_pages_node(nid, Gfp::KERNEL | here, 0).is_none());
        kassert_eq!(FAILURE_REPORTS.load(Relaxed), reports);
        kprintln!("    # an allocation failure report, on purpose:");
        kassert!(alloc_pages_node(nid, Gfp::KERNEL | Gfp::THISNODE | Gfp::NORETRY, 0).is_none());
        kassert_eq!(FAILURE_REPORTS.load(Relaxed), reports + 1);

        // __GFP_NOFAIL succeeds where GFP_KERNEL stopped (half the min reserve).
        let waits = RECLAIM_CALLS.nofail_waits.load(Relaxed);
        let p = alloc_pages_node(nid, Gfp::KERNEL | Gfp::NOFAIL | Gfp::THISNODE, 0);
        kassert!(p.is_some());
        held.push(p.unwrap(), 0);
        kassert_eq!(
            RECLAIM_CALLS.nofail_waits.load(Relaxed),
            waits,
            "no wait needed above min/2"
        );

        // GFP_ATOMIC goes on to 3/8 of min; GFP_KERNEL still gets nothing.
        held.take_everything(nid, Gfp::ATOMIC | here);
        kassert!(!held.full());
        let atomic = AllocFlags::slow_path(Gfp::ATOMIC);
        for z in zones() {
            let floor = z.floor(ZoneType::Normal, atomic);
            kassert_eq!(
                z.free_pages(),
                floor.min(free_before[z.kind.index()]),
                "{} zone",
                z.kind.name()
            );
            kassert!(
                z.floor(ZoneType::Normal, atomic) < z.floor(ZoneType::Normal, kernel)
                    || z.watermarks().min < 2
            );
        }
        kassert!(alloc_pages_node(nid, Gfp::KERNEL | here, 0).is_none());

        // Without __GFP_THISNODE the same request falls back to another node.
        let t = topology();
        let others = (0..t.node_count())
            .filter(|&n| n != node && t.has_memory(n))
            .count();
        match alloc_pages_node(nid, Gfp::KERNEL | Gfp::NOWARN, 0) {
            Some(p) => {
                kassert!(p.nid() != Some(node));
                held.push(p, 0);
            }
            None => kassert_eq!(others, 0),
        }
        if others == 0 {
            kprintln!("    # one node with memory: THISNODE fallback contrast not checked");
        }
        drop(held);
        kassert_eq!(free_counts(), before_counts);
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn nofail_above_order_1_warns() {
        let w = NOFAIL_ORDER_WARNINGS.load(Relaxed);
        let p = alloc_pages(Gfp::KERNEL | Gfp::NOFAIL, 2).unwrap();
        __free_pages(p, 2);
        kassert_eq!(NOFAIL_ORDER_WARNINGS.load(Relaxed), w + 1);
        let p = alloc_pages(Gfp::KERNEL | Gfp::NOFAIL, 1).unwrap();
        __free_pages(p, 1);
        kassert_eq!(NOFAIL_ORDER_WARNINGS.load(Relaxed), w + 1);
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn bad_frees_are_reported_and_change_nothing() {
        let a = allocator();
        let bad = || a.bad_frees.load(Relaxed);
        let p = alloc_pages(Gfp::KERNEL, 1).unwrap();
        let counts = free_counts();
        let b0 = bad();
        __free_pages(p, 0); // wrong order
        __free_pages(Page::from_pfn(p.pfn() + 1), 0); // inside the block
        let image = crate::arch::x86_64::paging::image_layout();
        __free_pages(Page::from_pfn(image.start / PAGE_SIZE), 0); // the kernel image
        __free_pages(Page::from_pfn(1 << 40), 0); // no such frame
        kassert_eq!(bad() - b0, 4);
        kassert_eq!(free_counts(), counts);
        __free_pages(p, 1);
        __free_pages(p, 1); // double free
        kassert_eq!(bad() - b0, 5);
        let mut expected = counts;
        let z = p.zone().unwrap().index();
        expected[p.nid().unwrap()][z] += 2;
        kassert_eq!(free_counts(), expected);
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn impossible_requests_fail_cleanly() {
        let counts = free_counts();
        kassert!(alloc_pages(Gfp::KERNEL | Gfp::NOWARN, MAX_ORDER as u32 + 1).is_none());
        kassert!(alloc_pages(Gfp::KERNEL | Gfp::DMA | Gfp::DMA32, 0).is_none());
        kassert!(alloc_pages_node(MAX_NUMNODES as i32, Gfp::KERNEL, 0).is_none());
        kassert!(alloc_pages_node(-5, Gfp::KERNEL, 0).is_none());
        kassert_eq!(free_counts(), counts);
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn interleave_spreads_over_the_nodes_with_memory() {
        let t = topology();
        let nodes = (0..t.node_count()).filter(|&n| t.has_memory(n)).count();
        let mut held = Held::new();
        let before = numa_stats();
        let mut per_node = [0u32; MAX_NUMNODES];
        for _ in 0..2 * nodes {
            let p = alloc_pages_interleave(Gfp::HIGHUSER_MOVABLE, 0).unwrap();
            per_node[p.nid().unwrap()] += 1;
            held.push(p, 0);
        }
        let after = numa_stats();
        for n in (0..t.node_count()).filter(|&n| t.has_memory(n)) {
            kassert_eq!(per_node[n], 2);
            let hits = after[n][NumaStat::InterleaveHit as usize]
                - before[n][NumaStat::InterleaveHit as usize];
            kassert_eq!(hits, 2);
        }
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn memoryless_nodes_allocate_from_their_nearest_node() {
        let t = topology();
        let mut checked = 0;
        for n in (0..t.node_count()).filter(|&n| !t.has_memory(n)) {
            let p = alloc_pages_node(n as i32, Gfp::KERNEL, 0).unwrap();
            __free_pages(p, 0);
            kassert_eq!(p.nid(), Some(t.mem_node(n)));
            kassert!(
                alloc_pages_node(n as i32, Gfp::KERNEL | Gfp::THISNODE | Gfp::NOWARN, 0).is_none()
            );
            checked += 1;
        }
        if checked == 0 {
            return Err(crate::selftest::Failure::Skipped("no memory-less node"));
        }
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn movable_zone_serves_only_movable_requests() {
        let Some(z) = allocator()
            .zones()
            .find(|z| z.kind == ZoneType::Movable && z.managed() > 0)
        else {
            return Err(crate::selftest::Failure::Skipped(
                "no ZONE_MOVABLE (kernelcore=/movablecore= not given)",
            ));
        };
        let node = z.node as i32;
        let p = alloc_pages_node(node, Gfp::HIGHUSER_MOVABLE | Gfp::THISNODE, 0).unwrap();
        let k = alloc_pages_node(node, Gfp::KERNEL, 0).unwrap();
        __free_pages(p, 0);
        __free_pages(k, 0);
        kassert_eq!(p.zone(), Some(ZoneType::Movable));
        kassert!(k.zone() != Some(ZoneType::Movable));
        Ok(())
    }
);

// alloc_pages_bulk_node on every node with memory, from this CPU: every
// page distinct, on the node the request prefers (the node itself, or
// the nearest with memory GFP_KERNEL may use, as when kernelcore= leaves
// a node only ZONE_MOVABLE), zeroed under __GFP_ZERO, counted as numa_hit
// there; after freeing, every zone's free count is what it was. Up to 300
// pages a node, a quarter of what the preferred node has free.
selftest!(
    "page_alloc",
    fn bulk_allocation_gives_distinct_pages_of_the_node_asked_for() {
        let t = topology();
        const MAX: usize = 300;
        // The lists first: slab pages they took would count as missing.
        let mut pages = alloc::vec::Vec::with_capacity(MAX);
        let mut pfns: alloc::vec::Vec<u64> = alloc::vec::Vec::with_capacity(MAX);
        let before = free_counts();
        let mut tried = 0;
        let gfp = Gfp::KERNEL | Gfp::ZERO;
        for node in (0..t.node_count()).filter(|&n| t.has_memory(n)) {
            let target = allocator().preferred_node(node, gfp);
            let free: u64 = before[target][..=ZoneType::Normal.index()].iter().sum();
            let want = (free as usize / 4).min(MAX);
            if want < 16 {
                continue;
            }
            tried += 1;
            let hits = numa_stats()[target][NumaStat::Hit as usize];
            pages.clear();
            let got = alloc_pages_bulk_node(node as i32, gfp, want, |p| pages.push(p));
            pfns.clear();
            pfns.extend(pages.iter().map(|p| p.pfn()));
            pfns.sort_unstable();
            pfns.dedup();
            let on_node = pages.iter().all(|p| p.nid() == Some(target));
            let zeroed = pages.iter().all(|p| {
                // SAFETY: the page is ours, in the direct map.
                let words =
                    unsafe { core::slice::from_raw_parts(page_address(*p) as *const u64, 512) };
                words.iter().all(|&w| w == 0)
            });
            let hit = numa_stats()[target][NumaStat::Hit as usize] - hits;
            // Everything back before any check can end the test.
            for &p in &pages {
                __free_pages(p, 0);
            }
            kassert_eq!(got, want, "node {node}");
            kassert_eq!(pages.len(), want);
            kassert_eq!(pfns.len(), want, "a page given twice");
            kassert!(on_node, "asked node {node}: a page off node {target}");
            kassert!(zeroed, "a page not zeroed");
            kassert!(hit >= want as u64, "{hit} numa_hit for {want} pages");
        }
        kassert_eq!(free_counts(), before);
        if tried == 0 {
            return Err(crate::selftest::Failure::Skipped(
                "no node has 64 free pages",
            ));
        }
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn per_cpu_high_grows_with_bulk_frees_and_decays_when_idle() {
        let before = free_counts();
        let cpu = crate::arch::x86_64::percpu::cpu_id() as usize;
        let node = local_mem_node();
        let Some(probe) = alloc_pages_node(node as i32, Gfp::KERNEL, 0) else {
            return Err(selftest::Failure::Skipped("no page on the local node"));
        };
        let zone = allocator().zone_of(probe.pfn()).unwrap();
        __free_pages(probe, 0);
        let b = zone.pcp_bounds();
        if b.max < b.min + 4 * b.batch {
            return Err(selftest::Failure::Skipped(
                "the zone is too small for high to grow past high_min",
            ));
        }
        let high = || {
            allocator()
                .pcp_sets()
                .find(|(c, _)| *c == cpu)
                .and_then(|(_, lists)| lists.get(zone.pcp_index))
                .map_or(0, |l| l.high())
        };
        // From high_min: a drain resets it.
        super::page_alloc::drain_all_pages();
        let wanted = (b.min + 4 * b.batch) as usize;
        let mut pages = alloc::vec::Vec::new();
        kassert!(pages.try_reserve_exact(wanted).is_ok());
        while pages.len() < wanted {
            match alloc_pages_node(node as i32, Gfp::KERNEL | Gfp::NOWARN, 0) {
                Some(p) => pages.push(p),
                None => break,
            }
        }
        let got = pages.len();
        for p in pages.drain(..) {
            __free_pages(p, 0);
        }
        drop(pages);
        let grown = high();
        kprintln!(
            "    # CPU {cpu}, {:?} {:?}: {got} pages freed in a row took high from high_min {} to {grown} (high_max {}; zone free {}, high watermark {})",
            zone.node,
            zone.kind,
            b.min,
            b.max,
            zone.free_pages(),
            zone.watermarks().high
        );
        kassert!(got == wanted, "{got} of {wanted} pages");
        kassert!(grown > b.min && grown <= b.max, "high {grown}");
        // Idle for over two decay intervals: the idle loop takes high an
        // eighth of the way back each second.
        crate::sched::sleep_ns(2_500_000_000);
        let decayed = high();
        kprintln!("    #   2.5 s idle: high {decayed}");
        kassert!(
            decayed < grown && decayed >= b.min,
            "high {grown} -> {decayed}"
        );
        super::page_alloc::drain_all_pages();
        kassert_eq!(free_counts(), before);
        Ok(())
    }
);

selftest!(
    "page_alloc",
    fn an_open_kfence_gate_keeps_page_allocations_on_the_fast_path() {
        use super::alloc_hooks::{fault_checks, set, slab_checks, take, FAULTS_ARMED, KFENCE_GATE};
        // KFENCE samples slab objects only, and its gate stays open until a
        // slab allocation takes it: page and vmalloc allocations must not
        // take their checked path for it (a page-only workload would pay
        // it on every allocation). Fault injection still reaches them.
        let was_open = take(KFENCE_GATE);
        if fault_checks() {
            if was_open {
                set(KFENCE_GATE, true);
            }
            return Err(selftest::Failure::Skipped("fault injection is armed"));
        }
        set(KFENCE_GATE, true);
        let (page_checks, slab) = (fault_checks(), slab_checks());
        set(FAULTS_ARMED, true);
        let page_checks_armed = fault_checks();
        set(FAULTS_ARMED, false);
        if !was_open {
            take(KFENCE_GATE);
        }
        kassert!(
            !page_checks,
            "the gate alone sent page allocations to the checked path"
        );
        kassert!(slab, "the gate did not reach the slab allocations");
        kassert!(
            page_checks_armed,
            "armed fault injection did not reach page allocations"
        );
        Ok(())
    }
);
