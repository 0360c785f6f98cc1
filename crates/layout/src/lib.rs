//! The kernel's address space, drawn where it is defined.
//!
//! ```text
//!  virtual address                       what lies there
//!  0x0000_0000_0000_0000 ..  +4 KiB      page 0: never mapped (null dereferences fault)
//!  0x0000_0000_0000_1000 ..  1 MiB       not mapped
//!  0x0000_0000_0010_0000 ..  image end   the kernel image, identity-mapped with 4 KiB
//!                                        pages: text RX, rodata R, data/bss/stacks RW+NX;
//!                                        the lowest page of every stack is left unmapped
//!                                        as its guard page
//!  ...                                   not mapped
//!  0xffff_8880_0000_0000 ..  + max RAM   the direct map: every E820 RAM/ACPI range at
//!  (DIRECT_MAP_BASE)                     DIRECT_MAP_BASE + physical address, RW+NX, with
//!                                        1 GiB pages where alignment allows, else 2 MiB,
//!                                        else 4 KiB (Linux's PAGE_OFFSET for 4-level paging)
//!  0xffff_c900_0000_0000 ..  +32 TiB     vmalloc region (Linux's VMALLOC_START and size):
//!  (VMALLOC_BASE)                        virtually contiguous areas of scattered pages,
//!                                        RW+NX, 4 KiB or 2 MiB pages, each area followed
//!                                        by an unmapped guard page
//!  0xffff_fd00_0000_0000 ..  +1 GiB      MMIO window: device registers (local APIC, HPET)
//!  (MMIO_BASE)                           mapped uncached, 4 KiB at a time, on demand
//!  0xffff_fe00_0000_0000 ..  +1 MiB/CPU  CPU stack area (Linux's cpu_entry_area): each
//!  (CPU_STACKS_BASE)                     CPU's kernel and IST stacks on its node's memory,
//!                                        each under an unmapped guard page
//! ```
//!
//! The kernel image sits at its physical load address because QEMU's PVH
//! loader applies no relocations and the x86_64-unknown-none code model needs
//! addresses within +/-2 GiB, which low memory satisfies.
#![no_std]
#![forbid(unsafe_code)]

/// Start of the direct map of physical memory (Linux x86_64's PAGE_OFFSET
/// with 4-level paging, so addresses read familiar in fault reports).
pub const DIRECT_MAP_BASE: u64 = 0xffff_8880_0000_0000;

pub const PAGE_SIZE: u64 = 4096;

/// The vmalloc region: Linux x86_64's VMALLOC_START with 4-level paging,
/// and its 32 TiB (64 PML4 slots), so areas read familiar in reports.
pub const VMALLOC_BASE: u64 = 0xffff_c900_0000_0000;
pub const VMALLOC_SIZE: u64 = 32 << 40;

/// Where device registers are mapped (uncached), bump-allocated.
pub const MMIO_BASE: u64 = 0xffff_fd00_0000_0000;
pub const MMIO_SIZE: u64 = 1 << 30;

/// Each CPU's stacks: a slot of `CPU_STACKS_SLOT` bytes per CPU.
pub const CPU_STACKS_BASE: u64 = 0xffff_fe00_0000_0000;
pub const CPU_STACKS_SLOT: u64 = 1 << 20;

/// End of the legacy first MiB (BIOS data, EBDA, option ROMs, the RSDP and,
/// with qboot, the ACPI tables): direct-mapped whole and, as Linux does on
/// x86, never handed to an allocator.
pub const LOW_MEMORY_END: u64 = 0x10_0000;
pub const SIZE_2M: u64 = 2 << 20;
pub const SIZE_1G: u64 = 1 << 30;

/// Physical address to its direct-map virtual address.
pub const fn phys_to_virt(phys: u64) -> u64 {
    DIRECT_MAP_BASE + phys
}

/// Direct-map virtual address back to physical, if it lies in the direct map.
pub const fn virt_to_phys(virt: u64) -> Option<u64> {
    if virt >= DIRECT_MAP_BASE {
        Some(virt - DIRECT_MAP_BASE)
    } else {
        None
    }
}

pub const fn align_down(x: u64, a: u64) -> u64 {
    x & !(a - 1)
}

pub const fn align_up(x: u64, a: u64) -> u64 {
    (x + a - 1) & !(a - 1)
}

/// One piece of a mapping: `size` bytes (4 KiB, 2 MiB or 1 GiB) at physical `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub start: u64,
    pub size: u64,
}

/// Splits the physical range `[start, end)` (rounded out to whole 4 KiB
/// pages) into the fewest naturally aligned pieces of the allowed sizes, the
/// largest first where alignment allows. `allow_1g` says whether the CPU
/// supports 1 GiB pages.
pub fn chunks(start: u64, end: u64, allow_1g: bool) -> impl Iterator<Item = Chunk> {
    let mut at = align_down(start, PAGE_SIZE);
    let end = if end > start {
        align_up(end, PAGE_SIZE)
    } else {
        at
    };
    core::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let size = [SIZE_1G, SIZE_2M, PAGE_SIZE]
            .into_iter()
            .filter(|&s| s != SIZE_1G || allow_1g)
            .find(|&s| at.is_multiple_of(s) && at + s <= end)
            .expect("4 KiB always fits");
        let c = Chunk { start: at, size };
        at += size;
        Some(c)
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn aligned_gigabyte_range_is_one_huge_page() {
        let v: Vec<_> = chunks(0, SIZE_1G, true).collect();
        assert_eq!(
            v,
            [Chunk {
                start: 0,
                size: SIZE_1G
            }]
        );
        let v: Vec<_> = chunks(0, SIZE_1G, false).collect();
        assert_eq!(v.len(), 512);
        assert!(v.iter().all(|c| c.size == SIZE_2M));
    }

    #[test]
    fn unaligned_range_uses_small_pages_at_the_edges_and_covers_it_exactly() {
        let (start, end) = (0x9f000 - 0x1000, 0x7ffe_0000u64);
        let v: Vec<_> = chunks(start, end, true).collect();
        assert_eq!(v.first().unwrap().start, start);
        let mut at = start;
        for c in &v {
            assert_eq!(c.start, at, "contiguous");
            assert_eq!(c.start % c.size, 0, "naturally aligned");
            at += c.size;
        }
        assert_eq!(at, end);
        // 354 + 480 small pages at the edges, 2 MiB pieces in the middle.
        assert!(v.len() < 2000, "{} pieces", v.len());
    }

    #[test]
    fn partial_pages_are_rounded_out() {
        let v: Vec<_> = chunks(10, 20, true).collect();
        assert_eq!(
            v,
            [Chunk {
                start: 0,
                size: 4096
            }]
        );
        assert_eq!(chunks(5, 5, true).count(), 0);
    }

    #[test]
    fn direct_map_round_trips() {
        assert_eq!(virt_to_phys(phys_to_virt(0x1234_5000)), Some(0x1234_5000));
        assert_eq!(virt_to_phys(0x1000), None);
    }
}
