//! What the memory self-tests share: the per-zone free counts a leak
//! check compares, `Held`, a set of blocks a test keeps without touching
//! them, and `CacheGuard`, which destroys a test's page cache however the
//! test ends, and `needs_free_memory`, which skips a case a small VM
//! cannot hold. (Self-test code, at the top layer.)

use super::page_alloc::{allocator, free_pages_with_lists, zone_free_with_lists};
use super::{__free_pages, alloc_pages, alloc_pages_node, page_address, Gfp, Page};
use crate::kprintln;
use layout::PAGE_SIZE;
use mm::buddy::MAX_ORDER;
use mm::zone::NR_ZONES;
use numa::MAX_NUMNODES;

pub type FreeCounts = [[u64; NR_ZONES]; MAX_NUMNODES];

/// Every zone's free pages, those on the CPUs' lists included, counted
/// while no compaction holds isolated free pages (kcompactd may run at
/// any time).
pub fn free_counts() -> FreeCounts {
    let mut c = [[0; NR_ZONES]; MAX_NUMNODES];
    super::compaction::quiesced(|| {
        for z in allocator().zones() {
            c[z.node][z.kind.index()] = zone_free_with_lists(z);
        }
    });
    c
}

/// Free pages everywhere, those on the CPUs' lists included, counted as
/// [`free_counts`] counts them.
pub fn free_pages_now() -> u64 {
    super::compaction::quiesced(free_pages_with_lists)
}

/// Blocks a test holds, listed in index pages taken up front, so that
/// holding all of memory touches none of it: the first write to a page
/// costs milliseconds here (the host backs guest RAM lazily), so a test
/// that wrote into each block it holds would spend seconds. Dropping frees
/// every block, then the index pages. The index grows when it fills by
/// adopting the block being pushed as its next page (only that block's
/// first page is written), so a fragmented node with more blocks than
/// the estimate is still drained.
pub struct Held {
    /// Index blocks and their orders; the first page of each is a run of
    /// `ENTRIES` (pfn << 8 | order) words.
    index: [Option<(Page, u32)>; MAX_INDEX_PAGES],
    count: usize,
    capacity: usize,
}

const ENTRIES: usize = PAGE_SIZE as usize / 8;
const MAX_INDEX_PAGES: usize = 256;

impl Held {
    /// Room for as many blocks as there are 4 MiB of free memory, plus a
    /// few thousand smaller ones, plus one per 64 pages of the reserves
    /// below the watermarks (drained largest block first, so a few per
    /// order suffice; a large min_free_kbytes makes them large).
    pub fn new() -> Self {
        let free = allocator().free_pages() as usize;
        let reserves: u64 = allocator().zones().map(|z| z.watermarks().high).sum();
        let wanted = (free >> MAX_ORDER) + 4 * ENTRIES + (reserves as usize >> 6);
        let mut held = Held {
            index: [None; MAX_INDEX_PAGES],
            count: 0,
            capacity: 0,
        };
        // Index pages are used in slot order, so stop at the first failure.
        for slot in held.index.iter_mut().take(wanted.div_ceil(ENTRIES)) {
            let Some(page) = alloc_pages(Gfp::KERNEL, 0) else {
                break;
            };
            *slot = Some((page, 0));
            held.capacity += ENTRIES;
        }
        held
    }

    fn entry(&self, i: usize) -> *mut u64 {
        let (page, _) = self.index[i / ENTRIES].expect("within capacity");
        // SAFETY: index pages are this test's own until dropped.
        unsafe { (page_address(page) as *mut u64).add(i % ENTRIES) }
    }

    /// Keeps a block: listed, or adopted as the index's next page when the
    /// index is full; one that finds the index at its limit is given back
    /// at once.
    pub fn push(&mut self, page: Page, order: u32) -> bool {
        if self.count == self.capacity {
            let Some(slot) = self.index.iter_mut().find(|s| s.is_none()) else {
                __free_pages(page, order);
                return false;
            };
            *slot = Some((page, order));
            self.capacity += ENTRIES;
            return true;
        }
        // SAFETY: `entry` points into an index page this test holds.
        unsafe { self.entry(self.count).write(page.pfn() << 8 | order as u64) };
        self.count += 1;
        true
    }

    fn pop(&mut self) -> Option<(Page, u32)> {
        self.count = self.count.checked_sub(1)?;
        // SAFETY: written by `push`.
        let e = unsafe { self.entry(self.count).read() };
        Some((Page::from_pfn(e >> 8), (e & 0xff) as u32))
    }

    /// Allocates with `gfp` until it fails (or the index is full); returns
    /// how many it got.
    pub fn take_all(&mut self, nid: i32, gfp: Gfp, order: u32) -> usize {
        let before = self.count;
        while let Some(p) = alloc_pages_node(nid, gfp | Gfp::NOWARN, order) {
            if !self.push(p, order) {
                break;
            }
        }
        self.count - before
    }

    /// Takes every block `gfp` still gets on `nid`, largest first.
    pub fn take_everything(&mut self, nid: i32, gfp: Gfp) {
        for order in (0..=MAX_ORDER as u32).rev() {
            self.take_all(nid, gfp, order);
        }
    }

    /// Pages in the blocks held.
    pub fn pages(&self) -> u64 {
        (0..self.count)
            // SAFETY: entries below `count` were written by `push`.
            .map(|i| 1u64 << (unsafe { self.entry(i).read() } & 0xff))
            .sum()
    }

    /// Whether the index reached its limit (a block was given back).
    pub fn full(&self) -> bool {
        self.count == self.capacity && self.index.iter().all(|s| s.is_some())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        while let Some((page, order)) = self.pop() {
            __free_pages(page, order);
        }
        for &(page, order) in self.index.iter().flatten() {
            __free_pages(page, order);
        }
    }
}

/// Destroys a test's cache however the test ends.
pub struct CacheGuard(pub &'static super::pagecache::PageCache);

impl Drop for CacheGuard {
    fn drop(&mut self) {
        self.0.destroy();
    }
}

/// Skips a case that needs `bytes` of free memory (and `order`-sized free
/// blocks, for contiguous needs) when this VM has less: a small VM is a
/// machine users launch, not a failure. Prints the numbers it compared.
pub fn needs_free_memory(bytes: u64, order: usize) -> crate::selftest::Outcome {
    let a = allocator();
    let free = free_pages_with_lists() * PAGE_SIZE;
    let blocks: usize = a
        .zones()
        .map(|z| z.free_state().1[order..].iter().sum::<usize>())
        .sum();
    if free >= bytes && blocks > 0 {
        return Ok(());
    }
    kprintln!(
        "    # needs {} KiB free with a free block of order {order}; this VM has {} KiB free and {blocks} such blocks",
        bytes >> 10,
        free >> 10
    );
    Err(crate::selftest::Failure::Skipped(
        "not enough free memory in this VM",
    ))
}
