//! The layout and checks of a KFENCE-style sampling detector (Linux's
//! mm/kfence, Documentation/dev-tools/kfence.rst), apart from the page
//! tables and the reports (the kernel's mm/kfence.rs): a pool of 255
//! object pages, each between guard pages, 2 MiB in all; where in its page
//! an object goes; the canary pattern around it; and which object an
//! address in the pool belongs to.

/// Objects in the pool (Linux's CONFIG_KFENCE_NUM_OBJECTS default).
pub const NUM_OBJECTS: usize = 255;
pub const PAGE: usize = 4096;
/// Pages in the pool: two per object and two more in front (Linux's
/// KFENCE_POOL_SIZE): 512, 2 MiB.
pub const POOL_PAGES: usize = (NUM_OBJECTS + 1) * 2;
pub const POOL_SIZE: usize = POOL_PAGES * PAGE;

/// The page object `i` lives in (the others are guard pages): page 2, 4,
/// ..., 510.
pub const fn object_page(i: usize) -> usize {
    (i + 1) * 2
}

/// The canary byte at `addr` (Linux's KFENCE_CANARY_PATTERN_U8): it
/// changes with the address, so a shifted copy is caught too.
pub const fn canary(addr: usize) -> u8 {
    0xaa ^ (addr & 7) as u8
}

/// Where an object of `size` bytes with alignment `align` starts in the
/// page at `page`: at the page's start, or as close to its end as the
/// alignment allows (Linux picks either at random, so that overflows and
/// underflows both reach a guard page).
pub fn place(page: usize, size: usize, align: usize, right: bool) -> usize {
    if !right || size >= PAGE {
        return page;
    }
    let align = align.max(1);
    (page + PAGE - size) & !(align - 1)
}

/// What a pool address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spot {
    /// In object `i`'s page.
    Object(usize),
    /// In a guard page; the objects to its left and right, if any.
    Guard {
        left: Option<usize>,
        right: Option<usize>,
    },
}

/// The spot of `offset` bytes into the pool (None outside it).
pub fn spot(offset: usize) -> Option<Spot> {
    if offset >= POOL_SIZE {
        return None;
    }
    let page = offset / PAGE;
    if page >= 2 && page.is_multiple_of(2) {
        return Some(Spot::Object(page / 2 - 1));
    }
    // An odd page sits between the objects of pages page - 1 and page + 1;
    // page 0 has object 0 (two pages on) as its only neighbour.
    if page == 0 {
        return Some(Spot::Guard {
            left: None,
            right: Some(0),
        });
    }
    let left = (page >= 3).then(|| (page - 1) / 2 - 1);
    let right = (page < POOL_PAGES - 1).then(|| page.div_ceil(2) - 1);
    Some(Spot::Guard { left, right })
}

/// An access in a guard page, `addr`, blamed on one of its neighbours
/// (Linux's rule): the allocated one, or, if both are, the one it is
/// nearer to. `left_end` is the end of the left object, `right_start` the
/// start of the right one. True: the left.
pub fn blame_left(addr: usize, left: Option<(usize, bool)>, right: Option<(usize, bool)>) -> bool {
    match (left, right) {
        (Some((_, true)), Some((_, false))) | (Some(_), None) => true,
        (Some((_, false)), Some((_, true))) | (None, Some(_)) => false,
        (Some((left_end, _)), Some((right_start, _))) => {
            addr.saturating_sub(left_end) < right_start.saturating_sub(addr)
        }
        (None, None) => true,
    }
}

/// Eight canary bytes from an 8-aligned address on, as one word.
const CANARY_WORD: u64 = u64::from_le_bytes([
    canary(0),
    canary(1),
    canary(2),
    canary(3),
    canary(4),
    canary(5),
    canary(6),
    canary(7),
]);

/// The parts of the page at `page` (`len` bytes) around the object
/// `[addr, addr + size)`, as (offset, length) in the page.
fn around(page: usize, len: usize, addr: usize, size: usize) -> [(usize, usize); 2] {
    let lo = addr.saturating_sub(page).min(len);
    let hi = (addr + size).saturating_sub(page).clamp(lo, len);
    [(0, lo), (hi, len - hi)]
}

/// Writes the canary over `bytes`, whose first byte is at `at`: bytes up
/// to an 8-aligned address, then whole words (the pattern repeats every
/// 8 bytes), then the tail.
fn fill(bytes: &mut [u8], at: usize) {
    let head = ((8 - at % 8) % 8).min(bytes.len());
    let body_end = head + (bytes.len() - head) / 8 * 8;
    for (i, b) in bytes[..head].iter_mut().enumerate() {
        *b = canary(at + i);
    }
    for w in bytes[head..body_end].chunks_exact_mut(8) {
        w.copy_from_slice(&CANARY_WORD.to_le_bytes());
    }
    for (i, b) in bytes[body_end..].iter_mut().enumerate() {
        *b = canary(at + body_end + i);
    }
}

/// Fills the page at `page_bytes` (whose first byte is at address
/// `page`) with the canary, except the object `[addr, addr + size)`.
pub fn fill_canary(page_bytes: &mut [u8], page: usize, addr: usize, size: usize) {
    for (off, len) in around(page, page_bytes.len(), addr, size) {
        fill(&mut page_bytes[off..off + len], page + off);
    }
}

/// The first byte around the object that is not the canary, if any
/// (Linux checks on free: a write past the object that stayed inside its
/// page hit no guard page). Whole words are compared first; a word that
/// differs is searched byte by byte.
pub fn first_corrupt(page_bytes: &[u8], page: usize, addr: usize, size: usize) -> Option<usize> {
    around(page, page_bytes.len(), addr, size)
        .into_iter()
        .find_map(|(off, len)| {
            let bytes = &page_bytes[off..off + len];
            let at = page + off;
            let bad_byte = |from: usize, to: usize| {
                (from..to)
                    .find(|&i| bytes[i] != canary(at + i))
                    .map(|i| at + i)
            };
            let head = ((8 - at % 8) % 8).min(len);
            if let Some(a) = bad_byte(0, head) {
                return Some(a);
            }
            let mut i = head;
            while i + 8 <= len {
                let w = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
                if w != CANARY_WORD {
                    return bad_byte(i, i + 8);
                }
                i += 8;
            }
            bad_byte(i, len)
        })
}

/// The bytes from `from` on, up to 16 and not into the object, as Linux
/// prints a corruption: `0x%02x` for a changed byte, `.` for an intact
/// one.
pub fn write_corruption(
    w: &mut dyn core::fmt::Write,
    page_bytes: &[u8],
    page: usize,
    from: usize,
    addr: usize,
) -> core::fmt::Result {
    w.write_str("[")?;
    let end = if from < addr { addr } else { page + PAGE };
    for a in from..end.min(from + 16) {
        let b = page_bytes[a - page];
        if b == canary(a) {
            w.write_str(" .")?;
        } else {
            write!(w, " 0x{b:02x}")?;
        }
    }
    w.write_str(" ]")
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::vec;

    proptest::proptest! {
        /// The word-wise canary fill and check agree with the byte-wise
        /// definition for any object placement and any corrupted byte.
        #[test]
        fn canary_by_words_matches_canary_by_bytes(
            page_off in 0usize..64,
            start in 0usize..4096,
            size in 0usize..4096,
            corrupt in proptest::option::of(0usize..4096),
        ) {
            let page = 0x10_0000 + page_off;
            let len = 4096;
            let addr = page + start.min(len);
            let size = size.min(len - start.min(len));
            let mut bytes = std::vec![0x11u8; len];
            fill_canary(&mut bytes, page, addr, size);
            for (i, &b) in bytes.iter().enumerate() {
                let a = page + i;
                let want = if a < addr || a >= addr + size { canary(a) } else { 0x11 };
                proptest::prop_assert_eq!(b, want, "byte {}", i);
            }
            let reference = |bytes: &[u8]| {
                bytes.iter().enumerate().find_map(|(i, &b)| {
                    let a = page + i;
                    ((a < addr || a >= addr + size) && b != canary(a)).then_some(a)
                })
            };
            if let Some(c) = corrupt {
                bytes[c] ^= 0x40;
            }
            proptest::prop_assert_eq!(first_corrupt(&bytes, page, addr, size), reference(&bytes));
        }
    }

    #[test]
    fn the_pool_is_2_mib_with_every_object_between_guard_pages() {
        assert_eq!(POOL_SIZE, 2 << 20);
        assert_eq!(object_page(0), 2);
        assert_eq!(object_page(NUM_OBJECTS - 1), POOL_PAGES - 2);
        for i in 0..NUM_OBJECTS {
            let p = object_page(i) * PAGE;
            assert_eq!(spot(p), Some(Spot::Object(i)));
            assert_eq!(spot(p + PAGE - 1), Some(Spot::Object(i)));
            // The guard pages on either side name it.
            match spot(p - 1) {
                Some(Spot::Guard { right, .. }) => assert_eq!(right, Some(i)),
                s => panic!("{s:?}"),
            }
            match spot(p + PAGE) {
                Some(Spot::Guard { left, .. }) => assert_eq!(left, Some(i)),
                s => panic!("{s:?}"),
            }
        }
        assert_eq!(
            spot(0),
            Some(Spot::Guard {
                left: None,
                right: Some(0)
            })
        );
        assert_eq!(spot(POOL_SIZE), None);
        assert_eq!(
            spot(POOL_SIZE - 1),
            Some(Spot::Guard {
                left: Some(NUM_OBJECTS - 1),
                right: None
            })
        );
    }

    #[test]
    fn objects_go_to_either_edge_respecting_alignment() {
        let page = 0x10_0000;
        assert_eq!(place(page, 32, 8, false), page);
        assert_eq!(place(page, 32, 8, true), page + PAGE - 32);
        // 13 bytes aligned to 8: the end falls 3 bytes short of the page.
        assert_eq!(place(page, 13, 8, true), page + PAGE - 16);
        assert_eq!(place(page, 64, 64, true), page + PAGE - 64);
        assert_eq!(place(page, PAGE, 8, true), page);
    }

    #[test]
    fn the_canary_catches_a_write_next_to_the_object_and_prints_it() {
        let page = 0x20_0000;
        let mut bytes = vec![0u8; PAGE];
        let (addr, size) = (page + PAGE - 24, 13);
        fill_canary(&mut bytes, page, addr, size);
        assert_eq!(first_corrupt(&bytes, page, addr, size), None);
        // One byte past the object, inside the page.
        bytes[addr + size - page] = 0;
        assert_eq!(first_corrupt(&bytes, page, addr, size), Some(addr + size));
        let mut out = String::new();
        write_corruption(&mut out, &bytes, page, addr + size, addr).unwrap();
        assert_eq!(out, "[ 0x00 . . . . . . . . . . ]");
        // The object's own bytes are never checked.
        bytes[addr + size - page] = canary(addr + size);
        bytes[addr - page + 3] = 0x42;
        assert_eq!(first_corrupt(&bytes, page, addr, size), None);
        assert_ne!(canary(8), canary(9));
    }

    #[test]
    fn a_guard_access_is_blamed_on_the_allocated_or_nearer_neighbour() {
        assert!(blame_left(100, Some((90, true)), Some((200, false))));
        assert!(!blame_left(100, Some((90, false)), Some((200, true))));
        assert!(blame_left(100, Some((90, true)), Some((200, true))));
        assert!(!blame_left(190, Some((90, true)), Some((200, true))));
        assert!(!blame_left(5, None, Some((200, true))));
    }
}
