//! The heap before SLUB: Rust's global allocator is kmalloc, which exists
//! only once the page allocator and the kmalloc caches do, but the AML
//! interpreter must run before them (the pc-dimm memory it finds has to be
//! in memblock before the zones are built). So the first allocations come
//! from a small heap that memblock sets aside, managed by a first-fit
//! list allocator; what is allocated there is freed there, whenever that
//! is (the AML namespace lives for the whole run).

use core::alloc::Layout;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use spin::Mutex;

/// 8 MiB: QEMU's DSDT builds a namespace of a few hundred KiB; the rest is
/// room for firmware with more AML, and it is only reserved once.
const EARLY_HEAP_BYTES: u64 = 8 << 20;

static HEAP: Mutex<Option<linked_list_allocator::Heap>> = Mutex::new(None);
/// The heap's direct-map range, [start, end), for routing frees.
static START: AtomicU64 = AtomicU64::new(0);
static END: AtomicU64 = AtomicU64::new(0);

/// Sets the heap aside from memblock (after `memblock::init`).
pub fn init() {
    let phys = match crate::mm::MEMBLOCK
        .lock()
        .alloc_range(EARLY_HEAP_BYTES, 4096, 0, u64::MAX)
    {
        Ok(p) => p,
        Err(e) => {
            log::error!(
                "early heap: no {} MiB in memblock ({e:?}); nothing can allocate before SLUB",
                EARLY_HEAP_BYTES >> 20
            );
            return;
        }
    };
    let virt = layout::phys_to_virt(phys);
    // SAFETY: memblock reserved the range for good; it is RAM in the direct
    // map, and nothing else uses it.
    let heap =
        unsafe { linked_list_allocator::Heap::new(virt as *mut u8, EARLY_HEAP_BYTES as usize) };
    *HEAP.lock() = Some(heap);
    START.store(virt, Relaxed);
    END.store(virt + EARLY_HEAP_BYTES, Relaxed);
    log::info!(
        "early heap: {} MiB at phys {phys:#x} until SLUB is up",
        EARLY_HEAP_BYTES >> 20
    );
}

/// An allocation from the early heap, or null (exhausted, or not set up).
pub fn alloc(layout: Layout) -> *mut u8 {
    x86_64::instructions::interrupts::without_interrupts(|| {
        HEAP.lock()
            .as_mut()
            .and_then(|h| h.allocate_first_fit(layout).ok())
            .map_or(core::ptr::null_mut(), |p| p.as_ptr())
    })
}

/// Whether `ptr` came from the early heap.
pub fn owns(ptr: *const u8) -> bool {
    let a = ptr as u64;
    a >= START.load(Relaxed) && a < END.load(Relaxed)
}

/// Frees an early allocation (`owns(ptr)` holds).
pub fn free(ptr: *mut u8, layout: Layout) {
    let Some(p) = NonNull::new(ptr) else { return };
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(h) = HEAP.lock().as_mut() {
            // SAFETY: `ptr` was handed out by this heap with this layout
            // (the global allocator's contract, routed here by `owns`).
            unsafe { h.deallocate(p, layout) }
        }
    })
}

/// (bytes in use, heap size).
pub fn usage() -> (usize, usize) {
    HEAP.lock()
        .as_ref()
        .map_or((0, 0), |h| (h.used(), h.size()))
}
