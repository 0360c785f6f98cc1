//! Boot-time self-tests of SLUB and kmalloc: the size classes and their
//! alignment, the kmalloc family's edge cases, Box and Vec, node
//! placement, cache destruction with a leak, every debug detection, and
//! every CPU allocating while other CPUs (on other nodes) free.

use super::page_alloc::{__free_pages, alloc_pages, allocator, Page};
use super::selftest_support::needs_free_memory;
use super::slab::*;
use super::Gfp;
use crate::arch::x86_64::{ipi, percpu};
use crate::numa::topology;
use crate::{kassert, kassert_eq, kprintln, selftest};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use layout::virt_to_phys;
use mm::slub::SlabFlags;
use numa::MAX_CPUS;

fn node_of(p: *const u8) -> Option<usize> {
    virt_to_phys(p as u64).and_then(|a| topology().node_of_addr(a))
}

selftest!(
    "slub",
    fn kmalloc_sizes_are_usable_and_naturally_aligned() {
        for size in [
            1usize,
            8,
            9,
            24,
            64,
            96,
            100,
            192,
            256,
            1000,
            2048,
            4096,
            8192,
            8193,
            65536,
            1 << 20,
        ] {
            // A 1 MiB block is a large share of the smallest VM (7 MiB):
            // tried only where four times that is free.
            if size == 1 << 20 {
                let free = allocator().free_pages();
                if free < 4 * (size as u64 >> 12) {
                    kprintln!("    # kmalloc({size}) not tried: {free} pages free");
                    continue;
                }
            }
            let p = kmalloc(size, Gfp::KERNEL);
            kassert!(!p.is_null(), "kmalloc({size})");
            kassert!(ksize(p) >= size, "ksize {} < {size}", ksize(p));
            if size.is_power_of_two() {
                kassert_eq!(p as usize % size.min(4096), 0, "kmalloc({size}) alignment");
            }
            // SAFETY: `size` bytes are ours.
            unsafe { core::ptr::write_bytes(p, 0x5a, size) };
            kfree(p);
        }
        Ok(())
    }
);

// Reclaim reads the slab page counters kept as slabs come and go; they
// must agree with the caches' own counts, before and after a churn that
// makes and frees slabs of a reclaimable and an unreclaimable cache.
selftest!(
    "slub",
    fn slab_page_counters_match_the_caches() {
        kassert_eq!(slab_pages(), super::slab::slab_pages_by_cache());
        let reclaimable =
            kmem_cache_create("counter-test-r", 512, 8, SlabFlags::RECLAIM_ACCOUNT, None);
        kassert!(reclaimable.is_some(), "kmem_cache_create failed");
        let reclaimable = reclaimable.unwrap();
        let mut held = alloc::vec::Vec::new();
        // Small enough for the smallest VM: about 64 KiB of each kind.
        for _ in 0..128 {
            held.push(kmem_cache_alloc(reclaimable, Gfp::KERNEL));
            held.push(kmalloc(500, Gfp::KERNEL));
        }
        kassert!(held.iter().all(|p| !p.is_null()));
        kassert_eq!(slab_pages(), super::slab::slab_pages_by_cache());
        kassert!(
            slab_pages().0 >= 128 * 512 / 4096,
            "reclaimable slabs not counted"
        );
        for (i, p) in held.drain(..).enumerate() {
            if i % 2 == 0 {
                kmem_cache_free(reclaimable, p);
            } else {
                kfree(p);
            }
        }
        kassert!(kmem_cache_destroy(reclaimable).is_ok());
        kassert_eq!(slab_pages(), super::slab::slab_pages_by_cache());
        Ok(())
    }
);

selftest!(
    "slub",
    fn kmalloc_family_edge_cases() {
        let p = kzalloc(300, Gfp::KERNEL);
        // SAFETY: 300 bytes are ours.
        kassert!(unsafe { core::slice::from_raw_parts(p, 300) }
            .iter()
            .all(|&b| b == 0));
        kfree(p);
        let p = kcalloc(100, 8, Gfp::KERNEL);
        // SAFETY: 800 bytes are ours.
        kassert!(unsafe { core::slice::from_raw_parts(p, 800) }
            .iter()
            .all(|&b| b == 0));
        kfree(p);
        kassert!(
            kmalloc_array(usize::MAX / 2, 4, Gfp::KERNEL).is_null(),
            "overflow"
        );
        kassert!(kcalloc(1 << 40, 1 << 40, Gfp::KERNEL).is_null(), "overflow");
        kassert!(kmalloc(KMALLOC_MAX_SIZE + 1, Gfp::KERNEL | Gfp::NOWARN).is_null());
        kassert!(kmalloc(0, Gfp::KERNEL).is_null());
        kfree(core::ptr::null_mut());
        // krealloc keeps the contents.
        let p = kmalloc(24, Gfp::KERNEL);
        // SAFETY: 24 bytes are ours.
        unsafe { core::ptr::copy_nonoverlapping(b"twenty-four bytes here!!".as_ptr(), p, 24) };
        kassert_eq!(
            krealloc(p, 20, Gfp::KERNEL),
            p,
            "shrinking keeps the object"
        );
        let q = krealloc(p, 5000, Gfp::KERNEL);
        kassert!(!q.is_null() && ksize(q) >= 5000);
        // SAFETY: q holds at least 24 bytes copied from p.
        let head = unsafe { core::slice::from_raw_parts(q, 24) };
        kassert_eq!(head, b"twenty-four bytes here!!");
        kassert!(krealloc(q, 0, Gfp::KERNEL).is_null());
        Ok(())
    }
);

#[repr(align(4096))]
struct PageAligned([u8; 4096]);

selftest!(
    "slub",
    fn box_and_vec_allocate_through_kmalloc() {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..10_000 {
            v.push(i);
        }
        kassert_eq!(v.iter().sum::<u64>(), 10_000 * 9_999 / 2);
        let b = Box::new(PageAligned([7; 4096]));
        kassert_eq!(&*b as *const _ as usize % 4096, 0);
        kassert_eq!(b.0[4095], 7);
        let s: Box<[u8]> = alloc::vec![1u8; 100].into_boxed_slice();
        kassert!(ksize(s.as_ptr()) >= 100);
        Ok(())
    }
);

selftest!(
    "slub",
    fn kmalloc_node_places_objects_on_the_named_node() {
        let t = topology();
        for n in (0..t.node_count()).filter(|&n| t.has_memory(n)) {
            let p = kmalloc_node(64, Gfp::KERNEL, n);
            kassert!(!p.is_null());
            let want = allocator().preferred_node(n, Gfp::KERNEL);
            kassert_eq!(node_of(p), Some(want), "kmalloc_node(64, node {n})");
            kfree(p);
        }
        Ok(())
    }
);

fn fill_ctor(obj: *mut u8) {
    // SAFETY: the cache's objects are 200 bytes.
    unsafe { core::ptr::write_bytes(obj, 0xc7, 200) };
}

selftest!(
    "slub",
    fn destroying_a_cache_with_objects_reports_the_leak() {
        let c = kmem_cache_create(
            "selftest-leak",
            200,
            8,
            SlabFlags::HWCACHE_ALIGN,
            Some(fill_ctor),
        );
        kassert!(c.is_some());
        let c = c.unwrap();
        kassert_eq!(c.layout.size % 64, 0, "SLAB_HWCACHE_ALIGN");
        let objs: [*mut u8; 5] = core::array::from_fn(|_| kmem_cache_alloc(c, Gfp::KERNEL));
        kassert!(
            // SAFETY: each object is 200 bytes, ours.
            objs.iter().all(|&o| unsafe { o.read() } == 0xc7),
            "constructor ran"
        );
        for &o in &objs[..3] {
            kmem_cache_free(c, o);
        }
        kprintln!("    # a leak report, on purpose:");
        kassert_eq!(kmem_cache_destroy(c), Err(2));
        for &o in &objs[3..] {
            kmem_cache_free(c, o);
        }
        kassert_eq!(kmem_cache_destroy(c), Ok(()));
        kassert!(caches().all(|x| x.name != "selftest-leak"));
        Ok(())
    }
);

selftest!(
    "slub",
    fn every_debug_check_catches_its_bug() {
        let c = kmem_cache_create("selftest-debug", 40, 8, SlabFlags::DEBUG, None).unwrap();
        let reports = || SLAB_REPORTS.load(Relaxed);
        kprintln!("    # four slab reports, on purpose:");
        // Double free.
        let a = kmem_cache_alloc(c, Gfp::KERNEL);
        let b = kmem_cache_alloc(c, Gfp::KERNEL);
        kmem_cache_free(c, a);
        kmem_cache_free(c, b);
        let r0 = reports();
        kmem_cache_free(c, a);
        kassert_eq!(reports(), r0 + 1, "double free");
        // A write past the end.
        let p = kmem_cache_alloc(c, Gfp::KERNEL);
        // SAFETY: one byte past the object, inside its red zone (the slab's memory).
        unsafe { p.add(40).write(0x41) };
        kmem_cache_free(c, p);
        kassert_eq!(reports(), r0 + 2, "red zone");
        // A write after free, found when the object is handed out again.
        let q = kmem_cache_alloc(c, Gfp::KERNEL);
        kmem_cache_free(c, q);
        // SAFETY: the slab's memory; writing into a free object is the bug under test.
        unsafe { q.add(12).write(0) };
        let mut got = Vec::new();
        for _ in 0..200 {
            let o = kmem_cache_alloc(c, Gfp::KERNEL);
            if o.is_null() {
                break;
            }
            got.push(o);
        }
        kassert_eq!(reports(), r0 + 3, "write after free");
        for o in got {
            kmem_cache_free(c, o);
        }
        // A pointer that is not an object: into the middle of one.
        let o = kmalloc(64, Gfp::KERNEL);
        kfree(o.wrapping_add(8));
        kassert_eq!(reports(), r0 + 4, "pointer into an object");
        kfree(o);
        // The cache still works and is left (its damaged objects are out of circulation).
        kassert!(!kmem_cache_alloc(c, Gfp::KERNEL).is_null());
        Ok(())
    }
);

/// Objects each CPU allocated, for the next CPU to free.
static HANDOFF: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
static FREED: AtomicU64 = AtomicU64::new(0);

fn slab_and_free_pages() -> u64 {
    let free = super::selftest_support::free_pages_now();
    let (r, u) = slab_pages();
    free + r + u
}

// Every CPU allocates objects of every kmalloc size; then every CPU frees
// the objects of the next CPU (on another node where there is one). After,
// every cache has the objects in use it had before, and free pages plus
// slab pages are what they were: no object and no page lost.
selftest!(
    "slub",
    fn cpus_free_each_others_objects_across_nodes() {
        const PER_CPU: usize = 600;
        // About 0.8 MiB of objects a CPU, with their slabs.
        needs_free_memory((percpu::nr_online() as u64 + 1) << 20, 0)?;
        // Fixed arrays: the snapshots must not allocate themselves.
        let mut online = [0u32; MAX_CPUS];
        let mut nr = 0;
        for c in percpu::online() {
            online[nr] = c.cpu;
            nr += 1;
        }
        let online = &online[..nr];
        let mut active_before = [(0usize, 0u64); 128];
        let mut ncaches = 0;
        for c in caches() {
            active_before[ncaches] = (c as *const _ as usize, c.active_objects());
            ncaches += 1;
        }
        let pages_before = slab_and_free_pages();
        let r = ipi::schedule_on_each_cpu(&|cpu| {
            let mut v: Vec<usize> = Vec::with_capacity(PER_CPU);
            for i in 0..PER_CPU {
                let size = KMALLOC_SIZES[i % KMALLOC_SIZES.len()] - (i % 7);
                let p = kmalloc(size, Gfp::KERNEL);
                if !p.is_null() {
                    // SAFETY: at least one byte is ours.
                    unsafe { p.write(cpu as u8) };
                    v.push(p as usize);
                }
            }
            HANDOFF[cpu as usize].store(Box::into_raw(Box::new(v)) as usize, Relaxed);
        });
        kassert_eq!(r, Ok(()));
        FREED.store(0, Relaxed);
        let r = ipi::schedule_on_each_cpu(&|cpu| {
            let i = online.iter().position(|&c| c == cpu).unwrap();
            let from = online[(i + 1) % online.len()];
            let v = HANDOFF[from as usize].swap(0, Relaxed) as *mut Vec<usize>;
            // SAFETY: the Box made by CPU `from` above, taken once.
            let v = unsafe { Box::from_raw(v) };
            for &p in v.iter() {
                // SAFETY: the object is still live; its first byte names its owner.
                if unsafe { (p as *const u8).read() } == from as u8 {
                    kfree(p as *mut u8);
                    FREED.fetch_add(1, Relaxed);
                }
            }
        });
        kassert_eq!(r, Ok(()));
        kassert_eq!(FREED.load(Relaxed), (PER_CPU * online.len()) as u64);
        for &(c, before) in &active_before[..ncaches] {
            let cache = caches().find(|x| *x as *const _ as usize == c).unwrap();
            kassert_eq!(
                cache.active_objects(),
                before,
                "{} objects in use",
                cache.name
            );
        }
        kassert_eq!(slab_and_free_pages(), pages_before, "free + slab pages");
        let cross: u64 = if topology().node_count() > 1 { 1 } else { 0 };
        kprintln!(
            "    # {} CPUs, {} objects freed by the next CPU{}",
            online.len(),
            FREED.load(Relaxed),
            if cross == 1 {
                " (other nodes included)"
            } else {
                ""
            }
        );
        Ok(())
    }
);

// A SLAB_TYPESAFE_BY_RCU cache: slabs emptied while a reader is inside a
// read section do not go back to the page allocator until it leaves (and
// a grace period passes); then every page comes back.
selftest!(
    "slub",
    fn typesafe_by_rcu_slabs_wait_for_a_grace_period() {
        let pages = || -> u64 { super::selftest_support::free_pages_now() };
        // (The cache's own struct stays allocated after destroy: counted
        // from after its creation.)
        let c =
            kmem_cache_create("selftest-rcu", 512, 8, SlabFlags::TYPESAFE_BY_RCU, None).unwrap();
        super::page_alloc::drain_all_pages();
        let before = pages();
        let mut objs = [core::ptr::null_mut(); 140];
        for o in objs.iter_mut() {
            *o = kmem_cache_alloc(c, Gfp::KERNEL);
        }
        kassert!(objs.iter().all(|o| !o.is_null()));
        crate::rcu::rcu_read_lock();
        for &o in &objs {
            kmem_cache_free(c, o);
        }
        // Emptied slabs beyond the node's few kept ones wait for readers.
        let held = before - pages();
        kassert!(held > 0);
        crate::arch::x86_64::tsc::delay_ns(20_000_000);
        let still = before - pages();
        crate::rcu::rcu_read_unlock();
        kassert!(still >= held, "pages came back while a reader was inside");
        kassert_eq!(kmem_cache_destroy(c), Ok(()));
        super::page_alloc::drain_all_pages();
        kassert_eq!(pages(), before, "every page back after the grace period");
        Ok(())
    }
);

#[repr(align(128))]
struct Widget {
    id: u64,
    name: [u8; 40],
}

selftest!(
    "slub",
    fn typed_caches_size_and_align_from_the_type() {
        let cache = TypedCache::<Widget>::new("selftest-widget", SlabFlags(0));
        kassert!(cache.is_some());
        let cache = cache.unwrap();
        kassert!(cache.cache().object_size == core::mem::size_of::<Widget>());
        let before = cache.cache().active_objects();
        {
            let mut w = cache
                .alloc(
                    Widget {
                        id: 7,
                        name: [b'w'; 40],
                    },
                    Gfp::KERNEL,
                )
                .unwrap();
            kassert_eq!(&*w as *const Widget as usize % 128, 0);
            w.id += 1;
            kassert_eq!(w.id + w.name[39] as u64, 8 + b'w' as u64);
            kassert_eq!(cache.cache().active_objects(), before + 1);
        }
        kassert_eq!(
            cache.cache().active_objects(),
            before,
            "dropped boxes free their object"
        );
        kassert_eq!(kmem_cache_destroy(cache.cache()), Ok(()));
        Ok(())
    }
);

/// The cache the interrupt side of the next test uses (null outside it).
static IRQ_CACHE: core::sync::atomic::AtomicPtr<mm::slub::KmemCache> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());
/// Per CPU, the (kmalloc object, cache object, page frame + 1) the
/// interrupt side holds.
static IRQ_HELD: [[AtomicUsize; 3]; MAX_CPUS] = [const {
    [
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ]
}; MAX_CPUS];
static IRQ_OPS: AtomicU64 = AtomicU64::new(0);

/// In interrupt context (the APIC timer, or an IPI): frees what this CPU's
/// interrupt side held and takes new objects, from kmalloc-64 and the test
/// cache, and a new page, from the same caches and page lists the
/// interrupted thread is using.
fn irq_side() {
    // SAFETY: the test stores a live cache here and clears it before the
    // cache is destroyed.
    let Some(cache) = (unsafe { IRQ_CACHE.load(Relaxed).as_ref() }) else {
        return;
    };
    let held = &IRQ_HELD[percpu::cpu_id() as usize];
    let k = held[0].swap(0, Relaxed);
    if k != 0 {
        kfree(k as *mut u8);
    }
    let c = held[1].swap(0, Relaxed);
    if c != 0 {
        kmem_cache_free(cache, c as *mut u8);
    }
    let p = held[2].swap(0, Relaxed);
    if p != 0 {
        __free_pages(Page::from_pfn(p as u64 - 1), 0);
    }
    held[0].store(kmalloc(64, Gfp::ATOMIC | Gfp::NOWARN) as usize, Relaxed);
    if let Some(page) = alloc_pages(Gfp::ATOMIC | Gfp::NOWARN, 0) {
        held[2].store(page.pfn() as usize + 1, Relaxed);
    }
    held[1].store(
        kmem_cache_alloc(cache, Gfp::ATOMIC | Gfp::NOWARN) as usize,
        Relaxed,
    );
    IRQ_OPS.fetch_add(1, Relaxed);
}

fn irq_side_ipi(_cpu: u32) {
    irq_side();
}

// Every CPU runs the fast paths (kmalloc-64, a cache of its own, and
// pages of orders 0 and 1) while its APIC timer, at 20 kHz, and IPIs from
// CPU 0 allocate and free from the same caches and page lists in
// interrupt context: an interrupt that lands inside a fast path must take
// the slow path around the CPU's slot or lists. After, every object and
// page is back: the caches' counts are what they were and the test cache
// is destroyed without a leak, and free plus slab pages add up.
selftest!(
    "slub",
    fn interrupts_allocating_over_the_fast_paths_lose_nothing() {
        // Bounded work on large VMs (240 vCPUs on 2 host cores under TCG
        // would take minutes): 80,000 rounds in all, 500 to 20,000 a CPU,
        // and a 20 kHz tick up to 16 CPUs, 1 kHz above.
        let cpus = percpu::nr_online() as usize;
        let rounds = (80_000 / cpus).clamp(500, 20_000);
        let tick_us = if cpus <= 16 { 50 } else { 1000 };
        let Some(cache) = kmem_cache_create("selftest-irq", 64, 8, SlabFlags(0), None) else {
            kassert!(false, "kmem_cache_create(selftest-irq)");
            return Ok(());
        };
        let k64 = caches().find(|c| c.name == "kmalloc-64").unwrap();
        let k64_before = k64.active_objects();
        let pages_before = slab_and_free_pages();
        IRQ_OPS.store(0, Relaxed);
        let bypasses_before = cache.bypasses.load(Relaxed) + k64.bypasses.load(Relaxed);
        let page_bypasses_before = allocator().pcp_bypasses.load(Relaxed);
        IRQ_CACHE.store(cache as *const _ as *mut _, Relaxed);
        crate::arch::x86_64::interrupts::set_timer_hook(Some(irq_side));
        let r = ipi::schedule_on_each_cpu(&|cpu| {
            let ticking = crate::time::start_periodic_tick_us(tick_us);
            let next = percpu::online().map(|c| c.cpu).find(|&c| c > cpu);
            let mut keep = [core::ptr::null_mut::<u8>(); 8];
            let mut keep_pages: [Option<(Page, u32)>; 8] = [None; 8];
            // And bounded in time: under a nested kvm_pvm, which emulates
            // every instruction, the rounds alone would take minutes.
            let start = crate::arch::x86_64::tsc::ns_since_boot();
            for i in 0..rounds {
                if i % 64 == 0 && crate::arch::x86_64::tsc::ns_since_boot() - start > 250_000_000 {
                    break;
                }
                let a = kmalloc(64, Gfp::KERNEL);
                let b = kmem_cache_alloc(cache, Gfp::KERNEL);
                // SAFETY: the objects are ours (checked non-null).
                unsafe {
                    if !a.is_null() {
                        a.write(i as u8);
                    }
                    if !b.is_null() {
                        b.write(i as u8);
                    }
                }
                // Some objects live a while, so frees also miss the
                // active slab and take the slow path.
                let slot = &mut keep[i % keep.len()];
                kfree(core::mem::replace(slot, a));
                kmem_cache_free(cache, b);
                let order = (i % 2) as u32;
                let page = alloc_pages(Gfp::KERNEL, order).map(|p| (p, order));
                if let Some((old, o)) = core::mem::replace(&mut keep_pages[i % 8], page) {
                    __free_pages(old, o);
                }
                if cpu == 0 && i % 256 == 0 {
                    if let Some(other) = next {
                        let _ = ipi::call_on(other, &irq_side_ipi);
                    }
                }
            }
            for p in keep {
                kfree(p);
            }
            for (p, o) in keep_pages.into_iter().flatten() {
                __free_pages(p, o);
            }
            if ticking {
                crate::time::stop_tick();
            }
        });
        crate::arch::x86_64::interrupts::set_timer_hook(None);
        kassert_eq!(r, Ok(()));
        // What the interrupt sides still hold goes back, on their CPUs.
        let r = ipi::on_each_cpu(&|cpu| {
            let held = &IRQ_HELD[cpu as usize];
            kfree(held[0].swap(0, Relaxed) as *mut u8);
            kmem_cache_free(cache, held[1].swap(0, Relaxed) as *mut u8);
            let p = held[2].swap(0, Relaxed);
            if p != 0 {
                __free_pages(Page::from_pfn(p as u64 - 1), 0);
            }
        });
        kassert_eq!(r, Ok(()));
        IRQ_CACHE.store(core::ptr::null_mut(), Relaxed);
        let ops = IRQ_OPS.load(Relaxed);
        let bypasses = cache.bypasses.load(Relaxed) + k64.bypasses.load(Relaxed) - bypasses_before;
        let page_bypasses = allocator().pcp_bypasses.load(Relaxed) - page_bypasses_before;
        kprintln!(
            "    # {cpus} CPUs x up to {rounds} rounds (250 ms at most), tick every {tick_us} us; {ops} interrupt-side rounds, {bypasses} of their slab operations and {page_bypasses} page operations found the CPU inside a fast path"
        );
        kassert_eq!(cache.active_objects(), 0);
        kassert_eq!(k64.active_objects(), k64_before);
        kassert_eq!(kmem_cache_destroy(cache), Ok(()));
        // Slab pages the kmalloc caches kept are still counted as slab.
        kassert_eq!(slab_and_free_pages(), pages_before);
        if ops == 0 {
            // Seen once in CI on a one-CPU VM: no tick came in the 250 ms.
            return Err(crate::selftest::Failure::Skipped(
                "no timer tick or IPI reached the interrupt side during the run (balance checked)",
            ));
        }
        Ok(())
    }
);
