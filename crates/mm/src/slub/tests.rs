//! SLUB on heap-backed "pages" (aligned blocks from the host allocator),
//! small enough for Miri.

extern crate std;
use super::*;
use boot_tests::XorShift;
use std::alloc::{alloc, dealloc, Layout};
use std::boxed::Box;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::vec::Vec;

/// Blocks from the host heap, aligned to their size like buddy blocks.
struct HostPages {
    live: Cell<i64>,
}

impl SlabPages for HostPages {
    fn alloc(&self, node: usize, order: u32) -> Option<(*mut u8, usize)> {
        let size = PAGE << order;
        let layout = Layout::from_size_align(size, size).unwrap();
        // SAFETY: non-zero size.
        let p = unsafe { alloc(layout) };
        self.live.set(self.live.get() + 1);
        (!p.is_null()).then_some((p, node))
    }
    fn free(&self, block: *mut u8, order: u32) {
        let size = PAGE << order;
        self.live.set(self.live.get() - 1);
        // SAFETY: allocated above with this layout.
        unsafe { dealloc(block, Layout::from_size_align(size, size).unwrap()) };
    }
}

fn pages() -> HostPages {
    HostPages { live: Cell::new(0) }
}

fn cache(size: usize, flags: SlabFlags) -> Box<KmemCache> {
    Box::new(
        KmemCache::new(
            "test",
            size,
            8,
            flags,
            None,
            0x1234_5678_9abc_def1,
            IdLimits::MAX,
        )
        .unwrap(),
    )
}

const ROUNDS: usize = if cfg!(miri) { 300 } else { 20_000 };

#[test]
fn layouts_fit_linux_sizes() {
    for size in [
        8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
    ] {
        let l = object_layout(size, 8, SlabFlags(0), 12).unwrap();
        assert!(l.size >= size && l.objects >= 1, "{size}: {l:?}");
        let bytes = PAGE << l.order;
        assert!(l.first + l.objects * l.size <= bytes);
    }
    // Linux's calculate_order with 2 CPUs (12 objects at least, leftover
    // at most 1/16, then 1/8, ...): (size, order, objects), our 64-byte
    // header included.
    for (size, order, objects) in [
        (64, 0, 63),
        (256, 0, 15),
        (512, 1, 15),
        (1024, 2, 15),
        (2048, 3, 15),
        (4096, 3, 7),
        (8192, 3, 3),
    ] {
        let l = object_layout(size, 8, SlabFlags(0), min_objects(2)).unwrap();
        assert_eq!((l.order, l.objects), (order, objects), "{size}");
    }
    // 16 CPUs: 24 objects at least.
    assert_eq!(min_objects(16), 24);
    assert_eq!(min_objects(1), 8);
    let l = object_layout(256, 8, SlabFlags(0), min_objects(16)).unwrap();
    assert_eq!((l.order, l.objects), (1, 31));
    let hw = object_layout(100, 8, SlabFlags::HWCACHE_ALIGN, 12).unwrap();
    assert_eq!(hw.size % 64, 0);
    assert!(matches!(
        object_layout(0, 8, SlabFlags(0), 12),
        Err(CreateError::ZeroSize)
    ));
    assert!(matches!(
        object_layout(64, 24, SlabFlags(0), 12),
        Err(CreateError::BadAlign(24))
    ));
    assert!(matches!(
        object_layout(1 << 20, 8, SlabFlags(0), 12),
        Err(CreateError::TooLarge(_))
    ));
    assert_eq!(SlabFlags::from_letters("FZPU"), Ok(SlabFlags::DEBUG));
    assert_eq!(SlabFlags::from_letters("FQ"), Err('Q'));
    assert_eq!(SlabFlags::from_letters("A"), Ok(SlabFlags::FAILSLAB));
}

/// Random allocations and frees from three "CPUs", freeing each other's
/// objects: no two live objects overlap, each is aligned and writable,
/// every object comes back, and emptied slabs go back to the pages.
#[test]
fn random_sequences_across_cpus_keep_every_invariant() {
    for (size, flags) in [
        (24, SlabFlags(0)),
        (200, SlabFlags::DEBUG),
        (64, SlabFlags::HWCACHE_ALIGN),
    ] {
        let p = pages();
        let c = cache(size, flags);
        let mut rng = XorShift(size as u64 * 77 + 1);
        let mut live: BTreeMap<usize, u8> = BTreeMap::new();
        for step in 0..ROUNDS {
            let cpu = (rng.next_u64() % 3) as usize;
            if live.is_empty() || rng.next_u64() % 5 < 3 {
                // CPU 2's home is node 1: its frees of node 0's objects
                // are remote and never deferred.
                // SAFETY: each cpu index is used by this one thread.
                let fast = if rng.next_u64().is_multiple_of(2) {
                    unsafe { c.alloc_fast(cpu) }
                } else {
                    ptr::null_mut()
                };
                let obj = if fast.is_null() {
                    unsafe { c.alloc(cpu, cpu / 2, &p, 0xa110c) }
                        .unwrap()
                        .unwrap() as usize
                } else {
                    fast as usize
                };
                assert_eq!(obj % c.align, 0);
                if let Some((&prev, _)) = live.range(..obj).next_back() {
                    assert!(prev + size <= obj, "step {step}: overlap");
                }
                if let Some((&next, _)) = live.range(obj..).next() {
                    assert!(obj + size <= next, "step {step}: overlap");
                }
                let tag = (step % 251) as u8;
                // SAFETY: the object is ours, `size` bytes.
                unsafe { ptr::write_bytes(obj as *mut u8, tag, size) };
                live.insert(obj, tag);
            } else {
                let k = (rng.next_u64() as usize) % live.len();
                let (&obj, &tag) = live.iter().nth(k).unwrap();
                live.remove(&obj);
                // SAFETY: still ours until freed below.
                let intact = unsafe { core::slice::from_raw_parts(obj as *const u8, size) }
                    .iter()
                    .all(|&b| b == tag);
                assert!(intact, "object {obj:#x} changed while allocated");
                // Each free path in turn; the slow path takes what the
                // fast ones refuse.
                // SAFETY: as above; `obj` lies in a live slab of `c`.
                let done = match rng.next_u64() % 3 {
                    0 => unsafe { c.free_fast(cpu, obj as *mut u8) },
                    1 => unsafe { c.free_fast_tagged(cpu, obj as *mut u8) },
                    _ => false,
                };
                if !done {
                    unsafe { c.free(cpu, obj as *mut u8, &p, 0xf4ee) }.unwrap();
                }
            }
            assert_eq!(c.active_objects(), live.len() as u64);
        }
        for &obj in live.keys() {
            // SAFETY: as above.
            unsafe { c.free(0, obj as *mut u8, &p, 0) }.unwrap();
        }
        for cpu in 0..3 {
            // SAFETY: as above.
            assert!(unsafe { c.flush_cpu(cpu, &p) });
        }
        // SAFETY: no CPU uses the cache now.
        assert_eq!(unsafe { c.shrink(&p) }, 0);
        assert_eq!(p.live.get(), 0, "every slab went back");
        assert_eq!(c.total_slabs(), 0);
    }
}

fn one(c: &KmemCache, p: &HostPages) -> *mut u8 {
    // SAFETY: cpu 0 is this thread's.
    unsafe { c.alloc(0, 0, p, 0x1111) }.unwrap().unwrap()
}

#[test]
fn double_free_is_caught_with_and_without_debug() {
    let p = pages();
    let c = cache(64, SlabFlags(0));
    let a = one(&c, &p);
    // SAFETY: a is ours.
    unsafe { c.free(0, a, &p, 0) }.unwrap();
    // SAFETY: the second free is the test.
    let e = unsafe { c.free(0, a, &p, 0) }.unwrap_err();
    assert_eq!(e.error, SlabError::DoubleFree { addr: a as usize });
    let d = cache(64, SlabFlags::DEBUG);
    let a = one(&d, &p);
    let b = one(&d, &p);
    // SAFETY: ours.
    unsafe { d.free(0, a, &p, 0x2222) }.unwrap();
    unsafe { d.free(0, b, &p, 0x3333) }.unwrap();
    // `a` is no longer at the list head: only debug can tell.
    let e = unsafe { d.free(0, a, &p, 0x4444) }.unwrap_err();
    assert_eq!(e.error, SlabError::DoubleFree { addr: a as usize });
    assert_eq!((e.alloc_caller, e.free_caller), (0x1111, 0x2222));
    assert!(std::format!("{e}").contains("double free"));
}

#[test]
fn a_write_past_the_end_is_caught_on_free() {
    let p = pages();
    let c = cache(40, SlabFlags::DEBUG);
    let a = one(&c, &p);
    // SAFETY: one byte past the 40-byte object lies in its red zone, within the stride.
    unsafe { a.add(40).write(0x41) };
    let e = unsafe { c.free(0, a, &p, 0) }.unwrap_err();
    assert_eq!(
        e.error,
        SlabError::RedZoneOverwritten {
            addr: a as usize,
            offset: 40,
            found: 0x41
        }
    );
}

#[test]
fn a_write_after_free_is_caught_on_allocation() {
    let p = pages();
    let c = cache(48, SlabFlags::DEBUG);
    let a = one(&c, &p);
    // SAFETY: ours, then freed; the write after free is the test (the
    // memory stays mapped: it is the slab's).
    unsafe {
        c.free(0, a, &p, 0x5555).unwrap();
        a.add(10).write(0);
    }
    let e = unsafe { c.alloc(0, 0, &p, 0) }.unwrap_err();
    assert_eq!(
        e.error,
        SlabError::WriteAfterFree {
            addr: a as usize,
            offset: 10,
            found: 0
        }
    );
    assert_eq!(e.free_caller, 0x5555);
}

#[test]
fn foreign_and_misaligned_pointers_are_refused() {
    let p = pages();
    let c = cache(64, SlabFlags(0));
    let other = cache(64, SlabFlags(0));
    let a = one(&c, &p);
    let b = one(&other, &p);
    // SAFETY: the frees are refused before anything is written.
    let e = unsafe { c.free(0, b, &p, 0) }.unwrap_err();
    assert_eq!(e.error, SlabError::ForeignPointer { addr: b as usize });
    let e = unsafe { c.free(0, a.add(8), &p, 0) }.unwrap_err();
    assert_eq!(
        e.error,
        SlabError::NotObjectStart {
            addr: a as usize + 8,
            offset: 8
        }
    );
    unsafe { c.free(0, a, &p, 0) }.unwrap();
}

#[test]
fn destroying_a_cache_with_live_objects_reports_them() {
    let p = pages();
    let c = cache(128, SlabFlags(0));
    let objs: Vec<_> = (0..10).map(|_| one(&c, &p)).collect();
    for &o in &objs[..7] {
        // SAFETY: ours.
        unsafe { c.free(0, o, &p, 0) }.unwrap();
    }
    assert!(unsafe { c.flush_cpu(0, &p) });
    assert_eq!(unsafe { c.shrink(&p) }, 3, "three objects leaked");
    for &o in &objs[7..] {
        unsafe { c.free(0, o, &p, 0) }.unwrap();
    }
    // Those frees may wait on CPU 0's deferred list: destroy flushes first.
    assert!(unsafe { c.flush_cpu(0, &p) });
    assert_eq!(unsafe { c.shrink(&p) }, 0);
    assert_eq!(p.live.get(), 0);
}

#[test]
fn the_free_pointer_is_not_stored_in_the_clear() {
    let p = pages();
    let c = cache(64, SlabFlags(0));
    let a = one(&c, &p);
    let b = one(&c, &p);
    unsafe {
        c.free(0, b, &p, 0).unwrap();
        c.free(0, a, &p, 0).unwrap();
        // a's free pointer names b, but not as b's address.
        let stored = (a as *const usize).read();
        assert_ne!(stored, b as usize);
        assert_eq!(c.get_fp(a), b);
    }
}

/// A free that turns a full slab partial parks it on the freeing CPU's
/// partial list when the slab is on that CPU's node; the CPU's next
/// allocation takes it from there, without the node's list. A slab of
/// another node goes to its node's list instead.
#[test]
fn a_full_slab_freed_into_becomes_the_cpus_partial_slab() {
    let p = pages();
    let mut c = cache(64, SlabFlags(0));
    // What a free does once it reaches the slab: no deferred list.
    c.defer_max = 0;
    let per_slab = c.layout.objects;
    // SAFETY (all below): each cpu index is used by this one thread.
    let objs: Vec<*mut u8> = (0..3 * per_slab)
        .map(|_| unsafe { c.alloc(0, 0, &p, 0) }.unwrap().unwrap())
        .collect();
    let node_partial = |node: usize| c.nodes[node].lock().nr_partial;
    let cpu_partial = |cpu: usize| unsafe { (*c.cpus[cpu].slab.get()).nr_partial };
    assert_eq!(node_partial(0), 0, "every slab is full");
    // Slab 0 is full and belongs to no CPU: a free makes it CPU 0's.
    unsafe { c.free(0, objs[1], &p, 0) }.unwrap();
    assert_eq!((cpu_partial(0), node_partial(0)), (1, 0));
    // CPU 1 never allocated (no home node): its free goes to the node.
    unsafe { c.free(1, objs[per_slab + 1], &p, 0) }.unwrap();
    assert_eq!((cpu_partial(1), node_partial(0)), (0, 1));
    // The active slab is full, so CPU 0's next object is the one it freed.
    assert_eq!(unsafe { c.alloc(0, 0, &p, 0) }.unwrap().unwrap(), objs[1]);
    assert_eq!(cpu_partial(0), 0);
    // A CPU whose home is node 1 does not keep node 0's slab.
    let other = unsafe { c.alloc(2, 1, &p, 0) }.unwrap().unwrap();
    unsafe { c.free(2, objs[2 * per_slab + 3], &p, 0) }.unwrap();
    assert_eq!(cpu_partial(2), 0);
    // Everything comes back: objects, slabs, pages.
    for (i, &o) in objs.iter().enumerate() {
        if i != per_slab + 1 && i != 2 * per_slab + 3 {
            unsafe { c.free(i % 3, o, &p, 0) }.unwrap();
        }
    }
    unsafe { c.free(2, other, &p, 0) }.unwrap();
    for cpu in 0..3 {
        assert!(unsafe { c.flush_cpu(cpu, &p) });
    }
    assert_eq!(unsafe { c.shrink(&p) }, 0);
    assert_eq!(p.live.get(), 0, "every slab went back");
}

#[test]
fn fast_paths_serve_the_active_slab_and_leave_the_rest_to_the_slow_path() {
    let c = cache(64, SlabFlags(0));
    let p = pages();
    // Nothing on the CPU list yet: the fast path declines.
    // SAFETY: one thread plays CPU 0; the cache does not move.
    assert!(unsafe { c.alloc_fast(0) }.is_null());
    let first = unsafe { c.alloc(0, 0, &p, 0) }.unwrap().unwrap();
    let mut objs = std::vec![first];
    for _ in 0..10 {
        let o = unsafe { c.alloc_fast(0) };
        assert!(!o.is_null());
        objs.push(o);
    }
    assert_eq!(c.active_objects(), 11);
    // Every object is in the active slab: all fast frees, and the list's
    // head freed again is refused (the slow path reports it).
    for &o in objs.iter().rev() {
        assert!(unsafe { c.free_fast(0, o) });
    }
    assert!(!unsafe { c.free_fast(0, first) });
    assert!(unsafe { c.free(0, first, &p, 0) }.is_err());
    // Not an object start, and another CPU's slab: declined.
    assert!(!unsafe { c.free_fast(0, first.wrapping_add(8)) });
    assert!(!unsafe { c.free_fast(1, first) });
    assert_eq!(c.active_objects(), 0);
    // Debug caches never take the fast paths.
    let d = cache(64, SlabFlags::DEBUG);
    let o = unsafe { d.alloc(0, 0, &p, 0) }.unwrap().unwrap();
    unsafe { d.free(0, o, &p, 0) }.unwrap();
    assert!(unsafe { d.alloc_fast(0) }.is_null());
    assert!(!unsafe { d.free_fast(0, o) });
}

#[test]
fn an_interrupt_over_a_fast_path_bypasses_the_slot_and_balances() {
    let c = cache(128, SlabFlags(0));
    let p = pages();
    // SAFETY: as above.
    let keep = unsafe { c.alloc(0, 0, &p, 0) }.unwrap().unwrap();
    let before = unsafe { (*c.cpus[0].slab.get()).freelist };
    // As if an interrupt came while CPU 0 was inside a fast path.
    c.cpus[0].busy.store(true, Relaxed);
    let mut taken = Vec::new();
    for _ in 0..200 {
        let o = unsafe { c.alloc(0, 0, &p, 0) }.unwrap().unwrap();
        assert_ne!(o, keep);
        taken.push(o);
    }
    // The slot was not touched: its list is as it was.
    assert_eq!(unsafe { (*c.cpus[0].slab.get()).freelist }, before);
    assert!(!unsafe { c.flush_cpu(0, &p) }, "a busy slot is not flushed");
    for &o in &taken {
        unsafe { c.free(0, o, &p, 0) }.unwrap();
    }
    c.cpus[0].busy.store(false, Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    assert!(
        taken.iter().all(|o| seen.insert(*o as usize)),
        "an object handed out twice"
    );
    unsafe { c.free(0, keep, &p, 0) }.unwrap();
    assert_eq!(c.active_objects(), 0);
    assert!(unsafe { c.flush_cpu(0, &p) });
    assert_eq!(unsafe { c.shrink(&p) }, 0);
}

/// Frees of home-node objects outside the active slab wait on the CPU's
/// deferred list, up to its bound; allocations take them back first (last
/// in, first out); a full list goes to its slabs in one batch; a remote
/// object waits on the remote list instead; a flush empties both; and a
/// double free onto either is caught.
#[test]
fn frees_wait_on_the_deferred_list_and_go_back_in_batches() {
    let p = pages();
    let c = cache(64, SlabFlags(0));
    let max = c.defer_max as usize;
    assert!((8..=64).contains(&max));
    let per_slab = c.layout.objects;
    let deferred = |cpu: usize| unsafe { (*c.cpus[cpu].slab.get()).nr_deferred } as usize;
    // SAFETY (all below): each cpu index is used by this one thread, and
    // every pointer freed is a live object of `c`.
    let objs: Vec<*mut u8> = (0..4 * per_slab)
        .map(|_| unsafe { c.alloc(0, 0, &p, 0) }.unwrap().unwrap())
        .collect();
    // The first slab is not the active one: its objects are deferred.
    assert!(unsafe { c.free_fast_tagged(0, objs[0]) });
    assert!(
        !unsafe { c.free_fast_tagged(0, objs[0]) },
        "double free deferred"
    );
    assert!(matches!(
        unsafe { c.free(0, objs[0], &p, 0) },
        Err(SlabReport {
            error: SlabError::DoubleFree { .. },
            ..
        })
    ));
    assert_eq!(deferred(0), 1);
    // The last object allocated lies in the active slab: back onto its
    // list, not deferred.
    assert!(unsafe { c.free_fast_tagged(0, objs[4 * per_slab - 1]) });
    assert_eq!(deferred(0), 1);
    let last = unsafe { c.alloc_fast(0) };
    assert_eq!(last, objs[4 * per_slab - 1]);
    // CPU 1's home is node 1: node 0's objects wait on its remote list,
    // never on the deferred one that its allocations take from.
    let remote = |cpu: usize| unsafe { (*c.cpus[cpu].slab.get()).nr_remote } as usize;
    let _ = unsafe { c.alloc(1, 1, &p, 0) }.unwrap().unwrap();
    assert!(unsafe { c.free_fast_tagged(1, objs[1]) });
    assert_eq!((deferred(1), remote(1)), (0, 1));
    assert!(
        !unsafe { c.free_fast_tagged(1, objs[1]) },
        "double free onto the remote list"
    );
    assert!(matches!(
        unsafe { c.free(1, objs[1], &p, 0) },
        Err(SlabReport {
            error: SlabError::DoubleFree { .. },
            ..
        })
    ));
    // Fill the list; the next free flushes it and starts it again.
    let mut k = 2;
    while deferred(0) < max {
        assert!(unsafe { c.free_fast_tagged(0, objs[k]) });
        k += 1;
    }
    assert!(!unsafe { c.free_fast_tagged(0, objs[k]) }, "list full");
    // A double free of the full list's head is caught before the flush
    // (which would have emptied the list and let it on twice).
    assert!(matches!(
        unsafe { c.free(0, objs[k - 1], &p, 0) },
        Err(SlabReport {
            error: SlabError::DoubleFree { .. },
            ..
        })
    ));
    assert_eq!(deferred(0), max, "nothing flushed for a refused free");
    let inuse_before =
        unsafe { (*(objs[0].map_addr(|a| a & !(PAGE - 1)) as *mut SlabHeader)).inuse };
    unsafe { c.free(0, objs[k], &p, 0) }.unwrap();
    assert_eq!(deferred(0), 1, "flushed, then this one deferred");
    let inuse_after =
        unsafe { (*(objs[0].map_addr(|a| a & !(PAGE - 1)) as *mut SlabHeader)).inuse };
    assert!(inuse_after < inuse_before, "the batch reached its slabs");
    // The next allocation is the object freed last.
    assert_eq!(unsafe { c.alloc_fast(0) }, objs[k]);
    assert_eq!(deferred(0), 0);
    // Everything back: objects, slabs, pages.
    for (i, &o) in objs.iter().enumerate() {
        if i > 1 && i < k {
            continue; // freed above
        }
        if i == 0 || i == 1 {
            continue;
        }
        unsafe { c.free(0, o, &p, 0) }.unwrap();
    }
    assert_eq!(c.active_objects(), 1, "CPU 1's object");
    assert!(unsafe { c.flush_cpu(0, &p) } && unsafe { c.flush_cpu(1, &p) });
    assert_eq!(unsafe { c.shrink(&p) }, 1);
}

#[test]
fn every_size_gets_the_smallest_class_that_holds_it() {
    for size in 1..=8192 {
        let c = kmalloc_index(size);
        assert!(KMALLOC_SIZES[c] >= size, "{size} -> {}", KMALLOC_SIZES[c]);
        assert!(
            c == 0 || KMALLOC_SIZES[c - 1] < size,
            "{size}: a smaller class fits"
        );
    }
}

/// A fresh slab becomes the CPU's active slab directly (on no list); a
/// batch freed in allocation order reaches its slabs run by run (one
/// splice a run) with every count exact; and every object comes back
/// once, not lost or doubled, when the batch is allocated again.
#[test]
fn fresh_slabs_go_active_and_batches_go_back_whole() {
    let p = pages();
    let c = cache(256, SlabFlags(0));
    let per_slab = c.layout.objects;
    let n = 5 * per_slab + 3;
    // SAFETY (all below): cpu 0 is this thread's; every pointer freed is
    // a live object of `c`, freed once.
    let first = unsafe { c.alloc(0, 0, &p, 0) }.unwrap().unwrap();
    let active = unsafe { (*c.cpus[0].slab.get()).slab };
    assert_eq!(active as usize, first as usize & !(PAGE - 1));
    assert_eq!(unsafe { (*active).frozen }, 1, "frozen to CPU 0");
    assert_eq!(c.nodes[0].lock().nr_partial, 0, "on no list");
    unsafe { c.free(0, first, &p, 0) }.unwrap();
    for round in 0..3 {
        let objs: Vec<*mut u8> = (0..n)
            .map(|_| unsafe { c.alloc(0, 0, &p, 0) }.unwrap().unwrap())
            .collect();
        let mut seen: Vec<usize> = objs.iter().map(|&o| o as usize).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), n, "round {round}: an object handed out twice");
        assert_eq!(c.active_objects(), n as u64);
        for &o in &objs {
            if !unsafe { c.free_fast_tagged(0, o) } {
                unsafe { c.free(0, o, &p, 0) }.unwrap();
            }
        }
        assert_eq!(c.active_objects(), 0);
        assert!(unsafe { c.flush_cpu(0, &p) });
        // Every slab's count matches its list: all free.
        let mut slab = c.nodes[0].lock().partial;
        while !slab.is_null() {
            assert_eq!(unsafe { (*slab).inuse }, 0, "round {round}");
            slab = unsafe { (*slab).next };
        }
    }
    unsafe { c.shrink(&p) };
    assert_eq!(
        (c.total_slabs(), p.live.get()),
        (0, 0),
        "every slab went back"
    );
}
