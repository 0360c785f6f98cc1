//! Zone types and where each zone of a node lies.
//!
//! x86_64 zones: DMA below 16 MiB (ISA DMA), DMA32 below 4 GiB (32-bit
//! devices), NORMAL above, MOVABLE carved from the top of each node by
//! `kernelcore=` / `movablecore=` (see [`movable`](crate::movable)), and
//! DEVICE for device memory that the buddy allocator never manages.

use layout::PAGE_SIZE;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZoneType {
    Dma = 0,
    Dma32 = 1,
    Normal = 2,
    Movable = 3,
    Device = 4,
}

pub const NR_ZONES: usize = 5;

/// First frame above the DMA zone (16 MiB).
pub const DMA_END_PFN: u64 = (16 << 20) / PAGE_SIZE;
/// First frame above the DMA32 zone (4 GiB).
pub const DMA32_END_PFN: u64 = (4 << 30) / PAGE_SIZE;

impl ZoneType {
    pub const ALL: [ZoneType; NR_ZONES] = [
        ZoneType::Dma,
        ZoneType::Dma32,
        ZoneType::Normal,
        ZoneType::Movable,
        ZoneType::Device,
    ];

    /// The name Linux prints in /proc/zoneinfo and /proc/buddyinfo.
    pub const fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
            ZoneType::Movable => "Movable",
            ZoneType::Device => "Device",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    /// The physical frames a zone of this type may cover, before
    /// ZONE_MOVABLE takes its share. MOVABLE and DEVICE have no fixed range.
    pub const fn pfn_bounds(self) -> Option<(u64, u64)> {
        match self {
            ZoneType::Dma => Some((0, DMA_END_PFN)),
            ZoneType::Dma32 => Some((DMA_END_PFN, DMA32_END_PFN)),
            ZoneType::Normal => Some((DMA32_END_PFN, u64::MAX)),
            ZoneType::Movable | ZoneType::Device => None,
        }
    }
}

/// Where one zone of one node lies: `[start_pfn, end_pfn)` is its span
/// (holes included), `present` the frames of RAM inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneSpan {
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub present: u64,
}

impl ZoneSpan {
    pub fn spanned(&self) -> u64 {
        self.end_pfn - self.start_pfn
    }

    pub fn is_empty(&self) -> bool {
        self.present == 0
    }
}

/// The frames of RAM in `[start, end)` bytes: partial pages at either edge
/// are not usable memory.
pub fn pfn_range(start: u64, end: u64) -> (u64, u64) {
    let s = start.div_ceil(PAGE_SIZE);
    let e = end / PAGE_SIZE;
    (s, e.max(s))
}

/// The zones of one node whose RAM is `ranges` (frame ranges, ascending).
/// `movable_start` is the first frame of the node's ZONE_MOVABLE, if it has
/// one: the kernel zones end there and MOVABLE runs to the node's end.
pub fn node_zone_spans(
    ranges: &[(u64, u64)],
    movable_start: Option<u64>,
    device: &[(u64, u64)],
) -> [ZoneSpan; NR_ZONES] {
    let mut spans = [ZoneSpan::default(); NR_ZONES];
    // ZONE_DEVICE: the node's device memory (persistent memory), whatever
    // its addresses; it holds no RAM.
    for &(s, e) in device.iter().filter(|r| r.0 < r.1) {
        let z = &mut spans[ZoneType::Device.index()];
        if z.present == 0 {
            *z = ZoneSpan {
                start_pfn: s,
                end_pfn: e,
                present: 0,
            };
        }
        z.start_pfn = z.start_pfn.min(s);
        z.end_pfn = z.end_pfn.max(e);
        z.present += e - s;
    }
    for zone in ZoneType::ALL.into_iter().filter(|&z| z != ZoneType::Device) {
        let (lo, hi) = match (zone, zone.pfn_bounds(), movable_start) {
            (ZoneType::Movable, _, Some(m)) => (m, u64::MAX),
            (_, Some((lo, hi)), Some(m)) => (lo, hi.min(m)),
            (_, Some(b), None) => b,
            _ => continue,
        };
        let mut span: Option<ZoneSpan> = None;
        for &(s, e) in ranges {
            let (s, e) = (s.max(lo), e.min(hi));
            if s >= e {
                continue;
            }
            let z = span.get_or_insert(ZoneSpan {
                start_pfn: s,
                end_pfn: e,
                present: 0,
            });
            z.end_pfn = e;
            z.present += e - s;
        }
        if let Some(z) = span {
            spans[zone.index()] = z;
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_across_4g_splits_into_three_zones_with_its_hole() {
        // RAM [4K, 636K), [1M, 2G), [4G, 5G) in frames.
        let ranges = [(1, 159), (256, 0x8_0000), (0x10_0000, 0x14_0000)];
        let z = node_zone_spans(&ranges, None, &[]);
        assert_eq!(
            z[0],
            ZoneSpan {
                start_pfn: 1,
                end_pfn: 4096,
                present: 158 + 4096 - 256
            }
        );
        assert_eq!(z[1].start_pfn, 4096);
        assert_eq!(z[1].end_pfn, 0x8_0000);
        assert_eq!(z[1].present, 0x8_0000 - 4096);
        assert_eq!(z[2].spanned(), 0x4_0000);
        assert!(z[3].is_empty() && z[4].is_empty());
    }

    #[test]
    fn movable_takes_the_top_of_the_node() {
        let ranges = [(0x10_0000, 0x14_0000)];
        let z = node_zone_spans(&ranges, Some(0x12_0000), &[]);
        assert_eq!(z[2].end_pfn, 0x12_0000);
        assert_eq!(z[3].start_pfn, 0x12_0000);
        assert_eq!(z[3].present, 0x2_0000);
        assert_eq!(z[2].present + z[3].present, 0x4_0000);
    }

    #[test]
    fn partial_pages_are_not_ram() {
        assert_eq!(pfn_range(0x9fc00, 0x100000), (0xa0, 0x100));
        assert_eq!(pfn_range(0, 0x9fc00), (0, 0x9f));
        assert_eq!(pfn_range(0x1800, 0x1900), (2, 2));
    }
}
