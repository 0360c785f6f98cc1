//! Zone watermarks and the lowmem reserve, computed as Linux computes them
//! (mm/page_alloc.c: init_per_zone_wmark_min, __setup_per_zone_wmarks,
//! setup_per_zone_lowmem_reserve), and the watermark check every
//! allocation passes.
//!
//! - min_free_kbytes = sqrt(16 x lowmem KiB), clamped to [128, 262144],
//!   then raised as Linux's khugepaged raises it when transparent huge
//!   pages are on (the distributions' default): 11 pageblocks a populated
//!   zone up to ZONE_NORMAL, at most 5% of the free kernel-usable pages.
//! - Each zone's `min` is its share of min_free_kbytes in proportion to its
//!   managed pages (ZONE_MOVABLE, which kernel allocations cannot use, gets
//!   a small fixed floor instead). `low` and `high` add one and two steps of
//!   max(min/4, 0.1 % of the zone) (watermark_scale_factor 10).
//! - A lower zone keeps back `lowmem_reserve[j]` pages from allocations
//!   that could have used zone `j` above it: the managed pages of the zones
//!   between, divided by the lower zone's ratio (256 for DMA and DMA32, 32
//!   for NORMAL).

use crate::buddy::{MIGRATE_PCPTYPES, PAGEBLOCK_PAGES};
use crate::gfp::Gfp;
use crate::zone::{ZoneType, NR_ZONES};

pub const MIN_FREE_KBYTES_FLOOR: u64 = 128;
pub const MIN_FREE_KBYTES_CEILING: u64 = 262_144;
/// Linux's default watermark_scale_factor: 10 / 10000 of a zone.
pub const WATERMARK_SCALE_FACTOR: u64 = 10;
/// Linux's SWAP_CLUSTER_MAX: the smallest min of a ZONE_MOVABLE.
const SWAP_CLUSTER_MAX: u64 = 32;
/// sysctl_lowmem_reserve_ratio per zone type.
pub const LOWMEM_RESERVE_RATIO: [u64; NR_ZONES] = [256, 256, 32, 0, 0];

const PAGE_KIB: u64 = layout::PAGE_SIZE / 1024;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watermarks {
    pub min: u64,
    pub low: u64,
    pub high: u64,
}

/// Which watermark an allocation attempt must stay above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Min,
    Low,
    High,
}

impl Watermarks {
    #[inline]
    pub fn get(&self, mark: Mark) -> u64 {
        match mark {
            Mark::Min => self.min,
            Mark::Low => self.low,
            Mark::High => self.high,
        }
    }
}

/// The integer square root (floor), by Newton's method.
fn int_sqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    let mut r = x;
    let mut next = x / 2 + x % 2;
    while next < r {
        r = next;
        next = (r + x / r) / 2;
    }
    r
}

/// Linux's default min_free_kbytes for `lowmem_pages` of kernel-usable memory.
pub fn default_min_free_kbytes(lowmem_pages: u64) -> u64 {
    int_sqrt(lowmem_pages * PAGE_KIB * 16).clamp(MIN_FREE_KBYTES_FLOOR, MIN_FREE_KBYTES_CEILING)
}

/// Linux's set_recommended_min_free_kbytes, which khugepaged applies at
/// boot whenever transparent huge pages are enabled: room for two free
/// pageblocks in each of `zones` (the populated zones up to ZONE_NORMAL),
/// plus MIGRATE_PCPTYPES x MIGRATE_PCPTYPES pageblocks a zone for the
/// migratetypes to fall back into, at most 5% of `free_buffer_pages` (the
/// kernel-usable pages above their zones' high watermarks, Linux's
/// nr_free_buffer_pages); in KiB.
pub fn recommended_min_free_kbytes(zones: u64, free_buffer_pages: u64) -> u64 {
    let per_zone = PAGEBLOCK_PAGES * (2 + (MIGRATE_PCPTYPES * MIGRATE_PCPTYPES) as u64);
    (per_zone * zones).min(free_buffer_pages / 20) * PAGE_KIB
}

/// The most min_free_kbytes a system with `lowmem_pages` can take and
/// still boot: an eighth of its kernel-usable memory (then `high`, at
/// 1.5 x min, keeps under a fifth of it free), never under the floor.
/// Linux takes any value and a too large one leaves the system in
/// reclaim from the start; here the value is clamped and the caller says so.
pub fn max_min_free_kbytes(lowmem_pages: u64) -> u64 {
    (lowmem_pages * PAGE_KIB / 8).max(MIN_FREE_KBYTES_FLOOR)
}

/// Kernel-usable memory: managed pages of every zone but MOVABLE and DEVICE.
pub fn lowmem_pages<'a>(zones: impl Iterator<Item = (ZoneType, u64)> + 'a) -> u64 {
    zones
        .filter(|(t, _)| *t <= ZoneType::Normal)
        .map(|(_, managed)| managed)
        .sum()
}

/// One zone's watermarks, given min_free_kbytes and the system's lowmem.
pub fn zone_watermarks(
    zone: ZoneType,
    managed: u64,
    min_free_kbytes: u64,
    lowmem_pages: u64,
) -> Watermarks {
    let pages_min = min_free_kbytes / PAGE_KIB;
    let share = if lowmem_pages == 0 {
        0
    } else {
        (pages_min as u128 * managed as u128 / lowmem_pages as u128) as u64
    };
    let min = if zone >= ZoneType::Movable {
        (managed / 1024).clamp(SWAP_CLUSTER_MAX, 128)
    } else {
        share
    };
    let step = (share / 4).max(managed * WATERMARK_SCALE_FACTOR / 10_000);
    Watermarks {
        min,
        low: min + step,
        high: min + 2 * step,
    }
}

/// The lowmem_reserve arrays of one node's zones, from their managed pages.
pub fn lowmem_reserve(managed: &[u64; NR_ZONES]) -> [[u64; NR_ZONES]; NR_ZONES] {
    let mut reserve = [[0u64; NR_ZONES]; NR_ZONES];
    for i in 0..NR_ZONES - 1 {
        let ratio = LOWMEM_RESERVE_RATIO[i];
        let clear = ratio == 0 || managed[i] == 0;
        let mut above = 0;
        for j in i + 1..NR_ZONES {
            above += managed[j];
            reserve[i][j] = if clear { 0 } else { above / ratio };
        }
    }
    reserve
}

/// How far into a zone's reserves an attempt may go (Linux's ALLOC_* bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocFlags {
    pub mark: Mark,
    /// __GFP_HIGH: half the min reserve is open.
    pub min_reserve: bool,
    /// Cannot sleep (GFP_ATOMIC): with `min_reserve`, a further quarter.
    pub non_block: bool,
}

impl AllocFlags {
    /// The fast path: stay above `low`, no reserves.
    pub const FAST: AllocFlags = AllocFlags {
        mark: Mark::Low,
        min_reserve: false,
        non_block: false,
    };

    /// The slow path for `gfp` (Linux's gfp_to_alloc_flags): `min`, with
    /// reserves for __GFP_HIGH and for callers that cannot sleep.
    pub fn slow_path(gfp: Gfp) -> AllocFlags {
        AllocFlags {
            mark: Mark::Min,
            min_reserve: gfp.contains(Gfp::HIGH),
            non_block: !gfp.can_direct_reclaim() && !gfp.contains(Gfp::NOMEMALLOC),
        }
    }

    /// The watermark these flags must stay above.
    #[inline]
    pub fn effective_mark(self, marks: &Watermarks) -> u64 {
        self.effective(marks.get(self.mark))
    }

    /// As [`effective_mark`](Self::effective_mark), from the value of
    /// `self.mark` alone (a fast path reads only that one).
    #[inline]
    pub fn effective(self, mark: u64) -> u64 {
        let mut min = mark;
        if self.min_reserve {
            min -= min / 2;
            if self.non_block {
                min -= min / 4;
            }
        }
        min
    }
}

/// Linux's __zone_watermark_ok: would the zone stay above the mark after
/// handing out a block of `order`? `reserve` is the zone's lowmem_reserve
/// for the highest zone the allocation could have used; `has_block` says
/// whether a free block of `order` or more exists.
#[inline]
pub fn watermark_ok(
    free_pages: u64,
    has_block: bool,
    order: usize,
    marks: &Watermarks,
    reserve: u64,
    flags: AllocFlags,
) -> bool {
    let min = flags.effective_mark(marks);
    let free = free_pages as i64 - ((1i64 << order) - 1);
    if free <= (min + reserve) as i64 {
        return false;
    }
    order == 0 || has_block
}

#[cfg(test)]
mod clamp_tests {
    use super::*;

    #[test]
    fn a_huge_min_free_kbytes_is_clamped_to_an_eighth_of_lowmem() {
        let lowmem = (2u64 << 30) / layout::PAGE_SIZE;
        assert_eq!(max_min_free_kbytes(lowmem), 256 * 1024);
        assert_eq!(max_min_free_kbytes(0), MIN_FREE_KBYTES_FLOOR);
        // The default always fits under the clamp on any size that boots.
        for mib in [7u64, 64, 512, 2048, 65536] {
            let pages = (mib << 20) / layout::PAGE_SIZE;
            assert!(
                default_min_free_kbytes(pages) <= max_min_free_kbytes(pages),
                "{mib} MiB"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_sqrt_is_exact() {
        for x in (0..100_000u64).chain([u64::MAX, u64::MAX - 1, 1 << 62]) {
            let r = int_sqrt(x) as u128;
            assert!(r * r <= x as u128 && (r + 1) * (r + 1) > x as u128, "{x}");
        }
    }

    #[test]
    fn the_huge_page_raise_is_eleven_pageblocks_a_zone_within_five_percent() {
        // Three zones (two-node: DMA and two DMA32): 3 x 11 x 512 pages.
        assert_eq!(recommended_min_free_kbytes(3, 1 << 20), 3 * 11 * 512 * 4);
        // A small machine: 5% of what is free above the high marks.
        assert_eq!(recommended_min_free_kbytes(2, 100_000), 5_000 * 4);
        assert_eq!(recommended_min_free_kbytes(0, 1 << 20), 0);
    }

    #[test]
    fn min_free_kbytes_follows_the_square_root_rule() {
        // 16 GiB of lowmem: sqrt(16 * 16 Mi KiB) = 16384 KiB, Linux's figure.
        assert_eq!(default_min_free_kbytes(4 << 20), 16384);
        // 1 GiB: sqrt(16 * 1 Mi) = 4096.
        assert_eq!(default_min_free_kbytes(1 << 18), 4096);
        assert_eq!(default_min_free_kbytes(10), 128);
        assert_eq!(default_min_free_kbytes(1 << 40), 262_144);
    }

    #[test]
    fn zone_watermarks_split_min_by_managed_share() {
        // 2 GiB lowmem: DMA 3968 pages, DMA32 the rest, min_free_kbytes 5792.
        let lowmem = 524_288;
        let mfk = default_min_free_kbytes(lowmem);
        assert_eq!(mfk, 5792);
        let dma = zone_watermarks(ZoneType::Dma, 3968, mfk, lowmem);
        let dma32 = zone_watermarks(ZoneType::Dma32, lowmem - 3968, mfk, lowmem);
        assert_eq!(dma.min, 1448 * 3968 / lowmem);
        assert_eq!(dma.min + dma32.min, 1448 - 1, "shares round down");
        assert_eq!(dma32.low - dma32.min, (dma32.min / 4).max(520));
        assert_eq!(dma32.high - dma32.low, dma32.low - dma32.min);
        let movable = zone_watermarks(ZoneType::Movable, 1 << 20, mfk, lowmem);
        assert_eq!(movable.min, 128);
    }

    #[test]
    fn lowmem_reserve_counts_the_zones_above() {
        let managed = [3968, 500_000, 1_000_000, 0, 0];
        let r = lowmem_reserve(&managed);
        assert_eq!(
            r[0],
            [
                0,
                500_000 / 256,
                1_500_000 / 256,
                1_500_000 / 256,
                1_500_000 / 256
            ]
        );
        assert_eq!(
            r[1],
            [0, 0, 1_000_000 / 256, 1_000_000 / 256, 1_000_000 / 256]
        );
        assert_eq!(r[2], [0, 0, 0, 0, 0]);
        // An empty lower zone reserves nothing.
        let r = lowmem_reserve(&[0, 10_000, 0, 0, 0]);
        assert_eq!(r[0], [0; NR_ZONES]);
    }

    #[test]
    fn atomic_reaches_below_min_and_kernel_does_not() {
        let marks = Watermarks {
            min: 800,
            low: 1000,
            high: 1200,
        };
        let kernel_min = AllocFlags {
            mark: Mark::Min,
            min_reserve: false,
            non_block: false,
        };
        let high = AllocFlags {
            min_reserve: true,
            ..kernel_min
        };
        let atomic = AllocFlags {
            non_block: true,
            ..high
        };
        assert!(!watermark_ok(800, true, 0, &marks, 0, kernel_min));
        assert!(watermark_ok(801, true, 0, &marks, 0, kernel_min));
        assert!(watermark_ok(401, true, 0, &marks, 0, high));
        assert!(!watermark_ok(400, true, 0, &marks, 0, high));
        // 800 - 400 - 100 = 300.
        assert!(watermark_ok(301, true, 0, &marks, 0, atomic));
        assert!(!watermark_ok(300, true, 0, &marks, 0, atomic));
        // The lowmem reserve adds to the mark.
        assert!(!watermark_ok(900, true, 0, &marks, 100, kernel_min));
        // Order 1 needs a block of order 1 or more.
        assert!(!watermark_ok(5000, false, 1, &marks, 0, kernel_min));
        assert!(watermark_ok(5000, true, 1, &marks, 0, kernel_min));
    }
}
