//! KFENCE's cases, modelled on Linux's mm/kfence/kfence_test.c (explicit:
//! `selftest=kfence`, which needs `kfence.sample_interval` above 0): each
//! makes one kind of memory error on a sampled object and checks that it
//! was reported as that kind, on that object, and that the run goes on.
//! The boot test reads the reports' text.

use super::kfence::{self, is_kfence_address, LAST_REPORT, STATS};
use super::slab::{self, kfree, kmalloc, krealloc, ksize};
use super::Gfp;
use crate::selftest::Failure;
use crate::{kassert, kassert_eq, kprintln, selftest};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::Ordering::Relaxed;
use mm::kfence::PAGE;
use mm::slub::SlabFlags;

/// Which edge of its page a test wants the object at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    Left,
    Right,
    Any,
}

/// A sampled allocation from `alloc`, at `edge` (retried until the dice
/// agree, as Linux's test_alloc does).
fn sampled(alloc: &dyn Fn() -> *mut u8, size: usize, edge: Edge) -> Result<*mut u8, Failure> {
    if !kfence::enabled() {
        return Err(Failure::Skipped("kfence.sample_interval=0"));
    }
    for _ in 0..200 {
        kfence::set_every(true);
        let p = alloc();
        kfence::set_every(false);
        kassert!(!p.is_null());
        let at_left = (p as usize).is_multiple_of(PAGE);
        let at_right = (p as usize + size).is_multiple_of(PAGE);
        if is_kfence_address(p)
            && (edge == Edge::Any
                || (edge == Edge::Left && at_left)
                || (edge == Edge::Right && at_right))
        {
            return Ok(p);
        }
        kfree(p);
    }
    kprintln!("    # no sampled object at the wanted edge in 200 tries");
    Err(Failure::Failed)
}

/// The report `run` must cause: its kind, one more bug counted.
fn expect(kind: &str, run: impl FnOnce()) -> Result<(), Failure> {
    let bugs = STATS.bugs.load(Relaxed);
    *LAST_REPORT.lock() = None;
    run();
    let last = *LAST_REPORT.lock();
    kassert_eq!(STATS.bugs.load(Relaxed), bugs + 1, "one report");
    kassert!(
        last.is_some_and(|(k, _)| k == kind),
        "a {kind} report, got {:?}",
        last.map(|l| l.0)
    );
    Ok(())
}

fn k32() -> *mut u8 {
    kmalloc(32, Gfp::KERNEL)
}

selftest!(
    explicit "kfence",
    fn out_of_bounds_reads_left_and_right_are_reported_and_the_run_goes_on() {
        let p = sampled(&k32, 32, Edge::Left)?;
        // SAFETY: deliberately one byte before the object: KFENCE's guard
        // page faults, is reported and made readable; nothing else is there.
        expect("out-of-bounds", || unsafe { read_volatile(p.sub(1)); })?;
        kfree(p);
        let p = sampled(&k32, 32, Edge::Right)?;
        // SAFETY: as above, one byte past the end.
        expect("out-of-bounds", || unsafe { read_volatile(p.add(32)); })?;
        kfree(p);
        Ok(())
    }
);

selftest!(
    explicit "kfence",
    fn out_of_bounds_writes_left_and_right_are_reported() {
        let p = sampled(&k32, 32, Edge::Left)?;
        // SAFETY: as in the read case; the guard page's byte is the pool's.
        expect("out-of-bounds", || unsafe { write_volatile(p.sub(1), 0x42) })?;
        kfree(p);
        let p = sampled(&k32, 32, Edge::Right)?;
        // SAFETY: as above.
        expect("out-of-bounds", || unsafe { write_volatile(p.add(32), 0x42) })?;
        kfree(p);
        Ok(())
    }
);

selftest!(
    explicit "kfence",
    fn use_after_free_is_reported() {
        let p = sampled(&k32, 32, Edge::Any)?;
        kfree(p);
        // SAFETY: deliberately after the free: the freed object's page is
        // not present until the report makes it so.
        expect("use-after-free", || unsafe { read_volatile(p); })?;
        Ok(())
    }
);

selftest!(
    explicit "kfence",
    fn double_and_invalid_frees_are_reported_and_change_nothing() {
        let p = sampled(&k32, 32, Edge::Any)?;
        kfree(p);
        let frees = STATS.frees.load(Relaxed);
        expect("invalid free", || kfree(p))?;
        let q = sampled(&k32, 32, Edge::Any)?;
        // SAFETY: only the pointer value is formed; kfree reports it.
        expect("invalid free", || kfree(unsafe { q.add(1) }))?;
        kfree(q);
        kassert_eq!(STATS.frees.load(Relaxed), frees + 1, "only the real free counted");
        Ok(())
    }
);

selftest!(
    explicit "kfence",
    fn a_changed_canary_byte_is_reported_on_free() {
        let p = sampled(&k32, 32, Edge::Left)?;
        // SAFETY: deliberately past the object but inside its page (the
        // canary), which KFENCE owns; nothing faults.
        unsafe { write_volatile(p.add(32), 0) };
        expect("memory corruption", || kfree(p))?;
        Ok(())
    }
);

selftest!(
    explicit "kfence",
    fn odd_sizes_and_alignments_are_served_without_false_reports() {
        let bugs = STATS.bugs.load(Relaxed);
        for size in [1usize, 7, 13, 33, 100, 1000, 4000] {
            let p = sampled(&|| kmalloc(size, Gfp::KERNEL), size, Edge::Any)?;
            let usable = ksize(p);
            kassert!(usable >= size, "ksize {usable} for {size}");
            // SAFETY: the object's own bytes.
            unsafe { core::ptr::write_bytes(p, 0x5a, usable) };
            kfree(p);
        }
        let cache = slab::kmem_cache_create("kfence-aligned", 24, 64, SlabFlags(0), None)
            .ok_or(Failure::Failed)?;
        let p = sampled(&|| slab::kmem_cache_alloc(cache, Gfp::KERNEL), 24, Edge::Any)?;
        kassert!((p as usize).is_multiple_of(64), "{p:p} aligned to 64");
        slab::kmem_cache_free(cache, p);
        kassert!(slab::kmem_cache_destroy(cache).is_ok());
        kassert_eq!(STATS.bugs.load(Relaxed), bugs, "no report");
        Ok(())
    }
);

selftest!(
    explicit "kfence",
    fn a_dedicated_caches_object_is_guarded_too() {
        let cache = slab::kmem_cache_create("kfence-test", 32, 8, SlabFlags(0), None)
            .ok_or(Failure::Failed)?;
        let p = sampled(&|| slab::kmem_cache_alloc(cache, Gfp::KERNEL), 32, Edge::Right)?;
        // SAFETY: as in the out-of-bounds cases.
        expect("out-of-bounds", || unsafe { write_volatile(p.add(32), 1) })?;
        slab::kmem_cache_free(cache, p);
        kassert!(slab::kmem_cache_destroy(cache).is_ok());
        Ok(())
    }
);

selftest!(
    explicit "kfence",
    fn krealloc_moves_a_sampled_object_and_frees_the_old_one() {
        let p = sampled(&k32, 32, Edge::Any)?;
        // SAFETY: the object's 32 bytes.
        unsafe { core::ptr::write_bytes(p, 0x33, 32) };
        let q = krealloc(p, 200, Gfp::KERNEL);
        kassert!(!q.is_null() && q != p);
        // SAFETY: the new object holds at least the old 32 bytes.
        kassert!((0..32).all(|i| unsafe { *q.add(i) } == 0x33));
        // The old one was freed: reading it is a use after free.
        // SAFETY: deliberately after the free, as above.
        expect("use-after-free", || unsafe { read_volatile(p); })?;
        kfree(q);
        Ok(())
    }
);
