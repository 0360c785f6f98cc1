//! The allocator workloads of ../shared/BENCH-SPEC.md, run on request
//! (`bench=all`, `bench=slab`, `bench=page`, `bench=vmalloc`, or names), printed as
//! `BENCH {json}` lines after a `BENCH_META` line naming the clock and the
//! hypervisor. Each workload runs one untimed round first (first touches
//! of guest RAM are expensive here), then the timed one; `bench.scale=N`
//! divides every operation count by N for quick runs.

use crate::arch::x86_64::{ipi, percpu, tsc};
use crate::kprintln;
use crate::mm::slab::{kfree, kmalloc, kmem_cache_alloc, kmem_cache_create, kmem_cache_free};
use crate::mm::{__free_pages, alloc_pages, alloc_pages_node, page_address, Gfp, Page};
use crate::numa::{numa_node_id, topology};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use mm::slub::SlabFlags;
use numa::MAX_CPUS;

/// Which workloads to run.
pub fn run(selection: &str, scale: u64) {
    let scale = scale.max(1);
    let wanted = |name: &str, group: &str| {
        selection
            .split(',')
            .any(|w| w == "all" || w == name || w == group)
    };
    kprintln!(
        "BENCH_META {{\"clock\":\"{}\",\"tsc_khz\":{},\"hypervisor\":\"{}\",\"cpus\":{},\"nodes\":{},\"scale\":{scale}}}",
        tsc::clock_source(),
        tsc::tsc_khz(),
        hypervisor(),
        percpu::nr_online(),
        topology().node_count()
    );
    if wanted("slab_pair", "slab") {
        for size in [8, 64, 256, 1024, 4096] {
            slab_pair(size, 1_000_000 / scale);
        }
    }
    if wanted("slab_batch", "slab") {
        for size in [64, 1024] {
            slab_batch(size, 10_000, 100 / scale.min(100));
        }
    }
    if wanted("slab_remote_free", "slab") {
        slab_remote_free(256, 10_000, (100 / scale).max(1));
    }
    if wanted("cache_pair", "slab") {
        cache_pair(1_000_000 / scale);
    }
    if wanted("page_pair", "page") {
        for order in [0, 1, 3] {
            page_pair(order, 1_000_000 / scale);
        }
        page_pair(9, (10_000 / scale).max(1));
    }
    if wanted("page_batch", "page") {
        page_batch(10_000, (100 / scale).max(1));
    }
    if wanted("page_node", "page") {
        page_node((100_000 / scale).max(1));
    }
    if wanted("vmalloc_pair", "vmalloc") {
        for (size, ops) in [
            (4 << 10, 10_000),
            (64 << 10, 10_000),
            (1 << 20, 10_000),
            (4 << 20, 1_000),
        ] {
            vmalloc_pair(size, (ops / scale).max(1));
        }
    }
    if wanted("parallel_slab", "slab") {
        parallel(true, 1_000_000 / scale);
    }
    if wanted("parallel_page", "page") {
        parallel(false, 1_000_000 / scale);
    }
}

/// The hypervisor's CPUID signature ("KVMKVMKVM", "TCGTCGTCGTCG", ...).
fn hypervisor() -> &'static str {
    if core::arch::x86_64::__cpuid(1).ecx & (1 << 31) == 0 {
        return "none";
    }
    let r = core::arch::x86_64::__cpuid(0x4000_0000);
    let mut sig = [0u8; 12];
    sig[..4].copy_from_slice(&r.ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&r.ecx.to_le_bytes());
    sig[8..].copy_from_slice(&r.edx.to_le_bytes());
    match &sig {
        b"KVMKVMKVM\0\0\0" => "KVMKVMKVM",
        b"TCGTCGTCGTCG" => "TCGTCGTCGTCG",
        _ => "other",
    }
}

fn emit(bench: &str, size_key: &str, size: u64, cpus: u32, ops: u64, ns: u64, extra: &str) {
    let node = numa_node_id();
    let ns_per_op = ns as f64 / ops.max(1) as f64;
    // One decimal, without floating-point formatting of large values.
    let tenths = (ns_per_op * 10.0) as u64;
    kprintln!(
        "BENCH {{\"bench\":\"{bench}\",\"{size_key}\":{size},\"cpus\":{cpus},\"node\":{node},\"ops\":{ops},\"ns_per_op\":{}.{}{extra}}}",
        tenths / 10,
        tenths % 10
    );
}

fn timed(mut f: impl FnMut()) -> u64 {
    f(); // untimed round
    let start = tsc::ns_since_boot();
    f();
    tsc::ns_since_boot() - start
}

fn slab_pair(size: usize, ops: u64) {
    let ns = timed(|| {
        for _ in 0..ops {
            let p = kmalloc(size, Gfp::KERNEL);
            kfree(core::hint::black_box(p));
        }
    });
    emit("slab_pair", "size", size as u64, 1, ops, ns, "");
}

fn slab_batch(size: usize, batch: usize, rounds: u64) {
    let mut v: Vec<*mut u8> = Vec::with_capacity(batch);
    let ns = timed(|| {
        for _ in 0..rounds {
            for _ in 0..batch {
                v.push(kmalloc(size, Gfp::KERNEL));
            }
            for p in v.drain(..) {
                kfree(p);
            }
        }
    });
    emit(
        "slab_batch",
        "size",
        size as u64,
        1,
        batch as u64 * rounds,
        ns,
        ",\"batch\":10000",
    );
}

fn cache_pair(ops: u64) {
    let Some(cache) = kmem_cache_create("bench-192", 192, 8, SlabFlags::HWCACHE_ALIGN, None) else {
        kprintln!("# cache_pair: kmem_cache_create failed; skipped");
        return;
    };
    let ns = timed(|| {
        for _ in 0..ops {
            let p = kmem_cache_alloc(cache, Gfp::KERNEL);
            kmem_cache_free(cache, core::hint::black_box(p));
        }
    });
    emit("cache_pair", "size", 192, 1, ops, ns, "");
    let _ = crate::mm::slab::kmem_cache_destroy(cache);
}

/// CPU 0 allocates a batch; a CPU on another node frees it.
fn slab_remote_free(size: usize, batch: usize, rounds: u64) {
    let t = topology();
    let me = percpu::this_cpu().map_or(0, |c| c.node);
    let Some(remote) = percpu::online()
        .find(|c| c.node != me)
        .or_else(|| percpu::online().find(|c| c.cpu != 0))
    else {
        kprintln!("# slab_remote_free: one CPU only; skipped");
        return;
    };
    let mut v: Vec<usize> = Vec::with_capacity(batch);
    let mut total = 0;
    for round in 0..=rounds {
        for _ in 0..batch {
            v.push(kmalloc(size, Gfp::KERNEL) as usize);
        }
        let start = tsc::ns_since_boot();
        let objs = &v;
        let _ = ipi::call_on(remote.cpu, &|_| {
            for &p in objs.iter() {
                kfree(p as *mut u8);
            }
        });
        if round > 0 {
            total += tsc::ns_since_boot() - start;
        }
        v.clear();
    }
    let extra = alloc::format!(
        ",\"free_cpu\":{},\"free_node\":{},\"distance\":{}",
        remote.cpu,
        remote.node,
        t.distance(me, remote.node)
    );
    emit(
        "slab_remote_free",
        "size",
        size as u64,
        1,
        batch as u64 * rounds,
        total,
        &extra,
    );
}

fn page_pair(order: u32, ops: u64) {
    let ns = timed(|| {
        for _ in 0..ops {
            if let Some(p) = alloc_pages(Gfp::KERNEL, order) {
                __free_pages(core::hint::black_box(p), order);
            }
        }
    });
    emit("page_pair", "order", order as u64, 1, ops, ns, "");
}

fn page_batch(batch: usize, rounds: u64) {
    let mut v: Vec<Page> = Vec::with_capacity(batch);
    let ns = timed(|| {
        for _ in 0..rounds {
            for _ in 0..batch {
                if let Some(p) = alloc_pages(Gfp::KERNEL, 0) {
                    v.push(p);
                }
            }
            for p in v.drain(..) {
                __free_pages(p, 0);
            }
        }
    });
    emit(
        "page_batch",
        "order",
        0,
        1,
        batch as u64 * rounds,
        ns,
        ",\"batch\":10000",
    );
}

fn page_node(ops: u64) {
    let t = topology();
    let me = numa_node_id();
    for target in (0..t.node_count()).filter(|&n| t.has_memory(n)) {
        let ns = timed(|| {
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
        });
        let extra = alloc::format!(
            ",\"target_node\":{target},\"distance\":{}",
            t.distance(me, target)
        );
        emit("page_node", "order", 0, 1, ops, ns, &extra);
    }
}

/// vmalloc(size), one byte written per page, vfree. The lazy purges this
/// causes (one shootdown IPI per lazy_max_pages freed) are part of the cost.
fn vmalloc_pair(size: usize, ops: u64) {
    let purges = crate::mm::vmalloc::STATS.purges.load(Relaxed);
    let ns = timed(|| {
        for _ in 0..ops {
            let p = crate::mm::vmalloc::vmalloc(size);
            if p.is_null() {
                continue;
            }
            for off in (0..size).step_by(4096) {
                // SAFETY: the area is ours until vfree below.
                unsafe { p.add(off).write_volatile(1) };
            }
            crate::mm::vmalloc::vfree(core::hint::black_box(p));
        }
    });
    let extra = alloc::format!(
        ",\"lazy_purges\":{}",
        crate::mm::vmalloc::STATS.purges.load(Relaxed) - purges
    );
    emit("vmalloc_pair", "size", size as u64, 1, ops, ns, &extra);
}

/// slab_pair 64 or page_pair 0 on 1, 2, 4, ... CPUs at once.
fn parallel(slab: bool, ops: u64) {
    static SLOWEST: AtomicU64 = AtomicU64::new(0);
    let online = percpu::nr_online();
    let mut k = 1;
    while k <= online {
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
                    kfree(core::hint::black_box(kmalloc(64, Gfp::KERNEL)));
                } else if let Some(p) = alloc_pages(Gfp::KERNEL, 0) {
                    __free_pages(core::hint::black_box(p), 0);
                }
            }
            SLOWEST.fetch_max(tsc::ns_since_boot() - start, Relaxed);
        };
        let _ = ipi::schedule_on_each_cpu(&work); // untimed round
        SLOWEST.store(0, Relaxed);
        let _ = ipi::schedule_on_each_cpu(&work);
        if slab {
            emit(
                "parallel_slab",
                "size",
                64,
                k,
                ops,
                SLOWEST.load(Relaxed),
                "",
            );
        } else {
            emit(
                "parallel_page",
                "order",
                0,
                k,
                ops,
                SLOWEST.load(Relaxed),
                "",
            );
        }
        if k == online {
            break;
        }
        k = (k * 2).min(online);
    }
}
