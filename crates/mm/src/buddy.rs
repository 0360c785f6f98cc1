//! A binary buddy allocator over one zone's page frames, with Linux's
//! grouping of pages by mobility.
//!
//! Free blocks of 2^order pages (order 0 to [`MAX_ORDER`]) sit on one free
//! list per order and migratetype. Allocation takes the smallest block of
//! its type that fits and splits it, handing the upper halves back to the
//! lower orders; freeing merges a block with its buddy (the block whose
//! frame number differs only in bit `order`) for as long as the buddy is
//! free and of the same order.
//!
//! Mobility: the zone is cut into pageblocks of [`PAGEBLOCK_ORDER`] (512
//! pages), each with a [`MigrateType`]; a freed block goes to its
//! pageblock's lists. An allocation whose type has nothing free falls back
//! to another type as Linux's __rmqueue_fallback does (the largest block
//! first, Linux's fallback order) and, when it may, claims the whole
//! pageblock: unmovable allocations then stay packed in a few pageblocks
//! instead of pinning every 2 MiB of the zone. High-order atomic
//! allocations grow a HighAtomic reserve (at most 1% of the zone), given
//! back under pressure.
//!
//! The lists are intrusive: they run through the per-page descriptors
//! ([`PageMeta`], 12 bytes a page, 0.29 % of RAM; the pageblock types
//! and list types fill what was its padding) that the caller provides,
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

/// Page mobility (Linux's migratetypes): what a pageblock serves, and
/// which free list a free block is on. Allocations of one kind are kept
/// together in pageblocks so that unmovable ones do not scatter over the
/// zone and leave no free 2 MiB block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum MigrateType {
    Unmovable = 0,
    Movable = 1,
    Reclaimable = 2,
    /// A reserve for high-order atomic allocations.
    HighAtomic = 3,
    /// Taken out of use (for offlining or migration): never allocated.
    Isolate = 4,
}

/// The types a per-CPU list keeps apart (Linux's MIGRATE_PCPTYPES).
pub const MIGRATE_PCPTYPES: usize = 3;
pub const MIGRATE_TYPES: usize = 5;
/// Pageblocks are 2^9 pages (2 MiB, a huge page), as on Linux x86_64.
pub const PAGEBLOCK_ORDER: usize = 9;
pub const PAGEBLOCK_PAGES: u64 = 1 << PAGEBLOCK_ORDER;

impl MigrateType {
    pub const ALL: [MigrateType; MIGRATE_TYPES] = [
        MigrateType::Unmovable,
        MigrateType::Movable,
        MigrateType::Reclaimable,
        MigrateType::HighAtomic,
        MigrateType::Isolate,
    ];

    /// As /proc/pagetypeinfo names it.
    pub fn name(self) -> &'static str {
        match self {
            MigrateType::Unmovable => "Unmovable",
            MigrateType::Movable => "Movable",
            MigrateType::Reclaimable => "Reclaimable",
            MigrateType::HighAtomic => "HighAtomic",
            MigrateType::Isolate => "Isolate",
        }
    }

    fn from_u8(v: u8) -> MigrateType {
        Self::ALL[(v as usize).min(MIGRATE_TYPES - 1)]
    }

    /// Types whose blocks may merge with each other's across pageblocks.
    fn mergeable(self) -> bool {
        (self as usize) < MIGRATE_PCPTYPES
    }

    /// Where an allocation of this type looks when its own lists are
    /// empty, in order (Linux's fallbacks table).
    pub fn fallbacks(self) -> &'static [MigrateType] {
        use MigrateType::*;
        match self {
            Unmovable => &[Reclaimable, Movable],
            Movable => &[Reclaimable, Unmovable],
            Reclaimable => &[Unmovable, Movable],
            HighAtomic | Isolate => &[],
        }
    }
}

/// The allocator's part of a page descriptor.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct PageMeta {
    next: u32,
    prev: u32,
    state: PageState,
    order: u8,
    /// A free head: the list it is on; an allocated head: the type it was
    /// allocated as.
    mt: u8,
    /// On the first frame of each pageblock in the zone: the pageblock's
    /// migratetype (Linux keeps these bits in a bitmap beside the
    /// descriptors; here they fill the descriptor's padding, no extra
    /// memory).
    block: u8,
}

impl PageMeta {
    /// A reserved page; its bytes are all zero.
    pub const RESERVED: PageMeta = PageMeta {
        next: LINK_NONE,
        prev: LINK_NONE,
        state: PageState::Reserved,
        order: 0,
        mt: 0,
        block: 0,
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
    heads: [[u32; MIGRATE_TYPES]; MAX_ORDER + 1],
    /// Per type, bit k set when that type's order-k list is not empty: the
    /// smallest block that fits is found with one bit scan.
    nonempty: [u16; MIGRATE_TYPES],
    counts: [[usize; MIGRATE_TYPES]; MAX_ORDER + 1],
    free_pages: usize,
    /// Pages in HighAtomic pageblocks (Linux's nr_reserved_highatomic).
    reserved_highatomic: usize,
    /// The frame ranges given to the allocator, ascending and disjoint.
    managed: [(u64, u64); MAX_MANAGED_RANGES],
    nmanaged: usize,
    /// Only the managed ranges' descriptors may be touched (storage for
    /// memory that arrives later is backed as it arrives).
    sparse: bool,
}

/// Free blocks per order and type, as /proc/pagetypeinfo counts them.
pub type FreeBlocksByType = [[usize; MIGRATE_TYPES]; MAX_ORDER + 1];

impl<'a> Buddy<'a> {
    /// An allocator whose pages are all reserved until [`Buddy::add_free_range`].
    /// `meta` must come filled with [`PageMeta::RESERVED`] (zero bytes):
    /// whoever provides the storage clears it once. Every pageblock starts
    /// Movable, as Linux's memmap_init makes them.
    pub fn new(base_pfn: u64, meta: &'a mut [PageMeta]) -> Self {
        debug_assert!(meta.iter().all(|m| m.state == PageState::Reserved));
        let mut b = Buddy::new_sparse(base_pfn, meta);
        b.sparse = false;
        let (start, end) = b.span();
        b.set_pageblocks(start, end, MigrateType::Movable);
        b
    }

    /// An allocator over `meta` that touches none of it until ranges are
    /// added: for memory that may be hot-added, whose pageblocks get their
    /// type only when they arrive. Ranges must then be added in whole
    /// MAX_ORDER blocks, so that no buddy lookup leaves them.
    pub fn new_sparse(base_pfn: u64, meta: &'a mut [PageMeta]) -> Self {
        Buddy {
            base_pfn,
            meta,
            heads: [[LINK_NONE; MIGRATE_TYPES]; MAX_ORDER + 1],
            nonempty: [0; MIGRATE_TYPES],
            counts: [[0; MIGRATE_TYPES]; MAX_ORDER + 1],
            free_pages: 0,
            reserved_highatomic: 0,
            managed: [(0, 0); MAX_MANAGED_RANGES],
            nmanaged: 0,
            sparse: true,
        }
    }

    /// Sets every pageblock that `[start, end)` touches to `mt`.
    fn set_pageblocks(&mut self, start: u64, end: u64, mt: MigrateType) {
        let mut pfn = start;
        while pfn < end {
            self.set_pageblock_type(pfn, mt);
            pfn = (pfn | (PAGEBLOCK_PAGES - 1)) + 1;
        }
    }

    pub fn free_pages(&self) -> usize {
        self.free_pages
    }

    /// Pages held in HighAtomic pageblocks.
    pub fn reserved_highatomic(&self) -> usize {
        self.reserved_highatomic
    }

    /// Whether a free block of `order` or larger exists in the lists an
    /// ordinary allocation may use (the highatomic ones too with
    /// `highatomic`), as Linux's __zone_watermark_ok looks for one.
    #[inline]
    pub fn has_block(&self, order: usize, highatomic: bool) -> bool {
        let mut lists = self.nonempty[0] | self.nonempty[1] | self.nonempty[2];
        if highatomic {
            lists |= self.nonempty[MigrateType::HighAtomic as usize];
        }
        (lists >> order.min(MAX_ORDER + 1)) != 0
    }

    /// Free blocks per order, as /proc/buddyinfo counts them.
    pub fn free_blocks(&self) -> [usize; MAX_ORDER + 1] {
        self.counts.map(|c| c.iter().sum())
    }

    /// Free blocks per order and type.
    pub fn free_blocks_by_type(&self) -> FreeBlocksByType {
        self.counts
    }

    /// Pageblocks of each type (the zone's partial edge blocks included).
    pub fn pageblocks_by_type(&self) -> [usize; MIGRATE_TYPES] {
        let mut n = [0; MIGRATE_TYPES];
        let whole = [self.span()];
        let ranges = if self.sparse {
            &self.managed[..self.nmanaged]
        } else {
            &whole[..]
        };
        for &(start, end) in ranges {
            let mut pfn = start;
            while pfn < end {
                n[self.pageblock_type(pfn) as usize] += 1;
                pfn = (pfn | (PAGEBLOCK_PAGES - 1)) + 1;
            }
        }
        n
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

    /// The descriptor that holds the type of `pfn`'s pageblock: its first
    /// frame, or the zone's first for a pageblock the zone starts inside.
    #[inline]
    fn pageblock_index(&self, pfn: u64) -> usize {
        ((pfn & !(PAGEBLOCK_PAGES - 1)).max(self.base_pfn) - self.base_pfn) as usize
    }

    /// The migratetype of the pageblock `pfn` lies in (`pfn` in the zone).
    #[inline]
    pub fn pageblock_type(&self, pfn: u64) -> MigrateType {
        MigrateType::from_u8(self.meta[self.pageblock_index(pfn)].block)
    }

    fn set_pageblock_type(&mut self, pfn: u64, mt: MigrateType) {
        let i = self.pageblock_index(pfn);
        self.meta[i].block = mt as u8;
    }

    /// Writes a head's fields, leaving the pageblock byte alone.
    #[inline]
    fn set_head(&mut self, i: usize, state: PageState, order: usize, mt: MigrateType) {
        let m = &mut self.meta[i];
        // One whole-descriptor store (the pageblock byte carried over).
        *m = PageMeta {
            next: LINK_NONE,
            prev: LINK_NONE,
            state,
            order: order as u8,
            mt: mt as u8,
            block: m.block,
        };
    }

    /// Marks a former head as inside a block.
    #[inline]
    fn set_tail(&mut self, i: usize) {
        self.set_head(i, PageState::Tail, 0, MigrateType::Unmovable);
    }

    #[inline]
    fn push(&mut self, i: usize, order: usize, mt: MigrateType) {
        let t = mt as usize;
        let head = self.heads[order][t];
        self.nonempty[t] |= 1 << order;
        self.set_head(i, PageState::FreeHead, order, mt);
        self.meta[i].next = head;
        if head != LINK_NONE {
            self.meta[head as usize - 1].prev = i as u32 + 1;
        }
        self.heads[order][t] = i as u32 + 1;
        self.counts[order][t] += 1;
        self.free_pages += 1 << order;
    }

    #[inline(always)]
    fn unlink(&mut self, i: usize) {
        let m = self.meta[i];
        let (order, t) = (m.order as usize, m.mt as usize);
        if m.prev == LINK_NONE {
            self.heads[order][t] = m.next;
            if m.next == LINK_NONE {
                self.nonempty[t] &= !(1 << order);
            }
        } else {
            self.meta[m.prev as usize - 1].next = m.next;
        }
        if m.next != LINK_NONE {
            self.meta[m.next as usize - 1].prev = m.prev;
        }
        self.counts[order][t] -= 1;
        self.free_pages -= 1 << order;
    }

    /// Moves a free head to another type's list.
    fn move_to(&mut self, i: usize, mt: MigrateType) {
        let order = self.meta[i].order as usize;
        self.unlink(i);
        self.push(i, order, mt);
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
            if self.sparse {
                // Their descriptors were never touched: every pageblock
                // starts Movable, as at boot.
                self.set_pageblocks(piece_start, piece_end, MigrateType::Movable);
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
            let mt = self.pageblock_type(pfn);
            self.set_head(i, PageState::AllocatedHead, order, mt);
            self.free(pfn, order)
                .expect("a block just made allocated frees cleanly");
            pfn += 1 << order;
        }
    }

    /// Allocates 2^order contiguous frames of type `mt`, falling back to
    /// other types' blocks as Linux's __rmqueue does; returns the first
    /// frame number. HighAtomic takes only from that reserve; Isolate
    /// never allocates.
    pub fn alloc(&mut self, order: usize, mt: MigrateType) -> Option<u64> {
        if order > MAX_ORDER || mt == MigrateType::Isolate {
            return None;
        }
        let i = match self.take_smallest(order, mt) {
            Some(i) => i,
            None if mt.mergeable() && self.steal_fallback(order, mt) => {
                self.take_smallest(order, mt)?
            }
            None => return None,
        };
        Some(self.base_pfn + i as u64)
    }

    /// The smallest block of `mt`'s lists that fits, split down to
    /// `order` (the halves back on `mt`'s lists); its descriptor index.
    #[inline]
    fn take_smallest(&mut self, order: usize, mt: MigrateType) -> Option<usize> {
        let fits = self.nonempty[mt as usize] >> order;
        if fits == 0 {
            return None;
        }
        let found = order + fits.trailing_zeros() as usize;
        let i = self.heads[found][mt as usize] as usize - 1;
        self.unlink(i);
        for o in (order..found).rev() {
            self.push(i + (1 << o), o, mt);
        }
        self.set_head(i, PageState::AllocatedHead, order, mt);
        Some(i)
    }

    /// Linux's __rmqueue_fallback: finds a free block of another type
    /// (the largest first, so that one steal takes a whole pageblock
    /// rather than nibbling at many) and moves it, or its whole pageblock,
    /// to `start`'s lists. False when no fallback type has a block.
    fn steal_fallback(&mut self, order: usize, start: MigrateType) -> bool {
        for current in (order..=MAX_ORDER).rev() {
            let Some(fallback) = self.suitable_fallback(current, start) else {
                continue;
            };
            let can_steal = can_steal_fallback(current, start);
            if !can_steal && start == MigrateType::Movable && current > order {
                // A movable request that cannot claim the block: split the
                // smallest fallback block instead of breaking up a large one.
                let smallest = (order..=MAX_ORDER)
                    .find_map(|o| self.suitable_fallback(o, start).map(|f| (o, f)));
                let Some((o, f)) = smallest else { return false };
                self.steal_block(o, f, start, can_steal_fallback(o, start));
                return true;
            }
            self.steal_block(current, fallback, start, can_steal);
            return true;
        }
        false
    }

    /// The first of `start`'s fallback types with a free block of `order`.
    fn suitable_fallback(&self, order: usize, start: MigrateType) -> Option<MigrateType> {
        start
            .fallbacks()
            .iter()
            .copied()
            .find(|&f| self.nonempty[f as usize] & (1 << order) != 0)
    }

    /// Linux's steal_suitable_fallback for the first free block of
    /// `(order, from)`: a block of a pageblock or more changes its
    /// pageblocks' type; a smaller one, when `whole_block`, takes every free
    /// page of its pageblock along, and the pageblock itself once at least
    /// half of it is free or already of a like kind. The block ends on
    /// `start`'s list in every case.
    fn steal_block(
        &mut self,
        order: usize,
        from: MigrateType,
        start: MigrateType,
        whole_block: bool,
    ) {
        let i = self.heads[order][from as usize] as usize - 1;
        let pfn = self.base_pfn + i as u64;
        let old = self.pageblock_type(pfn);
        if old != MigrateType::HighAtomic {
            if order >= PAGEBLOCK_ORDER {
                let mut p = pfn;
                while p < pfn + (1 << order) {
                    self.set_pageblock_type(p, start);
                    p += PAGEBLOCK_PAGES;
                }
            } else if whole_block {
                let (free, movable) = self.move_free_pages_of_block(pfn, start);
                let alike = if start == MigrateType::Movable {
                    movable
                } else if old == MigrateType::Movable {
                    PAGEBLOCK_PAGES as usize - (free + movable).min(PAGEBLOCK_PAGES as usize)
                } else {
                    0
                };
                if free > 0 && free + alike >= PAGEBLOCK_PAGES as usize / 2 {
                    self.set_pageblock_type(pfn, start);
                }
            }
        }
        if self.meta[i].mt != start as u8 {
            self.move_to(i, start);
        }
    }

    /// Moves every free block of `pfn`'s pageblock to `mt`'s lists;
    /// returns the free pages moved and the pages of allocated Movable
    /// blocks found (Linux's move_freepages_block). Nothing moves for a
    /// pageblock the zone does not wholly contain.
    fn move_free_pages_of_block(&mut self, pfn: u64, mt: MigrateType) -> (usize, usize) {
        let start = pfn & !(PAGEBLOCK_PAGES - 1);
        let (zs, ze) = self.span();
        if start < zs || start + PAGEBLOCK_PAGES > ze {
            return (0, 0);
        }
        let (mut free, mut movable) = (0, 0);
        let mut i = (start - zs) as usize;
        let end = i + PAGEBLOCK_PAGES as usize;
        while i < end {
            let m = self.meta[i];
            let pages = 1usize << m.order;
            match m.state {
                PageState::FreeHead => {
                    if m.mt != mt as u8 {
                        self.move_to(i, mt);
                    }
                    free += pages;
                    i += pages;
                }
                PageState::AllocatedHead => {
                    if m.mt == MigrateType::Movable as u8 {
                        movable += pages;
                    }
                    i += pages;
                }
                _ => i += 1,
            }
        }
        (free, movable)
    }

    /// Linux's reserve_highatomic_pageblock, after a high-order atomic
    /// allocation at `pfn` succeeded: its pageblock becomes HighAtomic
    /// (free pages and all), while the reserve is under 1% of `managed`
    /// pages plus one pageblock.
    pub fn reserve_highatomic(&mut self, pfn: u64, managed: u64) -> bool {
        let most = managed / 100 + PAGEBLOCK_PAGES;
        if self.index(pfn).is_none() || self.reserved_highatomic as u64 >= most {
            return false;
        }
        if !self.pageblock_type(pfn).mergeable() {
            return false;
        }
        self.reserved_highatomic += PAGEBLOCK_PAGES as usize;
        self.set_pageblock_type(pfn, MigrateType::HighAtomic);
        self.move_free_pages_of_block(pfn, MigrateType::HighAtomic);
        true
    }

    /// Linux's unreserve_highatomic_pageblock: gives one HighAtomic
    /// pageblock with a free block back to `mt` (all of them in turn with
    /// `force`; otherwise the last pageblock of the reserve stays).
    pub fn unreserve_highatomic(&mut self, mt: MigrateType, force: bool) -> bool {
        if !force && self.reserved_highatomic <= PAGEBLOCK_PAGES as usize {
            return false;
        }
        let ht = MigrateType::HighAtomic as usize;
        for order in 0..=MAX_ORDER {
            let head = self.heads[order][ht];
            if head == LINK_NONE {
                continue;
            }
            let pfn = self.base_pfn + head as u64 - 1;
            self.retype_pageblock(pfn, mt);
            if self.meta[head as usize - 1].state == PageState::FreeHead
                && self.meta[head as usize - 1].mt == ht as u8
            {
                // A block the pageblock walk could not move (an edge
                // pageblock): it still leaves the reserve.
                self.move_to(head as usize - 1, mt);
            }
            return true;
        }
        false
    }

    /// Up to `count` blocks of `order` and type `mt`, each handed to
    /// `out`; returns how many. Takes the same free blocks as `count` calls
    /// of [`alloc`](Self::alloc) would (the smallest that fits first,
    /// fallbacks as there), but a free block the request covers whole is
    /// split in one pass rather than half by half, block after block: a
    /// per-CPU list's refill.
    pub fn alloc_bulk(
        &mut self,
        order: usize,
        mt: MigrateType,
        count: usize,
        mut out: impl FnMut(u64),
    ) -> usize {
        if order > MAX_ORDER || mt == MigrateType::Isolate {
            return 0;
        }
        let mut given = 0;
        while given < count {
            let mut fits = self.nonempty[mt as usize] >> order;
            if fits == 0 {
                if !mt.mergeable() || !self.steal_fallback(order, mt) {
                    break;
                }
                fits = self.nonempty[mt as usize] >> order;
            }
            let found = order + fits.trailing_zeros() as usize;
            let i = self.heads[found][mt as usize] as usize - 1;
            self.unlink(i);
            // Keep the lowest 2^kept pages, as many blocks of `order` as
            // are still wanted (rounded down to a power of two); the upper
            // halves above that go back, one order down each.
            let wanted = count - given;
            let kept = (order + wanted.ilog2() as usize).min(found);
            for o in (kept..found).rev() {
                self.push(i + (1 << o), o, mt);
            }
            for k in 0..1usize << (kept - order) {
                let j = i + (k << order);
                self.set_head(j, PageState::AllocatedHead, order, mt);
                out(self.base_pfn + j as u64);
            }
            given += 1 << (kept - order);
        }
        given
    }

    /// Compaction's free scanner over one pageblock (Linux's
    /// isolate_freepages_block): takes every free block lying wholly in
    /// `pfn`'s pageblock off the free lists, split into order-0 pages of
    /// type Movable handed to `out`, when the pageblock is a fit target for
    /// migration (Movable, or free as a whole); returns the pages taken.
    pub fn isolate_free_pageblock(&mut self, pfn: u64, mut out: impl FnMut(u64)) -> usize {
        let (zs, ze) = self.span();
        let start = (pfn & !(PAGEBLOCK_PAGES - 1)).max(zs);
        let end = ((pfn | (PAGEBLOCK_PAGES - 1)) + 1).min(ze);
        if start >= end {
            return 0;
        }
        if self.pageblock_type(start) != MigrateType::Movable {
            let i = (start - zs) as usize;
            let m = self.meta[i];
            let whole = m.state == PageState::FreeHead && (1u64 << m.order) >= end - start;
            if !whole || !MigrateType::from_u8(m.mt).mergeable() {
                return 0;
            }
        }
        let mut taken = 0;
        let mut i = (start - zs) as usize;
        while i < (end - zs) as usize {
            let m = self.meta[i];
            let pages = 1usize << m.order;
            match m.state {
                PageState::FreeHead
                    if MigrateType::from_u8(m.mt).mergeable()
                        && i + pages <= (end - zs) as usize =>
                {
                    self.unlink(i);
                    for k in 0..pages {
                        self.set_head(i + k, PageState::AllocatedHead, 0, MigrateType::Movable);
                        out(zs + (i + k) as u64);
                    }
                    taken += pages;
                    i += pages;
                }
                PageState::FreeHead | PageState::AllocatedHead => i += pages,
                _ => i += 1,
            }
        }
        taken
    }

    /// Gives every pageblock of `[start, end)` the type `mt`, its free
    /// blocks moved to `mt`'s lists (Linux's set_migratetype_isolate with
    /// Isolate, undo_isolate_page_range with Movable): an isolated range
    /// is never allocated from, and what is freed into it stays there.
    /// The range is whole MAX_ORDER blocks inside the zone.
    pub fn set_range_type(&mut self, start: u64, end: u64, mt: MigrateType) {
        let mut pfn = start;
        while pfn < end {
            self.retype_pageblock(pfn, mt);
            pfn += PAGEBLOCK_PAGES;
        }
    }

    /// Gives `pfn`'s pageblock the type `mt`, its free blocks with it; a
    /// HighAtomic pageblock leaves the reserve.
    fn retype_pageblock(&mut self, pfn: u64, mt: MigrateType) {
        if self.pageblock_type(pfn) == MigrateType::HighAtomic {
            self.reserved_highatomic = self
                .reserved_highatomic
                .saturating_sub(PAGEBLOCK_PAGES as usize);
        }
        self.set_pageblock_type(pfn, mt);
        self.move_free_pages_of_block(pfn, mt);
    }

    /// Free pages on the Isolate lists (Linux leaves them out of the free
    /// count the watermarks see).
    #[inline]
    pub fn isolated_free_pages(&self) -> usize {
        let t = MigrateType::Isolate as usize;
        if self.nonempty[t] == 0 {
            return 0;
        }
        (0..=MAX_ORDER).map(|o| self.counts[o][t] << o).sum()
    }

    /// The first frame of `[start, end)` that is not in a free block
    /// (allocated, on a per-CPU list, or never given), or None when the
    /// whole range is free (Linux's test_pages_isolated).
    pub fn first_busy(&self, start: u64, end: u64) -> Option<u64> {
        let (zs, ze) = self.span();
        if start < zs || end > ze {
            return Some(start);
        }
        let mut pfn = start;
        while pfn < end {
            let m = self.meta[(pfn - zs) as usize];
            if m.state != PageState::FreeHead || !self.is_managed(pfn) {
                return Some(pfn);
            }
            pfn += 1 << m.order;
        }
        None
    }

    /// Takes the free range `[start, end)` away from the allocator (Linux's
    /// __offline_isolated_pages): its blocks leave the free lists, its
    /// descriptors go back to reserved and it is no longer managed.
    /// Refused (None, nothing changed) unless every frame of it is free
    /// ([`first_busy`](Self::first_busy)) or when the managed table has no
    /// room to split a range around it. Returns the pages taken.
    pub fn remove_free_range(&mut self, start: u64, end: u64) -> Option<usize> {
        let block = 1u64 << MAX_ORDER;
        if start >= end
            || !start.is_multiple_of(block)
            || !end.is_multiple_of(block)
            || self.first_busy(start, end).is_some()
        {
            return None;
        }
        // The managed range holding it, split around it.
        let n = self.nmanaged;
        let at = self.managed[..n]
            .iter()
            .position(|&(s, e)| s <= start && end <= e)?;
        let (s, e) = self.managed[at];
        match (s == start, e == end) {
            (true, true) => {
                self.managed.copy_within(at + 1..n, at);
                self.nmanaged -= 1;
            }
            (true, false) => self.managed[at].0 = end,
            (false, true) => self.managed[at].1 = start,
            (false, false) => {
                if n == MAX_MANAGED_RANGES {
                    return None;
                }
                self.managed.copy_within(at + 1..n, at + 2);
                self.managed[at] = (s, start);
                self.managed[at + 1] = (end, e);
                self.nmanaged += 1;
            }
        }
        let before = self.free_pages;
        let zs = self.base_pfn;
        let mut i = (start - zs) as usize;
        while i < (end - zs) as usize {
            let pages = 1usize << self.meta[i].order;
            self.unlink(i);
            for m in &mut self.meta[i..i + pages] {
                *m = PageMeta::RESERVED;
            }
            i += pages;
        }
        Some(before - self.free_pages)
    }

    /// Checks that `pfn` heads a block allocated with `order`.
    #[inline]
    pub fn check_free(&self, pfn: u64, order: usize) -> Result<usize, FreeError> {
        // The common case in a few instructions (a free goes through here
        // once per page a per-CPU list gives back); the reason for a
        // refusal is worked out out of line.
        if let Some(i) = self.index(pfn) {
            let m = self.meta[i];
            if m.state == PageState::AllocatedHead && m.order as usize == order {
                return Ok(i);
            }
        }
        self.refuse_free(pfn, order)
    }

    /// The same checks in full, for a block the quick test refused: the
    /// reason (an allocated head of that order still passes).
    #[cold]
    #[inline(never)]
    fn refuse_free(&self, pfn: u64, order: usize) -> Result<usize, FreeError> {
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

    /// Frees a block onto its pageblock's list, merging it with free
    /// buddies (across pageblocks only between mergeable types, as Linux).
    /// A bad free changes nothing.
    pub fn free(&mut self, pfn: u64, order: usize) -> Result<(), FreeError> {
        let mut i = self.check_free(pfn, order)?;
        let mt = self.pageblock_type(pfn);
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
            if order >= PAGEBLOCK_ORDER {
                let other = self.pageblock_type(buddy_pfn);
                if other != mt && (!mt.mergeable() || !other.mergeable()) {
                    break;
                }
            }
            self.unlink(b);
            // The higher of the two stops being a head.
            if buddy_pfn < pfn {
                self.set_tail(i);
                i = b;
                pfn = buddy_pfn;
            } else {
                self.set_tail(b);
            }
            order += 1;
        }
        self.push(i, order, mt);
        Ok(())
    }
}

/// Linux's can_steal_fallback: whether an allocation of `start` falling
/// back at `order` may claim the pageblock (always for unmovable and
/// reclaimable requests, which would otherwise scatter; for movable ones
/// only from half a pageblock up).
fn can_steal_fallback(order: usize, start: MigrateType) -> bool {
    order >= PAGEBLOCK_ORDER
        || order >= PAGEBLOCK_ORDER / 2
        || matches!(start, MigrateType::Reclaimable | MigrateType::Unmovable)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::boxed::Box;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn reserved_descriptor_is_all_zero() {
        let r = PageMeta::RESERVED;
        assert_eq!((r.next, r.prev, r.state as u8, r.order), (0, 0, 0, 0));
        assert_eq!(core::mem::size_of::<PageMeta>(), 12);
    }

    #[test]
    fn an_isolated_range_is_never_allocated_and_leaves_only_when_all_free() {
        let block = 1u64 << MAX_ORDER;
        let mut meta = vec![PageMeta::RESERVED; 4 * block as usize];
        let mut b = Buddy::new_sparse(0, &mut meta);
        assert_eq!(b.add_free_range(0, 3 * block), 3 * block as usize);
        // A page in the middle block, held while that block is isolated.
        let mut held = Vec::new();
        while let Some(p) = b.alloc(0, MigrateType::Movable) {
            if (block..2 * block).contains(&p) {
                held.push(p);
                break;
            }
            held.push(p);
        }
        let inside = *held.last().unwrap();
        for &p in &held[..held.len() - 1] {
            b.free(p, 0).unwrap();
        }
        b.set_range_type(block, 2 * block, MigrateType::Isolate);
        assert_eq!(b.isolated_free_pages(), block as usize - 1);
        assert_eq!(b.first_busy(block, 2 * block), Some(inside));
        assert_eq!(
            b.remove_free_range(block, 2 * block),
            None,
            "a page is in use"
        );
        // Allocation never reaches the isolated block.
        let mut rest = Vec::new();
        while let Some(p) = b.alloc(0, MigrateType::Movable) {
            assert!(!(block..2 * block).contains(&p), "pfn {p:#x} is isolated");
            rest.push(p);
        }
        assert_eq!(rest.len(), 2 * block as usize);
        // Freed, the page stays with its isolated block; then it all goes.
        b.free(inside, 0).unwrap();
        assert_eq!(b.isolated_free_pages(), block as usize);
        assert_eq!(b.first_busy(block, 2 * block), None);
        assert_eq!(b.remove_free_range(block, 2 * block), Some(block as usize));
        assert!(!b.is_managed(block) && b.is_managed(block - 1) && b.is_managed(2 * block));
        assert_eq!(b.isolated_free_pages(), 0);
        assert_eq!(b.free_pages(), 0);
        assert!(
            b.free(inside, 0).is_err(),
            "a removed frame frees as reserved"
        );
        for p in rest {
            b.free(p, 0).unwrap();
        }
        assert_eq!(b.free_pages(), 2 * block as usize);
        // The range comes back whole, Movable again.
        assert_eq!(b.add_free_range(block, 2 * block), block as usize);
        assert_eq!(b.pageblock_type(block), MigrateType::Movable);
        assert_eq!(b.free_blocks()[MAX_ORDER], 3);
    }

    #[test]
    fn isolation_undone_gives_the_blocks_back() {
        let block = 1u64 << MAX_ORDER;
        let mut meta = vec![PageMeta::RESERVED; 2 * block as usize];
        let mut b = Buddy::new_sparse(0, &mut meta);
        b.add_free_range(0, 2 * block);
        b.set_range_type(0, block, MigrateType::Isolate);
        assert_eq!(b.isolated_free_pages(), block as usize);
        assert!(b.remove_free_range(1, block + 1).is_none(), "unaligned");
        b.set_range_type(0, block, MigrateType::Movable);
        assert_eq!(b.isolated_free_pages(), 0);
        let got: Vec<u64> = (0..2)
            .filter_map(|_| b.alloc(MAX_ORDER, MigrateType::Movable))
            .collect();
        assert_eq!(got.len(), 2);
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
        let p = b.alloc(9, MigrateType::Movable).unwrap();
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
        let p = b.alloc(0, MigrateType::Movable).unwrap();
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
        let p = b.alloc(2, MigrateType::Movable).unwrap();
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
        while let Some(p) = b.alloc(0, MigrateType::Movable) {
            got.push(p);
        }
        assert_eq!(got.len(), 3000);
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 3000);
        assert_eq!(b.alloc(0, MigrateType::Movable), None);
    }

    use MigrateType::*;

    fn zone(pages: usize) -> Buddy<'static> {
        let meta = Box::leak(vec![PageMeta::RESERVED; pages].into_boxed_slice());
        let mut b = Buddy::new(0, meta);
        b.add_free_range(0, pages as u64);
        b
    }

    fn blocks_of(b: &Buddy, mt: MigrateType) -> usize {
        b.pageblocks_by_type()[mt as usize]
    }

    #[test]
    fn pageblocks_start_movable_and_an_unmovable_steal_claims_the_largest_block() {
        let mut b = zone(4096);
        assert_eq!(b.pageblocks_by_type(), [0, 8, 0, 0, 0]);
        // No unmovable block: the largest movable one (order 10, two
        // pageblocks) changes type whole, as Linux's change_pageblock_range.
        let p = b.alloc(0, Unmovable).unwrap();
        assert_eq!((blocks_of(&b, Unmovable), blocks_of(&b, Movable)), (2, 6));
        // The next unmovable pages come from those pageblocks, not new ones.
        let mut pages = vec![p];
        for _ in 1..1024 {
            let q = b.alloc(0, Unmovable).unwrap();
            assert_eq!(q >> 10, p >> 10, "inside the claimed order-10 block");
            pages.push(q);
        }
        assert_eq!(blocks_of(&b, Unmovable), 2);
        b.alloc(0, Unmovable).unwrap();
        assert_eq!(blocks_of(&b, Unmovable), 4, "only when those are full");
        // Movable allocations keep to movable pageblocks meanwhile.
        let m = b.alloc(0, Movable).unwrap();
        assert_eq!(b.pageblock_type(m), Movable);
    }

    #[test]
    fn fallbacks_are_tried_in_linux_order() {
        // Four pageblocks: the first two reclaimable, the last two unmovable.
        let mut b = zone(2048);
        let r = b.alloc(0, Reclaimable).unwrap();
        let u = b.alloc(0, Unmovable).unwrap();
        assert_eq!(b.pageblock_type(r), Reclaimable);
        assert_eq!(b.pageblock_type(u), Unmovable);
        assert_ne!(r >> 10, u >> 10);
        b.free(r, 0).unwrap();
        b.free(u, 0).unwrap();
        assert_eq!(blocks_of(&b, Movable), 0);
        // Movable falls back to reclaimable before unmovable.
        let m = b.alloc(0, Movable).unwrap();
        assert_eq!(m >> 10, r >> 10);
        // Unmovable has its own; reclaimable falls back to unmovable first.
        assert_eq!(MigrateType::Reclaimable.fallbacks(), &[Unmovable, Movable]);
        assert_eq!(MigrateType::Unmovable.fallbacks(), &[Reclaimable, Movable]);
        assert!(MigrateType::HighAtomic.fallbacks().is_empty());
    }

    #[test]
    fn a_movable_request_takes_a_small_block_without_claiming_its_pageblock() {
        // One pageblock, claimed unmovable; only blocks of orders 0 to 3
        // left free in it.
        let mut b = zone(512);
        let mut held = Vec::new();
        for order in (4..=8).rev() {
            held.push((b.alloc(order, Unmovable).unwrap(), order));
        }
        assert_eq!(blocks_of(&b, Unmovable), 1);
        let free_before = b.free_pages();
        let m = b.alloc(0, Movable).unwrap();
        assert_eq!(
            b.pageblock_type(m),
            Unmovable,
            "a movable steal of order < 4 claims nothing"
        );
        assert_eq!(b.free_pages(), free_before - 1);
        // Freed, it goes back to its pageblock's (unmovable) lists.
        b.free(m, 0).unwrap();
        let by_type = b.free_blocks_by_type();
        let movable: usize = by_type.iter().map(|o| o[Movable as usize]).sum();
        assert_eq!(movable, 0);
        for (p, order) in held {
            b.free(p, order).unwrap();
        }
        assert_eq!(b.free_pages(), 512);
    }

    #[test]
    fn the_highatomic_reserve_is_kept_from_ordinary_allocations_and_given_back() {
        let mut b = zone(4096);
        let p = b.alloc(2, Unmovable).unwrap();
        assert!(b.reserve_highatomic(p, 4096));
        assert_eq!(b.reserved_highatomic(), 512);
        assert_eq!(b.pageblock_type(p), HighAtomic);
        // At most 1% of 4096 pages + one pageblock (552): a second
        // pageblock fits under that, a third does not.
        assert!(b.reserve_highatomic(p ^ 2048, 4096));
        assert_eq!(b.reserved_highatomic(), 1024);
        assert!(!b.reserve_highatomic(p ^ 1024, 4096));
        assert!(!b.reserve_highatomic(p, 4096), "already highatomic");
        // The reserve's free pages are on its own lists, which ordinary
        // allocations never take from.
        let ht: usize = b
            .free_blocks_by_type()
            .iter()
            .enumerate()
            .map(|(o, c)| c[HighAtomic as usize] << o)
            .sum();
        assert!(ht > 0);
        let mut got = Vec::new();
        while let Some(x) = b.alloc(0, Movable) {
            assert_ne!(b.pageblock_type(x), HighAtomic);
            got.push(x);
        }
        assert!(
            b.alloc(0, HighAtomic).is_some(),
            "the reserve is still there"
        );
        // Without force the last pageblock of the reserve stays.
        assert!(b.unreserve_highatomic(Movable, false));
        assert_eq!(b.reserved_highatomic(), 512);
        assert!(!b.unreserve_highatomic(Movable, false));
        assert!(b.unreserve_highatomic(Movable, true));
        assert_eq!(b.reserved_highatomic(), 0);
        assert!(b.alloc(0, Movable).is_some(), "given back to movable");
    }

    #[test]
    fn the_free_scanner_takes_a_movable_pageblocks_free_pages_and_nothing_else() {
        let mut b = zone(2048);
        // Pageblock 0 unmovable (claimed by a steal), the rest movable.
        let u = b.alloc(0, Unmovable).unwrap();
        assert_eq!(b.pageblock_type(u), Unmovable);
        let mut got = Vec::new();
        assert_eq!(
            b.isolate_free_pageblock(u, |p| got.push(p)),
            0,
            "unmovable: no target"
        );
        // A movable pageblock with some pages in use: only the free ones.
        let m = b.alloc(0, Movable).unwrap();
        let pb = m & !511;
        let free_before = b.free_pages();
        let n = b.isolate_free_pageblock(m, |p| got.push(p));
        assert_eq!(n, 511);
        assert_eq!(b.free_pages(), free_before - 511);
        assert!(got.iter().all(|&p| p & !511 == pb && p != m));
        // Each is an allocated order-0 page now: freeing them all (and the
        // other two) gives the zone back whole.
        for p in got {
            b.free(p, 0).unwrap();
        }
        b.free(m, 0).unwrap();
        b.free(u, 0).unwrap();
        assert_eq!(b.free_pages(), 2048);
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
                        if let Some(p) = b.alloc(order, MigrateType::Movable) {
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
                    prop_assert_eq!(b.nonempty.iter().any(|n| n & (1 << o) != 0), c > 0, "order {}'s bit", o);
                }
            }
            for (p, order) in live.drain(..) {
                prop_assert!(b.free(p, order).is_ok());
            }
            prop_assert_eq!((b.free_blocks(), b.free_pages()), initial);
        }

        /// Random allocations of every ordinary type and frees: every free
        /// block is on the list its descriptor names, per-type counts and
        /// the non-empty bits match the lists, no frame is handed out
        /// twice, and freeing everything merges back to the first layout
        /// (ordinary types merge across pageblocks).
        #[test]
        fn migratetype_bookkeeping_holds_under_random_traffic(
            ops in prop::collection::vec((0usize..5, 0usize..3, any::<usize>(), any::<bool>()), 1..800),
        ) {
            let n = 4096;
            let mut b = zone(n);
            let initial = b.free_blocks();
            let mut live: Vec<(u64, usize)> = Vec::new();
            let mut owned = vec![false; n];
            for (order, t, k, alloc) in ops {
                if alloc || live.is_empty() {
                    if let Some(p) = b.alloc(order, MigrateType::ALL[t]) {
                        for q in p..p + (1 << order) {
                            prop_assert!(!owned[q as usize], "frame {} twice", q);
                            owned[q as usize] = true;
                        }
                        live.push((p, order));
                    }
                } else {
                    let (p, order) = live.swap_remove(k % live.len());
                    for q in p..p + (1 << order) {
                        owned[q as usize] = false;
                    }
                    prop_assert!(b.free(p, order).is_ok());
                }
                for order in 0..=MAX_ORDER {
                    for t in 0..MIGRATE_TYPES {
                        let mut len = 0;
                        let mut at = b.heads[order][t];
                        while at != LINK_NONE {
                            let m = b.meta[at as usize - 1];
                            prop_assert_eq!((m.state, m.order as usize, m.mt as usize), (PageState::FreeHead, order, t));
                            len += 1;
                            at = m.next;
                        }
                        prop_assert_eq!(len, b.counts[order][t]);
                        prop_assert_eq!(b.nonempty[t] & (1 << order) != 0, len > 0);
                    }
                }
                let used: usize = live.iter().map(|&(_, o)| 1usize << o).sum();
                prop_assert_eq!(b.free_pages() + used, n);
            }
            for (p, order) in live.drain(..) {
                prop_assert!(b.free(p, order).is_ok());
            }
            prop_assert_eq!(b.free_blocks(), initial);
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
                        let p = b1.alloc(o, MigrateType::Movable);
                        prop_assert_eq!(p, b2.alloc(o, MigrateType::Movable));
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
            let got = b1.alloc_bulk(order, MigrateType::Movable, count, |p| bulk.push(p));
            prop_assert_eq!(got, bulk.len());
            let one_by_one: Vec<u64> = (0..count).map_while(|_| b2.alloc(order, MigrateType::Movable)).collect();
            prop_assert_eq!(bulk, one_by_one);
            prop_assert_eq!((b1.free_blocks(), b1.free_pages()), (b2.free_blocks(), b2.free_pages()));
            prop_assert_eq!(b1.heads, b2.heads);
            for i in 0..n {
                let (a, b) = (b1.meta[i], b2.meta[i]);
                prop_assert_eq!((a.state, a.order, a.next, a.prev, a.mt, a.block), (b.state, b.order, b.next, b.prev, b.mt, b.block), "pfn {}", i);
            }
        }
    }
}
