//! The page allocator: nodes of zones, each zone a buddy allocator behind
//! its own lock, zonelists ordered by distance, watermarks, the GFP rules
//! of the fast and slow paths, and NUMA statistics.
//!
//! Hardware-independent: the kernel gives it page-descriptor storage and a
//! [`Reclaim`] implementation; host tests give it vectors and mocks.
//!
//! The paths follow Linux's __alloc_pages:
//! 1. Fast path: walk the zonelist, take from the first zone that stays
//!    above its `low` watermark (plus lowmem_reserve) after the allocation.
//! 2. Slow path: wake kswapd, walk again against `min`, lowered for
//!    __GFP_HIGH (half) and for callers that cannot sleep (a further
//!    quarter). Callers that cannot sleep stop here.
//! 3. Direct reclaim and retry: __GFP_NORETRY tries once; costly orders
//!    (above 3) give up unless __GFP_RETRY_MAYFAIL; otherwise up to
//!    [`MAX_RECLAIM_RETRIES`] passes without progress.
//! 4. __GFP_NOFAIL never gives up: it may use half the min reserve and
//!    waits for reclaim for as long as it takes.

use crate::buddy::{
    Buddy, FreeBlocksByType, FreeError, MigrateType, PageMeta, MAX_ORDER, MIGRATE_TYPES,
};
use crate::gfp::{BadGfp, Gfp, ReclaimContext};
use crate::pcp::{
    self, HighBounds, PcpGuard, PcpLink, PcpRegistry, PcpSet, PerCpuPages, ZoneState, PCP_MAX_ORDER,
};
use crate::stats::{allocation_events, NumaCounters, NumaStat, NR_NUMA_STATS};
use crate::watermark::{self, AllocFlags, Watermarks};
use crate::zone::{ZoneSpan, ZoneType, NR_ZONES};
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use numa::{NodeId, Topology, MAX_NUMNODES};
use spin::Mutex;

pub use crate::buddy::COSTLY_ORDER;
/// Passes of direct reclaim without progress before giving up.
pub const MAX_RECLAIM_RETRIES: u32 = 16;
const MAX_ZONEREFS: usize = MAX_NUMNODES * NR_ZONES;
/// Entries of the frame -> zone map: each covers 2^zone_map_shift frames
/// (at least a 2 MiB pageblock) and names the one zone there, if any.
const ZONE_MAP_ENTRIES: usize = 4096;
const ZONE_MAP_NONE: u16 = 0;
/// More than one zone in the entry's frames: search the sorted zones.
const ZONE_MAP_MIXED: u16 = u16::MAX;
/// Set beside a zone's index when the zone covers only part of the
/// entry's frames (a free there checks the zone holds the frame).
const ZONE_MAP_PARTIAL: u16 = 1 << 15;

/// Most ranges a hot-plug zone takes online (one per memory device).
pub const MAX_ONLINE_RANGES: usize = 16;

/// One zone of one node.
pub struct Zone<'a> {
    pub node: NodeId,
    pub kind: ZoneType,
    /// Where the zone's frames lie (holes included); fixed, since its
    /// per-frame storage is indexed from `span.start_pfn`. A hot-plug zone
    /// spans everywhere memory may arrive, and only its online ranges hold
    /// frames (see [`Zone::contains`]).
    pub span: ZoneSpan,
    /// RAM pages present (online) in the span.
    present: AtomicU64,
    managed: AtomicU64,
    /// Set at boot and again whenever memory comes online (Linux's
    /// setup_per_zone_wmarks), so read as atomics.
    watermarks: [AtomicU64; 3],
    /// Pages held back from allocations that could have used zone `j`.
    lowmem_reserve: [AtomicU64; NR_ZONES],
    /// Storage for memory that may be hot-added: ranges come online one
    /// at a time, and only those hold frames.
    hotplug: bool,
    online: [(AtomicU64, AtomicU64); MAX_ONLINE_RANGES],
    nr_online: AtomicUsize,
    free_area: Mutex<Option<Buddy<'a>>>,
    /// The buddy allocator's free pages, readable without the lock (pages
    /// on per-CPU lists are not counted, as in Linux's NR_FREE_PAGES).
    nr_free: AtomicU64,
    /// Pages in HighAtomic pageblocks, readable without the lock: the
    /// watermark checks of ordinary allocations do not count them free.
    reserved_highatomic: AtomicU64,
    /// Per page: 0, or for the head of an allocated block 1 + order in the
    /// low nibble and the migratetype it was allocated as above (the
    /// per-CPU list it goes back to). Checked and cleared atomically on
    /// free, so a double free or a wrong order is caught without the zone
    /// lock, even when the block goes to a per-CPU list.
    alloc_state: &'a [AtomicU8],
    /// Per page: its links while it heads a block on a per-CPU list.
    pcp_links: &'a [PcpLink],
    pub stats: NumaCounters,
    /// This zone's slot in every CPU's per-CPU page lists.
    pub pcp_index: usize,
    pcp_batch: AtomicU32,
    /// The bounds of each CPU's `high` for this zone (Linux's high_min
    /// and high_max; see the pcp module).
    pcp_high_min: AtomicU32,
    pcp_high_max: AtomicU32,
    /// Reclaimers working on this zone's node now.
    reclaimers: AtomicU32,
}

/// The per-frame storage of a zone with memory.
pub struct ZoneFrames<'a> {
    pub meta: &'a mut [PageMeta],
    pub state: &'a [AtomicU8],
    pub links: &'a [PcpLink],
}

impl<'a> Zone<'a> {
    /// A zone over `span`; `meta` holds one descriptor, one state byte
    /// and one per-CPU list link per spanned frame (`None` for a zone
    /// without memory). Every page starts reserved.
    pub fn new(node: NodeId, kind: ZoneType, span: ZoneSpan, meta: Option<ZoneFrames<'a>>) -> Self {
        let mut alloc_state: &'a [AtomicU8] = &[];
        let mut pcp_links: &'a [PcpLink] = &[];
        let buddy = meta.map(|f| {
            assert_eq!(
                f.meta.len() as u64,
                span.spanned(),
                "one descriptor per frame"
            );
            assert_eq!(f.state.len(), f.meta.len(), "one state byte per frame");
            assert_eq!(f.links.len(), f.meta.len(), "one list link per frame");
            alloc_state = f.state;
            pcp_links = f.links;
            Buddy::new(span.start_pfn, f.meta)
        });
        Zone {
            node,
            kind,
            span,
            present: AtomicU64::new(span.present),
            managed: AtomicU64::new(0),
            watermarks: [const { AtomicU64::new(0) }; 3],
            lowmem_reserve: [const { AtomicU64::new(0) }; NR_ZONES],
            hotplug: false,
            online: [const { (AtomicU64::new(0), AtomicU64::new(0)) }; MAX_ONLINE_RANGES],
            nr_online: AtomicUsize::new(0),
            free_area: Mutex::new(buddy),
            nr_free: AtomicU64::new(0),
            reserved_highatomic: AtomicU64::new(0),
            alloc_state,
            pcp_links,
            stats: NumaCounters::new(),
            pcp_index: 0,
            pcp_batch: AtomicU32::new(1),
            pcp_high_min: AtomicU32::new(0),
            pcp_high_max: AtomicU32::new(0),
            reclaimers: AtomicU32::new(0),
        }
    }

    /// A ZONE_MOVABLE for memory that may arrive over `span` (nothing
    /// present yet). `frames` covers the whole span, but none of it is
    /// touched until a range comes online ([`PageAllocator::online_range`]),
    /// whose storage the caller backs first.
    pub fn new_hotplug(node: NodeId, span: ZoneSpan, frames: ZoneFrames<'a>) -> Self {
        let n = span.spanned() as usize;
        assert!(
            frames.meta.len() == n && frames.state.len() == n && frames.links.len() == n,
            "storage for every frame of the span"
        );
        let mut z = Zone::new(
            node,
            ZoneType::Movable,
            ZoneSpan { present: 0, ..span },
            None,
        );
        z.alloc_state = frames.state;
        z.pcp_links = frames.links;
        z.free_area = Mutex::new(Some(Buddy::new_sparse(span.start_pfn, frames.meta)));
        z.hotplug = true;
        z
    }

    /// Hands the frames `[start, end)` (clipped to the zone) to the buddy
    /// allocator; they become managed pages.
    pub fn add_free_range(&mut self, start: u64, end: u64) -> u64 {
        let added = match self.free_area.get_mut() {
            Some(b) => b.add_free_range(start, end) as u64,
            None => 0,
        };
        *self.managed.get_mut() += added;
        *self.nr_free.get_mut() += added;
        added
    }

    #[inline]
    pub fn managed(&self) -> u64 {
        self.managed.load(Relaxed)
    }

    #[inline]
    pub fn present(&self) -> u64 {
        self.present.load(Relaxed)
    }

    #[inline]
    pub fn watermarks(&self) -> Watermarks {
        Watermarks {
            min: self.watermarks[0].load(Relaxed),
            low: self.watermarks[1].load(Relaxed),
            high: self.watermarks[2].load(Relaxed),
        }
    }

    fn set_watermarks(&self, w: Watermarks) {
        for (slot, v) in self.watermarks.iter().zip([w.min, w.low, w.high]) {
            slot.store(v, Relaxed);
        }
    }

    /// Pages kept back from allocations that could have used zone `j`.
    #[inline]
    pub fn reserve_for(&self, j: usize) -> u64 {
        self.lowmem_reserve[j].load(Relaxed)
    }

    pub fn lowmem_reserve(&self) -> [u64; NR_ZONES] {
        core::array::from_fn(|j| self.reserve_for(j))
    }

    #[inline]
    pub fn pcp_batch(&self) -> u32 {
        self.pcp_batch.load(Relaxed)
    }

    pub fn pcp_high_min(&self) -> u32 {
        self.pcp_high_min.load(Relaxed)
    }

    pub fn pcp_high_max(&self) -> u32 {
        self.pcp_high_max.load(Relaxed)
    }

    /// The bounds every CPU's `high` for this zone keeps to.
    pub fn pcp_bounds(&self) -> HighBounds {
        HighBounds {
            min: self.pcp_high_min(),
            max: self.pcp_high_max(),
            batch: self.pcp_batch(),
        }
    }

    /// The span as Linux reports it (zone_start_pfn, spanned): for a
    /// hot-plug zone, from its lowest online frame to its highest (empty
    /// while nothing is online); for any other, `span`.
    pub fn reported_span(&self) -> ZoneSpan {
        if !self.hotplug {
            return self.span;
        }
        let start = self.online_ranges().map(|r| r.0).min().unwrap_or(0);
        let end = self.online_ranges().map(|r| r.1).max().unwrap_or(0);
        ZoneSpan {
            start_pfn: start,
            end_pfn: end,
            present: self.present(),
        }
    }

    /// True for a zone that takes hot-added memory.
    pub fn is_hotplug(&self) -> bool {
        self.hotplug
    }

    /// The frame ranges online in a hot-plug zone, in the order they came
    /// (a range taken offline leaves an empty slot, skipped here).
    pub fn online_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let n = self.nr_online.load(Acquire);
        self.online[..n]
            .iter()
            .map(|(s, e)| (s.load(Relaxed), e.load(Relaxed)))
            .filter(|(s, e)| s < e)
    }

    /// What a tune of the per-CPU lists' `high` needs of this zone:
    /// Linux's ZONE_BELOW_HIGH (the buddy allocator's free pages under the
    /// high watermark) and ZONE_RECLAIM_ACTIVE.
    #[inline]
    fn pcp_state(&self) -> ZoneState {
        ZoneState {
            below_high: self.nr_free.load(Relaxed) < self.watermarks().high,
            reclaim_active: self.reclaimers.load(Relaxed) > 0,
        }
    }

    /// Reclaim starts working on this zone's node (kswapd or a direct
    /// reclaimer); pair with [`reclaim_ended`](Self::reclaim_ended).
    pub fn reclaim_started(&self) {
        self.reclaimers.fetch_add(1, Relaxed);
    }

    pub fn reclaim_ended(&self) {
        self.reclaimers.fetch_sub(1, Relaxed);
    }

    #[inline]
    pub fn is_populated(&self) -> bool {
        self.present() > 0
    }

    /// Whether the zone holds frame `pfn`: inside its span, and for a
    /// hot-plug zone inside one of its online ranges (the rest of its
    /// span has no storage behind it).
    #[inline]
    pub fn contains(&self, pfn: u64) -> bool {
        let in_span = self.span.start_pfn <= pfn && pfn < self.span.end_pfn;
        if !self.hotplug {
            return in_span;
        }
        in_span && self.is_online(pfn)
    }

    /// The hot-plug half of [`contains`](Self::contains), out of line:
    /// `contains` is inlined into every free path.
    #[inline(never)]
    fn is_online(&self, pfn: u64) -> bool {
        self.online_ranges().any(|(s, e)| s <= pfn && pfn < e)
    }

    /// Free pages and free blocks per order, read under the zone lock.
    pub fn free_state(&self) -> (u64, [usize; MAX_ORDER + 1]) {
        match &*self.free_area.lock() {
            Some(b) => (b.free_pages() as u64, b.free_blocks()),
            None => (0, [0; MAX_ORDER + 1]),
        }
    }

    pub fn free_pages(&self) -> u64 {
        self.free_state().0
    }

    /// Free blocks per order and migratetype, and pageblocks per
    /// migratetype (/proc/pagetypeinfo), read under the zone lock.
    pub fn pagetype_state(&self) -> (FreeBlocksByType, [usize; MIGRATE_TYPES]) {
        match &*self.free_area.lock() {
            Some(b) => (b.free_blocks_by_type(), b.pageblocks_by_type()),
            None => Default::default(),
        }
    }

    /// Compaction's free scanner on `pfn`'s pageblock: its free pages,
    /// taken off the free lists as allocated order-0 movable pages (Linux's
    /// isolate_freepages_block, for a Movable or wholly free pageblock),
    /// each handed to `out`; returns how many. The caller masks interrupts.
    pub fn isolate_free_pageblock(&self, pfn: u64, mut out: impl FnMut(u64)) -> usize {
        let mut area = self.free_area.lock();
        let Some(buddy) = area.as_mut() else {
            return 0;
        };
        let n = buddy.isolate_free_pageblock(pfn, |p| {
            self.mark_allocated(p, 0, MigrateType::Movable);
            out(p)
        });
        self.publish(buddy);
        n
    }

    /// Whether a free block of `order` or more is on an ordinary free list.
    pub fn has_free_block(&self, order: usize) -> bool {
        self.free_area
            .lock()
            .as_ref()
            .is_some_and(|b| b.has_block(order, false))
    }

    /// Pages held in the high-order atomic reserve.
    pub fn reserved_highatomic(&self) -> u64 {
        self.reserved_highatomic.load(Relaxed)
    }

    /// Where the zone's page descriptors live.
    pub fn descriptors_addr(&self) -> Option<usize> {
        self.free_area.lock().as_ref().map(|b| b.descriptors_addr())
    }

    /// The lowest free page count an allocation with `flags` leaves this
    /// zone at, for one whose highest usable zone is `highest`.
    pub fn floor(&self, highest: ZoneType, flags: AllocFlags) -> u64 {
        flags.effective_mark(&self.watermarks()) + self.reserve_for(highest.index())
    }

    /// The watermark check on the lock-free count (Linux's
    /// zone_watermark_fast): enough for order 0; larger orders are checked
    /// again against the free blocks under the lock.
    #[inline]
    fn watermark_fast(&self, order: usize, reserve: u64, flags: AllocFlags) -> bool {
        let mut free = self.nr_free.load(Relaxed) as i64 - ((1i64 << order) - 1);
        if !flags.non_block {
            free -= self.reserved_highatomic.load(Relaxed) as i64;
        }
        let mark = self.watermarks[flags.mark as usize].load(Relaxed);
        free > (flags.effective(mark) + reserve) as i64
    }

    /// The watermark check on the buddy allocator's own counts, under
    /// the zone lock.
    #[inline]
    fn buddy_ok(&self, buddy: &Buddy, order: usize, reserve: u64, flags: AllocFlags) -> bool {
        // Only atomic callers may count, and use, the highatomic reserve
        // (Linux's __zone_watermark_unusable_free).
        let harder = flags.non_block;
        let unusable = if harder {
            0
        } else {
            buddy.reserved_highatomic()
        };
        watermark::watermark_ok(
            buddy.free_pages().saturating_sub(unusable) as u64,
            buddy.has_block(order, harder),
            order,
            &self.watermarks(),
            reserve,
            flags,
        )
    }

    /// One block of `order` and type `mt` straight from the buddy
    /// allocator, held to the watermark. An atomic request (Linux's
    /// ALLOC_HARDER) may use the highatomic reserve: first for high orders,
    /// last for any; a high-order one that succeeds grows the reserve by
    /// its pageblock.
    fn try_alloc(
        &self,
        order: usize,
        mt: MigrateType,
        reserve: u64,
        flags: AllocFlags,
    ) -> Option<u64> {
        let mut area = self.free_area.lock();
        let buddy = area.as_mut()?;
        let ok = self.buddy_ok(buddy, order, reserve, flags);
        let pfn = if !ok {
            None
        } else if flags.non_block {
            // High orders try the reserve first; every order falls back to
            // it last (Linux 6.6's rmqueue_buddy: order-0 atomic requests
            // may use the highatomic reserve when all else failed).
            let first = (order > 0)
                .then(|| buddy.alloc(order, MigrateType::HighAtomic))
                .flatten();
            let pfn = first
                .or_else(|| buddy.alloc(order, mt))
                .or_else(|| buddy.alloc(order, MigrateType::HighAtomic));
            if let Some(p) = pfn.filter(|_| order > 0) {
                buddy.reserve_highatomic(p, self.managed());
            }
            pfn
        } else {
            buddy.alloc(order, mt)
        };
        self.publish(buddy);
        pfn
    }

    /// The lock-free copies of the buddy allocator's counts.
    #[inline]
    fn publish(&self, buddy: &Buddy) {
        // Isolated pages are free but not for allocation: the watermarks
        // do not count them (Linux keeps them out of NR_FREE_PAGES).
        let usable = buddy.free_pages() - buddy.isolated_free_pages();
        self.nr_free.store(usable as u64, Relaxed);
        self.reserved_highatomic
            .store(buddy.reserved_highatomic() as u64, Relaxed);
    }

    /// Linux's unreserve_highatomic_pageblock for this zone: one HighAtomic
    /// pageblock back to `mt` (with `force`, even the reserve's last).
    fn unreserve_highatomic(&self, mt: MigrateType, force: bool) -> bool {
        let mut area = self.free_area.lock();
        let Some(buddy) = area.as_mut() else {
            return false;
        };
        let done = buddy.unreserve_highatomic(mt, force);
        self.publish(buddy);
        done
    }

    /// Takes up to `count` blocks of `order` for a per-CPU list, each only
    /// while the zone stays above the caller's watermark (Linux refills
    /// without looking; checking keeps a refill from taking a zone below
    /// the floor its caller was held to).
    fn take_bulk(
        &self,
        order: usize,
        mt: MigrateType,
        count: usize,
        reserve: u64,
        flags: AllocFlags,
        mut out: impl FnMut(u64),
    ) {
        let mut area = self.free_area.lock();
        let Some(buddy) = area.as_mut() else {
            return;
        };
        // When the whole batch leaves the zone above the mark, one check
        // does for all of it; otherwise each block is checked.
        let floor = flags.effective_mark(&self.watermarks()) + reserve;
        let whole_batch_fits = buddy.free_pages() as u64 > floor + ((count as u64) << order);
        if whole_batch_fits && buddy.reserved_highatomic() == 0 {
            buddy.alloc_bulk(order, mt, count, out);
            self.publish(buddy);
            return;
        }
        for _ in 0..count {
            if !self.buddy_ok(buddy, order, reserve, flags) {
                break;
            }
            match buddy.alloc(order, mt) {
                Some(pfn) => out(pfn),
                None => break,
            }
        }
        self.publish(buddy);
    }

    /// Returns blocks (already validated) to the buddy allocator: `blocks`
    /// frees each with [`give`] under the zone lock.
    fn give_back(&self, blocks: impl FnOnce(&mut Buddy<'a>)) {
        let mut area = self.free_area.lock();
        let Some(buddy) = area.as_mut() else {
            return;
        };
        blocks(buddy);
        self.publish(buddy);
    }

    #[inline]
    fn state(&self, pfn: u64) -> Option<&AtomicU8> {
        self.alloc_state
            .get(pfn.checked_sub(self.span.start_pfn)? as usize)
    }

    #[inline]
    fn mark_allocated(&self, pfn: u64, order: usize, mt: MigrateType) {
        if let Some(s) = self.state(pfn) {
            s.store(alloc_state(order, mt), Release);
        }
    }

    /// As `mark_allocated`, for the block at `offset` frames into the span
    /// (what the per-CPU lists hold: no conversion to a frame and back).
    #[inline(always)]
    fn mark_allocated_at(&self, offset: u32, order: usize, mt: MigrateType) {
        if let Some(s) = self.alloc_state.get(offset as usize) {
            s.store(alloc_state(order, mt), Release);
        }
    }

    /// Claims the block for freeing: it must be an allocated head of
    /// exactly `order`. Anything else is refused with the buddy
    /// allocator's own reason, and nothing changes. Returns the per-CPU
    /// list type the block was allocated as.
    fn claim_for_free(&self, pfn: u64, order: usize) -> Result<usize, FreeError> {
        if order > MAX_ORDER {
            return Err(FreeError::BadOrder { order });
        }
        let state = self.state(pfn).ok_or(FreeError::OutOfZone { pfn })?;
        let mut v = state.load(Acquire);
        while v & STATE_ORDER == order as u8 + 1 {
            match state.compare_exchange(v, 0, AcqRel, Acquire) {
                Ok(_) => return Ok((v >> STATE_MT_SHIFT) as usize),
                Err(now) => v = now,
            }
        }
        match v & STATE_ORDER {
            0 => Err(match self.free_area.lock().as_ref() {
                // An allocated head in the buddy's view with no owner: it
                // sits on a per-CPU list, so this is a second free.
                Some(b) => match b.check_free(pfn, order) {
                    Ok(_) | Err(FreeError::WrongOrder { .. }) => FreeError::AlreadyFree { pfn },
                    Err(e) => e,
                },
                None => FreeError::OutOfZone { pfn },
            }),
            o => Err(FreeError::WrongOrder {
                pfn,
                allocated: o as usize - 1,
                freed: order,
            }),
        }
    }
}

/// A zone named by node and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneRef {
    pub node: u8,
    pub zone: ZoneType,
}

/// The zones an allocation may use, in the order it tries them. Rebuilt
/// in place when memory comes online, so its entries are atomics: a
/// reader racing a rebuild sees a mix of the two lists (every zone it
/// names is real), and the allocator retries what failed meanwhile (the
/// zonelist generation, as Linux's zonelist_update_seq).
pub struct Zonelist {
    refs: [AtomicU16; MAX_ZONEREFS],
    len: AtomicUsize,
}

impl ZoneRef {
    fn pack(self) -> u16 {
        (self.node as u16) << 8 | self.zone.index() as u16
    }

    fn unpack(v: u16) -> ZoneRef {
        ZoneRef {
            node: (v >> 8) as u8,
            zone: ZoneType::ALL[(v & 0xff) as usize % NR_ZONES],
        }
    }
}

impl Zonelist {
    const fn empty() -> Self {
        Zonelist {
            refs: [const { AtomicU16::new(0) }; MAX_ZONEREFS],
            len: AtomicUsize::new(0),
        }
    }

    /// Replaces the list (entries first, then the length).
    fn set(&self, refs: &[ZoneRef]) {
        for (slot, r) in self.refs.iter().zip(refs) {
            slot.store(r.pack(), Relaxed);
        }
        self.len.store(refs.len().min(MAX_ZONEREFS), Release);
    }

    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = ZoneRef> + '_ {
        let len = self.len.load(Acquire);
        self.refs[..len]
            .iter()
            .map(|r| ZoneRef::unpack(r.load(Relaxed)))
    }

    /// The nodes in the order the list visits them (each once).
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        let mut last = None;
        self.iter().filter_map(move |r| {
            let n = r.node as NodeId;
            (last.replace(n) != Some(n)).then_some(n)
        })
    }
}

mod zonelist_build {
    use super::{ZoneRef, MAX_ZONEREFS};
    use crate::zone::ZoneType;
    use numa::NodeId;

    /// A zonelist being built, before it is stored.
    pub struct RefList {
        pub refs: [ZoneRef; MAX_ZONEREFS],
        pub len: usize,
    }

    impl RefList {
        pub fn new() -> Self {
            RefList {
                refs: [ZoneRef {
                    node: 0,
                    zone: ZoneType::Dma,
                }; MAX_ZONEREFS],
                len: 0,
            }
        }

        pub fn push(&mut self, node: NodeId, zone: ZoneType) {
            if self.len < MAX_ZONEREFS {
                self.refs[self.len] = ZoneRef {
                    node: node as u8,
                    zone,
                };
                self.len += 1;
            }
        }

        pub fn as_slice(&self) -> &[ZoneRef] {
            &self.refs[..self.len]
        }
    }
}

/// One node's memory (Linux's pglist_data).
pub struct Node<'a> {
    pub id: NodeId,
    pub zones: [Zone<'a>; NR_ZONES],
    /// Fallback order: this node, then the others by distance.
    pub zonelist: Zonelist,
    /// This node only (__GFP_THISNODE).
    pub zonelist_thisnode: Zonelist,
    /// By the highest zone a request may use: the first zone of
    /// `zonelist` it may use, where its allocations try first, as its
    /// index in the allocator's `zone_table` (NO_ZONE: none).
    first_zone: [AtomicU16; NR_ZONES],
}

/// No zone (a `first_zone` slot without one).
const NO_ZONE: u16 = u16::MAX;

impl<'a> Node<'a> {
    pub fn new(id: NodeId, zones: [Zone<'a>; NR_ZONES]) -> Self {
        Node {
            id,
            zones,
            zonelist: Zonelist::empty(),
            zonelist_thisnode: Zonelist::empty(),
            first_zone: [const { AtomicU16::new(NO_ZONE) }; NR_ZONES],
        }
    }

    #[inline]
    pub fn zone(&self, kind: ZoneType) -> &Zone<'a> {
        &self.zones[kind.index()]
    }

    pub fn zone_mut(&mut self, kind: ZoneType) -> &mut Zone<'a> {
        &mut self.zones[kind.index()]
    }

    pub fn managed(&self) -> u64 {
        self.zones.iter().map(|z| z.managed()).sum()
    }

    /// RAM pages present on the node: ZONE_DEVICE (persistent memory) is
    /// not RAM, and Linux does not count it in the node's present pages.
    pub fn present(&self) -> u64 {
        self.zones
            .iter()
            .filter(|z| z.kind != ZoneType::Device)
            .map(|z| z.present())
            .sum()
    }

    fn push_zones(&self, list: &mut zonelist_build::RefList) {
        for z in self.zones.iter().rev().filter(|z| z.is_populated()) {
            list.push(self.id, z.kind);
        }
    }
}

/// What the allocator asks of reclaim. The defaults do nothing: there is
/// no reclaim until the kernel provides one.
pub trait Reclaim {
    /// Wake the node's background reclaimer for an allocation of `order`
    /// whose highest zone is `highest` (Linux's wakeup_kswapd, which
    /// wakes kcompactd instead where the node is balanced).
    fn wake_kswapd(&self, _node: NodeId, _order: usize, _highest: ZoneType, _gfp: Gfp) {}
    /// Reclaim for a caller that may sleep, from the nodes of `node`'s
    /// zonelist; returns the pages freed.
    fn direct_reclaim(&self, _ctx: ReclaimContext, _order: usize, _node: NodeId) -> u64 {
        0
    }
    /// Reclaim made no progress: kill something (Linux's out_of_memory).
    /// True when memory was (or is being) freed, so the allocation should
    /// try again. Only asked for allocations [`crate::oom::may_oom`] allows.
    /// `allowed`: the nodes a bind policy confines the allocation to
    /// (Linux's CONSTRAINT_MEMORY_POLICY); None for the whole machine.
    fn out_of_memory(
        &self,
        _gfp: Gfp,
        _order: usize,
        _allowed: Option<crate::mempolicy::NodeMask>,
    ) -> bool {
        false
    }
    /// A __GFP_NOFAIL allocation is waiting; called between attempts.
    fn nofail_wait(&self, _attempt: u64) {}
    /// Every CPU should give its per-CPU page lists back (the allocator
    /// has already drained the calling CPU's).
    fn drain_all_pages(&self) {}
    /// Direct compaction for an allocation of `order` from the zones of
    /// `node`'s zonelist up to `highest` (`sync`: wait for busy pages):
    /// None when no zone was compacted (all deferred or unsuitable), else
    /// whether a block of that order is free now.
    fn compact(
        &self,
        _order: usize,
        _node: NodeId,
        _highest: ZoneType,
        _sync: bool,
    ) -> Option<bool> {
        None
    }
    /// After compaction ran for an allocation: whether it then got its
    /// block (Linux's compact_success / compact_fail).
    fn compaction_outcome(&self, _got_page: bool) {}
}

/// No reclaim at all.
pub struct NoReclaim;
impl Reclaim for NoReclaim {}

/// One allocation request.
#[derive(Clone, Copy)]
pub struct Request<'p> {
    pub gfp: Gfp,
    pub order: usize,
    /// The node to allocate on; `None` means the caller's own (NUMA_NO_NODE).
    pub node: Option<NodeId>,
    /// The node of the CPU that allocates.
    pub cpu_node: NodeId,
    /// An interleaved allocation (counts interleave_hit when it lands on `node`).
    pub interleave: bool,
    /// The only nodes it may use (a bind or prefer (many) policy); None
    /// for any. The zonelist is still `node`'s, nearest first.
    pub allowed: Option<crate::mempolicy::NodeMask>,
    /// The calling CPU's page lists, if it has them.
    pub pcp: Option<PcpSet<'p>>,
}

/// A successful allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub pfn: u64,
    pub node: NodeId,
    pub zone: ZoneType,
    /// Passes of direct reclaim it took.
    pub reclaim_passes: u32,
}

/// Why an allocation returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// Order above MAX_ORDER: no block that large exists.
    OrderTooLarge,
    /// The GFP mask names two zones.
    BadMask(BadGfp),
    /// No zone the request may use exists (e.g. GFP_DMA on a machine whose
    /// DMA zone is empty, or __GFP_THISNODE on a memory-less node).
    NoEligibleZone,
    /// Every eligible zone is at its watermark.
    NoMemory { reclaim_passes: u32 },
}

/// The allocator over all nodes.
pub struct PageAllocator<'a> {
    nodes: [Option<&'a Node<'a>>; MAX_NUMNODES],
    /// `min_free_kbytes=` from the command line, kept over every
    /// recomputation (Linux's user_min_free_kbytes).
    min_free_kbytes_set: Option<u64>,
    min_free_kbytes: AtomicU64,
    /// Managed pages of all zones (Linux's totalram_pages).
    totalram_pages: AtomicU64,
    /// Zones with storage, for frame -> zone lookups: the populated ones
    /// by start frame (`nr_by_pfn` of them), then the hot-plug zones.
    by_pfn: [Option<&'a Zone<'a>>; MAX_ZONEREFS],
    nr_by_pfn: usize,
    nr_hotplug: usize,
    /// Every zone by node * NR_ZONES + type: what `first_zone` indexes.
    zone_table: [Option<&'a Zone<'a>>; MAX_ZONEREFS],
    /// Frame >> zone_map_shift -> 1 + index in `by_pfn` (or NONE, MIXED):
    /// the zone of a freed frame in one load (Linux keeps it in struct
    /// page's flags). Rewritten when memory comes online.
    zone_map: [AtomicU16; ZONE_MAP_ENTRIES],
    zone_map_shift: u32,
    /// Bumped by every zonelist rebuild (Linux's zonelist_update_seq).
    zonelist_generation: AtomicU64,
    /// Every CPU's page lists, for the counts and NUMA events they hold.
    pcp_sets: PcpRegistry<'a>,
    /// Operations that found their CPU's lists in use under them (an
    /// interrupt over the fast path) and went to the buddy allocator.
    pub pcp_bypasses: AtomicU64,
    interleave_next: AtomicUsize,
    /// Allocations that returned nothing.
    pub failures: AtomicU64,
    /// Frees refused as invalid.
    pub bad_frees: AtomicU64,
}

/// Why memory could not go offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfflineError {
    /// The node has no zone that takes hot-added memory.
    NoHotplugZone,
    /// The range is not one that came online (whole) in that zone.
    NotOnline,
    /// A frame of the range is still in use (the first one found).
    Busy { pfn: u64 },
    /// The buddy allocator's table of managed ranges cannot split around it.
    TooManyRanges,
}

/// Why memory could not come online.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnlineError {
    /// The node has no zone that takes hot-added memory (none was set up
    /// at boot: no hot-pluggable SRAT range, or its ZONE_MOVABLE already
    /// holds boot memory).
    NoHotplugZone,
    /// Outside the zone's span, empty, or not in whole MAX_ORDER blocks.
    BadRange,
    /// It overlaps a range already online.
    Overlaps,
    /// The zone has taken as many ranges as it can hold.
    TooManyRanges,
}

impl<'a> PageAllocator<'a> {
    /// Completes the nodes (watermarks, lowmem_reserve, zonelists) and
    /// makes them shared. `min_free_kbytes` overrides Linux's default; it is
    /// clamped to [`watermark::max_min_free_kbytes`] (the caller compares).
    pub fn new(
        mut nodes: [Option<&'a mut Node<'a>>; MAX_NUMNODES],
        topology: &Topology,
        min_free_kbytes: Option<u64>,
    ) -> Self {
        // Every zone with storage gets a slot in the per-CPU lists, a
        // hot-plug zone too (its lists stay empty until memory arrives).
        let mut pcp_index = 0;
        for node in nodes.iter_mut().flatten() {
            for z in node.zones.iter_mut() {
                if z.is_populated() || z.hotplug {
                    z.pcp_index = pcp_index;
                    pcp_index += 1;
                }
            }
        }
        let mut shared: [Option<&'a Node<'a>>; MAX_NUMNODES] = [None; MAX_NUMNODES];
        for (slot, node) in shared.iter_mut().zip(nodes) {
            *slot = node.map(|n| &*n);
        }
        let mut by_pfn = [None; MAX_ZONEREFS];
        let mut nr_by_pfn = 0;
        for z in shared.iter().flatten().flat_map(|n| n.zones.iter()) {
            if z.is_populated() && !z.hotplug {
                by_pfn[nr_by_pfn] = Some(z);
                nr_by_pfn += 1;
            }
        }
        // At most a few dozen zones: an insertion sort, not the standard
        // library's (whose sorting networks cost several KiB of image).
        let key = |z: &Option<&Zone>| z.map_or(0, |z| z.span.start_pfn);
        for i in 1..nr_by_pfn {
            let mut j = i;
            while j > 0 && key(&by_pfn[j - 1]) > key(&by_pfn[j]) {
                by_pfn.swap(j - 1, j);
                j -= 1;
            }
        }
        let mut nr_hotplug = 0;
        for z in shared.iter().flatten().flat_map(|n| n.zones.iter()) {
            if z.hotplug {
                by_pfn[nr_by_pfn + nr_hotplug] = Some(z);
                nr_hotplug += 1;
            }
        }
        let map_end = by_pfn
            .iter()
            .flatten()
            .map(|z| z.span.end_pfn)
            .max()
            .unwrap_or(0);
        let mut zone_table = [None; MAX_ZONEREFS];
        for n in shared.iter().flatten() {
            for (k, z) in n.zones.iter().enumerate() {
                zone_table[n.id * NR_ZONES + k] = Some(z);
            }
        }
        let mut zone_map_shift = 9;
        while (map_end >> zone_map_shift) > ZONE_MAP_ENTRIES as u64 {
            zone_map_shift += 1;
        }
        let a = PageAllocator {
            nodes: shared,
            min_free_kbytes_set: min_free_kbytes,
            min_free_kbytes: AtomicU64::new(0),
            totalram_pages: AtomicU64::new(0),
            by_pfn,
            nr_by_pfn,
            nr_hotplug,
            zone_table,
            zone_map: [const { AtomicU16::new(ZONE_MAP_NONE) }; ZONE_MAP_ENTRIES],
            zone_map_shift,
            zonelist_generation: AtomicU64::new(0),
            pcp_sets: PcpRegistry::new(pcp_index),
            pcp_bypasses: AtomicU64::new(0),
            interleave_next: AtomicUsize::new(0),
            failures: AtomicU64::new(0),
            bad_frees: AtomicU64::new(0),
        };
        a.setup_zone_parameters(topology);
        a.build_zonelists(topology);
        a.build_zone_map();
        a
    }

    /// min_free_kbytes, watermarks, lowmem_reserve and the per-CPU list
    /// bounds of every zone from the managed pages now (Linux's
    /// init_per_zone_wmark_min, at boot and after memory comes online).
    fn setup_zone_parameters(&self, topology: &Topology) {
        let all_zones = || self.nodes.iter().flatten().flat_map(|n| n.zones.iter());
        let lowmem = watermark::lowmem_pages(all_zones().map(|z| (z.kind, z.managed())));
        let min_free_kbytes = self
            .min_free_kbytes_set
            .unwrap_or_else(|| {
                // Linux's order: watermarks from the square-root default at
                // boot, then khugepaged's raise for huge pages, computed
                // from those watermarks.
                let default = watermark::default_min_free_kbytes(lowmem);
                let kernel_zones =
                    || all_zones().filter(|z| z.is_populated() && z.kind <= ZoneType::Normal);
                let free_buffer_pages: u64 = kernel_zones()
                    .map(|z| {
                        let high =
                            watermark::zone_watermarks(z.kind, z.managed(), default, lowmem).high;
                        z.managed().saturating_sub(high)
                    })
                    .sum();
                let zones = kernel_zones().count() as u64;
                default.max(watermark::recommended_min_free_kbytes(
                    zones,
                    free_buffer_pages,
                ))
            })
            .min(watermark::max_min_free_kbytes(lowmem));
        self.min_free_kbytes.store(min_free_kbytes, Relaxed);
        let cpus_online = topology.cpus().len() as u32;
        for node in self.nodes.iter().flatten() {
            let managed: [u64; NR_ZONES] = core::array::from_fn(|i| node.zones[i].managed());
            let reserve = watermark::lowmem_reserve(&managed);
            let cpus_on_node = topology.cpus_of(node.id).count() as u32;
            for (i, z) in node.zones.iter().enumerate() {
                let marks =
                    watermark::zone_watermarks(z.kind, z.managed(), min_free_kbytes, lowmem);
                z.set_watermarks(marks);
                for (slot, &r) in z.lowmem_reserve.iter().zip(&reserve[i]) {
                    slot.store(r, Relaxed);
                }
                if z.is_populated() {
                    let batch = pcp::batch_size(z.managed());
                    z.pcp_batch.store(batch, Relaxed);
                    z.pcp_high_min.store(
                        pcp::high_min(marks.low, batch, cpus_on_node, cpus_online),
                        Relaxed,
                    );
                    z.pcp_high_max.store(
                        pcp::high_max(z.managed(), batch, cpus_on_node, cpus_online),
                        Relaxed,
                    );
                }
            }
        }
        self.totalram_pages
            .store(all_zones().map(|z| z.managed()).sum(), Relaxed);
    }

    /// Zonelists: nodes by Linux's find_next_best_node, each node's
    /// populated zones from the highest type down.
    fn build_zonelists(&self, topology: &Topology) {
        for id in 0..MAX_NUMNODES {
            let Some(node) = self.nodes[id] else {
                continue;
            };
            let mut list = zonelist_build::RefList::new();
            let mut used = [false; MAX_NUMNODES];
            while let Some(next) = topology.next_best_node(id, &used) {
                used[next] = true;
                if let Some(n) = self.nodes[next] {
                    n.push_zones(&mut list);
                }
            }
            let mut own = zonelist_build::RefList::new();
            node.push_zones(&mut own);
            for (highest, slot) in node.first_zone.iter().enumerate() {
                let first = list.as_slice().iter().find(|r| r.zone.index() <= highest);
                let index = first.map_or(NO_ZONE, |r| {
                    (r.node as usize * NR_ZONES + r.zone.index()) as u16
                });
                slot.store(index, Relaxed);
            }
            node.zonelist.set(list.as_slice());
            node.zonelist_thisnode.set(own.as_slice());
        }
        self.zonelist_generation.fetch_add(1, Release);
    }

    /// How many times the zonelists were built: an allocation that
    /// failed while this moved tries again.
    pub fn zonelist_generation(&self) -> u64 {
        self.zonelist_generation.load(Acquire)
    }

    fn build_zone_map(&self) {
        let zones = &self.by_pfn[..self.nr_by_pfn + self.nr_hotplug];
        let shift = self.zone_map_shift;
        for (e, entry) in self.zone_map.iter().enumerate() {
            let (lo, hi) = ((e as u64) << shift, ((e as u64) + 1) << shift);
            let mut v = ZONE_MAP_NONE;
            for (i, z) in zones.iter().enumerate() {
                let Some(z) = z else { continue };
                let overlaps = |&(s, end): &(u64, u64)| s < hi && lo < end;
                let covers = |&(s, end): &(u64, u64)| s <= lo && hi <= end;
                let span = (z.span.start_pfn, z.span.end_pfn);
                let (hit, whole) = if z.hotplug {
                    (
                        z.online_ranges().any(|r| overlaps(&r)),
                        z.online_ranges().any(|r| covers(&r)),
                    )
                } else {
                    (overlaps(&span), covers(&span))
                };
                if hit {
                    v = if v != ZONE_MAP_NONE {
                        ZONE_MAP_MIXED
                    } else if whole {
                        i as u16 + 1
                    } else {
                        (i as u16 + 1) | ZONE_MAP_PARTIAL
                    };
                }
            }
            entry.store(v, Relaxed);
        }
    }

    /// Brings frames `[start, end)` online in `node`'s hot-plug zone: the
    /// buddy allocator takes them as Movable pageblocks, and watermarks,
    /// per-CPU list bounds, the zonelists and the frame -> zone map are
    /// built again (Linux's online_pages). The storage of those frames
    /// must be backed and zeroed before. One caller at a time (memory
    /// hotplug is serialised by its caller, as Linux's mem_hotplug_lock).
    pub fn online_range(
        &self,
        node: NodeId,
        start: u64,
        end: u64,
        topology: &Topology,
    ) -> Result<u64, OnlineError> {
        let zone = self
            .node(node)
            .map(|n| n.zone(ZoneType::Movable))
            .filter(|z| z.hotplug)
            .ok_or(OnlineError::NoHotplugZone)?;
        let block = 1u64 << MAX_ORDER;
        if start >= end
            || start < zone.span.start_pfn
            || end > zone.span.end_pfn
            || !start.is_multiple_of(block)
            || !end.is_multiple_of(block)
        {
            return Err(OnlineError::BadRange);
        }
        if self
            .zones()
            .any(|z| (start..end).step_by(block as usize).any(|p| z.contains(p)))
        {
            return Err(OnlineError::Overlaps);
        }
        // A slot a range offline left empty, else a new one.
        let n = zone.nr_online.load(Relaxed);
        let slot = (0..n)
            .find(|&i| zone.online[i].0.load(Relaxed) >= zone.online[i].1.load(Relaxed))
            .unwrap_or(n);
        if slot == MAX_ONLINE_RANGES {
            return Err(OnlineError::TooManyRanges);
        }
        // The range is published before its pages are free, so that
        // every page handed out is found again by its free.
        zone.online[slot].0.store(start, Relaxed);
        zone.online[slot].1.store(end, Release);
        if slot == n {
            zone.nr_online.store(n + 1, Release);
        }
        // The map too: a page handed out from the range as soon as it is
        // free must find its zone when it is freed.
        self.build_zone_map();
        let added = {
            let mut area = zone.free_area.lock();
            let buddy = area.as_mut().ok_or(OnlineError::NoHotplugZone)?;
            let added = buddy.add_free_range(start, end) as u64;
            zone.publish(buddy);
            added
        };
        zone.present.fetch_add(end - start, Relaxed);
        zone.managed.fetch_add(added, Relaxed);
        self.setup_zone_parameters(topology);
        self.build_zonelists(topology);
        Ok(added)
    }

    /// The hot-plug zone of `node` holding exactly the online range
    /// `[start, end)`, and that range's slot.
    fn online_slot(
        &self,
        node: NodeId,
        start: u64,
        end: u64,
    ) -> Result<(&'a Zone<'a>, usize), OfflineError> {
        let zone = self
            .node(node)
            .map(|n| n.zone(ZoneType::Movable))
            .filter(|z| z.hotplug)
            .ok_or(OfflineError::NoHotplugZone)?;
        let n = zone.nr_online.load(Acquire);
        let slot = (0..n)
            .find(|&i| {
                (
                    zone.online[i].0.load(Relaxed),
                    zone.online[i].1.load(Relaxed),
                ) == (start, end)
            })
            .ok_or(OfflineError::NotOnline)?;
        Ok((zone, slot))
    }

    /// Takes the online range `[start, end)` of `node`'s hot-plug zone
    /// out of use (Linux's start_isolate_page_range): its pageblocks become
    /// Isolate, so nothing is allocated from it and pages freed into it
    /// stay free, while its users are migrated away. Undone by
    /// [`undo_isolate_range`](Self::undo_isolate_range); completed by
    /// [`offline_range`](Self::offline_range).
    pub fn isolate_range(&self, node: NodeId, start: u64, end: u64) -> Result<(), OfflineError> {
        self.set_range_type(node, start, end, MigrateType::Isolate)
    }

    /// Gives an isolated range back to allocations (a refused offline).
    pub fn undo_isolate_range(
        &self,
        node: NodeId,
        start: u64,
        end: u64,
    ) -> Result<(), OfflineError> {
        self.set_range_type(node, start, end, MigrateType::Movable)
    }

    fn set_range_type(
        &self,
        node: NodeId,
        start: u64,
        end: u64,
        mt: MigrateType,
    ) -> Result<(), OfflineError> {
        let (zone, _) = self.online_slot(node, start, end)?;
        let mut area = zone.free_area.lock();
        let buddy = area.as_mut().ok_or(OfflineError::NoHotplugZone)?;
        buddy.set_range_type(start, end, mt);
        zone.publish(buddy);
        Ok(())
    }

    /// Takes the isolated range `[start, end)` offline (Linux's
    /// offline_pages once the range is empty): refused with the first
    /// frame still in use (allocated, or parked on a CPU's list: the
    /// caller drains those first); otherwise its pages leave the buddy
    /// allocator and the zone, and watermarks, per-CPU list bounds, the
    /// frame -> zone map and the zonelists are built again. Returns the
    /// pages taken. One caller at a time, as for `online_range`.
    pub fn offline_range(
        &self,
        node: NodeId,
        start: u64,
        end: u64,
        topology: &Topology,
    ) -> Result<u64, OfflineError> {
        let (zone, slot) = self.online_slot(node, start, end)?;
        let removed = {
            let mut area = zone.free_area.lock();
            let buddy = area.as_mut().ok_or(OfflineError::NoHotplugZone)?;
            if let Some(pfn) = buddy.first_busy(start, end) {
                return Err(OfflineError::Busy { pfn });
            }
            let removed = buddy
                .remove_free_range(start, end)
                .ok_or(OfflineError::TooManyRanges)? as u64;
            zone.publish(buddy);
            removed
        };
        // No page of the range is in use, so no free looks it up any more.
        zone.online[slot].1.store(0, Relaxed);
        zone.online[slot].0.store(0, Release);
        zone.present.fetch_sub(end - start, Relaxed);
        zone.managed.fetch_sub(removed, Relaxed);
        self.setup_zone_parameters(topology);
        self.build_zone_map();
        self.build_zonelists(topology);
        Ok(removed)
    }

    pub fn node(&self, id: NodeId) -> Option<&'a Node<'a>> {
        self.nodes.get(id).copied().flatten()
    }

    pub fn nodes(&self) -> impl Iterator<Item = &'a Node<'a>> + '_ {
        self.nodes.iter().flatten().copied()
    }

    pub fn zones(&self) -> impl Iterator<Item = &'a Zone<'a>> + '_ {
        self.nodes().flat_map(|n| n.zones.iter())
    }

    /// Managed pages of all zones, kept (Linux's totalram_pages).
    pub fn totalram_pages(&self) -> u64 {
        self.totalram_pages.load(Relaxed)
    }

    pub fn min_free_kbytes(&self) -> u64 {
        self.min_free_kbytes.load(Relaxed)
    }

    /// How many per-CPU page lists each CPU needs (one per populated or
    /// hot-plug zone).
    pub fn nr_pcp_zones(&self) -> usize {
        self.nr_by_pfn + self.nr_hotplug
    }

    /// The allocated block `pfn` lies in: its head frame and order, from
    /// the allocation-state bytes (blocks are naturally aligned, so the
    /// head of an order-k block is `pfn` with its low k bits cleared).
    pub fn block_of(&self, pfn: u64) -> Option<(u64, usize)> {
        let zone = self.zone_of(pfn)?;
        (0..=MAX_ORDER).find_map(|order| {
            let head = pfn & !((1u64 << order) - 1);
            let state = zone.state(head)?.load(Acquire);
            (state & STATE_ORDER == order as u8 + 1).then_some((head, order))
        })
    }

    /// The node an allocation for `node` with `gfp` tries first: the first
    /// of its zonelist with a zone the mask may use (the node itself,
    /// unless it has no such memory).
    pub fn preferred_node(&self, node: NodeId, gfp: Gfp) -> NodeId {
        let highest = gfp.zone().unwrap_or(ZoneType::Normal);
        self.node(node)
            .and_then(|n| n.zonelist.iter().find(|r| r.zone <= highest))
            .map_or(node, |r| r.node as NodeId)
    }

    /// The zone holding `pfn`, if any zone spans it: one load from the
    /// zone map, a search only where zones meet inside one of its entries.
    #[inline(always)]
    pub fn zone_of(&self, pfn: u64) -> Option<&'a Zone<'a>> {
        match self
            .zone_map
            .get((pfn >> self.zone_map_shift) as usize)
            .map(|e| e.load(Relaxed))
        {
            Some(ZONE_MAP_NONE) => None,
            Some(ZONE_MAP_MIXED) | None => self.search_zone(pfn),
            Some(i) if i & ZONE_MAP_PARTIAL == 0 => self.by_pfn[i as usize - 1],
            Some(i) => {
                self.by_pfn[(i & !ZONE_MAP_PARTIAL) as usize - 1].filter(|z| z.contains(pfn))
            }
        }
    }

    #[inline(never)]
    fn search_zone(&self, pfn: u64) -> Option<&'a Zone<'a>> {
        let table = &self.by_pfn[..self.nr_by_pfn];
        let boot = table
            .partition_point(|z| z.is_some_and(|z| z.span.start_pfn <= pfn))
            .checked_sub(1)
            .and_then(|i| table[i].filter(|z| z.contains(pfn)));
        boot.or_else(|| {
            self.by_pfn[self.nr_by_pfn..self.nr_by_pfn + self.nr_hotplug]
                .iter()
                .flatten()
                .copied()
                .find(|z| z.contains(pfn))
        })
    }

    /// Makes CPU `cpu`'s lists known, so that reports and conservation
    /// checks count the pages and NUMA events they hold. False (and
    /// nothing kept) for a CPU number out of range or a set too short.
    pub fn register_pcp(&self, cpu: usize, lists: &'a [PerCpuPages]) -> bool {
        self.pcp_sets.register(cpu, lists)
    }

    /// Every registered CPU's lists: (cpu, lists).
    pub fn pcp_sets(&self) -> impl Iterator<Item = (usize, &'a [PerCpuPages])> + '_ {
        self.pcp_sets.iter()
    }

    /// Pages of `zone` parked on every CPU's lists.
    pub fn parked_pages(&self, zone: &Zone) -> u64 {
        if !zone.is_populated() {
            return 0;
        }
        self.pcp_sets()
            .map(|(_, l)| l[zone.pcp_index].count() as u64)
            .sum()
    }

    /// A zone's NUMA counters: its own plus the events of allocations
    /// served from every CPU's lists.
    pub fn zone_stats(&self, zone: &Zone) -> [u64; NR_NUMA_STATS] {
        let mut sum = zone.stats.snapshot();
        if zone.is_populated() {
            for (_, lists) in self.pcp_sets() {
                for (s, v) in sum.iter_mut().zip(lists[zone.pcp_index].events()) {
                    *s += v;
                }
            }
        }
        sum
    }

    /// The zonelist a request walks, and the highest zone it may use.
    fn zonelist_for(&self, req: &Request) -> Result<(&'a Zonelist, ZoneType), AllocError> {
        if req.order > MAX_ORDER {
            return Err(AllocError::OrderTooLarge);
        }
        let highest = req.gfp.zone().map_err(AllocError::BadMask)?;
        let nid = req.node.unwrap_or(req.cpu_node);
        let node = self.node(nid).ok_or(AllocError::NoEligibleZone)?;
        let list = if req.gfp.contains(Gfp::THISNODE) {
            &node.zonelist_thisnode
        } else {
            &node.zonelist
        };
        Ok((list, highest))
    }

    /// One walk of the zonelist against a watermark, for `req`'s order,
    /// migratetype, CPU lists and allowed nodes.
    fn get_page_from_freelist(
        &self,
        list: &Zonelist,
        highest: ZoneType,
        flags: AllocFlags,
        req: &Request,
    ) -> Option<(u64, &'a Zone<'a>)> {
        let (order, mt, pcp, allowed) = (req.order, req.gfp.migratetype(), req.pcp, req.allowed);
        let ok = |node: u8| allowed.is_none_or(|m| m & 1 << node != 0);
        for r in list.iter().filter(|r| r.zone <= highest && ok(r.node)) {
            let zone = self.node(r.node as NodeId)?.zone(r.zone);
            let reserve = zone.reserve_for(highest.index());
            let from_lists = match pcp {
                Some(pcp) if order <= PCP_MAX_ORDER && zone.is_populated() => {
                    if !zone.watermark_fast(order, reserve, flags) {
                        continue;
                    }
                    self.take_from_pcp(zone, pcp, order, mt, reserve, flags)
                        .or_else(|| {
                            // An atomic request may still have the
                            // highatomic reserve (Linux's rmqueue_buddy).
                            flags
                                .non_block
                                .then(|| zone.try_alloc(order, mt, reserve, flags))
                                .flatten()
                        })
                }
                _ => zone.try_alloc(order, mt, reserve, flags),
            };
            if let Some(pfn) = from_lists {
                zone.mark_allocated(pfn, order, mt);
                return Some((pfn, zone));
            }
        }
        None
    }

    /// Takes a block from this CPU's list, refilling it from the buddy
    /// allocator `batch` pages at a time when empty; straight from the
    /// buddy allocator when the lists are in use under us.
    fn take_from_pcp(
        &self,
        zone: &Zone,
        pcp: PcpSet,
        order: usize,
        mt: MigrateType,
        reserve: u64,
        flags: AllocFlags,
    ) -> Option<u64> {
        let Some(mut lists) = self.enter_lists(pcp, zone) else {
            return zone.try_alloc(order, mt, reserve, flags);
        };
        if lists.len(order, mt as usize) == 0 {
            Self::refill(zone, &mut lists, order, mt, reserve, flags);
        }
        lists
            .pop(order, mt as usize)
            .map(|off| zone.span.start_pfn + off as u64)
    }

    /// This CPU's lists of `zone`, counting a bypass when an interrupted
    /// user on this CPU has them (the caller then goes to the buddy).
    fn enter_lists<'g>(&self, pcp: PcpSet<'g>, zone: &'g Zone) -> Option<PcpGuard<'g>> {
        let lists = pcp.enter(zone.pcp_index, zone.pcp_links);
        if lists.is_none() {
            self.pcp_bypasses.fetch_add(1, Relaxed);
        }
        lists
    }

    /// Refills an empty list of `order` from the zone, `batch` pages'
    /// worth of blocks (at least one).
    fn refill(
        zone: &Zone,
        lists: &mut PcpGuard,
        order: usize,
        mt: MigrateType,
        reserve: u64,
        flags: AllocFlags,
    ) {
        let blocks = (zone.pcp_batch() as usize >> order).max(1);
        zone.take_bulk(order, mt, blocks, reserve, flags, |pfn| {
            lists.push(order, mt as usize, (pfn - zone.span.start_pfn) as u32);
        });
        lists.refilled(zone.pcp_bounds());
    }

    /// Runs `f` on each of `pcp`'s lists (one per populated zone) that is
    /// not in use under us; false when some were (an interrupt handler
    /// over the fast path), and were left as they were.
    fn for_each_own_lists(&self, pcp: PcpSet, mut f: impl FnMut(&Zone, &mut PcpGuard)) -> bool {
        let mut all = true;
        for zone in self.zones().filter(|z| z.is_populated()) {
            if pcp.lists().get(zone.pcp_index).is_none() {
                continue;
            }
            match pcp.enter(zone.pcp_index, zone.pcp_links) {
                Some(mut lists) => f(zone, &mut lists),
                None => all = false,
            }
        }
        all
    }

    /// Decays the `high` of each of `pcp`'s lists and trims what is past
    /// it (see `PcpGuard::decay`); lists in use under us are skipped.
    pub fn decay_pcp(&self, pcp: PcpSet) {
        self.for_each_own_lists(pcp, |zone, lists| {
            let pages = lists.decay(zone.pcp_bounds());
            trim(zone, lists, pages);
        });
    }

    /// Gives every block on `pcp` back to the buddy allocators. False when
    /// some lists were in use under us (an interrupt handler draining over
    /// the fast path) and stayed as they were: ask again later.
    pub fn drain_pcp(&self, pcp: PcpSet) -> bool {
        self.for_each_own_lists(pcp, |zone, lists| {
            if lists.is_empty() {
                return;
            }
            let start = zone.span.start_pfn;
            zone.give_back(|b| {
                lists.take_all(|order, off| give(b, start + off as u64, order));
            });
        })
    }

    /// Allocates 2^order pages as `req` says. Never zeroes, never prints:
    /// that is the caller's part (it owns the memory window and the log).
    pub fn alloc(&self, req: Request, reclaim: &dyn Reclaim) -> Result<Allocation, AllocError> {
        // A zonelist rebuilt meanwhile (memory came online) may have been
        // read half old, half new: try once more before failing, as
        // Linux's check_retry_zonelist does (one call site, so that the
        // slow path is not inlined twice).
        let mut result;
        let mut attempt = 0;
        loop {
            let generation = self.zonelist_generation();
            result = self.alloc_inner(req, reclaim);
            attempt += 1;
            if result.is_ok() || attempt == 2 || self.zonelist_generation() == generation {
                break;
            }
        }
        if result.is_err() {
            self.failures.fetch_add(1, Relaxed);
        }
        result
    }

    fn alloc_inner(&self, req: Request, reclaim: &dyn Reclaim) -> Result<Allocation, AllocError> {
        let (list, highest) = self.zonelist_for(&req)?;
        let allowed = req.allowed;
        let ok = |node: u8| allowed.is_none_or(|m| m & 1 << node != 0);
        let preferred = list
            .iter()
            .find(|r| r.zone <= highest && ok(r.node))
            .ok_or(AllocError::NoEligibleZone)?;
        let gfp = req.gfp;
        let order = req.order;
        let mt = gfp.migratetype();
        let walk = |flags: AllocFlags| self.get_page_from_freelist(list, highest, flags, &req);
        let done = |(pfn, zone): (u64, &'a Zone<'a>), reclaim_passes: u32| {
            self.account(zone, preferred.node as NodeId, &req);
            Ok(Allocation {
                pfn,
                node: zone.node,
                zone: zone.kind,
                reclaim_passes,
            })
        };
        if let Some(got) = walk(AllocFlags::FAST) {
            return done(got, 0);
        }
        // Slow path.
        if gfp.contains(Gfp::KSWAPD_RECLAIM) {
            for node in list.nodes().filter(|&n| ok(n as u8)) {
                reclaim.wake_kswapd(node, order, highest, gfp);
            }
        }
        let slow = AllocFlags::slow_path(gfp);
        if let Some(got) = walk(slow) {
            return done(got, 0);
        }
        // Pages parked on per-CPU lists count as free memory: give them
        // back (this CPU's, then every CPU's) and look again.
        if let Some(own) = req.pcp {
            self.drain_pcp(own);
        }
        reclaim.drain_all_pages();
        // And the highatomic reserve, but for its last pageblock (Linux
        // does this before its first direct reclaim retry).
        self.unreserve_highatomic(list, highest, mt, false);
        if let Some(got) = walk(slow) {
            return done(got, 0);
        }
        let nofail = gfp.contains(Gfp::NOFAIL);
        if !gfp.can_direct_reclaim() && !nofail {
            return Err(AllocError::NoMemory { reclaim_passes: 0 });
        }
        // Costly orders, and high orders that are not movable, try
        // asynchronous compaction before reclaim (Linux's slow path).
        let compact = |sync: bool| {
            reclaim.compact(order, preferred.node as NodeId, highest, sync)?;
            // Whatever compaction says, the allocation tries again.
            let got = walk(slow);
            reclaim.compaction_outcome(got.is_some());
            got
        };
        if gfp.can_direct_reclaim()
            && (order > COSTLY_ORDER || (order > 0 && mt != MigrateType::Movable))
        {
            if let Some(got) = compact(false) {
                return done(got, 0);
            }
        }
        let ctx = gfp.reclaim_context();
        let may_oom = crate::oom::may_oom(gfp, order);
        let mut passes = 0u32;
        let mut without_progress = 0u32;
        loop {
            let progress = if ctx.may_sleep {
                passes = passes.saturating_add(1);
                reclaim.direct_reclaim(ctx, order, preferred.node as NodeId)
            } else {
                0
            };
            if let Some(got) = walk(slow) {
                return done(got, passes);
            }
            // Then synchronous compaction, for any high order.
            if order > 0 && ctx.may_sleep {
                if let Some(got) = compact(true) {
                    return done(got, passes);
                }
            }
            without_progress = if progress > 0 {
                0
            } else {
                without_progress + 1
            };
            if nofail {
                // Linux lets a __GFP_NOFAIL caller use half the min reserve
                // before it waits.
                let reserve = AllocFlags {
                    min_reserve: true,
                    ..slow
                };
                if let Some(got) = walk(reserve) {
                    return done(got, passes);
                }
                if without_progress > MAX_RECLAIM_RETRIES
                    && may_oom
                    && reclaim.out_of_memory(gfp, order, req.allowed)
                {
                    without_progress = 0;
                    continue;
                }
                reclaim.nofail_wait(passes as u64);
                continue;
            }
            if gfp.contains(Gfp::NORETRY) {
                break;
            }
            if order > COSTLY_ORDER && !gfp.contains(Gfp::RETRY_MAYFAIL) {
                break;
            }
            if without_progress > MAX_RECLAIM_RETRIES {
                // Before the OOM killer: the whole highatomic reserve, as
                // Linux's should_reclaim_retry gives it up.
                if self.unreserve_highatomic(list, highest, mt, true) {
                    if let Some(got) = walk(slow) {
                        return done(got, passes);
                    }
                }
                // The last resort, then one more round of reclaim attempts.
                if may_oom && reclaim.out_of_memory(gfp, order, req.allowed) {
                    without_progress = 0;
                    continue;
                }
                break;
            }
        }
        Err(AllocError::NoMemory {
            reclaim_passes: passes,
        })
    }

    /// Gives one highatomic pageblock back to `mt` in the first zone of
    /// `list` that has one to give (Linux's unreserve_highatomic_pageblock).
    fn unreserve_highatomic(
        &self,
        list: &Zonelist,
        highest: ZoneType,
        mt: MigrateType,
        force: bool,
    ) -> bool {
        list.iter().filter(|r| r.zone <= highest).any(|r| {
            self.node(r.node as NodeId)
                .map(|n| n.zone(r.zone))
                .is_some_and(|z| z.reserved_highatomic() > 0 && z.unreserve_highatomic(mt, force))
        })
    }

    fn account(&self, zone: &Zone<'a>, preferred_node: NodeId, req: &Request) {
        for (node, stat) in allocation_events(zone.node, preferred_node, req.cpu_node) {
            let z = if node == zone.node {
                zone
            } else {
                // numa_foreign goes to the preferred node's own zone of the
                // same type when it has one, else its first populated zone.
                let n = self.node(node).expect("preferred node exists");
                let same = n.zone(zone.kind);
                if same.is_populated() {
                    same
                } else {
                    n.zones.iter().find(|z| z.is_populated()).unwrap_or(same)
                }
            };
            z.stats.add(stat, 1);
        }
        if req.interleave && req.node == Some(zone.node) {
            zone.stats.add(NumaStat::InterleaveHit, 1);
        }
    }

    /// The next node an interleaved allocation should use: round robin
    /// over the nodes that have memory.
    pub fn next_interleave_node(&self) -> Option<NodeId> {
        let with_memory = || self.nodes().filter(|n| n.managed() > 0);
        let count = with_memory().count();
        if count == 0 {
            return None;
        }
        let k = self.interleave_next.fetch_add(1, Relaxed) % count;
        with_memory().nth(k).map(|n| n.id)
    }

    /// Frees a block, onto the calling CPU's list (`pcp`) when its order
    /// is kept there. A bad free (double free, reserved page, wrong order,
    /// frame in no zone) changes nothing and says what was wrong.
    pub fn free(
        &self,
        pfn: u64,
        order: usize,
        pcp: Option<PcpSet>,
    ) -> Result<&'a Zone<'a>, FreeError> {
        let result = match self.zone_of(pfn) {
            Some(zone) => zone.claim_for_free(pfn, order).map(|mt| (zone, mt)),
            None => Err(FreeError::OutOfZone { pfn }),
        };
        let (zone, mt) = match result {
            Ok(z) => z,
            Err(e) => {
                self.bad_frees.fetch_add(1, Relaxed);
                return Err(e);
            }
        };
        let lists = match pcp {
            Some(pcp) if order <= PCP_MAX_ORDER => self.enter_lists(pcp, zone),
            _ => None,
        };
        match lists {
            Some(mut lists) => {
                let start = zone.span.start_pfn;
                if !lists.push(order, mt, (pfn - start) as u32) {
                    zone.give_back(|b| give(b, pfn, order));
                } else if order <= PCP_MAX_ORDER {
                    let high = lists.retune(zone.pcp_bounds(), zone.pcp_state());
                    if lists.count() > high {
                        let pages = lists.trim_size(zone.pcp_batch());
                        trim(zone, &mut lists, pages);
                    }
                }
            }
            None => zone.give_back(|b| give(b, pfn, order)),
        }
        Ok(zone)
    }

    /// Where the fast paths allocate for `node` with `gfp`: the first zone
    /// of the node's zonelist the mask may use (the first pass's first
    /// zone), and the mask's highest zone index; None for a bad mask, or
    /// under __GFP_THISNODE when that zone is another node's.
    #[inline(always)]
    fn fast_zone(&self, node: NodeId, gfp: Gfp) -> Option<(&'a Zone<'a>, usize)> {
        let highest = gfp.zone().ok()?.index();
        let first = (*self.nodes.get(node)?)?.first_zone[highest].load(Relaxed);
        let zone = (*self.zone_table.get(first as usize)?)?;
        if gfp.contains(Gfp::THISNODE) && zone.node != node {
            return None;
        }
        Some((zone, highest))
    }

    /// The fast path of an allocation for `node` by a CPU on `cpu_node`:
    /// the first pass's first zone, served from the CPU's list, with no
    /// lock, no atomic instruction and nothing built. None sends the
    /// caller to [`alloc`](Self::alloc), which does everything else
    /// (refills, other zones, reclaim) and reports failures.
    #[inline(always)]
    pub fn alloc_fast(
        &self,
        pcp: PcpSet,
        cpu_node: NodeId,
        node: NodeId,
        gfp: Gfp,
        order: usize,
    ) -> Option<u64> {
        // As in `free_fast`: a copy of the path for each kind of order.
        if order <= PCP_MAX_ORDER {
            self.alloc_from_lists(pcp, cpu_node, node, gfp, order)
        } else if order == pcp::PCP_HUGE_ORDER {
            self.alloc_from_lists(pcp, cpu_node, node, gfp, pcp::PCP_HUGE_ORDER)
        } else {
            None
        }
    }

    #[inline(always)]
    fn alloc_from_lists(
        &self,
        pcp: PcpSet,
        cpu_node: NodeId,
        node: NodeId,
        gfp: Gfp,
        order: usize,
    ) -> Option<u64> {
        let (zone, highest) = self.fast_zone(node, gfp)?;
        if !zone.watermark_fast(order, zone.reserve_for(highest), AllocFlags::FAST) {
            return None;
        }
        let mt = gfp.migratetype();
        let mut lists = pcp.enter(zone.pcp_index, zone.pcp_links)?;
        let offset = lists.pop(order, mt as usize)?;
        count_fast_events(&mut lists, zone, cpu_node, 1);
        drop(lists);
        zone.mark_allocated_at(offset, order, mt);
        Some(zone.span.start_pfn + offset as u64)
    }

    /// Linux's alloc_pages_bulk for the fast path: up to `count` order-0
    /// pages for `node`, handed to `out` one by one, from the first zone
    /// through the CPU's list, which is refilled from the zone as it runs
    /// dry (or, once it is empty while more than a refill's worth is still
    /// wanted, bypassed: the zone's pages go to `out` directly); each page
    /// held to the watermark the fast path checks. Returns
    /// how many it gave (fewer when the zone reaches its watermark or the
    /// lists are busy under us: the caller takes the rest through
    /// [`alloc`](Self::alloc)). The caller masks interrupts (refills take
    /// the zone lock).
    pub fn alloc_bulk(
        &self,
        pcp: PcpSet,
        cpu_node: NodeId,
        node: NodeId,
        gfp: Gfp,
        count: usize,
        mut out: impl FnMut(u64),
    ) -> usize {
        let Some((zone, highest)) = self.fast_zone(node, gfp) else {
            return 0;
        };
        let reserve = zone.reserve_for(highest);
        let mt = gfp.migratetype();
        let Some(mut lists) = self.enter_lists(pcp, zone) else {
            return 0;
        };
        let start = zone.span.start_pfn;
        let mut given = 0;
        while given < count {
            // Pages on the list are already off the zone's free count, so
            // the watermark is checked where the zone gives pages: before
            // each refill (Linux checks once per call).
            if lists.len(0, mt as usize) == 0 {
                if !zone.watermark_fast(0, reserve, AllocFlags::FAST) {
                    break;
                }
                let wanted = count - given;
                if wanted > zone.pcp_batch() as usize {
                    // More than a refill's worth still wanted: the list
                    // would only pass the pages through (a push and a pop
                    // each), so take them from the zone straight away.
                    let taken = Self::take_direct(zone, mt, wanted, reserve, &mut out);
                    if taken == 0 {
                        break;
                    }
                    // What the list gains from here on is freed pages, as
                    // after a refill (the tuning of `high` counts them).
                    lists.refilled(zone.pcp_bounds());
                    given += taken;
                    continue;
                }
                Self::refill(zone, &mut lists, 0, mt, reserve, AllocFlags::FAST);
            }
            let Some(offset) = lists.pop(0, mt as usize) else {
                break;
            };
            let pfn = start + offset as u64;
            zone.mark_allocated(pfn, 0, mt);
            out(pfn);
            given += 1;
        }
        count_fast_events(&mut lists, zone, cpu_node, given as u64);
        given
    }

    /// Up to `wanted` order-0 pages (at most [`DIRECT_CHUNK`]) from
    /// `zone`'s buddy allocator, held to the fast path's watermark as a
    /// refill is, each marked allocated and handed to `out` after the
    /// zone lock is dropped (`out` may be anything: it runs unlocked).
    fn take_direct(
        zone: &Zone,
        mt: MigrateType,
        wanted: usize,
        reserve: u64,
        out: &mut impl FnMut(u64),
    ) -> usize {
        let mut pfns = [0u64; DIRECT_CHUNK];
        let mut n = 0;
        zone.take_bulk(
            0,
            mt,
            wanted.min(DIRECT_CHUNK),
            reserve,
            AllocFlags::FAST,
            |pfn| {
                pfns[n] = pfn;
                n += 1;
            },
        );
        for &pfn in &pfns[..n] {
            zone.mark_allocated(pfn, 0, mt);
            out(pfn);
        }
        n
    }

    /// The fast path for blocks the lists do not keep (orders above 3):
    /// the first pass's first zone, straight from its buddy allocator
    /// under the zone lock (the caller masks interrupts, as for every zone
    /// lock), counting its NUMA events on the CPU's lists as
    /// [`alloc_fast`](Self::alloc_fast) does. None: see there.
    #[inline]
    pub fn alloc_buddy_fast(
        &self,
        pcp: PcpSet,
        cpu_node: NodeId,
        node: NodeId,
        gfp: Gfp,
        order: usize,
    ) -> Option<u64> {
        if order <= PCP_MAX_ORDER || order > MAX_ORDER {
            return None;
        }
        let (zone, highest) = self.fast_zone(node, gfp)?;
        let reserve = zone.reserve_for(highest);
        if !zone.watermark_fast(order, reserve, AllocFlags::FAST) {
            return None;
        }
        let mut lists = pcp.enter(zone.pcp_index, zone.pcp_links)?;
        let mt = gfp.migratetype();
        let pfn = zone.try_alloc(order, mt, reserve, AllocFlags::FAST)?;
        count_fast_events(&mut lists, zone, cpu_node, 1);
        drop(lists);
        zone.mark_allocated(pfn, order, mt);
        Some(pfn)
    }

    /// The fast path of a free: onto the CPU's list when it has room
    /// below `high` (a huge block: when the huge list has room). False
    /// (nothing changed) sends the caller to [`free`](Self::free), which
    /// trims lists, and checks and reports bad frees.
    #[inline(always)]
    pub fn free_fast(&self, pcp: PcpSet, pfn: u64, order: usize) -> bool {
        // Two copies of the path, each knowing its order's kind, so that
        // the list's bound and the push test the order no further.
        if order <= PCP_MAX_ORDER {
            self.free_to_lists(pcp, pfn, order)
        } else if order == pcp::PCP_HUGE_ORDER {
            self.free_to_lists(pcp, pfn, pcp::PCP_HUGE_ORDER)
        } else {
            false
        }
    }

    #[inline(always)]
    fn free_to_lists(&self, pcp: PcpSet, pfn: u64, order: usize) -> bool {
        let Some(zone) = self.zone_of(pfn) else {
            return false;
        };
        let Some(offset) = pfn.checked_sub(zone.span.start_pfn) else {
            return false;
        };
        let Some(state) = zone.alloc_state.get(offset as usize) else {
            return false;
        };
        let Some(mut lists) = pcp.enter(zone.pcp_index, zone.pcp_links) else {
            return false;
        };
        // Orders 0 to 3 fit while the count stays within `high` (the slow
        // path tunes it and trims); huge blocks have a bound of their own.
        let fits = if order <= PCP_MAX_ORDER {
            lists.fits(1 << order)
        } else {
            lists.has_room(order)
        };
        if !fits {
            return false;
        }
        // The double-free and wrong-order check, as `claim_for_free`.
        let v = state.load(Acquire);
        if v & STATE_ORDER != order as u8 + 1
            || state.compare_exchange(v, 0, AcqRel, Acquire).is_err()
        {
            return false;
        }
        let mt = (v >> STATE_MT_SHIFT) as usize;
        if lists.push(order, mt, offset as u32) {
            return true;
        }
        // A full list after all: undo the claim for the slow path.
        state.store(v, Release);
        false
    }

    /// Per-node NUMA counters (the zones of each node summed).
    pub fn node_stats(&self, node: NodeId) -> [u64; NR_NUMA_STATS] {
        let mut sum = [0; NR_NUMA_STATS];
        if let Some(n) = self.node(node) {
            for z in &n.zones {
                for (s, v) in sum.iter_mut().zip(self.zone_stats(z)) {
                    *s += v;
                }
            }
        }
        sum
    }

    pub fn free_pages(&self) -> u64 {
        self.zones().map(|z| z.free_pages()).sum()
    }
}

/// The events of an allocation the fast paths served: the preferred
/// zone gave it, so numa_hit, and local or not by the CPU's node (as
/// `allocation_events` counts), on the CPU's own counters.
#[inline(always)]
fn count_fast_events(lists: &mut PcpGuard, zone: &Zone, cpu_node: NodeId, n: u64) {
    lists.count_event(NumaStat::Hit, n);
    let locality = if zone.node == cpu_node {
        NumaStat::LocalNode
    } else {
        NumaStat::OtherNode
    };
    lists.count_event(locality, n);
}

/// Most pages a bulk allocation takes from a zone in one go when it
/// bypasses the CPU's list (2 KiB of frame numbers on the stack; one zone
/// lock per chunk, where refills take one per `batch`).
const DIRECT_CHUNK: usize = 256;

/// The allocation-state byte of an allocated head (see `Zone::alloc_state`).
const STATE_ORDER: u8 = 0xf;
const STATE_MT_SHIFT: u8 = 4;

#[inline(always)]
fn alloc_state(order: usize, mt: MigrateType) -> u8 {
    (order as u8 + 1) | (mt as u8) << STATE_MT_SHIFT
}

/// Gives the oldest `pages` pages of `lists` back to `zone`'s buddy
/// allocator (a trim; nothing for 0).
#[inline]
fn trim(zone: &Zone, lists: &mut PcpGuard, pages: u32) {
    if pages == 0 {
        return;
    }
    let start = zone.span.start_pfn;
    zone.give_back(|b| lists.take_pages(pages, |o, off| give(b, start + off as u64, o)));
}

fn give(buddy: &mut Buddy, pfn: u64, order: usize) {
    buddy
        .free(pfn, order)
        .expect("a validated block goes back cleanly");
}

/// The frame -> zone map over the sorted populated zones, and its shift:
/// entries of at least 512 frames, as many as the highest frame needs.
#[cfg(test)]
mod tests;
