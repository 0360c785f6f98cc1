//! The workloads of BENCH-SPEC.md, each written once over
//! [`BenchAlloc`], so ours and the peers run exactly the same loop. Each
//! returns the nanoseconds of its timed round (after one untimed round:
//! first touches of guest RAM are expensive under this KVM) and the
//! operations it timed.

use super::allocators::BenchAlloc;
use crate::arch::x86_64::{ipi, percpu, tsc};
use crate::mm::{__free_pages, alloc_pages_node, page_address, Gfp};
use alloc::vec::Vec;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use numa::MAX_CPUS;

/// How long a CPU may take for one benchmark round before the caller
/// gives up on it (a slow accelerator, full operation counts).
pub const ROUND_TIMEOUT_NS: u64 = 3_600_000_000_000;

fn timed(mut f: impl FnMut()) -> u64 {
    f(); // untimed round
    let start = tsc::ns_since_boot();
    f();
    tsc::ns_since_boot() - start
}

pub fn slab_pair(a: &dyn BenchAlloc, size: usize, ops: u64) -> u64 {
    timed(|| {
        for _ in 0..ops {
            let p = a.obj_alloc(size);
            a.obj_free(black_box(p), size);
        }
    })
}

pub fn slab_batch(a: &dyn BenchAlloc, size: usize, batch: usize, rounds: u64) -> u64 {
    let mut v: Vec<*mut u8> = Vec::with_capacity(batch);
    timed(|| {
        for _ in 0..rounds {
            for _ in 0..batch {
                v.push(a.obj_alloc(size));
            }
            for p in v.drain(..) {
                a.obj_free(p, size);
            }
        }
    })
}

pub fn cache_pair(a: &dyn BenchAlloc, ops: u64) -> u64 {
    timed(|| {
        for _ in 0..ops {
            let p = a.cache_alloc();
            a.cache_free(black_box(p));
        }
    })
}

/// The CPU that frees in slab_remote_free: the first on another node, or
/// any other CPU.
pub fn remote_cpu() -> Option<&'static percpu::PerCpu> {
    let me = percpu::this_cpu().map_or(0, |c| c.node);
    percpu::online()
        .find(|c| c.node != me)
        .or_else(|| percpu::online().find(|c| c.cpu != percpu::cpu_id()))
}

/// This CPU allocates a batch; `remote` frees it (timed: the frees).
pub fn slab_remote_free(
    a: &dyn BenchAlloc,
    remote: u32,
    size: usize,
    batch: usize,
    rounds: u64,
) -> u64 {
    let mut v: Vec<usize> = Vec::with_capacity(batch);
    let mut total = 0;
    for round in 0..=rounds {
        for _ in 0..batch {
            v.push(a.obj_alloc(size) as usize);
        }
        let start = tsc::ns_since_boot();
        let objs = &v;
        let _ = ipi::schedule_on_cpu(
            remote,
            &|_| {
                for &p in objs.iter() {
                    a.obj_free(p as *mut u8, size);
                }
            },
            ROUND_TIMEOUT_NS,
        );
        if round > 0 {
            total += tsc::ns_since_boot() - start;
        }
        v.clear();
    }
    total
}

pub fn page_pair(a: &dyn BenchAlloc, order: u32, ops: u64) -> u64 {
    timed(|| {
        for _ in 0..ops {
            let p = a.page_alloc(order);
            if !p.is_null() {
                a.page_free(black_box(p), order);
            }
        }
    })
}

pub fn page_batch(a: &dyn BenchAlloc, batch: usize, rounds: u64) -> u64 {
    let mut v: Vec<*mut u8> = Vec::with_capacity(batch);
    timed(|| {
        for _ in 0..rounds {
            a.page_alloc_batch(batch, &mut v);
            for p in v.drain(..) {
                a.page_free(p, 0);
            }
        }
    })
}

/// Our page allocator only: a page from `target`, every cache line
/// written once, freed.
pub fn page_node(target: usize, ops: u64) -> u64 {
    timed(|| {
        for _ in 0..ops {
            if let Some(p) = alloc_pages_node(target as i32, Gfp::KERNEL, 0) {
                let a = page_address(p);
                for line in (0..4096).step_by(64) {
                    // SAFETY: the page is ours until freed below.
                    unsafe { a.add(line).write_volatile(1) };
                }
                __free_pages(p, 0);
            }
        }
    })
}

/// Ours only: vmalloc(size), one byte written per page, vfree. The lazy
/// purges this causes (one shootdown IPI per lazy_max_pages freed) are
/// part of the cost.
pub fn vmalloc_pair(size: usize, ops: u64) -> u64 {
    timed(|| {
        for _ in 0..ops {
            let p = crate::mm::vmalloc::vmalloc(size);
            if p.is_null() {
                continue;
            }
            for off in (0..size).step_by(4096) {
                // SAFETY: the area is ours until vfree below.
                unsafe { p.add(off).write_volatile(1) };
            }
            crate::mm::vmalloc::vfree(black_box(p));
        }
    })
}

/// slab_pair 64 (or page_pair 0) on the first `k` online CPUs at once;
/// returns the slowest CPU's nanoseconds.
pub fn parallel(a: &dyn BenchAlloc, slab: bool, k: u32, ops: u64) -> u64 {
    static SLOWEST: AtomicU64 = AtomicU64::new(0);
    let mut rank = [u32::MAX; MAX_CPUS];
    for (i, c) in percpu::online().enumerate() {
        rank[c.cpu as usize] = i as u32;
    }
    let work = |cpu: u32| {
        if rank[cpu as usize] >= k {
            return;
        }
        let start = tsc::ns_since_boot();
        for _ in 0..ops {
            if slab {
                a.obj_free(black_box(a.obj_alloc(64)), 64);
            } else {
                let p = a.page_alloc(0);
                if !p.is_null() {
                    a.page_free(black_box(p), 0);
                }
            }
        }
        SLOWEST.fetch_max(tsc::ns_since_boot() - start, Relaxed);
    };
    let _ = ipi::schedule_on_each_cpu_for(&work, ROUND_TIMEOUT_NS); // untimed round
    SLOWEST.store(0, Relaxed);
    let _ = ipi::schedule_on_each_cpu_for(&work, ROUND_TIMEOUT_NS);
    SLOWEST.load(Relaxed)
}

/// 1, 2, 4, ... up to every online CPU (the last step is all of them).
pub fn cpu_counts() -> Vec<u32> {
    let online = percpu::nr_online();
    let mut v = Vec::new();
    let mut k = 1;
    while k < online {
        v.push(k);
        k *= 2;
    }
    v.push(online);
    v
}
