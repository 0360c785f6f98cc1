//! Atomic-context tracking, low enough for every layer to ask (Linux's
//! preempt_count and system_state): sections that must not sleep, counted
//! per CPU, and whether the system schedules yet. The scheduler reads
//! these to refuse sleeping where it would be a bug; the page allocator
//! marks its non-sleeping allocations and checks might-sleep callers.

use crate::arch::x86_64::percpu;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::*};
use numa::MAX_CPUS;

/// Atomic sections open on each CPU.
static ATOMIC_DEPTH: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

fn depth() -> &'static AtomicU32 {
    &ATOMIC_DEPTH[percpu::cpu_id() as usize % MAX_CPUS]
}

/// A section that must not sleep (preempt_disable); ends when dropped.
pub struct AtomicSection(());

pub fn atomic_section() -> AtomicSection {
    depth().fetch_add(1, Relaxed);
    AtomicSection(())
}

impl Drop for AtomicSection {
    fn drop(&mut self) {
        depth().fetch_sub(1, Relaxed);
    }
}

/// Whether this CPU is inside an atomic section.
pub fn in_atomic_section() -> bool {
    depth().load(Relaxed) > 0
}

/// Set once every CPU is up and interrupts are on (Linux's
/// SYSTEM_SCHEDULING): the might-sleep checks apply from then on.
static SCHEDULING: AtomicBool = AtomicBool::new(false);

#[inline]
pub fn scheduling() -> bool {
    SCHEDULING.load(Acquire)
}

/// Marks the system as scheduling (SMP bring-up, when it is done).
pub fn set_scheduling() {
    SCHEDULING.store(true, Release);
}
