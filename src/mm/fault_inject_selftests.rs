//! The fail-nth suite (explicit: `selftest=fail_nth`): each operation is
//! run with its 1st, 2nd, 3rd, ... allocation made to fail, until a run
//! makes fewer allocations than the failure's number. After every run the
//! operation must have succeeded or failed cleanly: the free pages (with
//! slab and page-table pages, which caches keep), the slab objects in use
//! and the vmalloc areas are back at their counts, and no slab or page
//! allocator report appeared. Every allocation counts (GFP_KERNEL too,
//! order 0 too) while the suite runs; the Rust heap never fails
//! (`__GFP_NOFAULT`). One more case shows Linux's report.

use super::fault_inject::{FAILSLAB, FAIL_PAGE_ALLOC, FAIL_VMALLOC};
use super::page_alloc::{allocator, drain_all_pages, Page};
use super::pagecache::PageCache;
use super::selftest_support::{free_pages_now, CacheGuard};
use super::slab::{self, kfree, kmalloc, kmalloc_node};
use super::{__free_pages, alloc_pages_node, vmalloc, Gfp};
use crate::numa::{numa_node_id, topology};
use crate::selftest::Failure;
use crate::{kassert, kassert_eq, kprintln, selftest};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use mm::slub::SlabFlags;

/// What must come back after every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Balance {
    /// Free pages (per-CPU lists included) plus slab pages plus vmalloc
    /// page-table pages: what a leak of pages would lower.
    pages: u64,
    objects: u64,
    areas: usize,
    /// Slab reports and invalid page frees.
    reports: u64,
}

/// Everything deferred done first: per-CPU lists drained, dead threads
/// reaped, RCU callbacks run, lazy vmalloc ranges purged.
fn balance() -> Balance {
    drain_all_pages();
    crate::sched::reap_all_dead(2_000_000_000);
    crate::rcu::rcu_barrier();
    vmalloc::purge_lazy();
    drain_all_pages();
    let (reclaimable, unreclaimable) = slab::slab_pages();
    Balance {
        pages: free_pages_now() + reclaimable + unreclaimable + vmalloc::page_table_pages(),
        objects: slab::caches().map(|c| c.usage().0).sum(),
        areas: vmalloc::area_count(),
        reports: slab::SLAB_REPORTS.load(Relaxed) + allocator().bad_frees.load(Relaxed),
    }
}

/// While held: every allocation is eligible (Linux's settings for a
/// fail-nth run: ignore-gfp-wait off, min-order 0) and failures are not
/// reported (hundreds of them); afterwards the settings are as before.
struct EveryAllocationCounts {
    saved: (bool, u32, bool, bool, [u32; 3]),
}

impl EveryAllocationCounts {
    fn new() -> Self {
        let verbose = [&FAIL_PAGE_ALLOC.attr, &FAILSLAB.attr, &FAIL_VMALLOC.attr]
            .map(|a| a.verbose.swap(0, Relaxed));
        EveryAllocationCounts {
            saved: (
                FAIL_PAGE_ALLOC.ignore_gfp_reclaim.swap(false, Relaxed),
                FAIL_PAGE_ALLOC.min_order.swap(0, Relaxed),
                FAILSLAB.ignore_gfp_reclaim.swap(false, Relaxed),
                FAIL_VMALLOC.ignore_gfp_reclaim.swap(false, Relaxed),
                verbose,
            ),
        }
    }
}

impl Drop for EveryAllocationCounts {
    fn drop(&mut self) {
        let (page_wait, order, slab_wait, vmalloc_wait, verbose) = self.saved;
        FAIL_PAGE_ALLOC.ignore_gfp_reclaim.store(page_wait, Relaxed);
        FAIL_PAGE_ALLOC.min_order.store(order, Relaxed);
        FAILSLAB.ignore_gfp_reclaim.store(slab_wait, Relaxed);
        FAIL_VMALLOC.ignore_gfp_reclaim.store(vmalloc_wait, Relaxed);
        for (a, v) in [&FAIL_PAGE_ALLOC.attr, &FAILSLAB.attr, &FAIL_VMALLOC.attr]
            .iter()
            .zip(verbose)
        {
            a.verbose.store(v, Relaxed);
        }
    }
}

/// The most failure points one operation is walked through.
const MAX_STEPS: u32 = 4000;

/// Walks `op` (which frees whatever it made, success or not, and says
/// whether it succeeded) through its allocations, failing the n-th for
/// n = 1, 2, ...; returns (failure points, runs that still succeeded).
fn walk(name: &str, op: &mut dyn FnMut() -> bool) -> Result<(u32, u32), Failure> {
    kassert!(op(), "{name} succeeds with nothing failed");
    let _counts = EveryAllocationCounts::new();
    let before = balance();
    let mut recovered = 0;
    for n in 1..=MAX_STEPS {
        kassert!(crate::sched::set_fail_nth(n));
        let ok = op();
        let left = crate::sched::fail_nth();
        crate::sched::set_fail_nth(0);
        let after = balance();
        kassert_eq!(
            after,
            before,
            "{name}: after failing allocation {n} (it {})",
            if ok { "succeeded" } else { "failed" }
        );
        if left != 0 {
            // Fewer than n allocations: the whole operation ran.
            kassert!(ok, "{name} succeeds when nothing was failed");
            return Ok((n - 1, recovered));
        }
        recovered += ok as u32;
    }
    kprintln!("    # {name}: still allocating after {MAX_STEPS} failure points");
    Err(Failure::Failed)
}

fn report(name: &str, (points, recovered): (u32, u32)) {
    kprintln!(
        "    # {name}: {points} allocations failed one at a time: {} failed cleanly, {recovered} recovered",
        points - recovered
    );
}

fn kmem_cache_create_op() -> bool {
    let Some(cache) = slab::kmem_cache_create("fail-nth-cache", 200, 8, SlabFlags(0), None) else {
        return false;
    };
    let obj = slab::kmem_cache_alloc(cache, Gfp::KERNEL);
    let ok = !obj.is_null();
    if ok {
        slab::kmem_cache_free(cache, obj);
    }
    slab::kmem_cache_destroy(cache).is_ok() && ok
}

fn vmalloc_op(bytes: usize) -> bool {
    let p = vmalloc::vmalloc(bytes);
    if p.is_null() {
        return false;
    }
    // SAFETY: a fresh area of `bytes` bytes.
    unsafe { core::ptr::write_bytes(p, 0x5a, bytes) };
    vmalloc::vfree(p);
    true
}

fn vmap_op() -> bool {
    const N: usize = 16;
    let mut pages = [Page::from_pfn(0); N];
    let mut got = 0;
    while got < N {
        match alloc_pages_node(-1, Gfp::KERNEL, 0) {
            Some(p) => pages[got] = p,
            None => break,
        }
        got += 1;
    }
    let ok = got == N && {
        let p = vmalloc::vmap(&pages);
        let mapped = !p.is_null();
        if mapped {
            vmalloc::vunmap(p);
        }
        mapped
    };
    for p in &pages[..got] {
        __free_pages(*p, 0);
    }
    ok
}

fn kmalloc_remote_op() -> bool {
    let t = topology();
    let here = t.mem_node(numa_node_id());
    let remote = (0..t.node_count())
        .find(|&n| n != here && t.has_memory(n))
        .unwrap_or(here);
    // A slab object and a page-backed one (16 KiB: order 2).
    let small = kmalloc_node(256, Gfp::KERNEL, remote);
    let large = kmalloc_node(16 << 10, Gfp::KERNEL, remote);
    let ok = !small.is_null() && !large.is_null();
    kfree(small);
    kfree(large);
    ok
}

fn page_cache_op(cache: &'static PageCache) -> bool {
    let node = topology().mem_node(numa_node_id());
    let ok = (0..64).all(|b| cache.read(b, node, Gfp::KERNEL | Gfp::NOWARN).is_ok());
    cache.drop_all(true);
    ok
}

fn thread_op() -> bool {
    static RAN: AtomicBool = AtomicBool::new(false);
    RAN.store(false, Relaxed);
    let node = topology().mem_node(numa_node_id());
    let Ok(t) = crate::sched::spawn("fail-nth", crate::sched::Binding::Node(node), None, || {
        RAN.store(true, Relaxed)
    }) else {
        return false;
    };
    crate::sched::join(&t);
    RAN.load(Relaxed)
}

fn rcu_op() -> bool {
    static FREED: AtomicU32 = AtomicU32::new(0);
    fn free_later(p: usize) {
        kfree(p as *mut u8);
        FREED.fetch_add(1, Relaxed);
    }
    // kmalloc'd objects freed after a grace period (kfree_rcu's way), and a
    // SLAB_TYPESAFE_BY_RCU cache, whose slabs go back after one.
    let p = kmalloc(128, Gfp::KERNEL);
    if p.is_null() {
        return false;
    }
    crate::rcu::call_rcu(free_later, p as usize);
    let Some(cache) =
        slab::kmem_cache_create("fail-nth-rcu", 96, 8, SlabFlags::TYPESAFE_BY_RCU, None)
    else {
        return false;
    };
    let obj = slab::kmem_cache_alloc(cache, Gfp::KERNEL);
    if !obj.is_null() {
        slab::kmem_cache_free(cache, obj);
    }
    slab::kmem_cache_destroy(cache).is_ok() && !obj.is_null()
}

selftest!(
    explicit "fail_nth",
    fn kmem_cache_create_fails_cleanly_at_each_allocation() {
        report("kmem_cache_create", walk("kmem_cache_create", &mut kmem_cache_create_op)?);
        Ok(())
    }
);

selftest!(
    explicit "fail_nth",
    fn vmalloc_of_64k_and_4m_fails_cleanly_at_each_allocation() {
        report("vmalloc 64 KiB", walk("vmalloc 64 KiB", &mut || vmalloc_op(64 << 10))?);
        report("vmalloc 4 MiB", walk("vmalloc 4 MiB", &mut || vmalloc_op(4 << 20))?);
        Ok(())
    }
);

selftest!(
    explicit "fail_nth",
    fn vmap_fails_cleanly_at_each_allocation() {
        report("vmap", walk("vmap", &mut vmap_op)?);
        Ok(())
    }
);

selftest!(
    explicit "fail_nth",
    fn kmalloc_node_on_a_remote_node_fails_cleanly() {
        report("kmalloc_node (remote)", walk("kmalloc_node", &mut kmalloc_remote_op)?);
        Ok(())
    }
);

selftest!(
    explicit "fail_nth",
    fn page_cache_reads_fail_cleanly_at_each_allocation() {
        let cache = PageCache::create("fail-nth-cache", 64).ok_or(Failure::Failed)?;
        let _guard = CacheGuard(cache);
        report("page-cache reads", walk("page-cache reads", &mut || page_cache_op(cache))?);
        Ok(())
    }
);

selftest!(
    explicit "fail_nth",
    fn thread_creation_fails_cleanly_at_each_allocation() {
        report("thread creation", walk("thread creation", &mut thread_op)?);
        Ok(())
    }
);

selftest!(
    explicit "fail_nth",
    fn rcu_deferred_frees_fail_cleanly_at_each_allocation() {
        report("RCU-deferred frees", walk("RCU-deferred frees", &mut rcu_op)?);
        Ok(())
    }
);

selftest!(
    explicit "fail_nth",
    fn a_forced_failure_is_reported_as_linux_reports_it() {
        // Reported (verbose 2: with a backtrace): the boot test reads it.
        let obj = {
            let _counts = EveryAllocationCounts::new();
            FAILSLAB.attr.verbose.store(2, Relaxed);
            kassert!(crate::sched::set_fail_nth(1));
            kmalloc(64, Gfp::KERNEL)
        };
        kassert!(obj.is_null(), "the first allocation failed");
        kassert_eq!(crate::sched::fail_nth(), 0);
        let again = kmalloc(64, Gfp::KERNEL);
        kassert!(!again.is_null(), "fail-nth is spent");
        kfree(again);
        Ok(())
    }
);
