//! Per-CPU page lists (Linux's per_cpu_pages): each CPU keeps free blocks
//! of orders 0 to 3 per zone, so most allocations and frees touch only
//! that CPU's list. A list is refilled from the buddy allocator `batch`
//! pages at a time and trimmed back once it holds more than `high` pages;
//! draining gives everything back.
//!
//! The lists are linked through [`PcpLink`]s, one per frame of the zone
//! (8 bytes a page, beside the descriptors), as Linux links them through
//! struct page: a list has no capacity of its own, so `high` is Linux's
//! and not bounded by an array.
//!
//! `high` tunes itself as Linux's has since 6.7: it starts at `high_min`
//! (Linux's zone_highsize: the zone's low watermark shared among the CPUs
//! of its node, at least 4 x batch) and, while a CPU frees more than it
//! allocates (the pages its lists gained since they were last refilled),
//! grows to hold them, up to `high_max` (an eighth of the zone's managed pages
//! shared the same way). It falls back by the freed count when the zone
//! is below its high watermark, and to `high_min` when the lists are
//! drained (reclaim drains them): a CPU that frees in bulk keeps its pages
//! for its next bulk allocation instead of merging them into the buddy
//! allocator and splitting them again, and memory that is wanted goes back.
//!
//! Besides those, one list keeps pageblock-order blocks (order 9, 2 MiB:
//! a transparent huge page's size), as Linux has kept since 5.13: a huge
//! block freed and allocated again on the same CPU skips the zone lock.
//! It holds at most [`PCP_HUGE_HIGH`] blocks, outside `high` (one block is
//! already more pages than `high` allows), and is refilled by frees only.
//!
//! batch follows Linux's zone_batchsize: a quarter of the zone's managed
//! pages / 1024 (at most 1 MiB's worth), rounded to 2^n - 1.
//!
//! Only the owning CPU touches its lists (and the links of the blocks on
//! them), so they need no lock and no atomic instruction: a busy flag
//! (Linux's local_trylock) set around each use keeps an interrupt handler
//! that lands in the middle off them (it finds the flag set and goes to the
//! buddy allocator instead). Other CPUs read only the published page count,
//! high and the NUMA event counters; they have a CPU's lists drained by
//! asking that CPU (an IPI).

use crate::buddy::{MAX_ORDER, MIGRATE_PCPTYPES};
use crate::stats::{NumaStat, NR_NUMA_STATS};
use core::cell::UnsafeCell;
use core::sync::atomic::{
    compiler_fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering::*,
};
use numa::MAX_CPUS;

/// Orders kept on the lists: up to Linux's PAGE_ALLOC_COSTLY_ORDER.
pub const PCP_MAX_ORDER: usize = 3;
/// The order of the huge list: Linux's pageblock_order on x86_64.
pub const PCP_HUGE_ORDER: usize = 9;
/// Huge blocks one CPU keeps per zone (2 MiB each).
pub const PCP_HUGE_HIGH: usize = 1;
/// high_max's share of the zone: Linux's MIN_PERCPU_PAGELIST_HIGH_FRACTION.
pub const HIGH_MAX_FRACTION: u64 = 8;
/// Whether the lists keep blocks of `order`.
#[inline(always)]
pub const fn keeps(order: usize) -> bool {
    order <= PCP_MAX_ORDER || order == PCP_HUGE_ORDER
}

/// Linux's zone_batchsize.
pub fn batch_size(managed: u64) -> u32 {
    let mut batch = (managed >> 10).min((1 << 20) / layout::PAGE_SIZE) / 4;
    batch = batch.max(1);
    let b = batch + batch / 2;
    ((1u64 << (63 - b.leading_zeros())) - 1).max(1) as u32
}

/// Linux's zone_highsize: `pages` shared among the CPUs of the zone's
/// node (all online CPUs for a CPU-less node), at least 4 x batch.
fn share(pages: u64, batch: u32, cpus_on_node: u32, cpus_online: u32) -> u32 {
    let split = if cpus_on_node > 0 {
        cpus_on_node
    } else {
        cpus_online.max(1)
    };
    (pages / split as u64)
        .max((batch as u64) << 2)
        .min(u32::MAX as u64 >> 1) as u32
}

/// high_min: the zone's low watermark shared among its node's CPUs.
pub fn high_min(low_watermark: u64, batch: u32, cpus_on_node: u32, cpus_online: u32) -> u32 {
    share(low_watermark, batch, cpus_on_node, cpus_online)
}

/// high_max: an eighth of the zone's managed pages, shared the same way.
pub fn high_max(managed: u64, batch: u32, cpus_on_node: u32, cpus_online: u32) -> u32 {
    share(
        managed / HIGH_MAX_FRACTION,
        batch,
        cpus_on_node,
        cpus_online,
    )
}

/// A frame's place on a per-CPU list: the blocks either side of it, as
/// frame offsets in the zone. Only the CPU whose list holds the block
/// reads or writes its link (plain loads and stores: Relaxed atomics, so
/// that the array can be shared without a lock).
#[derive(Debug, Default)]
pub struct PcpLink {
    /// The block pushed after this one (toward the newest end).
    newer: AtomicU32,
    /// The block pushed before this one (toward the oldest end).
    older: AtomicU32,
}

impl PcpLink {
    pub const fn new() -> Self {
        PcpLink {
            newer: AtomicU32::new(0),
            older: AtomicU32::new(0),
        }
    }
}

/// One list of free blocks of one order and type: allocations and frees
/// use the newest (cache-hot) end, trims take from the oldest, as Linux's
/// lists do. The ends mean something only while `len` > 0.
#[derive(Clone, Copy)]
struct List {
    newest: u32,
    oldest: u32,
    len: u32,
}

/// The huge blocks' list.
#[derive(Clone, Copy)]
struct HugeList {
    blocks: [u32; PCP_HUGE_HIGH],
    len: u8,
}

/// Lists of orders 0 to 3, one per order and migratetype (Linux's
/// NR_PCP_LISTS without the huge one).
pub const NR_PCP_LISTS: usize = (PCP_MAX_ORDER + 1) * MIGRATE_PCPTYPES;

/// The list of `order` and migratetype `mt` (Linux's order_to_pindex).
#[inline(always)]
fn pindex(order: usize, mt: usize) -> usize {
    debug_assert!(mt < MIGRATE_PCPTYPES);
    order * MIGRATE_PCPTYPES + mt
}

/// The lists themselves, reached through a [`PcpGuard`].
pub struct Lists {
    lists: [List; NR_PCP_LISTS],
    huge: HugeList,
    /// Pages on the lists of orders 0 to 3 (what `high` bounds).
    count: u32,
    /// The current bound on `count` (0 until the first trim sets it from
    /// the zone's high_min; the fast free path then declines).
    high: u32,
    /// `count` just after the last refill (0 after a drain), less the
    /// pages trimmed since: what the lists gained over it is what the CPU
    /// freed beyond what it allocated,
    /// and what `high` grows to hold (Linux counts frees in free_count
    /// and halves it on allocations; this keeps the fast paths free of
    /// the bookkeeping).
    refill_base: u32,
    /// The list the next trim starts at.
    next_trim: u8,
}

/// What the zone's state says to a tune of `high`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneState {
    /// The buddy allocator's free pages are below the high watermark
    /// (Linux's ZONE_BELOW_HIGH).
    pub below_high: bool,
    /// Reclaim is working on the zone's node (ZONE_RECLAIM_ACTIVE).
    pub reclaim_active: bool,
}

/// A zone's bounds for its lists' `high`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HighBounds {
    pub min: u32,
    pub max: u32,
    pub batch: u32,
}

impl Lists {
    const EMPTY: Lists = Lists {
        lists: [List {
            newest: 0,
            oldest: 0,
            len: 0,
        }; NR_PCP_LISTS],
        huge: HugeList {
            blocks: [0; PCP_HUGE_HIGH],
            len: 0,
        },
        count: 0,
        high: 0,
        refill_base: 0,
        next_trim: 0,
    };

    /// Pages on the lists of orders 0 to 3 (the huge list is not bounded
    /// by `high`).
    #[inline(always)]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Pages on every list, the huge one included.
    #[inline(always)]
    pub fn total(&self) -> u32 {
        self.count + ((self.huge.len as u32) << PCP_HUGE_ORDER)
    }

    /// The current bound on [`count`](Self::count).
    #[inline(always)]
    pub fn high(&self) -> u32 {
        self.high
    }

    /// Whether `pages` more fit below `high` without a trim.
    #[inline(always)]
    pub fn fits(&self, pages: u32) -> bool {
        self.count + pages <= self.high
    }

    /// Blocks of `order` and migratetype `mt` on the list (0 for an order
    /// not kept; the huge list has one for all types).
    pub fn len(&self, order: usize, mt: usize) -> usize {
        match order {
            0..=PCP_MAX_ORDER => self.lists[pindex(order, mt)].len as usize,
            PCP_HUGE_ORDER => self.huge.len as usize,
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// Whether a huge block fits on the huge list (orders 0 to 3 always
    /// fit: `high` bounds them, not the lists).
    #[inline(always)]
    pub fn has_room(&self, order: usize) -> bool {
        match order {
            0..=PCP_MAX_ORDER => true,
            PCP_HUGE_ORDER => (self.huge.len as usize) < PCP_HUGE_HIGH,
            _ => false,
        }
    }

    /// Pages the lists gained since the last refill.
    fn freed(&self) -> u32 {
        self.count.saturating_sub(self.refill_base)
    }

    /// Linux's nr_pcp_high, after a free put the lists over `high` or at
    /// it: `high` clamped to the zone's bounds, then grown to hold the
    /// pages freed since the last refill (plus a batch), or, when the
    /// zone is below its high watermark, shrunk by them. Returns the new
    /// high.
    ///
    /// While reclaim works on the zone's node (Linux's
    /// ZONE_RECLAIM_ACTIVE) the lists hold at most 4 batches, so that what
    /// reclaim frees goes back to the zone rather than onto a CPU's list
    /// (kswapd frees far more than it allocates); the next tune after
    /// reclaim clamps `high` back up to high_min.
    pub fn tune_high(&mut self, b: HighBounds, zone: ZoneState) -> u32 {
        let (min, max) = (b.min, b.max.max(b.min));
        let freed = self.freed().min(max);
        let mut high = self.high.clamp(min, max);
        if zone.reclaim_active {
            high = high.saturating_sub(freed.max(b.batch)).max(min);
            high = high.min(b.batch << 2);
        } else if zone.below_high {
            high = high.saturating_sub(freed.max(b.batch)).max(min);
        } else if self.count >= high {
            high = freed.saturating_add(b.batch).clamp(high, max);
        }
        self.high = high;
        high
    }

    /// Pages a trim takes now: down to `high`, at least a batch, at most
    /// 32 batches (interrupts are off while the zone lock is held; what
    /// is left over goes with the next frees).
    pub fn trim_size(&self, batch: u32) -> u32 {
        self.count
            .saturating_sub(self.high)
            .max(batch)
            .min(batch << 5)
    }
}
/// One CPU's lists for one zone, with what other CPUs may read of them.
pub struct PerCpuPages {
    /// Set while the owner (or an interrupt handler on its CPU that found
    /// it clear) uses the lists.
    busy: AtomicBool,
    /// `Lists::count` as of the last use, for readers on other CPUs.
    count: AtomicU32,
    /// Pages on the huge list, published as it changes (rarely: so the
    /// guard's drop stores one count, not a sum).
    huge_pages: AtomicU32,
    /// `Lists::high` as of its last change, for the reports.
    high: AtomicU32,
    lists: UnsafeCell<Lists>,
    /// NUMA events of allocations served from these lists (the zone's own
    /// counters take the others); only the owner adds, anyone reads.
    events: [AtomicU64; NR_NUMA_STATS],
}

// SAFETY: `lists` is only reached through `enter`, whose contract keeps
// every user on the owning CPU and the busy flag keeps two of those
// (a thread and the interrupt handler over it) apart; the rest is atomic.
unsafe impl Sync for PerCpuPages {}

impl core::fmt::Debug for PerCpuPages {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PerCpuPages {{ count: {} }}", self.count())
    }
}

impl Default for PerCpuPages {
    fn default() -> Self {
        Self::new()
    }
}

impl PerCpuPages {
    pub const fn new() -> Self {
        PerCpuPages {
            busy: AtomicBool::new(false),
            count: AtomicU32::new(0),
            huge_pages: AtomicU32::new(0),
            high: AtomicU32::new(0),
            lists: UnsafeCell::new(Lists::EMPTY),
            events: [const { AtomicU64::new(0) }; NR_NUMA_STATS],
        }
    }

    /// Pages on the lists, the huge one included, at their last use (any
    /// CPU may ask).
    pub fn count(&self) -> u32 {
        self.count.load(Relaxed) + self.huge_pages.load(Relaxed)
    }

    /// The lists' `high` as last tuned (0: not yet set).
    pub fn high(&self) -> u32 {
        self.high.load(Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// NUMA events counted here, by [`NumaStat`] index.
    pub fn events(&self) -> [u64; NR_NUMA_STATS] {
        core::array::from_fn(|i| self.events[i].load(Relaxed))
    }

    /// The lists, linked through `links` (their zone's), unless they are
    /// in use on this CPU already (this is an interrupt handler over their
    /// user): then None, and the caller goes to the buddy allocator.
    ///
    /// # Safety
    /// The caller runs on the CPU that owns these lists and stays on it
    /// until the guard is dropped, and everything else on that CPU that
    /// can run in between (interrupt handlers) reaches them only through
    /// `enter` too, always with the same `links`. A CPU that is gone, or a
    /// single-threaded test, owns them trivially.
    #[inline(always)]
    pub unsafe fn enter<'g>(&'g self, links: &'g [PcpLink]) -> Option<PcpGuard<'g>> {
        if self.busy.load(Relaxed) {
            return None;
        }
        self.busy.store(true, Relaxed);
        // Only this CPU's interrupt handlers can race with us, and they
        // see our stores in program order: keeping the compiler from
        // moving list accesses above the flag is all that is needed.
        compiler_fence(SeqCst);
        Some(PcpGuard { pcp: self, links })
    }
}

/// The lists while in use; dropping it publishes the count and clears
/// the busy flag.
pub struct PcpGuard<'p> {
    pcp: &'p PerCpuPages,
    links: &'p [PcpLink],
}

impl PcpGuard<'_> {
    /// Counts `n` NUMA events of allocations served from the lists.
    #[inline(always)]
    pub fn count_event(&mut self, stat: NumaStat, n: u64) {
        let e = &self.pcp.events[stat as usize];
        // Only the owner writes, so a load and a store (no locked add).
        e.store(e.load(Relaxed) + n, Relaxed);
    }

    /// A block of `order` (0 to 3, or [`PCP_HUGE_ORDER`]) and migratetype
    /// `mt` (below [`MIGRATE_PCPTYPES`]), the newest, if the list has one.
    #[inline(always)]
    pub fn pop(&mut self, order: usize, mt: usize) -> Option<u32> {
        if order > PCP_MAX_ORDER {
            return self.pop_huge(order);
        }
        let links = self.links;
        let lists = &mut **self;
        let l = &mut lists.lists[pindex(order, mt)];
        l.len = l.len.checked_sub(1)?;
        lists.count -= 1 << order;
        let off = l.newest;
        if l.len > 0 {
            // SAFETY: `off` is on the list, and `push` put it there only
            // after checking it against these links (`enter`'s contract
            // gives the lists the same links every time).
            l.newest = unsafe { links.get_unchecked(off as usize) }
                .older
                .load(Relaxed);
        }
        Some(off)
    }

    #[inline(always)]
    fn pop_huge(&mut self, order: usize) -> Option<u32> {
        if order != PCP_HUGE_ORDER {
            return None;
        }
        let h = &mut self.huge;
        h.len = h.len.checked_sub(1)?;
        let off = h.blocks.get(h.len as usize).copied();
        let pages = (self.huge.len as u32) << PCP_HUGE_ORDER;
        self.pcp.huge_pages.store(pages, Relaxed);
        off
    }

    /// The oldest block of list `p`, if any.
    fn pop_oldest(&mut self, p: usize) -> Option<u32> {
        let links = self.links;
        let l = &mut self.lists[p];
        l.len = l.len.checked_sub(1)?;
        let off = l.oldest;
        if l.len > 0 {
            // SAFETY: as in `pop`: a block on the list has a link.
            l.oldest = unsafe { links.get_unchecked(off as usize) }
                .newer
                .load(Relaxed);
        }
        Some(off)
    }

    /// Puts a block at the newest end of its list; false only for a full
    /// huge list, an order not kept or an offset outside the zone (orders
    /// 0 to 3 always go on: the caller keeps them within `high`). Every
    /// block on a list has a link: the one check `pop` relies on.
    #[inline(always)]
    pub fn push(&mut self, order: usize, mt: usize, offset: u32) -> bool {
        if order > PCP_MAX_ORDER {
            return self.push_huge(order, offset);
        }
        let links = self.links;
        let Some(link) = links.get(offset as usize) else {
            return false;
        };
        let lists = &mut **self;
        let l = &mut lists.lists[pindex(order, mt)];
        if l.len > 0 {
            link.older.store(l.newest, Relaxed);
            // SAFETY: the newest block is on the list (see `pop`).
            unsafe { links.get_unchecked(l.newest as usize) }
                .newer
                .store(offset, Relaxed);
        } else {
            l.oldest = offset;
        }
        l.newest = offset;
        l.len += 1;
        lists.count += 1 << order;
        true
    }

    #[inline(always)]
    fn push_huge(&mut self, order: usize, offset: u32) -> bool {
        let h = &mut self.huge;
        let Some(slot) = h.blocks.get_mut(h.len as usize) else {
            return false;
        };
        if order != PCP_HUGE_ORDER {
            return false;
        }
        *slot = offset;
        h.len += 1;
        let pages = (self.huge.len as u32) << PCP_HUGE_ORDER;
        self.pcp.huge_pages.store(pages, Relaxed);
        true
    }

    /// Takes every block off every list, the huge one included (a drain),
    /// handing each to `give` with its order; `high` starts again from
    /// the zone's high_min (a drain is a sign the memory is wanted).
    pub fn take_all(&mut self, mut give: impl FnMut(usize, u32)) {
        while let Some(off) = self.pop_huge(PCP_HUGE_ORDER) {
            give(PCP_HUGE_ORDER, off);
        }
        self.take_pages(u32::MAX, give);
        self.refill_base = 0;
        self.set_high(0);
    }

    /// Takes blocks of orders 0 to 3 worth at least `pages` pages off the
    /// lists and hands each to `give`: as Linux's free_pcppages_bulk, the
    /// nonempty lists in turn, the oldest blocks of each first, a list
    /// emptied (or the count reached) before the next. Each trim starts
    /// where the last one stopped, so a list nobody allocates from is
    /// trimmed too, rather than the busy list being emptied and refilled
    /// over and over while the other holds most of `high`.
    pub fn take_pages(&mut self, pages: u32, mut give: impl FnMut(usize, u32)) {
        let mut taken = 0;
        let mut p = self.next_trim as usize % NR_PCP_LISTS;
        while taken < pages && self.count > 0 {
            // `count` > 0: some list is not empty, so this ends.
            while self.lists[p].len == 0 {
                p = (p + 1) % NR_PCP_LISTS;
            }
            let order = p / MIGRATE_PCPTYPES;
            while taken < pages {
                let Some(off) = self.pop_oldest(p) else { break };
                taken += 1 << order;
                self.count -= 1 << order;
                give(order, off);
            }
            p = (p + 1) % NR_PCP_LISTS;
        }
        self.next_trim = p as u8;
        // Trimmed pages were freed here too: they still count as freed
        // (as Linux's free_count, which trims leave alone).
        self.refill_base = self.refill_base.saturating_sub(taken);
    }

    /// A refill has put blocks on a list: what the lists gain from here on
    /// is freed pages. Lists not tuned yet (new, or drained) start from
    /// high_min, so that the fast free path takes the pages back.
    pub fn refilled(&mut self, bounds: HighBounds) {
        self.refill_base = self.count;
        if self.high == 0 {
            self.set_high(bounds.min);
        }
    }

    /// Linux's decay_pcp_high, run about once a second on the owning CPU:
    /// `high` an eighth of the way back to high_min; returns the pages
    /// past the new `high` to trim now (at most 32 batches, as Linux).
    pub fn decay(&mut self, b: HighBounds) -> u32 {
        if self.high > b.min {
            let high = (self.high - self.high / 8).max(b.min);
            self.set_high(high);
        }
        if self.high == 0 {
            return 0; // not tuned yet: nothing to bound
        }
        self.count.saturating_sub(self.high).min(b.batch << 5)
    }

    /// Tunes `high` (see [`Lists::tune_high`]) and publishes it.
    pub fn retune(&mut self, bounds: HighBounds, zone: ZoneState) -> u32 {
        let high = self.tune_high(bounds, zone);
        self.pcp.high.store(high, Relaxed);
        high
    }

    /// Sets `high` and publishes it for the reports.
    fn set_high(&mut self, high: u32) {
        self.high = high;
        self.pcp.high.store(high, Relaxed);
    }
}

impl core::ops::Deref for PcpGuard<'_> {
    type Target = Lists;
    #[inline(always)]
    fn deref(&self) -> &Lists {
        // SAFETY: the busy flag is ours (see `enter`).
        unsafe { &*self.pcp.lists.get() }
    }
}

impl core::ops::DerefMut for PcpGuard<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Lists {
        // SAFETY: the busy flag is ours (see `enter`).
        unsafe { &mut *self.pcp.lists.get() }
    }
}

impl Drop for PcpGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let count = self.count;
        self.pcp.count.store(count, Relaxed);
        compiler_fence(SeqCst);
        self.pcp.busy.store(false, Relaxed);
    }
}

/// The calling CPU's own per-CPU page lists (one per populated zone,
/// indexed by `Zone::pcp_index`): holding one is the promise that the
/// code runs on that CPU, which makes using the lists sound.
#[derive(Clone, Copy)]
pub struct PcpSet<'p>(&'p [PerCpuPages]);

impl<'p> PcpSet<'p> {
    /// # Safety
    /// The caller runs on the CPU that owns `lists`, and stays on it while
    /// the value (or a copy) is in use, as [`PerCpuPages::enter`] requires.
    #[inline(always)]
    pub unsafe fn new(lists: &'p [PerCpuPages]) -> Self {
        PcpSet(lists)
    }

    pub fn lists(self) -> &'p [PerCpuPages] {
        self.0
    }

    /// Zone `index`'s lists, linked through that zone's `links`, unless an
    /// interrupted user on this CPU has them (or the set has no such zone).
    #[inline(always)]
    pub(crate) fn enter<'g>(self, index: usize, links: &'g [PcpLink]) -> Option<PcpGuard<'g>>
    where
        'p: 'g,
    {
        // SAFETY: `new`'s contract: we are on the owning CPU; each zone
        // index always comes with its own zone's links.
        unsafe { self.0.get(index)?.enter(links) }
    }
}

/// A test's "CPU" lists: a host test is one thread, owning every set.
#[cfg(test)]
pub(crate) fn single_threaded(lists: &[PerCpuPages]) -> PcpSet<'_> {
    // SAFETY: one thread uses the lists, and nothing interrupts it.
    unsafe { PcpSet::new(lists) }
}

/// Every CPU's lists, as registered when each CPU got them: what reports
/// and conservation checks read (counts and events only).
pub struct PcpRegistry<'a> {
    sets: [AtomicPtr<PerCpuPages>; MAX_CPUS],
    /// Lists in every set (one per populated zone).
    len: usize,
    _sets: core::marker::PhantomData<&'a [PerCpuPages]>,
}

impl<'a> PcpRegistry<'a> {
    pub const fn new(len: usize) -> Self {
        PcpRegistry {
            sets: [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS],
            len,
            _sets: core::marker::PhantomData,
        }
    }

    /// Records CPU `cpu`'s lists; false (nothing kept) for a CPU number
    /// out of range or a set shorter than the zones need.
    pub fn register(&self, cpu: usize, lists: &'a [PerCpuPages]) -> bool {
        match self.sets.get(cpu) {
            Some(slot) if lists.len() >= self.len => {
                slot.store(lists.as_ptr() as *mut PerCpuPages, Release);
                true
            }
            _ => false,
        }
    }

    /// (cpu, lists) for every CPU registered.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &'a [PerCpuPages])> + '_ {
        self.sets.iter().enumerate().filter_map(|(cpu, p)| {
            let p = p.load(Acquire);
            // SAFETY: `register` stored the start of a slice of at least
            // `len` lists that lives for 'a, published with Release.
            (!p.is_null()).then(|| (cpu, unsafe { core::slice::from_raw_parts(p, self.len) }))
        })
    }
}

const _: () = assert!(PCP_MAX_ORDER < PCP_HUGE_ORDER && PCP_HUGE_ORDER <= MAX_ORDER);

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;
    extern crate std;

    fn links(n: usize) -> Vec<PcpLink> {
        (0..n).map(|_| PcpLink::default()).collect()
    }

    #[test]
    fn batch_and_high_follow_linux() {
        // A 768 MiB zone: managed 196608 >> 10 = 192, / 4 = 48, 48 + 24 = 72 -> 63.
        assert_eq!(batch_size(196_608), 63);
        // 4 GiB and more: capped at 1 MiB worth = 256 / 4 = 64 -> 96 -> 63.
        assert_eq!(batch_size(1 << 20), 63);
        assert_eq!(batch_size(100), 1);
        // high_min: low watermark over the node's CPUs, at least 4 x batch.
        assert_eq!(high_min(1000, 7, 2, 8), 500);
        assert_eq!(high_min(40, 7, 2, 8), 28);
        assert_eq!(
            high_min(800, 31, 0, 4),
            200,
            "a CPU-less node shares with all"
        );
        // high_max: an eighth of the managed pages, shared the same way.
        assert_eq!(high_max(196_608, 63, 2, 8), 196_608 / 8 / 2);
        assert_eq!(high_max(1000, 63, 2, 8), 252, "at least 4 x batch");
    }

    #[test]
    fn lists_count_pages_and_give_back_round_robin() {
        let pcp = PerCpuPages::new();
        let l = links(2000);
        // SAFETY: one thread.
        let mut p = unsafe { pcp.enter(&l) }.unwrap();
        assert!(p.push(0, 0, 1) && p.push(0, 0, 2) && p.push(2, 0, 8) && p.push(3, 0, 16));
        // Another migratetype's list is apart.
        assert!(p.push(0, 1, 5));
        assert_eq!(p.pop(0, 1), Some(5));
        assert_eq!(p.pop(0, 1), None);
        assert_eq!(p.count(), 1 + 1 + 4 + 8);
        let mut got = [(0usize, 0u32); 4];
        let mut n = 0;
        p.take_pages(6, |o, off| {
            got[n] = (o, off);
            n += 1;
        });
        // Order 0's list first, oldest first and emptied; then order 2's.
        assert_eq!(&got[..n], &[(0, 1), (0, 2), (2, 8)]);
        assert_eq!(p.count(), 8);
        assert_eq!(p.pop(3, 0), Some(16));
        assert_eq!(p.pop(0, 0), None);
        // Newest at the top, oldest trimmed first, however long the list
        // and however pushes and pops interleave.
        for i in 0..1500u32 {
            assert!(p.push(0, 0, i));
            if i % 3 == 2 {
                assert_eq!(p.pop(0, 0), Some(i), "the newest");
            }
        }
        let mut order = Vec::new();
        p.take_pages(u32::MAX, |_, off| order.push(off));
        let expect: Vec<u32> = (0..1500u32).filter(|i| i % 3 != 2).collect();
        assert_eq!(order, expect, "oldest first, every block once");
        assert!(p.push(1, 0, 40));
        p.take_all(|_, _| {});
        assert_eq!(p.count(), 0);
        // SAFETY: one thread; the set is in use, so a second user (an
        // interrupt handler) is turned away.
        assert!(unsafe { pcp.enter(&l) }.is_none());
        drop(p);
        assert_eq!(pcp.count(), 0, "published when the guard goes");
        // SAFETY: one thread.
        let mut huge = unsafe { pcp.enter(&l) }.unwrap();
        assert!(huge.push(PCP_HUGE_ORDER, 0, 512));
        assert!(!huge.push(PCP_HUGE_ORDER, 0, 1024), "one huge block");
        assert!(!huge.push(5, 0, 32), "an order not kept");
    }

    /// high grows while a CPU frees more than it allocates, up to high_max,
    /// shrinks when the zone is below its high watermark, and a drain
    /// starts it again from high_min.
    #[test]
    fn high_tunes_itself_as_linux_6_7() {
        let b = HighBounds {
            min: 100,
            max: 1000,
            batch: 31,
        };
        let pcp = PerCpuPages::new();
        let l = links(4000);
        // SAFETY: one thread.
        let mut p = unsafe { pcp.enter(&l) }.unwrap();
        assert!(!p.fits(1), "no high before the first tune");
        let mut trimmed = 0;
        for i in 0..3000u32 {
            if !p.fits(1) {
                // The slow path: push, count, tune, trim past high.
                p.push(0, 0, i);
                let high = p.retune(b, ZoneState::default());
                if p.count() > high {
                    let n = p.trim_size(b.batch);
                    p.take_pages(n, |_, _| trimmed += 1);
                }
            } else {
                p.push(0, 0, i);
            }
            assert!(p.count() <= b.max, "never above high_max");
        }
        assert_eq!(p.high(), 1000, "grew to high_max");
        assert_eq!(pcp.high(), 1000, "published");
        assert_eq!(trimmed + p.count(), 3000);
        // Allocations take 400 pages and refill: what the lists gain from
        // there is what counts as freed.
        let c = p.count();
        for _ in 0..400 {
            p.pop(0, 0).unwrap();
        }
        p.refilled(b);
        for i in 3000..3100 {
            p.push(0, 0, i);
        }
        assert_eq!(p.count(), c - 300);
        // Below the zone's high watermark each tune shrinks high by the
        // freed count (at least a batch), and a trim takes at least a batch.
        assert_eq!(
            p.retune(
                b,
                ZoneState {
                    below_high: true,
                    reclaim_active: false
                }
            ),
            900
        );
        assert_eq!(p.trim_size(b.batch), 31);
        assert_eq!(
            p.retune(
                b,
                ZoneState {
                    below_high: true,
                    reclaim_active: false
                }
            ),
            800
        );
        // Reclaim working on the node: at most 4 batches, whatever high was.
        let reclaim = ZoneState {
            below_high: false,
            reclaim_active: true,
        };
        assert_eq!(p.retune(b, reclaim), 124);
        assert_eq!(p.trim_size(b.batch), (p.count() - 124).min(31 << 5));
        assert!(
            p.retune(b, ZoneState::default()) >= b.min,
            "back within the bounds"
        );
        p.take_all(|_, _| {});
        assert_eq!((p.high(), pcp.high()), (0, 0), "from high_min again");
        assert_eq!(p.decay(b), 0, "untuned lists are left alone");
        p.refilled(b);
        assert_eq!((p.high(), pcp.high()), (100, 100));
        // Decay: an eighth of high a step, down to high_min, with the
        // pages past it to trim.
        p.high = 1000;
        for i in 0..900 {
            p.push(0, 0, i);
        }
        assert_eq!(p.decay(b), 900 - 875);
        assert_eq!((p.high(), pcp.high()), (875, 875));
        for _ in 0..40 {
            p.decay(b);
        }
        assert_eq!(p.high(), 100);
        assert_eq!(p.decay(b), 800, "at most 32 batches would be 992");
    }
}
