//! The allocators a workload can run through: ours (kmalloc, a
//! kmem_cache, the page allocator) and the peers users pick instead,
//! from crates.io, each behind a spin lock (ours is safe on every CPU at
//! once, so theirs must be too) and each given the same memory: one
//! region reserved by memblock at boot when benchmarks are asked for.

use crate::mm::slab::{kfree, kmalloc, kmem_cache_alloc, kmem_cache_free};
use crate::mm::{
    __free_pages, alloc_pages, alloc_pages_bulk_node, page_address, virt_to_page, Gfp, NUMA_NO_NODE,
};
use alloc::vec::Vec;
use core::alloc::Layout;
use core::ptr::{null_mut, NonNull};
use mm::slub::KmemCache;
use spin::{Mutex, Once};

/// What a workload asks of an allocator: small objects, the
/// 192-byte cache objects of cache_pair, and naturally aligned page blocks.
pub trait BenchAlloc: Sync {
    fn name(&self) -> &'static str;
    fn obj_alloc(&self, size: usize) -> *mut u8;
    fn obj_free(&self, p: *mut u8, size: usize);
    fn cache_alloc(&self) -> *mut u8;
    fn cache_free(&self, p: *mut u8);
    fn page_alloc(&self, order: u32) -> *mut u8;
    fn page_free(&self, p: *mut u8, order: u32);
    /// `count` order-0 pages onto `out` (fewer if memory runs out): one at
    /// a time unless the allocator has a bulk call (ours:
    /// alloc_pages_bulk; the peers have none).
    fn page_alloc_batch(&self, count: usize, out: &mut Vec<*mut u8>) {
        for _ in 0..count {
            let p = self.page_alloc(0);
            if !p.is_null() {
                out.push(p);
            }
        }
    }
}

/// cache_pair's objects: 192 bytes, cache-line aligned (SLAB_HWCACHE_ALIGN).
pub const CACHE_OBJECT: Layout = match Layout::from_size_align(192, 64) {
    Ok(l) => l,
    Err(_) => panic!("valid layout"),
};

fn page_layout(order: u32) -> Layout {
    let size = 4096usize << order;
    Layout::from_size_align(size, size).expect("a power of two")
}

fn obj_layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("small sizes")
}

/// This kernel's allocators.
pub struct Ours {
    pub cache: &'static KmemCache,
}

impl BenchAlloc for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn obj_alloc(&self, size: usize) -> *mut u8 {
        kmalloc(size, Gfp::KERNEL)
    }
    fn obj_free(&self, p: *mut u8, _size: usize) {
        kfree(p)
    }
    fn cache_alloc(&self) -> *mut u8 {
        kmem_cache_alloc(self.cache, Gfp::KERNEL)
    }
    fn cache_free(&self, p: *mut u8) {
        kmem_cache_free(self.cache, p)
    }
    fn page_alloc(&self, order: u32) -> *mut u8 {
        alloc_pages(Gfp::KERNEL, order).map_or(null_mut(), page_address)
    }
    fn page_free(&self, p: *mut u8, order: u32) {
        if let Some(page) = virt_to_page(p) {
            __free_pages(page, order)
        }
    }
    fn page_alloc_batch(&self, count: usize, out: &mut Vec<*mut u8>) {
        alloc_pages_bulk_node(NUMA_NO_NODE, Gfp::KERNEL, count, |p| {
            out.push(page_address(p))
        });
    }
}

/// A peer's heap operations on a layout; the lock and the trait's
/// methods are shared by every peer below.
pub trait Heap: Send {
    fn allocate(&mut self, layout: Layout) -> *mut u8;
    fn deallocate(&mut self, p: *mut u8, layout: Layout);
}

pub struct Peer<H: Heap> {
    pub name: &'static str,
    pub heap: Mutex<H>,
}

impl<H: Heap> BenchAlloc for Peer<H> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn obj_alloc(&self, size: usize) -> *mut u8 {
        self.heap.lock().allocate(obj_layout(size))
    }
    fn obj_free(&self, p: *mut u8, size: usize) {
        if !p.is_null() {
            self.heap.lock().deallocate(p, obj_layout(size))
        }
    }
    fn cache_alloc(&self) -> *mut u8 {
        self.heap.lock().allocate(CACHE_OBJECT)
    }
    fn cache_free(&self, p: *mut u8) {
        if !p.is_null() {
            self.heap.lock().deallocate(p, CACHE_OBJECT)
        }
    }
    fn page_alloc(&self, order: u32) -> *mut u8 {
        self.heap.lock().allocate(page_layout(order))
    }
    fn page_free(&self, p: *mut u8, order: u32) {
        if !p.is_null() {
            self.heap.lock().deallocate(p, page_layout(order))
        }
    }
}

pub struct TalcHeap(talc::base::Talc<talc::source::Manual, talc::DefaultBinning>);
pub struct LinkedListHeap(linked_list_allocator::Heap);
/// Blocks up to 2^31 bytes.
pub struct BuddyHeap(buddy_system_allocator::Heap<32>);

// SAFETY: each heap only manages the peer region, and every use goes
// through the Peer's lock, so moving it between CPUs is sound.
unsafe impl Send for TalcHeap {}
// SAFETY: as above.
unsafe impl Send for LinkedListHeap {}
// SAFETY: as above.
unsafe impl Send for BuddyHeap {}

impl Heap for TalcHeap {
    fn allocate(&mut self, layout: Layout) -> *mut u8 {
        // SAFETY: talc's contract: a non-zero-size layout (all of ours).
        unsafe { self.0.allocate(layout) }.map_or(null_mut(), |p| p.as_ptr())
    }
    fn deallocate(&mut self, p: *mut u8, layout: Layout) {
        // SAFETY: `p` came from `allocate` with this layout.
        unsafe { self.0.deallocate(p, layout) }
    }
}

impl Heap for LinkedListHeap {
    fn allocate(&mut self, layout: Layout) -> *mut u8 {
        self.0
            .allocate_first_fit(layout)
            .map_or(null_mut(), |p| p.as_ptr())
    }
    fn deallocate(&mut self, p: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(p) {
            // SAFETY: `p` came from `allocate_first_fit` with this layout.
            unsafe { self.0.deallocate(p, layout) }
        }
    }
}

impl Heap for BuddyHeap {
    fn allocate(&mut self, layout: Layout) -> *mut u8 {
        self.0.alloc(layout).map_or(null_mut(), |p| p.as_ptr())
    }
    fn deallocate(&mut self, p: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(p) {
            // SAFETY: `p` came from `alloc` with this layout.
            unsafe { self.0.dealloc(p, layout) }
        }
    }
}

/// The peers' memory: (direct-map address, bytes), reserved at boot.
static REGION: Once<(usize, usize)> = Once::new();

/// Bytes each peer manages: page_batch holds 10,000 pages (39 MiB) at
/// once, and order-9 blocks need 2 MiB alignment, so 64 MiB leaves room.
pub const PEER_REGION_BYTES: u64 = 64 << 20;

/// Reserves the peers' region on `node` from memblock (before the page
/// allocator takes the rest of memory).
pub fn reserve_region(node: numa::NodeId) {
    match crate::mm::memblock::alloc_on_node(node, PEER_REGION_BYTES, 2 << 20) {
        Ok(phys) => {
            REGION.call_once(|| {
                (
                    layout::phys_to_virt(phys) as usize,
                    PEER_REGION_BYTES as usize,
                )
            });
            log::info!(
                "bench: {} MiB at {phys:#x} (node {node}) reserved for the peer allocators",
                PEER_REGION_BYTES >> 20
            );
        }
        Err(e) => log::warn!("bench: no memory for the peer allocators ({e:?}); peers skipped"),
    }
}

/// Every peer, each freshly set up on the whole region; the previous
/// peer's state is gone once the next is made (they run one at a time).
pub fn for_each_peer(mut run: impl FnMut(&dyn BenchAlloc)) {
    let Some(&(base, size)) = REGION.get() else {
        return;
    };
    {
        let mut t = talc::base::Talc::new(talc::source::Manual);
        // SAFETY: the region is reserved for the peers alone, mapped by
        // the direct map, and no earlier peer is alive any more.
        if unsafe { t.claim(base as *mut u8, size) }.is_none() {
            log::warn!("bench: talc could not claim the region; skipped");
        } else {
            run(&Peer {
                name: "talc",
                heap: Mutex::new(TalcHeap(t)),
            });
        }
    }
    {
        // SAFETY: as above.
        let h = unsafe { linked_list_allocator::Heap::new(base as *mut u8, size) };
        run(&Peer {
            name: "linked_list_allocator",
            heap: Mutex::new(LinkedListHeap(h)),
        });
    }
    {
        let mut h = buddy_system_allocator::Heap::<32>::new();
        // SAFETY: as above.
        unsafe { h.init(base, size) };
        run(&Peer {
            name: "buddy_system_allocator",
            heap: Mutex::new(BuddyHeap(h)),
        });
    }
}
