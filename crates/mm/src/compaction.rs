//! What compaction decides, apart from moving pages (which the kernel's
//! mm/compaction.rs does with the owners of movable memory): Linux's
//! deferral of compaction after failures (mm/compaction.c,
//! defer_compaction, compaction_deferred, compaction_defer_reset) and the
//! fragmentation score proactive compaction works against.

use crate::buddy::{MAX_ORDER, PAGEBLOCK_ORDER};
use crate::extfrag::{ContigInfo, FreeBlocks};

/// Most times a failure doubles the wait (Linux's COMPACT_MAX_DEFER_SHIFT):
/// after six failures in a row, one attempt in 64 goes ahead.
pub const COMPACT_MAX_DEFER_SHIFT: u32 = 6;

/// A zone's deferral state (Linux's compact_considered, compact_defer_shift
/// and compact_order_failed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Defer {
    considered: u32,
    shift: u32,
    order_failed: usize,
}

impl Defer {
    pub const fn new() -> Self {
        Defer {
            considered: 0,
            shift: 0,
            order_failed: 0,
        }
    }

    /// Compaction for `order` failed: wait twice as long (up to 64
    /// attempts) before the next try at that order or above.
    pub fn failed(&mut self, order: usize) {
        self.considered = 0;
        self.shift = (self.shift + 1).min(COMPACT_MAX_DEFER_SHIFT);
        self.order_failed = self.order_failed.min(order);
    }

    /// Whether an attempt at `order` should be skipped now; each call
    /// counts as one attempt considered.
    pub fn deferred(&mut self, order: usize) -> bool {
        if order < self.order_failed {
            return false;
        }
        let limit = 1 << self.shift;
        self.considered += 1;
        if self.considered >= limit {
            self.considered = limit;
            return false;
        }
        true
    }

    /// Compaction made `order` available: no more waiting (with
    /// `alloc_success`), and orders up to this one are known to work.
    pub fn reset(&mut self, order: usize, alloc_success: bool) {
        if alloc_success {
            self.considered = 0;
            self.shift = 0;
        }
        if order >= self.order_failed {
            self.order_failed = order + 1;
        }
    }
}

/// The order compaction's fragmentation score looks at: a huge page's.
pub const COMPACTION_HPAGE_ORDER: usize = PAGEBLOCK_ORDER;

/// Linux's extfrag_for_order: the percentage of free memory not in blocks
/// of `order` or larger (0 when nothing is free).
pub fn extfrag_for_order(blocks: &FreeBlocks, order: usize) -> u64 {
    let info = ContigInfo::new(blocks, order.min(MAX_ORDER));
    if info.free_pages == 0 {
        return 0;
    }
    (info.free_pages - (info.free_blocks_suitable << order)) * 100 / info.free_pages
}

/// A node's fragmentation score (Linux's fragmentation_score_node): each
/// zone's extfrag_for_order at huge-page order, weighted by the zone's
/// share of the node's present pages. `zones` gives (present, free blocks).
pub fn node_score(zones: impl Iterator<Item = (u64, FreeBlocks)> + Clone) -> u64 {
    let node_present: u64 = zones.clone().map(|(p, _)| p).sum();
    if node_present == 0 {
        return 0;
    }
    zones
        .map(|(present, blocks)| {
            extfrag_for_order(&blocks, COMPACTION_HPAGE_ORDER) * present / node_present
        })
        .sum()
}

/// The scores proactive compaction starts at (`high`) and stops at (`low`)
/// for a proactiveness (Linux's fragmentation_score_wmark): low is 100
/// minus it, at least 5; high is 10 above low, at most 100.
pub fn score_wmarks(proactiveness: u32) -> (u64, u64) {
    let low = 100u64.saturating_sub(proactiveness as u64).max(5);
    (low, (low + 10).min(100))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn deferral_doubles_after_each_failure_and_resets_on_success() {
        let mut d = Defer::new();
        assert!(!d.deferred(9), "nothing failed yet");
        d.failed(9);
        // shift 1: every second attempt goes ahead.
        assert!(d.deferred(9));
        assert!(!d.deferred(9));
        d.failed(9);
        // shift 2: three skipped, the fourth goes.
        let goes: std::vec::Vec<bool> = (0..4).map(|_| !d.deferred(9)).collect();
        assert_eq!(goes, [false, false, false, true]);
        // Orders below the failed one are never deferred.
        assert!(!d.deferred(3));
        for _ in 0..10 {
            d.failed(9);
        }
        let skipped = (0..64).filter(|_| d.deferred(9)).count();
        assert_eq!(skipped, 63, "at most one in 64");
        d.reset(9, true);
        assert!(!d.deferred(9));
        assert!(!d.deferred(10), "order_failed moved past 9");
    }

    #[test]
    fn the_score_is_the_share_of_free_memory_below_huge_page_order() {
        let mut b: FreeBlocks = [0; MAX_ORDER + 1];
        b[0] = 512; // 512 pages in order-0 blocks
        b[9] = 1; // and one huge page
        assert_eq!(extfrag_for_order(&b, 9), 50);
        assert_eq!(extfrag_for_order(&[0; MAX_ORDER + 1], 9), 0);
        // Two zones, the fragmented one with a quarter of the pages.
        let mut whole: FreeBlocks = [0; MAX_ORDER + 1];
        whole[10] = 4;
        let zones = [(100u64, b), (300u64, whole)];
        assert_eq!(node_score(zones.iter().copied()), 50 * 100 / 400);
        assert_eq!(score_wmarks(20), (80, 90));
        assert_eq!(score_wmarks(100), (5, 15));
        assert_eq!(score_wmarks(0), (100, 100));
    }
}
