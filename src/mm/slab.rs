//! The kernel's object allocator: the `mm` crate's SLUB caches on this
//! machine's node-local pages, kmalloc's size classes, Linux's interface
//! (kmalloc, kzalloc, kmalloc_node, kcalloc, kmalloc_array, krealloc,
//! ksize, kfree, kmem_cache_*), Rust's global allocator, and the
//! /proc/slabinfo report.
//!
//! A hit on the calling CPU's active slab (an object on its list, or a
//! free into it) takes the fast paths: no interrupt masking, no atomic
//! instruction, no node policy, only the CPU's busy flag (Linux's
//! local_trylock), which an interrupt handler finding it set respects by
//! bypassing the CPU's slot. Everything else runs on the calling CPU with
//! interrupts off: that is the contract that lets a CPU's active slab be
//! used without a lock.

use super::page_alloc::{allocator, Page};
use super::{__free_pages, alloc_pages_node, page_address, Gfp};
use crate::arch::x86_64::{ipi, percpu};
use crate::numa::numa_node_id;
use core::alloc::{GlobalAlloc, Layout};
use core::panic::Location;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use layout::PAGE_SIZE;
use mm::slub::{KmemCache, SlabFlags, SlabPages, SlabReport};
use spin::Once;
use x86_64::instructions::interrupts::without_interrupts;

pub use mm::slub::KMALLOC_SIZES;
/// Larger requests go to the page allocator.
pub const KMALLOC_MAX_CACHE_SIZE: usize = 2 * PAGE_SIZE as usize;
/// The largest kmalloc: one MAX_ORDER block.
pub const KMALLOC_MAX_SIZE: usize = (PAGE_SIZE as usize) << mm::buddy::MAX_ORDER;
/// Caches that can exist at once: registry slots 1 to 128 (slot 0 is
/// never used, so a frame tag of 0 names no cache).
const MAX_CACHES: usize = 128;

/// Every cache, so kfree can tell a cache pointer read from a slab header
/// is one of ours before following it. A cache's slot is also the tag its
/// slabs' frames carry in SLAB_MAP; the table has an entry for every
/// byte value, so a tag indexes it with no bounds check.
static CACHES: [AtomicPtr<KmemCache>; 256] = [const { AtomicPtr::new(ptr::null_mut()) }; 256];

/// The registry slots a cache may take.
fn registry() -> &'static [AtomicPtr<KmemCache>] {
    &CACHES[1..=MAX_CACHES]
}
static KMALLOC: Once<[&'static KmemCache; 13]> = Once::new();
static SLUB_DEBUG: Once<Option<(SlabFlags, Option<&'static str>)>> = Once::new();
pub static SLAB_REPORTS: AtomicU64 = AtomicU64::new(0);
/// Pages held by large kmalloc allocations (not slabs).
static LARGE_PAGES: AtomicU64 = AtomicU64::new(0);
/// Per frame of RAM present at boot: the registry slot of the cache whose
/// slab holds it, or 0 (Linux keeps this in the slab's struct page).
/// kfree finds an object's cache with two loads and no search; frames
/// beyond the map (memory added later) take the search. The map is a
/// start and a length rather than a `Once<&[_]>`: kfree's fast path reads
/// the two words with no initialisation state to test (the length is 0
/// until the map exists, and is published after it).
static SLAB_MAP: AtomicPtr<AtomicU8> = AtomicPtr::new(ptr::null_mut());
static SLAB_MAP_LEN: AtomicUsize = AtomicUsize::new(0);

/// The map's entries for the `frames` frames from the one holding `addr`,
/// if the map covers them all. One bounds check covers everything outside
/// the direct map too: below it the offset wraps far above any frame
/// count, and above it (the kernel image, vmalloc) it lies 68 TiB or more
/// past the direct map's start, beyond the RAM this kernel can be given.
#[inline(always)]
fn map_entries(addr: usize, frames: usize) -> Option<&'static [AtomicU8]> {
    let pfn = addr.wrapping_sub(layout::DIRECT_MAP_BASE as usize) / PAGE_SIZE as usize;
    if pfn.checked_add(frames)? > SLAB_MAP_LEN.load(Acquire) {
        return None;
    }
    // SAFETY: set once in reserve_slab_map to memblock memory of the
    // published length, which lives for good; the range is below it.
    Some(unsafe { core::slice::from_raw_parts(SLAB_MAP.load(Relaxed).add(pfn), frames) })
}

/// Reserves the frame map for RAM up to `end_pfn` (before memblock
/// hands its memory to the page allocator): a byte a frame, 0.025%.
pub fn reserve_slab_map(end_pfn: u64) {
    let bytes = end_pfn;
    match super::memblock::alloc_on_node(numa_node_id(), bytes, PAGE_SIZE) {
        Ok(phys) => {
            let p = layout::phys_to_virt(phys) as *mut u8;
            // SAFETY: memblock reserved `bytes` of RAM in the direct map
            // for good; zeroed here, then used only as atomics.
            unsafe { ptr::write_bytes(p, 0, bytes as usize) };
            SLAB_MAP.store(p as *mut AtomicU8, Relaxed);
            SLAB_MAP_LEN.store(end_pfn as usize, Release);
        }
        Err(e) => log::warn!(
            "slab: no {} KiB for the frame map ({e:?}); kfree searches instead",
            bytes >> 10
        ),
    }
}

/// Tags the `1 << order` frames of the slab at `block` (where the map
/// covers them: a block is never split across its end).
fn tag_frames(block: *mut u8, order: u32, tag: u8) {
    if let Some(entries) = map_entries(block as usize, 1 << order) {
        for e in entries {
            e.store(tag, Relaxed);
        }
    }
}

/// The registered cache whose slab holds `obj`, from its frame's tag;
/// None for anything else (large kmalloc blocks, foreign pointers,
/// frames the map does not cover).
#[inline(always)]
fn tagged_cache_of(obj: *const u8) -> Option<&'static KmemCache> {
    let tag = map_entries(obj as usize, 1)?[0].load(Relaxed);
    let cache = CACHES[tag as usize].load(Acquire);
    // SAFETY: registered caches live until destroyed, and destroy
    // unregisters (and frees its slabs, clearing their tags) first.
    unsafe { cache.as_ref() }
}

/// Pages in slabs: [unreclaimable, reclaimable] (Linux's NR_SLAB_*),
/// kept as slabs come and go so reclaim reads them in O(1).
static SLAB_PAGES: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static RANDOM: AtomicUsize = AtomicUsize::new(0x9e37_79b9_7f4a_7c15);

/// Slab pages from the page allocator, with the caller's GFP mask. The
/// pages of a SLAB_TYPESAFE_BY_RCU cache go back only after a grace period.
struct Pages {
    gfp: Gfp,
    rcu: bool,
    /// Counted as reclaimable slab (a SLAB_RECLAIM_ACCOUNT cache).
    reclaimable: bool,
    /// What the frames of its slabs say in SLAB_MAP: the cache's registry
    /// slot (0 for a cache not registered yet).
    tag: u8,
}

impl Pages {
    fn of(cache: &KmemCache, gfp: Gfp) -> Pages {
        let slot = cache.owner_tag.load(Relaxed) as usize;
        let reclaimable = cache.flags.contains(SlabFlags::RECLAIM_ACCOUNT);
        // Slab pages never move; a SLAB_RECLAIM_ACCOUNT cache's are
        // reclaimable (Linux adds __GFP_RECLAIMABLE to its allocflags).
        let mut gfp = Gfp(gfp.0 & !Gfp::MOVABLE.0);
        if reclaimable {
            gfp = gfp | Gfp::RECLAIMABLE;
        }
        Pages {
            gfp,
            rcu: cache.flags.contains(SlabFlags::TYPESAFE_BY_RCU),
            reclaimable,
            tag: if (1..=MAX_CACHES).contains(&slot) {
                slot as u8
            } else {
                0
            },
        }
    }

    fn counter(&self) -> &'static AtomicU64 {
        &SLAB_PAGES[self.reclaimable as usize]
    }
}

/// An RCU callback: frees the slab block `arg` (address | order).
fn free_slab_block(arg: usize) {
    let order = (arg & 0xf) as u32;
    if let Some(page) = super::virt_to_page((arg & !0xfff) as *const u8) {
        __free_pages(page, order);
    }
}

impl SlabPages for Pages {
    fn alloc(&self, node: usize, order: u32) -> Option<(*mut u8, usize)> {
        let page = alloc_pages_node(node as i32, self.gfp | Gfp::NOWARN, order)?;
        self.counter().fetch_add(1 << order, Relaxed);
        let block = page_address(page);
        tag_frames(block, order, self.tag);
        Some((block, page.nid().unwrap_or(node)))
    }

    fn free(&self, block: *mut u8, order: u32) {
        self.counter().fetch_sub(1 << order, Relaxed);
        tag_frames(block, order, 0);
        if self.rcu {
            // Readers may still look at these objects: free after a grace period.
            crate::rcu::call_rcu(free_slab_block, block as usize | order as usize);
        } else if let Some(page) = super::virt_to_page(block) {
            __free_pages(page, order);
        }
    }
}

/// A per-cache secret for the free-pointer hardening: the TSC mixed.
fn next_random() -> u64 {
    let t = crate::arch::x86_64::tsc::rdtsc();
    let r = RANDOM.fetch_add(0x9e37_79b9, Relaxed) as u64;
    (t ^ r).wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn report(r: SlabReport, caller: &Location) {
    SLAB_REPORTS.fetch_add(1, Relaxed);
    log::error!("{r} (at {caller})");
}

fn debug_flags_for(name: &str) -> SlabFlags {
    match SLUB_DEBUG.get().copied().flatten() {
        Some((flags, None)) => flags,
        Some((flags, Some(list))) if list.split(',').any(|c| c == name) => flags,
        _ => SlabFlags(0),
    }
}

/// The blocks of destroyed caches, kept for the next kmem_cache_create
/// (Linux frees a destroyed cache; here its block stays mapped and
/// allocated, so a stale reference reads a cache, never freed memory, and
/// create-destroy cycles reuse one block instead of leaking one each).
static RETIRED: spin::Mutex<[Option<Page>; 16]> = spin::Mutex::new([None; 16]);

/// The order of the block a cache lives in (tens of KiB).
fn cache_block_order() -> u32 {
    (core::mem::size_of::<KmemCache>() as u64)
        .div_ceil(PAGE_SIZE)
        .next_power_of_two()
        .trailing_zeros()
}

/// Creates a cache whose objects are `size` bytes aligned to `align`.
/// With SLAB_PANIC a failure is fatal, as in Linux; otherwise None.
pub fn kmem_cache_create(
    name: &'static str,
    size: usize,
    align: usize,
    flags: SlabFlags,
    ctor: Option<fn(*mut u8)>,
) -> Option<&'static KmemCache> {
    let flags = flags | debug_flags_for(name);
    let t = crate::numa::topology();
    let ids = mm::slub::IdLimits {
        cpus: t.cpus().len(),
        nodes: t.node_count(),
    };
    let order = cache_block_order();
    let retired = without_interrupts(|| RETIRED.lock().iter_mut().find_map(Option::take));
    let Some(page) =
        retired.or_else(|| alloc_pages_node(numa_node_id() as i32, Gfp::KERNEL, order))
    else {
        if flags.contains(SlabFlags::PANIC) {
            panic!("kmem_cache_create({name}): no memory");
        }
        return None;
    };
    let at = page_address(page) as *mut KmemCache;
    // SAFETY: a fresh block large enough and aligned for one cache, built
    // in place (it is tens of KiB: no copy on the stack), never freed
    // while the cache is registered.
    let built =
        unsafe { KmemCache::init_at(at, name, size, align, flags, ctor, next_random(), ids) };
    if let Err(e) = built {
        __free_pages(page, order);
        if flags.contains(SlabFlags::PANIC) {
            panic!("kmem_cache_create({name}): {e:?}");
        }
        log::error!("kmem_cache_create({name}, {size}, {align}): {e:?}");
        return None;
    }
    // SAFETY: initialised just above; it stays there.
    let cache: &'static KmemCache = unsafe { &*at };
    let slot = registry().iter().position(|s| {
        s.compare_exchange(
            ptr::null_mut(),
            cache as *const _ as *mut _,
            AcqRel,
            Acquire,
        )
        .is_ok()
    });
    if let Some(index) = slot {
        // Before any slab exists: every slab's frames name the cache by
        // its slot in CACHES (the registry starts at slot 1).
        cache.owner_tag.store(index as u32 + 1, Relaxed);
    } else {
        log::error!("kmem_cache_create({name}): more than {MAX_CACHES} caches");
        __free_pages(page, order);
        return None;
    }
    Some(cache)
}

fn is_registered(cache: *const KmemCache) -> bool {
    registry().iter().any(|s| ptr::eq(s.load(Acquire), cache))
}

/// Every cache, for reports.
pub fn caches() -> impl Iterator<Item = &'static KmemCache> {
    // SAFETY: registered caches live until destroyed, and destroy
    // unregisters first.
    registry()
        .iter()
        .filter_map(|s| unsafe { s.load(Acquire).as_ref() })
}

/// Destroys a cache. Objects still allocated are reported (as Linux's
/// "Slab cache still has objects") and the cache is then kept, leaked.
/// Its slabs go back to the page allocator; the cache's own block stays
/// allocated, kept for the next kmem_cache_create (see `RETIRED`).
#[track_caller]
pub fn kmem_cache_destroy(cache: &'static KmemCache) -> Result<(), u64> {
    // A CPU whose IPI interrupted a fast path on this cache cannot flush
    // then; it is asked again (the fast path is a few instructions long,
    // and nothing preempts it).
    let mut flushed_all = false;
    for _ in 0..1000 {
        let busy = AtomicUsize::new(0);
        let r = ipi::on_each_cpu(&|cpu| {
            let cpu = cpu as usize;
            // SAFETY: on CPU `cpu`, interrupts off (IPI handler or caller below).
            let flushed = without_interrupts(|| unsafe {
                cache.flush_cpu(cpu, &Pages::of(cache, Gfp::ATOMIC))
            });
            if !flushed {
                busy.fetch_add(1, Relaxed);
            }
        });
        if let Err(e) = r {
            log::error!("kmem_cache_destroy({}): {e:?}", cache.name);
            break;
        }
        if busy.load(Relaxed) == 0 {
            flushed_all = true;
            break;
        }
        core::hint::spin_loop();
    }
    if !flushed_all {
        // The kept slab's frames still name the cache: it stays registered.
        log::error!(
            "kmem_cache_destroy({}): a CPU stayed inside a fast path; its slab and the cache are kept",
            cache.name
        );
        return Err(0);
    }
    // SAFETY: every CPU flushed; the caller no longer uses the cache.
    let left = without_interrupts(|| unsafe { cache.shrink(&Pages::of(cache, Gfp::ATOMIC)) });
    if cache.flags.contains(SlabFlags::TYPESAFE_BY_RCU) {
        // As Linux: the slabs freed above must reach the page allocator
        // before the cache goes.
        crate::rcu::rcu_barrier();
    }
    if left > 0 {
        log::error!(
            "kmem_cache_destroy {}: Slab cache still has objects when called ({left} objects) from {}",
            cache.name,
            Location::caller()
        );
        return Err(left);
    }
    for s in registry() {
        let _ = s.compare_exchange(
            cache as *const _ as *mut _,
            ptr::null_mut(),
            AcqRel,
            Acquire,
        );
    }
    // Unregistered: its block waits for the next cache (or stays, if
    // enough are waiting).
    if let Some(page) = super::virt_to_page(cache as *const KmemCache as *const u8) {
        without_interrupts(|| {
            if let Some(slot) = RETIRED.lock().iter_mut().find(|s| s.is_none()) {
                *slot = Some(page);
            }
        });
    }
    Ok(())
}

/// Frees the empty slabs on the cache's node lists; returns the pages
/// freed. Unlike Linux's kmem_cache_shrink it leaves the slabs CPUs hold
/// (flushing them needs every CPU to answer an IPI, which reclaim, run
/// where memory is short and CPUs may be waiting, should not depend on).
pub fn kmem_cache_shrink(cache: &'static KmemCache) -> u64 {
    let before = cache.total_slabs();
    // SAFETY: `shrink` only takes slabs off the node partial lists, under
    // each node's lock, and only slabs with no object in use; a slab on
    // those lists is no CPU's current slab, so nothing else can reach one
    // it frees.
    without_interrupts(|| unsafe { cache.shrink(&Pages::of(cache, Gfp::ATOMIC)) });
    before.saturating_sub(cache.total_slabs()) << cache.layout.order
}

/// One object from `cache`, on `node` (the caller's when None).
#[track_caller]
#[inline(always)]
pub fn kmem_cache_alloc_node(cache: &'static KmemCache, gfp: Gfp, node: Option<usize>) -> *mut u8 {
    if super::alloc_hooks::slab_checks() {
        return alloc_checked(cache, gfp, node, Location::caller());
    }
    if node.is_none() {
        // SAFETY: this CPU, which nothing moves us off (no preemption).
        let obj = unsafe { cache.alloc_fast(percpu::cpu_id() as usize) };
        if !obj.is_null() {
            if gfp.contains(Gfp::ZERO) {
                // SAFETY: the object is the caller's, object_size bytes.
                unsafe { ptr::write_bytes(obj, 0, cache.object_size) };
            }
            return obj;
        }
    }
    kmem_cache_alloc_slow(cache, gfp, node, Location::caller())
}

/// An allocation while fault injection is active: failslab's check, then
/// the slow path (the fast path stays free of both).
#[cold]
#[inline(never)]
fn alloc_checked(
    cache: &'static KmemCache,
    gfp: Gfp,
    node: Option<usize>,
    caller: &'static Location<'static>,
) -> *mut u8 {
    let marked = cache.flags.contains(SlabFlags::FAILSLAB);
    if super::fault_inject::should_failslab(cache.name, cache.object_size, marked, gfp, caller) {
        return ptr::null_mut();
    }
    // KFENCE samples requests that name no node and no zone (its pool is
    // on one node, in the vmalloc region).
    let placed = Gfp::DMA.union(Gfp::DMA32).union(Gfp::THISNODE);
    if node.is_none() && gfp.0 & placed.0 == 0 {
        if let Some(obj) = super::kfence::alloc(cache, gfp, caller) {
            return obj;
        }
    }
    kmem_cache_alloc_slow(cache, gfp, node, caller)
}

/// The allocation slow path: refills, named nodes, debug caches, reports.
#[inline(never)]
fn kmem_cache_alloc_slow(
    cache: &'static KmemCache,
    gfp: Gfp,
    node: Option<usize>,
    caller: &'static Location<'static>,
) -> *mut u8 {
    // Slabs are looked for on the node their pages come from first.
    let explicit = node.is_some();
    // A caller that names no node gets its new slabs where its memory
    // policy says (the local node by default).
    let start = node.unwrap_or_else(|| super::mempolicy::slab_node(gfp, numa_node_id()));
    let node = allocator().preferred_node(start, gfp);
    let want = explicit.then_some(node);
    let mut from = node;
    let r = loop {
        let r = without_interrupts(|| {
            let cpu = percpu::cpu_id() as usize;
            // SAFETY: on this CPU with interrupts off.
            unsafe { cache.alloc_cached(cpu, from, want, caller as *const _ as u64) }
        });
        if !matches!(r, Ok(None)) {
            break r;
        }
        // No slab has room: a new one, taken with interrupts as the caller
        // had them (GFP_KERNEL may reclaim), then installed.
        let Some((block, got)) = Pages::of(cache, gfp).alloc(from, cache.layout.order) else {
            break Ok(None);
        };
        // SAFETY: a fresh block of the cache's slab size, on this CPU
        // with interrupts off.
        let obj = without_interrupts(|| unsafe {
            cache.add_slab_active(percpu::cpu_id() as usize, block, got, want)
        });
        if let Some(obj) = obj {
            break Ok(Some(obj));
        }
        from = got;
    };
    match r {
        Ok(Some(obj)) => {
            if gfp.contains(Gfp::ZERO) {
                // SAFETY: the object is the caller's, object_size bytes.
                unsafe { ptr::write_bytes(obj, 0, cache.object_size) };
            }
            obj
        }
        Ok(None) => {
            if !gfp.contains(Gfp::NOWARN) {
                log::warn!(
                    "{}: slab allocation failure ({gfp:?}) at {caller}",
                    cache.name
                );
            }
            ptr::null_mut()
        }
        Err(report_) => {
            report(report_, caller);
            ptr::null_mut()
        }
    }
}

#[track_caller]
#[inline(always)]
pub fn kmem_cache_alloc(cache: &'static KmemCache, gfp: Gfp) -> *mut u8 {
    kmem_cache_alloc_node(cache, gfp, None)
}

#[track_caller]
#[inline(always)]
pub fn kmem_cache_free(cache: &'static KmemCache, obj: *mut u8) {
    // SAFETY: as in kmem_cache_alloc_node; the fast path reads nothing of
    // `obj` unless it lies in this CPU's active slab of `cache`.
    if unsafe { cache.free_fast(percpu::cpu_id() as usize, obj) } {
        return;
    }
    kmem_cache_free_slow(cache, obj, Location::caller())
}

#[inline(never)]
fn kmem_cache_free_slow(
    cache: &'static KmemCache,
    obj: *mut u8,
    caller: &'static Location<'static>,
) {
    if obj.is_null() || super::kfence::free(obj, caller) {
        return;
    }
    if tagged_cache_of(obj).is_some_and(|c| ptr::eq(c, cache)) {
        return free_tagged(cache, obj, caller);
    }
    if !owned_by(cache, obj) {
        SLAB_REPORTS.fetch_add(1, Relaxed);
        log::error!(
            "BUG {}: kmem_cache_free of {obj:p}, not an object of this cache (at {caller})",
            cache.name
        );
        return;
    }
    free_owned(cache, obj, caller);
}

/// Frees `obj`, which its frame's tag places in a live slab of `cache`
/// and which the active-slab fast path did not take: onto the CPU's
/// deferred list, else the slow path.
fn free_tagged(cache: &'static KmemCache, obj: *mut u8, caller: &'static Location<'static>) {
    // SAFETY: the tag says a live slab of `cache` holds `obj`; this CPU,
    // which nothing moves us off.
    if unsafe { cache.free_fast_tagged(percpu::cpu_id() as usize, obj) } {
        return;
    }
    free_locked(cache, obj, caller)
}

/// Frees `obj`, known to lie in a slab block of `cache`'s size.
fn free_owned(cache: &'static KmemCache, obj: *mut u8, caller: &'static Location<'static>) {
    // SAFETY: as in kmem_cache_free.
    if unsafe { cache.free_fast(percpu::cpu_id() as usize, obj) } {
        return;
    }
    free_locked(cache, obj, caller)
}

/// The slow free: interrupts off, the cache's own checks and lists.
fn free_locked(cache: &'static KmemCache, obj: *mut u8, caller: &'static Location<'static>) {
    let pages = Pages::of(cache, Gfp::ATOMIC);
    let r = without_interrupts(|| {
        // SAFETY: on this CPU with interrupts off; the object lies in a
        // block the page allocator handed out (the caller checked).
        unsafe {
            cache.free(
                percpu::cpu_id() as usize,
                obj,
                &pages,
                caller as *const _ as u64,
            )
        }
    });
    if let Err(r) = r {
        report(r, caller);
    }
}

/// The allocated block `addr` lies in (head address, order), if any.
fn block_of(addr: *const u8) -> Option<(*mut u8, usize)> {
    let phys = layout::virt_to_phys(addr as u64)?;
    let (head, order) = allocator().block_of(phys / PAGE_SIZE)?;
    Some((page_address(Page::from_pfn(head)), order))
}

/// Whether `obj` lies in a slab block of `cache` (so reading its header is safe).
fn owned_by(cache: &KmemCache, obj: *mut u8) -> bool {
    match block_of(obj) {
        Some((head, order)) => order as u32 == cache.layout.order && head != obj,
        None => false,
    }
}

fn kmalloc_cache(size: usize, align: usize) -> Option<&'static KmemCache> {
    let caches = KMALLOC.get()?;
    if align <= 8 {
        return Some(caches[mm::slub::kmalloc_index(size)]);
    }
    KMALLOC_SIZES
        .iter()
        .zip(caches.iter())
        .find(|(&s, c)| s >= size && (align <= 8 || (s.is_power_of_two() && c.align >= align)))
        .map(|(_, c)| *c)
}

fn large_order(size: usize) -> u32 {
    (size.div_ceil(PAGE_SIZE as usize))
        .next_power_of_two()
        .trailing_zeros()
}

/// kmalloc on `node` (None: the caller's), with `align` for the global allocator.
#[track_caller]
fn kmalloc_aligned(size: usize, align: usize, gfp: Gfp, node: Option<usize>) -> *mut u8 {
    if size == 0 {
        return ptr::null_mut();
    }
    if size > KMALLOC_MAX_SIZE || align > KMALLOC_MAX_SIZE {
        if !gfp.contains(Gfp::NOWARN) {
            log::warn!(
                "kmalloc({size}): above KMALLOC_MAX_SIZE ({KMALLOC_MAX_SIZE}) at {}",
                Location::caller()
            );
        }
        return ptr::null_mut();
    }
    if size <= KMALLOC_MAX_CACHE_SIZE && align <= PAGE_SIZE as usize {
        if let Some(cache) = kmalloc_cache(size.max(align), align) {
            return kmem_cache_alloc_node(cache, gfp, node);
        }
    }
    // Large: whole pages, naturally aligned to their size.
    let order = large_order(size.max(align));
    let nid = node.map_or(super::NUMA_NO_NODE, |n| n as i32);
    match alloc_pages_node(nid, gfp, order) {
        Some(p) => {
            LARGE_PAGES.fetch_add(1 << order, Relaxed);
            page_address(p)
        }
        None => ptr::null_mut(),
    }
}

#[track_caller]
#[inline(always)]
pub fn kmalloc(size: usize, gfp: Gfp) -> *mut u8 {
    if size.wrapping_sub(1) < KMALLOC_MAX_CACHE_SIZE {
        if let Some(caches) = KMALLOC.get() {
            return kmem_cache_alloc_node(caches[mm::slub::kmalloc_index(size)], gfp, None);
        }
    }
    kmalloc_aligned(size, 8, gfp, None)
}

#[track_caller]
pub fn kzalloc(size: usize, gfp: Gfp) -> *mut u8 {
    kmalloc_aligned(size, 8, gfp | Gfp::ZERO, None)
}

#[track_caller]
pub fn kmalloc_node(size: usize, gfp: Gfp, node: usize) -> *mut u8 {
    kmalloc_aligned(size, 8, gfp, Some(node))
}

/// n x size bytes, null when the product overflows.
#[track_caller]
pub fn kmalloc_array(n: usize, size: usize, gfp: Gfp) -> *mut u8 {
    match n.checked_mul(size) {
        Some(bytes) => kmalloc(bytes, gfp),
        None => ptr::null_mut(),
    }
}

#[track_caller]
pub fn kcalloc(n: usize, size: usize, gfp: Gfp) -> *mut u8 {
    kmalloc_array(n, size, gfp | Gfp::ZERO)
}

/// The usable size of an allocation (its object or block size).
pub fn ksize(obj: *const u8) -> usize {
    if let Some(size) = super::kfence::ksize(obj) {
        return size;
    }
    match block_of(obj) {
        Some((head, order)) if ptr::eq(head, obj) => (PAGE_SIZE as usize) << order,
        Some((head, _)) => match slab_cache_of(head) {
            Some(c) => c.object_size,
            None => 0,
        },
        None => 0,
    }
}

/// The cache named by the slab header at `head`, if it is one of ours.
fn slab_cache_of(head: *mut u8) -> Option<&'static KmemCache> {
    // SAFETY: `head` starts an allocated block (mapped RAM); the word at
    // offset 8 is a slab header's cache pointer when it is a slab, and it
    // is only followed once found in the registry.
    let cache = unsafe { (head.add(8) as *const *const KmemCache).read() };
    // SAFETY: registered caches live until destroyed.
    is_registered(cache).then(|| unsafe { &*cache })
}

/// Frees a kmalloc allocation; null is allowed. A pointer that is no
/// allocation of ours is reported and ignored.
#[track_caller]
#[inline(always)]
pub fn kfree(obj: *mut u8) {
    // The object's cache in O(1), from its frame's tag in SLAB_MAP
    // (nothing behind `obj` is read until a slab of ours is known to
    // hold it).
    let cache = tagged_cache_of(obj);
    if let Some(cache) = cache {
        // SAFETY: the tag says a live slab of `cache` holds `obj`; this
        // CPU, which nothing moves us off.
        if unsafe { cache.free_fast_tagged(percpu::cpu_id() as usize, obj) } {
            return;
        }
    }
    kfree_slow(obj, cache, Location::caller())
}

/// kfree of anything the fast path did not take: large allocations, other
/// CPUs' slabs, bad pointers (reported).
#[inline(never)]
fn kfree_slow(
    obj: *mut u8,
    tagged: Option<&'static KmemCache>,
    caller: &'static Location<'static>,
) {
    if obj.is_null() || super::kfence::free(obj, caller) {
        return;
    }
    if let Some(cache) = tagged {
        // kfree's fast path tried the CPU's lists already.
        return free_locked(cache, obj, caller);
    }
    match block_of(obj) {
        Some((head, order)) if ptr::eq(head, obj) => {
            LARGE_PAGES.fetch_sub(1 << order, Relaxed);
            if let Some(p) = super::virt_to_page(obj) {
                __free_pages(p, order as u32);
            }
        }
        Some((head, order)) => match slab_cache_of(head) {
            // One block lookup for the whole free: the block is a slab of
            // this cache's size, as kmem_cache_free would check again.
            Some(cache) if order as u32 == cache.layout.order => free_owned(cache, obj, caller),
            Some(cache) => kmem_cache_free(cache, obj),
            None => {
                SLAB_REPORTS.fetch_add(1, Relaxed);
                log::error!("BUG kfree: {obj:p} lies in pages that are not a slab (at {caller})");
            }
        },
        None => {
            SLAB_REPORTS.fetch_add(1, Relaxed);
            log::error!("BUG kfree: {obj:p} is not an allocated object (at {caller})");
        }
    }
}

/// Resizes, keeping the contents up to the smaller size. Null `obj`
/// allocates; size 0 frees and returns null.
#[track_caller]
pub fn krealloc(obj: *mut u8, new_size: usize, gfp: Gfp) -> *mut u8 {
    if obj.is_null() {
        return kmalloc(new_size, gfp);
    }
    if new_size == 0 {
        kfree(obj);
        return ptr::null_mut();
    }
    let old = ksize(obj);
    if new_size <= old {
        return obj;
    }
    let new = kmalloc(new_size, gfp);
    if !new.is_null() {
        // SAFETY: both are live allocations of at least `old` bytes.
        unsafe { ptr::copy_nonoverlapping(obj, new, old) };
        kfree(obj);
    }
    new
}

/// Creates the kmalloc caches (with `slub_debug=` applied).
pub fn init(settings: &cmdline::Settings<'static>) {
    SLUB_DEBUG.call_once(|| {
        settings.slub_debug.map(|d| {
            let flags = SlabFlags::from_letters(d.letters).unwrap_or(SlabFlags::DEBUG);
            (flags, d.caches)
        })
    });
    const NAMES: [&str; 13] = [
        "kmalloc-8",
        "kmalloc-16",
        "kmalloc-32",
        "kmalloc-64",
        "kmalloc-96",
        "kmalloc-128",
        "kmalloc-192",
        "kmalloc-256",
        "kmalloc-512",
        "kmalloc-1k",
        "kmalloc-2k",
        "kmalloc-4k",
        "kmalloc-8k",
    ];
    KMALLOC.call_once(|| {
        core::array::from_fn(|i| {
            let size = KMALLOC_SIZES[i];
            // Power-of-two classes are naturally aligned up to a page, as
            // Linux guarantees; 96 and 192 to 32 and 64.
            let align = if size.is_power_of_two() {
                size.min(PAGE_SIZE as usize)
            } else {
                size & size.wrapping_neg()
            };
            kmem_cache_create(NAMES[i], size, align, SlabFlags::PANIC, None)
                .expect("kmalloc caches")
        })
    });
    if let Some(Some((flags, caches))) = SLUB_DEBUG.get() {
        log::info!(
            "slub: debugging {:?} on {}",
            flags,
            caches.unwrap_or("every cache")
        );
    }
}

/// Slab pages in use, split by SLAB_RECLAIM_ACCOUNT (meminfo's
/// SReclaimable and SUnreclaim), in pages.
pub fn slab_pages() -> (u64, u64) {
    (SLAB_PAGES[1].load(Relaxed), SLAB_PAGES[0].load(Relaxed))
}

/// The same split summed over every cache's own slab count, the long way
/// (for the self-tests: it must match `slab_pages` when nothing moves).
pub fn slab_pages_by_cache() -> (u64, u64) {
    let (mut reclaimable, mut unreclaimable) = (0, 0);
    for c in caches() {
        let pages = c.total_slabs() << c.layout.order;
        if c.flags.contains(SlabFlags::RECLAIM_ACCOUNT) {
            reclaimable += pages;
        } else {
            unreclaimable += pages;
        }
    }
    (reclaimable, unreclaimable)
}

/// /proc/slabinfo, version 2.1.
pub fn slabinfo(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    writeln!(w, "slabinfo - version: 2.1")?;
    writeln!(
        w,
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
    )?;
    for c in caches() {
        let (active, total, slabs) = c.usage();
        writeln!(
            w,
            "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} {:>6}",
            c.name,
            active,
            total,
            c.layout.size,
            c.layout.objects,
            1u64 << c.layout.order,
            0,
            0,
            0,
            slabs,
            slabs,
            0
        )?;
    }
    Ok(())
}

/// meminfo's slab lines, in kB.
pub fn meminfo(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    let (r, u) = slab_pages();
    let kb = PAGE_SIZE / 1024;
    writeln!(w, "Slab:           {:>8} kB", (r + u) * kb)?;
    writeln!(w, "SReclaimable:   {:>8} kB", r * kb)?;
    writeln!(w, "SUnreclaim:     {:>8} kB", u * kb)
}

/// Rust's global allocator: kmalloc, honouring alignment.
pub struct KernelHeap;

// SAFETY: kmalloc (and the early heap before it) returns memory of at
// least `size` bytes aligned to `align` (power-of-two classes are
// naturally aligned; larger alignments use whole blocks), or null; each
// pointer goes back to the allocator whose range holds it.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if KMALLOC.get().is_none() {
            // Before SLUB: the early heap (boot-time AML).
            return super::early_heap::alloc(layout);
        }
        // Never fault-injected: Box and Vec abort on failure.
        let gfp = Gfp::KERNEL | Gfp::NOFAULT;
        kmalloc_aligned(layout.size().max(1), layout.align(), gfp, None)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if super::early_heap::owns(ptr) {
            super::early_heap::free(ptr, layout);
            return;
        }
        kfree(ptr);
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap;

/// A cache per type, sized and aligned from the type (Linux's KMEM_CACHE
/// macro), handing out owned boxes that free themselves.
pub struct TypedCache<T> {
    cache: &'static KmemCache,
    _type: core::marker::PhantomData<fn() -> T>,
}

impl<T> TypedCache<T> {
    pub fn new(name: &'static str, flags: SlabFlags) -> Option<Self> {
        let size = core::mem::size_of::<T>().max(1);
        let cache = kmem_cache_create(name, size, core::mem::align_of::<T>(), flags, None)?;
        Some(TypedCache {
            cache,
            _type: core::marker::PhantomData,
        })
    }

    pub fn cache(&self) -> &'static KmemCache {
        self.cache
    }

    /// Moves `value` into a new object.
    #[track_caller]
    pub fn alloc(&self, value: T, gfp: Gfp) -> Option<CacheBox<T>> {
        let p = kmem_cache_alloc(self.cache, gfp) as *mut T;
        if p.is_null() {
            return None;
        }
        // SAFETY: a fresh object of size_of::<T>() bytes aligned for T.
        unsafe { p.write(value) };
        Some(CacheBox {
            ptr: p,
            cache: self.cache,
        })
    }
}

/// An object of a TypedCache: dropping it drops the value and frees it.
pub struct CacheBox<T> {
    ptr: *mut T,
    cache: &'static KmemCache,
}

// SAFETY: the box owns its value as Box<T> does.
unsafe impl<T: Send> Send for CacheBox<T> {}
// SAFETY: shared references reach only `&T`, as Box<T>'s do.
unsafe impl<T: Sync> Sync for CacheBox<T> {}

impl<T> core::ops::Deref for CacheBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: initialised in alloc, owned until drop.
        unsafe { &*self.ptr }
    }
}

impl<T> core::ops::DerefMut for CacheBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, uniquely owned.
        unsafe { &mut *self.ptr }
    }
}

impl<T> Drop for CacheBox<T> {
    fn drop(&mut self) {
        // SAFETY: the value is initialised and dropped once, then the
        // object goes back to its cache.
        unsafe { ptr::drop_in_place(self.ptr) };
        kmem_cache_free(self.cache, self.ptr as *mut u8);
    }
}
