//! Self-tests of SMP: every CPU online, its area and stacks on its node,
//! IPIs reaching each CPU, and every CPU allocating at once.

use crate::arch::x86_64::paging::{translate, Mapping};
use crate::arch::x86_64::{apic, ipi, percpu};
use crate::mm::page_alloc::{allocator, MIGHT_SLEEP_WARNINGS};
use crate::mm::{__free_pages, alloc_pages, page_address, Gfp, Page};
use crate::numa::topology;
use crate::{kassert, kassert_eq, kprintln, selftest};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use mm::stats::NumaStat;
use mm::zone::ZoneType;
use numa::{MAX_CPUS, MAX_NUMNODES};
use xorshift::XorShift;

selftest!(
    "smp",
    fn every_cpu_the_madt_lists_is_online() {
        let t = topology();
        kassert_eq!(percpu::nr_online(), crate::smp::expected_online());
        for c in percpu::online() {
            let madt = t.cpus()[c.cpu as usize];
            kassert_eq!(c.apic_id, madt.apic_id);
            kassert_eq!(c.node, madt.node);
        }
        if (percpu::nr_online() as usize) < t.cpus().len() {
            kprintln!(
                "    # {} of {} CPUs online, as maxcpus=/smp.fail= asked",
                percpu::nr_online(),
                t.cpus().len()
            );
        }
        Ok(())
    }
);

selftest!(
    "smp",
    fn per_cpu_areas_and_stacks_lie_on_their_node() {
        let t = topology();
        for c in percpu::online() {
            // The CPU's node, or the nearest with memory kernel data may use.
            let home = kernel_home(c.node);
            kassert_eq!(
                c.phys().and_then(|p| t.node_of_addr(p)),
                Some(home),
                "cpu {} area",
                c.cpu
            );
            let s = c.stacks;
            for (name, (bottom, top)) in [
                ("kernel", s.kernel),
                ("double fault", s.double_fault),
                ("nmi", s.nmi),
                ("machine check", s.machine_check),
            ] {
                for addr in [bottom, top - 8] {
                    let Mapping::Mapped { phys, writable, .. } = translate(addr) else {
                        kassert!(false, "cpu {} {name} stack at {addr:#x} unmapped", c.cpu);
                        unreachable!()
                    };
                    kassert!(writable);
                    kassert_eq!(
                        t.node_of_addr(phys),
                        Some(home),
                        "cpu {} {name} stack",
                        c.cpu
                    );
                }
                kassert_eq!(
                    translate(bottom - 4096),
                    Mapping::NotMapped,
                    "cpu {} {name} guard page",
                    c.cpu
                );
            }
        }
        Ok(())
    }
);

selftest!(
    "smp",
    fn ipis_reach_every_cpu_which_knows_itself() {
        static SEEN_APIC: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(u32::MAX) }; MAX_CPUS];
        static RAN: AtomicU32 = AtomicU32::new(0);
        let r = ipi::on_each_cpu(&|cpu| {
            SEEN_APIC[cpu as usize].store(apic::id(), Relaxed);
            kassert_cpu(cpu);
            RAN.fetch_add(1, Relaxed);
        });
        kassert_eq!(r, Ok(()));
        kassert_eq!(RAN.load(Relaxed), percpu::nr_online());
        for c in percpu::online() {
            kassert_eq!(
                SEEN_APIC[c.cpu as usize].load(Relaxed),
                c.apic_id,
                "cpu {}",
                c.cpu
            );
        }
        // One CPU at a time, too.
        for c in percpu::online() {
            let hit = AtomicU32::new(u32::MAX);
            kassert_eq!(ipi::call_on(c.cpu, &|cpu| hit.store(cpu, Relaxed)), Ok(()));
            kassert_eq!(hit.load(Relaxed), c.cpu);
        }
        kassert!(
            ipi::call_on(MAX_CPUS as u32 - 1, &|_| {}).is_err()
                || percpu::nr_online() as usize == MAX_CPUS
        );
        Ok(())
    }
);

/// Inside an IPI, `cpu_id` must name the CPU the IPI was sent to.
fn kassert_cpu(cpu: u32) {
    if percpu::cpu_id() != cpu {
        crate::kprintln!("    # cpu_id() says {} on cpu {cpu}", percpu::cpu_id());
    }
}

// Every CPU allocates and frees random orders at once, checking each
// block is its own (a pattern written at its start), then the free page
// counts equal those before, exactly, and every allocation was counted
// on its CPU's node.
selftest!(
    "smp",
    fn every_cpu_allocates_and_frees_at_once() {
        const ROUNDS: usize = 2000;
        const HELD: usize = 32;
        let t = topology();
        let before: [u64; MAX_NUMNODES] = core::array::from_fn(node_free);
        let stats_before: [[u64; 6]; MAX_NUMNODES] =
            core::array::from_fn(|n| allocator().node_stats(n));
        static ALLOCS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
        static CLASHES: AtomicU64 = AtomicU64::new(0);
        for a in &ALLOCS {
            a.store(0, Relaxed);
        }
        let r = ipi::schedule_on_each_cpu(&|cpu| {
            let mut rng = XorShift(0x9e37_79b9 ^ ((cpu as u64 + 1) * 0x1234_5678_9abc));
            let mut held: [Option<(Page, u32)>; HELD] = [None; HELD];
            let tag = 0x5a00_0000_0000_0000 | cpu as u64;
            for _ in 0..ROUNDS {
                let k = (rng.next_u64() as usize) % HELD;
                match held[k].take() {
                    Some((p, order)) => {
                        // SAFETY: the block is this CPU's until freed here.
                        if unsafe { (page_address(p) as *const u64).read_volatile() } != tag {
                            CLASHES.fetch_add(1, Relaxed);
                        }
                        __free_pages(p, order);
                    }
                    None => {
                        let order = (rng.next_u64() % 4) as u32;
                        if let Some(p) = alloc_pages(Gfp::KERNEL, order) {
                            // SAFETY: as above; the first word marks the owner.
                            unsafe { (page_address(p) as *mut u64).write_volatile(tag) };
                            held[k] = Some((p, order));
                            ALLOCS[cpu as usize].fetch_add(1, Relaxed);
                        }
                    }
                }
            }
            for (p, order) in held.iter().flatten() {
                __free_pages(*p, *order);
            }
        });
        kassert_eq!(r, Ok(()));
        kassert_eq!(CLASHES.load(Relaxed), 0, "a block was handed to two CPUs");
        crate::mm::page_alloc::drain_all_pages();
        for (n, &was) in before.iter().enumerate().take(t.node_count()) {
            kassert_eq!(node_free(n), was, "node {n} free pages");
        }
        // Each CPU's allocations were hits on its preferred node: the first
        // of its zonelist with a zone GFP_KERNEL may use (its own node,
        // unless that has none, e.g. memory-less or all ZONE_MOVABLE);
        // memory is plentiful, so none fell back. They count as local
        // where that node is the CPU's own.
        let mut expected_local = [0u64; MAX_NUMNODES];
        let mut expected_hit = [0u64; MAX_NUMNODES];
        for c in percpu::online() {
            let n = ALLOCS[c.cpu as usize].load(Relaxed);
            kassert!(n > 0, "cpu {} allocated nothing", c.cpu);
            let zonelist = &allocator().node(c.node).unwrap().zonelist;
            let preferred = zonelist
                .iter()
                .find(|r| r.zone <= ZoneType::Normal)
                .unwrap()
                .node as usize;
            expected_hit[preferred] += n;
            if preferred == c.node {
                expected_local[c.node] += n;
            }
        }
        for n in 0..t.node_count() {
            let after = allocator().node_stats(n);
            let d = |s: NumaStat| after[s as usize] - stats_before[n][s as usize];
            kassert_eq!(d(NumaStat::Hit), expected_hit[n], "node {n} numa_hit");
            kassert_eq!(
                d(NumaStat::LocalNode),
                expected_local[n],
                "node {n} local_node"
            );
            kassert_eq!(d(NumaStat::Miss), 0, "node {n} numa_miss");
        }
        kprintln!(
            "    # {} CPUs, {} allocations in all",
            percpu::nr_online(),
            ALLOCS.iter().map(|a| a.load(Relaxed)).sum::<u64>()
        );
        Ok(())
    }
);

/// Where a GFP_KERNEL allocation for `node` lands first: the first node of
/// its zonelist with a zone below ZONE_MOVABLE.
fn kernel_home(node: usize) -> usize {
    let zonelist = &allocator().node(node).unwrap().zonelist;
    zonelist
        .iter()
        .find(|r| r.zone <= ZoneType::Normal)
        .map_or(node, |r| r.node as usize)
}

fn node_free(n: usize) -> u64 {
    allocator().node(n).map_or(0, |node| {
        node.zones
            .iter()
            .map(crate::mm::page_alloc::zone_free_with_lists)
            .sum()
    })
}

selftest!(
    "smp",
    fn sleeping_allocation_in_an_interrupt_handler_warns() {
        let before = MIGHT_SLEEP_WARNINGS.load(Relaxed);
        // GFP_ATOMIC inside an IPI is fine.
        let r = ipi::on_each_cpu(&|_| {
            if let Some(p) = alloc_pages(Gfp::ATOMIC, 0) {
                __free_pages(p, 0);
            }
        });
        kassert_eq!(r, Ok(()));
        kassert_eq!(MIGHT_SLEEP_WARNINGS.load(Relaxed), before);
        // With interrupts off in process context it is a bug, said where
        // the allocation could sleep: an interleaved one takes the slow
        // path (the fast paths check only for interrupt context).
        let mid = MIGHT_SLEEP_WARNINGS.load(Relaxed);
        x86_64::instructions::interrupts::without_interrupts(|| {
            if let Some(p) = crate::mm::page_alloc::alloc_pages_interleave(Gfp::KERNEL, 0) {
                __free_pages(p, 0);
            }
        });
        kassert!(MIGHT_SLEEP_WARNINGS.load(Relaxed) > mid);
        // GFP_KERNEL inside an interrupt handler is a bug, said once; the
        // handler is another CPU's IPI handler.
        let Some(other) = percpu::online()
            .map(|c| c.cpu)
            .find(|&c| c != percpu::cpu_id())
        else {
            return Err(crate::selftest::Failure::Skipped(
                "the interrupt-handler case needs a second CPU (the interrupts-off case passed)",
            ));
        };
        let in_handler = MIGHT_SLEEP_WARNINGS.load(Relaxed);
        let r = ipi::call_on(other, &|_| {
            if let Some(p) = alloc_pages(Gfp::KERNEL, 0) {
                __free_pages(p, 0);
            }
        });
        kassert_eq!(r, Ok(()));
        kassert!(MIGHT_SLEEP_WARNINGS.load(Relaxed) > in_handler);
        Ok(())
    }
);

selftest!(
    "smp",
    fn drain_all_pages_empties_every_cpus_lists_by_ipi() {
        // Every CPU frees a page onto its own list.
        let r = ipi::schedule_on_each_cpu(&|_| {
            if let Some(p) = alloc_pages(Gfp::KERNEL, 0) {
                __free_pages(p, 0);
            }
        });
        kassert_eq!(r, Ok(()));
        let parked = |c: &percpu::PerCpu| -> u32 {
            c.pcp
                .get()
                .map_or(0, |l| l.lists.iter().map(|x| x.count()).sum())
        };
        for c in percpu::online() {
            kassert!(
                parked(c) > 0,
                "cpu {} has no pages on its lists (pcp set: {})",
                c.cpu,
                c.pcp.get().map_or(0, |l| l.lists.len())
            );
        }
        let total: u64 = percpu::online().map(|c| parked(c) as u64).sum();
        let zone_free = || -> u64 { allocator().zones().map(|z| z.free_pages()).sum() };
        let free_before = zone_free();
        let ipis_before: u64 = percpu::online().map(|c| c.ipis_handled.load(Relaxed)).sum();
        crate::mm::page_alloc::drain_all_pages();
        for c in percpu::online() {
            kassert_eq!(parked(c), 0, "cpu {} lists after the drain", c.cpu);
        }
        let free_after = zone_free();
        kassert_eq!(free_after - free_before, total);
        let ipis_after: u64 = percpu::online().map(|c| c.ipis_handled.load(Relaxed)).sum();
        kassert_eq!(
            ipis_after - ipis_before,
            percpu::nr_online() as u64 - 1,
            "one IPI per other CPU"
        );
        Ok(())
    }
);
