//! A binary buddy allocator over one zone's page frames.
//!
//! Free blocks of 2^order pages (order 0 to [`MAX_ORDER`]) sit on one free
//! list per order. Allocation takes the smallest block that fits and splits
//! it, handing the upper halves back to the lower orders; freeing merges a
//! block with its buddy (the block whose frame number differs only in bit
//! `order`) for as long as the buddy is free and of the same order.
//!
//! The lists are intrusive: they run through the per-page descriptors
//! ([`PageMeta`], 12 bytes a page, 0.29 % of RAM) that the caller provides,
//! so the allocator needs no memory of its own. Buddies are found from the
//! absolute frame number, so a zone that starts unaligned simply has smaller
//! blocks at its edges.
//!
//! Only block heads carry state, so allocating or freeing a block writes a
//! few descriptors whatever its size (as Linux marks only its heads
//! PageBuddy). A descriptor that is not a head reads Reserved or Tail; which
//! of the two it really is comes from the list of ranges given to the
//! allocator. All-zero bytes are a valid [`PageMeta::RESERVED`], so the
//! storage can be cleared in one sweep.
//!
//! Every free is checked before it changes anything: a frame outside the
//! zone, a frame that is not the head of an allocated block (double free,
//! reserved page, page inside a block), or an order that differs from the
//! allocation's is refused with a [`FreeError`] and the allocator is left as
//! it was.

/// Highest order: 2^10 pages = 4 MiB blocks with 4 KiB pages (Linux's
/// default MAX_ORDER on x86_64).
pub const MAX_ORDER: usize = 10;
/// Linux's PAGE_ALLOC_COSTLY_ORDER: above it, allocations give up early
/// (both beside each other, as in Linux's mmzone.h).
pub const COSTLY_ORDER: usize = 3;
/// Most separate ranges one zone can be given (holes split a zone's RAM;
/// a QEMU zone has at most a few).
pub const MAX_MANAGED_RANGES: usize = 32;

/// List links hold index + 1, so that 0 means "none" and a zeroed
/// descriptor is a reserved one.
const LINK_NONE: u32 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageState {
    /// Never given to the allocator (firmware, kernel image, holes), or a
    /// page inside a block that has not been a head since boot.
    Reserved = 0,
    /// Head of a free block on a free list.
    FreeHead = 1,
    /// Head of an allocated block.
    AllocatedHead = 2,
    /// Inside a block: it was a head once and was merged into its buddy.
    Tail = 3,
}

/// The allocator's part of a page descriptor.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct PageMeta {
    next: u32,
    prev: u32,
    state: PageState,
    order: u8,
}

impl PageMeta {
    /// A reserved page; its bytes are all zero.
    pub const RESERVED: PageMeta = PageMeta {
        next: LINK_NONE,
        prev: LINK_NONE,
        state: PageState::Reserved,
        order: 0,
    };

    const TAIL: PageMeta = PageMeta {
        state: PageState::Tail,
        ..Self::RESERVED
    };

    pub fn state(&self) -> PageState {
        self.state
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    OutOfZone {
        pfn: u64,
    },
    BadOrder {
        order: usize,
    },
    /// The page is already free (a double free).
    AlreadyFree {
        pfn: u64,
    },
    /// The page was never given to the allocator.
    Reserved {
        pfn: u64,
    },
    /// The page lies inside a block, not at its head.
    NotBlockHead {
        pfn: u64,
    },
    /// The block was allocated with another order.
    WrongOrder {
        pfn: u64,
        allocated: usize,
        freed: usize,
    },
}

impl core::fmt::Display for FreeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            FreeError::OutOfZone { pfn } => write!(f, "pfn {pfn:#x} is not in this zone"),
            FreeError::BadOrder { order } => {
                write!(f, "order {order} is above MAX_ORDER {MAX_ORDER}")
            }
            FreeError::AlreadyFree { pfn } => write!(f, "double free of pfn {pfn:#x}"),
            FreeError::Reserved { pfn } => write!(f, "pfn {pfn:#x} is reserved, never allocated"),
            FreeError::NotBlockHead { pfn } => {
                write!(f, "pfn {pfn:#x} is inside a block, not its head")
            }
            FreeError::WrongOrder {
                pfn,
                allocated,
                freed,
            } => write!(
                f,
                "pfn {pfn:#x} was allocated with order {allocated} but freed with order {freed}"
            ),
        }
    }
}

/// One zone's buddy allocator over `meta.len()` frames from `base_pfn`.
pub struct Buddy<'a> {
    base_pfn: u64,
    meta: &'a mut [PageMeta],
    heads: [u32; MAX_ORDER + 1],
    /// Bit k set when order k's free list is not empty: the smallest
    /// block that fits is found with one bit scan, not a walk of orders.
    nonempty: u16,
    counts: [usize; MAX_ORDER + 1],
    free_pages: usize,
    /// The frame ranges given to the allocator, ascending and disjoint.
    managed: [(u64, u64); MAX_MANAGED_RANGES],
    nmanaged: usize,
}

impl<'a> Buddy<'a> {
    /// An allocator whose pages are all reserved until [`Buddy::add_free_range`].
    /// `meta` must come filled with [`PageMeta::RESERVED`] (zero bytes):
    /// whoever provides the storage clears it once.
    pub fn new(base_pfn: u64, meta: &'a mut [PageMeta]) -> Self {
        debug_assert!(meta.iter().all(|m| m.state == PageState::Reserved));
        Buddy {
            base_pfn,
            meta,
            heads: [LINK_NONE; MAX_ORDER + 1],
            nonempty: 0,
            counts: [0; MAX_ORDER + 1],
            free_pages: 0,
            managed: [(0, 0); MAX_MANAGED_RANGES],
            nmanaged: 0,
        }
    }

    pub fn free_pages(&self) -> usize {
        self.free_pages
    }

    /// Whether a free block of `order` or larger exists.
    #[inline]
    pub fn has_block(&self, order: usize) -> bool {
        (self.nonempty >> order.min(MAX_ORDER + 1)) != 0
    }

    /// Free blocks per order, as /proc/buddyinfo counts them.
    pub fn free_blocks(&self) -> [usize; MAX_ORDER + 1] {
        self.counts
    }

    pub fn span(&self) -> (u64, u64) {
        (self.base_pfn, self.base_pfn + self.meta.len() as u64)
    }

    /// Where the descriptors live (to show they are node-local).
    pub fn descriptors_addr(&self) -> usize {
        self.meta.as_ptr() as usize
    }

    /// Was `pfn` ever given to the allocator?
    pub fn is_managed(&self, pfn: u64) -> bool {
        let ranges = &self.managed[..self.nmanaged];
        let i = ranges.partition_point(|r| r.0 <= pfn);
        i > 0 && pfn < ranges[i - 1].1
    }

    fn index(&self, pfn: u64) -> Option<usize> {
        let i = pfn.checked_sub(self.base_pfn)?;
        (i < self.meta.len() as u64).then_some(i as usize)
    }

    #[inline]
    fn push(&mut self, i: usize, order: usize) {
        let head = self.heads[order];
        self.nonempty |= 1 << order;
        self.meta[i] = PageMeta {
            next: head,
            prev: LINK_NONE,
            state: PageState::FreeHead,
            order: order as u8,
        };
        if head != LINK_NONE {
            self.meta[head as usize - 1].prev = i as u32 + 1;
        }
        self.heads[order] = i as u32 + 1;
        self.counts[order] += 1;
        self.free_pages += 1 << order;
    }

    #[inline]
    fn unlink(&mut self, i: usize) {
        let m = self.meta[i];
        let order = m.order as usize;
        if m.prev == LINK_NONE {
            self.heads[order] = m.next;
            if m.next == LINK_NONE {
                self.nonempty &= !(1 << order);
            }
        } else {
            self.meta[m.prev as usize - 1].next = m.next;
        }
        if m.next != LINK_NONE {
            self.meta[m.next as usize - 1].prev = m.prev;
        }
        self.counts[order] -= 1;
        self.free_pages -= 1 << order;
    }

    /// Records `[start, end)` as managed, merging with its neighbours.
    /// False when the table is full.
    fn record_managed(&mut self, start: u64, end: u64) -> bool {
        let n = self.nmanaged;
        let at = self.managed[..n].partition_point(|r| r.0 < start);
        let joins_prev = at > 0 && self.managed[at - 1].1 == start;
        let joins_next = at < n && self.managed[at].0 == end;
        match (joins_prev, joins_next) {
            (true, true) => {
                self.managed[at - 1].1 = self.managed[at].1;
                self.managed.copy_within(at + 1..n, at);
                self.nmanaged -= 1;
            }
            (true, false) => self.managed[at - 1].1 = end,
            (false, true) => self.managed[at].0 = start,
            (false, false) => {
                if n == MAX_MANAGED_RANGES {
                    return false;
                }
                self.managed.copy_within(at..n, at + 1);
                self.managed[at] = (start, end);
                self.nmanaged += 1;
            }
        }
        true
    }

    /// Gives the frames `[start, end)` (clipped to the zone) to the
    /// allocator, in the largest aligned blocks that fit. Frames given
    /// before are skipped, so nothing is ever on the lists twice. Returns how
    /// many pages were added (fewer when more than [`MAX_MANAGED_RANGES`]
    /// separate ranges would be needed).
    pub fn add_free_range(&mut self, start: u64, end: u64) -> usize {
        let (zs, ze) = self.span();
        let (mut from, end) = (start.max(zs), end.min(ze));
        let before = self.free_pages;
        while from < end {
            // The next piece not yet managed.
            let ranges = &self.managed[..self.nmanaged];
            let i = ranges.partition_point(|r| r.1 <= from);
            let (piece_start, piece_end) = match ranges.get(i) {
                Some(&(s, e)) if s <= from => {
                    from = e;
                    continue;
                }
                Some(&(s, _)) => (from, s.min(end)),
                None => (from, end),
            };
            if !self.record_managed(piece_start, piece_end) {
                break;
            }
            self.add_blocks(piece_start, piece_end);
            from = piece_end;
        }
        self.free_pages - before
    }

    fn add_blocks(&mut self, start: u64, end: u64) {
        let mut pfn = start;
        while pfn < end {
            let mut order = MAX_ORDER;
            while order > 0 && (!pfn.is_multiple_of(1 << order) || pfn + (1 << order) > end) {
                order -= 1;
            }
            let i = self.index(pfn).expect("clipped to the zone");
            self.meta[i].state = PageState::AllocatedHead;
            self.meta[i].order = order as u8;
            self.free(pfn, order)
                .expect("a block just made allocated frees cleanly");
            pfn += 1 << order;
        }
    }

    /// Allocates 2^order contiguous frames; returns the first frame number.
    pub fn alloc(&mut self, order: usize) -> Option<u64> {
        if order > MAX_ORDER {
            return None;
        }
        let fits = self.nonempty >> order;
        if fits == 0 {
            return None;
        }
        let found = order + fits.trailing_zeros() as usize;
        let i = self.heads[found] as usize - 1;
        self.unlink(i);
        // Split: the upper half of each larger block goes back one order down.
        for o in (order..found).rev() {
            self.push(i + (1 << o), o);
        }
        self.meta[i] = PageMeta {
            next: LINK_NONE,
            prev: LINK_NONE,
            state: PageState::AllocatedHead,
            order: order as u8,
        };
        Some(self.base_pfn + i as u64)
    }

    /// Up to `count` blocks of `order`, each handed to `out`; returns how
    /// many. Takes the same free blocks as `count` calls of
    /// [`alloc`](Self::alloc) would (the smallest that fits first), but a
    /// free block the request covers whole is split in one pass rather
    /// than half by half, block after block: a per-CPU list's refill.
    pub fn alloc_bulk(&mut self, order: usize, count: usize, mut out: impl FnMut(u64)) -> usize {
        if order > MAX_ORDER {
            return 0;
        }
        let mut given = 0;
        while given < count {
            let fits = self.nonempty >> order;
            if fits == 0 {
                break;
            }
            let found = order + fits.trailing_zeros() as usize;
            let i = self.heads[found] as usize - 1;
            self.unlink(i);
            // Keep the lowest 2^kept pages, as many blocks of `order` as
            // are still wanted (rounded down to a power of two); the upper
            // halves above that go back, one order down each.
            let wanted = count - given;
            let kept = (order + wanted.ilog2() as usize).min(found);
            for o in (kept..found).rev() {
                self.push(i + (1 << o), o);
            }
            for k in 0..1usize << (kept - order) {
                let j = i + (k << order);
                self.meta[j] = PageMeta {
                    next: LINK_NONE,
                    prev: LINK_NONE,
                    state: PageState::AllocatedHead,
                    order: order as u8,
                };
                out(self.base_pfn + j as u64);
            }
            given += 1 << (kept - order);
        }
        given
    }

    /// Checks that `pfn` heads a block allocated with `order`.
    pub fn check_free(&self, pfn: u64, order: usize) -> Result<usize, FreeError> {
        if order > MAX_ORDER {
            return Err(FreeError::BadOrder { order });
        }
        let i = self.index(pfn).ok_or(FreeError::OutOfZone { pfn })?;
        let m = self.meta[i];
        match m.state {
            PageState::FreeHead => Err(FreeError::AlreadyFree { pfn }),
            PageState::Reserved if !self.is_managed(pfn) => Err(FreeError::Reserved { pfn }),
            PageState::Reserved | PageState::Tail => Err(FreeError::NotBlockHead { pfn }),
            PageState::AllocatedHead if m.order as usize != order => Err(FreeError::WrongOrder {
                pfn,
                allocated: m.order as usize,
                freed: order,
            }),
            PageState::AllocatedHead => Ok(i),
        }
    }

    /// Frees a block, merging it with free buddies. A bad free changes nothing.
    pub fn free(&mut self, pfn: u64, order: usize) -> Result<(), FreeError> {
        let mut i = self.check_free(pfn, order)?;
        let mut order = order;
        let mut pfn = pfn;
        while order < MAX_ORDER {
            let buddy_pfn = pfn ^ (1 << order);
            let Some(b) = self.index(buddy_pfn) else {
                break;
            };
            let bm = self.meta[b];
            if bm.state != PageState::FreeHead || bm.order as usize != order {
                break;
            }
            self.unlink(b);
            // The higher of the two stops being a head.
            if buddy_pfn < pfn {
                self.meta[i] = PageMeta::TAIL;
                i = b;
                pfn = buddy_pfn;
            } else {
                self.meta[b] = PageMeta::TAIL;
            }
            order += 1;
        }
        self.push(i, order);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn reserved_descriptor_is_all_zero() {
        let r = PageMeta::RESERVED;
        assert_eq!((r.next, r.prev, r.state as u8, r.order), (0, 0, 0, 0));
        assert_eq!(core::mem::size_of::<PageMeta>(), 12);
    }

    #[test]
    fn ranges_given_twice_are_managed_once() {
        let mut meta = vec![PageMeta::RESERVED; 1024];
        let mut b = Buddy::new(0, &mut meta);
        assert_eq!(b.add_free_range(100, 200), 100);
        assert_eq!(b.add_free_range(150, 300), 100);
        assert_eq!(b.add_free_range(0, 1024), 1024 - 200);
        assert_eq!(b.add_free_range(0, 1024), 0);
        assert_eq!(b.free_pages(), 1024);
        assert_eq!(b.free_blocks()[MAX_ORDER], 1, "all merged into one block");
    }

    #[test]
    fn a_page_inside_a_block_is_not_mistaken_for_a_reserved_one() {
        let mut meta = vec![PageMeta::RESERVED; 1024];
        let mut b = Buddy::new(0, &mut meta);
        b.add_free_range(0, 512);
        let p = b.alloc(9).unwrap();
        assert_eq!(
            b.free(p + 7, 0),
            Err(FreeError::NotBlockHead { pfn: p + 7 })
        );
        assert_eq!(b.free(600, 0), Err(FreeError::Reserved { pfn: 600 }));
    }

    #[test]
    fn aligned_zone_starts_as_max_order_blocks() {
        let mut meta = vec![PageMeta::RESERVED; 4096];
        let mut b = Buddy::new(0, &mut meta);
        assert_eq!(b.add_free_range(0, 4096), 4096);
        assert_eq!(b.free_blocks()[MAX_ORDER], 4);
        assert_eq!(b.free_pages(), 4096);
    }

    #[test]
    fn split_then_free_merges_back_to_the_original_blocks() {
        let mut meta = vec![PageMeta::RESERVED; 1024];
        let mut b = Buddy::new(1024, &mut meta);
        b.add_free_range(1024, 2048);
        let p = b.alloc(0).unwrap();
        assert_eq!(p, 1024);
        assert_eq!(b.free_blocks(), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        b.free(p, 0).unwrap();
        assert_eq!(b.free_blocks()[MAX_ORDER], 1);
        assert_eq!(b.free_pages(), 1024);
    }

    #[test]
    fn bad_frees_are_refused_and_change_nothing() {
        let mut meta = vec![PageMeta::RESERVED; 64];
        let mut b = Buddy::new(0, &mut meta);
        b.add_free_range(8, 64);
        let p = b.alloc(2).unwrap();
        let before = (b.free_blocks(), b.free_pages());
        assert_eq!(
            b.free(p, 1),
            Err(FreeError::WrongOrder {
                pfn: p,
                allocated: 2,
                freed: 1
            })
        );
        assert_eq!(
            b.free(p + 1, 0),
            Err(FreeError::NotBlockHead { pfn: p + 1 })
        );
        assert_eq!(b.free(0, 0), Err(FreeError::Reserved { pfn: 0 }));
        assert_eq!(b.free(64, 0), Err(FreeError::OutOfZone { pfn: 64 }));
        assert_eq!(b.free(p, 11), Err(FreeError::BadOrder { order: 11 }));
        assert_eq!((b.free_blocks(), b.free_pages()), before);
        b.free(p, 2).unwrap();
        assert_eq!(b.free(p, 2), Err(FreeError::AlreadyFree { pfn: p }));
        assert_eq!(b.free_pages(), 56);
    }

    #[test]
    fn unaligned_zone_edges_use_small_blocks_and_exhaust_exactly() {
        let mut meta = vec![PageMeta::RESERVED; 3000];
        let mut b = Buddy::new(77, &mut meta);
        assert_eq!(b.add_free_range(77, 3077), 3000);
        let mut got = Vec::new();
        while let Some(p) = b.alloc(0) {
            got.push(p);
        }
        assert_eq!(got.len(), 3000);
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 3000);
        assert_eq!(b.alloc(0), None);
    }

    /// One step of a random sequence: allocate a block of an order, or
    /// free the live block at an index (taken modulo the live count).
    #[derive(Clone, Debug)]
    enum Op {
        Alloc(usize),
        Free(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![2 => (0usize..6).prop_map(Op::Alloc), 1 => any::<usize>().prop_map(Op::Free)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// Random alloc/free sequences on a range with a reserved hole: no
        /// two live blocks overlap, blocks are naturally aligned, free
        /// counts and the non-empty bitmap are exact, and freeing
        /// everything restores the original block layout. A failure
        /// shrinks to the shortest sequence that shows it.
        #[test]
        fn random_sequences_keep_every_invariant(
            n in 2048usize..3072,
            base in 0u64..4096,
            ops in prop::collection::vec(op(), 1..1500),
        ) {
            let mut meta = vec![PageMeta::RESERVED; n];
            let mut b = Buddy::new(base, &mut meta);
            b.add_free_range(base, base + 500);
            b.add_free_range(base + 600, base + n as u64);
            let initial = (b.free_blocks(), b.free_pages());
            let total = b.free_pages();
            let mut live: Vec<(u64, usize)> = Vec::new();
            let mut owned = vec![false; n];
            for op in ops {
                match op {
                    Op::Alloc(order) => {
                        if let Some(p) = b.alloc(order) {
                            prop_assert_eq!(p % (1 << order), 0, "aligned");
                            for q in p..p + (1 << order) {
                                let i = (q - base) as usize;
                                prop_assert!(!owned[i], "overlap at {}", q);
                                prop_assert!(!(500..600).contains(&i), "reserved hole handed out");
                                owned[i] = true;
                            }
                            live.push((p, order));
                        }
                    }
                    Op::Free(_) if live.is_empty() => {}
                    Op::Free(k) => {
                        let (p, order) = live.swap_remove(k % live.len());
                        for q in p..p + (1 << order) {
                            owned[(q - base) as usize] = false;
                        }
                        prop_assert!(b.free(p, order).is_ok());
                    }
                }
                let used: usize = live.iter().map(|&(_, o)| 1usize << o).sum();
                prop_assert_eq!(b.free_pages() + used, total);
                let by_blocks: usize = b
                    .free_blocks()
                    .iter()
                    .enumerate()
                    .map(|(o, c)| c << o)
                    .sum();
                prop_assert_eq!(by_blocks, b.free_pages());
                for (o, &c) in b.free_blocks().iter().enumerate() {
                    prop_assert_eq!(b.nonempty & (1 << o) != 0, c > 0, "order {}'s bit", o);
                }
            }
            for (p, order) in live.drain(..) {
                prop_assert!(b.free(p, order).is_ok());
            }
            prop_assert_eq!((b.free_blocks(), b.free_pages()), initial);
        }

        /// After any history, a bulk allocation hands out exactly the
        /// blocks, in the same order, that one-by-one allocations would,
        /// and leaves the same free blocks and state behind.
        #[test]
        fn bulk_allocation_equals_one_by_one(
            ops in prop::collection::vec(op(), 0..600),
            order in 0usize..4,
            count in 1usize..700,
        ) {
            let n = 2048;
            let (mut m1, mut m2) = (vec![PageMeta::RESERVED; n], vec![PageMeta::RESERVED; n]);
            let (mut b1, mut b2) = (Buddy::new(0, &mut m1), Buddy::new(0, &mut m2));
            for b in [&mut b1, &mut b2] {
                b.add_free_range(3, 700);
                b.add_free_range(900, n as u64);
            }
            let mut live = Vec::new();
            for op in ops {
                match op {
                    Op::Alloc(o) => {
                        let p = b1.alloc(o);
                        prop_assert_eq!(p, b2.alloc(o));
                        live.extend(p.map(|p| (p, o)));
                    }
                    Op::Free(_) if live.is_empty() => {}
                    Op::Free(k) => {
                        let (p, o) = live.swap_remove(k % live.len());
                        prop_assert!(b1.free(p, o).is_ok() && b2.free(p, o).is_ok());
                    }
                }
            }
            let mut bulk = Vec::new();
            let got = b1.alloc_bulk(order, count, |p| bulk.push(p));
            prop_assert_eq!(got, bulk.len());
            let one_by_one: Vec<u64> = (0..count).map_while(|_| b2.alloc(order)).collect();
            prop_assert_eq!(bulk, one_by_one);
            prop_assert_eq!((b1.free_blocks(), b1.free_pages()), (b2.free_blocks(), b2.free_pages()));
            prop_assert_eq!(b1.heads, b2.heads);
            for i in 0..n {
                let (a, b) = (b1.meta[i], b2.meta[i]);
                prop_assert_eq!((a.state, a.order, a.next, a.prev), (b.state, b.order, b.next, b.prev), "pfn {}", i);
            }
        }
    }
}
