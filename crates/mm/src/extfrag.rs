//! External fragmentation, measured as Linux measures it for
//! /sys/kernel/debug/extfrag: from a zone's free blocks per order, how much
//! of its free memory an allocation of each order cannot use (the unusable
//! free space index), and, for an order that would fail, whether it fails
//! for want of memory (index near 0) or because the free memory is in
//! pieces too small (near 1) (the fragmentation index; -1 when the
//! allocation would succeed). Values are thousandths, printed as Linux
//! prints them (`0.512`, `-1.000`).
//!
//! Only the zones' buddy free lists count, as in Linux: pages parked on
//! per-CPU lists are not free blocks of the zone.

use crate::buddy::MAX_ORDER;
use crate::page_alloc::PageAllocator;
use core::fmt::{self, Write};

/// Free blocks per order, as buddyinfo shows them.
pub type FreeBlocks = [usize; MAX_ORDER + 1];

/// What both indices are computed from (Linux's contig_page_info).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContigInfo {
    /// Free pages in all blocks.
    pub free_pages: u64,
    /// Free blocks of any order.
    pub free_blocks_total: u64,
    /// How many blocks of the requested order the free blocks of that
    /// order and above could be cut into.
    pub free_blocks_suitable: u64,
}

impl ContigInfo {
    pub fn new(blocks: &FreeBlocks, order: usize) -> Self {
        let mut info = ContigInfo::default();
        for (o, &n) in blocks.iter().enumerate() {
            let n = n as u64;
            info.free_blocks_total += n;
            info.free_pages += n << o;
            if o >= order {
                info.free_blocks_suitable += n << (o - order);
            }
        }
        info
    }
}

/// The share (in thousandths) of free memory an allocation of `order`
/// cannot use; 1000 when nothing is free.
pub fn unusable_index(blocks: &FreeBlocks, order: usize) -> i64 {
    let info = ContigInfo::new(blocks, order);
    if info.free_pages == 0 {
        return 1000;
    }
    let usable = info.free_blocks_suitable << order;
    ((info.free_pages - usable) * 1000 / info.free_pages) as i64
}

/// Linux's fragmentation index for `order` in thousandths: -1000 when a
/// block of that order is free (the allocation would succeed), 0 when
/// nothing is free, else 1000 - (1000 + free_pages * 1000 / 2^order) /
/// free_blocks_total, with Linux's integer divisions.
pub fn fragmentation_index(blocks: &FreeBlocks, order: usize) -> i64 {
    let info = ContigInfo::new(blocks, order);
    if info.free_blocks_total == 0 {
        return 0;
    }
    if info.free_blocks_suitable > 0 {
        return -1000;
    }
    let requested = 1u64 << order;
    1000 - ((1000 + info.free_pages * 1000 / requested) / info.free_blocks_total) as i64
}

/// Thousandths as Linux's `%d.%03d` of index / 1000 and index % 1000
/// (Rust's `/` and `%` truncate as C's do: -1000 prints `-1.000`), the
/// whole part padded to `width` (`%2d` in extfrag_index).
fn write_thousandths(w: &mut dyn Write, v: i64, width: usize) -> fmt::Result {
    write!(w, "{:>width$}.{:03} ", v / 1000, (v % 1000).abs())
}

/// `/sys/kernel/debug/extfrag/unusable_index`: a line per populated zone.
pub fn write_unusable_index(w: &mut dyn Write, a: &PageAllocator) -> fmt::Result {
    write_index(w, a, unusable_index, 1)
}

/// `/sys/kernel/debug/extfrag/extfrag_index`: a line per populated zone.
pub fn write_extfrag_index(w: &mut dyn Write, a: &PageAllocator) -> fmt::Result {
    write_index(w, a, fragmentation_index, 2)
}

/// `Node N, zone NAME` and `index(order)` for every order, per populated zone.
fn write_index(
    w: &mut dyn Write,
    a: &PageAllocator,
    index: fn(&FreeBlocks, usize) -> i64,
    width: usize,
) -> fmt::Result {
    for z in a.zones().filter(|z| z.is_populated()) {
        let blocks = z.free_state().1;
        write!(w, "Node {}, zone {:>8} ", z.node, z.kind.name())?;
        for order in 0..=MAX_ORDER {
            write_thousandths(w, index(&blocks, order), width)?;
        }
        writeln!(w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;

    fn blocks(pairs: &[(usize, usize)]) -> FreeBlocks {
        let mut b = [0; MAX_ORDER + 1];
        for &(order, n) in pairs {
            b[order] = n;
        }
        b
    }

    #[test]
    fn one_big_block_is_no_fragmentation() {
        let b = blocks(&[(MAX_ORDER, 1)]);
        for order in 0..=MAX_ORDER {
            assert_eq!(unusable_index(&b, order), 0, "order {order}");
            assert_eq!(fragmentation_index(&b, order), -1000, "order {order}");
        }
    }

    #[test]
    fn nothing_free_is_all_unusable_and_a_lack_of_memory() {
        let b = blocks(&[]);
        assert_eq!(unusable_index(&b, 0), 1000);
        assert_eq!(fragmentation_index(&b, 9), 0);
    }

    #[test]
    fn scattered_single_pages_are_unusable_for_larger_orders() {
        // 512 single pages: order 0 uses all; order 1 none of them.
        let b = blocks(&[(0, 512)]);
        assert_eq!(unusable_index(&b, 0), 0);
        assert_eq!(unusable_index(&b, 1), 1000);
        // Enough memory for an order-9 block, all of it in pieces:
        // 1000 - (1000 + 512 * 1000 / 512) / 512 = 1000 - 3 = 997.
        assert_eq!(fragmentation_index(&b, 9), 997);
        // 8 pages can never make an order-9 block: 1000 - (1000 + 15) / 8 = 874.
        let few = blocks(&[(0, 8)]);
        assert_eq!(fragmentation_index(&few, 9), 874);
    }

    #[test]
    fn mixed_orders_follow_linux_integer_arithmetic() {
        // 3 pages of order 0, 2 blocks of order 2 (8 pages), one of order 4 (16).
        let b = blocks(&[(0, 3), (2, 2), (4, 1)]);
        let info = ContigInfo::new(&b, 2);
        assert_eq!(
            (
                info.free_pages,
                info.free_blocks_total,
                info.free_blocks_suitable
            ),
            (27, 6, 6)
        );
        // Order 2: 27 free, 6 * 4 = 24 usable: (27 - 24) * 1000 / 27 = 111.
        assert_eq!(unusable_index(&b, 2), 111);
        // Order 5: nothing suitable: 1000 - (1000 + 27000 / 32) / 6 = 1000 - 1843 / 6 = 693.
        assert_eq!(fragmentation_index(&b, 5), 693);
        assert_eq!(unusable_index(&b, 5), 1000);
    }

    #[test]
    fn values_print_as_linux_prints_them() {
        let mut s = String::new();
        for (v, width) in [(0, 1), (111, 1), (1000, 1), (-1000, 2), (693, 2), (0, 2)] {
            write_thousandths(&mut s, v, width).unwrap();
        }
        assert_eq!(s, "0.000 0.111 1.000 -1.000  0.693  0.000 ");
    }
}
