//! The heap before SLUB: Rust's global allocator is kmalloc, which exists
//! only once the page allocator and the kmalloc caches do, but the AML
//! interpreter must run before them (the pc-dimm memory it finds has to be
//! in memblock before the zones are built). So the first allocations come
//! from a small heap that memblock sets aside, managed by talc (first fit
//! over size-binned free lists; a plain first-fit list allocator, tried
//! first, made AML's load take 17 s instead of 4.5 s under this machine's
//! nested KVM). What is allocated there is freed there, whenever that is
//! (the AML namespace lives for the whole run).

use core::alloc::Layout;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use spin::Mutex;

/// 8 MiB: QEMU's DSDT builds a namespace of a few hundred KiB; the rest is
/// room for firmware with more AML, and it is only reserved once. A small
/// VM gets an eighth of its free memory, never under 1 MiB.
const EARLY_HEAP_MAX: u64 = 8 << 20;
const EARLY_HEAP_MIN: u64 = 1 << 20;

type Heap = talc::base::Talc<talc::source::Manual, talc::DefaultBinning>;

/// The heap, once set up.
static HEAP: Mutex<Option<Heap>> = Mutex::new(None);
/// Bytes handed out and not freed.
static USED: AtomicU64 = AtomicU64::new(0);
/// The heap's direct-map range, [start, end), for routing frees.
static START: AtomicU64 = AtomicU64::new(0);
static END: AtomicU64 = AtomicU64::new(0);

/// Sets the heap aside from memblock (after `memblock::init`).
pub fn init() {
    let mut mb = crate::mm::MEMBLOCK.lock();
    let free = mb.free_bytes(0, u64::MAX);
    let bytes = layout::align_down(free / 8, 1 << 20).clamp(EARLY_HEAP_MIN, EARLY_HEAP_MAX);
    let phys = match mb.alloc_range(bytes, 4096, 0, u64::MAX) {
        Ok(p) => p,
        Err(e) => {
            log::error!(
                "early heap: no {} MiB in memblock ({e:?}); nothing can allocate before SLUB",
                bytes >> 20
            );
            return;
        }
    };
    drop(mb);
    let virt = layout::phys_to_virt(phys);
    let mut heap = Heap::new(talc::source::Manual);
    // SAFETY: memblock reserved the range for good; it is RAM in the direct
    // map, and nothing else uses it.
    if unsafe { heap.claim(virt as *mut u8, bytes as usize) }.is_none() {
        log::error!(
            "early heap: talc could not claim its memory; nothing can allocate before SLUB"
        );
        return;
    }
    *HEAP.lock() = Some(heap);
    START.store(virt, Relaxed);
    END.store(virt + bytes, Relaxed);
    log::info!(
        "early heap: {} MiB at phys {phys:#x} until SLUB is up",
        bytes >> 20
    );
}

/// An allocation from the early heap, or null (exhausted, or not set up).
pub fn alloc(layout: Layout) -> *mut u8 {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut heap = HEAP.lock();
        let Some(h) = heap.as_mut() else {
            return core::ptr::null_mut();
        };
        // SAFETY: talc's contract: a layout of non-zero size (Rust's
        // allocator never asks for zero bytes).
        match unsafe { h.allocate(layout) } {
            Some(p) => {
                USED.fetch_add(layout.size() as u64, Relaxed);
                p.as_ptr()
            }
            None => core::ptr::null_mut(),
        }
    })
}

/// Whether `ptr` came from the early heap.
pub fn owns(ptr: *const u8) -> bool {
    let a = ptr as u64;
    a >= START.load(Relaxed) && a < END.load(Relaxed)
}

/// Frees an early allocation (`owns(ptr)` holds).
pub fn free(ptr: *mut u8, layout: Layout) {
    if ptr.is_null() {
        return;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(h) = HEAP.lock().as_mut() {
            // SAFETY: `ptr` was handed out by this heap with this layout
            // (the global allocator's contract, routed here by `owns`).
            unsafe { h.deallocate(ptr, layout) };
            USED.fetch_sub(layout.size() as u64, Relaxed);
        }
    })
}

/// (bytes in use, heap size).
pub fn usage() -> (u64, u64) {
    (USED.load(Relaxed), END.load(Relaxed) - START.load(Relaxed))
}
