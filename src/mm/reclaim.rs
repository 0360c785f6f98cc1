//! The page allocator's reclaim, installed into it at boot: when memory
//! is short the allocator wakes kswapd, reclaims directly, calls the OOM
//! killer and, for __GFP_NOFAIL, waits. All of that is a service above the
//! allocator (threads, sleeping, the page cache, tasks), so the allocator
//! reaches it only through this `Reclaim` (the trait of crates/mm), which
//! calls down into vmscan, oom_kill and the scheduler.

use super::{oom_kill, page_alloc, vmscan};
use mm::gfp::{Gfp, ReclaimContext};
use mm::page_alloc::Reclaim;
use numa::NodeId;

struct KernelReclaim;

impl Reclaim for KernelReclaim {
    fn wake_kswapd(&self, node: NodeId, order: usize, highest: mm::zone::ZoneType, gfp: Gfp) {
        vmscan::wakeup_kswapd(node, order, highest, gfp.can_direct_reclaim());
    }

    fn direct_reclaim(&self, ctx: ReclaimContext, order: usize, node: NodeId) -> u64 {
        let freed = vmscan::direct_reclaim(ctx, order, node);
        // GFP_KERNEL may sleep: let kswapd and others run.
        crate::sched::cond_resched();
        freed
    }

    fn out_of_memory(
        &self,
        gfp: Gfp,
        order: usize,
        allowed: Option<mm::mempolicy::NodeMask>,
    ) -> bool {
        oom_kill::out_of_memory(gfp, order, allowed)
    }

    fn compact(
        &self,
        order: usize,
        node: NodeId,
        highest: mm::zone::ZoneType,
        sync: bool,
    ) -> Option<bool> {
        use super::compaction::{try_to_compact_pages, Mode};
        // Asked only for allocations that may reclaim directly: compaction
        // spins on owners' locks at most, as reclaim does.
        try_to_compact_pages(
            order,
            node,
            highest,
            if sync { Mode::Sync } else { Mode::Async },
        )
    }

    fn compaction_outcome(&self, got_page: bool) {
        super::compaction::count_outcome(got_page);
    }

    fn nofail_wait(&self, _attempt: u64) {
        if crate::sched::can_sleep() {
            // Wait for reclaim elsewhere (kswapd, a victim exiting) asleep.
            crate::sched::sleep_ns(1_000_000);
        } else {
            core::hint::spin_loop();
        }
    }
}

/// Installs the reclaim into the page allocator (right after the
/// allocator exists, as it always had it).
pub fn init() {
    page_alloc::set_reclaim(&KernelReclaim);
}
