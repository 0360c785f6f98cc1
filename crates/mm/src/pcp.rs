//! Per-CPU page lists (Linux's per_cpu_pages): each CPU keeps a few free
//! blocks of orders 0 to 3 per zone, so most allocations and frees touch
//! only that CPU's list. A list is refilled from the buddy allocator
//! `batch` pages at a time and trimmed back by `batch` once it holds more
//! than `high` pages; draining gives everything back.
//!
//! Sizes follow Linux (mm/page_alloc.c, zone_batchsize and zone_highsize):
//! batch is a quarter of the zone's managed pages / 1024 (at most 1 MiB's
//! worth), rounded to 2^n - 1; high is the zone's low watermark shared
//! among the CPUs of its node, at least 4 x batch. Here high is also capped
//! by the lists' fixed capacity.

use crate::buddy::MAX_ORDER;

/// Orders kept on the lists: up to Linux's PAGE_ALLOC_COSTLY_ORDER.
pub const PCP_MAX_ORDER: usize = 3;
/// Blocks one list can hold.
pub const PCP_LIST_CAPACITY: usize = 256;

/// Linux's zone_batchsize.
pub fn batch_size(managed: u64) -> u32 {
    let mut batch = (managed >> 10).min((1 << 20) / layout::PAGE_SIZE) / 4;
    batch = batch.max(1);
    let b = batch + batch / 2;
    ((1u64 << (63 - b.leading_zeros())) - 1).max(1) as u32
}

/// Linux's zone_highsize, capped by what the lists can hold.
pub fn high_size(low_watermark: u64, batch: u32, cpus_on_node: u32, cpus_online: u32) -> u32 {
    let split = if cpus_on_node > 0 {
        cpus_on_node
    } else {
        cpus_online.max(1)
    };
    let high = (low_watermark / split as u64).max((batch as u64) << 2);
    high.min((PCP_LIST_CAPACITY as u64) - batch as u64) as u32
}

/// One list per order of free blocks, as frame offsets from the zone start.
#[derive(Clone, Copy)]
struct List {
    blocks: [u32; PCP_LIST_CAPACITY],
    len: u16,
}

/// One CPU's lists for one zone.
#[derive(Clone, Copy)]
pub struct PerCpuPages {
    lists: [List; PCP_MAX_ORDER + 1],
    /// Pages on all lists.
    count: u32,
}

impl core::fmt::Debug for PerCpuPages {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PerCpuPages {{ count: {} }}", self.count)
    }
}

impl Default for PerCpuPages {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl PerCpuPages {
    pub const EMPTY: PerCpuPages = PerCpuPages {
        lists: [List {
            blocks: [0; PCP_LIST_CAPACITY],
            len: 0,
        }; PCP_MAX_ORDER + 1],
        count: 0,
    };

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Blocks of `order` on the list.
    pub fn len(&self, order: usize) -> usize {
        self.lists[order].len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn pop(&mut self, order: usize) -> Option<u32> {
        let l = &mut self.lists[order];
        l.len = l.len.checked_sub(1)?;
        self.count -= 1 << order;
        Some(l.blocks[l.len as usize])
    }

    /// False when the list is full.
    pub fn push(&mut self, order: usize, offset: u32) -> bool {
        let l = &mut self.lists[order];
        if l.len as usize == PCP_LIST_CAPACITY {
            return false;
        }
        l.blocks[l.len as usize] = offset;
        l.len += 1;
        self.count += 1 << order;
        true
    }

    /// Takes blocks worth at least `pages` pages off the lists, round robin
    /// over the orders (as Linux's free_pcppages_bulk), and hands each to
    /// `give`.
    pub fn take_pages(&mut self, pages: u32, give: &mut dyn FnMut(usize, u32)) {
        let mut taken = 0;
        let mut order = 0;
        let mut idle = 0;
        while taken < pages && self.count > 0 {
            if let Some(off) = self.pop(order) {
                give(order, off);
                taken += 1 << order;
                idle = 0;
            } else {
                idle += 1;
                if idle > PCP_MAX_ORDER {
                    break;
                }
            }
            order = (order + 1) % (PCP_MAX_ORDER + 1);
        }
    }
}

const _: () = assert!(PCP_MAX_ORDER < MAX_ORDER);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_and_high_follow_linux() {
        // A 768 MiB zone: managed 196608 >> 10 = 192, / 4 = 48, 48 + 24 = 72 -> 63.
        assert_eq!(batch_size(196_608), 63);
        // 4 GiB and more: capped at 1 MiB worth = 256 / 4 = 64 -> 96 -> 63.
        assert_eq!(batch_size(1 << 20), 63);
        assert_eq!(batch_size(100), 1);
        // high: low watermark over the node's CPUs, at least 4 x batch.
        assert_eq!(
            high_size(1000, 7, 2, 8),
            256 - 7,
            "500, capped by the lists"
        );
        assert_eq!(high_size(40, 7, 2, 8), 28);
        assert_eq!(
            high_size(800, 31, 0, 4),
            200,
            "a CPU-less node shares with all"
        );
    }

    #[test]
    fn lists_count_pages_and_give_back_round_robin() {
        let mut p = PerCpuPages::EMPTY;
        assert!(p.push(0, 1) && p.push(0, 2) && p.push(2, 8) && p.push(3, 16));
        assert_eq!(p.count(), 1 + 1 + 4 + 8);
        let mut got = [(0usize, 0u32); 4];
        let mut n = 0;
        p.take_pages(6, &mut |o, off| {
            got[n] = (o, off);
            n += 1;
        });
        assert_eq!(&got[..n], &[(0, 2), (2, 8), (3, 16)]);
        assert_eq!(p.count(), 1);
        assert_eq!(p.pop(0), Some(1));
        assert_eq!(p.pop(0), None);
        let mut full = PerCpuPages::EMPTY;
        for i in 0..PCP_LIST_CAPACITY as u32 {
            assert!(full.push(1, i));
        }
        assert!(!full.push(1, 999));
    }
}
