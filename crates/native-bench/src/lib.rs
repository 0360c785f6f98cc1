//! The hardware-independent SLUB core of `crates/mm` as a kmalloc a host
//! program can call: the size class from kmalloc's table on allocation,
//! the cache from a per-frame map on free (the kernel's design, with an
//! arena of host memory standing in for RAM), the same fast paths,
//! deferred frees and slow paths the kernel runs. One thread is "CPU 0":
//! the crate's contract for host use (no interrupts, nothing else on the
//! slot). For the native benchmark; not a general-purpose allocator.

use core::cell::Cell;
use mm::slub::{kmalloc_index, IdLimits, KmemCache, SlabFlags, SlabPages, KMALLOC_SIZES};
use std::alloc::{alloc_zeroed, dealloc, Layout};

const PAGE: usize = layout::PAGE_SIZE as usize;
/// The largest slab block the caches use (order 3).
const MAX_BLOCK: usize = PAGE << 3;

/// Host memory for slabs: naturally aligned blocks of 1 to 8 pages from
/// one reservation, each order with its own free list, and a frame map
/// naming the cache (class + 1) whose slab holds each frame.
pub struct Arena {
    base: *mut u8,
    bytes: usize,
    next: Cell<usize>,
    free: [Cell<*mut u8>; 4],
    map: Box<[Cell<u16>]>,
}

impl Arena {
    /// Reserves `bytes` (untouched pages cost nothing until used).
    pub fn new(bytes: usize) -> Arena {
        let bytes = bytes.next_multiple_of(MAX_BLOCK);
        let layout = Layout::from_size_align(bytes, MAX_BLOCK).expect("arena layout");
        // SAFETY: a non-zero size.
        let base = unsafe { alloc_zeroed(layout) };
        assert!(!base.is_null(), "no {bytes} bytes for the arena");
        Arena {
            base,
            bytes,
            next: Cell::new(0),
            free: [const { Cell::new(core::ptr::null_mut()) }; 4],
            map: (0..bytes / PAGE).map(|_| Cell::new(0)).collect(),
        }
    }

    fn frame(&self, p: *const u8) -> Option<usize> {
        let off = (p as usize).checked_sub(self.base as usize)?;
        (off < self.bytes).then_some(off / PAGE)
    }

    fn block(&self, order: u32, tag: u16) -> Option<*mut u8> {
        let list = &self.free[order as usize];
        let head = list.get();
        let block = if head.is_null() {
            let size = PAGE << order;
            let at = self.next.get().next_multiple_of(size);
            if at + size > self.bytes {
                return None;
            }
            self.next.set(at + size);
            self.base.wrapping_add(at)
        } else {
            // SAFETY: a free block's first word links the list.
            list.set(unsafe { (head as *mut *mut u8).read() });
            head
        };
        let f = self.frame(block)?;
        for e in &self.map[f..f + (1 << order)] {
            e.set(tag);
        }
        Some(block)
    }

    fn give_back(&self, block: *mut u8, order: u32) {
        if let Some(f) = self.frame(block) {
            for e in &self.map[f..f + (1 << order)] {
                e.set(0);
            }
        }
        let list = &self.free[order as usize];
        // SAFETY: the block is ours again; its first word links the list.
        unsafe { (block as *mut *mut u8).write(list.get()) };
        list.set(block);
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.bytes, MAX_BLOCK).expect("arena layout");
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.base, layout) };
    }
}

/// One cache's view of the arena: its blocks carry its tag.
struct ClassPages<'a> {
    arena: &'a Arena,
    tag: u16,
}

impl SlabPages for ClassPages<'_> {
    fn alloc(&self, _node: usize, order: u32) -> Option<(*mut u8, usize)> {
        self.arena.block(order, self.tag).map(|b| (b, 0))
    }
    fn free(&self, block: *mut u8, order: u32) {
        self.arena.give_back(block, order);
    }
}

/// kmalloc and kfree over the 13 kmalloc classes, for one thread.
pub struct Kmalloc<'a> {
    arena: &'a Arena,
    /// The arena's start and frame map, held here as the kernel holds its
    /// SLAB_MAP (a static pointer), so that a free reaches its frame's
    /// tag in one load rather than through the arena first.
    base: usize,
    map: &'a [Cell<u16>],
    /// The caches by class, an array as the kernel's registry is: one
    /// load from a class to its cache.
    caches: [Box<KmemCache>; KMALLOC_SIZES.len()],
}

impl<'a> Kmalloc<'a> {
    pub fn new(arena: &'a Arena) -> Kmalloc<'a> {
        let ids = IdLimits { cpus: 1, nodes: 1 };
        let caches = core::array::from_fn(|class| {
            let size = KMALLOC_SIZES[class];
            let c = KmemCache::new("kmalloc", size, 8, SlabFlags(0), None, 0x5eed_1234, ids);
            Box::new(c.expect("a kmalloc class"))
        });
        Kmalloc {
            arena,
            base: arena.base as usize,
            map: &arena.map,
            caches,
        }
    }

    fn pages(&self, class: usize) -> ClassPages<'a> {
        ClassPages {
            arena: self.arena,
            tag: class as u16 + 1,
        }
    }

    /// An object of `size` bytes (1 to 8192), or null when the arena is
    /// full.
    #[inline(always)]
    pub fn alloc(&self, size: usize) -> *mut u8 {
        let class = kmalloc_index(size);
        // SAFETY: this thread is CPU 0 and the only user of the caches.
        let obj = unsafe { self.caches[class].alloc_fast(0) };
        if !obj.is_null() {
            return obj;
        }
        self.alloc_slow(class)
    }

    #[inline(never)]
    fn alloc_slow(&self, class: usize) -> *mut u8 {
        // SAFETY: as in `alloc`.
        match unsafe { self.caches[class].alloc(0, 0, &self.pages(class), 0) } {
            Ok(Some(obj)) => obj,
            _ => core::ptr::null_mut(),
        }
    }

    /// Frees an object from [`alloc`](Self::alloc); the cache comes from
    /// the frame map. A pointer outside the arena panics (a benchmark has
    /// no bad frees).
    ///
    /// # Safety
    /// `obj` came from this wrapper's `alloc` and is not freed yet.
    #[inline(always)]
    pub unsafe fn free(&self, obj: *mut u8) {
        let frame = (obj as usize).wrapping_sub(self.base) / PAGE;
        let class = self.map.get(frame).expect("an object of the arena").get() as usize - 1;
        let cache = &self.caches[class];
        // SAFETY: as in `alloc`; the map says a live slab of `cache` holds it.
        if unsafe { cache.free_fast_tagged(0, obj) } {
            return;
        }
        self.free_slow(class, obj)
    }

    #[inline(never)]
    fn free_slow(&self, class: usize, obj: *mut u8) {
        // SAFETY: as in `free`.
        unsafe { self.caches[class].free(0, obj, &self.pages(class), 0) }.expect("a good free");
    }

    /// Objects allocated and not freed, over every class.
    pub fn active_objects(&self) -> u64 {
        self.caches.iter().map(|c| c.active_objects()).sum()
    }
}

impl Drop for Kmalloc<'_> {
    fn drop(&mut self) {
        for (class, c) in self.caches.iter().enumerate() {
            let pages = self.pages(class);
            // SAFETY: nothing uses the caches any more.
            unsafe {
                let _ = c.flush_cpu(0, &pages);
                c.shrink(&pages);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_of_every_class_are_distinct_and_all_come_back() {
        let arena = Arena::new(64 << 20);
        let k = Kmalloc::new(&arena);
        let mut live = Vec::new();
        for round in 0..3 {
            for size in (1..=8192).step_by(61) {
                let p = k.alloc(size);
                assert!(!p.is_null());
                // SAFETY: `size` bytes are ours.
                unsafe { p.write_bytes(round as u8, size) };
                live.push(p);
            }
            let mut sorted = live.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), live.len(), "an object handed out twice");
            for p in live.drain(..).rev() {
                // SAFETY: allocated above, freed once.
                unsafe { k.free(p) };
            }
            assert_eq!(k.active_objects(), 0);
        }
    }
}
