//! The page allocator on the real topologies QEMU describes (the fixture
//! ACPI tables), with the memory map qboot gives those VMs.

extern crate std;
use super::*;
use crate::movable::CoreSize;
use crate::setup::Setup;
use crate::test_support::allocator;
use boot_tests::XorShift;
use std::vec;
use std::vec::Vec;

fn req(gfp: Gfp, order: usize, node: Option<NodeId>) -> Request<'static> {
    Request {
        gfp,
        order,
        node,
        cpu_node: 0,
        interleave: false,
        allowed: None,
        pcp: None,
    }
}

fn zone_free(a: &PageAllocator, node: NodeId) -> Vec<u64> {
    a.node(node)
        .unwrap()
        .zones
        .iter()
        .map(|z| z.free_pages())
        .collect()
}

#[test]
fn four_node_asym_zones_match_the_memory_map() {
    let (a, topo) = allocator("four-node-asym", Setup::default());
    // 2.5 GiB, all below 4 GiB; nodes of 256M, 512M, 768M, 1G.
    let n0 = a.node(0).unwrap();
    assert!(n0.zone(ZoneType::Dma).is_populated());
    assert_eq!(n0.zone(ZoneType::Dma).span.end_pfn, 4096);
    assert_eq!(
        n0.present(),
        (256 << 20) / 4096 - 0x61,
        "the 0x9fc00-1M hole"
    );
    let n3 = a.node(3).unwrap();
    assert_eq!(n3.zone(ZoneType::Dma32).present(), (1 << 30) / 4096);
    assert!(
        !n3.zone(ZoneType::Normal).is_populated(),
        "all 2.5 GiB lie below 4 GiB"
    );
    for node in 0..4 {
        let n = a.node(node).unwrap();
        assert_eq!(n.present() * 4096, topo.node_bytes(node) / 4096 * 4096);
        for z in &n.zones {
            assert!(z.managed() <= z.present() && z.present() <= z.span.spanned());
        }
    }
    // Only the first MiB is kept back.
    assert_eq!(
        a.free_pages(),
        a.zones().map(|z| z.present()).sum::<u64>() - 256 + 0x61
    );
}

#[test]
fn zonelists_follow_the_slit_with_linux_tie_breaks() {
    let (a, _) = allocator("four-node-asym", Setup::default());
    let order = |n: NodeId| a.node(n).unwrap().zonelist.nodes().collect::<Vec<_>>();
    assert_eq!(order(0), [0, 1, 2, 3]);
    assert_eq!(
        order(1),
        [1, 2, 0, 3],
        "0 and 2 both at 16: Linux prefers the next id up"
    );
    assert_eq!(order(3), [3, 2, 1, 0]);
    // Zones from the highest type down within a node.
    let zones: Vec<_> = a
        .node(0)
        .unwrap()
        .zonelist
        .iter()
        .take(2)
        .map(|r| r.zone)
        .collect();
    assert_eq!(zones, [ZoneType::Dma32, ZoneType::Dma]);
    let own: Vec<_> = a.node(2).unwrap().zonelist_thisnode.nodes().collect();
    assert_eq!(own, [2]);
}

#[test]
fn memoryless_node_allocates_from_its_nearest_node() {
    let (a, _) = allocator("memless-cpuless", Setup::default());
    let list: Vec<_> = a.node(1).unwrap().zonelist.nodes().collect();
    assert_eq!(
        list,
        [2, 0],
        "distance 20 to both; node 2 has no CPUs, so it wins"
    );
    let got = a.alloc(req(Gfp::KERNEL, 0, Some(1)), &NoReclaim).unwrap();
    assert_eq!(got.node, 2);
    // Preferred zone is on node 2: a hit there, and an other_node for CPU node 0.
    assert_eq!(a.node_stats(2)[NumaStat::Hit as usize], 1);
    assert_eq!(a.node_stats(2)[NumaStat::OtherNode as usize], 1);
    assert_eq!(
        a.alloc(req(Gfp::KERNEL | Gfp::THISNODE, 0, Some(1)), &NoReclaim),
        Err(AllocError::NoEligibleZone)
    );
}

/// The acceptance case, on the host: draining node 0 moves its
/// allocations to node 1, then 2, then 3, and numastat counts the misses
/// on the nodes that served and the foreigns on node 0.
#[test]
fn draining_node_0_falls_back_in_slit_order() {
    let (a, _) = allocator("four-node-asym", Setup::default());
    let before: Vec<_> = (0..4).map(|n| zone_free(&a, n)).collect();
    let mut live = Vec::new();
    let mut visited = Vec::new();
    while let Ok(got) = a.alloc(
        req(Gfp::KERNEL | Gfp::NOWARN, MAX_ORDER, Some(0)),
        &NoReclaim,
    ) {
        if visited.last() != Some(&got.node) {
            visited.push(got.node);
        }
        live.push(got);
    }
    // The fast path (low watermark) walks the nodes in SLIT order; once
    // all are at low, the slow path (min) walks them again in the same
    // order, when the gap between the marks holds an order-10 block.
    assert_eq!(visited[..4], [0, 1, 2, 3]);
    assert!(
        visited.len() == 4 || visited[4..] == [0, 1, 2, 3],
        "{visited:?}"
    );
    let fell_back = live.iter().filter(|g| g.node != 0).count() as u64;
    let stats = |n| a.node_stats(n);
    assert_eq!(stats(0)[NumaStat::Foreign as usize], fell_back);
    let misses: u64 = (1..4).map(|n| stats(n)[NumaStat::Miss as usize]).sum();
    assert_eq!(misses, fell_back);
    assert_eq!(
        stats(0)[NumaStat::Hit as usize],
        live.len() as u64 - fell_back
    );
    assert_eq!(
        stats(0)[NumaStat::LocalNode as usize],
        live.len() as u64 - fell_back
    );
    // Every zone stopped at its watermark, not at zero.
    for z in a.zones().filter(|z| z.is_populated()) {
        assert!(z.free_pages() > 0);
    }
    for g in live {
        a.free(g.pfn, MAX_ORDER, None).unwrap();
    }
    let after: Vec<_> = (0..4).map(|n| zone_free(&a, n)).collect();
    assert_eq!(before, after);
}

/// One node, no fallback: how far each kind of caller gets. Every zone
/// stops at its own floor: the watermark (lowered for reserves) plus the
/// lowmem_reserve it keeps from callers that could have used a higher zone.
#[test]
fn atomic_and_nofail_reach_below_where_kernel_stops() {
    let (a, _) = allocator("one-node", Setup::default());
    let node = a.node(0).unwrap();
    let (dma, dma32) = (node.zone(ZoneType::Dma), node.zone(ZoneType::Dma32));
    let take_all = |gfp: Gfp, live: &mut Vec<u64>| {
        while let Ok(g) = a.alloc(req(gfp | Gfp::NOWARN, 0, Some(0)), &NoReclaim) {
            live.push(g.pfn);
        }
    };
    let kernel_floor = |z: &Zone| z.watermarks().min + z.reserve_for(ZoneType::Normal.index());
    let atomic_floor = |z: &Zone| {
        let m = z.watermarks().min;
        let half = m - m / 2;
        half - half / 4 + z.reserve_for(ZoneType::Normal.index())
    };
    struct FreeWhileWaiting<'b> {
        a: &'b PageAllocator<'static>,
        live: core::cell::RefCell<Vec<u64>>,
        waits: core::cell::Cell<u64>,
    }
    impl Reclaim for FreeWhileWaiting<'_> {
        fn nofail_wait(&self, _attempt: u64) {
            self.waits.set(self.waits.get() + 1);
            if self.waits.get() == 3 {
                for _ in 0..1000 {
                    let pfn = self.live.borrow_mut().pop().unwrap();
                    self.a.free(pfn, 0, None).unwrap();
                }
            }
        }
    }
    let mut live = Vec::new();
    take_all(Gfp::KERNEL, &mut live);
    assert_eq!(
        dma32.free_pages(),
        kernel_floor(dma32),
        "GFP_KERNEL stops at min"
    );
    assert_eq!(
        dma.free_pages(),
        kernel_floor(dma),
        "DMA keeps min + lowmem_reserve"
    );
    // At min, __GFP_NOFAIL uses half the min reserve without waiting.
    let quiet = FreeWhileWaiting {
        a: &a,
        live: Default::default(),
        waits: Default::default(),
    };
    let g = a
        .alloc(req(Gfp::KERNEL | Gfp::NOFAIL, 0, Some(0)), &quiet)
        .unwrap();
    assert_eq!(quiet.waits.get(), 0);
    live.push(g.pfn);
    take_all(Gfp::ATOMIC, &mut live);
    assert!(atomic_floor(dma32) < kernel_floor(dma32));
    assert_eq!(
        dma32.free_pages(),
        atomic_floor(dma32),
        "GFP_ATOMIC gets 5/8 of min"
    );
    assert_eq!(dma.free_pages(), atomic_floor(dma));
    // NOFAIL still succeeds: another caller frees pages while it waits.
    let waiter = FreeWhileWaiting {
        a: &a,
        live: core::cell::RefCell::new(live),
        waits: core::cell::Cell::new(0),
    };
    let got = a
        .alloc(req(Gfp::KERNEL | Gfp::NOFAIL, 0, Some(0)), &waiter)
        .expect("__GFP_NOFAIL never fails");
    assert_eq!(waiter.waits.get(), 3);
    let mut live = waiter.live.into_inner();
    live.push(got.pfn);
    for pfn in live {
        a.free(pfn, 0, None).unwrap();
    }
}

#[test]
fn noretry_fails_after_one_reclaim_pass_and_kernel_retries() {
    struct Counting(
        core::cell::Cell<u32>,
        core::cell::Cell<Option<ReclaimContext>>,
    );
    impl Reclaim for Counting {
        fn direct_reclaim(&self, ctx: ReclaimContext, _order: usize, _node: NodeId) -> u64 {
            self.0.set(self.0.get() + 1);
            self.1.set(Some(ctx));
            0
        }
    }
    let (a, _) = allocator("one-node", Setup::default());
    let mut live = Vec::new();
    while let Ok(g) = a.alloc(req(Gfp::KERNEL, 0, None), &NoReclaim) {
        live.push(g.pfn);
    }
    let run = |gfp: Gfp, order| {
        let r = Counting(Default::default(), Default::default());
        let e = a.alloc(req(gfp, order, None), &r);
        (e, r.0.get(), r.1.get())
    };
    let (e, passes, _) = run(Gfp::KERNEL | Gfp::NORETRY, 0);
    assert_eq!(e, Err(AllocError::NoMemory { reclaim_passes: 1 }));
    assert_eq!(passes, 1);
    let (_, passes, ctx) = run(Gfp::KERNEL, 0);
    assert_eq!(passes, MAX_RECLAIM_RETRIES + 1);
    assert_eq!(ctx, Some(Gfp::KERNEL.reclaim_context()));
    // NOIO and NOFS reach reclaim with their limits, and otherwise behave as GFP_KERNEL.
    let (_, passes, ctx) = run(Gfp::NOIO, 0);
    assert_eq!(passes, MAX_RECLAIM_RETRIES + 1);
    assert!(!ctx.unwrap().may_io && !ctx.unwrap().may_fs);
    let (_, _, ctx) = run(Gfp::NOFS, 0);
    assert!(ctx.unwrap().may_io && !ctx.unwrap().may_fs);
    // Costly orders give up after one pass; atomic callers never reclaim.
    assert_eq!(run(Gfp::KERNEL, 4).1, 1);
    assert_eq!(run(Gfp::ATOMIC, 0).1, 0);
    for pfn in live {
        a.free(pfn, 0, None).unwrap();
    }
}

#[test]
fn the_oom_killer_is_the_last_resort_and_its_kill_is_retried() {
    // A mock killer: each call "kills" by freeing 10 pages of the victim.
    struct Killer<'b> {
        a: &'b PageAllocator<'static>,
        victim: core::cell::RefCell<Vec<u64>>,
        kills: core::cell::Cell<u32>,
        passes: core::cell::Cell<u32>,
    }
    impl Reclaim for Killer<'_> {
        fn direct_reclaim(&self, _c: ReclaimContext, _o: usize, _n: NodeId) -> u64 {
            self.passes.set(self.passes.get() + 1);
            0
        }
        fn out_of_memory(&self, _gfp: Gfp, _order: usize, _allowed: Option<u128>) -> bool {
            self.kills.set(self.kills.get() + 1);
            let mut v = self.victim.borrow_mut();
            for _ in 0..10 {
                match v.pop() {
                    Some(pfn) => {
                        self.a.free(pfn, 0, None).unwrap();
                    }
                    None => return false,
                }
            }
            true
        }
    }
    let (a, _) = allocator("one-node", Setup::default());
    let mut victim = Vec::new();
    while let Ok(g) = a.alloc(req(Gfp::KERNEL, 0, None), &NoReclaim) {
        victim.push(g.pfn);
    }
    let k = Killer {
        a: &a,
        victim: core::cell::RefCell::new(victim),
        kills: Default::default(),
        passes: Default::default(),
    };
    // Only after MAX_RECLAIM_RETRIES + 1 fruitless passes, then it succeeds.
    let g = a.alloc(req(Gfp::KERNEL, 0, None), &k).unwrap();
    assert_eq!(
        (k.kills.get(), k.passes.get()),
        (1, MAX_RECLAIM_RETRIES + 2)
    );
    a.free(g.pfn, 0, None).unwrap();
    // Allocations that may not kill never call it.
    let before = k.kills.get();
    let mut blocked = Vec::new();
    while let Ok(g) = a.alloc(req(Gfp::ATOMIC, 0, None), &NoReclaim) {
        blocked.push(g.pfn);
    }
    for gfp in [
        Gfp::KERNEL | Gfp::NORETRY,
        Gfp::KERNEL | Gfp::THISNODE,
        Gfp::NOFS,
        Gfp::ATOMIC,
    ] {
        assert!(a.alloc(req(gfp, 0, None), &k).is_err(), "{gfp:?}");
    }
    assert!(a.alloc(req(Gfp::KERNEL, 4, None), &k).is_err());
    assert_eq!(k.kills.get(), before);
    for pfn in blocked.into_iter().chain(k.victim.into_inner()) {
        a.free(pfn, 0, None).unwrap();
    }
}

#[test]
fn zone_modifiers_keep_pages_below_their_limits() {
    // 6 GiB: 2 GiB below 4 GiB (nodes 0 to 2), 4 GiB above (nodes 2 to 7).
    let (a, _) = allocator("eight-node-big", Setup::default());
    for _ in 0..100 {
        let g = a
            .alloc(req(Gfp::KERNEL | Gfp::DMA, 0, Some(3)), &NoReclaim)
            .unwrap();
        assert!(g.pfn < 4096);
        assert_eq!(g.node, 0, "only node 0 has a DMA zone");
    }
    let g = a
        .alloc(req(Gfp::KERNEL | Gfp::DMA32, 2, Some(5)), &NoReclaim)
        .unwrap();
    assert!(g.pfn + 4 <= 1 << 20);
    assert_eq!(g.zone, ZoneType::Dma32);
    // Node 5's order is 5, 4, 6, 7 (Linux prefers higher ids among
    // equals), then 0: the first with DMA32 memory.
    assert_eq!(g.node, 0);
    let g = a.alloc(req(Gfp::KERNEL, 0, Some(5)), &NoReclaim).unwrap();
    assert_eq!((g.node, g.zone), (5, ZoneType::Normal));
    assert!(matches!(
        a.alloc(req(Gfp::DMA | Gfp::DMA32, 0, None), &NoReclaim),
        Err(AllocError::BadMask(_))
    ));
    assert_eq!(
        a.alloc(req(Gfp::KERNEL, MAX_ORDER + 1, None), &NoReclaim),
        Err(AllocError::OrderTooLarge)
    );
}

#[test]
fn thisnode_never_falls_back() {
    let (a, _) = allocator("two-node", Setup::default());
    let mut live = Vec::new();
    while let Ok(g) = a.alloc(req(Gfp::KERNEL | Gfp::THISNODE, 3, Some(1)), &NoReclaim) {
        assert_eq!(g.node, 1);
        live.push(g.pfn);
    }
    assert!(!live.is_empty());
    // Node 1 is at its watermark; without THISNODE the same request goes to node 0.
    let g = a.alloc(req(Gfp::KERNEL, 3, Some(1)), &NoReclaim).unwrap();
    assert_eq!(g.node, 0);
}

#[test]
fn lowmem_reserve_protects_dma_from_normal_allocations() {
    let (a, _) = allocator("one-node", Setup::default());
    let dma = a.node(0).unwrap().zone(ZoneType::Dma);
    let protection = dma.reserve_for(ZoneType::Normal.index());
    assert!(protection > 0);
    let mut live = Vec::new();
    while let Ok(g) = a.alloc(req(Gfp::KERNEL | Gfp::NOWARN, 0, None), &NoReclaim) {
        live.push(g.pfn);
    }
    // GFP_KERNEL could use DMA32 too, so DMA keeps min + reserve back from it.
    assert!(dma.free_pages() > dma.watermarks().min + protection - 1);
    // A GFP_DMA caller still gets DMA pages.
    let g = a
        .alloc(req(Gfp::KERNEL | Gfp::DMA, 0, None), &NoReclaim)
        .unwrap();
    assert_eq!(g.zone, ZoneType::Dma);
}

#[test]
fn bad_frees_are_reported_and_change_nothing() {
    let (a, _) = allocator("two-node", Setup::default());
    let g = a.alloc(req(Gfp::KERNEL, 2, None), &NoReclaim).unwrap();
    let before = a.free_pages();
    assert!(matches!(
        a.free(g.pfn, 1, None),
        Err(FreeError::WrongOrder { .. })
    ));
    assert!(matches!(
        a.free(g.pfn + 1, 0, None),
        Err(FreeError::NotBlockHead { .. })
    ));
    assert!(matches!(
        a.free(1 << 40, 0, None),
        Err(FreeError::OutOfZone { .. })
    ));
    assert!(
        matches!(a.free(200, 0, None), Err(FreeError::Reserved { .. })),
        "first MiB"
    );
    assert_eq!(a.free_pages(), before);
    a.free(g.pfn, 2, None).unwrap();
    assert!(matches!(
        a.free(g.pfn, 2, None),
        Err(FreeError::AlreadyFree { .. })
    ));
    assert_eq!(a.bad_frees.load(Relaxed), 5);
    assert_eq!(a.free_pages(), before + 4);
}

#[test]
fn interleave_goes_round_robin_and_counts_hits() {
    let (a, _) = allocator("four-node-asym", Setup::default());
    let mut nodes = Vec::new();
    for _ in 0..8 {
        let n = a.next_interleave_node().unwrap();
        let mut r = req(Gfp::KERNEL, 0, Some(n));
        r.interleave = true;
        let g = a.alloc(r, &NoReclaim).unwrap();
        nodes.push(g.node);
    }
    assert_eq!(nodes, [0, 1, 2, 3, 0, 1, 2, 3]);
    for n in 0..4 {
        assert_eq!(a.node_stats(n)[NumaStat::InterleaveHit as usize], 2);
    }
}

#[test]
fn kernelcore_makes_a_movable_zone_only_movable_callers_use() {
    let setup = Setup {
        kernelcore: Some(CoreSize::Pages(1 << 18)),
        ..Setup::default()
    };
    let (a, _) = allocator("eight-node-big", setup);
    // 6 GiB: 2 GiB below 4 GiB (nodes 0-2), 4 GiB above (nodes 2-7).
    let movable: u64 = a
        .zones()
        .filter(|z| z.kind == ZoneType::Movable)
        .map(|z| z.present())
        .sum();
    assert!(movable > 0);
    for node in 3..8 {
        let n = a.node(node).unwrap();
        assert!(n.zone(ZoneType::Movable).is_populated(), "node {node}");
    }
    let g = a
        .alloc(req(Gfp::HIGHUSER_MOVABLE, 0, Some(5)), &NoReclaim)
        .unwrap();
    assert_eq!((g.node, g.zone), (5, ZoneType::Movable));
    let g = a.alloc(req(Gfp::KERNEL, 0, Some(5)), &NoReclaim).unwrap();
    assert_ne!(g.zone, ZoneType::Movable);
}

/// Random allocations and frees of every order on every node with every
/// zone modifier: no two live blocks overlap, each lies in the zone it was
/// reported from, and freeing everything restores every zone's blocks.
#[test]
fn random_sequences_across_nodes_keep_every_invariant() {
    let (a, topo) = allocator("four-node-asym", Setup::default());
    let blocks = |a: &PageAllocator| a.zones().map(|z| z.free_state()).collect::<Vec<_>>();
    let initial = blocks(&a);
    let gfps = [
        Gfp::KERNEL,
        Gfp::ATOMIC,
        Gfp::KERNEL | Gfp::DMA32,
        Gfp::KERNEL | Gfp::DMA,
        Gfp::NOIO,
    ];
    let mut rng = XorShift(0x5eed);
    let mut live: std::collections::BTreeMap<u64, (usize, ZoneType)> = Default::default();
    for step in 0..20_000 {
        if live.is_empty() || rng.next_u64() % 5 < 3 {
            let order = (rng.next_u64() % (MAX_ORDER as u64 + 1)) as usize;
            let gfp = gfps[(rng.next_u64() % gfps.len() as u64) as usize] | Gfp::NOWARN;
            let node = (rng.next_u64() % 5) as usize;
            let r = Request {
                gfp,
                order,
                node: (node < 4).then_some(node),
                cpu_node: (rng.next_u64() % 4) as usize,
                interleave: false,
                allowed: None,
                pcp: None,
            };
            if let Ok(g) = a.alloc(r, &NoReclaim) {
                let z = a.node(g.node).unwrap().zone(g.zone);
                assert!(z.contains(g.pfn) && z.contains(g.pfn + (1 << order) - 1));
                assert!(g.zone <= gfp.zone().unwrap());
                assert_eq!(topo.node_of_addr(g.pfn * 4096), Some(g.node));
                if let Some((&p, &(o, _))) = live.range(..=g.pfn).next_back() {
                    assert!(p + (1 << o) <= g.pfn, "step {step}: overlap");
                }
                if let Some((&p, _)) = live.range(g.pfn..).next() {
                    assert!(g.pfn + (1 << order) <= p, "step {step}: overlap");
                }
                live.insert(g.pfn, (order, g.zone));
            }
        } else {
            let k = (rng.next_u64() as usize) % live.len();
            let (&pfn, &(order, zone)) = live.iter().nth(k).unwrap();
            live.remove(&pfn);
            assert_eq!(a.free(pfn, order, None).unwrap().kind, zone);
        }
        if step % 1000 == 0 {
            let used: u64 = live.values().map(|&(o, _)| 1u64 << o).sum();
            let total: u64 = a.zones().map(|z| z.managed()).sum();
            assert_eq!(a.free_pages() + used, total);
        }
    }
    for (pfn, (order, _)) in live {
        a.free(pfn, order, None).unwrap();
    }
    assert_eq!(blocks(&a), initial, "merging restores the original blocks");
}

fn pcp_set(a: &PageAllocator) -> &'static [crate::pcp::PerCpuPages] {
    (0..a.nr_pcp_zones())
        .map(|_| crate::pcp::PerCpuPages::new())
        .collect::<Vec<_>>()
        .leak()
}

use crate::pcp::single_threaded as own;

/// Two CPUs with their own page lists, freeing each other's blocks: no
/// block is handed out twice, lists stay within high, and after draining
/// every zone has exactly its original blocks again.
#[test]
fn per_cpu_lists_keep_every_invariant_and_drain_back() {
    let (a, _) = allocator("two-node", Setup::default());
    let initial: Vec<_> = a.zones().map(|z| z.free_state()).collect();
    let cpus = [pcp_set(&a), pcp_set(&a)];
    let mut rng = XorShift(77);
    let mut live: std::collections::BTreeMap<u64, usize> = Default::default();
    for _ in 0..20_000 {
        let cpu = (rng.next_u64() % 2) as usize;
        if live.is_empty() || rng.next_u64().is_multiple_of(2) {
            let order = (rng.next_u64() % 5) as usize;
            let mut r = req(Gfp::KERNEL, order, Some(cpu));
            r.pcp = Some(own(cpus[cpu]));
            let g = a.alloc(r, &NoReclaim).unwrap();
            if let Some((&p, &o)) = live.range(..=g.pfn).next_back() {
                assert!(p + (1 << o) <= g.pfn, "overlap");
            }
            if let Some((&p, _)) = live.range(g.pfn..).next() {
                assert!(g.pfn + (1 << order) <= p, "overlap");
            }
            live.insert(g.pfn, order);
        } else {
            let k = (rng.next_u64() as usize) % live.len();
            let (&pfn, &order) = live.iter().nth(k).unwrap();
            live.remove(&pfn);
            a.free(pfn, order, Some(own(cpus[cpu]))).unwrap();
        }
        for set in cpus {
            for z in a.zones().filter(|z| z.is_populated()) {
                let count = set[z.pcp_index].count();
                assert!(
                    count <= z.pcp_high_max() + z.pcp_batch() + (1 << 3),
                    "{count} pages on a list"
                );
            }
        }
    }
    for (pfn, order) in live {
        a.free(pfn, order, Some(own(cpus[0]))).unwrap();
    }
    for set in cpus {
        assert!(a.drain_pcp(own(set)));
    }
    let after: Vec<_> = a.zones().map(|z| z.free_state()).collect();
    assert_eq!(after, initial);
}

#[test]
fn bad_frees_are_caught_before_a_block_reaches_a_per_cpu_list() {
    let (a, _) = allocator("one-node", Setup::default());
    let lists = pcp_set(&a);
    let mut r = req(Gfp::KERNEL, 1, None);
    r.pcp = Some(own(lists));
    let g = a.alloc(r, &NoReclaim).unwrap();
    assert_eq!(
        a.free(g.pfn, 0, Some(own(lists))).err(),
        Some(FreeError::WrongOrder {
            pfn: g.pfn,
            allocated: 1,
            freed: 0
        })
    );
    a.free(g.pfn, 1, Some(own(lists))).unwrap();
    // The block now sits on this CPU's list: a second free is a double free.
    assert_eq!(
        a.free(g.pfn, 1, Some(own(lists))).err(),
        Some(FreeError::AlreadyFree { pfn: g.pfn })
    );
    assert_eq!(
        a.free(g.pfn + 1, 0, None).err(),
        Some(FreeError::NotBlockHead { pfn: g.pfn + 1 })
    );
    assert_eq!(a.bad_frees.load(Relaxed), 3);
}

#[test]
fn an_allocation_that_would_fail_drains_the_per_cpu_lists_first() {
    let (a, _) = allocator("one-node", Setup::default());
    let lists = pcp_set(&a);
    // Park pages on the list, then exhaust the zone from another "CPU".
    let mut r = req(Gfp::KERNEL, 0, None);
    r.pcp = Some(own(lists));
    let g = a.alloc(r, &NoReclaim).unwrap();
    a.free(g.pfn, 0, Some(own(lists))).unwrap();
    let parked: u32 = lists.iter().map(|l| l.count()).sum();
    assert!(parked > 1);
    let mut held = Vec::new();
    while let Ok(g) = a.alloc(req(Gfp::KERNEL, 0, None), &NoReclaim) {
        held.push(g.pfn);
    }
    // The list-holding CPU still gets pages: its own list first, and when
    // that runs out, the drain gives the parked pages back.
    let mut got = 0;
    while a.alloc(r, &NoReclaim).is_ok() {
        got += 1;
    }
    assert!(got >= parked as usize, "{got} < {parked}");
    assert_eq!(lists.iter().map(|l| l.count()).sum::<u32>(), 0);
}

/// The zone map answers as the search over the sorted zones does, at
/// every zone edge and inside every zone, on every fixture VM.
#[test]
fn the_zone_map_finds_the_zone_of_every_frame() {
    for fixture in [
        "one-node",
        "two-node",
        "four-node-asym",
        "memless-cpuless",
        "eight-node-big",
        "hotplug-dimm",
        "nvdimm",
    ] {
        let (a, _) = allocator(fixture, Setup::default());
        let end = a.zones().map(|z| z.span.end_pfn).max().unwrap();
        let mut probes: Vec<u64> = vec![0, 1, end - 1, end, end + 1, end << 4];
        for z in a.zones().filter(|z| z.is_populated()) {
            for p in [z.span.start_pfn, z.span.end_pfn] {
                probes.extend([p.saturating_sub(1), p, p + 1]);
            }
            probes.push((z.span.start_pfn + z.span.end_pfn) / 2);
        }
        for pfn in probes {
            let mapped = a.zone_of(pfn).map(|z| (z.node, z.kind));
            let searched = a.search_zone(pfn).map(|z| (z.node, z.kind));
            let linear = a
                .zones()
                .find(|z| z.is_populated() && z.contains(pfn))
                .map(|z| (z.node, z.kind));
            assert_eq!(mapped, linear, "{fixture}: pfn {pfn:#x}");
            assert_eq!(searched, linear, "{fixture}: pfn {pfn:#x}");
        }
    }
}

/// The fast paths serve the CPU's own lists once the slow path refilled
/// them, count numa_hit and local_node per CPU exactly as the zone's
/// counters would, keep the double-free check, and stand aside (leaving
/// everything as it was) when the lists are in use under them.
#[test]
fn fast_paths_use_the_lists_count_events_and_keep_the_checks() {
    let (a, _) = allocator("two-node", Setup::default());
    let lists = pcp_set(&a);
    assert!(a.register_pcp(0, lists));
    let before = a.node_stats(1);
    // Empty lists: the fast path declines, the slow path refills.
    assert_eq!(a.alloc_fast(own(lists), 1, 1, Gfp::KERNEL, 0), None);
    let mut r = req(Gfp::KERNEL, 0, None);
    r.cpu_node = 1;
    r.pcp = Some(own(lists));
    let first = a.alloc(r, &NoReclaim).unwrap();
    assert_eq!(first.node, 1);
    let mut got = vec![first.pfn];
    for _ in 0..5 {
        let pfn = a
            .alloc_fast(own(lists), 1, 1, Gfp::KERNEL, 0)
            .expect("refilled");
        assert_eq!(a.zone_of(pfn).unwrap().node, 1);
        got.push(pfn);
    }
    let after = a.node_stats(1);
    assert_eq!(
        after[NumaStat::Hit as usize] - before[NumaStat::Hit as usize],
        6
    );
    assert_eq!(
        after[NumaStat::LocalNode as usize] - before[NumaStat::LocalNode as usize],
        6
    );
    // From node 0's CPU the same zone is remote: other_node.
    let remote = a.alloc_fast(own(lists), 0, 0, Gfp::KERNEL, 0);
    assert!(
        remote.is_none(),
        "node 0's first zone has no blocks on these lists"
    );
    // A wrong order or a double free is left to the slow path's report.
    assert!(!a.free_fast(own(lists), got[0], 1));
    assert!(a.free_fast(own(lists), got[0], 0));
    assert!(!a.free_fast(own(lists), got[0], 0), "a double free");
    assert_eq!(
        a.free(got[0], 0, Some(own(lists))).err(),
        Some(FreeError::AlreadyFree { pfn: got[0] })
    );
    // An interrupt over the user of the lists: both fast paths stand
    // aside and the slow paths go to the buddy allocator.
    let zone = a.zone_of(got[1]).unwrap();
    let guard = own(lists).enter(zone.pcp_index, zone.pcp_links).unwrap();
    let parked = guard.count();
    assert!(!a.free_fast(own(lists), got[1], 0));
    assert_eq!(a.alloc_fast(own(lists), 1, 1, Gfp::KERNEL, 0), None);
    let buddy_free = zone.free_pages();
    a.free(got[1], 0, Some(own(lists))).unwrap();
    assert_eq!(
        zone.free_pages(),
        buddy_free + 1,
        "straight to the buddy allocator"
    );
    assert!(!a.drain_pcp(own(lists)), "a drain over the user is refused");
    drop(guard);
    assert_eq!(lists[zone.pcp_index].count(), parked);
    assert!(a.pcp_bypasses.load(Relaxed) >= 1);
    for &pfn in &got[2..] {
        assert!(a.free_fast(own(lists), pfn, 0));
    }
    assert!(a.drain_pcp(own(lists)));
    assert_eq!(a.parked_pages(zone), 0);
}

/// Orders the lists do not keep come straight from the first zone's
/// buddy allocator, counted as the slow path would count them, and go
/// back through the ordinary free.
#[test]
fn the_buddy_fast_path_serves_large_orders_from_the_first_zone() {
    let (a, _) = allocator("two-node", Setup::default());
    let lists = pcp_set(&a);
    assert!(a.register_pcp(0, lists));
    assert_eq!(
        a.alloc_buddy_fast(own(lists), 1, 1, Gfp::KERNEL, 3),
        None,
        "the lists' orders"
    );
    assert_eq!(
        a.alloc_buddy_fast(own(lists), 1, 1, Gfp::KERNEL, MAX_ORDER + 1),
        None
    );
    let before = a.node_stats(1);
    let free_before = zone_free(&a, 1);
    let pfn = a
        .alloc_buddy_fast(own(lists), 1, 1, Gfp::KERNEL, 9)
        .unwrap();
    assert_eq!(pfn % 512, 0, "naturally aligned");
    let zone = a.zone_of(pfn).unwrap();
    assert_eq!(
        (zone.node, zone.kind),
        (1, ZoneType::Dma32),
        "node 1 lies below 4 GiB"
    );
    let after = a.node_stats(1);
    assert_eq!(
        after[NumaStat::Hit as usize] - before[NumaStat::Hit as usize],
        1
    );
    assert_eq!(
        after[NumaStat::LocalNode as usize] - before[NumaStat::LocalNode as usize],
        1
    );
    assert!(a.free(pfn, 8, Some(own(lists))).is_err(), "wrong order");
    a.free(pfn, 9, Some(own(lists))).unwrap();
    assert_eq!(zone_free(&a, 1), free_before);
}

/// A huge block freed on a CPU waits on its huge list (one block, outside
/// `high`, counted as parked) and the next huge allocation there takes it
/// without the zone; a second free goes to the zone, as does a drain.
#[test]
fn huge_blocks_cycle_through_the_per_cpu_huge_list() {
    let (a, _) = allocator("two-node", Setup::default());
    let lists = pcp_set(&a);
    assert!(a.register_pcp(0, lists));
    let free_before = zone_free(&a, 1);
    assert_eq!(
        a.alloc_fast(own(lists), 1, 1, Gfp::KERNEL, 9),
        None,
        "an empty huge list: the zone's buddy path serves it"
    );
    assert_eq!(a.alloc_fast(own(lists), 1, 1, Gfp::KERNEL, 8), None);
    let first = a
        .alloc_buddy_fast(own(lists), 1, 1, Gfp::KERNEL, 9)
        .unwrap();
    let second = a
        .alloc_buddy_fast(own(lists), 1, 1, Gfp::KERNEL, 9)
        .unwrap();
    let zone = a.zone_of(first).unwrap();
    assert!(!a.free_fast(own(lists), first, 8), "wrong order");
    assert!(a.free_fast(own(lists), first, 9));
    assert_eq!(a.parked_pages(zone), 512, "the block counts as parked");
    assert!(!a.free_fast(own(lists), first, 9), "a double free");
    assert!(
        !a.free_fast(own(lists), second, 9),
        "the huge list holds one block"
    );
    a.free(second, 9, Some(own(lists))).unwrap();
    let before = a.node_stats(1);
    assert_eq!(a.alloc_fast(own(lists), 1, 1, Gfp::KERNEL, 9), Some(first));
    let after = a.node_stats(1);
    assert_eq!(
        after[NumaStat::Hit as usize] - before[NumaStat::Hit as usize],
        1
    );
    assert_eq!(a.parked_pages(zone), 0);
    assert!(a.free_fast(own(lists), first, 9));
    assert!(a.drain_pcp(own(lists)));
    assert_eq!(a.parked_pages(zone), 0);
    assert_eq!(zone_free(&a, 1), free_before, "everything back");
}

/// The bulk path fills a request from the CPU's list, refilling it from
/// the zone as it runs dry (taking from the zone directly while more than
/// a refill's worth is wanted), counts every page as the fast path does,
/// serves another node's memory from this CPU's list of that zone, and
/// stops at the watermark for the caller to go the slow way.
#[test]
fn bulk_allocation_refills_as_it_goes_and_stops_at_the_watermark() {
    let (a, _) = allocator("two-node", Setup::default());
    let lists = pcp_set(&a);
    assert!(a.register_pcp(0, lists));
    let before = a.node_stats(1);
    let mut got = Vec::new();
    let n = a.alloc_bulk(own(lists), 0, 1, Gfp::KERNEL, 1000, |pfn| got.push(pfn));
    assert_eq!(n, 1000);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 1000, "no page twice");
    assert!(got.iter().all(|&p| a.zone_of(p).unwrap().node == 1));
    let after = a.node_stats(1);
    assert_eq!(
        after[NumaStat::Hit as usize] - before[NumaStat::Hit as usize],
        1000
    );
    assert_eq!(
        after[NumaStat::OtherNode as usize] - before[NumaStat::OtherNode as usize],
        1000,
        "a node-0 CPU"
    );
    // Far more than a refill's worth from an empty list: the pages came
    // straight from the zone, and none were left parked on the list.
    let zone = a.zone_of(got[0]).unwrap();
    assert_eq!(a.parked_pages(zone), 0);
    // A small request refills the list, and the rest of the batch waits
    // there for the next.
    let mut few = Vec::new();
    assert_eq!(
        a.alloc_bulk(own(lists), 0, 1, Gfp::KERNEL, 5, |pfn| few.push(pfn)),
        5
    );
    assert!(a.parked_pages(zone) > 0);
    for &p in &few {
        a.free(p, 0, Some(own(lists))).unwrap();
    }
    for &p in &got {
        a.free(p, 0, Some(own(lists))).unwrap();
    }
    // Exhaust: the bulk path stops above the low watermark.
    let mut all = Vec::new();
    let n = a.alloc_bulk(own(lists), 0, 1, Gfp::KERNEL, usize::MAX, |pfn| {
        all.push(pfn)
    });
    assert_eq!(n, all.len());
    assert!(
        zone.free_pages() <= zone.watermarks().low + zone.pcp_batch() as u64,
        "{} free",
        zone.free_pages()
    );
    assert!(
        zone.free_pages() + a.parked_pages(zone) >= zone.watermarks().low - zone.pcp_batch() as u64
    );
    for &p in &all {
        a.free(p, 0, None).unwrap();
    }
}

/// Memory hot-added to the hotplug-dimm VM (its SRAT marks [4 GiB, 14 GiB)
/// hot-pluggable): onlined in node 1's hot-plug zone, movable requests
/// bound to the node land there, GFP_KERNEL never does, and ranges that
/// are misaligned, outside the span or already online are refused.
#[test]
fn hot_added_memory_comes_online_as_zone_movable_and_serves_only_movable_requests() {
    let (a, topo) = allocator("hotplug-dimm", Setup::default());
    let hot = a.node(1).unwrap().zone(ZoneType::Movable);
    assert!(hot.is_hotplug() && !hot.is_populated());
    assert_eq!(hot.span.start_pfn, (4u64 << 30) / 4096);
    let before = (
        a.totalram_pages(),
        a.min_free_kbytes(),
        a.node(1).unwrap().zone(ZoneType::Normal).watermarks(),
    );
    let (s, e) = (hot.span.start_pfn, hot.span.start_pfn + (512 << 20) / 4096);
    assert_eq!(
        a.online_range(1, s + 1, e, &topo),
        Err(OnlineError::BadRange)
    );
    assert_eq!(
        a.online_range(1, s, hot.span.end_pfn + 1024, &topo),
        Err(OnlineError::BadRange)
    );
    assert_eq!(a.online_range(1, s, e, &topo), Ok(e - s));
    assert_eq!(a.online_range(1, s, e, &topo), Err(OnlineError::Overlaps));
    assert_eq!(a.online_range(0, s, e, &topo), Err(OnlineError::Overlaps));
    assert!(hot.is_populated() && hot.present() == e - s && hot.managed() == e - s);
    assert_eq!(a.totalram_pages(), before.0 + (e - s));
    // Watermarks were computed again with the new memory counted.
    assert!(hot.watermarks().min > 0 && hot.pcp_batch() > 1);
    assert!(a.min_free_kbytes() >= before.1);
    let first = a.node(1).unwrap().zonelist_thisnode.iter().next().unwrap();
    assert_eq!((first.node, first.zone), (1, ZoneType::Movable));
    assert!(a.zonelist_generation() >= 2);
    let inside = |pfn: u64| (s..e).contains(&pfn);
    let mut held = Vec::new();
    for _ in 0..4096 {
        let g = a
            .alloc(req(Gfp::KERNEL | Gfp::THISNODE, 0, Some(1)), &NoReclaim)
            .unwrap();
        assert!(
            !inside(g.pfn),
            "GFP_KERNEL page {:#x} in hot-added memory",
            g.pfn
        );
        held.push(g.pfn);
    }
    for _ in 0..4096 {
        let g = a
            .alloc(
                req(Gfp::HIGHUSER_MOVABLE | Gfp::THISNODE, 0, Some(1)),
                &NoReclaim,
            )
            .unwrap();
        assert!(
            inside(g.pfn),
            "movable page {:#x} outside hot-added memory",
            g.pfn
        );
        assert_eq!(
            a.zone_of(g.pfn).map(|z| (z.node, z.kind)),
            Some((1, ZoneType::Movable))
        );
        held.push(g.pfn);
    }
    // A whole order-10 block from the new memory, too.
    let big = a
        .alloc(
            req(Gfp::HIGHUSER_MOVABLE | Gfp::THISNODE, MAX_ORDER, Some(1)),
            &NoReclaim,
        )
        .unwrap();
    assert!(inside(big.pfn));
    a.free(big.pfn, MAX_ORDER, None).unwrap();
    for pfn in held {
        a.free(pfn, 0, None).unwrap();
    }
    assert_eq!(hot.free_pages(), e - s);
    // A second range, not adjacent to the first, comes online beside it.
    let (s2, e2) = (e + 1024, e + 1024 + (256 << 20) / 4096);
    assert_eq!(a.online_range(1, s2, e2, &topo), Ok(e2 - s2));
    assert_eq!(hot.online_ranges().count(), 2);
    assert!(
        a.zone_of(e).is_none(),
        "the hole between the ranges is in no zone"
    );
    assert!(a.zone_of(s2).is_some());
    assert!(matches!(
        a.free(e + 10, 0, None),
        Err(FreeError::OutOfZone { .. })
    ));
}

#[test]
fn an_isolated_hot_added_range_goes_offline_once_empty_and_can_come_back() {
    let (a, topo) = allocator("hotplug-dimm", Setup::default());
    let hot = a.node(1).unwrap().zone(ZoneType::Movable);
    let movable = || req(Gfp::HIGHUSER_MOVABLE | Gfp::THISNODE, 0, Some(1));
    let block = 1u64 << MAX_ORDER;
    let (s, e) = (hot.span.start_pfn, hot.span.start_pfn + 16 * block);
    let (s2, e2) = (e, e + 16 * block);
    a.online_range(1, s, e, &topo).unwrap();
    a.online_range(1, s2, e2, &topo).unwrap();
    let ram = a.totalram_pages();
    // One page held in the first range (the others given back).
    let mut others = Vec::new();
    let held = loop {
        let g = a.alloc(movable(), &NoReclaim).unwrap();
        if (s..e).contains(&g.pfn) {
            break g;
        }
        others.push(g.pfn);
    };
    for pfn in others {
        a.free(pfn, 0, None).unwrap();
    }
    assert_eq!(
        a.isolate_range(1, s, e - block),
        Err(OfflineError::NotOnline),
        "only a range that came online, whole"
    );
    assert!(a.isolate_range(0, s, e).is_err(), "not online on node 0");
    a.isolate_range(1, s, e).unwrap();
    // Nothing comes from the isolated range now, and the watermarks no
    // longer count it as free.
    assert!(hot.nr_free.load(Relaxed) <= e2 - s2);
    for _ in 0..64 {
        let g = a.alloc(movable(), &NoReclaim).unwrap();
        assert!((s2..e2).contains(&g.pfn), "pfn {:#x}", g.pfn);
        a.free(g.pfn, 0, None).unwrap();
    }
    assert_eq!(
        a.offline_range(1, s, e, &topo),
        Err(OfflineError::Busy { pfn: held.pfn })
    );
    a.free(held.pfn, 0, None).unwrap();
    let generation = a.zonelist_generation();
    assert_eq!(a.offline_range(1, s, e, &topo), Ok(e - s));
    assert_eq!(hot.online_ranges().collect::<Vec<_>>(), [(s2, e2)]);
    assert_eq!((hot.present(), hot.managed()), (e2 - s2, e2 - s2));
    assert_eq!(a.totalram_pages(), ram - (e - s));
    assert!(a.zonelist_generation() > generation);
    assert!(a.zone_of(s).is_none() && a.zone_of(s2).is_some());
    assert!(matches!(
        a.free(held.pfn, 0, None),
        Err(FreeError::OutOfZone { .. })
    ));
    assert_eq!(
        a.offline_range(1, s, e, &topo),
        Err(OfflineError::NotOnline)
    );
    // The second range goes too, undone once first; then the zone is
    // empty and out of the zonelists.
    a.isolate_range(1, s2, e2).unwrap();
    a.undo_isolate_range(1, s2, e2).unwrap();
    let g = a.alloc(movable(), &NoReclaim).unwrap();
    assert!((s2..e2).contains(&g.pfn));
    a.free(g.pfn, 0, None).unwrap();
    a.isolate_range(1, s2, e2).unwrap();
    assert_eq!(a.offline_range(1, s2, e2, &topo), Ok(e2 - s2));
    assert!(!hot.is_populated());
    let first = a.node(1).unwrap().zonelist_thisnode.iter().next().unwrap();
    assert_ne!(first.zone, ZoneType::Movable);
    // The same memory can arrive again (a DIMM plugged back).
    assert_eq!(a.online_range(1, s, e, &topo), Ok(e - s));
    assert_eq!(hot.online_ranges().collect::<Vec<_>>(), [(s, e)]);
    let g = a.alloc(movable(), &NoReclaim).unwrap();
    assert!((s..e).contains(&g.pfn));
    a.free(g.pfn, 0, None).unwrap();
    assert_eq!(hot.free_pages(), e - s);
}
