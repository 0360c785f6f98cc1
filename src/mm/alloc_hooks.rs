//! The one flag the allocation fast paths look at: nonzero while something
//! must see slab and page allocations as they happen (a fault type armed,
//! a thread's fail-nth pending, KFENCE's sampling gate open). The fast
//! paths pay one relaxed load for all of them and branch to their
//! out-of-line, checked paths only while a bit that concerns them is set:
//! the slab paths for any, the page and vmalloc paths for fault injection
//! alone (KFENCE samples slab objects, and its gate stays open until the
//! next slab allocation, which a page-only workload never makes).

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

static HOOKS: AtomicU32 = AtomicU32::new(0);

/// Fault injection can fail an allocation (`mm::fault_inject`).
pub const FAULTS_ARMED: u32 = 1 << 31;
/// KFENCE takes the next slab allocation (`mm::kfence`).
pub const KFENCE_GATE: u32 = 1 << 30;
/// The low bits count the threads with a fail-nth pending.
const NTH_MASK: u32 = KFENCE_GATE - 1;

/// Whether a slab allocation must take the checked path (fault
/// injection or KFENCE).
#[inline(always)]
pub fn slab_checks() -> bool {
    HOOKS.load(Relaxed) != 0
}

/// Whether a page or vmalloc allocation must: fault injection only.
#[inline(always)]
pub fn fault_checks() -> bool {
    HOOKS.load(Relaxed) & !KFENCE_GATE != 0
}

/// Sets or clears one of the flag bits.
pub fn set(bit: u32, on: bool) {
    if on {
        HOOKS.fetch_or(bit, Relaxed);
    } else {
        HOOKS.fetch_and(!bit, Relaxed);
    }
}

/// Clears `bit` if it was set; true for the caller that cleared it.
pub fn take(bit: u32) -> bool {
    HOOKS.fetch_and(!bit, Relaxed) & bit != 0
}

/// A thread's fail-nth became pending (`true`) or ended.
pub fn nth_pending(set: bool) {
    if set {
        HOOKS.fetch_add(1, Relaxed);
    } else {
        let _ = HOOKS.fetch_update(Relaxed, Relaxed, |h| (h & NTH_MASK != 0).then(|| h - 1));
    }
}
