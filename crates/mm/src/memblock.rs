//! The early boot allocator (Linux's memblock): two sorted lists of
//! physical ranges, `memory` (what RAM exists) and `reserved` (what of it
//! is taken), from which boot-time allocations are carved before the page
//! allocator exists. Fixed capacity, no allocation of its own.

/// Most ranges per list. A small VM needs fewer than 20; each node adds a
/// few reserved ones (its node data, page descriptors, per-CPU areas) that
/// need not touch, so the capacity follows the node limit: 128 nodes
/// measured about 3 each.
pub const MAX_REGIONS: usize = 4 * numa::MAX_NUMNODES;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
}

impl Region {
    pub fn size(&self) -> u64 {
        self.end - self.start
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemblockError {
    /// A list is full; the range was not recorded.
    Full,
    /// No free range can hold the request.
    NoSpace { size: u64, align: u64 },
}

/// A sorted, merged list of ranges.
#[derive(Clone, Debug)]
pub struct RangeList {
    regions: [Region; MAX_REGIONS],
    len: usize,
}

impl Default for RangeList {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl RangeList {
    pub const EMPTY: RangeList = RangeList {
        regions: [Region { start: 0, end: 0 }; MAX_REGIONS],
        len: 0,
    };

    pub fn iter(&self) -> impl Iterator<Item = &Region> + '_ {
        self.regions[..self.len].iter()
    }

    pub fn total(&self) -> u64 {
        self.iter().map(|r| r.size()).sum()
    }

    /// Adds `[start, end)`, merging with overlapping or touching ranges.
    pub fn add(&mut self, start: u64, end: u64) -> Result<(), MemblockError> {
        if end <= start {
            return Ok(());
        }
        let (mut s, mut e) = (start, end);
        // Absorb every range that overlaps or touches, then insert in order.
        let mut i = 0;
        while i < self.len {
            let r = self.regions[i];
            if r.start <= e && s <= r.end {
                s = s.min(r.start);
                e = e.max(r.end);
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
        if self.len == MAX_REGIONS {
            return Err(MemblockError::Full);
        }
        let at = self.regions[..self.len].partition_point(|r| r.start < s);
        self.regions.copy_within(at..self.len, at + 1);
        self.regions[at] = Region { start: s, end: e };
        self.len += 1;
        Ok(())
    }

    /// Removes `[start, end)` from every range, splitting where needed.
    pub fn remove(&mut self, start: u64, end: u64) -> Result<(), MemblockError> {
        let mut i = 0;
        while i < self.len {
            let r = self.regions[i];
            if r.end <= start || end <= r.start {
                i += 1;
                continue;
            }
            // A range cut in the middle becomes two: make sure both fit
            // before anything changes.
            if r.start < start && end < r.end && self.len == MAX_REGIONS {
                return Err(MemblockError::Full);
            }
            self.remove_at(i);
            if r.start < start {
                self.add(r.start, start)?;
                i += 1;
            }
            if end < r.end {
                self.add(end, r.end)?;
                i += 1;
            }
        }
        Ok(())
    }

    fn remove_at(&mut self, i: usize) {
        self.regions.copy_within(i + 1..self.len, i);
        self.len -= 1;
    }

    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.iter().any(|r| r.start < end && start < r.end)
    }
}

/// The early allocator.
#[derive(Clone, Debug, Default)]
pub struct Memblock {
    pub memory: RangeList,
    pub reserved: RangeList,
}

impl Memblock {
    pub fn add_memory(&mut self, start: u64, end: u64) -> Result<(), MemblockError> {
        self.memory.add(start, end)
    }

    pub fn reserve(&mut self, start: u64, end: u64) -> Result<(), MemblockError> {
        self.reserved.add(start, end)
    }

    /// `mem=`: forget all memory at and above `limit`.
    pub fn cap_memory(&mut self, limit: u64) -> Result<(), MemblockError> {
        self.memory.remove(limit, u64::MAX)
    }

    /// The free ranges (memory not reserved) within `[lo, hi)`, in address order.
    pub fn free_ranges(&self, lo: u64, hi: u64) -> impl Iterator<Item = Region> + '_ {
        self.memory.iter().flat_map(move |m| {
            let (ms, me) = (m.start.max(lo), m.end.min(hi));
            let mut at = ms;
            let mut reserved = self
                .reserved
                .iter()
                .filter(move |r| r.end > ms && r.start < me);
            core::iter::from_fn(move || {
                while at < me {
                    match reserved.next() {
                        Some(r) => {
                            let gap = Region {
                                start: at,
                                end: r.start.max(at),
                            };
                            at = at.max(r.end);
                            if gap.end > gap.start {
                                return Some(gap);
                            }
                        }
                        None => {
                            let last = Region { start: at, end: me };
                            at = me;
                            return Some(last);
                        }
                    }
                }
                None
            })
        })
    }

    pub fn free_bytes(&self, lo: u64, hi: u64) -> u64 {
        self.free_ranges(lo, hi).map(|r| r.size()).sum()
    }

    /// Allocates `size` bytes aligned to `align` within `[lo, hi)`, from the
    /// top down as Linux's memblock does, and reserves them.
    pub fn alloc_range(
        &mut self,
        size: u64,
        align: u64,
        lo: u64,
        hi: u64,
    ) -> Result<u64, MemblockError> {
        let no_space = MemblockError::NoSpace { size, align };
        if size == 0 || !align.is_power_of_two() {
            return Err(no_space);
        }
        let mut best = None;
        for r in self.free_ranges(lo, hi) {
            if r.size() < size {
                continue;
            }
            let start = (r.end - size) & !(align - 1);
            if start >= r.start {
                best = Some(start); // ranges ascend: the last fit is the highest
            }
        }
        let start = best.ok_or(no_space)?;
        self.reserve(start, start + size)?;
        Ok(start)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn ranges(l: &RangeList) -> Vec<(u64, u64)> {
        l.iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn add_merges_and_remove_splits() {
        let mut l = RangeList::default();
        l.add(100, 200).unwrap();
        l.add(300, 400).unwrap();
        l.add(200, 250).unwrap();
        assert_eq!(ranges(&l), [(100, 250), (300, 400)]);
        l.add(240, 310).unwrap();
        assert_eq!(ranges(&l), [(100, 400)]);
        l.remove(150, 160).unwrap();
        assert_eq!(ranges(&l), [(100, 150), (160, 400)]);
        l.remove(0, 120).unwrap();
        l.remove(390, 1000).unwrap();
        assert_eq!(ranges(&l), [(120, 150), (160, 390)]);
        assert_eq!(l.total(), 30 + 230);
    }

    #[test]
    fn free_ranges_are_memory_minus_reserved() {
        let mut m = Memblock::default();
        m.add_memory(0, 0x9fc00).unwrap();
        m.add_memory(0x10_0000, 0x4000_0000).unwrap();
        m.reserve(0, 0x1000).unwrap();
        m.reserve(0x10_0000, 0x20_0000).unwrap();
        m.reserve(0x3000_0000, 0x3000_1000).unwrap();
        let free: Vec<_> = m
            .free_ranges(0, u64::MAX)
            .map(|r| (r.start, r.end))
            .collect();
        assert_eq!(
            free,
            [
                (0x1000, 0x9fc00),
                (0x20_0000, 0x3000_0000),
                (0x3000_1000, 0x4000_0000)
            ]
        );
        assert_eq!(m.free_bytes(0x3000_0000, u64::MAX), 0x1000_0000 - 0x1000);
    }

    #[test]
    fn alloc_is_top_down_aligned_and_reserved() {
        let mut m = Memblock::default();
        m.add_memory(0x10_0000, 0x4000_0000).unwrap();
        let a = m.alloc_range(0x1000, 0x1000, 0, u64::MAX).unwrap();
        assert_eq!(a, 0x4000_0000 - 0x1000);
        let b = m.alloc_range(0x1000, 0x20_0000, 0, u64::MAX).unwrap();
        assert_eq!(b, 0x3fe0_0000);
        assert!(m.reserved.overlaps(a, a + 1) && m.reserved.overlaps(b, b + 1));
        // Within a window.
        let c = m.alloc_range(0x1000, 0x1000, 0, 0x20_0000).unwrap();
        assert_eq!(c, 0x1f_f000);
        assert_eq!(
            m.alloc_range(0x8000_0000, 0x1000, 0, u64::MAX),
            Err(MemblockError::NoSpace {
                size: 0x8000_0000,
                align: 0x1000
            })
        );
    }

    #[test]
    fn mem_limit_caps_memory() {
        let mut m = Memblock::default();
        m.add_memory(0, 0x8000_0000).unwrap();
        m.add_memory(0x1_0000_0000, 0x2_0000_0000).unwrap();
        m.cap_memory(0x4000_0000).unwrap();
        assert_eq!(ranges(&m.memory), [(0, 0x4000_0000)]);
    }

    #[test]
    fn a_full_list_reports_instead_of_losing_ranges_silently() {
        let mut l = RangeList::default();
        for i in 0..MAX_REGIONS as u64 {
            l.add(i * 10, i * 10 + 5).unwrap();
        }
        assert_eq!(l.add(10_000, 10_005), Err(MemblockError::Full));
        assert_eq!(l.iter().count(), MAX_REGIONS);
        // Cutting a hole in a full list would need one more slot.
        let before = ranges(&l);
        assert_eq!(l.remove(1, 2), Err(MemblockError::Full));
        assert_eq!(ranges(&l), before);
    }
}
